/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backend.h - the storage behind a LUN, one function table per kind.
 *
 * A backend stores 4 KiB blocks. The AFU moves data through it
 * asynchronously: it submits struct be_io requests on a per-thread I/O
 * engine (struct be_engine: one io_uring per AFU worker, shared by every
 * file backend the worker serves) and each request completes exactly once
 * through its callback, inline (ram, null, the pread fallback) or later from
 * be_engine_poll(). The master uses the synchronous helpers (be_*_sync) on
 * the control path (scrub, capacity).
 *
 * Backends: ram (mmap'd memory, memcpy), file (regular file or block device,
 * O_DIRECT when the file system allows it, io_uring with a pread/pwrite
 * fallback), null (completes with no data movement), rbd (a Ceph RBD image
 * through librbd's aio calls, when built with librbd; docs/scale-out.md),
 * and fault, a wrapper around any of them that injects faults for tests
 * (docs/fault.md).
 *
 * Errors are negative errno values everywhere in this interface.
 */
#ifndef CXLFLASH_BACKEND_H
#define CXLFLASH_BACKEND_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define BE_BLOCK_SHIFT 12
#define BE_BLOCK_SIZE  (1u << BE_BLOCK_SHIFT)

struct backend;
struct be_engine;

enum be_op {
	BE_OP_READ,         /* blocks -> buf */
	BE_OP_WRITE,        /* buf -> blocks */
	BE_OP_WRITE_ZEROES, /* zero blocks, left allocated (never a hole); buf unused */
	BE_OP_DISCARD,      /* unmap blocks (a hole where the backend can); they
	                     * read back as zeroes afterwards */
	BE_OP_FLUSH,        /* make completed writes durable; lba/nblocks unused */
};

struct be_io;
typedef void (*be_io_cb)(struct be_io *io, int res);

/* Allocation states of blocks (NBD's base:allocation context; bits). */
#define BE_STATE_HOLE 1u    /* not allocated: writing allocates (and may hit ENOSPC) */
#define BE_STATE_ZERO 2u    /* reads back as zeroes */

/* A run of blocks in one state; 0 is data (or not known to be zeroes). */
struct be_extent {
	uint64_t nblocks;
	uint32_t state;     /* BE_STATE_* */
};

/* be_io flags */
#define BE_IO_FUA 1u        /* WRITE: durable when it completes (SCSI's FUA bit:
                             * RWF_DSYNC on a file); the other writes are not
                             * made durable by it. Backends without a volatile
                             * cache (ram, null) need do nothing. */

/*
 * One request. The submitter owns the struct until the callback runs; the
 * callback is called exactly once with 0 or a negative errno (a short
 * transfer is -EIO).
 */
struct be_io {
	enum be_op op;
	uint64_t lba;       /* first block */
	uint32_t nblocks;   /* number of 4 KiB blocks */
	void *buf;          /* READ/WRITE: nblocks * 4 KiB, any alignment */
	uint32_t flags;     /* BE_IO_*; 0 unless the submitter sets one */
	be_io_cb cb;
	void *cb_arg;       /* for the submitter */
	/* WRITE of part of the blocks, on a backend with part_align (below):
	 * part_len bytes from buf go to byte part_off, both multiples of
	 * part_align, inside blocks lba .. lba + nblocks - 1 (the covering
	 * blocks, checked as a WRITE's). part_len 0: whole blocks, as usual. */
	uint64_t part_off;
	uint32_t part_len;
	/* private to the backend */
	struct backend *be;
	void *bounce;
	uint32_t done;      /* bytes moved so far (short transfers are resubmitted) */
};

/*
 * struct backend_ops - what a backend implements. All members are required
 * unless marked optional.
 */
