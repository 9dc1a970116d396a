/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_wire.c - Description: the control wire protocol as cxlflashd's
 * server decodes it. A whole daemon runs in this process (daemon_start():
 * a superpipe LUN and a legacy LUN, both in memory, on an abstract socket,
 * no NBD); each input is one client connection sending a sequence of
 * messages, every op and every DK_CXLFLASH_* request, with or without a
 * descriptor attached, well-formed or raw bytes.
 *
 * Input: records of
 *   u8 flags, u8 op, u8 sel, u16 len (little-endian), len payload bytes
 * flags:
 *   0x01 RAW     the payload is the whole message, header included
 *   0x02 FD      attach a descriptor (/dev/null) with SCM_RIGHTS
 *   0x04 SIZE    an IOCTL's payload (the len bytes) is cut or zero-padded to
 *                the request's struct size
 *   0x08 CTX24   the last context id a reply gave goes at payload offset 24
 *   0x10 CTX32   ... at offset 32 (ATTACH reuse, RECOVER_AFU, CLONE dst)
 *   0x20 RES32   the last resource handle a reply gave goes at offset 32
 *   0x40 NEWCONN close the connection first and open a new one
 * op is taken modulo 8 (0 and 7 are no op); sel picks the IOCTL request
 * from a table, else is the request word (STATUS flags, LUN_MODE 1/0, a
 * context id; with CTX24 the last context id).
 *
 * Checks: every well-formed message gets exactly one reply (in parts for
 * text) with its op, within 10 s; a malformed one ends the connection; and
 * after each input the master's own consistency check (WIRE_OP_CHECK:
 * open handles against LUN users, chunk references against LXT entries)
 * passes once the connection is gone, i.e. its contexts were detached, and
 * the process holds no more descriptors than before it (but for the
 * master's spare window).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>

#include "daemon/daemon.h"
#include "fuzz_util.h"
#include "server/wire.h"

#define F_RAW     0x01
#define F_FD      0x02
#define F_SIZE    0x04
#define F_CTX24   0x08
#define F_CTX32   0x10
#define F_RES32   0x20
#define F_NEWCONN 0x40

#define REPLY_TIMEOUT_MS 10000

static const unsigned long requests[] = {
	DK_CXLFLASH_ATTACH, DK_CXLFLASH_USER_DIRECT, DK_CXLFLASH_RELEASE,
	DK_CXLFLASH_DETACH, DK_CXLFLASH_VERIFY, DK_CXLFLASH_RECOVER_AFU,
	DK_CXLFLASH_MANAGE_LUN, DK_CXLFLASH_USER_VIRTUAL, DK_CXLFLASH_VLUN_RESIZE,
	DK_CXLFLASH_VLUN_CLONE, HT_CXLFLASH_LUN_PROVISION, HT_CXLFLASH_AFU_DEBUG,
	0x12345678,
};
#define NREQUESTS (sizeof(requests) / sizeof(requests[0]))

static struct cxlfd *cxlfd;
static char sock_path[64];
static int null_fd;
static uint64_t last_ctx, last_res;
static uint8_t *reply_buf;
static int base_fds;          /* descriptors open between inputs */

static int count_fds(bool show);
static int conn_open(void);
static void conn_close(int s);
static int count_fds_like(bool show, const char *prefix);
static int base_sockets;      /* the daemon's listening socket */
static void master_consistent(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct daemon_config cfg;
	int rc;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(sock_path, sizeof(sock_path), "@cxlflash-fuzz-wire-%d", (int)getpid());
	daemon_config_defaults(&cfg);
	snprintf(cfg.socket, sizeof(cfg.socket), "%s", sock_path);
	cfg.nbd = false;
	cfg.nbd_socket[0] = 0;
	cfg.nbd_tcp_addr[0] = 0;
	cfg.max_dma = 1 << 20;
	if (daemon_add_lun(&cfg, "lun0=ram:64M") || daemon_add_lun(&cfg, "lun1=ram:16M") ||
	    daemon_lun_option(&cfg, "wwid", "lun0=600a0b800026a5b40000000000000001") ||
	    daemon_lun_option(&cfg, "legacy", "lun1"))
		abort();
	rc = daemon_start(&cfg, &cxlfd);
	if (rc) {
		dprintf(2, "fuzz_wire: cannot start the daemon: %s\n", strerror(-rc));
		abort();
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	reply_buf = malloc(WIRE_MAX_PAYLOAD);
	if (null_fd < 0 || !reply_buf)
		abort();
	/* The first connection's and the first OPEN's one-time allocations
	 * (the server's caller identity keeps pidfds) before counting. */
	{
		struct wire_msg h = { .op = WIRE_OP_OPEN };
		int s = conn_open();

		if (wire_call(s, &h, "lun0", 4, reply_buf, WIRE_MAX_PAYLOAD, NULL) || h.status)
			abort();
		conn_close(s);
	}
	master_consistent();
	base_fds = count_fds(false);
	base_sockets = count_fds_like(false, "socket:");
	return 0;
}

static int conn_open(void)
{
	int s = wire_connect(sock_path);

	if (s < 0) {
		dprintf(2, "fuzz_wire: connect: %s\n", strerror(-s));
		abort();
	}
	return s;
}

/* Wait up to REPLY_TIMEOUT_MS for @s to be readable; a silent server is a hang. */
static void wait_readable(int s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	int r;

	/* libFuzzer's SIGALRM (its -timeout watchdog) interrupts poll(). */
	do
		r = poll(&p, 1, REPLY_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r != 1) {
		dprintf(2, "fuzz_wire: no reply for %d ms on descriptor %d; open now:\n",
			REPLY_TIMEOUT_MS, s);
		count_fds(true);
		if (getenv("FUZZ_HANG_GDB")) {
			char cmd[256];

			snprintf(cmd, sizeof(cmd), "ss -xpn | grep 'pid=%d,' >&2; "
				 "gdb -q -batch -p %d -ex 'thread apply all bt' >&2",
				 (int)getpid(), (int)getpid());
			if (system(cmd) != 0)
				dprintf(2, "fuzz_wire: gdb failed\n");
		}
		abort();
	}
}

/* Remember what a successful reply handed out, for later requests. */
static void note_reply(const struct wire_msg *h)
{
	if (h->op != WIRE_OP_IOCTL || h->status != 0)
		return;
	if (h->request == DK_CXLFLASH_ATTACH && h->len >= 40)
		memcpy(&last_ctx, reply_buf + 32, 8);
	else if (h->request == DK_CXLFLASH_RECOVER_AFU && h->len >= 40)
		memcpy(&last_ctx, reply_buf + 32, 8);
	else if (h->request == DK_CXLFLASH_USER_DIRECT && h->len >= 40)
		memcpy(&last_res, reply_buf + 32, 8);
	else if (h->request == DK_CXLFLASH_USER_VIRTUAL && h->len >= 48)
		memcpy(&last_res, reply_buf + 40, 8);
}

/*
 * The whole reply to a message with @op (parts until more == 0).
 * Return: 0, or -1 when the server ended the connection instead.
 */
static int read_reply(int s, uint16_t op, bool well_formed)
{
	for (;;) {
		struct wire_msg h;
		int fd = -1, rc;

		wait_readable(s);
		rc = wire_recv(s, &h, reply_buf, WIRE_MAX_PAYLOAD, &fd, NULL);
		if (fd >= 0)
			close(fd);   /* a context's window: not mapped here */
		if (rc == -ECONNRESET || rc == -EPIPE) {
			/* Only a malformed message ends a connection. */
			FUZZ_CHECK(!well_formed);
			return -1;
		}
		FUZZ_CHECK(rc == 0);
		if (well_formed)
			FUZZ_CHECK(h.op == op);
		note_reply(&h);
		if (!h.more)
			return 0;
	}
}

/* Send one raw packet (@fd attached when >= 0). Return: 0 or -errno. */
static int send_raw(int s, const void *buf, size_t len, int fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(s, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Close @s once the server has let go of it (its contexts detached). */
static void conn_close(int s)
{
	shutdown(s, SHUT_WR);
	for (;;) {
		struct wire_msg h;
		int fd = -1, rc;

		wait_readable(s);
		rc = wire_recv(s, &h, reply_buf, WIRE_MAX_PAYLOAD, &fd, NULL);
		if (fd >= 0)
			close(fd);
		if (rc && rc != -EPROTO)
			break;
	}
	close(s);
}

/* Descriptors open in this process (the daemon's included) but pipes;
 * @show lists them. */
static int count_fds(bool show)
{
	return count_fds_like(show, NULL);
}

static int count_fds_like(bool show, const char *prefix)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		char path[300], target[256];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;   /* closed since readdir() saw it */
		target[len] = 0;
		/* libFuzzer's symbolizer (llvm-symbolizer, started the first
		 * time it names a new function) talks through pipes. */
		if (!strncmp(target, "pipe:", 5))
			continue;
		if (prefix && strncmp(target, prefix, strlen(prefix)))
			continue;
		n++;
		if (show)
			dprintf(2, "  fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
	return n;
}

/* The master's consistency check, on a connection of its own. */
static void master_consistent(void)
{
	struct wire_msg h = { .op = WIRE_OP_CHECK };
	int s = conn_open();
	int rc = wire_call(s, &h, NULL, 0, reply_buf, WIRE_MAX_PAYLOAD - 1, NULL);

	FUZZ_CHECK(rc == 0);
	if (h.status) {
		reply_buf[h.len < WIRE_MAX_PAYLOAD ? h.len : WIRE_MAX_PAYLOAD - 1] = 0;
		dprintf(2, "fuzz_wire: master check: %s\n", (char *)reply_buf);
	}
	FUZZ_CHECK(h.status == 0);
	conn_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	static uint8_t pkt[sizeof(struct wire_msg) + WIRE_MAX_PAYLOAD];
	int s = conn_open(), n;
	bool alive = true;

	last_ctx = last_res = 0;
	while (in.left >= 5) {
		uint8_t flags = fuzz_u8(&in), op = fuzz_u8(&in) % 8, sel = fuzz_u8(&in);
		size_t len = fuzz_u16(&in);
		uint8_t *payload = pkt + sizeof(struct wire_msg);
		struct wire_msg *h = (struct wire_msg *)pkt;
		int fd = flags & F_FD ? null_fd : -1;

		if (len > WIRE_MAX_PAYLOAD)
			len = WIRE_MAX_PAYLOAD;
		if ((flags & F_NEWCONN) || !alive) {
			conn_close(s);
			s = conn_open();
			alive = true;
		}
		if (flags & F_RAW) {
			len = fuzz_bytes(&in, pkt, len);
			if (send_raw(s, pkt, len, fd) == 0 && len >= sizeof(*h)) {
				/* The server takes at most WIRE_MAX_PAYLOAD - 1 bytes. */
				bool ok = h->magic == WIRE_MAGIC && h->version == WIRE_VERSION &&
					  h->len == len - sizeof(*h) && h->len < WIRE_MAX_PAYLOAD;

				alive = read_reply(s, h->op, ok) == 0;
			} else {
				/* Too short to be a message: the server hangs up. */
				alive = read_reply(s, 0, false) == 0;
			}
			continue;
		}
		memset(h, 0, sizeof(*h));
		h->op = op;
		h->request = flags & F_CTX24 ? last_ctx : sel;
		len = fuzz_bytes(&in, payload, len < WIRE_MAX_PAYLOAD ? len : WIRE_MAX_PAYLOAD - 1);
		if (op == WIRE_OP_IOCTL) {
			size_t want;

			h->request = requests[sel % NREQUESTS];
			want = _IOC_SIZE(h->request);
			if ((flags & F_SIZE) && want < WIRE_MAX_PAYLOAD) {
				if (want > len)
					memset(payload + len, 0, want - len);
				len = want;
			}
		}
		if (len >= 32 && (flags & F_CTX24))
			memcpy(payload + 24, &last_ctx, 8);
		if (len >= 40 && (flags & F_CTX32))
			memcpy(payload + 32, &last_ctx, 8);
		if (len >= 40 && (flags & F_RES32))
			memcpy(payload + 32, &last_res, 8);
		h->magic = WIRE_MAGIC;
		h->version = WIRE_VERSION;
		h->len = (uint32_t)len;
		if (send_raw(s, pkt, sizeof(*h) + len, fd)) {
			alive = false;
			continue;
		}
		/* An OPEN's name must be a string; the rest is well-formed. */
		alive = read_reply(s, op, true) == 0;
	}
	conn_close(s);
	master_consistent();
	/* Every connection is gone: the daemon holds no more descriptors than
	 * before the input (a descriptor a client sent must not stay), but
	 * for the master's one spare window, made ahead for the next ATTACH.
	 * The server's thread may still be closing what the last connection
	 * had (its peer's pidfd) a moment after the client saw the hang-up: a
	 * leak stays, that does not (a 2026-12-07 run counted one such
	 * descriptor, readlink() already failing on it). */
	n = count_fds(false);
	for (int i = 0; i < 100 && n > base_fds + 1; i++) {
		usleep(1000);
		n = count_fds(false);
	}
	if (n > base_fds + 1) {
		dprintf(2, "fuzz_wire: %d descriptors open, %d at the start:\n", n, base_fds);
		count_fds(true);
	}
	FUZZ_CHECK(n <= base_fds + 1);
	/* Every connection is gone: no socket of one is left either. */
	n = count_fds_like(false, "socket:");
	for (int i = 0; i < 100 && n != base_sockets; i++) {
		usleep(1000);
		n = count_fds_like(false, "socket:");
	}
	if (n != base_sockets) {
		dprintf(2, "fuzz_wire: %d sockets open, %d at the start:\n", n, base_sockets);
		count_fds(true);
	}
	FUZZ_CHECK(n == base_sockets);
	return 0;
}
