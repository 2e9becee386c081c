/*
 * Unit tests for common/dimm.c: the generated XML parses back (through the
 * domain model's own reader) to the node, size and alias asked for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dimm.h"
#include "domain.h"

struct dimm_case {
	const char *what;
	unsigned node;
	uint64_t size_kib;
	const char *alias;
	const char *expected; /* NULL: dimm_xml must refuse */
};

static const struct dimm_case cases[] = {
        {"no alias", 0, 131072, NULL,
         "<memory model=\"dimm\"><target><size unit=\"KiB\">131072</size><node>0</node>"
         "</target></memory>"},
        {"with alias", 3, 1048576, "ua-memplug-7",
         "<memory model=\"dimm\"><target><size unit=\"KiB\">1048576</size><node>3</node>"
         "</target><alias name=\"ua-memplug-7\"/></memory>"},
        {"alias escaped", 1, 262144, "ua-a'\"<&>",
         "<memory model=\"dimm\"><target><size unit=\"KiB\">262144</size><node>1</node>"
         "</target><alias name=\"ua-a'&quot;&lt;&amp;&gt;\"/></memory>"},
        {"not a user alias", 0, 131072, "dimm0", NULL},
        {"bare prefix", 0, 131072, "ua-", NULL},
};

static void test_dimm_xml(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *xml = dimm_xml(cases[i].node, cases[i].size_kib, cases[i].alias);

		print_message("dimm_xml: %s\n", cases[i].what);
		if (cases[i].expected == NULL)
			assert_null(xml);
		else
			assert_string_equal(xml, cases[i].expected);
		free(xml);
	}
}

/* The device, placed in a domain, reads back as what was asked for. */
static void test_dimm_round_trip(void **state)
{
	char *xml = dimm_xml(1, 524288, "ua-x<y");
	char *doc = NULL;
	struct domain *dom = NULL;
	char *err = NULL;

	assert_non_null(xml);
	assert_true(asprintf(&doc,
	                     "<domain type='qemu'><name>t</name>"
	                     "<maxMemory slots='4' unit='GiB'>8</maxMemory>"
	                     "<memory unit='KiB'>1572864</memory><cpu><numa>"
	                     "<cell id='0' cpus='0' memory='512' unit='MiB'/>"
	                     "<cell id='1' cpus='1' memory='512' unit='MiB'/>"
	                     "</numa></cpu><devices>%s</devices></domain>",
	                     xml) > 0);
	assert_int_equal(domain_parse(doc, strlen(doc), &dom, &err), 0);
	assert_int_equal(dom->n_memdevs, 1);
	assert_int_equal(dom->memdevs[0].model, MEMDEV_DIMM);
	assert_int_equal(dom->memdevs[0].target_node, 1);
	assert_int_equal(dom->memdevs[0].size_kib, 524288);
	assert_string_equal(dom->memdevs[0].alias, "ua-x<y");
	domain_free(dom);
	free(doc);
	free(xml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dimm_xml),
	        cmocka_unit_test(test_dimm_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
