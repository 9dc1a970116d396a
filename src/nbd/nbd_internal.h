/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_internal.h - what the NBD server's files share: the server and
 * connection structs, socket I/O helpers (nbd_sock.c), the handshake
 * (nbd_handshake.c) and the transmission phase (nbd_transmit.c).
 *
 * Threads: one loop thread per server accepts and runs every handshake on
 * non-blocking sockets (epoll; a connection's replies are queued in its
 * out buffer and flushed when the socket takes them). A connection whose
 * GO / EXPORT_NAME succeeds is handed to a thread of its own, which does
 * everything for its client (reads requests, submits them on its own
 * be_engine, runs their completions and writes the replies), so nothing on
 * a connection needs a lock. The server lock guards the established list
 * and the per-user counts.
 */
#ifndef CXLFLASH_NBD_INTERNAL_H
#define CXLFLASH_NBD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nbd/nbd_proto.h"
#include "nbd/nbd_server.h"

#define NBD_MAX_LISTENERS   8
#define NBD_BLKLOCK_BUCKETS 256
/* Block size constraints we advertise (see docs/nbd.md). */
#define NBD_MIN_BLOCK       1u
#define NBD_PREF_BLOCK      4096u
#define NBD_MAX_PAYLOAD     (32u << 20)
#define NBD_RX_BUF          (64u << 10)
#define NBD_IDENT_BUCKETS   64
#define NBD_CONN_STACK      (1u << 20)   /* an established connection's thread */
#define NBD_HOLD_IOV        256          /* pieces of replies held in place */

struct be_engine;
struct nbd_blk;
struct nbd_req;
struct nbd_tls_creds;
struct nbd_tls_sess;

/* A user, for the per-user limits: a Unix peer's uid, or every TCP client. */
struct nbd_ident {
	struct nbd_ident *next;
	bool tcp;
	uid_t uid;
	unsigned handshakes;                   /* connections in the handshake */
	unsigned established;
};

/* Where a connection is in the handshake (read by the loop thread). */
enum nbd_hs_state {
	HS_FLAGS,                              /* reading the client's 4 flag bytes */
	HS_OPT_HDR,                            /* reading a 16-byte option header */
	HS_OPT_DATA,                           /* reading its data */
	HS_DRAIN,                              /* dropping an option too big to read */
	HS_TLS,                                /* STARTTLS acknowledged: the TLS handshake */
};

struct nbd_server {
	struct nbd_server_config cfg;
	struct nbd_export_provider prov;
	struct nbd_tls_creds *tls;             /* TLS credentials (nbd_tls.c), or NULL */
	int lfds[NBD_MAX_LISTENERS];
	char *unix_paths[NBD_MAX_LISTENERS];   /* to unlink at destroy, or NULL */
	bool lunix[NBD_MAX_LISTENERS];         /* a Unix socket (peers identified) */
	int nlfds;
	int stop_fd;                           /* eventfd: wakes the accept thread */
	int epfd;                              /* the loop thread's epoll */
	pthread_t accept_thread;
	bool started, stopped;
	/* Loop thread only: connections in the handshake, oldest first, and
	 * those closed during this round of events (freed after it). */
	struct nbd_conn *hs_head, *hs_tail, *graveyard;
	pthread_mutex_t lock;                  /* below */
	struct nbd_conn *conns;                /* established (with a thread) */
	unsigned nconns;                       /* established, threads not yet joined */
	unsigned nestablished;                 /* counted against max_conns */
	unsigned nhandshakes;
	struct nbd_ident *idents[NBD_IDENT_BUCKETS];
	bool stopping;
	/* Sub-block writes read-modify-write holding their first and last
	 * block in this table (nbd_blklock.c), so two writes of different
	 * bytes of one block, from one client or two, both land. */
	pthread_mutex_t blk_lock;
	struct nbd_blk *blk_hash[NBD_BLKLOCK_BUCKETS];
};

struct nbd_conn {
	struct nbd_server *srv;
	struct nbd_conn *next;
	int fd;
	pthread_t thread;
	bool finished;                         /* thread is about to exit (under srv->lock) */
	struct nbd_peer peer;
	struct nbd_ident *ident;               /* its user (under srv->lock) */
	struct nbd_tls_sess *tls;              /* its TLS session once STARTTLS began, or NULL */
	bool admitted;                         /* counted as established */

