/*
 * Unit tests for common/domain.c: the fixtures in tests/data parse into the
 * expected model, and every malformed input fails with a message naming
 * the element at fault.
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

#include "domain.h"

#define GIB UINT64_C(1048576)
#define MIB UINT64_C(1024)

static struct domain *load(const char *file, int expect_rc, char **err)
{
	const char *dir = getenv("MEMPLUG_TEST_DATA");
	struct domain *dom = NULL;
	char path[4096];

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	assert_int_equal(domain_parse_file(path, &dom, err), expect_rc);
	return dom;
}

struct good_case {
	const char *file;
	const char *name;
	uint64_t max_kib;
	unsigned slots;
	uint64_t memory_kib;
	size_t n_cells;
	uint64_t boot_kib;
	size_t n_memdevs;
	unsigned used_slots;
	size_t n_pages;
	size_t n_memnodes;
	int hotplug_rc;
};

static const struct good_case good_cases[] = {
        {"anuma-8cell.xml", "anuma-8cell", 128 * GIB, 32, 64 * GIB, 8, 64 * GIB, 0, 0, 0, 0, 0},
        {"guest-2cell.xml", "guest-2cell", 8 * GIB, 16, 2 * GIB, 2, 2 * GIB, 0, 0, 0, 0, 0},
        {"hbm-cpuless.xml", "hbm-cpuless", 32 * GIB, 16, 10 * GIB, 3, 10 * GIB, 0, 0, 0, 3, 0},
        {"hugepages-mixed.xml", "hugepages-mixed", 32 * GIB, 16, 8 * GIB, 4, 8 * GIB, 0, 0, 2, 2,
         0},
        {"numatune-strict.xml", "numatune-strict", 8 * GIB, 8, 2 * GIB, 2, 2 * GIB, 0, 0, 0, 0, 0},
        {"numatune-auto.xml", "numatune-auto", 8 * GIB, 8, 2 * GIB, 2, 2 * GIB, 0, 0, 0, 0, 0},
        {"with-dimms.xml", "with-dimms", 16 * GIB, 8, 6656 * MIB, 2, 4 * GIB, 3, 3, 0, 0, 0},
        {"guest-3cell-hugepage.xml", "guest-3cell-hugepage", 8 * GIB, 16, 2560 * MIB, 3, 2560 * MIB,
         0, 0, 1, 1, 0},
        {"nomax.xml", "nomax", 0, 0, 2 * GIB, 2, 2 * GIB, 0, 0, 0, 0, -EINVAL},
};

static void test_domain_fixtures(void **state)
{
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		char *err = NULL;
		struct domain *dom;

		print_message("fixture %s\n", c->file);
		dom = load(c->file, 0, &err);
		assert_null(err);
		assert_string_equal(dom->name, c->name);
		assert_string_equal(dom->type, "qemu");
		assert_int_equal(dom->id, -1);
		assert_int_equal(dom->max_memory_kib, c->max_kib);
		assert_int_equal(dom->slots, c->slots);
		assert_int_equal(dom->memory_kib, c->memory_kib);
		assert_int_equal(dom->n_cells, c->n_cells);
		assert_int_equal(domain_boot_kib(dom), c->boot_kib);
		assert_int_equal(dom->n_memdevs, c->n_memdevs);
		assert_int_equal(domain_used_slots(dom), c->used_slots);
		assert_int_equal(dom->n_pages, c->n_pages);
		assert_int_equal(dom->n_memnodes, c->n_memnodes);
		for (size_t j = 0; j < dom->n_cells; j++)
			assert_int_equal(dom->cells[j].id, j);
		assert_int_equal(domain_check_hotplug(dom, &err), c->hotplug_rc);
		if (c->hotplug_rc != 0)
			assert_non_null(strstr(err, "<maxMemory>"));
		free(err);
		domain_free(dom);
	}
}

/* Cells written out of order come back sorted, CPU-less cells included. */
static void test_domain_hbm(void **state)
{
	struct domain *dom = load("hbm-cpuless.xml", 0, NULL);
	const struct domain_memnode *mn;

	assert_string_equal(dom->cells[0].cpus, "0-3");
	assert_int_equal(dom->cells[0].memory_kib, 4 * GIB);
	assert_string_equal(dom->cells[1].discard, "yes");
	assert_null(dom->cells[2].cpus);
	assert_string_equal(dom->cells[2].mem_access, "shared");
	assert_int_equal(dom->cells[2].memory_kib, 2 * GIB);
	mn = domain_memnode_find(dom, 2);
	assert_non_null(mn);
	assert_int_equal(mn->mode, NUMA_MODE_PREFERRED);
	assert_true(nodeset_test(&mn->nodeset, 2));
	assert_int_equal(nodeset_count(&mn->nodeset), 1);
	assert_true(dom->has_numatune_memory);
	assert_int_equal(dom->numatune_placement, NUMA_PLACEMENT_STATIC);
	domain_free(dom);
}

