/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - the log of a LUN store: appending records to the open batch,
 * block and segment allocation, and the writer thread (group commit).
 *
 * An operation appends its record under its key's shard lock and the log
 * lock, so the log order is the order the index changed in. A writer
 * takes the whole open batch at once, writes its meta and raw blocks
 * (FUA, or written and flushed, when the store is durable), and only then
 * acknowledges every operation of the batch: one flush for everything that
 * arrived while the batches before it were being written.
 *
 * A durable store may have two writer threads (CXLFLASH_KV_WRITE_DEPTH=2),
 * so two batches are on their way at once: the next one is written while
 * the one before is still in flight. A batch is acknowledged only once it
 * and every batch before it are durable (acknowledgements go in log order). Each batch's meta blocks
 * say how many meta blocks before it were not yet durable when it was
 * written (KV_META_PENDING), so recovery can tell a torn batch followed by
 * a sound one that was never acknowledged (the log's torn tail) from a
 * damaged batch that a later one proves was durable (damage).
 */
#include "kv/kv_internal.h"
#include "kv/crc32c.h"
#include "util/clock.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

uint64_t kv_rec_bytes(uint64_t klen, uint64_t vlen, uint16_t npieces, uint8_t flags)
{
	uint64_t n = sizeof(struct kv_rec);

	if (flags & KV_REC_KEY_INLINE)
		n += klen;
	if (flags & KV_REC_VAL_INLINE)
		n += vlen;
	n = (n + 7) & ~7ull;
	return n + (uint64_t)npieces * sizeof(struct kv_piece);
}

/* ---- segments ------------------------------------------------------------ */

/* A free segment for the log or a checkpoint, lowest first; not one still
 * to be unmapped (the unmap would wipe what the log writes into it: the
 * writer unmaps at most 64 segments a batch). seg_lock held. */
int kv_seg_alloc_locked(struct ark_impl *s, uint64_t *seg)
{
	for (uint64_t i = 0; i < s->nsegs; i++) {
		struct kv_seg *g = kv_seg(s, i);
		if (g->state == SEG_FREE && !g->unmap &&
		    !__atomic_load_n(&g->readers, __ATOMIC_ACQUIRE)) {
			g->state = SEG_LOG;
			g->live = 0;
			s->nfree--;
			*seg = i;
			return 0;
		}
	}
	return -ENOSPC;
}

void kv_seg_free_locked(struct ark_impl *s, uint64_t seg)
{
	struct kv_seg *g = kv_seg(s, seg);

	if (g->state == SEG_FREE)
		return;
	if (g->state == SEG_PENDING)
		s->npending--;
	g->state = SEG_FREE;
	g->live = 0;
	g->head = false;
	s->nfree++;
}

/* Have reap_dead_segments() look at @seg: each segment is on its list once,
 * and the list has room for all (kv_segs_extend_locked), so the writer
 * never walks every segment of a large store. seg_lock held. */
static void reap_queue_locked(struct ark_impl *s, uint64_t seg)
{
	struct kv_seg *g = kv_seg(s, seg);

	if (g->queued)
		return;
	g->queued = true;
	s->reapq[s->reapq_n++] = seg;
}

/* The live bytes of @seg reached zero: free it once nothing writes it. seg_lock held. */
void kv_seg_zero_locked(struct ark_impl *s, uint64_t seg)
{
	kv_seg(s, seg)->zero = true;
	reap_queue_locked(s, seg);
}

/* A segment no index entry needs: free at once, or after the next
 * checkpoint when a recovery from the current one may still read it. */
static void seg_dead_locked(struct ark_impl *s, uint64_t seg)
{
	struct kv_seg *g = kv_seg(s, seg);

	/* written_lsn moves under log_lock: another writer may be acknowledging. */
	if (g->state != SEG_LOG || g->head || g->live ||
	    g->last_lsn >= __atomic_load_n(&s->written_lsn, __ATOMIC_ACQUIRE))
		return;
	if (s->durable || s->fork_hold) {
		g->state = SEG_PENDING;
		s->npending++;
	} else {
		g->state = SEG_FREE;
		s->nfree++;
		if (kv_dev_is_vlun(s->dev)) {
			g->unmap = true;
			reap_queue_locked(s, seg);
		}
	}
}

static void seg_add_live_locked(struct ark_impl *s, uint64_t lba, int64_t bytes)
{
	uint64_t seg = lba_seg(s, lba);

	if (seg >= s->nsegs)
		return;
	kv_seg(s, seg)->live += (uint64_t)bytes;
	if (bytes < 0 && kv_seg(s, seg)->live == 0)
		kv_seg_zero_locked(s, seg);
}

/* Charge (or, with @sign -1, release) the bytes a location keeps alive. */
static void loc_account_locked(struct ark_impl *s, const struct kv_loc *l, uint64_t klen,
			       uint64_t vlen, int sign)
{
	if (!l->lba && !l->npieces)
		return;
	if (!l->npieces) {
		seg_add_live_locked(s, l->lba, sign * (int64_t)kv_rec_bytes(klen, vlen, 0,
			KV_REC_KEY_INLINE | KV_REC_VAL_INLINE));
		return;
	}
	for (unsigned i = 0; i < l->npieces; i++)
		seg_add_live_locked(s, l->pieces[i].lba, sign * (int64_t)l->pieces[i].nblocks * KV_BLOCK);
}

void kv_seg_charge(struct ark_impl *s, const struct kv_loc *l, uint64_t klen, uint64_t vlen)
{
	pthread_mutex_lock(&s->seg_lock);
	loc_account_locked(s, l, klen, vlen, 1);
	pthread_mutex_unlock(&s->seg_lock);
}

void kv_seg_release(struct ark_impl *s, const struct kv_loc *l, uint64_t klen,
			   uint64_t vlen)
{
	pthread_mutex_lock(&s->seg_lock);
	loc_account_locked(s, l, klen, vlen, -1);
	pthread_mutex_unlock(&s->seg_lock);
}

/* Segments whose live bytes reached zero: free those nothing still writes. */
static void reap_dead_segments(struct ark_impl *s)
{
	uint64_t unmap_segs[64];
	unsigned nunmap = 0;
	uint64_t kept = 0;

	pthread_mutex_lock(&s->seg_lock);
	for (uint64_t i = 0; i < s->reapq_n; i++) {
		uint64_t seg = s->reapq[i];
		struct kv_seg *g = kv_seg(s, seg);
		if (g->zero) {
			g->zero = false;
			seg_dead_locked(s, seg);
			if (g->state == SEG_LOG && !g->live)
				g->zero = true;   /* still being written: later */
		}
		if (g->unmap && nunmap < 64) {
			g->unmap = false;
			unmap_segs[nunmap++] = seg;
		}
		if (g->zero || g->unmap)
			s->reapq[kept++] = seg;   /* look again after the next batch */
		else
			g->queued = false;
	}
	s->reapq_n = kept;
	pthread_mutex_unlock(&s->seg_lock);
	for (unsigned i = 0; i < nunmap; i++)
		kv_dev_unmap(s->dev, seg_lba(s, unmap_segs[i]), s->seg_blocks);
}

/* ---- block allocation (log_lock held) -------------------------------------- */

/* Move the head to a new segment; grow a virtual LUN when none is free. */
static int new_head_locked(struct ark_impl *s)
{
	uint64_t seg;
	int rc;

	pthread_mutex_lock(&s->seg_lock);
	rc = kv_seg_alloc_locked(s, &seg);
	if (rc && kv_dev_is_vlun(s->dev)) {
		uint64_t grow = s->nsegs / 4 + 64;
		uint64_t want = (s->nsegs + grow + 1) * s->seg_blocks;
		pthread_mutex_unlock(&s->seg_lock);
		rc = kv_dev_grow(s->dev, want);
		pthread_mutex_lock(&s->seg_lock);
		if (!rc) {
			uint64_t n = kv_dev_blocks(s->dev) / s->seg_blocks - 1;
			rc = kv_segs_extend_locked(s, n);
			if (!rc)
				rc = kv_seg_alloc_locked(s, &seg);
		}
	}
	if (!rc) {
		if (s->head_seg < s->nsegs && kv_seg(s, s->head_seg)->head) {
			kv_seg(s, s->head_seg)->head = false;
			if (!kv_seg(s, s->head_seg)->live)
				kv_seg_zero_locked(s, s->head_seg);
		}
		kv_seg(s, seg)->head = true;
		kv_seg(s, seg)->last_lsn = s->open.lsn;
		s->head_seg = seg;
		s->head_lba = seg_lba(s, seg);
		s->head_end = s->head_lba + s->seg_blocks;
	}
	pthread_mutex_unlock(&s->seg_lock);
	return rc;
}

/* Up to @want contiguous blocks at the head (at least one). */
static int take_blocks_locked(struct ark_impl *s, uint64_t want, uint64_t *lba, uint64_t *got)
{
	if (s->head_lba >= s->head_end) {
		int rc = new_head_locked(s);
		if (rc)
			return rc;
	}
	*lba = s->head_lba;
	*got = kv_min(want, s->head_end - s->head_lba);
	s->head_lba += *got;
	kv_seg(s, s->head_seg)->last_lsn = s->open.lsn;
	return 0;
}

/* ---- the open batch --------------------------------------------------------- */

static int batch_add_meta_locked(struct ark_impl *s, struct kv_batch *b)
{
	uint64_t lba, got;

	if (b->nmeta == b->cap_meta) {
		unsigned cap = b->cap_meta ? b->cap_meta * 2 : 4;
		uint8_t *m = NULL;
		if (posix_memalign((void **)&m, KV_BLOCK, (size_t)cap * KV_BLOCK))
			return -ENOMEM;
		uint64_t *ml = realloc(b->meta_lba, cap * sizeof(*ml));
		if (!ml) {
			free(m);
			return -ENOMEM;
		}
		if (b->nmeta)
			memcpy(m, b->meta, (size_t)b->nmeta * KV_BLOCK);
		free(b->meta);
		b->meta = m;
		b->meta_lba = ml;
		b->cap_meta = cap;
	}
	if (b->nmeta) {
		/* The full block keeps its fill in its header until sealed. */
		struct kv_blk_hdr *prev = (struct kv_blk_hdr *)(b->meta + (size_t)(b->nmeta - 1) * KV_BLOCK);
		prev->used = (uint16_t)b->meta_used;
	}
	if (b->nmeta == 0) {
		lba = b->reserved;    /* the previous batch points at it */
	} else {
		int rc = take_blocks_locked(s, 1, &lba, &got);
		if (rc)
			return rc;
	}
	memset(b->meta + (size_t)b->nmeta * KV_BLOCK, 0, KV_BLOCK);
	b->meta_lba[b->nmeta++] = lba;
	b->meta_used = 0;
	b->blocks++;
	return 0;
}

static int batch_add_raw_locked(struct ark_impl *s, struct kv_batch *b, uint64_t nblocks,
				struct kv_piece *pieces, unsigned *npieces, unsigned maxp)
{
	*npieces = 0;
	while (nblocks) {
		uint64_t lba, got;
		if (*npieces == maxp)
			return -EFBIG;
		int rc = take_blocks_locked(s, nblocks, &lba, &got);
		if (rc)
			return rc;
		if (b->nraw == b->cap_raw) {
			unsigned cap = b->cap_raw ? b->cap_raw * 2 : 8;
			struct kv_raw *r = realloc(b->raw, cap * sizeof(*r));
			if (!r)
				return -ENOMEM;
			b->raw = r;
			b->cap_raw = cap;
		}
		struct kv_raw *r = &b->raw[b->nraw];
		r->buf = kv_io_alloc(s->dev, got);
		if (!r->buf)
			return -ENOMEM;
		r->lba = lba;
		r->nblocks = (uint32_t)got;
		b->nraw++;
		b->blocks += got;
		pieces[*npieces].lba = lba;
		pieces[*npieces].nblocks = (uint32_t)got;
		pieces[*npieces].rsvd = 0;
		(*npieces)++;
		nblocks -= got;
	}
	return 0;
}

/* Copy @len bytes at byte offset @off of the raw stream that starts at the
 * batch's raw entry @first. */
static void raw_copy(struct kv_batch *b, unsigned first, uint64_t off, const void *src, uint64_t len)
{
	const uint8_t *p = src;
	unsigned i = first;

	while (len) {
		uint64_t sz = (uint64_t)b->raw[i].nblocks * KV_BLOCK;
		if (off >= sz) {
			off -= sz;
			i++;
			continue;
		}
		uint64_t n = kv_min(len, sz - off);
		memcpy(b->raw[i].buf + off, p, n);
		p += n;
		len -= n;
		off += n;
	}
}

/* Room for @bytes in the last meta block, or a new one. */
static int meta_room_locked(struct ark_impl *s, struct kv_batch *b, uint64_t bytes)
{
	if (!b->nmeta || b->meta_used + bytes > KV_PAYLOAD)
		return batch_add_meta_locked(s, b);
	return 0;
}

static uint8_t *meta_cur(struct kv_batch *b)
{
	return b->meta + (size_t)(b->nmeta - 1) * KV_BLOCK + sizeof(struct kv_blk_hdr) + b->meta_used;
}

#define KV_MAX_PIECES ((KV_PAYLOAD - sizeof(struct kv_rec) - KV_KEY_INLINE_MAX) / sizeof(struct kv_piece))

/* Segments kept for the next checkpoint (twice the index's estimated
 * size) and one for the writer's next batch: nothing else may take them.
 * A checkpoint takes whole segments, so the reserve is counted in them. */
static uint64_t ckpt_reserve_segs(struct ark_impl *s)
{
	uint64_t seg_bytes = (uint64_t)s->seg_blocks * KV_PAYLOAD;
	uint64_t n = 1;

	if (s->durable)
		n += (2 * __atomic_load_n(&s->index_bytes, __ATOMIC_RELAXED) + seg_bytes - 1) / seg_bytes;
	return n;
}

/* Blocks a record takes in the log: its raw blocks and up to two meta blocks. */
static uint64_t rec_blocks(uint64_t klen, uint64_t vlen, bool set)
{
	bool key_raw = klen > KV_KEY_INLINE_MAX;
	uint64_t raw = (key_raw ? klen : 0) +
		       (set && (key_raw || vlen > KV_VAL_INLINE_MAX) ? vlen : 0);
	return (raw + KV_BLOCK - 1) / KV_BLOCK + 2;
}

/* Free segments that must stay free after a record: a user's set leaves
 * room for deletes and the cleaner's moves too, a delete or a move only
 * the checkpoint's. */
static uint64_t keep_segs(struct ark_impl *s, bool set, bool gc)
{
	return ckpt_reserve_segs(s) + (set && !gc ? KV_RESERVE_SEGS : 0);
}

/* Would @blocks more fit (the head's rest first, then free segments)
 * with @keep free segments left? log_lock held. */
static bool room_locked(struct ark_impl *s, uint64_t blocks, uint64_t keep)
{
	uint64_t rest = s->head_end - s->head_lba;
	uint64_t segs = blocks > rest ? (blocks - rest + s->seg_blocks - 1) / s->seg_blocks : 0;

	pthread_mutex_lock(&s->seg_lock);
	bool ok = s->nfree >= segs + keep;
	pthread_mutex_unlock(&s->seg_lock);
	return ok;
}

/* Blocks the cleaner may fill with moves and still leave the checkpoint
 * its room (and a segment of slack). log_lock held. */
uint64_t kv_gc_budget_locked(struct ark_impl *s)
{
	uint64_t keep = ckpt_reserve_segs(s) + 1;

	pthread_mutex_lock(&s->seg_lock);
	uint64_t n = s->nfree > keep ? (s->nfree - keep) * s->seg_blocks : 0;
	pthread_mutex_unlock(&s->seg_lock);
	return n + (s->head_end - s->head_lba);
}

/* Blocks the cleaner and checkpoints could give back: the dead part of
 * the sealed log segments the cleaner takes when space is short, and the
 * segments waiting for a checkpoint. seg_lock held. */
static uint64_t reclaimable_locked(struct ark_impl *s)
{
	uint64_t n = s->npending * s->seg_blocks;
	uint64_t limit = kv_gc_limit(s, true);

	for (uint64_t i = 0; i < s->nsegs; i++) {
		struct kv_seg *g = kv_seg(s, i);
		if (g->state == SEG_LOG && !g->head && g->live < limit)
			n += s->seg_blocks - kv_min(s->seg_blocks, (g->live + KV_BLOCK - 1) / KV_BLOCK);
	}
	return n;
}

/*
 * The first time a caller finds it must wait (for room, for a batch): tell
 * the async pool, which hands its queue to another thread when the caller
 * is one of its own, and have the caller look again (log_lock was let go
 * meanwhile). The caller calls kv_async_blocking(s, false) once done when
 * *@waited. log_lock held.
 */
static bool long_wait_begins_locked(struct ark_impl *s, bool *waited)
{
	if (*waited)
		return false;
	*waited = true;
	pthread_mutex_unlock(&s->log_lock);
	kv_async_blocking(s, true);
	pthread_mutex_lock(&s->log_lock);
	return true;
}

int kv_log_reserve(struct ark_impl *s, uint64_t klen, uint64_t vlen, bool set)
{
	uint64_t blocks = rec_blocks(klen, vlen, set);
	int rc = 0;

	if (kv_dev_is_vlun(s->dev))
		return 0;   /* it grows */
	uint64_t give_up = now_ns() + KV_SPACE_WAIT_NS;
	bool waited = false;
	pthread_mutex_lock(&s->log_lock);
	while (!room_locked(s, blocks, keep_segs(s, set, false))) {
		if (long_wait_begins_locked(s, &waited))
			continue;
		if (s->writer_err) {
			rc = s->writer_err;
			break;
		}
		/* Full: even with every dead block back there is no room (two
		 * segments of slack: the cleaner cannot reach the head's). */
		pthread_mutex_lock(&s->seg_lock);
		uint64_t could = s->nfree * s->seg_blocks + reclaimable_locked(s);
		bool pending = s->npending > 0;
		pthread_mutex_unlock(&s->seg_lock);
		uint64_t need = blocks + (keep_segs(s, set, false) + 2) * s->seg_blocks;
		if (could < need || now_ns() > give_up) {
			rc = -ENOSPC;   /* (or the cleaner did not free enough in time) */
			break;
		}
		if (pending && s->durable)
			s->ckpt_wanted = true;
		kv_cleaner_kick_locked(s);
		kv_writer_kick_locked(s);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->log_cv, &s->log_lock, &ts);
	}
	pthread_mutex_unlock(&s->log_lock);
	if (waited)
		kv_async_blocking(s, false);
	return rc;
}

