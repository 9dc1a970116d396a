/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: a context put in the error state (as an AFU reset would)
 * reads all ones in its window; RECOVER_AFU gives a new cookie, handle and
 * adap_fd with the RHT and LXT intact, I/O works again and data written
 * before is there; closing the old adap_fd does not tear the recovered
 * context down; RECOVER on a healthy context reports nothing to do.
 */
#include "t_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "master/embedded.h"
#include "t_sisl.h"

#define CHUNK 65536ull

static void test_recover(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct dk_cxlflash_recover_afu r = { 0 };
	struct t_sisl s;
	uint64_t h, last, old_ctx;
	int old_fd;
	void *b = aligned_alloc(4096, 8 * 4096);
	char why[256];

	T_ASSERT(fd >= 0 && b);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, 2 * CHUNK, 0, &h, &last), 0);
	t_pattern_fill(b, 8 * 4096, 5, CHUNK - 4);
	T_EQ(t_sisl_rw(&s, (uint32_t)h, CHUNK - 4, 8, b, true), 0);

	/* healthy: nothing to recover */
	r.context_id = s.ctxid;
	T_EQ(cxlflash_ioctl(fd, DK_CXLFLASH_RECOVER_AFU, &r), 0);
	T_EQ(r.hdr.return_flags, 0);

	/* the error state */
	T_EQ(cxlflash_debug_ctx_error(fd, s.ctxid), 0);
	T_EQ(sisl_read64(&s.map->endian_ctrl), SISL_ALL_ONES);
	T_EQ(sisl_read64(&s.map->cmd_room), SISL_ALL_ONES);
	T_EQ(sisl_read64(&s.map->intr_status), SISL_ALL_ONES);
	T_ERRNO(t_udirect(fd, s.ctxid, NULL), EINVAL);      /* normal requests refused */
	{
		struct dk_cxlflash_verify v = { 0 };

		v.context_id = s.ctxid;
		v.rsrc_handle = h;
		T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_VERIFY, &v), EINVAL);
	}
	T_EQ(t_resize(fd, s.ctxid, h, 2 * CHUNK, &last), 0); /* resize still works */

	memset(&r, 0, sizeof(r));
	r.context_id = s.ctxid;
	r.reason = 0x1234;
	T_EQ(cxlflash_ioctl(fd, DK_CXLFLASH_RECOVER_AFU, &r), 0);
	T_ASSERT(r.hdr.return_flags & DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET);
	T_ASSERT(r.hdr.return_flags & DK_CXLFLASH_APP_CLOSE_ADAP_FD);
	T_ASSERT(r.context_id != s.ctxid);
	T_EQ(r.mmio_size, 65536);
	T_ASSERT((int)r.adap_fd >= 0 && (int)r.adap_fd != s.adap_fd);
	old_ctx = s.ctxid;
	old_fd = s.adap_fd;
	/* the application closes the old fd2; that must not hurt the new context */
	T_EQ(t_sisl_remap(&s, r.context_id, (int)r.adap_fd), 0);
	T_ERRNO(t_detach(fd, old_ctx), EINVAL);                 /* the old cookie is dead */
	(void)old_fd;
	T_EQ(sisl_read64(&s.map->endian_ctrl), SISL_ENDIAN_CTRL_HOST);
	memset(b, 0, 8 * 4096);
	T_EQ(t_sisl_rw(&s, (uint32_t)h, CHUNK - 4, 8, b, false), 0);
	T_EQ(t_pattern_check(b, 8 * 4096, 5, CHUNK - 4), 0);
	T_EQ(t_resize(fd, s.ctxid, h, 3 * CHUNK, &last), 0);
	T_EQ(last, 3 * CHUNK - 1);
	T_EQ(cxlflash_debug_check(fd, why, sizeof(why)), 0);
	t_sisl_detach(&s, true);
	T_EQ(cxlflash_debug_check(fd, why, sizeof(why)), 0);
	free(b);
	cxlflash_close(fd);
}

/* A context in error whose adap_fd is closed is released like any other. */
static void test_error_then_close(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct t_sisl s;
	uint64_t h;
	char why[256];

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_udirect(fd, s.ctxid, &h), 0);
	T_EQ(cxlflash_debug_ctx_error(fd, s.ctxid), 0);
	t_sisl_detach(&s, false);              /* unmap and close fd2 */
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_uvirtual(fd, s.ctxid, 0, 0, &h, NULL), 0); /* the LUN left physical mode */
	T_EQ(cxlflash_debug_check(fd, why, sizeof(why)), 0);
	t_sisl_detach(&s, true);
	cxlflash_close(fd);
}

int main(void)
{
	setenv("CXLFLASH_LOG", "quiet", 0);
	T_RUN(test_recover);
	T_RUN(test_error_then_close);
	return T_PASS;
}
