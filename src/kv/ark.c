/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ark.c - the arkdb.h entry points: argument checks (IBM's EINVAL rules),
 * opening and closing stores, and the synchronous and asynchronous calls.
 */
#include "kv/kv_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void kv_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * The LUNs this process's stores use whole, by the name they were opened
 * with: a second store on one of them would write over the first (two
 * physical chunks of one LUN are the same blocks). Names that differ but
 * reach the same LUN are not caught.
 */
static pthread_mutex_t whole_lock = PTHREAD_MUTEX_INITIALIZER;
static struct whole_lun {
	char *path;
	struct whole_lun *next;
} *whole_luns;

static int whole_claim(const char *path)
{
	int rc = 0;

	pthread_mutex_lock(&whole_lock);
	for (struct whole_lun *w = whole_luns; w; w = w->next)
		if (!strcmp(w->path, path))
			rc = -EBUSY;
	if (!rc) {
		struct whole_lun *w = malloc(sizeof(*w));
		if (w && (w->path = strdup(path))) {
			w->next = whole_luns;
			whole_luns = w;
		} else {
			free(w);
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&whole_lock);
	if (rc == -EBUSY)
		kv_msg("arkdb: %s already holds a store of this process", path);
	return rc;
}

static void whole_release(const char *path)
{
	pthread_mutex_lock(&whole_lock);
	for (struct whole_lun **pp = &whole_luns; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->path, path)) {
			struct whole_lun *w = *pp;
			*pp = w->next;
			free(w->path);
			free(w);
			break;
		}
	}
	pthread_mutex_unlock(&whole_lock);
}

void kv_ark_free(struct ark_impl *s)
{
	if (s->whole_path) {
		whole_release(s->whole_path);
		free(s->whole_path);
	}
	kv_log_free(s);
	kv_index_destroy(s);
	kv_mem_destroy(s->mem);
	if (s->segtab) {
		for (uint64_t t = 0; t < s->segtab_n; t++)
			free(s->segtab[t]);
		free(s->segtab);
	}
	free(s->reapq);
	free(s->ckpt_segs);
	pthread_mutex_destroy(&s->seg_lock);
	pthread_mutex_destroy(&s->log_lock);
	pthread_mutex_destroy(&s->ckpt_lock);
	pthread_cond_destroy(&s->log_cv);
	pthread_cond_destroy(&s->writer_cv);
	s->magic = 0;
	free(s);
}

/* A store with its locks and index, nothing opened yet. */
struct ark_impl *kv_ark_alloc(uint64_t flags, uint64_t hcount)
{
	/* Shards are cache-line aligned: so must the store be. */
	struct ark_impl *s = aligned_alloc(_Alignof(struct ark_impl), sizeof(*s));

	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->magic = ARK_MAGIC;
	s->flags = flags;
	pthread_mutex_init(&s->seg_lock, NULL);
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&s->ckpt_lock, NULL);
	pthread_cond_init(&s->log_cv, NULL);
	pthread_cond_init(&s->writer_cv, NULL);
	s->next_lsn = 1;
	if (kv_index_init(s, hcount)) {
		kv_ark_free(s);
		return NULL;
	}
	return s;
}

