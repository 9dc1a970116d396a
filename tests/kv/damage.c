/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv/damage: damaged blocks of a durable store are found and reported,
 * never returned as data: a value's raw block or its meta block (EIO for
 * that key only, the others read fine; arkdb-check names it and exits 1),
 * one superblock copy (the other one serves), both copies, a checkpoint
 * block, and a meta block in the middle of the log after a crash (the
 * open fails with EIO instead of dropping what came after it), also when
 * the log went on past segments the replay emptied. With two batches
 * written at once: a torn batch followed by a sound one written while it
 * was on its way (never acknowledged) is the log's torn tail, and a later
 * open's log goes on over it (epochs); a damaged batch that a later one
 * says was durable is damage. A version 1 store opens and is upgraded.
 */
#include "kv_test.h"

#include <fcntl.h>
#include <sys/wait.h>

#include "kv/crc32c.h"
#include "kv/kv_internal.h"
#include "t_daemon.h"

static char g_path[512], g_spec[600];

/* Where key @k's value is: its meta block (inline) or first raw block. */
static uint64_t value_lba(ARK *ark, uint64_t k)
{
	struct ark_impl *s = ark_impl(ark);
	uint64_t h = kv_hash(&k, sizeof(k));
	struct kv_shard *sh = kv_shard_of(s, h);

	pthread_mutex_lock(&sh->lock);
	struct kv_ent *e = kv_find_locked(sh, h, &k, sizeof(k));
	T_ASSERT(e);
	uint64_t lba = e->loc.npieces ? e->loc.pieces[0].lba : e->loc.lba;
	pthread_mutex_unlock(&sh->lock);
	return lba;
}

static void scribble(uint64_t lba, unsigned nblocks)
{
	static uint8_t junk[4096];
	int fd = open(g_path, O_WRONLY);

	T_ASSERT(fd >= 0);
	for (unsigned i = 0; i < nblocks; i++) {
		memset(junk, 0x5a + (int)i, sizeof(junk));
		T_EQ(pwrite(fd, junk, sizeof(junk), (off_t)((lba + i) * 4096)), 4096);
	}
	T_EQ(fsync(fd), 0);
	close(fd);
}

/* A fresh store with keys 0..199: even keys 100 B (inline), odd 6000 B (raw). */
static void fill(bool clean)
{
	static uint8_t val[6000];
	ARK *ark;
	int64_t res;

	unlink(g_path);
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_STORE));
	for (uint64_t k = 0; k < 200; k++) {
		size_t n = k % 2 ? 6000 : 100;
		kv_t_value(val, n, k, 1);
		T_OK(ark_set(ark, sizeof(k), &k, n, val, &res));
	}
	if (clean) {
		T_OK(ark_delete(ark));
	} else {
		/* Leave without a checkpoint, as a crash would (in a child). */
		_exit(T_PASS);
	}
}

static int run_check(void)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "%s '%s' >&2", t_tool_path("arkdb-check"), g_path);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void value_blocks(void)
{
	static uint8_t out[6000];
	ARK *ark;
	int64_t res;

	fill(true);
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD));
	uint64_t raw_key = 7, inline_key = 8;
	uint64_t raw_lba = value_lba(ark, raw_key), meta_lba = value_lba(ark, inline_key);
	T_OK(ark_delete(ark));
	scribble(raw_lba, 1);
	scribble(meta_lba, 1);
	T_EQ(run_check(), 1);
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD));
	T_RC(ark_get(ark, sizeof(raw_key), &raw_key, sizeof(out), out, 0, &res), EIO);
	T_RC(ark_get(ark, sizeof(inline_key), &inline_key, sizeof(out), out, 0, &res), EIO);
	int bad = 0;
	for (uint64_t k = 0; k < 200; k++) {
		size_t n = k % 2 ? 6000 : 100;
		int rc = ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res);
		if (rc == EIO) {
			bad++;   /* the meta block held several inline values */
			continue;
		}
		T_OK(rc);
		T_EQ(kv_t_value_ok(out, n, k, 1), 0);
	}
	T_ASSERT(bad >= 2 && bad < 100);
	/* Rewriting a damaged key heals it. */
	static uint8_t val[6000];
	kv_t_value(val, 6000, raw_key, 2);
	T_OK(ark_set(ark, sizeof(raw_key), &raw_key, 6000, val, &res));
	T_OK(ark_get(ark, sizeof(raw_key), &raw_key, sizeof(out), out, 0, &res));
	T_EQ(kv_t_value_ok(out, 6000, raw_key, 2), 0);
	T_OK(ark_delete(ark));
}

