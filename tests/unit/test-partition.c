/*
 * Unit tests for common/partition.c: hosts built in memory (host_new,
 * host_add_node), guests as plain structs. Mirror layouts, vCPU blocks and
 * topology, memory split, CPU-less cells, placement by free memory and
 * distance, round-robin sharing, hotplug defaults, and every refusal.
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

#include "partition.h"
#include "size.h"

#define GIB SIZE_KIB_PER_GIB
#define MIB SIZE_KIB_PER_MIB

/* The 8-node host of the issue: node i has CPUs 15i..15i+14 and
 * 120+15i..120+15i+14, 64 GiB; SLIT 10 local, 21 within a group of four,
 * 31 across. */
static struct host *host_8node(void)
{
	struct host *h = host_new();

	for (unsigned i = 0; i < 8; i++) {
		struct host_node *n = host_add_node(h, i, 64 * GIB, 60 * GIB);

		for (unsigned c = 0; c < 15; c++) {
			nodeset_set(&n->cpus, 15 * i + c);
			nodeset_set(&n->cpus, 120 + 15 * i + c);
		}
	}
	for (unsigned i = 0; i < 8; i++)
		for (unsigned j = 0; j < 8; j++)
			assert_int_equal(host_set_distance(h, i, j,
			                                   i == j           ? 10
			                                   : i / 4 == j / 4 ? 21
			                                                    : 31),
			                 0);
	return h;
}

/* n nodes with CPUs (4 each) with the given free memory (GiB) and 2 MiB
 * pools (free pages), then `cpuless` CPU-less nodes of 16 GiB; distance 21
 * between nodes with CPUs unless `dist` says otherwise, 31 to CPU-less. */
static struct host *host_small(size_t n, const uint64_t *free_gib, const uint64_t *free_pages,
                               size_t cpuless, const unsigned *dist)
{
	struct host *h = host_new();
	size_t all = n + cpuless;

	for (unsigned i = 0; i < all; i++) {
		struct host_node *node = host_add_node(h, i, (i < n ? 64 : 16) * GIB,
		                                       i < n ? free_gib[i] * GIB : 16 * GIB);

		for (unsigned c = 0; i < n && c < 4; c++)
			nodeset_set(&node->cpus, 4 * i + c);
		if (free_pages && i < n)
			assert_int_equal(host_node_add_pool(node, 2048, 4096, free_pages[i]), 0);
	}
	for (unsigned i = 0; i < all; i++)
		for (unsigned j = 0; j < all; j++) {
			unsigned d = i == j ? 10 : (i >= n || j >= n) ? 31 : 21;

			if (dist && i != j && i < n && j < n)
				d = dist[i * n + j];
			assert_int_equal(host_set_distance(h, i, j, d), 0);
		}
	return h;
}

static struct partition_guest guest(unsigned vcpus, uint64_t kib)
{
	return (struct partition_guest){.vcpus = vcpus,
	                                .memory_kib = kib,
	                                .boot_kib = kib,
	                                .max_memdev_node = -1,
	                                .page_kib = 4};
}

static struct partition *run(const struct host *h, const struct partition_guest *g,
                             const struct partition_opts *o)
{
	struct partition *p = NULL;
	char *err = NULL;
	int rc = partition_compute(h, g, o, &p, &err);

	if (rc != 0)
		fail_msg("partition_compute: %s", err);
	free(err);
	return p;
}

static bool has_warning(const struct partition *p, const char *part)
{
	for (size_t i = 0; i < p->n_warnings; i++)
		if (strstr(p->warnings[i], part) != NULL)
			return true;
	return false;
}

