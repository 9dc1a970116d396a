/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iobench.c - one 4 KiB random I/O measurement: a target (a kernel path,
 * libcflsh_block, or plain memcpy), a read/write mix and a queue depth,
 * run --reps times for --secs each. Every rep gives IOPS, latency
 * percentiles and CPU time per I/O; the medians over the reps are printed
 * as one TSV line, and the reps themselves go to a JSON file.
 *
 * bench/run-bench.sh drives it over every configuration; run it alone to
 * look at one (see --help).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capiblock.h>

#include "bench_util.h"

#define BS          4096u
#define MAX_QD      1024u
#define MAX_REPS    64
#define MAX_PIDS    8
#define PREFILL_MAX 256u        /* blocks per prefill write */

struct opts {
	const char *target;
	const char *path;
	const char *label;
	const char *json;
	unsigned read_pct;
	unsigned qd;
	double secs;
	double warmup;
	int reps;
	uint64_t size;          /* bytes; 0 = the file's or LUN's size */
	bool buffered;          /* uring: no O_DIRECT */
	bool virt;              /* cblk: a virtual LUN */
	bool intr_thread;       /* cblk: the completion thread instead of polling */
	bool prefill;           /* cblk: write every block first (ram LUNs) */
	bool plain_bufs;        /* cblk: buffers in plain memory, not cblk_dma_alloc's */
	unsigned lat_every;     /* time 1 op in N (sync targets) */
	int pids[MAX_PIDS];
	int npids;
};

struct bench {
	struct opts o;
	const struct target *t;
	int fd;
	uint8_t *region;        /* memcpy */
	struct io_uring ring;
	bool ring_ok;
	chunk_id_t id;
	uint64_t nblocks;       /* the span random LBAs are drawn from */
	uint8_t *bufs;          /* qd buffers of 4 KiB */
	bool dma_bufs;          /* bufs came from cblk_dma_alloc */
	uint64_t *start_ns;     /* per buffer slot */
	unsigned *free_slots, nfree;
	int *tag_slot;          /* cblk tag -> slot */
	uint64_t rng;
	/* this window */
	struct hist hist;
	uint64_t ops;
};

/* One measurement target: sync ones do one I/O per call, async ones run a window. */
struct target {
	const char *name;
	const char *help;
	int (*open)(struct bench *b);
	int (*one)(struct bench *b, bool write, uint64_t lba, uint8_t *buf);
	int (*window)(struct bench *b, uint64_t end_ns);
	void (*close)(struct bench *b);
};

static bool pick_write(struct bench *b)
{
	return b->o.read_pct < 100 && bench_rand(&b->rng) % 100 >= b->o.read_pct;
}

static uint64_t pick_lba(struct bench *b)
{
	return bench_rand(&b->rng) % b->nblocks;
}

/* ---- buffers and slots shared by the queued targets ---- */

static int slots_init(struct bench *b)
{
	unsigned n = b->o.qd;

	if (b->bufs)
		return 0;   /* the synchronous targets' slot, made before the open (cblk-sync) */
	b->bufs = aligned_alloc(BS, (size_t)n * BS);
	b->start_ns = calloc(n, sizeof(*b->start_ns));
	b->free_slots = calloc(n, sizeof(*b->free_slots));
	b->tag_slot = calloc(n, sizeof(*b->tag_slot));
	if (!b->bufs || !b->start_ns || !b->free_slots || !b->tag_slot)
		return -1;
	memset(b->bufs, 0x5a, (size_t)n * BS);
	for (unsigned i = 0; i < n; i++)
		b->free_slots[i] = n - 1 - i;
	b->nfree = n;
	return 0;
}

static void slot_done(struct bench *b, unsigned s, uint64_t now)
{
	hist_add(&b->hist, now - b->start_ns[s]);
	b->ops++;
	b->free_slots[b->nfree++] = s;
}

/* ---- files and block devices: pread/pwrite and io_uring ---- */

