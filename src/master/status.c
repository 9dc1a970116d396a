/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - what the master holds, for `cxlflash status` and `vlun list`:
 * LUNs (WWID, modes, users, chunks used and free), contexts and their
 * resource handles, and kept vLUNs waiting for their client. Text for
 * people, JSON for scripts; one snapshot taken under the master lock.
 */
#include "master/master.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "util/clock.h"
#include "util/json.h"

static const char *mode_name(enum lun_mode m)
{
	return m == MODE_VIRTUAL ? "virtual" : m == MODE_PHYSICAL ? "physical" : "none";
}

static void wwid_hex(const uint8_t *w, char out[2 * CXLFLASH_WWID_LEN + 1])
{
	for (unsigned i = 0; i < CXLFLASH_WWID_LEN; i++)
		sprintf(out + 2 * i, "%02x", w[i]);
}

static const char *lun_label(const struct master_status_names *names, const struct mlun *l)
{
	const char *n = names && names->label ? names->label(names->arg, l) : NULL;

	return n ? n : l->name;
}

static unsigned nbd_users(const struct master_status_names *names, const struct mlun *l)
{
	return names && names->legacy_clients ? names->legacy_clients(names->arg, l) : 0;
}

/* Is context @c shown? A caller who is not an administrator sees only the
 * contexts its own uid attached. */
static bool visible(const struct master_status_names *names, const struct mctx *c)
{
	return c && (!names || !names->only_uid || c->owner_uid == names->uid);
}

static void vlun_rows(struct master *m, FILE *f, const struct master_status_names *names,
		      bool json, bool *first)
{
	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++) {
		struct mctx *c = m->ctx_tbl[i];

		if (!visible(names, c))
			continue;
		for (unsigned h = 0; h < MASTER_RHT_PER_CONTEXT; h++) {
			const struct sisl_rht_entry *e = &c->rht[h];
			const struct mlun *l = c->rht_lun[h];
			bool virt;
			uint64_t blocks;

			if (!l || e->nmask == 0)
				continue;
			virt = SISL_RHT_FMT(e->fp) == SISL_RHT_FORMAT_VIRTUAL;
			blocks = virt ? (uint64_t)e->lxt_cnt * MC_CHUNK_SIZE : l->max_lba + 1;
			if (json) {
				fprintf(f, "%s{\"context\":\"0x%" PRIx64 "\",\"owner\":%d,\"handle\":%u,"
					"\"lun\":", *first ? "" : ",", c->ctxid, (int)c->owner.pid, h);
				json_str(f, lun_label(names, l));
				fprintf(f, ",\"kind\":\"%s\",\"chunks\":%u,\"blocks\":%" PRIu64
					",\"error\":%s}", virt ? "virtual" : "physical",
					virt ? e->lxt_cnt : 0, blocks, c->err ? "true" : "false");
			} else {
				fprintf(f, "  0x%-14" PRIx64 " %7d %6u %-9s %-16s %8u %12" PRIu64 "%s\n",
					c->ctxid, (int)c->owner.pid, h, virt ? "virtual" : "physical",
					lun_label(names, l), virt ? e->lxt_cnt : 0, blocks,
					c->err ? "  (error)" : "");
			}
			*first = false;
		}
	}
}

/*
 * Kept vLUNs that wait for their client (vstore.c: left by a master that
 * was lost or stopped), each with how long it has waited; a caller who is
 * not an administrator sees its own uid's. Text: a section only when there
 * are some.
 */
static void orphan_rows(struct master *m, FILE *f, const struct master_status_names *names,
			bool json)
{
	uint64_t now = now_ns();    /* the clock of mvorphan.since_ns */
	bool first = true;

	if (json)
		fputs(",\"kept_vluns\":[", f);
	for (unsigned i = 0; i < AFU_MAX_LUNS; i++) {
		const struct mlun *l = m->luns[i];

		for (const struct mvorphan *v = l ? l->orphans : NULL; v; v = v->next) {
			uint64_t waited = (now - v->since_ns) / 1000000000ull;

			if (names && names->only_uid && v->uid != names->uid)
				continue;
			if (json) {
				fprintf(f, "%s{\"lun\":", first ? "" : ",");
				json_str(f, lun_label(names, l));
				fprintf(f, ",\"vlun_id\":\"%016" PRIx64 "\",\"uid\":%u,\"chunks\":%"
					PRIu64 ",\"waiting_s\":%" PRIu64 ",\"expires_s\":%" PRIu64 "}",
					v->id, (unsigned)v->uid, v->nchunks, waited,
					waited < MASTER_VLUN_ORPHAN_S ? MASTER_VLUN_ORPHAN_S - waited : 0);
			} else {
				if (first)
					fprintf(f, "Kept vLUNs waiting for their client (freed after %u s):\n"
						"  %-16s %-16s %7s %8s %8s\n", MASTER_VLUN_ORPHAN_S, "LUN",
						"VLUN_ID", "OWNER", "CHUNKS", "WAITING");
				fprintf(f, "  %-16s %016" PRIx64 " %7u %8" PRIu64 " %6" PRIu64 " s\n",
					lun_label(names, l), v->id, (unsigned)v->uid, v->nchunks, waited);
			}
			first = false;
		}
	}
	if (json)
		fputs("]", f);
}

