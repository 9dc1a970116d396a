/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/crash_daemon: a durable store on a LUN that cxlflashd serves (a file,
 * physical access) survives SIGKILL of the daemon and of the writer at
 * random points, with and without a simulated power cut afterwards
 * (crash_loop.h). Rounds: CXLFLASH_KV_CRASH_ROUNDS (default 8, 3 at the TSan
 * build's CXLFLASH_TEST_SCALE; 100 under
 * CXLFLASH_SOAK).
 */
#include "crash_loop.h"
#include "t_daemon.h"

static struct t_daemon g_d;
static char g_lunspec[600], g_arg[640];

static void start_daemon(void)
{
	const char *args[] = { "--lun", g_arg, NULL };

	for (int tries = 0;; tries++) {
		if (t_daemon_start(&g_d, args) == 0)
			return;
		/* A killed daemon's LUN lock goes with its io_uring files, a moment later. */
		T_ASSERT(tries < 50);
		usleep(100000);
	}
}

int main(void)
{
	const char *env = getenv("CXLFLASH_KV_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : (getenv("CXLFLASH_SOAK") ? 100 : (int)t_scale(8, 3));
	uint64_t rnd = (uint64_t)time(NULL);
	int cuts = 0;

	crash_loop_init();
	const char *img = t_path("kv-crash-daemon.img");
	unlink(img);
	snprintf(g_lunspec, sizeof(g_lunspec), "fault:file:%s?size=256M", img);
	snprintf(g_arg, sizeof(g_arg), "lun0=%s", g_lunspec);
	start_daemon();
	in_child(create_store, "lun0", -1);
	for (int r = 0; r < rounds; r++) {
		pid_t pid = start_writer("lun0");
		struct timespec ts = { 0, (long)(50 + t_rand(&rnd) % 400) * 1000000L };
		nanosleep(&ts, NULL);
		/* The daemon dies first (its writes in flight are lost with it),
		 * then the writer, which would wait for a new daemon. */
		t_daemon_kill(&g_d);
		kill(pid, SIGKILL);
		reap_writer(pid, r);
		int how = r % 3;
		power_cut(g_lunspec, how, t_rand(&rnd));
		cuts += how != 0;
		start_daemon();
		in_child(verify, "lun0", r);
	}
	T_EQ(t_daemon_stop(&g_d), 0);
	fprintf(stderr, "%d rounds passed (cxlflashd and the writer killed; %d with a power cut)\n",
		rounds, cuts);
	unlink(img);
	return T_PASS;
}
