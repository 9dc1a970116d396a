/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vlun.c - virtual LUNs: USER_VIRTUAL, VLUN_RESIZE (LXT grow and shrink with
 * their publish order, scrub of freed chunks) and VLUN_CLONE.
 *
 * An LXT array holds lxt_cnt entries in groups of LXT_GROUP_SIZE; it is
 * reallocated only when the group count changes. Grow publishes the array
 * pointer, then the count; shrink the count, then the pointer. The AFU
 * translates under the context's xlate lock, and a HW sync after a shrink
 * waits out commands still using the old translation before their chunks
 * are scrubbed and freed.
 */
#include "master/master.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "util/log.h"

static uint64_t lxt_groups(uint64_t n)
{
	return (n + LXT_GROUP_SIZE - 1) / LXT_GROUP_SIZE;
}

/* An LXT array for @n entries, holding the first @keep of @old. */
static struct sisl_lxt_entry *lxt_realloc(const struct sisl_lxt_entry *old, uint64_t keep, uint64_t n)
{
	struct sisl_lxt_entry *lxt;

	if (n == 0)
		return NULL;
	lxt = calloc(lxt_groups(n) * LXT_GROUP_SIZE, sizeof(*lxt));
	if (lxt && keep)
		memcpy(lxt, old, keep * sizeof(*lxt));
	return lxt;
}

uint64_t vlun_lxt_entry(const struct mlun *lun, uint64_t chunk)
{
	return chunk << MC_CHUNK_SHIFT | (uint64_t)lun->index << SISL_LXT_LUNIDX_SHIFT |
	       (uint64_t)SISL_RHT_PERM_RW << SISL_LXT_PERM_SHIFT | 0x1 /* port 0 */;
}

/* Publish a new (array, count): grow stores the pointer first, shrink the count. */
static void lxt_publish(struct mctx *c, struct sisl_rht_entry *e, struct sisl_lxt_entry *lxt,
			uint32_t cnt, bool grow)
{
	afu_xlate_lock(c->actx);
	if (grow) {
		__atomic_store_n(&e->lxt_start, lxt, __ATOMIC_RELEASE);
		__atomic_store_n(&e->lxt_cnt, cnt, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&e->lxt_cnt, cnt, __ATOMIC_RELEASE);
		__atomic_store_n(&e->lxt_start, lxt, __ATOMIC_RELEASE);
	}
	afu_xlate_unlock(c->actx);
}

/*
 * The owner's chunk quota on @lun: a grow of @delta chunks that would take
 * the uid past it is refused whole with EDQUOT (a partial grow stays what
 * IBM's interface gives when the LUN itself runs short, ENOSPC when it has
 * nothing left).
 */
static int chunk_quota(struct mctx *c, struct mlun *lun, uint64_t delta, const struct mlimits *lim)
{
	uint64_t cap = mlimits_chunks(lim, lun), used;

	if (cap == MLIMIT_NONE)
		return 0;
	used = quota_chunks_used(lun->m, c->owner_uid, lun, NULL);
	if (used + delta <= cap)
		return 0;
	quota_log(MQ_CHUNKS, c->owner_uid, used, cap, "a vLUN grow");
	return -EDQUOT;
}

static int grow_lxt(struct mctx *c, struct mlun *lun, unsigned h, uint64_t want,
		    const struct mlimits *lim)
{
	struct sisl_rht_entry *e = &c->rht[h];
	struct sisl_lxt_entry *old = e->lxt_start, *lxt;
	uint64_t have = e->lxt_cnt, delta = want - have;
	int rc;

	rc = chunk_quota(c, lun, delta, lim);
	if (rc)
		return rc;
	/* Chunks waiting for their scrub count as free: take them now. */
	if (ca_free_count(&lun->ca) < delta && lun->scrub_pending)
		scrub_finish(lun->m, lun, delta);
	if (ca_free_count(&lun->ca) == 0)
		return -ENOSPC;
	if (delta > ca_free_count(&lun->ca))
		delta = ca_free_count(&lun->ca); /* best effort: a partial grow */
	want = have + delta;
	lxt = lxt_groups(want) == lxt_groups(have) ? old : lxt_realloc(old, have, want);
	if (!lxt)
		return -ENOMEM;
	for (uint64_t i = have; i < want; i++) {
		int64_t chunk = ca_alloc(&lun->ca);

		if (chunk < 0) { /* cannot happen: delta <= free */
			while (i-- > have)
				ca_free(&lun->ca, SISL_LXT_BASE(lxt[i].rlba_base) >> MC_CHUNK_SHIFT);
			if (lxt != old)
				free(lxt);
			return -ENOSPC;
		}
		__atomic_store_n(&lxt[i].rlba_base, vlun_lxt_entry(lun, (uint64_t)chunk), __ATOMIC_RELAXED);
	}
	lxt_publish(c, e, lxt, (uint32_t)want, true);
	rc = afu_ctx_sync(c->actx, SISL_AFU_LW_SYNC);
	/* Translation happens under the xlate lock, so nothing reads the old
	 * array once the new one is published. */
	if (lxt != old)
		free(old);
	return rc ? -EAGAIN : 0;
}

