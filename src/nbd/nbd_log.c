/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nbd_log.c - the log lines of refused NBD clients, at most one a second
 * per reason: a client refused in a loop (over a limit, plain where TLS is
 * required, not on an allow-list) must not flood the log. The line that
 * goes out after a quiet stretch says how many were not logged.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "nbd/nbd_server.h"
#include "util/log.h"

static const enum log_level levels[NBD_REFUSED_N] = {
	[NBD_REFUSED_OPTION] = LOG_INFO,
	[NBD_REFUSED_LIMIT] = LOG_NOTICE,
	[NBD_REFUSED_TLS] = LOG_NOTICE,
	[NBD_REFUSED_ACCESS] = LOG_WARN,
	[NBD_REFUSED_EXPORT_NAME] = LOG_NOTICE,
};

void nbd_log_refused_at(enum nbd_refusal why, const char *func, const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t last[NBD_REFUSED_N];
	static unsigned quiet[NBD_REFUSED_N];
	struct timespec now;
	unsigned skipped;
	char msg[1024];
	va_list ap;

	if ((unsigned)why >= NBD_REFUSED_N || !log_enabled(levels[why]))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&lock);
	if (last[why] == now.tv_sec) {
		quiet[why]++;
		pthread_mutex_unlock(&lock);
		return;
	}
	last[why] = now.tv_sec;
	skipped = quiet[why];
	quiet[why] = 0;
	pthread_mutex_unlock(&lock);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (skipped)
		log_msg(levels[why], func, "%s (and %u more like it since the previous line, "
			"not logged)", msg, skipped);
	else
		log_msg(levels[why], func, "%s", msg);
}
