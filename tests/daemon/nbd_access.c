/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: who may use a legacy LUN over NBD (issue 14, problem 1).
 * TCP clients are not identified, loopback included: as user nobody,
 * `qemu-io write` over TCP to a LUN whose allow-list admits only root is
 * refused with the server's reason and writes nothing, and so is root over
 * TCP; only a LUN with --nbd-tcp-anonymous is served over TCP. On the Unix
 * socket the kernel's SO_PEERCRED is held to each LUN's allow-list at
 * NBD_OPT_GO (NBD_REP_ERR_POLICY naming the uid), NBD_OPT_INFO and
 * EXPORT_NAME, supplementary groups as the kernel gave them at connect
 * (SO_PEERGROUPS), and NBD_OPT_LIST shows each peer only what it may use.
 * Needs root (to become nobody).
 */
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>

#include "dnbd_test.h"

#define NOBODY 65534
#define GROUP  4242

static struct t_daemon g_d;
static char out[65536];

/* NBD_OPT_LIST: the names, comma-separated, into @names. */
static void list_names(int fd, char *names, size_t len)
{
	uint8_t r[1024];
	uint32_t type, n;

	names[0] = 0;
	nc_option(fd, NBD_OPT_LIST, NULL, 0);
	while ((type = nc_opt_reply(fd, NBD_OPT_LIST, r, sizeof(r) - 1, &n)) == NBD_REP_SERVER) {
		uint32_t nlen = get_be32(r);

		snprintf(names + strlen(names), len - strlen(names), "%.*s,", (int)nlen,
			 (char *)r + 4);
	}
	T_EQ(type, NBD_REP_ACK);
}

static int become(uid_t uid, const gid_t *groups, size_t ngroups)
{
	if (setgroups(ngroups, groups) || setgid(uid) || setuid(uid))
		return -1;
	return geteuid() == uid ? 0 : -1;
}

/* Run @fn as nobody (with supplementary group GROUP if @in_group) in a
 * child; T_ASSERT failures there fail us here. */
static void as_nobody_groups(void (*fn)(void), bool in_group)
{
	gid_t g = GROUP;
	pid_t pid = fork();
	int st;

	T_ASSERT(pid >= 0);
	if (pid == 0) {
		if (become(NOBODY, in_group ? &g : NULL, in_group))
			_exit(60);
		fn();
		_exit(0);
	}
	T_ASSERT(waitpid(pid, &st, 0) == pid);
	T_ASSERT(WIFEXITED(st));
	T_EQ(WEXITSTATUS(st), 0);
}

static void as_nobody(void (*fn)(void))
{
	as_nobody_groups(fn, false);
}

