/*
 * Unit tests for the virtio-mem steps (agent/ops_vmem.c and their hooks in
 * ops.c) against the fake libvirt of fakevirt.h, on a real event loop:
 * grow and shrink by <requested> (live and persistent), every virtio-mem
 * pre-flight refusal changing nothing, a partial unplug answered with the
 * live <current> and audited as partial, its late changes audited until the
 * request is reached, size-change events out of order, a timeout with no
 * event, a failing update call, a grow spread over a DIMM node and a
 * virtio-mem node, the config's device_model, and the reconcile of a
 * virtio-mem intent after a crash. Outcomes are checked in the audit log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "audit.h"
#include "dispatch.h"
#include "domains.h"
#include "fakevirt.h"
#include "log.h"
#include "ops.h"
#include "ops_vmem.h"
#include "record.h"

#include "opsfix.h"

static void check_trace(struct fixture *fx, const char *request, const char *want)
{
	char *got = audit_trace(fx, request);

	assert_string_equal(got, want);
	free(got);
}

static void check_messages(const struct ended *e, const char *const *want)
{
	for (size_t i = 0; i < MAX_MESSAGES && want[i]; i++) {
		if (e->message == NULL || strstr(e->message, want[i]) == NULL)
			fail_msg("message \"%s\" lacks \"%s\"", e->message ? e->message : "(null)",
			         want[i]);
	}
}

static const struct fake_host roomy = {.free_mib = {8192, 8192}};

/* Two 1 GiB cells on host node 0, 8 GiB max, 8 slots; a 1 GiB virtio-mem
 * device on node 1 with `requested` MiB plugged. */
static struct fake_spec spec_vmem(uint64_t requested)
{
	return (struct fake_spec){.n_cells = 2,
	                          .cell_mib = {1024, 1024},
	                          .max_mib = 8192,
	                          .slots = 8,
	                          .huge_cell = -1,
	                          .host_node = 0,
	                          .n_vmem = 1,
	                          .vmem = {{.node = 1,
	                                    .size_kib = 1024 * MIB,
	                                    .requested_kib = requested * MIB,
	                                    .current_kib = requested * MIB}}};
}

static struct op_args grow(uint64_t mib, int node)
{
	return (struct op_args){.kind = OP_GROW, .size_kib = mib * MIB, .node = node, .wait = true};
}

static struct op_args shrink(uint64_t mib, int node)
{
	return (struct op_args){
	        .kind = OP_SHRINK, .size_kib = mib * MIB, .node = node, .wait = true};
}

static struct op_args forced(struct op_args a, enum devmodel_choice m)
{
	a.model = m;
	return a;
}

#define HEAD       "request:ok preflight:ok intent:pending"
#define REFUSED    "request:ok preflight:refused outcome:refused"
#define STEP_OK    HEAD " resize:ok outcome:ok"
#define STEP_SHORT HEAD " resize:partial outcome:partial"

/* The intent of a virtio-mem step carries its scope, as a DIMM's does. */
static void check_intent_scope(struct fixture *fx, const char *request, bool live, bool config)
{
	char **files = NULL;
	size_t n = 0;
	struct record_reader *rd;
	json_object *rec;
	bool seen = false;

	assert_int_equal(record_log_files(fx->path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		const char *req = record_str(rec, "request");
		bool l = !live, c = !config;

		if (req && strcmp(req, request) == 0 &&
		    strcmp(record_str(rec, "event"), "intent") == 0) {
			assert_true(record_scope(rec, &l, &c));
			assert_int_equal(l, live);
			assert_int_equal(c, config);
			seen = true;
		}
		json_object_put(rec);
	}
	record_reader_free(rd);
	record_files_free(files, n);
	assert_true(seen);
}

/* ---- grow and shrink by <requested> ---- */

static void test_grow_shrink(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(0);
	struct domain_view *d = fx_domain(fx, &spec, &roomy);
	struct op_args g = grow(130, 1), s = shrink(130, 1);

	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "ok");
	check_trace(fx, fx->ended[0].request, STEP_OK);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false), 130 * MIB);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), 130 * MIB);
	check_intent_scope(fx, fx->ended[0].request, true, true);
	assert_int_equal(fakevirt_vmem_current(&fx->fv, 0), 130 * MIB);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_UPDATE, BACKEND_LIVE), 1);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_UPDATE, BACKEND_CONFIG), 1);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, 0), 0);
	/* the view follows: the shrink reads 130 MiB requested */
	assert_int_equal(ops_submit(fx->ops, d, &s, NULL, NULL), 0);
	fx_run(fx, 2);
	assert_string_equal(fx->ended[1].code, "ok");
	check_trace(fx, fx->ended[1].request, STEP_OK);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false), 0);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), 0);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, 0), 0);
	assert_int_equal(ops_vmem_watches(fx->ops), 0);
}

