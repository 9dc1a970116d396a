/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd.c - the command machinery of a chunk: taking and freeing command
 * table entries, user tags, building IOARCBs (READ(16), WRITE(16), WRITE
 * SAME(16) with UNMAP, SYNCHRONIZE CACHE(16)), submitting them (SQ ring or
 * IOARRIN with cmd_room credits), harvesting the HRRQ, and turning an IOASA
 * into a block count or an errno, with retries where the status says a
 * retry may help.
 *
 * Everything here runs with chunk->lock held.
 */
#include "block/block_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "master/embedded.h"
#include "util/log.h"

#define SCSI_READ_16       0x88
#define SCSI_WRITE_16      0x8A
#define SCSI_RW_FUA        0x08   /* byte 1 of WRITE(16): force unit access */
#define SCSI_WRITE_SAME_16 0x93
#define SCSI_WS_UNMAP      0x08
#define SCSI_SYNC_CACHE_16 0x91

#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_QUEUE_FULL           0x28

#define SK_NO_SENSE        0x0
#define SK_RECOVERED_ERROR 0x1
#define SK_NOT_READY       0x2
#define SK_MEDIUM_ERROR    0x3
#define SK_HARDWARE_ERROR  0x4
#define SK_ILLEGAL_REQUEST 0x5
#define SK_UNIT_ATTENTION  0x6
#define SK_ABORTED_COMMAND 0xB

/* What to do with a command whose IOASA is not good. */
enum blk_action {
	ACT_DONE,    /* final: success (*err == 0) or failure with *err */
	ACT_RETRY,   /* resubmit, up to BLK_CMD_RETRIES times; then fail with *err */
	ACT_VERIFY,  /* unit attention: DK_CXLFLASH_VERIFY, then retry */
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* ---------------------------------------------------------------------------
 * The command table
 */

/*
 * blk_cmd_get_locked() - take a free command.
 * @c: the chunk
 * @wait: wait for one (up to BLK_FREE_WAIT_MS) instead of failing
 * @out: the command, ACTIVE, with its per-use fields reset
 *
 * Return: 0, -EWOULDBLOCK (none free and !@wait), -EBUSY (waited in vain),
 * -EINVAL (the chunk is closing) or -EIO (the chunk failed).
 */
int blk_cmd_get_locked(struct chunk *c, bool wait, struct blk_cmd **out)
{
	struct timespec deadline;
	bool counted = false;
	struct blk_cmd *cmd;

	for (;;) {
		if (c->closing)
			return -EINVAL;
		if (c->failed)
			return -EIO;
		if (c->free_head)
			break;
		if (!counted) {
			c->stats.num_no_cmds_free++;
			counted = true;
			blk_deadline(&deadline, BLK_FREE_WAIT_MS);
		}
		if (!wait)
			return -EWOULDBLOCK;
		blk_wait_locked(c, &c->cv_free, &deadline);
		if (!c->free_head && blk_deadline_passed(&deadline)) {
			c->stats.num_no_cmds_free_fail++;
			return -EBUSY;
		}
	}
	cmd = c->free_head;
	c->free_head = cmd->next;
	c->nfree--;
	cmd->next = cmd->prev = NULL;
	cmd->state = CMD_ACTIVE;
	cmd->gen++;
	cmd->async = false;
	cmd->in_flight = false;
	cmd->has_utag = false;
	cmd->utag = 0;
	cmd->fua = false;
	cmd->cache_lost = false;
	cmd->ustatus = NULL;
	cmd->result = 0;
	cmd->retries = 0;
	c->nactive++;
	c->nbusy++;
	*out = cmd;
	return 0;
}

/* The active count of @cmd's kind goes down by one. */
static void act_dec(struct chunk *c, const struct blk_cmd *cmd)
{
	chunk_stats_t *s = &c->stats;
	bool rd = cmd->op == BLK_OP_READ;

	if (cmd->op == BLK_OP_SYNC)
		return;
	if (cmd->async) {
		if (rd)
			s->num_act_areads--;
		else
			s->num_act_awrites--;
	} else {
		if (rd)
			s->num_act_reads--;
		else
			s->num_act_writes--;
	}
}

static void utag_remove_locked(struct chunk *c, struct blk_cmd *cmd)
{
	struct blk_cmd **pp = &c->utag_hash[(unsigned)cmd->utag & c->utag_mask];

	for (; *pp; pp = &(*pp)->utag_next) {
		if (*pp == cmd) {
			*pp = cmd->utag_next;
			break;
		}
	}
	cmd->utag_next = NULL;
}

/* blk_cmd_put_locked() - free a command (taken, not in flight). */
void blk_cmd_put_locked(struct chunk *c, struct blk_cmd *cmd)
{
	if (cmd->has_utag)
		utag_remove_locked(c, cmd);
	if (cmd->async) {
		c->nasync--;
		if (cmd->state == CMD_COMPLETE && !cmd->ustatus)
			act_dec(c, cmd);   /* reaped */
	}
	if (cmd->state == CMD_ACTIVE)
		c->nbusy--;
	cmd->has_utag = false;
	cmd->ustatus = NULL;
	cmd->state = CMD_FREE;
	cmd->next = c->free_head;
	c->free_head = cmd;
	c->nfree++;
	c->nactive--;
	pthread_cond_broadcast(&c->cv_free);
}

/* blk_utag_find_locked() - the async command carrying user tag @utag, or NULL. */
struct blk_cmd *blk_utag_find_locked(struct chunk *c, int utag)
{
	struct blk_cmd *cmd = c->utag_hash[(unsigned)utag & c->utag_mask];

