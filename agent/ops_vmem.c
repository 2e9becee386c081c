/*
 * virtio-mem steps (see ops_vmem.h): the update calls, the size waiters the
 * loop wakes on MEMORY_DEVICE_SIZE_CHANGE, the watches left by partial
 * steps, and the reconcile of a virtio-mem intent after a crash.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "devmodel.h"
#include "domain.h"
#include "err.h"
#include "log.h"
#include "ops_vmem.h"
#include "record.h"
#include "threadcheck.h"

/* A step waiting for its device to reach the request. */
struct size_waiter {
	char *domain;
	char *alias;
	uint64_t target_kib;
	uint64_t last_kib; /* the last size an event gave */
	unsigned events;
	bool reached;
	bool stopped; /* the domain stopped: no answer will come */
	struct size_waiter *next;
};

/* A device left short of its request: later changes are audited. */
struct size_watch {
	char *domain;
	char *alias;
	char *request;
	char uuid[BACKEND_UUID_LEN + 1];
	uint64_t target_kib;
	struct size_watch *next;
};

struct ops_vmem {
	struct agent *a;
	unsigned jobs; /* loop thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct size_waiter *waiters;
	struct size_watch *watches;
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (p == NULL)
		abort();
	return p;
}

struct ops_vmem *ops_vmem_new(struct agent *a)
{
	struct ops_vmem *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->a = a;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	return v;
}

static void watch_free(struct size_watch *w)
{
	free(w->domain);
	free(w->alias);
	free(w->request);
	free(w);
}

void ops_vmem_free(struct ops_vmem *v)
{
	if (v == NULL)
		return;
	while (v->watches) {
		struct size_watch *w = v->watches;

		v->watches = w->next;
		watch_free(w);
	}
	pthread_mutex_destroy(&v->lock);
	pthread_cond_destroy(&v->cond);
	free(v);
}

/* What a lost update call left to see: which halves lost the connection,
 * and the <requested> the last re-read found (null: libvirt stayed away). */
static void ops_vmem_extra_lost(json_object *x, const struct vmem_outcome *o)
{
	json_object *halves = json_object_new_array();

	if (o->lost & BACKEND_LIVE)
		json_object_array_add(halves, json_object_new_string("live"));
	if (o->lost & BACKEND_CONFIG)
		json_object_array_add(halves, json_object_new_string("config"));
	json_object_object_add(x, "connection_lost", halves);
	json_object_object_add(x, "reread_requested_kib",
	                       o->seen ? json_object_new_uint64(o->seen_requested_kib) : NULL);
}

json_object *ops_vmem_extra(const struct vmem_change *c, const struct vmem_outcome *o)
{
	json_object *x = json_object_new_object();

	json_object_object_add(x, "model", json_object_new_string("virtio-mem"));
	json_object_object_add(x, "node", json_object_new_int((int)c->node));
	json_object_object_add(x, "alias", c->alias ? json_object_new_string(c->alias) : NULL);
	json_object_object_add(x, "size_kib",
	                       json_object_new_uint64(c->to_kib > c->from_kib
	                                                      ? c->to_kib - c->from_kib
	                                                      : c->from_kib - c->to_kib));
	json_object_object_add(x, "from_kib", json_object_new_uint64(c->from_kib));
	json_object_object_add(x, "requested_kib", json_object_new_uint64(c->to_kib));
	/* the scope, as a DIMM intent's: reconcile acts only within it */
	json_object_object_add(x, "live", json_object_new_boolean(c->flags & BACKEND_LIVE));
	json_object_object_add(x, "config", json_object_new_boolean(c->flags & BACKEND_CONFIG));
	if (o != NULL)
		json_object_object_add(x, "current_kib",
		                       o->current_known ? json_object_new_uint64(o->current_kib)
		                                        : NULL);
	if (o != NULL && o->lost)
		ops_vmem_extra_lost(x, o);
	return x;
}

/* ---- waiting (workers) ---- */

static struct size_waiter *waiter_add(struct ops_vmem *v, const struct vmem_change *c)
{
	struct size_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL)
		abort();
	w->domain = xstrdup(c->domain);
	w->alias = xstrdup(c->alias);
	w->target_kib = c->to_kib;
	pthread_mutex_lock(&v->lock);
	/* this step takes the device over: an older partial step's watch ends */
	for (struct size_watch **pp = &v->watches; *pp;) {
		struct size_watch *s = *pp;

		if (strcmp(s->domain, c->domain) == 0 && strcmp(s->alias, w->alias) == 0) {
			*pp = s->next;
			log_info("%s: %s on %s is taken over by %s", s->request, s->alias,
			         s->domain, c->request);
			watch_free(s);
			continue;
		}
		pp = &s->next;
	}
	w->next = v->waiters;
	v->waiters = w;
	pthread_mutex_unlock(&v->lock);
	return w;
}

