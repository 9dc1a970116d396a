/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork.c - cblk_clone_after_fork() and cblk_cg_clone_after_fork().
 *
 * A forked child inherits the parent's chunk ids, but their contexts, queues
 * and completion threads are the parent's. Cloning gives the child a chunk
 * of its own on the same data: its fd1 is reached from the child (a
 * connection to the parent's master or to cxlflashd, made by the control
 * layer on first use), it attaches a context with @mode, and then either
 * shares the parent's virtual LUN (DK_CXLFLASH_VLUN_CLONE: the same chunks,
 * the same resource handle) or opens the physical LUN (USER_DIRECT). Either
 * process may grow its vLUN afterwards: the master (one per LUN, in the
 * parent or the daemon) serialises it, and a grown chunk is the grower's
 * alone, as with the kernel's clone.
 *
 * @mode may keep or narrow the parent's access (O_RDWR to O_RDONLY or
 * O_WRONLY), never widen it: EINVAL. Until cloned, an inherited chunk
 * answers only cblk_close (which forgets the child's copies) and
 * cblk_clone_after_fork; other calls fail with EINVAL.
 */
#include "block/block_internal.h"
#include "block/cgroup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static bool narrows(int parent, int mode)
{
	return parent == O_RDWR || parent == mode;
}

int cblk_clone_after_fork(chunk_id_t chunk_id, int mode, int flags)
{
	struct chunk *c;
	int rc, acc = mode & O_ACCMODE, saved_errno = errno;

	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_clone_after_fork(chunk_id, mode, flags & ~CBLK_GROUP_MASK);
	c = blk_chunk_get_inherited(chunk_id);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	if (c->pid == getpid() || acc == O_ACCMODE || !narrows(c->mode, acc)) {
		/* Not a child's inherited chunk, or more access than the parent's. */
		blk_chunk_put(c);
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	rc = blk_chunk_clone(c, acc);
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	if (rc) {
		log_err("chunk %d: clone after fork failed: %s", c->id, strerror(-rc));
		errno = -rc;
		return -1;
	}
	errno = saved_errno;
	return 0;
}

int cblk_cg_clone_after_fork(chunk_cg_id_t cgid, int mode, int flags)
{
	struct cgroup *g = cg_get(cgid);
	int rc = 0;

	(void)flags;
	if (!g) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < g->n && !rc; i++)
		rc = cblk_clone_after_fork(g->member[i], mode, 0);
	cg_put(g);
	return rc;
}
