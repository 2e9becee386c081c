/*
 * A fake hypervisor and host behind backend.h, for the agent's unit tests:
 * one domain kept as lists of DIMMs (live and persistent) from which its
 * XML is regenerated, its balloon figures and <metadata>, a fabricated
 * host, scripted attach failures and guest answers to detaches, and a log
 * of every call made. Removal events are posted to the loop as libvirt
 * would deliver them, to the event handler given at init.
 */
#ifndef MEMPLUG_FAKEVIRT_H
#define MEMPLUG_FAKEVIRT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "evloop.h"

#define FAKE_MAX_CELLS 4
#define FAKE_MAX_DEVS  16
#define FAKE_MAX_CALLS 64
#define FAKE_ALIAS_MAX 64

struct fake_dev {
	unsigned node;
	uint64_t size_kib;
	char alias[FAKE_ALIAS_MAX];
	unsigned slot;
};

/* A virtio-mem device (one per guest node at most). */
struct fake_vmem {
	unsigned node;
	uint64_t size_kib;
	uint64_t requested_kib;
	uint64_t current_kib; /* live only */
};

/* The domain's boot shape. */
struct fake_spec {
	unsigned n_cells;
	uint64_t cell_mib[FAKE_MAX_CELLS];
	uint64_t max_mib; /* 0: no <maxMemory> */
	unsigned slots;
	int huge_cell; /* cell backed by hugepages of huge_kib, -1: none */
	uint64_t huge_kib;
	int host_node; /* every cell bound (strict) to this host node, -1: unbound */
	bool shut_off;
	unsigned vcpus; /* 0: one per cell; else a multiple of n_cells */
	size_t n_devs;  /* DIMMs present at the start, live and persistent */
	struct fake_dev devs[FAKE_MAX_DEVS];
	size_t n_vmem; /* virtio-mem devices, aliased virtiomemN live */
	struct fake_vmem vmem[FAKE_MAX_CELLS];
	/* The policy <metadata> the domain has from the start (NULL: none): set
	 * here, not after the agent started, or its first tick may read none. */
	const char *metadata;
};

/* The host: two nodes; node 0 may have a pool of huge_kib pages. */
struct fake_host {
	uint64_t free_mib[2];
	uint64_t pool_kib; /* 0: no pool */
	uint64_t pool_free;
	unsigned threads_per_core; /* 0: unknown, as a host without <topology> */
};

/* What the guest answers to a live detach. */
enum fake_answer {
	FAKE_REMOVE,     /* DEVICE_REMOVED */
	FAKE_REFUSE,     /* DEVICE_REMOVAL_FAILED */
	FAKE_SILENT,     /* nothing: the waiter times out */
	FAKE_CALL_FAILS, /* the detach call itself fails */
	FAKE_CALL_LOST   /* the guest releases it, but the call and the event are
	                  * lost with the connection (-ENOTCONN) */
};

/* What the guest does when a virtio-mem device's <requested> changes. */
enum fake_vmem_answer {
	FAKE_VMEM_ALL,          /* current = requested, one size-change event */
	FAKE_VMEM_FLOOR,        /* a shrink stops at vmem_floor_kib (unmovable memory) */
	FAKE_VMEM_SILENT,       /* nothing moves, no event */
	FAKE_VMEM_OUT_OF_ORDER, /* events: the old size, the new one, a stale middle one */
	FAKE_VMEM_CALL_FAILS,   /* the update call itself fails */
};

enum fake_call_kind {
	FAKE_ATTACH,
	FAKE_DETACH,
	FAKE_UPDATE,
	FAKE_XML,
	FAKE_BALLOON,
	FAKE_STATS,
	FAKE_GET_META,
	FAKE_SET_META,
	FAKE_HOST,
	FAKE_N_KINDS
};

struct fake_call {
	enum fake_call_kind kind;
	unsigned flags;
	char alias[FAKE_ALIAS_MAX];
};

struct fakevirt {
	pthread_mutex_t lock;
	struct evloop *loop;
	void (*on_event)(void *arg, const struct backend_event *ev);
	void *on_event_arg;
	const char *name;
	struct fake_spec spec;
	struct fake_host host;
	bool active;
	bool unlisted; /* undefined while libvirtd was away: not in the list */
	size_t n_live, n_config;
	struct fake_dev live[FAKE_MAX_DEVS], config[FAKE_MAX_DEVS];
	struct fake_vmem vmem_live[FAKE_MAX_CELLS], vmem_config[FAKE_MAX_CELLS];

