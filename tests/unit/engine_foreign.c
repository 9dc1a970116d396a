/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the engine's foreign completions (engine_internal.h), which
 * the rbd backend uses, without Ceph: requests finished on another thread
 * run their completion on the engine's thread, oldest first, once each;
 * be_engine_inflight() counts them from begin to completion;
 * be_engine_wait() wakes for them (never by its timeout) on an io_uring
 * engine and on one without a ring; be_engine_poll()'s @max is honoured;
 * a cancelled begin is uncounted; destroy waits for what is in flight.
 * Direct completions (be_engine_set_foreign_direct): run on the finishing
 * thread under the lock when it is free (then the after hook), queued with
 * the wake hook when it is held or the request says no_direct, and reaped
 * by be_engine_foreign_poll() from a thread holding the lock; both ways at
 * once, each exactly once; an engine lending its requests to a home.
 */
#include "t_util.h"
#include "backend/engine_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define N 2000

struct item {
	struct be_foreign f;    /* first */
	unsigned id;
	int done;
	pthread_t thread;
};

static struct item items[N];
static unsigned order[N], norder;

static void complete(struct be_foreign *f)
{
	struct item *it = (struct item *)f;

	it->done++;
	it->thread = pthread_self();
	order[norder++] = it->id;
}

struct producer {
	struct be_engine *eng;
	unsigned first, n;
	unsigned pause_every;   /* sleep a little every so many, so waits happen */
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (unsigned i = 0; i < p->n; i++) {
		if (p->pause_every && i % p->pause_every == 0) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
		}
		be_engine_foreign_done(p->eng, &items[p->first + i].f);
	}
	return NULL;
}

static void reset(void)
{
	memset(items, 0, sizeof(items));
	for (unsigned i = 0; i < N; i++) {
		items[i].id = i;
		items[i].f.complete = complete;
	}
	norder = 0;
}

/* N requests finished by one other thread; all complete here, in order. */
static void one_engine(struct be_engine *eng)
{
	struct producer p = { .eng = eng, .first = 0, .n = N, .pause_every = 50 };
	pthread_t th;
	unsigned done = 0;

	reset();
	T_EQ(be_engine_inflight(eng), 0);
	for (unsigned i = 0; i < N; i++)
		T_EQ(be_engine_foreign_begin(eng), 0);
	T_EQ(be_engine_inflight(eng), N);
	T_EQ(pthread_create(&th, NULL, produce, &p), 0);
	while (done < N) {
		int r = be_engine_wait(eng, 10000000);

		T_EQ(r, 1);   /* woken by a completion, not the 10 s timeout */
		r = be_engine_poll(eng, 7);
		T_ASSERT(r >= 0 && r <= 7);
		done += (unsigned)r;
		T_EQ(be_engine_inflight(eng), N - done);
	}
	T_EQ(pthread_join(th, NULL), 0);
	T_EQ(be_engine_poll(eng, 0), 0);
	T_EQ(be_engine_wait(eng, 1000), 0);   /* nothing in flight */
	for (unsigned i = 0; i < N; i++) {
		T_EQ(items[i].done, 1);
		T_ASSERT(pthread_equal(items[i].thread, pthread_self()));
		T_EQ(order[i], i);   /* one producer: oldest first */
	}
}

/* Two producers at once; a completion that begins another request. */
static struct be_engine *g_eng;
static unsigned g_chained;

static void complete_chain(struct be_foreign *f)
{
	complete(f);
	if (((struct item *)f)->id == 0) {
		/* Like a FUA write's flush: begin more from a completion. */
		T_EQ(be_engine_foreign_begin(g_eng), 0);
		items[N - 1].f.complete = complete;
		be_engine_foreign_done(g_eng, &items[N - 1].f);
		g_chained++;
	}
}

