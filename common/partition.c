/*
 * prepare's partition (see partition.h): which host node each guest cell
 * maps to, and everything that follows from that mapping. All arithmetic is
 * integer arithmetic in KiB. Every refusal names the numbers it refused.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing.h"
#include "domain.h"
#include "err.h"
#include "partition.h"
#include "size.h"

/* QEMU's MAX_NODES. */
#define PARTITION_MAX_CELLS 128
/* libvirt refuses a distance of 10 (local) between two different cells. */
#define DIST_LOCAL  10
#define DIST_SHARED 11

int partition_warn(struct partition *p, const char *fmt, ...)
{
	char **w = reallocarray(p->warnings, p->n_warnings + 1, sizeof(*w));
	va_list ap;
	int n;

	if (w == NULL)
		return -ENOMEM;
	p->warnings = w;
	va_start(ap, fmt);
	n = vasprintf(&w[p->n_warnings], fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	p->n_warnings++;
	return 0;
}

void partition_free(struct partition *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_warnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p->cells);
	free(p->dist);
	free(p->candidates);
	free(p);
}

static const char *kib_str(uint64_t kib, char *buf)
{
	return size_format(kib, buf, SIZE_FORMAT_MAX);
}

/* ---- which host nodes ---- */

/* Free memory the placement counts on a node: free hugepages of the page
 * size for hugepage-backed cells, else plain free memory. */
static void candidate_free(const struct host_node *n, const struct partition_guest *g,
                           struct partition_candidate *c)
{
	const struct host_pool *pool = g->hugepages ? host_node_pool(n, g->page_kib) : NULL;

	c->node = n->id;
	c->rank = -1;
	if (!g->hugepages) {
		c->free_kib = n->free_kib;
		c->free_known = n->free_known;
	} else {
		c->free_kib = pool ? pool->free * g->page_kib : 0;
		c->free_known = pool == NULL || pool->free_known;
	}
	if (!c->free_known)
		c->free_kib = 0;
}

/* Sum of distances from `node` to the nodes ranked so far (ties prefer the
 * closest); unknown distances count as far. */
static uint64_t distance_to_chosen(const struct host *h, const struct partition *p, unsigned node)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < p->n_candidates; i++) {
		unsigned d;

		if (p->candidates[i].rank < 0)
			continue;
		d = host_distance(h, node, p->candidates[i].node);
		sum += d ? d : 255;
	}
	return sum;
}

/* Whether candidate a beats b: more free, then closer to the chosen ones,
 * then the lower id. */
static bool candidate_better(const struct host *h, const struct partition *p,
                             const struct partition_candidate *a,
                             const struct partition_candidate *b)
{
	uint64_t da, db;

	if (a->free_kib != b->free_kib)
		return a->free_kib > b->free_kib;
	da = distance_to_chosen(h, p, a->node);
	db = distance_to_chosen(h, p, b->node);
	if (da != db)
		return da < db;
	return a->node < b->node;
}

/* Ranks every host node with CPUs, greedily: the round-robin order when
 * cells outnumber nodes, and the first N are the nodes chosen. */
static void rank_candidates(const struct host *h, struct partition *p)
{
	for (int r = 0; r < (int)p->n_candidates; r++) {
		struct partition_candidate *best = NULL;

		for (size_t i = 0; i < p->n_candidates; i++) {
			struct partition_candidate *c = &p->candidates[i];

			if (c->rank < 0 && (best == NULL || candidate_better(h, p, c, best)))
				best = c;
		}
		best->rank = r;
	}
}

static int fill_candidates(const struct host *h, const struct partition_guest *g,
                           struct partition *p)
{
	p->candidates = calloc(h->n_nodes, sizeof(*p->candidates));
	if (p->candidates == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_nodes; i++)
		if (host_node_has_cpus(&h->nodes[i]))
			candidate_free(&h->nodes[i], g, &p->candidates[p->n_candidates++]);
	return 0;
}

