/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the blocklistio tool, run as a program for about a second
 * at a time on ram LUNs: virtual and physical, polled and with the
 * completion thread, one list of one command and many lists. Its output
 * line must carry the keys l c p s i err pollN lat mbps iops in that order
 * with iops > 0 and err 0; --help exits 0; bad options exit non-zero.
 */
#include "t_tool.h"
#include "t_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tool[4096];

static int run(const char *const *args, char *out, size_t outsz)
{
	return t_run_tool(tool, args, out, outsz);
}


static void check_line(const char *out, int l, int c, int p, int i)
{
	static const char *const keys[] = { "l", "c", "p", "s", "i", "err", "pollN", "lat",
					     "mbps", "iops" };
	const char *pos = out;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char pat[32];
		const char *f;

		snprintf(pat, sizeof(pat), "%s%s:", k ? " " : "", keys[k]);
		f = strstr(pos, pat);
		T_ASSERT(f != NULL);
		T_ASSERT(k || f == out);
		pos = f + strlen(pat);
	}
	T_EQ(t_key_value(out, "l"), l);
	T_EQ(t_key_value(out, "c"), c);
	T_EQ(t_key_value(out, "p"), p);
	T_EQ(t_key_value(out, "i"), i);
	T_EQ(t_key_value(out, "s"), 1);
	T_EQ(t_key_value(out, "err"), 0);
	T_ASSERT(t_key_value(out, "iops") > 0);
	T_ASSERT(t_key_value(out, "lat") >= 0);
	T_ASSERT(t_key_value(out, "pollN") >= 0);
}

static char out[65536];

static void test_help_and_errors(void)
{
	T_EQ(run((const char *[]){ "--help", NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "Usage"));
	T_ASSERT(strstr(out, "pollN"));
	T_ASSERT(run((const char *[]){ "-x", NULL }, out, sizeof(out)) != 0);
	T_ASSERT(run((const char *[]){ NULL }, out, sizeof(out)) != 0);
	T_ASSERT(run((const char *[]){ "-d", "ram:64M", "-l", "0", NULL }, out,
		     sizeof(out)) != 0);
	T_ASSERT(run((const char *[]){ "-d", "ram:64M", "-l", "100", "-c", "100", NULL }, out,
		     sizeof(out)) != 0); /* more than 8192 commands */
	T_ASSERT(run((const char *[]){ "-d", "/nonexistent/lun", "-s", "1", NULL }, out,
		     sizeof(out)) != 0);
}

static void test_runs(void)
{
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-s", "1", NULL }, out, sizeof(out)), 0);
	check_line(out, 40, 10, 0, 0);
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-s", "1", "-p", "-i", NULL }, out,
		 sizeof(out)), 0);
	check_line(out, 40, 10, 1, 1);
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-s", "1", "-l", "1", "-c", "1", "-p", NULL },
		 out, sizeof(out)), 0);
	check_line(out, 1, 1, 1, 0);
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-s", "1", "-l", "8", "-c", "64", "-i", NULL },
		 out, sizeof(out)), 0);
	check_line(out, 8, 64, 0, 1);
}

int main(void)
{
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	struct stat st;

	snprintf(tool, sizeof(tool), "%s/../tools/blocklistio",
		 dir && *dir ? dir : "build/testdata");
	T_SKIP_IF(stat(tool, &st) != 0, "the blocklistio binary is not built");
	T_RUN(test_help_and_errors);
	T_RUN(test_runs);
	return T_PASS;
}
