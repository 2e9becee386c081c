/*
 * The hand-built domains of testdom.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testdom.h"

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static void build_cells(struct domain *dom, const struct testdom *spec)
{
	unsigned cpu = 0;

	dom->cells = xcalloc(spec->n_cells, sizeof(*dom->cells));
	dom->pages = xcalloc(spec->n_cells, sizeof(*dom->pages));
	dom->n_cells = spec->n_cells;
	for (size_t i = 0; i < spec->n_cells; i++) {
		const struct testdom_cell *c = &spec->cells[i];
		char cpus[32];

		dom->cells[i].id = (unsigned)i;
		dom->cells[i].memory_kib = c->mib * 1024;
		dom->memory_kib += c->mib * 1024;
		if (!c->cpuless) {
			snprintf(cpus, sizeof(cpus), "%u-%u", cpu, cpu + 1);
			dom->cells[i].cpus = xstrdup(cpus);
			cpu += 2;
		}
		if (c->page_kib == 0)
			continue;
		dom->hugepages = true;
		dom->pages[dom->n_pages].size_kib = c->page_kib;
		dom->pages[dom->n_pages].has_nodeset = true;
		nodeset_set(&dom->pages[dom->n_pages].nodeset, (unsigned)i);
		dom->n_pages++;
	}
}

static void build_devs(struct domain *dom, const struct testdom *spec)
{
	dom->memdevs = xcalloc(spec->n_devs, sizeof(*dom->memdevs));
	dom->n_memdevs = spec->n_devs;
	for (size_t i = 0; i < spec->n_devs; i++) {
		struct domain_memdev *md = &dom->memdevs[i];

		md->model = spec->devs[i].model;
		md->target_node = spec->devs[i].node;
		md->size_kib = spec->devs[i].mib * 1024;
		if (md->model != MEMDEV_VIRTIO_MEM) {
			md->has_slot = true;
			md->slot = (unsigned)i;
		}
		dom->memory_kib += md->size_kib;
	}
}

struct domain *testdom_build(const struct testdom *spec)
{
	struct domain *dom = xcalloc(1, sizeof(*dom));

	dom->name = xstrdup("testdom");
	dom->type = xstrdup("qemu");
	dom->id = -1;
	dom->max_memory_kib = spec->max_mib * 1024;
	dom->slots = spec->max_mib ? spec->slots : 0;
	build_cells(dom, spec);
	build_devs(dom, spec);
	dom->memory_kib += spec->extra_kib;
	dom->current_memory_kib = dom->memory_kib;
	return dom;
}
