/*
 * Unit tests for common/domain_edit.c (through prepare.c): the round trip
 * (every element prepare does not own comes out unchanged: the trees are
 * compared after the owned parts are cut from both), the owned parts as
 * written, comments, the XML declaration, and what the edit reports.
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
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "devmodel.h"
#include "prepare.h"
#include "select.h"

static char *data_path(const char *file)
{
	const char *dir = getenv("MEMPLUG_TEST_DATA");

	assert_non_null(dir);
	return g_build_filename(dir, file, NULL);
}

static char *slurp(const char *file, size_t *len)
{
	g_autofree char *path = data_path(file);
	char *text = NULL;
	gsize n = 0;

	assert_true(g_file_get_contents(path, &text, &n, NULL));
	*len = n;
	return text;
}

static struct host *caps_host(const char *file)
{
	size_t len;
	g_autofree char *caps = slurp(file, &len);
	struct host *h = NULL;

	assert_int_equal(host_from_caps(caps, len, &h, NULL), 0);
	return h;
}

/* Runs prepare on a fixture; returns the original text in *orig. */
static struct prepare *run(const char *guest, const char *caps, struct partition_opts *o,
                           char **orig)
{
	size_t len;
	struct host *h = caps_host(caps);
	struct prepare *p = NULL;
	char *err = NULL;

	*orig = slurp(guest, &len);
	assert_int_equal(prepare_parse(*orig, len, &p, NULL), 0);
	if (prepare_compute(p, h, o, &err) != 0)
		fail_msg("%s: %s", guest, err);
	host_free(h);
	return p;
}

static xmlDoc *read_doc(const char *xml)
{
	xmlDoc *d = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL,
	                          XML_PARSE_NONET | XML_PARSE_NOBLANKS);

	assert_non_null(d);
	return d;
}

static void cut(xmlDoc *d, const char *xpath)
{
	xmlXPathContext *ctx = xmlXPathNewContext(d);
	xmlXPathObject *res = xmlXPathEvalExpression(BAD_CAST xpath, ctx);

	assert_non_null(res);
	for (int i = 0; res->nodesetval && i < res->nodesetval->nodeNr; i++) {
		xmlNode *n = res->nodesetval->nodeTab[i];

		if (n->type == XML_ATTRIBUTE_NODE) {
			xmlRemoveProp((xmlAttr *)n);
		} else {
			xmlUnlinkNode(n);
			xmlFreeNode(n);
		}
		res->nodesetval->nodeTab[i] = NULL;
	}
	xmlXPathFreeObject(res);
	xmlXPathFreeContext(ctx);
}

/* Everything prepare owns (domain_edit.h), and the containers it may have
 * created, once empty. Order matters: children before their containers. */
static const char *const owned[] = {
        "/domain/maxMemory",
        "/domain/cpu/topology",
        "/domain/cpu/numa/cell",
        "/domain/cputune/vcpupin",
        "/domain/numatune/memory",
        "/domain/numatune/memnode",
        "/domain/memoryBacking/hugepages/page[@nodeset]",
        "/domain/devices/memballoon/stats",
        "/domain/cpu/numa[not(*)]",
        "/domain/cpu[not(*) and not(@*)]",
        "/domain/cputune[not(*)]",
        "/domain/numatune[not(*)]",
        "/domain/devices/memballoon[not(*) and @model='virtio']",
};

static char *without_owned(const char *xml)
{
	xmlDoc *d = read_doc(xml);
	xmlChar *out = NULL;
	char *copy;
	int len = 0;

	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		cut(d, owned[i]);
	xmlDocDumpMemory(d, &out, &len);
	copy = strdup((const char *)out);
	xmlFree(out);
	xmlFreeDoc(d);
	return copy;
}

struct trip {
	const char *guest;
	const char *caps;
	struct partition_opts opts;
};

static const struct trip trips[] = {
        {"prepare-16vcpu.xml", "caps-8node.xml", {.mirror = true}},
        {"prepare-rich.xml", "caps-2ddr-2hbm.xml", {.mirror = true}},
        {"prepare-rich.xml", "caps-8node.xml", {.n_cells = 3, .no_pin = true}},
        {"prepare-hugepages.xml", "caps-2ddr-2hbm.xml", {.mirror = true}},
        {"prepare-nocells.xml", "caps-2ddr-2hbm.xml", {.n_cells = 2}},
        {"guest-2cell.xml", "caps-8node.xml", {.n_cells = 2, .max_kib = 16 * 1048576}},
        {"with-dimms.xml", "caps-2ddr-2hbm.xml", {.mirror = true, .cpuless_set = true}},
        {"numatune-auto.xml", "caps-8node.xml", {.n_cells = 2}},
};

