/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ckpt.c - the durable parts around the log: block headers, the two
 * superblock copies, formatting a new store, and checkpoints.
 *
 * A checkpoint writes the whole index (every key with its value's
 * location) into free segments, flushes, then points the newer superblock
 * copy at it and at the log block that follows it. Segments that died
 * since the previous checkpoint stay untouched until this one is durable,
 * as a recovery from the previous one would read them.
 */
#include "kv/kv_internal.h"
#include "kv/crc32c.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void seal_seed(void *blk, uint32_t seed, uint32_t epoch, uint32_t magic, uint16_t used,
		      uint16_t flags, uint64_t seq, uint64_t next)
{
	struct kv_blk_hdr *h = blk;

	h->magic = magic;
	h->crc = 0;
	h->epoch = epoch;
	h->used = used;
	h->flags = flags;
	h->seq = seq;
	h->next = next;
	h->crc = kv_crc32c(seed, blk, KV_BLOCK);
}

void kv_blk_seal(struct ark_impl *s, void *blk, uint32_t magic, uint16_t used, uint16_t flags,
		 uint64_t seq, uint64_t next)
{
	seal_seed(blk, (uint32_t)s->store_id, s->epoch, magic, used, flags, seq, next);
}

/* 0 when @blk is a sound block with @magic and CRC seed @seed, else -EIO. */
int kv_blk_check_seed(const void *blk, uint32_t seed, uint32_t magic)
{
	const struct kv_blk_hdr *h = blk;
	uint32_t want = h->crc;
	uint8_t copy[sizeof(struct kv_blk_hdr)];

	if (h->magic != magic || h->used > KV_PAYLOAD)
		return -EIO;
	/* CRC with the field zeroed, without writing to the caller's block. */
	memcpy(copy, blk, sizeof(copy));
	((struct kv_blk_hdr *)copy)->crc = 0;
	uint32_t crc = kv_crc32c(seed, copy, sizeof(copy));
	crc = kv_crc32c(crc, (const uint8_t *)blk + sizeof(copy), KV_BLOCK - sizeof(copy));
	return crc == want ? 0 : -EIO;
}

/* 0 when @blk is a sound block of this store with @magic, else -EIO. */
int kv_blk_check(struct ark_impl *s, const void *blk, uint32_t magic)
{
	return kv_blk_check_seed(blk, (uint32_t)s->store_id, magic);
}


/* Write the next superblock copy (generation + 1) and flush. */
int kv_super_write(struct ark_impl *s, const uint32_t *ckpt_segs, uint32_t ckpt_nsegs,
		   uint64_t ckpt_gen, uint64_t ckpt_bytes, uint32_t ckpt_crc, uint64_t log_lba,
		   uint64_t log_seq)
{
	uint8_t *blk = kv_blk_alloc(1);
	int rc;

	if (!blk)
		return -ENOMEM;
	if (ckpt_nsegs > KV_SUPER_MAX_SEGS) {
		free(blk);
		return -ENOSPC;
	}
	memset(blk, 0, KV_BLOCK);
	struct kv_super *sb = (struct kv_super *)(blk + sizeof(struct kv_blk_hdr));
	sb->gen = ++s->super_gen;
	sb->version = KV_FORMAT_VERSION;
	sb->seg_blocks = s->seg_blocks;
	sb->nsegs = s->nsegs;
	sb->store_id = s->store_id;
	sb->epoch = s->epoch;
	sb->ckpt_nsegs = ckpt_nsegs;
	sb->ckpt_gen = ckpt_gen;
	sb->ckpt_bytes = ckpt_bytes;
	sb->ckpt_crc = ckpt_crc;
	sb->log_lba = log_lba;
	sb->log_seq = log_seq;
	sb->ops = kv_ops(s);
	sb->ios = __atomic_load_n(&s->ios, __ATOMIC_RELAXED);
	if (ckpt_nsegs)
		memcpy(sb + 1, ckpt_segs, ckpt_nsegs * sizeof(uint32_t));
	/* The superblock's CRC seed is 0: it is what tells the store's id. */
	seal_seed(blk, 0, s->epoch, KV_MAGIC_SUPER, (uint16_t)(sizeof(*sb) + ckpt_nsegs * 4), 0,
		  sb->gen, 0);
	struct kv_io io = { .write = true, .lba = sb->gen & 1, .nblocks = 1, .buf = blk };
	rc = kv_dev_rw(s->dev, &io, 1);
	if (!rc)
		rc = kv_dev_flush(s->dev);
	__atomic_add_fetch(&s->ios, 2, __ATOMIC_RELAXED);
	free(blk);
	return rc;
}

