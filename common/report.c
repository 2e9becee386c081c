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
	for (size_t i = 0; i < host->n_nodes; i++) {
		const struct host_pool *pool = host_node_pool(&host->nodes[i], page_kib);

		if (nodeset_test(nodes, host->nodes[i].id) && pool && !pool->free_known)
			return false;
	}
	*kib = host_free_kib(host, nodes, page_kib);
	return true;
}

/* Backed by the same pool: the same page size on the same host nodes. */
static bool report_same_pool(const struct backing *a, const struct backing *b)
{
	return b->hugepages && b->bound && a->page_size_kib == b->page_size_kib &&
	       nodeset_equal(&a->host_nodes, &b->host_nodes);
}

/* One shortfall: the guest nodes that draw on one pool, and what they lack. */
static json_object *report_shortfall(const struct plan *plan, size_t first, uint64_t free_kib)
{
	const struct backing *b = &plan->nodes[first].backing;
	json_object *o = json_object_new_object();
	struct nodeset guest;
	uint64_t planned = 0;

	nodeset_clear_all(&guest);
	for (size_t j = first; j < plan->n_nodes; j++) {
		if (!report_same_pool(b, &plan->nodes[j].backing))
			continue;
		nodeset_set(&guest, plan->nodes[j].id);
		planned += plan->nodes[j].planned_kib;
	}
	if (planned <= free_kib) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "guest_nodes", report_nodeset(&guest));
	json_object_object_add(o, "host_nodes", report_nodeset(&b->host_nodes));
	add_u64(o, "page_size_kib", b->page_size_kib);
	add_u64(o, "planned_kib", planned);
	add_u64(o, "free_kib", free_kib);
	add_u64(o, "missing_pages", (planned - free_kib + b->page_size_kib - 1) / b->page_size_kib);
	return o;
}

void report_plan_host(json_object *o, const struct plan *plan, const struct host *host)
{
	json_object *short_ = json_object_new_array();

	for (size_t i = 0; host && i < plan->n_nodes; i++) {
		const struct backing *b = &plan->nodes[i].backing;
		json_object *x;
		uint64_t kib;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= report_same_pool(b, &plan->nodes[j].backing);
		if (seen || !b->hugepages || !b->bound ||
		    !report_pool_free(host, &b->host_nodes, b->page_size_kib, &kib))
			continue;
		if ((x = report_shortfall(plan, i, kib)) != NULL)
			json_object_array_add(short_, x);
	}
	json_object_object_add(o, "hugepage_shortfalls", host ? short_ : NULL);
	if (host == NULL)
		json_object_put(short_);
}
