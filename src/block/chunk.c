/* SPDX-License-Identifier: Apache-2.0 */
/*
 * chunk.c - chunks: the table of open chunks (ids from a counter starting at
 * 0, never reused), cblk_open / cblk_close, sizes, statistics, attributes,
 * and the test hooks of block_debug.h.
 *
 * Opening drives the master exactly as IBM's library drove the kernel
 * driver: cxlflash_open, ATTACH (permissions = the open mode), map the
 * window, program the HRRQ and SQ, then USER_DIRECT (physical) or
 * USER_VIRTUAL of size 0 (virtual). Closing undoes it: RELEASE, stop the
 * completion thread, unmap, DETACH, close adap_fd, cxlflash_close.
 */
#include "block/block_internal.h"
#include "block/block_debug.h"
#include "master/embedded.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/tsan.h"

#define TABLE_BUCKETS 64

/*
 * Every cblk call looks its chunk up and takes a reference: a lock per
 * bucket, each on a cache line of its own, so that threads working on
 * different chunks do not pass one lock's line between their CPUs on
 * every call (one table lock was 5% of the CPU of a key/value store's two
 * pool threads reading through two chunks).
 */
struct tbl_bucket {
	pthread_mutex_t lock;
	pthread_cond_t cv;      /* a reference let go (table_remove waits) */
	struct chunk *head;
} __attribute__((aligned(64)));

static struct tbl_bucket tbl[TABLE_BUCKETS] = {
	[0 ... TABLE_BUCKETS - 1] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL },
};
static chunk_id_t next_id;      /* atomic */

static struct tbl_bucket *bucket_of(chunk_id_t id)
{
	return &tbl[(uint64_t)id % TABLE_BUCKETS];
}

/* ---------------------------------------------------------------------------
 * The chunk table
 */

/* Our pid, kept by the fork handler: getpid() is a system call per cblk
 * call otherwise (glibc no longer caches it). Set before any chunk exists. */
static pid_t self_pid;

static struct chunk *chunk_lookup(chunk_id_t id, bool inherited)
{
	struct tbl_bucket *b;
	struct chunk *c;

	if (id < 0)
		return NULL;
	b = bucket_of(id);
	pthread_mutex_lock(&b->lock);
	for (c = b->head; c; c = c->hnext)
		if (c->id == id)
			break;
	/* A forked child's inherited chunk still belongs to the parent's
	 * context: unusable until cblk_clone_after_fork. */
	if (c && c->pid != __atomic_load_n(&self_pid, __ATOMIC_RELAXED) && !inherited)
		c = NULL;
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&b->lock);
	return c;
}

struct chunk *blk_chunk_get(chunk_id_t id)
{
	return chunk_lookup(id, false);
}

struct chunk *blk_chunk_get_inherited(chunk_id_t id)
{
	return chunk_lookup(id, true);
}

/* The chunk's lock and condition variables (monotonic clock), fresh. */
static void chunk_init_sync(struct chunk *c)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	for (unsigned i = 0; i < BLK_CV_BUCKETS; i++)
		pthread_cond_init(&c->cv_cmd[i], &attr);
	pthread_cond_init(&c->cv_any, &attr);
	pthread_cond_init(&c->cv_free, &attr);
	pthread_cond_init(&c->cv_thread, &attr);
	pthread_condattr_destroy(&attr);
}

/*
 * In a forked child nothing of a chunk's threads survives and a lock may
 * have been held by a parent thread at the fork: fresh locks, no thread.
 * The queue memory (the parent's DMA areas) is unmapped by the control
 * layer; the parent's window mappings go at clone or close.
 */
static void atfork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t fresh_cv = PTHREAD_COND_INITIALIZER;

	__atomic_store_n(&self_pid, getpid(), __ATOMIC_RELAXED);

	for (unsigned b = 0; b < TABLE_BUCKETS; b++) {
		tbl[b].lock = fresh;
		tbl[b].cv = fresh_cv;
		for (struct chunk *c = tbl[b].head; c; c = c->hnext) {
			chunk_init_sync(c);
			c->thread_running = false;
			c->refs = 1;
			c->remove_wait = false;
		}
	}
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
	__atomic_store_n(&self_pid, getpid(), __ATOMIC_RELAXED);
	pthread_atfork(NULL, NULL, atfork_child);
}

/* Let go of a reference: the table lock only while table_remove() waits.
 * The drop is the last touch of @c (the remover may free it right after);
 * a drop that misses the remover's flag is seen by its next look. */
void blk_chunk_put(struct chunk *c)
{
	struct tbl_bucket *b;

	if (!__atomic_load_n(&c->remove_wait, __ATOMIC_ACQUIRE)) {
		__atomic_sub_fetch(&c->refs, 1, __ATOMIC_RELEASE);
		return;
	}
	b = bucket_of(c->id);
	pthread_mutex_lock(&b->lock);
	__atomic_sub_fetch(&c->refs, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->lock);
}

