/*
 * Unit tests for common/select.c: every grow pre-flight refusal, the node
 * choice with and without --node on a fabricated two-node host, DIMM counts
 * and the slot kept for later growth, and the exact shrink set. Domains are
 * built by hand from small specs so each case says what it is about.
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
#include <json-c/json.h>

#include "report.h"
#include "select.h"

#define MIB       UINT64_C(1024)
#define GIB       (UINT64_C(1024) * 1024)
#define MAX_CELLS 4
#define MAX_DIMMS 8

struct spec_dimm {
	int node;
	uint64_t mib;
	const char *alias; /* NULL: no alias */
	int slot;          /* -1: no address */
	enum memdev_model model;
};

struct dom_spec {
	unsigned n_cells;
	uint64_t cell_mib[MAX_CELLS];
	uint64_t max_mib; /* 0: no <maxMemory> */
	unsigned slots;
	int huge_cell; /* cell with <page nodeset>, -1 none */
	uint64_t huge_kib;
	int host_of[MAX_CELLS]; /* memnode nodeset per cell, -1 none */
	size_t n_dimms;
	struct spec_dimm dimms[MAX_DIMMS];
};

/* Host node free memory (MiB) and free 2 MiB pages on node 1. */
struct host_spec {
	bool present;
	uint64_t free_mib[2];
	uint64_t free_2m_pages1;
	bool free_unknown; /* a host read from capabilities: no free values */
};

static struct domain *dom_build(const struct dom_spec *s)
{
	struct domain *d = calloc(1, sizeof(*d));

	d->name = strdup("vm");
	d->id = 1;
	d->max_memory_kib = s->max_mib * MIB;
	d->slots = s->slots;
	d->n_cells = s->n_cells;
	d->cells = calloc(MAX_CELLS, sizeof(*d->cells));
	d->memnodes = calloc(MAX_CELLS, sizeof(*d->memnodes));
	for (unsigned i = 0; i < s->n_cells; i++) {
		d->cells[i].id = i;
		d->cells[i].memory_kib = s->cell_mib[i] * MIB;
		d->memory_kib += d->cells[i].memory_kib;
		if (s->host_of[i] < 0)
			continue;
		d->memnodes[d->n_memnodes].cellid = i;
		d->memnodes[d->n_memnodes].mode = NUMA_MODE_STRICT;
		nodeset_set(&d->memnodes[d->n_memnodes++].nodeset, (unsigned)s->host_of[i]);
	}
	if (s->huge_cell >= 0) {
		d->hugepages = true;
		d->n_pages = 1;
		d->pages = calloc(1, sizeof(*d->pages));
		d->pages[0].size_kib = s->huge_kib;
		d->pages[0].has_nodeset = true;
		nodeset_set(&d->pages[0].nodeset, (unsigned)s->huge_cell);
	}
	d->n_memdevs = s->n_dimms;
	d->memdevs = calloc(MAX_DIMMS, sizeof(*d->memdevs));
	for (size_t i = 0; i < s->n_dimms; i++) {
		struct domain_memdev *m = &d->memdevs[i];

		m->model = s->dimms[i].model;
		m->alias = s->dimms[i].alias ? strdup(s->dimms[i].alias) : NULL;
		m->target_node = s->dimms[i].node;
		m->size_kib = s->dimms[i].mib * MIB;
		m->has_slot = s->dimms[i].slot >= 0;
		m->slot = m->has_slot ? (unsigned)s->dimms[i].slot : 0;
		d->memory_kib += m->size_kib;
	}
	d->current_memory_kib = d->memory_kib;
	return d;
}

static void dom_release(struct domain *d)
{
	for (size_t i = 0; i < d->n_memdevs; i++)
		free(d->memdevs[i].alias);
	free(d->memdevs);
	free(d->pages);
	free(d->memnodes);
	free(d->cells);
	free(d->name);
	free(d);
}

static struct host *host_build(const struct host_spec *s)
{
	struct host *h;
	struct host_node *n;

	if (!s->present)
		return NULL;
	h = host_new();
	assert_non_null(h);
	assert_non_null(host_add_node(h, 0, 16 * GIB, s->free_mib[0] * MIB));
	n = host_add_node(h, 1, 16 * GIB, s->free_mib[1] * MIB);
	assert_non_null(n);
	assert_int_equal(host_node_add_pool(n, 2048, 8192, s->free_2m_pages1), 0);
	for (size_t i = 0; s->free_unknown && i < h->n_nodes; i++) {
		h->nodes[i].free_known = false;
		for (size_t j = 0; j < h->nodes[i].n_pools; j++)
			h->nodes[i].pools[j].free_known = false;
	}
	return h;
}