int kv_log_append_locked(struct ark_impl *s, enum kv_rec_op op, struct kv_ent *e,
			 const void *val, uint64_t vlen, struct kv_waiter *w, bool gc)
{
	struct kv_batch *b = &s->open;
	uint64_t klen = e ? e->klen : 0;
	uint8_t flags = 0;
	uint64_t raw_bytes = 0;
	struct kv_piece pieces[64];
	struct kv_piece *pv = pieces;
	unsigned np = 0;
	int rc;

	if (op != KV_REC_CLEAR && klen <= KV_KEY_INLINE_MAX)
		flags |= KV_REC_KEY_INLINE;
	else
		raw_bytes += klen;
	/* A raw key takes its value to the raw blocks too: an index location
	 * is either inline (the value in the meta block) or raw (the key if
	 * not inline, then the value). A raw key with an inline value was
	 * written here once and read back as damaged (EIO) after a reopen. */
	if (op == KV_REC_SET && vlen <= KV_VAL_INLINE_MAX && (flags & KV_REC_KEY_INLINE))
		flags |= KV_REC_VAL_INLINE;
	else if (op == KV_REC_SET)
		raw_bytes += vlen;
	if (op != KV_REC_SET)
		flags |= KV_REC_VAL_INLINE;   /* no value */

	uint64_t raw_blocks = (raw_bytes + KV_BLOCK - 1) / KV_BLOCK;
	unsigned maxp = (unsigned)KV_MAX_PIECES;
	if (raw_blocks && raw_blocks / s->seg_blocks + 2 > 64) {
		pv = malloc(maxp * sizeof(*pv));
		if (!pv)
			return -ENOMEM;
	} else if (maxp > 64) {
		maxp = 64;
	}

	pthread_mutex_lock(&s->log_lock);
	if (s->writer_err) {
		rc = s->writer_err;
		goto out;
	}
	if (s->readonly) {
		rc = -EROFS;
		goto out;
	}
	/* Keep a reserve for deletes, the cleaner and checkpoints. Room that
	 * kv_log_reserve() saw may have gone to other callers since: -EAGAIN
	 * sends the caller back to wait for it (the cleaner may not). */
	if (!kv_dev_is_vlun(s->dev) &&
	    !room_locked(s, rec_blocks(klen, vlen, op == KV_REC_SET), keep_segs(s, op == KV_REC_SET, gc))) {
		kv_cleaner_kick_locked(s);
		rc = gc ? -ENOSPC : -EAGAIN;
		goto out;
	}
	unsigned first_raw = b->nraw;
	if (raw_blocks) {
		rc = batch_add_raw_locked(s, b, raw_blocks, pv, &np, maxp);
		if (rc)
			goto undo;
	}
	uint64_t rbytes = kv_rec_bytes(klen, op == KV_REC_SET ? vlen : 0, (uint16_t)np, flags);
	if (rbytes > KV_PAYLOAD) {
		rc = -EFBIG;
		goto undo;
	}
	rc = meta_room_locked(s, b, rbytes);
	if (rc)
		goto undo;

	uint8_t *p = meta_cur(b);
	struct kv_rec *r = (struct kv_rec *)p;
	uint64_t vl = op == KV_REC_SET ? vlen : 0;
	uint32_t dcrc = e ? kv_crc32c(0, e->key, klen) : 0;
	if (vl)
		dcrc = kv_crc32c(dcrc, val, vl);
	r->op = (uint8_t)op;
	r->flags = flags;
	r->npieces = (uint16_t)np;
	r->klen = (uint32_t)klen;
	r->vlen = vl;
	r->dcrc = dcrc;
	r->rsvd = 0;
	uint8_t *q = p + sizeof(*r);
	uint16_t val_off = 0;
	if ((flags & KV_REC_KEY_INLINE) && klen) {
		memcpy(q, e->key, klen);
		q += klen;
	}
	if ((flags & KV_REC_VAL_INLINE) && vl) {
		val_off = (uint16_t)(q - (b->meta + (size_t)(b->nmeta - 1) * KV_BLOCK));
		memcpy(q, val, vl);
	} else if (flags & KV_REC_VAL_INLINE) {
		val_off = (uint16_t)(q - (b->meta + (size_t)(b->nmeta - 1) * KV_BLOCK));
	}
	if (np) {
		uint8_t *pp = p + ((sizeof(*r) + ((flags & KV_REC_KEY_INLINE) ? klen : 0) +
			((flags & KV_REC_VAL_INLINE) ? vl : 0) + 7) & ~7ull);
		memcpy(pp, pv, np * sizeof(*pv));
		uint64_t off = 0;
		if (!(flags & KV_REC_KEY_INLINE)) {
			raw_copy(b, first_raw, 0, e->key, klen);
			off = klen;
		}
		if (!(flags & KV_REC_VAL_INLINE))
			raw_copy(b, first_raw, off, val, vl);
	}
	b->meta_used += (unsigned)rbytes;
	b->nrec++;

	/* The index follows the log. */
	if (e)
		kv_cache_drop_locked(kv_shard_of(s, e->hash), e);
	if (e && op == KV_REC_SET) {
		struct kv_loc nl = { 0 };
		if (np) {
			nl.pieces = malloc(np * sizeof(*pv));
			if (!nl.pieces) {
				rc = -ENOMEM;   /* the record stays: a later replay sees it */
				goto out;
			}
			memcpy(nl.pieces, pv, np * sizeof(*pv));
			nl.npieces = (uint16_t)np;
			nl.dcrc = dcrc;
			nl.key_raw = !(flags & KV_REC_KEY_INLINE);
		} else {
			nl.lba = b->meta_lba[b->nmeta - 1];
			nl.off = val_off;
		}
		kv_seg_release(s, &e->loc, e->klen, e->vlen);
		kv_loc_free(&e->loc);
		e->loc = nl;
		e->vlen = vl;
		kv_seg_charge(s, &e->loc, e->klen, e->vlen);
	} else if (e) {
		kv_seg_release(s, &e->loc, e->klen, e->vlen);
		kv_loc_free(&e->loc);
	}
	if (e) {
		e->lsn = b->lsn;
		e->ver = ++s->next_ver;   /* unique: a key deleted and set again is another version */
	}
	if (w) {
		w->next = NULL;
		*b->wtail = w;
		b->wtail = &w->next;
	}
	kv_writer_kick_locked(s);
	rc = 0;
	goto out;
undo:
	/* Blocks taken for a record that was not written stay unused in the batch
	 * (zero-filled raw buffers); the batch is still consistent. */
out:
	pthread_mutex_unlock(&s->log_lock);
	if (pv != pieces)
		free(pv);
	return rc;
}

