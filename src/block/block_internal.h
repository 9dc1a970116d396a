/* SPDX-License-Identifier: Apache-2.0 */
/*
 * block_internal.h - the insides of libcflsh_block: chunks, their command
 * tables and queues, and the helpers the API files share.
 *
 * A chunk is one context on one LUN (one cxlflash_open, one ATTACH) with one
 * resource handle: the whole LUN (USER_DIRECT) or a virtual LUN
 * (USER_VIRTUAL). Its commands live in a table of max_num_requests entries;
 * the index of an entry is the command's internal tag. Each entry owns a
 * 128-byte sisl_iocmd (IOARCB + IOASA) in AFU-visible memory.
 *
 * Locking: one mutex per chunk (chunk->lock) covers everything of the chunk:
 * command states, queues, HRRQ consumption, statistics and recovery. Helpers
 * named *_locked expect it held. The chunk table has its own lock, and a
 * reference count keeps a chunk alive while an API call uses it.
 *
 * Errors are negative errno values inside the library; only the capiblock.h
 * entry points turn them into -1 with errno.
 */
#ifndef CXLFLASH_BLOCK_INTERNAL_H
#define CXLFLASH_BLOCK_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cxlflash/capiblock.h>
#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#define BLK_BLOCK_SIZE      4096u
#define BLK_DEFAULT_CMDS    64      /* max_num_requests 0 */
#define BLK_MAX_CMDS        8192    /* beyond: ENOMEM, as IBM's */
#define BLK_CMD_RETRIES     3       /* retries of a retryable command error */
#define BLK_CV_BUCKETS      64      /* condvars for per-command waiters, by tag */
#define BLK_CLOSE_WAIT_MS   5000    /* cblk_close waits this long for active commands */
#define BLK_CLOSE_STEP_MS   10
#define BLK_FREE_WAIT_MS    30000   /* waiting for a free command, then EBUSY */
#define BLK_VLUN_CHUNK_BLOCKS 65536ull /* the master's allocation unit (256 MiB) */
#define BLK_SLEEP_CAP_NS    10000000ull /* longest single futex/condvar nap while I/O flies */
#define BLK_DEFAULT_SPIN_US 20      /* poll the HRRQ this long before sleeping */
#define SPIN_SCORE_ONE 1024u        /* chunk.spin_score when every spin succeeds */
#define BLK_RECOVER_TRIES   3
#define BLK_LIVENESS_NS     200000000ull /* no completion this long: is the master still there? */
/* Wait this long for a restarted master, or for another host's cxlflashd
 * to take an rbd LUN over: it waits for the dead holder's watch to expire
 * (Ceph's osd_client_watch_timeout, 30 s by default; docs/scale-out.md). */
#define BLK_REATTACH_MS     90000

/* BLK_OP_SYNC (cblk_sync) moves no data and is not counted in the statistics. */
enum blk_op { BLK_OP_READ, BLK_OP_WRITE, BLK_OP_UNMAP, BLK_OP_SYNC };

enum blk_cmd_state {
	CMD_FREE = 0,
	CMD_ACTIVE,      /* taken by a caller: being built, in flight, or being retried */
	CMD_COMPLETE,    /* result known; an async command waits for cblk_aresult */
};

struct blk_cmd {
	struct sisl_iocmd *ioc;      /* IOARCB + IOASA (AFU-visible) */
	unsigned index;              /* internal tag */
	uint32_t gen;                /* bumped at every allocation */
	enum blk_cmd_state state;
	bool async;                  /* cblk_aread/awrite/aunmap/listio */
	bool in_flight;              /* at the AFU: submitted and not yet harvested */
	bool has_utag;
	int utag;                    /* caller's tag (CBLK_ARW_USER_TAG_FLAG) */
	cblk_arw_status_t *ustatus;  /* written at completion (CBLK_ARW_USER_STATUS_FLAG) */
	enum blk_op op;
	bool fua;                    /* WRITE with the FUA bit (CBLK_ARW_FUA_FLAG) */
	bool cache_lost;             /* SYNC in flight when the master was lost: fails */
	uint64_t wseq;               /* SYNC: chunk.write_seq when it was issued */
	bool direct;                 /* the AFU moves data at buf itself (no staging) */
	bool ring_defer;             /* submit without the doorbell: its waiter runs
				      * the AFU inline (consumed by the submit) */
	bool run_at_issue;           /* ring_defer for its issuer to run at once (rbd
				      * async, blk_run_async_locked): nobody waits
				      * for it next, so the completion thread is
				      * kicked (consumed by the submit) */
	void *buf;
	uint64_t lba;
	uint32_t nblocks;
	int result;                  /* blocks transferred, or -errno; when COMPLETE */
	unsigned retries;
	struct blk_cmd *utag_next;   /* user-tag hash chain */
	struct blk_cmd *next, *prev; /* free list, or the completed-async FIFO */
	struct blk_cmd *fnext, *fprev; /* in-flight list, in submission order */
};

