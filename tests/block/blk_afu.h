/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blk_afu.h - reach the software AFU behind a chunk (embedded mode) to hold
 * its commands (pause) or put its context in error, for the tests that need
 * commands to stay in flight.
 */
#ifndef CXLFLASH_BLK_AFU_H
#define CXLFLASH_BLK_AFU_H

#include "blk_test.h"

#include "afu/afu.h"
#include "block/block_debug.h"
#include "master/embedded.h"
#include "master/master.h"

static inline struct afu *bt_afu(chunk_id_t id)
{
	struct mopen *o = cxlflash_debug_open(cblk_debug_fd1(id));

	T_ASSERT(o);
	return o->m->afu;
}

/* Stop the AFU fetching commands (SQ mode: they wait in the SQ). */
static inline void bt_pause(chunk_id_t id)
{
	afu_pause(bt_afu(id));
}

static inline void bt_resume(chunk_id_t id)
{
	afu_resume(bt_afu(id));
}

/* Put the chunk's context in error: its window reads all ones. */
static inline void bt_ctx_error(chunk_id_t id)
{
	T_EQ(cxlflash_debug_ctx_error(cblk_debug_fd1(id), cblk_debug_context_id(id)), 0);
}

#endif /* CXLFLASH_BLK_AFU_H */
