/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the block library (embedded superpipe: master + AFU in this
 * process) on an rbd LUN of a one-node Ceph cluster: a physical chunk on
 * rbd:rbd/blk?size=1G (created by the open) with verified random writes
 * (some FUA) and reads, synchronous and QD 16 asynchronous (submitted to
 * librbd on this thread: afu_inline_lent() grows), cblk_sync and
 * cblk_unmap; then two virtual LUNs on the same image, each reading back
 * only its own data and zeroes where it never wrote; then, through the raw
 * control API, `rbd resize` of an image in use seen by VERIFY (no sense
 * data needed: librbd's update watch told the backend); and `rbd resize`
 * under virtual LUNs: a grown image's new chunk goes to a vLUN grow, a
 * shrunk one's chunk past the end is retired.
 */
#include "../block/blk_test.h"
#include "t_ceph.h"
#include "t_sisl.h"
#include "afu/afu.h"

#include <time.h>

#define LUN  "rbd:rbd/blk?size=1G"
#define QD   16
#define MAXN 8

/* Random multi-block writes in disjoint slots, then read back each one. */
static void rw_loop(chunk_id_t id, size_t max_n, unsigned ios, uint64_t seed, int wflags)
{
	size_t size = 0, slots;
	uint64_t rs = seed;
	uint8_t *w = bt_buf(max_n), *r = bt_buf(max_n);
	uint64_t *lba = calloc(ios, sizeof(*lba));
	size_t *n = calloc(ios, sizeof(*n));

	T_ASSERT(lba && n);
	T_EQ(cblk_get_size(id, &size, 0), 0);
	slots = size / max_n;
	T_ASSERT(slots >= ios);
	for (unsigned i = 0; i < ios; i++) {
		/* Slot i, moved around the LUN: distinct for distinct i. */
		lba[i] = ((i * 7919ull + seed) % slots) * max_n;
		n[i] = 1 + t_rand(&rs) % max_n;
		t_pattern_fill(w, n[i] * BLK, seed + i, lba[i]);
		T_EQ(cblk_write(id, w, (cflash_offset_t)lba[i], n[i], (i & 3) ? 0 : wflags), n[i]);
	}
	for (unsigned i = 0; i < ios; i++) {
		memset(r, 0xEE, n[i] * BLK);
		T_EQ(cblk_read(id, r, (cflash_offset_t)lba[i], n[i], 0), n[i]);
		T_EQ(t_pattern_check(r, n[i] * BLK, seed + i, lba[i]), 0);
	}
	free(lba);
	free(n);
	free(w);
	free(r);
}

/* QD asynchronous 2-block writes, reaped in any order, then read back by tag. */
static void async_loop(chunk_id_t id, uint64_t base)
{
	uint8_t *bufs = bt_buf(QD * 2);
	unsigned lent = afu_inline_lent();
	int tags[QD];
	uint64_t st;

	for (int i = 0; i < QD; i++) {
		t_pattern_fill(bufs + (size_t)i * 2 * BLK, 2 * BLK, 77, base + (uint64_t)i * 2);
		T_EQ(cblk_awrite(id, bufs + (size_t)i * 2 * BLK, (cflash_offset_t)(base + i * 2), 2,
				 &tags[i], NULL, 0), 0);
	}
	for (int i = 0; i < QD; i++) {
		int tag = -1;

		T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 2);
		T_EQ(st, 0);
	}
	memset(bufs, 0, QD * 2 * BLK);
	for (int i = 0; i < QD; i++)
		T_EQ(cblk_aread(id, bufs + (size_t)i * 2 * BLK, (cflash_offset_t)(base + i * 2), 2,
				&tags[i], NULL, 0), 0);
	for (int i = QD - 1; i >= 0; i--) {
		T_EQ(cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING), 2);
		T_EQ(t_pattern_check(bufs + (size_t)i * 2 * BLK, 2 * BLK, 77, base + (uint64_t)i * 2),
		     0);
	}
	/* Embedded on rbd, async commands run the AFU's passes here and are
	 * left to librbd's thread (blk_run_async_locked): most of them, at
	 * least one whatever the scheduler did. */
	lent = afu_inline_lent() - lent;
	fprintf(stderr, "async: %u of %d requests submitted to librbd on this thread\n", lent,
		2 * QD);
	T_ASSERT(lent > 0);
	free(bufs);
}