/*
 * Free one chunk: scrub it first unless a clone still maps it. Always, not
 * only when USER_VIRTUAL asked for NEED_WRITE_SAME as the kernel did: the
 * next owner may be another tenant (ARCHITECTURE.md, invariant 2). The
 * scrub runs in the background (scrub.c) and the chunk stays allocated
 * until it ends. It is a discard, which reads back as zeroes like a
 * zeroing write but gives the space back: a hole punched in a file (so a
 * thin LUN file stays thin, even after a vLUN that was only read), memory
 * returned; where a file system or device cannot punch, the backend zeroes
 * instead (ZERO_RANGE, BLKZEROOUT, writing zeroes).
 */
int vlun_free_chunk(struct mlun *lun, uint64_t chunk)
{
	if (ca_refs(&lun->ca, chunk) == 1) {
		scrub_chunk(lun->m, lun, chunk);
		return 0;
	}
	if (ca_free(&lun->ca, chunk) < 0) {
		log_err("LUN %s: freeing chunk %llu that is not allocated", lun->name,
			(unsigned long long)chunk);
		return -EIO;
	}
	return 0;
}

/*
 * vlun_keep() - virtual entry @h of @c goes, as its master stops, and its
 * kept record and its chunks stay (master_keep_vluns): nothing is freed or
 * scrubbed, the chunks are still the vLUN's for the next master.
 */
void vlun_keep(struct mctx *c, struct mlun *lun, unsigned h)
{
	struct sisl_rht_entry *e = &c->rht[h];
	struct sisl_lxt_entry *old = e->lxt_start;

	lxt_publish(c, e, NULL, 0, false);
	if (!c->err && afu_ctx_sync(c->actx, SISL_AFU_HW_SYNC))
		log_warn("context 0x%llx: sync after dropping a kept vLUN failed",
			 (unsigned long long)c->ctxid);
	free(old);
	log_info("LUN %s: vLUN %016llx kept for its client (the master stops)", lun->name,
		 (unsigned long long)c->rht_vid[h]);
	c->rht_vid[h] = 0;
}

static int shrink_lxt(struct mctx *c, struct mlun *lun, unsigned h, uint64_t want)
{
	struct sisl_rht_entry *e = &c->rht[h];
	struct sisl_lxt_entry *old = e->lxt_start, *lxt;
	uint64_t have = e->lxt_cnt;
	int rc = 0;

	lxt = lxt_groups(want) == lxt_groups(have) ? old : lxt_realloc(old, want, want);
	if (want && !lxt)
		return -ENOMEM;
	lxt_publish(c, e, lxt, (uint32_t)want, false);
	/* Wait out commands translated through the entries going away. */
	if (!c->err && afu_ctx_sync(c->actx, SISL_AFU_HW_SYNC))
		rc = -EAGAIN;
	for (uint64_t i = have; i-- > want;) {
		int frc = vlun_free_chunk(lun, SISL_LXT_BASE(old[i].rlba_base) >> MC_CHUNK_SHIFT);

		if (frc && !rc)
			rc = frc;
	}
	if (lxt != old)
		free(old);
	return rc;
}

/*
 * vlun_follow_capacity() - a backend that notices a resize by itself (rbd's
 * update watch) changed its capacity under a LUN with an allocator. Grown:
 * the new whole chunks join the allocator, queued for their scrub as every
 * chunk of a new allocator is (scrub_all). Shrunk: free chunks past the new
 * end are retired, never handed out (scrub_free retires those it frees
 * there too); vLUNs that hold some fail their requests beyond the end.
 * Retired chunks come back with the next allocator (the LUN idle, or at
 * the next open). Master lock held.
 */