	/* Script. */
	bool xml_fails;            /* every XML read fails with -EIO */
	unsigned persistent_fails; /* so many persistence queries fail next */
	bool define_breaks_xml;    /* after a define, every XML read fails */
	unsigned attach_fail_at;   /* 1-based attach call that fails; 0: none */
	const char *attach_error;
	/* Connection lost during this 1-based attach call: it fails with
	 * -ENOTCONN; the DIMM is listed in the live XML only with lost_listed,
	 * and DEVICE_ADDED is posted only with lost_event. */
	unsigned attach_lost_at;
	bool lost_listed, lost_event;
	/* 1 + a slot QEMU holds that libvirt does not list; 0: none. An
	 * attach landing there fails with "slot N is busy". */
	unsigned qemu_busy_slot1;
	/* Called (on the worker) as each attach call begins, e.g. to fill the
	 * audit log's disk right after the intent; NULL: none. */
	void (*on_attach)(void *arg);
	void *on_attach_arg;
	enum fake_answer answer;
	const char *answer_suffix; /* the answer applies to aliases ending so; NULL: all */
	enum fake_vmem_answer vmem_answer;
	uint64_t vmem_floor_kib;
	bool vmem_config_fails; /* a persistent update fails */
	/* The next update call of these halves (BACKEND_LIVE, BACKEND_CONFIG)
	 * loses its connection: -ENOTCONN, applied first only with
	 * vmem_lost_applied; then lost_reads XML reads fail with -ENOTCONN
	 * before libvirt is back (UINT_MAX: it never comes back). */
	unsigned vmem_lost;
	bool vmem_lost_applied;
	unsigned lost_reads;
	unsigned down_reads; /* reads still to fail */

	/* The guest's balloon (KiB; UINT64_MAX: not reported) and metadata. */
	struct backend_balloon balloon;
	char *metadata;          /* NULL: none stored */
	unsigned metadata_flags; /* of the last store */
	bool connected;

	/* Record: device calls in order; every kind counted. */
	unsigned n_kind[FAKE_N_KINDS];
	size_t n_calls;
	struct fake_call calls[FAKE_MAX_CALLS];
	unsigned n_attach;
	unsigned events_in_flight; /* posted to the loop, not yet delivered */
	unsigned loop_calls;       /* blocking calls made on the loop thread */
	char *defined;             /* the last XML given to define(); NULL: none */
	unsigned n_define;
};

/* Sets up the fake for domain `name`; events go to on_event(arg, ev) on
 * `loop`. Connected; the balloon reports no stats. */
void fakevirt_init(struct fakevirt *fv, struct evloop *loop, const char *name,
                   const struct fake_spec *spec, const struct fake_host *host,
                   void (*on_event)(void *arg, const struct backend_event *ev), void *arg);
/* The fake as a backend (ctx = fv). */
void fakevirt_backend(struct fakevirt *fv, struct backend *out);
void fakevirt_destroy(struct fakevirt *fv);

/* The current XML, live or (inactive) persistent; caller frees. */
char *fakevirt_xml(struct fakevirt *fv, bool inactive);
/* Device calls (attach, detach, update) of one kind made with flags
 * containing `flags` (0: any); for the other kinds, how many were made. */
size_t fakevirt_count(struct fakevirt *fv, enum fake_call_kind kind, unsigned flags);
/* Whether the live (or persistent) definition holds a DIMM with alias. */
bool fakevirt_has(struct fakevirt *fv, bool inactive, const char *alias);
/* The aliases of the DIMMs in the live (or persistent) definition, in its
 * order, separated by spaces ("" when none); caller frees. */
char *fakevirt_aliases(struct fakevirt *fv, bool inactive);
unsigned fakevirt_in_flight(struct fakevirt *fv);
/* The guest answers a detach late: releases the DIMM (removing it from the
 * live definition) or refuses, and the event is posted to the loop. */
void fakevirt_answer_late(struct fakevirt *fv, const char *alias, bool removed);
/* The guest moves virtio-mem device `i` to current_kib later; the size
 * change is posted to the loop. */
void fakevirt_vmem_late(struct fakevirt *fv, size_t i, uint64_t current_kib);
/* Device i's live (or persistent) requested size, and its live current. */
uint64_t fakevirt_vmem_requested(struct fakevirt *fv, size_t i, bool inactive);
uint64_t fakevirt_vmem_current(struct fakevirt *fv, size_t i);
/* The guest released the DIMM but the event was lost (libvirtd restarted):
 * it leaves the live definition silently. */
void fakevirt_drop(struct fakevirt *fv, const char *alias);
/* The guest was destroyed: the domain stops and a STOPPED event comes. */
void fakevirt_destroy_guest(struct fakevirt *fv);
/* The domain was destroyed and undefined while libvirtd was away: it stops
 * and leaves the list with no event (a reconnect's sync finds it gone). */
void fakevirt_undefine_quietly(struct fakevirt *fv);

#endif
