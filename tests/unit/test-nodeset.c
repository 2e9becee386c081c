/*
 * Unit tests for common/nodeset.c: libvirt's nodeset syntax and the
 * bitmap operations.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nodeset.h"

struct parse_case {
	const char *what;
	const char *input;
	int rc;
	const char *formatted; /* on success; else a substring of the error */
};

static const struct parse_case parse_cases[] = {
        {"single", "0", 0, "0"},
        {"list", "0,2,4", 0, "0,2,4"},
        {"range", "0-3", 0, "0-3"},
        {"libvirt example", "0-3,^2,8", 0, "0-1,3,8"},
        {"spaces around tokens", " 0 - 3 , ^2 ,8 ", 0, "0-1,3,8"},
        {"exclusion is ordered", "^2,0-3", 0, "0-3"},
        {"duplicates", "1,1,0-1", 0, "0-1"},
        {"highest id", "1023", 0, "1023"},
        {"ranges merge", "0-1,2-3,5", 0, "0-3,5"},
        {"empty string", "", -EINVAL, "empty"},
        {"only spaces", "  ", -EINVAL, "empty"},
        {"garbage", "abc", -EINVAL, "expected a node number"},
        {"trailing garbage", "0-3x", -EINVAL, "unexpected 'x'"},
        {"reversed range", "3-1", -EINVAL, "reversed"},
        {"id too large", "1024", -ERANGE, "not below 1024"},
        {"range too large", "0-5000", -ERANGE, "not below 1024"},
        {"huge number", "99999999999999999999999", -ERANGE, "not below"},
        {"negated range", "^1-2", -EINVAL, "single node"},
        {"excludes everything", "1,^1", -EINVAL, "selects no node"},
        {"trailing comma", "1,", -EINVAL, "ends with ','"},
        {"double comma", "1,,2", -EINVAL, "expected a node number"},
        {"negative", "-1", -EINVAL, "expected a node number"},
        {"open range", "1-", -EINVAL, "expected a node number"},
};

static void test_nodeset_parse(void **state)
{
	char buf[NODESET_FORMAT_MAX];

	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct nodeset ns;
		char *err = NULL;
		int rc = nodeset_parse(c->input, &ns, &err);

		print_message("nodeset_parse: %s\n", c->what);
		assert_int_equal(rc, c->rc);
		if (rc == 0) {
			assert_null(err);
			assert_string_equal(nodeset_format(&ns, buf, sizeof(buf)), c->formatted);
		} else {
			assert_non_null(err);
			assert_non_null(strstr(err, c->formatted));
		}
		free(err);
	}
}

static void test_nodeset_ops(void **state)
{
	struct nodeset a, b;
	char buf[NODESET_FORMAT_MAX];
	unsigned seen[4], n = 0;

	nodeset_clear_all(&a);
	assert_true(nodeset_is_empty(&a));
	assert_int_equal(nodeset_next(&a, 0), -1);
	assert_string_equal(nodeset_format(&a, buf, sizeof(buf)), "");
	nodeset_set(&a, 1);
	nodeset_set(&a, 64);
	nodeset_set(&a, 1023);
	nodeset_set(&a, 5000); /* out of range: ignored */
	assert_int_equal(nodeset_count(&a), 3);
	assert_true(nodeset_test(&a, 64));
	assert_false(nodeset_test(&a, 63));
	assert_false(nodeset_test(&a, 5000));
	for (int i = nodeset_next(&a, 0); i >= 0; i = nodeset_next(&a, (unsigned)i + 1))
		seen[n++] = (unsigned)i;
	assert_int_equal(n, 3);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 64);
	assert_int_equal(seen[2], 1023);
	assert_int_equal(nodeset_parse("1,64,1023", &b, NULL), 0);
	assert_true(nodeset_equal(&a, &b));
	nodeset_clear(&a, 64);
	assert_false(nodeset_equal(&a, &b));
	assert_string_equal(nodeset_format(&a, buf, sizeof(buf)), "1,1023");
}

/* A short buffer gets a truncated but terminated string. */
static void test_nodeset_format_short(void **state)
{
	struct nodeset ns;
	char buf[6];

	assert_int_equal(nodeset_parse("0,2,4,6,8", &ns, NULL), 0);
	nodeset_format(&ns, buf, sizeof(buf));
	assert_string_equal(buf, "0,2,4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_nodeset_parse),
	        cmocka_unit_test(test_nodeset_ops),
	        cmocka_unit_test(test_nodeset_format_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
