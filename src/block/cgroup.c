/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup.c - chunk groups (cblk_cg_*): several chunks used as one. This
 * file holds the group table (ids, lookup, reference counts), open and
 * close, the round-robin groups and the calls common to both kinds: sizes,
 * merged statistics and attributes, and cblk_cg_aresult(). RAID0 striping
 * is in raid0.c; the terms are explained in cgroup_internal.h.
 *
 * A group is built only from public cblk_* calls on its member chunks, so
 * every member keeps the core's semantics (bounds, modes, queue depth,
 * completion model). The flags of a cblk_cg_* call are passed to the
 * members without CBLK_GROUP_MASK. The kind of a group is fixed at open:
 * a RAID0 group stripes whether or not a later call repeats
 * CBLK_GROUP_RAID0.
 *
 * An asynchronous request of a group is named by a cflsh_cg_tag_t: the
 * member chunk that runs it and that chunk's tag. cblk_cg_aresult() with a
 * tag asks that member; with CBLK_ARESULT_NEXT_TAG it scans the members for
 * any completed request.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <capiblock.h>

#include "block/cgroup_internal.h"
#include "util/clock.h"

#define CG_HASH_BUCKETS 64

static pthread_mutex_t cg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cg_idle = PTHREAD_COND_INITIALIZER;
static struct cgroup *cg_hash[CG_HASH_BUCKETS];
static chunk_cg_id_t cg_next_id;

static struct cgroup **cg_slot(chunk_cg_id_t id)
{
	struct cgroup **pp = &cg_hash[(unsigned)id % CG_HASH_BUCKETS];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

/**
 * cg_get() - look up a group and hold it for the length of one call.
 * @id: the group id.
 *
 * A held group is not freed: cblk_cg_close() waits for every holder.
 *
 * Return: the group, or NULL with errno EINVAL if @id names no open group.
 */
struct cgroup *cg_get(chunk_cg_id_t id)
{
	struct cgroup *g = NULL;

