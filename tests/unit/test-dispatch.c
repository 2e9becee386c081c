/*
 * Unit tests for agent/dispatch.c with the whole agent behind the fake
 * backend: every control request a user can send gets its answer through
 * the socket, the reads it needs (domain XML, the host, <metadata>) run on
 * worker threads and never on the loop, and the backend's news (a
 * connection, lifecycle events) update the views from workers too. Last,
 * the thread rule itself: a blocking backend call on the loop thread
 * aborts (the unit tests' agent is built with the checks in every build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domains.h"
#include "fakeagent.h"
#include "threadcheck.h"

#if !THREADCHECK_ENABLED
#error "the agent's unit tests need the thread checks (tests/unit/meson.build)"
#endif

#define MIB UINT64_C(1024)

static const struct fake_spec two_cells = {
        .n_cells = 2,
        .cell_mib = {1024, 1024},
        .max_mib = 8192,
        .slots = 8,
        .huge_cell = -1,
        .host_node = -1,
};
static const struct fake_host roomy = {.free_mib = {8192, 8192}};

static int setup(void **state)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));

	assert_non_null(fa);
	fakeagent_init(fa);
	fakeagent_start(fa, &two_cells, &roomy, true);
	*state = fa;
	return 0;
}

static int teardown(void **state)
{
	struct fakeagent *fa = *state;

	fakeagent_destroy(fa);
	free(fa);
	return 0;
}

/* The JSON value at a dotted path ("host.nodes"), or NULL. */
static json_object *at(json_object *o, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = json_object_is_type(o, json_type_array)
		            ? json_object_array_get_idx(o, (size_t)atoi(k))
		            : json_object_object_get(o, k);
	return o;
}

struct request_case {
	const char *what;
	const char *cmd;
	const char *args;
	const char *code; /* NULL: ok */
	const char *path; /* with ok: this value in the reply's data ... */
	const char *want; /* ... reads so (as text); NULL: only present */
	const char *meta; /* the stored <metadata> then contains this; NULL: no check */
};

static const struct request_case requests[] = {
        {"status lists the domain", "status", NULL, NULL, "domains.0.name", "vm", NULL},
        {"status names the backend", "status", NULL, NULL, "uri", "fake:///unit", NULL},
        {"inspect reads the host on a worker", "inspect", "{\"domain\":\"vm\"}", NULL,
         "host.source", "libvirt", NULL},
        {"inspect: the fake host has two nodes", "inspect", "{\"domain\":\"vm\"}", NULL,
         "host.nodes.1.id", "1", NULL},
        {"inspect: free memory read per call", "inspect", "{\"domain\":\"vm\"}", NULL,
         "host.nodes.0.free_kib", "8388608", NULL},
        {"plan reads the domain on a worker", "plan", "{\"domain\":\"vm\"}", NULL, NULL, NULL,
         NULL},
        {"inspect: unknown domain", "inspect", "{\"domain\":\"nosuch\"}", "not_found", NULL, NULL,
         NULL},
        {"plan: per node by default", "plan", "{\"domain\":\"vm\"}", NULL, "device_model", "auto",
         NULL},
        {"plan: --model forces the model on every node", "plan",
         "{\"domain\":\"vm\",\"model\":\"virtio-mem\"}", NULL, "nodes.0.model", "virtio-mem", NULL},
        {"plan: and says so", "plan", "{\"domain\":\"vm\",\"model\":\"dimm\"}", NULL,
         "model_forced_by", "--model", NULL},
        {"plan: an unknown model is refused", "plan", "{\"domain\":\"vm\",\"model\":\"auto\"}",
         "bad_request", NULL, NULL, NULL},
        {"plan: unknown domain", "plan", "{\"domain\":\"nosuch\"}", "not_found", NULL, NULL, NULL},
        {"grow attaches one DIMM", "grow", "{\"domain\":\"vm\",\"size\":268435456,\"node\":0}",
         NULL, "attached.0.size_kib", "262144", NULL},
        {"policy show reads the metadata on a worker", "policy",
         "{\"domain\":\"vm\",\"action\":\"show\"}", NULL, "settings.low_free.source", "default",
         NULL},
        {"policy set stores the change", "policy",
         "{\"domain\":\"vm\",\"action\":\"set\",\"settings\":{\"low_free\":\"20%\"}}", NULL,
         "settings.low_free.source", "runtime", "low_free=\"20%\""},
        {"policy enable stores it", "policy", "{\"domain\":\"vm\",\"action\":\"enable\"}", NULL,
         "enabled", "true", "enabled=\"yes\""},
        {"policy set: a bad value is refused, nothing stored", "policy",
         "{\"domain\":\"vm\",\"action\":\"set\",\"settings\":{\"low_free\":\"abc\"}}",
         "bad_request", NULL, NULL, NULL},
        {"policy: unknown domain", "policy", "{\"domain\":\"nosuch\",\"action\":\"show\"}",
         "not_found", NULL, NULL, NULL},
        {"policy set: max within maxMemory is stored", "policy",
         "{\"domain\":\"vm\",\"action\":\"set\",\"settings\":{\"max\":\"8G\"}}", NULL,
         "settings.max.value", "8G", "max=\"8G\""},
        {"policy set: max above maxMemory is refused", "policy",
         "{\"domain\":\"vm\",\"action\":\"set\",\"settings\":{\"max\":\"16G\"}}", "bad_request",
         NULL, NULL, NULL},
        {"policy set: min below the boot memory is refused", "policy",
         "{\"domain\":\"vm\",\"action\":\"set\",\"settings\":{\"min\":\"1G\"}}", "bad_request",
         NULL, NULL, NULL},
        {"policy unset: a key with no run-time value", "policy",
         "{\"domain\":\"vm\",\"action\":\"unset\",\"keys\":[\"min\"]}", "bad_request", NULL, NULL,
         NULL},
        {"policy unset: an unknown key", "policy",
         "{\"domain\":\"vm\",\"action\":\"unset\",\"keys\":[\"speed\"]}", "bad_request", NULL, NULL,
         NULL},
        {"policy unset: no keys", "policy", "{\"domain\":\"vm\",\"action\":\"unset\",\"keys\":[]}",
         "bad_request", NULL, NULL, NULL},
};

