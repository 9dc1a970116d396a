/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: NBD_FLAG_SEND_FAST_ZERO and NBD_FLAG_SEND_CACHE. A writable
 * export advertises both, a read-only one CACHE only. WRITE_ZEROES with
 * FAST_ZERO succeeds where zeroing costs no writing (a punched hole on RAM
 * and tmpfs, ZERO_RANGE where the file system has it) and otherwise fails
 * with ENOTSUP leaving the data as it was (NO_HOLE on RAM and tmpfs, a
 * range inside one block). CACHE succeeds in range and is checked like a
 * READ (EINVAL beyond the end or for length 0), read-only or not. nbdinfo
 * shows can_fast_zero / can_cache when installed. RAM LUNs bare and in
 * the fault wrapper, file LUNs on tmpfs and in the test directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* fallocate, SEEK_HOLE */
#endif
#include "nbd_test.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#define MIB (1u << 20)

static uint8_t buf[MIB], got[MIB], zero[MIB];

static void fill(int fd, uint64_t off, uint32_t len, uint64_t seed)
{
	t_pattern_fill(buf, len, seed, off >> 12);
	T_EQ(nc_write(fd, 0, off, len, buf), 0);
}

/* [off, off + len) still holds the pattern fill(seed) wrote over [base, ...). */
static void expect_pattern(int fd, uint64_t base, uint64_t off, uint32_t len, uint64_t seed)
{
	t_pattern_fill(buf, (size_t)(off - base) + len, seed, base >> 12);
	T_EQ(nc_read(fd, off, len, got), 0);
	T_ASSERT(!memcmp(got, buf + (off - base), len));
}

static void expect_zeroes(int fd, uint64_t off, uint32_t len)
{
	memset(got, 0xee, len);
	T_EQ(nc_read(fd, off, len, got), 0);
	T_ASSERT(!memcmp(got, zero, len));
}

static uint16_t flags_of(const char *sock, const char *name)
{
	int fd = nc_connect(sock);
	uint16_t flags = 0;

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(fd, name, NULL, &flags, NULL, 0), NBD_REP_ACK);
	nc_disc(fd);
	return flags;
}

static void check_advertised(const char *sock)
{
	uint16_t rw = flags_of(sock, "lun"), ro = flags_of(sock, "ro");

	fprintf(stderr, "   flags: lun %#x, ro %#x\n", rw, ro);
	T_ASSERT(rw & NBD_FLAG_SEND_FAST_ZERO);
	T_ASSERT(rw & NBD_FLAG_SEND_WRITE_ZEROES);  /* FAST_ZERO needs it */
	T_ASSERT(rw & NBD_FLAG_SEND_CACHE);
	T_EQ(ro & NBD_FLAG_SEND_FAST_ZERO, 0);
	T_ASSERT(ro & NBD_FLAG_SEND_CACHE);
}

/* A RAM LUN, bare or in the fault wrapper (whose write cache journals
 * the zeroed blocks and passes the request on). */
static void ram_case(const char *lun)
{
	struct nt_export e;
	struct nbd_server *srv;
	char sock[4096];
	int fd;

	fprintf(stderr, "   %s\n", lun);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-fz-ram.sock"));
	srv = nt_serve(&e, lun, sock);
	check_advertised(sock);
	fd = nc_open(sock, "lun", false, NULL);

	/* Without NO_HOLE RAM gives pages back: fast. Aligned, then
	 * unaligned (whole blocks fast, the edges by read-modify-write). */
	fill(fd, 0, 256 * 1024, 1);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 64 * 1024), 0);
	expect_zeroes(fd, 0, 64 * 1024);
	expect_pattern(fd, 0, 64 * 1024, 4096, 1);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_FUA,
		    100 * 1024 + 100, 3 * 4096), 0);
	expect_pattern(fd, 0, 96 * 1024, 4096 + 100, 1);
	expect_zeroes(fd, 100 * 1024 + 100, 3 * 4096);
	expect_pattern(fd, 0, 100 * 1024 + 100 + 3 * 4096, 4096, 1);

	/* NO_HOLE on RAM is a memset, as slow as a write: ENOTSUP, unchanged. */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_NO_HOLE,
		    128 * 1024, 64 * 1024), NBD_ENOTSUP);
	expect_pattern(fd, 0, 128 * 1024, 64 * 1024, 1);
	/* Inside one block there is only read-modify-write: ENOTSUP. */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 200 * 1024 + 10, 20),
	     NBD_ENOTSUP);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 200 * 1024 + 4000, 200),
	     NBD_ENOTSUP);
	expect_pattern(fd, 0, 200 * 1024, 8192, 1);
	/* Without FAST_ZERO the same requests zero, slowly. */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 128 * 1024, 64 * 1024), 0);
	expect_zeroes(fd, 128 * 1024, 64 * 1024);
	/* Bounds are checked first: beyond the end is ENOSPC as for any zero. */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 64ull * MIB, 4096),
	     NBD_ENOSPC);

	/* CACHE: in range fine (any length: it carries no payload), beyond
	 * the end or empty EINVAL like a READ; the data is untouched. */
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 0, 4096), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 100, 5000), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 0, 48 * MIB), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 64ull * MIB - 4096, 4096), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 64ull * MIB - 4096, 8192), NBD_EINVAL);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, UINT64_MAX - 10, 4096), NBD_EINVAL);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 0, 0), NBD_EINVAL);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, NBD_CMD_FLAG_NO_HOLE, 0, 4096), NBD_EINVAL);
	expect_pattern(fd, 0, 64 * 1024, 32 * 1024, 1);
	nc_disc(fd);

	/* Read-only: CACHE works, FAST_ZERO zeroes are EPERM like any zero. */
	fd = nc_open(sock, "ro", false, NULL);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 0, MIB), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 64ull * MIB, 1), NBD_EINVAL);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 4096), NBD_EPERM);
	nc_disc(fd);

	/* Structured replies: the same simple answers. */
	fd = nc_open(sock, "lun", true, NULL);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 4096, 4096), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 4096), 0);
	nc_disc(fd);

	for (int i = 0; i < 500 && nt_export_refs(&e); i++)
		usleep(10000);
	nt_unserve(srv, &e);
	unlink(sock);
}

