/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quotas.c - cxlflashd's per-uid quotas (issue 12, part 2), with tenants
 * as real other users:
 *   contexts:    one uid attaches until its limit and gets EDQUOT, while
 *                another uid (a limit of its own, from a uid rule) still
 *                attaches up to its own;
 *   chunks:      one uid's vLUN grows to its chunk quota and no further
 *                (EDQUOT, raw VLUN_RESIZE and cblk_set_size alike, the
 *                vLUN keeping its size), while another uid's grows;
 *   connections: the uid's connection over its limit is refused with
 *                EDQUOT (cxlflash_open's errno), another uid connects;
 *   exemption:   root and a member of --admin-group go past every limit;
 *   status:      `cxlflash status` shows each uid's use against its limits,
 *                a tenant only its own line, root every line;
 *   clones:      a vLUN at the uid's chunk quota is cloned into a forked
 *                child (cblk_clone_after_fork): the shared chunks count
 *                once, so the clone is not refused, and reads the data;
 *   stuck:       a tenant whose requests hold workers (it sends STATUS
 *                requests on all its connections and never reads the
 *                replies, so the daemon's sends wait until they time out)
 *                holds at most half of them: another uid attaches
 *                meanwhile (the time it took is printed).
 * Needs root (to become other users).
 */
#include <grp.h>
#include <sys/stat.h>

#include <cxlflash/cxlflash_ioctl.h>

#include "d_test.h"
#include "server/server.h"
#include "server/wire.h"

#define A      65534u   /* the default quotas */
#define B      65533u   /* a uid rule: contexts=2 */
#define ADMIN  65532u   /* in the admin group */
#define ADMIN_GID 65530u

#define CTX_LIMIT   4
#define B_CTX_LIMIT 2
#define CHUNK_LIMIT 2
#define CONN_LIMIT  8
#define CHUNK       65536ull   /* blocks per chunk */

static struct t_daemon g_d;

struct qshared {
	volatile int stop;
	volatile int ready[4];
	volatile int got[4];      /* what each tenant managed */
	volatile int err[4];      /* the errno that stopped it */
};

static struct qshared *g_sh;

static int become(uid_t uid, bool admin)
{
	gid_t g = ADMIN_GID;

	if ((admin ? setgroups(1, &g) : setgroups(0, NULL)) || setgid(uid) || setuid(uid))
		return -1;
	return geteuid() == uid ? 0 : -1;
}

static int attach(int fd1, uint64_t *ctxid)
{
	struct dk_cxlflash_attach a = { 0 };

	a.hdr.flags = O_RDWR;
	a.num_interrupts = 4;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_ATTACH, &a))
		return -errno;
	*ctxid = a.context_id;
	return 0;
}

/* Wait (10 s at most) for the parent's stop. */
static void await_stop(void)
{
	for (int i = 0; i < 10000 && !g_sh->stop; i++)
		d_sleep_us(1000);
}

/* Tenant @k as @uid: attach up to @tries contexts; record how many and
 * the errno that stopped it; hold them until told to stop. */
static int attach_many(int k, uid_t uid, bool admin, int tries)
{
	int fd1, n = 0, rc = 0;
	uint64_t id;

	if (become(uid, admin))
		return 60;
	fd1 = cxlflash_open("lun0", O_RDWR);
	if (fd1 < 0)
		return 61;
	while (n < tries && (rc = attach(fd1, &id)) == 0)
		n++;
	g_sh->got[k] = n;
	g_sh->err[k] = -rc;
	g_sh->ready[k] = 1;
	await_stop();
	return 0;
}

/* Until no connection of @uid is left (its clients' ends reach the daemon
 * a moment after they exit). */
static void wait_gone(uid_t uid)
{
	char pat[48];

	snprintf(pat, sizeof(pat), "{\"uid\":%u,", (unsigned)uid);
	for (int i = 0; i < 500 && strstr(d_status(&g_d), pat); i++)
		d_sleep_us(10000);
	T_ASSERT(!strstr(d_status(&g_d), pat));
}

