/*
 * The auto-balloon policy's tick: every policy_interval a worker reads
 * every domain's balloon stats in one backend call, and the host's free
 * memory, and hands them to the loop thread, which feeds each enabled
 * domain to the pure decision (common/policy.h), audits every decision
 * that acts or is held back, and carries it out: balloon targets on a
 * worker, DIMMs through ops_submit() as the actor `policy`, the same path
 * as `grow`.
 * Run-time settings live in each domain's <metadata> (memplug namespace).
 *
 * Threads: everything here runs on the loop thread except the jobs (a
 * sample, a balloon target, a `policy` request's metadata), which run one
 * at a time on workers (agent_run()) and only call the backend.
 */
#ifndef MEMPLUG_AUTOBALLOON_H
#define MEMPLUG_AUTOBALLOON_H

#include <stdint.h>

#include <json-c/json.h>

#include "agent.h"
#include "backend.h"
#include "control.h"
#include "ops.h"
#include "policy.h" /* common/: the pure decision */

struct autoballoon;

/* Starts the timer (loop thread). NULL when out of memory. */
struct autoballoon *autoballoon_new(struct agent *a, struct ops *ops);
/* Stops the timer; call once the loop ended, so no job runs (agent_stop()
 * waits for every worker). NULL is a no-op. */
void autoballoon_free(struct autoballoon *p);

/* Answers a `policy` control request: show, enable, disable, set. */
void autoballoon_request(struct autoballoon *p, struct control_request *req, json_object *args);

/* The domain's policy state for `status`, or NULL when it has none yet.
 * Caller owns the reference. */
json_object *autoballoon_status_json(struct autoballoon *p, const char *domain);
/* Adds "policy" (that state or null) to a status object; returns it. */
json_object *autoballoon_status_add(struct autoballoon *p, const char *domain, json_object *o);

/* One domain's run-time overrides (from <metadata>), as read by the worker. */
struct autoballoon_meta {
	char *name;
	int rc; /* 0, -ENOENT (none stored) or another error */
	char *error;
	struct policy_overrides overrides;
};

/*
 * Feeds one round of stats to the decisions (loop thread). `metas` carries
 * metadata read for domains seen for the first time; a grow is checked
 * against `host` (NULL: unknown, grow unchecked). Exposed for the
 * benchmark, which feeds a fake stats source.
 */
void autoballoon_process(struct autoballoon *p, const struct backend_balloon_list *stats,
                         struct autoballoon_meta *metas, size_t n_metas, const struct host *host,
                         uint64_t now_ms);

/* Counters for the benchmark and `show`. */
struct autoballoon_counters {
	uint64_t ticks;
	uint64_t skipped;    /* a tick found the previous sample still running */
	uint64_t decisions;  /* audited */
	uint64_t process_ns; /* CPU time spent in autoballoon_process(), total */
};
void autoballoon_get_counters(const struct autoballoon *p, struct autoballoon_counters *out);

#endif
