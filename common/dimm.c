/*
 * Builds the <memory model='dimm'> device XML with libxml2's tree API, so
 * the alias is escaped by the library rather than pasted into a string.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "dimm.h"

static bool dimm_alias_ok(const char *alias)
{
	return alias == NULL || (strncmp(alias, "ua-", 3) == 0 && alias[3] != '\0');
}

/* Adds <name>text</name> under parent; NULL when out of memory. */
static xmlNode *dimm_add(xmlNode *parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static xmlNode *dimm_tree(unsigned node, uint64_t size_kib, const char *alias)
{
	char size_str[32], node_str[16];
	xmlNode *mem = xmlNewNode(NULL, BAD_CAST "memory");
	xmlNode *target = mem ? dimm_add(mem, "target", NULL) : NULL;
	xmlNode *size = NULL, *a;
	bool ok;

	snprintf(size_str, sizeof(size_str), "%" PRIu64, size_kib);
	snprintf(node_str, sizeof(node_str), "%u", node);
	if (target != NULL)
		size = dimm_add(target, "size", size_str);
	ok = size != NULL && xmlNewProp(mem, BAD_CAST "model", BAD_CAST "dimm") != NULL;
	ok = ok && xmlNewProp(size, BAD_CAST "unit", BAD_CAST "KiB") != NULL;
	ok = ok && dimm_add(target, "node", node_str) != NULL;
	if (ok && alias != NULL) {
		a = dimm_add(mem, "alias", NULL);
		ok = a != NULL && xmlNewProp(a, BAD_CAST "name", BAD_CAST alias) != NULL;
	}
	if (!ok) {
		xmlFreeNode(mem);
		return NULL;
	}
	return mem;
}

char *dimm_xml(unsigned node, uint64_t size_kib, const char *alias)
{
	return dimm_xml_slot(node, size_kib, alias, -1);
}

/* <address type='dimm' slot='N'/>; false when out of memory. */
static bool dimm_add_slot(xmlNode *mem, int slot)
{
	char slot_str[16];
	xmlNode *addr = dimm_add(mem, "address", NULL);

	snprintf(slot_str, sizeof(slot_str), "%d", slot);
	return addr != NULL && xmlNewProp(addr, BAD_CAST "type", BAD_CAST "dimm") != NULL &&
	       xmlNewProp(addr, BAD_CAST "slot", BAD_CAST slot_str) != NULL;
}

char *dimm_xml_slot(unsigned node, uint64_t size_kib, const char *alias, int slot)
{
	xmlNode *mem;
	xmlBuffer *buf;
	char *out = NULL;

	if (!dimm_alias_ok(alias))
		return NULL;
	mem = dimm_tree(node, size_kib, alias);
	if (mem != NULL && slot >= 0 && !dimm_add_slot(mem, slot)) {
		xmlFreeNode(mem);
		mem = NULL;
	}
	buf = mem ? xmlBufferCreate() : NULL;
	if (buf != NULL && xmlNodeDump(buf, NULL, mem, 0, 0) >= 0)
		out = strdup((const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	xmlFreeNode(mem);
	return out;
}
