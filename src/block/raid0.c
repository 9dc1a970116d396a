/* SPDX-License-Identifier: Apache-2.0 */
/*
 * raid0.c - RAID0 chunk groups (CBLK_GROUP_RAID0): parsing "dev1:dev2:..."
 * into member names, the group size, cblk_cg_set_size() per member, and
 * striped synchronous and asynchronous I/O.
 *
 * The stripe unit is one 4 KiB block: group block L is block L / N of
 * member L % N (N members). A synchronous request over several blocks
 * touches every member's share of the range, which is contiguous on the
 * member but interleaved in the caller's buffer; it moves through a bounce
 * buffer in pieces of at most the members' max_transfer_size (or straight
 * into the caller's buffer when a piece is one block). Asynchronous
 * requests are one block, so they go to one member and their tag is that
 * member's (see cgroup.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <capiblock.h>

#include "block/cgroup_internal.h"

#define R0_BOUNCE_MAX 256       /* blocks per bounced piece (1 MiB) */

/* Our LUN names whose argument follows a ':' ("ram:1G", "file:/p?size=1G",
 * "rbd:pool/image"). */
static bool is_kind(const char *tok, size_t len)
{
	static const char *const kinds[] = { "ram", "null", "file", "rbd" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i]) == len && !memcmp(tok, kinds[i], len))
			return true;
	return false;
}

void r0_free_names(char *names[CG_R0_MAX_DEV])
{
	for (int i = 0; i < CG_R0_MAX_DEV; i++) {
		free(names[i]);
		names[i] = NULL;
	}
}

/**
 * r0_split_path() - the member names of a RAID0 path.
 * @path: "dev1:dev2:...", at most CG_R0_MAX_DEV members. A member "ram",
 *	"null" or "file" takes the next ':'-separated token as its argument,
 *	so "ram:1G:file:/l.img?size=1G" names "ram:1G" and
 *	"file:/l.img?size=1G". One member alone is allowed.
 * @names: out: malloc'd names (r0_free_names() frees them).
 *
 * @allow_dup: whether a name may repeat. Physical members of one LUN would
 *	overlap (block k of every member is the same block), so the caller
 *	allows it only for virtual members, which the master carves apart.
 *
 * IBM's "RAID0" and "RAID0:N" (devices found by a script) are not
 * supported: ENODEV.
 *
 * Return: the number of members, or -1 with errno EINVAL (an empty member,
 * more than 8, a repeated physical name), ENODEV or ENOMEM.
 */
int r0_split_path(const char *path, char *names[CG_R0_MAX_DEV], bool allow_dup)
{
	const char *p = path;
	int n = 0;

	memset(names, 0, CG_R0_MAX_DEV * sizeof(names[0]));
	if (!strcmp(path, "RAID0") || !strncmp(path, "RAID0:", 6)) {
		errno = ENODEV;
		return -1;
	}
	for (;;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 0 || n == CG_R0_MAX_DEV)
			goto invalid;
		if (end && is_kind(p, len)) {
			/* the argument of a kind: up to the next ':' */
			const char *arg_end = strchr(end + 1, ':');

			len = arg_end ? (size_t)(arg_end - p) : strlen(p);
			end = arg_end;
		}
		names[n] = strndup(p, len);
		if (!names[n]) {
			r0_free_names(names);
			errno = ENOMEM;
			return -1;
		}
		for (int i = 0; i < n && !allow_dup; i++)
			if (!strcmp(names[i], names[n]))
				goto invalid;
		n++;
		if (!end)
			break;
		p = end + 1;
		if (!*p)
			goto invalid; /* trailing ':' */
	}
	return n;
invalid:
	r0_free_names(names);
	errno = EINVAL;
	return -1;
}

/**
 * r0_refresh_size() - recompute the size of a RAID0 group.
 * @g: the group.
 * @nblocks: out (may be NULL): min(member size) * members.
 *
 * The result is also kept in g->r0_size, which bounds the group's I/O.
 *
 * Return: 0, or -1 with errno of a member's cblk_get_size().
 */
int r0_refresh_size(struct cgroup *g, size_t *nblocks)
{
	size_t min = SIZE_MAX;

	for (int i = 0; i < g->n; i++) {
		size_t s;

		if (cblk_get_size(g->member[i], &s, 0) < 0)
			return -1;
		if (s < min)
			min = s;
	}
	atomic_store(&g->r0_size, min * (size_t)g->n);
	if (nblocks)
		*nblocks = min * (size_t)g->n;
	return 0;
}

