/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kv.c - Description: the key/value store's on-disk format as its
 * recovery reads it back from a damaged LUN: superblocks, the checkpoint
 * stream, the log's meta blocks and records, raw value blocks.
 *
 * Once, at start, the harness builds a small durable store in a 2 MiB file
 * LUN (under $CXLFLASH_FUZZ_DIR, /dev/shm or /tmp): 40 keys (inline and
 * raw values) and a checkpoint, then, in a child that exits without
 * closing (a crash), 20 more sets, 5 deletes and a key too long to be
 * inline, which stay in the log after the checkpoint. Each input patches
 * a copy of that image and runs the offline checker (kv_check, what
 * arkdb-check runs) and, when asked, a read-write open (ark_create with
 * ARK_KV_PERSIST_LOAD: recovery, a new epoch, a checkpoint at close) with
 * a walk over every key. Errors are expected of a damaged image; a crash
 * or hang is a bug, and so is an error from the image as built.
 *
 * Input: byte 0 is the mode (bit 0: the read-write open too; bit 1: skip
 * the checker), then patches of
 *   u8 kind, u16 block, u16 offset, u8 len, len bytes
 * kind bit 0: block indexes the blocks the store wrote (else any block of
 * the LUN); bit 1: then reseal the block (its CRC made right again, so the
 * damage gets past the checksum); bit 2: XOR the bytes instead of writing
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cxlflash/arkdb.h>

#include "fuzz_util.h"
#include "kv/crc32c.h"
#include "kv/kv_format.h"
#include "kv/kv_internal.h"

#define LUN_BYTES (2u << 20)
#define NBLOCKS   (LUN_BYTES / KV_BLOCK)

static char path[256], spec[300];
static uint8_t *base, *img;
static uint32_t used[NBLOCKS], nused;   /* blocks the store wrote */
static uint32_t store_seed;             /* the CRC seed of non-super blocks */
static FILE *devnull;

static void die(const char *what, int rc)
{
	dprintf(2, "fuzz_kv: %s: %s\n", what, strerror(rc));
	abort();
}

static void set(ARK *ark, uint64_t k, size_t klen, size_t vlen)
{
	static uint8_t key[2048], val[6000];
	int64_t res;
	int rc;

	memset(key, 0, sizeof(key));
	memcpy(key, &k, sizeof(k));
	memset(val, (int)k, vlen);
	rc = ark_set(ark, klen, key, vlen, val, &res);
	if (rc)
		die("ark_set", rc);
}

