/*
 * Unit tests for agent/config.c: defaults, every key, refusals that name
 * the section and key, and per-domain policy sections.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/memplug-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_defaults_without_file(void **state)
{
	struct config *cfg = NULL;
	char *err = NULL;

	assert_int_equal(config_load("/nonexistent/memplugd.conf", false, &cfg, &err), 0);
	assert_string_equal(cfg->connect_uri, "qemu:///system");
	assert_int_equal(cfg->socket_mode, 0660);
	assert_true(cfg->fail_closed);
	assert_int_equal(cfg->detach_timeout_ms, 30000);
	assert_int_equal(cfg->client_frame_timeout_ms, 10000);
	assert_null(cfg->path);
	config_free(cfg);
	assert_int_equal(config_load("/nonexistent/memplugd.conf", true, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/memplugd.conf"));
	free(err);
}

static void test_all_keys(void **state)
{
	char *path = write_temp("[memplugd]\nconnect = test:///default\nsocket = /tmp/x.sock\n"
	                        "socket_mode = 0600\nsocket_group = kvm\nadmin_group = wheel\n"
	                        "audit_log = /tmp/a.jsonl\naudit_rotate_size = 1M\naudit_keep = 3\n"
	                        "fail_closed = false\nlog_level = debug\ndetach_timeout = 5s\n"
	                        "host_reserve = 1G\npolicy_interval = 500ms\n"
	                        "client_frame_timeout = 3s\n"
	                        "[policy]\nenabled = true\nlow_free = 20%\nhigh_free = 50%\n"
	                        "step = 128M\ncooldown = 1m\nsettle = 45s\nmin = 1G\nmax = 8G\n"
	                        "dry_run = yes\n");
	struct config *cfg = NULL;
	char *err = NULL;

	assert_int_equal(config_load(path, true, &cfg, &err), 0);
	assert_string_equal(cfg->connect_uri, "test:///default");
	assert_string_equal(cfg->socket_path, "/tmp/x.sock");
	assert_int_equal(cfg->socket_mode, 0600);
	assert_string_equal(cfg->socket_group, "kvm");
	assert_string_equal(cfg->admin_group, "wheel");
	assert_string_equal(cfg->audit_log, "/tmp/a.jsonl");
	assert_int_equal(cfg->audit_rotate_kib, 1024);
	assert_int_equal(cfg->audit_keep, 3);
	assert_false(cfg->fail_closed);
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->detach_timeout_ms, 5000);
	assert_int_equal(cfg->host_reserve_kib, 1024 * 1024);
	assert_int_equal(cfg->policy_interval_ms, 500);
	assert_int_equal(cfg->client_frame_timeout_ms, 3000);
	assert_true(cfg->policy.enabled && cfg->policy.dry_run);
	assert_true(cfg->policy.low_free.percent);
	assert_int_equal(cfg->policy.low_free.value, 20);
	assert_int_equal(cfg->policy.high_free.value, 50);
	assert_int_equal(cfg->policy.step_kib, 128 * 1024);
	assert_int_equal(cfg->policy.cooldown_ms, 60000);
	assert_int_equal(cfg->policy.settle_ms, 45000);
	assert_int_equal(cfg->policy.min_kib, 1024 * 1024);
	assert_int_equal(cfg->policy.max_kib, 8 * 1024 * 1024);
	config_free(cfg);
	unlink(path);
	free(path);
}

static void test_domain_sections(void **state)
{
	char *path = write_temp("[policy:web]\nhigh_free = 4G\nlow_free = 1G\n"
	                        "[policy]\nstep = 512M\n");
	struct config *cfg = NULL;
	const struct policy_settings *s;

	assert_int_equal(config_load(path, true, &cfg, NULL), 0);
	s = config_policy_for(cfg, "web");
	/* Keys applied in any order; the section starts from [policy]. */
	assert_false(s->low_free.percent);
	assert_int_equal(s->low_free.value, 1024 * 1024);
	assert_int_equal(s->step_kib, 512 * 1024);
	assert_ptr_equal(config_policy_for(cfg, "db"), &cfg->policy);
	config_free(cfg);
	unlink(path);
	free(path);
}

