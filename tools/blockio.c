/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blockio.c - an asynchronous I/O driver for libcflsh_block, with the
 * options and output keys of IBM's blockio: it keeps -q commands in flight
 * with cblk_aread/cblk_awrite (or cblk_aunmap) for -s seconds, harvests
 * them with cblk_aresult(CBLK_ARESULT_NEXT_TAG), and prints one line:
 *
 *   r:100 q:128 s:4 p:0 n:1 i:0 v:0 eto:1000000 miss:0 lat:NN mbps:NN iops:NN
 *
 * Several devices (-d a:b:...) are driven as one RAID0 chunk group through
 * the cblk_cg_* calls. Any I/O error is printed and makes the exit status
 * non-zero: nothing fails silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <capiblock.h>

#include "tool_util.h"

#define BLOCK_SIZE      4096u
#define BLOCKS_PER_GB   262144ull       /* 1 GiB of 4 KiB blocks */
#define MAX_QD          8192
#define MAX_DEVS        8
#define DISTURBED_PCT   10              /* % of runnable time waiting for a CPU: disturbed */
#define MAX_LTO_LINES   20              /* -v prints this many LTO lines, then a count */
#define BUF_POOL_BYTES  (64u << 20)     /* private buffers per slot up to this much */

enum op_kind { OP_READ, OP_WRITE, OP_UNMAP };

/* One command slot; the queue depth is the number of slots. */
struct slot {
	bool busy;
	enum op_kind kind;
	uint64_t lba;
	uint64_t start_ns;
	chunk_id_t mid;                 /* member chunk (RAID0 group), or the chunk */
	int tag;
	unsigned next_free;
};

struct opts {
	const char *dev;
	unsigned rd_pct;
	unsigned qd;
	unsigned nblocks;
	unsigned secs;
	uint64_t eto_us;
	uint64_t lto_us;
	unsigned vlun_gb;
	bool physical;
	bool intr_thread;
	bool sequential;
	bool unmap;
	bool verbose;
	bool debug;
	bool plain_bufs;                /* -M */
};

/* The run: what was opened, the slots and the counters. */
struct run {
	struct opts o;
	bool group;                     /* RAID0 chunk group: cblk_cg_* calls */
	int id;
	size_t size;                    /* blocks usable */
	struct slot *slots;
	unsigned free_head;
	unsigned inflight;
	int *tag_slot;                  /* [member index * qd + tag] -> slot + 1 */
	chunk_id_t members[MAX_DEVS];   /* member chunk ids seen in tags */
	int nmembers;
	uint8_t **bufs;
	unsigned nbufs;
	uint8_t *dma_pool;              /* the buffers, from cblk_dma_alloc; NULL: aligned_alloc */
	uint8_t *zero_block;
	uint64_t next_lba;
	unsigned rd_left, wr_left;      /* reads and writes left in this round of 100 */
	uint64_t ops, rd_ops, wr_ops, miss, errors;
	uint64_t lat_ns, rd_lat_ns, wr_lat_ns;
	int cpuwait_pct;                /* of runnable time spent waiting for a CPU; -1 unknown */
	uint64_t lto_seen;              /* commands slower than -l (-v) */
};