static void superblocks(void)
{
	ARK *ark;
	int64_t count;

	fill(true);
	/* The older copy damaged: the newer one serves. (The older one's
	 * checkpoint was freed once the newer one was written, so it is no
	 * fallback for a damaged newer copy.) */
	T_EQ(run_check(), 0);
	uint8_t blk[2][4096];
	int fd = open(g_path, O_RDONLY);
	T_ASSERT(fd >= 0);
	T_EQ(pread(fd, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
	close(fd);
	const struct kv_super *s0 = (const void *)(blk[0] + sizeof(struct kv_blk_hdr));
	const struct kv_super *s1 = (const void *)(blk[1] + sizeof(struct kv_blk_hdr));
	uint64_t older = s0->gen < s1->gen ? 0 : 1;
	scribble(older, 1);
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD));
	T_OK(ark_count(ark, &count));
	T_EQ(count, 200);
	T_OK(ark_delete(ark));
	/* Both copies: EIO, and never formatted over. */
	scribble(0, 2);
	T_RC(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD), EIO);
	T_RC(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD | ARK_KV_PERSIST_STORE), EIO);
	T_EQ(run_check(), 1);
}

static void checkpoint_block(void)
{
	uint8_t blk[2][4096];
	ARK *ark;

	fill(true);
	int fd = open(g_path, O_RDONLY);
	T_ASSERT(fd >= 0);
	T_EQ(pread(fd, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
	close(fd);
	const struct kv_super *s0 = (const void *)(blk[0] + sizeof(struct kv_blk_hdr));
	const struct kv_super *s1 = (const void *)(blk[1] + sizeof(struct kv_blk_hdr));
	const struct kv_super *sb = s0->gen > s1->gen ? s0 : s1;
	T_ASSERT(sb->ckpt_nsegs > 0);
	const uint32_t *segs = (const uint32_t *)(sb + 1);
	scribble(((uint64_t)segs[0] + 1) * sb->seg_blocks, 1);
	T_RC(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD), EIO);
	T_EQ(run_check(), 1);
}

/* fill(false) in a child: the store as a crash leaves it, log after the first checkpoint. */
static void fill_crashed(void)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0)
		fill(false);
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == T_PASS);
}

static void mid_log(void)
{
	ARK *ark;

	fill_crashed();
	/* The log of 200 one-operation batches follows the first checkpoint:
	 * damage a meta block in its middle (the 50th batch). */
	T_EQ(run_check(), 0);
	uint8_t hdr[4096];
	int fd = open(g_path, O_RDONLY);
	T_ASSERT(fd >= 0);
	uint64_t found = 0;
	for (uint64_t lba = 256; lba < 4096 && !found; lba++) {
		T_EQ(pread(fd, hdr, sizeof(hdr), (off_t)(lba * 4096)), 4096);
		const struct kv_blk_hdr *h = (const void *)hdr;
		if (h->magic == KV_MAGIC_META && h->seq == 50)
			found = lba;
	}
	close(fd);
	T_ASSERT(found);
	scribble(found, 1);
	T_RC(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD), EIO);
	T_EQ(run_check(), 1);
}

/*
 * The same where the log went on in a segment that is not the next one
 * (the writer takes the lowest free segment, which need not follow): a
 * batch's first meta block in the log's second segment is damaged and what
 * follows it in that segment moves to a free segment further on. The open
 * still finds the later batch there and fails with EIO.
 */
