/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blk_test.h - small helpers shared by the block library tests: scratch
 * file LUNs (plain paths must exist, so they are created and sized first),
 * block buffers, and opening with a check.
 */
#ifndef CXLFLASH_BLK_TEST_H
#define CXLFLASH_BLK_TEST_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <capiblock.h>

#include "t_util.h"

#define BLK 4096u

/* Create (or truncate) a sparse scratch file of @bytes; return its path. */
static inline const char *bt_file(const char *name, uint64_t bytes)
{
	const char *p = t_path(name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);

	T_ASSERT(fd >= 0);
	T_ASSERT(ftruncate(fd, (off_t)bytes) == 0);
	close(fd);
	return p;
}

/* A zeroed buffer of @nblocks blocks, 4 KiB aligned. */
static inline uint8_t *bt_buf(size_t nblocks)
{
	void *p = NULL;

	T_ASSERT(posix_memalign(&p, BLK, nblocks * BLK) == 0);
	memset(p, 0, nblocks * BLK);
	return p;
}

static inline chunk_id_t bt_open(const char *path, int depth, int mode, int flags)
{
	chunk_id_t id = cblk_open(path, depth, mode, 0, flags);

	if (id == NULL_CHUNK_ID) {
		fprintf(stderr, "cblk_open(%s, %d, %d, 0x%x): %s\n", path, depth, mode, flags,
			strerror(errno));
		exit(T_FAIL);
	}
	return id;
}

/* Open a virtual chunk and give it @nblocks. */
static inline chunk_id_t bt_open_virt(const char *path, int depth, int flags, size_t nblocks)
{
	chunk_id_t id = bt_open(path, depth, O_RDWR, flags | CBLK_OPN_VIRT_LUN);

	T_EQ(cblk_set_size(id, nblocks, 0), 0);
	return id;
}

#endif /* CXLFLASH_BLK_TEST_H */
