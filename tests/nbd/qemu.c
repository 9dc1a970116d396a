/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: QEMU's NBD client against `cxlflash nbd`: qemu-io writes
 * patterns (aligned, unaligned, zeroes, FUA, discard) and reads them back;
 * qemu-img convert copies an image in and out and qemu-img compare finds
 * them identical.
 */
#include "nbd_test.h"

static char out[65536];

static void qemu_io(const char *uri, const char *const *cmds)
{
	const char *argv[64] = { "qemu-io", "-f", "raw" };
	int n = 3;

	for (int i = 0; cmds[i]; i++) {
		T_ASSERT(n < 60);
		argv[n++] = "-c";
		argv[n++] = cmds[i];
	}
	argv[n++] = uri;
	argv[n] = NULL;
	T_EQ(nt_run(argv, out, sizeof(out)), 0);
	/* qemu-io reports failed commands on stdout and still exits 0. */
	if (strstr(out, "failed") || strstr(out, "error")) {
		fprintf(stderr, "%s", out);
		T_ASSERT(!"qemu-io reported a failure");
	}
}

int main(void)
{
	char sock[4096], uri[4300];
	const char *in = t_path("qemu-in.img"), *outf = t_path("qemu-out.img");
	struct nt_server s;

	T_SKIP_IF(!nt_have("qemu-io") || !nt_have("qemu-img"),
		  "qemu-io / qemu-img are not installed (Debian: qemu-utils)");
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-qemu.sock"));
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--tcp", "127.0.0.1:0",
						   "--name", "lun0", "ram:32M", NULL }), 0);
	snprintf(uri, sizeof(uri), "nbd+unix:///lun0?socket=%s", sock);
	qemu_io(uri, (const char *[]){
		"write -P 0xab 0 1M", "read -P 0xab 0 1M",
		"write -P 0x11 4097 1000", "read -P 0xab 0 4097", "read -P 0x11 4097 1000",
		"read -P 0xab 5097 10000",
		"write -f -P 0x22 2M 64k", "flush", "read -P 0x22 2M 64k",
		"write -z 2M 4k", "read -P 0 2M 4k", "read -P 0x22 2101248 60k",
		"discard 3M 1M", "write -P 0x33 31M 1M", "read -P 0x33 31M 1M", NULL });
	/* Over TCP, the data is the same. */
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d/lun0", s.tcp_port);
	qemu_io(uri, (const char *[]){ "read -P 0x11 4097 1000", "read -P 0x33 31M 1M", NULL });

	/* qemu-img convert in and out. */
	snprintf(uri, sizeof(uri), "nbd+unix:///lun0?socket=%s", sock);
	unlink(in);
	unlink(outf);
	T_EQ(nt_run((const char *[]){ "qemu-img", "create", "-f", "raw", in, "32M", NULL }, out,
		    sizeof(out)), 0);
	T_EQ(nt_run((const char *[]){ "qemu-io", "-f", "raw", "-c", "write -P 0x5c 1M 3M", "-c",
				      "write -P 0xe7 20M 123k", in, NULL }, out, sizeof(out)), 0);
	T_EQ(nt_run((const char *[]){ "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", in,
				      uri, NULL }, out, sizeof(out)), 0);
	T_EQ(nt_run((const char *[]){ "qemu-img", "convert", "-f", "raw", "-O", "raw", uri, outf,
				      NULL }, out, sizeof(out)), 0);
	T_EQ(nt_run((const char *[]){ "qemu-img", "compare", "-f", "raw", "-F", "raw", in, outf,
				      NULL }, out, sizeof(out)), 0);
	T_EQ(nt_run((const char *[]){ "qemu-img", "compare", "-f", "raw", "-F", "raw", in, uri,
				      NULL }, out, sizeof(out)), 0);
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	unlink(in);
	unlink(outf);
	return T_PASS;
}
