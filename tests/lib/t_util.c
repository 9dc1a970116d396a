/* SPDX-License-Identifier: Apache-2.0 */
/* t_util.c - shared test helpers (see t_util.h). */
#include "t_util.h"

#include <unistd.h>

const char *t_path(const char *name)
{
	static char bufs[8][4096];
	static unsigned next;
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	char *b = bufs[next++ % 8];

	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(b, sizeof(bufs[0]), "%s/%s.%d", dir, name, (int)getpid());
	return b;
}

void t_pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t lba)
{
	uint64_t *p = buf;

	for (size_t i = 0; i < len / 8; i++) {
		uint64_t blk = lba + (i * 8) / 4096;
		p[i] = (seed * 0x9E3779B97F4A7C15ull) ^ (blk << 20) ^ (i & 511) ^ 0x5A5A000000000000ull;
	}
}

int t_pattern_check(const void *buf, size_t len, uint64_t seed, uint64_t lba)
{
	const uint64_t *p = buf;

	for (size_t i = 0; i < len / 8; i++) {
		uint64_t blk = lba + (i * 8) / 4096;
		uint64_t want = (seed * 0x9E3779B97F4A7C15ull) ^ (blk << 20) ^ (i & 511) ^ 0x5A5A000000000000ull;
		if (p[i] != want) {
			fprintf(stderr, "pattern mismatch at byte %zu (block %" PRIu64 "): %016" PRIx64
				" != %016" PRIx64 "\n", i * 8, blk, p[i], want);
			return -1;
		}
	}
	return 0;
}

unsigned long t_scale(unsigned long n, unsigned long min)
{
	const char *e = getenv("CXLFLASH_TEST_SCALE");
	unsigned long pct = e && *e ? strtoul(e, NULL, 10) : 100;

	if (pct == 0 || pct > 100)
		pct = 100;
	n = n * pct / 100;
	if (min == 0)
		min = 1;
	return n < min ? min : n;
}

uint64_t t_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x853c49e6748fea9bull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

void t_set_faults(const char *path, const char *text)
{
	char tmp[4200];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fp = fopen(tmp, "w");
	T_ASSERT(fp);
	fputs(text, fp);
	T_EQ(fclose(fp), 0);
	T_EQ(rename(tmp, path), 0);
}
