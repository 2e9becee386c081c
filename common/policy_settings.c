/*
 * The policy's settings (see policy.h and docs/policy.md): one table,
 * policy_keys[], with a row per key (its name, type, bounds, parser,
 * printer and meaning). Parsing (the config file, `memplugctl policy set`,
 * the <metadata> overrides), validation, `policy show` and the CLI's
 * rendering all read that row, so a key is added in one place; a unit test
 * holds docs/policy.md to the meanings.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "duration.h"
#include "err.h"
#include "policy.h"
#include "size.h"

/* ---- the value types: a parser and a printer each ---- */

uint64_t threshold_kib(const struct threshold *t, uint64_t total_kib)
{
	return t->percent ? total_kib / 100 * t->value + total_kib % 100 * t->value / 100
	                  : t->value;
}

static char *size_short(uint64_t kib, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	size_t u = 0;

	while (u < 3 && kib && kib % 1024 == 0) {
		kib /= 1024;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 "%c", kib, units[u]);
	return buf;
}

char *threshold_format(const struct threshold *t, char *buf, size_t len)
{
	if (t->percent)
		snprintf(buf, len, "%" PRIu64 "%%", t->value);
	else
		size_short(t->value, buf, len);
	return buf;
}

int threshold_parse(const char *str, struct threshold *out, char **err)
{
	size_t len = str ? strlen(str) : 0;
	char *end;
	unsigned long v;

	if (len > 1 && str[len - 1] == '%') {
		errno = 0;
		v = strtoul(str, &end, 10);
		if (*str < '0' || *str > '9' || end != str + len - 1 || errno || v > 100)
			return err_ret(err, -EINVAL, "'%s' is not a percent from 0%% to 100%%",
			               str);
		*out = (struct threshold){.percent = true, .value = v};
		return 0;
	}
	if (size_parse(str, &out->value, err) < 0)
		return -EINVAL;
	out->percent = false;
	return 0;
}

int policy_bool_parse(const char *value, bool *out, char **err)
{
	if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
		*out = true;
	else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
		*out = false;
	else
		return err_ret(err, -EINVAL, "'%s' is not true or false", value);
	return 0;
}

static int parse_bool(const char *text, void *field, char **err)
{
	return policy_bool_parse(text, field, err);
}

static int parse_threshold(const char *text, void *field, char **err)
{
	return threshold_parse(text, field, err);
}

static int parse_size(const char *text, void *field, char **err)
{
	return size_parse(text, field, err) < 0 ? -EINVAL : 0;
}

static int parse_duration(const char *text, void *field, char **err)
{
	return duration_parse(text, field, err) < 0 ? -EINVAL : 0;
}

static const char *print_bool(const void *field, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return *(const bool *)field ? "yes" : "no";
}

static const char *print_threshold(const void *field, char *buf, size_t len)
{
	return threshold_format(field, buf, len);
}

static const char *print_size(const void *field, char *buf, size_t len)
{
	return size_short(*(const uint64_t *)field, buf, len);
}

static const char *print_duration(const void *field, char *buf, size_t len)
{
	return duration_format(*(const uint64_t *)field, buf, len);
}

#define BOOL_KEY      "bool", parse_bool, print_bool
#define THRESHOLD_KEY "threshold", parse_threshold, print_threshold
#define SIZE_KEY      "size", parse_size, print_size
#define DURATION_KEY  "duration", parse_duration, print_duration
#define AT(f)         offsetof(struct policy_settings, f)

/* ---- the table ---- */

const struct policy_key policy_keys[POLICY_N_KEYS] = {
        {"enabled", BOOL_KEY, AT(enabled), 0, 0, NULL, "the policy manages this guest", false},
        {"dry_run", BOOL_KEY, AT(dry_run), 0, 0, NULL, "decide and audit, change nothing", false},
        {"low_free", THRESHOLD_KEY, AT(low_free), 0, 0, NULL,
         "below this much usable memory, add memory (`10%` of the guest's MemTotal, or a "
         "size such as `256M`)",
         false},
        {"high_free", THRESHOLD_KEY, AT(high_free), 0, 0, NULL,
         "above this for `settle`, give memory back", false},
        {"step", SIZE_KEY, AT(step_kib), 1, POLICY_STEP_MAX_KIB, NULL,
         "the size of one move: a balloon step, or one DIMM (rounded up to the cell's "
         "alignment, 128 MiB or the page size)",
         false},
        {"cooldown", DURATION_KEY, AT(cooldown_ms), 0, POLICY_DURATION_MAX_MS, NULL,
         "the least time between two shrinking moves, and after a failure", false},
        {"settle", DURATION_KEY, AT(settle_ms), 0, POLICY_DURATION_MAX_MS, NULL,
         "how long usable memory must stay above `high_free` before any shrink", false},
        {"min", SIZE_KEY, AT(min_kib), 0, 0, "boot",
         "the guest never goes below this. The floor is `max(min, boot memory)`", true},
        {"max", SIZE_KEY, AT(max_kib), 0, 0, "maxMemory",
         "the guest never goes above this, nor above `<maxMemory>`", true},
};

const struct policy_key *policy_key_find(const char *name)
{
	for (size_t i = 0; i < POLICY_N_KEYS; i++)
		if (strcmp(policy_keys[i].name, name) == 0)
			return &policy_keys[i];
	return NULL;
}

