/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the server's handshake loop and limits, in-process with
 * small numbers: past the per-user handshake limit the oldest silent
 * connection is closed and the newest negotiates; the handshake deadline
 * closes a client that stops mid-option; GO past max_conns is refused with
 * NBD_REP_ERR_POLICY and a message (INFO says so too) and works again once
 * a client leaves;
 * options split across many tiny writes are read whole; the server stops
 * cleanly (no leak under ASan) with handshakes and clients still open.
 */
#include <time.h>

#include "nbd_test.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char sock[4096];
static struct nt_export exp_;

static struct nbd_server *serve(void)
{
	struct nbd_export_provider prov = { nt_get, nt_put, nt_list, &exp_ };
	struct nbd_server_config cfg = { .max_conns = 2, .max_conns_per_user = 2,
					 .max_handshakes = 6, .max_handshakes_per_user = 4,
					 .handshake_timeout_ms = 1000 };
	struct be_spec spec;
	struct nbd_server *srv;

	memset(&exp_, 0, sizeof(exp_));
	pthread_mutex_init(&exp_.lock, NULL);
	T_EQ(be_parse_spec("ram:8M", &spec), 0);
	T_EQ(be_open(&spec, &exp_.be), 0);
	T_EQ(nbd_server_create(&cfg, &prov, &srv), 0);
	T_EQ(nbd_server_listen_unix(srv, sock), 0);
	T_EQ(nbd_server_start(srv), 0);
	return srv;
}

static void oldest_goes(void)
{
	int fds[5];

	for (int i = 0; i < 5; i++) {
		fds[i] = nc_connect(sock);
		usleep(20000);   /* accepted in this order */
	}
	/* The first was closed to make room for the fifth, at once (not at
	 * the 1 s deadline), and the second was not ... */
	{
		uint8_t h[NBD_HELLO_LEN];
		struct pollfd p = { .fd = fds[1], .events = POLLIN };
		double t0 = now_s();

		T_ASSERT(nc_closed(fds[0]));
		T_ASSERT(now_s() - t0 < 0.5);
		T_EQ(nc_recv(fds[1], h, sizeof(h)), 0);
		T_EQ(poll(&p, 1, 0), 0);
	}
	/* ... which negotiates. */
	nc_hello(fds[4], NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(fds[4], "lun", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(fds[4]);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* Half an option header, then nothing: closed at the deadline. */
static void deadline(void)
{
	int fd = nc_connect(sock);
	uint8_t h[NBD_HELLO_LEN];
	double t0 = now_s(), t;

	T_EQ(nc_recv(fd, h, sizeof(h)), 0);
	nc_send(fd, "\0\0\0\3IHAV", 8);
	T_EQ(nc_recv(fd, h, 1), -1);
	t = now_s() - t0;
	fprintf(stderr, "   closed after %.2f s\n", t);
	T_ASSERT(t > 0.8 && t < 3.0);
	close(fd);
}

/* Byte by byte: the loop reads each option whole before answering. */
static void dribble(void)
{
	uint8_t opt[NBD_OPT_HDR_LEN + 6 + 3], h[NBD_HELLO_LEN], f[4], r[64];
	int fd = nc_connect(sock);

	T_EQ(nc_recv(fd, h, sizeof(h)), 0);
	put_be32(f, NBD_FLAG_C_FIXED_NEWSTYLE);
	for (int i = 0; i < 4; i++) {
		nc_send(fd, f + i, 1);
		usleep(2000);
	}
	put_be64(opt, NBD_IHAVEOPT);
	put_be32(opt + 8, NBD_OPT_INFO);
	put_be32(opt + 12, 9);
	put_be32(opt + 16, 3);
	memcpy(opt + 20, "lun", 3);
	put_be16(opt + 23, 0);
	for (size_t i = 0; i < sizeof(opt); i++) {
		nc_send(fd, opt + i, 1);
		usleep(2000);
	}
	T_EQ(nc_opt_reply(fd, NBD_OPT_INFO, r, sizeof(r) - 1, NULL), NBD_REP_INFO);
	nc_option(fd, NBD_OPT_ABORT, NULL, 0);
	close(fd);
}

static void max_conns(void)
{
	char msg[512];
	int a = nc_open(sock, "lun", false, NULL);
	int b = nc_open(sock, "lun", false, NULL);
	int c = nc_connect(sock);

	nc_hello(c, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(c, "lun", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "too many NBD connections"));
	/* INFO says the same (and takes nothing) */
	{
		uint8_t d[4 + 3 + 2];

		put_be32(d, 3);
		memcpy(d + 4, "lun", 3);
		put_be16(d + 7, 0);
		nc_option(c, NBD_OPT_INFO, d, sizeof(d));
		T_EQ(nc_opt_reply(c, NBD_OPT_INFO, msg, sizeof(msg) - 1, NULL),
		     NBD_REP_ERR_POLICY);
		T_ASSERT(strstr(msg, "the server has 2, its limit"));
	}
	T_EQ(nt_export_refs(&exp_), 2);
	nc_disc(a);
	for (int i = 0; i < 300 && nt_export_refs(&exp_) != 1; i++)
		usleep(10000);
	T_EQ(nc_go(c, "lun", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(b);
	nc_disc(c);
}

int main(void)
{
	struct nbd_server *srv;
	int idle, silent;

	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-hl.sock"));
	srv = serve();
	T_RUN(oldest_goes);
	T_RUN(deadline);
	T_RUN(dribble);
	T_RUN(max_conns);
	/* Stop with one client established and one in the handshake. */
	idle = nc_open(sock, "lun", false, NULL);
	silent = nc_connect(sock);
	usleep(50000);
	nbd_server_destroy(srv);
	T_EQ(exp_.refs, 0);
	be_close(exp_.be);
	pthread_mutex_destroy(&exp_.lock);
	close(idle);
	close(silent);
	return T_PASS;
}