static void test_mirror_8node(void **state)
{
	struct host *h = host_8node();
	struct partition_guest g = guest(16, 64 * GIB);
	struct partition_opts o = {.mirror = true};
	struct partition *p;
	char buf[NODESET_FORMAT_MAX], want[64];

	h->threads_per_core = 2;
	p = run(h, &g, &o);

	assert_int_equal(p->n_cells, 8);
	assert_int_equal(p->n_cpu_cells, 8);
	assert_int_equal(p->sockets, 8);
	assert_int_equal(p->cores, 1);
	assert_int_equal(p->threads, 2);
	for (unsigned i = 0; i < 8; i++) {
		const struct partition_cell *c = &p->cells[i];

		assert_int_equal(c->host_node, i);
		assert_int_equal(c->first_vcpu, 2 * i);
		assert_int_equal(c->n_vcpus, 2);
		assert_int_equal(c->memory_kib, 8 * GIB);
		assert_true(c->pinned);
		snprintf(want, sizeof(want), "%u-%u,%u-%u", 15 * i, 15 * i + 14, 120 + 15 * i,
		         120 + 15 * i + 14);
		assert_string_equal(nodeset_format(&c->pin, buf, sizeof(buf)), want);
		for (unsigned j = 0; j < 8; j++)
			assert_int_equal(p->dist[i * 8 + j], host_distance(h, i, j));
	}
	assert_string_equal(nodeset_format(&p->nodeset, buf, sizeof(buf)), "0-7");
	assert_int_equal(p->max_memory_kib, 256 * GIB); /* 4x, within the host's 512 GiB */
	assert_int_equal(p->slots, 256);                /* 192 GiB in 128 MiB steps, capped */
	assert_int_equal(p->n_warnings, 0);
	partition_free(p);
	host_free(h);
}

struct topo_case {
	const char *what;
	size_t nodes;
	unsigned vcpus, host_threads;
	unsigned sockets, cores, threads;
	unsigned blocks[8];
};

static const struct topo_case topo_cases[] = {
        {"even, host threads divide", 4, 8, 2, 4, 1, 2, {2, 2, 2, 2}},
        {"even, host threads do not divide", 4, 12, 2, 4, 3, 1, {3, 3, 3, 3}},
        {"even, threads unknown", 2, 8, 0, 2, 4, 1, {4, 4}},
        {"uneven: one socket per vCPU", 4, 10, 2, 10, 1, 1, {3, 3, 2, 2}},
        {"one vCPU per cell", 4, 4, 2, 4, 1, 1, {1, 1, 1, 1}},
};

static void test_topology(void **state)
{
	for (size_t k = 0; k < sizeof(topo_cases) / sizeof(topo_cases[0]); k++) {
		const struct topo_case *t = &topo_cases[k];
		uint64_t freemem[8] = {8, 8, 8, 8, 8, 8, 8, 8};
		struct host *h = host_small(t->nodes, freemem, NULL, 0, NULL);
		struct partition_guest g = guest(t->vcpus, 8 * GIB);
		struct partition_opts o = {.mirror = true};
		struct partition *p;
		unsigned next = 0;

		h->threads_per_core = t->host_threads; /* the host's, never an option */
		p = run(h, &g, &o);
		print_message("topology: %s\n", t->what);
		assert_int_equal(p->sockets, t->sockets);
		assert_int_equal(p->cores, t->cores);
		assert_int_equal(p->threads, t->threads);
		assert_int_equal(p->sockets * p->cores * p->threads, t->vcpus);
		for (size_t i = 0; i < t->nodes; i++) {
			assert_int_equal(p->cells[i].first_vcpu, next);
			assert_int_equal(p->cells[i].n_vcpus, t->blocks[i]);
			next += t->blocks[i];
		}
		assert_int_equal(next, t->vcpus);
		partition_free(p);
		host_free(h);
	}
}