/* ---- the writer --------------------------------------------------------------- */

static void batch_reset(struct ark_impl *s, struct kv_batch *b)
{
	for (unsigned i = 0; i < b->nraw; i++)
		kv_io_free(b->raw[i].buf);
	b->nraw = 0;
	b->nmeta = 0;
	b->meta_used = 0;
	b->blocks = 0;
	b->nrec = 0;
	b->waiters = NULL;
	b->wtail = &b->waiters;
	b->lsn = s->next_lsn++;
}

static void batch_free(struct kv_batch *b)
{
	for (unsigned i = 0; i < b->nraw; i++)
		kv_io_free(b->raw[i].buf);
	free(b->raw);
	free(b->meta);
	free(b->meta_lba);
	memset(b, 0, sizeof(*b));
}

/*
 * seal_locked() - take the open batch for writing: finish its meta blocks'
 * headers (the last one points at a block reserved for the next batch's
 * first meta block) and start a new open batch there.
 */
static int seal_locked(struct ark_impl *s, struct kv_batch *out)
{
	struct kv_batch *b = &s->open;
	uint64_t next_lba, got;
	int rc;

	rc = take_blocks_locked(s, 1, &next_lba, &got);
	if (rc)
		return rc;
	uint64_t first = s->next_seq;
	/* The meta blocks of the batches still on their way (writer_step_locked
	 * keeps their count within KV_META_PENDING_MAX). */
	uint16_t pending = (uint16_t)((first - s->acked_seq) << KV_META_PENDING_SHIFT);
	for (unsigned i = 0; i < b->nmeta; i++) {
		uint8_t *blk = b->meta + (size_t)i * KV_BLOCK;
		struct kv_blk_hdr *h = (struct kv_blk_hdr *)blk;
		bool last = i + 1 == b->nmeta;
		h->batch = first;
		kv_blk_seal(s, blk, KV_MAGIC_META, (uint16_t)(last ? b->meta_used : h->used),
			    (uint16_t)(pending | (last ? KV_META_BATCH_END : 0)), s->next_seq++,
			    last ? next_lba : b->meta_lba[i + 1]);
	}
	b->seq = first;
	*out = *b;
	memset(b, 0, sizeof(*b));
	batch_reset(s, b);
	b->reserved = next_lba;
	pthread_mutex_lock(&s->seg_lock);
	kv_seg(s, lba_seg(s, next_lba))->last_lsn = b->lsn;
	pthread_mutex_unlock(&s->seg_lock);
	return 0;
}