static void build_store(void)
{
	ARK *ark;
	int rc, st;
	pid_t pid;

	unlink(path);
	rc = ark_create(spec, &ark, ARK_KV_PERSIST_STORE);
	if (rc)
		die("ark_create", rc);
	for (uint64_t k = 0; k < 40; k++)
		set(ark, k, sizeof(k), k % 2 ? 6000 : 100);
	rc = ark_delete(ark);   /* the checkpoint */
	if (rc)
		die("ark_delete", rc);
	/* The log after the checkpoint, left as a crash leaves it. */
	pid = fork();
	if (pid == 0) {
		int64_t res;

		if (ark_create(path, &ark, ARK_KV_PERSIST_LOAD))
			_exit(1);
		for (uint64_t k = 40; k < 60; k++)
			set(ark, k, sizeof(k), k % 3 ? 64 : 5000);
		for (uint64_t k = 0; k < 10; k += 2)
			if (ark_del(ark, sizeof(k), &k, &res))
				_exit(1);
		set(ark, 99, 2000, 10);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("the crashed writer", EIO);
}

static void remove_lun(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("CXLFLASH_FUZZ_DIR");
	int fd;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (!dir || !*dir)
		dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof(path), "%s/cxlflash-fuzz-kv-%d.img", dir, (int)getpid());
	snprintf(spec, sizeof(spec), "file:%s?size=%u", path, LUN_BYTES);
	atexit(remove_lun);   /* at the end of a run (a crash leaves it, to look at) */
	devnull = fopen("/dev/null", "w");
	base = malloc(LUN_BYTES);
	img = malloc(LUN_BYTES);
	if (!devnull || !base || !img)
		abort();
	build_store();
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, base, LUN_BYTES, 0) != LUN_BYTES)
		die("reading the image", errno);
	close(fd);
	for (uint32_t b = 0; b < NBLOCKS; b++) {
		const uint8_t *p = base + (size_t)b * KV_BLOCK;

		for (unsigned i = 0; i < KV_BLOCK; i++) {
			if (p[i]) {
				used[nused++] = b;
				break;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		const struct kv_super *sb =
			(const void *)(base + i * KV_BLOCK + sizeof(struct kv_blk_hdr));

		if (((const struct kv_blk_hdr *)(base + i * KV_BLOCK))->magic == KV_MAGIC_SUPER)
			store_seed = (uint32_t)sb->store_id;
	}
	if (!nused || !store_seed)
		die("the built store", EINVAL);
	return 0;
}

/* Make a block's CRC right again, as the store seals it (kv_blk_seal). */
static void reseal(uint8_t *blk)
{
	struct kv_blk_hdr *h = (struct kv_blk_hdr *)blk;
	uint32_t seed;

	if (h->magic == KV_MAGIC_SUPER)
		seed = 0;
	else if (h->magic == KV_MAGIC_META || h->magic == KV_MAGIC_CKPT)
		seed = store_seed;
	else
		return;
	h->crc = 0;
	h->crc = kv_crc32c(seed, blk, KV_BLOCK);
}

/* Keys in the built store: 40, 5 of them deleted, 20 more and the long one. */
#define STORE_KEYS (40 - 5 + 20 + 1)

/* Read-write recovery, then every key through the iterator and a get;
 * @intact: the image is as built, so all of it must work. */
static void open_and_walk(bool intact)
{
	static uint8_t key[1 << 16], val[8192];
	ARK *ark;
	ARI *it;
	int64_t klen = 0, count = 0, res;

	/* One async thread and a small index: the defaults (20 threads, a
	 * million hash slots) cost more than the recovery itself. */
	if (ark_create_verbose(spec, &ark, 0, 0, 1024, 1, 0, 0, ARK_KV_PERSIST_LOAD)) {
		FUZZ_CHECK(!intact);
		return;
	}
	ark_count(ark, &count);
	if (intact)
		FUZZ_CHECK(count == STORE_KEYS);
	it = ark_first(ark, sizeof(key), &klen, key);
	while (it) {
		if (klen >= 0 && (size_t)klen <= sizeof(key)) {
			int rc = ark_get(ark, (uint64_t)klen, key, sizeof(val), val, 0, &res);

			if (rc && (intact || log_enabled(LOG_DEBUG)))   /* FUZZ_VERBOSE=1 */
				dprintf(2, "fuzz_kv: get of a key of %lld bytes: %s\n",
					(long long)klen, strerror(rc));
			FUZZ_CHECK(!intact || rc == 0);
		}
		if (ark_next(it, sizeof(key), &klen, key))
			break;   /* ENOENT at the end frees the iterator */
	}
	ark_delete(ark);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	bool intact = in.left < 6;   /* no patch */
	int fd;

	memcpy(img, base, LUN_BYTES);
	while (in.left >= 6) {
		uint8_t kind = fuzz_u8(&in), len;
		uint16_t sel = fuzz_u16(&in), off = fuzz_u16(&in) % KV_BLOCK;
		uint32_t b = kind & 1 ? used[sel % nused] : sel % NBLOCKS;
		uint8_t *blk = img + (size_t)b * KV_BLOCK, bytes[255];

		len = fuzz_u8(&in);
		len = (uint8_t)fuzz_bytes(&in, bytes, len);
		if (len > KV_BLOCK - off)
			len = (uint8_t)(KV_BLOCK - off);
		for (unsigned i = 0; i < len; i++)
			blk[off + i] = kind & 4 ? blk[off + i] ^ bytes[i] : bytes[i];
		if (kind & 2)
			reseal(blk);
	}
	fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, img, LUN_BYTES, 0) != LUN_BYTES)
		die("writing the image", errno);
	close(fd);
	/* The store as built must check clean and open whole (a long key with
	 * a short value came back damaged once: seed-intact* are its
	 * regression inputs). */
	if (!(mode & 2) && kv_check(path, devnull, false) != 0)
		FUZZ_CHECK(!intact);
	if (mode & 1)
		open_and_walk(intact);
	return 0;
}
