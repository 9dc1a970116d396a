/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: cxlflashd exports its legacy-mode LUNs over NBD, on its
 * Unix socket and on TCP, and only those: nbdinfo sees a LUN started with
 * --legacy on both; for a superpipe LUN NBD_OPT_GO is refused with
 * NBD_REP_ERR_POLICY and a message naming the mode (nbdinfo fails, qemu-img
 * prints it); `nbdinfo --list` lists only the legacy LUNs, and follows
 * `cxlflash lun mode`. Two memory LUNs of one size stay two LUNs; the same
 * file given twice is refused at start.
 */
#include "dnbd_test.h"

static struct t_daemon g_d;
static char out[65536];

/* nbdinfo on a legacy LUN, both transports: size and block sizes. */
static void legacy_exported(void)
{
	const char *uris[] = { dn_unix_uri(&g_d, "old"), dn_tcp_uri(&g_d, "old") };

	for (int i = 0; i < 2; i++) {
		T_EQ(nt_run((const char *[]){ "nbdinfo", "--json", uris[i], NULL }, out, sizeof(out)),
		     0);
		T_ASSERT(strstr(out, "\"export-size\": 33554432"));
		T_ASSERT(strstr(out, "\"block_size_preferred\": 4096"));
		T_ASSERT(strstr(out, "\"is_read_only\": false"));
		T_ASSERT(strstr(out, "\"can_flush\": true") && strstr(out, "\"can_fua\": true"));
	}
	/* Clients are counted while connected, and not after. */
	T_EQ(dn_lun_num(&g_d, "old", "nbd_clients"), 0);
}

/* A superpipe LUN is not exported; the refusal says why. */
static void superpipe_refused(void)
{
	char msg[512];
	int fd;

	/* libnbd exits non-zero; its debug log carries the server's text. */
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", dn_unix_uri(&g_d, "sp"), NULL },
			    "LIBNBD_DEBUG=1", out, sizeof(out)) != 0);
	T_ASSERT(strstr(out, "LUN sp is in superpipe mode"));
	T_ASSERT(nt_run((const char *[]){ "nbdinfo", dn_tcp_uri(&g_d, "sp"), NULL }, out,
			sizeof(out)) != 0);
	/* QEMU shows the text to the user. */
	if (nt_have("qemu-img")) {
		T_ASSERT(nt_run_all((const char *[]){ "qemu-img", "info", dn_unix_uri(&g_d, "sp"),
						      NULL }, NULL, out, sizeof(out)) != 0);
		T_ASSERT(strstr(out, "superpipe mode"));
		T_ASSERT(strstr(out, "cxlflash lun mode sp legacy"));
	}
	/* On the wire: NBD_REP_ERR_POLICY with the message; the connection
	 * stays usable and GO of a legacy LUN then works. */
	fd = nc_connect(g_d.nbd_socket);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(fd, "sp", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "LUN sp is in superpipe mode"));
	T_EQ(nc_go(fd, "nosuch", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_UNKNOWN);
	T_ASSERT(strstr(msg, "nosuch"));
	/* Two LUNs: no default export. */
	T_EQ(nc_go(fd, "", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_UNKNOWN);
	T_EQ(nc_go(fd, "old", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(fd);
	/* Refusals took no reference. */
	T_EQ(dn_lun_num(&g_d, "sp", "nbd_clients"), 0);
}

/* nbdinfo --list: the legacy LUNs only, and it follows the mode. */
static void list_follows_mode(void)
{
	const char *list[] = { "nbdinfo", "--list", "--json", dn_unix_uri(&g_d, ""), NULL };

	T_EQ(nt_run(list, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "\"export-name\": \"old\""));
	T_ASSERT(strstr(out, "\"export-name\": \"old2\""));
	T_ASSERT(!strstr(out, "\"export-name\": \"sp\""));

	T_EQ(dn_lun_mode(&g_d, "sp", "legacy", out, sizeof(out)), 0);
	T_EQ(dn_lun_mode(&g_d, "old2", "superpipe", out, sizeof(out)), 0);
	T_EQ(nt_run(list, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "\"export-name\": \"old\""));
	T_ASSERT(strstr(out, "\"export-name\": \"sp\""));
	T_ASSERT(!strstr(out, "\"export-name\": \"old2\""));
	/* Exported again: sp now answers GO, old2 does not. */
	T_EQ(nt_run((const char *[]){ "nbdinfo", "--size", dn_tcp_uri(&g_d, "sp"), NULL }, out,
		    sizeof(out)), 0);
	T_EQ(atoll(out), 64ll << 20);
	T_ASSERT(nt_run((const char *[]){ "nbdinfo", "--size", dn_unix_uri(&g_d, "old2"), NULL },
			out, sizeof(out)) != 0);
}

/* old and old2 have the same spec: distinct LUNs, distinct data. */
static void same_spec_distinct(void)
{
	static uint8_t a[4096], b[4096];
	int fa, fb;

	T_EQ(dn_lun_mode(&g_d, "old2", "legacy", out, sizeof(out)), 0);
	T_ASSERT(!dn_lun_superpipe(&g_d, "old2") && !dn_lun_superpipe(&g_d, "old"));
	fa = nc_open(g_d.nbd_socket, "old", false, NULL);
	fb = nc_open(g_d.nbd_socket, "old2", false, NULL);
	memset(a, 0xa1, sizeof(a));
	T_EQ(nc_write(fa, 0, 8192, sizeof(a), a), 0);
	T_EQ(nc_read(fb, 8192, sizeof(b), b), 0);
	for (size_t i = 0; i < sizeof(b); i++)
		T_EQ(b[i], 0);
	T_EQ(dn_lun_num(&g_d, "old", "nbd_clients"), 1);
	T_EQ(dn_lun_num(&g_d, "old2", "nbd_clients"), 1);
	nc_disc(fa);
	nc_disc(fb);
}

/* The same file twice is refused at start, with a message that says so. */
static void same_file_refused(void)
{
	char a[4200], b[4200];
	const char *img = t_path("dexp-same.img");

	unlink(img);
	snprintf(a, sizeof(a), "a=file:%s?size=8M", img);
	snprintf(b, sizeof(b), "b=%s", img);
	T_EQ(nt_run_all((const char *[]){ t_tool_path("cxlflashd"), "--socket",
					  t_path("dexp-same.sock"), "--no-nbd", "--lun", a, "--lun", b,
					  NULL }, NULL, out, sizeof(out)), 1);
	T_ASSERT(strstr(out, "is already served as LUN a"));
	unlink(img);
}

int main(void)
{
	const char *args[] = { "--lun", "old=ram:32M", "--lun", "sp=ram:64M", "--lun", "old2=ram:32M",
			       "--legacy", "old", "--legacy", "old2", "--nbd-tcp-anonymous", "old",
			       "--nbd-tcp-anonymous", "sp", NULL };

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("nbdinfo"), "nbdinfo is not installed (Debian: libnbd-bin)");
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_RUN(legacy_exported);
	T_RUN(superpipe_refused);
	T_RUN(list_follows_mode);
	T_RUN(same_spec_distinct);
	T_RUN(same_file_refused);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
