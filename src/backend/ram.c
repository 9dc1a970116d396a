/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ram.c - the "ram" backend: blocks live in an anonymous private mapping.
 * Every request completes inline; the engine is not used.
 *
 * Block status (NBD's base:allocation) comes from two bitmaps kept as
 * requests run, one bit per 4 KiB block: "resident" (written, or zeroed in
 * place) and "data" (written). A block never written, or discarded (its
 * pages given back), is a hole of zeroes; one zeroed in place (WRITE_ZEROES,
 * a memset) is allocated zeroes; a written one is data. Tracking costs an
 * atomic OR or AND per 64 blocks of a request and 2 bits per block (64 KiB
 * per GiB of LUN, touched only where used); asking costs a scan of the
 * bitmaps, 64 blocks per word. The alternatives were worse: mincore() says
 * a page swapped out is absent (data reported as a hole would be lost by a
 * sparse copy) and a huge page makes a 4 KiB write look like 2 MiB; a zero
 * scan reads the memory asked about and maps zero pages into every hole.
 */
#include "backend/backend_internal.h"
#include "util/log.h"
#include "util/tsan.h"

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
	uint64_t *resident; /* bit per block: memory behind it (written or zeroed) */
	uint64_t *data;     /* bit per block: written (may hold non-zero bytes) */
};

static inline struct be_ram *to_ram(struct backend *be)
{
	return (struct be_ram *)be;
}