static void request_run(const struct request_case *c)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	struct proto_reply *r;

	fakeagent_init(fa);
	fakeagent_start(fa, &two_cells, &roomy, true);
	r = fakeagent_call(fa, c->cmd, c->args);
	if (c->code) {
		if (r->ok || strcmp(r->code, c->code) != 0)
			fail_msg("%s: wanted %s, got %s (%s)", c->what, c->code,
			         r->ok ? "ok" : r->code, r->message ? r->message : "");
	} else if (!r->ok) {
		fail_msg("%s: %s: %s", c->what, r->code, r->message);
	} else if (c->path && at(r->data, c->path) == NULL) {
		fail_msg("%s: no %s in %s", c->what, c->path, json_object_to_json_string(r->data));
	} else if (c->want && strcmp(json_object_get_string(at(r->data, c->path)), c->want) != 0) {
		fail_msg("%s: %s is %s, wanted %s", c->what, c->path,
		         json_object_get_string(at(r->data, c->path)), c->want);
	}
	fakeagent_settle(fa);
	if (c->meta && (fa->fv.metadata == NULL || strstr(fa->fv.metadata, c->meta) == NULL))
		fail_msg("%s: metadata %s lacks %s", c->what,
		         fa->fv.metadata ? fa->fv.metadata : "(none)", c->meta);
	if (c->code && strcmp(c->cmd, "policy") == 0)
		assert_null(fa->fv.metadata);
	/* Everything that can block ran on a worker. */
	if (fa->fv.loop_calls != 0)
		fail_msg("%s: %u blocking calls on the loop thread", c->what, fa->fv.loop_calls);
	proto_reply_free(r);
	fakeagent_destroy(fa);
	free(fa);
}

static void test_requests(void **state)
{
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		request_run(&requests[i]);
}

/* The connection's news: the domain list and every XML were read on a
 * worker, and the connect is audited. */
static void test_connected(void **state)
{
	struct fakeagent *fa = *state;
	struct domain_view *d = domains_find(agent_domains(fa->a), "vm");

	assert_non_null(d->model);
	assert_true(d->active);
	assert_true(d->persistent);
	assert_int_equal(fa->fv.loop_calls, 0);
	assert_true(fakevirt_count(&fa->fv, FAKE_XML, 0) >= 1);
	assert_int_equal(fakeagent_records(fa, "connect", NULL, NULL), 1);
}

/* A lifecycle event changes the view at once and its XML on a worker;
 * undefine forgets it. */