/* ---- refusals: nothing changes ---- */

struct refusal {
	const char *what;
	struct op_args args;
	enum devmodel_choice config_model;
	uint64_t host_free0;
	uint64_t requested_mib;
	const char *says[MAX_MESSAGES];
};

static void refusal_run(const struct refusal *c)
{
	struct fake_spec spec = spec_vmem(c->requested_mib);
	struct fake_host host = roomy;
	struct fixture *fx;
	struct domain_view *d;
	char *live, *config, *live2, *config2;
	void *st;

	print_message("refusal: %s\n", c->what);
	setup(&st);
	fx = st;
	fx->cfg->device_model = c->config_model;
	if (c->host_free0)
		host.free_mib[0] = c->host_free0;
	d = fx_domain(fx, &spec, &host);
	live = fakevirt_xml(&fx->fv, false);
	config = fakevirt_xml(&fx->fv, true);
	assert_int_equal(ops_submit(fx->ops, d, &c->args, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "refused");
	check_messages(&fx->ended[0], c->says);
	check_trace(fx, fx->ended[0].request, REFUSED);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_UPDATE, 0), 0);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, 0), 0);
	live2 = fakevirt_xml(&fx->fv, false);
	config2 = fakevirt_xml(&fx->fv, true);
	assert_string_equal(live, live2);
	assert_string_equal(config, config2);
	free(live);
	free(config);
	free(live2);
	free(config2);
	teardown(&st);
}

static void test_refusals(void **state)
{
	const struct refusal cases[] = {
	        {"grow beyond the device",
	         grow(1100, 1),
	         DEVMODEL_AUTO,
	         0,
	         0,
	         {"does not fit in virtio-mem device virtiomem0", "1 GiB left"}},
	        {"grow beyond what is left",
	         grow(600, 1),
	         DEVMODEL_AUTO,
	         0,
	         512,
	         {"512 MiB requested", "512 MiB left"}},
	        {"grow not a block multiple",
	         grow(3, 1),
	         DEVMODEL_AUTO,
	         0,
	         0,
	         {"block size", "2 MiB and 4 MiB"}},
	        {"--model virtio-mem on a node without a device",
	         forced(grow(128, 0), DEVMODEL_FORCE_VIRTIO_MEM),
	         DEVMODEL_AUTO,
	         0,
	         0,
	         {"guest node 0 has no virtio-mem device", "prepare", "--model virtio-mem"}},
	        {"device_model = virtio-mem in the config, node 0",
	         grow(128, 0),
	         DEVMODEL_FORCE_VIRTIO_MEM,
	         0,
	         0,
	         {"guest node 0 has no virtio-mem device"}},
	        {"host node 0 below the reserve",
	         grow(512, 1),
	         DEVMODEL_AUTO,
	         300,
	         0,
	         {"host node 0", "512 MiB needed"}},
	        {"shrink below 0",
	         shrink(256, 1),
	         DEVMODEL_AUTO,
	         0,
	         128,
	         {"has 128 MiB requested", "cannot give back 256 MiB"}},
	        {"shrink not a block multiple",
	         shrink(3, 1),
	         DEVMODEL_AUTO,
	         0,
	         128,
	         {"block size", "2 MiB and 4 MiB"}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refusal_run(&cases[i]);
}

/* ---- the guest's answers ---- */

/* The guest keeps 300 MiB (unmovable): the reply is the live <current>,
 * the request stays at 0 live and persistent, and what comes back later is
 * audited under the same request until it reaches 0. */
static void test_partial_then_late(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(512);
	struct domain_view *d;
	struct op_args s = shrink(512, 1);
	const char *req;

	fx->cfg->detach_timeout_ms = 300;
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.vmem_answer = FAKE_VMEM_FLOOR;
	fx->fv.vmem_floor_kib = 300 * MIB;
	assert_int_equal(ops_submit(fx->ops, d, &s, NULL, NULL), 0);
	fx_run(fx, 1);
	req = fx->ended[0].request;
	assert_string_equal(fx->ended[0].code, "partial");
	check_messages(&fx->ended[0],
	               (const char *const[]){"virtiomem0", "gave back 212 MiB of 512 MiB",
	                                     "current 307200 KiB", "keeps watching"});
	check_trace(fx, req, STEP_SHORT);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false), 0);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), 0);
	assert_int_equal(ops_vmem_watches(fx->ops), 1);

	fakevirt_vmem_late(&fx->fv, 0, 100 * MIB);
	fx_run(fx, 1);
	check_trace(fx, req, STEP_SHORT " outcome:partial");
	assert_int_equal(ops_vmem_watches(fx->ops), 1);
	fakevirt_vmem_late(&fx->fv, 0, 0);
	fx_run(fx, 1);
	check_trace(fx, req, STEP_SHORT " outcome:partial outcome:ok");
	assert_int_equal(ops_vmem_watches(fx->ops), 0);
}

