/*
 * The host's NUMA model as plain structs (see host.h): the builders and
 * queries every source shares (nodes kept sorted, the SLIT kept in step with
 * them, free values known or not), and the two machine readers.
 * host_snapshot() asks libnuma for the node list and the memory of each
 * node, host_snapshot_at() reads meminfo files from a directory shaped like
 * /sys/devices/system/node so tests can fabricate a many-node host. Both read
 * the hugepage pools from sysfs, the only place the kernel publishes them per
 * node. The capabilities reader is in host_caps.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <numa.h>

#include "err.h"
#include "host.h"

#define HOST_SYSFS_NODES "/sys/devices/system/node"
#define HOST_SYSFS_TIERS "/sys/devices/virtual/memory_tiering"
/* Where the tiers are, seen from the node directory: a fabricated tree
 * keeps the real layout, ROOT/devices/{system/node,virtual/memory_tiering}. */
#define HOST_SYSFS_TIERS_FROM_NODES "../../virtual/memory_tiering"

struct host *host_new(void)
{
	return calloc(1, sizeof(struct host));
}

void host_free(struct host *h)
{
	if (h == NULL)
		return;
	free(h->nodes);
	free(h->dist);
	g_strfreev(h->warnings);
	free(h);
}

struct host *host_dup(const struct host *h)
{
	struct host *d = host_new();
	size_t n = h->n_nodes;

	if (d == NULL)
		return NULL;
	d->source = h->source;
	d->n_nodes = n;
	d->nodes = n ? malloc(n * sizeof(*d->nodes)) : NULL;
	d->dist = h->dist && n ? malloc(n * n * sizeof(*d->dist)) : NULL;
	d->warnings = g_strdupv(h->warnings);
	if ((n && d->nodes == NULL) || (h->dist && n && d->dist == NULL)) {
		host_free(d);
		return NULL;
	}
	if (n)
		memcpy(d->nodes, h->nodes, n * sizeof(*d->nodes));
	if (d->dist)
		memcpy(d->dist, h->dist, n * n * sizeof(*d->dist));
	return d;
}

const char *host_source_name(enum host_source source)
{
	switch (source) {
	case HOST_SOURCE_LOCAL:
		return "local";
	case HOST_SOURCE_SYSFS:
		return "sysfs";
	case HOST_SOURCE_LIBVIRT:
		return "libvirt";
	case HOST_SOURCE_CAPS:
		return "caps";
	}
	return "unknown";
}

void host_warn(struct host *h, const char *fmt, ...)
{
	size_t n = h->warnings ? g_strv_length(h->warnings) : 0;
	va_list ap;

	h->warnings = g_renew(char *, h->warnings, n + 2);
	va_start(ap, fmt);
	h->warnings[n] = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	h->warnings[n + 1] = NULL;
}

/* The position of node `id` in h->nodes, or -1. */
static long host_node_index(const struct host *h, unsigned id)
{
	for (size_t i = 0; i < h->n_nodes; i++)
		if (h->nodes[i].id == id)
			return (long)i;
	return -1;
}

/* A SLIT one node larger, with an empty row and column at `at`; the old
 * entries keep their pairs. */
static int host_grow_dist(struct host *h, size_t at)
{
	size_t n = h->n_nodes, m = n + 1;
	unsigned *d = calloc(m * m, sizeof(*d));

	if (d == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n && h->dist != NULL; i++)
		for (size_t j = 0; j < n; j++)
			d[(i + (i >= at)) * m + j + (j >= at)] = h->dist[i * n + j];
	free(h->dist);
	h->dist = d;
	return 0;
}

struct host_node *host_add_node(struct host *h, unsigned id, uint64_t total_kib, uint64_t free_kib)
{
	struct host_node *nodes;
	size_t at = 0;