/* Two 2 GiB cells, 16 GiB max, 8 slots, cell i on host node i; cell 1 on
 * 2 MiB hugepages only where a case says so. */
#define TWO_CELLS                                                                                  \
	.n_cells = 2, .cell_mib = {2048, 2048}, .max_mib = 16384, .slots = 8, .huge_cell = -1,     \
	.host_of = {0, 1}
#define ROOMY_HOST                                                                                 \
	{                                                                                          \
		.present = true, .free_mib = {8192, 8192}, .free_2m_pages1 = 4096                  \
	}

/* ---- grow refusals ---- */

struct grow_refusal {
	const char *what;
	struct dom_spec dom;
	struct host_spec host;
	uint64_t size_kib;
	int node;
	uint64_t reserve_mib;
	enum select_code code;
	const char *says[3]; /* substrings the message must contain */
};

static const struct grow_refusal grow_refusals[] = {
        {"zero size", {TWO_CELLS}, ROOMY_HOST, 0, -1, 0, SELECT_BAD_SIZE, {"more than 0"}},
        {"larger than maxMemory",
         {TWO_CELLS},
         ROOMY_HOST,
         32 * GIB,
         -1,
         0,
         SELECT_BAD_SIZE,
         {"32 GiB is larger than maxMemory (16 GiB)"}},
        {"overflow", {TWO_CELLS}, ROOMY_HOST, UINT64_MAX, 0, 0, SELECT_BAD_SIZE, {"larger than"}},
        {"no maxMemory",
         {.n_cells = 2, .cell_mib = {1024, 1024}, .huge_cell = -1, .host_of = {-1, -1}},
         ROOMY_HOST,
         GIB,
         -1,
         0,
         SELECT_CANNOT_HOTPLUG,
         {"cannot hot-plug memory", "maxMemory"}},
        {"no NUMA cell",
         {.n_cells = 0, .max_mib = 8192, .slots = 4, .huge_cell = -1},
         ROOMY_HOST,
         GIB,
         -1,
         0,
         SELECT_CANNOT_HOTPLUG,
         {"cell"}},
        {"node does not exist",
         {TWO_CELLS},
         ROOMY_HOST,
         GIB,
         5,
         0,
         SELECT_NO_NODE,
         {"guest node 5 does not exist", "nodes 0-1"}},
        {"no free slot",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 2,
          .huge_cell = -1,
          .host_of = {0, 1},
          .n_dimms = 2,
          .dimms = {{0, 256, "ua-a", 0, MEMDEV_DIMM}, {1, 256, "ua-b", 1, MEMDEV_DIMM}}},
         ROOMY_HOST,
         GIB,
         -1,
         0,
         SELECT_NO_SLOTS,
         {"all 2 memory slots are in use"}},
        {"no headroom",
         {.n_cells = 2,
          .cell_mib = {2048, 1536},
          .max_mib = 4096,
          .slots = 4,
          .huge_cell = -1,
          .host_of = {0, 1}},
         ROOMY_HOST,
         GIB,
         0,
         0,
         SELECT_NO_HEADROOM,
         {"1 GiB does not fit", "3584 MiB of maxMemory 4 GiB", "512 MiB left"}},
        {"not aligned, two nearest sizes",
         {TWO_CELLS},
         ROOMY_HOST,
         700 * MIB,
         0,
         0,
         SELECT_NOT_ALIGNED,
         {"700 MiB is not a multiple of guest node 0's alignment, 128 MiB",
          "nearest valid sizes: 640 MiB and 768 MiB"}},
        {"not aligned without --node",
         {TWO_CELLS},
         ROOMY_HOST,
         100 * MIB,
         -1,
         0,
         SELECT_NOT_ALIGNED,
         {"guest nodes' alignment, 128 MiB", "nearest valid size: 128 MiB"}},
        {"not aligned to 1 GiB pages",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 8,
          .huge_cell = 1,
          .huge_kib = GIB,
          .host_of = {0, 1}},
         {0},
         768 * MIB,
         1,
         0,
         SELECT_NOT_ALIGNED,
         {"alignment, 1 GiB (the backing page size)", "nearest valid size: 1 GiB"}},
        {"host memory below the reserve",
         {TWO_CELLS},
         {.present = true, .free_mib = {2048, 8192}},
         2 * GIB,
         0,
         1024,
         SELECT_HOST_MEMORY,
         {"host node 0 has 2 GiB free and keeps 1 GiB per node in reserve",
          "2 GiB needed for guest node 0"}},
        {"unbound node checks the whole host",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 8,
          .huge_cell = -1,
          .host_of = {-1, -1}},
         {.present = true, .free_mib = {512, 512}},
         2 * GIB,
         1,
         0,
         SELECT_HOST_MEMORY,
         {"the host has 1 GiB free", "2 GiB needed for guest node 1"}},
        {"hugepage pool too small",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 8,
          .huge_cell = 1,
          .huge_kib = 2048,
          .host_of = {0, 1}},
         {.present = true, .free_mib = {8192, 8192}, .free_2m_pages1 = 12},
         768 * MIB,
         1,
         0,
         SELECT_HUGEPAGES,
         {"host node 1 has 12 free 2 MiB hugepages, 384 needed", "768 MiB on guest node 1"}},
        {"spread that no host node can supply",
         {TWO_CELLS},
         {.present = true, .free_mib = {256, 256}},
         GIB,
         -1,
         0,
         SELECT_HOST_MEMORY,
         {"256 MiB free", "needed for guest node"}},
};

