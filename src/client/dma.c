/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dma.c - the DMA areas of this process's contexts: where each is mapped,
 * how many attachments use it, and re-mapping in place after RECOVER_AFU so
 * that addresses the program (and the master) hold stay valid.
 */
#include "client/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <cxlflash/sislite.h>

struct dma_map {
	uint64_t ctxid;
	uint8_t *base;       /* the window; the DMA area follows it */
	size_t size;         /* window + DMA area */
	unsigned refs;
	struct dma_map *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dma_map *g_maps;

static struct dma_map *find(uint64_t ctxid)
{
	for (struct dma_map *d = g_maps; d; d = d->next)
		if (d->ctxid == ctxid)
			return d;
	return NULL;
}

void *dma_map_attach(uint64_t ctxid, int fd, uint64_t dma_size, void *at)
{
	size_t size = SISL_HOST_MAP_SIZE + dma_size;
	struct dma_map *d = calloc(1, sizeof(*d));
	void *p;

	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
	if (p == MAP_FAILED) {
		free(d);
		return NULL;
	}
	d->ctxid = ctxid;
	d->base = p;
	d->size = size;
	d->refs = 1;
	pthread_mutex_lock(&g_lock);
	d->next = g_maps;
	g_maps = d;
	pthread_mutex_unlock(&g_lock);
	return d->base + SISL_HOST_MAP_SIZE;
}

void dma_map_ref(uint64_t ctxid)
{
	struct dma_map *d;

	pthread_mutex_lock(&g_lock);
	d = find(ctxid);
	if (d)
		d->refs++;
	pthread_mutex_unlock(&g_lock);
}

int dma_map_recover(uint64_t old_ctxid, uint64_t new_ctxid, int fd)
{
	struct dma_map *d;
	int rc = 0;

	pthread_mutex_lock(&g_lock);
	d = find(old_ctxid);
	if (d) {
		/* MAP_FIXED replaces the old pages in one step: no gap in
		 * which another mapping could take the range. */
		if (mmap(d->base, d->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
		    MAP_FAILED)
			rc = -errno;
		else
			d->ctxid = new_ctxid;
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

void dma_map_put(uint64_t ctxid)
{
	struct dma_map **pp, *d = NULL;

	pthread_mutex_lock(&g_lock);
	for (pp = &g_maps; *pp; pp = &(*pp)->next) {
		if ((*pp)->ctxid == ctxid) {
			d = *pp;
			if (--d->refs == 0)
				*pp = d->next;
			else
				d = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (d) {
		munmap(d->base, d->size);
		free(d);
	}
}

bool dma_map_known(uint64_t ctxid)
{
	bool known;

	pthread_mutex_lock(&g_lock);
	known = find(ctxid) != NULL;
	pthread_mutex_unlock(&g_lock);
	return known;
}

void dma_map_forget_all(void)
{
	struct dma_map *d = g_maps;
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	g_lock = fresh;
	g_maps = NULL;
	while (d) {
		struct dma_map *next = d->next;

		munmap(d->base, d->size);
		free(d);
		d = next;
	}
}