static void vlun_follow_capacity(struct mlun *lun)
{
	uint64_t n = __atomic_load_n(&lun->be->nblocks, __ATOMIC_RELAXED);
	uint64_t chunks = n >> MC_CHUNK_SHIFT, have = lun->ca.nchunks, retired = 0;

	if (!lun->ca_ready || !n)
		return;
	if (chunks > have && ca_grow(&lun->ca, chunks)) {
		log_err("LUN %s: no memory for the chunks of its new capacity (%llu blocks)",
			lun->name, (unsigned long long)n);
		return;
	}
	if (n - 1 != lun->max_lba) {
		log_notice("LUN %s: capacity changed from %llu to %llu blocks", lun->name,
			   (unsigned long long)lun->max_lba + 1, (unsigned long long)n);
		lun->max_lba = n - 1;
	}
	for (uint64_t k = have; k < chunks; k++)
		scrub_chunk(lun->m, lun, k);
	if (chunks > have)
		log_notice("LUN %s: %llu more chunk%s for virtual LUNs", lun->name,
			   (unsigned long long)(chunks - have), chunks - have > 1 ? "s" : "");
	for (uint64_t k = chunks; k < have; k++) {
		if (ca_refs(&lun->ca, k) == 0 && ca_take(&lun->ca, k) == 0) {
			lun->retired_chunks++;
			retired++;
		}
	}
	if (retired)
		log_warn("LUN %s shrank under its virtual LUNs: %llu free chunk%s past its end "
			 "retired; a vLUN holding chunks there fails its requests beyond the end",
			 lun->name, (unsigned long long)retired, retired > 1 ? "s" : "");
}

/*
 * vlun_resize() - resize virtual entry @h of @c to @req_size 4 KiB blocks,
 * rounded up to whole chunks. A grow may be partial (fewer chunks free than
 * asked); *@last_lba says what was granted. Equal size only re-syncs, which
 * is how a caller retries after -EAGAIN. A grow is held to @lim (the
 * caller's quotas; NULL: none): -EDQUOT past the chunk limit.
 */
int vlun_resize(struct mctx *c, struct mlun *lun, unsigned h, uint64_t req_size,
		const struct mlimits *lim, uint64_t *last_lba)
{
	struct sisl_rht_entry *e = &c->rht[h];
	uint64_t want = (req_size + MC_CHUNK_SIZE - 1) >> MC_CHUNK_SHIFT;
	int rc;

	if (lun->mode != MODE_VIRTUAL || !lun->ca_ready)
		return -EINVAL;
	if (req_size > UINT64_MAX - MC_CHUNK_SIZE || want > UINT32_MAX)
		return -EINVAL;
	if (want > e->lxt_cnt) {
		uint64_t have = e->lxt_cnt;

		vlun_follow_capacity(lun);
		rc = grow_lxt(c, lun, h, want, lim);
		/* A kept map names the new chunks before the caller hears of
		 * them; if it cannot, the grow is undone. */
		if ((rc == 0 || rc == -EAGAIN) && e->lxt_cnt != have &&
		    vstore_save(c, lun, h, e->lxt_cnt)) {
			shrink_lxt(c, lun, h, have);
			rc = -EIO;
		}
	} else if (want < e->lxt_cnt) {
		/* The kept map first: it never names a chunk already freed. */
		rc = vstore_save(c, lun, h, want) ? -EIO : shrink_lxt(c, lun, h, want);
	} else {
		rc = afu_ctx_sync(c->actx, SISL_AFU_HW_SYNC) ? -EAGAIN : 0;
	}
	*last_lba = vlun_last_lba(e->lxt_cnt);
	return rc;
}

/* vlun_init(): the allocator, on the first virtual open of an idle LUN.
 * @scrub: queue every chunk for its scrub (see below); false only for the
 * kept vLUN maps' loader, which takes their chunks first (vstore.c). */