static void usage(FILE *f)
{
	fprintf(f,
		"Usage: blockio -d DEV[:DEV...] [-r %%rd] [-q depth] [-n nblocks] [-s secs]\n"
		"               [-e eto] [-l lto] [-S vlun_gb] [-p] [-i] [-R0] [-U] [-M] [-v] [-D]\n"
		"Drive asynchronous I/O (cblk_aread/cblk_awrite/cblk_aresult) at a LUN\n"
		"and print one line of results.\n"
		"\n"
		"  -d DEV[:DEV...]  LUN(s): ram:SIZE, null:SIZE, file:PATH?size=SIZE or a path;\n"
		"                   up to %d, several are striped as one RAID0 chunk group\n"
		"  -r %%rd           percentage of reads, the rest writes (default 100)\n"
		"  -q depth         commands kept in flight (default 128, at most %d)\n"
		"  -n nblocks       4 KiB blocks per command (default 1; more needs -p and\n"
		"                   one device)\n"
		"  -s secs          seconds to run (default 4)\n"
		"  -e eto           early timeout in us: commands slower than this count as\n"
		"                   miss (default 1000000)\n"
		"  -l lto           long timeout in us: with -v, print the first %d commands\n"
		"                   slower than this, and how many more (default 10000)\n"
		"  -S vlun_gb       virtual LUN size in GiB of 262144 blocks (default 1,\n"
		"                   at most the LUN)\n"
		"  -p               use the physical LUN (default: a virtual LUN)\n"
		"  -i               complete through the library's background thread\n"
		"                   (default: CBLK_OPN_NO_INTRP_THREADS, cblk_aresult polls)\n"
		"  -R0              sequential LBAs (default random, -R1)\n"
		"  -U               100%% unmap (cblk_aunmap) instead of reads and writes\n"
		"  -M               buffers in plain memory (default: cblk_dma_alloc's DMA\n"
		"                   buffer area, which cxlflashd reaches with no copy)\n"
		"  -v               verbose: print slow commands, add rd/wr counts and latencies\n"
		"  -D               debug: print every command on stderr\n"
		"  -h, --help       this help\n"
		"\n"
		"Output keys: r q s p n i v eto (the options), miss (commands slower than eto),\n"
		"lat (average latency, us), mbps (MiB/s), iops (commands/s), 4k-iops (blocks/s,\n"
		"when n > 1); with -v also rd wr (commands) rlat wlat (us) and cpuwait (%% of\n"
		"the time its threads were ready to run that they waited for a CPU). From\n"
		"cpuwait %d%% on, a warning on stderr says the run was disturbed.\n"
		"A run of reads only (-r 100) opens the LUN read-only.\n"
		"Exit status: 0; 1 when the LUN cannot be opened or on any I/O error\n"
		"(printed); 2 on bad usage: a bad option or value, or options the LUN\n"
		"cannot honour (-n above its transfer limit or size, -U without unmap).\n",
		MAX_DEVS, MAX_QD, MAX_LTO_LINES, DISTURBED_PCT);
}

/* Count the devices of a -d list, our "ram:1G"-style names included. */
static int count_devs(const char *dev)
{
	int n = 0;

	for (const char *p = dev; p;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		if (colon && ((len == 3 && !strncmp(p, "ram", 3)) ||
			      (len == 4 && !strncmp(p, "null", 4)) ||
			      (len == 4 && !strncmp(p, "file", 4)) ||
			      (len == 3 && !strncmp(p, "rbd", 3))))
			colon = strchr(colon + 1, ':');
		n++;
		p = colon ? colon + 1 : NULL;
	}
	return n;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v = 0;
	int c;

	*o = (struct opts){ .rd_pct = 100, .qd = 128, .nblocks = 1, .secs = 4,
			    .eto_us = 1000000, .lto_us = 10000, .vlun_gb = 1 };
	while ((c = getopt_long(argc, argv, "d:r:q:n:s:e:l:S:piR:UMvDh", longopts, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'd':
			o->dev = optarg;
			break;
		case 'r':
			ok = tool_opt_uint("blockio", c, optarg, 0, 100, &v);
			o->rd_pct = (unsigned)v;
			break;
		case 'q':
			ok = tool_opt_uint("blockio", c, optarg, 1, MAX_QD, &v);
			o->qd = (unsigned)v;
			break;
		case 'n':
			ok = tool_opt_uint("blockio", c, optarg, 1, 65536, &v);
			o->nblocks = (unsigned)v;
			break;
		case 's':
			ok = tool_opt_uint("blockio", c, optarg, 0, 86400, &v);
			o->secs = (unsigned)v;
			break;
		case 'e':
			ok = tool_opt_uint("blockio", c, optarg, 1, UINT32_MAX, &o->eto_us);
			break;
		case 'l':
			ok = tool_opt_uint("blockio", c, optarg, 1, UINT32_MAX, &o->lto_us);
			break;
		case 'S':
			ok = tool_opt_uint("blockio", c, optarg, 1, 1u << 20, &v);
			o->vlun_gb = (unsigned)v;
			break;
		case 'R':
			ok = tool_opt_uint("blockio", c, optarg, 0, 1, &v);
			o->sequential = v == 0;
			break;
		case 'p':
			o->physical = true;
			break;
		case 'i':
			o->intr_thread = true;
			break;
		case 'U':
			o->unmap = true;
			break;
		case 'M':
			o->plain_bufs = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'D':
			o->debug = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "blockio: try --help\n");
			return -1;
		}
		if (!ok)
			return -1;   /* said why */
	}
	if (tool_check_args("blockio", argc, argv, optind, o->dev))
		return -1;
	if (o->unmap)
		o->rd_pct = 0;
	if (count_devs(o->dev) > MAX_DEVS) {
		fprintf(stderr, "blockio: at most %d devices\n", MAX_DEVS);
		return -1;
	}
	if (o->nblocks > 1 && (!o->physical || count_devs(o->dev) > 1)) {
		fprintf(stderr, "blockio: -n > 1 needs -p and a single device\n");
		return -1;
	}
	return 0;
}

