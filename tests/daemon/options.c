/* SPDX-License-Identifier: Apache-2.0 */
/*
 * options.c - cxlflashd's start-up, as a new user meets it: socket modes
 * are validated (--socket-mode 999 or abc refused) and the NBD socket has
 * one (--nbd-socket-mode); a second daemon on another control socket starts
 * although the default NBD TCP port is taken (TCP only when asked, even with
 * a LUN in legacy mode: issue 14; asked for a busy port, an error naming
 * --nbd-tcp); its NBD socket
 * is its own; log lines say "cxlflashd:"; the ready line is printed once;
 * --syslog without /dev/log keeps logging to stderr; a mode switch to the
 * mode a LUN is in logs no change; a file LUN's missing directory is made;
 * the NBD limits (--nbd-max-conns..., --nbd-handshake-timeout, the lun keys
 * nbd-max-conns= and nbd-tcp-anonymous=) refuse nonsense, and a config
 * file's take effect; so do --quota, --admin-group and their config lines;
 * --standby and standby= refuse a LUN that is not rbd, and nonsense.
 *
 * The daemons here are started by hand, not with t_daemon_start, which
 * always adds --nbd-tcp.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../nbd/nbd_test.h"
#include "t_daemon.h"
#include "t_tool.h"
#include "t_util.h"

struct proc {
	pid_t pid;
	char log[4096];             /* its stdout and stderr */
};

static char g_text[65536];

/* The file @path, into g_text. */
static const char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, g_text, sizeof(g_text) - 1) : -1;

	g_text[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	return g_text;
}

static int count(const char *text, const char *s)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, s)); p += strlen(s))
		n++;
	return n;
}

/*
 * Start cxlflashd with @args (NULL-terminated, no argv[0]); its output into
 * p->log. Return: 0 when ready (within 10 s), else its exit status (or -1).
 */
