/*
 * prepare's tree editor (see domain_edit.h). The document is parsed once,
 * with its comments and whitespace, and edited in place: an owned element
 * is updated when it exists and created where libvirt would write it when
 * it does not. Nothing is regenerated, so what prepare does not own comes
 * out as it went in.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "backing.h"
#include "domain_edit.h"
#include "err.h"
#include "size.h"

#define INDENT_MAX 128

struct domain_edit {
	xmlDoc *doc;
	bool pretty;           /* the document is indented: indent what we add */
	bool decl;             /* it began with an XML declaration: keep one */
	char unit[INDENT_MAX]; /* one level of indentation, e.g. "  " */
};

/* ---- tree helpers ---- */

static bool is_elem(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE &&
	       (name == NULL || xmlStrEqual(n->name, BAD_CAST name));
}

static xmlNode *child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (is_elem(c, name))
			return c;
	return NULL;
}

static bool is_blank(const xmlNode *n)
{
	return n != NULL && n->type == XML_TEXT_NODE && xmlIsBlankNode(n);
}

static bool name_in(const xmlNode *n, const char *const *names)
{
	for (size_t i = 0; names && names[i]; i++)
		if (is_elem(n, names[i]))
			return true;
	return false;
}

/* The indentation before `n`: what follows the last newline of the blank
 * text node in front of it. */
static void indent_of(const xmlNode *n, char *buf)
{
	const char *text = is_blank(n->prev) ? (const char *)n->prev->content : "";
	const char *nl = strrchr(text, '\n');
	size_t len = strlen(nl ? nl + 1 : "");

	snprintf(buf, INDENT_MAX, "%.*s", (int)(len < INDENT_MAX ? len : 0), nl ? nl + 1 : "");
}

static xmlNode *blank(const char *indent)
{
	char buf[INDENT_MAX * 2 + 2];

	snprintf(buf, sizeof(buf), "\n%s", indent);
	return xmlNewText(BAD_CAST buf);
}

/* Adds element `name` under `parent`, before the first child element whose
 * name is in `before` (NULL or none found: last), indented one level deeper
 * than the parent. */
static xmlNode *add_child(struct domain_edit *e, xmlNode *parent, const char *name,
                          const char *const *before)
{
	xmlNode *n = xmlNewNode(NULL, BAD_CAST name), *at = NULL, *last = parent->last;
	char pi[INDENT_MAX], ci[INDENT_MAX * 2];

	for (xmlNode *c = parent->children; c != NULL && at == NULL; c = c->next)
		if (name_in(c, before))
			at = c;
	indent_of(parent, pi);
	snprintf(ci, sizeof(ci), "%s%s", pi, e->unit);
	if (at != NULL) {
		xmlAddPrevSibling(at, n);
		if (e->pretty)
			xmlAddPrevSibling(at, blank(ci));
	} else if (is_blank(last)) {
		xmlAddPrevSibling(last, n);
		if (e->pretty)
			xmlAddPrevSibling(n, blank(ci));
	} else {
		if (e->pretty)
			xmlAddChild(parent, blank(ci));
		xmlAddChild(parent, n);
		if (e->pretty)
			xmlAddChild(parent, blank(pi));
	}
	return n;
}

/* The child `name`, created (see add_child) when absent. */
static xmlNode *ensure_child(struct domain_edit *e, xmlNode *parent, const char *name,
                             const char *const *before, bool *created)
{
	xmlNode *n = child(parent, name);

	if (created)
		*created = n == NULL;
	return n ? n : add_child(e, parent, name, before);
}

/* Unlinks and frees `n` with the blank text in front of it. */
static void remove_node(xmlNode *n)
{
	if (is_blank(n->prev)) {
		xmlNode *b = n->prev;

		xmlUnlinkNode(b);
		xmlFreeNode(b);
	}
	xmlUnlinkNode(n);
	xmlFreeNode(n);
}

static void remove_children(xmlNode *parent, const char *name)
{
	xmlNode *c = parent->children, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (is_elem(c, name))
			remove_node(c);
	}
}

