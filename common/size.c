/*
 * Size parsing and formatting (see size.h). Everything is carried in KiB;
 * products are computed in 128 bits so that overflow is caught before it
 * wraps, and the result is capped at SIZE_KIB_MAX, libvirt's own ceiling.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "size.h"

#define SIZE_USER_SUFFIXES "K, M, G or T (optionally followed by iB)"

/* Reads the leading decimal digits of str; *end points past them. */
static int size_read_number(const char *str, uint64_t *value, const char **end)
{
	char *stop;

	if (!isdigit((unsigned char)*str))
		return -EINVAL;
	errno = 0;
	*value = strtoull(str, &stop, 10);
	if (errno == ERANGE)
		return -ERANGE;
	*end = stop;
	return 0;
}

/* value * scale / divisor rounded up, refused past SIZE_KIB_MAX. */
static int size_scale(uint64_t value, uint64_t scale, uint64_t divisor, uint64_t *kib)
{
	unsigned __int128 v = (unsigned __int128)value * scale;

	v = (v + divisor - 1) / divisor;
	if (v > SIZE_KIB_MAX)
		return -ERANGE;
	*kib = (uint64_t)v;
	return 0;
}

/* Powers of `base` for the letters k, m, g, t, p, e; 0 if not one. */
static uint64_t size_letter_scale(char letter, uint64_t base)
{
	static const char letters[] = "kmgtpe";
	const char *p = strchr(letters, tolower((unsigned char)letter));
	uint64_t scale = 1;

	if (letter == '\0' || p == NULL)
		return 0;
	for (ptrdiff_t i = 0; i <= p - letters; i++)
		scale *= base;
	return scale;
}

int size_parse(const char *str, uint64_t *kib, char **err)
{
	const char *suffix;
	uint64_t value, scale;
	int rc;

	if (str == NULL || *str == '\0')
		return err_ret(err, -EINVAL, "empty size: use a number followed by %s",
		               SIZE_USER_SUFFIXES);
	rc = size_read_number(str, &value, &suffix);
	if (rc == -ERANGE)
		return err_ret(err, -ERANGE, "size '%s' is too large", str);
	if (rc < 0)
		return err_ret(err, -EINVAL, "size '%s' does not start with a number", str);
	if (*suffix == '\0')
		return err_ret(err, -EINVAL, "size '%s' has no unit: add %s, e.g. '%sM'", str,
		               SIZE_USER_SUFFIXES, str);
	scale = strchr("kKmMgGtT", *suffix) ? size_letter_scale(*suffix, 1024) : 0;
	if (scale == 0 || (suffix[1] != '\0' && strcasecmp(suffix + 1, "ib") != 0))
		return err_ret(err, -EINVAL, "size '%s': unknown unit '%s', use %s", str, suffix,
		               SIZE_USER_SUFFIXES);
	if (size_scale(value, scale, 1024, kib) < 0)
		return err_ret(err, -ERANGE, "size '%s' is too large", str);
	return 0;
}

/* Bytes per libvirt unit, 0 for an unknown unit. */
static uint64_t size_unit_scale(const char *unit)
{
	if (unit == NULL || *unit == '\0')
		return 1024;
	if (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "byte") == 0 ||
	    strcasecmp(unit, "bytes") == 0)
		return 1;
	if (unit[1] == '\0' || strcasecmp(unit + 1, "ib") == 0)
		return size_letter_scale(unit[0], 1024);
	if ((unit[1] == 'b' || unit[1] == 'B') && unit[2] == '\0')
		return size_letter_scale(unit[0], 1000);
	return 0;
}

int size_parse_unit(const char *value, const char *unit, uint64_t *kib, char **err)
{
	uint64_t scale = size_unit_scale(unit), n;
	const char *p = value, *end;
	int rc;

	if (scale == 0)
		return err_ret(err, -EINVAL, "unknown unit '%s'", unit);
	if (p == NULL)
		return err_ret(err, -EINVAL, "missing size");
	while (isspace((unsigned char)*p))
		p++;
	rc = size_read_number(p, &n, &end);
	if (rc == -ERANGE)
		return err_ret(err, -ERANGE, "size '%s' overflows", value);
	while (rc == 0 && isspace((unsigned char)*end))
		end++;
	if (rc < 0 || *end != '\0')
		return err_ret(err, -EINVAL, "size '%s' is not a non-negative integer", value);
	if (size_scale(n, scale, 1024, kib) < 0)
		return err_ret(err, -ERANGE, "size '%s %s' overflows", value, unit ? unit : "KiB");
	return 0;
}

char *size_format(uint64_t kib, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	size_t u = 0;

	while (kib != 0 && kib % 1024 == 0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		kib /= 1024;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", kib, units[u]);
	return buf;
}
