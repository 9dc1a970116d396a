/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.h - cxlflashd: one master shared by many processes.
 *
 * The daemon owns the LUNs it was given, serves the control API on a Unix
 * socket (server.h; each client's contexts get a DMA area and the AFU's
 * threads here poll them), answers the admin CLI (status, LUN modes, vLUN
 * list) and exports legacy-mode LUNs over NBD.
 *
 * Access: anyone who can reach the socket may ask; a LUN is opened only for
 * root, the daemon's own user, and the uids/gids of its allow-list.
 */
#ifndef CXLFLASH_DAEMON_H
#define CXLFLASH_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cxlflash/cxlflash_ioctl.h>

#include "nbd/nbd_server.h"

#define DAEMON_MAX_LUNS  64
#define DAEMON_MAX_ALLOW 32
#define DAEMON_NAME_MAX  64

struct dlun_config {
	char name[DAEMON_NAME_MAX];
	char spec[4096];
	bool have_wwid;
	uint8_t wwid[CXLFLASH_WWID_LEN];
	bool allow_all;
	unsigned nuids, ngids;
	uid_t uids[DAEMON_MAX_ALLOW];
	gid_t gids[DAEMON_MAX_ALLOW];
	bool legacy;               /* start in legacy mode (exported over NBD) */
	bool nbd_tcp_anonymous;    /* NBD clients over TCP (not identified) may use it */
	unsigned nbd_max_conns;    /* NBD clients at once; 0: daemon's nbd_max_conns_per_lun */
	bool standby;              /* rbd: not opened at start; taken once its holder is gone */
};

/*
 * Tenant quotas (issue 12; docs/daemon.md, "Security model"): per uid,
 * from rules for everyone (default), a group or a uid. Root, the daemon's
 * user and the admin group are exempt unless a uid rule names them.
 */
#define DAEMON_MAX_QUOTAS 64
#define DAEMON_QUOTA_CONTEXTS    128u  /* a quarter of the AFU's 512 */
#define DAEMON_QUOTA_CHUNKS_PCT  50u   /* of each LUN's chunks */
#define DAEMON_QUOTA_CONNECTIONS 256u

enum dquota_who { DQ_DEFAULT, DQ_UID, DQ_GID };

struct dquota {
	enum dquota_who who;
	uint32_t id;               /* the uid or gid */
	bool has_contexts, has_chunks, has_connections, has_iops, has_bw;
	uint64_t contexts;         /* MLIMIT_NONE: unlimited */
	uint64_t chunks;
	unsigned chunks_pct;       /* 1..100: a share of each LUN instead of @chunks */
	uint64_t connections;
	uint64_t iops;             /* commands/s of all the uid's contexts */
	uint64_t bw;               /* bytes/s of all the uid's contexts */
};

/* NBD limit defaults (docs/nbd.md); the server's own are in nbd_server.h. */
#define DAEMON_NBD_MAX_CONNS_PER_LUN 64u

/* A TLS identity ("psk:NAME", "cn:NAME", "dn:DN") served as a local user
 * (nbd-tls-user; docs/nbd.md). */
#define DAEMON_MAX_TLS_USERS 64
#define DAEMON_TLS_GROUPS    16

struct dtls_user {
	char id[NBD_TLS_ID_MAX + 4];
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[DAEMON_TLS_GROUPS];
};

struct daemon_config {
	struct dlun_config luns[DAEMON_MAX_LUNS];
	unsigned nluns;
	char socket[108];
	mode_t socket_mode;
	bool nbd;                  /* serve legacy LUNs over NBD */
	char nbd_socket[108];      /* "" = none */
	mode_t nbd_socket_mode;    /* 0 = as created (umask) */
	char nbd_tcp_addr[64];     /* "" = no TCP */
	uint16_t nbd_tcp_port;     /* 0 = any free port */
	bool nbd_tcp_set;          /* asked for: TCP is opened only then */
	unsigned nbd_max_conns;    /* established NBD connections; 0: server default */
	unsigned nbd_max_conns_per_user;   /* 0: server default */
	unsigned nbd_max_conns_per_lun;    /* 0: DAEMON_NBD_MAX_CONNS_PER_LUN */
	unsigned nbd_handshake_timeout_ms; /* 0: server default */
	bool nbd_no_block_status;  /* no base:allocation (every block reads as data) */
	enum nbd_tls_mode nbd_tls;
	char nbd_tls_certs[4096];  /* "" = none */
	char nbd_tls_psk[4096];    /* "" = none */
	bool nbd_tls_verify_peer;
	struct dtls_user nbd_tls_users[DAEMON_MAX_TLS_USERS];
	unsigned nbd_ntls_users;
	uint64_t max_dma;          /* per context; 0 = default */
	bool takeover;             /* rbd LUNs held by another client: wait, then take them */
	unsigned takeover_wait_s;  /* how long; 0: BE_RBD_TAKEOVER_WAIT_S */
	bool sq_mode;
	struct dquota quotas[DAEMON_MAX_QUOTAS];
	unsigned nquotas;
	bool have_admin_group;
	gid_t admin_group;         /* its members: administrators, quota-exempt */
};

