/*
 * Spreading a grow (see select.h and docs/select.md): pre-flight checks in
 * a fixed order, then the spread of the request over guest nodes (a
 * unit-by-unit apportionment against the layout's per-node shares, bounded
 * by what each node's host nodes can supply and by the slots to keep), one
 * DIMM per node touched, and a host check of the total demand per host-node
 * group. Also the host supply of a backing, which the policy reads too.
 *
 * Each guest node grows through its device model (devmodel.h): a DIMM node
 * in 128 MiB steps within maxMemory and the free slots, a virtio-mem node
 * in its block size within its device's room (size - requested), no slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "nodeset.h"
#include "select_internal.h"

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
	s->known = host_free_known(h, &s->nodes, b->hugepages ? b->page_size_kib : 4);
}

/* ---- the spread ---- */

struct grow_node {
	struct devmodel_node dm;
	struct backing backing;
	uint64_t cap_kib; /* virtio-mem: the device's room; DIMM: UINT64_MAX */
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
	uint64_t headroom_kib; /* below maxMemory: what DIMMs may add */
	uint64_t capacity_kib; /* what the candidates can take together */
	uint64_t dimm_given;   /* the spread's DIMM share so far */
	bool dimms_possible;   /* a slot and headroom are left */
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

/* ---- what the domain's own binding allows ---- */

/*
 * libvirt without a cpuset cgroup binds the whole QEMU process to the
 * global <numatune><memory mode='strict' nodeset>, and the kernel counts
 * only free hugepages inside that binding when QEMU maps a hugepage backend
 * (measured: a memnode outside it fails with "Cannot allocate memory").
 * Ordinary pages follow each backend's own binding, so only hugepages are
 * narrowed. NULL when the domain has no such binding.
 */
static const struct nodeset *global_strict(const struct domain *d)
{
	if (!d->has_numatune_memory || d->numatune_mode != NUMA_MODE_STRICT ||
	    d->numatune_placement == NUMA_PLACEMENT_AUTO || !d->has_numatune_nodeset)
		return NULL;
	return &d->numatune_nodeset;
}

/* The supply of guest node i's backing as the kernel will count it. */
static void grow_supply(const struct grow_ctx *c, size_t i, struct select_supply *s)
{
	const struct nodeset *g = global_strict(c->dom);
	struct backing b = c->nodes[i].backing;

	if (g != NULL && b.hugepages && b.bound && !b.auto_placement)
		for (int id = nodeset_next(&b.host_nodes, 0); id >= 0;
		     id = nodeset_next(&b.host_nodes, id + 1))
			if (!nodeset_test(g, (unsigned)id))
				nodeset_clear(&b.host_nodes, (unsigned)id);
	select_supply(c->host, &b, c->req->host_reserve_kib, s);
}

/*
 * Preallocated memory (hugepages, or <allocation mode='immediate'>) bound
 * only to CPU-less host nodes: libvirt 9.0 pins QEMU's preallocation
 * threads to those nodes' CPUs and fails ("The nodes select no CPUs").
 * Fills *cpuless with the nodes. A host on which no node has CPUs says
 * nothing about CPUs (a fabricated sysfs without cpulist): no verdict.
 */
static bool prealloc_cpuless(const struct grow_ctx *c, const struct backing *b,
                             struct nodeset *cpuless)
{
	bool any_cpus = false;