struct backend_ops {
	const char *name;                          /* "ram", "file", "null" */
	/* Start @io on @eng. Returns 0 when the callback will run (maybe already
	 * has), or a negative errno when it will not. */
	int (*submit)(struct backend *be, struct be_engine *eng, struct be_io *io);
	/* Synchronous I/O for the control path; same ops as submit. */
	int (*io_sync)(struct backend *be, enum be_op op, uint64_t lba,
		       uint32_t nblocks, void *buf);
	/* Zero blocks only where that costs no writing of zeroes (NBD's
	 * FAST_ZERO): @op is BE_OP_DISCARD (a hole is fine) or
	 * BE_OP_WRITE_ZEROES (the blocks stay allocated). Synchronous.
	 * Return: 0, -EOPNOTSUPP when only writing zeroes would do (nothing
	 * changed), or another negative errno. Optional: NULL means never. */
	int (*zero_fast)(struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks);
	/* Allocation of the blocks from @lba on: up to @max extents (max >= 1),
	 * consecutive from @lba, covering at most @nblocks blocks; fewer when
	 * @max runs out or when going further would cost more than a bounded
	 * scan. At least one extent of at least one block. Synchronous; what
	 * it says is true when it looks (requests in flight may change it).
	 * @lba and @nblocks are checked by the caller (be_block_status()).
	 * Return: the number of extents or a negative errno. Optional: NULL
	 * means every block is data. */
	int (*block_status)(struct backend *be, uint64_t lba, uint64_t nblocks,
			    struct be_extent *ext, unsigned max);
	/* Where the medium is this process's own memory (ram): the address of
	 * blocks @lba .. @lba + @nblocks - 1, valid until destroy, for a reader
	 * that copies them out itself (the NBD export writes READ replies
	 * straight from it). What it copies is the medium at that moment: a
	 * write to those blocks in flight meanwhile may show in part, as in a
	 * read made at the same time. Return: NULL when out of range.
	 * Optional: NULL means none (read through submit). */
	const void *(*mem)(struct backend *be, uint64_t lba, uint32_t nblocks);
	/* Re-read the capacity (a file that grew or shrank). Optional. */
	int (*refresh)(struct backend *be);
	/* Small named values kept with the storage itself, for state that
	 * must outlive this process and follow the LUN to another host (the
	 * vLUN maps, src/master/vstore.c). rbd: the image's metadata. Keys are
	 * short printable strings; @val NULL removes the key (absent is fine).
	 * Synchronous. Optional (both or neither): NULL means none. */
	int (*meta_set)(struct backend *be, const char *key, const char *val);
	/* Call @fn for every key that starts with @prefix, in key order; a
	 * non-zero return of @fn stops the walk and is returned. Return: 0, that
	 * value, or a negative errno. */
	int (*meta_list)(struct backend *be, const char *prefix,
			 int (*fn)(void *arg, const char *key, const char *val), void *arg);
	void (*destroy)(struct backend *be);
};

/* Common part of every backend; kinds embed it first. */
struct backend {
	const struct backend_ops *ops;
	uint64_t nblocks;       /* capacity in 4 KiB blocks */
	bool can_unmap;         /* DISCARD frees space (reads back zeroes regardless) */
	bool direct;            /* data bypasses the page cache (O_DIRECT) */
	bool cpu_inline;        /* submit() does the work itself, on the caller's CPU
	                         * (memory): the AFU cuts its requests small */
	bool master_cache;      /* writes may complete from a volatile cache in this
	                         * process (librbd's write-back cache): lost if the
	                         * process dies before a flush */
	uint32_t part_align;    /* submit() takes WRITEs of part of a block (be_io
	                         * part_off / part_len) at this granularity, with no
	                         * read-modify-write: 1 (memory, the page cache), the
	                         * device's logical block size (O_DIRECT); 0: not at
	                         * all (whole blocks only) */
	char id[256];           /* stable identity for WWID derivation and logs */
	char uid[384];          /* an identity that is the same on every host and at every
	                         * open (rbd: the cluster's fsid, the pool's and the image's
	                         * ids); the WWID is derived from it. Empty: none */
	uint64_t dev, ino;      /* identity of a file or device, 0 for memory */
	int lock_fd;            /* fd holding the cross-process lock, or -1 */
	bool fenced;            /* the storage shut this host out (rbd: another
	                         * host took the image over and blocklisted us):
	                         * every request fails from now on (atomic,
	                         * be_fence() / be_fenced()) */
};

