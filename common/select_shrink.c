/*
 * Choosing a shrink (see select.h and docs/select.md): an exact subset sum
 * over the hot-plugged DIMMs, most recent first, by a bounded dynamic
 * programme, and the nearest achievable sizes when none is exact.
 *
 * virtio-mem nodes (devmodel.h) give back by lowering their device's
 * <requested> in block steps: with --node, that node's device; without,
 * block by block from the device with the most requested, so the nodes
 * stay balanced. A shrink that the devices alone cannot cover falls back to
 * the DIMMs only when they cover it alone (no mix: see docs/select.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "select_internal.h"

/* Cap on the subset-sum table, in bits (16 MiB of memory). */
#define SELECT_DP_MAX_BITS (UINT64_C(1) << 27)

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
		rc = select_suggest_add(r, picked[i]);
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
		x = select_dimm_add(r);
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
		rc = select_shrink_reason(x);
		if (rc == 0)
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
		unit = select_gcd(unit, c[i].kib);
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
		rc = shrink_suggest(r, c, n, unit, total);
	if (rc == 0 && !found)
		rc = select_refuse_inexact(r, d, node);
	free(take);
	return rc;
}

/* ---- virtio-mem ---- */

struct vmem_ctx {
	const struct domain *dom;
	size_t n;
	struct devmodel_node *nodes; /* per guest node */
	struct backing *backing;
	uint64_t *take;
};

static int vmem_setup(struct vmem_ctx *v, const struct domain *dom, enum devmodel_choice choice,
                      char **err)
{
	v->dom = dom;
	v->n = dom->n_cells;
	v->nodes = calloc(v->n ? v->n : 1, sizeof(*v->nodes));
	v->backing = calloc(v->n ? v->n : 1, sizeof(*v->backing));
	v->take = calloc(v->n ? v->n : 1, sizeof(*v->take));
	if (v->nodes == NULL || v->backing == NULL || v->take == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		const struct domain_memdev *dev =
		        choice == DEVMODEL_FORCE_DIMM
		                ? NULL
		                : devmodel_vmem_device(dom, (unsigned)i, NULL);
		int rc = backing_infer(dom, (unsigned)i, dev, &v->backing[i], err);

		if (rc < 0)
			return rc;
		devmodel_node(dom, (unsigned)i, choice, &v->backing[i], &v->nodes[i]);
	}
	return 0;
}

static void vmem_clear(struct vmem_ctx *v)
{
	free(v->nodes);
	free(v->backing);
	free(v->take);
}

static bool vmem_usable(const struct devmodel_node *n)
{
	return n->model == DEVMODEL_VIRTIO_MEM && n->has_device;
}

/* Block by block from the device with the most still requested; false when
 * the blocks cannot make exactly the request. */
static bool vmem_spread(struct vmem_ctx *v, uint64_t want)
{
	while (want > 0) {
		size_t best = v->n;

		for (size_t i = 0; i < v->n; i++) {
			const struct devmodel_node *n = &v->nodes[i];
			uint64_t left = vmem_usable(n) ? n->requested_kib - v->take[i] : 0;

			if (left < n->block_kib || n->block_kib > want || n->block_kib == 0)
				continue;
			if (best == v->n || left > v->nodes[best].requested_kib - v->take[best])
				best = i;
		}
		if (best == v->n)
			return false;
		v->take[best] += v->nodes[best].block_kib;
		want -= v->nodes[best].block_kib;
	}
	return true;
}