	while (at < h->n_nodes && h->nodes[at].id < id)
		at++;
	if (at < h->n_nodes && h->nodes[at].id == id)
		return NULL;
	nodes = realloc(h->nodes, (h->n_nodes + 1) * sizeof(*nodes));
	if (nodes == NULL)
		return NULL;
	h->nodes = nodes;
	if (host_grow_dist(h, at) < 0)
		return NULL;
	memmove(&nodes[at + 1], &nodes[at], (h->n_nodes - at) * sizeof(*nodes));
	memset(&nodes[at], 0, sizeof(*nodes));
	nodes[at].id = id;
	nodes[at].total_kib = total_kib;
	nodes[at].free_kib = free_kib;
	nodes[at].free_known = true;
	nodes[at].tier = -1;
	h->n_nodes++;
	return &nodes[at];
}

int host_node_add_pool(struct host_node *n, uint64_t page_kib, uint64_t total, uint64_t free)
{
	size_t at = 0;

	if (page_kib == 0 || free > total)
		return -EINVAL;
	while (at < n->n_pools && n->pools[at].page_kib < page_kib)
		at++;
	if (at < n->n_pools && n->pools[at].page_kib == page_kib)
		return -EEXIST;
	if (n->n_pools == HOST_MAX_POOLS)
		return -E2BIG;
	memmove(&n->pools[at + 1], &n->pools[at], (n->n_pools - at) * sizeof(n->pools[0]));
	n->pools[at] = (struct host_pool){
	        .page_kib = page_kib, .total = total, .free = free, .free_known = true};
	n->n_pools++;
	return 0;
}

int host_node_set_free(struct host_node *n, uint64_t free_kib)
{
	if (free_kib > n->total_kib)
		return -EINVAL;
	n->free_kib = free_kib;
	n->free_known = true;
	return 0;
}

int host_node_set_pool_free(struct host_node *n, uint64_t page_kib, uint64_t free)
{
	struct host_pool *p = NULL;

	for (size_t i = 0; i < n->n_pools && p == NULL; i++)
		if (n->pools[i].page_kib == page_kib)
			p = &n->pools[i];
	if (p == NULL)
		return -ENOENT;
	if (free > p->total)
		return -EINVAL;
	p->free = free;
	p->free_known = true;
	return 0;
}

const struct host_node *host_node_find(const struct host *h, unsigned id)
{
	long i = host_node_index(h, id);

	return i < 0 ? NULL : &h->nodes[i];
}

unsigned host_distance(const struct host *h, unsigned from, unsigned to)
{
	long i = host_node_index(h, from), j = host_node_index(h, to);

	if (i < 0 || j < 0 || h->dist == NULL)
		return 0;
	return h->dist[(size_t)i * h->n_nodes + (size_t)j];
}

int host_set_distance(struct host *h, unsigned from, unsigned to, unsigned value)
{
	long i = host_node_index(h, from), j = host_node_index(h, to);

	if (i < 0 || j < 0)
		return -ENOENT;
	if (value == 0)
		return -EINVAL;
	h->dist[(size_t)i * h->n_nodes + (size_t)j] = value;
	return 0;
}

const struct host_pool *host_node_pool(const struct host_node *n, uint64_t page_kib)
{
	for (size_t i = 0; i < n->n_pools; i++)
		if (n->pools[i].page_kib == page_kib)
			return &n->pools[i];
	return NULL;
}

uint64_t host_free_kib(const struct host *h, const struct nodeset *nodes, uint64_t page_kib)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < h->n_nodes; i++) {
		const struct host_node *n = &h->nodes[i];
		const struct host_pool *pool;

		if (!nodeset_test(nodes, n->id))
			continue;
		if (page_kib <= 4) {
			sum += n->free_kib;
			continue;
		}
		pool = host_node_pool(n, page_kib);
		if (pool != NULL)
			sum += pool->free * page_kib;
	}
	return sum;
}

