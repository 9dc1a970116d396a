/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recover.c - opening a durable store: the newer sound superblock, the
 * checkpoint it names, then the log after it, batch by batch.
 *
 * A batch is applied whole or not at all. Up to two batches are written at
 * once, so the last two on the LUN can be torn; each batch's meta blocks
 * say which blocks before it were durable when it was written
 * (KV_META_PENDING). A batch that a later sound one proves durable is
 * applied as it is; any other must be whole: its meta blocks sound and the
 * raw data of its records checked against their CRC. The log ends at the
 * first batch that is not (wrong CRC, sequence, or an older epoch: a block
 * an earlier open wrote and never acknowledged), and a later batch that
 * says the log was durable past that point means damage.
 */
#include "kv/kv_internal.h"
#include "kv/crc32c.h"

#include <stdlib.h>
#include <string.h>

/* The newer sound superblock copy into @out (the whole block). */
static int read_super(struct ark_impl *s, uint8_t *out)
{
	uint8_t *blk = kv_blk_alloc(2);
	int rc, best = -1;
	uint64_t best_gen = 0;
	bool ours = false;

	if (!blk)
		return -ENOMEM;
	rc = kv_dev_read(s->dev, 0, 2, blk);
	if (rc) {
		free(blk);
		return rc;
	}
	for (int i = 0; i < 2; i++) {
		uint8_t *b = blk + i * KV_BLOCK;
		const struct kv_blk_hdr *h = (const struct kv_blk_hdr *)b;
		if (h->magic == KV_MAGIC_SUPER)
			ours = true;
		if (kv_blk_check_seed(b, 0, KV_MAGIC_SUPER))
			continue;
		const struct kv_super *sb = (const struct kv_super *)(b + sizeof(*h));
		if (sb->version < KV_FORMAT_VERSION_MIN || sb->version > KV_FORMAT_VERSION)
			continue;
		if (best < 0 || sb->gen > best_gen) {
			best = i;
			best_gen = sb->gen;
		}
	}
	if (best >= 0) {
		memcpy(out, blk + best * KV_BLOCK, KV_BLOCK);
		free(blk);
		return 0;
	}
	/* Neither copy is sound. Is this a store whose superblocks were
	 * destroyed? Its log starts at the first segment, whatever the
	 * segment size: look for a block of ours there before calling the
	 * LUN blank (which ARK_KV_PERSIST_STORE would format). */
	for (uint32_t sb = 8; !ours && sb <= KV_SEG_BLOCKS && sb < kv_dev_blocks(s->dev); sb *= 2) {
		const struct kv_blk_hdr *h = (const struct kv_blk_hdr *)blk;
		if (kv_dev_read(s->dev, sb, 1, blk) == 0 &&
		    (h->magic == KV_MAGIC_META || h->magic == KV_MAGIC_CKPT))
			ours = true;
	}
	free(blk);
	if (ours)
		kv_msg("arkdb: both superblocks are damaged (checksum), and the LUN holds a store");
	return ours ? -EIO : -ENOENT;
}

/*
 * Whether @loc lies in the store's segments. A sealed checkpoint entry or
 * record may still name any LBA (written by a bug, or damaged and resealed:
 * fuzz_kv found one), and a get would then count a reader in a segment
 * that does not exist.
 */
static bool loc_in_store(struct ark_impl *s, const struct kv_loc *loc, uint64_t vlen)
{
	if (!loc->npieces)
		return (!loc->lba && !vlen) ||
		       (loc->lba >= s->seg_blocks && lba_seg(s, loc->lba) < s->nsegs);
	for (unsigned i = 0; i < loc->npieces; i++) {
		const struct kv_piece *p = &loc->pieces[i];

		if (!p->nblocks || p->lba < s->seg_blocks || lba_seg(s, p->lba) >= s->nsegs ||
		    lba_seg(s, p->lba + p->nblocks - 1) >= s->nsegs)
			return false;
	}
	return true;
}

