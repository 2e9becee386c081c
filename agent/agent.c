/*
 * The agent's shared services and its domain views: posting work onto the
 * loop, thread-safe audit appends, detach waiters, and keeping one model
 * per domain up to date from libvirt's events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agent.h"
#include "log.h"
#include "record.h"
#include "ops.h"
#include "ops_backend.h"

struct posted {
	void (*fn)(void *arg);
	void *arg;
};

static void posted_run(evutil_socket_t fd, short what, void *arg)
{
	struct posted *p = arg;

	p->fn(p->arg);
	free(p);
}

int agent_post(struct agent *a, void (*fn)(void *arg), void *arg)
{
	struct posted *p = malloc(sizeof(*p));
	struct timeval now = {0, 0};

	if (p == NULL)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	/* libevent runs in thread-safe mode: this wakes the loop. */
	if (event_base_once(evloop_base(a->loop), -1, EV_TIMEOUT, posted_run, p, &now) < 0) {
		free(p);
		return -EIO;
	}
	return 0;
}

int agent_audit(struct agent *a, const struct record *r, bool sync, char **err)
{
	char *why = NULL;
	int rc;

	pthread_mutex_lock(&a->audit_lock);
	rc = audit_append(a->audit, r, sync, NULL, &why);
	pthread_mutex_unlock(&a->audit_lock);
	if (rc < 0) {
		log_err("audit log: cannot write a %s record: %s", record_event_name(r->event),
		        why ? why : "unknown error");
		if (err && *err == NULL)
			*err = why;
		else
			free(why);
	}
	return rc;
}

int agent_audit_check(struct agent *a, char **err)
{
	int rc;

	pthread_mutex_lock(&a->audit_lock);
	rc = audit_check_changes(a->audit, err);
	pthread_mutex_unlock(&a->audit_lock);
	return rc;
}

size_t agent_node_mem(const struct domain *dom, struct record_node_mem **out)
{
	struct record_node_mem *m = calloc(dom->n_cells ? dom->n_cells : 1, sizeof(*m));

	*out = m;
	if (m == NULL)
		return 0;
	for (size_t i = 0; i < dom->n_cells; i++) {
		m[i].node = (unsigned)i;
		m[i].kib = dom->cells[i].memory_kib + domain_memdev_kib(dom, (int)i);
	}
	return dom->n_cells;
}

struct agent_domain *agent_domain_find(struct agent *a, const char *name)
{
	for (struct agent_domain *d = a->domains; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static struct agent_domain *agent_domain_add(struct agent *a, const char *name, const char *uuid)
{
	struct agent_domain *d = agent_domain_find(a, name);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->name = strdup(name)) == NULL) {
		free(d);
		return NULL;
	}
	snprintf(d->uuid, sizeof(d->uuid), "%s", uuid ? uuid : "");
	d->next = a->domains;
	a->domains = d;
	return d;
}

void agent_domain_set_model(struct agent_domain *d, struct domain *model)
{
	domain_free(d->model);
	d->model = model;
	free(d->model_error);
	d->model_error = NULL;
}

void agent_domain_refresh(struct agent *a, struct agent_domain *d)
{
	struct domain *dom = NULL;
	char *xml = NULL, *err = NULL;

	if (ops_backend_domain_xml(a, d->name, d->active ? 0 : VIRT_INACTIVE, &xml, &err) == 0 &&
	    domain_parse(xml, strlen(xml), &dom, &err) == 0) {
		agent_domain_set_model(d, dom);
	} else {
		log_warn("domain %s: %s", d->name, err ? err : "cannot read its XML");
		free(d->model_error);
		d->model_error = err;
		err = NULL;
	}
	free(xml);
	free(err);
}

void agent_domain_free(struct agent_domain *d)
{
	domain_free(d->model);
	free(d->model_error);
	free(d->name);
	free(d);
}

void agent_domain_remove(struct agent *a, const char *name)
{
	for (struct agent_domain **pp = &a->domains; *pp; pp = &(*pp)->next) {
		struct agent_domain *d = *pp;

		if (strcmp(d->name, name) != 0)
			continue;
		ops_cancel_queued(a, d, "the domain went away");
		/* A running operation still refers to it: op_done() removes it. */
		d->gone = d->queue != NULL;
		if (d->gone)
			return;
		*pp = d->next;
		agent_domain_free(d);
		return;
	}
}

