/* SPDX-License-Identifier: Apache-2.0 */
/*
 * afu_internal.h - the software AFU's private objects (the AFU, its worker
 * threads, contexts and commands), the helpers the AFU's files share, and
 * the effective-address (EA) resolution every access to host memory goes
 * through. Not part of the interface the master uses (that is afu.h).
 *
 * Who touches what:
 *   - A context belongs to exactly one worker thread. Everything under
 *     "worker-private" in struct afu_ctx is read and written only by that
 *     thread: queue cursors, in-flight counts, interrupt status. Commands are
 *     fetched, executed and completed on that thread (backend callbacks run
 *     inline or from be_engine_poll() on the same thread).
 *   - The master reaches a worker only through control requests
 *     (struct afu_ctl_req: add/stop/error a context, pause/resume), queued
 *     under afu->ctl_lock and signalled through the worker's private futex
 *     word; it waits for the worker's acknowledgement on afu->ctl_cond.
 *   - The translation state (RHT/LXT contents, the translation generation)
 *     is shared with the master under ctx->xlate_lock.
 *   - Words both sides of the window touch are accessed with __atomic
 *     builtins only.
 */
#ifndef CXLFLASH_AFU_INTERNAL_H
#define CXLFLASH_AFU_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cxlflash/sislite.h>

#include "afu/afu.h"
#include "backend/backend.h"

#define AFU_MAX_WORKERS   64
/* Words a sleeping worker watches at most: its control word and a
 * doorbell per context. */
#define AFU_SLEEP_WORDS   (AFU_MAX_CONTEXTS + 1)
#define AFU_POOL_CMDS     512   /* commands a worker can have in flight */
#define AFU_ENGINE_DEPTH  256   /* io_uring depth of a worker's engine */
#define AFU_SQ_BATCH      64    /* SQ entries fetched per context per pass */
#define AFU_SQ_PREFETCH   4     /* SQ slots prefetched ahead of the one read */
#define AFU_WAKE_DEFER    8     /* busy passes host_wake may lag the HRRQ */
#define AFU_INLINE_IOS    2     /* backend requests kept inside a command */
#define AFU_WS_MAX_BLOCKS 65536u /* WRITE SAME(16) blocks per command */
#define AFU_WS_CHUNK      256u  /* blocks written per request when replicating */
#define AFU_UNMAP_MAX_DESC 64u  /* UNMAP block descriptors per command */
#define AFU_UNMAP_MAX_LBAS (16u * 65536u) /* blocks UNMAP frees per command */
/*
 * A command's backend work goes out in slices, one slice per worker pass,
 * with at most AFU_SLICE_INFLIGHT of its requests at the backend: a
 * 256 MiB WRITE SAME or a large UNMAP does not hold the worker (RAM: one
 * long memset; files: a full ring and the rest written synchronously)
 * while other contexts' commands wait. A slice is at most AFU_SLICE_BLOCKS
 * (1 MiB) and ends after the request that takes it past AFU_SLICE_NS of
 * the worker's time. Requests are cut to AFU_SLICE_BLOCKS, and to
 * AFU_REQ_BLOCKS (256 KiB) on a backend that does the work in the worker
 * (be->cpu_inline: RAM). Why (measured on a 2-vCPU KVM guest, issue 12):
 * 1 MiB of resident memory is a 40-100 us memset/memcpy, but written for
 * the first time it faults 256 pages in (0.4-1 ms), so a byte bound alone
 * let one slice hold the worker for a millisecond; cut to 256 KiB and
 * bounded by time, a slice costs at most ~100 us plus one request (~250 us
 * first-touch), while resident memory still moves 1 MiB per pass (a pass
 * costs ~1 us: the big command keeps its throughput). A file's requests
 * only queue in the io_uring: they stay 1 MiB, 8 in flight, as before.
 * CXLFLASH_AFU_SLICE_US sets the time bound (0: none, 1 MiB slices).
 */