/* Apply one SET from a checkpoint or the log to the index. */
static int apply_set(struct ark_impl *s, const uint8_t *key, uint32_t klen, uint64_t vlen,
		     const struct kv_loc *loc)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_shard *sh = kv_shard_of(s, h);
	struct kv_ent *e;

	if (!loc_in_store(s, loc, vlen)) {
		kv_msg("arkdb: a key's location (LBA %llu, %u pieces) lies outside the store",
		       (unsigned long long)(loc->npieces ? loc->pieces[0].lba : loc->lba),
		       (unsigned)loc->npieces);
		return -EIO;
	}
	e = kv_find_locked(sh, h, key, klen);
	if (!e) {
		e = kv_ent_new(h, key, klen);
		if (!e)
			return -ENOMEM;
		kv_insert_locked(sh, e);
		sh->key_bytes += klen;
	} else {
		kv_seg_release(s, &e->loc, e->klen, e->vlen);
		kv_loc_free(&e->loc);
		sh->key_bytes -= e->vlen;
	}
	e->loc = *loc;
	if (loc->npieces) {
		e->loc.pieces = malloc(loc->npieces * sizeof(struct kv_piece));
		if (!e->loc.pieces) {
			e->loc.npieces = 0;
			return -ENOMEM;
		}
		memcpy(e->loc.pieces, loc->pieces, loc->npieces * sizeof(struct kv_piece));
	}
	e->vlen = vlen;
	sh->key_bytes += vlen;
	kv_seg_charge(s, &e->loc, klen, vlen);
	return 0;
}

static void apply_del(struct ark_impl *s, const uint8_t *key, uint32_t klen)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_shard *sh = kv_shard_of(s, h);
	struct kv_ent *e = kv_find_locked(sh, h, key, klen);

	if (!e)
		return;
	kv_seg_release(s, &e->loc, e->klen, e->vlen);
	kv_remove_locked(sh, e);
	sh->key_bytes -= e->klen + e->vlen;
	kv_ent_free(e);
}

