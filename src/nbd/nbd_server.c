/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_server.c - the NBD server's life cycle: listeners (Unix and TCP), the
 * accept thread, one thread per connection, and a stop that cuts every
 * connection and joins every thread. The protocol itself is in
 * nbd_handshake.c and nbd_transmit.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nbd/nbd_internal.h"
#include "util/log.h"

#define DEFAULT_MAX_CONNS     64u
#define DEFAULT_QUEUE_DEPTH   128u
#define MAX_QUEUE_DEPTH       1024u
#define DEFAULT_HANDSHAKE_MS  30000u

int nbd_server_create(const struct nbd_server_config *cfg,
		      const struct nbd_export_provider *prov, struct nbd_server **out)
{
	struct nbd_server *srv;

	*out = NULL;
	if (!prov || !prov->get)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	if (cfg)
		srv->cfg = *cfg;
	if (!srv->cfg.max_conns)
		srv->cfg.max_conns = DEFAULT_MAX_CONNS;
	if (!srv->cfg.queue_depth)
		srv->cfg.queue_depth = DEFAULT_QUEUE_DEPTH;
	if (srv->cfg.queue_depth > MAX_QUEUE_DEPTH)
		srv->cfg.queue_depth = MAX_QUEUE_DEPTH;
	if (!srv->cfg.handshake_timeout_ms)
		srv->cfg.handshake_timeout_ms = DEFAULT_HANDSHAKE_MS;
	srv->prov = *prov;
	srv->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (srv->stop_fd < 0) {
		int rc = -errno;

		free(srv);
		return rc;
	}
	pthread_mutex_init(&srv->lock, NULL);
	for (unsigned i = 0; i < NBD_RMW_STRIPES; i++)
		pthread_mutex_init(&srv->rmw[i], NULL);
	*out = srv;
	return 0;
}

static int add_listener(struct nbd_server *srv, int fd, const char *unix_path)
{
	if (srv->started || srv->nlfds == NBD_MAX_LISTENERS) {
		close(fd);
		return srv->started ? -EBUSY : -ENOSPC;
	}
	if (listen(fd, 64) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	srv->unix_paths[srv->nlfds] = unix_path ? strdup(unix_path) : NULL;
	srv->lfds[srv->nlfds++] = fd;
	return 0;
}

/* Is someone accepting on the socket at @addr? */
static bool unix_socket_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return true;
	live = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ||
	       errno != ECONNREFUSED;
	close(fd);
	return live;
}

int nbd_server_listen_unix(struct nbd_server *srv, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_err("socket path too long (%zu bytes, at most %zu): %s", strlen(path),
			sizeof(addr.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket", path);
			return -EEXIST;
		}
		if (unix_socket_live(&addr)) {
			log_err("%s: another server is listening there", path);
			return -EADDRINUSE;
		}
		unlink(path);   /* stale */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		log_err("bind %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	rc = add_listener(srv, fd, path);
	if (rc)
		unlink(path);
	return rc;
}

int nbd_server_listen_tcp(struct nbd_server *srv, const char *addr, uint16_t port,
			  uint16_t *bound)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char portstr[8];
	int fd = -1, rc, one = 1;

	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(addr ? addr : "127.0.0.1", portstr, &hints, &res);
	if (rc) {
		log_err("address %s: %s", addr ? addr : "127.0.0.1", gai_strerror(rc));
		return -EADDRNOTAVAIL;
	}
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_err("bind %s:%u: %s", addr ? addr : "127.0.0.1", port, strerror(-rc));
		return rc;
	}
	if (bound) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			*bound = ntohs(ss.ss_family == AF_INET6
				       ? ((struct sockaddr_in6 *)&ss)->sin6_port
				       : ((struct sockaddr_in *)&ss)->sin_port);
	}
	return add_listener(srv, fd, NULL);
}

