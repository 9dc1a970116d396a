/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faults.c - the block library on a failing device (the fault wrapper's
 * injected errors, docs/fault.md): reads and writes of failing blocks give
 * -1 with EIO (the AFU's MEDIUM ERROR) and the chunk goes on serving the
 * others; a torn multi-block write fails with half of it written; async
 * requests in flight when the device starts failing complete with EIO,
 * none hangs, and I/O works again once it stops; a slow device (a delay)
 * only slows. Embedded with and without a completion thread, and through
 * cxlflashd with the faults switched from the test through a control file.
 */
#include "blk_test.h"
#include "t_daemon.h"

#include <errno.h>
#include <stdio.h>

static char g_ctl[4200];

static void set_faults(const char *text)
{
	t_set_faults(g_ctl, text);
}

/* Synchronous reads and writes of failing blocks, the rest untouched. */
static void sync_errors(chunk_id_t id)
{
	uint8_t *b = bt_buf(4);

	set_faults("fail-lba=100-103");
	errno = 0;
	T_EQ(cblk_read(id, b, 100, 1, 0), -1);
	T_EQ(errno, EIO);
	errno = 0;
	T_EQ(cblk_write(id, b, 98, 4, 0), -1);   /* touches 100 */
	T_EQ(errno, EIO);
	T_EQ(cblk_read(id, b, 104, 4, 0), 4);
	T_EQ(cblk_write(id, b, 96, 4, 0), 4);

	set_faults("fail-lba=100-103,fail-on=write");
	T_EQ(cblk_read(id, b, 100, 4, 0), 4);
	T_EQ(cblk_write(id, b, 103, 1, 0), -1);
	T_EQ(errno, EIO);

	/* A torn write: -1, its first half written. */
	t_pattern_fill(b, 4 * BLK, 1, 200);
	set_faults("none");
	T_EQ(cblk_write(id, b, 200, 4, 0), 4);
	set_faults("tear-nth=1");
	t_pattern_fill(b, 4 * BLK, 2, 200);
	T_EQ(cblk_write(id, b, 200, 4, 0), -1);
	T_EQ(errno, EIO);
	set_faults("none");
	T_EQ(cblk_read(id, b, 200, 4, 0), 4);
	T_EQ(t_pattern_check(b, 2 * BLK, 2, 200), 0);
	T_EQ(t_pattern_check(b + 2 * BLK, 2 * BLK, 1, 202), 0);
	free(b);
}

#define NASYNC 32

/* Async requests in flight when the device fails: every one completes. */
static void async_errors(chunk_id_t id)
{
	uint8_t *b = bt_buf(NASYNC);
	int tags[NASYNC], failed = 0, ok = 0;
	uint64_t st;

	/* A slow device, so the requests are still in flight when it fails. */
	set_faults("delay=2000");
	for (int i = 0; i < NASYNC; i++)
		T_EQ(cblk_aread(id, b + (size_t)i * BLK, 300 + i, 1, &tags[i], NULL,
				CBLK_ARW_WAIT_CMD_FLAGS), 0);
	set_faults("fail-lba=0-100000");
	for (int i = 0; i < NASYNC; i++) {
		int rc = cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING);

		if (rc == 1) {
			ok++;
		} else {
			T_EQ(rc, -1);
			T_EQ(errno, EIO);
			failed++;
		}
	}
	T_EQ(ok + failed, NASYNC);
	T_ASSERT(failed > 0);   /* 32 x 2 ms on one worker: most were still waiting */
	/* Working again. */
	set_faults("none");
	T_EQ(cblk_read(id, b, 300, NASYNC, 0), NASYNC);
	/* The chunk did not fail: its stats counted the errors. */
	chunk_stats_t stats;
	T_EQ(cblk_get_stats(id, &stats, 0), 0);
	T_ASSERT(stats.num_errors > 0);
	free(b);
}

static void run_all(const char *lun, int flags)
{
	chunk_id_t id = bt_open(lun, 64, O_RDWR, flags);

	sync_errors(id);
	async_errors(id);
	T_EQ(cblk_close(id, 0), 0);
}

static const char *fault_lun(char *buf, size_t len, const char *name)
{
	const char *file = bt_file(name, 64ull << 20);

	snprintf(g_ctl, sizeof(g_ctl), "%s.ctl", file);
	unlink(g_ctl);
	snprintf(buf, len, "fault[ctl=%s]:%s", g_ctl, file);
	return file;
}

static void embedded_thread(void)
{
	char lun[8600];
	const char *file = fault_lun(lun, sizeof(lun), "blk_faults_t");

	run_all(lun, 0);
	unlink(file);
	unlink(g_ctl);
}

static void embedded_polled(void)
{
	char lun[8600];
	const char *file = fault_lun(lun, sizeof(lun), "blk_faults_p");

	run_all(lun, CBLK_OPN_NO_INTRP_THREADS);
	unlink(file);
	unlink(g_ctl);
}

/* A virtual chunk: its blocks land wherever the chunk allocator put them,
 * so fail every block and check the errors and the recovery. */
static void virtual_chunk(void)
{
	char lun[8600];
	const char *file = fault_lun(lun, sizeof(lun), "blk_faults_v");
	chunk_id_t id;
	uint8_t *b = bt_buf(1);

	/* A vLUN needs room for its chunk (256 MiB). */
	T_EQ(truncate(file, 1ll << 30), 0);
	id = bt_open_virt(lun, 8, 0, 1024);
	T_EQ(cblk_write(id, b, 5, 1, 0), 1);
	set_faults("fail-lba=0-1000000000");
	T_EQ(cblk_read(id, b, 5, 1, 0), -1);
	T_EQ(errno, EIO);
	set_faults("none");
	T_EQ(cblk_read(id, b, 5, 1, 0), 1);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
	unlink(file);
	unlink(g_ctl);
}

/* Through cxlflashd: the daemon's AFU fails them; the client sees EIO. */
static void daemon_mode(void)
{
	struct t_daemon d;
	char lun[8600], lunarg[8700];
	const char *args[] = { "--lun", lunarg, "--allow", "lun0=all", NULL };
	const char *file;

	if (access(t_tool_path("cxlflashd"), X_OK)) {
		fprintf(stderr, "no cxlflashd: skipping the daemon case\n");
		return;
	}
	file = fault_lun(lun, sizeof(lun), "blk_faults_d");
	snprintf(lunarg, sizeof(lunarg), "lun0=%s", lun);
	T_EQ(t_daemon_start(&d, args), 0);
	run_all("lun0", 0);
	T_EQ(t_daemon_stop(&d), 0);
	setenv("CXLFLASH_SOCKET", "none", 1);
	unlink(file);
	unlink(g_ctl);
}

int main(void)
{
	setenv("CXLFLASH_SOCKET", "none", 1);
	T_RUN(embedded_thread);
	T_RUN(embedded_polled);
	T_RUN(virtual_chunk);
	T_RUN(daemon_mode);
	return T_PASS;
}