/* The domain goes away while a short step is watched: the watch ends, and
 * a size change that still comes is no outcome of the request. */
static void test_gone_while_watched(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(0);
	struct domain_view *d;
	struct op_args g = grow(128, 1);
	struct backend_event gone = {.kind = BACKEND_EVENT_LIFECYCLE,
	                             .name = NAME,
	                             .lifecycle = BACKEND_LIFECYCLE_UNDEFINED};

	fx->cfg->detach_timeout_ms = 100;
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.vmem_answer = FAKE_VMEM_SILENT;
	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_int_equal(ops_vmem_watches(fx->ops), 1);
	dispatch_event(fx->dispatch, &gone);
	assert_int_equal(ops_vmem_watches(fx->ops), 0);
	fakevirt_vmem_late(&fx->fv, 0, 128 * MIB);
	fx_run(fx, 1);
	check_trace(fx, fx->ended[0].request, STEP_SHORT);
}

/* Events out of order (the old size, the new, a stale middle one): only
 * the target ends the wait, and the answer is the guest's. */
static void test_out_of_order(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(64);
	struct domain_view *d = fx_domain(fx, &spec, &roomy);
	struct op_args g = grow(256, 1);

	fx->fv.vmem_answer = FAKE_VMEM_OUT_OF_ORDER;
	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "ok");
	check_trace(fx, fx->ended[0].request, STEP_OK);
	assert_int_equal(fakevirt_vmem_current(&fx->fv, 0), 320 * MIB);
	assert_int_equal(ops_vmem_watches(fx->ops), 0);
}

/* No event at all: the timeout ends the wait, the reply says what the
 * guest shows (nothing moved), and the device is watched. */
static void test_timeout(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(0);
	struct domain_view *d;
	struct op_args g = grow(128, 1);

	fx->cfg->detach_timeout_ms = 200;
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.vmem_answer = FAKE_VMEM_SILENT;
	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "partial");
	check_messages(&fx->ended[0],
	               (const char *const[]){"plugged 0 KiB of 128 MiB", "after 200 ms",
	                                     "current 0 KiB", "requested stays 131072 KiB"});
	check_trace(fx, fx->ended[0].request, STEP_SHORT);
	assert_int_equal(ops_vmem_watches(fx->ops), 1);
	fakevirt_vmem_late(&fx->fv, 0, 128 * MIB);
	fx_run(fx, 1);
	check_trace(fx, fx->ended[0].request, STEP_SHORT " outcome:ok");
	assert_int_equal(ops_vmem_watches(fx->ops), 0);
}

/* The update call fails: nothing changed anywhere. */
static void test_call_fails(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(0);
	struct domain_view *d = fx_domain(fx, &spec, &roomy);
	struct op_args g = grow(128, 1);

	fx->fv.vmem_answer = FAKE_VMEM_CALL_FAILS;
	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "failed");
	check_messages(&fx->ended[0],
	               (const char *const[]){"virtiomem0", "update call failed", NULL});
	check_trace(fx, fx->ended[0].request, HEAD " resize:failed outcome:failed");
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), 0);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_UPDATE, BACKEND_CONFIG), 0);
	assert_int_equal(ops_vmem_watches(fx->ops), 0);
}

