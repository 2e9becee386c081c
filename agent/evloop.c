/*
 * libvirt's event API on libevent. libvirt hands us file descriptors to
 * watch and timeouts to run; each becomes a libevent event whose callback
 * calls back into libvirt. The contract (see docs/design-evloop.md): calls
 * may come from any thread; a timeout of 0 fires on every loop iteration,
 * N > 0 every N ms, -1 never; removal is allowed from inside the watch's own
 * callback; and free callbacks run later, from the loop, never inside
 * remove (libvirt may hold its own locks there). Removed watches go on a
 * "dead" list that a reaper event empties from a clean stack.
 *
 * Locking: loop->lock guards the watch lists and fields. It is taken before
 * libevent's base lock and never held while calling libvirt, so events are
 * only ever deleted with event_del_noblock() under it: a blocking delete
 * could wait for a callback that is itself waiting for loop->lock.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "evloop.h"
#include "log.h"
#include "threadcheck.h"

struct evloop_watch {
	struct evloop_watch *next;
	struct evloop *loop;
	struct event *ev;
	int id;
	bool deleted;
	int fd;       /* handles */
	int events;   /* handles: VIR_EVENT_HANDLE_* wanted */
	int interval; /* timeouts: ms, -1 = disabled */
	virEventHandleCallback hcb;
	virEventTimeoutCallback tcb;
	void *opaque;
	virFreeCallback ff;
};

struct evloop {
	struct event_base *base;
	struct event *reaper; /* runs free callbacks of removed watches */
	pthread_mutex_t lock;
	int next_id;
	struct evloop_watch *handles;
	struct evloop_watch *timeouts;
	struct evloop_watch *dead; /* removed, newest first */
};

/* The loop libvirt's callbacks act on. libvirt's API passes no context. */
static pthread_mutex_t evloop_current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct evloop *evloop_current;

static void evloop_libevent_log(int severity, const char *msg)
{
	enum log_level level = LOG_LEVEL_DEBUG;

	if (severity == EVENT_LOG_ERR)
		level = LOG_LEVEL_ERR;
	else if (severity == EVENT_LOG_WARN)
		level = LOG_LEVEL_WARN;
	log_msg(level, "libevent: %s", msg);
}

static void evloop_libevent_fatal(int err)
{
	fatal("libevent: fatal internal error %d", err);
}

static void evloop_setup_libevent(void)
{
	event_set_log_callback(evloop_libevent_log);
	event_set_fatal_callback(evloop_libevent_fatal);
	if (evthread_use_pthreads() < 0)
		fatal("libevent: cannot enable pthreads locking");
}

static struct evloop *evloop_get(void)
{
	struct evloop *loop;

	pthread_mutex_lock(&evloop_current_lock);
	loop = evloop_current;
	pthread_mutex_unlock(&evloop_current_lock);
	if (!loop)
		log_warn("evloop: libvirt event call with no loop registered");
	return loop;
}

/* ---- free callbacks, run from the loop ---- */

static struct evloop_watch *evloop_take_dead(struct evloop *loop)
{
	struct evloop_watch *w, *next, *fifo = NULL;

	pthread_mutex_lock(&loop->lock);
	w = loop->dead;
	loop->dead = NULL;
	pthread_mutex_unlock(&loop->lock);
	for (; w; w = next) { /* reverse: free in removal order */
		next = w->next;
		w->next = fifo;
		fifo = w;
	}
	return fifo;
}

static void evloop_watch_release(struct evloop_watch *w, bool call_ff)
{
	event_free(w->ev);
	if (call_ff && w->ff)
		w->ff(w->opaque);
	free(w);
}

/* Free callbacks may remove more watches, so drain until nothing is left. */
static void evloop_reap(struct evloop *loop)
{
	struct evloop_watch *w, *next;

	while ((w = evloop_take_dead(loop))) {
		for (; w; w = next) {
			next = w->next;
			evloop_watch_release(w, true);
		}
	}
}

static void evloop_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	evloop_reap(arg);
}

/* ---- shared watch bookkeeping ---- */

static struct evloop_watch *evloop_watch_new(struct evloop *loop, void *opaque, virFreeCallback ff)
{
	struct evloop_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->loop = loop;
	w->opaque = opaque;
	w->ff = ff;
	w->fd = -1;
	return w;
}

