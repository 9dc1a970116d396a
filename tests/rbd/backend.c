/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the rbd backend on a one-node Ceph cluster: an image created
 * at its ?size=, the capacity, synchronous and asynchronous (on an io_uring
 * engine, on a ring-less engine, with no engine) READ/WRITE/FUA WRITE/FLUSH/
 * DISCARD/WRITE_ZEROES round trips with callbacks on the submitting thread,
 * be_engine_inflight() counting rbd requests, read-only and bounds checks,
 * refresh after `rbd resize`, and clear errors in bounded time: a missing
 * pool, a missing image, a cluster that is not there. The identity (the
 * WWID's source) is the same at every open, and a second writable open of
 * a held image is refused by the image's exclusive lock.
 */
#include "t_ceph.h"
#include "t_util.h"
#include "backend/backend.h"
#include "master/master.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define IMG_BYTES (64ull << 20)
#define NBLK      (IMG_BYTES / BE_BLOCK_SIZE)
#define QD        32

struct req {
	struct be_io io;     /* first */
	int res;
	int done;
	pthread_t thread;
};

static void on_done(struct be_io *io, int res)
{
	struct req *r = (struct req *)io;

	r->res = res;
	r->done++;
	r->thread = pthread_self();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct backend *open_ok(const char *name)
{
	struct be_spec spec;
	struct backend *be = NULL;
	int rc;

	T_EQ(be_parse_spec(name, &spec), 0);
	rc = be_open(&spec, &be);
	T_SKIP_IF(rc == -ENOTSUP, "built without librbd, or librbd.so.1 missing");
	if (rc) {
		fprintf(stderr, "be_open(%s): %s\n", name, strerror(-rc));
		exit(T_FAIL);
	}
	return be;
}

static void drain(struct be_engine *eng)
{
	double t0 = now_s();

	while (be_engine_inflight(eng)) {
		T_ASSERT(now_s() - t0 < 30);
		T_ASSERT(be_engine_wait(eng, 100000) >= 0);
		T_ASSERT(be_engine_poll(eng, 0) >= 0);
	}
}

/* One request on @eng (NULL: inline), waited for. Return: its result. */
static int run(struct backend *be, struct be_engine *eng, enum be_op op, uint64_t lba,
	       uint32_t n, void *buf, uint32_t flags)
{
	struct req r = { .io = { .op = op, .lba = lba, .nblocks = n, .buf = buf,
				 .flags = flags, .cb = on_done } };
	int rc = be->ops->submit(be, eng, &r.io);

	if (rc)
		return rc;
	if (eng)
		drain(eng);
	T_EQ(r.done, 1);
	T_ASSERT(pthread_equal(r.thread, pthread_self()));
	return r.res;
}

static void test_sync(struct backend *be)
{
	uint8_t *w = malloc(16 * BE_BLOCK_SIZE), *r = malloc(16 * BE_BLOCK_SIZE);
	uint8_t *zero = calloc(16, BE_BLOCK_SIZE);

	T_ASSERT(w && r && zero);
	T_EQ(be->nblocks, NBLK);
	t_pattern_fill(w, 16 * BE_BLOCK_SIZE, 1, 100);
	T_EQ(be_write_sync(be, 100, 16, w), 0);
	T_EQ(be_read_sync(be, 100, 16, r), 0);
	T_EQ(memcmp(w, r, 16 * BE_BLOCK_SIZE), 0);
	T_EQ(be_flush_sync(be), 0);
	/* One block inside an object: librbd skips such a discard by default. */
	T_EQ(be_discard_sync(be, 103, 1), 0);
	T_EQ(be_read_sync(be, 100, 16, r), 0);
	T_EQ(memcmp(r, w, 3 * BE_BLOCK_SIZE), 0);
	T_EQ(memcmp(r + 3 * BE_BLOCK_SIZE, zero, BE_BLOCK_SIZE), 0);
	T_EQ(memcmp(r + 4 * BE_BLOCK_SIZE, w + 4 * BE_BLOCK_SIZE, 12 * BE_BLOCK_SIZE), 0);
	T_EQ(be_zero_sync(be, 108, 2), 0);
	T_EQ(be_read_sync(be, 108, 2, r), 0);
	T_EQ(memcmp(r, zero, 2 * BE_BLOCK_SIZE), 0);
	/* NBD's FAST_ZERO: a discard is fast, allocated zeroes are not. */
	T_ASSERT(be->ops->zero_fast);
	T_EQ(be->ops->zero_fast(be, BE_OP_WRITE_ZEROES, 111, 2), -EOPNOTSUPP);
	T_EQ(be_read_sync(be, 111, 2, r), 0);
	T_EQ(memcmp(r, w + 11 * BE_BLOCK_SIZE, 2 * BE_BLOCK_SIZE), 0);
	T_EQ(be->ops->zero_fast(be, BE_OP_DISCARD, 111, 2), 0);
	T_EQ(be_read_sync(be, 110, 4, r), 0);
	T_EQ(memcmp(r, w + 10 * BE_BLOCK_SIZE, BE_BLOCK_SIZE), 0);
	T_EQ(memcmp(r + BE_BLOCK_SIZE, zero, 2 * BE_BLOCK_SIZE), 0);
	T_EQ(memcmp(r + 3 * BE_BLOCK_SIZE, w + 13 * BE_BLOCK_SIZE, BE_BLOCK_SIZE), 0);
	T_EQ(be->ops->zero_fast(be, BE_OP_DISCARD, NBLK, 1), -ERANGE);
	/* The last block, and past it. */
	T_EQ(be_write_sync(be, NBLK - 1, 1, w), 0);
	T_EQ(be_read_sync(be, NBLK - 1, 1, r), 0);
	T_EQ(memcmp(w, r, BE_BLOCK_SIZE), 0);
	T_EQ(be_write_sync(be, NBLK - 1, 2, w), -ERANGE);
	T_EQ(be_read_sync(be, NBLK, 1, r), -ERANGE);
	free(w);
	free(r);
	free(zero);
}

/* Every op once on @eng (NULL: inline), then QD random writes and reads. */
static void test_async(struct backend *be, struct be_engine *eng, uint64_t seed)
{
	static struct req reqs[QD];
	uint8_t *bufs = malloc((size_t)QD * 4 * BE_BLOCK_SIZE);
	uint8_t *r = malloc(4 * BE_BLOCK_SIZE), *zero = calloc(4, BE_BLOCK_SIZE);
	uint64_t rs = seed, lbas[QD];

	T_ASSERT(bufs && r && zero);
	t_pattern_fill(r, 4 * BE_BLOCK_SIZE, seed, 7);
	T_EQ(run(be, eng, BE_OP_WRITE, 7, 4, r, 0), 0);
	T_EQ(run(be, eng, BE_OP_WRITE, 20, 4, r, BE_IO_FUA), 0);
	T_EQ(run(be, eng, BE_OP_FLUSH, 0, 0, NULL, 0), 0);
	memset(r, 0, 4 * BE_BLOCK_SIZE);
	T_EQ(run(be, eng, BE_OP_READ, 7, 4, r, 0), 0);
	T_EQ(t_pattern_check(r, 4 * BE_BLOCK_SIZE, seed, 7), 0);
	T_EQ(run(be, eng, BE_OP_READ, 20, 4, r, 0), 0);
	T_EQ(t_pattern_check(r, 4 * BE_BLOCK_SIZE, seed, 7), 0);
	T_EQ(run(be, eng, BE_OP_DISCARD, 8, 1, NULL, 0), 0);
	T_EQ(run(be, eng, BE_OP_WRITE_ZEROES, 21, 2, NULL, 0), 0);
	T_EQ(run(be, eng, BE_OP_READ, 8, 1, r, 0), 0);
	T_EQ(memcmp(r, zero, BE_BLOCK_SIZE), 0);
	T_EQ(run(be, eng, BE_OP_READ, 21, 2, r, 0), 0);
	T_EQ(memcmp(r, zero, 2 * BE_BLOCK_SIZE), 0);
	T_EQ(run(be, eng, BE_OP_READ, 0, 0, r, 0), 0);  /* nothing to move */

	/* QD writes in flight at once, every other one FUA, then read back. */
	for (unsigned i = 0; i < QD; i++) {
		lbas[i] = 1024 + i * 64 + t_rand(&rs) % 60;
		t_pattern_fill(bufs + (size_t)i * 4 * BE_BLOCK_SIZE, 4 * BE_BLOCK_SIZE, seed + i,
			       lbas[i]);
		reqs[i] = (struct req){ .io = { .op = BE_OP_WRITE, .lba = lbas[i], .nblocks = 4,
						.buf = bufs + (size_t)i * 4 * BE_BLOCK_SIZE,
						.flags = (i & 1) ? BE_IO_FUA : 0, .cb = on_done } };
		T_EQ(be->ops->submit(be, eng, &reqs[i].io), 0);
	}
	if (eng)
		T_ASSERT(be_engine_inflight(eng) > 0);
	drain(eng);
	T_EQ(be_engine_inflight(eng), 0);
	for (unsigned i = 0; i < QD; i++) {
		T_EQ(reqs[i].done, 1);
		T_EQ(reqs[i].res, 0);
		T_ASSERT(pthread_equal(reqs[i].thread, pthread_self()));
		memset(bufs + (size_t)i * 4 * BE_BLOCK_SIZE, 0, 4 * BE_BLOCK_SIZE);
		reqs[i] = (struct req){ .io = { .op = BE_OP_READ, .lba = lbas[i], .nblocks = 4,
						.buf = bufs + (size_t)i * 4 * BE_BLOCK_SIZE,
						.cb = on_done } };
		T_EQ(be->ops->submit(be, eng, &reqs[i].io), 0);
	}
	drain(eng);
	for (unsigned i = 0; i < QD; i++) {
		T_EQ(reqs[i].done, 1);
		T_EQ(reqs[i].res, 0);
		T_EQ(t_pattern_check(bufs + (size_t)i * 4 * BE_BLOCK_SIZE, 4 * BE_BLOCK_SIZE,
				     seed + i, lbas[i]), 0);
	}
	free(bufs);
	free(r);
	free(zero);
}

/*
 * Rough numbers (printed, not judged: the machine is shared): QD1 and QD16
 * 4 KiB random writes and reads on the io_uring engine. Every wait must end
 * with a completion, not its (10 s) timeout: no wakeup is lost.
 */
static void test_speed(struct backend *be, struct be_engine *eng)
{
	static struct req reqs[16];
	static uint8_t bufs[16][BE_BLOCK_SIZE];
	const char *names[2] = { "write", "read" };

	for (int op = 0; op < 2; op++) {
		for (unsigned qd = 1; qd <= 16; qd *= 16) {
			unsigned n = qd == 1 ? 300 : 2000, sent = 0, done = 0;
			uint64_t rs = 99;
			double t0 = now_s(), dt;

			while (done < n) {
				for (unsigned i = 0; i < qd && sent < n; i++) {
					if (sent >= qd && !reqs[i].done)
						continue;
					if (sent >= qd)
						T_EQ(reqs[i].res, 0);
					reqs[i] = (struct req){ .io = {
						.op = op ? BE_OP_READ : BE_OP_WRITE,
						.lba = 4096 + t_rand(&rs) % 4096, .nblocks = 1,
						.buf = bufs[i], .cb = on_done } };
					T_EQ(be->ops->submit(be, eng, &reqs[i].io), 0);
					sent++;
				}
				/* 10 s: only a lost wakeup waits that long. */
				T_EQ(be_engine_wait(eng, 10000000), 1);
				done += (unsigned)be_engine_poll(eng, 0);
			}
			dt = now_s() - t0;
			fprintf(stderr, "   rbd %s QD%u: %.0f IOPS, %.2f ms mean latency\n",
				names[op], qd, n / dt, dt * 1000 * qd / n);
		}
	}
	drain(eng);
}

/* Requests the backend refuses complete nowhere: submit says why. */
static void test_checks(struct backend *be, struct be_engine *eng)
{
	uint8_t b[BE_BLOCK_SIZE];
	struct req r = { .io = { .op = BE_OP_WRITE, .lba = NBLK, .nblocks = 1, .buf = b,
				 .cb = on_done } };

	T_EQ(be->ops->submit(be, eng, &r.io), -ERANGE);
	r.io.lba = 0;
	r.io.buf = NULL;
	T_EQ(be->ops->submit(be, eng, &r.io), -EINVAL);
	T_EQ(r.done, 0);
	T_EQ(be_engine_inflight(eng), 0);
}

static void test_readonly(struct be_engine *eng)
{
	struct backend *be = open_ok("rbd:rbd/t1?ro");
	uint8_t b[BE_BLOCK_SIZE];
	struct req r = { .io = { .op = BE_OP_WRITE, .lba = 0, .nblocks = 1, .buf = b,
				 .cb = on_done } };

	T_EQ(be->nblocks, NBLK);
	T_EQ(be->ops->submit(be, eng, &r.io), -EROFS);
	T_EQ(run(be, eng, BE_OP_READ, 7, 1, b, 0), 0);
	T_EQ(t_pattern_check(b, BE_BLOCK_SIZE, 3, 7), 0);  /* test_async(seed 3) wrote it */
	be_close(be);
}

static void expect_open_error(const char *name, int want, double max_s)
{
	struct be_spec spec;
	struct backend *be = NULL;
	double t0 = now_s(), took;
	int rc;

	T_EQ(be_parse_spec(name, &spec), 0);
	rc = be_open(&spec, &be);
	took = now_s() - t0;
	fprintf(stderr, "   %s: %s after %.2f s\n", name, strerror(-rc), took);
	T_EQ(rc, want);
	T_ASSERT(!be);
	T_ASSERT(took < max_s);
}

/*
 * The identity (and so the WWID) comes from the cluster, pool and image
 * ids: the same at every open, different for another image. A second
 * writable open of a held image is refused (its exclusive lock), at once,
 * or after the takeover wait when the holder stays alive.
 */
static void test_identity(struct backend *be)
{
	struct backend *ro = open_ok("rbd:rbd/t1?ro"), *other = open_ok("rbd:rbd/t2?size=1M");
	uint8_t w1[CXLFLASH_WWID_LEN], w2[CXLFLASH_WWID_LEN], w3[CXLFLASH_WWID_LEN];

	fprintf(stderr, "   uid %s\n", be->uid);
	T_ASSERT(!strncmp(be->uid, "rbd:", 4));
	T_ASSERT(!strcmp(be->uid, ro->uid));
	T_ASSERT(strcmp(be->uid, other->uid) != 0);
	lun_derive_wwid(be, w1);
	lun_derive_wwid(ro, w2);
	lun_derive_wwid(other, w3);
	T_ASSERT(!memcmp(w1, w2, sizeof(w1)) && memcmp(w1, w3, sizeof(w1)));
	T_EQ(w1[0] >> 4, 6);   /* NAA 6 */
	be_close(ro);
	be_close(other);
	expect_open_error("rbd:rbd/t1", -EBUSY, 5);
	expect_open_error("rbd:rbd/t1?takeover=1", -EBUSY, 10);
}

static void test_refresh(struct backend *be)
{
	struct timespec t0, t1;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_EQ(t_ceph_cmd("rbd resize --size 128M rbd/t1 >/dev/null 2>&1"), 0);
	/* Noticed without a refresh: librbd's update watch. */
	do {
		usleep(10000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	} while (__atomic_load_n(&be->nblocks, __ATOMIC_RELAXED) != 2 * NBLK && s < 20);
	T_EQ(__atomic_load_n(&be->nblocks, __ATOMIC_RELAXED), 2 * NBLK);
	fprintf(stderr, "   the resize noticed %.2f s after `rbd resize` started\n", s);
	T_EQ(be->ops->refresh(be), 0);
	T_EQ(be->nblocks, 2 * NBLK);
}

static void test_errors(void)
{
	char conf[256], name[512];
	FILE *f;

	expect_open_error("rbd:nopool/x?size=1M", -ENOENT, 5);
	expect_open_error("rbd:rbd/absent", -ENOENT, 5);
	/* Monitors nobody answers at: the mount timeout bounds the wait. */
	snprintf(conf, sizeof(conf), "%s", t_path("rbd-dead.conf"));
	f = fopen(conf, "w");
	T_ASSERT(f);
	fprintf(f, "[global]\nmon host = 127.0.0.1:9\nauth client required = none\n"
		   "[client]\nclient mount timeout = 2\n");
	fclose(f);
	snprintf(name, sizeof(name), "rbd:rbd/x?conf=%s", conf);
	expect_open_error(name, -ETIMEDOUT, 10);
	unlink(conf);
}

int main(void)
{
	struct be_engine *eng, *plain;
	struct backend *be;

	t_ceph_start("rbd");
	be = open_ok("rbd:rbd/t1?size=64M");
	fprintf(stderr, "-- sync\n");
	test_sync(be);
	T_EQ(be_engine_create(&eng, 64), 0);
	fprintf(stderr, "-- async, io_uring engine\n");
	test_async(be, eng, 1);
	setenv("CXLFLASH_NO_URING", "1", 1);
	T_EQ(be_engine_create(&plain, 64), 0);
	unsetenv("CXLFLASH_NO_URING");
	fprintf(stderr, "-- async, engine without a ring\n");
	test_async(be, plain, 2);
	fprintf(stderr, "-- inline, no engine\n");
	test_async(be, NULL, 3);
	fprintf(stderr, "-- speed\n");
	test_speed(be, eng);
	fprintf(stderr, "-- checks\n");
	test_checks(be, eng);
	fprintf(stderr, "-- read-only\n");
	test_readonly(eng);
	fprintf(stderr, "-- identity and the exclusive lock\n");
	test_identity(be);
	fprintf(stderr, "-- refresh\n");
	test_refresh(be);
	be_engine_destroy(plain);
	be_engine_destroy(eng);
	be_close(be);
	fprintf(stderr, "-- errors\n");
	test_errors();
	return T_PASS;
}
