/* SPDX-License-Identifier: Apache-2.0 */
/*
 * example_hello.c - a raw superpipe program against cxlflashd: the example
 * (examples/superpipe_hello) puts its queues in the DMA area when ATTACH
 * says DK_CXLFLASH_DMA_AREA_ONLY and completes its I/O; and a program that
 * keeps its queues in private memory, which the daemon's AFU cannot reach,
 * sees the AFU's error in its window's intr_status instead of waiting
 * forever (issue 15 saw the example spin at 100 % CPU).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#include "t_daemon.h"
#include "t_tool.h"
#include "t_util.h"

#define NQ 8

static void example_works(void)
{
	const char *args[] = { "lun0", NULL };
	char out[4096];

	T_EQ(t_run_tool(t_tool_path("../examples/superpipe_hello"), args, out, sizeof(out)), 0);
	T_ASSERT(strstr(out, "read back from LBA 42: \"hello from the superpipe\""));
}

/* Queues outside the DMA area: the AFU says so in intr_status, at once. */
static void private_queues_flagged(void)
{
	static uint64_t hrrq[NQ] __attribute__((aligned(128)));
	static struct sisl_ioarcb sq[NQ + 1] __attribute__((aligned(128)));
	struct dk_cxlflash_attach a = { 0 };
	struct dk_cxlflash_detach det = { 0 };
	struct sisl_host_map *map;
	struct sisl_hrrq q;
	uint64_t intr = 0;
	int fd = cxlflash_open("lun0", O_RDWR);

	T_ASSERT(fd >= 0);
	a.hdr.flags = O_RDWR;
	T_EQ(cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a), 0);
	T_ASSERT(a.hdr.return_flags & DK_CXLFLASH_DMA_AREA_ONLY);
	map = mmap(NULL, a.mmio_size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)a.adap_fd, 0);
	T_ASSERT(map != MAP_FAILED);
	sisl_hrrq_init(&q, map, hrrq, NQ);
	sisl_write64(&map->sq_start, (uintptr_t)&sq[0]);
	sisl_write64(&map->sq_end, (uintptr_t)&sq[NQ]);
	sisl_write64(&map->sq_tail, (uintptr_t)&sq[0]);
	memset(&sq[0], 0, sizeof(sq[0]));
	sq[0].req_flags = SISL_REQ_FLAGS_RES_HNDL | SISL_REQ_FLAGS_HOST_READ;
	sisl_write64(&map->sq_tail, (uintptr_t)&sq[1]);
	sisl_ring_doorbell(map);
	for (int i = 0; i < 2000 && !intr; i++) {
		struct timespec ts = { 0, 1000000 };

		intr = sisl_read64(&map->intr_status);
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "intr_status 0x%llx\n", (unsigned long long)intr);
	T_ASSERT(intr & (SISL_ISTATUS_PERM_ERR_RCB_READ | SISL_ISTATUS_PERM_ERR_RRQ_WRITE));
	T_EQ(sisl_hrrq_next(&q), 0);   /* and nothing was posted */
	det.context_id = a.context_id;
	T_EQ(cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &det), 0);
	munmap(map, a.mmio_size);
	close((int)a.adap_fd);
	T_EQ(cxlflash_close(fd), 0);
}

int main(void)
{
	const char *args[] = { "--lun", "lun0=ram:1G", NULL };
	struct t_daemon d;

	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	T_SKIP_IF(access(t_tool_path("../examples/superpipe_hello"), X_OK), "no example binary");
	T_EQ(t_daemon_start(&d, args), 0);
	T_RUN(example_works);
	T_RUN(private_queues_flagged);
	T_EQ(t_daemon_stop(&d), 0);
	return T_PASS;
}
