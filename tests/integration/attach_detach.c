/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: ATTACH and DETACH: the fields ATTACH returns, the window's
 * initial registers, REUSE_CONTEXT rules, stale cookies (after DETACH and
 * after the slot is reused), teardown without DETACH (closing adap_fd, and
 * closing fd1), and EPERM once every hardware context is taken.
 */
#include "t_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#include "master/embedded.h"
#include "t_sisl.h"

static int attach(int fd, uint64_t flags, uint64_t ctxid, struct dk_cxlflash_attach *a)
{
	memset(a, 0, sizeof(*a));
	a->hdr.flags = flags;
	a->context_id = ctxid;
	return cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, a);
}

static void test_attach_fields(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct dk_cxlflash_attach a;
	struct sisl_host_map *map;

	T_ASSERT(fd >= 0);
	T_EQ(attach(fd, O_RDWR, 0, &a), 0);
	T_ASSERT(a.context_id >> 32 != 0);      /* a generation in the high half */
	T_EQ(a.mmio_size, 65536);
	T_EQ(a.block_size, 4096);
	T_EQ(a.last_lba, (1ull << 30) / 4096 - 1);
	T_EQ(a.max_xfer, 4096);
	T_ASSERT((int)a.adap_fd >= 0);
	T_ASSERT(a.hdr.return_flags & DK_CXLFLASH_APP_CLOSE_ADAP_FD);
	map = mmap(NULL, a.mmio_size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)a.adap_fd, 0);
	T_ASSERT(map != MAP_FAILED);
	T_EQ(sisl_read64(&map->endian_ctrl), SISL_ENDIAN_CTRL_HOST);
	T_EQ(sisl_read64(&map->cmd_room), 4096);
	T_EQ(sisl_read64(&map->intr_status), 0);
	T_EQ(t_detach(fd, a.context_id), 0);
	T_ERRNO(t_detach(fd, a.context_id), EINVAL); /* gone */
	munmap(map, a.mmio_size);
	close((int)a.adap_fd);
	t_check_master(fd);
	T_EQ(cxlflash_close(fd), 0);
}

static void test_reuse(void)
{
	int fd1 = cxlflash_open("ram:1G", O_RDWR);
	int fd2 = cxlflash_open("ram:512M", O_RDWR);
	struct dk_cxlflash_attach a, b;

	T_ASSERT(fd1 >= 0 && fd2 >= 0);
	T_EQ(attach(fd1, O_RDWR, 0, &a), 0);
	/* the same context on a second LUN */
	T_EQ(attach(fd2, O_RDWR | DK_CXLFLASH_ATTACH_REUSE_CONTEXT, a.context_id, &b), 0);
	T_EQ(b.context_id, a.context_id);
	T_EQ(b.adap_fd, (uint64_t)-1);
	T_EQ(b.hdr.return_flags & DK_CXLFLASH_APP_CLOSE_ADAP_FD, 0);
	T_EQ(b.last_lba, (512ull << 20) / 4096 - 1);
	/* already attached to that LUN; unknown cookie */
	T_ERRNO(attach(fd2, O_RDWR | DK_CXLFLASH_ATTACH_REUSE_CONTEXT, a.context_id, &b), EINVAL);
	T_ERRNO(attach(fd1, O_RDWR | DK_CXLFLASH_ATTACH_REUSE_CONTEXT, a.context_id ^ (1ull << 40), &b),
		EINVAL);
	/* a physical handle on each LUN through the one context */
	T_EQ(t_udirect(fd1, a.context_id, NULL), 0);
	T_EQ(t_udirect(fd2, a.context_id, NULL), 0);
	/* detach from one LUN keeps the context for the other */
	T_EQ(t_detach(fd2, a.context_id), 0);
	T_ERRNO(t_udirect(fd2, a.context_id, NULL), EINVAL);
	T_EQ(t_udirect(fd1, a.context_id, NULL), 0);
	T_EQ(t_detach(fd1, a.context_id), 0);
	T_ERRNO(t_detach(fd1, a.context_id), EINVAL);
	close((int)a.adap_fd);
	t_check_master(fd1);
	cxlflash_close(fd2);
	cxlflash_close(fd1);
}