int ark_create_verbose(char *path, ARK **ark, uint64_t size, uint64_t bsize, uint64_t hcount,
		       int nthreads, int nqueue, int basyncs, uint64_t flags)
{
	const uint64_t persist = ARK_KV_PERSIST_STORE | ARK_KV_PERSIST_LOAD;
	bool memory = !path || !*path;
	struct ark_impl *s;
	int rc;

	if (!ark || nthreads <= 0 || nqueue < 0 || basyncs < 0 ||
	    (bsize && bsize != KV_BLOCK) || (flags & ~(uint64_t)0xf))
		return EINVAL;
	if ((memory || (flags & ARK_KV_VIRTUAL_LUN)) && (flags & persist))
		return EINVAL;   /* nothing durable to keep it on (IBM's rule) */
	*ark = NULL;
	s = kv_ark_alloc(flags, hcount ? hcount : ARK_VERBOSE_HASH_DEF);
	if (!s)
		return ENOMEM;
	s->memory = memory;
	if (memory && !(s->mem = kv_mem_new())) {
		kv_ark_free(s);
		return ENOMEM;
	}
	s->durable = (flags & persist) != 0;
	kv_cache_init(s, path);
	if (!memory) {
		if (flags & ARK_KV_VIRTUAL_LUN && size < (256ull << 20))
			size = 256ull << 20;   /* the master's chunk: it is taken whole anyway */
		if (!(flags & ARK_KV_VIRTUAL_LUN)) {
			rc = whole_claim(path);
			if (rc)
				goto fail;
			s->whole_path = strdup(path);
			if (!s->whole_path) {
				whole_release(path);
				rc = -ENOMEM;
				goto fail;
			}
		}
		rc = kv_dev_open(path, flags & ARK_KV_VIRTUAL_LUN, size ? size : ARK_VERBOSE_SIZE_DEF,
				 basyncs, false, &s->dev);
		if (rc)
			goto fail;
		if (flags & ARK_KV_PERSIST_LOAD) {
			rc = kv_recover(s);
			if (rc == -ENOENT && (flags & ARK_KV_PERSIST_STORE))
				rc = kv_format(s);
			else if (rc == -ENOENT)
				kv_msg("arkdb: no store on %s (ARK_KV_PERSIST_LOAD)", path);
		} else if (s->durable) {
			rc = kv_format(s);
		} else {
			rc = kv_layout(s);
		}
		if (rc)
			goto fail;
		/* The new epoch is durable before any log block carries it. */
		if ((flags & ARK_KV_PERSIST_LOAD) && (rc = kv_super_new_epoch(s)))
			goto fail;
		rc = kv_log_start(s);
		if (!rc)
			rc = kv_cleaner_start(s);
		if (rc)
			goto fail;
	}
	rc = kv_async_start(s, nthreads, nqueue);
	if (rc)
		goto fail;
	*ark = (ARK *)s;
	return 0;
fail:
	kv_cleaner_stop(s);
	kv_log_stop(s);
	kv_dev_close(s->dev);
	kv_ark_free(s);
	return -rc;
}

int ark_create(char *path, ARK **ark, uint64_t flags)
{
	return ark_create_verbose(path, ark, ARK_VERBOSE_SIZE_DEF, ARK_VERBOSE_BSIZE_DEF,
				  ARK_VERBOSE_HASH_DEF, ARK_VERBOSE_NTHRDS_DEF, ARK_MAX_NASYNCS,
				  ARK_MAX_BASYNCS, flags);
}

int ark_delete(ARK *ark)
{
	struct ark_impl *s = ark_impl(ark);
	int rc = 0;

	if (!s)
		return EINVAL;
	kv_async_stop(s);
	if (!s->memory) {
		kv_cleaner_stop(s);
		kv_log_stop(s);
		/* A last checkpoint makes the next open quick. */
		if (s->durable && !s->readonly && !s->writer_err)
			rc = -kv_checkpoint(s);
		if (s->writer_err && !rc)
			rc = -s->writer_err;
		kv_dev_close(s->dev);
	}
	kv_ark_free(s);
	return rc;
}

int ark_connect_verbose(ARC **arc, ARK *ark, int nasync)
{
	if (!arc || !ark_impl(ark) || nasync < 0)
		return EINVAL;
	*arc = ark;
	return 0;
}

int ark_connect(ARC **arc, ARK *ark)
{
	return ark_connect_verbose(arc, ark, 0);
}

int ark_disconnect(ARC *arc)
{
	return ark_impl(arc) ? 0 : EINVAL;
}

static bool key_ok(uint64_t klen, const void *key)
{
	return key && klen > 0 && klen <= ARK_MAX_LEN && klen <= UINT32_MAX;
}

int ark_set(ARK *ark, uint64_t klen, void *key, uint64_t vlen, void *val, int64_t *res)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !res || vlen > ARK_MAX_LEN || (vlen && !val))
		return EINVAL;
	return kv_op_set(s, klen, key, vlen, val, res, NULL);
}

