/* SPDX-License-Identifier: Apache-2.0 */
/* chunk_alloc.c - bitmap chunk allocator with clone counts (see chunk_alloc.h). */
#include "master/chunk_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ca_init(struct chunk_alloc *ca, uint64_t nchunks)
{
	memset(ca, 0, sizeof(*ca));
	if (nchunks == 0)
		return -EINVAL;
	ca->nwords = (nchunks + 63) / 64;
	ca->map = malloc(ca->nwords * sizeof(uint64_t));
	ca->clones = calloc(nchunks, 1);
	if (!ca->map || !ca->clones) {
		ca_destroy(ca);
		return -ENOMEM;
	}
	memset(ca->map, 0xFF, ca->nwords * sizeof(uint64_t));
	if (nchunks % 64)
		ca->map[ca->nwords - 1] = (1ull << (nchunks % 64)) - 1;
	ca->nchunks = nchunks;
	ca->free = nchunks;
	return 0;
}

int ca_grow(struct chunk_alloc *ca, uint64_t nchunks)
{
	uint64_t nwords = (nchunks + 63) / 64;
	uint64_t *map;
	uint8_t *clones;

	if (nchunks <= ca->nchunks)
		return 0;
	/* A bigger map or clone array alone changes nothing. */
	map = realloc(ca->map, nwords * sizeof(*map));
	if (!map)
		return -ENOMEM;
	ca->map = map;
	clones = realloc(ca->clones, nchunks);
	if (!clones)
		return -ENOMEM;
	ca->clones = clones;
	/* The old last word's bits past the old end are clear already. */
	memset(map + ca->nwords, 0, (nwords - ca->nwords) * sizeof(*map));
	memset(clones + ca->nchunks, 0, nchunks - ca->nchunks);
	ca->nwords = nwords;
	ca->nchunks = nchunks;
	return 0;
}

void ca_destroy(struct chunk_alloc *ca)
{
	free(ca->map);
	free(ca->clones);
	memset(ca, 0, sizeof(*ca));
}

int64_t ca_alloc(struct chunk_alloc *ca)
{
	if (ca->free == 0)
		return -ENOSPC;
	for (uint64_t n = 0; n < ca->nwords; n++) {
		uint64_t w = (ca->cursor + n) % ca->nwords;

		if (ca->map[w]) {
			unsigned bit = (unsigned)__builtin_ctzll(ca->map[w]);

			ca->map[w] &= ~(1ull << bit);
			ca->free--;
			/* Move on once a word is used up, so recently freed
			 * chunks further back are not handed out first. */
			ca->cursor = ca->map[w] ? w : (w + 1) % ca->nwords;
			return (int64_t)(w * 64 + bit);
		}
	}
	return -ENOSPC; /* unreachable while free matches the bitmap */
}

static int is_free(const struct chunk_alloc *ca, uint64_t chunk)
{
	return (ca->map[chunk / 64] >> (chunk % 64)) & 1;
}

int ca_free(struct chunk_alloc *ca, uint64_t chunk)
{
	if (chunk >= ca->nchunks || is_free(ca, chunk))
		return -EINVAL;
	if (ca->clones[chunk]) {
		ca->clones[chunk]--;
		return 0;
	}
	ca->map[chunk / 64] |= 1ull << (chunk % 64);
	ca->free++;
	return 1;
}

int ca_take(struct chunk_alloc *ca, uint64_t chunk)
{
	if (chunk >= ca->nchunks)
		return -EINVAL;
	if (!is_free(ca, chunk))
		return ca_clone(ca, chunk);
	ca->map[chunk / 64] &= ~(1ull << (chunk % 64));
	ca->free--;
	return 0;
}

int ca_clone(struct chunk_alloc *ca, uint64_t chunk)
{
	if (chunk >= ca->nchunks || is_free(ca, chunk))
		return -EINVAL;
	if (ca->clones[chunk] == CA_MAX_CLONES)
		return -EIO;
	ca->clones[chunk]++;
	return 0;
}

unsigned ca_refs(const struct chunk_alloc *ca, uint64_t chunk)
{
	if (chunk >= ca->nchunks || is_free(ca, chunk))
		return 0;
	return 1u + ca->clones[chunk];
}

int ca_check(const struct chunk_alloc *ca, char *why, size_t len)
{
	uint64_t pop = 0;

	for (uint64_t w = 0; w < ca->nwords; w++)
		pop += (uint64_t)__builtin_popcountll(ca->map[w]);
	if (pop != ca->free) {
		snprintf(why, len, "free count %llu != popcount %llu",
			 (unsigned long long)ca->free, (unsigned long long)pop);
		return -1;
	}
	if (ca->nchunks % 64 && (ca->map[ca->nwords - 1] >> (ca->nchunks % 64))) {
		snprintf(why, len, "bits beyond chunk %llu are set", (unsigned long long)ca->nchunks);
		return -1;
	}
	for (uint64_t c = 0; c < ca->nchunks; c++) {
		if (is_free(ca, c) && ca->clones[c]) {
			snprintf(why, len, "free chunk %llu has %u clones",
				 (unsigned long long)c, ca->clones[c]);
			return -1;
		}
	}
	return 0;
}
