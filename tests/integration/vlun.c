/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: virtual LUNs through the control API and the window:
 * USER_VIRTUAL and VLUN_RESIZE rounding (0->0, non-multiples), LXT group
 * edges 7<->8<->9 with data kept, partial grow, ENOSPC, mode conflicts,
 * a handle used through another LUN, RHT exhaustion (EMFILE) and reuse,
 * resize of a physical handle, NEED_WRITE_SAME scrub before reuse.
 */
#include "t_util.h"

#include <fcntl.h>
#include <unistd.h>

#include "master/embedded.h"
#include "t_sisl.h"

#define CHUNK 65536ull

static void *blk_alloc(size_t n)
{
	void *p = aligned_alloc(4096, n * 4096);

	T_ASSERT(p);
	return p;
}

/* Write block 0 and the last block of chunk @c of vLUN @h with a pattern. */
static void mark_chunk(struct t_sisl *s, uint64_t h, uint64_t c, uint64_t seed)
{
	void *b = blk_alloc(1);

	t_pattern_fill(b, 4096, seed, c * CHUNK);
	T_EQ(t_sisl_rw(s, (uint32_t)h, c * CHUNK, 1, b, true), 0);
	t_pattern_fill(b, 4096, seed, c * CHUNK + CHUNK - 1);
	T_EQ(t_sisl_rw(s, (uint32_t)h, c * CHUNK + CHUNK - 1, 1, b, true), 0);
	free(b);
}

static void check_chunk(struct t_sisl *s, uint64_t h, uint64_t c, uint64_t seed)
{
	void *b = blk_alloc(1);

	T_EQ(t_sisl_rw(s, (uint32_t)h, c * CHUNK, 1, b, false), 0);
	T_EQ(t_pattern_check(b, 4096, seed, c * CHUNK), 0);
	T_EQ(t_sisl_rw(s, (uint32_t)h, c * CHUNK + CHUNK - 1, 1, b, false), 0);
	T_EQ(t_pattern_check(b, 4096, seed, c * CHUNK + CHUNK - 1), 0);
	free(b);
}

static void test_rounding(void)
{
	int fd = cxlflash_open("ram:4G", O_RDWR);
	struct t_sisl s;
	uint64_t h, last;

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, 0, 0, &h, &last), 0);
	T_EQ(last, UINT64_MAX);
	T_EQ(t_resize(fd, s.ctxid, h, 0, &last), 0);        /* 0 -> 0 */
	T_EQ(last, UINT64_MAX);
	T_EQ(t_resize(fd, s.ctxid, h, 1, &last), 0);        /* rounds up to a chunk */
	T_EQ(last, CHUNK - 1);
	T_EQ(t_resize(fd, s.ctxid, h, CHUNK + 1, &last), 0);
	T_EQ(last, 2 * CHUNK - 1);
	T_EQ(t_resize(fd, s.ctxid, h, 2 * CHUNK, &last), 0); /* equal: no change */
	T_EQ(last, 2 * CHUNK - 1);
	T_EQ(t_resize(fd, s.ctxid, h, CHUNK - 5, &last), 0);
	T_EQ(last, CHUNK - 1);
	T_ERRNO(t_resize(fd, s.ctxid, h + 1, CHUNK, &last), EINVAL); /* not a handle */
	T_ERRNO(t_resize(fd, s.ctxid, 9999, CHUNK, &last), EINVAL);
	t_check_master(fd);
	t_sisl_detach(&s, true);
	t_check_master(fd);
	cxlflash_close(fd);
}

