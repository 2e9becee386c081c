/*
 * A snapshot of the host's NUMA memory: nodes, their total and free memory,
 * and the hugepage pools of each node and page size.
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

#include <stddef.h>
#include <stdint.h>

#include "nodeset.h"

#define HOST_MAX_POOLS 8

struct host_pool {
	uint64_t page_kib;
	uint64_t total; /* pages */
	uint64_t free;  /* pages */
};

struct host_node {
	unsigned id;
	uint64_t total_kib;
	uint64_t free_kib;
	size_t n_pools;
	struct host_pool pools[HOST_MAX_POOLS]; /* sorted by page_kib */
};

struct host {
	size_t n_nodes;
	struct host_node *nodes; /* sorted by id; ids may have gaps */
};

/* The real host: nodes and memory from libnuma, hugepage pools from sysfs.
 * Caller frees with host_free(). -ENOTSUP when the kernel has no NUMA. */
int host_snapshot(struct host **out, char **err);
/* A host read from `node_dir`, a directory shaped like
 * /sys/devices/system/node; meminfo gives total and free memory. */
int host_snapshot_at(const char *node_dir, struct host **out, char **err);

struct host *host_new(void);
/* Appends a node (kept sorted); returns it, or NULL on a duplicate id or
 * when out of memory. The pointer is valid until the next host_add_node(). */
struct host_node *host_add_node(struct host *h, unsigned id, uint64_t total_kib, uint64_t free_kib);
/* -EEXIST for a second pool of the same size, -E2BIG past HOST_MAX_POOLS,
 * -EINVAL for a 0 page size or more free pages than pages. */
int host_node_add_pool(struct host_node *n, uint64_t page_kib, uint64_t total, uint64_t free);
void host_free(struct host *h);

const struct host_node *host_node_find(const struct host *h, unsigned id);
/* The pool of `page_kib` pages on node `n`, or NULL. */
const struct host_pool *host_node_pool(const struct host_node *n, uint64_t page_kib);
/* Free memory (KiB) over a set of nodes: plain pages for page_kib <= 4,
 * free hugepages of that size otherwise. */
uint64_t host_free_kib(const struct host *h, const struct nodeset *nodes, uint64_t page_kib);
/* All node ids of the host. */
void host_nodeset(const struct host *h, struct nodeset *out);

#endif
