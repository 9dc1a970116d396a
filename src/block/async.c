/* SPDX-License-Identifier: Apache-2.0 */
/*
 * async.c - asynchronous I/O: cblk_aread, cblk_awrite, cblk_aunmap and
 * cblk_aresult.
 *
 * Tags. A request's tag is the index of its command (0 .. max_num_requests
 * - 1) unless the caller gives its own (CBLK_ARW_USER_TAG_FLAG, unique among
 * the chunk's live async requests, else EINVAL). A completed request stays
 * in its command until cblk_aresult reaps it (which frees the command),
 * except one issued with CBLK_ARW_USER_STATUS_FLAG: its status word is
 * written at completion and the command freed at once (as IBM did), so it
 * is not reaped. Completed requests queue in completion order; NEXT_TAG
 * reaps the oldest and reports its tag (the user tag if it has one).
 *
 * cblk_aresult errors: unknown tag (out of range, or a user tag not in use)
 * EINVAL; a tag in range whose command is not an outstanding async request
 * ENOMSG; NEXT_TAG with no async request outstanding ENOENT. NO_HARVEST
 * skips harvesting the HRRQ before looking (without a completion thread);
 * combined with BLOCKING the wait still harvests, or it could never end.
 *
 * With CBLK_GROUP_MASK in the flags these calls go to the chunk group code
 * (cgroup.c), which packs its {member, tag} into the int tag.
 */
#include "block/block_internal.h"
#include "block/cgroup_internal.h"

#include <errno.h>

/* A CBLK_ARW_DEFER_FLAG request: its caller reaps it next with aresult,
 * which runs it (not one whose status word the caller may watch instead). */
static bool deferred(int flags)
{
	return (flags & CBLK_ARW_DEFER_FLAG) && !(flags & CBLK_ARW_USER_STATUS_FLAG);
}

/*
 * Lone requests. A program that keeps one async request in flight and
 * waits for it right after issuing it (QD 1) gains nothing from the AFU
 * worker doing the I/O on another thread: the hand-off costs two wake-ups
 * and the worker's spin, where io_uring at QD 1 costs one enter. So once
 * LONE_STREAK such requests in a row were waited for (blocking aresult)
 * within LONE_GAP_NS of their issue, the next lone request of an embedded
 * chunk goes in without the doorbell, as a CBLK_ARW_DEFER_FLAG one does,
 * and its wait runs the worker's passes on the caller's thread (one
 * io_uring enter that submits and waits), on a device too. A later wait,
 * a poll (non-blocking aresult) or a second request in flight ends the
 * streak: the pending request is started then (the poll runs it, a second
 * request's doorbell takes it along), and requests ring again until the
 * pattern is back. The cost of a wrong guess is the one request not
 * started before the call that came instead of its wait.
 *
 * Only where the run waits for the backend (a device): memory completes
 * within the worker's pass, and a worker spinning for the next request
 * beat the caller's own run (1.35-1.40 M against 0.77-0.95 M lone 4 KiB
 * reads a second on a RAM LUN). A run that did not wait turns it off for
 * the chunk's next LONE_SKIP lone requests (blk_wait_locked).
 */
#define LONE_STREAK 8
#define LONE_GAP_NS 20000ull

/* lone_issue_locked() - @cmd is issued with nothing else of @c's async or in
 * flight when @lone: note when, and say whether it goes in without the doorbell. */
static bool lone_issue_locked(struct chunk *c, bool lone, int flags, bool run)
{
	if (!lone) {
		c->lone_ns = 0;
		c->lone_streak = 0;
		/* This request's doorbell takes the pending one along
		 * (blk_submit_locked), or its wait runs both. */
		c->lone_owed = false;
		return false;
	}
	if (!run || (flags & CBLK_ARW_USER_STATUS_FLAG) || !c->runner || !c->sq_mode) {
		c->lone_ns = 0;
		return false;
	}
	c->lone_ns = 1;   /* the time is taken once it is in (lone_issued_locked) */
	if (c->lone_streak < LONE_STREAK)
		return false;
	if (c->lone_skip) {
		c->lone_skip--;
		return false;
	}
	return true;
}

/* lone_issued_locked() - a lone request is in: its wait is timed from now
 * (not from the call, whose doorbell may have taken a while). */
static void lone_issued_locked(struct chunk *c)
{
	if (c->lone_ns)
		c->lone_ns = blk_now_ns();
}

