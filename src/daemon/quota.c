/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quota.c - cxlflashd's tenant quotas: the rules (config lines
 *
 *   quota default contexts=64 chunks=25% connections=128
 *   quota group:staff chunks=75%
 *   quota uid:1000 contexts=unlimited
 *   quota user:batch iops=5000 bw=200M/s
 *   admin-group wheel
 *
 * or --quota WHO:KEY=VALUE,... and --admin-group), and what they give one
 * caller (struct mlimits, which the master and the server enforce).
 *
 * For each quota a caller gets: its uid's rule if that sets it, else the
 * first group rule (in the order given) of a group it is in that sets it,
 * else the default rule's, else the built-in default. Root, the daemon's
 * own user and members of the admin group are exempt from everything but
 * a uid rule that names them.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master/master.h"
#include "server/wire.h"

/* A number, or "unlimited"; with @pct, also "N%" (1..100). */
static int parse_value(const char *key, const char *val, uint64_t max, bool pct, uint64_t *out,
		       unsigned *out_pct)
{
	char *end;
	unsigned long long v;

	if (out_pct)
		*out_pct = 0;
	if (!strcmp(val, "unlimited")) {
		*out = MLIMIT_NONE;
		return 0;
	}
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || end == val || *val == '-' || *val == '+')
		goto bad;
	if (pct && !strcmp(end, "%")) {
		if (v < 1 || v > 100)
			goto bad;
		*out_pct = (unsigned)v;
		*out = 0;
		return 0;
	}
	if (*end || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "cxlflashd: quota %s wants a whole number up to %llu%s or 'unlimited', "
		"not '%s'\n", key, (unsigned long long)max, pct ? ", a percentage (1%..100%)" : "",
		val);
	return -EINVAL;
}

/* A rate in bytes/s: N[K|M|G|T][/s] (powers of 1024), or "unlimited". */
static int parse_bw(const char *val, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!strcmp(val, "unlimited")) {
		*out = MLIMIT_NONE;
		return 0;
	}
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || end == val || *val == '-' || *val == '+' || v == 0)
		goto bad;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	default: break;
	}
	if (*end && strcmp(end, "/s"))
		goto bad;
	if (v > (UINT32_MAX * 1024ull) >> shift)
		goto bad;
	*out = (uint64_t)v << shift;
	return 0;
bad:
	fprintf(stderr, "cxlflashd: quota bw wants bytes per second (N, NK, NM, NG or NT, "
		"optionally with /s; at least 1) or 'unlimited', not '%s'\n", val);
	return -EINVAL;
}

