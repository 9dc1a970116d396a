/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.c - cxlflashd's state: its LUNs, who may open them, the admin
 * requests and the NBD export of legacy-mode LUNs (see daemon.h).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "master/lunlock.h"
#include "master/master.h"
#include "nbd/nbd_server.h"
#include "server/server.h"
#include "util/json.h"
#include "util/log.h"

struct dlun {
	struct dlun_config cfg;
	char path[PATH_MAX];       /* a file LUN's real path ("" for memory) */
	struct mlun *lun;
	struct mopen *hold;        /* the daemon's own open: the LUN lives as long as we do */
};

/*
 * A standby LUN (LUN option standby, docs/scale-out.md "Standby"): an rbd
 * image another host serves. A thread of its own opens it, waiting in the
 * rbd backend's takeover until the holder is gone, then adds it to the
 * served LUNs. Until then the LUN is not found (ENOENT: a client with a
 * socket list goes to the next daemon).
 */
enum standby_state { SB_WAITING, SB_RETRYING, SB_SERVED, SB_STOPPED };

struct standby {
	struct cxlfd *d;
	const struct dlun_config *cfg;
	pthread_t thread;
	bool started;
	atomic_int state;          /* enum standby_state */
	atomic_int err;            /* SB_RETRYING: the last open's errno */
	pthread_mutex_t lock;      /* holder */
	char holder[512];          /* SB_WAITING: who holds the image ("": not known) */
};

#define STANDBY_RETRY_MIN_S 2u     /* a failed open (cluster down...) again after */
#define STANDBY_RETRY_MAX_S 60u    /* ... doubling up to this */

struct cxlfd {
	struct daemon_config cfg;
	struct master *m;
	struct msrv *srv;
	int fence_fd;              /* eventfd: a LUN was fenced (fence_hook) */
	struct nbd_server *nbd;
	uint16_t nbd_port;
	bool nbd_tcp_on;           /* listening on TCP (asked, or a legacy LUN at start) */
	/* The served LUNs: only ever appended to (a standby taken over), under
	 * add_lock; readers take served() and look at that many, no lock. */
	struct dlun luns[DAEMON_MAX_LUNS];
	unsigned nluns;
	pthread_mutex_t add_lock;
	struct standby standby[DAEMON_MAX_LUNS];
	unsigned nstandby;
	atomic_bool stopping;      /* standby threads: give up waiting */
};

/* How many LUNs are served; each of them is whole (published by add_lun). */
static unsigned served(const struct cxlfd *d)
{
	return __atomic_load_n(&d->nluns, __ATOMIC_ACQUIRE);
}

/* ---- who may open what ------------------------------------------------------ */

/* Is @gid @pid's group, or among its supplementary groups (from /proc)? */
bool daemon_in_group(pid_t pid, gid_t primary, gid_t gid)
{
	char path[64], line[4096];
	bool found = false;
	FILE *f;

	if (primary == gid)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p, *end;

		if (strncmp(line, "Groups:", 7))
			continue;
		for (p = line + 7;; p = end) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if ((gid_t)g == gid) {
				found = true;
				break;
			}
		}
	}
	fclose(f);
	return found;
}

static bool allowed(const struct dlun *l, const struct wire_cred *cr)
{
	if (cr->uid == 0 || cr->uid == geteuid() || l->cfg.allow_all)
		return true;
	for (unsigned i = 0; i < l->cfg.nuids; i++)
		if (l->cfg.uids[i] == cr->uid)
			return true;
	for (unsigned i = 0; i < l->cfg.ngids; i++)
		if (daemon_in_group(cr->pid, cr->gid, l->cfg.gids[i]))
			return true;
	return false;
}

/* A LUN by its name, its spec, or (a file LUN) any path to its file. */
static struct dlun *find_lun(struct cxlfd *d, const char *name)
{
	char real[PATH_MAX];
	bool have_real = name[0] == '/' && realpath(name, real);

	if (!strncmp(name, "file:", 5))
		have_real = realpath(name + 5, real) != NULL;
	for (unsigned i = 0, n = served(d); i < n; i++) {
		struct dlun *l = &d->luns[i];

		if (!strcmp(l->cfg.name, name) || !strcmp(l->cfg.spec, name) ||
		    (have_real && l->path[0] && !strcmp(l->path, real)))
			return l;
	}
	return NULL;
}

static int resolve(void *arg, const char *name, int oflags, const struct wire_cred *cr,
		   struct mlun **lun)
{
	struct cxlfd *d = arg;
	struct dlun *l = find_lun(d, name);

	(void)oflags;
	if (!l)
		return -ENOENT;
	if (!allowed(l, cr)) {
		log_warn("uid %d (pid %d) may not open LUN %s", (int)cr->uid, (int)cr->pid,
			 l->cfg.name);
		return -EACCES;
	}
	*lun = l->lun;
	return 0;
}

/* The quotas of a caller (the server asks, at connect and on requests
 * that take more). */
static void limits(void *arg, const struct wire_cred *cr, struct mlimits *out)
{
	struct cxlfd *d = arg;

	daemon_limits(&d->cfg, cr, out);
}

