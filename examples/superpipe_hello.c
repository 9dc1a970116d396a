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
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#define NQ 16 /* HRRQ entries; the SQ has one more slot */

static struct sisl_host_map *map;
static struct sisl_hrrq hrrq;
static uint64_t hrrq_mem[NQ] __attribute__((aligned(128)));
static struct sisl_ioarcb sq[NQ + 1] __attribute__((aligned(128)));
static struct sisl_ioarcb *sq_next = sq;

/* Submit one READ(16) or WRITE(16) of one 4 KiB block and wait for it. */
static int do_io(uint32_t handle, uint64_t lba, void *buf, int write)
{
	static struct sisl_ioasa ioasa __attribute__((aligned(64)));
	struct sisl_ioarcb rcb = { 0 };
	uint64_t ea;

	rcb.req_flags = SISL_REQ_FLAGS_RES_HNDL |
			(write ? SISL_REQ_FLAGS_HOST_WRITE : SISL_REQ_FLAGS_HOST_READ);
	rcb.res_hndl = handle;
	rcb.data_len = 4096;
	rcb.data_ea = (uintptr_t)buf;
	rcb.cdb[0] = write ? 0x8A : 0x88;            /* WRITE(16) / READ(16) */
	for (int i = 0; i < 8; i++)                  /* big-endian LBA */
		rcb.cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	rcb.cdb[13] = 1;                             /* one block */
	rcb.sq_ioasa_ea = (uintptr_t)&ioasa;

	*sq_next = rcb;                              /* fill the slot ... */
	sq_next = sq_next == &sq[NQ] ? sq : sq_next + 1;
	sisl_write64(&map->sq_tail, (uintptr_t)sq_next); /* ... and publish it */
	sisl_ring_doorbell(map);

	while ((ea = sisl_hrrq_next(&hrrq)) == 0)    /* poll the HRRQ */
		sisl_cpu_relax();
	if (ea != (uintptr_t)&ioasa || ioasa.ioasc != 0) {
		fprintf(stderr, "I/O failed: afu_rc 0x%x scsi_rc 0x%x\n", ioasa.rc.afu_rc,
			ioasa.rc.scsi_rc);
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
	static char out[4096] __attribute__((aligned(4096)));
	static char in[4096] __attribute__((aligned(4096)));
	int fd;

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

	/* 2. Tell the AFU where our completion and submission queues are. */
	sisl_hrrq_init(&hrrq, map, hrrq_mem, NQ);
	sisl_write64(&map->sq_start, (uintptr_t)&sq[0]);
	sisl_write64(&map->sq_end, (uintptr_t)&sq[NQ]);
	sisl_write64(&map->sq_tail, (uintptr_t)&sq[0]);

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
	snprintf(out, sizeof(out), "hello from the superpipe");
	if (do_io((uint32_t)vlun.rsrc_handle, 42, out, 1) ||
	    do_io((uint32_t)vlun.rsrc_handle, 42, in, 0))
		return 1;
	printf("read back from LBA 42: \"%s\"\n", in);

	/* 5. Clean up: DETACH releases the vLUN; we close adap_fd ourselves. */
	detach.context_id = attach.context_id;
	cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &detach);
	munmap(map, attach.mmio_size);
	close((int)attach.adap_fd);
	cxlflash_close(fd);
	return strcmp(in, out) != 0;
}
