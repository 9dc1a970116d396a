/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv_test.h - helpers for the key/value store tests: the store kinds every
 * API test runs on, and values derived from their key.
 */
#ifndef CXLFLASH_KV_TEST_H
#define CXLFLASH_KV_TEST_H

#include <arkdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "t_util.h"

/* T_OK(call): an arkdb call that must return 0. */
#define T_OK(call) do { \
	int _rc = (call); \
	if (_rc) { \
		fprintf(stderr, "%s:%d: %s: %s returned %d (%s)\n", __FILE__, __LINE__, \
			__func__, #call, _rc, strerror(_rc)); \
		exit(T_FAIL); \
	} } while (0)

/* T_RC(call, err): an arkdb call that must return @err. */
#define T_RC(call, err) T_EQ((call), (err))

/* The value of key @k: @len bytes derived from it and @gen. */
static inline uint8_t kv_t_byte(uint64_t k, uint64_t gen, size_t i)
{
	uint64_t x = (k * 0x9E3779B97F4A7C15ull) ^ (gen << 32) ^ (i / 8);
	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> (8 * (i % 8)));
}

static inline void kv_t_value(void *buf, size_t len, uint64_t k, uint64_t gen)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = kv_t_byte(k, gen, i);
}

static inline int kv_t_value_ok_quiet(const void *buf, size_t len, uint64_t k, uint64_t gen)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != kv_t_byte(k, gen, i))
			return -1;
	return 0;
}

/* 0 when @buf holds the value of (@k, @gen), else -1 (and says where). */
static inline int kv_t_value_ok(const void *buf, size_t len, uint64_t k, uint64_t gen)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != kv_t_byte(k, gen, i)) {
			fprintf(stderr, "value of key %llu gen %llu differs at byte %zu of %zu\n",
				(unsigned long long)k, (unsigned long long)gen, i, len);
			return -1;
		}
	return 0;
}

/* A scratch LUN file spec for a durable store: "file:PATH?size=SIZE". */
static inline const char *kv_t_file(const char *name, const char *size)
{
	static char spec[4][512];
	static int slot;
	char *s = spec[slot++ % 4];
	const char *p = t_path(name);
	unlink(p);
	snprintf(s, 512, "file:%s?size=%s", p, size);
	return s;
}

/* ark_create_verbose, retried while the LUN is still locked by a process
 * just killed (the kernel closes its io_uring files a moment later). */
static inline int kv_t_open(const char *spec, ARK **ark, int nthreads, uint64_t flags)
{
	int rc;
	for (int tries = 0;; tries++) {
		rc = ark_create_verbose((char *)spec, ark, 0, 4096, 100000, nthreads, 0, 0, flags);
		if (rc != EBUSY || tries == 500)
			return rc;
		usleep(10000);
	}
}

/* ark_create, retried while the LUN is still locked by a process that just
 * ended (arkdb-check, a child that crashed on purpose): the kernel lets go
 * of its io_uring files, and the LUN's lock with them, a moment later. */
static inline int kv_t_create(const char *spec, ARK **ark, uint64_t flags)
{
	int rc;
	for (int tries = 0;; tries++) {
		rc = ark_create((char *)spec, ark, flags);
		if (rc != EBUSY || tries == 500)
			return rc;
		usleep(10000);
	}
}

#endif