#define AFU_SLICE_BLOCKS   256u
#define AFU_REQ_BLOCKS     64u
#define AFU_SLICE_NS       100000ull
#define AFU_SLICE_INFLIGHT 8u
/* Fair share between a worker's contexts (deficit round robin by bytes):
 * each pass tops a context's credit up by AFU_FAIR_QUANTUM (never above
 * it); fetching a command costs AFU_FAIR_CMD_COST and every slice issued
 * its bytes. A context out of credit fetches nothing and continues no
 * slice until later passes pay its debt back, so one that keeps 32 reads
 * or a 256 MiB WRITE SAME in flight moves 64 KiB per pass while a queue
 * depth 1 neighbour's command goes in the same pass. CXLFLASH_AFU_FAIR_KIB
 * sets the quantum (0: off, for comparisons). */
#define AFU_FAIR_QUANTUM   (64u << 10)
#define AFU_PASS_HIST      16u   /* pass CPU time buckets: < 1, 2, 4 ... us */
#define AFU_FAIR_CMD_COST  4096u

/* Alignment of every control structure EA (IOARCB, IOASA, HRRQ, SQ). */
#define AFU_EA_ALIGN 8u

/* A LUN table slot: immutable once published (see afu_set_lun). */
struct afu_lun {
	struct backend *be;
	uint8_t wwid[16];
	struct afu_lun *retired_next;   /* afu->retired, freed at destroy */
};

/* One backend request of a command. */
struct afu_io {
	struct be_io io;
	struct backend *be;
	uint64_t buf_off;               /* byte offset into the data buffer */
};

/* Command classes: which capability and permission a command needs. */
enum afu_class {
	AFU_CLASS_READ,   /* moves LUN data to the host: READ */
	AFU_CLASS_WRITE,  /* changes LUN data: WRITE, WRITE SAME, UNMAP */
	AFU_CLASS_INFO,   /* reads metadata: INQUIRY, READ CAPACITY, REPORT LUNS, TUR */
	AFU_CLASS_FLUSH,  /* SYNCHRONIZE CACHE */
};

/*
 * struct afu_cmd - one command between fetch and completion. Lives in its
 * worker's pool; everything in it is private to that worker.
 */
struct afu_cmd {
	struct afu_cmd *next;           /* free list */
	struct afu_ctx *ctx;
	struct sisl_ioarcb rcb;         /* private copy of the IOARCB */
	struct sisl_ioasa sa;           /* status being built (32 bytes posted) */
	uint64_t post_ea;               /* HRRQ entry without the toggle */
	struct sisl_ioasa *sa_host;     /* where the IOASA goes */
	bool ioarrin;                   /* counts against cmd_room */
	bool counted;                   /* counted in ctx->gen_inflight[parity] */
	uint8_t parity;
	bool write_err;                 /* backend failure -> WRITE ERROR (else READ) */
	uint32_t pending;               /* backend requests outstanding, + 1 while
					 * requests are left to issue */
	uint32_t next_io;               /* ios[next_io..] not issued yet */
	struct afu_cmd *cont_next;      /* worker's list of commands to continue */
	int io_err;                     /* first backend error */
	uint32_t blocks;                /* blocks moved on success (stats) */
	bool blocks_write;
	uint8_t *data;                  /* the AFU's pointer to the data buffer */
	struct afu_io *ios;
	uint32_t nios, ios_cap;
	void *aux;                      /* per-command allocation, freed at completion */
	struct afu_io inline_ios[AFU_INLINE_IOS];
};

enum afu_ctl_op {
	AFU_CTL_ADD,
	AFU_CTL_STOP,
	AFU_CTL_ERROR,
	AFU_CTL_PAUSE,
	AFU_CTL_RESUME,
};

/* A control request from the master; it lives on the master's stack. */
struct afu_ctl_req {
	enum afu_ctl_op op;
	struct afu_ctx *ctx;
	bool done;                      /* set under afu->ctl_lock; atomic */
	struct afu_ctl_req *next;
};

