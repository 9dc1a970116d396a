/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: fork() with an rbd LUN open. librados's threads do not
 * survive fork(), and the child never needs them: it reaches the LUN
 * through the master that has it open (the parent's, embedded; or
 * cxlflashd's). On a one-node Ceph cluster:
 *
 *   embedded  tests/block/fork_clone (every cblk_clone_after_fork case: a
 *             read-only clone, a writing clone that grows its vLUN, access
 *             that cannot widen, a chunk closed uncloned, a physical LUN)
 *             on rbd:rbd/fork, in-process;
 *   exits     a child that cloned a physical chunk, read and wrote, ends
 *             with exit() (atexit handlers and the static destructors of
 *             the librbd the parent loaded run in the child) in time and
 *             with status 0; the parent reads the child's write;
 *   daemon    the same fork_clone cases through cxlflashd serving the
 *             image.
 */
#include "../block/blk_test.h"
#include "t_ceph.h"
#include "t_daemon.h"
#include "t_tool.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

static char g_out[65536];
static volatile int g_child;

/*
 * LeakSanitizer asks this at exit (sanitizer/lsan_interface.h). A forked
 * child holds copies of what librados's threads in the parent own, threads
 * the child does not have: unreachable to LeakSanitizer, not leaks.
 */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return g_child;
}

/* Run tests/block/fork_clone (beside this program) with @lun. */
static void fork_clone_on(const char *lun)
{
	char self[PATH_MAX], bin[PATH_MAX + 32], env[256];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *argv[] = { bin, NULL };
	int st;

	T_ASSERT(n > 0);
	self[n] = 0;
	snprintf(bin, sizeof(bin), "%s/block-fork_clone", dirname(self));
	snprintf(env, sizeof(env), "CXLFLASH_TEST_LUN=%s", lun);
	st = t_run_argv(argv, env, T_RUN_STDERR | T_RUN_TAIL, g_out, sizeof(g_out));
	fprintf(stderr, "%s", g_out);
	T_EQ(st, 0);
}

static void embedded(void)
{
	setenv("CXLFLASH_SOCKET", "none", 1);
	fork_clone_on("rbd:rbd/fork?size=1G");
}

static void exits(void)
{
	chunk_id_t id;
	uint8_t *b = bt_buf(1);
	int status = -1;
	pid_t pid;

	setenv("CXLFLASH_SOCKET", "none", 1);
	id = bt_open("rbd:rbd/forkx?size=256M", 4, O_RDWR, 0);
	t_pattern_fill(b, BLK, 61, 10);
	T_EQ(cblk_write(id, b, 10, 1, 0), 1);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		int rc;

		g_child = 1;
		rc = cblk_clone_after_fork(id, O_RDWR, 0) ||
		     cblk_read(id, b, 10, 1, 0) != 1 || t_pattern_check(b, BLK, 61, 10) ||
		     (t_pattern_fill(b, BLK, 62, 11), cblk_write(id, b, 11, 1, 0) != 1) ||
		     cblk_close(id, 0);
		exit(rc ? 3 : 0);    /* not _exit: the destructors run */
	}
	for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(100000);
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		T_ASSERT(!"the child did not exit within 30 s");
	}
	T_ASSERT(WIFEXITED(status));
	T_EQ(WEXITSTATUS(status), 0);
	T_EQ(cblk_read(id, b, 11, 1, 0), 1);
	T_EQ(t_pattern_check(b, BLK, 62, 11), 0);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

static void daemon_lun(void)
{
	const char *args[] = { "--lun", "fl=rbd:rbd/forkd?size=1G", "--no-nbd", NULL };
	struct t_daemon d;

	T_EQ(t_daemon_start_as(&d, "forkd", 60, args), 0);   /* sets CXLFLASH_SOCKET */
	fork_clone_on("fl");
	T_EQ(t_daemon_stop(&d), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	t_ceph_start_rbd();
	T_RUN(embedded);
	T_RUN(exits);
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_RUN(daemon_lun);
	return T_PASS;
}
