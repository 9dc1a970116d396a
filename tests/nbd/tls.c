/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: TLS on `cxlflash nbd` (issue 14) with credentials made now
 * by certtool and psktool. With --tls require: nbdinfo over nbds+unix://
 * and nbds:// with a PSK and with a client certificate; qemu-io writes
 * patterns (one 8 MiB request: many TLS records) with a PSK and reads them
 * back with a certificate; nbdcopy in with one and out with the other, the
 * copies and the LUN file identical. Refused: a plain client (nbdinfo and
 * qemu-img, which says TLS is required; a raw client gets
 * NBD_REP_ERR_TLS_REQD for LIST and GO, ABORT still works, EXPORT_NAME is
 * closed), a wrong PSK key, a client certificate of another CA. With --tls
 * on a plain client is served too; TLS asked for without credentials, or
 * credentials without TLS, fail at start.
 */
#include "tls_test.h"

#define SIZE (24u << 20)

static char out[65536];
static char creds[4096], sock[4200], img[4200], base_unix[4400], base_tcp[256];
static char psk[4400], psk_alice_dir[4400], psk_wrong[4400], alice[4400], rogue[4400];
static int port;

static void write_random(const char *path)
{
	uint64_t st = 0x7157;
	uint64_t *b = malloc(SIZE);
	FILE *f = fopen(path, "w");

	T_ASSERT(b && f);
	for (size_t i = 0; i < SIZE / 8; i++)
		b[i] = (i % 8192 < 1024) ? 0 : t_rand(&st);
	T_EQ(fwrite(b, 1, SIZE, f), SIZE);
	fclose(f);
	free(b);
}

static bool same(const char *a, const char *b, size_t len)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	static uint8_t ba[1 << 16], bb[1 << 16];
	bool eq = true;

	T_ASSERT(fa && fb);
	while (eq && len) {
		size_t n = len < sizeof(ba) ? len : sizeof(ba);

		eq = fread(ba, 1, n, fa) == n && fread(bb, 1, n, fb) == n && !memcmp(ba, bb, n);
		len -= n;
	}
	fclose(fa);
	fclose(fb);
	return eq;
}

static const char *uri_psk(const char *base, const char *user, const char *file)
{
	static char u[4][8192];
	static unsigned slot;

	return tt_uri_psk(u[slot++ % 4], sizeof(u[0]), base, user, file);
}

static const char *uri_cert(const char *base, const char *dir)
{
	static char u[4][8192];
	static unsigned slot;
	char *p = u[slot++ % 4];

	snprintf(p, sizeof(u[0]), "%stls-certificates=%s", base, dir);
	return p;
}

/* nbdinfo with both kinds of credentials, over both sockets. */
static void nbdinfo_ok(void)
{
	const char *uris[] = { uri_psk(base_unix, "alice", psk), uri_psk(base_tcp, "admin", psk),
			       uri_cert(base_unix, alice), uri_cert(base_tcp, alice) };

	for (int i = 0; i < 4; i++) {
		T_EQ(nt_run_all((const char *[]){ "nbdinfo", uris[i], NULL }, NULL, out, sizeof(out)),
		     0);
		T_ASSERT(strstr(out, "with TLS"));
		T_ASSERT(strstr(out, "export-size: 25165824"));
	}
}

static void qemu_io(const char *object, const char *const *cmds)
{
	char opts[8192];
	const char *argv[32] = { "qemu-io", "--object", object, "--image-opts", opts };
	int n = 5;

	snprintf(opts, sizeof(opts), "driver=nbd,server.type=inet,server.host=127.0.0.1,"
		 "server.port=%d,export=lun,tls-creds=tls0", port);
	for (int i = 0; cmds[i]; i++) {
		argv[n++] = "-c";
		argv[n++] = cmds[i];
	}
	argv[n] = NULL;
	T_EQ(nt_run_all(argv, NULL, out, sizeof(out)), 0);
	T_ASSERT(!strstr(out, "failed") && !strstr(out, "error") && !strstr(out, "Pattern"));
}

