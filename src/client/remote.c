/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote.c - the control API over a wire connection (see client.h).
 */
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "master/master.h"
#include "server/wire.h"
#include "util/log.h"

int remote_open(const char *server, const char *lun, int oflags)
{
	struct wire_msg h = { .op = WIRE_OP_OPEN, .request = (uint64_t)oflags };
	size_t len = strlen(lun);
	int rc, sock = wire_connect(server);

	if (sock < 0)
		return sock == -ENOENT || sock == -ECONNREFUSED ? -ENOENT : sock;
	if (len == 0 || len >= WIRE_MAX_PAYLOAD) {
		close(sock);
		return -EINVAL;
	}
	rc = wire_call(sock, &h, lun, len, NULL, 0, NULL);
	if (!rc)
		rc = h.status;
	if (rc) {
		close(sock);
		return rc;
	}
	return sock;
}

int remote_open_any(const char *servers, const char *lun, int oflags)
{
	int first_err = -ENOENT;

	for (const char *p = servers; *p;) {
		size_t n = strcspn(p, ":");
		char one[108];
		int fd;

		if (n && n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = 0;
			fd = remote_open(one, lun, oflags);
			if (fd >= 0)
				return fd;
			if (fd != -ENOENT && first_err == -ENOENT)
				first_err = fd;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return first_err;
}

/* Round the DMA area asked for; 0 takes the master's default size. */
static uint64_t dma_request(uint64_t size)
{
	if (!size)
		size = MASTER_DEFAULT_DMA;
	return (size + 4095) & ~4095ull;
}

static int call_fd(int sock, unsigned long request, union cxlflash_ioctls *u, size_t size,
		   int pass_fd, int *fd)
{
	struct wire_msg h = { .op = WIRE_OP_IOCTL, .request = request };
	union cxlflash_ioctls reply;
	int rc = wire_call_fd(sock, &h, u, size, pass_fd, &reply, sizeof(reply), fd);

	if (rc)
		return rc;
	if (h.status) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		if (h.len)   /* the master's reason, e.g. a LUN in legacy mode */
			log_err("%.*s", (int)h.len, (const char *)&reply);
		return h.status;
	}
	if (h.len != size) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	memcpy(u, &reply, size);
	return 0;
}

static int call(int sock, unsigned long request, union cxlflash_ioctls *u, size_t size,
		int *fd)
{
	return call_fd(sock, request, u, size, -1, fd);
}

static int remote_attach(int sock, union cxlflash_ioctls *u)
{
	struct dk_cxlflash_attach *a = &u->attach;
	bool reuse = a->hdr.flags & DK_CXLFLASH_ATTACH_REUSE_CONTEXT;
	uint64_t dma = dma_request(a->dma_size);
	size_t total = SISL_HOST_MAP_SIZE + dma;
	void *resv = NULL;
	int fd = -1, rc;

	if (!reuse) {
		/* Reserve the range first: the master must know where the
		 * area will be in our address space before the AFU may use it. */
		resv = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);
		if (resv == MAP_FAILED)
			return -ENOMEM;
		a->dma_size = dma;
		a->dma_ea = (uint64_t)(uintptr_t)resv + SISL_HOST_MAP_SIZE;
	}
	/* A buffer area (cblk_dma_alloc's memory) goes with it as its memfd. */
	rc = call_fd(sock, DK_CXLFLASH_ATTACH, u, sizeof(*a),
		     !reuse && a->buf_size ? (int)a->buf_fd : -1, &fd);
	if (rc) {
		if (resv)
			munmap(resv, total);
		return rc;
	}
	if (reuse) {
		dma_map_ref(a->context_id);
		return 0;
	}
	if (fd < 0 || a->dma_size != dma) {
		rc = -EPROTO;
	} else if (!dma_map_attach(a->context_id, fd, dma, resv)) {
		rc = -errno;
	}
	if (rc) {
		struct dk_cxlflash_detach d = { .context_id = a->context_id };
		int nfd = -1;

		if (fd >= 0)
			close(fd);
		munmap(resv, total);
		call(sock, DK_CXLFLASH_DETACH, (union cxlflash_ioctls *)&d, sizeof(d), &nfd);
		return rc;
	}
	a->adap_fd = (uint64_t)fd;
	a->dma_ea = (uint64_t)(uintptr_t)resv + SISL_HOST_MAP_SIZE;
	return 0;
}

int remote_ioctl(int sock, unsigned long request, union cxlflash_ioctls *u)
{
	size_t size = master_ioctl_size(request);
	uint64_t old_ctx;
	int fd = -1, rc;

	if (!size)
		return -EINVAL;
	switch (request) {
	case DK_CXLFLASH_ATTACH:
		return remote_attach(sock, u);
	case DK_CXLFLASH_RECOVER_AFU:
		old_ctx = u->recover_afu.context_id;
		rc = call(sock, request, u, size, &fd);
		if (rc)
			return rc;
		if (u->recover_afu.hdr.return_flags & DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET) {
			if (fd < 0)
				return -EPROTO;
			rc = dma_map_recover(old_ctx, u->recover_afu.context_id, fd);
			if (rc) {
				close(fd);
				return rc;
			}
			u->recover_afu.adap_fd = (uint64_t)fd;
		} else if (fd >= 0) {
			close(fd);
		}
		return 0;
	case DK_CXLFLASH_DETACH:
		old_ctx = u->detach.context_id;
		rc = call(sock, request, u, size, &fd);
		if (!rc)
			dma_map_put(old_ctx);
		return rc;
	default:
		rc = call(sock, request, u, size, &fd);
		if (fd >= 0)
			close(fd);
		return rc;
	}
}

bool remote_alive(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLRDHUP };

	if (poll(&p, 1, 0) < 0)
		return true;
	return !(p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}