/* A spread grow: node 0 gets a DIMM, node 1 its device's request. */
static void test_spread_both_models(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(0);
	struct domain_view *d = fx_domain(fx, &spec, &roomy);
	struct op_args g = grow(256, -1);
	char *models;

	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "ok");
	check_trace(fx, fx->ended[0].request,
	            HEAD " attach:ok intent:pending resize:ok outcome:ok");
	/* each device's records say which model it used */
	models = audit_trace_key(fx, fx->ended[0].request, "model");
	assert_string_equal(models, "request:auto preflight:- intent:dimm attach:dimm "
	                            "intent:virtio-mem resize:virtio-mem outcome:-");
	free(models);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, BACKEND_LIVE), 1);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false), 128 * MIB);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), 128 * MIB);
}

/* --config alone on a shut-off domain: only the persistent <requested>
 * moves; the persistent definition has no alias, the node finds it. */
static void test_config_shut_off(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(0);
	struct op_args g = grow(128, 1);
	struct domain_view *d;

	spec.shut_off = true;
	d = fx_domain(fx, &spec, &roomy);
	g.scope_given = true;
	g.config = true;
	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "ok");
	check_trace(fx, fx->ended[0].request, STEP_OK);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_UPDATE, 0), 1);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_UPDATE, BACKEND_CONFIG), 1);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), 128 * MIB);
	check_intent_scope(fx, fx->ended[0].request, false, true);
}

/* The guest is destroyed while a shrink waits for it: the step ends at
 * once, says the domain stopped (no <current> is read: a shut-off domain
 * has none), and leaves no watch. */
static void test_stopped_mid_shrink(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_vmem(512);
	struct domain_view *d;
	struct timeval tv = {0, 300 * 1000};
	struct timespec t0, t1;

	fx->cfg->detach_timeout_ms = 30000;
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.vmem_answer = FAKE_VMEM_SILENT;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ops_submit(fx->ops, d,
	                            &(struct op_args){.kind = OP_SHRINK,
	                                              .size_kib = 128 * MIB,
	                                              .node = 1,
	                                              .wait = true},
	                            NULL, NULL),
	                 0);
	event_base_loopexit(evloop_base(fx->loop), &tv); /* the step is waiting */
	assert_int_equal(evloop_run(fx->loop), 0);
	assert_int_equal(fx->n_ended, 0);
	fakevirt_destroy_guest(&fx->fv);
	fx_run(fx, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5); /* not the 30 s timeout */
	assert_string_equal(fx->ended[0].code, "failed");
	check_messages(&fx->ended[0], (const char *const[]){"stopped while the guest", NULL});
	check_trace(fx, fx->ended[0].request, HEAD " resize:failed outcome:failed");
	assert_int_equal(ops_vmem_watches(fx->ops), 0);
}

/* ---- the audit log failing around a step (fail_closed) ---- */

struct unwritten_case {
	const char *what;
	bool shut_off;    /* config-only grow of a shut-off domain */
	unsigned fail_at; /* the record (0: request) that fails */
	const char *trace;
};

/* A grow whose outcome cannot be written sets the device's <requested>
 * back (a rollback through the virtio-mem path), never detaches it. */
static void unwritten_run(const struct unwritten_case *c)
{
	struct fake_spec spec = spec_vmem(0);
	struct op_args g = grow(128, 1);
	struct fixture *fx;
	struct domain_view *d;
	void *st;

	print_message("unwritten: %s\n", c->what);
	setup(&st);
	fx = st;
	spec.shut_off = c->shut_off;
	d = fx_domain(fx, &spec, &roomy);
	if (c->shut_off) {
		g.scope_given = true;
		g.config = true;
	}
	audit_inject_failure(agent_audit_log(fx->a), c->fail_at, -EIO);
	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	fx_settle(fx);
	assert_string_equal(fx->ended[0].code, "failed");
	check_messages(&fx->ended[0], (const char *const[]){"audit log cannot be written",
	                                                    "1 of the 1 virtio-mem", NULL});
	check_trace(fx, fx->ended[0].request, c->trace);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, BACKEND_LIVE), 0);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, BACKEND_CONFIG), 0);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), 0);
	if (!c->shut_off) {
		assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false), 0);
		assert_int_equal(fakevirt_vmem_current(&fx->fv, 0), 0);
	}
	teardown(&st);
}