static int dev_open(struct run *r)
{
	struct opts *o = &r->o;
	int ndevs = count_devs(o->dev);
	int flags = (o->physical ? 0 : CBLK_OPN_VIRT_LUN) |
		    (o->intr_thread ? 0 : CBLK_OPN_NO_INTRP_THREADS);
	/* a read-only run opens read-only: it works on a LUN it may not write */
	int mode = o->rd_pct == 100 ? O_RDONLY : O_RDWR;
	size_t lun_size = 0, want;
	chunk_attrs_t attrs;
	int rc, usage_rc = -1;

	r->group = ndevs > 1;
	if (r->group)
		r->id = cblk_cg_open(o->dev, (int)o->qd, mode, 1, 0, flags | CBLK_GROUP_RAID0);
	else
		r->id = cblk_open(o->dev, (int)o->qd, mode, 0, flags);
	if (r->id == NULL_CHUNK_ID) {
		fprintf(stderr, "blockio: cannot open %s: %s\n", o->dev, strerror(errno));
		if (errno == ENOMEM && !o->physical)
			fprintf(stderr, "blockio: a virtual LUN needs at least one free 256 MiB "
				"chunk; -p uses the LUN physically, whatever its size\n");
		return -1;
	}
	rc = r->group ? cblk_cg_get_lun_size(r->id, &lun_size, CBLK_GROUP_RAID0)
		      : cblk_get_lun_size(r->id, &lun_size, 0);
	if (rc < 0)
		goto fail;
	if (!o->physical) {
		want = (size_t)o->vlun_gb * BLOCKS_PER_GB;
		if (want > lun_size)
			want = lun_size;
		rc = r->group ? cblk_cg_set_size(r->id, want, CBLK_GROUP_RAID0)
			      : cblk_set_size(r->id, want, 0);
		if (rc < 0 && errno == ENOMEM) {
			fprintf(stderr, "blockio: %s: no room for a virtual LUN of %zu blocks "
				"(the LUN's 256 MiB chunks are taken): use a smaller -S, or -p\n",
				o->dev, want);
			errno = 0;
			goto fail;
		}
		if (rc < 0)
			goto fail;
	}
	rc = r->group ? cblk_cg_get_size(r->id, &r->size, CBLK_GROUP_RAID0)
		      : cblk_get_size(r->id, &r->size, 0);
	if (rc < 0)
		goto fail;
	memset(&attrs, 0, sizeof(attrs));
	rc = r->group ? cblk_cg_get_attrs(r->id, &attrs, CBLK_GROUP_RAID0)
		      : cblk_get_attrs(r->id, &attrs, 0);
	if (rc < 0)
		goto fail;
	if (o->nblocks > attrs.max_transfer_size) {
		fprintf(stderr, "blockio: -n %u exceeds the LUN's max transfer of %" PRIu64
			" blocks\n", o->nblocks, (uint64_t)attrs.max_transfer_size);
		errno = 0;
		usage_rc = -2;
		goto fail;
	}
	if (o->unmap && !(attrs.flags1 & CFLSH_ATTR_UNMAP)) {
		fprintf(stderr, "blockio: %s does not support unmap\n", o->dev);
		errno = 0;
		usage_rc = -2;
		goto fail;
	}
	if (r->size < o->nblocks) {
		fprintf(stderr, "blockio: %s has %zu blocks, fewer than -n %u\n", o->dev, r->size,
			o->nblocks);
		errno = 0;
		usage_rc = -2;
		goto fail;
	}
	return 0;
fail:
	if (errno)
		fprintf(stderr, "blockio: %s: %s\n", o->dev, strerror(errno));
	if (r->group)
		cblk_cg_close(r->id, CBLK_GROUP_RAID0);
	else
		cblk_close(r->id, 0);
	return usage_rc;
}

