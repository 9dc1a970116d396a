/* SPDX-License-Identifier: Apache-2.0 */
/*
 * afu.h - the software AFU: what the master sees of it.
 *
 * The AFU executes SISLite commands for contexts. Each context has a 64 KiB
 * host map (struct sisl_host_map) in shared memory, a resource handle table
 * (RHT) owned by the master, and an effective-address (EA) window that says
 * which host addresses its commands may name. Worker threads poll the
 * contexts' queues (IOARRIN mailbox and SQ ring), copy each IOARCB, translate
 * its resource handle and LBAs through the RHT/LXT, run the SCSI CDB against
 * the LUN's backend, write the IOASA and post the HRRQ entry with the toggle
 * bit. Idle workers spin for a while, then sleep until a context's doorbell
 * word is bumped (see sislite.h).
 *
 * Terminology:
 *   handle     the context's hardware number (0..AFU_MAX_CONTEXTS-1), the
 *              IOARCB ctx_id.
 *   lun_index  a LUN's slot in the AFU's LUN table; format-1 RHT entries
 *              carry it as lun_id and LXT entries in bits 8..15.
 *   EA         an address in the host's address space.
 *
 * Locking: the master changes a context's RHT entries and LXT arrays only
 * between afu_xlate_lock() and afu_xlate_unlock(); workers translate under
 * the same (per-context, short) lock, so they never see a half-published
 * entry. afu_ctx_sync(HW) then waits until no command translated before the
 * call is still in flight, after which the master may free old LXT arrays
 * and chunks.
 */
#ifndef CXLFLASH_AFU_H
#define CXLFLASH_AFU_H

#include <stdbool.h>
#include <stdint.h>
#include <cxlflash/sislite.h>

struct backend;
struct afu;
struct afu_ctx;

#define AFU_MAX_CONTEXTS 512
#define AFU_MAX_LUNS     256   /* LXT lun index is 8 bits */
#define AFU_MAX_XFER_BLOCKS 4096u /* 16 MiB of 4 KiB blocks per command */
#define AFU_CMD_ROOM     4096u /* IOARRIN commands in flight per context */

struct afu_config {
	unsigned workers;  /* worker threads; 0 = default (1, or CXLFLASH_AFU_THREADS) */
	unsigned spin_us;  /* busy-poll this long before sleeping; 0 = default (50, or CXLFLASH_AFU_SPIN_US) */
	/* A command that failed because its LUN was taken over by another host
	 * (be_fence: -ESHUTDOWN) is dropped, not answered with an error: a
	 * daemon sets this, closes the clients' connections and they resubmit
	 * elsewhere (cxlflashd; docs/scale-out.md). */
	bool drop_fenced;
};

/*
 * The addresses a context's commands may use. In-process (identity) any
 * address of the process is valid and an EA is a pointer. Otherwise an EA
 * must fall in [ea_base, ea_base + len) and maps to host_base + (ea - ea_base),
 * or in the client's registered buffer area [buf_ea, buf_ea + buf_len)
 * (cblk_dma_alloc's memory; buf_len 0: none), which maps to buf_host;
 * anything else fails with SISL_AFU_RC_DATA_DMA_ERR / INVALID_EA (data) or
 * the matching intr_status bit (IOARCB, IOASA, HRRQ, SQ). One range must
 * hold the whole access. Fixed while the context runs.
 */
struct afu_ea_window {
	bool identity;
	uint64_t ea_base;
	uint8_t *host_base;
	uint64_t len;
	uint64_t buf_ea;
	uint8_t *buf_host;
	uint64_t buf_len;
};

struct afu_ctx_params {
	struct sisl_host_map *map;      /* the AFU's mapping of the window */
	uint16_t handle;                /* ctx_id; unique among live contexts */
	struct sisl_rht_entry *rht;     /* master-owned table of rht_cnt entries */
	uint32_t rht_cnt;
	uint64_t ctx_cap;               /* SISL_CTX_CAP_* granted */
	struct afu_ea_window ea;
	/* Do not wake a sleeping worker for it yet: afu_kick() will (a server
	 * calls it after its reply, so the client does not wait for it). */
	bool defer_wake;
};

/* Counters a context keeps (read with afu_ctx_stats). */
struct afu_ctx_stats {
	uint64_t cmds;        /* commands completed */
	uint64_t errors;      /* completed with ioasc != 0 */
	uint64_t blocks_read;
	uint64_t blocks_written;
	uint64_t resets;      /* context resets done */
};

/* afu_create() - start an AFU with its worker threads. Return 0 or -errno. */
int afu_create(const struct afu_config *cfg, struct afu **out);

/* afu_destroy() - stop the workers. All contexts must have been stopped. */
void afu_destroy(struct afu *afu);

/*
 * afu_set_lun() - put @be at @lun_index in the AFU's LUN table (NULL clears),
 * with the LUN's 16-byte NAA WWID for INQUIRY page 0x83 (and its serial
 * number, page 0x80, as hex). Clear a slot only when no RHT entry of any
 * context refers to it. The backend's capacity (be->nblocks) may change
 * later (VERIFY); the AFU reads it per command.
 */
void afu_set_lun(struct afu *afu, unsigned lun_index, struct backend *be,
		 const uint8_t wwid[16]);

