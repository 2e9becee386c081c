/*
 * The error-message helper used by every pure module (see err.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "err.h"

void err_vset(char **err, const char *fmt, va_list ap)
{
	if (err == NULL || *err != NULL)
		return;
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
}

void err_set(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, fmt, ap);
	va_end(ap);
}

int err_ret(char **err, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, fmt, ap);
	va_end(ap);
	return rc;
}

void err_replace(char **msg, const char *fmt, ...)
{
	va_list ap;
	char *next = NULL;

	if (msg == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&next, fmt, ap) < 0)
		next = NULL;
	va_end(ap);
	if (next == NULL)
		return;
	free(*msg);
	*msg = next;
}
