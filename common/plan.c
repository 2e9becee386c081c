/*
 * The slot-layout planner (see plan.h and docs/planner.md). Four steps, all
 * in exact integer arithmetic: pick the nodes that get a slot, give each
 * its share of the headroom rounded down to its alignment, hand the
 * rounding remainder to the nodes furthest below their share, then spread
 * the free slots so the largest DIMM is as small as it can be and split
 * each node's share into near-equal DIMMs. What no step could place is
 * reported as unreachable with the reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "err.h"
#include "plan.h"
#include "size.h"

/* Explicit weights are capped so that their sum fits easily in 64 bits. */
#define PLAN_WEIGHT_MAX 1000000u

typedef unsigned __int128 u128;

/* Per-node working state while planning. */
struct plan_work {
	uint64_t weight;
	bool slotted;     /* chosen to receive slots */
	uint64_t ideal_q; /* floor of the ideal share, KiB */
	uint64_t ideal_r; /* remainder of the ideal share, over the weight sum */
	uint64_t units;   /* aligned share, in align units */
	unsigned slots;   /* DIMMs for this node */
};

const char *plan_strategy_name(enum plan_strategy s)
{
	switch (s) {
	case PLAN_PROPORTIONAL:
		return "proportional";
	case PLAN_EVEN:
		return "even";
	case PLAN_WEIGHTS:
		return "weights";
	}
	return "?";
}

static int parse_weights(const char *list, unsigned **weights_out, size_t *n_out, char **err)
{
	g_auto(GStrv) parts = g_strsplit(list, ",", -1);
	size_t n = g_strv_length(parts);
	unsigned *w = calloc(n ? n : 1, sizeof(*w));
	bool any = false;

	if (w == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	if (n == 0) {
		free(w);
		return err_ret(err, -EINVAL, "no weights given: use weights:W0,W1,...");
	}
	for (size_t i = 0; i < n; i++) {
		guint64 v;

		if (!g_ascii_string_to_unsigned(parts[i], 10, 0, PLAN_WEIGHT_MAX, &v, NULL)) {
			free(w);
			return err_ret(err, -EINVAL, "weight \"%s\" is not a whole number 0..%u",
			               parts[i], PLAN_WEIGHT_MAX);
		}
		w[i] = (unsigned)v;
		any |= v > 0;
	}
	if (!any) {
		free(w);
		return err_ret(err, -EINVAL, "at least one weight must be > 0");
	}
	*weights_out = w;
	*n_out = n;
	return 0;
}

int plan_strategy_parse(const char *str, struct plan_options *opts, unsigned **weights_out,
                        char **err)
{
	*weights_out = NULL;
	memset(opts, 0, sizeof(*opts));
	if (strcmp(str, "proportional") == 0) {
		opts->strategy = PLAN_PROPORTIONAL;
		return 0;
	}
	if (strcmp(str, "even") == 0) {
		opts->strategy = PLAN_EVEN;
		return 0;
	}
	if (g_str_has_prefix(str, "weights:")) {
		int rc =
		        parse_weights(str + strlen("weights:"), weights_out, &opts->n_weights, err);

		if (rc < 0)
			return rc;
		opts->strategy = PLAN_WEIGHTS;
		opts->weights = *weights_out;
		return 0;
	}
	return err_ret(err, -EINVAL, "not one of proportional, even or weights:W0,W1,...");
}

int plan_options_check(const struct plan_options *opts, size_t n_cells, char **err)
{
	if (opts->strategy == PLAN_WEIGHTS && opts->n_weights != n_cells)
		return err_ret(err, -EINVAL, "%zu weight%s for %zu guest cell%s: give one per cell",
		               opts->n_weights, opts->n_weights == 1 ? "" : "s", n_cells,
		               n_cells == 1 ? "" : "s");
	return 0;
}

void plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_nodes; i++)
		free(p->nodes[i].dimms_kib);
	free(p->nodes);
	free(p->unreachable_reason);
	free(p);
}

/* The weight of every DIMM node under the chosen strategy (virtio-mem nodes
 * weigh 0: they take no share); sums fit in 64 bits. *sum stays 0 when no
 * node grows by DIMMs. */
