/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - cxlflashd's LUN list and options, from the command line and
 * from a config file of lines like
 *
 *   lun lun0 file:/var/lib/cxlflash/lun0.img?size=64G allow=uid:1000,gid:100
 *   lun scratch ram:4G allow=all mode=legacy wwid=600a0b80...
 *   socket /run/cxlflash/cxlflashd.sock
 *   socket-mode 0666
 *   nbd-socket /run/cxlflash/nbd.sock
 *   nbd-tcp 127.0.0.1:10809
 *   nbd-max-conns 256
 *   nbd-tls require
 *   nbd-tls-psk /etc/cxlflash/nbd-keys.psk
 *   nbd-tls-user psk:alice alice
 *   quota default contexts=64 chunks=25% connections=128
 *   quota uid:1000 chunks=unlimited
 *   admin-group wheel
 *   takeover yes
 *   takeover-wait 60
 *   lun peer0 rbd:rbd/peer0 standby=yes
 */
#include "daemon/daemon.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/wire.h"

void daemon_config_defaults(struct daemon_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->socket, sizeof(cfg->socket), "%s", wire_socket_path());
	cfg->socket_mode = 0666;
	cfg->nbd = true;
	snprintf(cfg->nbd_socket, sizeof(cfg->nbd_socket), "auto");
	snprintf(cfg->nbd_tcp_addr, sizeof(cfg->nbd_tcp_addr), "127.0.0.1");
	cfg->nbd_tcp_port = 10809;
	cfg->sq_mode = true;
}

int daemon_parse_mode(const char *opt, const char *s, mode_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || end == s || *end || *s == '-' || *s == '+' || v > 0777) {
		fprintf(stderr, "cxlflashd: %s wants an octal mode from 0 to 0777 (e.g. 0660 "
			"or 0666), not '%s'\n", opt, s);
		return -EINVAL;
	}
	*out = (mode_t)v;
	return 0;
}

