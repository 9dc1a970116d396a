/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: one LUN, two faces. Data written over cxlflashd's NBD
 * export (nbdcopy of a file, qemu-io patterns) reads back through the
 * superpipe (cblk_read on the physical LUN, by name, through the daemon)
 * after `cxlflash lun mode NAME superpipe`; data written with cblk_write
 * reads back over NBD (raw client, nbdcopy out) after `lun mode NAME
 * legacy`, and block status (`nbdinfo --map`) shows what cblk_write wrote as
 * data. While in legacy mode the superpipe open is refused. Runs on a RAM
 * LUN and on a file LUN.
 */
#include "dnbd_test.h"

#include <capiblock.h>

#define BLK     4096u
#define IN_MB   4                     /* the file copied in with nbdcopy */
#define PAT_OFF (8u << 20)            /* qemu-io pattern 0x5a, 1 MiB */
#define CB_LBA  5000u                 /* the cblk write: 64 blocks */
#define CB_N    64u

static struct t_daemon g_d;
static char out[65536];

static void fill_file(const char *path, size_t bytes, uint64_t seed)
{
	uint8_t *b = malloc(bytes);
	FILE *f = fopen(path, "w");

	T_ASSERT(b && f);
	t_pattern_fill(b, bytes, seed, 0);
	T_EQ(fwrite(b, 1, bytes, f), bytes);
	T_EQ(fclose(f), 0);
	free(b);
}

/* cblk_read/cblk_write of @n blocks in requests the chunk accepts (through
 * the daemon, max_transfer_size is the staging area's). */
static void cb_io(chunk_id_t id, bool wr, void *buf, uint64_t lba, size_t n)
{
	chunk_attrs_t attrs;
	size_t step;

	T_EQ(cblk_get_attrs(id, &attrs, 0), 0);
	T_ASSERT(attrs.max_transfer_size >= 1);
	for (size_t done = 0; done < n; done += step) {
		uint8_t *p = (uint8_t *)buf + done * BLK;

		step = n - done < attrs.max_transfer_size ? n - done : attrs.max_transfer_size;
		if (wr)
			T_EQ(cblk_write(id, p, (cflash_offset_t)(lba + done), (int)step, 0), step);
		else
			T_EQ(cblk_read(id, p, (cflash_offset_t)(lba + done), (int)step, 0), step);
	}
}

static void qemu_io(const char *uri, const char *cmd)
{
	T_EQ(nt_run((const char *[]){ "qemu-io", "-f", "raw", "-c", cmd, uri, NULL }, out,
		    sizeof(out)), 0);
	T_ASSERT(!strstr(out, "failed") && !strstr(out, "error") && !strstr(out, "Pattern"));
}

static void nbd_then_superpipe(const char *lun, uint64_t seed)
{
	const char *in = t_path("dmode-in.raw");
	uint8_t *r = malloc((size_t)IN_MB << 20);
	chunk_id_t id;

	T_ASSERT(r);
	/* Legacy: the superpipe is closed. */
	errno = 0;
	T_EQ(cblk_open(lun, 1, O_RDWR, 0, 0), NULL_CHUNK_ID);
	T_ASSERT(errno != 0);

	fill_file(in, (size_t)IN_MB << 20, seed);
	T_EQ(nt_run((const char *[]){ "nbdcopy", in, dn_unix_uri(&g_d, lun), NULL }, out,
		    sizeof(out)), 0);
	qemu_io(dn_tcp_uri(&g_d, lun), "write -P 0x5a 8M 1M");
	/* The NBD clients are gone: the switch is allowed. */
	T_EQ(dn_lun_mode(&g_d, lun, "superpipe", out, sizeof(out)), 0);
	T_ASSERT(dn_lun_superpipe(&g_d, lun));

	id = cblk_open(lun, 16, O_RDWR, 0, 0);
	T_ASSERT(id != NULL_CHUNK_ID);
	cb_io(id, false, r, 0, ((size_t)IN_MB << 20) / BLK);
	T_EQ(t_pattern_check(r, (size_t)IN_MB << 20, seed, 0), 0);
	cb_io(id, false, r, PAT_OFF / BLK, 256);
	for (size_t i = 0; i < (1u << 20); i++)
		T_EQ(r[i], 0x5a);
	T_EQ(cblk_close(id, 0), 0);
	unlink(in);
	free(r);
}

