/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine.c - the per-thread I/O engine: one io_uring that file backends
 * queue SQEs on, submitted in batches and reaped by be_engine_poll(). Where
 * io_uring cannot be used (disabled, seccomp, CXLFLASH_NO_URING=1) the
 * engine is a shell and the file backend does pread/pwrite inside submit.
 * Requests that other threads finish (librbd's) come back through the
 * engine's "foreign completions" (engine_internal.h): a list and an eventfd,
 * or, on an engine set up for it, completed on the finishing thread under
 * the owner's lock (be_engine_set_foreign_direct, backend.h).
 */
#include "backend/engine_internal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/futex2.h"
#include "util/tsan.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define ENGINE_DEFAULT_DEPTH 128u
#define ENGINE_MAX_DEPTH     4096u
#define REAP_BATCH           32u
/* user_data of the POLL_ADD on the foreign-completion eventfd; never a
 * struct be_io pointer. */
#define ENGINE_UDATA_FOREIGN 1ull
/* user_data of be_engine_wait_tick()'s timeout request. */
#define ENGINE_UDATA_TICK    2ull
/* user_data of be_engine_watch()'s FUTEX_WAITV request. */
#define ENGINE_UDATA_WATCH   3ull
/* user_data of the request cancelling it (its completion is ignored). */
#define ENGINE_UDATA_CANCEL  4ull
/* user_data of be_engine_sleep_watch()'s requests: BASE + their index. */
#define ENGINE_UDATA_SWATCH  16ull
/* Words one FUTEX_WAITV takes (futex_waitv(2)'s FUTEX_WAITV_MAX). */
#define ENGINE_WAITV_WORDS   FUTEX_WAITV_MAX
/* Not in liburing 2.3's header (Linux 6.7's uapi value). */
#define ENGINE_OP_FUTEX_WAITV 53

/* Everything in flight: ring requests and foreign ones. */
static unsigned foreign_count(const struct be_engine *eng)
{
	return __atomic_load_n(&eng->foreign_inflight, __ATOMIC_RELAXED);
}

static unsigned total_inflight(const struct be_engine *eng)
{
	return eng->inflight + foreign_count(eng);
}

/*
 * ring_tsan() - liburing maps and unmaps a ring's memory with raw system
 * calls, which ThreadSanitizer does not see: when one thread's ring is torn
 * down and another's is mapped at the same address, TSan takes the new
 * ring's accesses for races with the old one's. The kernel orders the two
 * (the munmap before the mmap that reuses the range); say so, page by
 * page: released before the exit (@unmapping), acquired after the setup.
 */
static void ring_tsan(struct be_engine *eng, bool unmapping)
{
	const struct io_uring *r = &eng->ring;
	const void *p[3] = { r->sq.ring_ptr, r->cq.ring_ptr, r->sq.sqes };
	size_t len[3] = { r->sq.ring_sz, r->cq.ring_sz,
			  r->sq.ring_entries * sizeof(struct io_uring_sqe) };

	for (int i = 0; i < 3; i++) {
		if (unmapping)
			tsan_release_pages(p[i], len[i]);
		else
			tsan_acquire_pages(p[i], len[i]);
	}
}

int be_engine_create(struct be_engine **out, unsigned depth)
{
	static int warned;
	struct io_uring_params p;
	struct be_engine *eng;
	const char *env = getenv("CXLFLASH_NO_URING");
	int ret;

	*out = NULL;
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	if (depth == 0)
		depth = ENGINE_DEFAULT_DEPTH;
	if (depth > ENGINE_MAX_DEPTH)
		depth = ENGINE_MAX_DEPTH;
	eng->depth = depth;
	eng->efd = -1;

	if (env && !strcmp(env, "1")) {
		log_info("CXLFLASH_NO_URING=1: file I/O uses pread/pwrite");
		*out = eng;
		return 0;
	}

	/* A roomy CQ: the kernel keeps overflowing CQEs, but that path is slow.
	 * One thread submits and reaps, so completion work can wait until it
	 * asks (DEFER_TASKRUN) instead of interrupting it, and TASKRUN_FLAG
	 * says in the SQ ring when there is such work, so a polling worker
	 * enters the kernel only then; older kernels refuse those flags and
	 * get the plain ring. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_TASKRUN_FLAG;
	p.cq_entries = depth * 4;
	ret = io_uring_queue_init_params(depth, &eng->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN;
		p.cq_entries = depth * 4;
		ret = io_uring_queue_init_params(depth, &eng->ring, &p);
	}
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = depth * 4;
		ret = io_uring_queue_init_params(depth, &eng->ring, &p);
	}
	if (ret == -EINVAL)
		ret = io_uring_queue_init(depth, &eng->ring, 0);
	eng->defer_taskrun = ret == 0 && (p.flags & IORING_SETUP_DEFER_TASKRUN);
	eng->taskrun_flag = eng->defer_taskrun && (p.flags & IORING_SETUP_TASKRUN_FLAG);
	if (ret < 0) {
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			log_warn("io_uring unavailable (%s); file I/O uses pread/pwrite",
				 strerror(-ret));
		*out = eng;
		return 0;
	}
	eng->use_uring = true;
	ring_tsan(eng, false);
	*out = eng;
	return 0;
}

static int engine_submit(struct be_engine *eng)
{
	int ret;

	if (!eng->queued) {
		/* Deferred completions run only when we enter the kernel; with
		 * TASKRUN_FLAG only when the kernel has flagged some. */
		if (eng->defer_taskrun &&
		    (eng->inflight || eng->efd_armed || eng->tick_armed || eng->watch_armed) &&
		    !io_uring_cq_ready(&eng->ring) &&
		    (!eng->taskrun_flag ||
		     (IO_URING_READ_ONCE(*eng->ring.sq.kflags) & IORING_SQ_TASKRUN)))
			io_uring_get_events(&eng->ring);
		return 0;
	}
	ret = eng->defer_taskrun ? io_uring_submit_and_get_events(&eng->ring)
				 : io_uring_submit(&eng->ring);
	/* What the kernel did not take stays in the SQ for next time. */
	eng->queued = io_uring_sq_ready(&eng->ring);
	if (ret == -EAGAIN || ret == -EBUSY || ret == -EINTR)
		return 0;
	return ret < 0 ? ret : 0;
}

