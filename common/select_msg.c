/*
 * The words of a grow or shrink verdict: every refusal message, every
 * DIMM's reason and the last-slot warning, in terms a user can act on (see
 * docs/select.md). The numbers come from select_grow.c and select_shrink.c;
 * nothing here decides.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "nodeset.h"
#include "select_internal.h"
#include "size.h"

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

/* "host not checked: free 2 MiB hugepages on host node 1 unknown" */
static char *supply_unknown(const struct select_supply *s, const struct backing *b, char *buf,
                            size_t len)
{
	char set[NODESET_FORMAT_MAX], page[SIZE_FORMAT_MAX], what[SIZE_FORMAT_MAX + 16];

	if (b->hugepages)
		snprintf(what, sizeof(what), "%s hugepages",
		         size_format(b->page_size_kib, page, sizeof(page)));
	else
		snprintf(what, sizeof(what), "memory");
	nodeset_format(&s->nodes, set, sizeof(set));
	snprintf(buf, len, "host not checked: free %s on %s%s unknown", what,
	         !s->bound                       ? "the host"
	         : nodeset_count(&s->nodes) == 1 ? "host node "
	                                         : "host nodes ",
	         s->bound ? set : "");
	return buf;
}

/* "host node 0 has 3.1 GiB free" / "... 512 free 2 MiB hugepages"; when the
 * host source has no free values (capabilities), that it was not checked. */
static char *supply_describe(const struct select_supply *s, const struct backing *b, char *buf,
                             size_t len)
{
	char who[NODESET_FORMAT_MAX + 32], amount[SIZE_FORMAT_MAX], page[SIZE_FORMAT_MAX];

	if (!s->known)
		return supply_unknown(s, b, buf, len);
	fmt_host_nodes(&s->nodes, s->bound, who, sizeof(who));
	if (b->hugepages)
		snprintf(buf, len, "%s %" PRIu64 " free %s hugepages", who, s->free_pages,
		         size_format(b->page_size_kib, page, sizeof(page)));
	else
		snprintf(buf, len, "%s %s free", who,
		         fmt_approx(s->free_kib, amount, sizeof(amount)));
	return buf;
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

static void where_text(const struct domain *d, int node, char *buf, size_t len)
{
	if (node >= 0)
		snprintf(buf, len, "guest node %d", node);
	else
		snprintf(buf, len, "%s", d->name != NULL ? d->name : "the domain");
}

/* ---- grow ---- */

int select_refuse_zero(struct select_result *r)
{
	return select_refuse(r, SELECT_BAD_SIZE, "the size must be more than 0");
}

int select_refuse_cannot_hotplug(struct select_result *r, const struct domain *d, const char *why)
{
	return select_refuse(r, SELECT_CANNOT_HOTPLUG, "%s cannot hot-plug memory: %s", d->name,
	                     why != NULL ? why : "unknown reason");
}

int select_refuse_too_large(struct select_result *r, const struct domain *d)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

	return select_refuse(r, SELECT_BAD_SIZE, "%s is larger than maxMemory (%s)",
	                     size_format(r->request_kib, a, sizeof(a)),
	                     size_format(d->max_memory_kib, b, sizeof(b)));
}

int select_refuse_grow_node(struct select_result *r, const struct domain *d, int node)
{
	return select_refuse(r, SELECT_NO_NODE, "guest node %d does not exist; %s has nodes 0-%zu",
	                     node, d->name, d->n_cells - 1);
}

int select_refuse_no_slots(struct select_result *r, const struct domain *d)
{
	return select_refuse(r, SELECT_NO_SLOTS,
	                     "all %u memory slots are in use; shrink first or raise <maxMemory "
	                     "slots> (needs a restart)",
	                     d->slots);
}

int select_refuse_no_headroom(struct select_result *r, const struct domain *d,
                              uint64_t headroom_kib)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], m[SIZE_FORMAT_MAX], h[SIZE_FORMAT_MAX];

	return select_refuse(
	        r, SELECT_NO_HEADROOM, "%s does not fit: memory is %s of maxMemory %s, %s left",
	        size_format(r->request_kib, a, sizeof(a)), size_format(d->memory_kib, b, sizeof(b)),
	        size_format(d->max_memory_kib, m, sizeof(m)),
	        size_format(headroom_kib, h, sizeof(h)));
}

