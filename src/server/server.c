/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - serving a master to other processes (see server.h).
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "master/master.h"
#include "util/log.h"
#include "util/pident.h"

#define MSRV_NEXT_SPIN_NS 50000ull   /* a connection waits for its next request */

struct mconn {
	struct msrv *srv;
	int sock;
	struct mconn *next;
};

struct msrv {
	struct master *m;
	struct msrv_ops ops;
	int lsock;
	char path[108];
	bool started;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_cond_t cv;          /* a connection ended */
	struct mconn *conns;
	unsigned nconns;
	bool stopping;
	bool accepting;             /* the accept thread has started */
	/* The owner watch: a thread detaching contexts whose owner died. */
	bool reaping;               /* it has started */
	pthread_t reaper;
	int reaper_stop;            /* eventfd: end it */
	bool pidfd_passed;          /* the kernel gives each sender's pidfd (SO_PASSPIDFD) */
};

int msrv_reply_text(int sock, const struct wire_msg *req, int status, const char *text,
		    size_t len)
{
	size_t off = 0;

	do {
		struct wire_msg h = { .op = req->op, .request = req->request, .status = status };
		size_t n = len - off > WIRE_MAX_PAYLOAD ? WIRE_MAX_PAYLOAD : len - off;
		int rc;

		h.more = off + n < len || n == WIRE_MAX_PAYLOAD;
		rc = wire_send(sock, &h, text + off, n, -1);
		if (rc)
			return rc;
		off += n;
		if (!h.more)
			break;
	} while (1);
	return 0;
}

static int reply(int sock, const struct wire_msg *req, int status, const void *p, size_t len,
		 int fd)
{
	struct wire_msg h = { .op = req->op, .request = req->request, .status = status };

	return wire_send(sock, &h, p, len, fd);
}

/* The descriptor an ATTACH or RECOVER_AFU reply hands over, or -1. */
static int reply_fd(unsigned long request, union cxlflash_ioctls *u)
{
	if (request == DK_CXLFLASH_ATTACH && u->attach.adap_fd != (uint64_t)-1)
		return (int)u->attach.adap_fd;
	if (request == DK_CXLFLASH_RECOVER_AFU &&
	    (u->recover_afu.hdr.return_flags & DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET))
		return (int)u->recover_afu.adap_fd;
	return -1;
}

/*
 * A LUN in legacy mode refuses superpipe requests with the kernel's EINVAL;
 * the reply carries the reason too, which the client library prints (it
 * fits the reply buffer of every request: 144 bytes).
 */
static int reply_legacy(struct msrv *s, struct mopen *o, int sock, const struct wire_msg *h,
			const char *name)
{
	char why[128];
	bool legacy;
	int n;

	pthread_mutex_lock(&s->m->lock);
	legacy = !o->lun->superpipe;
	pthread_mutex_unlock(&s->m->lock);
	if (!legacy)
		return reply(sock, h, -EINVAL, NULL, 0, -1);
	n = snprintf(why, sizeof(why), "LUN %s is in legacy mode (served over NBD): "
		     "`cxlflash lun mode %s superpipe` switches it", name, name);
	n = n < 0 ? 0 : n >= (int)sizeof(why) ? (int)sizeof(why) - 1 : n;
	return reply(sock, h, -EINVAL, why, (size_t)n, -1);
}

