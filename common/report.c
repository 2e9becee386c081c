/*
 * Builds the `inspect` and `plan` report objects (see report.h). Only
 * json-c builds JSON here; nothing formats text for people: that is the
 * CLI's job.
 */
#include <stdio.h>
#include <stdlib.h>

#include "backing.h"
#include "devmodel.h"
#include "report.h"

json_object *report_string(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

json_object *report_nodeset(const struct nodeset *ns)
{
	char buf[NODESET_FORMAT_MAX];

	if (ns == NULL || nodeset_is_empty(ns))
		return NULL;
	return json_object_new_string(nodeset_format(ns, buf, sizeof(buf)));
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static json_object *report_backing(const struct backing *b)
{
	json_object *o = json_object_new_object();

	add_u64(o, "page_size_kib", b->page_size_kib);
	json_object_object_add(o, "hugepages", json_object_new_boolean(b->hugepages));
	json_object_object_add(o, "page_source", json_object_new_string(b->page_source));
	json_object_object_add(o, "mode",
	                       b->bound || b->auto_placement
	                               ? json_object_new_string(numa_mode_name(b->mode))
	                               : NULL);
	json_object_object_add(o, "host_nodes", b->bound ? report_nodeset(&b->host_nodes) : NULL);
	json_object_object_add(o, "auto_placement", json_object_new_boolean(b->auto_placement));
	json_object_object_add(o, "nodes_source", json_object_new_string(b->nodes_source));
	return o;
}

/* The node's device model and, for virtio-mem, its device: what it has
 * plugged (current, known only in a running domain's XML: else null) and
 * the room left below its size. */
static void report_model(json_object *o, const struct domain *dom, const struct devmodel_node *n)
{
	json_object *v;

	json_object_object_add(o, "model", json_object_new_string(devmodel_name(n->model)));
	if (!n->has_device) {
		json_object_object_add(o, "virtio_mem", NULL);
		return;
	}
	v = json_object_new_object();
	json_object_object_add(v, "alias", report_string(n->alias));
	add_u64(v, "size_kib", n->size_kib);
	add_u64(v, "block_kib", n->block_kib);
	add_u64(v, "requested_kib", n->requested_kib);
	json_object_object_add(v, "current_kib",
	                       dom->id >= 0 ? json_object_new_uint64(n->current_kib) : NULL);
	add_u64(v, "room_kib", devmodel_vmem_room(n));
	json_object_object_add(o, "virtio_mem", v);
}

static json_object *report_cell(const struct domain *dom, const struct domain_cell *c, char **err)
{
	struct devmodel_node n;
	struct backing b;
	json_object *o;

	if (backing_infer(dom, c->id, NULL, &b, err) < 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int((int)c->id));
	json_object_object_add(o, "cpus", report_string(c->cpus));
	add_u64(o, "memory_kib", c->memory_kib);
	add_u64(o, "plugged_kib", devmodel_cell_plugged_kib(dom, c->id));
	json_object_object_add(o, "mem_access", report_string(c->mem_access));
	json_object_object_add(o, "discard", report_string(c->discard));
	json_object_object_add(o, "backing", report_backing(&b));
	add_u64(o, "align_kib", backing_align_kib(&b));
	devmodel_node(dom, c->id, DEVMODEL_AUTO, &b, &n);
	report_model(o, dom, &n);
	return o;
}

static json_object *report_device(const struct domain *dom, const struct domain_memdev *d)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "model", json_object_new_string(memdev_model_name(d->model)));
	json_object_object_add(o, "alias", report_string(d->alias));
	json_object_object_add(o, "node",
	                       d->target_node >= 0 ? json_object_new_int(d->target_node) : NULL);
	add_u64(o, "size_kib", d->size_kib);
	json_object_object_add(o, "slot", d->has_slot ? json_object_new_int((int)d->slot) : NULL);
	json_object_object_add(o, "base", d->has_base ? json_object_new_uint64(d->base) : NULL);
	json_object_object_add(o, "pagesize_kib",
	                       d->pagesize_kib ? json_object_new_uint64(d->pagesize_kib) : NULL);
	json_object_object_add(o, "nodemask",
	                       d->has_nodemask ? report_nodeset(&d->nodemask) : NULL);
	if (d->model == MEMDEV_VIRTIO_MEM) {
		add_u64(o, "block_kib", d->block_kib);
		add_u64(o, "requested_kib", d->requested_kib);
		/* <current> only exists in a running domain's XML */
		json_object_object_add(o, "current_kib",
		                       dom->id >= 0 ? json_object_new_uint64(d->current_kib)
		                                    : NULL);
	}
	return o;
}

