/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_server.c - the NBD server's life cycle: listeners (Unix and TCP), the
 * loop thread that accepts and runs every handshake without blocking (epoll,
 * a deadline per handshake, room made by closing the oldest), the limits on
 * established connections, one thread per established connection, and a
 * stop that cuts every connection and joins every thread. The protocol
 * itself is in nbd_handshake.c and nbd_transmit.c, TLS in nbd_tls.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nbd/nbd_internal.h"
#include "nbd/nbd_tls.h"
#include "util/byteorder.h"
#include "util/log.h"

#define DEFAULT_QUEUE_DEPTH   128u
#define MAX_QUEUE_DEPTH       1024u

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
		srv->cfg.max_conns = NBD_DEFAULT_MAX_CONNS;
	if (!srv->cfg.max_conns_per_user)
		srv->cfg.max_conns_per_user = NBD_DEFAULT_MAX_CONNS_PER_USER;
	if (!srv->cfg.max_handshakes)
		srv->cfg.max_handshakes = NBD_DEFAULT_MAX_HANDSHAKES;
	if (!srv->cfg.max_handshakes_per_user)
		srv->cfg.max_handshakes_per_user = NBD_DEFAULT_MAX_HANDSHAKES_PER_USER;
	if (!srv->cfg.queue_depth)
		srv->cfg.queue_depth = DEFAULT_QUEUE_DEPTH;
	if (srv->cfg.queue_depth > MAX_QUEUE_DEPTH)
		srv->cfg.queue_depth = MAX_QUEUE_DEPTH;
	if (!srv->cfg.handshake_timeout_ms)
		srv->cfg.handshake_timeout_ms = NBD_DEFAULT_HANDSHAKE_MS;
	srv->prov = *prov;
	srv->stop_fd = eventfd(0, EFD_CLOEXEC);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->stop_fd < 0 || srv->epfd < 0) {
		int rc = -errno;

		if (srv->stop_fd >= 0)
			close(srv->stop_fd);
		free(srv);
		return rc;
	}
	{
		int rc = nbd_tls_server_init(srv);

		if (rc) {
			close(srv->stop_fd);
			close(srv->epfd);
			free(srv);
			return rc;
		}
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->blk_lock, NULL);
	*out = srv;
	return 0;
}