static void test_grow_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(grow_refusals) / sizeof(grow_refusals[0]); i++) {
		const struct grow_refusal *t = &grow_refusals[i];
		struct domain *d = dom_build(&t->dom);
		struct host *h = host_build(&t->host);
		struct select_grow_req req = {.size_kib = t->size_kib,
		                              .node = t->node,
		                              .host_reserve_kib = t->reserve_mib * MIB};
		struct select_result *r = NULL;
		char *err = NULL;

		print_message("grow refusal: %s\n", t->what);
		assert_int_equal(select_grow(d, h, &req, &r, &err), 0);
		assert_null(err);
		assert_string_equal(select_code_name(r->code), select_code_name(t->code));
		assert_non_null(r->message);
		for (size_t k = 0; k < 3 && t->says[k] != NULL; k++)
			if (strstr(r->message, t->says[k]) == NULL)
				fail_msg("%s: \"%s\" lacks \"%s\"", t->what, r->message,
				         t->says[k]);
		assert_int_equal(r->n_dimms, 0);
		select_result_free(r);
		host_free(h);
		dom_release(d);
	}
}

/* ---- the domain's own binding: preallocation on CPU-less host nodes,
 * hugepages outside the global strict nodeset ---- */

struct binding_case {
	const char *what;
	bool huge;          /* cell 1 on 2 MiB hugepages */
	bool immediate;     /* <allocation mode='immediate'> */
	const char *cell1;  /* memnode nodeset of cell 1 */
	const char *global; /* <numatune><memory mode='strict' nodeset>, or NULL */
	bool cpus_known;    /* nodes 0 and 1 have a CPU each (else no node has) */
	uint64_t pages[3];  /* free 2 MiB pages on host nodes 0, 1, 2 */
	uint64_t size_mib;  /* grown on guest node 1 */
	enum select_code code;
	const char *says[2];
};