static json_object *report_opt_u64(bool known, uint64_t v)
{
	return known ? json_object_new_uint64(v) : NULL;
}

/* {"<node id>": distance, ...} for the distances the source gives. */
static json_object *report_distances(const struct host *h, unsigned from)
{
	json_object *o = json_object_new_object();

	for (size_t j = 0; j < h->n_nodes; j++) {
		unsigned d = host_distance(h, from, h->nodes[j].id);
		char key[16];

		if (d == 0)
			continue;
		snprintf(key, sizeof(key), "%u", h->nodes[j].id);
		json_object_object_add(o, key, json_object_new_int((int)d));
	}
	return o;
}

static json_object *report_host_node(const struct host *h, const struct host_node *n)
{
	json_object *o = json_object_new_object();
	json_object *pools = json_object_new_array();

	json_object_object_add(o, "id", json_object_new_int((int)n->id));
	json_object_object_add(o, "cpus", report_nodeset(&n->cpus));
	json_object_object_add(o, "cpuless", json_object_new_boolean(!host_node_has_cpus(n)));
	add_u64(o, "total_kib", n->total_kib);
	json_object_object_add(o, "free_kib", report_opt_u64(n->free_known, n->free_kib));
	json_object_object_add(o, "distances", report_distances(h, n->id));
	json_object_object_add(o, "tier", n->tier >= 0 ? json_object_new_int(n->tier) : NULL);
	for (size_t j = 0; j < n->n_pools; j++) {
		const struct host_pool *hp = &n->pools[j];
		json_object *p = json_object_new_object();

		add_u64(p, "page_kib", hp->page_kib);
		add_u64(p, "total", hp->total);
		json_object_object_add(p, "free", report_opt_u64(hp->free_known, hp->free));
		json_object_array_add(pools, p);
	}
	json_object_object_add(o, "hugepages", pools);
	return o;
}

json_object *report_host(const struct host *h)
{
	json_object *o = json_object_new_object();
	json_object *nodes = json_object_new_array();
	json_object *warnings = json_object_new_array();

	json_object_object_add(o, "source", json_object_new_string(host_source_name(h->source)));
	for (size_t i = 0; i < h->n_nodes; i++)
		json_object_array_add(nodes, report_host_node(h, &h->nodes[i]));
	json_object_object_add(o, "nodes", nodes);
	for (char **w = h->warnings; w != NULL && *w != NULL; w++)
		json_object_array_add(warnings, json_object_new_string(*w));
	json_object_object_add(o, "warnings", warnings);
	return o;
}

static void report_slots(json_object *o, const struct domain *dom)
{
	unsigned used = domain_used_slots(dom);

	add_u64(o, "max_memory_kib", dom->max_memory_kib);
	json_object_object_add(o, "slots", json_object_new_int((int)dom->slots));
	json_object_object_add(o, "used_slots", json_object_new_int((int)used));
	json_object_object_add(
	        o, "free_slots",
	        json_object_new_int(dom->slots > used ? (int)(dom->slots - used) : 0));
}

json_object *report_inspect(const struct domain *dom, const struct host *host, char **err)
{
	json_object *o = json_object_new_object();
	json_object *cells = json_object_new_array();
	json_object *devs = json_object_new_array();
	char *why = NULL;

	json_object_object_add(o, "domain", json_object_new_string(dom->name));
	json_object_object_add(o, "uuid", report_string(dom->uuid));
	json_object_object_add(o, "type", report_string(dom->type));
	add_u64(o, "memory_kib", dom->memory_kib);
	add_u64(o, "current_memory_kib", dom->current_memory_kib);
	add_u64(o, "boot_kib", domain_boot_kib(dom));
	report_slots(o, dom);
	add_u64(o, "headroom_kib",
	        dom->max_memory_kib > dom->memory_kib ? dom->max_memory_kib - dom->memory_kib : 0);
	json_object_object_add(o, "hotplug",
	                       json_object_new_boolean(domain_check_hotplug(dom, &why) == 0));
	json_object_object_add(o, "hotplug_problem", report_string(why));
	free(why);
	json_object_object_add(o, "cells", cells);
	json_object_object_add(o, "devices", devs);
	json_object_object_add(o, "host", host ? report_host(host) : NULL);
	for (size_t i = 0; i < dom->n_cells; i++) {
		json_object *c = report_cell(dom, &dom->cells[i], err);

		if (c == NULL) {
			json_object_put(o);
			return NULL;
		}
		json_object_array_add(cells, c);
	}
	for (size_t i = 0; i < dom->n_memdevs; i++)
		json_object_array_add(devs, report_device(dom, &dom->memdevs[i]));
	return o;
}

