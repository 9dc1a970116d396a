/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config.c - Description: cxlflashd's configuration: a config file
 * through daemon_read_config() (from a memfd, by its /proc path), and the
 * command-line option parsers (--lun, --allow/--wwid/--legacy, --nbd-tcp,
 * the socket modes, --quota). Every LUN accepted is then parsed as a LUN
 * spec, as daemon_start() does.
 *
 * Input: byte 0 picks the parser (0-3 the file, 4 --lun, 5 a LUN option,
 * 6 --nbd-tcp, 7 a mode, 8 --quota); the rest is the file or the argument. Checks:
 * what a successful parse leaves is NUL-terminated and within its limits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "daemon/daemon.h"
#include "fuzz_util.h"

static struct daemon_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	setenv("CXLFLASH_SOCKET", "@cxlflash-fuzz-config", 1);
	return 0;
}

static void check_config(const struct daemon_config *c)
{
	FUZZ_CHECK(c->nluns <= DAEMON_MAX_LUNS);
	FUZZ_CHECK(memchr(c->socket, 0, sizeof(c->socket)));
	FUZZ_CHECK(memchr(c->nbd_socket, 0, sizeof(c->nbd_socket)));
	FUZZ_CHECK(memchr(c->nbd_tcp_addr, 0, sizeof(c->nbd_tcp_addr)));
	FUZZ_CHECK(c->socket_mode <= 0777 && c->nbd_socket_mode <= 0777);
	for (unsigned i = 0; i < c->nluns; i++) {
		const struct dlun_config *l = &c->luns[i];
		struct be_spec spec;

		FUZZ_CHECK(l->name[0] && memchr(l->name, 0, sizeof(l->name)));
		FUZZ_CHECK(memchr(l->spec, 0, sizeof(l->spec)));
		FUZZ_CHECK(l->nuids <= DAEMON_MAX_ALLOW && l->ngids <= DAEMON_MAX_ALLOW);
		for (unsigned k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(c->luns[k].name, l->name));
		be_parse_spec(l->spec, &spec);
	}
	FUZZ_CHECK(c->nquotas <= DAEMON_MAX_QUOTAS);
	for (unsigned i = 0; i < c->nquotas; i++)
		FUZZ_CHECK(c->quotas[i].chunks_pct <= 100 && c->quotas[i].who <= DQ_GID);
}

static void read_file(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	char path[64];

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (daemon_read_config(&cfg, path) == 0) {
		daemon_config_finish(&cfg);
		check_config(&cfg);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *arg;
	mode_t mode = 0;

	if (size < 1)
		return 0;
	daemon_config_defaults(&cfg);
	if (data[0] < 4) {
		read_file(data + 1, size - 1);
		return 0;
	}
	arg = fuzz_strndup(data + 1, size - 1);
	if (!arg)
		return 0;
	if (data[0] == 8) {
		if (daemon_quota_arg(&cfg, arg) == 0)
			check_config(&cfg);
		free(arg);
		return 0;
	}
	switch (data[0] & 7) {
	case 4:
		if (daemon_add_lun(&cfg, arg) == 0)
			check_config(&cfg);
		break;
	case 5: {
		static const char *const opts[] = { "allow", "wwid", "legacy" };

		FUZZ_CHECK(daemon_add_lun(&cfg, "lun0=ram:1G") == 0);
		if (daemon_lun_option(&cfg, opts[size % 3], arg) == 0)
			check_config(&cfg);
		break;
	}
	case 6:
		if (daemon_parse_tcp(&cfg, arg) == 0)
			check_config(&cfg);
		break;
	case 7:
		if (daemon_parse_mode("socket-mode", arg, &mode) == 0)
			FUZZ_CHECK(mode <= 0777);
		break;
	default:
		read_file(data + 1, size - 1);
		break;
	}
	free(arg);
	return 0;
}
