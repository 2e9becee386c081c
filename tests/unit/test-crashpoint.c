/*
 * Unit tests for agent/crashpoint.c: which OP:POINT a value names, and the
 * exec points of a test build (a release build must run nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "crashpoint.h"

struct match_case {
	const char *what;
	const char *value;
	const char *op;
	const char *point;
	bool match;
};

static const struct match_case match_cases[] = {
        {"op and point", "shrink:after-detach-call", "shrink", "after-detach-call", true},
        {"bare point, shrink", "after-intent", "shrink", "after-intent", true},
        {"bare point, grow", "after-intent", "grow", "after-intent", true},
        {"other op", "grow:after-intent", "shrink", "after-intent", false},
        {"other point", "shrink:after-intent", "shrink", "after-outcome", false},
        {"point prefix only", "shrink:after", "shrink", "after-intent", false},
        {"longer point", "shrink:after-intent-x", "shrink", "after-intent", false},
        {"op prefix of a longer op", "shrinkx:after-intent", "shrink", "after-intent", false},
        {"op without colon", "shrinkafter-intent", "shrink", "after-intent", false},
        {"empty", "", "shrink", "after-intent", false},
        {"unset", NULL, "shrink", "after-intent", false},
};

static void test_matches(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];

		print_message("%s\n", c->what);
		assert_int_equal(crashpoint_matches(c->value, c->op, c->point), c->match);
	}
}

struct exec_case {
	const char *what;
	const char *at; /* MEMPLUG_TEST_EXEC_AT */
	const char *op;
	const char *point;
	bool runs; /* in a test build; a release build never runs it */
};

static const struct exec_case exec_cases[] = {
        {"named point runs", "shrink:after-detach-call", "shrink", "after-detach-call", true},
        {"bare point runs", "after-outcome", "grow", "after-outcome", true},
        {"other point does not", "shrink:after-intent", "shrink", "after-outcome", false},
        {"other op does not", "grow:after-intent", "shrink", "after-intent", false},
};

/* The command creates a file: it ran, and ran to its end before
 * crashpoint() returned (the file is there at once). */
static void test_exec(void **state)
{
	char dir[] = "/tmp/test-crashpoint-XXXXXX", file[64], cmd[128];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/ran", dir);
	snprintf(cmd, sizeof(cmd), "sleep 0.2; : >'%s'", file);
	assert_int_equal(setenv("MEMPLUG_TEST_EXEC", cmd, 1), 0);
	unsetenv("MEMPLUG_TEST_CRASH_AT");
	for (size_t i = 0; i < sizeof(exec_cases) / sizeof(exec_cases[0]); i++) {
		const struct exec_case *c = &exec_cases[i];

		print_message("%s\n", c->what);
		assert_int_equal(setenv("MEMPLUG_TEST_EXEC_AT", c->at, 1), 0);
		crashpoint(c->op, c->point);
		assert_int_equal(access(file, F_OK) == 0, c->runs && CRASHPOINTS_ENABLED);
		unlink(file);
	}
	unsetenv("MEMPLUG_TEST_EXEC_AT");
	unsetenv("MEMPLUG_TEST_EXEC");
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_matches),
	        cmocka_unit_test(test_exec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