static int load_checkpoint(struct ark_impl *s, const struct kv_super *sb)
{
	const uint32_t *segs = (const uint32_t *)(sb + 1);
	uint64_t nblk = (sb->ckpt_bytes + KV_PAYLOAD - 1) / KV_PAYLOAD;
	uint8_t *blocks, *stream;
	int rc;

	if (!sb->ckpt_nsegs)
		return 0;
	/* A sound superblock may still name a checkpoint that cannot be
	 * (fuzz_kv resealed such ones): it has exactly the segments its
	 * stream needs, no more than the block holds, and its count. More
	 * segments than needed had a read land past @blocks; a larger count
	 * had segs[] read past the superblock; a shorter stream, the count. */
	if (sb->ckpt_bytes < sizeof(uint64_t) || sb->ckpt_nsegs > KV_SUPER_MAX_SEGS ||
	    sb->ckpt_nsegs != (nblk + s->seg_blocks - 1) / s->seg_blocks) {
		kv_msg("arkdb: the superblock's checkpoint (%u segments, %llu bytes) is impossible",
		       sb->ckpt_nsegs, (unsigned long long)sb->ckpt_bytes);
		return -EIO;
	}
	blocks = kv_blk_alloc(nblk);
	stream = malloc(sb->ckpt_bytes ? sb->ckpt_bytes : 1);
	struct kv_io *io = calloc(sb->ckpt_nsegs, sizeof(*io));
	if (!blocks || !stream || !io) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < sb->ckpt_nsegs; i++) {
		uint64_t first = (uint64_t)i * s->seg_blocks;
		if (segs[i] >= s->nsegs) {
			rc = -EIO;
			goto out;
		}
		io[i] = (struct kv_io){ .write = false, .lba = seg_lba(s, segs[i]),
					.nblocks = (uint32_t)kv_min(s->seg_blocks, nblk - first),
					.buf = blocks + first * KV_BLOCK };
	}
	rc = kv_dev_rw(s->dev, io, sb->ckpt_nsegs);
	if (rc)
		goto out;
	for (uint64_t i = 0; i < nblk; i++) {
		const uint8_t *blk = blocks + i * KV_BLOCK;
		const struct kv_blk_hdr *h = (const struct kv_blk_hdr *)blk;
		uint64_t n = kv_min(KV_PAYLOAD, sb->ckpt_bytes - i * KV_PAYLOAD);
		if (kv_blk_check(s, blk, KV_MAGIC_CKPT) || h->seq != i || h->next != sb->ckpt_gen ||
		    h->used != n) {
			kv_msg("arkdb: checkpoint block %llu (LBA %llu) is damaged",
			       (unsigned long long)i,
			       (unsigned long long)(seg_lba(s, segs[i / s->seg_blocks]) + i % s->seg_blocks));
			rc = -EIO;
			goto out;
		}
		memcpy(stream + i * KV_PAYLOAD, blk + sizeof(*h), n);
	}
	if (kv_crc32c(0, stream, sb->ckpt_bytes) != sb->ckpt_crc) {
		kv_msg("arkdb: checkpoint stream checksum mismatch");
		rc = -EIO;
		goto out;
	}
	uint64_t count, off = sizeof(count);
	memcpy(&count, stream, sizeof(count));
	for (uint64_t k = 0; k < count; k++) {
		struct kv_ckpt_ent ce;
		if (off + sizeof(ce) > sb->ckpt_bytes)
			goto bad;
		memcpy(&ce, stream + off, sizeof(ce));
		off += sizeof(ce);
		uint64_t extra = (uint64_t)ce.klen + (uint64_t)ce.npieces * sizeof(struct kv_piece);
		if (off + extra > sb->ckpt_bytes)
			goto bad;
		struct kv_loc loc = { 0 };
		struct kv_piece *pieces = NULL;
		if (ce.npieces) {
			pieces = malloc(ce.npieces * sizeof(*pieces));
			if (!pieces) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(pieces, stream + off + ce.klen, ce.npieces * sizeof(*pieces));
			loc.pieces = pieces;
			loc.npieces = ce.npieces;
			loc.dcrc = ce.dcrc;
			loc.key_raw = ce.rsvd & 1;
		} else {
			loc.lba = ce.loc >> 12;
			loc.off = (uint16_t)(ce.loc & 0xfff);
		}
		rc = apply_set(s, stream + off, ce.klen, ce.vlen, &loc);
		free(pieces);
		if (rc)
			goto out;
		off += extra;
	}
	for (uint32_t i = 0; i < sb->ckpt_nsegs; i++)
		kv_seg(s, segs[i])->state = SEG_CKPT;
	s->ckpt_segs = malloc(sb->ckpt_nsegs * sizeof(uint32_t));
	if (!s->ckpt_segs) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(s->ckpt_segs, segs, sb->ckpt_nsegs * sizeof(uint32_t));
	s->ckpt_segs_n = sb->ckpt_nsegs;
	s->ckpt_gen = sb->ckpt_gen;
	s->ckpt_bytes = sb->ckpt_bytes;
	s->ckpt_crc = sb->ckpt_crc;
	rc = 0;
	goto out;
bad:
	kv_msg("arkdb: checkpoint entries run past its end");
	rc = -EIO;
out:
	free(io);
	free(blocks);
	free(stream);
	return rc;
}

/* The meta blocks of one batch, read from the LUN. */
struct rbatch {
	uint8_t *blocks;
	uint64_t *lba;
	unsigned n, cap;
	uint64_t next;          /* the block after the batch */
};

/*
 * Read a meta block; true when it is the expected next one: sound, with
 * the next sequence, and an epoch no older than the block before it (an
 * open continues the log where its recovery found the end, with a newer
 * epoch; blocks an earlier open wrote past that end and never acknowledged
 * carry an older one) and no newer than the superblock's.
 */
/* Read-ahead for the log walk: up to the rest of a segment in one read. */
struct rcache {
	uint8_t *buf;          /* KV_SEG_BLOCKS blocks */
	uint64_t lba;
	uint64_t n;            /* blocks held from lba */
};

