/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.c - the in-memory index: every key of a store in one of 64 shards
 * (by the top bits of its hash), each a chained hash table with its own
 * lock that doubles when it holds more keys than buckets. Keeping every
 * key in memory makes gets one LUN read (none on a memory store) and
 * iteration, count and random keys free of I/O.
 */
#include "kv/kv_internal.h"

#include <stdlib.h>
#include <string.h>

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* kv_hash() - a 64-bit hash of the key (multiply-mix, 8 bytes at a time). */
uint64_t kv_hash(const void *key, uint64_t klen)
{
	const uint8_t *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (klen * 0xa0761d6478bd642full);
	uint64_t n = klen;

	while (n >= 16) {
		h = mix(rd64(p) ^ 0xe7037ed1a0b428dbull, rd64(p + 8) ^ h);
		p += 16;
		n -= 16;
	}
	uint64_t a = 0, b = 0;
	if (n >= 8) {
		a = rd64(p);
		b = rd64(p + n - 8);
	} else if (n > 0) {
		uint8_t t[8] = { 0 };
		memcpy(t, p, n);
		a = rd64(t);
	}
	h = mix(a ^ 0x8ebc6af09c88c6e3ull, b ^ h);
	return mix(h, 0x589965cc75374cc3ull ^ klen);
}

/* table_new() - @n empty buckets, written with zeroes now: a table the
 * kernel left unmapped is first read (which maps its zero page) and then
 * written, and each such write fault flushes the TLB of every CPU the
 * process runs on (a 1 M-bucket table, IBM's default hcount, took a fifth
 * of the time of 50,000 4 KiB sets at 32 in flight). */
static struct kv_ent **table_new(uint64_t n)
{
	struct kv_ent **t = malloc(n * sizeof(*t));

	if (t)
		memset(t, 0, n * sizeof(*t));
	return t;
}

int kv_index_init(struct ark_impl *s, uint64_t hcount)
{
	uint64_t per = 16;

	/* hcount is IBM's hash-slot count; use it as the expected key count,
	 * up to 256 buckets a shard: the tables double as keys come, which
	 * costs less than a big table made up front (table_new). */
	while (per < hcount / KV_NSHARDS && per < 256)
		per <<= 1;
	for (int i = 0; i < KV_NSHARDS; i++) {
		struct kv_shard *sh = &s->shards[i];
		kv_lock_init(&sh->lock);
		sh->index_bytes = &s->index_bytes;
		sh->nbuckets = per;
		sh->buckets = table_new(per);
		if (!sh->buckets)
			return -ENOMEM;
	}
	return 0;
}

void kv_loc_free(struct kv_loc *l)
{
	free(l->pieces);
	l->pieces = NULL;
	l->npieces = 0;
}

/* A memory store's value lives in its entry's allocation, after the key. */
static void *inline_val(struct kv_ent *e)
{
	return e->key + e->klen;
}

/* A memory store's entry: its object's size. */
static size_t ent_size(const struct kv_ent *e)
{
	return sizeof(*e) + e->klen + e->vlen;
}

void kv_ent_free(struct kv_ent *e)
{
	if (!e)
		return;
	if (e->val != inline_val(e))
		free(e->val);
	free(e->cache);   /* a bulk free: the caller resets the shard's list */
	kv_loc_free(&e->loc);
	free(e);
}

void kv_index_destroy(struct ark_impl *s)
{
	for (int i = 0; i < KV_NSHARDS; i++) {
		struct kv_shard *sh = &s->shards[i];
		if (!sh->buckets)
			continue;
		for (uint64_t b = 0; b < sh->nbuckets; b++) {
			struct kv_ent *e = sh->buckets[b], *n;
			for (; e; e = n) {
				n = e->next;
				if (s->memory)
					kv_mem_forget(s->mem, e, ent_size(e));
				else
					kv_ent_free(e);
			}
		}
		free(sh->buckets);
		sh->buckets = NULL;
		kv_cache_reset_locked(sh);
		pthread_mutex_destroy(&sh->lock);
	}
}

struct kv_shard *kv_shard_of(struct ark_impl *s, uint64_t hash)
{
	return &s->shards[hash >> 58];
}

struct kv_ent *kv_find_locked(struct kv_shard *sh, uint64_t hash, const void *key, uint64_t klen)
{
	struct kv_ent *e = sh->buckets[hash & (sh->nbuckets - 1)];

	for (; e; e = e->next)
		if (e->hash == hash && e->klen == klen && !memcmp(e->key, key, klen))
			return e;
	return NULL;
}

struct kv_ent *kv_ent_new(uint64_t hash, const void *key, uint64_t klen)
{
	struct kv_ent *e = calloc(1, sizeof(*e) + klen);

