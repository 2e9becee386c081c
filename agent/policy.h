/*
 * The auto-balloon policy's tick: every policy_interval a worker thread
 * reads every domain's balloon stats in one libvirt call and posts them
 * back to the loop thread, which feeds each enabled domain to the pure
 * decision (common/policy.h), audits every decision that acts or is held
 * back, and carries it out: balloon targets through the worker, DIMMs
 * through ops_submit() as the actor `policy`, the same path as `grow`.
 * Run-time settings live in each domain's <metadata> (memplug namespace).
 *
 * Threads: everything here runs on the loop thread except the worker,
 * which only calls virt_* wrappers and agent_post().
 */
#ifndef MEMPLUG_AGENT_POLICY_H
#define MEMPLUG_AGENT_POLICY_H

#include <stdint.h>

#include <json-c/json.h>

#include "../common/policy.h" /* the pure decision; same file name */
#include "agent.h"

struct policy;

/* Starts the timer and the worker (loop thread). NULL when out of memory
 * or when no thread can be started. */
struct policy *policy_new(struct agent *a);
/* Stops the timer and joins the worker; call before virt_free(). NULL is a
 * no-op. */
void policy_free(struct policy *p);

/* Answers a `policy` control request: show, enable, disable, set. */
void policy_request(struct policy *p, struct control_request *req, json_object *args);

/* The domain's policy state for `status`, or NULL when it has none yet.
 * Caller owns the reference. */
json_object *policy_status_json(struct policy *p, const char *domain);
/* Adds "policy" (that state or null) to a status object; returns it. */
json_object *policy_status_add(struct policy *p, const char *domain, json_object *o);

/* One domain's run-time overrides (from <metadata>), as read by the worker. */
struct policy_meta {
	char *name;
	int rc; /* 0, -ENOENT (none stored) or another error */
	char *error;
	struct policy_overrides overrides;
};

/*
 * Feeds one round of stats to the decisions (loop thread). `metas` carries
 * metadata read for domains seen for the first time. Exposed for the
 * benchmark, which feeds a fake stats source.
 */
void policy_process(struct policy *p, const struct virt_balloon_list *stats,
                    struct policy_meta *metas, size_t n_metas, uint64_t now_ms);

/* Counters for the benchmark and `show`. */
struct policy_counters {
	uint64_t ticks;
	uint64_t skipped;    /* a tick found the previous sample still running */
	uint64_t decisions;  /* audited */
	uint64_t process_ns; /* CPU time spent in policy_process(), total */
};
void policy_get_counters(const struct policy *p, struct policy_counters *out);

/* Applies run-time overrides over *s; *s is unchanged on error. */
int policy_overrides_apply(const struct policy_overrides *o, struct policy_settings *s, char **err);

#endif