static void two_producers(struct be_engine *eng)
{
	struct producer a = { .eng = eng, .first = 0, .n = N / 2 - 1, .pause_every = 0 };
	struct producer b = { .eng = eng, .first = N / 2 - 1, .n = N / 2, .pause_every = 0 };
	pthread_t ta, tb;

	reset();
	g_eng = eng;
	g_chained = 0;
	items[0].f.complete = complete_chain;
	for (unsigned i = 0; i < N - 1; i++)
		T_EQ(be_engine_foreign_begin(eng), 0);
	/* A begin whose request never started. */
	T_EQ(be_engine_foreign_begin(eng), 0);
	be_engine_foreign_cancel(eng);
	T_EQ(be_engine_inflight(eng), N - 1);
	T_EQ(pthread_create(&ta, NULL, produce, &a), 0);
	T_EQ(pthread_create(&tb, NULL, produce, &b), 0);
	while (be_engine_inflight(eng)) {
		T_EQ(be_engine_wait(eng, 10000000), 1);
		T_ASSERT(be_engine_poll(eng, 0) >= 0);
	}
	T_EQ(pthread_join(ta, NULL), 0);
	T_EQ(pthread_join(tb, NULL), 0);
	T_EQ(g_chained, 1);
	for (unsigned i = 0; i < N; i++)
		T_EQ(items[i].done, 1);
}

/* Destroy with requests in flight waits for them (their completions run). */
static void *late(void *arg)
{
	struct timespec ts = { 0, 50000000 };
	struct producer *p = arg;

	nanosleep(&ts, NULL);
	return produce(p);
}

static void destroy_waits(struct be_engine *eng)
{
	struct producer p = { .eng = eng, .first = 0, .n = 10 };
	pthread_t th;

	reset();
	for (unsigned i = 0; i < 10; i++)
		T_EQ(be_engine_foreign_begin(eng), 0);
	T_EQ(pthread_create(&th, NULL, late, &p), 0);
	be_engine_destroy(eng);
	T_EQ(pthread_join(th, NULL), 0);
	for (unsigned i = 0; i < 10; i++)
		T_EQ(items[i].done, 1);
}

/* ---- direct completions ---- */

static pthread_mutex_t d_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned d_after, d_wakes;   /* after: under d_lock; wakes: atomic */

static void d_after_fn(void *arg)
{
	T_EQ(pthread_mutex_trylock(&d_lock), EBUSY);   /* called under it */
	T_ASSERT(arg == &d_lock);
	d_after++;
}

static void d_wake_fn(void *arg)
{
	T_ASSERT(arg == &d_lock);
	__atomic_add_fetch(&d_wakes, 1, __ATOMIC_RELAXED);
}

static void *toggler(void *arg)
{
	unsigned *stop = arg;

	struct timespec ts = { 0, 20000 };

	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&d_lock);
		nanosleep(&ts, NULL);
		pthread_mutex_unlock(&d_lock);
		sched_yield();
	}
	return NULL;
}

