/* SPDX-License-Identifier: Apache-2.0 */
/*
 * size.c - cblk_get_lun_size / cblk_get_size / cblk_set_size: physical
 * chunks (whole LUN, set_size EINVAL), virtual ones (0 until set, exact
 * logical size over 256 MiB grants, growth keeps data, logical shrink,
 * larger than the LUN EINVAL, grow failure ENOMEM), and scrubbing.
 */
#include "blk_test.h"

#define LUN_BLOCKS 262144u  /* ram:1G */
#define CHUNK_BLOCKS 65536u

static void physical(void)
{
	chunk_id_t id = bt_open("ram:1G", 0, O_RDWR, 0);
	size_t n = 0;

	T_EQ(cblk_get_lun_size(id, &n, 0), 0);
	T_EQ(n, LUN_BLOCKS);
	T_EQ(cblk_get_size(id, &n, 0), 0);
	T_EQ(n, LUN_BLOCKS);
	T_ERRNO(cblk_set_size(id, 100, 0), EINVAL);
	T_ERRNO(cblk_get_lun_size(id, NULL, 0), EINVAL);
	T_EQ(cblk_close(id, 0), 0);
}

static void virtual_sizes(void)
{
	chunk_id_t id = bt_open("ram:1G", 0, O_RDWR, CBLK_OPN_VIRT_LUN);
	uint8_t *b = bt_buf(1);
	size_t n = 1;

	T_EQ(cblk_get_size(id, &n, 0), 0);
	T_EQ(n, 0);
	T_EQ(cblk_get_lun_size(id, &n, 0), 0);
	T_EQ(n, LUN_BLOCKS);
	T_ERRNO(cblk_read(id, b, 0, 1, 0), EINVAL);      /* size 0 */

	T_EQ(cblk_set_size(id, 1000, 0), 0);
	T_EQ(cblk_get_size(id, &n, 0), 0);
	T_EQ(n, 1000);                                 /* exact, not the 256 MiB grant */
	T_EQ(cblk_write(id, b, 999, 1, 0), 1);
	T_ERRNO(cblk_write(id, b, 1000, 1, 0), EINVAL);
	T_ERRNO(cblk_set_size(id, LUN_BLOCKS + 1, 0), EINVAL);
	T_EQ(cblk_get_size(id, &n, 0), 0);
	T_EQ(n, 1000);
	T_EQ(cblk_set_size(id, LUN_BLOCKS, 0), 0);     /* the whole LUN */
	T_EQ(cblk_write(id, b, LUN_BLOCKS - 1, 1, 0), 1);
	T_EQ(cblk_set_size(id, 0, 0), 0);
	T_ERRNO(cblk_read(id, b, 0, 1, 0), EINVAL);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void grow_keeps_data(void)
{
	chunk_id_t id = bt_open("ram:1G", 0, O_RDWR, CBLK_OPN_VIRT_LUN);
	uint8_t *b = bt_buf(1);
	const uint64_t lbas[4] = { 0, 17, 1234, CHUNK_BLOCKS - 1 };

	T_EQ(cblk_set_size(id, CHUNK_BLOCKS, 0), 0);
	for (int i = 0; i < 4; i++) {
		t_pattern_fill(b, BLK, 9, lbas[i]);
		T_EQ(cblk_write(id, b, (cflash_offset_t)lbas[i], 1, 0), 1);
	}
	/* grow across chunk boundaries */
	T_EQ(cblk_set_size(id, 3 * CHUNK_BLOCKS + 5, 0), 0);
	for (int i = 0; i < 4; i++) {
		T_EQ(cblk_read(id, b, (cflash_offset_t)lbas[i], 1, 0), 1);
		T_EQ(t_pattern_check(b, BLK, 9, lbas[i]), 0);
	}
	t_pattern_fill(b, BLK, 9, 3 * CHUNK_BLOCKS + 4);
	T_EQ(cblk_write(id, b, 3 * CHUNK_BLOCKS + 4, 1, 0), 1);
	/* a logical shrink, then growing back keeps the data */
	T_EQ(cblk_set_size(id, 10, 0), 0);
	T_ERRNO(cblk_read(id, b, 17, 1, 0), EINVAL);
	T_EQ(cblk_set_size(id, 3 * CHUNK_BLOCKS + 5, 0), 0);
	for (int i = 0; i < 4; i++) {
		T_EQ(cblk_read(id, b, (cflash_offset_t)lbas[i], 1, 0), 1);
		T_EQ(t_pattern_check(b, BLK, 9, lbas[i]), 0);
	}
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

/* Two vLUNs compete for the 4 chunks of a 1 GiB LUN. */
static void grow_failure(void)
{
	chunk_id_t a = bt_open("ram:1G", 0, O_RDWR, CBLK_OPN_VIRT_LUN);
	chunk_id_t b = bt_open("ram:1G", 0, O_RDWR, CBLK_OPN_VIRT_LUN);
	size_t n;

	T_EQ(cblk_set_size(a, 3 * CHUNK_BLOCKS, 0), 0);
	T_ERRNO(cblk_set_size(b, 2 * CHUNK_BLOCKS, 0), ENOMEM);   /* only 1 chunk left */
	T_EQ(cblk_get_size(b, &n, 0), 0);
	T_EQ(n, 0);
	T_EQ(cblk_set_size(b, CHUNK_BLOCKS, 0), 0);              /* the partial grant went back */
	T_ERRNO(cblk_set_size(a, 3 * CHUNK_BLOCKS + 1, 0), ENOMEM);
	T_EQ(cblk_get_size(a, &n, 0), 0);
	T_EQ(n, 3 * CHUNK_BLOCKS);
	T_EQ(cblk_close(b, 0), 0);
	T_EQ(cblk_set_size(a, 4 * CHUNK_BLOCKS, 0), 0);          /* freed by the close */
	T_EQ(cblk_close(a, 0), 0);
}

/* CBLK_OPN_SCRUB_DATA: blocks a vLUN gives back read as zeroes to the next one. */
static void scrub(void)
{
	chunk_id_t hold = bt_open("ram:1G", 0, O_RDWR, CBLK_OPN_VIRT_LUN); /* keeps the LUN */
	chunk_id_t s = bt_open_virt("ram:1G", 0, CBLK_OPN_SCRUB_DATA, 4 * CHUNK_BLOCKS);
	uint8_t *b = bt_buf(1), *z = bt_buf(1);
	chunk_id_t n;

	for (uint64_t l = 0; l < 4 * CHUNK_BLOCKS; l += CHUNK_BLOCKS / 2) {
		t_pattern_fill(b, BLK, 3, l);
		T_EQ(cblk_write(s, b, (cflash_offset_t)l, 1, 0), 1);
	}
	T_EQ(cblk_close(s, 0), 0);
	n = bt_open_virt("ram:1G", 0, 0, 4 * CHUNK_BLOCKS);
	for (uint64_t l = 0; l < 4 * CHUNK_BLOCKS; l += CHUNK_BLOCKS / 2) {
		T_EQ(cblk_read(n, b, (cflash_offset_t)l, 1, 0), 1);
		T_EQ(memcmp(b, z, BLK), 0);
	}
	T_EQ(cblk_close(n, 0), 0);
	T_EQ(cblk_close(hold, 0), 0);
	free(b);
	free(z);
}

int main(void)
{
	T_RUN(physical);
	T_RUN(virtual_sizes);
	T_RUN(grow_keeps_data);
	T_RUN(grow_failure);
	T_RUN(scrub);
	return T_PASS;
}