static void set_rcv_timeout(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void *conn_main(void *arg)
{
	struct nbd_conn *c = arg;
	struct nbd_server *srv = c->srv;
	int rc;

	/* A silent client must not hold a thread forever in the handshake;
	 * once transmitting, an idle client is normal. */
	set_rcv_timeout(c->fd, srv->cfg.handshake_timeout_ms);
	rc = nbd_handshake(c);
	if (rc == 1) {
		set_rcv_timeout(c->fd, 0);
		nbd_transmit(c);
	} else if (rc < 0 && rc != -EPROTO) {
		log_info("handshake ends: %s", strerror(-rc));
	}
	nbd_conn_put_export(c);
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&srv->lock);
	c->finished = true;
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Join and free connections whose thread is done; all of them with @all. */
static void reap_conns(struct nbd_server *srv, bool all)
{
	struct nbd_conn **pp, *c, *done = NULL;

	pthread_mutex_lock(&srv->lock);
	for (pp = &srv->conns; (c = *pp);) {
		if (all || c->finished) {
			*pp = c->next;
			c->next = done;
			done = c;
			srv->nconns--;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	while ((c = done)) {
		done = c->next;
		pthread_join(c->thread, NULL);
		close(c->fd);
		free(c);
	}
}

static void accept_one(struct nbd_server *srv, int lfd)
{
	struct nbd_conn *c;
	int fd, one = 1, rc;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept: %s", strerror(errno));
		if (errno == EMFILE || errno == ENFILE)
			usleep(10000);  /* do not spin until a descriptor frees */
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on Unix: fine */
	reap_conns(srv, false);
	pthread_mutex_lock(&srv->lock);
	if (srv->nconns >= srv->cfg.max_conns || srv->stopping) {
		pthread_mutex_unlock(&srv->lock);
		log_warn("connection refused: %u clients already (the limit)", srv->cfg.max_conns);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&srv->lock);
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	rc = pthread_create(&c->thread, NULL, conn_main, c);
	if (rc) {
		pthread_mutex_unlock(&srv->lock);
		log_warn("cannot start a connection thread: %s", strerror(rc));
		close(fd);
		free(c);
		return;
	}
	c->next = srv->conns;
	srv->conns = c;
	srv->nconns++;
	pthread_mutex_unlock(&srv->lock);
}

static void *accept_main(void *arg)
{
	struct nbd_server *srv = arg;
	struct pollfd pfd[NBD_MAX_LISTENERS + 1];
	int n = srv->nlfds;

	for (int i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = srv->lfds[i], .events = POLLIN };
	pfd[n] = (struct pollfd){ .fd = srv->stop_fd, .events = POLLIN };
	for (;;) {
		/* Wake now and then to join finished connections. */
		int rc = poll(pfd, (nfds_t)n + 1, 1000);

		if (rc < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			break;
		}
		if (pfd[n].revents)
			break;
		for (int i = 0; rc > 0 && i < n; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(srv, pfd[i].fd);
		reap_conns(srv, false);
	}
	return NULL;
}

int nbd_server_start(struct nbd_server *srv)
{
	int rc;

	if (srv->started)
		return -EBUSY;
	if (!srv->nlfds)
		return -EDESTADDRREQ;
	rc = pthread_create(&srv->accept_thread, NULL, accept_main, srv);
	if (rc)
		return -rc;
	srv->started = true;
	return 0;
}

void nbd_server_stop(struct nbd_server *srv)
{
	uint64_t one = 1;

	if (!srv || srv->stopped)
		return;
	srv->stopped = true;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	if (srv->started) {
		if (write(srv->stop_fd, &one, sizeof(one)) < 0)
			log_err("cannot wake the accept thread: %s", strerror(errno));
		pthread_join(srv->accept_thread, NULL);
	}
	for (int i = 0; i < srv->nlfds; i++) {
		close(srv->lfds[i]);
		srv->lfds[i] = -1;
	}
	/* Wake every connection thread blocked on its socket; each finishes
	 * what is in flight, drops its export and exits. */
	pthread_mutex_lock(&srv->lock);
	for (struct nbd_conn *c = srv->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&srv->lock);
	reap_conns(srv, true);
}

void nbd_server_destroy(struct nbd_server *srv)
{
	if (!srv)
		return;
	nbd_server_stop(srv);
	for (int i = 0; i < srv->nlfds; i++) {
		if (srv->unix_paths[i]) {
			unlink(srv->unix_paths[i]);
			free(srv->unix_paths[i]);
		}
	}
	close(srv->stop_fd);
	for (unsigned i = 0; i < NBD_RMW_STRIPES; i++)
		pthread_mutex_destroy(&srv->rmw[i]);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

unsigned nbd_server_conn_count(struct nbd_server *srv)
{
	unsigned n = 0;

	pthread_mutex_lock(&srv->lock);
	for (struct nbd_conn *c = srv->conns; c; c = c->next)
		n += !c->finished;
	pthread_mutex_unlock(&srv->lock);
	return n;
}
