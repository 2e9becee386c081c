/*
 * The host's NUMA topology and memory, one model for every source: nodes,
 * their CPUs, the distance between every two nodes (SLIT), the memory tier,
 * total and free memory, and the hugepage pools of each node and page size.
 *
 * Sources (enum host_source): the local machine (libnuma + sysfs), a
 * fabricated sysfs directory (tests, --host-sysfs), libvirt (the agent's
 * connection: capabilities once per connection, free memory per operation)
 * and a saved `virsh capabilities` file (free memory unknown).
 *
 * The seam for tests is the sysfs root: host_snapshot_at() reads a directory
 * laid out like /sys/devices/system/node (nodeN/meminfo,
 * nodeN/hugepages/hugepages-SIZEkB/{nr,free}_hugepages), so a test can
 * fabricate a many-node host in a temporary directory; host_new() and
 * host_add_node() build one in memory. host_snapshot() reads the real
 * machine, free memory through libnuma.
 */
#ifndef MEMPLUG_HOST_H
#define MEMPLUG_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nodeset.h"

#define HOST_MAX_POOLS 8

enum host_source {
	HOST_SOURCE_LOCAL,   /* libnuma + /sys */
	HOST_SOURCE_SYSFS,   /* a directory shaped like /sys/devices/system/node */
	HOST_SOURCE_LIBVIRT, /* virConnectGetCapabilities + free memory/pages calls */
	HOST_SOURCE_CAPS,    /* a saved capabilities XML: no free values */
};

struct host_pool {
	uint64_t page_kib;
	uint64_t total; /* pages */
	uint64_t free;  /* pages; meaningful only when free_known */
	bool free_known;
};

struct host_node {
	unsigned id;
	struct nodeset cpus; /* host CPU ids (a nodeset used as an id bitmap); empty: CPU-less */
	uint64_t total_kib;
	uint64_t free_kib; /* meaningful only when free_known */
	bool free_known;
	int tier; /* N of /sys/devices/virtual/memory_tiering/memory_tierN, -1 unknown */
	size_t n_pools;
	struct host_pool pools[HOST_MAX_POOLS]; /* sorted by page_kib */
};

struct host {
	enum host_source source;
	size_t n_nodes;
	struct host_node *nodes; /* sorted by id; ids may have gaps */
	/* SLIT: dist[i * n_nodes + j] between nodes[i] and nodes[j], by position;
	 * 0 where the source gives none. Kept in step by host_add_node(). */
	unsigned *dist;
	/* What a source got wrong and the reader tolerated (a test driver's
	 * odd pools, a missing SLIT): a NULL-terminated list, or NULL. */
	char **warnings;
};

/* The real host: nodes and memory from libnuma, hugepage pools from sysfs.
 * Caller frees with host_free(). -ENOTSUP when the kernel has no NUMA. */
int host_snapshot(struct host **out, char **err);
/* A host read from `node_dir`, a directory shaped like
 * /sys/devices/system/node; meminfo gives total and free memory. */
int host_snapshot_at(const char *node_dir, struct host **out, char **err);

/* Sets each node's tier from `dir`/memory_tierN/nodelist (NULL: the real
 * /sys/devices/virtual/memory_tiering); a host read from libvirt on a local
 * connection adds the tiers this way. Without the directory (no memory
 * tiering in the kernel) nothing changes. */
int host_read_tiers(struct host *h, const char *dir, char **err);

struct host *host_new(void);
/* Appends a node (kept sorted; free memory known, no CPUs, tier -1, no
 * distances); returns it, or NULL on a duplicate id or when out of memory.
 * The pointer is valid until the next host_add_node(). */
struct host_node *host_add_node(struct host *h, unsigned id, uint64_t total_kib, uint64_t free_kib);
/* -EEXIST for a second pool of the same size, -E2BIG past HOST_MAX_POOLS,
 * -EINVAL for a 0 page size or more free pages than pages. */
int host_node_add_pool(struct host_node *n, uint64_t page_kib, uint64_t total, uint64_t free);
void host_free(struct host *h);
/* "local", "sysfs", "libvirt" or "caps": the names inspect --json uses. */
const char *host_source_name(enum host_source source);
/* Appends a formatted message to h->warnings. */
void host_warn(struct host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A deep copy (the agent caches the topology per connection and refreshes
 * free values per operation on a copy); NULL when out of memory. */
struct host *host_dup(const struct host *h);

/* Parses `virsh capabilities` XML (<host><topology><cells>): cell ids, CPUs,
 * memory, <pages> pools and <distances>. Source HOST_SOURCE_CAPS; free
 * memory and free pages are unknown (free_known false). Tolerates what
 * libvirt's test driver produces (no distances, odd pools). */
int host_from_caps(const char *xml, size_t len, struct host **out, char **err);
/* host_from_caps() on a file (`virsh capabilities > FILE`); messages name
 * the file. */
int host_from_caps_file(const char *path, struct host **out, char **err);

/* SLIT distance between node ids `from` and `to`; 0 when unknown or when
 * either node does not exist. */
unsigned host_distance(const struct host *h, unsigned from, unsigned to);
/* -ENOENT when either node does not exist, -EINVAL for a 0 value. */
int host_set_distance(struct host *h, unsigned from, unsigned to, unsigned value);
static inline bool host_node_has_cpus(const struct host_node *n)
{
	return !nodeset_is_empty(&n->cpus);
}
/* Sets a node's free memory / a pool's free pages, marking them known.
 * -ENOENT for a pool that does not exist, -EINVAL for free > total. */
int host_node_set_free(struct host_node *n, uint64_t free_kib);
int host_node_set_pool_free(struct host_node *n, uint64_t page_kib, uint64_t free);

const struct host_node *host_node_find(const struct host *h, unsigned id);
/* The pool of `page_kib` pages on node `n`, or NULL. */
const struct host_pool *host_node_pool(const struct host_node *n, uint64_t page_kib);
/* Free memory (KiB) over a set of nodes: plain pages for page_kib <= 4,
 * free hugepages of that size otherwise. */
uint64_t host_free_kib(const struct host *h, const struct nodeset *nodes, uint64_t page_kib);
/* Whether every node of `nodes` that the host has knows what
 * host_free_kib() sums for `page_kib`: its free memory, or the free pages of
 * its pool of that size (a node without such a pool has none: known). A
 * check that needs free values and gets false here cannot check. */
bool host_free_known(const struct host *h, const struct nodeset *nodes, uint64_t page_kib);
/* All node ids of the host. */
void host_nodeset(const struct host *h, struct nodeset *out);

#endif
