/*
 * Unit tests for common/backing.c: libvirt's order of precedence for page
 * size, host nodes and mode, checked cell by cell over the fixtures.
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

#include "backing.h"

static struct domain *load(const char *file)
{
	const char *dir = getenv("MEMPLUG_TEST_DATA");
	struct domain *dom = NULL;
	char path[4096];

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	assert_int_equal(domain_parse_file(path, &dom, NULL), 0);
	return dom;
}

struct backing_case {
	const char *file;
	unsigned cell;
	uint64_t page_kib;
	const char *page_source;
	enum numa_mode mode;
	const char *host_nodes; /* NULL when not bound */
	bool auto_placement;
	const char *nodes_source;
};

static const struct backing_case cases[] = {
        {"guest-2cell.xml", 1, 4, "default pages", NUMA_MODE_STRICT, NULL, false, "none"},
        {"numatune-strict.xml", 0, 4, "default pages", NUMA_MODE_STRICT, "0-1", false,
         "numatune memory nodeset"},
        {"numatune-preferred.xml", 1, 4, "default pages", NUMA_MODE_PREFERRED, "1", false,
         "numatune memory nodeset"},
        {"numatune-interleave.xml", 0, 4, "default pages", NUMA_MODE_INTERLEAVE, "0-3", false,
         "numatune memory nodeset"},
        {"numatune-restrictive.xml", 0, 4, "default pages", NUMA_MODE_RESTRICTIVE, NULL, false,
         "none (mode=restrictive)"},
        {"numatune-auto.xml", 1, 4, "default pages", NUMA_MODE_STRICT, NULL, true,
         "numatune placement=auto (numad)"},
        {"hugepages-mixed.xml", 0, 2048, "hugepages page nodeset=0-1", NUMA_MODE_STRICT, "0-1",
         false, "numatune memory nodeset"},
        {"hugepages-mixed.xml", 2, 1048576, "hugepages page nodeset=2-3", NUMA_MODE_STRICT, "1",
         false, "memnode cellid=2"},
        {"hugepages-mixed.xml", 3, 1048576, "hugepages page nodeset=2-3", NUMA_MODE_INTERLEAVE,
         "0-1", false, "memnode cellid=3"},
        {"hbm-cpuless.xml", 2, 4, "default pages", NUMA_MODE_PREFERRED, "2", false,
         "memnode cellid=2"},
        {"guest-3cell-hugepage.xml", 0, 4, "default pages", NUMA_MODE_STRICT, "0", false,
         "numatune memory nodeset"},
        {"guest-3cell-hugepage.xml", 2, 2048, "hugepages page nodeset=2", NUMA_MODE_STRICT, "0",
         false, "memnode cellid=2"},
};

static void check(const struct backing *b, const struct backing_case *c)
{
	char buf[NODESET_FORMAT_MAX];

	assert_int_equal(b->page_size_kib, c->page_kib);
	assert_int_equal(b->hugepages, c->page_kib != 4);
	assert_string_equal(b->page_source, c->page_source);
	assert_int_equal(b->mode, c->mode);
	assert_int_equal(b->bound, c->host_nodes != NULL);
	if (c->host_nodes != NULL)
		assert_string_equal(nodeset_format(&b->host_nodes, buf, sizeof(buf)),
		                    c->host_nodes);
	assert_int_equal(b->auto_placement, c->auto_placement);
	assert_string_equal(b->nodes_source, c->nodes_source);
}

static void test_backing_fixtures(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct domain *dom = load(cases[i].file);
		struct backing b;

		print_message("%s cell %u\n", cases[i].file, cases[i].cell);
		assert_int_equal(backing_infer(dom, cases[i].cell, NULL, &b, NULL), 0);
		check(&b, &cases[i]);
		domain_free(dom);
	}
}

#define DOM(body)                                                                                  \
	"<domain type='qemu'><name>t</name><cpu><numa>"                                            \
	"<cell id='0' cpus='0' memory='1' unit='GiB'/><cell id='1' cpus='1' memory='1' "           \
	"unit='GiB'/><cell id='2' memory='1' unit='GiB'/></numa></cpu>" body "</domain>"

struct inline_case {
	const char *what;
	const char *xml;
	struct backing_case expect; /* .file unused */
};