static void table_insert(struct chunk *c)
{
	struct tbl_bucket *b;

	pthread_once(&atfork_once, atfork_register);
	c->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
	c->refs = 1;
	b = bucket_of(c->id);
	pthread_mutex_lock(&b->lock);
	c->hnext = b->head;
	b->head = c;
	pthread_mutex_unlock(&b->lock);
}

/* Unlink @c (no new lookups find it) and wait until only the caller's
 * reference is left. A call that let go without the lock (it looked at
 * remove_wait just before it was set) is seen within REMOVE_LOOK_US. */
#define REMOVE_LOOK_US 1000u
static void table_remove(struct chunk *c)
{
	struct tbl_bucket *b = bucket_of(c->id);
	struct chunk **pp;

	pthread_mutex_lock(&b->lock);
	for (pp = &b->head; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			__atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
			break;
		}
	}
	__atomic_store_n(&c->remove_wait, true, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&c->refs, __ATOMIC_ACQUIRE) > 1) {
		struct timespec ts;

		blk_deadline_us(&ts, REMOVE_LOOK_US);
		pthread_cond_clockwait(&b->cv, &b->lock, CLOCK_MONOTONIC, &ts);
	}
	pthread_mutex_unlock(&b->lock);
}

/* ---------------------------------------------------------------------------
 * Allocation and teardown
 */

static unsigned env_unsigned(const char *name, unsigned dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	v = strtoul(s, &end, 0);
	if (*end || v > UINT_MAX)
		return dflt;
	return (unsigned)v;
}

/* ---------------------------------------------------------------------------
 * Queue memory: the context's DMA area
 *
 * The IOARCBs, the HRRQ and the SQ live in the DMA area ATTACH maps after
 * the window, followed by a staging slot per command. In-process the AFU
 * could reach any address, so data moves straight from the caller's buffer
 * and the slots stay untouched (never faulted in); when the master is in
 * another process (DK_CXLFLASH_DMA_AREA_ONLY) data is staged through them.
 */

#define BLK_STAGE_MAX_BLOCKS 64            /* 256 KiB per command */
#define BLK_DMA_BUDGET       (512ull << 20) /* staging for all commands, at most */

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static unsigned stage_blocks(unsigned ncmds)
{
	uint64_t per = BLK_DMA_BUDGET / ((uint64_t)ncmds * BLK_BLOCK_SIZE);

	if (per > BLK_STAGE_MAX_BLOCKS)
		per = BLK_STAGE_MAX_BLOCKS;
	return per ? (unsigned)per : 1;
}

struct dma_layout {
	size_t hrrq, sq, stage, total;
};

static void dma_layout(unsigned ncmds, unsigned stage, struct dma_layout *l)
{
	size_t o = round_up((size_t)ncmds * sizeof(struct sisl_iocmd), 128);

	l->hrrq = o;
	o += round_up((size_t)ncmds * sizeof(uint64_t), 128);
	l->sq = o;
	o += round_up((size_t)(ncmds + 1) * sizeof(struct sisl_ioarcb), 128);
	l->stage = o = round_up(o, BLK_BLOCK_SIZE);
	o += (size_t)ncmds * stage * BLK_BLOCK_SIZE;
	l->total = o;
}

/* Point the chunk's queues and commands into the DMA area at @base. */
static void chunk_place_queues(struct chunk *c, uint8_t *base)
{
	struct dma_layout l;

	dma_layout(c->ncmds, c->stage_blocks, &l);
	c->iocmds = (struct sisl_iocmd *)base;
	c->hrrq_mem = (uint64_t *)(base + l.hrrq);
	c->sq = (struct sisl_ioarcb *)(base + l.sq);
	c->stage = base + l.stage;
	for (unsigned i = 0; i < c->ncmds; i++)
		c->cmds[i].ioc = &c->iocmds[i];
}

static void chunk_free(struct chunk *c)
{
	for (unsigned i = 0; i < BLK_CV_BUCKETS; i++)
		pthread_cond_destroy(&c->cv_cmd[i]);
	pthread_cond_destroy(&c->cv_any);
	pthread_cond_destroy(&c->cv_free);
	pthread_cond_destroy(&c->cv_thread);
	pthread_mutex_destroy(&c->lock);
	free(c->utag_hash);
	free(c->cmds);
	free(c->path);
	free(c);
}

/* chunk_alloc() - a chunk with @ncmds free commands (its queue memory
 * comes with the context: chunk_place_queues). */
