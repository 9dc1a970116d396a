/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capiblock.h - the CAPI Flash block library API (libcflsh_block), source
 * compatible with IBM's: the same functions, types, flag values and
 * chunk_stats_t field order, so a program written for IBM's library builds
 * unchanged (#include <capiblock.h>, link -lcflsh_block).
 *
 * A "chunk" is an open LUN (physical) or a virtual LUN carved from one
 * (CBLK_OPN_VIRT_LUN). Blocks are 4 KiB; every LBA and count is in blocks.
 * Functions return 0 (or a block count) on success and -1 with errno set
 * on failure; cblk_open returns NULL_CHUNK_ID.
 *
 * Paths: "ram:SIZE", a regular file (it must exist), a block device, or
 * "file:PATH?size=SIZE". With CBLK_GROUP_RAID0, "a:b:..." names the members.
 */
#ifndef CAPIBLOCK_H
#define CAPIBLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int chunk_id_t;
typedef int chunk_cg_id_t;
typedef int chunk_r0_id_t;
typedef uint64_t chunk_ext_arg_t;
typedef off_t cflash_offset_t;

#define NULL_CHUNK_ID (-1)

/* Per-chunk counters (cblk_get_stats). The field order is IBM's. */
typedef struct chunk_stats_s {
	uint32_t block_size;           /* bytes per block (4096) */
	uint32_t num_paths;
	uint64_t max_transfer_size;    /* blocks per request */
	uint64_t num_reads;
	uint64_t num_writes;
	uint64_t num_areads;
	uint64_t num_awrites;
	uint32_t num_act_reads;
	uint32_t num_act_writes;
	uint32_t num_act_areads;
	uint32_t num_act_awrites;
	uint32_t max_num_act_writes;
	uint32_t max_num_act_reads;
	uint32_t max_num_act_awrites;
	uint32_t max_num_act_areads;
	uint64_t num_blocks_read;
	uint64_t num_blocks_written;
	uint64_t num_errors;
	uint64_t num_aresult_no_cmplt;
	uint64_t num_retries;
	uint64_t num_timeouts;
	uint64_t num_fail_timeouts;
	uint64_t num_no_cmds_free;
	uint64_t num_no_cmd_room;
	uint64_t num_no_cmds_free_fail;
	uint64_t num_fc_errors;
	uint64_t num_port0_linkdowns;
	uint64_t num_port1_linkdowns;
	uint64_t num_port0_no_logins;
	uint64_t num_port1_no_logins;
	uint64_t num_port0_fc_errors;
	uint64_t num_port1_fc_errors;
	uint64_t num_cc_errors;
	uint64_t num_afu_errors;
	uint64_t num_capi_false_reads;
	uint64_t num_capi_read_fails;
	uint64_t num_capi_adap_resets;
	uint64_t num_capi_adap_chck_err;
	uint64_t num_capi_reserved_errs;
	uint64_t num_capi_data_st_errs;
	uint64_t num_capi_afu_errors;
	uint64_t num_capi_afu_intrpts;
	uint64_t num_capi_unexp_afu_intrpts;
	uint64_t num_success_threads;
	uint64_t num_failed_threads;
	uint64_t num_canc_threads;
	uint64_t num_fail_canc_threads;
	uint64_t num_fail_detach_threads;
	uint64_t num_active_threads;
	uint64_t max_num_act_threads;
	uint64_t num_cache_hits;
	uint64_t num_reset_contexts;
	uint64_t num_reset_contxt_fails;
	uint32_t primary_path_id;
	uint64_t num_path_fail_overs;
} chunk_stats_t;

/* Chunk attributes (cblk_get_attrs). */
#define CFLSH_ATTR_UNMAP 0x0001ULL     /* flags1: the chunk supports unmap */
#define CFLSH_ATTR_FUA   0x0002ULL     /* flags1: writes honour CBLK_ARW_FUA_FLAG (extension) */
/* flags1 (extension): the AFU reaches only the chunk's DMA areas (it runs in
 * cxlflashd or a parent process): data of buffers from cblk_dma_alloc moves
 * directly, any other buffer is copied through a staging slot. */
#define CFLSH_ATTR_DMA_STAGED 0x0004ULL
typedef struct chunk_attrs_s {
	uint64_t flags1;
	uint64_t flags2;
	uint32_t block_size;
	uint32_t num_paths;
	uint64_t max_transfer_size;    /* blocks */
	union {
		uint64_t data[64];
	};
} chunk_attrs_t;

/* Status of an asynchronous request (CBLK_ARW_USER_STATUS_FLAG). */
typedef enum {
	CBLK_ARW_STATUS_PENDING = 0,
	CBLK_ARW_STATUS_SUCCESS = 1,
	CBLK_ARW_STATUS_INVALID = 2,
	CBLK_ARW_STATUS_FAIL = 3,
} cblk_status_type_t;

typedef struct cblk_arw_status_s {
	cblk_status_type_t status;
	size_t blocks_transferred;
	int fail_errno;
} cblk_arw_status_t;

/* One request of cblk_listio(). */
typedef struct cblk_io {
	uint8_t version;               /* 0 */
	int flags;                     /* CBLK_IO_* */
	uint8_t request_type;          /* CBLK_IO_TYPE_* */
	void *buf;
	cflash_offset_t lba;
	size_t nblocks;
	int tag;
	cblk_arw_status_t stat;
} cblk_io_t;

/* A request of a chunk group: which member chunk, and its tag there. */
typedef struct cflsh_cg_tag_s {
	chunk_id_t id;
	int tag;
} cflsh_cg_tag_t;

/* General flags */
#define CBLK_SCRUB_DATA_FLG       1

/* cblk_open flags */
#define CBLK_OPN_SCRUB_DATA       CBLK_SCRUB_DATA_FLG /* zero a vLUN's blocks when freed */
#define CBLK_OPN_VIRT_LUN         2     /* a virtual LUN (size 0 until cblk_set_size) */
#define CBLK_OPN_NO_INTRP_THREADS 4     /* no background thread: the caller polls */
#define CBLK_OPN_SHARE_CTXT       8     /* chunks of this process may share a context */
#define CBLK_OPN_RESERVE          0x10  /* AIX only */
#define CBLK_OPN_FORCED_RESERVE   0x20  /* AIX only */
#define CBLK_OPN_MPIO_FO          0x40
#define CBLK_OPN_GROUP            0x100 /* open a chunk group of ext chunks */

/* Chunk group dispatch flags, accepted by every plain call */
#define CBLK_GROUP_ID             0x100 /* the id is a chunk group's */
#define CBLK_GROUP_RAID0          0x200 /* the id is a RAID0 group's */
#define CBLK_GROUP_MASK           (CBLK_GROUP_ID | CBLK_GROUP_RAID0)

/* cblk_aread / cblk_awrite / cblk_aunmap flags */
#define CBLK_ARW_WAIT_CMD_FLAGS   1     /* wait for a free command instead of EWOULDBLOCK */
#define CBLK_ARW_USER_TAG_FLAG    2     /* *tag is the caller's */
#define CBLK_ARW_USER_STATUS_FLAG 4     /* write *status at completion */
/* Extension (not IBM's), also taken by cblk_write: the write is durable when
 * it completes (SCSI FUA), as if cblk_sync() had followed it, but without
 * making other writes durable. Ignored on reads and unmaps. */
#define CBLK_ARW_FUA_FLAG         0x1000
/* Extension (not IBM's): the caller waits for this request next
 * (cblk_aresult), so it goes in without ringing the AFU's doorbell; the
 * next cblk_aresult or cblk_listio of the chunk (blocking or not), any
 * synchronous call's wait, or a request issued without the flag starts it.
 * In embedded mode the wait then runs the AFU's work on the waiting thread
 * when the AFU thread sleeps: several requests issued with the flag and then
 * waited for cost no wake-up of the AFU thread and no hand-off between CPUs.
 * Once such a run had to wait for a device (a file LUN), the next 256
 * requests with the flag ring at once (the AFU thread overlaps the device's
 * time with the caller's work).
 * Through cxlflashd, or with CBLK_ARW_USER_STATUS_FLAG, the doorbell is
 * rung at once, as without the flag. */
#define CBLK_ARW_DEFER_FLAG       0x2000

/* cblk_aresult flags */
#define CBLK_ARESULT_NEXT_TAG     1     /* any completed request; its tag in *tag */
#define CBLK_ARESULT_BLOCKING     2     /* wait for completion */
#define CBLK_ARESULT_USER_TAG     4     /* *tag is a caller's tag */
#define CBLK_ARESULT_NO_HARVEST   8     /* only look at requests already reaped */

/* cblk_listio flags and cblk_io_t fields */
#define CBLK_LISTIO_WAIT_ISSUE_CMD 1    /* wait for free commands to issue */
#define CBLK_IO_USER_TAG          0x1
#define CBLK_IO_USER_STATUS       0x2
#define CBLK_IO_PRIORITY_REQ      0x4
#define CBLK_IO_TYPE_READ         0x01
#define CBLK_IO_TYPE_WRITE        0x02
#define CBLK_IO_TYPE_UNMAP        0x03

/* Library set-up and tear-down; kept for compatibility, nothing to do. */
int cblk_init(void *arg, uint64_t flags);
int cblk_term(void *arg, uint64_t flags);

/*
 * cblk_open() - open @path as a chunk with @max_num_requests commands
 * (0 = 64, at most 8192 else ENOMEM), @mode O_RDONLY/O_WRONLY/O_RDWR.
 * CBLK_OPN_VIRT_LUN makes a virtual LUN of size 0; CBLK_OPN_GROUP opens a
 * chunk group of @ext chunks instead.
 */
chunk_id_t cblk_open(const char *path, int max_num_requests, int mode, chunk_ext_arg_t ext,
		     int flags);
/* cblk_close() - release the chunk (a vLUN's blocks go back). EBUSY if commands stay active. */
int cblk_close(chunk_id_t chunk_id, int flags);

int cblk_get_lun_size(chunk_id_t chunk_id, size_t *nblocks, int flags);
int cblk_get_size(chunk_id_t chunk_id, size_t *nblocks, int flags);
/* cblk_set_size() - resize a virtual LUN (growing keeps data); EINVAL on a physical one. */
int cblk_set_size(chunk_id_t chunk_id, size_t nblocks, int flags);
int cblk_get_stats(chunk_id_t chunk_id, chunk_stats_t *stats, int flags);
int cblk_get_attrs(chunk_id_t chunk_id, chunk_attrs_t *attrs, int flags);

/* Synchronous I/O: return the blocks transferred, or -1. */
int cblk_read(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int flags);
int cblk_write(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int flags);
/* cblk_unmap() - WRITE SAME with UNMAP of one 4 KiB @buf over the range. */
int cblk_unmap(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int flags);

/* Asynchronous I/O: 0 = issued (its tag in *tag), > 0 = already complete, -1 = error. */
int cblk_aread(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int *tag,
	       cblk_arw_status_t *status, int flags);
int cblk_awrite(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int *tag,
		cblk_arw_status_t *status, int flags);
int cblk_aunmap(chunk_id_t chunk_id, void *buf, cflash_offset_t lba, size_t nblocks, int *tag,
		cblk_arw_status_t *status, int flags);
/* cblk_aresult() - > 0 blocks when complete, 0 not yet, -1 the request failed (errno). */
int cblk_aresult(chunk_id_t chunk_id, int *tag, uint64_t *status, int flags);

/* cblk_listio() - issue a list of requests and wait for some or all of them.
 * EINVAL, before anything is issued, unless *completion_items (not NULL) +
 * wait_items >= issue_items + pending_items, at least one list is non-empty
 * and every issue item has a buffer. */
int cblk_listio(chunk_id_t chunk_id,
		cblk_io_t *issue_io_list[], int issue_items,
		cblk_io_t *pending_io_list[], int pending_items,
		cblk_io_t *wait_io_list[], int wait_items,
		cblk_io_t *completion_io_list[], int *completion_items,
		uint64_t timeout, int flags);

/* cblk_clone_after_fork() - in a forked child: keep using the parent's chunk
 * with @mode equal to or less than the parent's. */
int cblk_clone_after_fork(chunk_id_t chunk_id, int mode, int flags);

/* Chunk groups: @num_chunks chunks of one LUN used round-robin, or RAID0. */
chunk_cg_id_t cblk_cg_open(const char *path, int max_num_requests, int mode, int num_chunks,
			   chunk_ext_arg_t ext, int flags);
int cblk_cg_close(chunk_cg_id_t cgid, int flags);
int cblk_cg_get_stats(chunk_cg_id_t cgid, chunk_stats_t *stats, int flags);
int cblk_cg_get_lun_size(chunk_cg_id_t cgid, size_t *nblocks, int flags);
int cblk_cg_get_size(chunk_cg_id_t cgid, size_t *nblocks, int flags);
int cblk_cg_set_size(chunk_cg_id_t cgid, size_t nblocks, int flags);
int cblk_cg_get_num_chunks(chunk_cg_id_t cgid, int flags);
int cblk_cg_get_attrs(chunk_cg_id_t cgid, chunk_attrs_t *attrs, int flags);
int cblk_cg_read(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks, int flags);
int cblk_cg_write(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks, int flags);
int cblk_cg_unmap(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks, int flags);
int cblk_cg_aread(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks,
		  cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags);
int cblk_cg_awrite(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks,
		   cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags);
int cblk_cg_aunmap(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks,
		   cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags);

/*
 * Extension beyond IBM's API (IBM's library had no flush):
 * cblk_sync() - SYNCHRONIZE CACHE(16) on the chunk: when it returns 0, every
 * write that completed before the call is durable in the backend. With
 * CBLK_GROUP_ID / CBLK_GROUP_RAID0 in @flags it is cblk_cg_sync(), which
 * flushes every member. Return: 0, or -1 with errno (EINVAL bad id or
 * closing chunk, EIO failed chunk or flush).
 */
int cblk_sync(chunk_id_t chunk_id, int flags);
int cblk_cg_sync(chunk_cg_id_t cgid, int flags);
int cblk_cg_aresult(chunk_cg_id_t cgid, cflsh_cg_tag_t *ptag, uint64_t *status, int flags);
int cblk_cg_clone_after_fork(chunk_cg_id_t cgid, int mode, int flags);

/*
 * Extension beyond IBM's API (as SPDK's spdk_dma_malloc):
 * cblk_dma_alloc() - @size bytes (rounded up to 4 KiB pages, page aligned)
 * in the process's DMA buffer area. When cxlflashd (or a parent process)
 * runs the AFU, the data of a cblk_read / cblk_write / async / listio call
 * whose buffer lies wholly in one such buffer moves straight between the
 * backend and the buffer; any other buffer is copied through a staging
 * slot, as before. In-process (embedded mode) every buffer is reached
 * directly; the call still returns buffer-area memory. The buffer serves
 * every chunk and chunk group of the process. @chunk_id: an open chunk, or
 * with CBLK_GROUP_ID / CBLK_GROUP_RAID0 in @flags a chunk group (no other
 * flags). Contents survive daemon restarts and context recovery; after
 * fork() a child has a private copy (no longer in a DMA area).
 * The area is CFLSH_BLK_DMA_SIZE bytes (default 64 MiB).
 * Return: the buffer (new pages read as zeroes), or NULL with errno
 * (EINVAL bad chunk, size 0 or flags; ENOMEM the area is full or absent).
 */
void *cblk_dma_alloc(chunk_id_t chunk_id, size_t size, int flags);
/*
 * cblk_dma_free() - give back a buffer of cblk_dma_alloc (NULL: nothing).
 * @flags: 0. Return: 0, or -1 with errno EINVAL (not the start of a live
 * buffer of cblk_dma_alloc: never allocated, freed already, or @flags).
 */
int cblk_dma_free(void *buf, int flags);

#ifdef __cplusplus
}
#endif

#endif /* CAPIBLOCK_H */
