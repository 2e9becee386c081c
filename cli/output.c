/*
 * Renders command data for people (text tables) or for programs (JSON).
 * The renderers only read the json-c objects the commands produce; a field
 * of the wrong shape renders as "-" rather than crashing the CLI.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "policy.h"
#include "record.h"
#include "size.h"

struct table {
	size_t n_cols;
	size_t n_rows;
	char **cells; /* n_rows + 1 rows (headers first), n_cols each */
	size_t *width;
};

struct table *table_new(size_t n_cols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort();
	t->n_cols = n_cols;
	t->width = calloc(n_cols, sizeof(*t->width));
	if (t->width == NULL)
		abort();
	table_add(t, headers);
	t->n_rows = 0;
	return t;
}

void table_add(struct table *t, const char *const *cells)
{
	size_t row = t->n_rows + (t->cells ? 1 : 0);

	t->cells = reallocarray(t->cells, (row + 1) * t->n_cols, sizeof(char *));
	if (t->cells == NULL)
		abort();
	for (size_t c = 0; c < t->n_cols; c++) {
		const char *s = cells[c] ? cells[c] : "-";
		size_t len = strlen(s);

		t->cells[row * t->n_cols + c] = strdup(s);
		if (t->cells[row * t->n_cols + c] == NULL)
			abort();
		if (len > t->width[c])
			t->width[c] = len;
	}
	if (row > 0)
		t->n_rows++;
}

void table_print(const struct table *t, FILE *out)
{
	for (size_t r = 0; r <= t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *s = t->cells[r * t->n_cols + c];

			if (c + 1 == t->n_cols)
				fprintf(out, "%s\n", s);
			else
				fprintf(out, "%-*s  ", (int)t->width[c], s);
		}
	}
}

void table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < (t->n_rows + 1) * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

/* The length of an array; 0 for anything else (json-c asserts). */
static size_t arr_len(json_object *v)
{
	return json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o && json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* str() for printing: "-" when missing. */
static const char *txt(json_object *o, const char *key)
{
	const char *s = str(o, key);

	return s ? s : "-";
}

static int64_t num(json_object *o, const char *key)
{
	return json_object_get_int64(get(o, key));
}

const char *output_kib(json_object *v, char *buf, size_t len)
{
	if (!json_object_is_type(v, json_type_int))
		return "-";
	if (json_object_get_uint64(v) == 0)
		return "0";
	return size_format(json_object_get_uint64(v), buf, len);
}

static const char *kib(json_object *o, const char *key, char *buf)
{
	return output_kib(get(o, key), buf, SIZE_FORMAT_MAX);
}

/* "3 x 512 MiB + 256 MiB" for a list of sizes in KiB, runs grouped. */
static char *dimm_list(json_object *arr)
{
	size_t n = arr_len(arr);
	char *out = strdup("");

	for (size_t i = 0; i < n && out;) {
		uint64_t v = json_object_get_uint64(json_object_array_get_idx(arr, i));
		size_t run = 1;
		char sz[SIZE_FORMAT_MAX], *next;
		int rc;

		while (i + run < n &&
		       json_object_get_uint64(json_object_array_get_idx(arr, i + run)) == v)
			run++;
		size_format(v, sz, sizeof(sz));
		if (run > 1)
			rc = asprintf(&next, "%s%s%zu x %s", out, *out ? " + " : "", run, sz);
		else
			rc = asprintf(&next, "%s%s%s", out, *out ? " + " : "", sz);
		free(out);
		out = rc < 0 ? NULL : next;
		i += run;
	}
	return out;
}

/* How a host source is named where it left free pages unknown. */
static const char *host_source_phrase(const char *source)
{
	return source && strcmp(source, "caps") == 0 ? "capabilities file" : source ? source : "-";
}

/* A hugepage pool that cannot back the planned DIMMs drawing on it now. */
static void render_plan_shortfall(FILE *out, json_object *x)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], e[SIZE_FORMAT_MAX];
	const char *guest = txt(x, "guest_nodes"), *host = txt(x, "host_nodes");
	bool one = strpbrk(guest, ",-") == NULL, one_host = strpbrk(host, ",-") == NULL;

	if (strcmp(txt(x, "checked"), "total") == 0) {
		fprintf(out,
		        "Hugepages short: guest node%s %s need%s %s in %s pages at full size (%s "
		        "of "
		        "it planned) on host node%s %s, whose pool%s hold%s %s in all (free pages "
		        "unknown: %s): reserve at least %" PRId64 " more pages before growing %s\n",
		        one ? "" : "s", guest, one ? "s" : "", kib(x, "full_kib", a),
		        kib(x, "page_size_kib", b), kib(x, "planned_kib", c), one_host ? "" : "s",
		        host, one_host ? "" : "s", one_host ? "s" : "", kib(x, "total_kib", e),
		        host_source_phrase(str(x, "host_source")), num(x, "missing_pages"),
		        one ? "it" : "them");
		return;
	}
	fprintf(out,
	        "Hugepages short: guest node%s %s plan%s %s in %s pages on host node%s %s, which "
	        "ha%s %s of them free: reserve %" PRId64 " more pages before growing %s\n",
	        one ? "" : "s", guest, one ? "s" : "", kib(x, "planned_kib", a),
	        kib(x, "page_size_kib", b), one_host ? "" : "s", host, one_host ? "s" : "ve",
	        kib(x, "free_kib", c), num(x, "missing_pages"), one ? "it" : "them");
}

/* Worded as grow and shrink word it: "host not checked: free ... unknown". */
static void render_plan_unchecked(FILE *out, json_object *x)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], e[SIZE_FORMAT_MAX];
	const char *guest = txt(x, "guest_nodes"), *host = txt(x, "host_nodes");
	bool one = strpbrk(guest, ",-") == NULL, one_host = strpbrk(host, ",-") == NULL;

	fprintf(out,
	        "Hugepages not checked: free %s hugepages on host node%s %s unknown (%s); guest "
	        "node%s %s plan%s %s more, %s at full size, in a pool of %s\n",
	        kib(x, "page_size_kib", a), one_host ? "" : "s", host,
	        host_source_phrase(str(x, "host_source")), one ? "" : "s", guest, one ? "s" : "",
	        kib(x, "planned_kib", b), kib(x, "full_kib", c), kib(x, "total_kib", e));
}

