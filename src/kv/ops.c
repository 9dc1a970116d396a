/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - set, get, del, exists and clear, for memory stores (the index
 * entry holds the value) and LUN stores (the entry holds where the log put
 * it). The synchronous calls and the async pool both come here; arguments
 * were checked by the caller (ark.c).
 */
#include "kv/kv_internal.h"

#include <stdlib.h>
#include <string.h>

int kv_op_set(struct ark_impl *s, uint64_t klen, const void *key, uint64_t vlen, const void *val,
	      int64_t *res, struct kv_waiter *w)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_shard *sh = kv_shard_of(s, h);
	struct kv_waiter sync = { 0 };
	struct kv_ent *e;
	int rc = 0;

	if (s->readonly)
		return EROFS;
	if (s->memory) {
		void *copy = NULL;
		if (vlen) {
			copy = malloc(vlen);
			if (!copy)
				return ENOMEM;
			memcpy(copy, val, vlen);
		}
		pthread_mutex_lock(&sh->lock);
		e = kv_find_locked(sh, h, key, klen);
		if (!e) {
			e = kv_ent_new(h, key, klen);
			if (!e) {
				pthread_mutex_unlock(&sh->lock);
				free(copy);
				return ENOMEM;
			}
			kv_insert_locked(sh, e);
			sh->key_bytes += klen;
		} else {
			sh->key_bytes -= e->vlen;
			free(e->val);
		}
		e->val = copy;
		e->vlen = vlen;
		sh->key_bytes += vlen;
		pthread_mutex_unlock(&sh->lock);
		*res = (int64_t)vlen;
		__atomic_add_fetch(&s->ops, 1, __ATOMIC_RELAXED);
		if (w) {
			w->rc = 0;
			w->res = (int64_t)vlen;
			kv_async_complete(s, w);
		}
		return 0;
	}

	if (!w)
		w = &sync;
	w->res = (int64_t)vlen;
again:
	rc = kv_log_reserve(s, klen, vlen, true);
	if (rc)
		return -rc;
	pthread_mutex_lock(&sh->lock);
	e = kv_find_locked(sh, h, key, klen);
	bool created = !e;
	if (created) {
		e = kv_ent_new(h, key, klen);
		if (!e) {
			pthread_mutex_unlock(&sh->lock);
			return ENOMEM;
		}
	}
	uint64_t old_vlen = created ? 0 : e->vlen;
	rc = kv_log_append_locked(s, KV_REC_SET, e, val, vlen, w, false);
	if (rc) {
		if (created)
			kv_ent_free(e);
		pthread_mutex_unlock(&sh->lock);
		if (rc == -EAGAIN)
			goto again;
		return -rc;
	}
	if (created) {
		kv_insert_locked(sh, e);
		sh->key_bytes += klen;
	}
	sh->key_bytes += vlen - old_vlen;
	pthread_mutex_unlock(&sh->lock);
	__atomic_add_fetch(&s->ops, 1, __ATOMIC_RELAXED);
	*res = (int64_t)vlen;
	if (w != &sync)
		return 0;
	kv_waiter_wait(s, w);
	return -w->rc;
}

/* Copy what [voff, voff + vbuflen) of a @vlen-byte value holds. */
static void copy_range(void *vbuf, uint64_t vbuflen, uint64_t voff, const uint8_t *v, uint64_t vlen)
{
	if (voff >= vlen || !vbuflen)
		return;
	memcpy(vbuf, v + voff, kv_min(vbuflen, vlen - voff));
}