/* QEMU writes with a PSK and reads back with a certificate. */
static void qemu_data(void)
{
	char o_psk[8192], o_x509[8192];

	if (!nt_have("qemu-io")) {
		fprintf(stderr, "   (qemu-io not installed: skipped)\n");
		return;
	}
	snprintf(o_psk, sizeof(o_psk), "tls-creds-psk,id=tls0,endpoint=client,dir=%s,"
		 "username=alice", psk_alice_dir);
	snprintf(o_x509, sizeof(o_x509), "tls-creds-x509,id=tls0,endpoint=client,dir=%s", alice);
	qemu_io(o_psk, (const char *[]){ "write -P 0xa7 1M 8M", "write -P 0x3c 12345 777",
					 "read -P 0xa7 1M 8M", NULL });
	qemu_io(o_x509, (const char *[]){ "read -P 0xa7 1M 8M", "read -P 0x3c 12345 777",
					  "read -P 0 0 12345", NULL });
}

/* nbdcopy in over PSK, out over a certificate: identical. */
static void nbdcopy_data(void)
{
	const char *in = t_path("tls-in"), *outf = t_path("tls-out");

	if (!nt_have("nbdcopy")) {
		fprintf(stderr, "   (nbdcopy not installed: skipped)\n");
		return;
	}
	write_random(in);
	T_EQ(nt_run_all((const char *[]){ "nbdcopy", "--flush", in, uri_psk(base_unix, "bob", psk),
				      NULL }, NULL, out, sizeof(out)), 0);
	unlink(outf);
	T_EQ(nt_run_all((const char *[]){ "nbdcopy", uri_cert(base_tcp, alice), outf, NULL }, NULL,
		    out, sizeof(out)), 0);
	T_ASSERT(same(in, outf, SIZE));
	T_ASSERT(same(in, img, SIZE));
	unlink(in);
	unlink(outf);
}

static void plain_refused(void)
{
	char uri[4400], msg[512];
	int fd;

	snprintf(uri, sizeof(uri), "nbd+unix:///lun?socket=%s", sock);
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", uri, NULL }, "LIBNBD_DEBUG=1", out,
			sizeof(out)) != 0);
	T_ASSERT(strstr(out, "TLS is required"));
	if (nt_have("qemu-img")) {
		snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%d/lun", port);
		T_ASSERT(nt_run_all((const char *[]){ "qemu-img", "info", uri, NULL }, NULL, out,
				sizeof(out)) != 0);
		T_ASSERT(strstr(out, "TLS negotiation required") || strstr(out, "TLS is required"));
	}
	/* The raw view: every option but STARTTLS and ABORT gets TLS_REQD. */
	fd = nc_connect(sock);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(fd, NBD_OPT_LIST, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_LIST, msg, sizeof(msg) - 1, NULL), NBD_REP_ERR_TLS_REQD);
	T_ASSERT(strstr(msg, "TLS is required"));
	nc_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL), NBD_REP_ERR_TLS_REQD);
	T_EQ(nc_go(fd, "lun", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_TLS_REQD);
	nc_option(fd, NBD_OPT_STARTTLS, "x", 1);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STARTTLS, NULL, 0, NULL), NBD_REP_ERR_INVALID);
	nc_option(fd, NBD_OPT_ABORT, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_ABORT, NULL, 0, NULL), NBD_REP_ACK);
	close(fd);
	fd = nc_connect(sock);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(fd, NBD_OPT_EXPORT_NAME, "lun", 3);
	T_ASSERT(nc_closed(fd));
	close(fd);
	/* STARTTLS acknowledged, then garbage instead of a ClientHello. */
	fd = nc_connect(sock);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(fd, NBD_OPT_STARTTLS, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STARTTLS, NULL, 0, NULL), NBD_REP_ACK);
	nc_send(fd, "GET / HTTP/1.0\r\n\r\n", 18);
	T_ASSERT(nc_closed(fd));
	close(fd);
}

