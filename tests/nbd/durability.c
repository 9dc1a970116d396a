/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: `cxlflash nbd` on a file LUN. Data written with FUA, and
 * data written then FLUSHed, is there after the server is killed with
 * SIGKILL and started again. While it serves, the LUN is locked: a
 * superpipe open (cxlflash_open) and a second `cxlflash nbd` get EBUSY.
 * A simulated power cut (the fault wrapper's write cache) after the kill
 * keeps what was written with FUA, aligned or not, and what was flushed,
 * and loses the rest. Also the command line: --help, bad usage, SIGTERM
 * ends it with status 0.
 */
#include "nbd_test.h"

#include <cxlflash/cxlflash_ioctl.h>

static char sock[4096], img[4096], lun[4200];
static char out[65536];

static void test_cli(void)
{
	const char *tool = nt_tool();
	struct nt_server s;

	T_EQ(nt_run((const char *[]){ tool, "--help", NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "nbd"));
	T_EQ(nt_run((const char *[]){ tool, "nbd", "--help", NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "--socket"));
	T_EQ(nt_run((const char *[]){ tool, NULL }, out, sizeof(out)), 2);
	T_EQ(nt_run((const char *[]){ tool, "frobnicate", NULL }, out, sizeof(out)), 2);
	T_EQ(nt_run((const char *[]){ tool, "nbd", NULL }, out, sizeof(out)), 2);
	T_EQ(nt_run((const char *[]){ tool, "nbd", "--tcp", "x:y", "ram:1M", NULL }, out,
		     sizeof(out)), 2);
	T_EQ(nt_run((const char *[]){ tool, "nbd", "--socket", sock, "/nonexistent/lun", NULL },
		    out, sizeof(out)), 1);
	/* SIGTERM: a clean stop, the socket file removed. */
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "ram:1M", NULL }), 0);
	T_ASSERT(strstr(s.lines, "listening: unix:"));
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	T_ASSERT(access(sock, F_OK) != 0);
}

static void test_durable(void)
{
	static uint8_t w[3][65536], r[65536];
	struct nt_server s, s2;
	int fd;

	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "d", lun, NULL }), 0);
	fd = nc_open(sock, "d", false, NULL);
	t_pattern_fill(w[0], sizeof(w[0]), 1, 10);
	t_pattern_fill(w[1], sizeof(w[1]), 2, 100);
	t_pattern_fill(w[2], sizeof(w[2]), 3, 7);
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 10 * 4096, sizeof(w[0]), w[0]), 0);
	T_EQ(nc_write(fd, 0, 100 * 4096, sizeof(w[1]), w[1]), 0);
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 7 * 4096 + 100, 1000, w[2]), 0); /* RMW + FUA */
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);

	/* Locked while served. */
	errno = 0;
	T_EQ(cxlflash_open(img, O_RDWR), -1);
	T_EQ(errno, EBUSY);
	T_EQ(nt_server_start(&s2, (const char *[]){ "--socket", t_path("nbd-dur2.sock"), lun,
						    NULL }), 1);

	T_EQ(nt_server_stop(&s, SIGKILL), 128 + SIGKILL);
	close(fd);
	unlink(sock);   /* a killed server leaves it; a restart would replace it anyway */

	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "d", lun, NULL }), 0);
	fd = nc_open(sock, "d", false, NULL);
	T_EQ(nc_read(fd, 10 * 4096, sizeof(r), r), 0);
	T_ASSERT(!memcmp(r, w[0], sizeof(r)));
	T_EQ(nc_read(fd, 100 * 4096, sizeof(r), r), 0);
	T_ASSERT(!memcmp(r, w[1], sizeof(r)));
	T_EQ(nc_read(fd, 7 * 4096 + 100, 1000, r), 0);
	T_ASSERT(!memcmp(r, w[2], 1000));
	nc_disc(fd);
	T_EQ(nt_server_stop(&s, SIGINT), 0);
	/* Unlocked once it is gone. */
	fd = cxlflash_open(img, O_RDWR);
	T_ASSERT(fd >= 0);
	T_EQ(cxlflash_close(fd), 0);
}

/* FUA and FLUSH across a kill and a power cut; a plain write is lost. */
static void test_powercut(void)
{
	static uint8_t w[4][65536], r[65536], z[65536];
	char flun[4300], wc[4200];
	struct nt_server s;
	int fd;

	snprintf(flun, sizeof(flun), "fault:%s", lun);
	snprintf(wc, sizeof(wc), "%s.wcache", img);
	unlink(img);
	unlink(wc);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "d", flun, NULL }), 0);
	fd = nc_open(sock, "d", false, NULL);
	t_pattern_fill(w[0], sizeof(w[0]), 1, 10);
	t_pattern_fill(w[1], sizeof(w[1]), 2, 100);
	t_pattern_fill(w[2], sizeof(w[2]), 3, 7);
	t_pattern_fill(w[3], sizeof(w[3]), 4, 300);
	T_EQ(nc_write(fd, 0, 300 * 4096, sizeof(w[3]), w[3]), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
	/* Unaligned FUA is a read-modify-write and a flush of everything. */
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 7 * 4096 + 100, 1000, w[2]), 0);
	T_EQ(nc_write(fd, 0, 100 * 4096, sizeof(w[1]), w[1]), 0);    /* never flushed */
	/* Aligned FUA makes itself durable, not the write before it. */
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 10 * 4096, sizeof(w[0]), w[0]), 0);
	T_EQ(nt_server_stop(&s, SIGKILL), 128 + SIGKILL);
	close(fd);
	unlink(sock);
	T_EQ(nt_run((const char *[]){ nt_tool(), "powercut", flun, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, ": 16 blocks"));   /* the plain write's */

	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "d", lun, NULL }), 0);
	fd = nc_open(sock, "d", false, NULL);
	T_EQ(nc_read(fd, 10 * 4096, sizeof(r), r), 0);
	T_ASSERT(!memcmp(r, w[0], sizeof(r)));
	T_EQ(nc_read(fd, 7 * 4096 + 100, 1000, r), 0);
	T_ASSERT(!memcmp(r, w[2], 1000));
	T_EQ(nc_read(fd, 300 * 4096, sizeof(r), r), 0);
	T_ASSERT(!memcmp(r, w[3], sizeof(r)));
	T_EQ(nc_read(fd, 100 * 4096, sizeof(r), r), 0);
	T_ASSERT(!memcmp(r, z, sizeof(r)));
	nc_disc(fd);
	T_EQ(nt_server_stop(&s, SIGINT), 0);
	unlink(wc);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-dur.sock"));
	snprintf(img, sizeof(img), "%s", t_path("nbd-dur.img"));
	snprintf(lun, sizeof(lun), "file:%s?size=32M", img);
	unlink(img);
	unlink(sock);
	T_RUN(test_cli);
	T_RUN(test_durable);
	T_RUN(test_powercut);
	unlink(img);
	return T_PASS;
}
