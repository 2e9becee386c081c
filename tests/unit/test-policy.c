/*
 * Unit tests for common/policy.c: the decision function driven through
 * time series by a simulated guest (balloon, DIMMs, a workload's used
 * memory) and a simulated clock, plus the <metadata> form of run-time
 * settings. The simulator applies what the decision asks for, a DIMM
 * operation one tick later as the agent's queue would.
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

#include "../../common/policy.h"

#define MIB       UINT64_C(1024)
#define TICK_MS   2000
#define RESERVED  (16 * MIB) /* memory the guest kernel keeps out of MemTotal */
#define MAX_DIMMS 16
#define MAX_TICKS 400

enum series { SPIKE, SLOW, SPIKE_RELEASE, OSC_LOW, OSC_HIGH, FLAT };

struct sim_case {
	const char *what;
	enum series series;
	unsigned ticks;
	/* the guest and host */
	bool no_stats;
	uint64_t host_usable_kib; /* 0: plenty */
	unsigned attach_failures; /* the first N grows fail */
	bool refuse_unplug;       /* the guest never releases a DIMM */
	/* settings changes */
	uint64_t min_kib, max_kib;
	bool dry_run;
	/* expected */
	unsigned grows_min, grows_max;
	unsigned unplugs_min, unplugs_max;
	unsigned shrink_balloons_max; /* balloon moves down, UINT_MAX: any */
	unsigned holds_min;
	const char *hold_reason;
	unsigned failed;
	unsigned unplug_failed_min, unplug_failed_max;
	uint64_t final_plugged_kib; /* 0: not checked */
	uint64_t final_actual_min_kib;
	uint64_t plugged_max_kib; /* never above */
	bool unmanageable;
};

struct sim {
	uint64_t boot, plugged, actual, used;
	size_t n_dimms;
	struct policy_dimm dimms[MAX_DIMMS]; /* oldest first */
	/* an operation submitted on the previous tick */
	enum policy_action op;
	uint64_t op_size;
	int op_node;
	unsigned attach_failures;
	bool refuse_unplug;
	/* counts */
	unsigned grows, unplugs, up_balloons, down_balloons, holds, failed, unmanageable;
	unsigned unplug_failed;
	uint64_t max_plugged;
	const char *last_hold_reason;
	char last_hold_message[256];
};

static uint64_t used_at(enum series s, unsigned tick)
{
	switch (s) {
	case SPIKE:
		return tick < 5 ? 100 * MIB : 450 * MIB;
	case SLOW:
		return 100 * MIB + tick * 5 * MIB;
	case SPIKE_RELEASE:
		return tick >= 5 && tick < 60 ? 450 * MIB : 50 * MIB;
	case OSC_LOW: /* usable around low_free of a 512 MiB guest */
		return tick % 2 ? 440 * MIB : 452 * MIB;
	case OSC_HIGH: /* usable around high_free */
		return tick % 2 ? 300 * MIB : 380 * MIB;
	default:
		return 100 * MIB;
	}
}

static void sim_finish_op(struct sim *g)
{
	if (g->op == POLICY_GROW) {
		if (g->attach_failures > 0) {
			g->attach_failures--;
		} else {
			g->dimms[g->n_dimms++] = (struct policy_dimm){.node = (unsigned)g->op_node,
			                                              .size_kib = g->op_size};
			g->plugged += g->op_size;
			g->actual += g->op_size; /* the balloon holds pages, not a size */
		}
	} else if (g->op == POLICY_SHRINK && !g->refuse_unplug) {
		for (size_t i = g->n_dimms; i-- > 0;) {
			if (g->dimms[i].size_kib == g->op_size &&
			    g->dimms[i].node == (unsigned)g->op_node) {
				memmove(&g->dimms[i], &g->dimms[i + 1],
				        (g->n_dimms - i - 1) * sizeof(g->dimms[0]));
				g->n_dimms--;
				g->plugged -= g->op_size;
				g->actual -= g->op_size;
				break;
			}
		}
	}
	g->op = POLICY_NONE;
}

