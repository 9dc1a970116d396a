/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine_internal.h - the per-thread io_uring engine as the file backend
 * sees it. One thread uses an engine at a time, so nothing here locks.
 */
#ifndef CXLFLASH_BACKEND_ENGINE_INTERNAL_H
#define CXLFLASH_BACKEND_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <liburing.h>

#include "backend/backend.h"

struct be_engine {
	struct io_uring ring;
	bool use_uring;     /* false: backends do synchronous I/O inside submit */
	unsigned depth;     /* SQ entries */
	unsigned inflight;  /* SQEs handed out and not yet reaped */
	unsigned queued;    /* SQEs prepared and not yet given to the kernel */
	bool defer_taskrun; /* completions wait until we enter the kernel */
	bool taskrun_flag;  /* ... and the kernel says when there are some */
	bool lazy_submit;   /* queued SQEs go in only with be_engine_wait() */
	/* be_engine_wait_tick(): a timeout request kept in the ring. */
	bool tick_armed;    /* in the ring (or queued), not yet reaped */
	bool tick_broken;   /* the kernel refused it: timed waits instead */
	struct __kernel_timespec tick_ts; /* read by the kernel at submission */
	uint64_t tick_due_ns;  /* when the armed one fires (now_ns) */
	/* be_engine_watch(): a FUTEX_WAITV request kept in the ring. */
	bool watch_armed;
	bool watch_cancelled; /* a cancel request for it is in the ring */
	bool watch_broken;  /* the kernel refused it: be_engine_watch() says no */
	/* be_engine_sleep_watch(): its FUTEX_WAITV requests, one bit each. */
	unsigned swatch_mask;   /* in the ring (or queued), not yet reaped */
	unsigned swatch_cancel; /* of those, a cancel is on its way */
	/* Foreign completions (below); efd is -1 until the first one. */
	int efd;                        /* eventfd other threads signal */
	bool efd_armed;                 /* a POLL_ADD on efd is in the ring */
	unsigned foreign_inflight;      /* begun, completion not yet run (atomic:
					 * direct completions drop it elsewhere) */
	unsigned foreign_begun;         /* ever begun (atomic) */
	struct be_engine *foreign_home; /* count and complete them there instead */
	struct be_foreign_direct direct; /* .lock NULL: always queued */
	struct be_foreign *foreign_head; /* pushed by other threads (atomic), newest first */
	struct be_foreign *foreign_ready; /* taken off it, oldest first (engine's thread) */
	unsigned foreign_signalling;    /* threads inside be_engine_foreign_done() (atomic) */
};

/* True when requests on @eng must run synchronously (no engine, no ring). */
static inline bool be_engine_is_sync(const struct be_engine *eng)
{
	return !eng || !eng->use_uring;
}

/*
 * be_engine_get_sqe() - an SQE to prepare, counted as queued and in flight.
 * The caller must fill it and set its user_data to the struct be_io; the
 * engine hands the CQE to be_file_complete(). When the SQ is full, what is
 * queued goes to the kernel first. Queued SQEs are submitted by
 * be_engine_poll() / be_engine_wait(). Return: NULL when no SQE can be had
 * (the caller then does the I/O synchronously).
 */
struct io_uring_sqe *be_engine_get_sqe(struct be_engine *eng);

/* Called by the engine for each CQE of a file request (file.c). */
void be_file_complete(struct be_engine *eng, struct be_io *io, int res);

/*
 * Foreign completions: requests that a library finishes on a thread of its
 * own (librbd's callbacks, rbd.c) complete on the engine's thread, with no
 * thread per request. The backend embeds a struct be_foreign in its
 * per-request state and:
 *   1. on the engine's thread, calls be_engine_foreign_begin() before it
 *      starts the request: from then on be_engine_inflight() counts it, so
 *      the caller waits on the engine rather than sleeping;
 *   2. on any thread, when the library says the request is done, calls
 *      be_engine_foreign_done(): the request goes on a lock-free list and an
 *      eventfd is signalled, which be_engine_wait() sleeps on (a POLL_ADD in
 *      the ring, or poll(2) without one);
 *   3. be_engine_poll() then runs @complete on the engine's thread, after
 *      the request stopped counting as in flight. @complete may begin more
 *      foreign requests (a FUA write's flush) or do anything a be_io
 *      callback may.
 * Works on an engine without io_uring too. Between begin and done the
 * engine must not be destroyed (be_engine_destroy() waits for them).
 * On an engine with direct completions (be_engine_set_foreign_direct),
 * step 2 runs @complete on the finishing thread itself when it can take
 * the owner's lock (unless @no_direct), and steps 1-3 may happen on any
 * thread holding that lock; an inline runner's engine begins them on its
 * home (be_engine_foreign_home).
 */
struct be_foreign {
	struct be_foreign *next;                 /* the engine's */
	void (*complete)(struct be_foreign *f);  /* runs on the engine's thread */
	bool no_direct;     /* @complete starts more requests: never run it on the
			     * library's thread (be_engine_set_foreign_direct) */
};

/*
 * The engine a foreign request begun on @eng belongs to: @eng, or the home
 * an inline runner's engine lends them to (be_engine_set_foreign_home).
 * The backend begins, cancels and hands back the request on that engine.
 */
static inline struct be_engine *be_engine_foreign_home(struct be_engine *eng)
{
	return eng && eng->foreign_home ? eng->foreign_home : eng;
}

/* Count one foreign request in flight on @eng (engine's thread).
 * Return: 0, or a negative errno when no eventfd could be had (then
 * nothing is counted and the caller completes the request itself). */
int be_engine_foreign_begin(struct be_engine *eng);

/* Undo a begin whose request never started (engine's thread). */
void be_engine_foreign_cancel(struct be_engine *eng);

/* Hand @f, begun on @eng, back to @eng from any thread. Never blocks. */
void be_engine_foreign_done(struct be_engine *eng, struct be_foreign *f);

#endif /* CXLFLASH_BACKEND_ENGINE_INTERNAL_H */
