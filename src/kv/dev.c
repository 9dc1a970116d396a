/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dev.c - the store's LUN, reached only through capiblock.h, as IBM's
 * arkdb did: a chunk (physical or virtual) or, for "a:b" paths, a RAID0
 * chunk group. Requests are split to the chunk's max_transfer_size and run
 * in parallel with cblk_aread/cblk_awrite, each waited for by its own tag,
 * so the writer, the cleaner and readers can share the chunk. Value reads
 * may go through more chunks of the same LUN, one a reader at a time
 * (read_chunks()).
 */
#include "kv/kv_internal.h"
#include "util/cpus.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KV_DEV_WINDOW 32   /* requests one caller keeps in flight */
#define KV_DEV_READ_CHUNKS 8 /* most chunks a store reads through */

struct kv_dev {
	int id;                /* chunk id or chunk group id */
	int gflags;            /* CBLK_GROUP_RAID0 for a RAID0 group */
	bool vlun;
	bool fua;              /* CFLSH_ATTR_FUA, and not turned off */
	bool dma;              /* CFLSH_ATTR_DMA_STAGED: I/O buffers from cblk_dma_alloc */
	uint64_t blocks;       /* current size */
	uint64_t max_xfer;
	pthread_mutex_t lock;  /* size changes */
	int rd_id[KV_DEV_READ_CHUNKS]; /* chunks for value reads: [0] is id (read_chunks()) */
	int rd_busy[KV_DEV_READ_CHUNKS]; /* a reader has it (atomic) */
	unsigned nrd;
};

void *kv_blk_alloc(size_t nblocks)
{
	void *p = NULL;

	if (posix_memalign(&p, KV_BLOCK, nblocks ? nblocks * KV_BLOCK : KV_BLOCK))
		return NULL;
	return p;
}

void *kv_io_alloc(struct kv_dev *d, size_t nblocks)
{
	int saved_errno = errno;
	void *p;

	if (d && d->dma) {
		p = cblk_dma_alloc(d->id, (nblocks ? nblocks : 1) * KV_BLOCK, d->gflags);
		errno = saved_errno;
		if (p)
			return p;
	}
	return kv_blk_alloc(nblocks);
}

void kv_io_free(void *p)
{
	int saved_errno = errno;

	/* cblk_dma_free refuses memory it did not hand out: that is ours. */
	if (p && cblk_dma_free(p, 0))
		free(p);
	errno = saved_errno;
}

/* A plain path that names nothing (no file, no LUN a daemon serves) is
 * created (IBM's README promised it; its code did not): a sparse file of
 * @size bytes, at least 1 GiB. NULL when @path is not such a name. */
static char *create_spec(const char *path, uint64_t size)
{
	struct stat st;
	char *spec = NULL;

	if (strchr(path, ':') || stat(path, &st) == 0 || errno != ENOENT)
		return NULL;
	if (size < ARK_VERBOSE_PLUN_SIZE_DEF)
		size = ARK_VERBOSE_PLUN_SIZE_DEF;
	if (asprintf(&spec, "file:%s?size=%llu", path, (unsigned long long)size) < 0)
		return NULL;
	return spec;
}

/*
 * read_chunks() - more chunks of the same LUN for value reads (a second
 * cblk_open of a LUN's name in a process opens it again, with a context of
 * its own), one per AFU worker up to one per CPU: a pool thread's batch of
 * reads then goes into a queue no other thread uses and its inline run
 * (CBLK_ARW_DEFER_FLAG) takes a worker's passes no other thread wants. On
 * one chunk the two pool threads of two CPUs met at its lock and at the
 * worker's passes (one inline run in 5 to 9 found them taken and woke the
 * AFU thread). The AFU puts a context on its least loaded worker, so this
 * pays only with as many workers (CXLFLASH_AFU_THREADS, one per CPU up to 4):
 * CXLFLASH_KV_READ_CHUNKS sets the count (1: only the store's chunk).
 * Only for a physical chunk of a LUN in this process (ram:, file:, a
 * path): a vLUN opened again would be another vLUN, a RAID0 group's
 * requests are one block anyway, and a daemon LUN would take contexts of
 * the daemon.
 */
