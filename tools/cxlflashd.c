/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cxlflashd - share CAPI Flash LUNs between processes through the superpipe.
 * See docs/daemon.md; `cxlflashd --help` for the options.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "daemon/daemon.h"
#include "nbd/nbd_server.h"
#include "util/log.h"

static bool g_syslog;   /* --syslog took effect */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cxlflashd [OPTIONS] --lun NAME=SPEC [--lun NAME=SPEC ...]\n"
		"Serve LUNs to many processes: each gets its own superpipe contexts and\n"
		"virtual LUNs, isolated from the others. Runs in the foreground until\n"
		"SIGTERM or SIGINT, then detaches every client and flushes the LUNs.\n"
		"\n"
		"LUNs:\n"
		"  -l, --lun NAME=SPEC     serve SPEC as NAME. SPEC: ram:SIZE, file:PATH[?size=SIZE]\n"
		"                          (created at SIZE if absent) or a path to a file or\n"
		"                          block device; SIZE takes K, M, G, T\n"
		"  -a, --allow NAME=LIST   who may open NAME besides root and the daemon's user:\n"
		"                          all, uid:N, user:NAME, gid:N, group:NAME (comma-separated)\n"
		"  -w, --wwid NAME=HEX     the LUN's 32-hex-digit WWID (default: kept in the file's\n"
		"                          user.cxlflash.wwid attribute, from the image's ids for\n"
		"                          rbd, random for memory)\n"
		"  -L, --legacy NAME       start NAME in legacy mode (exported over NBD)\n"
		"      --nbd-tcp-anonymous NAME  NBD clients over TCP (not identified) may use\n"
		"                          NAME; by default TCP clients are refused every LUN\n"
		"      --nbd-lun-max-conns NAME=N  NBD clients of NAME at once (default:\n"
		"                          --nbd-max-conns-per-lun)\n"
		"  -c, --config FILE       read LUNs and options from FILE (docs/daemon.md)\n"
		"\n"
		"Listening:\n"
		"  -s, --socket PATH       control socket (default $CXLFLASH_SOCKET, its first\n"
		"                          if it lists several, or %s)\n"
		"  -m, --socket-mode OCT   its permissions, octal up to 0777 (default 0666; the\n"
		"                          allow-lists decide)\n"
		"      --nbd-socket PATH   NBD on a Unix socket (default: nbd.sock beside the\n"
		"                          control socket; 'none' to disable)\n"
		"      --nbd-socket-mode OCT  its permissions (default: as created, by the umask);\n"
		"                          its clients are identified and held to the allow-lists\n"
		"      --nbd-tcp [ADDR:]PORT  NBD on TCP at [ADDR:]PORT (ADDR default 127.0.0.1,\n"
		"                          port 0 picks a free one). Off unless given; its clients\n"
		"                          are not identified (see --nbd-tcp-anonymous) unless\n"
		"                          TLS maps them to a user (--nbd-tls-user)\n"
		"      --nbd-tls MODE      TLS on the NBD sockets: off (default), on (offered)\n"
		"                          or require (plain clients refused)\n"
		"      --nbd-tls-certs DIR  X.509: DIR/server-cert.pem, server-key.pem,\n"
		"                          ca-cert.pem, ca-crl.pem (optional; qemu's names)\n"
		"      --nbd-tls-psk FILE  pre-shared keys: psktool's username:hexkey lines\n"
		"      --nbd-tls-verify-peer  TLS clients must show a certificate the CA signed\n"
		"      --nbd-tls-user IDENTITY=USER[:GROUP...]  serve a TLS client proven as\n"
		"                          IDENTITY (psk:NAME, cn:NAME, dn:DN) as that local\n"
		"                          user: the LUNs whose allow-lists admit it\n"
		"      --nbd-max-conns N   NBD connections at once, all LUNs (default %u)\n"
		"      --nbd-max-conns-per-user N  per uid; all TCP clients are one (default %u)\n"
		"      --nbd-max-conns-per-lun N   per LUN (default %u)\n"
		"      --nbd-handshake-timeout SEC  an NBD client must be done negotiating\n"
		"                          within SEC seconds (default %u)\n"
		"      --nbd-no-block-status  offer no block status (base:allocation): NBD\n"
		"                          clients see every block as data\n"
		"      --no-nbd            no NBD server\n"
		"\n"
		"Tenant quotas (per uid; root, the daemon's user and --admin-group exempt):\n"
		"      --quota WHO:KEY=VALUE[,KEY=VALUE...]  WHO: default, uid:N, user:NAME,\n"
		"                          gid:N, group:NAME. KEY: contexts (attached contexts,\n"
		"                          default %u), chunks (vLUN chunks per LUN, N or N%%,\n"
		"                          default %u%%), connections (control connections,\n"
		"                          default %u), iops (commands/s of all the uid's\n"
		"                          contexts) and bw (their bytes/s: N, NK, NM, NG,\n"
		"                          optionally /s), both default none; VALUE may be\n"
		"                          'unlimited'. A request over a quota fails with\n"
		"                          EDQUOT; a tenant over its rate is delayed, not failed\n"
		"      --admin-group GROUP  members administer the daemon: quota-exempt (unless\n"
		"                          a uid: quota names them) and see every tenant\n"
		"Ceph RBD LUNs (docs/scale-out.md):\n"
		"      --takeover          an rbd image whose exclusive lock another client holds\n"
		"                          is waited for: once that holder is gone (its watch on\n"
		"                          the image expired) it is blocklisted, its lock broken\n"
		"                          and the image taken. Without it such a LUN is refused,\n"
		"                          naming the holder, and cxlflashd does not start\n"
		"      --takeover-wait SEC how long --takeover waits for a live holder to go\n"
		"                          (default %u)\n"
		"      --standby NAME      NAME (an rbd: LUN) is another host's until that host\n"
		"                          is gone: cxlflashd starts without it, and a thread\n"
		"                          takes the image over (as --takeover does) once its\n"
		"                          holder is gone, however long that takes; then NAME\n"
		"                          is served. A free image is taken at once\n"
		"\n"
		"Other:\n"
		"      --max-dma SIZE      largest DMA area per context, and largest buffer\n"
		"                          area (cblk_dma_alloc) a client registers (default 1G)\n"
		"      --ioarrin           contexts use the IOARRIN mailbox, not the SQ\n"
		"      --syslog            log to syslog instead of stderr\n"
		"  -v, --verbose           log requests (info level)\n"
		"  -h, --help              this text\n"
		"\n"
		"When ready it prints one line, 'cxlflashd: ready socket=... luns=N ...'.\n",
		"/run/cxlflash/cxlflashd.sock", NBD_DEFAULT_MAX_CONNS, NBD_DEFAULT_MAX_CONNS_PER_USER,
		DAEMON_NBD_MAX_CONNS_PER_LUN, NBD_DEFAULT_HANDSHAKE_MS / 1000,
		DAEMON_QUOTA_CONTEXTS, DAEMON_QUOTA_CHUNKS_PCT, DAEMON_QUOTA_CONNECTIONS,
		BE_RBD_TAKEOVER_WAIT_S);
}

