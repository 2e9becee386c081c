/*
 * The slot-layout planner: a pure function from a domain model (and, when
 * known, a host snapshot) to a per-guest-node list of DIMM sizes that would
 * take the guest from its current memory to <maxMemory> within the free
 * slots. Every DIMM is a multiple of its node's alignment (max(128 MiB,
 * page size)); whatever alignment or slots cannot reach is reported as
 * unreachable, never dropped. Nodes that grow through virtio-mem
 * (devmodel.h) take no part in the layout: the plan carries their device
 * and its room instead. See docs/planner.md for the algorithm.
 */
#ifndef MEMPLUG_PLAN_H
#define MEMPLUG_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "backing.h"
#include "devmodel.h"
#include "domain.h"
#include "host.h"

enum plan_strategy {
	PLAN_PROPORTIONAL, /* to each cell's boot memory (default) */
	PLAN_EVEN,         /* the same share for every cell */
	PLAN_WEIGHTS,      /* explicit per-cell weights */
};

struct plan_options {
	enum plan_strategy strategy;
	size_t n_weights; /* PLAN_WEIGHTS: one weight per cell, in cell order */
	const unsigned *weights;
	enum devmodel_choice model; /* per node (auto, the default) or forced */
};

struct plan_node {
	unsigned id;
	const char *cpus;     /* borrowed from the domain; NULL when memory-only */
	uint64_t boot_kib;    /* the cell's own memory */
	uint64_t plugged_kib; /* memory plugged on this cell (devmodel_cell_plugged_kib) */
	struct backing backing;
	/* the node's model; a virtio-mem node gets no DIMMs, its device's
	 * room is what it can still grow */
	struct devmodel_node dm;
	uint64_t align_kib;
	size_t n_dimms;
	uint64_t *dimms_kib;  /* planned DIMM sizes, largest first */
	uint64_t planned_kib; /* sum of dimms_kib */
};

struct plan {
	enum plan_strategy strategy;
	enum devmodel_choice model; /* as asked: auto, or forced on every node */
	uint64_t max_memory_kib;
	uint64_t memory_kib;   /* current <memory> */
	uint64_t headroom_kib; /* max_memory - memory: what DIMMs may add */
	unsigned slots;
	unsigned used_slots;
	unsigned free_slots;
	unsigned planned_slots;   /* DIMMs in the plan, <= free_slots */
	size_t dimm_nodes;        /* nodes that grow by DIMMs */
	uint64_t vmem_room_kib;   /* what the virtio-mem nodes' devices can still take */
	uint64_t reachable_kib;   /* sum of all planned DIMMs */
	uint64_t unreachable_kib; /* headroom - reachable */
	char *unreachable_reason; /* NULL when nothing is unreachable */
	size_t n_nodes;
	struct plan_node *nodes; /* one per guest cell, in cell order */
};

/* Parses "proportional", "even" or "weights:2,1,1" (weights 0..1000000, at
 * least one > 0). For weights, *weights_out is a malloc'd array the caller
 * frees and opts->weights points into it; otherwise *weights_out is NULL. */
int plan_strategy_parse(const char *str, struct plan_options *opts, unsigned **weights_out,
                        char **err);
/* Checks options against a domain of `n_cells` guest cells (weights:
 * one per cell): an error here is the caller's input, not the domain's. */
int plan_options_check(const struct plan_options *opts, size_t n_cells, char **err);
const char *plan_strategy_name(enum plan_strategy s);

/*
 * Plans the layout. `host` may be NULL. On success *out owns a new plan
 * (free with plan_free()); it borrows strings from `dom`, which must
 * outlive it. Fails with -EINVAL when the domain cannot hotplug
 * (domain_check_hotplug()) or the options do not fit the domain.
 */
int plan_layout(const struct domain *dom, const struct host *host, const struct plan_options *opts,
                struct plan **out, char **err);
void plan_free(struct plan *p);

#endif
