/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blocklistio.c - a cblk_listio() driver for libcflsh_block, with the
 * options of IBM's blocklistio: -l lists of -c one-block reads each are
 * kept in flight for -s seconds. A list is issued with one cblk_listio()
 * call; its completion is found by polling the list's pending items (again
 * with cblk_listio), or, when nothing has completed, by waiting for the
 * oldest list with a wait list. With -i the library's completion thread
 * writes each item's status (CBLK_IO_USER_STATUS), so the tool looks at the
 * statuses instead of polling, and waits with a wait list as above. It
 * prints one line:
 *
 *   l:40 c:10 p:0 s:5 i:0 err:0 pollN:NN lat:NN mbps:NN iops:NN
 *
 * Any failed item is printed and makes the exit status non-zero.
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

#include <capiblock.h>

#include "tool_util.h"

#define BLOCK_SIZE      4096u
#define MAX_CMDS        8192            /* lists * commands, the queue depth */
#define VLUN_BLOCKS     262144ull       /* virtual LUN size: 1 GiB, at most the LUN */
#define WAIT_TIMEOUT_US 10000000ull     /* a list not done in 10 s is an error */

struct opts {
	const char *dev;
	unsigned lists;
	unsigned cmds;
	unsigned secs;
	bool physical;
	bool intr_thread;
};

/* One list of requests and its state. */
struct list {
	cblk_io_t *io;                  /* cmds items */
	cblk_io_t **ptrs;               /* pointers to them, for cblk_listio */
	cblk_io_t **pend;               /* scratch: the items still pending */
	uint8_t *bufs;                  /* cmds blocks */
	bool busy;
	uint64_t start_ns;
};

struct run {
	struct opts o;
	chunk_id_t id;
	size_t size;
	struct list *lists;
	cblk_io_t *comp;                /* cmds items: cblk_listio's completion list, */
	cblk_io_t **comp_ptrs;          /* which wants a slot per issued or polled item */
	unsigned busy;
	uint64_t cmds_done, lists_done, lat_ns, errors, polls;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: blocklistio -d DEV [-l lists] [-c cmds] [-s secs] [-p] [-i]\n"
		"Keep lists of one-block reads in flight with cblk_listio() and print one\n"
		"line of results.\n"
		"\n"
		"  -d DEV     LUN: ram:SIZE, null:SIZE, file:PATH?size=SIZE or a path\n"
		"  -l lists   lists in flight (default 40)\n"
		"  -c cmds    reads per list (default 10); lists * cmds <= %d\n"
		"  -s secs    seconds to run (default 5)\n"
		"  -p         use the physical LUN (default: a 1 GiB virtual LUN, at most\n"
		"             the LUN)\n"
		"  -i         the library's completion thread writes each item's status\n"
		"             (CBLK_IO_USER_STATUS); default: CBLK_OPN_NO_INTRP_THREADS and\n"
		"             the lists are polled through cblk_listio's pending list\n"
		"  -h, --help this help\n"
		"\n"
		"Output keys: l c p s i (the options), err (failed requests), pollN (passes\n"
		"that found no list complete, after which the oldest list is waited for),\n"
		"lat (average time from issuing a list to its last completion, us),\n"
		"mbps (MiB/s), iops (requests/s).\n"
		"Exit status: 0, 1 on any I/O error (printed), 2 on bad usage.\n",
		MAX_CMDS);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v = 0;
	int c;

	*o = (struct opts){ .lists = 40, .cmds = 10, .secs = 5 };
	while ((c = getopt_long(argc, argv, "d:l:c:s:pih", longopts, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'd':
			o->dev = optarg;
			break;
		case 'l':
			ok = tool_opt_uint("blocklistio", c, optarg, 1, MAX_CMDS, &v);
			o->lists = (unsigned)v;
			break;
		case 'c':
			ok = tool_opt_uint("blocklistio", c, optarg, 1, MAX_CMDS, &v);
			o->cmds = (unsigned)v;
			break;
		case 's':
			ok = tool_opt_uint("blocklistio", c, optarg, 0, 86400, &v);
			o->secs = (unsigned)v;
			break;
		case 'p':
			o->physical = true;
			break;
		case 'i':
			o->intr_thread = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "blocklistio: try --help\n");
			return -1;
		}
		if (!ok)
			return -1;   /* said why */
	}
	if (tool_check_args("blocklistio", argc, argv, optind, o->dev))
		return -1;
	if ((uint64_t)o->lists * o->cmds > MAX_CMDS) {
		fprintf(stderr, "blocklistio: -l %u * -c %u is more than %d commands\n", o->lists,
			o->cmds, MAX_CMDS);
		return -1;
	}
	return 0;
}

