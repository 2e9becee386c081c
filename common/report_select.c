/*
 * The grow/shrink verdict as JSON (see report.h): what the agent puts in a
 * grow or shrink reply and in the audit log's pre-flight record, and what
 * the CLI renders. Field names are listed in docs/select.md.
 */
#include <errno.h>

#include "report.h"
#include "select.h"

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
	rc |= json_add(o, "model", json_object_new_string(devmodel_name(d->model)));
	rc |= json_add(o, "size_kib", json_object_new_uint64(d->size_kib));
	if (d->model == DEVMODEL_VIRTIO_MEM) {
		rc |= json_add(o, "from_kib", json_object_new_uint64(d->from_kib));
		rc |= json_add(o, "requested_kib", json_object_new_uint64(d->to_kib));
		rc |= json_add(o, "device_kib", json_object_new_uint64(d->device_kib));
	}
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
	if (d->alias != NULL) { /* shrink: the DIMM; virtio-mem: the device */
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

json_object *report_select(const struct select_result *r)
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
