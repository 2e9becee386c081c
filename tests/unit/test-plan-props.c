/*
 * Property test for common/plan.c: thousands of random domains from a fixed
 * seed (1-8 cells of random sizes and page sizes, 1-256 slots, existing
 * DIMMs and virtio-mem devices, odd headrooms, every strategy), and for
 * each plan the invariants docs/planner.md promises. The seed is fixed, so
 * a failure replays identically under a debugger.
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

#define PROPS_SEED    20261124u
#define PROPS_DOMAINS 5000
#define BLOCK_KIB     (UINT64_C(128) * 1024)
#define GIB_PAGE      (UINT64_C(1048576))

struct sample {
	struct domain *dom;
	struct plan_options opts;
	unsigned weights[TESTDOM_MAX_CELLS];
	uint64_t align[TESTDOM_MAX_CELLS];
};

static void random_cells(GRand *r, struct testdom *spec, struct sample *s)
{
	spec->n_cells = (size_t)g_rand_int_range(r, 1, TESTDOM_MAX_CELLS + 1);
	for (size_t i = 0; i < spec->n_cells; i++) {
		int kind = g_rand_int_range(r, 0, 10);

		spec->cells[i].mib = (uint64_t)g_rand_int_range(r, 64, 65537);
		spec->cells[i].page_kib = kind < 6 ? 0 : kind < 8 ? 2048 : GIB_PAGE;
		spec->cells[i].cpuless = g_rand_int_range(r, 0, 5) == 0;
		s->align[i] =
		        spec->cells[i].page_kib > BLOCK_KIB ? spec->cells[i].page_kib : BLOCK_KIB;
	}
}

static void random_devs(GRand *r, struct testdom *spec)
{
	unsigned max = spec->slots < TESTDOM_MAX_DEVS ? spec->slots : TESTDOM_MAX_DEVS;

	spec->n_devs = (size_t)g_rand_int_range(r, 0, (gint32)max + 1);
	for (size_t i = 0; i < spec->n_devs; i++) {
		spec->devs[i].model = g_rand_int_range(r, 0, 4) == 0 ? MEMDEV_VIRTIO_MEM
		                      : g_rand_boolean(r)            ? MEMDEV_DIMM
		                                                     : MEMDEV_NVDIMM;
		spec->devs[i].node = g_rand_int_range(r, 0, (gint32)spec->n_cells);
		spec->devs[i].mib = 128 * (uint64_t)g_rand_int_range(r, 1, 17);
	}
}

/* A node with a virtio-mem device grows through it: no share, no DIMMs. */
static bool is_vmem(const struct sample *s, size_t i)
{
	return devmodel_vmem_device(s->dom, (unsigned)i, NULL) != NULL;
}

/* Weights give some DIMM node a share when there is one (else the planner
 * rightly refuses them). */
static void random_strategy(GRand *r, struct sample *s, size_t n_cells)
{
	size_t dimm_node = n_cells;
	bool any = false;

	s->opts = (struct plan_options){.strategy = (enum plan_strategy)g_rand_int_range(r, 0, 3)};
	if (s->opts.strategy != PLAN_WEIGHTS)
		return;
	for (size_t i = 0; i < n_cells; i++) {
		s->weights[i] = (unsigned)g_rand_int_range(r, 0, 6);
		any |= s->weights[i] > 0 && !is_vmem(s, i);
		if (!is_vmem(s, i))
			dimm_node = i;
	}
	if (!any && dimm_node < n_cells)
		s->weights[dimm_node] = 1;
	s->opts.n_weights = n_cells;
	s->opts.weights = s->weights;
}

static void random_sample(GRand *r, struct sample *s)
{
	struct testdom spec = {.max_mib = 1};
	uint64_t headroom_kib;

	spec.slots = (unsigned)g_rand_int_range(r, 1, DOMAIN_MAX_SLOTS + 1);
	random_cells(r, &spec, s);
	random_devs(r, &spec);
	spec.extra_kib =
	        g_rand_int_range(r, 0, 4) == 0 ? (uint64_t)g_rand_int_range(r, 1, 1024) : 0;
	/* 0 to 512 GiB of headroom, sometimes not a whole MiB */
	headroom_kib = (uint64_t)g_rand_int_range(r, 0, 512 * 1024) * 1024;
	if (g_rand_boolean(r))
		headroom_kib += (uint64_t)g_rand_int_range(r, 0, 1024);
	s->dom = testdom_build(&spec);
	s->dom->max_memory_kib = s->dom->memory_kib + headroom_kib;
	for (size_t i = 0; i < spec.n_cells; i++)
		if (is_vmem(s, i)) /* the device's block, at least the page size */
			s->align[i] = spec.cells[i].page_kib > DEVMODEL_VMEM_BLOCK_KIB
			                      ? spec.cells[i].page_kib
			                      : DEVMODEL_VMEM_BLOCK_KIB;
	random_strategy(r, s, spec.n_cells);
}