static void reset(void)
{
	memset((void *)g_sh, 0, sizeof(*g_sh));
}

static void wait_ready(int k)
{
	for (int i = 0; i < 10000 && !g_sh->ready[k]; i++)
		d_sleep_us(1000);
	T_ASSERT(g_sh->ready[k]);
}

/* The tenant object of @uid in a status, or NULL. */
static const char *tenant(const char *st, uid_t uid)
{
	char pat[48];

	snprintf(pat, sizeof(pat), "{\"uid\":%u,", (unsigned)uid);
	return strstr(st, pat);
}

static void contexts(void)
{
	pid_t a, b, adm;
	const char *st, *t;

	reset();
	a = d_fork();
	if (a == 0)
		_exit(attach_many(0, A, false, CTX_LIMIT + 3));
	wait_ready(0);
	/* A is at its limit; B still attaches, up to its own. */
	b = d_fork();
	if (b == 0)
		_exit(attach_many(1, B, false, B_CTX_LIMIT + 3));
	adm = d_fork();
	if (adm == 0)
		_exit(attach_many(2, ADMIN, true, CTX_LIMIT + 3));
	wait_ready(1);
	wait_ready(2);
	fprintf(stderr, "contexts: uid %u got %d (limit %d, then errno %d), uid %u got %d "
		"(limit %d, then errno %d), admin uid %u got %d\n", A, g_sh->got[0], CTX_LIMIT,
		g_sh->err[0], B, g_sh->got[1], B_CTX_LIMIT, g_sh->err[1], ADMIN, g_sh->got[2]);
	T_EQ(g_sh->got[0], CTX_LIMIT);
	T_EQ(g_sh->err[0], EDQUOT);
	T_EQ(g_sh->got[1], B_CTX_LIMIT);
	T_EQ(g_sh->err[1], EDQUOT);
	T_EQ(g_sh->got[2], CTX_LIMIT + 3);   /* exempt */
	T_EQ(g_sh->err[2], 0);
	/* Root sees each tenant's use against its limits. */
	st = d_status(&g_d);
	T_ASSERT((t = tenant(st, A)) != NULL);
	T_EQ(t_json_num(t, "contexts"), CTX_LIMIT);
	T_EQ(t_json_num(t, "contexts_limit"), CTX_LIMIT);
	T_EQ(t_json_num(t, "connections_limit"), CONN_LIMIT);
	T_ASSERT((t = tenant(st, B)) != NULL);
	T_EQ(t_json_num(t, "contexts"), B_CTX_LIMIT);
	T_EQ(t_json_num(t, "contexts_limit"), B_CTX_LIMIT);
	T_ASSERT((t = tenant(st, ADMIN)) != NULL);
	T_EQ(t_json_num(t, "contexts"), CTX_LIMIT + 3);
	T_ASSERT(strstr(t, "\"exempt\":true,") == t + strlen("{\"uid\":65532,"));
	g_sh->stop = 1;
	T_EQ(d_wait(a), 0);
	T_EQ(d_wait(b), 0);
	T_EQ(d_wait(adm), 0);
	wait_gone(A);
	wait_gone(B);
	wait_gone(ADMIN);
	d_check("lun0");
}

static int resize(int fd1, uint64_t ctxid, uint64_t h, uint64_t blocks, uint64_t *last)
{
	struct dk_cxlflash_resize r = { 0 };

	r.context_id = ctxid;
	r.rsrc_handle = h;
	r.req_size = blocks;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_VLUN_RESIZE, &r))
		return -errno;
	*last = r.last_lba;
	return 0;
}

/* Tenant @k as @uid: a vLUN grown a chunk at a time up to @tries chunks;
 * got: the chunks it reached; err: what stopped it. Then the same through
 * the block library (a second vLUN: nothing left for it under a quota). */