static void test_domain_dimms(void **state)
{
	struct domain *dom = load("with-dimms.xml", 0, NULL);
	const struct domain_memdev *md = dom->memdevs;

	assert_string_equal(dom->uuid, "9d4e2f1a-0b3c-4d5e-8f6a-7b8c9d0e1f02");
	assert_int_equal(dom->current_memory_kib, 6 * GIB);
	assert_string_equal(md[0].alias, "ua-memplug-0");
	assert_int_equal(md[0].target_node, 0);
	assert_int_equal(md[0].size_kib, GIB);
	assert_true(md[0].has_slot);
	assert_int_equal(md[0].slot, 0);
	assert_true(md[0].has_base);
	assert_int_equal(md[0].base, UINT64_C(0x100000000));
	assert_string_equal(md[2].alias, "dimm2");
	assert_int_equal(md[2].slot, 2);
	assert_int_equal(md[2].base, UINT64_C(0x180000000));
	assert_true(domain_has_alias(dom, "ua-memplug-1"));
	assert_true(domain_has_alias(dom, "dimm2"));
	assert_false(domain_has_alias(dom, "ua-memplug"));
	assert_false(domain_has_alias(NULL, "dimm2"));
	assert_int_equal(domain_memdev_kib(dom, 0), GIB);
	assert_int_equal(domain_memdev_kib(dom, 1), GIB + 512 * MIB);
	assert_int_equal(domain_memdev_kib(dom, -1), 2 * GIB + 512 * MIB);
	assert_null(domain_memnode_find(dom, 0));
	domain_free(dom);
}

static void test_domain_pages(void **state)
{
	struct domain *dom = load("hugepages-mixed.xml", 0, NULL);

	assert_true(dom->hugepages);
	assert_int_equal(dom->pages[0].size_kib, 2048);
	assert_true(dom->pages[0].has_nodeset);
	assert_true(nodeset_test(&dom->pages[0].nodeset, 1));
	assert_false(nodeset_test(&dom->pages[0].nodeset, 2));
	assert_int_equal(dom->pages[1].size_kib, GIB);
	assert_true(nodeset_test(&dom->pages[1].nodeset, 3));
	assert_int_equal(domain_memnode_find(dom, 3)->mode, NUMA_MODE_INTERLEAVE);
	domain_free(dom);
}

struct mode_case {
	const char *file;
	enum numa_mode mode;
	enum numa_placement placement;
	const char *mode_name;
};

static const struct mode_case mode_cases[] = {
        {"numatune-strict.xml", NUMA_MODE_STRICT, NUMA_PLACEMENT_STATIC, "strict"},
        {"numatune-preferred.xml", NUMA_MODE_PREFERRED, NUMA_PLACEMENT_STATIC, "preferred"},
        {"numatune-interleave.xml", NUMA_MODE_INTERLEAVE, NUMA_PLACEMENT_STATIC, "interleave"},
        {"numatune-restrictive.xml", NUMA_MODE_RESTRICTIVE, NUMA_PLACEMENT_STATIC, "restrictive"},
        {"numatune-auto.xml", NUMA_MODE_STRICT, NUMA_PLACEMENT_AUTO, "strict"},
};