/* Does the file system holding @dir zero a range without writing? */
static bool has_zero_range(const char *dir)
{
	char path[4200];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/cxlflash-zr-probe.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_ASSERT(fd >= 0);
	T_EQ(ftruncate(fd, 65536), 0);
	rc = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	close(fd);
	unlink(path);
	return rc == 0;
}

static bool hole_at(const char *path, uint64_t off, uint64_t len)
{
	int fd = open(path, O_RDONLY);
	off_t d;

	T_ASSERT(fd >= 0);
	d = lseek(fd, (off_t)off, SEEK_DATA);
	close(fd);
	return d < 0 || (uint64_t)d >= off + len;
}

/* Bytes allocated to @path (ext4 reports a zeroed range's unwritten
 * extents as a hole to SEEK_DATA, so count blocks). */
static uint64_t allocated(const char *path)
{
	struct stat st;

	T_EQ(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* A file LUN in @dir: fast zeroing without NO_HOLE is a punched hole;
 * with NO_HOLE it is ZERO_RANGE, or ENOTSUP where the file system has none. */
static void file_case(const char *dir)
{
	struct nt_export e;
	struct nbd_server *srv;
	char img[4200], spec[4300], sock[4096];
	bool zr = has_zero_range(dir);
	uint64_t before;
	uint32_t err;
	int fd;

	fprintf(stderr, "   file LUN in %s: ZERO_RANGE %s\n", dir, zr ? "yes" : "no");
	snprintf(img, sizeof(img), "%s/cxlflash-fz.%d.img", dir, (int)getpid());
	snprintf(spec, sizeof(spec), "file:%s?size=16M", img);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-fz-file.sock"));
	unlink(img);
	srv = nt_serve(&e, spec, sock);
	fd = nc_open(sock, "lun", false, NULL);

	fill(fd, 0, MIB, 4);
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
	before = allocated(img);
	T_ASSERT(before >= MIB);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 256 * 1024), 0);
	expect_zeroes(fd, 0, 256 * 1024);
	T_ASSERT(hole_at(img, 0, 256 * 1024));
	T_EQ(allocated(img), before - 256 * 1024);
	before = allocated(img);

	err = nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_NO_HOLE,
		     512 * 1024, 256 * 1024);
	if (zr) {
		T_EQ(err, 0);
		expect_zeroes(fd, 512 * 1024, 256 * 1024);
	} else {
		T_EQ(err, NBD_ENOTSUP);
		expect_pattern(fd, 0, 512 * 1024, 256 * 1024, 4);
		/* The slow way still works when asked without FAST_ZERO. */
		T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 512 * 1024,
			    256 * 1024), 0);
		expect_zeroes(fd, 512 * 1024, 256 * 1024);
	}
	T_EQ(allocated(img), before);  /* no hole either way */
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 0, 16 * MIB), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_CACHE, 0, 16 * MIB, 4096), NBD_EINVAL);
	nc_disc(fd);
	for (int i = 0; i < 500 && nt_export_refs(&e); i++)
		usleep(10000);
	nt_unserve(srv, &e);
	unlink(sock);
	unlink(img);
}

static void test_ram(void)
{
	ram_case("ram:64M");
	ram_case("fault:ram:64M");
}

static void test_file(void)
{
	struct statfs sf;
	const char *dir = getenv("CXLFLASH_TEST_DIR");

	if (statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
		T_ASSERT(!has_zero_range("/dev/shm"));  /* what the case relies on */
		file_case("/dev/shm");
	}
	file_case(dir && *dir ? dir : "/tmp");
}

static void test_nbdinfo(void)
{
	static char out[65536];
	struct nt_export e;
	struct nbd_server *srv;
	char sock[4096], uri[4300];

	if (!nt_have("nbdinfo")) {
		fprintf(stderr, "   nbdinfo is not installed (Debian: libnbd-bin): not checked\n");
		return;
	}
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-fz-info.sock"));
	srv = nt_serve(&e, "ram:16M", sock);
	snprintf(uri, sizeof(uri), "nbd+unix:///lun?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "can_fast_zero: true"));
	T_ASSERT(strstr(out, "can_cache: true"));
	snprintf(uri, sizeof(uri), "nbd+unix:///ro?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "can_fast_zero: false"));
	T_ASSERT(strstr(out, "can_cache: true"));
	for (int i = 0; i < 500 && nt_export_refs(&e); i++)
		usleep(10000);
	nt_unserve(srv, &e);
	unlink(sock);
}

int main(void)
{
	T_RUN(test_ram);
	T_RUN(test_file);
	T_RUN(test_nbdinfo);
	return T_PASS;
}
