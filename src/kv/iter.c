/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iter.c - ark_first / ark_next / ark_nextN over a snapshot of the keys
 * taken at ark_first (keys deleted since are skipped, keys set since may
 * be missed), ark_random and ark_count.
 */
#include "kv/kv_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define ITER_MAGIC 0x4954455241524b31ull

struct kv_iter {
	uint64_t magic;
	struct ark_impl *s;
	uint8_t *keys;       /* packed: uint64_t len, then the key */
	uint64_t len, pos;
};

static bool still_there(struct ark_impl *s, const uint8_t *key, uint64_t klen)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_shard *sh = kv_shard_of(s, h);

	pthread_mutex_lock(&sh->lock);
	bool found = kv_find_locked(sh, h, key, klen) != NULL;
	pthread_mutex_unlock(&sh->lock);
	return found;
}

static void iter_free(struct kv_iter *it)
{
	it->magic = 0;
	free(it->keys);
	free(it);
}

/* The next key of the snapshot still in the store; NULL at the end. */
static const uint8_t *iter_peek(struct kv_iter *it, uint64_t *klen)
{
	while (it->pos < it->len) {
		uint64_t n;
		memcpy(&n, it->keys + it->pos, sizeof(n));
		const uint8_t *k = it->keys + it->pos + sizeof(n);
		if (still_there(it->s, k, n)) {
			*klen = n;
			return k;
		}
		it->pos += sizeof(n) + n;
	}
	return NULL;
}

int ark_next(ARI *iter, uint64_t kbuflen, int64_t *klen, void *kbuf)
{
	struct kv_iter *it = (struct kv_iter *)iter;
	uint64_t n;

	if (!it || it->magic != ITER_MAGIC || !klen || !kbuf)
		return EINVAL;
	const uint8_t *k = iter_peek(it, &n);
	if (!k) {
		iter_free(it);
		return ENOENT;
	}
	*klen = (int64_t)n;
	if (n > kbuflen)
		return EINVAL;   /* the key stays next: retry with a bigger buffer */
	memcpy(kbuf, k, n);
	it->pos += sizeof(n) + n;
	return 0;
}

int ark_nextN(ARI *iter, uint64_t kbuflen, void *kbuf, int64_t *num_keys)
{
	struct kv_iter *it = (struct kv_iter *)iter;
	uint8_t *out = kbuf;
	uint64_t used = 0;
	int64_t got = 0;
	uint64_t n;

	if (!it || it->magic != ITER_MAGIC || !kbuf || !num_keys)
		return EINVAL;
	const uint8_t *k;
	while ((k = iter_peek(it, &n))) {
		if (used + sizeof(keye_t) + n > kbuflen)
			break;
		keye_t *ke = (keye_t *)(out + used);
		ke->len = n;
		memcpy(ke->p, k, n);
		used += sizeof(keye_t) + n;
		it->pos += sizeof(n) + n;
		got++;
	}
	*num_keys = got;
	if (got)
		return 0;
	if (!k) {
		iter_free(it);
		return ENOENT;
	}
	return EINVAL;   /* the next key does not fit */
}

ARI *ark_first(ARK *ark, uint64_t kbuflen, int64_t *klen, void *kbuf)
{
	struct ark_impl *s = ark_impl(ark);
	struct kv_iter *it;
	uint64_t cap = 0;

	if (!s || !klen || !kbuf) {
		errno = EINVAL;
		return NULL;
	}
	it = calloc(1, sizeof(*it));
	if (!it) {
		errno = ENOMEM;
		return NULL;
	}
	it->magic = ITER_MAGIC;
	it->s = s;
	for (int i = 0; i < KV_NSHARDS; i++) {
		struct kv_shard *sh = &s->shards[i];
		pthread_mutex_lock(&sh->lock);
		for (uint64_t b = 0; b < sh->nbuckets; b++) {
			for (struct kv_ent *e = sh->buckets[b]; e; e = e->next) {
				uint64_t need = it->len + sizeof(uint64_t) + e->klen;
				if (need > cap) {
					uint64_t nc = cap ? cap * 2 : 4096;
					while (nc < need)
						nc *= 2;
					uint8_t *p = realloc(it->keys, nc);
					if (!p) {
						pthread_mutex_unlock(&sh->lock);
						iter_free(it);
						errno = ENOMEM;
						return NULL;
					}
					it->keys = p;
					cap = nc;
				}
				uint64_t kl = e->klen;
				memcpy(it->keys + it->len, &kl, sizeof(kl));
				memcpy(it->keys + it->len + sizeof(kl), e->key, kl);
				it->len = need;
			}
		}
		pthread_mutex_unlock(&sh->lock);
	}
	int rc = ark_next((ARI *)it, kbuflen, klen, kbuf);
	if (rc) {
		/* ENOENT freed it already (IBM's leaked it on an empty store). */
		if (rc != ENOENT)
			iter_free(it);
		errno = rc;
		return NULL;
	}
	return (ARI *)it;
}

int ark_random(ARK *ark, uint64_t kbuflen, uint64_t *klen, void *kbuf)
{
	struct ark_impl *s = ark_impl(ark);
	uint64_t r;

	if (!s || !klen || !kbuf)
		return EINVAL;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)(uintptr_t)&r;
	/* A random shard, bucket and chain position, scanning on from there. */
	for (int t = 0; t < KV_NSHARDS; t++) {
		struct kv_shard *sh = &s->shards[(r + (uint64_t)t) % KV_NSHARDS];
		pthread_mutex_lock(&sh->lock);
		if (!sh->count) {
			pthread_mutex_unlock(&sh->lock);
			continue;
		}
		uint64_t start = (r >> 8) & (sh->nbuckets - 1);
		for (uint64_t i = 0; i < sh->nbuckets; i++) {
			struct kv_ent *e = sh->buckets[(start + i) & (sh->nbuckets - 1)];
			if (!e)
				continue;
			*klen = e->klen;
			int rc = 0;
			if (e->klen > kbuflen)
				rc = EINVAL;
			else
				memcpy(kbuf, e->key, e->klen);
			pthread_mutex_unlock(&sh->lock);
			return rc;
		}
		pthread_mutex_unlock(&sh->lock);
	}
	return ENOENT;
}