static void test_outcome_unwritten(void **state)
{
	const struct unwritten_case cases[] = {
	        {"config-only grow, shut off", true, 4,
	         HEAD " resize:ok rollback:ok outcome:failed"},
	        {"live grow", false, 5, HEAD " resize:ok rollback:ok outcome:failed"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		unwritten_run(&cases[i]);
}

struct resize_case {
	const char *what;
	bool shut_off, shrink;
	unsigned fail_at; /* the resize record (0: request) */
	const char *message;
	const char *trace;
	uint64_t requested_mib; /* after, live and persistent */
};

/* The `resize` record of an applied step cannot be written (fail_closed):
 * a grow sets the step back and fails; a shrink fails and says the change
 * stands. Never success without the record. */
static void resize_run(const struct resize_case *c)
{
	struct fake_spec spec = spec_vmem(c->shrink ? 512 : 0);
	struct op_args a = c->shrink ? shrink(128, 1) : grow(128, 1);
	struct fixture *fx;
	struct domain_view *d;
	void *st;

	print_message("resize unwritten: %s\n", c->what);
	setup(&st);
	fx = st;
	spec.shut_off = c->shut_off;
	d = fx_domain(fx, &spec, &roomy);
	if (c->shut_off) {
		a.scope_given = true;
		a.config = true;
	}
	if (!c->shut_off) {
		/* no size-change event: its record would race the resize record */
		fx->cfg->detach_timeout_ms = 100;
		fx->fv.vmem_answer = FAKE_VMEM_SILENT;
	}
	audit_inject_failure(agent_audit_log(fx->a), c->fail_at, -EIO);
	assert_int_equal(ops_submit(fx->ops, d, &a, NULL, NULL), 0);
	fx_run(fx, 1);
	fx_settle(fx);
	assert_string_equal(fx->ended[0].code, "failed");
	check_messages(&fx->ended[0], (const char *const[]){c->message, NULL});
	check_trace(fx, fx->ended[0].request, c->trace);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), c->requested_mib * MIB);
	if (!c->shut_off)
		assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false),
		                 c->requested_mib * MIB);
	teardown(&st);
}

