/* SPDX-License-Identifier: Apache-2.0 */
/*
 * superpipe_hello.c - the smallest complete superpipe program: open a LUN,
 * attach a context, map its window, carve a virtual LUN, write a block and
 * read it back through the SISLite queues, then clean up.
 *
 *   cc -o superpipe_hello superpipe_hello.c -lcxlflash -luring -lpthread
 *   ./superpipe_hello [LUN]        (default LUN: ram:1G)
 *
 * Every step is what a program on the original hardware did: the control
 * path is DK_CXLFLASH_* requests, the data path is IOARCBs placed on a
 * submission queue (SQ) in our memory, and completions read from the HRRQ,
 * with no system call per I/O.
 *
 * LUN may be one cxlflashd serves (e.g. lun0): the daemon's AFU reaches
 * only the context's DMA area, so when ATTACH says DK_CXLFLASH_DMA_AREA_ONLY
 * the queues, the IOASA and the data buffers are placed there. A wait for a
 * completion gives up after 5 s, and stops at once when the AFU flags the
 * context in its intr_status register (a queue it cannot reach, say).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#define NQ 16 /* HRRQ entries; the SQ has one more slot */

/* What the AFU must reach: in our own memory, or in the DMA area. */
struct shared {
	struct sisl_ioarcb sq[NQ + 1] __attribute__((aligned(128)));
	uint64_t hrrq[NQ] __attribute__((aligned(128)));
	struct sisl_ioasa ioasa __attribute__((aligned(64)));
	char out[4096] __attribute__((aligned(4096)));
	char in[4096] __attribute__((aligned(4096)));
};

static struct shared private_mem;
static struct shared *mem = &private_mem;
static struct sisl_host_map *map;
static struct sisl_hrrq hrrq;
static struct sisl_ioarcb *sq_next;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Submit one READ(16) or WRITE(16) of one 4 KiB block and wait for it. */
static int do_io(uint32_t handle, uint64_t lba, void *buf, int write)
{
	struct sisl_ioasa *ioasa = &mem->ioasa;
	struct sisl_ioarcb rcb = { 0 };
	double deadline = now() + 5;
	uint64_t ea, intr;

	rcb.req_flags = SISL_REQ_FLAGS_RES_HNDL |
			(write ? SISL_REQ_FLAGS_HOST_WRITE : SISL_REQ_FLAGS_HOST_READ);
	rcb.res_hndl = handle;
	rcb.data_len = 4096;
	rcb.data_ea = (uintptr_t)buf;
	rcb.cdb[0] = write ? 0x8A : 0x88;            /* WRITE(16) / READ(16) */
	for (int i = 0; i < 8; i++)                  /* big-endian LBA */
		rcb.cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	rcb.cdb[13] = 1;                             /* one block */
	rcb.sq_ioasa_ea = (uintptr_t)ioasa;

	*sq_next = rcb;                              /* fill the slot ... */
	sq_next = sq_next == &mem->sq[NQ] ? mem->sq : sq_next + 1;
	sisl_write64(&map->sq_tail, (uintptr_t)sq_next); /* ... and publish it */
	sisl_ring_doorbell(map);

	while ((ea = sisl_hrrq_next(&hrrq)) == 0) {  /* poll the HRRQ */
		intr = sisl_read64(&map->intr_status);
		if (intr) {
			fprintf(stderr, "the AFU flagged the context: intr_status 0x%llx%s\n",
				(unsigned long long)intr,
				intr & (SISL_ISTATUS_PERM_ERR_RCB_READ |
					SISL_ISTATUS_PERM_ERR_RRQ_WRITE) ?
				" (it cannot reach the SQ or the HRRQ)" : "");
			return -1;
		}
		if (now() > deadline) {
			fprintf(stderr, "no completion in 5 s\n");
			return -1;
		}
		sisl_cpu_relax();
	}
	if (ea != (uintptr_t)ioasa || ioasa->ioasc != 0) {
		fprintf(stderr, "I/O failed: afu_rc 0x%x scsi_rc 0x%x\n", ioasa->rc.afu_rc,
			ioasa->rc.scsi_rc);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *lun = argc > 1 ? argv[1] : "ram:1G";
	struct dk_cxlflash_attach attach = { 0 };
	struct dk_cxlflash_uvirtual vlun = { 0 };
	struct dk_cxlflash_detach detach = { 0 };
	int fd, rc;

	/* 1. Open the LUN and attach a context (our superpipe). */
	fd = cxlflash_open(lun, O_RDWR);
	if (fd < 0) {
		perror(lun);
		return 1;
	}
	attach.hdr.flags = O_RDWR;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &attach)) {
		perror("DK_CXLFLASH_ATTACH");
		return 1;
	}
	map = mmap(NULL, attach.mmio_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   (int)attach.adap_fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	/* 2. Tell the AFU where our completion and submission queues are: in
	 *    the DMA area when only that is reachable (a daemon's LUN). */
	if (attach.hdr.return_flags & DK_CXLFLASH_DMA_AREA_ONLY) {
		if (!attach.dma_ea || attach.dma_size < sizeof(struct shared)) {
			fprintf(stderr, "%s: the DMA area is too small for the queues\n", lun);
			return 1;
		}
		mem = (struct shared *)(uintptr_t)attach.dma_ea;
	}
	sq_next = mem->sq;
	sisl_hrrq_init(&hrrq, map, mem->hrrq, NQ);
	sisl_write64(&map->sq_start, (uintptr_t)&mem->sq[0]);
	sisl_write64(&map->sq_end, (uintptr_t)&mem->sq[NQ]);
	sisl_write64(&map->sq_tail, (uintptr_t)&mem->sq[0]);

	/* 3. A virtual LUN of 1000 blocks (rounded up to one 256 MiB chunk). */
	vlun.context_id = attach.context_id;
	vlun.lun_size = 1000;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_USER_VIRTUAL, &vlun)) {
		perror("DK_CXLFLASH_USER_VIRTUAL");
		return 1;
	}
	printf("context 0x%llx: virtual LUN handle %llu, last LBA %llu\n",
	       (unsigned long long)attach.context_id, (unsigned long long)vlun.rsrc_handle,
	       (unsigned long long)vlun.last_lba);

	/* 4. Write a block, read it back. */
	snprintf(mem->out, sizeof(mem->out), "hello from the superpipe");
	memset(mem->in, 0, sizeof(mem->in));
	if (do_io((uint32_t)vlun.rsrc_handle, 42, mem->out, 1) ||
	    do_io((uint32_t)vlun.rsrc_handle, 42, mem->in, 0))
		return 1;
	printf("read back from LBA 42: \"%s\"\n", mem->in);

	/* 5. Clean up: DETACH releases the vLUN; we close adap_fd ourselves. */
	detach.context_id = attach.context_id;
	rc = strcmp(mem->in, mem->out) != 0;
	cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &detach);
	munmap(map, attach.mmio_size);
	close((int)attach.adap_fd);
	cxlflash_close(fd);
	return rc;
}