/* ---- admin -------------------------------------------------------------------- */

static const char *label(void *arg, const struct mlun *m)
{
	struct cxlfd *d = arg;

	for (unsigned i = 0, n = served(d); i < n; i++)
		if (d->luns[i].lun == m)
			return d->luns[i].cfg.name;
	return NULL;
}

static unsigned legacy_clients(void *arg, const struct mlun *m)
{
	(void)arg;
	return m->legacy_users;
}

/* Root and the daemon's own user administer it: they see every context. */
static bool is_admin(const struct wire_cred *cr)
{
	return cr->uid == 0 || cr->uid == geteuid();
}

static void status_standby(struct cxlfd *d, FILE *f, bool json);

/* ---- tenants: use against quotas ---------------------------------------------- */

#define STATUS_MAX_TENANTS 1024

struct tenant_row {
	uid_t uid;
	unsigned conns;
	struct mlimits lim;
};

struct tenant_rows {
	struct cxlfd *d;
	struct tenant_row row[STATUS_MAX_TENANTS];
	unsigned n;
	bool only_uid;
	uid_t uid;
};

static void add_tenant(void *arg, uid_t uid, unsigned conns, const struct mlimits *lim)
{
	struct tenant_rows *t = arg;

	if ((t->only_uid && uid != t->uid) || t->n == STATUS_MAX_TENANTS)
		return;
	t->row[t->n++] = (struct tenant_row){ uid, conns, *lim };
}

/* "used/limit" ('-': no limit) into @buf, or JSON members to @f. */
static void print_use(FILE *f, bool json, const char *key, uint64_t used, uint64_t limit,
		      char *buf, size_t len)
{
	/* "chunks_held", not "chunks": that key counts a vLUN's chunks. */
	const char *ukey = strcmp(key, "chunks") ? key : "chunks_held";

	if (json && limit == MLIMIT_NONE)
		fprintf(f, ",\"%s\":%llu,\"%s_limit\":null", ukey, (unsigned long long)used, key);
	else if (json)
		fprintf(f, ",\"%s\":%llu,\"%s_limit\":%llu", ukey, (unsigned long long)used, key,
			(unsigned long long)limit);
	else if (limit == MLIMIT_NONE)
		snprintf(buf, len, "%llu/-", (unsigned long long)used);
	else
		snprintf(buf, len, "%llu/%llu", (unsigned long long)used, (unsigned long long)limit);
}

/* A tenant's rate limits (null / '-': none) and what its bucket counted:
 * commands and bytes started, passes its contexts were held back. */
static void status_rate(struct cxlfd *d, FILE *f, bool json, const struct tenant_row *r)
{
	struct afu_rate_stats st = { 0 };
	bool have = master_rate_get(d->m, r->uid, &st);
	uint64_t iops = r->lim.iops == MLIMIT_NONE ? 0 : r->lim.iops;
	uint64_t bw = r->lim.bps == MLIMIT_NONE ? 0 : r->lim.bps;

	if (json) {
		if (iops)
			fprintf(f, ",\"iops_limit\":%llu", (unsigned long long)iops);
		else
			fputs(",\"iops_limit\":null", f);
		if (bw)
			fprintf(f, ",\"bw_limit\":%llu", (unsigned long long)bw);
		else
			fputs(",\"bw_limit\":null", f);
		fprintf(f, ",\"rate_cmds\":%llu,\"rate_bytes\":%llu,\"rate_delays\":%llu",
			(unsigned long long)st.cmds, (unsigned long long)st.bytes,
			(unsigned long long)st.delays);
		return;
	}
	if (!iops && !bw && !have)
		return;
	fprintf(f, "  rate: iops %llu%s, bw %llu%s B/s; %llu commands, %llu bytes, "
		"held %llu times", (unsigned long long)iops, iops ? "" : " (-)",
		(unsigned long long)bw, bw ? "" : " (-)", (unsigned long long)st.cmds,
		(unsigned long long)st.bytes, (unsigned long long)st.delays);
}

/* The status's tenants: for each uid with connections (a user who is not
 * an administrator: just its own), its use against each quota. Master
 * lock held (master_status). */