/* Injected I/O errors and latency (docs/fault.md); all 0: none. */
struct be_fault_inject {
	uint64_t fail_nth;      /* the Nth data request from now fails (EIO), once */
	uint64_t fail_lba_first, fail_lba_last; /* requests touching these blocks fail */
	bool fail_lba;          /* the range above is set */
	bool fail_reads, fail_writes; /* which requests fail_lba / fail_nth hit */
	uint64_t tear_nth;      /* the Nth multi-block write writes half, then fails */
	uint32_t delay_us;      /* every data request waits this long first */
};

/* The fault wrapper's options ("fault[OPTS]:INNER"); off for a plain LUN. */
struct be_fault_spec {
	bool on;
	bool wcache;            /* a volatile write cache: power cuts lose unflushed writes */
	char journal[4096];     /* wcache undo journal; empty: INNER's path + ".wcache" */
	char ctl[4096];         /* a control file of injected faults, read when it changes */
	struct be_fault_inject inject;
};

/*
 * be_parse_fault_inject() - parse injected-fault options ("fail-nth=N",
 * "fail-lba=A[-B]", "fail-on=read|write|all", "tear-nth=N", "delay=USEC",
 * "none"), separated by commas, blanks or newlines, into @inj (cleared
 * first). What a fault wrapper's control file holds.
 * Return: 0 or -EINVAL (a message says which option).
 */
int be_parse_fault_inject(const char *text, struct be_fault_inject *inj);

/* Where an rbd LUN is: "rbd:POOL[/NAMESPACE]/IMAGE?OPTIONS" (docs/scale-out.md). */
struct be_rbd_spec {
	char pool[128];
	char ns[128];           /* RADOS namespace; empty: the default one */
	char image[128];
	char conf[4096];        /* conf=PATH; empty: $CEPH_CONF or the default search */
	char user[128];         /* id=USER (without "client."); empty: librados's default */
	char keyring[4096];     /* keyring=PATH; empty: from the configuration */
	char cluster[64];       /* cluster=NAME; empty: "ceph" */
	/* The image's exclusive lock, held by whoever has it open writable:
	 * held by another client, the open fails (-EBUSY, naming the holder),
	 * unless @takeover: then it waits up to @takeover_wait_s seconds for
	 * the holder to be gone, blocklists it, breaks its lock and takes it. */
	bool takeover;
	unsigned takeover_wait_s;
	/* A standby (cxlflashd's LUN option standby): take over as above, but
	 * wait with no time limit, until @stop (if set) becomes true. */
	bool standby;
	const atomic_bool *stop;
	/* Told, if set, who holds the image each time a wait for a live
	 * holder starts: its client address and what it noted of itself. */
	void (*on_wait)(void *arg, const char *holder, const char *about);
	void *on_wait_arg;
};

/* How long a takeover waits for a live holder to go by default (seconds):
 * more than Ceph's osd_client_watch_timeout (30 s), after which a dead
 * holder's watch has expired. */
#define BE_RBD_TAKEOVER_WAIT_S 60u

/*
 * be_rbd_set_owner_note() - how this process describes itself to another
 * that finds an rbd image it holds (the image's "cxlflash.owner" metadata,
 * quoted in the refusal), e.g. "cxlflashd pid 12 on host h, socket /run/..".
 * Default: "PROGRAM pid N on host H". Call before opening rbd LUNs.
 */
void be_rbd_set_owner_note(const char *note);

/* Options parsed from a LUN name. */
struct be_spec {
	char kind[8];           /* "ram", "null", "file", "rbd": the storage, wrapped or not */
	char path[4096];        /* file: path; ram/null/rbd: empty */
	uint64_t size;          /* bytes; 0 = use the existing size (file) */
	bool create;            /* file: create at size if absent */
	bool prealloc;          /* file: a file this open creates is written with zeroes */
	bool readonly;
	struct be_rbd_spec rbd; /* rbd: the image and how to reach it */
	struct be_fault_spec fault;
};

/*
 * be_parse_spec() - parse "ram:4G", "null:1G", "file:/p?size=8G",
 * "rbd:pool/image?size=1G", a plain path, or "fault[OPTS]:" followed by any
 * of those, into @spec.
 * Return: 0 or -EINVAL (a message explains on stderr).
 */