static struct chunk *chunk_alloc(unsigned ncmds)
{
	struct chunk *c = calloc(1, sizeof(*c));
	unsigned buckets = 1;

	if (!c)
		return NULL;
	c->ncmds = ncmds;
	c->fd1 = -1;
	c->adap_fd = -1;
	c->stage_blocks = stage_blocks(ncmds);
	c->cmds = calloc(ncmds, sizeof(*c->cmds));
	while (buckets < ncmds)
		buckets <<= 1;
	c->utag_hash = calloc(buckets, sizeof(*c->utag_hash));
	c->utag_mask = buckets - 1;

	chunk_init_sync(c);

	if (!c->cmds || !c->utag_hash) {
		chunk_free(c);
		return NULL;
	}
	for (unsigned i = ncmds; i-- > 0;) {
		struct blk_cmd *cmd = &c->cmds[i];

		cmd->index = i;
		cmd->next = c->free_head;
		c->free_head = cmd;
	}
	c->nfree = ncmds;
	c->spin_us = env_unsigned("CFLSH_BLK_SPIN_US", BLK_DEFAULT_SPIN_US);
	c->spin_score = SPIN_SCORE_ONE;  /* spin until spins are seen to fail */
	return c;
}

/* Unmap the window mappings @c holds (current and replaced ones). */
static void unmap_windows(struct chunk *c)
{
	if (c->map)
		munmap(c->map, c->mmio_size);
	c->map = NULL;
	while (c->old_windows) {
		struct blk_old_window *w = c->old_windows;

		c->old_windows = w->next;
		munmap(w->map, SISL_HOST_MAP_SIZE);
		free(w);
	}
}

/*
 * In TSan builds an in-process AFU worker mirrors its acquires onto the
 * host's mapping of the window (afu_tsan.h): until DETACH has taken the
 * context off its worker, that mapping must stay (an acquire on an address
 * being unmapped crashes inside TSan). Other builds unmap first, as IBM's
 * library did; the AFU uses its own mapping there.
 */
#ifdef CXLFLASH_TSAN
#define TSAN_DETACH_FIRST 1
#else
#define TSAN_DETACH_FIRST 0
#endif

/*
 * chunk_teardown() - undo whatever chunk_attach() got done, in the order
 * IBM's library closed a chunk (but TSAN_DETACH_FIRST), and free the chunk.
 */
static void chunk_teardown(struct chunk *c, bool have_handle, bool attached)
{
	if (have_handle) {
		struct dk_cxlflash_release r;

		memset(&r, 0, sizeof(r));
		r.context_id = c->ctxid;
		r.rsrc_handle = c->rsrc_handle;
		if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_RELEASE, &r))
			log_warn("chunk %d: RELEASE failed: %s", c->id, strerror(errno));
	}
	blk_thread_stop(c);
	if (!TSAN_DETACH_FIRST)
		unmap_windows(c);
	if (attached) {
		struct dk_cxlflash_detach d;

		memset(&d, 0, sizeof(d));
		d.context_id = c->ctxid;
		if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_DETACH, &d))
			log_warn("chunk %d: DETACH failed: %s", c->id, strerror(errno));
	}
	if (TSAN_DETACH_FIRST)
		unmap_windows(c);
	if (c->adap_fd >= 0)
		close(c->adap_fd);
	if (c->fd1 >= 0)
		cxlflash_close(c->fd1);
	chunk_free(c);
}

/*
 * resolve_path() - the LUN name for cxlflash_open: "ram:", "null:",
 * "file:" and "rbd:" names as they are; an existing path must name a regular file or
 * block device and is made absolute (symlinks resolved); anything else is
 * passed on as a name cxlflashd may serve.
 * Return: 0 and a malloc'ed *@out, or -errno (ENOENT, EINVAL, ENOMEM).
 */
