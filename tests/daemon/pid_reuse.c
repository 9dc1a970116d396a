/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pid_reuse.c - issue 12, the attack itself. Tenant V writes a secret to a
 * vLUN through cxlflashd, forks a helper that keeps the inherited
 * connection open and never touches the library, and exits. An attacker
 * forks until a child gets V's pid; that child attaches, names V's context
 * itself, and forks a grandchild that attaches and sends VLUN_CLONE with
 * V's context as the source. The daemon must have detached V's context as
 * V died (while the helper still holds the connection), every request
 * naming it must fail with EINVAL, and nothing may read the secret. A
 * bystander keeps the LUN in virtual mode throughout, so the clone is
 * refused for whose context it names, not for the LUN's mode.
 *
 * Pid reuse is made fast in a PID namespace of the test's own, where
 * pid_max (per namespace since Linux 6.14) is 500 and the daemon runs too,
 * so that it sees the recycled pid; /proc is mounted for that namespace.
 * Needs root; skips where the namespace or the small pid_max is refused.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>
#include <cxlflash/sislite_host.h>

#include "d_test.h"

#define PID_MAX     500
#define MAX_FORKS   20000u
#define SECRET_SEED 0x5ec7e7ull
#define NQ          16
#define EXIT_SKIP   77

static struct t_daemon g_d;

/* What the processes of the scenario tell the test. */
struct scene {
	volatile uint64_t v_ctx;          /* V's context */
	volatile uint64_t v_handle;       /* its vLUN's resource handle */
	volatile int v_ready;
	volatile int by_ready;            /* the bystander holds its vLUN */
	volatile int stop;
	volatile int a_own_errno;         /* the attacker naming V's context: errno */
	volatile int clone_errno;         /* the grandchild's VLUN_CLONE: errno (0 = done) */
	volatile int leaked;              /* the secret was read back */
	volatile int attacked;            /* the attacker ran with V's pid */
};

/* The DMA area's layout: what the AFU reaches through the daemon. */
struct dma {
	struct sisl_ioarcb sq[NQ + 1] __attribute__((aligned(128)));
	uint64_t hrrq[NQ] __attribute__((aligned(128)));
	struct sisl_ioasa ioasa __attribute__((aligned(64)));
	uint8_t data[4096] __attribute__((aligned(4096)));
};

struct raw {
	int fd1;
	uint64_t ctxid;
	struct sisl_host_map *map;
	struct dma *mem;
	struct sisl_hrrq hrrq;
	struct sisl_ioarcb *sq_next;
};

/* ATTACH on @fd1 and set up the queues in the DMA area. 0 or errno. */
static int raw_attach(struct raw *r, int fd1)
{
	struct dk_cxlflash_attach a = { 0 };

	memset(r, 0, sizeof(*r));
	r->fd1 = fd1;
	a.hdr.flags = O_RDWR;
	a.num_interrupts = 4;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_ATTACH, &a))
		return errno;
	if (!(a.hdr.return_flags & DK_CXLFLASH_DMA_AREA_ONLY) || a.dma_size < sizeof(struct dma))
		return EPROTO;
	r->map = mmap(NULL, a.mmio_size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)a.adap_fd, 0);
	if (r->map == MAP_FAILED)
		return errno;
	r->ctxid = a.context_id;
	r->mem = (struct dma *)(uintptr_t)a.dma_ea;
	r->sq_next = r->mem->sq;
	sisl_hrrq_init(&r->hrrq, r->map, r->mem->hrrq, NQ);
	sisl_write64(&r->map->sq_start, (uintptr_t)&r->mem->sq[0]);
	sisl_write64(&r->map->sq_end, (uintptr_t)&r->mem->sq[NQ]);
	sisl_write64(&r->map->sq_tail, (uintptr_t)&r->mem->sq[0]);
	return 0;
}

/* One block of @handle at @lba to or from the DMA area's data buffer:
 * the ioasc (0 = done), or -1 when nothing completes in 2 s. */
static long raw_io(struct raw *r, uint32_t handle, uint64_t lba, bool write)
{
	struct sisl_ioarcb rcb = { 0 };
	uint64_t end = d_now_us() + 2000000;

	memset(&r->mem->ioasa, 0, sizeof(r->mem->ioasa));
	rcb.req_flags = SISL_REQ_FLAGS_RES_HNDL |
			(write ? SISL_REQ_FLAGS_HOST_WRITE : SISL_REQ_FLAGS_HOST_READ);
	rcb.res_hndl = handle;
	rcb.data_len = 4096;
	rcb.data_ea = (uintptr_t)r->mem->data;
	rcb.cdb[0] = write ? 0x8A : 0x88;
	for (int i = 0; i < 8; i++)
		rcb.cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	rcb.cdb[13] = 1;
	rcb.sq_ioasa_ea = (uintptr_t)&r->mem->ioasa;
	*r->sq_next = rcb;
	r->sq_next = r->sq_next == &r->mem->sq[NQ] ? r->mem->sq : r->sq_next + 1;
	sisl_write64(&r->map->sq_tail, (uintptr_t)r->sq_next);
	sisl_ring_doorbell(r->map);
	while (!sisl_hrrq_next(&r->hrrq)) {
		if (sisl_read64(&r->map->intr_status) || d_now_us() > end)
			return -1;
		sisl_cpu_relax();
	}
	return (long)r->mem->ioasa.ioasc;
}

