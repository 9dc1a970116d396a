/* SPDX-License-Identifier: Apache-2.0 */
/*
 * async.c - cblk_aread / cblk_awrite / cblk_aresult in both completion
 * models: QD loops reaped by NEXT_TAG and by tag, blocking and polling,
 * user tags, user status words, EWOULDBLOCK and CBLK_ARW_WAIT_CMD_FLAGS,
 * NO_HARVEST, the tag errors (ENOENT, EINVAL, ENOMSG), *status zeroed, a
 * failed request's errno, sync calls leaving async completions alone,
 * CBLK_ARW_DEFER_FLAG (the doorbell left to the wait), and lone requests
 * (one at a time, each waited for at once: after a streak the doorbell is
 * left to the wait) on memory and on a file, with the streak broken by a
 * late wait, a poll and a second request; and batches (several in flight,
 * waited for at once: after a streak the wait runs them) on a file, polled
 * and with the thread, ended by a poll and a late wait, run along by a
 * synchronous call, and handed back to the worker on memory.
 */
#include "blk_afu.h"

#include <pthread.h>
#include <time.h>

#define QD 32

static const char *g_file;

static void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Write QD requests reaped with NEXT_TAG|BLOCKING, read them back by tag. */
static void qd_loop(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", QD, O_RDWR, oflags);
	uint8_t *bufs = bt_buf(QD * 2);
	int tags[QD], seen[QD] = { 0 };
	uint64_t st;

	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < QD; i++) {
			uint64_t lba = (uint64_t)round * 1000 + (uint64_t)i * 2;

			t_pattern_fill(bufs + (size_t)i * 2 * BLK, 2 * BLK, round, lba);
			T_EQ(cblk_awrite(id, bufs + (size_t)i * 2 * BLK, (cflash_offset_t)lba, 2,
					 &tags[i], NULL, 0), 0);
		}
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < QD; i++) {
			int tag = -1;

			st = 99;
			T_EQ(cblk_aresult(id, &tag, &st,
					  CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 2);
			T_EQ(st, 0);
			T_ASSERT(tag >= 0 && tag < QD);
			T_EQ(seen[tag], 0);
			seen[tag] = 1;
		}
		memset(bufs, 0, QD * 2 * BLK);
		for (int i = 0; i < QD; i++) {
			uint64_t lba = (uint64_t)round * 1000 + (uint64_t)i * 2;

			T_EQ(cblk_aread(id, bufs + (size_t)i * 2 * BLK, (cflash_offset_t)lba, 2,
					&tags[i], NULL, 0), 0);
		}
		for (int i = QD - 1; i >= 0; i--) {
			uint64_t lba = (uint64_t)round * 1000 + (uint64_t)i * 2;

			T_EQ(cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING), 2);
			T_EQ(t_pattern_check(bufs + (size_t)i * 2 * BLK, 2 * BLK, round, lba), 0);
		}
	}
	/* polling until done */
	T_EQ(cblk_aread(id, bufs, 0, 1, &tags[0], NULL, 0), 0);
	for (int rc = 0, n = 0; rc == 0; n++) {
		rc = cblk_aresult(id, &tags[0], &st, 0);
		T_ASSERT(rc == 0 || rc == 1);
		T_ASSERT(n < 10000000);
	}
	T_ERRNO(cblk_aresult(id, &tags[0], &st, CBLK_ARESULT_NEXT_TAG), ENOENT);
	T_ERRNO(cblk_aresult(id, &tags[0], &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING),
		ENOENT);
	T_EQ(cblk_close(id, 0), 0);
	free(bufs);
}

static void qd_thread(void) { qd_loop(0); }
static void qd_polled(void) { qd_loop(CBLK_OPN_NO_INTRP_THREADS); }