static void bad_credentials_refused(void)
{
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", uri_psk(base_unix, "alice", psk_wrong),
					  NULL }, NULL, out, sizeof(out)) != 0);
	T_ASSERT(!strstr(out, "export-size"));
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", uri_psk(base_tcp, "mallory", psk_wrong),
					  NULL }, NULL, out, sizeof(out)) != 0);
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", uri_cert(base_tcp, rogue), NULL }, NULL,
			out, sizeof(out)) != 0);
	T_ASSERT(!strstr(out, "export-size"));
}

/* --tls on: TLS offered, plain clients served too. Bad configurations fail. */
static void tls_on_and_config(void)
{
	struct nt_server s;
	char uri[4400], s2[4200];

	snprintf(s2, sizeof(s2), "%s", t_path("tls-on.sock"));
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", s2, "--name", "lun", "--tls", "on",
						   "--tls-psk", psk, "ram:8M", NULL }), 0);
	snprintf(uri, sizeof(uri), "nbd+unix:///lun?socket=%s", s2);
	T_EQ(nt_run_all((const char *[]){ "nbdinfo", uri, NULL }, NULL, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "without TLS"));
	snprintf(uri, sizeof(uri), "nbds+unix:///lun?socket=%s&", s2);
	T_EQ(nt_run_all((const char *[]){ "nbdinfo", uri_psk(uri, "alice", psk), NULL }, NULL, out,
		    sizeof(out)), 0);
	T_ASSERT(strstr(out, "with TLS"));
	T_EQ(nt_server_stop(&s, SIGTERM), 0);

	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", s2, "--tls", "require", "ram:8M",
						   NULL }), 1);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", s2, "--tls-psk", psk, "ram:8M",
						   NULL }), 1);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", s2, "--tls", "maybe", "ram:8M",
						   NULL }), 2);
	snprintf(uri, sizeof(uri), "%s/nonexistent", creds);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", s2, "--tls", "on", "--tls-certs",
						   uri, "ram:8M", NULL }), 1);
}

int main(void)
{
	struct nt_server s;
	char lun[4400], server_dir[4400];

	signal(SIGPIPE, SIG_IGN);
	snprintf(creds, sizeof(creds), "%s", t_path("tls-creds"));
	tt_make_creds(creds);
	snprintf(sock, sizeof(sock), "%s", t_path("tls.sock"));
	snprintf(img, sizeof(img), "%s", t_path("tls.img"));
	snprintf(psk, sizeof(psk), "%s/psk/keys.psk", creds);
	snprintf(psk_alice_dir, sizeof(psk_alice_dir), "%s/psk-alice", creds);
	snprintf(psk_wrong, sizeof(psk_wrong), "%s/psk-wrong/keys.psk", creds);
	snprintf(alice, sizeof(alice), "%s/alice", creds);
	snprintf(rogue, sizeof(rogue), "%s/rogue", creds);
	snprintf(lun, sizeof(lun), "file:%s?size=%u", img, SIZE);
	unlink(img);
	snprintf(server_dir, sizeof(server_dir), "%s/server", creds);
	T_EQ(nt_server_start(&s, (const char *[]){ "--socket", sock, "--tcp", "127.0.0.1:0",
						   "--name", "lun", "--tls", "require",
						   "--tls-certs", server_dir, "--tls-psk", psk,
						   "--tls-verify-peer", lun, NULL }), 0);
	T_ASSERT(strstr(s.lines, "uri:nbds+unix:///lun?socket="));
	T_ASSERT(strstr(s.lines, "uri:nbds://127.0.0.1:"));
	port = s.tcp_port;
	T_ASSERT(port > 0);
	snprintf(base_unix, sizeof(base_unix), "nbds+unix:///lun?socket=%s&", sock);
	snprintf(base_tcp, sizeof(base_tcp), "nbds://127.0.0.1:%d/lun?", port);

	T_RUN(nbdinfo_ok);
	T_RUN(qemu_data);
	T_RUN(nbdcopy_data);
	T_RUN(plain_refused);
	T_RUN(bad_credentials_refused);
	/* Still serving after all that. */
	T_RUN(nbdinfo_ok);
	T_EQ(nt_server_stop(&s, SIGTERM), 0);
	T_RUN(tls_on_and_config);
	unlink(img);
	return T_PASS;
}