static int resolve_path(const char *path, char **out)
{
	struct stat st;
	char *real;

	if (!strncmp(path, "ram:", 4) || !strncmp(path, "null:", 5) ||
	    !strncmp(path, "file:", 5) || !strncmp(path, "rbd:", 4)) {
		*out = strdup(path);
		return *out ? 0 : -ENOMEM;
	}
	real = realpath(path, NULL);
	if (!real) {
		if (errno == ENOMEM)
			return -ENOMEM;
		/* Not a file here: maybe a LUN name cxlflashd serves;
		 * cxlflash_open() says ENOENT if nobody does. */
		*out = strdup(path);
		return *out ? 0 : -ENOMEM;
	}
	if (stat(real, &st)) {
		int err = errno;

		free(real);
		return -err;
	}
	if (!(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		log_err("%s: %s, not a LUN (a LUN is a regular file, a block device, "
			"ram:SIZE, null:SIZE or file:PATH?size=SIZE)", path,
			S_ISDIR(st.st_mode) ? "a directory" :
			S_ISCHR(st.st_mode) ? "a character device" : "neither a file nor a device");
		free(real);
		return -EINVAL;
	}
	*out = real;
	return 0;
}

/* Max transfer of a virtual LUN: 1 block, as IBM's, unless CFLSH_BLK_MAX_XFER raises it. */
static uint64_t vlun_max_xfer(uint64_t attach_max)
{
	unsigned n = env_unsigned("CFLSH_BLK_MAX_XFER", 1);

	if (n == 0)
		n = 1;
	return n < attach_max ? n : attach_max;
}

/*
 * chunk_attach() - get @c a context on @lun and its resource handle.
 * Return: 0 or -errno; on failure everything is undone and @c freed.
 */
/*
 * blk_adopt_window() - make context @ctxid, whose window is @fd (@mmio_size
 * bytes, 0 = the standard 64 KiB), the chunk's: map it, keep the old
 * mapping in old_windows (sleepers may still look at it), close the old
 * adap_fd, take the mode flags of @return_flags. On failure nothing of
 * the chunk changes (and @fd is left open).
 * Return: 0 or -errno.
 */
int blk_adopt_window(struct chunk *c, uint64_t ctxid, int fd, uint64_t mmio_size,
		     uint64_t return_flags)
{
	size_t size = mmio_size ? mmio_size : SISL_HOST_MAP_SIZE;
	struct blk_old_window *old = malloc(sizeof(*old));
	void *map;

	if (!old)
		return -ENOMEM;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		free(old);
		return -errno;
	}
	if (c->map) {
		old->map = c->map;
		old->next = c->old_windows;
		c->old_windows = old;
	} else {
		free(old);
	}
	if (c->adap_fd >= 0)
		close(c->adap_fd);
	c->map = map;
	c->mmio_size = size;
	c->adap_fd = fd;
	c->ctxid = ctxid;
	c->sq_mode = (return_flags & DK_CXLFLASH_CONTEXT_SQ_CMD_MODE) != 0;
	c->runner = c->sq_mode ? cxlflash_inline_runner(c->fd1, ctxid) : NULL;
	c->async_run = 0;
	c->unmap_ok = (sisl_read64(&c->map->ctx_ctrl) & SISL_CTX_CTRL_UNMAP_SECTOR) != 0;
	return 0;
}

/*
 * blk_attach_context() - ATTACH a new context for @c on its fd1 with its
 * mode, put the queues in the context's DMA area and map the window. The
 * window @c had (if any) is kept mapped in old_windows: sleepers may still
 * look at it. Fills @a with ATTACH's answer.
 * Return: 0 or -errno; on failure the new context is detached again.
 */
int blk_attach_context(struct chunk *c, struct dk_cxlflash_attach *a)
{
	struct dma_layout l;
	uint64_t buf_ea = 0, buf_len = 0;
	int rc, buf_fd = -1;

	memset(a, 0, sizeof(*a));
	a->hdr.flags = (uint64_t)c->mode;
	a->num_interrupts = 4;
	dma_layout(c->ncmds, c->stage_blocks, &l);
	a->dma_size = l.total;
	/* The process's buffer area goes with every ATTACH (a master serving
	 * us in-process ignores it: it reaches every address anyway). */
	if (blk_dma_area(&buf_ea, &buf_len, &buf_fd) == 0) {
		a->buf_ea = buf_ea;
		a->buf_size = buf_len;
		a->buf_fd = (uint64_t)buf_fd;
	}
	if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_ATTACH, a))
		return -errno;
	rc = -EPROTO; /* a master that ignored the DMA area */
	if (!a->dma_ea || a->dma_size < l.total)
		goto fail;
	rc = blk_adopt_window(c, a->context_id, (int)a->adap_fd, a->mmio_size,
			      a->hdr.return_flags);
	if (rc)
		goto fail;
	c->dma_only = (a->hdr.return_flags & DK_CXLFLASH_DMA_AREA_ONLY) != 0;
	c->buf_lo = c->buf_hi = 0;
	if (c->dma_only && buf_len && (a->hdr.return_flags & DK_CXLFLASH_BUF_AREA)) {
		c->buf_lo = buf_ea;
		c->buf_hi = buf_ea + buf_len;
	}
	chunk_place_queues(c, (uint8_t *)(uintptr_t)a->dma_ea);
	blk_setup_queues(c);
	return 0;
fail:
	{
		struct dk_cxlflash_detach d = { .context_id = a->context_id };

		close((int)a->adap_fd);
		cxlflash_ioctl(c->fd1, DK_CXLFLASH_DETACH, &d);
	}
	return rc;
}

