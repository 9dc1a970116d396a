/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_nbd.c - Description: the NBD server as a client sees it: the fixed
 * newstyle handshake (client flags, every option: EXPORT_NAME, GO, INFO,
 * LIST, ABORT, STRUCTURED_REPLY, unknown ones) and the transmission phase
 * (READ, WRITE, FLUSH, TRIM, CACHE, WRITE_ZEROES with FUA/NO_HOLE/FAST_ZERO
 * and DF, DISC, unknown commands), on a 1 MiB memory export.
 *
 * The connection is one end of a socketpair served synchronously on this
 * thread by nbd_handshake() then nbd_transmit(), as a connection thread of
 * nbd_server.c does; a helper thread plays the client: it writes the bytes
 * and reads every reply until the server hangs up.
 *
 * Input: byte 0 is a mode. Bit 0 clear: the rest is everything the client
 * sends from its first byte (client flags, then options). Bit 0 set: the
 * harness first sends a valid handshake (flags FIXED_NEWSTYLE|NO_ZEROES,
 * STRUCTURED_REPLY when bit 1 is set, GO to the export "" or, with bit 2,
 * the read-only export "ro") and the rest are transmission requests.
 * Exports: "" and "lun0" (read-write), "ro" (read-only), "busy" (refused
 * with a reason, as a LUN in superpipe mode is); anything else is unknown.
 *
 * Checks: every export reference taken is put back, and nothing is left
 * in flight when the connection ends.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "fuzz_util.h"
#include "nbd/nbd_internal.h"
#include "nbd/nbd_proto.h"
#include "util/byteorder.h"

static struct nbd_server *srv;
static struct backend *ram;
static int refs;   /* export references held */

static int exp_get(void *arg, const char *name, struct backend **be, bool *readonly, void **ref,
		   char *why, size_t len)
{
	(void)arg;
	if (!strcmp(name, "busy")) {
		snprintf(why, len, "LUN %s is in superpipe mode", name);
		return -EBUSY;
	}
	if (strcmp(name, "") && strcmp(name, "lun0") && strcmp(name, "ro"))
		return -ENOENT;
	*be = ram;
	*readonly = !strcmp(name, "ro");
	*ref = &refs;
	refs++;
	return 0;
}

static void exp_put(void *arg, void *ref)
{
	(void)arg;
	FUZZ_CHECK(ref == &refs && refs > 0);
	refs--;
}

static void exp_list(void *arg, void (*emit)(void *ctx, const char *name, const char *desc),
		     void *ctx)
{
	(void)arg;
	emit(ctx, "lun0", "ram:1M");
	emit(ctx, "ro", NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct nbd_export_provider prov = { exp_get, exp_put, exp_list, NULL };
	struct nbd_server_config cfg = { .queue_depth = 16, .handshake_timeout_ms = 10000 };
	struct be_spec spec;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (be_parse_spec("ram:1M", &spec) || be_open(&spec, &ram) ||
	    nbd_server_create(&cfg, &prov, &srv))
		abort();
	return 0;
}

struct client {
	int fd;
	const uint8_t *pre, *data;
	size_t npre, ndata;
};

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;   /* libFuzzer's SIGALRM */
		if (w <= 0)
			return;     /* the server hung up early: fine */
		p += w;
		n -= (size_t)w;
	}
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	static uint8_t sink[1 << 16];

	write_all(cl->fd, cl->pre, cl->npre);
	write_all(cl->fd, cl->data, cl->ndata);
	shutdown(cl->fd, SHUT_WR);
	for (;;) {
		ssize_t r = read(cl->fd, sink, sizeof(sink));

		if (r == 0 || (r < 0 && errno != EINTR))
			break;
	}
	return NULL;
}

/* A valid handshake: client flags, [STRUCTURED_REPLY], GO @name with no info requests. */
static size_t canned_handshake(uint8_t *b, bool structured, const char *name)
{
	size_t n = 0, nlen = strlen(name);

	put_be32(b, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	n = 4;
	if (structured) {
		put_be64(b + n, NBD_IHAVEOPT);
		put_be32(b + n + 8, NBD_OPT_STRUCTURED_REPLY);
		put_be32(b + n + 12, 0);
		n += 16;
	}
	put_be64(b + n, NBD_IHAVEOPT);
	put_be32(b + n + 8, NBD_OPT_GO);
	put_be32(b + n + 12, (uint32_t)(4 + nlen + 2));
	put_be32(b + n + 16, (uint32_t)nlen);
	memcpy(b + n + 20, name, nlen);
	put_be16(b + n + 20 + nlen, 0);
	return n + 22 + nlen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pre[64];
	struct client cl = { 0 };
	struct nbd_conn *c;
	pthread_t t;
	int sv[2], rc;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		cl.npre = canned_handshake(pre, data[0] & 2, data[0] & 4 ? "ro" : "");
	cl.pre = pre;
	cl.data = data + 1;
	cl.ndata = size - 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	cl.fd = sv[1];
	c = calloc(1, sizeof(*c));
	if (!c || pthread_create(&t, NULL, client_main, &cl))
		abort();
	c->srv = srv;
	c->fd = sv[0];

	rc = nbd_handshake(c);
	if (log_enabled(LOG_DEBUG))   /* FUZZ_VERBOSE=1 */
		dprintf(2, "fuzz_nbd: handshake %d%s\n", rc, rc == 1 ? ", transmission" : "");
	if (rc == 1)
		nbd_transmit(c);
	FUZZ_CHECK(c->inflight == 0 && c->inflight_bytes == 0);
	nbd_conn_put_export(c);
	FUZZ_CHECK(refs == 0);
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	free(c);
	return 0;
}
