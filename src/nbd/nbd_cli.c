/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_cli.c - `cxlflash nbd [options] LUN`: the embedded case of legacy
 * mode. Opens one LUN (taking the same cross-process lock as the embedded
 * master, so no superpipe program can open it meanwhile), exports it under
 * one name on a Unix socket and/or TCP, optionally with TLS, and serves
 * until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "master/lunlock.h"
#include "nbd/nbd_cli.h"
#include "nbd/nbd_server.h"

#define DEFAULT_TCP_ADDR "127.0.0.1"
#define DEFAULT_TCP_PORT 10809       /* the port IANA assigned to NBD */
#define MAX_SOCKETS      4

/* The one export: its name, backend and how many clients use it. */
struct cli_export {
	const char *name;
	struct backend *be;
	bool readonly;
	atomic_uint users;
};

static int cli_get(void *arg, const struct nbd_peer *peer, const char *name,
		   struct backend **be, bool *readonly, void **ref, char *why, size_t len)
{
	struct cli_export *e = arg;

	(void)peer;   /* whoever reaches the sockets: the user chose where to listen */
	/* "" is the default export: the only one. */
	if (name[0] && strcmp(name, e->name)) {
		snprintf(why, len, "no export named '%s' (this server exports '%s')", name,
			 e->name);
		return -ENOENT;
	}
	*be = e->be;
	*readonly = e->readonly;
	*ref = e;
	atomic_fetch_add(&e->users, 1);
	return 0;
}

static void cli_put(void *arg, void *ref)
{
	struct cli_export *e = arg;

	(void)ref;
	atomic_fetch_sub(&e->users, 1);
}

static void cli_list(void *arg, const struct nbd_peer *peer,
		     void (*emit)(void *, const char *, const char *), void *ctx)
{
	struct cli_export *e = arg;

	(void)peer;
	emit(ctx, e->name, e->be->id);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cxlflash nbd [--socket PATH] [--tcp [ADDR:]PORT] [--name EXPORT]\n"
		"                    [--readonly] [--queue-depth N] [--no-block-status]\n"
		"                    [--tls off|on|require]\n"
		"                    [--tls-certs DIR] [--tls-psk FILE] [--tls-verify-peer] LUN\n"
		"Serve LUN as a disk over the NBD protocol until SIGINT or SIGTERM (legacy\n"
		"mode without a daemon). The LUN is locked like an embedded superpipe open,\n"
		"so no superpipe program can open it while it is served.\n"
		"\n"
		"  LUN                  ram:SIZE, null:SIZE, file:PATH?size=SIZE or a path\n"
		"  -s, --socket PATH    listen on a Unix socket (may be repeated)\n"
		"  -t, --tcp ADDR:PORT  listen on TCP (may be repeated); ADDR defaults to\n"
		"                       %s, [ADDR] for IPv6, PORT 0 picks a free port\n"
		"  -n, --name EXPORT    export name (default: the LUN string); clients may\n"
		"                       also ask for \"\" (the default export)\n"
		"  -r, --readonly       refuse writes (NBD_FLAG_READ_ONLY)\n"
		"  -q, --queue-depth N  requests in flight per client (default 128)\n"
		"      --no-block-status\n"
		"                       offer no metadata context (base:allocation):\n"
		"                       clients then read holes as data\n"
		"      --tls MODE       TLS (NBD_OPT_STARTTLS): off (default), on (offered;\n"
		"                       plain clients served too) or require (plain clients\n"
		"                       refused with NBD_REP_ERR_TLS_REQD)\n"
		"      --tls-certs DIR  X.509: DIR/server-cert.pem, server-key.pem, ca-cert.pem,\n"
		"                       ca-crl.pem (optional) as qemu-nbd names them\n"
		"      --tls-psk FILE   pre-shared keys: psktool's username:hexkey lines\n"
		"      --tls-verify-peer  clients must show a certificate ca-cert.pem signed\n"
		"  -h, --help           this help\n"
		"\n"
		"With neither --socket nor --tcp it listens on TCP %s:%d.\n"
		"It prints one line per listener, e.g.\n"
		"  listening: unix:/run/lun0.sock uri:nbd+unix:///lun0?socket=/run/lun0.sock\n"
		"  listening: tcp:127.0.0.1:10809 uri:nbd://127.0.0.1:10809/lun0\n"
		"Exit status: 0 after a signal, 1 on failure, 2 on bad usage.\n",
		DEFAULT_TCP_ADDR, DEFAULT_TCP_ADDR, DEFAULT_TCP_PORT);
}