/* `nbdinfo --map`: [off, off + len) lies in data extents. */
static void expect_data(const char *uri, uint64_t off, uint64_t len)
{
	char *line, *save = NULL;
	uint64_t covered = 0;

	T_EQ(nt_run((const char *[]){ "nbdinfo", "--map", uri, NULL }, out, sizeof(out)), 0);
	fprintf(stderr, "%s", out);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long o, l;
		unsigned type;

		T_EQ(sscanf(line, "%llu %llu %u", &o, &l, &type), 3);
		if (o + l <= off || o >= off + len)
			continue;
		T_EQ(type, 0);
		covered += (o + l < off + len ? o + l : off + len) - (o > off ? o : off);
	}
	T_EQ(covered, len);
}

static void superpipe_then_nbd(const char *lun, uint64_t seed)
{
	const char *copy = t_path("dmode-out.raw");
	uint8_t *w = malloc(CB_N * BLK), *r = malloc(CB_N * BLK);
	chunk_id_t id = cblk_open(lun, 16, O_RDWR, 0, 0);
	FILE *f;
	int fd;

	T_ASSERT(w && r && id != NULL_CHUNK_ID);
	t_pattern_fill(w, CB_N * BLK, seed, CB_LBA);
	cb_io(id, true, w, CB_LBA, CB_N);
	T_EQ(cblk_close(id, 0), 0);
	T_EQ(dn_lun_mode(&g_d, lun, "legacy", out, sizeof(out)), 0);
	T_ASSERT(!dn_lun_superpipe(&g_d, lun));

	/* A raw client, with an unaligned read across the region's head. */
	fd = nc_open(g_d.nbd_socket, lun, false, NULL);
	T_EQ(nc_read(fd, (uint64_t)CB_LBA * BLK, CB_N * BLK, r), 0);
	T_EQ(t_pattern_check(r, CB_N * BLK, seed, CB_LBA), 0);
	T_EQ(nc_read(fd, (uint64_t)CB_LBA * BLK + 100, 5000, r), 0);
	T_ASSERT(!memcmp(r, w + 100, 5000));
	nc_disc(fd);
	/* nbdcopy out the whole LUN: the cblk region and the earlier pattern. */
	unlink(copy);
	T_EQ(nt_run((const char *[]){ "nbdcopy", dn_tcp_uri(&g_d, lun), copy, NULL }, out,
		    sizeof(out)), 0);
	f = fopen(copy, "r");
	T_ASSERT(f);
	T_EQ(fseek(f, (long)CB_LBA * BLK, SEEK_SET), 0);
	T_EQ(fread(r, 1, CB_N * BLK, f), CB_N * BLK);
	T_ASSERT(!memcmp(r, w, CB_N * BLK));
	fclose(f);
	unlink(copy);
	qemu_io(dn_unix_uri(&g_d, lun), "read -P 0x5a 8M 1M");
	/* What the superpipe wrote is data to block status too. */
	expect_data(dn_unix_uri(&g_d, lun), (uint64_t)CB_LBA * BLK, CB_N * BLK);
	free(w);
	free(r);
}

int main(void)
{
	char filespec[4200];
	const char *img = t_path("dmode.img");
	const char *args[] = { "--lun", "r=ram:64M", "--lun", filespec, "--legacy", "r",
			       "--legacy", "f", "--nbd-tcp-anonymous", "r",
			       "--nbd-tcp-anonymous", "f", NULL };

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("nbdcopy") || !nt_have("qemu-io"),
		  "nbdcopy / qemu-io are not installed (Debian: libnbd-bin, qemu-utils)");
	unlink(img);
	snprintf(filespec, sizeof(filespec), "f=file:%s?size=64M", img);
	T_EQ(t_daemon_start(&g_d, args), 0);
	fprintf(stderr, "-- ram LUN\n");
	nbd_then_superpipe("r", 11);
	superpipe_then_nbd("r", 12);
	fprintf(stderr, "-- file LUN\n");
	nbd_then_superpipe("f", 21);
	superpipe_then_nbd("f", 22);
	T_EQ(t_daemon_stop(&g_d), 0);
	unlink(img);
	return T_PASS;
}