static void test_stale_cookie(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct dk_cxlflash_attach a, b;

	T_ASSERT(fd >= 0);
	T_EQ(attach(fd, O_RDWR, 0, &a), 0);
	T_EQ(t_detach(fd, a.context_id), 0);
	close((int)a.adap_fd);
	T_EQ(attach(fd, O_RDWR, 0, &b), 0);
	/* the slot is reused with a new generation */
	T_EQ(b.context_id & 0xFFFFFFFF, a.context_id & 0xFFFFFFFF);
	T_ASSERT(b.context_id != a.context_id);
	T_ERRNO(t_udirect(fd, a.context_id, NULL), EINVAL);
	T_ERRNO(t_detach(fd, a.context_id), EINVAL);
	T_EQ(t_udirect(fd, b.context_id, NULL), 0);
	T_EQ(t_detach(fd, b.context_id), 0);
	close((int)b.adap_fd);
	cxlflash_close(fd);
}

static void test_teardown_without_detach(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct dk_cxlflash_attach a, b;
	uint64_t h;

	T_ASSERT(fd >= 0);
	/* A physical user holds the LUN in physical mode ... */
	T_EQ(attach(fd, O_RDWR, 0, &a), 0);
	T_EQ(t_udirect(fd, a.context_id, &h), 0);
	T_EQ(attach(fd, O_RDWR, 0, &b), 0);
	T_ERRNO(t_uvirtual(fd, b.context_id, 1, 0, NULL, NULL), EINVAL);
	/* ... until its adap_fd is closed: the context is released. */
	close((int)a.adap_fd);
	T_EQ(t_uvirtual(fd, b.context_id, 1, 0, NULL, NULL), 0);
	T_ERRNO(t_detach(fd, a.context_id), EINVAL);
	t_check_master(fd);
	/* A dup of adap_fd keeps the context alive. */
	{
		struct dk_cxlflash_attach c;
		int dupfd;

		T_EQ(attach(fd, O_RDWR, 0, &c), 0);
		dupfd = dup((int)c.adap_fd);
		close((int)c.adap_fd);
		T_EQ(t_uvirtual(fd, c.context_id, 0, 0, NULL, NULL), 0);
		close(dupfd);
		T_ERRNO(t_uvirtual(fd, c.context_id, 0, 0, NULL, NULL), EINVAL);
	}
	/* Closing fd1 detaches what was attached through it. */
	cxlflash_close(fd);
	fd = cxlflash_open("ram:1G", O_RDWR);
	T_ASSERT(fd >= 0);
	T_ERRNO(t_detach(fd, b.context_id), EINVAL);
	T_EQ(attach(fd, O_RDWR, 0, &a), 0);
	T_EQ(t_udirect(fd, a.context_id, NULL), 0); /* the LUN is free for physical use */
	t_check_master(fd);
	close((int)b.adap_fd);
	close((int)a.adap_fd);
	cxlflash_close(fd);
}

static void test_context_exhaustion(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	static struct dk_cxlflash_attach a[513];
	int n;

	T_ASSERT(fd >= 0);
	for (n = 0; n < 513; n++)
		if (attach(fd, O_RDWR, 0, &a[n]))
			break;
	T_EQ(n, 512);
	T_EQ(errno, EPERM);
	T_EQ(t_detach(fd, a[100].context_id), 0);
	T_EQ(attach(fd, O_RDWR, 0, &a[512]), 0); /* a slot is free again */
	T_EQ(a[512].context_id & 0xFFFF, a[100].context_id & 0xFFFF);
	for (int i = 0; i <= 512; i++) {
		if (i != 100)
			T_EQ(t_detach(fd, a[i].context_id), 0);
		close((int)a[i].adap_fd);
	}
	t_check_master(fd);
	cxlflash_close(fd);
}

int main(void)
{
	setenv("CXLFLASH_LOG", "quiet", 0);
	T_RUN(test_attach_fields);
	T_RUN(test_reuse);
	T_RUN(test_stale_cookie);
	T_RUN(test_teardown_without_detach);
	T_RUN(test_context_exhaustion);
	return T_PASS;
}
