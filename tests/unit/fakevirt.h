/*
 * A fake libvirt behind ops_backend.h for the operation tests: one domain
 * kept as lists of DIMMs (live and persistent) from which its XML is
 * regenerated, a fabricated host, scripted attach failures and guest
 * answers to detaches, and a log of every call made. Removal events are
 * posted to the agent's loop as libvirt would deliver them.
 */
#ifndef MEMPLUG_FAKEVIRT_H
#define MEMPLUG_FAKEVIRT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "ops_backend.h"

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
	size_t n_devs; /* DIMMs present at the start, live and persistent */
	struct fake_dev devs[FAKE_MAX_DEVS];
};

/* The host: two nodes; node 0 may have a pool of huge_kib pages. */
struct fake_host {
	uint64_t free_mib[2];
	uint64_t pool_kib; /* 0: no pool */
	uint64_t pool_free;
};

/* What the guest answers to a live detach. */
enum fake_answer {
	FAKE_REMOVE,    /* DEVICE_REMOVED */
	FAKE_REFUSE,    /* DEVICE_REMOVAL_FAILED */
	FAKE_SILENT,    /* nothing: the waiter times out */
	FAKE_CALL_FAILS /* the detach call itself fails */
};

enum fake_call_kind { FAKE_ATTACH, FAKE_DETACH };

struct fake_call {
	enum fake_call_kind kind;
	unsigned flags;
	char alias[FAKE_ALIAS_MAX];
};

struct fakevirt {
	pthread_mutex_t lock;
	struct agent *a;
	const char *name;
	struct fake_spec spec;
	struct fake_host host;
	bool active;
	size_t n_live, n_config;
	struct fake_dev live[FAKE_MAX_DEVS], config[FAKE_MAX_DEVS];

	/* Script. */
	unsigned attach_fail_at; /* 1-based attach call that fails; 0: none */
	const char *attach_error;
	enum fake_answer answer;
	const char *answer_suffix; /* the answer applies to aliases ending so; NULL: all */

	/* Record. */
	size_t n_calls;
	struct fake_call calls[FAKE_MAX_CALLS];
	unsigned n_attach;
	unsigned events_in_flight; /* posted to the loop, not yet delivered */
};

extern const struct ops_backend fakevirt_backend;

/* Sets up the fake for domain `name` on agent `a` (backend_ctx = fv). */
void fakevirt_init(struct fakevirt *fv, struct agent *a, const char *name,
                   const struct fake_spec *spec, const struct fake_host *host);
void fakevirt_destroy(struct fakevirt *fv);

/* The current XML, live or (inactive) persistent; caller frees. */
char *fakevirt_xml(struct fakevirt *fv, bool inactive);
/* Calls of one kind made with flags containing `flags` (0: any). */
size_t fakevirt_count(struct fakevirt *fv, enum fake_call_kind kind, unsigned flags);
/* Whether the live (or persistent) definition holds a DIMM with alias. */
bool fakevirt_has(struct fakevirt *fv, bool inactive, const char *alias);
unsigned fakevirt_in_flight(struct fakevirt *fv);
/* The guest answers a detach late: releases the DIMM (removing it from the
 * live definition) or refuses, and the event is posted to the loop. */
void fakevirt_answer_late(struct fakevirt *fv, const char *alias, bool removed);

#endif