static const struct {
	const char *what;
	const char *text;
	const char *expect; /* in the message */
} bad_cases[] = {
        {"unknown section", "[nope]\nx = 1\n", "unknown section [nope]"},
        {"unknown key", "[memplugd]\nsokcet = /x\n", "[memplugd] sokcet = /x"},
        {"bad mode", "[memplugd]\nsocket_mode = 999\n", "octal"},
        {"bad bool", "[memplugd]\nfail_closed = maybe\n", "true or false"},
        {"bare size", "[memplugd]\nhost_reserve = 1024\n", "host_reserve"},
        {"bad duration", "[memplugd]\ndetach_timeout = 5\n", "unit"},
        {"bad level", "[memplugd]\nlog_level = loud\n", "log_level"},
        {"zero interval", "[memplugd]\npolicy_interval = 0s\n", "from 100ms to 1h"},
        {"percent > 100", "[policy]\nlow_free = 150%\n", "0% to 100%"},
        {"low >= high", "[policy]\nlow_free = 50%\nhigh_free = 40%\n", "below high_free"},
        {"min > max", "[policy:a]\nmin = 8G\nmax = 4G\n", "[policy:a]: min"},
        {"unknown policy key", "[policy]\nspeed = 3\n", "unknown policy key"},
        {"not a key file", "this is not ini\n", "memplug-config"},
};

static void test_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char *path = write_temp(bad_cases[i].text);
		struct config *cfg = NULL;
		char *err = NULL;

		print_message("case: %s\n", bad_cases[i].what);
		assert_int_equal(config_load(path, true, &cfg, &err), -EINVAL);
		assert_null(cfg);
		assert_non_null(err);
		if (strstr(err, bad_cases[i].expect) == NULL)
			fail_msg("%s: '%s' not in '%s'", bad_cases[i].what, bad_cases[i].expect,
			         err);
		free(err);
		unlink(path);
		free(path);
	}
}

/*
 * Every duration and number key is bounded: 2^64-1 ms used to be taken and
 * then wrapped the event loop's timers. Each bound is tried just inside
 * (accepted, value as written) and just outside (refused, the message names
 * the range).
 */
static const struct {
	const char *what;
	const char *text;
	const char *expect; /* NULL: accepted */
} range_cases[] = {
        {"detach_timeout 2^64-1 ms", "[memplugd]\ndetach_timeout = 18446744073709551615ms\n",
         "out of range: from 0ms to 1h"},
        {"detach_timeout 2h", "[memplugd]\ndetach_timeout = 2h\n", "from 0ms to 1h"},
        {"detach_timeout 1h", "[memplugd]\ndetach_timeout = 1h\n", NULL},
        {"detach_timeout 1ms", "[memplugd]\ndetach_timeout = 1ms\n", NULL},
        {"policy_interval 2^64-1 ms", "[memplugd]\npolicy_interval = 18446744073709551615ms\n",
         "from 100ms to 1h"},
        {"policy_interval 61m", "[memplugd]\npolicy_interval = 61m\n", "from 100ms to 1h"},
        {"policy_interval 99ms", "[memplugd]\npolicy_interval = 99ms\n", "from 100ms to 1h"},
        {"policy_interval 100ms", "[memplugd]\npolicy_interval = 100ms\n", NULL},
        {"policy_interval 1h", "[memplugd]\npolicy_interval = 1h\n", NULL},
        {"client_frame_timeout 0s", "[memplugd]\nclient_frame_timeout = 0s\n", "from 100ms to 10m"},
        {"client_frame_timeout 601s", "[memplugd]\nclient_frame_timeout = 601s\n",
         "from 100ms to 10m"},
        {"client_frame_timeout 10m", "[memplugd]\nclient_frame_timeout = 10m\n", NULL},
        {"duration overflow", "[memplugd]\ndetach_timeout = 99999999999999999999h\n", "too large"},
        {"audit_rotate_size 65G", "[memplugd]\naudit_rotate_size = 65G\n", "to 64 GiB"},
        {"audit_rotate_size 64G", "[memplugd]\naudit_rotate_size = 64G\n", NULL},
        {"host_reserve 2T", "[memplugd]\nhost_reserve = 2T\n", "to 1 TiB"},
        {"audit_keep 2^64", "[memplugd]\naudit_keep = 18446744073709551616\n", "0 to 1000"},
        {"audit_keep 1001", "[memplugd]\naudit_keep = 1001\n", "0 to 1000"},
        {"cooldown 25h", "[policy]\ncooldown = 25h\n", "cooldown must be at most 24h"},
        {"cooldown 2^64-1 ms", "[policy]\ncooldown = 18446744073709551615ms\n", "at most 24h"},
        {"settle 2^64-1 ms", "[policy:web]\nsettle = 18446744073709551615ms\n",
         "settle must be at most 24h"},
        {"settle 24h", "[policy]\nsettle = 24h\n", NULL},
        {"step 2T", "[policy]\nstep = 2T\n", "step must be at most 1T"},
        {"step 1T", "[policy]\nstep = 1T\n", NULL},
        {"metrics_listen v4", "[memplugd]\nmetrics_listen = 127.0.0.1:9464\n", NULL},
        {"metrics_listen v6", "[memplugd]\nmetrics_listen = [::1]:9464\n", NULL},
        {"metrics_listen empty: off", "[memplugd]\nmetrics_listen =\n", NULL},
        {"metrics_listen host name", "[memplugd]\nmetrics_listen = localhost:9464\n",
         "not a numeric IPv4 address"},
        {"metrics_listen no port", "[memplugd]\nmetrics_listen = 127.0.0.1\n", "ADDR:PORT"},
        {"metrics_listen port 0", "[memplugd]\nmetrics_listen = 127.0.0.1:0\n", "1 to 65535"},
        {"metrics_listen bare v6", "[memplugd]\nmetrics_listen = ::1:9464\n", "brackets"},
};

