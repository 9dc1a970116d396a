/* SPDX-License-Identifier: Apache-2.0 */
/*
 * afu_ea.c - afu_ea_resolve(): an EA window of a DMA area plus a client's
 * buffer area (cblk_dma_alloc's memory). An access resolves only when it
 * lies wholly in one of the two ranges, to that range's mapping; one that
 * starts in one and ends outside it, straddles both, wraps, or names
 * nothing registered does not resolve. Identity windows take any pointer.
 */
#include <stdint.h>

#include "afu/afu_internal.h"
#include "t_util.h"

static uint8_t dma_host[8192], buf_host[16384];

static struct afu_ea_window win(bool with_buf)
{
	struct afu_ea_window w = {
		.ea_base = 0x100000, .host_base = dma_host, .len = sizeof(dma_host),
	};

	if (with_buf) {
		w.buf_ea = 0x102000;   /* right after the DMA area: straddling is possible */
		w.buf_host = buf_host;
		w.buf_len = sizeof(buf_host);
	}
	return w;
}

static void dma_area_only(void)
{
	struct afu_ea_window w = win(false);

	T_ASSERT(afu_ea_resolve(&w, 0x100000, 4096, 1) == dma_host);
	T_ASSERT(afu_ea_resolve(&w, 0x101000, 4096, 1) == dma_host + 4096);
	T_ASSERT(afu_ea_resolve(&w, 0x101001, 4096, 1) == NULL);
	T_ASSERT(afu_ea_resolve(&w, 0x102000, 1, 1) == NULL);   /* no buffer area */
	T_ASSERT(afu_ea_resolve(&w, 0xFFFFF, 2, 1) == NULL);
}

static void both_ranges(void)
{
	struct afu_ea_window w = win(true);

	T_ASSERT(afu_ea_resolve(&w, 0x100000, 8192, 1) == dma_host);
	T_ASSERT(afu_ea_resolve(&w, 0x102000, 4096, 1) == buf_host);
	T_ASSERT(afu_ea_resolve(&w, 0x105000, 4096, 1) == buf_host + 12288);
	T_ASSERT(afu_ea_resolve(&w, 0x102000, 16384, 1) == buf_host);
	/* Past the buffer area's end, across the two ranges, wrapping, zero. */
	T_ASSERT(afu_ea_resolve(&w, 0x105001, 4096, 1) == NULL);
	T_ASSERT(afu_ea_resolve(&w, 0x106000, 1, 1) == NULL);
	T_ASSERT(afu_ea_resolve(&w, 0x101000, 8192, 1) == NULL);
	T_ASSERT(afu_ea_resolve(&w, 0x102000, 16385, 1) == NULL);
	T_ASSERT(afu_ea_resolve(&w, UINT64_MAX - 10, 4096, 1) == NULL);
	T_ASSERT(afu_ea_resolve(&w, 0, 1, 1) == NULL);
	/* Alignment is checked in either range. */
	T_ASSERT(afu_ea_resolve(&w, 0x102040, 64, 128) == NULL);
	T_ASSERT(afu_ea_resolve(&w, 0x102080, 64, 128) == buf_host + 128);
}

static void identity(void)
{
	struct afu_ea_window w = { .identity = true };

	T_ASSERT(afu_ea_resolve(&w, (uint64_t)(uintptr_t)buf_host, 4096, 1) == buf_host);
}

int main(void)
{
	T_RUN(dma_area_only);
	T_RUN(both_ranges);
	T_RUN(identity);
	return T_PASS;
}
