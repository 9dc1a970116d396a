/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalebench.c - the scale of one master (issue 13): many contexts and
 * many virtual LUNs at once, through cxlflashd (or embedded), with
 *
 *   - the time of each ATTACH as the count grows, and of an ATTACH (and a
 *     whole attach + 1 GiB vLUN + release + detach cycle) once the master
 *     holds them all,
 *   - the daemon's resident memory (--pid, /proc/PID/status) per idle
 *     context and per vLUN,
 *   - the master's metadata per TiB of LUN: one vLUN of --tib TiB made and
 *     released, the daemon's RSS around it, next to what the structures
 *     need (LXT entries, the allocator's bitmap and clone counts),
 *   - the daemon's CPU while all those contexts sit idle.
 *
 * Prints "scale KEY VALUE" lines and appends one JSON object
 * {"scale":{...}} to --json. A LUN of a few TiB is a sparse file: vLUNs
 * allocate chunks without writing them, and freed chunks are scrubbed with
 * a discard, so the file stays sparse.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cxlflash/cxlflash_ioctl.h>

#include "bench_util.h"

#define CHUNK_BLOCKS  65536ull         /* 256 MiB of 4 KiB blocks */
#define GIB_BLOCKS    262144ull
#define TIB_CHUNKS    4096ull
#define LXT_ENTRY     8u               /* struct sisl_lxt_entry */
#define AT_SCALE_N    50               /* control cycles timed at full scale */

enum { S_ATTACH, S_UVIRTUAL, S_RELEASE, S_DETACH, S_CYCLE, NSTEP };

struct ctx {
	uint64_t id;
	int adap_fd;
};

struct opts {
	const char *lun;
	const char *json;
	unsigned nctx;
	unsigned nvlun;
	uint64_t vlun_blocks;
	unsigned tib;
	unsigned idle_secs;
	int pid;
};

/* VmRSS, RssAnon and RssShmem of @pid in KiB (0 when unknown). */
struct rss {
	uint64_t total, anon, shmem;
};

static void rss_of(int pid, struct rss *r)
{
	char path[64], line[256];
	FILE *f;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "/proc/%d/status", pid > 0 ? pid : (int)getpid());
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "VmRSS: %llu", &v) == 1)
			r->total = v;
		else if (sscanf(line, "RssAnon: %llu", &v) == 1)
			r->anon = v;
		else if (sscanf(line, "RssShmem: %llu", &v) == 1)
			r->shmem = v;
	}
	fclose(f);
}

static double quantile(double *v, unsigned n, double q)
{
	unsigned i = (unsigned)(q * n);

	qsort(v, n, sizeof(*v), bench_cmp_double);
	return v[i < n ? i : n - 1];
}

static int attach(int fd, struct ctx *c)
{
	struct dk_cxlflash_attach at = { 0 };

	at.hdr.flags = O_RDWR;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &at))
		return -1;
	c->id = at.context_id;
	c->adap_fd = (int)at.adap_fd;
	return 0;
}

static int detach(int fd, struct ctx *c)
{
	struct dk_cxlflash_detach det = { .context_id = c->id };
	int rc = cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &det);

	close(c->adap_fd);
	return rc;
}

static int uvirtual(int fd, uint64_t ctx, uint64_t blocks, uint64_t *rh)
{
	struct dk_cxlflash_uvirtual uv = { .context_id = ctx, .lun_size = blocks };

	if (cxlflash_ioctl(fd, DK_CXLFLASH_USER_VIRTUAL, &uv))
		return -1;
	*rh = uv.rsrc_handle;
	return 0;
}

static int release(int fd, uint64_t ctx, uint64_t rh)
{
	struct dk_cxlflash_release rel = { .context_id = ctx, .rsrc_handle = rh };

	return cxlflash_ioctl(fd, DK_CXLFLASH_RELEASE, &rel);
}

static FILE *json;
static bool json_first = true;

