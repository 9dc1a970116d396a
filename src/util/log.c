/* SPDX-License-Identifier: Apache-2.0 */
/* log.c - levelled logging to stderr (see log.h). */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* syslog_sink.c: <syslog.h> names clash with our level names. */
void syslog_sink_open(const char *ident);
void syslog_sink_write(int lvl, const char *msg);

static int level = -1;
static int use_syslog;
static const char *log_ident = "cxlflash";

static int current_level(void)
{
	if (__atomic_load_n(&level, __ATOMIC_RELAXED) < 0) {
		const char *e = getenv("CXLFLASH_LOG");
		int l = LOG_NOTICE;

		if (e) {
			if (!strcmp(e, "quiet"))
				l = LOG_QUIET;
			else if (!strcmp(e, "err"))
				l = LOG_ERR;
			else if (!strcmp(e, "warn"))
				l = LOG_WARN;
			else if (!strcmp(e, "info"))
				l = LOG_INFO;
			else if (!strcmp(e, "notice"))
				l = LOG_NOTICE;
			else if (!strcmp(e, "debug"))
				l = LOG_DEBUG;
			else if (__atomic_exchange_n(&level, LOG_NOTICE, __ATOMIC_RELAXED) < 0)
				/* once, whoever gets here first */
				fprintf(stderr, "%s: warning: CXLFLASH_LOG=%s is not a level "
					"(quiet, err, warn, notice, info, debug); using notice\n",
					log_ident, e);
		}
		__atomic_store_n(&level, l, __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&level, __ATOMIC_RELAXED);
}

int log_enabled(enum log_level lvl)
{
	return (int)lvl <= current_level();
}

void log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
{
	static const char *names[] = { "", "error", "warning", "notice", "info", "debug" };
	char buf[1024];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (use_syslog) {
		syslog_sink_write((int)lvl, buf);
		return;
	}
	if (lvl >= LOG_INFO)
		fprintf(stderr, "%s: %s: %s: %s\n", log_ident, names[lvl], func, buf);
	else
		fprintf(stderr, "%s: %s: %s\n", log_ident, names[lvl], buf);
}

void log_set_ident(const char *name)
{
	log_ident = name;
}

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&level, (int)lvl, __ATOMIC_RELAXED);
}

int log_to_syslog(const char *ident)
{
	if (access(LOG_SYSLOG_SOCKET, F_OK))
		return -1;
	syslog_sink_open(ident);
	use_syslog = 1;
	return 0;
}