static void test_domain_numatune(void **state)
{
	for (size_t i = 0; i < sizeof(mode_cases) / sizeof(mode_cases[0]); i++) {
		struct domain *dom = load(mode_cases[i].file, 0, NULL);

		print_message("numatune %s\n", mode_cases[i].file);
		assert_true(dom->has_numatune_memory);
		assert_int_equal(dom->numatune_mode, mode_cases[i].mode);
		assert_int_equal(dom->numatune_placement, mode_cases[i].placement);
		assert_string_equal(numa_mode_name(dom->numatune_mode), mode_cases[i].mode_name);
		assert_int_equal(dom->has_numatune_nodeset,
		                 mode_cases[i].placement == NUMA_PLACEMENT_STATIC);
		domain_free(dom);
	}
}

struct bad_case {
	const char *file;
	const char *msg; /* must appear in the error: the element at fault */
};

static const struct bad_case bad_files[] = {
        {"bad-slots0.xml", "<maxMemory>: slots='0'"},
        {"bad-cellid.xml", "<cell id='2'>"},
        {"bad-memnode.xml", "<memnode cellid='3'>: no such <cell>"},
        {"bad-nodeset.xml", "<numatune><memory nodeset>"},
        {"bad-overflow.xml", "<memory>: size '16 EiB' overflows"},
        {"bad-malformed.xml", "line 7: malformed XML: Opening and ending tag mismatch"},
        {"bad-target-node.xml", "<memory><target><node>: guest node 5"},
};

static void test_domain_bad_files(void **state)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		char *err = NULL;

		print_message("bad fixture %s\n", bad_files[i].file);
		assert_null(load(bad_files[i].file, -EINVAL, &err));
		assert_non_null(err);
		print_message("  -> %s\n", err);
		assert_non_null(strstr(err, bad_files[i].msg));
		free(err);
	}
}

/* Inline documents for the cases that do not need a whole fixture. */
#define CELLS                                                                                      \
	"<cpu><numa><cell id='0' cpus='0' memory='1' unit='GiB'/>"                                 \
	"<cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu>"
#define DOM(body) "<domain type='qemu'><name>t</name>" body "</domain>"

struct inline_case {
	const char *what;
	const char *xml;
	const char *msg;
};