static void sim_count(struct sim *g, const struct policy_decision *d)
{
	switch (d->action) {
	case POLICY_GROW:
		g->grows++;
		break;
	case POLICY_SHRINK:
		g->unplugs++;
		break;
	case POLICY_BALLOON:
		g->unplug_failed += strcmp(d->reason, "unplug_failed") == 0;
		if (d->target_kib > g->actual)
			g->up_balloons++;
		else
			g->down_balloons++;
		break;
	case POLICY_HOLD:
		g->holds++;
		g->last_hold_reason = d->reason;
		snprintf(g->last_hold_message, sizeof(g->last_hold_message), "%s", d->message);
		break;
	case POLICY_FAILED:
		g->failed++;
		break;
	case POLICY_UNMANAGEABLE:
		g->unmanageable++;
		break;
	default:
		break;
	}
}

static void sim_apply(struct sim *g, const struct policy_decision *d)
{
	if (d->action == POLICY_BALLOON)
		g->actual = d->target_kib;
	if (d->action == POLICY_GROW || d->action == POLICY_SHRINK) {
		g->op = d->action;
		g->op_size = d->size_kib;
		g->op_node = d->node;
	}
}

static void sim_input(const struct sim *g, const struct sim_case *c, unsigned tick,
                      struct policy_cell cells[2], struct policy_dimm *newest,
                      struct policy_input *in)
{
	uint64_t avail = g->actual - RESERVED;

	for (unsigned i = 0; i < 2; i++) {
		cells[i] =
		        (struct policy_cell){.id = i, .kib = g->boot / 2, .align_kib = 128 * MIB};
		if (c->host_usable_kib) {
			cells[i].host_known = true;
			cells[i].host_usable_kib = c->host_usable_kib;
			cells[i].host_free_kib = c->host_usable_kib + 256 * MIB;
			snprintf(cells[i].host_nodes, sizeof(cells[i].host_nodes), "%u", i);
		}
	}
	for (size_t i = 0; i < g->n_dimms; i++) {
		cells[g->dimms[i].node].kib += g->dimms[i].size_kib;
		newest[g->n_dimms - 1 - i] = g->dimms[i];
	}
	*in = (struct policy_input){
	        .now_ms = 1000 + (uint64_t)tick * TICK_MS,
	        .interval_ms = TICK_MS,
	        .has_stats = !c->no_stats,
	        .actual_kib = g->actual,
	        .usable_kib = avail > g->used ? avail - g->used : 0,
	        .available_kib = avail,
	        .plugged_kib = g->plugged,
	        .boot_kib = g->boot,
	        .max_memory_kib = 2048 * MIB,
	        .free_slots = (unsigned)(MAX_DIMMS - g->n_dimms),
	        .n_cells = 2,
	        .cells = cells,
	        .n_dimms = g->n_dimms,
	        .dimms = newest,
	        .op_in_flight = g->op != POLICY_NONE,
	        .host_reserve_kib = 256 * MIB,
	};
}

