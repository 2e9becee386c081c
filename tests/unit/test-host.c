/*
 * Unit tests for common/host.c: the fabricated 4-node host under
 * tests/data/host-4node, broken sysfs trees written into a temporary
 * directory (each case one table row), the in-memory builders and queries,
 * and one look at the real machine through libnuma.
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
#include <glib.h>
#include <glib/gstdio.h>

#include "host.h"

#define GIB (UINT64_C(1048576))

static char *data_path(const char *name)
{
	const char *root = getenv("MEMPLUG_TEST_DATA");

	return g_build_filename(root ? root : "tests/data", name, NULL);
}

static struct host *caps_load(const char *name); /* capabilities tests below */

/* --- the 4-node fixture ------------------------------------------------ */

struct want_pool {
	uint64_t page_kib, total, free;
};

struct want_node {
	unsigned id;
	const char *cpus;
	uint64_t total_kib, free_kib;
	size_t n_pools;
	struct want_pool pools[2];
};

static const struct want_node fixture_nodes[] = {
        {0, "0-3", 16 * GIB, 8 * GIB, 2, {{2048, 512, 500}, {GIB, 4, 2}}},
        {1, "4-7", 16 * GIB, 12 * GIB, 2, {{2048, 1024, 1024}, {GIB, 0, 0}}},
        {3, "8-9", 32 * GIB, 30000000, 1, {{GIB, 8, 8}}},
        {4, "", 8 * GIB, 4 * GIB, 0, {{0}}},
};

/* The rows of nodeN/distance, by position (nodes 0, 1, 3, 4). */
static const unsigned fixture_slit[4][4] = {
        {10, 21, 31, 31},
        {21, 10, 31, 31},
        {31, 31, 10, 41},
        {31, 31, 41, 10},
};

static void check_node(const struct host_node *got, const struct want_node *want)
{
	char cpus[NODESET_FORMAT_MAX];

	assert_int_equal(got->id, want->id);
	assert_string_equal(nodeset_format(&got->cpus, cpus, sizeof(cpus)), want->cpus);
	assert_true(got->free_known);
	assert_int_equal(got->tier, -1);
	assert_int_equal(got->total_kib, want->total_kib);
	assert_int_equal(got->free_kib, want->free_kib);
	assert_int_equal(got->n_pools, want->n_pools);
	for (size_t p = 0; p < want->n_pools; p++) {
		assert_int_equal(got->pools[p].page_kib, want->pools[p].page_kib);
		assert_int_equal(got->pools[p].total, want->pools[p].total);
		assert_int_equal(got->pools[p].free, want->pools[p].free);
		assert_true(got->pools[p].free_known);
	}
}

static void test_fixture_4node(void **state)
{
	g_autofree char *dir = data_path("host-4node");
	struct host *h = NULL;
	char *err = NULL;

	assert_int_equal(host_snapshot_at(dir, &h, &err), 0);
	assert_null(err);
	assert_int_equal(h->source, HOST_SOURCE_SYSFS);
	assert_int_equal(h->n_nodes, G_N_ELEMENTS(fixture_nodes));
	for (size_t i = 0; i < G_N_ELEMENTS(fixture_nodes); i++)
		check_node(&h->nodes[i], &fixture_nodes[i]);
	for (size_t i = 0; i < h->n_nodes; i++)
		for (size_t j = 0; j < h->n_nodes; j++)
			assert_int_equal(host_distance(h, h->nodes[i].id, h->nodes[j].id),
			                 fixture_slit[i][j]);
	assert_null(h->warnings);
	host_free(h);
}

/* host_free_kib over sets of fixture nodes and page sizes. */
static void test_fixture_free_kib(void **state)
{
	static const struct {
		const char *what, *nodes;
		uint64_t page_kib, want;
	} cases[] = {
	        {"plain pages, nodes 0-1", "0-1", 4, 20 * GIB},
	        {"plain pages, all", "0-4", 4, 24 * GIB + 30000000},
	        {"2M pool, nodes 0-1", "0-1", 2048, (500 + 1024) * 2048},
	        {"1G pool, nodes 0,3", "0,3", GIB, 10 * GIB},
	        {"1G pool, node without pools", "4", GIB, 0},
	        {"a node the host lacks", "2", 4, 0},
	        {"a pool size nobody has", "0-4", 16, 0},
	};
	g_autofree char *dir = data_path("host-4node");
	struct host *h = NULL;

	assert_int_equal(host_snapshot_at(dir, &h, NULL), 0);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct nodeset ns;

		assert_int_equal(nodeset_parse(cases[i].nodes, &ns, NULL), 0);
		if (host_free_kib(h, &ns, cases[i].page_kib) != cases[i].want)
			fail_msg("%s: got %ju", cases[i].what,
			         (uintmax_t)host_free_kib(h, &ns, cases[i].page_kib));
	}
	host_free(h);
}

static void test_fixture_nodeset(void **state)
{
	g_autofree char *dir = data_path("host-4node");
	char buf[NODESET_FORMAT_MAX];
	struct host *h = NULL;
	struct nodeset ns;

	assert_int_equal(host_snapshot_at(dir, &h, NULL), 0);
	host_nodeset(h, &ns);
	assert_string_equal(nodeset_format(&ns, buf, sizeof(buf)), "0-1,3-4");
	assert_non_null(host_node_find(h, 3));
	assert_null(host_node_find(h, 2));
	assert_non_null(host_node_pool(host_node_find(h, 0), GIB));
	assert_null(host_node_pool(host_node_find(h, 4), 2048));
	host_free(h);
}