/* Coalesced runs are at most this long (1 MiB), and never above the LUN's transfer size. */
#define KV_WRITE_RUN_MAX 256u

static int io_by_lba(const void *a, const void *b)
{
	const struct kv_io *x = a, *y = b;

	return x->lba < y->lba ? -1 : x->lba > y->lba;
}

/*
 * Write a sealed batch; flush it when the store is durable. A batch's blocks
 * lie mostly in one LBA run (its first meta block was reserved right after
 * the batch before, the rest taken from the head in order), so neighbouring
 * meta and value blocks are copied into one buffer and written with one
 * command: on a disk a few large writes cost much less than many 4 KiB ones.
 */
static int batch_write(struct ark_impl *s, struct kv_batch *b)
{
	unsigned n = b->nmeta + b->nraw, nio = 0, nstage = 0;
	bool fua = s->durable && kv_dev_fua(s->dev);
	uint32_t run_max = (uint32_t)kv_min(KV_WRITE_RUN_MAX, kv_dev_max_xfer(s->dev));
	struct kv_io stack[64], out_stack[64];
	void *stage_stack[32];
	struct kv_io *in = n <= 64 ? stack : calloc(n, sizeof(*in));
	struct kv_io *io = n <= 64 ? out_stack : calloc(n, sizeof(*io));
	void **stage = n / 2 + 1 <= 32 ? stage_stack : calloc(n / 2 + 1, sizeof(*stage));
	int rc = -ENOMEM;

	if (!in || !io || !stage)
		goto out;
	for (unsigned i = 0; i < b->nmeta; i++)
		in[i] = (struct kv_io){ .write = true, .lba = b->meta_lba[i], .nblocks = 1,
					.buf = b->meta + (size_t)i * KV_BLOCK };
	for (unsigned i = 0; i < b->nraw; i++)
		in[b->nmeta + i] = (struct kv_io){ .write = true, .lba = b->raw[i].lba,
						   .nblocks = b->raw[i].nblocks, .buf = b->raw[i].buf };
	qsort(in, n, sizeof(*in), io_by_lba);
	for (unsigned i = 0; i < n;) {
		unsigned j = i;
		uint32_t blocks = in[i].nblocks;
		while (j + 1 < n && in[j + 1].lba == in[j].lba + in[j].nblocks &&
		       blocks + in[j + 1].nblocks <= run_max)
			blocks += in[++j].nblocks;
		uint8_t *buf = j > i ? kv_io_alloc(s->dev, blocks) : NULL;
		if (!buf) {
			/* One piece, or no memory for the copy: write the pieces as they are. */
			for (; i <= j; i++)
				io[nio++] = in[i];
			continue;
		}
		stage[nstage++] = buf;
		io[nio++] = (struct kv_io){ .write = true, .lba = in[i].lba, .nblocks = blocks,
					    .buf = buf };
		for (; i <= j; i++) {
			memcpy(buf, in[i].buf, (size_t)in[i].nblocks * KV_BLOCK);
			buf += (size_t)in[i].nblocks * KV_BLOCK;
		}
	}
	/* With FUA every write is durable when it completes: no flush round
	 * trip, and nothing else is flushed with the batch (it need not be:
	 * the batches before it were durable when acknowledged). */
	for (unsigned i = 0; i < nio; i++)
		io[i].fua = fua;
	rc = kv_dev_rw(s->dev, io, nio);
	if (!rc && s->durable && !fua)
		rc = kv_dev_flush(s->dev);
	__atomic_add_fetch(&s->ios, b->blocks + (s->durable && !fua ? 1 : 0), __ATOMIC_RELAXED);
out:
	for (unsigned i = 0; i < nstage; i++)
		kv_io_free(stage[i]);
	if (in != stack)
		free(in);
	if (io != out_stack)
		free(io);
	if (stage != stage_stack)
		free(stage);
	return rc;
}