static void status_tenants(void *arg, FILE *f, bool json)
{
	struct tenant_rows *t = arg;
	struct cxlfd *d = t->d;

	status_standby(d, f, json);
	msrv_tenants(d->srv, add_tenant, t);
	if (json)
		fputs(",\"tenants\":[", f);
	else
		fputs("Tenants (use/limit, '-': no limit; chunks per LUN):\n"
		      "  UID        CONNECTIONS CONTEXTS CHUNKS\n", f);
	for (unsigned i = 0; i < t->n; i++) {
		const struct tenant_row *r = &t->row[i];
		char conns[48] = "", ctxs[48] = "", chunks[48] = "";

		if (json)
			fprintf(f, "%s{\"uid\":%u,\"exempt\":%s", i ? "," : "", (unsigned)r->uid,
				r->lim.exempt ? "true" : "false");
		print_use(f, json, "connections", r->conns, r->lim.connections, conns, sizeof(conns));
		print_use(f, json, "contexts", quota_contexts_used(d->m, r->uid), r->lim.contexts,
			  ctxs, sizeof(ctxs));
		if (json)
			fputs(",\"luns\":[", f);
		else
			fprintf(f, "  %-10u %11s %8s ", (unsigned)r->uid, conns, ctxs);
		for (unsigned k = 0, nl = served(d); k < nl; k++) {
			struct mlun *l = d->luns[k].lun;

			if (json)
				fprintf(f, "%s{\"lun\":\"%s\"", k ? "," : "", d->luns[k].cfg.name);
			print_use(f, json, "chunks", quota_chunks_used(d->m, r->uid, l, NULL),
				  mlimits_chunks(&r->lim, l), chunks, sizeof(chunks));
			if (json)
				fputs("}", f);
			else
				fprintf(f, "%s%s %s", k ? ", " : "", d->luns[k].cfg.name, chunks);
		}
		if (json)
			fputs("]", f);
		status_rate(d, f, json, r);
		fputs(json ? "}" : r->lim.exempt ? "  (exempt)\n" : "\n", f);
	}
	if (json)
		fputs("]", f);
	else if (!t->n)
		fputs("  (none)\n", f);
}

static int admin_status(struct cxlfd *d, int sock, const struct wire_msg *req,
			const struct wire_cred *cr)
{
	struct master_status_names names = { label, legacy_clients, d,
					     !daemon_is_admin(&d->cfg, cr), cr->uid, NULL };
	struct tenant_rows *rows = calloc(1, sizeof(*rows));
	bool json = req->request & WIRE_STATUS_JSON;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f || !rows) {
		if (f)
			fclose(f);
		free(text);
		free(rows);
		return msrv_reply_text(sock, req, -ENOMEM, "", 0);
	}
	rows->only_uid = names.only_uid;
	rows->uid = cr->uid;
	rows->d = d;
	names.extra = status_tenants;
	names.extra_arg = rows;
	if (!(req->request & WIRE_STATUS_VLUNS) && !json)
		fprintf(f, "cxlflashd pid %d, socket %s\n", (int)getpid(), d->cfg.socket);
	master_status(d->m, f, json, req->request & WIRE_STATUS_VLUNS, &names);
	fclose(f);
	free(rows);
	rc = msrv_reply_text(sock, req, 0, text, len);
	free(text);
	return rc;
}

#define MODE_GRACE_MS 300

/* LUN_MODE: MANAGE_LUN through the daemon's own open, by name or WWID. */
static int admin_lun_mode(struct cxlfd *d, int sock, const struct wire_msg *req,
			  const char *payload, const struct wire_cred *cr)
{
	struct mcaller who;
	struct dk_cxlflash_manage_lun ml;
	struct dlun *l = find_lun(d, payload);
	char msg[256] = "";
	bool was;
	int rc;

	mcaller_local(&who);
	if (!is_admin(cr)) {
		snprintf(msg, sizeof(msg), "changing a LUN's mode needs root");
		return msrv_reply_text(sock, req, -EPERM, msg, strlen(msg));
	}
	for (unsigned i = 0, n = served(d); !l && i < n; i++) {
		char w[2 * CXLFLASH_WWID_LEN + 1];

		for (unsigned k = 0; k < CXLFLASH_WWID_LEN; k++)
			sprintf(w + 2 * k, "%02x", d->luns[i].lun->wwid[k]);
		if (!strcasecmp(w, payload))
			l = &d->luns[i];
	}
	if (!l) {
		snprintf(msg, sizeof(msg), "no LUN named or with WWID '%s'", payload);
		return msrv_reply_text(sock, req, -ENOENT, msg, strlen(msg));
	}
	memset(&ml, 0, sizeof(ml));
	memcpy(ml.wwid, l->lun->wwid, sizeof(ml.wwid));
	pthread_mutex_lock(&d->m->lock);
	was = l->lun->superpipe;
	pthread_mutex_unlock(&d->m->lock);
	ml.hdr.flags = req->request ? DK_CXLFLASH_MANAGE_LUN_ENABLE_SUPERPIPE
				    : DK_CXLFLASH_MANAGE_LUN_DISABLE_SUPERPIPE;
	/*
	 * A client that has just finished (nbdcopy exits once it sent
	 * NBD_CMD_DISC; a killed superpipe client is reaped when its socket
	 * closes) may not be seen gone yet: give it MODE_GRACE_MS before
	 * answering EBUSY, so `nbdcopy ... && cxlflash lun mode X superpipe`
	 * is not a race. A client still connected keeps the LUN busy.
	 */
	for (int waited = 0;; waited += 10) {
		rc = master_ioctl(l->hold, &who, DK_CXLFLASH_MANAGE_LUN, &ml);
		if (rc != -EBUSY || waited >= MODE_GRACE_MS)
			break;
		usleep(10000);
	}
	if (rc == -EBUSY)
		snprintf(msg, sizeof(msg), "LUN %s is in use (%s)", l->cfg.name,
			 req->request ? "NBD clients are connected"
				      : "superpipe resource handles are open");
	else if (rc)
		snprintf(msg, sizeof(msg), "MANAGE_LUN failed: %s", strerror(-rc));
	else if (was == (req->request != 0))
		snprintf(msg, sizeof(msg), "LUN %s was already in %s mode", l->cfg.name,
			 req->request ? "superpipe" : "legacy");
	else
		log_notice("LUN %s is now in %s mode%s", l->cfg.name,
			   req->request ? "superpipe" : "legacy",
			   !req->request && d->nbd && !d->nbd_tcp_on && !d->cfg.nbd_tcp_set ?
			   " (NBD on the Unix socket only: no TCP listener without "
			   "--nbd-tcp)" : "");
	return msrv_reply_text(sock, req, rc, msg, strlen(msg));
}