static int dev_open(struct run *r)
{
	int flags = (r->o.physical ? 0 : CBLK_OPN_VIRT_LUN) |
		    (r->o.intr_thread ? 0 : CBLK_OPN_NO_INTRP_THREADS);
	size_t lun_size;

	r->id = cblk_open(r->o.dev, (int)(r->o.lists * r->o.cmds), O_RDWR, 0, flags);
	if (r->id == NULL_CHUNK_ID) {
		fprintf(stderr, "blocklistio: cannot open %s: %s\n", r->o.dev, strerror(errno));
		return -1;
	}
	if (cblk_get_lun_size(r->id, &lun_size, 0) < 0)
		goto fail;
	if (!r->o.physical &&
	    cblk_set_size(r->id, lun_size < VLUN_BLOCKS ? lun_size : VLUN_BLOCKS, 0) < 0)
		goto fail;
	if (cblk_get_size(r->id, &r->size, 0) < 0)
		goto fail;
	if (r->size == 0) {
		errno = ENOSPC;
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "blocklistio: %s: %s\n", r->o.dev, strerror(errno));
	cblk_close(r->id, 0);
	return -1;
}

static int setup_lists(struct run *r)
{
	unsigned c = r->o.cmds;

	r->lists = calloc(r->o.lists, sizeof(*r->lists));
	r->comp = calloc(c, sizeof(*r->comp));
	r->comp_ptrs = calloc(c, sizeof(*r->comp_ptrs));
	if (!r->lists || !r->comp || !r->comp_ptrs)
		return -1;
	for (unsigned j = 0; j < c; j++)
		r->comp_ptrs[j] = &r->comp[j];
	for (unsigned i = 0; i < r->o.lists; i++) {
		struct list *l = &r->lists[i];

		l->io = calloc(c, sizeof(*l->io));
		l->ptrs = calloc(c, sizeof(*l->ptrs));
		l->pend = calloc(c, sizeof(*l->pend));
		l->bufs = aligned_alloc(BLOCK_SIZE, (size_t)c * BLOCK_SIZE);
		if (!l->io || !l->ptrs || !l->pend || !l->bufs)
			return -1;
		for (unsigned j = 0; j < c; j++) {
			l->io[j].request_type = CBLK_IO_TYPE_READ;
			l->io[j].flags = r->o.intr_thread ? CBLK_IO_USER_STATUS : 0;
			l->io[j].buf = l->bufs + (size_t)j * BLOCK_SIZE;
			l->io[j].nblocks = 1;
			l->ptrs[j] = &l->io[j];
		}
	}
	return 0;
}

static void free_lists(struct run *r)
{
	for (unsigned i = 0; r->lists && i < r->o.lists; i++) {
		free(r->lists[i].io);
		free(r->lists[i].ptrs);
		free(r->lists[i].pend);
		free(r->lists[i].bufs);
	}
	free(r->lists);
	free(r->comp);
	free(r->comp_ptrs);
}

static int issue_list(struct run *r, struct list *l)
{
	int ncomp = (int)r->o.cmds;

	for (unsigned j = 0; j < r->o.cmds; j++)
		l->io[j].lba = (cflash_offset_t)((uint64_t)lrand48() % r->size);
	l->start_ns = tool_now_ns();
	if (cblk_listio(r->id, l->ptrs, (int)r->o.cmds, NULL, 0, NULL, 0, r->comp_ptrs, &ncomp, 0,
			CBLK_LISTIO_WAIT_ISSUE_CMD) < 0) {
		fprintf(stderr, "blocklistio: issuing a list failed: %s\n", strerror(errno));
		r->errors++;
		return -1;
	}
	l->busy = true;
	r->busy++;
	return 0;
}

/* The items of @l still pending, into l->pend. Return: how many. */
static int collect_pending(struct run *r, struct list *l)
{
	int n = 0;

	for (unsigned j = 0; j < r->o.cmds; j++)
		if (__atomic_load_n(&l->io[j].stat.status, __ATOMIC_ACQUIRE) ==
		    CBLK_ARW_STATUS_PENDING)
			l->pend[n++] = &l->io[j];
	return n;
}