static int add_listener(struct nbd_server *srv, int fd, const char *unix_path)
{
	int fl;

	if (srv->started || srv->nlfds == NBD_MAX_LISTENERS) {
		close(fd);
		return srv->started ? -EBUSY : -ENOSPC;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || listen(fd, SOMAXCONN) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	srv->unix_paths[srv->nlfds] = unix_path ? strdup(unix_path) : NULL;
	srv->lunix[srv->nlfds] = unix_path != NULL;
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- users, for the per-user limits (under srv->lock) ---------------------- */

static struct nbd_ident **ident_slot(struct nbd_server *srv, bool tcp, uid_t uid)
{
	return &srv->idents[tcp ? NBD_IDENT_BUCKETS - 1 : uid % (NBD_IDENT_BUCKETS - 1)];
}

static struct nbd_ident *ident_get_locked(struct nbd_server *srv, const struct nbd_peer *p)
{
	bool tcp = !p->identified;
	uid_t uid = tcp ? 0 : p->uid;
	struct nbd_ident **slot = ident_slot(srv, tcp, uid), *id;

	for (id = *slot; id; id = id->next)
		if (id->tcp == tcp && id->uid == uid)
			return id;
	id = calloc(1, sizeof(*id));
	if (!id)
		return NULL;
	id->tcp = tcp;
	id->uid = uid;
	id->next = *slot;
	*slot = id;
	return id;
}

/* Free @id once nothing counts on it. */
static void ident_release_locked(struct nbd_server *srv, struct nbd_ident *id)
{
	struct nbd_ident **pp;

	if (id->handshakes || id->established)
		return;
	for (pp = ident_slot(srv, id->tcp, id->uid); *pp; pp = &(*pp)->next) {
		if (*pp == id) {
			*pp = id->next;
			free(id);
			return;
		}
	}
}

static void ident_name(const struct nbd_ident *id, char *buf, size_t len)
{
	if (id->tcp)
		snprintf(buf, len, "TCP clients (not identified: they count as one user)");
	else
		snprintf(buf, len, "uid %u", (unsigned)id->uid);
}

int nbd_conn_admit(struct nbd_conn *c, bool dry, char *why, size_t len)
{
	struct nbd_server *srv = c->srv;
	struct nbd_ident *id = c->ident;
	char who[80];
	int rc = 0;

	if (c->admitted)
		return 0;
	pthread_mutex_lock(&srv->lock);
	if (srv->stopping) {
		snprintf(why, len, "the server is shutting down");
		rc = -ESHUTDOWN;
	} else if (srv->nestablished >= srv->cfg.max_conns) {
		snprintf(why, len, "too many NBD connections: the server has %u, its limit; "
			 "try again when one closes", srv->nestablished);
		rc = -EUSERS;
	} else if (id->established >= srv->cfg.max_conns_per_user) {
		ident_name(id, who, sizeof(who));
		snprintf(why, len, "too many NBD connections: %s already %s %u, the limit per "
			 "user; try again when one closes", who, id->tcp ? "have" : "has",
			 id->established);
		rc = -EUSERS;
	} else if (!dry) {
		srv->nestablished++;
		id->established++;
		c->admitted = true;
	}
	pthread_mutex_unlock(&srv->lock);
	if (rc && !dry)
		nbd_log_refused(NBD_REFUSED_LIMIT, "NBD client %s refused: %s", c->peer.addr, why);
	return rc;
}

/* ---- established connections: a thread each ----------------------------- */

static void conn_free(struct nbd_conn *c)
{
	nbd_tls_conn_free(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c->data);
	free(c->out);
	free(c->rbuf);
	free(c->meta_name);
	free(c);
}

static void *conn_main(void *arg)
{
	struct nbd_conn *c = arg;
	struct nbd_server *srv = c->srv;

	/* The handshake's last replies (GO's ACK, EXPORT_NAME's size) may
	 * still be queued; the socket blocks now. */
	if (nbd_flush_out(c) == 0)
		nbd_transmit(c);
	nbd_tls_bye(c);
	shutdown(c->fd, SHUT_RDWR);
	/* Out of the server's counts before the export's: once the LUN shows
	 * one client fewer, a GO refused for a limit succeeds again. */
	pthread_mutex_lock(&srv->lock);
	if (c->admitted) {
		srv->nestablished--;
		c->ident->established--;
		c->admitted = false;
	}
	ident_release_locked(srv, c->ident);   /* may free it: not touched again */
	c->ident = NULL;
	pthread_mutex_unlock(&srv->lock);
	nbd_conn_put_export(c);
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
		conn_free(c);
	}
}

/* ---- the handshake: every connection on the loop thread ------------------- */

static void hs_set_events(struct nbd_server *srv, struct nbd_conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

/*
 * Off the handshake list and out of epoll. Return whether it was on it:
 * the caller then takes it out of the handshake counts, under the same
 * lock as whatever else it does with its user (which the last count to
 * drop frees; another connection's thread may be dropping one meanwhile).
 */
static bool hs_unlink(struct nbd_server *srv, struct nbd_conn *c)
{
	if (!c->in_hs)
		return false;
	if (c->hs_prev)
		c->hs_prev->hs_next = c->hs_next;
	else
		srv->hs_head = c->hs_next;
	if (c->hs_next)
		c->hs_next->hs_prev = c->hs_prev;
	else
		srv->hs_tail = c->hs_prev;
	c->hs_prev = c->hs_next = NULL;
	c->in_hs = false;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	return true;
}

/* Forget a connection that is off the handshake list (@was_hs: still in
 * the handshake counts): its export, its counts; closed, and freed after
 * this round of events. */
static void conn_drop(struct nbd_server *srv, struct nbd_conn *c, bool was_hs)
{
	nbd_conn_put_export(c);
	pthread_mutex_lock(&srv->lock);
	if (was_hs) {
		srv->nhandshakes--;
		c->ident->handshakes--;
	}
	if (c->admitted) {
		srv->nestablished--;
		c->ident->established--;
		c->admitted = false;
	}
	ident_release_locked(srv, c->ident);
	c->ident = NULL;
	pthread_mutex_unlock(&srv->lock);
	shutdown(c->fd, SHUT_RDWR);
	c->closed = true;
	c->hs_next = srv->graveyard;
	srv->graveyard = c;
}

/* Close a connection in the handshake. */
static void hs_close(struct nbd_server *srv, struct nbd_conn *c, const char *why)
{
	if (c->closed)
		return;
	if (why)
		log_info("NBD client %s: %s", c->peer.addr, why);
	conn_drop(srv, c, hs_unlink(srv, c));
}

static void hs_bury(struct nbd_server *srv)
{
	struct nbd_conn *c;

	while ((c = srv->graveyard)) {
		srv->graveyard = c->hs_next;
		conn_free(c);
	}
}

/* GO / EXPORT_NAME succeeded: a thread of its own for the transmission. */
static void hs_handoff(struct nbd_server *srv, struct nbd_conn *c)
{
	pthread_attr_t attr;
	int flags, rc;

	/* Admitted, so its user is held by the established count. */
	if (hs_unlink(srv, c)) {
		pthread_mutex_lock(&srv->lock);
		srv->nhandshakes--;
		c->ident->handshakes--;
		pthread_mutex_unlock(&srv->lock);
	}
	c->out_mode = false;
	c->rbuf = malloc(NBD_RX_BUF);
	flags = fcntl(c->fd, F_GETFL);
	if (!c->rbuf || flags < 0 || fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		rc = ENOMEM;
		goto fail;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, NBD_CONN_STACK);
	pthread_mutex_lock(&srv->lock);
	rc = pthread_create(&c->thread, &attr, conn_main, c);
	if (!rc) {
		c->next = srv->conns;
		srv->conns = c;
		srv->nconns++;
	}
	pthread_mutex_unlock(&srv->lock);
	pthread_attr_destroy(&attr);
	if (!rc)
		return;
fail:
	log_warn("NBD client %s: cannot start its connection thread: %s", c->peer.addr,
		 strerror(rc));
	conn_drop(srv, c, false);
}

/* A whole option has arrived (or been drained): answer it. Return false
 * when the connection is gone (closed or handed off). */
static bool hs_option(struct nbd_server *srv, struct nbd_conn *c, bool drained)
{
	int rc = nbd_hs_option(c, drained);

	free(c->data);
	c->data = NULL;
	c->hs = HS_OPT_HDR;
	c->hhave = 0;
	if (rc == 1) {
		hs_handoff(srv, c);
		return false;
	}
	if (rc == NBD_HS_STARTTLS)
		c->hs = HS_TLS;   /* once the ACK is out */
	if (rc == 2) {
		nbd_flush_out(c);   /* the ACK, if the socket takes it */
		hs_close(srv, c, NULL);
		return false;
	}
	if (rc < 0) {
		hs_close(srv, c, rc == -EPROTO ? NULL : strerror(-rc));
		return false;
	}
	return true;
}

/* The option header in c->hbuf is complete. Return false when closed. */
static bool hs_header(struct nbd_server *srv, struct nbd_conn *c)
{
	if (get_be64(c->hbuf) != NBD_IHAVEOPT) {
		log_info("NBD client %s: bad option magic %#llx: closing", c->peer.addr,
			 (unsigned long long)get_be64(c->hbuf));
		hs_close(srv, c, NULL);
		return false;
	}
	c->opt = get_be32(c->hbuf + 8);
	c->optlen = get_be32(c->hbuf + 12);
	if (c->optlen > NBD_OPT_MAX_LEN) {
		if (c->opt == NBD_OPT_EXPORT_NAME || c->optlen > NBD_OPT_DRAIN_MAX) {
			log_info("NBD client %s: option %u with %u bytes of data: closing",
				 c->peer.addr, c->opt, c->optlen);
			hs_close(srv, c, NULL);
			return false;
		}
		c->drain = c->optlen;
		c->hs = HS_DRAIN;
		return true;
	}
	c->data = malloc((size_t)c->optlen + 1);
	if (!c->data) {
		hs_close(srv, c, "out of memory");
		return false;
	}
	c->dhave = 0;
	c->hs = HS_OPT_DATA;
	if (c->optlen == 0)
		return hs_option(srv, c, false);
	return true;
}

/* Write what is queued. Return false when the connection is gone or must
 * wait for room (then epoll waits for it). */
static bool hs_flush(struct nbd_server *srv, struct nbd_conn *c)
{
	int rc;

	if (!c->out_len)
		return true;
	rc = nbd_flush_out(c);
	if (rc == -EAGAIN) {
		hs_set_events(srv, c, EPOLLOUT);
		return false;
	}
	if (rc) {
		hs_close(srv, c, NULL);
		return false;
	}
	return true;
}

static void hs_make_room(struct nbd_server *srv, struct nbd_ident *id);

/* TLS mapped the client to a user: count it as that user from now on (and
 * hold that user to its handshake limit, as a new connection would be). */
static void hs_tls_reident(struct nbd_server *srv, struct nbd_conn *c)
{
	struct nbd_ident *id;

	if (!c->peer.tls_mapped)
		return;
	pthread_mutex_lock(&srv->lock);
	id = ident_get_locked(srv, &c->peer);
	if (id && id != c->ident) {
		id->handshakes++;
		c->ident->handshakes--;
		ident_release_locked(srv, c->ident);
		c->ident = id;
	}
	pthread_mutex_unlock(&srv->lock);
}

/* STARTTLS was acknowledged (and the ACK is out): a step of the TLS
 * handshake. Return false when closed or waiting for the socket. */
static bool hs_tls(struct nbd_server *srv, struct nbd_conn *c)
{
	int rc = nbd_tls_handshake(c);

	if (rc == -EAGAIN) {
		hs_set_events(srv, c, nbd_tls_want_write(c) ? EPOLLOUT : EPOLLIN);
		return false;
	}
	if (rc) {
		hs_close(srv, c, NULL);   /* nbd_tls.c said why */
		return false;
	}
	hs_tls_reident(srv, c);
	if (c->peer.tls_mapped) {
		hs_make_room(srv, c->ident);
		if (c->closed)
			return false;   /* it was that user's oldest */
	}
	c->hs = HS_OPT_HDR;
	c->hhave = 0;
	return true;
}

/* The socket is readable (or writable, with replies queued). Read and
 * answer options without blocking; replies go out before the next option
 * is read, and nothing is read while they wait for room. */
static void hs_event(struct nbd_server *srv, struct nbd_conn *c)
{
	uint8_t sink[4096];

	/* A few options per round, so one client cannot hog the loop; but
	 * what TLS has decrypted already (at most a record) is read now, as
	 * epoll would not report it. */
	for (int budget = 64; budget > 0 || nbd_tls_pending(c); budget--) {
		uint8_t *dst;
		size_t want;
		ssize_t n;

		if (!hs_flush(srv, c))
			return;
		if (c->hs == HS_TLS) {
			if (!hs_tls(srv, c))
				return;
			continue;
		}
		switch (c->hs) {
		case HS_FLAGS:
			dst = c->hbuf + c->hhave;
			want = 4 - c->hhave;
			break;
		case HS_OPT_HDR:
			dst = c->hbuf + c->hhave;
			want = NBD_OPT_HDR_LEN - c->hhave;
			break;
		case HS_OPT_DATA:
			dst = c->data + c->dhave;
			want = c->optlen - c->dhave;
			break;
		default:
			dst = sink;
			want = c->drain < sizeof(sink) ? (size_t)c->drain : sizeof(sink);
			break;
		}
		n = nbd_hs_recv(c, dst, want);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			/* EOF between options is a client that just left. */
			hs_close(srv, c, n < 0 ? strerror((int)-n) : NULL);
			return;
		}
		switch (c->hs) {
		case HS_FLAGS:
			c->hhave += (uint32_t)n;
			if (c->hhave == 4) {
				if (nbd_hs_flags(c)) {
					hs_close(srv, c, NULL);
					return;
				}
				c->hs = HS_OPT_HDR;
				c->hhave = 0;
			}
			break;
		case HS_OPT_HDR:
			c->hhave += (uint32_t)n;
			if (c->hhave == NBD_OPT_HDR_LEN && !hs_header(srv, c))
				return;
			break;
		case HS_OPT_DATA:
			c->dhave += (uint32_t)n;
			if (c->dhave == c->optlen && !hs_option(srv, c, false))
				return;
			break;
		default:
			c->drain -= (uint64_t)n;
			if (!c->drain && !hs_option(srv, c, true))
				return;
			break;
		}
	}
	if (hs_flush(srv, c))
		hs_set_events(srv, c, EPOLLIN);
}

/* The oldest connection in the handshake, of user @id (any when NULL). */
static struct nbd_conn *hs_oldest(struct nbd_server *srv, const struct nbd_ident *id)
{
	for (struct nbd_conn *c = srv->hs_head; c; c = c->hs_next)
		if (!id || c->ident == id)
			return c;
	return NULL;
}

static void peer_of(int fd, bool unix_sock, struct nbd_peer *p)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	memset(p, 0, sizeof(*p));
	p->ngroups = -1;
	if (unix_sock) {
		struct ucred uc;
		socklen_t ul = sizeof(uc);

		socklen_t gl = sizeof(p->groups);

		p->ngroups = -1;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0) {
			p->identified = true;
			p->pid = uc.pid;
			p->uid = uc.uid;
			p->gid = uc.gid;
			/* The groups as it connected, not /proc of a pid that may
			 * be gone (or reused) by the time it asks for an export. */
			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &gl) == 0)
				p->ngroups = (int)(gl / sizeof(gid_t));
			snprintf(p->addr, sizeof(p->addr), "unix:uid=%u,pid=%d", (unsigned)uc.uid,
				 (int)uc.pid);
		} else {
			snprintf(p->addr, sizeof(p->addr), "unix:?");
		}
		return;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		}
	}
	snprintf(p->addr, sizeof(p->addr), "tcp:%s:%u", host, port);
}

