/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rate.c - per-tenant rate limits for the AFU (afu.h): two token buckets,
 * commands and bytes, kept as a "theoretical arrival time" each (GCRA):
 * the time at which the bucket would be full again. Starting work of cost
 * C moves it to max(tat, now) + C * 1e9 / rate; work may start while
 * tat <= now + burst. One word per bucket, updated with a CAS, so the
 * contexts of one tenant on several workers share it without a lock; two
 * workers that both see room may each start one more (an overshoot of a
 * command or a slice, not more).
 */
#include "afu/afu_internal.h"

#include <errno.h>
#include <stdlib.h>

struct afu_rate {
	uint64_t iops, bps;        /* atomic */
	uint64_t tat_cmd, tat_byte; /* atomic, ns (CLOCK_MONOTONIC) */
	uint64_t cmds, bytes, delays; /* atomic */
};

int afu_rate_create(struct afu_rate **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void afu_rate_free(struct afu_rate *r)
{
	free(r);
}

void afu_rate_set(struct afu_rate *r, uint64_t iops, uint64_t bps)
{
	STORE_RELAXED(&r->iops, iops);
	STORE_RELAXED(&r->bps, bps);
}

void afu_rate_get(const struct afu_rate *r, struct afu_rate_stats *st)
{
	st->iops = LOAD_RELAXED(&r->iops);
	st->bps = LOAD_RELAXED(&r->bps);
	st->cmds = LOAD_RELAXED(&r->cmds);
	st->bytes = LOAD_RELAXED(&r->bytes);
	st->delays = LOAD_RELAXED(&r->delays);
}

void afu_ctx_set_rate(struct afu_ctx *ctx, struct afu_rate *r)
{
	STORE_RELEASE(&ctx->rate, r);
}

static uint64_t bucket_wait(const uint64_t *tat, uint64_t rate, uint64_t now)
{
	uint64_t t = LOAD_RELAXED(tat), burst = (uint64_t)AFU_RATE_BURST_MS * 1000000u;

	if (!rate || t <= now + burst)
		return 0;
	return t - now - burst;
}

uint64_t afu_rate_wait(struct afu_rate *r, uint64_t now)
{
	uint64_t a = bucket_wait(&r->tat_cmd, LOAD_RELAXED(&r->iops), now);
	uint64_t b = bucket_wait(&r->tat_byte, LOAD_RELAXED(&r->bps), now);

	return a > b ? a : b;
}

static void bucket_take(uint64_t *tat, uint64_t rate, uint64_t now, uint64_t n)
{
	uint64_t t = LOAD_RELAXED(tat), cost, nt;

	if (!rate)
		return;
	/* n <= 2^32 (a slice's bytes, or 1): n * 1e9 does not overflow. */
	cost = n * 1000000000ull / rate;
	do {
		nt = (t > now ? t : now) + cost;
	} while (!__atomic_compare_exchange_n(tat, &t, nt, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
}

void afu_rate_take(struct afu_rate *r, uint64_t now, uint64_t cmds, uint64_t bytes)
{
	if (cmds) {
		bucket_take(&r->tat_cmd, LOAD_RELAXED(&r->iops), now, cmds);
		__atomic_fetch_add(&r->cmds, cmds, __ATOMIC_RELAXED);
	}
	if (bytes) {
		bucket_take(&r->tat_byte, LOAD_RELAXED(&r->bps), now, bytes);
		__atomic_fetch_add(&r->bytes, bytes, __ATOMIC_RELAXED);
	}
}

void afu_rate_delayed(struct afu_rate *r)
{
	__atomic_fetch_add(&r->delays, 1, __ATOMIC_RELAXED);
}