/* tests/data/sysfs-tiers keeps the real layout, so the tiers are found
 * beside the nodes: devices/system/node and devices/virtual/memory_tiering.
 * Two DDR nodes with CPUs in the default tier 4, a CPU-less HBM node in
 * tier 3 and a CPU-less CXL-like node in tier 22. */
static void test_fixture_tiers(void **state)
{
	static const struct {
		unsigned id;
		const char *cpus;
		int tier;
		uint64_t total_kib, free_kib;
		unsigned dist[4];
	} want[] = {
	        {0, "0-7,16-23", 4, 32 * GIB, 20 * GIB, {10, 21, 13, 31}},
	        {1, "8-15,24-31", 4, 32 * GIB, 24 * GIB, {21, 10, 23, 31}},
	        {2, "", 3, 16 * GIB, 16 * GIB, {13, 23, 10, 31}},
	        {3, "", 22, 64 * GIB, 67000000, {31, 31, 31, 10}},
	};
	g_autofree char *dir = data_path("sysfs-tiers/devices/system/node");
	struct host *h = NULL;
	char *err = NULL;

	if (host_snapshot_at(dir, &h, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(h->source, HOST_SOURCE_SYSFS);
	assert_int_equal(h->n_nodes, G_N_ELEMENTS(want));
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
		const struct host_node *n = &h->nodes[i];
		char cpus[NODESET_FORMAT_MAX];

		assert_int_equal(n->id, want[i].id);
		assert_string_equal(nodeset_format(&n->cpus, cpus, sizeof(cpus)), want[i].cpus);
		assert_int_equal(host_node_has_cpus(n), want[i].cpus[0] != '\0');
		assert_int_equal(n->tier, want[i].tier);
		assert_int_equal(n->total_kib, want[i].total_kib);
		assert_int_equal(n->free_kib, want[i].free_kib);
		for (unsigned j = 0; j < 4; j++)
			assert_int_equal(host_distance(h, want[i].id, j), want[i].dist[j]);
	}
	assert_int_equal(h->nodes[0].pools[0].free, 1000);
	assert_null(h->warnings);
	host_free(h);
}

/* --- broken trees -------------------------------------------------------- */

struct file {
	const char *path, *text;
};

#define MEMINFO0 "Node 0 MemTotal: 1048576 kB\nNode 0 MemFree: 524288 kB\n"
#define POOL0    "node0/hugepages/hugepages-2048kB/"

static const struct {
	const char *what;
	struct file files[5];
	int rc;
	const char *err; /* a substring of the message */
} bad_trees[] = {
        {"no node directory", {{"online", "0\n"}}, -ENOENT, "no nodeN directory"},
        {"node without meminfo", {{"node0/cpulist", "0\n"}}, -ENOENT, "node0/meminfo"},
        {"garbage size",
         {{"node0/meminfo", "Node 0 MemTotal: lots kB\nNode 0 MemFree: 1 kB\n"}},
         -EINVAL,
         "malformed line \"Node 0 MemTotal: lots kB\""},
        {"size without unit", {{"node0/meminfo", "Node 0 MemTotal: 12\n"}}, -EINVAL, "malformed"},
        {"no MemFree", {{"node0/meminfo", "Node 0 MemTotal: 12 kB\n"}}, -EINVAL, "MemFree"},
        {"another node's meminfo",
         {{"node0/meminfo", "Node 1 MemTotal: 1 kB\n"}},
         -EINVAL,
         "no \"Node 0 MemTotal:\" line"},
        {"free above total",
         {{"node0/meminfo", "Node 0 MemTotal: 1 kB\nNode 0 MemFree: 2 kB\n"}},
         -EINVAL,
         "MemFree exceeds MemTotal"},
        {"garbage page count",
         {{"node0/meminfo", MEMINFO0},
          {POOL0 "nr_hugepages", "abc\n"},
          {POOL0 "free_hugepages", "0\n"}},
         -EINVAL,
         "nr_hugepages: not a number: \"abc\""},
        {"missing free_hugepages",
         {{"node0/meminfo", MEMINFO0}, {POOL0 "nr_hugepages", "4\n"}},
         -ENOENT,
         "free_hugepages"},
        {"more free pages than pages",
         {{"node0/meminfo", MEMINFO0},
          {POOL0 "nr_hugepages", "1\n"},
          {POOL0 "free_hugepages", "2\n"}},
         -EINVAL,
         "2 free of 1 pages"},
        {"garbage cpulist",
         {{"node0/meminfo", MEMINFO0}, {"node0/cpulist", "0-x\n"}},
         -EINVAL,
         "node0/cpulist: nodeset '0-x'"},
        {"reversed cpulist",
         {{"node0/meminfo", MEMINFO0}, {"node0/cpulist", "3-1\n"}},
         -EINVAL,
         "reversed"},
        {"CPU beyond the bitmap",
         {{"node0/meminfo", MEMINFO0}, {"node0/cpulist", "0,4096\n"}},
         -ERANGE,
         "node0/cpulist"},
        {"garbage distance",
         {{"node0/meminfo", MEMINFO0}, {"node0/cpulist", "0\n"}, {"node0/distance", "ten\n"}},
         -EINVAL,
         "\"ten\" is not a distance"},
        {"distance 0",
         {{"node0/meminfo", MEMINFO0}, {"node0/cpulist", "0\n"}, {"node0/distance", "0\n"}},
         -EINVAL,
         "\"0\" is not a distance"},
        {"a distance per node, one too many",
         {{"node0/meminfo", MEMINFO0}, {"node0/cpulist", "0\n"}, {"node0/distance", "10 21\n"}},
         -EINVAL,
         "2 distances for 1 nodes"},
        {"bad pool directory name",
         {{"node0/meminfo", MEMINFO0}, {"node0/hugepages/hugepages-xkB/nr_hugepages", "1\n"}},
         -EINVAL,
         "hugepages-xkB: not a hugepages-SIZEkB directory"},
};

static void write_tree(const char *root, const struct file *files, size_t n)
{
	for (size_t i = 0; i < n && files[i].path != NULL; i++) {
		g_autofree char *path = g_build_filename(root, files[i].path, NULL);
		g_autofree char *dir = g_path_get_dirname(path);

		assert_int_equal(g_mkdir_with_parents(dir, 0700), 0);
		assert_true(g_file_set_contents(path, files[i].text, -1, NULL));
	}
}

static void remove_tree(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *name;

	if (d == NULL) {
		g_remove(path);
		return;
	}
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		remove_tree(child);
	}
	g_dir_close(d);
	g_rmdir(path);
}