static void test_group_edges(void)
{
	int fd = cxlflash_open("ram:4G", O_RDWR);   /* 16 chunks */
	struct t_sisl s;
	uint64_t h, last;

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, 7 * CHUNK, 0, &h, &last), 0);
	T_EQ(last, 7 * CHUNK - 1);
	for (uint64_t c = 0; c < 7; c++)
		mark_chunk(&s, h, c, 100 + c);
	T_EQ(t_resize(fd, s.ctxid, h, 8 * CHUNK, &last), 0);
	mark_chunk(&s, h, 7, 107);
	T_EQ(t_resize(fd, s.ctxid, h, 9 * CHUNK, &last), 0);
	T_EQ(last, 9 * CHUNK - 1);
	mark_chunk(&s, h, 8, 108);
	for (uint64_t c = 0; c < 9; c++)
		check_chunk(&s, h, c, 100 + c);
	T_EQ(t_resize(fd, s.ctxid, h, 8 * CHUNK, &last), 0);
	for (uint64_t c = 0; c < 8; c++)
		check_chunk(&s, h, c, 100 + c);
	{
		void *b = blk_alloc(1);

		/* chunk 8 is gone: the AFU refuses it */
		T_ASSERT(t_sisl_rw(&s, (uint32_t)h, 8 * CHUNK, 1, b, false) != 0);
		T_EQ(s.cmds[0].sa.rc.afu_rc, SISL_AFU_RC_LXT_OUT_OF_BOUNDS);
		free(b);
	}
	T_EQ(t_resize(fd, s.ctxid, h, 7 * CHUNK, &last), 0);
	for (uint64_t c = 0; c < 7; c++)
		check_chunk(&s, h, c, 100 + c);
	t_check_master(fd);
	t_sisl_detach(&s, true);
	cxlflash_close(fd);
}

static void test_partial_and_enospc(void)
{
	int fd = cxlflash_open("ram:4G", O_RDWR);   /* 16 chunks */
	struct t_sisl s;
	uint64_t h1, h2, h3, last;

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, CHUNK, 0, &h1, &last), 0);
	/* ask for 20 chunks, 15 are left: partial */
	T_EQ(t_uvirtual(fd, s.ctxid, 20 * CHUNK, 0, &h2, &last), 0);
	T_EQ(last, 15 * CHUNK - 1);
	/* nothing left: growing fails, creating a sized vLUN fails, size 0 works */
	T_ERRNO(t_resize(fd, s.ctxid, h1, 2 * CHUNK, &last), ENOSPC);
	T_ERRNO(t_uvirtual(fd, s.ctxid, CHUNK, 0, &h3, &last), ENOSPC);
	T_EQ(t_uvirtual(fd, s.ctxid, 0, 0, &h3, &last), 0);
	T_ERRNO(t_resize(fd, s.ctxid, h3, 1, &last), ENOSPC);
	/* free some, grow again */
	T_EQ(t_resize(fd, s.ctxid, h2, 10 * CHUNK, &last), 0);
	T_EQ(t_resize(fd, s.ctxid, h3, 100 * CHUNK, &last), 0);
	T_EQ(last, 5 * CHUNK - 1);
	t_check_master(fd);
	T_EQ(t_release(fd, s.ctxid, h2), 0);
	T_ERRNO(t_release(fd, s.ctxid, h2), EINVAL);
	t_check_master(fd);
	t_sisl_detach(&s, true);
	t_check_master(fd);
	cxlflash_close(fd);
}

static void test_modes_and_handles(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	int fd2 = cxlflash_open("ram:2G", O_RDWR);
	struct dk_cxlflash_attach a = { 0 };
	struct t_sisl s;
	uint64_t hv, hp, last;

	T_ASSERT(fd >= 0 && fd2 >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, CHUNK, 0, &hv, &last), 0);
	T_ERRNO(t_udirect(fd, s.ctxid, &hp), EINVAL);      /* LUN is virtual */
	/* the vLUN handle used through another LUN of the same context */
	a.hdr.flags = O_RDWR | DK_CXLFLASH_ATTACH_REUSE_CONTEXT;
	a.context_id = s.ctxid;
	T_EQ(cxlflash_ioctl(fd2, DK_CXLFLASH_ATTACH, &a), 0);
	T_ERRNO(t_resize(fd2, s.ctxid, hv, 0, &last), EINVAL);
	T_ERRNO(t_release(fd2, s.ctxid, hv), EINVAL);
	T_EQ(t_udirect(fd2, s.ctxid, &hp), 0);            /* LUN 2 physical */
	T_ERRNO(t_resize(fd2, s.ctxid, hp, CHUNK, &last), EINVAL); /* physical handle */
	T_ERRNO(t_uvirtual(fd2, s.ctxid, 0, 0, NULL, NULL), EINVAL);
	T_EQ(t_release(fd, s.ctxid, hv), 0);
	T_EQ(t_udirect(fd, s.ctxid, &hp), 0);             /* LUN 1 now free for physical */
	t_check_master(fd);
	t_sisl_detach(&s, false);
	cxlflash_close(fd2);
	cxlflash_close(fd);
}