static void put(const char *key, double v, const char *unit)
{
	printf("scale\t%s\t%.2f\t%s\n", key, v, unit);
	if (json)
		fprintf(json, "%s\"%s\":%.3f", json_first ? "" : ",", key, v);
	json_first = false;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: scalebench -d LUN [-c contexts] [-v vluns] [-b blocks] [-t tib]\n"
		"                  [-p daemon-pid] [-i idle-secs] [-j FILE]\n"
		"Attach many contexts and make many virtual LUNs on one master, timing the\n"
		"requests, and measure the daemon's memory per context, per vLUN and per\n"
		"TiB of vLUN (one vLUN of -t TiB), and its CPU with the contexts idle.\n"
		"\n"
		"  -d, --lun LUN        the LUN (through cxlflashd: its name; needs room for\n"
		"                       the vLUNs and the -t TiB one: a sparse file LUN)\n"
		"  -c, --contexts N     contexts to attach (default 512)\n"
		"  -v, --vluns N        vLUNs, spread over the contexts (default 10240)\n"
		"  -b, --vlun-blocks N  size of each vLUN in 4 KiB blocks (default 65536: one chunk)\n"
		"  -t, --tib N          the large vLUN's size in TiB (default 1; 0: none)\n"
		"  -p, --pid PID        the daemon, for its RSS and CPU (default: this process)\n"
		"  -i, --idle-secs S    how long the daemon's idle CPU is watched (default 2;\n"
		"                       0: not, and no pause before the RSS readings)\n"
		"  -j, --json FILE      append {\"scale\":{...}} to FILE\n"
		"  -h, --help           this help\n"
		"Prints 'scale KEY VALUE UNIT' lines. Exit status: 0, 1 on a failed request,\n"
		"2 on bad usage.\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "lun", required_argument, NULL, 'd' },
		{ "contexts", required_argument, NULL, 'c' },
		{ "vluns", required_argument, NULL, 'v' },
		{ "vlun-blocks", required_argument, NULL, 'b' },
		{ "tib", required_argument, NULL, 't' },
		{ "pid", required_argument, NULL, 'p' },
		{ "idle-secs", required_argument, NULL, 'i' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .nctx = 512, .nvlun = 10240, .vlun_blocks = CHUNK_BLOCKS, .tib = 1,
			    .idle_secs = 2 };
	while ((c = getopt_long(argc, argv, "d:c:v:b:t:p:i:j:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->lun = optarg; break;
		case 'c': o->nctx = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'v': o->nvlun = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': o->vlun_blocks = strtoull(optarg, NULL, 0); break;
		case 't': o->tib = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': o->pid = atoi(optarg); break;
		case 'i': o->idle_secs = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'j': o->json = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc || !o->lun || o->nctx < 2 || o->nctx > 4096 || o->tib > 64) {
		fprintf(stderr, "scalebench: bad arguments (try --help)\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct ctx *ctx = NULL;
	uint64_t *rh = NULL, *rh_ctx = NULL, t0, t1;
	double *lat = NULL, *vlat = NULL, cpu0, cpu1;
	struct rss r0, r1, r2, r3, r4;
	unsigned made = 0, vmade = 0;
	int fd, rc = 1;

	if (parse(argc, argv, &o))
		return 2;
	if (o.json && !(json = fopen(o.json, "a")))
		fprintf(stderr, "scalebench: %s: %s\n", o.json, strerror(errno));
	if (json)
		fprintf(json, "{\"scale\":{");
	ctx = calloc(o.nctx + 1, sizeof(*ctx));
	lat = calloc(o.nctx, sizeof(*lat));
	vlat = calloc(o.nvlun + 1, sizeof(*vlat));
	rh = calloc(o.nvlun + 1, sizeof(*rh));
	rh_ctx = calloc(o.nvlun + 1, sizeof(*rh_ctx));
	if (!ctx || !lat || !vlat || !rh || !rh_ctx)
		goto out;
	fd = cxlflash_open(o.lun, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "scalebench: %s: %s\n", o.lun, strerror(errno));
		goto out;
	}
	put("contexts", o.nctx, "");
	put("vluns", o.nvlun, "");

	/* Contexts: one connection, o.nctx ATTACHes, each timed. */
	rss_of(o.pid, &r0);
	t0 = bench_now_ns();
	for (; made < o.nctx; made++) {
		uint64_t s = bench_now_ns();

		if (attach(fd, &ctx[made])) {
			fprintf(stderr, "scalebench: ATTACH %u: %s\n", made + 1, strerror(errno));
			goto close;
		}
		lat[made] = (double)(bench_now_ns() - s) / 1e3;
	}
	t1 = bench_now_ns();
	put("attach_all_ms", (double)(t1 - t0) / 1e6, "ms");
	put("attach_first50_p50_us", quantile(lat, o.nctx < 50 ? o.nctx : 50, 0.5), "us");
	put("attach_last50_p50_us", quantile(lat + o.nctx - (o.nctx < 50 ? o.nctx : 50),
					     o.nctx < 50 ? o.nctx : 50, 0.5), "us");
	put("attach_p99_us", quantile(lat, o.nctx, 0.99), "us");
	/* Idle: what the contexts cost while nothing happens (a second after,
	 * with -i: the daemon's deferred work done). */
	if (o.idle_secs)
		sleep(1);
	rss_of(o.pid, &r1);
	put("rss_per_idle_context_kib", (double)(r1.total - r0.total) / o.nctx, "KiB");
	put("anon_per_idle_context_kib", (double)(r1.anon - r0.anon) / o.nctx, "KiB");
	put("shmem_per_idle_context_kib", (double)(r1.shmem - r0.shmem) / o.nctx, "KiB");
	if (o.idle_secs && o.pid > 0) {
		cpu0 = bench_pid_cpu_s(o.pid);
		t0 = bench_now_ns();
		sleep(o.idle_secs);
		cpu1 = bench_pid_cpu_s(o.pid);
		put("idle_daemon_cpu_pct", (cpu1 - cpu0) * 100.0 /
		    ((double)(bench_now_ns() - t0) / 1e9), "% of a CPU");
	}

	/* vLUNs: round-robin over the contexts, each timed. */
	t0 = bench_now_ns();
	for (; vmade < o.nvlun; vmade++) {
		uint64_t s = bench_now_ns();

		rh_ctx[vmade] = vmade % o.nctx;
		if (uvirtual(fd, ctx[rh_ctx[vmade]].id, o.vlun_blocks, &rh[vmade])) {
			fprintf(stderr, "scalebench: USER_VIRTUAL %u: %s\n", vmade + 1,
				strerror(errno));
			goto release;
		}
		vlat[vmade] = (double)(bench_now_ns() - s) / 1e3;
	}
	t1 = bench_now_ns();
	put("uvirtual_all_ms", (double)(t1 - t0) / 1e6, "ms");
	put("uvirtual_p50_us", quantile(vlat, o.nvlun, 0.5), "us");
	put("uvirtual_p99_us", quantile(vlat, o.nvlun, 0.99), "us");
	if (o.idle_secs)
		sleep(1);
	rss_of(o.pid, &r2);
	put("rss_per_vlun_kib", (double)(r2.total - r1.total) / (o.nvlun ? o.nvlun : 1), "KiB");

	/* At full scale: a context detached and attached again, and a whole
	 * control cycle in it (attach, 1 GiB vLUN, release, detach), each step
	 * timed, AT_SCALE_N times. */
	{
		static const char *const names[NSTEP] = { "attach", "uvirtual_1g", "release",
							  "detach", "cycle" };
		static double st[NSTEP][AT_SCALE_N];
		struct ctx *c = &ctx[o.nctx - 1];
		uint64_t h, t[NSTEP];
		char key[64];

		/* The last context's vLUNs go first (the rest are released below). */
		for (unsigned i = 0; i < vmade; i++)
			if (rh_ctx[i] == o.nctx - 1 && rh[i] != UINT64_MAX) {
				release(fd, c->id, rh[i]);
				rh[i] = UINT64_MAX;
			}
		if (detach(fd, c))
			goto release;
		for (int i = 0; i < AT_SCALE_N; i++) {
			t[0] = bench_now_ns();
			if (attach(fd, c))
				goto reattach;
			t[1] = bench_now_ns();
			if (uvirtual(fd, c->id, GIB_BLOCKS, &h))
				goto release;
			t[2] = bench_now_ns();
			if (release(fd, c->id, h))
				goto release;
			t[3] = bench_now_ns();
			if (detach(fd, c))
				goto reattach;
			t[4] = bench_now_ns();
			for (int k = 0; k < S_CYCLE; k++)
				st[k][i] = (double)(t[k + 1] - t[k]) / 1e3;
			st[S_CYCLE][i] = (double)(t[4] - t[0]) / 1e3;
		}
		for (int k = 0; k < NSTEP; k++) {
			snprintf(key, sizeof(key), "%s_at_scale_p50_us", names[k]);
			put(key, quantile(st[k], AT_SCALE_N, 0.5), "us");
		}
		if (attach(fd, c)) {
reattach:		/* detached: not detached again below */
			fprintf(stderr, "scalebench: at scale: %s\n", strerror(errno));
			made = o.nctx - 1;
			goto release;
		}
	}

	/* Metadata per TiB: one vLUN of o.tib TiB. */
	if (o.tib) {
		uint64_t h, chunks = o.tib * TIB_CHUNKS;

		rss_of(o.pid, &r3);
		if (uvirtual(fd, ctx[0].id, chunks * CHUNK_BLOCKS, &h)) {
			fprintf(stderr, "scalebench: USER_VIRTUAL of %u TiB: %s\n", o.tib,
				strerror(errno));
			goto release;
		}
		rss_of(o.pid, &r4);
		put("vlun_tib_rss_kib_per_tib", (double)(r4.total - r3.total) / o.tib, "KiB");
		put("vlun_tib_lxt_kib_per_tib", (double)(TIB_CHUNKS * LXT_ENTRY) / 1024, "KiB");
		/* The allocator: one bit and one clone count per chunk of the LUN. */
		put("lun_alloc_kib_per_tib", (double)TIB_CHUNKS * (1.0 / 8 + 1) / 1024, "KiB");
		if (release(fd, ctx[0].id, h)) {
			perror("scalebench: RELEASE");
			goto release;
		}
	}
	rc = 0;
release:
	t0 = bench_now_ns();
	for (unsigned i = 0; i < vmade; i++)
		if (rh[i] != UINT64_MAX && release(fd, ctx[rh_ctx[i]].id, rh[i])) {
			perror("scalebench: RELEASE");
			rc = 1;
		}
	if (!rc)
		put("release_all_ms", (double)(bench_now_ns() - t0) / 1e6, "ms");
close:
	t0 = bench_now_ns();
	for (unsigned i = 0; i < made; i++)
		if (detach(fd, &ctx[i])) {
			perror("scalebench: DETACH");
			rc = 1;
		}
	if (!rc)
		put("detach_all_ms", (double)(bench_now_ns() - t0) / 1e6, "ms");
	cxlflash_close(fd);
out:
	if (json) {
		fprintf(json, "}}\n");
		fclose(json);
	}
	free(ctx);
	free(lat);
	free(vlat);
	free(rh);
	free(rh_ctx);
	return rc;
}
