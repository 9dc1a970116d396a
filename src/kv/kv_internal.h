/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv_internal.h - the insides of libarkdb.
 *
 * A store ("ark") is an in-memory index of every key (index.c) over either
 * memory (the entry holds the value) or a LUN reached through capiblock.h
 * only (dev.c). On a LUN the store is log-structured (log.c): an operation
 * appends a record to the open batch and updates the index under the key's
 * shard lock, so the index changes in log order; writer threads write
 * each batch, flush it when the store is durable, and wake its callers
 * once it and every batch before it are (group commit; a durable store
 * can have two batches on their way at once). Checkpoints of the index (ckpt.c) bound recovery
 * (recover.c); a cleaner (gc.c) moves live data out of mostly dead
 * segments so space is reused.
 *
 * Lock order: shard lock, then log_lock, then seg_lock. Functions named
 * *_locked say which lock they expect.
 */
#ifndef CXLFLASH_KV_INTERNAL_H
#define CXLFLASH_KV_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <arkdb.h>
#include <capiblock.h>

#include "kv/kv_format.h"
#include "util/mutex.h"

#define KV_NSHARDS        64
#define KV_KEY_INLINE_MAX 1024u    /* longer keys go to raw blocks */
#define KV_VAL_INLINE_MAX 1024u    /* longer values go to raw blocks */
#define KV_SEG_BLOCKS     256u     /* 1 MiB segments */
#define KV_WRITE_DEPTH    2u       /* batches on their way at once, at most (durable stores) */
#define KV_RESERVE_SEGS   4u       /* kept for deletes, the cleaner and checkpoints */
#define KV_CKPT_LOG_BYTES (64ull << 20) /* log written between checkpoints */
#define KV_SPACE_WAIT_NS  (30ull * 1000000000) /* a set waits this long for the cleaner */

/* Where a value lives. */
struct kv_loc {
	uint64_t lba;          /* inline: the meta block; raw: unused */
	uint16_t off;          /* inline: payload offset of the value */
	uint16_t npieces;      /* 0: inline */
	uint32_t dcrc;         /* raw: CRC-32C of key || value */
	struct kv_piece *pieces; /* npieces runs (key if not inline, then value) */
	bool key_raw;          /* the key is in the raw blocks too */
};

/* An index entry: one key. */
/* A value of a LUN store kept in memory (cache.c). */
struct kv_cnode {
	struct kv_cnode *prev, *next; /* its shard's list, newest (or second chance) first */
	struct kv_ent *e;
	uint64_t len;
	bool used;             /* read since it came in or had its second chance */
	uint8_t data[];
};

struct kv_ent {
	struct kv_ent *next;   /* hash chain */
	uint64_t hash;
	uint64_t vlen;
	uint64_t ver;          /* unique per change, store-wide (the cleaner checks it) */
	uint64_t lsn;          /* the batch that holds its record; readable once written */
	void *val;             /* memory store: the value (NULL when vlen 0) */
	struct kv_loc loc;     /* LUN store */
	struct kv_cnode *cache; /* LUN store: a copy of the value, or NULL */
	uint32_t klen;
	uint8_t key[];
};

struct kv_shard {
	pthread_mutex_t lock;
	uint64_t ops;          /* operations on its keys (atomic; kv_ops() sums them) */
	struct kv_ent **buckets;
	uint64_t nbuckets;     /* a power of two */
	uint64_t count;
	uint64_t key_bytes;    /* keys + values, for ark_actual */
	uint64_t *index_bytes; /* the store's estimate of its checkpoint size (atomic) */
	struct kv_cnode *lru_head, *lru_tail; /* cached values (cache.c) */
	uint64_t cache_bytes;
	uint64_t cache_skipped;  /* values read and not cached (full) */
} __attribute__((aligned(64)));   /* threads on different shards share no cache line */

/* A pending acknowledgement: a sync caller or an async callback. */
struct kv_waiter {
	struct kv_waiter *next;
	int rc;
	int64_t res;
	bool done;
	void (*cb)(int errcode, uint64_t dt, int64_t res);
	uint64_t dt;
};