/*
 * Acknowledge a written batch once every batch before it is: sync callers
 * wake, async callbacks go to the pool. A batch after one that failed fails
 * too (it is on the LUN, but recovery would not replay it past the failed
 * one).
 */
static void batch_ack(struct ark_impl *s, struct kv_batch *b, int rc)
{
	struct kv_waiter *w = b->waiters, *next, *async_head = NULL, **async_tail = &async_head;

	pthread_mutex_lock(&s->log_lock);
	while (s->written_lsn != b->lsn)
		pthread_cond_wait(&s->log_cv, &s->log_lock);
	if (!rc)
		rc = s->ack_err;
	else if (!s->ack_err)
		s->ack_err = rc;
	if (b->nmeta)
		s->acked_seq = b->seq + b->nmeta;
	__atomic_store_n(&s->written_lsn, b->lsn + 1, __ATOMIC_RELEASE);   /* cache hits read it unlocked */
	for (; w; w = next) {
		next = w->next;
		if (rc)
			w->rc = rc;
		if (w->cb) {
			w->next = NULL;
			*async_tail = w;
			async_tail = &w->next;
		} else {
			w->done = true;
		}
	}
	pthread_cond_broadcast(&s->log_cv);
	pthread_mutex_unlock(&s->log_lock);
	if (async_head)
		kv_async_complete(s, async_head);
}