/* r0_lun_size() - min(member LUN size) * members, in blocks. */
int r0_lun_size(struct cgroup *g, size_t *nblocks)
{
	size_t min;

	if (min_member_size(g, &min, cblk_get_lun_size) < 0)
		return -1;
	*nblocks = min * (size_t)g->n;
	return 0;
}

/**
 * r0_set_size() - resize every member of a RAID0 group.
 * @g: the group.
 * @nblocks: the group size wanted; each member gets ceil(@nblocks / N).
 * @flags: cblk_set_size() flags.
 *
 * If a member fails, the members already resized are put back to their
 * old sizes (best effort) so the group stays balanced.
 *
 * Return: 0, or -1 with the failing member's errno.
 */
int r0_set_size(struct cgroup *g, size_t nblocks, int flags)
{
	size_t per = nblocks / (size_t)g->n + (nblocks % (size_t)g->n != 0);
	size_t old[CG_R0_MAX_DEV];
	int i, err;

	for (i = 0; i < g->n; i++)
		if (cblk_get_size(g->member[i], &old[i], 0) < 0)
			return -1;
	for (i = 0; i < g->n; i++)
		if (cblk_set_size(g->member[i], per, flags) < 0)
			break;
	if (i == g->n)
		return r0_refresh_size(g, NULL);
	err = errno;
	while (i-- > 0)
		cblk_set_size(g->member[i], old[i], flags);
	r0_refresh_size(g, NULL);
	errno = err;
	return -1;
}

static int member_rw(chunk_id_t cid, int type, void *buf, cflash_offset_t lba, size_t n,
		     int flags)
{
	switch (type) {
	case CBLK_IO_TYPE_READ:
		return cblk_read(cid, buf, lba, n, flags);
	case CBLK_IO_TYPE_WRITE:
		return cblk_write(cid, buf, lba, n, flags);
	default:
		return cblk_unmap(cid, buf, lba, n, flags);
	}
}