static const struct binding_case binding_cases[] = {
        {"hugepages bound to a CPU-less node",
         true,
         false,
         "2",
         NULL,
         true,
         {0, 0, 512},
         256,
         SELECT_PREALLOC_CPULESS,
         {"host node 2, which has no CPUs", "2 MiB hugepages"}},
        {"immediate allocation bound to a CPU-less node",
         false,
         true,
         "2",
         NULL,
         true,
         {0},
         256,
         SELECT_PREALLOC_CPULESS,
         {"host node 2, which has no CPUs", "allocation mode='immediate'"}},
        {"ordinary memory bound to a CPU-less node",
         false,
         false,
         "2",
         NULL,
         true,
         {0},
         256,
         SELECT_OK,
         {NULL}},
        {"immediate allocation on a CPU-less and a CPU node",
         false,
         true,
         "1-2",
         NULL,
         true,
         {0},
         256,
         SELECT_OK,
         {NULL}},
        {"CPU-less node, but the host source gave no CPUs",
         true,
         false,
         "2",
         NULL,
         false,
         {0, 0, 512},
         256,
         SELECT_OK,
         {NULL}},
        {"hugepages partly outside the global nodeset, short",
         true,
         false,
         "0-1",
         "0",
         true,
         {16, 4096, 0},
         256,
         SELECT_OUTSIDE_NODESET,
         {"host node 0 has 16 free 2 MiB hugepages, 128 needed", "nodeset='0'"}},
        {"hugepages wholly outside the global nodeset",
         true,
         false,
         "1",
         "0",
         true,
         {512, 4096, 0},
         256,
         SELECT_OUTSIDE_NODESET,
         {"none of them lies inside it, so there are 0 free", "on host node 1,"}},
        {"hugepages partly outside the global nodeset, node 0 suffices",
         true,
         false,
         "0-1",
         "0",
         true,
         {128, 0, 0},
         256,
         SELECT_OK,
         {NULL}},
        {"ordinary memory outside the global nodeset",
         false,
         false,
         "2",
         "0",
         true,
         {0},
         256,
         SELECT_OK,
         {NULL}},
        {"hugepages inside the global nodeset",
         true,
         false,
         "1",
         "0-1",
         true,
         {0, 128, 0},
         256,
         SELECT_OK,
         {NULL}},
        {"the pool inside the global nodeset is short",
         true,
         false,
         "1",
         "0-1",
         true,
         {512, 64, 0},
         256,
         SELECT_HUGEPAGES,
         {"host node 1 has 64 free", NULL}},
};

static struct host *binding_host(const struct binding_case *t)
{
	struct host *h = host_new();

	assert_non_null(h);
	for (unsigned id = 0; id < 3; id++) {
		struct host_node *n = host_add_node(h, id, 16 * GIB, 8 * GIB);

		assert_non_null(n);
		if (t->cpus_known && id < 2)
			nodeset_set(&n->cpus, id);
		assert_int_equal(host_node_add_pool(n, 2048, 8192, t->pages[id]), 0);
	}
	return h;
}

static struct domain *binding_dom(const struct binding_case *t)
{
	struct dom_spec spec = {TWO_CELLS};
	struct domain *d;

	spec.host_of[1] = -1;
	spec.huge_cell = t->huge ? 1 : -1;
	spec.huge_kib = 2048;
	d = dom_build(&spec);
	d->alloc_immediate = t->immediate;
	d->memnodes[d->n_memnodes].cellid = 1;
	d->memnodes[d->n_memnodes].mode = NUMA_MODE_STRICT;
	assert_int_equal(nodeset_parse(t->cell1, &d->memnodes[d->n_memnodes++].nodeset, NULL), 0);
	if (t->global != NULL) {
		d->has_numatune_memory = true;
		d->numatune_mode = NUMA_MODE_STRICT;
		d->numatune_placement = NUMA_PLACEMENT_STATIC;
		d->has_numatune_nodeset = true;
		assert_int_equal(nodeset_parse(t->global, &d->numatune_nodeset, NULL), 0);
	}
	return d;
}

static void test_grow_binding(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(binding_cases) / sizeof(binding_cases[0]); i++) {
		const struct binding_case *t = &binding_cases[i];
		struct domain *d = binding_dom(t);
		struct host *h = binding_host(t);
		struct select_grow_req req = {.size_kib = t->size_mib * MIB, .node = 1};
		struct select_result *r = NULL;

		print_message("grow binding: %s\n", t->what);
		assert_int_equal(select_grow(d, h, &req, &r, NULL), 0);
		print_message("  %s: %s\n", select_code_name(r->code),
		              r->message ? r->message : "");
		if (r->code != t->code)
			fail_msg("%s: got %s (%s), want %s", t->what, select_code_name(r->code),
			         r->message ? r->message : "", select_code_name(t->code));
		for (size_t k = 0; k < 2 && t->says[k] != NULL; k++)
			if (strstr(r->message, t->says[k]) == NULL)
				fail_msg("%s: \"%s\" lacks \"%s\"", t->what, r->message,
				         t->says[k]);
		assert_int_equal(r->n_dimms, t->code == SELECT_OK ? 1 : 0);
		select_result_free(r);
		host_free(h);
		dom_release(d);
	}
}

/* ---- grow choices ---- */

