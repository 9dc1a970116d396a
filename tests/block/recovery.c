/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recovery.c - a chunk's context goes into error (all-ones window) while
 * commands are in flight or queued: the library runs RECOVER_AFU, moves to
 * the new context and window, and resubmits what the AFU dropped. Every
 * command completes, none is lost, the data is right; counters show the
 * reset. SQ and IOARRIN modes, both completion models, physical and
 * virtual, ram and file LUNs; plus errors injected under a running load.
 */
#include "blk_afu.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define QD 32

static const char *g_file;

static void check_reset(chunk_id_t id, uint64_t old_ctx, unsigned min_resets)
{
	chunk_stats_t s;

	T_EQ(cblk_get_stats(id, &s, 0), 0);
	T_ASSERT(s.num_reset_contexts >= min_resets);
	T_ASSERT(s.num_capi_adap_chck_err >= min_resets);
	T_EQ(s.num_reset_contxt_fails, 0);
	T_ASSERT(cblk_debug_context_id(id) != old_ctx);
}

/*
 * SQ mode: with the AFU paused, QD writes wait in the SQ; the context dies
 * (dropping them all), the AFU resumes, and the reap must still get all.
 */
static void queued_then_error(const char *lun, int oflags)
{
	chunk_id_t id = (oflags & CBLK_OPN_VIRT_LUN) ?
			bt_open_virt(lun, QD, oflags & ~CBLK_OPN_VIRT_LUN, 10000) :
			bt_open(lun, QD, O_RDWR, oflags);
	uint8_t *w = bt_buf(QD), *r = bt_buf(QD);
	uint64_t ctx = cblk_debug_context_id(id), st;
	int tags[QD];

	for (int i = 0; i < QD; i++)
		t_pattern_fill(w + (size_t)i * BLK, BLK, 42, 500 + (uint64_t)i);
	bt_pause(id);
	for (int i = 0; i < QD; i++)
		T_EQ(cblk_awrite(id, w + (size_t)i * BLK, 500 + i, 1, &tags[i], NULL, 0), 0);
	bt_ctx_error(id);
	bt_resume(id);
	for (int i = 0; i < QD; i++) {
		int tag = -1;

		T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 1);
	}
	for (int i = 0; i < QD; i++)
		T_EQ(cblk_read(id, r + (size_t)i * BLK, 500 + i, 1, 0), 1);
	T_EQ(t_pattern_check(r, QD * BLK, 42, 500), 0);
	check_reset(id, ctx, 1);
	T_EQ(cblk_close(id, 0), 0);
	free(w);
	free(r);
}

static void ram_thread(void) { queued_then_error("ram:1G", 0); }
static void ram_polled(void) { queued_then_error("ram:1G", CBLK_OPN_NO_INTRP_THREADS); }
static void ram_virtual(void) { queued_then_error("ram:1G", CBLK_OPN_VIRT_LUN); }
static void file_thread(void) { queued_then_error(g_file, 0); }
static void file_virtual_polled(void)
{
	queued_then_error(g_file, CBLK_OPN_VIRT_LUN | CBLK_OPN_NO_INTRP_THREADS);
}

/* An error while idle: the next sync request notices, recovers, completes. */
static void idle_then_error(void)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, 0);
	uint8_t *b = bt_buf(1);
	uint64_t ctx = cblk_debug_context_id(id);

	t_pattern_fill(b, BLK, 1, 3);
	T_EQ(cblk_write(id, b, 3, 1, 0), 1);
	bt_ctx_error(id);
	memset(b, 0, BLK);
	T_EQ(cblk_read(id, b, 3, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 1, 3), 0);
	check_reset(id, ctx, 1);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

struct load {
	chunk_id_t id;
	uint64_t base;
	int stop;
	unsigned ios;
	int failed;
};

