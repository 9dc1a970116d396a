/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.c - CRC-32C with the x86 crc32 instruction when present (checked
 * once, by cpuid; three streams at once over longer buffers), else
 * slicing-by-8 over tables built at first use.
 */
#include "kv/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define POLY 0x82f63b78u   /* Castagnoli, reflected */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	pthread_once(&table_once, table_init);
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		      table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		      table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		      table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
/*
 * Three streams at once. The crc32 instruction takes 3 cycles before its
 * result can feed the next one, but the CPU starts one every cycle: one
 * stream leaves it idle two thirds of the time. A run of 3 * LANE bytes is
 * cut in three lanes, each lane's CRC computed from 0 in parallel, and the
 * three combined: since the CRC is linear, the register after A||B is the
 * register after A "shifted" over |B| zero bytes (multiplied by x^(8|B|)
 * modulo the polynomial) xor the CRC of B alone. The shifts are by fixed
 * lengths, so each is a multiplication by a constant, done with four table
 * lookups (the constant times each byte of the register), the tables built
 * once from a bitwise multiplication. 4 KiB: about 3x faster.
 */
#define LANE_BIG   1024u   /* 3 KiB a round, then... */
#define LANE_SMALL 128u    /* ...384 B rounds, then one stream */

/* a * b modulo POLY, both reflected (bit 31 is x^0). */
static uint32_t gf_mul(uint32_t a, uint32_t b)
{
	uint32_t r = 0;

	for (int bit = 31; bit >= 0; bit--) {
		if (a & (1u << bit))
			r ^= b;
		b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;   /* b *= x */
	}
	return r;
}

/* x^e modulo POLY, reflected. */
static uint32_t xpow(uint64_t e)
{
	uint32_t r = 1u << 31, sq = 1u << 30;   /* x^0; x^1 */

	for (; e; e >>= 1) {
		if (e & 1)
			r = gf_mul(r, sq);
		sq = gf_mul(sq, sq);
	}
	return r;
}

/* x^(8 * n) modulo POLY: a register shifted over n zero bytes is multiplied by it. */
static uint32_t shift_const(size_t n)
{
	return xpow((uint64_t)n * 8);
}

/* A register times a constant: [j][b] is (b at byte j) times it. */
struct shift_tab {
	uint32_t t[4][256];
};
static struct shift_tab shift_big1, shift_big2, shift_small1, shift_small2;
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

static void tab_init(struct shift_tab *t, size_t n)
{
	uint32_t k = shift_const(n);

	for (unsigned j = 0; j < 4; j++)
		for (unsigned b = 0; b < 256; b++)
			t->t[j][b] = gf_mul(b << (8 * j), k);
}

static void shift_init(void)
{
	tab_init(&shift_big1, LANE_BIG);
	tab_init(&shift_big2, 2 * LANE_BIG);
	tab_init(&shift_small1, LANE_SMALL);
	tab_init(&shift_small2, 2 * LANE_SMALL);
}

static inline uint32_t shift(const struct shift_tab *t, uint32_t r)
{
	return t->t[0][r & 0xff] ^ t->t[1][(r >> 8) & 0xff] ^ t->t[2][(r >> 16) & 0xff] ^
	       t->t[3][r >> 24];
}

/* @c over the 3 * @lane bytes at @p, in three lanes (@one, @two: shifts by @lane, 2 * @lane). */
__attribute__((target("sse4.2")))
static uint64_t crc_3way(uint64_t c, const uint8_t *p, size_t lane, const struct shift_tab *one,
			 const struct shift_tab *two)
{
	uint64_t c1 = 0, c2 = 0;

	for (size_t i = 0; i < lane; i += 8) {
		uint64_t v0, v1, v2;
		memcpy(&v0, p + i, 8);
		memcpy(&v1, p + lane + i, 8);
		memcpy(&v2, p + 2 * lane + i, 8);
		c = __builtin_ia32_crc32di(c, v0);
		c1 = __builtin_ia32_crc32di(c1, v1);
		c2 = __builtin_ia32_crc32di(c2, v2);
	}
	return shift(two, (uint32_t)c) ^ shift(one, (uint32_t)c1) ^ (uint32_t)c2;
}

/*
 * Folding with carry-less multiplication (VPCLMULQDQ on 512-bit registers:
 * four 128-bit lanes per instruction), for CPUs that have it. The stream
 * is taken 16 bytes at a time as polynomials over GF(2), first bit highest.
 * A 128-bit piece X = L*x^64 + H that lies D bits before piece Y may be
 * replaced by X*x^D modulo the polynomial, added into Y: the CRC of what
 * follows does not change. With L and H (64 bits each) as the CPU holds
 * them (bit-reflected), one carry-less product of a reflected L and the
 * reflected constant x^(D+63) mod P yields L*x^(D+64) mod P shifted into
 * place (the reflected product comes out one bit low, hence 63 rather than
 * 64); the same for H with x^(D-1). Sixteen lanes in four registers run
 * side by side over 256 bytes a round (D = 2048); at the end the lanes are
 * folded into one (D = 512 between registers, 128 within one) and its 16
 * bytes go through the crc32 instruction, which finishes the reduction.
 * A hot 4 KiB buffer: 41 ns against 158 ns for three crc32 streams.
 */
