/*
 * Unit tests for common/expo.c: the Prometheus text format writer (label
 * and HELP escaping, value spelling, histogram bucket math, cumulative
 * bucket lines).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expo.h"

/* What fn(f) writes, as a malloc'd string. */
static char *capture(void (*fn)(FILE *f, const void *arg), const void *arg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	fn(f, arg);
	assert_int_equal(fclose(f), 0);
	return text;
}

struct escape_case {
	const char *what;
	const char *input;
	int quote;
	const char *expected;
};

static const struct escape_case escape_cases[] = {
        {"plain", "web-01", 1, "web-01"},
        {"double quote", "a\"b", 1, "a\\\"b"},
        {"backslash", "a\\b", 1, "a\\\\b"},
        {"newline", "a\nb", 1, "a\\nb"},
        {"all three", "\\\"\n", 1, "\\\\\\\"\\n"},
        {"utf-8 passes", "caf\xc3\xa9", 1, "caf\xc3\xa9"},
        {"help keeps quotes", "say \"hi\"\n\\", 0, "say \"hi\"\\n\\\\"},
        {"empty", "", 1, ""},
};

static void write_escape(FILE *f, const void *arg)
{
	const struct escape_case *c = arg;

	expo_escape(f, c->input, c->quote);
}

static void test_escape(void **state)
{
	for (size_t i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		char *got = capture(write_escape, &escape_cases[i]);

		if (strcmp(got, escape_cases[i].expected) != 0)
			fail_msg("%s: got '%s', want '%s'", escape_cases[i].what, got,
			         escape_cases[i].expected);
		free(got);
	}
}

static const struct {
	const char *what;
	double v;
	const char *expected;
} format_cases[] = {
        {"integer", 42, "42"},
        {"zero", 0, "0"},
        {"shortest decimal", 0.1, "0.1"},
        {"2^53 exactly", 9007199254740992.0, "9007199254740992"},
        {"a large byte count", 274877906944.0, "274877906944"},
        {"needs 17 digits", 0.30000000000000004, "0.30000000000000004"},
        {"negative", -2.5, "-2.5"},
        {"plus infinity", INFINITY, "+Inf"},
        {"minus infinity", -INFINITY, "-Inf"},
        {"not a number", NAN, "NaN"},
};

static void test_format(void **state)
{
	char buf[EXPO_NUM_MAX];

	for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++)
		if (strcmp(expo_format(format_cases[i].v, buf, sizeof(buf)),
		           format_cases[i].expected) != 0)
			fail_msg("%s: got '%s', want '%s'", format_cases[i].what, buf,
			         format_cases[i].expected);
}

static void write_family_and_samples(FILE *f, const void *arg)
{
	const struct expo_label labels[] = {{"domain", "we\"b"}, {"skipped", NULL}, {"node", "1"}};
	const struct expo_label only_null[] = {{"skipped", NULL}};

	expo_family(f, "memplug_x_total", "counter", "Things\ncounted \\ here.");
	expo_sample(f, "memplug_x_total", labels, 3, 7);
	expo_sample(f, "memplug_x_total", NULL, 0, 1.5);
	expo_sample(f, "memplug_x_total", only_null, 1, 0);
}

static void test_family_and_samples(void **state)
{
	char *got = capture(write_family_and_samples, NULL);

	assert_string_equal(got, "# HELP memplug_x_total Things\\ncounted \\\\ here.\n"
	                         "# TYPE memplug_x_total counter\n"
	                         "memplug_x_total{domain=\"we\\\"b\",node=\"1\"} 7\n"
	                         "memplug_x_total 1.5\n"
	                         "memplug_x_total 0\n");
	free(got);
}

static const struct {
	const char *what;
	double bounds[4];
	size_t n;
	int rc;
} init_cases[] = {
        {"increasing", {0.1, 1, 10}, 3, 0}, {"one bound", {1}, 1, 0},
        {"no bound", {0}, 0, -EINVAL},      {"equal bounds", {1, 1}, 2, -EINVAL},
        {"decreasing", {2, 1}, 2, -EINVAL}, {"infinite bound", {1, INFINITY}, 2, -EINVAL},
        {"NaN bound", {NAN}, 1, -EINVAL},   {"too many", {1, 2, 3, 4}, EXPO_HIST_MAX + 1, -EINVAL},
};