enum afu_ctx_state {
	AFU_CTX_ACTIVE,     /* fetching */
	AFU_CTX_RESETTING,  /* the host asked for a context reset; draining */
	AFU_CTX_STOPPING,   /* afu_ctx_stop(); draining */
	AFU_CTX_ERRORING,   /* afu_ctx_error(); draining */
	AFU_CTX_ERROR,      /* window all ones; never touched again */
};

enum afu_reset_src {
	AFU_RESET_IOARRIN = 1,
	AFU_RESET_SQ = 2,
};

struct afu_ctx {
	/* Fixed at start. */
	struct afu *afu;
	struct afu_worker *worker;
	uint64_t serial;                /* this process's nth context: a window's
					 * address may be another's later */
	struct sisl_host_map *map;
	uint16_t handle;
	struct sisl_rht_entry *rht;
	uint32_t rht_cnt;
	uint64_t ctx_cap;
	struct afu_ea_window ea;
	struct afu_ctl_req add_req;

	/* Shared with the master. */
	pthread_mutex_t xlate_lock;
	pthread_mutex_t sync_lock;      /* serialises afu_ctx_sync() */
	uint32_t gen;                   /* translation generation, under xlate_lock */
	uint64_t gen_inflight[2];       /* worker stores (under xlate_lock when
					 * raising), master loads */
	bool in_error;                  /* atomic */
	struct afu_ctx_stats stats;     /* worker stores, anyone loads (atomic) */

	/* Worker-private. */
	enum afu_ctx_state state __attribute__((aligned(64)));
	enum afu_reset_src reset_src;
	struct afu_ctl_req *pending_req;   /* STOP/ERROR to acknowledge when drained */
	uint32_t cmds_inflight;            /* every command fetched and not done */
	uint32_t ioarrin_inflight;         /* IOARRIN commands in flight */
	uint64_t intr_status;
	uint64_t cmd_room;                 /* last value stored in the window */
	bool rrq_latched, rrq_broken;
	uint64_t *hrrq_start, *hrrq_end, *hrrq_cur;
	uint64_t rrq_start_ea;
	uint64_t toggle;
	bool sq_latched, sq_broken;
	uint64_t sq_start_ea, sq_end_ea, sq_head_ea, sq_bad_tail;
	uint8_t *sq_host;                  /* host pointer of sq_start */
	bool sq_head_dirty;                /* sq_head to publish this pass */
	bool posted;                       /* completions posted, host_wake not bumped */
	unsigned wake_defer;               /* busy passes since the first unannounced post */
	bool window_dead;                  /* filled with ones: never touch again */
	int64_t fair_credit;               /* bytes it may still start this pass */
	struct afu_rate *rate_cur;         /* this pass's bucket (of ->rate) */
	bool rate_held;                    /* over its rate: start nothing (kept
					    * across passes: holds are counted once) */
	/* Shared: set by the master (afu_ctx_set_rate), loaded each pass. */
	struct afu_rate *rate;
};

struct afu_worker {
	struct afu *afu;
	unsigned id;
	pthread_t thread;
	bool thread_started;

	/* Control: the request list is under afu->ctl_lock. */
	uint32_t ctl_word;                 /* futex, bumped per request */
	uint32_t ctl_pending;              /* atomic flag: requests queued */
	struct afu_ctl_req *ctl_head, **ctl_tail;
	unsigned nassigned;                /* contexts given to it (under ctl_lock) */
	bool asleep;                       /* under ctl_lock: in futex_waitv, off its array */
	bool kick_owed;                    /* under ctl_lock: a request posted unwoken */
	int start_err;                     /* under ctl_lock */
	bool start_done;                   /* under ctl_lock */

	/*
	 * Held by whoever runs passes over this worker's contexts: the
	 * worker thread at all times except while it sleeps, or a host
	 * thread running them inline meanwhile (afu_run_inline). Everything
	 * "worker-private" below and in its contexts is under it.
	 */
	pthread_mutex_t run_lock;
	bool runner_active;                /* atomic: a host thread has run_lock
					    * for passes (afu_run_inline) */

