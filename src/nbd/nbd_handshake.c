/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_handshake.c - the fixed newstyle handshake and option haggling:
 * EXPORT_NAME, GO, INFO, LIST, ABORT, STRUCTURED_REPLY, STARTTLS (the TLS
 * part is nbd_tls.c) and the meta-context options (handed to nbd_meta.c).
 * The export reference is taken here (GO / EXPORT_NAME) and dropped by
 * nbd_conn_put_export() when the connection ends.
 *
 * These functions run on the server's loop thread, one whole option at a
 * time (nbd_server.c reads it without blocking); their replies are queued
 * in the connection's out buffer. The provider decides who may use which
 * export (it is told the peer); the server's limits are checked here when
 * GO / EXPORT_NAME is about to enter transmission.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "nbd/nbd_internal.h"
#include "nbd/nbd_proto.h"
#include "nbd/nbd_tls.h"
#include "util/byteorder.h"
#include "util/log.h"


int nbd_hs_reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *data,
		 uint32_t len)
{
	uint8_t hdr[NBD_OPT_REPLY_HDR_LEN];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)data, len } };

	put_be64(hdr, NBD_OPT_REPLY_MAGIC);
	put_be32(hdr + 8, opt);
	put_be32(hdr + 12, type);
	put_be32(hdr + 16, len);
	return nbd_sendv(c, iov, len ? 2 : 1);
}

/* An error reply carrying a message for humans. */
int nbd_hs_error(struct nbd_conn *c, uint32_t opt, uint32_t type, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	nbd_log_refused(NBD_REFUSED_OPTION, "NBD client %s: option %u refused: %s", c->peer.addr,
			opt, msg);
	return nbd_hs_reply(c, opt, type, msg, (uint32_t)n);
}

static uint32_t get_error_to_rep(int err)
{
	switch (err) {
	case -ENOENT:
		return NBD_REP_ERR_UNKNOWN;
	case -ESHUTDOWN:
		return NBD_REP_ERR_SHUTDOWN;
	case -EINVAL:
		return NBD_REP_ERR_INVALID;
	default:
		return NBD_REP_ERR_POLICY;
	}
}

void nbd_conn_put_export(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;

	if (!c->have_ref)
		return;
	if (srv->prov.put)
		srv->prov.put(srv->prov.arg, c->ref);
	c->have_ref = false;
	c->be = NULL;
	c->ref = NULL;
}

/* Ask the provider for @name. Return 0, or the provider's -errno with @why. */
static int get_export(struct nbd_conn *c, const char *name, char *why, size_t len)
{
	struct nbd_server *srv = c->srv;
	struct backend *be = NULL;
	bool ro = false;
	void *ref = NULL;
	int rc;

	why[0] = 0;
	rc = srv->prov.get(srv->prov.arg, &c->peer, name, &be, &ro, &ref, why, len);
	if (rc == 0 && !be)
		rc = -EIO;
	if (rc) {
		if (!why[0])
			snprintf(why, len, "export '%s': %s", name, strerror(-rc));
		return rc < 0 ? rc : -EIO;
	}
	c->be = be;
	c->readonly = ro;
	c->ref = ref;
	c->have_ref = true;
	c->size = be->nblocks << BE_BLOCK_SHIFT;
	c->tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_CACHE;
	/* A read-only export offers nothing that writes: clients then do not
	 * try (those that do anyway get EPERM). FAST_ZERO goes with
	 * WRITE_ZEROES: a zero that would be slow fails at once with ENOTSUP. */
	if (ro)
		c->tflags |= NBD_FLAG_READ_ONLY;
	else
		c->tflags |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
			     NBD_FLAG_SEND_FAST_ZERO;
	if (!srv->cfg.no_multi_conn)
		c->tflags |= NBD_FLAG_CAN_MULTI_CONN;
	/* Every read goes out as one chunk, so "don't fragment" is free. */
	if (c->structured)
		c->tflags |= NBD_FLAG_SEND_DF;
	return 0;
}

