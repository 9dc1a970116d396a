/* SPDX-License-Identifier: Apache-2.0 */
/*
 * embedded.h - the in-process side of the public control API: how fd1 maps
 * to an open LUN of the process's master. For tests and tools of this project.
 */
#ifndef CXLFLASH_EMBEDDED_H
#define CXLFLASH_EMBEDDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mopen;

/* The open behind @fd1, or NULL. Valid until cxlflash_close(@fd1). */
struct mopen *cxlflash_debug_open(int fd1);
/* Is the master behind @fd1 still there? False once cxlflashd (or the
 * parent serving a child) has gone away; always true in-process. */
bool cxlflash_conn_alive(int fd1);
/* The AFU runner of context @ctxid attached through @fd1, when the master is
 * in this process and inline execution is not turned off
 * (CXLFLASH_INLINE=0); else NULL. See afu_run_inline(). */
struct afu_runner *cxlflash_inline_runner(int fd1, uint64_t ctxid);
/* Put a context in the error state (as an AFU reset would). 0 or -1/errno. */
int cxlflash_debug_ctx_error(int fd1, uint64_t context_id);
/* Verify the master's invariants: 0, or -1 with a reason in @why. */
int cxlflash_debug_check(int fd1, char *why, size_t len);

#endif