void master_status(struct master *m, FILE *f, bool json, bool vluns_only,
		   const struct master_status_names *names)
{
	bool first = true;
	unsigned nctx = 0;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++)
		nctx += visible(names, m->ctx_tbl[i]);
	if (vluns_only) {
		if (json) {
			fputs("{\"vluns\":[", f);
			vlun_rows(m, f, names, true, &first);
			fputs("]}\n", f);
		} else {
			fprintf(f, "  %-16s %7s %6s %-9s %-16s %8s %12s\n", "CONTEXT", "OWNER", "HANDLE",
				"KIND", "LUN", "CHUNKS", "BLOCKS");
			vlun_rows(m, f, names, false, &first);
			if (first)
				fputs("  (no resource handles open)\n", f);
		}
		pthread_mutex_unlock(&m->lock);
		return;
	}
	if (json)
		fprintf(f, "{\"contexts\":%u,\"luns\":[", nctx);
	else
		fprintf(f, "LUNs:\n  %-16s %-32s %-9s %-8s %5s %5s %4s %10s %8s %8s\n", "NAME", "WWID",
			"MODE", "ACCESS", "USERS", "OPENS", "NBD", "BLOCKS", "CHUNKS", "FREE");
	for (unsigned i = 0; i < AFU_MAX_LUNS; i++) {
		const struct mlun *l = m->luns[i];
		char w[2 * CXLFLASH_WWID_LEN + 1];
		uint64_t chunks = (l ? l->max_lba + 1 : 0) / MC_CHUNK_SIZE;
		uint64_t nfree = 0;

		if (!l)
			continue;
		wwid_hex(l->wwid, w);
		/* Chunks waiting for their scrub are free to a grow (it takes
		 * and scrubs them itself). */
		if (l->ca_ready)
			chunks = l->ca.nchunks, nfree = ca_free_count(&l->ca) + l->scrub_pending;
		else if (l->mode != MODE_PHYSICAL)
			nfree = chunks;
		if (json) {
			fprintf(f, "%s{\"name\":", first ? "" : ",");
			json_str(f, lun_label(names, l));
			fputs(",\"spec\":", f);
			json_str(f, l->name);
			fprintf(f, ",\"wwid\":\"%s\",\"mode\":\"%s\",\"access\":\"%s\",\"users\":%u,"
				"\"opens\":%u,\"nbd_clients\":%u,\"blocks\":%" PRIu64
				",\"block_size\":%u,\"chunks\":%" PRIu64 ",\"chunks_free\":%" PRIu64
				",\"chunks_used\":%" PRIu64 ",\"chunks_retired\":%" PRIu64
				",\"chunks_scrubbing\":%" PRIu64 "}",
				w, l->superpipe ? "superpipe" : "legacy", mode_name(l->mode), l->users,
				l->opens, nbd_users(names, l), l->max_lba + 1, BE_BLOCK_SIZE, chunks,
				nfree, chunks - nfree - l->retired_chunks, l->retired_chunks,
				l->scrub_pending);
		} else {
			fprintf(f, "  %-16s %-32s %-9s %-8s %5u %5u %4u %10" PRIu64 " %8" PRIu64
				" %8" PRIu64 "\n", lun_label(names, l), w,
				l->superpipe ? "superpipe" : "legacy", mode_name(l->mode), l->users,
				l->opens, nbd_users(names, l), l->max_lba + 1, chunks, nfree);
		}
		first = false;
	}
	if (json) {
		fputs("],\"vluns\":[", f);
		first = true;
		vlun_rows(m, f, names, true, &first);
		fputs("]", f);
		orphan_rows(m, f, names, true);
		if (names && names->extra)
			names->extra(names->extra_arg, f, true);
		fputs("}\n", f);
	} else {
		if (first)
			fputs("  (none)\n", f);
		if (names && names->only_uid)
			fprintf(f, "Contexts: %u (of uid %u: only your own are shown)\n", nctx,
				(unsigned)names->uid);
		else
			fprintf(f, "Contexts: %u\n", nctx);
		fputs("Resource handles:\n", f);
		fprintf(f, "  %-16s %7s %6s %-9s %-16s %8s %12s\n", "CONTEXT", "OWNER", "HANDLE", "KIND",
			"LUN", "CHUNKS", "BLOCKS");
		first = true;
		vlun_rows(m, f, names, false, &first);
		if (first)
			fputs("  (none)\n", f);
		orphan_rows(m, f, names, false);
		if (names && names->extra)
			names->extra(names->extra_arg, f, false);
	}
	pthread_mutex_unlock(&m->lock);
}
