/* SPDX-License-Identifier: Apache-2.0 */
/*
 * null.c - the "null" backend: a capacity and nothing behind it. Requests
 * are checked like any other and complete inline with no data movement
 * (a READ leaves the buffer as it was), for measuring the path above.
 */
#include "backend/backend_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

struct be_null {
	struct backend be;
	bool readonly;
};

static int null_io_sync(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks,
			void *buf)
{
	return be_check_io(be, op, lba, nblocks, buf, ((struct be_null *)be)->readonly);
}

static int null_submit(struct backend *be, struct be_engine *eng, struct be_io *io)
{
	int ret = null_io_sync(be, io->op, io->lba, io->nblocks, io->buf);

	(void)eng;
	if (ret)
		return ret;
	io->be = be;
	io->bounce = NULL;
	io->done = 0;
	io->cb(io, 0);
	return 0;
}

/* Nothing is stored, so nothing is written: always fast. */
static int null_zero_fast(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks)
{
	if (op != BE_OP_DISCARD && op != BE_OP_WRITE_ZEROES)
		return -EINVAL;
	return null_io_sync(be, op, lba, nblocks, NULL);
}

static void null_destroy(struct backend *be)
{
	free(be);
}

static const struct backend_ops null_ops = {
	.name = "null",
	.submit = null_submit,
	.io_sync = null_io_sync,
	.zero_fast = null_zero_fast,
	.destroy = null_destroy,
};

int be_null_create(const struct be_spec *spec, struct backend **out)
{
	struct be_null *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->readonly = spec->readonly;
	n->be.ops = &null_ops;
	n->be.nblocks = spec->size >> BE_BLOCK_SHIFT;
	n->be.can_unmap = true;
	n->be.lock_fd = -1;
	/* The address keeps two null LUNs of one size apart. */
	snprintf(n->be.id, sizeof(n->be.id), "null:%" PRIu64 "@%p", spec->size, (void *)n);
	*out = &n->be;
	return 0;
}