int kv_op_get(struct ark_impl *s, uint64_t klen, const void *key, uint64_t vbuflen, void *vbuf,
	      uint64_t voff, int64_t *res)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_shard *sh = kv_shard_of(s, h);
	struct kv_ent *e;
	int rc;

	pthread_mutex_lock(&sh->lock);
	e = kv_find_locked(sh, h, key, klen);
	if (!e) {
		pthread_mutex_unlock(&sh->lock);
		return ENOENT;
	}
	uint64_t vlen = e->vlen;
	if (s->memory) {
		copy_range(vbuf, vbuflen, voff, e->val, vlen);
		pthread_mutex_unlock(&sh->lock);
		*res = (int64_t)vlen;
		__atomic_add_fetch(&s->ops, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (!vlen || voff >= vlen || !vbuflen) {
		pthread_mutex_unlock(&sh->lock);
		*res = (int64_t)vlen;
		__atomic_add_fetch(&s->ops, 1, __ATOMIC_RELAXED);
		return 0;
	}
	/* Copy what the read needs; the entry may change once unlocked. */
	struct kv_loc loc = e->loc;
	struct kv_piece one;
	uint8_t kstack[256];
	uint8_t *kcopy = klen <= sizeof(kstack) ? kstack : malloc(klen);
	if (loc.npieces == 1) {
		one = e->loc.pieces[0];
		loc.pieces = &one;
	} else if (loc.npieces) {
		loc.pieces = malloc(loc.npieces * sizeof(*loc.pieces));
		if (loc.pieces)
			memcpy(loc.pieces, e->loc.pieces, loc.npieces * sizeof(*loc.pieces));
	}
	if (!kcopy || (loc.npieces && !loc.pieces)) {
		pthread_mutex_unlock(&sh->lock);
		if (kcopy != kstack)
			free(kcopy);
		if (loc.npieces > 1)
			free(loc.pieces);
		return ENOMEM;
	}
	memcpy(kcopy, key, klen);
	uint64_t lsn = e->lsn;
	kv_seg_readers(s, &loc, 1);
	pthread_mutex_unlock(&sh->lock);

	kv_wait_written(s, lsn);
	if (voff == 0 && vbuflen >= vlen) {
		rc = kv_read_value(s, kcopy, (uint32_t)klen, &loc, vlen, vbuf);
	} else {
		uint8_t *tmp = malloc(vlen);
		rc = tmp ? kv_read_value(s, kcopy, (uint32_t)klen, &loc, vlen, tmp) : -ENOMEM;
		if (!rc)
			copy_range(vbuf, vbuflen, voff, tmp, vlen);
		free(tmp);
	}
	kv_seg_readers(s, &loc, -1);
	if (loc.npieces > 1)
		free(loc.pieces);
	if (kcopy != kstack)
		free(kcopy);
	if (rc)
		return -rc;
	*res = (int64_t)vlen;
	__atomic_add_fetch(&s->ops, 1, __ATOMIC_RELAXED);
	return 0;
}

int kv_op_exists(struct ark_impl *s, uint64_t klen, const void *key, int64_t *res)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_shard *sh = kv_shard_of(s, h);

	pthread_mutex_lock(&sh->lock);
	struct kv_ent *e = kv_find_locked(sh, h, key, klen);
	if (e)
		*res = (int64_t)e->vlen;
	pthread_mutex_unlock(&sh->lock);
	__atomic_add_fetch(&s->ops, 1, __ATOMIC_RELAXED);
	return e ? 0 : ENOENT;
}

int kv_op_del(struct ark_impl *s, uint64_t klen, const void *key, int64_t *res,
	      struct kv_waiter *w)
{
	uint64_t h = kv_hash(key, klen);
	struct kv_shard *sh = kv_shard_of(s, h);
	struct kv_waiter sync = { 0 };
	int rc = 0;

	if (s->readonly)
		return EROFS;
again:
	if (!s->memory && (rc = kv_log_reserve(s, klen, 0, false)))
		return -rc;
	pthread_mutex_lock(&sh->lock);
	struct kv_ent *e = kv_find_locked(sh, h, key, klen);
	if (!e) {
		pthread_mutex_unlock(&sh->lock);
		return ENOENT;
	}
	uint64_t vlen = e->vlen;
	if (!s->memory) {
		if (!w)
			w = &sync;
		w->res = (int64_t)vlen;
		rc = kv_log_append_locked(s, KV_REC_DEL, e, NULL, 0, w, false);
		if (rc) {
			pthread_mutex_unlock(&sh->lock);
			if (rc == -EAGAIN)
				goto again;
			return -rc;
		}
	}
	kv_remove_locked(sh, e);
	sh->key_bytes -= e->klen + vlen;
	pthread_mutex_unlock(&sh->lock);
	kv_ent_free(e);
	__atomic_add_fetch(&s->ops, 1, __ATOMIC_RELAXED);
	*res = (int64_t)vlen;
	if (s->memory) {
		if (w) {
			w->rc = 0;
			w->res = (int64_t)vlen;
			kv_async_complete(s, w);
		}
		return 0;
	}
	if (w != &sync)
		return 0;
	kv_waiter_wait(s, w);
	return -w->rc;
}

/* kv_op_clear() - remove every key (ark_flush). */
int kv_op_clear(struct ark_impl *s)
{
	struct kv_waiter sync = { 0 };
	int rc = 0;

	if (s->readonly)
		return EROFS;
	for (int i = 0; i < KV_NSHARDS; i++)
		pthread_mutex_lock(&s->shards[i].lock);
	if (!s->memory)
		rc = kv_log_append_locked(s, KV_REC_CLEAR, NULL, NULL, 0, &sync, false);
	if (!rc)
		kv_index_clear_locked(s);
	for (int i = KV_NSHARDS - 1; i >= 0; i--)
		pthread_mutex_unlock(&s->shards[i].lock);
	if (rc)
		return -rc;
	if (!s->memory) {
		kv_waiter_wait(s, &sync);
		return -sync.rc;
	}
	return 0;
}