/* Links a fully built watch and gives it an id. Caller holds the lock. */
static int evloop_watch_link(struct evloop_watch **list, struct evloop_watch *w)
{
	w->id = ++w->loop->next_id;
	w->next = *list;
	*list = w;
	return w->id;
}

static struct evloop_watch *evloop_watch_find(struct evloop_watch *list, int id)
{
	for (; list; list = list->next)
		if (list->id == id)
			return list;
	return NULL;
}

/* Unlinks a watch and queues it for the reaper: its free callback must not
 * run inside remove, where libvirt may hold locks the callback takes. */
static int evloop_watch_remove(struct evloop *loop, struct evloop_watch **list, int id)
{
	struct evloop_watch **pp, *w = NULL;

	pthread_mutex_lock(&loop->lock);
	for (pp = list; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			w = *pp;
			*pp = w->next;
			break;
		}
	}
	if (w) {
		w->deleted = true;
		event_del_noblock(w->ev);
		w->next = loop->dead;
		loop->dead = w;
		event_active(loop->reaper, EV_TIMEOUT, 0);
	}
	pthread_mutex_unlock(&loop->lock);
	return w ? 0 : -1;
}

/* ---- handles ---- */

static short evloop_handle_flags(int events)
{
	short flags = 0;

	if (events & VIR_EVENT_HANDLE_READABLE)
		flags |= EV_READ;
	if (events & VIR_EVENT_HANDLE_WRITABLE)
		flags |= EV_WRITE;
	return flags;
}

/*
 * libevent folds POLLERR and POLLHUP into EV_READ|EV_WRITE; libvirt wants
 * them apart (its client closes on HANGUP or ERROR). One poll() with no
 * wait tells them apart exactly as libvirt's own loop would. 0 means the
 * descriptor is no longer ready: nothing to dispatch.
 */
static int evloop_handle_revents(int fd, short what, int wanted)
{
	struct pollfd p = {.fd = fd, .events = 0};
	int events = 0;

	if (wanted & VIR_EVENT_HANDLE_READABLE)
		p.events |= POLLIN;
	if (wanted & VIR_EVENT_HANDLE_WRITABLE)
		p.events |= POLLOUT;
	if (poll(&p, 1, 0) < 0) { /* EINTR: trust libevent */
		p.revents = (short)(((what & EV_READ) ? POLLIN : 0) |
		                    ((what & EV_WRITE) ? POLLOUT : 0));
	}
	if (p.revents & POLLIN)
		events |= VIR_EVENT_HANDLE_READABLE;
	if (p.revents & POLLOUT)
		events |= VIR_EVENT_HANDLE_WRITABLE;
	if (p.revents & (POLLERR | POLLNVAL))
		events |= VIR_EVENT_HANDLE_ERROR;
	if (p.revents & POLLHUP)
		events |= VIR_EVENT_HANDLE_HANGUP;
	return events & (wanted | VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP);
}

static void evloop_handle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evloop_watch *w = arg;
	virEventHandleCallback cb;
	void *opaque;
	int id, wanted, events;

	pthread_mutex_lock(&w->loop->lock);
	cb = w->hcb;
	opaque = w->opaque;
	id = w->id;
	wanted = w->deleted ? 0 : w->events;
	pthread_mutex_unlock(&w->loop->lock);
	if (wanted == 0)
		return;
	events = evloop_handle_revents(fd, what, wanted);
	/* w stays allocated until the reaper runs, after this returns */
	if (events)
		cb(id, fd, events, opaque);
}

/* (Re)arms a handle for w->events. Caller holds the lock; w is not pending. */
static int evloop_handle_arm(struct evloop_watch *w)
{
	short flags = evloop_handle_flags(w->events);

	if (event_assign(w->ev, w->loop->base, w->fd, flags | EV_PERSIST, evloop_handle_cb, w) < 0)
		return -1;
	return flags ? event_add(w->ev, NULL) : 0;
}