struct io_uring_sqe *be_engine_get_sqe(struct be_engine *eng)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&eng->ring);

	if (!sqe) {
		engine_submit(eng);
		sqe = io_uring_get_sqe(&eng->ring);
		if (!sqe)
			return NULL;
	}
	eng->queued++;
	eng->inflight++;
	return sqe;
}

/* ---- foreign completions (engine_internal.h) ---- */

static int efd_make(struct be_engine *eng)
{
	if (eng->efd < 0) {
		eng->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (eng->efd < 0) {
			int err = errno;

			log_err("io engine: no eventfd for foreign completions: %s", strerror(err));
			return -err;
		}
	}
	return 0;
}

int be_engine_foreign_begin(struct be_engine *eng)
{
	int rc = efd_make(eng);

	if (rc)
		return rc;
	__atomic_add_fetch(&eng->foreign_inflight, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&eng->foreign_begun, 1, __ATOMIC_RELAXED);
	return 0;
}

void be_engine_foreign_cancel(struct be_engine *eng)
{
	__atomic_sub_fetch(&eng->foreign_inflight, 1, __ATOMIC_RELAXED);
}

int be_engine_set_foreign_direct(struct be_engine *eng, const struct be_foreign_direct *d)
{
	/* Made now: a lender's thread begins requests here while the owner
	 * may be in be_engine_wait(), which reads efd. */
	int rc = efd_make(eng);

	if (!rc)
		eng->direct = *d;
	return rc;
}

void be_engine_set_foreign_home(struct be_engine *eng, struct be_engine *home)
{
	eng->foreign_home = home == eng ? NULL : home;
}

unsigned be_engine_foreign_begun(const struct be_engine *eng)
{
	return __atomic_load_n(&eng->foreign_begun, __ATOMIC_RELAXED);
}

bool be_engine_foreign_pending(const struct be_engine *eng)
{
	return __atomic_load_n(&eng->foreign_ready, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&eng->foreign_head, __ATOMIC_SEQ_CST);
}

