/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: block status of an rbd LUN on a one-node Ceph cluster
 * (rbd_diff_iterate2): a new image is one hole of zeroes; after writes the
 * written blocks are data and the rest holes (each write at the start of
 * an object: see below); one call looks at 256 MiB at
 * most and the next goes on from there; REQ_ONE-style calls (one extent).
 */
#include "t_ceph.h"
#include "t_util.h"
#include "backend/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1ull << 20)
#define BLK(bytes) ((bytes) / BE_BLOCK_SIZE)
#define HZ (BE_STATE_HOLE | BE_STATE_ZERO)

static uint8_t buf[1 << 20];

/* Expect exactly @want (terminated by nblocks 0) from one call. */
static void expect(struct backend *be, uint64_t lba, uint64_t n, const struct be_extent *want)
{
	struct be_extent e[64];
	int got = be_block_status(be, lba, n, e, 64), k = 0;
	uint64_t at = lba;

	T_ASSERT(got > 0);
	for (int i = 0; i < got; i++) {
		fprintf(stderr, "   %llu +%llu %u\n", (unsigned long long)at,
			(unsigned long long)e[i].nblocks, e[i].state);
		at += e[i].nblocks;
	}
	while (want[k].nblocks)
		k++;
	T_EQ(got, k);
	for (int i = 0; i < got; i++) {
		T_EQ(e[i].nblocks, want[i].nblocks);
		T_EQ(e[i].state, want[i].state);
	}
}

int main(void)
{
	struct be_spec spec;
	struct backend *be = NULL;
	struct be_extent one;
	int rc;

	t_ceph_start("rbd");
	T_EQ(be_parse_spec("rbd:rbd/bs?size=1G", &spec), 0);
	rc = be_open(&spec, &be);
	T_SKIP_IF(rc == -ENOTSUP, "built without librbd, or librbd.so.1 missing");
	T_EQ(rc, 0);

	expect(be, 0, BLK(256 * MIB), (const struct be_extent[]){ { BLK(256 * MIB), HZ }, { 0, 0 } });
	memset(buf, 0x6b, sizeof(buf));
	T_EQ(be_write_sync(be, BLK(8 * MIB), BLK(1 * MIB), buf), 0);
	T_EQ(be_write_sync(be, BLK(300 * MIB), 1, buf), 0);
	/* At the start of an object: the test cluster's memstore OSD keeps no
	 * sparse map, so an object reads as data from 0 to its last write
	 * (BlueStore would be exact anywhere). */
	T_EQ(be_write_sync(be, BLK(1020 * MIB), 2, buf), 0);
	/* The whole image asked for: the first 256 MiB answered. */
	expect(be, 0, BLK(1024 * MIB), (const struct be_extent[]){
		{ BLK(8 * MIB), HZ }, { BLK(1 * MIB), 0 }, { BLK(247 * MIB), HZ }, { 0, 0 } });
	expect(be, BLK(256 * MIB), BLK(768 * MIB), (const struct be_extent[]){
		{ BLK(44 * MIB), HZ }, { 1, 0 }, { BLK(212 * MIB) - 1, HZ }, { 0, 0 } });
	expect(be, BLK(1000 * MIB), BLK(24 * MIB), (const struct be_extent[]){
		{ BLK(20 * MIB), HZ }, { 2, 0 }, { BLK(4 * MIB) - 2, HZ }, { 0, 0 } });
	/* One extent only, and from inside the data. */
	T_EQ(be_block_status(be, BLK(8 * MIB) + 5, BLK(100 * MIB), &one, 1), 1);
	T_EQ(one.nblocks, BLK(1 * MIB) - 5);
	T_EQ(one.state, 0);
	T_EQ(be_block_status(be, BLK(1024 * MIB), 1, &one, 1), -ERANGE);
	be_close(be);
	return T_PASS;
}