static void test_bad_trees(void **state)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bad_trees); i++) {
		g_autofree char *root = g_dir_make_tmp("memplug-host-XXXXXX", NULL);
		struct host *h = NULL;
		char *err = NULL;
		int rc;

		assert_non_null(root);
		write_tree(root, bad_trees[i].files, G_N_ELEMENTS(bad_trees[i].files));
		rc = host_snapshot_at(root, &h, &err);
		if (rc != bad_trees[i].rc || err == NULL || strstr(err, bad_trees[i].err) == NULL)
			fail_msg("%s: rc %d, err \"%s\"", bad_trees[i].what, rc,
			         err ? err : "(none)");
		assert_null(h);
		free(err);
		remove_tree(root);
	}
}

/* Trees that are read, with what they lack reported. */
static const struct {
	const char *what;
	struct file files[5];
	const char *cpus; /* of node 0 */
	int tier;
	unsigned dist00;
	const char *warnings[3];
} odd_trees[] = {
        {"no cpulist, no distance",
         {{"devices/system/node/node0/meminfo", MEMINFO0}},
         "",
         -1,
         0,
         {"node0/cpulist: missing; node 0 taken as CPU-less", "node0/distance: missing", NULL}},
        {"an empty tiering directory, an empty cpulist",
         {{"devices/system/node/node0/meminfo", MEMINFO0},
          {"devices/system/node/node0/cpulist", "\n"},
          {"devices/system/node/node0/distance", "10\n"},
          {"devices/virtual/memory_tiering/power/async", "x\n"}},
         "",
         -1,
         10,
         {NULL}},
        {"a node in two tiers keeps the lower",
         {{"devices/system/node/node0/meminfo", MEMINFO0},
          {"devices/system/node/node0/cpulist", "0-1\n"},
          {"devices/system/node/node0/distance", "10\n"},
          {"devices/virtual/memory_tiering/memory_tier4/nodelist", "0\n"},
          {"devices/virtual/memory_tiering/memory_tier2/nodelist", "0,5\n"}},
         "0-1",
         2,
         10,
         {"node 0 is in memory_tier", NULL}},
};

static void check_tree_warnings(const struct host *h, const char *const *want, const char *what)
{
	size_t n = 0;

	for (; want[n] != NULL; n++)
		if (h->warnings == NULL || h->warnings[n] == NULL ||
		    strstr(h->warnings[n], want[n]) == NULL)
			fail_msg("%s: warning %zu: want \"%s\"", what, n, want[n]);
	if (h->warnings != NULL && h->warnings[n] != NULL)
		fail_msg("%s: unexpected warning \"%s\"", what, h->warnings[n]);
}

static void test_odd_trees(void **state)
{
	for (size_t i = 0; i < G_N_ELEMENTS(odd_trees); i++) {
		g_autofree char *root = g_dir_make_tmp("memplug-host-XXXXXX", NULL);
		g_autofree char *nodes = g_build_filename(root, "devices/system/node", NULL);
		char cpus[NODESET_FORMAT_MAX];
		struct host *h = NULL;
		char *err = NULL;

		write_tree(root, odd_trees[i].files, G_N_ELEMENTS(odd_trees[i].files));
		if (host_snapshot_at(nodes, &h, &err) < 0)
			fail_msg("%s: %s", odd_trees[i].what, err);
		assert_string_equal(nodeset_format(&h->nodes[0].cpus, cpus, sizeof(cpus)),
		                    odd_trees[i].cpus);
		assert_int_equal(h->nodes[0].tier, odd_trees[i].tier);
		assert_int_equal(host_distance(h, 0, 0), odd_trees[i].dist00);
		check_tree_warnings(h, odd_trees[i].warnings, odd_trees[i].what);
		host_free(h);
		remove_tree(root);
	}
}

/* A host from capabilities takes its tiers from a (fabricated) tiering
 * directory, as the agent does on a local connection. */
