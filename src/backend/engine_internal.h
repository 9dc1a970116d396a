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

#endif /* CXLFLASH_BACKEND_ENGINE_INTERNAL_H */
