/*
 * Unit tests for common/policy.c: the decision function driven through
 * time series by a simulated guest (balloon, DIMMs, a workload's used
 * memory) and a simulated clock, plus the <metadata> form of run-time
 * settings; and for common/policy_settings.c: the key table, by tables of
 * values, refusals and checks, and docs/policy.md against it. The simulator applies what the
 * decision asks for, a DIMM operation one tick later as the agent's queue would.
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

#include "../../common/domain.h"
#include "../../common/host.h"
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

/* A host read from capabilities has no free values: the cells say the host
 * is not known rather than "0 free", and a value filled in later counts. */
static void test_cells_unknown_free(void **state)
{
	const char *root = getenv("MEMPLUG_TEST_DATA");
	char path[4096];
	struct domain *dom = NULL;
	struct host *h = host_new();
	struct policy_cell *cells = NULL;
	struct host_node *n = host_add_node(h, 0, 8 * 1024 * MIB, 0);
	size_t count;

	n->free_known = false;
	snprintf(path, sizeof(path), "%s/guest-2cell.xml", root ? root : "tests/data");
	assert_int_equal(domain_parse_file(path, &dom, NULL), 0);
	count = policy_cells(dom, h, 128 * MIB, 0, &cells);
	assert_int_equal(count, 2);
	assert_false(cells[0].host_known);
	assert_false(cells[1].host_known);
	free(cells);
	assert_int_equal(host_node_set_free(n, 1024 * MIB), 0);
	count = policy_cells(dom, h, 128 * MIB, 0, &cells);
	assert_true(cells[0].host_known);
	assert_int_equal(cells[0].host_free_kib, 1024 * MIB);
	free(cells);
	host_free(h);
	domain_free(dom);
}

/* ---- the settings table (policy_settings.c) ---- */

/* The defaults of agent/config.c, written out so the tests stand alone. */
static struct policy_settings settings_default(void)
{
	return (struct policy_settings){.low_free = {.percent = true, .value = 10},
	                                .high_free = {.percent = true, .value = 30},
	                                .step_kib = 256 * MIB,
	                                .cooldown_ms = 10000,
	                                .settle_ms = 30000};
}

static void assert_settings_equal(const struct policy_settings *a, const struct policy_settings *b)
{
	assert_int_equal(a->enabled, b->enabled);
	assert_int_equal(a->dry_run, b->dry_run);
	assert_int_equal(a->low_free.percent, b->low_free.percent);
	assert_int_equal(a->low_free.value, b->low_free.value);
	assert_int_equal(a->high_free.percent, b->high_free.percent);
	assert_int_equal(a->high_free.value, b->high_free.value);
	assert_int_equal(a->step_kib, b->step_kib);
	assert_int_equal(a->cooldown_ms, b->cooldown_ms);
	assert_int_equal(a->settle_ms, b->settle_ms);
	assert_int_equal(a->min_kib, b->min_kib);
	assert_int_equal(a->max_kib, b->max_kib);
}

