/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_lunspec.c - Description: LUN names ("ram:4G", "file:/p?size=8G&ro",
 * "fault[wcache,journal=J]:INNER", "rbd:POOL/IMAGE?...", plain paths)
 * through be_parse_spec(),
 * and sizes through parse_size() (LUN specs, CXLFLASH_KV_CACHE).
 *
 * Input: the text of one LUN name (a NUL ends it early). Checks beyond
 * "no crash": a parsed spec is NUL-terminated within its fields, a ram or
 * null spec has a non-zero size in whole 4 KiB blocks, a fault spec is
 * flagged, and parse_size() agrees with be_parse_size().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "fuzz_util.h"
#include "util/size.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = fuzz_strndup(data, size);
	struct be_spec spec;
	uint64_t a = 0, b = 0;
	int ra, rb;

	if (!name)
		return 0;
	if (be_parse_spec(name, &spec) == 0) {
		FUZZ_CHECK(memchr(spec.kind, 0, sizeof(spec.kind)) != NULL);
		FUZZ_CHECK(memchr(spec.path, 0, sizeof(spec.path)) != NULL);
		FUZZ_CHECK(memchr(spec.fault.journal, 0, sizeof(spec.fault.journal)) != NULL);
		if (!strcmp(spec.kind, "ram") || !strcmp(spec.kind, "null"))
			FUZZ_CHECK(spec.size && spec.size % BE_BLOCK_SIZE == 0);
		else
			FUZZ_CHECK((!strcmp(spec.kind, "file") && spec.path[0]) ||
				   !strcmp(spec.kind, "rbd"));
		if (!strncmp(name, "fault:", 6) || !strncmp(name, "fault[", 6))
			FUZZ_CHECK(spec.fault.on);
	}
	ra = parse_size(name, &a);
	rb = be_parse_size(name, &b);
	FUZZ_CHECK(ra == rb && a == b);
	free(name);
	return 0;
}