/* A window that recovery replaced: kept mapped until close, as threads
 * that looked at it (futex sleepers) may still touch it. */
struct blk_old_window {
	struct sisl_host_map *map;
	struct blk_old_window *next;
};

struct chunk {
	chunk_id_t id;
	pid_t pid;                   /* the process using it: the opener, or a clone's child */
	char *path;                  /* what cxlflash_open was given */
	int mode;                    /* O_RDONLY / O_WRONLY / O_RDWR */
	int flags;                   /* cblk_open flags */
	int refs;                    /* table reference + API calls in progress (atomic;
				      * taken under the table lock) */
	bool remove_wait;            /* table_remove waits for refs (atomic) */
	struct chunk *hnext;         /* chunk table hash chain */

	/* Control path */
	int fd1;
	uint64_t ctxid;
	int adap_fd;
	struct sisl_host_map *map;
	size_t mmio_size;
	struct blk_old_window *old_windows;
	uint64_t rsrc_handle;
	bool virtual_lun;
	bool master_cache;           /* the master said DK_CXLFLASH_MASTER_CACHE */
	uint64_t vlun_id;            /* the vLUN's id where the LUN keeps its map, else 0 */
	bool unmap_ok;               /* ctx_ctrl has SISL_CTX_CTRL_UNMAP_SECTOR */
	uint64_t lun_size;           /* physical LUN, blocks */
	uint64_t size;               /* the chunk's logical size, blocks */
	uint64_t granted;            /* blocks the vLUN's chunks cover (high-water mark) */
	uint64_t max_xfer;           /* blocks per request */

	/* Queues */
	bool sq_mode;
	unsigned ncmds;
	struct sisl_iocmd *iocmds;   /* ncmds entries, 128-byte aligned */
	uint64_t *hrrq_mem;          /* ncmds entries */
	struct sisl_hrrq hrrq;
	struct sisl_ioarcb *sq;      /* ncmds + 1 entries (one always empty) */
	struct sisl_ioarcb *sq_curr;
	uint64_t cmd_room;           /* cached IOARRIN credits */
	/* Embedded mode: the AFU worker serving the context, whose passes a
	 * synchronous caller runs itself while the worker sleeps (thread.c);
	 * NULL through a daemon or a parent. */
	struct afu_runner *runner;
	bool ring_owed;              /* a command went in without the doorbell */
	/* Async commands run the passes at once too (1: the backend finishes
	 * them on its own threads, rbd), or ring (-1: a device or memory); 0:
	 * the next run finds out (blk_run_async_locked). Lock held. */
	int8_t async_run;
	/* All of the above lives in the context's DMA area (chunk.c). */
	bool dma_only;               /* the AFU reaches only the DMA area: stage data */
	uint8_t *stage;              /* ncmds slots of stage_blocks blocks */
	unsigned stage_blocks;
	/* The process's buffer area as the current context reaches it
	 * (dmabuf.c; DK_CXLFLASH_BUF_AREA): data in [buf_lo, buf_hi) is not
	 * staged. Both 0 when the master did not take it. */
	uint64_t buf_lo, buf_hi;
	uint64_t n_direct, n_staged; /* commands with data, by how it moved (dma_only) */

	/* Commands */
	struct blk_cmd *cmds;
	struct blk_cmd *free_head;
	unsigned nfree;
	unsigned ninflight;          /* at the AFU */
	unsigned nactive;            /* taken (ACTIVE or COMPLETE), sync and async */
	unsigned nbusy;              /* ACTIVE: not yet completed */
	unsigned nasync;             /* async commands ACTIVE or COMPLETE */
	struct blk_cmd *done_head, *done_tail;   /* completed async, oldest first */
	struct blk_cmd *fl_head, *fl_tail;       /* in flight, oldest first */
	struct blk_cmd **utag_hash;  /* utag_mask + 1 buckets */
	unsigned utag_mask;