static int opt_export_name(struct nbd_conn *c, char *data, uint32_t len)
{
	uint8_t reply[10 + NBD_EXPORT_NAME_PAD] = { 0 };
	char why[512];
	int rc;

	data[len] = 0;
	if (strlen(data) != len) {
		log_info("EXPORT_NAME with a NUL in the name: closing");
		return -EINVAL;
	}
	rc = get_export(c, data, why, sizeof(why));
	if (!rc) {
		rc = nbd_conn_admit(c, false, why, sizeof(why));
		if (rc)
			nbd_conn_put_export(c);
	}
	if (rc) {
		/* No way to refuse but hanging up (the protocol says so). */
		nbd_log_refused(NBD_REFUSED_EXPORT_NAME, "NBD client %s: EXPORT_NAME '%s' refused "
				"(closing; NBD_OPT_GO would have told it why): %s", c->peer.addr,
				data, why);
		return rc;
	}
	put_be64(reply, c->size);
	put_be16(reply + 8, c->tflags);
	rc = nbd_send(c, reply, c->no_zeroes ? 10 : sizeof(reply));
	nbd_meta_go(c, data);
	return rc ? rc : 1;
}

static int send_info_export(struct nbd_conn *c, uint32_t opt)
{
	uint8_t b[12];

	put_be16(b, NBD_INFO_EXPORT);
	put_be64(b + 2, c->size);
	put_be16(b + 10, c->tflags);
	return nbd_hs_reply(c, opt, NBD_REP_INFO, b, sizeof(b));
}

static int send_info_block_size(struct nbd_conn *c, uint32_t opt)
{
	uint8_t b[14];

	put_be16(b, NBD_INFO_BLOCK_SIZE);
	put_be32(b + 2, NBD_MIN_BLOCK);
	put_be32(b + 6, NBD_PREF_BLOCK);
	put_be32(b + 10, NBD_MAX_PAYLOAD);
	return nbd_hs_reply(c, opt, NBD_REP_INFO, b, sizeof(b));
}

static int send_info_name(struct nbd_conn *c, uint32_t opt, const char *name, uint32_t nlen)
{
	uint8_t *b = malloc(2 + (size_t)nlen);
	int rc;

	if (!b)
		return -ENOMEM;
	put_be16(b, NBD_INFO_NAME);
	memcpy(b + 2, name, nlen);
	rc = nbd_hs_reply(c, opt, NBD_REP_INFO, b, 2 + nlen);
	free(b);
	return rc;
}

bool nbd_hs_export_name(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len,
			uint32_t after, char *name, uint32_t *nlen, int *rc)
{
	if (len < 4 + after) {
		*rc = nbd_hs_error(c, opt, NBD_REP_ERR_INVALID, "option too short (%u bytes)", len);
		return false;
	}
	*nlen = get_be32(data);
	if (*nlen > NBD_MAX_STRING || *nlen > len - 4 - after) {
		*rc = nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
				   "export name length %u does not fit the option", *nlen);
		return false;
	}
	memcpy(name, data + 4, *nlen);
	name[*nlen] = 0;
	if (strlen(name) != *nlen) {
		*rc = nbd_hs_error(c, opt, NBD_REP_ERR_INVALID, "export name contains NUL");
		return false;
	}
	return true;
}

/* NBD_OPT_INFO and NBD_OPT_GO: name length, name, count, info requests. */
static int opt_info_go(struct nbd_conn *c, uint32_t opt, uint8_t *data, uint32_t len)
{
	uint32_t nlen;
	uint16_t nreq;
	bool want_name = false;
	char name[NBD_MAX_STRING + 1];
	char why[512];
	int rc;

	if (!nbd_hs_export_name(c, opt, data, len, 2, name, &nlen, &rc))
		return rc;
	nreq = get_be16(data + 4 + nlen);
	if (len != 6 + nlen + 2u * nreq)
		return nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
				  "option length %u does not match %u info requests", len, nreq);
	for (uint16_t i = 0; i < nreq; i++)
		if (get_be16(data + 6 + nlen + 2u * i) == NBD_INFO_NAME)
			want_name = true;

	rc = get_export(c, name, why, sizeof(why));
	if (rc)
		return nbd_hs_error(c, opt, get_error_to_rep(rc), "%s", why);
	/* GO is where the limits bite (INFO says whether GO would pass):
	 * refused, the client may try again. */
	rc = nbd_conn_admit(c, opt == NBD_OPT_INFO, why, sizeof(why));
	if (rc) {
		nbd_conn_put_export(c);
		return nbd_hs_error(c, opt, get_error_to_rep(rc), "%s", why);
	}
	rc = send_info_export(c, opt);
	if (!rc && want_name)
		rc = send_info_name(c, opt, name, nlen);
	/* Always sent: with a minimum of 1 every client is compatible. */
	if (!rc)
		rc = send_info_block_size(c, opt);
	/* INFO only looks: the reference goes before the client hears ACK. */
	if (rc || opt == NBD_OPT_INFO)
		nbd_conn_put_export(c);
	if (!rc)
		rc = nbd_hs_reply(c, opt, NBD_REP_ACK, NULL, 0);
	if (rc) {
		nbd_conn_put_export(c);
		return rc;
	}
	if (opt == NBD_OPT_GO)
		nbd_meta_go(c, name);
	return opt == NBD_OPT_GO ? 1 : 0;
}