/* A new handshake of user @id (already counted and last on the list)
 * went past a limit: the oldest handshake of that user, or of all, is
 * closed. Never the new one, and never the last of @id's (it is pinned by
 * the new one's count). */
static void hs_make_room(struct nbd_server *srv, struct nbd_ident *id)
{
	struct nbd_conn *old;

	if (id->handshakes > srv->cfg.max_handshakes_per_user &&
	    (old = hs_oldest(srv, id)))
		hs_close(srv, old, "dropped: its user has too many connections in the handshake "
			 "(the oldest goes)");
	if (srv->nhandshakes > srv->cfg.max_handshakes && (old = hs_oldest(srv, NULL)))
		hs_close(srv, old, "dropped: too many connections in the handshake (the oldest "
			 "goes)");
}

/* Accept what is waiting on listener @i. Return false to back off (no
 * descriptor free and none to reclaim). */
static bool accept_some(struct nbd_server *srv, int i)
{
	for (int n = 0; n < 64; n++) {
		struct epoll_event e;
		struct nbd_conn *c;
		struct nbd_ident *id;
		int fd, one = 1;

		fd = accept4(srv->lfds[i], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: the oldest handshake gives one back. */
				struct nbd_conn *old = hs_oldest(srv, NULL);

				if (!old) {
					log_warn("accept: %s", strerror(errno));
					return false;
				}
				hs_close(srv, old, "dropped: out of descriptors (the oldest "
					 "handshake goes)");
				close(old->fd);
				old->fd = -1;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return true;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return true;
		}
		c->srv = srv;
		c->fd = fd;
		c->out_mode = true;
		c->hs = HS_FLAGS;
		if (!srv->lunix[i])
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		peer_of(fd, srv->lunix[i], &c->peer);
		pthread_mutex_lock(&srv->lock);
		id = srv->stopping ? NULL : ident_get_locked(srv, &c->peer);
		if (id) {
			c->ident = id;
			id->handshakes++;
			srv->nhandshakes++;
		}
		pthread_mutex_unlock(&srv->lock);
		if (!id) {
			conn_free(c);
			continue;
		}
		c->in_hs = true;
		c->hs_prev = srv->hs_tail;
		if (srv->hs_tail)
			srv->hs_tail->hs_next = c;
		else
			srv->hs_head = c;
		srv->hs_tail = c;
		hs_make_room(srv, id);
		c->deadline_ms = now_ms() + srv->cfg.handshake_timeout_ms;
		c->events = EPOLLIN;
		e = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
		if (nbd_hs_hello(c) || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e)) {
			c->in_hs = true;
			hs_close(srv, c, "cannot start the handshake");
			continue;
		}
		hs_event(srv, c);   /* the greeting goes out now */
	}
	return true;
}

