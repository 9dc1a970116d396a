/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recover.c - error recovery of a chunk's context, and VERIFY after a unit
 * attention.
 *
 * A context in error reads all ones everywhere in its window (an AFU reset
 * or an injected error). Whoever notices it first (a submitter, a
 * harvester, the completion thread) recovers while holding the chunk lock,
 * so every other thread of the chunk simply waits for the lock:
 *
 *   1. DK_CXLFLASH_RECOVER_AFU on the chunk's context;
 *   2. with DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET: map the new window, adopt
 *      the new context id and adap_fd, close the old adap_fd (the old
 *      mapping stays until close: a futex sleeper may still look at it);
 *   3. take the completions the old context posted before it died, and
 *      the commands it dropped (everything else in flight);
 *   4. program the HRRQ (zeroed, toggle 1) and the SQ of the new window;
 *   5. finish the posted completions and resubmit every dropped command,
 *      in submission order, so no command is lost.
 *
 * If RECOVER_AFU fails (BLK_RECOVER_TRIES times, or once with EINVAL: the
 * master does not know the context), the master may have lost the context
 * altogether (cxlflashd restarted: its contexts and vLUNs are
 * gone, physical data is not). A physical chunk then reattaches: a new
 * context and USER_DIRECT, waiting up to BLK_REATTACH_MS for the master to
 * be back, and every command in flight is resubmitted (reads return the
 * data, writes are written again; none fails), except that when the lost
 * master said its backend has a volatile cache of its own
 * (DK_CXLFLASH_MASTER_CACHE: librbd's, for an rbd LUN taken over by another
 * daemon) and writes completed since the last flush, the next flush (and
 * any in flight) fails with EIO: the lost master may have held them in that
 * cache, and a flush answered by the new one cannot vouch for them. Other
 * backends (a file, a device: written by the lost master before it
 * acknowledged) lose nothing that way, and their flushes succeed. A virtual
 * chunk whose LUN keeps vLUN maps (an rbd image: the master gave it a
 * vlun_id) does the same with its vLUN, taken back by id from the new
 * master (DK_CXLFLASH_UVIRTUAL_REATTACH); any other virtual chunk cannot get
 * its vLUN back, and fails. A failed chunk completes every command in
 * flight with EIO, and so does every later request.
 */
#include "block/block_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/*
 * adopt_window() - switch the chunk to the window RECOVER_AFU handed out.
 * Return: 0 or -errno (the chunk keeps its old window; the new adap_fd is
 * closed).
 */
static int adopt_window(struct chunk *c, const struct dk_cxlflash_recover_afu *r)
{
	int rc = blk_adopt_window(c, r->context_id, (int)r->adap_fd, r->mmio_size,
				  r->hdr.return_flags);

	if (rc)
		close((int)r->adap_fd);
	return rc;
}

/*
 * reattach() - a new context and LUN handle from a master that lost ours
 * (see the file comment). Waits for the master to come back.
 * Return: 0, or -errno when it did not come back in time.
 */
static int reattach(struct chunk *c)
{
	struct dk_cxlflash_attach a;
	struct timespec deadline;
	int rc;

	if (c->virtual_lun && !c->vlun_id) {
		log_err("chunk %d: the master lost this virtual LUN's context; its data is gone",
			c->id);
		return -EIO;
	}
	blk_deadline(&deadline, BLK_REATTACH_MS);
	do {
		rc = blk_attach_context(c, &a);
		if (!rc) {
			rc = c->virtual_lun ? blk_vlun_reattach(c) : blk_user_direct(c);
			if (!rc)
				return 0;
			if (c->virtual_lun && (rc == -ENOENT || rc == -EACCES || rc == -EINVAL)) {
				/* The master that serves the LUN now has no such vLUN
				 * waiting (or not for us): waiting will not bring it. */
				struct dk_cxlflash_detach d = { .context_id = c->ctxid };

				cxlflash_ioctl(c->fd1, DK_CXLFLASH_DETACH, &d);
				log_err("chunk %d: the master serving the LUN cannot give this "
					"virtual LUN back: %s", c->id, strerror(-rc));
				return -EIO;
			}
		}
		if (rc != -ENOTCONN && rc != -EPIPE && rc != -ECONNRESET && rc != -ENOENT &&
		    rc != -EINVAL)
			break;
		/* Lock held: the chunk's other threads wait here anyway. */
		usleep(20000);
	} while (!blk_deadline_passed(&deadline));
	log_err("chunk %d: cannot reattach: %s", c->id, strerror(-rc));
	return rc;
}

/*
 * blk_recover_locked() - recover the chunk's context (see the file comment).
 * @c: the chunk, lock held
 *
 * Re-entrant calls (a resubmission that sees the window die again starts
 * a new round once this one is done) are safe. Called with nothing to
 * recover (a healthy window) it only counts a false alarm.
 * Return: 0 when the chunk is usable again, -EIO when it has failed.
 */
