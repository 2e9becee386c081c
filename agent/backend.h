/*
 * THE seam between the agent and the outside world: every hypervisor and
 * host call the agent makes goes through struct backend. agent/virt.c
 * implements it on libvirt (virt_backend()); the unit tests' fake
 * (tests/unit/fakevirt.c) implements it in memory. Nothing else in agent/
 * calls libvirt or reads the host (evloop.c, libvirt's event API on
 * libevent, aside).
 *
 * Threads: the calls below the "blocking" line can wait on a guest, on
 * libvirtd or on a remote host; they run on worker threads only, and the
 * backend_*() wrappers assert it (threadcheck.h). backend_connected(),
 * backend_reconnects() and backend_uri() are cheap and may run anywhere.
 * Events come the other way, on the loop thread, as struct backend_event.
 *
 * Errors: 0 or a negative errno: -ENOTCONN (no connection), -ENOENT (no
 * such domain or metadata), -ENOTSUP (the driver cannot), -EINVAL (the
 * request was refused), -EIO (anything else); with err non-NULL, *err gets
 * the backend's message (caller frees).
 */
#ifndef MEMPLUG_BACKEND_H
#define MEMPLUG_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host.h"

#define BACKEND_UUID_LEN 36

/* Flags of backend_domain_xml() and the device and metadata calls. */
#define BACKEND_INACTIVE 0x1 /* the persistent definition instead of the live one */
#define BACKEND_LIVE     0x2 /* affect the running guest */
#define BACKEND_CONFIG   0x4 /* affect the persistent definition */
#define BACKEND_SECURE   0x8 /* domain XML with secrets (passwords), to define it again */

enum backend_event_kind {
	BACKEND_EVENT_LIFECYCLE,
	BACKEND_EVENT_DEVICE_ADDED,              /* alias: the DIMM's backend, "memdimmN" */
	BACKEND_EVENT_DEVICE_REMOVED,            /* alias: the DIMM, "dimmN" */
	BACKEND_EVENT_DEVICE_REMOVAL_FAILED,     /* alias: the device the guest refused */
	BACKEND_EVENT_BALLOON_CHANGE,            /* kib: the balloon's new actual size */
	BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE, /* alias, kib: virtio-mem current size */
};

/* Lifecycle event types (libvirt's virDomainEventType values). */
enum backend_lifecycle {
	BACKEND_LIFECYCLE_DEFINED = 0,
	BACKEND_LIFECYCLE_UNDEFINED = 1,
	BACKEND_LIFECYCLE_STARTED = 2,
	BACKEND_LIFECYCLE_STOPPED = 5,
	BACKEND_LIFECYCLE_SHUTDOWN = 6,
	BACKEND_LIFECYCLE_CRASHED = 8,
};

/* One domain event. Every pointer is valid for the callback only. */
struct backend_event {
	enum backend_event_kind kind;
	const char *name;
	char uuid[BACKEND_UUID_LEN + 1];
	const char *alias; /* device events; NULL otherwise */
	int lifecycle;     /* enum backend_lifecycle (virDomainEventType), lifecycle only */
	int detail;        /* its detail enum (e.g. VIR_DOMAIN_EVENT_STOPPED_*) */
	uint64_t kib;      /* balloon and memory device size events */
};

/* A domain as listed. */
struct backend_domain_info {
	char *name;
	char uuid[BACKEND_UUID_LEN + 1];
	bool active;
	int id; /* -1 when not running */
};

struct backend_domain_list {
	size_t n;
	struct backend_domain_info *doms;
};

void backend_domain_list_free(struct backend_domain_list *list);

/* Balloon figures of one domain, KiB; a field the guest does not report is
 * UINT64_MAX. */
struct backend_balloon {
	char *name;
	uint64_t current;   /* balloon.current */
	uint64_t maximum;   /* balloon.maximum */
	uint64_t usable;    /* balloon.usable */
	uint64_t unused;    /* balloon.unused */
	uint64_t available; /* balloon.available */
	uint64_t rss;       /* balloon.rss */
};

struct backend_balloon_list {
	size_t n;
	struct backend_balloon *doms;
};

void backend_balloon_list_free(struct backend_balloon_list *list);

