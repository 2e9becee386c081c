/*
 * Unit tests for common/plan.c: one table of hand-built domains (testdom.h)
 * with the layout expected for each, worked out by hand from the algorithm
 * in docs/planner.md; a table of refusals; and the strategy parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "plan.h"
#include "testdom.h"

/* The tables leave trailing fields (page sizes, devices) out on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define GIB_PAGE (UINT64_C(1048576))
#define DIMM     MEMDEV_DIMM

struct layout_case {
	const char *what;
	const char *strategy; /* NULL: default options */
	struct testdom dom;
	/* per guest node: DIMM sizes in MiB, "4x512" or "768,768,512"; "" none */
	const char *dimms[TESTDOM_MAX_CELLS];
	uint64_t unreachable_mib;
	const char *reason;         /* substring of unreachable_reason, NULL: none */
	enum devmodel_choice model; /* left out: auto */
};

static const struct layout_case layouts[] = {
        {"proportional to boot memory",
         NULL,
         {8192 + 8192, 16, 2, {{2048}, {6144}}},
         {"4x512", "12x512"},
         0,
         NULL},
        {"even", "even", {8192 + 8192, 16, 2, {{2048}, {6144}}}, {"8x512", "8x512"}, 0, NULL},
        {"weights 1,3 on equal cells",
         "weights:1,3",
         {8192 + 8192, 16, 2, {{4096}, {4096}}},
         {"4x512", "12x512"},
         0,
         NULL},
        {"weight 0 keeps a node empty",
         "weights:1,0",
         {8192 + 8192, 16, 2, {{4096}, {4096}}},
         {"16x512", ""},
         0,
         NULL},
        {"memory-only cell",
         NULL,
         {8192 + 2048, 4, 2, {{4096}, {4096, 0, true}}},
         {"512,512", "512,512"},
         0,
         NULL},
        {"1 GiB pages on one cell",
         NULL,
         {8192 + 4096, 8, 2, {{4096}, {4096, GIB_PAGE}}},
         {"384,384,384,384,256,256", "1024,1024"},
         0,
         NULL},
        {"existing DIMM takes a slot, virtio-mem none; the virtio-mem node takes no DIMMs",
         NULL,
         {8192, 4, 2, {{2048}, {2048}}, 2, {{DIMM, 0, 1024}, {MEMDEV_VIRTIO_MEM, 1, 1024}}},
         {"768,640,640", ""},
         0,
         NULL},
        {"--model dimm: DIMMs on the virtio-mem node too",
         NULL,
         {8192, 4, 2, {{2048}, {2048}}, 2, {{DIMM, 0, 1024}, {MEMDEV_VIRTIO_MEM, 1, 1024}}},
         {"512,512", "1024"},
         0,
         NULL,
         DEVMODEL_FORCE_DIMM},
        {"every node virtio-mem: no DIMM layout",
         NULL,
         {8192,
          4,
          2,
          {{2048}, {2048}},
          2,
          {{MEMDEV_VIRTIO_MEM, 0, 1024}, {MEMDEV_VIRTIO_MEM, 1, 1024}}},
         {"", ""},
         2048,
         "every guest node grows through virtio-mem, none by DIMMs"},
        {"--model virtio-mem on DIMM nodes: no DIMM layout either",
         NULL,
         {8192, 4, 2, {{2048}, {2048}}},
         {"", ""},
         4096,
         "every guest node grows through virtio-mem",
         DEVMODEL_FORCE_VIRTIO_MEM},
        {"few slots: fewer, larger DIMMs",
         NULL,
         {16384 + 16384, 4, 4, {{4096}, {4096}, {4096}, {4096}}},
         {"4096", "4096", "4096", "4096"},
         0,
         NULL},
        {"many slots: smallest DIMMs",
         NULL,
         {2048 + 1024, 256, 2, {{1024}, {1024}}},
         {"4x128", "4x128"},
         0,
         NULL},
        {"headroom not a multiple of 128 MiB",
         NULL,
         {1024 + 1000, 16, 1, {{1024}}},
         {"7x128"},
         104,
         "104 MiB is less than the 128 MiB DIMM alignment"},
        {"headroom not a multiple of 1 GiB pages",
         NULL,
         {2048 + 2560, 4, 1, {{2048, GIB_PAGE}}},
         {"1024,1024"},
         512,
         "512 MiB is less than the 1 GiB DIMM alignment"},
        {"rounding remainder goes where it fits",
         "even",
         {2048 + 1536, 4, 2, {{1024}, {1024, GIB_PAGE}}},
         {"4x384", ""},
         0,
         NULL},
        {"fewer free slots than nodes",
         "even",
         {16384 + 4096, 3, 4, {{4096}, {4096}, {4096}, {4096}}},
         {"1024", "1024", "1024", ""},
         1024,
         "1 GiB for lack of slots (only 3 free for 4 nodes)"},
        {"fewer slots: heaviest nodes win",
         NULL,
         {6144 + 6144, 2, 3, {{1024}, {2048}, {3072}}},
         {"", "2048", "3072"},
         1024,
         "only 2 free for 3 nodes"},
        {"all slots used",
         NULL,
         {4096 + 1024, 2, 1, {{2048}}, 2, {{DIMM, 0, 1024}, {DIMM, 0, 1024}}},
         {""},
         1024,
         "no free slots (2 of 2 used)"},
        {"already at maxMemory", NULL, {4096, 8, 2, {{2048}, {2048}}}, {"", ""}, 0, NULL},
};

