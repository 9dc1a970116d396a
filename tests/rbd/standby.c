/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: standby LUNs (cxlflashd --standby NAME, LUN option
 * standby=yes): a running daemon takes an RBD image over when its holder
 * is gone, with no restart. Daemons on one host as sockets of their own
 * (a.sock, b.sock, c.sock), a one-node Ceph cluster (tk_test.h):
 *
 *   options   --standby on a LUN that is not rbd: refused at start, with
 *             the reason;
 *   waiting   while A serves the image, B (standby) is ready at once; its
 *             status lists the LUN as waiting, held by A (its pid); an
 *             open at B alone is ENOENT (a client with a socket list goes
 *             on to the next);
 *   killed    a client with CXLFLASH_SOCKET=a:b writes and flushes, keeps
 *             its chunk open; A is killed (SIGKILL); B, still running,
 *             takes the image (A was a process of this machine that has
 *             exited: at once), the chunk reattaches to B and reads back
 *             what was flushed;
 *   stop      a standby stops (SIGTERM) while it waits, promptly;
 *   paused    A' (standby) waits on B; B is paused (SIGSTOP): once B's
 *             watch expired (5 s in the test cluster) A' blocklists it and
 *             serves the image, with B's client's flushed data;
 *   handover  A' stopped cleanly (SIGTERM lets its lock go) while C waits:
 *             C serves the image at once, with the data.
 */
#include "tk_test.h"

static struct t_daemon g_c;

/* Start daemon @d named @name with the image as a standby LUN. */
static void start_standby(struct t_daemon *d, const char *name)
{
	const char *args[] = { "--lun", "lun0=" IMG, "--standby", "lun0", "--no-nbd", NULL };
	double t0 = now_s();

	T_EQ(t_daemon_start_as(d, name, 30, args), 0);
	fprintf(stderr, "   standby %s (pid %d) ready in %.2f s: %s\n", name, (int)d->pid,
		now_s() - t0, d->ready);
	T_ASSERT(strstr(d->ready, "luns=0 standby=1"));
}

/* Daemon @d's standby state of lun0 ("waiting", "served", ...), in @st. */
static void standby_state(struct t_daemon *d, char *st, size_t len)
{
	const char *p, *e;

	T_EQ(t_daemon_status(d, g_out, sizeof(g_out)), 0);
	p = strstr(g_out, "\"standby\":[{\"name\":\"lun0\",\"state\":\"");
	T_ASSERT(p);
	p += strlen("\"standby\":[{\"name\":\"lun0\",\"state\":\"");
	e = strchr(p, '"');
	T_ASSERT(e);
	snprintf(st, len, "%.*s", (int)(e - p), p);
}

/* Wait up to @max_s for @d to serve lun0; the seconds it took. */
static double wait_served(struct t_daemon *d, double max_s)
{
	double t0 = now_s();
	char st[32];

	for (;;) {
		standby_state(d, st, sizeof(st));
		if (!strcmp(st, "served"))
			break;
		T_ASSERT(strcmp(st, "stopped"));
		T_ASSERT(now_s() - t0 < max_s);
		usleep(200000);
	}
	/* Served: the LUN is in the status's LUN list too. */
	T_ASSERT(strstr(g_out, "\"wwid\":\""));
	return now_s() - t0;
}

static void options(void)
{
	const char *argv[] = { t_tool_path("cxlflashd"), "--socket", t_path("x.sock"),
			       "--no-nbd", "--lun", "r=ram:64M", "--standby", "r", NULL };
	int st = t_run_argv(argv, NULL, T_RUN_STDERR, g_out, sizeof(g_out));

	fprintf(stderr, "%s", g_out);
	T_ASSERT(st != 0);
	T_ASSERT(strstr(g_out, "standby is for rbd: LUNs"));
}