/* lone_wait_locked() - an aresult call; @blocking: one that waits. */
static void lone_wait_locked(struct chunk *c, bool blocking)
{
	if (!c->lone_ns)
		return;
	if (blocking && blk_now_ns() - c->lone_ns <= LONE_GAP_NS) {
		if (c->lone_streak < UINT8_MAX)
			c->lone_streak++;
	} else {
		c->lone_streak = 0;
	}
	c->lone_ns = 0;
}

/*
 * Batches. A program that keeps several requests in flight (QD > 1) and
 * waits for one right after issuing its batch (fio, iobench, a server's
 * loop) pays on a device for the hand-off to the AFU worker twice per
 * batch: the doorbell's wake-up and the worker's wake-up of the waiter,
 * with both threads spinning and sleeping in turn (on a virtio disk 4.9
 * context switches per 32 reads against io_uring's 2.1). So once
 * BATCH_STREAK blocking aresult calls in a row came soon after their
 * batch's first issue (BATCH_GAP_NS, plus BATCH_GAP_EACH_NS for each
 * request of the batch: what issuing them takes), an embedded chunk's
 * requests go in without the doorbell, and the blocking wait runs the
 * worker's passes on the caller's thread: one io_uring enter submits the
 * batch and waits for it, and the worker sleeps. That is io_uring's own
 * model (nothing starts before the submitting enter), for programs that
 * showed they wait right away. The run returns when all it submitted is
 * done (the worker's ring is not the caller's), which costs nothing where
 * the device completes a batch together (this VM's virtio disk: one wait
 * per 32 reads) and would idle the queue where completions trickle in:
 * one run in BATCH_PROBE_EVERY waits for each completion, and if it waited
 * more than BATCH_SPREAD times the next BATCH_SKIP requests go back to the
 * worker (thread.c). So do they after a run that did not wait at all
 * (memory): a worker spinning beside the caller is faster there. Not on
 * rbd (async_run: the caller submits to librbd at issue), nor with a
 * status word (its caller may never call again). Through cxlflashd (no
 * runner) the batch's wait rings the doorbell once instead: the daemon's
 * worker wakes to the whole batch and submits it in one enter, rather than
 * waking at its first request and submitting the rest piecemeal as they
 * come; only where the chunk's waits are a device's (slow_score, thread.c:
 * most take over 20 us), since on memory the worker serving requests as
 * they come overlaps the caller's issuing. A poll (non-blocking
 * aresult) ends the streak and rings the doorbell for what waits; a
 * request that rings takes them along. The cost of a wrong guess is one
 * batch not started until its wait.
 */
#define BATCH_STREAK 8
#define BATCH_GAP_NS 20000ull
#define BATCH_GAP_EACH_NS 10000ull

/* batch_issue_locked() - whether a request goes in without the doorbell as
 * part of a batch its caller's wait runs. Notes the batch's first issue. */
static bool batch_issue_locked(struct chunk *c, int flags, bool run)
{
	if (!run || (flags & CBLK_ARW_USER_STATUS_FLAG) || !c->sq_mode ||
	    (c->runner && c->async_run >= 0))
		return false;
	if (!c->batch_ns)
		c->batch_ns = blk_now_ns();
	c->batch_n++;
	if (c->batch_streak < BATCH_STREAK)
		return false;
	/* Through cxlflashd: only where waits are a device's (slow_score),
	 * and batches are batches (one request gains nothing). */
	if (!c->runner && (c->slow_score < SPIN_SCORE_ONE / 2 || c->batch_last_n < 2))
		return false;
	if (c->batch_skip) {
		c->batch_skip--;
		return false;
	}
	return true;
}

/* batch_wait_locked() - an aresult call; @blocking: one that waits. A poll
 * starts what waits for its wait (the worker, not this thread: a run would
 * wait for the device). */
static void batch_wait_locked(struct chunk *c, bool blocking)
{
	uint64_t each = c->batch_gap_each_ns ? c->batch_gap_each_ns : BATCH_GAP_EACH_NS;

	/* Owed from an earlier batch too (a blocking call that found its
	 * completion did not run them). */
	if (!blocking && c->batch_owed)
		blk_ring_owed_locked(c, true);
	if (!c->batch_ns)
		return;
	if (blocking && blk_now_ns() - c->batch_ns <= BATCH_GAP_NS + c->batch_n * each) {
		if (c->batch_streak < UINT8_MAX)
			c->batch_streak++;
	} else {
		c->batch_streak = 0;
	}
	c->batch_ns = 0;
	c->batch_last_n = c->batch_n;
	c->batch_n = 0;
}

