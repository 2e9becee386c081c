/*
 * Unit tests for common/size.c: user sizes, libvirt units, formatting.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "size.h"

struct user_case {
	const char *what;
	const char *input;
	int rc;
	uint64_t kib;
	const char *msg; /* substring of the error */
};

static const struct user_case user_cases[] = {
        {"kibibytes", "4K", 0, 4, NULL},
        {"mebibytes", "768M", 0, 768 * 1024, NULL},
        {"MiB suffix", "768MiB", 0, 768 * 1024, NULL},
        {"lower case", "1gib", 0, 1048576, NULL},
        {"gibibyte", "1G", 0, 1048576, NULL},
        {"tebibyte", "2TiB", 0, UINT64_C(2) << 30, NULL},
        {"bare number", "1024", -EINVAL, 0, "K, M, G or T"},
        {"decimal MB", "128MB", -EINVAL, 0,
         "size '128MB': libvirt reads MB as 10^6 bytes, so that is about 122.1 MiB"},
        {"decimal MB suggests M", "128MB", -EINVAL, 0, "use '128M'"},
        {"decimal GB", "2gb", -EINVAL, 0, "GB as 10^9 bytes, so that is about 1.86 GiB"},
        {"decimal KB", "1000KB", -EINVAL, 0, "use '1000K'"},
        {"fraction of G", "1.5G", -EINVAL, 0,
         "size '1.5G': fractions are not accepted, use a whole number of a smaller unit: "
         "'1536M'"},
        {"fraction of GiB", "0.25GiB", -EINVAL, 0, "'256M'"},
        {"fraction to K", "1.001M", -EINVAL, 0, "fractions are not accepted"},
        {"fraction of K", "1.5K", -EINVAL, 0, "fractions are not accepted, use a whole"},
        {"fraction, no unit", "1.5", -EINVAL, 0, "fractions are not accepted"},
        {"petabytes", "1P", -EINVAL, 0, "K, M, G or T"},
        {"trailing junk", "1Gx", -EINVAL, 0, "unknown unit"},
        {"negative", "-128M", -EINVAL, 0, "size '-128M' is negative"},
        {"negative says what to give", "-128M", -EINVAL, 0, "give '128M'"},
        {"not a number", "x1G", -EINVAL, 0, "does not start with a number"},
        {"empty", "", -EINVAL, 0, "empty size"},
        {"overflow in number", "99999999999999999999999K", -ERANGE, 0, "too large"},
        {"overflow in scale", "9000000T", -ERANGE, 0, "too large"},
};

static void test_size_parse(void **state)
{
	for (size_t i = 0; i < sizeof(user_cases) / sizeof(user_cases[0]); i++) {
		const struct user_case *c = &user_cases[i];
		uint64_t kib = UINT64_MAX;
		char *err = NULL;
		int rc = size_parse(c->input, &kib, &err);

		print_message("size_parse: %s\n", c->what);
		assert_int_equal(rc, c->rc);
		if (c->rc == 0) {
			assert_int_equal(kib, c->kib);
			assert_null(err);
		} else {
			assert_non_null(err);
			assert_non_null(strstr(err, c->msg));
		}
		free(err);
	}
}

struct unit_case {
	const char *what;
	const char *value;
	const char *unit;
	int rc;
	uint64_t kib;
};

