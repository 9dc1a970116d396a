/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spec.c - turning a LUN name into a struct be_spec (the fault wrapper's
 * options included), opening and closing backends by kind, and the request
 * checks every kind shares.
 */
#include "backend/backend_internal.h"
#include "util/log.h"
#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int be_parse_size(const char *s, uint64_t *bytes)
{
	return parse_size(s, bytes);
}

/* A size from a LUN name: parseable, non-zero and whole 4 KiB blocks. */
static int parse_block_size(const char *name, const char *s, uint64_t *bytes)
{
	if (be_parse_size(s, bytes)) {
		log_err("'%s': bad size '%s' (want a number with an optional K/M/G/T suffix)",
			name, s);
		return -EINVAL;
	}
	if (*bytes == 0 || *bytes % BE_BLOCK_SIZE) {
		log_err("'%s': size %s must be a non-zero multiple of %u bytes", name, s,
			BE_BLOCK_SIZE);
		return -EINVAL;
	}
	return 0;
}

static int set_path(const char *name, struct be_spec *spec, const char *path, size_t len)
{
	if (len == 0) {
		log_err("'%s': empty path", name);
		return -EINVAL;
	}
	if (len >= sizeof(spec->path)) {
		log_err("'%.64s...': path longer than %zu bytes", name, sizeof(spec->path) - 1);
		return -EINVAL;
	}
	memcpy(spec->path, path, len);
	spec->path[len] = '\0';
	return 0;
}