static void test_events(void **state)
{
	struct fakeagent *fa = *state;
	struct backend_event stopped = {.kind = BACKEND_EVENT_LIFECYCLE,
	                                .name = "vm",
	                                .lifecycle = BACKEND_LIFECYCLE_STOPPED};
	struct backend_event gone = {.kind = BACKEND_EVENT_LIFECYCLE,
	                             .name = "vm",
	                             .lifecycle = BACKEND_LIFECYCLE_UNDEFINED};
	size_t reads = fakevirt_count(&fa->fv, FAKE_XML, 0);

	dispatch_event(fa->dispatch, &stopped);
	assert_false(domains_find(agent_domains(fa->a), "vm")->active);
	fakeagent_settle(fa);
	assert_int_equal(fakevirt_count(&fa->fv, FAKE_XML, 0), reads + 1);
	assert_non_null(domains_find(agent_domains(fa->a), "vm")->model);
	dispatch_event(fa->dispatch, &gone);
	assert_null(domains_find(agent_domains(fa->a), "vm"));
	fakeagent_settle(fa);
	assert_int_equal(fa->fv.loop_calls, 0);
}

/* A read that finishes after the domain went away changes nothing. */
static void test_read_outlives_domain(void **state)
{
	struct fakeagent *fa = *state;
	struct backend_event started = {.kind = BACKEND_EVENT_LIFECYCLE,
	                                .name = "vm",
	                                .lifecycle = BACKEND_LIFECYCLE_STARTED};
	struct backend_event gone = {.kind = BACKEND_EVENT_LIFECYCLE,
	                             .name = "vm",
	                             .lifecycle = BACKEND_LIFECYCLE_UNDEFINED};

	dispatch_event(fa->dispatch, &started); /* starts a read */
	dispatch_event(fa->dispatch, &gone);    /* before it ends */
	fakeagent_settle(fa);
	assert_null(domains_find(agent_domains(fa->a), "vm"));
}

/* A read that fails answers with its error, not with the older view. */
static void test_read_fails(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r;

	fa->fv.xml_fails = true;
	r = fakeagent_call(fa, "inspect", "{\"domain\":\"vm\"}");
	assert_false(r->ok);
	assert_string_equal(r->code, "failed");
	assert_non_null(strstr(r->message, "the fake's XML read failed"));
	proto_reply_free(r);
	/* the view keeps its last model and says what went wrong */
	fakeagent_settle(fa);
	assert_non_null(domains_find(agent_domains(fa->a), "vm")->model);
	assert_non_null(domains_find(agent_domains(fa->a), "vm")->model_error);
}

/* Drift, as inspect and status show it: both definitions are read on a
 * worker each time, so a change behind the agent's back shows at once. */
static const struct fake_spec two_dimms = {
        .n_cells = 2,
        .cell_mib = {1024, 1024},
        .max_mib = 8192,
        .slots = 8,
        .huge_cell = -1,
        .host_node = -1,
        .n_devs = 2,
        .devs = {{0, 262144, "ua-mp-a-0", 0}, {1, 262144, "ua-mp-a-1", 1}},
};

/* The value at `path` of a reply to cmd as text: "null" for a JSON null,
 * "(absent)" for a missing key. */
static char *reply_at(struct fakeagent *fa, const char *cmd, const char *args, const char *path)
{
	struct proto_reply *r = fakeagent_call(fa, cmd, args);
	const char *dot = strrchr(path, '.');
	json_object *v, *parent;
	char prefix[128];
	char *out;

	if (!r->ok)
		fail_msg("%s: %s: %s", cmd, r->code, r->message);
	snprintf(prefix, sizeof(prefix), "%.*s", dot ? (int)(dot - path) : 0, path);
	parent = dot ? at(r->data, prefix) : r->data;
	v = at(r->data, path);
	if (v)
		out = strdup(json_object_get_string(v));
	else if (json_object_is_type(parent, json_type_object) &&
	         json_object_object_get_ex(parent, dot ? dot + 1 : path, NULL))
		out = strdup("null");
	else
		out = strdup("(absent)");
	proto_reply_free(r);
	return out;
}

static void expect_at(struct fakeagent *fa, const char *cmd, const char *path, const char *want)
{
	char *got =
	        reply_at(fa, cmd, strcmp(cmd, "inspect") == 0 ? "{\"domain\":\"vm\"}" : NULL, path);

	if (strcmp(got, want) != 0)
		fail_msg("%s %s: got %s, wanted %s", cmd, path, got, want);
	free(got);
}

static void fake_drop_live(struct fakevirt *fv, size_t i)
{
	pthread_mutex_lock(&fv->lock);
	memmove(&fv->live[i], &fv->live[i + 1], (fv->n_live - i - 1) * sizeof(fv->live[0]));
	fv->n_live--;
	pthread_mutex_unlock(&fv->lock);
}

