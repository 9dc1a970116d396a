/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_cli.c - the admin subcommands that talk to cxlflashd over its
 * control socket (wire.h admin requests). Each exits 0 on success, 1 when
 * the daemon refused or is not running (with a message saying which), 2 on
 * bad usage.
 */
#include "admin/admin_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/wire.h"

struct admin_opts {
	const char *socket;
	bool json;
};

static int parse_common(int argc, char **argv, struct admin_opts *o, void (*usage)(FILE *))
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->socket = wire_socket_path();
	o->json = false;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 's': o->socket = optarg; break;
		case 'j': o->json = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	return 0;
}

static int connect_daemon(const struct admin_opts *o)
{
	int s = wire_connect(o->socket);

	if (s == -ENOENT || s == -ECONNREFUSED)
		fprintf(stderr, "cxlflash: cxlflashd is not running (nothing answers on %s; "
			"start it, or give --socket / CXLFLASH_SOCKET)\n", o->socket);
	else if (s < 0)
		fprintf(stderr, "cxlflash: cannot reach cxlflashd on %s: %s\n", o->socket,
			strerror(-s));
	return s;
}

/* Send one admin request and print the text reply's parts. Return the
 * daemon's status (0 or -errno), or -errno of the transport. */
static int request(int s, uint16_t op, uint64_t req, const char *payload, FILE *out)
{
	struct wire_msg h = { .op = op, .request = req };
	char buf[WIRE_MAX_PAYLOAD + 1];
	int rc = wire_send(s, &h, payload, payload ? strlen(payload) : 0, -1);

	if (rc)
		return rc;
	do {
		rc = wire_recv(s, &h, buf, sizeof(buf) - 1, NULL, NULL);
		if (rc)
			return rc;
		fwrite(buf, 1, h.len, out);
	} while (h.more);
	return h.status;
}

/* A STATUS request (@what: WIRE_STATUS_* besides JSON) printed on stdout.
 * Return: the exit status. */
static int print_status(const struct admin_opts *o, uint64_t what, const char *cmd)
{
	int s = connect_daemon(o), rc;

	if (s < 0)
		return 1;
	rc = request(s, WIRE_OP_STATUS, what | (o->json ? WIRE_STATUS_JSON : 0), NULL, stdout);
	close(s);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, strerror(-rc));
		return 1;
	}
	return 0;
}

static void status_usage(FILE *f)
{
	fprintf(f, "Usage: cxlflash status [--json] [--socket PATH]\n"
		   "Show cxlflashd's LUNs (name, WWID, legacy/superpipe mode, access mode,\n"
		   "users, opens, NBD clients, size, chunks and free chunks), its contexts and\n"
		   "every open resource handle (physical and virtual LUNs).\n");
}

int admin_status_main(int argc, char **argv)
{
	struct admin_opts o;

	if (parse_common(argc, argv, &o, status_usage))
		return 2;
	return print_status(&o, 0, "cxlflash status");
}

static void vlun_usage(FILE *f)
{
	fprintf(f, "Usage: cxlflash vlun list [--json] [--socket PATH]\n"
		   "List the open resource handles: context, owner pid, handle, physical or\n"
		   "virtual, LUN, chunks and size in 4 KiB blocks.\n");
}

int admin_vlun_main(int argc, char **argv)
{
	struct admin_opts o;

	if (argc < 2 || strcmp(argv[1], "list")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			vlun_usage(stdout);
			return 0;
		}
		vlun_usage(stderr);
		return 2;
	}
	if (parse_common(argc - 1, argv + 1, &o, vlun_usage))
		return 2;
	return print_status(&o, WIRE_STATUS_VLUNS, "cxlflash vlun list");
}

static void lun_usage(FILE *f)
{
	fprintf(f, "Usage: cxlflash lun mode LUN legacy|superpipe [--json] [--socket PATH]\n"
		   "Switch a LUN (its name or its WWID in hex) between legacy mode (an ordinary\n"
		   "disk, exported over NBD) and superpipe mode (contexts and virtual LUNs), as\n"
		   "DK_CXLFLASH_MANAGE_LUN does. Refused with EBUSY while the LUN is in use in\n"
		   "the mode it leaves. Needs root.\n");
}

int admin_lun_main(int argc, char **argv)
{
	struct admin_opts o;
	const char *lun, *mode;
	char msg[WIRE_MAX_PAYLOAD + 1] = "";
	FILE *mf;
	int s, rc;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		lun_usage(stdout);
		return 0;
	}
	if (argc < 4 || strcmp(argv[1], "mode")) {
		lun_usage(stderr);
		return 2;
	}
	lun = argv[2];
	mode = argv[3];
	if (strcmp(mode, "legacy") && strcmp(mode, "superpipe")) {
		fprintf(stderr, "cxlflash lun mode: the mode is legacy or superpipe, not '%s'\n", mode);
		return 2;
	}
	if (parse_common(argc - 3, argv + 3, &o, lun_usage))
		return 2;
	s = connect_daemon(&o);
	if (s < 0)
		return 1;
	mf = fmemopen(msg, sizeof(msg) - 1, "w");
	rc = request(s, WIRE_OP_LUN_MODE, !strcmp(mode, "superpipe"), lun, mf ? mf : stderr);
	if (mf)
		fclose(mf);
	close(s);
	if (o.json) {
		printf("{\"lun\":\"%s\",\"mode\":\"%s\",\"ok\":%s,\"errno\":%d,\"message\":\"%s\"}\n",
		       lun, mode, rc ? "false" : "true", rc < 0 ? -rc : 0, msg);
	} else if (rc) {
		fprintf(stderr, "cxlflash lun mode: %s: %s\n", lun, msg[0] ? msg : strerror(-rc));
	} else if (msg[0]) {
		printf("%s\n", msg);   /* e.g. it was in that mode already */
	} else {
		printf("LUN %s is in %s mode\n", lun, mode);
	}
	return rc ? 1 : 0;
}