static int admin(void *arg, int sock, const struct wire_msg *req, const char *payload,
		 const struct wire_cred *cr)
{
	struct cxlfd *d = arg;

	switch (req->op) {
	case WIRE_OP_STATUS:
		return admin_status(d, sock, req, cr);
	case WIRE_OP_LUN_MODE:
		return admin_lun_mode(d, sock, req, payload, cr);
	default:
		return msrv_reply_text(sock, req, -EOPNOTSUPP, "", 0);
	}
}

/* ---- NBD: legacy-mode LUNs ---------------------------------------------------- */

static struct dlun *nbd_find(struct cxlfd *d, const char *name)
{
	if (!name[0] && served(d) == 1)
		return &d->luns[0]; /* the default export, when there is only one */
	return find_lun(d, name);
}

/*
 * TLS proved who a TCP client is (a PSK username, or a client certificate
 * the CA signed): if an nbd-tls-user line maps that identity, it is served
 * as that user (psk:NAME matches the PSK username, cn:NAME the
 * certificate's common name, dn:DN its whole subject DN; the first line
 * that matches wins). Unmapped, it stays an anonymous TCP client.
 */
static void nbd_tls_identify(void *arg, struct nbd_peer *peer)
{
	struct cxlfd *d = arg;

	for (unsigned i = 0; i < d->cfg.nbd_ntls_users; i++) {
		const struct dtls_user *u = &d->cfg.nbd_tls_users[i];
		const char *have = !strncmp(u->id, "psk:", 4) ? peer->tls_psk
				 : !strncmp(u->id, "cn:", 3) ? peer->tls_cn : peer->tls_dn;

		if (!have[0] || strcmp(strchr(u->id, ':') + 1, have))
			continue;
		peer->uid = u->uid;
		peer->gid = u->gid;
		peer->pid = 0;
		peer->ngroups = u->ngroups;
		memcpy(peer->groups, u->groups, sizeof(gid_t) * (size_t)u->ngroups);
		peer->identified = true;
		peer->tls_mapped = true;
		log_info("NBD client %s: TLS identity %s is uid %u", peer->addr, u->id,
			 (unsigned)u->uid);
		return;
	}
	log_notice("NBD client %s: its TLS identity is not mapped to a user (nbd-tls-user): "
		   "served as an anonymous TCP client", peer->addr);
}

/* How @peer's TLS identity reads in messages. */
static void tls_who(const struct nbd_peer *peer, char *buf, size_t len)
{
	if (peer->tls_psk[0])
		snprintf(buf, len, "psk:%.64s", peer->tls_psk);
	else if (peer->tls_dn[0])
		snprintf(buf, len, "dn:%.120s", peer->tls_dn);
	else
		snprintf(buf, len, "(none)");
}

/*
 * May @peer use LUN @l over NBD? A Unix socket peer is who the kernel says
 * (SO_PEERCRED), a TCP peer whom its TLS identity maps to (nbd-tls-user);
 * either is held to the LUN's allow-list as on the control socket. Any
 * other TCP peer is nobody in particular (loopback proves nothing): only a
 * LUN that admits anonymous TCP clients is offered to it.
 */
