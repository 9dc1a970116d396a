/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: one owner per RBD image, with two cxlflashd on one host as
 * two sockets (a.sock, b.sock) on the same image of a one-node Ceph
 * cluster (tk_test.h):
 *
 *   refused   while A holds the image, B configured with it does not start
 *             and its message names A (pid, socket);
 *   waits     B with --takeover waits for A, which stays alive (its watch
 *             outlives the 5 s timeout), and gives up after --takeover-wait
 *             (6 s); SIGTERM stops it while it waits;
 *   handover  A stopped cleanly, B started: B reads what A's client wrote,
 *             and both gave the LUN the same WWID.
 *
 * failover.c has the takeovers of a killed and of a paused owner.
 */
#include "tk_test.h"

/* A holds the image: B refuses it, naming A, and does not start. */
static void refused(void)
{
	char pid[32];
	const char *argv[] = { t_tool_path("cxlflashd"), "--socket", t_path("b.sock"),
			       "--no-nbd", "--lun", "lun0=" IMG, NULL };
	int st = t_run_argv(argv, NULL, T_RUN_STDERR, g_out, sizeof(g_out));

	fprintf(stderr, "%s", g_out);
	T_ASSERT(st != 0);
	snprintf(pid, sizeof(pid), "cxlflashd pid %d ", (int)g_a.pid);
	T_ASSERT(strstr(g_out, "held by client"));
	T_ASSERT(strstr(g_out, pid));
	T_ASSERT(strstr(g_out, g_a.socket));
	T_ASSERT(strstr(g_out, "--takeover"));
}

/*
 * B with --takeover while A is alive: it waits for A (whose watch stays)
 * and gives up after --takeover-wait; SIGTERM stops it while it waits.
 */
static void waits(void)
{
	const char *argv[] = { t_tool_path("cxlflashd"), "--socket", t_path("b.sock"),
			       "--no-nbd", "--lun", "lun0=" IMG, "--takeover",
			       "--takeover-wait", "6", NULL };
	double t0 = now_s();
	int st = t_run_argv(argv, NULL, T_RUN_STDERR, g_out, sizeof(g_out));
	pid_t pid;
	int status;

	fprintf(stderr, "%s   gave up after %.2f s\n", g_out, now_s() - t0);
	T_ASSERT(st != 0);
	/* Longer than the cluster's 5 s watch timeout: a live holder's
	 * watch is kept alive by its pings, so it is never judged gone. */
	T_ASSERT(strstr(g_out, "which is alive; waiting up to 6 s"));
	T_ASSERT(strstr(g_out, "not taken over"));
	T_ASSERT(access(t_path("b.sock"), F_OK) != 0);   /* it never listened */

	argv[8] = "30";
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	usleep(500000);
	t0 = now_s();
	T_EQ(kill(pid, SIGTERM), 0);
	T_EQ(waitpid(pid, &status, 0), pid);
	fprintf(stderr, "   stopped %.2f s after SIGTERM while waiting\n", now_s() - t0);
	T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	T_ASSERT(t_daemon_alive(&g_a));
}

/* A stops cleanly (its lock released), B starts: same data, same WWID. */
static void handover(void)
{
	char wa[33], wb[33];

	use_sockets(&g_a, NULL);
	write_blocks(10000, 8, 11, 0);
	wwid_of(&g_a, wa);
	T_EQ(t_daemon_stop(&g_a), 0);
	start(&g_b, "b", false);
	wwid_of(&g_b, wb);
	fprintf(stderr, "   WWID from a: %s, from b: %s\n", wa, wb);
	T_ASSERT(!strcmp(wa, wb));
	use_sockets(&g_b, NULL);
	check_blocks(10000, 8, 11);
}

int main(void)
{
	tk_setup();
	start(&g_a, "a", false);
	T_RUN(refused);
	T_RUN(waits);
	T_RUN(handover);
	T_EQ(t_daemon_stop(&g_b), 0);
	return T_PASS;
}