static void direct(bool ring)
{
	struct be_foreign_direct d = {
		.lock = &d_lock, .after = d_after_fn, .wake = d_wake_fn, .arg = &d_lock,
	};
	struct producer p = { .first = 0, .n = N, .pause_every = 0 };
	struct producer slow = { .first = 0, .n = N, .pause_every = 20 };
	struct be_engine *eng, *lender;
	unsigned stop = 0, polled = 0;
	pthread_t th, tt;

	if (!ring)
		setenv("CXLFLASH_NO_URING", "1", 1);
	T_EQ(be_engine_create(&eng, 16), 0);
	T_EQ(be_engine_create(&lender, 16), 0);
	unsetenv("CXLFLASH_NO_URING");
	T_EQ(be_engine_set_foreign_direct(eng, &d), 0);
	p.eng = eng;
	slow.eng = eng;

	/* Lock free: every completion on the producer's thread, then after. */
	reset();
	d_after = d_wakes = 0;
	for (unsigned i = 0; i < N; i++)
		T_EQ(be_engine_foreign_begin(eng), 0);
	T_EQ(pthread_create(&th, NULL, produce, &p), 0);
	T_EQ(pthread_join(th, NULL), 0);
	T_EQ(be_engine_inflight(eng), 0);
	T_EQ(d_after, N);
	T_EQ(d_wakes, 0);
	T_ASSERT(!be_engine_foreign_pending(eng));
	for (unsigned i = 0; i < N; i++) {
		T_EQ(items[i].done, 1);
		T_ASSERT(pthread_equal(items[i].thread, th));
	}

	/* Lock held: queued with a wake each, reaped by a holder. */
	reset();
	d_after = d_wakes = 0;
	pthread_mutex_lock(&d_lock);
	for (unsigned i = 0; i < N; i++)
		T_EQ(be_engine_foreign_begin(eng), 0);
	T_EQ(pthread_create(&th, NULL, produce, &p), 0);
	T_EQ(pthread_join(th, NULL), 0);
	T_EQ(d_wakes, N);
	T_EQ(be_engine_inflight(eng), N);
	T_ASSERT(be_engine_foreign_pending(eng));
	T_EQ(be_engine_foreign_poll(eng, 10), 10);
	T_EQ(be_engine_foreign_poll(eng, 0), N - 10);
	pthread_mutex_unlock(&d_lock);
	T_EQ(d_after, 0);
	T_EQ(be_engine_inflight(eng), 0);
	T_ASSERT(!be_engine_foreign_pending(eng));
	for (unsigned i = 0; i < N; i++) {
		T_EQ(items[i].done, 1);
		T_ASSERT(pthread_equal(items[i].thread, pthread_self()));
		T_EQ(order[i], i);
	}

	/* no_direct: queued even with the lock free; be_engine_poll reaps. */
	reset();
	d_after = d_wakes = 0;
	items[0].f.no_direct = true;
	T_EQ(be_engine_foreign_begin(eng), 0);
	be_engine_foreign_done(eng, &items[0].f);
	T_EQ(d_wakes, 1);
	T_EQ(items[0].done, 0);
	T_EQ(be_engine_wait(eng, 10000000), 1);
	pthread_mutex_lock(&d_lock);
	T_EQ(be_engine_poll(eng, 0), 1);
	pthread_mutex_unlock(&d_lock);
	T_EQ(items[0].done, 1);

	/* Both ways at once: another thread takes and drops the lock. */
	reset();
	d_after = d_wakes = 0;
	for (unsigned i = 0; i < N; i++)
		T_EQ(be_engine_foreign_begin(eng), 0);
	T_EQ(pthread_create(&tt, NULL, toggler, &stop), 0);
	T_EQ(pthread_create(&th, NULL, produce, &slow), 0);
	T_EQ(pthread_join(th, NULL), 0);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	T_EQ(pthread_join(tt, NULL), 0);
	pthread_mutex_lock(&d_lock);
	polled = be_engine_foreign_poll(eng, 0);
	pthread_mutex_unlock(&d_lock);
	fprintf(stderr, "   both ways: %u direct, %u queued\n", d_after, d_wakes);
	T_EQ(d_after + d_wakes, N);
	T_EQ(polled, d_wakes);
	T_EQ(be_engine_inflight(eng), 0);
	for (unsigned i = 0; i < N; i++)
		T_EQ(items[i].done, 1);

	/* A lender: its requests are counted on the home engine. */
	T_ASSERT(be_engine_foreign_home(lender) == lender);
	be_engine_set_foreign_home(lender, eng);
	T_ASSERT(be_engine_foreign_home(lender) == eng);
	T_EQ(be_engine_foreign_begin(be_engine_foreign_home(lender)), 0);
	T_EQ(be_engine_inflight(lender), 0);
	T_EQ(be_engine_inflight(eng), 1);
	T_EQ(be_engine_ring_inflight(eng), 0);
	reset();
	be_engine_foreign_done(be_engine_foreign_home(lender), &items[0].f);
	T_EQ(items[0].done, 1);
	T_EQ(be_engine_inflight(eng), 0);
	be_engine_set_foreign_home(lender, NULL);
	T_ASSERT(be_engine_foreign_home(lender) == lender);

	be_engine_destroy(lender);
	be_engine_destroy(eng);
}

static void run_all(bool ring)
{
	struct be_engine *eng;

	if (!ring)
		setenv("CXLFLASH_NO_URING", "1", 1);
	T_EQ(be_engine_create(&eng, 16), 0);
	unsetenv("CXLFLASH_NO_URING");
	fprintf(stderr, "-- %s\n", ring ? (be_engine_is_sync(eng) ? "io_uring unavailable: no ring"
							      : "io_uring engine")
				     : "engine without a ring");
	one_engine(eng);
	two_producers(eng);
	destroy_waits(eng);
	direct(ring);
}

int main(void)
{
	run_all(true);
	run_all(false);
	return T_PASS;
}