static bool nbd_may_use(struct cxlfd *d, const struct dlun *l, const struct nbd_peer *peer,
			char *why, size_t len)
{
	struct wire_cred cr;
	char who[160];

	if (!peer->identified) {
		if (l->cfg.nbd_tcp_anonymous)
			return true;
		if (peer->tls_psk[0] || peer->tls_dn[0]) {
			tls_who(peer, who, sizeof(who));
			snprintf(why, len, "TLS identity %s is not mapped to a user (nbd-tls-user); "
				 "LUN %s does not admit anonymous TCP clients", who, l->cfg.name);
			return false;
		}
		snprintf(why, len, "TCP clients are not identified; LUN %s does not admit "
			 "anonymous TCP clients (nbd-tcp-anonymous=yes in its lun line, or "
			 "--nbd-tcp-anonymous %s); use TLS with a mapped identity, or the NBD "
			 "Unix socket%s%s", l->cfg.name,
			 l->cfg.name, d->cfg.nbd_socket[0] ? " " : "", d->cfg.nbd_socket);
		return false;
	}
	if (peer->ngroups >= 0) {
		/* The allow-list, with the groups the kernel gave at connect. */
		if (peer->uid == 0 || peer->uid == geteuid() || l->cfg.allow_all)
			return true;
		for (unsigned i = 0; i < l->cfg.nuids; i++)
			if (l->cfg.uids[i] == peer->uid)
				return true;
		for (unsigned i = 0; i < l->cfg.ngids; i++) {
			if (l->cfg.gids[i] == peer->gid)
				return true;
			for (int k = 0; k < peer->ngroups; k++)
				if (l->cfg.gids[i] == peer->groups[k])
					return true;
		}
	} else {
		cr = (struct wire_cred){ .pid = peer->pid, .uid = peer->uid, .gid = peer->gid };
		if (allowed(l, &cr))
			return true;
	}
	if (peer->tls_mapped) {
		tls_who(peer, who, sizeof(who));
		snprintf(why, len, "TLS identity %s (uid %u) may not use LUN %s: not root, the "
			 "daemon's user or in its allow-list", who, (unsigned)peer->uid,
			 l->cfg.name);
		return false;
	}
	snprintf(why, len, "uid %u may not use LUN %s: not root, the daemon's user or in its "
		 "allow-list", (unsigned)peer->uid, l->cfg.name);
	return false;
}

static int nbd_get(void *arg, const struct nbd_peer *peer, const char *name,
		   struct backend **be, bool *readonly, void **ref, char *why, size_t len)
{
	struct cxlfd *d = arg;
	struct dlun *l = nbd_find(d, name);
	unsigned limit;
	int rc = 0;

	if (!l) {
		snprintf(why, len, "no LUN named '%s'", name);
		return -ENOENT;
	}
	if (be_fenced(l->lun->be)) {
		snprintf(why, len, "LUN %s was taken over by another host", l->cfg.name);
		return -ENOENT;
	}
	if (!nbd_may_use(d, l, peer, why, len)) {
		nbd_log_refused(NBD_REFUSED_ACCESS, "NBD client %s may not use LUN %s", peer->addr,
				l->cfg.name);
		return -EACCES;
	}
	limit = l->cfg.nbd_max_conns ? l->cfg.nbd_max_conns
	      : d->cfg.nbd_max_conns_per_lun ? d->cfg.nbd_max_conns_per_lun
	      : DAEMON_NBD_MAX_CONNS_PER_LUN;
	pthread_mutex_lock(&d->m->lock);
	if (l->lun->superpipe) {
		snprintf(why, len, "LUN %s is in superpipe mode; `cxlflash lun mode %s legacy` "
			 "exports it", l->cfg.name, l->cfg.name);
		rc = -EBUSY;
	} else if (l->lun->legacy_users >= limit) {
		snprintf(why, len, "too many NBD connections: LUN %s has %u, its limit; try again "
			 "when one closes", l->cfg.name, l->lun->legacy_users);
		rc = -EUSERS;
	} else {
		l->lun->legacy_users++;
	}
	pthread_mutex_unlock(&d->m->lock);
	if (rc)
		return rc;
	*be = l->lun->be;
	*readonly = false;
	*ref = l;
	return 0;
}

static void nbd_put(void *arg, void *ref)
{
	struct cxlfd *d = arg;
	struct dlun *l = ref;

	pthread_mutex_lock(&d->m->lock);
	l->lun->legacy_users--;
	pthread_mutex_unlock(&d->m->lock);
}

/* NBD_OPT_LIST: the LUNs in legacy mode that @peer may use. */
static void nbd_list(void *arg, const struct nbd_peer *peer,
		     void (*emit)(void *ctx, const char *name, const char *desc), void *ctx)
{
	struct cxlfd *d = arg;
	char why[512];

	for (unsigned i = 0, n = served(d); i < n; i++) {
		bool legacy;

		if (!nbd_may_use(d, &d->luns[i], peer, why, sizeof(why)))
			continue;
		pthread_mutex_lock(&d->m->lock);
		legacy = !d->luns[i].lun->superpipe;
		pthread_mutex_unlock(&d->m->lock);
		if (legacy)
			emit(ctx, d->luns[i].cfg.name, d->luns[i].cfg.spec);
	}
}

