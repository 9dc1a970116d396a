/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvpeer_lmdb.c - LMDB (lmdb.h) under the same phases, options and result
 * lines as arkbench (kvbench.h), for bench/run-bench-kv.sh.
 *
 * --path DIR is the environment directory (data.mdb and lock.mdb are
 * removed before the run and after it unless --keep). Every set and del is
 * its own write transaction (LMDB has one writer at a time, so with
 * --threads N the writes queue for its lock), every get a read-only
 * transaction (MDB_NOTLS, so any thread may run one). --persist keeps
 * LMDB's default: each commit is synced to the disk before it returns;
 * without it the environment is opened with MDB_NOSYNC. The map size is
 * --map-size, by default 4 x (keys x (ksize + vsize + 64)) + 64 MiB.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "kvbench.h"

struct ldb {
	MDB_env *env;
	MDB_dbi dbi;
	const char *dir;
};

static int ldb_err(const char *what, int rc)
{
	fprintf(stderr, "kvpeer_lmdb: %s: %s\n", what, mdb_strerror(rc));
	return rc > 0 ? rc : EIO;
}

static void ldb_remove(const char *dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
}

static int ldb_open(struct kvb *b)
{
	static struct ldb l;
	uint64_t map = b->o.map_size;
	MDB_txn *txn;
	int rc;

	if (!b->o.path || !*b->o.path) {
		fprintf(stderr, "kvpeer_lmdb: --path DIR is required (a directory for the environment)\n");
		return EINVAL;
	}
	l.dir = b->o.path;
	b->priv = &l;
	if (mkdir(l.dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "kvpeer_lmdb: %s: %s\n", l.dir, strerror(errno));
		return errno;
	}
	ldb_remove(l.dir);
	if (!map)
		map = 4 * b->o.keys * (b->o.ksize + b->o.vsize + 64) + (64ull << 20);
	if ((rc = mdb_env_create(&l.env)) || (rc = mdb_env_set_mapsize(l.env, map)) ||
	    (rc = mdb_env_set_maxreaders(l.env, b->o.threads + 8)))
		return ldb_err("mdb_env_create", rc);
	rc = mdb_env_open(l.env, l.dir, MDB_NOTLS | MDB_NORDAHEAD | (b->o.persist ? 0 : MDB_NOSYNC),
			  0644);
	if (rc)
		return ldb_err(l.dir, rc);
	if ((rc = mdb_txn_begin(l.env, NULL, 0, &txn)))
		return ldb_err("mdb_txn_begin", rc);
	if ((rc = mdb_dbi_open(txn, NULL, 0, &l.dbi))) {
		mdb_txn_abort(txn);
		return ldb_err("mdb_dbi_open", rc);
	}
	if ((rc = mdb_txn_commit(txn)))
		return ldb_err("mdb_txn_commit", rc);
	return 0;
}

static int ldb_close(struct kvb *b)
{
	struct ldb *l = b->priv;

	mdb_env_close(l->env);
	if (!b->o.keep) {
		ldb_remove(l->dir);
		rmdir(l->dir);
	}
	return 0;
}

static int ldb_write(struct kvb *b, const void *key, uint64_t klen, const void *val, uint64_t vlen,
		     bool del)
{
	struct ldb *l = b->priv;
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)))
		return ldb_err("mdb_txn_begin", rc);
	rc = del ? mdb_del(txn, l->dbi, &k, NULL) : mdb_put(txn, l->dbi, &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return rc == MDB_NOTFOUND ? ENOENT : ldb_err(del ? "mdb_del" : "mdb_put", rc);
	}
	if ((rc = mdb_txn_commit(txn)))
		return ldb_err("mdb_txn_commit", rc);
	return 0;
}

static int ldb_set(struct kvb *b, const void *key, uint64_t klen, const void *val, uint64_t vlen)
{
	return ldb_write(b, key, klen, val, vlen, false);
}

static int ldb_del(struct kvb *b, const void *key, uint64_t klen)
{
	return ldb_write(b, key, klen, NULL, 0, true);
}

static int ldb_get(struct kvb *b, const void *key, uint64_t klen, void *buf, uint64_t buflen,
		   uint64_t *vlen)
{
	struct ldb *l = b->priv;
	MDB_val k = { klen, (void *)key }, v;
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)))
		return ldb_err("mdb_txn_begin", rc);
	rc = mdb_get(txn, l->dbi, &k, &v);
	if (!rc) {
		*vlen = v.mv_size;
		memcpy(buf, v.mv_data, v.mv_size < buflen ? v.mv_size : buflen);
	}
	mdb_txn_abort(txn);
	if (rc)
		return rc == MDB_NOTFOUND ? ENOENT : ldb_err("mdb_get", rc);
	return 0;
}

static const struct kv_engine lmdb_engine = {
	.name = "lmdb",
	.prog = "kvpeer_lmdb",
	.path_help = "the environment directory (required; created, emptied first, removed after)",
	.extra_help = "      --map-size N    LMDB map size, K/M/G suffixes (default: 4x the data + 64M)\n"
		      "      --keep          keep the environment afterwards\n",
	.open = ldb_open,
	.set = ldb_set,
	.get = ldb_get,
	.del = ldb_del,
	.close = ldb_close,
};

int main(int argc, char **argv)
{
	return kvb_main(&lmdb_engine, argc, argv);
}