#define FOLD_BLOCK 256u

struct fold_k {
	uint64_t k[2];   /* x^(D+63), x^(D-1) modulo P, reflected, in the high half */
};
static struct fold_k fold_2048, fold_512, fold_128;
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;
static int have_fold = -1;   /* relaxed atomics: every thread computes the same */

static void fold_k_init(struct fold_k *f, unsigned d)
{
	f->k[0] = (uint64_t)xpow(d + 63) << 32;
	f->k[1] = (uint64_t)xpow(d - 1) << 32;
}

static void fold_init(void)
{
	fold_k_init(&fold_2048, 2048);
	fold_k_init(&fold_512, 512);
	fold_k_init(&fold_128, 128);
}

__attribute__((target("avx512f,vpclmulqdq")))
static inline __m512i fold512(__m512i x, __m512i k, __m512i y)
{
	return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
					 _mm512_clmulepi64_epi128(x, k, 0x11), y, 0x96);
}

__attribute__((target("pclmul,sse4.2")))
static inline __m128i fold128(__m128i x, __m128i k, __m128i y)
{
	return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
					   _mm_clmulepi64_si128(x, k, 0x11)), y);
}

/* The register @c after the @len bytes at @p (a multiple of FOLD_BLOCK, at least one). */
__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))
static uint64_t crc_fold(uint32_t c, const uint8_t *p, size_t len)
{
	__m512i a0 = _mm512_loadu_si512((const void *)p);
	__m512i a1 = _mm512_loadu_si512((const void *)(p + 64));
	__m512i a2 = _mm512_loadu_si512((const void *)(p + 128));
	__m512i a3 = _mm512_loadu_si512((const void *)(p + 192));
	__m512i k;
	__m128i x, k1;

	pthread_once(&fold_once, fold_init);
	/* The register goes into the first 32 bits of the stream. */
	a0 = _mm512_xor_si512(a0, _mm512_inserti32x4(_mm512_setzero_si512(),
						     _mm_cvtsi32_si128((int)c), 0));
	k = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)fold_2048.k));
	for (p += FOLD_BLOCK, len -= FOLD_BLOCK; len; p += FOLD_BLOCK, len -= FOLD_BLOCK) {
		a0 = fold512(a0, k, _mm512_loadu_si512((const void *)p));
		a1 = fold512(a1, k, _mm512_loadu_si512((const void *)(p + 64)));
		a2 = fold512(a2, k, _mm512_loadu_si512((const void *)(p + 128)));
		a3 = fold512(a3, k, _mm512_loadu_si512((const void *)(p + 192)));
	}
	k = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)fold_512.k));
	a1 = fold512(a0, k, a1);
	a2 = fold512(a1, k, a2);
	a3 = fold512(a2, k, a3);
	k1 = _mm_loadu_si128((const __m128i *)fold_128.k);
	x = _mm512_extracti32x4_epi32(a3, 0);
	x = fold128(x, k1, _mm512_extracti32x4_epi32(a3, 1));
	x = fold128(x, k1, _mm512_extracti32x4_epi32(a3, 2));
	x = fold128(x, k1, _mm512_extracti32x4_epi32(a3, 3));
	uint64_t r = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x));
	return _mm_crc32_u64(r, (uint64_t)_mm_extract_epi64(x, 1));
}

static bool fold_ok(void)
{
	int ok = __atomic_load_n(&have_fold, __ATOMIC_RELAXED);

	if (ok < 0) {
		ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") &&
		     __builtin_cpu_supports("pclmul") && getenv("CXLFLASH_KV_CRC_NOFOLD") == NULL;
		__atomic_store_n(&have_fold, ok, __ATOMIC_RELAXED);
	}
	return ok;
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	if (len >= FOLD_BLOCK && fold_ok()) {
		size_t n = len & ~(size_t)(FOLD_BLOCK - 1);

		c = crc_fold(crc, p, n);
		p += n;
		len -= n;
	}
	if (len >= 3 * LANE_SMALL) {
		pthread_once(&shift_once, shift_init);
		for (; len >= 3 * LANE_BIG; p += 3 * LANE_BIG, len -= 3 * LANE_BIG)
			c = crc_3way(c, p, LANE_BIG, &shift_big1, &shift_big2);
		for (; len >= 3 * LANE_SMALL; p += 3 * LANE_SMALL, len -= 3 * LANE_SMALL)
			c = crc_3way(c, p, LANE_SMALL, &shift_small1, &shift_small2);
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

uint32_t kv_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	static int have_hw = -1;   /* relaxed atomics: every thread computes the same */
	int hw = __atomic_load_n(&have_hw, __ATOMIC_RELAXED);
	if (hw < 0) {
		hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
		__atomic_store_n(&have_hw, hw, __ATOMIC_RELAXED);
	}
	if (hw)
		return ~crc_hw(crc, buf, len);
#endif
	return ~crc_soft(crc, buf, len);
}
