/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the request gate: header checks (version, reserved fields,
 * return_flags), unknown requests, bad descriptors and pointers, nothing
 * written back on failure, and cxlflash_open's errors for bad LUN names.
 */
#include "t_util.h"

#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

static void test_open_errors(void)
{
	T_ERRNO(cxlflash_open("ram:", O_RDWR), EINVAL);
	T_ERRNO(cxlflash_open("ram:12345", O_RDWR), EINVAL);   /* not a multiple of 4 KiB */
	T_ERRNO(cxlflash_open("ram:4Q", O_RDWR), EINVAL);
	T_ERRNO(cxlflash_open("bogus:1G", O_RDWR), EINVAL);
	T_ERRNO(cxlflash_open("/nonexistent/lun0.img", O_RDWR), ENOENT);
	T_ERRNO(cxlflash_open(NULL, O_RDWR), EFAULT);
	T_ERRNO(cxlflash_close(12345), EBADF);
}

static void test_header_checks(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct dk_cxlflash_attach a;

	T_ASSERT(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.hdr.version = 1;
	a.context_id = 0x1234;
	T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), EINVAL);
	T_EQ(a.context_id, 0x1234); /* untouched on failure */
	T_EQ(a.adap_fd, 0);

	memset(&a, 0, sizeof(a));
	a.hdr.rsvd[1] = 1;
	T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), EINVAL);
	memset(&a, 0, sizeof(a));
	a.hdr.return_flags = 4;
	T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), EINVAL);
	memset(&a, 0, sizeof(a));
	a.num_interrupts = 5;
	T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), EINVAL);

	/* Unknown requests, host requests on a LUN, bad descriptors, bad pointers. */
	T_ERRNO(cxlflash_ioctl(fd, _IOWR(0xCA, 0x8A, struct dk_cxlflash_attach), &a), EINVAL);
	T_ERRNO(cxlflash_ioctl(fd, HT_CXLFLASH_LUN_PROVISION, &a), EINVAL);
	T_ERRNO(cxlflash_ioctl(fd, 0x5401, &a), EINVAL);
	T_ERRNO(cxlflash_ioctl(fd + 1000, DK_CXLFLASH_ATTACH, &a), EBADF);
	T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, NULL), EFAULT);
	T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, (void *)16), EFAULT);
	{
		/* a struct that runs into an unmapped page */
		char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		T_ASSERT(p != MAP_FAILED);
		munmap(p + 4096, 4096);
		T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, p + 4096 - 64), EFAULT);
		munmap(p, 4096);
	}
	T_EQ(cxlflash_close(fd), 0);
	T_ERRNO(cxlflash_close(fd), EBADF);
	T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), EBADF);
}

static void test_sizes(void)
{
	/* The UAPI layout facts. */
	T_EQ(sizeof(struct dk_cxlflash_hdr), 24);
	T_EQ(sizeof(struct dk_cxlflash_attach), 144);
	T_EQ(sizeof(struct dk_cxlflash_udirect), 112);
	T_EQ(sizeof(struct dk_cxlflash_release), 104);
	T_EQ(sizeof(struct dk_cxlflash_detach), 96);
	T_EQ(sizeof(struct dk_cxlflash_verify), 144);
	T_EQ(offsetof(struct dk_cxlflash_verify, sense_data), 56);
	T_EQ(sizeof(struct dk_cxlflash_recover_afu), 120);
	T_EQ(sizeof(struct dk_cxlflash_manage_lun), 104);
	T_EQ(sizeof(struct dk_cxlflash_uvirtual), 120);
	T_EQ(sizeof(struct dk_cxlflash_resize), 120);
	T_EQ(sizeof(struct dk_cxlflash_clone), 112);
	T_EQ(sizeof(struct ht_cxlflash_lun_provision), 160);
	T_EQ(sizeof(struct ht_cxlflash_afu_debug), 120);
	T_EQ(MAX_CXLFLASH_IOCTL_SZ, 144);
	T_EQ(DK_CXLFLASH_ATTACH, 0xc090ca80);
	T_EQ(DK_CXLFLASH_USER_DIRECT, 0xc070ca81);
	T_EQ(DK_CXLFLASH_RELEASE, 0xc068ca82);
	T_EQ(DK_CXLFLASH_DETACH, 0xc060ca83);
	T_EQ(DK_CXLFLASH_VERIFY, 0xc090ca84);
	T_EQ(DK_CXLFLASH_RECOVER_AFU, 0xc078ca85);
	T_EQ(DK_CXLFLASH_MANAGE_LUN, 0xc068ca86);
	T_EQ(DK_CXLFLASH_USER_VIRTUAL, 0xc078ca87);
	T_EQ(DK_CXLFLASH_VLUN_RESIZE, 0xc078ca88);
	T_EQ(DK_CXLFLASH_VLUN_CLONE, 0xc070ca89);
	T_EQ(HT_CXLFLASH_LUN_PROVISION, 0xc0a0cabf);
	T_EQ(HT_CXLFLASH_AFU_DEBUG, 0xc078cabe);
	T_EQ(sizeof(struct sisl_ioarcb), 64);
	T_EQ(sizeof(struct sisl_ioasa), 64);
	T_EQ(sizeof(struct sisl_iocmd), 128);
	T_EQ(sizeof(struct sisl_rht_entry), 16);
	T_EQ(sizeof(struct sisl_rht_entry_f1), 16);
	T_EQ(sizeof(struct sisl_host_map), 0x10000);
	T_EQ(offsetof(struct sisl_host_map, ioarrin), 0x20);
	T_EQ(offsetof(struct sisl_host_map, cmd_room), 0x38);
	T_EQ(offsetof(struct sisl_host_map, sq_ctx_reset), 0x70);
	T_EQ(offsetof(struct sisl_ioarcb, cdb), 40);
	T_EQ(offsetof(struct sisl_ioarcb, sq_ioasa_ea), 56);
	T_EQ(offsetof(struct sisl_ioasa, sense_data), 12);
	T_EQ(offsetof(struct sisl_ioasa, host_use), 32);
}

int main(void)
{
	setenv("CXLFLASH_LOG", "quiet", 0);
	T_RUN(test_sizes);
	T_RUN(test_open_errors);
	T_RUN(test_header_checks);
	return T_PASS;
}