static int cached_read(struct ark_impl *s, struct rcache *c, uint64_t lba, uint8_t *blk)
{
	if (!c->buf || lba < c->lba || lba >= c->lba + c->n) {
		if (!c->buf && !(c->buf = kv_blk_alloc(KV_SEG_BLOCKS)))
			return kv_dev_read(s->dev, lba, 1, blk);
		uint64_t end = (lba_seg(s, lba) + 2) * s->seg_blocks;
		c->lba = lba;
		c->n = kv_min(end - lba, KV_SEG_BLOCKS);
		struct kv_io io = { .write = false, .lba = lba, .nblocks = (uint32_t)c->n, .buf = c->buf };
		int rc = kv_dev_rw(s->dev, &io, 1);
		if (rc) {
			c->n = 0;
			return rc;
		}
	}
	memcpy(blk, c->buf + (lba - c->lba) * KV_BLOCK, KV_BLOCK);
	return 0;
}

static bool meta_ok(struct ark_impl *s, struct rcache *c, uint64_t lba, uint64_t seq,
		    uint32_t min_epoch, uint8_t *blk)
{
	const struct kv_blk_hdr *h = (const struct kv_blk_hdr *)blk;

	if (lba < s->seg_blocks || lba_seg(s, lba) >= s->nsegs)
		return false;
	if (cached_read(s, c, lba, blk))
		return false;
	return !kv_blk_check(s, blk, KV_MAGIC_META) && h->seq == seq && h->epoch >= min_epoch &&
	       h->epoch < s->epoch;
}

/* The sequence below which every meta block was durable when the batch of
 * meta block @h was written (KV_META_PENDING). */
static uint64_t durable_below(const struct kv_blk_hdr *h)
{
	uint64_t pending = KV_META_PENDING(h->flags);

	return h->batch > pending ? h->batch - pending : 0;
}

/* Segments the log may have gone on in, besides its end's own and the
 * next: the lowest free ones (the writer takes the lowest free one). */
#define KV_END_SCAN_SEGS 8

/*
 * Look in [@from, @to) for a meta block of a batch after the one that
 * should start at @lba (sequence @seq, blocks of @epoch or newer) written
 * when that one was durable: -EIO, naming both, when there is one; 0 when
 * not (or unreadable: nothing more to tell). A later batch written while
 * the one at @seq was still on its way was never acknowledged (batches are
 * acknowledged in log order): the torn tail of a crash, not damage.
 */
static int later_batch_in(struct ark_impl *s, uint64_t from, uint64_t to, uint64_t lba,
			  uint64_t seq, uint32_t epoch)
{
	uint8_t *blks = kv_blk_alloc(to - from);
	int rc = 0;

	if (!blks)
		return -ENOMEM;
	struct kv_io io = { .write = false, .lba = from, .nblocks = (uint32_t)(to - from), .buf = blks };
	if (kv_dev_rw(s->dev, &io, 1)) {
		free(blks);
		return 0;
	}
	for (uint64_t i = 0; i < to - from; i++) {
		const uint8_t *b = blks + i * KV_BLOCK;
		const struct kv_blk_hdr *h = (const struct kv_blk_hdr *)b;
		if (from + i == lba || h->magic != KV_MAGIC_META || h->epoch < epoch ||
		    h->batch <= seq || kv_blk_check(s, b, KV_MAGIC_META))
			continue;
		if (durable_below(h) <= seq) {
			s->replay_unacked++;   /* written beside it: never acknowledged */
			continue;
		}
		kv_msg("arkdb: log block %llu (sequence %llu) is damaged: a later batch (sequence %llu) is at LBA %llu",
		       (unsigned long long)lba, (unsigned long long)seq,
		       (unsigned long long)h->batch, (unsigned long long)(from + i));
		rc = -EIO;
		break;
	}
	free(blks);
	return rc;
}

/* Does segment @seg start with a checkpoint block (a checkpoint that was
 * being written when the store stopped)? */