static void test_drift(void **state)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	struct backend_event stopped = {.kind = BACKEND_EVENT_LIFECYCLE,
	                                .name = "vm",
	                                .lifecycle = BACKEND_LIFECYCLE_STOPPED};
	size_t reads;

	(void)state;
	fakeagent_init(fa);
	fakeagent_start(fa, &two_dimms, &roomy, true);
	expect_at(fa, "inspect", "drift.in_sync", "true");
	expect_at(fa, "status", "domains.0.drift.in_sync", "true");
	/* virsh detach-device-alias vm ua-mp-a-1 --live, unseen by the agent */
	fake_drop_live(&fa->fv, 1);
	expect_at(fa, "inspect", "drift.in_sync", "false");
	expect_at(fa, "inspect", "drift.only_config.0.alias", "ua-mp-a-1");
	expect_at(fa, "inspect", "drift.only_config.0.node", "1");
	expect_at(fa, "inspect", "drift.only_live.0", "(absent)");
	reads = fakevirt_count(&fa->fv, FAKE_XML, 0);
	expect_at(fa, "status", "domains.0.drift.only_config.0.size_kib", "262144");
	/* status read both definitions itself */
	assert_int_equal(fakevirt_count(&fa->fv, FAKE_XML, 0), reads + 2);
	/* virsh attach-device vm dimm.xml --live: libvirt names it */
	pthread_mutex_lock(&fa->fv.lock);
	fa->fv.live[fa->fv.n_live++] = (struct fake_dev){0, 131072, "dimm2", 2};
	pthread_mutex_unlock(&fa->fv.lock);
	expect_at(fa, "status", "domains.0.drift.only_live.0.alias", "dimm2");
	expect_at(fa, "inspect", "drift.only_live.0.slot", "2");
	/* shut off: one definition, nothing to compare */
	fa->fv.active = false;
	dispatch_event(fa->dispatch, &stopped);
	fakeagent_settle(fa);
	expect_at(fa, "inspect", "drift", "null");
	expect_at(fa, "status", "domains.0.drift", "null");
	assert_int_equal(fa->fv.loop_calls, 0);
	fakeagent_destroy(fa);
	free(fa);
}

/* An agent's own grow changes both definitions: no drift after it. */
static void test_drift_after_grow(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r =
	        fakeagent_call(fa, "grow", "{\"domain\":\"vm\",\"size\":268435456,\"node\":1}");

	assert_true(r->ok);
	proto_reply_free(r);
	fakeagent_settle(fa);
	expect_at(fa, "inspect", "drift.in_sync", "true");
	expect_at(fa, "status", "domains.0.drift.in_sync", "true");
}

/* A strategy the domain cannot take is the caller's error (bad_request:
 * memplugctl exits 2 on it), named in the reply, and changes nothing: the
 * weights are checked against the domain's cells. grow takes no strategy:
 * a request that carries one is malformed, refused the same way (and costs
 * the client its connection, as any malformed request does). */
static const struct {
	const char *what;
	const char *cmd;
	const char *args;
	const char *message;
} bad_strategies[] = {
        {"plan: weights for 3 cells on 2", "plan",
         "{\"domain\":\"vm\",\"strategy\":\"weights:1,2,3\"}",
         "strategy \"weights:1,2,3\": 3 weights for 2 guest cells: give one per cell"},
        {"plan: one weight on 2 cells", "plan", "{\"domain\":\"vm\",\"strategy\":\"weights:1\"}",
         "1 weight for 2 guest cells"},
        {"plan: a weight that is not a number", "plan",
         "{\"domain\":\"vm\",\"strategy\":\"weights:1,x\"}", "weight \"x\" is not a whole number"},
        {"plan: an unknown strategy", "plan", "{\"domain\":\"vm\",\"strategy\":\"bogus\"}",
         "not one of proportional, even or weights"},
};

