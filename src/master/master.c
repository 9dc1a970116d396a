/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master.c - the master object: its LUN table, opens of LUNs, and the
 * invariant check used by tests and the admin tools.
 */
#include "master/master.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "util/log.h"

int master_create(const struct master_config *cfg, struct master **out)
{
	struct master *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->spare.fd = -1;
	m->owner_ep = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->scrub_lock, NULL);
	pthread_cond_init(&m->scrub_cond, NULL);
	m->scrub_tail = &m->scrub_head;
	rc = afu_create(&cfg->afu, &m->afu);
	if (rc) {
		pthread_mutex_destroy(&m->scrub_lock);
		pthread_cond_destroy(&m->scrub_cond);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void master_keep_vluns(struct master *m)
{
	pthread_mutex_lock(&m->lock);
	m->keep_vluns = true;
	pthread_mutex_unlock(&m->lock);
}

void master_destroy(struct master *m)
{
	if (!m)
		return;
	scrub_stop(m);
	master_windows_free(m);
	if (m->owner_ep >= 0)
		close(m->owner_ep);
	afu_destroy(m->afu);
	rates_free(m);
	pthread_mutex_destroy(&m->scrub_lock);
	pthread_cond_destroy(&m->scrub_cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

unsigned master_lun_count(struct master *m)
{
	unsigned n = 0;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < AFU_MAX_LUNS; i++)
		n += m->luns[i] != NULL;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static struct mlun *find_lun_locked(struct master *m, const char *name, uint64_t dev, uint64_t ino)
{
	for (unsigned i = 0; i < AFU_MAX_LUNS; i++) {
		struct mlun *l = m->luns[i];

		if (!l)
			continue;
		if (ino && l->be->ino == ino && l->be->dev == dev)
			return l;
		if (!ino && name && !l->be->ino && !strcmp(l->name, name))
			return l;
	}
	return NULL;
}

struct mlun *master_find_lun(struct master *m, const char *name, uint64_t dev, uint64_t ino)
{
	struct mlun *l;

	pthread_mutex_lock(&m->lock);
	l = find_lun_locked(m, name, dev, ino);
	pthread_mutex_unlock(&m->lock);
	return l;
}

int master_open_lun(struct master *m, const char *name, struct backend *be,
		    const uint8_t *wwid, pid_t pid, struct mopen **out)
{
	struct mopen *o = calloc(1, sizeof(*o));
	struct mlun *l;
	int rc = 0;

	if (!o) {
		be_close(be);
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	l = find_lun_locked(m, be->ino ? NULL : name, be->dev, be->ino);
	if (l) {
		be_close(be); /* same LUN already open: share it */
	} else {
		unsigned idx;

		for (idx = 0; idx < AFU_MAX_LUNS && m->luns[idx]; idx++)
			;
		if (idx == AFU_MAX_LUNS) {
			log_err("cannot open %s: the LUN table is full (%u LUNs)", name, AFU_MAX_LUNS);
			rc = -ENOSPC;
			goto fail;
		}
		if (be->nblocks == 0) {
			log_err("cannot open %s: it has no complete 4 KiB block", name);
			rc = -ENODEV;
			goto fail;
		}
		l = calloc(1, sizeof(*l));
		if (!l) {
			rc = -ENOMEM;
			goto fail;
		}
		l->m = m;
		l->index = idx;
		l->be = be;
		snprintf(l->name, sizeof(l->name), "%s", name);
		if (wwid)
			memcpy(l->wwid, wwid, sizeof(l->wwid));
		else
			lun_derive_wwid(be, l->wwid);
		l->max_lba = be->nblocks - 1;
		l->superpipe = true;
		m->luns[idx] = l;
		afu_set_lun(m->afu, idx, be, l->wwid);
		vstore_open(l);
	}
	l->opens++;
	o->m = m;
	o->lun = l;
	o->pid = pid;
	pthread_mutex_unlock(&m->lock);
	*out = o;
	return 0;
fail:
	pthread_mutex_unlock(&m->lock);
	be_close(be);
	free(o);
	return rc;
}

int master_reopen_lun(struct master *m, struct mlun *lun, pid_t pid, struct mopen **out)
{
	struct mopen *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	lun->opens++;
	pthread_mutex_unlock(&m->lock);
	o->m = m;
	o->lun = lun;
	o->pid = pid;
	*out = o;
	return 0;
}

void master_close_open(struct mopen *o)
{
	struct master *m = o->m;
	struct mlun *l = o->lun;

	pthread_mutex_lock(&m->lock);
	/* Detach every context attached through this open. */
	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++) {
		struct mctx *c = m->ctx_tbl[i];
		struct mlun_access *a;

		if (!c)
			continue;
		for (a = c->luns; a; a = a->next)
			if (a->via == o)
				break;
		if (a)
			ctx_detach_lun(m, c, a->lun);
	}
	if (--l->opens == 0) {
		/* Contexts attached through another open of this LUN (REUSE
		 * across opens) lose it too. */
		for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++) {
			struct mctx *c = m->ctx_tbl[i];

			if (c && ctx_access(c, l))
				ctx_detach_lun(m, c, l);
		}
		afu_set_lun(m->afu, l->index, NULL, NULL);
		m->luns[l->index] = NULL;
		vstore_close(l);
		if (l->ca_ready)
			scrub_finish(m, l, UINT64_MAX);
		if (l->ca_ready)
			ca_destroy(&l->ca);
		be_close(l->be);
		free(l);
	}
	pthread_mutex_unlock(&m->lock);
	master_deferred_work(m, false);
	free(o);
}

int master_check(struct master *m, char *why, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < AFU_MAX_LUNS && !rc; i++) {
		struct mlun *l = m->luns[i];
		unsigned users = 0;
		uint64_t refs = 0;

		if (!l)
			continue;
		for (unsigned c = 0; c < AFU_MAX_CONTEXTS; c++) {
			struct mctx *x = m->ctx_tbl[c];

			if (!x)
				continue;
			for (unsigned h = 0; h < MASTER_RHT_PER_CONTEXT; h++) {
				if (x->rht_lun[h] != l)
					continue;
				users++;
				if (SISL_RHT_FMT(x->rht[h].fp) == SISL_RHT_FORMAT_VIRTUAL)
					refs += x->rht[h].lxt_cnt;
			}
		}
		vstore_orphan_refs(l, &users, &refs);
		if (users != l->users) {
			snprintf(why, len, "LUN %s: %u open handles but users = %u", l->name, users, l->users);
			rc = -1;
		} else if ((l->mode == MODE_NONE) != (l->users == 0)) {
			snprintf(why, len, "LUN %s: mode %d with %u users", l->name, l->mode, l->users);
			rc = -1;
		} else if (l->ca_ready != (l->mode == MODE_VIRTUAL || l->scrub_pending)) {
			snprintf(why, len, "LUN %s: allocator %s in mode %d", l->name,
				 l->ca_ready ? "present" : "absent", l->mode);
			rc = -1;
		} else if (l->ca_ready) {
			uint64_t held = 0;

			if (ca_check(&l->ca, why, len))
				rc = -1;
			for (uint64_t c = 0; c < l->ca.nchunks; c++)
				held += ca_refs(&l->ca, c);
			/* every LXT entry holds one reference; retired chunks and
			 * chunks waiting for their scrub hold one each */
			if (!rc && held != refs + l->retired_chunks + l->scrub_pending) {
				snprintf(why, len, "LUN %s: %llu chunk references held, %llu LXT entries",
					 l->name, (unsigned long long)held, (unsigned long long)refs);
				rc = -1;
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}