/* The reproducer: nobody writes over TCP to a root-only LUN. */
static void tcp_nobody_refused(void)
{
	char uri[256];
	static uint8_t b[4096];
	int fd;

	snprintf(uri, sizeof(uri), "nbd://127.0.0.1:%u/rootonly", g_d.nbd_port);
	if (nt_have("qemu-io")) {
		T_ASSERT(nt_run_all((const char *[]){ "setpriv", "--reuid=65534", "--regid=65534",
						      "--clear-groups", "qemu-io", "-f", "raw", "-c",
						      "write -P 0x99 1M 4k", uri, NULL },
				    NULL, out, sizeof(out)) != 0);
		T_ASSERT(strstr(out, "TCP clients are not identified"));
		T_ASSERT(!strstr(out, "wrote"));
	}
	/* libnbd: fails; its debug log carries the text. */
	T_ASSERT(nt_run_all((const char *[]){ "setpriv", "--reuid=65534", "--regid=65534",
					      "--clear-groups", "nbdinfo", uri, NULL },
			    "LIBNBD_DEBUG=1", out, sizeof(out)) != 0);
	T_ASSERT(strstr(out, "TCP clients are not identified"));
	/* Root over TCP is nobody in particular too: loopback is no gate. */
	fd = dn_hello(dn_tcp_connect(g_d.nbd_port));
	T_EQ(nc_go(fd, "rootonly", NULL, NULL, out, sizeof(out)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(out, "TCP clients are not identified; LUN rootonly does not admit"));
	T_ASSERT(strstr(out, "--nbd-tcp-anonymous rootonly"));
	/* ... INFO alike; the connection stays usable for a LUN that admits TCP. */
	T_EQ(nc_go(fd, "open", NULL, NULL, out, sizeof(out)), NBD_REP_ERR_POLICY);
	T_EQ(nc_go(fd, "tcpok", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(fd);
	/* Nothing was written. */
	fd = nc_open(g_d.nbd_socket, "rootonly", false, NULL);
	T_EQ(nc_read(fd, 1 << 20, sizeof(b), b), 0);
	for (size_t i = 0; i < sizeof(b); i++)
		T_EQ(b[i], 0);
	nc_disc(fd);
	T_EQ(dn_lun_num(&g_d, "rootonly", "nbd_clients"), 0);
}

/* EXPORT_NAME cannot be refused politely: the connection is closed. */
static void tcp_export_name_closed(void)
{
	int fd = dn_hello(dn_tcp_connect(g_d.nbd_port));

	nc_option(fd, NBD_OPT_EXPORT_NAME, "rootonly", 8);
	T_ASSERT(nc_closed(fd));
	close(fd);
}

/* TCP's LIST offers only what admits anonymous TCP clients. */
static void tcp_list(void)
{
	char names[512];
	int fd = dn_hello(dn_tcp_connect(g_d.nbd_port));

	list_names(fd, names, sizeof(names));
	T_ASSERT(!strcmp(names, "tcpok,"));
	nc_option(fd, NBD_OPT_ABORT, NULL, 0);
	close(fd);
}

static void nobody_on_unix(void)
{
	char msg[512], names[512];
	uint8_t d[64];
	int fd = dn_hello(nc_connect(g_d.nbd_socket));

	T_EQ(nc_go(fd, "rootonly", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "uid 65534 may not use LUN rootonly"));
	T_EQ(nc_go(fd, "grp", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	/* INFO too */
	put_be32(d, 8);
	memcpy(d + 4, "rootonly", 8);
	put_be16(d + 12, 0);
	nc_option(fd, NBD_OPT_INFO, d, 14);
	T_EQ(nc_opt_reply(fd, NBD_OPT_INFO, msg, sizeof(msg) - 1, NULL), NBD_REP_ERR_POLICY);
	list_names(fd, names, sizeof(names));
	T_ASSERT(!strcmp(names, "open,tcpok,"));
	T_EQ(nc_go(fd, "open", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(fd);
	fd = dn_hello(nc_connect(g_d.nbd_socket));
	nc_option(fd, NBD_OPT_EXPORT_NAME, "rootonly", 8);
	T_ASSERT(nc_closed(fd));
	close(fd);
}

/* nobody in group GROUP: grp (allow=gid:GROUP) is offered and served. */
static void nobody_in_group(void)
{
	char names[512];
	int fd = dn_hello(nc_connect(g_d.nbd_socket));

	list_names(fd, names, sizeof(names));
	T_ASSERT(!strcmp(names, "open,tcpok,grp,"));
	T_EQ(nc_go(fd, "grp", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(fd);
}

/* Per export, per peer: nobody is refused rootonly, served open; root is
 * served both; LIST follows. */
static void unix_peercred(void)
{
	char names[512];
	int fd;

	as_nobody(nobody_on_unix);
	as_nobody_groups(nobody_in_group, true);
	if (nt_have("qemu-io")) {
		T_ASSERT(nt_run_all((const char *[]){ "setpriv", "--reuid=65534", "--regid=65534",
						      "--clear-groups", "qemu-io", "-f", "raw", "-c",
						      "write -P 0x99 1M 4k",
						      dn_unix_uri(&g_d, "rootonly"), NULL },
				    NULL, out, sizeof(out)) != 0);
		T_ASSERT(strstr(out, "uid 65534 may not use LUN rootonly"));
	}
	fd = dn_hello(nc_connect(g_d.nbd_socket));
	list_names(fd, names, sizeof(names));
	T_ASSERT(!strcmp(names, "rootonly,open,tcpok,grp,"));
	T_EQ(nc_go(fd, "rootonly", NULL, NULL, NULL, 0), NBD_REP_ACK);
	nc_disc(fd);
}

int main(void)
{
	const char *args[] = { "--lun", "rootonly=ram:16M", "--lun", "open=ram:16M", "--allow",
			       "open=all", "--lun", "tcpok=ram:16M", "--allow", "tcpok=all",
			       "--legacy", "rootonly", "--legacy", "open", "--legacy", "tcpok",
			       "--nbd-tcp-anonymous", "tcpok", "--nbd-socket-mode", "0666", "--lun",
			       "grp=ram:16M", "--allow", "grp=gid:4242", "--legacy", "grp", NULL };

	signal(SIGPIPE, SIG_IGN);
	T_SKIP_IF(geteuid() != 0, "needs root (to become nobody)");
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(!nt_have("nbdinfo") || !nt_have("setpriv"),
		  "nbdinfo or setpriv is not installed (Debian: libnbd-bin, util-linux)");
	T_EQ(t_daemon_start(&g_d, args), 0);
	T_ASSERT(g_d.nbd_port > 0);
	T_RUN(tcp_nobody_refused);
	T_RUN(tcp_export_name_closed);
	T_RUN(tcp_list);
	T_RUN(unix_peercred);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
