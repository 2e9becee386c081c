/*
 * The daemon's state, in one struct, and the few services every agent
 * module shares: the domain views, posting work back onto the loop thread,
 * and thread-safe audit appends.
 *
 * Threads: the loop thread owns everything in struct agent except what is
 * marked otherwise. Operation workers (ops.c) only call the
 * ops_backend_*() wrappers (libvirt, the host), agent_audit(), agent_post()
 * and the detach waiters.
 */
#ifndef MEMPLUG_AGENT_H
#define MEMPLUG_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "control.h"
#include "domain.h"
#include "evloop.h"
#include "record.h"
#include "virt.h"

struct op;
struct ops_backend;
struct policy;

struct agent_domain {
	char *name;
	char uuid[VIRT_UUID_LEN + 1];
	bool active;
	struct domain *model; /* the last XML read, NULL when it did not parse */
	char *model_error;
	struct op *queue; /* queued operations; the head runs */
	bool gone;        /* undefined while an operation ran: remove after it */
	struct agent_domain *next;
};

struct agent_waiter {
	char *domain;
	char *alias;
	int state; /* 0 waiting, 1 removed, -1 the guest refused */
	struct agent_waiter *next;
};

/* A detach whose guest did not answer in time: its outcome is audited when
 * the event comes (agent_device_event). */
struct agent_late {
	char *domain;
	char *alias;
	char *request;
	bool config; /* detach from the persistent definition once removed */
	struct agent_late *next;
};

struct agent {
	struct config *cfg;
	char *config_path;
	bool config_must_exist;
	struct evloop *loop;
	struct virt *virt;
	/* Where operations reach libvirt and the host; NULL: a->virt and the
	 * real host (ops_backend.h). Tests install a fake. */
	const struct ops_backend *backend;
	void *backend_ctx;
	struct control *control;
	struct audit *audit;
	struct policy *policy; /* the auto-balloon tick (policy.c) */
	pthread_mutex_t audit_lock;
	struct agent_domain *domains;
	time_t started;
	unsigned next_request;
	unsigned ops_done;
	unsigned ops_running; /* worker threads alive (loop thread) */
	bool stopping;        /* SIGTERM: no new operations; stop when none runs */
	/* Optional, for tests: called on the loop thread as each operation
	 * ends, with its request id, code (NULL: ok) and message. */
	void (*op_ended)(void *arg, const char *request, const char *code, const char *message);
	void *op_ended_arg;
	bool reconciled; /* open intents settled after the first connection */

	/* Shared with workers, under wait_lock. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	struct agent_waiter *waiters;
	struct agent_late *late;
};

/* Runs fn(arg) on the loop thread soon. Any thread. */
int agent_post(struct agent *a, void (*fn)(void *arg), void *arg);

/* Appends one audit record; `sync` makes it durable before returning.
 * Any thread. Failures are logged and returned. */
int agent_audit(struct agent *a, const struct record *r, bool sync, char **err);
/* Whether changes may go ahead (the audit log's fail_closed). Any thread. */
int agent_audit_check(struct agent *a, char **err);
/* Per-node memory of a model, for audit before/after. *out is malloc'd. */
size_t agent_node_mem(const struct domain *dom, struct record_node_mem **out);

struct agent_domain *agent_domain_find(struct agent *a, const char *name);
/* Forgets a domain that went away; deferred while an operation runs on it. */
void agent_domain_remove(struct agent *a, const char *name);
void agent_domain_free(struct agent_domain *d);
/* Re-reads one domain's live XML into its view (loop thread). */
void agent_domain_refresh(struct agent *a, struct agent_domain *d);
/* Replaces the view's model with `model` (takes ownership). */
void agent_domain_set_model(struct agent_domain *d, struct domain *model);

/* The loop thread's handler for virt events and control requests. */
void agent_on_connected(void *opaque, bool reconnect, const struct virt_domain_list *doms);
void agent_on_disconnected(void *opaque, const char *why);
void agent_on_event(void *opaque, const struct virt_event *ev);
void agent_on_request(struct control_request *req, void *opaque);

/* Waiting for the guest to release a DIMM (ops workers). */
struct agent_waiter *agent_waiter_add(struct agent *a, const char *domain, const char *alias);
/* Blocks until the event or the timeout; returns 1 removed, -1 refused,
 * 0 timed out. Removes and frees the waiter. With `late_request`, a timeout
 * leaves a late entry so the guest's eventual answer is audited as that
 * request's outcome (and, with `late_config`, the config detach done). */
int agent_waiter_wait(struct agent *a, struct agent_waiter *w, uint64_t timeout_ms,
                      const char *late_request, bool late_config);

void agent_late_free(struct agent_late *l);

#endif