static int evloop_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
                             virFreeCallback ff)
{
	struct evloop *loop = evloop_get();
	struct evloop_watch *w;
	int id = -1;

	if (!loop || !(w = evloop_watch_new(loop, opaque, ff)))
		return -1;
	w->fd = fd;
	w->events = events;
	w->hcb = cb;
	pthread_mutex_lock(&loop->lock);
	w->ev = event_new(loop->base, fd, EV_PERSIST, evloop_handle_cb, w);
	if (w->ev && evloop_handle_arm(w) == 0)
		id = evloop_watch_link(&loop->handles, w);
	pthread_mutex_unlock(&loop->lock);
	if (id < 0) {
		log_err("evloop: cannot watch fd %d", fd);
		if (w->ev)
			event_free(w->ev);
		free(w);
	}
	return id;
}

static void evloop_update_handle(int id, int events)
{
	struct evloop *loop = evloop_get();
	struct evloop_watch *w;

	if (!loop)
		return;
	pthread_mutex_lock(&loop->lock);
	w = evloop_watch_find(loop->handles, id);
	if (w && w->events != events) {
		event_del_noblock(w->ev);
		w->events = events;
		if (evloop_handle_arm(w) < 0)
			log_err("evloop: cannot update watch %d on fd %d", id, w->fd);
	} else if (!w) {
		log_debug("evloop: update of unknown handle %d", id);
	}
	pthread_mutex_unlock(&loop->lock);
}

static int evloop_remove_handle(int id)
{
	struct evloop *loop = evloop_get();

	return loop ? evloop_watch_remove(loop, &loop->handles, id) : -1;
}

/* ---- timeouts ---- */

static void evloop_timeout_arm(struct evloop_watch *w)
{
	struct timeval tv = {.tv_sec = w->interval / 1000, .tv_usec = (w->interval % 1000) * 1000};

	/* A 0 timer added now is due at the next iteration, not this one:
	 * that is what makes "0 fires on every iteration" not spin. */
	if (event_add(w->ev, &tv) < 0)
		log_err("evloop: cannot arm timeout %d", w->id);
}

/*
 * One-shot libevent timers, re-armed after each call: EV_PERSIST does not
 * repeat a zero timeout, and re-arming after the callback respects an
 * update or removal the callback made.
 */
static void evloop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evloop_watch *w = arg;
	virEventTimeoutCallback cb;
	void *opaque;
	int id;
	bool enabled;

	pthread_mutex_lock(&w->loop->lock);
	cb = w->tcb;
	opaque = w->opaque;
	id = w->id;
	enabled = !w->deleted && w->interval >= 0;
	pthread_mutex_unlock(&w->loop->lock);
	if (!enabled)
		return;
	cb(id, opaque);
	pthread_mutex_lock(&w->loop->lock);
	if (!w->deleted && w->interval >= 0 && !event_pending(w->ev, EV_TIMEOUT, NULL))
		evloop_timeout_arm(w);
	pthread_mutex_unlock(&w->loop->lock);
}

static int evloop_add_timeout(int interval, virEventTimeoutCallback cb, void *opaque,
                              virFreeCallback ff)
{
	struct evloop *loop = evloop_get();
	struct evloop_watch *w;
	int id = -1;

	if (!loop || !(w = evloop_watch_new(loop, opaque, ff)))
		return -1;
	w->interval = interval < 0 ? -1 : interval;
	w->tcb = cb;
	pthread_mutex_lock(&loop->lock);
	w->ev = evtimer_new(loop->base, evloop_timeout_cb, w);
	if (w->ev) {
		id = evloop_watch_link(&loop->timeouts, w);
		if (w->interval >= 0)
			evloop_timeout_arm(w);
	}
	pthread_mutex_unlock(&loop->lock);
	if (id < 0) {
		log_err("evloop: cannot create a timeout");
		free(w);
	}
	return id;
}

static void evloop_update_timeout(int id, int interval)
{
	struct evloop *loop = evloop_get();
	struct evloop_watch *w;

	if (!loop)
		return;
	pthread_mutex_lock(&loop->lock);
	w = evloop_watch_find(loop->timeouts, id);
	if (w) {
		/* Like libvirt's own loop, an update restarts the period:
		 * keepalive relies on it to push its deadline back. */
		w->interval = interval < 0 ? -1 : interval;
		event_del_noblock(w->ev);
		if (w->interval >= 0)
			evloop_timeout_arm(w);
	} else {
		log_debug("evloop: update of unknown timeout %d", id);
	}
	pthread_mutex_unlock(&loop->lock);
}

static int evloop_remove_timeout(int id)
{
	struct evloop *loop = evloop_get();

	return loop ? evloop_watch_remove(loop, &loop->timeouts, id) : -1;
}