static const struct unit_case unit_cases[] = {
        {"no unit is KiB", "1024", NULL, 0, 1024},
        {"empty unit is KiB", "1024", "", 0, 1024},
        {"bytes round up", "1", "b", 0, 1},
        {"bytes exact", "2048", "bytes", 0, 2},
        {"bytes round up to next KiB", "1025", "B", 0, 2},
        {"KB is decimal", "1000", "KB", 0, 977},
        {"k is binary", "3", "k", 0, 3},
        {"KiB", "7", "KiB", 0, 7},
        {"MB is decimal", "1", "MB", 0, 977},
        {"M", "2", "M", 0, 2048},
        {"MiB", "2", "MiB", 0, 2048},
        {"GB", "1", "GB", 0, 976563},
        {"G", "1", "G", 0, 1048576},
        {"GiB", "64", "GiB", 0, UINT64_C(64) << 20},
        {"TB", "1", "TB", 0, UINT64_C(976562500)},
        {"T", "1", "T", 0, UINT64_C(1) << 30},
        {"TiB", "1", "TiB", 0, UINT64_C(1) << 30},
        {"PiB", "1", "PiB", 0, UINT64_C(1) << 40},
        {"P", "1", "P", 0, UINT64_C(1) << 40},
        {"PB", "1", "PB", 0, UINT64_C(976562500000)},
        {"EiB", "1", "EiB", 0, UINT64_C(1) << 50},
        {"E", "2", "E", 0, UINT64_C(2) << 50},
        {"EB", "1", "EB", 0, UINT64_C(976562500000000)},
        {"whitespace tolerated", " 12\n", "KiB", 0, 12},
        {"unknown unit", "1", "XB", -EINVAL, 0},
        {"unknown long unit", "1", "MiBs", -EINVAL, 0},
        {"negative", "-1", "KiB", -EINVAL, 0},
        {"not a number", "lots", "KiB", -EINVAL, 0},
        {"trailing junk", "12x", "KiB", -EINVAL, 0},
        {"too many EiB", "16", "EiB", -ERANGE, 0},
        {"past uint64", "18446744073709551616", NULL, -ERANGE, 0},
        {"past libvirt's limit", "9007199254740992", "KiB", -ERANGE, 0},
        {"libvirt's limit", "9007199254740991", "KiB", 0, UINT64_C(9007199254740991)},
};

static void test_size_parse_unit(void **state)
{
	for (size_t i = 0; i < sizeof(unit_cases) / sizeof(unit_cases[0]); i++) {
		const struct unit_case *c = &unit_cases[i];
		uint64_t kib = UINT64_MAX;
		char *err = NULL;
		int rc = size_parse_unit(c->value, c->unit, &kib, &err);

		print_message("size_parse_unit: %s\n", c->what);
		assert_int_equal(rc, c->rc);
		if (c->rc == 0)
			assert_int_equal(kib, c->kib);
		else
			assert_non_null(err);
		free(err);
	}
}

struct format_case {
	uint64_t kib;
	const char *expected;
};

static const struct format_case format_cases[] = {
        {0, "0 KiB"},
        {4, "4 KiB"},
        {1023, "1023 KiB"},
        {1024, "1 MiB"},
        {768 * 1024, "768 MiB"},
        {1536 * 1024, "1536 MiB"},
        {1048576, "1 GiB"},
        {UINT64_C(3) << 30, "3 TiB"},
        {UINT64_C(1) << 40, "1 PiB"},
        {UINT64_C(1) << 50, "1 EiB"},
        {UINT64_C(1) << 60, "1024 EiB"},
};

static void test_size_format(void **state)
{
	char buf[SIZE_FORMAT_MAX];

	for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
		print_message("size_format: %s\n", format_cases[i].expected);
		assert_string_equal(size_format(format_cases[i].kib, buf, sizeof(buf)),
		                    format_cases[i].expected);
	}
}

/* What size_format prints, size_parse reads back. */
static void test_size_round_trip(void **state)
{
	static const uint64_t sizes[] = {4, 1536 * 1024, 1048576, UINT64_C(5) << 30};
	char buf[SIZE_FORMAT_MAX], compact[SIZE_FORMAT_MAX];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t kib = 0;
		char *space, *err = NULL;

		size_format(sizes[i], buf, sizeof(buf));
		space = strchr(buf, ' ');
		assert_non_null(space);
		*space = '\0';
		snprintf(compact, sizeof(compact), "%s%s", buf, space + 1);
		assert_int_equal(size_parse(compact, &kib, &err), 0);
		assert_int_equal(kib, sizes[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_size_parse),
	        cmocka_unit_test(test_size_parse_unit),
	        cmocka_unit_test(test_size_format),
	        cmocka_unit_test(test_size_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