/* A raw-data write of a batch. */
struct kv_raw {
	uint64_t lba;
	uint32_t nblocks;
	uint8_t *buf;          /* nblocks * 4 KiB, owned */
};

/* The batch being filled, or being written. */
struct kv_batch {
	uint8_t *meta;         /* nmeta blocks of 4 KiB */
	uint64_t *meta_lba;
	unsigned nmeta, cap_meta;
	unsigned meta_used;    /* payload bytes used in the last meta block */
	struct kv_raw *raw;
	unsigned nraw, cap_raw;
	uint64_t blocks;       /* meta + raw blocks */
	uint64_t nrec;
	uint64_t lsn;          /* batch number */
	uint64_t seq;          /* sealed: its first meta block's sequence */
	uint64_t reserved;     /* LBA of its first meta block, reserved by the batch before */
	struct kv_waiter *waiters, **wtail;
};

enum kv_seg_state {
	SEG_FREE = 0,
	SEG_LOG,               /* holds log blocks (the head, or sealed) */
	SEG_CKPT,              /* holds the newest checkpoint */
	SEG_PENDING,           /* dead, but a recovery may still read it: free after the next checkpoint */
};

struct kv_seg {
	uint8_t state;
	bool head;             /* the log is being written into it */
	bool zero;             /* live reached 0: free it once nothing writes it */
	bool unmap;            /* freed on a vLUN: unmap its blocks */
	bool queued;           /* on the list reap_dead_segments() looks at */
	uint32_t readers;      /* gets reading it now (atomic) */
	uint64_t live;         /* bytes of live data (index-referenced) */
	uint64_t last_lsn;     /* the last batch with blocks in it */
};

struct kv_dev;

struct kv_async_req;

/* The store. ARK * handed to users points at it. */
struct ark_impl {
	uint64_t magic;
	uint64_t flags;
	bool memory;           /* no LUN */
	struct kv_mem *mem;    /* memory store: where its entries live (mem.c) */
	bool durable;          /* PERSIST_STORE or _LOAD: flushed, checkpointed, recoverable */
	bool readonly;         /* a fork child's snapshot */
	struct kv_shard shards[KV_NSHARDS];
	uint64_t cache_shard_max;    /* value cache bytes per shard (cache.c); 0: none */

	/* Counters (atomic) */
	uint64_t ops, ios;           /* ops: from before this open (kv_ops() adds the shards') */

	/* LUN store */
	struct kv_dev *dev;
	char *whole_path;            /* the LUN used whole (not a vLUN), by name */
	uint32_t seg_blocks;
	uint64_t nsegs;
	struct kv_seg **segtab;      /* KV_SEGS_PER_TAB segments per table; never moved */
	uint64_t segtab_n;
	uint64_t nfree;        /* SEG_FREE segments */
	uint64_t *reapq;       /* segments flagged zero or unmap (room for every segment) */
	uint64_t reapq_n;
	uint64_t npending;
	uint32_t epoch;
	uint32_t version;      /* the format version its superblock said (recovery) */
	uint64_t store_id;
	uint64_t super_gen;
	pthread_mutex_t seg_lock;

	pthread_mutex_t log_lock;
	pthread_cond_t log_cv;       /* callers: a batch was written, room came back */
	pthread_cond_t writer_cv;    /* the writers: work (kv_writer_kick_locked) */
	unsigned writers_idle;       /* writers waiting on writer_cv */
	unsigned writers;            /* writer threads: batches on their way at most */
	unsigned inflight;           /* sealed batches being written (at most writers) */
	bool sealing;                /* a writer is gathering the open batch */
	bool ckpt_running;           /* a writer is checkpointing: no other batch starts */
	uint64_t acked_seq;          /* every meta block below is durable and acknowledged */
	int ack_err;                 /* a batch failed: the ones after it fail too */
	struct kv_batch open;        /* being filled */
	uint64_t head_lba;           /* next free block in the head segment */
	uint64_t head_end;           /* end of the head segment */
	uint64_t head_seg;
	uint64_t next_seq;           /* meta block sequence */
	uint64_t next_lsn;           /* batch number of the open batch */
	uint64_t next_ver;           /* entry versions (the cleaner compares them) */
	uint64_t written_lsn;        /* every batch below is on the LUN */
	uint64_t log_bytes;          /* since the last checkpoint */
	bool ckpt_wanted;
	bool writer_stop;
	uint64_t last_batch_nrec;    /* records in the batch written last */
	uint64_t last_write_ns;      /* how long writing (and flushing) it took */
	int writer_err;              /* a failed write: the store is read-only from here (EIO) */
	pthread_t writer[KV_WRITE_DEPTH];
	bool writer_running;
	uint64_t ckpt_segs_n;        /* segments the newest checkpoint occupies */
	uint32_t *ckpt_segs;
	uint64_t ckpt_gen, ckpt_bytes; /* the newest checkpoint's generation, length, CRC */
	uint32_t ckpt_crc;
	uint64_t ckpt_log_lba, ckpt_log_seq; /* where its log starts */
	pthread_mutex_t ckpt_lock;   /* one checkpoint at a time */

