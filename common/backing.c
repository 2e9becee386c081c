/*
 * Backing inference (see backing.h): which page size, host nodes and mode
 * back a guest cell's memory, following the order libvirt's QEMU driver
 * uses when it builds a memory backend, and naming where each answer came
 * from so that `memplugctl inspect` can explain itself.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "backing.h"
#include "err.h"

/* Records the page size and where it came from: `what`, then `detail`
 * (which may be cut to fit BACKING_SOURCE_MAX). */
static void backing_page_from(struct backing *out, uint64_t kib, const char *what,
                              const char *detail)
{
	out->page_size_kib = kib;
	/* a "hugepage" of the base page size is just normal memory */
	out->hugepages = kib != BACKING_BASE_PAGE_KIB;
	g_strlcpy(out->page_source, what, sizeof(out->page_source));
	g_strlcat(out->page_source, detail, sizeof(out->page_source));
}

/* The first <page> whose nodeset holds the cell wins; a <page> without
 * nodeset is the fallback, wherever it appears. */
static void backing_infer_page(const struct domain *dom, unsigned cell,
                               const struct domain_memdev *dev, struct backing *out)
{
	const struct domain_page *fallback = NULL;
	char ns[NODESET_FORMAT_MAX];

	if (dev != NULL && dev->pagesize_kib != 0) {
		backing_page_from(out, dev->pagesize_kib, "device <source><pagesize>", "");
		return;
	}
	for (size_t i = 0; i < dom->n_pages; i++) {
		const struct domain_page *p = &dom->pages[i];

		if (!p->has_nodeset) {
			fallback = fallback ? fallback : p;
		} else if (nodeset_test(&p->nodeset, cell)) {
			nodeset_format(&p->nodeset, ns, sizeof(ns));
			backing_page_from(out, p->size_kib, "hugepages page nodeset=", ns);
			return;
		}
	}
	if (fallback != NULL)
		backing_page_from(out, fallback->size_kib, "hugepages page (no nodeset)", "");
	else if (dom->hugepages && dom->n_pages == 0)
		backing_page_from(out, BACKING_DEFAULT_HUGEPAGE_KIB, "hugepages (default size)",
		                  "");
	else
		backing_page_from(out, BACKING_BASE_PAGE_KIB, "default pages", "");
}

static void backing_nodes_from(struct backing *out, enum numa_mode mode,
                               const struct nodeset *nodes, const char *source)
{
	out->mode = mode;
	/* libvirt leaves a 'restrictive' backend unbound: cgroups do the work */
	out->bound = nodes != NULL && mode != NUMA_MODE_RESTRICTIVE;
	if (out->bound)
		out->host_nodes = *nodes;
	snprintf(out->nodes_source, sizeof(out->nodes_source), "%s",
	         mode == NUMA_MODE_RESTRICTIVE ? "none (mode=restrictive)" : source);
}

static void backing_infer_nodes(const struct domain *dom, unsigned cell,
                                const struct domain_memdev *dev, struct backing *out)
{
	const struct domain_memnode *mn = domain_memnode_find(dom, cell);
	char source[BACKING_SOURCE_MAX];
	enum numa_mode global = dom->has_numatune_memory ? dom->numatune_mode : NUMA_MODE_STRICT;

	if (dev != NULL && dev->has_nodemask) {
		/* libvirt takes the mode from the cell's memnode even here */
		backing_nodes_from(out, mn ? mn->mode : global, &dev->nodemask,
		                   "device <source><nodemask>");
	} else if (mn != NULL) {
		snprintf(source, sizeof(source), "memnode cellid=%u", cell);
		backing_nodes_from(out, mn->mode, &mn->nodeset, source);
	} else if (dom->has_numatune_memory && dom->numatune_placement == NUMA_PLACEMENT_AUTO) {
		backing_nodes_from(out, global, NULL, "numatune placement=auto (numad)");
		out->auto_placement = global != NUMA_MODE_RESTRICTIVE;
	} else if (dom->has_numatune_nodeset) {
		backing_nodes_from(out, global, &dom->numatune_nodeset, "numatune memory nodeset");
	} else {
		backing_nodes_from(out, global, NULL, "none");
	}
}

int backing_infer(const struct domain *dom, unsigned cell, const struct domain_memdev *dev,
                  struct backing *out, char **err)
{
	if (cell >= dom->n_cells)
		return err_ret(err, -EINVAL, "guest node %u: no such <cell> (the domain has %zu)",
		               cell, dom->n_cells);
	memset(out, 0, sizeof(*out));
	backing_infer_page(dom, cell, dev, out);
	backing_infer_nodes(dom, cell, dev, out);
	return 0;
}

uint64_t backing_align_kib(const struct backing *b)
{
	return b->page_size_kib > BACKING_BLOCK_KIB ? b->page_size_kib : BACKING_BLOCK_KIB;
}