static void mid_log_elsewhere(void)
{
	static uint8_t blk[4096], zero[4096];
	ARK *ark;

	fill_crashed();
	int fd = open(g_path, O_RDWR);
	T_ASSERT(fd >= 0);
	T_EQ(pread(fd, blk, sizeof(blk), 0), 4096);
	const struct kv_super *sb = (const void *)(blk + sizeof(struct kv_blk_hdr));
	uint64_t segb = sb->seg_blocks;
	T_ASSERT(segb >= 16 && segb <= 4096);
	/* The log's last segment (the highest holding meta blocks), and in it
	 * the first batch's first meta block: later batches follow it there. */
	uint64_t last = 0, x = 0, later = 0;
	for (uint64_t lba = segb; lba < 16 * segb; lba++) {
		T_EQ(pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
		const struct kv_blk_hdr *h = (const void *)blk;
		if (h->magic == KV_MAGIC_META && h->batch == h->seq)
			last = lba;
	}
	T_ASSERT(last);
	for (uint64_t lba = last / segb * segb; lba <= last; lba++) {
		T_EQ(pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
		const struct kv_blk_hdr *h = (const void *)blk;
		if (h->magic != KV_MAGIC_META || h->batch != h->seq)
			continue;
		if (!x)
			x = lba;
		else
			later++;
	}
	T_ASSERT(x && later > 0);
	uint64_t seg_start = x / segb * segb, far = seg_start + 3 * segb;
	/* Move what follows it to the free segment three further on. */
	for (uint64_t lba = x + 1; lba < seg_start + segb; lba++) {
		T_EQ(pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
		T_EQ(pwrite(fd, blk, sizeof(blk), (off_t)((far + lba - seg_start) * 4096)), 4096);
		T_EQ(pwrite(fd, zero, sizeof(zero), (off_t)(lba * 4096)), 4096);
	}
	T_EQ(fsync(fd), 0);
	close(fd);
	scribble(x, 1);
	T_RC(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD), EIO);
	T_EQ(run_check(), 1);
}

/*
 * The same, where the log went on past segments the replay emptied: keys
 * set before a clean close (a checkpoint), overwritten after it, so the
 * lowest segments hold no live data once the log is replayed. The writer
 * could not have taken them (a durable store frees segments only at a
 * checkpoint), so they must not hide where the log really went on.
 */
static void mid_log_past_emptied(void)
{
	static uint8_t val[6000], blk[4096], zero[4096];
	const uint64_t nkeys = 1500;
	ARK *ark;
	int64_t res;

	unlink(g_path);
	T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_STORE));
	for (uint64_t k = 0; k < nkeys; k++) {
		kv_t_value(val, sizeof(val), k, 1);
		T_OK(ark_set(ark, sizeof(k), &k, sizeof(val), val, &res));
	}
	T_OK(ark_delete(ark));
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_LOAD | ARK_KV_PERSIST_STORE));
		for (uint64_t k = 0; k < nkeys + 200; k++) {
			kv_t_value(val, sizeof(val), k, 2);
			T_OK(ark_set(ark, sizeof(k), &k, sizeof(val), val, &res));
		}
		_exit(T_PASS);   /* no checkpoint, as a crash leaves it */
	}
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == T_PASS);

	int fd = open(g_path, O_RDWR);
	T_ASSERT(fd >= 0);
	T_EQ(pread(fd, blk, sizeof(blk), 0), 4096);
	const struct kv_super *sb = (const void *)(blk + sizeof(struct kv_blk_hdr));
	uint64_t segb = sb->seg_blocks, nsegs = sb->nsegs;
	T_ASSERT(segb >= 16 && segb <= 4096);
	/* The highest meta block of the newest epoch starting a batch: the
	 * log's last segment; in it the first batch's first meta block. */
	uint64_t last = 0, x = 0, later = 0;
	uint32_t top = 0;
	for (uint64_t lba = segb; lba < (nsegs + 1) * segb; lba++) {
		T_EQ(pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
		const struct kv_blk_hdr *h = (const void *)blk;
		if (h->magic != KV_MAGIC_META || h->batch != h->seq || h->epoch < top)
			continue;
		top = h->epoch;
		last = lba;
	}
	T_ASSERT(last);
	uint64_t seg_start = last / segb * segb;
	for (uint64_t lba = seg_start; lba <= last; lba++) {
		T_EQ(pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
		const struct kv_blk_hdr *h = (const void *)blk;
		if (h->magic != KV_MAGIC_META || h->batch != h->seq || h->epoch != top)
			continue;
		if (!x)
			x = lba;
		else
			later++;
	}
	T_ASSERT(x && later > 0);
	/* At least 8 segments below hold no live data after the replay. */
	T_ASSERT(seg_start / segb > 10);
	uint64_t far = seg_start + 3 * segb;
	T_ASSERT(far / segb + 1 <= nsegs);
	for (uint64_t lba = x + 1; lba < seg_start + segb; lba++) {
		T_EQ(pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
		T_EQ(pwrite(fd, blk, sizeof(blk), (off_t)((far + lba - seg_start) * 4096)), 4096);
		T_EQ(pwrite(fd, zero, sizeof(zero), (off_t)(lba * 4096)), 4096);
	}
	T_EQ(fsync(fd), 0);
	close(fd);
	scribble(x, 1);
	T_RC(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD), EIO);
	T_EQ(run_check(), 1);
}

/* The meta block with sequence @seq (the newest epoch's), 0 if none. */
static uint64_t meta_of_seq(uint64_t seq)
{
	static uint8_t blk[4096];
	int fd = open(g_path, O_RDONLY);
	uint64_t found = 0;
	uint32_t top = 0;

	T_ASSERT(fd >= 0);
	for (uint64_t lba = 8; lba < 8192; lba++) {
		if (pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)) != 4096)
			break;
		const struct kv_blk_hdr *h = (const void *)blk;
		if (h->magic == KV_MAGIC_META && h->seq == seq && h->epoch >= top) {
			top = h->epoch;
			found = lba;
		}
	}
	close(fd);
	return found;
}

