/*
 * Grow, shrink and prepare operations. Each domain has a queue; its head runs on a
 * worker thread of its own, so a slow guest never blocks the loop or other
 * domains. The worker reads the domain, asks select.c for the DIMMs and the
 * pre-flight verdict, writes the intent, attaches or detaches, rolls back a
 * grow that fails half-way, and writes the outcome; the reply goes back to
 * the client from the loop thread.
 *
 * ops also settles what a crash left open (ops_reconcile()) and follows the
 * guest's answers to detaches (ops_device_event()), including answers that
 * come after an operation gave up waiting.
 *
 * prepare runs on the same queue: the worker reads the persistent
 * definition and the host, computes the new definition (common/prepare.c)
 * and, for --define, defines it through the backend.
 *
 * Threads: every function here runs on the loop thread; the workers only
 * use the backend, agent_audit(), agent_post() and the detach waiters.
 */
#ifndef MEMPLUG_OPS_H
#define MEMPLUG_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent.h"
#include "devmodel.h"
#include "control.h"
#include "domains.h"
#include "partition.h"

/* The DIMMs a grow adds are named OPS_ALIAS_PREFIX "REQUEST-K" (a libvirt
 * user alias), so their events and a crash's leftovers name the request. */
#define OPS_ALIAS_PREFIX "ua-mp-"

/* How long a worker waits for libvirt to come back after a call lost its
 * connection, before it says the outcome is unknown: 15 s, the reconnect's
 * budget (libvirtd restarts and the agent reconnects within seconds). */
#define OPS_RECONNECT_WAIT_MS 15000

/* OP_RESIZE: size_kib is the total to reach (of the domain, or of `node`);
 * the worker turns it into a grow or a shrink of the difference. */
enum op_kind { OP_GROW, OP_SHRINK, OP_PREPARE, OP_RESIZE };

struct op_args {
	enum op_kind kind;
	uint64_t size_kib;
	int node; /* -1: any */
	bool live;
	bool config;
	bool scope_given; /* live/config named by the caller */
	bool wait;        /* reply when done (else at once, with the request id) */
	bool dry_run;     /* the pre-flight and the chosen devices only: nothing changes */
	/* OP_PREPARE: the options; define, or only compute and show */
	struct partition_opts prepare;
	bool define;
	enum devmodel_choice model; /* --model; auto: the config's device_model */
};

struct ops;

/* NULL when out of memory. */
struct ops *ops_new(struct agent *a);
/* Call once no operation runs. NULL is a no-op. */
void ops_free(struct ops *o);

/* Optional, for tests: called as each operation ends, with its request
 * id, code (NULL: ok) and message. */
void ops_on_ended(struct ops *o,
                  void (*fn)(void *arg, const char *request, const char *code, const char *message),
                  void *arg);

/*
 * Queues an operation. `req` may be NULL (the policy); with `actor` NULL
 * the actor is the policy. Replies to `req` when the operation ends, or at
 * once when !wait. Returns 0 or a negative errno.
 */
int ops_submit(struct ops *o, struct domain_view *d, const struct op_args *args,
               const struct record_actor *actor, struct control_request *req);

/* The queue of one domain as JSON: [{request, op, size_kib, node, state}]. */
json_object *ops_queue_json(const struct domain_view *d);
/* A domain went away: its queued operations fail, and its view goes once
 * the running one (if any) ends. */
void ops_domain_gone(struct ops *o, const char *name);

/* A device event: wakes the operation waiting for it, or audits the late
 * answer to a detach that timed out. Audits the event itself. */
void ops_device_event(struct ops *o, const struct backend_event *ev);

/* After a (re)connect, once the views were read again: every detach still
 * waiting (or waiting late) whose DIMM the live XML no longer lists is
 * settled as removed, and one on a domain that stopped as stopped, since
 * their events may have been lost with the connection. */
void ops_settle_pending(struct ops *o);

/* The domain stopped or was undefined: waits on it end at once with that
 * truth, and late detaches on it are settled (the persistent half done). */
void ops_domain_stopped(struct ops *o, const char *name);

/* At the first connection, once the views hold fresh models: audits, for
 * every intent a crash left without an outcome, what the guest has. */
void ops_reconcile(struct ops *o);

/* SIGTERM: refuses new operations, fails the queued ones and stops the
 * loop once no worker runs (agent_stop()). */
void ops_stop(struct ops *o);

unsigned ops_done_count(const struct ops *o);
/* Detaches whose guest has not answered yet (their late outcome is due). */
unsigned ops_pending_detaches(struct ops *o);
unsigned ops_running_count(const struct ops *o);
/* virtio-mem devices still watched after a partial step (ops_vmem.c). */
unsigned ops_vmem_watches(struct ops *o);
/* Shortens OPS_RECONNECT_WAIT_MS, for the unit tests' "libvirt never comes
 * back" cases; set before any operation runs. */
void ops_set_reconnect_wait(struct ops *o, uint64_t ms);

#endif
