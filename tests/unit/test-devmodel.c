/*
 * Unit tests for common/devmodel.c and the virtio-mem side of select_grow()
 * and select_shrink(): per-node model choice (auto and forced), every
 * pre-flight refusal of a virtio-mem grow or shrink (no device, beyond the
 * device, below 0, not a block multiple with the nearest sizes, host memory
 * and hugepages behind the device's own <source>), a grow spread over a
 * DIMM node and a virtio-mem node, and the update XML sent to libvirt.
 * Domains are real XML, parsed by domain.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers" /* the case table */

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmodel.h"
#include "policy.h"
#include "select.h"

#define MIB UINT64_C(1024)

/* One virtio-mem device of a test domain. */
struct vdev {
	int node; /* -1: none */
	uint64_t size_mib, requested_mib, block_kib;
	uint64_t page_kib; /* <source><pagesize>, 0 none */
	int nodemask;      /* <source><nodemask>, -1 none */
};

/* Two 1 GiB cells bound to host nodes 0 and 1, 8 GiB max, 8 slots, up to
 * two virtio-mem devices and `dimm_node` (>= 0) one 128 MiB DIMM. */
static char *dom_xml(const struct vdev *v, size_t n, int dimm_node)
{
	GString *s = g_string_new("<domain type='qemu'><name>vm</name>"
	                          "<maxMemory slots='8' unit='MiB'>8192</maxMemory>");
	GString *devs = g_string_new("<devices>");
	uint64_t mem = 2048;

	for (size_t i = 0; i < n; i++) {
		mem += v[i].size_mib;
		g_string_append(devs, "<memory model='virtio-mem'>");
		if (v[i].page_kib || v[i].nodemask >= 0) {
			g_string_append(devs, "<source>");
			if (v[i].page_kib)
				g_string_append_printf(
				        devs, "<pagesize unit='KiB'>%" PRIu64 "</pagesize>",
				        v[i].page_kib);
			if (v[i].nodemask >= 0)
				g_string_append_printf(devs, "<nodemask>%d</nodemask>",
				                       v[i].nodemask);
			g_string_append(devs, "</source>");
		}
		g_string_append_printf(
		        devs,
		        "<target><size unit='MiB'>%" PRIu64 "</size><node>%d</node>"
		        "<block unit='KiB'>%" PRIu64 "</block><requested "
		        "unit='MiB'>%" PRIu64 "</requested><current unit='MiB'>%" PRIu64
		        "</current></target><alias name='virtiomem%zu'/></memory>",
		        v[i].size_mib, v[i].node, v[i].block_kib ? v[i].block_kib : 2048,
		        v[i].requested_mib, v[i].requested_mib, i);
	}
	if (dimm_node >= 0) {
		mem += 128;
		g_string_append_printf(devs,
		                       "<memory model='dimm'><target><size unit='MiB'>128</size>"
		                       "<node>%d</node></target><alias name='ua-d0'/>"
		                       "<address type='dimm' slot='0'/></memory>",
		                       dimm_node);
	}
	g_string_append(devs, "</devices>");
	g_string_append_printf(s, "<memory unit='MiB'>%" PRIu64 "</memory>", mem);
	g_string_append(s, "<numatune><memory mode='strict' nodeset='0-1'/>"
	                   "<memnode cellid='0' mode='strict' nodeset='0'/>"
	                   "<memnode cellid='1' mode='strict' nodeset='1'/></numatune>"
	                   "<vcpu>2</vcpu><os><type arch='x86_64'>hvm</type></os>"
	                   "<cpu><numa><cell id='0' cpus='0' memory='1024' unit='MiB'/>"
	                   "<cell id='1' cpus='1' memory='1024' unit='MiB'/></numa></cpu>");
	g_string_append(s, devs->str);
	g_string_append(s, "</domain>");
	g_string_free(devs, TRUE);
	return g_string_free(s, FALSE);
}

static struct domain *dom_parse(const struct vdev *v, size_t n, int dimm_node)
{
	char *xml = dom_xml(v, n, dimm_node), *err = NULL;
	struct domain *d = NULL;

