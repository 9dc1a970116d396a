/* SPDX-License-Identifier: Apache-2.0 */
/*
 * t_daemon.h - start and stop a cxlflashd for a test: its own socket in the
 * test directory, CXLFLASH_SOCKET pointing there, its ready line awaited.
 */
#ifndef CXLFLASH_T_DAEMON_H
#define CXLFLASH_T_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct t_daemon {
	pid_t pid;
	char socket[108];
	char nbd_socket[108];
	unsigned nbd_port;          /* NBD TCP port (ephemeral) */
	char ready[512];            /* the ready line */
};

/* The path of a program in the build's tools/ directory. */
const char *t_tool_path(const char *name);

/*
 * t_daemon_start() - run cxlflashd with @args (NULL-terminated; --socket,
 * --nbd-socket and --nbd-tcp are added) and wait for it to be ready (10 s at
 * most). Sets CXLFLASH_SOCKET for this process and its children.
 * Return: 0, or -1 if it exited or did not get ready (its stderr shows why).
 */
int t_daemon_start(struct t_daemon *d, const char *const *args);
/* t_daemon_start_as() - the same with sockets named after @name
 * (NAME.sock, NAME-nbd.sock), for tests running several daemons, waiting
 * up to @wait_s seconds for the ready line. */
int t_daemon_start_as(struct t_daemon *d, const char *name, unsigned wait_s,
		      const char *const *args);
/* t_daemon_stop() - SIGTERM, then wait: its exit status (128 + signal). */
int t_daemon_stop(struct t_daemon *d);
/* t_daemon_kill() - SIGKILL and reap (a crash, for restart tests). */
void t_daemon_kill(struct t_daemon *d);
/* t_daemon_alive() - still running? */
bool t_daemon_alive(struct t_daemon *d);
/* t_daemon_rss_kb() - VmRSS of the daemon, in KiB (0 if unknown). */
long t_daemon_rss_kb(struct t_daemon *d);
/* t_daemon_fds() - descriptors the daemon has open (-1 if unknown). */
int t_daemon_fds(struct t_daemon *d);
/* t_daemon_status() - `cxlflash status --json` into @out; its exit status. */
int t_daemon_status(struct t_daemon *d, char *out, size_t len);
/* t_daemon_check() - the master's invariants through a LUN connection:
 * 0, or -1 with the violation in @why. @lun: a LUN name the daemon serves. */
int t_daemon_check(const char *lun, char *why, size_t len);
/* t_json_u64() - the number after "key": at its first occurrence at or after @from. */
long long t_json_num(const char *json, const char *key);

#endif
