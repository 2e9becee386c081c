/*
 * virtio-mem execution: the device model's side of a grow or shrink step
 * (see common/devmodel.h). A step sets a device's <requested> through the
 * backend's update-device call (live, then the persistent definition),
 * waits for MEMORY_DEVICE_SIZE_CHANGE events until the guest's <current>
 * equals the request or the timeout passes, and reads the live <current>
 * back: the answer is what the guest shows, never the request.
 *
 * A step that times out short of its request (a guest whose memory is not
 * movable gives back less) leaves <requested> where it was set, so the
 * guest keeps trying (Linux retries unplug after 50 s, backing off to
 * 300 s); the device stays watched, and every later size change is audited
 * as a late outcome of the request until <current> reaches the request or
 * another step takes the device over. docs/select.md says why.
 *
 * An update call that loses its connection (libvirtd restarted) may or may
 * not have been applied: the step waits for libvirt to come back, reads the
 * device's <requested> again and goes on (applied), fails ("not applied"),
 * or ends VMEM_UNKNOWN when libvirt stays away.
 *
 * Threads: ops_vmem_apply() runs on a worker (it blocks); ops_vmem_event()
 * and ops_vmem_reconcile() on the loop thread.
 */
#ifndef MEMPLUG_OPS_VMEM_H
#define MEMPLUG_OPS_VMEM_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent.h"
#include "backend.h"

struct ops_vmem;

/* One device's change. Strings are borrowed for the call. */
struct vmem_change {
	const char *domain;
	const char *uuid;    /* may be "" */
	const char *request; /* the request id the late outcomes are audited under */
	unsigned node;
	const char *alias; /* the live device's alias; NULL on a shut-off domain */
	uint64_t from_kib; /* <requested> before */
	uint64_t to_kib;   /* <requested> after */
	unsigned flags;    /* BACKEND_LIVE | BACKEND_CONFIG */
	uint64_t timeout_ms;
	/* How long to wait for libvirt to come back after an update call lost
	 * its connection, before the outcome is unknown. */
	uint64_t reconnect_wait_ms;
};

enum vmem_state {
	VMEM_REACHED = 1,        /* <current> equals the request (or config only) */
	VMEM_PARTIAL = 0,        /* the timeout passed with <current> elsewhere */
	VMEM_FAILED = -1,        /* the live update call failed: nothing changed */
	VMEM_CONFIG_FAILED = -2, /* live changed, the persistent definition did not */
	VMEM_STOPPED = -3,       /* the domain stopped while the step waited (the
	                          * persistent half, if in scope, was still done) */
	VMEM_UNKNOWN = -4,       /* an update call lost its connection and libvirt
	                          * did not come back in time: it may have been
	                          * applied (the intent stays open for reconcile) */
};

struct vmem_outcome {
	enum vmem_state state;
	bool current_known;   /* the live <current> was read */
	uint64_t current_kib; /* live <current> after the step */
	unsigned events;      /* size changes seen while waiting */
	/* Update calls that lost their connection: the halves (BACKEND_LIVE,
	 * BACKEND_CONFIG; 0: none), and what the last re-read showed once
	 * libvirt was back (seen: it could be read). With the new <requested>
	 * there the step goes on as if the call had answered. */
	unsigned lost;
	bool seen;
	uint64_t seen_requested_kib;
};

/* NULL when out of memory. */
struct ops_vmem *ops_vmem_new(struct agent *a);
/* Call once no step or job runs. NULL is a no-op. */
void ops_vmem_free(struct ops_vmem *v);

/* Worker: applies one change (see above). Returns 0 with *out filled, or a
 * negative errno only when the arguments are unusable. *err (caller
 * frees) says why a call failed. */
int ops_vmem_apply(struct ops_vmem *v, const struct vmem_change *c, struct vmem_outcome *out,
                   char **err);

/* Loop: a MEMORY_DEVICE_SIZE_CHANGE event. Audits it, wakes the step
 * waiting on the device, and audits a watched device's late change. */
void ops_vmem_event(struct ops_vmem *v, const struct backend_event *ev);

/* Loop: an intent a crash left open; true when it was a virtio-mem step
 * (then a worker compares requested, current and the persistent
 * definition and audits `reconciled`), false for the DIMM path. */
bool ops_vmem_reconcile(struct ops_vmem *v, json_object *intent);

/* Loop: the domain stopped (or was undefined): the steps waiting on its
 * devices end at once with VMEM_STOPPED, and its watches end. */
void ops_vmem_domain_stopped(struct ops_vmem *v, const char *domain);

/* Loop: the domain went away; its watches end. */
void ops_vmem_forget(struct ops_vmem *v, const char *domain);

/* Devices watched after a partial step. */
unsigned ops_vmem_watching(struct ops_vmem *v);
/* Reconcile jobs still on workers. */
unsigned ops_vmem_jobs(const struct ops_vmem *v);

/* The intent/resize record's extra for one step; a new object. */
json_object *ops_vmem_extra(const struct vmem_change *c, const struct vmem_outcome *o);

#endif
