/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.h - CLOCK_MONOTONIC in nanoseconds, for spin budgets and deadlines.
 */
#ifndef CXLFLASH_UTIL_CLOCK_H
#define CXLFLASH_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* CXLFLASH_UTIL_CLOCK_H */