	if (domain_parse(xml, strlen(xml), &d, &err) < 0)
		fail_msg("parse: %s", err);
	g_free(xml);
	return d;
}

/* Host nodes 0 and 1 with free MiB; node 1 has a pool of 2 MiB pages. */
static struct host *host_make(uint64_t free0, uint64_t free1, uint64_t pages1)
{
	struct host *h = host_new();
	struct host_node *n;

	assert_non_null(host_add_node(h, 0, 16384 * MIB, free0 * MIB));
	n = host_add_node(h, 1, 16384 * MIB, free1 * MIB);
	assert_non_null(n);
	assert_int_equal(host_node_add_pool(n, 2048, 4096, pages1), 0);
	return h;
}

/* ---- model choice ---- */

static void test_choice(void **state)
{
	const struct vdev one[] = {{.node = 1, .size_mib = 1024, .nodemask = -1}};
	struct domain *d = dom_parse(one, 1, -1);
	struct devmodel_node n;
	struct backing b;
	enum devmodel_choice c;

	(void)state;
	assert_int_equal(backing_infer(d, 1, NULL, &b, NULL), 0);
	devmodel_node(d, 0, DEVMODEL_AUTO, &b, &n);
	assert_int_equal(n.model, DEVMODEL_DIMM);
	devmodel_node(d, 1, DEVMODEL_AUTO, &b, &n);
	assert_int_equal(n.model, DEVMODEL_VIRTIO_MEM);
	assert_true(n.has_device);
	assert_string_equal(n.alias, "virtiomem0");
	assert_int_equal(n.block_kib, 2048);
	assert_int_equal(devmodel_vmem_room(&n), 1024 * MIB);
	devmodel_node(d, 1, DEVMODEL_FORCE_DIMM, &b, &n);
	assert_int_equal(n.model, DEVMODEL_DIMM);
	devmodel_node(d, 0, DEVMODEL_FORCE_VIRTIO_MEM, &b, &n);
	assert_int_equal(n.model, DEVMODEL_VIRTIO_MEM);
	assert_false(n.has_device);
	assert_true(devmodel_has_vmem(d, DEVMODEL_AUTO));
	assert_false(devmodel_has_vmem(d, DEVMODEL_FORCE_DIMM));
	assert_int_equal(devmodel_choice_parse("virtio-mem", &c), 0);
	assert_int_equal(c, DEVMODEL_FORCE_VIRTIO_MEM);
	assert_int_equal(devmodel_choice_parse("balloon", &c), -EINVAL);
	assert_string_equal(devmodel_choice_name(DEVMODEL_AUTO), "auto");
	domain_free(d);
}

/* ---- grow and shrink verdicts ---- */

struct want_dev {
	unsigned node;
	enum devmodel model;
	uint64_t mib, from_mib, to_mib;
};

struct vcase {
	const char *what;
	struct vdev devs[2];
	size_t n_devs;
	int dimm_node;
	enum select_op op;
	uint64_t kib;
	int node;
	enum devmodel_choice model;
	uint64_t free0, free1, pages1; /* host; all 0: no host */
	enum select_code code;
	const char *says[3];
	size_t n_want;
	struct want_dev want[2];
	uint64_t suggest_mib[2];
};

#define VM1                                                                                        \
	{                                                                                          \
		.node = 1, .size_mib = 1024, .nodemask = -1                                        \
	}
#define VM0                                                                                        \
	{                                                                                          \
		.node = 0, .size_mib = 1024, .nodemask = -1                                        \
	}
#define HALF                                                                                       \
	{                                                                                          \
		.node = 1, .size_mib = 1024, .requested_mib = 512, .nodemask = -1                  \
	}
#define ROOMY 8192, 8192, 4096