static void test_round_trip(void **state)
{
	for (size_t k = 0; k < sizeof(trips) / sizeof(trips[0]); k++) {
		struct partition_opts o = trips[k].opts;
		char *orig = NULL;
		struct prepare *p;
		char *a, *b;

		print_message("round trip: %s on %s\n", trips[k].guest, trips[k].caps);
		p = run(trips[k].guest, trips[k].caps, &o, &orig);
		a = without_owned(orig);
		b = without_owned(p->xml);
		assert_string_equal(a, b);
		/* and the owned parts did change, so the comparison cut something */
		assert_string_not_equal(orig, p->xml);
		free(a);
		free(b);
		g_free(orig);
		prepare_free(p);
	}
}

/* What a test can see without a schema: counts of owned elements. */
static int count(const char *xml, const char *xpath)
{
	xmlDoc *d = read_doc(xml);
	xmlXPathContext *ctx = xmlXPathNewContext(d);
	xmlXPathObject *res = xmlXPathEvalExpression(BAD_CAST xpath, ctx);
	int n = (int)xmlXPathCastToNumber(res);

	xmlXPathFreeObject(res);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(d);
	return n;
}

struct expect {
	const char *xpath; /* a count() expression */
	int want;
};

static void check_all(const char *xml, const struct expect *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (count(xml, e[i].xpath) != e[i].want)
			fail_msg("%s = %d, want %d", e[i].xpath, count(xml, e[i].xpath), e[i].want);
}

static void test_rich_edits(void **state)
{
	static const struct expect want[] = {
	        {"count(/domain/cpu/numa/cell)", 4},
	        {"count(/domain/cpu/numa/cell[@memAccess='shared'])", 4},
	        {"count(/domain/cpu/numa/cell[not(@cpus)])", 2},
	        {"count(/domain/cputune/vcpupin)", 4},
	        {"count(/domain/cputune/vcpupin[@vcpu='3' and @cpuset='16-31'])", 1},
	        {"count(/domain/cputune/emulatorpin[@cpuset='0'])", 1},
	        {"count(/domain/cputune/shares)", 1},
	        {"count(/domain/numatune/memory[@mode='strict' and @nodeset='0-3' and "
	         "not(@placement)])",
	         1},
	        {"count(/domain/numatune/memnode)", 4},
	        {"count(/domain/numatune/memnode[@cellid='2' and @nodeset='2'])", 1},
	        {"count(/domain/cpu/topology[@sockets='2' and @cores='2' and @threads='1'])", 1},
	        {"count(/domain/cpu/model)", 1},
	        {"count(/domain/devices/memballoon/stats[@period='10'])", 1},
	        {"count(/domain/devices/memballoon/address)", 1},
	        {"count(/domain/maxMemory[@slots='96'])", 1},
	        {"count(//comment())", 3},
	        {"count(/domain/cpu/numa/cell/distances/sibling)", 16},
	};
	struct partition_opts o = {.mirror = true};
	char *orig = NULL;
	struct prepare *p = run("prepare-rich.xml", "caps-2ddr-2hbm.xml", &o, &orig);

	check_all(p->xml, want, sizeof(want) / sizeof(want[0]));
	assert_true(g_str_has_prefix(p->xml, "<?xml")); /* the declaration stays */
	assert_true(p->edits.direct_kernel);
	assert_true(p->edits.movable_missing);
	assert_true(p->edits.balloon_stats_added);
	assert_false(p->edits.balloon_added);
	assert_int_equal(p->edits.stats_period, 10);
	assert_int_equal(p->edits.before.pins, 2); /* the two vcpupins it replaced */
	assert_false(p->edits.before.topology);
	assert_non_null(strstr(p->part->warnings[p->part->n_warnings - 1], "online_movable"));
	g_free(orig);
	prepare_free(p);
}