static void test_caps_plus_tiers(void **state)
{
	g_autofree char *tiers = data_path("sysfs-tiers/devices/virtual/memory_tiering");
	static const int want[] = {4, 4, 3, 22};
	struct host *h = caps_load("caps-2ddr-2hbm.xml");

	assert_int_equal(host_read_tiers(h, tiers, NULL), 0);
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
		assert_int_equal(h->nodes[i].tier, want[i]);
	assert_int_equal(host_read_tiers(h, "/nonexistent/memory_tiering", NULL), 0);
	assert_int_equal(h->nodes[3].tier, 22);
	assert_null(h->warnings);
	host_free(h);
}

static void test_bad_tier_list(void **state)
{
	static const struct file files[] = {
	        {"devices/system/node/node0/meminfo", MEMINFO0},
	        {"devices/virtual/memory_tiering/memory_tier4/nodelist", "zero\n"},
	};
	g_autofree char *root = g_dir_make_tmp("memplug-host-XXXXXX", NULL);
	g_autofree char *nodes = g_build_filename(root, "devices/system/node", NULL);
	struct host *h = NULL;
	char *err = NULL;

	write_tree(root, files, G_N_ELEMENTS(files));
	assert_int_equal(host_snapshot_at(nodes, &h, &err), -EINVAL);
	assert_non_null(strstr(err, "memory_tier4/nodelist: nodeset 'zero'"));
	assert_null(h);
	free(err);
	remove_tree(root);
}

