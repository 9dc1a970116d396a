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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "master/master.h"
#include "util/log.h"
#include "util/pident.h"

#define MSRV_NEXT_SPIN_NS 50000ull   /* a connection waits for its next request */
#define MSRV_BATCH        16         /* requests of one connection per turn */
#define MSRV_MAX_REFUSED  64         /* over-quota connections awaiting their refusal */
#define MSRV_EVENTS       64

/* One uid's connections. */
struct muid {
	uid_t uid;
	bool uid_set;               /* in the list */
	unsigned conns;
	unsigned busy;              /* workers serving its connections now */
	struct mlimits lim;         /* as resolved for its latest connection */
	struct muid *next;
};

struct mconn {
	struct msrv *srv;
	int sock;
	struct wire_cred peer;      /* who connected (SO_PEERCRED; no pidfd) */
	struct mlimits lim;         /* the connector's limits */
	struct muid *tenant;        /* its uid's record; NULL when refused */
	bool refused;               /* over its uid's connection limit */
	bool fresh;                 /* just accepted: its first request is on its way */
	bool watched;               /* in the loop's epoll */
	struct mopen *o;            /* its open LUN, after OPEN (set and cleared
				     * under the server's lock) */
	bool fenced;                /* shut down by fence_sweep() */
	char name[64];              /* the LUN as the client named it, for messages */
	struct mconn *prev, *next;  /* every connection */
	struct mconn *qnext;        /* the ready queue */
};

struct mworker {
	struct msrv *s;
	pthread_t t;
	bool started;
	char *buf;                  /* a request's payload */
};

