/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: a read-only export advertises READ_ONLY and none of
 * SEND_TRIM, SEND_WRITE_ZEROES, SEND_FUA, as a client sees the
 * transmission flags after NBD_OPT_GO, NBD_OPT_INFO and NBD_OPT_EXPORT_NAME
 * (and nbdinfo, when installed); a writable export advertises all three.
 * Writes, trims and write-zeroes sent anyway (with or without FUA,
 * NO_HOLE) fail with EPERM and change nothing.
 */
#include "nbd_test.h"

#define WRITE_FLAGS (NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FUA)

static char sock[4096];

static void check_flags(const char *name, uint16_t flags)
{
	fprintf(stderr, "   export '%s': transmission flags %#x\n", name, flags);
	T_ASSERT(flags & NBD_FLAG_HAS_FLAGS);
	T_ASSERT(flags & NBD_FLAG_SEND_FLUSH);
	if (!strcmp(name, "ro")) {
		T_ASSERT(flags & NBD_FLAG_READ_ONLY);
		T_EQ(flags & WRITE_FLAGS, 0);
	} else {
		T_EQ(flags & NBD_FLAG_READ_ONLY, 0);
		T_EQ(flags & WRITE_FLAGS, WRITE_FLAGS);
	}
}

/* NBD_OPT_GO, as nc_go() does it. */
static void test_go(void)
{
	static const char *names[] = { "ro", "lun" };

	for (int i = 0; i < 2; i++) {
		int fd = nc_connect(sock);
		uint16_t flags = 0;

		nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
		T_EQ(nc_go(fd, names[i], NULL, &flags, NULL, 0), NBD_REP_ACK);
		check_flags(names[i], flags);
		nc_disc(fd);
	}
}

/* NBD_OPT_INFO: the same NBD_INFO_EXPORT, no transmission after it. */
static void test_info(void)
{
	int fd = nc_connect(sock);
	uint8_t d[4 + 2 + 2], r[256];
	uint32_t type, len;
	uint16_t flags = 0;

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	put_be32(d, 2);
	memcpy(d + 4, "ro", 2);
	put_be16(d + 6, 0);
	nc_option(fd, NBD_OPT_INFO, d, sizeof(d));
	while ((type = nc_opt_reply(fd, NBD_OPT_INFO, r, sizeof(r) - 1, &len)) == NBD_REP_INFO) {
		if (get_be16(r) == NBD_INFO_EXPORT)
			flags = get_be16(r + 10);
	}
	T_EQ(type, NBD_REP_ACK);
	check_flags("ro", flags);
	nc_option(fd, NBD_OPT_ABORT, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_ABORT, NULL, 0, NULL), NBD_REP_ACK);
	close(fd);
}

/* NBD_OPT_EXPORT_NAME: size and flags straight after the option. */
static void test_export_name(void)
{
	int fd = nc_connect(sock);
	uint8_t r[10];

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(fd, NBD_OPT_EXPORT_NAME, "ro", 2);
	T_EQ(nc_recv(fd, r, sizeof(r)), 0);
	T_EQ(get_be64(r), 16ull << 20);
	check_flags("ro", get_be16(r + 8));
	nc_disc(fd);
}

/* Sent anyway: EPERM, whatever the flags, and the data stays. */
static void test_eperm(void)
{
	static uint8_t w[8192], r[8192], orig[8192];
	int fd = nc_open(sock, "lun", false, NULL);

	t_pattern_fill(w, sizeof(w), 11, 0);
	T_EQ(nc_write(fd, 0, 0, sizeof(w), w), 0);
	nc_disc(fd);

	fd = nc_open(sock, "ro", false, NULL);
	T_EQ(nc_read(fd, 0, sizeof(orig), orig), 0);
	T_ASSERT(!memcmp(orig, w, sizeof(w)));
	memset(w, 0x5a, sizeof(w));
	T_EQ(nc_write(fd, 0, 0, 4096, w), NBD_EPERM);
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 100, 50, w), NBD_EPERM);
	T_EQ(nc_cmd(fd, NBD_CMD_TRIM, 0, 0, 8192), NBD_EPERM);
	T_EQ(nc_cmd(fd, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 0, 8192), NBD_EPERM);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, 0, 8192), NBD_EPERM);
	T_EQ(nc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA, 0, 8192),
	     NBD_EPERM);
	/* Flush and reads still work. */
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
	T_EQ(nc_read(fd, 0, sizeof(r), r), 0);
	T_ASSERT(!memcmp(r, orig, sizeof(r)));
	nc_disc(fd);
}

/* What libnbd makes of the flags. */
static void test_nbdinfo(void)
{
	static char out[65536];
	char uri[4300];

	if (!nt_have("nbdinfo")) {
		fprintf(stderr, "   nbdinfo is not installed (Debian: libnbd-bin): not checked\n");
		return;
	}
	snprintf(uri, sizeof(uri), "nbd+unix:///ro?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "is_read_only: true"));
	T_ASSERT(strstr(out, "can_trim: false"));
	T_ASSERT(strstr(out, "can_zero: false"));
	T_ASSERT(strstr(out, "can_fua: false"));
	T_ASSERT(strstr(out, "can_flush: true"));
	snprintf(uri, sizeof(uri), "nbd+unix:///lun?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "is_read_only: false"));
	T_ASSERT(strstr(out, "can_trim: true"));
	T_ASSERT(strstr(out, "can_zero: true"));
	T_ASSERT(strstr(out, "can_fua: true"));
}

int main(void)
{
	static struct nt_export e;
	struct nbd_server *srv;

	snprintf(sock, sizeof(sock), "%s", t_path("nbd-roflags.sock"));
	srv = nt_serve(&e, "ram:16M", sock);
	T_RUN(test_go);
	T_RUN(test_info);
	T_RUN(test_export_name);
	T_RUN(test_eperm);
	T_RUN(test_nbdinfo);
	for (int i = 0; i < 500 && nt_export_refs(&e); i++)
		usleep(10000);
	nt_unserve(srv, &e);
	unlink(sock);
	return T_PASS;
}