	struct be_engine *home;            /* the worker thread's own engine, where
					    * foreign (rbd) requests are counted;
					    * set before any context is added */

	/* Worker-private. */
	struct be_engine *eng;             /* the runner's engine (an inline
					    * runner swaps in its own) */
	struct afu_ctx **ctxs;
	unsigned nctx;
	bool paused;
	bool no_waitv;                     /* futex_waitv() said ENOSYS */
	struct afu_cmd *cmds;              /* the pool's storage */
	struct afu_cmd *free;
	unsigned nfree;
	struct afu_cmd *cont_head, **cont_tail; /* commands with slices left */
	unsigned cont_ready;               /* of those, not held by a rate */
	uint64_t pass_ns;                  /* the clock at this pass (rates only) */
	uint64_t rate_wake_ns;             /* a held context may go again; 0: none */
	void *waitv;                       /* struct futex_waitv[AFU_SLEEP_WORDS] */
	void *ring_waitv;                  /* the same, for the ring's watch: kept
					    * while be_engine_watch_armed() */
	bool no_ring_watch;                /* the ring cannot watch futexes */
	uint64_t ring_watch_set;           /* the windows the armed watch has */
	/* CXLFLASH_AFU_PASS_STATS: busy loop turns (control + pass) by this
	 * thread's CPU time, log2 buckets of microseconds, and the longest. */
	uint64_t pass_hist[AFU_PASS_HIST];
	uint64_t pass_max_ns;
};

struct afu {
	unsigned nworkers;
	unsigned spin_us;
	bool drop_fenced;                  /* afu_config's */
	unsigned mem_luns;                 /* LUN slots whose medium is memory
					    * (be->ops->mem; atomic) */
	bool pass_stats;                   /* CXLFLASH_AFU_PASS_STATS=1 */
	uint64_t slice_ns;                 /* AFU_SLICE_NS, or CXLFLASH_AFU_SLICE_US */
	int64_t fair_quantum;              /* AFU_FAIR_QUANTUM, or CXLFLASH_AFU_FAIR_KIB */
	struct afu_worker *workers;
	unsigned next_worker;              /* round-robin, under ctl_lock */
	bool exiting;                      /* atomic: workers leave their loop */
	bool kick_owed;                    /* atomic: some worker's kick_owed is set */

	pthread_mutex_t ctl_lock;
	pthread_cond_t ctl_cond;

	struct afu_lun *luns[AFU_MAX_LUNS];   /* atomically published */
	pthread_mutex_t lun_lock;             /* afu_set_lun writers, retired */
	struct afu_lun *retired;

	unsigned sync_errors;              /* atomic: injected sync failures left */
};

/* ---------------------------------------------------------------------------
 * Atomic shorthands for words shared with the host or the master.
 */
#define LOAD_RELAXED(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQUIRE(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_SEQ(p)         __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE_SEQ(p, v)     __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

/* A counter with one writer: a plain add, published atomically. */
#define COUNTER_ADD(p, n) STORE_RELAXED((p), LOAD_RELAXED(p) + (n))

/*
 * afu_ea_resolve() - map @len bytes at effective address @ea to a pointer.
 * @win: the context's EA window
 * @ea: the address the host named
 * @len: bytes that must be reachable (> 0)
 * @align: required alignment of @ea (a power of two; 1 for none)
 *
 * Identity mode: an EA is a pointer; it must be non-zero, aligned, and
 * [ea, ea + len) must not wrap. Window mode: [ea, ea + len) must lie inside
 * [ea_base, ea_base + len) and maps to host_base + (ea - ea_base), or
 * inside the buffer area [buf_ea, buf_ea + buf_len), mapped at buf_host.
 * Return: the AFU's pointer, or NULL when the range is not reachable.
 */
