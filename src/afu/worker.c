/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker.c - the AFU's worker threads: the polling loop, the control
 * channel from the master, and spin-then-sleep.
 *
 * A worker owns a set of contexts, a pool of commands and one backend I/O
 * engine. Each pass it applies control requests, fetches and starts what
 * its contexts' queues hold, reaps backend completions and publishes the
 * per-pass register updates. Nothing in a busy pass makes a system call
 * (backend I/O aside). After spin_us without work (yielding the CPU every
 * 256 idle passes, for hosts that share it), or after only ENGINE_SPIN_NS
 * while more than ENGINE_FEW_INFLIGHT backend I/Os are in flight, or at
 * once while the worker itself waits for a CPU (cpuwait.h: the CPUs are
 * oversubscribed), it waits in its ring if any of the ring's I/O is in
 * flight (worker_ring_wait: the same protocol, with the futex wait a
 * request in the ring beside the I/O), or else goes to sleep (rbd
 * requests do not keep it awake:
 * librbd's thread completes them itself, foreign_after(), or queues them
 * and wakes it, foreign_wake()):
 *
 *   1. store afu_idle = 1 (seq_cst) in every window it serves,
 *   2. read each window's afu_doorbell and its own control word,
 *   3. re-check every queue (seq_cst loads),
 *   4. futex_waitv() on all those words with the values read (flagged
 *      asleep under ctl_lock meanwhile: see afu_ctl_stop_asleep()),
 *   5. store afu_idle = 0 again.
 *
 * The host side (sisl_ring_doorbell) stores its command, fences, and reads
 * afu_idle; if set it bumps afu_doorbell and wakes. Either the worker's
 * re-check sees the command, or the host sees afu_idle and changes the
 * doorbell, which makes futex_waitv() return at once or wakes it: no
 * wake-up is lost. With more windows than one futex_waitv() can watch
 * (127 and its control word) the worker sleeps in its io_uring instead, on
 * a FUTEX_WAITV request per 128 words (be_engine_sleep_watch); where the
 * ring cannot watch futexes it watches its control word and the first
 * windows, and looks at the others every 1 ms; without futex_waitv
 * (ENOSYS) every 100 us. A sleeping worker also wakes once a second on its
 * own, so a register the host changed without ringing (intr_clear,
 * sq_ctx_reset without a doorbell) is seen eventually.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* pthread_setname_np() */
#endif
#include "afu/afu_internal.h"
#include "util/log.h"
#include "util/clock.h"
#include "util/cpuwait.h"
#include "util/futex2.h"

#include <errno.h>
#include <stdio.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Static_assert(AFU_SLEEP_WORDS <= BE_SLEEP_WATCH_MAX, "a sleep watch takes every window");

#define SLEEP_SAFETY_NS   1000000000ull  /* a sleeping worker looks once a second */
#define SLEEP_TIMED_NS    1000000ull     /* too many windows for futex_waitv */
#define SLEEP_POLL_NS     100000ull      /* no futex_waitv at all */
#define ENGINE_WAIT_US    100u
#define CTL_SPIN_NS       100000ull      /* a master looks for its ack this long */
/*
 * With many backend I/Os in flight the next event is most likely one of
 * their completions, which wakes be_engine_wait(); spinning the whole
 * spin_us would keep this CPU busy between every two completions of a slow
 * device (the host's CPU on a 2-CPU machine), and the host has other I/Os
 * queued meanwhile. A short spin still catches the host's answer to the
 * completions just posted. With ENGINE_FEW_INFLIGHT or fewer the host is
 * most likely waiting for exactly these, so the worker spins the whole
 * spin_us to notice the completion without a wake-up (8-15 us here),
 * unless one of them is a foreign request (rbd: a network round trip of
 * 100 us or more, issue 17): spinning for it would burn spin_us of CPU per
 * request (half the worker's CPU at QD 1 on rbd) and rarely catch it.
 */
#define ENGINE_SPIN_NS       5000ull
#define ENGINE_FEW_INFLIGHT  2u

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	nanosleep(&ts, NULL);
}

