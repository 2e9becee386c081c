/*
 * The capabilities reader of the host model (see host.h): `virsh
 * capabilities` XML, as virConnectGetCapabilities() returns it or as a user
 * saved it, becomes a struct host. libxml2 parses it with network access,
 * entity substitution and DTD loading off, its errors captured into the
 * message. Capabilities carry no free memory, so every free value is left
 * unknown; the libvirt source fills them in per operation.
 *
 * What libvirt writes, per <cell id>: <memory unit> (left out when libvirt
 * could not read it), one <pages unit size> per page size with the number of
 * pages (the first is the base page: the machine's page size, also the
 * first <pages> of <host><cpu>), <distances><sibling id value> (left out
 * when the kernel gives no SLIT) and <cpus num><cpu id .../>. The test
 * driver (test:///default) has no distances and lists 8 KiB base pages on
 * one cell: such oddities become warnings, not errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "err.h"
#include "host.h"
#include "size.h"

#define CAPS_DEFAULT_BASE_KIB 4 /* when <host><cpu> lists no pages */

/* ---- small libxml2 helpers ---- */

static bool caps_is(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name);
}

static xmlNode *caps_child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (caps_is(c, name))
			return c;
	return NULL;
}

/* A g_malloc'd copy of attribute `name`, or NULL when absent. */
static char *caps_prop(const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	char *copy = v ? g_strdup((const char *)v) : NULL;

	xmlFree(v);
	return copy;
}

static char *caps_text(const xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	char *copy = v ? g_strdup((const char *)v) : NULL;

	xmlFree(v);
	return copy;
}

/* Attribute `name` of element `what` as an unsigned number below `max`
 * (whitespace around it tolerated). */
static int caps_number(const xmlNode *n, const char *name, const char *what, uint64_t max,
                       uint64_t *out, char **err)
{
	g_autofree char *v = name ? caps_prop(n, name) : caps_text(n);
	guint64 value;

	if (v == NULL)
		return err_ret(err, -EINVAL, "capabilities: %s has no %s", what,
		               name ? name : "value");
	g_strstrip(v);
	if (!g_ascii_string_to_unsigned(v, 10, 0, max, &value, NULL))
		return err_ret(err, -EINVAL,
		               "capabilities: %s %s \"%.32s\" is not a number up to %" PRIu64, what,
		               name ? name : "value", v, max);
	*out = value;
	return 0;
}

/* A size in attribute `attr` (or the text when NULL) with its unit in
 * attribute "unit", in KiB. */
static int caps_size(const xmlNode *n, const char *attr, const char *what, uint64_t *kib,
                     char **err)
{
	g_autofree char *value = attr ? caps_prop(n, attr) : caps_text(n);
	g_autofree char *unit = caps_prop(n, "unit");
	char *why = NULL;
	int rc;

	if (value == NULL)
		return err_ret(err, -EINVAL, "capabilities: %s has no %s", what,
		               attr ? attr : "value");
	rc = size_parse_unit(value, unit, kib, &why);
	if (rc < 0)
		err_set(err, "capabilities: %s: %s", what, why ? why : "bad size");
	free(why);
	return rc;
}

#if LIBXML_VERSION >= 21200
typedef const xmlError *caps_error_ptr;
#else
typedef xmlErrorPtr caps_error_ptr;
#endif

/* Keeps libxml2's first error instead of letting it print to stderr. */
static void caps_xml_error(void *data, caps_error_ptr e)
{
	xmlParserCtxt *ctxt = data;

	if (e->level >= XML_ERR_ERROR && e->message != NULL)
		err_set(ctxt->_private, "capabilities XML, line %d: malformed XML: %.*s", e->line,
		        (int)strcspn(e->message, "\n"), e->message);
}

static xmlDoc *caps_read_xml(const char *xml, size_t len, char **err)
{
	xmlParserCtxt *ctxt = xmlNewParserCtxt();
	xmlDoc *doc = NULL;
	char *first = NULL;

	if (ctxt == NULL || len > INT_MAX) {
		err_set(err, "capabilities XML: %s", ctxt ? "document too large" : "out of memory");
		goto out;
	}
	ctxt->sax->serror = caps_xml_error;
	ctxt->_private = &first;
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "capabilities.xml", NULL,
	                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		err_set(err, "%s", first ? first : "capabilities XML: malformed XML");
out:
	free(first);
	xmlFreeParserCtxt(ctxt);
	return doc;
}

/* ---- one cell ---- */

struct caps_ctx {
	struct host *h;
	uint64_t base_kib; /* the machine's page size: plain memory, not a pool */
	char **err;
};

static int caps_cell_id(const xmlNode *cell, unsigned *id, char **err)
{
	uint64_t v;
	int rc = caps_number(cell, "id", "<cell>", NODESET_MAX - 1, &v, err);

	*id = (unsigned)v;
	return rc;
}

/* <pages unit size>count</pages>: the base size is plain memory, any
 * other size a hugepage pool with unknown free pages. */
