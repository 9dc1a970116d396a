/* SPDX-License-Identifier: Apache-2.0 */
/*
 * restart.c - cxlflashd killed (SIGKILL) and restarted under load.
 *
 * Policy (docs/daemon.md): a client with a physical LUN notices the master
 * is gone within BLK_LIVENESS_NS of its last completion, waits for the new
 * daemon, reattaches and resubmits every command that was in flight: none
 * fails, none is lost, and the data written before and across the restart
 * reads back. A virtual LUN does not survive a restart (its map lived in
 * the daemon): its commands fail with EIO and the chunk stays failed.
 * While the daemon is down the client says once that it went away and
 * once that it is back, however often it retries meanwhile. A write
 * nobody flushed before the restart does not fail the flush after it (a
 * file LUN has no cache in the daemon).
 *
 * The LUN file lives on tmpfs (/dev/shm) when there is one: the pause
 * asserted is the restart's, not the file system's. On ext4 under a loaded
 * machine, O_DIRECT writes (ours, and fio's io_uring ones to another file
 * in the same minute) stalled for up to 9 s, which is what made this test
 * see 2-13 s "restart pauses" (issue 16): the 16 writes sat in the kernel
 * (the daemon's io_uring had them submitted, none completed) while the
 * reattach itself had taken 10-30 ms.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <capiblock.h>

#include "../block/blk_test.h"
#include "t_daemon.h"

#define QD    16
#define SPAN  4096          /* blocks the load writes */

static struct t_daemon g_d;
static const char *g_file;
static char g_spec[4200];
static double g_max_gap = 2.0 * T_SLOW;   /* seconds the client may stall */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start_daemon(void)
{
	const char *args[] = { "--lun", g_spec, NULL };

	T_EQ(t_daemon_start(&g_d, args), 0);
}

/*
 * The client (a child process): rounds of QD async writes of a pattern and
 * their read-back, until told to stop by SIGUSR1. Prints the longest gap
 * between two completed rounds. Exit 0 when every command succeeded and
 * every block read back right.
 */
static volatile sig_atomic_t g_stop;