static const struct vcase cases[] = {
        {"grow node 1 by 130 MiB raises its request",
         {VM1},
         1,
         -1,
         SELECT_GROW,
         130 * MIB,
         1,
         DEVMODEL_AUTO,
         ROOMY,
         SELECT_OK,
         {NULL},
         1,
         {{1, DEVMODEL_VIRTIO_MEM, 130, 0, 130}}},
        {"--model dimm on a virtio-mem node attaches a DIMM",
         {VM1},
         1,
         -1,
         SELECT_GROW,
         128 * MIB,
         1,
         DEVMODEL_FORCE_DIMM,
         ROOMY,
         SELECT_OK,
         {NULL},
         1,
         {{1, DEVMODEL_DIMM, 128, 0, 0}}},
        {"spread: node 0 a DIMM, node 1 its device",
         {VM1},
         1,
         -1,
         SELECT_GROW,
         256 * MIB,
         -1,
         DEVMODEL_AUTO,
         ROOMY,
         SELECT_OK,
         {NULL},
         2,
         {{0, DEVMODEL_DIMM, 128, 0, 0}, {1, DEVMODEL_VIRTIO_MEM, 128, 0, 128}}},
        {"spread over two devices in 2 MiB blocks",
         {VM0, VM1},
         2,
         -1,
         SELECT_GROW,
         6 * MIB,
         -1,
         DEVMODEL_AUTO,
         ROOMY,
         SELECT_OK,
         {NULL},
         2,
         {{0, DEVMODEL_VIRTIO_MEM, 4, 0, 4}, {1, DEVMODEL_VIRTIO_MEM, 2, 0, 2}}},
        {"refused: beyond the device",
         {HALF},
         1,
         -1,
         SELECT_GROW,
         600 * MIB,
         1,
         DEVMODEL_AUTO,
         ROOMY,
         SELECT_NO_CAPACITY,
         {"does not fit in virtio-mem device virtiomem0", "512 MiB left"}},
        {"refused: not a block multiple, nearest sizes",
         {VM1},
         1,
         -1,
         SELECT_GROW,
         3 * MIB,
         1,
         DEVMODEL_AUTO,
         ROOMY,
         SELECT_NOT_ALIGNED,
         {"block size", "2 MiB and 4 MiB"},
         0,
         {{0}},
         {2, 4}},
        {"refused: forced virtio-mem on a node without a device",
         {VM1},
         1,
         -1,
         SELECT_GROW,
         128 * MIB,
         0,
         DEVMODEL_FORCE_VIRTIO_MEM,
         ROOMY,
         SELECT_NO_DEVICE,
         {"guest node 0 has no virtio-mem device", "prepare", "--model virtio-mem"}},
        {"refused: forced virtio-mem, no device anywhere",
         {{0}},
         0,
         -1,
         SELECT_GROW,
         128 * MIB,
         -1,
         DEVMODEL_FORCE_VIRTIO_MEM,
         ROOMY,
         SELECT_NO_DEVICE,
         {"no guest node has"}},
        {"refused: host node 1 below the reserve",
         {VM1},
         1,
         -1,
         SELECT_GROW,
         512 * MIB,
         1,
         DEVMODEL_AUTO,
         8192,
         300,
         4096,
         SELECT_HOST_MEMORY,
         {"host node 1", "512 MiB needed"}},
        {"refused: the device's own hugepages short on host node 1",
         {{.node = 1, .size_mib = 1024, .page_kib = 2048, .nodemask = 1}},
         1,
         -1,
         SELECT_GROW,
         256 * MIB,
         1,
         DEVMODEL_AUTO,
         8192,
         8192,
         10,
         SELECT_HUGEPAGES,
         {"host node 1 has 10 free 2 MiB hugepages", "128 needed"}},
        {"refused: the device's nodemask names host node 0",
         {{.node = 1, .size_mib = 1024, .nodemask = 0}},
         1,
         -1,
         SELECT_GROW,
         512 * MIB,
         1,
         DEVMODEL_AUTO,
         300,
         8192,
         4096,
         SELECT_HOST_MEMORY,
         {"host node 0"}},
        {"refused: spread beyond devices and maxMemory",
         {VM1},
         1,
         -1,
         SELECT_GROW,
         8192 * MIB,
         -1,
         DEVMODEL_AUTO,
         ROOMY,
         SELECT_NO_CAPACITY,
         {"virtio-mem devices of vm can take 1 GiB more", "DIMMs 5 GiB"}},
        {"shrink node 1 lowers its request",
         {HALF},
         1,
         -1,
         SELECT_SHRINK,
         130 * MIB,
         1,
         DEVMODEL_AUTO,
         0,
         0,
         0,
         SELECT_OK,
         {NULL},
         1,
         {{1, DEVMODEL_VIRTIO_MEM, 130, 512, 382}}},
        {"shrink without --node takes from the fullest device",
         {{.node = 0, .size_mib = 1024, .requested_mib = 2, .nodemask = -1}, HALF},
         2,
         -1,
         SELECT_SHRINK,
         8 * MIB,
         -1,
         DEVMODEL_AUTO,
         0,
         0,
         0,
         SELECT_OK,
         {NULL},
         1,
         {{1, DEVMODEL_VIRTIO_MEM, 8, 512, 504}}},
        {"shrink refused: below 0",
         {HALF},
         1,
         -1,
         SELECT_SHRINK,
         600 * MIB,
         1,
         DEVMODEL_AUTO,
         0,
         0,
         0,
         SELECT_NO_CAPACITY,
         {"has 512 MiB requested", "cannot give back 600 MiB"}},
        {"shrink refused: not a block multiple",
         {HALF},
         1,
         -1,
         SELECT_SHRINK,
         5 * MIB,
         1,
         DEVMODEL_AUTO,
         0,
         0,
         0,
         SELECT_NOT_ALIGNED,
         {"block size"},
         0,
         {{0}},
         {4, 6}},
        {"shrink refused: more than the devices hold, no DIMMs",
         {HALF},
         1,
         -1,
         SELECT_SHRINK,
         1024 * MIB,
         -1,
         DEVMODEL_AUTO,
         0,
         0,
         0,
         SELECT_NO_CAPACITY,
         {"512 MiB requested"}},
        {"shrink: devices hold nothing, the DIMM goes",
         {VM1},
         1,
         0,
         SELECT_SHRINK,
         128 * MIB,
         -1,
         DEVMODEL_AUTO,
         0,
         0,
         0,
         SELECT_OK,
         {NULL},
         1,
         {{0, DEVMODEL_DIMM, 128, 0, 0}}},
        {"shrink refused: forced virtio-mem on a DIMM node",
         {VM1},
         1,
         0,
         SELECT_SHRINK,
         128 * MIB,
         0,
         DEVMODEL_FORCE_VIRTIO_MEM,
         0,
         0,
         0,
         SELECT_NO_DEVICE,
         {"guest node 0 has no virtio-mem device"}},
};