static void test_missing_dir(void **state)
{
	struct host *h = NULL;
	char *err = NULL;

	assert_int_equal(host_snapshot_at("/nonexistent/memplug/node", &h, &err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/memplug/node"));
	assert_null(h);
	free(err);
}

/* --- in-memory builders -------------------------------------------------- */

static void test_builders(void **state)
{
	struct host *h = host_new();
	struct host_node *n;

	assert_non_null(host_add_node(h, 5, 100, 50));
	assert_non_null(host_add_node(h, 1, 100, 10));
	assert_non_null(host_add_node(h, 3, 100, 20));
	assert_null(host_add_node(h, 3, 1, 1));
	assert_int_equal(h->n_nodes, 3);
	assert_int_equal(h->nodes[0].id, 1);
	assert_int_equal(h->nodes[1].id, 3);
	assert_int_equal(h->nodes[2].id, 5);

	n = &h->nodes[1];
	assert_int_equal(host_node_add_pool(n, GIB, 2, 1), 0);
	assert_int_equal(host_node_add_pool(n, 2048, 8, 8), 0);
	assert_int_equal(host_node_add_pool(n, 2048, 1, 1), -EEXIST);
	assert_int_equal(host_node_add_pool(n, 64, 1, 2), -EINVAL);
	assert_int_equal(host_node_add_pool(n, 0, 1, 1), -EINVAL);
	assert_int_equal(n->n_pools, 2);
	assert_int_equal(n->pools[0].page_kib, 2048);
	assert_int_equal(n->pools[1].page_kib, GIB);
	for (uint64_t kib = 16; n->n_pools < HOST_MAX_POOLS; kib *= 2)
		assert_int_equal(host_node_add_pool(n, kib, 0, 0), 0);
	assert_int_equal(host_node_add_pool(n, 8, 0, 0), -E2BIG);

	host_free(h);
	host_free(NULL);
}

/* host_add_node() keeps the SLIT in step: inserting a node in the middle
 * keeps every known pair and leaves the new row and column unknown. */
static void test_distance_matrix(void **state)
{
	struct host *h = host_new();

	assert_non_null(host_add_node(h, 5, 100, 50));
	assert_non_null(host_add_node(h, 1, 100, 10));
	assert_int_equal(host_set_distance(h, 1, 1, 10), 0);
	assert_int_equal(host_set_distance(h, 1, 5, 21), 0);
	assert_int_equal(host_set_distance(h, 5, 1, 22), 0);
	assert_int_equal(host_set_distance(h, 5, 5, 11), 0);
	assert_int_equal(host_set_distance(h, 1, 3, 21), -ENOENT);
	assert_int_equal(host_set_distance(h, 1, 5, 0), -EINVAL);
	assert_non_null(host_add_node(h, 3, 100, 20));
	assert_non_null(host_add_node(h, 9, 100, 20));
	assert_int_equal(host_distance(h, 1, 1), 10);
	assert_int_equal(host_distance(h, 1, 5), 21);
	assert_int_equal(host_distance(h, 5, 1), 22);
	assert_int_equal(host_distance(h, 5, 5), 11);
	for (unsigned id = 0; id < 10; id++) {
		assert_int_equal(host_distance(h, 3, id), 0);
		assert_int_equal(host_distance(h, id, 3), 0);
		assert_int_equal(host_distance(h, 9, id), 0);
	}
	assert_int_equal(host_distance(h, 2, 1), 0);
	assert_int_equal(host_set_distance(h, 3, 9, 31), 0);
	assert_int_equal(host_distance(h, 3, 9), 31);
	assert_int_equal(host_distance(h, 9, 3), 0);
	host_free(h);
}

static void test_set_free(void **state)
{
	struct host *h = host_new();
	struct host_node *n = host_add_node(h, 0, 1000, 1000);

	n->free_known = false;
	assert_int_equal(host_node_add_pool(n, 2048, 10, 0), 0);
	n->pools[0].free_known = false;
	assert_int_equal(host_node_set_free(n, 1001), -EINVAL);
	assert_false(n->free_known);
	assert_int_equal(host_node_set_free(n, 400), 0);
	assert_true(n->free_known);
	assert_int_equal(n->free_kib, 400);
	assert_int_equal(host_node_set_pool_free(n, GIB, 1), -ENOENT);
	assert_int_equal(host_node_set_pool_free(n, 2048, 11), -EINVAL);
	assert_false(n->pools[0].free_known);
	assert_int_equal(host_node_set_pool_free(n, 2048, 7), 0);
	assert_true(n->pools[0].free_known);
	assert_int_equal(n->pools[0].free, 7);
	host_free(h);
}

/* A deep copy: changing the copy leaves the original as it was. */
static void test_dup(void **state)
{
	struct host *h = host_new(), *d;

	h->source = HOST_SOURCE_LIBVIRT;
	assert_non_null(host_add_node(h, 0, 1000, 500));
	assert_non_null(host_add_node(h, 2, 2000, 1500));
	nodeset_set(&h->nodes[0].cpus, 7);
	assert_int_equal(host_node_add_pool(&h->nodes[1], 2048, 4, 4), 0);
	assert_int_equal(host_set_distance(h, 0, 2, 31), 0);
	host_warn(h, "odd %d", 1);
	d = host_dup(h);
	assert_non_null(d);
	assert_int_equal(d->source, HOST_SOURCE_LIBVIRT);
	assert_int_equal(d->n_nodes, 2);
	assert_true(nodeset_test(&d->nodes[0].cpus, 7));
	assert_int_equal(d->nodes[1].pools[0].total, 4);
	assert_int_equal(host_distance(d, 0, 2), 31);
	assert_string_equal(d->warnings[0], "odd 1");
	assert_null(d->warnings[1]);
	assert_int_equal(host_node_set_free(&d->nodes[0], 10), 0);
	assert_int_equal(host_set_distance(d, 0, 2, 41), 0);
	assert_non_null(host_add_node(d, 1, 10, 10));
	assert_int_equal(h->nodes[0].free_kib, 500);
	assert_int_equal(host_distance(h, 0, 2), 31);
	assert_int_equal(host_distance(d, 0, 2), 41);
	assert_int_equal(h->n_nodes, 2);
	host_free(d);
	d = host_new();
	host_free(h);
	h = host_dup(d); /* an empty host */
	assert_non_null(h);
	assert_int_equal(h->n_nodes, 0);
	host_free(h);
	host_free(d);
}

/* Which free values a check may rely on: none from capabilities, all from
 * sysfs, and what the libvirt source filled in. */
static void test_free_known(void **state)
{
	static const struct {
		const char *what, *nodes;
		uint64_t page_kib;
		bool want;
	} cases[] = {
	        {"plain memory, node 0 filled in", "0", 4, true},
	        {"plain memory, node 1 not", "0-1", 4, false},
	        {"2M pages on node 1, filled in", "1", 2048, true},
	        {"2M pages on nodes 0-1, node 0 not", "0-1", 2048, false},
	        {"1G pages, only node 0 has the pool, unknown", "0-3", GIB, false},
	        {"16K pages nobody has: none, known", "0-3", 16, true},
	        {"a node the host lacks", "5", 4, true},
	};
	g_autofree char *dir = data_path("host-4node");
	struct host *h = caps_load("caps-2ddr-2hbm.xml");
	struct nodeset ns;

	assert_int_equal(host_node_set_free(&h->nodes[0], GIB), 0);
	assert_int_equal(host_node_set_pool_free(&h->nodes[1], 2048, 7), 0);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		assert_int_equal(nodeset_parse(cases[i].nodes, &ns, NULL), 0);
		if (host_free_known(h, &ns, cases[i].page_kib) != cases[i].want)
			fail_msg("%s: want %d", cases[i].what, cases[i].want);
	}
	host_free(h);
	assert_int_equal(host_snapshot_at(dir, &h, NULL), 0);
	assert_int_equal(nodeset_parse("0-4", &ns, NULL), 0);
	assert_true(host_free_known(h, &ns, 4));
	assert_true(host_free_known(h, &ns, GIB));
	host_free(h);
}

static void test_source_names(void **state)
{
	assert_string_equal(host_source_name(HOST_SOURCE_LOCAL), "local");
	assert_string_equal(host_source_name(HOST_SOURCE_SYSFS), "sysfs");
	assert_string_equal(host_source_name(HOST_SOURCE_LIBVIRT), "libvirt");
	assert_string_equal(host_source_name(HOST_SOURCE_CAPS), "caps");
}

/* --- capabilities XML ----------------------------------------------------- */

static struct host *caps_load(const char *name)
{
	g_autofree char *path = data_path(name);
	g_autofree char *xml = NULL;
	struct host *h = NULL;
	char *err = NULL;
	gsize len;

	assert_true(g_file_get_contents(path, &xml, &len, NULL));
	if (host_from_caps(xml, len, &h, &err) < 0)
		fail_msg("%s: %s", name, err ? err : "(no message)");
	assert_null(err);
	assert_int_equal(h->source, HOST_SOURCE_CAPS);
	return h;
}

#define NPOOL 3
struct want_cell {
	unsigned id;
	const char *cpus;
	uint64_t total_kib;
	struct {
		uint64_t page_kib, total;
	} pools[NPOOL];
};

static const struct want_cell want_1node[] = {
        {0, "0-3", 8 * GIB, {{2048, 512}, {GIB, 0}}},
};

static const struct want_cell want_2ddr_2hbm[] = {
        {0, "0-15", 128 * GIB, {{2048, 2048}, {GIB, 8}}},
        {1, "16-31", 128 * GIB, {{2048, 2048}, {GIB, 8}}},
        {2, "", 16 * GIB, {{2048, 0}, {GIB, 0}}},
        {3, "", 16 * GIB, {{2048, 0}, {GIB, 0}}},
};

/* libvirt 9.0's test driver: 8 KiB pages on cell 1, no distances. */
static const struct want_cell want_test_driver[] = {
        {0, "0-7", 2 * GIB, {{2048, 0}, {GIB, 0}}},
        {1, "8-15", 4 * GIB, {{8, 524288}, {2048, 0}, {GIB, 0}}},
};

static void check_cell(const struct host_node *n, const struct want_cell *w)
{
	char cpus[NODESET_FORMAT_MAX];
	size_t np = 0;

	assert_int_equal(n->id, w->id);
	assert_string_equal(nodeset_format(&n->cpus, cpus, sizeof(cpus)), w->cpus);
	assert_int_equal(host_node_has_cpus(n), w->cpus[0] != '\0');
	assert_int_equal(n->total_kib, w->total_kib);
	assert_false(n->free_known);
	while (np < NPOOL && w->pools[np].page_kib != 0)
		np++;
	assert_int_equal(n->n_pools, np);
	for (size_t p = 0; p < np; p++) {
		assert_int_equal(n->pools[p].page_kib, w->pools[p].page_kib);
		assert_int_equal(n->pools[p].total, w->pools[p].total);
		assert_false(n->pools[p].free_known);
	}
	assert_int_equal(n->tier, -1);
}

static const unsigned slit_2ddr_2hbm[4][4] = {
        {10, 21, 13, 23},
        {21, 10, 23, 13},
        {13, 23, 10, 23},
        {23, 13, 23, 10},
};

static void check_warnings(const struct host *h, const char *const *want)
{
	size_t n = 0;

	while (want[n] != NULL) {
		if (h->warnings == NULL || h->warnings[n] == NULL ||
		    strstr(h->warnings[n], want[n]) == NULL)
			fail_msg("warning %zu: want \"%s\", got \"%s\"", n, want[n],
			         h->warnings && h->warnings[n] ? h->warnings[n] : "(none)");
		n++;
	}
	if (h->warnings != NULL && h->warnings[n] != NULL)
		fail_msg("unexpected warning \"%s\"", h->warnings[n]);
}

static const struct {
	const char *file;
	size_t n_cells;
	const struct want_cell *cells;
	const unsigned (*slit)[4]; /* NULL: none, or computed */
	const char *warnings[3];
} caps_fixtures[] = {
        {"caps-1node.xml", 1, want_1node, NULL, {NULL}},
        {"caps-2ddr-2hbm.xml", 4, want_2ddr_2hbm, slit_2ddr_2hbm, {NULL}},
        {"caps-test-driver.xml",
         2,
         want_test_driver,
         NULL,
         {"cell 1 lists no 4 KiB base pages", "no cell lists <distances>", NULL}},
};

static void test_caps_fixtures(void **state)
{
	for (size_t f = 0; f < G_N_ELEMENTS(caps_fixtures); f++) {
		struct host *h = caps_load(caps_fixtures[f].file);

		assert_int_equal(h->n_nodes, caps_fixtures[f].n_cells);
		for (size_t i = 0; i < h->n_nodes; i++)
			check_cell(&h->nodes[i], &caps_fixtures[f].cells[i]);
		for (unsigned i = 0; caps_fixtures[f].slit && i < h->n_nodes; i++)
			for (unsigned j = 0; j < h->n_nodes; j++)
				assert_int_equal(host_distance(h, i, j),
				                 caps_fixtures[f].slit[i][j]);
		check_warnings(h, caps_fixtures[f].warnings);
		host_free(h);
	}
}

/* caps-1node: the one distance; the test driver: none at all. */
static void test_caps_sparse_slit(void **state)
{
	struct host *h = caps_load("caps-1node.xml");

	assert_int_equal(host_distance(h, 0, 0), 10);
	host_free(h);
	h = caps_load("caps-test-driver.xml");
	for (unsigned i = 0; i < 2; i++)
		for (unsigned j = 0; j < 2; j++)
			assert_int_equal(host_distance(h, i, j), 0);
	host_free(h);
}

/* 8 nodes, 240 CPUs: node i has 15i..15i+14 and their hyperthread siblings
 * 120+15i..120+15i+14; 21 within a half of the machine, 31 across. */
static void test_caps_8node(void **state)
{
	struct host *h = caps_load("caps-8node.xml");
	struct nodeset all;

	assert_int_equal(h->n_nodes, 8);
	nodeset_clear_all(&all);
	for (unsigned i = 0; i < 8; i++) {
		const struct host_node *n = &h->nodes[i];
		char want[64], got[NODESET_FORMAT_MAX];

		snprintf(want, sizeof(want), "%u-%u,%u-%u", 15 * i, 15 * i + 14, 120 + 15 * i,
		         120 + 15 * i + 14);
		assert_int_equal(n->id, i);
		assert_string_equal(nodeset_format(&n->cpus, got, sizeof(got)), want);
		assert_int_equal(nodeset_count(&n->cpus), 30);
		assert_int_equal(n->total_kib, 64 * GIB);
		assert_int_equal(n->n_pools, 2);
		assert_int_equal(n->pools[0].total, 1024);
		assert_int_equal(n->pools[1].total, i < 4 ? 4 : 0);
		for (unsigned j = 0; j < 8; j++)
			assert_int_equal(host_distance(h, i, j),
			                 i == j ? 10 : (i / 4 == j / 4 ? 21 : 31));
		for (int c = nodeset_next(&n->cpus, 0); c >= 0; c = nodeset_next(&n->cpus, c + 1)) {
			assert_false(nodeset_test(&all, (unsigned)c));
			nodeset_set(&all, (unsigned)c);
		}
	}
	assert_int_equal(nodeset_count(&all), 240);
	assert_null(h->warnings);
	host_free(h);
}

#define CAPS(cells)                                                                                \
	"<capabilities><host><topology><cells>" cells "</cells></topology></host></capabilities>"
#define CELL0 "<cell id='0'><memory unit='KiB'>1048576</memory></cell>"

/* Inputs that are not capabilities, or whose numbers do not hold. */
static const struct {
	const char *what, *xml;
	int rc;
	const char *err;
} bad_caps[] = {
        {"not XML", "<capabilities><host>", -EINVAL, "malformed XML"},
        {"empty", "", -EINVAL, "capabilities XML"},
        {"another document", "<domain type='kvm'/>", -EINVAL, "<domain>, not <capabilities>"},
        {"no topology", "<capabilities><host/></capabilities>", -EINVAL,
         "no <host><topology><cells>"},
        {"no cell", CAPS(""), -EINVAL, "lists no <cell>"},
        {"cell without id", CAPS("<cell/>"), -EINVAL, "<cell> has no id"},
        {"cell id not a number", CAPS("<cell id='x'/>"), -EINVAL,
         "<cell> id \"x\" is not a number"},
        {"cell id too large", CAPS("<cell id='1024'/>"), -EINVAL, "up to 1023"},
        {"negative cell id", CAPS("<cell id='-1'/>"), -EINVAL, "is not a number"},
        {"cell twice", CAPS(CELL0 CELL0), -EINVAL, "cell 0 listed twice"},
        {"memory not a number", CAPS("<cell id='0'><memory unit='KiB'>lots</memory></cell>"),
         -EINVAL, "<memory>"},
        {"memory in an unknown unit", CAPS("<cell id='0'><memory unit='parsecs'>1</memory></cell>"),
         -EINVAL, "<memory>"},
        {"page count not a number",
         CAPS("<cell id='0'><pages unit='KiB' size='2048'>-1</pages></cell>"), -EINVAL,
         "cell 0 <pages> value \"-1\""},
        {"page without size", CAPS("<cell id='0'><pages>1</pages></cell>"), -EINVAL, "has no size"},
        {"page size 0", CAPS("<cell id='0'><pages unit='KiB' size='0'>1</pages></cell>"), -EINVAL,
         "a page size of 0"},
        {"page size twice",
         CAPS("<cell id='0'><pages size='2048'>1</pages><pages unit='MiB' "
              "size='2'>1</pages></cell>"),
         -EEXIST, "2048 KiB pages listed twice"},
        {"page count overflows",
         CAPS("<cell id='0'><pages unit='KiB' size='1048576'>9007199254740991</pages></cell>"),
         -ERANGE, "too many"},
        {"cpu id not a number", CAPS("<cell id='0'><cpus num='1'><cpu id='zero'/></cpus></cell>"),
         -EINVAL, "cell 0 <cpu> id \"zero\""},
        {"cpu without id", CAPS("<cell id='0'><cpus num='1'><cpu/></cpus></cell>"), -EINVAL,
         "has no id"},
        {"cpu twice", CAPS("<cell id='0'><cpus num='2'><cpu id='3'/><cpu id='3'/></cpus></cell>"),
         -EINVAL, "CPU 3 listed twice"},
        {"distance to a cell that is not there",
         CAPS("<cell id='0'><distances><sibling id='1' value='21'/></distances></cell>"), -ENOENT,
         "cell 0 <sibling>: no cell 1"},
        {"distance 0",
         CAPS("<cell id='0'><distances><sibling id='0' value='0'/></distances></cell>"), -EINVAL,
         "a distance of 0"},
        {"distance not a number",
         CAPS("<cell id='0'><distances><sibling id='0' value='far'/></distances></cell>"), -EINVAL,
         "value \"far\""},
        {"distance without value",
         CAPS("<cell id='0'><distances><sibling id='0'/></distances></cell>"), -EINVAL,
         "has no value"},
};

static void test_caps_bad(void **state)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bad_caps); i++) {
		struct host *h = (struct host *)1;
		char *err = NULL;
		int rc = host_from_caps(bad_caps[i].xml, strlen(bad_caps[i].xml), &h, &err);

		if (rc != bad_caps[i].rc || err == NULL || strstr(err, bad_caps[i].err) == NULL)
			fail_msg("%s: rc %d, err \"%s\"", bad_caps[i].what, rc,
			         err ? err : "(none)");
		assert_null(h);
		free(err);
	}
}

