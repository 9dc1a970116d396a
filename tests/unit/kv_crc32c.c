/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unit/kv_crc32c: the key/value store's CRC-32C (src/kv/crc32c.c) against
 * a bit-at-a-time reference, at every length up to 2,000 bytes and longer
 * ones at odd steps, from unaligned starts and arbitrary running values,
 * so the folding path (VPCLMULQDQ, where the CPU has it), the three-stream
 * path, its lane combinations and the one-stream tail all agree with the
 * definition; and the standard check value. Runs once more with
 * CXLFLASH_KV_CRC_NOFOLD=1, so a CPU with folding checks the streams too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kv/crc32c.h"
#include "t_util.h"

/* CRC-32C by its definition: reflected, polynomial 0x1EDC6F41, inverted in and out. */
static uint32_t reference(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

static void check_value(void)
{
	T_EQ(kv_crc32c(0, "123456789", 9), 0xe3069283u);
	T_EQ(kv_crc32c(0, "", 0), 0u);
}

static void lengths(void)
{
	static uint8_t buf[3 * 8192 + 64];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t n = 0; n <= 3 * 8192; n += n < 2000 ? 1 : 61) {
		for (size_t off = 0; off < 8; off += 3) {
			uint32_t seed = (uint32_t)(n * 2654435761u + off);

			if (kv_crc32c(seed, buf + off, n) != reference(seed, buf + off, n)) {
				fprintf(stderr, "mismatch at length %zu offset %zu\n", n, off);
				T_ASSERT(0);
			}
		}
	}
	/* In pieces, as the store checks a key and then its value. */
	T_EQ(kv_crc32c(kv_crc32c(7, buf, 16), buf + 16, 4096), reference(7, buf, 4112));
}

int main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "kv_crc32c: %s\n", getenv("CXLFLASH_KV_CRC_NOFOLD") ? "no folding" :
		"folding where the CPU has it");
	T_RUN(check_value);
	T_RUN(lengths);
	if (!getenv("CXLFLASH_KV_CRC_NOFOLD")) {
		setenv("CXLFLASH_KV_CRC_NOFOLD", "1", 1);
		execv("/proc/self/exe", argv);
		perror("execv");
		return T_FAIL;
	}
	return T_PASS;
}