static void test_rht_exhaustion(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct t_sisl s;
	uint64_t h, last;
	int n;

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	for (n = 0; n < 300; n++)
		if (t_uvirtual(fd, s.ctxid, 0, 0, &h, &last))
			break;
	T_EQ(n, 256);
	T_EQ(errno, EMFILE);
	T_EQ(t_release(fd, s.ctxid, 77), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, CHUNK, 0, &h, &last), 0);
	T_EQ(h, 77);
	T_ERRNO(t_uvirtual(fd, s.ctxid, 0, 0, &h, &last), EMFILE);
	t_check_master(fd);
	t_sisl_detach(&s, true);
	t_check_master(fd);
	cxlflash_close(fd);
}

/* A chunk freed by a vLUN created with NEED_WRITE_SAME reads back as zeroes. */
static void test_need_write_same(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);   /* 4 chunks */
	struct t_sisl s;
	uint64_t h, last;
	uint8_t *b = blk_alloc(1), zero[4096] = { 0 };

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, 4 * CHUNK, DK_CXLFLASH_UVIRTUAL_NEED_WRITE_SAME, &h, &last), 0);
	for (uint64_t c = 0; c < 4; c++)
		mark_chunk(&s, h, c, 7);
	T_EQ(t_resize(fd, s.ctxid, h, 2 * CHUNK, &last), 0); /* frees chunks 2, 3 */
	check_chunk(&s, h, 0, 7);
	{
		uint64_t h2;

		T_EQ(t_uvirtual(fd, s.ctxid, 2 * CHUNK, 0, &h2, &last), 0);
		for (uint64_t c = 0; c < 2; c++) {
			T_EQ(t_sisl_rw(&s, (uint32_t)h2, c * CHUNK, 1, b, false), 0);
			T_ASSERT(memcmp(b, zero, 4096) == 0);
			T_EQ(t_sisl_rw(&s, (uint32_t)h2, c * CHUNK + CHUNK - 1, 1, b, false), 0);
			T_ASSERT(memcmp(b, zero, 4096) == 0);
		}
		T_EQ(t_release(fd, s.ctxid, h2), 0);
	}
	T_EQ(t_release(fd, s.ctxid, h), 0);
	t_check_master(fd);
	t_sisl_detach(&s, true);
	free(b);
	cxlflash_close(fd);
}

static void test_small_lun(void)
{
	int fd = cxlflash_open("ram:128M", O_RDWR);  /* smaller than a chunk */
	struct t_sisl s;
	uint64_t h;

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_ERRNO(t_uvirtual(fd, s.ctxid, 0, 0, &h, NULL), ENOMEM);
	T_EQ(t_udirect(fd, s.ctxid, &h), 0);               /* physical is fine */
	t_check_master(fd);
	t_sisl_detach(&s, true);
	cxlflash_close(fd);
}

int main(void)
{
	setenv("CXLFLASH_LOG", "quiet", 0);
	T_RUN(test_rounding);
	T_RUN(test_group_edges);
	T_RUN(test_partial_and_enospc);
	T_RUN(test_modes_and_handles);
	T_RUN(test_rht_exhaustion);
	T_RUN(test_need_write_same);
	T_RUN(test_small_lun);
	return T_PASS;
}