static int serve_ioctl(struct msrv *s, struct mopen *o, int sock, const struct wire_msg *h,
		       const void *payload, const struct wire_cred *cr, const char *name)
{
	union cxlflash_ioctls u;
	struct mcaller who = { .id = { cr->pid, 0 }, .uid = cr->uid, .pidfd = cr->pidfd,
			       .remote = true };
	size_t size = master_ioctl_size(h->request);
	int rc, fd;

	if (!size || h->len != size)
		return reply(sock, h, -EINVAL, NULL, 0, -1);
	/* A sender that cannot be identified (gone already) keeps id 0: it
	 * owns nothing, and ATTACH refuses it. The parent matters only to
	 * VLUN_CLONE. */
	pident_of(cr->pidfd, cr->pid, &who.id);
	if (h->request == DK_CXLFLASH_VLUN_CLONE)
		pident_parent(cr->pidfd, cr->pid, &who.parent);
	memcpy(&u, payload, size);
	rc = master_ioctl(o, &who, h->request, &u);
	if (rc == -EINVAL) {
		rc = reply_legacy(s, o, sock, h, name);
	} else if (rc) {
		rc = reply(sock, h, rc, NULL, 0, -1);
	} else {
		fd = reply_fd(h->request, &u);
		rc = reply(sock, h, 0, &u, size, fd);
		if (fd >= 0)
			close(fd); /* the master handed us a copy for the client */
	}
	master_deferred_work(s->m, h->request == DK_CXLFLASH_ATTACH ||
				   h->request == DK_CXLFLASH_DETACH);
	return rc;
}

static int serve_open(struct msrv *s, int sock, struct wire_msg *h, char *payload,
		      const struct wire_cred *cr, struct mopen **o)
{
	struct mlun *lun = NULL;
	int rc;

	payload[h->len < WIRE_MAX_PAYLOAD ? h->len : WIRE_MAX_PAYLOAD - 1] = 0;
	if (*o)
		rc = -EINVAL; /* one open per connection */
	else if (h->len == 0 || strlen(payload) != h->len)
		rc = -EINVAL;
	else
		rc = s->ops.resolve(s->ops.arg, payload, (int)h->request, cr, &lun);
	if (!rc)
		rc = master_reopen_lun(s->m, lun, cr->pid, o);
	if (!rc)
		log_info("pid %d uid %d opened %s", (int)cr->pid, (int)cr->uid, payload);
	return reply(sock, h, rc, NULL, 0, -1);
}

static int serve_ctx_error(struct msrv *s, int sock, const struct wire_msg *h,
			   const struct wire_cred *cr)
{
	struct pident id = { cr->pid, 0 };
	int rc;

	pident_of(cr->pidfd, cr->pid, &id);
	rc = master_ctx_owned(s->m, h->request, &id);
	if (rc == 0)
		rc = cr->uid == 0 ? master_ctx_error(s->m, h->request) : -EPERM;
	else if (rc > 0)
		rc = master_ctx_error(s->m, h->request);
	return reply(sock, h, rc, NULL, 0, -1);
}