/* Give the batch whose (single) meta block is at @lba a KV_META_PENDING
 * count of @pending, as a batch written while those blocks were on their
 * way, and reseal it (CRC-32C seeded with the store's id). */
static void set_pending(uint64_t lba, uint16_t pending)
{
	static uint8_t blk[4096], sup[4096];
	int fd = open(g_path, O_RDWR);

	T_ASSERT(fd >= 0);
	T_EQ(pread(fd, sup, sizeof(sup), 0), 4096);
	const struct kv_super *sb = (const void *)(sup + sizeof(struct kv_blk_hdr));
	T_EQ(pread(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
	struct kv_blk_hdr *h = (void *)blk;
	T_ASSERT(h->magic == KV_MAGIC_META && (h->flags & KV_META_BATCH_END));
	h->flags = (uint16_t)((h->flags & KV_META_BATCH_END) | pending << KV_META_PENDING_SHIFT);
	h->crc = 0;
	h->crc = kv_crc32c((uint32_t)sb->store_id, blk, sizeof(blk));
	T_EQ(pwrite(fd, blk, sizeof(blk), (off_t)(lba * 4096)), 4096);
	T_EQ(fsync(fd), 0);
	close(fd);
}

/*
 * A crashed store whose log ends with one-operation batches: keys 0..199
 * (fill()), then keys 200 and 201 with raw values. Their batches' first
 * meta sequences go to @seq[0..2] (keys 199, 200, 201) and the raw block
 * of key 200 to *@raw200.
 */
static void fill_tail(uint64_t seq[3], uint64_t *raw200)
{
	static uint8_t val[6000];
	int pfd[2];

	T_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		ARK *ark;
		int64_t res;
		uint64_t out[4];

		close(pfd[0]);
		unlink(g_path);
		T_OK(kv_t_create(g_spec, &ark, ARK_KV_PERSIST_STORE));
		for (uint64_t k = 0; k < 202; k++) {
			size_t n = k % 2 || k >= 200 ? 6000 : 100;
			kv_t_value(val, n, k, 1);
			if (k >= 199) {
				pthread_mutex_lock(&ark_impl(ark)->log_lock);
				out[k - 199] = ark_impl(ark)->next_seq;
				pthread_mutex_unlock(&ark_impl(ark)->log_lock);
			}
			T_OK(ark_set(ark, sizeof(k), &k, n, val, &res));
		}
		out[3] = value_lba(ark, 200);
		T_EQ(write(pfd[1], out, sizeof(out)), (ssize_t)sizeof(out));
		_exit(T_PASS);   /* no checkpoint, as a crash leaves it */
	}
	close(pfd[1]);
	uint64_t in[4];
	T_EQ(read(pfd[0], in, sizeof(in)), (ssize_t)sizeof(in));
	close(pfd[0]);
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == T_PASS);
	memcpy(seq, in, 3 * sizeof(*seq));
	*raw200 = in[3];
	/* One meta block a batch, one batch after another. */
	T_EQ(seq[1], seq[0] + 1);
	T_EQ(seq[2], seq[1] + 1);
}