static inline void *afu_ea_resolve(const struct afu_ea_window *win, uint64_t ea,
				   uint64_t len, uint64_t align)
{
	uint64_t off;

	if (ea == 0 || (ea & (align - 1)) != 0 || ea + len < ea)
		return NULL;
	if (win->identity)
		return (void *)(uintptr_t)ea;
	off = ea - win->ea_base;
	if (ea >= win->ea_base && len <= win->len && off <= win->len - len)
		return win->host_base + off;
	off = ea - win->buf_ea;
	if (win->buf_len && ea >= win->buf_ea && len <= win->buf_len &&
	    off <= win->buf_len - len)
		return win->buf_host + off;
	return NULL;
}

/* The LUN at @idx, or NULL. */
static inline struct afu_lun *afu_lun_get(struct afu *afu, uint64_t idx)
{
	if (idx >= AFU_MAX_LUNS)
		return NULL;
	return __atomic_load_n(&afu->luns[idx], __ATOMIC_ACQUIRE);
}

/* A backend's capacity; it may change under the master's refresh. */
static inline uint64_t afu_be_nblocks(const struct backend *be)
{
	return __atomic_load_n(&be->nblocks, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------------
 * queue.c: fetching, completion, posting, context reset.
 */
/* Fetch and start what a context's queues hold. Return: work done. */
unsigned afu_ctx_poll(struct afu_worker *w, struct afu_ctx *c);
/* Publish sq_head, cmd_room and (when due, or @idle) host_wake after a pass. */
void afu_ctx_publish(struct afu_ctx *c, bool idle);
/* The same, but a FUTEX_WAKE owed to the host is left to the caller: its
 * address in *@wake (unchanged when none is owed), for after run_lock. */
void afu_ctx_publish_wake(struct afu_ctx *c, bool idle, uint32_t **wake);
/* Whether a context's queues hold work (seq_cst loads; for going to sleep). */
bool afu_ctx_has_work(struct afu_ctx *c);
/* Reset the queue state of a drained context and acknowledge the host. */
void afu_ctx_do_reset(struct afu_ctx *c);
/* Fill a drained context's window with ones and wake host sleepers. */
void afu_ctx_fill_error(struct afu_ctx *c);
/* Issue the command's backend requests, a first slice now and the rest in
 * later passes (afu_cmds_continue); it completes when the last one does. */
void afu_cmd_issue(struct afu_cmd *cmd);
/* One more slice of every command with requests left. Return: slices issued. */
unsigned afu_cmds_continue(struct afu_worker *w);
/* Complete a command: post its IOASA and HRRQ entry (or drop it), free it. */
void afu_cmd_done(struct afu_cmd *cmd);
/* Append a backend request to a command. Return: 0 or -ENOMEM. */
int afu_cmd_add_io(struct afu_cmd *cmd, struct backend *be, enum be_op op,
		   uint64_t lba, uint32_t nblocks, uint64_t buf_off);

/* ---------------------------------------------------------------------------
 * rate.c: rate limits (afu.h).
 */
/* Nanoseconds until @r lets work start (0: now). */
uint64_t afu_rate_wait(struct afu_rate *r, uint64_t now);
/* Charge @cmds commands and @bytes bytes started at @now. */
void afu_rate_take(struct afu_rate *r, uint64_t now, uint64_t cmds, uint64_t bytes);
/* Count a context held back (once per hold). */
void afu_rate_delayed(struct afu_rate *r);

/* Charge a context's bucket (if any) for work it starts; hold it once
 * over its rate. */
static inline void afu_ctx_rate_take(struct afu_ctx *c, uint64_t cmds, uint64_t bytes)
{
	struct afu_rate *r = c->rate_cur;

	if (!r)
		return;
	afu_rate_take(r, c->worker->pass_ns, cmds, bytes);
	if (!c->rate_held && afu_rate_wait(r, c->worker->pass_ns)) {
		c->rate_held = true;
		afu_rate_delayed(r);
	}
}

/* A pass's share for @c (AFU_FAIR_QUANTUM, never above it). Return 1 when
 * it was paying back a debt, which counts as work: the debtor has some. */
static inline unsigned afu_ctx_fair_topup(struct afu_ctx *c, int64_t quantum)
{
	unsigned debt = 0;

	if (c->fair_credit < quantum) {
		debt = c->fair_credit <= 0;
		c->fair_credit += quantum;
		if (c->fair_credit > quantum)
			c->fair_credit = quantum;
	}
	return debt;
}

/* May @c start work (fetch a command, issue a slice) this pass? */
static inline bool afu_ctx_may_start(const struct afu_ctx *c)
{
	return c->fair_credit > 0 && !c->rate_held;
}

/* ---------------------------------------------------------------------------
 * xlate.c: resource handle translation.
 */
enum afu_xl_fmt {
	AFU_XL_PHYS,     /* format-1 RHT entry, or LUN-id mode */
	AFU_XL_VIRT,     /* format-0 RHT entry: LXT */
};

/* The result of resolving a command's handle; valid under the xlate lock. */
struct afu_xl {
	enum afu_xl_fmt fmt;
	bool lun_id_mode;               /* no RES_HNDL: real-mode context */
	uint8_t perm;                   /* RHT permission bits */
	uint8_t nmask;
	struct afu_lun *lun;            /* PHYS: the LUN (NULL possible in LUN-id mode) */
	const struct sisl_lxt_entry *lxt;
	uint32_t lxt_cnt;
};

/* Why a range did not translate (> 0 values are SISL_AFU_RC_*). */
#define AFU_XL_LBA_RANGE 0x100      /* beyond the LUN: SCSI LBA OUT OF RANGE */
#define AFU_XL_NOMEM     0x101      /* no memory for the split */
#define AFU_XL_NO_LUN    0x102      /* LUN-id mode: empty LUN slot */

int afu_xlate_begin(struct afu_cmd *cmd, enum afu_class cls, struct afu_xl *x);
int afu_xlate_range(struct afu_cmd *cmd, const struct afu_xl *x, uint64_t lba,
		    uint64_t nblocks, enum be_op op, uint64_t buf_off);
void afu_xlate_end(struct afu_cmd *cmd);
void afu_xlate_fail(struct afu_cmd *cmd, int why);
uint64_t afu_xlate_capacity(const struct afu_xl *x);
void afu_xlate_prefetch(struct afu_ctx *c, const struct sisl_ioarcb *r);

/* ---------------------------------------------------------------------------
 * scsi.c: CDB execution.
 */
/* Execute a fetched command; it ends in exactly one afu_cmd_done(). */
void afu_scsi_exec(struct afu_cmd *cmd);
/* Fixed-format sense into the IOASA: CHECK CONDITION, SENSE_VALID. */
void afu_sense(struct sisl_ioasa *sa, uint8_t key, uint8_t asc, uint8_t ascq);

/* ---------------------------------------------------------------------------
 * worker.c: threads and the control channel.
 */
int afu_workers_start(struct afu *afu);
void afu_workers_stop(struct afu *afu);
/* Queue @req for @w (waking it, or leaving that to afu_kick: @wake). */
void afu_ctl_post(struct afu_worker *w, struct afu_ctl_req *req, bool wake);
/* Queue @req for @w and wait until the worker acknowledged it. */
void afu_ctl_request(struct afu_worker *w, struct afu_ctl_req *req);
/* Stop @c without the worker when it sleeps; false: ask it (afu_ctl_request). */
bool afu_ctl_stop_asleep(struct afu_ctx *c);
/* Worker side: mark @req done and wake its waiter. */
void afu_ctl_ack(struct afu *afu, struct afu_ctl_req *req);

/* futex(2) FUTEX_WAKE on a word that may be shared between processes. */
void afu_futex_wake_shared(uint32_t *word, int n);

#endif /* CXLFLASH_AFU_INTERNAL_H */
