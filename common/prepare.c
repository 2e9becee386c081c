/*
 * prepare's glue (see prepare.h): model and tree from one document, the
 * partition, the edits, and the account as JSON.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "devmodel.h"
#include "err.h"
#include "plan.h"
#include "prepare.h"
#include "report.h"
#include "size.h"

int prepare_parse(const char *xml, size_t len, struct prepare **out, char **err)
{
	struct prepare *p = calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (p == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	rc = domain_parse(xml, len, &p->dom, err);
	if (rc == 0)
		rc = domain_edit_open(xml, len, &p->edit, err);
	if (rc < 0) {
		prepare_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void prepare_free(struct prepare *p)
{
	if (p == NULL)
		return;
	domain_free(p->dom);
	domain_edit_free(p->edit);
	partition_free(p->part);
	free(p->vmem);
	free(p->xml);
	free(p);
}

/* What the account says beyond the partition's own warnings. */
static int edit_warnings(struct prepare *p)
{
	int rc = 0;

	if (p->edits.movable_missing)
		rc = partition_warn(p->part,
		                    "the guest boots a kernel directly without "
		                    "memhp_default_state=online_movable on <cmdline>: hot-added "
		                    "memory will not be movable, so unplug will be refused");
	if (rc == 0 && p->edits.balloon_none)
		rc = partition_warn(p->part, "<memballoon model='none'> is kept: without balloon "
		                             "statistics the policy cannot manage this guest");
	if (rc == 0 && p->edits.pages_removed)
		rc = partition_warn(p->part,
		                    "%u <page nodeset> element(s) named old cells only and were "
		                    "removed",
		                    p->edits.pages_removed);
	return rc;
}

/*
 * --model virtio-mem: one device per new cell that has none, sized to the
 * headroom the slot layout plans for that cell (plan_layout() on the edited
 * definition), so the devices can take what DIMMs would have; block 2 MiB,
 * or the cell's page size when larger.
 */
static int prepare_vmem(struct prepare *p, const struct host *host, char **err)
{
	char *xml = NULL;
	struct domain *dom = NULL;
	struct plan *plan = NULL;
	/* the DIMM layout of every cell, as if none had a device yet */
	struct plan_options po = {.strategy = PLAN_PROPORTIONAL, .model = DEVMODEL_FORCE_DIMM};
	int rc = domain_edit_format(p->edit, &xml, err);

	if (rc == 0)
		rc = domain_parse(xml, strlen(xml), &dom, err);
	if (rc == 0)
		rc = plan_layout(dom, host, &po, &plan, err);
	if (rc == 0 &&
	    (p->vmem = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof(*p->vmem))) == NULL)
		rc = err_ret(err, -ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < plan->n_nodes; i++) {
		const struct plan_node *n = &plan->nodes[i];
		uint64_t block = n->backing.page_size_kib > DEVMODEL_VMEM_BLOCK_KIB
		                         ? n->backing.page_size_kib
		                         : DEVMODEL_VMEM_BLOCK_KIB;
		uint64_t size = n->planned_kib / block * block;

		if (size == 0 || devmodel_vmem_device(dom, n->id, NULL) != NULL)
			continue;
		rc = domain_edit_add_vmem(p->edit, n->id, size, block, err);
		p->vmem[p->n_vmem++] = (struct prepare_vmem){n->id, size, block};
	}
	if (rc == 0 && p->n_vmem == 0)
		rc = partition_warn(p->part, "--model virtio-mem: no cell has headroom left for a "
		                             "device (raise --max)");
	plan_free(plan);
	domain_free(dom);
	free(xml);
	return rc;
}

int prepare_compute(struct prepare *p, const struct host *host, const struct partition_opts *o,
                    char **err)
{
	int rc;

	if ((rc = domain_edit_guest(p->edit, p->dom, &p->guest, err)) < 0 ||
	    (rc = partition_compute(host, &p->guest, o, &p->part, err)) < 0 ||
	    (rc = domain_edit_apply(p->edit, &p->guest, p->part, &p->edits, err)) < 0)
		return rc;
	if (o->vmem && (rc = prepare_vmem(p, host, err)) < 0)
		return rc;
	if (edit_warnings(p) < 0)
		return err_ret(err, -ENOMEM, "out of memory");
	return domain_edit_format(p->edit, &p->xml, err);
}

