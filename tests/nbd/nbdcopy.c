/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: libnbd's nbdcopy copies a file into a file LUN served by
 * `cxlflash nbd` and back out (several connections, many requests in
 * flight), over a Unix socket and over TCP; the copies are identical.
 */
#include "nbd_test.h"

#define SIZE (24u << 20)

static char out[4096];

static void write_random(const char *path)
{
	uint64_t st = 0x1234567;
	uint64_t *b = malloc(SIZE);
	FILE *f = fopen(path, "w");

	T_ASSERT(b && f);
	for (size_t i = 0; i < SIZE / 8; i++)
		b[i] = (i % 4096 < 512) ? 0 : t_rand(&st);  /* some zero runs too */
	T_EQ(fwrite(b, 1, SIZE, f), SIZE);
	fclose(f);
	free(b);
}

static void same(const char *a, const char *b)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	static uint8_t ba[1 << 16], bb[1 << 16];
	size_t na, nb;

	T_ASSERT(fa && fb);
	do {
		na = fread(ba, 1, sizeof(ba), fa);
		nb = fread(bb, 1, sizeof(bb), fb);
		T_EQ(na, nb);
		T_ASSERT(!memcmp(ba, bb, na));
	} while (na);
	fclose(fa);
	fclose(fb);
}

int main(void)
{
	char sock[4096], uri[4300], lun[4300];
	const char *in = t_path("nbdcopy-in"), *outf = t_path("nbdcopy-out");
	const char *img = t_path("nbdcopy.img");
	struct nt_server s;

	T_SKIP_IF(!nt_have("nbdcopy"), "nbdcopy is not installed (Debian: libnbd-bin)");
	snprintf(sock, sizeof(sock), "%s", t_path("nbdcopy.sock"));
	snprintf(lun, sizeof(lun), "file:%s?size=%u", img, SIZE);
	unlink(img);
	write_random(in);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--tcp", "127.0.0.1:0",
						   lun, NULL }), 0);
	snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", sock);
	T_EQ(nt_run((const char *[]){ "nbdcopy", in, uri, NULL }, out, sizeof(out)), 0);
	unlink(outf);
	T_EQ(nt_run((const char *[]){ "nbdcopy", uri, outf, NULL }, out, sizeof(out)), 0);
	same(in, outf);
	/* Over TCP, with the flush at the end. */
	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d", s.tcp_port);
	unlink(outf);
	T_EQ(nt_run((const char *[]){ "nbdcopy", "--flush", uri, outf, NULL }, out, sizeof(out)), 0);
	same(in, outf);
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	/* What the server wrote is in the LUN file itself. */
	same(in, img);
	unlink(in);
	unlink(outf);
	unlink(img);
	return T_PASS;
}