/* A gather waits at most this long, and at most a quarter of the last write. */
#define KV_GATHER_MAX_NS 200000u
#define KV_GATHER_QUIET_NS 15000u

/*
 * gather_locked() - with several operations in flight, let the batch fill
 * before sealing it. Callers acknowledged by the last batch come back with
 * their next operations within microseconds; sealed at once, the batch
 * would hold only the operations that arrived during the last write, and
 * the in-flight operations would split into two half batches that take
 * turns. Waiting while records keep arriving (none for 15 us ends it; a
 * quarter of the last write's time at most) writes them in one batch: as
 * many operations per flush as are in flight. A single caller (the last
 * batch and this one hold one record) never waits.
 */
static void gather_locked(struct ark_impl *s)
{
	if (s->last_batch_nrec < 2 && s->open.nrec < 2)
		return;
	uint64_t start = now_ns();
	uint64_t limit = kv_min(KV_GATHER_MAX_NS, s->last_write_ns / 4);
	for (;;) {
		uint64_t n = s->open.nrec;
		if (s->writer_stop || s->ckpt_wanted || now_ns() - start + KV_GATHER_QUIET_NS > limit)
			return;
		pthread_mutex_unlock(&s->log_lock);
		struct timespec ts = { 0, KV_GATHER_QUIET_NS };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&s->log_lock);
		if (s->open.nrec == n)
			return;
	}
}

/*
 * Whether a writer may seal and write the open batch now: no other writer
 * is gathering it or checkpointing, a writer is free, and the meta blocks
 * on their way fit a meta block's KV_META_PENDING count. log_lock held.
 */
static bool may_start_locked(struct ark_impl *s)
{
	return !s->sealing && !s->ckpt_running && s->inflight < s->writers &&
	       (!s->inflight || s->next_seq - s->acked_seq <= KV_META_PENDING_MAX);
}

static bool ckpt_due_locked(struct ark_impl *s)
{
	return s->ckpt_wanted && s->durable && !s->writer_err;
}

/*
 * Write one batch (or checkpoint when asked). Returns false when there was
 * nothing this writer can do now. log_lock held on entry and exit.
 */
static bool writer_step_locked(struct ark_impl *s)
{
	struct kv_batch b;
	int rc;

	if (ckpt_due_locked(s)) {
		/* Alone: no batch on its way, and none starts meanwhile (its
		 * sealed batch goes first; the log after it is the new one). */
		if (s->inflight || s->sealing || s->ckpt_running)
			return false;
		s->ckpt_wanted = false;
		s->ckpt_running = true;
		pthread_mutex_unlock(&s->log_lock);
		rc = kv_checkpoint(s);
		pthread_mutex_lock(&s->log_lock);
		s->ckpt_running = false;
		if (rc == -ENOSPC) {
			/* The log is durable without it; what it would free waits. */
		} else if (rc && !s->writer_err) {
			kv_msg("arkdb: checkpoint failed: %s; the store is read-only", strerror(-rc));
			s->writer_err = rc;
		}
		return true;
	}
	if (!s->open.nrec || !may_start_locked(s))
		return false;
	s->sealing = true;
	gather_locked(s);
	s->sealing = false;
	/* The lock was let go: a checkpoint may be due now. */
	if (!s->open.nrec || ckpt_due_locked(s) || !may_start_locked(s))
		return true;
	rc = seal_locked(s, &b);
	if (rc) {
		/* No block for the next batch: fail this batch's operations. */
		s->writer_err = rc;
		return true;
	}
	s->inflight++;
	uint64_t nrec = b.nrec, t0 = now_ns();
	pthread_mutex_unlock(&s->log_lock);
	rc = kv_write_sealed(s, &b);
	pthread_mutex_lock(&s->log_lock);
	s->inflight--;
	s->last_batch_nrec = nrec;
	s->last_write_ns = now_ns() - t0;
	return true;
}

/* Write, acknowledge (in log order) and free a sealed batch (the checkpoint
 * uses it too). Not written when the store already stopped writing. */