static int parse_who(const char *who, enum dquota_who *kind, uint32_t *id)
{
	const char *colon = strchr(who, ':');
	const char *name = colon ? colon + 1 : "";
	char *end;
	unsigned long v;

	if (!strcmp(who, "default")) {
		*kind = DQ_DEFAULT;
		*id = 0;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (!strncmp(who, "uid:", 4) || !strncmp(who, "user:", 5)) {
		struct passwd *pw;

		*kind = DQ_UID;
		if (*name && !*end && !errno && v <= UINT32_MAX) {
			*id = (uint32_t)v;
			return 0;
		}
		if (*name && (pw = getpwnam(name))) {
			*id = pw->pw_uid;
			return 0;
		}
	} else if (!strncmp(who, "gid:", 4) || !strncmp(who, "group:", 6)) {
		struct group *gr;

		*kind = DQ_GID;
		if (*name && !*end && !errno && v <= UINT32_MAX) {
			*id = (uint32_t)v;
			return 0;
		}
		if (*name && (gr = getgrnam(name))) {
			*id = gr->gr_gid;
			return 0;
		}
	}
	fprintf(stderr, "cxlflashd: quota for '%s': use default, uid:N, user:NAME, gid:N or "
		"group:NAME (of a user or group that exists)\n", who);
	return -EINVAL;
}

int daemon_quota_rule(struct daemon_config *cfg, const char *who, const char *kv)
{
	const char *eq = strchr(kv, '=');
	struct dquota *q = NULL;
	enum dquota_who kind;
	size_t klen = eq ? (size_t)(eq - kv) : 0;
	uint32_t id;
	int rc = parse_who(who, &kind, &id);

	if (rc)
		return rc;
	for (unsigned i = 0; i < cfg->nquotas && !q; i++)
		if (cfg->quotas[i].who == kind && cfg->quotas[i].id == id)
			q = &cfg->quotas[i];
	if (!q) {
		if (cfg->nquotas == DAEMON_MAX_QUOTAS) {
			fprintf(stderr, "cxlflashd: at most %d quota rules\n", DAEMON_MAX_QUOTAS);
			return -EINVAL;
		}
		q = &cfg->quotas[cfg->nquotas++];
		memset(q, 0, sizeof(*q));
		q->who = kind;
		q->id = id;
	}
	if (eq && klen == 8 && !strncmp(kv, "contexts", 8)) {
		rc = parse_value("contexts", eq + 1, 100000, false, &q->contexts, NULL);
		q->has_contexts = !rc;
	} else if (eq && klen == 6 && !strncmp(kv, "chunks", 6)) {
		rc = parse_value("chunks", eq + 1, UINT32_MAX, true, &q->chunks, &q->chunks_pct);
		q->has_chunks = !rc;
	} else if (eq && klen == 11 && !strncmp(kv, "connections", 11)) {
		rc = parse_value("connections", eq + 1, 1000000, false, &q->connections, NULL);
		q->has_connections = !rc;
	} else if (eq && klen == 4 && !strncmp(kv, "iops", 4)) {
		rc = parse_value("iops", eq + 1, 100000000, false, &q->iops, NULL);
		if (!rc && q->iops == 0) {
			fprintf(stderr, "cxlflashd: quota iops must be at least 1\n");
			rc = -EINVAL;
		}
		q->has_iops = !rc;
	} else if (eq && klen == 2 && !strncmp(kv, "bw", 2)) {
		rc = parse_bw(eq + 1, &q->bw);
		q->has_bw = !rc;
	} else {
		fprintf(stderr, "cxlflashd: quota '%s': use contexts=N, chunks=N or N%%, "
			"connections=N, iops=N, bw=BYTES/s (N may be unlimited)\n", kv);
		rc = -EINVAL;
	}
	return rc;
}

int daemon_quota_arg(struct daemon_config *cfg, const char *arg)
{
	const char *eq = strchr(arg, '='), *colon;
	char who[256], list[1024], *save = NULL;
	int rc = 0;

	/* WHO ends at the last ':' before the first '='. */
	colon = NULL;
	for (const char *p = arg; eq && p < eq; p++)
		if (*p == ':')
			colon = p;
	if (!eq || !colon || (size_t)(colon - arg) >= sizeof(who) || strlen(colon) >= sizeof(list)) {
		fprintf(stderr, "cxlflashd: --quota wants WHO:KEY=VALUE[,KEY=VALUE...] (e.g. "
			"default:contexts=64,chunks=25%% or uid:1000:connections=16), not '%s'\n", arg);
		return -EINVAL;
	}
	snprintf(who, sizeof(who), "%.*s", (int)(colon - arg), arg);
	snprintf(list, sizeof(list), "%s", colon + 1);
	for (char *t = strtok_r(list, ",", &save); !rc && t; t = strtok_r(NULL, ",", &save))
		rc = daemon_quota_rule(cfg, who, t);
	return rc;
}

int daemon_admin_group(struct daemon_config *cfg, const char *name)
{
	struct group *gr;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(name, &end, 10);
	if (*name && !*end && !errno && v <= UINT32_MAX) {
		cfg->admin_group = (gid_t)v;
	} else if (*name && (gr = getgrnam(name))) {
		cfg->admin_group = gr->gr_gid;
	} else {
		fprintf(stderr, "cxlflashd: admin group '%s': no such group\n", name);
		return -EINVAL;
	}
	cfg->have_admin_group = true;
	return 0;
}

bool daemon_is_admin(const struct daemon_config *cfg, const struct wire_cred *cr)
{
	return cr->uid == 0 || cr->uid == geteuid() ||
	       (cfg->have_admin_group && daemon_in_group(cr->pid, cr->gid, cfg->admin_group));
}

void daemon_limits(const struct daemon_config *cfg, const struct wire_cred *cr,
		   struct mlimits *out)
{
	bool exempt = daemon_is_admin(cfg, cr);
	bool set_ctx = false, set_chunks = false, set_conns = false, set_iops = false;
	bool set_bw = false;
	const struct dquota *dflt = NULL;

	if (exempt)
		*out = (struct mlimits){ MLIMIT_NONE, MLIMIT_NONE, 0, MLIMIT_NONE, true,
					 MLIMIT_NONE, MLIMIT_NONE };
	else
		*out = (struct mlimits){ DAEMON_QUOTA_CONTEXTS, 0, DAEMON_QUOTA_CHUNKS_PCT,
					 DAEMON_QUOTA_CONNECTIONS, false, MLIMIT_NONE, MLIMIT_NONE };
	/* The uid's own rule first: it binds even an administrator. */
	for (unsigned i = 0; i < cfg->nquotas; i++) {
		const struct dquota *q = &cfg->quotas[i];

		if (q->who == DQ_DEFAULT)
			dflt = q;
		if (q->who != DQ_UID || q->id != cr->uid)
			continue;
		if (q->has_contexts)
			out->contexts = q->contexts, set_ctx = true;
		if (q->has_chunks)
			out->chunks = q->chunks, out->chunks_pct = q->chunks_pct, set_chunks = true;
		if (q->has_connections)
			out->connections = q->connections, set_conns = true;
		if (q->has_iops)
			out->iops = q->iops, set_iops = true;
		if (q->has_bw)
			out->bps = q->bw, set_bw = true;
	}
	if (exempt)
		return;
	for (unsigned i = 0; i < cfg->nquotas &&
	     !(set_ctx && set_chunks && set_conns && set_iops && set_bw); i++) {
		const struct dquota *q = &cfg->quotas[i];

		if (q->who != DQ_GID || !daemon_in_group(cr->pid, cr->gid, q->id))
			continue;
		if (q->has_contexts && !set_ctx)
			out->contexts = q->contexts, set_ctx = true;
		if (q->has_chunks && !set_chunks)
			out->chunks = q->chunks, out->chunks_pct = q->chunks_pct, set_chunks = true;
		if (q->has_connections && !set_conns)
			out->connections = q->connections, set_conns = true;
		if (q->has_iops && !set_iops)
			out->iops = q->iops, set_iops = true;
		if (q->has_bw && !set_bw)
			out->bps = q->bw, set_bw = true;
	}
	if (!dflt)
		return;
	if (dflt->has_contexts && !set_ctx)
		out->contexts = dflt->contexts;
	if (dflt->has_chunks && !set_chunks)
		out->chunks = dflt->chunks, out->chunks_pct = dflt->chunks_pct;
	if (dflt->has_connections && !set_conns)
		out->connections = dflt->connections;
	if (dflt->has_iops && !set_iops)
		out->iops = dflt->iops;
	if (dflt->has_bw && !set_bw)
		out->bps = dflt->bw;
}
