/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ram.c - the "ram" backend: blocks live in an anonymous private mapping.
 * Every request completes inline; the engine is not used.
 */
#include "backend/backend_internal.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct be_ram {
	struct backend be;
	uint8_t *base;
	size_t size;
	size_t page;        /* base page size */
	bool readonly;
};

static inline struct be_ram *to_ram(struct backend *be)
{
	return (struct be_ram *)be;
}

static uintptr_t align_up(uintptr_t v, uintptr_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Zero [p, p + len). Whole aligned units of @unit go back to the kernel
 * (MADV_DONTNEED on a private anonymous mapping reads back as zeroes and
 * frees the memory); the ragged edges are cleared by hand.
 */
static void ram_zero(uint8_t *p, size_t len, size_t unit)
{
	uintptr_t s = (uintptr_t)p, e = s + len;
	uintptr_t as = align_up(s, unit), ae = e & ~(unit - 1);

	if (as >= ae || madvise((void *)as, ae - as, MADV_DONTNEED)) {
		memset(p, 0, len);
		return;
	}
	memset(p, 0, as - s);
	memset((void *)ae, 0, e - ae);
}

static int ram_do(struct be_ram *r, enum be_op op, uint64_t lba, uint32_t nblocks, void *buf)
{
	int ret = be_check_io(&r->be, op, lba, nblocks, buf, r->readonly);
	size_t off = (size_t)lba << BE_BLOCK_SHIFT, len = (size_t)nblocks << BE_BLOCK_SHIFT;

	if (ret)
		return ret;
	switch (op) {
	case BE_OP_READ:
		memcpy(buf, r->base + off, len);
		break;
	case BE_OP_WRITE:
		memcpy(r->base + off, buf, len);
		break;
	case BE_OP_WRITE_ZEROES:
		/* The blocks stay allocated (NBD's NO_HOLE, WRITE SAME without
		 * UNMAP): written zeroes, never pages given back. */
		memset(r->base + off, 0, len);
		break;
	case BE_OP_DISCARD:
		/* Unmap means free the memory: release every whole page. */
		ram_zero(r->base + off, len, r->page);
		break;
	case BE_OP_FLUSH:
		break;
	}
	return 0;
}

static int ram_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	int ret;

	(void)eng;
	ret = ram_do(to_ram(be), io->op, io->lba, io->nblocks, io->buf);
	if (ret)
		return ret;
	io->be = be;
	io->bounce = NULL;
	io->done = 0;
	io->cb(io, 0);
	return 0;
}

static int ram_io_sync(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks,
		       void *buf)
{
	return ram_do(to_ram(be), op, lba, nblocks, buf);
}

/* Giving pages back is fast; allocated zeroes are a memset, a write. */
static int ram_zero_fast(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks)
{
	struct be_ram *r = to_ram(be);
	int ret = be_check_io(be, op, lba, nblocks, NULL, r->readonly);

	if (ret)
		return ret;
	if (op == BE_OP_WRITE_ZEROES)
		return -EOPNOTSUPP;
	if (op != BE_OP_DISCARD)
		return -EINVAL;
	ram_zero(r->base + ((size_t)lba << BE_BLOCK_SHIFT), (size_t)nblocks << BE_BLOCK_SHIFT,
		 r->page);
	return 0;
}

static void ram_destroy(struct backend *be)
{
	struct be_ram *r = to_ram(be);

	munmap(r->base, r->size);
	free(r);
}

static const struct backend_ops ram_ops = {
	.name = "ram",
	.submit = ram_submit,
	.io_sync = ram_io_sync,
	.zero_fast = ram_zero_fast,
	.destroy = ram_destroy,
};

int be_ram_create(const struct be_spec *spec, struct backend **out)
{
	struct be_ram *r;
	long page = sysconf(_SC_PAGESIZE);

	if (spec->size > SIZE_MAX) {
		log_err("ram: size %" PRIu64 " does not fit in the address space", spec->size);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->size = (size_t)spec->size;
	r->page = page > 0 ? (size_t)page : 4096;
	r->readonly = spec->readonly;
	/* NORESERVE: a large LUN only costs the memory that is written. */
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->base == MAP_FAILED) {
		int err = errno;

		log_err("ram: cannot map %" PRIu64 " bytes: %s", spec->size, strerror(err));
		free(r);
		return -err;
	}
	(void)madvise(r->base, r->size, MADV_HUGEPAGE);  /* fewer TLB misses; optional */

	r->be.ops = &ram_ops;
	r->be.nblocks = spec->size >> BE_BLOCK_SHIFT;
	r->be.can_unmap = true;
	r->be.direct = false;
	r->be.lock_fd = -1;
	snprintf(r->be.id, sizeof(r->be.id), "ram:%" PRIu64 "@%p", spec->size, (void *)r->base);
	*out = &r->be;
	return 0;
}
