/*
 * Unit tests for common/drift.c: the live and persistent definitions are
 * written as domain XML (so aliases, slots and virtio-mem sizes go through
 * the real reader) from a table of devices, and the comparison's three
 * lists are checked as one line of text per case. Then the JSON form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "domain.h"
#include "drift.h"
#include "report.h"

#define MAX_DEVS 6

/* One memory device; an empty model ends the list. */
struct dev {
	const char *model; /* "dimm", "virtio-mem", "nvdimm" */
	int node;
	unsigned mib;
	const char *alias; /* NULL: none */
	int slot;          /* -1: no <address> */
	unsigned requested_mib;
};

/* DIMM on node N, size S MiB, alias A (or NULL), slot (or -1). */
#define DIMM(n, s, a, slot)                                                                        \
	{                                                                                          \
		"dimm", n, s, a, slot, 0                                                           \
	}
#define VMEM(n, s, a, req)                                                                         \
	{                                                                                          \
		"virtio-mem", n, s, a, -1, req                                                     \
	}

struct drift_case {
	const char *what;
	struct dev live[MAX_DEVS];
	struct dev config[MAX_DEVS];
	/* "L:model/node/MiB/alias/slot ... C:... R:alias/node/live/config ...",
	 * "" when the definitions agree */
	const char *expected;
};

static const struct drift_case cases[] = {
        {"no devices at all", {{0}}, {{0}}, ""},
        {"the same user aliases, no slots in the persistent definition",
         {DIMM(0, 256, "ua-mp-r1-0", 0), DIMM(1, 256, "ua-mp-r1-1", 1)},
         {DIMM(0, 256, "ua-mp-r1-0", -1), DIMM(1, 256, "ua-mp-r1-1", -1)},
         ""},
        {"libvirt's aliases are live only: matched on node and size",
         {DIMM(0, 128, "dimm0", 0), DIMM(1, 256, "dimm1", 1)},
         {DIMM(0, 128, NULL, -1), DIMM(1, 256, NULL, -1)},
         ""},
        {"virsh attach-device --live: one DIMM in the guest only",
         {DIMM(0, 256, "ua-mp-r1-0", 0), DIMM(1, 128, "dimm1", 1)},
         {DIMM(0, 256, "ua-mp-r1-0", -1)},
         "L:dimm/1/128/dimm1/1"},
        {"virsh detach-device-alias --live: one DIMM in the definition only",
         {DIMM(0, 256, "ua-mp-r1-0", 0)},
         {DIMM(0, 256, "ua-mp-r1-0", -1), DIMM(1, 256, "ua-mp-r1-1", -1)},
         "C:dimm/1/256/ua-mp-r1-1/-"},
        {"two different user aliases are two devices, same shape or not",
         {DIMM(0, 256, "ua-a", 0)},
         {DIMM(0, 256, "ua-b", -1)},
         "L:dimm/0/256/ua-a/0 C:dimm/0/256/ua-b/-"},
        {"one alias, two sizes: both sides listed",
         {DIMM(0, 512, "ua-a", 0)},
         {DIMM(0, 256, "ua-a", 0)},
         "L:dimm/0/512/ua-a/0 C:dimm/0/256/ua-a/0"},
        {"same size, different node",
         {DIMM(1, 256, NULL, 0)},
         {DIMM(0, 256, NULL, 0)},
         "L:dimm/1/256/-/0 C:dimm/0/256/-/0"},
        {"slots first: the unplaced live DIMM takes the other one",
         {DIMM(0, 256, NULL, -1), DIMM(0, 256, NULL, 1)},
         {DIMM(0, 256, NULL, 1), DIMM(0, 256, NULL, 2)},
         ""},
        {"two different slots are two devices",
         {DIMM(0, 256, "dimm3", 3)},
         {DIMM(0, 256, NULL, 2)},
         "L:dimm/0/256/dimm3/3 C:dimm/0/256/-/2"},
        {"aliases before slots: a moved user alias is still its device",
         {DIMM(0, 256, "ua-x", 1), DIMM(0, 256, "ua-y", 0)},
         {DIMM(0, 256, "ua-y", 1), DIMM(0, 256, "ua-x", 0)},
         ""},
        {"duplicates: the count decides",
         {DIMM(1, 128, "dimm0", 0), DIMM(1, 128, "dimm1", 1), DIMM(1, 128, "dimm2", 2)},
         {DIMM(1, 128, NULL, -1), DIMM(1, 128, NULL, -1)},
         "L:dimm/1/128/dimm2/2"},
        {"the model is part of the shape",
         {{"nvdimm", 0, 256, NULL, -1, 0}},
         {DIMM(0, 256, NULL, -1)},
         "L:nvdimm/0/256/-/- C:dimm/0/256/-/-"},
        {"virtio-mem: requested changed live only",
         {VMEM(1, 1024, "virtiomem1", 256)},
         {VMEM(1, 1024, NULL, 0)},
         "R:virtiomem1/1/256/0"},
        {"virtio-mem: the same requested size",
         {VMEM(0, 1024, "virtiomem0", 128), VMEM(1, 1024, "virtiomem1", 0)},
         {VMEM(0, 1024, NULL, 128), VMEM(1, 1024, NULL, 0)},
         ""},
        {"virtio-mem: a device attached live, another requested in the definition",
         {VMEM(0, 1024, "virtiomem0", 0), VMEM(1, 2048, "virtiomem1", 512)},
         {VMEM(0, 1024, NULL, 384)},
         "L:virtio-mem/1/2048/virtiomem1/- R:virtiomem0/0/0/384"},
        {"everything at once, in document order",
         {DIMM(1, 128, "dimm0", 0), VMEM(0, 1024, "virtiomem1", 64), DIMM(0, 256, "dimm2", 2)},
         {DIMM(0, 512, NULL, -1), VMEM(0, 1024, NULL, 0), DIMM(1, 128, NULL, -1),
          DIMM(1, 256, NULL, -1)},
         "L:dimm/0/256/dimm2/2 C:dimm/0/512/-/- C:dimm/1/256/-/- R:virtiomem1/0/64/0"},
};