struct grow_case {
	const char *what;
	struct dom_spec dom;
	struct host_spec host;
	uint64_t size_kib;
	int node;
	uint64_t planned_mib[MAX_CELLS]; /* a hand-made layout; all 0: plan_layout */
	size_t n_dimms;
	struct {
		unsigned node;
		uint64_t mib;
	} dimms[MAX_CELLS];
	const char *reason; /* substring of the first DIMM's reason, or NULL */
	bool warns;
};

static const struct grow_case grow_cases[] = {
        {"--node puts everything on that node, one DIMM",
         {TWO_CELLS},
         ROOMY_HOST,
         3 * GIB,
         1,
         {0},
         1,
         {{1, 3072}},
         "node 1: chosen with --node; host node 1 has 8 GiB free",
         false},
        {"--node on a hugepage node names the pool",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 8,
          .huge_cell = 1,
          .huge_kib = 2048,
          .host_of = {0, 1}},
         ROOMY_HOST,
         768 * MIB,
         1,
         {0},
         1,
         {{1, 768}},
         "host node 1 has 4096 free 2 MiB hugepages",
         false},
        {"free memory unknown (0 as a number): not refused, not checked, and said so",
         {TWO_CELLS},
         {.present = true, .free_unknown = true},
         3 * GIB,
         0,
         {0},
         1,
         {{0, 3072}},
         "node 0: chosen with --node; host not checked: free memory on host node 0 unknown",
         false},
        {"free hugepages unknown: the spread is not bounded by them, and says so",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 8,
          .huge_cell = 0,
          .huge_kib = 2048,
          .host_of = {1, 1}},
         {.present = true, .free_unknown = true},
         GIB,
         -1,
         {4096, 4096},
         2,
         {{0, 512}, {1, 512}},
         "host not checked: free 2 MiB hugepages on host node 1 unknown",
         false},
        {"spread evenly over equal shares",
         {TWO_CELLS},
         ROOMY_HOST,
         GIB,
         -1,
         {4096, 4096},
         2,
         {{0, 512}, {1, 512}},
         "node 0: 512 MiB of the 4 GiB still planned for it; host node 0 has 8 GiB free",
         false},
        {"spread follows unequal shares",
         {TWO_CELLS},
         ROOMY_HOST,
         GIB,
         -1,
         {6144, 2048},
         2,
         {{0, 768}, {1, 256}},
         NULL,
         false},
        {"a tie goes to the node whose host node has more free",
         {TWO_CELLS},
         {.present = true, .free_mib = {2048, 6144}},
         128 * MIB,
         -1,
         {4096, 4096},
         1,
         {{1, 128}},
         "host node 1 has 6 GiB free",
         false},
        {"a short host node gets only what it can supply",
         {TWO_CELLS},
         {.present = true, .free_mib = {256, 8192}},
         GIB,
         -1,
         {4096, 4096},
         2,
         {{0, 256}, {1, 768}},
         NULL,
         false},
        {"a node without share is used only when the others cannot",
         {TWO_CELLS},
         {.present = true, .free_mib = {8192, 512}},
         GIB,
         -1,
         {0, 4096},
         2,
         {{0, 512}, {1, 512}},
         "node 0: no share left in the layout",
         false},
        {"one slot kept: three nodes, three slots, two touched",
         {.n_cells = 3,
          .cell_mib = {1024, 1024, 1024},
          .max_mib = 16384,
          .slots = 3,
          .huge_cell = -1,
          .host_of = {0, 1, 1}},
         ROOMY_HOST,
         768 * MIB,
         -1,
         {4096, 4096, 4096},
         2,
         {{0, 384}, {1, 384}},
         NULL,
         false},
        {"the last slot is taken, with a warning",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 1,
          .huge_cell = -1,
          .host_of = {0, 1}},
         ROOMY_HOST,
         GIB,
         -1,
         {4096, 4096},
         1,
         {{0, 1024}},
         NULL,
         true},
        {"no host snapshot: nothing checked, still chosen",
         {TWO_CELLS},
         {0},
         512 * MIB,
         0,
         {0},
         1,
         {{0, 512}},
         "host not checked",
         false},
};

static struct plan *plan_by_hand(const struct grow_case *t)
{
	struct plan *p;

