/* SPDX-License-Identifier: Apache-2.0 */
/*
 * full_lun.c - a full LUN: growth past the free chunks is partial
 * (VLUN_RESIZE grants what is left) or ENOSPC (nothing left), never EIO;
 * cblk_set_size reports IBM's grow failure (ENOMEM) and keeps the old
 * size; `cxlflash status --json` counts used and free chunks exactly as
 * the clients hold them, and every chunk is free once they are gone.
 */
#include <cxlflash/cxlflash_ioctl.h>

#include "d_test.h"

#define CHUNK   65536ull      /* blocks per chunk */
#define NCHUNKS 8             /* ram:2G */

static struct t_daemon g_d;

struct raw {
	int fd1;
	uint64_t ctxid;
};

static void raw_attach(struct raw *r)
{
	struct dk_cxlflash_attach a = { 0 };

	r->fd1 = cxlflash_open("lun0", O_RDWR);
	T_ASSERT(r->fd1 >= 0);
	a.hdr.flags = O_RDWR;
	a.num_interrupts = 4;
	T_EQ(cxlflash_ioctl(r->fd1, DK_CXLFLASH_ATTACH, &a), 0);
	r->ctxid = a.context_id;
}

static int uvirtual(struct raw *r, uint64_t size, uint64_t *handle, uint64_t *last)
{
	struct dk_cxlflash_uvirtual v = { 0 };
	int rc;

	v.context_id = r->ctxid;
	v.lun_size = size;
	rc = cxlflash_ioctl(r->fd1, DK_CXLFLASH_USER_VIRTUAL, &v);
	*handle = v.rsrc_handle;
	*last = v.last_lba;
	return rc;
}

static int resize(struct raw *r, uint64_t handle, uint64_t size, uint64_t *last)
{
	struct dk_cxlflash_resize rs = { 0 };
	int rc;

	rs.context_id = r->ctxid;
	rs.rsrc_handle = handle;
	rs.req_size = size;
	rc = cxlflash_ioctl(r->fd1, DK_CXLFLASH_VLUN_RESIZE, &rs);
	*last = rs.last_lba;
	return rc;
}

/* Status counts: @used chunks used, the rest free, and the vLUN rows sum to @used. */
static void expect_chunks(long long used)
{
	const char *st = d_status(&g_d), *l = d_lun_json(st, "lun0"), *p;
	long long sum = 0;

	T_EQ(t_json_num(l, "chunks"), NCHUNKS);
	T_EQ(t_json_num(l, "chunks_used"), used);
	T_EQ(t_json_num(l, "chunks_free"), NCHUNKS - used);
	p = strstr(st, "\"vluns\":[");
	T_ASSERT(p);
	while ((p = strstr(p, "\"chunks\":"))) {
		sum += atoll(p + 9);
		p += 9;
	}
	T_EQ(sum, used);
	d_check("lun0");
}

static void full(void)
{
	struct raw a, b;
	uint64_t ha, hb, hc, last;
	chunk_id_t id;
	size_t size = 1;
	uint8_t *w = bt_buf(1), *r = bt_buf(1);

	raw_attach(&a);
	raw_attach(&b);
	T_EQ(uvirtual(&a, 5 * CHUNK, &ha, &last), 0);
	T_EQ(last, 5 * CHUNK - 1);
	expect_chunks(5);
	/* Growing past the free chunks: a partial grant, not an error. */
	T_EQ(uvirtual(&b, 0, &hb, &last), 0);
	T_EQ(resize(&b, hb, 5 * CHUNK, &last), 0);
	T_EQ(last, 3 * CHUNK - 1);
	expect_chunks(8);
	/* Nothing left: ENOSPC, for a grow and for a new sized vLUN. */
	T_ERRNO(resize(&b, hb, 4 * CHUNK, &last), ENOSPC);
	T_ERRNO(resize(&a, ha, 6 * CHUNK, &last), ENOSPC);
	T_ERRNO(uvirtual(&b, 1, &hc, &last), ENOSPC);
	expect_chunks(8);
	/* The block library: IBM's grow failure, the old size kept. */
	id = bt_open("lun0", 4, O_RDWR, CBLK_OPN_VIRT_LUN);
	T_ERRNO(cblk_set_size(id, 1, 0), ENOMEM);
	T_EQ(cblk_get_size(id, &size, 0), 0);
	T_EQ(size, 0);
	expect_chunks(8);
	/* Shrinking frees chunks at once; the library's grow then works. */
	T_EQ(resize(&a, ha, 2 * CHUNK, &last), 0);
	T_EQ(last, 2 * CHUNK - 1);
	expect_chunks(5);
	T_EQ(cblk_set_size(id, 2 * CHUNK, 0), 0);
	expect_chunks(7);
	t_pattern_fill(w, BLK, 9, 2 * CHUNK - 1);
	T_EQ(cblk_write(id, w, (cflash_offset_t)(2 * CHUNK - 1), 1, 0), 1);
	T_EQ(cblk_read(id, r, (cflash_offset_t)(2 * CHUNK - 1), 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 9, 2 * CHUNK - 1), 0);
	T_ERRNO(cblk_set_size(id, 4 * CHUNK, 0), ENOMEM);   /* 1 free, 2 asked */
	T_EQ(cblk_get_size(id, &size, 0), 0);
	T_EQ(size, 2 * CHUNK);
	T_EQ(cblk_read(id, r, (cflash_offset_t)(2 * CHUNK - 1), 1, 0), 1);
	T_EQ(t_pattern_check(r, BLK, 9, 2 * CHUNK - 1), 0);
	expect_chunks(7);
	/* Gone: a closed vLUN, a DETACH, a hang-up. */
	T_EQ(cblk_close(id, 0), 0);
	expect_chunks(5);
	{
		struct dk_cxlflash_detach d = { .context_id = a.ctxid };

		T_EQ(cxlflash_ioctl(a.fd1, DK_CXLFLASH_DETACH, &d), 0);
	}
	expect_chunks(3);
	cxlflash_close(a.fd1);
	cxlflash_close(b.fd1);
	for (int i = 0;; i++) {
		const char *st = d_status(&g_d);

		if (t_json_num(st, "contexts") == 0 && t_json_num(st, "chunks_free") == NCHUNKS)
			break;
		T_ASSERT(i < 200);
		d_sleep_us(5000);
	}
	expect_chunks(0);
	free(w);
	free(r);
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:2G", "--allow", "lun0=all", NULL };

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_EQ(d_start(&g_d, args), 0);
	T_RUN(full);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