int ark_get(ARK *ark, uint64_t klen, void *key, uint64_t vbuflen, void *vbuf, uint64_t voff,
	    int64_t *res)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !res || (vbuflen && !vbuf) || vbuflen > ARK_MAX_LEN ||
	    voff > ARK_MAX_LEN)
		return EINVAL;
	return kv_op_get(s, klen, key, vbuflen, vbuf, voff, res);
}

int ark_del(ARK *ark, uint64_t klen, void *key, int64_t *res)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !res)
		return EINVAL;
	return kv_op_del(s, klen, key, res, NULL);
}

int ark_exists(ARK *ark, uint64_t klen, void *key, int64_t *res)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !res)
		return EINVAL;
	return kv_op_exists(s, klen, key, res);
}

int ark_set_async_cb(ARK *ark, uint64_t klen, void *key, uint64_t vlen, void *val,
		     void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !cb || vlen > ARK_MAX_LEN || (vlen && !val))
		return EINVAL;
	return kv_async_submit(s, 0, klen, key, vlen, val, 0, NULL, 0, cb, dt);
}

int ark_get_async_cb(ARK *ark, uint64_t klen, void *key, uint64_t vbuflen, void *vbuf,
		     uint64_t voff, void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !cb || (vbuflen && !vbuf) || vbuflen > ARK_MAX_LEN ||
	    voff > ARK_MAX_LEN)
		return EINVAL;
	return kv_async_submit(s, 1, klen, key, 0, NULL, vbuflen, vbuf, voff, cb, dt);
}

int ark_del_async_cb(ARK *ark, uint64_t klen, void *key,
		     void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !cb)
		return EINVAL;
	return kv_async_submit(s, 2, klen, key, 0, NULL, 0, NULL, 0, cb, dt);
}

int ark_exists_async_cb(ARK *ark, uint64_t klen, void *key,
			void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !key_ok(klen, key) || !cb)
		return EINVAL;
	return kv_async_submit(s, 3, klen, key, 0, NULL, 0, NULL, 0, cb, dt);
}

int ark_count(ARK *ark, int64_t *count)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !count)
		return EINVAL;
	*count = (int64_t)kv_count(s);
	return 0;
}

int ark_allocated(ARK *ark, uint64_t *size)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !size)
		return EINVAL;
	if (s->memory) {
		*size = ARK_VERBOSE_PLUN_SIZE_DEF;
		return 0;
	}
	*size = kv_dev_blocks(s->dev) * KV_BLOCK;
	return 0;
}

int ark_inuse(ARK *ark, uint64_t *size)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !size)
		return EINVAL;
	if (s->memory)
		return ark_actual(ark, size);
	pthread_mutex_lock(&s->seg_lock);
	*size = (s->nsegs - s->nfree) * (uint64_t)s->seg_blocks * KV_BLOCK;
	pthread_mutex_unlock(&s->seg_lock);
	return 0;
}

int ark_actual(ARK *ark, uint64_t *size)
{
	struct ark_impl *s = ark_impl(ark);
	uint64_t n = 0;

	if (!s || !size)
		return EINVAL;
	for (int i = 0; i < KV_NSHARDS; i++) {
		pthread_mutex_lock(&s->shards[i].lock);
		n += s->shards[i].key_bytes;
		pthread_mutex_unlock(&s->shards[i].lock);
	}
	*size = n;
	return 0;
}

/* Operations since the store was created: before this open, and each shard's since. */
uint64_t kv_ops(struct ark_impl *s)
{
	uint64_t n = __atomic_load_n(&s->ops, __ATOMIC_RELAXED);

	for (int i = 0; i < KV_NSHARDS; i++)
		n += __atomic_load_n(&s->shards[i].ops, __ATOMIC_RELAXED);
	return n;
}

int ark_stats(ARK *ark, uint64_t *ops, uint64_t *ios)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || !ops || !ios)
		return EINVAL;
	*ops = kv_ops(s);
	*ios = __atomic_load_n(&s->ios, __ATOMIC_RELAXED);
	return 0;
}

int ark_flush(ARK *ark)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s)
		return EINVAL;
	return kv_op_clear(s);
}
