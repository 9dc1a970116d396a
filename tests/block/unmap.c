/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unmap.c - cblk_unmap / cblk_aunmap: the chunk reports unmap support,
 * unmapped blocks read back as zeroes (ram and file LUNs, physical and
 * virtual), a non-zero block is written to every block of the range, and
 * the argument checks.
 */
#include "blk_test.h"

static void unmap_reads_zero(const char *lun, int flags)
{
	chunk_id_t id = bt_open(lun, 8, O_RDWR, flags);
	uint8_t *b = bt_buf(16), *z = bt_buf(1), *r = bt_buf(16);
	chunk_attrs_t at;
	uint64_t st;
	int tag;

	T_EQ(cblk_get_attrs(id, &at, 0), 0);
	T_ASSERT(at.flags1 & CFLSH_ATTR_UNMAP);
	t_pattern_fill(b, 16 * BLK, 6, 100);
	T_EQ(cblk_write(id, b, 100, 16, 0), 16);
	T_EQ(cblk_unmap(id, z, 102, 8, 0), 8);
	T_EQ(cblk_read(id, r, 100, 16, 0), 16);
	T_EQ(t_pattern_check(r, 2 * BLK, 6, 100), 0);
	for (int i = 2; i < 10; i++)
		T_EQ(memcmp(r + (size_t)i * BLK, z, BLK), 0);
	T_EQ(t_pattern_check(r + 10 * BLK, 6 * BLK, 6, 110), 0);
	/* async */
	T_EQ(cblk_aunmap(id, z, 110, 2, &tag, NULL, 0), 0);
	T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_BLOCKING), 2);
	T_EQ(cblk_read(id, r, 110, 2, 0), 2);
	T_EQ(memcmp(r, z, BLK), 0);
	T_EQ(memcmp(r + BLK, z, BLK), 0);
	/* a non-zero block is replicated over the range (WRITE SAME) */
	t_pattern_fill(b, BLK, 7, 0);
	T_EQ(cblk_unmap(id, b, 200, 4, 0), 4);
	for (int i = 0; i < 4; i++) {
		T_EQ(cblk_read(id, r, 200 + i, 1, 0), 1);
		T_EQ(memcmp(r, b, BLK), 0);
	}
	T_ERRNO(cblk_unmap(id, NULL, 0, 1, 0), EINVAL);
	T_ERRNO(cblk_unmap(id, z, -1, 1, 0), EINVAL);
	T_ERRNO(cblk_unmap(id, z, 262144, 1, 0), EINVAL);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
	free(z);
	free(r);
}

static void ram(void) { unmap_reads_zero("ram:1G", 0); }
static void ram_polled(void) { unmap_reads_zero("ram:1G", CBLK_OPN_NO_INTRP_THREADS); }

static void file(void)
{
	const char *p = bt_file("blk_unmap", 1ull << 30);

	unmap_reads_zero(p, 0);
	unlink(p);
}

static void virt_and_modes(void)
{
	chunk_id_t id = bt_open_virt("ram:1G", 8, 0, 100);
	chunk_id_t ro;
	uint8_t *b = bt_buf(1), *z = bt_buf(1);

	t_pattern_fill(b, BLK, 3, 5);
	T_EQ(cblk_write(id, b, 5, 1, 0), 1);
	T_EQ(cblk_unmap(id, z, 5, 1, 0), 1);
	T_EQ(cblk_read(id, b, 5, 1, 0), 1);
	T_EQ(memcmp(b, z, BLK), 0);
	T_ERRNO(cblk_unmap(id, z, 5, 2, 0), EINVAL);   /* vLUN: 1 block per request */
	T_EQ(cblk_close(id, 0), 0);

	ro = bt_open("ram:1G", 8, O_RDONLY, 0);
	T_ERRNO(cblk_unmap(ro, z, 5, 1, 0), EINVAL);
	T_EQ(cblk_close(ro, 0), 0);
	free(b);
	free(z);
}

int main(void)
{
	T_RUN(ram);
	T_RUN(ram_polled);
	T_RUN(file);
	T_RUN(virt_and_modes);
	return T_PASS;
}
