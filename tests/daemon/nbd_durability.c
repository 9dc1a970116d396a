/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: FLUSH and FUA over cxlflashd's NBD export reach the file
 * backend: writes with FUA (raw client, qemu-io `write -f`), and writes
 * followed by NBD_CMD_FLUSH (raw client, qemu-io `flush`), are all there
 * after the daemon is killed with SIGKILL and started again on the same
 * file: over NBD, and through the superpipe after a switch to superpipe
 * mode. The LUN keeps its WWID across the restart.
 */
#include "dnbd_test.h"

#include <capiblock.h>

static struct t_daemon g_d;
static char out[65536];
static uint8_t w[4][65536], r[65536];

static const struct { uint64_t off; uint32_t len; uint16_t flags; } g_w[4] = {
	{ 10 * 4096, 65536, NBD_CMD_FLAG_FUA },
	{ 100 * 4096, 65536, 0 },                  /* made durable by the FLUSH */
	{ 7 * 4096 + 100, 1000, NBD_CMD_FLAG_FUA },  /* read-modify-write + FUA */
	{ 3000 * 4096 + 512, 8192, 0 },            /* unaligned, then FLUSH */
};

static void qemu_io(const char *uri, const char *const *cmds)
{
	const char *argv[16] = { "qemu-io", "-f", "raw" };
	int n = 3;

	for (int i = 0; cmds[i]; i++) {
		argv[n++] = "-c";
		argv[n++] = cmds[i];
	}
	argv[n++] = uri;
	argv[n] = NULL;
	T_EQ(nt_run(argv, out, sizeof(out)), 0);
	T_ASSERT(!strstr(out, "failed") && !strstr(out, "error") && !strstr(out, "Pattern"));
}

static void write_then_kill(const char *const *args, char *wwid, size_t len)
{
	int fd;
	const char *p;

	T_EQ(t_daemon_start(&g_d, args), 0);
	T_EQ(t_daemon_status(&g_d, out, sizeof(out)), 0);
	p = strstr(out, "\"wwid\":\"");
	T_ASSERT(p);
	snprintf(wwid, len, "%.32s", p + 8);
	fd = nc_open(g_d.nbd_socket, "d", false, NULL);
	for (int i = 0; i < 4; i++) {
		t_pattern_fill(w[i], sizeof(w[i]), 40 + (uint64_t)i, g_w[i].off);
		T_EQ(nc_write(fd, g_w[i].flags, g_w[i].off, g_w[i].len, w[i]), 0);
	}
	T_EQ(nc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0), 0);
	/* QEMU's client: a FUA write; a plain write then a flush. */
	qemu_io(dn_tcp_uri(&g_d, "d"), (const char *[]){ "write -f -P 0x6b 4M 256k", NULL });
	qemu_io(dn_unix_uri(&g_d, "d"),
		(const char *[]){ "write -P 0x7c 6M 100k", "flush", NULL });
	/* The raw client is still connected when the daemon dies. */
	t_daemon_kill(&g_d);
	close(fd);
}

static void read_back_nbd(void)
{
	int fd = nc_open(g_d.nbd_socket, "d", false, NULL);

	for (int i = 0; i < 4; i++) {
		T_EQ(nc_read(fd, g_w[i].off, g_w[i].len, r), 0);
		T_ASSERT(!memcmp(r, w[i], g_w[i].len));
	}
	nc_disc(fd);
	qemu_io(dn_unix_uri(&g_d, "d"),
		(const char *[]){ "read -P 0x6b 4M 256k", "read -P 0x7c 6M 100k", NULL });
}

static void read_back_superpipe(void)
{
	uint8_t *b = malloc(8 * 4096);
	chunk_id_t id;

	T_ASSERT(b);
	T_EQ(dn_lun_mode(&g_d, "d", "superpipe", out, sizeof(out)), 0);
	id = cblk_open("d", 4, O_RDONLY, 0, 0);
	T_ASSERT(id != NULL_CHUNK_ID);
	T_EQ(cblk_read(id, b, 10, 8, 0), 8);
	T_ASSERT(!memcmp(b, w[0], 8 * 4096));
	T_EQ(cblk_read(id, b, 7, 1, 0), 1);
	T_ASSERT(!memcmp(b + 100, w[2], 1000));
	T_EQ(cblk_read(id, b, (4u << 20) / 4096, 8, 0), 8);
	for (size_t i = 0; i < 8 * 4096; i++)
		T_EQ(b[i], 0x6b);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

int main(void)
{
	char spec[4200], wwid[40], wwid2[40];
	const char *img = t_path("ddur.img");
	const char *args[] = { "--lun", spec, "--legacy", "d", "--nbd-tcp-anonymous", "d",
			       NULL };
	const char *p;

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("qemu-io"), "qemu-io is not installed (Debian: qemu-utils)");
	unlink(img);
	snprintf(spec, sizeof(spec), "d=file:%s?size=32M", img);
	fprintf(stderr, "-- write, then SIGKILL\n");
	write_then_kill(args, wwid, sizeof(wwid));
	T_ASSERT(!t_daemon_alive(&g_d));

	fprintf(stderr, "-- restart on the same file\n");
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_EQ(t_daemon_status(&g_d, out, sizeof(out)), 0);
	p = strstr(out, "\"wwid\":\"");
	T_ASSERT(p);
	snprintf(wwid2, sizeof(wwid2), "%.32s", p + 8);
	T_ASSERT(!strcmp(wwid, wwid2));
	T_RUN(read_back_nbd);
	T_RUN(read_back_superpipe);
	T_EQ(t_daemon_stop(&g_d), 0);
	unlink(img);
	return T_PASS;
}
