/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cxlflash.c - the admin command line: `cxlflash SUBCOMMAND [args]`. Each
 * subcommand lives in its own file and is one entry of the table below.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_cli.h"
#include "nbd/nbd_cli.h"

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);   /* argv[0] is the subcommand */
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "status", admin_status_main, "cxlflashd's LUNs, modes, contexts, vLUNs and chunks" },
	{ "lun", admin_lun_main, "lun mode LUN legacy|superpipe: switch a LUN (MANAGE_LUN)" },
	{ "vlun", admin_vlun_main, "vlun list: the open resource handles (virtual and physical)" },
	{ "nbd", nbd_cli_main, "serve a LUN over NBD in the foreground (legacy mode)" },
	{ "powercut", admin_powercut_main, "simulate a power cut on a closed fault: LUN" },
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: cxlflash SUBCOMMAND [OPTIONS] [ARGS]\n"
		   "Administer CAPI Flash LUNs.\n\nSubcommands:\n");
	for (size_t i = 0; i < NSUB; i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\n`cxlflash SUBCOMMAND --help` describes each one.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NSUB; i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "cxlflash: unknown subcommand '%s' (try --help)\n", argv[1]);
	return 2;
}
