/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_tls.c - TLS for the NBD server with GnuTLS (see nbd_tls.h and the TLS
 * section of docs/nbd.md).
 *
 * The handshake runs on the loop thread like the rest of the option
 * haggling: the socket is non-blocking, gnutls_handshake() returns
 * GNUTLS_E_AGAIN when it must wait and the loop waits in epoll for the
 * direction GnuTLS needs, under the handshake's deadline. Replies queued in
 * c->out go out as records; a record GnuTLS could not finish is completed
 * by calling gnutls_record_send() again with no data. In the transmission
 * phase the socket blocks; reads take what one record holds (callers loop)
 * and writes gather small pieces into one record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nbd/nbd_internal.h"
#include "nbd/nbd_proto.h"
#include "nbd/nbd_tls.h"
#include "util/log.h"

int nbd_tls_parse_mode(const char *s, enum nbd_tls_mode *mode)
{
	if (!strcmp(s, "off") || !strcmp(s, "no"))
		*mode = NBD_TLS_OFF;
	else if (!strcmp(s, "on") || !strcmp(s, "yes"))
		*mode = NBD_TLS_ON;
	else if (!strcmp(s, "require"))
		*mode = NBD_TLS_REQUIRE;
	else
		return -EINVAL;
	return 0;
}

/* What every build checks the same way: TLS asked for needs credentials,
 * credentials need TLS asked for. */
static int check_config(const struct nbd_server_config *cfg)
{
	bool creds = cfg->tls_certs || cfg->tls_psk_file;

	if (cfg->tls == NBD_TLS_OFF) {
		if (creds || cfg->tls_verify_peer) {
			log_err("NBD: TLS credentials (a certificate directory, a PSK file or peer "
				"verification) were given but TLS is off: set the TLS mode to on or "
				"require");
			return -EINVAL;
		}
		return 1;   /* nothing to do */
	}
	if (!creds) {
		log_err("NBD: TLS %s needs credentials: a certificate directory, a PSK file, "
			"or both", cfg->tls == NBD_TLS_REQUIRE ? "require" : "on");
		return -EINVAL;
	}
	if (cfg->tls_verify_peer && !cfg->tls_certs) {
		log_err("NBD: verifying client certificates needs the certificate directory "
			"(its ca-cert.pem)");
		return -EINVAL;
	}
	return 0;
}

#ifndef CXLFLASH_HAVE_GNUTLS

bool nbd_tls_available(void)
{
	return false;
}

int nbd_tls_server_init(struct nbd_server *srv)
{
	int rc = check_config(&srv->cfg);

	if (rc)
		return rc < 0 ? rc : 0;
	log_err("NBD: TLS asked for, but cxlflash was built without GnuTLS (install "
		"libgnutls28-dev and rebuild)");
	return -ENOTSUP;
}

void nbd_tls_server_free(struct nbd_server *srv)
{
	(void)srv;
}

uint32_t nbd_tls_gate(struct nbd_conn *c, uint32_t opt, uint32_t len, char *why, size_t wlen)
{
	(void)c;
	(void)len;
	if (opt != NBD_OPT_STARTTLS)
		return 0;
	snprintf(why, wlen, "TLS is not supported by this server (built without GnuTLS)");
	return NBD_REP_ERR_UNSUP;
}

int nbd_tls_handshake(struct nbd_conn *c)
{
	(void)c;
	return -ENOTSUP;
}

bool nbd_tls_want_write(struct nbd_conn *c)
{
	(void)c;
	return false;
}

ssize_t nbd_tls_recv(struct nbd_conn *c, void *buf, size_t len)
{
	(void)c;
	(void)buf;
	(void)len;
	return -ENOTSUP;
}

int nbd_tls_flush_out(struct nbd_conn *c)
{
	(void)c;
	return -ENOTSUP;
}

int nbd_tls_sendv(struct nbd_conn *c, const struct iovec *iov, int n)
{
	(void)c;
	(void)iov;
	(void)n;
	return -ENOTSUP;
}

bool nbd_tls_pending(struct nbd_conn *c)
{
	(void)c;
	return false;
}

void nbd_tls_bye(struct nbd_conn *c)
{
	(void)c;
}

void nbd_tls_conn_free(struct nbd_conn *c)
{
	(void)c;
}

#else /* CXLFLASH_HAVE_GNUTLS */

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define TLS_STAGE   (16u << 10)   /* one full record of plaintext */
#define PSK_KEY_MAX 512           /* bytes */

struct psk_entry {
	char *user;
	uint8_t *key;
	size_t klen;
};

