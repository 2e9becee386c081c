/*
 * The agent's two kinds of input, each to its handler: control requests
 * (status, inspect, plan, grow, shrink, log, policy) and the backend's
 * connection news and domain events (views, the guest's answers to
 * detaches, reconcile at the first connection).
 *
 * Threads: every entry point runs on the loop thread.
 */
#ifndef MEMPLUG_DISPATCH_H
#define MEMPLUG_DISPATCH_H

#include <stdbool.h>

#include "agent.h"
#include "autoballoon.h"
#include "backend.h"
#include "control.h"
#include "ops.h"

struct dispatch;

/* NULL when out of memory. */
struct dispatch *dispatch_new(struct agent *a, struct ops *ops);
/* The policy tick, for `policy` and `status`; NULL: not running. */
void dispatch_set_autoballoon(struct dispatch *d, struct autoballoon *ab);
void dispatch_free(struct dispatch *d);
/* Reads under way on worker threads (views, inspect, plan, policy). */
unsigned dispatch_busy(const struct dispatch *d);

/* control.h's request handler; opaque is the struct dispatch. */
void dispatch_request(struct control_request *req, void *opaque);

/* The backend's callbacks (virt.h's struct virt_callbacks); opaque is the
 * struct dispatch. */
/* Audits the connection, then lists and reads every domain on a worker;
 * reconciles the audit log after the first connection's read. */
void dispatch_connected(void *opaque, bool reconnect);
void dispatch_disconnected(void *opaque, const char *why);
void dispatch_event(void *opaque, const struct backend_event *ev);

#endif
