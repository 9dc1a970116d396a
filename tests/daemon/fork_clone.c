/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork_clone.c - fork + cblk_clone_after_fork across processes through
 * cxlflashd: tests/block/fork_clone.c run against a daemon's LUN (the
 * child's VLUN_CLONE names its parent's context; the daemon checks the
 * parent from the kernel's credentials).
 */
#include <stdlib.h>
#include <unistd.h>

#include "t_daemon.h"
#include "t_tool.h"
#include "t_util.h"

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:1G", NULL };
	const char *none[] = { NULL };
	static char out[4096];
	struct t_daemon d;

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_EQ(t_daemon_start(&d, args), 0);
	setenv("CXLFLASH_TEST_LUN", "lun0", 1);
	T_EQ(t_run_tool(t_tool_path("../tests/block-fork_clone"), none, out, sizeof(out)), 0);
	{
		char why[256];

		T_EQ(t_daemon_check("lun0", why, sizeof(why)), 0);
	}
	T_EQ(t_daemon_stop(&d), 0);
	return T_PASS;
}
