/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the server's TLS path, in-process, with a GnuTLS client
 * written here (PSK; no certtool or psktool needed). A peer that sends
 * STARTTLS and then nothing, and one that dribbles its TLS handshake a few
 * bytes at a time, do not hold up the loop thread: another client
 * negotiates TLS and moves data meanwhile, and the silent one is closed at
 * the handshake deadline. Over TLS: 64 pipelined 4 KiB writes in one
 * record, a 20 MiB write and read (many records each way, the server's
 * reads returning less than asked), sub-block writes and a 1-byte read,
 * all verified; 300 peers silent after STARTTLS do not keep a fresh TLS
 * client out; a second STARTTLS is NBD_REP_ERR_INVALID; structured
 * replies negotiated in the clear are forgotten at STARTTLS; a wrong key
 * and an unknown user fail the handshake; the server stops with a TLS
 * client connected (no leak under ASan).
 */
#include <time.h>

#include "nbd_test.h"

#if __has_include(<gnutls/gnutls.h>)
#include <gnutls/gnutls.h>
#define HAVE_GNUTLS_HEADERS 1
#endif

#ifndef HAVE_GNUTLS_HEADERS
int main(void)
{
	T_SKIP_IF(true, "GnuTLS headers are not installed (Debian: libgnutls28-dev)");
}
#else

#define KEY_HEX "8c1f0e2d3b4a59687796a5b4c3d2e1f00112233445566778899aabbccddeeff0"

static char sock[4096], pskfile[4096];
static struct nt_export exp_;
static bool g_dribble;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct nbd_server *serve(enum nbd_tls_mode mode)
{
	struct nbd_export_provider prov = { nt_get, nt_put, nt_list, &exp_ };
	struct nbd_server_config cfg = { .handshake_timeout_ms = 1500, .tls = mode,
					 .tls_psk_file = pskfile };
	struct nbd_server *srv;

	T_EQ(nbd_server_create(&cfg, &prov, &srv), 0);
	T_EQ(nbd_server_listen_unix(srv, sock), 0);
	T_EQ(nbd_server_start(srv), 0);
	return srv;
}

/* ---- a TLS client ---- */

struct tc {
	int fd;
	gnutls_session_t s;
	gnutls_psk_client_credentials_t cred;
};

static ssize_t push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	int fd = (int)(intptr_t)p;

	if (g_dribble) {
		usleep(100);
		len = len < 5 ? len : 5;
	}
	return send(fd, buf, len, MSG_NOSIGNAL);
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	return recv((int)(intptr_t)p, buf, len, 0);
}

/* STARTTLS on @fd (greeting done), then the TLS handshake as @user with
 * @hexkey. Return the GnuTLS result (0 on success). */
static int tc_start(struct tc *t, int fd, const char *user, const char *hexkey)
{
	gnutls_datum_t key = { (unsigned char *)hexkey, (unsigned)strlen(hexkey) };
	int g;

	memset(t, 0, sizeof(*t));
	t->fd = fd;
	nc_option(fd, NBD_OPT_STARTTLS, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STARTTLS, NULL, 0, NULL), NBD_REP_ACK);
	T_EQ(gnutls_psk_allocate_client_credentials(&t->cred), 0);
	T_EQ(gnutls_psk_set_client_credentials(t->cred, user, &key, GNUTLS_PSK_KEY_HEX), 0);
	T_EQ(gnutls_init(&t->s, GNUTLS_CLIENT), 0);
	T_EQ(gnutls_priority_set_direct(t->s, "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK", NULL), 0);
	T_EQ(gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, t->cred), 0);
	gnutls_transport_set_ptr(t->s, (gnutls_transport_ptr_t)(intptr_t)fd);
	gnutls_transport_set_push_function(t->s, push);
	gnutls_transport_set_pull_function(t->s, pull);
	do
		g = gnutls_handshake(t->s);
	while (g < 0 && !gnutls_error_is_fatal(g));
	return g;
}

static void tc_free(struct tc *t)
{
	gnutls_deinit(t->s);
	gnutls_psk_free_client_credentials(t->cred);
	close(t->fd);
}