static int caps_cell_pages(struct caps_ctx *c, struct host_node *n, const xmlNode *p,
                           bool *has_base, uint64_t *pooled_kib)
{
	g_autofree char *what = g_strdup_printf("cell %u <pages>", n->id);
	uint64_t size_kib, count;
	int rc;

	if ((rc = caps_size(p, "size", what, &size_kib, c->err)) < 0 ||
	    (rc = caps_number(p, NULL, what, SIZE_KIB_MAX, &count, c->err)) < 0)
		return rc;
	if (size_kib == 0)
		return err_ret(c->err, -EINVAL, "capabilities: %s: a page size of 0", what);
	if (size_kib == c->base_kib) {
		*has_base = true;
		return 0;
	}
	if (count > SIZE_KIB_MAX / size_kib)
		return err_ret(c->err, -ERANGE,
		               "capabilities: %s: %" PRIu64 " pages of %" PRIu64
		               " KiB are too many",
		               what, count, size_kib);
	rc = host_node_add_pool(n, size_kib, count, 0);
	if (rc == -EEXIST)
		return err_ret(c->err, rc, "capabilities: %s: %" PRIu64 " KiB pages listed twice",
		               what, size_kib);
	if (rc < 0)
		return err_ret(c->err, rc, "capabilities: %s: %s", what, g_strerror(-rc));
	for (size_t i = 0; i < n->n_pools; i++)
		n->pools[i].free_known = false;
	*pooled_kib += count * size_kib;
	return 0;
}

/* Reads every <pages> of a cell and reports what does not add up. */
static int caps_cell_pools(struct caps_ctx *c, struct host_node *n, const xmlNode *cell)
{
	bool has_base = false, any = false;
	uint64_t pooled_kib = 0;
	int rc = 0;

	for (xmlNode *p = cell->children; p != NULL && rc == 0; p = p->next) {
		if (!caps_is(p, "pages"))
			continue;
		any = true;
		rc = caps_cell_pages(c, n, p, &has_base, &pooled_kib);
	}
	if (rc < 0)
		return rc;
	if (any && !has_base)
		host_warn(c->h,
		          "cell %u lists no %" PRIu64
		          " KiB base pages; its other page sizes are taken as hugepage pools",
		          n->id, c->base_kib);
	if (pooled_kib > n->total_kib)
		host_warn(c->h,
		          "cell %u: its hugepage pools hold %" PRIu64 " KiB, more than its %" PRIu64
		          " KiB of memory",
		          n->id, pooled_kib, n->total_kib);
	return 0;
}

/* <cpus num><cpu id/>...: a cell without the element or with num='0' is
 * CPU-less. */
static int caps_cell_cpus(struct caps_ctx *c, struct host_node *n, const xmlNode *cell)
{
	const xmlNode *cpus = caps_child(cell, "cpus");
	g_autofree char *what = g_strdup_printf("cell %u <cpu>", n->id);
	uint64_t id;
	int rc;

	for (xmlNode *cpu = cpus ? cpus->children : NULL; cpu != NULL; cpu = cpu->next) {
		if (!caps_is(cpu, "cpu"))
			continue;
		if ((rc = caps_number(cpu, "id", what, NODESET_MAX - 1, &id, c->err)) < 0)
			return rc;
		if (nodeset_test(&n->cpus, (unsigned)id))
			return err_ret(c->err, -EINVAL,
			               "capabilities: %s: CPU %" PRIu64 " listed twice", what, id);
		nodeset_set(&n->cpus, (unsigned)id);
	}
	return 0;
}

static int caps_read_cell(struct caps_ctx *c, const xmlNode *cell)
{
	const xmlNode *mem = caps_child(cell, "memory");
	uint64_t total_kib = 0;
	struct host_node *n;
	unsigned id;
	int rc;

	if ((rc = caps_cell_id(cell, &id, c->err)) < 0)
		return rc;
	if (mem == NULL)
		host_warn(c->h, "cell %u has no <memory>: its total is unknown, taken as 0", id);
	else if ((rc = caps_size(mem, NULL, "<cell> <memory>", &total_kib, c->err)) < 0)
		return rc;
	if (host_node_find(c->h, id) != NULL)
		return err_ret(c->err, -EINVAL, "capabilities: cell %u listed twice", id);
	n = host_add_node(c->h, id, total_kib, 0);
	if (n == NULL)
		return err_ret(c->err, -ENOMEM, "capabilities: out of memory");
	n->free_known = false;
	if ((rc = caps_cell_cpus(c, n, cell)) < 0)
		return rc;
	return caps_cell_pools(c, n, cell);
}

/* <distances><sibling id value/>: a row of the SLIT. Returns how many
 * siblings the cell names. */
