/*
 * Backing inference: for a guest cell (and optionally a memory device),
 * which page size, host nodes and NUMA mode back its memory, in libvirt's
 * own order of precedence, and where each answer came from:
 *
 *   page size:  device <source><pagesize>
 *               > first <hugepages><page nodeset> containing the cell
 *               > a <page> without nodeset
 *               > default pages (or the default hugepage size when
 *                 <hugepages/> has no <page>)
 *   host nodes: device <source><nodemask>
 *               > <numatune><memnode cellid>
 *               > <numatune><memory nodeset> (placement='auto': numad's
 *                 advice, unknown until the domain runs)
 *   mode:       from the same place as the nodes; default strict;
 *               'restrictive' binds nothing.
 */
#ifndef MEMPLUG_BACKING_H
#define MEMPLUG_BACKING_H

#include <stdbool.h>
#include <stdint.h>

#include "domain.h"

#define BACKING_SOURCE_MAX 64

struct backing {
	uint64_t page_size_kib;               /* 4 for default pages */
	bool hugepages;                       /* page_size_kib is a hugepage size */
	char page_source[BACKING_SOURCE_MAX]; /* "hugepages page nodeset=0-1" */

	enum numa_mode mode;
	bool bound;          /* host_nodes is meaningful */
	bool auto_placement; /* numad picks the nodes; host_nodes unknown */
	struct nodeset host_nodes;
	char nodes_source[BACKING_SOURCE_MAX]; /* "memnode cellid=2" */
};

/* The page size Linux uses for <hugepages/> without <page>, in KiB. */
#define BACKING_DEFAULT_HUGEPAGE_KIB UINT64_C(2048)
#define BACKING_BASE_PAGE_KIB        UINT64_C(4)
/* Linux onlines memory in 128 MiB blocks on x86_64. */
#define BACKING_BLOCK_KIB (UINT64_C(128) * 1024)

/*
 * Fills *out for guest cell `cell` of `dom`; `dev` (may be NULL) is a memory
 * device whose own <source> takes precedence. Returns -EINVAL when the cell
 * does not exist.
 */
int backing_infer(const struct domain *dom, unsigned cell, const struct domain_memdev *dev,
                  struct backing *out, char **err);

/* The size every DIMM on this backing must be a multiple of:
 * max(128 MiB memory block, page size). */
uint64_t backing_align_kib(const struct backing *b);

#endif