/* "size=SIZE", "prealloc=full|off", "ro" or "readonly", separated by '&'. */
static int parse_file_options(const char *name, const char *opts, struct be_spec *spec)
{
	char buf[256];
	char *save = NULL, *tok;

	if (strlen(opts) >= sizeof(buf)) {
		log_err("'%s': options too long", name);
		return -EINVAL;
	}
	strcpy(buf, opts);
	for (tok = strtok_r(buf, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		if (!strncmp(tok, "size=", 5)) {
			if (parse_block_size(name, tok + 5, &spec->size))
				return -EINVAL;
			spec->create = true;
		} else if (!strcmp(tok, "prealloc=full")) {
			spec->prealloc = true;
		} else if (!strcmp(tok, "prealloc=off")) {
			spec->prealloc = false;
		} else if (!strcmp(tok, "ro") || !strcmp(tok, "readonly")) {
			spec->readonly = true;
		} else {
			log_err("'%s': unknown option '%s' (known: size=SIZE, prealloc=full|off, ro)",
				name, tok);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

/* One injected-fault option into @inj. Return: 0, -EINVAL, or 1 when @tok is none of them. */
static int parse_inject_option(const char *tok, struct be_fault_inject *inj)
{
	uint64_t v;
	char *dash;

	if (!strncmp(tok, "fail-nth=", 9)) {
		if (parse_u64(tok + 9, &inj->fail_nth) || !inj->fail_nth)
			return -EINVAL;
	} else if (!strncmp(tok, "tear-nth=", 9)) {
		if (parse_u64(tok + 9, &inj->tear_nth) || !inj->tear_nth)
			return -EINVAL;
	} else if (!strncmp(tok, "delay=", 6)) {
		if (parse_u64(tok + 6, &v) || v > 10000000)
			return -EINVAL;
		inj->delay_us = (uint32_t)v;
	} else if (!strncmp(tok, "fail-lba=", 9)) {
		char first[32];
		size_t n;

		dash = strchr(tok + 9, '-');
		n = dash ? (size_t)(dash - (tok + 9)) : strlen(tok + 9);
		if (n == 0 || n >= sizeof(first))
			return -EINVAL;
		memcpy(first, tok + 9, n);
		first[n] = '\0';
		if (parse_u64(first, &inj->fail_lba_first))
			return -EINVAL;
		inj->fail_lba_last = inj->fail_lba_first;
		if (dash && (parse_u64(dash + 1, &inj->fail_lba_last) ||
			     inj->fail_lba_last < inj->fail_lba_first))
			return -EINVAL;
		inj->fail_lba = true;
	} else if (!strncmp(tok, "fail-on=", 8)) {
		inj->fail_reads = !strcmp(tok + 8, "read") || !strcmp(tok + 8, "all");
		inj->fail_writes = !strcmp(tok + 8, "write") || !strcmp(tok + 8, "all");
		if (!inj->fail_reads && !inj->fail_writes)
			return -EINVAL;
	} else if (!strcmp(tok, "none")) {
		memset(inj, 0, sizeof(*inj));
	} else {
		return 1;
	}
	return 0;
}

/* fail-on defaults to every request. */
static void inject_defaults(struct be_fault_inject *inj, bool fail_on_given)
{
	if (!fail_on_given)
		inj->fail_reads = inj->fail_writes = true;
}

#define INJECT_KNOWN "fail-nth=N, fail-lba=A[-B], fail-on=read|write|all, tear-nth=N, " \
		     "delay=USEC, none"

int be_parse_fault_inject(const char *text, struct be_fault_inject *inj)
{
	char buf[4096];
	char *save = NULL, *tok;
	bool fail_on = false;

	memset(inj, 0, sizeof(*inj));
	if (strlen(text) >= sizeof(buf)) {
		log_err("fault control: too long");
		return -EINVAL;
	}
	strcpy(buf, text);
	for (tok = strtok_r(buf, ", \t\r\n", &save); tok; tok = strtok_r(NULL, ", \t\r\n", &save)) {
		int rc = parse_inject_option(tok, inj);

		if (rc) {
			log_err("fault control: %s option '%s' (known: %s)",
				rc > 0 ? "unknown" : "bad", tok, INJECT_KNOWN);
			return -EINVAL;
		}
		fail_on |= !strncmp(tok, "fail-on=", 8);
	}
	inject_defaults(inj, fail_on);
	return 0;
}

/*
 * The fault wrapper's options, comma-separated (a ',' or ']' cannot be in
 * them, so the inner name keeps its own '?' and '&' syntax): "wcache",
 * "journal=PATH", "ctl=PATH" and the injected faults of
 * be_parse_fault_inject(). Naming no fault means "wcache".
 */
static int parse_fault_options(const char *name, const char *opts, size_t len,
			       struct be_fault_spec *f)
{
	char buf[4096 + 16];
	char *save = NULL, *tok;
	bool named = false;   /* a fault was asked for by name */
	bool fail_on = false;
	int rc;

	if (len >= sizeof(buf)) {
		log_err("'%.64s...': fault options too long", name);
		return -EINVAL;
	}
	memcpy(buf, opts, len);
	buf[len] = '\0';
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "wcache")) {
			f->wcache = true;
			named = true;
		} else if (!strncmp(tok, "journal=", 8) && tok[8]) {
			if (strlen(tok + 8) >= sizeof(f->journal)) {
				log_err("'%.64s...': journal path too long", name);
				return -EINVAL;
			}
			strcpy(f->journal, tok + 8);
		} else if (!strncmp(tok, "ctl=", 4) && tok[4]) {
			if (strlen(tok + 4) >= sizeof(f->ctl)) {
				log_err("'%.64s...': control file path too long", name);
				return -EINVAL;
			}
			strcpy(f->ctl, tok + 4);
			named = true;
		} else if ((rc = parse_inject_option(tok, &f->inject)) <= 0) {
			if (rc) {
				log_err("'%s': bad fault option '%s'", name, tok);
				return -EINVAL;
			}
			named |= strcmp(tok, "none") != 0;
			fail_on |= !strncmp(tok, "fail-on=", 8);
		} else {
			log_err("'%s': unknown fault option '%s' (known: wcache, journal=PATH, "
				"ctl=PATH, " INJECT_KNOWN ")", name, tok);
			return -EINVAL;
		}
	}
	inject_defaults(&f->inject, fail_on);
	f->on = true;
	if (!named)
		f->wcache = true;  /* "fault:LUN" alone is a write cache */
	return 0;
}

/* "fault:INNER" or "fault[OPTS]:INNER" (docs/fault.md). */
static int parse_fault_spec(const char *name, struct be_spec *spec)
{
	struct be_fault_spec f;
	const char *p = name + 5, *opts = "";
	size_t olen = 0;
	int rc;

	memset(&f, 0, sizeof(f));
	if (*p == '[') {
		const char *end = strchr(p, ']');

		if (!end) {
			log_err("'%s': missing ']' after the fault options", name);
			return -EINVAL;
		}
		opts = p + 1;
		olen = (size_t)(end - opts);
		p = end + 1;
	}
	if (*p != ':' || !p[1]) {
		log_err("'%s': want fault[OPTIONS]:LUN, e.g. fault:file:/x.img?size=1G", name);
		return -EINVAL;
	}
	if (!strncmp(p + 1, "fault:", 6) || !strncmp(p + 1, "fault[", 6)) {
		log_err("'%s': a fault wrapper cannot wrap another", name);
		return -EINVAL;
	}
	rc = parse_fault_options(name, opts, olen, &f);
	if (rc)
		return rc;
	rc = be_parse_spec(p + 1, spec);
	if (rc)
		return rc;
	spec->fault = f;
	return 0;
}

/* ---- rbd:POOL[/NAMESPACE]/IMAGE?OPTIONS (docs/scale-out.md) ---- */

/* Copy one option's value into @dst (@cap bytes); empty or too long is an error. */
static int set_field(const char *name, const char *what, char *dst, size_t cap, const char *val,
		     size_t len)
{
	if (len == 0) {
		log_err("'%s': empty %s", name, what);
		return -EINVAL;
	}
	if (len >= cap) {
		log_err("'%.64s...': %s longer than %zu bytes", name, what, cap - 1);
		return -EINVAL;
	}
	if (dst[0]) {
		log_err("'%s': %s given twice", name, what);
		return -EINVAL;
	}
	memcpy(dst, val, len);
	dst[len] = '\0';
	return 0;
}

#define RBD_OPTS_KNOWN "size=SIZE, conf=PATH, id=USER, keyring=PATH, cluster=NAME, ro, " \
	"takeover[=SECONDS]"

static int parse_rbd_options(const char *name, const char *opts, struct be_spec *spec)
{
	struct be_rbd_spec *r = &spec->rbd;
	const char *tok = opts;

	if (!*opts) {
		log_err("'%s': nothing after '?' (known options: " RBD_OPTS_KNOWN ")", name);
		return -EINVAL;
	}
	while (tok) {
		const char *amp = strchr(tok, '&');
		size_t len = amp ? (size_t)(amp - tok) : strlen(tok);
		const char *eq = memchr(tok, '=', len);
		size_t klen = eq ? (size_t)(eq - tok) : len;
		const char *val = eq ? eq + 1 : NULL;
		size_t vlen = eq ? len - klen - 1 : 0;
		int rc;

#define KEY(k) (klen == sizeof(k) - 1 && !strncmp(tok, k, klen))
		if (KEY("ro") || KEY("readonly")) {
			rc = eq ? -EINVAL : 0;
			if (rc)
				log_err("'%s': option '%.*s' takes no value", name, (int)klen, tok);
			spec->readonly = true;
		} else if (KEY("takeover")) {
			/* takeover, or takeover=SECONDS: how long to wait for a holder to be gone */
			char v[16], *end;
			unsigned long secs = BE_RBD_TAKEOVER_WAIT_S;

			rc = 0;
			if (r->takeover) {
				log_err("'%s': takeover given twice", name);
				rc = -EINVAL;
			} else if (eq) {
				memcpy(v, val, vlen < sizeof(v) ? vlen : sizeof(v) - 1);
				v[vlen < sizeof(v) ? vlen : sizeof(v) - 1] = '\0';
				errno = 0;
				secs = strtoul(v, &end, 10);
				if (!vlen || vlen >= sizeof(v) || *end || errno || v[0] == '-' ||
				    secs < 1 || secs > 86400) {
					log_err("'%s': takeover=SECONDS wants 1 to 86400, not '%.*s'",
						name, (int)vlen, val);
					rc = -EINVAL;
				}
			}
			r->takeover = true;
			r->takeover_wait_s = (unsigned)secs;
		} else if (!eq) {
			log_err("'%s': option '%.*s' needs a value (known: " RBD_OPTS_KNOWN ")",
				name, (int)len, tok);
			rc = -EINVAL;
		} else if (KEY("size")) {
			char v[64];

			if (spec->create) {
				log_err("'%s': size given twice", name);
				return -EINVAL;
			}
			if (vlen == 0 || vlen >= sizeof(v)) {
				log_err("'%s': bad size '%.*s'", name, (int)vlen, val);
				return -EINVAL;
			}
			memcpy(v, val, vlen);
			v[vlen] = '\0';
			rc = parse_block_size(name, v, &spec->size);
			spec->create = rc == 0;
		} else if (KEY("conf")) {
			rc = set_field(name, "conf path", r->conf, sizeof(r->conf), val, vlen);
		} else if (KEY("id")) {
			/* "client.admin" or "admin" */
			if (vlen > 7 && !strncmp(val, "client.", 7)) {
				val += 7;
				vlen -= 7;
			}
			rc = set_field(name, "id", r->user, sizeof(r->user), val, vlen);
		} else if (KEY("keyring")) {
			rc = set_field(name, "keyring path", r->keyring, sizeof(r->keyring), val, vlen);
		} else if (KEY("cluster")) {
			rc = set_field(name, "cluster name", r->cluster, sizeof(r->cluster), val, vlen);
		} else {
			log_err("'%s': unknown option '%.*s' (known: " RBD_OPTS_KNOWN ")", name,
				(int)klen, tok);
			rc = -EINVAL;
		}
#undef KEY
		if (rc)
			return -EINVAL;
		tok = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* A pool, namespace or image name: not empty, no '@' (snapshots are not LUNs). */
static int set_rbd_name(const char *name, const char *what, char *dst, size_t cap,
			const char *val, size_t len)
{
	if (memchr(val, '@', len)) {
		log_err("'%s': snapshots ('@') cannot be LUNs", name);
		return -EINVAL;
	}
	return set_field(name, what, dst, cap, val, len);
}

static int parse_rbd_spec(const char *name, struct be_spec *spec)
{
	struct be_rbd_spec *r = &spec->rbd;
	const char *p = name + 4, *q = strchr(p, '?');
	size_t len = q ? (size_t)(q - p) : strlen(p);
	const char *s1 = memchr(p, '/', len), *s2 = NULL;
	int rc;

	strcpy(spec->kind, "rbd");
	if (s1)
		s2 = memchr(s1 + 1, '/', len - (size_t)(s1 + 1 - p));
	if (!s1 || (s2 && memchr(s2 + 1, '/', len - (size_t)(s2 + 1 - p)))) {
		log_err("'%s': want rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE, then "
			"optionally ?" RBD_OPTS_KNOWN, name);
		return -EINVAL;
	}
	rc = set_rbd_name(name, "pool", r->pool, sizeof(r->pool), p, (size_t)(s1 - p));
	if (!rc && s2)
		rc = set_rbd_name(name, "namespace", r->ns, sizeof(r->ns), s1 + 1,
				  (size_t)(s2 - s1 - 1));
	if (!rc) {
		const char *img = s2 ? s2 + 1 : s1 + 1;

		rc = set_rbd_name(name, "image name", r->image, sizeof(r->image), img,
				  len - (size_t)(img - p));
	}
	if (!rc && q)
		rc = parse_rbd_options(name, q + 1, spec);
	return rc ? -EINVAL : 0;
}

int be_parse_spec(const char *name, struct be_spec *spec)
{
	const char *colon;

	memset(spec, 0, sizeof(*spec));
	if (!name || !*name) {
		log_err("empty backend name");
		return -EINVAL;
	}
	if (!strncmp(name, "fault:", 6) || !strncmp(name, "fault[", 6))
		return parse_fault_spec(name, spec);
	if (!strncmp(name, "ram:", 4) || !strncmp(name, "null:", 5)) {
		colon = strchr(name, ':');
		memcpy(spec->kind, name, (size_t)(colon - name));
		if (!colon[1]) {
			log_err("'%s': missing size (e.g. %s:4G)", name, spec->kind);
			return -EINVAL;
		}
		return parse_block_size(name, colon + 1, &spec->size);
	}
	if (!strncmp(name, "rbd:", 4))
		return parse_rbd_spec(name, spec);
	strcpy(spec->kind, "file");
	if (!strncmp(name, "file:", 5)) {
		const char *path = name + 5, *q = strchr(path, '?');

		if (!q)
			return set_path(name, spec, path, strlen(path));
		if (set_path(name, spec, path, (size_t)(q - path)))
			return -EINVAL;
		return parse_file_options(name, q + 1, spec);
	}

	/*
	 * A plain path. Something shaped like "kind:..." that names no file is
	 * more likely a mistyped kind than a file, so say that.
	 */
	colon = strchr(name, ':');
	if (colon && colon > name && access(name, F_OK)) {
		const char *c = name;

		while (c < colon && (isalnum((unsigned char)*c) || *c == '_'))
			c++;
		if (c == colon) {
			log_err("'%s': unknown backend kind '%.*s' (known: ram, null, file, rbd, fault)",
				name, (int)(colon - name), name);
			return -EINVAL;
		}
	}
	return set_path(name, spec, name, strlen(name));
}

int be_open(const struct be_spec *spec, struct backend **out)
{
	*out = NULL;
	if (spec->fault.on)
		return be_fault_create(spec, out);
	if (!strcmp(spec->kind, "ram") || !strcmp(spec->kind, "null")) {
		if (spec->size == 0 || spec->size % BE_BLOCK_SIZE) {
			log_err("%s: size %llu is not a non-zero multiple of %u bytes", spec->kind,
				(unsigned long long)spec->size, BE_BLOCK_SIZE);
			return -EINVAL;
		}
		if (spec->kind[0] == 'r')
			return be_ram_create(spec, out);
		return be_null_create(spec, out);
	}
	if (!strcmp(spec->kind, "file"))
		return be_file_create(spec, out);
	if (!strcmp(spec->kind, "rbd"))
		return be_rbd_create(spec, out);
	log_err("unknown backend kind '%.*s'", (int)sizeof(spec->kind), spec->kind);
	return -EINVAL;
}

static void (*fence_hook)(void *arg);
static void *fence_arg;

void be_set_fence_hook(void (*hook)(void *arg), void *arg)
{
	__atomic_store_n(&fence_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&fence_hook, hook, __ATOMIC_RELEASE);
}

bool be_fence(struct backend *be)
{
	void (*hook)(void *arg);

	if (__atomic_exchange_n(&be->fenced, true, __ATOMIC_ACQ_REL))
		return false;
	hook = __atomic_load_n(&fence_hook, __ATOMIC_ACQUIRE);
	if (hook)
		hook(__atomic_load_n(&fence_arg, __ATOMIC_RELAXED));
	return true;
}

void be_close(struct backend *be)
{
	if (!be)
		return;
	if (be->lock_fd >= 0) {
		/* Let go of the LUN's lock (master/lunlock.c) before the close: an
		 * io_uring instance being torn down may keep the open file, and so
		 * its lock, a moment longer, and this process's next open of the
		 * LUN failed with EBUSY meanwhile. */
		struct flock un = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 2 };
		fcntl(be->lock_fd, F_OFD_SETLK, &un);
		fcntl(be->lock_fd, F_SETLK, &un);
	}
	be->ops->destroy(be);
}

int be_check_io(const struct backend *be, enum be_op op, uint64_t lba, uint32_t nblocks,
		const void *buf, bool readonly)
{
	uint64_t cap = be_capacity(be);

	switch (op) {
	case BE_OP_FLUSH:
		return 0;
	case BE_OP_READ:
		if (!buf && nblocks)
			return -EINVAL;
		break;
	case BE_OP_WRITE:
		if (!buf && nblocks)
			return -EINVAL;
		/* fall through */
	case BE_OP_WRITE_ZEROES:
	case BE_OP_DISCARD:
		if (readonly)
			return -EROFS;
		break;
	default:
		return -EINVAL;
	}
	if (lba > cap || nblocks > cap - lba)
		return -ERANGE;
	return 0;
}

int be_block_status(struct backend *be, uint64_t lba, uint64_t nblocks, struct be_extent *ext,
		    unsigned max)
{
	uint64_t cap = be_capacity(be);
	int n;

	if (!nblocks || !max)
		return -EINVAL;
	if (lba > cap || nblocks > cap - lba)
		return -ERANGE;
	if (!be->ops->block_status) {
		ext[0] = (struct be_extent){ .nblocks = nblocks, .state = 0 };
		return 1;
	}
	n = be->ops->block_status(be, lba, nblocks, ext, max);
	if (n == 0 || n > (int)max)
		return -EIO;   /* a backend bug: never hand it on */
	return n;
}
