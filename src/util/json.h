/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.h - a string written as JSON, for the status texts (master and
 * daemon) that print their JSON by hand.
 */
#ifndef CXLFLASH_UTIL_JSON_H
#define CXLFLASH_UTIL_JSON_H

#include <stdio.h>

/* @s as a JSON string: quotes, backslashes and control characters escaped. */
static inline void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

#endif