struct nbd_tls_creds {
	gnutls_certificate_credentials_t x509;   /* or NULL */
	gnutls_psk_server_credentials_t psk;     /* or NULL */
	gnutls_priority_t prio;
	struct psk_entry *keys;
	size_t nkeys;
	bool verify_peer;
	bool require;
};

struct nbd_tls_sess {
	gnutls_session_t s;
	bool up;                  /* the handshake is done */
	bool wpending;            /* a record send must be finished (EAGAIN) */
	size_t wlen;              /* the length of that send */
	uint8_t *stage;           /* transmission: small pieces gathered */
};

bool nbd_tls_available(void)
{
	return true;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void free_keys(struct nbd_tls_creds *t)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		free(t->keys[i].user);
		if (t->keys[i].key)
			memset(t->keys[i].key, 0, t->keys[i].klen);
		free(t->keys[i].key);
	}
	free(t->keys);
	t->keys = NULL;
	t->nkeys = 0;
}

/* psktool's file: "username:hexkey" per line. Read once, at start. */
static int load_psk(struct nbd_tls_creds *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	unsigned lineno = 0;
	struct stat st;
	int rc = 0;

	if (!f) {
		rc = -errno;
		log_err("NBD: TLS PSK file %s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
		log_notice("NBD: TLS PSK file %s is readable by others (mode %04o): its keys "
			   "are secrets", path, (unsigned)(st.st_mode & 07777));
	while (!rc && fgets(line, sizeof(line), f)) {
		char *colon, *hex;
		size_t hlen;
		struct psk_entry *e;

		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		hex = colon ? colon + 1 : NULL;
		hlen = hex ? strlen(hex) : 0;
		if (!colon || colon == line || (size_t)(colon - line) >= NBD_TLS_ID_MAX || !hlen ||
		    hlen % 2 || hlen / 2 > PSK_KEY_MAX) {
			log_err("NBD: TLS PSK file %s:%u: not a \"username:hexkey\" line", path,
				lineno);
			rc = -EINVAL;
			break;
		}
		e = realloc(t->keys, (t->nkeys + 1) * sizeof(*e));
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		t->keys = e;
		e = &t->keys[t->nkeys];
		e->user = strndup(line, (size_t)(colon - line));
		e->key = malloc(hlen / 2);
		e->klen = hlen / 2;
		t->nkeys++;
		if (!e->user || !e->key) {
			rc = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < e->klen; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				log_err("NBD: TLS PSK file %s:%u: the key is not hexadecimal", path,
					lineno);
				rc = -EINVAL;
				break;
			}
			e->key[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	memset(line, 0, sizeof(line));
	fclose(f);
	if (!rc && !t->nkeys) {
		log_err("NBD: TLS PSK file %s has no keys", path);
		rc = -EINVAL;
	}
	return rc;
}

/* GnuTLS asks for @user's key (the handshake, on the loop thread). */
static int psk_lookup(gnutls_session_t s, const char *user, gnutls_datum_t *key)
{
	struct nbd_conn *c = gnutls_session_get_ptr(s);
	struct nbd_tls_creds *t = c->srv->tls;

	for (size_t i = 0; i < t->nkeys; i++) {
		if (strcmp(t->keys[i].user, user))
			continue;
		key->data = gnutls_malloc(t->keys[i].klen);
		if (!key->data)
			return -1;
		memcpy(key->data, t->keys[i].key, t->keys[i].klen);
		key->size = (unsigned)t->keys[i].klen;
		return 0;
	}
	log_notice("NBD client %s: unknown TLS PSK username '%.64s'", c->peer.addr, user);
	return -1;
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int load_x509(struct nbd_tls_creds *t, const char *dir)
{
	char ca[4096], crl[4096], cert[4096], key[4096];
	int g;

	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", dir);
	snprintf(crl, sizeof(crl), "%s/ca-crl.pem", dir);
	snprintf(cert, sizeof(cert), "%s/server-cert.pem", dir);
	snprintf(key, sizeof(key), "%s/server-key.pem", dir);
	g = gnutls_certificate_allocate_credentials(&t->x509);
	if (g < 0)
		goto gnutls_fail;
	g = gnutls_certificate_set_x509_key_file(t->x509, cert, key, GNUTLS_X509_FMT_PEM);
	if (g < 0) {
		log_err("NBD: TLS: cannot load %s and %s: %s", cert, key, gnutls_strerror(g));
		return -EINVAL;
	}
	if (file_exists(ca)) {
		g = gnutls_certificate_set_x509_trust_file(t->x509, ca, GNUTLS_X509_FMT_PEM);
		if (g <= 0) {
			log_err("NBD: TLS: cannot load the CA certificate %s: %s", ca,
				g < 0 ? gnutls_strerror(g) : "no certificate in it");
			return -EINVAL;
		}
	} else if (t->verify_peer) {
		log_err("NBD: TLS: verifying client certificates needs %s", ca);
		return -ENOENT;
	}
	if (file_exists(crl)) {
		g = gnutls_certificate_set_x509_crl_file(t->x509, crl, GNUTLS_X509_FMT_PEM);
		if (g < 0) {
			log_err("NBD: TLS: cannot load the CRL %s: %s", crl, gnutls_strerror(g));
			return -EINVAL;
		}
	}
	gnutls_certificate_set_known_dh_params(t->x509, GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
gnutls_fail:
	log_err("NBD: TLS: %s", gnutls_strerror(g));
	return -ENOMEM;
}

int nbd_tls_server_init(struct nbd_server *srv)
{
	const struct nbd_server_config *cfg = &srv->cfg;
	struct nbd_tls_creds *t;
	int rc = check_config(cfg), g;

	if (rc)
		return rc < 0 ? rc : 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	srv->tls = t;
	t->verify_peer = cfg->tls_verify_peer;
	t->require = cfg->tls == NBD_TLS_REQUIRE;
	if (cfg->tls_certs) {
		rc = load_x509(t, cfg->tls_certs);
		if (rc)
			goto fail;
	}
	if (cfg->tls_psk_file) {
		rc = load_psk(t, cfg->tls_psk_file);
		if (rc)
			goto fail;
		g = gnutls_psk_allocate_server_credentials(&t->psk);
		if (g < 0) {
			rc = -ENOMEM;
			goto fail;
		}
		gnutls_psk_set_server_credentials_function(t->psk, psk_lookup);
		gnutls_psk_set_server_known_dh_params(t->psk, GNUTLS_SEC_PARAM_MEDIUM);
	}
	/* The usual suites; with a PSK file the PSK key exchanges too (what
	 * libnbd and QEMU offer as PSK clients). */
	g = gnutls_priority_init(&t->prio, t->psk ? "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK" : "NORMAL",
				 NULL);
	if (g < 0) {
		log_err("NBD: TLS priorities: %s", gnutls_strerror(g));
		rc = -EINVAL;
		goto fail;
	}
	log_info("NBD: TLS %s (%s%s%s%s)", t->require ? "required" : "offered",
		 t->x509 ? "certificates" : "", t->x509 && t->psk ? " and " : "",
		 t->psk ? "PSK" : "", t->verify_peer ? ", client certificates verified" : "");
	return 0;
fail:
	nbd_tls_server_free(srv);
	return rc;
}

void nbd_tls_server_free(struct nbd_server *srv)
{
	struct nbd_tls_creds *t = srv->tls;

	if (!t)
		return;
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	if (t->x509)
		gnutls_certificate_free_credentials(t->x509);
	if (t->psk)
		gnutls_psk_free_server_credentials(t->psk);
	free_keys(t);
	free(t);
	srv->tls = NULL;
}

uint32_t nbd_tls_gate(struct nbd_conn *c, uint32_t opt, uint32_t len, char *why, size_t wlen)
{
	struct nbd_tls_creds *t = c->srv->tls;

	if (opt == NBD_OPT_STARTTLS) {
		if (!t) {
			snprintf(why, wlen, "TLS is not enabled on this server");
			return NBD_REP_ERR_UNSUP;
		}
		if (c->tls) {
			snprintf(why, wlen, "TLS is already on");
			return NBD_REP_ERR_INVALID;
		}
		if (len) {
			snprintf(why, wlen, "STARTTLS takes no data (got %u bytes)", len);
			return NBD_REP_ERR_INVALID;
		}
		return 0;
	}
	if (!t || !t->require || c->tls || opt == NBD_OPT_ABORT)
		return 0;
	snprintf(why, wlen, "TLS is required: negotiate NBD_OPT_STARTTLS first (an nbds:// or "
		 "nbds+unix:// URI with TLS credentials)");
	nbd_log_refused(NBD_REFUSED_TLS, "NBD client %s: option %u refused: plain connection, "
			"TLS is required", c->peer.addr, opt);
	return NBD_REP_ERR_TLS_REQD;
}

static int sess_new(struct nbd_conn *c)
{
	struct nbd_tls_creds *t = c->srv->tls;
	struct nbd_tls_sess *ts = calloc(1, sizeof(*ts));
	int g;

	if (!ts)
		return -ENOMEM;
	c->tls = ts;
	g = gnutls_init(&ts->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (g < 0) {
		ts->s = NULL;
		log_err("NBD: TLS session: %s", gnutls_strerror(g));
		return -ENOMEM;
	}
	gnutls_session_set_ptr(ts->s, c);
	g = gnutls_priority_set(ts->s, t->prio);
	if (!g && t->x509)
		g = gnutls_credentials_set(ts->s, GNUTLS_CRD_CERTIFICATE, t->x509);
	if (!g && t->psk)
		g = gnutls_credentials_set(ts->s, GNUTLS_CRD_PSK, t->psk);
	if (g < 0) {
		log_err("NBD: TLS session: %s", gnutls_strerror(g));
		return -EINVAL;
	}
	if (t->verify_peer) {
		/* Certificate key exchanges need a client certificate the CA
		 * signed; GnuTLS checks it in the handshake. */
		gnutls_certificate_server_set_request(ts->s, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert(ts->s, NULL, 0);
	}
	/* The loop's own deadline bounds the handshake. */
	gnutls_handshake_set_timeout(ts->s, 0);
	gnutls_transport_set_int(ts->s, c->fd);
	return 0;
}

/* A verified client certificate's DN and CN into c->peer. */
static int peer_cert(struct nbd_conn *c)
{
	gnutls_session_t s = c->tls->s;
	const gnutls_datum_t *list;
	unsigned n = 0, status = 0;
	gnutls_x509_crt_t crt;
	size_t sz;
	int g;

	g = gnutls_certificate_verify_peers2(s, &status);
	list = gnutls_certificate_get_peers(s, &n);
	if (g < 0 || status || !list || !n) {
		log_notice("NBD client %s: TLS client certificate %s", c->peer.addr,
			   !list || !n ? "missing" : "not trusted");
		return -EACCES;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	g = gnutls_x509_crt_import(crt, &list[0], GNUTLS_X509_FMT_DER);
	if (g >= 0) {
		sz = sizeof(c->peer.tls_dn);
		g = gnutls_x509_crt_get_dn(crt, c->peer.tls_dn, &sz);
	}
	if (g >= 0) {
		sz = sizeof(c->peer.tls_cn);
		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
						  c->peer.tls_cn, &sz) < 0)
			c->peer.tls_cn[0] = 0;
	}
	gnutls_x509_crt_deinit(crt);
	if (g < 0) {
		log_notice("NBD client %s: TLS client certificate unreadable: %s", c->peer.addr,
			   gnutls_strerror(g));
		return -EACCES;
	}
	return 0;
}

/* The handshake is done: who the client proved to be, and whom the
 * embedder makes of it. */
static int tls_identity(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;
	struct nbd_peer *p = &c->peer;
	size_t alen = strlen(p->addr);
	int rc;

	p->tls = true;
	switch (gnutls_auth_get_type(c->tls->s)) {
	case GNUTLS_CRD_PSK: {
		const char *u = gnutls_psk_server_get_username(c->tls->s);

		snprintf(p->tls_psk, sizeof(p->tls_psk), "%s", u ? u : "");
		break;
	}
	case GNUTLS_CRD_CERTIFICATE:
		if (srv->tls->verify_peer) {
			rc = peer_cert(c);
			if (rc)
				return rc;
		}
		break;
	default:
		break;
	}
	if (p->tls_psk[0])
		snprintf(p->addr + alen, sizeof(p->addr) - alen, " tls:psk:%.60s", p->tls_psk);
	else if (p->tls_dn[0])
		snprintf(p->addr + alen, sizeof(p->addr) - alen, " tls:dn:%.80s", p->tls_dn);
	else
		snprintf(p->addr + alen, sizeof(p->addr) - alen, " tls");
	if (!p->identified && (p->tls_psk[0] || p->tls_dn[0]) && srv->prov.tls_identify)
		srv->prov.tls_identify(srv->prov.arg, p);
	log_info("NBD client %s: TLS %s, %s", p->addr,
		 gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls->s)) ?: "?",
		 p->tls_mapped ? "mapped to a user" : p->identified ? "identified by the kernel"
		 : "not mapped to a user");
	return 0;
}

int nbd_tls_handshake(struct nbd_conn *c)
{
	int g, rc;

	if (!c->tls) {
		rc = sess_new(c);
		if (rc)
			return rc;
	}
	for (;;) {
		g = gnutls_handshake(c->tls->s);
		if (g == GNUTLS_E_SUCCESS)
			break;
		if (g == GNUTLS_E_AGAIN)
			return -EAGAIN;
		if (g == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(g))
			continue;
		log_notice("NBD client %s: TLS handshake failed: %s", c->peer.addr,
			   gnutls_strerror(g));
		return -EPROTO;
	}
	c->tls->up = true;
	/* What was negotiated in the clear does not carry over. */
	c->structured = false;
	nbd_meta_reset(c);       /* and the selected metadata context */
	return tls_identity(c);
}

bool nbd_tls_want_write(struct nbd_conn *c)
{
	return c->tls && gnutls_record_get_direction(c->tls->s) == 1;
}

ssize_t nbd_tls_recv(struct nbd_conn *c, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = gnutls_record_recv(c->tls->s, buf, len);

		if (n >= 0)
			return n;
		switch (n) {
		case GNUTLS_E_INTERRUPTED:
			continue;
		case GNUTLS_E_AGAIN:
			return -EAGAIN;
		case GNUTLS_E_PREMATURE_TERMINATION:
			return 0;   /* a close without close_notify: an EOF to us */
		case GNUTLS_E_REHANDSHAKE:
			/* A TLS 1.2 client asking to renegotiate: not done. */
			log_info("NBD client %s: TLS renegotiation refused", c->peer.addr);
			return -EPROTO;
		default:
			if (!gnutls_error_is_fatal((int)n))
				continue;
			log_info("NBD client %s: TLS: %s", c->peer.addr, gnutls_strerror((int)n));
			return -ECONNRESET;
		}
	}
}

int nbd_tls_flush_out(struct nbd_conn *c)
{
	struct nbd_tls_sess *ts = c->tls;

	while (c->out_off < c->out_len) {
		ssize_t w;

		if (ts->wpending)
			w = gnutls_record_send(ts->s, NULL, 0);
		else
			w = gnutls_record_send(ts->s, c->out + c->out_off, c->out_len - c->out_off);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
			ts->wpending = true;
			if (w == GNUTLS_E_AGAIN)
				return -EAGAIN;
			continue;
		}
		ts->wpending = false;
		if (w < 0) {
			c->dead = true;
			return -EPIPE;
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/* All of @buf as records (blocking socket). */
static int send_all(struct nbd_conn *c, const uint8_t *buf, size_t len)
{
	struct nbd_tls_sess *ts = c->tls;

	while (len) {
		ssize_t w = ts->wpending ? gnutls_record_send(ts->s, NULL, 0)
					 : gnutls_record_send(ts->s, buf, len);

		if (w == GNUTLS_E_INTERRUPTED) {
			ts->wpending = true;
			continue;
		}
		ts->wpending = false;
		if (w < 0) {
			c->dead = true;
			return w == GNUTLS_E_AGAIN ? -ETIMEDOUT : -EPIPE;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int nbd_tls_sendv(struct nbd_conn *c, const struct iovec *iov, int n)
{
	struct nbd_tls_sess *ts = c->tls;
	size_t fill = 0;
	int rc;

	if (!ts->stage) {
		ts->stage = malloc(TLS_STAGE);
		if (!ts->stage) {
			c->dead = true;
			return -ENOMEM;
		}
	}
	/* A reply's header and its data in as few records as may be: every
	 * byte passes through the stage, which is flushed when full. */
	for (int i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left) {
			size_t k = TLS_STAGE - fill < left ? TLS_STAGE - fill : left;

			memcpy(ts->stage + fill, p, k);
			fill += k;
			p += k;
			left -= k;
			if (fill == TLS_STAGE) {
				rc = send_all(c, ts->stage, fill);
				if (rc)
					return rc;
				fill = 0;
			}
		}
	}
	return fill ? send_all(c, ts->stage, fill) : 0;
}

bool nbd_tls_pending(struct nbd_conn *c)
{
	return c->tls && c->tls->up && gnutls_record_check_pending(c->tls->s) > 0;
}

void nbd_tls_bye(struct nbd_conn *c)
{
	if (c->tls && c->tls->up && !c->dead)
		gnutls_bye(c->tls->s, GNUTLS_SHUT_WR);
}

void nbd_tls_conn_free(struct nbd_conn *c)
{
	struct nbd_tls_sess *ts = c->tls;

	if (!ts)
		return;
	if (ts->s)
		gnutls_deinit(ts->s);
	free(ts->stage);
	free(ts);
	c->tls = NULL;
}

#endif /* CXLFLASH_HAVE_GNUTLS */
