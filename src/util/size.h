/* SPDX-License-Identifier: Apache-2.0 */
/*
 * size.h - sizes as people write them: "4096", "64K", "8G", "1T" (also
 * "8GB", "8GiB"), to bytes. Header-only so that libarkdb, which links the
 * block library only through its exported calls, parses them the same way.
 */
#ifndef CXLFLASH_UTIL_SIZE_H
#define CXLFLASH_UTIL_SIZE_H

#include <ctype.h>
#include <errno.h>
#include <stdint.h>

/* parse_size() - @s to *@bytes. Return 0, or -EINVAL (garbage, overflow). */
static inline int parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;  /* empty, sign, blank or garbage */
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (tolower((unsigned char)*p)) {
	case 'k': mult = 1ull << 10; p++; break;
	case 'm': mult = 1ull << 20; p++; break;
	case 'g': mult = 1ull << 30; p++; break;
	case 't': mult = 1ull << 40; p++; break;
	default: break;
	}
	/* "8G", "8GB" and "8GiB" all mean 8 << 30; a bare "4096B" is bytes. */
	if (mult > 1 && tolower((unsigned char)p[0]) == 'i' && tolower((unsigned char)p[1]) == 'b')
		p += 2;
	else if (tolower((unsigned char)*p) == 'b')
		p++;
	if (*p)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*bytes = v * mult;
	return 0;
}

#endif
