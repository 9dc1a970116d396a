/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the blockio tool, run as a program for about a second at a
 * time on ram LUNs: physical and virtual, polled and with the completion
 * thread, mixed reads and writes, -n > 1, sequential, RAID0 over two
 * devices. Its one output line must carry IBM's keys in IBM's order with
 * iops > 0; --help exits 0; bad options and impossible combinations exit
 * 2 and say why (a bad value with its range); a LUN that cannot be opened
 * exits 1 with the reason a new user needs (a LUN too small for a virtual
 * LUN, /dev/null or a directory); an unknown CXLFLASH_LOG is warned about;
 * a read-only run opens the LUN read-only; a run disturbed by busy
 * processes on the same CPUs says so; -v prints at most 20 LTO lines.
 */
#include "t_tool.h"
#include "t_util.h"

#include <fcntl.h>
#include <signal.h>
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

/* Run blockio with @args; stdout and stderr in out. Return: its exit status. */
static int run_err(const char *env, const char *const *args)
{
	const char *argv[24] = { tool };
	int n = 1;

	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return t_run_argv(argv, env, T_RUN_STDERR, out, sizeof(out));
}

/* What a new user gets wrong: exit 2 for usage, 1 for the LUN, and why. */
static void test_new_user_errors(void)
{
	char dir[4200];

	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:1G", "-q", "99999", NULL }), 2);
	T_ASSERT(strstr(out, "-q 99999: want a whole number from 1 to 8192"));
	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:1G", "-r", "abc", NULL }), 2);
	T_ASSERT(strstr(out, "from 0 to 100"));
	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:1G", "-n", "2", "-s", "1", NULL }), 2);
	T_ASSERT(strstr(out, "-n > 1 needs -p"));
	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:1M:ram:2M:ram:3M:ram:4M:ram:5M:ram:6M:"
					     "ram:7M:ram:8M:ram:9M", "-p", NULL }), 2);
	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:1G", "-p", "-n", "9999", "-s", "1",
					     NULL }), 2);
	T_ASSERT(strstr(out, "max transfer"));
	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:1G", "extra", NULL }), 2);

	/* smaller than one 256 MiB chunk: virtual refused with the reason, -p works */
	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:100M", "-s", "1", NULL }), 1);
	T_ASSERT(strstr(out, "less than one 256 MiB chunk"));
	T_ASSERT(strstr(out, "-p uses the LUN physically"));
	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:100M", "-p", "-s", "1", NULL }), 0);

	/* not LUNs */
	T_EQ(run_err(NULL, (const char *[]){ "-d", "/dev/null", "-p", "-s", "1", NULL }), 1);
	T_ASSERT(strstr(out, "/dev/null: a character device, not a LUN"));
	snprintf(dir, sizeof(dir), "%s", t_path("blockio-dir"));
	T_EQ(mkdir(dir, 0700), 0);
	T_EQ(run_err(NULL, (const char *[]){ "-d", dir, "-p", "-s", "1", NULL }), 1);
	T_ASSERT(strstr(out, "a directory, not a LUN"));
	rmdir(dir);

	/* CXLFLASH_LOG that is no level */
	T_EQ(run_err("CXLFLASH_LOG=bogus", (const char *[]){ "-d", "ram:1G", "-p", "-s", "1",
							     NULL }), 0);
	T_ASSERT(strstr(out, "CXLFLASH_LOG=bogus is not a level"));
}

/* The access mode blockio (@pid) has its descriptor of @path open with, or -1. */
static int open_mode_of(pid_t pid, const char *path)
{
	char fdpath[64], link[4096], info[128], line[256];
	int mode = -1;

	for (int fd = 0; fd < 256 && mode < 0; fd++) {
		ssize_t n;
		FILE *f;

		snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", (int)pid, fd);
		n = readlink(fdpath, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strcmp(link, path))
			continue;
		snprintf(info, sizeof(info), "/proc/%d/fdinfo/%d", (int)pid, fd);
		f = fopen(info, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "flags:", 6))
				mode = (int)(strtol(line + 6, NULL, 8) & O_ACCMODE);
		if (f)
			fclose(f);
	}
	return mode;
}

/* -r 100 opens the LUN read-only; -r 70 read-write (seen in /proc while it runs). */
static void test_read_only(void)
{
	const char *pcts[2] = { "100", "70" };
	int want[2] = { O_RDONLY, O_RDWR };
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s", t_path("blockio-ro.img"));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_ASSERT(fd >= 0);
	T_EQ(ftruncate(fd, 64 << 20), 0);
	close(fd);
	{
		char real[4096];

		T_ASSERT(realpath(path, real));
		snprintf(path, sizeof(path), "%s", real);
	}
	for (int k = 0; k < 2; k++) {
		int status, mode = -1;
		pid_t pid = fork();

		T_ASSERT(pid >= 0);
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			execl(tool, tool, "-d", path, "-p", "-s", "2", "-q", "4", "-r", pcts[k],
			      (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 150 && mode < 0; i++) {
			usleep(10000);
			mode = open_mode_of(pid, path);
		}
		T_EQ(waitpid(pid, &status, 0), pid);
		T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		T_EQ(mode, want[k]);
	}
	unlink(path);
}

/* Three busy loops beside a 2 s run: the run says it was disturbed. */
static void test_disturbed(void)
{
	pid_t hog[3];
	int status;

	for (int i = 0; i < 3; i++) {
		hog[i] = fork();
		T_ASSERT(hog[i] >= 0);
		if (hog[i] == 0) {
			alarm(10);   /* never outlive the test */
			for (volatile unsigned long n = 0;; n++)
				;
		}
	}
	status = run_err(NULL, (const char *[]){ "-d", "ram:1G", "-p", "-s", "2", "-v", NULL });
	for (int i = 0; i < 3; i++) {
		kill(hog[i], SIGKILL);
		waitpid(hog[i], NULL, 0);
	}
	T_EQ(status, 0);
	T_ASSERT(t_key_value(strstr(out, "r:100"), "cpuwait") >= 10);
	T_ASSERT(strstr(out, "blockio: warning: a disturbed run"));
}

/* -v with a 1 us long timeout: 20 LTO lines, then a count of the rest. */
static void test_lto_capped(void)
{
	int lines = 0;

	T_EQ(run_err(NULL, (const char *[]){ "-d", "ram:1G", "-p", "-s", "1", "-v", "-l", "1",
					     NULL }), 0);
	for (const char *p = out; (p = strstr(p, "LTO: ")); p++)
		lines++;
	T_EQ(lines, 20);
	T_ASSERT(strstr(out, "more commands slower than -l 1 us not shown"));
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
	T_RUN(test_new_user_errors);
	T_RUN(test_read_only);
	T_RUN(test_disturbed);
	T_RUN(test_lto_capped);
	T_RUN(test_physical);
	T_RUN(test_virtual);
	T_RUN(test_raid0);
	return T_PASS;
}