static int grow(int k, uid_t uid, int tries)
{
	struct dk_cxlflash_uvirtual v = { 0 };
	uint64_t ctxid, last = 0;
	int fd1, n = 0, rc = 0;

	if (become(uid, false))
		return 60;
	fd1 = cxlflash_open("lun0", O_RDWR);
	if (fd1 < 0 || attach(fd1, &ctxid))
		return 61;
	v.context_id = ctxid;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_USER_VIRTUAL, &v))
		return 62;
	while (n < tries && (rc = resize(fd1, ctxid, v.rsrc_handle, (n + 1) * CHUNK, &last)) == 0)
		n++;
	g_sh->got[k] = n;
	g_sh->err[k] = -rc;
	/* What was granted stands after a refusal. */
	if (resize(fd1, ctxid, v.rsrc_handle, (uint64_t)n * CHUNK, &last) ||
	    last != (n ? (uint64_t)n * CHUNK - 1 : UINT64_MAX))
		return 63;
	if (rc == -EDQUOT) {
		chunk_id_t id = cblk_open("lun0", 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN);

		errno = 0;
		if (id == NULL_CHUNK_ID || cblk_set_size(id, 16, 0) == 0 || errno != EDQUOT) {
			fprintf(stderr, "uid %u: cblk_set_size past the quota: errno %d\n",
				(unsigned)uid, errno);
			return 64;
		}
		cblk_close(id, 0);
	}
	g_sh->ready[k] = 1;
	await_stop();
	return 0;
}

static void chunks(void)
{
	pid_t a, b;
	const char *st, *t;

	reset();
	a = d_fork();
	if (a == 0)
		_exit(grow(0, A, CHUNK_LIMIT + 2));
	wait_ready(0);
	b = d_fork();
	if (b == 0)
		_exit(grow(1, B, CHUNK_LIMIT));
	wait_ready(1);
	fprintf(stderr, "chunks: uid %u grew to %d chunks (limit %d, then errno %d); uid %u "
		"grew to %d meanwhile\n", A, g_sh->got[0], CHUNK_LIMIT, g_sh->err[0], B,
		g_sh->got[1]);
	T_EQ(g_sh->got[0], CHUNK_LIMIT);
	T_EQ(g_sh->err[0], EDQUOT);
	T_EQ(g_sh->got[1], CHUNK_LIMIT);
	st = d_status(&g_d);
	T_ASSERT((t = tenant(st, A)) != NULL);
	T_EQ(t_json_num(t, "chunks_held"), CHUNK_LIMIT);
	T_EQ(t_json_num(t, "chunks_limit"), CHUNK_LIMIT);
	/* Root is exempt: it takes what is left. */
	{
		chunk_id_t id = cblk_open("lun0", 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN);

		T_ASSERT(id != NULL_CHUNK_ID);
		T_EQ(cblk_set_size(id, 3 * CHUNK, 0), 0);
		T_EQ(cblk_close(id, 0), 0);
	}
	g_sh->stop = 1;
	T_EQ(d_wait(a), 0);
	T_EQ(d_wait(b), 0);
	wait_gone(A);
	wait_gone(B);
	d_check("lun0");
	T_EQ(t_json_num(d_lun_json(d_status(&g_d), "lun0"), "chunks_free"), 8);
}

/* Tenant @k as @uid: open connections (cxlflash_open) up to @tries. */
static int connect_many(int k, uid_t uid, bool admin, int tries)
{
	int n = 0, err = 0;

	if (become(uid, admin))
		return 60;
	while (n < tries) {
		if (cxlflash_open("lun0", O_RDWR) < 0) {
			err = errno;
			break;
		}
		n++;
	}
	g_sh->got[k] = n;
	g_sh->err[k] = err;
	g_sh->ready[k] = 1;
	await_stop();
	return 0;
}