	if (t->planned_mib[0] == 0 && t->planned_mib[1] == 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	p->n_nodes = t->dom.n_cells;
	p->nodes = calloc(p->n_nodes, sizeof(*p->nodes));
	for (size_t i = 0; i < p->n_nodes; i++) {
		p->nodes[i].id = (unsigned)i;
		p->nodes[i].planned_kib = t->planned_mib[i] * MIB;
	}
	return p;
}

static void test_grow_choices(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(grow_cases) / sizeof(grow_cases[0]); i++) {
		const struct grow_case *t = &grow_cases[i];
		struct domain *d = dom_build(&t->dom);
		struct host *h = host_build(&t->host);
		struct plan *p = plan_by_hand(t);
		struct select_grow_req req = {.size_kib = t->size_kib, .node = t->node, .plan = p};
		struct select_result *r = NULL;
		char *err = NULL;

		print_message("grow: %s\n", t->what);
		assert_int_equal(select_grow(d, h, &req, &r, &err), 0);
		if (r->code != SELECT_OK)
			fail_msg("%s: refused: %s", t->what, r->message);
		assert_int_equal(r->n_dimms, t->n_dimms);
		assert_int_equal(r->total_kib, t->size_kib);
		for (size_t k = 0; k < t->n_dimms; k++) {
			assert_int_equal(r->dimms[k].node, t->dimms[k].node);
			assert_int_equal(r->dimms[k].size_kib, t->dimms[k].mib * MIB);
			assert_int_equal(
			        r->dimms[k].size_kib % backing_align_kib(&r->dimms[k].backing), 0);
		}
		if (t->reason != NULL && strstr(r->dimms[0].reason, t->reason) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", t->what, r->dimms[0].reason,
			         t->reason);
		assert_int_equal(r->warning != NULL, t->warns);
		free(p != NULL ? p->nodes : NULL);
		free(p);
		select_result_free(r);
		host_free(h);
		dom_release(d);
	}
}

/* The backing reported for a hugepage DIMM is the cell's. */
static void test_grow_backing(void **state)
{
	struct dom_spec s = {.n_cells = 2,
	                     .cell_mib = {2048, 2048},
	                     .max_mib = 16384,
	                     .slots = 8,
	                     .huge_cell = 1,
	                     .huge_kib = 2048,
	                     .host_of = {0, 1}};
	struct domain *d = dom_build(&s);
	struct select_grow_req req = {.size_kib = 256 * MIB, .node = 1};
	struct select_result *r = NULL;

	(void)state;
	assert_int_equal(select_grow(d, NULL, &req, &r, NULL), 0);
	assert_int_equal(r->code, SELECT_OK);
	assert_int_equal(r->dimms[0].backing.page_size_kib, 2048);
	assert_true(r->dimms[0].backing.hugepages);
	assert_true(nodeset_test(&r->dimms[0].backing.host_nodes, 1));
	select_result_free(r);
	dom_release(d);
}

/* ---- shrink ---- */

/* Cell 0: a0 256 MiB (slot 0), a1 512 MiB (slot 1), a2 256 MiB (slot 2);
 * cell 1: b0 1 GiB (slot 3); plus an NVDIMM and an unnamed DIMM on cell 0,
 * which are never candidates. */
#define SHRINK_DOM                                                                                 \
	{                                                                                          \
		.n_cells = 2, .cell_mib = {2048, 2048}, .max_mib = 16384, .slots = 16,             \
		.huge_cell = -1, .host_of = {0, 1}, .n_dimms = 6, .dimms = {                       \
			{0, 256, "ua-a0", 0, MEMDEV_DIMM},                                         \
			{0, 512, "ua-a1", 1, MEMDEV_DIMM},                                         \
			{1, 1024, "ua-b0", 3, MEMDEV_DIMM},                                        \
			{0, 256, "ua-a2", 2, MEMDEV_DIMM},                                         \
			{0, 128, "ua-nv", 4, MEMDEV_NVDIMM},                                       \
			{0, 128, NULL, 5, MEMDEV_DIMM}                                             \
		}                                                                                  \
	}

struct shrink_case {
	const char *what;
	struct dom_spec dom;
	uint64_t mib;
	int node;
	enum select_code code;
	const char *aliases[4]; /* expected DIMMs, in order; or NULL */
	const char *says;       /* substring of the refusal */
	uint64_t suggest_mib[SELECT_SUGGEST_MAX];
};

