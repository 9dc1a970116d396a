/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpuwait.h - does spinning pay on this thread's CPUs right now?
 *
 * A thread that spins waiting for another thread (an AFU worker for the
 * next command, a block library waiter for its completion) wins a few
 * microseconds when both have a CPU of their own. When the CPUs are
 * oversubscribed (another busy program, more of our threads than cores)
 * the spinner holds a CPU the other thread needs, a peer that is runnable
 * but not running is never woken (it is not asleep), and each hand-off
 * waits for the scheduler's time slice: IOPS fell from 170 K to 13 K
 * (blockio on a RAM LUN, QD 1) on 2 vCPUs shared with other programs.
 *
 * The sign is the kernel's run-queue wait of the thread itself (the second
 * field of /proc/thread-self/schedstat): the share of its runnable time it
 * spent waiting for a CPU. It is read at most once per CPUWAIT_PERIOD_NS
 * (open, read, close: a few microseconds), over at least CPUWAIT_MIN_NS of
 * runnable time; at CPUWAIT_BUSY_PCT or more the CPUs count as busy and
 * callers sleep instead of spinning, until the share falls below
 * CPUWAIT_CALM_PCT. Without schedstat (or with CXLFLASH_CPUWAIT=0) the
 * CPUs never count as busy: spinning is decided as before.
 */
#ifndef CXLFLASH_UTIL_CPUWAIT_H
#define CXLFLASH_UTIL_CPUWAIT_H

#include <stdbool.h>
#include <stdint.h>

#define CPUWAIT_PERIOD_NS 20000000ull  /* look at most every 20 ms */
#define CPUWAIT_MIN_NS    2000000ull   /* a verdict needs 2 ms of runnable time */
#define CPUWAIT_BUSY_PCT  10u          /* waiting this share of runnable time: busy */
#define CPUWAIT_CALM_PCT  5u           /* ... and below this again: calm */

struct cpuwait {
	uint64_t next_ns;   /* when to look again */
	uint64_t run, wait; /* the thread's totals where the current interval began */
	uint64_t base_ns;   /* when it began */
	unsigned pct;       /* the last interval's wait share */
	bool started;       /* run/wait hold a baseline */
	bool busy;          /* the verdict */
	bool off;           /* no schedstat, or turned off: never busy */
};

/*
 * cpuwait_feed() - account the thread's totals @run_ns (on a CPU) and
 * @wait_ns (runnable, waiting for one) at @now and update the verdict,
 * once the interval since the baseline holds CPUWAIT_MIN_NS of runnable
 * time (an interval older than a second without that much starts over).
 * Pure (tests feed it numbers). Return: the verdict, busy or not.
 */
bool cpuwait_feed(struct cpuwait *cw, uint64_t now, uint64_t run_ns, uint64_t wait_ns);

/*
 * cpuwait_busy() - whether the CPUs of the thread that owns @cw (zeroed at
 * first) are oversubscribed: its schedstat is read when @now (now_ns())
 * has reached the next look. Only that thread may call it.
 */
bool cpuwait_busy(struct cpuwait *cw, uint64_t now);

/* cpuwait_thread_busy() - the same for the calling thread, with a
 * thread-local struct cpuwait (any thread, no setup). */
bool cpuwait_thread_busy(void);

#endif /* CXLFLASH_UTIL_CPUWAIT_H */