static void connections(void)
{
	pid_t a, b, adm;
	const char *st, *t;

	reset();
	a = d_fork();
	if (a == 0)
		_exit(connect_many(0, A, false, CONN_LIMIT + 5));
	wait_ready(0);
	b = d_fork();
	if (b == 0)
		_exit(connect_many(1, B, false, 3));
	adm = d_fork();
	if (adm == 0)
		_exit(connect_many(2, ADMIN, true, CONN_LIMIT + 5));
	wait_ready(1);
	wait_ready(2);
	fprintf(stderr, "connections: uid %u opened %d (limit %d, then errno %d), uid %u %d, "
		"admin uid %u %d\n", A, g_sh->got[0], CONN_LIMIT, g_sh->err[0], B, g_sh->got[1],
		ADMIN, g_sh->got[2]);
	T_EQ(g_sh->got[0], CONN_LIMIT);
	T_EQ(g_sh->err[0], EDQUOT);
	T_EQ(g_sh->got[1], 3);
	T_EQ(g_sh->got[2], CONN_LIMIT + 5);
	st = d_status(&g_d);
	T_ASSERT((t = tenant(st, A)) != NULL);
	T_EQ(t_json_num(t, "connections"), CONN_LIMIT);
	g_sh->stop = 1;
	T_EQ(d_wait(a), 0);
	T_EQ(d_wait(b), 0);
	T_EQ(d_wait(adm), 0);
	wait_gone(A);
	wait_gone(B);
	wait_gone(ADMIN);
}

/* As A holding two contexts: the status (JSON and text) shows A's own
 * line only, with its use against its limits. */
static int look(void)
{
	static char out[1 << 16];
	const char *text[] = { "status", "--socket", g_d.socket, NULL };
	const char *t;
	uint64_t id;
	int fd1;

	if (become(A, false))
		return 70;
	fd1 = cxlflash_open("lun0", O_RDWR);
	if (fd1 < 0 || attach(fd1, &id) || attach(fd1, &id))
		return 71;
	t_tool_quiet = 1;
	if (t_daemon_status(&g_d, out, sizeof(out)))
		return 72;
	if (!(t = tenant(out, A)) || t_json_num(t, "contexts") != 2 ||
	    t_json_num(t, "contexts_limit") != CTX_LIMIT || t_json_num(t, "connections") < 2 ||
	    tenant(out, 0)) {
		fprintf(stderr, "uid %u's status: %s\n", A, out);
		return 73;
	}
	if (t_run_tool(t_tool_path("cxlflash"), text, out, sizeof(out)) ||
	    !strstr(out, "Tenants") || !strstr(out, "65534 ") || !strstr(out, " 2/4 ") ||
	    !strstr(out, "lun0 0/2")) {
		fprintf(stderr, "uid %u's text status: %s\n", A, out);
		return 74;
	}
	fprintf(stderr, "uid %u's status, as it sees it:\n%s", A, strstr(out, "Tenants"));
	return 0;
}

static void status(void)
{
	pid_t pid = d_fork();

	if (pid == 0)
		_exit(look());
	T_EQ(d_wait(pid), 0);
	wait_gone(A);
}

/* As A: a vLUN at A's whole chunk quota, a block written, then a child
 * clones it (shared chunks count once for the uid) and reads the block. */