static const struct partition_candidate *candidate_of_rank(const struct partition *p, int rank)
{
	for (size_t i = 0; i < p->n_candidates; i++)
		if (p->candidates[i].rank == rank)
			return &p->candidates[i];
	return NULL;
}

/* Host node of each cell with CPUs. Mirror: every node with CPUs in id
 * order. Cells: the N best, in id order; more cells than nodes: round-robin
 * in rank order. */
static int map_cpu_cells(const struct host *h, const struct partition_guest *g,
                         const struct partition_opts *o, struct partition *p, unsigned *nodes)
{
	size_t k;

	if (fill_candidates(h, g, p) < 0)
		return -ENOMEM;
	k = p->n_candidates;
	if (o->mirror) {
		for (size_t i = 0; i < k; i++)
			nodes[i] = p->candidates[i].node;
		p->n_cpu_cells = k;
		free(p->candidates); /* mirror chooses nothing */
		p->candidates = NULL;
		p->n_candidates = 0;
		return 0;
	}
	rank_candidates(h, p);
	p->n_cpu_cells = o->n_cells;
	p->shared = o->n_cells > k;
	if (p->shared) {
		for (size_t i = 0; i < o->n_cells; i++)
			nodes[i] = candidate_of_rank(p, (int)(i % k))->node;
		return 0;
	}
	for (size_t i = 0, n = 0; i < k; i++)
		if (p->candidates[i].rank < (int)o->n_cells)
			nodes[n++] = p->candidates[i].node;
	return 0;
}

static size_t count_cpu_nodes(const struct host *h, bool with_cpus)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_nodes; i++)
		n += host_node_has_cpus(&h->nodes[i]) == with_cpus;
	return n;
}

/* Whether CPU-less host nodes become cells: mirror unless --cpuless 0;
 * --cells only with --cpuless SIZE. */
static bool want_cpuless(const struct partition_opts *o)
{
	if (o->cpuless_set)
		return o->cpuless_kib > 0;
	return o->mirror;
}

/* ---- checks before anything is computed ---- */

static int check_request(const struct host *h, const struct partition_guest *g,
                         const struct partition_opts *o, size_t n_cpuless, char **err)
{
	size_t n_cpu = o->mirror ? count_cpu_nodes(h, true) : o->n_cells;
	char a[SIZE_FORMAT_MAX];

	if (count_cpu_nodes(h, true) == 0)
		return err_ret(err, -EINVAL,
		               "the host model has no node with CPUs (its source gives no CPU "
		               "lists), so there is nothing to map vCPUs to");
	if (!o->mirror && o->n_cells == 0)
		return err_ret(err, -EINVAL, "--cells must be at least 1");
	if (n_cpu + n_cpuless > PARTITION_MAX_CELLS)
		return err_ret(err, -EINVAL, "%zu cells: QEMU supports at most %d NUMA nodes",
		               n_cpu + n_cpuless, PARTITION_MAX_CELLS);
	if (g->vcpus < n_cpu)
		return err_ret(err, -EINVAL,
		               "%u vCPUs cannot fill %zu cells with CPUs: each needs at least one",
		               g->vcpus, n_cpu);
	if (o->cpuless_set && o->cpuless_kib % PARTITION_MIN_ALIGN_KIB != 0)
		return err_ret(err, -EINVAL, "--cpuless %s: must be a whole number of MiB",
		               kib_str(o->cpuless_kib, a));
	if (n_cpuless > 0 && (g->prealloc || g->hugepages_all))
		return err_ret(err, -EINVAL,
		               "%s would cover the CPU-less cells, and libvirt 9.0 cannot start "
		               "preallocated memory on a CPU-less host node (\"The nodes select "
		               "no CPUs\"); give --cpuless 0, or %s",
		               g->prealloc ? "<allocation mode='immediate'>"
		                           : "<hugepages> without a <page nodeset>",
		               g->prealloc ? "drop the preallocation"
		                           : "give the <page> a nodeset of the cells with CPUs");
	if (g->max_memdev_node >= (int)(n_cpu + n_cpuless))
		return err_ret(err, -EINVAL,
		               "a memory device targets guest node %d, but the new layout has "
		               "%zu cells",
		               g->max_memdev_node, n_cpu + n_cpuless);
	return 0;
}

