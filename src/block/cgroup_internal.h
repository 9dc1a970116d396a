/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_internal.h - chunk groups inside libcflsh_block: the group object
 * shared by cgroup.c (the group table, round-robin groups, cblk_cg_*) and
 * raid0.c (RAID0 path parsing and striping), and the int-tag helpers the
 * core's plain calls use when they are handed a group id.
 *
 * Terminology: a *group* is a set of *member* chunks opened by
 * cblk_cg_open() and used as one. A round-robin group holds num_chunks
 * chunks of one LUN (each its own context) and sends each request to the
 * next member. A RAID0 group holds one chunk per device of a "a:b:..."
 * path and stripes blocks over them, one block per stripe unit: group
 * block L lives on member L % N at member block L / N.
 *
 * Group ids come from their own counter (0, 1, ...) and are never reused;
 * they share the number space of chunk ids, so a call tells them apart by
 * CBLK_GROUP_ID / CBLK_GROUP_RAID0 in its flags.
 */
#ifndef CFLSH_BLOCK_CGROUP_INTERNAL_H
#define CFLSH_BLOCK_CGROUP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <capiblock.h>

#define CG_BLOCK_SIZE   4096u
#define CG_MAX_CHUNKS   64      /* members of a round-robin group */
#define CG_R0_MAX_DEV   8       /* members of a RAID0 group (IBM's limit) */
#define CG_TAG_SHIFT    6       /* int tag = member tag << 6 | member index */
#define CG_WAIT_SECS    50      /* cblk_cg_aresult NEXT_TAG|BLOCKING gives up: ETIME */

enum cg_kind {
	CG_ROUND_ROBIN,
	CG_RAID0,
};

/* One open group. Members and kind are fixed from open to close. */
struct cgroup {
	chunk_cg_id_t id;
	enum cg_kind kind;
	int n;                          /* number of members */
	chunk_id_t member[CG_MAX_CHUNKS];
	uint64_t mts;                   /* smallest member max_transfer_size (blocks) */
	atomic_uint next;               /* round-robin cursor for requests */
	atomic_uint scan;               /* where the next NEXT_TAG scan starts */
	_Atomic size_t r0_size;         /* RAID0: min(member size) * n, in blocks */
	int refs;                       /* calls in progress (table lock) */
	bool closing;                   /* cblk_cg_close under way (table lock) */
	struct cgroup *hnext;           /* hash chain (table lock) */
};

/* cgroup.c */
struct cgroup *cg_get(chunk_cg_id_t id);
void cg_put(struct cgroup *g);
int cg_member_index(const struct cgroup *g, chunk_id_t cid);

/* raid0.c */
int r0_split_path(const char *path, char *names[CG_R0_MAX_DEV], bool allow_dup);
void r0_free_names(char *names[CG_R0_MAX_DEV]);
int r0_refresh_size(struct cgroup *g, size_t *nblocks);
int r0_lun_size(struct cgroup *g, size_t *nblocks);
/* The smallest size any member reports through @get (cblk_get_size or
 * cblk_get_lun_size). Return 0 or -1 with errno. */
int min_member_size(struct cgroup *g, size_t *out, int (*get)(chunk_id_t, size_t *, int));
int r0_set_size(struct cgroup *g, size_t nblocks, int flags);
int r0_rw(struct cgroup *g, int type, void *buf, cflash_offset_t lba, size_t nblocks,
	  int flags);
int r0_arw(struct cgroup *g, int type, void *buf, cflash_offset_t lba, size_t nblocks,
	   cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags);

/*
 * Int-tag forms for the core's plain calls. cblk_aread()/cblk_awrite()/
 * cblk_aunmap()/cblk_aresult() take an int tag; when their flags carry
 * CBLK_GROUP_MASK the core calls these, which pack the group tag
 * {member chunk, member tag} into one int as (member tag << CG_TAG_SHIFT) |
 * member index, and unpack it again in cgroup_aresult_itag(). @type is
 * CBLK_IO_TYPE_READ, CBLK_IO_TYPE_WRITE or CBLK_IO_TYPE_UNMAP. Same returns
 * as the cblk_cg_* calls.
 */
int cgroup_arw_itag(chunk_cg_id_t cgid, int type, void *buf, cflash_offset_t lba,
		    size_t nblocks, int *tag, cblk_arw_status_t *status, int flags);
int cgroup_aresult_itag(chunk_cg_id_t cgid, int *tag, uint64_t *status, int flags);

#endif /* CFLSH_BLOCK_CGROUP_INTERNAL_H */
