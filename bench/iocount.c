/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iocount.c - the subject of the instruction-count regression guard: N
 * one-block cblk_aread (or cblk_awrite) + cblk_aresult pairs on a RAM LUN
 * in polling mode, one at a time, run under callgrind by run-bench.sh.
 *
 * Spinning would make the counts depend on timing, so after each submit
 * the program sleeps (letting the AFU thread run) and then asks once,
 * without blocking; a request still pending is counted as a miss and asked
 * again after another sleep. With no misses every I/O takes the same path,
 * and callgrind's inclusive cost of cblk_aread + cblk_aresult divided by N
 * is the client's instructions per I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <capiblock.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: iocount [-d LUN] [-n N] [-w] [-u us]\n"
		"Issue N one-block async requests one at a time (CBLK_OPN_NO_INTRP_THREADS),\n"
		"sleeping before each non-blocking cblk_aresult so that no waiting is\n"
		"counted; for instruction counts under valgrind --tool=callgrind.\n"
		"\n"
		"  -d, --lun LUN    the LUN (default ram:64M)\n"
		"  -n, --count N    requests (default 2000)\n"
		"  -w, --write      cblk_awrite instead of cblk_aread\n"
		"  -u, --sleep US   sleep before asking for the result (default 100)\n"
		"  -h, --help       this help\n"
		"Prints 'ios:N misses:M'. Exit status: 0, 1 on an I/O error, 2 on bad usage.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "lun", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "write", no_argument, NULL, 'w' },
		{ "sleep", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *lun = "ram:64M";
	long n = 2000, sleep_us = 100, misses = 0;
	bool write = false;
	size_t blocks = 0;
	chunk_id_t id;
	void *buf;
	int c;

	while ((c = getopt_long(argc, argv, "d:n:wu:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': lun = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'w': write = true; break;
		case 'u': sleep_us = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: fprintf(stderr, "iocount: try --help\n"); return 2;
		}
	}
	if (optind < argc || n < 1 || sleep_us < 0) {
		fprintf(stderr, "iocount: bad arguments (try --help)\n");
		return 2;
	}
	buf = aligned_alloc(4096, 4096);
	if (!buf)
		return 1;
	memset(buf, 0x5a, 4096);
	id = cblk_open(lun, 1, O_RDWR, 0, CBLK_OPN_NO_INTRP_THREADS);
	if (id == NULL_CHUNK_ID || cblk_get_lun_size(id, &blocks, 0) < 0 || !blocks) {
		fprintf(stderr, "iocount: %s: %s\n", lun, strerror(errno));
		return 1;
	}
	for (long i = 0; i < n; i++) {
		cflash_offset_t lba = (cflash_offset_t)((uint64_t)i * 7919 % blocks);
		uint64_t status;
		int tag = -1, rc;

		rc = write ? cblk_awrite(id, buf, lba, 1, &tag, NULL, 0)
			   : cblk_aread(id, buf, lba, 1, &tag, NULL, 0);
		while (rc == 0) {
			usleep((useconds_t)sleep_us);
			rc = cblk_aresult(id, &tag, &status, 0);
			if (rc == 0)
				misses++;
		}
		if (rc != 1) {
			fprintf(stderr, "iocount: request %ld: %s\n", i, strerror(errno));
			return 1;
		}
	}
	printf("ios:%ld misses:%ld\n", n, misses);
	cblk_close(id, 0);
	free(buf);
	return 0;
}