static void read_chunks(struct kv_dev *d, const char *path, int qd, int mode)
{
	const char *env = getenv("CXLFLASH_KV_READ_CHUNKS");
	unsigned cpus = cpus_online(), want;
	struct stat st;

	if (env && *env) {
		want = (unsigned)strtoul(env, NULL, 10);
	} else {
		/* As many as the AFU has workers. */
		env = getenv("CXLFLASH_AFU_THREADS");
		want = env && *env ? (unsigned)strtoul(env, NULL, 10) : afu_default_workers();
		if (want > cpus)
			want = cpus;
	}
	if (want > KV_DEV_READ_CHUNKS)
		want = KV_DEV_READ_CHUNKS;
	if (d->vlun || d->gflags || d->dma ||
	    !(!strncmp(path, "ram:", 4) || !strncmp(path, "file:", 5) || stat(path, &st) == 0))
		return;
	while (d->nrd < want) {
		int saved_errno = errno;
		chunk_id_t id = cblk_open(path, qd, mode, 0, 0);

		errno = saved_errno;
		if (id == NULL_CHUNK_ID)
			break;
		d->rd_id[d->nrd++] = id;
	}
}

int kv_dev_open(const char *path, bool vlun, uint64_t size, int basyncs, bool readonly,
		struct kv_dev **out)
{
	struct kv_dev *d = calloc(1, sizeof(*d));
	chunk_attrs_t attrs;
	const char *no_fua;
	size_t n = 0;
	int qd = basyncs > 0 ? basyncs : 256;
	int rc;

	if (!d)
		return -ENOMEM;
	if (qd > 8192)
		qd = 8192;
	pthread_mutex_init(&d->lock, NULL);
	d->vlun = vlun;
	int oflags = vlun ? CBLK_OPN_VIRT_LUN : 0;
	int mode = readonly ? O_RDONLY : O_RDWR;
	d->id = cblk_open(path, qd, mode, 0, oflags);
	if (d->id == NULL_CHUNK_ID && errno == ENOENT) {
		char *spec = create_spec(path, size);
		if (spec) {
			d->id = readonly ? NULL_CHUNK_ID : cblk_open(spec, qd, mode, 0, oflags);
			free(spec);
		} else {
			errno = ENOENT;
		}
	}
	if (d->id == NULL_CHUNK_ID && strchr(path, ':') && errno != EBUSY) {
		/* "a:b": the members of a RAID0 group, as IBM's store accepted. */
		int err = errno;
		d->id = cblk_cg_open(path, qd, mode, 1, 0, CBLK_GROUP_RAID0 | oflags);
		if (d->id == NULL_CHUNK_ID)
			errno = err;
		else
			d->gflags = CBLK_GROUP_RAID0;
	}
	if (d->id == NULL_CHUNK_ID) {
		rc = -errno;
		free(d);
		return rc ? rc : -EIO;
	}
	memset(&attrs, 0, sizeof(attrs));
	if (cblk_get_attrs(d->id, &attrs, d->gflags) == 0 && attrs.max_transfer_size)
		d->max_xfer = attrs.max_transfer_size;
	else
		d->max_xfer = 1;
	no_fua = getenv("CXLFLASH_KV_NO_FUA");
	d->fua = (attrs.flags1 & CFLSH_ATTR_FUA) && !(no_fua && !strcmp(no_fua, "1"));
	d->dma = (attrs.flags1 & CFLSH_ATTR_DMA_STAGED) != 0;
	if (d->gflags)
		d->max_xfer = 1;   /* RAID0 async requests are one block */
	if (vlun) {
		uint64_t want = (size + KV_BLOCK - 1) / KV_BLOCK;
		if (want < 1024)
			want = 1024;
		if (cblk_set_size(d->id, want, d->gflags)) {
			rc = -errno;
			cblk_close(d->id, d->gflags);
			free(d);
			return rc == -ENOMEM ? -ENOSPC : rc;
		}
	}
	if (cblk_get_size(d->id, &n, d->gflags)) {
		rc = -errno;
		cblk_close(d->id, d->gflags);
		free(d);
		return rc;
	}
	d->blocks = n;
	d->rd_id[0] = d->id;
	d->nrd = 1;
	read_chunks(d, path, qd, mode);
	*out = d;
	return 0;
}

