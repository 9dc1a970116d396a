/* SPDX-License-Identifier: Apache-2.0 */
/*
 * idle_conns.c - many idle control connections cost cxlflashd no thread
 * each and do not keep a fresh client from being served (issue 12, part
 * 2): N connections (2,000; CXLFLASH_SOAK=1: 10,000; CXLFLASH_IDLE_CONNS
 * overrides) are opened and left idle, RLIMIT_NOFILE raised for this
 * process and the daemon; then the daemon's thread count (from /proc) is
 * compared with before, a fresh client opens a LUN, attaches and does
 * verified I/O on a vLUN, the oldest and newest idle connections still
 * answer a request, and status counts them all. The numbers (threads,
 * descriptors, the fresh client's open + attach time) are printed, not
 * asserted; the thread count is, against a bound far below N.
 */
#include <sys/resource.h>

#include <cxlflash/cxlflash_ioctl.h>

#include "d_test.h"
#include "server/wire.h"

#define THREAD_BOUND 64   /* the daemon's threads, whatever N */

static struct t_daemon g_d;

static long threads_of(pid_t pid)
{
	char path[64], line[256];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* An OPEN on an idle connection is answered. */
static int open_on(int sock)
{
	struct wire_msg h = { .op = WIRE_OP_OPEN, .request = O_RDWR };
	int rc = wire_call(sock, &h, "lun0", 4, NULL, 0, NULL);

	return rc ? rc : h.status;
}

static void idle(void)
{
	unsigned long n = d_iters("CXLFLASH_IDLE_CONNS", 2000, 10000);
	int *socks = calloc(n, sizeof(int));
	struct d_shared *sh = d_shared_new();
	long before = threads_of(g_d.pid), after, peak = 0;
	uint64_t t0, t_open, t_attach;
	struct dk_cxlflash_attach a = { 0 };
	const char *st;
	pid_t pid;
	int fd1;

	T_ASSERT(socks);
	t0 = d_now_us();
	for (unsigned long i = 0; i < n; i++) {
		socks[i] = wire_connect(g_d.socket);
		if (socks[i] < 0) {
			fprintf(stderr, "connection %lu: %s\n", i, strerror(-socks[i]));
			T_ASSERT(socks[i] >= 0);
		}
		if (i % 500 == 0) {
			long t = threads_of(g_d.pid);

			peak = t > peak ? t : peak;
		}
	}
	/* Every one accepted (status counts them: root's line). */
	for (int i = 0; i < 1000; i++) {
		st = d_status(&g_d);
		if (t_json_num(strstr(st, "{\"uid\":0,"), "connections") >= (long long)n + 1)
			break;
		d_sleep_us(10000);
	}
	T_EQ(t_json_num(strstr(st, "{\"uid\":0,"), "connections"), (long long)n + 1);
	after = threads_of(g_d.pid);
	peak = after > peak ? after : peak;
	fprintf(stderr, "%lu idle connections opened in %llu ms; daemon threads: %ld before, "
		"%ld after (peak seen %ld); daemon descriptors: %d\n", n,
		(unsigned long long)(d_now_us() - t0) / 1000, before, after, peak,
		t_daemon_fds(&g_d));
	T_ASSERT(after > 0 && after <= THREAD_BOUND);
	T_ASSERT(peak <= THREAD_BOUND);
	/* A fresh client is served: open, attach, then verified I/O. */
	t0 = d_now_us();
	fd1 = cxlflash_open("lun0", O_RDWR);
	T_ASSERT(fd1 >= 0);
	t_open = d_now_us() - t0;
	a.hdr.flags = O_RDWR;
	T_EQ(cxlflash_ioctl(fd1, DK_CXLFLASH_ATTACH, &a), 0);
	t_attach = d_now_us() - t0 - t_open;
	fprintf(stderr, "fresh client beside %lu idle connections: open %llu us, attach %llu us\n",
		n, (unsigned long long)t_open, (unsigned long long)t_attach);
	T_EQ(close(fd1), 0);
	pid = d_spawn_client("lun0", 0, 256, sh, 500);
	T_EQ(d_wait(pid), 0);
	T_EQ(sh->c[0].ops, 500);
	/* The first and the last idle connection still answer. */
	T_EQ(open_on(socks[0]), 0);
	T_EQ(open_on(socks[n - 1]), 0);
	t0 = d_now_us();
	for (unsigned long i = 0; i < n; i++)
		close(socks[i]);
	for (int i = 0; i < 1000; i++) {
		st = d_status(&g_d);
		if (t_json_num(strstr(st, "{\"uid\":0,"), "connections") == 1)
			break;
		d_sleep_us(10000);
	}
	T_EQ(t_json_num(strstr(st, "{\"uid\":0,"), "connections"), 1);
	fprintf(stderr, "all %lu closed and seen closed in %llu ms; daemon threads %ld\n", n,
		(unsigned long long)(d_now_us() - t0) / 1000, threads_of(g_d.pid));
	free(socks);
	d_check("lun0");
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:1G", NULL };
	unsigned long n = d_iters("CXLFLASH_IDLE_CONNS", 2000, 10000);
	struct rlimit rl;

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	/* Room for N connections here and in the daemon (it inherits it). */
	T_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < n + 512) {
		rl.rlim_cur = n + 512;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		T_SKIP_IF(setrlimit(RLIMIT_NOFILE, &rl) != 0, "cannot raise RLIMIT_NOFILE");
	}
	T_EQ(d_start(&g_d, args), 0);
	T_RUN(idle);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
