/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvtool.h - what run_kv_sync and run_kv_async share: their options (IBM's
 * positional device, plus letters in the style of IBM's kv_perf), the keys
 * and values every worker sets and checks, and the result line's numbers.
 *
 * Worker w (a thread, or an async job) owns keys 0 .. len-1: key j is the
 * 8-byte words of a bijective mix of (w << 32 | j), cut to klen bytes, so
 * every key of every worker is distinct. Its values come from one random
 * pattern of vlen + 8 x len bytes seeded by w: value j starts at byte 8 j.
 */
#ifndef CXLFLASH_KVTOOL_H
#define CXLFLASH_KVTOOL_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arkdb.h>

#include "tool_util.h"

struct kvt_opts {
	char *dev;              /* NULL: a memory store */
	uint64_t ctxts, per, len, klen, vlen, secs;
	bool ctxts_set, plun, verbose;
};

static inline uint64_t kvt_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline void kvt_key(uint8_t *out, uint64_t klen, uint64_t worker, uint64_t j)
{
	uint64_t id = worker << 32 | j;

	for (uint64_t off = 0; off < klen; off += 8) {
		uint64_t w = off ? kvt_mix(id ^ off) : kvt_mix(id);

		memcpy(out + off, &w, klen - off < 8 ? klen - off : 8);
	}
}

/* The pattern of worker @w: vlen + 8 * len bytes (value j at 8 j). */
static inline uint8_t *kvt_pattern(const struct kvt_opts *o, uint64_t worker)
{
	uint64_t n = o->vlen + 8 * o->len, s = kvt_mix(worker + 0x1234);
	uint8_t *p = malloc(n ? n : 1);

	for (uint64_t i = 0; p && i < n; i += 8) {
		uint64_t w = kvt_mix(s + i);

		memcpy(p + i, &w, n - i < 8 ? n - i : 8);
	}
	return p;
}

/* The ark_create flags: a vLUN per ark on a LUN (IBM's), none for memory or -p. */
static inline uint64_t kvt_flags(const struct kvt_opts *o)
{
	return o->dev && !o->plun ? ARK_KV_VIRTUAL_LUN : 0;
}

/*
 * Parse the options. @per_opt is the letter of the per-context count (t:
 * threads, q: async ops). Returns 0, -1 after --help, or 2 (said why).
 */
static inline int kvt_parse(const char *prog, char per_opt, struct kvt_opts *o, int argc,
			    char **argv, void (*usage)(FILE *))
{
	static const struct option lo[] = { { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	char optstr[32];
	int c;

	snprintf(optstr, sizeof(optstr), "d:c:%c:l:k:v:s:pVh", per_opt);
	while ((c = getopt_long(argc, argv, optstr, lo, NULL)) != -1) {
		uint64_t *dst = NULL, min = 1, max = UINT32_MAX;

		switch (c) {
		case 'd':
			o->dev = optarg;
			continue;
		case 'c':
			dst = &o->ctxts, max = 64;
			o->ctxts_set = true;
			break;
		case 'l':
			dst = &o->len, max = 1u << 20;
			break;
		case 'k':
			dst = &o->klen, min = 8, max = 1u << 20;
			break;
		case 'v':
			dst = &o->vlen, min = 0, max = 1u << 30;
			break;
		case 's':
			dst = &o->secs, min = 0, max = 86400;
			break;
		case 'p':
			o->plun = true;
			continue;
		case 'V':
			o->verbose = true;
			continue;
		case 'h':
			usage(stdout);
			return -1;
		default:
			if (c == per_opt) {
				dst = &o->per, max = 4096;
				break;
			}
			fprintf(stderr, "%s: try --help\n", prog);
			return 2;
		}
		if (!tool_parse_uint(optarg, min, max, dst)) {
			fprintf(stderr, "%s: bad value '%s' for -%c (%" PRIu64 "..%" PRIu64 ")\n", prog,
				optarg, c, min, max);
			return 2;
		}
	}
	if (optind < argc) {    /* IBM's form: the device as the only argument */
		if (o->dev || optind + 1 < argc) {
			fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", prog,
				argv[o->dev ? optind : optind + 1]);
			return 2;
		}
		o->dev = argv[optind];
	}
	if (o->dev && (!*o->dev || !strcmp(o->dev, "memory")))
		o->dev = NULL;
	return 0;
}

#endif