static void run_case(const struct sim_case *c, struct sim *g)
{
	struct policy_settings s = {
	        .enabled = true,
	        .dry_run = c->dry_run,
	        .low_free = {.percent = true, .value = 10},
	        .high_free = {.percent = true, .value = 30},
	        .step_kib = 256 * MIB,
	        .cooldown_ms = 6000,
	        .settle_ms = 20000,
	        .min_kib = c->min_kib,
	        .max_kib = c->max_kib,
	};
	struct policy_state st = {0};

	memset(g, 0, sizeof(*g));
	g->boot = g->plugged = g->actual = g->max_plugged = 512 * MIB;
	g->attach_failures = c->attach_failures;
	g->refuse_unplug = c->refuse_unplug;
	for (unsigned t = 0; t < c->ticks; t++) {
		struct policy_cell cells[2];
		struct policy_dimm newest[MAX_DIMMS];
		struct policy_input in;
		struct policy_decision d;
		bool in_flight = g->op != POLICY_NONE;

		g->used = used_at(c->series, t);
		sim_input(g, c, t, cells, newest, &in);
		policy_decide(&s, &in, &st, &d);
		sim_count(g, &d);
		if (getenv("SIM_DEBUG"))
			print_message("t=%u used=%llu %s %s\n", t,
			              (unsigned long long)(g->used / MIB),
			              policy_action_name(d.action), d.message);
		if (in_flight)
			sim_finish_op(g); /* the op ran between this tick and the next */
		if (c->dry_run)
			policy_note_dry_run(&st);
		else
			sim_apply(g, &d);
		if (g->plugged > g->max_plugged)
			g->max_plugged = g->plugged;
	}
}

static const struct sim_case cases[] = {
        {.what = "pressure spike: one DIMM, then the balloon trims the excess",
         .series = SPIKE,
         .ticks = 100,
         .grows_min = 1,
         .grows_max = 1,
         .unplugs_max = 0,
         .shrink_balloons_max = 1,
         .final_plugged_kib = 768 * MIB,
         .plugged_max_kib = 768 * MIB},
        {.what = "slow growth: DIMM after DIMM, no unplug, one trim after settle",
         .series = SLOW,
         .ticks = 200,
         .grows_min = 3,
         .grows_max = 3,
         .unplugs_max = 0,
         .shrink_balloons_max = 1,
         .plugged_max_kib = 2048 * MIB},
        {.what = "spike then release: back to boot memory, DIMMs included",
         .series = SPIKE_RELEASE,
         .ticks = 200,
         .grows_min = 1,
         .grows_max = 1,
         .unplugs_min = 1,
         .unplugs_max = 1,
         .shrink_balloons_max = UINT32_MAX,
         .final_plugged_kib = 512 * MIB,
         .final_actual_min_kib = 512 * MIB,
         .plugged_max_kib = 768 * MIB},
        {.what = "oscillation around low_free: one grow, no flapping",
         .series = OSC_LOW,
         .ticks = 200,
         .grows_min = 1,
         .grows_max = 1,
         .unplugs_max = 0,
         .shrink_balloons_max = 1,
         .plugged_max_kib = 768 * MIB},
        {.what = "oscillation around high_free: settle never completes, no shrink",
         .series = OSC_HIGH,
         .ticks = 200,
         .grows_max = 0,
         .unplugs_max = 0,
         .shrink_balloons_max = 0,
         .final_plugged_kib = 512 * MIB},
        {.what = "host reserve reached: held back with the numbers",
         .series = SPIKE,
         .ticks = 50,
         .host_usable_kib = 100 * MIB,
         .grows_max = 0,
         .holds_min = 1,
         .hold_reason = "host_reserve",
         .final_plugged_kib = 512 * MIB},
        {.what = "max bound: slow growth stops at max",
         .series = SLOW,
         .ticks = 200,
         .max_kib = 1024 * MIB,
         .grows_min = 2,
         .grows_max = 2,
         .holds_min = 1,
         .hold_reason = "max",
         .shrink_balloons_max = 1,
         .plugged_max_kib = 1024 * MIB},
        {.what = "min bound: release keeps the balloon at min",
         .series = SPIKE_RELEASE,
         .ticks = 200,
         .min_kib = 640 * MIB,
         .grows_min = 1,
         .grows_max = 1,
         .unplugs_max = 0,
         .shrink_balloons_max = UINT32_MAX,
         .final_plugged_kib = 768 * MIB,
         .final_actual_min_kib = 640 * MIB},
        {.what = "refused unplug: balloon restored, retried ever more rarely",
         .series = SPIKE_RELEASE,
         .ticks = 200,
         .refuse_unplug = true,
         .grows_min = 1,
         .grows_max = 1,
         .unplugs_min = 2,
         .unplugs_max = 5,
         .unplug_failed_min = 2,
         .unplug_failed_max = 5,
         .shrink_balloons_max = UINT32_MAX,
         .final_plugged_kib = 768 * MIB,
         .final_actual_min_kib = 512 * MIB},
        {.what = "guest without stats: not manageable, nothing done",
         .series = SPIKE,
         .ticks = 30,
         .no_stats = true,
         .grows_max = 0,
         .unmanageable = true,
         .final_plugged_kib = 512 * MIB},
        {.what = "failed attach mid-decision: failure recorded, retried after cooldown",
         .series = SPIKE,
         .ticks = 60,
         .attach_failures = 1,
         .grows_min = 2,
         .grows_max = 2,
         .failed = 1,
         .shrink_balloons_max = 1,
         .final_plugged_kib = 768 * MIB},
        {.what = "dry run: one decision per cooldown, no change",
         .series = SPIKE,
         .ticks = 30,
         .dry_run = true,
         .grows_min = 8,
         .grows_max = 9,
         .final_plugged_kib = 512 * MIB,
         .plugged_max_kib = 512 * MIB},
};

