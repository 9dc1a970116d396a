/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open_errors.c - what a program opening a LUN by name is told when it
 * cannot: a LUN in legacy mode (the kernel's EINVAL, and the reason with
 * the command that switches it), a name the running cxlflashd does not
 * serve, and a name with no cxlflashd running at all. blockio shows what
 * the library prints.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t_daemon.h"
#include "t_tool.h"
#include "t_util.h"

static char out[16384];

static int blockio(const char *env, const char *dev)
{
	const char *argv[] = { t_tool_path("blockio"), "-d", dev, "-p", "-s", "1", NULL };

	return t_run_argv(argv, env, T_RUN_STDERR, out, sizeof(out));
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:1G", "--lun", "lun1=ram:1G", "--legacy", "lun0",
			       NULL };
	char env[4200];
	struct t_daemon d;

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	unsetenv("CXLFLASH_LOG");
	T_EQ(t_daemon_start(&d, args), 0);

	T_EQ(blockio(NULL, "lun0"), 1);
	T_ASSERT(strstr(out, "LUN lun0 is in legacy mode"));
	T_ASSERT(strstr(out, "`cxlflash lun mode lun0 superpipe` switches it"));
	T_ASSERT(strstr(out, "Invalid argument"));   /* the errno stays the kernel's */

	T_EQ(blockio(NULL, "lun1"), 0);              /* the superpipe one works */

	T_EQ(blockio(NULL, "lun7"), 1);
	T_ASSERT(strstr(out, "lun7: nor is it a LUN of the cxlflashd on"));

	snprintf(env, sizeof(env), "CXLFLASH_SOCKET=%s", t_path("no-daemon.sock"));
	T_EQ(blockio(env, "lun1"), 1);
	T_ASSERT(strstr(out, "lun1: nor is it served by a cxlflashd: none listens on"));

	T_EQ(t_daemon_stop(&d), 0);
	return T_PASS;
}