static int caps_cell_distances(struct caps_ctx *c, const xmlNode *cell, size_t *count)
{
	const xmlNode *dists = caps_child(cell, "distances");
	uint64_t to, value;
	unsigned from;
	int rc;

	*count = 0;
	if ((rc = caps_cell_id(cell, &from, c->err)) < 0)
		return rc;
	for (xmlNode *s = dists ? dists->children : NULL; s != NULL; s = s->next) {
		g_autofree char *what = g_strdup_printf("cell %u <sibling>", from);

		if (!caps_is(s, "sibling"))
			continue;
		if ((rc = caps_number(s, "id", what, NODESET_MAX - 1, &to, c->err)) < 0 ||
		    (rc = caps_number(s, "value", what, UINT_MAX, &value, c->err)) < 0)
			return rc;
		rc = host_set_distance(c->h, from, (unsigned)to, (unsigned)value);
		if (rc == -ENOENT)
			return err_ret(c->err, rc, "capabilities: %s: no cell %" PRIu64, what, to);
		if (rc < 0)
			return err_ret(c->err, rc, "capabilities: %s: a distance of 0", what);
		(*count)++;
	}
	return 0;
}

/* Distances name other cells, so they are read once every cell is in. */
static int caps_read_distances(struct caps_ctx *c, const xmlNode *cells)
{
	size_t with = 0, count;
	int rc;

	for (xmlNode *cell = cells->children; cell != NULL; cell = cell->next) {
		if (!caps_is(cell, "cell"))
			continue;
		if ((rc = caps_cell_distances(c, cell, &count)) < 0)
			return rc;
		with += count > 0;
	}
	if (with == 0)
		host_warn(c->h,
		          "no cell lists <distances>: the distances between nodes are unknown");
	for (size_t i = 0; with > 0 && i < c->h->n_nodes; i++)
		for (size_t j = 0; j < c->h->n_nodes; j++)
			if (c->h->dist[i * c->h->n_nodes + j] == 0)
				host_warn(c->h, "cell %u gives no distance to cell %u",
				          c->h->nodes[i].id, c->h->nodes[j].id);
	return 0;
}

/* The machine's page size: the first <pages> of <host><cpu>, as libvirt
 * lists the system page size first. */
static int caps_base_page(const xmlNode *host, uint64_t *kib, char **err)
{
	const xmlNode *p = caps_child(caps_child(host, "cpu"), "pages");

	*kib = CAPS_DEFAULT_BASE_KIB;
	return p ? caps_size(p, "size", "<host><cpu><pages>", kib, err) : 0;
}

static int caps_fill(struct host *h, const xmlNode *root, char **err)
{
	const xmlNode *host = caps_child(root, "host");
	const xmlNode *cells = caps_child(caps_child(host, "topology"), "cells");
	struct caps_ctx c = {.h = h, .err = err};
	int rc = 0;

	if (!caps_is(root, "capabilities"))
		return err_ret(err, -EINVAL,
		               "capabilities XML: the root element is <%s>, not <capabilities>",
		               root ? (const char *)root->name : "");
	if (cells == NULL)
		return err_ret(err, -EINVAL, "capabilities XML: no <host><topology><cells>");
	if ((rc = caps_base_page(host, &c.base_kib, err)) < 0)
		return rc;
	for (xmlNode *cell = cells->children; cell != NULL && rc == 0; cell = cell->next)
		if (caps_is(cell, "cell"))
			rc = caps_read_cell(&c, cell);
	if (rc == 0 && h->n_nodes == 0)
		rc = err_ret(err, -EINVAL, "capabilities XML: <cells> lists no <cell>");
	if (rc == 0)
		rc = caps_read_distances(&c, cells);
	return rc;
}

int host_from_caps(const char *xml, size_t len, struct host **out, char **err)
{
	struct host *h;
	xmlDoc *doc;
	int rc;

	*out = NULL;
	doc = caps_read_xml(xml, len, err);
	if (doc == NULL)
		return -EINVAL;
	h = host_new();
	if (h == NULL)
		rc = err_ret(err, -ENOMEM, "capabilities: out of memory");
	else
		rc = caps_fill(h, xmlDocGetRootElement(doc), err);
	xmlFreeDoc(doc);
	if (rc < 0) {
		host_free(h);
		return rc;
	}
	h->source = HOST_SOURCE_CAPS;
	*out = h;
	return 0;
}

int host_from_caps_file(const char *path, struct host **out, char **err)
{
	g_autofree char *xml = NULL;
	g_autoptr(GError) gerr = NULL;
	char *why = NULL;
	gsize len;
	int rc;

	*out = NULL;
	/* access() first: its errno says why, in words that do not depend on GLib */
	if (access(path, R_OK) < 0)
		return err_ret(err, -errno, "%s: %s", path, strerror(errno));
	if (!g_file_get_contents(path, &xml, &len, &gerr))
		return err_ret(err, -EIO, "%s: %s", path, gerr->message);
	rc = host_from_caps(xml, len, out, &why);
	if (rc < 0)
		err_set(err, "%s: %s", path, why ? why : "not capabilities XML");
	free(why);
	return rc;
}