static void *conn_thread(void *arg)
{
	struct mconn *c = arg;
	struct msrv *s = c->srv;
	struct mopen *o = NULL;
	char *payload = malloc(WIRE_MAX_PAYLOAD);
	char name[64] = "";   /* the LUN as the client named it, for messages */

	while (payload) {
		struct wire_msg h;
		struct wire_cred cr = { .pidfd = -1 };
		int no_pidfd = 0;
		/* A client's requests come in bursts (ATTACH, USER_VIRTUAL,
		 * ...): after a reply, look for the next one a little before
		 * sleeping. */
		int rc = wire_recv_spin(c->sock, &h, payload, WIRE_MAX_PAYLOAD - 1, NULL, &cr,
					o ? MSRV_NEXT_SPIN_NS : 0);

		if (rc == -EMFILE) {
			/* Out of descriptors (the sender's pidfd came with no
			 * room for it): this request fails, the connection and
			 * its contexts stay. */
			log_warn("pid %d: no descriptor free for a request", (int)cr.pid);
			if (reply(c->sock, &h, -EMFILE, NULL, 0, -1))
				break;
			continue;
		}
		if (rc) {
			if (rc == -EPROTO)
				log_warn("connection from pid %d: malformed message, closing",
					 (int)cr.pid);
			break;
		}
		/* The kernel's pidfd of the sender (SCM_PIDFD) names the very
		 * process that sent. Only a kernel without SO_PASSPIDFD has it
		 * opened by pid: where the kernel could have given one, a pid
		 * is never trusted instead (it may be someone else's by now).
		 * With none, a request owns nothing; out of descriptors,
		 * requests that need one fail. */
		if (cr.pidfd < 0) {
			int err = cr.pidfd_err ? cr.pidfd_err : s->pidfd_passed ? -ESRCH : 0;

			if (!err) {
				cr.pidfd = pident_pidfd_open(cr.pid);
				err = cr.pidfd < 0 ? cr.pidfd : 0;
				if (cr.pidfd < 0)
					cr.pidfd = -1;
			}
			no_pidfd = err == -EMFILE || err == -ENFILE ? err : 0;
		}
		if (s->ops.may_connect && no_pidfd) {
			/* Who it is cannot be told now: not served, not dropped. */
			if (reply(c->sock, &h, no_pidfd, NULL, 0, -1))
				break;
			continue;
		}
		if (s->ops.may_connect && !s->ops.may_connect(s->ops.arg, &cr)) {
			reply(c->sock, &h, -EACCES, NULL, 0, -1);
			if (cr.pidfd >= 0)
				close(cr.pidfd);
			break;
		}
		switch (h.op) {
		case WIRE_OP_OPEN:
			rc = serve_open(s, c->sock, &h, payload, &cr, &o);
			if (o && !name[0])
				snprintf(name, sizeof(name), "%s", payload);
			break;
		case WIRE_OP_IOCTL:
			rc = !o ? reply(c->sock, &h, -EBADF, NULL, 0, -1)
				: no_pidfd ? reply(c->sock, &h, no_pidfd, NULL, 0, -1)
				: serve_ioctl(s, o, c->sock, &h, payload, &cr, name);
			break;
		case WIRE_OP_CTX_ERROR:
			rc = no_pidfd ? reply(c->sock, &h, no_pidfd, NULL, 0, -1)
				      : serve_ctx_error(s, c->sock, &h, &cr);
			break;
		case WIRE_OP_CHECK: {
			char why[256] = "";
			int r = master_check(s->m, why, sizeof(why));

			rc = msrv_reply_text(c->sock, &h, r ? -EUCLEAN : 0, why, strlen(why));
			break;
		}
		default:
			payload[h.len] = 0;
			rc = s->ops.admin ? s->ops.admin(s->ops.arg, c->sock, &h, payload, &cr)
					  : reply(c->sock, &h, -EOPNOTSUPP, NULL, 0, -1);
			break;
		}
		if (cr.pidfd >= 0)
			close(cr.pidfd);
		if (rc)
			break;
	}
	if (o)
		master_close_open(o);
	free(payload);
	close(c->sock);
	pthread_mutex_lock(&s->lock);
	for (struct mconn **pp = &s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	s->nconns--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	free(c);
	return NULL;
}

static void *accept_thread(void *arg)
{
	struct msrv *s = arg;

	pthread_mutex_lock(&s->lock);
	s->accepting = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		int one = 1, fd = accept4(s->lsock, NULL, NULL, SOCK_CLOEXEC);
		struct mconn *c;
		pthread_attr_t attr;
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
				log_warn("accept: %s; retrying", strerror(errno));
				usleep(10000);
				pthread_mutex_lock(&s->lock);
				bool stop = s->stopping;
				pthread_mutex_unlock(&s->lock);
				if (!stop)
					continue;
			}
			break; /* shut down */
		}
		setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
		wire_pass_pidfd(fd);
		c = calloc(1, sizeof(*c));
		pthread_mutex_lock(&s->lock);
		if (!c || s->stopping) {
			pthread_mutex_unlock(&s->lock);
			free(c);
			close(fd);
			continue;
		}
		c->srv = s;
		c->sock = fd;
		c->next = s->conns;
		s->conns = c;
		s->nconns++;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&t, &attr, conn_thread, c) != 0) {
			s->conns = c->next;
			s->nconns--;
			close(fd);
			free(c);
			log_warn("no thread for a new connection; refused");
		}
		pthread_attr_destroy(&attr);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/*
 * reaper_thread() - the owner watch: when the owner of a remote context
 * dies, its contexts are detached now, not when its connection closes (a
 * child that inherited the connection may keep it open for ever).
 */
