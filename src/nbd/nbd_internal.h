/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_internal.h - what the NBD server's files share: the server and
 * connection structs, socket I/O helpers (nbd_sock.c), the handshake
 * (nbd_handshake.c) and the transmission phase (nbd_transmit.c).
 *
 * Threads: one accept thread per server; one thread per connection, which
 * does everything for its client (reads requests, submits them on its own
 * be_engine, runs their completions and writes the replies), so nothing on a
 * connection needs a lock. The server lock guards the connection list.
 */
#ifndef CXLFLASH_NBD_INTERNAL_H
#define CXLFLASH_NBD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nbd/nbd_server.h"

#define NBD_MAX_LISTENERS   8
#define NBD_RMW_STRIPES     64
/* Block size constraints we advertise (see docs/nbd.md). */
#define NBD_MIN_BLOCK       1u
#define NBD_PREF_BLOCK      4096u
#define NBD_MAX_PAYLOAD     (32u << 20)
#define NBD_RX_BUF          (64u << 10)

struct be_engine;

struct nbd_server {
	struct nbd_server_config cfg;
	struct nbd_export_provider prov;
	int lfds[NBD_MAX_LISTENERS];
	char *unix_paths[NBD_MAX_LISTENERS];   /* to unlink at destroy, or NULL */
	int nlfds;
	int stop_fd;                           /* eventfd: wakes the accept thread */
	pthread_t accept_thread;
	bool started, stopped;
	pthread_mutex_t lock;                  /* conns, nconns, stopping */
	struct nbd_conn *conns;
	unsigned nconns;
	bool stopping;
	/* Sub-block writes read-modify-write under the stripe of their block,
	 * so two clients writing different bytes of one block both land. */
	pthread_mutex_t rmw[NBD_RMW_STRIPES];
};

struct nbd_conn {
	struct nbd_server *srv;
	struct nbd_conn *next;
	int fd;
	pthread_t thread;
	bool finished;                         /* thread is about to exit (under srv->lock) */

	/* negotiated */
	bool no_zeroes;
	bool structured;
	bool readonly;
	uint16_t tflags;                       /* transmission flags sent */
	struct backend *be;
	void *ref;
	bool have_ref;
	uint64_t size;                         /* bytes */

	/* transmission */
	struct be_engine *eng;
	unsigned inflight;
	size_t inflight_bytes;
	bool dead;                             /* client gone or protocol broken */

	/* buffered receive */
	size_t rpos, rlen;
	uint8_t rbuf[NBD_RX_BUF];
};

/* nbd_sock.c */
/* Read exactly @len bytes. Return 0, -ECONNRESET at EOF, or -errno. */
int nbd_recv(struct nbd_conn *c, void *buf, size_t len);
/* Read and drop @len bytes. */
int nbd_discard(struct nbd_conn *c, uint64_t len);
/* True when a read would not block (buffered bytes or a readable socket). */
bool nbd_rx_ready(struct nbd_conn *c);
/* Write every byte of @iov. Return 0 or -errno (and marks @c dead). */
int nbd_sendv(struct nbd_conn *c, struct iovec *iov, int n);
int nbd_send(struct nbd_conn *c, const void *buf, size_t len);

/* nbd_handshake.c: Return 1 to enter transmission, 0 when the client left
 * cleanly (ABORT, EOF between options), or a negative errno. */
int nbd_handshake(struct nbd_conn *c);
/* Drop the export reference (if held). */
void nbd_conn_put_export(struct nbd_conn *c);

/* nbd_transmit.c: serve requests until DISC, EOF or an error. */
void nbd_transmit(struct nbd_conn *c);

/* Map a negative errno to an NBD error value. */
uint32_t nbd_errno_to_nbd(int err);

#endif /* CXLFLASH_NBD_INTERNAL_H */
