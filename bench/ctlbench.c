/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctlbench.c - control path latency: the cycle a superpipe client goes
 * through before and after its I/O, timed step by step, many times:
 *
 *   ioctl: ATTACH, USER_VIRTUAL (1 GiB), RELEASE, DETACH (+ close adap_fd)
 *   cblk:  cblk_open(CBLK_OPN_VIRT_LUN), cblk_set_size(1 GiB), cblk_close
 *
 *   socket: one request/reply round trip of cxlflashd's wire protocol
 *           (wire_call) to a thread that answers as the daemon's connection
 *           threads do (wire_recv_spin, then wire_send) over a
 *           SOCK_SEQPACKET pair: the floor every request through the
 *           daemon pays (measured only without --label); round_trip_pidfd
 *           the same with the sender's pidfd passed with each message and
 *           identified, as the daemon does (where the kernel can)
 *
 * Prints one TSV line per path and step (median and p99 in µs) and appends
 * one JSON object to --json.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <sys/socket.h>

#include <capiblock.h>
#include <cxlflash/cxlflash_ioctl.h>

#include "bench_util.h"
#include "server/wire.h"
#include "util/pident.h"

#define VLUN_BLOCKS (262144ull)   /* 1 GiB of 4 KiB blocks */

enum { S_ATTACH, S_VIRT, S_RELEASE, S_DETACH, S_TOTAL, NSTEPS };
static const char *const ioctl_steps[NSTEPS] = { "attach", "uvirtual_1g", "release",
						 "detach", "total" };
enum { C_OPEN, C_SETSIZE, C_CLOSE, C_TOTAL, NCSTEPS };
static const char *const cblk_steps[NCSTEPS] = { "open", "set_size_1g", "close", "total" };

static const char *prefix = "";   /* --label: "daemon-" names another setup */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The @q quantile of @v (sorted in place). */
static double quantile(double *v, int n, double q)
{
	int i = (int)(q * n);

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[i < n ? i : n - 1];
}

static int ioctl_cycle(int fd, double us[NSTEPS])
{
	struct dk_cxlflash_attach at = { 0 };
	struct dk_cxlflash_uvirtual uv = { 0 };
	struct dk_cxlflash_release rel = { 0 };
	struct dk_cxlflash_detach det = { 0 };
	uint64_t t[NSTEPS];

	t[0] = bench_now_ns();
	at.hdr.flags = O_RDWR;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_ATTACH, &at))
		return perror("ctlbench: DK_CXLFLASH_ATTACH"), -1;
	t[1] = bench_now_ns();
	uv.context_id = at.context_id;
	uv.lun_size = VLUN_BLOCKS;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_USER_VIRTUAL, &uv))
		return perror("ctlbench: DK_CXLFLASH_USER_VIRTUAL"), -1;
	t[2] = bench_now_ns();
	rel.context_id = at.context_id;
	rel.rsrc_handle = uv.rsrc_handle;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_RELEASE, &rel))
		return perror("ctlbench: DK_CXLFLASH_RELEASE"), -1;
	t[3] = bench_now_ns();
	det.context_id = at.context_id;
	if (cxlflash_ioctl(fd, DK_CXLFLASH_DETACH, &det))
		return perror("ctlbench: DK_CXLFLASH_DETACH"), -1;
	close((int)at.adap_fd);   /* the caller's to close (APP_CLOSE_ADAP_FD) */
	t[4] = bench_now_ns();
	for (int s = 0; s < S_TOTAL; s++)
		us[s] = (double)(t[s + 1] - t[s]) / 1e3;
	us[S_TOTAL] = (double)(t[4] - t[0]) / 1e3;
	return 0;
}

static int cblk_cycle(const char *lun, double us[NCSTEPS])
{
	uint64_t t[4];
	chunk_id_t id;

	t[0] = bench_now_ns();
	id = cblk_open(lun, 64, O_RDWR, 0, CBLK_OPN_VIRT_LUN | CBLK_OPN_NO_INTRP_THREADS);
	if (id == NULL_CHUNK_ID)
		return perror("ctlbench: cblk_open"), -1;
	t[1] = bench_now_ns();
	if (cblk_set_size(id, VLUN_BLOCKS, 0) < 0)
		return perror("ctlbench: cblk_set_size"), -1;
	t[2] = bench_now_ns();
	if (cblk_close(id, 0) < 0)
		return perror("ctlbench: cblk_close"), -1;
	t[3] = bench_now_ns();
	for (int s = 0; s < C_TOTAL; s++)
		us[s] = (double)(t[s + 1] - t[s]) / 1e3;
	us[C_TOTAL] = (double)(t[3] - t[0]) / 1e3;
	return 0;
}