/* Segment size: 1 MiB, smaller on small LUNs so there are at least 32. */
static uint32_t pick_seg_blocks(uint64_t blocks)
{
	uint32_t sb = KV_SEG_BLOCKS;

	while (sb > 8 && blocks / sb < 33)
		sb /= 2;
	return sb;
}

/* Lay out an empty log on the LUN: segment 0 is the head. */
int kv_layout(struct ark_impl *s)
{
	uint64_t blocks = kv_dev_blocks(s->dev);
	uint64_t seg;
	int rc;

	s->seg_blocks = pick_seg_blocks(blocks);
	uint64_t nsegs = blocks / s->seg_blocks - 1;
	if (nsegs < 8)
		return -ENOSPC;
	/* A vLUN can grow up to its LUN: room in the table for all of it. */
	rc = kv_segs_init(s, nsegs, kv_dev_is_vlun(s->dev) ? kv_dev_lun_blocks(s->dev) / s->seg_blocks
							  : nsegs);
	if (rc)
		return rc;
	if (getrandom(&s->store_id, sizeof(s->store_id), 0) != sizeof(s->store_id))
		s->store_id = (uint64_t)(uintptr_t)s ^ 0x5bd1e995ull;
	s->epoch = 1;
	s->next_seq = 1;
	pthread_mutex_lock(&s->seg_lock);
	rc = kv_seg_alloc_locked(s, &seg);
	if (!rc) {
		kv_seg(s, seg)->head = true;
		s->head_seg = seg;
		s->head_lba = seg_lba(s, seg) + 1;
		s->head_end = seg_lba(s, seg) + s->seg_blocks;
		s->open.reserved = seg_lba(s, seg);
	}
	pthread_mutex_unlock(&s->seg_lock);
	return rc;
}

/* kv_format() - a new durable store: both superblock copies, no checkpoint. */
int kv_format(struct ark_impl *s)
{
	int rc = kv_layout(s);

	if (rc)
		return rc;
	s->super_gen = 0;
	/* Both copies, so an older store's superblock cannot win. */
	s->ckpt_log_lba = s->open.reserved;
	s->ckpt_log_seq = s->next_seq;
	rc = kv_super_write(s, NULL, 0, 0, 0, 0, s->open.reserved, s->next_seq);
	if (!rc)
		rc = kv_super_write(s, NULL, 0, 0, 0, 0, s->open.reserved, s->next_seq);
	return rc;
}

/* Append @len bytes to a growing buffer. */
struct sbuf {
	uint8_t *p;
	uint64_t len, cap;
};

static int sbuf_put(struct sbuf *b, const void *src, uint64_t len)
{
	if (b->len + len > b->cap) {
		uint64_t cap = b->cap ? b->cap : 1 << 20;
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, len);
	b->len += len;
	return 0;
}

/* The index as a checkpoint stream: a count, then one record per key.
 * Every shard lock held. */