/*
 * blk_async_issue_locked() - issue one async request (lock held).
 * Return: 0 with *@tag set, or -errno (EINVAL, EWOULDBLOCK, EBUSY, EIO,
 * EPROTONOSUPPORT).
 */
int blk_async_issue_locked(struct chunk *c, enum blk_op op, void *buf, cflash_offset_t lba,
			   size_t nblocks, int *tag, cblk_arw_status_t *status, int flags,
			   bool run)
{
	struct blk_cmd *cmd;
	bool lone = c->nasync == 0 && c->ninflight == 0, batch;
	int rc;

	rc = blk_check_rw(c, op, buf, lba, nblocks);
	if (rc)
		return rc;
	if (!tag)
		return -EINVAL;
	if ((flags & CBLK_ARW_USER_STATUS_FLAG) && (!status || !c->thread_running))
		return -EINVAL;
	if ((flags & CBLK_ARW_USER_TAG_FLAG) && blk_utag_find_locked(c, *tag))
		return -EINVAL;
	rc = blk_cmd_get_locked(c, flags & CBLK_ARW_WAIT_CMD_FLAGS, &cmd);
	if (rc)
		return rc;
	/* Waiting for a command unlocked the chunk: the tag may be taken now. */
	if ((flags & CBLK_ARW_USER_TAG_FLAG) && blk_utag_find_locked(c, *tag)) {
		blk_cmd_put_locked(c, cmd);
		return -EINVAL;
	}
	cmd->op = op;
	cmd->fua = op == BLK_OP_WRITE && (flags & CBLK_ARW_FUA_FLAG);
	/* Its aresult runs it. Else, on rbd, its caller runs it right away
	 * (async_issue: blk_run_async_locked). */
	cmd->ring_defer = deferred(flags) && !blk_defer_skip_locked(c);
	batch = !cmd->ring_defer && batch_issue_locked(c, flags, run);
	if (lone_issue_locked(c, lone, flags, run) && !cmd->ring_defer) {
		cmd->ring_defer = true;
		c->lone_owed = true;
	}
	if (batch && !cmd->ring_defer) {
		cmd->ring_defer = true;
		c->batch_owed = true;
	}
	cmd->run_at_issue = !cmd->ring_defer && run && blk_async_run_wanted(c);
	cmd->ring_defer |= cmd->run_at_issue;
	cmd->buf = buf;
	cmd->lba = (uint64_t)lba;
	cmd->nblocks = (uint32_t)nblocks;
	cmd->async = true;
	c->nasync++;
	if (flags & CBLK_ARW_USER_TAG_FLAG) {
		cmd->utag = *tag;
		blk_utag_add_locked(c, cmd);
	}
	if (flags & CBLK_ARW_USER_STATUS_FLAG) {
		status->blocks_transferred = 0;
		status->fail_errno = 0;
		__atomic_store_n(&status->status, CBLK_ARW_STATUS_PENDING, __ATOMIC_RELEASE);
		cmd->ustatus = status;
	}
	if (!(flags & CBLK_ARW_USER_TAG_FLAG))
		*tag = (int)cmd->index;
	blk_count_issue_locked(c, cmd);
	rc = blk_issue_locked(c, cmd);
	if (rc) {
		blk_abort_issue_locked(c, cmd);
		c->lone_ns = 0;
	} else {
		lone_issued_locked(c);
	}
	return rc;
}

static int async_issue(chunk_id_t chunk_id, enum blk_op op, void *buf, cflash_offset_t lba,
		       size_t nblocks, int *tag, cblk_arw_status_t *status, int flags)
{
	struct chunk *c;
	int rc;

	if (!buf || lba < 0)
		return -EINVAL;
	c = blk_chunk_get(chunk_id);
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	rc = blk_async_issue_locked(c, op, buf, lba, nblocks, tag, status, flags, true);
	/* A deferred request is left for its aresult to run. */
	if (c->ring_owed && !deferred(flags) && !c->lone_owed && !c->batch_owed)
		blk_run_async_locked(c);
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return rc;
}

int cblk_aread(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int *tag,
	       cblk_arw_status_t *status, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cgroup_arw_itag(chunk_id, CBLK_IO_TYPE_READ, buf, lba, nblocks, tag, status,
				       flags);
	return blk_ret(async_issue(chunk_id, BLK_OP_READ, buf, lba, nblocks, tag, status, flags));
}