static void agent_audit_simple(struct agent *a, enum record_event ev, const char *domain,
                               const char *uuid, enum record_result res, const char *error,
                               json_object *extra)
{
	struct record r = {
	        .event = ev,
	        .domain = domain,
	        .uuid = uuid && *uuid ? uuid : NULL,
	        .actor = {.kind = ev == RECORD_CONNECT || ev == RECORD_RECONNECT
	                                  ? RECORD_ACTOR_AGENT
	                                  : RECORD_ACTOR_LIBVIRT},
	        .result = res,
	        .error = error,
	        .extra = extra,
	};

	agent_audit(a, &r, false, NULL);
	json_object_put(extra);
}

static bool domain_has_alias(const struct domain *dom, const char *alias)
{
	for (size_t i = 0; dom && i < dom->n_memdevs; i++)
		if (dom->memdevs[i].alias && strcmp(dom->memdevs[i].alias, alias) == 0)
			return true;
	return false;
}

/* One intent left without an outcome by a crash: what does the guest have? */
static void agent_reconcile_one(struct agent *a, json_object *intent)
{
	const char *name = record_str(intent, "domain");
	const char *alias = record_str(intent, "alias");
	const char *request = record_str(intent, "request");
	struct agent_domain *d = name ? agent_domain_find(a, name) : NULL;
	struct record_node_mem *after = NULL;
	char grow_prefix[64];
	bool present, grow;
	json_object *x = json_object_new_object();
	struct record r = {.event = RECORD_RECONCILED,
	                   .domain = name,
	                   .uuid = record_str(intent, "uuid"),
	                   .request = request,
	                   .actor = {.kind = RECORD_ACTOR_AGENT}};

	/* A grow names its new DIMMs after its request; a shrink names old ones. */
	snprintf(grow_prefix, sizeof(grow_prefix), OPS_ALIAS_PREFIX "%s-", request ? request : "");
	grow = alias && strncmp(alias, grow_prefix, strlen(grow_prefix)) == 0;
	/* agent_on_connected() has just read every domain's XML. */
	present = d && domain_has_alias(d->model, alias ? alias : "");
	json_object_object_add(x, "intent_seq", json_object_new_uint64(record_seq(intent)));
	json_object_object_add(x, "op", json_object_new_string(grow ? "grow" : "shrink"));
	json_object_object_add(x, "alias", alias ? json_object_new_string(alias) : NULL);
	json_object_object_add(x, "found",
	                       json_object_new_string(d == NULL ? "domain gone"
	                                              : present ? "attached"
	                                                        : "not attached"));
	r.extra = x;
	r.result = d && d->model ? RECORD_OK : RECORD_FAILED;
	if (d == NULL)
		r.error = "the domain is no longer known to libvirt";
	if (d && d->model)
		r.n_after = agent_node_mem(d->model, &after);
	r.after = after;
	log_warn("reconciled %s %s of %s on %s: the DIMM is %s", request ? request : "?",
	         grow ? "grow" : "shrink", alias ? alias : "?", name ? name : "?",
	         present ? "attached" : "not attached");
	agent_audit(a, &r, true, NULL);
	free(after);
	json_object_put(x);
}

/* At the first connection: settle every intent a crash left open. */
static void agent_reconcile(struct agent *a)
{
	json_object *pending = NULL;
	char *err = NULL;

	if (audit_pending_intents(a->audit, &pending, &err) < 0) {
		log_err("cannot read the audit log to reconcile: %s", err);
		free(err);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(pending); i++)
		agent_reconcile_one(a, json_object_array_get_idx(pending, i));
	json_object_put(pending);
}

void agent_on_connected(void *opaque, bool reconnect, const struct virt_domain_list *doms)
{
	struct agent *a = opaque;
	json_object *x = json_object_new_object();

	json_object_object_add(x, "uri", json_object_new_string(virt_uri(a->virt)));
	json_object_object_add(x, "reconnects", json_object_new_int((int)virt_reconnects(a->virt)));
	agent_audit_simple(a, reconnect ? RECORD_RECONNECT : RECORD_CONNECT, NULL, NULL, RECORD_OK,
	                   NULL, x);
	for (size_t i = 0; i < doms->n; i++) {
		struct agent_domain *d =
		        agent_domain_add(a, doms->doms[i].name, doms->doms[i].uuid);

		if (d == NULL)
			continue;
		d->active = doms->doms[i].active;
		agent_domain_refresh(a, d);
	}
	if (!a->reconciled) {
		agent_reconcile(a);
		a->reconciled = true;
	}
}