static void test_series(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sim_case *c = &cases[i];
		struct sim g;

		run_case(c, &g);
		print_message("%s: grows %u unplugs %u balloon up %u down %u holds %u failed %u "
		              "plugged %llu actual %llu MiB\n",
		              c->what, g.grows, g.unplugs, g.up_balloons, g.down_balloons, g.holds,
		              g.failed, (unsigned long long)(g.plugged / MIB),
		              (unsigned long long)(g.actual / MIB));
		assert_in_range(g.grows, c->grows_min, c->grows_max);
		assert_in_range(g.unplugs, c->unplugs_min, c->unplugs_max);
		assert_true(g.down_balloons <= c->shrink_balloons_max);
		assert_true(g.holds >= c->holds_min);
		if (c->hold_reason)
			assert_string_equal(g.last_hold_reason, c->hold_reason);
		assert_int_equal(g.failed, c->failed);
		assert_in_range(g.unplug_failed, c->unplug_failed_min, c->unplug_failed_max);
		if (c->final_plugged_kib)
			assert_int_equal(g.plugged, c->final_plugged_kib);
		assert_true(g.actual >= c->final_actual_min_kib);
		if (c->plugged_max_kib)
			assert_true(g.max_plugged <= c->plugged_max_kib);
		assert_int_equal(g.unmanageable > 0, c->unmanageable);
		assert_true(g.actual <= g.plugged);
	}
}

/* The held-back message carries the numbers an operator needs. */
static void test_hold_numbers(void **state)
{
	const struct sim_case c = {.series = SPIKE, .ticks = 10, .host_usable_kib = 100 * MIB};
	struct sim g;

	run_case(&c, &g);
	assert_string_equal(g.last_hold_reason, "host_reserve");
	assert_non_null(strstr(g.last_hold_message, "356 MiB free"));
	assert_non_null(strstr(g.last_hold_message, "100 MiB above the 256 MiB reserve"));
}

static void test_band_unusable(void **state)
{
	struct policy_settings s = {.enabled = true,
	                            .low_free = {.percent = false, .value = 300 * MIB},
	                            .high_free = {.percent = true, .value = 30},
	                            .step_kib = 256 * MIB};
	struct policy_input in = {.now_ms = 1,
	                          .has_stats = true,
	                          .actual_kib = 512 * MIB,
	                          .usable_kib = 100 * MIB,
	                          .available_kib = 512 * MIB,
	                          .plugged_kib = 512 * MIB,
	                          .boot_kib = 512 * MIB};
	struct policy_state st = {0};
	struct policy_decision d;

	policy_decide(&s, &in, &st, &d);
	assert_int_equal(d.action, POLICY_UNMANAGEABLE);
	assert_string_equal(d.reason, "band");
}

