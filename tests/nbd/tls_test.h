/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_test.h - credentials for the NBD TLS tests, made at test time with
 * GnuTLS's certtool and psktool (small ECDSA keys: fast), and a client run
 * with stdout and stderr captured together.
 *
 * tt_make_creds(DIR) makes:
 *   DIR/server/  ca-cert.pem server-cert.pem server-key.pem  (qemu-nbd's names;
 *                the server certificate is for localhost and 127.0.0.1)
 *   DIR/alice/   ca-cert.pem client-cert.pem client-key.pem  (CN alice, signed
 *                by the CA: libnbd's and qemu's client names)
 *   DIR/rogue/   the same with CN rogue, signed by another CA (untrusted)
 *   DIR/psk/keys.psk        alice, admin and bob (psktool's username:hexkey)
 *   DIR/psk-alice/keys.psk  alice's line only (qemu's tls-creds-psk dir)
 *   DIR/psk-wrong/keys.psk  alice with another key, and mallory (unknown)
 */
#ifndef CXLFLASH_TESTS_TLS_TEST_H
#define CXLFLASH_TESTS_TLS_TEST_H

#include "nbd_test.h"

static const char tt_script[] =
	"set -e\n"
	"d=$1; rm -rf \"$d\"; mkdir -p \"$d\"; cd \"$d\"\n"
	"ck() { certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile \"$1\" "
	"2>/dev/null; }\n"
	"for ca in ca rogue; do\n"
	"  printf 'cn = \"%s test CA\"\\nca\\ncert_signing_key\\nexpiration_days = 2\\n' $ca "
	">$ca.info\n"
	"  ck $ca-key.pem\n"
	"  certtool --generate-self-signed --load-privkey $ca-key.pem --template $ca.info "
	"--outfile $ca-cert.pem 2>/dev/null\n"
	"done\n"
	"mkdir server alice rogue psk psk-alice psk-wrong\n"
	"printf 'cn = \"localhost\"\\ndns_name = \"localhost\"\\nip_address = \"127.0.0.1\"\\n"
	"tls_www_server\\nexpiration_days = 2\\n' >server.info\n"
	"ck server/server-key.pem\n"
	"certtool --generate-certificate --load-privkey server/server-key.pem "
	"--load-ca-certificate ca-cert.pem --load-ca-privkey ca-key.pem --template server.info "
	"--outfile server/server-cert.pem 2>/dev/null\n"
	"for who in alice rogue; do\n"
	"  printf 'cn = \"%s\"\\norganization = \"cxlflash tests\"\\ntls_www_client\\n"
	"expiration_days = 2\\n' $who >$who.info\n"
	"  ck $who/client-key.pem\n"
	"  ca=ca; [ $who = rogue ] && ca=rogue\n"
	"  certtool --generate-certificate --load-privkey $who/client-key.pem "
	"--load-ca-certificate $ca-cert.pem --load-ca-privkey $ca-key.pem --template $who.info "
	"--outfile $who/client-cert.pem 2>/dev/null\n"
	"done\n"
	"for x in server alice rogue; do cp ca-cert.pem $x/; done\n"
	"for u in alice admin bob; do psktool -u $u -p psk/keys.psk >/dev/null; done\n"
	"grep '^alice:' psk/keys.psk >psk-alice/keys.psk\n"
	"psktool -u alice -p psk-wrong/keys.psk >/dev/null\n"
	"psktool -u mallory -p psk-wrong/keys.psk >/dev/null\n"
	"chmod 600 psk/keys.psk psk-alice/keys.psk psk-wrong/keys.psk\n";

/* Skip unless certtool, psktool and nbdinfo are there; then make the
 * credentials in @dir. */
static inline void tt_make_creds(const char *dir)
{
	char out[4096];

	T_SKIP_IF(!nt_have("certtool") || !nt_have("psktool"),
		  "certtool / psktool are not installed (Debian: gnutls-bin)");
	T_SKIP_IF(!nt_have("nbdinfo"), "nbdinfo is not installed (Debian: libnbd-bin)");
	T_EQ(t_run_argv((const char *[]){ "sh", "-c", tt_script, "sh", dir, NULL }, NULL,
			T_RUN_STDERR, out, sizeof(out)), 0);
}

/* libnbd URIs. PSK: the user name is the URI's user part. */
static inline const char *tt_uri_psk(char *buf, size_t len, const char *base_tcp_or_unix,
				     const char *user, const char *pskfile)
{
	/* base: "nbds://127.0.0.1:PORT/NAME?" or "nbds+unix:///NAME?socket=S&" */
	const char *slash = strstr(base_tcp_or_unix, "://");

	T_ASSERT(slash);
	snprintf(buf, len, "%.*s%s@%stls-psk-file=%s", (int)(slash + 3 - base_tcp_or_unix),
		 base_tcp_or_unix, user, slash + 3, pskfile);
	return buf;
}

#endif
