/*
 * DIMM selection: the pure decision part of grow and shrink. Given a domain
 * model (and, for grow, an optional host snapshot), say which DIMMs to
 * attach or detach, on which guest nodes, with which backing, or why the
 * request is refused, before anything touches the guest. No libvirt calls;
 * the agent executes what this decides. See docs/select.md.
 *
 * The files, by job: select_grow.c spreads a grow (and says what a backing's
 * host nodes can supply), select_shrink.c searches the DIMMs a shrink
 * removes, select_msg.c words every verdict, select_result.c holds the
 * result; report_select() (report.h) renders it as JSON.
 */
#ifndef MEMPLUG_SELECT_H
#define MEMPLUG_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backing.h"
#include "domain.h"
#include "host.h"
#include "plan.h"

/* The verdict; every refusal has its own code for machines. */
enum select_code {
	SELECT_OK = 0,
	SELECT_BAD_SIZE,       /* 0, larger than maxMemory, overflow */
	SELECT_NOT_ALIGNED,    /* not a multiple of the node's alignment */
	SELECT_NO_SLOTS,       /* every <maxMemory slots> is taken */
	SELECT_NO_HEADROOM,    /* memory + size > maxMemory */
	SELECT_NO_NODE,        /* the guest node does not exist */
	SELECT_HOST_MEMORY,    /* host nodes lack free memory above the reserve */
	SELECT_HUGEPAGES,      /* host nodes lack free hugepages of the size */
	SELECT_CANNOT_HOTPLUG, /* no <maxMemory>, no NUMA cell */
	SELECT_NO_EXACT_SET,   /* shrink: no DIMMs sum to exactly the size */
	SELECT_NO_DIMMS,       /* shrink: nothing hot-pluggable to remove */
	/* preallocated memory (hugepages, <allocation mode='immediate'>) bound
	 * only to CPU-less host nodes: libvirt 9.0 cannot place it */
	SELECT_PREALLOC_CPULESS,
	/* hugepages on host nodes outside the domain's global strict nodeset,
	 * which the kernel does not count for QEMU's reservation */
	SELECT_OUTSIDE_NODESET,
};

enum select_op {
	SELECT_GROW,
	SELECT_SHRINK,
};

struct select_grow_req {
	uint64_t size_kib;
	int node; /* guest node, -1 = spread as the layout says */
	/* A layout already computed for this domain and host, or NULL to have
	 * select_grow() compute one. Borrowed. */
	const struct plan *plan;
	uint64_t host_reserve_kib; /* free memory to keep on each host node */
};

struct select_shrink_req {
	uint64_t size_kib;
	int node; /* guest node, -1 = any */
};

struct select_dimm {
	unsigned node; /* guest node */
	uint64_t size_kib;
	struct backing backing;
	char *reason; /* why this node (grow) or this DIMM (shrink) */
	/* shrink only: the device to detach */
	char *alias;
	size_t memdev; /* index in dom->memdevs */
	bool has_slot;
	unsigned slot;
};

struct select_result {
	enum select_op op;
	enum select_code code;
	char *message; /* refusal, in words a user can act on; NULL when ok */
	char *warning; /* ok, but worth saying (last slot taken); or NULL */
	uint64_t request_kib;
	uint64_t total_kib; /* sum of dimms; == request_kib when ok */
	size_t n_dimms;
	struct select_dimm *dimms; /* grow: attach in this order; shrink: detach */
	/* not_aligned: the nearest valid sizes; no_exact_set: the nearest sizes
	 * that can be removed exactly. Ascending. */
	size_t n_suggest;
	uint64_t *suggest_kib;
};

/* At most this many sizes are suggested on a refusal. */
#define SELECT_SUGGEST_MAX 8

/*
 * Chooses the DIMMs for growing `dom` by req->size_kib. `host` may be NULL
 * (no host checks). Returns 0 and a new result in *out (free with
 * select_result_free()) whether the verdict is ok or a refusal: a refusal is
 * an answer, not an error, and r->code is its only channel. Returns a negative errno and *err only
 * when no verdict could be reached (-ENOMEM, -EINVAL for NULL arguments or when the layout options
 * do not fit the domain).
 */
int select_grow(const struct domain *dom, const struct host *host,
                const struct select_grow_req *req, struct select_result **out, char **err);

/*
 * Chooses hot-plugged DIMMs (model dimm, with an alias) of `dom` that sum to
 * exactly req->size_kib, preferring the most recently added. Boot memory is
 * never a candidate. Same return convention as select_grow().
 */
int select_shrink(const struct domain *dom, const struct select_shrink_req *req,
                  struct select_result **out, char **err);

void select_result_free(struct select_result *r);

/*
 * Where a backing's memory can come from and how much of it is free: the
 * host check of a grow, and of the policy's decisions. Strict and
 * interleave bind to their nodes; preferred falls back to any node; auto
 * placement and restrictive mode name no nodes in advance (bound false:
 * the whole host counts).
 */
struct select_supply {
	struct nodeset nodes;
	bool bound;
	uint64_t free_kib;   /* plain pages: free; hugepages: free pages * size */
	uint64_t usable_kib; /* free minus the reserve on each node (not for hugepages) */
	uint64_t free_pages; /* hugepages only */
	bool known;          /* false: the host does not know these free values (a
	                      * capabilities file); the numbers above are not a measure */
};

void select_supply(const struct host *h, const struct backing *b, uint64_t reserve_kib,
                   struct select_supply *s);

/* "ok", "bad_size", ..., "no_dimms"; a static string. */
const char *select_code_name(enum select_code code);

#endif