static bool starts_with_ckpt(struct ark_impl *s, uint64_t seg)
{
	uint8_t *b = kv_blk_alloc(1);
	bool ckpt = false;

	if (!b)
		return false;
	struct kv_io io = { .write = false, .lba = seg_lba(s, seg), .nblocks = 1, .buf = b };
	if (!kv_dev_rw(s->dev, &io, 1))
		ckpt = ((const struct kv_blk_hdr *)b)->magic == KV_MAGIC_CKPT;
	free(b);
	return ckpt;
}

/*
 * The log ended at @lba, where the meta block with sequence @seq should
 * be, after blocks of @epoch. A crash can only tear batches that were on
 * their way; if a later batch of this epoch or a newer one, written when
 * the batch at @lba was durable, is on the LUN, the block at @lba is
 * damaged, and acknowledged operations would be lost.
 *
 * Where the log can have gone on: the rest of that segment, then the
 * segments that were free when the checkpoint was taken, lowest first.
 * A durable store frees a segment only at a checkpoint, so the writer took
 * its new segments from those (@ckpt_live marks the ones the checkpoint's
 * index uses: never taken, even when the replay emptied them), and the
 * replay marked the ones it read (no longer SEG_FREE). Segments a
 * checkpoint in progress took are skipped without counting.
 */
static int check_log_end(struct ark_impl *s, uint64_t lba, uint64_t seq, uint32_t epoch,
			 const uint8_t *ckpt_live, uint64_t ckpt_nsegs)
{
	uint64_t seg = lba_seg(s, lba);
	int rc;

	if (lba < s->seg_blocks || seg >= s->nsegs)
		return 0;
	rc = later_batch_in(s, lba, seg_lba(s, seg + 1), lba, seq, epoch);
	for (uint64_t i = 0, n = 0; !rc && i < s->nsegs && n < KV_END_SCAN_SEGS; i++) {
		struct kv_seg *g = kv_seg(s, i);
		if (i == seg || g->state != SEG_FREE || g->live ||
		    (i < ckpt_nsegs && (ckpt_live[i / 8] & (1u << (i % 8)))))
			continue;
		if (starts_with_ckpt(s, i))
			continue;
		rc = later_batch_in(s, seg_lba(s, i), seg_lba(s, i) + s->seg_blocks, lba, seq, epoch);
		n++;
	}
	return rc;
}

/* Read the batch starting at @lba; false when it is not whole. */
static bool read_batch(struct ark_impl *s, struct rcache *c, uint64_t lba, uint64_t seq,
		       uint32_t *epoch, struct rbatch *rb)
{
	rb->n = 0;
	for (;;) {
		if (rb->n == rb->cap) {
			unsigned cap = rb->cap ? rb->cap * 2 : 8;
			uint8_t *b = kv_blk_alloc(cap);
			uint64_t *l = realloc(rb->lba, cap * sizeof(*l));
			if (!b || !l) {
				free(b);
				if (l)
					rb->lba = l;
				return false;
			}
			if (rb->n)
				memcpy(b, rb->blocks, (size_t)rb->n * KV_BLOCK);
			free(rb->blocks);
			rb->blocks = b;
			rb->lba = l;
			rb->cap = cap;
		}
		uint8_t *blk = rb->blocks + (size_t)rb->n * KV_BLOCK;
		if (!meta_ok(s, c, lba, seq, *epoch, blk))
			return false;
		const struct kv_blk_hdr *h = (const struct kv_blk_hdr *)blk;
		*epoch = h->epoch;
		rb->lba[rb->n++] = lba;
		seq++;
		lba = h->next;
		if (h->flags & KV_META_BATCH_END) {
			rb->next = lba;
			return true;
		}
	}
}

/* Walk the records of a batch; @fn gets each (return non-zero to stop). */
typedef int (*rec_fn)(struct ark_impl *s, uint64_t meta_lba, const uint8_t *blk,
		      const struct kv_rec *r, void *arg);

