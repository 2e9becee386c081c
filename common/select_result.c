/*
 * The verdict of a grow or shrink (see select.h): its allocation, its codes'
 * names, and the one way a refusal is recorded (select_refuse()). The
 * decisions live in select_grow.c and select_shrink.c, their words in
 * select_msg.c, the JSON in report.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "select_internal.h"

static const char *const code_names[] = {
        [SELECT_OK] = "ok",
        [SELECT_BAD_SIZE] = "bad_size",
        [SELECT_NOT_ALIGNED] = "not_aligned",
        [SELECT_NO_SLOTS] = "no_slots",
        [SELECT_NO_HEADROOM] = "no_headroom",
        [SELECT_NO_NODE] = "no_node",
        [SELECT_HOST_MEMORY] = "host_memory",
        [SELECT_HUGEPAGES] = "hugepages",
        [SELECT_CANNOT_HOTPLUG] = "cannot_hotplug",
        [SELECT_NO_EXACT_SET] = "no_exact_set",
        [SELECT_NO_DIMMS] = "no_dimms",
        [SELECT_PREALLOC_CPULESS] = "prealloc_cpuless",
        [SELECT_OUTSIDE_NODESET] = "outside_nodeset",
};

const char *select_code_name(enum select_code code)
{
	if ((size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "unknown";
	return code_names[code];
}

struct select_result *select_result_new(enum select_op op, uint64_t request_kib)
{
	struct select_result *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->op = op;
	r->code = SELECT_OK;
	r->request_kib = request_kib;
	return r;
}

void select_result_free(struct select_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_dimms; i++) {
		free(r->dimms[i].reason);
		free(r->dimms[i].alias);
	}
	free(r->dimms);
	free(r->suggest_kib);
	free(r->message);
	free(r->warning);
	free(r);
}

int select_refuse(struct select_result *r, enum select_code code, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->code = code;
	va_start(ap, fmt);
	n = vasprintf(&r->message, fmt, ap);
	va_end(ap);
	if (n < 0) {
		r->message = NULL;
		return -ENOMEM;
	}
	return 0;
}

int select_suggest_add(struct select_result *r, uint64_t kib)
{
	uint64_t *s = realloc(r->suggest_kib, (r->n_suggest + 1) * sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s[r->n_suggest++] = kib;
	r->suggest_kib = s;
	return 0;
}

struct select_dimm *select_dimm_add(struct select_result *r)
{
	struct select_dimm *d = realloc(r->dimms, (r->n_dimms + 1) * sizeof(*d));

	if (d == NULL)
		return NULL;
	r->dimms = d;
	d = &d[r->n_dimms++];
	memset(d, 0, sizeof(*d));
	return d;
}

uint64_t select_gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}
