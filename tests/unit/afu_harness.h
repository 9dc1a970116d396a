/* SPDX-License-Identifier: Apache-2.0 */
/*
 * afu_harness.h - a tiny host for driving the software AFU directly in unit
 * tests (no master): a zeroed 64 KiB window, an RHT built by hand, an arena
 * holding the HRRQ, SQ, command blocks and data buffers, and helpers that
 * build IOARCBs, submit them (SQ or IOARRIN) and reap completions.
 *
 * EAs: in identity mode an EA is the pointer. In window mode the arena is
 * the context's EA window at a made-up base (H_WIN_BASE), so every EA the
 * host writes is translated: h_ea() / h_ptr().
 *
 * Header-only (static functions) so each test program stays one file.
 */
#ifndef CXLFLASH_TEST_AFU_HARNESS_H
#define CXLFLASH_TEST_AFU_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cxlflash/sislite.h>

#include "afu/afu.h"
#include "backend/backend.h"
#include "util/byteorder.h"
#include "t_util.h"

#define H_RHT_CNT   16
#define H_MAX_TAGS  1024
#define H_WIN_BASE  0x7000000000ull

struct h_ctx {
	struct afu *afu;
	struct afu_ctx *ctx;
	struct sisl_host_map *map;
	struct sisl_rht_entry *rht;

	bool identity;
	uint8_t *arena;
	size_t arena_size, arena_used;

	uint64_t *hrrq;               /* host pointers */
	unsigned hrrq_n;
	uint64_t *hrrq_cur;
	uint64_t toggle;

	struct sisl_ioarcb *sq;       /* NULL: IOARRIN only */
	unsigned sq_n, sq_tail;

	struct sisl_ioasa *sa;        /* SQ mode: one IOASA per tag */
	struct sisl_iocmd *cmds;      /* IOARRIN mode: one command block per tag */
};

static inline double h_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void h_sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* EA of a host pointer into the arena (or any pointer in identity mode). */
static inline uint64_t h_ea(const struct h_ctx *h, const void *p)
{
	if (h->identity)
		return (uint64_t)(uintptr_t)p;
	return H_WIN_BASE + (uint64_t)((const uint8_t *)p - h->arena);
}

static inline void *h_ptr(const struct h_ctx *h, uint64_t ea)
{
	if (h->identity)
		return (void *)(uintptr_t)ea;
	return h->arena + (ea - H_WIN_BASE);
}

static inline void *h_alloc(struct h_ctx *h, size_t size, size_t align)
{
	size_t off = (h->arena_used + align - 1) & ~(align - 1);

	T_ASSERT(off + size <= h->arena_size);
	h->arena_used = off + size;
	return h->arena + off;
}

/* Program the HRRQ (zeroed, toggle 1) into the window. */
static inline void h_hrrq_init(struct h_ctx *h)
{
	for (unsigned i = 0; i < h->hrrq_n; i++)
		__atomic_store_n(&h->hrrq[i], 0, __ATOMIC_RELAXED);
	h->hrrq_cur = h->hrrq;
	h->toggle = 1;
	sisl_write64(&h->map->rrq_start, h_ea(h, h->hrrq));
	sisl_write64(&h->map->rrq_end, h_ea(h, h->hrrq + h->hrrq_n - 1));
}

/* Program the SQ into the window (host tail back at the start). */
static inline void h_sq_init(struct h_ctx *h)
{
	h->sq_tail = 0;
	sisl_write64(&h->map->sq_start, h_ea(h, h->sq));
	sisl_write64(&h->map->sq_end, h_ea(h, h->sq + h->sq_n - 1));
}

/*
 * h_open() - a context on @afu.
 * @ctx_cap: capabilities (0: READ|WRITE, a user context)
 * @hrrq_n, @sq_n: queue sizes (sq_n 0: no SQ)
 * @identity: identity EA mode, else a window over the arena
 * @arena_mb: arena size
 * @defer_wake: leave waking the worker to afu_kick()
 */