static int plan_weights(const struct domain *dom, const struct plan *p,
                        const struct plan_options *opts, struct plan_work *w, uint64_t *sum,
                        char **err)
{
	int rc = plan_options_check(opts, dom->n_cells, err);

	*sum = 0;
	if (rc < 0 || p->dimm_nodes == 0)
		return rc;
	for (size_t i = 0; i < dom->n_cells; i++) {
		if (p->nodes[i].dm.model != DEVMODEL_DIMM)
			continue;
		switch (opts->strategy) {
		case PLAN_PROPORTIONAL:
			w[i].weight = dom->cells[i].memory_kib;
			break;
		case PLAN_EVEN:
			w[i].weight = 1;
			break;
		case PLAN_WEIGHTS:
			w[i].weight = opts->weights[i];
			break;
		}
		if (__builtin_add_overflow(*sum, w[i].weight, sum))
			return err_ret(err, -EOVERFLOW, "<cpu><numa>: cell memory overflows");
	}
	if (*sum == 0 && opts->strategy == PLAN_WEIGHTS)
		return err_ret(err, -EINVAL, "all weights %sare 0",
		               p->dimm_nodes < dom->n_cells ? "of the DIMM nodes " : "");
	if (*sum == 0) { /* cells of size 0 everywhere: nothing to be proportional to */
		for (size_t i = 0; i < dom->n_cells; i++)
			w[i].weight = p->nodes[i].dm.model == DEVMODEL_DIMM ? 1 : 0;
		*sum = p->dimm_nodes;
	}
	return 0;
}

/* One node's facts: its model (and device) under `choice`, its backing
 * (the device's own when virtio-mem), its step and what is plugged. */
static int plan_fill_node(const struct domain *dom, unsigned i, enum devmodel_choice choice,
                          struct plan_node *n, char **err)
{
	const struct domain_memdev *dev =
	        choice == DEVMODEL_FORCE_DIMM ? NULL : devmodel_vmem_device(dom, i, NULL);
	int rc = backing_infer(dom, i, dev, &n->backing, err);

	if (rc < 0)
		return rc;
	devmodel_node(dom, i, choice, &n->backing, &n->dm);
	n->id = dom->cells[i].id;
	n->cpus = dom->cells[i].cpus;
	n->boot_kib = dom->cells[i].memory_kib;
	n->plugged_kib = devmodel_cell_plugged_kib(dom, i);
	n->align_kib = devmodel_align_kib(&n->dm, &n->backing);
	return 0;
}