	/* Synchronisation */
	pthread_mutex_t lock;
	pthread_cond_t cv_cmd[BLK_CV_BUCKETS]; /* a command (by tag) completed */
	pthread_cond_t cv_any;       /* an async command completed */
	pthread_cond_t cv_free;      /* a command was freed, or the chunk changed state */
	pthread_cond_t cv_thread;    /* work for the completion thread */
	pthread_t thread;
	bool thread_running;
	bool thread_idle;            /* waiting on cv_thread */
	bool stop;
	bool closing;
	bool failed;                 /* recovery failed: every I/O fails with EIO */
	/* Writes completed (not FUA) and how many of them a completed SYNC
	 * covers: a master lost with write_seq != flushed_seq may have lost
	 * some of them in a volatile cache (librbd's), so the next SYNC fails. */
	uint64_t write_seq, flushed_seq;
	bool cache_lost;
	bool recovering;
	unsigned spin_us;
	uint32_t spin_score;         /* how often spins succeed lately (thread.c; atomic) */
	uint32_t spin_skips;         /* waits that skipped the spin (atomic) */
	unsigned busy_run_skip;      /* waits left without inline runs (thread.c; lock) */
	unsigned defer_skip;         /* CBLK_ARW_DEFER_FLAG requests left that ring at
				      * once: a run of owed commands met a device (lock) */
	/* One async request at a time, each waited for at once (QD 1: async.c,
	 * "Lone requests"). Lock held. */
	uint64_t lone_ns;            /* when the lone request in flight was issued, or 0 */
	uint8_t lone_streak;         /* lone requests in a row waited for at once */
	bool lone_owed;              /* ring_owed is a lone request's, left for its wait */
	unsigned lone_skip;          /* lone requests left that ring: a run found memory */
	/* Batches of async requests, each waited for at once (QD > 1:
	 * async.c, "Batches"). Lock held. */
	uint64_t batch_ns;           /* the current batch's first issue, or 0 */
	uint64_t batch_n;            /* requests issued in it */
	uint64_t batch_last_n;       /* in the batch before */
	uint64_t batch_gap_each_ns;  /* 0: BATCH_GAP_EACH_NS (a test may set more) */
	uint8_t batch_streak;        /* batches in a row waited for at once */
	bool batch_owed;             /* ring_owed includes a batch's requests */
	unsigned batch_skip;         /* requests left that ring (a run found memory or
				      * a device that completes them one by one) */
	unsigned batch_runs;         /* batch runs so far (thread.c: which one probes) */
	uint32_t slow_score;         /* how often waits took over SLOW_WAIT_NS lately
				      * (thread.c; of SPIN_SCORE_ONE; lock) */
	uint64_t progress_ns;        /* last harvest that found completions */
	uint64_t alive_check_ns;     /* last look at the master's connection */
	unsigned nwaiters;           /* callers waiting in blk_wait_locked for I/O in flight */
	uint64_t last_wait_ns;       /* when the last of them left */

	chunk_stats_t stats;
};

/* ---- chunk.c: the chunk table ------------------------------------------ */

/* blk_chunk_get() - the open chunk @id with a reference held, or NULL. */
struct chunk *blk_chunk_get(chunk_id_t id);
/* blk_chunk_put() - drop a reference taken by blk_chunk_get(). */
void blk_chunk_put(struct chunk *c);
/* blk_chunk_get_inherited() - like blk_chunk_get() but also finds a chunk
 * a forked child inherited and has not cloned (only clone and close may
 * touch one). */
struct chunk *blk_chunk_get_inherited(chunk_id_t id);
/* blk_chunk_clone() - in a forked child: give @c a context of its own that
 * shares the parent's vLUN (VLUN_CLONE) or LUN (USER_DIRECT) with @mode.
 * Return 0 or -errno. */
int blk_chunk_clone(struct chunk *c, int mode);
struct dk_cxlflash_attach;
int blk_attach_context(struct chunk *c, struct dk_cxlflash_attach *a);
int blk_adopt_window(struct chunk *c, uint64_t ctxid, int fd, uint64_t mmio_size,
		     uint64_t return_flags);
int blk_user_direct(struct chunk *c);
int blk_vlun_reattach(struct chunk *c);

/* ---- cmd.c: commands, IOARCBs, submission, harvesting -------------------- */