struct msrv {
	struct master *m;
	struct msrv_ops ops;
	int lsock;
	char path[108];
	pthread_mutex_t lock;
	pthread_cond_t cv;          /* a thread started */
	pthread_cond_t work_cv;     /* a connection is ready, or stopping */
	struct mconn *conns;
	unsigned nconns;            /* served (not refused) */
	unsigned nrefused;
	struct muid *uids;
	struct mconn *ready, *ready_tail;
	bool stopping;
	int ep;                     /* epoll: listener, stop, connections */
	int stop_fd;                /* eventfd: the loop and the owner watch end */
	int fence_fd;               /* eventfd (the caller's): a LUN was fenced */
	bool accept_paused;         /* out of descriptors: retry in a while */
	/* Threads, and how many of each run. */
	bool loop_started, reaper_started;
	pthread_t loop, reaper;
	struct mworker *workers;
	unsigned nworkers, running;
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
		       const void *payload, const struct wire_cred *cr, const char *name,
		       const struct mlimits *lim, int in_fd)
{
	union cxlflash_ioctls u;
	/* A descriptor only ATTACH takes (its buffer area); the caller closes it. */
	struct mcaller who = { .id = { cr->pid, 0 }, .uid = cr->uid, .pidfd = cr->pidfd,
			       .remote = true, .lim = lim,
			       .buf_fd = h->request == DK_CXLFLASH_ATTACH ? in_fd : -1 };
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

static int serve_open(struct msrv *s, struct mconn *c, struct wire_msg *h, char *payload,
		      const struct wire_cred *cr)
{
	struct mlun *lun = NULL;
	struct mopen *o = NULL;
	int rc;

	payload[h->len < WIRE_MAX_PAYLOAD ? h->len : WIRE_MAX_PAYLOAD - 1] = 0;
	if (c->o)
		rc = -EINVAL; /* one open per connection */
	else if (h->len == 0 || strlen(payload) != h->len)
		rc = -EINVAL;
	else
		rc = s->ops.resolve(s->ops.arg, payload, (int)h->request, cr, &lun);
	if (!rc)
		rc = master_reopen_lun(s->m, lun, cr->pid, &o);
	if (!rc) {
		/* Fenced is looked at under the lock: a fence after this look
		 * has its sweep (fence_sweep) run after we let go, as the flag
		 * is set before the sweep is asked for. Another host took the
		 * LUN over: a client with a list of daemons goes on to the next
		 * (ENOENT: not served here). */
		pthread_mutex_lock(&s->lock);
		if (!be_fenced(lun->be))
			c->o = o;
		pthread_mutex_unlock(&s->lock);
		if (!c->o) {
			master_close_open(o);
			log_info("pid %d: %s was taken over by another host: not served here",
				 (int)cr->pid, payload);
			rc = -ENOENT;
		} else {
			log_info("pid %d uid %d opened %s", (int)cr->pid, (int)cr->uid, payload);
		}
	}
	return reply(c->sock, h, rc, NULL, 0, -1);
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

/* ---- one request --------------------------------------------------------------- */

/* The quotas for a request from @cr on @c: the connector's, or (another
 * uid sending on an inherited connection) that uid's own. */
static const struct mlimits *request_limits(struct msrv *s, struct mconn *c,
					    const struct wire_cred *cr, struct mlimits *buf)
{
	if (!s->ops.limits)
		return NULL;
	if (cr->uid == c->peer.uid)
		return &c->lim;
	s->ops.limits(s->ops.arg, cr, buf);
	return buf;
}

/* serve_one()'s request @h (@rc: how its receive went), with @in_fd the
 * descriptor that came with it or -1 (not closed here). */
static int serve_msg(struct msrv *s, struct mconn *c, char *payload, int rc,
		     const struct wire_msg *hp, const struct wire_cred *crp, int in_fd)
{
	struct wire_msg h = *hp;
	struct wire_cred cr = *crp;
	struct mlimits lbuf;
	int no_pidfd = 0;

	c->fresh = false;
	if (rc == -EAGAIN)
		return 1;
	if (rc == -EMFILE) {
		/* Out of descriptors (the sender's pidfd came with no room for
		 * it): this request fails, the connection and its contexts
		 * stay. */
		log_warn("pid %d: no descriptor free for a request", (int)cr.pid);
		return reply(c->sock, &h, -EMFILE, NULL, 0, -1) ? -1 : 0;
	}
	if (rc) {
		if (rc == -EPROTO)
			log_warn("connection from pid %d: malformed message, closing", (int)cr.pid);
		return -1;
	}
	if (c->refused) {
		/* Over its uid's connection limit: told so, then closed. */
		if (cr.pidfd >= 0)
			close(cr.pidfd);
		reply(c->sock, &h, -EDQUOT, NULL, 0, -1);
		return -1;
	}
	/* The kernel's pidfd of the sender (SCM_PIDFD) names the very process
	 * that sent. Only a kernel without SO_PASSPIDFD has it opened by pid:
	 * where the kernel could have given one, a pid is never trusted
	 * instead (it may be someone else's by now). With none, a request
	 * owns nothing; out of descriptors, requests that need one fail. */
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
		return reply(c->sock, &h, no_pidfd, NULL, 0, -1) ? -1 : 0;
	}
	if (s->ops.may_connect && !s->ops.may_connect(s->ops.arg, &cr)) {
		reply(c->sock, &h, -EACCES, NULL, 0, -1);
		if (cr.pidfd >= 0)
			close(cr.pidfd);
		return -1;
	}
	switch (h.op) {
	case WIRE_OP_OPEN:
		rc = serve_open(s, c, &h, payload, &cr);
		if (c->o && !c->name[0])
			snprintf(c->name, sizeof(c->name), "%s", payload);
		break;
	case WIRE_OP_IOCTL:
		rc = !c->o ? reply(c->sock, &h, -EBADF, NULL, 0, -1)
		   : no_pidfd ? reply(c->sock, &h, no_pidfd, NULL, 0, -1)
		   : serve_ioctl(s, c->o, c->sock, &h, payload, &cr, c->name,
				 request_limits(s, c, &cr, &lbuf), in_fd);
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
	return rc ? -1 : 0;
}

/*
 * serve_one() - receive and serve one request of @c, without sleeping
 * for it. Return 0 (served one), 1 (none waiting) or -1 (the connection
 * ends).
 */
static int serve_one(struct msrv *s, struct mconn *c, char *payload)
{
	struct wire_msg h = { 0 };
	struct wire_cred cr = { .pidfd = -1 };
	int in_fd = -1;
	/* A client's requests come in bursts (ATTACH, USER_VIRTUAL, ...):
	 * after a reply, look for the next one a little before going back
	 * to the loop. */
	int rc = wire_try_recv(c->sock, &h, payload, WIRE_MAX_PAYLOAD - 1, &in_fd, &cr,
			       c->o || c->fresh ? MSRV_NEXT_SPIN_NS : 0);

	rc = serve_msg(s, c, payload, rc, &h, &cr, in_fd);
	if (in_fd >= 0)
		close(in_fd); /* whatever came with the request (ATTACH's buffer area) */
	return rc;
}

/* ---- connections ------------------------------------------------------------- */

static struct muid *find_uid(struct msrv *s, uid_t uid)
{
	for (struct muid *u = s->uids; u; u = u->next)
		if (u->uid == uid)
			return u;
	return NULL;
}

/* Drop @u once it has no connection and no worker serves one of its. */
static void uid_put(struct msrv *s, struct muid *u)
{
	struct muid **pp;

	if (u->conns || u->busy)
		return;
	for (pp = &s->uids; *pp != u; pp = &(*pp)->next)
		;
	*pp = u->next;
	free(u);
}

/* conn_end() - close @c: its open (detaching what was attached through
 * it), its socket, its place in its uid's count. No other thread has it;
 * @serving: a worker's, counted busy for its uid (that ends here too, so
 * the uid's record is freed before the count of connections drops: a
 * process forking once none is left must not find us in the allocator). */
static void conn_end(struct msrv *s, struct mconn *c, bool serving)
{
	struct mopen *o;

	pthread_mutex_lock(&s->lock);
	o = c->o;
	c->o = NULL;
	pthread_mutex_unlock(&s->lock);
	if (o)
		master_close_open(o);
	if (c->watched)
		epoll_ctl(s->ep, EPOLL_CTL_DEL, c->sock, NULL);
	pthread_mutex_lock(&s->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->refused) {
		s->nrefused--;
	} else {
		c->tenant->conns--;
		if (serving)
			c->tenant->busy--;
		uid_put(s, c->tenant);
		s->nconns--;
	}
	if (serving && s->ready)
		pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->lock);
	/* Closed only once out of the list: msrv_destroy() shuts down the
	 * sockets of those in it, and a descriptor closed before could be
	 * another file's by then. */
	close(c->sock);
	free(c);
}

/* Back to the loop: it reports @c again when a request (or its end) is
 * there. @c is not ours after this. Return false if it ended instead. */
static bool conn_rearm(struct msrv *s, struct mconn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = c };
	int op = c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int rc, err;

	/* Armed under the lock: the worker the loop hands @c to next takes it
	 * from the ready list under the same lock (enqueue(), take_ready()),
	 * so all this one did with @c, the epoll_ctl() on its socket included,
	 * happens before that worker's use and close of it. The kernel orders
	 * it anyway; ThreadSanitizer sees no edge through an epoll and
	 * reported the next worker's close() racing our epoll_ctl(). */
	pthread_mutex_lock(&s->lock);
	c->watched = true;
	rc = epoll_ctl(s->ep, op, c->sock, &ev);
	err = errno;
	pthread_mutex_unlock(&s->lock);
	if (rc != 0) {
		log_warn("connection from pid %d: epoll: %s; closing", (int)c->peer.pid,
			 strerror(err));
		conn_end(s, c, true);
		return false;
	}
	return true;
}