/*
 * blk_vlun_reattach() - take the chunk's kept vLUN back on @c's new context
 * (a master that lost ours reloaded its map: docs/scale-out.md).
 */
int blk_vlun_reattach(struct chunk *c)
{
	struct dk_cxlflash_uvirtual v;
	uint64_t granted;

	memset(&v, 0, sizeof(v));
	v.hdr.flags = DK_CXLFLASH_UVIRTUAL_REATTACH;
	v.context_id = c->ctxid;
	v.vlun_id = c->vlun_id;
	if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_USER_VIRTUAL, &v))
		return -errno;
	granted = v.last_lba == UINT64_MAX ? 0 : v.last_lba + 1;
	if (granted != c->granted)
		log_warn("chunk %d: vLUN taken back with %llu blocks, %llu before", c->id,
			 (unsigned long long)granted, (unsigned long long)c->granted);
	c->rsrc_handle = v.rsrc_handle;
	c->granted = granted;
	c->master_cache = (v.hdr.return_flags & DK_CXLFLASH_MASTER_CACHE) != 0;
	return 0;
}

/* blk_user_direct() - a resource handle for the whole LUN on @c's context. */
int blk_user_direct(struct chunk *c)
{
	struct dk_cxlflash_udirect d;

	memset(&d, 0, sizeof(d));
	d.context_id = c->ctxid;
	if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_USER_DIRECT, &d))
		return -errno;
	c->rsrc_handle = d.rsrc_handle;
	c->lun_size = d.last_lba + 1;
	c->master_cache = (d.hdr.return_flags & DK_CXLFLASH_MASTER_CACHE) != 0;
	return 0;
}

static int chunk_attach(struct chunk *c, const char *lun)
{
	struct dk_cxlflash_attach a;
	bool attached = false, have_handle = false;
	int rc;

	/* A read-only physical chunk needs only a read-only LUN; a virtual
	 * one needs a writable LUN whatever its own mode, because the master
	 * scrubs its chunks when it lets them go (the context's permissions
	 * still come from the mode, at ATTACH). */
	c->fd1 = cxlflash_open(lun, c->mode == O_RDONLY && !(c->flags & CBLK_OPN_VIRT_LUN) ?
				    O_RDONLY : O_RDWR);
	if (c->fd1 < 0)
		goto fail;
	rc = blk_attach_context(c, &a);
	if (rc) {
		errno = -rc;
		goto fail;
	}
	attached = true;
	c->lun_size = a.last_lba + 1;

	if (a.max_xfer == 0)
		a.max_xfer = 1;
	if (a.max_xfer > UINT32_MAX / BLK_BLOCK_SIZE)
		a.max_xfer = UINT32_MAX / BLK_BLOCK_SIZE;
	if (c->flags & CBLK_OPN_VIRT_LUN) {
		struct dk_cxlflash_uvirtual v;

		memset(&v, 0, sizeof(v));
		v.context_id = c->ctxid;
		v.lun_size = 0;
		if (c->flags & CBLK_OPN_SCRUB_DATA)
			v.hdr.flags = DK_CXLFLASH_UVIRTUAL_NEED_WRITE_SAME;
		if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_USER_VIRTUAL, &v)) {
			if (errno == ENOMEM && c->lun_size < BLK_VLUN_CHUNK_BLOCKS)
				log_err("%s: %llu blocks of 4 KiB, less than one 256 MiB chunk: "
					"virtual LUNs are made of such chunks, so this LUN can "
					"only be opened physically (without CBLK_OPN_VIRT_LUN)",
					lun, (unsigned long long)c->lun_size);
			goto fail;
		}
		have_handle = true;
		c->virtual_lun = true;
		c->master_cache = (v.hdr.return_flags & DK_CXLFLASH_MASTER_CACHE) != 0;
		c->vlun_id = v.vlun_id;
		c->rsrc_handle = v.rsrc_handle;
		c->size = 0;
		c->granted = v.last_lba == UINT64_MAX ? 0 : v.last_lba + 1;
		c->max_xfer = vlun_max_xfer(a.max_xfer);
	} else {
		rc = blk_user_direct(c);
		if (rc) {
			errno = -rc;
			goto fail;
		}
		have_handle = true;
		c->size = c->lun_size;
		c->max_xfer = a.max_xfer;
	}
	if (c->dma_only && c->max_xfer > c->stage_blocks)
		c->max_xfer = c->stage_blocks; /* a command's staging slot */
	if (!(c->flags & CBLK_OPN_NO_INTRP_THREADS)) {
		rc = blk_thread_start(c);
		if (rc) {
			errno = -rc;
			goto fail;
		}
	}
	return 0;
fail:
	rc = errno ? -errno : -EIO;
	chunk_teardown(c, have_handle, attached);
	return rc;
}

