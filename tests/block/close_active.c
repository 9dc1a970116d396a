/* SPDX-License-Identifier: Apache-2.0 */
/*
 * close_active.c - cblk_close with a command the AFU holds: EBUSY after
 * waiting about 5 s, the chunk still works; once the command completes the
 * close succeeds. Completed but unreaped requests do not block a close.
 */
#include "blk_afu.h"

#include <time.h>

static void busy_then_close(void)
{
	chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, 0);
	uint8_t *b = bt_buf(1);
	struct timespec t0, t1;
	uint64_t st;
	long ms;
	int tag;

	bt_pause(id);
	T_EQ(cblk_aread(id, b, 0, 1, &tag, NULL, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_ERRNO(cblk_close(id, 0), EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	T_ASSERT(ms >= 4500 && ms < 8000);
	bt_resume(id);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	T_EQ(cblk_read(id, b, 1, 1, 0), 1);           /* still open and usable */
	T_EQ(cblk_close(id, 0), 0);
	T_ERRNO(cblk_close(id, 0), EINVAL);
	free(b);
}

static void unreaped_is_fine(void)
{
	int models[2] = { 0, CBLK_OPN_NO_INTRP_THREADS };

	for (int m = 0; m < 2; m++) {
		chunk_id_t id = bt_open("ram:1G", 8, O_RDWR, models[m]);
		uint8_t *b = bt_buf(4);
		int tag;

		for (int i = 0; i < 4; i++)
			T_EQ(cblk_aread(id, b + (size_t)i * BLK, i, 1, &tag, NULL, 0), 0);
		T_EQ(cblk_close(id, 0), 0);   /* waits for them to complete, drops the results */
		free(b);
	}
}

int main(void)
{
	T_RUN(unreaped_is_fine);
	T_RUN(busy_then_close);
	return T_PASS;
}