/* Check a group range against the group size: EINVAL if it does not fit. */
static int r0_check_range(struct cgroup *g, const void *buf, cflash_offset_t lba,
			  size_t nblocks)
{
	size_t size = atomic_load(&g->r0_size);

	if (!buf || lba < 0 || (size_t)lba > size || nblocks > size - (size_t)lba) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/**
 * r0_rw_member() - one member's share of a striped synchronous request.
 * @g: the group.
 * @k: the member index.
 * @type: CBLK_IO_TYPE_READ, _WRITE or _UNMAP.
 * @ubuf: the caller's buffer at the member's first block of the range.
 * @mlba: the member block of that first block.
 * @cnt: blocks of the range on this member (every N-th in @ubuf).
 * @bounce: a buffer of @piece_max blocks (or NULL when @piece_max is 1).
 * @piece_max: blocks per member request.
 * @flags: member flags.
 *
 * Return: 0, or -1 with errno (EIO for a short transfer).
 */
static int r0_rw_member(struct cgroup *g, int k, int type, uint8_t *ubuf, cflash_offset_t mlba,
			size_t cnt, uint8_t *bounce, size_t piece_max, int flags)
{
	size_t stride = (size_t)g->n * CG_BLOCK_SIZE;
	chunk_id_t cid = g->member[k];

	for (size_t done = 0; done < cnt;) {
		size_t piece = cnt - done < piece_max ? cnt - done : piece_max;
		uint8_t *first = ubuf + done * stride;
		int rc;

		if (type == CBLK_IO_TYPE_UNMAP) {
			rc = member_rw(cid, type, ubuf, mlba + (cflash_offset_t)done, piece, flags);
		} else if (piece == 1) {
			rc = member_rw(cid, type, first, mlba + (cflash_offset_t)done, 1, flags);
		} else {
			if (type == CBLK_IO_TYPE_WRITE)
				for (size_t b = 0; b < piece; b++)
					memcpy(bounce + b * CG_BLOCK_SIZE, first + b * stride,
					       CG_BLOCK_SIZE);
			rc = member_rw(cid, type, bounce, mlba + (cflash_offset_t)done, piece,
				       flags);
			if (rc == (int)piece && type == CBLK_IO_TYPE_READ)
				for (size_t b = 0; b < piece; b++)
					memcpy(first + b * stride, bounce + b * CG_BLOCK_SIZE,
					       CG_BLOCK_SIZE);
		}
		if (rc < 0)
			return -1;
		if (rc != (int)piece) {
			errno = EIO;
			return -1;
		}
		done += piece;
	}
	return 0;
}

/**
 * r0_rw() - a synchronous request of a RAID0 group.
 * @g: the group.
 * @type: CBLK_IO_TYPE_READ, _WRITE or _UNMAP.
 * @buf: @nblocks blocks (unmap: one zeroed block).
 * @lba: the first group block.
 * @nblocks: blocks; any number from 1 that fits the group.
 * @flags: member flags (CBLK_GROUP_MASK already removed).
 *
 * Members are done one after the other; a failure stops the request (some
 * members may have been written already, as with any failed write).
 *
 * Return: @nblocks, or -1 with errno (EINVAL for a range beyond the group,
 * ENOMEM, or the member's errno).
 */
int r0_rw(struct cgroup *g, int type, void *buf, cflash_offset_t lba, size_t nblocks, int flags)
{
	uint64_t n = (uint64_t)g->n, l0 = (uint64_t)lba, end = l0 + nblocks;
	size_t piece_max = g->mts < R0_BOUNCE_MAX ? g->mts : R0_BOUNCE_MAX;
	uint8_t *bounce = NULL;
	int rc = 0;

	if (nblocks == 0 || r0_check_range(g, buf, lba, nblocks) < 0) {
		errno = EINVAL; /* as a chunk: no empty requests */
		return -1;
	}
	if (g->n == 1)
		return member_rw(g->member[0], type, buf, lba, nblocks, flags);
	if (piece_max == 0)
		piece_max = 1;
	if (piece_max > 1 && type != CBLK_IO_TYPE_UNMAP && nblocks > n) {
		bounce = aligned_alloc(CG_BLOCK_SIZE, piece_max * CG_BLOCK_SIZE);
		if (!bounce) {
			errno = ENOMEM;
			return -1;
		}
	} else if (type != CBLK_IO_TYPE_UNMAP) {
		piece_max = 1; /* at most one block per member: no bounce needed */
	}
	for (uint64_t k = 0; k < n && rc == 0; k++) {
		uint64_t first = l0 + (k + n - l0 % n) % n; /* first group block on member k */
		uint8_t *ubuf;

		if (first >= end)
			continue;
		ubuf = type == CBLK_IO_TYPE_UNMAP ? buf :
		       (uint8_t *)buf + (first - l0) * CG_BLOCK_SIZE;
		rc = r0_rw_member(g, (int)k, type, ubuf, (cflash_offset_t)(first / n),
				  (end - 1 - first) / n + 1, bounce, piece_max, flags);
	}
	free(bounce);
	return rc < 0 ? -1 : (int)nblocks;
}

/**
 * r0_arw() - an asynchronous request of a RAID0 group.
 * @g: the group.
 * @type: CBLK_IO_TYPE_READ, _WRITE or _UNMAP.
 * @buf, @lba, @status: as cblk_aread().
 * @nblocks: 1; anything else is EINVAL.
 * @ptag: out: {member chunk that holds @lba, its tag}; in with
 *	CBLK_ARW_USER_TAG_FLAG: the caller's tag.
 * @flags: member flags.
 *
 * Return: 0 issued, > 0 already complete, -1 with errno (ptag->tag = -1).
 */
int r0_arw(struct cgroup *g, int type, void *buf, cflash_offset_t lba, size_t nblocks,
	   cflsh_cg_tag_t *ptag, cblk_arw_status_t *status, int flags)
{
	int ctag = (flags & CBLK_ARW_USER_TAG_FLAG) ? ptag->tag : 0;
	chunk_id_t cid;
	int rc;

	ptag->tag = -1;
	if (nblocks != 1 || r0_check_range(g, buf, lba, nblocks) < 0) {
		errno = EINVAL;
		return -1;
	}
	cid = g->member[(uint64_t)lba % (uint64_t)g->n];
	lba = (cflash_offset_t)((uint64_t)lba / (uint64_t)g->n);
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
	if (rc >= 0)
		ptag->tag = ctag;
	return rc;
}