/* Everything in flight or finished in the parent is the parent's: in the
 * child every command is free again. */
static void reset_commands(struct chunk *c)
{
	c->free_head = NULL;
	for (unsigned i = c->ncmds; i-- > 0;) {
		struct blk_cmd *cmd = &c->cmds[i];
		unsigned index = cmd->index;

		memset(cmd, 0, sizeof(*cmd));
		cmd->index = index;
		cmd->next = c->free_head;
		c->free_head = cmd;
	}
	memset(c->utag_hash, 0, (size_t)(c->utag_mask + 1) * sizeof(*c->utag_hash));
	c->nfree = c->ncmds;
	c->ninflight = c->nactive = c->nbusy = c->nasync = 0;
	c->done_head = c->done_tail = c->fl_head = c->fl_tail = NULL;
	c->closing = c->stop = c->recovering = c->failed = c->cache_lost = false;
	c->write_seq = c->flushed_seq = 0;
}

/* A forked child's close of an inherited chunk it never cloned. */
static void chunk_forget(struct chunk *c)
{
	unmap_windows(c);
	if (c->adap_fd >= 0)
		close(c->adap_fd);
	if (c->fd1 >= 0)
		cxlflash_close(c->fd1);
	chunk_free(c);
}

static int vlun_resize_locked(struct chunk *c, uint64_t blocks, uint64_t *granted);

int blk_chunk_clone(struct chunk *c, int mode)
{
	struct dk_cxlflash_attach a;
	uint64_t parent_ctx = c->ctxid;
	int rc;

	unmap_windows(c);
	if (c->adap_fd >= 0)
		close(c->adap_fd);
	c->adap_fd = -1;
	reset_commands(c);
	/* fd1 now reaches the parent's master (or the daemon) from this
	 * process: our own context, then the parent's chunks shared. */
	c->mode = mode;
	rc = blk_attach_context(c, &a);
	if (rc)
		return rc;
	if (c->virtual_lun) {
		struct dk_cxlflash_clone cl;

		c->vlun_id = 0; /* a clone's map is not kept */

		memset(&cl, 0, sizeof(cl));
		cl.context_id_src = parent_ctx;
		cl.context_id_dst = c->ctxid;
		if (cxlflash_ioctl(c->fd1, DK_CXLFLASH_VLUN_CLONE, &cl)) {
			rc = -errno;
			goto fail;
		}
		/* The clone has the chunks the parent has now, which may differ
		 * from what it had at fork (our c->granted): make them agree. */
		if (c->granted) {
			uint64_t granted;

			rc = vlun_resize_locked(c, c->granted, &granted);
			if (rc)
				goto fail;
			c->granted = granted;
		}
	} else {
		rc = blk_user_direct(c);
		if (rc)
			goto fail;
	}
	if (c->dma_only && c->max_xfer > c->stage_blocks)
		c->max_xfer = c->stage_blocks;
	c->pid = getpid();
	if (!(c->flags & CBLK_OPN_NO_INTRP_THREADS)) {
		rc = blk_thread_start(c);
		if (rc)
			goto fail;
	}
	return 0;
fail:
	{
		struct dk_cxlflash_detach d = { .context_id = c->ctxid };

		unmap_windows(c);
		cxlflash_ioctl(c->fd1, DK_CXLFLASH_DETACH, &d);
		if (c->adap_fd >= 0)
			close(c->adap_fd);
		c->adap_fd = -1;
	}
	return rc;
}

/* ---------------------------------------------------------------------------
 * The API
 */

chunk_id_t cblk_open(const char *path, int max_num_requests, int mode, chunk_ext_arg_t ext,
		     int flags)
{
	struct chunk *c;
	char *lun = NULL;
	int acc = mode & O_ACCMODE, rc, saved_errno = errno;
	unsigned ncmds;

	/* CBLK_OPN_GROUP is CBLK_GROUP_ID; RAID0 groups open through here too. */
	if (flags & (CBLK_OPN_GROUP | CBLK_GROUP_MASK))
		return cblk_cg_open(path, max_num_requests, mode, (int)ext, ext, flags);
	if (!path || acc == O_ACCMODE || max_num_requests < 0) {
		errno = EINVAL;
		return NULL_CHUNK_ID;
	}
	if (max_num_requests > BLK_MAX_CMDS) {
		errno = ENOMEM;
		return NULL_CHUNK_ID;
	}
	ncmds = max_num_requests ? (unsigned)max_num_requests : BLK_DEFAULT_CMDS;
	rc = resolve_path(path, &lun);
	if (rc) {
		errno = -rc;
		return NULL_CHUNK_ID;
	}
	c = chunk_alloc(ncmds);
	if (!c) {
		free(lun);
		errno = ENOMEM;
		return NULL_CHUNK_ID;
	}
	c->path = lun;
	c->pid = getpid();
	c->mode = acc;
	c->flags = flags;
	c->id = NULL_CHUNK_ID;
	rc = chunk_attach(c, lun);
	if (rc) {
		errno = -rc;
		return NULL_CHUNK_ID;
	}
	table_insert(c);
	errno = saved_errno;   /* as after every successful call (block_internal.h) */
	return c->id;
}

