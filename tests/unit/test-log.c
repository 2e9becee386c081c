/*
 * Unit tests for common/log.c: level names and the rate limit that keeps a
 * flooding peer from flooding the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

static void test_level_names(void **state)
{
	static const struct {
		const char *name;
		int rc;
		enum log_level level;
	} cases[] = {
	        {"error", 0, LOG_LEVEL_ERR},  {"warning", 0, LOG_LEVEL_WARN},
	        {"info", 0, LOG_LEVEL_INFO},  {"debug", 0, LOG_LEVEL_DEBUG},
	        {"loud", -1, LOG_LEVEL_INFO}, {"", -1, LOG_LEVEL_INFO},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_level l = LOG_LEVEL_INFO;

		assert_int_equal(log_level_parse(cases[i].name, &l), cases[i].rc);
		assert_int_equal(l, cases[i].level);
	}
}

/* 1000 calls in a burst: at most `burst` a second get through (two
 * seconds' worth if the loop straddles a second), the rest are counted. */
static void test_ratelimit(void **state)
{
	struct log_ratelimit rl = {0};
	unsigned allowed = 0;

	log_init("test-log", true, LOG_LEVEL_ERR);
	for (int i = 0; i < 1000; i++)
		allowed += log_ratelimit(&rl, 5);
	assert_true(allowed >= 5 && allowed <= 10);
	assert_true(rl.suppressed > 0);
	assert_int_equal(rl.count, 5);
	log_ratelimit_flush(&rl); /* reports them, then starts counting anew */
	assert_int_equal(rl.suppressed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_level_names),
	        cmocka_unit_test(test_ratelimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
