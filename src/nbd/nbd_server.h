/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_server.h - an NBD server for LUNs in legacy mode, embedded by the
 * daemon (every LUN not in superpipe mode) and by `cxlflash nbd` (one LUN).
 *
 * The server knows nothing about LUN modes: an export provider, supplied by
 * the embedder, finds an export by name and hands out a backend with a
 * reference that the server holds for as long as a client uses it. The
 * embedder refuses a switch to superpipe while references are held (EBUSY),
 * and refuses get() for a LUN in superpipe mode (the client sees the why).
 *
 * Call order: nbd_server_create(), one or more nbd_server_listen_*(),
 * nbd_server_start(); later nbd_server_stop() (idempotent) and
 * nbd_server_destroy(). Provider callbacks run on the server's threads,
 * concurrently: they must lock what they share, and return quickly (the
 * handshakes of every client share one thread). Errors are negative errno.
 *
 * Who may use what is the provider's decision: every callback is told who
 * the client is (struct nbd_peer). The server enforces the connection
 * limits of struct nbd_server_config.
 */
#ifndef CXLFLASH_NBD_SERVER_H
#define CXLFLASH_NBD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

struct backend;
struct nbd_server;

/*
 * Who is at the other end. A Unix socket peer is identified by the kernel
 * (SO_PEERCRED, as it connected); a TCP peer is not (no TLS yet): only its
 * address is known, which proves nothing, loopback included.
 */
#define NBD_PEER_GROUPS_MAX 64

struct nbd_peer {
	bool identified;             /* a Unix socket peer: pid, uid, gid are the kernel's */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int ngroups;                 /* its supplementary groups as it connected
				      * (SO_PEERGROUPS), or -1: unknown */
	gid_t groups[NBD_PEER_GROUPS_MAX];
	char addr[64];               /* "tcp:ADDR:PORT" or "unix:uid=N,pid=N" (for messages) */
};

/* Export names are at most this long (the protocol's string limit). */
#define NBD_EXPORT_NAME_MAX 4096

struct nbd_export_provider {
	/*
	 * Find export @name for client @peer (@name may be "", the default
	 * export). On
	 * success return 0, set *@be (served until put()), *@readonly and
	 * *@ref (anything; passed back to put()). On refusal return a
	 * negative errno and a message for the client in @why (@len bytes):
	 * -ENOENT unknown export, -EBUSY / -EPERM / -EACCES / -EUSERS refused
	 * (e.g. "LUN x is in superpipe mode", "uid 1000 may not use LUN x",
	 * "LUN x has its 64 clients"), -ESHUTDOWN going away, others reported
	 * as refused too (NBD_REP_ERR_POLICY).
	 */
	int (*get)(void *arg, const struct nbd_peer *peer, const char *name, struct backend **be,
		   bool *readonly, void **ref, char *why, size_t len);
	/* The client is done with the export get() returned @ref for. */
	void (*put)(void *arg, void *ref);
	/* NBD_OPT_LIST: call @emit for each export offered to @peer now (desc
	 * may be NULL). Optional (may be NULL: an empty list). */
	void (*list)(void *arg, const struct nbd_peer *peer,
		     void (*emit)(void *ctx, const char *name, const char *desc), void *ctx);
	void *arg;
};

/*
 * Limits. A connection is *established* once NBD_OPT_GO / EXPORT_NAME
 * succeeded (it has a thread and an export); before that it is *in the
 * handshake*, served by the one handshake thread and costing a descriptor
 * and a few hundred bytes. GO beyond an established limit is refused with
 * NBD_REP_ERR_POLICY and a message saying which limit (the client may try
 * again or leave); EXPORT_NAME, which cannot be refused, is closed. A "user"
 * is a Unix peer's uid; every TCP client counts as one user. Handshakes
 * are never refused: a new connection beyond a handshake limit closes the
 * oldest handshake of its user (or of all), so a flood of silent sockets
 * cannot keep a fresh client out. 0 means the default everywhere.
 */
struct nbd_server_config {
	unsigned max_conns;          /* established connections; 0: 256 */
	unsigned max_conns_per_user; /* established per user; 0: 32 */
	unsigned max_handshakes;     /* in the handshake at once; 0: 1024 */
	unsigned max_handshakes_per_user; /* 0: 64 */
	unsigned queue_depth;        /* requests in flight per connection; 0: 128 */
	unsigned handshake_timeout_ms; /* the whole handshake must end within this,
					* else the client is dropped; 0: 10000 */
	bool no_multi_conn;          /* do not advertise NBD_FLAG_CAN_MULTI_CONN */
	bool no_block_status;        /* no metadata contexts (the options get
				      * NBD_REP_ERR_UNSUP): clients see every
				      * block as data */
};

#define NBD_DEFAULT_MAX_CONNS            256u
#define NBD_DEFAULT_MAX_CONNS_PER_USER   32u
#define NBD_DEFAULT_MAX_HANDSHAKES       1024u
#define NBD_DEFAULT_MAX_HANDSHAKES_PER_USER 64u
#define NBD_DEFAULT_HANDSHAKE_MS         10000u

/*
 * nbd_server_create() - a server with no listeners yet. @cfg may be NULL
 * (defaults); @prov is copied. Return: 0 and *@out, or -ENOMEM / -EINVAL.
 */
int nbd_server_create(const struct nbd_server_config *cfg,
		      const struct nbd_export_provider *prov, struct nbd_server **out);

/*
 * nbd_server_listen_unix() - listen on a Unix stream socket at @path. A
 * stale socket file (nobody accepting) is replaced; a live one gives
 * -EADDRINUSE. The file is removed by nbd_server_destroy(). Before start.
 */
int nbd_server_listen_unix(struct nbd_server *srv, const char *path);

/*
 * nbd_server_listen_tcp() - listen on TCP @addr (NULL: 127.0.0.1; a name,
 * IPv4 or IPv6 literal) port @port (0: ephemeral). The bound port goes to
 * *@bound when @bound is not NULL. Before start.
 */
int nbd_server_listen_tcp(struct nbd_server *srv, const char *addr, uint16_t port,
			  uint16_t *bound);

/* nbd_server_start() - start accepting: one thread accepts and runs every
 * handshake; each established connection gets a thread of its own. */
int nbd_server_start(struct nbd_server *srv);

/*
 * nbd_server_stop() - close the listeners, cut every connection (requests
 * in flight complete first), join every thread and put() every export
 * reference. Safe to call twice, and before start.
 */
void nbd_server_stop(struct nbd_server *srv);

/* nbd_server_destroy() - stop if needed, then free. NULL is fine. */
void nbd_server_destroy(struct nbd_server *srv);

/* Connections currently open, established or in the handshake (for status
 * output and tests). */
unsigned nbd_server_conn_count(struct nbd_server *srv);

#endif /* CXLFLASH_NBD_SERVER_H */