static int file_open_flags(struct bench *b, int flags)
{
	struct stat st;
	uint64_t bytes = 0;

	if (!b->o.path) {
		fprintf(stderr, "iobench: %s needs --path\n", b->t->name);
		return -1;
	}
	b->fd = open(b->o.path, O_RDWR | flags);
	if (b->fd < 0 || fstat(b->fd, &st) < 0) {
		fprintf(stderr, "iobench: %s: %s\n", b->o.path, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0)
			bytes = 0;
	} else {
		bytes = (uint64_t)st.st_size;
	}
	if (b->o.size && b->o.size < bytes)
		bytes = b->o.size;
	b->nblocks = bytes / BS;
	return 0;
}

static int pread_open(struct bench *b)
{
	return file_open_flags(b, 0);
}

static int pread_direct_open(struct bench *b)
{
	return file_open_flags(b, O_DIRECT);
}

static int pread_one(struct bench *b, bool write, uint64_t lba, uint8_t *buf)
{
	ssize_t n = write ? pwrite(b->fd, buf, BS, (off_t)(lba * BS))
			  : pread(b->fd, buf, BS, (off_t)(lba * BS));

	if (n != BS) {
		fprintf(stderr, "iobench: %s of block %" PRIu64 ": %s\n", write ? "pwrite" : "pread",
			lba, n < 0 ? strerror(errno) : "short transfer");
		return -1;
	}
	return 0;
}

static void file_close(struct bench *b)
{
	if (b->ring_ok)
		io_uring_queue_exit(&b->ring);
	if (b->fd >= 0)
		close(b->fd);
}

/* io_uring in its best mode here: registered file and buffers, no SQPOLL (it steals a core). */
static int uring_open(struct bench *b)
{
	struct iovec *iov;
	int rc;

	if (file_open_flags(b, b->o.buffered ? 0 : O_DIRECT) || slots_init(b))
		return -1;
	rc = io_uring_queue_init(b->o.qd, &b->ring, 0);
	if (rc < 0) {
		fprintf(stderr, "iobench: io_uring_queue_init: %s\n", strerror(-rc));
		return -1;
	}
	b->ring_ok = true;
	iov = calloc(b->o.qd, sizeof(*iov));
	if (!iov)
		return -1;
	for (unsigned i = 0; i < b->o.qd; i++)
		iov[i] = (struct iovec){ b->bufs + (size_t)i * BS, BS };
	rc = io_uring_register_buffers(&b->ring, iov, b->o.qd);
	free(iov);
	if (rc == 0)
		rc = io_uring_register_files(&b->ring, &b->fd, 1);
	if (rc < 0) {
		fprintf(stderr, "iobench: io_uring_register: %s\n", strerror(-rc));
		return -1;
	}
	return 0;
}

static int uring_window(struct bench *b, uint64_t end_ns)
{
	unsigned inflight = 0;

	for (;;) {
		uint64_t now = bench_now_ns();
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int rc;

		while (now < end_ns && inflight < b->o.qd) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
			unsigned s = b->free_slots[--b->nfree];
			uint8_t *buf = b->bufs + (size_t)s * BS;
			uint64_t off = pick_lba(b) * BS;

			if (pick_write(b))
				io_uring_prep_write_fixed(sqe, 0, buf, BS, off, (int)s);
			else
				io_uring_prep_read_fixed(sqe, 0, buf, BS, off, (int)s);
			sqe->flags |= IOSQE_FIXED_FILE;
			io_uring_sqe_set_data64(sqe, s);
			b->start_ns[s] = now;
			inflight++;
		}
		if (!inflight)
			return 0;
		rc = io_uring_submit_and_wait(&b->ring, 1);
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "iobench: io_uring_submit_and_wait: %s\n", strerror(-rc));
			return -1;
		}
		now = bench_now_ns();
		io_uring_for_each_cqe(&b->ring, head, cqe) {
			if (cqe->res != (int)BS) {
				fprintf(stderr, "iobench: io_uring I/O: %s\n",
					cqe->res < 0 ? strerror(-cqe->res) : "short transfer");
				return -1;
			}
			slot_done(b, (unsigned)io_uring_cqe_get_data64(cqe), now);
			seen++;
		}
		io_uring_cq_advance(&b->ring, seen);
		inflight -= seen;
	}
}

/* ---- the physical ceiling: memcpy to and from a RAM region ---- */

