/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backend_internal.h - what the backend kinds share and what be_open()
 * dispatches to. Not part of the interface the AFU and master use.
 */
#ifndef CXLFLASH_BACKEND_INTERNAL_H
#define CXLFLASH_BACKEND_INTERNAL_H

#include "backend/backend.h"

/* Per-kind constructors; be_open() has already validated @spec->kind. */
int be_ram_create(const struct be_spec *spec, struct backend **out);
int be_null_create(const struct be_spec *spec, struct backend **out);
int be_file_create(const struct be_spec *spec, struct backend **out);
/* rbd.c; -ENOTSUP with a message in a build without librbd. */
int be_rbd_create(const struct be_spec *spec, struct backend **out);
/* Wraps the backend @spec describes without its fault options. */
int be_fault_create(const struct be_spec *spec, struct backend **out);

/*
 * be_check_io() - validate a request before any kind runs it.
 * Return: 0, -EINVAL (unknown op, READ/WRITE without a buffer), -ERANGE
 * (blocks past the capacity) or -EROFS (a modifying op on a read-only
 * backend). submit() returns these without calling the callback.
 */
int be_check_io(const struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks,
		const void *buf, bool readonly);

/* The capacity may change under refresh(); everyone reads it through here. */
static inline uint64_t be_capacity(const struct backend *be)
{
	return __atomic_load_n(&be->nblocks, __ATOMIC_RELAXED);
}

/*
 * be_extent_add() - append @nblocks blocks in @state to the @*n extents in
 * @ext, merged into the last one when it has the same state.
 * Return: false when that needed a new extent and @max are in use (nothing
 * added: the caller stops there).
 */
static inline bool be_extent_add(struct be_extent *ext, unsigned *n, unsigned max,
				 uint64_t nblocks, uint32_t state)
{
	if (*n && ext[*n - 1].state == state) {
		ext[*n - 1].nblocks += nblocks;
		return true;
	}
	if (*n >= max)
		return false;
	ext[(*n)++] = (struct be_extent){ .nblocks = nblocks, .state = state };
	return true;
}

#endif /* CXLFLASH_BACKEND_INTERNAL_H */
