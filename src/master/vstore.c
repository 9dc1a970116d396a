/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vstore.c - vLUN maps kept with the LUN's storage.
 *
 * A vLUN's chunk map lives in the master's memory (vlun.c). On a LUN whose
 * backend keeps metadata (backend_ops.meta_set: an rbd image's), every vLUN
 * also gets a random 64-bit id and a record under the key
 * "cxlflash.vlun.<16 hex digits>":
 *
 *     "1 uid=<owner uid> n=<chunks> <chunk>,<chunk>,..."
 *
 * written before the control call that made or changed it returns (a grow
 * after its chunks are taken, and undone if the record cannot be written; a
 * shrink before its chunks are freed, so a record never names a chunk that
 * another vLUN may get), and removed when the vLUN is released (by its
 * client, or because the client died). Clones (VLUN_CLONE after fork) share
 * their parent's chunks and are not kept.
 *
 * A master that is lost (killed, its host dead, its image taken over)
 * leaves its records behind, and so does one that stops while clients
 * hold their vLUNs (a clean daemon stop: master_keep_vluns, vlun_keep).
 * The next master to open the LUN (another daemon that takes the image
 * over, the same one restarted, or an embedded program) loads them at open
 * as orphans: each takes its chunks in the allocator and one user of the
 * LUN (which so stays in virtual mode), and waits for its client. The client's block library, reattaching after
 * the loss, asks for it by id (USER_VIRTUAL with
 * DK_CXLFLASH_UVIRTUAL_REATTACH) on its new context; the orphan becomes
 * that context's entry, with the same chunks (so the same data) and the
 * same id. Only the owner's uid may take it back. An orphan nobody takes
 * within MASTER_VLUN_ORPHAN_S is freed (its chunks scrubbed, its record
 * removed), at the next USER_VIRTUAL on the LUN. A LUN closed with orphans
 * keeps their records for the next opener.
 */
#include "master/master.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backend/backend.h"
#include "util/clock.h"
#include "util/log.h"

#define VSTORE_PREFIX "cxlflash.vlun."

static void vkey(char *key, size_t len, uint64_t id)
{
	snprintf(key, len, VSTORE_PREFIX "%016" PRIx64, id);
}

static void orphan_free(struct mvorphan *v)
{
	free(v->chunks);
	free(v);
}

/* Is @id in use on @lun, by an orphan or a live entry? */
static bool id_used(const struct mlun *lun, uint64_t id)
{
	for (const struct mvorphan *v = lun->orphans; v; v = v->next)
		if (v->id == id)
			return true;
	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++) {
		const struct mctx *c = lun->m->ctx_tbl[i];

		for (unsigned h = 0; c && h < MASTER_RHT_PER_CONTEXT; h++)
			if (c->rht_lun[h] == lun && c->rht_vid[h] == id)
				return true;
	}
	return false;
}

uint64_t vstore_new_id(struct mlun *lun)
{
	uint64_t id = 0;

	if (!lun->vstore)
		return 0;
	do {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = now_ns() ^ ((uint64_t)rand() << 32) ^ (uint64_t)rand();
	} while (id == 0 || id_used(lun, id));
	return id;
}

int vstore_save(struct mctx *c, struct mlun *lun, unsigned h, uint64_t nchunks)
{
	const struct sisl_rht_entry *e = &c->rht[h];
	char key[64], *val;
	size_t cap = 64 + (size_t)nchunks * 21, off;
	int rc;

	if (!lun->vstore || !c->rht_vid[h])
		return 0;
	val = malloc(cap);
	if (!val)
		return -ENOMEM;
	off = (size_t)snprintf(val, cap, "1 uid=%u n=%" PRIu64 " ", (unsigned)c->owner_uid,
			       nchunks);
	for (uint64_t i = 0; i < nchunks; i++)
		off += (size_t)snprintf(val + off, cap - off, "%s%" PRIu64, i ? "," : "",
					(uint64_t)(SISL_LXT_BASE(e->lxt_start[i].rlba_base) >>
						   MC_CHUNK_SHIFT));
	vkey(key, sizeof(key), c->rht_vid[h]);
	rc = be_meta_set(lun->be, key, val);
	free(val);
	if (rc)
		log_err("LUN %s: cannot keep the map of vLUN %016" PRIx64 ": %s", lun->name,
			c->rht_vid[h], strerror(-rc));
	return rc;
}

