/* SPDX-License-Identifier: Apache-2.0 */
/*
 * powercut_cli.c - `cxlflash powercut [--random SEED] LUN`: simulate a power
 * cut on a closed "fault:" LUN (docs/fault.md). Exits 0 after the cut, 1
 * when it could not be done (the LUN is open, not a fault LUN, ...), 2 on
 * bad usage.
 */
#include "admin/admin_cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/powercut.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: cxlflash powercut [--all | --random SEED] LUN\n"
		   "Simulate a power cut on a fault LUN (fault[OPTIONS]:LUN) that no process has\n"
		   "open: every write since its last completed flush is lost (--all, the\n"
		   "default), or a random subset of the blocks they touched, chosen by SEED.\n"
		   "The LUN name must be the one the writer used (it locates the journal).\n");
}

int admin_powercut_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "random", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum be_powercut how = BE_CUT_ALL;
	uint64_t seed = 0;
	char *end;
	int64_t n;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "ar:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			how = BE_CUT_ALL;
			break;
		case 'r':
			errno = 0;
			seed = strtoull(optarg, &end, 0);
			if (errno || !*optarg || *end) {
				fprintf(stderr, "cxlflash powercut: bad seed '%s'\n", optarg);
				return 2;
			}
			how = BE_CUT_RANDOM;
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
	n = lun_powercut(argv[optind], how, seed);
	if (n < 0) {
		fprintf(stderr, "cxlflash powercut: %s: %s\n", argv[optind], strerror((int)-n));
		return 1;
	}
	printf("%s: power cut (%s): %" PRId64 " blocks lost their unflushed writes\n",
	       argv[optind], how == BE_CUT_ALL ? "all" : "random", n);
	return 0;
}
