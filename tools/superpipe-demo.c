/* SPDX-License-Identifier: Apache-2.0 */
/*
 * superpipe-demo - show the engine doing its job: open a LUN, attach two
 * tenants' contexts, carve virtual LUNs out of the LUN's chunks, run
 * verified I/O through each context's SISLite queues, and show what the
 * master enforces (bounds, isolation, mode rules, scrub before reuse).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#define QD      32
#define CHUNK   65536ull

/* One tenant: a context, its window and queues, QD command slots. */
struct tenant {
	const char *name;
	int fd;
	uint64_t ctxid;
	int adap_fd;
	struct sisl_host_map *map;
	struct sisl_hrrq hrrq;
	uint64_t hrrq_mem[QD] __attribute__((aligned(128)));
	struct sisl_ioarcb sq[QD + 1] __attribute__((aligned(128)));
	struct sisl_ioarcb *sq_next;
	struct sisl_ioasa sa[QD] __attribute__((aligned(64)));
	uint8_t *buf;                       /* QD blocks */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "superpipe-demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void attach(struct tenant *t, int fd, const char *name)
{
	struct dk_cxlflash_attach a = { 0 };

	t->name = name;
	t->fd = fd;
	a.hdr.flags = O_RDWR;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &a))
		die("DK_CXLFLASH_ATTACH");
	t->ctxid = a.context_id;
	t->adap_fd = (int)a.adap_fd;
	t->map = mmap(NULL, a.mmio_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->adap_fd, 0);
	if (t->map == MAP_FAILED)
		die("mmap of the context window");
	sisl_hrrq_init(&t->hrrq, t->map, t->hrrq_mem, QD);
	t->sq_next = t->sq;
	sisl_write64(&t->map->sq_start, (uintptr_t)&t->sq[0]);
	sisl_write64(&t->map->sq_end, (uintptr_t)&t->sq[QD]);
	sisl_write64(&t->map->sq_tail, (uintptr_t)&t->sq[0]);
	t->buf = aligned_alloc(4096, QD * 4096);
	if (!t->buf)
		die("buffer");
	printf("  %s: context 0x%016llx, window %llu KiB (adap_fd %d)\n", name,
	       (unsigned long long)t->ctxid, (unsigned long long)a.mmio_size >> 10, t->adap_fd);
}

/* Queue a prepared IOARCB on the SQ and publish it. */
static void submit_rcb(struct tenant *t, const struct sisl_ioarcb *rcb)
{
	*t->sq_next = *rcb;
	t->sq_next = t->sq_next == &t->sq[QD] ? t->sq : t->sq_next + 1;
	sisl_write64(&t->map->sq_tail, (uintptr_t)t->sq_next);
	sisl_ring_doorbell(t->map);
}

/* A one-block READ(16) (0x88) or WRITE(16) (0x8A) using slot @slot's buffer. */
static void submit(struct tenant *t, unsigned slot, uint32_t handle, uint8_t op, uint64_t lba)
{
	struct sisl_ioarcb r = { 0 };

	r.req_flags = SISL_REQ_FLAGS_RES_HNDL |
		      (op == 0x8A ? SISL_REQ_FLAGS_HOST_WRITE : SISL_REQ_FLAGS_HOST_READ);
	r.res_hndl = handle;
	r.data_len = 4096;
	r.data_ea = (uintptr_t)(t->buf + slot * 4096);
	r.cdb[0] = op;
	for (int i = 0; i < 8; i++)
		r.cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	r.cdb[13] = 1;
	r.sq_ioasa_ea = (uintptr_t)&t->sa[slot];
	submit_rcb(t, &r);
}

/* Wait for one completion; return its slot. */
static unsigned reap(struct tenant *t)
{
	uint64_t ea;

	while ((ea = sisl_hrrq_next(&t->hrrq)) == 0)
		sisl_cpu_relax();
	return (unsigned)((ea - (uintptr_t)t->sa) / sizeof(t->sa[0]));
}

static uint64_t tag_of(uint64_t ctx, uint64_t lba)
{
	return (ctx * 0x9E3779B97F4A7C15ull) ^ (lba * 0xD6E8FEB86659FD93ull);
}

/* One command, synchronously; returns the IOASA. */
static struct sisl_ioasa one(struct tenant *t, uint32_t handle, uint8_t op, uint64_t lba)
{
	submit(t, 0, handle, op, lba);
	reap(t);
	return t->sa[0];
}

/*
 * Write @n blocks spread over the vLUN at queue depth QD, read them back at
 * QD and check every block. Prints IOPS of each pass.
 */