static const struct shrink_case shrink_cases[] = {
        {"the newest DIMM when it fits", SHRINK_DOM, 256, 0, SELECT_OK, {"ua-a2"}, NULL, {0}},
        {"newest first, exact", SHRINK_DOM, 768, 0, SELECT_OK, {"ua-a2", "ua-a1"}, NULL, {0}},
        {"the newest DIMM is in the set whenever an exact set has it",
         SHRINK_DOM,
         512,
         0,
         SELECT_OK,
         {"ua-a2", "ua-a0"},
         NULL,
         {0}},
        {"all nodes: latest in the document first, whatever the slot",
         SHRINK_DOM,
         1280,
         -1,
         SELECT_OK,
         {"ua-a2", "ua-b0"},
         NULL,
         {0}},
        {"only the named node", SHRINK_DOM, 1024, 1, SELECT_OK, {"ua-b0"}, NULL, {0}},
        {"no exact set: nearest possible sizes",
         SHRINK_DOM,
         384,
         0,
         SELECT_NO_EXACT_SET,
         {NULL},
         "no set of DIMMs on guest node 0 sums to exactly 384 MiB; possible: 256 MiB, 512 MiB, "
         "768 MiB, 1 GiB",
         {256, 512, 768, 1024}},
        {"more than all DIMMs",
         SHRINK_DOM,
         4096,
         1,
         SELECT_NO_EXACT_SET,
         {NULL},
         "possible: 1 GiB",
         {1024}},
        {"a node with no DIMMs",
         {.n_cells = 2,
          .cell_mib = {2048, 2048},
          .max_mib = 16384,
          .slots = 4,
          .huge_cell = -1,
          .host_of = {0, 1},
          .n_dimms = 1,
          .dimms = {{0, 256, "ua-x", 0, MEMDEV_DIMM}}},
         256,
         1,
         SELECT_NO_DIMMS,
         {NULL},
         "guest node 1 has no hot-plugged DIMMs to remove; its 2 GiB of boot memory stays",
         {0}},
        {"boot memory is never removed",
         {.n_cells = 2,
          .cell_mib = {1024, 1024},
          .max_mib = 16384,
          .slots = 4,
          .huge_cell = -1,
          .host_of = {0, 1}},
         1024,
         -1,
         SELECT_NO_DIMMS,
         {NULL},
         "vm has no hot-plugged DIMMs to remove; its 2 GiB of boot memory stays",
         {0}},
        {"unnamed DIMMs are counted, not chosen",
         {.n_cells = 1,
          .cell_mib = {1024},
          .max_mib = 16384,
          .slots = 4,
          .huge_cell = -1,
          .host_of = {0},
          .n_dimms = 1,
          .dimms = {{0, 256, NULL, 0, MEMDEV_DIMM}}},
         256,
         0,
         SELECT_NO_DIMMS,
         {NULL},
         "(1 DIMM without an alias cannot be detached)",
         {0}},
        {"zero size", SHRINK_DOM, 0, 0, SELECT_BAD_SIZE, {NULL}, "more than 0", {0}},
        {"node does not exist", SHRINK_DOM, 256, 7, SELECT_NO_NODE, {NULL}, "guest node 7", {0}},
};

static void shrink_check(const struct shrink_case *t, const struct select_result *r)
{
	size_t n = 0;

	assert_string_equal(select_code_name(r->code), select_code_name(t->code));
	while (n < 4 && t->aliases[n] != NULL)
		n++;
	assert_int_equal(r->n_dimms, n);
	for (size_t k = 0; k < n; k++) {
		assert_string_equal(r->dimms[k].alias, t->aliases[k]);
		assert_int_equal(r->dimms[k].size_kib, t->dom.dimms[r->dimms[k].memdev].mib * MIB);
	}
	if (t->code == SELECT_OK) {
		assert_int_equal(r->total_kib, t->mib * MIB);
		return;
	}
	if (strstr(r->message, t->says) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", t->what, r->message, t->says);
	for (size_t k = 0; k < SELECT_SUGGEST_MAX && t->suggest_mib[k] != 0; k++) {
		assert_true(k < r->n_suggest);
		assert_int_equal(r->suggest_kib[k], t->suggest_mib[k] * MIB);
	}
}

static void test_shrink(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(shrink_cases) / sizeof(shrink_cases[0]); i++) {
		const struct shrink_case *t = &shrink_cases[i];
		struct domain *d = dom_build(&t->dom);
		struct select_shrink_req req = {.size_kib = t->mib * MIB, .node = t->node};
		struct select_result *r = NULL;

		print_message("shrink: %s\n", t->what);
		assert_int_equal(select_shrink(d, &req, &r, NULL), 0);
		shrink_check(t, r);
		select_result_free(r);
		dom_release(d);
	}
}

