/*
 * DIMM selection for grow and shrink (see select.h and docs/select.md).
 * Grow: pre-flight checks in a fixed order, then the spread of the request
 * over guest nodes (a unit-by-unit apportionment against the layout's
 * per-node shares, bounded by what each node's host nodes can supply and by
 * the slots to keep), one DIMM per node touched, and a host check of the
 * total demand per host-node group. Shrink: an exact subset sum over the
 * hot-plugged DIMMs, most recent first, by a bounded dynamic programme.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-c/json.h>

#include "err.h"
#include "nodeset.h"
#include "select.h"
#include "size.h"

/* Cap on the subset-sum table, in bits (16 MiB of memory). */
#define SELECT_DP_MAX_BITS (UINT64_C(1) << 27)

static const char *const code_names[] = {
        [SELECT_OK] = "ok",
        [SELECT_BAD_SIZE] = "bad_size",
        [SELECT_NOT_ALIGNED] = "not_aligned",
        [SELECT_NO_SLOTS] = "no_slots",
        [SELECT_NO_HEADROOM] = "no_headroom",
        [SELECT_NO_NODE] = "no_node",
        [SELECT_HOST_MEMORY] = "host_memory",
        [SELECT_HUGEPAGES] = "hugepages",
        [SELECT_CANNOT_HOTPLUG] = "cannot_hotplug",
        [SELECT_NO_EXACT_SET] = "no_exact_set",
        [SELECT_NO_DIMMS] = "no_dimms",
};