/* A node of the DIMM slot layout: one without "model" comes from an agent
 * that knew DIMMs only. */
static bool plan_node_dimm(json_object *n)
{
	return str(n, "model") == NULL || strcmp(str(n, "model"), "dimm") == 0;
}

/* The slot layout: the nodes that grow by DIMMs. */
static void render_plan_dimms(FILE *out, json_object *nodes)
{
	static const char *const hdr[] = {"NODE",       "CPUS", "BOOT",  "PLUGGED", "PAGE",
	                                  "HOST NODES", "MODE", "DIMMS", "PLANNED"};
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], e[SIZE_FORMAT_MAX];
	struct table *t = table_new(9, hdr);

	for (size_t i = 0; i < arr_len(nodes); i++) {
		json_object *n = json_object_array_get_idx(nodes, i);
		char *dimms = dimm_list(get(n, "dimms_kib"));
		char id[16];
		const char *row[9];

		if (!plan_node_dimm(n)) {
			free(dimms);
			continue;
		}
		snprintf(id, sizeof(id), "%" PRId64, num(n, "id"));
		row[0] = id;
		row[1] = str(n, "cpus") ? str(n, "cpus") : "(none)";
		row[2] = kib(n, "boot_kib", a);
		row[3] = kib(n, "plugged_kib", b);
		row[4] = kib(n, "page_size_kib", c);
		row[5] = str(n, "host_nodes");
		row[6] = str(n, "mode");
		row[7] = dimms && *dimms ? dimms : "-";
		row[8] = kib(n, "planned_kib", e);
		table_add(t, row);
		free(dimms);
	}
	table_print(t, out);
	table_free(t);
}

/* The nodes that grow through their virtio-mem device: no slots, no DIMMs;
 * PLUGGED is what the guest has (current, else requested), ROOM what the
 * device can still take. */
static void render_plan_vmem(FILE *out, json_object *nodes)
{
	static const char *const hdr[] = {"NODE",      "PLUGGED", "PAGE",  "HOST NODES",
	                                  "MODE",      "DEVICE",  "BLOCK", "SIZE",
	                                  "REQUESTED", "CURRENT", "ROOM"};
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], e[SIZE_FORMAT_MAX],
	        f[SIZE_FORMAT_MAX], g[SIZE_FORMAT_MAX], h[SIZE_FORMAT_MAX];
	struct table *t = table_new(11, hdr);

	for (size_t i = 0; i < arr_len(nodes); i++) {
		json_object *n = json_object_array_get_idx(nodes, i), *v = get(n, "virtio_mem");
		char id[16];
		const char *row[11];

		if (plan_node_dimm(n))
			continue;
		snprintf(id, sizeof(id), "%" PRId64, num(n, "id"));
		row[0] = id;
		row[1] = kib(n, "plugged_kib", a);
		row[2] = kib(n, "page_size_kib", b);
		row[3] = str(n, "host_nodes");
		row[4] = str(n, "mode");
		row[5] = v == NULL ? "(none)" : str(v, "alias") ? str(v, "alias") : "(no alias)";
		row[6] = kib(v, "block_kib", c);
		row[7] = kib(v, "size_kib", e);
		row[8] = kib(v, "requested_kib", f);
		row[9] = kib(v, "current_kib", g);
		row[10] = kib(v, "room_kib", h);
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
}

/* Forced virtio-mem on a node without a device: a grow there is refused. */
static void render_plan_no_device(FILE *out, json_object *nodes)
{
	for (size_t i = 0; i < arr_len(nodes); i++) {
		json_object *n = json_object_array_get_idx(nodes, i);

		if (!plan_node_dimm(n) && get(n, "virtio_mem") == NULL)
			fprintf(out,
			        "Node %" PRId64
			        " has no virtio-mem device: a grow there is refused; "
			        "add one with prepare --model virtio-mem\n",
			        num(n, "id"));
	}
}

static void render_plan(FILE *out, json_object *d)
{
	json_object *nodes = get(d, "nodes");
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX];
	size_t n_dimm = 0;

	for (size_t i = 0; i < arr_len(nodes); i++)
		n_dimm += plan_node_dimm(json_object_array_get_idx(nodes, i));
	fprintf(out, "Domain %s: memory %s of maximum %s, %" PRId64 " of %" PRId64 " slots free\n",
	        txt(d, "domain"), kib(d, "memory_kib", a), kib(d, "max_memory_kib", b),
	        num(d, "free_slots"), num(d, "slots"));
	fprintf(out, "Strategy %s: %s headroom in %" PRId64 " DIMMs\n", txt(d, "strategy"),
	        kib(d, "headroom_kib", c), num(d, "planned_slots"));
	if (str(d, "model_forced_by"))
		fprintf(out, "Model %s on every node, forced by %s\n", txt(d, "device_model"),
		        txt(d, "model_forced_by"));
	if (n_dimm > 0) {
		fputc('\n', out);
		render_plan_dimms(out, nodes);
	}
	if (n_dimm < arr_len(nodes)) {
		fprintf(out, "\nGrowing through virtio-mem (no slots, no DIMMs):\n");
		render_plan_vmem(out, nodes);
		render_plan_no_device(out, nodes);
	}
	fprintf(out, "\nReachable %s, unreachable %s", kib(d, "reachable_kib", a),
	        kib(d, "unreachable_kib", b));
	if (str(d, "unreachable_reason"))
		fprintf(out, " (%s)", txt(d, "unreachable_reason"));
	fputc('\n', out);
	if (n_dimm < arr_len(nodes))
		fprintf(out, "virtio-mem room %s: what the devices can still take\n",
		        kib(d, "virtio_mem_room_kib", a));
	for (size_t i = 0; i < arr_len(get(d, "hugepage_shortfalls")); i++)
		render_plan_shortfall(out,
		                      json_object_array_get_idx(get(d, "hugepage_shortfalls"), i));
	for (size_t i = 0; i < arr_len(get(d, "hugepages_unchecked")); i++)
		render_plan_unchecked(out,
		                      json_object_array_get_idx(get(d, "hugepages_unchecked"), i));
}