	if (id >= 0) {
		pthread_mutex_lock(&cg_lock);
		g = *cg_slot(id);
		if (g && g->closing)
			g = NULL;
		if (g)
			g->refs++;
		pthread_mutex_unlock(&cg_lock);
	}
	if (!g)
		errno = EINVAL;
	return g;
}

/* cg_put() - drop the hold of cg_get(); errno is preserved. */
void cg_put(struct cgroup *g)
{
	int err = errno;

	pthread_mutex_lock(&cg_lock);
	if (--g->refs == 0 && g->closing)
		pthread_cond_broadcast(&cg_idle);
	pthread_mutex_unlock(&cg_lock);
	errno = err;
}

/* cg_member_index() - the index of chunk @cid in @g, or -1. */
int cg_member_index(const struct cgroup *g, chunk_id_t cid)
{
	for (int i = 0; i < g->n; i++)
		if (g->member[i] == cid)
			return i;
	return -1;
}

/* The member for the next request of a round-robin group. */
static chunk_id_t rr_member(struct cgroup *g)
{
	return g->member[atomic_fetch_add_explicit(&g->next, 1, memory_order_relaxed) %
			 (unsigned)g->n];
}

static void close_members(struct cgroup *g, int count, int flags)
{
	for (int i = count - 1; i >= 0; i--)
		cblk_close(g->member[i], flags);
}

/**
 * cg_open_members() - open the members of a new group.
 * @g: the group; kind and n set, member[] filled here.
 * @names: one path per member (RAID0), or NULL to open @path n times.
 * @path: the path of every member of a round-robin group.
 * @max_num_requests, @mode, @ext, @flags: passed to cblk_open().
 *
 * Also records the smallest max_transfer_size of the members.
 *
 * Return: 0, or -1 with errno from the failing cblk_open() (members opened
 * before it are closed again).
 */
static int cg_open_members(struct cgroup *g, char **names, const char *path,
			   int max_num_requests, int mode, chunk_ext_arg_t ext, int flags)
{
	g->mts = UINT64_MAX;
	for (int i = 0; i < g->n; i++) {
		chunk_attrs_t attrs;

		g->member[i] = cblk_open(names ? names[i] : path, max_num_requests, mode, ext,
					 flags);
		if (g->member[i] == NULL_CHUNK_ID) {
			int err = errno;

			close_members(g, i, 0);
			errno = err;
			return -1;
		}
		memset(&attrs, 0, sizeof(attrs));
		if (cblk_get_attrs(g->member[i], &attrs, 0) == 0 && attrs.max_transfer_size &&
		    attrs.max_transfer_size < g->mts)
			g->mts = attrs.max_transfer_size;
	}
	if (g->mts == UINT64_MAX)
		g->mts = 1;
	return 0;
}

/**
 * cblk_cg_open() - open a chunk group.
 * @path: the LUN of a round-robin group, or "dev1:dev2:..." for RAID0.
 * @max_num_requests: commands per member chunk (as cblk_open()).
 * @mode: O_RDONLY, O_WRONLY or O_RDWR.
 * @num_chunks: members of a round-robin group (1..64); ignored for RAID0,
 *	whose members are the devices of @path (1..8).
 * @ext: passed to every member's cblk_open().
 * @flags: cblk_open() flags for the members, plus CBLK_GROUP_RAID0 for a
 *	RAID0 group. A round-robin group is physical: CBLK_OPN_VIRT_LUN is
 *	EINVAL. RAID0 members may be virtual (size 0 until cblk_cg_set_size).
 *
 * Return: the group id, or NULL_CHUNK_ID with errno (EINVAL for bad
 * arguments, ENODEV for IBM's "RAID0[:N]" device discovery, else the
 * errno of the member open that failed).
 */
chunk_cg_id_t cblk_cg_open(const char *path, int max_num_requests, int mode, int num_chunks,
			   chunk_ext_arg_t ext, int flags)
{
	char *names[CG_R0_MAX_DEV] = {0};
	int mflags = flags & ~(CBLK_GROUP_MASK | CBLK_OPN_GROUP);
	struct cgroup *g;
	int rc;

	if (!path || !*path) {
		errno = EINVAL;
		return NULL_CHUNK_ID;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		errno = ENOMEM;
		return NULL_CHUNK_ID;
	}
	if (flags & CBLK_GROUP_RAID0) {
		g->kind = CG_RAID0;
		g->n = r0_split_path(path, names, flags & CBLK_OPN_VIRT_LUN);
		if (g->n < 0) {
			free(g);
			return NULL_CHUNK_ID;
		}
		rc = cg_open_members(g, names, NULL, max_num_requests, mode, ext, mflags);
		r0_free_names(names);
		if (rc == 0 && r0_refresh_size(g, NULL) < 0) {
			int err = errno;

			close_members(g, g->n, 0);
			errno = err;
			rc = -1;
		}
	} else {
		if (num_chunks < 1 || num_chunks > CG_MAX_CHUNKS || (flags & CBLK_OPN_VIRT_LUN)) {
			free(g);
			errno = EINVAL;
			return NULL_CHUNK_ID;
		}
		g->kind = CG_ROUND_ROBIN;
		g->n = num_chunks;
		rc = cg_open_members(g, NULL, path, max_num_requests, mode, ext, mflags);
	}
	if (rc < 0) {
		free(g);
		return NULL_CHUNK_ID;
	}

	pthread_mutex_lock(&cg_lock);
	g->id = cg_next_id++;
	if (cg_next_id < 0)
		cg_next_id = 0; /* wrapped after 2^31 opens */
	*cg_slot(g->id) = g;
	pthread_mutex_unlock(&cg_lock);
	return g->id;
}

/**
 * cblk_cg_close() - close a group and all its members.
 * @cgid: the group.
 * @flags: passed to each member's cblk_close() (without CBLK_GROUP_MASK).
 *
 * New calls on the group fail with EINVAL from here on; calls already
 * inside the group finish first. Each member is closed with cblk_close(),
 * which waits up to 5 s for its commands. If a member cannot be closed
 * (EBUSY), the group stays open with the members that did close marked
 * gone (requests reaching them fail with EINVAL) and the call fails; a
 * later cblk_cg_close() closes the rest.
 *
 * Return: 0, or -1 with errno (EINVAL bad id, else the failing member's).
 */
int cblk_cg_close(chunk_cg_id_t cgid, int flags)
{
	struct cgroup *g;
	int err = 0;

	pthread_mutex_lock(&cg_lock);
	g = cgid >= 0 ? *cg_slot(cgid) : NULL;
	if (!g || g->closing) {
		pthread_mutex_unlock(&cg_lock);
		errno = EINVAL;
		return -1;
	}
	g->closing = true;
	while (g->refs)
		pthread_cond_wait(&cg_idle, &cg_lock);
	pthread_mutex_unlock(&cg_lock);

	flags &= ~CBLK_GROUP_MASK;
	for (int i = 0; i < g->n; i++) {
		if (g->member[i] == NULL_CHUNK_ID)
			continue;
		if (cblk_close(g->member[i], flags) < 0) {
			if (!err)
				err = errno;
			continue;
		}
		g->member[i] = NULL_CHUNK_ID;
	}

	pthread_mutex_lock(&cg_lock);
	if (err) {
		g->closing = false;
		g = NULL;
	} else {
		*cg_slot(cgid) = g->hnext;
	}
	pthread_mutex_unlock(&cg_lock);
	free(g);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/**
 * cblk_cg_get_num_chunks() - how many member chunks a group has.
 * @cgid: the group.
 * @flags: unused.
 *
 * Return: the number of members (>= 1), or -1 with errno EINVAL.
 */
int cblk_cg_get_num_chunks(chunk_cg_id_t cgid, int flags)
{
	struct cgroup *g = cg_get(cgid);
	int n;

	(void)flags;
	if (!g)
		return -1;
	n = g->n;
	cg_put(g);
	return n;
}

/* The smallest value of a member size getter over all members. */
int min_member_size(struct cgroup *g, size_t *out, int (*get)(chunk_id_t, size_t *, int))
{
	size_t min = SIZE_MAX;

	for (int i = 0; i < g->n; i++) {
		size_t s;

		if (get(g->member[i], &s, 0) < 0)
			return -1;
		if (s < min)
			min = s;
	}
	*out = min;
	return 0;
}

/**
 * cblk_cg_get_lun_size() - the size of the LUN behind a group, in blocks.
 * @cgid: the group.
 * @nblocks: where to store the size.
 * @flags: group flags.
 *
 * A round-robin group reports its LUN's size; a RAID0 group the smallest
 * member LUN times the number of members (the capacity it can stripe).
 *
 * Return: 0, or -1 with errno EINVAL.
 */
int cblk_cg_get_lun_size(chunk_cg_id_t cgid, size_t *nblocks, int flags)
{
	struct cgroup *g;
	int rc;

	(void)flags;
	if (!nblocks) {
		errno = EINVAL;
		return -1;
	}
	g = cg_get(cgid);
	if (!g)
		return -1;
	if (g->kind == CG_RAID0)
		rc = r0_lun_size(g, nblocks);
	else
		rc = min_member_size(g, nblocks, cblk_get_lun_size);
	cg_put(g);
	return rc;
}

/**
 * cblk_cg_get_size() - the usable size of a group, in blocks.
 * @cgid: the group.
 * @nblocks: where to store the size.
 * @flags: group flags.
 *
 * A round-robin group has the size of its members (they are one LUN); a
 * RAID0 group min(member size) * members.
 *
 * Return: 0, or -1 with errno EINVAL.
 */
int cblk_cg_get_size(chunk_cg_id_t cgid, size_t *nblocks, int flags)
{
	struct cgroup *g;
	int rc;

	(void)flags;
	if (!nblocks) {
		errno = EINVAL;
		return -1;
	}
	g = cg_get(cgid);
	if (!g)
		return -1;
	if (g->kind == CG_RAID0)
		rc = r0_refresh_size(g, nblocks);
	else
		rc = min_member_size(g, nblocks, cblk_get_size);
	cg_put(g);
	return rc;
}

/**
 * cblk_cg_set_size() - resize the virtual members of a group.
 * @cgid: the group.
 * @nblocks: the new size of the group, in blocks.
 * @flags: group flags; the rest are passed to cblk_set_size().
 *
 * RAID0: each member becomes ceil(@nblocks / members) blocks, so the group
 * is at least @nblocks. A round-robin group is physical, and its members
 * refuse (EINVAL) as cblk_set_size() does on a physical chunk.
 *
 * Return: 0, or -1 with errno (EINVAL, or the member's, e.g. ENOSPC/ENOMEM).
 */
int cblk_cg_set_size(chunk_cg_id_t cgid, size_t nblocks, int flags)
{
	struct cgroup *g = cg_get(cgid);
	int rc = 0;

	if (!g)
		return -1;
	flags &= ~CBLK_GROUP_MASK;
	if (g->kind == CG_RAID0) {
		rc = r0_set_size(g, nblocks, flags);
	} else {
		for (int i = 0; i < g->n && rc == 0; i++)
			rc = cblk_set_size(g->member[i], nblocks, flags);
	}
	cg_put(g);
	return rc;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Add member statistics @s into the group's @t (see cblk_cg_get_stats). */
static void stats_merge(chunk_stats_t *t, const chunk_stats_t *s)
{
#define SUM(f) (t->f += s->f)
#define MAX(f) (t->f = max64(t->f, s->f))
	SUM(num_reads);
	SUM(num_writes);
	SUM(num_areads);
	SUM(num_awrites);
	SUM(num_act_reads);
	SUM(num_act_writes);
	SUM(num_act_areads);
	SUM(num_act_awrites);
	MAX(max_num_act_writes);
	MAX(max_num_act_reads);
	MAX(max_num_act_awrites);
	MAX(max_num_act_areads);
	SUM(num_blocks_read);
	SUM(num_blocks_written);
	SUM(num_errors);
	SUM(num_aresult_no_cmplt);
	SUM(num_retries);
	SUM(num_timeouts);
	SUM(num_fail_timeouts);
	SUM(num_no_cmds_free);
	SUM(num_no_cmd_room);
	SUM(num_no_cmds_free_fail);
	SUM(num_fc_errors);
	SUM(num_port0_linkdowns);
	SUM(num_port1_linkdowns);
	SUM(num_port0_no_logins);
	SUM(num_port1_no_logins);
	SUM(num_port0_fc_errors);
	SUM(num_port1_fc_errors);
	SUM(num_cc_errors);
	SUM(num_afu_errors);
	SUM(num_capi_false_reads);
	SUM(num_capi_read_fails);
	SUM(num_capi_adap_resets);
	SUM(num_capi_adap_chck_err);
	SUM(num_capi_reserved_errs);
	SUM(num_capi_data_st_errs);
	SUM(num_capi_afu_errors);
	SUM(num_capi_afu_intrpts);
	SUM(num_capi_unexp_afu_intrpts);
	SUM(num_success_threads);
	SUM(num_failed_threads);
	SUM(num_canc_threads);
	SUM(num_fail_canc_threads);
	SUM(num_fail_detach_threads);
	SUM(num_active_threads);
	MAX(max_num_act_threads);
	SUM(num_cache_hits);
	SUM(num_reset_contexts);
	SUM(num_reset_contxt_fails);
	SUM(num_path_fail_overs);
#undef SUM
#undef MAX
}

/**
 * cblk_cg_get_stats() - statistics of a group: its members' merged.
 * @cgid: the group.
 * @stats: where to store them.
 * @flags: group flags.
 *
 * Counters are summed over the members, max_num_act_* and
 * max_num_act_threads are the largest member value, block_size, num_paths
 * and primary_path_id are the first member's and max_transfer_size the
 * smallest member's.
 *
 * Return: 0, or -1 with errno EINVAL.
 */
int cblk_cg_get_stats(chunk_cg_id_t cgid, chunk_stats_t *stats, int flags)
{
	struct cgroup *g;
	chunk_stats_t s;
	int rc = 0;

	(void)flags;
	if (!stats) {
		errno = EINVAL;
		return -1;
	}
	g = cg_get(cgid);
	if (!g)
		return -1;
	memset(stats, 0, sizeof(*stats));
	for (int i = 0; i < g->n; i++) {
		if (cblk_get_stats(g->member[i], &s, 0) < 0) {
			rc = -1;
			break;
		}
		if (i == 0) {
			stats->block_size = s.block_size;
			stats->num_paths = s.num_paths;
			stats->primary_path_id = s.primary_path_id;
			stats->max_transfer_size = s.max_transfer_size;
		} else if (s.max_transfer_size < stats->max_transfer_size) {
			stats->max_transfer_size = s.max_transfer_size;
		}
		stats_merge(stats, &s);
	}
	cg_put(g);
	return rc;
}

/**
 * cblk_cg_get_attrs() - attributes of a group.
 * @cgid: the group.
 * @attrs: where to store them.
 * @flags: group flags.
 *
 * flags1/flags2 hold what every member has (CFLSH_ATTR_UNMAP only if all
 * members can unmap); block_size and num_paths are the first member's,
 * max_transfer_size the smallest member's.
 *
 * Return: 0, or -1 with errno EINVAL.
 */
int cblk_cg_get_attrs(chunk_cg_id_t cgid, chunk_attrs_t *attrs, int flags)
{
	struct cgroup *g;
	chunk_attrs_t a;
	int rc = 0;

	(void)flags;
	if (!attrs) {
		errno = EINVAL;
		return -1;
	}
	g = cg_get(cgid);
	if (!g)
		return -1;
	memset(attrs, 0, sizeof(*attrs));
	for (int i = 0; i < g->n; i++) {
		memset(&a, 0, sizeof(a));
		if (cblk_get_attrs(g->member[i], &a, 0) < 0) {
			rc = -1;
			break;
		}
		if (i == 0) {
			*attrs = a;
			continue;
		}
		attrs->flags1 &= a.flags1;
		attrs->flags2 &= a.flags2;
		if (a.max_transfer_size < attrs->max_transfer_size)
			attrs->max_transfer_size = a.max_transfer_size;
	}
	cg_put(g);
	return rc;
}

/* One synchronous request of a round-robin group on its next member. */
static int rr_rw(struct cgroup *g, int type, void *buf, cflash_offset_t lba, size_t nblocks,
		 int flags)
{
	chunk_id_t cid = rr_member(g);

	switch (type) {
	case CBLK_IO_TYPE_READ:
		return cblk_read(cid, buf, lba, nblocks, flags);
	case CBLK_IO_TYPE_WRITE:
		return cblk_write(cid, buf, lba, nblocks, flags);
	default:
		return cblk_unmap(cid, buf, lba, nblocks, flags);
	}
}

static int cg_rw(chunk_cg_id_t cgid, int type, void *buf, cflash_offset_t lba, size_t nblocks,
		 int flags)
{
	struct cgroup *g = cg_get(cgid);
	int rc;

	if (!g)
		return -1;
	flags &= ~CBLK_GROUP_MASK;
	if (g->kind == CG_RAID0)
		rc = r0_rw(g, type, buf, lba, nblocks, flags);
	else
		rc = rr_rw(g, type, buf, lba, nblocks, flags);
	cg_put(g);
	return rc;
}

/**
 * cblk_cg_read() - synchronous read through a group.
 * @cgid: the group.
 * @buf: @nblocks * 4 KiB of memory.
 * @lba: the first group block.
 * @nblocks: blocks to read.
 * @flags: group flags; the rest go to cblk_read().
 *
 * A round-robin group sends the request to its next member (limits are the
 * member's: max_transfer_size, bounds). A RAID0 group reads each member's
 * share of the range, in pieces of at most the members' max_transfer_size.
 *
 * Return: @nblocks, or -1 with errno (EINVAL for a bad id, a NULL @buf or a
 * range beyond the group; else the member's errno).
 */
int cblk_cg_read(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks, int flags)
{
	return cg_rw(cgid, CBLK_IO_TYPE_READ, buf, lba, nblocks, flags);
}

/* cblk_cg_write() - synchronous write through a group; as cblk_cg_read(). */
int cblk_cg_write(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks, int flags)
{
	return cg_rw(cgid, CBLK_IO_TYPE_WRITE, buf, lba, nblocks, flags);
}

/* cblk_cg_unmap() - unmap a range through a group (@buf: one zeroed block). */
int cblk_cg_unmap(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks, int flags)
{
	return cg_rw(cgid, CBLK_IO_TYPE_UNMAP, buf, lba, nblocks, flags);
}

/**
 * cblk_cg_sync() - flush every member of a group (an extension, as cblk_sync).
 * @cgid: the group.
 * @flags: group flags; the rest go to each member's cblk_sync().
 *
 * Every member is flushed even when one fails, so as much as possible is
 * durable; the first failure is reported.
 *
 * Return: 0, or -1 with errno (EINVAL for a bad id; else the member's).
 */
int cblk_cg_sync(chunk_cg_id_t cgid, int flags)
{
	struct cgroup *g = cg_get(cgid);
	int rc = 0, err = 0;

	if (!g)
		return -1;
	flags &= ~CBLK_GROUP_MASK;
	for (int i = 0; i < g->n; i++) {
		if (cblk_sync(g->member[i], flags) < 0 && !err) {
			err = errno;
			rc = -1;
		}
	}
	cg_put(g);
	if (rc)
		errno = err;
	return rc;
}

/**
 * cg_arw() - issue an asynchronous request through a group.
 * @cgid: the group.
 * @type: CBLK_IO_TYPE_READ, _WRITE or _UNMAP.
 * @buf, @lba, @nblocks, @status: as cblk_aread().
 * @ptag: out: {member chunk, its tag}. In: with CBLK_ARW_USER_TAG_FLAG,
 *	ptag->tag is the caller's tag for the member.
 * @flags: group flags; the rest go to the member.
 *
 * Round-robin groups send it to the next member; RAID0 to the member that
 * holds @lba (one block at most).
 *
 * Return: 0 issued, > 0 already complete, -1 with errno (ptag->tag = -1).
 */
static int cg_arw(chunk_cg_id_t cgid, int type, void *buf, cflash_offset_t lba, size_t nblocks,
		  cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags)
{
	struct cgroup *g;
	chunk_id_t cid;
	int rc, ctag;

	if (!ptag) {
		errno = EINVAL;
		return -1;
	}
	g = cg_get(cgid);
	if (!g) {
		ptag->tag = -1;
		return -1;
	}
	flags &= ~CBLK_GROUP_MASK;
	if (g->kind == CG_RAID0) {
		rc = r0_arw(g, type, buf, lba, nblocks, ptag, status, flags);
		cg_put(g);
		return rc;
	}
	cid = rr_member(g);
	ctag = (flags & CBLK_ARW_USER_TAG_FLAG) ? ptag->tag : 0;
	switch (type) {
	case CBLK_IO_TYPE_READ:
		rc = cblk_aread(cid, buf, lba, nblocks, &ctag, status, flags);
		break;
	case CBLK_IO_TYPE_WRITE:
		rc = cblk_awrite(cid, buf, lba, nblocks, &ctag, status, flags);
		break;
	default:
		rc = cblk_aunmap(cid, buf, lba, nblocks, &ctag, status, flags);
		break;
	}
	ptag->id = cid;
	ptag->tag = rc < 0 ? -1 : ctag;
	cg_put(g);
	return rc;
}

/**
 * cblk_cg_aread() - asynchronous read through a group.
 * @cgid: the group.
 * @buf: @nblocks * 4 KiB of memory.
 * @lba: the first group block.
 * @nblocks: blocks to read; 1 at most for a RAID0 group (else EINVAL).
 * @ptag: out: the request's {member chunk id, member tag}, for
 *	cblk_cg_aresult() (or cblk_aresult() on that member).
 * @status: as cblk_aread() (CBLK_ARW_USER_STATUS_FLAG).
 * @flags: group flags plus cblk_aread() flags.
 *
 * Return: 0 issued, > 0 already complete, -1 with errno.
 */
int cblk_cg_aread(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks,
		  cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags)
{
	return cg_arw(cgid, CBLK_IO_TYPE_READ, buf, lba, nblocks, ptag, status, flags);
}

/* cblk_cg_awrite() - asynchronous write through a group; as cblk_cg_aread(). */
int cblk_cg_awrite(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks,
		   cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags)
{
	return cg_arw(cgid, CBLK_IO_TYPE_WRITE, buf, lba, nblocks, ptag, status, flags);
}

/* cblk_cg_aunmap() - asynchronous unmap through a group; as cblk_cg_aread(). */
int cblk_cg_aunmap(chunk_cg_id_t cgid, void *buf, cflash_offset_t lba, size_t nblocks,
		   cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags)
{
	return cg_arw(cgid, CBLK_IO_TYPE_UNMAP, buf, lba, nblocks, ptag, status, flags);
}

/* Back off while polling: spin, then yield, then sleep a little. */
static void poll_backoff(unsigned *round)
{
	if (*round < 64) {
		/* spin */
	} else if (*round < 2048) {
		sched_yield();
	} else {
		struct timespec ts = { .tv_nsec = 20000 };

		nanosleep(&ts, NULL);
	}
	(*round)++;
}

/**
 * cg_next_tag() - cblk_cg_aresult() with CBLK_ARESULT_NEXT_TAG.
 * @g: the group (held).
 * @ptag: out: the completed request's {member, tag}.
 * @status: passed to the members.
 * @flags: cblk_aresult() flags of the call, without CBLK_GROUP_MASK.
 *
 * Scans the members (starting one further each call, so no member starves)
 * with a non-blocking NEXT_TAG. With CBLK_ARESULT_BLOCKING it repeats until
 * something completes: when one member alone has requests in flight it
 * waits in that member's blocking aresult, otherwise it polls them all,
 * backing off from spinning to yielding to short sleeps. After 50 s it
 * gives up with ETIME, as IBM's library did.
 *
 * Return: > 0 blocks of a completed request, 0 none complete yet (not
 * blocking), -1 with errno: the request in @ptag failed, ENOENT no member
 * has requests in flight, ETIME.
 */
static int cg_next_tag(struct cgroup *g, cflsh_cg_tag_t *ptag, uint64_t *status, int flags)
{
	int tflags = flags & ~CBLK_ARESULT_BLOCKING;
	uint64_t deadline = 0;
	unsigned round = 0;

	for (;;) {
		unsigned start = atomic_fetch_add_explicit(&g->scan, 1, memory_order_relaxed);
		int pending = 0, last = -1;

		for (int i = 0; i < g->n; i++) {
			int k = (int)((start + (unsigned)i) % (unsigned)g->n);
			int tag = -1, rc;

			rc = cblk_aresult(g->member[k], &tag, status, tflags);
			if (rc > 0 || (rc < 0 && errno != ENOENT)) {
				ptag->id = g->member[k];
				ptag->tag = tag;
				return rc;
			}
			if (rc == 0) {
				pending++;
				last = k;
			}
		}
		if (!pending) {
			errno = ENOENT;
			return -1;
		}
		if (!(flags & CBLK_ARESULT_BLOCKING))
			return 0;
		if (!deadline)
			deadline = now_ns() + CG_WAIT_SECS * 1000000000ull;
		else if (now_ns() >= deadline)
			break;
		if (pending == 1) {
			int tag = -1, rc;

			rc = cblk_aresult(g->member[last], &tag, status, flags);
			if (rc != 0 && !(rc < 0 && errno == ENOENT)) {
				ptag->id = g->member[last];
				ptag->tag = tag;
				return rc;
			}
			continue;
		}
		poll_backoff(&round);
	}
	errno = ETIME;
	return -1;
}

/**
 * cblk_cg_aresult() - the result of an asynchronous request of a group.
 * @cgid: the group.
 * @ptag: in: the request's {member chunk, tag} from cblk_cg_aread() & co.;
 *	out with CBLK_ARESULT_NEXT_TAG: the completed request's.
 * @status: as cblk_aresult().
 * @flags: group flags plus cblk_aresult() flags.
 *
 * For one request this is cblk_aresult() on its member (which must belong
 * to the group, else EINVAL), blocking there if asked. NEXT_TAG looks at
 * every member; see cg_next_tag(). The same for both kinds of group: a
 * RAID0 tag also names the member that holds the block.
 *
 * Return: > 0 blocks transferred, 0 not complete, -1 with errno.
 */
int cblk_cg_aresult(chunk_cg_id_t cgid, cflsh_cg_tag_t *ptag, uint64_t *status, int flags)
{
	struct cgroup *g;
	int rc;

	if (!ptag) {
		errno = EINVAL;
		return -1;
	}
	g = cg_get(cgid);
	if (!g)
		return -1;
	flags &= ~CBLK_GROUP_MASK;
	if (flags & CBLK_ARESULT_NEXT_TAG) {
		rc = cg_next_tag(g, ptag, status, flags);
	} else if (cg_member_index(g, ptag->id) < 0) {
		errno = EINVAL;
		rc = -1;
	} else {
		rc = cblk_aresult(ptag->id, &ptag->tag, status, flags);
	}
	cg_put(g);
	return rc;
}

/* Pack a group tag into an int for the plain calls (see cgroup_internal.h). */
static int tag_pack(chunk_cg_id_t cgid, const cflsh_cg_tag_t *t, int *tag)
{
	struct cgroup *g = cg_get(cgid);
	int idx;

	if (!g)
		return -1;
	idx = cg_member_index(g, t->id);
	cg_put(g);
	if (idx < 0 || t->tag < 0 || t->tag > (INT_MAX >> CG_TAG_SHIFT)) {
		errno = EINVAL;
		return -1;
	}
	*tag = t->tag << CG_TAG_SHIFT | idx;
	return 0;
}

/* Unpack an int tag of tag_pack() into a group tag. */
static int tag_unpack(chunk_cg_id_t cgid, int tag, cflsh_cg_tag_t *t)
{
	struct cgroup *g = cg_get(cgid);
	int idx = tag & ((1 << CG_TAG_SHIFT) - 1);
	int rc = 0;

	if (!g)
		return -1;
	if (tag < 0 || idx >= g->n) {
		errno = EINVAL;
		rc = -1;
	} else {
		t->id = g->member[idx];
		t->tag = tag >> CG_TAG_SHIFT;
	}
	cg_put(g);
	return rc;
}

/**
 * cgroup_arw_itag() - a group's asynchronous request with an int tag.
 * @cgid: the group.
 * @type: CBLK_IO_TYPE_READ, _WRITE or _UNMAP.
 * @buf, @lba, @nblocks, @status, @flags: as cblk_cg_aread().
 * @tag: out: the packed tag (in: the caller's tag with
 *	CBLK_ARW_USER_TAG_FLAG; the packed tag then carries it).
 *
 * Return: as cblk_cg_aread().
 */
int cgroup_arw_itag(chunk_cg_id_t cgid, int type, void *buf, cflash_offset_t lba,
		    size_t nblocks, int *tag, cblk_arw_status_t *status, int flags)
{
	cflsh_cg_tag_t t = { .id = NULL_CHUNK_ID, .tag = 0 };
	int rc;

	if (!tag) {
		errno = EINVAL;
		return -1;
	}
	if (flags & CBLK_ARW_USER_TAG_FLAG)
		t.tag = *tag;
	rc = cg_arw(cgid, type, buf, lba, nblocks, &t, status, flags);
	if (rc >= 0 && tag_pack(cgid, &t, tag) < 0)
		return -1;
	return rc;
}

/**
 * cgroup_aresult_itag() - cblk_cg_aresult() with a packed int tag.
 * @cgid: the group.
 * @tag: in: a tag of cgroup_arw_itag(); out with CBLK_ARESULT_NEXT_TAG:
 *	the completed request's packed tag.
 * @status, @flags: as cblk_cg_aresult().
 *
 * Return: as cblk_cg_aresult().
 */
int cgroup_aresult_itag(chunk_cg_id_t cgid, int *tag, uint64_t *status, int flags)
{
	cflsh_cg_tag_t t = { .id = NULL_CHUNK_ID, .tag = -1 };
	int rc, err;

	if (!tag) {
		errno = EINVAL;
		return -1;
	}
	if (!(flags & CBLK_ARESULT_NEXT_TAG) && tag_unpack(cgid, *tag, &t) < 0)
		return -1;
	rc = cblk_cg_aresult(cgid, &t, status, flags);
	err = errno;
	if ((flags & CBLK_ARESULT_NEXT_TAG) && t.id != NULL_CHUNK_ID && t.tag >= 0)
		tag_pack(cgid, &t, tag);
	errno = err;
	return rc;
}
