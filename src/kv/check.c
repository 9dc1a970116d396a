/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check.c - verifying a durable store offline (`arkdb-check`): the
 * superblocks, the checkpoint and the log are read as a recovery reads
 * them (read-only: no checkpoint is written, the epoch is not bumped), then
 * every key's value is read and checked against its checksum, and no two
 * keys may claim the same raw block.
 */
#include "kv/kv_internal.h"

#include <stdlib.h>
#include <string.h>

/* Mark the raw blocks of @l in @map; false if one was marked already. */
static bool claim(uint8_t *map, uint64_t nblocks, const struct kv_loc *l)
{
	bool ok = true;

	for (unsigned i = 0; i < l->npieces; i++) {
		for (uint64_t b = l->pieces[i].lba; b < l->pieces[i].lba + l->pieces[i].nblocks; b++) {
			if (b >= nblocks) {
				ok = false;
				continue;
			}
			if (map[b / 8] & (1u << (b % 8)))
				ok = false;
			map[b / 8] |= (uint8_t)(1u << (b % 8));
		}
	}
	return ok;
}

/* Whether @vlen bytes fit where @l says the value is (its raw runs, or one
 * meta block's payload): a damaged entry may claim any length, and the
 * check must not try to allocate it. */
static bool value_fits(const struct kv_loc *l, uint64_t vlen)
{
	uint64_t room = 0;

	if (!l->npieces)
		return vlen <= KV_PAYLOAD;
	for (uint16_t i = 0; i < l->npieces; i++)
		room += (uint64_t)l->pieces[i].nblocks * KV_BLOCK;
	return vlen <= room;
}

static void print_key(FILE *out, const uint8_t *key, uint32_t klen)
{
	fprintf(out, "key of %u bytes 0x", klen);
	for (uint32_t i = 0; i < klen && i < 32; i++)
		fprintf(out, "%02x", key[i]);
	if (klen > 32)
		fprintf(out, "...");
}

int kv_check(const char *path, FILE *out, bool verbose)
{
	struct ark_impl *s = kv_ark_alloc(ARK_KV_PERSIST_LOAD, 1 << 20);
	uint64_t keys = 0, bytes = 0, damaged = 0;
	uint8_t *map = NULL;
	int rc;

	if (!s) {
		fprintf(out, "arkdb-check: out of memory\n");
		return 2;
	}
	s->durable = true;
	s->readonly = true;
	rc = kv_dev_open(path, false, 0, 64, true, &s->dev);
	if (rc) {
		fprintf(out, "arkdb-check: %s: cannot open: %s\n", path, strerror(-rc));
		kv_ark_free(s);
		return 2;
	}
	rc = kv_recover(s);
	if (rc == -ENOENT) {
		fprintf(out, "arkdb-check: %s: no store on this LUN\n", path);
		rc = 2;
		goto out;
	}
	if (rc) {
		fprintf(out, "arkdb-check: %s: the store cannot be opened: %s\n", path, strerror(-rc));
		rc = 1;
		goto out;
	}
	uint64_t nblocks = kv_dev_blocks(s->dev);
	map = calloc(nblocks / 8 + 1, 1);
	if (!map) {
		fprintf(out, "arkdb-check: out of memory\n");
		rc = 2;
		goto out;
	}
	for (int i = 0; i < KV_NSHARDS; i++) {
		struct kv_shard *sh = &s->shards[i];
		for (uint64_t b = 0; b < sh->nbuckets; b++) {
			for (struct kv_ent *e = sh->buckets[b]; e; e = e->next) {
				bool bad = !claim(map, nblocks, &e->loc);
				if (bad) {
					fprintf(out, "arkdb-check: ");
					print_key(out, e->key, e->klen);
					fprintf(out, ": its blocks are outside the LUN or another key's\n");
				}
				if (!bad && !value_fits(&e->loc, e->vlen)) {
					fprintf(out, "arkdb-check: ");
					print_key(out, e->key, e->klen);
					fprintf(out, ": value of %llu bytes is longer than its blocks\n",
						(unsigned long long)e->vlen);
					bad = true;
				}
				if (!bad && e->vlen) {
					uint8_t *v = malloc(e->vlen);
					if (!v || kv_read_value(s, e->key, e->klen, &e->loc, e->vlen, v)) {
						fprintf(out, "arkdb-check: ");
						print_key(out, e->key, e->klen);
						fprintf(out, ": value of %llu bytes %s\n",
							(unsigned long long)e->vlen,
							v ? "fails its checksum" : "not checked (no memory)");
						bad = true;
					}
					free(v);
				}
				damaged += bad;
				keys++;
				bytes += e->vlen;
				if (verbose && keys % 100000 == 0)
					fprintf(stderr, "arkdb-check: %llu keys checked\n",
						(unsigned long long)keys);
			}
		}
	}
	fprintf(out, "arkdb-check: %s: store %016llx, format %u, %u-block segments, %llu of them; "
		"checkpoint generation %llu; %llu log batches (%llu records) after it\n",
		path, (unsigned long long)s->store_id, s->version, s->seg_blocks,
		(unsigned long long)s->nsegs, (unsigned long long)s->super_gen,
		(unsigned long long)s->replay_batches, (unsigned long long)s->replay_records);
	if (s->replay_torn || s->replay_unacked)
		fprintf(out, "arkdb-check: the log ends at a torn batch%s%llu meta blocks of later batches "
			"written while it was on its way (never acknowledged) not replayed\n",
			s->replay_torn ? " (its data not all written); " : "; ",
			(unsigned long long)s->replay_unacked);
	fprintf(out, "arkdb-check: %llu keys, %llu bytes of values, %llu damaged\n",
		(unsigned long long)keys, (unsigned long long)bytes, (unsigned long long)damaged);
	rc = damaged ? 1 : 0;
out:
	free(map);
	kv_dev_close(s->dev);
	kv_ark_free(s);
	return rc;
}