/* A worker's turn with @c: up to MSRV_BATCH requests, so a client that
 * never pauses cannot keep a worker from the others. Return false if @c
 * ended (its uid's busy count dropped with it). */
static bool serve_conn(struct msrv *s, struct mconn *c, char *payload)
{
	for (unsigned k = 0; k < MSRV_BATCH; k++) {
		int rc = serve_one(s, c, payload);

		if (rc < 0) {
			conn_end(s, c, true);
			return false;
		}
		if (rc > 0)
			break;
	}
	return conn_rearm(s, c);
}

/*
 * take_ready() - the first ready connection whose uid has fewer than half
 * the workers busy with its connections: one tenant whose requests wait
 * (on the AFU, or on a client not reading its replies) can hold no more,
 * and the others' requests are served meanwhile. Server lock held.
 */
static struct mconn *take_ready(struct msrv *s)
{
	unsigned cap = s->nworkers > 1 ? s->nworkers / 2 : 1;
	struct mconn *prev = NULL;

	for (struct mconn *c = s->ready; c; prev = c, c = c->qnext) {
		if (c->tenant && c->tenant->busy >= cap)
			continue;
		if (prev)
			prev->qnext = c->qnext;
		else
			s->ready = c->qnext;
		if (s->ready_tail == c)
			s->ready_tail = prev;
		return c;
	}
	return NULL;
}