static int vmem_emit(struct select_result *r, struct vmem_ctx *v)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct devmodel_node *n = &v->nodes[i];
		struct select_dimm *x;

		if (v->take[i] == 0)
			continue;
		if ((x = select_dimm_add(r)) == NULL)
			return -ENOMEM;
		x->node = (unsigned)i;
		x->model = DEVMODEL_VIRTIO_MEM;
		x->size_kib = v->take[i];
		x->backing = v->backing[i];
		x->memdev = n->memdev;
		x->from_kib = n->requested_kib;
		x->to_kib = n->requested_kib - v->take[i];
		x->device_kib = n->size_kib;
		r->total_kib += v->take[i];
		if (n->alias && (x->alias = strdup(n->alias)) == NULL)
			return -ENOMEM;
		if (select_vmem_reason(x) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The nearest multiples of `unit` around the request, within `most`. */
static int vmem_refuse_aligned(struct select_result *r, uint64_t unit, uint64_t most, int node)
{
	uint64_t lower = r->request_kib / unit * unit, upper = lower + unit;
	int rc = 0;

	if (lower > 0)
		rc = select_suggest_add(r, lower);
	if (rc == 0 && upper <= most)
		rc = select_suggest_add(r, upper);
	return rc < 0 ? rc : select_refuse_not_aligned(r, unit, node, true);
}

/* --node on a virtio-mem node. */
static int vmem_shrink_node(struct select_result *r, struct vmem_ctx *v, unsigned node)
{
	const struct devmodel_node *n = &v->nodes[node];

	if (!n->has_device)
		return select_refuse_no_device(r, (int)node);
	if (r->request_kib % n->block_kib != 0)
		return vmem_refuse_aligned(r, n->block_kib, n->requested_kib, (int)node);
	if (r->request_kib > n->requested_kib)
		return select_refuse_vmem_room(r, n, r->request_kib);
	v->take[node] = r->request_kib;
	return vmem_emit(r, v);
}

/* No --node: over every device, when they hold enough. */
static int vmem_shrink_spread(struct select_result *r, struct vmem_ctx *v, uint64_t held)
{
	uint64_t unit = 0;

	for (size_t i = 0; i < v->n; i++)
		if (vmem_usable(&v->nodes[i]))
			unit = select_gcd(unit, v->nodes[i].block_kib);
	if (r->request_kib % unit != 0)
		return vmem_refuse_aligned(r, unit, held, -1);
	if (!vmem_spread(v, r->request_kib))
		return select_refuse_capacity(r, v->dom, held, 0);
	return vmem_emit(r, v);
}

/* What the virtio-mem devices hold (their requested sizes), and how many. */
static uint64_t vmem_held(const struct vmem_ctx *v, size_t *devices)
{
	uint64_t held = 0;

	*devices = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (!vmem_usable(&v->nodes[i]))
			continue;
		held += v->nodes[i].requested_kib;
		(*devices)++;
	}
	return held;
}

static bool has_dimms(const struct domain *dom)
{
	for (size_t i = 0; i < dom->n_memdevs; i++)
		if (dom->memdevs[i].model == MEMDEV_DIMM && dom->memdevs[i].alias)
			return true;
	return false;
}

/* 1 when the virtio-mem path decided (ok or refused), 0 for the DIMM path. */
static int vmem_shrink(struct select_result *r, const struct domain *dom,
                       const struct select_shrink_req *req, char **err)
{
	struct vmem_ctx v = {0};
	size_t devices = 0;
	uint64_t held;
	int rc = vmem_setup(&v, dom, req->model, err);

	if (rc < 0)
		goto out;
	if (req->node >= 0) {
		rc = v.nodes[req->node].model == DEVMODEL_VIRTIO_MEM
		             ? vmem_shrink_node(r, &v, (unsigned)req->node)
		             : 0;
		rc = rc < 0 ? rc : (v.nodes[req->node].model == DEVMODEL_VIRTIO_MEM);
		goto out;
	}
	held = vmem_held(&v, &devices);
	if (req->model == DEVMODEL_FORCE_VIRTIO_MEM && devices == 0)
		rc = select_refuse_no_device(r, -1);
	else if (req->model != DEVMODEL_FORCE_VIRTIO_MEM &&
	         (held == 0 || (held < req->size_kib && has_dimms(dom))))
		goto out; /* the DIMMs' turn (rc 0) */
	else if (held < req->size_kib)
		rc = select_refuse_capacity(r, dom, held, 0);
	else
		rc = vmem_shrink_spread(r, &v, held);
	rc = rc < 0 ? rc : 1;
out:
	vmem_clear(&v);
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
	r = select_result_new(SELECT_SHRINK, req->size_kib);
	if (r == NULL)
		return -ENOMEM;
	if (req->size_kib == 0)
		rc = select_refuse_zero(r);
	else if (req->node < -1 || (req->node >= 0 && (size_t)req->node >= dom->n_cells))
		rc = select_refuse_shrink_node(r, dom, req->node);
	else if ((rc = vmem_shrink(r, dom, req, err)) != 0)
		rc = rc < 0 ? rc : 0;
	else if ((rc = shrink_collect(dom, req->node, &c, &n, &unnamed)) == 0)
		rc = n == 0 ? select_refuse_no_dimms(r, dom, req->node, unnamed)
		            : shrink_decide(r, dom, req->node, c, n, err);
	free(c);
	if (rc < 0) {
		select_result_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
