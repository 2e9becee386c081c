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

/*
 * "1.5G": finds the largest smaller unit that makes it whole ("1536M") so the
 * refusal can say what to type instead. `frac` points at the digits after
 * the dot; `letter` is the unit letter. 0 if no unit down to K is whole.
 */
static int size_fraction_hint(uint64_t whole, const char *frac, char letter, char *buf, size_t len)
{
	static const char letters[] = "KMGT";
	const char *p = strchr(letters, toupper((unsigned char)letter));
	unsigned __int128 num = whole, den = 1;

	for (; isdigit((unsigned char)*frac) && den < UINT64_C(1000000000); frac++) {
		num = num * 10 + (unsigned)(*frac - '0');
		den *= 10;
	}
	if (p == NULL || letter == '\0' || isdigit((unsigned char)*frac))
		return 0;
	while (p > letters) {
		num *= 1024;
		p--;
		if (num % den == 0 && num / den <= SIZE_KIB_MAX) {
			snprintf(buf, len, "%" PRIu64 "%c", (uint64_t)(num / den), *p);
			return 1;
		}
	}
	return 0;
}

/* "128MB": libvirt would read 10^6 bytes per MB; say what that comes to. */
static int size_refuse_decimal(const char *str, uint64_t value, char letter, char **err)
{
	uint64_t scale = size_letter_scale(letter, 1000);
	double mib = (double)value * (double)scale / (1024.0 * 1024.0);
	int power = 0;
	char approx[48];

	for (uint64_t s = scale; s > 1; s /= 1000)
		power += 3;

	if (mib >= 1024.0)
		snprintf(approx, sizeof(approx), "about %.2f GiB", mib / 1024.0);
	else
		snprintf(approx, sizeof(approx), "about %.1f MiB", mib);
	return err_ret(err, -EINVAL,
	               "size '%s': libvirt reads %cB as 10^%d bytes, so that is %s, which "
	               "memory blocks do not align to; memplug takes binary units only: use "
	               "'%" PRIu64 "%c'",
	               str, toupper((unsigned char)letter), power, approx, value,
	               toupper((unsigned char)letter));
}

/* Explains a size that does not start with a digit. */
static int size_refuse_start(const char *str, char **err)
{
	if (str[0] == '-' && isdigit((unsigned char)str[1]))
		return err_ret(err, -EINVAL,
		               "size '%s' is negative: sizes are amounts, give '%s' (grow adds "
		               "it, shrink takes it away)",
		               str, str + 1);
	return err_ret(err, -EINVAL, "size '%s' does not start with a number", str);
}

/* Explains an unknown unit: a fraction, a decimal unit, or anything else. */
static int size_refuse_unit(const char *str, uint64_t value, const char *suffix, char **err)
{
	const char *p = suffix + 1;
	char hint[48];

	if (*suffix == '.' && isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p))
			p++;
		if (size_fraction_hint(value, suffix + 1, *p, hint, sizeof(hint)) &&
		    (p[1] == '\0' || strcasecmp(p + 1, "ib") == 0))
			return err_ret(err, -EINVAL,
			               "size '%s': fractions are not accepted, use a whole number "
			               "of a smaller unit: '%s'",
			               str, hint);
		return err_ret(err, -EINVAL,
		               "size '%s': fractions are not accepted, use a whole number of %s",
		               str, SIZE_USER_SUFFIXES);
	}
	if (strchr("kKmMgGtT", *suffix) && *suffix && (p[0] == 'b' || p[0] == 'B') && p[1] == '\0')
		return size_refuse_decimal(str, value, *suffix, err);
	return err_ret(err, -EINVAL, "size '%s': unknown unit '%s', use %s", str, suffix,
	               SIZE_USER_SUFFIXES);
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
		return size_refuse_start(str, err);
	if (*suffix == '\0')
		return err_ret(err, -EINVAL, "size '%s' has no unit: add %s, e.g. '%sM'", str,
		               SIZE_USER_SUFFIXES, str);
	scale = strchr("kKmMgGtT", *suffix) ? size_letter_scale(*suffix, 1024) : 0;
	if (scale == 0 || (suffix[1] != '\0' && strcasecmp(suffix + 1, "ib") != 0))
		return size_refuse_unit(str, value, suffix, err);
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
