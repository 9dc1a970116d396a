/* SPDX-License-Identifier: Apache-2.0 */
/*
 * thin_scrub.c - a virtual LUN on a sparse file leaves the file sparse:
 * the master scrubs freed chunks by punching holes, not by allocating
 * zeroes (issue 15 saw 16 GiB of a 64 GiB file allocated after a
 * read-only run). Freed chunks still read back as zeroes for the next
 * owner, and space written before is given back. Skips where the file
 * system cannot punch holes.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_test.h"

#define GIB (1ull << 30)
#define CHUNK_BLOCKS 65536u

static uint64_t allocated(const char *path)
{
	struct stat st;

	T_EQ(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static bool can_punch(const char *path)
{
	int fd = open(path, O_RDWR);
	bool ok;

	T_ASSERT(fd >= 0);
	ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	close(fd);
	return ok;
}

int main(void)
{
	const char *path = bt_file("thin_scrub.img", 2 * GIB);
	uint8_t *b = bt_buf(1), *z = bt_buf(1);
	chunk_id_t id;

	T_SKIP_IF(!can_punch(path), "the test directory's file system cannot punch holes");

	/* A 1 GiB vLUN (4 chunks) that is only read, then closed. */
	id = bt_open_virt(path, 16, 0, 4 * CHUNK_BLOCKS);
	for (uint64_t lba = 0; lba < 4 * CHUNK_BLOCKS; lba += 4099)
		T_EQ(cblk_read(id, b, (cflash_offset_t)lba, 1, 0), 1);
	T_EQ(cblk_close(id, 0), 0);
	fprintf(stderr, "after a read-only vLUN: %llu KiB allocated\n",
		(unsigned long long)(allocated(path) >> 10));
	T_ASSERT(allocated(path) < (16ull << 20));   /* ZERO_RANGE would make it 1 GiB */

	/* Data written in a chunk: gone from the next owner's view and from the disk. */
	id = bt_open_virt(path, 16, 0, 4 * CHUNK_BLOCKS);
	t_pattern_fill(b, BLK, 7, 12345);
	for (uint64_t lba = 12345; lba < 4 * CHUNK_BLOCKS; lba += CHUNK_BLOCKS)
		T_EQ(cblk_write(id, b, (cflash_offset_t)lba, 1, 0), 1);
	T_EQ(cblk_close(id, 0), 0);
	T_ASSERT(allocated(path) < (16ull << 20));
	id = bt_open_virt(path, 16, 0, 4 * CHUNK_BLOCKS);
	for (uint64_t lba = 12345; lba < 4 * CHUNK_BLOCKS; lba += CHUNK_BLOCKS) {
		T_EQ(cblk_read(id, b, (cflash_offset_t)lba, 1, 0), 1);
		T_EQ(memcmp(b, z, BLK), 0);
	}
	T_EQ(cblk_close(id, 0), 0);
	unlink(path);
	free(b);
	free(z);
	return T_PASS;
}