/* ---- what follows from the mapping ---- */

static void split_vcpus(const struct host *h, const struct partition_guest *g, struct partition *p)
{
	size_t n = p->n_cpu_cells;
	unsigned per = g->vcpus / (unsigned)n, extra = g->vcpus % (unsigned)n, next = 0;

	for (size_t i = 0; i < n; i++) {
		p->cells[i].first_vcpu = next;
		p->cells[i].n_vcpus = per + (i < extra);
		next += p->cells[i].n_vcpus;
	}
	if (extra != 0) { /* blocks differ: whole sockets only one vCPU each */
		p->sockets = g->vcpus;
		p->cores = p->threads = 1;
		return;
	}
	p->sockets = (unsigned)n;
	p->threads =
	        h->threads_per_core > 0 && per % h->threads_per_core == 0 ? h->threads_per_core : 1;
	p->cores = per / p->threads;
}

static int split_memory(const struct partition_guest *g, const struct partition_opts *o,
                        struct partition *p, size_t n_cpuless, char **err)
{
	uint64_t cpuless = o->cpuless_set ? o->cpuless_kib : PARTITION_CPULESS_DEFAULT_KIB;
	uint64_t taken = cpuless * n_cpuless, rest, per;
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

	if (taken >= g->boot_kib)
		return err_ret(err, -EINVAL,
		               "the CPU-less cells' boot memory (%zu x %s) leaves nothing of the "
		               "guest's %s for the cells with CPUs",
		               n_cpuless, kib_str(cpuless, a), kib_str(g->boot_kib, b));
	rest = g->boot_kib - taken;
	per = rest / p->n_cpu_cells / p->align_kib * p->align_kib;
	if (per == 0)
		return err_ret(err, -EINVAL,
		               "%s over %zu cells with CPUs is below the %s alignment per cell",
		               kib_str(rest, a), p->n_cpu_cells, kib_str(p->align_kib, b));
	for (size_t i = 0; i < p->n_cells; i++)
		p->cells[i].memory_kib = p->cells[i].cpuless ? cpuless : per;
	p->cells[0].memory_kib += rest - per * p->n_cpu_cells;
	return 0;
}

/* The SLIT between the mapped nodes; NULL (no <distances>) when the host
 * gives none for some pair. */
static int fill_distances(const struct host *h, struct partition *p)
{
	size_t n = p->n_cells;

	p->dist = calloc(n * n, sizeof(*p->dist));
	if (p->dist == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			unsigned a = p->cells[i].host_node, b = p->cells[j].host_node;
			unsigned d = i == j ? DIST_LOCAL : host_distance(h, a, b);

			if (d == 0) {
				free(p->dist);
				p->dist = NULL;
				return 0;
			}
			if (i != j && d <= DIST_LOCAL) {
				d = DIST_SHARED;
				p->dist_shared = true;
			}
			p->dist[i * n + j] = d;
		}
	return 0;
}

static void fill_cells(const struct host *h, const struct partition_guest *g,
                       const struct partition_opts *o, struct partition *p, const unsigned *nodes)
{
	for (size_t i = 0; i < p->n_cells; i++) {
		struct partition_cell *cell = &p->cells[i];

		cell->id = (unsigned)i;
		cell->cpuless = i >= p->n_cpu_cells;
		cell->host_node = nodes[i];
		cell->hugepages = !cell->cpuless && g->hugepages;
		cell->pinned = !cell->cpuless && !o->no_pin;
		if (cell->pinned)
			cell->pin = host_node_find(h, nodes[i])->cpus;
		nodeset_set(&p->nodeset, nodes[i]);
	}
}

/* ---- hotplug settings ---- */