/* "ADDR:PORT", "[V6]:PORT", ":PORT" or "PORT" into @addr / @port. */
static int parse_tcp(const char *s, char *addr, size_t alen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *p = colon ? colon + 1 : s;
	char *end;
	unsigned long v;
	size_t n = colon ? (size_t)(colon - s) : 0;

	errno = 0;
	v = strtoul(p, &end, 10);
	if (!*p || *end || errno || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0) {
		snprintf(addr, alen, "%s", DEFAULT_TCP_ADDR);
		return 0;
	}
	if (n >= alen)
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = 0;
	return 0;
}

struct cli_opts {
	const char *sockets[MAX_SOCKETS];
	const char *tcps[MAX_SOCKETS];
	int nsockets, ntcps;
	const char *name;
	bool readonly;
	bool no_block_status;
	unsigned qd;
	const char *lun;
	enum nbd_tls_mode tls;
	const char *tls_certs, *tls_psk;
	bool tls_verify_peer;
};

static int parse_args(int argc, char **argv, struct cli_opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "tcp", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "queue-depth", required_argument, NULL, 'q' },
		{ "no-block-status", no_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ "tls", required_argument, NULL, 1 },
		{ "tls-certs", required_argument, NULL, 2 },
		{ "tls-psk", required_argument, NULL, 3 },
		{ "tls-verify-peer", no_argument, NULL, 4 },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:t:n:rq:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
		case 't':
			if ((ch == 's' ? o->nsockets : o->ntcps) == MAX_SOCKETS) {
				fprintf(stderr, "cxlflash nbd: at most %d of each listener\n",
					MAX_SOCKETS);
				return 2;
			}
			if (ch == 's')
				o->sockets[o->nsockets++] = optarg;
			else
				o->tcps[o->ntcps++] = optarg;
			break;
		case 'n':
			if (strlen(optarg) > NBD_EXPORT_NAME_MAX) {
				fprintf(stderr, "cxlflash nbd: export name longer than %d bytes\n",
					NBD_EXPORT_NAME_MAX);
				return 2;
			}
			o->name = optarg;
			break;
		case 'r':
			o->readonly = true;
			break;
		case 'q': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (!*optarg || *end || v < 1 || v > 1024) {
				fprintf(stderr, "cxlflash nbd: --queue-depth wants 1..1024, not '%s'\n",
					optarg);
				return 2;
			}
			o->qd = (unsigned)v;
			break;
		}
		case 'B':
			o->no_block_status = true;
			break;
		case 1:
			if (nbd_tls_parse_mode(optarg, &o->tls)) {
				fprintf(stderr, "cxlflash nbd: --tls wants off, on or require, not "
					"'%s'\n", optarg);
				return 2;
			}
			break;
		case 2:
			o->tls_certs = optarg;
			break;
		case 3:
			o->tls_psk = optarg;
			break;
		case 4:
			o->tls_verify_peer = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, optind < argc ? "cxlflash nbd: one LUN only ('%s' is extra)\n"
			: "cxlflash nbd: which LUN? (try --help)\n%s",
			optind < argc ? argv[optind + 1] : "");
		return 2;
	}
	o->lun = argv[optind];
	if (!o->name)
		o->name = o->lun;
	if ((o->tls != NBD_TLS_OFF || o->tls_certs || o->tls_psk || o->tls_verify_peer) &&
	    !nbd_tls_available()) {
		fprintf(stderr, "cxlflash nbd: TLS asked for, but this cxlflash was built without "
			"GnuTLS (install libgnutls28-dev and rebuild)\n");
		return 1;
	}
	return -1;
}