int select_refuse_not_aligned(struct select_result *r, uint64_t align_kib, int node)
{
	char want[SIZE_FORMAT_MAX], al[SIZE_FORMAT_MAX], lo[SIZE_FORMAT_MAX], hi[SIZE_FORMAT_MAX];
	char who[64], near[3 * SIZE_FORMAT_MAX];

	if (node >= 0)
		snprintf(who, sizeof(who), "guest node %d's alignment", node);
	else
		snprintf(who, sizeof(who), "the guest nodes' alignment");
	if (r->n_suggest == 2)
		snprintf(near, sizeof(near), "nearest valid sizes: %s and %s",
		         size_format(r->suggest_kib[0], lo, sizeof(lo)),
		         size_format(r->suggest_kib[1], hi, sizeof(hi)));
	else if (r->n_suggest == 1)
		snprintf(near, sizeof(near), "nearest valid size: %s",
		         size_format(r->suggest_kib[0], lo, sizeof(lo)));
	else
		snprintf(near, sizeof(near), "no valid size fits below maxMemory");
	return select_refuse(r, SELECT_NOT_ALIGNED, "%s is not a multiple of %s, %s (%s); %s",
	                     size_format(r->request_kib, want, sizeof(want)), who,
	                     size_format(align_kib, al, sizeof(al)),
	                     align_kib > BACKING_BLOCK_KIB ? "the backing page size"
	                                                   : "the guest's 128 MiB memory block",
	                     near);
}

int select_refuse_pool(struct select_result *r, const struct select_supply *s,
                       const struct backing *b, uint64_t reserve_kib, uint64_t demand_kib,
                       const struct nodeset *guests)
{
	char need[SIZE_FORMAT_MAX], page[SIZE_FORMAT_MAX], have[SIZE_FORMAT_MAX];
	char res[SIZE_FORMAT_MAX + 40], who[NODESET_FORMAT_MAX + 32], gset[NODESET_FORMAT_MAX];
	const char *plural = nodeset_count(guests) > 1 ? "s" : "";

	fmt_host_nodes(&s->nodes, s->bound, who, sizeof(who));
	nodeset_format(guests, gset, sizeof(gset));
	size_format(demand_kib, need, sizeof(need));
	if (b->hugepages)
		return select_refuse(r, SELECT_HUGEPAGES,
		                     "%s %" PRIu64 " free %s hugepages, %" PRIu64
		                     " needed for %s on guest node%s %s; add hugepages there or "
		                     "grow less",
		                     who, s->free_pages,
		                     size_format(b->page_size_kib, page, sizeof(page)),
		                     demand_kib / b->page_size_kib, need, plural, gset);
	return select_refuse(r, SELECT_HOST_MEMORY,
	                     "%s %s free%s, %s needed for guest node%s %s; free memory "
	                     "there%s or grow less",
	                     who, fmt_approx(s->free_kib, have, sizeof(have)),
	                     reserve_text(reserve_kib, res, sizeof(res)), need, plural, gset,
	                     reserve_kib ? ", lower the reserve" : "");
}

int select_refuse_spread(struct select_result *r)
{
	char need[SIZE_FORMAT_MAX];

	return select_refuse(r, SELECT_HOST_MEMORY,
	                     "the host nodes behind the guest nodes cannot supply %s together "
	                     "above the reserve; choose a node with --node or grow less",
	                     size_format(r->request_kib, need, sizeof(need)));
}

int select_refuse_prealloc_cpuless(struct select_result *r, const struct domain *d, unsigned node,
                                   const struct backing *b, const struct nodeset *cpuless)
{
	char set[NODESET_FORMAT_MAX], page[SIZE_FORMAT_MAX], how[SIZE_FORMAT_MAX + 48];
	bool one = nodeset_count(cpuless) == 1;

	if (b->hugepages)
		snprintf(how, sizeof(how), "backed by %s hugepages",
		         size_format(b->page_size_kib, page, sizeof(page)));
	else
		snprintf(how, sizeof(how), "preallocated (<allocation mode='immediate'>)");
	return select_refuse(
	        r, SELECT_PREALLOC_CPULESS,
	        "guest node %u of %s is %s and bound to host node%s %s, which ha%s no CPUs: "
	        "libvirt pins the preallocation to the CPUs of those nodes and QEMU fails (\"The "
	        "nodes select no CPUs\"); bind the cell to a node with CPUs as well, or use "
	        "ordinary memory without preallocation there",
	        node, d->name, how, one ? "" : "s", nodeset_format(cpuless, set, sizeof(set)),
	        one ? "s" : "ve");
}