static uint64_t host_total_kib(const struct host *h)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < h->n_nodes; i++)
		sum += h->nodes[i].total_kib;
	return sum;
}

/* --max, else 4x the guest's memory within the host's total (the sum of
 * its nodes; unknown totals count as no limit), the headroom a whole number
 * of growth steps. An old <maxMemory> does not count: the account says what
 * it was. */
static int choose_max(const struct host *h, const struct partition_guest *g,
                      const struct partition_opts *o, struct partition *p, char **err)
{
	uint64_t total = host_total_kib(h), want;
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

	if (o->max_kib != 0) {
		if (o->max_kib < g->memory_kib)
			return err_ret(err, -EINVAL, "--max %s is less than the guest's memory %s",
			               kib_str(o->max_kib, a), kib_str(g->memory_kib, b));
		if (total > 0 && o->max_kib > total)
			return err_ret(err, -EINVAL,
			               "--max %s is more than the host's total memory %s (the "
			               "sum of its nodes)",
			               kib_str(o->max_kib, a), kib_str(total, b));
		p->max_memory_kib = o->max_kib;
		return 0;
	}
	want = g->memory_kib * 4;
	if (total > 0 && want > total) {
		want = total > g->memory_kib ? total : g->memory_kib;
		p->max_capped = true;
	}
	/* Growth in whole steps: the headroom is a multiple of the step. */
	p->max_memory_kib = g->memory_kib + (want - g->memory_kib) / p->step_kib * p->step_kib;
	p->max_lowered = g->max_memory_kib > p->max_memory_kib;
	return 0;
}

static int choose_slots(const struct partition_guest *g, const struct partition_opts *o,
                        struct partition *p, char **err)
{
	uint64_t headroom = p->max_memory_kib - g->memory_kib;
	uint64_t need = g->used_slots + (headroom + p->step_kib - 1) / p->step_kib;

	if (o->slots != 0) {
		if (o->slots > DOMAIN_MAX_SLOTS || o->slots < g->used_slots)
			return err_ret(err, -EINVAL, "--slots %u: must be %u..%d (%u in use)",
			               o->slots, g->used_slots > 0 ? g->used_slots : 1,
			               DOMAIN_MAX_SLOTS, g->used_slots);
		p->slots = o->slots;
		return 0;
	}
	p->slots = need > DOMAIN_MAX_SLOTS ? DOMAIN_MAX_SLOTS : need == 0 ? 1 : (unsigned)need;
	return 0;
}

/* ---- warnings the account shows ---- */

static int warn_free(const struct host *h, const struct partition_guest *g, struct partition *p)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < p->n_cells; i++) {
		const struct partition_cell *c = &p->cells[i];
		const struct host_node *n = host_node_find(h, c->host_node);
		struct partition_candidate f;
		uint64_t need = c->memory_kib;

		candidate_free(n, c->hugepages ? g : &(struct partition_guest){0}, &f);
		/* cells sharing a node share its free memory */
		for (size_t j = 0; j < p->n_cells; j++)
			if (j != i && p->cells[j].host_node == c->host_node &&
			    p->cells[j].hugepages == c->hugepages)
				need += p->cells[j].memory_kib;
		if (f.free_known && need > f.free_kib)
			rc = partition_warn(
			        p, "cell %u needs %s on host node %u, which has %s free%s", c->id,
			        kib_str(need, a), c->host_node, kib_str(f.free_kib, b),
			        c->hugepages ? " in hugepages" : "");
	}
	return rc;
}

