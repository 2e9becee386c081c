/*
 * prepare's edits to a domain definition, made on the libxml2 tree of the
 * document as it was written: everything prepare does not own keeps its
 * elements, attributes, order, whitespace and comments. prepare owns:
 *
 *   <maxMemory>                          value, unit, slots
 *   <cpu><topology>                      sockets, (dies, clusters) cores, threads
 *   <cpu><numa><cell>                    all of them (and their <distances>)
 *   <cputune><vcpupin>                   all of them (not with --no-pin)
 *   <numatune>                           <memory> mode/nodeset, every <memnode>
 *   <memoryBacking><hugepages><page>     nodeset of pages that name cells
 *   <devices><memballoon>                a <stats period> when it has none
 *                                        (the element when there is none)
 *
 * New elements are indented like their siblings; removed ones take their
 * leading whitespace with them.
 */
#ifndef MEMPLUG_DOMAIN_EDIT_H
#define MEMPLUG_DOMAIN_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h"
#include "partition.h"

struct domain_edit;

/* <page nodeset> edits the account lists (the counters count them all). */
#define DOMAIN_EDIT_PAGES_MAX 8

/* One <page nodeset> as it was and as it is now ("": removed). */
struct domain_edit_page {
	uint64_t size_kib; /* 0 when the size did not parse */
	char was[128];     /* guest cells as written (long lists are cut) */
	char now[128];
};

/* What owned parts held before the edit that the domain model (struct
 * domain) does not: the account's "was". */
struct domain_edit_before {
	bool topology; /* <cpu><topology> present */
	unsigned sockets, cores, threads;
	unsigned pins; /* <cputune><vcpupin> elements */
};

/* What the edit found or did beyond the partition, for the account. */
struct domain_edit_report {
	struct domain_edit_before before;
	unsigned stats_period; /* the memballoon's <stats period> now; 0: none */
	size_t n_pages;
	struct domain_edit_page pages[DOMAIN_EDIT_PAGES_MAX];
	bool balloon_added;       /* there was no <memballoon>: a virtio one added */
	bool balloon_stats_added; /* <stats period> added */
	bool balloon_none;        /* model='none': the policy cannot manage the guest */
	bool direct_kernel;       /* <os><kernel> */
	bool movable_missing;     /* ...without memhp_default_state=online_movable */
	unsigned pages_narrowed;  /* <page nodeset> rewritten to the cells with CPUs */
	unsigned pages_removed;   /* <page nodeset> that named only old cells */
	bool cpu_added;           /* there was no <cpu> */
};

/* Parses the document, keeping comments and whitespace. *out: domain_edit_free(). */
int domain_edit_open(const char *xml, size_t len, struct domain_edit **out, char **err);
void domain_edit_free(struct domain_edit *e);

/* Reads what the partition needs: vCPUs and backing from the tree, sizes
 * and slots from `dom` (the same document through domain_parse()).
 * -EINVAL when the guest's cells use different page sizes or its
 * <numa> has <interconnects> (prepare would have to rewrite them). */
int domain_edit_guest(const struct domain_edit *e, const struct domain *dom,
                      struct partition_guest *g, char **err);

/* Applies the partition to the tree. `g` is what domain_edit_guest() read. */
int domain_edit_apply(struct domain_edit *e, const struct partition_guest *g,
                      const struct partition *p, struct domain_edit_report *rep, char **err);

/*
 * prepare --model virtio-mem: appends a <memory model='virtio-mem'> device
 * on guest cell `node` (size_kib, block_kib, nothing requested) to
 * <devices>, and raises <memory> by its size (libvirt counts memory devices
 * in it); a missing <currentMemory> is set to the old <memory>, the boot
 * memory, so the guest does not start with a balloon target above it.
 */
int domain_edit_add_vmem(struct domain_edit *e, unsigned node, uint64_t size_kib,
                         uint64_t block_kib, char **err);

/* The document as text, without an XML declaration (as libvirt writes it).
 * *xml is malloc'd. */
int domain_edit_format(const struct domain_edit *e, char **xml, char **err);

#endif