static void render_cells(FILE *out, json_object *cells)
{
	static const char *const hdr[] = {"CELL",      "CPUS",       "MEMORY", "PLUGGED",   "PAGE",
	                                  "PAGE FROM", "HOST NODES", "MODE",   "NODES FROM"};
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX];
	struct table *t = table_new(9, hdr);

	for (size_t i = 0; i < arr_len(cells); i++) {
		json_object *n = json_object_array_get_idx(cells, i);
		json_object *bk = get(n, "backing");
		char id[16];
		const char *row[9];

		snprintf(id, sizeof(id), "%" PRId64, num(n, "id"));
		row[0] = id;
		row[1] = str(n, "cpus") ? str(n, "cpus") : "(none)";
		row[2] = kib(n, "memory_kib", a);
		row[3] = kib(n, "plugged_kib", b);
		row[4] = kib(bk, "page_size_kib", c);
		row[5] = str(bk, "page_source");
		row[6] = json_object_get_boolean(get(bk, "auto_placement")) ? "(numad)"
		                                                            : str(bk, "host_nodes");
		row[7] = str(bk, "mode");
		row[8] = str(bk, "nodes_source");
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
}

/* One line per guest node that grows through a virtio-mem device. */
static void render_vmem_nodes(FILE *out, json_object *cells)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], e[SIZE_FORMAT_MAX];

	for (size_t i = 0; i < arr_len(cells); i++) {
		json_object *n = json_object_array_get_idx(cells, i), *v = get(n, "virtio_mem");

		if (v == NULL)
			continue;
		fprintf(out,
		        "Cell %" PRId64 " grows by virtio-mem device %s: %s requested of %s, %s "
		        "current, %s blocks\n",
		        num(n, "id"), str(v, "alias") ? str(v, "alias") : "(no alias)",
		        kib(v, "requested_kib", a), kib(v, "size_kib", b), kib(v, "current_kib", c),
		        kib(v, "block_kib", e));
	}
}