static int memcpy_open(struct bench *b)
{
	size_t bytes = b->o.size ? b->o.size : (1ull << 30);

	b->region = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->region == MAP_FAILED) {
		b->region = NULL;
		fprintf(stderr, "iobench: mmap %zu bytes: %s\n", bytes, strerror(errno));
		return -1;
	}
	memset(b->region, 0xa5, bytes);   /* real pages, not the shared zero page */
	b->nblocks = bytes / BS;
	return 0;
}

static int memcpy_one(struct bench *b, bool write, uint64_t lba, uint8_t *buf)
{
	uint8_t *blk = b->region + lba * BS;

	if (write)
		memcpy(blk, buf, BS);
	else
		memcpy(buf, blk, BS);
	__asm__ volatile("" ::: "memory");   /* keep the copy */
	return 0;
}

static void memcpy_close(struct bench *b)
{
	if (b->region)
		munmap(b->region, b->nblocks * BS);
}

/* ---- ours: libcflsh_block, embedded (or, later, through cxlflashd) ---- */

static int cblk_prefill(struct bench *b)
{
	chunk_attrs_t attrs;
	uint64_t per;
	uint8_t *buf;
	int rc = 0;

	memset(&attrs, 0, sizeof(attrs));
	if (cblk_get_attrs(b->id, &attrs, 0) < 0)
		return -1;
	per = attrs.max_transfer_size < PREFILL_MAX ? attrs.max_transfer_size : PREFILL_MAX;
	if (!per)
		per = 1;
	buf = aligned_alloc(BS, per * BS);
	if (!buf)
		return -1;
	memset(buf, 0xa5, per * BS);
	for (uint64_t lba = 0; lba < b->nblocks && rc == 0; lba += per) {
		uint64_t n = b->nblocks - lba < per ? b->nblocks - lba : per;

		if (cblk_write(b->id, buf, (cflash_offset_t)lba, n, 0) != (int)n)
			rc = -1;
	}
	free(buf);
	if (rc)
		fprintf(stderr, "iobench: prefill: %s\n", strerror(errno));
	return rc;
}

static int cblk_bench_open(struct bench *b)
{
	int flags = (b->o.virt ? CBLK_OPN_VIRT_LUN : 0) |
		    (b->o.intr_thread ? 0 : CBLK_OPN_NO_INTRP_THREADS);
	size_t lun = 0, size = 0;

	if (!b->o.path) {
		fprintf(stderr, "iobench: cblk needs --path LUN (ram:1G, a file, ...)\n");
		return -1;
	}
	if (slots_init(b))
		return -1;
	cblk_init(NULL, 0);
	b->id = cblk_open(b->o.path, (int)b->o.qd, O_RDWR, 0, flags);
	if (b->id == NULL_CHUNK_ID) {
		fprintf(stderr, "iobench: cblk_open %s: %s\n", b->o.path, strerror(errno));
		return -1;
	}
	if (cblk_get_lun_size(b->id, &lun, 0) < 0)
		goto fail;
	if (b->o.size && b->o.size / BS < lun)
		lun = b->o.size / BS;
	if (b->o.virt) {
		/* As large as the LUN allows, in 256 MiB steps: the same span as physical. */
		size_t want = lun;

		while (cblk_set_size(b->id, want, 0) < 0) {
			if (errno != ENOMEM || want <= 65536)
				goto fail;
			want -= 65536;
		}
	}
	if (cblk_get_size(b->id, &size, 0) < 0)
		goto fail;
	b->nblocks = size < lun ? size : lun;
	if (!b->nblocks) {
		errno = ENOSPC;
		goto fail;
	}
	if (!b->o.plain_bufs) {
		/* The DMA buffer area: through cxlflashd no staging copy. */
		uint8_t *d = cblk_dma_alloc(b->id, (size_t)b->o.qd * BS, 0);

		if (!d)
			goto fail;
		memcpy(d, b->bufs, (size_t)b->o.qd * BS);
		free(b->bufs);
		b->bufs = d;
		b->dma_bufs = true;
	}
	if (b->o.prefill && cblk_prefill(b))
		return -1;
	return 0;
fail:
	fprintf(stderr, "iobench: %s: %s\n", b->o.path, strerror(errno));
	return -1;
}

