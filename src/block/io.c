/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io.c - synchronous I/O: cblk_read, cblk_write, cblk_unmap, cblk_sync, and
 * the request validation every I/O path shares.
 *
 * A synchronous request takes a command from the same table as async ones
 * (waiting for a free one), submits it and sleeps until that command
 * completes. It never looks at other commands' results, so async
 * completions harvested meanwhile stay for cblk_aresult.
 */
#include "block/block_internal.h"

#include <errno.h>
#include <fcntl.h>

/*
 * blk_check_rw() - validate a request, in IBM's order: NULL buffer or
 * negative LBA, then (unmap) no unmap support, then the transfer size, the
 * chunk's access mode, a closing or failed chunk, and last the LBA range.
 * Lock held (the size can change).
 * Return: 0, -EINVAL, -EPROTONOSUPPORT or -EIO.
 */
int blk_check_rw(struct chunk *c, enum blk_op op, const void *buf, cflash_offset_t lba,
		 size_t nblocks)
{
	if (!buf || lba < 0)
		return -EINVAL;
	if (op == BLK_OP_UNMAP && !c->unmap_ok)
		return -EPROTONOSUPPORT;
	if (nblocks == 0 || nblocks > c->max_xfer)
		return -EINVAL;
	if (op == BLK_OP_READ ? c->mode == O_WRONLY : c->mode == O_RDONLY)
		return -EINVAL;
	if (c->closing)
		return -EINVAL;
	if (c->failed)
		return -EIO;
	if ((uint64_t)lba > c->size || nblocks > c->size - (uint64_t)lba)
		return -EINVAL;
	return 0;
}

/* Issue one command and sleep until it completes. Return: its result. */
static int issue_wait_locked(struct chunk *c, enum blk_op op, void *buf, uint64_t lba,
			     uint32_t nblocks, int flags)
{
	struct blk_cmd *cmd;
	int rc = blk_cmd_get_locked(c, true, &cmd);

	if (rc)
		return rc;
	cmd->op = op;
	cmd->fua = op == BLK_OP_WRITE && (flags & CBLK_ARW_FUA_FLAG);
	cmd->buf = buf;
	cmd->lba = lba;
	cmd->nblocks = nblocks;
	cmd->ring_defer = true;    /* we wait for it next: run it inline */
	blk_count_issue_locked(c, cmd);
	rc = blk_issue_locked(c, cmd);
	if (rc) {
		blk_abort_issue_locked(c, cmd);
		return rc;
	}
	while (cmd->state != CMD_COMPLETE)
		blk_wait_locked(c, blk_cmd_cv(c, cmd), NULL);
	/* A transfer of 0 blocks is an error; a flush moves none. */
	rc = cmd->result || op == BLK_OP_SYNC ? cmd->result : -EIO;
	blk_cmd_put_locked(c, cmd);
	return rc;
}

/* sync_io() - one synchronous request. Return: blocks transferred or -errno. */
static int sync_io(chunk_id_t chunk_id, enum blk_op op, void *buf, cflash_offset_t lba,
		   size_t nblocks, int flags)
{
	struct chunk *c;
	int rc;

	if (!buf || lba < 0)
		return -EINVAL;
	c = blk_chunk_get(chunk_id);
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	rc = blk_check_rw(c, op, buf, lba, nblocks);
	if (rc)
		goto out;
	rc = issue_wait_locked(c, op, buf, (uint64_t)lba, (uint32_t)nblocks, flags);
out:
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return rc;
}

int cblk_read(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_read(chunk_id, buf, lba, nblocks, flags);
	return blk_ret(sync_io(chunk_id, BLK_OP_READ, buf, lba, nblocks, flags));
}

int cblk_write(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_write(chunk_id, buf, lba, nblocks, flags);
	return blk_ret(sync_io(chunk_id, BLK_OP_WRITE, buf, lba, nblocks, flags));
}

/*
 * cblk_unmap() - WRITE SAME(16) with the UNMAP bit over @nblocks blocks from
 * @lba, with the one 4 KiB block at @buf as the data: a zero block unmaps
 * (reads back zeroes); other data is written to every block, as SCSI says.
 */
int cblk_unmap(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_unmap(chunk_id, buf, lba, nblocks, flags);
	return blk_ret(sync_io(chunk_id, BLK_OP_UNMAP, buf, lba, nblocks, flags));
}

/*
 * cblk_sync() - SYNCHRONIZE CACHE(16) through the chunk's own queue (an
 * extension: IBM's library had none). The AFU flushes every backend the
 * chunk's resource handle reaches and completes the command only then, so
 * writes completed before the call are durable when it returns.
 */
int cblk_sync(chunk_id_t chunk_id, int flags)
{
	struct chunk *c;
	int rc;

	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_sync(chunk_id, flags);
	c = blk_chunk_get(chunk_id);
	if (!c)
		return blk_ret(-EINVAL);
	pthread_mutex_lock(&c->lock);
	if (c->closing)
		rc = -EINVAL;
	else if (c->failed)
		rc = -EIO;
	else
		rc = issue_wait_locked(c, BLK_OP_SYNC, NULL, 0, 0, 0);
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return blk_ret(rc);
}
