/*
 * Duration parsing and formatting (see duration.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "err.h"

static const struct {
	const char *suffix;
	uint64_t ms;
} duration_units[] = {
        {"h", 3600000},
        {"m", 60000},
        {"s", 1000},
        {"ms", 1},
};

#define N_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

int duration_parse(const char *str, uint64_t *ms, char **err)
{
	char *end;
	uint64_t v;

	if (str == NULL || *str < '0' || *str > '9')
		return err_ret(err, -EINVAL, "'%s' is not a duration (e.g. 500ms, 10s, 2m, 1h)",
		               str ? str : "");
	errno = 0;
	v = strtoull(str, &end, 10);
	if (errno == ERANGE)
		return err_ret(err, -ERANGE, "duration '%s' is too large", str);
	for (size_t i = 0; i < N_UNITS; i++) {
		if (strcmp(end, duration_units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / duration_units[i].ms)
			return err_ret(err, -ERANGE, "duration '%s' is too large", str);
		*ms = v * duration_units[i].ms;
		return 0;
	}
	return err_ret(err, -EINVAL, "duration '%s' needs a unit: ms, s, m or h", str);
}

int duration_parse_range(const char *str, uint64_t min_ms, uint64_t max_ms, uint64_t *ms,
                         char **err)
{
	char lo[32], hi[32];
	uint64_t v;
	int rc = duration_parse(str, &v, err);

	if (rc < 0)
		return rc;
	if (v < min_ms || v > max_ms)
		return err_ret(err, -ERANGE, "'%s' is out of range: from %s to %s", str,
		               duration_format(min_ms, lo, sizeof(lo)),
		               duration_format(max_ms, hi, sizeof(hi)));
	*ms = v;
	return 0;
}

char *duration_format(uint64_t ms, char *buf, size_t len)
{
	size_t i = 0;

	while (i + 1 < N_UNITS && (ms == 0 || ms % duration_units[i].ms != 0))
		i++;
	snprintf(buf, len, "%" PRIu64 "%s", ms / duration_units[i].ms, duration_units[i].suffix);
	return buf;
}
