/*
 * `prepare`'s arithmetic: from the host's topology, a few facts about the
 * guest and the user's options to a plan of guest NUMA cells (which host
 * node each cell maps to, its vCPUs, pins, memory, distances), the guest CPU
 * topology, the global numatune nodeset and the hotplug settings
 * (<maxMemory> and slots). Pure: plain structs in, plain structs out; the
 * XML is read and edited by domain_edit.c. See docs/prepare.md.
 *
 *   mirror:   one cell per host node with CPUs, in node order, then one
 *             CPU-less cell per CPU-less host node (unless cpuless_kib 0).
 *   cells N:  the N host nodes with CPUs that have the most free memory
 *             (free hugepages of the page size for hugepage-backed cells),
 *             ties broken by distance to the nodes already chosen; N larger
 *             than the nodes with CPUs shares nodes round-robin.
 */
#ifndef MEMPLUG_PARTITION_H
#define MEMPLUG_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.h"
#include "nodeset.h"

/* Boot memory of a CPU-less cell unless --cpuless says otherwise: one
 * Linux memory block. */
#define PARTITION_CPULESS_DEFAULT_KIB (UINT64_C(128) * 1024)
/* libvirt rounds every cell of a QEMU guest up to a whole MiB, so cells are
 * split in MiB at least (more with hugepages). */
#define PARTITION_MIN_ALIGN_KIB UINT64_C(1024)
/* <memballoon><stats period> that prepare adds, seconds. */
#define PARTITION_STATS_PERIOD 10

/* What partition needs to know about the guest (domain_edit.c reads it). */
struct partition_guest {
	unsigned vcpus;          /* <vcpu> */
	uint64_t memory_kib;     /* <memory>: boot memory + memory devices */
	uint64_t boot_kib;       /* what the cells share: <memory> - devices */
	uint64_t max_memory_kib; /* existing <maxMemory>, 0 when none */
	unsigned used_slots;     /* DIMMs and NVDIMMs already defined */
	int max_memdev_node;     /* highest memory device <target><node>, -1 */
	uint64_t page_kib;       /* page size of the cells with CPUs (4: normal pages) */
	bool hugepages;          /* the cells with CPUs are hugepage-backed */
	bool hugepages_all;      /* <hugepages> without <page nodeset>: every cell */
	bool prealloc;           /* <memoryBacking><allocation mode='immediate'> */
};

struct partition_opts {
	bool mirror;      /* --mirror-host; else n_cells */
	unsigned n_cells; /* --cells N */
	uint64_t max_kib; /* --max; 0: 4x memory, within the host's total */
	unsigned slots;   /* --slots; 0: what growth in alignment steps needs */
	bool cpuless_set; /* --cpuless given */
	uint64_t cpuless_kib;
	bool no_pin; /* --no-pin */
	bool vmem;   /* --model virtio-mem: a device per cell (prepare.c) */
};

struct partition_cell {
	unsigned id;
	unsigned host_node;
	bool cpuless;
	unsigned first_vcpu; /* vCPUs first_vcpu .. first_vcpu + n_vcpus - 1 */
	unsigned n_vcpus;
	bool pinned;
	struct nodeset pin; /* host CPUs of host_node (when pinned) */
	uint64_t memory_kib;
	bool hugepages; /* backed by guest->page_kib pages */
};

/* One host node with CPUs as the placement saw it (--cells). */
struct partition_candidate {
	unsigned node;
	uint64_t free_kib; /* plain memory or free hugepages of the page size */
	bool free_known;
	int rank; /* 0.. in the order chosen; -1 when not chosen */
};

struct partition {
	bool mirror;
	size_t n_cells;
	struct partition_cell *cells; /* CPU cells first, then CPU-less ones */
	size_t n_cpu_cells;
	unsigned *dist;   /* n_cells x n_cells, NULL when the host gives no SLIT */
	bool dist_shared; /* cells on one host node got distance 11 (libvirt needs > 10) */
	unsigned sockets, cores, threads;
	struct nodeset nodeset; /* global <numatune><memory> nodeset: every memnode's */
	uint64_t align_kib;     /* cell memory alignment (page size, at least 1 MiB) */
	uint64_t step_kib;      /* growth step: max(128 MiB block, page size) */
	uint64_t max_memory_kib;
	bool max_capped;  /* the default 4x was lowered to the host's total */
	bool max_lowered; /* the default is below the domain's old <maxMemory> */
	unsigned slots;
	bool shared; /* more cells than host nodes with CPUs: nodes shared */
	size_t n_candidates;
	struct partition_candidate *candidates; /* --cells: every host node with CPUs */
	size_t n_warnings;
	char **warnings;
};

/*
 * Computes the partition. On success *out owns a new partition (free with
 * partition_free()). Refusals return -EINVAL with the reason in *err, e.g.
 * "16 vCPUs cannot fill 32 cells with CPUs: every such cell needs one".
 */
int partition_compute(const struct host *host, const struct partition_guest *guest,
                      const struct partition_opts *opts, struct partition **out, char **err);
void partition_free(struct partition *p);

/* Adds a warning (formatted) to p; -ENOMEM when out of memory. */
int partition_warn(struct partition *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
