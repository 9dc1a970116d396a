/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: chunk groups used from several threads at once: threads
 * write and read back their own regions through a round-robin group and a
 * RAID0 group, synchronously (multi-block) and asynchronously (each thread
 * waiting for its own tags), with and without the completion thread, while
 * another thread reads the merged statistics. Every block must read back
 * what its thread wrote, and the group statistics must add up.
 */
#include "t_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>

#include <capiblock.h>

#define BS       4096u
#define NTHREADS 4
#define REGION   512            /* blocks per thread */
#define ROUNDS   60
/* 64 commands per member: more than NTHREADS * 16 requests in flight, so
 * CBLK_ARW_WAIT_CMD_FLAGS never waits for a command another thread holds. */

struct worker {
	chunk_cg_id_t cg;
	int flags;                  /* CBLK_GROUP_ID or CBLK_GROUP_RAID0 */
	int idx;
	size_t mts;
	uint64_t ops;
};

static volatile bool stop_stats;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t base = (uint64_t)w->idx * REGION, rng = (uint64_t)w->idx + 1;
	size_t maxn = w->mts < 16 ? w->mts : 16;
	uint8_t *buf = aligned_alloc(BS, 16 * BS), *rd = aligned_alloc(BS, 16 * BS);

	T_ASSERT(buf && rd);
	if (w->flags & CBLK_GROUP_RAID0)
		maxn = 16; /* RAID0 splits any size */
	for (int r = 0; r < ROUNDS; r++) {
		size_t n = 1 + t_rand(&rng) % maxn;
		uint64_t lba = base + t_rand(&rng) % (REGION - n);
		uint64_t seed = (uint64_t)w->idx << 32 | (uint64_t)r;
		cflsh_cg_tag_t t[16];
		uint64_t st;

		/* synchronous write, then asynchronous one-block reads of it */
		t_pattern_fill(buf, n * BS, seed, lba);
		T_EQ(cblk_cg_write(w->cg, buf, (cflash_offset_t)lba, n, w->flags), (int)n);
		memset(rd, 0, n * BS);
		for (size_t i = 0; i < n; i++) {
			int rc = cblk_cg_aread(w->cg, rd + i * BS, (cflash_offset_t)(lba + i), 1,
					       &t[i], NULL, w->flags | CBLK_ARW_WAIT_CMD_FLAGS);

			T_ASSERT(rc >= 0);
			if (rc > 0)
				t[i].tag = -1;
		}
		for (size_t i = 0; i < n; i++)
			if (t[i].tag >= 0)
				T_EQ(cblk_cg_aresult(w->cg, &t[i], &st,
						     w->flags | CBLK_ARESULT_BLOCKING), 1);
		T_EQ(t_pattern_check(rd, n * BS, seed, lba), 0);
		/* asynchronous one-block writes, then a synchronous read */
		t_pattern_fill(buf, n * BS, seed + 7, lba);
		for (size_t i = 0; i < n; i++) {
			int rc = cblk_cg_awrite(w->cg, buf + i * BS, (cflash_offset_t)(lba + i), 1,
						&t[i], NULL, w->flags | CBLK_ARW_WAIT_CMD_FLAGS);

			T_ASSERT(rc >= 0);
			if (rc > 0)
				t[i].tag = -1;
		}
		for (size_t i = 0; i < n; i++)
			if (t[i].tag >= 0)
				T_EQ(cblk_cg_aresult(w->cg, &t[i], &st,
						     w->flags | CBLK_ARESULT_BLOCKING), 1);
		memset(rd, 0, n * BS);
		T_EQ(cblk_cg_read(w->cg, rd, (cflash_offset_t)lba, n, w->flags), (int)n);
		T_EQ(t_pattern_check(rd, n * BS, seed + 7, lba), 0);
		w->ops += 2 + 2 * n;
	}
	free(buf);
	free(rd);
	return NULL;
}

static void *stats_main(void *arg)
{
	struct worker *w = arg;
	chunk_stats_t s;
	chunk_attrs_t a;
	size_t n;

	while (!__atomic_load_n(&stop_stats, __ATOMIC_ACQUIRE)) {
		T_EQ(cblk_cg_get_stats(w->cg, &s, w->flags), 0);
		T_EQ(cblk_cg_get_attrs(w->cg, &a, w->flags), 0);
		T_EQ(cblk_cg_get_size(w->cg, &n, w->flags), 0);
		T_ASSERT(n >= NTHREADS * REGION);
	}
	return NULL;
}

static void run(const char *path, int open_flags, int gflags, int nchunks)
{
	chunk_cg_id_t cg = cblk_cg_open(path, 64, O_RDWR, nchunks, 0, open_flags | gflags);
	struct worker w[NTHREADS + 1];
	pthread_t th[NTHREADS + 1];
	chunk_attrs_t a;
	chunk_stats_t s;
	uint64_t ops = 0;

	T_ASSERT(cg != NULL_CHUNK_ID);
	if (open_flags & CBLK_OPN_VIRT_LUN)
		T_EQ(cblk_cg_set_size(cg, NTHREADS * REGION, gflags), 0);
	T_EQ(cblk_cg_get_attrs(cg, &a, gflags), 0);
	__atomic_store_n(&stop_stats, false, __ATOMIC_RELEASE);
	for (int i = 0; i <= NTHREADS; i++) {
		w[i] = (struct worker){ .cg = cg, .flags = gflags, .idx = i,
					.mts = a.max_transfer_size };
		T_EQ(pthread_create(&th[i], NULL, i < NTHREADS ? worker_main : stats_main, &w[i]),
		     0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		T_EQ(pthread_join(th[i], NULL), 0);
		ops += w[i].ops;
	}
	__atomic_store_n(&stop_stats, true, __ATOMIC_RELEASE);
	T_EQ(pthread_join(th[NTHREADS], NULL), 0);

	T_EQ(cblk_cg_get_stats(cg, &s, gflags), 0);
	T_EQ(s.num_act_reads + s.num_act_writes + s.num_act_areads + s.num_act_awrites, 0);
	T_ASSERT(s.num_reads + s.num_writes + s.num_areads + s.num_awrites >= ops);
	T_EQ(s.num_errors, 0);
	T_EQ(cblk_cg_close(cg, gflags), 0);
}

static void test_round_robin_polled(void)
{
	run("ram:256M", CBLK_OPN_NO_INTRP_THREADS, CBLK_GROUP_ID, 3);
}

static void test_round_robin_thread(void)
{
	run("ram:256M", 0, CBLK_GROUP_ID, 2);
}

static void test_raid0_polled(void)
{
	run("ram:64M:ram:32M:ram:48M", CBLK_OPN_NO_INTRP_THREADS, CBLK_GROUP_RAID0, 1);
}

static void test_raid0_virtual_thread(void)
{
	run("ram:512M:ram:256M", CBLK_OPN_VIRT_LUN, CBLK_GROUP_RAID0, 1);
}

int main(void)
{
	T_RUN(test_round_robin_polled);
	T_RUN(test_round_robin_thread);
	T_RUN(test_raid0_polled);
	T_RUN(test_raid0_virtual_thread);
	return T_PASS;
}
