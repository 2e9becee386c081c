/*
 * Tests the libvirt connection module against libvirt's test driver
 * (test:///default, one domain "test", running), with the real event loop:
 * connect, list, XML, metadata, stats, lifecycle events delivered through
 * the loop, reconnect with re-subscription, failure paths, and the backoff
 * schedule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>
#include <libvirt/libvirt.h>

#include "evloop.h"
#include "log.h"
#include "virt.h"

#define TEST_URI      "test:///default"
#define GUARD_SECONDS 20
#define MAX_SEEN      8

struct seen {
	int connects;
	int reconnects;
	int disconnects;
	char why[64];
	bool saw_test_domain; /* listed in the last connected() */
	int n_events;
	struct backend_event events[MAX_SEEN];
	char names[MAX_SEEN][32];
	int stop_after_events; /* evloop_stop() once this many arrived */
	bool stop_on_connect;
};

struct fixture {
	struct evloop *loop;
	struct virt *virt;
	struct seen seen;
};

static void on_connected(void *opaque, bool reconnect)
{
	struct fixture *f = opaque;
	struct backend_domain_list list = {0};

	f->seen.connects++;
	f->seen.reconnects += reconnect;
	f->seen.saw_test_domain = false;
	/* The connection is usable in the callback (the agent lists on a worker). */
	assert_int_equal(virt_list_domains(f->virt, &list, NULL), 0);
	for (size_t i = 0; i < list.n; i++)
		if (strcmp(list.doms[i].name, "test") == 0 && list.doms[i].active)
			f->seen.saw_test_domain = true;
	backend_domain_list_free(&list);
	if (f->seen.stop_on_connect)
		evloop_stop(f->loop);
}

static void on_disconnected(void *opaque, const char *why)
{
	struct fixture *f = opaque;

	f->seen.disconnects++;
	snprintf(f->seen.why, sizeof(f->seen.why), "%s", why);
}

static void on_event(void *opaque, const struct backend_event *ev)
{
	struct fixture *f = opaque;
	int i = f->seen.n_events;

	if (i < MAX_SEEN) {
		f->seen.events[i] = *ev;
		snprintf(f->seen.names[i], sizeof(f->seen.names[i]), "%s", ev->name);
		f->seen.events[i].name = f->seen.names[i];
		f->seen.events[i].alias = NULL;
		f->seen.n_events++;
	}
	if (f->seen.n_events == f->seen.stop_after_events)
		evloop_stop(f->loop);
}

static const struct virt_callbacks callbacks = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .domain_event = on_event,
};

static int setup_uri(void **state, const char *uri)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->loop = evloop_new();
	assert_non_null(f->loop);
	assert_int_equal(evloop_register_libvirt(f->loop), 0);
	f->virt = virt_new(evloop_base(f->loop), uri, &callbacks, f);
	assert_non_null(f->virt);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_uri(state, TEST_URI);
}

static int setup_bad_uri(void **state)
{
	return setup_uri(state, "test:///nonexistent/memplug-no-such-file.xml");
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virt_free(f->virt);
	evloop_free(f->loop);
	free(f);
	return 0;
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;

	fail_msg("the loop ran %d s without the expected callback", GUARD_SECONDS);
	evloop_stop(f->loop);
}

static void run_until_stopped(struct fixture *f)
{
	struct timeval tv = {.tv_sec = GUARD_SECONDS};
	struct event *guard = evtimer_new(evloop_base(f->loop), guard_cb, f);

	evtimer_add(guard, &tv);
	assert_int_equal(evloop_run(f->loop), 0);
	event_free(guard);
}

/* Suspends and resumes "test" on a connection of the test's own: the
 * default test driver state is shared by every connection in the process. */
static void suspend_resume_test_domain(void)
{
	virConnectPtr conn = virConnectOpen(TEST_URI);
	virDomainPtr dom;

	assert_non_null(conn);
	dom = virDomainLookupByName(conn, "test");
	assert_non_null(dom);
	assert_int_equal(virDomainSuspend(dom), 0);
	assert_int_equal(virDomainResume(dom), 0);
	virDomainFree(dom);
	virConnectClose(conn);
}