/* A worker: serves ready connections, one at a time, until the server stops. */
static void *worker_thread(void *arg)
{
	struct mworker *w = arg;
	struct msrv *s = w->s;

	pthread_mutex_lock(&s->lock);
	s->running++;
	pthread_cond_broadcast(&s->cv);
	for (;;) {
		struct mconn *c = NULL;
		struct muid *u;

		while (!s->stopping && !(c = take_ready(s)))
			pthread_cond_wait(&s->work_cv, &s->lock);
		if (s->stopping)
			break; /* what is still queued, msrv_destroy ends */
		u = c->tenant;
		if (u)
			u->busy++;
		pthread_mutex_unlock(&s->lock);
		if (!serve_conn(s, c, w->buf))
			u = NULL; /* ended: conn_end() counted it */
		pthread_mutex_lock(&s->lock);
		if (u) {
			u->busy--;
			uid_put(s, u);
			/* A connection of its skipped meanwhile may be served now. */
			if (s->ready)
				pthread_cond_broadcast(&s->work_cv);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Hand @c to a worker. */
static void enqueue(struct msrv *s, struct mconn *c)
{
	pthread_mutex_lock(&s->lock);
	c->qnext = NULL;
	if (s->ready_tail)
		s->ready_tail->qnext = c;
	else
		s->ready = c;
	s->ready_tail = c;
	pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->lock);
}

/* Accept what is waiting. Return 0, or -EMFILE: out of descriptors. */
static int accept_some(struct msrv *s)
{
	for (unsigned k = 0; k < MSRV_EVENTS; k++) {
		int one = 1, fd = accept4(s->lsock, NULL, NULL, SOCK_CLOEXEC);
		struct timeval tmo = { .tv_sec = MSRV_SEND_TIMEOUT_S };
		socklen_t len = sizeof(struct ucred);
		struct ucred uc;
		struct mconn *c;
		struct muid *u;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
				return -EMFILE;
			return 0; /* EAGAIN: none left */
		}
		setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
		wire_pass_pidfd(fd);
		c = calloc(1, sizeof(*c));
		if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
			free(c);
			close(fd);
			continue;
		}
		c->srv = s;
		c->sock = fd;
		c->peer = (struct wire_cred){ .pid = uc.pid, .uid = uc.uid, .gid = uc.gid,
					      .pidfd = -1 };
		c->lim = (struct mlimits){ MLIMIT_NONE, MLIMIT_NONE, 0, MLIMIT_NONE, true };
		if (s->ops.limits)
			s->ops.limits(s->ops.arg, &c->peer, &c->lim);
		pthread_mutex_lock(&s->lock);
		u = find_uid(s, uc.uid);
		if (c->lim.connections != MLIMIT_NONE && u && u->conns >= c->lim.connections) {
			unsigned have = u->conns;

			if (s->nrefused >= MSRV_MAX_REFUSED) {
				pthread_mutex_unlock(&s->lock);
				quota_log(MQ_CONNECTIONS, uc.uid, have, c->lim.connections,
					  "a connection");
				free(c);
				close(fd);
				continue;
			}
			c->refused = true;
			s->nrefused++;
			pthread_mutex_unlock(&s->lock);
			quota_log(MQ_CONNECTIONS, uc.uid, have, c->lim.connections, "a connection");
			pthread_mutex_lock(&s->lock);
		} else if (!u && !(u = calloc(1, sizeof(*u)))) {
			pthread_mutex_unlock(&s->lock);
			free(c);
			close(fd);
			continue;
		} else {
			if (!u->uid_set) {
				u->uid = uc.uid;
				u->uid_set = true;
				u->next = s->uids;
				s->uids = u;
			}
			u->conns++;
			u->lim = c->lim;
			c->tenant = u;
			s->nconns++;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->lock);
		/* Straight to a worker: a new client sends its OPEN at once,
		 * and the worker waits a little for it. The loop watches it
		 * from its first conn_rearm on (it sees no event of it before:
		 * a hang-up reported meanwhile would hand it to two workers). */
		c->fresh = true;
		enqueue(s, c);
	}
	return 0;
}

