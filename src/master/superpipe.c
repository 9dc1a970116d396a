/* SPDX-License-Identifier: Apache-2.0 */
/*
 * superpipe.c - contexts and physical access: ATTACH, DETACH, RECOVER_AFU,
 * USER_DIRECT, RELEASE; context lookup by cookie, RHT entry checkout, the
 * window (a memfd the client maps through adap_fd), error state and the
 * "release" of a context whose adap_fd was closed.
 */
#include "master/master.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "backend/backend.h"
#include "util/log.h"

/* ------------------------------------------------------------------------
 * Context lookup and RHT entries
 */

/*
 * ctx_get() - the context named by @ctxid, if @who may use it on @lun.
 * All 64 bits of the cookie must match, so a stale cookie whose slot was
 * reused fails, and the owner's identity must be @who's (pid and never-
 * reused id: a recycled pid is someone else). CTX_CLONE looks for a context
 * owned by the caller's parent, which must still live; CTX_ERR_FALLBACK also
 * finds contexts in error; CTX_ANY_LUN skips the check that the context is
 * attached to @lun.
 */
struct mctx *ctx_get(struct master *m, uint64_t ctxid, struct mlun *lun,
		     const struct mcaller *who, int flags)
{
	uint64_t slot = ctxid & 0xFFFFFFFFull;
	const struct pident *owner = (flags & CTX_CLONE) ? &who->parent : &who->id;
	struct mctx *c;

	if (slot >= AFU_MAX_CONTEXTS)
		return NULL;
	c = m->ctx_tbl[slot];
	if (!c || c->ctxid != ctxid || !pident_same(&c->owner, owner))
		return NULL;
	if ((flags & CTX_CLONE) && c->owner_fd >= 0 && pident_exited(c->owner_fd))
		return NULL; /* dead, not yet reaped: its vLUNs are not to be had */
	if (c->err && !(flags & CTX_ERR_FALLBACK))
		return NULL;
	if (!(flags & CTX_ANY_LUN) && !ctx_access(c, lun))
		return NULL;
	return c;
}

struct mlun_access *ctx_access(struct mctx *c, struct mlun *lun)
{
	for (struct mlun_access *a = c->luns; a; a = a->next)
		if (a->lun == lun)
			return a;
	return NULL;
}

/* rhte_checkout() - the first free RHT entry, reserved for @lun; -EMFILE if none. */
int rhte_checkout(struct mctx *c, struct mlun *lun)
{
	for (unsigned h = 0; h < MASTER_RHT_PER_CONTEXT; h++) {
		if (c->rht[h].nmask == 0 && !c->rht_lun[h]) {
			c->rht_lun[h] = lun;
			c->rht_out++;
			return (int)h;
		}
	}
	return -EMFILE;
}

void rhte_checkin(struct mctx *c, unsigned h)
{
	afu_xlate_lock(c->actx);
	memset(&c->rht[h], 0, sizeof(c->rht[h]));
	afu_xlate_unlock(c->actx);
	c->rht_lun[h] = NULL;
	c->rht_needs_ws[h] = false;
	c->rht_vid[h] = 0;
	c->rht_out--;
}

/*
 * rhte_open() - the common start of USER_DIRECT and USER_VIRTUAL: take a
 * user of the LUN in @mode, find the caller's context, check out an RHT
 * entry. Return: the entry's index and *@out, or -errno with nothing held.
 */
int rhte_open(struct mopen *o, const struct mcaller *who, uint64_t ctxid, enum lun_mode mode,
	      struct mctx **out)
{
	struct mctx *c;
	int h, rc;

	rc = lun_attach(o->lun, mode);
	if (rc)
		return rc;
	c = ctx_get(o->m, ctxid, o->lun, who, CTX_PLAIN);
	h = c ? rhte_checkout(c, o->lun) : -EINVAL;
	if (h < 0) {
		lun_detach(o->lun);
		return h;
	}
	*out = c;
	return h;
}