void vstore_forget(struct mctx *c, struct mlun *lun, unsigned h)
{
	char key[64];

	if (!lun->vstore || !c->rht_vid[h])
		return;
	vkey(key, sizeof(key), c->rht_vid[h]);
	/* A record left behind only keeps its chunks from the next master
	 * until it expires there; nothing here depends on it. */
	if (be_meta_set(lun->be, key, NULL))
		log_warn("LUN %s: the kept map of released vLUN %016" PRIx64 " stays", lun->name,
			 c->rht_vid[h]);
	c->rht_vid[h] = 0;
}

/* Parse one record into a new orphan; NULL (logged) when it is not one. */
static struct mvorphan *parse_record(struct mlun *lun, const char *key, const char *val)
{
	struct mvorphan *v = calloc(1, sizeof(*v));
	unsigned uid;
	uint64_t n;
	int used = 0;
	const char *p;
	char *end;

	if (!v)
		return NULL;
	v->id = strtoull(key + strlen(VSTORE_PREFIX), &end, 16);
	if (*end || v->id == 0 ||
	    sscanf(val, "1 uid=%u n=%" SCNu64 " %n", &uid, &n, &used) < 2 || used == 0 ||
	    n > (lun->max_lba + 1) >> MC_CHUNK_SHIFT)
		goto bad;
	v->uid = (uid_t)uid;
	v->nchunks = n;
	v->chunks = n ? calloc(n, sizeof(*v->chunks)) : NULL;
	if (n && !v->chunks)
		goto bad;
	p = val + used;
	for (uint64_t i = 0; i < n; i++) {
		v->chunks[i] = strtoull(p, &end, 10);
		if (end == p || (*end != ',' && *end != '\0') || (*end == '\0' && i + 1 < n))
			goto bad;
		p = end + (*end == ',');
	}
	return v;
bad:
	log_err("LUN %s: kept vLUN map %s is not one (\"%.60s\"); ignored", lun->name, key, val);
	orphan_free(v);
	return NULL;
}

/* meta_list callback: one record becomes an orphan holding its chunks. */
static int load_one(void *arg, const char *key, const char *val)
{
	struct mlun *lun = arg;
	struct mvorphan *v = parse_record(lun, key, val);
	uint64_t i;

	if (!v)
		return 0;
	/* The allocator without its scrub of every chunk: the kept vLUNs take
	 * theirs first, vstore_open() queues the rest. */
	if (vlun_init_alloc(lun, false) || lun_attach(lun, MODE_VIRTUAL)) {
		log_err("LUN %s: cannot take back vLUN %016" PRIx64 " (physical use, or too small)",
			lun->name, v->id);
		orphan_free(v);
		return 0;
	}
	for (i = 0; i < v->nchunks; i++)
		if (ca_take(&lun->ca, v->chunks[i]))
			break;
	if (i < v->nchunks) {
		log_err("LUN %s: kept vLUN %016" PRIx64 " names chunk %" PRIu64
			" that this LUN cannot give; ignored", lun->name, v->id, v->chunks[i]);
		while (i-- > 0)
			ca_free(&lun->ca, v->chunks[i]);
		lun_detach(lun);
		orphan_free(v);
		return 0;
	}
	v->since_ns = now_ns();
	v->next = lun->orphans;
	lun->orphans = v;
	log_notice("LUN %s: vLUN %016" PRIx64 " of uid %u (%" PRIu64 " chunks) left by its last "
		   "master (lost or stopped) waits for its client", lun->name, v->id,
		   (unsigned)v->uid, v->nchunks);
	return 0;
}

void vstore_open(struct mlun *lun)
{
	int rc;

	lun->vstore = be_has_meta(lun->be);
	if (!lun->vstore)
		return;
	rc = be_meta_list(lun->be, VSTORE_PREFIX, load_one, lun);
	if (rc < 0)
		log_err("LUN %s: cannot read its kept vLUN maps (%s): their clients get EIO",
			lun->name, strerror(-rc));
	/* Every chunk no kept vLUN holds is scrubbed before it is handed out
	 * (what vlun_init() does for an allocator made without them). */
	if (lun->ca_ready)
		scrub_all(lun->m, lun);
}

