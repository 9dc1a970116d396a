/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nonroot.c - an ordinary user allowed on a LUN (--allow NAME=uid:N) opens
 * it, gets a vLUN and does verified I/O through cxlflashd; a LUN that user
 * is not allowed on, and a uid allowed nowhere, are refused with EACCES by
 * cxlflash_open and cblk_open alike; that user's `cxlflash status` and
 * `vlun list` show its own contexts only, not root's. Needs root (to
 * become other users).
 */
#include <grp.h>
#include <sys/stat.h>

#include <cxlflash/cxlflash_ioctl.h>

#include "d_test.h"

#define NOBODY 65534
#define OTHER  65533

static struct t_daemon g_d;

static int become(uid_t uid)
{
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
		return -1;
	return geteuid() == uid ? 0 : -1;
}

/* As @uid: lun0 works (if @allowed) or is refused; priv is always refused. */
static int as_user(uid_t uid, bool allowed, struct d_shared *sh)
{
	int fd;

	if (become(uid))
		return 60;
	errno = 0;
	fd = cxlflash_open("priv", O_RDWR);
	if (fd >= 0 || errno != EACCES) {
		fprintf(stderr, "uid %d: cxlflash_open(priv): fd %d errno %d\n", (int)uid, fd, errno);
		return 61;
	}
	errno = 0;
	if (cblk_open("priv", 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN) != NULL_CHUNK_ID || errno != EACCES) {
		fprintf(stderr, "uid %d: cblk_open(priv): errno %d\n", (int)uid, errno);
		return 62;
	}
	if (!allowed) {
		errno = 0;
		if (cblk_open("lun0", 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN) != NULL_CHUNK_ID ||
		    errno != EACCES) {
			fprintf(stderr, "uid %d: cblk_open(lun0): errno %d\n", (int)uid, errno);
			return 63;
		}
		return 0;
	}
	return d_verify_client("lun0", 0, 256, sh, 2000);
}

static void users(void)
{
	struct d_shared *sh = d_shared_new();
	pid_t pid;
	const char *st;

	pid = d_fork();
	if (pid == 0)
		_exit(as_user(NOBODY, true, sh));
	T_EQ(d_wait(pid), 0);
	T_EQ(sh->c[0].ops, 2000);
	pid = d_fork();
	if (pid == 0)
		_exit(as_user(OTHER, false, sh));
	T_EQ(d_wait(pid), 0);
	d_check("lun0");
	st = d_status(&g_d);
	T_EQ(t_json_num(st, "contexts"), 0);
	T_EQ(t_json_num(d_lun_json(st, "lun0"), "chunks_free"), 4);
}

/* As nobody, while @mine (nobody's) and @roots (root's) each hold a vLUN:
 * status and vlun list, text and JSON, show nobody's context only. */
static int look_as_nobody(pid_t mine, pid_t roots)
{
	static char out[1 << 16];
	const char *vl[] = { "vlun", "list", "--json", "--socket", g_d.socket, NULL };
	const char *text[] = { "status", "--socket", g_d.socket, NULL };
	char pid_col[32];

	if (become(NOBODY))
		return 70;
	t_tool_quiet = 1;
	if (t_daemon_status(&g_d, out, sizeof(out)))
		return 71;
	if (!d_status_has_owner(out, mine) || d_status_has_owner(out, roots) ||
	    t_json_num(out, "contexts") != 1) {
		fprintf(stderr, "nobody's status: %s\n", out);
		return 72;
	}
	if (t_run_tool(t_tool_path("cxlflash"), vl, out, sizeof(out)) ||
	    !d_status_has_owner(out, mine) || d_status_has_owner(out, roots)) {
		fprintf(stderr, "nobody's vlun list: %s\n", out);
		return 73;
	}
	if (t_run_tool(t_tool_path("cxlflash"), text, out, sizeof(out)) ||
	    !strstr(out, "only your own are shown")) {
		fprintf(stderr, "nobody's text status: %s\n", out);
		return 74;
	}
	snprintf(pid_col, sizeof(pid_col), " %7d ", (int)roots);
	if (strstr(out, pid_col)) {
		fprintf(stderr, "nobody's text status shows root's pid %d: %s\n", (int)roots, out);
		return 75;
	}
	return 0;
}

/* Non-administrators see only their own contexts (issue 12): the status
 * would otherwise hand out other tenants' context ids and owner pids. */
static void visibility(void)
{
	struct d_shared *sh = d_shared_new();
	pid_t mine, roots, pid;
	const char *st;

	roots = d_spawn_client("lun0", 1, 256, sh, 0);
	mine = d_fork();
	if (mine == 0)
		_exit(become(NOBODY) ? 60 : d_verify_client("lun0", 0, 256, sh, 0));
	d_wait_ready(sh, 0);
	d_wait_ready(sh, 1);
	st = d_status(&g_d);      /* root sees both */
	T_ASSERT(d_status_has_owner(st, mine) && d_status_has_owner(st, roots));
	T_EQ(t_json_num(st, "contexts"), 2);
	pid = d_fork();
	if (pid == 0)
		_exit(look_as_nobody(mine, roots));
	T_EQ(d_wait(pid), 0);
	sh->stop = 1;
	T_EQ(d_wait(mine), 0);
	T_EQ(d_wait(roots), 0);
	d_check("lun0");
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:1G", "--lun", "priv=ram:1G",
			       "--allow", "lun0=uid:65534", NULL };
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	struct stat st;

	T_SKIP_IF(geteuid() != 0, "needs root to run clients as other users");
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	/* The socket lives in the test directory: other users must reach it. */
	if (dir && *dir && stat(dir, &st) == 0)
		T_EQ(chmod(dir, st.st_mode | 0711), 0);
	T_EQ(d_start(&g_d, args), 0);
	{
		pid_t pid = d_fork();

		if (pid == 0)
			_exit(become(NOBODY) || access(g_d.socket, W_OK) ? 1 : 0);
		T_SKIP_IF(d_wait(pid) != 0, "the test directory is not reachable by other users");
	}
	T_RUN(users);
	T_RUN(visibility);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
