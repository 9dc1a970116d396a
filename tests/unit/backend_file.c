/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backend_file.c - the file backend: creation from file:PATH?size=, identity,
 * O_DIRECT, asynchronous I/O on the engine with aligned and unaligned
 * buffers and many requests in flight, flush, zeroing, reads past the end,
 * writes of part of a block (part_align), refresh after the file changes
 * size, read-only opens, persistence across close and reopen, missing and
 * unusable paths. The I/O cases run on the
 * scratch directory with io_uring and O_DIRECT, on tmpfs, with the page
 * cache (CXLFLASH_NO_DIRECT=1), and with CXLFLASH_NO_URING=1 (pread/pwrite
 * inside submit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* O_DIRECT, fallocate() */
#endif
#include "t_util.h"
#include "backend/backend.h"
#include "backend/engine_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_MB 16u
#define NBLK    (FILE_MB * 256u)
#define NREQ    64

struct req {
	struct be_io io;  /* first: the callback gets back to the req */
	int calls;
	int res;
};

static void on_done(struct be_io *io, int res)
{
	struct req *r = (struct req *)io;

	r->calls++;
	r->res = res;
}

static bool uring_mode;     /* the current pass expects a real ring */
static bool direct_here;    /* O_DIRECT works in the scratch directory */
static bool expect_direct;  /* ... and the current pass uses it */

/* t_pattern_* want 8-byte alignment; stage through malloc'd memory when not. */
static void pfill(void *dst, size_t len, uint64_t seed, uint64_t lba)
{
	void *t = malloc(len);

	T_ASSERT(t);
	t_pattern_fill(t, len, seed, lba);
	memcpy(dst, t, len);
	free(t);
}

static int pcheck(const void *src, size_t len, uint64_t seed, uint64_t lba)
{
	void *t = malloc(len);
	int ret;

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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the engine until nothing is in flight (or fail after 30 s). */
static void drain(struct be_engine *eng)
{
	double end = now_s() + 30;

	while (be_engine_inflight(eng)) {
		T_ASSERT(now_s() < end);
		T_ASSERT(be_engine_wait(eng, 100000) >= 0);
		T_ASSERT(be_engine_poll(eng, 0) >= 0);
	}
	T_EQ(be_engine_poll(eng, 0), 0);
}

static void init_req(struct req *r, enum be_op op, uint64_t lba, uint32_t n, void *buf)
{
	memset(r, 0, sizeof(*r));
	r->io.op = op;
	r->io.lba = lba;
	r->io.nblocks = n;
	r->io.buf = buf;
	r->io.cb = on_done;
	r->io.cb_arg = r;
	r->res = 1;
}

/* One request start to finish; returns its result. */
static int run(struct backend *be, struct be_engine *eng, enum be_op op, uint64_t lba,
	       uint32_t n, void *buf)
{
	struct req r;

	init_req(&r, op, lba, n, buf);
	T_EQ(be->ops->submit(be, eng, &r.io), 0);
	if (!uring_mode || !eng)
		T_EQ(r.calls, 1);  /* the synchronous paths complete inline */
	drain(eng);
	T_EQ(r.calls, 1);
	T_ASSERT(r.io.bounce == NULL);
	return r.res;
}

static struct backend *open_name(const char *name)
{
	struct be_spec s;
	struct backend *be = NULL;

	T_EQ(be_parse_spec(name, &s), 0);
	T_EQ(be_open(&s, &be), 0);
	T_ASSERT(be);
	return be;
}

/* Whether O_DIRECT works in the scratch directory at all. */
static bool dir_has_direct(void)
{
	const char *p = t_path("be_direct_probe");
	int fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0600);

	unlink(p);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void test_create(void)
{
	const char *path = t_path("be_create");
	char name[4200], real[PATH_MAX];
	struct backend *be;
	struct stat st;

	unlink(path);
	snprintf(name, sizeof(name), "file:%s?size=%uM", path, FILE_MB);
	be = open_name(name);
	T_EQ(stat(path, &st), 0);
	T_EQ(st.st_size, (long long)FILE_MB << 20);
	T_ASSERT(st.st_blocks < 1024);  /* sparse */
	T_EQ(st.st_mode & 0777, 0644);
	T_EQ(be->nblocks, NBLK);
	T_ASSERT(!strcmp(be->ops->name, "file"));
	T_ASSERT(realpath(path, real));
	T_ASSERT(!strcmp(be->id, real));
	T_EQ(be->dev, st.st_dev);
	T_EQ(be->ino, st.st_ino);
	T_ASSERT(be->lock_fd >= 0);
	T_ASSERT(be->can_unmap);
	T_EQ(be->direct, direct_here);
	be_close(be);

	/* it exists now: the size only applies on creation */
	snprintf(name, sizeof(name), "file:%s?size=%uM", path, FILE_MB * 2);
	be = open_name(name);
	T_EQ(be->nblocks, NBLK);
	be_close(be);
	T_EQ(stat(path, &st), 0);
	T_EQ(st.st_size, (long long)FILE_MB << 20);
	unlink(path);
}

/* prealloc=full: every block of a new file is written (zeroes), a tail shorter than the 4 MiB fill too. */
static void test_create_prealloc(void)
{
	const char *path = t_path("be_prealloc");
	const uint64_t bytes = (5ull << 20) + 4096;
	char name[4200], *buf;
	struct backend *be;
	struct stat st;
	int fd;

	unlink(path);
	snprintf(name, sizeof(name), "file:%s?size=%" PRIu64 "&prealloc=full", path, bytes);
	be = open_name(name);
	T_EQ(be->nblocks, bytes >> 12);
	be_close(be);
	T_EQ(stat(path, &st), 0);
	T_EQ(st.st_size, (long long)bytes);
	T_ASSERT((uint64_t)st.st_blocks * 512 >= bytes);  /* no hole left */
	buf = malloc(bytes);
	T_ASSERT(buf);
	fd = open(path, O_RDONLY);
	T_ASSERT(fd >= 0);
	T_EQ(pread(fd, buf, bytes, 0), (ssize_t)bytes);
	close(fd);
	for (uint64_t i = 0; i < bytes; i++)
		if (buf[i])
			T_ASSERT(!"prealloc=full left a non-zero byte");
	free(buf);

	/* an existing file is left as it is */
	T_EQ(truncate(path, 0), 0);
	T_EQ(truncate(path, 1 << 20), 0);
	be = open_name(name);
	T_EQ(be->nblocks, 256u);
	be_close(be);
	T_EQ(stat(path, &st), 0);
	T_ASSERT(st.st_blocks < 1024);
	unlink(path);
}

static void test_open_errors(void)
{
	const char *path = t_path("be_missing"), *small = t_path("be_small");
	char name[4200];
	struct be_spec s;
	struct backend *be = (struct backend *)1;
	int fd;

	unlink(path);
	T_EQ(be_parse_spec(path, &s), 0);  /* a plain path parses; open finds it missing */
	T_EQ(be_open(&s, &be), -ENOENT);
	T_ASSERT(be == NULL);
	snprintf(name, sizeof(name), "file:%s", path);
	T_EQ(be_parse_spec(name, &s), 0);
	T_EQ(be_open(&s, &be), -ENOENT);
	T_EQ(be_parse_spec("file:/nonexistent-dir-cxlflash/x?size=4K", &s), 0);
	T_EQ(be_open(&s, &be), -ENOENT);

	/* smaller than a block */
	fd = open(small, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_ASSERT(fd >= 0);
	T_EQ(ftruncate(fd, 4095), 0);
	close(fd);
	T_EQ(be_parse_spec(small, &s), 0);
	T_EQ(be_open(&s, &be), -EINVAL);
	unlink(small);

	/* not a file */
	T_EQ(be_parse_spec("/dev/null", &s), 0);
	T_EQ(be_open(&s, &be), -EINVAL);
	T_EQ(be_parse_spec("/", &s), 0);
	T_ASSERT(be_open(&s, &be) < 0);
}

/* Write and read back with aligned and unaligned buffers, one at a time. */
static void test_rw_single(struct backend *be, struct be_engine *eng)
{
	size_t max = 300 * 4096ul;
	uint8_t *a, *u;
	uint64_t rs = 1;

	T_EQ(posix_memalign((void **)&a, 4096, max + 4096), 0);
	u = a + 4096 + 3;  /* unaligned, and not even 8-byte aligned */
	for (int i = 0; i < 40; i++) {
		uint32_t n = 1 + (uint32_t)(t_rand(&rs) % 300);
		uint64_t lba = t_rand(&rs) % (NBLK - n + 1);
		uint8_t *w = i & 1 ? u : a, *r = i & 2 ? a + 8 : a;

		if (r + n * 4096ul > a + max + 4096)
			r = a;
		pfill(w, n * 4096ul, 100 + i, lba);
		T_EQ(run(be, i % 5 ? eng : NULL, BE_OP_WRITE, lba, n, w), 0);
		memset(r, 0, n * 4096ul);
		T_EQ(run(be, eng, BE_OP_READ, lba, n, r), 0);
		T_EQ(pcheck(r, n * 4096ul, 100 + i, lba), 0);
		/* and the synchronous helpers see the same */
		memset(u, 0, n * 4096ul);
		T_EQ(be_read_sync(be, lba, n, u), 0);
		T_EQ(pcheck(u, n * 4096ul, 100 + i, lba), 0);
	}
	free(a);
}

/* NREQ requests in flight at once, mixed alignment, then all read back. */
static void test_many_in_flight(struct backend *be, struct be_engine *eng)
{
	static struct req reqs[NREQ];
	uint8_t *bufs[NREQ];
	uint32_t n = 16;

	for (int i = 0; i < NREQ; i++) {
		uint8_t *b;

		T_EQ(posix_memalign((void **)&b, 4096, n * 4096ul + 4096), 0);
		bufs[i] = b;
		b += (i % 3) * 1000;  /* aligned, +1000, +2000 */
		pfill(b, n * 4096ul, 7000 + i, (uint64_t)i * n);
		init_req(&reqs[i], BE_OP_WRITE, (uint64_t)i * n, n, b);
		T_EQ(be->ops->submit(be, eng, &reqs[i].io), 0);
	}
	if (uring_mode)
		T_ASSERT(be_engine_inflight(eng) > 0);
	else
		T_EQ(be_engine_inflight(eng), 0);
	drain(eng);
	for (int i = 0; i < NREQ; i++) {
		T_EQ(reqs[i].calls, 1);
		T_EQ(reqs[i].res, 0);
	}

	/* a flush after them */
	T_EQ(run(be, eng, BE_OP_FLUSH, 0, 0, NULL), 0);

	for (int i = 0; i < NREQ; i++) {
		uint8_t *b = bufs[i] + ((i + 1) % 3) * 1000;

		memset(b, 0, n * 4096ul);
		init_req(&reqs[i], BE_OP_READ, (uint64_t)i * n, n, b);
		T_EQ(be->ops->submit(be, eng, &reqs[i].io), 0);
	}
	/* reap in small batches to exercise the poll limit */
	while (be_engine_inflight(eng)) {
		int got;

		T_ASSERT(be_engine_wait(eng, 1000000) >= 0);
		got = be_engine_poll(eng, 5);
		T_ASSERT(got >= 0 && got <= 5);
	}
	for (int i = 0; i < NREQ; i++) {
		T_EQ(reqs[i].calls, 1);
		T_EQ(reqs[i].res, 0);
		T_EQ(pcheck(reqs[i].io.buf, n * 4096ul, 7000 + i, (uint64_t)i * n), 0);
		free(bufs[i]);
	}
}

/* More requests than the ring has entries: the engine must submit to make room. */
static void test_ring_overcommit(struct backend *be)
{
	static struct req reqs[200];
	static uint8_t buf[200][4096] __attribute__((aligned(4096)));
	struct be_engine *eng;

	T_EQ(be_engine_create(&eng, 8), 0);
	for (int i = 0; i < 200; i++) {
		pfill(buf[i], 4096, 300, (uint64_t)i);
		init_req(&reqs[i], BE_OP_WRITE, (uint64_t)i, 1, buf[i]);
		T_EQ(be->ops->submit(be, eng, &reqs[i].io), 0);
	}
	drain(eng);
	for (int i = 0; i < 200; i++) {
		T_EQ(reqs[i].calls, 1);
		T_EQ(reqs[i].res, 0);
		memset(buf[i], 0, 4096);
		init_req(&reqs[i], BE_OP_READ, (uint64_t)i, 1, buf[i]);
		T_EQ(be->ops->submit(be, eng, &reqs[i].io), 0);
	}
	/* destroy waits for what is still in flight and runs the callbacks */
	be_engine_destroy(eng);
	for (int i = 0; i < 200; i++) {
		T_EQ(reqs[i].calls, 1);
		T_EQ(reqs[i].res, 0);
		T_EQ(t_pattern_check(buf[i], 4096, 300, (uint64_t)i), 0);
	}
}

/* A 16 MiB request (the AFU's largest) through a bounce buffer. */
static void test_large(struct backend *be, struct be_engine *eng)
{
	uint32_t n = 4096;
	uint8_t *b = malloc(n * 4096ul + 1), *p = b + 1;

	T_ASSERT(b);
	pfill(p, n * 4096ul, 55, 0);
	T_EQ(run(be, eng, BE_OP_WRITE, 0, n, p), 0);
	memset(p, 0, n * 4096ul);
	T_EQ(run(be, eng, BE_OP_READ, 0, n, p), 0);
	T_EQ(pcheck(p, n * 4096ul, 55, 0), 0);
	free(b);
}

static void test_zeroing(struct backend *be, struct be_engine *eng)
{
	static const struct { uint64_t lba; uint32_t n; enum be_op op; } cases[] = {
		{ 0, 1, BE_OP_WRITE_ZEROES }, { 7, 3, BE_OP_DISCARD }, { 100, 600, BE_OP_DISCARD },
		{ 50, 513, BE_OP_WRITE_ZEROES }, { NBLK - 1, 1, BE_OP_DISCARD },
	};
	uint32_t span = 1024;
	uint8_t *b;

	T_EQ(posix_memalign((void **)&b, 4096, span * 4096ul), 0);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t lba = cases[i].lba, base = lba > 16 ? lba - 16 : 0;
		uint32_t n = cases[i].n, len = span;

		if (base + len > NBLK)
			len = (uint32_t)(NBLK - base);
		t_pattern_fill(b, len * 4096ul, 900 + i, base);
		T_EQ(be_write_sync(be, base, len, b), 0);
		if (i & 1)
			T_EQ(run(be, eng, cases[i].op, lba, n, NULL), 0);
		else
			T_EQ(be->ops->io_sync(be, cases[i].op, lba, n, NULL), 0);
		memset(b, 0xEE, len * 4096ul);
		T_EQ(be_read_sync(be, base, len, b), 0);
		T_EQ(t_pattern_check(b, (lba - base) * 4096, 900 + i, base), 0);
		T_ASSERT(all_zero(b + (lba - base) * 4096, n * 4096ul));
		T_EQ(t_pattern_check(b + (lba - base + n) * 4096, (len - (lba - base) - n) * 4096ul,
				     900 + i, lba + n), 0);
	}
	T_EQ(be_zero_sync(be, 0, 0), 0);
	T_EQ(be_flush_sync(be), 0);
	free(b);
}

static void test_checks(struct backend *be, struct be_engine *eng)
{
	struct req r;
	uint8_t blk[4096];

	init_req(&r, BE_OP_READ, be->nblocks, 1, blk);
	T_EQ(be->ops->submit(be, eng, &r.io), -ERANGE);
	init_req(&r, BE_OP_WRITE, be->nblocks - 1, 2, blk);
	T_EQ(be->ops->submit(be, eng, &r.io), -ERANGE);
	init_req(&r, BE_OP_DISCARD, 0, (uint32_t)be->nblocks + 1, NULL);
	T_EQ(be->ops->submit(be, eng, &r.io), -ERANGE);
	T_EQ(r.calls, 0);
	T_EQ(be_read_sync(be, be->nblocks, 1, blk), -ERANGE);
	T_EQ(run(be, eng, BE_OP_READ, 0, 0, blk), 0);
}

/* The file grows and shrinks behind the backend's back. */
static void test_refresh(const char *path, struct be_engine *eng)
{
	struct backend *be = open_name(path);
	uint8_t *b;
	int fd = open(path, O_RDWR);

	T_ASSERT(fd >= 0);
	T_EQ(posix_memalign((void **)&b, 4096, 8 * 4096), 0);
	T_EQ(be->nblocks, NBLK);
	T_EQ(ftruncate(fd, (off_t)(NBLK + 100) * 4096 + 123), 0);
	T_EQ(be->nblocks, NBLK);
	T_EQ(be->ops->refresh(be), 0);
	T_EQ(be->nblocks, NBLK + 100);  /* a partial block does not count */
	memset(b, 0xEE, 8 * 4096);
	T_EQ(run(be, eng, BE_OP_READ, NBLK + 92, 8, b), 0);
	T_ASSERT(all_zero(b, 8 * 4096));
	t_pattern_fill(b, 8 * 4096, 77, NBLK + 92);
	T_EQ(run(be, eng, BE_OP_WRITE, NBLK + 92, 8, b), 0);
	memset(b, 0, 8 * 4096);
	T_EQ(be_read_sync(be, NBLK + 92, 8, b), 0);
	T_EQ(t_pattern_check(b, 8 * 4096, 77, NBLK + 92), 0);

	/* Shrunk without a refresh: reading past the new end fails with -EIO,
	 * both entirely past it and straddling it (a short read, then nothing). */
	T_EQ(ftruncate(fd, (off_t)(NBLK + 50) * 4096), 0);
	T_EQ(run(be, eng, BE_OP_READ, NBLK + 60, 8, b), -EIO);
	T_EQ(run(be, eng, BE_OP_READ, NBLK + 46, 8, b), -EIO);
	T_EQ(run(be, eng, BE_OP_READ, NBLK + 46, 4, b), 0);
	T_EQ(be_read_sync(be, NBLK + 46, 8, b), -EIO);
	T_EQ(be->ops->refresh(be), 0);
	T_EQ(be->nblocks, NBLK + 50);
	T_EQ(be_read_sync(be, NBLK + 46, 8, b), -ERANGE);

	T_EQ(ftruncate(fd, (off_t)NBLK * 4096), 0);
	T_EQ(be->ops->refresh(be), 0);
	T_EQ(be->nblocks, NBLK);
	close(fd);
	free(b);
	be_close(be);
}

/* Written data is there after close and a fresh open; read-only opens refuse writes. */
static void test_persist(const char *path, struct be_engine *eng)
{
	char name[4200];
	struct backend *be = open_name(path);
	uint8_t *b;

	T_EQ(posix_memalign((void **)&b, 4096, 32 * 4096), 0);
	t_pattern_fill(b, 32 * 4096, 4242, 1000);
	T_EQ(run(be, eng, BE_OP_WRITE, 1000, 32, b), 0);
	T_EQ(run(be, eng, BE_OP_FLUSH, 0, 0, NULL), 0);
	be_close(be);

	snprintf(name, sizeof(name), "file:%s?ro", path);
	be = open_name(name);
	memset(b, 0, 32 * 4096);
	T_EQ(run(be, eng, BE_OP_READ, 1000, 32, b), 0);
	T_EQ(t_pattern_check(b, 32 * 4096, 4242, 1000), 0);
	{
		struct req r;

		init_req(&r, BE_OP_WRITE, 0, 1, b);
		T_EQ(be->ops->submit(be, eng, &r.io), -EROFS);
		init_req(&r, BE_OP_WRITE_ZEROES, 0, 1, NULL);
		T_EQ(be->ops->submit(be, eng, &r.io), -EROFS);
		T_EQ(r.calls, 0);
	}
	T_EQ(be_write_sync(be, 0, 1, b), -EROFS);
	be_close(be);
	free(b);
}

/* Everything that moves data, on one file, with the current engine mode. */
/* Writes of part of a block (be_io part_off / part_len) at the backend's
 * granularity: only those bytes change; misaligned ones are refused. */
static void test_part(struct backend *be, struct be_engine *eng)
{
	uint32_t a = be->part_align;
	uint8_t *blk, *p, *r;
	struct req q;

	fprintf(stderr, "   part_align=%u\n", a);
	T_ASSERT(!be->direct ? a == 1 : a == 0 || (a >= 512 && a < 4096));
	if (!a)
		return;
	T_EQ(posix_memalign((void **)&blk, 4096, 3 * 4096), 0);
	p = blk + 4096;
	r = blk + 2 * 4096;
	memset(blk, 0x11, 4096);
	T_EQ(run(be, eng, BE_OP_WRITE, 7, 1, blk), 0);
	T_EQ(run(be, eng, BE_OP_WRITE, 8, 1, blk), 0);
	for (int fua = 0; fua < 2; fua++) {
		/* a multiple of a at a multiple of a, across blocks 7 and 8 */
		uint64_t off = 8 * 4096ull - (fua + 1) * (uint64_t)(a > 512 ? a : 512);
		uint32_t len = 2 * (a > 512 ? a : 512);

		memset(p, 0x60 + fua, len);
		init_req(&q, BE_OP_WRITE, 7, 2, p);
		q.io.part_off = off;
		q.io.part_len = len;
		q.io.flags = fua ? BE_IO_FUA : 0;
		T_EQ(be->ops->submit(be, eng, &q.io), 0);
		drain(eng);
		T_EQ(q.calls, 1);
		T_EQ(q.res, 0);
		for (uint64_t b = 7; b <= 8; b++) {
			T_EQ(be_read_sync(be, b, 1, r), 0);
			for (uint64_t i = 0; i < 4096; i++) {
				uint64_t at = b * 4096 + i;

				T_EQ(r[i], at >= off && at < off + len ? 0x60 + fua :
					   fua && at >= off + len && at < off + len + len / 2 ? 0x60 :
					   0x11);
			}
		}
	}
	if (a > 1) {
		init_req(&q, BE_OP_WRITE, 7, 1, p);
		q.io.part_off = 7 * 4096ull + a / 2;
		q.io.part_len = a;
		T_EQ(be->ops->submit(be, eng, &q.io), -EINVAL);
	}
	init_req(&q, BE_OP_WRITE, 7, 1, p);
	q.io.part_off = 8 * 4096ull;      /* outside its covering blocks */
	q.io.part_len = a;
	T_EQ(be->ops->submit(be, eng, &q.io), -EINVAL);
	free(blk);
}

static void io_suite(const char *label, const char *path)
{
	struct be_engine *eng;
	struct backend *be;
	char name[4200];

	fprintf(stderr, "-- io suite: %s on %s\n", label, path);
	unlink(path);
	T_EQ(be_engine_create(&eng, 32), 0);
	T_ASSERT(eng);
	T_EQ(eng->use_uring, uring_mode);
	T_EQ(be_engine_inflight(eng), 0);
	T_EQ(be_engine_wait(eng, 1000), 0);  /* nothing in flight: no wait */

	snprintf(name, sizeof(name), "file:%s?size=%uM", path, FILE_MB);
	be = open_name(name);
	fprintf(stderr, "   direct=%d can_unmap=%d\n", be->direct, be->can_unmap);
	if (strncmp(path, "/dev/shm/", 9))
		T_EQ(be->direct, expect_direct);
	test_rw_single(be, eng);
	test_many_in_flight(be, eng);
	test_ring_overcommit(be);
	test_large(be, eng);
	test_zeroing(be, eng);
	test_checks(be, eng);
	test_part(be, eng);
	be_close(be);

	test_refresh(path, eng);
	test_persist(path, eng);
	be_engine_destroy(eng);
	unlink(path);
}

static bool uring_works(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(4, &ring, 0))
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

int main(void)
{
	direct_here = expect_direct = dir_has_direct();
	if (!direct_here)
		fprintf(stderr, "no O_DIRECT in the scratch directory; buffered I/O only\n");
	T_RUN(test_create);
	T_RUN(test_create_prealloc);
	T_RUN(test_open_errors);

	uring_mode = uring_works() && !getenv("CXLFLASH_NO_URING");
	if (!uring_mode)
		fprintf(stderr, "io_uring not usable here; both passes use pread/pwrite\n");
	io_suite(uring_mode ? "io_uring" : "pread/pwrite", t_path("be_io"));
	if (access("/dev/shm", W_OK) == 0) {  /* tmpfs: other zeroing paths, maybe no O_DIRECT */
		char shm[64];

		snprintf(shm, sizeof(shm), "/dev/shm/cxlflash_be_io.%d", (int)getpid());
		io_suite("tmpfs", shm);
	}

	/* the page cache instead of O_DIRECT: no bounce buffers */
	setenv("CXLFLASH_NO_DIRECT", "1", 1);
	expect_direct = false;
	io_suite(uring_mode ? "io_uring, buffered" : "pread/pwrite, buffered", t_path("be_io_buf"));
	unsetenv("CXLFLASH_NO_DIRECT");
	expect_direct = direct_here;

	setenv("CXLFLASH_NO_URING", "1", 1);
	uring_mode = false;
	io_suite("CXLFLASH_NO_URING=1", t_path("be_io_sync"));
	return T_PASS;
}