int select_refuse_outside_nodeset(struct select_result *r, unsigned node, const struct backing *b,
                                  const struct select_supply *s, const struct nodeset *global,
                                  uint64_t demand_kib)
{
	char bset[NODESET_FORMAT_MAX], gset[NODESET_FORMAT_MAX], who[NODESET_FORMAT_MAX + 32];
	char page[SIZE_FORMAT_MAX], need[SIZE_FORMAT_MAX];

	if (nodeset_is_empty(&s->nodes))
		snprintf(who, sizeof(who), "none of them lies inside it");
	else
		fmt_host_nodes(&s->nodes, true, who, sizeof(who));
	size_format(b->page_size_kib, page, sizeof(page));
	return select_refuse(
	        r, SELECT_OUTSIDE_NODESET,
	        "guest node %u is backed by %s hugepages on host node%s %s, but the global "
	        "<numatune><memory mode='strict' nodeset='%s'> binds QEMU, and the kernel "
	        "reserves hugepages only on those nodes: %s%s %" PRIu64 " free %s hugepages, "
	        "%" PRIu64 " needed for %s; add the cell's nodes to the global nodeset or grow "
	        "less",
	        node, page, nodeset_count(&b->host_nodes) == 1 ? "" : "s",
	        nodeset_format(&b->host_nodes, bset, sizeof(bset)),
	        nodeset_format(global, gset, sizeof(gset)), who,
	        nodeset_is_empty(&s->nodes) ? ", so there are" : "", s->free_pages, page,
	        demand_kib / b->page_size_kib, size_format(demand_kib, need, sizeof(need)));
}

int select_grow_reason(struct select_dimm *d, unsigned node, bool by_node, uint64_t planned_kib,
                       const struct select_supply *s)
{
	char got[SIZE_FORMAT_MAX], plan[SIZE_FORMAT_MAX], host[NODESET_FORMAT_MAX + 96];
	int n;

	snprintf(host, sizeof(host), "host not checked");
	if (s != NULL)
		supply_describe(s, &d->backing, host, sizeof(host));
	size_format(d->size_kib, got, sizeof(got));
	if (by_node)
		n = asprintf(&d->reason, "node %u: chosen with --node; %s", node, host);
	else if (planned_kib > 0)
		n = asprintf(&d->reason, "node %u: %s of the %s still planned for it; %s", node,
		             got, size_format(planned_kib, plan, sizeof(plan)), host);
	else
		n = asprintf(&d->reason,
		             "node %u: no share left in the layout, but the "
		             "planned nodes could not take it; %s",
		             node, host);
	if (n < 0) {
		d->reason = NULL;
		return -ENOMEM;
	}
	return 0;
}

int select_grow_warning(struct select_result *r, uint64_t rest_kib)
{
	char left[SIZE_FORMAT_MAX];

	if (asprintf(&r->warning,
	             "this takes the last free slot: the other %s below maxMemory can be "
	             "reached only after a shrink",
	             size_format(rest_kib, left, sizeof(left))) < 0) {
		r->warning = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- shrink ---- */

int select_refuse_shrink_node(struct select_result *r, const struct domain *d, int node)
{
	return select_refuse(r, SELECT_NO_NODE, "guest node %d does not exist; %s has %zu node%s",
	                     node, d->name, d->n_cells, d->n_cells == 1 ? "" : "s");
}

int select_refuse_no_dimms(struct select_result *r, const struct domain *d, int node,
                           size_t unnamed)
{
	char where[64], boot[SIZE_FORMAT_MAX], note[96] = "";
	uint64_t boot_kib = node >= 0 ? d->cells[node].memory_kib : domain_boot_kib(d);

	where_text(d, node, where, sizeof(where));
	if (unnamed > 0)
		snprintf(note, sizeof(note), " (%zu DIMM%s without an alias cannot be detached)",
		         unnamed, unnamed > 1 ? "s" : "");
	return select_refuse(r, SELECT_NO_DIMMS,
	                     "%s has no hot-plugged DIMMs to remove%s; its %s of boot memory stays",
	                     where, note, size_format(boot_kib, boot, sizeof(boot)));
}

int select_refuse_inexact(struct select_result *r, const struct domain *d, int node)
{
	GString *list = g_string_new(NULL);
	char where[64], want[SIZE_FORMAT_MAX], one[SIZE_FORMAT_MAX];
	int rc;

	where_text(d, node, where, sizeof(where));
	for (size_t i = 0; i < r->n_suggest; i++)
		g_string_append_printf(list, "%s%s", i ? ", " : "",
		                       size_format(r->suggest_kib[i], one, sizeof(one)));
	rc = select_refuse(r, SELECT_NO_EXACT_SET,
	                   "no set of DIMMs on %s sums to exactly %s; possible: %s", where,
	                   size_format(r->request_kib, want, sizeof(want)),
	                   list->len ? list->str : "(too many DIMMs to list)");
	g_string_free(list, TRUE);
	return rc;
}

int select_shrink_reason(struct select_dimm *d)
{
	d->reason = strdup("most recently added first");
	return d->reason != NULL ? 0 : -ENOMEM;
}