int be_parse_spec(const char *name, struct be_spec *spec);

/* be_parse_size() - "4096", "64K", "8G", "1T" -> bytes. Return 0 or -EINVAL. */
int be_parse_size(const char *s, uint64_t *bytes);

/*
 * be_open() - create the backend @spec describes.
 * Return: 0 and *@out, or a negative errno (ENOENT for a missing plain path,
 * EINVAL for a bad size, ENOMEM, or what open/mmap said).
 */
int be_open(const struct be_spec *spec, struct backend **out);

void be_close(struct backend *be);

/*
 * be_fence() - @be was shut out (backend.fenced): flag it and, the first
 * time, call the hook a server set with be_set_fence_hook(), so that it
 * can send the LUN's clients to the host that took it over. Any thread
 * (librbd's); the hook must not block. A request fails with -ESHUTDOWN
 * only on a fenced backend: a daemon's AFU drops such requests for their
 * clients to resubmit elsewhere (afu_config.drop_fenced). Return: true
 * the first time (the caller says so in the log), false after.
 */
bool be_fence(struct backend *be);
void be_set_fence_hook(void (*hook)(void *arg), void *arg);
static inline bool be_fenced(const struct backend *be)
{
	return __atomic_load_n(&be->fenced, __ATOMIC_ACQUIRE);
}

/*
 * be_file_make_dirs() - from now on, a file:PATH?size=SIZE LUN whose
 * directory is missing gets it created (mode 0750) when the directory's
 * own parent exists. cxlflashd turns this on for the LUNs it is configured
 * with (a fresh system's /var/lib/cxlflash); elsewhere a missing directory
 * stays ENOENT.
 */
void be_file_make_dirs(bool on);

/* Per-thread I/O engine (one io_uring). Falls back to synchronous I/O when
 * io_uring is unavailable or CXLFLASH_NO_URING=1 is set. */
int be_engine_create(struct be_engine **out, unsigned depth);
void be_engine_destroy(struct be_engine *eng);
/* Submit what was queued; reap up to @max completions, running callbacks.
 * Return: completions reaped (>= 0) or a negative errno. */
int be_engine_poll(struct be_engine *eng, unsigned max);
/* Requests submitted and not yet completed on this engine. */
unsigned be_engine_inflight(const struct be_engine *eng);
/* be_engine_foreign_inflight() - of those, the requests a backend's own
 * threads complete (rbd: librbd's), which take a network round trip. */
unsigned be_engine_foreign_inflight(const struct be_engine *eng);
/* Of those, the io_uring requests (what be_engine_wait() is needed for
 * when the engine completes its foreign requests directly). */
unsigned be_engine_ring_inflight(const struct be_engine *eng);
/* Block up to @timeout_us for a completion (0 when none in flight);
 * BE_WAIT_FOREVER: until one comes (a signal returns 0). A wait with a
 * timeout arms a kernel timer each time, which on a virtual machine costs
 * several microseconds a wait (a QD 1 disk I/O's inline run: 35 against 29
 * us of CPU per 4 KiB read). */
#define BE_WAIT_FOREVER UINT_MAX
int be_engine_wait(struct be_engine *eng, unsigned timeout_us);
/* be_engine_wait_all() - submit what is queued and block until every
 * io_uring request in flight has completed, in one enter (with
 * DEFER_TASKRUN the kernel wakes the waiter once, not per completion).
 * Foreign requests in flight: as be_engine_wait(@eng, BE_WAIT_FOREVER).
 * Return: as be_engine_wait(). */
int be_engine_wait_all(struct be_engine *eng);
/*
 * be_engine_wait_tick() - block for a completion, or at most @tick_us:
 * as be_engine_wait(@eng, @tick_us), but the bound comes from a timeout
 * request kept in the ring, armed when none is and re-armed only after it
 * fired, so a thread that waits many times between two ticks (an AFU
 * worker at QD 32 on a disk: a wait every few I/Os) pays one kernel timer
 * per tick instead of one per wait. A wait may end early, at the tick an
 * earlier wait armed. Foreign requests in flight, no ring, or an armed
 * tick due later than @tick_us from now: a timed wait.
 */