static void render_devices(FILE *out, json_object *devs)
{
	static const char *const hdr[] = {"MODEL", "ALIAS", "NODE", "SIZE", "SLOT", "BASE"};
	char a[SIZE_FORMAT_MAX];
	struct table *t = table_new(6, hdr);

	for (size_t i = 0; i < arr_len(devs); i++) {
		json_object *d = json_object_array_get_idx(devs, i);
		char node[16] = "-", slot[16] = "-", base[32] = "-";
		const char *row[6];

		if (get(d, "node"))
			snprintf(node, sizeof(node), "%" PRId64, num(d, "node"));
		if (get(d, "slot"))
			snprintf(slot, sizeof(slot), "%" PRId64, num(d, "slot"));
		if (get(d, "base"))
			snprintf(base, sizeof(base), "0x%" PRIx64,
			         json_object_get_uint64(get(d, "base")));
		row[0] = str(d, "model");
		row[1] = str(d, "alias");
		row[2] = node;
		row[3] = kib(d, "size_kib", a);
		row[4] = slot;
		row[5] = base;
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
}

/* Host memory moves all the time: one decimal is what a person needs. */
static const char *approx(json_object *o, const char *key, char *buf)
{
	json_object *v = get(o, key);
	double kib = (double)json_object_get_uint64(v);

	if (!json_object_is_type(v, json_type_int))
		return "-";
	if (kib >= 1024.0 * 1024.0)
		snprintf(buf, SIZE_FORMAT_MAX, "%.1f GiB", kib / (1024.0 * 1024.0));
	else
		snprintf(buf, SIZE_FORMAT_MAX, "%.0f MiB", kib / 1024.0);
	return buf;
}

/* "2 MiB: 500/512, 1 GiB: ?/4": free/total pages per pool, "?" unknown. */
static void host_pools(json_object *pools, char *buf, size_t len)
{
	char c[SIZE_FORMAT_MAX], f[32];

	*buf = '\0';
	for (size_t j = 0; j < arr_len(pools); j++) {
		json_object *p = json_object_array_get_idx(pools, j);
		size_t used = strlen(buf);

		if (get(p, "free"))
			snprintf(f, sizeof(f), "%" PRId64, num(p, "free"));
		else
			snprintf(f, sizeof(f), "?");
		snprintf(buf + used, len - used, "%s%s: %s/%" PRId64, j ? ", " : "",
		         kib(p, "page_kib", c), f, num(p, "total"));
	}
}

static void render_host_nodes(FILE *out, json_object *nodes)
{
	static const char *const hdr[] = {"HOST NODE", "CPUS", "TIER",
	                                  "TOTAL",     "FREE", "HUGEPAGES (free/total)"};
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
	struct table *t = table_new(6, hdr);

	for (size_t i = 0; i < arr_len(nodes); i++) {
		json_object *n = json_object_array_get_idx(nodes, i);
		char id[16], tier[16], pagebuf[256];
		const char *row[6];

		host_pools(get(n, "hugepages"), pagebuf, sizeof(pagebuf));
		snprintf(id, sizeof(id), "%" PRId64, num(n, "id"));
		snprintf(tier, sizeof(tier), "%" PRId64, num(n, "tier"));
		row[0] = id;
		row[1] = str(n, "cpus") ? str(n, "cpus") : "(none)";
		row[2] = get(n, "tier") ? tier : "-";
		row[3] = approx(n, "total_kib", a);
		row[4] = get(n, "free_kib") ? approx(n, "free_kib", b) : "unknown";
		row[5] = *pagebuf ? pagebuf : "-";
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
}

/* The SLIT as numactl prints it: one row per node, "-" where unknown. */
static void render_host_distances(FILE *out, json_object *nodes)
{
	size_t n = arr_len(nodes), known = 0;
	const char **row = calloc(n + 1, sizeof(*row));
	char(*ids)[16] = calloc(n + 1, sizeof(*ids));
	char(*vals)[16] = calloc(n + 1, sizeof(*vals));
	struct table *t;

	if (row == NULL || ids == NULL || vals == NULL)
		abort();
	row[0] = "DISTANCE";
	for (size_t j = 0; j < n; j++) {
		snprintf(ids[j + 1], sizeof(ids[0]), "%" PRId64,
		         num(json_object_array_get_idx(nodes, j), "id"));
		row[j + 1] = ids[j + 1];
	}
	t = table_new(n + 1, row);
	for (size_t i = 0; i < n; i++) {
		json_object *d = get(json_object_array_get_idx(nodes, i), "distances");

		row[0] = ids[i + 1];
		for (size_t j = 0; j < n; j++) {
			json_object *v = get(d, ids[j + 1]);

			snprintf(vals[j + 1], sizeof(vals[0]), "%" PRId64,
			         json_object_get_int64(v));
			row[j + 1] = v ? vals[j + 1] : "-";
			known += v != NULL;
		}
		table_add(t, row);
	}
	if (known > 0)
		table_print(t, out);
	else
		fprintf(out, "Distances unknown: the source gives none\n");
	table_free(t);
	free(row);
	free(ids);
	free(vals);
}

static void render_host(FILE *out, json_object *host)
{
	json_object *warnings = get(host, "warnings");

	fprintf(out, "Host (from %s)%s\n", txt(host, "source"),
	        strcmp(txt(host, "source"), "caps") == 0 ? ": free memory unknown" : "");
	render_host_nodes(out, get(host, "nodes"));
	fputc('\n', out);
	render_host_distances(out, get(host, "nodes"));
	for (size_t i = 0; i < arr_len(warnings); i++)
		fprintf(out, "Host warning: %s\n",
		        json_object_get_string(json_object_array_get_idx(warnings, i)));
}

/* "dimm 128 MiB on guest node 1 as dimm2 in slot 2" */
static void drift_device(FILE *out, const char *where, json_object *dev)
{
	char a[SIZE_FORMAT_MAX];

	fprintf(out, "  %s: %s %s", where, txt(dev, "model"), kib(dev, "size_kib", a));
	if (get(dev, "node"))
		fprintf(out, " on guest node %" PRId64, num(dev, "node"));
	if (str(dev, "alias"))
		fprintf(out, " as %s", str(dev, "alias"));
	if (get(dev, "slot"))
		fprintf(out, " in slot %" PRId64, num(dev, "slot"));
	fputc('\n', out);
}

/* One line per device or requested size on which the definitions differ. */
static void render_drift_lines(FILE *out, json_object *drift)
{
	json_object *live = get(drift, "only_live"), *config = get(drift, "only_config");
	json_object *req = get(drift, "requested");
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

	for (size_t i = 0; i < arr_len(live); i++)
		drift_device(out, "only in the running guest (gone when it stops)",
		             json_object_array_get_idx(live, i));
	for (size_t i = 0; i < arr_len(config); i++)
		drift_device(out, "only in the definition (back at the next start)",
		             json_object_array_get_idx(config, i));
	for (size_t i = 0; i < arr_len(req); i++) {
		json_object *r = json_object_array_get_idx(req, i);

		fprintf(out, "  virtio-mem %s", txt(r, "alias"));
		if (get(r, "node"))
			fprintf(out, " on guest node %" PRId64, num(r, "node"));
		fprintf(out, ": requested %s live, %s in the definition (the next start's)\n",
		        kib(r, "live_kib", a), kib(r, "config_kib", b));
	}
}

static void render_drift(FILE *out, json_object *drift)
{
	if (drift == NULL)
		return;
	if (json_object_get_boolean(get(drift, "in_sync"))) {
		fprintf(out, "\nDrift: none, the running guest and its persistent definition have "
		             "the same memory devices\n");
		return;
	}
	fprintf(out, "\nDrift: the running guest and its persistent definition differ\n");
	render_drift_lines(out, drift);
}

static void render_inspect(FILE *out, json_object *d)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX];

	fprintf(out, "Domain %s (%s)\n", str(d, "domain"),
	        str(d, "uuid") ? str(d, "uuid") : "no uuid");
	fprintf(out, "Memory %s (boot %s), maximum %s\n", kib(d, "memory_kib", a),
	        kib(d, "boot_kib", b), kib(d, "max_memory_kib", c));
	fprintf(out, "Slots %" PRId64 " used of %" PRId64 ", headroom %s\n", num(d, "used_slots"),
	        num(d, "slots"), kib(d, "headroom_kib", a));
	if (!json_object_get_boolean(get(d, "hotplug")))
		fprintf(out, "Hotplug not possible: %s\n", txt(d, "hotplug_problem"));
	fputc('\n', out);
	render_cells(out, get(d, "cells"));
	render_vmem_nodes(out, get(d, "cells"));
	if (arr_len(get(d, "devices")) > 0) {
		fputc('\n', out);
		render_devices(out, get(d, "devices"));
	}
	render_drift(out, get(d, "drift"));
	if (get(d, "host")) {
		fputc('\n', out);
		render_host(out, get(d, "host"));
	}
}

/* The DRIFT column: "-" when not compared. */
static const char *drift_cell(json_object *drift)
{
	if (drift == NULL)
		return "-";
	return json_object_get_boolean(get(drift, "in_sync")) ? "none" : "yes";
}

/* After the table: what differs, per domain. */
static void render_status_drift(FILE *out, json_object *doms)
{
	for (size_t i = 0; i < arr_len(doms); i++) {
		json_object *dom = json_object_array_get_idx(doms, i);
		json_object *drift = get(dom, "drift");

		if (drift == NULL || json_object_get_boolean(get(drift, "in_sync")))
			continue;
		fprintf(out,
		        "\nDrift in %s: the running guest and its persistent definition differ\n",
		        txt(dom, "name"));
		render_drift_lines(out, drift);
	}
}

