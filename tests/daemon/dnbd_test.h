/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnbd_test.h - helpers for the tests of cxlflashd's NBD export (legacy
 * mode): URIs of the daemon's export, a program run with stdout and stderr
 * captured together, `cxlflash lun mode` and the status counts. The raw
 * NBD client (nc_*) and nt_run come from tests/nbd/nbd_test.h.
 */
#ifndef CXLFLASH_TESTS_DNBD_TEST_H
#define CXLFLASH_TESTS_DNBD_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/time.h>

#include "../nbd/nbd_test.h"
#include "t_daemon.h"
#include "t_tool.h"

/* "nbd+unix:///NAME?socket=..." of daemon @d's NBD socket. */
static inline const char *dn_unix_uri(const struct t_daemon *d, const char *name)
{
	static char uri[4][512];
	static unsigned slot;
	char *u = uri[slot++ % 4];

	snprintf(u, 512, "nbd+unix:///%s?socket=%s", name, d->nbd_socket);
	return u;
}

/* "nbd://127.0.0.1:PORT/NAME" of daemon @d's NBD TCP listener. */
static inline const char *dn_tcp_uri(const struct t_daemon *d, const char *name)
{
	static char uri[4][256];
	static unsigned slot;
	char *u = uri[slot++ % 4];

	T_ASSERT(d->nbd_port > 0);
	snprintf(u, 256, "nbd://127.0.0.1:%u/%s", d->nbd_port, name);
	return u;
}

/*
 * dn_lun_mode() - `cxlflash lun mode @lun @mode` against daemon @d; what it
 * printed (stdout and stderr) in @out. Return: its exit status.
 */
static inline int dn_lun_mode(const struct t_daemon *d, const char *lun, const char *mode,
			      char *out, size_t len)
{
	return nt_run_all((const char *[]){ t_tool_path("cxlflash"), "lun", "mode", lun, mode,
					     "--socket", d->socket, NULL }, NULL, out, len);
}

/* Where LUN @lun's object starts in a fresh `cxlflash status --json` (a
 * static buffer, valid until the next call). */
static inline const char *dn_lun_json(struct t_daemon *d, const char *lun)
{
	static char out[65536];
	char pat[128];
	const char *p;

	T_EQ(t_daemon_status(d, out, sizeof(out)), 0);
	snprintf(pat, sizeof(pat), "{\"name\":\"%s\"", lun);
	p = strstr(out, pat);
	T_ASSERT(p);
	return p;
}

/* The number after "key": in the status JSON object of LUN @lun. */
static inline long long dn_lun_num(struct t_daemon *d, const char *lun, const char *key)
{
	return t_json_num(dn_lun_json(d, lun), key);
}

/* The LUN's mode in the status JSON: true for superpipe. */
static inline bool dn_lun_superpipe(struct t_daemon *d, const char *lun)
{
	const char *p = strstr(dn_lun_json(d, lun), "\"mode\":\"");

	T_ASSERT(p);
	return !strncmp(p + 8, "superpipe", 9);
}

/* A TCP connection to the daemon's NBD port on loopback, 20 s receive timeout. */
static inline int dn_tcp_connect(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 20 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_ASSERT(fd >= 0);
	T_ASSERT(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The client's half of the fixed newstyle greeting; returns @fd. */
static inline int dn_hello(int fd)
{
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	return fd;
}

#endif