	if (!e)
		return NULL;
	e->hash = hash;
	e->klen = (uint32_t)klen;
	memcpy(e->key, key, klen);
	return e;
}

/*
 * kv_ent_new_val() - an entry of a memory store with its value in the same
 * object, right after the key: a get then misses on one object, not on
 * the entry and again on a separate value. The object comes from the
 * store's allocator (mem.c), from the arena of the key's shard.
 */
struct kv_ent *kv_ent_new_val(struct ark_impl *s, uint64_t hash, const void *key, uint64_t klen,
			      const void *val, uint64_t vlen)
{
	struct kv_ent *e;

	if (vlen > SIZE_MAX - sizeof(*e) - klen)
		return NULL;
	e = kv_mem_alloc(s->mem, (unsigned)(hash >> 58), sizeof(*e) + klen + vlen);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->hash = hash;
	e->klen = (uint32_t)klen;
	memcpy(e->key, key, klen);
	e->val = vlen ? inline_val(e) : NULL;
	e->vlen = vlen;
	if (vlen)
		memcpy(e->val, val, vlen);
	return e;
}

void kv_ent_drop(struct ark_impl *s, struct kv_ent *e)
{
	if (!e)
		return;
	if (s->memory)
		kv_mem_free(s->mem, e, ent_size(e));
	else
		kv_ent_free(e);
}

/* kv_replace_locked() - put @n where @old is in its chain (same key). */
void kv_replace_locked(struct kv_shard *sh, struct kv_ent *old, struct kv_ent *n)
{
	struct kv_ent **pp = &sh->buckets[old->hash & (sh->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == old) {
			n->next = old->next;
			*pp = n;
			return;
		}
	}
}

/* Double the table; on allocation failure keep the longer chains. */
static void grow_locked(struct kv_shard *sh)
{
	uint64_t n = sh->nbuckets * 2;
	struct kv_ent **nb = table_new(n);

	if (!nb)
		return;
	for (uint64_t b = 0; b < sh->nbuckets; b++) {
		struct kv_ent *e = sh->buckets[b], *next;
		for (; e; e = next) {
			next = e->next;
			struct kv_ent **slot = &nb[e->hash & (n - 1)];
			e->next = *slot;
			*slot = e;
		}
	}
	free(sh->buckets);
	sh->buckets = nb;
	sh->nbuckets = n;
}

void kv_insert_locked(struct kv_shard *sh, struct kv_ent *e)
{
	if (sh->count >= sh->nbuckets)
		grow_locked(sh);
	struct kv_ent **slot = &sh->buckets[e->hash & (sh->nbuckets - 1)];
	e->next = *slot;
	*slot = e;
	sh->count++;
	__atomic_add_fetch(sh->index_bytes, sizeof(struct kv_ckpt_ent) + e->klen + 16, __ATOMIC_RELAXED);
}

void kv_remove_locked(struct kv_shard *sh, struct kv_ent *e)
{
	struct kv_ent **pp = &sh->buckets[e->hash & (sh->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			sh->count--;
			kv_cache_drop_locked(sh, e);
			__atomic_sub_fetch(sh->index_bytes, sizeof(struct kv_ckpt_ent) + e->klen + 16,
					   __ATOMIC_RELAXED);
			return;
		}
	}
}

uint64_t kv_count(struct ark_impl *s)
{
	uint64_t n = 0;

	for (int i = 0; i < KV_NSHARDS; i++) {
		pthread_mutex_lock(&s->shards[i].lock);
		n += s->shards[i].count;
		pthread_mutex_unlock(&s->shards[i].lock);
	}
	return n;
}

/* Every shard lock held. */
uint64_t kv_count_locked(struct ark_impl *s)
{
	uint64_t n = 0;

	for (int i = 0; i < KV_NSHARDS; i++)
		n += s->shards[i].count;
	return n;
}

/*
 * kv_index_clear_locked() - remove every entry (ark_flush, or a CLEAR
 * record in the log), giving back what a LUN store's entries keep alive.
 * Every shard lock held.
 */
void kv_index_clear_locked(struct ark_impl *s)
{
	for (int i = 0; i < KV_NSHARDS; i++) {
		struct kv_shard *sh = &s->shards[i];
		for (uint64_t b = 0; b < sh->nbuckets; b++) {
			struct kv_ent *e = sh->buckets[b], *n;
			for (; e; e = n) {
				n = e->next;
				if (!s->memory)
					kv_seg_release(s, &e->loc, e->klen, e->vlen);
				kv_ent_drop(s, e);
			}
			sh->buckets[b] = NULL;
		}
		sh->count = 0;
		sh->key_bytes = 0;
		kv_cache_reset_locked(sh);
	}
	__atomic_store_n(&s->index_bytes, 0, __ATOMIC_RELAXED);
}