void agent_on_disconnected(void *opaque, const char *why)
{
	log_warn("lost the libvirt connection: %s", why ? why : "closed");
}

/* "memua-mp-x-0" (DEVICE_ADDED names the memory backend) -> "ua-mp-x-0". */
static const char *device_alias(const char *alias)
{
	if (alias && strncmp(alias, "mem", 3) == 0 &&
	    (strncmp(alias + 3, "ua-", 3) == 0 || strncmp(alias + 3, "dimm", 4) == 0))
		return alias + 3;
	return alias;
}

static void agent_waiters_wake(struct agent *a, const char *domain, const char *alias, int state)
{
	pthread_mutex_lock(&a->wait_lock);
	for (struct agent_waiter *w = a->waiters; w; w = w->next)
		if (w->state == 0 && strcmp(w->domain, domain) == 0 && strcmp(w->alias, alias) == 0)
			w->state = state;
	pthread_cond_broadcast(&a->wait_cond);
	pthread_mutex_unlock(&a->wait_lock);
}

static struct agent_late *agent_late_new(const char *domain, const char *alias, const char *request,
                                         bool config)
{
	struct agent_late *l = calloc(1, sizeof(*l));

	if (l == NULL || !(l->domain = strdup(domain)) || !(l->alias = strdup(alias)) ||
	    !(l->request = strdup(request)))
		abort();
	l->config = config;
	return l;
}

void agent_late_free(struct agent_late *l)
{
	free(l->domain);
	free(l->alias);
	free(l->request);
	free(l);
}

/* The pending detach of this alias, unlinked; NULL when there is none. */
static struct agent_late *agent_late_take(struct agent *a, const char *domain, const char *alias)
{
	struct agent_late *found = NULL;

	pthread_mutex_lock(&a->wait_lock);
	for (struct agent_late **pp = &a->late; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->domain, domain) == 0 && strcmp((*pp)->alias, alias) == 0) {
			found = *pp;
			*pp = found->next;
			break;
		}
	}
	pthread_mutex_unlock(&a->wait_lock);
	return found;
}

/* The guest finally answered a detach that timed out: finish and audit it. */
static void agent_late_outcome(struct agent *a, struct agent_late *l, const char *uuid,
                               bool removed)
{
	json_object *x = json_object_new_object();
	char *err = NULL;
	struct record r = {.event = RECORD_OUTCOME,
	                   .domain = l->domain,
	                   .uuid = uuid && *uuid ? uuid : NULL,
	                   .request = l->request,
	                   .actor = {.kind = RECORD_ACTOR_LIBVIRT},
	                   .result = removed ? RECORD_OK : RECORD_REFUSED,
	                   .extra = x};

	if (removed && l->config &&
	    ops_backend_detach_alias(a, l->domain, l->alias, VIRT_CONFIG, &err) < 0) {
		r.result = RECORD_FAILED;
		r.error = err;
	} else if (!removed) {
		r.error = "unplug was rejected by the guest";
	}
	json_object_object_add(x, "alias", json_object_new_string(l->alias));
	json_object_object_add(x, "late", json_object_new_boolean(true));
	agent_audit(a, &r, true, NULL);
	log_info("%s: the guest %s %s after the timeout", l->request,
	         removed ? "released" : "refused to release", l->alias);
	json_object_put(x);
	free(err);
	agent_late_free(l);
}

