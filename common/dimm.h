/*
 * The <memory model='dimm'> device XML that memplug hot-plugs. libvirt
 * infers the backing (page size, host nodes) from the domain itself, so
 * the XML only names the guest node and the size; an optional alias lets
 * the agent find the device again.
 */
#ifndef MEMPLUG_DIMM_H
#define MEMPLUG_DIMM_H

#include <stdint.h>

/* Returns a malloc'd XML string (the caller frees it), or NULL when out of
 * memory. `alias` may be NULL; when set it must be a libvirt user alias
 * ("ua-" and at least one more character), else NULL is returned. */
char *dimm_xml(unsigned node, uint64_t size_kib, const char *alias);
/* The same with an explicit <address type='dimm' slot='slot'/> (slot >= 0;
 * -1: libvirt chooses, as dimm_xml()). */
char *dimm_xml_slot(unsigned node, uint64_t size_kib, const char *alias, int slot);

#endif