static void test_memory_split(void **state)
{
	uint64_t freemem[3] = {8, 8, 8};
	struct host *h = host_small(3, freemem, NULL, 0, NULL);
	struct partition_guest g = guest(3, 10 * GIB + 3 * MIB);
	struct partition_opts o = {.mirror = true};
	struct partition *p = run(h, &g, &o);
	uint64_t per = (10 * GIB + 3 * MIB) / 3 / MIB * MIB;

	assert_int_equal(p->cells[1].memory_kib, per);
	assert_int_equal(p->cells[2].memory_kib, per);
	assert_int_equal(p->cells[0].memory_kib, 10 * GIB + 3 * MIB - 2 * per);
	assert_int_equal(p->cells[0].memory_kib + 2 * per, g.boot_kib); /* total unchanged */
	partition_free(p);
	host_free(h);
}

static void test_hugepage_split(void **state)
{
	uint64_t freemem[2] = {8, 8};
	struct host *h = host_small(2, freemem, NULL, 0, NULL);
	struct partition_guest g = guest(2, 5 * GIB);
	struct partition_opts o = {.mirror = true};
	struct partition *p;

	g.hugepages = true;
	g.page_kib = GIB;
	p = run(h, &g, &o);
	assert_int_equal(p->align_kib, GIB);
	assert_int_equal(p->step_kib, GIB);
	assert_int_equal(p->cells[0].memory_kib, 3 * GIB); /* 2 GiB + the 1 GiB remainder */
	assert_int_equal(p->cells[1].memory_kib, 2 * GIB);
	assert_true(p->cells[0].hugepages && p->cells[1].hugepages);
	partition_free(p);
	host_free(h);
}

static void test_cpuless(void **state)
{
	uint64_t freemem[2] = {8, 8};
	struct host *h = host_small(2, freemem, NULL, 2, NULL);
	struct partition_guest g = guest(4, 4 * GIB);
	struct partition_opts mirror = {.mirror = true};
	struct partition_opts none = {.mirror = true, .cpuless_set = true, .cpuless_kib = 0};
	struct partition_opts cells = {.n_cells = 2};
	struct partition_opts cells_hbm = {.n_cells = 2, .cpuless_set = true, .cpuless_kib = GIB};
	struct partition *p = run(h, &g, &mirror);
	char buf[NODESET_FORMAT_MAX];

	assert_int_equal(p->n_cells, 4);
	assert_int_equal(p->n_cpu_cells, 2);
	for (size_t i = 2; i < 4; i++) {
		assert_true(p->cells[i].cpuless);
		assert_false(p->cells[i].pinned);
		assert_int_equal(p->cells[i].n_vcpus, 0);
		assert_int_equal(p->cells[i].host_node, i);
		assert_int_equal(p->cells[i].memory_kib, PARTITION_CPULESS_DEFAULT_KIB);
	}
	assert_int_equal(p->cells[0].memory_kib + p->cells[1].memory_kib, 4 * GIB - 256 * MIB);
	assert_string_equal(nodeset_format(&p->nodeset, buf, sizeof(buf)), "0-3");
	assert_int_equal(p->dist[0 * 4 + 2], 31);
	partition_free(p);

	p = run(h, &g, &none);
	assert_int_equal(p->n_cells, 2);
	partition_free(p);
	p = run(h, &g, &cells);
	assert_int_equal(p->n_cells, 2);
	partition_free(p);
	p = run(h, &g, &cells_hbm);
	assert_int_equal(p->n_cells, 4);
	assert_int_equal(p->cells[3].memory_kib, GIB);
	assert_int_equal(p->cells[0].memory_kib, GIB);
	partition_free(p);
	host_free(h);
}

/* The chosen host nodes of a --cells partition, in cell order, as "a,b". */
static void cell_nodes(const struct partition *p, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n_cpu_cells; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%u", i ? "," : "",
		                       p->cells[i].host_node);
}

struct place_case {
	const char *what;
	size_t nodes;
	uint64_t free_gib[4];
	uint64_t free_pages[4]; /* 2 MiB */
	bool hugepages;
	unsigned cells;
	const char *want; /* host node of each cell with CPUs */
	bool shared;
};

/* Distances between the 4 nodes of the placement cases: node 1 is far from
 * node 2 (31) and close to node 3 (21). */