struct list_ctx {
	struct nbd_conn *c;
	int rc;
};

static void list_emit(void *arg, const char *name, const char *desc)
{
	struct list_ctx *lc = arg;
	size_t nlen = strlen(name), dlen = desc ? strlen(desc) : 0;
	uint8_t *b;

	if (lc->rc || nlen > NBD_MAX_STRING)
		return;
	if (dlen > NBD_MAX_STRING)
		dlen = NBD_MAX_STRING;
	b = malloc(4 + nlen + dlen);
	if (!b) {
		lc->rc = -ENOMEM;
		return;
	}
	put_be32(b, (uint32_t)nlen);
	memcpy(b + 4, name, nlen);
	memcpy(b + 4 + nlen, desc ? desc : "", dlen);
	lc->rc = nbd_hs_reply(lc->c, NBD_OPT_LIST, NBD_REP_SERVER, b, (uint32_t)(4 + nlen + dlen));
	free(b);
}

static int opt_list(struct nbd_conn *c, uint32_t len)
{
	struct list_ctx lc = { .c = c };
	struct nbd_server *srv = c->srv;

	if (len)
		return nbd_hs_error(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
				  "LIST takes no data (got %u bytes)", len);
	if (srv->prov.list)
		srv->prov.list(srv->prov.arg, &c->peer, list_emit, &lc);
	if (lc.rc)
		return lc.rc;
	return nbd_hs_reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

int nbd_hs_option(struct nbd_conn *c, bool drained)
{
	uint32_t opt = c->opt, len = c->optlen;
	uint8_t *data = c->data;
	char why[256];
	uint32_t err;

	if (drained)
		return nbd_hs_error(c, opt, NBD_REP_ERR_TOO_BIG,
				  "option data of %u bytes exceeds the limit of %u", len,
				  NBD_OPT_MAX_LEN);
	/* TLS required and not on yet, or a STARTTLS that cannot be. */
	err = nbd_tls_gate(c, opt, len, why, sizeof(why));
	if (err && opt == NBD_OPT_EXPORT_NAME)
		return -EACCES;   /* it cannot be refused with a message */
	if (err)
		return nbd_hs_error(c, opt, err, "%s", why);
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(c, (char *)data, len);
	case NBD_OPT_GO:
	case NBD_OPT_INFO:
		return opt_info_go(c, opt, data, len);
	case NBD_OPT_LIST:
		return opt_list(c, len);
	case NBD_OPT_ABORT:
		/* The client may already have hung up: ignore send errors. */
		nbd_hs_reply(c, opt, NBD_REP_ACK, NULL, 0);
		return 2;
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
					  "STRUCTURED_REPLY takes no data (got %u bytes)", len);
		c->structured = true;
		return nbd_hs_reply(c, opt, NBD_REP_ACK, NULL, 0);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return nbd_meta_option(c, opt, data, len);
	case NBD_OPT_STARTTLS: {
		int rc = nbd_hs_reply(c, opt, NBD_REP_ACK, NULL, 0);

		return rc ? rc : NBD_HS_STARTTLS;
	}
	default:
		return nbd_hs_error(c, opt, NBD_REP_ERR_UNSUP, "option %u is not supported", opt);
	}
}

int nbd_hs_hello(struct nbd_conn *c)
{
	uint8_t hello[NBD_HELLO_LEN];

	put_be64(hello, NBD_MAGIC);
	put_be64(hello + 8, NBD_IHAVEOPT);
	put_be16(hello + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	return nbd_send(c, hello, sizeof(hello));
}

int nbd_hs_flags(struct nbd_conn *c)
{
	uint32_t cflags = get_be32(c->hbuf);

	if (cflags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
		log_info("unknown client flags %#x: closing", cflags);
		return -EPROTO;
	}
	c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
	return 0;
}