static void test_backoff_schedule(void **state)
{
	static const struct {
		unsigned attempt;
		unsigned expected_ms;
	} cases[] = {
	        {0, 500},   {1, 1000},  {2, 2000},   {3, 4000},     {5, 16000},
	        {6, 30000}, {7, 30000}, {31, 30000}, {1000, 30000}, {UINT32_MAX, 30000},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (virt_backoff_ms(cases[i].attempt) != cases[i].expected_ms)
			fail_msg("attempt %u: %u ms, expected %u", cases[i].attempt,
			         virt_backoff_ms(cases[i].attempt), cases[i].expected_ms);
}

static void test_uri_local(void **state)
{
	static const struct {
		const char *uri;
		bool local;
	} cases[] = {
	        {"qemu:///system", true},
	        {"qemu:///session", true},
	        {"qemu+unix:///system", true},
	        {"qemu+ssh://host/system", false},
	        {"qemu://host.example/system", false},
	        {"test:///default", false},
	        {"test+unix:///default", false},
	        {"garbage", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (virt_uri_local(cases[i].uri) != cases[i].local)
			fail_msg("%s: local %d, expected %d", cases[i].uri, !cases[i].local,
			         cases[i].local);
}

static void test_connect(void **state)
{
	struct fixture *f = *state;

	assert_false(virt_connected(f->virt));
	assert_string_equal(virt_uri(f->virt), TEST_URI);
	assert_int_equal(virt_start(f->virt), 0);
	assert_true(virt_connected(f->virt));
	assert_int_equal(f->seen.connects, 1);
	assert_int_equal(f->seen.reconnects, 0);
	assert_true(f->seen.saw_test_domain);
	assert_int_equal(virt_reconnects(f->virt), 0);
}

/* The test driver's host: two cells with CPUs, whatever this machine has;
 * the topology survives a reconnect (read again for the new connection). */
static void test_host_from_libvirt(void **state)
{
	struct fixture *f = *state;
	struct host *h = NULL, *again = NULL;
	char *err = NULL;

	assert_int_equal(virt_host_topology(f->virt, &h, &err), -ENOTCONN);
	free(err);
	err = NULL;
	assert_int_equal(virt_start(f->virt), 0);
	assert_int_equal(virt_host_topology(f->virt, &h, &err), 0);
	assert_int_equal(h->source, HOST_SOURCE_LIBVIRT);
	assert_int_equal(h->n_nodes, 2);
	for (size_t i = 0; i < h->n_nodes; i++) {
		assert_int_equal(h->nodes[i].id, i);
		assert_true(host_node_has_cpus(&h->nodes[i]));
		assert_true(h->nodes[i].total_kib > 0);
		assert_false(h->nodes[i].free_known); /* capabilities have none */
	}
	assert_int_equal(virt_host_free(f->virt, h, &err), 0);
	for (size_t i = 0; i < h->n_nodes; i++)
		assert_true(h->nodes[i].free_known);
	virt_reconnect(f->virt);
	assert_int_equal(virt_host_topology(f->virt, &again, &err), 0);
	assert_int_equal(again->n_nodes, 2);
	assert_null(err);
	host_free(h);
	host_free(again);
}

/* Reads the topology and the free values `n` times, as n operations do. */
static void host_read_n(struct virt *v, int n)
{
	for (int i = 0; i < n; i++) {
		struct host *h = NULL;
		char *err = NULL;

		assert_int_equal(virt_host_topology(v, &h, &err), 0);
		assert_false(h->nodes[0].free_known);
		assert_int_equal(virt_host_free(v, h, &err), 0);
		assert_true(h->nodes[0].free_known);
		assert_null(err);
		host_free(h);
	}
}

/* libvirt rebuilds the capabilities on every call: one per connection,
 * one more after a reconnect (only when asked), while free memory and free
 * pages are read again for every node on every operation. */
static void test_host_caps_once_per_connection(void **state)
{
	struct fixture *f = *state;
	struct virt_host_reads r;
	unsigned mem, pages;

	assert_int_equal(virt_start(f->virt), 0);
	virt_host_reads(f->virt, &r);
	assert_int_equal(r.caps, 0); /* read on first use, not at connect */
	host_read_n(f->virt, 3);
	virt_host_reads(f->virt, &r);
	assert_int_equal(r.caps, 1);
	assert_int_equal(r.free_memory, 3 * 2); /* 3 reads x 2 nodes */
	assert_true(r.free_pages > 0);
	mem = r.free_memory;
	pages = r.free_pages;

	virt_reconnect(f->virt);
	virt_host_reads(f->virt, &r);
	assert_int_equal(r.caps, 1);
	host_read_n(f->virt, 2);
	virt_host_reads(f->virt, &r);
	assert_int_equal(r.caps, 2);
	assert_int_equal(r.free_memory, mem + 2 * 2);
	assert_int_equal(r.free_pages, pages + 2 * (pages / 3));
}

static void test_list_domains(void **state)
{
	struct fixture *f = *state;
	struct backend_domain_list list;
	const struct backend_domain_info *d = NULL;
	char *err = NULL;

	assert_int_equal(virt_start(f->virt), 0);
	assert_int_equal(virt_list_domains(f->virt, &list, &err), 0);
	assert_null(err);
	for (size_t i = 0; i < list.n; i++)
		if (strcmp(list.doms[i].name, "test") == 0)
			d = &list.doms[i];
	assert_non_null(d);
	assert_true(d->active);
	assert_true(d->id >= 0);
	assert_int_equal(strlen(d->uuid), BACKEND_UUID_LEN);
	backend_domain_list_free(&list);
	backend_domain_list_free(NULL);
}

static void test_domain_xml(void **state)
{
	static const struct {
		const char *what;
		const char *name;
		unsigned flags;
		int expected_rc;
	} cases[] = {
	        {"live XML", "test", 0, 0},
	        {"inactive XML", "test", BACKEND_INACTIVE, 0},
	        {"unknown domain", "memplug-no-such-domain", 0, -ENOENT},
	};
	struct fixture *f = *state;

	assert_int_equal(virt_start(f->virt), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *xml = NULL, *err = NULL;
		int rc = virt_domain_xml(f->virt, cases[i].name, cases[i].flags, &xml, &err);

		if (rc != cases[i].expected_rc)
			fail_msg("%s: rc %d (%s)", cases[i].what, rc, err ? err : "");
		if (rc == 0 && (!xml || !strstr(xml, "<name>test</name>") || err))
			fail_msg("%s: no domain name in the XML", cases[i].what);
		if (rc < 0 && (xml || !err))
			fail_msg("%s: failure without a message", cases[i].what);
		free(xml);
		free(err);
	}
}

static void test_persistent(void **state)
{
	static const struct {
		const char *what;
		const char *name;
		int expected_rc;
		bool expected;
	} cases[] = {
	        {"the test domain is defined", "test", 0, true},
	        {"unknown domain", "memplug-no-such-domain", -ENOENT, false},
	};
	struct fixture *f = *state;

	assert_int_equal(virt_start(f->virt), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool persistent = !cases[i].expected;
		int rc = virt_domain_persistent(f->virt, cases[i].name, &persistent);

		if (rc != cases[i].expected_rc || persistent != cases[i].expected)
			fail_msg("%s: rc %d persistent %d", cases[i].what, rc, persistent);
	}
}

static void test_metadata(void **state)
{
	static const char ns[] = "https://example.org/memplug/1";
	struct fixture *f = *state;
	char *xml = NULL, *err = NULL;

	assert_int_equal(virt_start(f->virt), 0);
	assert_int_equal(virt_get_metadata(f->virt, "test", ns, BACKEND_LIVE, &xml, &err), -ENOENT);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(virt_set_metadata(f->virt, "test", "<plug dimms='2'/>", "memplug", ns,
	                                   BACKEND_LIVE, &err),
	                 0);
	assert_int_equal(virt_get_metadata(f->virt, "test", ns, BACKEND_LIVE, &xml, &err), 0);
	assert_non_null(strstr(xml, "dimms=\"2\""));
	free(xml);
	assert_int_equal(virt_set_metadata(f->virt, "test", NULL, NULL, ns, BACKEND_LIVE, &err), 0);
	assert_int_equal(virt_get_metadata(f->virt, "test", ns, BACKEND_LIVE, &xml, NULL), -ENOENT);
	assert_null(err);
}

static void test_hotplug_unsupported(void **state)
{
	static const char dimm[] = "<memory model='dimm'><target><size unit='MiB'>128</size>"
	                           "<node>0</node></target></memory>";
	struct fixture *f = *state;
	char *err = NULL;

	assert_int_equal(virt_start(f->virt), 0);
	/* the test driver has no hotplug: the error must come back intact */
	assert_int_equal(virt_attach(f->virt, "test", dimm, BACKEND_LIVE, &err), -ENOTSUP);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(virt_detach_alias(f->virt, "test", "dimm0", BACKEND_LIVE, &err), -ENOTSUP);
	assert_non_null(err);
	free(err);
}

static void test_balloon_stats(void **state)
{
	struct fixture *f = *state;
	struct backend_balloon_list list;
	const struct backend_balloon *b = NULL;
	char *err = NULL;

	assert_int_equal(virt_start(f->virt), 0);
	assert_int_equal(virt_balloon_stats(f->virt, &list, &err), 0);
	for (size_t i = 0; i < list.n; i++)
		if (strcmp(list.doms[i].name, "test") == 0)
			b = &list.doms[i];
	assert_non_null(b);
	/* the test driver reports no balloon: every field reads as absent */
	assert_true(b->current == UINT64_MAX && b->maximum == UINT64_MAX);
	assert_true(b->usable == UINT64_MAX && b->rss == UINT64_MAX);
	backend_balloon_list_free(&list);
	backend_balloon_list_free(NULL);
}

static void expect_suspend_resume(struct fixture *f)
{
	f->seen.n_events = 0;
	f->seen.stop_after_events = 2;
	suspend_resume_test_domain();
	assert_int_equal(f->seen.n_events, 0); /* only the loop delivers */
	run_until_stopped(f);
	assert_int_equal(f->seen.n_events, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(f->seen.events[i].kind, BACKEND_EVENT_LIFECYCLE);
		assert_string_equal(f->seen.events[i].name, "test");
		assert_int_equal(strlen(f->seen.events[i].uuid), BACKEND_UUID_LEN);
	}
	assert_int_equal(f->seen.events[0].lifecycle, VIR_DOMAIN_EVENT_SUSPENDED);
	assert_int_equal(f->seen.events[1].lifecycle, VIR_DOMAIN_EVENT_RESUMED);
}

static void test_lifecycle_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(virt_start(f->virt), 0);
	expect_suspend_resume(f);
}

static void test_reconnect_resubscribes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(virt_start(f->virt), 0);
	virt_reconnect(f->virt);
	assert_int_equal(f->seen.disconnects, 1);
	assert_string_equal(f->seen.why, "reconnect requested");
	assert_int_equal(f->seen.connects, 2);
	assert_int_equal(f->seen.reconnects, 1);
	assert_true(f->seen.saw_test_domain); /* domains re-read */
	assert_true(virt_connected(f->virt));
	assert_int_equal(virt_reconnects(f->virt), 1);
	expect_suspend_resume(f); /* events flow on the new connection */
	assert_int_equal(virt_set_uri(f->virt, TEST_URI), 0); /* same URI: no-op */
	assert_int_equal(virt_reconnects(f->virt), 1);
}

static void test_unreachable_then_fixed(void **state)
{
	struct fixture *f = *state;
	struct backend_domain_list list;
	char *xml = NULL, *err = NULL;

	assert_true(virt_start(f->virt) < 0);
	assert_false(virt_connected(f->virt));
	assert_int_equal(f->seen.connects, 0);
	assert_int_equal(virt_list_domains(f->virt, &list, &err), -ENOTCONN);
	assert_non_null(err);
	free(err);
	assert_int_equal(virt_domain_xml(f->virt, "test", 0, &xml, NULL), -ENOTCONN);
	/* a retry is pending; a new URI connects at once and cancels it */
	assert_int_equal(virt_set_uri(f->virt, TEST_URI), 0);
	assert_true(virt_connected(f->virt));
	assert_int_equal(f->seen.connects, 1);
	assert_int_equal(f->seen.disconnects, 0); /* was never connected */
	assert_int_equal(virt_reconnects(f->virt), 0);
}

/* The retry timer, not a call from the test, makes the connection: the
 * URI names a test driver file that only appears after the first failure. */
static void test_retry_timer_connects(void **state)
{
	static const char node[] = "<node><domain type='test'><name>late</name>"
	                           "<memory>1048576</memory><os><type>hvm</type></os>"
	                           "</domain></node>";
	char dir[] = "/tmp/test-virt-XXXXXX", path[64], uri[96];
	struct fixture *f;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/node.xml", dir);
	snprintf(uri, sizeof(uri), "test://%s", path);
	setup_uri(state, uri);
	f = *state;
	assert_true(virt_start(f->virt) < 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(node, fp);
	fclose(fp);
	f->seen.stop_on_connect = true;
	run_until_stopped(f);
	assert_true(virt_connected(f->virt));
	assert_int_equal(f->seen.connects, 1);
	assert_false(f->seen.saw_test_domain);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_backoff_schedule),
	        cmocka_unit_test(test_uri_local),
	        cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list_domains, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_host_from_libvirt, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_host_caps_once_per_connection, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_domain_xml, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_persistent, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_metadata, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hotplug_unsupported, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_balloon_stats, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lifecycle_events, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reconnect_resubscribes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unreachable_then_fixed, setup_bad_uri,
	                                        teardown),
	        cmocka_unit_test_teardown(test_retry_timer_connects, teardown),
	};

	log_init("test-virt", true, LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
