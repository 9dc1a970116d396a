/* SPDX-License-Identifier: Apache-2.0 */
/*
 * thread.c - how completions are noticed: the per-chunk completion thread
 * (the default) and the waiting primitive every blocking call uses.
 *
 * Completion thread: with nothing in flight it sleeps on a condition
 * variable (kicked by the first submission). With commands in flight it
 * harvests the HRRQ; when the HRRQ is empty it spins on the next entry for
 * spin_us (CFLSH_BLK_SPIN_US, default 20), then sleeps on the window's
 * host_wake futex: it raises host_waiting, reads host_wake, re-checks the
 * HRRQ and the window, and only then FUTEX_WAITs. The AFU bumps host_wake
 * after posting completions (at most a few passes late) and wakes the futex
 * when host_waiting is set, so no wake-up is lost and an idle process burns
 * no CPU. A caller that must wait for a command in flight (a sync request,
 * a blocking aresult or listio) does what it would do without a thread: it
 * harvests what is already posted itself, spins on the HRRQ and sleeps on
 * host_wake, and harvests again. Meanwhile and for THREAD_STANDBY_NS after
 * (nwaiters, last_wait_ns) the thread stands aside: three threads spinning
 * on two CPUs (caller, thread, AFU) had cost half the IOPS and a 0.5 ms
 * p99.
 * The thread is what completes requests nobody is waiting in the library
 * for (user status words, commands to be reaped later); while a caller
 * waits, that caller's harvests complete them.
 *
 * CBLK_OPN_NO_INTRP_THREADS: there is no thread. A caller that must wait
 * harvests itself, then spins and sleeps on host_wake the same way (every
 * sleeper is woken, and one of them harvests for the others).
 *
 * Sleeps are capped at BLK_SLEEP_CAP_NS while commands are in flight, so a
 * missed wake-up could only ever cost that much.
 *
 * The spin adapts (spin_budget): a moving score counts how many recent
 * spins ended with their completion rather than in a sleep, and while fewer
 * than half did, a wait sleeps at once: the spin would mostly end in a
 * sleep anyway and burn a CPU for nothing (a disk behind the file backend
 * answers in tens of microseconds, RAM in about one). One wait in
 * WAIT_PROBE_EVERY still spins, so the score recovers when completions get
 * fast again. Only spins are scored: how long a sleep lasted says little,
 * since it includes the wake-up. And no wait spins while the waiting
 * thread itself waits for a CPU (util/cpuwait.h): on oversubscribed CPUs
 * a spinner takes the CPU from the AFU thread it waits for.
 */
#include "afu/afu.h"
#include "block/block_internal.h"
#include "util/clock.h"
#include "util/cpuwait.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void ns_to_ts(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

static uint64_t ts_to_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

uint64_t blk_now_ns(void)
{
	return now_ns();
}

/* blk_deadline_us() - CLOCK_MONOTONIC now + @us, for blk_wait_locked(). */
void blk_deadline_us(struct timespec *ts, uint64_t us)
{
	ns_to_ts(now_ns() + us * 1000ull, ts);
}

void blk_deadline(struct timespec *ts, uint64_t ms)
{
	blk_deadline_us(ts, ms * 1000ull);
}

bool blk_deadline_passed(const struct timespec *ts)
{
	return now_ns() >= ts_to_ns(ts);
}

#define WAIT_PROBE_EVERY 16u
#define BUSY_RUN_SKIP 256u            /* waits without inline runs after one met a device */
#define DEFER_SKIP 256u               /* deferred requests that ring after a run met a device */
#define LONE_SKIP 4096u               /* lone requests that ring after a run met memory (async.c) */
#define THREAD_STANDBY_NS 500000ull   /* the thread stands aside this long after a caller waited */
#define BATCH_SPREAD 3u               /* a batch's run waiting more often: completions trickle */
#define BATCH_SKIP 4096u              /* async requests that ring after such a run (async.c) */
#define BATCH_PROBE_EVERY 16u         /* batch runs, one of which waits per completion */
#define SLOW_WAIT_NS 20000ull         /* a wait longer than this was a device's (slow_learn) */

