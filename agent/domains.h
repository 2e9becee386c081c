/*
 * The one owner of the per-domain views: each domain libvirt knows, whether
 * it runs, the model of its last XML read (or why that failed), and the
 * head of its operation queue. Views are added from the backend's domain
 * list and events, refreshed from the domain's XML, and removed when the
 * domain is undefined (later, when an operation still runs on it).
 *
 * The queue is ops.c's: only ops.c links and unlinks struct op entries;
 * this module only knows whether a queue is empty.
 *
 * Threads: loop thread only.
 */
#ifndef MEMPLUG_DOMAINS_H
#define MEMPLUG_DOMAINS_H

#include <stdbool.h>

#include "backend.h"
#include "domain.h"

struct op;
struct domains;

struct domain_view {
	char *name;
	char uuid[BACKEND_UUID_LEN + 1];
	bool active;
	bool persistent;      /* has a persistent definition (as of the last read) */
	struct domain *model; /* the last XML read, NULL when it did not parse */
	char *model_error;
	struct op *queue;  /* ops.c's queued operations; the head runs */
	bool gone;         /* undefined while an operation ran: remove after it */
	unsigned read_seq; /* bumped per read asked for: only the newest applies */
	struct domain_view *next;
};

struct domains *domains_new(void);
/* Frees every view; their queues must be empty. NULL is a no-op. */
void domains_free(struct domains *ds);

/* The first view (the rest follow through ->next), NULL when none. */
struct domain_view *domains_first(struct domains *ds);
struct domain_view *domains_find(struct domains *ds, const char *name);
/* The view of `name`, added when new. NULL when out of memory. */
struct domain_view *domains_add(struct domains *ds, const char *name, const char *uuid);
/* Forgets a domain; while its queue is not empty it is only marked gone,
 * and ops.c removes it again when the queue empties. */
void domains_remove(struct domains *ds, const char *name);

/* Replaces the view's model with `model` (takes ownership). */
void domains_set_model(struct domain_view *d, struct domain *model);
/* Keeps the model, records why the last read failed (takes ownership). */
void domains_set_error(struct domain_view *d, char *err);
/* Applies a lifecycle event to the active flag. */
void domains_lifecycle(struct domain_view *d, int lifecycle);

#endif
