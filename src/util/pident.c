/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pident.c - process identities that are never reused (see pident.h).
 */
#include "util/pident.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PIDFS_MAGIC 0x50494446

/* PIDFD_GET_INFO (Linux 6.13), declared here for older headers. */
struct pident_pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
};
#define PIDENT_GET_INFO _IOWR(0xFF, 11, struct pident_pidfd_info)
#define PIDENT_INFO_PID 1ull

int pident_pidfd_open(pid_t pid)
{
	long fd;

	if (pid <= 0)
		return -ESRCH;
	fd = syscall(SYS_pidfd_open, pid, 0); /* pidfds are close-on-exec */
	return fd < 0 ? -errno : (int)fd;
}

/* Fields 4 (ppid) and 22 (start time) of /proc/@pid/stat. */
static int proc_stat(pid_t pid, pid_t *ppid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long st;
	ssize_t n;
	int fd, pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = 0;
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu", &pp, &st) != 2)
		return -ESRCH;
	*ppid = (pid_t)pp;
	*start = st;
	return 0;
}

bool pident_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) != 0; /* readable at exit; an error: assume gone */
}

static bool on_pidfs(int pidfd)
{
	static int known; /* 0 unknown, 1 pidfs, -1 not: the kernel's, so for good */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	struct statfs sf;

	if (!k) {
		if (fstatfs(pidfd, &sf) != 0)
			return false;
		k = sf.f_type == PIDFS_MAGIC ? 1 : -1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k > 0;
}

int pident_of(int pidfd, pid_t pid, struct pident *out)
{
	struct stat st;
	uint64_t start;
	pid_t ppid;

	if (pidfd < 0 || pid <= 0)
		return -ESRCH;
	if (on_pidfs(pidfd)) {
		if (fstat(pidfd, &st) != 0)
			return -errno;
		out->pid = pid;
		out->id = (uint64_t)st.st_ino;
		return out->id ? 0 : -ESRCH;
	}
	/* The start time is that of @pidfd's process only if it still lives
	 * after the read: then @pid cannot have been recycled. */
	if (proc_stat(pid, &ppid, &start) || pident_exited(pidfd))
		return -ESRCH;
	out->pid = pid;
	out->id = start | 1ull << 63;
	return 0;
}

int pident_self(struct pident *out)
{
	static __thread struct pident self; /* of the process that computed it (fork) */
	pid_t pid = getpid();
	int fd, rc;

	if (self.id && self.pid == pid) {
		*out = self;
		return 0;
	}
	fd = pident_pidfd_open(pid);
	if (fd >= 0) {
		rc = pident_of(fd, pid, out);
		close(fd);
	} else {
		/* No pidfd_open (a kernel before 5.3, valgrind): our own pid
		 * cannot be recycled while we run, so the start time will do. */
		uint64_t start;
		pid_t ppid;

		rc = proc_stat(pid, &ppid, &start);
		out->pid = pid;
		out->id = start | 1ull << 63;
	}
	if (!rc)
		self = *out;
	return rc;
}

/* The parent of the live process @pidfd, as a pid here. */
static pid_t parent_pid(int pidfd, pid_t pid)
{
	struct pident_pidfd_info info = { .mask = PIDENT_INFO_PID };
	uint64_t start;
	pid_t ppid;

	if (ioctl(pidfd, PIDENT_GET_INFO, &info) == 0)
		return (pid_t)info.ppid;
	if (errno == ESRCH)
		return 0;
	/* Before Linux 6.13: /proc, which is @pid's if it still lives after. */
	if (proc_stat(pid, &ppid, &start) || pident_exited(pidfd))
		return 0;
	return ppid;
}

int pident_parent(int pidfd, pid_t pid, struct pident *out)
{
	pid_t ppid = parent_pid(pidfd, pid);
	int pfd, rc;

	if (ppid <= 0)
		return -ESRCH;
	pfd = pident_pidfd_open(ppid);
	if (pfd < 0)
		return -ESRCH;
	rc = pident_of(pfd, ppid, out);
	/* Had the parent died before the open (and its pid been recycled),
	 * the child would have been re-parented by now. */
	if (!rc && (parent_pid(pidfd, pid) != ppid || pident_exited(pfd) || pident_exited(pidfd)))
		rc = -ESRCH;
	close(pfd);
	return rc;
}