	/* handshake (loop thread) */
	struct nbd_conn *hs_prev, *hs_next;
	bool in_hs;                            /* on the handshake list, in epoll */
	bool closed;                           /* in the graveyard: skip its events */
	uint32_t events;                       /* what epoll waits for */
	int64_t deadline_ms;                   /* CLOCK_MONOTONIC */
	enum nbd_hs_state hs;
	uint8_t hbuf[NBD_OPT_HDR_LEN];             /* flags or option header */
	uint32_t hhave;
	uint32_t opt, optlen, dhave;
	uint8_t *data;                         /* option data (optlen + 1) */
	uint64_t drain;
	bool out_mode;                         /* sends are queued in out, not written */
	bool cork;                             /* transmission: replies held in out (nbd_uncork) */
	uint8_t *out;                          /* replies not yet written */
	size_t out_len, out_off, out_cap;
	/* transmission: replies held in place (nbd_hold), written after out */
	struct iovec hold[NBD_HOLD_IOV];
	unsigned nhold;
	size_t hold_bytes;
	void (*held_sent)(struct nbd_conn *c);  /* their memory may go now */

	/* negotiated */
	bool no_zeroes;
	bool structured;
	bool meta_alloc;                       /* base:allocation selected (nbd_meta.c) */
	char *meta_name;                       /* the export SET_META_CONTEXT named */
	bool readonly;
	uint16_t tflags;                       /* transmission flags sent */
	struct backend *be;
	void *ref;
	bool have_ref;
	uint64_t size;                         /* bytes */

	/* transmission (the connection's thread only) */
	struct be_engine *eng;
	unsigned inflight;                     /* requests read and not yet freed */
	size_t inflight_bytes;
	unsigned writes_inflight;              /* WRITE / TRIM / WRITE_ZEROES among them */
	struct nbd_req *parked, *parked_tail;  /* waiting for their blocks (RMW) */
	struct nbd_req *flush_wait;            /* a FLUSH waiting for the writes before it */
	struct nbd_req *held, *held_tail;      /* replied, held in place (nbd_hold) */
	struct nbd_req *req_cache;             /* freed requests kept for reuse */
	void *buf_cache;                       /* freed 4 KiB buffers kept for reuse */
	unsigned nreq_cache, nbuf_cache;
	bool dead;                             /* client gone or protocol broken */

	/* buffered receive (allocated when transmission starts) */
	size_t rpos, rlen;
	uint8_t *rbuf;
};

/* nbd_sock.c */
/* Write what the handshake queued in c->out (blocking or not, as the socket
 * is). Return 0 when all is out, -EAGAIN when the socket is full, -errno. */
int nbd_flush_out(struct nbd_conn *c);
/* Read what is there, up to @len bytes, without blocking (handshake).
 * Return the count, 0 at EOF, -EAGAIN, or -errno. */
ssize_t nbd_hs_recv(struct nbd_conn *c, void *buf, size_t len);
/* Read exactly @len bytes. Return 0, -ECONNRESET at EOF, or -errno. */
int nbd_recv(struct nbd_conn *c, void *buf, size_t len);
/* Read and drop @len bytes. */
int nbd_discard(struct nbd_conn *c, uint64_t len);
/* True when a read would not block (buffered bytes or a readable socket). */
bool nbd_rx_ready(struct nbd_conn *c);
/* Write every byte of @iov. Return 0 or -errno (and marks @c dead). */
int nbd_sendv(struct nbd_conn *c, struct iovec *iov, int n);
int nbd_send(struct nbd_conn *c, const void *buf, size_t len);
/* Write the replies held back in c->out and by nbd_hold() (c->cork), then
 * call c->held_sent (also when the connection is dead). Return 0 or -errno. */
int nbd_uncork(struct nbd_conn *c);
/* With c->cork: hold a reply of @n pieces whose memory stays put until
 * c->held_sent runs; it goes out with the next nbd_uncork(), unseparated
 * and without a copy. Without c->cork (or with no room for @n pieces) it is
 * written at once (what is held first). Return 0 or -errno; either way
 * c->held_sent runs for it: -EAGAIN is never returned. */
int nbd_hold(struct nbd_conn *c, const struct iovec *iov, int n);
/* Held back: replies up to NBD_CORK_COPY bytes (bigger ones are written
 * at once), until NBD_CORK_MAX bytes are held (copied and in place). */