static const struct inline_case inline_cases[] = {
        {"page without nodeset is the fallback wherever it appears",
         DOM("<memoryBacking><hugepages><page size='1' unit='GiB'/><page size='2048' "
             "nodeset='1'/></hugepages></memoryBacking>"),
         {NULL, 0, 1048576, "hugepages page (no nodeset)", NUMA_MODE_STRICT, NULL, false, "none"}},
        {"nodeset page beats the fallback",
         DOM("<memoryBacking><hugepages><page size='1' unit='GiB'/><page size='2048' "
             "nodeset='1'/></hugepages></memoryBacking>"),
         {NULL, 1, 2048, "hugepages page nodeset=1", NUMA_MODE_STRICT, NULL, false, "none"}},
        {"first matching nodeset page wins",
         DOM("<memoryBacking><hugepages><page size='2048' nodeset='0-2'/><page size='1' "
             "unit='G' nodeset='2'/></hugepages></memoryBacking>"),
         {NULL, 2, 2048, "hugepages page nodeset=0-2", NUMA_MODE_STRICT, NULL, false, "none"}},
        {"no page for the cell",
         DOM("<memoryBacking><hugepages><page size='2048' nodeset='1'/>"
             "</hugepages></memoryBacking>"),
         {NULL, 0, 4, "default pages", NUMA_MODE_STRICT, NULL, false, "none"}},
        {"hugepages without page",
         DOM("<memoryBacking><hugepages/></memoryBacking>"),
         {NULL, 0, 2048, "hugepages (default size)", NUMA_MODE_STRICT, NULL, false, "none"}},
        {"restrictive memnode binds nothing",
         DOM("<numatune><memory mode='strict' nodeset='0'/><memnode cellid='2' "
             "mode='restrictive' nodeset='1'/></numatune>"),
         {NULL, 2, 4, "default pages", NUMA_MODE_RESTRICTIVE, NULL, false,
          "none (mode=restrictive)"}},
        {"memnode beats placement auto",
         DOM("<numatune><memory mode='interleave' placement='auto'/><memnode cellid='1' "
             "mode='preferred' nodeset='3'/></numatune>"),
         {NULL, 1, 4, "default pages", NUMA_MODE_PREFERRED, "3", false, "memnode cellid=1"}},
        {"placement auto keeps the global mode",
         DOM("<numatune><memory mode='interleave' placement='auto'/><memnode cellid='1' "
             "mode='preferred' nodeset='3'/></numatune>"),
         {NULL, 0, 4, "default pages", NUMA_MODE_INTERLEAVE, NULL, true,
          "numatune placement=auto (numad)"}},
};

static void test_backing_inline(void **state)
{
	for (size_t i = 0; i < sizeof(inline_cases) / sizeof(inline_cases[0]); i++) {
		const struct inline_case *c = &inline_cases[i];
		struct domain *dom = NULL;
		struct backing b;

		print_message("%s\n", c->what);
		assert_int_equal(domain_parse(c->xml, strlen(c->xml), &dom, NULL), 0);
		assert_int_equal(backing_infer(dom, c->expect.cell, NULL, &b, NULL), 0);
		check(&b, &c->expect);
		domain_free(dom);
	}
}

/* A device's own <source> beats everything the domain says. */
static void test_backing_device(void **state)
{
	struct domain *dom = load("hugepages-mixed.xml");
	struct domain_memdev dev = {.model = MEMDEV_DIMM, .target_node = 2};
	struct backing b;
	char buf[NODESET_FORMAT_MAX];

	dev.pagesize_kib = 2048;
	dev.has_nodemask = true;
	assert_int_equal(nodeset_parse("0", &dev.nodemask, NULL), 0);
	assert_int_equal(backing_infer(dom, 2, &dev, &b, NULL), 0);
	assert_int_equal(b.page_size_kib, 2048);
	assert_string_equal(b.page_source, "device <source><pagesize>");
	assert_string_equal(nodeset_format(&b.host_nodes, buf, sizeof(buf)), "0");
	assert_string_equal(b.nodes_source, "device <source><nodemask>");
	/* the mode still comes from the cell's memnode, as in libvirt */
	assert_int_equal(b.mode, NUMA_MODE_STRICT);
	assert_int_equal(backing_infer(dom, 3, &dev, &b, NULL), 0);
	assert_int_equal(b.mode, NUMA_MODE_INTERLEAVE);
	/* a device without <source> falls through to the domain */
	dev = (struct domain_memdev){.model = MEMDEV_DIMM, .target_node = 2};
	assert_int_equal(backing_infer(dom, 2, &dev, &b, NULL), 0);
	assert_int_equal(b.page_size_kib, 1048576);
	assert_string_equal(b.nodes_source, "memnode cellid=2");
	domain_free(dom);
}

static void test_backing_errors_and_align(void **state)
{
	struct domain *dom = load("guest-2cell.xml");
	struct backing b = {.page_size_kib = 4};
	char *err = NULL;

	assert_int_equal(backing_infer(dom, 2, NULL, &b, &err), -EINVAL);
	assert_non_null(strstr(err, "guest node 2: no such <cell>"));
	free(err);
	assert_int_equal(backing_align_kib(&b), 131072);
	b.page_size_kib = 2048;
	assert_int_equal(backing_align_kib(&b), 131072);
	b.page_size_kib = 1048576;
	assert_int_equal(backing_align_kib(&b), 1048576);
	domain_free(dom);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_backing_fixtures),
	        cmocka_unit_test(test_backing_inline),
	        cmocka_unit_test(test_backing_device),
	        cmocka_unit_test(test_backing_errors_and_align),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