bool host_free_known(const struct host *h, const struct nodeset *nodes, uint64_t page_kib)
{
	for (size_t i = 0; i < h->n_nodes; i++) {
		const struct host_node *n = &h->nodes[i];
		const struct host_pool *pool;

		if (!nodeset_test(nodes, n->id))
			continue;
		if (page_kib <= 4) {
			if (!n->free_known)
				return false;
			continue;
		}
		pool = host_node_pool(n, page_kib);
		if (pool != NULL && !pool->free_known)
			return false;
	}
	return true;
}

void host_nodeset(const struct host *h, struct nodeset *out)
{
	nodeset_clear_all(out);
	for (size_t i = 0; i < h->n_nodes; i++)
		nodeset_set(out, h->nodes[i].id);
}

/* A file holding one decimal number, as sysfs counters do. */
static int read_counter(const char *path, uint64_t *out, char **err)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) gerr = NULL;
	guint64 value;

	if (!g_file_get_contents(path, &text, NULL, &gerr))
		return err_ret(err, -ENOENT, "%s: %s", path, gerr->message);
	g_strchomp(text);
	if (!g_ascii_string_to_unsigned(text, 10, 0, UINT64_MAX, &value, NULL))
		return err_ret(err, -EINVAL, "%s: not a number: \"%.32s\"", path, text);
	*out = value;
	return 0;
}

/* "hugepages-2048kB" -> 2048; 0 for anything else. */
static uint64_t pool_dir_page_kib(const char *name)
{
	guint64 kib;
	const char *digits;
	g_autofree char *num = NULL;

	if (!g_str_has_prefix(name, "hugepages-") || !g_str_has_suffix(name, "kB"))
		return 0;
	digits = name + strlen("hugepages-");
	num = g_strndup(digits, strlen(digits) - strlen("kB"));
	if (!g_ascii_string_to_unsigned(num, 10, 1, UINT64_MAX, &kib, NULL))
		return 0;
	return kib;
}

static int read_pool(struct host_node *n, const char *dir, const char *name, char **err)
{
	g_autofree char *nr_path = g_build_filename(dir, name, "nr_hugepages", NULL);
	g_autofree char *free_path = g_build_filename(dir, name, "free_hugepages", NULL);
	uint64_t page_kib = pool_dir_page_kib(name);
	uint64_t total, free;
	int rc;

	if (page_kib == 0)
		return err_ret(err, -EINVAL, "%s/%s: not a hugepages-SIZEkB directory", dir, name);
	if ((rc = read_counter(nr_path, &total, err)) < 0 ||
	    (rc = read_counter(free_path, &free, err)) < 0)
		return rc;
	if (free > total)
		return err_ret(err, -EINVAL, "%s: %" PRIu64 " free of %" PRIu64 " pages", free_path,
		               free, total);
	rc = host_node_add_pool(n, page_kib, total, free);
	if (rc < 0)
		return err_ret(err, rc, "%s/%s: %s", dir, name, g_strerror(-rc));
	return 0;
}

/* Reads nodeN/hugepages/; a node without the directory simply has no pools
 * (a kernel built without hugetlbfs). */
static int read_pools(struct host_node *n, const char *node_path, char **err)
{
	g_autofree char *dir = g_build_filename(node_path, "hugepages", NULL);
	g_autoptr(GError) gerr = NULL;
	GDir *d;
	const char *name;
	int rc = 0;

	if (!g_file_test(dir, G_FILE_TEST_EXISTS))
		return 0;
	d = g_dir_open(dir, 0, &gerr);
	if (d == NULL)
		return err_ret(err, -EIO, "%s: %s", dir, gerr->message);
	while (rc == 0 && (name = g_dir_read_name(d)) != NULL)
		rc = read_pool(n, dir, name, err);
	g_dir_close(d);
	return rc;
}

