/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: an rbd LUN whose cluster stops answering gives errors in
 * bounded time, never a hang: with the OSD paused (SIGSTOP), a READ and a
 * FUA WRITE on the engine complete with ETIMEDOUT within the configured
 * op timeout (3 s here) plus a margin; once the OSD runs again (SIGCONT)
 * I/O works and reads back what was written before.
 */
#include "t_ceph.h"
#include "t_util.h"
#include "backend/backend.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#define OP_TIMEOUT 3

struct req {
	struct be_io io;     /* first */
	int res;
	int done;
};

static void on_done(struct be_io *io, int res)
{
	struct req *r = (struct req *)io;

	r->res = res;
	r->done++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request on @eng, waited for at most @max_s. Return: its result; *@took. */
static int run(struct backend *be, struct be_engine *eng, enum be_op op, uint64_t lba,
	       void *buf, uint32_t flags, double max_s, double *took)
{
	struct req r = { .io = { .op = op, .lba = lba, .nblocks = 1, .buf = buf, .flags = flags,
				 .cb = on_done } };
	double t0 = now_s();

	T_EQ(be->ops->submit(be, eng, &r.io), 0);
	while (!r.done) {
		T_ASSERT(now_s() - t0 < max_s);
		T_ASSERT(be_engine_wait(eng, 100000) >= 0);
		T_ASSERT(be_engine_poll(eng, 0) >= 0);
	}
	*took = now_s() - t0;
	return r.res;
}

int main(void)
{
	const char *dir = t_ceph_start("rbd");
	char conf[256], name[512], pidfile[256];
	uint8_t w[BE_BLOCK_SIZE], r[BE_BLOCK_SIZE];
	struct be_engine *eng;
	struct backend *be;
	struct be_spec spec;
	double took;
	FILE *f;
	pid_t osd;
	int rc;

	/* The test's own configuration: the cluster's, with a short op timeout. */
	snprintf(conf, sizeof(conf), "%s/short.conf", dir);
	T_EQ(t_ceph_cmd("sed 's/^rados osd op timeout = .*/rados osd op timeout = %d/' %s/ceph.conf"
			" > %s", OP_TIMEOUT, dir, conf), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/osd.pid", dir);
	f = fopen(pidfile, "r");
	T_ASSERT(f && fscanf(f, "%d", &osd) == 1);
	fclose(f);

	snprintf(name, sizeof(name), "rbd:rbd/down?size=64M&conf=%s", conf);
	T_EQ(be_parse_spec(name, &spec), 0);
	rc = be_open(&spec, &be);
	T_SKIP_IF(rc == -ENOTSUP, "built without librbd");
	T_EQ(rc, 0);
	T_EQ(be_engine_create(&eng, 16), 0);
	t_pattern_fill(w, sizeof(w), 5, 10);
	T_EQ(run(be, eng, BE_OP_WRITE, 10, w, BE_IO_FUA, 30, &took), 0);

	fprintf(stderr, "-- OSD paused\n");
	T_EQ(kill(osd, SIGSTOP), 0);
	/* Block 11, in block 10's object (so it exists) but never written:
	 * librbd's cache may still hold block 10 and answer for it at once
	 * (1 run in 6 did). */
	rc = run(be, eng, BE_OP_READ, 11, r, 0, OP_TIMEOUT + 10, &took);
	fprintf(stderr, "   READ: %s after %.2f s\n", strerror(-rc), took);
	T_EQ(rc, -ETIMEDOUT);
	T_ASSERT(took >= OP_TIMEOUT - 1);
	rc = run(be, eng, BE_OP_WRITE, 20, w, BE_IO_FUA, 2 * OP_TIMEOUT + 10, &took);
	fprintf(stderr, "   FUA WRITE: %s after %.2f s\n", strerror(-rc), took);
	T_EQ(rc, -ETIMEDOUT);

	fprintf(stderr, "-- OSD running again\n");
	T_EQ(kill(osd, SIGCONT), 0);
	T_EQ(run(be, eng, BE_OP_READ, 10, r, 0, 30, &took), 0);
	T_EQ(t_pattern_check(r, sizeof(r), 5, 10), 0);
	T_EQ(run(be, eng, BE_OP_WRITE, 30, w, BE_IO_FUA, 30, &took), 0);
	T_EQ(run(be, eng, BE_OP_READ, 30, r, 0, 30, &took), 0);
	T_EQ(memcmp(w, r, sizeof(w)), 0);
	be_engine_destroy(eng);
	be_close(be);
	return T_PASS;
}