/* An implementation; ctx is struct backend's. Contracts: the wrappers below. */
struct backend_ops {
	int (*list_domains)(void *ctx, struct backend_domain_list *out, char **err);
	int (*domain_xml)(void *ctx, const char *name, unsigned flags, char **xml, char **err);
	int (*persistent)(void *ctx, const char *name, bool *persistent, char **err);
	int (*attach)(void *ctx, const char *name, const char *xml, unsigned flags, char **err);
	int (*detach_alias)(void *ctx, const char *name, const char *alias, unsigned flags,
	                    char **err);
	int (*update_device)(void *ctx, const char *name, const char *xml, unsigned flags,
	                     char **err);
	int (*define)(void *ctx, const char *xml, char **err);
	int (*set_balloon)(void *ctx, const char *name, uint64_t kib, char **err);
	int (*set_stats_period)(void *ctx, const char *name, int seconds, char **err);
	int (*balloon_stats)(void *ctx, struct backend_balloon_list *out, char **err);
	int (*get_metadata)(void *ctx, const char *name, const char *uri, unsigned flags,
	                    char **xml, char **err);
	int (*set_metadata)(void *ctx, const char *name, const char *xml, const char *key,
	                    const char *uri, unsigned flags, char **err);
	int (*host_topology)(void *ctx, struct host **out, char **err);
	int (*host_free)(void *ctx, struct host *h, char **err);
	bool (*connected)(void *ctx);
	unsigned (*reconnects)(void *ctx);
	const char *(*uri)(void *ctx);
};

struct backend {
	const struct backend_ops *ops;
	void *ctx;
};

/* ---- cheap, any thread ---- */

bool backend_connected(const struct backend *b);
/* Successful reconnects since the start. */
unsigned backend_reconnects(const struct backend *b);
/* The connection's URI; valid until the next reload (loop thread). */
const char *backend_uri(const struct backend *b);

/* ---- blocking: worker threads only ---- */

/* Every defined domain. Free *out with backend_domain_list_free(). */
int backend_list_domains(const struct backend *b, struct backend_domain_list *out, char **err);
/* Domain XML, live or (BACKEND_INACTIVE) persistent. *xml is malloc'd. */
int backend_domain_xml(const struct backend *b, const char *name, unsigned flags, char **xml,
                       char **err);
/* The same, waiting out a lost connection: while the call fails with
 * -ENOTCONN it is tried again every half second for up to wait_ms
 * (libvirtd restarts and the agent reconnects within seconds). After a
 * call that lost its connection this is how the outcome is looked at
 * again; -ENOTCONN once the wait is over. */
int backend_domain_xml_wait(const struct backend *b, const char *name, unsigned flags,
                            uint64_t wait_ms, char **xml, char **err);
/* Whether the domain has a persistent definition; false on failure. */
int backend_persistent(const struct backend *b, const char *name, bool *persistent, char **err);
/* Attaches a device given as XML to the live guest and/or the config. */
int backend_attach(const struct backend *b, const char *name, const char *xml, unsigned flags,
                   char **err);
/* Asks for a device's removal by alias; returns at once, the outcome comes
 * as DEVICE_REMOVED or DEVICE_REMOVAL_FAILED. */
int backend_detach_alias(const struct backend *b, const char *name, const char *alias,
                         unsigned flags, char **err);
/* Changes a device in place (virDomainUpdateDeviceFlags), e.g. a virtio-mem
 * device's requested size. */
int backend_update_device(const struct backend *b, const char *name, const char *xml,
                          unsigned flags, char **err);
/* Defines (or redefines) a domain from XML: its persistent definition;
 * a running guest keeps its live one until it restarts. */
int backend_define(const struct backend *b, const char *xml, char **err);
/* Sets the live balloon target. */
int backend_set_balloon(const struct backend *b, const char *name, uint64_t kib, char **err);
/* Sets how often the live guest reports balloon stats, in seconds. */
int backend_set_stats_period(const struct backend *b, const char *name, int seconds, char **err);
/* Balloon stats of every active domain in one call. Free *out with
 * backend_balloon_list_free(). */
int backend_balloon_stats(const struct backend *b, struct backend_balloon_list *out, char **err);
/* The <metadata> element in namespace uri, or -ENOENT. *xml is malloc'd. */
int backend_get_metadata(const struct backend *b, const char *name, const char *uri, unsigned flags,
                         char **xml, char **err);
/* Sets (xml non-NULL) or removes (xml NULL) the <metadata> element in
 * namespace uri with prefix key. */
int backend_set_metadata(const struct backend *b, const char *name, const char *xml,
                         const char *key, const char *uri, unsigned flags, char **err);
/* The host's topology (nodes, CPUs, distances, pools) as of this
 * connection; free values may be stale or unknown. Caller frees *out. */
int backend_host_topology(const struct backend *b, struct host **out, char **err);
/* Fills h's free memory and free hugepages with current values. */
int backend_host_free(const struct backend *b, struct host *h, char **err);
/* Both: what an operation plans against. Caller frees *out. */
int backend_host(const struct backend *b, struct host **out, char **err);

#endif