static void on_usr1(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int client_physical(void)
{
	chunk_id_t id = cblk_open("lun0", QD, O_RDWR, 0, 0);
	uint8_t *w = bt_buf(QD), *r = bt_buf(QD);
	uint64_t round = 0;
	double t0 = now_s(), last = t0, gap = 0;

	if (id == NULL_CHUNK_ID)
		return 2;
	signal(SIGUSR1, on_usr1);
	while (!g_stop) {
		uint64_t lba0 = (round * QD) % SPAN;
		int tags[QD];
		uint64_t st;

		for (int i = 0; i < QD; i++) {
			t_pattern_fill(w + (size_t)i * BLK, BLK, round, lba0 + (uint64_t)i);
			if (cblk_awrite(id, w + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1, &tags[i],
					NULL, 0))
				return 3;
		}
		for (int i = 0; i < QD; i++)
			if (cblk_aresult(id, &tags[i], &st, CBLK_ARESULT_BLOCKING) != 1) {
				fprintf(stderr, "client: write failed: %s\n", strerror(errno));
				return 4;
			}
		for (int i = 0; i < QD; i++)
			if (cblk_read(id, r + (size_t)i * BLK, (cflash_offset_t)(lba0 + i), 1, 0) != 1) {
				fprintf(stderr, "client: read failed: %s\n", strerror(errno));
				return 5;
			}
		if (t_pattern_check(r, (size_t)QD * BLK, round, lba0))
			return 6;
		round++;
		double t = now_s();

		if (t - last > 0.3)   /* where a stall was, to tell it from the restart */
			fprintf(stderr, "client: round %llu ended %.3f s after the one before, "
				"%.3f s into the run\n", (unsigned long long)round, t - last, t - t0);
		if (t - last > gap)
			gap = t - last;
		last = t;
	}
	fprintf(stderr, "client: %llu rounds, longest pause %.3f s\n", (unsigned long long)round,
		gap);
	/* Down 0.2 s, noticed within BLK_LIVENESS_NS: back well within 2 s
	 * even on a loaded machine under ASan. */
	if (gap > g_max_gap)
		return 8;
	return cblk_close(id, 0) ? 7 : 0;
}

static void physical_survives(void)
{
	pid_t pid = fork();
	int status;
	double t0;
	char why[256];

	T_ASSERT(pid >= 0);
	if (pid == 0)
		_exit(client_physical());
	usleep(300000);
	t_daemon_kill(&g_d);
	usleep(200000);
	t0 = now_s();
	start_daemon();
	fprintf(stderr, "daemon restarted in %.3f s\n", now_s() - t0);
	usleep(1500000); /* the client must be back within this */
	kill(pid, SIGUSR1);
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	T_EQ(t_daemon_check("lun0", why, sizeof(why)), 0);
}

/* Count the lines of file @path that contain @s. */
static int count_lines(const char *path, const char *s)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	T_ASSERT(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

/* Down 1.5 s: the client retries all along, and says so once (issue 15 saw 94 lines in 2 s). */
static void said_once(void)
{
	const char *log = t_path("daemon_restart_client.log");
	pid_t pid;
	int status;

	g_max_gap = 10.0 * T_SLOW;
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(9);
		_exit(client_physical());
	}
	usleep(300000);
	t_daemon_kill(&g_d);
	usleep(1500000);
	start_daemon();
	usleep(1500000);
	kill(pid, SIGUSR1);
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	g_max_gap = 2.0 * T_SLOW;
	T_EQ(count_lines(log, "went away; reconnecting"), 1);
	T_EQ(count_lines(log, "reconnected to the master serving lun0"), 1);
	unlink(log);
}

/* Data written before a restart is there after it (FLUSH at exit not needed:
 * the file backend writes through O_DIRECT). */
static void data_kept(void)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	uint8_t *b = bt_buf(1);

	t_pattern_fill(b, BLK, 4242, 9000);
	T_EQ(cblk_write(id, b, 9000, 1, 0), 1);
	T_EQ(cblk_close(id, 0), 0);
	t_daemon_kill(&g_d);
	start_daemon();
	id = bt_open("lun0", 4, O_RDWR, 0);
	memset(b, 0, BLK);
	T_EQ(cblk_read(id, b, 9000, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 4242, 9000), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/*
 * A write nobody flushed before the restart does not make the next flush
 * fail: the file backend has no cache in the daemon's process (the master
 * does not say DK_CXLFLASH_MASTER_CACHE), so the write is in the file and
 * the new daemon's flush covers it. Only an rbd LUN with librbd's
 * write-back cache fails that flush once (tests/rbd/failover).
 */
static void flush_after_restart(void)
{
	chunk_id_t id = bt_open("lun0", 4, O_RDWR, 0);
	uint8_t *b = bt_buf(1);

	t_pattern_fill(b, BLK, 777, 9100);
	T_EQ(cblk_write(id, b, 9100, 1, 0), 1);
	t_daemon_kill(&g_d);
	start_daemon();
	errno = 0;
	T_EQ(cblk_sync(id, 0), 0);
	memset(b, 0, BLK);
	T_EQ(cblk_read(id, b, 9100, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 777, 9100), 0);
	T_EQ(cblk_sync(id, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* A vLUN cannot come back: I/O fails with EIO, not a hang. */
static void virtual_fails(void)
{
	chunk_id_t id = bt_open_virt("lun0", 4, 0, 1024);
	uint8_t *b = bt_buf(1);
	double t0;

	T_EQ(cblk_write(id, b, 1, 1, 0), 1);
	t_daemon_kill(&g_d);
	start_daemon();
	t0 = now_s();
	errno = 0;
	T_EQ(cblk_read(id, b, 1, 1, 0), -1);
	T_EQ(errno, EIO);
	T_ASSERT(now_s() - t0 < 5);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

int main(void)
{
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	if (access("/dev/shm", W_OK) == 0) {
		static char shm[64];
		int fd;

		snprintf(shm, sizeof(shm), "/dev/shm/cxlflash_restart.%d", (int)getpid());
		fd = open(shm, O_RDWR | O_CREAT | O_TRUNC, 0600);
		T_ASSERT(fd >= 0);
		T_ASSERT(ftruncate(fd, 1ll << 30) == 0);
		close(fd);
		g_file = shm;
	} else {
		g_file = bt_file("daemon_restart.img", 1ull << 30);
	}
	snprintf(g_spec, sizeof(g_spec), "lun0=%s", g_file);
	start_daemon();
	T_RUN(data_kept);
	T_RUN(flush_after_restart);
	T_RUN(physical_survives);
	T_RUN(said_once);
	T_RUN(virtual_fails);
	T_EQ(t_daemon_stop(&g_d), 0);
	unlink(g_file);
	return T_PASS;
}
