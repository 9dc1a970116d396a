/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync_rw.c - cblk_read / cblk_write: verified read-write-compare loops on
 * physical and virtual chunks of ram and file LUNs, in both completion
 * models; LBA bounds, NULL buffer, the transfer size limit (a vLUN's 1
 * block, raised by CFLSH_BLK_MAX_XFER), access modes, unaligned buffers.
 */
#include "blk_test.h"

static const char *g_file;

/* Random multi-block writes, then read every one back and compare. */
static void rw_loop(chunk_id_t id, size_t max_n, unsigned ios, uint64_t seed)
{
	size_t size = 0;
	uint64_t rs = seed;
	uint8_t *w = bt_buf(max_n), *r = bt_buf(max_n);
	struct {
		uint64_t lba;
		size_t n;
	} *log = calloc(ios, sizeof(*log));

	T_ASSERT(log);
	T_EQ(cblk_get_size(id, &size, 0), 0);
	T_ASSERT(size > max_n);
	/* Disjoint slots so later writes do not overwrite earlier ones. */
	for (unsigned i = 0; i < ios; i++) {
		uint64_t slots = size / max_n;
		uint64_t lba = (t_rand(&rs) % slots) * max_n;
		size_t n = 1 + t_rand(&rs) % max_n;

		for (unsigned j = 0; j < i; j++)
			if (log[j].lba == lba)
				lba = (lba + max_n * (i + 1)) % (slots * max_n);
		log[i].lba = lba;
		log[i].n = n;
		t_pattern_fill(w, n * BLK, seed + i, lba);
		T_EQ(cblk_write(id, w, (cflash_offset_t)lba, n, 0), n);
	}
	for (unsigned i = 0; i < ios; i++) {
		bool dup = false;

		for (unsigned j = i + 1; j < ios; j++)
			dup |= log[j].lba == log[i].lba;
		if (dup)
			continue;
		memset(r, 0xEE, log[i].n * BLK);
		T_EQ(cblk_read(id, r, (cflash_offset_t)log[i].lba, log[i].n, 0), log[i].n);
		T_EQ(t_pattern_check(r, log[i].n * BLK, seed + i, log[i].lba), 0);
	}
	free(log);
	free(w);
	free(r);
}

static void physical_ram(void)
{
	int models[2] = { 0, CBLK_OPN_NO_INTRP_THREADS };

	for (int m = 0; m < 2; m++) {
		chunk_id_t id = bt_open("ram:1G", 16, O_RDWR, models[m]);
		size_t n = 0;

		T_EQ(cblk_get_size(id, &n, 0), 0);
		T_EQ(n, 262144);
		rw_loop(id, 64, 200, 11 + m);
		T_EQ(cblk_close(id, 0), 0);
	}
}

static void physical_file(void)
{
	int models[2] = { 0, CBLK_OPN_NO_INTRP_THREADS };

	for (int m = 0; m < 2; m++) {
		chunk_id_t id = bt_open(g_file, 16, O_RDWR, models[m]);

		rw_loop(id, 32, 100, 21 + m);
		T_EQ(cblk_close(id, 0), 0);
	}
}

static void virtual_luns(void)
{
	const char *luns[2] = { "ram:1G", g_file };

	for (int i = 0; i < 2; i++) {
		for (int m = 0; m < 2; m++) {
			chunk_id_t id = bt_open_virt(luns[i], 8,
						     m ? CBLK_OPN_NO_INTRP_THREADS : 0, 4096);

			rw_loop(id, 1, 150, 31 + i * 2 + m);
			T_EQ(cblk_close(id, 0), 0);
		}
	}
}

static void bounds(void)
{
	chunk_id_t id = bt_open_virt("ram:1G", 8, 0, 100);
	uint8_t *b = bt_buf(2);
	chunk_attrs_t at;

	T_EQ(cblk_write(id, b, 99, 1, 0), 1);
	T_EQ(cblk_read(id, b, 99, 1, 0), 1);
	T_ERRNO(cblk_read(id, b, 100, 1, 0), EINVAL);
	T_ERRNO(cblk_write(id, b, 100, 1, 0), EINVAL);
	T_ERRNO(cblk_read(id, b, -1, 1, 0), EINVAL);
	T_ERRNO(cblk_read(id, NULL, 0, 1, 0), EINVAL);
	T_ERRNO(cblk_write(id, NULL, 0, 1, 0), EINVAL);
	T_ERRNO(cblk_read(id, b, 0, 0, 0), EINVAL);
	/* vLUN: 1 block per request, as IBM's library */
	T_EQ(cblk_get_attrs(id, &at, 0), 0);
	T_EQ(at.max_transfer_size, 1);
	T_ERRNO(cblk_read(id, b, 0, 2, 0), EINVAL);
	T_ERRNO(cblk_write(id, b, 0, 2, 0), EINVAL);
	T_EQ(cblk_close(id, 0), 0);

	/* Physical: ATTACH's max_xfer (4096 blocks) */
	id = bt_open("ram:1G", 8, O_RDWR, 0);
	T_EQ(cblk_get_attrs(id, &at, 0), 0);
	T_EQ(at.max_transfer_size, 4096);
	T_EQ(at.block_size, 4096);
	T_EQ(at.num_paths, 1);
	T_ERRNO(cblk_read(id, b, 0, 4097, 0), EINVAL);
	T_ERRNO(cblk_read(id, b, 262143, 2, 0), EINVAL);
	T_EQ(cblk_read(id, b, 262143, 1, 0), 1);
	T_EQ(cblk_close(id, 0), 0);

	/* Closed and unknown ids */
	T_ERRNO(cblk_read(id, b, 0, 1, 0), EINVAL);
	T_ERRNO(cblk_write(12345, b, 0, 1, 0), EINVAL);
	T_ERRNO(cblk_read(-1, b, 0, 1, 0), EINVAL);
	free(b);
}

