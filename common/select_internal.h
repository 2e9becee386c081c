/*
 * Shared by the select_*.c files only, not part of the API (see select.h).
 * The verdict has one refusal channel: a refusal sets r->code (and its
 * message) through select_refuse(); functions return 0 or a negative errno
 * for errors only, and callers stop at select_refused(r).
 */
#ifndef MEMPLUG_SELECT_INTERNAL_H
#define MEMPLUG_SELECT_INTERNAL_H

#include "select.h"

/* ---- the result (select_result.c) ---- */

struct select_result *select_result_new(enum select_op op, uint64_t request_kib);

/* Records a refusal; returns 0, or -ENOMEM when the message cannot be made. */
__attribute__((format(printf, 3, 4))) int
select_refuse(struct select_result *r, enum select_code code, const char *fmt, ...);

static inline bool select_refused(const struct select_result *r)
{
	return r->code != SELECT_OK;
}

int select_suggest_add(struct select_result *r, uint64_t kib);

/* A zeroed DIMM appended to r->dimms, or NULL when out of memory. */
struct select_dimm *select_dimm_add(struct select_result *r);

uint64_t select_gcd(uint64_t a, uint64_t b);

/* ---- the words (select_msg.c): each sets the code and the message ---- */

int select_refuse_zero(struct select_result *r);
int select_refuse_cannot_hotplug(struct select_result *r, const struct domain *d, const char *why);
int select_refuse_too_large(struct select_result *r, const struct domain *d);
int select_refuse_grow_node(struct select_result *r, const struct domain *d, int node);
int select_refuse_no_slots(struct select_result *r, const struct domain *d);
int select_refuse_no_headroom(struct select_result *r, const struct domain *d,
                              uint64_t headroom_kib);
/* Reads the nearest valid sizes from r->suggest_kib. node -1: all nodes. */
int select_refuse_not_aligned(struct select_result *r, uint64_t align_kib, int node);
/* A pool short of `demand_kib` for the guest nodes `guests`. */
int select_refuse_pool(struct select_result *r, const struct select_supply *s,
                       const struct backing *b, uint64_t reserve_kib, uint64_t demand_kib,
                       const struct nodeset *guests);
int select_refuse_spread(struct select_result *r);
/* Guest node `node`'s preallocated backing `b` is bound only to the
 * CPU-less host nodes `cpuless`. */
int select_refuse_prealloc_cpuless(struct select_result *r, const struct domain *d, unsigned node,
                                   const struct backing *b, const struct nodeset *cpuless);
/* Guest node `node`'s hugepages can come only from the part `s` of its host
 * nodes inside the global strict nodeset `global`; `demand_kib` is short. */
int select_refuse_outside_nodeset(struct select_result *r, unsigned node, const struct backing *b,
                                  const struct select_supply *s, const struct nodeset *global,
                                  uint64_t demand_kib);
/* Why guest node `node` gets `d->size_kib`; s NULL: the host was not checked. */
int select_grow_reason(struct select_dimm *d, unsigned node, bool by_node, uint64_t planned_kib,
                       const struct select_supply *s);
int select_grow_warning(struct select_result *r, uint64_t rest_kib);

int select_refuse_shrink_node(struct select_result *r, const struct domain *d, int node);
int select_refuse_no_dimms(struct select_result *r, const struct domain *d, int node,
                           size_t unnamed);
/* Reads the removable sizes from r->suggest_kib. */
int select_refuse_inexact(struct select_result *r, const struct domain *d, int node);
int select_shrink_reason(struct select_dimm *d);

#endif