/* Expands "4x512,256" into MiB sizes; returns the count. */
static size_t expand(const char *spec, uint64_t *out, size_t max)
{
	g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
	size_t n = 0;

	for (char **p = parts; *p != NULL && **p != '\0'; p++) {
		char *x = strchr(*p, 'x');
		unsigned long count = x ? strtoul(*p, NULL, 10) : 1;
		uint64_t mib = strtoull(x ? x + 1 : *p, NULL, 10);

		for (unsigned long k = 0; k < count; k++) {
			assert_true(n < max);
			out[n++] = mib;
		}
	}
	return n;
}

static void check_node(const struct layout_case *c, size_t i, const struct plan_node *n)
{
	uint64_t want[DOMAIN_MAX_SLOTS];
	size_t n_want = expand(c->dimms[i] ? c->dimms[i] : "", want, DOMAIN_MAX_SLOTS);
	uint64_t sum = 0;

	if (n->n_dimms != n_want)
		fail_msg("%s: node %zu has %zu DIMMs, want %zu", c->what, i, n->n_dimms, n_want);
	for (size_t k = 0; k < n_want; k++) {
		if (n->dimms_kib[k] != want[k] * 1024)
			fail_msg("%s: node %zu DIMM %zu is %ju KiB, want %ju MiB", c->what, i, k,
			         (uintmax_t)n->dimms_kib[k], (uintmax_t)want[k]);
		sum += n->dimms_kib[k];
	}
	assert_int_equal(n->planned_kib, sum);
	assert_int_equal(n->boot_kib, c->dom.cells[i].mib * 1024);
	assert_true((n->cpus == NULL) == c->dom.cells[i].cpuless);
}

static struct plan *plan_case(const struct layout_case *c, struct domain **dom)
{
	struct plan_options opts = {0};
	unsigned *weights = NULL;
	struct plan *p = NULL;
	char *err = NULL;
	int rc;

	*dom = testdom_build(&c->dom);
	if (c->strategy != NULL)
		assert_int_equal(plan_strategy_parse(c->strategy, &opts, &weights, NULL), 0);
	opts.model = c->model;
	rc = plan_layout(*dom, NULL, c->strategy || c->model ? &opts : NULL, &p, &err);
	free(weights);
	if (rc < 0)
		fail_msg("%s: %s", c->what, err ? err : "(no message)");
	return p;
}