static void test_bad_strategy(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r;

	for (size_t i = 0; i < sizeof(bad_strategies) / sizeof(bad_strategies[0]); i++) {
		r = fakeagent_call(fa, bad_strategies[i].cmd, bad_strategies[i].args);

		if (r->ok || strcmp(r->code, "bad_request") != 0 ||
		    strstr(r->message, bad_strategies[i].message) == NULL)
			fail_msg("%s: wanted bad_request \"%s\", got %s (%s)",
			         bad_strategies[i].what, bad_strategies[i].message,
			         r->ok ? "ok" : r->code, r->message ? r->message : "");
		proto_reply_free(r);
	}
	/* The same weights on the domain's 2 cells plan. */
	r = fakeagent_call(fa, "plan", "{\"domain\":\"vm\",\"strategy\":\"weights:1,2\"}");
	assert_true(r->ok);
	proto_reply_free(r);
	r = fakeagent_call(fa, "grow",
	                   "{\"domain\":\"vm\",\"size\":268435456,\"strategy\":\"weights:1,2\"}");
	assert_false(r->ok);
	assert_string_equal(r->code, "bad_request");
	assert_non_null(strstr(r->message, "unknown argument 'strategy' for command 'grow'"));
	proto_reply_free(r);
	fakeagent_settle(fa);
	assert_int_equal(fa->ops_ended, 0);
	assert_int_equal(fa->fv.n_live, 0);
	assert_int_equal(fa->fv.n_config, 0);
}

/* policy unset takes a run-time value out of the <metadata>, the other
 * values stay; the refusal of a bound names both numbers. */
static void test_policy_unset(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r;

	r = fakeagent_call(fa, "policy",
	                   "{\"domain\":\"vm\",\"action\":\"set\",\"settings\":"
	                   "{\"min\":\"4G\",\"low_free\":\"20%\"}}");
	assert_true(r->ok);
	proto_reply_free(r);
	assert_non_null(strstr(fa->fv.metadata, "min=\"4G\""));
	r = fakeagent_call(fa, "policy",
	                   "{\"domain\":\"vm\",\"action\":\"set\",\"settings\":{\"max\":\"9G\"}}");
	assert_false(r->ok);
	assert_string_equal(r->code, "bad_request");
	assert_non_null(strstr(r->message, "max 9G is above the maxMemory of vm (8G)"));
	assert_non_null(strstr(r->message, "set max between 2G and 8G"));
	proto_reply_free(r);
	r = fakeagent_call(fa, "policy",
	                   "{\"domain\":\"vm\",\"action\":\"unset\",\"keys\":[\"min\"]}");
	if (!r->ok)
		fail_msg("unset: %s", r->message);
	assert_string_equal(json_object_get_string(at(r->data, "settings.min.source")), "default");
	assert_string_equal(json_object_get_string(at(r->data, "settings.min.value")), "boot");
	assert_string_equal(json_object_get_string(at(r->data, "settings.low_free.source")),
	                    "runtime");
	proto_reply_free(r);
	assert_null(strstr(fa->fv.metadata, "min="));
	assert_non_null(strstr(fa->fv.metadata, "low_free=\"20%\""));
	assert_int_equal(fakeagent_records(fa, "request", "action", "unset"), 1);
	/* twice: nothing left to unset */
	r = fakeagent_call(fa, "policy",
	                   "{\"domain\":\"vm\",\"action\":\"unset\",\"keys\":[\"min\"]}");
	assert_false(r->ok);
	assert_non_null(strstr(r->message, "vm has no run-time value of min to unset"));
	proto_reply_free(r);
	fakeagent_settle(fa);
	assert_int_equal(fa->fv.loop_calls, 0);
}

static void event(struct fakeagent *fa, int lifecycle)
{
	struct backend_event e = {
	        .kind = BACKEND_EVENT_LIFECYCLE, .name = "vm", .lifecycle = lifecycle};

	dispatch_event(fa->dispatch, &e);
}

/* The view comes back through events, and its first read cannot tell
 * whether the domain is persistent. */
static struct domain_view *view_unread(struct fakeagent *fa, int lifecycle)
{
	struct domain_view *d;

	event(fa, BACKEND_LIFECYCLE_UNDEFINED);
	fa->fv.persistent_fails = 1;
	event(fa, lifecycle);
	fakeagent_settle(fa);
	d = domains_find(agent_domains(fa->a), "vm");
	assert_non_null(d);
	assert_false(d->read_done);
	return d;
}

/* A grow with no scope on a view never read reads it first: the running,
 * persistent domain grows live and in its definition. */
static void test_grow_reads_scope_first(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r;

	view_unread(fa, BACKEND_LIFECYCLE_STARTED);
	r = fakeagent_call(fa, "grow", "{\"domain\":\"vm\",\"size\":268435456,\"node\":0}");
	if (!r->ok)
		fail_msg("grow: %s: %s", r->code, r->message);
	proto_reply_free(r);
	fakeagent_settle(fa);
	assert_int_equal(fa->fv.n_live, 1);
	assert_int_equal(fa->fv.n_config, 1);
	assert_true(domains_find(agent_domains(fa->a), "vm")->read_done);
	assert_int_equal(fa->fv.loop_calls, 0);
}