static int serialize_locked(struct ark_impl *s, struct sbuf *out)
{
	uint64_t count = kv_count_locked(s);
	int rc = sbuf_put(out, &count, sizeof(count));

	for (int i = 0; i < KV_NSHARDS && !rc; i++) {
		struct kv_shard *sh = &s->shards[i];
		for (uint64_t bkt = 0; bkt < sh->nbuckets && !rc; bkt++) {
			for (struct kv_ent *e = sh->buckets[bkt]; e && !rc; e = e->next) {
				struct kv_ckpt_ent ce = {
					.klen = e->klen, .npieces = e->loc.npieces,
					.rsvd = e->loc.key_raw ? 1 : 0, .vlen = e->vlen,
					.loc = e->loc.npieces ? 0 : (e->loc.lba << 12 | e->loc.off),
					.dcrc = e->loc.dcrc,
				};
				rc = sbuf_put(out, &ce, sizeof(ce));
				if (!rc)
					rc = sbuf_put(out, e->key, e->klen);
				if (!rc && e->loc.npieces)
					rc = sbuf_put(out, e->loc.pieces,
						      e->loc.npieces * sizeof(struct kv_piece));
			}
		}
	}
	return rc;
}

/* Free the segments listed (checkpoint or pending) once the new checkpoint is durable. */
static void free_listed(struct ark_impl *s, const uint32_t *segs, uint64_t n, uint8_t state)
{
	pthread_mutex_lock(&s->seg_lock);
	for (uint64_t i = 0; i < n; i++)
		if (kv_seg(s, segs[i])->state == state)
			kv_seg_free_locked(s, segs[i]);
	pthread_mutex_unlock(&s->seg_lock);
}

/*
 * kv_checkpoint() - write the index and make it the one a recovery starts
 * from. Called by the writer thread, or with no writer running.
 */
