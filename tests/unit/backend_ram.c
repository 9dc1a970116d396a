/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backend_ram.c - the ram backend: capacity and identity, data through
 * submit and io_sync, zeroes after WRITE_ZEROES and DISCARD (partial and
 * whole huge pages), inline completion, the request checks, and the
 * medium's own memory (ops->mem: what was written, zeroes after a discard,
 * NULL out of range).
 */
#include "t_util.h"
#include "backend/backend.h"
#include "util/tsan.h"

#define SIZE_MB 8u
#define NBLK    (SIZE_MB * 256u)

struct done {
	int calls;
	int res;
};

static void on_done(struct be_io *io, int res)
{
	struct done *d = io->cb_arg;

	d->calls++;
	d->res = res;
}

static struct backend *open_ram(const char *name)
{
	struct be_spec s;
	struct backend *be = NULL;

	T_EQ(be_parse_spec(name, &s), 0);
	T_EQ(be_open(&s, &be), 0);
	T_ASSERT(be);
	return be;
}

/* submit @op and check it completed inline, once, with @want. */
static void submit(struct backend *be, struct be_engine *eng, enum be_op op, uint64_t lba,
		   uint32_t n, void *buf, int want)
{
	struct done d = { 0, 1 };
	struct be_io io = { .op = op, .lba = lba, .nblocks = n, .buf = buf, .cb = on_done,
			    .cb_arg = &d };

	T_EQ(be->ops->submit(be, eng, &io), 0);
	T_EQ(d.calls, 1);
	T_EQ(d.res, want);
}

/* t_pattern_* want 8-byte alignment; stage through malloc'd memory when not. */
static void pfill(void *dst, size_t len, uint64_t seed, uint64_t lba)
{
	void *t;

	if (!((uintptr_t)dst & 7)) {
		t_pattern_fill(dst, len, seed, lba);
		return;
	}
	t = malloc(len);
	T_ASSERT(t);
	t_pattern_fill(t, len, seed, lba);
	memcpy(dst, t, len);
	free(t);
}