static int for_each_rec(struct ark_impl *s, struct rbatch *rb, rec_fn fn, void *arg)
{
	for (unsigned i = 0; i < rb->n; i++) {
		const uint8_t *blk = rb->blocks + (size_t)i * KV_BLOCK;
		const struct kv_blk_hdr *h = (const struct kv_blk_hdr *)blk;
		uint64_t off = 0;
		while (off + sizeof(struct kv_rec) <= h->used) {
			const struct kv_rec *r = (const struct kv_rec *)(blk + sizeof(*h) + off);
			uint64_t n = kv_rec_bytes(r->klen, r->vlen, r->npieces, r->flags);
			if (r->op < KV_REC_SET || r->op > KV_REC_CLEAR || off + n > h->used)
				return -EIO;
			int rc = fn(s, rb->lba[i], blk, r, arg);
			if (rc)
				return rc;
			off += n;
		}
	}
	return 0;
}

/* The raw data (key then value, as far as not inline) of a record. */
static int read_raw(struct ark_impl *s, const struct kv_rec *r, const struct kv_piece *pieces,
		    uint8_t **out)
{
	uint64_t total = 0;
	/* What the pieces hold: the key and value, as far as not inline. */
	uint64_t need = ((r->flags & KV_REC_KEY_INLINE) ? 0 : r->klen) +
			((r->flags & KV_REC_VAL_INLINE) ? 0 : r->vlen);

	for (unsigned i = 0; i < r->npieces; i++) {
		if (!pieces[i].nblocks || pieces[i].lba < s->seg_blocks ||
		    lba_seg(s, pieces[i].lba) >= s->nsegs ||
		    lba_seg(s, pieces[i].lba + pieces[i].nblocks - 1) >= s->nsegs)
			return -EIO;
		total += pieces[i].nblocks;
	}
	/* Shorter than the lengths say (a damaged record, resealed): reading
	 * the key or checking the CRC would run past the buffer (fuzz_kv). */
	if (need > total * KV_BLOCK)
		return -EIO;
	uint8_t *buf = kv_blk_alloc(total);
	struct kv_io *io = calloc(r->npieces, sizeof(*io));
	if (!buf || !io) {
		free(buf);
		free(io);
		return -ENOMEM;
	}
	uint64_t off = 0;
	for (unsigned i = 0; i < r->npieces; i++) {
		io[i] = (struct kv_io){ .write = false, .lba = pieces[i].lba,
					.nblocks = pieces[i].nblocks, .buf = buf + off * KV_BLOCK };
		off += pieces[i].nblocks;
	}
	int rc = kv_dev_rw(s->dev, io, r->npieces);
	free(io);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static const struct kv_piece *rec_pieces(const struct kv_rec *r)
{
	uint64_t klen_in = (r->flags & KV_REC_KEY_INLINE) ? r->klen : 0;
	uint64_t vlen_in = (r->flags & KV_REC_VAL_INLINE) ? r->vlen : 0;
	return (const struct kv_piece *)((const uint8_t *)r +
		((sizeof(*r) + klen_in + vlen_in + 7) & ~7ull));
}

/* Check a record of the last batch against its CRC. */
static int verify_rec(struct ark_impl *s, uint64_t meta_lba, const uint8_t *blk,
		      const struct kv_rec *r, void *arg)
{
	(void)meta_lba;
	(void)blk;
	(void)arg;
	if (r->op == KV_REC_CLEAR || !r->npieces)
		return 0;   /* inline: the meta block's CRC covers it */
	uint8_t *raw = NULL;
	int rc = read_raw(s, r, rec_pieces(r), &raw);
	if (rc)
		return rc;
	const uint8_t *p = (const uint8_t *)(r + 1);
	uint32_t crc;
	if (r->flags & KV_REC_KEY_INLINE) {
		crc = kv_crc32c(0, p, r->klen);
		crc = kv_crc32c(crc, raw, (r->flags & KV_REC_VAL_INLINE) ? 0 : r->vlen);
		if (r->flags & KV_REC_VAL_INLINE)
			crc = kv_crc32c(crc, p + r->klen, r->vlen);
	} else {
		crc = kv_crc32c(0, raw, r->klen + ((r->flags & KV_REC_VAL_INLINE) ? 0 : r->vlen));
		if (r->flags & KV_REC_VAL_INLINE)
			crc = kv_crc32c(crc, p, r->vlen);
	}
	free(raw);
	return crc == r->dcrc ? 0 : -EIO;
}

static void mark_used(struct ark_impl *s, uint64_t lba)
{
	uint64_t seg = lba_seg(s, lba);

	if (seg < s->nsegs && kv_seg(s, seg)->state == SEG_FREE) {
		kv_seg(s, seg)->state = SEG_PENDING;
		s->nfree--;
		s->npending++;
	}
}

static int apply_rec(struct ark_impl *s, uint64_t meta_lba, const uint8_t *blk,
		     const struct kv_rec *r, void *arg)
{
	const uint8_t *p = (const uint8_t *)(r + 1);
	const uint8_t *key = p;
	uint8_t *raw = NULL;
	int rc = 0;

	(void)arg;
	s->replay_records++;
	for (unsigned i = 0; r->op != KV_REC_CLEAR && i < r->npieces; i++)
		s->log_bytes += (uint64_t)rec_pieces(r)[i].nblocks * KV_BLOCK;
	mark_used(s, meta_lba);
	if (r->op == KV_REC_CLEAR) {
		kv_index_clear_locked(s);
		return 0;
	}
	const struct kv_piece *pieces = rec_pieces(r);
	for (unsigned i = 0; i < r->npieces; i++)
		mark_used(s, pieces[i].lba);
	if (!(r->flags & KV_REC_KEY_INLINE)) {
		rc = read_raw(s, r, pieces, &raw);
		if (rc)
			return rc;
		key = raw;
	}
	if (r->op == KV_REC_DEL) {
		apply_del(s, key, r->klen);
	} else {
		struct kv_loc loc = { 0 };
		if (r->npieces) {
			loc.pieces = (struct kv_piece *)pieces;
			loc.npieces = r->npieces;
			loc.dcrc = r->dcrc;
			loc.key_raw = !(r->flags & KV_REC_KEY_INLINE);
		} else {
			loc.lba = meta_lba;
			loc.off = (uint16_t)(p + ((r->flags & KV_REC_KEY_INLINE) ? r->klen : 0) - blk);
		}
		rc = apply_set(s, key, r->klen, r->vlen, &loc);
	}
	free(raw);
	return rc;
}

/*
 * kv_recover() - open the durable store on the LUN. -ENOENT when there is
 * none, -EIO when it is damaged beyond the log's torn tail.
 */
int kv_recover(struct ark_impl *s)
{
	uint8_t *sblk = kv_blk_alloc(1);
	struct rbatch rb = { 0 }, peek = { 0 }, peek2 = { 0 };
	struct rcache cache = { 0 };
	uint8_t *ckpt_live = NULL;
	uint64_t ckpt_nsegs = 0;
	int rc;

	if (!sblk)
		return -ENOMEM;
	rc = read_super(s, sblk);
	if (rc)
		goto out;
	const struct kv_super *sb = (const struct kv_super *)(sblk + sizeof(struct kv_blk_hdr));
	s->seg_blocks = sb->seg_blocks;
	s->version = sb->version;
	s->store_id = sb->store_id;
	s->super_gen = sb->gen;
	s->epoch = sb->epoch + 1;   /* blocks of earlier opens are older than ours */
	__atomic_store_n(&s->ops, sb->ops, __ATOMIC_RELAXED);
	__atomic_store_n(&s->ios, sb->ios, __ATOMIC_RELAXED);
	/* (nsegs + 1) * seg_blocks must fit the LUN: divided, as a damaged
	 * nsegs can overflow the product (fuzz_kv: a 2^54-segment calloc). */
	if (!s->seg_blocks || (s->seg_blocks & (s->seg_blocks - 1)) ||
	    sb->nsegs >= kv_dev_blocks(s->dev) / s->seg_blocks) {
		kv_msg("arkdb: the superblock's geometry (%u-block segments, %llu of them) does not fit the LUN",
		       sb->seg_blocks, (unsigned long long)sb->nsegs);
		rc = -EIO;
		goto out;
	}
	rc = kv_segs_init(s, sb->nsegs, sb->nsegs);
	if (rc)
		goto out;
	rc = load_checkpoint(s, sb);
	if (rc)
		goto out;
	/* Which segments the checkpoint's index uses (check_log_end). */
	ckpt_nsegs = s->nsegs;
	ckpt_live = calloc((ckpt_nsegs + 7) / 8, 1);
	if (!ckpt_live) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < ckpt_nsegs; i++)
		if (kv_seg(s, i)->live)
			ckpt_live[i / 8] |= (uint8_t)(1u << (i % 8));

	/* The log after the checkpoint. */
	uint64_t lba = sb->log_lba, seq = sb->log_seq;
	uint32_t epoch = 0;
	s->ckpt_log_lba = sb->log_lba;
	s->ckpt_log_seq = sb->log_seq;
	uint64_t batches = 0;
	if (!read_batch(s, &cache, lba, seq, &epoch, &rb))
		goto end;
	for (;;) {
		uint32_t e2 = epoch;
		bool more = read_batch(s, &cache, rb.next, seq + rb.n, &e2, &peek);
		/* Durable when a later batch says so: the next, or (when the
		 * next was written while this one was on its way) the one after. */
		bool durable = more && durable_below((const struct kv_blk_hdr *)peek.blocks) > seq;
		if (more && !durable) {
			uint32_t e3 = e2;
			durable = read_batch(s, &cache, peek.next, seq + rb.n + peek.n, &e3, &peek2) &&
				  durable_below((const struct kv_blk_hdr *)peek2.blocks) > seq;
		}
		if (!durable) {
			/* Maybe torn (the last batch, or one written beside the
			 * next): its raw data must all be there, or the log ends. */
			if (for_each_rec(s, &rb, verify_rec, NULL)) {
				s->replay_torn = true;
				break;
			}
		}
		rc = for_each_rec(s, &rb, apply_rec, NULL);
		if (rc) {
			kv_msg("arkdb: log batch at LBA %llu could not be applied: %s",
			       (unsigned long long)lba, strerror(-rc));
			goto out;
		}
		batches++;
		s->replay_batches++;
		s->log_bytes += (uint64_t)rb.n * KV_BLOCK;
		seq += rb.n;
		lba = rb.next;
		if (!more)
			break;
		struct rbatch t = rb;
		rb = peek;
		peek = t;
		epoch = e2;
	}
end:
	rc = check_log_end(s, lba, seq, epoch, ckpt_live, ckpt_nsegs);
	if (rc)
		goto out;
	/* The log goes on at @lba: its segment is the head. */
	if (lba < s->seg_blocks || lba_seg(s, lba) >= s->nsegs) {
		rc = -EIO;
		goto out;
	}
	uint64_t head = lba_seg(s, lba);
	struct kv_seg *g = kv_seg(s, head);
	if (g->state == SEG_FREE)
		s->nfree--;
	else if (g->state == SEG_PENDING)
		s->npending--;
	g->state = SEG_LOG;
	g->head = true;
	s->head_seg = head;
	s->open.reserved = lba;
	s->head_lba = lba + 1;
	s->head_end = seg_lba(s, head) + s->seg_blocks;
	s->next_seq = seq;
	/* Segments with live data hold log: not free. */
	for (uint64_t i = 0; i < s->nsegs; i++) {
		struct kv_seg *x = kv_seg(s, i);
		if (x->live && x->state != SEG_LOG && x->state != SEG_CKPT) {
			if (x->state == SEG_FREE)
				s->nfree--;
			else if (x->state == SEG_PENDING)
				s->npending--;
			x->state = SEG_LOG;
		}
		if (x->state == SEG_LOG && !x->live && !x->head)
			kv_seg_zero_locked(s, i);
	}
	rc = 0;
out:
	free(ckpt_live);
	free(cache.buf);
	free(rb.blocks);
	free(rb.lba);
	free(peek.blocks);
	free(peek.lba);
	free(peek2.blocks);
	free(peek2.lba);
	free(sblk);
	return rc;
}
