/*
 * Reconcile: what a crash left half done. At start, ops_reconcile() (ops.c)
 * collects every intent the audit log leaves open and hands them here, on a
 * worker: each is compared with the live and the persistent definition of
 * its domain, the interrupted half is finished or undone within the
 * intent's scope, and a `reconciled` record says what both showed and what
 * was done (docs/audit.md has the table).
 *
 * Threads: reconcile_items() blocks (backend calls): workers only.
 */
#ifndef MEMPLUG_RECONCILE_H
#define MEMPLUG_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "agent.h"

/* One intent left without an outcome by a crash, with what the loop knew of
 * its domain when reconcile started. */
struct reconcile_item {
	json_object *intent;
	bool known, active, persistent;
};

struct reconcile_ctx {
	struct agent *a;
	/* A shrink whose DIMM the guest still holds: the caller watches for
	 * the guest's answer (ops.c's late entries). */
	void (*watch)(void *arg, const char *domain, const char *alias, const char *request,
	              bool config);
	void *arg;
};

/* Settles and audits each item in order (worker thread). */
void reconcile_items(const struct reconcile_ctx *c, const struct reconcile_item *items, size_t n);

#endif