int be_engine_wait_tick(struct be_engine *eng, unsigned tick_us);
/*
 * be_engine_watch() - make a wake-up of one of @n futexes (@futexv, a
 * struct futex_waitv array, unchanged while be_engine_watch_armed(): the
 * kernel reads it when it takes the request; the values compared as
 * futex_waitv(2) does) end this engine's waits, through a FUTEX_WAITV
 * request kept in the ring (Linux 6.7). One stays armed until a wake-up or
 * a changed value fires it; while one is, the call does nothing. Return: 0
 * when armed, -EOPNOTSUPP where the ring cannot (no ring, an older kernel),
 * -EAGAIN when the SQ is full.
 */
int be_engine_watch(struct be_engine *eng, const void *futexv, unsigned n);
bool be_engine_watch_armed(const struct be_engine *eng);
/* Consume the completions of the engine's own requests (the watch, the
 * tick) at the head of its CQ: be_engine_poll() does too, but only a
 * thread with requests in flight polls. Return: true when the watch had
 * fired (a watched word changed: look). */
bool be_engine_reap_own(struct be_engine *eng);
/* Ask the kernel to end the armed watch (be_engine_watch_armed() stays
 * true until its completion is reaped). Return: 1 (so that the caller's
 * wait is a timed one meanwhile), or -EAGAIN when the SQ is full. */
int be_engine_watch_cancel(struct be_engine *eng);
/* Cancel the armed watch and wait until it is gone (before the owner waits
 * on the same words elsewhere: a FUTEX_WAKE of one waiter could go to the
 * watch). Return: 0, -EBUSY when a request's completion came first (reap
 * it, then try again), or a negative errno. */
int be_engine_watch_drop(struct be_engine *eng);
/*
 * be_engine_sleep_watch() - sleep until one of @n futexes (@futexv, a
 * struct futex_waitv array of up to BE_SLEEP_WATCH_MAX words, more than
 * one futex_waitv(2) takes) is woken or has changed, or @timeout_us pass:
 * FUTEX_WAITV requests of up to 128 words each in the ring (Linux 6.7), all
 * gone again when it returns. For an owner with no ring requests in flight
 * and no armed be_engine_watch(). Return: 1 when a watched word changed, 0
 * on timeout, -EOPNOTSUPP where the ring cannot watch futexes (sleep some
 * other way), -EAGAIN when the SQ is full, -EBUSY when a request's
 * completion came (reap it), or a negative errno.
 */
#define BE_SLEEP_WATCH_MAX 1024u
int be_engine_sleep_watch(struct be_engine *eng, const void *futexv, unsigned n,
			  unsigned timeout_us);

/*
 * Direct foreign completions (issue 17): a request that a backend's own
 * thread finishes (librbd's) is completed on that thread, at once, when it
 * can take @lock (pthread_mutex_trylock: never blocks), and @after(@arg)
 * runs next, still under @lock (the AFU publishes the HRRQ entry), then
 * @unlocked(@arg) once @lock is let go (the AFU wakes the host there, so
 * the host finds the lock free for its next submission);
 * the engine's owner need not wake up for it. When @lock is taken (the
 * owner is in a pass) it is queued for be_engine_poll() as without this,
 * and @wake(@arg) is called after the engine's eventfd is signalled (the
 * owner may be asleep elsewhere than in be_engine_wait()); but when
 * @mine(@arg) says the calling thread is the one in the pass (librbd
 * finished the request inside the submission: a write into its cache),
 * it is only queued, for that pass to run. Everything the
 * completions touch must be under @lock; so must every be_engine_poll() and
 * be_engine_foreign_poll() of the engine. Set before any request, on the
 * engine's thread. Return: 0 or -errno (no eventfd).
 */
struct be_foreign_direct {
	pthread_mutex_t *lock;
	void (*after)(void *arg);
	void (*unlocked)(void *arg);   /* after @after, once @lock is let go */
	void (*wake)(void *arg);
	bool (*mine)(void *arg);
	void *arg;
};
int be_engine_set_foreign_direct(struct be_engine *eng, const struct be_foreign_direct *d);
/* Foreign requests begun on @eng are counted and completed on @home (an
 * inline runner's engine lends them to the worker's: the runner need not
 * wait for them); NULL: on @eng again. */
