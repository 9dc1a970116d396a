/* SPDX-License-Identifier: Apache-2.0 */
/* syslog_sink.c - log.c's syslog output, apart because <syslog.h> defines
 * LOG_ERR and friends, which log.h uses as its own level names. */
#include <syslog.h>

void syslog_sink_open(const char *ident);
void syslog_sink_write(int lvl, const char *msg);

void syslog_sink_open(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
}

/* @lvl: log.h's level, 1 (error) .. 5 (debug). */
void syslog_sink_write(int lvl, const char *msg)
{
	static const int prio[] = { LOG_DEBUG, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

	syslog(prio[lvl >= 0 && lvl <= 5 ? lvl : 0], "%s", msg);
}
