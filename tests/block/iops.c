/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iops.c - a short throughput probe, not a benchmark: 4 KiB random reads at
 * QD32 on ram:1G through cblk_aread / cblk_aresult(NEXT_TAG|BLOCKING), with
 * the completion thread and with CBLK_OPN_NO_INTRP_THREADS, about a second
 * each (IOPS_SECS overrides). Prints IOPS and CPU per I/O; fails only on
 * I/O errors, or if an idle chunk (completion thread and AFU asleep) burns
 * CPU.
 */
#include "blk_test.h"

#include <sys/resource.h>
#include <time.h>

#define QD 32

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void run(const char *name, int oflags, double secs)
{
	chunk_id_t id = bt_open("ram:1G", QD, O_RDWR, oflags);
	uint8_t *bufs = bt_buf(QD);
	uint64_t seed = 12345, st, n = 0;
	double t0, t1, c0, c1;
	int tag;

	for (int i = 0; i < QD; i++)
		T_EQ(cblk_aread(id, bufs + (size_t)i * BLK,
				(cflash_offset_t)(t_rand(&seed) % 262144), 1, &tag, NULL, 0), 0);
	t0 = now_s();
	c0 = cpu_s();
	for (;;) {
		T_EQ(cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING), 1);
		n++;
		if ((n & 1023) == 0 && now_s() - t0 >= secs)
			break;
		T_EQ(cblk_aread(id, bufs + (size_t)tag * BLK,
				(cflash_offset_t)(t_rand(&seed) % 262144), 1, &tag, NULL, 0), 0);
	}
	t1 = now_s();
	c1 = cpu_s();
	while (cblk_aresult(id, &tag, &st, CBLK_ARESULT_NEXT_TAG | CBLK_ARESULT_BLOCKING) == 1)
		;
	T_EQ(errno, ENOENT);
	printf("%-22s QD%d 4KiB random read: %8.0f IOPS, %.2f us CPU/IO (process, AFU included)\n",
	       name, QD, (double)n / (t1 - t0), (c1 - c0) * 1e6 / (double)n);
	T_EQ(cblk_close(id, 0), 0);
	free(bufs);
}

/* After I/O, an open chunk with nothing in flight must not spin. */
static void idle_cpu(void)
{
	chunk_id_t id = bt_open("ram:1G", QD, O_RDWR, 0);
	uint8_t *b = bt_buf(1);
	struct timespec ts = { 0, 500 * 1000000 };
	double c0, c1;

	for (int i = 0; i < 1000; i++)
		T_EQ(cblk_read(id, b, i, 1, 0), 1);
	nanosleep(&(struct timespec){ 0, 20 * 1000000 }, NULL);
	c0 = cpu_s();
	nanosleep(&ts, NULL);
	c1 = cpu_s();
	printf("idle chunk: %.1f ms CPU in 500 ms\n", (c1 - c0) * 1e3);
	T_ASSERT(c1 - c0 < 0.025);
	T_EQ(cblk_close(id, 0), 0);
	free(b);
}

int main(void)
{
	const char *s = getenv("IOPS_SECS");
	double secs = s ? atof(s) : 1.0;

	run("NO_INTRP_THREADS", CBLK_OPN_NO_INTRP_THREADS, secs);
	run("completion thread", 0, secs);
	idle_cpu();
	return T_PASS;
}
