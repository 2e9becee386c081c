/*
 * Durations as people write them in the config and on the command line:
 * a whole number followed by ms, s, m or h ("500ms", "10s", "2m").
 */
#ifndef MEMPLUG_DURATION_H
#define MEMPLUG_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses into milliseconds; a bare number or an unknown unit is refused. */
int duration_parse(const char *str, uint64_t *ms, char **err);
/*
 * As duration_parse(), and refuses values outside [min_ms, max_ms] with a
 * message that names both bounds (-ERANGE). *ms is untouched on error.
 */
int duration_parse_range(const char *str, uint64_t min_ms, uint64_t max_ms, uint64_t *ms,
                         char **err);
/* "2m", "10s", "1500ms": the largest unit that divides exactly. */
char *duration_format(uint64_t ms, char *buf, size_t len);

#endif
