/*
 * Error messages for the pure modules. A function that fails returns a
 * negative errno and, when its `char **err` argument is non-NULL, stores a
 * malloc'd message there that names what was wrong (the caller frees it).
 * The first message set wins, so the innermost, most precise one survives.
 */
#ifndef MEMPLUG_ERR_H
#define MEMPLUG_ERR_H

#include <stdarg.h>

/* Stores a formatted message in *err unless err is NULL or *err is set. */
void err_set(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_vset(char **err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Replaces *msg (which the arguments may use, e.g. to keep it as the
 * cause) with a new formatted message; keeps the old one when out of memory. */
void err_replace(char **msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set(), then returns rc: `return err_ret(err, -EINVAL, "...")`. */
int err_ret(char **err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