static int uvirtual(int fd1, uint64_t ctxid, uint64_t blocks, uint64_t *handle)
{
	struct dk_cxlflash_uvirtual v = { 0 };

	v.context_id = ctxid;
	v.lun_size = blocks;
	if (cxlflash_ioctl(fd1, DK_CXLFLASH_USER_VIRTUAL, &v))
		return errno;
	*handle = v.rsrc_handle;
	return 0;
}

/* The bystander: a vLUN held until told to stop. */
static int bystander(struct scene *sc)
{
	int fd1 = cxlflash_open("lun0", O_RDWR);
	struct raw r;
	uint64_t h;

	if (fd1 < 0 || raw_attach(&r, fd1) || uvirtual(fd1, r.ctxid, 1, &h))
		return 20;
	sc->by_ready = 1;
	while (!sc->stop)
		d_sleep_us(10000);
	return 0;
}

/* Tenant V: a vLUN with a secret; a helper child inherits the connection
 * and keeps it open; V exits without closing anything. */
static int victim(struct scene *sc)
{
	int fd1 = cxlflash_open("lun0", O_RDWR);
	struct raw r;
	uint64_t h;
	pid_t helper;

	if (fd1 < 0 || raw_attach(&r, fd1) || uvirtual(fd1, r.ctxid, 1, &h))
		return 30;
	t_pattern_fill(r.mem->data, 4096, SECRET_SEED, 0);
	if (raw_io(&r, (uint32_t)h, 0, true) != 0)
		return 31;
	memset(r.mem->data, 0, 4096);
	if (raw_io(&r, (uint32_t)h, 0, false) != 0 ||
	    t_pattern_check(r.mem->data, 4096, SECRET_SEED, 0))
		return 32;
	helper = fork();
	if (helper < 0)
		return 33;
	if (helper == 0) {
		/* A daemonised worker: never touches the library, holds fd1. */
		while (!sc->stop)
			d_sleep_us(10000);
		_exit(0);
	}
	sc->v_ctx = r.ctxid;
	sc->v_handle = h;
	sc->v_ready = 1;
	return 0;
}

/* The grandchild: attach, clone V's context, read what it can. */
static int grandchild(struct scene *sc, int fd1)
{
	struct dk_cxlflash_clone c = { 0 };
	struct raw r;

	if (raw_attach(&r, fd1))
		return 50;
	c.context_id_src = sc->v_ctx;
	c.context_id_dst = r.ctxid;
	sc->clone_errno = cxlflash_ioctl(fd1, DK_CXLFLASH_VLUN_CLONE, &c) ? errno : 0;
	/* Whatever the answer: nothing this context reads is the secret. */
	memset(r.mem->data, 0, 4096);
	if (raw_io(&r, (uint32_t)sc->v_handle, 0, false) == 0 &&
	    !t_pattern_check(r.mem->data, 4096, SECRET_SEED, 0))
		sc->leaked = 1;
	return 0;
}

/* The attacker, running with V's pid. */
static int attacker(struct scene *sc)
{
	int fd1 = cxlflash_open("lun0", O_RDWR), status;
	struct dk_cxlflash_resize rs = { 0 };
	struct raw r;
	pid_t g;

	sc->attacked = 1;
	if (fd1 < 0 || raw_attach(&r, fd1))
		return 40;
	g = fork();
	if (g < 0)
		return 41;
	if (g == 0)
		_exit(grandchild(sc, fd1));
	if (waitpid(g, &status, 0) != g || !WIFEXITED(status) || WEXITSTATUS(status))
		return 42;
	/* With V's pid, naming V's context directly. */
	rs.context_id = sc->v_ctx;
	rs.rsrc_handle = sc->v_handle;
	rs.req_size = 1;
	sc->a_own_errno = cxlflash_ioctl(fd1, DK_CXLFLASH_VLUN_RESIZE, &rs) ? errno : 0;
	return 0;
}

/* Does the daemon still have context @ctx? */
static bool has_ctx(uint64_t ctx)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"context\":\"0x%llx\"", (unsigned long long)ctx);
	return strstr(d_status(&g_d), pat) != NULL;
}

