/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: cxlflashd's NBD export with --nbd-tls require (issue 14):
 * TLS identities map to users (--nbd-tls-user) and those users to the
 * LUNs' allow-lists. psk:admin is root: every LUN; psk:alice and the
 * certificate cn:alice are nobody: LIST shows only the LUNs nobody may
 * use, GO of a root-only LUN is refused with NBD_REP_ERR_POLICY naming the
 * identity (raw client over TLS is not needed: qemu-img prints the text),
 * and qemu-io moves data to nobody's LUN; psk:bob is not mapped, so it is
 * an anonymous TCP client (only --nbd-tcp-anonymous LUNs); a plain TCP
 * client is refused (TLS required); a certificate of another CA is
 * refused. On the Unix socket TLS does not change who the kernel says the
 * peer is.
 */
#include "dnbd_test.h"
#include "../nbd/tls_test.h"

static struct t_daemon g_d;
static char out[65536];
static char creds[4096], psk[4400], psk_alice_dir[4400], alice[4400], rogue[4400];

static const char *tcp_base(const char *name)
{
	static char b[4][256];
	static unsigned slot;
	char *p = b[slot++ % 4];

	snprintf(p, sizeof(b[0]), "nbds://127.0.0.1:%u/%s?", g_d.nbd_port, name);
	return p;
}

static const char *psk_uri(const char *name, const char *user)
{
	static char u[4][8192];
	static unsigned slot;

	return tt_uri_psk(u[slot++ % 4], sizeof(u[0]), tcp_base(name), user, psk);
}

static const char *cert_uri(const char *name, const char *dir)
{
	static char u[4][8192];
	static unsigned slot;
	char *p = u[slot++ % 4];

	snprintf(p, sizeof(u[0]), "%stls-certificates=%s", tcp_base(name), dir);
	return p;
}

/* `nbdinfo --list`: which of the LUNs it shows, as "a,b," in order mine,
 * rootonly, anon. */
static const char *listed(const char *uri)
{
	static char names[64];
	const char *luns[] = { "mine", "rootonly", "anon" };

	names[0] = 0;
	T_EQ(nt_run_all((const char *[]){ "nbdinfo", "--list", uri, NULL }, NULL, out, sizeof(out)), 0);
	for (int i = 0; i < 3; i++) {
		char pat[64];

		snprintf(pat, sizeof(pat), "export=\"%s\"", luns[i]);
		if (strstr(out, pat))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s,", luns[i]);
	}
	return names;
}

static void lists(void)
{
	T_ASSERT(!strcmp(listed(psk_uri("", "admin")), "mine,rootonly,anon,"));
	T_ASSERT(!strcmp(listed(psk_uri("", "alice")), "mine,anon,"));
	T_ASSERT(!strcmp(listed(cert_uri("", alice)), "mine,anon,"));
	T_ASSERT(!strcmp(listed(psk_uri("", "bob")), "anon,"));
}

/* GO: the allow-list of the mapped user, refusals with the identity. */
static void go(void)
{
	T_EQ(nt_run_all((const char *[]){ "nbdinfo", psk_uri("rootonly", "admin"), NULL }, NULL, out,
		    sizeof(out)), 0);
	T_EQ(nt_run_all((const char *[]){ "nbdinfo", psk_uri("mine", "alice"), NULL }, NULL, out,
		    sizeof(out)), 0);
	T_EQ(nt_run_all((const char *[]){ "nbdinfo", cert_uri("mine", alice), NULL }, NULL, out,
		    sizeof(out)), 0);
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", psk_uri("rootonly", "alice"), NULL },
			"LIBNBD_DEBUG=1", out, sizeof(out)) != 0);
	T_ASSERT(strstr(out, "TLS identity psk:alice (uid 65534) may not use LUN rootonly"));
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", cert_uri("rootonly", alice), NULL },
			"LIBNBD_DEBUG=1", out, sizeof(out)) != 0);
	T_ASSERT(strstr(out, "(uid 65534) may not use LUN rootonly"));
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", psk_uri("mine", "bob"), NULL },
			"LIBNBD_DEBUG=1", out, sizeof(out)) != 0);
	T_ASSERT(strstr(out, "TLS identity psk:bob is not mapped to a user"));
	T_EQ(nt_run_all((const char *[]){ "nbdinfo", psk_uri("anon", "bob"), NULL }, NULL, out,
		    sizeof(out)), 0);
}