int kv_write_sealed(struct ark_impl *s, struct kv_batch *b)
{
	pthread_mutex_lock(&s->log_lock);
	int rc = s->writer_err;
	pthread_mutex_unlock(&s->log_lock);

	if (!rc) {
		rc = batch_write(s, b);
		if (rc) {
			kv_msg("arkdb: writing the log failed: %s; the store is read-only",
			       strerror(-rc));
			pthread_mutex_lock(&s->log_lock);
			if (!s->writer_err)
				s->writer_err = rc;
			pthread_mutex_unlock(&s->log_lock);
		}
	}
	batch_ack(s, b, rc);
	uint64_t blocks = b->blocks;
	batch_free(b);
	reap_dead_segments(s);
	pthread_mutex_lock(&s->log_lock);
	s->log_bytes += blocks * KV_BLOCK;
	if (s->durable && s->log_bytes >= KV_CKPT_LOG_BYTES)
		s->ckpt_wanted = true;
	/* Free segments running low: clean, and let a checkpoint free the dead. */
	pthread_mutex_lock(&s->seg_lock);
	bool low = s->nfree < 2 * keep_segs(s, true, false) + s->nsegs / 8;
	bool pending = s->npending > 0;
	pthread_mutex_unlock(&s->seg_lock);
	if (low) {
		kv_cleaner_kick_locked(s);
		if (pending && s->durable)
			s->ckpt_wanted = true;
	}
	pthread_cond_broadcast(&s->log_cv);   /* callers waiting for space look again */
	pthread_mutex_unlock(&s->log_lock);
	return rc;
}

/* Wake a writer for work it can do now: records, a checkpoint, or the
 * stop (not one that would find another writer gathering). log_lock held. */
void kv_writer_kick_locked(struct ark_impl *s)
{
	if (s->writers_idle && (s->writer_stop || s->ckpt_wanted || may_start_locked(s)))
		pthread_cond_signal(&s->writer_cv);
}

static void *writer_main(void *arg)
{
	struct ark_impl *s = arg;

	prctl(PR_SET_TIMERSLACK, 1000UL);   /* the gather's short sleeps: 1 us of slack, not 50 */
	pthread_mutex_lock(&s->log_lock);
	for (;;) {
		if (writer_step_locked(s))
			continue;
		/* What is left (a batch on its way, records another writer
		 * gathers) the writer busy with it finishes. */
		if (s->writer_stop)
			break;
		s->writers_idle++;
		pthread_cond_wait(&s->writer_cv, &s->log_lock);
		s->writers_idle--;
	}
	pthread_mutex_unlock(&s->log_lock);
	return NULL;
}

/* kv_seal_open_locked() - seal the open batch when it has records (checkpoint). */
int kv_seal_open_locked(struct ark_impl *s, struct kv_batch *out, bool *sealed)
{
	*sealed = false;
	if (!s->open.nrec)
		return 0;
	int rc = seal_locked(s, out);
	if (!rc)
		*sealed = true;
	return rc;
}

/*
 * Writer threads of a durable store: one batch on its way at a time, or
 * KV_WRITE_DEPTH with CXLFLASH_KV_WRITE_DEPTH=2. Two pay only where two
 * durable writes take about as long as one: on a loaded machine they did
 * not, and half batches doubled the flushes (0.6-0.95x the sets/s of one
 * at a time); quiet, on written blocks, two ran within the noise of one
 * (docs/kv.md, Design, "Pipelining").
 */
static unsigned kv_write_depth(void)
{
	const char *e = getenv("CXLFLASH_KV_WRITE_DEPTH");

	return e && !strcmp(e, "2") ? KV_WRITE_DEPTH : 1;
}

/* Start the log at the reserved block @lba (format or recovery). */
int kv_log_start(struct ark_impl *s)
{
	int rc;

	s->open.wtail = &s->open.waiters;
	s->open.lsn = s->next_lsn++;
	s->written_lsn = s->open.lsn;
	s->acked_seq = s->next_seq;
	if (s->readonly)
		return 0;
	s->writers = s->durable ? kv_write_depth() : 1;
	for (unsigned i = 0; i < s->writers; i++) {
		rc = pthread_create(&s->writer[i], NULL, writer_main, s);
		if (rc) {
			s->writers = i;
			if (i) {
				s->writer_running = true;
				kv_log_stop(s);
			}
			return -rc;
		}
	}
	s->writer_running = true;
	return 0;
}

/* Stop the writer after it has written everything appended so far. */
void kv_log_stop(struct ark_impl *s)
{
	if (s->writer_running) {
		pthread_mutex_lock(&s->log_lock);
		s->writer_stop = true;
		pthread_cond_broadcast(&s->writer_cv);
		pthread_mutex_unlock(&s->log_lock);
		for (unsigned i = 0; i < s->writers; i++)
			pthread_join(s->writer[i], NULL);
		s->writer_running = false;
	}
}

/* Free the open batch's buffers (the store is closing). */
void kv_log_free(struct ark_impl *s)
{
	batch_free(&s->open);
}

void kv_waiter_wait(struct ark_impl *s, struct kv_waiter *w)
{
	pthread_mutex_lock(&s->log_lock);
	while (!w->done)
		pthread_cond_wait(&s->log_cv, &s->log_lock);
	pthread_mutex_unlock(&s->log_lock);
}

/* Wait until batch @lsn is on the LUN (a get of a key just set). */
void kv_wait_written(struct ark_impl *s, uint64_t lsn)
{
	bool waited = false;

	pthread_mutex_lock(&s->log_lock);
	while (lsn >= s->written_lsn && !s->writer_err && s->writer_running) {
		if (long_wait_begins_locked(s, &waited))
			continue;
		pthread_cond_wait(&s->log_cv, &s->log_lock);
	}
	pthread_mutex_unlock(&s->log_lock);
	if (waited)
		kv_async_blocking(s, false);
}

/* ---- reading values ----------------------------------------------------------- */

/* Blocks a read of the value at @loc takes: its meta block when inline. */
uint64_t kv_value_blocks(const struct kv_loc *loc)
{
	uint64_t total = 0;

	if (!loc->npieces)
		return 1;
	for (unsigned i = 0; i < loc->npieces; i++)
		total += loc->pieces[i].nblocks;
	return total;
}

/* The reads of the value at @loc into @buf (kv_value_blocks() blocks long),
 * one per run: fills @io and returns how many (at least 1). */