/* ---- the account ---- */

static json_object *report_cell(const struct partition *part, size_t i)
{
	const struct partition_cell *c = &part->cells[i];
	json_object *o = json_object_new_object();
	json_object *dist = NULL;
	char vcpus[32];

	json_object_object_add(o, "id", json_object_new_int((int)c->id));
	json_object_object_add(o, "host_node", json_object_new_int((int)c->host_node));
	json_object_object_add(o, "cpuless", json_object_new_boolean(c->cpuless));
	if (c->n_vcpus == 1)
		snprintf(vcpus, sizeof(vcpus), "%u", c->first_vcpu);
	else
		snprintf(vcpus, sizeof(vcpus), "%u-%u", c->first_vcpu,
		         c->first_vcpu + c->n_vcpus - 1);
	json_object_object_add(o, "vcpus", c->n_vcpus ? json_object_new_string(vcpus) : NULL);
	json_object_object_add(o, "pin", c->pinned ? report_nodeset(&c->pin) : NULL);
	json_object_object_add(o, "memory_kib", json_object_new_uint64(c->memory_kib));
	json_object_object_add(o, "hugepages", json_object_new_boolean(c->hugepages));
	if (part->dist) {
		dist = json_object_new_array();
		for (size_t j = 0; j < part->n_cells; j++)
			json_object_array_add(
			        dist, json_object_new_int((int)part->dist[i * part->n_cells + j]));
	}
	json_object_object_add(o, "distances", dist);
	return o;
}

static json_object *report_candidates(const struct partition *part)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < part->n_candidates; i++) {
		const struct partition_candidate *c = &part->candidates[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "node", json_object_new_int((int)c->node));
		json_object_object_add(o, "free_kib",
		                       c->free_known ? json_object_new_uint64(c->free_kib) : NULL);
		json_object_object_add(o, "rank", json_object_new_int(c->rank));
		json_object_array_add(a, o);
	}
	return a;
}

static const char *max_source(const struct partition *part, const struct partition_opts *o)
{
	if (o->max_kib)
		return "option";
	return part->max_capped ? "host total" : "4x memory";
}

static const char *balloon_state(const struct domain_edit_report *r)
{
	if (r->balloon_none)
		return "none";
	if (r->balloon_added)
		return "added";
	return r->balloon_stats_added ? "stats added" : "kept";
}

static void report_settings(json_object *o, const struct prepare *p,
                            const struct partition_opts *opts)
{
	const struct partition *part = p->part;
	json_object *topo = json_object_new_object();

	json_object_object_add(topo, "sockets", json_object_new_int((int)part->sockets));
	json_object_object_add(topo, "cores", json_object_new_int((int)part->cores));
	json_object_object_add(topo, "threads", json_object_new_int((int)part->threads));
	json_object_object_add(o, "topology", topo);
	json_object_object_add(o, "vcpupins",
	                       json_object_new_int(part->n_cpu_cells && part->cells[0].pinned
	                                                   ? (int)p->guest.vcpus
	                                                   : 0));
	json_object_object_add(o, "numatune_nodeset", report_nodeset(&part->nodeset));
	json_object_object_add(o, "max_memory_kib", json_object_new_uint64(part->max_memory_kib));
	json_object_object_add(o, "max_source", json_object_new_string(max_source(part, opts)));
	json_object_object_add(o, "slots", json_object_new_int((int)part->slots));
	json_object_object_add(o, "step_kib", json_object_new_uint64(part->step_kib));
	json_object_object_add(o, "balloon", json_object_new_string(balloon_state(&p->edits)));
	json_object_object_add(
	        o, "stats_period",
	        p->edits.stats_period ? json_object_new_int((int)p->edits.stats_period) : NULL);
	json_object_object_add(o, "pages_narrowed",
	                       json_object_new_int((int)p->edits.pages_narrowed));
}

/* ---- what the owned parts were ---- */

static json_object *u64_or_null(uint64_t v)
{
	return v ? json_object_new_uint64(v) : NULL;
}

/* The old cells: [{id, vcpus, memory_kib, host_nodes}], host_nodes from
 * the cell's memnode (null: none). */