static struct select_result *vcase_run(const struct vcase *t)
{
	struct domain *d = dom_parse(t->devs, t->n_devs, t->dimm_node);
	struct host *h = t->free0 ? host_make(t->free0, t->free1, t->pages1) : NULL;
	struct select_result *r = NULL;
	char *err = NULL;

	if (t->op == SELECT_GROW) {
		struct select_grow_req g = {.size_kib = t->kib,
		                            .node = t->node,
		                            .host_reserve_kib = 256 * MIB,
		                            .model = t->model};

		assert_int_equal(select_grow(d, h, &g, &r, &err), 0);
	} else {
		struct select_shrink_req s = {
		        .size_kib = t->kib, .node = t->node, .model = t->model};

		assert_int_equal(select_shrink(d, &s, &r, &err), 0);
	}
	assert_null(err);
	host_free(h);
	domain_free(d);
	return r;
}

static void vcase_check(const struct vcase *t, const struct select_result *r)
{
	if (r->code != t->code)
		fail_msg("%s: code %s (%s), want %s", t->what, select_code_name(r->code),
		         r->message ? r->message : "", select_code_name(t->code));
	for (size_t k = 0; k < 3 && t->says[k]; k++)
		if (r->message == NULL || strstr(r->message, t->says[k]) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", t->what, r->message ? r->message : "",
			         t->says[k]);
	assert_int_equal(r->n_dimms, t->n_want);
	for (size_t i = 0; i < t->n_want; i++) {
		const struct select_dimm *x = &r->dimms[i];

		assert_int_equal(x->node, t->want[i].node);
		assert_int_equal(x->model, t->want[i].model);
		assert_int_equal(x->size_kib, t->want[i].mib * MIB);
		if (x->model == DEVMODEL_VIRTIO_MEM) {
			assert_int_equal(x->from_kib, t->want[i].from_mib * MIB);
			assert_int_equal(x->to_kib, t->want[i].to_mib * MIB);
			assert_non_null(x->alias);
			assert_non_null(strstr(x->reason, "virtio-mem device"));
		}
	}
	for (size_t i = 0; i < 2 && t->suggest_mib[i]; i++) {
		assert_true(r->n_suggest > i);
		assert_int_equal(r->suggest_kib[i], t->suggest_mib[i] * MIB);
	}
}

