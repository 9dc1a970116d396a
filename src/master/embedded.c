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
 * Remote: when a master in another process serves the LUN (cxlflashd on
 * wire_socket_path()), fd1 is a connection to it and every request goes
 * there (client/remote.c); otherwise the LUN opens in-process. With several
 * sockets in $CXLFLASH_SOCKET (daemons on one Ceph pool), the first that
 * serves the LUN gets it, at the open and at every reconnection: after
 * another daemon took an rbd LUN over, clients follow it there.
 *
 * Fork: the child does not inherit the master (its threads do not survive
 * fork). Before a fork with LUNs open, the parent starts serving its
 * children (client/children.c); in the child each inherited fd1 becomes a
 * connection to the parent (or, for a remote fd1, a new connection to the
 * same daemon), made on its first use, so the child can attach and clone
 * the parent's vLUNs. The parent's windows and DMA areas are unmapped in the
 * child. A new cxlflash_open() in the child starts its own master.
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
#include "client/client.h"
#include "master/embedded.h"
#include "master/lunlock.h"
#include "master/master.h"
#include "server/wire.h"
#include "util/log.h"

struct fd_entry {
	int fd;
	struct mopen *open;        /* in-process; NULL when remote */
	char *name;                /* as opened, to reconnect from a child */
	int oflags;
	/* remote: fd is a wire connection to @server made by @conn_pid */
	bool remote;
	char server[1024];         /* the daemon's socket, or several separated by ':' */
	pid_t conn_pid;
	bool lost;                 /* the master went away; said once, until reconnected */
	/* contexts attached through this fd that have a DMA area mapped here */
	uint64_t *ctxs;
	unsigned nctxs, cap;
	struct fd_entry *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct master *g_master;
static struct fd_entry *g_fds;

static pid_t g_fork_parent;

static void atfork_prepare(void)
{
	bool local = false;

	pthread_mutex_lock(&g_lock);
	for (struct fd_entry *e = g_fds; e; e = e->next)
		local |= !e->remote;
	/* Children reach this master through the parent (children.c). */
	if (local && g_master && children_server_start(g_master))
		log_warn("cannot serve forked children: they will not reach the LUNs open here");
	g_fork_parent = getpid();
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&g_lock);
}

static void atfork_child(void)
{
	/* Threads and the master stay behind in the parent: every fd1 becomes
	 * a connection, made on first use (reconnect()). g_lock is held by
	 * this thread since atfork_prepare(): unlocked, not re-initialised
	 * over its locked state (ThreadSanitizer then saw it held forever). */
	g_master = NULL;
	for (struct fd_entry *e = g_fds; e; e = e->next) {
		if (!e->remote) {
			e->remote = true;
			e->open = NULL;
			children_server_path(g_fork_parent, e->server, sizeof(e->server));
		}
		e->conn_pid = g_fork_parent;
		e->nctxs = 0;
	}
	children_server_stop();
	dma_map_forget_all();
	pthread_mutex_unlock(&g_lock);
}