int daemon_parse_count(const char *opt, const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *s == '+' || v < 1 || v > max) {
		fprintf(stderr, "cxlflashd: %s wants a whole number from 1 to %u, not '%s'\n", opt,
			max, s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* Global NBD limits, named as in the config file (--NAME on the command
 * line). Return 0, -EINVAL (message printed), or 1: not such a name. */
int daemon_nbd_option(struct daemon_config *cfg, const char *name, const char *val)
{
	unsigned secs;
	int rc;

	if (!strcmp(name, "nbd-max-conns"))
		return daemon_parse_count(name, val, 1000000, &cfg->nbd_max_conns);
	if (!strcmp(name, "nbd-max-conns-per-user"))
		return daemon_parse_count(name, val, 1000000, &cfg->nbd_max_conns_per_user);
	if (!strcmp(name, "nbd-max-conns-per-lun"))
		return daemon_parse_count(name, val, 1000000, &cfg->nbd_max_conns_per_lun);
	if (!strcmp(name, "nbd-handshake-timeout")) {
		rc = daemon_parse_count(name, val, 3600, &secs);
		if (!rc)
			cfg->nbd_handshake_timeout_ms = secs * 1000;
		return rc;
	}
	if (!strcmp(name, "nbd-tls")) {
		if (nbd_tls_parse_mode(val, &cfg->nbd_tls)) {
			fprintf(stderr, "cxlflashd: nbd-tls is off, on or require, not '%s'\n", val);
			return -EINVAL;
		}
		if (cfg->nbd_tls != NBD_TLS_OFF && !nbd_tls_available()) {
			fprintf(stderr, "cxlflashd: nbd-tls %s: this cxlflashd was built without "
				"GnuTLS (install libgnutls28-dev and rebuild)\n", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(name, "nbd-tls-certs") || !strcmp(name, "nbd-tls-psk")) {
		char *dst = name[8] == 'c' ? cfg->nbd_tls_certs : cfg->nbd_tls_psk;

		if (strlen(val) >= sizeof(cfg->nbd_tls_certs)) {
			fprintf(stderr, "cxlflashd: %s: path too long\n", name);
			return -EINVAL;
		}
		strcpy(dst, val);
		return 0;
	}
	if (!strcmp(name, "nbd-block-status")) {
		if (strcmp(val, "yes") && strcmp(val, "no")) {
			fprintf(stderr, "cxlflashd: nbd-block-status is yes or no, not '%s'\n", val);
			return -EINVAL;
		}
		cfg->nbd_no_block_status = !strcmp(val, "no");
		return 0;
	}
	if (!strcmp(name, "nbd-tls-verify-peer")) {
		if (strcmp(val, "yes") && strcmp(val, "no")) {
			fprintf(stderr, "cxlflashd: nbd-tls-verify-peer is yes or no, not '%s'\n",
				val);
			return -EINVAL;
		}
		cfg->nbd_tls_verify_peer = !strcmp(val, "yes");
		return 0;
	}
	return 1;
}

/* A user or group by name or number. */
static int name_or_id(const char *s, bool group, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno && v < 0xffffffffu) {
		*out = (unsigned)v;
		return 0;
	}
	if (group) {
		struct group *gr = getgrnam(s);

		if (gr) {
			*out = gr->gr_gid;
			return 0;
		}
	} else {
		struct passwd *pw = getpwnam(s);

		if (pw) {
			*out = pw->pw_uid;
			return 0;
		}
	}
	fprintf(stderr, "cxlflashd: nbd-tls-user: unknown %s '%s'\n", group ? "group" : "user", s);
	return -EINVAL;
}

int daemon_tls_user(struct daemon_config *cfg, const char *id, const char *user)
{
	struct dtls_user *u;
	char buf[1024], *save = NULL, *t;
	unsigned v;

	if ((strncmp(id, "psk:", 4) && strncmp(id, "cn:", 3) && strncmp(id, "dn:", 3)) ||
	    !strchr(id, ':')[1] || strlen(id) >= sizeof(u->id)) {
		fprintf(stderr, "cxlflashd: nbd-tls-user: the identity is psk:NAME, cn:NAME or "
			"dn:DN, not '%s'\n", id);
		return -EINVAL;
	}
	if (cfg->nbd_ntls_users == DAEMON_MAX_TLS_USERS) {
		fprintf(stderr, "cxlflashd: at most %d nbd-tls-user mappings\n",
			DAEMON_MAX_TLS_USERS);
		return -EINVAL;
	}
	u = &cfg->nbd_tls_users[cfg->nbd_ntls_users];
	memset(u, 0, sizeof(*u));
	snprintf(u->id, sizeof(u->id), "%s", id);
	snprintf(buf, sizeof(buf), "%s", user);
	t = strtok_r(buf, ":", &save);
	if (!t || name_or_id(t, false, &v))
		return -EINVAL;
	u->uid = (uid_t)v;
	u->gid = (gid_t)-1;   /* no group unless one is known */
	t = strtok_r(NULL, ":", &save);
	if (t) {
		/* Groups given: the first is its group, all are its groups. */
		for (; t; t = strtok_r(NULL, ":", &save)) {
			if (name_or_id(t, true, &v))
				return -EINVAL;
			if (u->ngroups == DAEMON_TLS_GROUPS) {
				fprintf(stderr, "cxlflashd: nbd-tls-user: at most %d groups\n",
					DAEMON_TLS_GROUPS);
				return -EINVAL;
			}
			if (u->gid == (gid_t)-1)
				u->gid = (gid_t)v;
			u->groups[u->ngroups++] = (gid_t)v;
		}
	} else {
		/* A local user: its group and groups, as at login. */
		struct passwd *pw = getpwuid(u->uid);

		if (pw) {
			int n = DAEMON_TLS_GROUPS;

			u->gid = pw->pw_gid;
			if (getgrouplist(pw->pw_name, pw->pw_gid, u->groups, &n) < 0)
				n = DAEMON_TLS_GROUPS;
			u->ngroups = n;
		}
	}
	cfg->nbd_ntls_users++;
	return 0;
}

int daemon_parse_tcp(struct daemon_config *cfg, const char *s)
{
	const char *colon = strrchr(s, ':');
	const char *p = colon ? colon + 1 : s;
	char *end;
	unsigned long port;

	cfg->nbd_tcp_set = true;
	if (!strcmp(s, "none")) {
		cfg->nbd_tcp_addr[0] = 0;
		return 0;
	}
	errno = 0;
	port = strtoul(p, &end, 10);
	if (errno || end == p || *end || port > 65535 || (colon && colon == s) ||
	    (colon && (size_t)(colon - s) >= sizeof(cfg->nbd_tcp_addr))) {
		fprintf(stderr, "cxlflashd: --nbd-tcp wants [ADDR:]PORT or none, not '%s'\n", s);
		return -EINVAL;
	}
	if (colon)
		snprintf(cfg->nbd_tcp_addr, sizeof(cfg->nbd_tcp_addr), "%.*s", (int)(colon - s), s);
	else if (!cfg->nbd_tcp_addr[0])
		snprintf(cfg->nbd_tcp_addr, sizeof(cfg->nbd_tcp_addr), "127.0.0.1");
	cfg->nbd_tcp_port = (uint16_t)port;
	return 0;
}

int daemon_parse_takeover(struct daemon_config *cfg, const char *s)
{
	if (strcmp(s, "yes") && strcmp(s, "no")) {
		fprintf(stderr, "cxlflashd: takeover is yes or no, not '%s'\n", s);
		return -EINVAL;
	}
	cfg->takeover = !strcmp(s, "yes");
	return 0;
}

static struct dlun_config *find(struct daemon_config *cfg, const char *name, size_t len)
{
	for (unsigned i = 0; i < cfg->nluns; i++)
		if (strlen(cfg->luns[i].name) == len && !strncmp(cfg->luns[i].name, name, len))
			return &cfg->luns[i];
	return NULL;
}

int daemon_add_lun(struct daemon_config *cfg, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct dlun_config *l;
	size_t n = eq ? (size_t)(eq - arg) : 0;

	if (!eq || n == 0 || n >= DAEMON_NAME_MAX || !eq[1]) {
		fprintf(stderr, "cxlflashd: --lun wants NAME=SPEC (e.g. lun0=ram:4G), not '%s'\n",
			arg);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)arg[i]) && !strchr("-_.", arg[i])) {
			fprintf(stderr, "cxlflashd: LUN name '%.*s': use letters, digits, '-', '_', '.'\n",
				(int)n, arg);
			return -EINVAL;
		}
	}
	if (find(cfg, arg, n)) {
		fprintf(stderr, "cxlflashd: LUN '%.*s' given twice\n", (int)n, arg);
		return -EINVAL;
	}
	if (cfg->nluns == DAEMON_MAX_LUNS) {
		fprintf(stderr, "cxlflashd: at most %d LUNs\n", DAEMON_MAX_LUNS);
		return -EINVAL;
	}
	l = &cfg->luns[cfg->nluns++];
	memset(l, 0, sizeof(*l));
	memcpy(l->name, arg, n);
	snprintf(l->spec, sizeof(l->spec), "%s", eq + 1);
	return 0;
}

