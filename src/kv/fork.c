/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork.c - ark_fork / ark_fork_done: a child process that reads a
 * snapshot of the store as it was at the fork while the parent writes on
 * (Redis's BGSAVE). The child's index is its copy-on-write copy of the
 * parent's; on a LUN store the parent writes out its open batch first and
 * then keeps every segment the snapshot may read until ark_fork_done.
 */
#include "kv/kv_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* In the child: the parent's threads are gone; locks may have been held by them. */
static void child_reset(struct ark_impl *s)
{
	for (int i = 0; i < KV_NSHARDS; i++)
		kv_lock_init(&s->shards[i].lock);
	pthread_mutex_init(&s->seg_lock, NULL);
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&s->ckpt_lock, NULL);
	pthread_cond_init(&s->log_cv, NULL);
	pthread_cond_init(&s->writer_cv, NULL);
	kv_mem_fork_child(s->mem);
	s->readonly = true;
	s->writer_running = false;
	s->cleaner_running = false;
	s->async = NULL;   /* the parent's pool (its memory stays, unused) */
}

pid_t ark_fork(ARK *ark)
{
	struct ark_impl *s = ark_impl(ark);
	pid_t pid;

	if (!s || s->readonly) {
		errno = EINVAL;
		return -1;
	}
	if (kv_async_pending(s)) {
		errno = EBUSY;
		return -1;
	}
	for (int i = 0; i < KV_NSHARDS; i++)
		pthread_mutex_lock(&s->shards[i].lock);
	if (!s->memory) {
		/* Everything the snapshot's index points at must be on the LUN. */
		pthread_mutex_lock(&s->log_lock);
		kv_writer_kick_locked(s);
		while ((s->open.nrec || s->written_lsn < s->open.lsn) && !s->writer_err)
			pthread_cond_wait(&s->log_cv, &s->log_lock);
		pthread_mutex_unlock(&s->log_lock);
		pthread_mutex_lock(&s->seg_lock);
		s->fork_hold = true;
		pthread_mutex_unlock(&s->seg_lock);
	}
	pid = fork();
	if (pid == 0) {
		child_reset(s);
		if (!s->memory && kv_dev_fork_child(s->dev)) {
			kv_msg("arkdb: the forked child cannot reach the store's LUN");
			_exit(127);
		}
		if (kv_async_start(s, 2, ARK_MAX_NASYNCS))
			kv_msg("arkdb: no async threads in the forked child");
		return 0;
	}
	int err = errno;
	for (int i = KV_NSHARDS - 1; i >= 0; i--)
		pthread_mutex_unlock(&s->shards[i].lock);
	if (pid < 0) {
		ark_fork_done(ark);
		errno = err;
	}
	return pid;
}

int ark_fork_done(ARK *ark)
{
	struct ark_impl *s = ark_impl(ark);

	if (!s || s->readonly)
		return EINVAL;
	if (s->memory)
		return 0;
	pthread_mutex_lock(&s->seg_lock);
	s->fork_hold = false;
	if (!s->durable) {
		/* Held back for the child: free now (a durable store frees them at its next checkpoint). */
		for (uint64_t i = 0; i < s->nsegs; i++)
			if (kv_seg(s, i)->state == SEG_PENDING)
				kv_seg_free_locked(s, i);
	}
	pthread_mutex_unlock(&s->seg_lock);
	return 0;
}