void vstore_close(struct mlun *lun)
{
	while (lun->orphans) {
		struct mvorphan *v = lun->orphans;

		lun->orphans = v->next;
		orphan_free(v);
	}
}

void vstore_expire(struct mlun *lun)
{
	uint64_t now = now_ns();

	for (struct mvorphan **pp = &lun->orphans; *pp;) {
		struct mvorphan *v = *pp;
		char key[64];

		if (now - v->since_ns < (uint64_t)MASTER_VLUN_ORPHAN_S * 1000000000ull) {
			pp = &v->next;
			continue;
		}
		log_notice("LUN %s: vLUN %016" PRIx64 " was not taken back in %d s; freed", lun->name,
			   v->id, MASTER_VLUN_ORPHAN_S);
		vkey(key, sizeof(key), v->id);
		be_meta_set(lun->be, key, NULL);
		for (uint64_t i = 0; i < v->nchunks; i++)
			vlun_free_chunk(lun, v->chunks[i]);
		*pp = v->next;
		orphan_free(v);
		lun_detach(lun);
	}
}

int vstore_reattach(struct mopen *o, const struct mcaller *who, struct dk_cxlflash_uvirtual *req)
{
	struct mlun *lun = o->lun;
	struct mvorphan **pp, *v;
	struct sisl_lxt_entry *lxt = NULL;
	struct sisl_rht_entry *e;
	struct mctx *c;
	int h;

	for (pp = &lun->orphans; *pp && (*pp)->id != req->vlun_id; pp = &(*pp)->next)
		;
	v = *pp;
	if (!v || !req->vlun_id)
		return -ENOENT;
	if (who->uid != v->uid && who->uid != 0) {
		log_info("LUN %s: uid %u may not take back vLUN %016" PRIx64 " of uid %u", lun->name,
			 (unsigned)who->uid, v->id, (unsigned)v->uid);
		return -EACCES;
	}
	c = ctx_get(o->m, req->context_id, lun, who, CTX_PLAIN);
	if (!c)
		return -EINVAL;
	if (v->nchunks) {
		lxt = calloc((v->nchunks + LXT_GROUP_SIZE - 1) / LXT_GROUP_SIZE * LXT_GROUP_SIZE,
			     sizeof(*lxt));
		if (!lxt)
			return -ENOMEM;
		for (uint64_t i = 0; i < v->nchunks; i++)
			lxt[i].rlba_base = vlun_lxt_entry(lun, v->chunks[i]);
	}
	h = rhte_checkout(c, lun);
	if (h < 0) {
		free(lxt);
		return h;
	}
	/* The orphan's user of the LUN becomes the entry's. */
	e = &c->rht[h];
	afu_xlate_lock(c->actx);
	e->lxt_start = lxt;
	e->lxt_cnt = (uint32_t)v->nchunks;
	e->fp = SISL_RHT_FP(SISL_RHT_FORMAT_VIRTUAL, c->perms);
	__atomic_store_n(&e->nmask, (uint8_t)SISL_NMASK, __ATOMIC_RELEASE);
	afu_xlate_unlock(c->actx);
	c->rht_needs_ws[h] = false;
	c->rht_vid[h] = v->id;
	*pp = v->next;
	log_notice("LUN %s: vLUN %016" PRIx64 " (%" PRIu64 " chunks) taken back by its client",
		   lun->name, v->id, v->nchunks);
	orphan_free(v);
	if (afu_ctx_sync(c->actx, SISL_AFU_LW_SYNC))
		log_warn("LUN %s: sync after a vLUN reattach failed", lun->name);
	/* The owner may have changed uid's record (root took it back). */
	vstore_save(c, lun, (unsigned)h, e->lxt_cnt);
	req->rsrc_handle = (uint64_t)h;
	req->last_lba = vlun_last_lba(e->lxt_cnt);
	req->hdr.return_flags = lun->be->master_cache ? DK_CXLFLASH_MASTER_CACHE : 0;
	return 0;
}

void vstore_orphan_refs(const struct mlun *lun, unsigned *users, uint64_t *refs)
{
	for (const struct mvorphan *v = lun->orphans; v; v = v->next) {
		(*users)++;
		*refs += v->nchunks;
	}
}