static void test_layouts(void **state)
{
	for (size_t i = 0; i < G_N_ELEMENTS(layouts); i++) {
		const struct layout_case *c = &layouts[i];
		struct domain *dom = NULL;
		struct plan *p = plan_case(c, &dom);
		unsigned dimms = 0;

		print_message("layout: %s\n", c->what);
		assert_int_equal(p->n_nodes, c->dom.n_cells);
		for (size_t n = 0; n < p->n_nodes; n++) {
			check_node(c, n, &p->nodes[n]);
			dimms += (unsigned)p->nodes[n].n_dimms;
		}
		assert_int_equal(p->planned_slots, dimms);
		assert_true(p->planned_slots <= p->free_slots);
		assert_int_equal(p->unreachable_kib, c->unreachable_mib * 1024);
		assert_int_equal(p->reachable_kib + p->unreachable_kib, p->headroom_kib);
		if (c->reason == NULL)
			assert_null(p->unreachable_reason);
		else if (p->unreachable_reason == NULL || !strstr(p->unreachable_reason, c->reason))
			fail_msg("%s: reason \"%s\"", c->what,
			         p->unreachable_reason ? p->unreachable_reason : "(none)");
		plan_free(p);
		domain_free(dom);
	}
}

/* The plan keeps what it borrowed from the domain and its backing. */
static void test_node_facts(void **state)
{
	struct domain *dom = NULL;
	struct plan *p = plan_case(&layouts[6], &dom);

	assert_int_equal(p->used_slots, 1);
	assert_int_equal(p->free_slots, 3);
	assert_int_equal(p->slots, 4);
	assert_int_equal(p->nodes[0].plugged_kib, 1024 * 1024);
	/* a virtio-mem device plugs what it was asked for (0 here), not its size */
	assert_int_equal(p->nodes[1].plugged_kib, 0);
	assert_int_equal(p->nodes[0].dm.model, DEVMODEL_DIMM);
	assert_int_equal(p->nodes[1].dm.model, DEVMODEL_VIRTIO_MEM);
	assert_int_equal(p->nodes[1].align_kib, DEVMODEL_VMEM_BLOCK_KIB);
	assert_int_equal(p->dimm_nodes, 1);
	assert_int_equal(p->vmem_room_kib, 1024 * 1024);
	assert_ptr_equal(p->nodes[0].cpus, dom->cells[0].cpus);
	assert_int_equal(p->strategy, PLAN_PROPORTIONAL);
	assert_int_equal(p->model, DEVMODEL_AUTO);
	plan_free(p);
	domain_free(dom);

	p = plan_case(&layouts[5], &dom);
	assert_int_equal(p->nodes[1].backing.page_size_kib, GIB_PAGE);
	assert_int_equal(p->nodes[1].align_kib, GIB_PAGE);
	assert_int_equal(p->nodes[0].align_kib, 128 * 1024);
	plan_free(p);
	domain_free(dom);
}

/* A virtio-mem node: PLUGGED is the live <current> when the domain runs,
 * else <requested>, never the capacity; the room is size - requested. */
static void test_vmem_node(void **state)
{
	static const struct testdom spec = {
	        8192, 4, 2, {{2048}, {2048}}, 1, {{MEMDEV_VIRTIO_MEM, 1, 1024}}};
	struct domain *dom = testdom_build(&spec);
	struct plan *p = NULL;

	dom->memdevs[0].requested_kib = 262144;
	dom->memdevs[0].current_kib = 133120;
	for (int live = 0; live < 2; live++) {
		dom->id = live ? 3 : -1;
		assert_int_equal(plan_layout(dom, NULL, NULL, &p, NULL), 0);
		assert_int_equal(p->nodes[1].plugged_kib, live ? 133120 : 262144);
		assert_int_equal(p->nodes[1].dm.requested_kib, 262144);
		assert_int_equal(p->nodes[1].dm.size_kib, 1024 * 1024);
		assert_int_equal(p->vmem_room_kib, 1024 * 1024 - 262144);
		assert_int_equal(p->nodes[1].n_dimms, 0);
		assert_int_equal(p->nodes[0].planned_kib, p->headroom_kib);
		plan_free(p);
	}
	domain_free(dom);
}

