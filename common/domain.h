/*
 * The domain XML model: what memplug needs from a libvirt domain definition,
 * read with libxml2 into plain structs. Parsing validates as it goes, so a
 * struct domain that exists is consistent: cells are numbered 0..n_cells-1
 * in order, every memnode names an existing cell, sizes fit. A domain that
 * cannot hotplug at all (no <maxMemory>, no NUMA cell) still parses, so the
 * agent can watch it; domain_check_hotplug() says why it cannot.
 */
#ifndef MEMPLUG_DOMAIN_H
#define MEMPLUG_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nodeset.h"

/* QEMU's limit on memory slots. */
#define DOMAIN_MAX_SLOTS 256

enum numa_mode {
	NUMA_MODE_STRICT, /* libvirt's default */
	NUMA_MODE_PREFERRED,
	NUMA_MODE_INTERLEAVE,
	NUMA_MODE_RESTRICTIVE,
};

enum numa_placement {
	NUMA_PLACEMENT_STATIC, /* default when a nodeset is given */
	NUMA_PLACEMENT_AUTO,   /* numad decides the nodes at start */
};

/* <memoryBacking><hugepages><page size unit nodeset/> */
struct domain_page {
	uint64_t size_kib;
	bool has_nodeset;
	struct nodeset nodeset; /* guest cells this page size applies to */
};

/* <cpu><numa><cell/> */
struct domain_cell {
	unsigned id;
	char *cpus; /* as written, e.g. "0-3"; NULL for a memory-only cell */
	uint64_t memory_kib;
	char *mem_access; /* "shared", "private" or NULL */
	char *discard;    /* "yes", "no" or NULL */
};

/* <numatune><memnode cellid mode nodeset/> */
struct domain_memnode {
	unsigned cellid;
	enum numa_mode mode;
	struct nodeset nodeset; /* always present (libvirt requires it) */
};

enum memdev_model {
	MEMDEV_DIMM,
	MEMDEV_NVDIMM,
	MEMDEV_VIRTIO_MEM,
};

/* <devices><memory model=...> */
struct domain_memdev {
	enum memdev_model model;
	char *alias;           /* <alias name>, NULL when not yet assigned */
	int target_node;       /* <target><node>, -1 when absent */
	uint64_t size_kib;     /* <target><size> */
	uint64_t pagesize_kib; /* <source><pagesize>, 0 when absent */
	bool has_nodemask;
	struct nodeset nodemask; /* <source><nodemask> */
	bool has_slot;           /* <address type='dimm' slot base> */
	unsigned slot;
	bool has_base;
	uint64_t base;
	/* virtio-mem only; 0 when absent */
	uint64_t block_kib;
	uint64_t requested_kib;
	uint64_t current_kib;
};

struct domain {
	char *name;
	char *uuid; /* NULL when the XML has none */
	char *type; /* <domain type>: "qemu", "kvm", ... */
	int id;     /* <domain id>, -1 when not running */

	uint64_t max_memory_kib;     /* <maxMemory>, 0 when absent */
	unsigned slots;              /* <maxMemory slots>, 1..256; 0 when absent */
	uint64_t memory_kib;         /* <memory>: boot memory + memory devices */
	uint64_t current_memory_kib; /* <currentMemory>, = memory_kib if absent */

	bool hugepages; /* <memoryBacking><hugepages> present */
	/* <memoryBacking><allocation mode='immediate'>: QEMU preallocates all
	 * guest memory, DIMMs included (domain-wide in libvirt 9.0) */
	bool alloc_immediate;
	size_t n_pages;
	struct domain_page *pages; /* in document order: order matters */

	bool has_numatune_memory; /* <numatune><memory> */
	enum numa_mode numatune_mode;
	enum numa_placement numatune_placement;
	bool has_numatune_nodeset;
	struct nodeset numatune_nodeset;

	size_t n_memnodes;
	struct domain_memnode *memnodes;

	size_t n_cells;
	struct domain_cell *cells; /* cells[i].id == i */

	size_t n_memdevs;
	struct domain_memdev *memdevs; /* in document order; other models
	                                * (virtio-pmem, sgx-epc) are skipped */
};

/*
 * Parses a domain XML document. On success *out owns a new struct domain
 * (free with domain_free()). On failure returns -EINVAL (or -ENOMEM) and a
 * message naming the element at fault, e.g. "<maxMemory>: slots must be
 * 1..256". The XML is never fetched from the network (no entities, no DTD).
 */
int domain_parse(const char *xml, size_t len, struct domain **out, char **err);
int domain_parse_file(const char *path, struct domain **out, char **err);
void domain_free(struct domain *dom);

/* 0 when memory can be hot-plugged, else -EINVAL and why ("no <maxMemory>
 * element", "no <cpu><numa> cell: QEMU needs at least one for DIMMs"). */
int domain_check_hotplug(const struct domain *dom, char **err);

/* Boot memory: the sum of the NUMA cells' memory; without cells, <memory>
 * minus the memory devices. */
uint64_t domain_boot_kib(const struct domain *dom);
/* Memory held by memory devices, all of them or on one cell (-1 = all). */
uint64_t domain_memdev_kib(const struct domain *dom, int cell);
/* Slots taken by DIMMs and NVDIMMs (virtio-mem uses none). */
unsigned domain_used_slots(const struct domain *dom);
/* Whether a memory device with this alias is listed (NULL dom: false). */
bool domain_has_alias(const struct domain *dom, const char *alias);
const struct domain_memnode *domain_memnode_find(const struct domain *dom, unsigned cellid);

const char *numa_mode_name(enum numa_mode mode);
const char *memdev_model_name(enum memdev_model model);

#endif
