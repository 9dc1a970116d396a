/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire.c - sending and receiving wire messages with descriptors and
 * credentials (see wire.h).
 */
#include "server/wire.h"
#include "util/clock.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* Linux 6.5; older C library headers lack them. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

int wire_send(int sock, struct wire_msg *h, const void *payload, size_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ .iov_base = h, .iov_len = sizeof(*h) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (len > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	h->magic = WIRE_MAGIC;
	h->version = WIRE_VERSION;
	h->len = (uint32_t)len;
	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(*h) + len ? 0 : -EIO;
}

/*
 * recv_spin() - recvmsg(), trying without blocking for up to @spin_ns
 * first. A blocked receiver costs the sender a wake-up (several µs on a
 * VM) and itself a trip through the scheduler; a reply or follow-up
 * request usually comes sooner. Each miss yields the CPU: on a small host
 * the thread we wait for may need it.
 */
static ssize_t recv_spin(int sock, struct msghdr *mh, int flags, uint64_t spin_ns, bool block)
{
	struct msghdr m0 = *mh;
	uint64_t start = 0;
	int saved_errno = errno;
	ssize_t n;

	while (spin_ns) {
		n = recvmsg(sock, mh, flags | MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return n;
		errno = saved_errno;   /* a miss is no error for the caller */
		*mh = m0;
		if (!start)
			start = now_ns();
		else if (now_ns() - start >= spin_ns)
			break;
		sched_yield();
	}
	if (!block)
		flags |= MSG_DONTWAIT;
	do {
		n = recvmsg(sock, mh, flags);
	} while (n < 0 && errno == EINTR);
	return n;
}

int wire_recv(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
	      struct wire_cred *cred)
{
	return wire_recv_spin(sock, h, payload, cap, fd_out, cred, 0);
}

static int recv_msg(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
		    struct wire_cred *cred, uint64_t spin_ns, bool block);

int wire_recv_spin(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
		   struct wire_cred *cred, uint64_t spin_ns)
{
	return recv_msg(sock, h, payload, cap, fd_out, cred, spin_ns, true);
}

int wire_try_recv(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
		  struct wire_cred *cred, uint64_t spin_ns)
{
	return recv_msg(sock, h, payload, cap, fd_out, cred, spin_ns, false);
}

static int recv_msg(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
		    struct wire_cred *cred, uint64_t spin_ns, bool block)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) +
			 CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ .iov_base = h, .iov_len = sizeof(*h) },
		{ .iov_base = payload, .iov_len = cap },
	};
	struct msghdr mh = {
		.msg_iov = iov, .msg_iovlen = cap ? 2 : 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	bool have_cred = false;
	int got_fd = -1;
	ssize_t n;

	if (fd_out)
		*fd_out = -1;
	if (cred) {
		cred->pidfd = -1;
		cred->pidfd_err = 0;
	}
	n = recv_spin(sock, &mh, MSG_CMSG_CLOEXEC, spin_ns, block);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_RIGHTS) {
			size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < nfd; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (got_fd < 0)
					got_fd = fd;
				else
					close(fd); /* only one is ever expected */
			}
		} else if (cm->cmsg_type == SCM_CREDENTIALS && cred) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
			cred->pid = uc.pid;
			cred->uid = uc.uid;
			cred->gid = uc.gid;
			have_cred = true;
		} else if (cm->cmsg_type == SCM_PIDFD &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int fd;

			/* A negative value: the kernel could not make one
			 * (-EMFILE: our table is full). */
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
			if (fd >= 0 && cred && cred->pidfd < 0)
				cred->pidfd = fd;
			else if (fd >= 0)
				close(fd);
			else if (cred)
				cred->pidfd_err = fd;
		}
	}
	if (n == 0) {
		/* End of stream, or an empty message: one that carried a
		 * descriptor had it installed all the same, and so had the
		 * sender's pidfd (fuzz_wire found every such message leaking
		 * them into the daemon). */
		if (got_fd >= 0)
			close(got_fd);
		if (cred && cred->pidfd >= 0) {
			close(cred->pidfd);
			cred->pidfd = -1;
		}
		return -ECONNRESET;
	}
	if (got_fd >= 0) {
		if (fd_out)
			*fd_out = got_fd;
		else
			close(got_fd);
	}
	if ((size_t)n < sizeof(*h) || (mh.msg_flags & MSG_TRUNC) ||
	    h->magic != WIRE_MAGIC || h->version != WIRE_VERSION ||
	    h->len != (size_t)n - sizeof(*h))
		goto bad;
	if (mh.msg_flags & MSG_CTRUNC) {
		/* Room is made for every control message we expect: a
		 * descriptor the kernel could not install (our descriptor
		 * table is full: one sent, or the sender's pidfd) is what
		 * truncates. The message itself is whole, in @h. */
		if (fd_out && *fd_out >= 0) {
			close(*fd_out);
			*fd_out = -1;
		}
		if (cred && cred->pidfd >= 0) {
			close(cred->pidfd);
			cred->pidfd = -1;
		}
		return -EMFILE;
	}
	if (cred && !have_cred) {
		/* No SCM_CREDENTIALS (should not happen with SO_PASSCRED): the
		 * connecting process then. */
		struct ucred uc;
		socklen_t l = sizeof(uc);

		if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &l) != 0)
			goto bad;
		cred->pid = uc.pid;
		cred->uid = uc.uid;
		cred->gid = uc.gid;
	}
	return 0;