static uintptr_t align_up(uintptr_t v, uintptr_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Set (@on) or clear bits [first, first + n) of @map, a word at a time;
 * other threads may be changing other bits of the same words. */
static void bits_set(uint64_t *map, uint64_t first, uint64_t n, bool on)
{
	while (n) {
		uint64_t w = first / 64, b = first % 64;
		uint64_t k = 64 - b < n ? 64 - b : n;
		uint64_t m = (k == 64 ? ~0ull : ((1ull << k) - 1)) << b;

		if (on)
			__atomic_fetch_or(&map[w], m, __ATOMIC_RELAXED);
		else
			__atomic_fetch_and(&map[w], ~m, __ATOMIC_RELAXED);
		first += k;
		n -= k;
	}
}

/* Is any bit of [first, first + n) of @map set? */
static bool bits_any(const uint64_t *map, uint64_t first, uint64_t n)
{
	while (n) {
		uint64_t w = first / 64, b = first % 64;
		uint64_t k = 64 - b < n ? 64 - b : n;
		uint64_t m = (k == 64 ? ~0ull : ((1ull << k) - 1)) << b;

		if (__atomic_load_n(&map[w], __ATOMIC_RELAXED) & m)
			return true;
		first += k;
		n -= k;
	}
	return false;
}

static bool bit(const uint64_t *map, uint64_t i)
{
	return (__atomic_load_n(&map[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}

/*
 * The medium. Requests of contexts on different AFU workers may touch the
 * same blocks at once: a read beside a write of the same block gets old
 * data, new data or a mix, as from a device. In ThreadSanitizer builds the
 * medium's side of each copy is word by word with relaxed atomics, so TSan
 * checks the callers' buffers but not the device's own concurrency; other
 * builds use memcpy and memset.
 */
#ifdef CXLFLASH_TSAN
static void medium_read(void *dst, const uint8_t *m, size_t len)
{
	uint8_t *d = dst;
	size_t i = 0;

	for (; i < len && ((uintptr_t)(m + i) & 7); i++)
		d[i] = __atomic_load_n(m + i, __ATOMIC_RELAXED);
	for (; i + 8 <= len; i += 8) {
		uint64_t v = __atomic_load_n((const uint64_t *)(const void *)(m + i), __ATOMIC_RELAXED);

		memcpy(d + i, &v, 8);
	}
	for (; i < len; i++)
		d[i] = __atomic_load_n(m + i, __ATOMIC_RELAXED);
}

static void medium_write(uint8_t *m, const void *src, size_t len)
{
	const uint8_t *s = src;
	size_t i = 0;

	for (; i < len && ((uintptr_t)(m + i) & 7); i++)
		__atomic_store_n(m + i, s[i], __ATOMIC_RELAXED);
	for (; i + 8 <= len; i += 8) {
		uint64_t v;

		memcpy(&v, s + i, 8);
		__atomic_store_n((uint64_t *)(void *)(m + i), v, __ATOMIC_RELAXED);
	}
	for (; i < len; i++)
		__atomic_store_n(m + i, s[i], __ATOMIC_RELAXED);
}

static void medium_zero(uint8_t *m, size_t len)
{
	size_t i = 0;

	for (; i < len && ((uintptr_t)(m + i) & 7); i++)
		__atomic_store_n(m + i, (uint8_t)0, __ATOMIC_RELAXED);
	for (; i + 8 <= len; i += 8)
		__atomic_store_n((uint64_t *)(void *)(m + i), (uint64_t)0, __ATOMIC_RELAXED);
	for (; i < len; i++)
		__atomic_store_n(m + i, (uint8_t)0, __ATOMIC_RELAXED);
}
#else
static inline void medium_read(void *dst, const uint8_t *m, size_t len)
{
	memcpy(dst, m, len);
}

static inline void medium_write(uint8_t *m, const void *src, size_t len)
{
	memcpy(m, src, len);
}

static inline void medium_zero(uint8_t *m, size_t len)
{
	memset(m, 0, len);
}
#endif

/*
 * Zero [p, p + len). Whole aligned units of @unit go back to the kernel
 * (MADV_DONTNEED on a private anonymous mapping reads back as zeroes and
 * frees the memory); the ragged edges are cleared by hand. Return: the
 * bytes given back, [*@rs, *@re) (empty when nothing was).
 */
static void ram_zero(uint8_t *p, size_t len, size_t unit, uintptr_t *rs, uintptr_t *re)
{
	uintptr_t s = (uintptr_t)p, e = s + len;
	uintptr_t as = align_up(s, unit), ae = e & ~(unit - 1);

	*rs = *re = s;
	if (as >= ae || madvise((void *)as, ae - as, MADV_DONTNEED)) {
		medium_zero(p, len);
		return;
	}
	medium_zero(p, as - s);
	medium_zero((uint8_t *)ae, e - ae);
	*rs = as;
	*re = ae;
}

/* DISCARD of blocks [lba, lba + n): the pages are given back where whole
 * (a hole), the rest zeroed in place (allocated zeroes). A range with no
 * memory behind it is a hole already: no madvise (a vLUN's chunks never
 * written are scrubbed for free, without the TLB shootdown each madvise
 * sends to the AFU's CPUs: 4 of them made half of a 1 GiB vLUN's RELEASE). */
static void ram_discard(struct be_ram *r, uint64_t lba, uint64_t n)
{
	uint8_t *p = r->base + ((size_t)lba << BE_BLOCK_SHIFT);
	uintptr_t rs, re;
	uint64_t a, b;

	if (!bits_any(r->resident, lba, n))
		return;

	bits_set(r->data, lba, n, false);
	bits_set(r->resident, lba, n, true);
	ram_zero(p, (size_t)n << BE_BLOCK_SHIFT, r->page, &rs, &re);
	/* Blocks wholly inside the pages given back are holes again. */
	a = lba + ((rs - (uintptr_t)p + BE_BLOCK_SIZE - 1) >> BE_BLOCK_SHIFT);
	b = lba + ((re - (uintptr_t)p) >> BE_BLOCK_SHIFT);
	if (re > rs && b > a)
		bits_set(r->resident, a, b - a, false);
}

static int ram_do(struct be_ram *r, enum be_op op, uint64_t lba, uint32_t nblocks, void *buf)
{
	int ret = be_check_io(&r->be, op, lba, nblocks, buf, r->readonly);
	size_t off = (size_t)lba << BE_BLOCK_SHIFT, len = (size_t)nblocks << BE_BLOCK_SHIFT;

	if (ret)
		return ret;
	switch (op) {
	case BE_OP_READ:
		medium_read(buf, r->base + off, len);
		break;
	case BE_OP_WRITE:
		/* Marked first: once the write completes, its blocks are data. */
		bits_set(r->resident, lba, nblocks, true);
		bits_set(r->data, lba, nblocks, true);
		medium_write(r->base + off, buf, len);
		break;
	case BE_OP_WRITE_ZEROES:
		/* The blocks stay allocated (NBD's NO_HOLE, WRITE SAME without
		 * UNMAP): written zeroes, never pages given back. */
		bits_set(r->resident, lba, nblocks, true);
		medium_zero(r->base + off, len);
		bits_set(r->data, lba, nblocks, false);
		break;
	case BE_OP_DISCARD:
		/* Unmap means free the memory: release every whole page. */
		ram_discard(r, lba, nblocks);
		break;
	case BE_OP_FLUSH:
		break;
	}
	return 0;
}

/* A WRITE of part of its blocks (be_io part_off / part_len): memcpy. */
static int ram_part(struct be_ram *r, const struct be_io *io)
{
	int ret = be_check_io(&r->be, BE_OP_WRITE, io->lba, io->nblocks, io->buf, r->readonly);

	if (ret)
		return ret;
	if (io->op != BE_OP_WRITE || io->part_off < io->lba << BE_BLOCK_SHIFT ||
	    io->part_off + io->part_len > (io->lba + io->nblocks) << BE_BLOCK_SHIFT)
		return -EINVAL;
	/* The blocks hold data now (a hole's other bytes read back as zeroes). */
	bits_set(r->resident, io->lba, io->nblocks, true);
	bits_set(r->data, io->lba, io->nblocks, true);
	medium_write(r->base + io->part_off, io->buf, io->part_len);
	return 0;
}

static int ram_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	int ret;

	(void)eng;
	if (io->part_len)
		ret = ram_part(to_ram(be), io);
	else
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
	ram_discard(r, lba, nblocks);
	return 0;
}

static uint32_t block_state(const struct be_ram *r, uint64_t i)
{
	if (bit(r->data, i))
		return 0;
	return bit(r->resident, i) ? BE_STATE_ZERO : BE_STATE_HOLE | BE_STATE_ZERO;
}

/* From the bitmaps: a word at a time where all 64 blocks agree. */
static int ram_block_status(struct backend *be, uint64_t lba, uint64_t nblocks,
			    struct be_extent *ext, unsigned max)
{
	struct be_ram *r = to_ram(be);
	uint64_t i = lba, end = lba + nblocks;
	unsigned n = 0;

	while (i < end) {
		uint32_t st = block_state(r, i);
		uint64_t j = i + 1;

		while (j < end) {
			if (j % 64 == 0 && end - j >= 64) {
				uint64_t d = __atomic_load_n(&r->data[j / 64], __ATOMIC_RELAXED);
				uint64_t s = __atomic_load_n(&r->resident[j / 64], __ATOMIC_RELAXED);
				uint64_t want_d = st == 0 ? ~0ull : 0;
				uint64_t want_s = st & BE_STATE_HOLE ? 0 : ~0ull;

				if (d == want_d && (st == 0 || s == want_s)) {
					j += 64;
					continue;
				}
			}
			if (block_state(r, j) != st)
				break;
			j++;
		}
		if (!be_extent_add(ext, &n, max, j - i, st))
			break;
		i = j;
	}
	return (int)n;
}

static __attribute__((unused)) const void *ram_mem(struct backend *be, uint64_t lba,
						    uint32_t nblocks)
{
	struct be_ram *r = to_ram(be);

	if (!nblocks || lba >= be->nblocks || nblocks > be->nblocks - lba)
		return NULL;
	return r->base + ((size_t)lba << BE_BLOCK_SHIFT);
}

static void ram_destroy(struct backend *be)
{
	struct be_ram *r = to_ram(be);

	munmap(r->base, r->size);
	free(r->resident);
	free(r->data);
	free(r);
}

static const struct backend_ops ram_ops = {
	.name = "ram",
	.submit = ram_submit,
	.io_sync = ram_io_sync,
	.zero_fast = ram_zero_fast,
	.block_status = ram_block_status,
#ifndef CXLFLASH_TSAN
	/* (A TSan build's medium is read and written in atomic words; a reader
	 * of its memory such as sendmsg() would be a race to TSan.) */
	.mem = ram_mem,
#endif
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
	/* calloc of megabytes is a fresh mapping: pages only where used. */
	r->resident = calloc((spec->size >> BE_BLOCK_SHIFT) / 64 + 1, sizeof(uint64_t));
	r->data = calloc((spec->size >> BE_BLOCK_SHIFT) / 64 + 1, sizeof(uint64_t));
	if (!r->resident || !r->data) {
		free(r->resident);
		free(r->data);
		free(r);
		return -ENOMEM;
	}
	r->readonly = spec->readonly;
	/* NORESERVE: a large LUN only costs the memory that is written. */
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->base == MAP_FAILED) {
		int err = errno;

		log_err("ram: cannot map %" PRIu64 " bytes: %s", spec->size, strerror(err));
		free(r->resident);
		free(r->data);
		free(r);
		return -err;
	}
	/* No MADV_HUGEPAGE (issue 12): the first write into each 2 MiB of a
	 * LUN then faulted a whole huge page in, and allocating one (direct
	 * compaction under THP's "madvise" defrag) cost ~6 ms here, inside
	 * one AFU slice, so every other context on that worker waited 6 ms.
	 * 4 KiB pages fault in ~1.5 us each (a 1 MiB first write ~0.4 ms),
	 * and a 1 MiB discard no longer splits a huge page. */

	r->be.ops = &ram_ops;
	r->be.nblocks = spec->size >> BE_BLOCK_SHIFT;
	r->be.can_unmap = true;
	r->be.direct = false;
	r->be.cpu_inline = true;  /* every request is a memcpy/memset/madvise here */
	r->be.part_align = 1;     /* part writes are a memcpy */
	r->be.lock_fd = -1;
	snprintf(r->be.id, sizeof(r->be.id), "ram:%" PRIu64 "@%p", spec->size, (void *)r->base);
	*out = &r->be;
	return 0;
}