int cblk_awrite(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int *tag,
		cblk_arw_status_t *status, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cgroup_arw_itag(chunk_id, CBLK_IO_TYPE_WRITE, buf, lba, nblocks, tag, status,
				       flags);
	return blk_ret(async_issue(chunk_id, BLK_OP_WRITE, buf, lba, nblocks, tag, status, flags));
}

int cblk_aunmap(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int *tag,
		cblk_arw_status_t *status, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cgroup_arw_itag(chunk_id, CBLK_IO_TYPE_UNMAP, buf, lba, nblocks, tag, status,
				       flags);
	return blk_ret(async_issue(chunk_id, BLK_OP_UNMAP, buf, lba, nblocks, tag, status, flags));
}

/* Reap a completed async command: its result, and the command goes free. */
static int reap_locked(struct chunk *c, struct blk_cmd *cmd)
{
	int rc = cmd->result ? cmd->result : -EIO;

	blk_done_remove_locked(c, cmd);
	blk_cmd_put_locked(c, cmd);
	/* A worker awake anyway may have run what went in without the
	 * doorbell: with nothing in flight, nothing is owed. */
	if (!c->ninflight)
		blk_owed_clear_locked(c);
	return rc;
}

/*
 * blk_aresult_locked() - cblk_aresult on a chunk (lock held), also used by
 * cblk_listio.
 * Return: blocks (> 0) of a reaped request, 0 when not complete yet, or
 * -errno: the request's failure (it is reaped), or EINVAL / ENOMSG / ENOENT
 * about the tag.
 */
int blk_aresult_locked(struct chunk *c, int *tag, int flags)
{
	struct blk_cmd *cmd;
	uint32_t gen;

	lone_wait_locked(c, flags & CBLK_ARESULT_BLOCKING);
	batch_wait_locked(c, flags & CBLK_ARESULT_BLOCKING);
	if (c->ring_owed && !(flags & CBLK_ARESULT_BLOCKING)) {
		/* A poll starts what waits for the doorbell, and has the
		 * completion thread (not kicked for it) harvest it. */
		blk_run_owed_locked(c, NULL, false);
		blk_thread_kick_locked(c);
	}
	if (!(flags & CBLK_ARESULT_NO_HARVEST) && !c->thread_running)
		blk_harvest_locked(c);
	if (flags & CBLK_ARESULT_NEXT_TAG) {
		while (!c->done_head) {
			if (c->nasync == 0)
				return -ENOENT;
			if (!(flags & CBLK_ARESULT_BLOCKING)) {
				c->stats.num_aresult_no_cmplt++;
				return 0;
			}
			blk_wait_locked(c, &c->cv_any, NULL);
		}
		cmd = c->done_head;
		*tag = cmd->has_utag ? cmd->utag : (int)cmd->index;
		return reap_locked(c, cmd);
	}
	if (flags & CBLK_ARESULT_USER_TAG) {
		cmd = blk_utag_find_locked(c, *tag);
		if (!cmd)
			return -EINVAL;
	} else {
		if (*tag < 0 || (unsigned)*tag >= c->ncmds)
			return -EINVAL;
		cmd = &c->cmds[*tag];
		if (cmd->state == CMD_FREE || !cmd->async)
			return -ENOMSG;
	}
	gen = cmd->gen;
	while (cmd->state != CMD_COMPLETE) {
		if (!(flags & CBLK_ARESULT_BLOCKING)) {
			c->stats.num_aresult_no_cmplt++;
			return 0;
		}
		blk_wait_locked(c, blk_cmd_cv(c, cmd), NULL);
		if (cmd->gen != gen || cmd->state == CMD_FREE)
			return -ENOMSG;   /* reaped by another thread meanwhile */
	}
	return reap_locked(c, cmd);
}

int cblk_aresult(chunk_id_t chunk_id, int *tag, uint64_t *status, int flags)
{
	struct chunk *c;
	int rc;

	if (flags & CBLK_GROUP_MASK)
		return cgroup_aresult_itag(chunk_id, tag, status, flags);
	if (!tag || !status) {
		errno = EINVAL;
		return -1;
	}
	c = blk_chunk_get(chunk_id);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	*status = 0;
	pthread_mutex_lock(&c->lock);
	rc = blk_aresult_locked(c, tag, flags);
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return blk_ret(rc);
}
