/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pident.h - a process identity that is never reused, for the master's
 * context owners (a bare pid is recycled: issue 12).
 *
 * An identity is the pid plus a 64-bit id taken from a pidfd: the pidfd's
 * pidfs inode number (Linux 6.9 on: one per process, never reused while
 * the system runs), or on older kernels the process's start time
 * (/proc/PID/stat field 22) read while the pidfd proves the pid was not
 * recycled. Two identities are the same process exactly when both fields
 * match; id 0 is "unknown" and matches nothing.
 *
 * All functions return 0 or -errno; -ESRCH means the process is gone (or
 * was never there).
 */
#ifndef CXLFLASH_UTIL_PIDENT_H
#define CXLFLASH_UTIL_PIDENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pident {
	pid_t pid;                 /* as seen in our PID namespace */
	uint64_t id;               /* pidfs inode, or start time | 1 << 63; 0 = unknown */
};

/* pident_pidfd_open() - pidfd_open(@pid, 0), close-on-exec. Return the fd or -errno. */
int pident_pidfd_open(pid_t pid);

/* pident_of() - the identity of the process @pidfd refers to, whose pid
 * here is @pid. */
int pident_of(int pidfd, pid_t pid, struct pident *out);

/* pident_self() - this process's identity (computed once per process). */
int pident_self(struct pident *out);

/*
 * pident_parent() - the identity of the parent of the live process @pidfd
 * (@pid here), checked race-free: the parent's pidfd is opened, then the
 * child is seen to still have that parent (a parent that died before the
 * open would have left its child re-parented) and both are still alive.
 */
int pident_parent(int pidfd, pid_t pid, struct pident *out);

/* pident_exited() - has the process of @pidfd exited (zombie or reaped)? */
bool pident_exited(int pidfd);

static inline bool pident_same(const struct pident *a, const struct pident *b)
{
	return a->id && a->id == b->id && a->pid == b->pid;
}

#endif /* CXLFLASH_UTIL_PIDENT_H */
