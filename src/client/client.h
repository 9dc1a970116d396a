/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.h - the client side of the control API when the master is in
 * another process (cxlflashd, or the parent of a forked child), and the DMA
 * areas a process has mapped. Used by embedded.c, which owns the fd table.
 */
#ifndef CXLFLASH_CLIENT_H
#define CXLFLASH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cxlflash/cxlflash_ioctl.h>

/*
 * remote_open() - connect to the master at @server and open @lun there.
 * Return: the connection (fd1), -ENOENT when no master listens there or it
 * does not serve @lun (the caller then opens in-process), or -errno (EACCES
 * when the master refuses this user, EBUSY, ...).
 */
int remote_open(const char *server, const char *lun, int oflags);

/*
 * remote_open_any() - remote_open() at each socket of @servers (separated
 * by ':') in turn, until one serves @lun: after a takeover the LUN is
 * served by another daemon of the list. Return: as remote_open(); -ENOENT
 * when none serves it, else the first other error met.
 */
int remote_open_any(const char *servers, const char *lun, int oflags);

/*
 * remote_ioctl() - run @request with @u (already copied in) at the master
 * behind @sock. ATTACH gets its DMA area reserved and mapped here, so that
 * the addresses the master was told are this process's; RECOVER_AFU maps
 * the new descriptor over the old area. @u is updated on success.
 * Return: 0 or -errno (-EPIPE / -ECONNRESET when the master is gone).
 */
int remote_ioctl(int sock, unsigned long request, union cxlflash_ioctls *u);

/* remote_alive() - false once the master behind @sock has gone away. */
bool remote_alive(int sock);

/* ---- DMA areas (dma.c) ---------------------------------------------------- */

/*
 * dma_map_attach() - map context @ctxid's descriptor @fd (window + @dma_size
 * bytes) at @at (a reservation made for it) or anywhere (@at NULL), remember
 * it, and return the DMA area's address. Return NULL on failure (errno set).
 */
void *dma_map_attach(uint64_t ctxid, int fd, uint64_t dma_size, void *at);
/* dma_map_ref() - one more attachment (ATTACH with REUSE) of a known context. */
void dma_map_ref(uint64_t ctxid);
/* dma_map_recover() - @old became @new with descriptor @fd: map it in place. */
int dma_map_recover(uint64_t old_ctxid, uint64_t new_ctxid, int fd);
/* dma_map_put() - one attachment of @ctxid ended; the last unmaps it. */
void dma_map_put(uint64_t ctxid);
/* dma_map_known() - whether @ctxid has a mapped DMA area here. */
bool dma_map_known(uint64_t ctxid);
/* dma_map_forget_all() - in a forked child: unmap every area (the
 * parent's contexts are not ours) and forget them. */
void dma_map_forget_all(void);

/* ---- serving forked children (children.c) ---------------------------------- */

struct master;
/* children_server_start() - make @m reachable by this process's children
 * at children_server_path(getpid()). Idempotent. Return 0 or -errno. */
int children_server_start(struct master *m);
/* children_server_stop() - stop it (the master is going away). */
void children_server_stop(void);
/* children_server_connections() - children connected now. */
unsigned children_server_connections(void);
/* children_server_path() - the abstract socket name for @parent's server. */
void children_server_path(int parent, char *buf, size_t len);

#endif /* CXLFLASH_CLIENT_H */