static void physical(void)
{
	int models[2] = { 0, CBLK_OPN_NO_INTRP_THREADS };
	uint8_t *b = bt_buf(4), *z = bt_buf(4);
	size_t size = 0;

	for (int m = 0; m < 2; m++) {
		chunk_id_t id = bt_open(LUN, QD, O_RDWR, models[m]);

		T_EQ(cblk_get_size(id, &size, 0), 0);
		T_EQ(size, (1ull << 30) / BLK);
		rw_loop(id, MAXN, 150, 11 + m, CBLK_ARW_FUA_FLAG);
		async_loop(id, 200000 + (uint64_t)m * 1000);
		T_EQ(cblk_sync(id, 0), 0);
		/* UNMAP: the blocks read back as zeroes. */
		t_pattern_fill(b, 4 * BLK, 5, 9000);
		T_EQ(cblk_write(id, b, 9000, 4, 0), 4);
		memset(z, 0, BLK);
		T_EQ(cblk_unmap(id, z, 9001, 2, 0), 2);
		T_EQ(cblk_read(id, b, 9000, 4, 0), 4);
		T_EQ(t_pattern_check(b, BLK, 5, 9000), 0);
		T_EQ(memcmp(b + BLK, z, BLK), 0);
		T_EQ(memcmp(b + 2 * BLK, z, BLK), 0);
		T_EQ(cblk_close(id, 0), 0);
	}
	free(b);
	free(z);
}

static void virtual_luns(void)
{
	chunk_id_t a = bt_open_virt(LUN, 8, 0, 2048);
	chunk_id_t v = bt_open_virt(LUN, 8, CBLK_OPN_NO_INTRP_THREADS, 2048);
	uint8_t *b = bt_buf(1), *z = bt_buf(1);

	rw_loop(a, 1, 120, 31, 0);
	rw_loop(v, 1, 120, 32, 0);
	/* Each still sees its own data after the other wrote. */
	T_EQ(cblk_read(a, b, (cflash_offset_t)((0 * 7919ull + 31) % 2048), 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 31, (0 * 7919ull + 31) % 2048), 0);
	/* A block neither wrote reads zeroes (scrubbed chunks, fresh image). */
	for (uint64_t l = 0; l < 2048; l++) {
		bool written = false;

		for (unsigned i = 0; i < 120 && !written; i++)
			written = (i * 7919ull + 32) % 2048 == l;
		if (written)
			continue;
		T_EQ(cblk_read(v, b, (cflash_offset_t)l, 1, 0), 1);
		T_EQ(memcmp(b, z, BLK), 0);
		break;
	}
	T_EQ(cblk_close(a, 0), 0);
	T_EQ(cblk_close(v, 0), 0);
	free(b);
	free(z);
}

static int verify(int fd, uint64_t ctx, uint64_t h, uint64_t *last)
{
	struct dk_cxlflash_verify v = { 0 };
	int rc;

	v.context_id = ctx;
	v.rsrc_handle = h;
	rc = cxlflash_ioctl(fd, DK_CXLFLASH_VERIFY, &v);
	if (!rc)
		*last = v.last_lba;
	return rc;
}

static void resize_in_use(void)
{
	struct t_sisl s;
	struct timespec t0, t1;
	uint64_t h, last = 0;
	double secs;
	int fd = cxlflash_open("rbd:rbd/grow?size=64M", O_RDWR);

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_udirect(fd, s.ctxid, &h), 0);
	T_EQ(verify(fd, s.ctxid, h, &last), 0);
	T_EQ(last, 16383);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_EQ(t_ceph_cmd("rbd resize --size 128M rbd/grow >/dev/null 2>&1"), 0);
	do {
		usleep(20000);
		T_EQ(verify(fd, s.ctxid, h, &last), 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	} while (last == 16383 && secs < 20);
	T_EQ(last, 32767);
	fprintf(stderr, "   VERIFY saw the new size %.2f s after `rbd resize` started\n", secs);
	{
		uint8_t b[4096] __attribute__((aligned(4096)));

		memset(b, 0x5a, sizeof(b));
		T_EQ(t_sisl_rw(&s, (uint32_t)h, last, 1, b, true), 0);  /* the new end is usable */
	}
	T_EQ(t_release(fd, s.ctxid, h), 0);
	t_sisl_detach(&s, true);
	T_EQ(cxlflash_close(fd), 0);
}

