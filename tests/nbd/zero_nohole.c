/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: NBD_CMD_WRITE_ZEROES with NBD_CMD_FLAG_NO_HOLE leaves the
 * range allocated: on a file LUN on tmpfs (which has no ZERO_RANGE) the
 * file's blocks cover it and SEEK_HOLE finds no hole in it; on a RAM LUN
 * the memory stays resident. Without NO_HOLE the range may become a hole,
 * and on both it does (a punched hole, memory given back). Aligned and
 * unaligned ranges; every zeroed range reads back as zeroes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* SEEK_DATA, SEEK_HOLE */
#endif
#include "nbd_test.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#define LUN_SIZE (64ull << 20)
#define MIB      (1u << 20)

static uint8_t buf[4 * MIB], zero[4 * MIB];

/* Bytes allocated to the file at @path. */
static uint64_t allocated(const char *path)
{
	struct stat st;

	T_EQ(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* True when [off, off + len) of @path has no hole (all allocated). */
static bool no_hole_in(const char *path, uint64_t off, uint64_t len)
{
	int fd = open(path, O_RDONLY);
	off_t h;

	T_ASSERT(fd >= 0);
	T_EQ(lseek(fd, (off_t)off, SEEK_DATA), (off_t)off);
	h = lseek(fd, (off_t)off, SEEK_HOLE);
	close(fd);
	return (uint64_t)h >= off + len;
}

/* True when [off, off + len) of @path is all hole. */
static bool all_hole(const char *path, uint64_t off, uint64_t len)
{
	int fd = open(path, O_RDONLY);
	off_t d;

	T_ASSERT(fd >= 0);
	T_EQ(lseek(fd, (off_t)off, SEEK_HOLE), (off_t)off);
	d = lseek(fd, (off_t)off, SEEK_DATA);
	close(fd);
	return d < 0 || (uint64_t)d >= off + len;
}

static void write_data(int fd, uint64_t off, uint32_t len, uint64_t seed)
{
	for (uint32_t done = 0; done < len; done += sizeof(buf)) {
		uint32_t n = len - done < sizeof(buf) ? len - done : (uint32_t)sizeof(buf);

		t_pattern_fill(buf, n, seed, (off + done) >> 12);
		T_EQ(nc_write(fd, 0, off + done, n, buf), 0);
	}
}

static void expect_zeroes(int fd, uint64_t off, uint32_t len)
{
	T_ASSERT(len <= sizeof(buf));
	memset(buf, 0xee, len);
	T_EQ(nc_read(fd, off, len, buf), 0);
	T_ASSERT(!memcmp(buf, zero, len));
}

static void test_tmpfs_file(void)
{
	struct nt_export e;
	struct nbd_server *srv;
	struct statfs sf;
	char img[4096], spec[4200], sock[4096];
	uint64_t before;
	int fd;

	/* tmpfs is where ZERO_RANGE is missing and the old fallback punched. */
	T_SKIP_IF(statfs("/dev/shm", &sf) != 0 || sf.f_type != TMPFS_MAGIC,
		  "/dev/shm is not tmpfs");
	snprintf(img, sizeof(img), "/dev/shm/cxlflash-nohole.%d.img", (int)getpid());
	snprintf(spec, sizeof(spec), "file:%s?size=%llu", img, LUN_SIZE);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-nohole.sock"));
	unlink(img);
	srv = nt_serve(&e, spec, sock);
	fd = nc_open(sock, "lun", false, NULL);
	T_EQ(allocated(img), 0);  /* created sparse */

	/* NO_HOLE on a hole: aligned 4 MiB at 4 MiB is allocated afterwards. */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 4 * MIB, 4 * MIB), 0);
	T_ASSERT(allocated(img) >= 4 * MIB);
	T_ASSERT(no_hole_in(img, 4 * MIB, 4 * MIB));
	expect_zeroes(fd, 4 * MIB, 4 * MIB);

	/* NO_HOLE over data, unaligned: every covering block stays allocated. */
	write_data(fd, 16 * MIB, 2 * MIB, 5);
	before = allocated(img);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 16 * MIB + 100,
		    MIB + 3000), 0);
	T_EQ(allocated(img), before);
	T_ASSERT(no_hole_in(img, 16 * MIB, 2 * MIB));
	expect_zeroes(fd, 16 * MIB + 100, MIB + 3000);
	T_EQ(nc_read(fd, 16 * MIB, 100, buf), 0);
	T_EQ(t_pattern_check(buf, 100, 5, 16 * MIB >> 12), 0);

	/* NO_HOLE with FUA: same, then flushed. */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA,
		    24 * MIB, MIB), 0);
	T_ASSERT(no_hole_in(img, 24 * MIB, MIB));

	/* Without NO_HOLE the server may punch, and on tmpfs it does. */
	write_data(fd, 32 * MIB, 4 * MIB, 9);
	T_ASSERT(no_hole_in(img, 32 * MIB, 4 * MIB));
	before = allocated(img);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, 32 * MIB, 4 * MIB), 0);
	T_ASSERT(all_hole(img, 32 * MIB, 4 * MIB));
	T_EQ(allocated(img), before - 4 * MIB);
	expect_zeroes(fd, 32 * MIB, 4 * MIB);

	/* And NO_HOLE fills that hole again. */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 32 * MIB, 4 * MIB), 0);
	T_ASSERT(no_hole_in(img, 32 * MIB, 4 * MIB));
	T_EQ(allocated(img), before);

	nc_disc(fd);
	nt_unserve(srv, &e);
	unlink(sock);
	unlink(img);
}

/* Resident memory of this process, in bytes. */
static uint64_t resident(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, res = 0;

	T_ASSERT(f);
	T_EQ(fscanf(f, "%llu %llu", &size, &res), 2);
	fclose(f);
	return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void test_ram(void)
{
	struct nt_export e;
	struct nbd_server *srv;
	char sock[4096];
	uint64_t r0, r1, r2;
	const uint32_t len = 32 * MIB;
	int fd;

	snprintf(sock, sizeof(sock), "%s", t_path("nbd-nohole-ram.sock"));
	srv = nt_serve(&e, "ram:64M", sock);
	fd = nc_open(sock, "lun", false, NULL);
	write_data(fd, 0, len, 3);

	/* Without NO_HOLE: the memory goes back to the kernel. */
	r0 = resident();
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, 0, len), 0);
	r1 = resident();
	fprintf(stderr, "   resident %llu -> %llu KiB after a zero without NO_HOLE\n",
		(unsigned long long)r0 >> 10, (unsigned long long)r1 >> 10);
	T_ASSERT(r1 + 24 * MIB <= r0);

	/* NO_HOLE: written zeroes, resident again (the old code gave whole
	 * huge pages back here too). */
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 0, len), 0);
	r2 = resident();
	fprintf(stderr, "   resident %llu KiB after a zero with NO_HOLE\n",
		(unsigned long long)r2 >> 10);
	T_ASSERT(r2 >= r1 + 24 * MIB);
	for (uint32_t off = 0; off < len; off += 4 * MIB)
		expect_zeroes(fd, off, 4 * MIB);

	nc_disc(fd);
	nt_unserve(srv, &e);
	unlink(sock);
}

int main(void)
{
	T_RUN(test_ram);
	T_RUN(test_tmpfs_file);
	return T_PASS;
}
