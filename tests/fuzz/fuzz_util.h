/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_util.h - what the libFuzzer harnesses share: a check that aborts
 * (so the fuzzer saves the input), quiet logging, and reading the fuzzer's
 * bytes as a stream of small fields.
 *
 * Header-only (static functions), like tests/unit/afu_harness.h.
 */
#ifndef CXLFLASH_FUZZ_UTIL_H
#define CXLFLASH_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* An invariant the input broke: report it and abort (a crash to libFuzzer). */
#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			dprintf(2, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__,       \
				__LINE__, #cond);                                     \
			abort();                                                      \
		}                                                                     \
	} while (0)

/*
 * The project's messages would drown the fuzzer's: unless FUZZ_VERBOSE=1 is
 * in the environment, the stdio stream stderr goes to /dev/null (errors and
 * warnings are still formatted, so their paths run too). Descriptor 2 stays:
 * libFuzzer and the sanitizers report there, as FUZZ_CHECK does.
 */
static inline void fuzz_quiet(void)
{
	const char *v = getenv("FUZZ_VERBOSE");
	FILE *null;

	if (v && *v == '1') {
		log_set_level(LOG_DEBUG);
		return;
	}
	log_set_level(LOG_WARN);
	null = fopen("/dev/null", "w");
	if (null)
		stderr = null;
}

/* A NUL-terminated copy of @size bytes (a NUL inside ends the string). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return NULL;
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

/* The fuzzer's bytes, read front to back; past the end everything is 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v = fuzz_u8(in);

	return (uint16_t)(v | (uint16_t)fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = fuzz_u16(in);

	return v | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = fuzz_u32(in);

	return v | (uint64_t)fuzz_u32(in) << 32;
}

/* Up to @n bytes into @dst (zero-filled past the end); returns bytes taken. */
static inline size_t fuzz_bytes(struct fuzz_in *in, void *dst, size_t n)
{
	size_t take = n < in->left ? n : in->left;

	memcpy(dst, in->p, take);
	memset((uint8_t *)dst + take, 0, n - take);
	in->p += take;
	in->left -= take;
	return take;
}

#endif /* CXLFLASH_FUZZ_UTIL_H */