static int start(struct proc *p, const char *name, const char *const *args)
{
	const char *argv[32] = { "cxlflashd" };
	int n = 1, status;

	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(p->log, sizeof(p->log), "%s", t_path(name));
	unlink(p->log);   /* not the last run's "ready" */
	p->pid = fork();
	T_ASSERT(p->pid >= 0);
	if (p->pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(t_tool_path("cxlflashd"), (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		if (strstr(slurp(p->log), "ready socket="))
			return 0;
		usleep(10000);
	}
	return -1;
}

static void stop(struct proc *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	T_EQ(waitpid(p->pid, &status, 0), p->pid);
	T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	p->pid = 0;
}

static void bad_modes(void)
{
	const char *bad[] = { "999", "abc", "0x1ff", "-1", "1000", "", NULL };
	struct proc p;

	for (int i = 0; bad[i]; i++) {
		const char *a1[] = { "--socket", t_path("opt-a.sock"), "--lun", "l=ram:1G",
				     "--socket-mode", bad[i], NULL };
		const char *a2[] = { "--socket", t_path("opt-a.sock"), "--lun", "l=ram:1G",
				     "--nbd-socket-mode", bad[i], NULL };

		T_EQ(start(&p, "opt-bad.log", a1), 2);
		T_ASSERT(strstr(slurp(p.log), "--socket-mode wants an octal mode"));
		T_EQ(start(&p, "opt-bad.log", a2), 2);
		T_ASSERT(strstr(slurp(p.log), "--nbd-socket-mode wants an octal mode"));
	}
	unlink(p.log);
}

/* Ready once, "cxlflashd:" lines, the socket modes as asked. */
static void modes_and_lines(void)
{
	char sock[4096], nbd[4096];
	const char *args[] = { "--socket", sock, "--nbd-socket", nbd, "--nbd-tcp", "none",
			       "--lun", "l=ram:1G", "--socket-mode", "0660",
			       "--nbd-socket-mode", "0640", NULL };
	struct proc p;
	struct stat st;
	const char *log;

	snprintf(sock, sizeof(sock), "%s", t_path("opt-m.sock"));
	snprintf(nbd, sizeof(nbd), "%s", t_path("opt-m-nbd.sock"));
	T_EQ(start(&p, "opt-m.log", args), 0);
	T_EQ(stat(sock, &st), 0);
	T_EQ(st.st_mode & 0777, 0660);
	T_EQ(stat(nbd, &st), 0);
	T_EQ(st.st_mode & 0777, 0640);
	stop(&p);
	log = slurp(p.log);
	T_EQ(count(log, "ready"), 1);
	T_ASSERT(strstr(log, "cxlflashd: notice: LUN l:"));
	T_EQ(count(log, "cxlflash: "), 0);
	unlink(p.log);
}

/*
 * The default TCP port busy (we hold it, or someone does): a daemon not
 * asked for TCP starts anyway, with an NBD socket named after its control
 * socket, and so does one that starts a LUN in legacy mode (TCP is never
 * opened unasked: its clients are not identified); one asked for the busy
 * port fails and names the option.
 */
static void tcp_only_when_asked(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(10809) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	char sock[4096], nbd[4200];
	const char *plain[] = { "--socket", sock, "--lun", "l=ram:1G", NULL };
	const char *legacy[] = { "--socket", sock, "--lun", "l=ram:1G", "--legacy", "l", NULL };
	const char *asked[] = { "--socket", sock, "--lun", "l=ram:1G", "--legacy", "l",
				"--nbd-tcp", "10809", NULL };
	struct proc p;
	size_t len;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_ASSERT(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		T_EQ(listen(fd, 1), 0);   /* else someone else holds it: busy all the same */
	snprintf(sock, sizeof(sock), "%s", t_path("opt-t.sock"));
	len = strlen(sock);
	if (!strcmp(sock + len - 5, ".sock"))
		snprintf(nbd, sizeof(nbd), "%.*s-nbd.sock", (int)(len - 5), sock);
	else
		snprintf(nbd, sizeof(nbd), "%s-nbd.sock", sock);

	T_EQ(start(&p, "opt-t.log", plain), 0);
	T_ASSERT(!strstr(slurp(p.log), "nbd-tcp="));
	T_ASSERT(strstr(g_text, nbd));
	T_EQ(access(nbd, F_OK), 0);
	stop(&p);

	T_EQ(start(&p, "opt-t.log", legacy), 0);
	T_ASSERT(!strstr(slurp(p.log), "nbd-tcp="));
	T_ASSERT(strstr(g_text, nbd));
	stop(&p);

	T_EQ(start(&p, "opt-t.log", asked), 1);
	T_ASSERT(strstr(slurp(p.log), "cannot listen on TCP 127.0.0.1:10809"));
	T_ASSERT(strstr(g_text, "--nbd-tcp"));

	/* no NBD socket and no TCP wanted: no NBD server, and it starts */
	{
		const char *none[] = { "--socket", sock, "--nbd-socket", "none", "--lun",
				       "l=ram:1G", NULL };

		T_EQ(start(&p, "opt-t.log", none), 0);
		T_ASSERT(!strstr(slurp(p.log), "nbd-"));
		stop(&p);
	}
	close(fd);
	unlink(p.log);
}

/* A second daemon in the same directory does not take the first one's NBD socket. */
static void nbd_socket_kept(void)
{
	char s1[4096], s2[4096], nbd[4096];
	const char *a1[] = { "--socket", s1, "--nbd-socket", nbd, "--nbd-tcp", "none",
			     "--lun", "l=ram:1G", NULL };
	const char *a2[] = { "--socket", s2, "--nbd-socket", nbd, "--nbd-tcp", "none",
			     "--lun", "l=ram:1G", NULL };
	struct proc p1, p2;

	snprintf(s1, sizeof(s1), "%s", t_path("opt-k1.sock"));
	snprintf(s2, sizeof(s2), "%s", t_path("opt-k2.sock"));
	snprintf(nbd, sizeof(nbd), "%s", t_path("opt-k-nbd.sock"));
	T_EQ(start(&p1, "opt-k1.log", a1), 0);
	T_EQ(start(&p2, "opt-k2.log", a2), 1);
	T_ASSERT(strstr(slurp(p2.log), "another server is listening there"));
	T_ASSERT(strstr(g_text, "--nbd-socket"));
	T_EQ(access(nbd, F_OK), 0);   /* still the first daemon's */
	stop(&p1);
	unlink(p1.log);
	unlink(p2.log);
}

/* --syslog without /dev/log: said, and the lines still reach stderr. */
static void syslog_missing(void)
{
	const char *args[] = { "--socket", t_path("opt-s.sock"), "--nbd-tcp", "none",
			       "--lun", "l=ram:1G", "--syslog", NULL };
	struct proc p;

	if (access("/dev/log", F_OK) == 0) {
		fprintf(stderr, "(/dev/log exists: the missing case is not testable here)\n");
		return;
	}
	T_EQ(start(&p, "opt-s.log", args), 0);
	stop(&p);
	T_ASSERT(strstr(slurp(p.log), "--syslog: /dev/log is missing"));
	T_ASSERT(strstr(g_text, "cxlflashd: notice: LUN l:"));
	unlink(p.log);
}

/* `cxlflash lun mode` to the mode a LUN is in: said so, no change logged. */
static void mode_noop(void)
{
	char sock[4096], env[4200], out[4096];
	const char *args[] = { "--socket", sock, "--lun", "l=ram:1G", NULL };
	const char *same[] = { t_tool_path("cxlflash"), "lun", "mode", "l", "superpipe", NULL };
	const char *legacy[] = { t_tool_path("cxlflash"), "lun", "mode", "l", "legacy", NULL };
	struct proc p;

	snprintf(sock, sizeof(sock), "%s", t_path("opt-n.sock"));
	snprintf(env, sizeof(env), "CXLFLASH_SOCKET=%s", sock);
	T_EQ(start(&p, "opt-n.log", args), 0);
	T_EQ(t_run_argv(same, env, T_RUN_STDERR, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "already in superpipe mode"));
	T_EQ(t_run_argv(legacy, env, T_RUN_STDERR, out, sizeof(out)), 0);
	T_EQ(t_run_argv(legacy, env, T_RUN_STDERR, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "already in legacy mode"));
	stop(&p);
	T_EQ(count(slurp(p.log), "is now in"), 1);
	T_ASSERT(strstr(g_text, "is now in legacy mode (NBD on the Unix socket only"));
	unlink(p.log);
}

/* file:DIR/x.img?size= with DIR missing (a fresh /var/lib/cxlflash). */
static void missing_dir(void)
{
	char dir[4096], img[4200], lun[4300];
	const char *args[] = { "--socket", t_path("opt-d.sock"), "--nbd-tcp", "none", "--lun",
			       lun, NULL };
	struct proc p;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", t_path("opt-dir"));
	snprintf(img, sizeof(img), "%s/lun0.img", dir);
	snprintf(lun, sizeof(lun), "lun0=file:%s?size=64M", img);
	T_EQ(start(&p, "opt-d.log", args), 0);
	T_EQ(stat(dir, &st), 0);
	T_ASSERT(S_ISDIR(st.st_mode));
	T_EQ(st.st_mode & 0777, 0750);
	T_EQ(stat(img, &st), 0);
	T_EQ(st.st_size, 64 << 20);
	stop(&p);
	unlink(img);
	rmdir(dir);
	unlink(p.log);
}

/* NBD limits (and --takeover-wait): bad numbers refused, naming the
 * option; a config file's directives and lun keys accepted and applied. */
/* A daemon started with --config @conf holding @text does not start, and
 * says @why. */
static void conf_refused(const char *const *cargs, const char *conf, const char *text,
			 const char *why)
{
	FILE *f = fopen(conf, "w");
	struct proc p;

	T_ASSERT(f);
	fputs(text, f);
	fclose(f);
	T_EQ(start(&p, "opt-l.log", cargs), 2);
	T_ASSERT(strstr(slurp(p.log), why));
}

static void nbd_limit_options(void)
{
	const char *opts[] = { "--nbd-max-conns", "--nbd-max-conns-per-user",
			       "--nbd-max-conns-per-lun", "--nbd-handshake-timeout",
			       "--takeover-wait", NULL };
	const char *bad[] = { "0", "-1", "abc", "99999999999", "", NULL };
	char sock[4096], nbd[4096], conf[4096], msg[512];
	const char *cargs[] = { "--socket", sock, "--nbd-socket", nbd, "--config", conf, NULL };
	struct proc p;
	FILE *f;
	int a, b;

	for (int o = 0; opts[o]; o++) {
		for (int i = 0; bad[i]; i++) {
			const char *args[] = { "--socket", t_path("opt-l.sock"), "--lun", "l=ram:1G",
					       opts[o], bad[i], NULL };

			T_EQ(start(&p, "opt-l.log", args), 2);
			T_ASSERT(strstr(slurp(p.log), "wants a whole number"));
		}
	}
	{
		const char *a1[] = { "--socket", t_path("opt-l.sock"), "--lun", "l=ram:1G",
				     "--nbd-lun-max-conns", "l=0", NULL };
		const char *a2[] = { "--socket", t_path("opt-l.sock"), "--lun", "l=ram:1G",
				     "--nbd-tcp-anonymous", "m", NULL };

		T_EQ(start(&p, "opt-l.log", a1), 2);
		T_ASSERT(strstr(slurp(p.log), "nbd-max-conns wants a whole number"));
		T_EQ(start(&p, "opt-l.log", a2), 2);
		T_ASSERT(strstr(slurp(p.log), "no LUN of that name"));
	}
	snprintf(sock, sizeof(sock), "%s", t_path("opt-l.sock"));
	snprintf(nbd, sizeof(nbd), "%s", t_path("opt-l-nbd.sock"));
	snprintf(conf, sizeof(conf), "%s", t_path("opt-l.conf"));
	f = fopen(conf, "w");
	T_ASSERT(f);
	fprintf(f, "lun l ram:1G mode=legacy nbd-max-conns=1 nbd-tcp-anonymous=no\n"
		   "nbd-max-conns 10\nnbd-max-conns-per-user 5\nnbd-max-conns-per-lun 4\n"
		   "nbd-handshake-timeout 3\ntakeover yes\ntakeover-wait 30\n");
	fclose(f);
	T_EQ(start(&p, "opt-l.log", cargs), 0);
	T_ASSERT(!strstr(g_text, "nbd-tcp="));
	a = nc_open(nbd, "l", false, NULL);
	b = nc_connect(nbd);
	nc_hello(b, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	T_EQ(nc_go(b, "l", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	T_ASSERT(strstr(msg, "LUN l has 1, its limit"));
	nc_disc(a);
	close(b);
	stop(&p);
	conf_refused(cargs, conf, "lun l ram:1G\nnbd-max-conns 0\n", ":2: cannot use this line");
	conf_refused(cargs, conf, "lun l ram:1G nbd-tcp-anonymous=maybe\n",
		     "nbd-tcp-anonymous is yes or no");
	/* standby: rbd only, yes or no, a LUN named first. */
	conf_refused(cargs, conf, "lun l ram:1G standby=yes\n", "standby is for rbd: LUNs");
	conf_refused(cargs, conf, "lun l rbd:p/i standby=maybe\n", "standby is yes or no");
	{
		const char *a3[] = { "--socket", t_path("opt-l.sock"), "--lun", "l=ram:1G",
				     "--standby", "m", NULL };

		T_EQ(start(&p, "opt-l.log", a3), 2);
		T_ASSERT(strstr(slurp(p.log), "no LUN of that name"));
	}
	unlink(conf);
	unlink(p.log);
}

/* --quota / --admin-group and their config lines refuse nonsense; good
 * ones start a daemon. (What the quotas do: daemon/quotas.) */
static void quota_options(void)
{
	const char *bad[][2] = {
		{ "--quota", "bogus" }, { "--quota", "default:contexts" },
		{ "--quota", "default:contexts=-1" }, { "--quota", "default:chunks=101%" },
		{ "--quota", "default:chunks=0%" }, { "--quota", "default:speed=1" },
		{ "--quota", "uid:x:contexts=1" }, { "--quota", "group:no-such-group-here:contexts=1" },
		{ "--quota", "nobody:contexts=1" }, { "--admin-group", "no-such-group-here" },
	};
	const char *why[] = { "wants WHO:KEY=VALUE", "wants WHO:KEY=VALUE", "wants a whole number",
			      "wants a whole number", "wants a whole number", "use contexts=N",
			      "quota for 'uid:x'", "quota for 'group:no-such-group-here'",
			      "quota for 'nobody'", "no such group" };
	char sock[4096], conf[4096];
	const char *cargs[] = { "--socket", sock, "--no-nbd", "--config", conf, NULL };
	struct proc p;
	FILE *f;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { "--socket", t_path("opt-q.sock"), "--no-nbd", "--lun",
				       "l=ram:1G", bad[i][0], bad[i][1], NULL };

		T_EQ(start(&p, "opt-q.log", args), 2);
		if (!strstr(slurp(p.log), why[i])) {
			fprintf(stderr, "%s %s: %s\n", bad[i][0], bad[i][1], g_text);
			T_ASSERT(0);
		}
	}
	snprintf(sock, sizeof(sock), "%s", t_path("opt-q.sock"));
	snprintf(conf, sizeof(conf), "%s", t_path("opt-q.conf"));
	f = fopen(conf, "w");
	T_ASSERT(f);
	fprintf(f, "lun l ram:1G\nquota default contexts=64 chunks=25%% connections=128\n"
		   "quota uid:1000 chunks=unlimited\nquota gid:100 contexts=8 chunks=3\n"
		   "admin-group 0\n");
	fclose(f);
	T_EQ(start(&p, "opt-q.log", cargs), 0);
	stop(&p);
	f = fopen(conf, "w");
	T_ASSERT(f);
	fprintf(f, "lun l ram:1G\nquota default\n");
	fclose(f);
	T_EQ(start(&p, "opt-q.log", cargs), 2);
	T_ASSERT(strstr(slurp(p.log), ":2: cannot use this line"));
	unlink(conf);
	unlink(p.log);
}

int main(void)
{
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	unsetenv("CXLFLASH_LOG");
	T_RUN(bad_modes);
	T_RUN(modes_and_lines);
	T_RUN(tcp_only_when_asked);
	T_RUN(nbd_socket_kept);
	T_RUN(syslog_missing);
	T_RUN(mode_noop);
	T_RUN(missing_dir);
	T_RUN(nbd_limit_options);
	T_RUN(quota_options);
	return T_PASS;
}