#define ECHO_SPIN_NS 50000ull   /* as cxlflashd's workers wait for a next request (server.c) */

/* Answer every message on @arg's socket with itself until the peer closes;
 * with the sender's pidfd (SO_PASSPIDFD), identify it as the daemon does
 * (pident_of) and close it. */
static void *echo_thread(void *arg)
{
	int sock = *(int *)arg;
	union cxlflash_ioctls buf;

	for (;;) {
		struct wire_msg h;
		struct wire_cred cr = { .pidfd = -1 };
		struct pident id;

		if (wire_recv_spin(sock, &h, &buf, sizeof(buf), NULL, &cr, ECHO_SPIN_NS))
			return NULL;
		if (cr.pidfd >= 0) {
			pident_of(cr.pidfd, cr.pid, &id);
			close(cr.pidfd);
		}
		if (wire_send(sock, &h, &buf, h.len, -1))
			return NULL;
	}
}

/* @n wire_call() round trips of a USER_VIRTUAL-sized request into @us;
 * @pidfd: the answering side takes the sender's pidfd with each, as
 * cxlflashd does where the kernel has SO_PASSPIDFD. */
static int socket_cycles(int n, double *us, bool pidfd)
{
	struct dk_cxlflash_uvirtual req = { 0 }, rep;
	int sv[2], one = 1, rc = -1;
	pthread_t t;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return perror("ctlbench: socketpair"), -1;
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));  /* as the daemon */
	if (pidfd && wire_pass_pidfd(sv[1])) {
		close(sv[0]);
		close(sv[1]);
		return 1;       /* not on this kernel */
	}
	if (pthread_create(&t, NULL, echo_thread, &sv[1])) {
		close(sv[0]);
		close(sv[1]);
		return perror("ctlbench: pthread_create"), -1;
	}
	for (int i = -5; i < n; i++) {
		struct wire_msg h = { .op = WIRE_OP_IOCTL, .request = DK_CXLFLASH_USER_VIRTUAL };
		uint64_t t0 = bench_now_ns();

		if (wire_call(sv[0], &h, &req, sizeof(req), &rep, sizeof(rep), NULL)) {
			fprintf(stderr, "ctlbench: socket round trip failed\n");
			goto out;
		}
		if (i >= 0)
			us[i] = (double)(bench_now_ns() - t0) / 1e3;
	}
	rc = 0;
out:
	close(sv[0]);           /* the echo thread sees the end and returns */
	pthread_join(t, NULL);
	close(sv[1]);
	return rc;
}