int blk_recover_locked(struct chunk *c)
{
	struct dk_cxlflash_recover_afu r;
	struct blk_cmd *done = NULL, *redo = NULL, *next;
	int rc = -EIO;

	if (c->recovering)
		return 0;
	if (c->failed)
		return -EIO;
	if (!blk_window_dead(c->map)) {
		c->stats.num_capi_false_reads++;
		return 0;
	}
	c->recovering = true;
	c->stats.num_capi_adap_chck_err++;
	for (unsigned tries = 0; tries < BLK_RECOVER_TRIES; tries++) {
		memset(&r, 0, sizeof(r));
		r.context_id = c->ctxid;
		r.reason = 0;
		if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_RECOVER_AFU, &r)) {
			rc = -errno;
			if (rc == -EINVAL) {
				/* This master does not know the context: another
				 * one (restarted, or a takeover). No retry helps. */
				log_notice("chunk %d: the master does not know context 0x%llx: "
					   "reattaching", c->id, (unsigned long long)c->ctxid);
				break;
			}
			log_warn("chunk %d: RECOVER_AFU of context 0x%llx failed: %s", c->id,
				 (unsigned long long)c->ctxid, strerror(errno));
			continue;
		}
		if (!(r.hdr.return_flags & DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET)) {
			/* The master found the context healthy. */
			rc = blk_window_dead(c->map) ? -EIO : 0;
			if (rc == 0)
				break;
			continue;
		}
		rc = adopt_window(c, &r);
		if (rc)
			continue;
		done = blk_drain_hrrq_locked(c);
		redo = blk_take_inflight_locked(c);
		blk_setup_queues(c);
		c->stats.num_reset_contexts++;
		log_notice("chunk %d: context recovered as 0x%llx", c->id,
			   (unsigned long long)c->ctxid);
		break;
	}
	if (rc && (!c->virtual_lun || c->vlun_id) && rc != -ENOMEM) {
		/* What the lost master said, before the new one answers. */
		bool lost_cache = c->master_cache;

		rc = reattach(c);
		if (!rc) {
			/* The old HRRQ went with the old context: redo everything. */
			redo = blk_take_inflight_locked(c);
			if (lost_cache && c->write_seq != c->flushed_seq) {
				/* Writes it acknowledged since the last flush may be
				 * gone with it (librbd's cache): no flush issued before
				 * we knew, nor the next one, may say they are durable. */
				c->cache_lost = true;
				for (struct blk_cmd *cmd = redo; cmd; cmd = cmd->fnext)
					cmd->cache_lost |= cmd->op == BLK_OP_SYNC;
				log_warn("chunk %d: the lost master may have lost writes it "
					 "acknowledged since the last flush: the next flush fails",
					 c->id);
			}
			c->stats.num_reset_contexts++;
			log_notice("chunk %d: reattached as context 0x%llx", c->id,
				   (unsigned long long)c->ctxid);
		}
	}
	c->recovering = false;
	if (rc) {
		c->stats.num_reset_contxt_fails++;
		c->failed = true;
		log_err("chunk %d: context recovery failed; the chunk is unusable", c->id);
		blk_fail_all_locked(c, EIO);
		return -EIO;
	}
	for (struct blk_cmd *cmd = done; cmd; cmd = next) {
		next = cmd->fnext;
		cmd->fnext = NULL;
		blk_process_completion_locked(c, cmd);
	}
	for (struct blk_cmd *cmd = redo; cmd; cmd = next) {
		int err;

		next = cmd->fnext;
		cmd->fnext = NULL;
		err = blk_issue_locked(c, cmd);
		if (err)
			blk_complete_locked(c, cmd, err);
	}
	pthread_cond_broadcast(&c->cv_free);
	return c->failed ? -EIO : 0;
}

/*
 * blk_verify_locked() - a unit attention: let the master re-check the LUN
 * (DK_CXLFLASH_VERIFY with the sense data). A physical chunk takes the LUN's
 * new size; a virtual one keeps its own.
 * Return: 0 or -errno from VERIFY.
 */
int blk_verify_locked(struct chunk *c, const uint8_t *sense)
{
	struct dk_cxlflash_verify v;

	memset(&v, 0, sizeof(v));
	v.context_id = c->ctxid;
	v.rsrc_handle = c->rsrc_handle;
	v.hint = DK_CXLFLASH_VERIFY_HINT_SENSE;
	memcpy(v.sense_data, sense, DK_CXLFLASH_VERIFY_SENSE_LEN);
	if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_VERIFY, &v))
		return -errno;
	if (!c->virtual_lun && v.last_lba != UINT64_MAX) {
		c->lun_size = v.last_lba + 1;
		c->size = c->lun_size;
	}
	return 0;
}
