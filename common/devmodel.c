/*
 * Device models (see devmodel.h): which model a guest node uses, its step,
 * its room, and the virtio-mem device XML that an update sends.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "devmodel.h"
#include "err.h"

const char *devmodel_name(enum devmodel m)
{
	return m == DEVMODEL_VIRTIO_MEM ? "virtio-mem" : "dimm";
}

static const char *const choice_names[] = {
        [DEVMODEL_AUTO] = "auto",
        [DEVMODEL_FORCE_DIMM] = "dimm",
        [DEVMODEL_FORCE_VIRTIO_MEM] = "virtio-mem",
};

const char *devmodel_choice_name(enum devmodel_choice c)
{
	return (size_t)c < sizeof(choice_names) / sizeof(choice_names[0]) ? choice_names[c] : "?";
}

int devmodel_choice_parse(const char *s, enum devmodel_choice *out)
{
	for (size_t i = 0; s && i < sizeof(choice_names) / sizeof(choice_names[0]); i++) {
		if (strcmp(s, choice_names[i]) == 0) {
			*out = (enum devmodel_choice)i;
			return 0;
		}
	}
	return -EINVAL;
}

const struct domain_memdev *devmodel_vmem_device(const struct domain *dom, unsigned node,
                                                 size_t *index)
{
	for (size_t i = 0; i < dom->n_memdevs; i++) {
		const struct domain_memdev *m = &dom->memdevs[i];

		if (m->model == MEMDEV_VIRTIO_MEM && m->target_node == (int)node) {
			if (index)
				*index = i;
			return m;
		}
	}
	return NULL;
}

void devmodel_node(const struct domain *dom, unsigned node, enum devmodel_choice choice,
                   const struct backing *b, struct devmodel_node *out)
{
	size_t idx = 0;
	const struct domain_memdev *m = devmodel_vmem_device(dom, node, &idx);

	memset(out, 0, sizeof(*out));
	out->node = node;
	if (choice == DEVMODEL_FORCE_DIMM || (choice == DEVMODEL_AUTO && m == NULL)) {
		out->model = DEVMODEL_DIMM;
		return;
	}
	out->model = DEVMODEL_VIRTIO_MEM;
	if (m == NULL)
		return;
	out->has_device = true;
	out->memdev = idx;
	out->alias = m->alias;
	out->size_kib = m->size_kib;
	out->block_kib = m->block_kib ? m->block_kib : DEVMODEL_VMEM_BLOCK_KIB;
	if (b && b->page_size_kib > out->block_kib)
		out->block_kib = b->page_size_kib;
	out->requested_kib = m->requested_kib;
	out->current_kib = m->current_kib;
}

uint64_t devmodel_align_kib(const struct devmodel_node *n, const struct backing *b)
{
	if (n->model == DEVMODEL_VIRTIO_MEM)
		return n->block_kib ? n->block_kib : DEVMODEL_VMEM_BLOCK_KIB;
	return backing_align_kib(b);
}

uint64_t devmodel_vmem_room(const struct devmodel_node *n)
{
	if (n->model != DEVMODEL_VIRTIO_MEM || !n->has_device || n->requested_kib >= n->size_kib)
		return 0;
	return n->size_kib - n->requested_kib;
}

uint64_t devmodel_plugged_kib(const struct domain *dom)
{
	uint64_t kib = dom->memory_kib;

	for (size_t i = 0; i < dom->n_memdevs; i++) {
		const struct domain_memdev *m = &dom->memdevs[i];

		if (m->model == MEMDEV_VIRTIO_MEM && kib >= m->size_kib)
			kib = kib - m->size_kib + m->current_kib;
	}
	return kib;
}

uint64_t devmodel_vmem_plugged_kib(const struct domain *dom, const struct domain_memdev *m)
{
	return dom->id >= 0 ? m->current_kib : m->requested_kib;
}

uint64_t devmodel_cell_plugged_kib(const struct domain *dom, unsigned cell)
{
	uint64_t kib = 0;

	for (size_t i = 0; i < dom->n_memdevs; i++) {
		const struct domain_memdev *m = &dom->memdevs[i];

		if (m->target_node != (int)cell)
			continue;
		kib += m->model == MEMDEV_VIRTIO_MEM ? devmodel_vmem_plugged_kib(dom, m)
		                                     : m->size_kib;
	}
	return kib;
}

bool devmodel_has_vmem(const struct domain *dom, enum devmodel_choice choice)
{
	if (choice == DEVMODEL_FORCE_DIMM)
		return false;
	for (unsigned i = 0; i < dom->n_cells; i++)
		if (devmodel_vmem_device(dom, i, NULL) != NULL)
			return true;
	return false;
}

/* ---- the update XML ---- */