/* Listen where asked; print each listener. Return 0 or an exit status. */
static int listen_all(struct nbd_server *srv, const struct cli_opts *o)
{
	char addr[256];
	uint16_t port, bound = 0;
	int rc;

	for (int i = 0; i < o->nsockets; i++) {
		rc = nbd_server_listen_unix(srv, o->sockets[i]);
		if (rc) {
			fprintf(stderr, "cxlflash nbd: cannot listen on %s: %s\n", o->sockets[i],
				strerror(-rc));
			return 1;
		}
		printf("listening: unix:%s uri:%s:///%s?socket=%s\n", o->sockets[i],
		       o->tls == NBD_TLS_OFF ? "nbd+unix" : "nbds+unix", o->name, o->sockets[i]);
	}
	for (int i = 0; i < o->ntcps || (i == 0 && !o->nsockets); i++) {
		if (i < o->ntcps) {
			if (parse_tcp(o->tcps[i], addr, sizeof(addr), &port)) {
				fprintf(stderr, "cxlflash nbd: --tcp wants [ADDR:]PORT, not '%s'\n",
					o->tcps[i]);
				return 2;
			}
		} else {
			snprintf(addr, sizeof(addr), "%s", DEFAULT_TCP_ADDR);
			port = DEFAULT_TCP_PORT;
		}
		rc = nbd_server_listen_tcp(srv, addr, port, &bound);
		if (rc) {
			fprintf(stderr, "cxlflash nbd: cannot listen on TCP %s:%u: %s\n", addr, port,
				strerror(-rc));
			return 1;
		}
		printf(strchr(addr, ':') ? "listening: tcp:[%s]:%u uri:%s://[%s]:%u/%s\n"
					 : "listening: tcp:%s:%u uri:%s://%s:%u/%s\n",
		       addr, bound, o->tls == NBD_TLS_OFF ? "nbd" : "nbds", addr, bound, o->name);
	}
	return 0;
}

int nbd_cli_main(int argc, char **argv)
{
	struct cli_opts o = { 0 };
	struct cli_export exp = { 0 };
	struct nbd_server_config cfg = { 0 };
	struct nbd_export_provider prov = { cli_get, cli_put, cli_list, &exp };
	struct nbd_server *srv = NULL;
	struct be_spec spec;
	struct backend *be = NULL;
	sigset_t sigs;
	int rc, sig, status = 1;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (be_parse_spec(o.lun, &spec))
		return 2;
	spec.readonly = o.readonly;
	rc = be_open(&spec, &be);
	if (rc) {
		fprintf(stderr, "cxlflash nbd: cannot open LUN %s: %s\n", o.lun, strerror(-rc));
		return 1;
	}
	rc = lun_lock(be, o.lun, o.readonly);
	if (rc) {
		fprintf(stderr, "cxlflash nbd: LUN %s: %s\n", o.lun, strerror(-rc));
		goto out_close;
	}
	exp.name = o.name;
	exp.be = be;
	exp.readonly = o.readonly;

	/* Signals go to sigwait() below, never to a server thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	cfg.queue_depth = o.qd;
	cfg.no_block_status = o.no_block_status;
	cfg.tls = o.tls;
	cfg.tls_certs = o.tls_certs;
	cfg.tls_psk_file = o.tls_psk;
	cfg.tls_verify_peer = o.tls_verify_peer;
	rc = nbd_server_create(&cfg, &prov, &srv);
	if (rc) {
		fprintf(stderr, "cxlflash nbd: cannot start the server: %s\n", strerror(-rc));
		goto out_close;
	}
	status = listen_all(srv, &o);
	if (status)
		goto out_destroy;
	rc = nbd_server_start(srv);
	if (rc) {
		fprintf(stderr, "cxlflash nbd: cannot start: %s\n", strerror(-rc));
		status = 1;
		goto out_destroy;
	}
	printf("serving: lun:%s export:%s size:%" PRIu64 " readonly:%d\n", o.lun, o.name,
	       be->nblocks << BE_BLOCK_SHIFT, o.readonly);
	fflush(stdout);
	do
		rc = sigwait(&sigs, &sig);
	while (rc == EINTR);
	fprintf(stderr, "cxlflash nbd: %s, stopping\n", strsignal(sig));
	status = 0;
out_destroy:
	fflush(stdout);
	nbd_server_destroy(srv);
	/* Clients may have written without FLUSH: make it durable anyway. */
	if (!status && !o.readonly && be_flush_sync(be))
		status = 1;
out_close:
	be_close(be);
	return status;
}
