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

/* --- the 4-node fixture ------------------------------------------------ */

struct want_pool {
	uint64_t page_kib, total, free;
};

struct want_node {
	unsigned id;
	uint64_t total_kib, free_kib;
	size_t n_pools;
	struct want_pool pools[2];
};

static const struct want_node fixture_nodes[] = {
        {0, 16 * GIB, 8 * GIB, 2, {{2048, 512, 500}, {GIB, 4, 2}}},
        {1, 16 * GIB, 12 * GIB, 2, {{2048, 1024, 1024}, {GIB, 0, 0}}},
        {3, 32 * GIB, 30000000, 1, {{GIB, 8, 8}}},
        {4, 8 * GIB, 4 * GIB, 0, {{0}}},
};

static void check_node(const struct host_node *got, const struct want_node *want)
{
	assert_int_equal(got->id, want->id);
	assert_int_equal(got->total_kib, want->total_kib);
	assert_int_equal(got->free_kib, want->free_kib);
	assert_int_equal(got->n_pools, want->n_pools);
	for (size_t p = 0; p < want->n_pools; p++) {
		assert_int_equal(got->pools[p].page_kib, want->pools[p].page_kib);
		assert_int_equal(got->pools[p].total, want->pools[p].total);
		assert_int_equal(got->pools[p].free, want->pools[p].free);
	}
}

static void test_fixture_4node(void **state)
{
	g_autofree char *dir = data_path("host-4node");
	struct host *h = NULL;
	char *err = NULL;

	assert_int_equal(host_snapshot_at(dir, &h, &err), 0);
	assert_null(err);
	assert_int_equal(h->n_nodes, G_N_ELEMENTS(fixture_nodes));
	for (size_t i = 0; i < G_N_ELEMENTS(fixture_nodes); i++)
		check_node(&h->nodes[i], &fixture_nodes[i]);
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

/* --- broken trees -------------------------------------------------------- */

struct file {
	const char *path, *text;
};

#define MEMINFO0 "Node 0 MemTotal: 1048576 kB\nNode 0 MemFree: 524288 kB\n"
#define POOL0    "node0/hugepages/hugepages-2048kB/"

static const struct {
	const char *what;
	struct file files[4];
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

/* --- the real machine ----------------------------------------------------- */

static void test_real_host(void **state)
{
	struct host *h = NULL;
	char *err = NULL;
	int rc = host_snapshot(&h, &err);

	if (rc < 0)
		fail_msg("host_snapshot: %s", err ? err : "(no message)");
	assert_true(h->n_nodes >= 1);
	assert_true(h->nodes[0].total_kib > 0);
	for (size_t i = 0; i < h->n_nodes; i++)
		assert_true(h->nodes[i].free_kib <= h->nodes[i].total_kib);
	host_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fixture_4node),   cmocka_unit_test(test_fixture_free_kib),
	        cmocka_unit_test(test_fixture_nodeset), cmocka_unit_test(test_bad_trees),
	        cmocka_unit_test(test_missing_dir),     cmocka_unit_test(test_builders),
	        cmocka_unit_test(test_real_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