static void tag_errors(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, oflags);
	uint8_t *b = bt_buf(1);
	uint64_t st;
	int tag;

	tag = -1;
	T_ERRNO(cblk_aresult(id, &tag, &st, 0), EINVAL);
	tag = 8;
	T_ERRNO(cblk_aresult(id, &tag, &st, 0), EINVAL);
	tag = 3;
	T_ERRNO(cblk_aresult(id, &tag, &st, 0), ENOMSG);          /* not in use */
	tag = 777;
	T_ERRNO(cblk_aresult(id, &tag, &st, CBLK_ARESULT_USER_TAG), EINVAL);
	T_ERRNO(cblk_aresult(id, NULL, &st, 0), EINVAL);
	T_ERRNO(cblk_aresult(id, &tag, NULL, 0), EINVAL);
	T_ERRNO(cblk_aresult(id + 1000, &tag, &st, 0), EINVAL);
	T_ERRNO(cblk_aread(id, b, 0, 1, NULL, NULL, 0), EINVAL);
	T_ERRNO(cblk_aread(id, NULL, 0, 1, &tag, NULL, 0), EINVAL);
	T_ERRNO(cblk_aread(id, b, -5, 1, &tag, NULL, 0), EINVAL);
	T_ERRNO(cblk_aread(id, b, 262144, 1, &tag, NULL, 0), EINVAL);

	/* reaped twice */
	T_EQ(cblk_aread(id, b, 0, 1, &tag, NULL, 0), 0);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	T_ERRNO(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), ENOMSG);

	T_EQ(cblk_close(id, 0), 0);

	/* a failed request: the file behind the LUN shrank -> medium error -> EIO */
	id = bt_open(g_file, 8, O_RDWR, oflags);
	T_EQ(truncate(g_file, 1 << 20), 0);
	T_EQ(cblk_aread(id, b, 1000, 1, &tag, NULL, 0), 0);
	T_ERRNO(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), EIO);
	T_ERRNO(cblk_read(id, b, 1000, 1, 0), EIO);
	T_EQ(cblk_read(id, b, 10, 1, 0), 1);
	{
		chunk_stats_t s;

		T_EQ(cblk_get_stats(id, &s, 0), 0);
		T_EQ(s.num_errors, 2);
		T_ASSERT(s.num_cc_errors >= 2);
	}
	T_EQ(truncate(g_file, 1 << 30), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void tags_thread(void) { tag_errors(0); }
static void tags_polled(void) { tag_errors(CBLK_OPN_NO_INTRP_THREADS); }

static void user_tags(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, oflags);
	uint8_t *b = bt_buf(4);
	int t1 = 1000, t2 = 1001, t3 = 1000, tag;
	uint64_t st;

	t_pattern_fill(b, BLK, 1, 7);
	T_EQ(cblk_awrite(id, b, 7, 1, &t1, NULL, CBLK_ARW_USER_TAG_FLAG), 0);
	T_EQ(t1, 1000);
	T_EQ(cblk_aread(id, b + BLK, 8, 1, &t2, NULL, CBLK_ARW_USER_TAG_FLAG), 0);
	T_ERRNO(cblk_aread(id, b + 2 * BLK, 9, 1, &t3, NULL, CBLK_ARW_USER_TAG_FLAG), EINVAL);
	T_EQ(cblk_aresult(id, &t1, &st, CBLK_ARESULT_USER_TAG | CBLK_ARESULT_BLOCKING), 1);
	/* 1000 is free again */
	T_EQ(cblk_aread(id, b + 2 * BLK, 7, 1, &t3, NULL, CBLK_ARW_USER_TAG_FLAG), 0);
	/* NEXT_TAG reports user tags */
	for (int i = 0; i < 2; i++) {
		tag = -1;
		T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 1);
		T_ASSERT(tag == 1000 || tag == 1001);
	}
	T_EQ(t_pattern_check(b + 2 * BLK, BLK, 1, 7), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void utag_thread(void) { user_tags(0); }
static void utag_polled(void) { user_tags(CBLK_OPN_NO_INTRP_THREADS); }

static void user_status(void)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, 0);
	chunk_id_t np = bt_open("ram:1G", 8, O_RDWR, CBLK_OPN_NO_INTRP_THREADS);
	chunk_id_t fid = bt_open(g_file, 8, O_RDWR, 0);
	uint8_t *b = bt_buf(2);
	cblk_arw_status_t s[2];
	int tag[2];
	uint64_t st;

	T_ERRNO(cblk_aread(np, b, 0, 1, &tag[0], &s[0], CBLK_ARW_USER_STATUS_FLAG), EINVAL);
	T_ERRNO(cblk_aread(id, b, 0, 1, &tag[0], NULL, CBLK_ARW_USER_STATUS_FLAG), EINVAL);
	memset(s, 0xFF, sizeof(s));
	T_EQ(cblk_awrite(id, b, 3, 1, &tag[0], &s[0], CBLK_ARW_USER_STATUS_FLAG), 0);
	T_EQ(truncate(g_file, 1 << 20), 0);
	T_EQ(cblk_aread(fid, b + BLK, 1000, 1, &tag[1], &s[1], CBLK_ARW_USER_STATUS_FLAG), 0);
	for (int n = 0;
	     __atomic_load_n(&s[0].status, __ATOMIC_ACQUIRE) == CBLK_ARW_STATUS_PENDING ||
	     __atomic_load_n(&s[1].status, __ATOMIC_ACQUIRE) == CBLK_ARW_STATUS_PENDING;
	     n++) {
		T_ASSERT(n < 5000);
		msleep(1);
	}
	T_EQ(s[0].status, CBLK_ARW_STATUS_SUCCESS);
	T_EQ(s[0].blocks_transferred, 1);
	T_EQ(s[0].fail_errno, 0);
	T_EQ(s[1].status, CBLK_ARW_STATUS_FAIL);
	T_EQ(s[1].fail_errno, EIO);
	/* the status word was the notification: nothing to reap */
	T_ERRNO(cblk_aresult(id, &tag[0], &st, CBLK_ARESULT_NEXT_TAG), ENOENT);
	T_ERRNO(cblk_aresult(id, &tag[0], &st, 0), ENOMSG);
	T_ERRNO(cblk_aresult(fid, &tag[1], &st, CBLK_ARESULT_NEXT_TAG), ENOENT);
	T_EQ(truncate(g_file, 1 << 30), 0);
	T_EQ(cblk_close(fid, 0), 0);
	T_EQ(cblk_close(np, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

struct waiter {
	chunk_id_t id;
	uint8_t *buf;
	int rc, err, tag;
};

static void *wait_cmd_thread(void *arg)
{
	struct waiter *w = arg;

	w->rc = cblk_aread(w->id, w->buf, 100, 1, &w->tag, NULL, CBLK_ARW_WAIT_CMD_FLAGS);
	w->err = errno;
	return NULL;
}

static void no_free_cmds(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", 4, O_RDWR, oflags);
	uint8_t *b = bt_buf(8);
	struct waiter w = { .id = id, .buf = b + 7 * BLK, .rc = -2 };
	pthread_t th;
	chunk_stats_t s;
	int tags[5];
	uint64_t st;

	for (int i = 0; i < 4; i++)
		T_EQ(cblk_aread(id, b + (size_t)i * BLK, i, 1, &tags[i], NULL, 0), 0);
	T_ERRNO(cblk_aread(id, b + 4 * BLK, 4, 1, &tags[4], NULL, 0), EWOULDBLOCK);
	T_EQ(cblk_get_stats(id, &s, 0), 0);
	T_ASSERT(s.num_no_cmds_free >= 1);
	/* WAIT_CMD: blocks until a command is freed */
	T_EQ(pthread_create(&th, NULL, wait_cmd_thread, &w), 0);
	msleep(50);
	T_EQ(__atomic_load_n(&w.rc, __ATOMIC_ACQUIRE), -2);
	T_EQ(cblk_aresult(id, &tags[0], &st, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(pthread_join(th, NULL), 0);
	T_EQ(w.rc, 0);
	T_EQ(cblk_aresult(id, &w.tag, &st, CBLK_ARESULT_BLOCKING), 1);
	for (int i = 1; i < 4; i++)
		T_EQ(cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void nofree_thread(void) { no_free_cmds(0); }
static void nofree_polled(void) { no_free_cmds(CBLK_OPN_NO_INTRP_THREADS); }

/* NO_HARVEST only looks at completions already reaped from the HRRQ. */
static void no_harvest(void)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, CBLK_OPN_NO_INTRP_THREADS);
	uint8_t *b = bt_buf(1);
	uint64_t st;
	int tag;

	T_EQ(cblk_aread(id, b, 0, 1, &tag, NULL, 0), 0);
	msleep(20);   /* done at the AFU, not harvested */
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NO_HARVEST), 0);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_NO_HARVEST), 0);
	/* A harvest finds it (under TSan on a loaded machine the AFU may
	 * take longer than the 20 ms: poll, 10 s at most). */
	int rc = 0;
	for (int i = 0; i < 10000 && rc == 0; i++) {
		rc = cblk_aresult(id, &tag, &st, 0);
		if (rc == 0)
			msleep(1);
	}
	T_EQ(rc, 1);
	/* BLOCKING with NO_HARVEST still ends */
	T_EQ(cblk_aread(id, b, 0, 1, &tag, NULL, 0), 0);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NO_HARVEST | CBLK_ARESULT_BLOCKING), 1);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* A sync call harvests async completions but leaves them for aresult. */