static void dev_xml(GString *s, const struct dev *d)
{
	g_string_append_printf(s, "<memory model='%s'><target><size unit='MiB'>%u</size>", d->model,
	                       d->mib);
	g_string_append_printf(s, "<node>%d</node>", d->node);
	if (strcmp(d->model, "virtio-mem") == 0)
		g_string_append_printf(s,
		                       "<block unit='KiB'>2048</block>"
		                       "<requested unit='MiB'>%u</requested>",
		                       d->requested_mib);
	g_string_append(s, "</target>");
	if (d->alias)
		g_string_append_printf(s, "<alias name='%s'/>", d->alias);
	if (d->slot >= 0)
		g_string_append_printf(s, "<address type='dimm' slot='%d'/>", d->slot);
	g_string_append(s, "</memory>");
}

/* Two 1 GiB cells, room for every device in <maxMemory>. */
static struct domain *dom_build(const struct dev *devs)
{
	GString *s = g_string_new("<domain type='qemu'><name>vm</name>"
	                          "<maxMemory slots='16' unit='GiB'>64</maxMemory>"
	                          "<cpu><numa><cell id='0' cpus='0' memory='1' unit='GiB'/>"
	                          "<cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu>"
	                          "<devices>");
	struct domain *dom = NULL;
	char *err = NULL;

	for (size_t i = 0; i < MAX_DEVS && devs[i].model; i++)
		dev_xml(s, &devs[i]);
	g_string_append(s, "</devices></domain>");
	if (domain_parse(s->str, s->len, &dom, &err) < 0)
		fail_msg("%s: %s", s->str, err);
	g_string_free(s, TRUE);
	return dom;
}

