/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - levelled logging to stderr. ERR, WARN and NOTICE always print;
 * INFO and DEBUG print when CXLFLASH_LOG=info or CXLFLASH_LOG=debug.
 * Tests can silence everything with CXLFLASH_LOG=quiet; CXLFLASH_LOG=err or
 * warn keeps only the worse levels. Any other value is warned about once.
 */
#ifndef CXLFLASH_UTIL_LOG_H
#define CXLFLASH_UTIL_LOG_H

enum log_level { LOG_QUIET = 0, LOG_ERR, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

void log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int log_enabled(enum log_level lvl);
/* log_set_level() - override CXLFLASH_LOG. */
void log_set_level(enum log_level lvl);
/* log_set_ident() - the program name that starts each line ("cxlflash" by
 * default; @name must outlive the program's logging). */
void log_set_ident(const char *name);
/* log_to_syslog() - send messages to syslog (facility daemon) from now on.
 * Return: 0, or -1 when LOG_SYSLOG_SOCKET does not exist (no syslog daemon:
 * every line would be lost), and messages keep going to stderr. */
int log_to_syslog(const char *ident);
#define LOG_SYSLOG_SOCKET "/dev/log"


#define log_err(...)    log_msg(LOG_ERR, __func__, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __func__, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_DEBUG, __func__, __VA_ARGS__)

#endif