/* Keys 0..@n-1 read their values of fill(); the keys from @n to 201 are gone. */
static void expect_keys(ARK *ark, uint64_t n)
{
	static uint8_t out[6000];
	int64_t res;

	for (uint64_t k = 0; k < 202; k++) {
		size_t len = k % 2 || k >= 200 ? 6000 : 100;
		int rc = ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res);
		if (k >= n) {
			T_RC(rc, ENOENT);
			continue;
		}
		T_OK(rc);
		T_EQ((uint64_t)res, len);
		T_EQ(kv_t_value_ok(out, len, k, 1), 0);
	}
}

/*
 * Key 200's batch torn (its raw block lost, or its meta block), key 201's
 * batch written while it was on its way (KV_META_PENDING 1) and so never
 * acknowledged: the log's torn tail, both gone, no error. A later open's
 * log goes on over it; after another crash, its keys are there and the
 * stale batch of key 201 (an older epoch) is not replayed.
 */
static void torn_then_unacked(bool meta)
{
	static uint8_t val[6000];
	uint64_t seq[3], raw200;
	ARK *ark;
	int64_t res;

	fill_tail(seq, &raw200);
	uint64_t m200 = meta_of_seq(seq[1]), m201 = meta_of_seq(seq[2]);
	T_ASSERT(m200 && m201);
	set_pending(m201, 1);
	scribble(meta ? m200 : raw200, 1);
	T_EQ(run_check(), 0);
	T_OK(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD));
	expect_keys(ark, 200);
	T_OK(ark_delete(ark));

	/* Go on from there in a writer that crashes: key 300 set. */
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		uint64_t k = 300;
		T_OK(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD));
		kv_t_value(val, 6000, k, 1);
		T_OK(ark_set(ark, sizeof(k), &k, 6000, val, &res));
		_exit(T_PASS);
	}
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == T_PASS);
	T_EQ(run_check(), 0);
	T_OK(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD));
	expect_keys(ark, 200);
	uint64_t k = 300;
	static uint8_t out[6000];
	T_OK(ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res));
	T_EQ(kv_t_value_ok(out, 6000, k, 1), 0);
	T_OK(ark_delete(ark));
}

static void torn_raw_then_unacked(void)
{
	torn_then_unacked(false);
}

static void torn_meta_then_unacked(void)
{
	torn_then_unacked(true);
}