static void *field_of(const struct policy_key *k, struct policy_settings *s)
{
	return (char *)s + k->offset;
}

static const void *cfield_of(const struct policy_key *k, const struct policy_settings *s)
{
	return (const char *)s + k->offset;
}

const char *policy_key_format(const struct policy_key *k, const struct policy_settings *s,
                              char *buf, size_t len)
{
	const void *f = cfield_of(k, s);

	if (k->unset != NULL && *(const uint64_t *)f == 0)
		return k->unset;
	return k->print(f, buf, len);
}

const char *policy_settings_value(const struct policy_settings *s, const char *key, char *buf,
                                  size_t len)
{
	const struct policy_key *k = policy_key_find(key);

	return k != NULL ? policy_key_format(k, s, buf, len) : NULL;
}

/* ---- parsing and validation ---- */

static int unknown_key(const char *key, char **err)
{
	GString *names = g_string_new(NULL);
	int rc;

	for (size_t i = 0; i < POLICY_N_KEYS; i++)
		g_string_append_printf(names, "%s%s", i ? ", " : "", policy_keys[i].name);
	rc = err_ret(err, -EINVAL, "unknown policy key '%s' (%s)", key, names->str);
	g_string_free(names, TRUE);
	return rc;
}

int policy_settings_apply(struct policy_settings *s, const char *key, const char *value, char **err)
{
	const struct policy_key *k = policy_key_find(key);
	struct policy_settings n = *s;
	int rc;

	if (k == NULL)
		return unknown_key(key, err);
	rc = k->parse(value, field_of(k, &n), err);
	if (rc < 0)
		return rc;
	*s = n;
	return 0;
}

int policy_settings_set(struct policy_settings *s, const char *key, const char *value, char **err)
{
	struct policy_settings n = *s;
	int rc = policy_settings_apply(&n, key, value, err);

	if (rc < 0 || (rc = policy_settings_check(&n, err)) < 0)
		return rc;
	*s = n;
	return 0;
}

/* A row's bounds (sizes and durations only). */
static int check_bound(const struct policy_key *k, const struct policy_settings *s, char **err)
{
	char buf[32];
	uint64_t least = k->min, most = k->max, v;

	if (least == 0 && most == 0)
		return 0;
	v = *(const uint64_t *)cfield_of(k, s);
	if (most != 0 && v > most)
		return err_ret(err, -EINVAL, "%s must be at most %s", k->name,
		               k->print(&most, buf, sizeof(buf)));
	if (v >= least)
		return 0;
	if (least == 1)
		return err_ret(err, -EINVAL, "%s must be above 0", k->name);
	return err_ret(err, -EINVAL, "%s must be at least %s", k->name,
	               k->print(&least, buf, sizeof(buf)));
}

/* Each row's bound, then what ties keys together. Thresholds are compared
 * only when both are in the same unit. */
int policy_settings_check(const struct policy_settings *s, char **err)
{
	char a[32], b[32];

	for (size_t i = 0; i < POLICY_N_KEYS; i++)
		if (check_bound(&policy_keys[i], s, err) < 0)
			return -EINVAL;
	if (s->low_free.percent == s->high_free.percent && s->low_free.value >= s->high_free.value)
		return err_ret(
		        err, -EINVAL,
		        "low_free (%s) must be below high_free (%s): lower low_free or raise "
		        "high_free",
		        threshold_format(&s->low_free, a, sizeof(a)),
		        threshold_format(&s->high_free, b, sizeof(b)));
	if (s->min_kib && s->max_kib && s->min_kib > s->max_kib)
		return err_ret(err, -EINVAL, "min (%s) must not be above max (%s)",
		               size_short(s->min_kib, a, sizeof(a)),
		               size_short(s->max_kib, b, sizeof(b)));
	return 0;
}

/* ---- against the domain ---- */

int policy_key_check_domain(const struct policy_key *k, const struct policy_settings *s,
                            const struct policy_domain_bounds *b, char **err)
{
	uint64_t v = k->memory_bound ? *(const uint64_t *)cfield_of(k, s) : 0;
	uint64_t top = b->max_memory_kib ? b->max_memory_kib : b->memory_kib;
	char val[32], lo[32], hi[32];

	if (v == 0 || (v >= b->boot_kib && v <= top))
		return 0;
	size_short(v, val, sizeof(val));
	size_short(b->boot_kib, lo, sizeof(lo));
	size_short(top, hi, sizeof(hi));
	if (v < b->boot_kib)
		return err_ret(err, -EINVAL,
		               "%s %s is below the boot memory of %s (%s), which the guest never "
		               "goes below: set %s between %s and %s, or unset it "
		               "(memplugctl policy %s unset %s)",
		               k->name, val, b->name, lo, k->name, lo, hi, b->name, k->name);
	if (b->max_memory_kib)
		return err_ret(err, -EINVAL,
		               "%s %s is above the maxMemory of %s (%s), beyond which nothing can "
		               "be plugged: set %s between %s and %s, or raise its <maxMemory> "
		               "first (memplugctl prepare --max, then restart it)",
		               k->name, val, b->name, hi, k->name, lo, hi);
	return err_ret(err, -EINVAL,
	               "%s %s is above the memory of %s (%s), which has no <maxMemory> to plug "
	               "more: set %s between %s and %s, or give it a <maxMemory> first "
	               "(memplugctl prepare --max, then restart it)",
	               k->name, val, b->name, hi, k->name, lo, hi);
}
