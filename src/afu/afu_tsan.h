/* SPDX-License-Identifier: Apache-2.0 */
/*
 * afu_tsan.h - letting ThreadSanitizer see the host <-> AFU handoffs
 * through a window that is mapped twice in one process.
 *
 * In-process (identity EA) contexts share a memfd: the master maps it for
 * the AFU, the program maps it again through adap_fd. The two mappings are
 * the same memory at two addresses, and TSan keys its synchronisation by
 * address: the host's release store to sq_tail (or ioarrin) and the AFU's
 * acquire load of the same register never pair, so every IOARCB and data
 * buffer the AFU then reads looks like a race with the host thread that
 * wrote it (and the other way round after a context reset or error).
 *
 * A host built with TSan writes its mapping's address into the window
 * (host_self, set by sisl_hrrq_init()). At each handoff the AFU then
 * acquires or releases the host's address of the register as well as its
 * own: exactly the synchronisation the register carries, on the address
 * TSan knows the host by. Nothing else changes: the AFU keeps reading and
 * writing its own mapping, and EA checks are untouched.
 *
 * Only identity contexts: a window-mode (bounded) context belongs to a
 * client in another process, whose addresses mean nothing here. Outside
 * TSan builds everything below is empty.
 */
#ifndef CXLFLASH_AFU_TSAN_H
#define CXLFLASH_AFU_TSAN_H

#include "afu/afu_internal.h"
#include "util/tsan.h"

#ifdef CXLFLASH_TSAN

/* The host's address of the AFU's register @reg in @c's window, or NULL. */
static inline void *afu_tsan_host_reg(const struct afu_ctx *c, const void *reg)
{
	uint64_t host;

	if (!c->ea.identity)
		return NULL;
	host = LOAD_RELAXED(&c->map->host_self);
	/* A mapping is page aligned; an error-filled window reads all ones. */
	if (host == 0 || (host & 4095) || host == (uintptr_t)c->map)
		return NULL;
	return (void *)(uintptr_t)(host + ((uintptr_t)reg - (uintptr_t)c->map));
}

/* After an acquire load of @reg: what the host released there. */
static inline void afu_tsan_acquire(const struct afu_ctx *c, const void *reg)
{
	void *h = afu_tsan_host_reg(c, reg);

	if (h)
		tsan_acquire(h);
}

/* Before a release store to @reg: publish to a host acquiring it. */
static inline void afu_tsan_release(const struct afu_ctx *c, const void *reg)
{
	void *h = afu_tsan_host_reg(c, reg);

	if (h)
		tsan_release(h);
}

/* Before filling or resetting the window: release every register word. */
static inline void afu_tsan_release_regs(const struct afu_ctx *c)
{
	const uint64_t *w = (const uint64_t *)c->map;

	for (size_t i = 0; i < offsetof(struct sisl_host_map, rsvd_window) / 8; i++)
		afu_tsan_release(c, &w[i]);
}

#else

static inline void afu_tsan_acquire(const struct afu_ctx *c, const void *reg)
{
	(void)c;
	(void)reg;
}

static inline void afu_tsan_release(const struct afu_ctx *c, const void *reg)
{
	(void)c;
	(void)reg;
}

static inline void afu_tsan_release_regs(const struct afu_ctx *c)
{
	(void)c;
}

#endif /* CXLFLASH_TSAN */

#endif /* CXLFLASH_AFU_TSAN_H */