unsigned kv_value_ios(const struct kv_loc *loc, uint8_t *buf, struct kv_io *io)
{
	uint64_t off = 0;

	if (!loc->npieces) {
		io[0] = (struct kv_io){ .write = false, .lba = loc->lba, .nblocks = 1, .buf = buf };
		return 1;
	}
	for (unsigned i = 0; i < loc->npieces; i++) {
		io[i] = (struct kv_io){ .write = false, .lba = loc->pieces[i].lba,
					.nblocks = loc->pieces[i].nblocks, .buf = buf + off * KV_BLOCK };
		off += loc->pieces[i].nblocks;
	}
	return loc->npieces;
}

/*
 * kv_value_check() - check what kv_value_ios() read into @buf against its
 * block's or record's checksum and point *@val at the value's @vlen bytes
 * in it. -EIO, with a message naming the block, when it does not match.
 */
int kv_value_check(struct ark_impl *s, const uint8_t *key, uint32_t klen, const struct kv_loc *loc,
		   uint64_t vlen, const uint8_t *buf, const uint8_t **val)
{
	if (!loc->npieces) {
		if (kv_blk_check(s, buf, KV_MAGIC_META)) {
			kv_msg("arkdb: meta block %llu is damaged (checksum); key of %u bytes unreadable",
			       (unsigned long long)loc->lba, klen);
			return -EIO;
		}
		if ((uint64_t)loc->off + vlen > KV_BLOCK)
			return -EIO;
		*val = buf + loc->off;
		return 0;
	}
	uint64_t koff = loc->key_raw ? klen : 0;
	if (koff + vlen > kv_value_blocks(loc) * KV_BLOCK) {
		/* Lengths the runs cannot hold: a damaged entry, resealed. */
		kv_msg("arkdb: value in blocks %llu.. (%u runs) is longer than its runs; key of %u bytes unreadable",
		       (unsigned long long)loc->pieces[0].lba, loc->npieces, klen);
		return -EIO;
	}
	uint32_t crc = kv_crc32c(0, key, klen);
	crc = kv_crc32c(crc, buf + koff, vlen);
	if (crc != loc->dcrc || (loc->key_raw && memcmp(buf, key, klen))) {
		kv_msg("arkdb: value in blocks %llu.. (%u runs) is damaged (checksum); key of %u bytes unreadable",
		       (unsigned long long)loc->pieces[0].lba, loc->npieces, klen);
		return -EIO;
	}
	*val = buf + koff;
	return 0;
}

/* Read @n value reads (kv_value_ios()); each io's rc says how it went. */
int kv_value_read(struct ark_impl *s, struct kv_io *io, unsigned n)
{
	uint64_t blocks = 0;
	int rc;

	for (unsigned i = 0; i < n; i++)
		blocks += io[i].nblocks;
	if (n == 1)
		rc = io[0].rc = kv_dev_read(s->dev, io[0].lba, io[0].nblocks, io[0].buf);
	else
		rc = kv_dev_rw(s->dev, io, n);
	__atomic_add_fetch(&s->ios, blocks, __ATOMIC_RELAXED);
	return rc;
}

/*
 * kv_read_value() - the whole value of an entry whose location is @loc
 * (a copy the caller made under the shard lock) into @out (@vlen bytes),
 * checked (kv_value_check()).
 */
int kv_read_value(struct ark_impl *s, const uint8_t *key, uint32_t klen, const struct kv_loc *loc,
		  uint64_t vlen, uint8_t *out)
{
	unsigned nio = loc->npieces ? loc->npieces : 1;
	uint8_t *buf = kv_io_alloc(s->dev, kv_value_blocks(loc));
	struct kv_io stack[8];
	struct kv_io *io = nio <= 8 ? stack : calloc(nio, sizeof(*io));
	const uint8_t *val;
	int rc = -ENOMEM;

	if (buf && io) {
		rc = kv_value_read(s, io, kv_value_ios(loc, buf, io));
		if (!rc)
			rc = kv_value_check(s, key, klen, loc, vlen, buf, &val);
		if (!rc)
			memcpy(out, val, vlen);
	}
	if (io != stack)
		free(io);
	kv_io_free(buf);
	return rc;
}

/* Count a reader of the segments of @l in (@delta 1) or out (-1): a
 * segment with readers is not reused. */
void kv_seg_readers(struct ark_impl *s, const struct kv_loc *l, int delta)
{
	if (!l->npieces) {
		__atomic_add_fetch(&kv_seg(s, lba_seg(s, l->lba))->readers, (uint32_t)delta,
				   __ATOMIC_ACQ_REL);
		return;
	}
	for (unsigned i = 0; i < l->npieces; i++) {
		__atomic_add_fetch(&kv_seg(s, lba_seg(s, l->pieces[i].lba))->readers, (uint32_t)delta,
				   __ATOMIC_ACQ_REL);
	}
}

/* The segment table: room for @max_segs (what the LUN could ever hold),
 * tables allocated for the first @nsegs. */
int kv_segs_init(struct ark_impl *s, uint64_t nsegs, uint64_t max_segs)
{
	s->segtab_n = (max_segs + KV_SEGS_PER_TAB - 1) / KV_SEGS_PER_TAB;
	if (!s->segtab_n)
		s->segtab_n = 1;
	s->segtab = calloc(s->segtab_n, sizeof(*s->segtab));
	if (!s->segtab)
		return -ENOMEM;
	s->nsegs = 0;
	s->nfree = 0;
	return kv_segs_extend_locked(s, nsegs);
}

int kv_segs_extend_locked(struct ark_impl *s, uint64_t nsegs)
{
	if (nsegs > s->segtab_n * KV_SEGS_PER_TAB)
		nsegs = s->segtab_n * KV_SEGS_PER_TAB;
	for (uint64_t t = 0; t * KV_SEGS_PER_TAB < nsegs; t++) {
		if (s->segtab[t])
			continue;
		s->segtab[t] = calloc(KV_SEGS_PER_TAB, sizeof(struct kv_seg));
		if (!s->segtab[t])
			return -ENOMEM;
	}
	if (nsegs > s->nsegs) {
		uint64_t *q = realloc(s->reapq, nsegs * sizeof(*q));
		if (!q)
			return -ENOMEM;
		s->reapq = q;
		s->nfree += nsegs - s->nsegs;
		s->nsegs = nsegs;
	}
	return 0;
}
