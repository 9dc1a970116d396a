/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quota.c - what one uid holds in a master, measured against its limits
 * (struct mlimits, issue 12): contexts attached, and chunks of each LUN
 * mapped by its vLUNs (a chunk its clones share counts once). Use is counted from the context table itself, never
 * kept in counters of its own, so it cannot drift from what is held: a
 * scan of the uid's contexts under the master lock, on the requests that
 * take more (ATTACH, USER_VIRTUAL, VLUN_RESIZE, VLUN_CLONE) and for the
 * status.
 */
#include "master/master.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util/log.h"

uint64_t mlimits_chunks(const struct mlimits *lim, const struct mlun *lun)
{
	uint64_t n;

	if (!lim)
		return MLIMIT_NONE;
	if (!lim->chunks_pct)
		return lim->chunks;
	n = lun->ca_ready ? lun->ca.nchunks : (lun->max_lba + 1) >> MC_CHUNK_SHIFT;
	/* Rounded up: a share of a small LUN is never nothing. */
	return (n * lim->chunks_pct + 99) / 100;
}

unsigned quota_contexts_used(struct master *m, uid_t uid)
{
	unsigned n = 0;

	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++)
		n += m->ctx_tbl[i] && m->ctx_tbl[i]->owner_uid == uid;
	return n;
}

/* Add the chunks of @c's vLUNs on @lun to @map (1 bit per chunk); the
 * number newly set. Without a map, each entry's count (shared or not). */
static uint64_t mark_chunks(const struct mctx *c, const struct mlun *lun, uint64_t *map,
			    uint64_t nchunks)
{
	uint64_t n = 0;
	unsigned seen = 0;

	for (unsigned h = 0; h < MASTER_RHT_PER_CONTEXT && seen < c->rht_out; h++) {
		const struct sisl_rht_entry *e = &c->rht[h];

		if (!c->rht_lun[h])
			continue;
		seen++;
		if (c->rht_lun[h] != lun || !e->nmask || SISL_RHT_FMT(e->fp) != SISL_RHT_FORMAT_VIRTUAL)
			continue;
		if (!map) {
			n += e->lxt_cnt;
			continue;
		}
		for (uint32_t i = 0; i < e->lxt_cnt; i++) {
			uint64_t k = SISL_LXT_BASE(e->lxt_start[i].rlba_base) >> MC_CHUNK_SHIFT;

			if (k < nchunks && !(map[k / 64] & 1ull << (k % 64))) {
				map[k / 64] |= 1ull << (k % 64);
				n++;
			}
		}
	}
	return n;
}

uint64_t quota_chunks_used(struct master *m, uid_t uid, const struct mlun *lun,
			   const struct mctx *plus)
{
	uint64_t nchunks = lun->ca_ready ? lun->ca.nchunks : 0, n = 0;
	/* A chunk shared by clones is counted once: it takes one chunk of
	 * the LUN however many of the uid's vLUNs map it. */
	uint64_t *map = nchunks ? calloc((nchunks + 63) / 64, sizeof(*map)) : NULL;

	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++) {
		const struct mctx *c = m->ctx_tbl[i];

		if (c && c->owner_uid == uid && c != plus)
			n += mark_chunks(c, lun, map, nchunks);
	}
	if (plus)
		n += mark_chunks(plus, lun, map, nchunks);
	free(map);
	return n;
}

/* A tenant hitting its limit in a loop must not flood the log: one line a
 * second per quota, with the count of those not logged. */
void quota_log(enum mquota q, uid_t uid, uint64_t used, uint64_t limit, const char *what)
{
	static const char *const names[] = { "contexts", "chunks", "connections" };
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t last[3];
	static unsigned quiet[3];
	time_t now = time(NULL);
	unsigned skipped;

	pthread_mutex_lock(&lock);
	if (last[q] == now) {
		quiet[q]++;
		pthread_mutex_unlock(&lock);
		return;
	}
	last[q] = now;
	skipped = quiet[q];
	quiet[q] = 0;
	pthread_mutex_unlock(&lock);
	log_warn("quota: uid %u is at its %s limit (%llu in use, limit %llu): %s refused%s",
		 (unsigned)uid, names[q], (unsigned long long)used, (unsigned long long)limit, what,
		 skipped ? " (and more in the last second, not logged)" : "");
}
