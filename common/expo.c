/*
 * Prometheus text exposition format 0.0.4 (expo.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

int expo_hist_init(struct expo_hist *h, const double *bounds, size_t n)
{
	if (n == 0 || n > EXPO_HIST_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return -EINVAL;
	memset(h, 0, sizeof(*h));
	memcpy(h->bounds, bounds, n * sizeof(*bounds));
	h->n_bounds = n;
	return 0;
}

void expo_hist_observe(struct expo_hist *h, double v)
{
	size_t i = 0;

	/* NaN compares false everywhere and lands in +Inf, as Prometheus's
	 * own client does. */
	while (i < h->n_bounds && !(v <= h->bounds[i]))
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

uint64_t expo_hist_cumulative(const struct expo_hist *h, size_t i)
{
	uint64_t n = 0;

	for (size_t k = 0; k <= i && k <= h->n_bounds; k++)
		n += h->counts[k];
	return n;
}

void expo_escape(FILE *f, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

void expo_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	expo_escape(f, help, 0);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

const char *expo_format(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	else /* the shortest of %.15g..%.17g that reads back as v: 0.1, not 0.10000000000000001 */
		for (int prec = 15; prec <= 17; prec++)
			if (snprintf(buf, len, "%.*g", prec, v) > 0 && strtod(buf, NULL) == v)
				break;
	return buf;
}

static void expo_value(FILE *f, double v)
{
	char buf[EXPO_NUM_MAX];

	fputs(expo_format(v, buf, sizeof(buf)), f);
}

/* {a="x",b="y"} and an optional extra label (the bucket's le). */
static void expo_labels(FILE *f, const struct expo_label *labels, size_t n,
                        const struct expo_label *extra)
{
	const char *sep = "{";

	for (size_t i = 0; i < n + (extra != NULL); i++) {
		const struct expo_label *l = i < n ? &labels[i] : extra;

		if (l->value == NULL)
			continue;
		fprintf(f, "%s%s=\"", sep, l->name);
		expo_escape(f, l->value, 1);
		fputc('"', f);
		sep = ",";
	}
	if (sep[0] == ',')
		fputc('}', f);
}

void expo_sample(FILE *f, const char *name, const struct expo_label *labels, size_t n_labels,
                 double value)
{
	fputs(name, f);
	expo_labels(f, labels, n_labels, NULL);
	fputc(' ', f);
	expo_value(f, value);
	fputc('\n', f);
}

void expo_hist_write(FILE *f, const char *name, const struct expo_label *labels, size_t n_labels,
                     const struct expo_hist *h)
{
	char le[EXPO_NUM_MAX];

	for (size_t i = 0; i <= h->n_bounds; i++) {
		struct expo_label l = {"le", le};

		expo_format(i < h->n_bounds ? h->bounds[i] : INFINITY, le, sizeof(le));
		fprintf(f, "%s_bucket", name);
		expo_labels(f, labels, n_labels, &l);
		fprintf(f, " %llu\n", (unsigned long long)expo_hist_cumulative(h, i));
	}
	fprintf(f, "%s_sum", name);
	expo_labels(f, labels, n_labels, NULL);
	fputc(' ', f);
	expo_value(f, h->sum);
	fprintf(f, "\n%s_count", name);
	expo_labels(f, labels, n_labels, NULL);
	fprintf(f, " %llu\n", (unsigned long long)h->count);
}
