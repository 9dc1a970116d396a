/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvpeer_rocksdb.c - RocksDB (its C API, rocksdb/c.h) under the same phases,
 * options and result lines as arkbench (kvbench.h), for bench/run-bench-kv.sh.
 *
 * --path DIR is the database directory: emptied (rocksdb_destroy_db) before
 * the run and removed after it unless --keep. --persist writes with
 * WriteOptions sync=1, so every put or delete returns once its WAL record
 * is synced; with --threads N each thread writes synchronously and RocksDB's
 * group commit shares the syncs. Without --persist, sync=0 (the WAL goes to
 * the page cache). Options are RocksDB's defaults plus create_if_missing and
 * increase_parallelism(online CPUs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "kvbench.h"

struct rdb {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wo;
	rocksdb_readoptions_t *ro;
	const char *dir;
};

static int rdb_err(const char *what, char *err)
{
	fprintf(stderr, "kvpeer_rocksdb: %s: %s\n", what, err);
	rocksdb_free(err);
	return EIO;
}

static int rdb_open(struct kvb *b)
{
	static struct rdb r;
	char *err = NULL;

	if (!b->o.path || !*b->o.path) {
		fprintf(stderr, "kvpeer_rocksdb: --path DIR is required (a directory for the database)\n");
		return EINVAL;
	}
	r.dir = b->o.path;
	b->priv = &r;
	r.opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r.opts, 1);
	rocksdb_options_increase_parallelism(r.opts, (int)sysconf(_SC_NPROCESSORS_ONLN));
	rocksdb_destroy_db(r.opts, r.dir, &err);   /* a fresh database every run */
	if (err)
		return rdb_err(r.dir, err);
	r.db = rocksdb_open(r.opts, r.dir, &err);
	if (err)
		return rdb_err(r.dir, err);
	r.wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r.wo, b->o.persist ? 1 : 0);
	r.ro = rocksdb_readoptions_create();
	return 0;
}

static int rdb_close(struct kvb *b)
{
	struct rdb *r = b->priv;
	char *err = NULL;
	int rc = 0;

	rocksdb_close(r->db);
	if (!b->o.keep) {
		rocksdb_destroy_db(r->opts, r->dir, &err);
		if (err)
			rc = rdb_err("destroy", err);
		rmdir(r->dir);
	}
	rocksdb_writeoptions_destroy(r->wo);
	rocksdb_readoptions_destroy(r->ro);
	rocksdb_options_destroy(r->opts);
	return rc;
}

static int rdb_set(struct kvb *b, const void *key, uint64_t klen, const void *val, uint64_t vlen)
{
	struct rdb *r = b->priv;
	char *err = NULL;

	rocksdb_put(r->db, r->wo, key, klen, val, vlen, &err);
	return err ? rdb_err("put", err) : 0;
}

static int rdb_get(struct kvb *b, const void *key, uint64_t klen, void *buf, uint64_t buflen,
		   uint64_t *vlen)
{
	struct rdb *r = b->priv;
	rocksdb_pinnableslice_t *ps;
	const char *v;
	char *err = NULL;
	size_t n = 0;

	ps = rocksdb_get_pinned(r->db, r->ro, key, klen, &err);
	if (err)
		return rdb_err("get", err);
	if (!ps)
		return ENOENT;
	v = rocksdb_pinnableslice_value(ps, &n);
	*vlen = n;
	memcpy(buf, v, n < buflen ? n : buflen);   /* the value into the caller's buffer, as ark_get */
	rocksdb_pinnableslice_destroy(ps);
	return 0;
}

static int rdb_del(struct kvb *b, const void *key, uint64_t klen)
{
	struct rdb *r = b->priv;
	char *err = NULL;

	rocksdb_delete(r->db, r->wo, key, klen, &err);
	return err ? rdb_err("delete", err) : 0;
}

static const struct kv_engine rocksdb_engine = {
	.name = "rocksdb",
	.prog = "kvpeer_rocksdb",
	.path_help = "the database directory (required; emptied first, removed after)",
	.extra_help = "      --keep          keep the database directory afterwards\n",
	.open = rdb_open,
	.set = rdb_set,
	.get = rdb_get,
	.del = rdb_del,
	.close = rdb_close,
};

int main(int argc, char **argv)
{
	return kvb_main(&rocksdb_engine, argc, argv);
}