static inline void h_open_wake(struct h_ctx *h, struct afu *afu, uint64_t ctx_cap,
			       unsigned hrrq_n, unsigned sq_n, bool identity, size_t arena_mb,
			       bool defer_wake)
{
	struct afu_ctx_params p;
	int rc;

	memset(h, 0, sizeof(*h));
	h->afu = afu;
	h->identity = identity;
	h->map = mmap(NULL, SISL_HOST_MAP_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(h->map != MAP_FAILED);
	h->arena_size = arena_mb << 20;
	h->arena = mmap(NULL, h->arena_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	T_ASSERT(h->arena != MAP_FAILED);
	h->rht = calloc(H_RHT_CNT, sizeof(*h->rht));
	T_ASSERT(h->rht);

	h->hrrq_n = hrrq_n;
	h->hrrq = h_alloc(h, hrrq_n * sizeof(uint64_t), 64);
	h->sq_n = sq_n;
	if (sq_n)
		h->sq = h_alloc(h, sq_n * sizeof(struct sisl_ioarcb), 64);
	h->sa = h_alloc(h, H_MAX_TAGS * sizeof(struct sisl_ioasa), 64);
	h->cmds = h_alloc(h, H_MAX_TAGS * sizeof(struct sisl_iocmd), 128);

	memset(&p, 0, sizeof(p));
	p.map = h->map;
	p.handle = 1;
	p.rht = h->rht;
	p.rht_cnt = H_RHT_CNT;
	p.ctx_cap = ctx_cap ? ctx_cap : (SISL_CTX_CAP_READ_CMD | SISL_CTX_CAP_WRITE_CMD);
	p.ea.identity = identity;
	p.defer_wake = defer_wake;
	if (!identity) {
		p.ea.ea_base = H_WIN_BASE;
		p.ea.host_base = h->arena;
		p.ea.len = h->arena_size;
	}
	rc = afu_ctx_start(afu, &p, &h->ctx);
	T_EQ(rc, 0);
	T_EQ(sisl_read64(&h->map->endian_ctrl), SISL_ENDIAN_CTRL_HOST);
	T_EQ(sisl_read64(&h->map->cmd_room), AFU_CMD_ROOM);
	T_ASSERT(sisl_read64(&h->map->ctx_ctrl) & SISL_CTX_CTRL_UNMAP_SECTOR);
	h_hrrq_init(h);
	if (sq_n)
		h_sq_init(h);
}

/* h_open_wake() with the worker woken at once. */
static inline void h_open_ex(struct h_ctx *h, struct afu *afu, uint64_t ctx_cap,
			     unsigned hrrq_n, unsigned sq_n, bool identity, size_t arena_mb)
{
	h_open_wake(h, afu, ctx_cap, hrrq_n, sq_n, identity, arena_mb, false);
}

static inline void h_open(struct h_ctx *h, struct afu *afu, unsigned hrrq_n, unsigned sq_n)
{
	h_open_ex(h, afu, 0, hrrq_n, sq_n, true, 64);
}

static inline void h_close(struct h_ctx *h)
{
	if (h->ctx)
		afu_ctx_stop(h->ctx);
	munmap(h->map, SISL_HOST_MAP_SIZE);
	munmap(h->arena, h->arena_size);
	free(h->rht);
	memset(h, 0, sizeof(*h));
}

/* ---------------------------------------------------------------------------
 * RHT / LXT.
 */
static inline void h_rht_phys(struct h_ctx *h, unsigned idx, unsigned lun, unsigned perm)
{
	struct sisl_rht_entry_f1 *e = (struct sisl_rht_entry_f1 *)&h->rht[idx];

	afu_xlate_lock(h->ctx);
	memset(e, 0, sizeof(*e));
	e->lun_id = lun;
	e->valid = SISL_RHT_VALID;
	e->fp = SISL_RHT_FP(SISL_RHT_FORMAT_DIRECT, perm);
	e->port_sel = 1;
	afu_xlate_unlock(h->ctx);
}

static inline void h_rht_virt(struct h_ctx *h, unsigned idx, struct sisl_lxt_entry *lxt,
			      uint32_t cnt, unsigned perm)
{
	afu_xlate_lock(h->ctx);
	memset(&h->rht[idx], 0, sizeof(h->rht[idx]));
	h->rht[idx].lxt_start = lxt;
	h->rht[idx].lxt_cnt = cnt;
	h->rht[idx].fp = SISL_RHT_FP(SISL_RHT_FORMAT_VIRTUAL, perm);
	h->rht[idx].nmask = SISL_NMASK;
	afu_xlate_unlock(h->ctx);
}

static inline void h_rht_free(struct h_ctx *h, unsigned idx)
{
	afu_xlate_lock(h->ctx);
	memset(&h->rht[idx], 0, sizeof(h->rht[idx]));
	afu_xlate_unlock(h->ctx);
}

/* An LXT entry for physical chunk @chunk of LUN @lun. */
static inline uint64_t h_lxt(uint64_t chunk, unsigned lun, unsigned perm)
{
	return (chunk << SISL_NMASK) | ((uint64_t)lun << SISL_LXT_LUNIDX_SHIFT) |
	       ((uint64_t)perm << SISL_LXT_PERM_SHIFT) | 1;
}

/* ---------------------------------------------------------------------------
 * IOARCBs.
 */
static inline void h_rcb(struct h_ctx *h, struct sisl_ioarcb *rcb, unsigned handle,
			 const uint8_t *cdb, unsigned cdb_len, void *buf, uint32_t len)
{
	memset(rcb, 0, sizeof(*rcb));
	rcb->ctx_id = 1;
	rcb->req_flags = SISL_REQ_FLAGS_RES_HNDL;
	rcb->res_hndl = handle;
	rcb->data_len = len;
	rcb->data_ea = buf ? h_ea(h, buf) : 0;
	memcpy(rcb->cdb, cdb, cdb_len);
}

/* READ(16) / WRITE(16) of @n blocks at @lba through @handle. */
static inline void h_rw16(struct h_ctx *h, struct sisl_ioarcb *rcb, bool write,
			  unsigned handle, uint64_t lba, uint32_t n, void *buf)
{
	uint8_t cdb[16] = { write ? 0x8A : 0x88 };

	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, n);
	h_rcb(h, rcb, handle, cdb, 16, buf, n * 4096u);
	rcb->req_flags |= write ? SISL_REQ_FLAGS_HOST_WRITE : SISL_REQ_FLAGS_HOST_READ;
}

/* ---------------------------------------------------------------------------
 * Submission and completion.
 */

/* Copy @rcb into the next SQ slot with the IOASA of @tag and move the tail. */
static inline void h_sq_put(struct h_ctx *h, const struct sisl_ioarcb *rcb, unsigned tag)
{
	struct sisl_ioarcb *slot = &h->sq[h->sq_tail];

	*slot = *rcb;
	slot->sq_ioasa_ea = h_ea(h, &h->sa[tag]);
	h->sq_tail = (h->sq_tail + 1) % h->sq_n;
	sisl_write64(&h->map->sq_tail, h_ea(h, &h->sq[h->sq_tail]));
}

static inline void h_sq_submit(struct h_ctx *h, const struct sisl_ioarcb *rcb, unsigned tag)
{
	h_sq_put(h, rcb, tag);
	sisl_ring_doorbell(h->map);
}

/* IOARRIN: command block @tag gets @rcb; wait for the mailbox and post it. */
static inline void h_ioarrin_submit(struct h_ctx *h, const struct sisl_ioarcb *rcb, unsigned tag)
{
	h->cmds[tag].rcb = *rcb;
	T_EQ(sisl_ioarrin_write(h->map, h_ea(h, &h->cmds[tag])), 0);
}

/* The next HRRQ entry's EA (without the toggle), or 0 if none is there. */
static inline uint64_t h_hrrq_peek(struct h_ctx *h)
{
	uint64_t e = __atomic_load_n(h->hrrq_cur, __ATOMIC_ACQUIRE);

	if ((e & SISL_RESP_HANDLE_T_BIT) != h->toggle)
		return 0;
	if (h->hrrq_cur == h->hrrq + h->hrrq_n - 1) {
		h->hrrq_cur = h->hrrq;
		h->toggle ^= 1;
	} else {
		h->hrrq_cur++;
	}
	return e & ~SISL_RESP_HANDLE_T_BIT;
}

/* Wait up to @timeout_ms for a completion. Return: its EA, or 0. */
static inline uint64_t h_reap(struct h_ctx *h, unsigned timeout_ms)
{
	double end = h_now() + timeout_ms / 1000.0;
	unsigned spins = 0;
	uint64_t ea;

	while (!(ea = h_hrrq_peek(h))) {
		if (++spins % 1024 == 0 && h_now() > end)
			return 0;
		sisl_cpu_relax();
	}
	return ea;
}

/* The tag of an SQ-mode completion EA (an IOASA). */
static inline unsigned h_sq_tag(struct h_ctx *h, uint64_t ea)
{
	struct sisl_ioasa *sa = h_ptr(h, ea);

	T_ASSERT(sa >= h->sa && sa < h->sa + H_MAX_TAGS);
	return (unsigned)(sa - h->sa);
}

/* The tag of an IOARRIN-mode completion EA (a command block). */
static inline unsigned h_cmd_tag(struct h_ctx *h, uint64_t ea)
{
	struct sisl_iocmd *c = h_ptr(h, ea);

	T_ASSERT(c >= h->cmds && c < h->cmds + H_MAX_TAGS);
	return (unsigned)(c - h->cmds);
}

/* Run one command through the SQ (tag 0) and return its IOASA. */
static inline struct sisl_ioasa h_exec(struct h_ctx *h, const struct sisl_ioarcb *rcb)
{
	uint64_t ea;

	memset(&h->sa[0], 0x5A, 32);     /* the AFU must overwrite all 32 bytes */
	h_sq_submit(h, rcb, 0);
	ea = h_reap(h, 5000);
	T_ASSERT(ea != 0);
	T_EQ(h_sq_tag(h, ea), 0);
	return h->sa[0];
}

/* Run one command through IOARRIN (block 0) and return its IOASA. */
static inline struct sisl_ioasa h_exec_ioarrin(struct h_ctx *h, const struct sisl_ioarcb *rcb)
{
	uint64_t ea;

	h_ioarrin_submit(h, rcb, 0);
	ea = h_reap(h, 5000);
	T_ASSERT(ea != 0);
	T_EQ(h_cmd_tag(h, ea), 0);
	return h->cmds[0].sa;
}

/* ---------------------------------------------------------------------------
 * Backends.
 */
static inline struct backend *h_ram(uint64_t bytes)
{
	struct be_spec spec;
	struct backend *be;

	memset(&spec, 0, sizeof(spec));
	strcpy(spec.kind, "ram");
	spec.size = bytes;
	T_EQ(be_open(&spec, &be), 0);
	return be;
}

static inline struct afu *h_afu(unsigned workers, unsigned spin_us)
{
	struct afu_config cfg = { .workers = workers, .spin_us = spin_us };
	struct afu *afu;

	T_EQ(afu_create(&cfg, &afu), 0);
	return afu;
}

static inline void h_wwid(uint8_t wwid[16], uint8_t seed)
{
	wwid[0] = 0x60;     /* NAA 6 */
	for (int i = 1; i < 16; i++)
		wwid[i] = (uint8_t)(seed * 16 + i);
}

#endif /* CXLFLASH_TEST_AFU_HARNESS_H */