	/* Cleaner (gc.c); its flags are under log_lock */
	pthread_t cleaner;
	bool cleaner_running;
	bool cleaner_stop;
	bool clean_wanted;
	bool gc_progress;            /* the last pass moved something */
	uint64_t ckpts;              /* checkpoints attempted (log_lock) */
	pthread_cond_t cleaner_cv;
	uint64_t gc_passes, gc_moved;
	uint64_t index_bytes;        /* checkpoint size estimate (atomic) */

	/* Async requests */
	struct kv_async *async;

	/* What the last recovery found (arkdb-check reports it) */
	uint64_t replay_batches, replay_records;
	bool replay_torn;            /* the log ended at a batch whose blocks were not all there */
	uint64_t replay_unacked;     /* meta blocks after the end written beside a torn batch */

	/* ark_fork */
	bool fork_hold;              /* segments are not reused while a child reads */
};

#define KV_SEGS_PER_TAB 4096u

static inline struct kv_seg *kv_seg(struct ark_impl *s, uint64_t i)
{
	return &s->segtab[i / KV_SEGS_PER_TAB][i % KV_SEGS_PER_TAB];
}

/* Segment @seg's first LBA, and the segment of @lba (segment 0 starts
 * after the superblocks' segment-sized slot). */
static inline uint64_t seg_lba(struct ark_impl *s, uint64_t seg)
{
	return (seg + 1) * s->seg_blocks;
}

static inline uint64_t lba_seg(struct ark_impl *s, uint64_t lba)
{
	return lba / s->seg_blocks - 1;
}

#define ARK_MAGIC 0x41524b2d53544f52ull /* "ARK-STOR" */

/*
 * kv_lock_init() - a lock of the get path (the async pool's, the shards'):
 * both are held for a few hundred nanoseconds at most, by two pool threads
 * on two CPUs (util/mutex.h).
 */
static inline void kv_lock_init(pthread_mutex_t *m)
{
	mutex_init_adaptive(m);
}

static inline struct ark_impl *ark_impl(ARK *a)
{
	struct ark_impl *s = (struct ark_impl *)a;
	return (s && s->magic == ARK_MAGIC) ? s : NULL;
}

/* ---- index.c ---------------------------------------------------------- */
uint64_t kv_hash(const void *key, uint64_t klen);
int kv_index_init(struct ark_impl *s, uint64_t hcount);
void kv_index_destroy(struct ark_impl *s);
struct kv_shard *kv_shard_of(struct ark_impl *s, uint64_t hash);
struct kv_ent *kv_find_locked(struct kv_shard *sh, uint64_t hash, const void *key, uint64_t klen);
struct kv_ent *kv_ent_new(uint64_t hash, const void *key, uint64_t klen);
struct kv_ent *kv_ent_new_val(struct ark_impl *s, uint64_t hash, const void *key, uint64_t klen,
			      const void *val, uint64_t vlen);
/* kv_ent_drop() - free an entry of either kind of store */
void kv_ent_drop(struct ark_impl *s, struct kv_ent *e);
void kv_replace_locked(struct kv_shard *sh, struct kv_ent *old, struct kv_ent *n);
void kv_insert_locked(struct kv_shard *sh, struct kv_ent *e);
void kv_remove_locked(struct kv_shard *sh, struct kv_ent *e);
void kv_ent_free(struct kv_ent *e);
void kv_loc_free(struct kv_loc *l);
uint64_t kv_count(struct ark_impl *s);
uint64_t kv_count_locked(struct ark_impl *s);
void kv_index_clear_locked(struct ark_impl *s);