	while (cmd && cmd->utag != utag)
		cmd = cmd->utag_next;
	return cmd;
}

void blk_utag_add_locked(struct chunk *c, struct blk_cmd *cmd)
{
	struct blk_cmd **head = &c->utag_hash[(unsigned)cmd->utag & c->utag_mask];

	cmd->has_utag = true;
	cmd->utag_next = *head;
	*head = cmd;
}

/* blk_done_remove_locked() - take a completed async command off the FIFO. */
void blk_done_remove_locked(struct chunk *c, struct blk_cmd *cmd)
{
	if (cmd->prev)
		cmd->prev->next = cmd->next;
	else
		c->done_head = cmd->next;
	if (cmd->next)
		cmd->next->prev = cmd->prev;
	else
		c->done_tail = cmd->prev;
	cmd->next = cmd->prev = NULL;
}

static void done_append_locked(struct chunk *c, struct blk_cmd *cmd)
{
	cmd->next = NULL;
	cmd->prev = c->done_tail;
	if (c->done_tail)
		c->done_tail->next = cmd;
	else
		c->done_head = cmd;
	c->done_tail = cmd;
}

static void flight_add_locked(struct chunk *c, struct blk_cmd *cmd)
{
	cmd->fnext = NULL;
	cmd->fprev = c->fl_tail;
	if (c->fl_tail)
		c->fl_tail->fnext = cmd;
	else
		c->fl_head = cmd;
	c->fl_tail = cmd;
	cmd->in_flight = true;
	c->ninflight++;
}

static void flight_remove_locked(struct chunk *c, struct blk_cmd *cmd)
{
	if (cmd->fprev)
		cmd->fprev->fnext = cmd->fnext;
	else
		c->fl_head = cmd->fnext;
	if (cmd->fnext)
		cmd->fnext->fprev = cmd->fprev;
	else
		c->fl_tail = cmd->fprev;
	cmd->fnext = cmd->fprev = NULL;
	cmd->in_flight = false;
	c->ninflight--;
}

/*
 * blk_count_issue_locked() - the statistics of a command being issued:
 * request counts and active counts (with their high-water marks).
 */
void blk_count_issue_locked(struct chunk *c, struct blk_cmd *cmd)
{
	chunk_stats_t *s = &c->stats;
	bool rd = cmd->op == BLK_OP_READ;

	if (cmd->op == BLK_OP_SYNC)
		return;
	if (cmd->async) {
		if (rd) {
			s->num_areads++;
			if (++s->num_act_areads > s->max_num_act_areads)
				s->max_num_act_areads = s->num_act_areads;
		} else {
			s->num_awrites++;
			if (++s->num_act_awrites > s->max_num_act_awrites)
				s->max_num_act_awrites = s->num_act_awrites;
		}
	} else {
		if (rd) {
			s->num_reads++;
			if (++s->num_act_reads > s->max_num_act_reads)
				s->max_num_act_reads = s->num_act_reads;
		} else {
			s->num_writes++;
			if (++s->num_act_writes > s->max_num_act_writes)
				s->max_num_act_writes = s->num_act_writes;
		}
	}
}

/* ---------------------------------------------------------------------------
 * Building and submitting
 */

/* A command's staging slot in the DMA area. */
static uint8_t *stage_slot(struct chunk *c, const struct blk_cmd *cmd)
{
	return c->stage + (size_t)cmd->index * c->stage_blocks * BLK_BLOCK_SIZE;
}

/*
 * blk_data_ea() - the effective address the AFU moves a command's data
 * to or from: the caller's buffer as it is in-process (no alignment
 * needed), or when the AFU reaches only the DMA area and the buffer lies
 * wholly in the process's buffer area (cblk_dma_alloc) that the context
 * reaches too; else the command's staging slot, with write data copied in
 * here (so a resubmission after recovery, which maps a fresh area, stages
 * it again).
 */
uint64_t blk_data_ea(struct chunk *c, struct blk_cmd *cmd)
{
	uint64_t b = (uint64_t)(uintptr_t)cmd->buf, len = (uint64_t)cmd->nblocks * BLK_BLOCK_SIZE;
	uint8_t *slot;

	cmd->direct = false;
	if (cmd->op == BLK_OP_SYNC)
		return 0;  /* no data */
	if (!c->dma_only)
		return b;
	if (cmd->op != BLK_OP_UNMAP && b >= c->buf_lo && b < c->buf_hi &&
	    len <= c->buf_hi - b) {
		cmd->direct = true;
		c->n_direct++;
		return b;
	}
	c->n_staged++;
	slot = stage_slot(c, cmd);
	if (cmd->op == BLK_OP_WRITE)
		memcpy(slot, cmd->buf, (size_t)cmd->nblocks * BLK_BLOCK_SIZE);
	else if (cmd->op == BLK_OP_UNMAP)
		memset(slot, 0, BLK_BLOCK_SIZE);
	return (uint64_t)(uintptr_t)slot;
}

/* blk_cmd_build() - fill @cmd's IOARCB from its op, LBA, count and buffer. */
void blk_cmd_build(struct chunk *c, struct blk_cmd *cmd)
{
	struct sisl_iocmd *ioc = cmd->ioc;
	struct sisl_ioarcb *r = &ioc->rcb;

	memset(ioc, 0, sizeof(*ioc));
	r->ctx_id = (uint16_t)(c->ctxid & 0xFFFF);
	r->req_flags = SISL_REQ_FLAGS_RES_HNDL |
		       (cmd->op == BLK_OP_READ ? SISL_REQ_FLAGS_HOST_READ :
						 SISL_REQ_FLAGS_HOST_WRITE);
	r->res_hndl = (uint32_t)c->rsrc_handle;
	r->data_ea = blk_data_ea(c, cmd);
	switch (cmd->op) {
	case BLK_OP_READ:
		r->cdb[0] = SCSI_READ_16;
		r->data_len = cmd->nblocks * BLK_BLOCK_SIZE;
		break;
	case BLK_OP_WRITE:
		r->cdb[0] = SCSI_WRITE_16;
		r->cdb[1] = cmd->fua ? SCSI_RW_FUA : 0;
		r->data_len = cmd->nblocks * BLK_BLOCK_SIZE;
		break;
	case BLK_OP_UNMAP:
		r->cdb[0] = SCSI_WRITE_SAME_16;
		r->cdb[1] = SCSI_WS_UNMAP;
		r->data_len = BLK_BLOCK_SIZE;   /* one block, replicated or unmapped */
		break;
	case BLK_OP_SYNC:
		/* LBA 0, 0 blocks: the whole medium (cmd->lba and nblocks are 0). */
		r->cdb[0] = SCSI_SYNC_CACHE_16;
		break;
	}
	put_be64(&r->cdb[2], cmd->lba);
	put_be32(&r->cdb[10], cmd->nblocks);
	r->sq_ioasa_ea = (uint64_t)(uintptr_t)&ioc->sa;
}

bool blk_window_dead(const struct sisl_host_map *map)
{
	return sisl_read64(&map->cmd_room) == SISL_ALL_ONES;
}

/*
 * blk_setup_queues() - (re)program the HRRQ (zeroed, toggle 1) and, in SQ
 * mode, the SQ ring of the chunk's current window. Nothing may be in flight
 * at the AFU for this window.
 */
void blk_setup_queues(struct chunk *c)
{
	sisl_hrrq_init(&c->hrrq, c->map, c->hrrq_mem, c->ncmds);
	if (c->sq_mode) {
		memset(c->sq, 0, (c->ncmds + 1) * sizeof(*c->sq));
		c->sq_curr = c->sq;
		sisl_write64(&c->map->sq_start, (uint64_t)(uintptr_t)c->sq);
		sisl_write64(&c->map->sq_end, (uint64_t)(uintptr_t)(c->sq + c->ncmds));
		sisl_write64(&c->map->sq_tail, (uint64_t)(uintptr_t)c->sq);
	}
	c->cmd_room = 0;
}

/*
 * blk_submit_locked() - build @cmd's IOARCB and hand it to the AFU.
 *
 * A window found in error (all ones) starts recovery, which resubmits
 * every command in flight, this one included (or fails them all).
 * Return: 0 once the command is in flight (or already completed by a failed
 * recovery), -EAGAIN when IOARRIN mode has no cmd_room left, -EIO when the
 * chunk has failed.
 */
int blk_submit_locked(struct chunk *c, struct blk_cmd *cmd)
{
	struct sisl_host_map *map = c->map;
	bool dead = false, defer = cmd->ring_defer && (c->runner || c->batch_owed),
	     at_issue = cmd->run_at_issue;

	cmd->ring_defer = cmd->run_at_issue = false;   /* a resubmission (recovery) rings */
	if (c->failed)
		return -EIO;
	blk_cmd_build(c, cmd);
	if (c->sq_mode) {
		*c->sq_curr = cmd->ioc->rcb;
		c->sq_curr = c->sq_curr == c->sq + c->ncmds ? c->sq : c->sq_curr + 1;
		sisl_write64(&map->sq_tail, (uint64_t)(uintptr_t)c->sq_curr);
		if (!defer) {
			/* The worker takes what waits in the SQ along. */
			sisl_ring_doorbell(map);
			blk_owed_clear_locked(c);
		}
		c->ring_owed |= defer;   /* the waiter runs it (blk_wait_locked) */
		dead = blk_window_dead(map);
	} else {
		if (c->cmd_room == 0) {
			uint64_t room = sisl_read64(&map->cmd_room);

			if (room == SISL_ALL_ONES) {
				dead = true;
			} else if (room == 0) {
				c->stats.num_no_cmd_room++;
				return -EAGAIN;
			} else {
				c->cmd_room = room;
			}
		}
		if (!dead) {
			if (sisl_ioarrin_write(map, (uint64_t)(uintptr_t)&cmd->ioc->rcb))
				dead = true;
			else
				c->cmd_room--;
		}
	}
	flight_add_locked(c, cmd);
	/* A command its waiter runs is harvested by that waiter: waking the
	 * completion thread for it would only cost a wake-up (and the thread
	 * then stands aside anyway). A poll of it kicks the thread. One its
	 * issuer runs at once (rbd) has no waiter yet: the thread is kicked. */
	if (!(defer && c->sq_mode) || at_issue)
		blk_thread_kick_locked(c);
	if (dead && !c->recovering)
		blk_recover_locked(c);
	return 0;
}

/*
 * blk_issue_locked() - submit @cmd, waiting for cmd_room in IOARRIN mode
 * (every 100 us, 5 s at most, as IBM's library did).
 * Return: 0, -EBUSY (no room), -EIO (chunk failed).
 */
int blk_issue_locked(struct chunk *c, struct blk_cmd *cmd)
{
	if (cmd->op == BLK_OP_SYNC)
		cmd->wseq = c->write_seq;
	for (unsigned tries = 0;; tries++) {
		int rc = blk_submit_locked(c, cmd);

		if (rc != -EAGAIN)
			return rc;
		if (tries >= 50000)
			return -EBUSY;
		if (!c->thread_running)
			blk_harvest_locked(c);
		pthread_mutex_unlock(&c->lock);
		usleep(100);
		pthread_mutex_lock(&c->lock);
	}
}

/* ---------------------------------------------------------------------------
 * Completion
 */

/*
 * blk_complete_locked() - a command's final result: statistics, the
 * caller's status word, the completed FIFO (async) and the wake-ups. An
 * async command with a user status word is freed here (IBM's library did
 * the same): its status is all the caller gets, and cblk_aresult on its tag
 * finds it no longer in use.
 */
void blk_complete_locked(struct chunk *c, struct blk_cmd *cmd, int result)
{
	chunk_stats_t *s = &c->stats;
	bool rd = cmd->op == BLK_OP_READ;

	if (cmd->op == BLK_OP_SYNC && result >= 0) {
		if (cmd->cache_lost || c->cache_lost) {
			/* It cannot vouch for writes the lost master acknowledged. */
			log_err("chunk %d: this flush fails: writes acknowledged since the last "
				"flush may have been lost with the master that was serving the LUN",
				c->id);
			c->cache_lost = false;
			result = -EIO;
		} else if (cmd->wseq > c->flushed_seq) {
			c->flushed_seq = cmd->wseq;
		}
	} else if (result > 0 && (cmd->op == BLK_OP_WRITE || cmd->op == BLK_OP_UNMAP) &&
		   !cmd->fua) {
		c->write_seq++;
	}
	if (c->dma_only && !cmd->direct && result > 0 && rd)
		memcpy(cmd->buf, stage_slot(c, cmd), (size_t)result * BLK_BLOCK_SIZE);
	cmd->result = result;
	cmd->state = CMD_COMPLETE;
	c->nbusy--;
	/* An async request stays active (IBM's count) until it is reaped. */
	if (!cmd->async || cmd->ustatus)
		act_dec(c, cmd);
	if (result >= 0) {
		if (rd)
			s->num_blocks_read += (uint64_t)result;
		else
			s->num_blocks_written += (uint64_t)result;
	} else {
		s->num_errors++;
	}
	if (cmd->ustatus) {
		cblk_arw_status_t *u = cmd->ustatus;

		u->blocks_transferred = result >= 0 ? (size_t)result : 0;
		u->fail_errno = result >= 0 ? 0 : -result;
		__atomic_store_n(&u->status,
				 result >= 0 ? CBLK_ARW_STATUS_SUCCESS : CBLK_ARW_STATUS_FAIL,
				 __ATOMIC_RELEASE);
	}
	pthread_cond_broadcast(blk_cmd_cv(c, cmd));
	if (cmd->async) {
		if (cmd->ustatus) {
			/* The status word was the notification: nobody reaps it. */
			blk_cmd_put_locked(c, cmd);
		} else {
			done_append_locked(c, cmd);
		}
		pthread_cond_broadcast(&c->cv_any);
	}
}

/*
 * blk_abort_issue_locked() - a command that never went in flight: undo its
 * active counts, count the error and free it.
 */
void blk_abort_issue_locked(struct chunk *c, struct blk_cmd *cmd)
{
	act_dec(c, cmd);
	c->stats.num_errors++;
	cmd->ustatus = NULL;
	blk_cmd_put_locked(c, cmd);
}

/* blk_fail_all_locked() - complete every command in flight with -@err. */
void blk_fail_all_locked(struct chunk *c, int err)
{
	while (c->fl_head) {
		struct blk_cmd *cmd = c->fl_head;

		flight_remove_locked(c, cmd);
		blk_complete_locked(c, cmd, -err);
	}
	pthread_cond_broadcast(&c->cv_free);
	pthread_cond_broadcast(&c->cv_any);
}

/* Classify a sense key (fixed-format sense data). */
static enum blk_action sense_action(const uint8_t *sense, int *err)
{
	switch (sense[2] & 0x0F) {
	case SK_NO_SENSE:
	case SK_RECOVERED_ERROR:
		*err = 0;
		return ACT_DONE;
	case SK_NOT_READY:
	case SK_ABORTED_COMMAND:
		*err = EIO;
		return ACT_RETRY;
	case SK_UNIT_ATTENTION:
		*err = EIO;
		return ACT_VERIFY;
	case SK_MEDIUM_ERROR:
	case SK_HARDWARE_ERROR:
	case SK_ILLEGAL_REQUEST:
	default:
		*err = EIO;
		return ACT_DONE;
	}
}

/*
 * ioasa_action() - what a non-good IOASA means (capiflash-libraries.md
 * 2.5): AFU errors first, then the SCSI status and sense, then the FC
 * status. Counts the error classes in the chunk's statistics.
 */
static enum blk_action ioasa_action(struct chunk *c, const struct sisl_ioasa *sa, int *err)
{
	const struct sisl_rc *rc = &sa->rc;
	chunk_stats_t *s = &c->stats;

