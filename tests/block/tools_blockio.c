/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the blockio tool, run as a program for about a second at a
 * time on ram LUNs: physical and virtual, polled and with the completion
 * thread, mixed reads and writes, -n > 1, sequential, RAID0 over two
 * devices. Its one output line must carry IBM's keys in IBM's order with
 * iops > 0; --help exits 0; bad options and impossible combinations exit
 * non-zero.
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


/* Check the result line: the keys in order, the options echoed, iops > 0. */
static void check_line(const char *out, int p, int n, int i, int q, int r)
{
	static const char *const keys[] = { "r", "q", "s", "p", "n", "i", "v", "eto", "miss",
					     "lat", "mbps", "iops" };
	const char *nl = strchr(out, '\n'), *line = out, *pos = out;

	/* the result is the last line (-v may print LTO lines before it) */
	while (nl && nl[1]) {
		line = nl + 1;
		nl = strchr(line, '\n');
	}
	pos = line;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char pat[32];
		const char *f;

		snprintf(pat, sizeof(pat), "%s%s:", k ? " " : "", keys[k]);
		f = strstr(pos, pat);
		T_ASSERT(f != NULL);
		T_ASSERT(k || f == line);
		pos = f + strlen(pat);
	}
	T_EQ(t_key_value(line, "p"), p);
	T_EQ(t_key_value(line, "n"), n);
	T_EQ(t_key_value(line, "i"), i);
	T_EQ(t_key_value(line, "q"), q);
	T_EQ(t_key_value(line, "r"), r);
	T_EQ(t_key_value(line, "s"), 1);
	T_EQ(t_key_value(line, "miss"), 0);
	T_ASSERT(t_key_value(line, "iops") > 0);
	T_ASSERT(t_key_value(line, "lat") >= 0);
	T_ASSERT(t_key_value(line, "mbps") >= 0);
	if (n > 1)
		T_ASSERT(t_key_value(line, "4k-iops") >= t_key_value(line, "iops") * n * 9 / 10);
	else
		T_EQ(t_key_value(line, "4k-iops"), -1);
}

static char out[65536];

static void test_help_and_errors(void)
{
	T_EQ(run((const char *[]){ "--help", NULL }, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "Usage"));
	T_ASSERT(strstr(out, "-q depth"));
	T_EQ(run((const char *[]){ "-h", NULL }, out, sizeof(out)), 0);
	T_ASSERT(run((const char *[]){ "-Z", NULL }, out, sizeof(out)) != 0);
	T_ASSERT(run((const char *[]){ NULL }, out, sizeof(out)) != 0); /* no -d */
	T_ASSERT(run((const char *[]){ "-d", "ram:64M", "-q", "0", NULL }, out, sizeof(out)) != 0);
	T_ASSERT(run((const char *[]){ "-d", "ram:64M", "-q", "8193", NULL }, out,
		     sizeof(out)) != 0);
	T_ASSERT(run((const char *[]){ "-d", "ram:64M", "-r", "101", NULL }, out,
		     sizeof(out)) != 0);
	/* -n > 1 needs a physical LUN */
	T_ASSERT(run((const char *[]){ "-d", "ram:1G", "-n", "2", "-s", "1", NULL }, out,
		     sizeof(out)) != 0);
	/* a LUN that cannot be opened */
	T_ASSERT(run((const char *[]){ "-d", "/nonexistent/lun", "-p", "-s", "1", NULL }, out,
		     sizeof(out)) != 0);
	/* more than 8 devices */
	T_ASSERT(run((const char *[]){ "-d", "ram:1M:ram:2M:ram:3M:ram:4M:ram:5M:ram:6M:ram:7M:"
				       "ram:8M:ram:9M", "-p", "-s", "1", NULL },
		     out, sizeof(out)) != 0);
}

static void test_physical(void)
{
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-p", "-s", "1", "-q", "32", NULL }, out,
		 sizeof(out)), 0);
	check_line(out, 1, 1, 0, 32, 100);
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-p", "-s", "1", "-r", "70", "-i", NULL }, out,
		 sizeof(out)), 0);
	check_line(out, 1, 1, 1, 128, 70);
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-p", "-s", "1", "-q", "8", "-n", "4",
				   "-R0", "-r", "50", NULL }, out, sizeof(out)), 0);
	check_line(out, 1, 4, 0, 8, 50);
}

static void test_virtual(void)
{
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-s", "1", "-q", "32", "-r", "70", NULL }, out,
		 sizeof(out)), 0);
	check_line(out, 0, 1, 0, 32, 70);
	T_EQ(run((const char *[]){ "-d", "ram:1G", "-s", "1", "-i", "-S", "1", "-v", NULL }, out,
		 sizeof(out)), 0);
	check_line(out, 0, 1, 1, 128, 100);
	T_ASSERT(strstr(out, " rd:") && strstr(out, " rlat:")); /* -v adds these */
}

static void test_raid0(void)
{
	T_EQ(run((const char *[]){ "-d", "ram:512M:ram:256M", "-p", "-s", "1", "-q", "16",
				   "-r", "50", NULL }, out, sizeof(out)), 0);
	check_line(out, 1, 1, 0, 16, 50);
	T_EQ(run((const char *[]){ "-d", "ram:512M:ram:256M", "-s", "1", "-q", "16", "-i",
				   NULL }, out, sizeof(out)), 0);
	check_line(out, 0, 1, 1, 16, 100);
}

int main(void)
{
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	struct stat st;

	snprintf(tool, sizeof(tool), "%s/../tools/blockio", dir && *dir ? dir : "build/testdata");
	T_SKIP_IF(stat(tool, &st) != 0, "the blockio binary is not built");
	T_RUN(test_help_and_errors);
	T_RUN(test_physical);
	T_RUN(test_virtual);
	T_RUN(test_raid0);
	return T_PASS;
}