/* config.c */
/* daemon_config_defaults() - socket from $CXLFLASH_SOCKET or the default,
 * NBD on <socket dir>/nbd.sock (see daemon_config_finish); no NBD TCP
 * unless asked (--nbd-tcp; then 127.0.0.1:10809 by default). */
void daemon_config_defaults(struct daemon_config *cfg);
/* daemon_config_finish() - after parsing: the NBD socket beside the
 * control socket unless one was given. */
void daemon_config_finish(struct daemon_config *cfg);
/* daemon_add_lun() - "NAME=SPEC". Return 0 or -EINVAL (message printed). */
int daemon_add_lun(struct daemon_config *cfg, const char *arg);
/* daemon_lun_option() - "NAME=VALUE" for --allow / --wwid / --nbd-lun-max-conns,
 * "NAME" for --legacy / --nbd-tcp-anonymous. */
int daemon_lun_option(struct daemon_config *cfg, const char *opt, const char *arg);
/* daemon_parse_mode() - a socket mode for @opt: octal, at most 0777.
 * Return 0 or -EINVAL (message printed). */
int daemon_parse_mode(const char *opt, const char *s, mode_t *out);
/* daemon_parse_tcp() - "[ADDR:]PORT" or "none" for --nbd-tcp (sets
 * nbd_tcp_set). Return 0 or -EINVAL (message printed). */
int daemon_parse_tcp(struct daemon_config *cfg, const char *s);
/* daemon_parse_count() - a whole number from 1 to @max for @opt. Return 0
 * or -EINVAL (message printed). */
int daemon_parse_count(const char *opt, const char *s, unsigned max, unsigned *out);
/* daemon_nbd_option() - a global NBD option by its config-file name
 * (nbd-max-conns, -per-user, -per-lun, nbd-handshake-timeout SECONDS,
 * nbd-block-status yes|no,
 * nbd-tls MODE, nbd-tls-certs DIR, nbd-tls-psk FILE, nbd-tls-verify-peer
 * yes|no). Return 0, -EINVAL (message printed), or 1 for another name. */
int daemon_nbd_option(struct daemon_config *cfg, const char *name, const char *val);
/* daemon_tls_user() - map TLS identity @id ("psk:NAME", "cn:NAME" or
 * "dn:DN") to @user ("USER[:GROUP...]", names or numbers). Return 0 or
 * -EINVAL (message printed). */
int daemon_tls_user(struct daemon_config *cfg, const char *id, const char *user);
/* daemon_parse_takeover() - "yes"/"no" for the takeover key. Return 0 or
 * -EINVAL (message printed). */
int daemon_parse_takeover(struct daemon_config *cfg, const char *s);
/* daemon_read_config() - a config file (see docs/daemon.md). Return 0 or -errno. */
int daemon_read_config(struct daemon_config *cfg, const char *path);

/* quota.c */
/* daemon_quota_rule() - @who (default, uid:N, user:NAME, gid:N,
 * group:NAME) and one KEY=VALUE (contexts=N, chunks=N or N%,
 * connections=N; N may be "unlimited"). Return 0 or -EINVAL (message
 * printed). */
int daemon_quota_rule(struct daemon_config *cfg, const char *who, const char *kv);
/* daemon_quota_arg() - --quota WHO:KEY=VALUE[,KEY=VALUE...]. */
int daemon_quota_arg(struct daemon_config *cfg, const char *arg);
/* daemon_admin_group() - --admin-group / admin-group: a group name or gid. */
int daemon_admin_group(struct daemon_config *cfg, const char *name);
struct wire_cred;
struct mlimits;
/* daemon_is_admin() - root, the daemon's user, or in the admin group. */
bool daemon_is_admin(const struct daemon_config *cfg, const struct wire_cred *cr);
/* daemon_limits() - the quotas of @cr's uid under @cfg's rules. */
void daemon_limits(const struct daemon_config *cfg, const struct wire_cred *cr,
		   struct mlimits *out);
/* daemon_in_group() - is @gid @pid's group or among its supplementary
 * groups (/proc)? */
bool daemon_in_group(pid_t pid, gid_t primary, gid_t gid);

/* daemon.c */
struct cxlfd;
int daemon_start(const struct daemon_config *cfg, struct cxlfd **out);
/* daemon_describe() - where it listens, one line (for the ready message). */
void daemon_describe(struct cxlfd *d, char *buf, size_t len);
void daemon_stop(struct cxlfd *d);

#endif /* CXLFLASH_DAEMON_H */