static void sync_does_not_steal(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, oflags);
	uint8_t *a = bt_buf(1), *s = bt_buf(1);
	uint64_t st;
	int tag;

	t_pattern_fill(a, BLK, 8, 50);
	T_EQ(cblk_write(id, a, 50, 1, 0), 1);
	memset(a, 0, BLK);
	T_EQ(cblk_aread(id, a, 50, 1, &tag, NULL, 0), 0);
	msleep(5);
	for (int i = 0; i < 20; i++)
		T_EQ(cblk_write(id, s, 60 + i, 1, 0), 1);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NO_HARVEST), 1);
	T_EQ(t_pattern_check(a, BLK, 8, 50), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(a);
	free(s);
}

static void nosteal_thread(void) { sync_does_not_steal(0); }
static void nosteal_polled(void) { sync_does_not_steal(CBLK_OPN_NO_INTRP_THREADS); }

/* A request still queued when aresult BLOCKING starts waiting. */
static void blocking_wait(void)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, 0);
	uint8_t *b = bt_buf(1);
	uint64_t st;
	int tag;

	bt_pause(id);
	T_EQ(cblk_aread(id, b, 0, 1, &tag, NULL, 0), 0);
	T_EQ(cblk_aresult(id, &tag, &st, 0), 0);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG), 0);
	bt_resume(id);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	{
		chunk_stats_t s;

		T_EQ(cblk_get_stats(id, &s, 0), 0);
		T_ASSERT(s.num_aresult_no_cmplt >= 2);
	}
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/*
 * CBLK_ARW_DEFER_FLAG: requests that leave the doorbell to their wait
 * complete when reaped by tag, by NEXT_TAG, by polling without BLOCKING,
 * and when a synchronous call waits meanwhile.
 */