static void waiting(void)
{
	char st[32];
	chunk_id_t id;

	char pid[48];
	double t0;

	start_standby(&g_b, "b");
	standby_state(&g_b, st, sizeof(st));
	T_ASSERT(!strcmp(st, "waiting"));
	/* Who holds it, once the standby found out (its first look). */
	snprintf(pid, sizeof(pid), "cxlflashd pid %d ", (int)g_a.pid);
	for (t0 = now_s(); !strstr(g_out, "\"holder\":\"client "); usleep(100000)) {
		T_ASSERT(now_s() - t0 < 10);
		standby_state(&g_b, st, sizeof(st));
	}
	T_ASSERT(strstr(g_out, pid));
	{
		const char *args[] = { "status", "--socket", g_b.socket, NULL };

		T_EQ(t_run_tool(t_tool_path("cxlflash"), args, g_out, sizeof(g_out)), 0);
		T_ASSERT(strstr(g_out, "Standby LUNs"));
		T_ASSERT(strstr(g_out, "lun0       " IMG "  waiting: held by client "));
	}
	use_sockets(&g_b, NULL);
	errno = 0;
	id = cblk_open("lun0", 4, O_RDWR, 0, 0);
	T_EQ(id, NULL_CHUNK_ID);
	T_EQ(errno, ENOENT);
}

static void killed(void)
{
	uint8_t *b = bt_buf(8);
	chunk_id_t id;
	double t;

	use_sockets(&g_a, &g_b);
	write_blocks(1000, 8, 31, 0);
	id = bt_open("lun0", 4, O_RDWR, 0);
	t_pattern_fill(b, 8 * BLK, 32, 2000);
	T_EQ(cblk_write(id, b, 2000, 8, 0), 8);
	T_EQ(cblk_sync(id, 0), 0);
	t_daemon_kill(&g_a);
	t = wait_served(&g_b, 30);
	fprintf(stderr, "   B serves the image %.2f s after A was killed\n", t);
	T_ASSERT(t_daemon_alive(&g_b));
	/* The open chunk follows to B. */
	memset(b, 0, 8 * BLK);
	T_EQ(cblk_read(id, b, 2000, 8, 0), 8);
	T_EQ(t_pattern_check(b, 8 * BLK, 32, 2000), 0);
	T_EQ(cblk_close(id, 0), 0);
	use_sockets(&g_b, NULL);
	check_blocks(1000, 8, 31);
	free(b);
}

static void stop(void)
{
	double t0;

	start_standby(&g_c, "c");
	usleep(300000);
	t0 = now_s();
	T_EQ(t_daemon_stop(&g_c), 0);
	fprintf(stderr, "   a waiting standby stopped in %.2f s\n", now_s() - t0);
	T_ASSERT(now_s() - t0 < 5);
	T_ASSERT(t_daemon_alive(&g_b));
}

static void paused(void)
{
	char st[32];
	double t0, t;

	use_sockets(&g_b, NULL);
	write_blocks(3000, 8, 41, 0);
	start_standby(&g_a, "a");
	standby_state(&g_a, st, sizeof(st));
	T_ASSERT(!strcmp(st, "waiting"));
	T_EQ(kill(g_b.pid, SIGSTOP), 0);
	t0 = now_s();
	t = wait_served(&g_a, 60);
	fprintf(stderr, "   A serves the image %.2f s after B was paused\n", now_s() - t0);
	(void)t;
	use_sockets(&g_a, NULL);
	check_blocks(3000, 8, 41);
	check_blocks(1000, 8, 31);
	T_EQ(kill(g_b.pid, SIGCONT), 0);
	T_EQ(t_daemon_stop(&g_b), 0);
}

/* A' stopped cleanly (its lock let go) while C waits: C serves at once. */
static void handover(void)
{
	double t0, t;

	start_standby(&g_c, "c");
	t0 = now_s();
	T_EQ(t_daemon_stop(&g_a), 0);
	t = wait_served(&g_c, 20);
	fprintf(stderr, "   C serves the image %.2f s after A' was stopped (%.2f s waited)\n",
		now_s() - t0, t);
	use_sockets(&g_c, NULL);
	check_blocks(3000, 8, 41);
	T_EQ(t_daemon_stop(&g_c), 0);
}

int main(void)
{
	tk_setup();
	T_RUN(options);
	start(&g_a, "a", false);
	T_RUN(waiting);
	T_RUN(killed);
	T_RUN(stop);
	T_RUN(paused);
	T_RUN(handover);
	return T_PASS;
}