/*
 * loop_thread() - the event loop: new connections, and connections with
 * a request (or their end) waiting, handed to the workers. It never
 * serves a request itself, so nothing a request waits on can stall it.
 */
static void *loop_thread(void *arg)
{
	struct msrv *s = arg;
	struct epoll_event ev[MSRV_EVENTS];

	pthread_mutex_lock(&s->lock);
	s->running++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		int n = epoll_wait(s->ep, ev, MSRV_EVENTS, s->accept_paused ? 10 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("event loop: epoll_wait: %s", strerror(errno));
			break;
		}
		if (n == 0 && s->accept_paused) {
			struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &s->lsock };

			s->accept_paused = false;
			epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lsock, &lev);
		}
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &s->stop_fd)
				return NULL;
			if (p == &s->lsock) {
				if (accept_some(s) == -EMFILE && !s->accept_paused) {
					struct epoll_event lev = { .events = 0, .data.ptr = &s->lsock };

					log_warn("accept: out of descriptors; retrying");
					s->accept_paused = true;
					epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lsock, &lev);
				}
				continue;
			}
			enqueue(s, p);
		}
	}
	return NULL;
}

/*
 * fence_sweep() - a LUN was fenced (another host took its rbd image over
 * and blocklisted us: be_fence()): end the connections of its clients, so
 * that each, finding its master gone, reconnects to the first daemon in
 * its list that serves the LUN (this one answers ENOENT now, serve_open)
 * and resubmits what was in flight; the AFU dropped the commands that
 * failed for it (afu_config.drop_fenced) rather than answer with an error.
 */