/* Oddities that are tolerated and reported. */
static const struct {
	const char *what, *xml;
	const char *cpus; /* of cell 0 */
	uint64_t total_kib;
	const char *warnings[3];
} odd_caps[] = {
        {"no <cpus> at all: CPU-less", CAPS(CELL0), "", GIB, {"no cell lists <distances>", NULL}},
        {"no <memory>",
         CAPS("<cell id='0'><cpus num='1'><cpu id='2'/></cpus></cell>"),
         "2",
         0,
         {"cell 0 has no <memory>", "no cell lists <distances>", NULL}},
        {"pools above the memory",
         CAPS("<cell id='0'><memory>4096</memory><pages unit='KiB' size='4'>0</pages>"
              "<pages unit='KiB' size='2048'>4</pages><distances><sibling id='0' value='10'/>"
              "</distances></cell>"),
         "",
         4096,
         {"hugepage pools hold 8192 KiB, more than its 4096 KiB", NULL}},
        {"a partial SLIT",
         CAPS("<cell id='0'><memory>4096</memory><distances><sibling id='0' value='10'/>"
              "<sibling id='1' value='20'/></distances></cell><cell "
              "id='1'><memory>4096</memory></cell>"),
         "",
         4096,
         {"cell 1 gives no distance to cell 0", "cell 1 gives no distance to cell 1", NULL}},
        {"spaces and other units",
         CAPS("<cell id=' 0 '><memory unit='GiB'> 2 </memory><pages unit='MiB' size='2'> 3 </pages>"
              "<distances><sibling id='0' value='10'/></distances></cell>"),
         "",
         2 * GIB,
         {"cell 0 lists no 4 KiB base pages", NULL}},
};