#define NBD_CORK_COPY       (64u << 10)
#define NBD_CORK_MAX        (256u << 10)

/* nbd_handshake.c: the greeting (queued in c->out). */
int nbd_hs_hello(struct nbd_conn *c);
/* An option reply of @type with @len bytes of @data (queued). Return 0 or -errno. */
int nbd_hs_reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *data,
		 uint32_t len);
/* nbd_hs_export_name() - the length-prefixed export name that starts
 * option data @data (@len bytes) and is followed by at least @after more
 * bytes, copied NUL-terminated into @name (NBD_MAX_STRING + 1 bytes), its
 * length in *@nlen. Return: true; or false after an NBD_REP_ERR_INVALID
 * reply saying what was wrong, whose own result (0 or -errno) is in *@rc. */
bool nbd_hs_export_name(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len,
			uint32_t after, char *name, uint32_t *nlen, int *rc);
/* An error reply of @type carrying a message for humans (also logged at
 * info level). Return 0 or -errno. */
int nbd_hs_error(struct nbd_conn *c, uint32_t opt, uint32_t type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The client's flags (in c->hbuf). Return 0, or a negative errno: hang up. */
int nbd_hs_flags(struct nbd_conn *c);
/* One whole option: c->opt, c->optlen bytes at c->data; or, with @drained,
 * one whose data was too long and has been dropped. Return 1 to enter
 * transmission, 0 for the next option, 2 when the client aborted, or a
 * negative errno: hang up. */
int nbd_hs_option(struct nbd_conn *c, bool drained);
/* nbd_hs_option() also returns this: STARTTLS acknowledged, the TLS
 * handshake follows (nbd_tls.c). */
#define NBD_HS_STARTTLS     3
/* Longest option data read (GO/INFO: a name and a few info requests);
 * longer is drained and refused up to NBD_OPT_DRAIN_MAX, else closed. */
#define NBD_OPT_MAX_LEN     (4096u + 64u)
#define NBD_OPT_DRAIN_MAX   (1u << 20)
/* Drop the export reference (if held). */
void nbd_conn_put_export(struct nbd_conn *c);

/* nbd_meta.c: metadata contexts and block status. */
#define NBD_META_MAX_EXTENTS 1024u         /* descriptors per BLOCK_STATUS reply */
#define NBD_META_MAX_SCAN    (1ull << 30)  /* bytes one BLOCK_STATUS reply covers */
/* LIST_META_CONTEXT / SET_META_CONTEXT (@data as in nbd_hs_option). Return
 * 0 for the next option or a negative errno: hang up. */
int nbd_meta_option(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len);
/* Entering transmission with export @name: a context SET for another
 * export is dropped. */
void nbd_meta_go(struct nbd_conn *c, const char *name);
/* No context selected; frees what SET kept. */
void nbd_meta_reset(struct nbd_conn *c);
/* Answer a checked BLOCK_STATUS (a context was selected, the range is in
 * the export): one BLOCK_STATUS chunk with DONE. Return 0 when answered,
 * or a negative errno before anything was sent (the caller replies it). */
int nbd_meta_block_status(struct nbd_conn *c, uint64_t cookie, uint64_t off, uint32_t len,
			  bool req_one);

/* nbd_blklock.c: take blocks @a and @b (may be equal) of backend @be for a
 * read-modify-write, both or neither, without waiting. Return 0, -EBUSY
 * (one is held: try again later) or -ENOMEM. */
int nbd_blk_trylock(struct nbd_server *srv, const void *be, uint64_t a, uint64_t b);
void nbd_blk_unlock(struct nbd_server *srv, const void *be, uint64_t a, uint64_t b);

/* nbd_transmit.c: serve requests until DISC, EOF or an error. */
void nbd_transmit(struct nbd_conn *c);

/* nbd_server.c: may @c become established (limits)? 0 and counted (not
 * with @dry: only asking, for INFO), or -EUSERS / -ESHUTDOWN with why in
 * @why. Undone when the connection ends. */
int nbd_conn_admit(struct nbd_conn *c, bool dry, char *why, size_t len);

/* Map a negative errno to an NBD error value. */
uint32_t nbd_errno_to_nbd(int err);

#endif /* CXLFLASH_NBD_INTERNAL_H */
