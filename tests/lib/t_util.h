/* SPDX-License-Identifier: Apache-2.0 */
/*
 * t_util.h - helpers for the test programs. A test is one program per
 * behaviour; it exits T_PASS (0), T_FAIL (1) or T_SKIP (77, CTest's skip).
 * T_ASSERT/T_EQ print the file, line and values, then exit with T_FAIL.
 */
#ifndef CXLFLASH_T_UTIL_H
#define CXLFLASH_T_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

#define T_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: %s: assertion failed: %s (errno %d: %s)\n", \
			__FILE__, __LINE__, __func__, #cond, errno, strerror(errno)); \
		exit(T_FAIL); \
	} } while (0)

#define T_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { \
		fprintf(stderr, "%s:%d: %s: %s == %s failed: %lld (0x%llx) != %lld (0x%llx)\n", \
			__FILE__, __LINE__, __func__, #a, #b, _a, (unsigned long long)_a, \
			_b, (unsigned long long)_b); \
		exit(T_FAIL); \
	} } while (0)

/* Expect a -1/errno style call to fail with @err. */
#define T_ERRNO(call, err) do { \
	errno = 0; \
	long long _r = (long long)(call); \
	if (_r != -1 || errno != (err)) { \
		fprintf(stderr, "%s:%d: %s: %s: expected -1/%s, got %lld/errno %d (%s)\n", \
			__FILE__, __LINE__, __func__, #call, #err, _r, errno, strerror(errno)); \
		exit(T_FAIL); \
	} } while (0)

/* Run a case function and say which one is running. */
#define T_RUN(fn) do { fprintf(stderr, "-- %s\n", #fn); fn(); } while (0)

#define T_SKIP_IF(cond, why) do { \
	if (cond) { fprintf(stderr, "SKIP: %s\n", why); exit(T_SKIP); } } while (0)

/*
 * T_TSAN: this is a ThreadSanitizer build. Its runtime cannot follow a
 * child forked while other threads run that starts threads of its own
 * (it dies: "dup thread with used id"), so the few cases built on exactly
 * that (clone after fork with the parent's threads running) skip there.
 */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
/* Bounds that catch hangs (an op over 2 s is a stall) are this many times
 * longer under TSan, whose runs are 5 to 15 times slower. */
#ifdef T_TSAN
#define T_SLOW 5
#else
#define T_SLOW 1
#endif
#ifdef T_TSAN
#define T_SKIP_UNDER_TSAN(why) do { \
	fprintf(stderr, "   skipped under ThreadSanitizer: %s\n", why); return; } while (0)
#else
#define T_SKIP_UNDER_TSAN(why) do { } while (0)
#endif

/* A scratch directory for test files: $CXLFLASH_TEST_DIR or /tmp. The
 * returned path is "DIR/NAME.PID" in a static buffer per call slot. */
const char *t_path(const char *name);

/* Fill @buf with a pattern derived from (@seed, @lba) and check it back. */
void t_pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t lba);
int t_pattern_check(const void *buf, size_t len, uint64_t seed, uint64_t lba);

/*
 * t_scale() - a loop count or duration scaled by $CXLFLASH_TEST_SCALE
 * (percent; unset: 100). The ThreadSanitizer build sets 25 (CMake), so its
 * runs stay short: every code path still runs, only fewer times. Never
 * below @min (at least 1).
 */
unsigned long t_scale(unsigned long n, unsigned long min);

/* xorshift64* pseudo-random numbers; deterministic per seed. */
uint64_t t_rand(uint64_t *state);

/* Replace the file @path by one holding @text, atomically (written beside
 * it, then renamed): how tests switch a fault: LUN's control file, which
 * the wrapper may read at any moment (docs/fault.md). */
void t_set_faults(const char *path, const char *text);

#endif