	if (c->host == NULL || !(b->hugepages || c->dom->alloc_immediate) || !b->bound ||
	    b->auto_placement)
		return false;
	for (size_t i = 0; i < c->host->n_nodes; i++)
		any_cpus = any_cpus || host_node_has_cpus(&c->host->nodes[i]);
	nodeset_clear_all(cpuless);
	for (int id = nodeset_next(&b->host_nodes, 0); any_cpus && id >= 0;
	     id = nodeset_next(&b->host_nodes, id + 1)) {
		const struct host_node *n = host_node_find(c->host, (unsigned)id);

		if (n != NULL && host_node_has_cpus(n))
			return false;
		if (n != NULL)
			nodeset_set(cpuless, (unsigned)id);
	}
	return !nodeset_is_empty(cpuless);
}

/* The checks of one guest node that gets `demand_kib`, before its pool's. */
static int grow_check_binding(struct select_result *r, const struct grow_ctx *c, size_t i,
                              uint64_t demand_kib)
{
	const struct backing *b = &c->nodes[i].backing;
	const struct nodeset *g = global_strict(c->dom);
	struct nodeset cpuless;
	struct select_supply s;

	if (prealloc_cpuless(c, b, &cpuless))
		return select_refuse_prealloc_cpuless(r, c->dom, (unsigned)i, b, &cpuless);
	if (c->host == NULL || g == NULL || !b->hugepages)
		return 0;
	grow_supply(c, i, &s);
	if (s.known && s.bound && !nodeset_equal(&s.nodes, &b->host_nodes) &&
	    s.usable_kib < demand_kib)
		return select_refuse_outside_nodeset(r, (unsigned)i, b, &s, g, demand_kib);
	return 0;
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
		const struct domain_memdev *dev =
		        c->req->model == DEVMODEL_FORCE_DIMM
		                ? NULL
		                : devmodel_vmem_device(c->dom, (unsigned)i, NULL);
		int rc = backing_infer(c->dom, (unsigned)i, dev, &g->backing, err);

		if (rc < 0)
			return rc;
		devmodel_node(c->dom, (unsigned)i, c->req->model, &g->backing, &g->dm);
		g->align_kib = devmodel_align_kib(&g->dm, &g->backing);
		g->cap_kib = g->dm.model == DEVMODEL_VIRTIO_MEM ? devmodel_vmem_room(&g->dm)
		                                                : UINT64_MAX;
		g->avail_kib = UINT64_MAX;
		if (c->host != NULL) {
			grow_supply(c, i, &s);
			g->avail_kib = s.known ? s.usable_kib : UINT64_MAX;
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
		struct plan_options po = {.strategy = PLAN_PROPORTIONAL, .model = c->req->model};

		rc = plan_layout(c->dom, c->host, &po, &own, err);
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
		struct grow_node *g = &c->nodes[i];

		/* a virtio-mem node's share is what its device can still take */
		g->planned_kib =
		        g->dm.model == DEVMODEL_VIRTIO_MEM ? g->cap_kib : p->nodes[i].planned_kib;
		g->candidate =
		        g->dm.model == DEVMODEL_VIRTIO_MEM ? g->cap_kib > 0 : c->dimms_possible;
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
	if (c->nodes[i].dm.model == DEVMODEL_DIMM)
		c->dimm_given += unit;
	if (!use_host || c->host == NULL)
		return;
	for (size_t j = 0; j < c->n; j++)
		if (j == i || same_pool(c, i, j))
			c->nodes[j].avail_kib -=
			        c->nodes[j].avail_kib >= unit ? unit : c->nodes[j].avail_kib;
}

/* Can node g take one more unit: its device's room, or maxMemory? */
static bool grow_fits(const struct grow_ctx *c, const struct grow_node *g)
{
	if (g->dm.model == DEVMODEL_VIRTIO_MEM)
		return g->given_kib + g->align_kib <= g->cap_kib;
	return c->dimm_given + g->align_kib <= c->headroom_kib;
}

/* Apportions the request unit by unit; false when it cannot all be placed. */
static bool spread_run(struct grow_ctx *c, bool use_host, const uint64_t *avail0)
{
	uint64_t remaining = c->req->size_kib;

	c->dimm_given = 0;
	for (size_t i = 0; i < c->n; i++) {
		c->nodes[i].given_kib = 0;
		c->nodes[i].avail_kib = avail0[i];
	}
	while (remaining > 0) {
		size_t best = c->n;

		for (size_t i = 0; i < c->n; i++) {
			const struct grow_node *g = &c->nodes[i];

			if (!g->candidate || g->align_kib > remaining ||
			    (use_host && g->avail_kib < g->align_kib) || !grow_fits(c, g))
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

/* The DIMM nodes touched: each takes a slot (virtio-mem nodes take none). */
static size_t grow_touched(const struct grow_ctx *c)
{
	size_t k = 0;

	for (size_t i = 0; i < c->n; i++)
		k += c->nodes[i].given_kib > 0 && c->nodes[i].dm.model == DEVMODEL_DIMM;
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
	uint64_t left = c->headroom_kib > c->req->size_kib ? c->headroom_kib - c->req->size_kib : 0;

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
			if (c->nodes[i].given_kib > 0 && c->nodes[i].dm.model == DEVMODEL_DIMM &&
			    (drop == c->n || c->nodes[i].given_kib <= c->nodes[drop].given_kib))
				drop = i;
		c->nodes[drop].candidate = false;
	}
}

/* ---- the checks ---- */

/* The sizes and node checks that need neither models nor a layout. */
static int grow_preflight(struct select_result *r, struct grow_ctx *c)
{
	const struct domain *d = c->dom;
	uint64_t size = c->req->size_kib;
	unsigned used = domain_used_slots(d);
	char *why = NULL;
	int rc;

	if (size == 0)
		return select_refuse_zero(r);
	if (domain_check_hotplug(d, &why) < 0) {
		rc = select_refuse_cannot_hotplug(r, d, why);
		free(why);
		return rc;
	}
	if (size > d->max_memory_kib || d->memory_kib > UINT64_MAX - size)
		return select_refuse_too_large(r, d);
	if (c->req->node < -1 || (c->req->node >= 0 && (size_t)c->req->node >= d->n_cells))
		return select_refuse_grow_node(r, d, c->req->node);
	c->free_slots = used < d->slots ? d->slots - used : 0;
	c->headroom_kib = d->max_memory_kib > d->memory_kib ? d->max_memory_kib - d->memory_kib : 0;
	c->dimms_possible = c->free_slots > 0 && c->headroom_kib > 0;
	return 0;
}

/* The DIMM limits: a slot, then maxMemory. */
static int grow_check_dimm(struct select_result *r, const struct grow_ctx *c)
{
	if (c->free_slots == 0)
		return select_refuse_no_slots(r, c->dom);
	if (c->req->size_kib > c->headroom_kib)
		return select_refuse_no_headroom(r, c->dom, c->headroom_kib);
	return 0;
}

/* What the nodes can take under their models; refuses what cannot fit
 * before anything else is decided. */
static int grow_capacity(struct select_result *r, struct grow_ctx *c)
{
	const struct grow_node *g;
	uint64_t vmem = 0;
	size_t devices = 0;
	bool dimm_nodes = false;

	if (c->req->node >= 0) {
		g = &c->nodes[c->req->node];
		if (g->dm.model == DEVMODEL_DIMM) {
			c->capacity_kib = c->headroom_kib;
			return grow_check_dimm(r, c);
		}
		if (!g->dm.has_device)
			return select_refuse_no_device(r, c->req->node);
		c->capacity_kib = g->cap_kib;
		return c->req->size_kib > g->cap_kib
		               ? select_refuse_vmem_room(r, &g->dm, c->req->size_kib)
		               : 0;
	}
	for (size_t i = 0; i < c->n; i++) {
		g = &c->nodes[i];
		dimm_nodes |= g->dm.model == DEVMODEL_DIMM;
		devices += g->dm.has_device;
		vmem += g->dm.has_device ? g->cap_kib : 0;
	}
	if (c->req->model == DEVMODEL_FORCE_VIRTIO_MEM && devices == 0)
		return select_refuse_no_device(r, -1);
	if (devices == 0) {
		c->capacity_kib = c->headroom_kib;
		return grow_check_dimm(r, c);
	}
	c->capacity_kib = vmem + (dimm_nodes && c->dimms_possible ? c->headroom_kib : 0);
	if (c->req->size_kib > c->capacity_kib)
		return select_refuse_capacity(
		        r, c->dom, vmem, dimm_nodes && c->dimms_possible ? c->headroom_kib : 0);
	return 0;
}

/* The nearest valid sizes around the request, then the refusal. */
static int grow_refuse_not_aligned(struct select_result *r, const struct grow_ctx *c,
                                   uint64_t align, int node)
{
	uint64_t lower = c->req->size_kib / align * align, upper = lower + align;
	int rc = 0;

	if (lower > 0)
		rc = select_suggest_add(r, lower);
	if (rc == 0 && upper <= c->capacity_kib)
		rc = select_suggest_add(r, upper);
	return rc < 0 ? rc
	              : select_refuse_not_aligned(r, align, node,
	                                          node >= 0 && c->nodes[node].dm.model ==
	                                                               DEVMODEL_VIRTIO_MEM);
}

/* Checks the demand of each host-node pool; refuses on the first short one. */
static int grow_check_host(struct select_result *r, const struct grow_ctx *c)
{
	char *used = calloc(c->n ? c->n : 1, 1);
	int rc = 0;

	if (used == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->n && c->host != NULL && !select_refused(r) && rc == 0; i++) {
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
		for (size_t j = i; j < c->n && rc == 0 && !select_refused(r); j++)
			if (nodeset_test(&gset, (unsigned)j))
				rc = grow_check_binding(r, c, j, c->nodes[j].given_kib);
		if (rc < 0 || select_refused(r))
			break;
		grow_supply(c, i, &s);
		if (s.known && s.usable_kib < demand) /* unknown: the reason says so */
			rc = select_refuse_pool(r, &s, &c->nodes[i].backing,
			                        c->req->host_reserve_kib, demand, &gset);
	}
	free(used);
	return rc;
}

/* When the host-aware spread fails, spread without the host and let the
 * host check name the pool that is short. */
static int grow_refuse_host(struct select_result *r, struct grow_ctx *c, const uint64_t *avail0)
{
	int rc;

	if (grow_spread(c, false, avail0)) {
		rc = grow_check_host(r, c);
		if (rc < 0 || select_refused(r))
			return rc;
	}
	return select_refuse_spread(r);
}

/* ---- the result ---- */

static int grow_emit(struct select_result *r, const struct grow_ctx *c)
{
	struct select_supply s;

	for (size_t i = 0; i < c->n; i++) {
		const struct grow_node *g = &c->nodes[i];
		struct select_dimm *d;
		int rc;

		if (g->given_kib == 0)
			continue;
		d = select_dimm_add(r);
		if (d == NULL)
			return -ENOMEM;
		d->node = (unsigned)i;
		d->model = g->dm.model;
		d->size_kib = g->given_kib;
		d->backing = g->backing;
		if (g->dm.model == DEVMODEL_VIRTIO_MEM) {
			d->memdev = g->dm.memdev;
			d->from_kib = g->dm.requested_kib;
			d->to_kib = g->dm.requested_kib + g->given_kib;
			d->device_kib = g->dm.size_kib;
			if (g->dm.alias && (d->alias = strdup(g->dm.alias)) == NULL)
				return -ENOMEM;
		}
		r->total_kib += g->given_kib;
		if (c->host != NULL)
			select_supply(c->host, &g->backing, c->req->host_reserve_kib, &s);
		rc = select_grow_reason(d, (unsigned)i, c->req->node >= 0, g->planned_kib,
		                        c->host != NULL ? &s : NULL);
		if (rc == 0 && d->model == DEVMODEL_VIRTIO_MEM)
			rc = select_vmem_reason(d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A warning when the last free slot goes while headroom remains. */
static int grow_warn(struct select_result *r, const struct grow_ctx *c)
{
	uint64_t rest = c->headroom_kib > c->dimm_given ? c->headroom_kib - c->dimm_given : 0;
	size_t dimms = 0;

	for (size_t i = 0; i < r->n_dimms; i++)
		dimms += r->dimms[i].model == DEVMODEL_DIMM;
	if (dimms == 0 || dimms < c->free_slots || rest == 0)
		return 0;
	return select_grow_warning(r, rest);
}

/* --node: the whole request on that node, if it is aligned there. */
static int grow_place_node(struct select_result *r, struct grow_ctx *c)
{
	uint64_t align = c->nodes[c->req->node].align_kib;

	for (size_t i = 0; i < c->n; i++)
		c->nodes[i].candidate = (int)i == c->req->node;
	if (c->req->size_kib % align != 0)
		return grow_refuse_not_aligned(r, c, align, c->req->node);
	c->nodes[c->req->node].given_kib = c->req->size_kib;
	if (c->nodes[c->req->node].dm.model == DEVMODEL_DIMM)
		c->dimm_given = c->req->size_kib;
	return 0;
}

/* No --node: spread over the layout's shares, within the host's supply. */
static int grow_place_spread(struct select_result *r, struct grow_ctx *c, char **err)
{
	uint64_t *avail0;
	uint64_t align = 0;
	int rc = grow_shares(c, err);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < c->n; i++)
		if (c->nodes[i].candidate)
			align = select_gcd(align, c->nodes[i].align_kib);
	if (align == 0)
		return select_refuse_spread(r);
	if (c->req->size_kib % align != 0)
		return grow_refuse_not_aligned(r, c, align, -1);
	avail0 = calloc(c->n, sizeof(*avail0));
	if (avail0 == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		avail0[i] = c->nodes[i].avail_kib;
	if (!grow_spread(c, true, avail0))
		rc = grow_refuse_host(r, c, avail0);
	free(avail0);
	return rc;
}

static int grow_place(struct select_result *r, struct grow_ctx *c, char **err)
{
	int rc = c->req->node >= 0 ? grow_place_node(r, c) : grow_place_spread(r, c, err);

	if (rc == 0 && !select_refused(r))
		rc = grow_check_host(r, c);
	if (rc == 0 && !select_refused(r))
		rc = grow_emit(r, c);
	if (rc == 0 && !select_refused(r))
		rc = grow_warn(r, c);
	return rc;
}

int select_grow(const struct domain *dom, const struct host *host,
                const struct select_grow_req *req, struct select_result **out, char **err)
{
	struct grow_ctx c = {.dom = dom, .host = host, .req = req};
	struct select_result *r;
	int rc;

	if (dom == NULL || req == NULL || out == NULL)
		return err_ret(err, -EINVAL, "select_grow: missing argument");
	r = select_result_new(SELECT_GROW, req->size_kib);
	if (r == NULL)
		return -ENOMEM;
	rc = grow_preflight(r, &c);
	if (rc == 0 && !select_refused(r))
		rc = grow_setup(&c, err);
	if (rc == 0 && !select_refused(r))
		rc = grow_capacity(r, &c);
	if (rc == 0 && !select_refused(r))
		rc = grow_place(r, &c, err);
	free(c.nodes);
	if (rc < 0) {
		select_result_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
