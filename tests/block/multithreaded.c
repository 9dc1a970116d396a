/* SPDX-License-Identifier: Apache-2.0 */
/*
 * multithreaded.c - several threads hammer one chunk at once with verified
 * I/O: sync writes and reads, async requests with per-thread user tags
 * reaped by tag, async requests reaped by internal tag, and size and stats
 * queries in between; both completion models, physical and virtual.
 */
#include "blk_test.h"

#include <pthread.h>

#define THREADS 4
#define SPAN    512      /* blocks per thread */
#define ROUNDS  1000     /* per thread and case, t_scale()d */

static unsigned g_rounds;

struct worker {
	chunk_id_t id;
	int n;
	size_t max;
	int err;
	unsigned ios;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	uint64_t base = (uint64_t)w->n * SPAN, seed = 77 + (uint64_t)w->n, st;
	uint8_t *wb = bt_buf(8), *rb = bt_buf(8);
	size_t n = w->max < 4 ? w->max : 4;

	for (unsigned r = 0; r < g_rounds && !w->err; r++) {
		uint64_t lba = base + (t_rand(&seed) % (SPAN / 8)) * 8;
		int mode = (int)(r % 3), tag, utag = w->n * 100000 + (int)r;
		chunk_stats_t s;
		size_t sz;

		t_pattern_fill(wb, n * BLK, r + 1, lba);
		if (mode == 0) {
			if (cblk_write(w->id, wb, (cflash_offset_t)lba, n, 0) != (int)n)
				w->err = errno ? errno : -1;
		} else if (mode == 1) {
			if (cblk_awrite(w->id, wb, (cflash_offset_t)lba, n, &utag, NULL,
					CBLK_ARW_USER_TAG_FLAG | CBLK_ARW_WAIT_CMD_FLAGS) ||
			    cblk_aresult(w->id, &utag, &st,
					 CBLK_ARESULT_USER_TAG | CBLK_ARESULT_BLOCKING) != (int)n)
				w->err = errno ? errno : -2;
		} else {
			if (cblk_awrite(w->id, wb, (cflash_offset_t)lba, n, &tag, NULL,
					CBLK_ARW_WAIT_CMD_FLAGS) ||
			    cblk_aresult(w->id, &tag, &st, CBLK_ARESULT_BLOCKING) != (int)n)
				w->err = errno ? errno : -3;
		}
		if (w->err)
			break;
		memset(rb, 0, n * BLK);
		if (r & 1) {
			if (cblk_aread(w->id, rb, (cflash_offset_t)lba, n, &tag, NULL,
				       CBLK_ARW_WAIT_CMD_FLAGS) ||
			    cblk_aresult(w->id, &tag, &st, CBLK_ARESULT_BLOCKING) != (int)n)
				w->err = errno ? errno : -4;
		} else if (cblk_read(w->id, rb, (cflash_offset_t)lba, n, 0) != (int)n) {
			w->err = errno ? errno : -5;
		}
		if (!w->err && t_pattern_check(rb, n * BLK, r + 1, lba))
			w->err = -6;
		if (cblk_get_stats(w->id, &s, 0) || cblk_get_size(w->id, &sz, 0))
			w->err = -7;
		w->ios++;
	}
	free(wb);
	free(rb);
	return NULL;
}

static void hammer(chunk_id_t id, size_t max)
{
	struct worker w[THREADS];
	pthread_t th[THREADS];
	chunk_stats_t s;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .id = id, .n = i, .max = max };
		T_EQ(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		T_EQ(pthread_join(th[i], NULL), 0);
		if (w[i].err)
			fprintf(stderr, "thread %d failed: %d\n", i, w[i].err);
		T_EQ(w[i].err, 0);
		T_EQ(w[i].ios, g_rounds);
	}
	T_EQ(cblk_get_stats(id, &s, 0), 0);
	T_EQ(s.num_act_reads + s.num_act_writes + s.num_act_areads + s.num_act_awrites, 0);
	T_EQ(s.num_errors, 0);
	T_EQ(cblk_close(id, 0), 0);
}

static void phys_thread(void) { hammer(bt_open("ram:1G", 8, O_RDWR, 0), 4096); }
static void phys_polled(void)
{
	hammer(bt_open("ram:1G", 8, O_RDWR, CBLK_OPN_NO_INTRP_THREADS), 4096);
}
static void virt_thread(void) { hammer(bt_open_virt("ram:1G", 4, 0, THREADS * SPAN), 1); }
static void virt_polled(void)
{
	hammer(bt_open_virt("ram:1G", 4, CBLK_OPN_NO_INTRP_THREADS, THREADS * SPAN), 1);
}
static void file_thread(void)
{
	const char *p = bt_file("blk_mt", 1ull << 30);

	hammer(bt_open(p, 16, O_RDWR, 0), 4096);
	unlink(p);
}

int main(void)
{
	g_rounds = (unsigned)t_scale(ROUNDS, 50);
	T_RUN(phys_thread);
	T_RUN(phys_polled);
	T_RUN(virt_thread);
	T_RUN(virt_polled);
	T_RUN(file_thread);
	return T_PASS;
}