static json_object *before_cells(const struct domain *dom)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < dom->n_cells; i++) {
		const struct domain_cell *c = &dom->cells[i];
		const struct domain_memnode *mn = domain_memnode_find(dom, c->id);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int((int)c->id));
		json_object_object_add(o, "vcpus",
		                       c->cpus ? json_object_new_string(c->cpus) : NULL);
		json_object_object_add(o, "memory_kib", json_object_new_uint64(c->memory_kib));
		json_object_object_add(o, "host_nodes", mn ? report_nodeset(&mn->nodeset) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

/* The old <numatune><memory>: {mode, nodeset} ("auto" placement: nodeset
 * null), or null when there was none. */
static json_object *before_numatune(const struct domain *dom)
{
	json_object *o;

	if (!dom->has_numatune_memory)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "mode",
	                       json_object_new_string(numa_mode_name(dom->numatune_mode)));
	json_object_object_add(o, "placement",
	                       json_object_new_string(dom->numatune_placement == NUMA_PLACEMENT_AUTO
	                                                      ? "auto"
	                                                      : "static"));
	json_object_object_add(o, "nodeset",
	                       dom->has_numatune_nodeset ? report_nodeset(&dom->numatune_nodeset)
	                                                 : NULL);
	return o;
}

/* "before": the owned parts as they were, under the names the account
 * uses for them now. */
static json_object *report_before(const struct prepare *p)
{
	const struct domain_edit_before *b = &p->edits.before;
	json_object *o = json_object_new_object(), *topo = NULL;

	json_object_object_add(o, "cells", before_cells(p->dom));
	if (b->topology) {
		topo = json_object_new_object();
		json_object_object_add(topo, "sockets", json_object_new_int((int)b->sockets));
		json_object_object_add(topo, "cores", json_object_new_int((int)b->cores));
		json_object_object_add(topo, "threads", json_object_new_int((int)b->threads));
	}
	json_object_object_add(o, "topology", topo);
	json_object_object_add(o, "pins", json_object_new_int((int)b->pins));
	json_object_object_add(o, "numatune", before_numatune(p->dom));
	json_object_object_add(o, "max_memory_kib", u64_or_null(p->dom->max_memory_kib));
	json_object_object_add(o, "slots",
	                       p->dom->slots ? json_object_new_int((int)p->dom->slots) : NULL);
	json_object_object_add(o, "stats_period",
	                       p->edits.balloon_stats_added || p->edits.stats_period == 0
	                               ? NULL
	                               : json_object_new_int((int)p->edits.stats_period));
	return o;
}

/* The <page nodeset> edits: [{size_kib, was, now}], now null: removed. */
static json_object *report_pages(const struct domain_edit_report *r)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < r->n_pages; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "size_kib", u64_or_null(r->pages[i].size_kib));
		json_object_object_add(o, "was", json_object_new_string(r->pages[i].was));
		json_object_object_add(o, "now",
		                       r->pages[i].now[0] ? json_object_new_string(r->pages[i].now)
		                                          : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

/* The devices --model virtio-mem added: [{node, size_kib, block_kib}]. */
static json_object *report_vmem(const struct prepare *p)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < p->n_vmem; i++) {
		json_object *v = json_object_new_object();

		json_object_object_add(v, "node", json_object_new_int((int)p->vmem[i].node));
		json_object_object_add(v, "size_kib", json_object_new_uint64(p->vmem[i].size_kib));
		json_object_object_add(v, "block_kib",
		                       json_object_new_uint64(p->vmem[i].block_kib));
		json_object_array_add(a, v);
	}
	return a;
}