static int setup_buffers(struct run *r)
{
	size_t bytes = (size_t)r->o.nblocks * BLOCK_SIZE;

	r->slots = calloc(r->o.qd, sizeof(*r->slots));
	r->tag_slot = calloc((size_t)r->o.qd * MAX_DEVS, sizeof(*r->tag_slot));
	r->nbufs = r->o.qd;
	if ((size_t)r->nbufs * bytes > BUF_POOL_BYTES) /* share buffers: data is not checked */
		r->nbufs = bytes > BUF_POOL_BYTES ? 1 : (unsigned)(BUF_POOL_BYTES / bytes);
	r->bufs = calloc(r->nbufs, sizeof(*r->bufs));
	r->zero_block = aligned_alloc(BLOCK_SIZE, BLOCK_SIZE);
	if (!r->slots || !r->tag_slot || !r->bufs || !r->zero_block)
		return -1;
	memset(r->zero_block, 0, BLOCK_SIZE);
	/* In the DMA buffer area, so that through cxlflashd the AFU moves the
	 * data at them with no staging copy (-M: plain memory, to compare). */
	if (!r->o.plain_bufs) {
		r->dma_pool = cblk_dma_alloc(r->id, (size_t)r->nbufs * bytes,
					     r->group ? CBLK_GROUP_RAID0 : 0);
		if (!r->dma_pool)
			fprintf(stderr, "blockio: no DMA buffers (cblk_dma_alloc: %s): "
				"plain memory, staged through a daemon\n", strerror(errno));
	}
	for (unsigned i = 0; i < r->nbufs; i++) {
		r->bufs[i] = r->dma_pool ? r->dma_pool + (size_t)i * bytes
					 : aligned_alloc(BLOCK_SIZE, bytes);
		if (!r->bufs[i])
			return -1;
		for (size_t b = 0; b < bytes; b += 8)
			memcpy(r->bufs[i] + b, &(uint64_t){ 0x626c6f636b696f00ull | i }, 8);
	}
	for (unsigned i = 0; i < r->o.qd; i++)
		r->slots[i].next_free = i + 1;
	r->free_head = 0;
	return 0;
}

static void free_buffers(struct run *r)
{
	if (r->dma_pool)
		cblk_dma_free(r->dma_pool, 0);
	else
		for (unsigned i = 0; r->bufs && i < r->nbufs; i++)
			free(r->bufs[i]);
	free(r->bufs);
	free(r->slots);
	free(r->tag_slot);
	free(r->zero_block);
}

/* Where a (member chunk, tag) pair is remembered, or -1 if it cannot be. */
static long tag_index(struct run *r, chunk_id_t mid, int tag)
{
	int m;

	if (tag < 0 || (unsigned)tag >= r->o.qd)
		return -1;
	for (m = 0; m < r->nmembers; m++)
		if (r->members[m] == mid)
			break;
	if (m == r->nmembers) {
		if (m == MAX_DEVS)
			return -1;
		r->members[r->nmembers++] = mid;
	}
	return (long)m * r->o.qd + tag;
}

