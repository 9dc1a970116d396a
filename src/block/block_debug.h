/* SPDX-License-Identifier: Apache-2.0 */
/*
 * block_debug.h - test hooks of libcflsh_block (not part of capiblock.h):
 * what a test needs to inject errors into a chunk's context through the
 * embedded master (cxlflash_debug_ctx_error) or to reach its LUN.
 */
#ifndef CXLFLASH_BLOCK_DEBUG_H
#define CXLFLASH_BLOCK_DEBUG_H

#include <stdint.h>

#include <cxlflash/capiblock.h>

/* The chunk's current context id (it changes with recovery), or 0. */
uint64_t cblk_debug_context_id(chunk_id_t chunk_id);
/* The chunk's fd1 (its cxlflash_open descriptor), or -1. */
int cblk_debug_fd1(chunk_id_t chunk_id);
/* 1 if the chunk submits through an SQ ring, 0 through IOARRIN, -1 no chunk. */
int cblk_debug_sq_mode(chunk_id_t chunk_id);
/* Commands of the chunk whose data moved at the caller's buffer (@direct:
 * in the DMA buffer area) or through a staging slot (@staged), counted
 * only when the AFU reaches just the DMA area. Return 0, -1 no chunk. */
int cblk_debug_dma_counts(chunk_id_t chunk_id, uint64_t *direct, uint64_t *staged);
/* The chunk's lone-request state (async.c): lone requests in a row waited
 * for at once, and whether one is in without the doorbell. 0, -1 no chunk. */
int cblk_debug_lone(chunk_id_t chunk_id, unsigned *streak, int *owed);
/* The chunk's batch state (async.c, "Batches"): batches in a row waited for
 * at once, whether requests of one are in without the doorbell, and how
 * many requests are left that ring anyway. 0, -1 no chunk. */
int cblk_debug_batch(chunk_id_t chunk_id, unsigned *streak, int *owed, unsigned *skip);
/* Forget the skip count (a test's next batch is a run's again). 0, -1. */
int cblk_debug_batch_unskip(chunk_id_t chunk_id);
/* How long a wait may come after a batch's first issue, per request of it
 * (ns; 0: the default): sanitizers make issuing slow. 0, -1. */
int cblk_debug_batch_gap(chunk_id_t chunk_id, uint64_t each_ns);

#endif /* CXLFLASH_BLOCK_DEBUG_H */