static const struct inline_case bad_inline[] = {
        {"slots above 256", DOM("<maxMemory slots='257' unit='GiB'>8</maxMemory>" CELLS),
         "<maxMemory>: slots='257' must be 1..256"},
        {"no slots", DOM("<maxMemory unit='GiB'>8</maxMemory>" CELLS),
         "<maxMemory>: no slots attribute"},
        {"maxMemory below memory",
         DOM("<maxMemory slots='4' unit='GiB'>1</maxMemory><memory unit='GiB'>2</memory>" CELLS),
         "<maxMemory>: 1048576 KiB is less than <memory>"},
        {"bad unit", DOM("<memory unit='furlong'>2</memory>" CELLS), "<memory>: unknown unit"},
        {"duplicate cell",
         DOM("<cpu><numa><cell id='0' cpus='0' memory='1'/><cell id='0' cpus='1' memory='1'/>"
             "</numa></cpu>"),
         "<cell id='0'>: duplicate"},
        {"cell without id", DOM("<cpu><numa><cell cpus='0' memory='1'/></numa></cpu>"),
         "<cell>: no id"},
        {"cell without memory", DOM("<cpu><numa><cell id='0' cpus='0'/></numa></cpu>"),
         "<cell memory>: missing size"},
        {"cell memory overflow",
         DOM("<cpu><numa><cell id='0' memory='99999999999999999999'/></numa></cpu>"),
         "<cell memory>: size '99999999999999999999' overflows"},
        {"unknown numatune mode",
         DOM(CELLS "<numatune><memory mode='loose' nodeset='0'/></numatune>"),
         "<numatune><memory>: unknown mode 'loose'"},
        {"unknown placement",
         DOM(CELLS "<numatune><memory mode='strict' placement='magic'/></numatune>"),
         "<numatune><memory>: unknown placement 'magic'"},
        {"unknown memnode mode",
         DOM(CELLS "<numatune><memnode cellid='0' mode='x' nodeset='0'/></numatune>"),
         "<numatune><memnode>: unknown mode 'x'"},
        {"memnode without nodeset", DOM(CELLS "<numatune><memnode cellid='1'/></numatune>"),
         "<memnode cellid='1'>: no nodeset"},
        {"memnode bad nodeset",
         DOM(CELLS "<numatune><memnode cellid='1' nodeset='2-1'/></numatune>"),
         "<numatune><memnode nodeset>: nodeset '2-1'"},
        {"duplicate memnode",
         DOM(CELLS "<numatune><memnode cellid='1' nodeset='0'/><memnode cellid='1' "
                   "nodeset='1'/></numatune>"),
         "<memnode cellid='1'>: duplicate"},
        {"page nodeset id too big",
         DOM(CELLS "<memoryBacking><hugepages><page size='2048' nodeset='0,4096'/></hugepages>"
                   "</memoryBacking>"),
         "<hugepages><page nodeset>"},
        {"page size overflow",
         DOM(CELLS "<memoryBacking><hugepages><page size='99' unit='EiB'/></hugepages>"
                   "</memoryBacking>"),
         "<hugepages><page>: size"},
        {"device nodemask",
         DOM(CELLS "<devices><memory model='dimm'><source><nodemask>x"
                   "</nodemask></source><target><size unit='MiB'>128</size><node>0"
                   "</node></target></memory></devices>"),
         "<memory><source><nodemask>"},
        {"device without size",
         DOM(CELLS "<devices><memory model='dimm'><target><node>0</node>"
                   "</target></memory></devices>"),
         "<memory><target>: no <size>"},
        {"device bad slot",
         DOM(CELLS "<devices><memory model='dimm'><target><size>1</size>"
                   "</target><address type='dimm' slot='300'/></memory>"
                   "</devices>"),
         "<memory><address>: slot='300'"},
        {"not a domain", "<network><name>x</name></network>", "not <domain>"},
        {"no name", "<domain type='qemu'>" CELLS "</domain>", "<domain>: no <name>"},
        {"external entity",
         "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
         "<domain><name>&x;</name>" CELLS "</domain>",
         "<domain>: no <name>"},
        {"truncated", "<domain><name>t</name", "malformed XML"},
};

