/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: an engine's wait ends for what its owner watches while a
 * ring request stays in flight (a read of an empty pipe stands for a slow
 * device): be_engine_watch()'s FUTEX_WAITV request fires on a wake-up of
 * a watched word from another thread, at once when a value changed before
 * the wait, and for its cancel; it stays armed across waits that end for
 * other reasons, and none of its completions counts as a request's.
 * be_engine_wait_tick() ends at its tick and arms one timer for many
 * waits. The request completes with its data once the pipe is written.
 * be_engine_sleep_watch() watches more words than one FUTEX_WAITV takes
 * (a sleeping AFU worker with many contexts): a wake-up of a word in its
 * third request ends it, as a stale value does at once; it times out with
 * nothing woken; none of its requests is left in the ring after it.
 * Skips where the kernel has no io_uring or no FUTEX_WAITV request.
 */
#include "t_util.h"
#include "backend/engine_internal.h"
#include "util/futex2.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint32_t word;
static int pipefd[2];
static char rbuf[16];
static int read_res = 1;

/* The pipe read's completion (a FLUSH to be_file_complete: only the
 * callback runs). */
static void read_done(struct be_io *io, int res)
{
	(void)io;
	read_res = res;
}

static struct be_io pipe_io = { .op = BE_OP_FLUSH, .cb = read_done };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *waker(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000 };

	(void)arg;
	nanosleep(&ts, NULL);
	__atomic_fetch_add(&word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

#define SLEEP_WORDS 300u
static uint32_t others[SLEEP_WORDS];
static struct futex_waitv swv[SLEEP_WORDS];

/* swv: SLEEP_WORDS words, @word at index 250 (in the third request). */
static void sleep_words(uint32_t val)
{
	for (unsigned i = 0; i < SLEEP_WORDS; i++) {
		memset(&swv[i], 0, sizeof(swv[i]));
		swv[i].uaddr = (uintptr_t)&others[i];
		swv[i].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
	}
	swv[250].uaddr = (uintptr_t)&word;
	swv[250].val = val;
}

/* be_engine_sleep_watch(), nothing in flight (the pipe read is done). */
static void test_sleep_watch(struct be_engine *eng)
{
	pthread_t t;
	double t0, dt;
	int rc;

	/* A wake-up of the word in the third request. */
	sleep_words(__atomic_load_n(&word, __ATOMIC_SEQ_CST));
	T_EQ(pthread_create(&t, NULL, waker, NULL), 0);
	t0 = now_s();
	rc = be_engine_sleep_watch(eng, swv, SLEEP_WORDS, 10 * 1000000);
	dt = now_s() - t0;
	pthread_join(t, NULL);
	fprintf(stderr, "-- sleep watch of %u words: woken after %.3f s (rc %d)\n", SLEEP_WORDS,
		dt, rc);
	T_EQ(rc, 1);
	T_ASSERT(dt >= 0.04 && dt < 5.0);
	T_EQ(eng->swatch_mask, 0u);
	T_EQ(eng->swatch_cancel, 0u);
	T_EQ(eng->queued, 0u);
	T_ASSERT(!io_uring_cq_ready(&eng->ring));

	/* A value changed before the sleep: at once. */
	sleep_words(__atomic_load_n(&word, __ATOMIC_SEQ_CST) + 1);
	t0 = now_s();
	rc = be_engine_sleep_watch(eng, swv, SLEEP_WORDS, 10 * 1000000);
	dt = now_s() - t0;
	T_EQ(rc, 1);
	T_ASSERT(dt < 1.0);
	T_EQ(eng->swatch_mask, 0u);

	/* Nothing woken: the timeout, and the requests cancelled after it. */
	sleep_words(__atomic_load_n(&word, __ATOMIC_SEQ_CST));
	t0 = now_s();
	rc = be_engine_sleep_watch(eng, swv, SLEEP_WORDS, 30000);
	dt = now_s() - t0;
	fprintf(stderr, "-- sleep watch: timed out after %.3f s (rc %d)\n", dt, rc);
	T_EQ(rc, 0);
	T_ASSERT(dt >= 0.025 && dt < 5.0);
	T_EQ(eng->swatch_mask, 0u);
	T_ASSERT(!io_uring_cq_ready(&eng->ring));

	/* Too many words, or none. */
	T_EQ(be_engine_sleep_watch(eng, swv, BE_SLEEP_WATCH_MAX + 1, 1000), -EINVAL);
	T_EQ(be_engine_sleep_watch(eng, swv, 0, 1000), -EINVAL);
}

static void watch_word(struct futex_waitv *wv, uint32_t val)
{
	memset(wv, 0, sizeof(*wv));
	wv->uaddr = (uintptr_t)&word;
	wv->val = val;
	wv->flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
}

int main(void)
{
	struct be_engine *eng;
	struct io_uring_sqe *sqe;
	struct futex_waitv wv;
	pthread_t t;
	double t0, dt;
	uint64_t due;
	int rc;

	T_EQ(be_engine_create(&eng, 16), 0);
	T_SKIP_IF(be_engine_is_sync(eng), "io_uring unavailable");
	T_EQ(pipe(pipefd), 0);

	/* A request that stays in flight until the pipe is written. */
	sqe = be_engine_get_sqe(eng);
	T_ASSERT(sqe != NULL);
	io_uring_prep_read(sqe, pipefd[0], rbuf, sizeof(rbuf), 0);
	io_uring_sqe_set_data(sqe, &pipe_io);
	T_EQ(be_engine_poll(eng, 0), 0);
	T_EQ(be_engine_ring_inflight(eng), 1u);

	/* The tick: each wait ends at it with the request still in flight. */
	for (int i = 0; i < 3; i++) {
		t0 = now_s();
		rc = be_engine_wait_tick(eng, 20000);
		dt = now_s() - t0;
		fprintf(stderr, "-- tick %d: wait ended after %.3f s (rc %d)\n", i, dt, rc);
		T_EQ(rc, 1);
		T_ASSERT(dt >= 0.015 && dt < 5.0);
		T_EQ(be_engine_poll(eng, 0), 0);
		T_ASSERT(!eng->tick_armed);
		T_ASSERT(!eng->tick_broken);
	}
	/* Probe: a watch armed with a stale value fires at once. */
	watch_word(&wv, word + 1);
	T_EQ(be_engine_watch(eng, &wv, 1), 0);
	T_ASSERT(be_engine_watch_armed(eng));
	t0 = now_s();
	rc = be_engine_wait_tick(eng, 10 * 1000000);
	dt = now_s() - t0;
	T_EQ(be_engine_poll(eng, 0), 0);
	if (!be_engine_watch_armed(eng) && eng->watch_broken) {
		fprintf(stderr, "-- no FUTEX_WAITV request on this kernel\n");
		close(pipefd[1]);
		T_EQ(be_engine_wait(eng, 1000000), 1);
		T_EQ(be_engine_poll(eng, 0), 1);
		be_engine_destroy(eng);
		return T_SKIP;
	}
	fprintf(stderr, "-- stale value: wait ended after %.3f s (rc %d)\n", dt, rc);
	T_EQ(rc, 1);
	T_ASSERT(dt < 1.0);
	T_ASSERT(!be_engine_watch_armed(eng));
	T_ASSERT(eng->tick_armed);
	due = eng->tick_due_ns;

	/* A wake-up from another thread ends a wait with no timeout; one
	 * tick serves many waits (the one armed above is kept). */
	watch_word(&wv, __atomic_load_n(&word, __ATOMIC_SEQ_CST));
	T_EQ(be_engine_watch(eng, &wv, 1), 0);
	T_EQ(pthread_create(&t, NULL, waker, NULL), 0);
	t0 = now_s();
	rc = be_engine_wait_tick(eng, 10 * 1000000);
	dt = now_s() - t0;
	pthread_join(t, NULL);
	fprintf(stderr, "-- woken after %.3f s (rc %d)\n", dt, rc);
	T_EQ(rc, 1);
	T_ASSERT(dt >= 0.04 && dt < 5.0);
	T_EQ(eng->tick_due_ns, due);
	T_EQ(be_engine_poll(eng, 0), 0);   /* the watch's completion is no request's */
	T_ASSERT(!be_engine_watch_armed(eng));
	T_EQ(be_engine_ring_inflight(eng), 1u);

	/* A watch stays armed across waits that end for other reasons. */
	watch_word(&wv, __atomic_load_n(&word, __ATOMIC_SEQ_CST));
	T_EQ(be_engine_watch(eng, &wv, 1), 0);
	for (int i = 0; i < 2; i++) {
		T_ASSERT(be_engine_wait(eng, 20000) >= 0);
		T_EQ(be_engine_poll(eng, 0), 0);
		T_ASSERT(be_engine_watch_armed(eng));
	}

	/* Cancelling the watch ends the wait it is in. */
	T_EQ(be_engine_watch_cancel(eng), 1);
	T_EQ(be_engine_watch_cancel(eng), 1);   /* once in the ring is enough */
	t0 = now_s();
	rc = be_engine_wait(eng, BE_WAIT_FOREVER);
	dt = now_s() - t0;
	T_EQ(rc, 1);
	T_ASSERT(dt < 5.0);
	T_EQ(be_engine_poll(eng, 0), 0);
	T_ASSERT(!be_engine_watch_armed(eng));
	T_ASSERT(!eng->watch_cancelled);
	T_ASSERT(!eng->watch_broken);

	/* The request itself. */
	T_EQ(write(pipefd[1], "data", 4), 4);
	T_EQ(be_engine_wait(eng, BE_WAIT_FOREVER), 1);
	T_EQ(be_engine_poll(eng, 0), 1);
	T_EQ(read_res, 0);
	T_EQ(memcmp(rbuf, "data", 4), 0);
	T_EQ(be_engine_ring_inflight(eng), 0u);

	/* With nothing in flight a wait returns at once. */
	T_EQ(be_engine_wait_tick(eng, 10 * 1000000), 0);
	test_sleep_watch(eng);
	be_engine_destroy(eng);
	close(pipefd[0]);
	close(pipefd[1]);
	return T_PASS;
}