/* The host snapshot does not change the layout. */
static void test_host_ignored(void **state)
{
	const struct layout_case *c = &layouts[0];
	struct domain *dom = testdom_build(&c->dom);
	struct host *h = host_new();
	struct plan *with = NULL, *without = NULL;

	host_add_node(h, 0, 1024, 0); /* nearly no memory, none free */
	assert_int_equal(plan_layout(dom, h, NULL, &with, NULL), 0);
	assert_int_equal(plan_layout(dom, NULL, NULL, &without, NULL), 0);
	for (size_t n = 0; n < dom->n_cells; n++) {
		assert_int_equal(with->nodes[n].n_dimms, without->nodes[n].n_dimms);
		assert_memory_equal(with->nodes[n].dimms_kib, without->nodes[n].dimms_kib,
		                    with->nodes[n].n_dimms * sizeof(uint64_t));
	}
	plan_free(with);
	plan_free(without);
	host_free(h);
	domain_free(dom);
}

static const struct {
	const char *what;
	const char *strategy;
	struct testdom dom;
	const char *err;
} refusals[] = {
        {"no maxMemory", NULL, {0, 0, 1, {{1024}}}, "<maxMemory>"},
        {"no NUMA cell", NULL, {4096, 4, 0}, "cell"},
        {"weights do not match the cells",
         "weights:1,2",
         {4096, 4, 3, {{512}, {512}, {512}}},
         "2 weights for 3 guest cells: give one per cell"},
        {"memory above maxMemory", NULL, {1024, 4, 1, {{2048}}}, "exceeds <maxMemory>"},
        {"weights only on the virtio-mem node",
         "weights:0,1",
         {8192, 4, 2, {{1024}, {1024}}, 1, {{MEMDEV_VIRTIO_MEM, 1, 1024}}},
         "all weights of the DIMM nodes are 0"},
};

static void test_refusals(void **state)
{
	for (size_t i = 0; i < G_N_ELEMENTS(refusals); i++) {
		struct domain *dom = testdom_build(&refusals[i].dom);
		struct plan_options opts = {0};
		unsigned *weights = NULL;
		struct plan *p = NULL;
		char *err = NULL;
		int rc;

		if (refusals[i].strategy)
			assert_int_equal(
			        plan_strategy_parse(refusals[i].strategy, &opts, &weights, NULL),
			        0);
		rc = plan_layout(dom, NULL, &opts, &p, &err);
		if (rc != -EINVAL || p != NULL || err == NULL || !strstr(err, refusals[i].err))
			fail_msg("%s: rc %d, err \"%s\"", refusals[i].what, rc,
			         err ? err : "(none)");
		free(err);
		free(weights);
		domain_free(dom);
	}
}

/* Weights built by hand, past the parser: all zero is refused too. */
static void test_zero_weights(void **state)
{
	static const unsigned zeros[] = {0, 0};
	static const struct testdom spec = {4096, 4, 2, {{1024}, {1024}}};
	struct plan_options opts = {.strategy = PLAN_WEIGHTS, .n_weights = 2, .weights = zeros};
	struct domain *dom = testdom_build(&spec);
	struct plan *p = NULL;
	char *err = NULL;

	assert_int_equal(plan_layout(dom, NULL, &opts, &p, &err), -EINVAL);
	assert_non_null(strstr(err, "all weights are 0"));
	free(err);
	domain_free(dom);
}

static const struct {
	const char *input;
	int rc;
	enum plan_strategy strategy;
	const char *weights; /* expected, comma-separated; or an error substring */
} strategies[] = {
        {"proportional", 0, PLAN_PROPORTIONAL, ""},
        {"even", 0, PLAN_EVEN, ""},
        {"weights:2,1,1", 0, PLAN_WEIGHTS, "2,1,1"},
        {"weights:0,5", 0, PLAN_WEIGHTS, "0,5"},
        {"weights:0,0", -EINVAL, 0, "at least one weight must be > 0"},
        {"weights:", -EINVAL, 0, "no weights given"},
        {"weights:1,,2", -EINVAL, 0, "\"\" is not a whole number"},
        {"weights:1,x", -EINVAL, 0, "\"x\" is not a whole number"},
        {"weights:-1", -EINVAL, 0, "\"-1\" is not a whole number"},
        {"weights:99999999", -EINVAL, 0, "0..1000000"},
        {"Even", -EINVAL, 0, "not one of proportional, even or weights:"},
        {"", -EINVAL, 0, "not one of proportional"},
};