	if (rc->afu_rc) {
		s->num_afu_errors++;
		switch (rc->afu_rc) {
		case SISL_AFU_RC_NO_CHANNELS:
			*err = ENETDOWN;
			return ACT_RETRY;
		case SISL_AFU_RC_DATA_DMA_ERR:
			*err = EIO;
			return sa->afu_extra == SISL_AFU_DMA_ERR_PAGE_IN ? ACT_RETRY : ACT_DONE;
		case SISL_AFU_RC_OUT_OF_DATA_BUFS:
		case SISL_AFU_RC_CAP_VIOLATION:
			*err = EIO;
			return ACT_RETRY;
		case SISL_AFU_RC_TIMED_OUT_PRE_FC:
		case SISL_AFU_RC_TIMED_OUT:
			s->num_timeouts++;
			*err = ETIMEDOUT;
			return ACT_RETRY;
		default:  /* RHT/LXT invalid, out of bounds, unaligned, DMA, permission */
			*err = EIO;
			return ACT_DONE;
		}
	}
	if (rc->scsi_rc) {
		s->num_cc_errors++;
		if (rc->flags & SISL_RC_FLAGS_SENSE_VALID)
			return sense_action(sa->sense_data, err);
		switch (rc->scsi_rc) {
		case SISL_SCSI_RC_BUSY:
		case SCSI_STATUS_QUEUE_FULL:
			*err = EBUSY;
			return ACT_RETRY;
		case SCSI_STATUS_RESERVATION_CONFLICT:
			*err = EBUSY;
			return ACT_DONE;
		default:  /* CHECK CONDITION without sense, and the rest */
			*err = EIO;
			return ACT_RETRY;
		}
	}
	if (rc->fc_rc) {
		s->num_fc_errors++;
		s->num_port0_fc_errors++;
		switch (rc->fc_rc) {
		case SISL_FC_RC_ABORTPEND:
		case SISL_FC_RC_WRABORTPEND:
			*err = ETIMEDOUT;
			return ACT_RETRY;
		case SISL_FC_RC_LINKDOWN:
			s->num_port0_linkdowns++;
			*err = ENETDOWN;
			return ACT_RETRY;
		case SISL_FC_RC_NOLOGI:
			s->num_port0_no_logins++;
			*err = ENETDOWN;
			return ACT_RETRY;
		case SISL_FC_RC_NOEXP:
		case SISL_FC_RC_INUSE:
			*err = EIO;
			return ACT_DONE;
		case SISL_FC_RC_SHUTDOWN:
			*err = ENETDOWN;
			return ACT_DONE;
		default:  /* ABORTOK, ABORTFAIL, RESID, RESIDERR, TGTABORT */
			*err = EIO;
			return ACT_RETRY;
		}
	}
	if (rc->flags & SISL_RC_FLAGS_SENSE_VALID)
		return sense_action(sa->sense_data, err);
	if (rc->flags & SISL_RC_FLAGS_UNDERRUN) {
		*err = 0;
		return ACT_DONE;
	}
	*err = EIO;
	return ACT_DONE;
}

/* Blocks a successful command moved (an underrun reports fewer). */
static int good_blocks(const struct blk_cmd *cmd)
{
	const struct sisl_ioasa *sa = &cmd->ioc->sa;
	uint32_t len, resid;

	if (cmd->op == BLK_OP_UNMAP || cmd->op == BLK_OP_SYNC ||
	    !(sa->rc.flags & SISL_RC_FLAGS_UNDERRUN))
		return (int)cmd->nblocks;
	len = cmd->nblocks * BLK_BLOCK_SIZE;
	resid = sa->resid > len ? len : sa->resid;
	return (int)((len - resid) / BLK_BLOCK_SIZE);
}

/* blk_process_completion_locked() - a harvested command: finish it, or retry it. */
void blk_process_completion_locked(struct chunk *c, struct blk_cmd *cmd)
{
	const struct sisl_ioasa *sa = &cmd->ioc->sa;
	enum blk_action act;
	int err = 0, n;

	if (sa->ioasc == SISL_IOASC_GOOD_COMPLETION) {
		blk_complete_locked(c, cmd, (int)cmd->nblocks);
		return;
	}
	act = ioasa_action(c, sa, &err);
	if (act == ACT_VERIFY) {
		uint8_t sense[SISL_SENSE_DATA_LEN];

		memcpy(sense, sa->sense_data, sizeof(sense));
		blk_verify_locked(c, sense);
		act = ACT_RETRY;
	}
	if (act == ACT_RETRY && cmd->retries < BLK_CMD_RETRIES && !c->closing) {
		cmd->retries++;
		c->stats.num_retries++;
		if (blk_submit_locked(c, cmd) == 0)
			return;
	}
	if (err == 0) {
		n = good_blocks(cmd);
		blk_complete_locked(c, cmd, n > 0 || cmd->op == BLK_OP_SYNC ? n : -EIO);
		return;
	}
	log_debug("chunk %d: tag %u failed: ioasc 0x%08x (afu 0x%02x scsi 0x%02x fc 0x%02x) -> %s",
		  c->id, cmd->index, sa->ioasc, sa->rc.afu_rc, sa->rc.scsi_rc, sa->rc.fc_rc,
		  strerror(err));
	blk_complete_locked(c, cmd, -err);
}

/* The command an HRRQ entry points at, or NULL if it points at none. */
static struct blk_cmd *ea_to_cmd(struct chunk *c, uint64_t ea)
{
	uint64_t base = (uint64_t)(uintptr_t)c->iocmds;
	uint64_t off = c->sq_mode ? offsetof(struct sisl_iocmd, sa) : 0;
	uint64_t d;