static int parse_allow(struct dlun_config *l, const char *list)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v;

		if (!strcmp(t, "all")) {
			l->allow_all = true;
		} else if (!strncmp(t, "uid:", 4) || !strncmp(t, "user:", 5)) {
			const char *s = strchr(t, ':') + 1;
			struct passwd *pw;

			v = strtoul(s, &end, 10);
			if (*s && !*end) {
				/* numeric */
			} else if ((pw = getpwnam(s))) {
				v = pw->pw_uid;
			} else {
				fprintf(stderr, "cxlflashd: unknown user '%s'\n", s);
				return -EINVAL;
			}
			if (l->nuids == DAEMON_MAX_ALLOW)
				return -EINVAL;
			l->uids[l->nuids++] = (uid_t)v;
		} else if (!strncmp(t, "gid:", 4) || !strncmp(t, "group:", 6)) {
			const char *s = strchr(t, ':') + 1;
			struct group *gr;

			v = strtoul(s, &end, 10);
			if (*s && !*end) {
				/* numeric */
			} else if ((gr = getgrnam(s))) {
				v = gr->gr_gid;
			} else {
				fprintf(stderr, "cxlflashd: unknown group '%s'\n", s);
				return -EINVAL;
			}
			if (l->ngids == DAEMON_MAX_ALLOW)
				return -EINVAL;
			l->gids[l->ngids++] = (gid_t)v;
		} else {
			fprintf(stderr, "cxlflashd: allow-list entry '%s': use all, uid:N, user:NAME, "
				"gid:N or group:NAME\n", t);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_wwid(struct dlun_config *l, const char *hex)
{
	if (strlen(hex) != 2 * CXLFLASH_WWID_LEN)
		goto bad;
	for (unsigned i = 0; i < CXLFLASH_WWID_LEN; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			goto bad;
		l->wwid[i] = (uint8_t)v;
	}
	l->have_wwid = true;
	return 0;
bad:
	fprintf(stderr, "cxlflashd: a WWID is %d hex digits, not '%s'\n", 2 * CXLFLASH_WWID_LEN,
		hex);
	return -EINVAL;
}

static int apply(struct dlun_config *l, const char *key, const char *val)
{
	if (!strcmp(key, "allow"))
		return parse_allow(l, val);
	if (!strcmp(key, "wwid"))
		return parse_wwid(l, val);
	if (!strcmp(key, "mode")) {
		if (strcmp(val, "legacy") && strcmp(val, "superpipe")) {
			fprintf(stderr, "cxlflashd: mode is legacy or superpipe, not '%s'\n", val);
			return -EINVAL;
		}
		l->legacy = !strcmp(val, "legacy");
		return 0;
	}
	if (!strcmp(key, "nbd-tcp-anonymous")) {
		if (strcmp(val, "yes") && strcmp(val, "no")) {
			fprintf(stderr, "cxlflashd: nbd-tcp-anonymous is yes or no, not '%s'\n", val);
			return -EINVAL;
		}
		l->nbd_tcp_anonymous = !strcmp(val, "yes");
		return 0;
	}
	if (!strcmp(key, "nbd-max-conns"))
		return daemon_parse_count("nbd-max-conns", val, 1000000, &l->nbd_max_conns);
	if (!strcmp(key, "standby")) {
		if (strcmp(val, "yes") && strcmp(val, "no")) {
			fprintf(stderr, "cxlflashd: standby is yes or no, not '%s'\n", val);
			return -EINVAL;
		}
		if (!strcmp(val, "yes") && strncmp(l->spec, "rbd:", 4)) {
			fprintf(stderr, "cxlflashd: LUN %s: standby is for rbd: LUNs (an image another "
				"host may hold), not '%s'\n", l->name, l->spec);
			return -EINVAL;
		}
		l->standby = !strcmp(val, "yes");
		return 0;
	}
	fprintf(stderr, "cxlflashd: unknown LUN option '%s'\n", key);
	return -EINVAL;
}

int daemon_lun_option(struct daemon_config *cfg, const char *opt, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct dlun_config *l = find(cfg, arg, eq ? (size_t)(eq - arg) : strlen(arg));

	if (!l) {
		fprintf(stderr, "cxlflashd: --%s %s: no LUN of that name (give --lun first)\n", opt,
			arg);
		return -EINVAL;
	}
	if (!strcmp(opt, "legacy"))
		return apply(l, "mode", "legacy");
	if (!strcmp(opt, "nbd-tcp-anonymous"))
		return apply(l, "nbd-tcp-anonymous", "yes");
	if (!strcmp(opt, "standby"))
		return apply(l, "standby", "yes");
	if (!eq) {
		fprintf(stderr, "cxlflashd: --%s wants NAME=VALUE\n", opt);
		return -EINVAL;
	}
	if (!strcmp(opt, "nbd-lun-max-conns"))
		return apply(l, "nbd-max-conns", eq + 1);
	return apply(l, opt, eq + 1);
}

int daemon_read_config(struct daemon_config *cfg, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	unsigned lineno = 0;
	int rc = 0;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "cxlflashd: %s: %s\n", path, strerror(errno));
		return rc;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *save = NULL, *w[16];
		int n = 0;

		lineno++;
		line[strcspn(line, "#\n")] = 0;
		for (char *t = strtok_r(line, " \t", &save); t && n < 16; t = strtok_r(NULL, " \t", &save))
			w[n++] = t;
		if (n == 0)
			continue;
		if (!strcmp(w[0], "lun") && n >= 3) {
			char arg[4200];

			snprintf(arg, sizeof(arg), "%s=%s", w[1], w[2]);
			rc = daemon_add_lun(cfg, arg);
			for (int i = 3; !rc && i < n; i++) {
				char *eq = strchr(w[i], '=');

				if (!eq) {
					rc = -EINVAL;
					break;
				}
				*eq = 0;
				rc = apply(&cfg->luns[cfg->nluns - 1], w[i], eq + 1);
			}
		} else if (!strcmp(w[0], "quota") && n >= 3) {
			for (int i = 2; !rc && i < n; i++)
				rc = daemon_quota_rule(cfg, w[1], w[i]);
		} else if (!strcmp(w[0], "admin-group") && n == 2) {
			rc = daemon_admin_group(cfg, w[1]);
		} else if (!strcmp(w[0], "socket") && n == 2) {
			snprintf(cfg->socket, sizeof(cfg->socket), "%s", w[1]);
		} else if (!strcmp(w[0], "socket-mode") && n == 2) {
			rc = daemon_parse_mode("socket-mode", w[1], &cfg->socket_mode);
		} else if (!strcmp(w[0], "nbd-socket") && n == 2) {
			snprintf(cfg->nbd_socket, sizeof(cfg->nbd_socket), "%s",
				 strcmp(w[1], "none") ? w[1] : "");
		} else if (!strcmp(w[0], "nbd-socket-mode") && n == 2) {
			rc = daemon_parse_mode("nbd-socket-mode", w[1], &cfg->nbd_socket_mode);
		} else if (!strcmp(w[0], "nbd-tcp") && n == 2) {
			rc = daemon_parse_tcp(cfg, w[1]);
		} else if ((!strcmp(w[0], "nbd-max-conns") || !strcmp(w[0], "nbd-max-conns-per-user") ||
			    !strcmp(w[0], "nbd-max-conns-per-lun") ||
			    !strcmp(w[0], "nbd-handshake-timeout") ||
			    !strcmp(w[0], "nbd-block-status")) && n == 2) {
			rc = daemon_nbd_option(cfg, w[0], w[1]);
		} else if ((!strcmp(w[0], "nbd-tls") || !strcmp(w[0], "nbd-tls-certs") ||
			    !strcmp(w[0], "nbd-tls-psk") || !strcmp(w[0], "nbd-tls-verify-peer")) &&
			   n == 2) {
			rc = daemon_nbd_option(cfg, w[0], w[1]);
		} else if (!strcmp(w[0], "nbd-tls-user") && n >= 3) {
			/* A DN may hold blanks: the identity is all but the last word. */
			char id[NBD_TLS_ID_MAX + 4] = "";

			for (int i = 1; i < n - 1; i++)
				snprintf(id + strlen(id), sizeof(id) - strlen(id), "%s%s",
					 i > 1 ? " " : "", w[i]);
			rc = daemon_tls_user(cfg, id, w[n - 1]);
		} else if (!strcmp(w[0], "takeover") && n == 2) {
			rc = daemon_parse_takeover(cfg, w[1]);
		} else if (!strcmp(w[0], "takeover-wait") && n == 2) {
			rc = daemon_parse_count("takeover-wait", w[1], 86400, &cfg->takeover_wait_s);
		} else {
			rc = -EINVAL;
		}
		if (rc)
			fprintf(stderr, "cxlflashd: %s:%u: cannot use this line\n", path, lineno);
	}
	fclose(f);
	return rc;
}

void daemon_config_finish(struct daemon_config *cfg)
{
	char dir[sizeof(cfg->socket)];
	const char *base;
	size_t len;

	if (strcmp(cfg->nbd_socket, "auto"))
		return;
	if (cfg->socket[0] == '@') {
		snprintf(cfg->nbd_socket, sizeof(cfg->nbd_socket), "%.90s-nbd", cfg->socket);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->socket);
	base = strrchr(cfg->socket, '/');
	base = base ? base + 1 : cfg->socket;
	if (!strcmp(base, "cxlflashd.sock")) {
		snprintf(cfg->nbd_socket, sizeof(cfg->nbd_socket), "%.90s/nbd.sock", dirname(dir));
		return;
	}
	/* Another control socket: a daemon of its own, so an NBD socket of
	 * its own too (X.sock -> X-nbd.sock), not the first daemon's. */
	len = strlen(cfg->socket);
	if (len > 5 && !strcmp(cfg->socket + len - 5, ".sock"))
		len -= 5;
	snprintf(cfg->nbd_socket, sizeof(cfg->nbd_socket), "%.*s-nbd.sock",
		 (int)(len < 90 ? len : 90), cfg->socket);
}
