/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arkdb-check - verify a durable key/value store (libarkdb) offline: its
 * superblocks, checkpoint and log, and every value against its checksum.
 * Exit 0 when the store is sound, 1 when it is damaged, 2 when it could
 * not be checked (no store, the LUN busy or missing, bad usage).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv/kv_internal.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: arkdb-check [-v] LUN\n"
		"Verify the durable arkdb store on LUN (what ark_create was given: a file,\n"
		"file:PATH, a LUN cxlflashd serves) while no program has it open: the\n"
		"superblocks, the checkpoint, the log after it, and every key's value\n"
		"against its checksum. Prints what it finds; a damaged block is named.\n"
		"\n"
		"  -v, --verbose   progress every 100,000 keys (on stderr)\n"
		"  -h, --help      this help\n"
		"\n"
		"Exit status: 0 sound, 1 damaged, 2 not checked.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool verbose = false;
	int c;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	return kv_check(argv[optind], stdout, verbose);
}
