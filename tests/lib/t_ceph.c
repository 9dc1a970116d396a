/* SPDX-License-Identifier: Apache-2.0 */
/* t_ceph.c - start and stop a one-node Ceph cluster for a test (t_ceph.h). */
#include "t_ceph.h"
#include "t_util.h"
#include "backend/backend.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CXLFLASH_SOURCE_DIR
#define CXLFLASH_SOURCE_DIR "."
#endif

static char g_dir[64];
static pid_t g_owner;

static const char *script(void)
{
	return CXLFLASH_SOURCE_DIR "/tests/lib/ceph-cluster.sh";
}

void t_ceph_stop(void)
{
	char cmd[512];

	if (!g_dir[0] || getpid() != g_owner)
		return;
	snprintf(cmd, sizeof(cmd), "%s stop %s", script(), g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "t_ceph: stopping %s failed\n", g_dir);
	g_dir[0] = 0;
}

/*
 * A test killed outright (CTest's timeout, SIGKILL) runs no atexit handler,
 * and the daemons, started under setsid, would outlive it. So a watchdog,
 * double-forked away from the test's process tree and its output, waits for
 * the end of a pipe only the test holds, then stops the cluster (nothing to
 * do when t_ceph_stop() already removed the directory).
 */
static void start_watchdog(void)
{
	int p[2], fd;
	pid_t pid;

	T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		char cmd[512], c;

		if (fork() != 0)
			_exit(0);
		setsid();
		close(p[1]);
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		snprintf(cmd, sizeof(cmd), "[ -d %s ] && exec %s stop %s", g_dir, script(), g_dir);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(0);
	}
	T_ASSERT(waitpid(pid, NULL, 0) == pid);
	close(p[0]);
	/* p[1] stays open, close-on-exec, until this process ends. */
}

const char *t_ceph_start(const char *pools)
{
	char cmd[512], conf[128];
	struct timeval t0, t1;
	int st;

	T_ASSERT(!g_dir[0]);
	/* Short: the daemons' admin sockets live under it (108-byte limit). */
	snprintf(g_dir, sizeof(g_dir), "/tmp/cxlflash-ceph.XXXXXX");
	T_ASSERT(mkdtemp(g_dir));
	g_owner = getpid();
	atexit(t_ceph_stop);
	snprintf(cmd, sizeof(cmd), "%s start %s %s", script(), g_dir, pools ? pools : "rbd");
	gettimeofday(&t0, NULL);
	st = system(cmd);
	gettimeofday(&t1, NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == T_SKIP) {
		rmdir(g_dir);
		g_dir[0] = 0;
		exit(T_SKIP);
	}
	if (st != 0) {
		fprintf(stderr, "t_ceph: the cluster did not come up (status 0x%x)\n", st);
		exit(T_FAIL);
	}
	start_watchdog();
	snprintf(conf, sizeof(conf), "%s/ceph.conf", g_dir);
	setenv("CEPH_CONF", conf, 1);
	fprintf(stderr, "t_ceph: cluster up in %s in %.2f s\n", g_dir,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6);
	return g_dir;
}

int t_ceph_cmd(const char *fmt, ...)
{
	char inner[1024], cmd[1200];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(inner, sizeof(inner), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "timeout 30 %s", inner);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void t_ceph_start_rbd(void)
{
	struct be_spec spec;
	struct backend *be;
	int rc;

	t_ceph_start("rbd");
	T_EQ(be_parse_spec("rbd:rbd/probe?size=4K", &spec), 0);
	rc = be_open(&spec, &be);
	T_SKIP_IF(rc == -ENOTSUP, "built without librbd");
	T_EQ(rc, 0);
	be_close(be);
}
