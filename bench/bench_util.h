/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_util.h - what the bench programs share: a clock, a fast PRNG, a
 * latency histogram with percentiles, CPU accounting (this process, other
 * processes such as a daemon, and the whole machine) and a median.
 */
#ifndef CXLFLASH_BENCH_UTIL_H
#define CXLFLASH_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

static inline uint64_t bench_now_ns(void)
{
	return now_ns();
}

/* xorshift64*: a random LBA must cost nanoseconds, not a libc lock. */
static inline uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/*
 * Log-linear latency histogram in ns: exact below 64 ns, then 32 buckets
 * per power of two (about 3 % resolution), up to ~2^40 ns.
 */
#define HIST_SUB     32u
#define HIST_BUCKETS (64u + 35u * HIST_SUB)

struct hist {
	uint64_t n[HIST_BUCKETS];
	uint64_t count;
};

static inline unsigned hist_index(uint64_t v)
{
	unsigned e, ix;

	if (v < 64)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);          /* >= 6 */
	ix = 64u + (e - 6u) * HIST_SUB + (unsigned)((v >> (e - 5u)) & (HIST_SUB - 1));
	return ix < HIST_BUCKETS ? ix : HIST_BUCKETS - 1;
}

/* The middle of bucket @ix, in ns. */
static inline double hist_value(unsigned ix)
{
	unsigned e, sub;

	if (ix < 64)
		return ix;
	e = (ix - 64u) / HIST_SUB + 6u;
	sub = (ix - 64u) % HIST_SUB;
	return (double)((uint64_t)(HIST_SUB + sub) << (e - 5u)) + (double)(1ull << (e - 5u)) / 2;
}

static inline void hist_add(struct hist *h, uint64_t ns)
{
	h->n[hist_index(ns)]++;
	h->count++;
}

/* The @q quantile (0..1) in µs; 0 for an empty histogram. */
static inline double hist_quantile_us(const struct hist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->count), seen = 0;

	if (!h->count)
		return 0;
	if (want >= h->count)
		want = h->count - 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen > want)
			return hist_value(i) / 1000.0;
	}
	return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

/*
 * CPU time, three ways. proc: this process, every thread (the embedded AFU
 * workers and io_uring's iou-wrk threads belong to it). extra: processes
 * named with --cpu-pid (a daemon). sys: busy time of the whole machine from
 * /proc/stat, which also sees kernel threads (loop kworkers, writeback).
 */
struct cpu_snap {
	double proc_s;
	double extra_s;
	double sys_busy_s;
};

/* utime + stime of another process, in seconds; 0 if it is gone. */
static inline double bench_pid_cpu_s(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');   /* the command name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* user+nice+system+irq+softirq of the first /proc/stat line (steal and idle excluded). */
static inline double bench_sys_busy_s(void)
{
	unsigned long long us = 0, ni = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0;
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &us, &ni, &sy, &id, &io, &irq,
		   &sirq) != 7)
		us = ni = sy = irq = sirq = 0;
	fclose(f);
	return (double)(us + ni + sy + irq + sirq) / (double)sysconf(_SC_CLK_TCK);
}

static inline void cpu_snap_take(struct cpu_snap *s, const int *pids, int npids)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	s->proc_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	s->extra_s = 0;
	for (int i = 0; i < npids; i++)
		s->extra_s += bench_pid_cpu_s(pids[i]);
	s->sys_busy_s = bench_sys_busy_s();
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of @n values (sorts a copy of at most 64). */
static inline double bench_median(const double *v, int n)
{
	double t[64];

	if (n <= 0)
		return 0;
	if (n > 64)
		n = 64;
	memcpy(t, v, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), bench_cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

#endif
