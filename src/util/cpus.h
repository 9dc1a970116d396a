/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpus.h - how many CPUs, and the AFU's default worker count that follows
 * from it: the AFU (afu/ctx.c) starts that many workers when
 * CXLFLASH_AFU_THREADS is unset, and the key/value store (kv/dev.c), which
 * sees the AFU only through the block library, opens as many read chunks.
 */
#ifndef CXLFLASH_UTIL_CPUS_H
#define CXLFLASH_UTIL_CPUS_H

#include <unistd.h>

/* Most AFU workers by default: one per CPU up to this. */
#define AFU_DEFAULT_WORKERS_MAX 4u

/* Online CPUs, at least 1. */
static inline unsigned cpus_online(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1u : (unsigned)n;
}

/*
 * One AFU worker per CPU, at most AFU_DEFAULT_WORKERS_MAX: contexts go to
 * the least loaded worker, so two busy contexts run their passes on two
 * CPUs (a worker's passes are one at a time, whether its thread or a caller
 * running them inline has them). A worker without contexts sleeps.
 */
static inline unsigned afu_default_workers(void)
{
	unsigned n = cpus_online();

	return n > AFU_DEFAULT_WORKERS_MAX ? AFU_DEFAULT_WORKERS_MAX : n;
}

#endif