/* One "Node N Key: value kB" line of nodeN/meminfo, or -EINVAL. */
static int meminfo_line(const char *line, unsigned id, const char *key, uint64_t *kib)
{
	g_autofree char *prefix = g_strdup_printf("Node %u %s:", id, key);
	g_auto(GStrv) words = NULL;
	guint64 value;

	if (!g_str_has_prefix(line, prefix))
		return -ENOENT;
	words = g_strsplit_set(line + strlen(prefix), " \t", -1);
	for (char **w = words; *w != NULL; w++) {
		if (**w == '\0')
			continue;
		if (!g_ascii_string_to_unsigned(*w, 10, 0, UINT64_MAX / 1024, &value, NULL) ||
		    w[1] == NULL || strcmp(w[1], "kB") != 0)
			return -EINVAL;
		*kib = value;
		return 0;
	}
	return -EINVAL;
}

static int read_meminfo(const char *node_path, unsigned id, uint64_t *total, uint64_t *free,
                        char **err)
{
	g_autofree char *path = g_build_filename(node_path, "meminfo", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) gerr = NULL;
	g_auto(GStrv) lines = NULL;
	bool have_total = false, have_free = false;

	if (!g_file_get_contents(path, &text, NULL, &gerr))
		return err_ret(err, -ENOENT, "%s: %s", path, gerr->message);
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l != NULL; l++) {
		int rt = meminfo_line(*l, id, "MemTotal", total);
		int rf = meminfo_line(*l, id, "MemFree", free);

		if (rt == -EINVAL || rf == -EINVAL)
			return err_ret(err, -EINVAL, "%s: malformed line \"%.64s\"", path, *l);
		have_total |= rt == 0;
		have_free |= rf == 0;
	}
	if (!have_total || !have_free)
		return err_ret(err, -EINVAL, "%s: no \"Node %u %s:\" line", path, id,
		               have_total ? "MemFree" : "MemTotal");
	if (*free > *total)
		return err_ret(err, -EINVAL, "%s: MemFree exceeds MemTotal", path);
	return 0;
}

/* "node12" -> 12; -1 for other entries (cpu lists, power/, has_memory...). */
static long node_dir_id(const char *name)
{
	guint64 id;

	if (!g_str_has_prefix(name, "node"))
		return -1;
	if (!g_ascii_string_to_unsigned(name + 4, 10, 0, NODESET_MAX - 1, &id, NULL))
		return -1;
	return (long)id;
}

/* A kernel list file ("0-3,8\n"; "\n" for an empty list) into `out`;
 * *present false when the file does not exist. */
static int read_list(const char *path, struct nodeset *out, bool *present, char **err)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) gerr = NULL;
	char *why = NULL;
	int rc;

	nodeset_clear_all(out);
	*present = g_file_test(path, G_FILE_TEST_EXISTS);
	if (!*present)
		return 0;
	if (!g_file_get_contents(path, &text, NULL, &gerr))
		return err_ret(err, -EIO, "%s: %s", path, gerr->message);
	g_strstrip(text);
	if (*text == '\0')
		return 0;
	rc = nodeset_parse(text, out, &why);
	if (rc < 0)
		err_set(err, "%s: %s", path, why ? why : "not a list");
	free(why);
	return rc;
}

/* nodeN/cpulist; a tree without the file (an older fabricated one) gives a
 * CPU-less node and a warning. */
static int read_cpulist(struct host *h, struct host_node *n, const char *node_path, char **err)
{
	g_autofree char *path = g_build_filename(node_path, "cpulist", NULL);
	bool present;
	int rc = read_list(path, &n->cpus, &present, err);

	if (rc == 0 && !present)
		host_warn(h, "%s: missing; node %u taken as CPU-less", path, n->id);
	return rc;
}

static int read_node_dir(struct host *h, const char *dir, unsigned id, char **err)
{
	g_autofree char *node_path = g_strdup_printf("%s/node%u", dir, id);
	uint64_t total = 0, free = 0;
	struct host_node *n;
	int rc;

	rc = read_meminfo(node_path, id, &total, &free, err);
	if (rc < 0)
		return rc;
	n = host_add_node(h, id, total, free);
	if (n == NULL)
		return err_ret(err, -ENOMEM, "%s: cannot add node %u", node_path, id);
	if ((rc = read_cpulist(h, n, node_path, err)) < 0)
		return rc;
	return read_pools(n, node_path, err);
}