static void test_hist_init(void **state)
{
	for (size_t i = 0; i < sizeof(init_cases) / sizeof(init_cases[0]); i++) {
		struct expo_hist h;

		if (expo_hist_init(&h, init_cases[i].bounds, init_cases[i].n) != init_cases[i].rc)
			fail_msg("%s: want %d", init_cases[i].what, init_cases[i].rc);
	}
}

/* Observations and the cumulative count expected at each bound of
 * {0.1, 1, 10} and +Inf: a value equal to a bound belongs to it (le). */
static const struct {
	const char *what;
	double obs[6];
	size_t n;
	uint64_t cumulative[4];
	double sum;
} bucket_cases[] = {
        {"empty", {0}, 0, {0, 0, 0, 0}, 0},
        {"on a bound is in it", {0.1, 1, 10}, 3, {1, 2, 3, 3}, 11.1},
        {"just above a bound", {0.1000001, 1.0000001}, 2, {0, 1, 2, 2}, 1.1000002},
        {"above the last", {11, 1000}, 2, {0, 0, 0, 2}, 1011},
        {"below the first", {0, 0.05, -1}, 3, {3, 3, 3, 3}, -0.95},
        {"spread", {0.01, 0.5, 0.5, 5, 50, 0.1}, 6, {2, 4, 5, 6}, 56.11},
};

static void test_hist_buckets(void **state)
{
	static const double bounds[] = {0.1, 1, 10};

	for (size_t i = 0; i < sizeof(bucket_cases) / sizeof(bucket_cases[0]); i++) {
		struct expo_hist h;

		assert_int_equal(expo_hist_init(&h, bounds, 3), 0);
		for (size_t k = 0; k < bucket_cases[i].n; k++)
			expo_hist_observe(&h, bucket_cases[i].obs[k]);
		for (size_t b = 0; b <= 3; b++)
			if (expo_hist_cumulative(&h, b) != bucket_cases[i].cumulative[b])
				fail_msg("%s: bucket %zu holds %llu, want %llu",
				         bucket_cases[i].what, b,
				         (unsigned long long)expo_hist_cumulative(&h, b),
				         (unsigned long long)bucket_cases[i].cumulative[b]);
		assert_int_equal(h.count, bucket_cases[i].n);
		assert_true(fabs(h.sum - bucket_cases[i].sum) < 1e-9);
		/* the +Inf bucket is the count, always */
		assert_int_equal(expo_hist_cumulative(&h, 3), h.count);
	}
}

static void write_hist(FILE *f, const void *arg)
{
	static const double bounds[] = {0.05, 0.5};
	const struct expo_label labels[] = {{"kind", "grow"}};
	struct expo_hist h;

	expo_hist_init(&h, bounds, 2);
	expo_hist_observe(&h, 0.03);
	expo_hist_observe(&h, 0.25);
	expo_hist_observe(&h, 0.5);
	expo_hist_observe(&h, 2);
	expo_hist_write(f, "memplug_d_seconds", labels, 1, &h);
	expo_hist_write(f, "memplug_e_seconds", NULL, 0, &h);
}

static void test_hist_write(void **state)
{
	char *got = capture(write_hist, NULL);

	assert_string_equal(got, "memplug_d_seconds_bucket{kind=\"grow\",le=\"0.05\"} 1\n"
	                         "memplug_d_seconds_bucket{kind=\"grow\",le=\"0.5\"} 3\n"
	                         "memplug_d_seconds_bucket{kind=\"grow\",le=\"+Inf\"} 4\n"
	                         "memplug_d_seconds_sum{kind=\"grow\"} 2.7800000000000002\n"
	                         "memplug_d_seconds_count{kind=\"grow\"} 4\n"
	                         "memplug_e_seconds_bucket{le=\"0.05\"} 1\n"
	                         "memplug_e_seconds_bucket{le=\"0.5\"} 3\n"
	                         "memplug_e_seconds_bucket{le=\"+Inf\"} 4\n"
	                         "memplug_e_seconds_sum 2.7800000000000002\n"
	                         "memplug_e_seconds_count 4\n");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_escape),
	        cmocka_unit_test(test_format),
	        cmocka_unit_test(test_family_and_samples),
	        cmocka_unit_test(test_hist_init),
	        cmocka_unit_test(test_hist_buckets),
	        cmocka_unit_test(test_hist_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
