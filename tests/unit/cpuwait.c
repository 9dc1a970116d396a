/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the verdict that stops spinning on oversubscribed CPUs
 * (util/cpuwait.h): busy from a 10 % run-queue wait share, calm again
 * below 5 %, no verdict on less than 2 ms of runnable time, stale and
 * backwards totals start over; a thread sharing one CPU with a busy thread
 * is found busy from its own schedstat; CXLFLASH_CPUWAIT=0 turns it off.
 * No timing is asserted: the pinned case only needs the two threads to
 * share the CPU at all.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "t_util.h"

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>

#include "util/clock.h"
#include "util/cpuwait.h"

#define MS 1000000ull

static void test_feed(void)
{
	struct cpuwait cw = { 0 };
	uint64_t t = 10 * MS, run = 100 * MS, wait = 0;

	T_ASSERT(!cpuwait_feed(&cw, t, run, wait));          /* the baseline */
	run += 10 * MS;
	t += 20 * MS;
	T_ASSERT(!cpuwait_feed(&cw, t, run, wait));          /* 0 % */
	T_EQ(cw.pct, 0);
	run += 5 * MS;
	wait += 5 * MS;
	t += 20 * MS;
	T_ASSERT(cpuwait_feed(&cw, t, run, wait));           /* 50 %: busy */
	T_EQ(cw.pct, 50);
	run += 1 * MS;                                       /* 1 ms: too little to judge */
	t += 20 * MS;
	T_ASSERT(cpuwait_feed(&cw, t, run, wait));
	run += 1800 * 1000;                                  /* with it 3 ms, 200 us of it waiting */
	wait += 200 * 1000;
	t += 20 * MS;
	T_ASSERT(cpuwait_feed(&cw, t, run, wait));           /* 6 %: still busy (hysteresis) */
	T_EQ(cw.pct, 6);
	run += 97 * MS;
	wait += 3 * MS;
	t += 20 * MS;
	T_ASSERT(!cpuwait_feed(&cw, t, run, wait));          /* 3 %: calm */
	run += 9 * MS;
	wait += 1 * MS;
	t += 20 * MS;
	T_ASSERT(cpuwait_feed(&cw, t, run, wait));           /* 10 %: busy again */
	T_EQ(cw.pct, 10);
	/* A stale interval starts over: a second later, 1 ms more is no verdict. */
	t += 2000 * MS;
	run += 1 * MS;
	T_ASSERT(cpuwait_feed(&cw, t, run, wait));
	T_EQ(cw.base_ns, t);
	/* Totals that went backwards (another thread's): a new baseline. */
	T_ASSERT(cpuwait_feed(&cw, t + MS, 5 * MS, 0));
	T_EQ(cw.run, 5 * MS);
}

static volatile bool hog_stop;

static void *hog(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&hog_stop, __ATOMIC_RELAXED))
		;
	return NULL;
}

/* Pin the calling thread to the first CPU it may use; false if it cannot. */
static bool pin_first_cpu(cpu_set_t *one)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	CPU_ZERO(one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set)) {
			CPU_SET(i, one);
			return sched_setaffinity(0, sizeof(*one), one) == 0;
		}
	return false;
}

static void test_shared_cpu(void)
{
	struct cpuwait cw = { 0 };
	pthread_attr_t attr;
	pthread_t t;
	cpu_set_t one;
	bool busy = false;
	uint64_t end;

	T_SKIP_IF(!pin_first_cpu(&one), "cannot pin to one CPU");
	T_EQ(pthread_attr_init(&attr), 0);
	T_EQ(pthread_attr_setaffinity_np(&attr, sizeof(one), &one), 0);
	T_EQ(pthread_create(&t, &attr, hog, NULL), 0);
	/* Spin beside the hog on one CPU until found busy (each look needs
	 * 2 ms of runnable time; 10 s is far more than any scheduler takes). */
	end = now_ns() + 10000 * MS;
	while (!busy && now_ns() < end) {
		busy = cpuwait_busy(&cw, now_ns());
		if (cw.off)
			break;
	}
	__atomic_store_n(&hog_stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	pthread_attr_destroy(&attr);
	T_SKIP_IF(cw.off, "no /proc/thread-self/schedstat here");
	fprintf(stderr, "busy beside a hog on one CPU: waited %u %% of the last interval\n",
		cw.pct);
	T_ASSERT(busy);
}

/* CXLFLASH_CPUWAIT=0 (read once per process: in a child) never says busy. */
static void test_off(void)
{
	pid_t pid = fork();
	int st;

	T_ASSERT(pid >= 0);
	if (pid == 0) {
		struct cpuwait cw = { 0 };

		setenv("CXLFLASH_CPUWAIT", "0", 1);
		_exit(cpuwait_busy(&cw, now_ns()) || !cw.off || cpuwait_thread_busy() ? 1 : 0);
	}
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	T_RUN(test_feed);
	T_RUN(test_off);
	T_RUN(test_shared_cpu);
	return T_PASS;
}
