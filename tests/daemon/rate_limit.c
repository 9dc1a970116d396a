/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rate_limit.c - per-tenant rate limits (issue 12, part 4): cxlflashd with
 * `--quota uid:0:iops=N` (then `bw=B`): a uid rule binds even root. A
 * tenant keeps 16 reads of 4 KiB in flight on its vLUN for a few seconds;
 * its rate, measured over that time, must stay within 1.5x the limit (no
 * lower bound: the machine may be loaded). Commands over the rate are
 * delayed, never failed (every read must succeed). A second tenant's
 * contexts share the uid's bucket: two processes together stay under it.
 * `cxlflash status` shows the limits and that the bucket held the tenant
 * back. Duration: ~3 s per limit (CXLFLASH_RATE_SECS).
 */
#include <stdlib.h>

#include "d_test.h"

#define NBLK 4096u
#define QD   16

static struct t_daemon g_d;

struct rshared {
	volatile int stop;
	volatile int ready[2];
	volatile uint64_t ops[2];
	volatile uint64_t us[2];
};

static struct rshared *g_sh;

static int tenant(int k)
{
	chunk_id_t id = cblk_open("lun0", QD + 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	uint8_t *b = bt_buf(QD);
	uint64_t seed = 9 + (uint64_t)k, n = 0, t0, st;
	int tag;

	if (id == NULL_CHUNK_ID || cblk_set_size(id, NBLK, 0))
		return 50;
	for (unsigned i = 0; i < QD; i++)
		if (cblk_aread(id, b + (size_t)i * BLK, (cflash_offset_t)(t_rand(&seed) % NBLK), 1,
			       &tag, NULL, CBLK_ARW_WAIT_CMD_FLAGS) < 0)
			return 51;
	g_sh->ready[k] = 1;
	t0 = d_now_us();
	while (!g_sh->stop) {
		if (cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING) < 0) {
			fprintf(stderr, "tenant %d: read failed: %s\n", k, strerror(errno));
			return 52;
		}
		g_sh->ops[k] = ++n;
		if (cblk_aread(id, b, (cflash_offset_t)(t_rand(&seed) % NBLK), 1, &tag, NULL,
			       CBLK_ARW_WAIT_CMD_FLAGS) < 0)
			return 53;
	}
	g_sh->us[k] = d_now_us() - t0;
	for (unsigned i = 0; i < QD; i++)
		if (cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING) < 0)
			return 54;
	return cblk_close(id, 0) ? 55 : 0;
}

static void wait_ready(int k, pid_t pid)
{
	for (int i = 0; i < 20000 && !g_sh->ready[k]; i++) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "tenant %d exited with %d\n", k, WEXITSTATUS(st));
			T_ASSERT(0);
		}
		d_sleep_us(1000);
	}
	T_ASSERT(g_sh->ready[k]);
}

/* Run @n tenants (processes of uid 0) for the test's time; their summed
 * reads per second. */
static double run(int n)
{
	const char *e = getenv("CXLFLASH_RATE_SECS");
	unsigned secs = e && *e ? (unsigned)atoi(e) : 3;
	pid_t pid[2];
	double rate = 0;

	memset((void *)g_sh, 0, sizeof(*g_sh));
	for (int k = 0; k < n; k++) {
		pid[k] = d_fork();
		if (pid[k] == 0)
			_exit(tenant(k));
		wait_ready(k, pid[k]);
	}
	d_sleep_us((uint64_t)secs * 1000000);
	g_sh->stop = 1;
	for (int k = 0; k < n; k++) {
		T_EQ(d_wait(pid[k]), 0);
		T_ASSERT(g_sh->us[k] > 0 && g_sh->ops[k] > 0);
		rate += (double)g_sh->ops[k] * 1e6 / (double)g_sh->us[k];
	}
	return rate;
}

static void start(const char *quota)
{
	const char *args[] = { "--lun", "lun0=ram:1G", "--allow", "lun0=all", "--quota", quota,
			       NULL };

	T_EQ(d_start(&g_d, args), 0);
}

/* The status shows the limit and that the bucket held root's contexts. */
static void check_status(const char *key, uint64_t limit)
{
	const char *st = d_status(&g_d), *t = strstr(st, "{\"uid\":0,");

	T_ASSERT(t);
	T_EQ(t_json_num(t, key), (long long)limit);
	T_ASSERT(t_json_num(t, "rate_delays") > 0);
	fprintf(stderr, "   status: %s %llu, %lld commands, %lld bytes, held %lld times\n", key,
		(unsigned long long)limit, t_json_num(t, "rate_cmds"), t_json_num(t, "rate_bytes"),
		t_json_num(t, "rate_delays"));
}

static void iops(void)
{
	const uint64_t limit = 1000;
	double r;

	start("uid:0:iops=1000");
	r = run(1);
	fprintf(stderr, "   iops=%llu: one tenant %.0f reads/s (%.2fx)\n",
		(unsigned long long)limit, r, r / (double)limit);
	T_ASSERT(r <= 1.5 * (double)limit);
	r = run(2);
	fprintf(stderr, "   iops=%llu: two tenants of the uid together %.0f reads/s (%.2fx)\n",
		(unsigned long long)limit, r, r / (double)limit);
	T_ASSERT(r <= 1.5 * (double)limit);
	check_status("iops_limit", limit);
	d_check("lun0");
	T_EQ(t_daemon_stop(&g_d), 0);
}

static void bandwidth(void)
{
	const uint64_t limit = 8ull << 20;   /* 8 MiB/s: 2,048 reads of 4 KiB */
	double r;

	start("uid:0:bw=8M/s");
	r = run(1) * BLK;
	fprintf(stderr, "   bw=8M/s: one tenant %.2f MiB/s (%.2fx)\n", r / (1 << 20),
		r / (double)limit);
	T_ASSERT(r <= 1.5 * (double)limit);
	check_status("bw_limit", limit);
	d_check("lun0");
	T_EQ(t_daemon_stop(&g_d), 0);
}

int main(void)
{
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	g_sh = mmap(NULL, sizeof(*g_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(g_sh != MAP_FAILED);
	T_RUN(iops);
	T_RUN(bandwidth);
	return T_PASS;
}
