/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_sock.c - socket I/O for an NBD connection: exact reads through a
 * small receive buffer (a pipelining client sends many 28-byte requests in
 * one segment; one recv() takes them all), and writes that never raise
 * SIGPIPE and mark the connection dead on failure.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "nbd/nbd_internal.h"

static ssize_t recv_some(struct nbd_conn *c, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(c->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	return n;
}

int nbd_recv(struct nbd_conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		size_t have = c->rlen - c->rpos;
		ssize_t n;

		if (have) {
			size_t take = have < len ? have : len;

			memcpy(p, c->rbuf + c->rpos, take);
			c->rpos += take;
			p += take;
			len -= take;
			continue;
		}
		/* Big payloads go straight to their buffer. */
		if (len >= sizeof(c->rbuf)) {
			n = recv_some(c, p, len);
			if (n < 0)
				return (int)n;
			p += n;
			len -= (size_t)n;
			continue;
		}
		n = recv_some(c, c->rbuf, sizeof(c->rbuf));
		if (n < 0)
			return (int)n;
		c->rpos = 0;
		c->rlen = (size_t)n;
	}
	return 0;
}

int nbd_discard(struct nbd_conn *c, uint64_t len)
{
	uint8_t sink[4096];

	while (len) {
		size_t n = len < sizeof(sink) ? (size_t)len : sizeof(sink);
		int rc = nbd_recv(c, sink, n);

		if (rc)
			return rc;
		len -= n;
	}
	return 0;
}

bool nbd_rx_ready(struct nbd_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	if (c->rpos < c->rlen)
		return true;
	return poll(&p, 1, 0) > 0;
}

int nbd_sendv(struct nbd_conn *c, struct iovec *iov, int n)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	if (c->dead)
		return -EPIPE;
	while (msg.msg_iovlen) {
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			c->dead = true;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		/* Step over what went out. */
		while (msg.msg_iovlen && (size_t)w >= msg.msg_iov->iov_len) {
			w -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + w;
			msg.msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int nbd_send(struct nbd_conn *c, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return nbd_sendv(c, &iov, 1);
}
