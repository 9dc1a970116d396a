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
 * nbd_server_destroy(). Provider callbacks run on connection threads,
 * concurrently: they must lock what they share. Errors are negative errno.
 */
#ifndef CXLFLASH_NBD_SERVER_H
#define CXLFLASH_NBD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend;
struct nbd_server;

/* Export names are at most this long (the protocol's string limit). */
#define NBD_EXPORT_NAME_MAX 4096

struct nbd_export_provider {
	/*
	 * Find export @name for a client (may be "", the default export). On
	 * success return 0, set *@be (served until put()), *@readonly and
	 * *@ref (anything; passed back to put()). On refusal return a
	 * negative errno and a message for the client in @why (@len bytes):
	 * -ENOENT unknown export, -EBUSY / -EPERM / -EACCES refused (e.g. "LUN
	 * x is in superpipe mode"), -ESHUTDOWN going away, others reported as
	 * refused too.
	 */
	int (*get)(void *arg, const char *name, struct backend **be, bool *readonly,
		   void **ref, char *why, size_t len);
	/* The client is done with the export get() returned @ref for. */
	void (*put)(void *arg, void *ref);
	/* NBD_OPT_LIST: call @emit for each export offered now (desc may be
	 * NULL). Optional (may be NULL: an empty list). */
	void (*list)(void *arg, void (*emit)(void *ctx, const char *name, const char *desc),
		     void *ctx);
	void *arg;
};

struct nbd_server_config {
	unsigned max_conns;          /* connections at once; 0: 64 */
	unsigned queue_depth;        /* requests in flight per connection; 0: 128 */
	unsigned handshake_timeout_ms; /* a client silent this long in the handshake
					* is dropped; 0: 30000 */
	bool no_multi_conn;          /* do not advertise NBD_FLAG_CAN_MULTI_CONN */
};

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

/* nbd_server_start() - start accepting (one thread, plus one per client). */
int nbd_server_start(struct nbd_server *srv);

/*
 * nbd_server_stop() - close the listeners, cut every connection (requests
 * in flight complete first), join every thread and put() every export
 * reference. Safe to call twice, and before start.
 */
void nbd_server_stop(struct nbd_server *srv);

/* nbd_server_destroy() - stop if needed, then free. NULL is fine. */
void nbd_server_destroy(struct nbd_server *srv);

/* Connections currently open (for status output and tests). */
unsigned nbd_server_conn_count(struct nbd_server *srv);

#endif /* CXLFLASH_NBD_SERVER_H */
