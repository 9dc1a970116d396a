/* SPDX-License-Identifier: Apache-2.0 */
/*
 * owner.c - who owns a context, and what the owner's death does.
 *
 * A context belongs to the process identity that attached it (pident.h:
 * pid plus an id that is never reused), so a process that later gets the
 * same pid owns nothing of it (issue 12). A remote context also keeps a
 * pidfd of its owner in the master's owner epoll: when the owner exits the
 * pidfd polls readable, and the server serving the master detaches the
 * context at once, although the connection it came through may live on in
 * a forked child that inherited it.
 */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/log.h"

void mcaller_local(struct mcaller *who)
{
	struct mcaller me = { .uid = geteuid(), .pidfd = -1 };

	if (pident_self(&me.id))
		me.id.pid = getpid(); /* id 0: no context can be ours (no pidfd here) */
	*who = me;
}

int master_owner_fd(struct master *m)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	if (m->owner_ep < 0) {
		m->owner_ep = epoll_create1(EPOLL_CLOEXEC);
		if (m->owner_ep < 0)
			log_warn("owner watch: epoll_create1: %s", strerror(errno));
	}
	rc = m->owner_ep >= 0 ? m->owner_ep : -errno;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/*
 * owner_watch() - a new context @c of @who: record the owner, and for a
 * remote one watch a pidfd of it. A remote context that cannot be watched
 * is refused (it could outlive its owner). Master lock held.
 */
int owner_watch(struct master *m, struct mctx *c, const struct mcaller *who)
{
	struct epoll_event ev = { .events = EPOLLIN };

	c->owner = who->id;
	c->owner_uid = who->uid;
	c->owner_fd = -1;
	c->serial = ++m->next_serial;
	if (!who->remote)
		return 0;
	if (who->pidfd < 0 || m->owner_ep < 0 || !who->id.id)
		return -ESRCH;
	c->owner_fd = fcntl(who->pidfd, F_DUPFD_CLOEXEC, 0);
	if (c->owner_fd < 0)
		return -errno;
	ev.data.u64 = c->serial;
	if (epoll_ctl(m->owner_ep, EPOLL_CTL_ADD, c->owner_fd, &ev) != 0) {
		int rc = -errno;

		close(c->owner_fd);
		c->owner_fd = -1;
		return rc;
	}
	return 0;
}

/* owner_unwatch() - @c is going away. Master lock held. */
void owner_unwatch(struct master *m, struct mctx *c)
{
	if (c->owner_fd < 0)
		return;
	epoll_ctl(m->owner_ep, EPOLL_CTL_DEL, c->owner_fd, NULL);
	close(c->owner_fd);
	c->owner_fd = -1;
}

int master_ctx_owned(struct master *m, uint64_t ctxid, const struct pident *id)
{
	uint64_t slot = ctxid & 0xFFFFFFFFull;
	struct mctx *c;
	int rc = -EINVAL;

	pthread_mutex_lock(&m->lock);
	c = slot < AFU_MAX_CONTEXTS ? m->ctx_tbl[slot] : NULL;
	if (c && c->ctxid == ctxid)
		rc = pident_same(&c->owner, id);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

struct afu_runner *master_ctx_runner(struct master *m, uint64_t ctxid)
{
	uint64_t slot = ctxid & 0xFFFFFFFFull;
	struct afu_runner *r = NULL;
	struct mctx *c;

	pthread_mutex_lock(&m->lock);
	c = slot < AFU_MAX_CONTEXTS ? m->ctx_tbl[slot] : NULL;
	if (c && c->ctxid == ctxid && !c->bounded && c->actx)
		r = afu_ctx_runner(c->actx);
	pthread_mutex_unlock(&m->lock);
	return r;
}

unsigned master_reap_dead_owners(struct master *m)
{
	struct epoll_event ev[16];
	unsigned reaped = 0;
	int n, ep;

	pthread_mutex_lock(&m->lock);
	ep = m->owner_ep;
	pthread_mutex_unlock(&m->lock);
	if (ep < 0)
		return 0;
	n = epoll_wait(ep, ev, 16, 0);
	if (n <= 0)
		return 0;
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < n; i++) {
		/* By serial: a context detached since has no entry any more. */
		for (unsigned k = 0; k < AFU_MAX_CONTEXTS; k++) {
			struct mctx *c = m->ctx_tbl[k];

			if (!c || c->serial != ev[i].data.u64)
				continue;
			log_info("context 0x%llx: owner pid %d exited, detaching",
				 (unsigned long long)c->ctxid, (int)c->owner.pid);
			ctx_detach_all(m, c);
			reaped++;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return reaped;
}
