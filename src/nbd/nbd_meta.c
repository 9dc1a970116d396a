/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_meta.c - metadata contexts and block status: NBD_OPT_LIST_META_CONTEXT
 * and NBD_OPT_SET_META_CONTEXT during the handshake (the one context there
 * is: base:allocation), and NBD_CMD_BLOCK_STATUS during transmission, which
 * answers one NBD_REPLY_TYPE_BLOCK_STATUS chunk from the backend's
 * block_status (be_block_status(): holes and zeroes of file and RAM LUNs,
 * all data where a backend cannot tell).
 *
 * Queries: "base:allocation" selects the context; "base:" lists it
 * (LIST only: a namespace alone selects nothing in SET); LIST with no query
 * lists everything; other namespaces and other base: names match nothing,
 * as the protocol asks; a query with no namespace is NBD_REP_ERR_INVALID.
 * Both options need structured replies first (NBD_REP_ERR_INVALID) and name
 * an export, which must exist and admit the client (the provider's get and
 * put, as for INFO). SET replaces what an earlier SET selected; a GO or
 * EXPORT_NAME of another export than the one SET named drops the context.
 *
 * Cost of a BLOCK_STATUS: at most NBD_META_MAX_EXTENTS descriptors and
 * NBD_META_MAX_SCAN bytes per reply (the protocol lets the reply cover less
 * than asked; the client asks again from where it ends); never beyond the
 * requested range, and exactly one descriptor with NBD_CMD_FLAG_REQ_ONE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "nbd/nbd_internal.h"
#include "nbd/nbd_proto.h"
#include "util/byteorder.h"
#include "util/log.h"

#define META_ALLOC_NAME     "base:allocation"
#define META_ALLOC_ID       1u      /* our id for it (any value but 0 would do) */

void nbd_meta_reset(struct nbd_conn *c)
{
	c->meta_alloc = false;
	free(c->meta_name);
	c->meta_name = NULL;
}

void nbd_meta_go(struct nbd_conn *c, const char *name)
{
	if (c->meta_alloc && c->meta_name && strcmp(c->meta_name, name)) {
		log_info("GO of export '%s' after SET_META_CONTEXT of '%s': no context", name,
			 c->meta_name);
		c->meta_alloc = false;
	}
	free(c->meta_name);
	c->meta_name = NULL;
}

/* Does query @q (@len bytes) select base:allocation? -1: not a query. */
static int query_matches(const uint8_t *q, uint32_t len, bool set)
{
	const void *colon = memchr(q, ':', len);
	static const char ns[] = "base:";

	if (!colon || colon == (const void *)q || memchr(q, 0, len))
		return -1;
	if (len == sizeof(ns) - 1 && !memcmp(q, ns, len))
		return !set;   /* the namespace alone: every base: context, to LIST */
	return len == sizeof(META_ALLOC_NAME) - 1 && !memcmp(q, META_ALLOC_NAME, len);
}

/* The export must exist and admit this client now, as for NBD_OPT_INFO.
 * Return 0, 1 when it did not and the client was told why, or -errno. */
static int check_export(struct nbd_conn *c, uint32_t opt, const char *name)
{
	struct nbd_server *srv = c->srv;
	struct backend *be = NULL;
	bool ro = false;
	void *ref = NULL;
	char why[512] = "";
	int rc;

	rc = srv->prov.get(srv->prov.arg, &c->peer, name, &be, &ro, &ref, why, sizeof(why));
	if (rc == 0) {
		if (srv->prov.put)
			srv->prov.put(srv->prov.arg, ref);
		return 0;
	}
	if (!why[0])
		snprintf(why, sizeof(why), "export '%.400s': %s", name, strerror(rc < 0 ? -rc : EIO));
	rc = nbd_hs_error(c, opt, rc == -ENOENT ? NBD_REP_ERR_UNKNOWN
		       : rc == -ESHUTDOWN ? NBD_REP_ERR_SHUTDOWN : NBD_REP_ERR_POLICY,
		       "%s", why);
	return rc ? rc : 1;
}

/*
 * LIST_META_CONTEXT / SET_META_CONTEXT: 32-bit export name length, the name,
 * 32-bit number of queries, then each query as a 32-bit length and string.
 * Return 0 (next option) or a negative errno (hang up), like nbd_hs_option.
 */
