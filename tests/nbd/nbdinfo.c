/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: libnbd's nbdinfo against `cxlflash nbd`, on a Unix socket
 * and on TCP 127.0.0.1 with an ephemeral port: the export size, the block
 * sizes we advertise (1 / 4096 / 32 MiB), the flags, a read-only export,
 * and the export list.
 */
#include "nbd_test.h"

static char out[65536];

static long long key(const char *k)
{
	const char *p = strstr(out, k);

	return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

int main(void)
{
	char sock[4096], uri[4300];
	struct nt_server s;

	T_SKIP_IF(!nt_have("nbdinfo"), "nbdinfo is not installed (Debian: libnbd-bin)");
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-info.sock"));
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--tcp", "127.0.0.1:0",
						   "--name", "lun0", "ram:48M", NULL }), 0);
	T_ASSERT(s.tcp_port > 0);

	snprintf(uri, sizeof(uri), "nbd+unix:///lun0?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", uri, NULL }, out, sizeof(out)), 0);
	T_EQ(key("export-size: "), 48ll << 20);
	T_EQ(key("block_size_minimum: "), 1);
	T_EQ(key("block_size_preferred: "), 4096);
	T_EQ(key("block_size_maximum: "), 32ll << 20);
	T_ASSERT(strstr(out, "can_flush: true"));
	T_ASSERT(strstr(out, "can_fua: true"));
	T_ASSERT(strstr(out, "can_trim: true"));
	T_ASSERT(strstr(out, "can_zero: true"));
	T_ASSERT(strstr(out, "can_multi_conn: true"));
	T_ASSERT(strstr(out, "is_read_only: false"));

	/* The default export "" and the size alone, over TCP. */
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d", s.tcp_port);
	T_EQ(nt_run((const char *[]){ "nbdinfo", "--size", uri, NULL }, out, sizeof(out)), 0);
	T_EQ(strtoll(out, NULL, 10), 48ll << 20);
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d/nosuch", s.tcp_port);
	T_ASSERT(nt_run((const char *[]){ "nbdinfo", uri, NULL }, out, sizeof(out)) != 0);

	snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", "--list", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "export=\"lun0\""));
	T_EQ(nt_server_stop(&s, SIGTERM), 0);

	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--readonly", "ram:8M",
						   NULL }), 0);
	snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdinfo", uri, NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "is_read_only: true"));
	/* Nothing that writes is offered on it. */
	T_ASSERT(strstr(out, "can_trim: false"));
	T_ASSERT(strstr(out, "can_zero: false"));
	T_ASSERT(strstr(out, "can_fua: false"));
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	return T_PASS;
}