/* Drop handshakes past their deadline. Return ms until the next one. */
static int hs_expire(struct nbd_server *srv)
{
	int64_t now = now_ms();
	struct nbd_conn *c;

	while ((c = srv->hs_head) && c->deadline_ms <= now)
		hs_close(srv, c, "dropped: the handshake took too long");
	if (!c)
		return 1000;
	return c->deadline_ms - now < 1000 ? (int)(c->deadline_ms - now) + 1 : 1000;
}

static void *accept_main(void *arg)
{
	struct nbd_server *srv = arg;
	struct epoll_event ev[64];
	bool backoff = false;

	for (;;) {
		int wait = hs_expire(srv), n;

		hs_bury(srv);
		/* Wake now and then to join finished connections. */
		n = epoll_wait(srv->epfd, ev, 64, backoff ? 10 : wait);
		backoff = false;
		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int k = 0; k < n; k++) {
			void *p = ev[k].data.ptr;

			if (p == &srv->stop_fd)
				goto out;
			if (p >= (void *)srv->lfds && p < (void *)(srv->lfds + NBD_MAX_LISTENERS)) {
				if (!accept_some(srv, (int)((int *)p - srv->lfds)))
					backoff = true;
				continue;
			}
			if (!((struct nbd_conn *)p)->closed)
				hs_event(srv, p);
		}
		hs_bury(srv);
		reap_conns(srv, false);
	}