bad:
	if (fd_out && *fd_out >= 0) {
		close(*fd_out);
		*fd_out = -1;
	}
	if (cred && cred->pidfd >= 0) {
		close(cred->pidfd);
		cred->pidfd = -1;
	}
	return -EPROTO;
}

int wire_call(int sock, struct wire_msg *h, const void *payload, size_t len, void *reply,
	      size_t reply_cap, int *fd_out)
{
	return wire_call_fd(sock, h, payload, len, -1, reply, reply_cap, fd_out);
}

int wire_call_fd(int sock, struct wire_msg *h, const void *payload, size_t len, int pass_fd,
		 void *reply, size_t reply_cap, int *fd_out)
{
	uint16_t op = h->op;
	int rc = wire_send(sock, h, payload, len, pass_fd);

	if (rc)
		return rc;
	rc = wire_recv_spin(sock, h, reply, reply_cap, fd_out, NULL, WIRE_CALL_SPIN_NS);
	if (rc == 0 && h->op != op) {
		if (fd_out && *fd_out >= 0) {
			close(*fd_out);
			*fd_out = -1;
		}
		rc = -EPROTO;
	}
	return rc;
}

const char *wire_socket_list(void)
{
	const char *s = getenv("CXLFLASH_SOCKET");

	return s && *s ? s : WIRE_DEFAULT_SOCKET;
}

const char *wire_socket_path(void)
{
	static __thread char first[108];
	const char *s = wire_socket_list();
	size_t n = strcspn(s, ":");

	if (!s[n] || n == 0)
		return s;
	snprintf(first, sizeof(first), "%.*s", (int)n, s);
	return first;
}

static int make_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@')
		sa->sun_path[0] = 0; /* abstract namespace */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

int wire_connect(const char *path)
{
	struct sockaddr_un sa;
	socklen_t len;
	int s, rc = make_addr(path, &sa, &len);

	if (rc)
		return rc;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, len) != 0) {
		rc = -errno;
		close(s);
		return rc;
	}
	return s;
}

/* wire_listen() - bind and listen on @path ("@name" = abstract). Return the socket or -errno. */
int wire_listen(const char *path, int backlog)
{
	struct sockaddr_un sa;
	socklen_t len;
	int one = 1, s, rc = make_addr(path, &sa, &len);

	if (rc)
		return rc;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	/* Set before accept so every accepted socket has it from its first message. */
	if (setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0 ||
	    bind(s, (struct sockaddr *)&sa, len) != 0 || listen(s, backlog) != 0) {
		rc = -errno;
		close(s);
		return rc;
	}
	return s;
}

int wire_pass_pidfd(int sock)
{
	int one = 1;

	return setsockopt(sock, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one)) ? -errno : 0;
}