static void agent_device_event(struct agent *a, const struct virt_event *ev)
{
	static const enum record_event kinds[] = {
	        [VIRT_EVENT_DEVICE_ADDED] = RECORD_DEVICE_ADDED,
	        [VIRT_EVENT_DEVICE_REMOVED] = RECORD_DEVICE_REMOVED,
	        [VIRT_EVENT_DEVICE_REMOVAL_FAILED] = RECORD_DEVICE_REMOVAL_FAILED,
	};
	const char *alias = device_alias(ev->alias);
	json_object *x = json_object_new_object();

	json_object_object_add(x, "alias", alias ? json_object_new_string(alias) : NULL);
	/* Our own DIMMs carry the request id: ua-mp-REQUEST-K. */
	json_object_object_add(
	        x, "solicited",
	        json_object_new_boolean(
	                alias && strncmp(alias, OPS_ALIAS_PREFIX, strlen(OPS_ALIAS_PREFIX)) == 0));
	agent_audit_simple(
	        a, kinds[ev->kind], ev->name, ev->uuid,
	        ev->kind == VIRT_EVENT_DEVICE_REMOVAL_FAILED ? RECORD_REFUSED : RECORD_OK, NULL, x);
	if (alias && ev->kind != VIRT_EVENT_DEVICE_ADDED) {
		struct agent_late *l = agent_late_take(a, ev->name, alias);

		agent_waiters_wake(a, ev->name, alias,
		                   ev->kind == VIRT_EVENT_DEVICE_REMOVED ? 1 : -1);
		if (l)
			agent_late_outcome(a, l, ev->uuid, ev->kind == VIRT_EVENT_DEVICE_REMOVED);
	}
}

void agent_on_event(void *opaque, const struct virt_event *ev)
{
	struct agent *a = opaque;
	struct agent_domain *d;

	switch (ev->kind) {
	case VIRT_EVENT_DEVICE_ADDED:
	case VIRT_EVENT_DEVICE_REMOVED:
	case VIRT_EVENT_DEVICE_REMOVAL_FAILED:
		agent_device_event(a, ev);
		break;
	case VIRT_EVENT_BALLOON_CHANGE: {
		json_object *x = json_object_new_object();

		json_object_object_add(x, "balloon_kib", json_object_new_uint64(ev->kib));
		agent_audit_simple(a, RECORD_BALLOON_CHANGE, ev->name, ev->uuid, RECORD_OK, NULL,
		                   x);
		return;
	}
	case VIRT_EVENT_LIFECYCLE:
		if (ev->lifecycle == 1 /* VIR_DOMAIN_EVENT_UNDEFINED */) {
			agent_domain_remove(a, ev->name);
			return;
		}
		break;
	default:
		break;
	}
	d = agent_domain_add(a, ev->name, ev->uuid);
	if (d == NULL)
		return;
	/* DEFINED and SHUTDOWN (the guest is going down) leave the state as
	 * it was; STOPPED ends it; everything else means it runs. */
	if (ev->kind == VIRT_EVENT_LIFECYCLE && ev->lifecycle == 5 /* STOPPED */)
		d->active = false;
	else if (ev->kind == VIRT_EVENT_LIFECYCLE && ev->lifecycle != 0 /* DEFINED */ &&
	         ev->lifecycle != 7 /* SHUTDOWN */)
		d->active = true;
	agent_domain_refresh(a, d);
}

struct agent_waiter *agent_waiter_add(struct agent *a, const char *domain, const char *alias)
{
	struct agent_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL)
		abort();
	w->domain = strdup(domain);
	w->alias = strdup(alias);
	pthread_mutex_lock(&a->wait_lock);
	w->next = a->waiters;
	a->waiters = w;
	pthread_mutex_unlock(&a->wait_lock);
	return w;
}

int agent_waiter_wait(struct agent *a, struct agent_waiter *w, uint64_t timeout_ms,
                      const char *late_request, bool late_config)
{
	struct agent_late *late =
	        late_request ? agent_late_new(w->domain, w->alias, late_request, late_config)
	                     : NULL;
	struct timespec until;
	int state;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->wait_lock);
	while (w->state == 0 && timeout_ms > 0)
		if (pthread_cond_timedwait(&a->wait_cond, &a->wait_lock, &until) == ETIMEDOUT)
			break;
	state = w->state;
	for (struct agent_waiter **pp = &a->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	/* Still under the lock: an event that comes right after the timeout
	 * finds the late entry instead of falling between the two. */
	if (state == 0 && late) {
		late->next = a->late;
		a->late = late;
		late = NULL;
	}
	pthread_mutex_unlock(&a->wait_lock);
	if (late)
		agent_late_free(late);
	free(w->domain);
	free(w->alias);
	free(w);
	return state;
}