/* Fork until a child gets @pid; that child runs the attacker. */
static bool attack_with_pid(struct scene *sc, pid_t pid)
{
	for (unsigned n = 0; n < MAX_FORKS; n++) {
		pid_t c = fork();

		T_ASSERT(c >= 0);
		if (c == 0)
			_exit(getpid() == pid ? attacker(sc) : 0);
		if (c == pid) {
			fprintf(stderr, "pid %d recycled after %u forks\n", (int)pid, n + 1);
			T_EQ(d_wait(c), 0);
			return true;
		}
		waitpid(c, NULL, 0);
	}
	return false;
}

/* Fork until the namespace's pids wrap around: from then on every pid
 * comes from the ring [300, PID_MAX), where a freed one soon comes back. */
static void wrap_pids(void)
{
	pid_t last = 0;

	for (unsigned n = 0; n < 2 * PID_MAX; n++) {
		pid_t c = fork();

		T_ASSERT(c >= 0);
		if (c == 0)
			_exit(0);
		waitpid(c, NULL, 0);
		if (c < last)
			return;
		last = c;
	}
	T_ASSERT(!"the pids did not wrap around");
}

static void scenario(void)
{
	struct scene *sc = mmap(NULL, sizeof(*sc), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t by, v;
	int i;

	T_ASSERT(sc != MAP_FAILED);
	memset(sc, 0, sizeof(*sc));
	wrap_pids();
	by = d_fork();
	if (by == 0)
		_exit(bystander(sc));
	for (i = 0; i < 1000 && !sc->by_ready; i++)
		d_sleep_us(10000);
	T_ASSERT(sc->by_ready);

	v = d_fork();
	if (v == 0)
		_exit(victim(sc));
	T_EQ(d_wait(v), 0);               /* V has exited, and is reaped */
	T_ASSERT(sc->v_ready);
	fprintf(stderr, "V was pid %d, context 0x%llx\n", (int)v, (unsigned long long)sc->v_ctx);

	/* V's death detached its context although its helper holds the
	 * connection open (the helper is ours now: V's orphan). */
	for (i = 0; has_ctx(sc->v_ctx); i++) {
		T_ASSERT(i < 200);
		d_sleep_us(10000);
	}
	fprintf(stderr, "V's context detached after ~%d ms\n", i * 10);
	T_EQ(t_json_num(d_lun_json(d_status(&g_d), "lun0"), "chunks_free"), 3);
	d_check("lun0");

	T_ASSERT(attack_with_pid(sc, v));
	T_ASSERT(sc->attacked);
	T_EQ(sc->clone_errno, EINVAL);
	T_EQ(sc->a_own_errno, EINVAL);
	T_EQ(sc->leaked, 0);
	d_check("lun0");

	sc->stop = 1;
	T_EQ(d_wait(by), 0);
	d_check("lun0");
}

/* PID 1 of the new namespace: /proc for it, a small pid_max, the daemon,
 * the scenario; reaps every orphan. */
static int ns_init(void)
{
	const char *args[] = { "--lun", "lun0=ram:1G", NULL };
	char num[16];
	int fd, n;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		fprintf(stderr, "SKIP: cannot mount /proc for the namespace: %s\n", strerror(errno));
		return EXIT_SKIP;
	}
	fd = open("/proc/sys/kernel/pid_max", O_WRONLY | O_CLOEXEC);
	n = snprintf(num, sizeof(num), "%d", PID_MAX);
	if (fd < 0 || write(fd, num, (size_t)n) != n) {
		fprintf(stderr, "SKIP: no per-namespace pid_max (Linux < 6.14?): %s\n",
			strerror(errno));
		return EXIT_SKIP;
	}
	close(fd);
	T_EQ(d_start(&g_d, args), 0);
	T_RUN(scenario);
	T_EQ(t_daemon_stop(&g_d), 0);
	return T_PASS;
}

/* A child makes the namespace and forks its init: this process keeps its
 * own (LeakSanitizer's helper task, forked at exit, needs a live one). */
static int ns_run(void)
{
	pid_t init;
	int status;

	if (unshare(CLONE_NEWPID | CLONE_NEWNS)) {
		fprintf(stderr, "SKIP: cannot make a PID namespace: %s\n", strerror(errno));
		return EXIT_SKIP;
	}
	init = fork();
	if (init < 0)
		return T_FAIL;
	if (init == 0) {
		int rc = ns_init();

		fflush(NULL);
		_exit(rc); /* every process of the namespace dies with it */
	}
	if (waitpid(init, &status, 0) != init || !WIFEXITED(status))
		return T_FAIL;
	return WEXITSTATUS(status);
}

int main(void)
{
	pid_t pid;
	int status;

	T_SKIP_IF(geteuid() != 0, "needs root for a PID namespace");
	T_SKIP_IF(access(t_tool_path("cxlflashd"), X_OK), "no cxlflashd binary");
	pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		int rc = ns_run();

		fflush(NULL);
		_exit(rc);
	}
	T_EQ(waitpid(pid, &status, 0), pid);
	T_ASSERT(WIFEXITED(status));
	return WEXITSTATUS(status);
}