static void test_verdicts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct select_result *r;

		print_message("%s\n", cases[i].what);
		r = vcase_run(&cases[i]);
		vcase_check(&cases[i], r);
		select_result_free(r);
	}
}

/* ---- the update XML ---- */

static void test_update_xml(void **state)
{
	const struct vdev two[] = {VM0, HALF};
	char *xml = dom_xml(two, 2, -1), *out = NULL, *err = NULL;
	struct domain *d = NULL;

	(void)state;
	assert_int_equal(devmodel_vmem_update_xml(xml, 1, "virtiomem1", 130 * MIB, &out, &err), 0);
	assert_non_null(strstr(out, "<requested unit=\"KiB\">133120</requested>"));
	assert_null(strstr(out, "<current"));
	assert_non_null(strstr(out, "<node>1</node>"));
	assert_non_null(strstr(out, "virtiomem1"));
	/* it is a device libvirt's parser (and ours) reads */
	free(out);
	out = NULL;
	/* the persistent definition has no alias: the node finds it */
	assert_int_equal(devmodel_vmem_update_xml(xml, 0, NULL, 0, &out, &err), 0);
	assert_non_null(strstr(out, "<requested unit=\"KiB\">0</requested>"));
	free(out);
	out = NULL;
	assert_int_equal(devmodel_vmem_update_xml(xml, 1, "virtiomem7", 0, &out, &err), -ENOENT);
	assert_non_null(strstr(err, "virtiomem7"));
	free(err);
	err = NULL;
	assert_int_equal(devmodel_vmem_update_xml("<domain", 1, NULL, 0, &out, &err), -EINVAL);
	free(err);
	assert_int_equal(domain_parse(xml, strlen(xml), &d, NULL), 0);
	domain_free(d);
	g_free(xml);
}

/* What the policy sees of a virtio-mem guest: requested, not the size. */
static void test_policy_inputs(void **state)
{
	const struct vdev two[] = {VM0, HALF};
	struct domain *d = dom_parse(two, 2, -1);
	struct policy_cell *cells = NULL;
	size_t n = policy_cells(d, NULL, 256 * MIB, 0, &cells);

	(void)state;
	assert_int_equal(n, 2);
	assert_true(cells[0].vmem && cells[1].vmem);
	assert_int_equal(cells[1].kib, (1024 + 512) * MIB);
	assert_int_equal(cells[1].align_kib, 2 * MIB);
	assert_int_equal(cells[1].vmem_room_kib, 512 * MIB);
	assert_int_equal(cells[1].vmem_plugged_kib, 512 * MIB);
	assert_int_equal(cells[0].kib, 1024 * MIB);
	/* <memory> holds 2 GiB of devices; the guest has 512 MiB of them */
	assert_int_equal(d->memory_kib, 4096 * MIB);
	assert_int_equal(devmodel_plugged_kib(d), 2560 * MIB);
	free(cells);
	domain_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_choice),
	        cmocka_unit_test(test_verdicts),
	        cmocka_unit_test(test_update_xml),
	        cmocka_unit_test(test_policy_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