void kv_dev_close(struct kv_dev *d)
{
	if (!d)
		return;
	for (unsigned i = 1; i < d->nrd; i++)
		cblk_close(d->rd_id[i], 0);
	cblk_close(d->id, d->gflags);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

uint64_t kv_dev_blocks(struct kv_dev *d)
{
	pthread_mutex_lock(&d->lock);
	uint64_t n = d->blocks;
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* The most blocks one command may move (1 on vLUNs and RAID0 groups). */
uint64_t kv_dev_max_xfer(struct kv_dev *d)
{
	return d->max_xfer;
}

bool kv_dev_fua(struct kv_dev *d)
{
	return d->fua;
}

bool kv_dev_is_vlun(struct kv_dev *d)
{
	return d->vlun;
}

/* kv_dev_grow() - make a virtual LUN @blocks long. -ENOSPC when the LUN has no room. */
int kv_dev_grow(struct kv_dev *d, uint64_t blocks)
{
	size_t n = 0;
	int rc = 0;

	if (!d->vlun)
		return -ENOSPC;
	pthread_mutex_lock(&d->lock);
	if (blocks > d->blocks) {
		if (cblk_set_size(d->id, blocks, d->gflags))
			rc = errno == ENOMEM ? -ENOSPC : -errno;
		else if (cblk_get_size(d->id, &n, d->gflags) == 0)
			d->blocks = n;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* One in-flight piece of a kv_dev_rw() call. */
struct piece {
	struct kv_io *io;
	union {
		int tag;
		cflsh_cg_tag_t cgtag;
	};
};

static int issue(struct kv_dev *d, int id, struct kv_io *io, uint64_t lba, uint32_t n, void *buf,
		 struct piece *p)
{
	/* The caller reaps every piece next (kv_dev_rw): a read leaves the
	 * doorbell to that wait, which in embedded mode runs the AFU's work
	 * for all the pieces on this thread, with no wake-up of the AFU
	 * thread. Not a write: the writer's batch write run on its own thread
	 * made durable sets slower (a file LUN's write blocks it while the
	 * next batch fills; 3 of 3 alternating runs, 12-19 K vs 16-42 K/s). */
	int wflags = io->fua ? CBLK_ARW_FUA_FLAG : 0;
	int rflags = CBLK_ARW_DEFER_FLAG;
	int rc;

	p->io = io;
	if (d->gflags)
		rc = io->write ? cblk_cg_awrite(d->id, buf, lba, n, &p->cgtag, NULL,
						d->gflags | wflags)
			       : cblk_cg_aread(d->id, buf, lba, n, &p->cgtag, NULL, d->gflags);
	else
		rc = io->write ? cblk_awrite(id, buf, lba, n, &p->tag, NULL, wflags)
			       : cblk_aread(id, buf, lba, n, &p->tag, NULL, rflags);
	if (rc < 0)
		return -errno;
	return rc > 0 ? 1 : 0;   /* 1: already complete */
}

static int reap(struct kv_dev *d, int id, struct piece *p)
{
	uint64_t status = 0;
	int rc;

	do {
		if (d->gflags)
			rc = cblk_cg_aresult(d->id, &p->cgtag, &status, CBLK_ARESULT_BLOCKING | d->gflags);
		else
			rc = cblk_aresult(id, &p->tag, &status, CBLK_ARESULT_BLOCKING);
	} while (rc == 0);
	return rc < 0 ? (errno ? -errno : -EIO) : 0;
}

/* Wait for the oldest piece of the window; its error goes to its request. */
static void reap_oldest(struct kv_dev *d, int id, struct piece *win, unsigned *head, unsigned *count)
{
	struct piece *old = &win[*head];
	int rc = reap(d, id, old);

	if (rc && !old->io->rc)
		old->io->rc = rc;
	*head = (*head + 1) % KV_DEV_WINDOW;
	(*count)--;
}

/* A read chunk of its own for a call of only reads (read_chunks()): the
 * extra ones first, the store's own (which the writer uses too) last.
 * -1: the store's chunk, shared (writes, or every read chunk taken). */
static int rd_pick(struct kv_dev *d, const struct kv_io *io, unsigned n)
{
	if (d->nrd < 2)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (io[i].write)
			return -1;
	for (unsigned k = 1; k <= d->nrd; k++) {
		unsigned i = k % d->nrd;
		int free = 0;

		if (__atomic_compare_exchange_n(&d->rd_busy[i], &free, 1, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return (int)i;
	}
	return -1;
}

int kv_dev_rw(struct kv_dev *d, struct kv_io *io, unsigned n)
{
	struct piece win[KV_DEV_WINDOW];
	unsigned head = 0, count = 0;
	int first = 0;
	int rd = rd_pick(d, io, n);
	int id = rd >= 0 ? d->rd_id[rd] : d->id;

	for (unsigned i = 0; i < n; i++) {
		io[i].rc = 0;
		for (uint32_t done = 0; done < io[i].nblocks;) {
			uint32_t len = (uint32_t)kv_min(io[i].nblocks - done, d->max_xfer);
			struct piece *p = &win[(head + count) % KV_DEV_WINDOW];
			int rc;

			if (count == KV_DEV_WINDOW) {
				reap_oldest(d, id, win, &head, &count);
				continue;
			}
			rc = issue(d, id, &io[i], io[i].lba + done, len,
				   (uint8_t *)io[i].buf + (size_t)done * KV_BLOCK, p);
			if (rc == -EWOULDBLOCK || rc == -EAGAIN) {
				/* Other users hold the commands: finish one of ours, or wait. */
				if (count)
					reap_oldest(d, id, win, &head, &count);
				else
					sched_yield();
				continue;
			}
			if (rc < 0) {
				io[i].rc = rc;
				break;
			}
			if (rc == 0)
				count++;
			done += len;
		}
	}
	while (count)
		reap_oldest(d, id, win, &head, &count);
	if (rd >= 0)
		__atomic_store_n(&d->rd_busy[rd], 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		if (io[i].rc && !first)
			first = io[i].rc;
	return first;
}

int kv_dev_read(struct kv_dev *d, uint64_t lba, uint32_t nblocks, void *buf)
{
	if (nblocks <= d->max_xfer && d->nrd < 2) {
		if (cblk_read(d->id, buf, (cflash_offset_t)lba, nblocks, d->gflags) < 0)
			return errno ? -errno : -EIO;
		return 0;
	}
	struct kv_io io = { .write = false, .lba = lba, .nblocks = nblocks, .buf = buf };
	return kv_dev_rw(d, &io, 1);
}

int kv_dev_flush(struct kv_dev *d)
{
	if (cblk_sync(d->id, d->gflags))
		return errno ? -errno : -EIO;
	return 0;
}

/* kv_dev_unmap() - give dead blocks back (a vLUN's backend may free them).
 * Best effort: a LUN that cannot unmap keeps them. */
int kv_dev_unmap(struct kv_dev *d, uint64_t lba, uint32_t nblocks)
{
	static uint8_t zero[KV_BLOCK] __attribute__((aligned(KV_BLOCK)));
	chunk_attrs_t attrs;

	if (cblk_get_attrs(d->id, &attrs, d->gflags) || !(attrs.flags1 & CFLSH_ATTR_UNMAP))
		return 0;
	for (uint32_t done = 0; done < nblocks;) {
		uint32_t len = (uint32_t)kv_min(nblocks - done, d->max_xfer);
		if (cblk_unmap(d->id, zero, (cflash_offset_t)(lba + done), len, d->gflags) < 0)
			return -errno;
		done += len;
	}
	return 0;
}

/* In a forked child: a read-only view of the parent's chunk. */
int kv_dev_fork_child(struct kv_dev *d)
{
	d->nrd = 1;   /* the read chunks are the parent's: not cloned */
	int rc = d->gflags ? cblk_cg_clone_after_fork(d->id, O_RDONLY, d->gflags)
			   : cblk_clone_after_fork(d->id, O_RDONLY, 0);
	return rc ? -errno : 0;
}

/* The LUN under the chunk (what a virtual LUN could grow to). */
uint64_t kv_dev_lun_blocks(struct kv_dev *d)
{
	size_t n = 0;

	if (cblk_get_lun_size(d->id, &n, d->gflags))
		return kv_dev_blocks(d);
	return n;
}