static void tc_send(struct tc *t, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = gnutls_record_send(t->s, p, len);

		T_ASSERT(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static int tc_recv(struct tc *t, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = gnutls_record_recv(t->s, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void tc_option(struct tc *t, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[NBD_OPT_HDR_LEN];

	put_be64(h, NBD_IHAVEOPT);
	put_be32(h + 8, opt);
	put_be32(h + 12, len);
	tc_send(t, h, sizeof(h));
	if (len)
		tc_send(t, data, len);
}

/* One option reply: its type; its data dropped. */
static uint32_t tc_opt_reply(struct tc *t, uint32_t opt, uint8_t *data, size_t cap)
{
	uint8_t h[NBD_OPT_REPLY_HDR_LEN], sink[512];
	uint32_t n;

	T_EQ(tc_recv(t, h, sizeof(h)), 0);
	T_ASSERT(get_be64(h) == NBD_OPT_REPLY_MAGIC);
	T_EQ(get_be32(h + 8), opt);
	n = get_be32(h + 16);
	T_ASSERT(n <= sizeof(sink));
	T_EQ(tc_recv(t, sink, n), 0);
	if (data)
		memcpy(data, sink, n < cap ? n : cap);
	return get_be32(h + 12);
}

static void tc_go(struct tc *t, const char *name)
{
	uint8_t d[64];
	uint32_t nlen = (uint32_t)strlen(name), type;

	put_be32(d, nlen);
	memcpy(d + 4, name, nlen);
	put_be16(d + 4 + nlen, 0);
	tc_option(t, NBD_OPT_GO, d, 6 + nlen);
	while ((type = tc_opt_reply(t, NBD_OPT_GO, NULL, 0)) == NBD_REP_INFO)
		;
	T_EQ(type, NBD_REP_ACK);
}

static void req_hdr(uint8_t *h, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len)
{
	put_be32(h, NBD_REQUEST_MAGIC);
	put_be16(h + 4, 0);
	put_be16(h + 6, type);
	put_be64(h + 8, cookie);
	put_be64(h + 16, off);
	put_be32(h + 24, len);
}

/* A simple reply: its error, the cookie checked. */
static uint32_t tc_reply(struct tc *t, uint64_t cookie)
{
	uint8_t h[NBD_SIMPLE_REPLY_LEN];

	T_EQ(tc_recv(t, h, sizeof(h)), 0);
	T_EQ(get_be32(h), NBD_SIMPLE_REPLY_MAGIC);
	T_EQ(get_be64(h + 8), cookie);
	return get_be32(h + 4);
}

static void tc_write(struct tc *t, uint64_t off, uint32_t len, const void *data)
{
	uint8_t h[NBD_REQUEST_LEN];

	req_hdr(h, NBD_CMD_WRITE, off, off, len);
	tc_send(t, h, sizeof(h));
	tc_send(t, data, len);
	T_EQ(tc_reply(t, off), 0);
}

static void tc_read(struct tc *t, uint64_t off, uint32_t len, void *data)
{
	uint8_t h[NBD_REQUEST_LEN];

	req_hdr(h, NBD_CMD_READ, off + 1, off, len);
	tc_send(t, h, sizeof(h));
	T_EQ(tc_reply(t, off + 1), 0);
	T_EQ(tc_recv(t, data, len), 0);
}

static void tc_disc(struct tc *t)
{
	uint8_t h[NBD_REQUEST_LEN];

	req_hdr(h, NBD_CMD_DISC, 0, 0, 0);
	tc_send(t, h, sizeof(h));
	/* The server says close_notify (0) or just closes. */
	T_ASSERT(gnutls_record_recv(t->s, h, sizeof(h)) <= 0);
	tc_free(t);
}

static int tc_open(struct tc *t, const char *user, const char *key)
{
	int fd = nc_connect(sock), g;

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	g = tc_start(t, fd, user, key);
	if (g)
		tc_free(t);
	return g;
}

/* ---- cases ---- */

/* Data over TLS: pipelined small writes in one record, a 20 MiB request
 * each way, sub-block writes, a 1-byte read. */
static void data(struct tc *t)
{
	enum { N = 64, BIG = 20 << 20 };
	static uint8_t batch[N * (NBD_REQUEST_LEN + 4096)];
	uint8_t *big = malloc(BIG), *back = malloc(BIG), one;
	uint64_t st = 99;
	size_t k = 0;

	T_ASSERT(big && back);
	for (size_t i = 0; i < BIG / 8; i++)
		((uint64_t *)big)[i] = t_rand(&st);
	for (int i = 0; i < N; i++) {
		req_hdr(batch + k, NBD_CMD_WRITE, 1000 + i, (uint64_t)i * 4096, 4096);
		k += NBD_REQUEST_LEN;
		memcpy(batch + k, big + (size_t)i * 4096, 4096);
		k += 4096;
	}
	tc_send(t, batch, k);   /* many requests per record */
	for (int i = 0; i < N; i++) {
		uint8_t h[NBD_SIMPLE_REPLY_LEN];

		T_EQ(tc_recv(t, h, sizeof(h)), 0);
		T_EQ(get_be32(h + 4), 0);
		T_ASSERT(get_be64(h + 8) >= 1000 && get_be64(h + 8) < 1000 + N);
	}
	tc_read(t, 0, N * 4096, back);
	T_ASSERT(!memcmp(back, big, N * 4096));
	tc_write(t, 1 << 20, BIG, big);
	memset(back, 0, BIG);
	tc_read(t, 1 << 20, BIG, back);
	T_ASSERT(!memcmp(back, big, BIG));
	tc_write(t, (1 << 20) + 4095, 3, "abc");
	tc_read(t, (1 << 20) + 4096, 1, &one);
	T_EQ(one, 'b');
	free(big);
	free(back);
}

/* A silent TLS peer and a dribbling one do not stop another client. */
static void slow_peers(void)
{
	struct nbd_server *srv = serve(NBD_TLS_REQUIRE);
	struct tc t, slow;
	int silent = nc_connect(sock);
	double t0;

	nc_hello(silent, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(silent, NBD_OPT_STARTTLS, NULL, 0);
	T_EQ(nc_opt_reply(silent, NBD_OPT_STARTTLS, NULL, 0, NULL), NBD_REP_ACK);
	t0 = now_s();
	/* (the silent one now owes a ClientHello) */
	g_dribble = true;
	T_EQ(tc_open(&slow, "alice", KEY_HEX), 0);
	tc_go(&slow, "lun");
	g_dribble = false;
	T_EQ(tc_open(&t, "alice", KEY_HEX), 0);
	tc_go(&t, "lun");
	data(&t);
	tc_disc(&t);
	data(&slow);
	tc_disc(&slow);
	/* The silent one goes at the 1.5 s deadline. */
	T_ASSERT(nc_closed(silent));
	fprintf(stderr, "   silent TLS peer closed after %.2f s\n", now_s() - t0);
	close(silent);
	nbd_server_destroy(srv);
	T_EQ(nt_export_refs(&exp_), 0);
}

/* 300 peers silent after STARTTLS (a GnuTLS session each, on the server):
 * a fresh TLS client is served at once; the per-user handshake limit (64)
 * closed the oldest of them. */
static void tls_flood(void)
{
	enum { N = 300 };
	struct nbd_server *srv = serve(NBD_TLS_REQUIRE);
	static int fds[N];
	struct tc t;
	uint8_t b[4096];
	int closed = 0;
	double t0;

	for (int i = 0; i < N; i++) {
		fds[i] = nc_connect(sock);
		nc_hello(fds[i], NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
		nc_option(fds[i], NBD_OPT_STARTTLS, NULL, 0);
		T_EQ(nc_opt_reply(fds[i], NBD_OPT_STARTTLS, NULL, 0, NULL), NBD_REP_ACK);
	}
	t0 = now_s();
	T_EQ(tc_open(&t, "alice", KEY_HEX), 0);
	tc_go(&t, "lun");
	memset(b, 0x42, sizeof(b));
	tc_write(&t, 0, sizeof(b), b);
	memset(b, 0, sizeof(b));
	tc_read(&t, 0, sizeof(b), b);
	T_EQ(b[4095], 0x42);
	fprintf(stderr, "   a fresh TLS client with %d silent TLS peers: served in %.1f ms\n", N,
		(now_s() - t0) * 1000);
	tc_disc(&t);
	for (int i = 0; i < N; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };

		closed += poll(&p, 1, 0) == 1;
		close(fds[i]);
	}
	fprintf(stderr, "   %d of them closed to make room (the per-user limit is 64)\n", closed);
	T_ASSERT(closed >= N - 64);
	nbd_server_destroy(srv);
	T_EQ(nt_export_refs(&exp_), 0);
}

static void options_over_tls(void)
{
	struct nbd_server *srv = serve(NBD_TLS_ON);
	struct tc t;
	uint8_t h[NBD_REQUEST_LEN], r[NBD_SIMPLE_REPLY_LEN + 8];
	int fd = nc_connect(sock);

	/* STRUCTURED_REPLY in the clear, then TLS: simple replies after. */
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	nc_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	T_EQ(nc_opt_reply(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL), NBD_REP_ACK);
	T_EQ(tc_start(&t, fd, "alice", KEY_HEX), 0);
	tc_option(&t, NBD_OPT_STARTTLS, NULL, 0);
	T_EQ(tc_opt_reply(&t, NBD_OPT_STARTTLS, NULL, 0), NBD_REP_ERR_INVALID);
	tc_option(&t, NBD_OPT_LIST, NULL, 0);
	T_EQ(tc_opt_reply(&t, NBD_OPT_LIST, NULL, 0), NBD_REP_SERVER);
	T_EQ(tc_opt_reply(&t, NBD_OPT_LIST, NULL, 0), NBD_REP_SERVER);
	T_EQ(tc_opt_reply(&t, NBD_OPT_LIST, NULL, 0), NBD_REP_ACK);
	tc_go(&t, "lun");
	req_hdr(h, NBD_CMD_READ, 7, 0, 8);
	tc_send(&t, h, sizeof(h));
	T_EQ(tc_recv(&t, r, sizeof(r)), 0);
	T_EQ(get_be32(r), NBD_SIMPLE_REPLY_MAGIC);
	/* Stop with it connected. */
	nbd_server_destroy(srv);
	tc_free(&t);
	T_EQ(nt_export_refs(&exp_), 0);
}

static void bad_keys(void)
{
	struct nbd_server *srv = serve(NBD_TLS_REQUIRE);
	struct tc t;

	T_ASSERT(tc_open(&t, "alice", "00112233445566778899aabbccddeeff") != 0);
	T_ASSERT(tc_open(&t, "mallory", KEY_HEX) != 0);
	T_EQ(tc_open(&t, "alice", KEY_HEX), 0);
	tc_go(&t, "lun");
	tc_disc(&t);
	nbd_server_destroy(srv);
}

int main(void)
{
	struct be_spec spec;
	FILE *f;

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(!nbd_tls_available(), "built without GnuTLS");
	snprintf(sock, sizeof(sock), "%s", t_path("tls-session.sock"));
	snprintf(pskfile, sizeof(pskfile), "%s", t_path("tls-session.psk"));
	f = fopen(pskfile, "w");
	T_ASSERT(f);
	fprintf(f, "bob:00ff\nalice:%s\n", KEY_HEX);
	fclose(f);
	chmod(pskfile, 0600);
	memset(&exp_, 0, sizeof(exp_));
	pthread_mutex_init(&exp_.lock, NULL);
	T_EQ(be_parse_spec("ram:64M", &spec), 0);
	T_EQ(be_open(&spec, &exp_.be), 0);
	T_RUN(slow_peers);
	T_RUN(tls_flood);
	T_RUN(options_over_tls);
	T_RUN(bad_keys);
	be_close(exp_.be);
	unlink(pskfile);
	return T_PASS;
}
#endif