/* nodeN/distance: one value per node, in the order of the node ids, as the
 * kernel prints the SLIT row. */
static int read_distance_row(struct host *h, const char *dir, size_t i, char **err)
{
	g_autofree char *path = g_strdup_printf("%s/node%u/distance", dir, h->nodes[i].id);
	g_autofree char *text = NULL;
	g_auto(GStrv) words = NULL;
	size_t n = 0;
	guint64 v;

	if (!g_file_get_contents(path, &text, NULL, NULL)) {
		host_warn(h, "%s: missing; the distances from node %u are unknown", path,
		          h->nodes[i].id);
		return 0;
	}
	words = g_strsplit_set(g_strstrip(text), " \t", -1);
	for (char **w = words; *w != NULL; w++) {
		if (**w == '\0')
			continue;
		if (!g_ascii_string_to_unsigned(*w, 10, 1, UINT_MAX, &v, NULL))
			return err_ret(err, -EINVAL, "%s: \"%.32s\" is not a distance", path, *w);
		if (n < h->n_nodes)
			h->dist[i * h->n_nodes + n] = (unsigned)v;
		n++;
	}
	if (n != h->n_nodes)
		return err_ret(err, -EINVAL, "%s: %zu distances for %zu nodes", path, n,
		               h->n_nodes);
	return 0;
}

/* memory_tierN/nodelist of every tier under `dir` (absent: the kernel has
 * no memory tiering, tiers stay unknown). */
int host_read_tiers(struct host *h, const char *dir, char **err)
{
	const char *root = dir ? dir : HOST_SYSFS_TIERS;
	GDir *d = g_dir_open(root, 0, NULL);
	const char *name;
	int rc = 0;

	if (d == NULL)
		return 0;
	for (size_t i = 0; i < h->n_nodes; i++)
		h->nodes[i].tier = -1;
	while (rc == 0 && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = g_build_filename(root, name, "nodelist", NULL);
		struct nodeset nodes;
		guint64 tier;
		bool present;

		if (!g_str_has_prefix(name, "memory_tier") ||
		    !g_ascii_string_to_unsigned(name + strlen("memory_tier"), 10, 0, INT_MAX, &tier,
		                                NULL))
			continue;
		rc = read_list(path, &nodes, &present, err);
		for (size_t i = 0; rc == 0 && i < h->n_nodes; i++) {
			struct host_node *n = &h->nodes[i];

			if (!nodeset_test(&nodes, n->id))
				continue;
			if (n->tier >= 0)
				host_warn(h, "node %u is in memory_tier%d and memory_tier%u", n->id,
				          n->tier, (unsigned)tier);
			n->tier = n->tier >= 0 && n->tier < (int)tier ? n->tier : (int)tier;
		}
	}
	g_dir_close(d);
	return rc;
}

static int read_node_dirs(struct host *h, const char *dir, char **err)
{
	g_autoptr(GError) gerr = NULL;
	GDir *d = g_dir_open(dir, 0, &gerr);
	const char *name;
	int rc = 0;

	if (d == NULL)
		return err_ret(err, -ENOENT, "%s: %s", dir, gerr->message);
	while (rc == 0 && (name = g_dir_read_name(d)) != NULL) {
		long id = node_dir_id(name);

		if (id >= 0)
			rc = read_node_dir(h, dir, (unsigned)id, err);
	}
	g_dir_close(d);
	if (rc == 0 && h->n_nodes == 0)
		rc = err_ret(err, -ENOENT, "%s: no nodeN directory", dir);
	for (size_t i = 0; rc == 0 && i < h->n_nodes; i++)
		rc = read_distance_row(h, dir, i, err);
	return rc;
}