static void test_ranges(void **state)
{
	for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const char *text = range_cases[i].text;
		struct config *cfg = NULL;
		char *err = NULL;
		int rc = config_load_data(text, strlen(text), &cfg, &err);

		print_message("case: %s\n", range_cases[i].what);
		if (range_cases[i].expect == NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", range_cases[i].what, err);
			config_free(cfg);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		assert_null(cfg);
		if (err == NULL || strstr(err, range_cases[i].expect) == NULL)
			fail_msg("%s: '%s' not in '%s'", range_cases[i].what, range_cases[i].expect,
			         err ? err : "(none)");
		free(err);
	}
}

/* Parsing from memory is parsing from a file, without the path. */
static void test_load_data(void **state)
{
	const char text[] = "[memplugd]\ndetach_timeout = 5s\n[policy:db]\nstep = 1G\n";
	struct config *cfg = NULL;
	char *err = NULL;

	assert_int_equal(config_load_data(text, strlen(text), &cfg, &err), 0);
	assert_null(cfg->path);
	assert_int_equal(cfg->detach_timeout_ms, 5000);
	assert_int_equal(config_policy_for(cfg, "db")->step_kib, 1024 * 1024);
	config_free(cfg);
	cfg = NULL;
	assert_int_equal(config_load_data("no key file\n", 12, &cfg, &err), -EINVAL);
	assert_null(cfg);
	free(err);
}

static void test_policy_set(void **state)
{
	struct config *cfg = config_new_default();
	struct policy_settings s = cfg->policy;
	char *err = NULL;

	assert_int_equal(policy_settings_set(&s, "high_free", "5%", &err), -EINVAL);
	assert_non_null(strstr(err, "below high_free"));
	free(err);
	assert_int_equal(s.high_free.value, cfg->policy.high_free.value);
	assert_int_equal(policy_settings_set(&s, "settle", "2m", NULL), 0);
	assert_int_equal(s.settle_ms, 120000);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults_without_file),
	        cmocka_unit_test(test_all_keys),
	        cmocka_unit_test(test_domain_sections),
	        cmocka_unit_test(test_bad),
	        cmocka_unit_test(test_policy_set),
	        cmocka_unit_test(test_ranges),
	        cmocka_unit_test(test_load_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
