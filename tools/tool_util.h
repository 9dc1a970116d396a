/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tool_util.h - small helpers the block tools share: a monotonic clock,
 * strict number parsing, and the checks that end option parsing.
 */
#ifndef CXLFLASH_TOOL_UTIL_H
#define CXLFLASH_TOOL_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util/clock.h"

static inline uint64_t tool_now_ns(void)
{
	return now_ns();
}

/* A decimal number in [min, max]; no sign, no trailing characters. */
static inline bool tool_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * tool_opt_uint() - tool_parse_uint() for the argument of option -@opt;
 * when it is not a number in [min, max], say so, with the range.
 */
static inline bool tool_opt_uint(const char *tool, int opt, const char *s, uint64_t min,
				 uint64_t max, uint64_t *out)
{
	if (tool_parse_uint(s, min, max, out))
		return true;
	fprintf(stderr, "%s: -%c %s: want a whole number from %llu to %llu\n", tool, opt, s,
		(unsigned long long)min, (unsigned long long)max);
	return false;
}

/*
 * tool_sched_times() - this process's threads' time on a CPU and time ready
 * to run but waiting for one (the kernel's /proc/self/task/N/schedstat),
 * in ns, summed. Waiting is what another busy process on the same CPUs
 * costs a measurement. Return: false when the kernel does not say.
 */
static inline bool tool_sched_times(uint64_t *run_ns, uint64_t *wait_ns)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool any = false;

	*run_ns = *wait_ns = 0;
	while (d && (e = readdir(d))) {
		char path[64];
		unsigned long long run, wait;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.20s/schedstat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
			*run_ns += run;
			*wait_ns += wait;
			any = true;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return any && *run_ns > 0;
}

/* After getopt: no stray arguments and a -d device. Return 0 or -1 (said why). */
static inline int tool_check_args(const char *tool, int argc, char **argv, int optind_,
				  const char *dev)
{
	if (optind_ < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", tool, argv[optind_]);
		return -1;
	}
	if (!dev) {
		fprintf(stderr, "%s: -d DEV is required (try --help)\n", tool);
		return -1;
	}
	return 0;
}

#endif
