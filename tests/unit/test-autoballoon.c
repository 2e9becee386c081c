/*
 * Unit tests for agent/autoballoon.c, the policy tick, with the whole agent
 * behind the fake backend and a 20 ms interval: each guest state leads to
 * the decision the pure policy gives for it, that decision is audited and
 * carried out (a balloon target, or a DIMM through ops as the actor
 * `policy`) or held back, and the sampling (balloon stats, metadata and the
 * host's free memory) never runs on the loop thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeagent.h"

#define MIB UINT64_C(1024)
#define U   UINT64_MAX

static const struct fake_spec two_cells = {
        .n_cells = 2,
        .cell_mib = {1024, 1024},
        .max_mib = 8192,
        .slots = 8,
        .huge_cell = -1,
        .host_node = -1,
};
static const struct fake_host roomy = {.free_mib = {8192, 8192}};

enum expect { EX_NOTHING, EX_BALLOON, EX_GROW };

struct tick_case {
	const char *what;
	bool enabled;
	bool dry_run;
	uint64_t current_mib, usable_mib, available_mib; /* U: not reported */
	const char *action; /* the audited decision; NULL: none audited */
	enum expect expect;
};

static const struct tick_case cases[] = {
        {"short, balloon inflated: the balloon gives memory back", true, false, 1536, 40, 1500,
         "balloon", EX_BALLOON},
        {"short, balloon empty: a DIMM is plugged", true, false, 2048, 40, 2000, "grow", EX_GROW},
        {"short, dry run: decided and audited, nothing done", true, true, 2048, 40, 2000, "grow",
         EX_NOTHING},
        {"no stats: unmanageable, nothing guessed", true, false, 2048, U, U, "unmanageable",
         EX_NOTHING},
        {"disabled: nothing decided", false, false, 2048, 40, 2000, NULL, EX_NOTHING},
};

static uint64_t kib(uint64_t mib)
{
	return mib == U ? U : mib * MIB;
}

static bool acted(struct fakeagent *fa)
{
	return fakevirt_count(&fa->fv, FAKE_BALLOON, 0) > 0 || fa->ops_ended > 0;
}

static bool sampled_twice(struct fakeagent *fa)
{
	return fakevirt_count(&fa->fv, FAKE_STATS, 0) >= 2;
}

static void tick_run(const struct tick_case *c)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	char want[64];

	fakeagent_init(fa);
	fa->cfg->policy.enabled = c->enabled;
	fa->cfg->policy.dry_run = c->dry_run;
	fa->cfg->policy_interval_ms = 20;
	fakeagent_start(fa, &two_cells, &roomy, true);
	fa->fv.balloon.current = kib(c->current_mib);
	fa->fv.balloon.maximum = kib(2048);
	fa->fv.balloon.usable = kib(c->usable_mib);
	fa->fv.balloon.available = kib(c->available_mib);
	if (c->expect != EX_NOTHING)
		fakeagent_run_until(fa, acted, 5000);
	/* A case that must do nothing gets two ticks to prove it. */
	assert_true(fakeagent_run_until(fa, sampled_twice, 5000));
	fakeagent_settle(fa);
	if (c->action) {
		snprintf(want, sizeof(want), "%s", c->action);
		if (fakeagent_records(fa, "policy_decision", "action", want) == 0)
			fail_msg("%s: no %s decision audited", c->what, want);
	} else {
		assert_int_equal(fakeagent_records(fa, "policy_decision", NULL, NULL), 0);
	}
	switch (c->expect) {
	case EX_BALLOON:
		assert_true(fa->fv.balloon.current > kib(c->current_mib));
		assert_int_equal(fakevirt_count(&fa->fv, FAKE_ATTACH, 0), 0);
		break;
	case EX_GROW:
		assert_string_equal(fa->last_code, "ok");
		assert_true(fakevirt_count(&fa->fv, FAKE_ATTACH, BACKEND_LIVE) >= 1);
		/* the grow is a request by the actor `policy`, as grow is by a client */
		assert_true(fakeagent_records(fa, "request", NULL, NULL) >= 1);
		break;
	default:
		assert_int_equal(fakevirt_count(&fa->fv, FAKE_BALLOON, 0), 0);
		assert_int_equal(fakevirt_count(&fa->fv, FAKE_ATTACH, 0), 0);
		break;
	}
	/* Sampling read the stats, the metadata once and the host, all on workers. */
	assert_int_equal(fakevirt_count(&fa->fv, FAKE_GET_META, 0), 1);
	assert_true(fakevirt_count(&fa->fv, FAKE_HOST, 0) >= 1);
	if (fa->fv.loop_calls != 0)
		fail_msg("%s: %u blocking calls on the loop thread", c->what, fa->fv.loop_calls);
	fakeagent_destroy(fa);
	free(fa);
}

static void test_ticks(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tick_run(&cases[i]);
}

/* Stored run-time settings win over the config: metadata that disables
 * the policy keeps an enabled config from acting. */
static void test_metadata_overrides(void **state)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));

	fakeagent_init(fa);
	fa->cfg->policy.enabled = true;
	fa->cfg->policy_interval_ms = 20;
	fakeagent_start(fa, &two_cells, &roomy, true);
	fa->fv.metadata = strdup("<memplug:policy xmlns:memplug=\"" POLICY_METADATA_URI
	                         "\" enabled=\"no\"/>");
	fa->fv.balloon.current = kib(1536);
	fa->fv.balloon.usable = kib(40);
	fa->fv.balloon.available = kib(1500);
	assert_true(fakeagent_run_until(fa, sampled_twice, 5000));
	fakeagent_settle(fa);
	assert_int_equal(fakevirt_count(&fa->fv, FAKE_BALLOON, 0), 0);
	assert_int_equal(fakeagent_records(fa, "policy_decision", NULL, NULL), 0);
	assert_int_equal(fa->fv.loop_calls, 0);
	fakeagent_destroy(fa);
	free(fa);
}

/* `policy show` of a sampled domain whose policy never decided (disabled):
 * the state says none, with no age (not the time since the agent's clock
 * started). */
static void test_show_before_decision(void **state)
{
	struct fakeagent *fa = calloc(1, sizeof(*fa));
	struct proto_reply *r;
	json_object *st, *age;

	fakeagent_init(fa);
	fa->cfg->policy.enabled = false;
	fa->cfg->policy_interval_ms = 20;
	fakeagent_start(fa, &two_cells, &roomy, true);
	fa->fv.balloon.current = kib(2048);
	fa->fv.balloon.usable = kib(40);
	fa->fv.balloon.available = kib(2000);
	assert_true(fakeagent_run_until(fa, sampled_twice, 5000));
	fakeagent_settle(fa);
	r = fakeagent_call(fa, "policy", "{\"domain\":\"vm\",\"action\":\"show\"}");
	assert_non_null(r);
	assert_true(r->ok);
	assert_true(json_object_object_get_ex(r->data, "state", &st));
	assert_non_null(st);
	assert_string_equal(json_object_get_string(json_object_object_get(st, "action")), "none");
	assert_true(json_object_object_get_ex(st, "age_ms", &age));
	assert_null(age);
	proto_reply_free(r);
	fakeagent_destroy(fa);
	free(fa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ticks),
	        cmocka_unit_test(test_metadata_overrides),
	        cmocka_unit_test(test_show_before_decision),
	};

	log_init("test-autoballoon", true, LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
