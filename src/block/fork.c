/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork.c - cblk_clone_after_fork() and cblk_cg_clone_after_fork().
 *
 * NOT SUPPORTED YET: they fail with EOPNOTSUPP. A forked child cannot reach
 * the parent's in-process AFU through its private memory; the planned design
 * (docs/STATUS.md) has the parent's master serve its children the way
 * cxlflashd serves clients, with the child's queues and data staged in a
 * shared DMA area and VLUN_CLONE sharing the parent's chunks. Until then the
 * functions exist so that programs written for IBM's library link, and say
 * plainly at run time what is missing.
 */
#include <errno.h>

#include <capiblock.h>

#include "util/log.h"

static int not_yet(const char *fn)
{
	log_err("%s: sharing a chunk with a forked child is not supported yet", fn);
	errno = EOPNOTSUPP;
	return -1;
}

int cblk_clone_after_fork(chunk_id_t chunk_id, int mode, int flags)
{
	(void)chunk_id;
	(void)mode;
	(void)flags;
	return not_yet(__func__);
}

int cblk_cg_clone_after_fork(chunk_cg_id_t cgid, int mode, int flags)
{
	(void)cgid;
	(void)mode;
	(void)flags;
	return not_yet(__func__);
}