static int pcheck(const void *src, size_t len, uint64_t seed, uint64_t lba)
{
	void *t;
	int ret;

	if (!((uintptr_t)src & 7))
		return t_pattern_check(src, len, seed, lba);
	t = malloc(len);
	T_ASSERT(t);
	memcpy(t, src, len);
	ret = t_pattern_check(t, len, seed, lba);
	free(t);
	return ret;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void test_capacity(void)
{
	struct backend *be = open_ram("ram:8M");
	uint8_t *buf = malloc(NBLK * 4096ul);

	T_EQ(be->nblocks, NBLK);
	T_ASSERT(be->can_unmap);
	T_ASSERT(!be->direct);
	T_EQ(be->lock_fd, -1);
	T_EQ(be->dev, 0);
	T_EQ(be->ino, 0);
	T_ASSERT(!strncmp(be->id, "ram:8388608@", 12));
	T_ASSERT(!strcmp(be->ops->name, "ram"));
	T_ASSERT(be->ops->refresh == NULL || be->ops->refresh(be) == 0);

	/* fresh memory reads as zeroes */
	T_ASSERT(buf);
	memset(buf, 0xAA, NBLK * 4096ul);
	T_EQ(be_read_sync(be, 0, NBLK, buf), 0);
	T_ASSERT(all_zero(buf, NBLK * 4096ul));
	free(buf);
	be_close(be);
}

static void test_submit_patterns(void)
{
	struct backend *be = open_ram("ram:8M");
	struct be_engine *eng;
	uint8_t *wbuf = malloc(64 * 4096 + 1), *rbuf = malloc(64 * 4096 + 1);
	uint64_t rs = 42;

	T_ASSERT(wbuf && rbuf);
	T_EQ(be_engine_create(&eng, 8), 0);
	for (int i = 0; i < 200; i++) {
		uint32_t n = 1 + (uint32_t)(t_rand(&rs) % 64);
		uint64_t lba = t_rand(&rs) % (NBLK - n + 1);
		uint8_t *w = wbuf + (i & 1), *r = rbuf + (i & 1);  /* aligned and not */

		pfill(w, n * 4096ul, (uint64_t)i, lba);
		submit(be, i % 3 ? eng : NULL, BE_OP_WRITE, lba, n, w, 0);
		memset(r, 0, n * 4096ul);
		submit(be, eng, BE_OP_READ, lba, n, r, 0);
		T_EQ(pcheck(r, n * 4096ul, (uint64_t)i, lba), 0);
		/* and the same through the synchronous path */
		memset(r, 0, n * 4096ul);
		T_EQ(be_read_sync(be, lba, n, r), 0);
		T_EQ(pcheck(r, n * 4096ul, (uint64_t)i, lba), 0);
	}
	submit(be, eng, BE_OP_FLUSH, 0, 0, NULL, 0);
	T_EQ(be_engine_inflight(eng), 0);
	T_EQ(be_engine_poll(eng, 16), 0);
	be_engine_destroy(eng);
	free(wbuf);
	free(rbuf);
	be_close(be);
}

static void test_sync_patterns(void)
{
	struct backend *be = open_ram("ram:8M");
	uint8_t *buf = malloc(NBLK * 4096ul);

	T_ASSERT(buf);
	t_pattern_fill(buf, NBLK * 4096ul, 7, 0);
	T_EQ(be_write_sync(be, 0, NBLK, buf), 0);
	memset(buf, 0, NBLK * 4096ul);
	T_EQ(be_read_sync(be, 0, NBLK, buf), 0);
	T_EQ(t_pattern_check(buf, NBLK * 4096ul, 7, 0), 0);
	T_EQ(be_flush_sync(be), 0);
	free(buf);
	be_close(be);
}

/* Zero [lba, lba+n) with @op via @how, and check exactly that range changed. */
static void zero_case(struct backend *be, enum be_op op, bool via_submit, uint64_t lba,
		      uint32_t n, uint8_t *buf)
{
	size_t all = NBLK * 4096ul;

	t_pattern_fill(buf, all, lba + n, 0);
	T_EQ(be_write_sync(be, 0, NBLK, buf), 0);
	if (via_submit)
		submit(be, NULL, op, lba, n, NULL, 0);
	else
		T_EQ(be->ops->io_sync(be, op, lba, n, NULL), 0);
	memset(buf, 0xEE, all);
	T_EQ(be_read_sync(be, 0, NBLK, buf), 0);
	T_ASSERT(all_zero(buf + lba * 4096, n * 4096ul));
	T_EQ(t_pattern_check(buf, lba * 4096, lba + n, 0), 0);
	T_EQ(t_pattern_check(buf + (lba + n) * 4096, (NBLK - lba - n) * 4096ul, lba + n, lba + n),
	     0);
}

static void test_zeroing(void)
{
	struct backend *be = open_ram("ram:8M");
	uint8_t *buf = malloc(NBLK * 4096ul);
	/* single blocks, ragged runs, whole and partial 2 MiB pieces, everything */
	static const struct { uint64_t lba; uint32_t n; } cases[] = {
		{ 0, 1 }, { 5, 1 }, { NBLK - 1, 1 }, { 3, 17 }, { 0, 512 }, { 512, 512 },
		{ 100, 1000 }, { 511, 514 }, { 1, NBLK - 2 }, { 0, NBLK },
	};

	T_ASSERT(buf);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		zero_case(be, BE_OP_WRITE_ZEROES, i & 1, cases[i].lba, cases[i].n, buf);
		zero_case(be, BE_OP_DISCARD, !(i & 1), cases[i].lba, cases[i].n, buf);
		T_EQ(be_zero_sync(be, cases[i].lba, cases[i].n), 0);
	}
	free(buf);
	be_close(be);
}

