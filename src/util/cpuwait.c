/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpuwait.c - whether spinning pays: the thread's run-queue wait share
 * (see cpuwait.h).
 */
#include "util/cpuwait.h"
#include "util/clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An interval this old without CPUWAIT_MIN_NS of runnable time starts over:
 * a thread that mostly sleeps is judged on recent numbers, not old ones. */
#define CPUWAIT_STALE_NS 1000000000ull

bool cpuwait_feed(struct cpuwait *cw, uint64_t now, uint64_t run_ns, uint64_t wait_ns)
{
	uint64_t dr, dw;

	/* First look, a stale interval, or totals that went backwards (a
	 * forked child's thread has its own): a new baseline. */
	if (!cw->started || run_ns < cw->run || wait_ns < cw->wait ||
	    now - cw->base_ns > CPUWAIT_STALE_NS) {
		cw->run = run_ns;
		cw->wait = wait_ns;
		cw->base_ns = now;
		cw->started = true;
		return cw->busy;
	}
	dr = run_ns - cw->run;
	dw = wait_ns - cw->wait;
	if (dr + dw < CPUWAIT_MIN_NS)
		return cw->busy;
	cw->pct = (unsigned)(dw * 100 / (dr + dw));
	if (cw->busy ? cw->pct < CPUWAIT_CALM_PCT : cw->pct >= CPUWAIT_BUSY_PCT)
		cw->busy = !cw->busy;
	cw->run = run_ns;
	cw->wait = wait_ns;
	cw->base_ns = now;
	return cw->busy;
}

/* The calling thread's time on a CPU and waiting for one, in ns. */
static bool read_schedstat(uint64_t *run_ns, uint64_t *wait_ns)
{
	char buf[96];
	unsigned long long run, wait;
	ssize_t n;
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return false;
	*run_ns = run;
	*wait_ns = wait;
	return true;
}

/* CXLFLASH_CPUWAIT=0 turns the verdict off (read once per process). */
static bool cpuwait_enabled(void)
{
	static int enabled = -1;
	int e = __atomic_load_n(&enabled, __ATOMIC_RELAXED);

	if (e < 0) {
		const char *s = getenv("CXLFLASH_CPUWAIT");

		e = !(s && !strcmp(s, "0"));
		__atomic_store_n(&enabled, e, __ATOMIC_RELAXED);
	}
	return e;
}

bool cpuwait_busy(struct cpuwait *cw, uint64_t now)
{
	uint64_t run, wait;

	if (cw->off)
		return false;
	if (now < cw->next_ns)
		return cw->busy;
	cw->next_ns = now + CPUWAIT_PERIOD_NS;
	if (!cpuwait_enabled() || !read_schedstat(&run, &wait)) {
		cw->off = true;
		cw->busy = false;
		return false;
	}
	return cpuwait_feed(cw, now, run, wait);
}

bool cpuwait_thread_busy(void)
{
	static __thread struct cpuwait cw;

	return cpuwait_busy(&cw, now_ns());
}