static const unsigned place_dist[16] = {10, 21, 21, 21, 21, 10, 31, 21,
                                        21, 31, 10, 21, 21, 21, 21, 10};

static const struct place_case place_cases[] = {
        {"most free memory", 4, {10, 30, 20, 5}, {0}, false, 2, "1,2", false},
        {"ties go to the node closest to those chosen",
         4,
         {10, 30, 30, 30},
         {0},
         false,
         2,
         "1,3",
         false},
        {"hugepage-backed cells count free hugepages",
         4,
         {10, 30, 30, 30},
         {1024, 0, 512, 256},
         true,
         2,
         "0,2",
         false},
        {"more cells than nodes: round-robin by free memory",
         2,
         {10, 30},
         {0},
         false,
         3,
         "1,0,1",
         true},
        {"single-node host, two cells", 1, {8}, {0}, false, 2, "0,0", true},
};

static void test_placement(void **state)
{
	for (size_t k = 0; k < sizeof(place_cases) / sizeof(place_cases[0]); k++) {
		const struct place_case *c = &place_cases[k];
		struct host *h = host_small(c->nodes, c->free_gib, c->free_pages, 0,
		                            c->nodes == 4 ? place_dist : NULL);
		struct partition_guest g = guest(4, 4 * GIB);
		struct partition_opts o = {.n_cells = c->cells};
		struct partition *p;
		char got[64];

		print_message("placement: %s\n", c->what);
		g.hugepages = c->hugepages;
		g.page_kib = c->hugepages ? 2048 : 4;
		p = run(h, &g, &o);
		cell_nodes(p, got, sizeof(got));
		assert_string_equal(got, c->want);
		assert_int_equal(p->shared, c->shared);
		assert_int_equal(p->n_candidates, c->nodes);
		if (c->shared) /* two cells on one node: 11, never 10 */
			for (size_t i = 0; i < p->n_cells; i++)
				for (size_t j = 0; j < p->n_cells; j++)
					if (i != j &&
					    p->cells[i].host_node == p->cells[j].host_node)
						assert_int_equal(p->dist[i * p->n_cells + j], 11);
		partition_free(p);
		host_free(h);
	}
}

static void test_free_unknown(void **state)
{
	uint64_t freemem[3] = {1, 2, 3};
	struct host *h = host_small(3, freemem, NULL, 0, NULL);
	struct partition_guest g = guest(2, 2 * GIB);
	struct partition_opts o = {.n_cells = 2};
	struct partition *p;
	char got[64];

	h->source = HOST_SOURCE_CAPS;
	for (size_t i = 0; i < h->n_nodes; i++)
		h->nodes[i].free_known = false;
	p = run(h, &g, &o);
	cell_nodes(p, got, sizeof(got));
	assert_string_equal(got, "0,1");
	assert_int_equal(p->n_warnings, 1);
	assert_non_null(strstr(p->warnings[0], "free memory is unknown"));
	partition_free(p);
	host_free(h);
}

struct max_case {
	const char *what;
	uint64_t memory_gib, kept_gib, opt_max_gib;
	unsigned opt_slots, used_slots;
	uint64_t want_max_kib;
	unsigned want_slots;
	bool capped, lowered;
};

static const struct max_case max_cases[] = {
        {"4x memory", 2, 0, 0, 0, 0, 8 * GIB, 48, false, false},
        {"capped at the host's total (2 x 64 GiB)", 40, 0, 0, 0, 0, 128 * GIB, 256, true, false},
        {"a smaller old maxMemory is raised to 4x", 2, 3, 0, 0, 0, 8 * GIB, 48, false, false},
        {"a larger old maxMemory is lowered to 4x", 2, 16, 0, 0, 0, 8 * GIB, 48, false, true},
        {"an old maxMemory above the host's total: 4x", 2, 200, 0, 0, 0, 8 * GIB, 48, false, true},
        {"--max", 2, 3, 4, 0, 0, 4 * GIB, 16, false, false},
        {"--max up to the host's total", 2, 0, 128, 0, 0, 128 * GIB, 256, false, false},
        {"--slots", 2, 0, 4, 5, 0, 4 * GIB, 5, false, false},
        {"slots in use count", 2, 0, 4, 0, 3, 4 * GIB, 19, false, false},
};

