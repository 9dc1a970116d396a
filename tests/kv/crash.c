/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/crash: a durable store in the writer's own process survives SIGKILL
 * of its writer at random points, and a simulated power cut that drops
 * every write since the last flush (or a random subset of them): see
 * crash_loop.h. Rounds: CXLFLASH_KV_CRASH_ROUNDS (default 30, scaled by
 * CXLFLASH_TEST_SCALE: 7 in the TSan build; 300 under
 * CXLFLASH_SOAK, as `make soak` runs it).
 */
#include "crash_loop.h"

int main(void)
{
	const char *env = getenv("CXLFLASH_KV_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : (getenv("CXLFLASH_SOAK") ? 300 : (int)t_scale(30, 6));
	char spec[600];
	uint64_t rnd = (uint64_t)time(NULL);
	int cuts = 0, random_cuts = 0;

	crash_loop_init();
	const char *img = t_path("kv-crash.img");
	unlink(img);
	/* 64 MiB for about 30 MiB of live data: the cleaner and checkpoints
	 * run between the kills too. */
	snprintf(spec, sizeof(spec), "fault:file:%s?size=64M", img);
	/* Every process of its own: the embedded master keeps a LUN it opened
	 * for the life of its process. */
	in_child(create_store, spec, -1);
	for (int r = 0; r < rounds; r++) {
		pid_t pid = start_writer(spec);
		struct timespec ts = { 0, (long)(20 + t_rand(&rnd) % 400) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		reap_writer(pid, r);
		int how = r % 3;   /* kill only, power cut (all), power cut (random) */
		power_cut(spec, how, t_rand(&rnd));
		cuts += how != 0;
		random_cuts += how == 2;
		in_child(verify, spec, r);
	}
	fprintf(stderr, "%d rounds passed (%d with a power cut, %d of them random)\n", rounds, cuts,
		random_cuts);
	unlink(img);
	return T_PASS;
}
