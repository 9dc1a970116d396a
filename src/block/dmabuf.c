/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dmabuf.c - cblk_dma_alloc / cblk_dma_free (an extension, not IBM's): the
 * process's buffer area, memory the AFU may move data to and from directly
 * even when it runs in another process (cxlflashd, or a parent serving its
 * forked children), so that such I/O needs no staging copy.
 *
 * The area is one memfd of this process (sealed against shrinking and
 * growing), mapped shared, made at the first ATTACH of the process and
 * sent with every ATTACH after (struct dk_cxlflash_attach's buf_*): the
 * master maps the same pages and adds the range to the context's EA
 * window. Because the pages are ours, nothing about them changes when the
 * master goes away: a reattach after a daemon restart sends the same memfd
 * again, and a context reset (RECOVER_AFU) keeps the master's mapping, so
 * buffers keep their contents and addresses whatever happens to contexts.
 *
 * Allocation is by 4 KiB pages, first fit, with a map of used pages and
 * the length of each allocation at its first page (so a free of anything
 * but the start of a live allocation is refused: double frees too).
 * Freed pages are punched out of the memfd (given back to the system).
 *
 * After fork() the child gets a private copy of the area's allocated part
 * at the same addresses (the parent's pages must not become shared with
 * the child, as memory from malloc would not be): its buffers stay valid
 * and keep their contents, but they are no longer in any DMA area (I/O
 * from them is staged). The child's next ATTACH (cblk_clone_after_fork,
 * cblk_open) makes it an area of its own, from which its later
 * cblk_dma_alloc calls allocate.
 */
#include "block/block_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

#define DMA_PAGE        4096u
#define DMA_DEFAULT_MAX (64ull << 20)   /* CFLSH_BLK_DMA_SIZE's default */

struct dma_heap {
	uint8_t *base;
	size_t npages;
	int fd;                 /* the memfd; -1 once private (a forked child's copy) */
	uint8_t *used;          /* npages: 1 = allocated */
	uint32_t *run;          /* npages: pages of the allocation starting here, 0 = none */
	size_t hwm;             /* pages below this may be allocated (fork copies them) */
	size_t nused;
	struct dma_heap *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dma_heap *g_heaps;   /* every area this process has, newest first */
static struct dma_heap *g_cur;     /* the one ATTACH sends and allocations use */
static bool g_disabled;            /* CFLSH_BLK_DMA_SIZE=0, or it could not be made */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The area's size: CFLSH_BLK_DMA_SIZE (bytes, or with a K, M or G suffix). */
static size_t area_size(void)
{
	const char *s = getenv("CFLSH_BLK_DMA_SIZE");
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return DMA_DEFAULT_MAX;
	v = strtoull(s, &end, 0);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end) {
		log_warn("CFLSH_BLK_DMA_SIZE=%s: not a size; using the default", s);
		return DMA_DEFAULT_MAX;
	}
	return (size_t)((v + DMA_PAGE - 1) & ~(unsigned long long)(DMA_PAGE - 1));
}

/* fork(): the allocator's state must be whole in the child. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&g_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&g_lock);
}

/*
 * In the child: every shared area becomes private memory with the same
 * contents at the same addresses (the allocated part is copied; the rest
 * becomes fresh anonymous memory), its memfd is closed, and no area is
 * current until the child's next ATTACH makes one.
 */
static void atfork_child(void)
{
	for (struct dma_heap *h = g_heaps; h; h = h->next) {
		size_t copy = h->hwm * DMA_PAGE, len = h->npages * DMA_PAGE;

		if (h->fd < 0)
			continue;
		if (copy) {
			void *tmp = mmap(NULL, copy, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (tmp != MAP_FAILED) {
				memcpy(tmp, h->base, copy);
				if (mremap(tmp, copy, copy, MREMAP_MAYMOVE | MREMAP_FIXED, h->base) ==
				    MAP_FAILED)
					munmap(tmp, copy);
			}
		}
		if (len > copy)
			mmap(h->base + copy, len - copy, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		close(h->fd);
		h->fd = -1;
	}
	g_cur = NULL;
	pthread_mutex_unlock(&g_lock);
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void heap_free(struct dma_heap *h)
{
	if (h->base)
		munmap(h->base - DMA_PAGE, (h->npages + 2) * DMA_PAGE);
	if (h->fd >= 0)
		close(h->fd);
	free(h->used);
	free(h->run);
	free(h);
}

/* heap_create() - a new shared area of @size bytes. Return it or NULL (errno). */
static struct dma_heap *heap_create(size_t size)
{
	struct dma_heap *h = calloc(1, sizeof(*h));
	void *p;

	if (!h)
		return NULL;
	h->fd = -1;
	h->npages = size / DMA_PAGE;
	h->used = calloc(h->npages, 1);
	h->run = calloc(h->npages, sizeof(*h->run));
	if (!h->used || !h->run)
		goto fail;
	h->fd = memfd_create("cblk-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (h->fd < 0 || ftruncate(h->fd, (off_t)size) ||
	    fcntl(h->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		goto fail;
	/* A guard page either side: a buffer overrun faults rather than
	 * reaching whatever would be mapped next to the area. */
	p = mmap(NULL, size + 2 * DMA_PAGE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		goto fail;
	if (mmap((uint8_t *)p + DMA_PAGE, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 h->fd, 0) == MAP_FAILED) {
		munmap(p, size + 2 * DMA_PAGE);
		goto fail;
	}
	h->base = (uint8_t *)p + DMA_PAGE;
	return h;
fail:
	{
		int err = errno ? errno : ENOMEM;

		heap_free(h);
		errno = err;
	}
	return NULL;
}

/* The current area, made on first use. Called with g_lock held. */
static struct dma_heap *current_locked(void)
{
	size_t size;

	if (g_cur || g_disabled)
		return g_cur;
	size = area_size();
	if (size == 0) {
		g_disabled = true;
		return NULL;
	}
	pthread_once(&g_once, register_atfork);
	g_cur = heap_create(size);
	if (!g_cur) {
		log_warn("no DMA buffer area (%zu bytes): %s; cblk_dma_alloc will fail and "
			 "I/O through a daemon is staged", size, strerror(errno));
		g_disabled = true;
		return NULL;
	}
	g_cur->next = g_heaps;
	g_heaps = g_cur;
	return g_cur;
}

int blk_dma_area(uint64_t *ea, uint64_t *len, int *fd)
{
	struct dma_heap *h;
	int rc = -ENOENT;

	pthread_mutex_lock(&g_lock);
	h = current_locked();
	if (h) {
		*ea = (uint64_t)(uintptr_t)h->base;
		*len = (uint64_t)h->npages * DMA_PAGE;
		*fd = h->fd;
		rc = 0;
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* The area holding @p, or NULL. Called with g_lock held. */
static struct dma_heap *heap_of_locked(const void *p)
{
	for (struct dma_heap *h = g_heaps; h; h = h->next)
		if ((const uint8_t *)p >= h->base && (const uint8_t *)p < h->base + h->npages * DMA_PAGE)
			return h;
	return NULL;
}

/* First fit of @n pages in @h; the first page's index, or -1. */
static ssize_t find_run(const struct dma_heap *h, size_t n)
{
	size_t start = 0, len = 0;

	for (size_t i = 0; i < h->npages; i++) {
		if (h->used[i]) {
			len = 0;
			start = i + 1;
			continue;
		}
		if (++len == n)
			return (ssize_t)start;
	}
	return -1;
}

/* Is @id an open chunk (or group, with a group flag in @flags) of ours? */
static bool id_valid(chunk_id_t id, int flags)
{
	struct chunk *c;

	if (flags & CBLK_GROUP_MASK)
		return cblk_cg_get_num_chunks(id, flags & CBLK_GROUP_MASK) > 0;
	c = blk_chunk_get(id);
	if (!c)
		return false;
	blk_chunk_put(c);
	return true;
}

void *cblk_dma_alloc(chunk_id_t chunk_id, size_t size, int flags)
{
	int saved_errno = errno;
	struct dma_heap *h;
	size_t n;
	ssize_t at;
	void *p = NULL;

	if (size == 0 || size > SIZE_MAX - DMA_PAGE || (flags & ~CBLK_GROUP_MASK) ||
	    !id_valid(chunk_id, flags)) {
		errno = EINVAL;
		return NULL;
	}
	n = (size + DMA_PAGE - 1) / DMA_PAGE;
	pthread_mutex_lock(&g_lock);
	h = current_locked();
	if (h && n <= h->npages && n <= UINT32_MAX && (at = find_run(h, n)) >= 0) {
		memset(h->used + at, 1, n);
		h->run[at] = (uint32_t)n;
		h->nused += n;
		if ((size_t)at + n > h->hwm)
			h->hwm = (size_t)at + n;
		p = h->base + (size_t)at * DMA_PAGE;
	}
	pthread_mutex_unlock(&g_lock);
	errno = p ? saved_errno : ENOMEM;
	return p;
}

int cblk_dma_free(void *buf, int flags)
{
	struct dma_heap *h;
	size_t i, n;
	int rc = -EINVAL, saved_errno = errno;

	if (flags)
		return blk_ret(-EINVAL);
	if (!buf)
		return 0;
	pthread_mutex_lock(&g_lock);
	h = heap_of_locked(buf);
	if (h && ((uint8_t *)buf - h->base) % DMA_PAGE == 0) {
		i = (size_t)((uint8_t *)buf - h->base) / DMA_PAGE;
		n = h->run[i];
		if (n) {
			/* Give the pages back: the next user gets zeroes. */
			if (h->fd >= 0)
				fallocate(h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)(i * DMA_PAGE), (off_t)(n * DMA_PAGE));
			else
				madvise(buf, n * DMA_PAGE, MADV_DONTNEED);
			memset(h->used + i, 0, n);
			h->run[i] = 0;
			h->nused -= n;
			while (h->hwm && !h->used[h->hwm - 1])
				h->hwm--;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (rc)
		log_debug("cblk_dma_free(%p): not a buffer cblk_dma_alloc returned, or freed already",
			  buf);
	return blk_ret_keep(rc, saved_errno);
}
