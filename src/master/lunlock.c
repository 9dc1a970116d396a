/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lunlock.c - ownership of a file LUN across processes. Ownership is an
 * open-file-description lock on byte 0: it stays with our descriptor
 * whatever else the process opens and closes. OFD locks do not report their
 * holder, so a classic POSIX lock on byte 1 records our pid for the error
 * message (it may vanish if the application closes another descriptor of
 * the file; then the message cannot name the holder).
 *
 * A process that just died can hold its OFD lock a moment longer: its
 * descriptors held by an io_uring are closed by the kernel's deferred ring
 * teardown, after the process is gone (and its POSIX lock with it). A
 * restart right after a crash (cxlflashd under systemd, a program run
 * again) would get EBUSY. So while the OFD lock is taken and no process
 * holds the POSIX one, lun_lock() tries again for up to LOCK_WAIT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "master/lunlock.h"
#include "util/log.h"

#define LOCK_WAIT_MS  2000u
#define LOCK_RETRY_MS 10u

int lun_lock(struct backend *be, const char *name, bool readonly)
{
	short type = readonly ? F_RDLCK : F_WRLCK;
	struct flock own = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	struct flock tag = { .l_type = type, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1 };
	char comm[64] = "unknown";

	if (be->lock_fd < 0)
		return 0;
	for (unsigned waited = 0;; waited += LOCK_RETRY_MS) {
		struct timespec nap = { 0, LOCK_RETRY_MS * 1000000L };

		if (fcntl(be->lock_fd, F_OFD_SETLK, &own) == 0) {
			fcntl(be->lock_fd, F_SETLK, &tag);
			return 0;
		}
		if (errno != EAGAIN && errno != EACCES)
			return -errno;
		tag.l_type = F_WRLCK;
		if (fcntl(be->lock_fd, F_GETLK, &tag) == 0 && tag.l_type != F_UNLCK)
			break;   /* a live holder */
		if (waited >= LOCK_WAIT_MS)
			break;
		nanosleep(&nap, NULL);   /* maybe a dead process's ring teardown */
		tag = (struct flock){ .l_type = type, .l_whence = SEEK_SET, .l_start = 1,
				      .l_len = 1 };
	}
	tag.l_type = F_WRLCK;
	tag.l_whence = SEEK_SET;
	tag.l_start = 1;
	tag.l_len = 1;
	if (fcntl(be->lock_fd, F_GETLK, &tag) == 0 && tag.l_type != F_UNLCK) {
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)tag.l_pid);
		f = fopen(path, "r");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = 0;
			fclose(f);
		}
		log_err("LUN %s is in use by process %d (%s); run cxlflashd to share it between "
			"processes", name, (int)tag.l_pid, comm);
	} else {
		log_err("LUN %s is in use by another process; run cxlflashd to share it between "
			"processes", name);
	}
	return -EBUSY;
}