int host_snapshot_at(const char *node_dir, struct host **out, char **err)
{
	g_autofree char *tiers = g_build_filename(node_dir, HOST_SYSFS_TIERS_FROM_NODES, NULL);
	struct host *h = host_new();
	int rc;

	if (h == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	h->source = HOST_SOURCE_SYSFS;
	rc = read_node_dirs(h, node_dir, err);
	if (rc == 0)
		rc = host_read_tiers(h, tiers, err);
	if (rc < 0) {
		host_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

/* libnuma's CPU mask of a node into n->cpus. */
static int snapshot_cpus(struct host_node *n, struct bitmask *mask, char **err)
{
	if (numa_node_to_cpus((int)n->id, mask) < 0)
		return err_ret(err, -errno, "libnuma: cannot read the CPUs of node %u: %s", n->id,
		               g_strerror(errno));
	for (unsigned cpu = 0; cpu < mask->size; cpu++) {
		if (!numa_bitmask_isbitset(mask, cpu))
			continue;
		if (cpu >= NODESET_MAX)
			return err_ret(err, -ERANGE,
			               "node %u: CPU %u is beyond the %d this build handles", n->id,
			               cpu, NODESET_MAX);
		nodeset_set(&n->cpus, cpu);
	}
	return 0;
}

/* One node as libnuma sees it, plus its sysfs hugepage pools. */
static int snapshot_node(struct host *h, int id, struct bitmask *mask, char **err)
{
	g_autofree char *node_path = g_strdup_printf(HOST_SYSFS_NODES "/node%d", id);
	long long free_bytes = 0;
	long long total_bytes = numa_node_size64(id, &free_bytes);
	struct host_node *n;
	int rc;

	if (total_bytes < 0)
		return err_ret(err, -EIO, "libnuma: cannot read the size of node %d", id);
	n = host_add_node(h, (unsigned)id, (uint64_t)total_bytes / 1024,
	                  (uint64_t)(free_bytes < 0 ? 0 : free_bytes) / 1024);
	if (n == NULL)
		return err_ret(err, -ENOMEM, "cannot add node %d", id);
	if ((rc = snapshot_cpus(n, mask, err)) < 0)
		return rc;
	return read_pools(n, node_path, err);
}

/* libnuma's SLIT; 0 (unknown) stays where it has none. */
static void snapshot_distances(struct host *h)
{
	for (size_t i = 0; i < h->n_nodes; i++)
		for (size_t j = 0; j < h->n_nodes; j++) {
			int d = numa_distance((int)h->nodes[i].id, (int)h->nodes[j].id);

			h->dist[i * h->n_nodes + j] = d > 0 ? (unsigned)d : 0;
		}
}

static int snapshot_nodes(struct host *h, char **err)
{
	struct bitmask *mask = numa_allocate_cpumask();
	int rc = 0;

	if (mask == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	for (int id = 0; rc == 0 && id <= numa_max_node(); id++)
		if (numa_bitmask_isbitset(numa_nodes_ptr, (unsigned)id))
			rc = snapshot_node(h, id, mask, err);
	numa_free_cpumask(mask);
	if (rc == 0 && h->n_nodes == 0)
		rc = err_ret(err, -ENOENT, "libnuma: no NUMA node found");
	if (rc == 0)
		snapshot_distances(h);
	return rc;
}

int host_snapshot(struct host **out, char **err)
{
	struct host *h;
	int rc;

	if (numa_available() < 0)
		return err_ret(err, -ENOTSUP, "libnuma: this kernel has no NUMA support");
	h = host_new();
	if (h == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	h->source = HOST_SOURCE_LOCAL;
	rc = snapshot_nodes(h, err);
	if (rc == 0)
		rc = host_read_tiers(h, NULL, err);
	if (rc < 0) {
		host_free(h);
		return rc;
	}
	*out = h;
	return 0;
}
