/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.c - the value cache of a LUN store: copies of values read from the
 * LUN, kept in memory so that a get of a value read before needs no I/O.
 *
 * Each shard keeps its cached values in a list, newest first, under the
 * shard's lock, within a share of the store's budget (CXLFLASH_KV_CACHE,
 * 64 MiB by default; 0 turns the cache off); the oldest go first, but one
 * read since it came in (or since its last second chance) goes back to the
 * head instead, unmarked (CLOCK: a get only marks its copy, where moving it
 * to the head touched two more copies' memory, 8% of the CPU of RAM-LUN
 * gets at 32 in flight; with uniform keys the eviction's walk over marked
 * copies costs about as much back). A set keeps a copy of its value (kv_cache_new, then
 * kv_cache_put_locked with the record appended), a get one of the value it
 * read and checked (kv_cache_fill; once the shard's share is full, only one
 * read in KV_CACHE_ADMIT_EVERY). A get served from the cache still waits
 * for the batch that holds the value to be written (the entry's lsn), as a
 * read of the LUN does, so it never shows a value a crash could take back.
 * A set or del of the key drops the old copy (kv_cache_drop_locked), and a
 * copy made from a read that a set overtook is not kept (the entry's
 * version is compared). Values above a quarter of a shard's share are not
 * cached.
 */
#include "kv/kv_internal.h"
#include "util/size.h"

#include <stdlib.h>
#include <string.h>

#define KV_CACHE_DEFAULT (64ull << 20)
#define KV_CACHE_ADMIT_EVERY 8u   /* a full shard caches one value read in this many */

/* What a cached value costs its shard's budget. */
static uint64_t node_cost(uint64_t len)
{
	return sizeof(struct kv_cnode) + len;
}

static void unlink_locked(struct kv_shard *sh, struct kv_cnode *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		sh->lru_head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		sh->lru_tail = n->prev;
	sh->cache_bytes -= node_cost(n->len);
}

static void push_locked(struct kv_shard *sh, struct kv_cnode *n)
{
	n->prev = NULL;
	n->next = sh->lru_head;
	if (sh->lru_head)
		sh->lru_head->prev = n;
	else
		sh->lru_tail = n;
	sh->lru_head = n;
	sh->cache_bytes += node_cost(n->len);
}

/*
 * The budget from CXLFLASH_KV_CACHE (a size, as LUN specs take); LUN stores
 * only. None by default on a RAM LUN (@path "ram:..."): a copy there is one
 * more copy of the same memory, which costs a set its copy and a read its
 * admission (32 chained 4 KiB gets of 200 MB: 1.15-1.21 M/s with 64 MiB of
 * cache, 1.25-1.30 M/s with none, alternating).
 */
void kv_cache_init(struct ark_impl *s, const char *path)
{
	const char *env = getenv("CXLFLASH_KV_CACHE");
	uint64_t bytes = path && !strncmp(path, "ram:", 4) ? 0 : KV_CACHE_DEFAULT;

	if (env && *env && parse_size(env, &bytes)) {
		bytes = KV_CACHE_DEFAULT;
		kv_msg("arkdb: CXLFLASH_KV_CACHE='%s' is not a size (e.g. 64M, 0 for none); using %llu MiB",
		       env, (unsigned long long)(bytes >> 20));
	}
	s->cache_shard_max = s->memory ? 0 : bytes / KV_NSHARDS;
}

/* @e's cached value, now marked used, or NULL. Shard lock held. */
const struct kv_cnode *kv_cache_get_locked(struct kv_shard *sh, struct kv_ent *e)
{
	struct kv_cnode *n = e->cache;

	(void)sh;
	if (n && !n->used)
		n->used = true;
	return n;
}

/*
 * Drop the least recently used copies until @cost more bytes fit, giving
 * a copy used since it came to the tail a second chance (to the head,
 * unmarked). The first dropped copy of @len bytes is returned for reuse
 * instead of freed (NULL if none). Shard lock held.
 */
static struct kv_cnode *make_room_locked(struct ark_impl *s, struct kv_shard *sh, uint64_t cost,
					 uint64_t len)
{
	struct kv_cnode *keep = NULL;

	while (sh->lru_tail && sh->cache_bytes + cost > s->cache_shard_max) {
		struct kv_cnode *t = sh->lru_tail;

		unlink_locked(sh, t);
		if (t->used) {
			t->used = false;
			push_locked(sh, t);
			continue;
		}
		t->e->cache = NULL;
		if (!keep && t->len == len)
			keep = t;
		else
			free(t);
	}
	return keep;
}

/* Forget @e's cached value (its value changes or it goes). Shard lock held. */
void kv_cache_drop_locked(struct kv_shard *sh, struct kv_ent *e)
{
	if (!e->cache)
		return;
	unlink_locked(sh, e->cache);
	free(e->cache);
	e->cache = NULL;
}

/* A copy of @len bytes at @val to cache, or NULL when the cache is off or
 * the value too large for it (a few large values would push out the rest). */
struct kv_cnode *kv_cache_new(struct ark_impl *s, const void *val, uint64_t len)
{
	uint64_t max = s->cache_shard_max, cost = node_cost(len);
	struct kv_cnode *n;

	if (!max || !len || cost > max / 4)
		return NULL;
	n = malloc(cost);
	if (!n)
		return NULL;
	memcpy(n->data, val, len);
	n->len = len;
	return n;
}

/* Make @n @e's cached value, making room by the least recently used. Shard lock held. */
void kv_cache_put_locked(struct ark_impl *s, struct kv_shard *sh, struct kv_ent *e,
			 struct kv_cnode *n)
{
	kv_cache_drop_locked(sh, e);
	free(make_room_locked(s, sh, node_cost(n->len), 0));
	n->e = e;
	n->used = false;
	e->cache = n;
	push_locked(sh, n);
}

/*
 * Keep a copy of the value @g read and checked, if its key still has that
 * version. A full shard admits one value read in KV_CACHE_ADMIT_EVERY:
 * when the values read are many times the cache, a copy of each one read
 * would mostly push out another that is as likely to be read next (with
 * uniform gets over 200 MB and a 64 MiB cache, 70% of gets missed either
 * way, and each miss paid a copy, an allocation and an eviction), while a
 * key read again and again still gets in after a few reads. The evicted
 * copy's memory is reused when it has the same length.
 */
void kv_cache_fill(struct ark_impl *s, const struct kv_get *g)
{
	uint64_t max = s->cache_shard_max, cost = node_cost(g->vlen);
	struct kv_shard *sh = g->sh;
	struct kv_cnode *n = NULL;

	if (!max || !g->vlen || cost > max / 4)
		return;
	pthread_mutex_lock(&sh->lock);
	struct kv_ent *e = kv_find_locked(sh, g->hash, g->key, g->klen);
	if (!e || e->ver != g->ver || e->cache)
		goto out;
	if (sh->cache_bytes + cost > max && ++sh->cache_skipped % KV_CACHE_ADMIT_EVERY)
		goto out;
	n = make_room_locked(s, sh, cost, g->vlen);
	if (!n && !(n = malloc(cost)))
		goto out;
	memcpy(n->data, g->val, g->vlen);
	n->len = g->vlen;
	n->used = false;
	n->e = e;
	e->cache = n;
	push_locked(sh, n);
out:
	pthread_mutex_unlock(&sh->lock);
}

/* The shard's entries were all freed with their copies (kv_ent_free): an empty cache. */
void kv_cache_reset_locked(struct kv_shard *sh)
{
	sh->lru_head = sh->lru_tail = NULL;
	sh->cache_bytes = 0;
}