/* Fills the per-node facts of the plan from the domain and its backing. */
static int plan_fill_nodes(const struct domain *dom, enum devmodel_choice choice, struct plan *p,
                           char **err)
{
	p->nodes = calloc(dom->n_cells, sizeof(*p->nodes));
	if (p->nodes == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	p->n_nodes = dom->n_cells;
	for (size_t i = 0; i < dom->n_cells; i++) {
		struct plan_node *n = &p->nodes[i];
		int rc = plan_fill_node(dom, (unsigned)i, choice, n, err);

		if (rc < 0)
			return rc;
		if (n->dm.model == DEVMODEL_DIMM)
			p->dimm_nodes++;
		else
			p->vmem_room_kib += devmodel_vmem_room(&n->dm);
	}
	return 0;
}

/* Does a deserve the next thing more than b? Heavier first, then lower id. */
static bool heavier(const struct plan_work *w, size_t a, size_t b)
{
	return w[a].weight > w[b].weight || (w[a].weight == w[b].weight && a < b);
}

/* When there are fewer free slots than nodes with a share, the heaviest
 * nodes get one; the others' shares become unreachable. Returns the number
 * of nodes with a share. */
static size_t plan_pick_slotted(struct plan_work *w, size_t n, unsigned free_slots)
{
	size_t active = 0;

	for (size_t i = 0; i < n; i++) {
		size_t rank = 0;

		if (w[i].weight == 0)
			continue;
		active++;
		for (size_t j = 0; j < n; j++)
			if (j != i && w[j].weight > 0 && heavier(w, j, i))
				rank++;
		w[i].slotted = rank < free_slots;
	}
	return active;
}

/* Ideal shares and their aligned floor; returns the exact sum of the
 * slotted nodes' ideal shares (rounded down), the most they can take. */
static uint64_t plan_floor_shares(const struct plan *p, struct plan_work *w, uint64_t wsum)
{
	u128 slotted_weight = 0;

	for (size_t i = 0; i < p->n_nodes; i++) {
		u128 num = (u128)p->headroom_kib * w[i].weight;

		w[i].ideal_q = (uint64_t)(num / wsum);
		w[i].ideal_r = (uint64_t)(num % wsum);
		if (!w[i].slotted)
			continue;
		slotted_weight += w[i].weight;
		w[i].units = w[i].ideal_q / p->nodes[i].align_kib;
	}
	return (uint64_t)((u128)p->headroom_kib * slotted_weight / wsum);
}

/* How far node i is below its ideal share: compares (ideal - given). */
static bool further_below(const struct plan *p, const struct plan_work *w, size_t a, size_t b)
{
	__int128 da = (__int128)w[a].ideal_q - (__int128)(w[a].units * p->nodes[a].align_kib);
	__int128 db = (__int128)w[b].ideal_q - (__int128)(w[b].units * p->nodes[b].align_kib);

	if (da != db)
		return da > db;
	if (w[a].ideal_r != w[b].ideal_r)
		return w[a].ideal_r > w[b].ideal_r;
	return a < b;
}

/* Hands `left` KiB out one alignment unit at a time, each to the slotted
 * node furthest below its share whose unit still fits. Returns what is
 * left, less than any slotted node's alignment. */
static uint64_t plan_spread_remainder(const struct plan *p, struct plan_work *w, uint64_t left)
{
	for (;;) {
		size_t best = p->n_nodes;

		for (size_t i = 0; i < p->n_nodes; i++) {
			if (!w[i].slotted || p->nodes[i].align_kib > left)
				continue;
			if (best == p->n_nodes || further_below(p, w, i, best))
				best = i;
		}
		if (best == p->n_nodes)
			return left;
		w[best].units++;
		left -= p->nodes[best].align_kib;
	}
}

/* The largest DIMM node i would get with `k` slots. */
static uint64_t largest_dimm(const struct plan *p, const struct plan_work *w, size_t i, unsigned k)
{
	return (w[i].units + k - 1) / k * p->nodes[i].align_kib;
}

/* Should the next slot go to a rather than b? The node whose largest DIMM is
 * biggest, then the one with the larger average DIMM, then the lower id. */
static bool needs_slot_more(const struct plan *p, const struct plan_work *w, size_t a, size_t b)
{
	uint64_t la = largest_dimm(p, w, a, w[a].slots);
	uint64_t lb = largest_dimm(p, w, b, w[b].slots);
	u128 avg_a = (u128)w[a].units * p->nodes[a].align_kib * w[b].slots;
	u128 avg_b = (u128)w[b].units * p->nodes[b].align_kib * w[a].slots;

	if (la != lb)
		return la > lb;
	if (avg_a != avg_b)
		return avg_a > avg_b;
	return a < b;
}

/* One slot for each node with memory to place, then each further slot to
 * the node whose largest DIMM is biggest, until slots or units run out. */
static unsigned plan_spread_slots(const struct plan *p, struct plan_work *w)
{
	unsigned used = 0;

	for (size_t i = 0; i < p->n_nodes; i++) {
		w[i].slots = w[i].units > 0 ? 1 : 0;
		used += w[i].slots;
	}
	while (used < p->free_slots) {
		size_t best = p->n_nodes;

		for (size_t i = 0; i < p->n_nodes; i++) {
			if (w[i].slots == 0 || w[i].slots >= w[i].units)
				continue;
			if (best == p->n_nodes || needs_slot_more(p, w, i, best))
				best = i;
		}
		if (best == p->n_nodes)
			break;
		w[best].slots++;
		used++;
	}
	return used;
}

/* Splits a node's units into its slots as evenly as possible, largest
 * DIMMs first. */
static int plan_split(struct plan_node *n, const struct plan_work *w, char **err)
{
	uint64_t q, r;

	if (w->slots == 0)
		return 0;
	n->dimms_kib = calloc(w->slots, sizeof(*n->dimms_kib));
	if (n->dimms_kib == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	q = w->units / w->slots;
	r = w->units % w->slots;
	for (unsigned k = 0; k < w->slots; k++)
		n->dimms_kib[k] = (q + (k < r ? 1 : 0)) * n->align_kib;
	n->n_dimms = w->slots;
	n->planned_kib = w->units * n->align_kib;
	return 0;
}

static uint64_t min_slotted_align(const struct plan *p, const struct plan_work *w)
{
	uint64_t min = 0;

	for (size_t i = 0; i < p->n_nodes; i++)
		if (w[i].slotted && (min == 0 || p->nodes[i].align_kib < min))
			min = p->nodes[i].align_kib;
	return min;
}

/* Says why `unreachable` KiB are left: too few slots for the nodes with a
 * share (`by_slots`), and/or a remainder below the DIMM alignment. */
static int plan_explain(struct plan *p, const struct plan_work *w, size_t active, uint64_t by_slots,
                        char **err)
{
	char total[SIZE_FORMAT_MAX], part[SIZE_FORMAT_MAX], align[SIZE_FORMAT_MAX];
	g_autoptr(GString) why = g_string_new(NULL);
	uint64_t by_align = p->unreachable_kib - by_slots;

	if (p->unreachable_kib == 0)
		return 0;
	size_format(p->unreachable_kib, total, sizeof(total));
	g_string_append_printf(why, "%s unreachable: ", total);
	if (by_slots > 0 && p->free_slots == 0)
		g_string_append_printf(why, "no free slots (%u of %u used)", p->used_slots,
		                       p->slots);
	else if (by_slots > 0)
		g_string_append_printf(why, "%s for lack of slots (only %u free for %zu nodes)",
		                       size_format(by_slots, part, sizeof(part)), p->free_slots,
		                       active);
	if (by_align > 0)
		g_string_append_printf(why, "%s%s is less than the %s DIMM alignment",
		                       by_slots > 0 ? "; " : "",
		                       size_format(by_align, part, sizeof(part)),
		                       size_format(min_slotted_align(p, w), align, sizeof(align)));
	p->unreachable_reason = strdup(why->str);
	if (p->unreachable_reason == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	return 0;
}

/* No node grows by DIMMs (all through virtio-mem): the headroom below
 * <maxMemory> stays unreachable unless DIMMs are forced (--model dimm). */
static int plan_no_dimm_nodes(struct plan *p, char **err)
{
	char total[SIZE_FORMAT_MAX];

	p->unreachable_kib = p->headroom_kib;
	if (p->headroom_kib == 0)
		return 0;
	if (asprintf(&p->unreachable_reason,
	             "%s unreachable: every guest node grows through virtio-mem, none by DIMMs",
	             size_format(p->headroom_kib, total, sizeof(total))) < 0) {
		p->unreachable_reason = NULL;
		return err_ret(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* The four steps over prepared nodes; fills the totals of the plan. */
static int plan_distribute(struct plan *p, struct plan_work *w, uint64_t wsum, char **err)
{
	size_t active;
	uint64_t reach, given = 0;
	int rc;

	if (wsum == 0)
		return plan_no_dimm_nodes(p, err);
	active = plan_pick_slotted(w, p->n_nodes, p->free_slots);
	reach = plan_floor_shares(p, w, wsum);
	for (size_t i = 0; i < p->n_nodes; i++)
		given += w[i].units * p->nodes[i].align_kib;
	plan_spread_remainder(p, w, reach - given);
	p->planned_slots = plan_spread_slots(p, w);
	for (size_t i = 0; i < p->n_nodes; i++) {
		rc = plan_split(&p->nodes[i], &w[i], err);
		if (rc < 0)
			return rc;
		p->reachable_kib += p->nodes[i].planned_kib;
	}
	p->unreachable_kib = p->headroom_kib - p->reachable_kib;
	return plan_explain(p, w, active, p->headroom_kib - reach, err);
}

static int plan_totals(const struct domain *dom, struct plan *p, char **err)
{
	p->max_memory_kib = dom->max_memory_kib;
	p->memory_kib = dom->memory_kib;
	if (dom->memory_kib > dom->max_memory_kib)
		return err_ret(err, -EINVAL,
		               "<memory> (%" PRIu64 " KiB) exceeds <maxMemory> (%" PRIu64 " KiB)",
		               dom->memory_kib, dom->max_memory_kib);
	p->headroom_kib = dom->max_memory_kib - dom->memory_kib;
	p->slots = dom->slots;
	p->used_slots = domain_used_slots(dom);
	p->free_slots = p->used_slots < p->slots ? p->slots - p->used_slots : 0;
	return 0;
}

/*
 * The host snapshot is deliberately unused: the layout is a property of the
 * domain's definition, while free host memory changes by the minute. Host
 * fit is checked when memory is actually plugged (docs/planner.md).
 */
int plan_layout(const struct domain *dom, const struct host *host, const struct plan_options *opts,
                struct plan **out, char **err)
{
	static const struct plan_options defaults = {.strategy = PLAN_PROPORTIONAL};
	struct plan_work *w = NULL;
	struct plan *p = NULL;
	uint64_t wsum = 0;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	rc = domain_check_hotplug(dom, err);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	w = calloc(dom->n_cells, sizeof(*w));
	if (p == NULL || w == NULL) {
		rc = err_ret(err, -ENOMEM, "out of memory");
		goto out;
	}
	p->strategy = opts->strategy;
	p->model = opts->model;
	if ((rc = plan_totals(dom, p, err)) < 0 ||
	    (rc = plan_fill_nodes(dom, opts->model, p, err)) < 0 ||
	    (rc = plan_weights(dom, p, opts, w, &wsum, err)) < 0 ||
	    (rc = plan_distribute(p, w, wsum, err)) < 0)
		goto out;
	*out = p;
	p = NULL;
out:
	free(w);
	plan_free(p);
	return rc;
}
