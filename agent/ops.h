/*
 * Grow and shrink operations. Each domain has a queue; its head runs on a
 * worker thread of its own, so a slow guest never blocks the loop or other
 * domains. The worker reads the domain, asks select.c for the DIMMs and the
 * pre-flight verdict, writes the intent, attaches or detaches, rolls back a
 * grow that fails half-way, and writes the outcome; the reply goes back to
 * the client from the loop thread.
 */
#ifndef MEMPLUG_OPS_H
#define MEMPLUG_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent.h"

/* The DIMMs a grow adds are named OPS_ALIAS_PREFIX "REQUEST-K" (a libvirt
 * user alias), so their events and a crash's leftovers name the request. */
#define OPS_ALIAS_PREFIX "ua-mp-"

enum op_kind { OP_GROW, OP_SHRINK };

struct op_args {
	enum op_kind kind;
	uint64_t size_kib;
	int node; /* -1: any */
	bool live;
	bool config;
	bool scope_given; /* live/config named by the caller */
	bool wait;        /* reply when done (else at once, with the request id) */
};

/*
 * Queues an operation (loop thread). `req` may be NULL (the policy); with
 * `actor` NULL the actor is the policy. Replies to `req` when the operation
 * ends, or at once when !wait. Returns 0 or a negative errno.
 */
int ops_submit(struct agent *a, struct agent_domain *d, const struct op_args *args,
               const struct record_actor *actor, struct control_request *req);

/* The queue of one domain as JSON: [{request, op, size_kib, node, state}]. */
json_object *ops_queue_json(const struct agent_domain *d);
/* Drops the queued (not running) operations of a domain that went away. */
void ops_cancel_queued(struct agent *a, struct agent_domain *d, const char *why);

#endif
