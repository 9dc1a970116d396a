/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the mode rules of `cxlflash lun mode` against cxlflashd.
 * To superpipe while an NBD client is connected: EBUSY (exit 1, a message
 * saying NBD clients are connected), the client keeps working; once it
 * disconnects the switch works. To legacy while a superpipe client holds a
 * resource handle (physical or virtual): EBUSY, and NBD_OPT_GO stays
 * refused; once the handle is closed, or its process is killed, the switch
 * works and the LUN is exported again. Unknown LUNs and modes are refused.
 */
#include "dnbd_test.h"

#include <capiblock.h>

static struct t_daemon g_d;
static char out[65536];

static void nbd_client_blocks_superpipe(void)
{
	uint8_t b[4096], r[4096];
	int fd = nc_open(g_d.nbd_socket, "m", false, NULL);
	int fd2 = nc_open(g_d.nbd_socket, "m", true, NULL);

	T_EQ(dn_lun_num(&g_d, "m", "nbd_clients"), 2);
	T_EQ(dn_lun_mode(&g_d, "m", "superpipe", out, sizeof(out)), 1);
	T_ASSERT(strstr(out, "LUN m is in use (NBD clients are connected)"));
	T_EQ(nt_run_all((const char *[]){ t_tool_path("cxlflash"), "lun", "mode", "m", "superpipe",
					  "--json", "--socket", g_d.socket, NULL }, NULL, out,
			sizeof(out)), 1);
	T_ASSERT(strstr(out, "\"ok\":false,\"errno\":16"));
	T_ASSERT(!dn_lun_superpipe(&g_d, "m"));
	/* The clients were not disturbed. */
	memset(b, 0x3c, sizeof(b));
	T_EQ(nc_write(fd, NBD_CMD_FLAG_FUA, 4096, sizeof(b), b), 0);
	T_EQ(nc_read(fd, 4096, sizeof(r), r), 0);
	T_ASSERT(!memcmp(b, r, sizeof(b)));
	nc_disc(fd);
	/* One left: still busy. */
	T_EQ(dn_lun_mode(&g_d, "m", "superpipe", out, sizeof(out)), 1);
	nc_disc(fd2);
	T_EQ(dn_lun_mode(&g_d, "m", "superpipe", out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "LUN m is in superpipe mode"));
	T_ASSERT(dn_lun_superpipe(&g_d, "m"));
	T_EQ(dn_lun_num(&g_d, "m", "nbd_clients"), 0);
}

static void assert_go_refused(void)
{
	char msg[512];
	int fd = nc_connect(g_d.nbd_socket);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(fd, "m", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "superpipe mode"));
	close(fd);
}

static void handle_blocks_legacy(void)
{
	chunk_id_t id = cblk_open("m", 4, O_RDWR, 0, 0);

	T_ASSERT(id != NULL_CHUNK_ID);
	T_EQ(dn_lun_mode(&g_d, "m", "legacy", out, sizeof(out)), 1);
	T_ASSERT(strstr(out, "LUN m is in use (superpipe resource handles are open)"));
	T_ASSERT(dn_lun_superpipe(&g_d, "m"));
	assert_go_refused();
	T_EQ(cblk_close(id, 0), 0);

	/* A virtual LUN's handle too. */
	id = cblk_open("m", 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	T_ASSERT(id != NULL_CHUNK_ID);
	T_EQ(cblk_set_size(id, 1024, 0), 0);
	T_EQ(dn_lun_mode(&g_d, "m", "legacy", out, sizeof(out)), 1);
	T_ASSERT(strstr(out, "superpipe resource handles are open"));
	T_EQ(cblk_close(id, 0), 0);

	T_EQ(dn_lun_mode(&g_d, "m", "legacy", out, sizeof(out)), 0);
	T_ASSERT(!dn_lun_superpipe(&g_d, "m"));
	T_EQ(nt_run((const char *[]){ "nbdinfo", "--size", dn_unix_uri(&g_d, "m"), NULL }, out,
		    sizeof(out)), 0);
	T_EQ(atoll(out), 512ll << 20);
}

/* A superpipe client that dies holding a handle: its death is a detach. */
static void killed_client_releases(void)
{
	int pfd[2];
	char c;
	pid_t pid;

	T_EQ(dn_lun_mode(&g_d, "m", "superpipe", out, sizeof(out)), 0);
	T_ASSERT(pipe(pfd) == 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		chunk_id_t id = cblk_open("m", 4, O_RDWR, 0, 0);

		c = id != NULL_CHUNK_ID ? 'y' : 'n';
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	T_EQ(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	T_EQ(c, 'y');
	T_EQ(dn_lun_mode(&g_d, "m", "legacy", out, sizeof(out)), 1);
	kill(pid, SIGKILL);
	T_EQ(waitpid(pid, NULL, 0), pid);
	T_EQ(dn_lun_mode(&g_d, "m", "legacy", out, sizeof(out)), 0);
	T_EQ(dn_lun_num(&g_d, "m", "users"), 0);
}

static void bad_requests(void)
{
	T_EQ(dn_lun_mode(&g_d, "nosuch", "legacy", out, sizeof(out)), 1);
	T_ASSERT(strstr(out, "no LUN named or with WWID 'nosuch'"));
	T_EQ(dn_lun_mode(&g_d, "m", "sideways", out, sizeof(out)), 2);
	/* Asking for the mode it is in is not an error. */
	T_EQ(dn_lun_mode(&g_d, "m", "legacy", out, sizeof(out)), 0);
}

int main(void)
{
	const char *args[] = { "--lun", "m=ram:512M", "--legacy", "m", NULL };
	char why[256];

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("nbdinfo"), "nbdinfo is not installed (Debian: libnbd-bin)");
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_RUN(nbd_client_blocks_superpipe);
	T_RUN(handle_blocks_legacy);
	T_RUN(killed_client_releases);
	T_RUN(bad_requests);
	T_EQ(dn_lun_mode(&g_d, "m", "superpipe", out, sizeof(out)), 0);
	T_EQ(t_daemon_check("m", why, sizeof(why)), 0);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
