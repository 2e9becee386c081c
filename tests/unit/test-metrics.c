/*
 * Unit tests for agent/metrics.c: the listen address check, the counters,
 * the page an agent on the fake backend renders after a grow, and the HTTP
 * endpoint on the agent's loop (a blocking client on another thread while
 * the loop serves).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakeagent.h"
#include "metrics.h"

static const struct {
	const char *what;
	const char *input;
	int rc;
	const char *addr;
	uint16_t port;
	const char *msg; /* substring of the error */
} listen_cases[] = {
        {"loopback", "127.0.0.1:9464", 0, "127.0.0.1", 9464, NULL},
        {"any v4", "0.0.0.0:1", 0, "0.0.0.0", 1, NULL},
        {"v6 loopback", "[::1]:65535", 0, "::1", 65535, NULL},
        {"v6 mapped", "[::ffff:10.0.0.1]:80", 0, "::ffff:10.0.0.1", 80, NULL},
        {"host name", "localhost:9464", -EINVAL, NULL, 0, "not a numeric IPv4"},
        {"v6 without brackets", "::1:9464", -EINVAL, NULL, 0, "brackets"},
        {"v4 in brackets", "[127.0.0.1]:9464", -EINVAL, NULL, 0, "IPv6"},
        {"no port", "127.0.0.1", -EINVAL, NULL, 0, "ADDR:PORT"},
        {"empty port", "127.0.0.1:", -EINVAL, NULL, 0, "port"},
        {"port 0", "127.0.0.1:0", -EINVAL, NULL, 0, "1 to 65535"},
        {"port too big", "127.0.0.1:65536", -EINVAL, NULL, 0, "1 to 65535"},
        {"signed port", "127.0.0.1:+80", -EINVAL, NULL, 0, "port"},
        {"junk after port", "127.0.0.1:80x", -EINVAL, NULL, 0, "port"},
        {"empty address", ":9464", -EINVAL, NULL, 0, "numeric"},
        {"bad v4", "256.0.0.1:9464", -EINVAL, NULL, 0, "numeric"},
        {"unclosed bracket", "[::1:9464", -EINVAL, NULL, 0, "brackets"},
};

static void test_listen_parse(void **state)
{
	for (size_t i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]); i++) {
		char addr[METRICS_ADDR_MAX] = "";
		uint16_t port = 0;
		char *err = NULL;
		int rc = metrics_listen_parse(listen_cases[i].input, addr, &port, &err);

		print_message("case: %s\n", listen_cases[i].what);
		assert_int_equal(rc, listen_cases[i].rc);
		if (rc == 0) {
			assert_string_equal(addr, listen_cases[i].addr);
			assert_int_equal(port, listen_cases[i].port);
			assert_null(err);
		} else {
			assert_non_null(err);
			if (strstr(err, listen_cases[i].msg) == NULL)
				fail_msg("%s: '%s' lacks '%s'", listen_cases[i].what, err,
				         listen_cases[i].msg);
			free(err);
		}
	}
}

/* Off unless asked for. */
static void test_off_by_default(void **state)
{
	struct config *cfg = config_new_default();
	struct config *loaded = NULL;
	const char *text = "[memplugd]\nmetrics_listen = [::1]:9464\n";

	assert_null(cfg->metrics_listen);
	config_free(cfg);
	assert_int_equal(config_load_data(text, strlen(text), &loaded, NULL), 0);
	assert_string_equal(loaded->metrics_listen, "[::1]:9464");
	config_free(loaded);
}

static const struct fake_spec two_cells = {
        .n_cells = 2,
        .cell_mib = {1024, 1024},
        .max_mib = 8192,
        .slots = 8,
        .huge_cell = -1,
        .host_node = -1,
};
static const struct fake_host roomy = {.free_mib = {8192, 6144}, .pool_kib = 2048, .pool_free = 7};