static void test_max(void **state)
{
	for (size_t k = 0; k < sizeof(max_cases) / sizeof(max_cases[0]); k++) {
		const struct max_case *c = &max_cases[k];
		uint64_t freemem[2] = {8, 8};
		struct host *h = host_small(2, freemem, NULL, 0, NULL);
		struct partition_guest g = guest(2, c->memory_gib * GIB);
		struct partition_opts o = {
		        .mirror = true, .max_kib = c->opt_max_gib * GIB, .slots = c->opt_slots};
		struct partition *p;

		print_message("max: %s\n", c->what);
		g.max_memory_kib = c->kept_gib * GIB;
		g.used_slots = c->used_slots;
		p = run(h, &g, &o);
		assert_int_equal(p->max_memory_kib, c->want_max_kib);
		assert_int_equal(p->slots, c->want_slots);
		assert_int_equal(p->max_capped, c->capped);
		assert_int_equal(p->max_lowered, c->lowered);
		assert_int_equal(has_warning(p, "<maxMemory> was"), c->lowered);
		partition_free(p);
		host_free(h);
	}
}

struct refusal {
	const char *what;
	size_t nodes, cpuless;
	struct partition_guest g;
	struct partition_opts o;
	const char *message;
};

#define G(v, kib)                                                                                  \
	{                                                                                          \
		.vcpus = (v), .memory_kib = (kib), .boot_kib = (kib), .max_memdev_node = -1,       \
		.page_kib = 4                                                                      \
	}

static const struct refusal refusals[] = {
        {"fewer vCPUs than cells with CPUs",
         4,
         0,
         G(2, 4 * GIB),
         {.mirror = true},
         "2 vCPUs cannot fill 4 cells with CPUs: each needs at least one"},
        {"--cells beyond the vCPUs",
         1,
         0,
         G(2, 4 * GIB),
         {.n_cells = 3},
         "2 vCPUs cannot fill 3 cells with CPUs"},
        {"memory per cell below the alignment",
         2,
         0,
         {.vcpus = 2,
          .memory_kib = GIB,
          .boot_kib = GIB,
          .max_memdev_node = -1,
          .page_kib = GIB,
          .hugepages = true},
         {.mirror = true},
         "1 GiB over 2 cells with CPUs is below the 1 GiB alignment per cell"},
        {"CPU-less cells take everything",
         1,
         2,
         G(1, 256 * MIB),
         {.mirror = true},
         "the CPU-less cells' boot memory (2 x 128 MiB) leaves nothing"},
        {"preallocation on a CPU-less cell",
         1,
         1,
         {.vcpus = 1,
          .memory_kib = GIB,
          .boot_kib = GIB,
          .max_memdev_node = -1,
          .page_kib = 4,
          .prealloc = true},
         {.mirror = true},
         "<allocation mode='immediate'> would cover the CPU-less cells"},
        {"hugepages without nodeset on a CPU-less cell",
         1,
         1,
         {.vcpus = 1,
          .memory_kib = GIB,
          .boot_kib = GIB,
          .max_memdev_node = -1,
          .page_kib = 2048,
          .hugepages = true,
          .hugepages_all = true},
         {.mirror = true},
         "<hugepages> without a <page nodeset> would cover the CPU-less cells"},
        {"a memory device beyond the new cells",
         1,
         0,
         {.vcpus = 1, .memory_kib = 2 * GIB, .boot_kib = GIB, .max_memdev_node = 3, .page_kib = 4},
         {.mirror = true},
         "a memory device targets guest node 3, but the new layout has 1 cells"},
        {"--max below memory",
         1,
         0,
         G(1, 4 * GIB),
         {.mirror = true, .max_kib = 2 * GIB},
         "--max 2 GiB is less than the guest's memory 4 GiB"},
        {"--max above the host's total (one 64 GiB node)",
         1,
         0,
         G(1, 4 * GIB),
         {.mirror = true, .max_kib = 65 * GIB},
         "--max 65 GiB is more than the host's total memory 64 GiB"},
        {"--slots below those in use",
         1,
         0,
         {.vcpus = 1,
          .memory_kib = GIB,
          .boot_kib = GIB,
          .max_memdev_node = -1,
          .page_kib = 4,
          .used_slots = 4},
         {.mirror = true, .slots = 2},
         "--slots 2: must be 4..256 (4 in use)"},
        {"--cpuless not in MiB",
         1,
         1,
         G(1, 4 * GIB),
         {.mirror = true, .cpuless_set = true, .cpuless_kib = 1000},
         "--cpuless 1000 KiB: must be a whole number of MiB"},
        {"too many cells for QEMU",
         1,
         0,
         G(200, 200 * GIB),
         {.n_cells = 129},
         "129 cells: QEMU supports at most 128 NUMA nodes"},
        {"no node with CPUs",
         0,
         2,
         G(1, 4 * GIB),
         {.mirror = true},
         "the host model has no node with CPUs"},
};

