/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clients.c - several processes do verified I/O on their own vLUNs of one
 * LUN through cxlflashd at once; the plain physical path and the examples
 * work unchanged against it; what status shows adds up.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capiblock.h>

#include "../block/blk_test.h"
#include "t_daemon.h"
#include "t_tool.h"

#define NPROC   4
#define QD      16
#define VBLOCKS 4096        /* 16 MiB per vLUN: one 256 MiB chunk each */
#define ROUNDS  200

static struct t_daemon g_d;

/* One client: a vLUN, QD async writes then reads of a pattern, verified. */
static int client(int k)
{
	chunk_id_t id = cblk_open("lun0", QD, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	uint8_t *w = bt_buf(QD), *r = bt_buf(QD);
	uint64_t seed = 1000 + (uint64_t)k;
	size_t size = 0;

	if (id == NULL_CHUNK_ID || cblk_set_size(id, VBLOCKS, 0) || cblk_get_size(id, &size, 0) ||
	    size != VBLOCKS) {
		fprintf(stderr, "client %d: open/set_size: %s\n", k, strerror(errno));
		return 1;
	}
	for (int round = 0; round < ROUNDS; round++) {
		uint64_t lba0 = (t_rand(&seed) % (VBLOCKS / QD)) * QD;
		int tags[QD];
		uint64_t st;

		for (int i = 0; i < QD; i++) {
			t_pattern_fill(w + (size_t)i * BLK, BLK, (uint64_t)k << 32 | (uint64_t)round,
				       lba0 + (uint64_t)i);
			if (cblk_awrite(id, w + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1,
					&tags[i], NULL, 0))
				return 2;
		}
		for (int i = 0; i < QD; i++)
			if (cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING) != 1)
				return 3;
		for (int i = 0; i < QD; i++)
			if (cblk_aread(id, r + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1,
				       &tags[i], NULL, 0))
				return 4;
		for (int i = 0; i < QD; i++)
			if (cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING) != 1)
				return 5;
		if (t_pattern_check(r, (size_t)QD * BLK, (uint64_t)k << 32 | (uint64_t)round, lba0)) {
			fprintf(stderr, "client %d: round %d: data mismatch\n", k, round);
			return 6;
		}
	}
	free(w);
	free(r);
	return cblk_close(id, 0) ? 7 : 0;
}

static void parallel_vluns(void)
{
	pid_t pids[NPROC];
	char why[256];

	for (int k = 0; k < NPROC; k++) {
		pids[k] = fork();
		T_ASSERT(pids[k] >= 0);
		if (pids[k] == 0)
			_exit(client(k));
	}
	for (int k = 0; k < NPROC; k++) {
		int status;

		T_EQ(waitpid(pids[k], &status, 0), pids[k]);
		T_ASSERT(WIFEXITED(status));
		T_EQ(WEXITSTATUS(status), 0);
	}
	T_EQ(t_daemon_check("lun0", why, sizeof(why)), 0);
}

/* Physical access and the data path through the DMA area. */
static void physical(void)
{
	chunk_id_t id = bt_open("lun0", 64, O_RDWR, 0);
	uint8_t *w = bt_buf(8), *r = bt_buf(8);
	size_t size = 0;
	chunk_attrs_t attrs;

	T_EQ(cblk_get_lun_size(id, &size, 0), 0);
	T_EQ(size, (2ull << 30) / BLK);
	T_EQ(cblk_get_attrs(id, &attrs, 0), 0);
	T_ASSERT(attrs.max_transfer_size >= 8);
	t_pattern_fill(w, 8 * BLK, 77, 1000);
	T_EQ(cblk_write(id, w, 1000, 8, 0), 8);
	T_EQ(cblk_read(id, r, 1000, 8, 0), 8);
	T_EQ(t_pattern_check(r, 8 * BLK, 77, 1000), 0);
	/* Bounds as in-process. */
	T_ERRNO(cblk_read(id, r, (cflash_offset_t)size, 1, 0), EINVAL);
	T_EQ(cblk_close(id, 0), 0);
	free(w);
	free(r);
}

/* The status adds up: no contexts left, every chunk free. */
static void status_counts(void)
{
	static char out[65536];

	T_EQ(t_daemon_status(&g_d, out, sizeof(out)), 0);
	T_EQ(t_json_num(out, "contexts"), 0);
	T_EQ(t_json_num(out, "chunks"), 8);
	T_EQ(t_json_num(out, "chunks_free"), 8);
	T_EQ(t_json_num(out, "chunks_used"), 0);
	T_EQ(t_json_num(out, "users"), 0);
}

/* blockio and the example run unchanged against the daemon. */
static void unchanged_programs(void)
{
	static char out[4096];
	const char *bio[] = { t_tool_path("blockio"), "-d", "lun0", "-q", "16", "-s", "1", "-v", NULL };

	/* -v prints every command slower than 10 ms before the result line: on
	 * two busy vCPUs (client, its completion thread and the AFU spinning)
	 * there can be hundreds; the result line is the last. */
	T_EQ(t_run_argv(bio, NULL, T_RUN_TAIL, out, sizeof(out)), 0);
	const char *last = strstr(out, "r:");
	T_ASSERT(last);
	fprintf(stderr, "   blockio -d lun0 -q 16 -s 1 -v -> %s", last);
	T_ASSERT(t_key_value(out, "iops") > 0);
	T_EQ(t_key_value(out, "miss"), 0);
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:2G", "--allow", "lun0=all", NULL };

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_RUN(physical);
	T_RUN(parallel_vluns);
	T_RUN(unchanged_programs);
	T_RUN(status_counts);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