/* <allocation mode='immediate'> preallocates; other modes and none do not. */
static void test_domain_allocation(void **state)
{
	static const struct {
		const char *xml;
		bool immediate;
	} cases[] = {
	        {DOM(CELLS "<memoryBacking><allocation mode='immediate'/></memoryBacking>"), true},
	        {DOM(CELLS "<memoryBacking><allocation mode='ondemand'/></memoryBacking>"), false},
	        {DOM(CELLS "<memoryBacking><hugepages/></memoryBacking>"), false},
	        {DOM(CELLS), false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct domain *dom = NULL;

		assert_int_equal(domain_parse(cases[i].xml, strlen(cases[i].xml), &dom, NULL), 0);
		assert_int_equal(dom->alloc_immediate, cases[i].immediate);
		domain_free(dom);
	}
}

static void test_domain_bad_inline(void **state)
{
	for (size_t i = 0; i < sizeof(bad_inline) / sizeof(bad_inline[0]); i++) {
		const struct inline_case *c = &bad_inline[i];
		struct domain *dom = (struct domain *)1;
		char *err = NULL;

		print_message("bad: %s\n", c->what);
		assert_int_equal(domain_parse(c->xml, strlen(c->xml), &dom, &err), -EINVAL);
		assert_null(dom);
		assert_non_null(err);
		print_message("  -> %s\n", err);
		assert_non_null(strstr(err, c->msg));
		free(err);
	}
}

/* virtio-mem and nvdimm devices, units and defaults the fixtures lack. */
static void test_domain_memdev_models(void **state)
{
	static const char xml[] =
	        DOM("<memory unit='GiB'>4</memory>" CELLS "<devices>"
	            "<memory model='virtio-mem'><source><pagesize unit='KiB'>2048</pagesize>"
	            "<nodemask>0-1</nodemask></source><target><size unit='GiB'>1</size>"
	            "<node>1</node><block unit='MiB'>2</block><requested unit='MiB'>512</requested>"
	            "<current unit='MiB'>256</current></target><alias name='virtiomem0'/></memory>"
	            "<memory model='nvdimm'><source><path>/tmp/x</path></source><target>"
	            "<size unit='GiB'>1</size><node>0</node></target></memory>"
	            "<memory model='virtio-pmem'><target><size>1</size></target></memory>"
	            "</devices>");
	struct domain *dom = NULL;
	const struct domain_memdev *vm;
	char *err = NULL;

	assert_int_equal(domain_parse(xml, strlen(xml), &dom, &err), 0);
	assert_null(dom->uuid);
	assert_int_equal(dom->current_memory_kib, 4 * GIB);
	assert_int_equal(dom->n_memdevs, 2);
	vm = &dom->memdevs[0];
	assert_string_equal(memdev_model_name(vm->model), "virtio-mem");
	assert_int_equal(vm->pagesize_kib, 2048);
	assert_true(vm->has_nodemask);
	assert_int_equal(nodeset_count(&vm->nodemask), 2);
	assert_int_equal(vm->block_kib, 2048);
	assert_int_equal(vm->requested_kib, 512 * MIB);
	assert_int_equal(vm->current_kib, 256 * MIB);
	assert_false(vm->has_slot);
	assert_string_equal(memdev_model_name(dom->memdevs[1].model), "nvdimm");
	assert_null(dom->memdevs[1].alias);
	assert_int_equal(domain_used_slots(dom), 1);
	assert_int_equal(domain_check_hotplug(dom, &err), -EINVAL);
	assert_non_null(strstr(err, "<maxMemory>"));
	free(err);
	domain_free(dom);
}

/* A running domain's id, <memory> derived from cells, no cells at all. */
static void test_domain_misc(void **state)
{
	static const char running[] =
	        "<domain type='kvm' id='7'><name>r</name>"
	        "<maxMemory slots='2' unit='GiB'>4</maxMemory>" CELLS "</domain>";
	static const char nocells[] = "<domain type='kvm'><name>n</name>"
	                              "<maxMemory slots='2' unit='GiB'>4</maxMemory>"
	                              "<memory unit='GiB'>1</memory></domain>";
	struct domain *dom = NULL;
	char *err = NULL;

	assert_int_equal(domain_parse(running, strlen(running), &dom, NULL), 0);
	assert_int_equal(dom->id, 7);
	assert_int_equal(dom->memory_kib, 2 * GIB);
	assert_int_equal(domain_check_hotplug(dom, NULL), 0);
	domain_free(dom);
	assert_int_equal(domain_parse(nocells, strlen(nocells), &dom, NULL), 0);
	assert_int_equal(domain_boot_kib(dom), GIB); /* <memory>, not 0 */
	assert_int_equal(domain_check_hotplug(dom, &err), -EINVAL);
	assert_non_null(strstr(err, "<cpu><numa> cell"));
	free(err);
	domain_free(dom);
	domain_free(NULL);
	err = NULL;
	assert_int_equal(domain_parse_file("/nonexistent/x.xml", &dom, &err), -ENOENT);
	assert_non_null(err);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_domain_fixtures),
	        cmocka_unit_test(test_domain_hbm),
	        cmocka_unit_test(test_domain_dimms),
	        cmocka_unit_test(test_domain_pages),
	        cmocka_unit_test(test_domain_numatune),
	        cmocka_unit_test(test_domain_bad_files),
	        cmocka_unit_test(test_domain_bad_inline),
	        cmocka_unit_test(test_domain_memdev_models),
	        cmocka_unit_test(test_domain_misc),
	        cmocka_unit_test(test_domain_allocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
