/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync.c - cblk_sync / cblk_cg_sync (our extension): a flush succeeds on
 * ram and file LUNs, physical and virtual, with a completion thread and
 * polled; it leaves the statistics' I/O counts alone; groups and RAID0
 * groups flush every member, also through the plain call with the group
 * flags; bad ids, a closed chunk. That a flush really reaches the backend
 * is shown with the fault backend's write cache: what was synced survives
 * a power cut, what was not is dropped (powercut.c, also through cxlflashd).
 */
#include "blk_test.h"

static void flush_one(const char *lun, int flags, bool virt)
{
	chunk_id_t id = virt ? bt_open_virt(lun, 8, flags, 1024) : bt_open(lun, 8, O_RDWR, flags);
	uint8_t *b = bt_buf(4), *r = bt_buf(4);
	chunk_stats_t st;

	t_pattern_fill(b, 4 * BLK, 11, 20);
	T_EQ(cblk_write(id, b, 20, virt ? 1 : 4, 0), virt ? 1 : 4);
	T_EQ(cblk_sync(id, 0), 0);
	T_EQ(cblk_sync(id, 0), 0);   /* nothing new: still fine */
	T_EQ(cblk_read(id, r, 20, 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 11, 20), 0);
	T_EQ(cblk_get_stats(id, &st, 0), 0);
	T_EQ(st.num_writes, 1);      /* a flush is not a write */
	T_EQ(st.num_act_writes, 0);
	T_EQ(st.num_errors, 0);
	T_EQ(cblk_close(id, 0), 0);
	T_ERRNO(cblk_sync(id, 0), EINVAL);   /* closed */
	free(b);
	free(r);
}

static void ram(void)
{
	flush_one("ram:64M", 0, false);
	flush_one("ram:64M", CBLK_OPN_NO_INTRP_THREADS, false);
	flush_one("ram:1G", 0, true);
	flush_one("ram:1G", CBLK_OPN_NO_INTRP_THREADS, true);
}

static void file(void)
{
	const char *p = bt_file("blk_sync", 1ull << 30);

	flush_one(p, 0, false);
	flush_one(p, CBLK_OPN_NO_INTRP_THREADS, false);
	flush_one(p, 0, true);
	flush_one(p, CBLK_OPN_NO_INTRP_THREADS, true);
	unlink(p);
}

/* A read-only chunk may flush too: it changes nothing. */
static void readonly(void)
{
	chunk_id_t id = bt_open("ram:64M", 8, O_RDONLY, 0);

	T_EQ(cblk_sync(id, 0), 0);
	T_EQ(cblk_close(id, 0), 0);
}

static void bad_ids(void)
{
	T_ERRNO(cblk_sync(NULL_CHUNK_ID, 0), EINVAL);
	T_ERRNO(cblk_sync(12345, 0), EINVAL);
	T_ERRNO(cblk_cg_sync(NULL_CHUNK_ID, 0), EINVAL);
	T_ERRNO(cblk_cg_sync(12345, 0), EINVAL);
	T_ERRNO(cblk_sync(12345, CBLK_GROUP_ID), EINVAL);
	T_ERRNO(cblk_sync(12345, CBLK_GROUP_RAID0), EINVAL);
}

static void group(void)
{
	chunk_cg_id_t g = cblk_cg_open("ram:64M", 8, O_RDWR, 3, 0, 0);
	uint8_t *b = bt_buf(1);

	T_ASSERT(g != NULL_CHUNK_ID);
	T_EQ(cblk_cg_write(g, b, 7, 1, 0), 1);
	T_EQ(cblk_cg_sync(g, 0), 0);
	T_EQ(cblk_sync(g, CBLK_GROUP_ID), 0);
	T_EQ(cblk_cg_close(g, 0), 0);
	T_ERRNO(cblk_cg_sync(g, 0), EINVAL);
	free(b);
}

static void raid0(void)
{
	chunk_r0_id_t g = cblk_cg_open("ram:64M:ram:96M", 8, O_RDWR, 1, 0,
				       CBLK_GROUP_RAID0 | CBLK_OPN_NO_INTRP_THREADS);
	uint8_t *b = bt_buf(1);

	T_ASSERT(g != NULL_CHUNK_ID);
	T_EQ(cblk_cg_write(g, b, 3, 1, CBLK_GROUP_RAID0), 1);
	T_EQ(cblk_cg_sync(g, CBLK_GROUP_RAID0), 0);
	T_EQ(cblk_sync(g, CBLK_GROUP_RAID0), 0);
	T_EQ(cblk_cg_close(g, CBLK_GROUP_RAID0), 0);
	free(b);
}

int main(void)
{
	T_RUN(ram);
	T_RUN(file);
	T_RUN(readonly);
	T_RUN(bad_ids);
	T_RUN(group);
	T_RUN(raid0);
	return T_PASS;
}