static json_object *report_plan_node(const struct domain *dom, const struct plan_node *n,
                                     bool forced)
{
	const struct backing *b = &n->backing;
	json_object *o = json_object_new_object();
	json_object *dimms = json_object_new_array();

	json_object_object_add(o, "id", json_object_new_int((int)n->id));
	json_object_object_add(o, "cpus", report_string(n->cpus));
	add_u64(o, "boot_kib", n->boot_kib);
	add_u64(o, "plugged_kib", n->plugged_kib);
	add_u64(o, "page_size_kib", b->page_size_kib);
	json_object_object_add(o, "host_nodes", b->bound ? report_nodeset(&b->host_nodes) : NULL);
	json_object_object_add(o, "mode",
	                       b->bound || b->auto_placement
	                               ? json_object_new_string(numa_mode_name(b->mode))
	                               : NULL);
	add_u64(o, "align_kib", n->align_kib);
	for (size_t i = 0; i < n->n_dimms; i++)
		json_object_array_add(dimms, json_object_new_uint64(n->dimms_kib[i]));
	json_object_object_add(o, "dimms_kib", dimms);
	add_u64(o, "planned_kib", n->planned_kib);
	report_model(o, dom, &n->dm);
	json_object_object_add(o, "model_forced", json_object_new_boolean(forced));
	return o;
}

json_object *report_plan(const struct domain *dom, const struct plan *plan)
{
	json_object *o = json_object_new_object();
	json_object *nodes = json_object_new_array();

	json_object_object_add(o, "domain", json_object_new_string(dom->name));
	json_object_object_add(o, "strategy",
	                       json_object_new_string(plan_strategy_name(plan->strategy)));
	add_u64(o, "max_memory_kib", plan->max_memory_kib);
	add_u64(o, "memory_kib", plan->memory_kib);
	add_u64(o, "headroom_kib", plan->headroom_kib);
	json_object_object_add(o, "slots", json_object_new_int((int)plan->slots));
	json_object_object_add(o, "used_slots", json_object_new_int((int)plan->used_slots));
	json_object_object_add(o, "free_slots", json_object_new_int((int)plan->free_slots));
	json_object_object_add(o, "planned_slots", json_object_new_int((int)plan->planned_slots));
	add_u64(o, "reachable_kib", plan->reachable_kib);
	add_u64(o, "unreachable_kib", plan->unreachable_kib);
	json_object_object_add(o, "unreachable_reason", report_string(plan->unreachable_reason));
	json_object_object_add(o, "device_model",
	                       json_object_new_string(devmodel_choice_name(plan->model)));
	add_u64(o, "virtio_mem_room_kib", plan->vmem_room_kib);
	for (size_t i = 0; i < plan->n_nodes; i++)
		json_object_array_add(nodes, report_plan_node(dom, &plan->nodes[i],
		                                              plan->model != DEVMODEL_AUTO));
	json_object_object_add(o, "nodes", nodes);
	return o;
}

/* Free memory in `page_kib` pages on `nodes`; false when the host does not
 * know it for every one of them (a saved capabilities file, say). */
static bool report_pool_free(const struct host *host, const struct nodeset *nodes,
                             uint64_t page_kib, uint64_t *kib)
{
	if (!host_free_known(host, nodes, page_kib))
		return false;
	*kib = host_free_kib(host, nodes, page_kib);
	return true;
}

/* The pool's size (KiB) over `nodes`: every source knows the totals. */
static uint64_t report_pool_total(const struct host *host, const struct nodeset *nodes,
                                  uint64_t page_kib)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < host->n_nodes; i++) {
		const struct host_pool *pool = host_node_pool(&host->nodes[i], page_kib);

		if (nodeset_test(nodes, host->nodes[i].id) && pool)
			sum += pool->total * page_kib;
	}
	return sum;
}

/* Backed by the same pool: the same page size on the same host nodes. */
static bool report_same_pool(const struct backing *a, const struct backing *b)
{
	return b->hugepages && b->bound && a->page_size_kib == b->page_size_kib &&
	       nodeset_equal(&a->host_nodes, &b->host_nodes);
}

