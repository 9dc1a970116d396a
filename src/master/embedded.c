/* SPDX-License-Identifier: Apache-2.0 */
/*
 * embedded.c - cxlflash_open / cxlflash_ioctl / cxlflash_close in one
 * process: a process-wide master created on the first open and destroyed
 * with the last close, fd1 descriptors (eventfds, so they are real, unique
 * descriptors) mapped to opens, and the cross-process ownership lock.
 *
 * Ownership: a file or device LUN is locked (see lunlock.c), so a second
 * process gets EBUSY with a message naming the holder. Re-opening a LUN the
 * process already holds shares the existing one, never a second backend.
 *
 * Fork: the child does not inherit the master (its threads do not survive
 * fork); in the child every inherited fd1 is unknown (EBADF) and a new
 * cxlflash_open() starts a fresh master.
 */
#include <cxlflash/cxlflash_ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/backend.h"
#include "master/embedded.h"
#include "master/lunlock.h"
#include "master/master.h"
#include "util/log.h"

struct fd_entry {
	int fd;
	struct mopen *open;
	struct fd_entry *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct master *g_master;
static struct fd_entry *g_fds;

static void atfork_child(void)
{
	/* Threads and the master stay behind in the parent. */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	g_lock = fresh;
	g_master = NULL;
	g_fds = NULL;
}

static void init_once(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

static struct fd_entry *find_fd(int fd)
{
	for (struct fd_entry *e = g_fds; e; e = e->next)
		if (e->fd == fd)
			return e;
	return NULL;
}

static int get_master(void)
{
	struct master_config cfg = { 0 };
	const char *ioarrin = getenv("CXLFLASH_IOARRIN");

	if (g_master)
		return 0;
	cfg.check_adap_fds = true;
	cfg.sq_mode = !(ioarrin && *ioarrin && strcmp(ioarrin, "0"));
	return master_create(&cfg, &g_master);
}

static void put_master_if_idle(void)
{
	if (g_master && !g_fds) {
		master_destroy(g_master);
		g_master = NULL;
	}
}

static int open_lun(const char *name, int oflags, struct mopen **out)
{
	struct be_spec spec;
	struct backend *be;
	struct mlun *lun = NULL;
	struct stat st;
	int rc;

	rc = be_parse_spec(name, &spec);
	if (rc)
		return rc;
	spec.readonly = (oflags & O_ACCMODE) == O_RDONLY;
	rc = get_master();
	if (rc)
		return rc;
	if (!strcmp(spec.kind, "file")) {
		if (stat(spec.path, &st) == 0)
			lun = master_find_lun(g_master, NULL, st.st_dev, st.st_ino);
	} else {
		lun = master_find_lun(g_master, name, 0, 0);
	}
	if (lun)
		return master_reopen_lun(g_master, lun, getpid(), out);
	rc = be_open(&spec, &be);
	if (rc)
		return rc;
	rc = lun_lock(be, name, spec.readonly);
	if (rc) {
		be_close(be);
		return rc;
	}
	return master_open_lun(g_master, name, be, NULL, getpid(), out);
}

int cxlflash_open(const char *lun, int oflags)
{
	struct fd_entry *e = NULL;
	struct mopen *o = NULL;
	int rc, fd = -1;

	if (!lun) {
		errno = EFAULT;
		return -1;
	}
	pthread_once(&g_once, init_once);
	pthread_mutex_lock(&g_lock);
	rc = open_lun(lun, oflags, &o);
	if (rc)
		goto out;
	e = calloc(1, sizeof(*e));
	fd = eventfd(0, EFD_CLOEXEC);
	if (!e || fd < 0) {
		rc = e ? -errno : -ENOMEM;
		master_close_open(o);
		free(e);
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	e->fd = fd;
	e->open = o;
	e->next = g_fds;
	g_fds = e;
out:
	if (rc)
		put_master_if_idle();
	pthread_mutex_unlock(&g_lock);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return fd;
}

/* Copy between the caller's memory and ours; a bad pointer is EFAULT, not a crash. */
static int copy_user(void *dst, const void *src, size_t len, bool in)
{
	struct iovec local = { .iov_base = in ? dst : (void *)src, .iov_len = len };
	struct iovec remote = { .iov_base = in ? (void *)src : dst, .iov_len = len };
	ssize_t n;

	if (!src || !dst)
		return -EFAULT;
	n = in ? process_vm_readv(getpid(), &local, 1, &remote, 1, 0)
	       : process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && errno != EFAULT) {
		/* Not permitted here (seccomp, ...): fall back to a plain copy. */
		memcpy(dst, src, len);
		return 0;
	}
	return -EFAULT;
}

int cxlflash_ioctl(int fd1, unsigned long request, void *arg)
{
	union cxlflash_ioctls buf;
	struct mcaller who = { getpid(), getppid() };
	struct fd_entry *e;
	size_t size;
	int rc;

	pthread_once(&g_once, init_once);
	pthread_mutex_lock(&g_lock);
	e = find_fd(fd1);
	if (!e) {
		rc = -EBADF;
		goto out;
	}
	size = master_ioctl_size(request);
	if (!size) {
		rc = -EINVAL;
		goto out;
	}
	rc = copy_user(&buf, arg, size, true);
	if (rc)
		goto out;
	rc = master_ioctl(e->open, &who, request, &buf);
	if (!rc)
		rc = copy_user(arg, &buf, size, false);
out:
	pthread_mutex_unlock(&g_lock);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

int cxlflash_close(int fd1)
{
	struct fd_entry **pp, *e = NULL;

	pthread_once(&g_once, init_once);
	pthread_mutex_lock(&g_lock);
	for (pp = &g_fds; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd1) {
			e = *pp;
			*pp = e->next;
			break;
		}
	}
	if (e) {
		master_close_open(e->open);
		close(e->fd);
		free(e);
		put_master_if_idle();
	}
	pthread_mutex_unlock(&g_lock);
	if (!e) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

struct mopen *cxlflash_debug_open(int fd1)
{
	struct fd_entry *e;

	pthread_mutex_lock(&g_lock);
	e = find_fd(fd1);
	pthread_mutex_unlock(&g_lock);
	return e ? e->open : NULL;
}

int cxlflash_debug_ctx_error(int fd1, uint64_t context_id)
{
	struct mopen *o = cxlflash_debug_open(fd1);
	int rc;

	if (!o) {
		errno = EBADF;
		return -1;
	}
	rc = master_ctx_error(o->m, context_id);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

int cxlflash_debug_check(int fd1, char *why, size_t len)
{
	struct mopen *o = cxlflash_debug_open(fd1);

	if (!o) {
		snprintf(why, len, "fd %d is not an open LUN", fd1);
		return -1;
	}
	return master_check(o->m, why, len);
}