	if (ea < base + off)
		return NULL;
	d = ea - base - off;
	if (d % sizeof(struct sisl_iocmd) || d / sizeof(struct sisl_iocmd) >= c->ncmds)
		return NULL;
	return &c->cmds[d / sizeof(struct sisl_iocmd)];
}

/*
 * check_master() - commands in flight and no completion for a while: if
 * the master's process is gone (cxlflashd killed or restarting), nobody
 * will ever answer or put the window in error, so do what the AFU would
 * have done: make the window read as dead, which starts recovery.
 */
static void check_master(struct chunk *c)
{
	uint64_t now = blk_now_ns();

	if (now - c->progress_ns < BLK_LIVENESS_NS || now - c->alive_check_ns < BLK_LIVENESS_NS)
		return;
	c->alive_check_ns = now;
	if (!cxlflash_conn_alive(c->fd1)) {
		log_warn("chunk %d: the master serving it went away with %u commands in flight",
			 c->id, c->ninflight);
		sisl_write64(&c->map->cmd_room, SISL_ALL_ONES);
	}
}

/*
 * blk_harvest_locked() - take every completion the HRRQ holds and process
 * it. With commands in flight and nothing posted, look at the window: all
 * ones means the context is in error, and recovery runs here.
 * Return: the number of entries taken (a recovery counts as one).
 */
int blk_harvest_locked(struct chunk *c)
{
	int n = 0;

	if (c->recovering)
		return 0;
	for (;;) {
		uint64_t ea = sisl_hrrq_next(&c->hrrq);
		struct blk_cmd *cmd;

		if (ea == 0)
			break;
		if (ea == SISL_ALL_ONES) {
			blk_recover_locked(c);
			n++;
			continue;
		}
		cmd = ea_to_cmd(c, ea);
		if (!cmd || !cmd->in_flight) {
			log_warn("chunk %d: unexpected HRRQ entry 0x%llx", c->id,
				 (unsigned long long)ea);
			c->stats.num_capi_false_reads++;
			continue;
		}
		flight_remove_locked(c, cmd);
		blk_process_completion_locked(c, cmd);
		n++;
	}
	if (n > 0) {
		c->progress_ns = blk_now_ns();
	} else if (c->ninflight) {
		check_master(c);
		if (blk_window_dead(c->map)) {
			blk_recover_locked(c);
			n = 1;
		}
	}
	return n;
}

/*
 * blk_drain_hrrq_locked() - for recovery: take the completions the old
 * context posted before it died, without processing them or looking at the
 * window. Return: the commands, linked through fnext, oldest first.
 */
struct blk_cmd *blk_drain_hrrq_locked(struct chunk *c)
{
	struct blk_cmd *head = NULL, **tail = &head;

	for (;;) {
		uint64_t ea = sisl_hrrq_next(&c->hrrq);
		struct blk_cmd *cmd;

		if (ea == 0 || ea == SISL_ALL_ONES)
			break;
		cmd = ea_to_cmd(c, ea);
		if (!cmd || !cmd->in_flight)
			continue;
		flight_remove_locked(c, cmd);
		*tail = cmd;
		tail = &cmd->fnext;
	}
	return head;
}

/*
 * blk_take_inflight_locked() - for recovery: everything still in flight,
 * which the dead context dropped. Return: the commands, linked through
 * fnext, in submission order; none is in flight any more.
 */
struct blk_cmd *blk_take_inflight_locked(struct chunk *c)
{
	struct blk_cmd *head = c->fl_head;

	for (struct blk_cmd *cmd = head; cmd; cmd = cmd->fnext)
		cmd->in_flight = false;
	c->fl_head = c->fl_tail = NULL;
	c->ninflight = 0;
	return head;
}