/* What the guest nodes that draw on one pool plan, and hold at full size
 * (boot + plugged + planned: their memory all comes from that pool). */
struct pool_use {
	struct nodeset guest;
	uint64_t planned_kib;
	uint64_t full_kib;
};

static void report_pool_use(const struct plan *plan, size_t first, struct pool_use *u)
{
	const struct backing *b = &plan->nodes[first].backing;

	nodeset_clear_all(&u->guest);
	u->planned_kib = u->full_kib = 0;
	for (size_t j = first; j < plan->n_nodes; j++) {
		const struct plan_node *n = &plan->nodes[j];

		if (!report_same_pool(b, &n->backing))
			continue;
		nodeset_set(&u->guest, n->id);
		u->planned_kib += n->planned_kib;
		u->full_kib += n->boot_kib + n->plugged_kib + n->planned_kib;
	}
}

/* The fields a shortfall and an unchecked pool share. */
static json_object *report_pool(const struct backing *b, const struct pool_use *u,
                                uint64_t total_kib, const struct host *host)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "guest_nodes", report_nodeset(&u->guest));
	json_object_object_add(o, "host_nodes", report_nodeset(&b->host_nodes));
	add_u64(o, "page_size_kib", b->page_size_kib);
	add_u64(o, "planned_kib", u->planned_kib);
	add_u64(o, "full_kib", u->full_kib);
	add_u64(o, "total_kib", total_kib);
	json_object_object_add(o, "host_source",
	                       json_object_new_string(host_source_name(host->source)));
	return o;
}

/* A shortfall: `need` KiB (the planned DIMMs against free pages, or the full
 * size against the pool's total when free is unknown) exceeds `have`. */
static json_object *report_shortfall(const struct backing *b, const struct pool_use *u,
                                     uint64_t total_kib, const struct host *host, bool free_known,
                                     uint64_t free_kib)
{
	uint64_t need = free_known ? u->planned_kib : u->full_kib;
	uint64_t have = free_known ? free_kib : total_kib;
	json_object *o;

	if (need <= have)
		return NULL;
	o = report_pool(b, u, total_kib, host);
	json_object_object_add(o, "free_kib", free_known ? json_object_new_uint64(free_kib) : NULL);
	json_object_object_add(o, "checked", json_object_new_string(free_known ? "free" : "total"));
	add_u64(o, "missing_pages", (need - have + b->page_size_kib - 1) / b->page_size_kib);
	return o;
}

/* A pool whose free pages the host does not know, and which its total
 * does not already rule out: the plan cannot say whether it fits now. */
static json_object *report_unchecked(const struct backing *b, const struct pool_use *u,
                                     uint64_t total_kib, const struct host *host)
{
	json_object *o = report_pool(b, u, total_kib, host);

	json_object_object_add(o, "reason", json_object_new_string("free_unknown"));
	return o;
}

/* Checks the pool that plan->nodes[first] draws on: a shortfall, an
 * unchecked pool, or neither (it fits). */
static void report_plan_pool(const struct plan *plan, size_t first, const struct host *host,
                             json_object *short_, json_object *unchecked)
{
	const struct backing *b = &plan->nodes[first].backing;
	struct pool_use u;
	uint64_t free_kib = 0, total_kib;
	bool known;
	json_object *x;

	report_pool_use(plan, first, &u);
	total_kib = report_pool_total(host, &b->host_nodes, b->page_size_kib);
	known = report_pool_free(host, &b->host_nodes, b->page_size_kib, &free_kib);
	if ((x = report_shortfall(b, &u, total_kib, host, known, free_kib)) != NULL)
		json_object_array_add(short_, x);
	else if (!known)
		json_object_array_add(unchecked, report_unchecked(b, &u, total_kib, host));
}

void report_plan_host(json_object *o, const struct plan *plan, const struct host *host)
{
	json_object *short_ = NULL, *unchecked = NULL;

	if (host != NULL) {
		short_ = json_object_new_array();
		unchecked = json_object_new_array();
	}
	for (size_t i = 0; host && i < plan->n_nodes; i++) {
		const struct backing *b = &plan->nodes[i].backing;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= report_same_pool(b, &plan->nodes[j].backing);
		if (!seen && b->hugepages && b->bound)
			report_plan_pool(plan, i, host, short_, unchecked);
	}
	json_object_object_add(o, "hugepage_shortfalls", short_);
	json_object_object_add(o, "hugepages_unchecked", unchecked);
}