static int clone_at_quota(void)
{
	uint8_t *w = bt_buf(1), *r = bt_buf(1);
	chunk_id_t id;
	int status;
	pid_t pid;

	if (become(A, false))
		return 100;
	id = cblk_open("lun0", 4, O_RDWR, 0, CBLK_OPN_VIRT_LUN);
	if (id == NULL_CHUNK_ID || cblk_set_size(id, CHUNK_LIMIT * CHUNK, 0))
		return 101;
	memset(w, 0x5a, BLK);
	if (cblk_write(id, w, CHUNK_LIMIT * CHUNK - 1, 1, 0) != 1)
		return 102;
	pid = fork();
	if (pid < 0)
		return 103;
	if (pid == 0) {
		if (cblk_clone_after_fork(id, O_RDONLY, 0)) {
			fprintf(stderr, "clone at the quota: %s\n", strerror(errno));
			_exit(1);
		}
		_exit(cblk_read(id, r, CHUNK_LIMIT * CHUNK - 1, 1, 0) == 1 && !memcmp(r, w, BLK) ?
		      0 : 2);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 104;
	return cblk_close(id, 0) ? 105 : 0;
}

static void clones(void)
{
	pid_t pid;

#ifdef __SANITIZE_THREAD__
	/* TSan ends a child forked from a threaded process once it starts a
	 * thread (die_after_fork), and the block library's child does. */
	fprintf(stderr, "clones: not run under ThreadSanitizer\n");
	return;
#endif
	pid = d_fork();
	if (pid == 0)
		_exit(clone_at_quota());
	T_EQ(d_wait(pid), 0);
	fprintf(stderr, "clones: uid %u's vLUN at its %d-chunk quota cloned into its child\n", A,
		CHUNK_LIMIT);
	wait_gone(A);
	d_check("lun0");
}

/* As A: CONN_LIMIT connections, each stuffed with STATUS requests whose
 * replies are never read; then wait to be told to stop. */
static int hog(void)
{
	int socks[CONN_LIMIT], sent = 0;

	if (become(A, false))
		return 80;
	for (int i = 0; i < CONN_LIMIT; i++) {
		socks[i] = wire_connect(g_d.socket);
		if (socks[i] < 0)
			return 81;
	}
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < CONN_LIMIT; i++) {
			for (;;) {
				struct wire_msg h = { .op = WIRE_OP_STATUS, .magic = WIRE_MAGIC,
						      .version = WIRE_VERSION };

				if (send(socks[i], &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) !=
				    (ssize_t)sizeof(h))
					break;
				sent++;
			}
		}
		d_sleep_us(2000);
	}
	g_sh->got[0] = sent;
	g_sh->ready[0] = 1;
	await_stop();
	return 0;
}

static int attach_once(void)
{
	uint64_t id;
	int fd1;

	if (become(B, false))
		return 90;
	fd1 = cxlflash_open("lun0", O_RDWR);
	if (fd1 < 0 || attach(fd1, &id))
		return 91;
	return 0;
}

static void stuck(void)
{
	uint64_t t0, dt;
	pid_t h, b;
	int rc;

	reset();
	h = d_fork();
	if (h == 0)
		_exit(hog());
	wait_ready(0);
	t0 = d_now_us();
	b = d_fork();
	if (b == 0)
		_exit(attach_once());
	rc = d_wait(b);
	dt = d_now_us() - t0;
	fprintf(stderr, "stuck: uid %u sent %d STATUS requests on %d connections and reads no "
		"reply; uid %u opened and attached in %llu ms meanwhile (a stuck send gives up "
		"after %d s)\n", A, g_sh->got[0], CONN_LIMIT, B, (unsigned long long)dt / 1000,
		MSRV_SEND_TIMEOUT_S);
	T_EQ(rc, 0);
	g_sh->stop = 1;
	T_EQ(d_wait(h), 0);
	wait_gone(A);
	wait_gone(B);
}

int main(void)
{
	char admin[32];
	const char *args[] = { "--lun", "lun0=ram:2G", "--allow", "lun0=all",
			       "--quota", "default:contexts=4,chunks=2,connections=8",
			       "--quota", "uid:65533:contexts=2",
			       "--admin-group", admin, NULL };
	const char *dir = getenv("CXLFLASH_TEST_DIR");
	struct stat st;

	T_SKIP_IF(geteuid() != 0, "needs root to run clients as other users");
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	snprintf(admin, sizeof(admin), "%u", ADMIN_GID);
	g_sh = mmap(NULL, sizeof(*g_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(g_sh != MAP_FAILED);
	if (dir && *dir && stat(dir, &st) == 0)
		T_EQ(chmod(dir, st.st_mode | 0711), 0);
	T_EQ(d_start(&g_d, args), 0);
	{
		pid_t pid = d_fork();

		if (pid == 0)
			_exit(become(A, false) || access(g_d.socket, W_OK) ? 1 : 0);
		T_SKIP_IF(d_wait(pid) != 0, "the test directory is not reachable by other users");
	}
	T_RUN(contexts);
	T_RUN(chunks);
	T_RUN(connections);
	T_RUN(status);
	T_RUN(clones);
	T_RUN(stuck);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}