static void test_threshold(void **state)
{
	static const struct {
		struct threshold t;
		uint64_t total, want;
		const char *text;
	} tab[] = {
	        {{true, 10}, 1000, 100, "10%"},
	        {{true, 33}, 1 << 20, 346030, "33%"},
	        {{false, 262144}, 1 << 20, 262144, "256M"},
	        {{false, 1536}, 1 << 20, 1536, "1536K"},
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char buf[32];

		assert_int_equal(threshold_kib(&tab[i].t, tab[i].total), tab[i].want);
		assert_string_equal(threshold_format(&tab[i].t, buf, sizeof(buf)), tab[i].text);
	}
}

/* A refused combination names both values, as the operator typed them. */
static void test_settings_check(void **state)
{
	static const struct {
		const char *what;
		struct threshold low, high;
		uint64_t min_kib, max_kib;
		const char *err; /* NULL: accepted */
	} tab[] = {
	        {"band", {true, 10}, {true, 30}, 0, 0, NULL},
	        {"low above high",
	         {true, 50},
	         {true, 45},
	         0,
	         0,
	         "low_free (50%) must be below high_free (45%): lower low_free or raise high_free"},
	        {"equal sizes",
	         {false, 524288},
	         {false, 524288},
	         0,
	         0,
	         "low_free (512M) must be below high_free (512M)"},
	        {"units differ: not compared", {false, 524288}, {true, 5}, 0, 0, NULL},
	        {"min above max",
	         {true, 10},
	         {true, 30},
	         8 << 20,
	         4 << 20,
	         "min (8G) must not be above max (4G)"},
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct policy_settings ps = {.low_free = tab[i].low,
		                             .high_free = tab[i].high,
		                             .step_kib = 262144,
		                             .min_kib = tab[i].min_kib,
		                             .max_kib = tab[i].max_kib};
		char *err = NULL;
		int rc = policy_settings_check(&ps, &err);

		print_message("%s\n", tab[i].what);
		if (tab[i].err == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		if (err == NULL || strstr(err, tab[i].err) == NULL)
			fail_msg("%s: \"%s\"", tab[i].what, err ? err : "(none)");
		free(err);
	}
}

static void test_metadata_roundtrip(void **state)
{
	struct policy_overrides o = {0}, back = {0};
	char *xml, *err = NULL;

	assert_int_equal(policy_overrides_put(&o, "enabled", "yes"), 0);
	assert_int_equal(policy_overrides_put(&o, "low_free", "10%"), 0);
	assert_int_equal(policy_overrides_put(&o, "enabled", "no"), 0); /* replaces */
	xml = policy_metadata_format(&o);
	assert_string_equal(xml, "<policy enabled=\"no\" low_free=\"10%\"/>");
	assert_int_equal(policy_metadata_parse(xml, &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.v[0].key, "enabled");
	assert_string_equal(back.v[0].value, "no");
	assert_string_equal(back.v[1].value, "10%");
	free(xml);
	/* what libvirt hands back carries the namespace */
	assert_int_equal(policy_metadata_parse("<memplug:policy xmlns:memplug="
	                                       "\"https://memplug.example/policy/1\" "
	                                       "step=\"128M\"/>",
	                                       &back, &err),
	                 0);
	assert_int_equal(back.n, 1);
	assert_string_equal(back.v[0].key, "step");
	assert_int_equal(policy_metadata_parse("<policy colour=\"red\"/>", &back, &err), -EINVAL);
	assert_non_null(strstr(err, "colour"));
	free(err);
	err = NULL;
	assert_int_equal(policy_metadata_parse("<policy", &back, &err), -EINVAL);
	free(err);
	policy_overrides_clear(&o);
	policy_overrides_clear(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_series),         cmocka_unit_test(test_hold_numbers),
	        cmocka_unit_test(test_band_unusable),  cmocka_unit_test(test_threshold),
	        cmocka_unit_test(test_settings_check), cmocka_unit_test(test_metadata_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
