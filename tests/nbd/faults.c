/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: `cxlflash nbd` on a failing device (the fault wrapper's
 * injected errors, docs/fault.md): exactly the requests that touch the
 * failing blocks get NBD_EIO (reads, aligned and read-modify-write writes,
 * write-zeroes, FUA writes), every other request succeeds, on the same
 * connection, before and after; a torn write fails with EIO. The faults
 * change at run time through the wrapper's control file.
 */
#include "nbd_test.h"

#include <stdio.h>

static char sock[4096], ctl[4096];

static void set_faults(const char *text)
{
	t_set_faults(ctl, text);
}

static void test_errors(void)
{
	static uint8_t b[8 * 4096];
	char lun[8300];
	struct nt_server s;
	int fd;

	snprintf(lun, sizeof(lun), "fault[ctl=%s]:ram:64M", ctl);
	set_faults("fail-lba=10-11");
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--name", "f", lun, NULL }), 0);
	fd = nc_open(sock, "f", false, NULL);

	T_EQ(nc_read(fd, 10 * 4096, 4096, b), NBD_EIO);
	T_EQ(nc_read(fd, 8 * 4096, 3 * 4096, b), NBD_EIO);      /* reaches 10 */
	T_EQ(nc_read(fd, 11 * 4096 + 4000, 200, b), NBD_EIO);   /* ends in 12 */
	T_EQ(nc_read(fd, 12 * 4096, 4096, b), 0);
	T_EQ(nc_read(fd, 6 * 4096, 4 * 4096, b), 0);            /* ends at 10 */
	T_EQ(nc_write(fd, 0, 11 * 4096, 4096, b), NBD_EIO);
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 10 * 4096, 8192, b), NBD_EIO);
	T_EQ(nc_write(fd, 0, 9 * 4096 + 100, 4096, b), NBD_EIO); /* RMW of 9 and 10 */
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 12 * 4096, 4096, b), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 8 * 4096, 4 * 4096), NBD_EIO);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 20 * 4096, 4 * 4096), 0);
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);

	/* Reads only. */
	set_faults("fail-lba=10-11,fail-on=read");
	T_EQ(nc_write(fd, 0, 10 * 4096, 8192, b), 0);
	T_EQ(nc_read(fd, 10 * 4096, 8192, b), NBD_EIO);

	/* A torn write: EIO, its first half written. */
	set_faults("none");
	t_pattern_fill(b, sizeof(b), 1, 100);
	T_EQ(nc_write(fd, 0, 100 * 4096, sizeof(b), b), 0);
	set_faults("tear-nth=1");
	t_pattern_fill(b, sizeof(b), 2, 100);
	T_EQ(nc_write(fd, 0, 100 * 4096, sizeof(b), b), NBD_EIO);
	set_faults("none");
	T_EQ(nc_read(fd, 100 * 4096, sizeof(b), b), 0);
	T_EQ(t_pattern_check(b, 4 * 4096, 2, 100), 0);
	T_EQ(t_pattern_check(b + 4 * 4096, 4 * 4096, 1, 104), 0);
	T_EQ(nc_read(fd, 10 * 4096, 4096, b), 0);

	nc_disc(fd);
	T_EQ(nt_server_stop(&s, SIGINT), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-faults.sock"));
	snprintf(ctl, sizeof(ctl), "%s", t_path("nbd-faults.ctl"));
	unlink(sock);
	T_RUN(test_errors);
	unlink(ctl);
	return T_PASS;
}