int cblk_close(chunk_id_t chunk_id, int flags)
{
	struct chunk *c;
	unsigned waited = 0;
	int saved_errno = errno;

	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_close(chunk_id, flags);
	c = blk_chunk_get_inherited(chunk_id);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	if (c->pid != getpid()) {
		/* A forked child letting go of what it inherited: the context
		 * is the parent's; only our copies go. */
		table_remove(c);
		chunk_forget(c);
		errno = saved_errno;
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		pthread_mutex_unlock(&c->lock);
		blk_chunk_put(c);
		errno = EINVAL;
		return -1;
	}
	c->closing = true;
	pthread_cond_broadcast(&c->cv_free);
	pthread_cond_broadcast(&c->cv_any);
	/* Requests left for a wait that will not come now: the worker's. */
	if (c->ring_owed)
		blk_ring_owed_locked(c, true);
	while (c->nbusy && waited < BLK_CLOSE_WAIT_MS) {
		if (!c->thread_running)
			blk_harvest_locked(c);
		if (!c->nbusy)
			break;
		pthread_mutex_unlock(&c->lock);
		usleep(BLK_CLOSE_STEP_MS * 1000);
		pthread_mutex_lock(&c->lock);
		waited += BLK_CLOSE_STEP_MS;
	}
	if (c->nbusy) {
		c->closing = false;
		pthread_mutex_unlock(&c->lock);
		blk_chunk_put(c);
		errno = EBUSY;
		return -1;
	}
	pthread_mutex_unlock(&c->lock);
	table_remove(c);
	chunk_teardown(c, true, true);
	errno = saved_errno;
	return 0;
}