int vlun_init_alloc(struct mlun *lun, bool scrub)
{
	uint64_t n = __atomic_load_n(&lun->be->nblocks, __ATOMIC_RELAXED), nchunks;

	if (lun->ca_ready)
		return 0;
	if (n)   /* resized since the LUN opened (rbd's update watch) */
		lun->max_lba = n - 1;
	nchunks = (lun->max_lba + 1) >> MC_CHUNK_SHIFT;
	if (nchunks == 0) {
		log_info("LUN %s is smaller than one chunk (%llu blocks)", lun->name,
			 (unsigned long long)MC_CHUNK_SIZE);
		return -ENOMEM;
	}
	if (ca_init(&lun->ca, nchunks))
		return -ENOMEM;
	lun->ca_ready = true;
	lun->retired_chunks = 0;
	/* Whatever the LUN holds (a lost daemon's vLUNs, physical data) is
	 * scrubbed before a chunk of it is handed out. */
	if (scrub)
		scrub_all(lun->m, lun);
	return 0;
}

int vlun_init(struct mlun *lun)
{
	return vlun_init_alloc(lun, true);
}

int handle_uvirtual(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_uvirtual *req = arg;
	struct mlun *lun = o->lun;
	uint64_t last = UINT64_MAX;
	struct mctx *c;
	int h, rc;

	if (req->hdr.flags & DK_CXLFLASH_UVIRTUAL_REATTACH)
		return vstore_reattach(o, who, req);
	vstore_expire(lun);
	if (lun->mode == MODE_NONE) {
		rc = vlun_init(lun);
		if (rc)
			return rc;
	}
	h = rhte_open(o, who, req->context_id, MODE_VIRTUAL, &c);
	if (h < 0)
		return h;
	afu_xlate_lock(c->actx);
	c->rht[h].lxt_start = NULL;
	c->rht[h].lxt_cnt = 0;
	c->rht[h].fp = SISL_RHT_FP(SISL_RHT_FORMAT_VIRTUAL, c->perms);
	__atomic_store_n(&c->rht[h].nmask, (uint8_t)SISL_NMASK, __ATOMIC_RELEASE);
	afu_xlate_unlock(c->actx);
	c->rht_needs_ws[h] = (req->hdr.flags & DK_CXLFLASH_UVIRTUAL_NEED_WRITE_SAME) != 0;
	c->rht_vid[h] = vstore_new_id(lun);
	rc = c->rht_vid[h] ? vstore_save(c, lun, (unsigned)h, 0) : 0;
	if (rc) {
		c->rht_vid[h] = 0;
		release_handle(c, lun, (unsigned)h);
		return -EIO;
	}
	if (req->lun_size) {
		rc = vlun_resize(c, lun, (unsigned)h, req->lun_size, who->lim, &last);
		if (rc) {
			release_handle(c, lun, (unsigned)h);
			return rc;
		}
	}
	req->vlun_id = c->rht_vid[h];
	req->rsrc_handle = (uint64_t)h;
	req->last_lba = last;
	req->hdr.return_flags = lun->be->master_cache ? DK_CXLFLASH_MASTER_CACHE : 0;
	return 0;
}

int handle_resize(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_resize *req = arg;
	struct mctx *c = ctx_get(o->m, req->context_id, o->lun, who, CTX_ERR_FALLBACK);
	struct sisl_rht_entry *e;
	uint64_t last;
	int rc;

	if (!c)
		return -EINVAL;
	e = rhte_get(c, o->lun, req->rsrc_handle);
	if (!e || SISL_RHT_FMT(e->fp) != SISL_RHT_FORMAT_VIRTUAL)
		return -EINVAL;
	rc = vlun_resize(c, o->lun, (unsigned)req->rsrc_handle, req->req_size, who->lim, &last);
	if (rc)
		return rc;
	req->last_lba = last;
	req->hdr.return_flags = 0;
	return 0;
}

/* ------------------------------------------------------------------------
 * VLUN_CLONE
 */