/* Harvest: the first completion may block (the queue is full), the rest must not. */
static int cblk_harvest(struct bench *b, unsigned *inflight)
{
	int got = 0;

	while (*inflight) {
		uint64_t status = 0;
		int tag = -1;
		int rc = cblk_aresult(b->id, &tag, &status,
				      CBLK_ARESULT_NEXT_TAG | (got ? 0 : CBLK_ARESULT_BLOCKING));

		if (rc == 0)
			break;
		if (rc != 1 || tag < 0 || (unsigned)tag >= b->o.qd || b->tag_slot[tag] < 0) {
			fprintf(stderr, "iobench: cblk_aresult rc %d tag %d: %s\n", rc, tag,
				rc < 0 ? strerror(errno) : "unexpected");
			return -1;
		}
		slot_done(b, (unsigned)b->tag_slot[tag], bench_now_ns());
		b->tag_slot[tag] = -1;
		(*inflight)--;
		got++;
	}
	return got;
}

static int cblk_window(struct bench *b, uint64_t end_ns)
{
	unsigned inflight = 0;

	for (unsigned i = 0; i < b->o.qd; i++)
		b->tag_slot[i] = -1;
	for (;;) {
		uint64_t now = bench_now_ns();

		while (now < end_ns && inflight < b->o.qd) {
			unsigned s = b->free_slots[b->nfree - 1];
			uint8_t *buf = b->bufs + (size_t)s * BS;
			cflash_offset_t lba = (cflash_offset_t)pick_lba(b);
			int tag = -1, rc;

			rc = pick_write(b) ? cblk_awrite(b->id, buf, lba, 1, &tag, NULL, 0)
					   : cblk_aread(b->id, buf, lba, 1, &tag, NULL, 0);
			if (rc < 0 && errno == EWOULDBLOCK)
				break;
			if (rc < 0 || (rc == 0 && (tag < 0 || (unsigned)tag >= b->o.qd))) {
				fprintf(stderr, "iobench: cblk issue rc %d tag %d: %s\n", rc, tag,
					strerror(errno));
				return -1;
			}
			b->nfree--;
			b->start_ns[s] = now;
			if (rc > 0) {          /* completed at once */
				slot_done(b, s, bench_now_ns());
				continue;
			}
			b->tag_slot[tag] = (int)s;
			inflight++;
		}
		if (!inflight)
			return 0;
		if (cblk_harvest(b, &inflight) < 0)
			return -1;
	}
}