static void set_prop(xmlNode *n, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_prop(xmlNode *n, const char *name, const char *fmt, ...)
{
	char buf[NODESET_FORMAT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	xmlSetProp(n, BAD_CAST name, BAD_CAST buf);
}

static void set_text(xmlNode *n, const char *text)
{
	xmlNodeSetContent(n, NULL);
	xmlNodeAddContent(n, BAD_CAST text);
}

/* ---- open, format ---- */

/* One indentation level: the indentation of the root's first child. */
static void guess_unit(struct domain_edit *e)
{
	xmlNode *root = xmlDocGetRootElement(e->doc);
	xmlNode *first = root ? child(root, NULL) : NULL;

	e->pretty = first != NULL && is_blank(first->prev);
	if (e->pretty)
		indent_of(first, e->unit);
	if (e->unit[0] == '\0')
		snprintf(e->unit, sizeof(e->unit), "  ");
}

int domain_edit_open(const char *xml, size_t len, struct domain_edit **out, char **err)
{
	struct domain_edit *e;

	*out = NULL;
	if (len > INT_MAX)
		return err_ret(err, -EINVAL, "domain XML: document too large");
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	/* No entities, no DTD, no network; blanks and comments kept. */
	e->doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
	                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (e->doc == NULL || !is_elem(xmlDocGetRootElement(e->doc), "domain")) {
		domain_edit_free(e);
		return err_ret(err, -EINVAL, "domain XML: not a <domain> document");
	}
	guess_unit(e);
	e->decl = len >= 5 && strncmp(xml + strspn(xml, " \t\r\n"), "<?xml", 5) == 0;
	*out = e;
	return 0;
}

void domain_edit_free(struct domain_edit *e)
{
	if (e == NULL)
		return;
	xmlFreeDoc(e->doc);
	free(e);
}

int domain_edit_format(const struct domain_edit *e, char **xml, char **err)
{
	xmlBuffer *buf = xmlBufferCreate();
	xmlSaveCtxt *save = buf ? xmlSaveToBuffer(buf, NULL, e->decl ? 0 : XML_SAVE_NO_DECL) : NULL;
	const char *text;
	size_t len;
	int rc = 0;

	*xml = NULL;
	if (save == NULL || xmlSaveDoc(save, e->doc) < 0)
		rc = -ENOMEM;
	if (save != NULL && xmlSaveClose(save) < 0)
		rc = -ENOMEM;
	text = rc == 0 ? (const char *)xmlBufferContent(buf) : "";
	len = strlen(text);
	/* documents end with a newline, as virsh dumpxml writes them */
	if (rc == 0 && asprintf(xml, "%s%s", text, len && text[len - 1] == '\n' ? "" : "\n") < 0) {
		*xml = NULL;
		rc = -ENOMEM;
	}
	xmlBufferFree(buf);
	return rc < 0 ? err_ret(err, rc, "cannot format the domain XML") : 0;
}

/* ---- reading the guest ---- */

static unsigned read_vcpus(const xmlNode *root)
{
	xmlChar *text = xmlNodeGetContent(child(root, "vcpu"));
	unsigned long v = text ? strtoul((const char *)text, NULL, 10) : 1;

	xmlFree(text);
	return v == 0 || v > UINT_MAX ? 1 : (unsigned)v;
}

static bool prop_is(const xmlNode *n, const char *name, const char *value)
{
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
	bool eq = v != NULL && strcmp((const char *)v, value) == 0;

	xmlFree(v);
	return eq;
}

/* The page size of the cells with CPUs: every old cell's must agree, since
 * the new cells with CPUs share one backing. Without cells, what would back
 * cell 0. */
static int guest_pages(const struct domain *dom, struct partition_guest *g, char **err)
{
	struct backing b;
	size_t n = dom->n_cells ? dom->n_cells : 1;

	g->page_kib = BACKING_BASE_PAGE_KIB;
	for (size_t i = 0; i < n; i++) {
		struct domain probe = *dom;
		struct domain_cell one = {.id = 0, .memory_kib = 1};

		if (dom->n_cells == 0) { /* backing_infer needs a cell */
			probe.cells = &one;
			probe.n_cells = 1;
		}
		if (backing_infer(&probe, (unsigned)i, NULL, &b, err) < 0)
			return -EINVAL;
		if (i > 0 && b.page_size_kib != g->page_kib)
			return err_ret(err, -EINVAL,
			               "guest cells are backed by different page sizes (cell %zu: "
			               "%" PRIu64 " KiB, cell 0: %" PRIu64
			               " KiB); prepare gives all "
			               "cells with CPUs one backing",
			               i, b.page_size_kib, g->page_kib);
		g->page_kib = b.page_size_kib;
		g->hugepages = b.hugepages;
	}
	g->hugepages_all = dom->hugepages && dom->n_pages == 0;
	for (size_t i = 0; i < dom->n_pages; i++)
		g->hugepages_all |= !dom->pages[i].has_nodeset;
	return 0;
}

int domain_edit_guest(const struct domain_edit *e, const struct domain *dom,
                      struct partition_guest *g, char **err)
{
	xmlNode *root = xmlDocGetRootElement(e->doc);

	memset(g, 0, sizeof(*g));
	if (child(child(child(root, "cpu"), "numa"), "interconnects"))
		return err_ret(err, -EINVAL,
		               "<numa><interconnects> (HMAT) names the old cells; prepare does not "
		               "rewrite it: remove it first");
	g->vcpus = read_vcpus(root);
	g->memory_kib = dom->memory_kib;
	g->boot_kib = dom->memory_kib - domain_memdev_kib(dom, -1);
	g->max_memory_kib = dom->max_memory_kib;
	g->used_slots = domain_used_slots(dom);
	g->max_memdev_node = -1;
	for (size_t i = 0; i < dom->n_memdevs; i++)
		if (dom->memdevs[i].target_node > g->max_memdev_node)
			g->max_memdev_node = dom->memdevs[i].target_node;
	g->prealloc =
	        prop_is(child(child(root, "memoryBacking"), "allocation"), "mode", "immediate");
	return guest_pages(dom, g, err);
}

/* ---- the edits ---- */

/* Where libvirt writes each top-level element: before the first of these. */
static const char *const after_vcpu[] = {
        "iothreads", "iothreadids", "defaultiothread", "cputune",   "numatune", "resource",
        "sysinfo",   "bootloader",  "bootloader_args", "os",        "idmap",    "features",
        "cpu",       "clock",       "on_poweroff",     "on_reboot", "on_crash", "on_lockfailure",
        "pm",        "perf",        "devices",         NULL};

static void edit_max_memory(struct domain_edit *e, xmlNode *root, const struct partition *p)
{
	static const char *const before[] = {"memory",  "currentMemory", "blkiotune",
	                                     "memtune", "memoryBacking", "vcpu",
	                                     "os",      "devices",       NULL};
	xmlNode *n = ensure_child(e, root, "maxMemory", before, NULL);
	char text[32];

	set_prop(n, "slots", "%u", p->slots);
	set_prop(n, "unit", "KiB");
	snprintf(text, sizeof(text), "%" PRIu64, p->max_memory_kib);
	set_text(n, text);
}

static unsigned prop_uint(const xmlNode *n, const char *name)
{
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
	unsigned long u = v ? strtoul((const char *)v, NULL, 10) : 0;

	xmlFree(v);
	return u > UINT_MAX ? 0 : (unsigned)u;
}

static void edit_topology(struct domain_edit *e, xmlNode *cpu, const struct partition *p,
                          struct domain_edit_before *was)
{
	static const char *const before[] = {"cache", "maxphysaddr", "feature", "numa", NULL};
	xmlNode *t = child(cpu, "topology");

	was->topology = t != NULL;
	was->sockets = prop_uint(t, "sockets");
	was->cores = prop_uint(t, "cores");
	was->threads = prop_uint(t, "threads");
	if (t == NULL)
		t = add_child(e, cpu, "topology", before);

	set_prop(t, "sockets", "%u", p->sockets);
	if (xmlHasProp(t, BAD_CAST "dies"))
		set_prop(t, "dies", "1");
	if (xmlHasProp(t, BAD_CAST "clusters"))
		set_prop(t, "clusters", "1");
	set_prop(t, "cores", "%u", p->cores);
	set_prop(t, "threads", "%u", p->threads);
}

/* memAccess / discard that every old cell shared carry over to the new
 * cells (e.g. memAccess='shared' for virtiofs). */
static xmlChar *common_prop(const xmlNode *numa, const char *name)
{
	xmlChar *common = NULL;
	bool first = true;

	for (xmlNode *c = numa ? numa->children : NULL; c != NULL; c = c->next) {
		xmlChar *v;

		if (!is_elem(c, "cell"))
			continue;
		v = xmlGetProp(c, BAD_CAST name);
		if (first)
			common = v;
		else if (v == NULL || common == NULL || !xmlStrEqual(v, common)) {
			xmlFree(common);
			xmlFree(v);
			return NULL;
		} else
			xmlFree(v);
		first = false;
	}
	return common;
}

static void add_distances(struct domain_edit *e, xmlNode *cell, const struct partition *p, size_t i)
{
	xmlNode *d = add_child(e, cell, "distances", NULL);

	for (size_t j = 0; j < p->n_cells; j++) {
		xmlNode *s = add_child(e, d, "sibling", NULL);

		set_prop(s, "id", "%zu", j);
		set_prop(s, "value", "%u", p->dist[i * p->n_cells + j]);
	}
}

static void add_cell(struct domain_edit *e, xmlNode *numa, const struct partition *p, size_t i,
                     const xmlChar *access, const xmlChar *discard)
{
	const struct partition_cell *c = &p->cells[i];
	xmlNode *n = add_child(e, numa, "cell", NULL);

	set_prop(n, "id", "%u", c->id);
	if (c->n_vcpus == 1)
		set_prop(n, "cpus", "%u", c->first_vcpu);
	else if (c->n_vcpus > 1)
		set_prop(n, "cpus", "%u-%u", c->first_vcpu, c->first_vcpu + c->n_vcpus - 1);
	set_prop(n, "memory", "%" PRIu64, c->memory_kib);
	set_prop(n, "unit", "KiB");
	if (access)
		xmlSetProp(n, BAD_CAST "memAccess", access);
	if (discard)
		xmlSetProp(n, BAD_CAST "discard", discard);
	if (p->dist)
		add_distances(e, n, p, i);
}

static void edit_cells(struct domain_edit *e, xmlNode *cpu, const struct partition *p)
{
	xmlNode *numa = ensure_child(e, cpu, "numa", NULL, NULL);
	xmlChar *access = common_prop(numa, "memAccess");
	xmlChar *discard = common_prop(numa, "discard");

	remove_children(numa, "cell");
	for (size_t i = 0; i < p->n_cells; i++)
		add_cell(e, numa, p, i, access, discard);
	xmlFree(access);
	xmlFree(discard);
}

static void edit_cpu(struct domain_edit *e, xmlNode *root, const struct partition *p,
                     struct domain_edit_report *rep)
{
	static const char *const before[] = {"clock",    "on_poweroff",    "on_reboot",
	                                     "on_crash", "on_lockfailure", "pm",
	                                     "perf",     "devices",        NULL};
	xmlNode *cpu = ensure_child(e, root, "cpu", before, &rep->cpu_added);

	edit_topology(e, cpu, p, &rep->before);
	edit_cells(e, cpu, p);
}

static unsigned count_children(const xmlNode *parent, const char *name)
{
	unsigned n = 0;

	for (xmlNode *c = parent ? parent->children : NULL; c != NULL; c = c->next)
		n += is_elem(c, name);
	return n;
}

static void edit_pins(struct domain_edit *e, xmlNode *root, const struct partition *p,
                      struct domain_edit_before *was)
{
	static const char *const before[] = {"emulatorpin",   "iothreadpin", "emulatorsched",
	                                     "iothreadsched", "vcpusched",   "cachetune",
	                                     "memorytune",    NULL};
	char cpus[NODESET_FORMAT_MAX];
	xmlNode *tune;

	was->pins = count_children(child(root, "cputune"), "vcpupin");
	if (p->n_cpu_cells == 0 || !p->cells[0].pinned)
		return;
	tune = ensure_child(e, root, "cputune", after_vcpu + 3, NULL);
	remove_children(tune, "vcpupin");
	for (size_t i = 0; i < p->n_cpu_cells; i++) {
		const struct partition_cell *c = &p->cells[i];

		nodeset_format(&c->pin, cpus, sizeof(cpus));
		for (unsigned v = c->first_vcpu; v < c->first_vcpu + c->n_vcpus; v++) {
			xmlNode *pin = add_child(e, tune, "vcpupin", before);

			set_prop(pin, "vcpu", "%u", v);
			set_prop(pin, "cpuset", "%s", cpus);
		}
	}
}

static void edit_numatune(struct domain_edit *e, xmlNode *root, const struct partition *p)
{
	static const char *const first[] = {"memnode", NULL};
	char ns[NODESET_FORMAT_MAX];
	xmlNode *tune = ensure_child(e, root, "numatune", after_vcpu + 4, NULL);
	xmlNode *mem = ensure_child(e, tune, "memory", first, NULL);

	xmlUnsetProp(mem, BAD_CAST "placement");
	set_prop(mem, "mode", "strict");
	set_prop(mem, "nodeset", "%s", nodeset_format(&p->nodeset, ns, sizeof(ns)));
	remove_children(tune, "memnode");
	for (size_t i = 0; i < p->n_cells; i++) {
		xmlNode *mn = add_child(e, tune, "memnode", NULL);

		set_prop(mn, "cellid", "%u", p->cells[i].id);
		set_prop(mn, "mode", "strict");
		set_prop(mn, "nodeset", "%u", p->cells[i].host_node);
	}
}

/* A <page>'s size in KiB; 0 when it does not parse. */
static uint64_t page_kib(const xmlNode *page)
{
	xmlChar *size = xmlGetProp(page, BAD_CAST "size");
	xmlChar *unit = xmlGetProp(page, BAD_CAST "unit");
	uint64_t v = 0;

	if (size == NULL || size_parse_unit((const char *)size, (const char *)unit, &v, NULL) < 0)
		v = 0;
	xmlFree(size);
	xmlFree(unit);
	return v;
}

/* Notes a <page nodeset> edit for the account (now NULL: removed); the
 * first DOMAIN_EDIT_PAGES_MAX only, the counters take every one. */
static void note_page(struct domain_edit_report *rep, const xmlNode *page, const char *now)
{
	struct domain_edit_page *pg = &rep->pages[rep->n_pages];
	xmlChar *was = xmlGetProp(page, BAD_CAST "nodeset");

	if (rep->n_pages < DOMAIN_EDIT_PAGES_MAX) {
		pg->size_kib = page_kib(page);
		snprintf(pg->was, sizeof(pg->was), "%s", was ? (const char *)was : "");
		snprintf(pg->now, sizeof(pg->now), "%s", now ? now : "");
		rep->n_pages++;
	}
	xmlFree(was);
}

/* The first <page nodeset> of the CPU cells' size now covers exactly the
 * cells with CPUs; other <page nodeset> elements named old cells that no
 * longer exist as such and go. Pages without nodeset stay (the partition
 * refused them when CPU-less cells exist). */
static void edit_pages(xmlNode *root, const struct partition_guest *g, const struct partition *p,
                       struct domain_edit_report *rep)
{
	xmlNode *hp = child(child(root, "memoryBacking"), "hugepages"), *next;
	bool narrowed = false;
	char cells[64];

	if (p->n_cpu_cells == 1)
		snprintf(cells, sizeof(cells), "0");
	else
		snprintf(cells, sizeof(cells), "0-%zu", p->n_cpu_cells - 1);
	for (xmlNode *c = hp ? hp->children : NULL; c != NULL; c = next) {
		next = c->next;
		if (!is_elem(c, "page") || !xmlHasProp(c, BAD_CAST "nodeset"))
			continue;
		if (!narrowed && g->hugepages && page_kib(c) == g->page_kib) {
			note_page(rep, c, cells);
			set_prop(c, "nodeset", "%s", cells);
			narrowed = true;
			rep->pages_narrowed++;
		} else {
			note_page(rep, c, NULL);
			remove_node(c);
			rep->pages_removed++;
		}
	}
}

static void edit_balloon(struct domain_edit *e, xmlNode *root, struct domain_edit_report *rep)
{
	xmlNode *devs = child(root, "devices"), *b;
	bool created = false;

	if (devs == NULL)
		devs = add_child(e, root, "devices", (const char *const[]){"seclabel", NULL});
	b = ensure_child(e, devs, "memballoon", NULL, &created);
	if (created)
		set_prop(b, "model", "virtio");
	rep->balloon_added = created;
	if (prop_is(b, "model", "none")) {
		rep->balloon_none = true;
		return;
	}
	if (child(b, "stats") && xmlHasProp(child(b, "stats"), BAD_CAST "period")) {
		rep->stats_period = prop_uint(child(b, "stats"), "period");
		return;
	}
	set_prop(ensure_child(e, b, "stats", NULL, NULL), "period", "%d", PARTITION_STATS_PERIOD);
	rep->stats_period = PARTITION_STATS_PERIOD;
	rep->balloon_stats_added = true;
}

static void check_kernel(xmlNode *root, struct domain_edit_report *rep)
{
	xmlNode *os = child(root, "os");
	xmlChar *cmdline;

	rep->direct_kernel = child(os, "kernel") != NULL;
	if (!rep->direct_kernel)
		return;
	cmdline = xmlNodeGetContent(child(os, "cmdline"));
	rep->movable_missing =
	        cmdline == NULL ||
	        strstr((const char *)cmdline, "memhp_default_state=online_movable") == NULL;
	xmlFree(cmdline);
}

/* <memory>'s value in KiB. */
static int memory_kib(xmlNode *mem, uint64_t *kib, char **err)
{
	xmlChar *text = mem ? xmlNodeGetContent(mem) : NULL;
	xmlChar *unit = mem ? xmlGetProp(mem, BAD_CAST "unit") : NULL;
	int rc = text ? size_parse_unit((const char *)text, unit ? (const char *)unit : "KiB", kib,
	                                err)
	              : err_ret(err, -EINVAL, "no <memory>");

	xmlFree(text);
	xmlFree(unit);
	return rc;
}

int domain_edit_add_vmem(struct domain_edit *e, unsigned node, uint64_t size_kib,
                         uint64_t block_kib, char **err)
{
	static const char *const before_mem[] = {"memballoon", "rng",    "tpm",   "shmem", "iommu",
	                                         "vsock",      "crypto", "panic", NULL};
	xmlNode *root = xmlDocGetRootElement(e->doc), *mem = child(root, "memory"), *devs, *dev,
	        *tgt;
	uint64_t old;
	char text[32];
	int rc = memory_kib(mem, &old, err);

	if (rc < 0)
		return rc;
	if (child(root, "currentMemory") == NULL) {
		static const char *const before_cur[] = {
		        "blkiotune", "memtune", "memoryBacking", "vcpu", "os", "devices", NULL};
		xmlNode *cur = add_child(e, root, "currentMemory", before_cur);

		set_prop(cur, "unit", "KiB");
		snprintf(text, sizeof(text), "%" PRIu64, old);
		set_text(cur, text);
	}
	set_prop(mem, "unit", "KiB");
	snprintf(text, sizeof(text), "%" PRIu64, old + size_kib);
	set_text(mem, text);
	devs = child(root, "devices");
	if (devs == NULL)
		devs = add_child(e, root, "devices", (const char *const[]){"seclabel", NULL});
	dev = add_child(e, devs, "memory", before_mem);
	set_prop(dev, "model", "virtio-mem");
	tgt = add_child(e, dev, "target", NULL);
	snprintf(text, sizeof(text), "%" PRIu64, size_kib);
	set_prop(add_child(e, tgt, "size", NULL), "unit", "KiB");
	set_text(child(tgt, "size"), text);
	snprintf(text, sizeof(text), "%u", node);
	set_text(add_child(e, tgt, "node", NULL), text);
	snprintf(text, sizeof(text), "%" PRIu64, block_kib);
	set_prop(add_child(e, tgt, "block", NULL), "unit", "KiB");
	set_text(child(tgt, "block"), text);
	set_prop(add_child(e, tgt, "requested", NULL), "unit", "KiB");
	set_text(child(tgt, "requested"), "0");
	return 0;
}

int domain_edit_apply(struct domain_edit *e, const struct partition_guest *g,
                      const struct partition *p, struct domain_edit_report *rep, char **err)
{
	xmlNode *root = xmlDocGetRootElement(e->doc);

	(void)err;
	memset(rep, 0, sizeof(*rep));
	edit_max_memory(e, root, p);
	edit_pins(e, root, p, &rep->before);
	edit_numatune(e, root, p);
	edit_pages(root, g, p, rep);
	edit_cpu(e, root, p, rep);
	edit_balloon(e, root, rep);
	check_kernel(root, rep);
	return 0;
}