/* ---- libvirt errors ---- */

/*
 * Every libvirt error passes here as it is raised, including the ones the
 * caller handles and reports with more context (virt.c does, through
 * virGetLastErrorMessage()). Logged at debug so they are not said twice.
 */
static void evloop_virt_error(void *opaque, virErrorPtr e)
{
	if (e && e->message)
		log_debug("libvirt: %s (code %d, domain %d)", e->message, e->code, e->domain);
}

static void evloop_register_once(void)
{
	virSetErrorFunc(NULL, evloop_virt_error);
	virEventRegisterImpl(evloop_add_handle, evloop_update_handle, evloop_remove_handle,
	                     evloop_add_timeout, evloop_update_timeout, evloop_remove_timeout);
}

int evloop_register_libvirt(struct evloop *loop)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int rc = 0;

	pthread_mutex_lock(&evloop_current_lock);
	if (evloop_current && evloop_current != loop)
		rc = -EBUSY;
	else
		evloop_current = loop;
	pthread_mutex_unlock(&evloop_current_lock);
	if (rc == 0)
		pthread_once(&once, evloop_register_once);
	return rc;
}

/* ---- the loop ---- */

struct evloop *evloop_new(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct evloop *loop;

	pthread_once(&once, evloop_setup_libevent);
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	pthread_mutex_init(&loop->lock, NULL);
	loop->base = event_base_new();
	if (loop->base)
		loop->reaper = event_new(loop->base, -1, 0, evloop_reaper_cb, loop);
	if (!loop->reaper) {
		log_err("evloop: cannot create the libevent loop");
		evloop_free(loop);
		return NULL;
	}
	log_debug("evloop: libevent %s, backend %s", event_get_version(),
	          event_base_get_method(loop->base));
	threadcheck_mark_loop();
	return loop;
}

struct evloop_posted {
	void (*fn)(void *arg);
	void *arg;
};

static void evloop_posted_run(evutil_socket_t fd, short what, void *arg)
{
	struct evloop_posted *p = arg;

	p->fn(p->arg);
	free(p);
}

int evloop_post(struct evloop *loop, void (*fn)(void *arg), void *arg)
{
	struct evloop_posted *p = malloc(sizeof(*p));
	struct timeval now = {0, 0};

	if (p == NULL)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	/* libevent runs in thread-safe mode: this wakes the loop. */
	if (event_base_once(loop->base, -1, EV_TIMEOUT, evloop_posted_run, p, &now) < 0) {
		free(p);
		return -EIO;
	}
	return 0;
}

static void evloop_free_list(struct evloop_watch *w)
{
	struct evloop_watch *next;

	for (; w; w = next) {
		next = w->next;
		evloop_watch_release(w, false);
	}
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	pthread_mutex_lock(&evloop_current_lock);
	if (evloop_current == loop)
		evloop_current = NULL;
	pthread_mutex_unlock(&evloop_current_lock);
	evloop_reap(loop);
	if (loop->handles || loop->timeouts)
		log_debug("evloop: freeing watches libvirt did not remove");
	evloop_free_list(loop->handles);
	evloop_free_list(loop->timeouts);
	if (loop->reaper)
		event_free(loop->reaper);
	if (loop->base)
		event_base_free(loop->base);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

struct event_base *evloop_base(struct evloop *loop)
{
	return loop->base;
}

int evloop_run(struct evloop *loop)
{
	return event_base_dispatch(loop->base) < 0 ? -EIO : 0;
}

int evloop_run_once(struct evloop *loop)
{
	return event_base_loop(loop->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) < 0 ? -EIO : 0;
}

void evloop_stop(struct evloop *loop)
{
	event_base_loopbreak(loop->base);
}

static size_t evloop_list_len(const struct evloop_watch *w)
{
	size_t n = 0;

	for (; w; w = w->next)
		n++;
	return n;
}

void evloop_counts(struct evloop *loop, struct evloop_counts *out)
{
	pthread_mutex_lock(&loop->lock);
	out->handles = evloop_list_len(loop->handles);
	out->timeouts = evloop_list_len(loop->timeouts);
	out->pending_frees = evloop_list_len(loop->dead);
	pthread_mutex_unlock(&loop->lock);
}
