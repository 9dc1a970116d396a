/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_nbd.c - Description: the NBD server as a client sees it: the fixed
 * newstyle handshake (client flags, every option: EXPORT_NAME, GO, INFO,
 * LIST, ABORT, STRUCTURED_REPLY, unknown ones) and the transmission phase
 * (READ, WRITE, FLUSH, TRIM, CACHE, WRITE_ZEROES with FUA/NO_HOLE/FAST_ZERO
 * and DF, DISC, unknown commands), on a 1 MiB memory export.
 *
 * The server is the real one (nbd_server_create/listen/start: its epoll
 * loop runs the handshake, a thread per connection the transmission) on a
 * Unix socket in /tmp; each input is one client connection: the harness
 * writes the bytes, half-closes, and reads every reply until the server
 * hangs up (it must, within 20 s).
 *
 * Input: byte 0 is a mode. Bit 0 clear: the rest is everything the client
 * sends from its first byte (client flags, then options). Bit 0 set: the
 * harness first sends a valid handshake (flags FIXED_NEWSTYLE|NO_ZEROES,
 * STRUCTURED_REPLY when bit 1 is set, GO to the export "" or, with bit 2,
 * the read-only export "ro") and the rest are transmission requests.
 * Exports: "" and "lun0" (read-write), "ro" (read-only), "busy" (refused
 * with a reason, as a LUN in superpipe mode is); anything else is unknown.
 *
 * Checks: the server ends every connection, and puts back every export
 * reference it took and forgets the connection soon after.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "fuzz_util.h"
#include "nbd/nbd_proto.h"
#include "nbd/nbd_server.h"
#include "util/byteorder.h"

static struct nbd_server *srv;
static struct backend *ram;
static int refs;   /* export references held (connection threads: atomic) */
static char sock_path[108];

static int exp_get(void *arg, const struct nbd_peer *peer, const char *name, struct backend **be,
		   bool *readonly, void **ref, char *why, size_t len)
{
	(void)arg;
	(void)peer;
	if (!strcmp(name, "busy")) {
		snprintf(why, len, "LUN %s is in superpipe mode", name);
		return -EBUSY;
	}
	if (strcmp(name, "") && strcmp(name, "lun0") && strcmp(name, "ro"))
		return -ENOENT;
	*be = ram;
	*readonly = !strcmp(name, "ro");
	*ref = &refs;
	__atomic_add_fetch(&refs, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void exp_put(void *arg, void *ref)
{
	(void)arg;
	FUZZ_CHECK(ref == &refs);
	FUZZ_CHECK(__atomic_sub_fetch(&refs, 1, __ATOMIC_SEQ_CST) >= 0);
}

static void exp_list(void *arg, const struct nbd_peer *peer,
		     void (*emit)(void *ctx, const char *name, const char *desc), void *ctx)
{
	(void)arg;
	(void)peer;
	emit(ctx, "lun0", "ram:1M");
	emit(ctx, "ro", NULL);
}

static void remove_socket(void)
{
	unlink(sock_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct nbd_export_provider prov = { exp_get, exp_put, exp_list, NULL };
	struct nbd_server_config cfg = { .queue_depth = 16, .handshake_timeout_ms = 10000 };
	struct be_spec spec;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(sock_path, sizeof(sock_path), "/tmp/cxlflash-fuzz-nbd-%d.sock", (int)getpid());
	if (be_parse_spec("ram:1M", &spec) || be_open(&spec, &ram) ||
	    nbd_server_create(&cfg, &prov, &srv) || nbd_server_listen_unix(srv, sock_path) ||
	    nbd_server_start(srv))
		abort();
	atexit(remove_socket);
	return 0;
}

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

/* Read and drop replies until the server hangs up; it must within 20 s. */
static void read_to_eof(int fd)
{
	static uint8_t sink[1 << 16];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 20000);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r != 1) {
			dprintf(2, "fuzz_nbd: the server kept the connection open for 20 s\n");
			abort();
		}
		n = read(fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
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
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t pre[64];
	size_t npre = 0;
	int fd;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		npre = canned_handshake(pre, data[0] & 2, data[0] & 4 ? "ro" : "");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		abort();
	write_all(fd, pre, npre);
	write_all(fd, data + 1, size - 1);
	shutdown(fd, SHUT_WR);
	read_to_eof(fd);
	close(fd);
	/* The connection's thread puts its export back after it hangs up. */
	for (int i = 0; i < 20000; i++) {
		if (__atomic_load_n(&refs, __ATOMIC_SEQ_CST) == 0 &&
		    nbd_server_conn_count(srv) == 0)
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	dprintf(2, "fuzz_nbd: %d export references, %u connections 20 s after the hang-up\n",
		refs, nbd_server_conn_count(srv));
	abort();
}