static void test_caps_odd(void **state)
{
	for (size_t i = 0; i < G_N_ELEMENTS(odd_caps); i++) {
		char cpus[NODESET_FORMAT_MAX];
		struct host *h = NULL;
		char *err = NULL;

		if (host_from_caps(odd_caps[i].xml, strlen(odd_caps[i].xml), &h, &err) < 0)
			fail_msg("%s: %s", odd_caps[i].what, err);
		assert_string_equal(nodeset_format(&h->nodes[0].cpus, cpus, sizeof(cpus)),
		                    odd_caps[i].cpus);
		assert_int_equal(h->nodes[0].total_kib, odd_caps[i].total_kib);
		check_warnings(h, odd_caps[i].warnings);
		host_free(h);
	}
}

/* An external entity is neither fetched nor substituted. */
static void test_caps_no_entities(void **state)
{
	g_autofree char *dir = g_dir_make_tmp("memplug-caps-XXXXXX", NULL);
	g_autofree char *secret = g_build_filename(dir, "secret", NULL);
	g_autofree char *xml = NULL;
	struct host *h = NULL;
	char *err = NULL;
	int rc;

	assert_true(g_file_set_contents(secret, "123456", -1, NULL));
	xml = g_strdup_printf("<!DOCTYPE capabilities [<!ENTITY x SYSTEM \"file://%s\">]>" CAPS(
	                              "<cell id='0'><memory unit='KiB'>&x;</memory></cell>"),
	                      secret);
	rc = host_from_caps(xml, strlen(xml), &h, &err);
	if (rc == 0)
		assert_int_not_equal(h->nodes[0].total_kib, 123456);
	else
		assert_non_null(strstr(err, "<memory>"));
	host_free(h);
	free(err);
	g_remove(secret);
	g_rmdir(dir);
}