static void init_once(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void entry_free(struct fd_entry *e)
{
	free(e->name);
	free(e->ctxs);
	free(e);
}

/* Remember that @ctxid has its DMA area through @e (for close). */
static void entry_add_ctx(struct fd_entry *e, uint64_t ctxid)
{
	if (e->nctxs == e->cap) {
		unsigned cap = e->cap ? 2 * e->cap : 4;
		uint64_t *n = realloc(e->ctxs, cap * sizeof(*n));

		if (!n)
			return; /* the area then stays mapped until exit */
		e->ctxs = n;
		e->cap = cap;
	}
	e->ctxs[e->nctxs++] = ctxid;
}

static void entry_del_ctx(struct fd_entry *e, uint64_t ctxid)
{
	for (unsigned i = 0; i < e->nctxs; i++) {
		if (e->ctxs[i] == ctxid) {
			e->ctxs[i] = e->ctxs[--e->nctxs];
			return;
		}
	}
}

/* Every entry's record of @old is now @new (RECOVER_AFU). */
static void entries_rename_ctx(uint64_t old, uint64_t new)
{
	for (struct fd_entry *e = g_fds; e; e = e->next)
		for (unsigned i = 0; i < e->nctxs; i++)
			if (e->ctxs[i] == old)
				e->ctxs[i] = new;
}

/*
 * reconnect() - a new connection in place of fd1: in a forked child (ours
 * instead of the inherited one), or after the master went away (cxlflashd
 * restarted). Contexts of the old connection are gone with it; their DMA
 * areas stay mapped until close, as the program may still look at them.
 * Return: 0, -ENOTCONN while nobody serves the LUN, or -errno.
 */
static int reconnect(struct fd_entry *e)
{
	int sock = remote_open_any(e->server, e->name, e->oflags);

	if (sock < 0)
		return sock == -ENOENT ? -ENOTCONN : sock;
	if (dup3(sock, e->fd, O_CLOEXEC) < 0) {
		int rc = -errno;

		close(sock);
		return rc;
	}
	close(sock);
	e->conn_pid = getpid();
	if (e->lost) {
		log_notice("reconnected to the master serving %s", e->name);
		e->lost = false;
	}
	return 0;
}

/*
 * track_dma() - after a successful request on @e: map, re-map or drop DMA
 * areas. Remote requests had theirs mapped by remote_ioctl(); in-process
 * contexts get one mapped here when ATTACH asked for one.
 */
static int track_dma(struct fd_entry *e, unsigned long request, union cxlflash_ioctls *u,
		     uint64_t ctx_before)
{
	switch (request) {
	case DK_CXLFLASH_ATTACH:
		if (u->attach.hdr.flags & DK_CXLFLASH_ATTACH_REUSE_CONTEXT) {
			if (dma_map_known(u->attach.context_id)) {
				if (!e->remote)
					dma_map_ref(u->attach.context_id);
				entry_add_ctx(e, u->attach.context_id);
			}
			break;
		}
		if (!e->remote && u->attach.dma_size) {
			void *p = dma_map_attach(u->attach.context_id, (int)u->attach.adap_fd,
						 u->attach.dma_size, NULL);

			if (!p)
				return -errno;
			u->attach.dma_ea = (uint64_t)(uintptr_t)p;
		}
		if (u->attach.dma_size)
			entry_add_ctx(e, u->attach.context_id);
		break;
	case DK_CXLFLASH_RECOVER_AFU:
		if ((u->recover_afu.hdr.return_flags & DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET) &&
		    ctx_before != u->recover_afu.context_id) {
			if (!e->remote && dma_map_known(ctx_before)) {
				int rc = dma_map_recover(ctx_before, u->recover_afu.context_id,
							 (int)u->recover_afu.adap_fd);
				if (rc)
					return rc;
			}
			entries_rename_ctx(ctx_before, u->recover_afu.context_id);
		}
		break;
	case DK_CXLFLASH_DETACH:
		if (!e->remote)
			dma_map_put(ctx_before);
		entry_del_ctx(e, ctx_before);
		break;
	}
	return 0;
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
	for (struct fd_entry *e = g_fds; e; e = e->next)
		if (!e->remote)
			return;
	if (g_master && !children_server_connections()) {
		/* (Children still served keep their opens: the master stays.) */
		children_server_stop();
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

/*
 * A bare name (no '/', no "kind:") that is neither a file here nor a LUN the
 * daemon serves: say which daemon was asked, after the backend's "no such
 * file", so a user who meant a cxlflashd LUN sees why it was not found.
 */
static void explain_unserved(const char *lun, const char *server)
{
	int sock;

	if (strchr(lun, '/') || strchr(lun, ':'))
		return;
	sock = wire_connect(server);
	if (sock >= 0) {
		close(sock);
		log_err("%s: nor is it a LUN of the cxlflashd on %s (`cxlflash status` lists "
			"them)", lun, server);
	} else {
		log_err("%s: nor is it served by a cxlflashd: none listens on %s (start "
			"cxlflashd, or point CXLFLASH_SOCKET at its socket)", lun, server);
	}
}

/* CXLFLASH_SOCKET=none keeps every LUN in-process. */
static bool remote_enabled(void)
{
	const char *s = getenv("CXLFLASH_SOCKET");

	return !(s && !strcmp(s, "none"));
}

/*
 * The three calls below leave errno as the caller had it when they succeed
 * (IBM's tests read errno after successful calls): on the way to success
 * they may meet failures they handle, e.g. no daemon socket (ENOENT) before
 * an embedded open, or a receive that would block.
 */
int cxlflash_open(const char *lun, int oflags)
{
	struct fd_entry *e = NULL;
	struct mopen *o = NULL;
	int rc = 0, fd = -1, saved_errno = errno;

	if (!lun) {
		errno = EFAULT;
		return -1;
	}
	pthread_once(&g_once, init_once);
	pthread_mutex_lock(&g_lock);
	e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(lun))) {
		rc = -ENOMEM;
		goto out;
	}
	e->oflags = oflags;
	if (remote_enabled()) {
		const char *server = wire_socket_list();

		fd = remote_open_any(server, lun, oflags);
		if (fd >= 0) {
			e->remote = true;
			e->conn_pid = getpid();
			snprintf(e->server, sizeof(e->server), "%s", server);
			goto add;
		}
		if (fd != -ENOENT) {
			rc = fd;
			goto out;
		}
	}
	rc = open_lun(lun, oflags, &o);
	if (rc == -ENOENT && remote_enabled())
		explain_unserved(lun, wire_socket_path());
	if (rc)
		goto out;
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		master_close_open(o);
		goto out;
	}
	e->open = o;
add:
	e->fd = fd;
	e->next = g_fds;
	g_fds = e;
	e = NULL;
out:
	if (e)
		entry_free(e);
	if (rc)
		put_master_if_idle();
	pthread_mutex_unlock(&g_lock);
	if (rc) {
		errno = -rc;
		return -1;
	}
	errno = saved_errno;
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
	struct mcaller who;
	struct fd_entry *e;
	uint64_t ctx_before;
	size_t size;
	int rc, saved_errno = errno;

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
	ctx_before = request == DK_CXLFLASH_DETACH ? buf.detach.context_id
						   : buf.recover_afu.context_id;
	if (e->remote) {
		if (e->conn_pid != getpid())
			rc = reconnect(e);
		if (!rc)
			rc = remote_ioctl(e->fd, request, &buf);
		if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
			/* The master is gone (cxlflashd restarted): the next one,
			 * if it is up, gets the request; contexts of the old one
			 * are unknown to it (EINVAL), as after a host reset. */
			if (!e->lost)   /* once: a program retries many times */
				log_notice("the master serving %s went away; reconnecting",
					   e->name);
			e->lost = true;
			rc = reconnect(e);
			if (!rc)
				rc = remote_ioctl(e->fd, request, &buf);
		}
	} else {
		mcaller_local(&who);
		rc = master_ioctl(e->open, &who, request, &buf);
	}
	if (!rc)
		rc = track_dma(e, request, &buf, ctx_before);
	if (!rc)
		rc = copy_user(arg, &buf, size, false);
