/* SPDX-License-Identifier: Apache-2.0 */
/* t_tool.c - running a tool under test and reading its "key:value" line. */
#include "t_tool.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_util.h"

int t_tool_quiet;

int t_run_argv(const char *const *argv, const char *env, int flags, char *out, size_t outsz)
{
	int pfd[2], status;
	size_t len = 0;
	pid_t pid;

	T_ASSERT(pipe(pfd) == 0);
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		if (flags & T_RUN_STDERR)
			dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		if (env)
			putenv((char *)env);
		alarm(60); /* a hung tool fails the test instead of stalling it */
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	/* Read everything the tool writes (a full buffer must not make it die
	 * of SIGPIPE); keep the head, or with T_RUN_TAIL the last half buffer
	 * or more, so a result line printed last survives any amount of output. */
	bool full = false;
	for (;;) {
		char sink[4096];
		ssize_t n = full ? read(pfd[0], sink, sizeof(sink))
				 : read(pfd[0], out + len, outsz - 1 - len);

		if (n <= 0)
			break;
		if (full)
			continue;
		len += (size_t)n;
		if (len == outsz - 1) {
			if (!(flags & T_RUN_TAIL)) {
				full = true;
				continue;
			}
			size_t keep = len / 2;
			memmove(out, out + len - keep, keep);
			len = keep;
		}
	}
	out[len] = '\0';
	close(pfd[0]);
	T_ASSERT(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/**
 * t_run_tool() - run the program @tool with @args (NULL-terminated, without argv[0]).
 * @out: its standard output (NUL-terminated).
 * @outsz: size of @out.
 *
 * Standard error goes to ours, so a failure explains itself in the log.
 *
 * Return: the exit status, or 128 + signal.
 */
int t_run_tool(const char *tool, const char *const *args, char *out, size_t outsz)
{
	const char *argv[32] = { tool };
	int rc;

	for (int i = 0; args[i]; i++) {
		T_ASSERT(i + 2 < 32);
		argv[i + 1] = args[i];
	}
	rc = t_run_argv(argv, NULL, 0, out, outsz);
	if (t_tool_quiet)
		return rc;
	fprintf(stderr, "   %s", strrchr(tool, '/') ? strrchr(tool, '/') + 1 : tool);
	for (int i = 0; args[i]; i++)
		fprintf(stderr, " %s", args[i]);
	fprintf(stderr, " -> %s", out[0] ? out : "(no output)\n");
	return rc;
}

/* The value of key @key in @line ("key:value"), or -1 if absent. */
long long t_key_value(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), " %s:", key);
	if (!strncmp(line, pat + 1, strlen(pat + 1)))
		return strtoll(line + strlen(pat + 1), NULL, 10);
	p = strstr(line, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}
