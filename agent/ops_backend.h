/*
 * The seam between operations and the outside world: the few libvirt calls
 * and the host snapshot that ops.c (and the domain views in agent.c) make.
 * The daemon leaves struct agent's backend NULL and gets libvirt through
 * a->virt and the real host; unit tests install a fake with an in-memory
 * domain. Every function may be called from any thread.
 */
#ifndef MEMPLUG_OPS_BACKEND_H
#define MEMPLUG_OPS_BACKEND_H

#include <stdbool.h>

#include "host.h"

struct agent;

/* Same contracts as the virt_* wrappers (virt.h) and host_snapshot()
 * (host.h); ctx is struct agent's backend_ctx. */
struct ops_backend {
	int (*domain_xml)(void *ctx, const char *name, unsigned flags, char **xml, char **err);
	int (*persistent)(void *ctx, const char *name, bool *persistent);
	int (*attach)(void *ctx, const char *name, const char *xml, unsigned flags, char **err);
	int (*detach_alias)(void *ctx, const char *name, const char *alias, unsigned flags,
	                    char **err);
	int (*host)(void *ctx, struct host **out, char **err);
};

/* Through a's backend, or libvirt and the real host when it is NULL. */
int ops_backend_domain_xml(struct agent *a, const char *name, unsigned flags, char **xml,
                           char **err);
int ops_backend_persistent(struct agent *a, const char *name, bool *persistent);
int ops_backend_attach(struct agent *a, const char *name, const char *xml, unsigned flags,
                       char **err);
int ops_backend_detach_alias(struct agent *a, const char *name, const char *alias, unsigned flags,
                             char **err);
int ops_backend_host(struct agent *a, struct host **out, char **err);

#endif