static char *render(struct fakeagent *fa)
{
	struct metrics_sources src = {.agent = fa->a, .control = fa->control, .ops = fa->ops};
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(&src, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static void expect_line(const char *page, const char *line)
{
	const char *p = page;
	size_t n = strlen(line);

	for (; (p = strstr(p, line)) != NULL; p += n)
		if ((p == page || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line '%s' in:\n%s", line, page);
}

static bool host_sampled(struct fakeagent *fa)
{
	char *page = render(fa);
	bool seen = strstr(page, "memplug_host_memory_free_bytes{node=\"1\"}") != NULL;

	free(page);
	return seen;
}

static void grow(struct fakeagent *fa, const char *args)
{
	struct proto_reply *r = fakeagent_call(fa, "grow", args);

	assert_non_null(r);
	proto_reply_free(r);
	fakeagent_settle(fa);
}

/* After a grow, the page has the domain's DIMM, the operation, its latency
 * and the host the policy tick read; counters start at 0 where nothing
 * happened. */
static void test_page_after_grow(void **state)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	char *page;

	fakeagent_init(fa);
	fa->cfg->policy_interval_ms = 20;
	fakeagent_start(fa, &two_cells, &roomy, true);
	page = render(fa);
	expect_line(page, "memplug_operations_total{kind=\"grow\",result=\"ok\"} 0");
	expect_line(
	        page,
	        "memplug_domain_plugged_bytes{domain=\"vm\",guest_node=\"1\",model=\"dimm\"} 0");
	free(page);

	grow(fa, "{\"domain\":\"vm\",\"size\":268435456,\"node\":1}");
	grow(fa, "{\"domain\":\"vm\",\"size\":107374182400,\"node\":0}"); /* 100G: refused */
	assert_true(fakeagent_run_until(fa, host_sampled, 5000));
	page = render(fa);
	expect_line(page, "memplug_operations_total{kind=\"grow\",result=\"ok\"} 1");
	expect_line(page, "memplug_operations_total{kind=\"grow\",result=\"refused\"} 1");
	expect_line(page, "memplug_operations_total{kind=\"shrink\",result=\"ok\"} 0");
	expect_line(page, "memplug_operation_duration_seconds_count{kind=\"grow\"} 2");
	expect_line(page, "memplug_operation_duration_seconds_bucket{kind=\"grow\",le=\"+Inf\"} 2");
	expect_line(page,
	            "memplug_operation_duration_seconds_bucket{kind=\"shrink\",le=\"+Inf\"} 0");
	expect_line(page,
	            "memplug_domain_plugged_bytes{domain=\"vm\",guest_node=\"1\",model=\"dimm\"} "
	            "268435456");
	expect_line(
	        page,
	        "memplug_domain_plugged_bytes{domain=\"vm\",guest_node=\"0\",model=\"dimm\"} 0");
	expect_line(
	        page,
	        "memplug_domain_memory_devices{domain=\"vm\",guest_node=\"1\",model=\"dimm\"} 1");
	expect_line(page,
	            "memplug_domain_boot_memory_bytes{domain=\"vm\",guest_node=\"0\"} 1073741824");
	expect_line(page, "memplug_host_memory_free_bytes{node=\"1\"} 6442450944");
	expect_line(page, "memplug_host_hugepages_free{node=\"0\",page_size=\"2048kB\"} 7");
	expect_line(page, "memplug_libvirt_connected 1");
	expect_line(page, "memplug_control_refused_total{reason=\"busy\"} 0");
	expect_line(page, "memplug_audit_write_errors_total 0");
	expect_line(page, "# TYPE memplug_operation_duration_seconds histogram");
	free(page);
	fakeagent_destroy(fa);
	free(fa);
}

/* A virtio-mem domain: the plugged series is the device's live <current>
 * (130 MiB), neither its <requested> (256 MiB) nor its size (1 GiB). */
static void test_page_vmem(void **state)
{
	static const struct fake_spec spec = {
	        .n_cells = 2,
	        .cell_mib = {1024, 1024},
	        .max_mib = 8192,
	        .slots = 8,
	        .huge_cell = -1,
	        .host_node = -1,
	        .n_vmem = 1,
	        .vmem = {{.node = 1,
	                  .size_kib = 1024 * 1024,
	                  .requested_kib = 256 * 1024,
	                  .current_kib = 130 * 1024}},
	};
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	char *page;

	fakeagent_init(fa);
	fakeagent_start(fa, &spec, &roomy, false);
	page = render(fa);
	expect_line(page, "memplug_domain_plugged_bytes{domain=\"vm\",guest_node=\"1\","
	                  "model=\"virtio-mem\"} 136314880");
	expect_line(page, "memplug_domain_plugged_bytes{domain=\"vm\",guest_node=\"0\","
	                  "model=\"virtio-mem\"} 0");
	expect_line(page, "memplug_domain_memory_devices{domain=\"vm\",guest_node=\"1\","
	                  "model=\"virtio-mem\"} 1");
	free(page);
	fakeagent_destroy(fa);
	free(fa);
}

/* The counters alone: every action is there from the start, counts add up. */
static void test_counters(void **state)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	struct metrics_stats *s;
	char *page;

	fakeagent_init(fa);
	fakeagent_start(fa, &two_cells, &roomy, false);
	s = agent_metrics(fa->a);
	metrics_count_decision(s, "balloon");
	metrics_count_decision(s, "balloon");
	metrics_count_audit_error(s);
	metrics_count_op(s, "shrink", "pending", 31.0);
	metrics_count_op(s, "shrink", "ok", 0.02);
	metrics_count_op(NULL, "shrink", "ok", 1); /* no stats: nothing, no crash */
	page = render(fa);
	expect_line(page, "memplug_policy_decisions_total{action=\"balloon\"} 2");
	expect_line(page, "memplug_policy_decisions_total{action=\"grow\"} 0");
	expect_line(page, "memplug_audit_write_errors_total 1");
	expect_line(page, "memplug_operations_total{kind=\"shrink\",result=\"pending\"} 1");
	expect_line(page,
	            "memplug_operation_duration_seconds_bucket{kind=\"shrink\",le=\"0.025\"} 1");
	expect_line(page, "memplug_operation_duration_seconds_bucket{kind=\"shrink\",le=\"30\"} 1");
	expect_line(page, "memplug_operation_duration_seconds_bucket{kind=\"shrink\",le=\"60\"} 2");
	expect_line(page, "memplug_operation_duration_seconds_sum{kind=\"shrink\"} 31.02");
	free(page);
	fakeagent_destroy(fa);
	free(fa);
}

struct scrape {
	uint16_t port;
	const char *path;
	char reply[65536];
	bool done;
};

static void *scrape_thread(void *arg)
{
	struct scrape *sc = arg;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(sc->port)};
	char req[128];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", sc->path);
		if (write(fd, req, strlen(req)) == (ssize_t)strlen(req))
			while (got < sizeof(sc->reply) - 1 &&
			       (n = read(fd, sc->reply + got, sizeof(sc->reply) - 1 - got)) > 0)
				got += (size_t)n;
	}
	sc->reply[got] = '\0';
	if (fd >= 0)
		close(fd);
	__atomic_store_n(&sc->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static struct scrape *current;

static bool scrape_done(struct fakeagent *fa)
{
	return __atomic_load_n(&current->done, __ATOMIC_ACQUIRE);
}

/* A port the kernel just handed out, so parallel runs do not collide. */
static uint16_t free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void scrape(struct fakeagent *fa, struct scrape *sc)
{
	pthread_t t;

	current = sc;
	assert_int_equal(pthread_create(&t, NULL, scrape_thread, sc), 0);
	assert_true(fakeagent_run_until(fa, scrape_done, 5000));
	pthread_join(t, NULL);
}

static void test_endpoint(void **state)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	struct metrics_sources src;
	struct metrics *m = NULL;
	struct scrape *sc = calloc(1, sizeof(*sc));
	char listen[32], *err = NULL;

	fakeagent_init(fa);
	fakeagent_start(fa, &two_cells, &roomy, false);
	src = (struct metrics_sources){.agent = fa->a, .control = fa->control, .ops = fa->ops};
	sc->port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", sc->port);
	assert_int_equal(metrics_new(&src, listen, &m, &err), 0);

	sc->path = "/metrics";
	scrape(fa, sc);
	assert_non_null(strstr(sc->reply, " 200 OK\r\n"));
	assert_non_null(
	        strstr(sc->reply, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
	assert_non_null(strstr(sc->reply, "\nmemplug_build_info{version=\""));
	assert_non_null(strstr(sc->reply, "\nmemplug_domain_active{domain=\"vm\"} 1\n"));

	memset(sc, 0, sizeof(*sc));
	sc->port = (uint16_t)atoi(strchr(listen, ':') + 1);
	sc->path = "/";
	scrape(fa, sc);
	assert_non_null(strstr(sc->reply, "404"));
	assert_null(strstr(sc->reply, "memplug_build_info"));
	metrics_free(m);

	/* the same port twice: the second cannot bind, and says why */
	assert_int_equal(metrics_new(&src, listen, &m, &err), 0);
	{
		struct metrics *m2 = NULL;

		assert_true(metrics_new(&src, listen, &m2, &err) < 0);
		assert_null(m2);
		assert_non_null(strstr(err, "cannot listen on"));
		free(err);
	}
	metrics_free(m);
	free(sc);
	fakeagent_destroy(fa);
	free(fa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_listen_parse),    cmocka_unit_test(test_off_by_default),
	        cmocka_unit_test(test_page_after_grow), cmocka_unit_test(test_page_vmem),
	        cmocka_unit_test(test_counters),        cmocka_unit_test(test_endpoint),
	};

	log_init("test-metrics", true, LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
