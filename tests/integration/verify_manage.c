/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: VERIFY (last LBA of physical and virtual handles; a file that
 * grew is noticed with a capacity-changed unit attention; sense data that
 * is bad or reports another error) and MANAGE_LUN (the WWID from INQUIRY
 * page 0x83; legacy mode refuses superpipe requests; DISABLE while in use
 * is EBUSY; a wrong WWID is EINVAL).
 */
#include "t_util.h"

#include <fcntl.h>
#include <unistd.h>

#include "t_sisl.h"
#include "util/byteorder.h"

#define MiB (1ull << 20)

static int verify(int fd, uint64_t ctx, uint64_t h, const uint8_t *sense, uint64_t *last)
{
	struct dk_cxlflash_verify v = { 0 };
	int rc;

	v.context_id = ctx;
	v.rsrc_handle = h;
	if (sense) {
		v.hint = DK_CXLFLASH_VERIFY_HINT_SENSE;
		memcpy(v.sense_data, sense, DK_CXLFLASH_VERIFY_SENSE_LEN);
	}
	rc = cxlflash_ioctl(fd, DK_CXLFLASH_VERIFY, &v);
	if (!rc && last)
		*last = v.last_lba;
	return rc;
}

static void test_verify(void)
{
	const char *path = t_path("verify.img");
	char name[4200];
	uint8_t ua[18] = { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2A, 0x09 };
	uint8_t medium[18] = { 0x70, 0, 0x03, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0x00 };
	uint8_t notready[18] = { 0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x01 };
	uint8_t bogus[18] = { 0x12 };
	struct t_sisl s;
	uint64_t h, last;
	int fd;

	unlink(path);
	snprintf(name, sizeof(name), "file:%s?size=512M", path);
	fd = cxlflash_open(name, O_RDWR);
	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(s.last_lba, 512 * MiB / 4096 - 1);
	T_EQ(t_udirect(fd, s.ctxid, &h), 0);
	T_EQ(verify(fd, s.ctxid, h, NULL, &last), 0);
	T_EQ(last, 512 * MiB / 4096 - 1);
	T_ASSERT(truncate(path, 1024 * MiB) == 0);
	T_EQ(verify(fd, s.ctxid, h, NULL, &last), 0);        /* no hint: nothing re-read */
	T_EQ(last, 512 * MiB / 4096 - 1);
	T_EQ(verify(fd, s.ctxid, h, ua, &last), 0);          /* capacity changed */
	T_EQ(last, 1024 * MiB / 4096 - 1);
	{
		uint8_t b[4096] __attribute__((aligned(4096)));

		T_EQ(t_sisl_rw(&s, (uint32_t)h, last, 1, b, true), 0); /* the new end is usable */
	}
	T_EQ(verify(fd, s.ctxid, h, notready, &last), 0);
	T_ERRNO(verify(fd, s.ctxid, h, medium, &last), EIO);
	T_ERRNO(verify(fd, s.ctxid, h, bogus, &last), EINVAL);
	T_ERRNO(verify(fd, s.ctxid, h + 1, NULL, &last), EINVAL);
	T_ERRNO(verify(fd, s.ctxid + 1, h, NULL, &last), EINVAL);
	T_EQ(t_release(fd, s.ctxid, h), 0);
	/* virtual: last LBA from the chunks held */
	T_EQ(t_uvirtual(fd, s.ctxid, 70000, 0, &h, NULL), 0);
	T_EQ(verify(fd, s.ctxid, h, NULL, &last), 0);
	T_EQ(last, 2 * 65536 - 1);
	t_sisl_detach(&s, true);
	cxlflash_close(fd);
	unlink(path);
}

static void inquiry_wwid(struct t_sisl *s, uint32_t h, uint8_t wwid[16])
{
	/* page 0x83 with one NAA designator is 4 + 4 + 16 bytes */
	uint8_t cdb[16] = { 0x12, 0x01, 0x83, 0, 24, 0 };
	uint8_t buf[24] __attribute__((aligned(16))) = { 0 };

	T_EQ(t_sisl_run(s, h, cdb, buf, 24, false), 0);
	T_EQ(buf[1], 0x83);
	T_EQ(buf[4 + 1] & 0xF, 0x3);  /* designator type NAA */
	T_EQ(buf[4 + 3], 16);
	memcpy(wwid, buf + 8, 16);
	T_EQ(wwid[0] >> 4, 6);        /* NAA 6 */
}

static int manage(int fd, const uint8_t wwid[16], uint64_t flags)
{
	struct dk_cxlflash_manage_lun m = { 0 };

	m.hdr.flags = flags;
	memcpy(m.wwid, wwid, 16);
	return cxlflash_ioctl(fd, DK_CXLFLASH_MANAGE_LUN, &m);
}

static void test_manage_lun(void)
{
	int fd = cxlflash_open("ram:1G", O_RDWR);
	struct t_sisl s;
	uint8_t wwid[16], wrong[16];
	uint64_t h;

	T_ASSERT(fd >= 0);
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_udirect(fd, s.ctxid, &h), 0);
	inquiry_wwid(&s, (uint32_t)h, wwid);
	memcpy(wrong, wwid, 16);
	wrong[15] ^= 1;
	T_ERRNO(manage(fd, wrong, DK_CXLFLASH_MANAGE_LUN_DISABLE_SUPERPIPE), EINVAL);
	T_ERRNO(manage(fd, wwid, DK_CXLFLASH_MANAGE_LUN_DISABLE_SUPERPIPE), EBUSY);
	T_EQ(manage(fd, wwid, DK_CXLFLASH_MANAGE_LUN_ENABLE_SUPERPIPE), 0); /* repeat: no-op */
	T_EQ(manage(fd, wwid, 0), 0);
	T_EQ(t_release(fd, s.ctxid, h), 0);
	T_EQ(t_detach(fd, s.ctxid), 0);
	T_EQ(manage(fd, wwid, DK_CXLFLASH_MANAGE_LUN_DISABLE_SUPERPIPE), 0);
	{
		struct dk_cxlflash_attach a = { 0 };

		T_ERRNO(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), EINVAL); /* legacy mode */
		T_EQ(manage(fd, wwid, DK_CXLFLASH_MANAGE_LUN_ENABLE_SUPERPIPE), 0);
		T_EQ(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), 0);
		T_EQ(t_detach(fd, a.context_id), 0);
		close((int)a.adap_fd);
	}
	t_sisl_detach(&s, false);
	cxlflash_close(fd);
}

int main(void)
{
	setenv("CXLFLASH_LOG", "quiet", 0);
	T_RUN(test_verify);
	T_RUN(test_manage_lun);
	return T_PASS;
}