int blk_cmd_get_locked(struct chunk *c, bool wait, struct blk_cmd **out);
void blk_cmd_put_locked(struct chunk *c, struct blk_cmd *cmd);
struct blk_cmd *blk_utag_find_locked(struct chunk *c, int utag);
void blk_utag_add_locked(struct chunk *c, struct blk_cmd *cmd);
void blk_done_remove_locked(struct chunk *c, struct blk_cmd *cmd);
uint64_t blk_data_ea(struct chunk *c, struct blk_cmd *cmd);
void blk_cmd_build(struct chunk *c, struct blk_cmd *cmd);
int blk_submit_locked(struct chunk *c, struct blk_cmd *cmd);
int blk_issue_locked(struct chunk *c, struct blk_cmd *cmd);
int blk_harvest_locked(struct chunk *c);
void blk_complete_locked(struct chunk *c, struct blk_cmd *cmd, int result);
void blk_abort_issue_locked(struct chunk *c, struct blk_cmd *cmd);
void blk_process_completion_locked(struct chunk *c, struct blk_cmd *cmd);
struct blk_cmd *blk_drain_hrrq_locked(struct chunk *c);
struct blk_cmd *blk_take_inflight_locked(struct chunk *c);
void blk_fail_all_locked(struct chunk *c, int err);
bool blk_window_dead(const struct sisl_host_map *map);
void blk_setup_queues(struct chunk *c);
void blk_count_issue_locked(struct chunk *c, struct blk_cmd *cmd);

static inline pthread_cond_t *blk_cmd_cv(struct chunk *c, const struct blk_cmd *cmd)
{
	return &c->cv_cmd[cmd->index % BLK_CV_BUCKETS];
}

/* ---- thread.c: the completion thread and waiting ------------------------- */

int blk_thread_start(struct chunk *c);
void blk_thread_stop(struct chunk *c);
void blk_thread_kick_locked(struct chunk *c);
int blk_wait_locked(struct chunk *c, pthread_cond_t *cv, const struct timespec *deadline);
bool blk_run_owed_locked(struct chunk *c, bool *waited, bool each);
bool blk_defer_skip_locked(struct chunk *c);
void blk_ring_owed_locked(struct chunk *c, bool kick);
/* Nothing waits for a doorbell or a run any more (rung, run, or nothing in
 * flight): lone_owed and batch_owed only say whose ring_owed it was. */
static inline void blk_owed_clear_locked(struct chunk *c)
{
	c->ring_owed = c->lone_owed = c->batch_owed = false;
}
bool blk_async_run_wanted(const struct chunk *c);
void blk_run_async_locked(struct chunk *c);
void blk_deadline(struct timespec *ts, uint64_t ms);
uint64_t blk_now_ns(void);
void blk_deadline_us(struct timespec *ts, uint64_t us);
bool blk_deadline_passed(const struct timespec *ts);

/* ---- dmabuf.c: the process's buffer area (cblk_dma_alloc) ------------------ */

/* blk_dma_area() - the area ATTACH sends (made on first call): its address,
 * length and memfd. Return 0, or -ENOENT when the process has none
 * (CFLSH_BLK_DMA_SIZE=0, or it could not be made). */
int blk_dma_area(uint64_t *ea, uint64_t *len, int *fd);

/* ---- recover.c ------------------------------------------------------------ */

int blk_recover_locked(struct chunk *c);
int blk_verify_locked(struct chunk *c, const uint8_t *sense);

/* ---- io.c / async.c: shared validation and issue --------------------------- */

int blk_check_rw(struct chunk *c, enum blk_op op, const void *buf, cflash_offset_t lba,
		 size_t nblocks);
/* @run: the command may go in without the doorbell for the caller to run
 * the AFU's passes right after (blk_run_async_locked). */
int blk_async_issue_locked(struct chunk *c, enum blk_op op, void *buf, cflash_offset_t lba,
			   size_t nblocks, int *tag, cblk_arw_status_t *status, int flags,
			   bool run);
int blk_aresult_locked(struct chunk *c, int *tag, int flags);

/*
 * errno: no public call changes it when it succeeds (IBM's tests read errno
 * after successful calls). Internal functions return -errno; the public
 * calls turn that into -1 and errno only on failure. Where a call may meet
 * failures it handles on the way to success (the control path, a futex
 * nap that times out, a receive that would block), errno is put back:
 * cblk_open, cblk_close, cblk_set_size and cblk_clone_after_fork keep the
 * caller's value, and so do the waits in thread.c; tests/block/errno_keep
 * checks every call.
 */

/* Return -1 with errno = -@rc when @rc < 0, else @rc. */
static inline int blk_ret(int rc)
{
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

/* blk_ret(), and on success errno = @saved (the caller's errno at entry). */
static inline int blk_ret_keep(int rc, int saved)
{
	if (rc >= 0)
		errno = saved;
	return blk_ret(rc);
}

#endif /* CXLFLASH_BLOCK_INTERNAL_H */