static void test_strategy_parse(void **state)
{
	for (size_t i = 0; i < G_N_ELEMENTS(strategies); i++) {
		struct plan_options opts;
		unsigned *weights = NULL;
		char *err = NULL;
		int rc = plan_strategy_parse(strategies[i].input, &opts, &weights, &err);

		if (rc != strategies[i].rc)
			fail_msg("%s: rc %d (%s)", strategies[i].input, rc, err ? err : "");
		if (rc < 0) {
			if (err == NULL || !strstr(err, strategies[i].weights))
				fail_msg("%s: err \"%s\"", strategies[i].input, err ? err : "");
			assert_null(weights);
			free(err);
			continue;
		}
		assert_int_equal(opts.strategy, strategies[i].strategy);
		assert_string_equal(plan_strategy_name(opts.strategy),
		                    strategies[i].input[0] == 'w' ? "weights"
		                                                  : strategies[i].input);
		g_autoptr(GString) got = g_string_new(NULL);
		for (size_t k = 0; k < opts.n_weights; k++)
			g_string_append_printf(got, "%s%u", k ? "," : "", opts.weights[k]);
		assert_string_equal(got->str, strategies[i].weights);
		free(weights);
	}
}

/* The messages are prefixed by the caller with the input: they must not
 * repeat the word "strategy" ("--strategy x: strategy x: ..."). */
static void test_strategy_messages(void **state)
{
	static const char *const bad[] = {"bogus", "weights:", "weights:0", "weights:x"};

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct plan_options opts;
		unsigned *weights = NULL;
		char *err = NULL;

		assert_int_equal(plan_strategy_parse(bad[i], &opts, &weights, &err), -EINVAL);
		if (strstr(err, "strategy") != NULL || strstr(err, "bogus") != NULL)
			fail_msg("%s: \"%s\" repeats what the caller says", bad[i], err);
		free(err);
	}
}

/* A weights count that does not match is the caller's error, known before
 * planning (the CLI exits 2, the agent replies bad_request). */
static void test_options_check(void **state)
{
	static const unsigned w[] = {1, 2};
	struct plan_options weights = {.strategy = PLAN_WEIGHTS, .n_weights = 2, .weights = w};
	struct plan_options even = {.strategy = PLAN_EVEN};
	char *err = NULL;

	assert_int_equal(plan_options_check(&weights, 2, NULL), 0);
	assert_int_equal(plan_options_check(&even, 3, NULL), 0);
	assert_int_equal(plan_options_check(&weights, 3, &err), -EINVAL);
	assert_string_equal(err, "2 weights for 3 guest cells: give one per cell");
	free(err);
	err = NULL;
	/* One weight, one cell: singular, not "1 weights", "1 guest cells". */
	assert_int_equal(plan_options_check(&weights, 1, &err), -EINVAL);
	assert_string_equal(err, "2 weights for 1 guest cell: give one per cell");
	free(err);
	err = NULL;
	weights.n_weights = 1;
	assert_int_equal(plan_options_check(&weights, 2, &err), -EINVAL);
	assert_string_equal(err, "1 weight for 2 guest cells: give one per cell");
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_layouts),        cmocka_unit_test(test_node_facts),
	        cmocka_unit_test(test_vmem_node),      cmocka_unit_test(test_host_ignored),
	        cmocka_unit_test(test_refusals),       cmocka_unit_test(test_zero_weights),
	        cmocka_unit_test(test_strategy_parse), cmocka_unit_test(test_strategy_messages),
	        cmocka_unit_test(test_options_check),
	};

	plan_free(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