/* Print and record the median and p99 of each step of one path. */
static void report(FILE *json, const char *path, const char *const *names, int nsteps,
		   double **samples, int n, bool *first)
{
	for (int s = 0; s < nsteps; s++) {
		double p50 = quantile(samples[s], n, 0.5), p99 = quantile(samples[s], n, 0.99);

		printf("ctl-%s%s\t%s\t%.1f\t%.1f\n", prefix, path, names[s], p50, p99);
		if (json)
			fprintf(json, "%s{\"path\":\"%s%s\",\"step\":\"%s\",\"n\":%d,"
				"\"p50_us\":%.2f,\"p99_us\":%.2f}", *first ? "" : ",", prefix,
				path, names[s], n, p50, p99);
		*first = false;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ctlbench [-d LUN] [-n N] [-j FILE] [-l PREFIX]\n"
		"Time the control path N times (after a few unmeasured cycles):\n"
		"  ioctl: DK_CXLFLASH_ATTACH, USER_VIRTUAL of 1 GiB, RELEASE, DETACH\n"
		"  cblk:  cblk_open(CBLK_OPN_VIRT_LUN), cblk_set_size(1 GiB), cblk_close\n"
		"  socket (without --label): one round trip of cxlflashd's wire protocol to\n"
		"         a thread answering as the daemon does, the floor of each request,\n"
		"         also with the sender's pidfd passed and identified (round_trip_pidfd)\n"
		"and print 'ctl-PATH STEP p50_us p99_us' lines.\n"
		"\n"
		"  -d, --lun LUN    the LUN (default ram:2G; at least 1 GiB)\n"
		"  -n, --count N    measured cycles per path (default 200)\n"
		"  -j, --json FILE  append {\"control\":[...]} to FILE\n"
		"  -l, --label P    prefix the path names (e.g. daemon-)\n"
		"  -h, --help       this help\n"
		"Exit status: 0, 1 on a failed request, 2 on bad usage.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "lun", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "json", required_argument, NULL, 'j' },
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *lun = "ram:2G", *json_path = NULL;
	double *is[NSTEPS], *cs[NCSTEPS], *ss = NULL, *sp = NULL, us[NSTEPS];
	int sp_rc = 1;
	int n = 200, c, fd, rc = 1;
	chunk_id_t keeper;
	bool first = true;
	FILE *json = NULL;

	while ((c = getopt_long(argc, argv, "d:n:j:l:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': lun = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'j': json_path = optarg; break;
		case 'l': prefix = optarg; break;
		case 'h': usage(stdout); return 0;
		default: fprintf(stderr, "ctlbench: try --help\n"); return 2;
		}
	}
	if (optind < argc || n < 1 || n > 1000000) {
		fprintf(stderr, "ctlbench: bad arguments (try --help)\n");
		return 2;
	}
	for (int s = 0; s < NSTEPS; s++)
		is[s] = calloc((size_t)n, sizeof(double));
	for (int s = 0; s < NCSTEPS; s++)
		cs[s] = calloc((size_t)n, sizeof(double));

	fd = cxlflash_open(lun, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "ctlbench: %s: %s\n", lun, strerror(errno));
		goto out;
	}
	for (int i = -5; i < n; i++) {          /* 5 warm-up cycles */
		if (ioctl_cycle(fd, us))
			goto out;
		for (int s = 0; i >= 0 && s < NSTEPS; s++)
			is[s][i] = us[s];
	}
	cxlflash_close(fd);
	/* An empty vLUN held open keeps the LUN (and its master) alive between
	 * cycles, so a cycle is what a client pays, not the LUN's creation. */
	keeper = cblk_open(lun, 1, O_RDWR, 0, CBLK_OPN_VIRT_LUN | CBLK_OPN_NO_INTRP_THREADS);
	if (keeper == NULL_CHUNK_ID) {
		perror("ctlbench: cblk_open");
		goto out;
	}
	for (int i = -5; i < n; i++) {
		if (cblk_cycle(lun, us))
			goto out;
		for (int s = 0; i >= 0 && s < NCSTEPS; s++)
			cs[s][i] = us[s];
	}
	cblk_close(keeper, 0);
	if (!*prefix) {
		ss = calloc((size_t)n, sizeof(double));
		sp = calloc((size_t)n, sizeof(double));
		if (!ss || !sp || socket_cycles(n, ss, false))
			goto out;
		sp_rc = socket_cycles(n, sp, true);
		if (sp_rc < 0)
			goto out;
	}
	if (json_path && !(json = fopen(json_path, "a")))
		fprintf(stderr, "ctlbench: %s: %s\n", json_path, strerror(errno));
	if (json)
		fprintf(json, "{\"control\":[");
	report(json, "ioctl", ioctl_steps, NSTEPS, is, n, &first);
	report(json, "cblk", cblk_steps, NCSTEPS, cs, n, &first);
	if (ss) {
		static const char *const socket_steps[] = { "round_trip" };

		report(json, "socket", socket_steps, 1, &ss, n, &first);
	}
	if (sp && sp_rc == 0) {
		static const char *const socket_steps[] = { "round_trip_pidfd" };

		report(json, "socket", socket_steps, 1, &sp, n, &first);
	}
	if (json) {
		fprintf(json, "]}\n");
		fclose(json);
	}
	rc = 0;
out:
	free(ss);
	free(sp);
	for (int s = 0; s < NSTEPS; s++)
		free(is[s]);
	for (int s = 0; s < NCSTEPS; s++)
		free(cs[s]);
	return rc;
}
