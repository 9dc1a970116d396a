/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpu_hog.c - I/O on oversubscribed CPUs: the process and a busy thread
 * share one CPU, so every thread of ours finds its CPU busy (util/cpuwait.h):
 * the AFU worker sleeps instead of spinning, and a waiter of an embedded
 * chunk runs the worker's passes itself (run_busy_locked in thread.c).
 * Each LUN (RAM, file) is written and read back whole-pattern, at QD 1 and
 * QD 8, asynchronously (polling and with the completion thread) and
 * synchronously; every block must hold what was written. Counts, not
 * durations: IOPS are printed, never asserted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "blk_test.h"

#include <pthread.h>
#include <sched.h>

#include "util/clock.h"
#include "util/cpuwait.h"

#define NBLK 1024u      /* blocks written and read per pass */

static volatile bool hog_stop;

static void *hog(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&hog_stop, __ATOMIC_RELAXED))
		;
	return NULL;
}

static void stamp(uint8_t *b, uint64_t lba, unsigned round)
{
	for (unsigned i = 0; i < BLK / 8; i++)
		((uint64_t *)b)[i] = lba * 1000003u + round * 7919u + i;
}

static bool stamped(const uint8_t *b, uint64_t lba, unsigned round)
{
	for (unsigned i = 0; i < BLK / 8; i++)
		if (((const uint64_t *)b)[i] != lba * 1000003u + round * 7919u + i)
			return false;
	return true;
}

/* Write NBLK blocks then read them back, @qd at a time, asynchronously. */
static void async_pass(chunk_id_t id, unsigned qd, unsigned round, const char *what)
{
	uint8_t *bufs = bt_buf(qd);
	uint64_t *lba_of = calloc(qd, sizeof(*lba_of)), t0 = now_ns(), st;
	int *slot_of_tag = calloc(qd, sizeof(*slot_of_tag));
	unsigned free_n = qd, *free_slot = calloc(qd, sizeof(*free_slot));

	T_ASSERT(lba_of && slot_of_tag && free_slot);
	for (unsigned i = 0; i < qd; i++)
		free_slot[i] = i;
	for (int write = 1; write >= 0; write--) {
		unsigned issued = 0, done = 0;

		while (done < NBLK) {
			while (issued < NBLK && free_n) {
				unsigned s = free_slot[--free_n];
				uint8_t *b = bufs + (size_t)s * BLK;
				int tag = -1;

				lba_of[s] = issued;
				if (write)
					stamp(b, issued, round);
				T_EQ(write ? cblk_awrite(id, b, (cflash_offset_t)issued, 1, &tag, NULL, 0)
					   : cblk_aread(id, b, (cflash_offset_t)issued, 1, &tag, NULL, 0), 0);
				T_ASSERT(tag >= 0 && (unsigned)tag < qd);
				slot_of_tag[tag] = (int)s;
				issued++;
			}
			int tag = -1;

			T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING),
			     1);
			T_ASSERT(tag >= 0 && (unsigned)tag < qd);
			unsigned s = (unsigned)slot_of_tag[tag];

			if (!write && !stamped(bufs + (size_t)s * BLK, lba_of[s], round)) {
				fprintf(stderr, "%s: block %llu does not hold what was written\n", what,
					(unsigned long long)lba_of[s]);
				exit(T_FAIL);
			}
			free_slot[free_n++] = s;
			done++;
		}
	}
	printf("%-34s QD%-2u %7.0f IOPS (write + read back)\n", what, qd,
	       2.0 * NBLK / ((double)(now_ns() - t0) / 1e9));
	free(bufs);
	free(lba_of);
	free(slot_of_tag);
	free(free_slot);
}

static void sync_pass(chunk_id_t id, unsigned round, const char *what)
{
	uint8_t *b = bt_buf(1);
	uint64_t t0 = now_ns();

	for (uint64_t l = 0; l < NBLK; l++) {
		stamp(b, l, round);
		T_EQ(cblk_write(id, b, (cflash_offset_t)l, 1, 0), 1);
	}
	for (uint64_t l = 0; l < NBLK; l++) {
		memset(b, 0, BLK);
		T_EQ(cblk_read(id, b, (cflash_offset_t)l, 1, 0), 1);
		if (!stamped(b, l, round)) {
			fprintf(stderr, "%s: block %llu does not hold what was written\n", what,
				(unsigned long long)l);
			exit(T_FAIL);
		}
	}
	printf("%-34s QD1  %7.0f IOPS (write + read back)\n", what,
	       2.0 * NBLK / ((double)(now_ns() - t0) / 1e9));
	free(b);
}

static void lun(const char *path, const char *name)
{
	static unsigned round;
	char what[64];

	for (int thread = 0; thread < 2; thread++) {
		chunk_id_t id = bt_open(path, 8, O_RDWR, thread ? 0 : CBLK_OPN_NO_INTRP_THREADS);

		for (unsigned qd = 1; qd <= 8; qd *= 8) {
			snprintf(what, sizeof(what), "%s async%s", name,
				 thread ? " (completion thread)" : "");
			async_pass(id, qd, ++round, what);
		}
		snprintf(what, sizeof(what), "%s sync%s", name, thread ? " (completion thread)" : "");
		sync_pass(id, ++round, what);
		T_EQ(cblk_close(id, 0), 0);
	}
}

int main(void)
{
	cpu_set_t set, one;
	pthread_t t;
	uint64_t end;
	bool busy = false;

	T_ASSERT(sched_getaffinity(0, sizeof(set), &set) == 0);
	CPU_ZERO(&one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set)) {
			CPU_SET(i, &one);
			break;
		}
	/* Before any thread of the library starts: they inherit it. */
	T_SKIP_IF(sched_setaffinity(0, sizeof(one), &one) != 0, "cannot pin to one CPU");
	T_EQ(pthread_create(&t, NULL, hog, NULL), 0);
	end = now_ns() + 10000000000ull;
	while (!busy && now_ns() < end)
		busy = cpuwait_thread_busy();
	printf("this thread %s its CPU busy beside the hog\n", busy ? "finds" : "does not find");
	T_EQ(cblk_init(NULL, 0), 0);
	lun("ram:64M", "ram");
	lun(bt_file("cpu_hog.img", 64ull << 20), "file");
	cblk_term(NULL, 0);
	__atomic_store_n(&hog_stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	unlink(t_path("cpu_hog.img"));
	return T_PASS;
}