/* QEMU as alice: writes nobody's LUN and reads it back; refused rootonly
 * with the server's text. */
static void qemu(void)
{
	char obj[8192], opts[512];

	if (!nt_have("qemu-io") || !nt_have("qemu-img")) {
		fprintf(stderr, "   (qemu-io / qemu-img not installed: skipped)\n");
		return;
	}
	snprintf(obj, sizeof(obj), "tls-creds-psk,id=tls0,endpoint=client,dir=%s,username=alice",
		 psk_alice_dir);
	snprintf(opts, sizeof(opts), "driver=nbd,server.type=inet,server.host=127.0.0.1,"
		 "server.port=%u,export=mine,tls-creds=tls0", g_d.nbd_port);
	T_EQ(nt_run_all((const char *[]){ "qemu-io", "--object", obj, "--image-opts", opts, "-c",
				      "write -P 0x6b 64k 4M", "-c", "read -P 0x6b 64k 4M", NULL },
		    NULL, out, sizeof(out)), 0);
	T_ASSERT(!strstr(out, "failed") && !strstr(out, "Pattern"));
	snprintf(opts, sizeof(opts), "driver=nbd,server.type=inet,server.host=127.0.0.1,"
		 "server.port=%u,export=rootonly,tls-creds=tls0", g_d.nbd_port);
	T_ASSERT(nt_run_all((const char *[]){ "qemu-img", "info", "--object", obj, "--image-opts",
					  opts, NULL }, NULL, out, sizeof(out)) != 0);
	T_ASSERT(strstr(out, "TLS identity psk:alice (uid 65534) may not use LUN rootonly"));
}

static void refused(void)
{
	char uri[256];

	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%u/anon", g_d.nbd_port);
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", uri, NULL }, "LIBNBD_DEBUG=1", out,
			sizeof(out)) != 0);
	T_ASSERT(strstr(out, "TLS is required"));
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", cert_uri("anon", rogue), NULL }, NULL, out,
			sizeof(out)) != 0);
	T_ASSERT(!strstr(out, "export-size"));
}

/* Over the Unix socket with TLS, the kernel's identity (root) rules. */
static void unix_tls(void)
{
	char base[512], uri[8192];

	snprintf(base, sizeof(base), "nbds+unix:///?socket=%s&", g_d.nbd_socket);
	T_ASSERT(!strcmp(listed(tt_uri_psk(uri, sizeof(uri), base, "alice", psk)),
			 "mine,rootonly,anon,"));
}

int main(void)
{
	char server[4400], map1[64] = "psk:alice=65534", map2[64] = "psk:admin=0",
	     map3[64] = "cn:alice=65534";
	const char *args[] = { "--lun", "mine=ram:16M", "--allow", "mine=uid:65534",
			       "--lun", "rootonly=ram:16M", "--lun", "anon=ram:16M",
			       "--allow", "anon=all", "--nbd-tcp-anonymous", "anon",
			       "--legacy", "mine", "--legacy", "rootonly", "--legacy", "anon",
			       "--nbd-tls", "require", "--nbd-tls-certs", server,
			       "--nbd-tls-psk", psk, "--nbd-tls-verify-peer",
			       "--nbd-tls-user", map1, "--nbd-tls-user", map2,
			       "--nbd-tls-user", map3, NULL };

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	snprintf(creds, sizeof(creds), "%s", t_path("dtls-creds"));
	tt_make_creds(creds);
	snprintf(server, sizeof(server), "%s/server", creds);
	snprintf(psk, sizeof(psk), "%s/psk/keys.psk", creds);
	snprintf(psk_alice_dir, sizeof(psk_alice_dir), "%s/psk-alice", creds);
	snprintf(alice, sizeof(alice), "%s/alice", creds);
	snprintf(rogue, sizeof(rogue), "%s/rogue", creds);
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_ASSERT(g_d.nbd_port > 0);
	T_RUN(lists);
	T_RUN(go);
	T_RUN(qemu);
	T_RUN(refused);
	T_RUN(unix_tls);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