static int start_nbd(struct cxlfd *d)
{
	struct nbd_export_provider prov = { nbd_get, nbd_put, nbd_list, d, nbd_tls_identify };
	struct nbd_server_config sc = {
		.max_conns = d->cfg.nbd_max_conns,
		.max_conns_per_user = d->cfg.nbd_max_conns_per_user,
		.handshake_timeout_ms = d->cfg.nbd_handshake_timeout_ms,
		.no_block_status = d->cfg.nbd_no_block_status,
		.tls = d->cfg.nbd_tls,
		.tls_certs = d->cfg.nbd_tls_certs[0] ? d->cfg.nbd_tls_certs : NULL,
		.tls_psk_file = d->cfg.nbd_tls_psk[0] ? d->cfg.nbd_tls_psk : NULL,
		.tls_verify_peer = d->cfg.nbd_tls_verify_peer,
	};
	/* TCP only when asked (--nbd-tcp, an nbd-tcp line): its clients are
	 * not identified, so it must never come up by itself. */
	bool tcp = d->cfg.nbd_tcp_addr[0] && d->cfg.nbd_tcp_set;
	int rc;

	if (!d->cfg.nbd || (!d->cfg.nbd_socket[0] && !tcp))
		return 0;
	rc = nbd_server_create(&sc, &prov, &d->nbd);
	if (rc)
		return rc;
	if (d->cfg.nbd_socket[0]) {
		/* A stale socket file is replaced; a live one (another daemon's)
		 * is not taken over. */
		rc = nbd_server_listen_unix(d->nbd, d->cfg.nbd_socket);
		if (rc) {
			log_err("NBD: cannot listen on %s: %s (--nbd-socket PATH picks another, "
				"--nbd-socket none none at all)", d->cfg.nbd_socket, strerror(-rc));
			return rc;
		}
	}
	if (d->cfg.nbd_socket[0] && d->cfg.nbd_socket_mode &&
	    chmod(d->cfg.nbd_socket, d->cfg.nbd_socket_mode)) {
		rc = -errno;
		log_err("NBD: cannot set the mode of %s: %s", d->cfg.nbd_socket, strerror(-rc));
		return rc;
	}
	if (tcp) {
		rc = nbd_server_listen_tcp(d->nbd, d->cfg.nbd_tcp_addr, d->cfg.nbd_tcp_port,
					   &d->nbd_port);
		if (rc) {
			log_err("NBD: cannot listen on TCP %s:%u: %s (--nbd-tcp [ADDR:]PORT picks "
				"another port, --nbd-tcp none none at all)", d->cfg.nbd_tcp_addr,
				d->cfg.nbd_tcp_port, strerror(-rc));
			return rc;
		}
		d->nbd_tcp_on = true;
	}
	return nbd_server_start(d->nbd);
}

/* ---- start and stop --------------------------------------------------------- */

/*
 * add_lun() - serve the open backend @be as LUN @c: its master LUN, then
 * published in d->luns. Under add_lock (a standby's thread may add one
 * while clients look the LUNs up).
 */
static int add_lun(struct cxlfd *d, const struct dlun_config *c, struct backend *be,
		   const char *path)
{
	struct dlun *l = &d->luns[d->nluns];
	char mname[sizeof(c->spec) + DAEMON_NAME_MAX + 2];
	struct mlun *existing;
	int rc;

	memset(l, 0, sizeof(*l));
	l->cfg = *c;
	snprintf(l->path, sizeof(l->path), "%s", path);
	/*
	 * The master shares a LUN between opens of the same file, or of the
	 * same memory spec: two daemon LUNs must never become one. The same
	 * file twice is a configuration error; two memory LUNs of one size
	 * are distinct LUNs, so the second gets a distinct master name.
	 */
	if ((existing = master_find_lun(d->m, c->spec, be->dev, be->ino))) {
		if (be->ino) {
			log_err("LUN %s: %s is already served as LUN %s", c->name, c->spec,
				label(d, existing));
			be_close(be);
			return -EEXIST;
		}
		snprintf(mname, sizeof(mname), "%s#%s", c->spec, c->name);
	} else {
		snprintf(mname, sizeof(mname), "%s", c->spec);
	}
	rc = lun_lock(be, c->spec, false);
	if (rc) {
		be_close(be);
		return rc;
	}
	rc = master_open_lun(d->m, mname, be, c->have_wwid ? c->wwid : NULL, getpid(), &l->hold);
	if (rc) {
		log_err("LUN %s: %s", c->name, strerror(-rc));
		return rc;
	}
	l->lun = l->hold->lun;
	pthread_mutex_lock(&d->m->lock);
	l->lun->superpipe = !c->legacy;
	pthread_mutex_unlock(&d->m->lock);
	__atomic_store_n(&d->nluns, d->nluns + 1, __ATOMIC_RELEASE);
	log_notice("LUN %s: %s, %llu blocks of 4 KiB, %s mode", c->name, c->spec,
		   (unsigned long long)(l->lun->max_lba + 1), c->legacy ? "legacy" : "superpipe");
	return 0;
}

/* The rbd backend's on_wait: who holds the image we wait for. */
static void standby_holder(void *arg, const char *holder, const char *about)
{
	struct standby *sb = arg;

	pthread_mutex_lock(&sb->lock);
	snprintf(sb->holder, sizeof(sb->holder), "client %s (%s)", holder, about);
	pthread_mutex_unlock(&sb->lock);
}

/*
 * open_lun() - open LUN @c's backend and serve it. A standby's (@sb) waits
 * in the rbd backend's takeover for as long as the image's holder lives
 * (until d->stopping).
 */