/*
 * afu_ctx_start() - begin serving a context. The window at p->map must be
 * zeroed; the AFU initialises endian_ctrl, cmd_room and ctx_ctrl.
 * Return: 0 and *@out, or -errno.
 */
int afu_ctx_start(struct afu *afu, const struct afu_ctx_params *p, struct afu_ctx **out);

/*
 * afu_kick() - wake the workers that contexts were started for with
 * defer_wake. Cheap when there are none.
 */
void afu_kick(struct afu *afu);

/*
 * afu_ctx_stop() - stop serving the context and free it. Commands not yet
 * completed are dropped (no IOASA, no HRRQ entry); returns once no worker
 * touches the context or its buffers any more.
 */
void afu_ctx_stop(struct afu_ctx *ctx);

/*
 * afu_ctx_error() - put the context in the error state: stop fetching, drop
 * what is in flight (as afu_ctx_stop), then fill the whole window with ones,
 * so every host read returns all ones. The context stays allocated until
 * afu_ctx_stop(); its RHT is untouched.
 */
void afu_ctx_error(struct afu_ctx *ctx);

/* afu_ctx_in_error() - whether afu_ctx_error() was called. */
bool afu_ctx_in_error(const struct afu_ctx *ctx);

/* Serialise RHT/LXT changes against translation (see the header comment). */
void afu_xlate_lock(struct afu_ctx *ctx);
void afu_xlate_unlock(struct afu_ctx *ctx);

/*
 * afu_ctx_sync() - the AFU sync command. SISL_AFU_LW_SYNC: translations added
 * are visible (immediate here). SISL_AFU_HW_SYNC: additionally wait until
 * every command translated before the call has completed or been dropped.
 * Must not be called with the xlate lock held.
 * Return: 0, or -EAGAIN when a failure was injected (afu_inject_sync_error).
 */
int afu_ctx_sync(struct afu_ctx *ctx, int mode);

void afu_ctx_stats(const struct afu_ctx *ctx, struct afu_ctx_stats *st);

/*
 * Inline execution (embedded mode: the host shares the AFU's process).
 *
 * afu_ctx_runner() - what afu_run_inline() takes for @ctx: its worker,
 * valid as long as the AFU.
 *
 * afu_run_inline() - if @runner's worker thread sleeps, run its passes on
 * the calling thread until nothing of its contexts is in flight or
 * queued: commands are fetched, translated and checked exactly as the
 * worker would, and the backend I/O goes through the calling thread's own
 * io_uring, which it blocks in while a device works: until all of it is
 * done, in one enter, or with @each, once per completion (commands are
 * completed as their I/O is, and afu_inline_waits() counts the waits).
 * A host that stored a
 * command and, instead of ringing the doorbell, calls this, has it
 * completed (HRRQ entry posted) when this returns true; with false (the
 * worker is awake, or another thread runs inline) it must ring the
 * doorbell as usual. Whatever is left for later wakes the worker.
 * Never call it from an AFU callback or with the master's locks held.
 */
/*
 * Rate limits (issue 12): a token bucket of commands per second and one of
 * bytes per second, shared by every context given it (a tenant's, across
 * workers). A context over its rate is delayed, never failed: its worker
 * fetches none of its commands and continues none of its slices until the
 * bucket allows (sleeping meanwhile when nothing else is to do). A burst
 * of AFU_RATE_BURST_MS worth goes through at once. Any thread may set the
 * limits or read the counters.
 */
#define AFU_RATE_BURST_MS 20u
struct afu_rate;
struct afu_rate_stats {
	uint64_t iops, bps;        /* limits; 0 = none */
	uint64_t cmds, bytes;      /* started under the limit */
	uint64_t delays;           /* times a context was held back */
};
/* afu_rate_create() - no limit yet. Return: 0 or -ENOMEM. */
int afu_rate_create(struct afu_rate **out);
/* afu_rate_free() - once no context has it (stopped or given another). */
void afu_rate_free(struct afu_rate *r);
/* afu_rate_set() - commands/s and bytes/s (0: no limit). */
void afu_rate_set(struct afu_rate *r, uint64_t iops, uint64_t bps);
void afu_rate_get(const struct afu_rate *r, struct afu_rate_stats *st);
/* afu_ctx_set_rate() - the bucket @ctx's commands draw on (NULL: none). */
void afu_ctx_set_rate(struct afu_ctx *ctx, struct afu_rate *r);

struct afu_runner;
struct afu_runner *afu_ctx_runner(struct afu_ctx *ctx);
bool afu_run_inline(struct afu_runner *runner, bool each);
/* afu_inline_waits() - how many times the calling thread's inline runs
 * have waited for backend I/O in flight (a device, not memory). */
unsigned afu_inline_waits(void);
/* afu_inline_lent() - how many foreign (rbd) requests the calling thread's
 * inline runs have started and left to complete without it (librbd's
 * thread completes them: nothing to wait for). */
unsigned afu_inline_lent(void);

/* Test hooks. */
/* Make the next @count syncs on this AFU fail with -EAGAIN. */
void afu_inject_sync_error(struct afu *afu, unsigned count);
/* Stop all workers from fetching new commands (in-flight ones finish). */
void afu_pause(struct afu *afu);
void afu_resume(struct afu *afu);

#endif /* CXLFLASH_AFU_H */