static void test_resize_unwritten(void **state)
{
	const struct resize_case cases[] = {
	        {"config-only grow, shut off", true, false, 3, "the resize record",
	         HEAD " rollback:ok outcome:failed", 0},
	        {"live grow, short", false, false, 3, "the resize record",
	         HEAD " rollback:ok outcome:failed", 0},
	        {"live shrink, short", false, true, 3,
	         "the change stands without its resize record", HEAD " outcome:failed", 384},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		resize_run(&cases[i]);
}

/* ---- the connection lost during an update call ---- */

struct lost_case {
	const char *what;
	unsigned lost;  /* the half whose update call loses its connection */
	bool applied;   /* ... after the fake applied it */
	unsigned reads; /* XML reads that fail before libvirt is back (UINT_MAX: never) */
	const char *code;
	const char *says[MAX_MESSAGES];
	const char *trace;
	const char *reread;                         /* the resize record's reread_requested_kib */
	uint64_t live_mib, config_mib, current_mib; /* after */
	size_t open;                                /* intents left for reconcile */
};

/* A JSON field of the request's resize record, as text ("-": none). */
static char *resize_field(struct fixture *fx, const char *request, const char *key)
{
	char **files = NULL, *out = NULL;
	size_t n = 0;
	struct record_reader *rd;
	json_object *rec, *v;

	assert_int_equal(record_log_files(fx->path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		const char *req = record_str(rec, "request");

		if (out == NULL && req && strcmp(req, request) == 0 &&
		    strcmp(record_str(rec, "event"), "resize") == 0)
			out = strdup(
			        json_object_object_get_ex(rec, key, &v)
			                ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)
			                : "-");
		json_object_put(rec);
	}
	record_reader_free(rd);
	record_files_free(files, n);
	assert_non_null(out);
	return out;
}

/* Intents of the request the audit log leaves open (reconcile's list). */
static size_t open_intents(struct fixture *fx, const char *request)
{
	json_object *pending = NULL;
	size_t n = 0;

	assert_int_equal(audit_pending_intents(agent_audit_log(fx->a), &pending, NULL), 0);
	for (size_t i = 0; i < json_object_array_length(pending); i++)
		n += strcmp(record_str(json_object_array_get_idx(pending, i), "request"),
		            request) == 0;
	json_object_put(pending);
	return n;
}

/* libvirtd goes away during the update call: the step looks again once
 * it is back, and reports what the definition shows; when it stays away
 * the outcome is unknown and the intent stays open. */
static void lost_run(const struct lost_case *c)
{
	struct fake_spec spec = spec_vmem(0);
	struct op_args g = grow(128, 1);
	struct fixture *fx;
	struct domain_view *d;
	char *reread;
	void *st;

	print_message("update lost: %s\n", c->what);
	setup(&st);
	fx = st;
	d = fx_domain(fx, &spec, &roomy);
	ops_set_reconnect_wait(fx->ops, 1200);
	fx->fv.vmem_lost = c->lost;
	fx->fv.vmem_lost_applied = c->applied;
	fx->fv.lost_reads = c->reads;
	assert_int_equal(ops_submit(fx->ops, d, &g, NULL, NULL), 0);
	fx_run(fx, 1);
	fx_settle(fx);
	assert_string_equal(fx->ended[0].code, c->code);
	check_messages(&fx->ended[0], c->says);
	check_trace(fx, fx->ended[0].request, c->trace);
	reread = resize_field(fx, fx->ended[0].request, "reread_requested_kib");
	assert_string_equal(reread, c->reread);
	free(reread);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false), c->live_mib * MIB);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), c->config_mib * MIB);
	assert_int_equal(fakevirt_vmem_current(&fx->fv, 0), c->current_mib * MIB);
	assert_int_equal(open_intents(fx, fx->ended[0].request), c->open);
	teardown(&st);
}