void be_engine_foreign_done(struct be_engine *eng, struct be_foreign *f)
{
	struct be_foreign *head;
	uint64_t one = 1;
	ssize_t r;

	/* Counted until the eventfd write: once @f is pushed the engine may
	 * reap it and be destroyed, and destroy waits for this to fall to 0. */
	__atomic_add_fetch(&eng->foreign_signalling, 1, __ATOMIC_ACQ_REL);
	if (eng->direct.lock && !f->no_direct && pthread_mutex_trylock(eng->direct.lock) == 0) {
		/* Nobody runs the engine's passes: complete it here, with no
		 * thread woken for it (be_engine_set_foreign_direct). */
		__atomic_sub_fetch(&eng->foreign_inflight, 1, __ATOMIC_RELAXED);
		f->complete(f);
		eng->direct.after(eng->direct.arg);
		pthread_mutex_unlock(eng->direct.lock);
		if (eng->direct.unlocked)
			eng->direct.unlocked(eng->direct.arg);
		__atomic_sub_fetch(&eng->foreign_signalling, 1, __ATOMIC_RELEASE);
		return;
	}
	head = __atomic_load_n(&eng->foreign_head, __ATOMIC_RELAXED);
	do {
		f->next = head;
	} while (!__atomic_compare_exchange_n(&eng->foreign_head, &head, f, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	if (eng->direct.mine && eng->direct.mine(eng->direct.arg)) {
		/* Finished inside its submission: this thread's pass runs it. */
		__atomic_sub_fetch(&eng->foreign_signalling, 1, __ATOMIC_RELEASE);
		return;
	}
	/* After the push: a waiter that found the list empty wakes up. An
	 * eventfd write fails only when its counter would overflow, and then
	 * it is readable anyway. */
	do
		r = write(eng->efd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
	if (eng->direct.wake)
		eng->direct.wake(eng->direct.arg);
	__atomic_sub_fetch(&eng->foreign_signalling, 1, __ATOMIC_RELEASE);
}

/* Reset the eventfd (the list is looked at directly; this only stops
 * be_engine_wait() from waking again for pushes already seen). */
static void efd_drain(struct be_engine *eng)
{
	uint64_t v;

	if (eng->efd >= 0 && read(eng->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to reset */
	}
}

/* Run up to @max (0: all) foreign completions, oldest first. Return: how many. */
static unsigned foreign_reap(struct be_engine *eng, unsigned max)
{
	struct be_foreign *f;
	unsigned n = 0;

	if (!eng->foreign_ready && __atomic_load_n(&eng->foreign_head, __ATOMIC_RELAXED)) {
		/* Pushed newest first: reverse into the ready list. */
		struct be_foreign *list = __atomic_exchange_n(&eng->foreign_head, NULL,
							      __ATOMIC_ACQUIRE), *next;

		while (list) {
			next = list->next;
			list->next = eng->foreign_ready;
			__atomic_store_n(&eng->foreign_ready, list, __ATOMIC_RELAXED);
			list = next;
		}
	}
	/* foreign_ready is stored atomically only for be_engine_foreign_pending()
	 * from outside the lock (a hint); it changes only here. */
	while ((f = eng->foreign_ready) && (!max || n < max)) {
		__atomic_store_n(&eng->foreign_ready, f->next, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&eng->foreign_inflight, 1, __ATOMIC_RELAXED);
		n++;
		f->complete(f);
	}
	return n;
}

unsigned be_engine_foreign_poll(struct be_engine *eng, unsigned max)
{
	return eng ? foreign_reap(eng, max) : 0;
}

/* Keep a POLL_ADD on the eventfd in the ring while foreign requests are in
 * flight, so waiting for a CQE also wakes for them. */
static void foreign_arm(struct be_engine *eng)
{
	struct io_uring_sqe *sqe;

	if (eng->efd_armed)
		return;
	sqe = io_uring_get_sqe(&eng->ring);
	if (!sqe) {
		engine_submit(eng);
		sqe = io_uring_get_sqe(&eng->ring);
		if (!sqe)
			return;  /* the wait times out and the next pass tries again */
	}
	io_uring_prep_poll_add(sqe, eng->efd, POLLIN);
	io_uring_sqe_set_data64(sqe, ENGINE_UDATA_FOREIGN);
	eng->queued++;
	eng->efd_armed = true;
}

/* be_engine_wait() on an engine without a ring: poll(2) the eventfd. */
static int foreign_wait(struct be_engine *eng, unsigned timeout_us)
{
	struct pollfd pfd = { .fd = eng->efd, .events = POLLIN };
	int ret;

	if (!timeout_us)
		return 0;
	ret = poll(&pfd, 1, (int)((timeout_us + 999) / 1000));
	if (ret <= 0)
		return ret < 0 && errno != EINTR ? -errno : 0;
	efd_drain(eng);
	return 1;
}

void be_engine_destroy(struct be_engine *eng)
{
	if (!eng)
		return;
	/* The kernel or another library may still be writing into request
	 * buffers: let every request finish and its callback run first. */
	while (total_inflight(eng)) {
		if (be_engine_wait(eng, 100000) < 0 || be_engine_poll(eng, 0) < 0)
			break;
	}
	if (total_inflight(eng))
		log_err("io engine destroyed with %u requests in flight", total_inflight(eng));
	/* A thread that handed back the last request may still be signalling. */
	while (__atomic_load_n(&eng->foreign_signalling, __ATOMIC_ACQUIRE))
		sched_yield();
	if (eng->use_uring) {
		ring_tsan(eng, true);
		io_uring_queue_exit(&eng->ring);
	}
	if (eng->efd >= 0)
		close(eng->efd);
	free(eng);
}

/* A FUTEX_WAITV request of the engine's ended with @res: anything but a
 * wake-up, a changed value (-EAGAIN), a cancel or a signal means the kernel
 * cannot watch futexes in the ring. */
static void watch_result(struct be_engine *eng, int res)
{
	if (res < 0 && res != -EAGAIN && res != -ECANCELED && res != -EINTR &&
	    !eng->watch_broken) {
		log_info("io_uring FUTEX_WAITV unavailable (%s)", strerror(-res));
		eng->watch_broken = true;
	}
}

/*
 * A completion of the engine's own requests (the foreign eventfd's poll,
 * the tick, the watch, a cancel; liburing's timeout on kernels without
 * EXT_ARG). Return: -1 when @data is a request's, 1 when a waiter should
 * look (the watch fired), 0 otherwise.
 */
static int own_complete(struct be_engine *eng, uint64_t data, int res)
{
	switch (data) {
	case LIBURING_UDATA_TIMEOUT:
	case ENGINE_UDATA_CANCEL:
		return 0;
	case ENGINE_UDATA_FOREIGN:
		eng->efd_armed = false;
		efd_drain(eng);
		return 0;
	case ENGINE_UDATA_TICK:
		eng->tick_armed = false;
		if (res != -ETIME && res != -ECANCELED && !eng->tick_broken) {
			log_warn("io_uring timeout request failed (%s): timed waits instead",
				 strerror(-res));
			eng->tick_broken = true;
		}
		return 0;
	case ENGINE_UDATA_WATCH:
		eng->watch_armed = false;
		eng->watch_cancelled = false;
		watch_result(eng, res);
		return 1;
	default:
		if (data >= ENGINE_UDATA_SWATCH &&
		    data < ENGINE_UDATA_SWATCH + BE_SLEEP_WATCH_MAX / ENGINE_WAITV_WORDS) {
			eng->swatch_mask &= ~(1u << (data - ENGINE_UDATA_SWATCH));
			watch_result(eng, res);
			return 1;
		}
		return -1;
	}
}

bool be_engine_reap_own(struct be_engine *eng)
{
	struct io_uring_cqe *cqe;
	bool look = false;
	int r;

	if (!eng || !eng->use_uring)
		return false;
	while (io_uring_peek_cqe(&eng->ring, &cqe) == 0 && cqe) {
		r = own_complete(eng, cqe->user_data, cqe->res);
		if (r < 0)
			break;
		io_uring_cqe_seen(&eng->ring, cqe);
		look |= r > 0;
	}
	return look;
}

/* @max 0 means no limit. */
int be_engine_poll(struct be_engine *eng, unsigned max)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	struct { uint64_t data; int res; } done[REAP_BATCH];
	unsigned reaped = 0;
	int ret;

	if (!eng)
		return 0;
	if (!eng->use_uring)
		return (int)foreign_reap(eng, max);
	ret = eng->lazy_submit ? 0 : engine_submit(eng);
	if (ret < 0)
		return ret;
	for (;;) {
		unsigned want = REAP_BATCH, n, i;

		if (max && max - reaped < want)
			want = max - reaped;
		if (!want)
			break;
		n = io_uring_peek_batch_cqe(&eng->ring, cqes, want);
		if (!n)
			break;
		/* Release the CQ slots before running callbacks: a callback may
		 * queue more I/O or even poll again. */
		for (i = 0; i < n; i++) {
			done[i].data = cqes[i]->user_data;
			done[i].res = cqes[i]->res;
		}
		io_uring_cq_advance(&eng->ring, n);
		for (i = 0; i < n; i++) {
			if (own_complete(eng, done[i].data, done[i].res) >= 0)
				continue;
			eng->inflight--;
			reaped++;
			be_file_complete(eng, (struct be_io *)(uintptr_t)done[i].data, done[i].res);
		}
	}
	if (foreign_count(eng) && (!max || reaped < max))
		reaped += foreign_reap(eng, max ? max - reaped : 0);
	/* Resubmissions made by the completions above go out now. */
	ret = eng->lazy_submit ? 0 : engine_submit(eng);
	if (ret < 0)
		return ret;
	return (int)reaped;
}

void be_engine_set_lazy_submit(struct be_engine *eng, bool on)
{
	eng->lazy_submit = on;
}

unsigned be_engine_inflight(const struct be_engine *eng)
{
	return eng ? total_inflight(eng) : 0;
}

unsigned be_engine_foreign_inflight(const struct be_engine *eng)
{
	return eng ? foreign_count(eng) : 0;
}

unsigned be_engine_ring_inflight(const struct be_engine *eng)
{
	return eng ? eng->inflight : 0;
}

/* After a submit-and-wait enter that returned @ret: what the kernel did not
 * take stays queued; be_engine_wait()'s return. */
static int submitted_wait(struct be_engine *eng, int ret)
{
	eng->queued = io_uring_sq_ready(&eng->ring);
	if (ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
		return 0;
	return ret < 0 ? ret : 1;
}

/* Return: 1 when a completion is ready, 0 on timeout or with nothing in
 * flight, or a negative errno. The completion is left for be_engine_poll(). */
int be_engine_wait(struct be_engine *eng, unsigned timeout_us)
{
	struct io_uring_cqe *cqe = NULL;
	int ret;

	if (!eng || !total_inflight(eng))
		return 0;
	if (be_engine_reap_own(eng))
		return 1;
	/* A foreign completion comes through the eventfd: with foreign
	 * requests in flight, look at both every millisecond. */
	if (timeout_us == BE_WAIT_FOREVER && foreign_count(eng))
		timeout_us = 1000;

	bool forever = timeout_us == BE_WAIT_FOREVER;
	struct __kernel_timespec ts = {
		.tv_sec = timeout_us / 1000000u,
		.tv_nsec = (long long)(timeout_us % 1000000u) * 1000,
	};

	if (foreign_count(eng)) {
		if (__atomic_load_n(&eng->foreign_ready, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&eng->foreign_head, __ATOMIC_ACQUIRE))
			return 1;
		if (!eng->use_uring)
			return foreign_wait(eng, timeout_us);
		foreign_arm(eng);
	}
	if (eng->queued && timeout_us && !io_uring_cq_ready(&eng->ring)) {
		/* Submit and wait in one enter (lazy submitters). */
		if (forever)
			ret = io_uring_submit_and_wait(&eng->ring, 1);
		else
			ret = io_uring_submit_and_wait_timeout(&eng->ring, &cqe, 1, &ts, NULL);
		return submitted_wait(eng, ret);
	}
	ret = engine_submit(eng);
	if (ret < 0)
		return ret;
	if (io_uring_cq_ready(&eng->ring))
		return 1;
	if (!timeout_us)
		return 0;
	ret = forever ? io_uring_wait_cqe(&eng->ring, &cqe)
		      : io_uring_wait_cqe_timeout(&eng->ring, &cqe, &ts);
	if (ret == -ETIME || ret == -EINTR || ret == -EAGAIN)
		return 0;
	if (ret < 0)
		return ret;
	return 1;
}

int be_engine_wait_all(struct be_engine *eng)
{
	if (!eng || !eng->use_uring || foreign_count(eng) || eng->inflight <= 1 ||
	    eng->efd_armed || eng->tick_armed || eng->watch_armed)
		return be_engine_wait(eng, BE_WAIT_FOREVER);
	if (be_engine_reap_own(eng))
		return 1;
	/* The CQ counts what is posted and not yet reaped: all of inflight. */
	return submitted_wait(eng, io_uring_submit_and_wait(&eng->ring, eng->inflight));
}

/* Put the tick's timeout request in the SQ unless one is in the ring that
 * fires no later than @tick_us from now. Return: false when none could be
 * (the SQ full, the kernel refused one before, or the armed one is due
 * later). */
static bool tick_arm(struct be_engine *eng, unsigned tick_us)
{
	struct io_uring_sqe *sqe;
	uint64_t due = now_ns() + (uint64_t)tick_us * 1000;

	if (eng->tick_armed)
		return eng->tick_due_ns <= due;
	if (eng->tick_broken)
		return false;
	sqe = io_uring_get_sqe(&eng->ring);
	if (!sqe)
		return false;
	eng->tick_ts.tv_sec = tick_us / 1000000u;
	eng->tick_ts.tv_nsec = (long long)(tick_us % 1000000u) * 1000;
	io_uring_prep_timeout(sqe, &eng->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, ENGINE_UDATA_TICK);
	eng->queued++;
	eng->tick_armed = true;
	eng->tick_due_ns = due;
	return true;
}

int be_engine_wait_tick(struct be_engine *eng, unsigned tick_us)
{
	if (!eng || !eng->use_uring || !eng->inflight || foreign_count(eng) ||
	    tick_us == BE_WAIT_FOREVER || !tick_arm(eng, tick_us))
		return be_engine_wait(eng, tick_us);
	return be_engine_wait(eng, BE_WAIT_FOREVER);
}

int be_engine_watch(struct be_engine *eng, const void *futexv, unsigned n)
{
	struct io_uring_sqe *sqe;

	if (!eng || !eng->use_uring || eng->watch_broken)
		return -EOPNOTSUPP;
	if (eng->watch_armed)
		return 0;
	if (!futexv || !n)
		return -EINVAL;
	sqe = io_uring_get_sqe(&eng->ring);
	if (!sqe)
		return -EAGAIN;
	io_uring_prep_rw(ENGINE_OP_FUTEX_WAITV, sqe, 0, futexv, n, 0);
	io_uring_sqe_set_data64(sqe, ENGINE_UDATA_WATCH);
	eng->queued++;
	eng->watch_armed = true;
	return 0;
}

int be_engine_watch_cancel(struct be_engine *eng)
{
	struct io_uring_sqe *sqe;

	if (eng->watch_cancelled)
		return 1;
	sqe = io_uring_get_sqe(&eng->ring);
	if (!sqe)
		return -EAGAIN;
	io_uring_prep_cancel64(sqe, ENGINE_UDATA_WATCH, 0);
	io_uring_sqe_set_data64(sqe, ENGINE_UDATA_CANCEL);
	eng->queued++;
	eng->watch_cancelled = true;
	return 1;
}

/*
 * own_wait_step() - wait for an own request (a watch being cancelled) to
 * complete: submit what is queued, wait for a completion, reap the
 * engine's own. Return: 0, -EBUSY when a request's completion is at the
 * head of the CQ (its owner reaps it first), or a negative errno.
 */
static int own_wait_step(struct be_engine *eng)
{
	struct io_uring_cqe *cqe;
	int rc = io_uring_submit_and_wait(&eng->ring, 1);

	eng->queued = io_uring_sq_ready(&eng->ring);
	if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	be_engine_reap_own(eng);
	return io_uring_peek_cqe(&eng->ring, &cqe) == 0 && cqe ? -EBUSY : 0;
}

int be_engine_watch_drop(struct be_engine *eng)
{
	int rc;

	if (!eng || !eng->watch_armed)
		return 0;
	rc = be_engine_watch_cancel(eng);
	if (rc < 0)
		return rc;
	while (eng->watch_armed) {
		rc = own_wait_step(eng);
		if (rc && eng->watch_armed)
			return rc;
	}
	return 0;
}

bool be_engine_watch_armed(const struct be_engine *eng)
{
	return eng && eng->watch_armed;
}

/* swatch_settle() - cancel what is left of a sleep watch and wait until
 * every request of it is gone. Return: 0, -EBUSY when a request's
 * completion is at the head of the CQ (its owner reaps it first), or a
 * negative errno. */
static int swatch_settle(struct be_engine *eng)
{
	int rc;

	for (unsigned k = 0; k < BE_SLEEP_WATCH_MAX / ENGINE_WAITV_WORDS; k++) {
		struct io_uring_sqe *sqe;

		if (!(eng->swatch_mask & (1u << k)) || (eng->swatch_cancel & (1u << k)))
			continue;
		sqe = io_uring_get_sqe(&eng->ring);
		if (!sqe)
			break;   /* the SQ is full: submitted below, then again */
		io_uring_prep_cancel64(sqe, ENGINE_UDATA_SWATCH + k, 0);
		io_uring_sqe_set_data64(sqe, ENGINE_UDATA_CANCEL);
		eng->queued++;
		eng->swatch_cancel |= 1u << k;
	}
	while (eng->swatch_mask) {
		rc = own_wait_step(eng);
		eng->swatch_cancel &= eng->swatch_mask;
		if (rc && eng->swatch_mask)
			return rc;
		if (eng->swatch_mask & ~eng->swatch_cancel)
			return swatch_settle(eng);   /* cancels the SQ had no room for */
	}
	return 0;
}

int be_engine_sleep_watch(struct be_engine *eng, const void *futexv, unsigned n,
			  unsigned timeout_us)
{
	const struct futex_waitv *wv = futexv;
	struct __kernel_timespec ts = {
		.tv_sec = timeout_us / 1000000u,
		.tv_nsec = (long long)(timeout_us % 1000000u) * 1000,
	};
	struct io_uring_cqe *cqe = NULL;
	unsigned k, nreq;
	bool fired = false;
	int rc;

	if (!eng || !eng->use_uring || eng->watch_broken || eng->watch_armed)
		return -EOPNOTSUPP;
	if (!futexv || !n || n > BE_SLEEP_WATCH_MAX)
		return -EINVAL;
	/* A sleep watch left over (an earlier call returned -EBUSY). */
	rc = swatch_settle(eng);
	if (rc)
		return rc;
	nreq = (n + ENGINE_WAITV_WORDS - 1) / ENGINE_WAITV_WORDS;
	if (io_uring_sq_space_left(&eng->ring) < nreq)
		return -EAGAIN;
	for (k = 0; k < nreq; k++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&eng->ring);
		unsigned m = n - k * ENGINE_WAITV_WORDS;

		if (m > ENGINE_WAITV_WORDS)
			m = ENGINE_WAITV_WORDS;
		io_uring_prep_rw(ENGINE_OP_FUTEX_WAITV, sqe, 0, wv + k * ENGINE_WAITV_WORDS, m, 0);
		io_uring_sqe_set_data64(sqe, ENGINE_UDATA_SWATCH + k);
		eng->queued++;
		eng->swatch_mask |= 1u << k;
	}
	rc = io_uring_submit_and_wait_timeout(&eng->ring, &cqe, 1, &ts, NULL);
	eng->queued = io_uring_sq_ready(&eng->ring);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	fired = be_engine_reap_own(eng);
	rc = swatch_settle(eng);
	if (rc && rc != -EBUSY)
		return rc;
	if (eng->watch_broken)
		return -EOPNOTSUPP;
	return fired;
}
