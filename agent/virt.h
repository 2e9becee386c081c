/*
 * The only module that calls libvirt. It keeps one connection open (with
 * keepalive), reconnects with backoff when it drops, subscribes to the
 * domain events memplug needs and hands them to the agent as plain structs,
 * and offers synchronous wrappers for the calls operations make.
 *
 * Threads: virt_new(), virt_start(), virt_reconnect(), virt_set_uri() and
 * virt_free() run on the event loop thread; every callback in struct
 * virt_callbacks is called on that thread too. The query and action
 * wrappers (virt_domain_xml() ... virt_balloon_stats()), virt_connected()
 * and virt_reconnects() may be called from any thread: each wrapper takes a
 * reference on the current connection under a mutex, so a reconnect can
 * swap the connection while a worker is blocked in libvirt; that worker's
 * call then fails (-ENOTCONN or -EIO) and the old connection is released
 * when it returns. libvirt connections are themselves thread-safe.
 *
 * Errors: wrappers return 0 or a negative errno: -ENOTCONN (no
 * connection), -ENOENT (no such domain), -ENOTSUP (the driver cannot),
 * -EINVAL (libvirt refused the request), -EIO (anything else); with err
 * non-NULL, *err gets libvirt's message (caller frees).
 */
#ifndef MEMPLUG_VIRT_H
#define MEMPLUG_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "host.h"

struct event_base;
struct virt;

#define VIRT_DEFAULT_URI "qemu:///system"

/*
 * Called on the loop thread. connected() runs after every successful
 * (re)connect, once the events are subscribed, with every domain defined
 * at that moment: the place to rebuild the per-domain view, since events
 * were missed while disconnected. disconnected() says why in words.
 * Any member may be NULL.
 */
struct virt_callbacks {
	void (*connected)(void *opaque, bool reconnect);
	void (*disconnected)(void *opaque, const char *why);
	void (*domain_event)(void *opaque, const struct backend_event *ev);
};

/*
 * Creates the connection manager; connects on virt_start(). The loop must
 * be registered with libvirt (evloop_register_libvirt()) first. uri NULL
 * means VIRT_DEFAULT_URI; it is copied. Returns NULL on allocation failure.
 */
struct virt *virt_new(struct event_base *base, const char *uri, const struct virt_callbacks *cbs,
                      void *opaque);

/*
 * Closes the connection (after unsubscribing) and cancels retries. Call on
 * the loop thread after every worker using it has finished, and before the
 * event loop is freed (libvirt's cleanup runs through the loop). NULL is a
 * no-op.
 */
void virt_free(struct virt *v);

/*
 * First connection attempt. 0 when connected; otherwise a negative errno,
 * and retries are already scheduled with backoff (the agent may run while
 * libvirtd is down).
 */
int virt_start(struct virt *v);

/* Drops the connection now and connects again at once (e.g. on a config
 * reload). Counts as a reconnect. */
void virt_reconnect(struct virt *v);

/* Uses a new URI from the next connection on; reconnects when it differs. */
int virt_set_uri(struct virt *v, const char *uri);

/* Any thread. */
bool virt_connected(struct virt *v);
unsigned virt_reconnects(struct virt *v);
/* The URI in use; owned by v, valid until the next virt_set_uri(). Loop thread. */
const char *virt_uri(struct virt *v);

/* Whether a URI's host is this machine (no host name, not the test
 * driver, whose host is made up): its host then gets the kernel's memory
 * tiers, which libvirt does not report. */
bool virt_uri_local(const char *uri);

/* Delay before retry number `attempt` (0 = first retry): 500 ms doubling to 30 s. */
unsigned virt_backoff_ms(unsigned attempt);

/* ---- synchronous wrappers, any thread; they block in libvirt ---- */

/* Every defined domain. *out is filled; free with backend_domain_list_free(). */
int virt_list_domains(struct virt *v, struct backend_domain_list *out, char **err);

/* Domain XML, live or (BACKEND_INACTIVE) persistent. *xml is malloc'd. */
int virt_domain_xml(struct virt *v, const char *name, unsigned flags, char **xml, char **err);

/* Whether the domain has a persistent definition (BACKEND_CONFIG applies).
 * On failure *persistent is false. */
int virt_domain_persistent(struct virt *v, const char *name, bool *persistent);

/* Attaches a device given as XML to the live guest and/or config. */
int virt_attach(struct virt *v, const char *name, const char *xml, unsigned flags, char **err);
/* virDomainDefineXML: the persistent definition, new or replaced. */
int virt_define(struct virt *v, const char *xml, char **err);

/* Asks for a device's removal by alias; returns at once, the outcome comes
 * as DEVICE_REMOVED or DEVICE_REMOVAL_FAILED. */
int virt_detach_alias(struct virt *v, const char *name, const char *alias, unsigned flags,
                      char **err);

/* Sets (xml non-NULL) or removes (xml NULL) the <metadata> element in
 * namespace uri with prefix key. */
int virt_set_metadata(struct virt *v, const char *name, const char *xml, const char *key,
                      const char *uri, unsigned flags, char **err);

/* The <metadata> element in namespace uri, or -ENOENT when absent. *xml is malloc'd. */
int virt_get_metadata(struct virt *v, const char *name, const char *uri, unsigned flags, char **xml,
                      char **err);

/* Balloon stats of every active domain in one libvirt call. Free with
 * backend_balloon_list_free(). */
int virt_balloon_stats(struct virt *v, struct backend_balloon_list *out, char **err);

/* Sets the live balloon target (virDomainSetMemoryFlags, live only). */
int virt_set_balloon(struct virt *v, const char *name, uint64_t kib, char **err);

/* Sets how often the live guest reports balloon stats, in seconds. */
int virt_set_stats_period(struct virt *v, const char *name, int seconds, char **err);

/* Changes a device in place (virDomainUpdateDeviceFlags). */
int virt_update_device(struct virt *v, const char *name, const char *xml, unsigned flags,
                       char **err);

/* The host's topology from the connection's capabilities (host_from_caps()),
 * read once per connection and copied from then on; source
 * HOST_SOURCE_LIBVIRT. Caller frees *out. */
int virt_host_topology(struct virt *v, struct host **out, char **err);
/* Fills h's free memory (virNodeGetCellsFreeMemory) and free hugepages
 * (virNodeGetFreePages) per node; values a node cannot hold are reported
 * in h->warnings and left unknown. */
int virt_host_free(struct virt *v, struct host *h, char **err);

/* The libvirt host calls made since virt_new(): capabilities (once per
 * connection, on first use), and per node free memory and free pages (on
 * every virt_host_free()). They let tests prove that caching. */
struct virt_host_reads {
	unsigned caps;        /* virConnectGetCapabilities */
	unsigned free_memory; /* virNodeGetCellsFreeMemory */
	unsigned free_pages;  /* virNodeGetFreePages */
};
void virt_host_reads(struct virt *v, struct virt_host_reads *out);

/* v as the agent's backend (backend.h): out->ctx is v. */
void virt_backend(struct virt *v, struct backend *out);

#endif
