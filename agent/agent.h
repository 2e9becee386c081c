/*
 * The agent's shared services, under every other agent module but the
 * backend and the domain views: the configuration in force, the loop
 * (posting work back to it), the backend, the domain views' owner, and
 * thread-safe audit appends. struct agent is private to agent.c; modules
 * reach its parts through these functions.
 *
 * Layering (calls go down only): main -> dispatch -> autoballoon -> ops ->
 * agent -> domains, audit, backend (virt.c or a fake).
 *
 * Threads: agent_post(), agent_audit(), agent_audit_check() and
 * agent_backend() may be called from any thread; everything else from the
 * loop thread. agent_run() is how work leaves the loop.
 */
#ifndef MEMPLUG_AGENT_H
#define MEMPLUG_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "audit.h"
#include "backend.h"
#include "config.h"
#include "domain.h"
#include "evloop.h"
#include "record.h"

struct agent;
struct domains;

/* Takes ownership of cfg and audit (which may be NULL in tests that write
 * no records). The backend comes later (agent_set_backend()), since its
 * events name the dispatcher that needs the agent first. NULL when out of
 * memory. */
struct agent *agent_new(struct config *cfg, struct evloop *loop, struct audit *audit);
/* Frees the config, the audit writer and the domain views. NULL is a no-op. */
void agent_free(struct agent *a);
void agent_set_backend(struct agent *a, const struct backend *b);

/* The config in force. Workers must copy what they need before they start:
 * a reload frees it (agent_set_config() takes the new one and frees the old). */
const struct config *agent_config(const struct agent *a);
void agent_set_config(struct agent *a, struct config *cfg);
struct evloop *agent_loop(const struct agent *a);
const struct backend *agent_backend(const struct agent *a);
struct domains *agent_domains(const struct agent *a);
struct audit *agent_audit_log(const struct agent *a);
/* The counters behind the metrics endpoint (metrics.h); any thread. */
struct metrics_stats *agent_metrics(const struct agent *a);
time_t agent_started(const struct agent *a);

/* Runs fn(arg) on the loop thread soon. Any thread. */
int agent_post(struct agent *a, void (*fn)(void *arg), void *arg);

/*
 * Runs work(arg) on a worker thread of its own, then done(arg) on the loop
 * thread: the way every blocking backend call leaves the loop. Loop thread;
 * 0, or a negative errno when no thread can be started (nothing ran).
 */
int agent_run(struct agent *a, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Workers started by agent_run() whose done() has not run yet. */
unsigned agent_workers(const struct agent *a);
/* SIGTERM: stops the loop once no worker runs (at once when none does);
 * agent_stopping() tells modules to start nothing new. */
void agent_stop(struct agent *a);
bool agent_stopping(const struct agent *a);

/* Appends one audit record; `sync` makes it durable before returning.
 * Any thread. Failures are logged and returned. */
int agent_audit(struct agent *a, const struct record *r, bool sync, char **err);
/* Reserves room for `bytes` of records before a change (audit_reserve()). */
int agent_audit_reserve(struct agent *a, uint64_t bytes, char **err);
/* Whether changes may go ahead (the audit log's fail_closed). Any thread. */
int agent_audit_check(struct agent *a, char **err);
/* Per-node memory of a model, for audit before/after. *out is malloc'd. */
size_t agent_node_mem(const struct domain *dom, struct record_node_mem **out);

#endif