static void deadline(struct timespec *until, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += (time_t)(ms / 1000);
	until->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

/* Blocks until an event reports the target or the timeout; unlinks and
 * frees w. With `watch` (the step came up short), the device is watched
 * from under the same lock, so no event falls between the two. */
static unsigned waiter_wait(struct ops_vmem *v, struct size_waiter *w, uint64_t timeout_ms,
                            bool *reached, bool *stopped)
{
	struct timespec until;
	unsigned events;

	deadline(&until, timeout_ms);
	pthread_mutex_lock(&v->lock);
	while (!w->reached && !w->stopped && timeout_ms > 0)
		if (pthread_cond_timedwait(&v->cond, &v->lock, &until) == ETIMEDOUT)
			break;
	*reached = w->reached;
	*stopped = w->stopped;
	events = w->events;
	for (struct size_waiter **pp = &v->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&v->lock);
	free(w->domain);
	free(w->alias);
	free(w);
	return events;
}

static void watch_add(struct ops_vmem *v, const struct vmem_change *c)
{
	struct size_watch *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->domain = xstrdup(c->domain);
	s->alias = xstrdup(c->alias);
	s->request = xstrdup(c->request);
	snprintf(s->uuid, sizeof(s->uuid), "%s", c->uuid ? c->uuid : "");
	s->target_kib = c->to_kib;
	pthread_mutex_lock(&v->lock);
	s->next = v->watches;
	v->watches = s;
	pthread_mutex_unlock(&v->lock);
}

/* ---- the calls (workers) ---- */

static int read_xml(struct ops_vmem *v, const char *domain, bool inactive, char **xml, char **err)
{
	return backend_domain_xml(agent_backend(v->a), domain, inactive ? BACKEND_INACTIVE : 0, xml,
	                          err);
}

/* Sets <requested> of node's device in one definition. *sent (may be
 * NULL) tells whether the update call itself was made: a call that then
 * lost its connection may still have been applied. */
static int update_one(struct ops_vmem *v, const struct vmem_change *c, bool live, uint64_t kib,
                      bool *sent, char **err)
{
	char *xml = NULL, *dev = NULL;
	int rc = read_xml(v, c->domain, !live, &xml, err);

	/* the persistent definition has no libvirt-made alias: the node finds it */
	if (rc == 0)
		rc = devmodel_vmem_update_xml(xml, c->node, live ? c->alias : NULL, kib, &dev, err);
	if (rc == 0) {
		if (sent)
			*sent = true;
		rc = backend_update_device(agent_backend(v->a), c->domain, dev,
		                           live ? BACKEND_LIVE : BACKEND_CONFIG, err);
	}
	free(xml);
	free(dev);
	return rc;
}

/* The device of `node` in one definition, waiting up to wait_ms for a lost
 * connection to come back: 0 with its requested and current, -ENOTCONN
 * when libvirt stayed away, another -errno otherwise (*err says why). */
static int device_read(struct ops_vmem *v, const char *domain, bool inactive, unsigned node,
                       uint64_t wait_ms, uint64_t *requested, uint64_t *current, char **err)
{
	char *xml = NULL;
	struct domain *dom = NULL;
	const struct domain_memdev *m = NULL;
	int rc = backend_domain_xml_wait(agent_backend(v->a), domain,
	                                 inactive ? BACKEND_INACTIVE : 0, wait_ms, &xml, err);

	if (rc == 0 && (rc = domain_parse(xml, strlen(xml), &dom, err)) == 0 &&
	    (m = devmodel_vmem_device(dom, node, NULL)) == NULL) {
		rc = -ENOENT;
		if (err && *err == NULL)
			*err = strdup("no virtio-mem device on that guest node");
	}
	if (m) {
		*requested = m->requested_kib;
		*current = m->current_kib;
	}
	free(xml);
	domain_free(dom);
	return rc;
}

/* An update call of one half lost its connection: waits (bounded) for
 * libvirt to come back and reads the device again. 1 applied (the new
 * <requested> is there), 0 not applied, -1 unknown (libvirt stayed away or
 * the definition cannot be read); *err says what was seen. */
static int recheck(struct ops_vmem *v, const struct vmem_change *c, bool live,
                   struct vmem_outcome *out, char **err)
{
	char *cause = *err, *why = NULL;
	uint64_t req = 0, cur = 0;
	const char *half = live ? "live" : "persistent";
	int rc;

	*err = NULL;
	out->lost |= live ? BACKEND_LIVE : BACKEND_CONFIG;
	log_warn("%s: the connection to libvirt was lost while setting %s <requested> of the "
	         "virtio-mem device on guest node %u of %s (%s); looking again once it is back",
	         c->request, half, c->node, c->domain, cause ? cause : "?");
	rc = device_read(v, c->domain, !live, c->node, c->reconnect_wait_ms, &req, &cur, &why);
	if (rc == 0) {
		out->seen = true;
		out->seen_requested_kib = req;
		if (live) {
			out->current_known = true;
			out->current_kib = cur;
		}
	}
	if (rc == 0 && req == c->to_kib) {
		log_info("%s: after the reconnect the %s <requested> is %" PRIu64 " KiB: applied",
		         c->request, half, req);
		rc = 1;
	} else if (rc == 0) {
		err_replace(err,
		            "the connection to libvirt was lost during the update (%s); after the "
		            "reconnect the %s <requested> is %" PRIu64 " KiB%s, not %" PRIu64
		            " KiB: not applied",
		            cause ? cause : "?", half, req, req == c->from_kib ? " as before" : "",
		            c->to_kib);
	} else if (rc == -ENOTCONN) {
		err_replace(err,
		            "the connection to libvirt was lost during the update (%s) and did not "
		            "come back within %" PRIu64
		            " ms: whether the %s <requested> is %" PRIu64
		            " KiB is unknown; the intent stays open for reconcile",
		            cause ? cause : "?", c->reconnect_wait_ms, half, c->to_kib);
		rc = -1;
	} else {
		err_replace(err,
		            "the connection to libvirt was lost during the update (%s); after the "
		            "reconnect the %s definition cannot be read (%s): whether its "
		            "<requested> is %" PRIu64 " KiB is unknown",
		            cause ? cause : "?", half, why ? why : "?", c->to_kib);
		rc = -1;
	}
	free(cause);
	free(why);
	return rc;
}

/* One half's update: 1 applied (the call answered, or the re-read after a
 * lost connection shows it), 0 not applied, -1 unknown. */
static int update_half(struct ops_vmem *v, const struct vmem_change *c, bool live,
                       struct vmem_outcome *out, char **err)
{
	bool sent = false;
	int rc = update_one(v, c, live, c->to_kib, &sent, err);

	if (rc == -ENOTCONN && sent)
		return recheck(v, c, live, out, err);
	return rc == 0;
}

/* The live <current> of node's device. */
static bool read_current(struct ops_vmem *v, const struct vmem_change *c, uint64_t *kib)
{
	char *xml = NULL, *err = NULL;
	struct domain *dom = NULL;
	const struct domain_memdev *m;
	bool ok = false;

	if (read_xml(v, c->domain, false, &xml, &err) == 0 &&
	    domain_parse(xml, strlen(xml), &dom, &err) == 0 &&
	    (m = devmodel_vmem_device(dom, c->node, NULL)) != NULL) {
		*kib = m->current_kib;
		ok = true;
	}
	if (!ok)
		log_warn("%s: cannot read the current size of the virtio-mem device on guest node "
		         "%u of %s: %s",
		         c->request, c->node, c->domain, err ? err : "no such device");
	free(xml);
	free(err);
	domain_free(dom);
	return ok;
}

/* The unknown step's message gains what the size-change events showed. */
static void apply_unknown(const struct vmem_change *c, struct vmem_outcome *out, unsigned events,
                          bool reached, char **err)
{
	out->state = VMEM_UNKNOWN;
	if (events == 0)
		return;
	err_replace(err, "%s; %u size-change event%s came meanwhile%s", *err ? *err : "", events,
	            events == 1 ? "" : "s",
	            reached ? ", one with <current> at the request: the guest took it" : "");
}

static void apply_live(struct ops_vmem *v, const struct vmem_change *c, struct vmem_outcome *out,
                       char **err)
{
	struct size_waiter *w = waiter_add(v, c);
	bool reached = false, stopped = false;
	int done = update_half(v, c, true, out, err);
	unsigned events;

	if (done <= 0) {
		events = waiter_wait(v, w, 0, &reached, &stopped);
		if (done < 0) {
			apply_unknown(c, out, events, reached, err);
			return;
		}
		out->state = VMEM_FAILED;
		if (!out->seen)
			out->current_known = read_current(v, c, &out->current_kib);
		return;
	}
	/* an error text from a lost call the re-read settled says nothing now */
	free(*err);
	*err = NULL;
	/* The re-read after a lost call already shows the guest there: its
	 * size-change event went with libvirtd, so waiting for it is moot. */
	if (out->seen && out->current_known && out->current_kib == c->to_kib) {
		out->events = waiter_wait(v, w, 0, &reached, &stopped);
		out->state = VMEM_REACHED;
		return;
	}
	out->events = waiter_wait(v, w, c->timeout_ms, &reached, &stopped);
	if (stopped) {
		/* a shut-off domain's live XML has no <current>: nothing to read,
		 * nothing to watch */
		out->state = VMEM_STOPPED;
		return;
	}
	/* the guest's own figure decides, whatever the events said */
	out->current_known = read_current(v, c, &out->current_kib);
	if (out->current_known && out->current_kib == c->to_kib) {
		out->state = VMEM_REACHED;
		return;
	}
	out->state = VMEM_PARTIAL;
	watch_add(v, c);
}

int ops_vmem_apply(struct ops_vmem *v, const struct vmem_change *c, struct vmem_outcome *out,
                   char **err)
{
	int done;

	assert_worker_thread();
	if (v == NULL || c == NULL || out == NULL || c->domain == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->state = VMEM_REACHED;
	if ((c->flags & BACKEND_LIVE) && c->alias == NULL) {
		if (err)
			*err = strdup("the live virtio-mem device has no alias");
		out->state = VMEM_FAILED;
		return 0;
	}
	if (c->flags & BACKEND_LIVE)
		apply_live(v, c, out, err);
	if (out->state == VMEM_FAILED || out->state == VMEM_UNKNOWN || !(c->flags & BACKEND_CONFIG))
		return 0;
	/* the request goes into the persistent definition even when the guest
	 * came up short: it is what the user asked for and what a reboot gives */
	done = update_half(v, c, false, out, err);
	if (done < 0)
		out->state = VMEM_UNKNOWN;
	else if (done == 0)
		out->state = (c->flags & BACKEND_LIVE) ? VMEM_CONFIG_FAILED : VMEM_FAILED;
	else {
		free(*err); /* a lost call's text, which the re-read settled */
		*err = NULL;
	}
	return 0;
}

/* ---- events (loop) ---- */

static void audit_late(struct ops_vmem *v, const struct size_watch *s, uint64_t kib, bool done)
{
	json_object *x = json_object_new_object();
	struct record r = {.event = RECORD_OUTCOME,
	                   .domain = s->domain,
	                   .uuid = s->uuid[0] ? s->uuid : NULL,
	                   .request = s->request,
	                   .actor = {.kind = RECORD_ACTOR_LIBVIRT},
	                   .result = done ? RECORD_OK : RECORD_PARTIAL,
	                   .error = done ? NULL : "the guest is still short of the request",
	                   .extra = x};

	json_object_object_add(x, "model", json_object_new_string("virtio-mem"));
	json_object_object_add(x, "alias", json_object_new_string(s->alias));
	json_object_object_add(x, "requested_kib", json_object_new_uint64(s->target_kib));
	json_object_object_add(x, "current_kib", json_object_new_uint64(kib));
	json_object_object_add(x, "late", json_object_new_boolean(true));
	agent_audit(v->a, &r, false, NULL);
	json_object_put(x);
	log_info("%s: %s on %s is now %" PRIu64 " KiB of the %" PRIu64 " KiB requested%s",
	         s->request, s->alias, s->domain, kib, s->target_kib, done ? ": done" : "");
}

static void audit_event(struct ops_vmem *v, const struct backend_event *ev, bool solicited)
{
	json_object *x = json_object_new_object();
	struct record r = {.event = RECORD_SIZE_CHANGE,
	                   .domain = ev->name,
	                   .uuid = ev->uuid[0] ? ev->uuid : NULL,
	                   .actor = {.kind = RECORD_ACTOR_LIBVIRT},
	                   .result = RECORD_OK,
	                   .extra = x};

	json_object_object_add(x, "alias", ev->alias ? json_object_new_string(ev->alias) : NULL);
	json_object_object_add(x, "current_kib", json_object_new_uint64(ev->kib));
	json_object_object_add(x, "solicited", json_object_new_boolean(solicited));
	agent_audit(v->a, &r, false, NULL);
	json_object_put(x);
}

/* A copy of a watch, so the audit can run outside the lock while a worker
 * may take the device over and free the original. */
static struct size_watch *watch_copy(const struct size_watch *s)
{
	struct size_watch *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	*c = *s;
	c->domain = xstrdup(s->domain);
	c->alias = xstrdup(s->alias);
	c->request = xstrdup(s->request);
	c->next = NULL;
	return c;
}

void ops_vmem_event(struct ops_vmem *v, const struct backend_event *ev)
{
	struct size_watch *done = NULL, *late = NULL;
	bool solicited = false;

	assert_loop_thread();
	if (ev->alias == NULL)
		return;
	pthread_mutex_lock(&v->lock);
	for (struct size_waiter *w = v->waiters; w; w = w->next) {
		if (strcmp(w->domain, ev->name) != 0 || strcmp(w->alias, ev->alias) != 0)
			continue;
		/* events may come late or out of order: only the target ends it */
		w->last_kib = ev->kib;
		w->events++;
		w->reached = w->reached || ev->kib == w->target_kib;
		solicited = true;
	}
	pthread_cond_broadcast(&v->cond);
	for (struct size_watch **pp = &v->watches; *pp; pp = &(*pp)->next) {
		struct size_watch *s = *pp;

		if (strcmp(s->domain, ev->name) != 0 || strcmp(s->alias, ev->alias) != 0)
			continue;
		late = watch_copy(s);
		if (ev->kib == s->target_kib) {
			*pp = s->next;
			done = s;
		}
		break;
	}
	pthread_mutex_unlock(&v->lock);
	audit_event(v, ev, solicited || late != NULL);
	if (late) {
		audit_late(v, late, ev->kib, done != NULL);
		watch_free(late);
	}
	if (done)
		watch_free(done);
}

void ops_vmem_domain_stopped(struct ops_vmem *v, const char *domain)
{
	pthread_mutex_lock(&v->lock);
	for (struct size_waiter *w = v->waiters; w; w = w->next)
		if (strcmp(w->domain, domain) == 0)
			w->stopped = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	ops_vmem_forget(v, domain);
}

void ops_vmem_forget(struct ops_vmem *v, const char *domain)
{
	struct size_watch *gone = NULL;

	pthread_mutex_lock(&v->lock);
	for (struct size_watch **pp = &v->watches; *pp;) {
		struct size_watch *s = *pp;

		if (strcmp(s->domain, domain) != 0) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		s->next = gone;
		gone = s;
	}
	pthread_mutex_unlock(&v->lock);
	while (gone) {
		struct size_watch *s = gone;

		gone = s->next;
		log_info("%s: %s went away; %s is no longer watched", s->request, s->domain,
		         s->alias);
		watch_free(s);
	}
}

unsigned ops_vmem_watching(struct ops_vmem *v)
{
	unsigned n = 0;

	pthread_mutex_lock(&v->lock);
	for (const struct size_watch *s = v->watches; s; s = s->next)
		n++;
	pthread_mutex_unlock(&v->lock);
	return n;
}

unsigned ops_vmem_jobs(const struct ops_vmem *v)
{
	return v ? v->jobs : 0;
}

/* ---- reconcile after a crash ---- */

struct vmem_job {
	struct ops_vmem *v;
	json_object *intent;
};

/* The device of `node` in one definition: requested and current. */
static bool reconcile_read(struct ops_vmem *v, const char *domain, bool inactive, unsigned node,
                           uint64_t *requested, uint64_t *current)
{
	char *err = NULL;
	int rc = device_read(v, domain, inactive, node, 0, requested, current, &err);

	free(err);
	return rc == 0;
}

static const char *reconcile_verdict(bool live, uint64_t want, uint64_t req, uint64_t cur)
{
	if (!live)
		return "domain or device gone";
	if (req != want)
		return "not applied";
	return cur == want ? "applied" : "partial";
}

/* Finishes the persistent half of an interrupted step: only with both
 * halves in the intent's scope and the live <requested> at the intended
 * size (the live half was done; the guest's progress does not matter, the
 * persistent <requested> is what a reboot gives). Returns the action, or
 * NULL with *err when the update failed. */
static const char *reconcile_act(struct ops_vmem *v, json_object *intent, const char *domain,
                                 unsigned node, uint64_t want, bool live, uint64_t lreq, bool pers,
                                 uint64_t preq, char **err)
{
	bool in_live = false, in_config = false;
	struct vmem_change c = {.domain = domain, .node = node, .to_kib = want};

	if (!record_scope(intent, &in_live, &in_config) || !in_live || !in_config)
		return "none"; /* a one-sided change is never pushed into the other */
	if (!live || !pers || lreq != want || preq == want)
		return "none";
	c.from_kib = preq;
	if (update_one(v, &c, false, want, NULL, err) < 0)
		return NULL;
	return "config_updated";
}

static void reconcile_work(void *arg)
{
	struct vmem_job *j = arg;
	const char *domain = record_str(j->intent, "domain");
	json_object *ix = NULL, *x = json_object_new_object();
	uint64_t want, node, lreq = 0, lcur = 0, preq = 0, pcur = 0;
	bool live, pers;
	const char *action;
	char *err = NULL;
	struct record r = {.event = RECORD_RECONCILED,
	                   .domain = domain,
	                   .uuid = record_str(j->intent, "uuid"),
	                   .request = record_str(j->intent, "request"),
	                   .actor = {.kind = RECORD_ACTOR_AGENT},
	                   .extra = x};

	ix = j->intent; /* the record carries the step's fields at its top level */
	want = json_object_get_uint64(json_object_object_get(ix, "requested_kib"));
	node = json_object_get_uint64(json_object_object_get(ix, "node"));
	live = domain && reconcile_read(j->v, domain, false, (unsigned)node, &lreq, &lcur);
	pers = domain && reconcile_read(j->v, domain, true, (unsigned)node, &preq, &pcur);
	json_object_object_add(x, "intent_seq", json_object_new_uint64(record_seq(j->intent)));
	json_object_object_add(x, "model", json_object_new_string("virtio-mem"));
	json_object_object_add(x, "node", json_object_new_int((int)node));
	json_object_object_add(x, "alias", json_object_get(json_object_object_get(ix, "alias")));
	json_object_object_add(x, "intended_kib", json_object_new_uint64(want));
	json_object_object_add(x, "requested_kib", live ? json_object_new_uint64(lreq) : NULL);
	json_object_object_add(x, "current_kib", live ? json_object_new_uint64(lcur) : NULL);
	json_object_object_add(x, "persistent_requested_kib",
	                       pers ? json_object_new_uint64(preq) : NULL);
	json_object_object_add(x, "found",
	                       json_object_new_string(reconcile_verdict(live, want, lreq, lcur)));
	json_object_object_add(x, "persistent",
	                       json_object_new_string(!pers          ? "no persistent device"
	                                              : preq == want ? "applied"
	                                                             : "not applied"));
	action = reconcile_act(j->v, j->intent, domain, (unsigned)node, want, live, lreq, pers,
	                       preq, &err);
	json_object_object_add(x, "action", json_object_new_string(action ? action : "failed"));
	r.result = (live || pers) && action ? RECORD_OK : RECORD_FAILED;
	if (!live && !pers)
		r.error = "the domain or its virtio-mem device is no longer known to libvirt";
	else if (action == NULL)
		r.error = err;
	log_warn("reconciled %s virtio-mem step on guest node %" PRIu64 " of %s: live %s, "
	         "persistent %s",
	         r.request ? r.request : "?", node, domain ? domain : "?",
	         reconcile_verdict(live, want, lreq, lcur),
	         pers ? (preq == want ? "applied" : "not applied") : "none");
	agent_audit(j->v->a, &r, true, NULL);
	json_object_put(x);
	free(err);
}

static void reconcile_done(void *arg)
{
	struct vmem_job *j = arg;

	j->v->jobs--;
	json_object_put(j->intent);
	free(j);
}

bool ops_vmem_reconcile(struct ops_vmem *v, json_object *intent)
{
	const char *model;
	struct vmem_job *j;

	assert_loop_thread();
	if ((model = record_str(intent, "model")) == NULL || strcmp(model, "virtio-mem") != 0)
		return false;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		abort();
	j->v = v;
	j->intent = json_object_get(intent);
	if (agent_run(v->a, reconcile_work, reconcile_done, j) < 0) {
		log_err("cannot start a worker to reconcile a virtio-mem step");
		json_object_put(j->intent);
		free(j);
		return true;
	}
	v->jobs++;
	return true;
}
