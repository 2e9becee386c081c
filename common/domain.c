/*
 * The domain XML model (see domain.h). The document is parsed by libxml2
 * with network access, entity substitution and DTD loading all off, and its
 * errors are captured into the message instead of printed. The tree is then
 * walked element by element; every value is checked as it is read, and the
 * cross-references (memnodes, device target nodes, maxMemory vs memory) are
 * checked once everything is read.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain.h"
#include "err.h"
#include "size.h"

/* ---- small libxml2 helpers ---- */

static bool xml_is(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name);
}

/* The first element child called `name`, or NULL. */
static xmlNode *xml_child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (xml_is(c, name))
			return c;
	return NULL;
}

static size_t xml_count(const xmlNode *n, const char *name)
{
	size_t count = 0;

	for (xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		count += xml_is(c, name);
	return count;
}

/* A malloc'd copy of attribute `name`, or NULL when absent. */
static char *xml_prop(const xmlNode *n, const char *name)
{
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
	char *copy = v ? strdup((const char *)v) : NULL;

	xmlFree(v);
	return copy;
}

/* A malloc'd copy of the element's text, or NULL when n is NULL. */
static char *xml_text(const xmlNode *n)
{
	xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
	char *copy = v ? strdup((const char *)v) : NULL;

	xmlFree(v);
	return copy;
}

/* Whether attribute `name` equals `value` (false when absent). */
static bool xml_prop_is(const xmlNode *n, const char *name, const char *value)
{
	char *v = xml_prop(n, name);
	bool eq = v != NULL && strcmp(v, value) == 0;

	free(v);
	return eq;
}

/* ---- typed readers; `what` names the element in messages ---- */

/* Reads a size given as text (attr == NULL) or attribute `attr`, with the
 * unit in attribute `unit_attr`. */
static int read_size(const xmlNode *n, const char *attr, const char *unit_attr, const char *what,
                     uint64_t *kib, char **err)
{
	char *value = attr ? xml_prop(n, attr) : xml_text(n);
	char *unit = xml_prop(n, unit_attr);
	char *why = NULL;
	int rc;

	if (value == NULL)
		rc = err_ret(err, -EINVAL, "%s: missing size", what);
	else if ((rc = size_parse_unit(value, unit, kib, &why)) < 0)
		err_set(err, "%s: %s", what, why ? why : "bad size");
	free(value);
	free(unit);
	free(why);
	return rc < 0 ? -EINVAL : 0;
}

/* Reads an unsigned number below `limit` from `str` (base 0: hex allowed
 * when `hex`). */
static int read_u64(const char *str, bool hex, uint64_t limit, uint64_t *out)
{
	char *end;

	if (str == NULL || *str < '0' || *str > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(str, &end, hex ? 0 : 10);
	if (errno != 0 || *end != '\0' || *out > limit)
		return -EINVAL;
	return 0;
}

/* Reads an unsigned attribute; -ENOENT when absent. */
static int read_uint_prop(const xmlNode *n, const char *attr, unsigned limit, const char *what,
                          unsigned *out, char **err)
{
	char *v = xml_prop(n, attr);
	uint64_t u;
	int rc = 0;

	if (v == NULL)
		rc = -ENOENT;
	else if (read_u64(v, false, limit, &u) < 0)
		rc = err_ret(err, -EINVAL, "%s: %s='%s' is not a number in 0..%u", what, attr, v,
		             limit);
	else
		*out = (unsigned)u;
	free(v);
	return rc;
}

static int read_nodeset(const char *str, const char *what, struct nodeset *ns, char **err)
{
	char *why = NULL;
	int rc = nodeset_parse(str, ns, &why);

	if (rc < 0)
		err_set(err, "%s: %s", what, why ? why : "bad nodeset");
	free(why);
	return rc < 0 ? -EINVAL : 0;
}

static int read_nodeset_prop(const xmlNode *n, const char *attr, const char *what, bool *has,
                             struct nodeset *ns, char **err)
{
	char *v = xml_prop(n, attr);
	int rc = 0;

	*has = v != NULL;
	if (v != NULL)
		rc = read_nodeset(v, what, ns, err);
	free(v);
	return rc;
}

static int read_mode(const xmlNode *n, const char *what, enum numa_mode *mode, char **err)
{
	static const char *const names[] = {"strict", "preferred", "interleave", "restrictive"};
	char *v = xml_prop(n, "mode");
	int rc = -EINVAL;

	*mode = NUMA_MODE_STRICT;
	if (v == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0) {
			*mode = (enum numa_mode)i;
			rc = 0;
		}
	if (rc < 0)
		err_set(err, "%s: unknown mode '%s'", what, v);
	free(v);
	return rc;
}

/* ---- the parts of <domain> ---- */

static int parse_header(const xmlNode *root, struct domain *dom, char **err)
{
	char *id = xml_prop(root, "id");
	uint64_t u;
	int rc = 0;

	dom->type = xml_prop(root, "type");
	dom->name = xml_text(xml_child(root, "name"));
	dom->uuid = xml_text(xml_child(root, "uuid"));
	dom->id = -1;
	if (dom->name == NULL || dom->name[0] == '\0')
		rc = err_ret(err, -EINVAL, "<domain>: no <name>");
	else if (id != NULL && strcmp(id, "-1") != 0 && read_u64(id, false, INT_MAX, &u) < 0)
		rc = err_ret(err, -EINVAL, "<domain>: id='%s' is not a number", id);
	else if (id != NULL && strcmp(id, "-1") != 0)
		dom->id = (int)u;
	free(id);
	return rc;
}

static int parse_max_memory(const xmlNode *n, struct domain *dom, char **err)
{
	int rc;

	if (n == NULL)
		return 0;
	if ((rc = read_size(n, NULL, "unit", "<maxMemory>", &dom->max_memory_kib, err)) < 0)
		return rc;
	rc = read_uint_prop(n, "slots", UINT_MAX, "<maxMemory>", &dom->slots, err);
	if (rc == -ENOENT)
		return err_ret(err, -EINVAL, "<maxMemory>: no slots attribute");
	if (rc < 0)
		return rc;
	if (dom->slots < 1 || dom->slots > DOMAIN_MAX_SLOTS)
		return err_ret(err, -EINVAL, "<maxMemory>: slots='%u' must be 1..%d", dom->slots,
		               DOMAIN_MAX_SLOTS);
	return 0;
}

static int parse_memory(const xmlNode *root, struct domain *dom, char **err)
{
	const xmlNode *mem = xml_child(root, "memory");
	const xmlNode *cur = xml_child(root, "currentMemory");
	int rc;

	if ((rc = parse_max_memory(xml_child(root, "maxMemory"), dom, err)) < 0)
		return rc;
	if (mem && (rc = read_size(mem, NULL, "unit", "<memory>", &dom->memory_kib, err)) < 0)
		return rc;
	if (cur && (rc = read_size(cur, NULL, "unit", "<currentMemory>", &dom->current_memory_kib,
	                           err)) < 0)
		return rc;
	return 0;
}

static int parse_cell(const xmlNode *n, size_t n_cells, struct domain_cell *cells, char **err)
{
	unsigned id;
	int rc = read_uint_prop(n, "id", UINT_MAX, "<cell>", &id, err);
	struct domain_cell *c;

	if (rc == -ENOENT)
		return err_ret(err, -EINVAL, "<cell>: no id attribute");
	if (rc < 0)
		return rc;
	if (id >= n_cells)
		return err_ret(err, -EINVAL, "<cell id='%u'>: ids must be 0..%zu", id, n_cells - 1);
	c = &cells[id];
	if (c->memory_kib != 0 || c->cpus != NULL)
		return err_ret(err, -EINVAL, "<cell id='%u'>: duplicate cell id", id);
	c->id = id;
	c->cpus = xml_prop(n, "cpus");
	c->mem_access = xml_prop(n, "memAccess");
	c->discard = xml_prop(n, "discard");
	if (read_size(n, "memory", "unit", "<cell memory>", &c->memory_kib, err) < 0)
		return -EINVAL;
	if (c->memory_kib == 0)
		return err_ret(err, -EINVAL, "<cell id='%u'>: memory must not be 0", id);
	return 0;
}

/* Cells may come in any order; each lands at cells[id], so ids that are
 * in range and unique are exactly 0..n-1, as libvirt requires. */
static int parse_cells(const xmlNode *root, struct domain *dom, char **err)
{
	const xmlNode *numa = xml_child(xml_child(root, "cpu"), "numa");
	size_t n = xml_count(numa, "cell");
	int rc;

	if (n == 0)
		return 0;
	dom->cells = calloc(n, sizeof(*dom->cells));
	if (dom->cells == NULL)
		return -ENOMEM;
	dom->n_cells = n;
	for (xmlNode *c = numa->children; c != NULL; c = c->next)
		if (xml_is(c, "cell") && (rc = parse_cell(c, n, dom->cells, err)) < 0)
			return rc;
	return 0;
}

static int parse_page(const xmlNode *n, struct domain_page *page, char **err)
{
	int rc = read_size(n, "size", "unit", "<hugepages><page>", &page->size_kib, err);

	if (rc < 0)
		return rc;
	if (page->size_kib == 0)
		return err_ret(err, -EINVAL, "<hugepages><page>: size must not be 0");
	return read_nodeset_prop(n, "nodeset", "<hugepages><page nodeset>", &page->has_nodeset,
	                         &page->nodeset, err);
}

static int parse_hugepages(const xmlNode *root, struct domain *dom, char **err)
{
	const xmlNode *hp = xml_child(xml_child(root, "memoryBacking"), "hugepages");
	size_t i = 0;
	int rc;

	dom->hugepages = hp != NULL;
	dom->alloc_immediate = xml_prop_is(
	        xml_child(xml_child(root, "memoryBacking"), "allocation"), "mode", "immediate");
	dom->n_pages = xml_count(hp, "page");
	if (dom->n_pages == 0)
		return 0;
	dom->pages = calloc(dom->n_pages, sizeof(*dom->pages));
	if (dom->pages == NULL)
		return -ENOMEM;
	for (xmlNode *c = hp->children; c != NULL; c = c->next)
		if (xml_is(c, "page") && (rc = parse_page(c, &dom->pages[i++], err)) < 0)
			return rc;
	return 0;
}

static int parse_numatune_memory(const xmlNode *n, struct domain *dom, char **err)
{
	char *placement = xml_prop(n, "placement");
	int rc;

	dom->has_numatune_memory = true;
	rc = read_mode(n, "<numatune><memory>", &dom->numatune_mode, err);
	if (rc == 0 && placement != NULL && strcmp(placement, "auto") == 0)
		dom->numatune_placement = NUMA_PLACEMENT_AUTO;
	else if (rc == 0 && placement != NULL && strcmp(placement, "static") != 0)
		rc = err_ret(err, -EINVAL, "<numatune><memory>: unknown placement '%s'", placement);
	if (rc == 0)
		rc = read_nodeset_prop(n, "nodeset", "<numatune><memory nodeset>",
		                       &dom->has_numatune_nodeset, &dom->numatune_nodeset, err);
	free(placement);
	return rc;
}

static int parse_memnode(const xmlNode *n, struct domain_memnode *mn, char **err)
{
	char *ns = xml_prop(n, "nodeset");
	int rc = read_uint_prop(n, "cellid", UINT_MAX, "<numatune><memnode>", &mn->cellid, err);

	if (rc == -ENOENT)
		rc = err_ret(err, -EINVAL, "<numatune><memnode>: no cellid attribute");
	else if (rc == 0 && ns == NULL)
		rc = err_ret(err, -EINVAL, "<memnode cellid='%u'>: no nodeset attribute",
		             mn->cellid);
	if (rc == 0)
		rc = read_mode(n, "<numatune><memnode>", &mn->mode, err);
	if (rc == 0)
		rc = read_nodeset(ns, "<numatune><memnode nodeset>", &mn->nodeset, err);
	free(ns);
	return rc;
}

static int parse_numatune(const xmlNode *root, struct domain *dom, char **err)
{
	const xmlNode *nt = xml_child(root, "numatune");
	size_t i = 0;
	int rc;

	if (xml_child(nt, "memory") &&
	    (rc = parse_numatune_memory(xml_child(nt, "memory"), dom, err)) < 0)
		return rc;
	dom->n_memnodes = xml_count(nt, "memnode");
	if (dom->n_memnodes == 0)
		return 0;
	dom->memnodes = calloc(dom->n_memnodes, sizeof(*dom->memnodes));
	if (dom->memnodes == NULL)
		return -ENOMEM;
	for (xmlNode *c = nt->children; c != NULL; c = c->next)
		if (xml_is(c, "memnode") && (rc = parse_memnode(c, &dom->memnodes[i++], err)) < 0)
			return rc;
	return 0;
}

/* An optional size element `name` under `parent`; 0 when absent. */
static int read_opt_size(const xmlNode *parent, const char *name, const char *what, uint64_t *kib,
                         char **err)
{
	const xmlNode *n = xml_child(parent, name);

	*kib = 0;
	return n ? read_size(n, NULL, "unit", what, kib, err) : 0;
}

static int parse_memdev_source(const xmlNode *src, struct domain_memdev *md, char **err)
{
	char *mask = xml_text(xml_child(src, "nodemask"));
	int rc = read_opt_size(src, "pagesize", "<memory><source><pagesize>", &md->pagesize_kib,
	                       err);

	md->has_nodemask = mask != NULL;
	if (rc == 0 && mask != NULL)
		rc = read_nodeset(mask, "<memory><source><nodemask>", &md->nodemask, err);
	free(mask);
	return rc;
}

static int parse_memdev_target(const xmlNode *tgt, struct domain_memdev *md, char **err)
{
	char *node = xml_text(xml_child(tgt, "node"));
	uint64_t u;
	int rc = 0;

	md->target_node = -1;
	if (node != NULL && read_u64(node, false, INT_MAX, &u) < 0)
		rc = err_ret(err, -EINVAL, "<memory><target><node>: '%s' is not a number", node);
	else if (node != NULL)
		md->target_node = (int)u;
	free(node);
	if (rc == 0 && xml_child(tgt, "size") == NULL)
		rc = err_ret(err, -EINVAL, "<memory><target>: no <size>");
	if (rc == 0)
		rc = read_opt_size(tgt, "size", "<memory><target><size>", &md->size_kib, err);
	if (rc == 0)
		rc = read_opt_size(tgt, "block", "<memory><target><block>", &md->block_kib, err);
	if (rc == 0)
		rc = read_opt_size(tgt, "requested", "<memory><target><requested>",
		                   &md->requested_kib, err);
	if (rc == 0)
		rc = read_opt_size(tgt, "current", "<memory><target><current>", &md->current_kib,
		                   err);
	return rc;
}

static int parse_memdev_address(const xmlNode *addr, struct domain_memdev *md, char **err)
{
	char *slot = xml_prop(addr, "slot"), *base = xml_prop(addr, "base");
	uint64_t u;
	int rc = 0;

	if (addr == NULL || !xml_prop_is(addr, "type", "dimm"))
		goto out;
	md->has_slot = slot != NULL;
	md->has_base = base != NULL;
	if (slot != NULL && read_u64(slot, true, DOMAIN_MAX_SLOTS - 1, &u) < 0)
		rc = err_ret(err, -EINVAL, "<memory><address>: slot='%s' must be 0..%d", slot,
		             DOMAIN_MAX_SLOTS - 1);
	else if (slot != NULL)
		md->slot = (unsigned)u;
	if (rc == 0 && base != NULL && read_u64(base, true, UINT64_MAX, &md->base) < 0)
		rc = err_ret(err, -EINVAL, "<memory><address>: base='%s' is not a number", base);
out:
	free(slot);
	free(base);
	return rc;
}

/* Returns 1 when the device is a model memplug does not track. */
static int parse_memdev(const xmlNode *n, struct domain_memdev *md, char **err)
{
	static const char *const models[] = {"dimm", "nvdimm", "virtio-mem"};
	const xmlNode *tgt = xml_child(n, "target");
	size_t i;
	int rc;

	for (i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (xml_prop_is(n, "model", models[i]))
			break;
	if (i == sizeof(models) / sizeof(models[0]))
		return 1;
	md->model = (enum memdev_model)i;
	md->alias = xml_prop(xml_child(n, "alias"), "name");
	if (tgt == NULL)
		return err_ret(err, -EINVAL, "<memory model='%s'>: no <target>", models[i]);
	if ((rc = parse_memdev_target(tgt, md, err)) < 0)
		return rc;
	if ((rc = parse_memdev_source(xml_child(n, "source"), md, err)) < 0)
		return rc;
	return parse_memdev_address(xml_child(n, "address"), md, err);
}

static int parse_devices(const xmlNode *root, struct domain *dom, char **err)
{
	const xmlNode *devs = xml_child(root, "devices");
	size_t n = xml_count(devs, "memory");
	int rc;

	if (n == 0)
		return 0;
	dom->memdevs = calloc(n, sizeof(*dom->memdevs));
	if (dom->memdevs == NULL)
		return -ENOMEM;
	for (xmlNode *c = devs->children; c != NULL; c = c->next) {
		if (!xml_is(c, "memory"))
			continue;
		struct domain_memdev *md = &dom->memdevs[dom->n_memdevs];

		rc = parse_memdev(c, md, err);
		if (rc == 0) {
			dom->n_memdevs++;
			continue;
		}
		free(md->alias); /* a failed or skipped device leaves no trace */
		memset(md, 0, sizeof(*md));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- cross-checks once everything is read ---- */

static int check_memnodes(const struct domain *dom, char **err)
{
	for (size_t i = 0; i < dom->n_memnodes; i++) {
		unsigned id = dom->memnodes[i].cellid;

		if (id >= dom->n_cells)
			return err_ret(err, -EINVAL, "<memnode cellid='%u'>: no such <cell>", id);
		for (size_t j = 0; j < i; j++)
			if (dom->memnodes[j].cellid == id)
				return err_ret(err, -EINVAL,
				               "<memnode cellid='%u'>: duplicate memnode", id);
	}
	return 0;
}

static int check_memdevs(const struct domain *dom, char **err)
{
	for (size_t i = 0; i < dom->n_memdevs; i++) {
		const struct domain_memdev *md = &dom->memdevs[i];

		if (md->target_node >= 0 && (size_t)md->target_node >= dom->n_cells)
			return err_ret(err, -EINVAL,
			               "<memory><target><node>: guest node %d is not a <cell>",
			               md->target_node);
	}
	return 0;
}

/* Fills what libvirt derives when absent, then checks the totals. */
static int check_memory(struct domain *dom, char **err)
{
	if (dom->memory_kib == 0)
		dom->memory_kib = domain_boot_kib(dom) + domain_memdev_kib(dom, -1);
	if (dom->memory_kib == 0)
		return err_ret(err, -EINVAL, "<memory>: missing or 0");
	if (dom->current_memory_kib == 0)
		dom->current_memory_kib = dom->memory_kib;
	if (dom->max_memory_kib != 0 && dom->max_memory_kib < dom->memory_kib)
		return err_ret(err, -EINVAL, "<maxMemory>: %llu KiB is less than <memory> %llu KiB",
		               (unsigned long long)dom->max_memory_kib,
		               (unsigned long long)dom->memory_kib);
	return 0;
}

static int domain_fill(const xmlNode *root, struct domain *dom, char **err)
{
	int rc;

	if (!xml_is(root, "domain"))
		return err_ret(err, -EINVAL, "root element is <%s>, not <domain>",
		               root ? (const char *)root->name : "");
	if ((rc = parse_header(root, dom, err)) < 0 || (rc = parse_memory(root, dom, err)) < 0 ||
	    (rc = parse_cells(root, dom, err)) < 0 || (rc = parse_hugepages(root, dom, err)) < 0 ||
	    (rc = parse_numatune(root, dom, err)) < 0 || (rc = parse_devices(root, dom, err)) < 0)
		return rc;
	if ((rc = check_memnodes(dom, err)) < 0 || (rc = check_memdevs(dom, err)) < 0)
		return rc;
	return check_memory(dom, err);
}

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_ptr;
#else
typedef xmlErrorPtr xml_error_ptr;
#endif

/* Keeps libxml2's first error (the cause; later ones are fallout) instead
 * of letting it print to stderr. */
static void domain_xml_error(void *data, xml_error_ptr e)
{
	xmlParserCtxt *ctxt = data;

	if (e->level >= XML_ERR_ERROR && e->message != NULL)
		err_set(ctxt->_private, "domain XML, line %d: malformed XML: %.*s", e->line,
		        (int)strcspn(e->message, "\n"), e->message);
}

/* Parses with libxml2; on failure *err says what libxml2 found. */
static xmlDoc *domain_read_xml(const char *xml, size_t len, char **err)
{
	xmlParserCtxt *ctxt = xmlNewParserCtxt();
	xmlDoc *doc = NULL;
	char *first = NULL;

	if (ctxt == NULL || len > INT_MAX) {
		err_set(err, "domain XML: %s", ctxt ? "document too large" : "out of memory");
		goto out;
	}
	ctxt->sax->serror = domain_xml_error;
	ctxt->_private = &first;
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL,
	                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		err_set(err, "%s", first ? first : "domain XML: malformed XML");
out:
	free(first);
	xmlFreeParserCtxt(ctxt);
	return doc;
}

int domain_parse(const char *xml, size_t len, struct domain **out, char **err)
{
	struct domain *dom = NULL;
	xmlDoc *doc;
	int rc = -EINVAL;

	*out = NULL;
	doc = domain_read_xml(xml, len, err);
	if (doc == NULL)
		return -EINVAL;
	dom = calloc(1, sizeof(*dom));
	if (dom == NULL)
		rc = -ENOMEM;
	else
		rc = domain_fill(xmlDocGetRootElement(doc), dom, err);
	if (rc == -ENOMEM)
		err_set(err, "domain XML: out of memory");
	xmlFreeDoc(doc);
	if (rc < 0) {
		domain_free(dom);
		return rc;
	}
	*out = dom;
	return 0;
}

int domain_parse_file(const char *path, struct domain **out, char **err)
{
	GError *gerr = NULL;
	gchar *buf = NULL;
	gsize len = 0;
	int rc;

	*out = NULL;
	if (!g_file_get_contents(path, &buf, &len, &gerr)) {
		err_set(err, "%s", gerr->message);
		rc = gerr->domain == G_FILE_ERROR && gerr->code == G_FILE_ERROR_NOENT ? -ENOENT
		                                                                      : -EIO;
		g_error_free(gerr);
		return rc;
	}
	rc = domain_parse(buf, len, out, err);
	g_free(buf);
	return rc;
}

void domain_free(struct domain *dom)
{
	if (dom == NULL)
		return;
	for (size_t i = 0; i < dom->n_cells; i++) {
		free(dom->cells[i].cpus);
		free(dom->cells[i].mem_access);
		free(dom->cells[i].discard);
	}
	for (size_t i = 0; i < dom->n_memdevs; i++)
		free(dom->memdevs[i].alias);
	free(dom->cells);
	free(dom->memdevs);
	free(dom->memnodes);
	free(dom->pages);
	free(dom->name);
	free(dom->uuid);
	free(dom->type);
	free(dom);
}

int domain_check_hotplug(const struct domain *dom, char **err)
{
	if (dom->max_memory_kib == 0 || dom->slots == 0)
		return err_ret(err, -EINVAL,
		               "domain '%s': no <maxMemory> element, so memory "
		               "cannot be hot-plugged",
		               dom->name);
	if (dom->n_cells == 0)
		return err_ret(
		        err, -EINVAL,
		        "domain '%s': no <cpu><numa> cell: QEMU needs at least one for DIMMs",
		        dom->name);
	return 0;
}

uint64_t domain_boot_kib(const struct domain *dom)
{
	uint64_t sum = 0, devs;

	for (size_t i = 0; i < dom->n_cells; i++)
		sum += dom->cells[i].memory_kib;
	if (dom->n_cells > 0)
		return sum;
	/* No cells: what <memory> holds besides its devices is still boot
	 * memory, and a policy floor of 0 would let min go below it. */
	devs = domain_memdev_kib(dom, -1);
	return dom->memory_kib > devs ? dom->memory_kib - devs : 0;
}

uint64_t domain_memdev_kib(const struct domain *dom, int cell)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < dom->n_memdevs; i++)
		if (cell < 0 || dom->memdevs[i].target_node == cell)
			sum += dom->memdevs[i].size_kib;
	return sum;
}

unsigned domain_used_slots(const struct domain *dom)
{
	unsigned used = 0;

	for (size_t i = 0; i < dom->n_memdevs; i++)
		used += dom->memdevs[i].model != MEMDEV_VIRTIO_MEM;
	return used;
}

const struct domain_memnode *domain_memnode_find(const struct domain *dom, unsigned cellid)
{
	for (size_t i = 0; i < dom->n_memnodes; i++)
		if (dom->memnodes[i].cellid == cellid)
			return &dom->memnodes[i];
	return NULL;
}

const char *numa_mode_name(enum numa_mode mode)
{
	switch (mode) {
	case NUMA_MODE_STRICT:
		return "strict";
	case NUMA_MODE_PREFERRED:
		return "preferred";
	case NUMA_MODE_INTERLEAVE:
		return "interleave";
	case NUMA_MODE_RESTRICTIVE:
		return "restrictive";
	}
	return "unknown";
}

const char *memdev_model_name(enum memdev_model model)
{
	switch (model) {
	case MEMDEV_DIMM:
		return "dimm";
	case MEMDEV_NVDIMM:
		return "nvdimm";
	case MEMDEV_VIRTIO_MEM:
		return "virtio-mem";
	}
	return "unknown";
}

bool domain_has_alias(const struct domain *dom, const char *alias)
{
	for (size_t i = 0; dom && i < dom->n_memdevs; i++)
		if (dom->memdevs[i].alias && strcmp(dom->memdevs[i].alias, alias) == 0)
			return true;
	return false;
}