/*
 * Key 199's batch damaged after it was acknowledged: key 200's batch was
 * written while it was on its way (KV_META_PENDING 1), but key 201's says
 * every block before it was durable (as the writer, with two batches at
 * most on their way, always writes the second one after). EIO, not a torn
 * tail; the same without key 201's batch proving it reads as the tail.
 */
static void damaged_then_pipelined(void)
{
	uint64_t seq[3], raw200;
	ARK *ark;

	fill_tail(seq, &raw200);
	uint64_t m199 = meta_of_seq(seq[0]), m200 = meta_of_seq(seq[1]);
	T_ASSERT(m199 && m200);
	set_pending(m200, 1);
	scribble(m199, 1);
	T_RC(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD), EIO);
	T_EQ(run_check(), 1);
}

/* A batch that a later one says was durable is replayed as it is: key
 * 200's raw block lost reads EIO (as any damaged value), the rest is there. */
static void durable_raw_damaged(void)
{
	static uint8_t out[6000];
	uint64_t seq[3], raw200, k = 200;
	ARK *ark;
	int64_t res;

	fill_tail(seq, &raw200);
	scribble(raw200, 1);
	T_OK(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD));
	T_RC(ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res), EIO);
	k = 201;
	T_OK(ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res));
	T_EQ(kv_t_value_ok(out, 6000, k, 1), 0);
	T_OK(ark_delete(ark));
}

/* The superblocks' format version: set both copies to @v (resealed, seed
 * 0) when @v, and return the newer copy's. */
static uint32_t super_version(uint32_t v)
{
	static uint8_t blk[2][4096];
	int fd = open(g_path, O_RDWR);

	T_ASSERT(fd >= 0);
	T_EQ(pread(fd, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
	struct kv_super *sb[2];
	for (int i = 0; i < 2; i++) {
		sb[i] = (void *)(blk[i] + sizeof(struct kv_blk_hdr));
		if (!v)
			continue;
		struct kv_blk_hdr *h = (void *)blk[i];
		sb[i]->version = v;
		h->crc = 0;
		h->crc = kv_crc32c(0, blk[i], 4096);
	}
	if (v) {
		T_EQ(pwrite(fd, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
		T_EQ(fsync(fd), 0);
	}
	close(fd);
	return sb[0]->gen > sb[1]->gen ? sb[0]->version : sb[1]->version;
}

/* A version 1 store (before KV_META_PENDING) opens as it is and is
 * version 2 after its first writable open; an unknown version is refused. */
static void old_version(void)
{
	static uint8_t out[6000];
	ARK *ark;
	int64_t res;

	fill(true);
	T_EQ(super_version(0), KV_FORMAT_VERSION);
	super_version(1);
	T_EQ(run_check(), 0);
	T_OK(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD));
	for (uint64_t k = 0; k < 200; k++) {
		size_t n = k % 2 ? 6000 : 100;
		T_OK(ark_get(ark, sizeof(k), &k, sizeof(out), out, 0, &res));
		T_EQ(kv_t_value_ok(out, n, k, 1), 0);
	}
	T_OK(ark_delete(ark));
	T_EQ(super_version(0), 2u);
	super_version(KV_FORMAT_VERSION + 1);
	T_RC(kv_t_open(g_spec, &ark, 2, ARK_KV_PERSIST_LOAD), EIO);
}

int main(void)
{
	snprintf(g_path, sizeof(g_path), "%s", t_path("kv-damage.img"));
	snprintf(g_spec, sizeof(g_spec), "file:%s?size=256M", g_path);
	T_RUN(value_blocks);
	T_RUN(superblocks);
	T_RUN(checkpoint_block);
	T_RUN(mid_log);
	T_RUN(mid_log_elsewhere);
	T_RUN(mid_log_past_emptied);
	T_RUN(torn_raw_then_unacked);
	T_RUN(torn_meta_then_unacked);
	T_RUN(damaged_then_pipelined);
	T_RUN(durable_raw_damaged);
	T_RUN(old_version);
	unlink(g_path);
	return T_PASS;
}
