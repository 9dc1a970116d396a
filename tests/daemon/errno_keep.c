/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errno_keep.c - tests/block/errno_keep through cxlflashd: no library call
 * changes errno when it succeeds, also when the control path goes over the
 * daemon's socket (a receive that would block is tried first) and the
 * contexts live in DMA areas.
 */
#include <stdlib.h>
#include <unistd.h>

#include "t_daemon.h"
#include "t_tool.h"
#include "t_util.h"

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:2G", NULL };
	const char *none[] = { NULL };
	static char out[8192];
	struct t_daemon d;
	int rc;

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_EQ(t_daemon_start(&d, args), 0);
	setenv("CXLFLASH_TEST_LUN", "lun0", 1);
	rc = t_run_tool(t_tool_path("../tests/block-errno_keep"), none, out, sizeof(out));
	if (rc)
		fprintf(stderr, "%s", out);
	T_EQ(rc, 0);
	T_EQ(t_daemon_stop(&d), 0);
	return T_PASS;
}