static void max_xfer_env(void)
{
	uint8_t *b = bt_buf(9);
	chunk_id_t id;

	setenv("CFLSH_BLK_MAX_XFER", "8", 1);
	id = bt_open_virt("ram:1G", 8, 0, 1000);
	unsetenv("CFLSH_BLK_MAX_XFER");
	t_pattern_fill(b, 8 * BLK, 5, 10);
	T_EQ(cblk_write(id, b, 10, 8, 0), 8);
	memset(b, 0, 9 * BLK);
	T_EQ(cblk_read(id, b, 10, 8, 0), 8);
	T_EQ(t_pattern_check(b, 8 * BLK, 5, 10), 0);
	T_ERRNO(cblk_read(id, b, 10, 9, 0), EINVAL);
	T_EQ(cblk_close(id, 0), 0);

	setenv("CFLSH_BLK_MAX_XFER", "100000", 1);   /* capped at ATTACH's 4096 */
	id = bt_open_virt("ram:1G", 8, 0, 1000);
	unsetenv("CFLSH_BLK_MAX_XFER");
	{
		chunk_stats_t st;

		T_EQ(cblk_get_stats(id, &st, 0), 0);
		T_EQ(st.max_transfer_size, 4096);
	}
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void modes(void)
{
	chunk_id_t rw = bt_open(g_file, 8, O_RDWR, 0);
	chunk_id_t ro, wo;
	uint8_t *b = bt_buf(1);

	t_pattern_fill(b, BLK, 77, 5);
	T_EQ(cblk_write(rw, b, 5, 1, 0), 1);
	ro = bt_open(g_file, 8, O_RDONLY, 0);
	wo = bt_open(g_file, 8, O_WRONLY, 0);
	memset(b, 0, BLK);
	T_EQ(cblk_read(ro, b, 5, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 77, 5), 0);
	T_ERRNO(cblk_write(ro, b, 5, 1, 0), EINVAL);
	T_ERRNO(cblk_read(wo, b, 5, 1, 0), EINVAL);
	T_EQ(cblk_write(wo, b, 6, 1, 0), 1);
	T_EQ(cblk_close(ro, 0), 0);
	T_EQ(cblk_close(wo, 0), 0);
	T_EQ(cblk_close(rw, 0), 0);
	free(b);
}

static void unaligned(void)
{
	const char *luns[2] = { "ram:1G", g_file };
	size_t offs[3] = { 1, 7, 513 };

	for (int i = 0; i < 2; i++) {
		chunk_id_t id = bt_open(luns[i], 8, O_RDWR, 0);
		uint8_t *w = malloc(4 * BLK + 600), *r = malloc(4 * BLK + 600), *a = bt_buf(3);

		T_ASSERT(w && r);
		for (int k = 0; k < 3; k++) {
			uint8_t *wb = w + offs[k], *rb = r + offs[k];

			/* the pattern helpers want 8-byte alignment: copy through @a */
			t_pattern_fill(a, 3 * BLK, 90 + k, 40);
			memcpy(wb, a, 3 * BLK);
			T_EQ(cblk_write(id, wb, 40, 3, 0), 3);
			memset(rb, 0, 3 * BLK);
			T_EQ(cblk_read(id, rb, 40, 3, 0), 3);
			memcpy(a, rb, 3 * BLK);
			T_EQ(t_pattern_check(a, 3 * BLK, 90 + k, 40), 0);
		}
		free(a);
		T_EQ(cblk_close(id, 0), 0);
		free(w);
		free(r);
	}
}

int main(void)
{
	g_file = bt_file("blk_sync_rw", 1ull << 30);
	T_RUN(physical_ram);
	T_RUN(physical_file);
	T_RUN(virtual_luns);
	T_RUN(bounds);
	T_RUN(max_xfer_env);
	T_RUN(modes);
	T_RUN(unaligned);
	unlink(g_file);
	return T_PASS;
}