static void verified_io(struct tenant *t, uint32_t handle, uint64_t nblocks, unsigned n)
{
	for (int pass = 0; pass < 2; pass++) {
		uint8_t op = pass == 0 ? 0x8A : 0x88;
		uint64_t slot_lba[QD];
		bool busy[QD] = { false };
		unsigned issued = 0, done = 0, bad = 0, inflight = 0;
		double t0 = now(), dt;

		while (done < n) {
			while (issued < n && inflight < QD) {
				unsigned slot = 0;
				uint64_t lba = (issued * 2654435761ull) % nblocks;

				while (busy[slot]) /* completions arrive in any order */
					slot++;
				busy[slot] = true;
				slot_lba[slot] = lba;
				if (op == 0x8A)
					for (int i = 0; i < 512; i++)
						((uint64_t *)(t->buf + slot * 4096))[i] =
							tag_of(t->ctxid, lba) + (uint64_t)i;
				submit(t, slot, handle, op, lba);
				issued++;
				inflight++;
			}
			{
				unsigned slot = reap(t);

				busy[slot] = false;
				inflight--;
				done++;
				if (t->sa[slot].ioasc)
					bad++;
				else if (op == 0x88)
					for (int i = 0; i < 512; i++)
						if (((uint64_t *)(t->buf + slot * 4096))[i] !=
						    tag_of(t->ctxid, slot_lba[slot]) + (uint64_t)i) {
							bad++;
							break;
						}
			}
		}
		dt = now() - t0;
		printf("  %s: %s %u blocks at QD%d: %.0f IOPS, %u errors%s\n", t->name,
		       op == 0x8A ? "wrote" : "read and verified", n, QD, n / dt, bad,
		       bad ? " <-- FAILED" : "");
		if (bad)
			exit(1);
	}
}

