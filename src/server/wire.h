/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire.h - the messages between a client process and a master that serves
 * it from another process (cxlflashd, or a parent serving its children).
 *
 * One SOCK_SEQPACKET connection per open LUN (the client's fd1). The first
 * request is OPEN; after that each IOCTL request carries one DK_CXLFLASH_*
 * struct and gets one reply with the struct back and, for ATTACH and
 * RECOVER_AFU, the context's descriptor (window + DMA area) attached with
 * SCM_RIGHTS. The server learns who sent each message from SCM_CREDENTIALS
 * (the kernel fills them in), so a forked child on an inherited connection
 * is still told apart from its parent. Admin requests (STATUS, LUN_MODE,
 * ...) come on their own connections.
 */
#ifndef CXLFLASH_WIRE_H
#define CXLFLASH_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define WIRE_MAGIC   0x46534c43u /* "CLSF" little-endian: a cxlflash wire message */
#define WIRE_VERSION 1
#define WIRE_MAX_PAYLOAD 32768   /* one message's payload; longer replies come in parts */

enum wire_op {
	WIRE_OP_OPEN = 1,   /* payload: LUN name; request: open flags */
	WIRE_OP_IOCTL,      /* payload: the request struct; request: DK_CXLFLASH_* code */
	WIRE_OP_STATUS,     /* request: WIRE_STATUS_* flags; reply: text in parts, empty last */
	WIRE_OP_LUN_MODE,   /* payload: LUN name or WWID (hex); request: 1 superpipe, 0 legacy */
	WIRE_OP_CHECK,      /* reply: status 0, or -EUCLEAN with the violation as text */
	WIRE_OP_CTX_ERROR,  /* request: context id to put in the error state (tests, root only) */
};

#define WIRE_STATUS_JSON  0x1
#define WIRE_STATUS_VLUNS 0x2   /* only the vLUN list */

struct wire_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t op;
	uint64_t request;
	int32_t status;     /* replies: 0 or -errno */
	uint32_t len;       /* payload bytes that follow */
	uint32_t more;      /* replies in parts: 1 while more parts follow */
	uint32_t pad;
};

/* Who sent a message, as the kernel says. @pidfd: the sender's pidfd
 * (SCM_PIDFD, when the socket has SO_PASSPIDFD: see wire_pass_pidfd), or
 * -1; the receiver closes it. @pidfd_err: the kernel sent SCM_PIDFD but
 * could not make the pidfd (-EMFILE: our table is full), else 0. */
struct wire_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int pidfd;
	int pidfd_err;
};

/*
 * wire_send() - one message: @h (magic and version filled in here), @len
 * bytes of @payload, and @pass_fd (>= 0) as SCM_RIGHTS.
 * Return: 0 or -errno (-EPIPE when the peer is gone).
 */
int wire_send(int sock, struct wire_msg *h, const void *payload, size_t len, int pass_fd);

/*
 * wire_recv() - one message into @h and up to @cap bytes of @payload.
 * @fd_out: a descriptor that came with it, or -1 (NULL: close any).
 * @cred: the sender (SO_PASSCRED must be on), or NULL; on success
 * @cred->pidfd is the sender's pidfd or -1, to be closed by the caller.
 * Return: 0, -ECONNRESET at end of stream, -EPROTO for a malformed
 * message (bad magic or version, truncated, payload over @cap), -EMFILE
 * when a descriptor sent with it (or the sender's pidfd) could not be
 * received (no free slot: the message is in @h all the same, but without
 * them), or -errno.
 */
int wire_recv(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
	      struct wire_cred *cred);

/*
 * wire_recv_spin() - wire_recv(), but polling without blocking for up to
 * @spin_ns before it sleeps: for a message expected within microseconds.
 */
int wire_recv_spin(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
		   struct wire_cred *cred, uint64_t spin_ns);

/*
 * wire_try_recv() - wire_recv_spin(), but never sleeping: -EAGAIN when no
 * message came within @spin_ns (an event loop's receive).
 */
int wire_try_recv(int sock, struct wire_msg *h, void *payload, size_t cap, int *fd_out,
		  struct wire_cred *cred, uint64_t spin_ns);

/* How long wire_call() polls for its reply before it sleeps. */
#define WIRE_CALL_SPIN_NS 150000ull

/*
 * wire_call() - send a request and receive its one reply (client side).
 * @reply_cap: room at @reply; the reply's payload length is in @h->len.
 * Return: 0 and the reply in @h (its status may be an error), or -errno.
 */
int wire_call(int sock, struct wire_msg *h, const void *payload, size_t len, void *reply,
	      size_t reply_cap, int *fd_out);
/* wire_call_fd() - wire_call() that sends @pass_fd (>= 0) with the request. */
int wire_call_fd(int sock, struct wire_msg *h, const void *payload, size_t len, int pass_fd,
		 void *reply, size_t reply_cap, int *fd_out);

/*
 * wire_socket_path() - the daemon's socket: $CXLFLASH_SOCKET, or the
 * default. $CXLFLASH_SOCKET may list several, separated by ':' (daemons
 * on one pool that take each other's rbd LUNs over, docs/scale-out.md):
 * this is the first; wire_socket_list() gives them all.
 */
const char *wire_socket_path(void);
/* wire_socket_list() - $CXLFLASH_SOCKET as it is (one or more sockets
 * separated by ':'), or the default. */
const char *wire_socket_list(void);
#define WIRE_DEFAULT_SOCKET "/run/cxlflash/cxlflashd.sock"

/*
 * wire_connect() - connect to @path ("@name" = abstract namespace).
 * Return: the socket, or -errno.
 */
int wire_connect(const char *path);

/* wire_listen() - bind and listen on @path ("@name" = abstract), with
 * SO_PASSCRED on. Return: the socket, or -errno. */
int wire_listen(const char *path, int backlog);

/* wire_pass_pidfd() - ask the kernel for the sender's pidfd with every
 * message received on @sock (SO_PASSPIDFD, Linux 6.5; on a listening
 * socket, for the connections it accepts). Return 0 or -errno. */
int wire_pass_pidfd(int sock);

#endif /* CXLFLASH_WIRE_H */