/* ---- mem.c: a memory store's entries ----------------------------------- */
#define KV_MEM_MAX (256u << 10)   /* larger objects come from malloc */
struct kv_mem;
struct kv_mem *kv_mem_new(void);
/* kv_mem_destroy() - unmap every chunk (objects above KV_MEM_MAX are the caller's to free) */
void kv_mem_destroy(struct kv_mem *m);
void kv_mem_fork_child(struct kv_mem *m);
/* kv_mem_alloc() - n bytes from @arena (any number; the same for an object's free) */
void *kv_mem_alloc(struct kv_mem *m, unsigned arena, size_t n);
void kv_mem_free(struct kv_mem *m, void *p, size_t n);
/* kv_mem_forget() - drop an object without giving it back, as the store
 * goes: kv_mem_destroy() unmaps the chunks, this frees what malloc gave */
void kv_mem_forget(struct kv_mem *m, void *p, size_t n);
/* kv_mem_held() - bytes of the chunks classes hold (objects up to KV_MEM_MAX) */
uint64_t kv_mem_held(struct kv_mem *m);

/* ---- dev.c: the LUN through capiblock.h ---------------------------------- */
struct kv_io {
	bool write;
	bool fua;              /* a write durable on completion (kv_dev_fua()) */
	uint64_t lba;
	uint32_t nblocks;
	void *buf;
	int rc;                /* 0 or -errno */
};
int kv_dev_open(const char *path, bool vlun, uint64_t size, int basyncs, bool readonly,
		struct kv_dev **out);
void kv_dev_close(struct kv_dev *d);
/* kv_dev_fua() - writes can be made durable one by one (CFLSH_ATTR_FUA),
 * unless CXLFLASH_KV_NO_FUA=1 asks for write + flush. */
bool kv_dev_fua(struct kv_dev *d);
uint64_t kv_dev_blocks(struct kv_dev *d);
int kv_dev_grow(struct kv_dev *d, uint64_t blocks);
bool kv_dev_is_vlun(struct kv_dev *d);
uint64_t kv_dev_max_xfer(struct kv_dev *d);
uint64_t kv_dev_lun_blocks(struct kv_dev *d);
/* kv_dev_rw() - run @n I/Os in parallel, waiting for all. 0 or the first -errno. */
int kv_dev_rw(struct kv_dev *d, struct kv_io *io, unsigned n);
int kv_dev_read(struct kv_dev *d, uint64_t lba, uint32_t nblocks, void *buf);
int kv_dev_flush(struct kv_dev *d);
int kv_dev_unmap(struct kv_dev *d, uint64_t lba, uint32_t nblocks);
int kv_dev_fork_child(struct kv_dev *d);
void *kv_blk_alloc(size_t nblocks);
/* kv_io_alloc() - a buffer of @nblocks for I/O on @d: in the DMA buffer
 * area (cblk_dma_alloc) when @d's chunk reaches the AFU through a daemon,
 * so the data moves with no staging copy; plain memory otherwise or when
 * the area is full. Free it with kv_io_free() (either kind). */
void *kv_io_alloc(struct kv_dev *d, size_t nblocks);
void kv_io_free(void *p);

/* ---- log.c ---------------------------------------------------------------- */
int kv_log_start(struct ark_impl *s);
void kv_log_stop(struct ark_impl *s);
void kv_log_free(struct ark_impl *s);
/* kv_log_append_locked() - append a SET, DEL or CLEAR of @e's key; update
 * @e's location. Shard lock held. -EAGAIN: no room just now, wait in
 * kv_log_reserve() (without the shard lock) and try again. */
int kv_log_append_locked(struct ark_impl *s, enum kv_rec_op op, struct kv_ent *e,
			 const void *val, uint64_t vlen, struct kv_waiter *w, bool gc);