static void test_update_lost(void **state)
{
	const struct lost_case cases[] = {
	        {.what = "live update applied, libvirt back",
	         .lost = BACKEND_LIVE,
	         .applied = true,
	         .reads = 1,
	         .code = "ok",
	         .trace = STEP_OK,
	         .reread = "131072",
	         .live_mib = 128,
	         .config_mib = 128,
	         .current_mib = 128},
	        {.what = "live update not applied, libvirt back",
	         .lost = BACKEND_LIVE,
	         .reads = 1,
	         .code = "failed",
	         .says = {"virtiomem0", "connection to libvirt was lost",
	                  "live <requested> is 0 KiB as before", "not applied"},
	         .trace = HEAD " resize:failed outcome:failed",
	         .reread = "0"},
	        {.what = "live update applied, libvirt stays away",
	         .lost = BACKEND_LIVE,
	         .applied = true,
	         .reads = UINT_MAX,
	         .code = "unknown",
	         .says = {"outcome unknown", "did not come back within 1200 ms",
	                  "1 size-change event", "the guest took it"},
	         .trace = HEAD " resize:unknown outcome:unknown",
	         .reread = "null",
	         .live_mib = 128,
	         .current_mib = 128,
	         .open = 1},
	        {.what = "persistent update applied, libvirt back",
	         .lost = BACKEND_CONFIG,
	         .applied = true,
	         .reads = 1,
	         .code = "ok",
	         .trace = STEP_OK,
	         .reread = "131072",
	         .live_mib = 128,
	         .config_mib = 128,
	         .current_mib = 128},
	        {.what = "persistent update not applied, libvirt back",
	         .lost = BACKEND_CONFIG,
	         .reads = 1,
	         .code = "failed",
	         .says = {"in the persistent definition", "persistent <requested> is 0 KiB",
	                  "not applied"},
	         .trace = HEAD " resize:failed outcome:failed",
	         .reread = "0",
	         .live_mib = 128,
	         .current_mib = 128},
	        {.what = "persistent update, libvirt stays away",
	         .lost = BACKEND_CONFIG,
	         .reads = UINT_MAX,
	         .code = "unknown",
	         .says = {"outcome unknown", "persistent <requested> is 131072 KiB is unknown"},
	         .trace = HEAD " resize:unknown outcome:unknown",
	         .reread = "null",
	         .live_mib = 128,
	         .current_mib = 128,
	         .open = 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		lost_run(&cases[i]);
}

/* ---- reconcile ---- */

struct reconcile_case {
	const char *what;
	int scope; /* -1: none recorded (an older intent); else BACKEND_LIVE | BACKEND_CONFIG */
	const char *action;
	uint64_t persistent_after_mib;
};

static void reconcile_run(const struct reconcile_case *c)
{
	struct fake_spec spec = spec_vmem(0);
	json_object *x = json_object_new_object(), *rec = NULL;
	struct record r = {.event = RECORD_INTENT,
	                   .domain = NAME,
	                   .request = "crash-1",
	                   .actor = {.kind = RECORD_ACTOR_CLIENT},
	                   .result = RECORD_PENDING,
	                   .extra = x};
	char **files = NULL;
	size_t n = 0;
	struct record_reader *rd;
	bool found = false;
	struct fixture *fx;
	void *st;

	print_message("reconcile: %s\n", c->what);
	setup(&st);
	fx = st;
	spec.vmem[0].requested_kib = 256 * MIB; /* live only: see below */
	spec.vmem[0].current_kib = 200 * MIB;
	fx_domain(fx, &spec, &roomy);
	fx->fv.vmem_config[0].requested_kib = 0;
	json_object_object_add(x, "model", json_object_new_string("virtio-mem"));
	json_object_object_add(x, "node", json_object_new_int(1));
	json_object_object_add(x, "alias", json_object_new_string("virtiomem0"));
	json_object_object_add(x, "requested_kib", json_object_new_uint64(256 * MIB));
	if (c->scope >= 0) {
		json_object_object_add(x, "live", json_object_new_boolean(c->scope & BACKEND_LIVE));
		json_object_object_add(x, "config",
		                       json_object_new_boolean(c->scope & BACKEND_CONFIG));
	}
	assert_int_equal(agent_audit(fx->a, &r, true, NULL), 0);
	json_object_put(x);
	ops_reconcile(fx->ops);
	fx_run(fx, 0);
	assert_int_equal(record_log_files(fx->path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		json_object *e = NULL;

		if (strcmp(record_str(rec, "event"), "reconciled") == 0) {
			e = rec;
			assert_string_equal(record_str(rec, "request"), "crash-1");
			assert_string_equal(record_str(e, "result"), "ok");
			assert_string_equal(record_str(e, "found"), "partial");
			assert_string_equal(record_str(e, "persistent"), "not applied");
			assert_string_equal(record_str(e, "action"), c->action);
			assert_int_equal(
			        json_object_get_uint64(json_object_object_get(e, "current_kib")),
			        200 * MIB);
			found = true;
		}
		json_object_put(rec);
	}
	record_reader_free(rd);
	record_files_free(files, n);
	assert_true(found);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, true), c->persistent_after_mib * MIB);
	assert_int_equal(fakevirt_vmem_requested(&fx->fv, 0, false), 256 * MIB);
	teardown(&st);
}

/* A crash after the live update: the intent finds the live request
 * applied but short, and the persistent one not applied; with both halves
 * in scope the persistent <requested> follows, otherwise nothing moves. */
static void test_reconcile(void **state)
{
	const struct reconcile_case cases[] = {
	        {"live and config: the persistent half is finished", BACKEND_LIVE | BACKEND_CONFIG,
	         "config_updated", 256},
	        {"live only: the config is never touched", BACKEND_LIVE, "none", 0},
	        {"no scope recorded: never acted on", -1, "none", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		reconcile_run(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_grow_shrink, setup, teardown),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test_setup_teardown(test_partial_then_late, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_gone_while_watched, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_call_fails, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_spread_both_models, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_config_shut_off, setup, teardown),
	        cmocka_unit_test(test_reconcile),
	        cmocka_unit_test_setup_teardown(test_stopped_mid_shrink, setup, teardown),
	        cmocka_unit_test(test_outcome_unwritten),
	        cmocka_unit_test(test_resize_unwritten),
	        cmocka_unit_test(test_update_lost),
	};

	log_init("test-ops-vmem", true, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