/* A view only DEFINED added is not refused as "not running": its
 * definition is grown. */
static void test_grow_defined_view(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r;

	view_unread(fa, BACKEND_LIFECYCLE_DEFINED);
	r = fakeagent_call(fa, "grow", "{\"domain\":\"vm\",\"size\":268435456,\"node\":0}");
	if (!r->ok)
		fail_msg("grow: %s: %s", r->code, r->message);
	proto_reply_free(r);
	fakeagent_settle(fa);
	assert_int_equal(fa->fv.n_config, 1);
}

/* When the persistence cannot be read at all, the grow says so rather
 * than guessing a scope. */
static void test_grow_scope_unknown(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r;

	view_unread(fa, BACKEND_LIFECYCLE_STARTED);
	fa->fv.persistent_fails = 1;
	r = fakeagent_call(fa, "grow", "{\"domain\":\"vm\",\"size\":268435456,\"node\":0}");
	assert_false(r->ok);
	assert_non_null(strstr(r->message, "--live or --config"));
	proto_reply_free(r);
	fakeagent_settle(fa);
	assert_int_equal(fa->fv.n_live, 0);
	assert_int_equal(fa->fv.n_config, 0);
}

/* A policy change on a view never read is stored in the definition too. */
static void test_policy_reads_scope(void **state)
{
	struct fakeagent *fa = *state;
	struct proto_reply *r;

	view_unread(fa, BACKEND_LIFECYCLE_STARTED);
	r = fakeagent_call(fa, "policy", "{\"domain\":\"vm\",\"action\":\"enable\"}");
	if (!r->ok)
		fail_msg("policy: %s: %s", r->code, r->message);
	proto_reply_free(r);
	fakeagent_settle(fa);
	assert_int_equal(fa->fv.metadata_flags, BACKEND_LIVE | BACKEND_CONFIG);
	assert_int_equal(fa->fv.loop_calls, 0);
}

/* One failed persistence query keeps what the view knew. */
static void test_persistent_transient_error(void **state)
{
	struct fakeagent *fa = *state;
	struct domain_view *d = domains_find(agent_domains(fa->a), "vm");

	assert_true(d->persistent);
	fa->fv.persistent_fails = 1;
	event(fa, BACKEND_LIFECYCLE_STARTED); /* a re-read */
	fakeagent_settle(fa);
	assert_int_equal(fa->fv.persistent_fails, 0);
	assert_true(d->persistent);
	assert_true(d->read_done);
}

/* After a reconnect, a view whose domain was undefined meanwhile goes;
 * one an event added while the list was read stays. */
static void test_sync_drops_stale(void **state)
{
	struct fakeagent *fa = *state;
	struct domains *ds = agent_domains(fa->a);
	struct backend_event defined = {.kind = BACKEND_EVENT_LIFECYCLE,
	                                .name = "fresh",
	                                .lifecycle = BACKEND_LIFECYCLE_DEFINED};

	assert_non_null(domains_add(ds, "ghost", NULL));
	dispatch_connected(fa->dispatch, true);
	dispatch_event(fa->dispatch, &defined);
	fakeagent_settle(fa);
	assert_null(domains_find(ds, "ghost"));
	assert_non_null(domains_find(ds, "fresh"));
	assert_non_null(domains_find(ds, "vm"));
	assert_int_equal(fa->fv.loop_calls, 0);
}

/* The rule is enforced: a blocking backend call on the loop thread aborts
 * (in a child, so the abort is observed, not suffered). */
static void test_thread_rule(void **state)
{
	struct fakeagent *fa = *state;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char *xml = NULL;

		/* stderr says which rule broke; keep the test output clean */
		freopen("/dev/null", "w", stderr);
		backend_domain_xml(agent_backend(fa->a), "vm", 0, &xml, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_requests),
	        cmocka_unit_test_setup_teardown(test_connected, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_outlives_domain, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_fails, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_grow_reads_scope_first, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_grow_defined_view, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_grow_scope_unknown, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_policy_reads_scope, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_persistent_transient_error, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_sync_drops_stale, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_thread_rule, setup, teardown),
	        cmocka_unit_test(test_drift),
	        cmocka_unit_test_setup_teardown(test_policy_unset, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_strategy, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_drift_after_grow, setup, teardown),
	};

	log_init("test-dispatch", true, LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