/* kv_log_reserve() - wait (without locks) until the log has room for a set
 * of @klen/@vlen (@set) or a delete, letting the cleaner and checkpoints
 * free space. 0 or -ENOSPC. */
int kv_log_reserve(struct ark_impl *s, uint64_t klen, uint64_t vlen, bool set);
uint64_t kv_gc_budget_locked(struct ark_impl *s);

/* Live bytes below which the cleaner takes a segment: half of it, or
 * nine tenths when free space is short. */
static inline uint64_t kv_gc_limit(struct ark_impl *s, bool short_of_space)
{
	uint64_t seg_bytes = (uint64_t)s->seg_blocks * KV_BLOCK;

	return short_of_space ? seg_bytes * 9 / 10 : seg_bytes / 2;
}
void kv_waiter_wait(struct ark_impl *s, struct kv_waiter *w);
int kv_seal_open_locked(struct ark_impl *s, struct kv_batch *out, bool *sealed);
int kv_write_sealed(struct ark_impl *s, struct kv_batch *b);
int kv_take_blocks(struct ark_impl *s, uint64_t want, uint64_t *lba, uint64_t *got);
void kv_reap_dead_segments(struct ark_impl *s);
void kv_wait_written(struct ark_impl *s, uint64_t lsn);
void kv_writer_kick_locked(struct ark_impl *s);
void kv_seg_release(struct ark_impl *s, const struct kv_loc *l, uint64_t klen,
			   uint64_t vlen);
void kv_seg_charge(struct ark_impl *s, const struct kv_loc *l, uint64_t klen, uint64_t vlen);
int kv_seg_alloc_locked(struct ark_impl *s, uint64_t *seg);
int kv_segs_init(struct ark_impl *s, uint64_t nsegs, uint64_t max_segs);
int kv_segs_extend_locked(struct ark_impl *s, uint64_t nsegs);
void kv_seg_free_locked(struct ark_impl *s, uint64_t seg);
void kv_seg_zero_locked(struct ark_impl *s, uint64_t seg);
uint64_t kv_rec_bytes(uint64_t klen, uint64_t vlen, uint16_t npieces, uint8_t flags);
uint64_t kv_value_blocks(const struct kv_loc *loc);
unsigned kv_value_ios(const struct kv_loc *loc, uint8_t *buf, struct kv_io *io);
int kv_value_read(struct ark_impl *s, struct kv_io *io, unsigned n);
int kv_value_check(struct ark_impl *s, const uint8_t *key, uint32_t klen, const struct kv_loc *loc,
		   uint64_t vlen, const uint8_t *buf, const uint8_t **val);
int kv_read_value(struct ark_impl *s, const uint8_t *key, uint32_t klen, const struct kv_loc *loc,
		  uint64_t vlen, uint8_t *out);
void kv_seg_readers(struct ark_impl *s, const struct kv_loc *l, int delta);

/* ---- ckpt.c / recover.c ---------------------------------------------------- */
int kv_format(struct ark_impl *s);
int kv_recover(struct ark_impl *s);
int kv_checkpoint(struct ark_impl *s);
int kv_super_write(struct ark_impl *s, const uint32_t *ckpt_segs, uint32_t ckpt_nsegs,
		   uint64_t ckpt_gen, uint64_t ckpt_bytes, uint32_t ckpt_crc, uint64_t log_lba,
		   uint64_t log_seq);
int kv_super_new_epoch(struct ark_impl *s);
/* Blocks are checksummed with the store's id as the CRC seed, so blocks
 * another store left on the LUN never pass for ours. */
void kv_blk_seal(struct ark_impl *s, void *blk, uint32_t magic, uint16_t used, uint16_t flags,
		 uint64_t seq, uint64_t next);
int kv_blk_check(struct ark_impl *s, const void *blk, uint32_t magic);
int kv_blk_check_seed(const void *blk, uint32_t seed, uint32_t magic);
int kv_layout(struct ark_impl *s);

/* ---- gc.c ------------------------------------------------------------------- */
int kv_cleaner_start(struct ark_impl *s);
void kv_cleaner_stop(struct ark_impl *s);
void kv_cleaner_kick_locked(struct ark_impl *s);