/* spin_budget() - how long the next wait of @c spins before sleeping, in ns. */
static uint64_t spin_budget(struct chunk *c)
{
	if (cpuwait_thread_busy())
		return 0;
	if (__atomic_load_n(&c->spin_score, __ATOMIC_RELAXED) >= SPIN_SCORE_ONE / 2)
		return (uint64_t)c->spin_us * 1000ull;
	if (__atomic_add_fetch(&c->spin_skips, 1, __ATOMIC_RELAXED) % WAIT_PROBE_EVERY == 0)
		return (uint64_t)c->spin_us * 1000ull;
	return 0;
}

/* A score of SPIN_SCORE_ONE moved an eighth of the way towards all (@hit)
 * or nothing: how often lately, for spin_learn and slow_learn. */
static uint32_t score_step(uint32_t s, bool hit)
{
	return hit ? s + (SPIN_SCORE_ONE - s) / 8 : s - s / 8;
}

/* spin_learn() - a spin ended with what it waited for (@hit) or in a sleep.
 * Racing updates may lose one; the score is only a hint. */
static void spin_learn(struct chunk *c, bool hit)
{
	uint32_t s = __atomic_load_n(&c->spin_score, __ATOMIC_RELAXED);

	__atomic_store_n(&c->spin_score, score_step(s, hit), __ATOMIC_RELAXED);
}

/* slow_learn() - a wait that found completions took over SLOW_WAIT_NS
 * (@slow: a device's) or not (memory). Through cxlflashd, where the chunk
 * cannot ask its backend, this says whether a batch's doorbell may wait
 * for the batch's wait (async.c, "Batches"). Lock held. */
static void slow_learn(struct chunk *c, bool slow)
{
	c->slow_score = score_step(c->slow_score, slow);
}

/* Is there something at the HRRQ entry @peek (or does it read all ones)? */
static bool hrrq_ready(const uint64_t *peek, uint64_t toggle)
{
	uint64_t e = __atomic_load_n(peek, __ATOMIC_ACQUIRE);

	return e == SISL_ALL_ONES || (e & SISL_RESP_HANDLE_T_BIT) == toggle;
}

/*
 * poll_then_sleep() - without the chunk lock: spin on the HRRQ entry
 * @peek (expected toggle @toggle) for @spin_ns, then sleep on @map's
 * host_wake futex until the AFU posts something, the window dies, or @max_ns
 * pass. @map stays mapped until the chunk closes, even if recovery replaces
 * it meanwhile; @peek points into the chunk's HRRQ memory, never freed
 * before close. Both are only hints: the caller re-checks under the lock.
 * Return: whether the spin saw it (no sleep).
 */
static bool poll_then_sleep(struct sisl_host_map *map, const uint64_t *peek, uint64_t toggle,
			    uint64_t spin_ns, uint64_t max_ns)
{
	uint64_t start = now_ns();
	struct timespec ts;
	uint32_t v;

	for (unsigned i = 0; spin_ns; i++) {
		if (hrrq_ready(peek, toggle) || blk_window_dead(map))
			return true;
		if ((i & 31) == 31 && now_ns() - start >= spin_ns)
			break;
		/* Once in a while let an AFU thread waiting for this CPU run
		 * (more runnable threads than cores); not often: under load
		 * from other processes each yield may cost a time slice. */
		if ((i & 1023) == 1023)
			sched_yield();
		else
			sisl_cpu_relax();
	}
	/* Our half of the Dekker pairing with the AFU's host_wake bump. */
	__atomic_fetch_add(&map->host_waiting, 1, __ATOMIC_SEQ_CST);
	v = __atomic_load_n(&map->host_wake, __ATOMIC_SEQ_CST);
	if (!hrrq_ready(peek, toggle) && !blk_window_dead(map)) {
		int saved_errno = errno;   /* ETIMEDOUT, EAGAIN, EINTR: all fine */

		ns_to_ts(max_ns, &ts);
		/* Not FUTEX_PRIVATE: the AFU wakes through its own mapping. */
		syscall(SYS_futex, &map->host_wake, FUTEX_WAIT, v, &ts, NULL, 0);
		errno = saved_errno;
	}
	__atomic_fetch_sub(&map->host_waiting, 1, __ATOMIC_SEQ_CST);
	return false;
}