/* The slot of a completed (member chunk, tag); -1 if unknown. */
static int find_slot(struct run *r, chunk_id_t mid, int tag)
{
	long ix = tag_index(r, mid, tag);

	if (ix >= 0 && r->tag_slot[ix]) {
		int s = r->tag_slot[ix] - 1;

		r->tag_slot[ix] = 0;
		return s;
	}
	for (unsigned s = 0; s < r->o.qd; s++) /* tags outside 0..qd-1 */
		if (r->slots[s].busy && r->slots[s].mid == mid && r->slots[s].tag == tag)
			return (int)s;
	return -1;
}

static const char *kind_name(enum op_kind k)
{
	return k == OP_READ ? "read" : k == OP_WRITE ? "write" : "unmap";
}

/* Account for a command that ended with @rc (blocks, or -1 with errno). */
static void finish(struct run *r, int s, int rc, uint64_t end_ns)
{
	struct slot *sl = &r->slots[s];
	uint64_t lat = end_ns - sl->start_ns;

	if (rc < 0 || rc != (int)r->o.nblocks) {
		fprintf(stderr, "blockio: %s of lba %" PRIu64 " failed: %s\n", kind_name(sl->kind),
			sl->lba, rc < 0 ? strerror(errno) : "short transfer");
		r->errors++;
	} else {
		r->ops++;
		r->lat_ns += lat;
		if (sl->kind == OP_READ) {
			r->rd_ops++;
			r->rd_lat_ns += lat;
		} else {
			r->wr_ops++;
			r->wr_lat_ns += lat;
		}
		if (lat / 1000 > r->o.eto_us)
			r->miss++;
		if (r->o.verbose && lat / 1000 > r->o.lto_us && ++r->lto_seen <= MAX_LTO_LINES)
			printf("LTO: %s lba:%" PRIu64 " lat:%" PRIu64 "\n", kind_name(sl->kind),
			       sl->lba, lat / 1000);
	}
	if (r->o.debug)
		fprintf(stderr, "done  slot:%d %s lba:%" PRIu64 " rc:%d lat:%" PRIu64 "us\n", s,
			kind_name(sl->kind), sl->lba, rc, lat / 1000);
	sl->busy = false;
	sl->next_free = r->free_head;
	r->free_head = (unsigned)s;
	r->inflight--;
}

static uint64_t pick_lba(struct run *r)
{
	uint64_t span = r->size - r->o.nblocks + 1, lba;

	if (!r->o.sequential)
		return (uint64_t)lrand48() % span;
	lba = r->next_lba;
	r->next_lba += r->o.nblocks;
	if (r->next_lba >= span)
		r->next_lba = 0;
	return lba;
}

/**
 * issue_one() - start one command in a free slot.
 * @r: the run.
 *
 * Return: 1 issued, 0 no free command right now (try after harvesting),
 * -1 an error (printed).
 */
