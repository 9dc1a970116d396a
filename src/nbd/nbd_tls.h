/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_tls.h - TLS for the NBD server (GnuTLS): the credentials a server
 * loads once (X.509 certificates in a directory with qemu's file names, a
 * psktool PSK file), NBD_OPT_STARTTLS and the "TLS required" gate of the
 * option haggling, the non-blocking TLS handshake on the loop thread, the
 * client's TLS identity, and record I/O for the handshake's queued replies
 * and the transmission phase. Built without GnuTLS every call is a stub and
 * asking for TLS fails with "built without GnuTLS".
 *
 * A connection's session is used by one thread at a time: the loop thread
 * during the handshake, then the connection's own thread (the hand-off is
 * a pthread_create). The credentials are read-only after creation.
 */
#ifndef CXLFLASH_NBD_TLS_H
#define CXLFLASH_NBD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct nbd_server;
struct nbd_conn;

/* Load the credentials srv->cfg names into srv->tls (nothing with TLS
 * off). Return 0, or -errno with the reason logged. */
int nbd_tls_server_init(struct nbd_server *srv);
void nbd_tls_server_free(struct nbd_server *srv);

/*
 * Before option @opt (@len bytes of data) is answered: 0 to go on (for
 * STARTTLS: acknowledge it, then the TLS handshake), or the NBD_REP_ERR_*
 * to answer with, the text in @why: STARTTLS without TLS configured, twice
 * or with data; any option but STARTTLS and ABORT before TLS when TLS is
 * required.
 */
uint32_t nbd_tls_gate(struct nbd_conn *c, uint32_t opt, uint32_t len, char *why, size_t wlen);

/* One step of the TLS handshake (the session is made on the first call).
 * Return 0 when it is done (c->peer has the TLS identity), -EAGAIN to wait
 * for the socket (nbd_tls_want_write() says which way), or -errno: close. */
int nbd_tls_handshake(struct nbd_conn *c);
bool nbd_tls_want_write(struct nbd_conn *c);

/* Record I/O on c->tls. recv: up to @len bytes (less is normal: one record
 * at a time); the count, 0 at EOF (close_notify or a clean close), -EAGAIN,
 * or -errno. */
ssize_t nbd_tls_recv(struct nbd_conn *c, void *buf, size_t len);
/* Write c->out from c->out_off: 0 all out, -EAGAIN, -errno (c->dead). */
int nbd_tls_flush_out(struct nbd_conn *c);
/* Write all of @iov (blocking socket): 0 or -errno (c->dead). */
int nbd_tls_sendv(struct nbd_conn *c, const struct iovec *iov, int n);
/* Decrypted bytes waiting in the session (not visible to poll()). */
bool nbd_tls_pending(struct nbd_conn *c);
/* Tell the client we are done (close_notify), best effort. */
void nbd_tls_bye(struct nbd_conn *c);
void nbd_tls_conn_free(struct nbd_conn *c);

#endif /* CXLFLASH_NBD_TLS_H */