int nbd_meta_option(struct nbd_conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	bool set = opt == NBD_OPT_SET_META_CONTEXT, alloc = false;
	char name[NBD_MAX_STRING + 1];
	uint32_t nlen, nq, pos;
	uint8_t r[4 + sizeof(META_ALLOC_NAME) - 1];
	int rc;

	if (set)
		nbd_meta_reset(c);   /* replaced, even by a SET that fails */
	if (c->srv->cfg.no_block_status)
		return nbd_hs_error(c, opt, NBD_REP_ERR_UNSUP,
				 "block status is turned off on this server");
	if (!c->structured)
		return nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
				 "metadata contexts need NBD_OPT_STRUCTURED_REPLY first");
	if (!nbd_hs_export_name(c, opt, data, len, 4, name, &nlen, &rc))
		return rc;
	pos = 4 + nlen;
	nq = get_be32(data + pos);
	pos += 4;
	for (uint32_t i = 0; i < nq; i++) {
		uint32_t qlen;
		int m;

		if (len - pos < 4)
			return nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
					 "%u queries do not fit the option", nq);
		qlen = get_be32(data + pos);
		pos += 4;
		if (qlen > len - pos || qlen > NBD_MAX_STRING)
			return nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
					 "query %u of %u bytes does not fit the option", i, qlen);
		m = query_matches(data + pos, qlen, set);
		if (m < 0)
			return nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
					 "query %u is not NAMESPACE:NAME", i);
		alloc |= m;
		pos += qlen;
	}
	if (pos != len)
		return nbd_hs_error(c, opt, NBD_REP_ERR_INVALID,
				 "option length %u does not match its %u queries", len, nq);
	if (!set && nq == 0)
		alloc = true;        /* LIST with no query: every context */
	rc = check_export(c, opt, name);
	if (rc)
		return rc < 0 ? rc : 0;   /* 1: refused, the error reply went out */
	if (alloc) {
		put_be32(r, set ? META_ALLOC_ID : 0);   /* LIST: the id is reserved, 0 */
		memcpy(r + 4, META_ALLOC_NAME, sizeof(META_ALLOC_NAME) - 1);
		rc = nbd_hs_reply(c, opt, NBD_REP_META_CONTEXT, r, sizeof(r));
		if (rc)
			return rc;
	}
	if (set && alloc) {
		c->meta_name = strdup(name);
		if (!c->meta_name)
			return -ENOMEM;
		c->meta_alloc = true;
	}
	return nbd_hs_reply(c, opt, NBD_REP_ACK, NULL, 0);
}

int nbd_meta_block_status(struct nbd_conn *c, uint64_t cookie, uint64_t off, uint32_t len,
			  bool req_one)
{
	uint64_t end = off + len, first, nblocks, pos;
	unsigned max = req_one ? 1 : NBD_META_MAX_EXTENTS, nd = 0;
	struct be_extent *ext;
	uint8_t *buf;
	int n;

	if (end - off > NBD_META_MAX_SCAN)
		end = off + NBD_META_MAX_SCAN;
	first = off >> BE_BLOCK_SHIFT;
	nblocks = ((end - 1) >> BE_BLOCK_SHIFT) - first + 1;
	ext = malloc(max * sizeof(*ext));
	buf = malloc(NBD_STRUCT_REPLY_LEN + 4 + 8 * (size_t)max);
	if (!ext || !buf) {
		free(ext);
		free(buf);
		return -ENOMEM;
	}
	n = be_block_status(c->be, first, nblocks, ext, max);
	if (n < 0) {
		free(ext);
		free(buf);
		return n == -ERANGE ? -EINVAL : n;
	}
	/* Extents are in whole blocks; the reply starts at @off and stops at
	 * the end asked for (a partial block has its block's state). */
	pos = off;
	for (int i = 0; i < n && pos < end; i++) {
		uint64_t e = (first + ext[i].nblocks) << BE_BLOCK_SHIFT;
		uint8_t *d = buf + NBD_STRUCT_REPLY_LEN + 4 + 8 * (size_t)nd++;

		first += ext[i].nblocks;
		if (e > end)
			e = end;
		put_be32(d, (uint32_t)(e - pos));
		put_be32(d + 4, ext[i].state & (BE_STATE_HOLE | BE_STATE_ZERO));
		pos = e;
	}
	put_be32(buf, NBD_STRUCTURED_REPLY_MAGIC);
	put_be16(buf + 4, NBD_REPLY_FLAG_DONE);
	put_be16(buf + 6, NBD_REPLY_TYPE_BLOCK_STATUS);
	put_be64(buf + 8, cookie);
	put_be32(buf + 16, 4 + 8 * nd);
	put_be32(buf + NBD_STRUCT_REPLY_LEN, META_ALLOC_ID);
	log_debug("block status %llu+%u: %u extents to %llu", (unsigned long long)off, len, nd,
		  (unsigned long long)pos);
	if (!c->dead)
		nbd_send(c, buf, NBD_STRUCT_REPLY_LEN + 4 + 8 * (size_t)nd);
	free(ext);
	free(buf);
	return 0;
}
