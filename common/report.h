/*
 * Reports: the JSON data that answers `inspect` and `plan` (and a grow's or
 * shrink's verdict), built from the model with json-c. The agent sends exactly these objects over
 * the socket and memplugctl builds them itself when it works offline, so both paths render the
 * same. Field names are documented in docs/protocol.md.
 */
#ifndef MEMPLUG_REPORT_H
#define MEMPLUG_REPORT_H

#include <json-c/json.h>

#include "domain.h"
#include "host.h"
#include "plan.h"

/* Both return a new reference (caller puts it), or NULL with *err set. */
json_object *report_inspect(const struct domain *dom, const struct host *host, char **err);
json_object *report_plan(const struct domain *dom, const struct plan *plan);
/*
 * Adds "hugepage_shortfalls" and "hugepages_unchecked" to a plan report `o`,
 * one entry per hugepage pool (page size on a bound host nodeset) with
 * {guest_nodes, host_nodes, page_size_kib, planned_kib, full_kib (boot +
 * plugged + planned of those guest nodes), total_kib (the pool's size)}.
 * A shortfall adds {free_kib, checked, missing_pages}: with free pages known
 * ("free"), the planned DIMMs need more than is free now; without them (a
 * capabilities file, free_kib null), "total": the full size exceeds the
 * whole pool. A pool whose free pages are unknown and whose total does not
 * rule it out is unchecked: {reason "free_unknown"}. Every entry names the
 * host_source. Both are null without a host. Normal pages are not checked:
 * the kernel reclaims.
 */
void report_plan_host(json_object *o, const struct plan *plan, const struct host *host);

/* The host model: {source, nodes: [{id, cpus, cpuless, total_kib, free_kib,
 * distances, tier, hugepages}], warnings}; null where the source does not
 * know a value (docs/host.md). A new reference. */
json_object *report_host(const struct host *h);

/* A grow/shrink verdict (report_select.c): a new reference, or NULL when
 * out of memory. Fields are listed in docs/select.md. */
struct select_result;
json_object *report_select(const struct select_result *r);

/* Drift between the live and the persistent definition (report_drift.c):
 * {in_sync, only_live: [{model, alias, node, size_kib, slot}], only_config:
 * [same], requested: [{alias, node, size_kib, live_kib, config_kib}]}; JSON
 * null (NULL) for a NULL drift (not compared). A new reference. */
struct drift;
json_object *report_drift(const struct drift *d);

/* Small json-c helpers shared by the report builders and their readers. */
json_object *report_nodeset(const struct nodeset *ns); /* string, or NULL for empty */
json_object *report_string(const char *s);             /* string, or NULL (JSON null) */

#endif