int kv_checkpoint(struct ark_impl *s)
{
	struct sbuf sb = { 0 };
	struct kv_batch b;
	bool sealed = false;
	uint32_t *pend = NULL, *segs = NULL;
	uint64_t npend = 0, nsegs_ck = 0;
	uint64_t log_lba, log_seq;
	uint8_t *blocks = NULL;
	int rc;

	pthread_mutex_lock(&s->ckpt_lock);
	for (int i = 0; i < KV_NSHARDS; i++)
		pthread_mutex_lock(&s->shards[i].lock);
	pthread_mutex_lock(&s->log_lock);
	rc = kv_seal_open_locked(s, &b, &sealed);
	log_lba = s->open.reserved;
	log_seq = s->next_seq;
	s->log_bytes = 0;
	pthread_mutex_unlock(&s->log_lock);
	if (!rc) {
		/* Sized from the index's estimate: no copies while it grows. */
		sb.cap = __atomic_load_n(&s->index_bytes, __ATOMIC_RELAXED) + (1 << 20);
		sb.p = malloc(sb.cap);
		rc = sb.p ? serialize_locked(s, &sb) : -ENOMEM;
	}
	if (!rc) {
		/* What died before this point may go once this checkpoint is durable. */
		pthread_mutex_lock(&s->seg_lock);
		pend = malloc((s->npending + 1) * sizeof(*pend));
		if (pend) {
			for (uint64_t i = 0; i < s->nsegs; i++)
				if (kv_seg(s, i)->state == SEG_PENDING)
					pend[npend++] = (uint32_t)i;
		} else {
			rc = -ENOMEM;
		}
		pthread_mutex_unlock(&s->seg_lock);
	}
	for (int i = KV_NSHARDS - 1; i >= 0; i--)
		pthread_mutex_unlock(&s->shards[i].lock);
	if (sealed) {
		int wrc = kv_write_sealed(s, &b);
		if (!rc)
			rc = wrc;
	}
	if (rc)
		goto out;

	uint64_t nblk = (sb.len + KV_PAYLOAD - 1) / KV_PAYLOAD;
	nsegs_ck = (nblk + s->seg_blocks - 1) / s->seg_blocks;
	segs = calloc(nsegs_ck ? nsegs_ck : 1, sizeof(*segs));
	blocks = kv_blk_alloc(nblk);
	if (!segs || !blocks) {
		rc = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&s->seg_lock);
	for (uint64_t i = 0; i < nsegs_ck && !rc; i++) {
		uint64_t seg;
		rc = kv_seg_alloc_locked(s, &seg);
		if (!rc) {
			kv_seg(s, seg)->state = SEG_CKPT;
			segs[i] = (uint32_t)seg;
		} else {
			for (uint64_t j = 0; j < i; j++)
				kv_seg_free_locked(s, segs[j]);
		}
	}
	pthread_mutex_unlock(&s->seg_lock);
	if (rc) {
		kv_msg("arkdb: no room for a checkpoint of %llu bytes (%llu segments)",
		       (unsigned long long)sb.len, (unsigned long long)nsegs_ck);
		nsegs_ck = 0;
		goto out;
	}
	uint64_t gen = s->super_gen + 1;
	struct kv_io *io = calloc(nsegs_ck, sizeof(*io));
	if (!io) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < nblk; i++) {
		uint8_t *blk = blocks + i * KV_BLOCK;
		uint64_t off = i * KV_PAYLOAD, n = kv_min(KV_PAYLOAD, sb.len - off);
		memset(blk, 0, KV_BLOCK);
		memcpy(blk + sizeof(struct kv_blk_hdr), sb.p + off, n);
		kv_blk_seal(s, blk, KV_MAGIC_CKPT, (uint16_t)n, 0, i, gen);
	}
	for (uint64_t i = 0; i < nsegs_ck; i++) {
		uint64_t first = i * s->seg_blocks;
		io[i] = (struct kv_io){ .write = true, .lba = seg_lba(s, segs[i]),
					.nblocks = (uint32_t)kv_min(s->seg_blocks, nblk - first),
					.buf = blocks + first * KV_BLOCK };
	}
	rc = kv_dev_rw(s->dev, io, (unsigned)nsegs_ck);
	__atomic_add_fetch(&s->ios, nblk, __ATOMIC_RELAXED);
	free(io);
	if (!rc)
		rc = kv_dev_flush(s->dev);
	if (!rc)
		rc = kv_super_write(s, segs, (uint32_t)nsegs_ck, gen, sb.len, kv_crc32c(0, sb.p, sb.len),
				    log_lba, log_seq);
	if (rc) {
		free_listed(s, segs, nsegs_ck, SEG_CKPT);
		goto out;
	}
	/* Durable: the previous checkpoint and what died before it are free. */
	free_listed(s, s->ckpt_segs, s->ckpt_segs_n, SEG_CKPT);
	if (!s->fork_hold)   /* a forked child may still read them */
		free_listed(s, pend, npend, SEG_PENDING);
	free(s->ckpt_segs);
	s->ckpt_segs = segs;
	s->ckpt_segs_n = nsegs_ck;
	s->ckpt_gen = gen;
	s->ckpt_bytes = sb.len;
	s->ckpt_crc = kv_crc32c(0, sb.p, sb.len);
	s->ckpt_log_lba = log_lba;
	s->ckpt_log_seq = log_seq;
	segs = NULL;

out:
	pthread_mutex_unlock(&s->ckpt_lock);
	pthread_mutex_lock(&s->log_lock);
	s->ckpts++;
	pthread_cond_broadcast(&s->log_cv);   /* space may have come back */
	pthread_mutex_unlock(&s->log_lock);
	free(segs);
	free(pend);
	free(blocks);
	free(sb.p);
	return rc;
}

/*
 * kv_super_new_epoch() - make an open's new epoch durable before any log
 * block carries it: the same checkpoint, its log where it starts (the log
 * replayed since goes on being replayed until the next checkpoint, which
 * comes after 64 MiB of log counting what was replayed).
 */
int kv_super_new_epoch(struct ark_impl *s)
{
	return kv_super_write(s, s->ckpt_segs, (uint32_t)s->ckpt_segs_n, s->ckpt_gen, s->ckpt_bytes,
			      s->ckpt_crc, s->ckpt_log_lba, s->ckpt_log_seq);
}
