/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: block status as real clients use it, against `cxlflash nbd`.
 * `nbdinfo --map` of a sparse file LUN and of a RAM LUN written over NBD
 * shows exactly the written areas as data, a NO_HOLE zeroed area as zero
 * and the rest as hole,zero; `qemu-img map` agrees. A 64 GiB file LUN with
 * 5 MiB written is copied by `nbdcopy` and by `qemu-img convert -n` into
 * sparse files: only the data moves (the copies allocate a few MiB) and
 * they read back the same as the LUN. The copy times are printed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* SEEK_DATA */
#endif
#include "nbd_test.h"

#include <time.h>

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

static char out[1 << 16];
static uint8_t buf[4 * MIB], buf2[4 * MIB];

struct ext {
	uint64_t off, len;
	unsigned type;
};

/* Parse `nbdinfo --map` ("OFFSET LENGTH TYPE DESCRIPTION" lines) and
 * compare with @want (terminated by len 0). */
static void expect_nbdinfo_map(const char *uri, const struct ext *want)
{
	char *line, *save = NULL;
	unsigned i = 0;

	T_EQ(nt_run((const char *[]){ "nbdinfo", "--map", uri, NULL }, out, sizeof(out)), 0);
	fprintf(stderr, "%s", out);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long off, len;
		unsigned type;

		T_EQ(sscanf(line, "%llu %llu %u", &off, &len, &type), 3);
		T_ASSERT(want[i].len);
		T_EQ(off, want[i].off);
		T_EQ(len, want[i].len);
		T_EQ(type, want[i].type);
		i++;
	}
	T_EQ(want[i].len, 0);
}

/* `qemu-img map --output=json`: its data extents are exactly those of
 * @want that are not holes (QEMU calls allocated zeroes data too). */
static void expect_qemu_map(const char *uri, const struct ext *want)
{
	const char *p = out;
	unsigned i = 0;

	if (!nt_have("qemu-img"))
		return;
	T_EQ(nt_run((const char *[]){ "qemu-img", "map", "-f", "raw", "--output=json", uri, NULL },
		    out, sizeof(out)), 0);
	while ((p = strstr(p, "\"start\": "))) {
		unsigned long long off = strtoull(p + 9, NULL, 10), len;
		const char *q = strstr(p, "\"length\": "), *d = strstr(p, "\"data\": ");

		T_ASSERT(q && d);
		len = strtoull(q + 10, NULL, 10);
		p = d + 8;
		if (strncmp(p, "true", 4))
			continue;
		while (want[i].len && (want[i].type & 1))
			i++;
		T_ASSERT(want[i].len);
		T_EQ(off, want[i].off);
		T_EQ(len, want[i].len);
		i++;
	}
	while (want[i].len && (want[i].type & 1))
		i++;
	T_EQ(want[i].len, 0);
}

static void put_pattern(int fd, uint64_t off, size_t len, uint64_t seed)
{
	t_pattern_fill(buf, len, seed, off >> 12);
	T_EQ(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
}

static void sparse_file_map(void)
{
	const char *img = t_path("bs-map.img");
	char sock[4096], uri[4300], lun[4300];
	struct nt_server s;
	int fd;

	unlink(img);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_ASSERT(fd >= 0);
	T_EQ(ftruncate(fd, 256 * MIB), 0);
	put_pattern(fd, 3 * MIB, 2 * MIB, 1);
	put_pattern(fd, 100 * MIB, 4 * KIB, 2);
	put_pattern(fd, 256 * MIB - 64 * KIB, 64 * KIB, 3);
	close(fd);
	snprintf(sock, sizeof(sock), "%s", t_path("bs-map.sock"));
	snprintf(lun, sizeof(lun), "file:%s", img);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "f", lun, NULL }),
	     0);
	snprintf(uri, sizeof(uri), "nbd+unix:///f?socket=%s", sock);
	const struct ext want[] = {
		{ 0, 3 * MIB, 3 }, { 3 * MIB, 2 * MIB, 0 }, { 5 * MIB, 95 * MIB, 3 },
		{ 100 * MIB, 4 * KIB, 0 }, { 100 * MIB + 4 * KIB, 156 * MIB - 68 * KIB, 3 },
		{ 256 * MIB - 64 * KIB, 64 * KIB, 0 }, { 0, 0, 0 },
	};
	expect_nbdinfo_map(uri, want);
	expect_qemu_map(uri, want);
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	unlink(img);
}