/* Many equal DIMMs: the suggestions are capped and nearest the request. */
static void test_shrink_suggest_cap(void **state)
{
	struct dom_spec s = {.n_cells = 1,
	                     .cell_mib = {1024},
	                     .max_mib = 65536,
	                     .slots = 16,
	                     .huge_cell = -1,
	                     .host_of = {0},
	                     .n_dimms = 8};
	struct domain *d;
	struct select_shrink_req req = {.size_kib = 1000 * MIB, .node = -1};
	struct select_result *r = NULL;

	(void)state;
	for (int i = 0; i < 8; i++)
		s.dimms[i] = (struct spec_dimm){0, 512, "ua-d", i, MEMDEV_DIMM};
	d = dom_build(&s);
	assert_int_equal(select_shrink(d, &req, &r, NULL), 0);
	assert_int_equal(r->code, SELECT_NO_EXACT_SET);
	assert_int_equal(r->n_suggest, SELECT_SUGGEST_MAX);
	assert_int_equal(r->suggest_kib[0], 512 * MIB);
	assert_int_equal(r->suggest_kib[SELECT_SUGGEST_MAX - 1], 4096 * MIB);
	select_result_free(r);
	dom_release(d);
}

/* ---- the verdict as JSON (report_select) ---- */

static const char *json_str(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

static void test_describe(void **state)
{
	struct dom_spec s = {TWO_CELLS};
	struct domain *d = dom_build(&s);
	struct select_grow_req req = {.size_kib = 768 * MIB, .node = 1};
	struct select_result *r = NULL;
	struct json_object *j, *v, *dimm;

	(void)state;
	assert_int_equal(select_grow(d, NULL, &req, &r, NULL), 0);
	j = report_select(r);
	assert_string_equal(json_str(j, "op"), "grow");
	assert_string_equal(json_str(j, "code"), "ok");
	assert_false(json_object_object_get_ex(j, "message", &v));
	assert_true(json_object_object_get_ex(j, "dimms", &v));
	assert_int_equal(json_object_array_length(v), 1);
	dimm = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(dimm, "size_kib", &v));
	assert_int_equal(json_object_get_uint64(v), 768 * MIB);
	assert_true(json_object_object_get_ex(dimm, "page_size_kib", &v));
	assert_int_equal(json_object_get_uint64(v), 4);
	assert_string_equal(json_str(dimm, "host_nodes"), "1");
	assert_string_equal(json_str(dimm, "mode"), "strict");
	assert_non_null(strstr(json_str(dimm, "reason"), "node 1: chosen with --node; "));
	json_object_put(j);
	select_result_free(r);

	req.size_kib = 700 * MIB;
	assert_int_equal(select_grow(d, NULL, &req, &r, NULL), 0);
	j = report_select(r);
	assert_string_equal(json_str(j, "code"), "not_aligned");
	assert_non_null(strstr(json_str(j, "message"), "700 MiB is not a multiple of "));
	assert_true(json_object_object_get_ex(j, "suggest_kib", &v));
	assert_int_equal(json_object_array_length(v), 2);
	json_object_put(j);
	select_result_free(r);
	dom_release(d);
}

static void test_bad_arguments(void **state)
{
	struct select_grow_req g = {.size_kib = GIB, .node = -1};
	struct select_result *r = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(select_grow(NULL, NULL, &g, &r, &err), -EINVAL);
	assert_non_null(err);
	assert_null(r);
	free(err);
	assert_int_equal(select_shrink(NULL, NULL, &r, NULL), -EINVAL);
	select_result_free(NULL);
	assert_string_equal(select_code_name((enum select_code)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_grow_refusals),      cmocka_unit_test(test_grow_choices),
	        cmocka_unit_test(test_grow_backing),       cmocka_unit_test(test_shrink),
	        cmocka_unit_test(test_shrink_suggest_cap), cmocka_unit_test(test_describe),
	        cmocka_unit_test(test_bad_arguments),      cmocka_unit_test(test_grow_binding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