static int open_lun(struct cxlfd *d, const struct dlun_config *c, struct standby *sb)
{
	char path[PATH_MAX] = "";
	struct be_spec spec;
	struct backend *be;
	int rc;

	rc = be_parse_spec(c->spec, &spec);
	if (rc)
		return rc;
	if (!strcmp(spec.kind, "file") && !realpath(spec.path, path))
		path[0] = 0; /* created below */
	if (!strcmp(spec.kind, "rbd") && d->cfg.takeover && !spec.rbd.takeover) {
		/* --takeover: wait for a holder to be gone, then take the image. */
		spec.rbd.takeover = true;
		spec.rbd.takeover_wait_s = d->cfg.takeover_wait_s ? d->cfg.takeover_wait_s
								   : BE_RBD_TAKEOVER_WAIT_S;
	}
	if (sb) {
		spec.rbd.standby = true;
		spec.rbd.stop = &d->stopping;
		spec.rbd.on_wait = standby_holder;
		spec.rbd.on_wait_arg = sb;
	}
	rc = be_open(&spec, &be);
	if (rc) {
		if (!(sb && atomic_load(&d->stopping)))
			log_err("LUN %s: cannot open %s: %s", c->name, c->spec, strerror(-rc));
		return rc;
	}
	if (!strcmp(spec.kind, "file") && !path[0] && !realpath(spec.path, path))
		path[0] = 0;
	pthread_mutex_lock(&d->add_lock);
	rc = add_lun(d, c, be, path);
	pthread_mutex_unlock(&d->add_lock);
	return rc;
}

/* ---- standby LUNs ------------------------------------------------------------- */

static const char *const standby_names[] = { "waiting", "retrying", "served", "stopped" };

/* Sleep @s seconds in 100 ms steps; false if the daemon stops meanwhile. */
static bool standby_pause(struct cxlfd *d, unsigned s)
{
	for (unsigned i = 0; i < s * 10; i++) {
		if (atomic_load(&d->stopping))
			return false;
		usleep(100000);
	}
	return !atomic_load(&d->stopping);
}

static void *standby_main(void *arg)
{
	struct standby *sb = arg;
	struct cxlfd *d = sb->d;
	unsigned delay = STANDBY_RETRY_MIN_S;

	for (;;) {
		int rc;

		atomic_store(&sb->state, SB_WAITING);
		rc = open_lun(d, sb->cfg, sb);
		if (!rc) {
			pthread_mutex_lock(&sb->lock);
			sb->holder[0] = 0;
			pthread_mutex_unlock(&sb->lock);
			atomic_store(&sb->state, SB_SERVED);
			log_notice("LUN %s: standby no more: serving %s", sb->cfg->name,
				   sb->cfg->spec);
			return NULL;
		}
		if (atomic_load(&d->stopping))
			break;
		atomic_store(&sb->err, -rc);
		atomic_store(&sb->state, SB_RETRYING);
		log_warn("LUN %s: standby: %s; trying again in %u s", sb->cfg->name,
			 strerror(-rc), delay);
		if (!standby_pause(d, delay))
			break;
		delay = delay * 2 < STANDBY_RETRY_MAX_S ? delay * 2 : STANDBY_RETRY_MAX_S;
	}
	atomic_store(&sb->state, SB_STOPPED);
	return NULL;
}

static int standby_start(struct cxlfd *d)
{
	for (unsigned i = 0; i < d->nstandby; i++) {
		struct standby *sb = &d->standby[i];
		int rc = pthread_create(&sb->thread, NULL, standby_main, sb);

		if (rc) {
			log_err("LUN %s: cannot start its standby thread: %s", sb->cfg->name,
				strerror(rc));
			return -rc;
		}
		sb->started = true;
	}
	return 0;
}

/* The status's standby LUNs (master lock held, master_status). */
static void status_standby(struct cxlfd *d, FILE *f, bool json)
{
	if (!d->nstandby)
		return;
	fputs(json ? ",\"standby\":[" : "Standby LUNs (served once their holder is gone):\n", f);
	for (unsigned i = 0; i < d->nstandby; i++) {
		struct standby *sb = &d->standby[i];
		int st = atomic_load(&sb->state);
		int err = atomic_load(&sb->err);

		char holder[sizeof(sb->holder)];

		pthread_mutex_lock(&sb->lock);
		snprintf(holder, sizeof(holder), "%s", st == SB_WAITING ? sb->holder : "");
		pthread_mutex_unlock(&sb->lock);
		if (json) {
			fprintf(f, "%s{\"name\":\"%s\",\"state\":\"%s\"", i ? "," : "",
				sb->cfg->name, standby_names[st]);
			if (st == SB_RETRYING)
				fprintf(f, ",\"error\":\"%s\"", strerror(err));
			if (holder[0]) {
				fputs(",\"holder\":", f);
				json_str(f, holder);
			}
			fputs("}", f);
		} else {
			fprintf(f, "  %-10s %s  %s%s%s%s%s\n", sb->cfg->name, sb->cfg->spec,
				standby_names[st], st == SB_RETRYING ? ": " : "",
				st == SB_RETRYING ? strerror(err) : "", holder[0] ? ": held by " : "",
				holder);
		}
	}
	if (json)
		fputs("]", f);
}

