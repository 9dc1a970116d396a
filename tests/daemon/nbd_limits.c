/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: NBD connection limits as a client sees them (issue 14,
 * problem 2). Past the per-user, per-LUN or total limit NBD_OPT_GO gets
 * NBD_REP_ERR_POLICY with a message saying which limit (raw client, qemu-img
 * and libnbd's debug log show it), the connection stays usable and GO works
 * once a client leaves; EXPORT_NAME is closed. One user at its limit does
 * not block another; all TCP clients count as one user. 1000 silent Unix
 * sockets and 500 silent TCP sockets, with idle established clients, keep
 * no fresh client out (served within a second), the daemon's descriptors
 * stay bounded, and a silent handshake is dropped at the (2 s) timeout.
 * Needs root (to be two users).
 */
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <time.h>

#include "dnbd_test.h"

#define NOBODY 65534
#define PER_USER 3
#define TOTAL 5
#define LUN_B 2

static struct t_daemon g_d;
static char out[65536];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Until the daemon counts @n NBD clients of @lun (3 s at most). */
static void wait_clients(const char *lun, long long n)
{
	for (int i = 0; i < 300 && dn_lun_num(&g_d, lun, "nbd_clients") != n; i++)
		usleep(10000);
	T_EQ(dn_lun_num(&g_d, lun, "nbd_clients"), n);
}

static int become(uid_t uid)
{
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
		return -1;
	return geteuid() == uid ? 0 : -1;
}

static void as_nobody(void (*fn)(void))
{
	pid_t pid = fork();
	int st;

	T_ASSERT(pid >= 0);
	if (pid == 0) {
		if (become(NOBODY))
			_exit(60);
		fn();
		_exit(0);
	}
	T_ASSERT(waitpid(pid, &st, 0) == pid);
	T_ASSERT(WIFEXITED(st));
	T_EQ(WEXITSTATUS(st), 0);
}

/* A fresh client of nobody is served, and quickly. */
static void nobody_go(void)
{
	double t0 = now_s();
	int fd = nc_open(g_d.nbd_socket, "a", false, NULL);
	static uint8_t b[4096];

	T_EQ(nc_read(fd, 0, sizeof(b), b), 0);
	nc_disc(fd);
	fprintf(stderr, "   nobody served in %.3f s\n", now_s() - t0);
	T_ASSERT(now_s() - t0 < 1.0);
}

static void per_user(void)
{
	char msg[512];
	int fds[PER_USER], fd;

	for (int i = 0; i < PER_USER; i++)
		fds[i] = nc_open(g_d.nbd_socket, "a", false, NULL);
	/* The next of root's: refused with the reason, on the wire ... */
	fd = dn_hello(nc_connect(g_d.nbd_socket));
	T_EQ(nc_go(fd, "a", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "too many NBD connections: uid 0 already has 3, the limit per user"));
	/* ... in QEMU's words ... */
	if (nt_have("qemu-img")) {
		T_ASSERT(nt_run_all((const char *[]){ "qemu-img", "info", dn_unix_uri(&g_d, "a"),
						      NULL }, NULL, out, sizeof(out)) != 0);
		T_ASSERT(strstr(out, "server reported: too many NBD connections: uid 0"));
	}
	/* ... and libnbd's (nbdinfo 1.14 prints the text only in its debug log). */
	T_ASSERT(nt_run_all((const char *[]){ "nbdinfo", dn_unix_uri(&g_d, "a"), NULL },
			    "LIBNBD_DEBUG=1", out, sizeof(out)) != 0);
	T_ASSERT(strstr(out, "too many NBD connections: uid 0"));
	/* EXPORT_NAME cannot be refused with a message: closed. */
	{
		int e = dn_hello(nc_connect(g_d.nbd_socket));

		nc_option(e, NBD_OPT_EXPORT_NAME, "a", 1);
		T_ASSERT(nc_closed(e));
		close(e);
	}
	/* Another user is not blocked by root's limit. */
	as_nobody(nobody_go);
	/* One of root's leaves: the refused connection may try again. */
	nc_disc(fds[0]);
	wait_clients("a", PER_USER - 1);
	T_EQ(nc_go(fd, "a", NULL, NULL, NULL, 0), NBD_REP_ACK);
	fds[0] = fd;
	for (int i = 0; i < PER_USER; i++)
		nc_disc(fds[i]);
	wait_clients("a", 0);
}

static void per_lun(void)
{
	char msg[512];
	int fds[LUN_B], fd;

	for (int i = 0; i < LUN_B; i++)
		fds[i] = nc_open(g_d.nbd_socket, "b", false, NULL);
	fd = dn_hello(nc_connect(g_d.nbd_socket));
	T_EQ(nc_go(fd, "b", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "too many NBD connections: LUN b has 2, its limit"));
	/* LUN a is another matter. */
	T_EQ(nc_go(fd, "a", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(fd);
	for (int i = 0; i < LUN_B; i++)
		nc_disc(fds[i]);
	wait_clients("b", 0);
	wait_clients("a", 0);
}

/* TCP clients are one user; the total counts everyone. */
static void tcp_and_total(void)
{
	char msg[512];
	int root[PER_USER], tcp[TOTAL - PER_USER], fd;

	for (int i = 0; i < TOTAL - PER_USER; i++) {
		tcp[i] = dn_hello(dn_tcp_connect(g_d.nbd_port));
		T_EQ(nc_go(tcp[i], "a", NULL, NULL, NULL, 0), NBD_REP_ACK);
	}
	for (int i = 0; i < PER_USER; i++)
		root[i] = nc_open(g_d.nbd_socket, "a", false, NULL);
	fd = dn_hello(dn_tcp_connect(g_d.nbd_port));
	T_EQ(nc_go(fd, "a", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "too many NBD connections: the server has 5, its limit"));
	nc_disc(root[0]);
	wait_clients("a", TOTAL - 1);
	/* Room again; TCP clients count as one user (3). */
	T_EQ(nc_go(fd, "a", NULL, NULL, NULL, 0), NBD_REP_ACK);
	{
		int t = dn_hello(dn_tcp_connect(g_d.nbd_port));

		nc_disc(root[1]);
		wait_clients("a", TOTAL - 1);
		T_EQ(nc_go(t, "a", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
		T_ASSERT(strstr(msg, "TCP clients (not identified: they count as one user) "
				     "already have 3"));
		nc_disc(t);
	}
	nc_disc(fd);
	nc_disc(root[2]);
	for (int i = 0; i < TOTAL - PER_USER; i++)
		nc_disc(tcp[i]);
	wait_clients("a", 0);
}

#define SILENT_UNIX 1000
#define SILENT_TCP  500

static void flood(void)
{
	static int silent[SILENT_UNIX + SILENT_TCP];
	int idle[2], fds0 = t_daemon_fds(&g_d), fds, fd;
	double t0;

	/* Root: two idle established clients and 1000 sockets that never
	 * say a word; 500 silent TCP sockets. */
	for (int i = 0; i < 2; i++)
		idle[i] = nc_open(g_d.nbd_socket, "a", false, NULL);
	t0 = now_s();
	for (int i = 0; i < SILENT_UNIX; i++)
		silent[i] = nc_connect(g_d.nbd_socket);
	for (int i = 0; i < SILENT_TCP; i++)
		silent[SILENT_UNIX + i] = dn_tcp_connect(g_d.nbd_port);
	fprintf(stderr, "   %d silent connections in %.3f s\n", SILENT_UNIX + SILENT_TCP,
		now_s() - t0);
	/* A fresh client of another user, and one of root's, are served. */
	as_nobody(nobody_go);
	t0 = now_s();
	fd = nc_open(g_d.nbd_socket, "a", false, NULL);
	fprintf(stderr, "   root served in %.3f s\n", now_s() - t0);
	/* Served at once, not after the 10 s handshake deadline of the
	 * sockets ahead of it (the bound leaves room for a loaded machine). */
	T_ASSERT(now_s() - t0 < 5.0);
	nc_disc(fd);
	/* Silent sockets beyond each user's handshake limit (64) were closed,
	 * oldest first: the daemon's descriptors stay bounded. Counted once
	 * the loop has caught up: sockets it closed to make room are freed at
	 * the end of an accept round, and the backlog may still be draining. */
	t0 = now_s();
	do {
		fds = t_daemon_fds(&g_d);
		if (fds < fds0 + 2 + 2 * 64 + 8)
			break;
		usleep(50 * 1000);
	} while (now_s() - t0 < 5.0);
	fprintf(stderr, "   daemon descriptors: %d before, %d with the flood (%.2f s after)\n",
		fds0, fds, now_s() - t0);
	T_ASSERT(fds < fds0 + 2 + 2 * 64 + 8);
	T_ASSERT(nc_closed(silent[0]));
	for (int i = 0; i < SILENT_UNIX + SILENT_TCP; i++)
		close(silent[i]);
	for (int i = 0; i < 2; i++)
		nc_disc(idle[i]);
	wait_clients("a", 0);
}

/* A client silent in the handshake is dropped after the timeout (2 s). */
static void handshake_timeout(void)
{
	int fd = nc_connect(g_d.nbd_socket);
	uint8_t h[NBD_HELLO_LEN];
	double t0 = now_s(), t;

	T_EQ(nc_recv(fd, h, sizeof(h)), 0);   /* the greeting, then silence */
	T_EQ(nc_recv(fd, h, 1), -1);          /* EOF: dropped */
	t = now_s() - t0;
	fprintf(stderr, "   dropped after %.2f s\n", t);
	T_ASSERT(t > 1.5 && t < 4.0);
	close(fd);
}

int main(void)
{
	const char *args[] = { "--lun", "a=ram:16M", "--allow", "a=all", "--lun", "b=ram:16M",
			       "--allow", "b=all", "--legacy", "a", "--legacy", "b",
			       "--nbd-tcp-anonymous", "a", "--nbd-max-conns", "5",
			       "--nbd-max-conns-per-user", "3", "--nbd-lun-max-conns", "b=2",
			       "--nbd-handshake-timeout", "2", "--nbd-socket-mode", "0666", NULL };

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(geteuid() != 0, "needs root (to be two users)");
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("nbdinfo"), "nbdinfo is not installed (Debian: libnbd-bin)");
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_ASSERT(g_d.nbd_port > 0);
	T_RUN(per_user);
	T_RUN(per_lun);
	T_RUN(tcp_and_total);
	T_RUN(flood);
	T_RUN(handshake_timeout);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