out:
	while (srv->hs_head)
		hs_close(srv, srv->hs_head, NULL);
	hs_bury(srv);
	return NULL;
}

/*
 * Many idle clients need many descriptors: take the hard limit, and keep
 * the handshake limit within what is left (established connections, two
 * descriptors each, and a margin for LUN files and the embedder first).
 */
static void raise_nofile(struct nbd_server *srv)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* An established connection holds two: its socket and its io_uring. */
	room = rl.rlim_cur > 2 * (rlim_t)srv->cfg.max_conns + 256
	       ? rl.rlim_cur - 2 * (rlim_t)srv->cfg.max_conns - 256 : 16;
	if (srv->cfg.max_handshakes > room) {
		log_notice("NBD: at most %llu connections in the handshake (descriptor limit %llu)",
			   (unsigned long long)room, (unsigned long long)rl.rlim_cur);
		srv->cfg.max_handshakes = (unsigned)room;
	}
}

int nbd_server_start(struct nbd_server *srv)
{
	int rc;

	if (srv->started)
		return -EBUSY;
	if (!srv->nlfds)
		return -EDESTADDRREQ;
	raise_nofile(srv);
	for (int i = 0; i <= srv->nlfds; i++) {
		int fd = i < srv->nlfds ? srv->lfds[i] : srv->stop_fd;
		struct epoll_event e = { .events = EPOLLIN,
					 .data.ptr = i < srv->nlfds ? (void *)&srv->lfds[i]
								    : (void *)&srv->stop_fd };

		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e))
			return -errno;
	}
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
	close(srv->epfd);
	nbd_tls_server_free(srv);
	pthread_mutex_destroy(&srv->blk_lock);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

unsigned nbd_server_conn_count(struct nbd_server *srv)
{
	unsigned n = 0;

	pthread_mutex_lock(&srv->lock);
	for (struct nbd_conn *c = srv->conns; c; c = c->next)
		n += !c->finished;
	n += srv->nhandshakes;
	pthread_mutex_unlock(&srv->lock);
	return n;
}