/* Copy source entry @h of @src into the same slot of @dst, sharing chunks. */
static int clone_entry(struct mctx *src, struct mctx *dst, unsigned h)
{
	struct sisl_rht_entry *se = &src->rht[h], *de = &dst->rht[h];
	struct mlun *lun = src->rht_lun[h];
	struct sisl_lxt_entry *lxt = NULL;
	uint8_t fp = SISL_RHT_FP_CLONE(se->fp, dst->perms);
	enum lun_mode mode = SISL_RHT_FMT(se->fp) == SISL_RHT_FORMAT_VIRTUAL ? MODE_VIRTUAL : MODE_PHYSICAL;
	uint32_t n = 0;
	int rc;

	if (mode == MODE_VIRTUAL && se->lxt_cnt) {
		n = se->lxt_cnt;
		lxt = lxt_realloc(se->lxt_start, n, n);
		if (!lxt)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t chunk = SISL_LXT_BASE(lxt[i].rlba_base) >> MC_CHUNK_SHIFT;

			if (ca_clone(&lun->ca, chunk)) {
				while (i-- > 0)
					ca_free(&lun->ca, SISL_LXT_BASE(lxt[i].rlba_base) >> MC_CHUNK_SHIFT);
				free(lxt);
				return -EIO;
			}
		}
	}
	rc = lun_attach(lun, mode);
	if (rc)
		goto undo;
	dst->rht_lun[h] = lun;
	dst->rht_out++;
	afu_xlate_lock(dst->actx);
	if (mode == MODE_VIRTUAL) {
		de->lxt_start = lxt;
		de->lxt_cnt = n;
	} else {
		memcpy(de, se, sizeof(*de)); /* format 1: lun id, valid, port */
	}
	de->fp = fp; /* the same byte in both formats */
	__atomic_store_n(&de->nmask, se->nmask, __ATOMIC_RELEASE);
	afu_xlate_unlock(dst->actx);
	if (afu_ctx_sync(dst->actx, SISL_AFU_LW_SYNC)) {
		release_handle(dst, lun, h);
		return -EAGAIN;
	}
	return 0;
undo:
	for (uint32_t i = 0; i < n; i++)
		ca_free(&lun->ca, SISL_LXT_BASE(lxt[i].rlba_base) >> MC_CHUNK_SHIFT);
	free(lxt);
	return rc;
}

/* The clone's chunks count for @dst's owner, on every LUN it maps (a
 * chunk that uid already holds, shared, counts once). */
static int clone_quota(struct master *m, const struct mctx *src, const struct mctx *dst,
		       const struct mlimits *lim)
{
	for (struct mlun_access *a = src->luns; lim && a; a = a->next) {
		uint64_t cap = mlimits_chunks(lim, a->lun), used;

		if (cap == MLIMIT_NONE || !a->lun->ca_ready)
			continue;
		used = quota_chunks_used(m, dst->owner_uid, a->lun, src);
		if (used > cap) {
			quota_log(MQ_CHUNKS, dst->owner_uid, quota_chunks_used(m, dst->owner_uid,
				  a->lun, NULL), cap, "VLUN_CLONE");
			return -EDQUOT;
		}
	}
	return 0;
}

int handle_clone(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_clone *req = arg;
	struct mlun *lun = o->lun;
	struct mlun_access *added[AFU_MAX_LUNS];
	unsigned nadded = 0;
	struct mctx *src, *dst;
	int rc = 0;

	if (req->context_id_src == req->context_id_dst)
		return -EINVAL;
	src = ctx_get(o->m, req->context_id_src, lun, who, CTX_CLONE);
	dst = ctx_get(o->m, req->context_id_dst, lun, who, CTX_PLAIN);
	if (!src || !dst || lun->mode != MODE_VIRTUAL || dst->rht_out)
		return -EINVAL;
	rc = clone_quota(o->m, src, dst, who->lim);
	if (rc)
		return rc;
	/* The child gets every LUN its parent's context has. */
	for (struct mlun_access *a = src->luns; a; a = a->next) {
		struct mlun_access *na;

		if (ctx_access(dst, a->lun))
			continue;
		na = calloc(1, sizeof(*na));
		if (!na) {
			rc = -ENOMEM;
			goto rollback;
		}
		na->lun = a->lun;
		na->via = ctx_access(dst, lun)->via;
		na->next = dst->luns;
		dst->luns = na;
		added[nadded++] = na;
	}
	for (unsigned h = 0; h < MASTER_RHT_PER_CONTEXT; h++) {
		if (src->rht[h].nmask == 0)
			continue;
		rc = clone_entry(src, dst, h);
		if (rc)
			goto rollback;
	}
	req->hdr.return_flags = 0;
	return 0;
rollback:
	for (unsigned h = 0; h < MASTER_RHT_PER_CONTEXT; h++)
		if (dst->rht_lun[h])
			release_handle(dst, dst->rht_lun[h], h);
	for (unsigned i = 0; i < nadded; i++) {
		struct mlun_access **pp;

		for (pp = &dst->luns; *pp; pp = &(*pp)->next) {
			if (*pp == added[i]) {
				*pp = added[i]->next;
				free(added[i]);
				break;
			}
		}
	}
	return rc;
}