static int issue_one(struct run *r)
{
	unsigned s = r->free_head;
	struct slot *sl = &r->slots[s];
	enum op_kind kind;
	uint8_t *buf = r->bufs[s % r->nbufs];
	int rc, tag = 0;
	long ix;

	if (!r->rd_left && !r->wr_left) {
		r->rd_left = r->o.rd_pct;
		r->wr_left = 100 - r->o.rd_pct;
	}
	kind = r->rd_left ? OP_READ : r->o.unmap ? OP_UNMAP : OP_WRITE;
	if (kind == OP_UNMAP)
		buf = r->zero_block;
	sl->lba = pick_lba(r);
	sl->kind = kind;
	sl->start_ns = tool_now_ns();
	if (r->group) {
		cflsh_cg_tag_t t = { NULL_CHUNK_ID, -1 };

		if (kind == OP_READ)
			rc = cblk_cg_aread(r->id, buf, (cflash_offset_t)sl->lba, r->o.nblocks, &t,
					   NULL, CBLK_GROUP_RAID0);
		else if (kind == OP_WRITE)
			rc = cblk_cg_awrite(r->id, buf, (cflash_offset_t)sl->lba, r->o.nblocks, &t,
					    NULL, CBLK_GROUP_RAID0);
		else
			rc = cblk_cg_aunmap(r->id, buf, (cflash_offset_t)sl->lba, r->o.nblocks, &t,
					    NULL, CBLK_GROUP_RAID0);
		sl->mid = t.id;
		tag = t.tag;
	} else {
		if (kind == OP_READ)
			rc = cblk_aread(r->id, buf, (cflash_offset_t)sl->lba, r->o.nblocks, &tag,
					NULL, 0);
		else if (kind == OP_WRITE)
			rc = cblk_awrite(r->id, buf, (cflash_offset_t)sl->lba, r->o.nblocks, &tag,
					 NULL, 0);
		else
			rc = cblk_aunmap(r->id, buf, (cflash_offset_t)sl->lba, r->o.nblocks, &tag,
					 NULL, 0);
		sl->mid = r->id;
	}
	if (rc < 0 && (errno == EWOULDBLOCK || errno == EAGAIN || errno == EBUSY))
		return 0;
	if (rc < 0) {
		fprintf(stderr, "blockio: issuing %s of lba %" PRIu64 " failed: %s\n",
			kind_name(kind), sl->lba, strerror(errno));
		r->errors++;
		return -1;
	}
	if (kind == OP_READ)
		r->rd_left--;
	else
		r->wr_left--;
	r->free_head = sl->next_free;
	sl->busy = true;
	sl->tag = tag;
	r->inflight++;
	if (r->o.debug)
		fprintf(stderr, "issue slot:%u %s lba:%" PRIu64 " tag:%d.%d\n", s, kind_name(kind),
			sl->lba, sl->mid, tag);
	if (rc > 0) { /* complete already */
		finish(r, (int)s, rc, tool_now_ns());
		return 1;
	}
	ix = tag_index(r, sl->mid, tag);
	if (ix >= 0)
		r->tag_slot[ix] = (int)s + 1;
	return 1;
}

/**
 * harvest() - collect completed commands.
 * @r: the run.
 * @block: wait for at least one.
 *
 * Return: commands collected, or -1 on an error the library reported
 * about the harvesting itself (printed).
 */
static int harvest(struct run *r, bool block)
{
	int got = 0;

	while (r->inflight) {
		int flags = CBLK_ARESULT_NEXT_TAG | (block && !got ? CBLK_ARESULT_BLOCKING : 0);
		uint64_t status = 0;
		chunk_id_t mid;
		int rc, tag = -1, s;

		if (r->group) {
			cflsh_cg_tag_t t = { NULL_CHUNK_ID, -1 };

			rc = cblk_cg_aresult(r->id, &t, &status, flags | CBLK_GROUP_RAID0);
			mid = t.id;
			tag = t.tag;
		} else {
			rc = cblk_aresult(r->id, &tag, &status, flags);
			mid = r->id;
		}
		if (rc == 0)
			break;
		if (rc < 0 && errno == ENOENT) {
			fprintf(stderr, "blockio: %u commands in flight but the library has none\n",
				r->inflight);
			r->errors++;
			return -1;
		}
		s = find_slot(r, mid, tag);
		if (s < 0) {
			fprintf(stderr, "blockio: completion of unknown tag %d.%d (rc %d: %s)\n",
				mid, tag, rc, rc < 0 ? strerror(errno) : "ok");
			r->errors++;
			return -1;
		}
		finish(r, s, rc, tool_now_ns());
		got++;
	}
	return got;
}

/**
 * run_io() - the I/O loop: keep the queue full until time is up, then
 * drain it.
 * @r: the run.
 *
 * Return: elapsed nanoseconds.
 */
static uint64_t run_io(struct run *r)
{
	uint64_t start = tool_now_ns(), end = start + (uint64_t)r->o.secs * 1000000000ull, t;
	bool stop = false;

	srand48((long)start);
	for (;;) {
		bool full = false;

		if (!stop && (tool_now_ns() >= end || r->errors))
			stop = true;
		while (!stop && r->inflight < r->o.qd) {
			int rc = issue_one(r);

			if (rc < 0)
				stop = true;
			if (rc <= 0) {
				full = rc == 0;
				break;
			}
		}
		if (r->inflight == 0) {
			if (stop)
				break;
			continue;
		}
		if (r->inflight == r->o.qd)
			full = true;
		int got = harvest(r, false);

		if (got < 0)
			break;
		if (got == 0 && (full || stop) && harvest(r, true) < 0)
			break;
	}
	t = tool_now_ns();
	return t - start;
}

