/* SPDX-License-Identifier: Apache-2.0 */
/*
 * batch.c - batches of async requests through cxlflashd on a file LUN
 * (src/block/async.c, "Batches"): once the client waits for each batch
 * right after issuing it and its waits are long (a device), the batch's
 * requests go in without the doorbell and its wait rings once; every block
 * reads back, a poll rings for what waits, a request that rings (a status
 * word's, a synchronous one) takes them along, and a close rings for what
 * is owed. With the completion thread and polled.
 */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <capiblock.h>

#include "../block/blk_test.h"
#include "block/block_debug.h"
#include "t_daemon.h"

#define QD    32
#define BATCH 16

static struct t_daemon g_d;

static int owed_now(chunk_id_t id)
{
	unsigned streak, skip;
	int owed;

	T_EQ(cblk_debug_batch(id, &streak, &owed, &skip), 0);
	return owed;
}

/* Batches until one goes in without the doorbell (the streak built and
 * the waits found a device); it is left owed. */
static void until_owed(chunk_id_t id, uint8_t *b, unsigned round)
{
	for (unsigned i = 0;; i++) {
		T_ASSERT(i < 2000);
		bt_batch_write(id, b, BATCH, 5000, round);
		if (owed_now(id))
			return;
		bt_batch_reap(id, BATCH);
	}
}

static void batches(int oflags)
{
	chunk_id_t id = bt_open("lun0", QD, O_RDWR, oflags);
	uint8_t *b = bt_buf(BATCH), *b1 = bt_buf(1);
	struct timespec t0, t1;
	int tag = -1, rc;
	uint64_t st;

	/* A sanitizer's issue is slow: a prompt wait may come later. */
	T_EQ(cblk_debug_batch_gap(id, 200000), 0);
	until_owed(id, b, 1);
	bt_batch_reap(id, BATCH);
	T_EQ(owed_now(id), 0);
	bt_batch_check(id, b, BATCH, 5000, 1);
	bt_batch_rounds(id, b, BATCH, 20, 100, 10);
	/* A poll rings for what waits. */
	until_owed(id, b, 2);
	rc = cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG);
	T_ASSERT(rc == 0 || rc == 1);
	T_EQ(owed_now(id), 0);
	bt_batch_poll(id, BATCH, (unsigned)rc);
	bt_batch_check(id, b, BATCH, 5000, 2);
	/* A request that rings (one with a status word) takes them along. */
	if (!(oflags & CBLK_OPN_NO_INTRP_THREADS)) {
		cblk_arw_status_t sw;

		until_owed(id, b, 4);
		T_EQ(cblk_aread(id, b1, 7000, 1, &tag, &sw, CBLK_ARW_USER_STATUS_FLAG), 0);
		T_EQ(owed_now(id), 0);
		bt_batch_reap(id, BATCH);
		for (unsigned n = 0; __atomic_load_n(&sw.status, __ATOMIC_ACQUIRE) ==
				     CBLK_ARW_STATUS_PENDING; n++)
			T_ASSERT(n < 100000000);
		T_EQ(sw.status, CBLK_ARW_STATUS_SUCCESS);
		bt_batch_check(id, b, BATCH, 5000, 4);
	}
	/* And a synchronous call. */
	until_owed(id, b, 5);
	T_EQ(cblk_read(id, b1, 7000, 1, 0), 1);
	bt_batch_reap(id, BATCH);
	bt_batch_check(id, b, BATCH, 5000, 5);
	/* Owed at close: the close rings for them. */
	until_owed(id, b, 3);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_EQ(cblk_close(id, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	T_ASSERT(t1.tv_sec - t0.tv_sec < 2);
	id = bt_open("lun0", QD, O_RDWR, oflags);
	bt_batch_check(id, b, BATCH, 5000, 3);   /* the close's doorbell ran them */
	T_EQ(cblk_close(id, 0), 0);
	free(b);
	free(b1);
}

static void with_thread(void) { batches(0); }
static void polled(void) { batches(CBLK_OPN_NO_INTRP_THREADS); }

int main(void)
{
	const char *file = bt_file("daemon_batch.img", 1ull << 30);
	char spec[512];
	const char *args[] = { "--lun", spec, "--allow", "lun0=all", NULL };

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	snprintf(spec, sizeof(spec), "lun0=%s", file);
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_RUN(with_thread);
	T_RUN(polled);
	T_EQ(t_daemon_stop(&g_d), 0);
	unlink(file);
	return T_PASS;
}