void be_engine_set_foreign_home(struct be_engine *eng, struct be_engine *home);
/* Foreign requests ever begun on @eng (a runner's count of what it lent). */
unsigned be_engine_foreign_begun(const struct be_engine *eng);
/* Whether foreign completions are queued on @eng (seq_cst: a sleeper's
 * last look, paired with @wake above). */
bool be_engine_foreign_pending(const struct be_engine *eng);
/* Run up to @max (0: all) queued foreign completions of @eng from any
 * thread holding its direct lock; never touches the ring. Return: how many. */
unsigned be_engine_foreign_poll(struct be_engine *eng, unsigned max);
/* For a thread that always waits right after queueing (an inline AFU
 * runner): be_engine_poll() leaves queued requests to be_engine_wait(),
 * which submits and waits in one system call. */
void be_engine_set_lazy_submit(struct be_engine *eng, bool on);

/* How a simulated power cut treats what the write cache journaled. */
enum be_powercut {
	BE_CUT_ALL,     /* every write since the last completed flush is lost */
	BE_CUT_RANDOM,  /* each journaled block is lost or kept at random (seeded) */
};

/*
 * be_fault_powercut() - simulate a power cut on an open fault backend with
 * a write cache: put journaled blocks back to their contents at the last
 * completed flush (all of them, or a random subset chosen by @seed), flush
 * the storage and clear the journal. Nothing may be in flight on @be.
 * Return: the number of blocks put back (>= 0), -EINVAL when @be is not a
 * writable fault backend with a write cache, or another negative errno.
 */
int64_t be_fault_powercut(struct backend *be, enum be_powercut how, uint64_t seed);

/* Synchronous helpers (control path). Return 0 or a negative errno. */
static inline int be_read_sync(struct backend *be, uint64_t lba, uint32_t n, void *buf)
{
	return be->ops->io_sync(be, BE_OP_READ, lba, n, buf);
}
static inline int be_write_sync(struct backend *be, uint64_t lba, uint32_t n, const void *buf)
{
	return be->ops->io_sync(be, BE_OP_WRITE, lba, n, (void *)buf);
}
static inline int be_zero_sync(struct backend *be, uint64_t lba, uint32_t n)
{
	return be->ops->io_sync(be, BE_OP_WRITE_ZEROES, lba, n, NULL);
}
/* Unmap: the blocks read back as zeroes and, where the backend can, their
 * space is given back (a hole in a file, memory returned). */
static inline int be_discard_sync(struct backend *be, uint64_t lba, uint32_t n)
{
	return be->ops->io_sync(be, BE_OP_DISCARD, lba, n, NULL);
}
static inline int be_flush_sync(struct backend *be)
{
	return be->ops->io_sync(be, BE_OP_FLUSH, 0, 0, NULL);
}
/* Metadata kept with the storage (backend_ops.meta_set); -EOPNOTSUPP without. */
static inline bool be_has_meta(const struct backend *be)
{
	return be->ops->meta_set && be->ops->meta_list;
}
static inline int be_meta_set(struct backend *be, const char *key, const char *val)
{
	return be_has_meta(be) ? be->ops->meta_set(be, key, val) : -EOPNOTSUPP;
}
static inline int be_meta_list(struct backend *be, const char *prefix,
			       int (*fn)(void *arg, const char *key, const char *val), void *arg)
{
	return be_has_meta(be) ? be->ops->meta_list(be, prefix, fn, arg) : -EOPNOTSUPP;
}

/*
 * be_block_status() - which of @nblocks blocks from @lba are holes, zeroes
 * or data (the backend's block_status, or "all data" where it has none).
 * Return: the number of extents in @ext (1..@max) or a negative errno
 * (-ERANGE for blocks past the capacity, -EINVAL for none or @max 0).
 */
int be_block_status(struct backend *be, uint64_t lba, uint64_t nblocks, struct be_extent *ext,
		    unsigned max);

#endif /* CXLFLASH_BACKEND_H */