static void report(struct run *r, uint64_t elapsed_ns)
{
	double secs = (double)elapsed_ns / 1e9;
	uint64_t blocks = r->ops * r->o.nblocks;

	if (secs <= 0)
		secs = 1e-9;
	printf("r:%u q:%u s:%u p:%d n:%u i:%d v:%d eto:%" PRIu64 " miss:%" PRIu64
	       " lat:%" PRIu64 " mbps:%" PRIu64 " iops:%" PRIu64,
	       r->o.rd_pct, r->o.qd, r->o.secs, r->o.physical, r->o.nblocks, r->o.intr_thread,
	       r->o.verbose, r->o.eto_us, r->miss, r->ops ? r->lat_ns / r->ops / 1000 : 0,
	       (uint64_t)((double)blocks * BLOCK_SIZE / (1 << 20) / secs),
	       (uint64_t)((double)r->ops / secs));
	if (r->o.nblocks > 1)
		printf(" 4k-iops:%" PRIu64, (uint64_t)((double)blocks / secs));
	if (r->o.verbose)
		printf(" rd:%" PRIu64 " wr:%" PRIu64 " rlat:%" PRIu64 " wlat:%" PRIu64, r->rd_ops,
		       r->wr_ops, r->rd_ops ? r->rd_lat_ns / r->rd_ops / 1000 : 0,
		       r->wr_ops ? r->wr_lat_ns / r->wr_ops / 1000 : 0);
	if (r->o.verbose && r->cpuwait_pct >= 0)
		printf(" cpuwait:%d", r->cpuwait_pct);
	printf("\n");
	fflush(stdout);
	if (r->lto_seen > MAX_LTO_LINES)
		fprintf(stderr, "blockio: %" PRIu64 " more commands slower than -l %" PRIu64
			" us not shown\n", r->lto_seen - MAX_LTO_LINES, r->o.lto_us);
	if (r->cpuwait_pct >= DISTURBED_PCT)
		fprintf(stderr, "blockio: warning: a disturbed run: its threads waited for a CPU "
			"%d%% of the time they were ready to run (another busy process on these "
			"CPUs?); iops and lat above understate the LUN\n", r->cpuwait_pct);
}

int main(int argc, char **argv)
{
	struct run r;
	uint64_t elapsed;
	int rc;

	memset(&r, 0, sizeof(r));
	if (parse_args(argc, argv, &r.o) < 0)
		return 2;
	if (cblk_init(NULL, 0) < 0) {
		fprintf(stderr, "blockio: cblk_init: %s\n", strerror(errno));
		return 1;
	}
	rc = dev_open(&r);
	if (rc < 0)
		return rc == -2 ? 2 : 1;
	if (setup_buffers(&r) < 0) {
		fprintf(stderr, "blockio: out of memory\n");
		rc = 1;
		goto out;
	}
	{
		uint64_t run0, wait0, run1, wait1;
		bool known = tool_sched_times(&run0, &wait0);

		elapsed = run_io(&r);
		r.cpuwait_pct = -1;
		if (known && tool_sched_times(&run1, &wait1) && run1 + wait1 > run0 + wait0)
			r.cpuwait_pct = (int)((wait1 - wait0) * 100 /
					      (run1 - run0 + wait1 - wait0));
	}
	if (r.inflight) {
		fprintf(stderr, "blockio: %u commands still in flight\n", r.inflight);
		r.errors++;
	}
	report(&r, elapsed);
	rc = r.errors ? 1 : 0;
out:
	if ((r.group ? cblk_cg_close(r.id, CBLK_GROUP_RAID0) : cblk_close(r.id, 0)) < 0) {
		fprintf(stderr, "blockio: close: %s\n", strerror(errno));
		rc = 1;
	}
	free_buffers(&r);
	cblk_term(NULL, 0);
	return rc;
}
