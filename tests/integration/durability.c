/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: a file LUN is owned by one process at a time (another gets
 * EBUSY at once), and data written to a physical file LUN and flushed with
 * SYNCHRONIZE CACHE is there when a new process attaches. A lock left by a
 * process that is gone (its ring teardown still holds the file: simulated
 * by an OFD lock with no owner process) is waited for, not EBUSY.
 */
#include "t_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_sisl.h"
#include "util/byteorder.h"

#define NBLK 256

static char name[4200];

/*
 * Another process opens the LUN: 0 or its errno. The child runs this
 * program anew (main's "--open"), not just forked: the open starts a
 * master's threads, and a child forked while ours run cannot start threads
 * under ThreadSanitizer.
 */
static int child_open_status(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execl("/proc/self/exe", "integration-durability", "--open", name, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void writer(void)
{
	int fd = cxlflash_open(name, O_RDWR);
	uint8_t cdb[16] = { 0 };
	struct t_sisl s;
	uint64_t h;
	uint8_t *b = aligned_alloc(4096, NBLK * 4096);

	T_ASSERT(fd >= 0 && b);
	/* a second process is refused while we hold the LUN */
	T_EQ(child_open_status(), EBUSY);
	/* the same process may open it again (shared) */
	{
		int fd2 = cxlflash_open(name, O_RDWR);

		T_ASSERT(fd2 >= 0);
		T_EQ(cxlflash_close(fd2), 0);
	}
	T_EQ(child_open_status(), EBUSY); /* closing the second open kept the lock */
	T_EQ(t_sisl_attach(&s, fd, O_RDWR, true, 16), 0);
	T_EQ(t_udirect(fd, s.ctxid, &h), 0);
	t_pattern_fill(b, NBLK * 4096, 77, 1000);
	T_EQ(t_sisl_rw(&s, (uint32_t)h, 1000, NBLK, b, true), 0);
	cdb[0] = 0x91; /* SYNCHRONIZE CACHE(16) */
	T_EQ(t_sisl_run(&s, (uint32_t)h, cdb, NULL, 0, false), 0);
	cdb[0] = 0x35; /* SYNCHRONIZE CACHE(10) */
	T_EQ(t_sisl_run(&s, (uint32_t)h, cdb, NULL, 0, false), 0);
	t_sisl_detach(&s, true);
	T_EQ(cxlflash_close(fd), 0);
	free(b);
}

static void reader_process(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int fd = cxlflash_open(name, O_RDWR);
		struct t_sisl s;
		uint64_t h;
		uint8_t *b = aligned_alloc(4096, NBLK * 4096);

		T_ASSERT(fd >= 0 && b);
		T_EQ(t_sisl_attach(&s, fd, O_RDWR, false, 16), 0);
		T_EQ(t_udirect(fd, s.ctxid, &h), 0);
		T_EQ(t_sisl_rw(&s, (uint32_t)h, 1000, NBLK, b, false), 0);
		T_EQ(t_pattern_check(b, NBLK * 4096, 77, 1000), 0);
		t_sisl_detach(&s, true);
		T_EQ(cxlflash_close(fd), 0);
		_exit(0);
	}
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFEXITED(st));
	T_EQ(WEXITSTATUS(st), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *release_later(void *arg)
{
	int fd = *(int *)arg;
	struct timespec t = { 0, 300 * 1000000L };

	nanosleep(&t, NULL);
	close(fd);   /* the OFD lock goes with its description */
	return NULL;
}

/* An ownership lock with no process behind it: waited for, then taken. */
static void dying_holder(void)
{
	struct flock own = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int hold = open(t_path("durability.img"), O_RDWR);
	pthread_t th;
	double t0;
	int fd;

	T_ASSERT(hold >= 0);
	T_EQ(fcntl(hold, F_OFD_SETLK, &own), 0);
	T_EQ(pthread_create(&th, NULL, release_later, &hold), 0);
	t0 = now_s();
	fd = cxlflash_open(name, O_RDWR);
	T_ASSERT(fd >= 0);
	T_ASSERT(now_s() - t0 >= 0.25);   /* it did wait for the release */
	T_EQ(pthread_join(th, NULL), 0);
	/* Held by a live process: EBUSY without waiting. */
	t0 = now_s();
	T_EQ(child_open_status(), EBUSY);
	T_ASSERT(now_s() - t0 < 1.5);
	T_EQ(cxlflash_close(fd), 0);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--open")) {
		int fd = cxlflash_open(argv[2], O_RDWR);

		return fd >= 0 ? 0 : errno;
	}
	setenv("CXLFLASH_LOG", "quiet", 0);
	snprintf(name, sizeof(name), "file:%s?size=256M", t_path("durability.img"));
	unlink(t_path("durability.img"));
	T_RUN(writer);
	T_EQ(child_open_status(), 0); /* free again after the close */
	T_RUN(reader_process);
	T_RUN(dying_holder);
	unlink(t_path("durability.img"));
	return T_PASS;
}
