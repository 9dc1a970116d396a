/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.h - a master serving other processes over wire.h connections:
 * cxlflashd's front end, and the embedded master serving forked children.
 *
 * Connections cost no thread each: one event loop thread accepts and
 * watches every connection (epoll), and a small fixed pool of workers
 * serves the connections that have a request waiting, one worker per
 * connection at a time, so each connection's requests run in order, and
 * at most half the workers on one uid's connections at once. A
 * request that waits (on the master lock, an AFU sync, a scrub, a slow
 * reader of its reply: sends time out after MSRV_SEND_TIMEOUT_S) holds
 * its worker, never the loop; idle connections hold nothing but their
 * socket. Requests run through master_ioctl() with the sender's
 * credentials (SCM_CREDENTIALS) and identity (its pidfd, SCM_PIDFD:
 * pident.h), so contexts belong to processes as in the kernel, and a
 * recycled pid owns nothing. Each uid's connections are counted against
 * its limit (struct mlimits, from msrv_ops.limits): one over it is
 * answered EDQUOT at its first request and closed. A connection that ends
 * (close, exit, kill -9) closes its open, which detaches everything attached
 * through it; a thread watching the owners' pidfds detaches a context as
 * soon as its owner dies, even while a child that inherited the connection
 * keeps it open.
 */
#ifndef CXLFLASH_SERVER_H
#define CXLFLASH_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "server/wire.h"

struct master;
struct mlimits;
struct mlun;
struct msrv;

struct msrv_ops {
	/* The LUN @name for @cr opening with @oflags: 0 and *@lun, -ENOENT
	 * when not served here, -EACCES when @cr may not use it. */
	int (*resolve)(void *arg, const char *name, int oflags, const struct wire_cred *cr,
		       struct mlun **lun);
	/* May @cr connect at all? NULL: anyone who can reach the socket. */
	bool (*may_connect)(void *arg, const struct wire_cred *cr);
	/* Admin requests (STATUS, LUN_MODE): reply on @sock. NULL: EOPNOTSUPP. */
	int (*admin)(void *arg, int sock, const struct wire_msg *req, const char *payload,
		     const struct wire_cred *cr);
	/* The quotas of @cr's uid (called from the event loop: must not
	 * block). NULL: no limits. */
	void (*limits)(void *arg, const struct wire_cred *cr, struct mlimits *out);
	void *arg;
	unsigned workers;          /* worker threads; 0: MSRV_WORKERS */
};

#define MSRV_WORKERS 4
#define MSRV_SEND_TIMEOUT_S 5      /* a client not reading its reply is dropped */

/* msrv_create() - a server for @m (not yet listening). Return 0 or -errno. */
int msrv_create(struct master *m, const struct msrv_ops *ops, struct msrv **out);

/* msrv_listen() - listen on @path ("@name": abstract) with permissions
 * @mode (0: leave as created). Return 0 or -errno. */
int msrv_listen(struct msrv *s, const char *path, mode_t mode);

/* msrv_start() - start the event loop, the workers and the owner watch;
 * return once they all run. Return 0 or -errno. */
int msrv_start(struct msrv *s);

/* msrv_set_fence_fd() - before msrv_start(): an eventfd (non-blocking,
 * the caller's, open until after msrv_destroy()) that is written when a
 * LUN was fenced (be_fence(): another host took it over); the owner watch
 * thread then ends the connections of that LUN's clients, which move to
 * the host that serves it now. */
void msrv_set_fence_fd(struct msrv *s, int fd);

/* msrv_connections() - connections being served now. */
unsigned msrv_connections(struct msrv *s);

/* msrv_tenants() - each uid with connections now: its connection count
 * and its limits (as resolved for its latest connection). Called with the
 * server's lock held: @fn must not call back into the server. */
void msrv_tenants(struct msrv *s, void (*fn)(void *arg, uid_t uid, unsigned conns,
					      const struct mlimits *lim), void *arg);

/* msrv_destroy() - stop accepting, end every connection (each one's
 * contexts detached), join all threads, remove the socket file. */
void msrv_destroy(struct msrv *s);

/* msrv_reply_text() - an admin reply of @len bytes of text in parts. */
int msrv_reply_text(int sock, const struct wire_msg *req, int status, const char *text,
		    size_t len);

#endif /* CXLFLASH_SERVER_H */