/* A RAM LUN: written through NBD (a raw client), then mapped. */
static void ram_map(void)
{
	char sock[4096], uri[4300];
	struct nt_server s;
	int fd;

	snprintf(sock, sizeof(sock), "%s", t_path("bs-ram.sock"));
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "r", "ram:1G",
						   NULL }), 0);
	snprintf(uri, sizeof(uri), "nbd+unix:///r?socket=%s", sock);
	expect_nbdinfo_map(uri, (const struct ext[]){ { 0, 1 * GIB, 3 }, { 0, 0, 0 } });
	fd = nc_open(sock, "r", false, NULL);
	memset(buf, 0x5a, 1 * MIB);
	T_EQ(nc_write(fd, 0, 8 * MIB, 1 * MIB, buf), 0);
	T_EQ(nc_write(fd, 0, 512 * MIB + 4 * KIB, 8 * KIB, buf), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 600 * MIB, 1 * MIB), 0);
	T_EQ(nc_write(fd, 0, 1 * GIB - 4 * KIB, 4 * KIB, buf), 0);
	nc_disc(fd);
	const struct ext want[] = {
		{ 0, 8 * MIB, 3 }, { 8 * MIB, 1 * MIB, 0 }, { 9 * MIB, 503 * MIB + 4 * KIB, 3 },
		{ 512 * MIB + 4 * KIB, 8 * KIB, 0 }, { 512 * MIB + 12 * KIB, 88 * MIB - 12 * KIB, 3 },
		{ 600 * MIB, 1 * MIB, 2 }, { 601 * MIB, 423 * MIB - 4 * KIB, 3 },
		{ 1 * GIB - 4 * KIB, 4 * KIB, 0 }, { 0, 0, 0 },
	};
	expect_nbdinfo_map(uri, want);
	expect_qemu_map(uri, want);
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
}

/* @a and @b read the same: every byte that is data in either is compared;
 * where both are holes both read zeroes. Sizes must match. */
static void sparse_same(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	struct stat sa, sb;

	T_ASSERT(fa >= 0 && fb >= 0);
	T_EQ(fstat(fa, &sa), 0);
	T_EQ(fstat(fb, &sb), 0);
	T_EQ(sa.st_size, sb.st_size);
	for (int pass = 0; pass < 2; pass++) {
		int f = pass ? fb : fa;
		off_t off = 0, d, h;

		while ((d = lseek(f, off, SEEK_DATA)) >= 0) {
			h = lseek(f, d, SEEK_HOLE);
			T_ASSERT(h > d);
			for (off_t p = d; p < h;) {
				size_t n = (size_t)(h - p) < sizeof(buf) ? (size_t)(h - p) : sizeof(buf);

				T_EQ(pread(fa, buf, n, p), (ssize_t)n);
				T_EQ(pread(fb, buf2, n, p), (ssize_t)n);
				T_ASSERT(!memcmp(buf, buf2, n));
				p += (off_t)n;
			}
			off = h;
		}
	}
	close(fa);
	close(fb);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long allocated(const char *path)
{
	struct stat st;

	T_EQ(stat(path, &st), 0);
	return (long long)st.st_blocks * 512;
}

/* A 64 GiB file LUN with 5 MiB written, copied sparsely. */
static void sparse_copy(void)
{
	const char *img = t_path("bs-big.img"), *dst = t_path("bs-big.copy");
	char sock[4096], uri[4300], lun[4300];
	struct nt_server s;
	double t;
	int fd;

	unlink(img);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_ASSERT(fd >= 0);
	T_EQ(ftruncate(fd, 64 * GIB), 0);
	put_pattern(fd, 0, 1 * MIB, 11);
	put_pattern(fd, 7 * GIB + 3 * MIB, 2 * MIB, 12);
	put_pattern(fd, 33 * GIB + 4 * KIB, 4 * KIB, 13);
	put_pattern(fd, 64 * GIB - 2 * MIB, 2 * MIB - 4 * KIB, 14);
	close(fd);
	fprintf(stderr, "   source: 64 GiB, %lld bytes allocated\n", allocated(img));
	snprintf(sock, sizeof(sock), "%s", t_path("bs-big.sock"));
	snprintf(lun, sizeof(lun), "file:%s", img);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "big", lun, NULL }),
	     0);
	snprintf(uri, sizeof(uri), "nbd+unix:///big?socket=%s", sock);

	if (nt_have("nbdcopy")) {
		unlink(dst);
		t = now();
		T_EQ(nt_run((const char *[]){ "nbdcopy", uri, dst, NULL }, out, sizeof(out)), 0);
		t = now() - t;
		fprintf(stderr, "   nbdcopy: %.2f s, destination %lld bytes allocated\n", t,
			allocated(dst));
		T_ASSERT(allocated(dst) < 64 * (long long)MIB);
		sparse_same(img, dst);
	}
	if (nt_have("qemu-img")) {
		unlink(dst);
		fd = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
		T_ASSERT(fd >= 0);
		T_EQ(ftruncate(fd, 64 * GIB), 0);
		close(fd);
		t = now();
		T_EQ(nt_run((const char *[]){ "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw",
					      uri, dst, NULL }, out, sizeof(out)), 0);
		t = now() - t;
		fprintf(stderr, "   qemu-img convert -n: %.2f s, destination %lld bytes allocated\n",
			t, allocated(dst));
		T_ASSERT(allocated(dst) < 64 * (long long)MIB);
		sparse_same(img, dst);
	}
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	unlink(dst);
	unlink(img);
}

int main(void)
{
	T_SKIP_IF(!nt_have("nbdinfo"), "nbdinfo is not installed (Debian: libnbd-bin)");
	sparse_file_map();
	ram_map();
	sparse_copy();
	return T_PASS;
}