static xmlNode *child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name))
			return c;
	return NULL;
}

static bool prop_is(xmlNode *n, const char *name, const char *want)
{
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
	bool eq = v != NULL && want != NULL && strcmp((const char *)v, want) == 0;

	xmlFree(v);
	return eq;
}

static bool text_is_uint(xmlNode *n, unsigned want)
{
	xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
	char *end = NULL;
	unsigned long u = v ? strtoul((const char *)v, &end, 10) : 0;
	bool eq = v != NULL && end != (char *)v && *end == '\0' && u == want;

	xmlFree(v);
	return eq;
}

/* The virtio-mem <memory> of `node` (and `alias`, if given). */
static xmlNode *find_vmem(xmlNode *root, unsigned node, const char *alias)
{
	for (xmlNode *m = child(child(root, "devices"), "memory"); m; m = m->next) {
		if (m->type != XML_ELEMENT_NODE || !xmlStrEqual(m->name, BAD_CAST "memory") ||
		    !prop_is(m, "model", "virtio-mem"))
			continue;
		if (!text_is_uint(child(child(m, "target"), "node"), node))
			continue;
		if (alias && child(m, "alias") && !prop_is(child(m, "alias"), "name", alias))
			continue;
		return m;
	}
	return NULL;
}

static int set_requested(xmlNode *mem, uint64_t kib)
{
	xmlNode *tgt = child(mem, "target"), *req, *cur;
	char buf[32];

	if (tgt == NULL)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%" PRIu64, kib);
	req = child(tgt, "requested");
	if (req == NULL)
		req = xmlNewChild(tgt, NULL, BAD_CAST "requested", NULL);
	if (req == NULL)
		return -ENOMEM;
	xmlNodeSetContent(req, BAD_CAST buf);
	xmlSetProp(req, BAD_CAST "unit", BAD_CAST "KiB");
	/* <current> is the guest's, read-only: libvirt ignores it on input */
	if ((cur = child(tgt, "current")) != NULL) {
		xmlUnlinkNode(cur);
		xmlFreeNode(cur);
	}
	return 0;
}

int devmodel_vmem_update_xml(const char *domain_xml, unsigned node, const char *alias,
                             uint64_t requested_kib, char **out, char **err)
{
	xmlDoc *doc = xmlReadMemory(domain_xml, (int)strlen(domain_xml), "domain.xml", NULL,
	                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNode *mem = doc ? find_vmem(xmlDocGetRootElement(doc), node, alias) : NULL;
	xmlBuffer *buf = NULL;
	int rc = 0;

	if (doc == NULL)
		rc = err_ret(err, -EINVAL, "the domain XML cannot be read");
	else if (mem == NULL)
		rc = err_ret(err, -ENOENT, "no virtio-mem device on guest node %u%s%s", node,
		             alias ? " with alias " : "", alias ? alias : "");
	else if ((rc = set_requested(mem, requested_kib)) < 0)
		err_set(err, "the virtio-mem device of guest node %u has no <target>", node);
	else if ((buf = xmlBufferCreate()) == NULL || xmlNodeDump(buf, doc, mem, 0, 0) < 0)
		rc = err_ret(err, -ENOMEM, "out of memory");
	else if ((*out = strdup((const char *)xmlBufferContent(buf))) == NULL)
		rc = -ENOMEM;
	xmlBufferFree(buf);
	xmlFreeDoc(doc);
	return rc;
}
