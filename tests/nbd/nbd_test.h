/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_test.h - helpers for the NBD tests: start and stop `cxlflash nbd`
 * as a process, run a client program, serve an in-process nbd_server, and a
 * small raw-socket NBD client written from the protocol document (for the
 * malformed-input, concurrency and durability tests).
 */
#ifndef CXLFLASH_TESTS_NBD_TEST_H
#define CXLFLASH_TESTS_NBD_TEST_H

#include "t_tool.h"
#include "t_util.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "nbd/nbd_proto.h"
#include "nbd/nbd_server.h"
#include "util/byteorder.h"

/* ---- programs ---- */

static inline bool nt_have(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

static inline const char *nt_tool(void)
{
	static char tool[4096];
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	struct stat st;

	snprintf(tool, sizeof(tool), "%s/../tools/cxlflash", dir && *dir ? dir : "build/testdata");
	T_SKIP_IF(stat(tool, &st) != 0, "the cxlflash binary is not built");
	return tool;
}

/* "   $ ARGV -> STATUS" on stderr: what a test ran and how it ended. */
static inline void nt_show(const char *const *argv, int rc)
{
	fprintf(stderr, "   $");
	for (int i = 0; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, " -> %d\n", rc);
}

/* Run @argv (argv[0] looked up in PATH, or a path) with stdout and stderr
 * both in @out, and @env ("NAME=VALUE", may be NULL) added; print the
 * command, its status and its output. Return: the exit status, or 128 +
 * signal. Killed after 60 s. */
static inline int nt_run_all(const char *const *argv, const char *env, char *out, size_t outsz)
{
	int rc = t_run_argv(argv, env, T_RUN_STDERR | T_RUN_TAIL, out, outsz);

	nt_show(argv, rc);
	fprintf(stderr, "%s", out);
	return rc;
}

/* Run @argv (argv[0] looked up in PATH) with its stdout in @out; stderr is
 * ours. Return: the exit status, or 128 + signal. A hung client is killed
 * after 60 s. */
static inline int nt_run(const char *const *argv, char *out, size_t outsz)
{
	int rc = t_run_argv(argv, NULL, T_RUN_TAIL, out, outsz);

	nt_show(argv, rc);
	return rc;
}

/* A `cxlflash nbd` process. */
struct nt_server {
	pid_t pid;
	int out_fd;
	int tcp_port;           /* the first TCP listener's port, or -1 */
	char lines[4096];       /* what it printed before serving */
};

/* Start `cxlflash nbd @args...` (NULL-terminated) and wait until it serves.
 * Return: 0, or its exit status if it exited first. */
static inline int nt_server_start(struct nt_server *s, const char *const *args)
{
	const char *argv[32] = { nt_tool(), "nbd" };
	int pfd[2], n = 2, status;
	size_t len = 0;
	char *p;

	for (int i = 0; args[i]; i++) {
		T_ASSERT(n < 31);
		argv[n++] = args[i];
	}
	memset(s, 0, sizeof(*s));
	s->tcp_port = -1;
	T_ASSERT(pipe(pfd) == 0);
	s->pid = fork();
	T_ASSERT(s->pid >= 0);
	if (s->pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	s->out_fd = pfd[0];
	while (!strstr(s->lines, "serving:")) {
		struct pollfd pf = { .fd = s->out_fd, .events = POLLIN };
		ssize_t r;

		T_ASSERT(poll(&pf, 1, 10000) == 1);
		r = read(s->out_fd, s->lines + len, sizeof(s->lines) - 1 - len);
		if (r <= 0) {
			T_ASSERT(waitpid(s->pid, &status, 0) == s->pid);
			close(s->out_fd);
			s->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		len += (size_t)r;
		s->lines[len] = 0;
		T_ASSERT(len < sizeof(s->lines) - 1);
	}
	p = strstr(s->lines, "listening: tcp:");
	if (p) {
		p = strchr(p, ' ') + 1;
		p = strchr(p + 4, ' ');
		while (p[-1] != ':')
			p--;
		s->tcp_port = atoi(p);
	}
	return 0;
}

/* Send @sig and reap. Return: the exit status, or 128 + signal. */
static inline int nt_server_stop(struct nt_server *s, int sig)
{
	int status;

	if (!s->pid)
		return -1;
	kill(s->pid, sig);
	T_ASSERT(waitpid(s->pid, &status, 0) == s->pid);
	close(s->out_fd);
	s->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- an in-process server on one ram LUN ---- */

struct nt_export {
	struct backend *be;
	int refs;               /* get() minus put() */
	int gets;
	pthread_mutex_t lock;
};

static inline int nt_get(void *arg, const struct nbd_peer *peer, const char *name,
			 struct backend **be, bool *ro, void **ref, char *why, size_t len)
{
	struct nt_export *e = arg;

	(void)peer;
	if (!strcmp(name, "busy")) {
		snprintf(why, len, "LUN busy is in superpipe mode");
		return -EBUSY;
	}
	if (strcmp(name, "lun") && strcmp(name, "ro") && name[0]) {
		snprintf(why, len, "no export '%s'", name);
		return -ENOENT;
	}
	pthread_mutex_lock(&e->lock);
	e->refs++;
	e->gets++;
	pthread_mutex_unlock(&e->lock);
	*be = e->be;
	*ro = !strcmp(name, "ro");
	*ref = e;
	return 0;
}

static inline void nt_put(void *arg, void *ref)
{
	struct nt_export *e = arg;

	T_ASSERT(ref == e);
	pthread_mutex_lock(&e->lock);
	e->refs--;
	pthread_mutex_unlock(&e->lock);
}

static inline void nt_list(void *arg, const struct nbd_peer *peer,
			   void (*emit)(void *, const char *, const char *), void *ctx)
{
	(void)arg;
	(void)peer;
	emit(ctx, "lun", "a ram LUN");
	emit(ctx, "ro", NULL);
}

static inline int nt_export_refs(struct nt_export *e)
{
	int n;

	pthread_mutex_lock(&e->lock);
	n = e->refs;
	pthread_mutex_unlock(&e->lock);
	return n;
}

/* Serve @e (exports "lun", "ro", "" and a refusing "busy") on @sock, with
 * @cfg (its handshake timeout 5 s when 0). */
static inline struct nbd_server *nt_serve_cfg(struct nt_export *e, const char *lun,
					      const char *sock, struct nbd_server_config cfg)
{
	struct nbd_export_provider prov = { nt_get, nt_put, nt_list, e };
	struct be_spec spec;
	struct nbd_server *srv;

	if (!cfg.handshake_timeout_ms)
		cfg.handshake_timeout_ms = 5000;
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	T_EQ(be_parse_spec(lun, &spec), 0);
	T_EQ(be_open(&spec, &e->be), 0);
	T_EQ(nbd_server_create(&cfg, &prov, &srv), 0);
	T_EQ(nbd_server_listen_unix(srv, sock), 0);
	T_EQ(nbd_server_start(srv), 0);
	return srv;
}

static inline struct nbd_server *nt_serve(struct nt_export *e, const char *lun, const char *sock)
{
	return nt_serve_cfg(e, lun, sock, (struct nbd_server_config){ 0 });
}

static inline void nt_unserve(struct nbd_server *srv, struct nt_export *e)
{
	nbd_server_destroy(srv);
	T_EQ(e->refs, 0);
	be_close(e->be);
	pthread_mutex_destroy(&e->lock);
}

/* ---- a raw client ---- */

static inline int nc_connect(const char *sock)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 20 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	T_ASSERT(fd >= 0);
	T_ASSERT(strlen(sock) < sizeof(a.sun_path));
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	T_ASSERT(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	/* A server that never answers fails the test instead of hanging it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static inline void nc_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		T_ASSERT(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly @len bytes. Return 0, or -1 at EOF / error. */
static inline int nc_recv(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* True when the server closed the connection (EOF within a few seconds). */
static inline bool nc_closed(int fd)
{
	uint8_t b[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, 5000) == 1) {
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n <= 0)
			return true;
	}
	return false;
}

/* Read the greeting and send client flags. */
static inline void nc_hello(int fd, uint32_t cflags)
{
	uint8_t h[NBD_HELLO_LEN], f[4];

	T_EQ(nc_recv(fd, h, sizeof(h)), 0);
	T_ASSERT(get_be64(h) == NBD_MAGIC);
	T_ASSERT(get_be64(h + 8) == NBD_IHAVEOPT);
	T_EQ(get_be16(h + 16), NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	put_be32(f, cflags);
	nc_send(fd, f, 4);
}

static inline void nc_option(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[NBD_OPT_HDR_LEN];

	put_be64(h, NBD_IHAVEOPT);
	put_be32(h + 8, opt);
	put_be32(h + 12, len);
	nc_send(fd, h, sizeof(h));
	if (len)
		nc_send(fd, data, len);
}

/* One option reply: its type, data in @data (up to @cap, the rest dropped). */
static inline uint32_t nc_opt_reply(int fd, uint32_t opt, void *data, size_t cap, uint32_t *len)
{
	uint8_t h[NBD_OPT_REPLY_HDR_LEN], sink[64];
	uint32_t n, take;

	T_EQ(nc_recv(fd, h, sizeof(h)), 0);
	T_ASSERT(get_be64(h) == NBD_OPT_REPLY_MAGIC);
	T_EQ(get_be32(h + 8), opt);
	n = get_be32(h + 16);
	take = n < cap ? n : (uint32_t)cap;
	if (take)
		T_EQ(nc_recv(fd, data, take), 0);
	for (uint32_t left = n - take; left;) {
		uint32_t k = left < sizeof(sink) ? left : (uint32_t)sizeof(sink);

		T_EQ(nc_recv(fd, sink, k), 0);
		left -= k;
	}
	if (cap > take)
		((uint8_t *)data)[take] = 0;
	if (len)
		*len = n;
	return get_be32(h + 12);
}

/* NBD_OPT_GO for @name; on success the export size and flags. Return the
 * reply type that ended it (NBD_REP_ACK on success); @msg gets an error's
 * text. */
static inline uint32_t nc_go(int fd, const char *name, uint64_t *size, uint16_t *flags,
			     char *msg, size_t msglen)
{
	uint8_t d[4 + 256 + 2], r[512];
	uint32_t nlen = (uint32_t)strlen(name), type, len;

	put_be32(d, nlen);
	memcpy(d + 4, name, nlen);
	put_be16(d + 4 + nlen, 0);
	nc_option(fd, NBD_OPT_GO, d, 6 + nlen);
	for (;;) {
		type = nc_opt_reply(fd, NBD_OPT_GO, r, sizeof(r) - 1, &len);
		if (type == NBD_REP_INFO && get_be16(r) == NBD_INFO_EXPORT) {
			if (size)
				*size = get_be64(r + 2);
			if (flags)
				*flags = get_be16(r + 10);
			continue;
		}
		if (type == NBD_REP_INFO)
			continue;
		if (msg)
			snprintf(msg, msglen, "%s", (char *)r);
		return type;
	}
}

/* Connect, handshake (structured replies if @sr) and GO "lun". */
static inline int nc_open(const char *sock, const char *name, bool sr, uint64_t *size)
{
	int fd = nc_connect(sock);

	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	if (sr) {
		nc_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
		T_EQ(nc_opt_reply(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL), NBD_REP_ACK);
	}
	T_EQ(nc_go(fd, name, size, NULL, NULL, 0), NBD_REP_ACK);
	return fd;
}

static inline void nc_request(int fd, uint16_t type, uint16_t flags, uint64_t cookie,
			      uint64_t off, uint32_t len, const void *data)
{
	uint8_t h[NBD_REQUEST_LEN];

	put_be32(h, NBD_REQUEST_MAGIC);
	put_be16(h + 4, flags);
	put_be16(h + 6, type);
	put_be64(h + 8, cookie);
	put_be64(h + 16, off);
	put_be32(h + 24, len);
	nc_send(fd, h, sizeof(h));
	if (data)
		nc_send(fd, data, len);
}

/* A simple reply: its error; *@cookie set. Read data follows for the caller. */
static inline uint32_t nc_simple_reply(int fd, uint64_t *cookie)
{
	uint8_t h[NBD_SIMPLE_REPLY_LEN];

	T_EQ(nc_recv(fd, h, sizeof(h)), 0);
	T_ASSERT(get_be32(h) == NBD_SIMPLE_REPLY_MAGIC);
	if (cookie)
		*cookie = get_be64(h + 8);
	return get_be32(h + 4);
}

/* Synchronous helpers on a simple-reply connection. Return the NBD error. */
static inline uint32_t nc_write(int fd, uint16_t flags, uint64_t off, uint32_t len,
				const void *data)
{
	uint64_t ck;
	uint32_t err;

	nc_request(fd, NBD_CMD_WRITE, flags, 0x77, off, len, data);
	err = nc_simple_reply(fd, &ck);
	T_EQ(ck, 0x77);
	return err;
}

static inline uint32_t nc_read(int fd, uint64_t off, uint32_t len, void *data)
{
	uint64_t ck;
	uint32_t err;

	nc_request(fd, NBD_CMD_READ, 0, 0x55, off, len, NULL);
	err = nc_simple_reply(fd, &ck);
	T_EQ(ck, 0x55);
	if (!err)
		T_EQ(nc_recv(fd, data, len), 0);
	return err;
}

static inline uint32_t nc_cmd(int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len)
{
	uint64_t ck;
	uint32_t err;

	nc_request(fd, type, flags, 0x99, off, len, NULL);
	err = nc_simple_reply(fd, &ck);
	T_EQ(ck, 0x99);
	return err;
}

static inline void nc_disc(int fd)
{
	nc_request(fd, NBD_CMD_DISC, 0, 0, 0, 0, NULL);
	T_ASSERT(nc_closed(fd));
	close(fd);
}

#endif