/* --- the real machine ----------------------------------------------------- */

static void test_real_host(void **state)
{
	struct host *h = NULL;
	char *err = NULL;
	int rc = host_snapshot(&h, &err);

	if (rc < 0)
		fail_msg("host_snapshot: %s", err ? err : "(no message)");
	assert_int_equal(h->source, HOST_SOURCE_LOCAL);
	assert_true(h->n_nodes >= 1);
	assert_true(h->nodes[0].total_kib > 0);
	for (size_t i = 0; i < h->n_nodes; i++) {
		assert_true(h->nodes[i].free_known);
		assert_true(h->nodes[i].free_kib <= h->nodes[i].total_kib);
		/* libnuma's SLIT: a node is nearest to itself */
		assert_int_equal(host_distance(h, h->nodes[i].id, h->nodes[i].id), 10);
	}
	for (size_t i = 0, cpus = 0; i < h->n_nodes; i++) {
		cpus += nodeset_count(&h->nodes[i].cpus);
		if (i + 1 == h->n_nodes)
			assert_true(cpus >= 1);
	}
	host_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fixture_4node),
	        cmocka_unit_test(test_fixture_free_kib),
	        cmocka_unit_test(test_fixture_nodeset),
	        cmocka_unit_test(test_fixture_tiers),
	        cmocka_unit_test(test_bad_trees),
	        cmocka_unit_test(test_odd_trees),
	        cmocka_unit_test(test_bad_tier_list),
	        cmocka_unit_test(test_caps_plus_tiers),
	        cmocka_unit_test(test_missing_dir),
	        cmocka_unit_test(test_builders),
	        cmocka_unit_test(test_distance_matrix),
	        cmocka_unit_test(test_set_free),
	        cmocka_unit_test(test_dup),
	        cmocka_unit_test(test_source_names),
	        cmocka_unit_test(test_free_known),
	        cmocka_unit_test(test_caps_fixtures),
	        cmocka_unit_test(test_caps_sparse_slit),
	        cmocka_unit_test(test_caps_8node),
	        cmocka_unit_test(test_caps_bad),
	        cmocka_unit_test(test_caps_odd),
	        cmocka_unit_test(test_caps_no_entities),
	        cmocka_unit_test(test_real_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
