/* SPDX-License-Identifier: Apache-2.0 */
/* t_tool.h - run a tool under test, parse its output keys. */
#ifndef CXLFLASH_T_TOOL_H
#define CXLFLASH_T_TOOL_H

#include <stddef.h>

/* Run @tool with @args (NULL-terminated, no argv[0]); its stdout in @out.
 * Return: the exit status, or 128 + signal. */
int t_run_tool(const char *tool, const char *const *args, char *out, size_t outsz);
/* Non-zero: t_run_tool() does not echo the command and its output (loops). */
extern int t_tool_quiet;
/* The value of "key:value" in @line, or -1 if absent. */
long long t_key_value(const char *line, const char *key);

#endif
