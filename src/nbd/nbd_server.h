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
 * (SO_PEERCRED, as it connected). A TCP peer is not: only its address is
 * known, which proves nothing, loopback included; unless TLS authenticated
 * it (a PSK username, or a client certificate checked against the CA) and
 * the embedder's tls_identify() mapped that identity to a user.
 */
#define NBD_PEER_GROUPS_MAX 64
#define NBD_TLS_ID_MAX      256

struct nbd_peer {
	bool identified;             /* uid, gid (and groups when ngroups >= 0) are
				      * known: the kernel's (Unix socket) or mapped
				      * from a TLS identity (tls_mapped) */
	pid_t pid;                   /* the kernel's, or 0 */
	uid_t uid;
	gid_t gid;
	int ngroups;                 /* its supplementary groups as it connected
				      * (SO_PEERGROUPS), or -1: unknown */
	gid_t groups[NBD_PEER_GROUPS_MAX];
	char addr[192];              /* "tcp:ADDR:PORT" or "unix:uid=N,pid=N", then
				      * " tls" / " tls:ID" (for messages) */
	/* TLS (after NBD_OPT_STARTTLS succeeded) */
	bool tls;                    /* the connection runs over TLS */
	bool tls_mapped;             /* identified through tls_identify() */
	char tls_psk[NBD_TLS_ID_MAX];  /* the PSK username it proved, or "" */
	char tls_dn[NBD_TLS_ID_MAX];   /* its verified certificate's subject DN, or "" */
	char tls_cn[NBD_TLS_ID_MAX];   /* that certificate's common name, or "" */
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
	/*
	 * TLS authenticated a client not identified otherwise (TCP): @peer has
	 * tls_psk, or tls_dn and tls_cn, set. To serve it as a user, set
	 * uid, gid, groups / ngroups, identified and tls_mapped; to leave it
	 * an anonymous client, change nothing. Optional; on the loop thread.
	 */
	void (*tls_identify)(void *arg, struct nbd_peer *peer);
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
	/* TLS (NBD_OPT_STARTTLS, GnuTLS): see docs/nbd.md. With tls on or
	 * require, tls_certs and / or tls_psk_file are needed; they are read
	 * by nbd_server_create(). */
	enum nbd_tls_mode {
		NBD_TLS_OFF,                 /* STARTTLS refused (NBD_REP_ERR_UNSUP) */
		NBD_TLS_ON,                  /* offered; plain clients served too */
		NBD_TLS_REQUIRE,             /* plain clients get NBD_REP_ERR_TLS_REQD */
	} tls;
	const char *tls_certs;       /* directory: ca-cert.pem, server-cert.pem,
				      * server-key.pem, optional ca-crl.pem (qemu's names) */
	const char *tls_psk_file;    /* psktool's "username:hexkey" lines */
	bool tls_verify_peer;        /* client certificates required, checked against
				      * ca-cert.pem (and ca-crl.pem) */
};

/* Whether this build has TLS (GnuTLS was found at build time). */
bool nbd_tls_available(void);
/* "off", "on", "require" into @mode. Return 0 or -EINVAL. */
int nbd_tls_parse_mode(const char *s, enum nbd_tls_mode *mode);

#define NBD_DEFAULT_MAX_CONNS            256u
#define NBD_DEFAULT_MAX_CONNS_PER_USER   32u
#define NBD_DEFAULT_MAX_HANDSHAKES       1024u
#define NBD_DEFAULT_MAX_HANDSHAKES_PER_USER 64u
#define NBD_DEFAULT_HANDSHAKE_MS         10000u

/*
 * nbd_server_create() - a server with no listeners yet. @cfg may be NULL
 * (defaults); @prov is copied; TLS credentials are loaded now (errors are
 * logged). Return: 0 and *@out, or -ENOMEM / -EINVAL, -ENOTSUP (TLS asked
 * for, built without GnuTLS), -errno of a credentials file.
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

/*
 * Log why a client was refused, at most one line a second per reason (the
 * next line says how many were not logged): a client refused in a loop
 * cannot flood the log. For the server and the embedder's provider.
 */
enum nbd_refusal {
	NBD_REFUSED_OPTION,          /* an option answered with an error (info) */
	NBD_REFUSED_LIMIT,           /* a connection limit (notice) */
	NBD_REFUSED_TLS,             /* plain while TLS is required (notice) */
	NBD_REFUSED_ACCESS,          /* not allowed to use the export (warning) */
	NBD_REFUSED_EXPORT_NAME,     /* EXPORT_NAME refused: closed (notice) */
	NBD_REFUSED_N
};
void nbd_log_refused_at(enum nbd_refusal why, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define nbd_log_refused(why, ...) nbd_log_refused_at(why, __func__, __VA_ARGS__)

/* Connections currently open, established or in the handshake (for status
 * output and tests). */
unsigned nbd_server_conn_count(struct nbd_server *srv);

#endif /* CXLFLASH_NBD_SERVER_H */