static void fence_sweep(struct msrv *s)
{
	unsigned n = 0;

	pthread_mutex_lock(&s->lock);
	for (struct mconn *c = s->conns; c; c = c->next) {
		if (!c->o || !be_fenced(c->o->lun->be) || c->fenced)
			continue;
		c->fenced = true;
		shutdown(c->sock, SHUT_RDWR);
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	if (n)
		log_warn("a LUN was taken over by another host: %u client connection(s) on it "
			 "closed, for their clients to move to it", n);
}

void msrv_set_fence_fd(struct msrv *s, int fd)
{
	s->fence_fd = fd;
}

/*
 * reaper_thread() - the owner watch: when the owner of a remote context
 * dies, its contexts are detached now, not when its connection closes (a
 * child that inherited the connection may keep it open for ever). A
 * thread of its own: detaching waits on the master lock and the AFU.
 */
static void *reaper_thread(void *arg)
{
	struct msrv *s = arg;
	struct pollfd p[3] = { { .fd = master_owner_fd(s->m), .events = POLLIN },
			       { .fd = s->stop_fd, .events = POLLIN },
			       { .fd = s->fence_fd, .events = POLLIN } };

	pthread_mutex_lock(&s->lock);
	s->running++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("owner watch: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (p[2].revents) {
			uint64_t v;

			if (read(s->fence_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("fence eventfd: %s", strerror(errno));
			fence_sweep(s);
		}
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
	s->ep = -1;
	s->stop_fd = -1;
	s->fence_fd = -1;
	s->nworkers = ops->workers ? ops->workers : MSRV_WORKERS;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->work_cv, NULL);
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
	fd = wire_listen(path, 1024);
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

static int start_threads(struct msrv *s)
{
	unsigned want = 0;
	int rc;

	s->workers = calloc(s->nworkers, sizeof(*s->workers));
	if (!s->workers)
		return -ENOMEM;
	rc = -pthread_create(&s->reaper, NULL, reaper_thread, s);
	s->reaper_started = !rc;
	want += !rc;
	if (!rc) {
		rc = -pthread_create(&s->loop, NULL, loop_thread, s);
		s->loop_started = !rc;
		want += !rc;
	}
	for (unsigned i = 0; !rc && i < s->nworkers; i++) {
		pthread_attr_t attr;

		s->workers[i].s = s;
		s->workers[i].buf = malloc(WIRE_MAX_PAYLOAD);
		if (!s->workers[i].buf) {
			rc = -ENOMEM;
			break;
		}
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		rc = -pthread_create(&s->workers[i].t, &attr, worker_thread, &s->workers[i]);
		pthread_attr_destroy(&attr);
		s->workers[i].started = !rc;
		want += !rc;
	}
	/* Return only once the threads run: a process may fork right after
	 * (children.c), and a thread still starting up may hold allocator
	 * locks the child would inherit locked. */
	pthread_mutex_lock(&s->lock);
	while (s->running < want)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int msrv_start(struct msrv *s)
{
	struct epoll_event ls = { .events = EPOLLIN, .data.ptr = &s->lsock };
	struct epoll_event st = { .events = EPOLLIN, .data.ptr = &s->stop_fd };
	int rc;

	if (s->lsock < 0)
		return -EINVAL;
	rc = master_owner_fd(s->m);
	if (rc < 0)
		return rc;
	if (fcntl(s->lsock, F_SETFL, fcntl(s->lsock, F_GETFL) | O_NONBLOCK) != 0)
		return -errno;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0)
		return -errno;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0)
		return -errno;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lsock, &ls) != 0 ||
	    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->stop_fd, &st) != 0)
		return -errno;
	return start_threads(s); /* on failure, msrv_destroy() stops those that run */
}

unsigned msrv_connections(struct msrv *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->nconns;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void msrv_tenants(struct msrv *s, void (*fn)(void *arg, uid_t uid, unsigned conns,
					      const struct mlimits *lim), void *arg)
{
	pthread_mutex_lock(&s->lock);
	for (struct muid *u = s->uids; u; u = u->next)
		if (u->conns)
			fn(arg, u->uid, u->conns, &u->lim);
	pthread_mutex_unlock(&s->lock);
}

void msrv_destroy(struct msrv *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->lock);
	if (s->stop_fd >= 0) {
		uint64_t one = 1;

		if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("cannot stop the server's threads");
	}
	if (s->loop_started)
		pthread_join(s->loop, NULL); /* no new connection after this */
	/* A worker waiting to send a reply sees its connection end. */
	pthread_mutex_lock(&s->lock);
	for (struct mconn *c = s->conns; c; c = c->next)
		shutdown(c->sock, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; s->workers && i < s->nworkers; i++) {
		if (s->workers[i].started)
			pthread_join(s->workers[i].t, NULL);
		free(s->workers[i].buf);
	}
	free(s->workers);
	/* No thread serves any connection now: end them all, each one's
	 * contexts detached. */
	while (s->conns)
		conn_end(s, s->conns, false);
	if (s->reaper_started)
		pthread_join(s->reaper, NULL);
	if (s->ep >= 0)
		close(s->ep);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->lsock >= 0) {
		close(s->lsock);
		if (s->path[0] && s->path[0] != '@')
			unlink(s->path);
	}
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