/* Every key: what `set` takes, and what `show` gives back for it. */
static void test_keys_roundtrip(void **state)
{
	static const struct {
		const char *key, *text, *shown;
	} tab[] = {
	        {"enabled", "yes", "yes"},    {"enabled", "true", "yes"},
	        {"enabled", "0", "no"},       {"dry_run", "1", "yes"},
	        {"dry_run", "false", "no"},   {"low_free", "15%", "15%"},
	        {"low_free", "256M", "256M"}, {"low_free", "0%", "0%"},
	        {"high_free", "1GiB", "1G"},  {"high_free", "100%", "100%"},
	        {"step", "128M", "128M"},     {"step", "1536K", "1536K"},
	        {"cooldown", "1m", "1m"},     {"cooldown", "500ms", "500ms"},
	        {"settle", "45s", "45s"},     {"min", "1G", "1G"},
	        {"min", "0G", "boot"},        {"max", "16G", "16G"},
	        {"max", "0M", "maxMemory"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct policy_settings s = settings_default(), again;
		char buf[32], *err = NULL;
		const char *shown;

		assert_int_equal(policy_settings_apply(&s, tab[i].key, tab[i].text, &err), 0);
		shown = policy_settings_value(&s, tab[i].key, buf, sizeof(buf));
		assert_non_null(shown);
		if (strcmp(shown, tab[i].shown) != 0)
			fail_msg("%s=%s shows as '%s', not '%s'", tab[i].key, tab[i].text, shown,
			         tab[i].shown);
		/* what show prints, set takes back to the same settings */
		again = settings_default();
		if (strcmp(shown, "boot") != 0 && strcmp(shown, "maxMemory") != 0) {
			assert_int_equal(policy_settings_apply(&again, tab[i].key, shown, NULL), 0);
			assert_settings_equal(&again, &s);
		}
	}
}

/* Bad values are refused by the row's parser, and leave the settings alone. */
static void test_keys_refused(void **state)
{
	static const struct {
		const char *key, *text, *why;
	} tab[] = {
	        {"enabled", "maybe", "not true or false"},
	        {"dry_run", "", "not true or false"},
	        {"low_free", "101%", "not a percent"},
	        {"low_free", "-5%", "not a percent"},
	        {"high_free", "lots", ""},
	        {"step", "128", "no unit"},
	        {"cooldown", "soon", ""},
	        {"settle", "10", ""},
	        {"min", "1X", ""},
	        {"speed", "3",
	         "unknown policy key 'speed' (enabled, dry_run, low_free, "
	         "high_free, step, cooldown, settle, min, max)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct policy_settings s = settings_default(), before = s;
		char *err = NULL;

		if (policy_settings_apply(&s, tab[i].key, tab[i].text, &err) != -EINVAL)
			fail_msg("%s=%s was taken", tab[i].key, tab[i].text);
		assert_non_null(err);
		if (strstr(err, tab[i].why) == NULL)
			fail_msg("%s=%s: '%s' does not say '%s'", tab[i].key, tab[i].text, err,
			         tab[i].why);
		assert_settings_equal(&s, &before);
		free(err);
	}
}

/* policy_settings_set: the row's bound, then the keys' relations. */
static void test_keys_check(void **state)
{
	static const struct {
		const char *what, *k1, *v1, *k2, *v2, *why; /* why NULL: accepted */
	} tab[] = {
	        {"step 0", "step", "0M", NULL, NULL, "step must be above 0"},
	        {"step 4K", "step", "4K", NULL, NULL, NULL},
	        {"band upside down", "low_free", "40%", NULL, NULL,
	         "low_free (40%) must be below high_free (30%): lower low_free or raise high_free"},
	        {"band empty", "high_free", "10%", NULL, NULL,
	         "low_free (10%) must be below high_free (10%): lower low_free or raise high_free"},
	        {"band in sizes", "low_free", "1G", "high_free", "512M",
	         "low_free (1G) must be below high_free (512M): lower low_free or raise high_free"},
	        {"mixed units not compared", "low_free", "4G", NULL, NULL, NULL},
	        {"min above max", "max", "2G", "min", "4G", "min (4G) must not be above max (2G)"},
	        {"min equals max", "max", "2G", "min", "2G", NULL},
	        {"min with max unset", "min", "64G", NULL, NULL, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct policy_settings s = settings_default(), before;
		char *err = NULL;
		int rc = 0;

		if (tab[i].k2 != NULL)
			assert_int_equal(policy_settings_apply(&s, tab[i].k1, tab[i].v1, NULL), 0);
		before = s;
		rc = tab[i].k2 != NULL ? policy_settings_set(&s, tab[i].k2, tab[i].v2, &err)
		                       : policy_settings_set(&s, tab[i].k1, tab[i].v1, &err);
		if (tab[i].why == NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", tab[i].what, err);
			continue;
		}
		if (rc != -EINVAL || strcmp(err, tab[i].why) != 0)
			fail_msg("%s: rc %d, '%s', wanted '%s'", tab[i].what, rc, err ? err : "",
			         tab[i].why);
		assert_settings_equal(&s, &before);
		free(err);
	}
}

/* min and max against the domain: within boot memory and maxMemory (or
 * <memory> without one); the refusal names both numbers and what to do. */
static void test_keys_domain(void **state)
{
	static const struct policy_domain_bounds web = {"web", 2 * 1024 * MIB, 8 * 1024 * MIB,
	                                                3 * 1024 * MIB};
	static const struct policy_domain_bounds flat = {"flat", 2 * 1024 * MIB, 0, 3 * 1024 * MIB};
	static const struct {
		const char *what;
		const struct policy_domain_bounds *b;
		const char *key, *value;
		const char *why; /* NULL: accepted */
	} tab[] = {
	        {"min at boot", &web, "min", "2G", NULL},
	        {"min at maxMemory", &web, "min", "8G", NULL},
	        {"max at maxMemory", &web, "max", "8G", NULL},
	        {"max at boot", &web, "max", "2G", NULL},
	        {"min 0: the boot memory", &web, "min", "0G", NULL},
	        {"step is no size of the guest", &web, "step", "64G", NULL},
	        {"min below boot", &web, "min", "1G",
	         "min 1G is below the boot memory of web (2G), which the guest never goes below: "
	         "set min between 2G and 8G, or unset it (memplugctl policy web unset min)"},
	        {"max below boot", &web, "max", "1536M",
	         "max 1536M is below the boot memory of web (2G), which the guest never goes "
	         "below: set max between 2G and 8G, or unset it (memplugctl policy web unset max)"},
	        {"min above maxMemory", &web, "min", "9G",
	         "min 9G is above the maxMemory of web (8G), beyond which nothing can be plugged: "
	         "set min between 2G and 8G, or raise its <maxMemory> first (memplugctl prepare "
	         "--max, then restart it)"},
	        {"max above maxMemory", &web, "max", "16G",
	         "max 16G is above the maxMemory of web (8G), beyond which nothing can be "
	         "plugged: set max between 2G and 8G, or raise its <maxMemory> first (memplugctl "
	         "prepare --max, then restart it)"},
	        {"no maxMemory: up to <memory>", &flat, "max", "3G", NULL},
	        {"no maxMemory: above <memory>", &flat, "max", "4G",
	         "max 4G is above the memory of flat (3G), which has no <maxMemory> to plug more: "
	         "set max between 2G and 3G, or give it a <maxMemory> first (memplugctl prepare "
	         "--max, then restart it)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct policy_settings s = settings_default();
		const struct policy_key *k = policy_key_find(tab[i].key);
		char *err = NULL;
		int rc;

		assert_int_equal(policy_settings_apply(&s, tab[i].key, tab[i].value, NULL), 0);
		rc = policy_key_check_domain(k, &s, tab[i].b, &err);
		if (tab[i].why == NULL && rc != 0)
			fail_msg("%s: refused: %s", tab[i].what, err);
		if (tab[i].why != NULL && (rc != -EINVAL || strcmp(err, tab[i].why) != 0))
			fail_msg("%s: rc %d, '%s', wanted '%s'", tab[i].what, rc, err ? err : "",
			         tab[i].why);
		free(err);
	}
}

/* unset: a run-time value goes, the others keep their order. */
static void test_overrides_remove(void **state)
{
	struct policy_overrides o = {0};
	char *xml;

	(void)state;
	assert_int_equal(policy_overrides_put(&o, "enabled", "yes"), 0);
	assert_int_equal(policy_overrides_put(&o, "min", "2G"), 0);
	assert_int_equal(policy_overrides_put(&o, "max", "4G"), 0);
	assert_int_equal(policy_overrides_remove(&o, "min"), 0);
	assert_int_equal(policy_overrides_remove(&o, "min"), -ENOENT);
	assert_int_equal(policy_overrides_remove(&o, "step"), -ENOENT);
	xml = policy_metadata_format(&o);
	assert_string_equal(xml, "<policy enabled=\"yes\" max=\"4G\"/>");
	free(xml);
	assert_int_equal(policy_overrides_remove(&o, "max"), 0);
	assert_int_equal(policy_overrides_remove(&o, "enabled"), 0);
	assert_int_equal(o.n, 0);
	xml = policy_metadata_format(&o);
	assert_string_equal(xml, "<policy/>");
	free(xml);
	policy_overrides_clear(&o);
}

/* The rows themselves: names unique and found, fields inside the struct, and
 * every printed default parsed back. */
static void test_keys_rows(void **state)
{
	struct policy_settings s = settings_default();

	(void)state;
	for (size_t i = 0; i < POLICY_N_KEYS; i++) {
		const struct policy_key *k = &policy_keys[i];
		char buf[32];

		assert_ptr_equal(policy_key_find(k->name), k);
		assert_true(k->offset < sizeof(struct policy_settings));
		assert_non_null(k->parse);
		assert_non_null(k->print);
		assert_non_null(k->doc);
		assert_non_null(policy_key_format(k, &s, buf, sizeof(buf)));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(policy_keys[j].name, k->name);
	}
	assert_null(policy_key_find("speed"));
	assert_null(policy_settings_value(&s, "speed", NULL, 0));
}

/* docs/policy.md's settings table says what each row's doc says, key by key,
 * and lists no key the table lacks. */
static void test_keys_documented(void **state)
{
	const char *data = getenv("MEMPLUG_TEST_DATA");
	char path[4096], line[1024];
	size_t rows = 0;
	FILE *f;

	(void)state;
	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/../../docs/policy.md", data);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char key[64];
		const struct policy_key *k;
		size_t n;

		if (sscanf(line, "| `%63[a-z_]` |", key) != 1)
			continue;
		k = policy_key_find(key);
		if (k == NULL)
			fail_msg("docs/policy.md lists '%s', which is no policy key", key);
		n = strlen(k->doc);
		if (strncmp(line + strlen(key) + 7, k->doc, n) != 0 ||
		    strncmp(line + strlen(key) + 7 + n, " |", 2) != 0)
			fail_msg("docs/policy.md on %s: %s  the table says: %s", key, line, k->doc);
		rows++;
	}
	fclose(f);
	assert_int_equal(rows, POLICY_N_KEYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_series),
	        cmocka_unit_test(test_hold_numbers),
	        cmocka_unit_test(test_band_unusable),
	        cmocka_unit_test(test_threshold),
	        cmocka_unit_test(test_settings_check),
	        cmocka_unit_test(test_metadata_roundtrip),
	        cmocka_unit_test(test_cells_unknown_free),
	        cmocka_unit_test(test_keys_roundtrip),
	        cmocka_unit_test(test_keys_refused),
	        cmocka_unit_test(test_keys_check),
	        cmocka_unit_test(test_keys_domain),
	        cmocka_unit_test(test_overrides_remove),
	        cmocka_unit_test(test_keys_rows),
	        cmocka_unit_test(test_keys_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
