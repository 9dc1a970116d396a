/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the engine's foreign completions (engine_internal.h), which
 * the rbd backend uses, without Ceph: requests finished on another thread
 * run their completion on the engine's thread, oldest first, once each;
 * be_engine_inflight() counts them from begin to completion;
 * be_engine_wait() wakes for them (never by its timeout) on an io_uring
 * engine and on one without a ring; be_engine_poll()'s @max is honoured;
 * a cancelled begin is uncounted; destroy waits for what is in flight.
 */
#include "t_util.h"
#include "backend/engine_internal.h"

#include <pthread.h>
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
}

int main(void)
{
	run_all(true);
	run_all(false);
	return T_PASS;
}