static void render_status(FILE *out, json_object *d)
{
	static const char *const hdr[] = {"DOMAIN",   "STATE",      "MEMORY", "MAXIMUM",
	                                  "PER NODE", "OPERATIONS", "DRIFT"};
	json_object *doms = get(d, "domains");
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
	struct table *t = table_new(7, hdr);

	fprintf(out, "memplugd %s, up %" PRId64 " s, %" PRId64 " operations done\n",
	        txt(d, "version"), num(d, "uptime_s"), num(d, "operations_done"));
	fprintf(out, "libvirt %s: %s, %" PRId64 " reconnects\n", str(d, "uri"),
	        json_object_get_boolean(get(d, "connected")) ? "connected" : "DISCONNECTED",
	        num(d, "reconnects"));
	fprintf(out, "audit log %s%s\n\n", str(get(d, "audit"), "path"),
	        json_object_get_boolean(get(get(d, "audit"), "writable")) ? "" : " (NOT WRITABLE)");
	for (size_t i = 0; i < arr_len(doms); i++) {
		json_object *dom = json_object_array_get_idx(doms, i);
		json_object *nodes = get(dom, "nodes"), *queue = get(dom, "queue");
		char pernode[512] = "", ops[512] = "";
		const char *row[7];

		for (size_t j = 0; j < arr_len(nodes); j++) {
			json_object *n = json_object_array_get_idx(nodes, j);
			size_t used = strlen(pernode);

			snprintf(pernode + used, sizeof(pernode) - used, "%s%" PRId64 ":%s",
			         j ? " " : "", num(n, "id"), kib(n, "kib", a));
		}
		for (size_t j = 0; j < arr_len(queue); j++) {
			json_object *q = json_object_array_get_idx(queue, j);
			size_t used = strlen(ops);

			snprintf(ops + used, sizeof(ops) - used, "%s%s %s %s (%s)", j ? ", " : "",
			         str(q, "request"), str(q, "op"), kib(q, "size_kib", b),
			         str(q, "state"));
		}
		row[0] = str(dom, "name");
		row[1] = json_object_get_boolean(get(dom, "active")) ? "running" : "shut off";
		row[2] = kib(dom, "memory_kib", a);
		row[3] = kib(dom, "max_memory_kib", b);
		row[4] = *pernode ? pernode : str(dom, "problem");
		row[5] = *ops ? ops : "-";
		row[6] = drift_cell(get(dom, "drift"));
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
	render_status_drift(out, doms);
}

/* virtio-mem's word for a DIMM verb: a device is plugged, not attached. */
static const char *vmem_verb(const char *verb)
{
	bool would = strncmp(verb, "would ", 6) == 0;
	bool add = strstr(verb, "attach") != NULL;

	return would ? (add ? "would plug" : "would unplug") : (add ? "plugged" : "unplugged");
}

static void render_dimms(FILE *out, const char *verb, json_object *list)
{
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

	for (size_t i = 0; i < arr_len(list); i++) {
		json_object *x = json_object_array_get_idx(list, i);

		if (str(x, "model") && strcmp(str(x, "model"), "virtio-mem") == 0) {
			char c[SIZE_FORMAT_MAX], e[SIZE_FORMAT_MAX];

			fprintf(out,
			        "  %s %s on guest node %" PRId64 " through virtio-mem device %s: "
			        "requested %s -> %s, current %s\n",
			        vmem_verb(verb), kib(x, "size_kib", a), num(x, "node"),
			        str(x, "alias") ? str(x, "alias") : "(no alias)",
			        kib(x, "from_kib", b), kib(x, "requested_kib", c),
			        get(x, "current_kib") ? kib(x, "current_kib", e) : "unknown");
			continue;
		}
		fprintf(out, "  %s %s on guest node %" PRId64 "%s%s (%s pages, host nodes %s)\n",
		        verb, kib(x, "size_kib", a), num(x, "node"), str(x, "alias") ? " as " : "",
		        str(x, "alias") ? str(x, "alias") : "", kib(x, "page_size_kib", b),
		        str(x, "host_nodes") ? str(x, "host_nodes") : "any");
	}
}

/* Each reason once, in order: a shrink gives every DIMM the same one. */
static void render_reasons(FILE *out, json_object *dimms)
{
	for (size_t i = 0; i < arr_len(dimms); i++) {
		const char *why = str(json_object_array_get_idx(dimms, i), "reason");
		bool seen = false;

		for (size_t j = 0; why && j < i; j++) {
			const char *before = str(json_object_array_get_idx(dimms, j), "reason");

			seen |= before && strcmp(before, why) == 0;
		}
		if (why && *why && !seen)
			fprintf(out, "  why: %s\n", why);
	}
}

/* "Request r1: resize 1 GiB -> 1280 MiB, grow 256 MiB" */
static void render_resize_goal(FILE *out, json_object *d)
{
	json_object *r = get(d, "resize");
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
	const char *op = txt(r, "op");

	fprintf(out, "%s %s: resize %s -> %s",
	        json_object_get_boolean(get(d, "dry_run")) ? "Dry run" : "Request",
	        txt(d, "request"), kib(r, "from_kib", a), kib(r, "to_kib", b));
	if (strcmp(op, "none") == 0)
		fprintf(out, ", already there: nothing changed\n");
	else
		fprintf(out, ", %s %s\n", op, txt(d, "size"));
}

/* What a real request would do; the pre-flight passed and nothing changed. */
static void render_dry_run(FILE *out, json_object *d, bool grow)
{
	json_object *sel = get(d, "selection");

	fprintf(out, "Dry run %s: %s %s passes the pre-flight; nothing changed\n",
	        txt(d, "request"), grow ? "grow" : "shrink", txt(d, "size"));
	render_reasons(out, get(sel, "dimms"));
	if (str(sel, "warning"))
		fprintf(out, "  warning: %s\n", str(sel, "warning"));
	render_dimms(out, grow ? "would attach" : "would detach", get(sel, "dimms"));
}

static void render_resize(FILE *out, json_object *d)
{
	json_object *live = get(d, "live"), *config = get(d, "config");
	const char *op = str(get(d, "selection"), "op");
	bool grow = op ? strcmp(op, "grow") == 0 : get(d, "attached") != NULL;
	/* Older agents send neither: then the scope is not known. */
	bool def_only = config && !json_object_get_boolean(live);
	bool live_only = live && !json_object_get_boolean(config);

	if (json_object_get_boolean(get(d, "queued"))) {
		fprintf(out, "Queued as request %s\n", txt(d, "request"));
		return;
	}
	if (get(d, "resize"))
		render_resize_goal(out, d);
	if (get(d, "resize") && strcmp(txt(get(d, "resize"), "op"), "none") == 0)
		return;
	if (json_object_get_boolean(get(d, "dry_run"))) {
		render_dry_run(out, d, grow);
		return;
	}
	if (get(d, "resize") == NULL)
		fprintf(out, "Request %s: %s\n", txt(d, "request"), txt(d, "size"));
	if (def_only)
		fprintf(out,
		        "  only the definition changed: the guest %s this memory when the domain "
		        "next starts\n",
		        grow ? "gets" : "loses");
	else if (live_only)
		fprintf(out,
		        "  only the running guest changed: the definition is unchanged, so this "
		        "is undone when the domain stops\n");
	render_reasons(out, get(get(d, "selection"), "dimms"));
	if (str(get(d, "selection"), "warning"))
		fprintf(out, "  warning: %s\n", str(get(d, "selection"), "warning"));
	render_dimms(out, def_only ? "added to the definition:" : "attached", get(d, "attached"));
	render_dimms(out, def_only ? "removed from the definition:" : "detached",
	             get(d, "detached"));
	/* what the agent found on the way (a lost connection, a busy slot) */
	for (size_t i = 0; i < arr_len(get(d, "notes")); i++)
		fprintf(out, "  note: %s\n",
		        json_object_get_string(json_object_array_get_idx(get(d, "notes"), i)));
}

static void render_log(FILE *out, json_object *d)
{
	json_object *recs = get(d, "records");

	for (size_t i = 0; i < arr_len(recs); i++) {
		char *line = record_format_text(json_object_array_get_idx(recs, i));

		fprintf(out, "%s\n", line ? line : "?");
		free(line);
	}
	if (num(d, "skipped") > 0)
		fprintf(out, "(%" PRId64 " damaged lines skipped)\n", num(d, "skipped"));
}

static void render_verify(FILE *out, json_object *d)
{
	if (json_object_get_boolean(get(d, "ok"))) {
		fprintf(out, "chain intact: %" PRId64 " records, seq %" PRId64 "..%" PRId64 "%s\n",
		        num(d, "records"), num(d, "first_seq"), num(d, "last_seq"),
		        json_object_get_boolean(get(d, "torn_tail")) ? " (torn last line)" : "");
		return;
	}
	fprintf(out, "chain BROKEN at %s line %" PRId64 " (seq %" PRId64 "): %s%s%s\n",
	        str(d, "file"), num(d, "line"), num(d, "seq"), str(d, "reason"),
	        str(d, "detail") ? ": " : "", str(d, "detail") ? str(d, "detail") : "");
}

/* "last decision: grow (below_low_free) 12 s ago: ..."; none yet: no age. */
static void render_decision(FILE *out, json_object *st)
{
	const char *action = txt(st, "action"), *reason = str(st, "reason");
	const char *msg = str(st, "message");
	int64_t ms = num(st, "age_ms");
	char age[32];

	if (get(st, "age_ms") == NULL || strcmp(action, "none") == 0) {
		fprintf(out, "\nlast decision: none yet\n");
		return;
	}
	if (ms < 10000)
		snprintf(age, sizeof(age), "%.1f s", (double)ms / 1000.0);
	else if (ms < 600000)
		snprintf(age, sizeof(age), "%" PRId64 " s", ms / 1000);
	else
		snprintf(age, sizeof(age), "%" PRId64 " min", ms / 60000);
	fprintf(out, "\nlast decision: %s%s%s%s %s ago%s%s\n", action,
	        reason && *reason ? " (" : "", reason && *reason ? reason : "",
	        reason && *reason ? ")" : "", age, msg && *msg ? ": " : "", msg && *msg ? msg : "");
}

static void render_policy(FILE *out, json_object *d)
{
	static const char *const hdr[] = {"SETTING", "VALUE", "FROM"};
	json_object *set = get(d, "settings"), *st = get(d, "state");
	struct table *t = table_new(3, hdr);
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX];

	fprintf(out, "policy of %s: %s\n", str(d, "domain"),
	        json_object_get_boolean(get(d, "enabled")) ? "enabled" : "disabled");
	if (str(d, "problem"))
		fprintf(out, "problem: %s\n", txt(d, "problem"));
	for (size_t i = 0; i < POLICY_N_KEYS; i++) {
		const char *key = policy_keys[i].name;
		const char *row[3] = {key, str(get(set, key), "value"),
		                      str(get(set, key), "source")};

		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
	if (st == NULL)
		return;
	render_decision(out, st);
	fprintf(out, "guest: balloon %s, usable %s, total %s%s\n", approx(st, "balloon_kib", a),
	        approx(st, "usable_kib", b), approx(st, "available_kib", c),
	        json_object_get_boolean(get(st, "manageable")) ? ""
	                                                       : " (NOT MANAGEABLE: no stats)");
}

static const char *prepare_backing(json_object *cell, json_object *d, char *buf)
{
	char sz[SIZE_FORMAT_MAX];

	if (json_object_get_boolean(get(cell, "cpuless")))
		return "CPU-less, normal pages";
	if (!json_object_get_boolean(get(cell, "hugepages")))
		return "normal pages";
	snprintf(buf, 64, "%s hugepages", kib(d, "page_kib", sz));
	return buf;
}

static void render_prepare_cells(FILE *out, json_object *d)
{
	static const char *const hdr[] = {"CELL",      "HOST NODE", "VCPUS",
	                                  "PINNED TO", "MEMORY",    "BACKING"};
	json_object *cells = get(d, "cells");
	struct table *t = table_new(6, hdr);

	for (size_t i = 0; i < arr_len(cells); i++) {
		json_object *c = json_object_array_get_idx(cells, i);
		char id[16], node[16], mem[SIZE_FORMAT_MAX], back[64];
		const char *row[6] = {id,
		                      node,
		                      str(c, "vcpus"),
		                      str(c, "pin"),
		                      kib(c, "memory_kib", mem),
		                      prepare_backing(c, d, back)};

		snprintf(id, sizeof(id), "%" PRId64, num(c, "id"));
		snprintf(node, sizeof(node), "%" PRId64, num(c, "host_node"));
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
}

/* The cells' distance matrix, as the host's SLIT gives it. */
static void render_prepare_distances(FILE *out, json_object *cells)
{
	size_t n = arr_len(cells);
	const char **hdr = calloc(n + 1, sizeof(*hdr)), **row = calloc(n + 1, sizeof(*row));
	char(*buf)[16] = calloc((n + 1) * (n + 1), 16);
	struct table *t;

	if (hdr == NULL || row == NULL || buf == NULL)
		abort();
	hdr[0] = "CELL";
	for (size_t j = 0; j < n; j++)
		hdr[j + 1] = snprintf(buf[j], 16, "%zu", j) > 0 ? buf[j] : "-";
	t = table_new(n + 1, hdr);
	for (size_t i = 0; i < n; i++) {
		json_object *dist = get(json_object_array_get_idx(cells, i), "distances");

		row[0] = hdr[i + 1];
		for (size_t j = 0; j < n; j++) {
			char *b = buf[(i + 1) * (n + 1) + j];

			snprintf(b, 16, "%d",
			         json_object_get_int(json_object_array_get_idx(dist, j)));
			row[j + 1] = b;
		}
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
	free(hdr);
	free(row);
	free(buf);
}

static void render_prepare_placement(FILE *out, json_object *d)
{
	static const char *const hdr[] = {"HOST NODE", "FREE", "CHOSEN"};
	json_object *cands = get(d, "placement");
	struct table *t = table_new(3, hdr);

	fprintf(out, "\nplacement: host nodes with CPUs by free %s, ties to the closest:\n",
	        json_object_get_boolean(
	                get(json_object_array_get_idx(get(d, "cells"), 0), "hugepages"))
	                ? "hugepages of the page size"
	                : "memory");
	for (size_t i = 0; i < arr_len(cands); i++) {
		json_object *c = json_object_array_get_idx(cands, i);
		char node[16], fr[SIZE_FORMAT_MAX], rank[32];
		const char *row[3] = {node, kib(c, "free_kib", fr), rank};

		snprintf(node, sizeof(node), "%" PRId64, num(c, "node"));
		if (num(c, "rank") >= 0 && num(c, "rank") < num(d, "cpu_cells"))
			snprintf(rank, sizeof(rank), "yes (#%" PRId64 ")", num(c, "rank") + 1);
		else
			snprintf(rank, sizeof(rank), "no");
		table_add(t, row);
	}
	table_print(t, out);
	table_free(t);
}

/* "  was: 2 cells: 0 (vCPUs 0-1, 1 GiB on host node 0); 1 (...)". */
static void render_prepare_was_cells(FILE *out, json_object *before)
{
	json_object *cells = get(before, "cells");
	size_t n = arr_len(cells);

	fprintf(out, "  was: ");
	if (n == 0)
		fprintf(out, "no cells (the guest saw one node)");
	else
		fprintf(out, "%zu cell%s: ", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cells, i);
		char mem[SIZE_FORMAT_MAX];

		fprintf(out, "%s%" PRId64 " (", i ? "; " : "", num(c, "id"));
		if (str(c, "vcpus"))
			fprintf(out, "vCPUs %s, ", str(c, "vcpus"));
		fprintf(out, "%s", kib(c, "memory_kib", mem));
		if (str(c, "host_nodes"))
			fprintf(out, " on host node %s", str(c, "host_nodes"));
		fprintf(out, ")");
	}
	fprintf(out, "\n");
}

static void render_prepare_was_topology(FILE *out, json_object *before)
{
	json_object *t = get(before, "topology");

	if (t == NULL)
		fprintf(out, "  was: no <topology>\n");
	else
		fprintf(out, "  was: sockets=%" PRId64 " cores=%" PRId64 " threads=%" PRId64 "\n",
		        num(t, "sockets"), num(t, "cores"), num(t, "threads"));
}

static void render_prepare_pins(FILE *out, json_object *d)
{
	int64_t was = num(get(d, "before"), "pins");

	if (num(d, "vcpupins") == 0) {
		fprintf(out, "vcpupin: none written (--no-pin); the %" PRId64 " there stay\n", was);
		return;
	}
	fprintf(out, "vcpupin: one per vCPU (%" PRId64 "), on the CPUs of its cell's host node\n",
	        num(d, "vcpupins"));
	if (was == 0)
		fprintf(out, "  was: none\n");
	else
		fprintf(out, "  was: %" PRId64 " vcpupin element%s\n", was, was == 1 ? "" : "s");
}

static void render_prepare_numatune(FILE *out, json_object *d)
{
	json_object *nt = get(get(d, "before"), "numatune");

	fprintf(out,
	        "numatune: memory strict nodeset=%s; one strict memnode per cell on its "
	        "host node\n",
	        txt(d, "numatune_nodeset"));
	if (nt == NULL)
		fprintf(out, "  was: no <numatune><memory>\n");
	else if (strcmp(txt(nt, "placement"), "auto") == 0)
		fprintf(out, "  was: memory %s placement=auto\n", txt(nt, "mode"));
	else
		fprintf(out, "  was: memory %s nodeset=%s\n", txt(nt, "mode"), txt(nt, "nodeset"));
}

/* One line per <page nodeset> prepare rewrote or removed. */
static void render_prepare_pages(FILE *out, json_object *d)
{
	json_object *pages = get(d, "pages");
	bool cpuless = num(d, "cpu_cells") < (int64_t)arr_len(get(d, "cells"));

	for (size_t i = 0; i < arr_len(pages); i++) {
		json_object *pg = json_object_array_get_idx(pages, i);
		char sz[SIZE_FORMAT_MAX];

		fprintf(out, "hugepages: <page> of %s, nodeset %s ", kib(pg, "size_kib", sz),
		        txt(pg, "was"));
		if (str(pg, "now") && strcmp(str(pg, "now"), txt(pg, "was")) == 0)
			fprintf(out, "unchanged (the cells with CPUs)\n");
		else if (str(pg, "now"))
			fprintf(out, "-> %s (the cells with CPUs%s)\n", str(pg, "now"),
			        cpuless ? "; CPU-less cells are never hugepage-backed" : "");
		else
			fprintf(out, "removed (it named old cells only)\n");
	}
}

static void render_prepare_max(FILE *out, json_object *d)
{
	json_object *before = get(d, "before");
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

	fprintf(out, "maxMemory: %s (%s), %" PRId64 " slots for growth in %s steps\n",
	        kib(d, "max_memory_kib", a), txt(d, "max_source"), num(d, "slots"),
	        kib(d, "step_kib", b));
	if (get(before, "max_memory_kib") == NULL)
		fprintf(out, "  was: no <maxMemory>\n");
	else if (get(before, "slots") == NULL)
		fprintf(out, "  was: %s, no slots\n", kib(before, "max_memory_kib", a));
	else
		fprintf(out, "  was: %s, %" PRId64 " slots\n", kib(before, "max_memory_kib", a),
		        num(before, "slots"));
}

static void render_prepare_balloon(FILE *out, json_object *d)
{
	const char *state = txt(d, "balloon");

	fprintf(out, "memballoon: %s", state);
	if (get(d, "stats_period"))
		fprintf(out, " (period %" PRId64 " s)", num(d, "stats_period"));
	fprintf(out, "\n");
	if (strcmp(state, "added") == 0)
		fprintf(out, "  was: no <memballoon>\n");
	else if (strcmp(state, "stats added") == 0)
		fprintf(out, "  was: no <stats period>\n");
}

static void render_prepare(FILE *out, json_object *d)
{
	json_object *topo = get(d, "topology"), *cells = get(d, "cells"),
	            *warn = get(d, "warnings"), *before = get(d, "before");
	char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

	fprintf(out, "prepare %s (%s, host from %s): %zu cells\n", txt(d, "domain"), txt(d, "mode"),
	        txt(d, "host_source"), arr_len(cells));
	render_prepare_was_cells(out, before);
	fprintf(out, "\n");
	render_prepare_cells(out, d);
	fprintf(out,
	        "\nvCPU topology: sockets=%" PRId64 " cores=%" PRId64 " threads=%" PRId64
	        " (%" PRId64 " vCPUs; each cell holds a block of whole sockets)\n",
	        num(topo, "sockets"), num(topo, "cores"), num(topo, "threads"), num(d, "vcpus"));
	render_prepare_was_topology(out, before);
	render_prepare_pins(out, d);
	render_prepare_numatune(out, d);
	render_prepare_pages(out, d);
	if (get(json_object_array_get_idx(cells, 0), "distances")) {
		fprintf(out, "\ndistances (the host's SLIT between the mapped nodes):\n");
		render_prepare_distances(out, cells);
	}
	if (get(d, "placement"))
		render_prepare_placement(out, d);
	fprintf(out, "\n");
	render_prepare_max(out, d);
	render_prepare_balloon(out, d);
	for (size_t i = 0; i < arr_len(get(d, "virtio_mem")); i++) {
		json_object *v = json_object_array_get_idx(get(d, "virtio_mem"), i);

		fprintf(out,
		        "virtio-mem: cell %" PRId64 " gets a device of %s (its planned headroom), "
		        "%s blocks, nothing requested\n",
		        num(v, "node"), kib(v, "size_kib", a), kib(v, "block_kib", b));
	}
	for (size_t i = 0; i < arr_len(warn); i++)
		fprintf(out, "warning: %s\n",
		        json_object_get_string(json_object_array_get_idx(warn, i)));
	if (json_object_get_boolean(get(d, "defined")))
		fprintf(out, "\ndefined through memplugd%s\n",
		        json_object_get_boolean(get(d, "active"))
		                ? "; the domain is running: a restart applies the new definition"
		                : "");
}

static void render_prepare_xml(FILE *out, json_object *d)
{
	fputs(txt(d, "xml"), out);
}

struct renderer {
	const char *cmd;
	void (*render)(FILE *out, json_object *data);
};

static const struct renderer renderers[] = {
        {"inspect", render_inspect},
        {"plan", render_plan},
        {"status", render_status},
        {"grow", render_resize},
        {"shrink", render_resize},
        {"resize", render_resize},
        {"log", render_log},
        {"verify", render_verify},
        {"policy", render_policy},
        {"prepare", render_prepare},
        {"prepare-xml", render_prepare_xml},
};

int output_render(FILE *out, const char *cmd, json_object *data, bool json)
{
	if (!json_object_is_type(data, json_type_object))
		return -EINVAL;
	if (json) {
		fprintf(out, "%s\n",
		        json_object_to_json_string_ext(
		                data, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		return 0;
	}
	for (size_t i = 0; i < sizeof(renderers) / sizeof(renderers[0]); i++) {
		if (strcmp(renderers[i].cmd, cmd) == 0) {
			renderers[i].render(out, data);
			return 0;
		}
	}
	return -EINVAL;
}
