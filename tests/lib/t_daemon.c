/* SPDX-License-Identifier: Apache-2.0 */
/* t_daemon.c - a cxlflashd per test (see t_daemon.h). */
#include "t_daemon.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>

#include "master/embedded.h"
#include "t_tool.h"
#include "t_util.h"

const char *t_tool_path(const char *name)
{
	static char path[8][4096];
	static unsigned slot;
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	char *p = path[slot++ % 8];

	snprintf(p, 4096, "%s/../tools/%s", dir && *dir ? dir : "build/testdata", name);
	return p;
}

int t_daemon_start(struct t_daemon *d, const char *const *args)
{
	return t_daemon_start_as(d, "cxlflashd", 10, args);
}

int t_daemon_start_as(struct t_daemon *d, const char *name, unsigned wait_s,
		      const char *const *args)
{
	const char *argv[48] = { "cxlflashd" };
	int n = 1, pfd[2];
	char buf[512], file[128];
	size_t len = 0;
	time_t end = time(NULL) + wait_s;

	memset(d, 0, sizeof(*d));
	snprintf(file, sizeof(file), "%s.sock", name);
	snprintf(d->socket, sizeof(d->socket), "%s", t_path(file));
	snprintf(file, sizeof(file), "%s-nbd.sock", name);
	snprintf(d->nbd_socket, sizeof(d->nbd_socket), "%s", t_path(file));
	argv[n++] = "--socket";
	argv[n++] = d->socket;
	argv[n++] = "--nbd-socket";
	argv[n++] = d->nbd_socket;
	argv[n++] = "--nbd-tcp";
	argv[n++] = "127.0.0.1:0";
	for (int i = 0; args[i]; i++) {
		T_ASSERT(n < 47);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	T_ASSERT(pipe2(pfd, O_CLOEXEC) == 0);
	d->pid = fork();
	T_ASSERT(d->pid >= 0);
	if (d->pid == 0) {
		/* A test that fails (exit) must not leave its daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], 1);
		execv(t_tool_path("cxlflashd"), (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while (len < sizeof(buf) - 1 && time(NULL) < end) {
		ssize_t r = read(pfd[0], buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = 0;
		if (strchr(buf, '\n'))
			break;
	}
	close(pfd[0]); /* later output (none expected) would get EPIPE: it logs to stderr */
	buf[len] = 0;
	if (strncmp(buf, "cxlflashd: ready", 16)) {
		fprintf(stderr, "cxlflashd did not get ready (said '%s')\n", buf);
		t_daemon_kill(d);
		return -1;
	}
	buf[strcspn(buf, "\n")] = 0;
	snprintf(d->ready, sizeof(d->ready), "%s", buf);
	{
		const char *p = strstr(buf, "nbd-tcp=");

		if (p && (p = strrchr(p, ':')))
			d->nbd_port = (unsigned)atoi(p + 1);
	}
	setenv("CXLFLASH_SOCKET", d->socket, 1);
	return 0;
}

int t_daemon_stop(struct t_daemon *d)
{
	int status;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	T_ASSERT(waitpid(d->pid, &status, 0) == d->pid);
	d->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void t_daemon_kill(struct t_daemon *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

bool t_daemon_alive(struct t_daemon *d)
{
	return d->pid > 0 && waitpid(d->pid, NULL, WNOHANG) == 0;
}

long t_daemon_rss_kb(struct t_daemon *d)
{
	char path[64], line[256];
	long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int t_daemon_fds(struct t_daemon *d)
{
	char path[64];
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (readdir(dir))
		n++;
	closedir(dir);
	return n - 2;
}

int t_daemon_status(struct t_daemon *d, char *out, size_t len)
{
	const char *args[] = { "status", "--json", "--socket", d->socket, NULL };

	return t_run_tool(t_tool_path("cxlflash"), args, out, len);
}

int t_daemon_check(const char *lun, char *why, size_t len)
{
	int fd = cxlflash_open(lun, O_RDWR), rc;

	if (fd < 0) {
		snprintf(why, len, "cannot open %s: %s", lun, strerror(errno));
		return -1;
	}
	rc = cxlflash_debug_check(fd, why, len);
	cxlflash_close(fd);
	return rc;
}

long long t_json_num(const char *json, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}