out:
	pthread_mutex_unlock(&g_lock);
	if (rc) {
		errno = -rc;
		return -1;
	}
	errno = saved_errno;
	return 0;
}

int cxlflash_close(int fd1)
{
	struct fd_entry **pp, *e = NULL;
	int saved_errno = errno;

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
		if (e->open)
			master_close_open(e->open);
		/* The master detached what was attached through this fd. */
		for (unsigned i = 0; i < e->nctxs; i++)
			dma_map_put(e->ctxs[i]);
		close(e->fd);
		entry_free(e);
		put_master_if_idle();
	}
	pthread_mutex_unlock(&g_lock);
	if (!e) {
		errno = EBADF;
		return -1;
	}
	errno = saved_errno;
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

struct afu_runner *cxlflash_inline_runner(int fd1, uint64_t ctxid)
{
	const char *env = getenv("CXLFLASH_INLINE");
	struct fd_entry *e;
	struct mopen *o = NULL;

	if (env && !strcmp(env, "0"))
		return NULL;
	pthread_mutex_lock(&g_lock);
	e = find_fd(fd1);
	if (e && !e->remote)
		o = e->open;
	pthread_mutex_unlock(&g_lock);
	return o ? master_ctx_runner(o->m, ctxid) : NULL;
}

/* A debug request on a remote fd1: 0 or -errno; text reply into @why. */
static int remote_debug(int fd1, uint16_t op, uint64_t request, char *why, size_t len)
{
	struct fd_entry *e;
	int rc = -EBADF;

	pthread_mutex_lock(&g_lock);
	e = find_fd(fd1);
	if (e && e->remote) {
		struct wire_msg h = { .op = op, .request = request };
		char buf[WIRE_MAX_PAYLOAD];

		rc = e->conn_pid == getpid() && remote_alive(e->fd) ? 0 : reconnect(e);
		if (!rc)
			rc = wire_call(e->fd, &h, NULL, 0, buf, sizeof(buf) - 1, NULL);
		if (!rc) {
			rc = h.status;
			buf[h.len] = 0;
			if (why)
				snprintf(why, len, "%s", buf);
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

bool cxlflash_conn_alive(int fd1)
{
	struct fd_entry *e;
	bool alive = true;

	pthread_mutex_lock(&g_lock);
	e = find_fd(fd1);
	if (e && e->remote && e->conn_pid == getpid())
		alive = remote_alive(e->fd);
	pthread_mutex_unlock(&g_lock);
	return alive;
}

int cxlflash_debug_ctx_error(int fd1, uint64_t context_id)
{
	struct mopen *o = cxlflash_debug_open(fd1);
	int rc;

	if (!o)
		rc = remote_debug(fd1, WIRE_OP_CTX_ERROR, context_id, NULL, 0);
	else
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
	int rc;

	if (o)
		return master_check(o->m, why, len);
	rc = remote_debug(fd1, WIRE_OP_CHECK, 0, why, len);
	if (rc == -EBADF)
		snprintf(why, len, "fd %d is not an open LUN", fd1);
	return rc ? -1 : 0;
}