/* Seconds since @t0. */
static double since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

#define GLUN   "rbd:rbd/vgrow?size=256M"   /* one chunk */
#define CHUNK  65536u                      /* blocks */

/*
 * `rbd resize` under virtual LUNs: grown, the new chunk goes to the vLUN
 * that asks (it was ENOSPC before); shrunk back, the chunk past the end is
 * never handed out again.
 */
static void resize_under_vluns(void)
{
	chunk_id_t a = bt_open_virt(GLUN, 4, 0, CHUNK), b, c;
	uint8_t *w = bt_buf(1), *r = bt_buf(1), *z = bt_buf(1);
	struct timespec t0;

	t_pattern_fill(w, BLK, 51, 7);
	T_EQ(cblk_write(a, w, 7, 1, 0), 1);
	/* The image's one chunk is a's. */
	b = bt_open_virt(GLUN, 4, 0, 0);
	errno = 0;
	T_EQ(cblk_set_size(b, CHUNK, 0), -1);
	T_EQ(errno, ENOMEM);   /* IBM's errno for a grow with no chunk */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_EQ(t_ceph_cmd("rbd resize --size 512M rbd/vgrow >/dev/null 2>&1"), 0);
	while (cblk_set_size(b, CHUNK, 0)) {
		T_EQ(errno, ENOMEM);
		T_ASSERT(since(&t0) < 20);
		usleep(50000);
	}
	fprintf(stderr, "   a vLUN grew into the new chunk %.2f s after `rbd resize` started\n",
		since(&t0));
	/* The new chunk: zeroes, then what b writes, at its last block (past
	 * the image's old end). */
	T_EQ(cblk_read(b, r, CHUNK - 1, 1, 0), 1);
	T_EQ(memcmp(r, z, BLK), 0);
	t_pattern_fill(w, BLK, 52, CHUNK - 1);
	T_EQ(cblk_write(b, w, CHUNK - 1, 1, CBLK_ARW_FUA_FLAG), 1);
	T_EQ(cblk_read(b, r, CHUNK - 1, 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 52, CHUNK - 1), 0);
	T_EQ(cblk_read(a, r, 7, 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 51, 7), 0);
	T_EQ(cblk_close(b, 0), 0);
	/* Shrunk back: once the shrink is seen, no grow gets that chunk. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_EQ(t_ceph_cmd("rbd resize --size 256M --allow-shrink rbd/vgrow >/dev/null 2>&1"), 0);
	c = bt_open_virt(GLUN, 4, 0, 0);
	while (cblk_set_size(c, CHUNK, 0) == 0) {
		T_EQ(cblk_set_size(c, 0, 0), 0);
		T_ASSERT(since(&t0) < 20);
		usleep(50000);
	}
	T_EQ(errno, ENOMEM);
	fprintf(stderr, "   the chunk past the end refused %.2f s after the shrink started\n",
		since(&t0));
	T_EQ(cblk_read(a, r, 7, 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 51, 7), 0);
	T_EQ(cblk_close(c, 0), 0);
	T_EQ(cblk_close(a, 0), 0);
	free(w);
	free(r);
	free(z);
}

int main(void)
{
	t_ceph_start("rbd");
	{
		/* A build without librbd says so: skip. */
		chunk_id_t id = cblk_open(LUN, 1, O_RDWR, 0, 0);

		T_SKIP_IF(id == NULL_CHUNK_ID && errno == ENOTSUP, "built without librbd");
		T_ASSERT(id != NULL_CHUNK_ID);
		T_EQ(cblk_close(id, 0), 0);
	}
	T_RUN(physical);
	T_RUN(virtual_luns);
	T_RUN(resize_in_use);
	T_RUN(resize_under_vluns);
	return T_PASS;
}