/* Release the lock, poll and sleep for completions, take the lock again. */
static void sleep_for_completions_locked(struct chunk *c, uint64_t max_ns)
{
	const uint64_t *peek = c->hrrq.curr;
	uint64_t toggle = c->hrrq.toggle;
	struct sisl_host_map *map = c->map;
	uint64_t spin_ns = spin_budget(c);
	bool hit;

	pthread_mutex_unlock(&c->lock);
	hit = poll_then_sleep(map, peek, toggle, spin_ns, max_ns);
	if (spin_ns)
		spin_learn(c, hit);
	pthread_mutex_lock(&c->lock);
}

static void *completion_thread(void *arg)
{
	struct chunk *c = arg;
	uint64_t now;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		if (c->ninflight == 0) {
			c->thread_idle = true;
			pthread_cond_wait(&c->cv_thread, &c->lock);
			c->thread_idle = false;
			continue;
		}
		now = now_ns();
		if (c->nwaiters || now - c->last_wait_ns < THREAD_STANDBY_NS) {
			/* Callers in blk_wait_locked() harvest for everyone,
			 * now or a moment ago; spinning beside them would only
			 * take a CPU from them or the AFU. Look again later
			 * (nobody signals this: a signal per wait would cost
			 * more than it saves). */
			struct timespec ts;

			ns_to_ts((c->nwaiters ? now : c->last_wait_ns) + THREAD_STANDBY_NS, &ts);
			pthread_cond_timedwait(&c->cv_thread, &c->lock, &ts);
			continue;
		}
		if (blk_harvest_locked(c) > 0 || c->ninflight == 0)
			continue;
		sleep_for_completions_locked(c, BLK_SLEEP_CAP_NS);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* blk_thread_start() - start the chunk's completion thread. Return 0 or -errno. */
int blk_thread_start(struct chunk *c)
{
	int rc;

	c->stop = false;
	rc = pthread_create(&c->thread, NULL, completion_thread, c);
	if (rc) {
		c->stats.num_failed_threads++;
		return -rc;
	}
	pthread_setname_np(c->thread, "cblk-cmpl");
	c->thread_running = true;
	c->stats.num_success_threads++;
	c->stats.num_active_threads = 1;
	c->stats.max_num_act_threads = 1;
	return 0;
}

/* blk_thread_stop() - stop and join the completion thread (lock not held). */
void blk_thread_stop(struct chunk *c)
{
	if (!c->thread_running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cv_thread);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	c->thread_running = false;
	c->stats.num_active_threads = 0;
}

/* blk_thread_kick_locked() - a command went in flight: wake an idle thread. */
void blk_thread_kick_locked(struct chunk *c)
{
	if (c->thread_idle)
		pthread_cond_signal(&c->cv_thread);
}

/*
 * blk_wait_locked() - wait for progress on the chunk. The caller holds the
 * lock, and re-checks whatever it waits for after each return.
 * @c: the chunk
 * @cv: the condition a completion of interest signals (a command's bucket,
 *      cv_any or cv_free)
 * @deadline: CLOCK_MONOTONIC time to give up at, or NULL
 *
 * The caller harvests, and if that found nothing, polls and sleeps on
 * host_wake, with or without a completion thread (which stands aside
 * meanwhile). With nothing in flight (e.g. waiting for another thread to
 * free a command) it waits on @cv.
 * Return: 0, or -ETIMEDOUT once @deadline has passed.
 */
/*
 * blk_run_owed_locked() - a synchronous caller's command, or an async one
 * issued with CBLK_ARW_DEFER_FLAG, went in without the doorbell
 * (blk_submit_locked): run the sleeping AFU worker's passes on this
 * thread, which completes it, or, when the worker is awake or another
 * thread runs them, ring the doorbell after all. The chunk lock is let go
 * meanwhile (other threads of the chunk submit and harvest as usual).
 * @each: the run waits for each completion, not for all in one enter
 * (afu_run_inline).
 * Return: whether it ran them; *@waited (if given): whether the run waited
 * for backend I/O (a device).
 */
bool blk_run_owed_locked(struct chunk *c, bool *waited, bool each)
{
	struct afu_runner *r = c->runner;
	unsigned waits = afu_inline_waits();
	bool ran;

	if (!r) {                /* through cxlflashd: only the doorbell */
		blk_ring_owed_locked(c, true);
		if (waited)
			*waited = false;
		return false;
	}
	blk_owed_clear_locked(c);
	pthread_mutex_unlock(&c->lock);
	ran = afu_run_inline(r, each);
	pthread_mutex_lock(&c->lock);
	if (waited)
		*waited = false;
	if (!ran) {
		sisl_ring_doorbell(c->map);
	} else if (afu_inline_waits() != waits) {
		c->defer_skip = DEFER_SKIP;
		if (waited)
			*waited = true;
	}
	return ran;
}

/* blk_ring_owed_locked() - what went in without the doorbell is the AFU
 * worker's after all: ring it; @kick: and have the completion thread (not
 * kicked for such commands) harvest it, for a caller that will not wait. */
void blk_ring_owed_locked(struct chunk *c, bool kick)
{
	blk_owed_clear_locked(c);
	sisl_ring_doorbell(c->map);
	if (kick)
		blk_thread_kick_locked(c);
}

/*
 * blk_defer_skip_locked() - whether a CBLK_ARW_DEFER_FLAG request should
 * ring the doorbell after all. An async caller's run of the AFU's work
 * pays when the backend is memory; a device makes the run wait for its I/O
 * (and for everything else queued, a writer's flush included) on the
 * caller's thread, while the AFU thread would have overlapped it with the
 * caller's own work. So once a run met a device (afu_inline_waits()), the
 * next DEFER_SKIP such requests ring at once, the one after tries again.
 */
bool blk_defer_skip_locked(struct chunk *c)
{
	if (!c->defer_skip)
		return false;
	c->defer_skip--;
	return true;
}

/*
 * blk_async_run_wanted() - may an async command of @c go in without the
 * doorbell, for its caller to run the passes right after
 * (blk_run_async_locked)? Only where the backend finishes requests on its
 * own threads (rbd: librbd's), so a run only hands them over and returns:
 * the caller does what fio's rbd engine does (submits to librbd itself)
 * and no AFU worker wakes up. A device would make the run wait for its I/O
 * (the caller could not queue more meanwhile); memory completes within the
 * run and is left to the worker as before. The first run finds out which.
 */
bool blk_async_run_wanted(const struct chunk *c)
{
	return c->runner && c->sq_mode && c->async_run >= 0;
}

/* blk_run_async_locked() - run the passes for the async command(s) that
 * went in without the doorbell, and learn from the first run. */
void blk_run_async_locked(struct chunk *c)
{
	unsigned lent = afu_inline_lent();
	bool waited;

	if (!blk_run_owed_locked(c, &waited, false))
		return;              /* the worker was awake: rung, learn next time */
	if (waited)
		c->async_run = -1;   /* it waited for a device */
	else if (!c->async_run)
		c->async_run = afu_inline_lent() != lent ? 1 : -1;
}

/*
 * run_busy_locked() - on oversubscribed CPUs (util/cpuwait.h), a waiter of
 * an embedded chunk runs the AFU worker's passes itself (afu_run_inline)
 * rather than sleep until the worker thread gets a CPU: every hand-off
 * between two threads then waits for the scheduler. It runs them only if
 * the worker is not in a pass (it was rung and may be on its way). Not for
 * a device: an inline run waits for all it submitted before it returns,
 * so a queue would drain before the caller refills it. A run that had to
 * wait for backend I/O turns this off for the next BUSY_RUN_SKIP waits of
 * the chunk; nor on a LUN whose backend completes on its own threads
 * (async_run). The chunk lock is let go meanwhile.
 * Return: whether it ran them and completions were found.
 */
static bool run_busy_locked(struct chunk *c)
{
	/* Read under the lock: a recovery on another thread may change it
	 * (blk_adopt_window). Workers live as long as the AFU. */
	struct afu_runner *r = c->runner;
	unsigned waits;
	bool ran;

	/* rbd (async_run): the completions come from librbd's thread, a run
	 * would find nothing to do. */
	if (!r || c->async_run > 0 || !cpuwait_thread_busy())
		return false;
	if (c->busy_run_skip) {
		c->busy_run_skip--;
		return false;
	}
	waits = afu_inline_waits();
	pthread_mutex_unlock(&c->lock);
	ran = afu_run_inline(r, false);
	pthread_mutex_lock(&c->lock);
	if (afu_inline_waits() != waits)
		c->busy_run_skip = BUSY_RUN_SKIP;
	return ran && blk_harvest_locked(c) > 0;
}

int blk_wait_locked(struct chunk *c, pthread_cond_t *cv, const struct timespec *deadline)
{
	uint64_t cap = BLK_SLEEP_CAP_NS, now;
	struct timespec ts;

	if (c->ring_owed && !c->runner) {
		/* Through cxlflashd: the batch's doorbell, then wait. */
		blk_ring_owed_locked(c, false);
	} else if (c->ring_owed) {
		bool lone = c->lone_owed, batch = c->batch_owed, waited;
		/* A batch's run waits for all of it in one enter, but one in
		 * BATCH_PROBE_EVERY (the first included) for each completion,
		 * to see whether they come together. */
		bool probe = batch && c->batch_runs++ % BATCH_PROBE_EVERY == 0;
		unsigned waits = afu_inline_waits();

		/* The lock was let go: what the caller waits for (or the
		 * completion thread's harvest of it) may have happened. */
		if (blk_run_owed_locked(c, &waited, probe)) {
			if (lone && !waited)
				c->lone_skip = LONE_SKIP;   /* memory: leave it to the worker */
			/* Memory, or a device that completes a batch one
			 * request at a time (async.c, "Batches"). */
			if (batch && (!waited || (probe && afu_inline_waits() - waits > BATCH_SPREAD)))
				c->batch_skip = BATCH_SKIP;
		}
		blk_harvest_locked(c);
		return 0;
	}

	if (c->thread_running && c->ninflight == 0) {
		/* Nothing in flight (e.g. waiting for another thread to free a
		 * command): whoever frees one signals @cv. */
		if (!deadline) {
			pthread_cond_wait(cv, &c->lock);
			return 0;
		}
		if (pthread_cond_timedwait(cv, &c->lock, deadline) == ETIMEDOUT)
			return -ETIMEDOUT;
		return 0;
	}
	if (blk_harvest_locked(c) > 0)
		return 0;
	now = now_ns();
	if (deadline) {
		uint64_t end = ts_to_ns(deadline);

		if (now >= end)
			return -ETIMEDOUT;
		if (end - now < cap)
			cap = end - now;
	}
	if (c->ninflight == 0) {
		ns_to_ts(now + cap, &ts);
		pthread_cond_timedwait(cv, &c->lock, &ts);
	} else {
		c->nwaiters++;          /* the completion thread stands aside */
		if (!run_busy_locked(c))
			sleep_for_completions_locked(c, cap);
		if (blk_harvest_locked(c) > 0 && !c->runner)
			slow_learn(c, now_ns() - now > SLOW_WAIT_NS);
		c->nwaiters--;
		if (c->thread_running)  /* only the thread reads it */
			c->last_wait_ns = now_ns();
	}
	if (deadline && blk_deadline_passed(deadline))
		return -ETIMEDOUT;
	return 0;
}
