/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arkdb.h - the CAPI Flash key/value store API (libarkdb), source compatible
 * with IBM's: the same functions, types, flag values and calling
 * conventions, so a program written for IBM's arkdb builds unchanged
 * (#include <arkdb.h>, link -larkdb).
 *
 * Every int-returning call returns 0 or an errno value directly (never -1).
 * Keys and values are byte strings; a key is 1 .. ARK_MAX_LEN bytes (keys
 * are held in memory, so keep them short), a value 0 .. ARK_MAX_LEN bytes.
 *
 * Paths: NULL or "" is a memory store; anything cblk_open() accepts is a
 * store on that LUN: a file ("file:/p?size=8G" creates it), "ram:8G", a LUN
 * served by cxlflashd by name, "a:b" as a RAID0 group. ARK_KV_VIRTUAL_LUN
 * puts the store in a virtual LUN of that LUN that grows as it fills.
 *
 * Durability (beyond IBM's): with ARK_KV_PERSIST_STORE every ark_set /
 * ark_del whose synchronous call returned, or whose callback ran, survives
 * a crash of the process, of cxlflashd and a power cut; reopen with
 * ARK_KV_PERSIST_LOAD. Without it nothing on the LUN survives ark_delete.
 * See docs/kv.md.
 */
#ifndef ARKDB_H
#define ARKDB_H

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t ARK;       /* a store; its handle is an ARK * */
#define ARC ARK             /* a connection (an alias of the store, as IBM's) */
typedef uint64_t ARI;       /* an iterator */

/* One key of an ark_nextN() result: keys are packed one after another. */
typedef struct {
	uint64_t len;
	uint8_t p[];
} keye_t;

/* The packed key after @_keye. */
#define BMP_KEYE(_keye) ((keye_t *)((_keye)->p + (_keye)->len))

/* ark_create flags */
#define ARK_KV_VIRTUAL_LUN   0x0000000000000001ULL /* the store in a vLUN of the LUN */
#define ARK_KV_PERSIST_STORE 0x0000000000000002ULL /* durable: survives crashes, ark_delete */
#define ARK_KV_PERSIST_LOAD  0x0000000000000004ULL /* open the store already on the LUN */
#define ARK_KV_HTC           0x0000000000000008ULL /* accepted; the index is always in memory */

/* Limits and ark_create_verbose defaults (IBM's values). */
#define ARK_MAX_LEN              0x1900000000ULL   /* longest key or value (100 GB) */
#define ARK_VERBOSE_SIZE_DEF     (5ULL * 1024 * 1024) /* initial size of a vLUN store */
#define ARK_VERBOSE_PLUN_SIZE_DEF (1024ULL * 1024 * 1024) /* a memory store's nominal size */
#define ARK_VERBOSE_BSIZE_DEF    4096ULL           /* block size (the only one) */
#define ARK_VERBOSE_HASH_DEF     (1024ULL * 1024)  /* hash slots hint */
#define ARK_VERBOSE_VLIMIT_DEF   256ULL
#define ARK_VERBOSE_BLKBITS_DEF  34
#define ARK_VERBOSE_GROW_DEF     1024ULL
#define ARK_VERBOSE_NTHRDS_DEF   20
#define ARK_VERBOSE_HTC_MAX      (1024ULL * 1024 * 1024)
#define ARK_MAX_NASYNCS          1024              /* async requests queued per store */
#define ARK_MAX_BASYNCS          8192
#define ARK_MAX_TASK_OPS         48
#define ARK_EA_READONLY          0x1

/*
 * ark_create_verbose() - open a store on @path (see above). @size is the
 * initial size in bytes of a vLUN store (a physical LUN is used whole);
 * @bsize must be 4096 (0 = default); @hcount sizes the in-memory index when
 * it is made (up to 16,384 buckets; it grows as keys come);
 * @nthreads is the number of threads serving *_async_cb requests (> 0);
 * @nqueue the async queue depth (0 = ARK_MAX_NASYNCS); @basyncs the block
 * requests in flight per store (0 = default).
 * Returns 0 and *@ark, or EINVAL (bad arguments, PERSIST flags on a memory
 * store), ENOENT (ARK_KV_PERSIST_LOAD alone and no store on the LUN), EIO
 * (a damaged store), ENOSPC, ENOMEM, or cblk_open's errno.
 */
int ark_create_verbose(char *path, ARK **ark, uint64_t size, uint64_t bsize, uint64_t hcount,
		       int nthreads, int nqueue, int basyncs, uint64_t flags);
int ark_create(char *path, ARK **ark, uint64_t flags);

/* ark_delete() - close the store (a durable one stays on its LUN). EINVAL on NULL. */
int ark_delete(ARK *ark);

/* Connections are the store itself, as in IBM's library. */
int ark_connect_verbose(ARC **arc, ARK *ark, int nasync);
int ark_connect(ARC **arc, ARK *ark);
int ark_disconnect(ARC *arc);

/* ark_set() - store @val under @key (replacing it); *@res = @vlen. */
int ark_set(ARK *ark, uint64_t klen, void *key, uint64_t vlen, void *val, int64_t *res);
/* ark_get() - copy at most @vbuflen bytes of the value from offset @voff;
 * *@res = the value's full length. ENOENT if absent. */
int ark_get(ARK *ark, uint64_t klen, void *key, uint64_t vbuflen, void *vbuf, uint64_t voff,
	    int64_t *res);
/* ark_del() - remove @key; *@res = its value's length. ENOENT if absent. */
int ark_del(ARK *ark, uint64_t klen, void *key, int64_t *res);
/* ark_exists() - *@res = the value's length. ENOENT if absent. */
int ark_exists(ARK *ark, uint64_t klen, void *key, int64_t *res);

/* Asynchronous forms: return 0 when accepted (EAGAIN when the queue is
 * full, EINVAL for bad arguments); @cb(errcode, @dt, res) runs later on a
 * library thread with what the synchronous call would have returned. */
int ark_set_async_cb(ARK *ark, uint64_t klen, void *key, uint64_t vlen, void *val,
		     void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt);
int ark_get_async_cb(ARK *ark, uint64_t klen, void *key, uint64_t vbuflen, void *vbuf,
		     uint64_t voff, void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt);
int ark_del_async_cb(ARK *ark, uint64_t klen, void *key,
		     void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt);
int ark_exists_async_cb(ARK *ark, uint64_t klen, void *key,
			void (*cb)(int errcode, uint64_t dt, int64_t res), uint64_t dt);

/*
 * Iteration over a snapshot of the keys taken by ark_first(): keys set
 * later may be missed, keys deleted later are skipped. ark_first() returns
 * NULL with errno ENOENT on an empty store (and leaks nothing), EINVAL for
 * bad arguments or a key longer than @kbuflen. ark_next() returns 0 or an
 * errno (ENOENT at the end, which also frees the iterator).
 */
ARI *ark_first(ARK *ark, uint64_t kbuflen, int64_t *klen, void *kbuf);
int ark_next(ARI *iter, uint64_t kbuflen, int64_t *klen, void *kbuf);
/* ark_nextN() - as many following keys as fit in @kbuf as packed keye_t. */
int ark_nextN(ARI *iter, uint64_t kbuflen, void *kbuf, int64_t *num_keys);
/* ark_random() - a key chosen at random. ENOENT on an empty store. */
int ark_random(ARK *ark, uint64_t kbuflen, uint64_t *klen, void *kbuf);
int ark_count(ARK *ark, int64_t *count);

/* Space: bytes the store holds on its LUN (or in memory), bytes of its
 * blocks in use, bytes of keys plus values. */
int ark_allocated(ARK *ark, uint64_t *size);
int ark_inuse(ARK *ark, uint64_t *size);
int ark_actual(ARK *ark, uint64_t *size);
/* ark_stats() - key/value operations and block I/Os done so far. */
int ark_stats(ARK *ark, uint64_t *ops, uint64_t *ios);
/* ark_flush() - remove every key (the store is empty afterwards). */
int ark_flush(ARK *ark);

/*
 * ark_fork() - fork a child that sees a read-only snapshot of the store as
 * it was at the fork, while the parent keeps writing (Redis's BGSAVE).
 * Returns the child's pid in the parent, 0 in the child, -1 with errno on
 * failure (EBUSY while async requests are in flight). The parent calls
 * ark_fork_done() after the child has exited.
 */
pid_t ark_fork(ARK *ark);
int ark_fork_done(ARK *ark);

#ifdef __cplusplus
}
#endif

#endif /* ARKDB_H */