const char *select_code_name(enum select_code code)
{
	if ((size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "unknown";
	return code_names[code];
}

/* ---- results ---- */

static struct select_result *result_new(enum select_op op, uint64_t request_kib)
{
	struct select_result *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->op = op;
	r->code = SELECT_OK;
	r->request_kib = request_kib;
	return r;
}

void select_result_free(struct select_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_dimms; i++) {
		free(r->dimms[i].reason);
		free(r->dimms[i].alias);
	}
	free(r->dimms);
	free(r->suggest_kib);
	free(r->message);
	free(r->warning);
	free(r);
}

/* Records a refusal; returns 0, or -ENOMEM when the message cannot be made. */
__attribute__((format(printf, 3, 4))) static int refuse(struct select_result *r,
                                                        enum select_code code, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->code = code;
	va_start(ap, fmt);
	n = vasprintf(&r->message, fmt, ap);
	va_end(ap);
	if (n < 0) {
		r->message = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int suggest_add(struct select_result *r, uint64_t kib)
{
	uint64_t *s = realloc(r->suggest_kib, (r->n_suggest + 1) * sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s[r->n_suggest++] = kib;
	r->suggest_kib = s;
	return 0;
}

static struct select_dimm *dimm_add(struct select_result *r)
{
	struct select_dimm *d = realloc(r->dimms, (r->n_dimms + 1) * sizeof(*d));

	if (d == NULL)
		return NULL;
	r->dimms = d;
	d = &d[r->n_dimms++];
	memset(d, 0, sizeof(*d));
	return d;
}

/* ---- small helpers ---- */

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Exact sizes (what the user typed, alignments) go through size_format();
 * free host memory is a measurement, so one decimal is enough. */
static char *fmt_approx(uint64_t kib, char *buf, size_t len)
{
	if (kib >= SIZE_KIB_PER_GIB && kib % SIZE_KIB_PER_GIB != 0)
		snprintf(buf, len, "%.1f GiB", (double)kib / SIZE_KIB_PER_GIB);
	else if (kib >= SIZE_KIB_PER_MIB && kib % SIZE_KIB_PER_MIB != 0)
		snprintf(buf, len, "%" PRIu64 " MiB", kib / SIZE_KIB_PER_MIB);
	else
		size_format(kib, buf, len);
	return buf;
}

/* "host node 0 has" / "host nodes 0-1 have" / "the host has" */
static char *fmt_host_nodes(const struct nodeset *ns, bool bound, char *buf, size_t len)
{
	char set[NODESET_FORMAT_MAX];

	if (!bound)
		snprintf(buf, len, "the host has");
	else if (nodeset_count(ns) == 1)
		snprintf(buf, len, "host node %s has", nodeset_format(ns, set, sizeof(set)));
	else
		snprintf(buf, len, "host nodes %s have", nodeset_format(ns, set, sizeof(set)));
	return buf;
}

/* ---- host supply ---- */

/*
 * Where a backing's memory can come from, as far as a check can tell:
 * strict and interleave bind to their nodes; preferred falls back to any
 * node; auto placement and restrictive mode name no nodes in advance.
 */
static void supply_nodes(const struct host *h, const struct backing *b, struct nodeset *out,
                         bool *bound)
{
	*bound = b->bound && !b->auto_placement && b->mode != NUMA_MODE_PREFERRED;
	if (*bound)
		*out = b->host_nodes;
	else
		host_nodeset(h, out);
}

void select_supply(const struct host *h, const struct backing *b, uint64_t reserve_kib,
                   struct select_supply *s)
{
	memset(s, 0, sizeof(*s));
	supply_nodes(h, b, &s->nodes, &s->bound);
	for (int id = nodeset_next(&s->nodes, 0); id >= 0; id = nodeset_next(&s->nodes, id + 1)) {
		const struct host_node *n = host_node_find(h, (unsigned)id);
		const struct host_pool *p;

		if (n == NULL)
			continue;
		if (b->hugepages) {
			p = host_node_pool(n, b->page_size_kib);
			s->free_pages += p != NULL ? p->free : 0;
			continue;
		}
		s->free_kib += n->free_kib;
		s->usable_kib += n->free_kib > reserve_kib ? n->free_kib - reserve_kib : 0;
	}
	if (b->hugepages) {
		s->free_kib = s->free_pages * b->page_size_kib;
		s->usable_kib = s->free_kib;
	}
}

/* "host node 0 has 3.1 GiB free" / "... 512 free 2 MiB hugepages" */
static char *supply_describe(const struct select_supply *s, const struct backing *b, char *buf,
                             size_t len)
{
	char who[NODESET_FORMAT_MAX + 32], amount[SIZE_FORMAT_MAX], page[SIZE_FORMAT_MAX];

	fmt_host_nodes(&s->nodes, s->bound, who, sizeof(who));
	if (b->hugepages)
		snprintf(buf, len, "%s %" PRIu64 " free %s hugepages", who, s->free_pages,
		         size_format(b->page_size_kib, page, sizeof(page)));
	else
		snprintf(buf, len, "%s %s free", who,
		         fmt_approx(s->free_kib, amount, sizeof(amount)));
	return buf;
}

/* ---- grow ---- */

struct grow_node {
	struct backing backing;
	uint64_t align_kib;
	uint64_t planned_kib; /* the layout's share still to come */
	uint64_t avail_kib;   /* what the host can still supply; UINT64_MAX unknown */
	uint64_t given_kib;
	bool candidate;
};

struct grow_ctx {
	const struct domain *dom;
	const struct host *host;
	const struct select_grow_req *req;
	size_t n;
	struct grow_node *nodes;
	unsigned free_slots;
	uint64_t headroom_kib;
};

/* Two guest nodes draw from the same pool when their backings resolve to
 * the same host nodes and page size. */
static bool same_pool(const struct grow_ctx *c, size_t i, size_t j)
{
	const struct backing *a = &c->nodes[i].backing, *b = &c->nodes[j].backing;
	struct nodeset na, nb;
	bool ba, bb;

	if (c->host == NULL || a->page_size_kib != b->page_size_kib || a->hugepages != b->hugepages)
		return false;
	supply_nodes(c->host, a, &na, &ba);
	supply_nodes(c->host, b, &nb, &bb);
	return nodeset_equal(&na, &nb);
}

static int grow_setup(struct grow_ctx *c, char **err)
{
	struct select_supply s;

	c->n = c->dom->n_cells;
	c->nodes = calloc(c->n, sizeof(*c->nodes));
	if (c->nodes == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++) {
		struct grow_node *g = &c->nodes[i];
		int rc = backing_infer(c->dom, (unsigned)i, NULL, &g->backing, err);

		if (rc < 0)
			return rc;
		g->align_kib = backing_align_kib(&g->backing);
		g->avail_kib = UINT64_MAX;
		if (c->host != NULL) {
			select_supply(c->host, &g->backing, c->req->host_reserve_kib, &s);
			g->avail_kib = s.usable_kib;
		}
	}
	return 0;
}

/* Takes the per-node shares from the layout; nodes with no share are
 * candidates of last resort. */
static int grow_shares(struct grow_ctx *c, char **err)
{
	struct plan *own = NULL;
	const struct plan *p = c->req->plan;
	int rc = 0;

	if (p == NULL) {
		rc = plan_layout(c->dom, c->host, NULL, &own, err); /* proportional */
		if (rc < 0)
			return rc;
		p = own;
	}
	if (p->n_nodes != c->n) {
		rc = err_ret(err, -EINVAL, "plan has %zu nodes, the domain %zu cells", p->n_nodes,
		             c->n);
		goto out;
	}
	for (size_t i = 0; i < c->n; i++) {
		c->nodes[i].planned_kib = p->nodes[i].planned_kib;
		c->nodes[i].candidate = true;
	}
out:
	plan_free(own);
	return rc;
}

/* Is node a a better home for its next unit than node b? The one least
 * filled relative to its share after taking the unit wins, then the one
 * whose host nodes can supply more, then the lower id (loop order). */
static bool spread_better(const struct grow_node *a, const struct grow_node *b)
{
	unsigned __int128 fa, fb;

	if ((a->planned_kib == 0) != (b->planned_kib == 0))
		return a->planned_kib != 0;
	if (a->planned_kib == 0) {
		if (a->given_kib != b->given_kib)
			return a->given_kib < b->given_kib;
		return a->avail_kib > b->avail_kib;
	}
	fa = (unsigned __int128)(a->given_kib + a->align_kib) * b->planned_kib;
	fb = (unsigned __int128)(b->given_kib + b->align_kib) * a->planned_kib;
	if (fa != fb)
		return fa < fb;
	return a->avail_kib > b->avail_kib;
}

static void spread_give(struct grow_ctx *c, size_t i, bool use_host)
{
	uint64_t unit = c->nodes[i].align_kib;

	c->nodes[i].given_kib += unit;
	if (!use_host || c->host == NULL)
		return;
	for (size_t j = 0; j < c->n; j++)
		if (j == i || same_pool(c, i, j))
			c->nodes[j].avail_kib -=
			        c->nodes[j].avail_kib >= unit ? unit : c->nodes[j].avail_kib;
}

/* Apportions the request unit by unit; false when it cannot all be placed. */
static bool spread_run(struct grow_ctx *c, bool use_host, const uint64_t *avail0)
{
	uint64_t remaining = c->req->size_kib;

	for (size_t i = 0; i < c->n; i++) {
		c->nodes[i].given_kib = 0;
		c->nodes[i].avail_kib = avail0[i];
	}
	while (remaining > 0) {
		size_t best = c->n;

		for (size_t i = 0; i < c->n; i++) {
			const struct grow_node *g = &c->nodes[i];

			if (!g->candidate || g->align_kib > remaining ||
			    (use_host && g->avail_kib < g->align_kib))
				continue;
			if (best == c->n || spread_better(g, &c->nodes[best]))
				best = i;
		}
		if (best == c->n)
			return false;
		spread_give(c, best, use_host);
		remaining -= c->nodes[best].align_kib;
	}
	return true;
}

static size_t grow_touched(const struct grow_ctx *c)
{
	size_t k = 0;

	for (size_t i = 0; i < c->n; i++)
		k += c->nodes[i].given_kib > 0;
	return k;
}

static uint64_t grow_min_align(const struct grow_ctx *c)
{
	uint64_t a = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->nodes[i].candidate && (a == 0 || c->nodes[i].align_kib < a))
			a = c->nodes[i].align_kib;
	return a;
}

/* How many nodes one grow may touch: one slot is kept back while memory
 * would remain below maxMemory, so the rest stays reachable. */
static size_t grow_slot_limit(const struct grow_ctx *c)
{
	uint64_t left = c->headroom_kib - c->req->size_kib;

	if (c->free_slots > 1 && left >= grow_min_align(c) && left > 0)
		return c->free_slots - 1;
	return c->free_slots;
}

/* Spreads the request; drops the least-served node while too many nodes
 * would be touched. Returns false when the host cannot supply it. */
static bool grow_spread(struct grow_ctx *c, bool use_host, const uint64_t *avail0)
{
	size_t limit = grow_slot_limit(c);

	for (;;) {
		size_t drop = c->n;

		if (!spread_run(c, use_host, avail0))
			return false;
		if (grow_touched(c) <= limit)
			return true;
		for (size_t i = 0; i < c->n; i++)
			if (c->nodes[i].given_kib > 0 &&
			    (drop == c->n || c->nodes[i].given_kib <= c->nodes[drop].given_kib))
				drop = i;
		c->nodes[drop].candidate = false;
	}
}

/* ---- grow: refusals ---- */

static int refuse_not_aligned(struct select_result *r, const struct grow_ctx *c, uint64_t align,
                              int node)
{
	char want[SIZE_FORMAT_MAX], al[SIZE_FORMAT_MAX], lo[SIZE_FORMAT_MAX], hi[SIZE_FORMAT_MAX];
	char who[64], near[3 * SIZE_FORMAT_MAX];
	uint64_t lower = c->req->size_kib / align * align, upper = lower + align;
	int rc = 0;

	if (lower > 0)
		rc = suggest_add(r, lower);
	if (rc == 0 && upper <= c->headroom_kib)
		rc = suggest_add(r, upper);
	if (rc < 0)
		return rc;
	if (node >= 0)
		snprintf(who, sizeof(who), "guest node %d's alignment", node);
	else
		snprintf(who, sizeof(who), "the guest nodes' alignment");
	size_format(lower, lo, sizeof(lo));
	size_format(upper, hi, sizeof(hi));
	if (r->n_suggest == 2)
		snprintf(near, sizeof(near), "nearest valid sizes: %s and %s", lo, hi);
	else if (r->n_suggest == 1)
		snprintf(near, sizeof(near), "nearest valid size: %s",
		         size_format(r->suggest_kib[0], lo, sizeof(lo)));
	else
		snprintf(near, sizeof(near), "no valid size fits below maxMemory");
	return refuse(r, SELECT_NOT_ALIGNED, "%s is not a multiple of %s, %s (%s); %s",
	              size_format(c->req->size_kib, want, sizeof(want)), who,
	              size_format(align, al, sizeof(al)),
	              align > BACKING_BLOCK_KIB ? "the backing page size"
	                                        : "the guest's 128 MiB memory block",
	              near);
}

/* The sizes, slots and node checks that need no layout; true when refused. */
static int grow_preflight(struct select_result *r, struct grow_ctx *c, bool *refused)
{
	const struct domain *d = c->dom;
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], m[SIZE_FORMAT_MAX], h[SIZE_FORMAT_MAX];
	uint64_t size = c->req->size_kib;
	unsigned used = domain_used_slots(d);
	char *why = NULL;
	int rc;

	*refused = true;
	if (size == 0)
		return refuse(r, SELECT_BAD_SIZE, "the size must be more than 0");
	if (domain_check_hotplug(d, &why) < 0) {
		rc = refuse(r, SELECT_CANNOT_HOTPLUG, "%s cannot hot-plug memory: %s", d->name,
		            why != NULL ? why : "unknown reason");
		free(why);
		return rc;
	}
	if (size > d->max_memory_kib || d->memory_kib > UINT64_MAX - size)
		return refuse(r, SELECT_BAD_SIZE, "%s is larger than maxMemory (%s)",
		              size_format(size, a, sizeof(a)),
		              size_format(d->max_memory_kib, b, sizeof(b)));
	if (c->req->node < -1 || (c->req->node >= 0 && (size_t)c->req->node >= d->n_cells))
		return refuse(r, SELECT_NO_NODE, "guest node %d does not exist; %s has nodes 0-%zu",
		              c->req->node, d->name, d->n_cells - 1);
	c->free_slots = used < d->slots ? d->slots - used : 0;
	if (c->free_slots == 0)
		return refuse(r, SELECT_NO_SLOTS,
		              "all %u memory slots are in use; shrink first or raise <maxMemory "
		              "slots> (needs a restart)",
		              d->slots);
	c->headroom_kib = d->max_memory_kib > d->memory_kib ? d->max_memory_kib - d->memory_kib : 0;
	if (size > c->headroom_kib)
		return refuse(r, SELECT_NO_HEADROOM,
		              "%s does not fit: memory is %s of maxMemory %s, %s left",
		              size_format(size, a, sizeof(a)),
		              size_format(d->memory_kib, b, sizeof(b)),
		              size_format(d->max_memory_kib, m, sizeof(m)),
		              size_format(c->headroom_kib, h, sizeof(h)));
	*refused = false;
	return 0;
}

static const char *reserve_text(uint64_t kib, char *buf, size_t len)
{
	char size[SIZE_FORMAT_MAX];

	if (kib == 0)
		return "";
	snprintf(buf, len, " and keeps %s per node in reserve",
	         size_format(kib, size, sizeof(size)));
	return buf;
}

/* Checks the demand of each host-node pool; refuses on the first short one. */
static int grow_check_host(struct select_result *r, const struct grow_ctx *c, bool *refused)
{
	char need[SIZE_FORMAT_MAX], page[SIZE_FORMAT_MAX], have[SIZE_FORMAT_MAX];
	char res[SIZE_FORMAT_MAX + 40], who[NODESET_FORMAT_MAX + 32], guests[NODESET_FORMAT_MAX];
	char *used = calloc(c->n ? c->n : 1, 1);
	int rc = 0;

	*refused = false;
	if (used == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->n && c->host != NULL && !*refused; i++) {
		const struct backing *b = &c->nodes[i].backing;
		struct nodeset gset;
		uint64_t demand = 0;
		struct select_supply s;

		if (c->nodes[i].given_kib == 0 || used[i])
			continue;
		nodeset_clear_all(&gset);
		for (size_t j = i; j < c->n; j++) {
			if (c->nodes[j].given_kib == 0 || (j != i && !same_pool(c, i, j)))
				continue;
			used[j] = 1;
			demand += c->nodes[j].given_kib;
			nodeset_set(&gset, (unsigned)j);
		}
		select_supply(c->host, b, c->req->host_reserve_kib, &s);
		if (s.usable_kib >= demand)
			continue;
		*refused = true;
		fmt_host_nodes(&s.nodes, s.bound, who, sizeof(who));
		nodeset_format(&gset, guests, sizeof(guests));
		size_format(demand, need, sizeof(need));
		if (b->hugepages)
			rc = refuse(r, SELECT_HUGEPAGES,
			            "%s %" PRIu64 " free %s hugepages, %" PRIu64
			            " needed for %s on guest node%s %s; add hugepages there or "
			            "grow less",
			            who, s.free_pages,
			            size_format(b->page_size_kib, page, sizeof(page)),
			            demand / b->page_size_kib, need,
			            nodeset_count(&gset) > 1 ? "s" : "", guests);
		else
			rc = refuse(r, SELECT_HOST_MEMORY,
			            "%s %s free%s, %s needed for guest node%s %s; free memory "
			            "there%s or grow less",
			            who, fmt_approx(s.free_kib, have, sizeof(have)),
			            reserve_text(c->req->host_reserve_kib, res, sizeof(res)), need,
			            nodeset_count(&gset) > 1 ? "s" : "", guests,
			            c->req->host_reserve_kib ? ", lower the reserve" : "");
	}
	free(used);
	return rc;
}

/* ---- grow: the result ---- */

static int grow_emit(struct select_result *r, const struct grow_ctx *c)
{
	char got[SIZE_FORMAT_MAX], plan[SIZE_FORMAT_MAX], host[NODESET_FORMAT_MAX + 96];
	struct select_supply s;

	for (size_t i = 0; i < c->n; i++) {
		const struct grow_node *g = &c->nodes[i];
		struct select_dimm *d;
		int n;

		if (g->given_kib == 0)
			continue;
		d = dimm_add(r);
		if (d == NULL)
			return -ENOMEM;
		d->node = (unsigned)i;
		d->size_kib = g->given_kib;
		d->backing = g->backing;
		r->total_kib += g->given_kib;
		snprintf(host, sizeof(host), "host not checked");
		if (c->host != NULL) {
			select_supply(c->host, &g->backing, c->req->host_reserve_kib, &s);
			supply_describe(&s, &g->backing, host, sizeof(host));
		}
		size_format(g->given_kib, got, sizeof(got));
		if (c->req->node >= 0)
			n = asprintf(&d->reason, "node %zu: chosen with --node; %s", i, host);
		else if (g->planned_kib > 0)
			n = asprintf(&d->reason, "node %zu: %s of the %s still planned for it; %s",
			             i, got, size_format(g->planned_kib, plan, sizeof(plan)), host);
		else
			n = asprintf(&d->reason,
			             "node %zu: no share left in the layout, but the "
			             "planned nodes could not take it; %s",
			             i, host);
		if (n < 0) {
			d->reason = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

static int grow_warn(struct select_result *r, const struct grow_ctx *c)
{
	char left[SIZE_FORMAT_MAX];
	uint64_t rest = c->headroom_kib - c->req->size_kib;

	if (r->n_dimms < c->free_slots || rest == 0)
		return 0;
	if (asprintf(&r->warning,
	             "this takes the last free slot: the other %s below maxMemory can be "
	             "reached only after a shrink",
	             size_format(rest, left, sizeof(left))) < 0) {
		r->warning = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* When the host-aware spread fails, spread without the host and let the
 * host check name the pool that is short. */
static int grow_refuse_host(struct select_result *r, struct grow_ctx *c, const uint64_t *avail0)
{
	char need[SIZE_FORMAT_MAX];
	bool refused = false;
	int rc;

	if (grow_spread(c, false, avail0)) {
		rc = grow_check_host(r, c, &refused);
		if (rc < 0 || refused)
			return rc;
	}
	return refuse(r, SELECT_HOST_MEMORY,
	              "the host nodes behind the guest nodes cannot supply %s together above "
	              "the reserve; choose a node with --node or grow less",
	              size_format(c->req->size_kib, need, sizeof(need)));
}

static int grow_place(struct select_result *r, struct grow_ctx *c, char **err)
{
	uint64_t *avail0 = NULL;
	uint64_t align;
	bool refused = false;
	int rc = 0;

	if (c->req->node >= 0) {
		for (size_t i = 0; i < c->n; i++)
			c->nodes[i].candidate = (int)i == c->req->node;
		align = c->nodes[c->req->node].align_kib;
		if (c->req->size_kib % align != 0)
			return refuse_not_aligned(r, c, align, c->req->node);
		c->nodes[c->req->node].given_kib = c->req->size_kib;
	} else {
		rc = grow_shares(c, err);
		if (rc < 0)
			return rc;
		align = 0;
		for (size_t i = 0; i < c->n; i++)
			align = gcd64(align, c->nodes[i].align_kib);
		if (c->req->size_kib % align != 0)
			return refuse_not_aligned(r, c, align, -1);
		avail0 = calloc(c->n, sizeof(*avail0));
		if (avail0 == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < c->n; i++)
			avail0[i] = c->nodes[i].avail_kib;
		if (!grow_spread(c, true, avail0)) {
			rc = grow_refuse_host(r, c, avail0);
			free(avail0);
			return rc;
		}
		free(avail0);
	}
	rc = grow_check_host(r, c, &refused);
	if (rc < 0 || refused)
		return rc;
	rc = grow_emit(r, c);
	return rc < 0 ? rc : grow_warn(r, c);
}

int select_grow(const struct domain *dom, const struct host *host,
                const struct select_grow_req *req, struct select_result **out, char **err)
{
	struct grow_ctx c = {.dom = dom, .host = host, .req = req};
	struct select_result *r;
	bool refused;
	int rc;

	if (dom == NULL || req == NULL || out == NULL)
		return err_ret(err, -EINVAL, "select_grow: missing argument");
	r = result_new(SELECT_GROW, req->size_kib);
	if (r == NULL)
		return -ENOMEM;
	rc = grow_preflight(r, &c, &refused);
	if (rc == 0 && !refused)
		rc = grow_setup(&c, err);
	if (rc == 0 && !refused)
		rc = grow_place(r, &c, err);
	free(c.nodes);
	if (rc < 0) {
		select_result_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* ---- shrink ---- */

struct cand {
	size_t memdev;
	uint64_t kib;
};

/* Collects the removable DIMMs, most recent first: later in the document.
 * libvirt appends a hot-plugged device to <devices>, while slot numbers are
 * reused after an unplug, so only the document order tells age. *unnamed
 * counts the DIMMs without an alias. */
static int shrink_collect(const struct domain *d, int node, struct cand **out, size_t *n,
                          size_t *unnamed)
{
	struct cand *c = calloc(d->n_memdevs ? d->n_memdevs : 1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	*n = 0;
	*unnamed = 0;
	for (size_t i = d->n_memdevs; i-- > 0;) {
		const struct domain_memdev *m = &d->memdevs[i];

		if (m->model != MEMDEV_DIMM || (node >= 0 && m->target_node != node) ||
		    m->size_kib == 0)
			continue;
		if (m->alias == NULL) {
			(*unnamed)++;
			continue;
		}
		c[(*n)++] = (struct cand){i, m->size_kib};
	}
	*out = c;
	return 0;
}

#define BIT_GET(t, i) (((t)[(i) / 8] >> ((i) % 8)) & 1)
#define BIT_SET(t, i) ((t)[(i) / 8] |= (uint8_t)(1u << ((i) % 8)))

/*
 * Exact subset sum in units: row i of the table says which sums the
 * candidates i..n-1 can make. Walking from row 0, a candidate is taken
 * whenever the rest can still complete the sum, so the chosen set is the
 * first in most-recent-first order. O(n * target) time and bits.
 */
static int exact_dp(const uint64_t *u, size_t n, uint64_t target, bool *take, bool *found)
{
	uint64_t cols = target + 1;
	uint8_t *t = calloc((size_t)(((n + 1) * cols + 7) / 8), 1);
	uint64_t s = target;

	if (t == NULL)
		return -ENOMEM;
	BIT_SET(t, n * cols);
	for (size_t i = n; i-- > 0;)
		for (uint64_t v = 0; v <= target; v++)
			if (BIT_GET(t, (i + 1) * cols + v) ||
			    (v >= u[i] && BIT_GET(t, (i + 1) * cols + v - u[i])))
				BIT_SET(t, i * cols + v);
	*found = BIT_GET(t, target);
	for (size_t i = 0; i < n && *found; i++) {
		take[i] = s >= u[i] && BIT_GET(t, (i + 1) * cols + s - u[i]);
		s -= take[i] ? u[i] : 0;
	}
	free(t);
	return 0;
}

/* Beyond the table cap: take most recent first whatever still fits. */
static void exact_greedy(const uint64_t *u, size_t n, uint64_t target, bool *take, bool *found)
{
	for (size_t i = 0; i < n; i++) {
		take[i] = u[i] <= target;
		target -= take[i] ? u[i] : 0;
	}
	*found = target == 0;
}

static int exact_pick(const struct cand *c, size_t n, uint64_t want, uint64_t unit, bool *take,
                      bool *found)
{
	uint64_t *u = calloc(n, sizeof(*u));
	uint64_t target = want / unit;
	int rc = 0;

	if (u == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		u[i] = c[i].kib / unit;
	if ((n + 1) * (target + 1) <= SELECT_DP_MAX_BITS)
		rc = exact_dp(u, n, target, take, found);
	else
		exact_greedy(u, n, target, take, found);
	free(u);
	return rc;
}

static int u64_cmp(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return (a > b) - (a < b);
}

/* Suggests the achievable sums nearest to the request, ascending. */
static int shrink_suggest(struct select_result *r, const struct cand *c, size_t n, uint64_t unit,
                          uint64_t total)
{
	uint64_t cols = total / unit + 1, want = r->request_kib / unit, lo, hi;
	uint64_t picked[SELECT_SUGGEST_MAX];
	size_t k = 0;
	uint8_t *t;
	int rc = 0;

	if (cols > SELECT_DP_MAX_BITS)
		return 0;
	t = calloc((size_t)((cols + 7) / 8), 1);
	if (t == NULL)
		return -ENOMEM;
	BIT_SET(t, 0);
	for (size_t i = 0; i < n; i++)
		for (uint64_t v = cols; v-- > c[i].kib / unit;)
			if (BIT_GET(t, v - c[i].kib / unit))
				BIT_SET(t, v);
	lo = want < cols ? want : cols - 1;
	hi = lo + 1;
	if (lo * unit == r->request_kib)
		lo--; /* the request itself is not achievable */
	while (k < SELECT_SUGGEST_MAX && (lo > 0 || hi < cols)) {
		bool low = lo > 0 &&
		           (hi >= cols || r->request_kib - lo * unit <= hi * unit - r->request_kib);
		uint64_t v = low ? lo-- : hi++;

		if (BIT_GET(t, v))
			picked[k++] = v * unit;
	}
	free(t);
	qsort(picked, k, sizeof(picked[0]), u64_cmp);
	for (size_t i = 0; i < k && rc == 0; i++)
		rc = suggest_add(r, picked[i]);
	return rc;
}

static void where_text(const struct domain *d, int node, char *buf, size_t len)
{
	if (node >= 0)
		snprintf(buf, len, "guest node %d", node);
	else
		snprintf(buf, len, "%s", d->name != NULL ? d->name : "the domain");
}

static int shrink_refuse_empty(struct select_result *r, const struct domain *d, int node,
                               size_t unnamed)
{
	char where[64], boot[SIZE_FORMAT_MAX], note[96] = "";
	uint64_t boot_kib = node >= 0 ? d->cells[node].memory_kib : domain_boot_kib(d);

	where_text(d, node, where, sizeof(where));
	if (unnamed > 0)
		snprintf(note, sizeof(note), " (%zu DIMM%s without an alias cannot be detached)",
		         unnamed, unnamed > 1 ? "s" : "");
	return refuse(r, SELECT_NO_DIMMS,
	              "%s has no hot-plugged DIMMs to remove%s; its %s of boot memory stays", where,
	              note, size_format(boot_kib, boot, sizeof(boot)));
}

static int shrink_refuse_inexact(struct select_result *r, const struct domain *d, int node,
                                 const struct cand *c, size_t n, uint64_t unit, uint64_t total)
{
	GString *list;
	char where[64], want[SIZE_FORMAT_MAX], one[SIZE_FORMAT_MAX];
	int rc = shrink_suggest(r, c, n, unit, total);

	if (rc < 0)
		return rc;
	where_text(d, node, where, sizeof(where));
	list = g_string_new(NULL);
	for (size_t i = 0; i < r->n_suggest; i++)
		g_string_append_printf(list, "%s%s", i ? ", " : "",
		                       size_format(r->suggest_kib[i], one, sizeof(one)));
	rc = refuse(r, SELECT_NO_EXACT_SET,
	            "no set of DIMMs on %s sums to exactly %s; possible: %s", where,
	            size_format(r->request_kib, want, sizeof(want)),
	            list->len ? list->str : "(too many DIMMs to list)");
	g_string_free(list, TRUE);
	return rc;
}

static int shrink_emit(struct select_result *r, const struct domain *d, const struct cand *c,
                       size_t n, const bool *take, char **err)
{
	for (size_t i = 0; i < n; i++) {
		const struct domain_memdev *m = &d->memdevs[c[i].memdev];
		struct select_dimm *x;
		int rc;

		if (!take[i])
			continue;
		x = dimm_add(r);
		if (x == NULL)
			return -ENOMEM;
		x->node = (unsigned)m->target_node;
		x->size_kib = m->size_kib;
		x->memdev = c[i].memdev;
		x->has_slot = m->has_slot;
		x->slot = m->slot;
		r->total_kib += m->size_kib;
		x->alias = strdup(m->alias);
		if (x->alias == NULL)
			return -ENOMEM;
		rc = asprintf(&x->reason, "most recently added first");
		if (rc < 0) {
			x->reason = NULL;
			return -ENOMEM;
		}
		rc = backing_infer(d, x->node, m, &x->backing, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int shrink_decide(struct select_result *r, const struct domain *d, int node,
                         const struct cand *c, size_t n, char **err)
{
	uint64_t unit = 0, total = 0, want = r->request_kib;
	bool found = false;
	bool *take;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		unit = gcd64(unit, c[i].kib);
		total += c[i].kib;
	}
	take = calloc(n, sizeof(*take));
	if (take == NULL)
		return -ENOMEM;
	if (want % unit == 0 && want <= total)
		rc = exact_pick(c, n, want, unit, take, &found);
	if (rc == 0 && found)
		rc = shrink_emit(r, d, c, n, take, err);
	else if (rc == 0)
		rc = shrink_refuse_inexact(r, d, node, c, n, unit, total);
	free(take);
	return rc;
}

int select_shrink(const struct domain *dom, const struct select_shrink_req *req,
                  struct select_result **out, char **err)
{
	struct select_result *r;
	struct cand *c = NULL;
	size_t n = 0, unnamed = 0;
	int rc = 0;

	if (dom == NULL || req == NULL || out == NULL)
		return err_ret(err, -EINVAL, "select_shrink: missing argument");
	r = result_new(SELECT_SHRINK, req->size_kib);
	if (r == NULL)
		return -ENOMEM;
	if (req->size_kib == 0)
		rc = refuse(r, SELECT_BAD_SIZE, "the size must be more than 0");
	else if (req->node < -1 || (req->node >= 0 && (size_t)req->node >= dom->n_cells))
		rc = refuse(r, SELECT_NO_NODE, "guest node %d does not exist; %s has %zu node%s",
		            req->node, dom->name, dom->n_cells, dom->n_cells == 1 ? "" : "s");
	else if ((rc = shrink_collect(dom, req->node, &c, &n, &unnamed)) == 0)
		rc = n == 0 ? shrink_refuse_empty(r, dom, req->node, unnamed)
		            : shrink_decide(r, dom, req->node, c, n, err);
	free(c);
	if (rc < 0) {
		select_result_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* ---- descriptions ---- */

static void format_dimm(GString *s, const struct select_result *r, const struct select_dimm *d)
{
	char size[SIZE_FORMAT_MAX], page[SIZE_FORMAT_MAX], nodes[NODESET_FORMAT_MAX];
	const struct backing *b = &d->backing;

	g_string_append_printf(s, "  %s %s on guest node %u", r->op == SELECT_GROW ? "+" : "-",
	                       size_format(d->size_kib, size, sizeof(size)), d->node);
	if (d->alias != NULL)
		g_string_append_printf(s, " (%s)", d->alias);
	g_string_append_printf(s, ": %s pages, ",
	                       size_format(b->page_size_kib, page, sizeof(page)));
	if (b->auto_placement)
		g_string_append(s, "host nodes chosen by numad");
	else if (b->bound)
		g_string_append_printf(s, "host nodes %s (%s)",
		                       nodeset_format(&b->host_nodes, nodes, sizeof(nodes)),
		                       numa_mode_name(b->mode));
	else
		g_string_append(s, "any host node");
	g_string_append_printf(s, "\n    %s\n", d->reason != NULL ? d->reason : "");
}

char *select_result_format(const struct select_result *r)
{
	const char *op = r->op == SELECT_GROW ? "grow" : "shrink";
	char size[SIZE_FORMAT_MAX];
	GString *s = g_string_new(NULL);

	size_format(r->request_kib, size, sizeof(size));
	if (r->code != SELECT_OK)
		g_string_append_printf(s, "%s %s refused (%s): %s\n", op, size,
		                       select_code_name(r->code), r->message ? r->message : "");
	else
		g_string_append_printf(s, "%s %s: %zu DIMM%s\n", op, size, r->n_dimms,
		                       r->n_dimms == 1 ? "" : "s");
	for (size_t i = 0; i < r->n_dimms; i++)
		format_dimm(s, r, &r->dimms[i]);
	if (r->warning != NULL)
		g_string_append_printf(s, "  note: %s\n", r->warning);
	return g_string_free(s, FALSE);
}

static int json_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *dimm_json(const struct select_dimm *d)
{
	char nodes[NODESET_FORMAT_MAX];
	struct json_object *o = json_object_new_object();
	const struct backing *b = &d->backing;
	int rc = 0;

	if (o == NULL)
		return NULL;
	rc |= json_add(o, "node", json_object_new_int64(d->node));
	rc |= json_add(o, "size_kib", json_object_new_uint64(d->size_kib));
	rc |= json_add(o, "page_size_kib", json_object_new_uint64(b->page_size_kib));
	rc |= json_add(o, "hugepages", json_object_new_boolean(b->hugepages));
	if (b->bound)
		rc |= json_add(o, "host_nodes",
		               json_object_new_string(
		                       nodeset_format(&b->host_nodes, nodes, sizeof(nodes))));
	else
		rc |= json_object_object_add(o, "host_nodes", NULL) < 0 ? -ENOMEM : 0;
	rc |= json_add(o, "mode", json_object_new_string(numa_mode_name(b->mode)));
	rc |= json_add(o, "auto_placement", json_object_new_boolean(b->auto_placement));
	rc |= json_add(o, "reason", json_object_new_string(d->reason ? d->reason : ""));
	if (d->alias != NULL) {
		rc |= json_add(o, "alias", json_object_new_string(d->alias));
		if (d->has_slot)
			rc |= json_add(o, "slot", json_object_new_int64(d->slot));
	}
	if (rc != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int result_json_lists(struct json_object *o, const struct select_result *r)
{
	struct json_object *dimms = json_object_new_array(), *sug = json_object_new_array();
	int rc = json_add(o, "dimms", dimms) | json_add(o, "suggest_kib", sug);

	for (size_t i = 0; i < r->n_dimms && rc == 0 && dimms != NULL; i++) {
		struct json_object *d = dimm_json(&r->dimms[i]);

		rc = d == NULL || json_object_array_add(dimms, d) < 0 ? -ENOMEM : 0;
	}
	for (size_t i = 0; i < r->n_suggest && rc == 0 && sug != NULL; i++) {
		struct json_object *v = json_object_new_uint64(r->suggest_kib[i]);

		rc = v == NULL || json_object_array_add(sug, v) < 0 ? -ENOMEM : 0;
	}
	return rc;
}

struct json_object *select_result_to_json(const struct select_result *r)
{
	struct json_object *o = json_object_new_object();
	int rc = 0;

	if (o == NULL)
		return NULL;
	rc |= json_add(o, "op", json_object_new_string(r->op == SELECT_GROW ? "grow" : "shrink"));
	rc |= json_add(o, "code", json_object_new_string(select_code_name(r->code)));
	if (r->message != NULL)
		rc |= json_add(o, "message", json_object_new_string(r->message));
	if (r->warning != NULL)
		rc |= json_add(o, "warning", json_object_new_string(r->warning));
	rc |= json_add(o, "request_kib", json_object_new_uint64(r->request_kib));
	rc |= json_add(o, "total_kib", json_object_new_uint64(r->total_kib));
	rc |= result_json_lists(o, r);
	if (rc != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