static void test_refusals(void **state)
{
	for (size_t k = 0; k < sizeof(refusals) / sizeof(refusals[0]); k++) {
		const struct refusal *r = &refusals[k];
		uint64_t freemem[4] = {8, 8, 8, 8};
		struct host *h = host_small(r->nodes, freemem, NULL, r->cpuless, NULL);
		struct partition *p = (struct partition *)1;
		char *err = NULL;

		print_message("refusal: %s\n", r->what);
		assert_int_equal(partition_compute(h, &r->g, &r->o, &p, &err), -EINVAL);
		assert_null(p);
		assert_non_null(err);
		if (strstr(err, r->message) == NULL)
			fail_msg("'%s' does not contain '%s'", err, r->message);
		free(err);
		host_free(h);
	}
}

/* Over many shapes: vCPU blocks are contiguous and cover every vCPU once,
 * the topology's product is the vCPU count, and memory adds up. */
static void test_invariants(void **state)
{
	for (size_t nodes = 1; nodes <= 6; nodes++)
		for (unsigned vcpus = (unsigned)nodes; vcpus <= 40; vcpus += 3)
			for (unsigned threads = 0; threads <= 4; threads++) {
				uint64_t freemem[6] = {8, 8, 8, 8, 8, 8};
				struct host *h = host_small(nodes, freemem, NULL, 1, NULL);
				struct partition_guest g = guest(vcpus, 7 * GIB + 5 * MIB);
				struct partition_opts o = {.mirror = true};
				struct partition *p;
				uint64_t mem = 0;
				unsigned next = 0;

				h->threads_per_core = threads;
				p = run(h, &g, &o);
				assert_int_equal(p->sockets * p->cores * p->threads, vcpus);
				for (size_t i = 0; i < p->n_cells; i++) {
					if (p->cells[i].cpuless)
						assert_int_equal(p->cells[i].n_vcpus, 0);
					else
						assert_int_equal(p->cells[i].first_vcpu, next);
					next += p->cells[i].n_vcpus;
					mem += p->cells[i].memory_kib;
				}
				assert_int_equal(next, vcpus);
				assert_int_equal(mem, g.boot_kib);
				partition_free(p);
				host_free(h);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mirror_8node), cmocka_unit_test(test_topology),
	        cmocka_unit_test(test_memory_split), cmocka_unit_test(test_hugepage_split),
	        cmocka_unit_test(test_cpuless),      cmocka_unit_test(test_placement),
	        cmocka_unit_test(test_free_unknown), cmocka_unit_test(test_max),
	        cmocka_unit_test(test_refusals),     cmocka_unit_test(test_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