static int parse_args(int argc, char **argv, struct daemon_config *cfg)
{
	static const struct option opts[] = {
		{ "lun", required_argument, NULL, 'l' },
		{ "allow", required_argument, NULL, 'a' },
		{ "wwid", required_argument, NULL, 'w' },
		{ "legacy", required_argument, NULL, 'L' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "socket-mode", required_argument, NULL, 'm' },
		{ "nbd-socket", required_argument, NULL, 1 },
		{ "nbd-tcp", required_argument, NULL, 2 },
		{ "no-nbd", no_argument, NULL, 3 },
		{ "max-dma", required_argument, NULL, 4 },
		{ "ioarrin", no_argument, NULL, 5 },
		{ "syslog", no_argument, NULL, 6 },
		{ "nbd-socket-mode", required_argument, NULL, 7 },
		{ "nbd-tcp-anonymous", required_argument, NULL, 8 },
		{ "nbd-lun-max-conns", required_argument, NULL, 9 },
		{ "nbd-max-conns", required_argument, NULL, 10 },
		{ "nbd-max-conns-per-user", required_argument, NULL, 11 },
		{ "nbd-max-conns-per-lun", required_argument, NULL, 12 },
		{ "nbd-handshake-timeout", required_argument, NULL, 13 },
		{ "nbd-tls", required_argument, NULL, 14 },
		{ "nbd-tls-certs", required_argument, NULL, 15 },
		{ "nbd-tls-psk", required_argument, NULL, 16 },
		{ "nbd-tls-verify-peer", no_argument, NULL, 17 },
		{ "nbd-tls-user", required_argument, NULL, 18 },
		{ "quota", required_argument, NULL, 19 },
		{ "admin-group", required_argument, NULL, 20 },
		{ "takeover", no_argument, NULL, 21 },
		{ "takeover-wait", required_argument, NULL, 22 },
		{ "nbd-no-block-status", no_argument, NULL, 23 },
		{ "standby", required_argument, NULL, 24 },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, rc = 0;

	while (!rc && (ch = getopt_long(argc, argv, "l:a:w:L:c:s:m:vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': rc = daemon_add_lun(cfg, optarg); break;
		case 'a': rc = daemon_lun_option(cfg, "allow", optarg); break;
		case 'w': rc = daemon_lun_option(cfg, "wwid", optarg); break;
		case 'L': rc = daemon_lun_option(cfg, "legacy", optarg); break;
		case 'c': rc = daemon_read_config(cfg, optarg); break;
		case 's': snprintf(cfg->socket, sizeof(cfg->socket), "%s", optarg); break;
		case 'm': rc = daemon_parse_mode("--socket-mode", optarg, &cfg->socket_mode); break;
		case 7:
			rc = daemon_parse_mode("--nbd-socket-mode", optarg, &cfg->nbd_socket_mode);
			break;
		case 1:
			snprintf(cfg->nbd_socket, sizeof(cfg->nbd_socket), "%s",
				 strcmp(optarg, "none") ? optarg : "");
			break;
		case 2: rc = daemon_parse_tcp(cfg, optarg); break;
		case 8: rc = daemon_lun_option(cfg, "nbd-tcp-anonymous", optarg); break;
		case 9: rc = daemon_lun_option(cfg, "nbd-lun-max-conns", optarg); break;
		case 10: rc = daemon_nbd_option(cfg, "nbd-max-conns", optarg); break;
		case 11: rc = daemon_nbd_option(cfg, "nbd-max-conns-per-user", optarg); break;
		case 12: rc = daemon_nbd_option(cfg, "nbd-max-conns-per-lun", optarg); break;
		case 13: rc = daemon_nbd_option(cfg, "nbd-handshake-timeout", optarg); break;
		case 23: rc = daemon_nbd_option(cfg, "nbd-block-status", "no"); break;
		case 14: rc = daemon_nbd_option(cfg, "nbd-tls", optarg); break;
		case 15: rc = daemon_nbd_option(cfg, "nbd-tls-certs", optarg); break;
		case 16: rc = daemon_nbd_option(cfg, "nbd-tls-psk", optarg); break;
		case 17: rc = daemon_nbd_option(cfg, "nbd-tls-verify-peer", "yes"); break;
		case 18: {
			/* IDENTITY=USER: a DN holds '=', a user spec does not. */
			char *eq = strrchr(optarg, '='), id[NBD_TLS_ID_MAX + 4];

			if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(id)) {
				fprintf(stderr, "cxlflashd: --nbd-tls-user wants IDENTITY=USER[:GROUP...], "
					"not '%s'\n", optarg);
				rc = -EINVAL;
				break;
			}
			snprintf(id, sizeof(id), "%.*s", (int)(eq - optarg), optarg);
			rc = daemon_tls_user(cfg, id, eq + 1);
			break;
		}
		case 19: rc = daemon_quota_arg(cfg, optarg); break;
		case 20: rc = daemon_admin_group(cfg, optarg); break;
		case 21: cfg->takeover = true; break;
		case 24: rc = daemon_lun_option(cfg, "standby", optarg); break;
		case 22:
			rc = daemon_parse_count("--takeover-wait", optarg, 86400,
						&cfg->takeover_wait_s);
			break;
		case 3: cfg->nbd = false; break;
		case 4:
			if (be_parse_size(optarg, &cfg->max_dma))
				rc = -EINVAL;
			break;
		case 5: cfg->sq_mode = false; break;
		case 6:
			if (log_to_syslog("cxlflashd") == 0)
				g_syslog = true;
			else
				fprintf(stderr, "cxlflashd: --syslog: %s is missing (no syslog "
					"daemon?); logging to stderr\n", LOG_SYSLOG_SOCKET);
			break;
		case 'v': log_set_level(LOG_INFO); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (!rc && optind < argc) {
		fprintf(stderr, "cxlflashd: unexpected argument '%s' (try --help)\n", argv[optind]);
		rc = -EINVAL;
	}
	if (!rc && cfg->nluns == 0) {
		fprintf(stderr, "cxlflashd: no LUN given (--lun NAME=SPEC; try --help)\n");
		rc = -EINVAL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	static struct daemon_config cfg;
	struct cxlfd *d;
	char where[512];
	sigset_t set;
	int sig, rc;

	log_set_ident("cxlflashd");
	be_file_make_dirs(true);   /* e.g. /var/lib/cxlflash on a fresh system */
	daemon_config_defaults(&cfg);
	if (parse_args(argc, argv, &cfg))
		return 2;
	daemon_config_finish(&cfg);
	/* Each control connection is a descriptor, and idle ones cost
	 * nothing else: take the hard limit, not the usual soft 1024. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	/* Signals go to sigwait() below, never to a worker thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (cfg.socket[0] != '@') {
		char dir[sizeof(cfg.socket)], *slash;

		snprintf(dir, sizeof(dir), "%s", cfg.socket);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = 0;
			mkdir(dir, 0755); /* /run/cxlflash on a fresh boot */
		}
	}
	rc = daemon_start(&cfg, &d);
	if (rc) {
		fprintf(stderr, "cxlflashd: cannot start: %s\n", strerror(-rc));
		return 1;
	}
	daemon_describe(d, where, sizeof(where));
	printf("cxlflashd: ready %s\n", where);
	fflush(stdout);
	if (g_syslog)   /* on a terminal the line above says it already */
		log_notice("ready: %s", where);
	do {
		sig = 0;
		sigwait(&set, &sig);
		if (sig == SIGHUP)
			log_notice("SIGHUP: nothing to reload (restart to change LUNs)");
	} while (sig == SIGHUP);
	log_notice("signal %d: detaching clients and stopping", sig);
	daemon_stop(d);
	return 0;
}