/* The LUN's size (@lun) or the chunk's, in blocks. */
static int get_size(chunk_id_t chunk_id, size_t *nblocks, bool lun)
{
	struct chunk *c = blk_chunk_get(chunk_id);

	if (!c || !nblocks) {
		if (c)
			blk_chunk_put(c);
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	*nblocks = (size_t)(lun ? c->lun_size : c->size);
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return 0;
}

int cblk_get_lun_size(chunk_id_t chunk_id, size_t *nblocks, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_get_lun_size(chunk_id, nblocks, flags);
	return get_size(chunk_id, nblocks, true);
}

int cblk_get_size(chunk_id_t chunk_id, size_t *nblocks, int flags)
{
	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_get_size(chunk_id, nblocks, flags);
	return get_size(chunk_id, nblocks, false);
}

/* VLUN_RESIZE to @blocks, retrying the master's EAGAIN (the change stands). */
static int vlun_resize_locked(struct chunk *c, uint64_t blocks, uint64_t *granted)
{
	struct dk_cxlflash_resize r;
	int rc = 0;

	for (unsigned tries = 0; tries < 3; tries++) {
		memset(&r, 0, sizeof(r));
		r.context_id = c->ctxid;
		r.rsrc_handle = c->rsrc_handle;
		r.req_size = blocks;
		rc = cxlflash_ioctl(c->fd1, DK_CXLFLASH_VLUN_RESIZE, &r) ? -errno : 0;
		if (rc != -EAGAIN)
			break;
	}
	if (rc == 0)
		*granted = r.last_lba == UINT64_MAX ? 0 : r.last_lba + 1;
	return rc;
}

/*
 * set_size_locked() - a virtual chunk's new logical size. Growing past what
 * the vLUN's chunks cover asks the master for more (its 256 MiB chunks may
 * cover more than asked; the logical size is still what was asked); a
 * partial grant or no space is IBM's "grow failure", ENOMEM, and the vLUN
 * goes back to what it had. Shrinking is logical only, so growing again
 * within the high-water mark keeps the data, as in IBM's library.
 */
static int set_size_locked(struct chunk *c, uint64_t nblocks)
{
	uint64_t granted;
	int rc;

	if (!c->virtual_lun || nblocks > c->lun_size || c->closing)
		return -EINVAL;
	if (c->failed)
		return -EIO;
	if (nblocks > c->granted) {
		rc = vlun_resize_locked(c, nblocks, &granted);
		if (rc)
			return rc == -ENOSPC || rc == -ENOMEM ? -ENOMEM : rc;
		if (granted < nblocks) {
			uint64_t back;

			if (vlun_resize_locked(c, c->granted, &back) == 0)
				granted = back;
			c->granted = granted;
			return -ENOMEM;
		}
		c->granted = granted;
	}
	c->size = nblocks;
	return 0;
}

int cblk_set_size(chunk_id_t chunk_id, size_t nblocks, int flags)
{
	struct chunk *c;
	int rc, saved_errno = errno;

	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_set_size(chunk_id, nblocks, flags);
	c = blk_chunk_get(chunk_id);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	rc = set_size_locked(c, nblocks);
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return blk_ret_keep(rc, saved_errno);
}

int cblk_get_stats(chunk_id_t chunk_id, chunk_stats_t *stats, int flags)
{
	struct chunk *c;

	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_get_stats(chunk_id, stats, flags);
	c = blk_chunk_get(chunk_id);
	if (!c || !stats) {
		if (c)
			blk_chunk_put(c);
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	c->stats.block_size = BLK_BLOCK_SIZE;
	c->stats.num_paths = 1;
	c->stats.primary_path_id = 0;
	c->stats.max_transfer_size = c->max_xfer;
	*stats = c->stats;
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return 0;
}

int cblk_get_attrs(chunk_id_t chunk_id, chunk_attrs_t *attrs, int flags)
{
	struct chunk *c;

	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_get_attrs(chunk_id, attrs, flags);
	c = blk_chunk_get(chunk_id);
	if (!c || !attrs) {
		if (c)
			blk_chunk_put(c);
		errno = EINVAL;
		return -1;
	}
	memset(attrs, 0, sizeof(*attrs));
	pthread_mutex_lock(&c->lock);
	if (c->unmap_ok)
		attrs->flags1 |= CFLSH_ATTR_UNMAP;
	attrs->flags1 |= CFLSH_ATTR_FUA;   /* every backend of the AFU honours it */
	if (c->dma_only)
		attrs->flags1 |= CFLSH_ATTR_DMA_STAGED;
	attrs->block_size = BLK_BLOCK_SIZE;
	attrs->num_paths = 1;
	attrs->max_transfer_size = c->max_xfer;
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Test hooks (block_debug.h)
 */

uint64_t cblk_debug_context_id(chunk_id_t chunk_id)
{
	struct chunk *c = blk_chunk_get(chunk_id);
	uint64_t id;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	id = c->ctxid;
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return id;
}

int cblk_debug_fd1(chunk_id_t chunk_id)
{
	struct chunk *c = blk_chunk_get(chunk_id);
	int fd;

	if (!c)
		return -1;
	fd = c->fd1;
	blk_chunk_put(c);
	return fd;
}

/* The debug hooks' reads: the chunk held and locked, or NULL. */
static struct chunk *debug_lock(chunk_id_t chunk_id)
{
	struct chunk *c = blk_chunk_get(chunk_id);

	if (c)
		pthread_mutex_lock(&c->lock);
	return c;
}

static int debug_unlock(struct chunk *c)
{
	pthread_mutex_unlock(&c->lock);
	blk_chunk_put(c);
	return 0;
}

int cblk_debug_dma_counts(chunk_id_t chunk_id, uint64_t *direct, uint64_t *staged)
{
	struct chunk *c = debug_lock(chunk_id);

	if (!c)
		return -1;
	*direct = c->n_direct;
	*staged = c->n_staged;
	return debug_unlock(c);
}

int cblk_debug_sq_mode(chunk_id_t chunk_id)
{
	struct chunk *c = debug_lock(chunk_id);
	int sq;

	if (!c)
		return -1;
	sq = c->sq_mode;
	debug_unlock(c);
	return sq;
}

int cblk_debug_lone(chunk_id_t chunk_id, unsigned *streak, int *owed)
{
	struct chunk *c = debug_lock(chunk_id);

	if (!c)
		return -1;
	*streak = c->lone_streak;
	*owed = c->lone_owed;
	return debug_unlock(c);
}

int cblk_debug_batch(chunk_id_t chunk_id, unsigned *streak, int *owed, unsigned *skip)
{
	struct chunk *c = debug_lock(chunk_id);

	if (!c)
		return -1;
	*streak = c->batch_streak;
	*owed = c->batch_owed;
	*skip = c->batch_skip;
	return debug_unlock(c);
}

int cblk_debug_batch_gap(chunk_id_t chunk_id, uint64_t each_ns)
{
	struct chunk *c = debug_lock(chunk_id);

	if (!c)
		return -1;
	c->batch_gap_each_ns = each_ns;
	return debug_unlock(c);
}

int cblk_debug_batch_unskip(chunk_id_t chunk_id)
{
	struct chunk *c = debug_lock(chunk_id);

	if (!c)
		return -1;
	c->batch_skip = 0;
	return debug_unlock(c);
}