json_object *prepare_report(const struct prepare *p, const struct host *host,
                            const struct partition_opts *opts)
{
	const struct partition *part = p->part;
	json_object *o = json_object_new_object();
	json_object *cells = json_object_new_array(), *warn = json_object_new_array();

	json_object_object_add(o, "domain", json_object_new_string(p->dom->name));
	json_object_object_add(o, "mode",
	                       json_object_new_string(opts->mirror ? "mirror-host" : "cells"));
	json_object_object_add(o, "host_source",
	                       json_object_new_string(host_source_name(host->source)));
	json_object_object_add(o, "vcpus", json_object_new_int((int)p->guest.vcpus));
	json_object_object_add(o, "memory_kib", json_object_new_uint64(p->guest.memory_kib));
	json_object_object_add(o, "page_kib", json_object_new_uint64(p->guest.page_kib));
	for (size_t i = 0; i < part->n_cells; i++)
		json_object_array_add(cells, report_cell(part, i));
	json_object_object_add(o, "cells", cells);
	json_object_object_add(o, "cpu_cells", json_object_new_int((int)part->n_cpu_cells));
	json_object_object_add(o, "shared", json_object_new_boolean(part->shared));
	json_object_object_add(o, "placement", opts->mirror ? NULL : report_candidates(part));
	report_settings(o, p, opts);
	json_object_object_add(o, "pages", report_pages(&p->edits));
	json_object_object_add(o, "before", report_before(p));
	json_object_object_add(o, "virtio_mem", opts->vmem ? report_vmem(p) : NULL);
	for (size_t i = 0; i < part->n_warnings; i++)
		json_object_array_add(warn, json_object_new_string(part->warnings[i]));
	json_object_object_add(o, "warnings", warn);
	return o;
}

/* ---- the options on the wire ---- */

json_object *prepare_opts_json(const struct partition_opts *o)
{
	json_object *a = json_object_new_object();

	if (o->mirror)
		json_object_object_add(a, "mirror_host", json_object_new_boolean(true));
	else
		json_object_object_add(a, "cells", json_object_new_int((int)o->n_cells));
	if (o->max_kib)
		json_object_object_add(a, "max_kib", json_object_new_uint64(o->max_kib));
	if (o->slots)
		json_object_object_add(a, "slots", json_object_new_int((int)o->slots));
	if (o->cpuless_set)
		json_object_object_add(a, "cpuless_kib", json_object_new_uint64(o->cpuless_kib));
	if (o->no_pin)
		json_object_object_add(a, "no_pin", json_object_new_boolean(true));
	if (o->vmem)
		json_object_object_add(a, "model", json_object_new_string("virtio-mem"));
	return a;
}

/* An optional unsigned integer argument in 0..max; -EINVAL otherwise. */
static int opt_u64(json_object *args, const char *key, uint64_t max, bool *has, uint64_t *out,
                   char **err)
{
	json_object *v;

	*has = json_object_object_get_ex(args, key, &v);
	if (!*has)
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_uint64(v) > max)
		return err_ret(err, -EINVAL, "%s: must be an integer in 0..%llu", key,
		               (unsigned long long)max);
	*out = json_object_get_uint64(v);
	return 0;
}

int prepare_opts_from_json(json_object *args, struct partition_opts *o, char **err)
{
	json_object *v;
	uint64_t cells = 0, slots = 0;
	bool has_cells, has, mirror = false;
	int rc;

	memset(o, 0, sizeof(*o));
	if (json_object_object_get_ex(args, "mirror_host", &v))
		mirror = json_object_get_boolean(v);
	if ((rc = opt_u64(args, "cells", 128, &has_cells, &cells, err)) < 0 ||
	    (rc = opt_u64(args, "max_kib", SIZE_KIB_MAX, &has, &o->max_kib, err)) < 0 ||
	    (rc = opt_u64(args, "slots", DOMAIN_MAX_SLOTS, &has, &slots, err)) < 0 ||
	    (rc = opt_u64(args, "cpuless_kib", SIZE_KIB_MAX, &o->cpuless_set, &o->cpuless_kib,
	                  err)) < 0)
		return rc;
	if (mirror == has_cells)
		return err_ret(err, -EINVAL, "give either mirror_host or cells");
	o->mirror = mirror;
	o->n_cells = (unsigned)cells;
	o->slots = (unsigned)slots;
	o->no_pin = json_object_object_get_ex(args, "no_pin", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(args, "model", &v)) {
		const char *m = json_object_get_string(v);

		if (m == NULL || (strcmp(m, "dimm") != 0 && strcmp(m, "virtio-mem") != 0))
			return err_ret(err, -EINVAL, "model: dimm or virtio-mem");
		o->vmem = strcmp(m, "virtio-mem") == 0;
	}
	return 0;
}