static uint64_t weight_of(const struct sample *s, size_t i)
{
	if (is_vmem(s, i))
		return 0;
	switch (s->opts.strategy) {
	case PLAN_PROPORTIONAL:
		return s->dom->cells[i].memory_kib;
	case PLAN_EVEN:
		return 1;
	case PLAN_WEIGHTS:
		return s->weights[i];
	}
	return 0;
}

/* Each node: DIMMs non-zero, aligned, largest first, within one unit of
 * each other, summing to planned_kib; nothing on a node without weight. */
static void check_node(const struct sample *s, const struct plan *p, size_t i)
{
	const struct plan_node *n = &p->nodes[i];
	uint64_t sum = 0;

	assert_int_equal(n->align_kib, s->align[i]);
	for (size_t k = 0; k < n->n_dimms; k++) {
		assert_true(n->dimms_kib[k] > 0);
		assert_int_equal(n->dimms_kib[k] % n->align_kib, 0);
		if (k > 0)
			assert_true(n->dimms_kib[k] <= n->dimms_kib[k - 1]);
		sum += n->dimms_kib[k];
	}
	if (n->n_dimms > 0)
		assert_true(n->dimms_kib[0] - n->dimms_kib[n->n_dimms - 1] <= n->align_kib);
	assert_int_equal(sum, n->planned_kib);
	if (weight_of(s, i) == 0)
		assert_int_equal(n->n_dimms, 0);
}

/* With a slot for every weighted node, only alignment can lose memory:
 * less than the smallest alignment, and no node gets less than its ideal
 * share rounded down to its alignment. */
static void check_no_slot_loss(const struct sample *s, const struct plan *p, size_t active)
{
	unsigned __int128 wsum = 0;
	uint64_t min_align = UINT64_MAX;

	if (p->free_slots < active)
		return;
	for (size_t i = 0; i < p->n_nodes; i++) {
		wsum += weight_of(s, i);
		if (weight_of(s, i) > 0 && s->align[i] < min_align)
			min_align = s->align[i];
	}
	if (wsum == 0) { /* proportional to cells that are all virtio-mem */
		assert_int_equal(p->unreachable_kib, p->headroom_kib);
		return;
	}
	assert_true(p->unreachable_kib < min_align);
	for (size_t i = 0; i < p->n_nodes; i++) {
		uint64_t ideal =
		        (uint64_t)((unsigned __int128)p->headroom_kib * weight_of(s, i) / wsum);

		assert_true(p->nodes[i].planned_kib >= ideal / s->align[i] * s->align[i]);
	}
}

static void check_plan(const struct sample *s, const struct plan *p)
{
	uint64_t reach = 0;
	unsigned dimms = 0;
	size_t active = 0;

	assert_int_equal(p->n_nodes, s->dom->n_cells);
	assert_int_equal(p->headroom_kib, s->dom->max_memory_kib - s->dom->memory_kib);
	assert_int_equal(p->free_slots, p->slots - domain_used_slots(s->dom));
	for (size_t i = 0; i < p->n_nodes; i++) {
		check_node(s, p, i);
		reach += p->nodes[i].planned_kib;
		dimms += (unsigned)p->nodes[i].n_dimms;
		active += weight_of(s, i) > 0;
	}
	assert_int_equal(dimms, p->planned_slots);
	assert_true(p->planned_slots <= p->free_slots);
	assert_true(p->free_slots <= DOMAIN_MAX_SLOTS);
	assert_int_equal(reach, p->reachable_kib);
	assert_int_equal(p->reachable_kib + p->unreachable_kib, p->headroom_kib);
	assert_true((p->unreachable_kib == 0) == (p->unreachable_reason == NULL));
	check_no_slot_loss(s, p, active);
	/* slots to spare: every DIMM is as small as its alignment allows */
	for (size_t i = 0; p->planned_slots < p->free_slots && i < p->n_nodes; i++)
		for (size_t k = 0; k < p->nodes[i].n_dimms; k++)
			assert_int_equal(p->nodes[i].dimms_kib[k], p->nodes[i].align_kib);
}

static void test_properties(void **state)
{
	GRand *r = g_rand_new_with_seed(PROPS_SEED);
	unsigned with_unreachable = 0, slot_bound = 0;

	for (unsigned i = 0; i < PROPS_DOMAINS; i++) {
		struct sample s;
		struct plan *p = NULL;
		char *err = NULL;

		random_sample(r, &s);
		if (plan_layout(s.dom, NULL, &s.opts, &p, &err) < 0)
			fail_msg("seed %u domain %u: %s", PROPS_SEED, i, err ? err : "");
		check_plan(&s, p);
		with_unreachable += p->unreachable_kib > 0;
		slot_bound += p->planned_slots == p->free_slots;
		plan_free(p);
		domain_free(s.dom);
	}
	/* the generator must reach the interesting corners */
	assert_true(with_unreachable > PROPS_DOMAINS / 20);
	assert_true(slot_bound > PROPS_DOMAINS / 20);
	g_rand_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_properties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
