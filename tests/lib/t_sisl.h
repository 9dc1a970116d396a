/* SPDX-License-Identifier: Apache-2.0 */
/*
 * t_sisl.h - a small raw SISLite client for tests: ATTACH, map the window,
 * set up the HRRQ (and SQ), submit commands by tag and reap completions.
 * It drives the engine only through the public API and the window.
 */
#ifndef CXLFLASH_T_SISL_H
#define CXLFLASH_T_SISL_H

#include <stdbool.h>
#include <stdint.h>

#include <cxlflash/cxlflash_ioctl.h>
#include <cxlflash/sislite.h>

#define T_SISL_MAX_TAGS 256

struct t_sisl {
	int fd1;
	uint64_t ctxid;
	int adap_fd;
	uint64_t last_lba;
	uint64_t return_flags;
	struct sisl_host_map *map;
	bool sq_mode;
	unsigned ntags;               /* HRRQ entries = SQ entries - 1 = tags */
	uint64_t *hrrq_mem;
	struct sisl_hrrq hrrq;
	struct sisl_ioarcb *sq;       /* SQ ring (ntags + 1 entries) */
	struct sisl_ioarcb *sq_curr;
	unsigned sq_credits;
	unsigned cmd_room;            /* cached cmd_room (IOARRIN mode) */
	struct sisl_iocmd *cmds;      /* one per tag */
	bool busy[T_SISL_MAX_TAGS];
	unsigned inflight;
};

/* t_sisl_attach() - ATTACH on @fd1 with O_* @oflags; SQ mode if @sq.
 * Return 0 or -1 with errno. */
int t_sisl_attach(struct t_sisl *s, int fd1, int oflags, bool sq, unsigned ntags);
/* t_sisl_map() - map the window of an ATTACH result and set up queues. */
int t_sisl_map(struct t_sisl *s, int fd1, const struct dk_cxlflash_attach *a, bool sq,
	       unsigned ntags);
/* t_sisl_remap() - after RECOVER_AFU: the new window replaces the old. */
int t_sisl_remap(struct t_sisl *s, uint64_t ctxid, int adap_fd);
/* t_sisl_setup_queues() - (re)program the HRRQ and SQ, e.g. after RECOVER. */
void t_sisl_setup_queues(struct t_sisl *s);
/* t_sisl_detach() - DETACH (if @detach), unmap, close adap_fd. */
void t_sisl_detach(struct t_sisl *s, bool detach);

/* Build an IOARCB for tag @tag. */
void t_sisl_prep(struct t_sisl *s, unsigned tag, uint32_t res_hndl, const uint8_t cdb[16],
		 void *buf, uint32_t len, bool write);
void t_sisl_prep_rw(struct t_sisl *s, unsigned tag, uint32_t res_hndl, uint64_t lba,
		    uint32_t nblocks, void *buf, bool write);
/* Submit a prepared tag. Return 0, or -1 if there is no room/credit. */
int t_sisl_submit(struct t_sisl *s, unsigned tag);
/* Reap one completion, waiting up to @timeout_ms. Return its tag, -1 on timeout. */
int t_sisl_reap(struct t_sisl *s, unsigned timeout_ms);
/* t_sisl_reap() that waits as the block library does: spin on the HRRQ
 * for up to @spin_ns, then FUTEX_WAIT on the window's host_wake (with
 * host_waiting raised), which the AFU bumps and wakes after posting. */
int t_sisl_reap_wait(struct t_sisl *s, uint64_t spin_ns, unsigned timeout_ms);
/* t_sisl_reap_wait() with a 2 us spin: for a command taking milliseconds. */
int t_sisl_reap_sleep(struct t_sisl *s, unsigned timeout_ms);
/* t_sisl_run() waiting with t_sisl_reap_wait(@spin_ns) / _sleep(). */
uint32_t t_sisl_run_wait(struct t_sisl *s, uint32_t res_hndl, const uint8_t cdb[16], void *buf,
			 uint32_t len, bool write, uint64_t spin_ns);
uint32_t t_sisl_run_sleep(struct t_sisl *s, uint32_t res_hndl, const uint8_t cdb[16], void *buf,
			  uint32_t len, bool write);
/* Submit one command on tag 0 and wait: return its ioasc (the IOASA is in cmds[0].sa). */
uint32_t t_sisl_run(struct t_sisl *s, uint32_t res_hndl, const uint8_t cdb[16], void *buf,
		    uint32_t len, bool write);
uint32_t t_sisl_rw(struct t_sisl *s, uint32_t res_hndl, uint64_t lba, uint32_t nblocks, void *buf,
		   bool write);

/* Fail the test if the master behind @fd1 breaks an invariant. */
void t_check_master(int fd1);

/* Control-path shortcuts; each returns the ioctl's result (0 or -1/errno). */
int t_udirect(int fd1, uint64_t ctxid, uint64_t *handle);
int t_uvirtual(int fd1, uint64_t ctxid, uint64_t size, uint64_t flags, uint64_t *handle,
	       uint64_t *last_lba);
int t_resize(int fd1, uint64_t ctxid, uint64_t handle, uint64_t size, uint64_t *last_lba);
int t_release(int fd1, uint64_t ctxid, uint64_t handle);
int t_detach(int fd1, uint64_t ctxid);

#endif
