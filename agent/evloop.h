/*
 * The agent's one event loop: a libevent event_base that also serves as
 * libvirt's event implementation (virEventRegisterImpl), so libvirt's
 * sockets, keepalive timers and domain event dispatch run on the same loop
 * as the control socket, signals and the agent's own timers.
 *
 * Threads: evloop_new(), evloop_run(), evloop_free() belong to the thread
 * that runs the loop; evloop_new() marks its caller as the loop thread
 * (threadcheck.h). The libvirt callbacks this module implements may be
 * called from any thread (libvirt calls them from its RPC threads), and so
 * may evloop_stop(). libevent is put in thread-safe mode (pthreads) so the
 * agent's other modules may also event_add()/event_active() from workers.
 */
#ifndef MEMPLUG_EVLOOP_H
#define MEMPLUG_EVLOOP_H

#include <stddef.h>

struct event_base;
struct evloop;

/*
 * Creates a loop. Routes libevent's log messages into log.h and enables
 * libevent's pthreads locking first (once per process). Returns NULL on
 * failure (logged). Free with evloop_free().
 */
struct evloop *evloop_new(void);

/*
 * Frees the loop. Must be called from the loop's thread once every libvirt
 * connection is closed: free callbacks still queued by libvirt's removals
 * run here; handles and timeouts libvirt never removed are released
 * without calling their free callbacks. Unregisters the loop from libvirt
 * if it was the registered one. NULL is a no-op.
 */
void evloop_free(struct evloop *loop);

/* The loop's event_base, owned by the loop. */
struct event_base *evloop_base(struct evloop *loop);

/*
 * Makes this loop libvirt's event implementation and routes libvirt's error
 * messages into log.h. Call before opening any libvirt connection. Only one
 * loop may be registered at a time: -EBUSY if another one is. libvirt keeps
 * the implementation for the life of the process; after evloop_free() the
 * implementation fails every call until another loop registers.
 */
int evloop_register_libvirt(struct evloop *loop);

/* Runs until evloop_stop() or no events remain. 0, or -EIO on a libevent error. */
int evloop_run(struct evloop *loop);

/* Runs one non-blocking iteration: dispatches what is ready, then returns. */
int evloop_run_once(struct evloop *loop);

/* Runs fn(arg) on the loop thread soon: how workers hand results back.
 * Any thread. 0, -ENOMEM or -EIO. */
int evloop_post(struct evloop *loop, void (*fn)(void *arg), void *arg);

/* Makes evloop_run() return after the current callback. Any thread. */
void evloop_stop(struct evloop *loop);

/* Handles and timeouts libvirt holds now, and free callbacks still queued:
 * for tests and status. Any thread. */
struct evloop_counts {
	size_t handles;
	size_t timeouts;
	size_t pending_frees;
};
void evloop_counts(struct evloop *loop, struct evloop_counts *out);

#endif
