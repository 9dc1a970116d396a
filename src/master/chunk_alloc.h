/* SPDX-License-Identifier: Apache-2.0 */
/*
 * chunk_alloc.h - the per-LUN chunk allocator behind virtual LUNs.
 *
 * A bitmap of the LUN's chunks (2^16 blocks each; 1 = free) with a clone
 * count per chunk: a chunk shared by n virtual LUNs has n-1 clones, and
 * ca_free() only drops a clone until the last reference goes. Allocation
 * scans from a moving cursor (an "elevator") so freed chunks are not
 * reused at once.
 *
 * Invariants (ca_check() verifies them): free == popcount(bitmap); bits past
 * nchunks are never set; a free chunk has no clones.
 * Not thread-safe: the master serialises calls.
 */
#ifndef CXLFLASH_CHUNK_ALLOC_H
#define CXLFLASH_CHUNK_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define CA_MAX_CLONES 0xFF

struct chunk_alloc {
	uint64_t *map;          /* 1 bit per chunk, 1 = free */
	uint8_t *clones;        /* clone count per chunk */
	uint64_t nchunks;
	uint64_t nwords;
	uint64_t free;
	uint64_t cursor;        /* word where the next search starts */
};

/* ca_init() - all @nchunks free. Return 0, -EINVAL (0 chunks) or -ENOMEM. */
int ca_init(struct chunk_alloc *ca, uint64_t nchunks);
/* ca_grow() - the LUN grew to @nchunks: the new chunks start taken (not
 * free; the caller frees them, after their scrub). Fewer than now: nothing
 * changes. Return 0 or -ENOMEM (nothing changed). */
int ca_grow(struct chunk_alloc *ca, uint64_t nchunks);
/* ca_destroy() - free the allocator; safe on a zeroed or failed one. */
void ca_destroy(struct chunk_alloc *ca);
/* ca_alloc() - take one chunk. Return its number, or -ENOSPC. */
int64_t ca_alloc(struct chunk_alloc *ca);
/*
 * ca_free() - drop one reference. Return 1 if the chunk became free, 0 if
 * only a clone reference went (still allocated), -EINVAL if it was not
 * allocated or is out of range.
 */
int ca_free(struct chunk_alloc *ca, uint64_t chunk);
/* ca_take() - take chunk @chunk itself (a map reloaded from the LUN): allocate
 * it if free, else add a reference. Return 0, -EINVAL (out of range), -EIO. */
int ca_take(struct chunk_alloc *ca, uint64_t chunk);
/* ca_clone() - add a reference. Return 0, -EINVAL (not allocated), -EIO (saturated). */
int ca_clone(struct chunk_alloc *ca, uint64_t chunk);
/* ca_refs() - references held: 0 when free, else 1 + clones. */
unsigned ca_refs(const struct chunk_alloc *ca, uint64_t chunk);
static inline uint64_t ca_free_count(const struct chunk_alloc *ca) { return ca->free; }
/* ca_check() - verify the invariants. Return 0, or -1 with a reason in @why. */
int ca_check(const struct chunk_alloc *ca, char *why, size_t len);

#endif