static void deferred(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", QD, O_RDWR, oflags);
	uint8_t *bufs = bt_buf(QD), *s = bt_buf(1);
	int tags[QD];
	uint64_t st;

	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < QD; i++) {
			t_pattern_fill(bufs + (size_t)i * BLK, BLK, round, (uint64_t)i);
			T_EQ(cblk_awrite(id, bufs + (size_t)i * BLK, i, 1, &tags[i], NULL,
					 CBLK_ARW_DEFER_FLAG), 0);
		}
		for (int i = 0; i < QD; i++) {
			int tag = -1;

			T_EQ(cblk_aresult(id, &tag, &st,
					  CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 1);
		}
		memset(bufs, 0, QD * BLK);
		for (int i = 0; i < QD; i++)
			T_EQ(cblk_aread(id, bufs + (size_t)i * BLK, i, 1, &tags[i], NULL,
					CBLK_ARW_DEFER_FLAG), 0);
		for (int i = QD - 1; i >= 0; i--) {
			T_EQ(cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING), 1);
			T_EQ(t_pattern_check(bufs + (size_t)i * BLK, BLK, round, (uint64_t)i), 0);
		}
	}
	/* A poll without BLOCKING starts it. */
	memset(bufs, 0, BLK);
	T_EQ(cblk_aread(id, bufs, 3, 1, &tags[0], NULL, CBLK_ARW_DEFER_FLAG), 0);
	for (int rc = 0, n = 0; rc == 0; n++) {
		rc = cblk_aresult(id, &tags[0], &st, 0);
		T_ASSERT(rc == 0 || rc == 1);
		T_ASSERT(n < 10000000);
	}
	T_EQ(t_pattern_check(bufs, BLK, 9, 3), 0);
	/* A synchronous call's wait starts it too. */
	memset(bufs, 0, BLK);
	T_EQ(cblk_aread(id, bufs, 5, 1, &tags[0], NULL, CBLK_ARW_DEFER_FLAG), 0);
	T_EQ(cblk_write(id, s, 100, 1, 0), 1);
	T_EQ(cblk_aresult(id, &tags[0], &st, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(t_pattern_check(bufs, BLK, 9, 5), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(bufs);
	free(s);
}

/* lone_state() - the chunk's streak, and whether a request waits for its wait */
static unsigned lone_state(chunk_id_t id, int *owed)
{
	unsigned streak;

	T_EQ(cblk_debug_lone(id, &streak, owed), 0);
	return streak;
}

/* One lone request (@lba) written, waited for after @late_ms, read back. */
static void lone_one(chunk_id_t id, uint8_t *b, unsigned lba, unsigned round, unsigned late_ms)
{
	int tag = -1;
	uint64_t st;

	t_pattern_fill(b, BLK, round, lba);
	T_EQ(cblk_awrite(id, b, lba, 1, &tag, NULL, 0), 0);
	if (late_ms)
		msleep(late_ms);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	memset(b, 0, BLK);
	T_EQ(cblk_aread(id, b, lba, 1, &tag, NULL, 0), 0);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 1);
	T_EQ(t_pattern_check(b, BLK, round, lba), 0);
}

/* Build a streak: the next lone request goes in without the doorbell. */
static void lone_streak(chunk_id_t id, uint8_t *b, unsigned round)
{
	int owed;

	/* One request at a time, so the streak ends right before the next
	 * one; a wait can come late by chance (the VM, the scheduler): go
	 * on until the streak is there. */
	for (unsigned i = 0; lone_state(id, &owed) < 8; i++) {
		int tag = -1;
		uint64_t st;

		T_ASSERT(i < 1000);
		t_pattern_fill(b, BLK, round, i % 64);
		T_EQ(cblk_awrite(id, b, i % 64, 1, &tag, NULL, 0), 0);
		T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	}
	T_EQ(owed, 0);
}

static void lone(const char *lun, int oflags)
{
	chunk_id_t id = bt_open(lun, QD, O_RDWR, oflags);
	uint8_t *b = bt_buf(2);
	int tag = -1, tag2 = -1, owed;
	uint64_t st;

	if (cblk_debug_sq_mode(id) != 1) {
		T_EQ(cblk_close(id, 0), 0);   /* IOARRIN mode: always the doorbell */
		free(b);
		return;
	}
	/* Waited for at once: left to the wait, which runs it. */
	lone_streak(id, b, 1);
	T_EQ(cblk_awrite(id, b, 100, 1, &tag, NULL, 0), 0);
	lone_state(id, &owed);
	T_EQ(owed, 1);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	lone_state(id, &owed);
	T_EQ(owed, 0);
	for (unsigned i = 0; i < 50; i++)
		lone_one(id, b, 200 + i, 2, 0);
	/* A late wait ends the streak; the request still completes. */
	T_EQ(cblk_awrite(id, b, 300, 1, &tag, NULL, 0), 0);
	msleep(2);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(lone_state(id, &owed), 0u);
	T_EQ(cblk_aread(id, b, 300, 1, &tag, NULL, 0), 0);
	lone_state(id, &owed);
	T_EQ(owed, 0);                   /* rings: no streak */
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	lone_one(id, b, 301, 3, 5);
	/* A poll runs it and ends the streak. */
	lone_streak(id, b, 4);
	t_pattern_fill(b, BLK, 5, 400);
	T_EQ(cblk_awrite(id, b, 400, 1, &tag, NULL, 0), 0);
	msleep(2);
	for (int rc = 0, n = 0; rc == 0; n++) {
		rc = cblk_aresult(id, &tag, &st, 0);
		T_ASSERT(rc == 0 || rc == 1);
		T_ASSERT(n < 10000000);
	}
	T_EQ(lone_state(id, &owed), 0u);
	/* A second request takes the pending one along (its doorbell). */
	lone_streak(id, b, 6);
	t_pattern_fill(b, BLK, 7, 500);
	t_pattern_fill(b + BLK, BLK, 7, 501);
	T_EQ(cblk_awrite(id, b, 500, 1, &tag, NULL, 0), 0);
	T_EQ(cblk_awrite(id, b + BLK, 501, 1, &tag2, NULL, 0), 0);
	lone_state(id, &owed);
	T_EQ(owed, 0);
	T_EQ(lone_state(id, &owed), 0u);
	T_EQ(cblk_aresult(id, &tag2, &st, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	memset(b, 0, 2 * BLK);
	T_EQ(cblk_read(id, b, 400, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 5, 400), 0);
	T_EQ(cblk_read(id, b, 500, 2, 0), 2);
	T_EQ(t_pattern_check(b, BLK, 7, 500), 0);
	T_EQ(t_pattern_check(b + BLK, BLK, 7, 501), 0);
	/* Left pending at close: the close does not hang. */
	lone_streak(id, b, 8);
	T_EQ(cblk_awrite(id, b, 600, 1, &tag, NULL, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* batch_state() - the chunk's batch streak, owed flag and skip count */
static unsigned batch_state(chunk_id_t id, int *owed, unsigned *skip)
{
	unsigned streak, sk;
	int ow;

	T_EQ(cblk_debug_batch(id, &streak, &ow, &sk), 0);
	if (owed)
		*owed = ow;
	if (skip)
		*skip = sk;
	return streak;
}

#define BATCH 16

/* Build the streak: the next batch goes in without the doorbell. */
static void batch_streak(chunk_id_t id, uint8_t *b, unsigned round)
{
	/* A device may complete a batch one request at a time (then its
	 * run hands the next ones back to the worker): not what this tests. */
	T_EQ(cblk_debug_batch_unskip(id), 0);
	/* A wait can come late by chance (the VM): go on until it is there. */
	for (unsigned i = 0; batch_state(id, NULL, NULL) < 8; i++) {
		T_ASSERT(i < 1000);
		bt_batch_write(id, b, BATCH, 1000, round);
		bt_batch_reap(id, BATCH);
	}
}

static void batches(const char *lun, int oflags, bool device)
{
	chunk_id_t id = bt_open(lun, QD, O_RDWR, oflags);
	uint8_t *b = bt_buf(BATCH + 1), *b2 = bt_buf(BATCH);
	unsigned skip;
	int owed, tag = -1, rc;
	uint64_t st;

	if (cblk_debug_sq_mode(id) != 1) {
		T_EQ(cblk_close(id, 0), 0);   /* IOARRIN mode: always the doorbell */
		free(b);
		free(b2);
		return;
	}
	/* A sanitizer's issue is slow: a prompt wait may come later (and a
	 * late one, below, comes 50 ms late). */
	T_EQ(cblk_debug_batch_gap(id, 200000), 0);
	/* Waited for at once: the batch is left to its wait, which runs it
	 * (the worker asleep: an awake one would take it along). */
	batch_streak(id, b, 1);
	msleep(20);
	bt_batch_write(id, b, BATCH, 0, 2);
	batch_state(id, &owed, &skip);
	T_EQ(owed, 1);
	T_EQ(skip, 0u);
	bt_batch_reap(id, BATCH);
	batch_state(id, &owed, &skip);
	T_EQ(owed, 0);
	bt_batch_check(id, b, BATCH, 0, 2);
	printf("  batch run on %s: %s\n", lun, skip ? "handed back" : "kept");
	if (!device) {
		/* Memory: the run did not wait, the next batches ring. */
		T_ASSERT(skip > 0);
		bt_batch_write(id, b, BATCH, 100, 3);
		batch_state(id, &owed, NULL);
		T_EQ(owed, 0);
		bt_batch_reap(id, BATCH);
		bt_batch_check(id, b, BATCH, 100, 3);
		T_EQ(cblk_close(id, 0), 0);
		free(b);
		free(b2);
		return;
	}
	bt_batch_rounds(id, b, BATCH, 20, 200, 4);
	/* A poll rings for what waits, ends the streak, and still completes. */
	batch_streak(id, b, 30);
	bt_batch_write(id, b, BATCH, 600, 31);
	rc = cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG);
	T_ASSERT(rc == 0 || rc == 1);
	T_EQ(batch_state(id, &owed, NULL), 0u);
	T_EQ(owed, 0);
	bt_batch_poll(id, BATCH, (unsigned)rc);
	bt_batch_check(id, b, BATCH, 600, 31);
	/* Owed after a blocking call that found a completion (no run): a
	 * poll rings for them. */
	batch_streak(id, b, 40);
	bt_batch_write(id, b, BATCH, 1000, 41);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 1);
	T_EQ(cblk_debug_batch_unskip(id), 0);    /* that run may have probed a trickle */
	for (unsigned i = 0; i < BATCH - 1; i++) {   /* as a loop refills */
		uint8_t *p = b2 + (size_t)i * BLK;

		t_pattern_fill(p, BLK, 42, 1100 + i);
		T_EQ(cblk_awrite(id, p, 1100 + i, 1, &tag, NULL, 0), 0);
	}
	batch_state(id, &owed, NULL);
	T_EQ(owed, 1);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 1);
	batch_state(id, &owed, NULL);
	T_EQ(owed, 1);                   /* it found a completion: nothing ran */
	rc = cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG);
	T_ASSERT(rc == 0 || rc == 1);
	batch_state(id, &owed, NULL);
	T_EQ(owed, 0);
	bt_batch_poll(id, 2 * BATCH - 1, (unsigned)rc + 2);
	bt_batch_check(id, b, BATCH, 1000, 41);
	memset(b2, 0, BATCH * BLK);
	T_EQ(cblk_read(id, b2, 1100, BATCH - 1, 0), BATCH - 1);
	for (unsigned i = 0; i < BATCH - 1; i++)
		T_EQ(t_pattern_check(b2 + (size_t)i * BLK, BLK, 42, 1100 + i), 0);
	/* A late wait ends the streak; the batch still completes. */
	batch_streak(id, b, 32);
	bt_batch_write(id, b, BATCH, 700, 33);
	msleep(50);
	bt_batch_reap(id, BATCH);
	T_EQ(batch_state(id, &owed, NULL), 0u);
	bt_batch_check(id, b, BATCH, 700, 33);
	/* A synchronous call's wait runs the batch along. */
	batch_streak(id, b, 34);
	bt_batch_write(id, b, BATCH, 800, 35);
	batch_state(id, &owed, NULL);
	T_EQ(owed, 1);
	T_EQ(cblk_read(id, b + BATCH * BLK, 0, 1, 0), 1);   /* not a buffer of the batch */
	bt_batch_reap(id, BATCH);
	bt_batch_check(id, b, BATCH, 800, 35);
	/* Left pending at close, the worker asleep: the close rings for it. */
	batch_streak(id, b, 36);
	bt_batch_write(id, b, BATCH, 900, 37);
	bt_batch_reap(id, BATCH);
	msleep(20);
	bt_batch_write(id, b, BATCH, 900, 38);
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_EQ(cblk_close(id, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	T_ASSERT(t1.tv_sec - t0.tv_sec < 2);
	id = bt_open(lun, QD, O_RDWR, oflags);
	bt_batch_check(id, b, BATCH, 900, 38);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
	free(b2);
}

static void batch_file(void) { batches(g_file, 0, true); }
static void batch_file_polled(void) { batches(g_file, CBLK_OPN_NO_INTRP_THREADS, true); }
static void batch_ram(void) { batches("ram:1G", 0, false); }

static void lone_ram(void) { lone("ram:1G", 0); }
static void lone_ram_polled(void) { lone("ram:1G", CBLK_OPN_NO_INTRP_THREADS); }
static void lone_file(void) { lone(g_file, 0); }

static void defer_thread(void) { deferred(0); }
static void defer_polled(void) { deferred(CBLK_OPN_NO_INTRP_THREADS); }

int main(void)
{
	g_file = bt_file("blk_async", 1ull << 30);
	T_RUN(qd_thread);
	T_RUN(qd_polled);
	T_RUN(tags_thread);
	T_RUN(tags_polled);
	T_RUN(utag_thread);
	T_RUN(utag_polled);
	T_RUN(user_status);
	T_RUN(nofree_thread);
	T_RUN(nofree_polled);
	T_RUN(no_harvest);
	T_RUN(nosteal_thread);
	T_RUN(nosteal_polled);
	T_RUN(blocking_wait);
	T_RUN(defer_thread);
	T_RUN(defer_polled);
	T_RUN(lone_ram);
	T_RUN(lone_ram_polled);
	T_RUN(lone_file);
	T_RUN(batch_file);
	T_RUN(batch_file_polled);
	T_RUN(batch_ram);
	unlink(g_file);
	return T_PASS;
}