/* A list whose items are all final: check them and free the list. */
static void finish_list(struct run *r, struct list *l)
{
	for (unsigned j = 0; j < r->o.cmds; j++) {
		cblk_io_t *io = &l->io[j];
		int st = __atomic_load_n(&io->stat.status, __ATOMIC_ACQUIRE);

		if (st != CBLK_ARW_STATUS_SUCCESS || io->stat.blocks_transferred != 1) {
			fprintf(stderr, "blocklistio: read of lba %lld: status %d, %zu blocks: "
				"%s\n", (long long)io->lba, st, io->stat.blocks_transferred,
				io->stat.fail_errno ? strerror(io->stat.fail_errno) : "short");
			r->errors++;
		} else {
			r->cmds_done++;
		}
	}
	r->lat_ns += tool_now_ns() - l->start_ns;
	r->lists_done++;
	l->busy = false;
	r->busy--;
}

/**
 * reap() - find completed lists: poll each busy list, and if none is done,
 * wait for the oldest one.
 * @r: the run.
 *
 * Return: lists completed, or -1 on an error (printed).
 */
static int reap(struct run *r)
{
	struct list *oldest = NULL;
	int done = 0, n, ncomp;

	for (unsigned i = 0; i < r->o.lists; i++) {
		struct list *l = &r->lists[i];

		if (!l->busy)
			continue;
		n = collect_pending(r, l);
		if (n && !r->o.intr_thread) {
			ncomp = n;
			if (cblk_listio(r->id, NULL, 0, l->pend, n, NULL, 0, r->comp_ptrs, &ncomp,
					0, 0) < 0) {
				fprintf(stderr, "blocklistio: polling a list failed: %s\n",
					strerror(errno));
				r->errors++;
				return -1;
			}
			n = collect_pending(r, l);
		}
		if (n == 0) {
			finish_list(r, l);
			done++;
		} else if (!oldest || l->start_ns < oldest->start_ns) {
			oldest = l;
		}
	}
	if (done || !oldest)
		return done;
	n = collect_pending(r, oldest);
	if (n == 0) {
		/* completed meanwhile (the completion thread wrote the
		 * status words); an empty wait list would be EINVAL */
		finish_list(r, oldest);
		return 1;
	}
	r->polls++;
	ncomp = 0;
	if (cblk_listio(r->id, NULL, 0, NULL, 0, oldest->pend, n, NULL, &ncomp,
			WAIT_TIMEOUT_US, 0) < 0) {
		fprintf(stderr, "blocklistio: waiting for a list failed: %s\n", strerror(errno));
		r->errors++;
		return -1;
	}
	finish_list(r, oldest);
	return 1;
}

static uint64_t run_io(struct run *r)
{
	uint64_t start = tool_now_ns(), end = start + (uint64_t)r->o.secs * 1000000000ull;
	bool stop = false;

	srand48((long)start);
	for (;;) {
		if (!stop && (tool_now_ns() >= end || r->errors))
			stop = true;
		for (unsigned i = 0; !stop && i < r->o.lists; i++)
			if (!r->lists[i].busy && issue_list(r, &r->lists[i]) < 0)
				stop = true;
		if (!r->busy)
			break;
		if (reap(r) < 0)
			break;
	}
	return tool_now_ns() - start;
}

int main(int argc, char **argv)
{
	struct run r;
	uint64_t elapsed;
	double secs;
	int rc;

	memset(&r, 0, sizeof(r));
	if (parse_args(argc, argv, &r.o) < 0)
		return 2;
	if (cblk_init(NULL, 0) < 0 || dev_open(&r) < 0)
		return 1;
	if (setup_lists(&r) < 0) {
		fprintf(stderr, "blocklistio: out of memory\n");
		rc = 1;
		goto out;
	}
	elapsed = run_io(&r);
	if (r.busy) {
		fprintf(stderr, "blocklistio: %u lists still in flight\n", r.busy);
		r.errors++;
	}
	secs = elapsed ? (double)elapsed / 1e9 : 1e-9;
	printf("l:%u c:%u p:%d s:%u i:%d err:%" PRIu64 " pollN:%" PRIu64 " lat:%" PRIu64
	       " mbps:%" PRIu64 " iops:%" PRIu64 "\n",
	       r.o.lists, r.o.cmds, r.o.physical, r.o.secs, r.o.intr_thread, r.errors, r.polls,
	       r.lists_done ? r.lat_ns / r.lists_done / 1000 : 0,
	       (uint64_t)((double)r.cmds_done * BLOCK_SIZE / (1 << 20) / secs),
	       (uint64_t)((double)r.cmds_done / secs));
	fflush(stdout);
	rc = r.errors ? 1 : 0;
out:
	if (cblk_close(r.id, 0) < 0) {
		fprintf(stderr, "blocklistio: close: %s\n", strerror(errno));
		rc = 1;
	}
	free_lists(&r);
	cblk_term(NULL, 0);
	return rc;
}