static void device_text(GString *s, char side, const struct drift_device *d)
{
	g_string_append_printf(s, "%s%c:%s/%d/%" PRIu64 "/%s/", s->len ? " " : "", side,
	                       memdev_model_name(d->model), d->node, d->size_kib / 1024,
	                       d->alias ? d->alias : "-");
	if (d->has_slot)
		g_string_append_printf(s, "%u", d->slot);
	else
		g_string_append(s, "-");
}

static char *drift_text(const struct drift *d)
{
	GString *s = g_string_new(NULL);

	for (size_t i = 0; i < d->n_only_live; i++)
		device_text(s, 'L', &d->only_live[i]);
	for (size_t i = 0; i < d->n_only_config; i++)
		device_text(s, 'C', &d->only_config[i]);
	for (size_t i = 0; i < d->n_requested; i++) {
		const struct drift_requested *r = &d->requested[i];

		g_string_append_printf(s, "%sR:%s/%d/%" PRIu64 "/%" PRIu64, s->len ? " " : "",
		                       r->alias ? r->alias : "-", r->node, r->live_kib / 1024,
		                       r->config_kib / 1024);
	}
	return g_string_free(s, FALSE);
}

static void test_drift_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct drift_case *c = &cases[i];
		struct domain *live = dom_build(c->live), *config = dom_build(c->config);
		struct drift *d = NULL;
		char *text;

		assert_int_equal(drift_compare(live, config, &d), 0);
		text = drift_text(d);
		if (strcmp(text, c->expected) != 0)
			fail_msg("%s: got \"%s\", wanted \"%s\"", c->what, text, c->expected);
		assert_int_equal(drift_none(d), *c->expected == '\0');
		g_free(text);
		drift_free(d);
		domain_free(live);
		domain_free(config);
	}
}

/* The comparison is not symmetric in its labels only: swapping the two
 * definitions swaps the lists. */
static void test_drift_swap(void **state)
{
	const struct drift_case *c = &cases[sizeof(cases) / sizeof(cases[0]) - 1];
	struct domain *live = dom_build(c->live), *config = dom_build(c->config);
	struct drift *d = NULL, *back = NULL;

	(void)state;
	assert_int_equal(drift_compare(live, config, &d), 0);
	assert_int_equal(drift_compare(config, live, &back), 0);
	assert_int_equal(d->n_only_live, back->n_only_config);
	assert_int_equal(d->n_only_config, back->n_only_live);
	assert_int_equal(d->n_requested, back->n_requested);
	assert_int_equal(back->requested[0].live_kib, d->requested[0].config_kib);
	drift_free(d);
	drift_free(back);
	domain_free(live);
	domain_free(config);
}

static void test_drift_json(void **state)
{
	static const struct dev live[MAX_DEVS] = {DIMM(1, 128, "dimm0", 0),
	                                          VMEM(0, 1024, "virtiomem1", 64)};
	static const struct dev config[MAX_DEVS] = {DIMM(0, 512, NULL, -1), VMEM(0, 1024, NULL, 0)};
	struct domain *l = dom_build(live), *c = dom_build(config);
	struct drift *d = NULL;
	json_object *o;

	(void)state;
	assert_int_equal(drift_compare(l, c, &d), 0);
	o = report_drift(d);
	assert_string_equal(
	        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	        "{\"in_sync\":false,"
	        "\"only_live\":[{\"model\":\"dimm\",\"alias\":\"dimm0\",\"node\":1,"
	        "\"size_kib\":131072,\"slot\":0}],"
	        "\"only_config\":[{\"model\":\"dimm\",\"alias\":null,\"node\":0,"
	        "\"size_kib\":524288,\"slot\":null}],"
	        "\"requested\":[{\"alias\":\"virtiomem1\",\"node\":0,\"size_kib\":1048576,"
	        "\"live_kib\":65536,\"config_kib\":0}]}");
	json_object_put(o);
	assert_null(report_drift(NULL));
	drift_free(d);
	drift_free(NULL);
	domain_free(l);
	domain_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_drift_cases),
	        cmocka_unit_test(test_drift_swap),
	        cmocka_unit_test(test_drift_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
