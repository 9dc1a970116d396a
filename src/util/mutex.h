/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mutex.h - a mutex for sections held for a few hundred nanoseconds by
 * threads on different CPUs: glibc's adaptive mutex, which spins a little
 * before it sleeps. With a plain one the loser of a race sleeps at once,
 * and its wake-up costs the holder a futex call and the loser a context
 * switch (the key/value store's get path; arkbench's accounting).
 */
#ifndef CXLFLASH_UTIL_MUTEX_H
#define CXLFLASH_UTIL_MUTEX_H

#include <pthread.h>

static inline void mutex_init_adaptive(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
}

#endif