static void test_checks(void)
{
	struct backend *be = open_ram("ram:8M");
	struct done d = { 0, 1 };
	struct be_io io = { .op = BE_OP_READ, .lba = NBLK, .nblocks = 1, .cb = on_done,
			    .cb_arg = &d };
	uint8_t blk[4096];
	struct be_spec s;
	struct backend *ro;

	io.buf = blk;
	T_EQ(be->ops->submit(be, NULL, &io), -ERANGE);
	io.lba = NBLK - 1;
	io.nblocks = 2;
	T_EQ(be->ops->submit(be, NULL, &io), -ERANGE);
	io.lba = UINT64_MAX;
	io.nblocks = 2;
	T_EQ(be->ops->submit(be, NULL, &io), -ERANGE);
	io.lba = 0;
	io.nblocks = 1;
	io.buf = NULL;
	T_EQ(be->ops->submit(be, NULL, &io), -EINVAL);
	io.op = (enum be_op)99;
	io.buf = blk;
	T_EQ(be->ops->submit(be, NULL, &io), -EINVAL);
	T_EQ(d.calls, 0);  /* a refused request never calls back */
	T_EQ(be_read_sync(be, NBLK, 1, blk), -ERANGE);
	T_EQ(be_zero_sync(be, NBLK - 1, 2), -ERANGE);
	/* zero-length transfers are fine, even at the end */
	submit(be, NULL, BE_OP_READ, NBLK, 0, blk, 0);
	be_close(be);

	T_EQ(be_parse_spec("ram:64K", &s), 0);
	s.readonly = true;
	T_EQ(be_open(&s, &ro), 0);
	T_EQ(be_write_sync(ro, 0, 1, blk), -EROFS);
	T_EQ(be_zero_sync(ro, 0, 1), -EROFS);
	T_EQ(be_read_sync(ro, 0, 1, blk), 0);
	be_close(ro);
}

static void test_large_sparse(void)
{
	/* NORESERVE: a large LUN costs only what is touched */
	struct be_spec s;
	struct backend *be;
	uint8_t blk[4096];

	T_EQ(be_parse_spec("ram:64G", &s), 0);
	if (be_open(&s, &be)) {
		fprintf(stderr, "64G ram mapping refused here; skipping that case\n");
		return;
	}
	T_EQ(be->nblocks, 16ull << 20);
	t_pattern_fill(blk, 4096, 9, be->nblocks - 1);
	T_EQ(be_write_sync(be, be->nblocks - 1, 1, blk), 0);
	memset(blk, 0, sizeof(blk));
	T_EQ(be_read_sync(be, be->nblocks - 1, 1, blk), 0);
	T_EQ(t_pattern_check(blk, 4096, 9, be->nblocks - 1), 0);
	be_close(be);
}

/* ops->mem: the blocks where they are, as written; NULL past the end. */
static void test_mem(void)
{
	struct backend *be = open_ram("ram:8M");
	struct be_engine *eng = NULL;
	uint8_t *buf = malloc(4 * 4096);
	const uint8_t *m;

	T_ASSERT(buf);
#ifdef CXLFLASH_TSAN
	/* TSan builds have no mem (ram.c). */
	T_ASSERT(!be->ops->mem);
	be_close(be);
	free(buf);
	return;
#endif
	T_ASSERT(be->ops->mem);
	T_EQ(be_engine_create(&eng, 8), 0);
	pfill(buf, 4 * 4096, 7, 100);
	submit(be, eng, BE_OP_WRITE, 100, 4, buf, 0);
	m = be->ops->mem(be, 100, 4);
	T_ASSERT(m);
	T_EQ(pcheck(m, 4 * 4096, 7, 100), 0);
	T_ASSERT(be->ops->mem(be, 101, 1) == m + 4096);
	/* A discard: the same address reads zeroes now. */
	submit(be, eng, BE_OP_DISCARD, 101, 1, NULL, 0);
	for (size_t i = 0; i < 4096; i++)
		T_EQ(m[4096 + i], 0);
	/* Unwritten blocks read as zeroes; the last block is in range. */
	m = be->ops->mem(be, NBLK - 1, 1);
	T_ASSERT(m);
	T_EQ(m[0] | m[4095], 0);
	T_ASSERT(!be->ops->mem(be, NBLK - 1, 2));
	T_ASSERT(!be->ops->mem(be, NBLK, 1));
	T_ASSERT(!be->ops->mem(be, 0, 0));
	T_ASSERT(!be->ops->mem(be, UINT64_MAX, 1));
	be_engine_destroy(eng);
	be_close(be);
	free(buf);
}

int main(void)
{
	T_RUN(test_capacity);
	T_RUN(test_submit_patterns);
	T_RUN(test_sync_patterns);
	T_RUN(test_zeroing);
	T_RUN(test_checks);
	T_RUN(test_large_sparse);
	T_RUN(test_mem);
	return T_PASS;
}
