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

/* Batches (async.c, "Batches"): @n async writes of @round's pattern at
 * @base from @b, reaped with NEXT_TAG | BLOCKING, and read back. */
static inline void bt_batch_write(chunk_id_t id, uint8_t *b, unsigned n, unsigned base,
				  unsigned round)
{
	for (unsigned i = 0; i < n; i++) {
		int tag = -1;

		t_pattern_fill(b + (size_t)i * BLK, BLK, round, base + i);
		T_EQ(cblk_awrite(id, b + (size_t)i * BLK, base + i, 1, &tag, NULL, 0), 0);
	}
}

static inline void bt_batch_reap(chunk_id_t id, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int tag = -1;
		uint64_t st;

		T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING),
		     1);
	}
}

static inline void bt_batch_check(chunk_id_t id, uint8_t *b, unsigned n, unsigned base,
				  unsigned round)
{
	memset(b, 0, (size_t)n * BLK);
	T_EQ(cblk_read(id, b, base, n, 0), (int)n);
	for (unsigned i = 0; i < n; i++)
		T_EQ(t_pattern_check(b + (size_t)i * BLK, BLK, round, base + i), 0);
}

/* Poll (NEXT_TAG, not blocking) until @got of @n requests are reaped. */
static inline void bt_batch_poll(chunk_id_t id, unsigned n, unsigned got)
{
	for (unsigned k = 0; got < n; k++) {
		uint64_t st;
		int tag = -1, rc = cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG);

		T_ASSERT(rc == 0 || rc == 1);
		got += (unsigned)rc;
		T_ASSERT(k < 100000000);
	}
}

/* @rounds batches of @n written and reaped one after the other from @base
 * (patterns @round0 on), then all read back. */
static inline void bt_batch_rounds(chunk_id_t id, uint8_t *b, unsigned n, unsigned rounds,
				   unsigned base, unsigned round0)
{
	for (unsigned r = 0; r < rounds; r++) {
		bt_batch_write(id, b, n, base + r * n, round0 + r);
		bt_batch_reap(id, n);
	}
	for (unsigned r = 0; r < rounds; r++)
		bt_batch_check(id, b, n, base + r * n, round0 + r);
}

#endif /* CXLFLASH_BLK_TEST_H */
