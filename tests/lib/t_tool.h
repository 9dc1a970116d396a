/* SPDX-License-Identifier: Apache-2.0 */
/* t_tool.h - run a tool under test, parse its output keys. */
#ifndef CXLFLASH_T_TOOL_H
#define CXLFLASH_T_TOOL_H

#include <stddef.h>

/* Run @argv (argv[0] a path, or looked up in PATH) with @env ("NAME=VALUE",
 * or NULL) added; its stdout (and with T_RUN_STDERR its stderr) in @out.
 * All output is read (the tool never dies of a full pipe); @out keeps its
 * head, or with T_RUN_TAIL at least the last half of @outsz, so a result
 * line printed last survives. Killed after 60 s. Return: the exit status,
 * or 128 + signal. */
#define T_RUN_STDERR 0x1
#define T_RUN_TAIL   0x2
int t_run_argv(const char *const *argv, const char *env, int flags, char *out, size_t outsz);
/* Run @tool with @args (NULL-terminated, no argv[0]); its stdout in @out.
 * Return: the exit status, or 128 + signal. */
int t_run_tool(const char *tool, const char *const *args, char *out, size_t outsz);
/* Non-zero: t_run_tool() does not echo the command and its output (loops). */
extern int t_tool_quiet;
/* The value of "key:value" in @line, or -1 if absent. */
long long t_key_value(const char *line, const char *key);

#endif