static int add_warnings(const struct host *h, const struct partition_guest *g, struct partition *p)
{
	bool unknown = false;
	int rc = 0;

	for (size_t i = 0; i < p->n_candidates; i++)
		unknown |= !p->candidates[i].free_known;
	if (unknown)
		rc = partition_warn(p,
		                    "the host's free memory is unknown (%s): nodes were chosen "
		                    "by id",
		                    h->source == HOST_SOURCE_CAPS ? "a capabilities file"
		                                                  : "its source gives none");
	if (rc == 0 && p->shared)
		rc = partition_warn(p,
		                    "%zu cells on %zu host nodes with CPUs: cells share nodes, "
		                    "round-robin in order of free memory",
		                    p->n_cpu_cells, p->n_candidates);
	if (rc == 0 && p->dist_shared)
		rc = partition_warn(p,
		                    "cells on the same host node get distance %d (libvirt "
		                    "refuses %d between two cells)",
		                    DIST_SHARED, DIST_LOCAL);
	if (rc == 0 && p->max_capped)
		rc = partition_warn(p,
		                    "4x the guest's memory is more than the host's total: "
		                    "<maxMemory> is the host's total, %s",
		                    size_format(p->max_memory_kib, (char[SIZE_FORMAT_MAX]){0},
		                                SIZE_FORMAT_MAX));
	if (rc == 0 && p->max_lowered)
		rc = partition_warn(
		        p,
		        "<maxMemory> was %s: the default (4x the guest's memory, "
		        "within the host's total) lowers it to %s; give --max "
		        "SIZE to choose another",
		        size_format(g->max_memory_kib, (char[SIZE_FORMAT_MAX]){0}, SIZE_FORMAT_MAX),
		        size_format(p->max_memory_kib, (char[SIZE_FORMAT_MAX]){0},
		                    SIZE_FORMAT_MAX));
	if (rc == 0 && p->dist == NULL)
		rc = partition_warn(p, "the host gives no distances: no <distances> written");
	if (rc == 0)
		rc = warn_free(h, g, p);
	return rc;
}

static int compute(const struct host *h, const struct partition_guest *g,
                   const struct partition_opts *o, struct partition *p, char **err)
{
	size_t n_cpuless = want_cpuless(o) ? count_cpu_nodes(h, false) : 0;
	size_t n_cpu = o->mirror ? count_cpu_nodes(h, true) : o->n_cells;
	unsigned *nodes;
	int rc;

	if ((rc = check_request(h, g, o, n_cpuless, err)) < 0)
		return rc;
	nodes = calloc(n_cpu + n_cpuless, sizeof(*nodes));
	p->cells = calloc(n_cpu + n_cpuless, sizeof(*p->cells));
	if (nodes == NULL || p->cells == NULL || map_cpu_cells(h, g, o, p, nodes) < 0) {
		free(nodes);
		return -ENOMEM;
	}
	p->n_cells = n_cpu + n_cpuless;
	for (size_t i = 0, c = n_cpu; n_cpuless > 0 && i < h->n_nodes; i++)
		if (!host_node_has_cpus(&h->nodes[i]))
			nodes[c++] = h->nodes[i].id;
	fill_cells(h, g, o, p, nodes);
	free(nodes);
	split_vcpus(h, g, p);
	if ((rc = split_memory(g, o, p, n_cpuless, err)) < 0 || (rc = fill_distances(h, p)) < 0 ||
	    (rc = choose_max(h, g, o, p, err)) < 0 || (rc = choose_slots(g, o, p, err)) < 0)
		return rc;
	return add_warnings(h, g, p);
}

int partition_compute(const struct host *host, const struct partition_guest *guest,
                      const struct partition_opts *opts, struct partition **out, char **err)
{
	struct partition *p = calloc(1, sizeof(*p));
	uint64_t page = guest->hugepages ? guest->page_kib : BACKING_BASE_PAGE_KIB;
	int rc;

	*out = NULL;
	if (p == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	p->mirror = opts->mirror;
	p->align_kib = page > PARTITION_MIN_ALIGN_KIB ? page : PARTITION_MIN_ALIGN_KIB;
	p->step_kib = page > BACKING_BLOCK_KIB ? page : BACKING_BLOCK_KIB;
	rc = compute(host, guest, opts, p, err);
	if (rc == -ENOMEM)
		err_set(err, "out of memory");
	if (rc < 0) {
		partition_free(p);
		return rc;
	}
	*out = p;
	return 0;
}