/* Keep QD/2 verified async write+read pairs going on [base, base + 256). */
static void *load_thread(void *arg)
{
	struct load *l = arg;
	uint8_t *w = bt_buf(QD / 2), *r = bt_buf(QD / 2);
	uint64_t st, seed = l->base;

	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		int tags[QD / 2];
		uint64_t lba0 = l->base + (t_rand(&seed) % 16) * (QD / 2);

		for (int i = 0; i < QD / 2; i++) {
			t_pattern_fill(w + (size_t)i * BLK, BLK, l->ios + 1, lba0 + (uint64_t)i);
			if (cblk_awrite(l->id, w + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1,
					&tags[i], NULL, CBLK_ARW_WAIT_CMD_FLAGS)) {
				l->failed = errno;
				goto out;
			}
		}
		for (int i = 0; i < QD / 2; i++)
			if (cblk_aresult(l->id, &tags[i], &st, CBLK_ARESULT_BLOCKING) != 1) {
				l->failed = errno ? errno : -1;
				goto out;
			}
		for (int i = 0; i < QD / 2; i++)
			if (cblk_read(l->id, r + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1,
				      0) != 1) {
				l->failed = errno;
				goto out;
			}
		if (t_pattern_check(r, (QD / 2) * BLK, l->ios + 1, lba0)) {
			l->failed = -2;
			goto out;
		}
		l->ios++;
	}
out:
	free(w);
	free(r);
	return NULL;
}

/* Errors injected under load from two threads; IOARRIN or SQ mode as set. */
static void under_load(const char *lun, int oflags)
{
	chunk_id_t id = bt_open(lun, QD, O_RDWR, oflags);
	struct load l[2] = { { .id = id, .base = 0 }, { .id = id, .base = 10000 } };
	pthread_t th[2];
	uint64_t ctx = cblk_debug_context_id(id);

	T_EQ(cblk_debug_sq_mode(id), getenv("CXLFLASH_IOARRIN") ? 0 : 1);

	for (int i = 0; i < 2; i++)
		T_EQ(pthread_create(&th[i], NULL, load_thread, &l[i]), 0);
	for (int k = 0; k < 5; k++) {
		struct timespec ts = { 0, 40 * 1000000 };

		nanosleep(&ts, NULL);
		bt_ctx_error(id);
	}
	{
		struct timespec ts = { 0, 100 * 1000000 };

		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < 2; i++) {
		__atomic_store_n(&l[i].stop, 1, __ATOMIC_RELEASE);
		T_EQ(pthread_join(th[i], NULL), 0);
		T_EQ(l[i].failed, 0);
		T_ASSERT(l[i].ios > 0);
	}
	check_reset(id, ctx, 5);
	T_EQ(cblk_close(id, 0), 0);
}

static void load_thread_ram(void) { under_load("ram:1G", 0); }
static void load_polled_file(void) { under_load(g_file, CBLK_OPN_NO_INTRP_THREADS); }

int main(void)
{
	g_file = bt_file("blk_recovery", 1ull << 30);
	T_RUN(ram_thread);
	T_RUN(ram_polled);
	T_RUN(ram_virtual);
	T_RUN(file_thread);
	T_RUN(file_virtual_polled);
	T_RUN(idle_then_error);
	T_RUN(load_thread_ram);
	T_RUN(load_polled_file);
	/* IOARRIN mode: the master reads CXLFLASH_IOARRIN when it starts (no LUN open). */
	setenv("CXLFLASH_IOARRIN", "1", 1);
	fprintf(stderr, "-- IOARRIN mode\n");
	T_RUN(idle_then_error);
	/* This case once hung: a submission raced the window's error fill and
	 * left a value in the dead mailbox (see sisl_ioarrin_write). */
	T_RUN(load_thread_ram);
	T_RUN(load_polled_file);
	/* CXLFLASH_TEST_REPEAT=N repeats the racy case N more times. */
	for (int i = 0, n = getenv("CXLFLASH_TEST_REPEAT") ? atoi(getenv("CXLFLASH_TEST_REPEAT")) : 0;
	     i < n; i++)
		T_RUN(load_thread_ram);
	unlink(g_file);
	return T_PASS;
}
