/*
 * The Prometheus text exposition format, version 0.0.4: family headers
 * (# HELP, # TYPE), samples with escaped labels, and histograms with
 * cumulative buckets. Pure: it writes to a stdio stream (open_memstream()
 * in the agent) and knows nothing of HTTP or of what is measured.
 *
 * Format rules kept here: label values escape backslash, double quote and
 * newline; HELP text escapes backslash and newline; values are Go-style
 * floats (+Inf, -Inf, NaN); a histogram's buckets are cumulative, end with
 * le="+Inf", and its _count equals the +Inf bucket.
 */
#ifndef MEMPLUG_EXPO_H
#define MEMPLUG_EXPO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bucket bounds a histogram may have, +Inf not counted. */
#define EXPO_HIST_MAX 16

struct expo_label {
	const char *name;
	const char *value;
};

/*
 * One histogram's state. bounds[] are the finite upper bounds, strictly
 * increasing; counts[i] counts observations in (bounds[i-1], bounds[i]],
 * counts[n_bounds] those above the last bound. Zero-initialise, then
 * expo_hist_init().
 */
struct expo_hist {
	size_t n_bounds;
	double bounds[EXPO_HIST_MAX];
	uint64_t counts[EXPO_HIST_MAX + 1];
	uint64_t count;
	double sum;
};

/* -EINVAL when n is 0, above EXPO_HIST_MAX, or the bounds do not increase
 * strictly or are not finite. */
int expo_hist_init(struct expo_hist *h, const double *bounds, size_t n);
/* Adds one observation (a value <= a bound falls in that bound's bucket). */
void expo_hist_observe(struct expo_hist *h, double v);
/* Observations <= bounds[i], the cumulative count of bucket i; i == n_bounds
 * is the +Inf bucket. */
uint64_t expo_hist_cumulative(const struct expo_hist *h, size_t i);

/* Room for any value expo_format() writes. */
#define EXPO_NUM_MAX 32

/* A sample value as the format spells it: NaN, +Inf, -Inf, or the
 * shortest decimal that reads back exactly. Returns buf. */
const char *expo_format(double v, char *buf, size_t len);
/* Writes s with the escapes of a label value (quote = true) or of HELP
 * text (quote = false: only backslash and newline). */
void expo_escape(FILE *f, const char *s, int quote);
/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void expo_family(FILE *f, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. Labels with a NULL value are left out. */
void expo_sample(FILE *f, const char *name, const struct expo_label *labels, size_t n_labels,
                 double value);
/* The _bucket, _sum and _count lines of one histogram with these labels. */
void expo_hist_write(FILE *f, const char *name, const struct expo_label *labels, size_t n_labels,
                     const struct expo_hist *h);

#endif