static void test_hugepage_edits(void **state)
{
	static const struct expect want[] = {
	        {"count(/domain/memoryBacking/hugepages/page[@nodeset='0-1'])", 1},
	        {"count(/domain/memoryBacking/hugepages/page)", 1},
	        {"count(/domain/devices/memballoon[@model='none']/stats)", 0},
	        {"count(/domain/cpu/numa/cell[@memory='1966080'])", 2},
	};
	struct partition_opts o = {.mirror = true};
	char *orig = NULL;
	struct prepare *p = run("prepare-hugepages.xml", "caps-2ddr-2hbm.xml", &o, &orig);

	check_all(p->xml, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(p->edits.pages_narrowed, 1);
	assert_int_equal(p->edits.n_pages, 1);
	assert_int_equal(p->edits.pages[0].size_kib, 2048);
	assert_string_equal(p->edits.pages[0].was, "0");
	assert_string_equal(p->edits.pages[0].now, "0-1");
	assert_true(p->edits.balloon_none);
	assert_int_equal(p->edits.stats_period, 0);
	assert_false(p->edits.direct_kernel);
	g_free(orig);
	prepare_free(p);
}

/* What the owned parts were: read before the edit, into the account. */
static void test_before(void **state)
{
	struct partition_opts o = {.n_cells = 2};
	char *orig = NULL;
	struct prepare *p = run("prepare-bigmax.xml", "caps-8node.xml", &o, &orig);
	struct host *h = caps_host("caps-8node.xml");
	json_object *rep = prepare_report(p, h, &o), *before, *v;

	assert_true(p->edits.before.topology);
	assert_int_equal(p->edits.before.sockets, 1);
	assert_int_equal(p->edits.before.cores, 2);
	assert_int_equal(p->edits.before.threads, 1);
	assert_int_equal(p->edits.before.pins, 0);
	assert_false(p->edits.balloon_stats_added);
	assert_int_equal(p->edits.stats_period, 5); /* kept */
	assert_int_equal(p->part->max_memory_kib, 4 * 1024 * 1024);
	assert_true(p->part->max_lowered);
	assert_true(json_object_object_get_ex(rep, "before", &before));
	assert_true(json_object_object_get_ex(before, "max_memory_kib", &v));
	assert_int_equal(json_object_get_uint64(v), 32ULL * 1024 * 1024);
	assert_true(json_object_object_get_ex(before, "slots", &v));
	assert_int_equal(json_object_get_int(v), 16);
	assert_true(json_object_object_get_ex(before, "stats_period", &v));
	assert_int_equal(json_object_get_int(v), 5);
	assert_true(json_object_object_get_ex(rep, "max_source", &v));
	assert_string_equal(json_object_get_string(v), "4x memory");
	json_object_put(rep);
	host_free(h);
	g_free(orig);
	prepare_free(p);
}

/* A <page nodeset> of another size that names only old cells goes, and
 * the account lists it as removed. */
static void test_page_removed(void **state)
{
	static const char xml[] =
	        "<domain type='qemu'><name>pg</name><memory unit='MiB'>2048</memory>"
	        "<memoryBacking><hugepages><page size='2' unit='M' nodeset='0'/>"
	        "<page size='1' unit='G' nodeset='3'/></hugepages></memoryBacking>"
	        "<vcpu>2</vcpu><cpu><numa><cell id='0' cpus='0-1' memory='2048' unit='MiB'/>"
	        "</numa></cpu><devices/></domain>";
	struct partition_opts o = {.n_cells = 2};
	struct host *h = caps_host("caps-8node.xml");
	struct prepare *p = NULL;
	char *err = NULL;

	assert_int_equal(prepare_parse(xml, strlen(xml), &p, NULL), 0);
	if (prepare_compute(p, h, &o, &err) != 0)
		fail_msg("%s", err);
	assert_int_equal(p->edits.pages_narrowed, 1);
	assert_int_equal(p->edits.pages_removed, 1);
	assert_int_equal(p->edits.n_pages, 2);
	assert_string_equal(p->edits.pages[0].now, "0-1");
	assert_int_equal(p->edits.pages[1].size_kib, 1024 * 1024);
	assert_string_equal(p->edits.pages[1].was, "3");
	assert_string_equal(p->edits.pages[1].now, "");
	host_free(h);
	prepare_free(p);
}

static void test_created(void **state)
{
	static const struct expect want[] = {
	        {"count(/domain/cpu/topology)", 1},
	        {"count(/domain/cpu/numa/cell)", 2},
	        {"count(/domain/devices/memballoon[@model='virtio']/stats)", 1},
	        {"count(/domain/maxMemory)", 1},
	        {"count(/domain/maxMemory/following-sibling::*[1][self::memory])", 1},
	        {"count(/domain/cputune/following-sibling::*[1][self::numatune])", 1},
	};
	struct partition_opts o = {.n_cells = 2};
	char *orig = NULL;
	struct prepare *p = run("prepare-nocells.xml", "caps-2ddr-2hbm.xml", &o, &orig);

	check_all(p->xml, want, sizeof(want) / sizeof(want[0]));
	assert_true(p->edits.cpu_added);
	assert_true(p->edits.balloon_added);
	g_free(orig);
	prepare_free(p);
}

/* New elements take the document's indentation. */
static void test_indentation(void **state)
{
	struct partition_opts o = {.mirror = true};
	char *orig = NULL;
	struct prepare *p = run("prepare-16vcpu.xml", "caps-8node.xml", &o, &orig);

	assert_non_null(strstr(
	        p->xml,
	        "\n  <maxMemory slots=\"256\" unit=\"KiB\">268435456</maxMemory>\n  <memory"));
	assert_non_null(strstr(p->xml, "\n  <cputune>\n    <vcpupin vcpu=\"0\""));
	assert_non_null(strstr(
	        p->xml, "\n        <distances>\n          <sibling id=\"0\" value=\"10\"/>"));
	assert_non_null(strstr(
	        p->xml,
	        "<memballoon model=\"virtio\">\n      <stats period=\"10\"/>\n    </memballoon>"));
	g_free(orig);
	prepare_free(p);
}

static void test_refused(void **state)
{
	static const struct {
		const char *guest;
		const char *message;
	} cases[] = {
	        {"prepare-prealloc.xml", "<allocation mode='immediate'> would cover the CPU-less"},
	        {"hugepages-mixed.xml", "guest cells are backed by different page sizes"},
	        {"prepare-hmat.xml", "<numa><interconnects> (HMAT) names the old cells"},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct partition_opts o = {.mirror = true};
		struct host *h = caps_host("caps-2ddr-2hbm.xml");
		size_t len;
		char *xml = slurp(cases[k].guest, &len), *err = NULL;
		struct prepare *p = NULL;

		assert_int_equal(prepare_parse(xml, len, &p, NULL), 0);
		assert_int_equal(prepare_compute(p, h, &o, &err), -EINVAL);
		if (strstr(err, cases[k].message) == NULL)
			fail_msg("'%s' lacks '%s'", err, cases[k].message);
		free(err);
		g_free(xml);
		prepare_free(p);
		host_free(h);
	}
}

static void test_opts_wire(void **state)
{
	struct partition_opts in = {.n_cells = 3,
	                            .max_kib = 4096,
	                            .slots = 7,
	                            .cpuless_set = true,
	                            .cpuless_kib = 0,
	                            .no_pin = true,
	                            .vmem = true};
	struct partition_opts out;
	json_object *j = prepare_opts_json(&in);
	char *err = NULL;

	assert_int_equal(prepare_opts_from_json(j, &out, &err), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	json_object_object_add(j, "mirror_host", json_object_new_boolean(true));
	assert_int_equal(prepare_opts_from_json(j, &out, &err), -EINVAL);
	assert_string_equal(err, "give either mirror_host or cells");
	free(err);
	err = NULL;
	json_object_object_del(j, "cells");
	json_object_object_add(j, "slots", json_object_new_int(300));
	assert_int_equal(prepare_opts_from_json(j, &out, &err), -EINVAL);
	assert_non_null(strstr(err, "slots"));
	free(err);
	json_object_put(j);
}

/* --model virtio-mem: a device per cell, sized to the cell's planned
 * headroom; <memory> counts them, <currentMemory> keeps the boot memory,
 * and a grow on such a definition goes through the device. */
static void test_vmem(void **state)
{
	struct partition_opts o = {.mirror = true, .vmem = true};
	char *orig = NULL, *err = NULL;
	struct prepare *p = run("guest-2cell.xml", "caps-2ddr-2hbm.xml", &o, &orig);
	struct domain *d = NULL;
	struct select_grow_req g = {.size_kib = 130 * 1024, .node = 1};
	struct select_result *r = NULL;
	uint64_t sum = 0;

	(void)state;
	assert_int_equal(p->n_vmem, 4);
	assert_int_equal(domain_parse(p->xml, strlen(p->xml), &d, &err), 0);
	for (unsigned i = 0; i < 4; i++) {
		const struct domain_memdev *m = devmodel_vmem_device(d, i, NULL);

		assert_non_null(m);
		assert_int_equal(m->size_kib, p->vmem[i].size_kib);
		assert_int_equal(m->block_kib, 2048);
		assert_int_equal(m->requested_kib, 0);
		sum += m->size_kib;
	}
	assert_int_equal(d->memory_kib, 2 * 1024 * 1024 + sum);
	assert_true(d->memory_kib <= d->max_memory_kib);
	assert_int_equal(d->current_memory_kib, 2 * 1024 * 1024);
	assert_int_equal(select_grow(d, NULL, &g, &r, &err), 0);
	assert_int_equal(r->code, SELECT_OK);
	assert_int_equal(r->dimms[0].model, DEVMODEL_VIRTIO_MEM);
	select_result_free(r);
	domain_free(d);
	prepare_free(p);
	g_free(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_rich_edits),
	        cmocka_unit_test(test_hugepage_edits), cmocka_unit_test(test_created),
	        cmocka_unit_test(test_before),         cmocka_unit_test(test_page_removed),
	        cmocka_unit_test(test_indentation),    cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_opts_wire),      cmocka_unit_test(test_vmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
