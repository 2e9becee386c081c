/*
 * Drift as JSON (see report.h and drift.h): what inspect and status carry
 * in "drift", and what memplugctl renders. Field names are listed in
 * docs/protocol.md.
 */
#include "drift.h"
#include "report.h"

static json_object *drift_device_json(const struct drift_device *d)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "model", json_object_new_string(memdev_model_name(d->model)));
	json_object_object_add(o, "alias", report_string(d->alias));
	json_object_object_add(o, "node", d->node >= 0 ? json_object_new_int(d->node) : NULL);
	json_object_object_add(o, "size_kib", json_object_new_uint64(d->size_kib));
	json_object_object_add(o, "slot", d->has_slot ? json_object_new_int((int)d->slot) : NULL);
	return o;
}

static json_object *drift_requested_json(const struct drift_requested *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "alias", report_string(r->alias));
	json_object_object_add(o, "node", r->node >= 0 ? json_object_new_int(r->node) : NULL);
	json_object_object_add(o, "size_kib", json_object_new_uint64(r->size_kib));
	json_object_object_add(o, "live_kib", json_object_new_uint64(r->live_kib));
	json_object_object_add(o, "config_kib", json_object_new_uint64(r->config_kib));
	return o;
}

json_object *report_drift(const struct drift *d)
{
	json_object *o, *live, *config, *req;

	if (d == NULL)
		return NULL;
	o = json_object_new_object();
	live = json_object_new_array();
	config = json_object_new_array();
	req = json_object_new_array();
	for (size_t i = 0; i < d->n_only_live; i++)
		json_object_array_add(live, drift_device_json(&d->only_live[i]));
	for (size_t i = 0; i < d->n_only_config; i++)
		json_object_array_add(config, drift_device_json(&d->only_config[i]));
	for (size_t i = 0; i < d->n_requested; i++)
		json_object_array_add(req, drift_requested_json(&d->requested[i]));
	json_object_object_add(o, "in_sync", json_object_new_boolean(drift_none(d)));
	json_object_object_add(o, "only_live", live);
	json_object_object_add(o, "only_config", config);
	json_object_object_add(o, "requested", req);
	return o;
}