/*
 * fence_hook() - be_fence()'s hook: a LUN's storage shut us out (another
 * host took its rbd image over). Tell the server's owner watch thread,
 * which ends the connections of the LUN's clients (msrv_set_fence_fd).
 * Called on librbd's thread: only a write to an eventfd.
 */
static void fence_hook(void *arg)
{
	uint64_t one = 1;

	if (write((int)(intptr_t)arg, &one, sizeof(one)) != sizeof(one))
		log_warn("a LUN was taken over by another host, and its clients cannot be told");
}

void daemon_stop(struct cxlfd *d)
{
	if (!d)
		return;
	/* No LUN is added from here on. */
	atomic_store(&d->stopping, true);
	for (unsigned i = 0; i < d->nstandby; i++) {
		if (d->standby[i].started)
			pthread_join(d->standby[i].thread, NULL);
		pthread_mutex_destroy(&d->standby[i].lock);
	}
	if (d->nbd) {
		nbd_server_stop(d->nbd);
		nbd_server_destroy(d->nbd);
	}
	/* The clients are not letting go: their vLUNs whose maps a LUN keeps
	 * (rbd) stay for the next daemon, where they reattach. */
	if (d->m)
		master_keep_vluns(d->m);
	msrv_destroy(d->srv); /* every client detached */
	for (unsigned i = 0; i < d->nluns; i++) {
		int rc = be_flush_sync(d->luns[i].lun->be);

		if (rc)
			log_warn("LUN %s: flush at exit failed: %s", d->luns[i].cfg.name,
				 strerror(-rc));
		master_close_open(d->luns[i].hold);
	}
	master_destroy(d->m);
	/* Every backend is closed: nothing can fence one now. */
	be_set_fence_hook(NULL, NULL);
	close(d->fence_fd);
	pthread_mutex_destroy(&d->add_lock);
	free(d);
}

int daemon_start(const struct daemon_config *cfg, struct cxlfd **out)
{
	struct master_config mc = { 0 };
	struct msrv_ops ops = { .resolve = resolve, .admin = admin, .limits = limits };
	struct cxlfd *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	pthread_mutex_init(&d->add_lock, NULL);
	atomic_init(&d->stopping, false);
	mc.sq_mode = cfg->sq_mode;
	{
		/* What another daemon finding our rbd images locked is told. */
		char host[64] = "?", note[200];

		gethostname(host, sizeof(host) - 1);
		snprintf(note, sizeof(note), "cxlflashd pid %d on host %s, socket %.100s",
			 (int)getpid(), host, cfg->socket);
		be_rbd_set_owner_note(note);
	}
	mc.max_dma = cfg->max_dma;
	mc.afu.drop_fenced = true;   /* the clients move on instead (fence_hook) */
	d->fence_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->fence_fd < 0) {
		rc = -errno;
		free(d);
		return rc;
	}
	be_set_fence_hook(fence_hook, (void *)(intptr_t)d->fence_fd);
	rc = master_create(&mc, &d->m);
	if (rc) {
		be_set_fence_hook(NULL, NULL);
		close(d->fence_fd);
		pthread_mutex_destroy(&d->add_lock);
		free(d);
		return rc;
	}
	for (unsigned i = 0; i < cfg->nluns && !rc; i++) {
		const struct dlun_config *c = &d->cfg.luns[i];

		if (c->standby) { /* opened by its thread, once the daemon listens */
			struct standby *sb = &d->standby[d->nstandby++];

			*sb = (struct standby){ .d = d, .cfg = c };
			pthread_mutex_init(&sb->lock, NULL);
		}
		else
			rc = open_lun(d, c, NULL);
	}
	ops.arg = d;
	if (!rc)
		rc = msrv_create(d->m, &ops, &d->srv);
	if (!rc)
		msrv_set_fence_fd(d->srv, d->fence_fd);
	if (!rc) {
		rc = msrv_listen(d->srv, cfg->socket, cfg->socket_mode);
		if (rc == -EADDRINUSE)
			log_err("%s: another cxlflashd answers there", cfg->socket);
		else if (rc)
			log_err("cannot listen on %s: %s", cfg->socket, strerror(-rc));
	}
	if (!rc)
		rc = start_nbd(d);
	if (!rc)
		rc = msrv_start(d->srv);
	if (!rc)
		rc = standby_start(d);
	if (rc) {
		daemon_stop(d);
		return rc;
	}
	*out = d;
	return 0;
}

void daemon_describe(struct cxlfd *d, char *buf, size_t len)
{
	int n = snprintf(buf, len, "socket=%s luns=%u", d->cfg.socket, served(d));

	if (d->nstandby && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " standby=%u", d->nstandby);

	if (d->nbd && d->cfg.nbd_socket[0] && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " nbd-socket=%s", d->cfg.nbd_socket);
	if (d->nbd && d->nbd_tcp_on && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " nbd-tcp=%s:%u", d->cfg.nbd_tcp_addr,
			 d->nbd_port);
}