/* cblk-sync: cblk_read/cblk_write, one at a time (embedded: run inline). */
static int cblk_sync_one(struct bench *b, bool write, uint64_t lba, uint8_t *buf)
{
	int rc = write ? cblk_write(b->id, buf, (cflash_offset_t)lba, 1, 0)
		       : cblk_read(b->id, buf, (cflash_offset_t)lba, 1, 0);

	if (rc != 1) {
		fprintf(stderr, "iobench: cblk_%s of block %" PRIu64 ": rc %d: %s\n",
			write ? "write" : "read", lba, rc, rc < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

static void cblk_bench_close(struct bench *b)
{
	if (b->id != NULL_CHUNK_ID && cblk_close(b->id, 0) < 0)
		fprintf(stderr, "iobench: cblk_close: %s\n", strerror(errno));
	cblk_term(NULL, 0);
}

static const struct target targets[] = {
	{ "pread", "pread/pwrite through the page cache on --path (QD 1)",
	  pread_open, pread_one, NULL, file_close },
	{ "pread-direct", "pread/pwrite with O_DIRECT on --path (QD 1)",
	  pread_direct_open, pread_one, NULL, file_close },
	{ "uring", "io_uring O_DIRECT (--buffered: page cache) on a file or block device",
	  uring_open, NULL, uring_window, file_close },
	{ "memcpy", "4 KiB memcpy to/from a RAM region of --size bytes (QD 1)",
	  memcpy_open, memcpy_one, NULL, memcpy_close },
	{ "cblk", "libcflsh_block cblk_aread/cblk_awrite/cblk_aresult on LUN --path",
	  cblk_bench_open, NULL, cblk_window, cblk_bench_close },
	{ "cblk-sync", "libcflsh_block cblk_read/cblk_write, one at a time (QD 1)",
	  cblk_bench_open, cblk_sync_one, NULL, cblk_bench_close },
};

/* Sync targets: one I/O at a time; the clock is read only for the ops that are timed. */
static int sync_window(struct bench *b, uint64_t end_ns)
{
	uint64_t mask = b->o.lat_every - 1, i = 0;

	for (;; i++) {
		bool timed = (i & mask) == 0;
		bool write = pick_write(b);
		uint64_t lba = pick_lba(b), t0 = 0, t1;

		if (timed)
			t0 = bench_now_ns();
		if (b->t->one(b, write, lba, b->bufs))
			return -1;
		b->ops++;
		if (timed) {
			t1 = bench_now_ns();
			hist_add(&b->hist, t1 - t0);
			if (t1 >= end_ns)
				return 0;
		}
	}
}

struct rep {
	double iops, p50, p99, p999, cpu_proc, cpu_extra, cpu_sys;
};

static int run_rep(struct bench *b, double secs, struct rep *r)
{
	struct cpu_snap c0, c1;
	uint64_t t0, t1;
	double ops;
	int rc;

	memset(&b->hist, 0, sizeof(b->hist));
	b->ops = 0;
	cpu_snap_take(&c0, b->o.pids, b->o.npids);
	t0 = bench_now_ns();
	rc = b->t->window ? b->t->window(b, t0 + (uint64_t)(secs * 1e9))
			  : sync_window(b, t0 + (uint64_t)(secs * 1e9));
	t1 = bench_now_ns();
	cpu_snap_take(&c1, b->o.pids, b->o.npids);
	if (rc || !r)
		return rc;
	ops = b->ops ? (double)b->ops : 1;
	r->iops = (double)b->ops / ((double)(t1 - t0) / 1e9);
	r->p50 = hist_quantile_us(&b->hist, 0.50);
	r->p99 = hist_quantile_us(&b->hist, 0.99);
	r->p999 = hist_quantile_us(&b->hist, 0.999);
	r->cpu_proc = (c1.proc_s - c0.proc_s) * 1e6 / ops;
	r->cpu_extra = (c1.extra_s - c0.extra_s) * 1e6 / ops;
	r->cpu_sys = (c1.sys_busy_s - c0.sys_busy_s) * 1e6 / ops;
	return 0;
}

static const char *rw_name(unsigned read_pct)
{
	return read_pct == 100 ? "randread" : read_pct == 0 ? "randwrite" : "randrw";
}

static void json_escape(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

/* Median over the reps of one field of struct rep, named by its offset. */
static double median_of(const struct rep *reps, int n, size_t off)
{
	double v[MAX_REPS];

	for (int i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&reps[i] + off, sizeof(double));
	return bench_median(v, n);
}

#define MEDIAN_OF(field) median_of(reps, n, offsetof(struct rep, field))

static void report(struct bench *b, const struct rep *reps, int n)
{
	const struct opts *o = &b->o;
	double iops = MEDIAN_OF(iops), p50 = MEDIAN_OF(p50), p99 = MEDIAN_OF(p99);
	double p999 = MEDIAN_OF(p999), proc = MEDIAN_OF(cpu_proc), extra = MEDIAN_OF(cpu_extra);
	double sys = MEDIAN_OF(cpu_sys);
	FILE *f;

	/* label rw qd iops p50 p99 p99.9 cpu-process(+pids) cpu-system */
	printf("%s\t%s\t%u\t%.0f\t%.2f\t%.2f\t%.2f\t%.3f\t%.3f\n", o->label, rw_name(o->read_pct),
	       o->qd, iops, p50, p99, p999, proc + extra, sys);
	fflush(stdout);
	if (!o->json)
		return;
	f = fopen(o->json, "a");
	if (!f) {
		fprintf(stderr, "iobench: %s: %s\n", o->json, strerror(errno));
		return;
	}
	fprintf(f, "{\"label\":");
	json_escape(f, o->label);
	fprintf(f, ",\"target\":\"%s\",\"path\":", b->t->name);
	json_escape(f, o->path ? o->path : "");
	fprintf(f, ",\"rw\":\"%s\",\"read_pct\":%u,\"qd\":%u,\"secs\":%.3f,\"reps\":%d,"
		"\"span_blocks\":%" PRIu64 ",\"virt\":%s,\"intr_thread\":%s,\"lat_every\":%u,"
		"\"iops\":%.0f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
		"\"cpu_proc_us\":%.4f,\"cpu_extra_us\":%.4f,\"cpu_sys_us\":%.4f,\"runs\":[",
		rw_name(o->read_pct), o->read_pct, o->qd, o->secs, n, b->nblocks,
		o->virt ? "true" : "false", o->intr_thread ? "true" : "false", o->lat_every, iops,
		p50, p99, p999, proc, extra, sys);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s{\"iops\":%.0f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
			"\"cpu_proc_us\":%.4f,\"cpu_extra_us\":%.4f,\"cpu_sys_us\":%.4f}",
			i ? "," : "", reps[i].iops, reps[i].p50, reps[i].p99, reps[i].p999,
			reps[i].cpu_proc, reps[i].cpu_extra, reps[i].cpu_sys);
	fprintf(f, "]}\n");
	fclose(f);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: iobench --target T [--path P] [options]\n"
		"Measure 4 KiB random I/O on one target; print the medians over --reps as\n"
		"one TSV line: label rw qd iops p50_us p99_us p99.9_us cpu_us/io cpu_sys_us/io\n"
		"\n"
		"Targets:\n");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		fprintf(f, "  %-13s %s\n", targets[i].name, targets[i].help);
	fprintf(f,
		"\n"
		"  -t, --target T     one of the above\n"
		"  -p, --path P       file, block device, or LUN name (cblk)\n"
		"  -r, --read-pct N   percentage of reads (default 100; 70 = the 70/30 mix)\n"
		"  -q, --qd N         I/Os in flight (default 1; sync targets take only 1)\n"
		"  -s, --secs S       seconds per rep (default 2, fractions allowed)\n"
		"  -w, --warmup S     unmeasured seconds first (default 0.25)\n"
		"  -n, --reps N       measured reps; medians are reported (default 3)\n"
		"  -z, --size BYTES   span (memcpy: region size; default 1 GiB for memcpy,\n"
		"                     else the whole file or LUN)\n"
		"  -l, --label L      name in the output (default: the target)\n"
		"  -j, --json FILE    append one JSON object with every rep to FILE\n"
		"      --buffered     uring: page cache instead of O_DIRECT\n"
		"      --virt         cblk: a virtual LUN as large as the LUN allows\n"
		"      --intr-thread  cblk: completion thread (default: CBLK_OPN_NO_INTRP_THREADS,\n"
		"                     the caller polls)\n"
		"      --prefill      cblk: write every block before measuring (ram LUNs)\n"
		"      --plain-bufs   cblk: buffers in plain memory (default: cblk_dma_alloc,\n"
		"                     which cxlflashd reaches with no staging copy)\n"
		"      --lat-every N  sync targets: time one op in N, a power of 2 (default 1)\n"
		"      --cpu-pid PID  add this process's CPU time to ours (a daemon); repeatable\n"
		"  -h, --help         this help\n"
		"\n"
		"CPU per I/O is reported two ways: this process (all its threads) plus any\n"
		"--cpu-pid, and the busy time of the whole machine from /proc/stat (which also\n"
		"counts kernel threads such as the loop device's workers).\n"
		"Exit status: 0, 1 on an I/O or setup error, 2 on bad usage.\n");
}

/* A number in [min, max], nothing after it. */
static bool parse_num(const char *s, double min, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return !errno && end != s && !*end && *out >= min && *out <= max;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_BUFFERED = 256, O_VIRT, O_INTR, O_PREFILL, O_LATEVERY, O_PID, O_PLAIN };
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 't' },
		{ "path", required_argument, NULL, 'p' },
		{ "read-pct", required_argument, NULL, 'r' },
		{ "qd", required_argument, NULL, 'q' },
		{ "secs", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "reps", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'z' },
		{ "label", required_argument, NULL, 'l' },
		{ "json", required_argument, NULL, 'j' },
		{ "buffered", no_argument, NULL, O_BUFFERED },
		{ "virt", no_argument, NULL, O_VIRT },
		{ "intr-thread", no_argument, NULL, O_INTR },
		{ "prefill", no_argument, NULL, O_PREFILL },
		{ "plain-bufs", no_argument, NULL, O_PLAIN },
		{ "lat-every", required_argument, NULL, O_LATEVERY },
		{ "cpu-pid", required_argument, NULL, O_PID },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double v = 0;
	bool ok;
	int c;

	*o = (struct opts){ .read_pct = 100, .qd = 1, .secs = 2, .warmup = 0.25, .reps = 3,
			    .lat_every = 1 };
	while ((c = getopt_long(argc, argv, "t:p:r:q:s:w:n:z:l:j:h", lo, NULL)) != -1) {
		ok = true;
		switch (c) {
		case 't':
			o->target = optarg;
			break;
		case 'p':
			o->path = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'r':
			ok = parse_num(optarg, 0, 100, &v);
			o->read_pct = (unsigned)v;
			break;
		case 'q':
			ok = parse_num(optarg, 1, MAX_QD, &v);
			o->qd = (unsigned)v;
			break;
		case 's':
			ok = parse_num(optarg, 0.001, 86400, &o->secs);
			break;
		case 'w':
			ok = parse_num(optarg, 0, 3600, &o->warmup);
			break;
		case 'n':
			ok = parse_num(optarg, 1, MAX_REPS, &v);
			o->reps = (int)v;
			break;
		case 'z':
			ok = parse_num(optarg, BS, 1e15, &v);
			o->size = (uint64_t)v;
			break;
		case O_BUFFERED:
			o->buffered = true;
			break;
		case O_VIRT:
			o->virt = true;
			break;
		case O_INTR:
			o->intr_thread = true;
			break;
		case O_PREFILL:
			o->prefill = true;
			break;
		case O_PLAIN:
			o->plain_bufs = true;
			break;
		case O_LATEVERY:
			ok = parse_num(optarg, 1, 1 << 20, &v);
			o->lat_every = (unsigned)v;
			ok = ok && !(o->lat_every & (o->lat_every - 1));
			break;
		case O_PID:
			ok = o->npids < MAX_PIDS && parse_num(optarg, 1, 1 << 30, &v);
			if (ok)
				o->pids[o->npids++] = (int)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "iobench: try --help\n");
			return -1;
		}
		if (!ok) {
			fprintf(stderr, "iobench: bad value '%s'\n", optarg);
			return -1;
		}
	}
	if (optind < argc || !o->target) {
		fprintf(stderr, "iobench: %s (try --help)\n",
			optind < argc ? "unexpected argument" : "--target is required");
		return -1;
	}
	if (!o->label)
		o->label = o->target;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b;
	struct rep reps[MAX_REPS];
	int rc = 1;

	memset(&b, 0, sizeof(b));
	b.fd = -1;
	b.id = NULL_CHUNK_ID;
	if (parse_args(argc, argv, &b.o) < 0)
		return 2;
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		if (!strcmp(targets[i].name, b.o.target))
			b.t = &targets[i];
	if (!b.t) {
		fprintf(stderr, "iobench: unknown target '%s' (try --help)\n", b.o.target);
		return 2;
	}
	if (!b.t->window && b.o.qd != 1) {
		fprintf(stderr, "iobench: %s is synchronous: QD 1 only\n", b.t->name);
		return 2;
	}
	b.rng = bench_now_ns() | 1;
	if (!b.t->window && slots_init(&b))
		goto out;
	if (b.t->open(&b))
		goto out;
	if (!b.nblocks) {
		fprintf(stderr, "iobench: %s: empty\n", b.o.path ? b.o.path : b.t->name);
		goto out;
	}
	if (b.o.warmup > 0 && run_rep(&b, b.o.warmup, NULL))
		goto out;
	for (int i = 0; i < b.o.reps; i++)
		if (run_rep(&b, b.o.secs, &reps[i]))
			goto out;
	report(&b, reps, b.o.reps);
	rc = 0;
out:
	if (b.dma_bufs)
		cblk_dma_free(b.bufs, 0);   /* before the close: the library is still up */
	else
		free(b.bufs);
	b.t->close(&b);
	free(b.start_ns);
	free(b.free_slots);
	free(b.tag_slot);
	return rc;
}