static void *reaper_thread(void *arg)
{
	struct msrv *s = arg;
	struct pollfd p[2] = { { .fd = master_owner_fd(s->m), .events = POLLIN },
			       { .fd = s->reaper_stop, .events = POLLIN } };

	pthread_mutex_lock(&s->lock);
	s->reaping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("owner watch: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents && master_reap_dead_owners(s->m))
			master_deferred_work(s->m, false);
	}
	return NULL;
}

int msrv_create(struct master *m, const struct msrv_ops *ops, struct msrv **out)
{
	struct msrv *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->m = m;
	s->ops = *ops;
	s->lsock = -1;
	s->reaper_stop = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	*out = s;
	return 0;
}

int msrv_listen(struct msrv *s, const char *path, mode_t mode)
{
	int fd;

	if (strlen(path) >= sizeof(s->path))
		return -ENAMETOOLONG;
	if (path[0] != '@') {
		/* A socket file left by a daemon that died: reuse the name only
		 * if nobody answers on it. */
		int probe = wire_connect(path);

		if (probe >= 0) {
			close(probe);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	fd = wire_listen(path, 128);
	if (fd < 0)
		return fd;
	/* Before the first connection: its first message carries a pidfd. */
	s->pidfd_passed = wire_pass_pidfd(fd) == 0;
	if (!s->pidfd_passed)
		log_info("no SO_PASSPIDFD (Linux < 6.5): senders' pidfds are opened by pid");
	if (mode && path[0] != '@' && chmod(path, mode) != 0) {
		int rc = -errno;

		close(fd);
		unlink(path);
		return rc;
	}
	s->lsock = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	return 0;
}

int msrv_start(struct msrv *s)
{
	int rc;

	if (s->lsock < 0)
		return -EINVAL;
	rc = master_owner_fd(s->m);
	if (rc < 0)
		return rc;
	s->reaper_stop = eventfd(0, EFD_CLOEXEC);
	if (s->reaper_stop < 0)
		return -errno;
	rc = pthread_create(&s->reaper, NULL, reaper_thread, s);
	if (rc) {
		close(s->reaper_stop);
		s->reaper_stop = -1;
		return -rc;
	}
	rc = pthread_create(&s->acceptor, NULL, accept_thread, s);
	if (rc) {
		uint64_t one = 1;

		if (write(s->reaper_stop, &one, sizeof(one)) != sizeof(one))
			log_warn("cannot stop the owner watch");
		pthread_join(s->reaper, NULL);
		close(s->reaper_stop);
		s->reaper_stop = -1;
		return -rc;
	}
	s->started = true;
	/* Return only once the threads run: a process may fork right after
	 * (children.c), and a thread still starting up may hold allocator
	 * locks the child would inherit locked. */
	pthread_mutex_lock(&s->lock);
	while (!s->accepting || !s->reaping)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

unsigned msrv_connections(struct msrv *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->nconns;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void msrv_destroy(struct msrv *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (s->lsock >= 0)
		shutdown(s->lsock, SHUT_RDWR); /* wakes accept() */
	if (s->started)
		pthread_join(s->acceptor, NULL);
	pthread_mutex_lock(&s->lock);
	for (struct mconn *c = s->conns; c; c = c->next)
		shutdown(c->sock, SHUT_RDWR); /* each thread sees end of stream */
	while (s->nconns)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->started) {
		uint64_t one = 1;

		if (write(s->reaper_stop, &one, sizeof(one)) == sizeof(one))
			pthread_join(s->reaper, NULL);
		else
			log_warn("cannot stop the owner watch");
	}
	if (s->reaper_stop >= 0)
		close(s->reaper_stop);
	if (s->lsock >= 0) {
		close(s->lsock);
		if (s->path[0] && s->path[0] != '@')
			unlink(s->path);
	}
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