/* ---- ops.c: the operations, shared by the sync and async calls --------------- */
int kv_op_set(struct ark_impl *s, uint64_t klen, const void *key, uint64_t vlen, const void *val,
	      int64_t *res, struct kv_waiter *w);
int kv_op_get(struct ark_impl *s, uint64_t klen, const void *key, uint64_t vbuflen, void *vbuf,
	      uint64_t voff, int64_t *res);
/* One get of a kv_op_get_batch(): the call's arguments, then its result. */
struct kv_get {
	uint64_t klen;
	const void *key;
	uint64_t vbuflen;
	void *vbuf;
	uint64_t voff;
	int rc;                 /* 0 or an errno value */
	int64_t res;            /* the value's length, -1 on error */
	/* kv_op_get_batch()'s own */
	bool reading;           /* its value is to be read from the LUN */
	bool hit;               /* its value came from the cache */
	uint64_t vlen, lsn;
	struct kv_loc loc;      /* a copy of the entry's */
	struct kv_piece one;
	unsigned io0, nio;      /* its reads */
	const uint8_t *val;     /* the value in the read buffer, once checked */
	struct kv_shard *sh;
	uint64_t hash;          /* the key's */
	uint64_t ver;           /* the entry's version when looked up */
};
void kv_op_get_batch(struct ark_impl *s, struct kv_get *g, unsigned n);

/* ---- cache.c ------------------------------------------------------------------ */
void kv_cache_init(struct ark_impl *s, const char *path);
const struct kv_cnode *kv_cache_get_locked(struct kv_shard *sh, struct kv_ent *e);
void kv_cache_drop_locked(struct kv_shard *sh, struct kv_ent *e);
void kv_cache_fill(struct ark_impl *s, const struct kv_get *g);
struct kv_cnode *kv_cache_new(struct ark_impl *s, const void *val, uint64_t len);
void kv_cache_put_locked(struct ark_impl *s, struct kv_shard *sh, struct kv_ent *e,
			 struct kv_cnode *n);
void kv_cache_reset_locked(struct kv_shard *sh);
int kv_op_del(struct ark_impl *s, uint64_t klen, const void *key, int64_t *res,
	      struct kv_waiter *w);
int kv_op_exists(struct ark_impl *s, uint64_t klen, const void *key, int64_t *res);
int kv_op_clear(struct ark_impl *s);

/* ---- async.c ------------------------------------------------------------------ */
int kv_async_start(struct ark_impl *s, int nthreads, int nqueue);
void kv_async_stop(struct ark_impl *s);
uint64_t kv_async_pending(struct ark_impl *s);
void kv_async_blocking(struct ark_impl *s, bool on);
uint64_t kv_ops(struct ark_impl *s);
/* @op: 0 set, 1 get, 2 del, 3 exists. 0 or EAGAIN. */
int kv_async_submit(struct ark_impl *s, int op, uint64_t klen, const void *key, uint64_t vlen,
		    const void *val, uint64_t vbuflen, void *vbuf, uint64_t voff,
		    void (*cb)(int, uint64_t, int64_t), uint64_t dt);
/* kv_async_complete() - run the callbacks of a list of finished waiters on the pool. */
void kv_async_complete(struct ark_impl *s, struct kv_waiter *list);

/* ---- ark.c / check.c ----------------------------------------------------- */
struct ark_impl *kv_ark_alloc(uint64_t flags, uint64_t hcount);
void kv_ark_free(struct ark_impl *s);
/* kv_check() - verify the durable store on @path offline: every block of
 * the checkpoint and log, every value's checksum, no two keys sharing a
 * block. Prints what it finds to @out. 0 sound, 1 damaged, 2 not checked. */
int kv_check(const char *path, FILE *out, bool verbose);

/* Messages (stderr, with the store's id): damaged blocks and the like. */
void kv_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline uint64_t kv_min(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t kv_max(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* One operation done on a key of @sh (counted per shard: one store-wide
 * counter would be a cache line every CPU writes on every operation). */
static inline void kv_count_op(struct kv_shard *sh)
{
	__atomic_add_fetch(&sh->ops, 1, __ATOMIC_RELAXED);
}

#endif /* CXLFLASH_KV_INTERNAL_H */