/* rhte_get() - an in-use entry of @c that belongs to @lun, or NULL. */
struct sisl_rht_entry *rhte_get(struct mctx *c, struct mlun *lun, uint64_t h)
{
	if (h >= MASTER_RHT_PER_CONTEXT || c->rht_lun[h] != lun || c->rht[h].nmask == 0)
		return NULL;
	return &c->rht[h];
}

/* ------------------------------------------------------------------------
 * Windows and contexts
 */

/*
 * window_create() - a zeroed memfd of @size bytes (the 64 KiB window, then
 * the DMA area): @fd for the client, @map for us. The size is sealed: a
 * client that could shrink the file would make our next access SIGBUS.
 */
static int window_create(size_t size, int *fd, struct sisl_host_map **map)
{
	void *p;
	int rc, f = memfd_create("cxlflash-context", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (f < 0)
		return -errno;
	if (ftruncate(f, (off_t)size) != 0 ||
	    fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (p == MAP_FAILED)
		goto fail;
	*fd = f;
	*map = p;
	return 0;
fail:
	rc = -errno;
	close(f);
	return rc;
}

static size_t ctx_map_size(const struct mctx *c)
{
	return SISL_HOST_MAP_SIZE + c->dma_size;
}

static void window_free(struct mwin *w)
{
	munmap(w->map, w->size);
	close(w->fd);
}

/*
 * window_get() - a window for @c: the spare when it fits (a remote
 * context; made after an earlier reply, never handed out), else a new one.
 * Creating, sealing and mapping a memfd is a good part of an ATTACH.
 */
static int window_get(struct master *m, struct mctx *c, int *fd, struct sisl_host_map **map)
{
	size_t size = ctx_map_size(c);

	if (!c->bounded)
		return window_create(size, fd, map);
	m->spare_want = size;
	if (m->spare.map && m->spare.size == size) {
		*fd = m->spare.fd;
		*map = m->spare.map;
		m->spare.map = NULL;
		m->spare.fd = -1;
		return 0;
	}
	return window_create(size, fd, map);
}

/*
 * window_put() - @c's window is no longer ours to serve. A remote
 * context's is unmapped after the reply (master_deferred_work): nothing
 * touches it any more, and its client got its own descriptor.
 */
static void window_put(struct master *m, struct mctx *c)
{
	struct mwin *w = c->bounded ? malloc(sizeof(*w)) : NULL;

	if (!w) {
		munmap(c->map, ctx_map_size(c));
		if (c->bounded)
			close(c->adap_fd);
		return;
	}
	w->map = c->map;
	w->size = ctx_map_size(c);
	w->fd = c->adap_fd;
	w->next = m->dead_windows;
	m->dead_windows = w;
}

void master_deferred_work(struct master *m, bool prepare)
{
	struct mwin *dead, spare = { .fd = -1 };
	size_t want;

	afu_kick(m->afu);
	pthread_mutex_lock(&m->lock);
	dead = m->dead_windows;
	m->dead_windows = NULL;
	want = prepare && !m->spare.map ? m->spare_want : 0;
	pthread_mutex_unlock(&m->lock);
	while (dead) {
		struct mwin *next = dead->next;

		window_free(dead);
		free(dead);
		dead = next;
	}
	if (!want || window_create(want, &spare.fd, &spare.map))
		return;
	spare.size = want;
	pthread_mutex_lock(&m->lock);
	if (!m->spare.map && m->spare_want == want) {
		m->spare = spare;
		spare.map = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	if (spare.map)
		window_free(&spare); /* another thread made one first */
}

void master_windows_free(struct master *m)
{
	master_deferred_work(m, false);
	if (m->spare.map)
		window_free(&m->spare);
	m->spare.map = NULL;
	m->spare.fd = -1;
}

static int alloc_slot(struct master *m)
{
	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++)
		if (!m->ctx_tbl[i])
			return (int)i;
	return -EPERM; /* as the kernel, when no hardware context is left */
}

/*
 * ctx_start() - give @c a new slot, cookie, window and AFU context serving
 * its (existing) RHT. On failure @c is unchanged.
 */
static int ctx_start(struct master *m, struct mctx *c)
{
	struct afu_ctx_params p = { 0 };
	struct sisl_host_map *map = NULL;
	struct stat st;
	int slot, fd = -1, rc;

	slot = alloc_slot(m);
	if (slot < 0)
		return slot;
	rc = window_get(m, c, &fd, &map);
	if (rc)
		return rc;
	/* The identity only serves noticing a local caller's close of fd2. */
	if (c->bounded) {
		st.st_dev = 0;
		st.st_ino = 0;
	} else if (fstat(fd, &st) != 0) {
		rc = -errno;
		munmap(map, ctx_map_size(c));
		close(fd);
		return rc;
	}
	p.map = map;
	p.handle = (uint16_t)slot;
	p.rht = c->rht;
	p.rht_cnt = MASTER_RHT_PER_CONTEXT;
	p.ctx_cap = SISL_CTX_CAP_READ_CMD | SISL_CTX_CAP_WRITE_CMD;
	if (c->bounded) {
		p.ea.ea_base = c->dma_ea;
		p.ea.host_base = (uint8_t *)map + SISL_HOST_MAP_SIZE;
		p.ea.len = c->dma_size;
		p.ea.buf_ea = c->buf_ea;
		p.ea.buf_host = c->buf_map;
		p.ea.buf_len = c->buf_map ? c->buf_len : 0;
	} else {
		p.ea.identity = true;
	}
	/* A remote client waits for our reply before it can submit anything:
	 * the worker is woken after it (master_deferred_work). */
	p.defer_wake = c->bounded;
	rc = afu_ctx_start(m->afu, &p, &c->actx);
	if (rc) {
		munmap(map, ctx_map_size(c));
		close(fd);
		return rc;
	}
	if (c->rate)
		afu_ctx_set_rate(c->actx, c->rate);
	m->ctx_gen[slot]++;
	c->handle = (uint16_t)slot;
	c->ctxid = (uint64_t)m->ctx_gen[slot] << 32 | (uint64_t)slot;
	c->map = map;
	c->adap_fd = fd;
	c->adap_dev = st.st_dev;
	c->adap_ino = st.st_ino;
	c->err = false;
	m->ctx_tbl[slot] = c;
	return 0;
}

/* ctx_stop() - stop the AFU context and drop the window and slot. */
static void ctx_stop(struct master *m, struct mctx *c)
{
	afu_ctx_stop(c->actx);
	c->actx = NULL;
	window_put(m, c); /* a remote client got a copy of fd2; ours is the master's */
	c->map = NULL;
	c->adap_fd = -1;
	m->ctx_tbl[c->handle] = NULL;
}

/*
 * dma_params() - the DMA area an ATTACH asks for: a local caller gets one
 * only when it asks; a remote one always (its EAs must point into it) and
 * must say where it reserved the address range (dma_ea).
 */
static int dma_params(struct master *m, const struct mcaller *who,
		      const struct dk_cxlflash_attach *req, struct mctx *c)
{
	uint64_t max = m->cfg.max_dma ? m->cfg.max_dma : MASTER_MAX_DMA;
	uint64_t size = req->dma_size;

	c->bounded = who->remote;
	if (!size && who->remote)
		size = m->cfg.default_dma ? m->cfg.default_dma : MASTER_DEFAULT_DMA;
	size = (size + 4095) & ~4095ull;
	if (size > max || (size && size < req->dma_size))
		return -EINVAL;
	if (who->remote && (!req->dma_ea || req->dma_ea % 4096 ||
			    req->dma_ea + size < req->dma_ea))
		return -EINVAL;
	c->dma_size = size;
	c->dma_ea = who->remote ? req->dma_ea : 0;
	return 0;
}

/*
 * buf_area_map() - a remote ATTACH's buffer area (cblk_dma_alloc's memory):
 * the client's memfd, sent with the request, mapped so the AFU can reach
 * [buf_ea, buf_ea + buf_size) as well as the DMA area. The descriptor must
 * be a memfd on shmem (not hugetlbfs, whose faults may fail) sealed against
 * shrinking, at least buf_size long: the client can then never make our
 * mapping fault. The range must not overlap the window and DMA area, nor
 * be larger than --max-dma. The area is optional: one that does not pass
 * is declined (the reply lacks DK_CXLFLASH_BUF_AREA and the client stages
 * its data), not a failed ATTACH. Nothing asked, or a local caller: nothing.
 */
static void buf_area_map(struct master *m, const struct mcaller *who,
			 const struct dk_cxlflash_attach *req, struct mctx *c)
{
	uint64_t max = m->cfg.max_dma ? m->cfg.max_dma : MASTER_MAX_DMA;
	uint64_t lo = c->dma_ea - SISL_HOST_MAP_SIZE, hi = c->dma_ea + c->dma_size;
	const char *why = NULL;
	struct statfs sfs;
	struct stat st;
	int seals;
	void *p;

	if (!who->remote || !req->buf_size)
		return;
	if (who->buf_fd < 0)
		why = "no descriptor came with it";
	else if (req->buf_size > max)
		why = "larger than --max-dma";
	else if (req->buf_size % 4096 || !req->buf_ea || req->buf_ea % 4096 ||
		 req->buf_ea + req->buf_size < req->buf_ea ||
		 (req->buf_ea < hi && req->buf_ea + req->buf_size > lo))
		why = "a bad address range";
	if (!why) {
		seals = fcntl(who->buf_fd, F_GET_SEALS);
		if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstatfs(who->buf_fd, &sfs) ||
		    sfs.f_type != TMPFS_MAGIC || fstat(who->buf_fd, &st) ||
		    (uint64_t)st.st_size < req->buf_size)
			why = "not a memfd sealed against shrinking, or too short";
	}
	if (!why) {
		p = mmap(NULL, req->buf_size, PROT_READ | PROT_WRITE, MAP_SHARED, who->buf_fd, 0);
		if (p == MAP_FAILED) {
			why = "it cannot be mapped";
		} else {
			c->buf_map = p;
			c->buf_ea = req->buf_ea;
			c->buf_len = req->buf_size;
			return;
		}
	}
	log_info("pid %d: DMA buffer area of %llu bytes declined (%s): its data is staged",
		 (int)who->id.pid, (unsigned long long)req->buf_size, why);
}

static void buf_area_unmap(struct mctx *c)
{
	if (c->buf_map)
		munmap(c->buf_map, c->buf_len);
	c->buf_map = NULL;
}

static int ctx_create(struct master *m, const struct mcaller *who,
		      const struct dk_cxlflash_attach *req, uint8_t perms, struct mctx **out)
{
	struct mctx *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->rht = aligned_alloc(4096, MASTER_RHT_PER_CONTEXT * sizeof(struct sisl_rht_entry));
	if (!c->rht) {
		free(c);
		return -ENOMEM;
	}
	memset(c->rht, 0, MASTER_RHT_PER_CONTEXT * sizeof(struct sisl_rht_entry));
	c->perms = perms;
	rc = owner_watch(m, c, who);
	c->rate = rate_for(m, who);
	if (!rc)
		rc = dma_params(m, who, req, c);
	if (!rc)
		buf_area_map(m, who, req, c);
	if (!rc)
		rc = ctx_start(m, c);
	if (rc) {
		buf_area_unmap(c);
		owner_unwatch(m, c);
		free(c->rht);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void ctx_destroy(struct master *m, struct mctx *c)
{
	owner_unwatch(m, c);
	ctx_stop(m, c);
	buf_area_unmap(c);  /* the AFU context is stopped: nothing reaches it */
	free(c->rht);
	free(c);
}

static int ctx_add_access(struct mctx *c, struct mlun *lun, struct mopen *via)
{
	struct mlun_access *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->lun = lun;
	a->via = via;
	a->next = c->luns;
	c->luns = a;
	return 0;
}

static int release_handle_as(struct mctx *c, struct mlun *lun, unsigned h, bool keep);

/*
 * ctx_detach_lun() - what DETACH does for one LUN: release every handle of
 * @c on @lun (errors ignored), drop the attachment, and destroy the context
 * when it has no LUN left.
 */
void ctx_detach_lun(struct master *m, struct mctx *c, struct mlun *lun)
{
	struct mlun_access **pp;

	for (unsigned h = 0; h < MASTER_RHT_PER_CONTEXT; h++)
		if (c->rht_lun[h] == lun)
			release_handle_as(c, lun, h, m->keep_vluns);
	for (pp = &c->luns; *pp; pp = &(*pp)->next) {
		if ((*pp)->lun == lun) {
			struct mlun_access *a = *pp;

			*pp = a->next;
			free(a);
			break;
		}
	}
	if (!c->luns)
		ctx_destroy(m, c);
}

/* ctx_detach_all() - DETACH of @c from every LUN: @c is gone after. */
void ctx_detach_all(struct master *m, struct mctx *c)
{
	while (c->luns) {
		struct mlun_access *a = c->luns;
		bool last = a->next == NULL;

		ctx_detach_lun(m, c, a->lun);
		if (last)
			break; /* c is gone */
	}
}

/* Does any descriptor of this process refer to the file (dev, ino)? */
static bool fd_open_for(dev_t dev, ino_t ino)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	bool found = false;

	if (!d)
		return true; /* cannot tell: assume it is */
	while (!found && (de = readdir(d))) {
		struct stat st;
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		found = fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
	}
	closedir(d);
	return found;
}

/*
 * master_reap_closed_fds() - embedded mode's version of the kernel's release
 * fop: a context whose adap_fd the application has closed (no descriptor of
 * the process refers to its window any more) is detached from every LUN.
 */
void master_reap_closed_fds(struct master *m)
{
	if (!m->cfg.check_adap_fds)
		return;
	for (unsigned i = 0; i < AFU_MAX_CONTEXTS; i++) {
		struct mctx *c = m->ctx_tbl[i];
		struct stat st;

		if (!c || c->bounded) /* remote: released when its connection closes */
			continue;
		if (fstat(c->adap_fd, &st) == 0 && st.st_dev == c->adap_dev && st.st_ino == c->adap_ino)
			continue;
		if (fd_open_for(c->adap_dev, c->adap_ino))
			continue;
		log_info("context 0x%llx: adap_fd closed, detaching", (unsigned long long)c->ctxid);
		ctx_detach_all(m, c);
	}
}

/* ------------------------------------------------------------------------
 * ATTACH, DETACH, RECOVER_AFU
 */

static void fill_attach(struct mopen *o, struct mctx *c, struct dk_cxlflash_attach *req)
{
	req->context_id = c->ctxid;
	req->mmio_size = SISL_HOST_MAP_SIZE;
	req->block_size = BE_BLOCK_SIZE;
	req->last_lba = o->lun->max_lba;
	req->max_xfer = AFU_MAX_XFER_BLOCKS;
	req->dma_size = c->dma_size;
	req->dma_ea = c->dma_ea;
}

/* The descriptor to hand @who: ours in-process; a copy for a remote
 * client, which the server sends and closes. */
static int client_fd(struct mctx *c, const struct mcaller *who)
{
	int fd;

	if (!who->remote)
		return c->adap_fd;
	fd = fcntl(c->adap_fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int handle_attach(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_attach *req = arg;
	struct master *m = o->m;
	uint8_t perms = SISL_RHT_PERM(req->hdr.flags + 1);
	struct mctx *c;
	int rc;

	if (req->num_interrupts > 4)
		return -EINVAL;
	if (req->hdr.flags & DK_CXLFLASH_ATTACH_REUSE_CONTEXT) {
		c = ctx_get(m, req->context_id, o->lun, who, CTX_ANY_LUN);
		if (!c || ctx_access(c, o->lun))
			return -EINVAL;
		rc = ctx_add_access(c, o->lun, o);
		if (rc)
			return rc;
		fill_attach(o, c, req);
		req->adap_fd = (uint64_t)-1;
		req->hdr.return_flags = 0;
		return 0;
	}
	if (who->lim && who->lim->contexts != MLIMIT_NONE) {
		unsigned used = quota_contexts_used(m, who->uid);

		if (used >= who->lim->contexts) {
			quota_log(MQ_CONTEXTS, who->uid, used, who->lim->contexts, "ATTACH");
			return -EDQUOT;
		}
	}
	rc = ctx_create(m, who, req, perms, &c);
	if (rc)
		return rc;
	rc = ctx_add_access(c, o->lun, o);
	if (rc) {
		ctx_destroy(m, c);
		return rc;
	}
	fill_attach(o, c, req);
	rc = client_fd(c, who);
	if (rc < 0) {
		ctx_detach_lun(m, c, o->lun);
		return rc;
	}
	req->adap_fd = (uint64_t)rc;
	req->hdr.return_flags = DK_CXLFLASH_APP_CLOSE_ADAP_FD;
	if (m->cfg.sq_mode)
		req->hdr.return_flags |= DK_CXLFLASH_CONTEXT_SQ_CMD_MODE;
	if (c->bounded)
		req->hdr.return_flags |= DK_CXLFLASH_DMA_AREA_ONLY;
	if (c->buf_map)
		req->hdr.return_flags |= DK_CXLFLASH_BUF_AREA;
	return 0;
}

int handle_detach(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_detach *req = arg;
	struct mctx *c = ctx_get(o->m, req->context_id, o->lun, who, CTX_ERR_FALLBACK);

	if (!c)
		return -EINVAL;
	ctx_detach_lun(o->m, c, o->lun);
	req->hdr.return_flags = 0;
	return 0;
}

int master_ctx_error(struct master *m, uint64_t ctxid)
{
	uint64_t slot = ctxid & 0xFFFFFFFFull;
	struct mctx *c;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	c = slot < AFU_MAX_CONTEXTS ? m->ctx_tbl[slot] : NULL;
	if (!c || c->ctxid != ctxid) {
		rc = -EINVAL;
	} else if (!c->err) {
		afu_ctx_error(c->actx);
		c->err = true;
		log_notice("context 0x%llx put in the error state", (unsigned long long)ctxid);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int handle_recover(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_recover_afu *req = arg;
	struct master *m = o->m;
	struct mctx *c = ctx_get(m, req->context_id, o->lun, who, CTX_ERR_FALLBACK);
	struct afu_ctx *old_actx;
	struct sisl_host_map *old_map;
	uint16_t old_handle;
	int old_fd;
	int rc;

	if (!c)
		return -EINVAL;
	if (!c->err) {
		req->hdr.return_flags = 0; /* nothing needed recovery */
		return 0;
	}
	log_notice("context 0x%llx: recovering (reason 0x%llx)", (unsigned long long)c->ctxid,
		   (unsigned long long)req->reason);
	/* A new slot, cookie and window around the same RHT and LXTs. */
	old_actx = c->actx;
	old_map = c->map;
	old_handle = c->handle;
	old_fd = c->adap_fd;
	rc = ctx_start(m, c);
	if (rc) {
		c->actx = old_actx;
		return rc == -EPERM ? -ENODEV : rc;
	}
	afu_ctx_stop(old_actx);
	munmap(old_map, ctx_map_size(c));
	if (c->bounded)
		close(old_fd);
	m->ctx_tbl[old_handle] = NULL;
	req->context_id = c->ctxid;
	req->mmio_size = SISL_HOST_MAP_SIZE;
	rc = client_fd(c, who);
	if (rc < 0)
		return rc; /* recovered; the client may ask again */
	req->adap_fd = (uint64_t)rc;
	req->hdr.return_flags = DK_CXLFLASH_APP_CLOSE_ADAP_FD | DK_CXLFLASH_RECOVER_AFU_CONTEXT_RESET;
	if (m->cfg.sq_mode)
		req->hdr.return_flags |= DK_CXLFLASH_CONTEXT_SQ_CMD_MODE;
	if (c->bounded)
		req->hdr.return_flags |= DK_CXLFLASH_DMA_AREA_ONLY;
	return 0;
}

/* ------------------------------------------------------------------------
 * Physical access: USER_DIRECT, RELEASE
 */

int handle_udirect(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_udirect *req = arg;
	struct sisl_rht_entry_f1 *f1;
	struct mlun *lun = o->lun;
	struct mctx *c;
	int h, rc;

	h = rhte_open(o, who, req->context_id, MODE_PHYSICAL, &c);
	if (h < 0)
		return h;
	/* Format 1: lun id, then valid + permissions + port in one store. */
	f1 = (struct sisl_rht_entry_f1 *)&c->rht[h];
	afu_xlate_lock(c->actx);
	memset(f1, 0, sizeof(*f1));
	f1->fp = SISL_RHT_FP(SISL_RHT_FORMAT_DIRECT, 0);
	__atomic_store_n(&f1->lun_id, (uint64_t)lun->index, __ATOMIC_RELEASE);
	{
		struct sisl_rht_entry_f1 tmp = { 0 };

		tmp.valid = SISL_RHT_VALID;
		tmp.fp = SISL_RHT_FP(SISL_RHT_FORMAT_DIRECT, c->perms);
		tmp.port_sel = 0x1;
		__atomic_store_n(&f1->dw, tmp.dw, __ATOMIC_RELEASE);
	}
	afu_xlate_unlock(c->actx);
	rc = afu_ctx_sync(c->actx, SISL_AFU_LW_SYNC);
	if (rc) {
		rhte_checkin(c, (unsigned)h);
		lun_detach(lun);
		return rc;
	}
	req->rsrc_handle = (uint64_t)h;
	req->last_lba = lun->max_lba;
	req->hdr.return_flags = lun->be->master_cache ? DK_CXLFLASH_MASTER_CACHE : 0;
	return 0;
}

/*
 * release_handle() - RELEASE of one entry: a virtual LUN shrinks to nothing
 * (its chunks go back, scrubbed if asked); a physical entry is revoked
 * (valid first) and, after the AFU sync, checked in. With @keep (a detach
 * while the master stops: master_keep_vluns) a vLUN whose map the LUN
 * keeps stays whole for the next master instead (vlun_keep).
 */
static int release_handle_as(struct mctx *c, struct mlun *lun, unsigned h, bool keep)
{
	struct sisl_rht_entry *e = &c->rht[h];
	int rc = 0;

	if (SISL_RHT_FMT(e->fp) == SISL_RHT_FORMAT_VIRTUAL && keep && lun->vstore &&
	    c->rht_vid[h]) {
		/* The master stops, the client did not let go. */
		vlun_keep(c, lun, h);
	} else if (SISL_RHT_FMT(e->fp) == SISL_RHT_FORMAT_VIRTUAL) {
		uint64_t last;

		/* The client let it go (or died): its kept map goes first. */
		vstore_forget(c, lun, h);

		/* A shrink to nothing always empties the entry; an EIO (a chunk
		 * that could not be scrubbed was retired) is still reported,
		 * but the handle and the user go back regardless. */
		rc = vlun_resize(c, lun, h, 0, NULL, &last);
		if (rc == -EAGAIN)
			rc = 0;
	} else {
		struct sisl_rht_entry_f1 *f1 = (struct sisl_rht_entry_f1 *)e;

		afu_xlate_lock(c->actx);
		__atomic_store_n(&f1->valid, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&f1->lun_id, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&f1->dw, 0, __ATOMIC_RELEASE);
		afu_xlate_unlock(c->actx);
		if (!c->err && afu_ctx_sync(c->actx, SISL_AFU_HW_SYNC))
			log_warn("context 0x%llx: sync after release failed",
				 (unsigned long long)c->ctxid);
	}
	rhte_checkin(c, h);
	lun_detach(lun);
	return rc;
}

int release_handle(struct mctx *c, struct mlun *lun, unsigned h)
{
	return release_handle_as(c, lun, h, false);
}

int handle_release(struct mopen *o, const struct mcaller *who, void *arg)
{
	struct dk_cxlflash_release *req = arg;
	struct mctx *c = ctx_get(o->m, req->context_id, o->lun, who, CTX_ERR_FALLBACK);

	if (!c || !rhte_get(c, o->lun, req->rsrc_handle))
		return -EINVAL;
	req->hdr.return_flags = 0;
	return release_handle(c, o->lun, (unsigned)req->rsrc_handle);
}
