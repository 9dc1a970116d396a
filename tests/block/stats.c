/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c - cblk_get_stats: the counters move as expected for sync and
 * async reads and writes, active counts return to 0 with high-water marks
 * kept, blocks are counted, failures and EWOULDBLOCK are counted, and the
 * fixed fields are right.
 */
#include "blk_test.h"

static void counters(int oflags)
{
	chunk_id_t id = bt_open("ram:1G", 16, O_RDWR, oflags);
	uint8_t *b = bt_buf(64);
	chunk_stats_t s;
	int tags[16], tag;
	uint64_t st;

	T_EQ(cblk_get_stats(id, &s, 0), 0);
	T_EQ(s.block_size, 4096);
	T_EQ(s.num_paths, 1);
	T_EQ(s.max_transfer_size, 4096);
	T_EQ(s.num_reads + s.num_writes + s.num_areads + s.num_awrites, 0);
	T_ERRNO(cblk_get_stats(id, NULL, 0), EINVAL);

	for (int i = 0; i < 5; i++)
		T_EQ(cblk_write(id, b, i * 8, 8, 0), 8);
	for (int i = 0; i < 3; i++)
		T_EQ(cblk_read(id, b, i * 4, 4, 0), 4);
	for (int i = 0; i < 16; i++)
		T_EQ(cblk_aread(id, b + (size_t)i * 4 * BLK, i, 2, &tags[i], NULL, 0), 0);
	T_ERRNO(cblk_aread(id, b, 0, 1, &tag, NULL, 0), EWOULDBLOCK);
	T_EQ(cblk_get_stats(id, &s, 0), 0);
	T_EQ(s.num_act_areads, 16);
	for (int i = 0; i < 16; i++)
		T_EQ(cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING), 2);
	for (int i = 0; i < 7; i++) {
		T_EQ(cblk_awrite(id, b, 100 + i, 1, &tag, NULL, 0), 0);
		T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 1);
	}
	T_ERRNO(cblk_read(id, b, 262144, 1, 0), EINVAL);   /* refused: not counted */

	T_EQ(cblk_get_stats(id, &s, 0), 0);
	T_EQ(s.num_writes, 5);
	T_EQ(s.num_reads, 3);
	T_EQ(s.num_areads, 16);
	T_EQ(s.num_awrites, 7);
	T_EQ(s.num_blocks_written, 5 * 8 + 7);
	T_EQ(s.num_blocks_read, 3 * 4 + 16 * 2);
	T_EQ(s.num_act_reads + s.num_act_writes + s.num_act_areads + s.num_act_awrites, 0);
	T_EQ(s.max_num_act_areads, 16);
	T_EQ(s.max_num_act_writes, 1);
	T_EQ(s.max_num_act_reads, 1);
	T_EQ(s.max_num_act_awrites, 1);
	T_EQ(s.num_errors, 0);
	T_ASSERT(s.num_no_cmds_free >= 1);
	T_EQ(s.num_active_threads, oflags ? 0 : 1);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void with_thread(void) { counters(0); }
static void polled(void) { counters(CBLK_OPN_NO_INTRP_THREADS); }

static void errors(void)
{
	const char *p = bt_file("blk_stats", 1ull << 30);
	chunk_id_t id = bt_open(p, 8, O_RDWR, 0);
	uint8_t *b = bt_buf(1);
	chunk_stats_t s;

	T_EQ(truncate(p, 1 << 20), 0);
	T_ERRNO(cblk_read(id, b, 5000, 1, 0), EIO);
	T_EQ(cblk_get_stats(id, &s, 0), 0);
	T_ASSERT(s.num_errors >= 1);
	T_ASSERT(s.num_cc_errors >= 1);
	T_EQ(cblk_close(id, 0), 0);
	unlink(p);
	free(b);
}

int main(void)
{
	T_RUN(with_thread);
	T_RUN(polled);
	T_RUN(errors);
	return T_PASS;
}