static uint64_t uvirtual(struct tenant *t, uint64_t blocks, uint64_t flags, uint64_t *last)
{
	struct dk_cxlflash_uvirtual v = { 0 };

	v.hdr.flags = flags;
	v.context_id = t->ctxid;
	v.lun_size = blocks;
	if (cxlflash_ioctl(t->fd, DK_CXLFLASH_USER_VIRTUAL, &v))
		die("DK_CXLFLASH_USER_VIRTUAL");
	*last = v.last_lba;
	return v.rsrc_handle;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: superpipe-demo [--lun NAME] [--ios N]\n"
		"\n"
		"Runs the superpipe engine in this process on one LUN: two tenants attach\n"
		"contexts, carve virtual LUNs, do verified I/O through their SISLite queues,\n"
		"and the master's rules are shown at work.\n"
		"\n"
		"  --lun NAME  the LUN: ram:SIZE, file:PATH?size=SIZE (created if absent),\n"
		"              or a path to an existing file or block device\n"
		"              (default: file:./cxlflash-demo.img?size=2G)\n"
		"  --ios N     I/Os per tenant and pass (default 100000)\n"
		"  --help      this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lun", required_argument, NULL, 'l' },
		{ "ios", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *lun = "file:./cxlflash-demo.img?size=2G";
	static struct tenant a, b;
	unsigned ios = 100000;
	uint64_t ha, hb, hz, last;
	int fd, c;

	while ((c = getopt_long(argc, argv, "l:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lun = optarg;
			break;
		case 'n':
			ios = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (ios == 0)
		ios = 1;

	printf("1. Open the LUN %s\n", lun);
	fd = cxlflash_open(lun, O_RDWR);
	if (fd < 0)
		die(lun);

	printf("2. Two tenants attach contexts (each gets its own 64 KiB window)\n");
	attach(&a, fd, "tenant A");
	attach(&b, fd, "tenant B");
	{
		struct dk_cxlflash_udirect d = { 0 };
		struct dk_cxlflash_release r = { 0 };
		struct sisl_ioarcb inq = { 0 };

		/* INQUIRY page 0x83 through a physical handle: the LUN's WWID */
		d.context_id = a.ctxid;
		if (cxlflash_ioctl(fd, DK_CXLFLASH_USER_DIRECT, &d))
			die("DK_CXLFLASH_USER_DIRECT");
		inq.req_flags = SISL_REQ_FLAGS_RES_HNDL;
		inq.res_hndl = (uint32_t)d.rsrc_handle;
		inq.data_len = 24; /* header + one 16-byte NAA designator */
		inq.data_ea = (uintptr_t)a.buf;
		inq.cdb[0] = 0x12;
		inq.cdb[1] = 0x01;
		inq.cdb[2] = 0x83;
		inq.cdb[4] = 24;
		inq.sq_ioasa_ea = (uintptr_t)&a.sa[0];
		submit_rcb(&a, &inq);
		reap(&a);
		printf("  LUN WWID (INQUIRY page 0x83): ");
		for (int i = 0; i < 16; i++)
			printf("%02x", a.buf[8 + i]);
		printf(", last LBA %llu (4 KiB blocks)\n", (unsigned long long)d.last_lba);
		r.context_id = a.ctxid;
		r.rsrc_handle = d.rsrc_handle;
		if (cxlflash_ioctl(fd, DK_CXLFLASH_RELEASE, &r))
			die("DK_CXLFLASH_RELEASE");
	}

	printf("3. Each carves a virtual LUN out of the LUN's 256 MiB chunks\n");
	ha = uvirtual(&a, 300 * 256, 0, &last); /* 300 MiB -> 2 chunks */
	printf("  tenant A: asked for 300 MiB, handle %llu, last LBA %llu (%llu MiB)\n",
	       (unsigned long long)ha, (unsigned long long)last, (unsigned long long)(last + 1) >> 8);
	hb = uvirtual(&b, CHUNK, DK_CXLFLASH_UVIRTUAL_NEED_WRITE_SAME, &last);
	printf("  tenant B: asked for 256 MiB with scrub-on-free, handle %llu, last LBA %llu\n",
	       (unsigned long long)hb, (unsigned long long)last);

	printf("4. Verified I/O through the superpipe (no system call per I/O)\n");
	verified_io(&a, (uint32_t)ha, 2 * CHUNK, ios);
	verified_io(&b, (uint32_t)hb, CHUNK, ios);

	printf("5. What the AFU refuses\n");
	{
		struct sisl_ioasa sa = one(&a, (uint32_t)ha, 0x88, 2 * CHUNK);

		printf("  A reads past its vLUN:          afu_rc 0x%02x (LXT out of bounds)\n",
		       sa.rc.afu_rc);
		sa = one(&a, 7, 0x88, 0);
		printf("  A uses a handle it never got:   afu_rc 0x%02x (RHT invalid)\n", sa.rc.afu_rc);
		sa = one(&a, 9999, 0x88, 0);
		printf("  A uses a handle beyond its RHT: afu_rc 0x%02x (RHT out of bounds)\n",
		       sa.rc.afu_rc);
	}
	{
		struct dk_cxlflash_udirect d = { 0 };
		int rc;

		d.context_id = b.ctxid;
		rc = cxlflash_ioctl(fd, DK_CXLFLASH_USER_DIRECT, &d);
		printf("  B asks for the physical LUN while it is virtual: %s\n",
		       rc ? strerror(errno) : "granted?!");
	}

	printf("6. Resize and scrub before reuse\n");
	{
		struct dk_cxlflash_resize r = { 0 };
		struct dk_cxlflash_release rel = { 0 };
		struct sisl_ioasa sa;
		unsigned nonzero = 0;

		r.context_id = a.ctxid;
		r.rsrc_handle = ha;
		r.req_size = 3 * CHUNK;
		if (cxlflash_ioctl(fd, DK_CXLFLASH_VLUN_RESIZE, &r))
			die("DK_CXLFLASH_VLUN_RESIZE");
		printf("  A grows to 3 chunks: last LBA %llu\n", (unsigned long long)r.last_lba);
		rel.context_id = b.ctxid;
		rel.rsrc_handle = hb;
		if (cxlflash_ioctl(fd, DK_CXLFLASH_RELEASE, &rel))
			die("DK_CXLFLASH_RELEASE");
		printf("  B releases its vLUN; its chunk is zeroed before it is free\n");
		hz = uvirtual(&a, CHUNK, 0, &last);
		for (uint64_t lba = 0; lba < CHUNK; lba += 4099) {
			sa = one(&a, (uint32_t)hz, 0x88, lba);
			for (int i = 0; i < 4096 && !sa.ioasc; i++)
				nonzero += a.buf[i] != 0;
		}
		printf("  A's new vLUN (handle %llu) gets that chunk: %s\n", (unsigned long long)hz,
		       nonzero ? "OLD DATA VISIBLE <-- FAILED" : "reads back zeroes");
		if (nonzero)
			return 1;
	}

	printf("7. Detach: handles released, chunks returned, mode back to none\n");
	{
		struct dk_cxlflash_detach d = { 0 };

		d.context_id = a.ctxid;
		cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &d);
		d.context_id = b.ctxid;
		cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &d);
		munmap(a.map, SISL_HOST_MAP_SIZE);
		munmap(b.map, SISL_HOST_MAP_SIZE);
		close(a.adap_fd);
		close(b.adap_fd);
	}
	{
		struct dk_cxlflash_attach at = { 0 };
		struct dk_cxlflash_udirect d = { 0 };

		at.hdr.flags = O_RDWR;
		if (cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &at))
			die("DK_CXLFLASH_ATTACH");
		d.context_id = at.context_id;
		printf("  physical access is now possible again: %s\n",
		       cxlflash_ioctl(fd, DK_CXLFLASH_USER_DIRECT, &d) ? strerror(errno) : "granted");
		close((int)at.adap_fd);
	}
	cxlflash_close(fd);
	printf("done.\n");
	return 0;
}