void afu_futex_wake_shared(uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* ---------------------------------------------------------------------------
 * Control channel.
 */

/* Wake worker @w to look at its control list (a request, or shutdown). */
/* Wake @w, which may sleep in futex_waitv (worker_sleep): change its
 * control word. */
static void wake_worker(struct afu_worker *w)
{
	__atomic_fetch_add(&w->ctl_word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &w->ctl_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* A control request waits: flag it and wake the worker. */
static void poke(struct afu_worker *w)
{
	STORE_SEQ(&w->ctl_pending, 1);
	wake_worker(w);
}

/*
 * afu_ctl_post() - hand @req to worker @w without waiting, and wake it
 * (@wake) or leave that to afu_kick(): a worker that is awake finds the
 * request on its next loop either way, one asleep only once woken.
 * Requests are applied in the order posted, so a later request for the
 * same context (STOP, ERROR) finds it added. @req must stay valid until
 * the worker has taken it (a request inside the context does).
 */
void afu_ctl_post(struct afu_worker *w, struct afu_ctl_req *req, bool wake)
{
	struct afu *afu = w->afu;

	req->done = false;
	req->next = NULL;
	pthread_mutex_lock(&afu->ctl_lock);
	*w->ctl_tail = req;
	w->ctl_tail = &req->next;
	if (!wake) {
		w->kick_owed = true;
		STORE_SEQ(&afu->kick_owed, true);
	}
	pthread_mutex_unlock(&afu->ctl_lock);
	if (wake)
		poke(w);
	else
		STORE_SEQ(&w->ctl_pending, 1);
}

void afu_kick(struct afu *afu)
{
	if (!LOAD_ACQUIRE(&afu->kick_owed))
		return;
	STORE_SEQ(&afu->kick_owed, false);
	for (unsigned i = 0; i < afu->nworkers; i++) {
		struct afu_worker *w = &afu->workers[i];
		bool owed;

		pthread_mutex_lock(&afu->ctl_lock);
		owed = w->kick_owed;
		w->kick_owed = false;
		pthread_mutex_unlock(&afu->ctl_lock);
		if (owed)
			poke(w);
	}
}

/*
 * afu_ctl_stop_asleep() - take @c off its worker's array without waking
 * the worker, when that worker sleeps (so it touches neither the array
 * nor any window until it has taken ctl_lock again) and @c has nothing in
 * flight and no request pending. A sleeping worker's futex_waitv() may
 * still name @c's doorbell; a wake through it is only a spurious wake-up.
 * Return: whether @c was taken off (else the caller asks the worker).
 */
bool afu_ctl_stop_asleep(struct afu_ctx *c)
{
	struct afu_worker *w = c->worker;
	bool done = false;

	/* A host thread running the passes inline has the array meanwhile. */
	if (pthread_mutex_trylock(&w->run_lock))
		return false;
	pthread_mutex_lock(&w->afu->ctl_lock);
	if (w->asleep && c->cmds_inflight == 0 && !c->pending_req &&
	    (c->state == AFU_CTX_ACTIVE || c->state == AFU_CTX_ERROR)) {
		for (unsigned i = 0; i < w->nctx; i++) {
			if (w->ctxs[i] == c) {
				w->ctxs[i] = w->ctxs[--w->nctx];
				done = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&w->afu->ctl_lock);
	pthread_mutex_unlock(&w->run_lock);
	return done;
}

/*
 * afu_ctl_request() - hand @req to worker @w and wait for its
 * acknowledgement. Called by the master; never by a worker. The ack
 * usually comes within microseconds, so look for it for CTL_SPIN_NS
 * before sleeping: a sleeping waiter costs the worker a futex wake and
 * itself a wake-up. The CPU is yielded often: the worker may need it.
 */
void afu_ctl_request(struct afu_worker *w, struct afu_ctl_req *req)
{
	struct afu *afu = w->afu;
	uint64_t start = 0;

	afu_ctl_post(w, req, true);
	for (unsigned i = 1; !LOAD_ACQUIRE(&req->done); i++) {
		if (i & 7) {
			sisl_cpu_relax();
			continue;
		}
		if (!start) {
			start = now_ns();
		} else if (now_ns() - start >= CTL_SPIN_NS) {
			pthread_mutex_lock(&afu->ctl_lock);
			while (!LOAD_ACQUIRE(&req->done))
				pthread_cond_wait(&afu->ctl_cond, &afu->ctl_lock);
			pthread_mutex_unlock(&afu->ctl_lock);
			break;
		}
		sched_yield();
	}
}

void afu_ctl_ack(struct afu *afu, struct afu_ctl_req *req)
{
	pthread_mutex_lock(&afu->ctl_lock);
	STORE_RELEASE(&req->done, true);   /* @req may be gone right after */
	pthread_cond_broadcast(&afu->ctl_cond);
	pthread_mutex_unlock(&afu->ctl_lock);
}

/*
 * worker_control() - apply the master's queued requests. STOP and ERROR
 * are acknowledged later, when the context has drained (worker_pass).
 * Return: requests handled.
 */
static unsigned worker_control(struct afu_worker *w)
{
	struct afu *afu = w->afu;
	struct afu_ctl_req *req, *next;
	unsigned n = 0;

	STORE_SEQ(&w->ctl_pending, 0);
	pthread_mutex_lock(&afu->ctl_lock);
	req = w->ctl_head;
	w->ctl_head = NULL;
	w->ctl_tail = &w->ctl_head;
	pthread_mutex_unlock(&afu->ctl_lock);

	for (; req; req = next, n++) {
		struct afu_ctx *c = req->ctx;

		next = req->next;       /* @req is gone once acknowledged */
		switch (req->op) {
		case AFU_CTL_ADD:
			w->ctxs[w->nctx++] = c;
			afu_ctl_ack(afu, req);
			break;
		case AFU_CTL_STOP:
		case AFU_CTL_ERROR:
			if (req->op == AFU_CTL_ERROR && c->state == AFU_CTX_ERROR) {
				afu_ctl_ack(afu, req);
				break;
			}
			if (c->pending_req)     /* superseded: let its caller go */
				afu_ctl_ack(afu, c->pending_req);
			c->pending_req = req;
			c->state = req->op == AFU_CTL_STOP ? AFU_CTX_STOPPING : AFU_CTX_ERRORING;
			break;
		case AFU_CTL_PAUSE:
			w->paused = true;
			afu_ctl_ack(afu, req);
			break;
		case AFU_CTL_RESUME:
			w->paused = false;
			afu_ctl_ack(afu, req);
			break;
		}
	}
	return n;
}

/* ---------------------------------------------------------------------------
 * The loop.
 */

/*
 * settle() - move a drained (nothing in flight) context out of a
 * transitional state. @i is its index; a stopped context leaves the array.
 */
static void settle(struct afu_worker *w, unsigned *i)
{
	struct afu_ctx *c = w->ctxs[*i];
	struct afu_ctl_req *req = c->pending_req;

	switch (c->state) {
	case AFU_CTX_RESETTING:
		afu_ctx_do_reset(c);
		break;
	case AFU_CTX_ERRORING:
		if (!c->window_dead)
			afu_ctx_fill_error(c);
		c->state = AFU_CTX_ERROR;
		c->pending_req = NULL;
		afu_ctl_ack(w->afu, req);
		break;
	case AFU_CTX_STOPPING:
		w->ctxs[*i] = w->ctxs[--w->nctx];
		(*i)--;
		c->pending_req = NULL;
		afu_ctl_ack(w->afu, req);   /* the master frees @c now */
		break;
	default:
		break;
	}
}

/*
 * rate_check() - at the start of a pass: may @c start work under its rate
 * limit? If not it is held for the pass, and the worker notes when it may
 * go again (worker_sleep sleeps no longer than that).
 */
static void rate_check(struct afu_worker *w, struct afu_ctx *c)
{
	struct afu_rate *r = LOAD_ACQUIRE(&c->rate);
	bool was = c->rate_held;
	uint64_t wait;

	c->rate_cur = r;
	c->rate_held = false;
	if (!r)
		return;
	if (!w->pass_ns)
		w->pass_ns = now_ns();
	wait = afu_rate_wait(r, w->pass_ns);
	if (!wait)
		return;
	c->rate_held = true;
	if (!was)
		afu_rate_delayed(r);
	if (!w->rate_wake_ns || w->pass_ns + wait < w->rate_wake_ns)
		w->rate_wake_ns = w->pass_ns + wait;
}

/* One pass over everything (fetching new commands only with @fetch).
 * Return: work done. */
static unsigned worker_pass(struct afu_worker *w, bool fetch)
{
	unsigned did = 0;
	int r;

	w->pass_ns = 0;
	w->rate_wake_ns = 0;
	for (unsigned i = 0; i < w->nctx; i++) {
		struct afu_ctx *c = w->ctxs[i];

		rate_check(w, c);
		did += afu_ctx_fair_topup(c, w->afu->fair_quantum);
		if (c->state == AFU_CTX_ACTIVE) {
			if (!w->paused && fetch)
				did += afu_ctx_poll(w, c);
		} else if (c->state != AFU_CTX_ERROR && c->cmds_inflight == 0) {
			settle(w, &i);
			did++;
		}
	}
	if (w->cont_head)
		did += afu_cmds_continue(w);
	if (be_engine_inflight(w->eng)) {
		r = be_engine_poll(w->eng, 64);
		if (r > 0)
			did += (unsigned)r;
	}
	/* An inline runner: what librbd's threads queued on the worker's
	 * engine while someone ran the passes (the ring is not ours). */
	if (w->eng != w->home && be_engine_foreign_pending(w->home))
		did += be_engine_foreign_poll(w->home, 64);
	for (unsigned i = 0; i < w->nctx; i++)
		afu_ctx_publish(w->ctxs[i], did == 0);
	return did;
}

/* Is @c still over its rate (worker_sleep's last look)? The deadline the
 * last pass noted stays the wake-up time. */
static bool rate_still_held(struct afu_worker *w, struct afu_ctx *c)
{
	return c->rate_held && c->rate_cur && afu_rate_wait(c->rate_cur, now_ns()) > 0 &&
	       w->rate_wake_ns;
}

/*
 * Steps 1-3 of the sleep protocol (see the top of this file), under
 * run_lock: flag every active window idle, note in @wv (unless NULL) the
 * words to wait on, *@n of them, at most @cap (*@timed when some windows
 * did not fit), and look at every queue once more. *@set (unless NULL)
 * names the set of windows watched. Return: true when there is work.
 */
static bool idle_and_look(struct afu_worker *w, struct futex_waitv *wv, unsigned cap,
			  unsigned *n, bool *timed, uint64_t *set)
{
	unsigned i, nactive = 0;

	if (set)
		*set = 0;

	if (wv) {
		memset(&wv[0], 0, sizeof(wv[0]));
		wv[0].val = LOAD_SEQ(&w->ctl_word);
		wv[0].uaddr = (uintptr_t)&w->ctl_word;
		wv[0].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
		*n = 1;
	}
	if (!w->paused) {
		for (i = 0; i < w->nctx; i++)
			if (w->ctxs[i]->state == AFU_CTX_ACTIVE)
				STORE_SEQ(&w->ctxs[i]->map->afu_idle, 1);
		for (i = 0; i < w->nctx; i++) {
			struct afu_ctx *c = w->ctxs[i];

			if (c->state != AFU_CTX_ACTIVE)
				continue;
			if (set)
				*set += c->serial * 0x9e3779b97f4a7c15ull;
			if (++nactive >= cap) {
				if (timed)
					*timed = true;
			} else if (wv) {
				/* (else the caller's watch has the words) */
				memset(&wv[*n], 0, sizeof(wv[*n]));
				wv[*n].val = LOAD_SEQ(&c->map->afu_doorbell);
				wv[*n].uaddr = (uintptr_t)&c->map->afu_doorbell;
				wv[*n].flags = FUTEX2_SIZE_U32;
				(*n)++;
			}
			/* Over its rate: its work waits for rate_wake_ns. */
			if (afu_ctx_has_work(c) && !rate_still_held(w, c))
				return true;
		}
	}
	return LOAD_SEQ(&w->ctl_pending) || LOAD_SEQ(&w->afu->exiting) ||
	       (w->cont_head && w->cont_ready) || be_engine_foreign_pending(w->home);
}

/* Step 5, under run_lock: the windows are not idle any more. */
static void idle_end(struct afu_worker *w)
{
	if (!w->paused)
		for (unsigned i = 0; i < w->nctx; i++)
			if (w->ctxs[i]->state == AFU_CTX_ACTIVE)
				STORE_RELAXED(&w->ctxs[i]->map->afu_idle, 0);
}

/*
 * Steps 1-5 of the sleep protocol (see the top of this file). A watch that
 * worker_ring_wait() left armed in the ring goes first: a host's
 * FUTEX_WAKE wakes one waiter, and the watch would take the wake-up meant
 * for the futex_waitv() here. (Sleeping in the ring instead, on the same
 * watch, woke slower: 46 against 4.6 us p50 from a doorbell to its
 * completion around the spin limit in one run of unit/afu_queue.)
 */
static void worker_sleep(struct afu_worker *w, struct be_engine *own)
{
	struct futex_waitv *wv = w->waitv;
	struct timespec abs;
	unsigned n = 0;
	bool timed = false;
	uint64_t t, rate_wake;

	if (be_engine_watch_drop(own))
		return;   /* a completion came first: a pass, then try again */
	/* An inline runner has the passes: wait for it (it never waits for
	 * us), then look at the queues ourselves before sleeping. */
	pthread_mutex_lock(&w->run_lock);
	if (idle_and_look(w, wv, w->no_ring_watch ? FUTEX_WAITV_MAX : AFU_SLEEP_WORDS, &n,
			  &timed, NULL))
		goto awake;
	/* From here until it is cleared the master may shrink our array
	 * (afu_ctl_stop_asleep): no context may be looked at meanwhile. */
	pthread_mutex_lock(&w->afu->ctl_lock);
	if (w->ctl_head) {
		pthread_mutex_unlock(&w->afu->ctl_lock);
		goto awake;
	}
	w->asleep = true;
	pthread_mutex_unlock(&w->afu->ctl_lock);
	/* Read under run_lock: an inline runner's pass rewrites it. (Rates
	 * are the daemon's, inline runs embedded: a later wake time set by
	 * one is met by the safety timeout at worst.) */
	rate_wake = w->rate_wake_ns;
	/* Asleep, the passes are free for a host thread to run inline. */
	pthread_mutex_unlock(&w->run_lock);

	if (n > FUTEX_WAITV_MAX) {
		/* More words than one futex_waitv() takes: as many FUTEX_WAITV
		 * requests in the ring, one enter. */
		uint64_t d = SLEEP_SAFETY_NS, now = now_ns();
		int rc;

		if (rate_wake)
			d = rate_wake > now ? rate_wake - now : 0;
		rc = be_engine_sleep_watch(own, wv, n, (unsigned)(d / 1000) + 1);
		if (rc == -EOPNOTSUPP) {
			log_notice("the ring cannot watch futexes: an AFU worker with more than %u "
				   "contexts looks at the rest every %llu us", FUTEX_WAITV_MAX - 1,
				   SLEEP_TIMED_NS / 1000);
			w->no_ring_watch = true;
		} else if (rc < 0 && rc != -EBUSY) {
			/* (-EBUSY: a completion to reap, a pass first.) Never
			 * a loop without sleeping. */
			sleep_ns(SLEEP_TIMED_NS);
		}
	} else if (w->no_waitv) {
		uint64_t d = timed ? SLEEP_TIMED_NS : SLEEP_POLL_NS, now = now_ns();

		if (rate_wake && rate_wake - now < d)
			d = rate_wake - now;
		sleep_ns(d);
	} else {
		/* The safety timeout only matters when windows are watched;
		 * with just the control word, sleep until the master calls.
		 * With more windows than futex_waitv() takes, the control
		 * word and the first ones are still watched (the master's
		 * requests, e.g. a DETACH's STOP, are not kept waiting for
		 * the next look) and the rest looked at every SLEEP_TIMED_NS.
		 * A context held by its rate wakes us at rate_wake_ns. */
		t = now_ns() + (timed ? SLEEP_TIMED_NS : SLEEP_SAFETY_NS);
		if (rate_wake && rate_wake < t)
			t = rate_wake;
		abs.tv_sec = (time_t)(t / 1000000000ull);
		abs.tv_nsec = (long)(t % 1000000000ull);
		if (syscall(SYS_futex_waitv, wv, n, 0, n > 1 || rate_wake ? &abs : NULL,
			    CLOCK_MONOTONIC) < 0 && errno == ENOSYS) {
			log_notice("futex_waitv unavailable: idle AFU workers poll every 100 us");
			w->no_waitv = true;
		}
	}
	pthread_mutex_lock(&w->afu->ctl_lock);
	w->asleep = false;
	pthread_mutex_unlock(&w->afu->ctl_lock);
	pthread_mutex_lock(&w->run_lock);
awake:
	idle_end(w);
	pthread_mutex_unlock(&w->run_lock);
}

/*
 * While the ring's requests are in flight: wait for a completion, a
 * doorbell of one of the worker's windows or its control word. The words
 * are watched by a FUTEX_WAITV request kept armed in the ring
 * (be_engine_watch), and the windows flagged idle as for a sleep, so hosts
 * ring: no command waits for a slow device's completion, and no kernel
 * timer is armed per wait (that cost 1.3 us of CPU per I/O at QD 32 on a
 * file), only one a second for registers changed without a doorbell.
 * Where the ring cannot watch futexes, with more windows than one request
 * takes or a context held by its rate: a wait of ENGINE_WAIT_US.
 */
static void worker_ring_wait(struct afu_worker *w, struct be_engine *own)
{
	unsigned n = 0;
	bool work;
	uint64_t set;
	int rc = 0;

	pthread_mutex_lock(&w->run_lock);
	if (w->no_ring_watch || w->paused || w->rate_wake_ns ||
	    w->nctx >= FUTEX_WAITV_MAX) {
		pthread_mutex_unlock(&w->run_lock);
		be_engine_wait(own, ENGINE_WAIT_US);
		return;
	}
	/* An armed watch keeps its words: a wake-up fires it whatever values
	 * it was armed with. Another set of active windows (a context added,
	 * removed, stopped or started) needs another watch: the old one is
	 * cancelled, and this wait is a timed one. */
	if (be_engine_watch_armed(own)) {
		work = idle_and_look(w, NULL, FUTEX_WAITV_MAX, NULL, NULL, &set);
		if (!work && set != w->ring_watch_set)
			rc = be_engine_watch_cancel(own);
	} else {
		work = idle_and_look(w, w->ring_waitv, FUTEX_WAITV_MAX, &n, NULL, &set);
		if (!work) {
			rc = be_engine_watch(own, w->ring_waitv, n);
			w->ring_watch_set = set;
		}
	}
	if (rc == -EOPNOTSUPP)
		w->no_ring_watch = true;
	pthread_mutex_unlock(&w->run_lock);
	if (!work)
		rc ? be_engine_wait(own, ENGINE_WAIT_US)
		   : be_engine_wait_tick(own, SLEEP_SAFETY_NS / 1000);
	pthread_mutex_lock(&w->run_lock);
	idle_end(w);
	pthread_mutex_unlock(&w->run_lock);
}

/* This thread's CPU time (what a turn costs, without its preemptions). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pass_stat(struct afu_worker *w, uint64_t ns)
{
	unsigned b = 0;

	for (uint64_t us = ns / 1000; us && b < AFU_PASS_HIST - 1; us >>= 1)
		b++;
	w->pass_hist[b]++;
	if (ns > w->pass_max_ns)
		w->pass_max_ns = ns;
}

/* CXLFLASH_AFU_PASS_STATS: the busy turns' CPU time, on stderr at stop. */
static void pass_stats_print(const struct afu_worker *w)
{
	uint64_t n = 0;

	for (unsigned b = 0; b < AFU_PASS_HIST; b++)
		n += w->pass_hist[b];
	if (!n)
		return;
	fprintf(stderr, "afu-w%u: %llu busy turns by CPU time (us):", w->id, (unsigned long long)n);
	for (unsigned b = 0; b < AFU_PASS_HIST; b++)
		if (w->pass_hist[b])
			fprintf(stderr, " <%u:%llu", 1u << b, (unsigned long long)w->pass_hist[b]);
	fprintf(stderr, "; longest %.1f us\n", w->pass_max_ns / 1e3);
}

/*
 * Direct foreign completions (backend.h be_foreign_direct): librbd's
 * thread completed a command of ours under run_lock while nobody ran the
 * passes (the worker asleep, or waiting on its ring outside the lock).
 * Post the wake-ups a pass would: the host's (afu_ctx_publish as on an
 * idle pass), and the worker's when a context waits to drain (a stop,
 * error or reset is settled by a pass).
 */
static void foreign_wake(void *arg);

/* The worker whose passes this thread runs now (a worker thread: its
 * own, always; an inline runner: while it runs them). */
static __thread struct afu_worker *passes_here;

static bool foreign_mine(void *arg)
{
	return passes_here == arg;
}

/* Host wake-ups foreign_after() leaves for foreign_unlocked(): a host
 * woken while librbd's thread still held run_lock would find it taken for
 * its next submission and ring the doorbell instead (waking the worker). */
#define WAKE_LATER_MAX 8u
static __thread uint32_t *wake_later[WAKE_LATER_MAX];
static __thread unsigned nwake_later;

static void foreign_after(void *arg)
{
	struct afu_worker *w = arg;
	bool settle_owed = false;

	for (unsigned i = 0; i < w->nctx; i++) {
		struct afu_ctx *c = w->ctxs[i];
		uint32_t *wake = NULL;

		afu_ctx_publish_wake(c, true, nwake_later < WAKE_LATER_MAX ? &wake : NULL);
		if (wake)
			wake_later[nwake_later++] = wake;
		settle_owed |= c->state != AFU_CTX_ACTIVE && c->state != AFU_CTX_ERROR &&
			       c->cmds_inflight == 0;
	}
	if (settle_owed)
		foreign_wake(w);
}

/* After foreign_after(), run_lock let go: the host wake-ups it owes. The
 * window may be gone meanwhile (a stopped context): a FUTEX_WAKE on its
 * address is then at worst spurious. */
static void foreign_unlocked(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < nwake_later; i++)
		afu_futex_wake_shared(wake_later[i], 0x7fffffff);
	nwake_later = 0;
}

/* Wake the worker, which may sleep in futex_waitv (worker_sleep): change
 * its control word. Not ctl_pending: there is no request. */
static void foreign_wake(void *arg)
{
	wake_worker(arg);
}

/*
 * A foreign completion was queued on the worker's engine (run_lock was
 * taken). An inline runner looks at that queue in every pass and once
 * more after it lets go (afu_run_inline): then the worker need not wake.
 * The push before this seq_cst load, the runner's clearing of
 * runner_active before its last look: one of the two sees the other.
 */
static void foreign_queued(void *arg)
{
	struct afu_worker *w = arg;

	if (!LOAD_SEQ(&w->runner_active))
		foreign_wake(w);
}

static void *worker_main(void *arg)
{
	struct afu_worker *w = arg;
	struct afu *afu = w->afu;
	uint64_t spin_ns = (uint64_t)afu->spin_us * 1000, idle_start = 0;
	uint64_t engine_spin_ns = spin_ns < ENGINE_SPIN_NS ? spin_ns : ENGINE_SPIN_NS;
	unsigned idle_passes = 0;
	struct cpuwait cw = { 0 };
	bool spin_now = true;
	struct be_engine *own = NULL;   /* w->eng, but for while a runner swaps its own in */
	char name[16];
	int rc;

	snprintf(name, sizeof(name), "afu-w%u", w->id);
	pthread_setname_np(pthread_self(), name);
	rc = be_engine_create(&own, AFU_ENGINE_DEPTH);
	if (!rc) {
		struct be_foreign_direct d = {
			.lock = &w->run_lock, .after = foreign_after,
			.unlocked = foreign_unlocked, .wake = foreign_queued,
			.mine = foreign_mine, .arg = w,
		};

		rc = be_engine_set_foreign_direct(own, &d);
		if (rc) {
			be_engine_destroy(own);
			own = NULL;
		}
	}
	w->eng = own;
	w->home = own;
	passes_here = w;
	pthread_mutex_lock(&afu->ctl_lock);
	w->start_err = rc;
	w->start_done = true;
	pthread_cond_broadcast(&afu->ctl_cond);
	pthread_mutex_unlock(&afu->ctl_lock);
	if (rc)
		return NULL;

	for (;;) {
		unsigned did = 0;
		uint64_t t0 = afu->pass_stats ? thread_cpu_ns() : 0;

		if (LOAD_ACQUIRE(&w->ctl_pending)) {
			pthread_mutex_lock(&w->run_lock);
			did += worker_control(w);
			pthread_mutex_unlock(&w->run_lock);
		}
		if (LOAD_ACQUIRE(&afu->exiting))
			break;
		/* A pass under run_lock; while an inline runner holds it
		 * this counts as idle (the runner does the work), so the
		 * worker soon sleeps, and stays asleep while runners keep up. */
		if (pthread_mutex_trylock(&w->run_lock) == 0) {
			did += worker_pass(w, true);
			pthread_mutex_unlock(&w->run_lock);
		}
		if (did) {
			if (afu->pass_stats)
				pass_stat(w, thread_cpu_ns() - t0);
			idle_passes = 0;
			continue;
		}
		/* Idle: spin for spin_us (reading the clock every 16 passes),
		 * or only ENGINE_SPIN_NS with more than ENGINE_FEW_INFLIGHT
		 * backend I/Os in flight; not at all while this thread waits
		 * for a CPU (cpuwait.h): the host that would ring the doorbell
		 * needs the CPU, and a sleeper is woken where a preempted
		 * spinner waits for its turn. */
		if (idle_passes++ == 0) {
			idle_start = now_ns();
			spin_now = !cpuwait_busy(&cw, idle_start);
			continue;
		}
		if (spin_now && ((idle_passes & 15) ||
		    now_ns() - idle_start < (be_engine_inflight(own) > ENGINE_FEW_INFLIGHT ||
					     be_engine_foreign_inflight(own) ?
					     engine_spin_ns : spin_ns))) {
			/* Let a host thread sharing this CPU run now and then. */
			if ((idle_passes & 255) == 0)
				sched_yield();
			else
				sisl_cpu_relax();
			continue;
		}
		if (be_engine_ring_inflight(own)) {
			/* Only this thread touches its engine's ring. */
			worker_ring_wait(w, own);
			continue;
		}
		/* Nothing in flight, or only foreign (rbd) requests, which
		 * librbd's threads complete (foreign_after) or queue with a
		 * wake-up (foreign_wake): sleep either way. */
		worker_sleep(w, own);
		idle_passes = 0;
	}
	if (w->nctx)
		log_err("AFU worker %u exits with %u contexts still assigned", w->id, w->nctx);
	be_engine_destroy(own);
	w->eng = NULL;
	return NULL;
}

/* ---------------------------------------------------------------------------
 * Inline execution (afu.h): a host thread runs a sleeping worker's passes.
 *
 * Whoever holds a worker's run_lock runs its passes: the worker thread takes
 * it for each pass and its control requests, a host thread only with
 * trylock. While a host thread holds it the worker's passes count as idle,
 * so it soon goes to sleep (worker_sleep() waits for the lock before its
 * last look at the queues) and is not woken. The worker's io_uring accepts
 * submissions only from the worker's own thread (SINGLE_ISSUER,
 * DEFER_TASKRUN), so the host thread swaps in an engine of its own, and
 * reaps every ring request it submitted before it lets go: nothing of it
 * is in flight when the worker takes over again. Foreign (rbd) requests it
 * lends to the worker's engine instead, where librbd's thread completes
 * them: the runner returns once they are handed over. The sleeping worker
 * is not woken: a synchronous I/O costs the caller one pass, the backend's
 * own work, and no thread crossing.
 */

/* Passes with work after which an inline runner stops fetching, so that a
 * stream of other threads' commands cannot keep it from returning. */
#define INLINE_MAX_BUSY_PASSES 64u
/* A runner's wait in its ring lasts until a completion: every request it
 * waits for completes through the ring (be_engine_wait looks at foreign
 * ones every millisecond), and a timeout would arm a timer per I/O. */
#define INLINE_WAIT_US BE_WAIT_FOREVER
/* Tries at run_lock before a runner gives up (run_lock_try). */
#define RUN_LOCK_TRIES 32u

static pthread_key_t inline_key;
static bool inline_key_ok;
static pthread_once_t inline_once = PTHREAD_ONCE_INIT;
static __thread unsigned inline_waits;  /* afu_inline_waits() */

static __thread unsigned inline_lent;   /* afu_inline_lent() */

unsigned afu_inline_waits(void)
{
	return inline_waits;
}

unsigned afu_inline_lent(void)
{
	return inline_lent;
}

/* Bumped in every child fork() makes (no getpid() per I/O). */
static unsigned inline_fork_gen;

/* A thread's inline engine, and the fork generation it was made in: a
 * child that fork() made of this thread inherits the pointer, but the ring
 * belongs to the parent's thread (io_uring_enter() refuses it: EEXIST). */
struct inline_engine {
	struct be_engine *eng;
	unsigned gen;
};

static void inline_engine_free(void *p)
{
	struct inline_engine *ie = p;

	if (ie->gen == inline_fork_gen)
		be_engine_destroy(ie->eng);
	free(ie);
}

static void inline_atfork_child(void)
{
	inline_fork_gen++;
}

static void inline_key_make(void)
{
	inline_key_ok = pthread_key_create(&inline_key, inline_engine_free) == 0 &&
			pthread_atfork(NULL, NULL, inline_atfork_child) == 0;
}

/* The calling thread's engine, made on its first inline run (NULL: none). */
static struct be_engine *inline_engine(void)
{
	struct inline_engine *ie;

	pthread_once(&inline_once, inline_key_make);
	if (!inline_key_ok)
		return NULL;
	ie = pthread_getspecific(inline_key);
	if (ie && ie->gen == inline_fork_gen && ie->eng)
		return ie->eng;
	if (ie) {
		/* Inherited from the parent: unmap and close our copy only. */
		be_engine_destroy(ie->eng);
		ie->eng = NULL;
	} else {
		ie = calloc(1, sizeof(*ie));
		if (!ie)
			return NULL;
		if (pthread_setspecific(inline_key, ie)) {
			free(ie);
			return NULL;
		}
	}
	ie->gen = inline_fork_gen;
	if (be_engine_create(&ie->eng, AFU_ENGINE_DEPTH)) {
		ie->eng = NULL;
		return NULL;
	}
	be_engine_set_lazy_submit(ie->eng, true);
	return ie->eng;
}

struct afu_runner *afu_ctx_runner(struct afu_ctx *ctx)
{
	return (struct afu_runner *)ctx->worker;
}

/*
 * run_lock_try() - take @w's run_lock for an inline run, without blocking:
 * a few tries over about a microsecond, for a lock that librbd's thread
 * holds while it completes a command (foreign_after) or a worker holds for
 * the last of its passes; longer would only be spinning.
 */
static bool run_lock_try(struct afu_worker *w)
{
	for (unsigned i = 0; i < RUN_LOCK_TRIES; i++) {
		if (!pthread_mutex_trylock(&w->run_lock))
			return true;
		sisl_cpu_relax();
	}
	return false;
}

bool afu_run_inline(struct afu_runner *runner, bool each)
{
	struct afu_worker *w = (struct afu_worker *)runner;
	struct be_engine *eng, *own;
	unsigned busy = 0, said = 0, begun;
	bool fetch = true, more = false;
	int rc;

	if (LOAD_ACQUIRE(&w->afu->exiting))
		return false;
	eng = inline_engine();
	if (!eng || !run_lock_try(w))
		return false;
	STORE_SEQ(&w->runner_active, true);
	own = w->eng;
	w->eng = eng;
	/* Foreign (rbd) requests go on the worker's engine: nothing to wait
	 * for here, librbd's thread completes them (foreign_after). */
	be_engine_set_foreign_home(eng, w->home);
	begun = be_engine_foreign_begun(w->home);
	passes_here = w;
	for (;;) {
		if (worker_pass(w, fetch)) {
			if (++busy >= INLINE_MAX_BUSY_PASSES)
				fetch = false;
			continue;
		}
		if (!be_engine_inflight(eng))
			break;
		inline_waits++;
		rc = each ? be_engine_wait(eng, INLINE_WAIT_US) : be_engine_wait_all(eng);
		if (rc < 0 && !said++)
			log_err("AFU inline run: waiting for backend I/O: %s", strerror(-rc));
	}
	for (unsigned i = 0; i < w->nctx && !more; i++)
		more = afu_ctx_has_work(w->ctxs[i]);
	passes_here = NULL;
	inline_lent += be_engine_foreign_begun(w->home) - begun;
	be_engine_set_foreign_home(eng, NULL);
	w->eng = own;
	STORE_SEQ(&w->runner_active, false);
	pthread_mutex_unlock(&w->run_lock);
	/* librbd's thread may have queued a completion after our last pass
	 * without waking the worker (foreign_queued): run it, or have the
	 * worker run it when someone else has the lock now. */
	while (be_engine_foreign_pending(w->home)) {
		if (pthread_mutex_trylock(&w->run_lock)) {
			foreign_wake(w);
			break;
		}
		be_engine_foreign_poll(w->home, 0);
		foreign_after(w);
		pthread_mutex_unlock(&w->run_lock);
		foreign_unlocked(w);
	}
	/* Left over (fetching stopped), or a control request that poked the
	 * worker while we had the passes: make sure it looks. */
	if (more || LOAD_ACQUIRE(&w->ctl_pending))
		poke(w);
	return true;
}

/* ---------------------------------------------------------------------------
 * Start and stop.
 */

static int worker_init(struct afu *afu, struct afu_worker *w, unsigned id)
{
	w->afu = afu;
	w->id = id;
	pthread_mutex_init(&w->run_lock, NULL);
	w->ctl_tail = &w->ctl_head;
	w->cont_tail = &w->cont_head;
	w->ctxs = calloc(AFU_MAX_CONTEXTS, sizeof(*w->ctxs));
	w->waitv = calloc(AFU_SLEEP_WORDS, sizeof(struct futex_waitv));
	w->ring_waitv = calloc(FUTEX_WAITV_MAX, sizeof(struct futex_waitv));
	w->cmds = calloc(AFU_POOL_CMDS, sizeof(*w->cmds));
	if (!w->ctxs || !w->waitv || !w->ring_waitv || !w->cmds)
		return -ENOMEM;
	for (unsigned i = 0; i < AFU_POOL_CMDS; i++) {
		w->cmds[i].next = w->free;
		w->free = &w->cmds[i];
	}
	w->nfree = AFU_POOL_CMDS;
	return 0;
}

/*
 * afu_workers_start() - create afu->nworkers workers and wait until each
 * has its I/O engine. Return: 0 or -errno (then afu_workers_stop cleans up).
 */
int afu_workers_start(struct afu *afu)
{
	int rc = 0;

	afu->workers = calloc(afu->nworkers, sizeof(*afu->workers));
	if (!afu->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < afu->nworkers; i++) {
		struct afu_worker *w = &afu->workers[i];

		rc = worker_init(afu, w, i);
		if (rc)
			return rc;
		rc = -pthread_create(&w->thread, NULL, worker_main, w);
		if (rc)
			return rc;
		w->thread_started = true;
	}
	pthread_mutex_lock(&afu->ctl_lock);
	for (unsigned i = 0; i < afu->nworkers; i++) {
		while (!afu->workers[i].start_done)
			pthread_cond_wait(&afu->ctl_cond, &afu->ctl_lock);
		if (afu->workers[i].start_err && !rc)
			rc = afu->workers[i].start_err;
	}
	pthread_mutex_unlock(&afu->ctl_lock);
	return rc;
}

void afu_workers_stop(struct afu *afu)
{
	if (!afu->workers)
		return;
	STORE_SEQ(&afu->exiting, true);
	for (unsigned i = 0; i < afu->nworkers; i++) {
		struct afu_worker *w = &afu->workers[i];

		if (!w->thread_started)
			continue;
		poke(w);
		pthread_join(w->thread, NULL);
	}
	for (unsigned i = 0; i < afu->nworkers; i++) {
		struct afu_worker *w = &afu->workers[i];

		if (afu->pass_stats)
			pass_stats_print(w);
		free(w->ctxs);
		free(w->waitv);
		free(w->ring_waitv);
		free(w->cmds);
		pthread_mutex_destroy(&w->run_lock);
	}
	free(afu->workers);
	afu->workers = NULL;
}
