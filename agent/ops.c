/*
 * Grow and shrink execution (see ops.h). The worker thread owns its struct
 * op until it posts the op back to the loop; the loop thread owns the
 * queues and the client requests.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "crashpoint.h"
#include "dimm.h"
#include "err.h"
#include "host.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "reconcile.h"
#include "report.h"
#include "ops.h"
#include "ops_vmem.h"
#include "threadcheck.h"
#include "prepare.h"
#include "select.h"
#include "size.h"

/* What a waiter learnt (enum op_answer's values are its states). */
enum op_answer {
	ANSWER_NONE = 0,     /* waiting: no answer yet */
	ANSWER_REMOVED = 1,  /* DEVICE_REMOVED, or the re-read after a reconnect */
	ANSWER_ADDED = 2,    /* DEVICE_ADDED (an attach waiter) */
	ANSWER_REFUSED = -1, /* DEVICE_REMOVAL_FAILED */
	ANSWER_STOPPED = -3, /* the domain stopped or went away */
};

struct waiter {
	char *domain;
	char *alias;
	bool attach; /* waits for DEVICE_ADDED rather than a removal */
	int state;   /* enum op_answer */
	struct waiter *next;
};

/* A detach whose guest did not answer in time: its outcome is audited when
 * the event comes (ops_device_event()). */
struct late {
	char *domain;
	char *alias;
	char *request;
	bool config; /* detach from the persistent definition once removed */
	struct late *next;
};

struct ops {
	struct agent *a;
	unsigned next_request;
	unsigned done;
	unsigned running; /* worker threads alive */
	bool reconciled;
	void (*ended)(void *arg, const char *request, const char *code, const char *message);
	void *ended_arg;

	/* Shared with workers, under wait_lock. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	struct waiter *waiters;
	struct late *late;

	struct ops_vmem *vmem; /* virtio-mem steps: ops_vmem.c */
	/* How long a worker waits for libvirt to come back before it reads the
	 * outcome of a call that lost its connection (OPS_RECONNECT_WAIT_MS). */
	uint64_t reconnect_wait_ms;
};

struct op {
	struct ops *o;
	struct agent *a;
	char *domain;
	char uuid[BACKEND_UUID_LEN + 1];
	char request[32];
	struct op_args args;
	struct record_actor actor;
	char comm[17];
	struct control_request *req; /* NULL once replied or for the policy */
	bool running;
	bool active;      /* the domain ran when the operation was queued */
	unsigned flags;   /* BACKEND_LIVE | BACKEND_CONFIG */
	bool fail_closed; /* copied at submit, as the two below */
	/* Copied at submit: a reload may free the config under the worker. */
	uint64_t detach_timeout_ms;
	uint64_t host_reserve_kib;
	/* The libvirt connection went during the last detach's wait: no
	 * answer says nothing about the guest then. */
	bool answer_lost;
	/* CLOCK_MONOTONIC at submission, for the latency metric. */
	struct timespec submitted;

	/* Filled by the worker. */
	char *vmem_short; /* what the virtio-mem steps that came up short show */
	struct domain *before;
	struct domain *after;
	json_object *data;  /* the reply's data */
	json_object *notes; /* what the operator should know (reply "notes") */
	const char *code;   /* NULL: ok */
	char *message;
	struct op *next;
};

static const char *op_name(const struct op *op)
{
	static const char *const names[] = {[OP_GROW] = "grow",
	                                    [OP_SHRINK] = "shrink",
	                                    [OP_PREPARE] = "prepare",
	                                    [OP_RESIZE] = "resize"};

	return names[op->args.kind];
}

/* What the guest has of a cell (or of all, node < 0): its boot memory and
 * its devices' memory, virtio-mem counted by what it was asked for. */
static uint64_t op_total_kib(const struct domain *dom, int node)
{
	uint64_t kib = 0;

	for (size_t i = 0; i < dom->n_cells; i++)
		if (node < 0 || dom->cells[i].id == (unsigned)node)
			kib += dom->cells[i].memory_kib;
	for (size_t i = 0; i < dom->n_memdevs; i++) {
		const struct domain_memdev *m = &dom->memdevs[i];

		if (node < 0 || m->target_node == node)
			kib += m->model == MEMDEV_VIRTIO_MEM ? m->requested_kib : m->size_kib;
	}
	return kib;
}

/* A resize becomes the grow or shrink of the difference, measured on the
 * domain as this worker read it (after every earlier queued operation).
 * Returns false when there is nothing to do. */
static bool op_resolve_resize(struct op *op)
{
	uint64_t now = op_total_kib(op->before, op->args.node), target = op->args.size_kib;
	json_object *r = json_object_new_object();
	char buf[SIZE_FORMAT_MAX];

	json_object_object_add(r, "from_kib", json_object_new_uint64(now));
	json_object_object_add(r, "to_kib", json_object_new_uint64(target));
	json_object_object_add(r, "op",
	                       json_object_new_string(target > now   ? "grow"
	                                              : target < now ? "shrink"
	                                                             : "none"));
	json_object_object_add(op->data, "resize", r);
	if (target == now)
		return false;
	op->args.kind = target > now ? OP_GROW : OP_SHRINK;
	op->args.size_kib = target > now ? target - now : now - target;
	json_object_object_add(
	        op->data, "size",
	        json_object_new_string(size_format(op->args.size_kib, buf, sizeof(buf))));
	return true;
}

static void op_free(struct op *op)
{
	if (op == NULL)
		return;
	domain_free(op->before);
	domain_free(op->after);
	json_object_put(op->data);
	free(op->vmem_short);
	json_object_put(op->notes);
	free(op->message);
	free(op->domain);
	free(op);
}

/* One audit record of this operation. */
static int op_audit(struct op *op, enum record_event ev, enum record_result res, const char *error,
                    json_object *extra, bool sync)
{
	struct record_node_mem *before = NULL, *after = NULL;
	struct record r = {
	        .event = ev,
	        .domain = op->domain,
	        .uuid = op->uuid[0] ? op->uuid : NULL,
	        .request = op->request,
	        .actor = op->actor,
	        .result = res,
	        .error = error,
	        .extra = extra,
	};
	int rc;

	if (op->before)
		r.n_before = agent_node_mem(op->before, &before);
	r.before = before;
	if (op->after)
		r.n_after = agent_node_mem(op->after, &after);
	r.after = after;
	rc = agent_audit(op->a, &r, sync, NULL);
	free(before);
	free(after);
	json_object_put(extra);
	return rc;
}

static void op_fail(struct op *op, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void op_note(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void op_fail(struct op *op, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (op->code)
		return;
	op->code = code;
	va_start(ap, fmt);
	if (vasprintf(&op->message, fmt, ap) < 0)
		op->message = NULL;
	va_end(ap);
}

static enum record_result op_result(const char *code)
{
	if (strcmp(code, PROTO_E_REFUSED) == 0)
		return RECORD_REFUSED;
	if (strcmp(code, PROTO_E_PARTIAL) == 0)
		return RECORD_PARTIAL;
	if (strcmp(code, PROTO_E_UNKNOWN) == 0)
		return RECORD_UNKNOWN;
	return strcmp(code, PROTO_E_PENDING) == 0 ? RECORD_PENDING : RECORD_FAILED;
}

/* Reads and parses the domain, waiting out a reconnect (libvirtd restarts
 * and the agent reconnects within seconds: better than failing a request
 * that has not changed anything); 0 or -errno with *err set. */
static int op_read_dom(struct op *op, bool inactive, struct domain **dom, char **err)
{
	char *xml = NULL;
	int rc;

	*dom = NULL;
	rc = backend_domain_xml_wait(agent_backend(op->a), op->domain,
	                             inactive ? BACKEND_INACTIVE : 0, op->o->reconnect_wait_ms,
	                             &xml, err);
	if (rc == 0)
		rc = domain_parse(xml, strlen(xml), dom, err);
	free(xml);
	return rc;
}

/* The domain's model, or NULL with *why saying what failed (caller frees). */
static struct domain *op_read_model(struct op *op, bool inactive, char **why)
{
	struct domain *dom = NULL;
	char *err = NULL;

	if (op_read_dom(op, inactive, &dom, &err) < 0)
		err_set(why, "cannot read domain '%s': %s", op->domain, err);
	free(err);
	return dom;
}

static struct domain *op_read(struct op *op, bool inactive)
{
	char *why = NULL;
	struct domain *dom = op_read_model(op, inactive, &why);

	if (dom == NULL)
		op_fail(op, PROTO_E_FAILED, "%s", why);
	free(why);
	return dom;
}

/* A DIMM in a record or a reply; "model" tells it from a virtio-mem step
 * (ops_vmem.c) when a spread grow uses both. */
static json_object *dimm_extra(const struct select_dimm *d, const char *alias)
{
	json_object *o = json_object_new_object();
	char buf[NODESET_FORMAT_MAX];

	json_object_object_add(o, "model", json_object_new_string("dimm"));
	json_object_object_add(o, "node", json_object_new_int((int)d->node));
	json_object_object_add(o, "size_kib", json_object_new_uint64(d->size_kib));
	json_object_object_add(o, "alias", alias ? json_object_new_string(alias) : NULL);
	json_object_object_add(o, "page_size_kib",
	                       json_object_new_uint64(d->backing.page_size_kib));
	json_object_object_add(o, "host_nodes",
	                       d->backing.bound ? json_object_new_string(nodeset_format(
	                                                  &d->backing.host_nodes, buf, sizeof(buf)))
	                                        : NULL);
	return o;
}

/* ---- waiting for the guest's answer to a detach (workers) ---- */

static struct waiter *waiter_add(struct ops *o, const char *domain, const char *alias, bool attach)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (w == NULL || (w->domain = strdup(domain)) == NULL || (w->alias = strdup(alias)) == NULL)
		abort();
	w->attach = attach;
	pthread_mutex_lock(&o->wait_lock);
	w->next = o->waiters;
	o->waiters = w;
	pthread_mutex_unlock(&o->wait_lock);
	return w;
}

static struct late *late_new(const char *domain, const char *alias, const char *request,
                             bool config)
{
	struct late *l = calloc(1, sizeof(*l));

	if (l == NULL || !(l->domain = strdup(domain)) || !(l->alias = strdup(alias)) ||
	    !(l->request = strdup(request)))
		abort();
	l->config = config;
	return l;
}

static void late_free(struct late *l)
{
	free(l->domain);
	free(l->alias);
	free(l->request);
	free(l);
}

/* Blocks until the event or the timeout; returns 1 removed, -1 refused,
 * 0 timed out. Removes and frees the waiter. With `late_request`, a timeout
 * leaves a late entry so the guest's eventual answer is audited as that
 * request's outcome (and, with `late_config`, the config detach done). */
static int waiter_wait(struct ops *o, struct waiter *w, uint64_t timeout_ms,
                       const char *late_request, bool late_config)
{
	struct late *late =
	        late_request ? late_new(w->domain, w->alias, late_request, late_config) : NULL;
	struct timespec until;
	int state;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&o->wait_lock);
	while (w->state == 0 && timeout_ms > 0)
		if (pthread_cond_timedwait(&o->wait_cond, &o->wait_lock, &until) == ETIMEDOUT)
			break;
	state = w->state;
	for (struct waiter **pp = &o->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	/* Still under the lock: an event that comes right after the timeout
	 * finds the late entry instead of falling between the two. */
	if (state == 0 && late) {
		late->next = o->late;
		o->late = late;
		late = NULL;
	}
	pthread_mutex_unlock(&o->wait_lock);
	if (late)
		late_free(late);
	free(w->domain);
	free(w->alias);
	free(w);
	return state;
}

/* Detaches one DIMM from the live guest and waits for the guest's answer;
 * then from the persistent definition when asked. 1 removed, -1 refused,
 * 0 still pending, -2 the detach call itself failed, -3 the domain stopped
 * (or went away) before the guest answered: the persistent half is still
 * done, since the live one is gone with the guest. */
static int op_detach(struct op *op, const char *alias, char **err)
{
	const struct backend *b = agent_backend(op->a);
	const char *name = op_name(op);
	struct waiter *w;
	int state = ANSWER_REMOVED, rc;
	unsigned reconnects = backend_reconnects(b);

	if (op->flags & BACKEND_LIVE) {
		w = waiter_add(op->o, op->domain, alias, false);
		rc = backend_detach_alias(b, op->domain, alias, BACKEND_LIVE, err);
		if (rc == -ENOTCONN) {
			/* The request may have reached QEMU before the connection
			 * went: wait as for any answer; the re-read after the
			 * reconnect settles it if the event is lost. */
			log_warn("%s: the connection was lost while detaching %s (%s); waiting for "
			         "the outcome",
			         op->request, alias, *err ? *err : "?");
			free(*err);
			*err = NULL;
		} else if (rc < 0) {
			waiter_wait(op->o, w, 0, NULL, false);
			return -2;
		}
		crashpoint(name, "after-detach-call");
		state = waiter_wait(op->o, w, op->detach_timeout_ms, op->request,
		                    op->flags & BACKEND_CONFIG);
		op->answer_lost = rc == -ENOTCONN || !backend_connected(b) ||
		                  backend_reconnects(b) != reconnects;
		if (state == ANSWER_REMOVED)
			crashpoint(name, "after-live-detach");
	}
	if ((state == ANSWER_REMOVED || state == ANSWER_STOPPED) && (op->flags & BACKEND_CONFIG)) {
		if (backend_detach_alias(b, op->domain, alias, BACKEND_CONFIG, err) < 0)
			return -2;
		crashpoint(name, "after-config-detach");
	}
	return state;
}

/* A record after a change could not be written: with fail_closed the
 * request cannot report success (the caller undoes what it can). */
static bool op_unrecorded(struct op *op, int rc, const char *what)
{
	if (rc >= 0 || !op->fail_closed)
		return false;
	op_fail(op, PROTO_E_FAILED, "the audit log cannot be written (the %s record of %s)", what,
	        op->request);
	return true;
}

/* ---- virtio-mem steps (the execution lives in ops_vmem.c) ---- */

static struct vmem_change op_vmem_change(const struct op *op, const struct select_dimm *d,
                                         bool back)
{
	return (struct vmem_change){.domain = op->domain,
	                            .uuid = op->uuid,
	                            .request = op->request,
	                            .node = d->node,
	                            .alias = d->alias,
	                            .from_kib = back ? d->to_kib : d->from_kib,
	                            .to_kib = back ? d->from_kib : d->to_kib,
	                            .flags = op->flags,
	                            .timeout_ms = op->detach_timeout_ms,
	                            .reconnect_wait_ms = op->o->reconnect_wait_ms};
}

static void op_vmem_short(struct op *op, const struct select_dimm *d, bool shrink,
                          const struct vmem_outcome *o)
{
	char want[SIZE_FORMAT_MAX], got[SIZE_FORMAT_MAX], cur[SIZE_FORMAT_MAX];
	uint64_t moved =
	        !o->current_known ? 0
	        : shrink ? (d->from_kib > o->current_kib ? d->from_kib - o->current_kib : 0)
	                 : (o->current_kib > d->from_kib ? o->current_kib - d->from_kib : 0);
	char *more = NULL, *both = NULL;
	int n;

	if (!o->current_known)
		n = asprintf(&more,
		             "virtio-mem device %s on guest node %u: no answer after %" PRIu64
		             " ms and its current size cannot be read; requested stays %" PRIu64
		             " KiB, memplugd keeps watching",
		             d->alias, d->node, op->detach_timeout_ms, d->to_kib);
	else
		n = asprintf(&more,
		             "virtio-mem device %s on guest node %u: the guest %s %s of %s after "
		             "%" PRIu64 " ms; current %" PRIu64
		             " KiB (%s), requested stays %" PRIu64
		             " KiB; memplugd keeps watching and audits what %s later",
		             d->alias, d->node, shrink ? "gave back" : "plugged",
		             size_format(moved, got, sizeof(got)),
		             size_format(d->size_kib, want, sizeof(want)), op->detach_timeout_ms,
		             o->current_kib, size_format(o->current_kib, cur, sizeof(cur)),
		             d->to_kib, shrink ? "comes back" : "arrives");
	if (n < 0)
		return;
	/* one message for every short step of the request */
	if (op->vmem_short && asprintf(&both, "%s; %s", op->vmem_short, more) >= 0) {
		free(more);
		more = both;
	}
	free(op->vmem_short);
	op->vmem_short = more;
}

/* A step's record result: a lost call libvirt did not come back to settle
 * is unknown, never failed (it may have taken effect). */
static enum record_result op_vmem_result(enum vmem_state st, bool partial_ok)
{
	switch (st) {
	case VMEM_REACHED:
		return RECORD_OK;
	case VMEM_PARTIAL:
		return partial_ok ? RECORD_PARTIAL : RECORD_FAILED;
	case VMEM_UNKNOWN:
		return RECORD_UNKNOWN;
	default:
		return RECORD_FAILED;
	}
}

/* A lost update call the re-read settled as applied: the operator should
 * know libvirt went away. */
static void op_vmem_lost_note(struct op *op, const struct select_dimm *d,
                              const struct vmem_outcome *o)
{
	unsigned applied = o->lost;

	if (o->state == VMEM_UNKNOWN || o->state == VMEM_FAILED)
		return;
	if (o->state == VMEM_CONFIG_FAILED)
		applied &= ~(unsigned)BACKEND_CONFIG; /* the error says why */
	if (applied == 0)
		return;
	op_note(op,
	        "the connection to libvirt was lost while setting virtio-mem device %s on guest "
	        "node %u to %" PRIu64 " KiB; after the reconnect the %s <requested> shows it: "
	        "applied",
	        d->alias ? d->alias : "(no alias)", d->node, d->to_kib,
	        applied == (BACKEND_LIVE | BACKEND_CONFIG) ? "live and the persistent"
	        : applied == BACKEND_LIVE                  ? "live"
	                                                   : "persistent");
}

/* One device's change: intent, update, wait, `resize` record. Returns -1
 * when the call failed (the request stops there), -2 when a grow's step was
 * applied but its record cannot be written (fail_closed: the request stops
 * and the step is set back), 0 otherwise. */
static int op_vmem_step(struct op *op, const struct select_dimm *d, bool shrink, json_object *done)
{
	struct vmem_change c = op_vmem_change(op, d, false);
	struct vmem_outcome o = {0};
	char *err = NULL;
	int wrc;

	if (op_audit(op, RECORD_INTENT, RECORD_PENDING, NULL, ops_vmem_extra(&c, NULL), true) < 0) {
		/* a shrink that removed memory already is not refused: it failed */
		op_fail(op,
		        shrink && json_object_array_length(done) ? PROTO_E_FAILED : PROTO_E_REFUSED,
		        "the audit log cannot be written");
		return -1;
	}
	ops_vmem_apply(op->o->vmem, &c, &o, &err);
	op_vmem_lost_note(op, d, &o);
	wrc = op_audit(op, RECORD_RESIZE, op_vmem_result(o.state, true),
	               o.state == VMEM_PARTIAL   ? "the guest has not reached the request"
	               : o.state == VMEM_STOPPED ? "the domain stopped before the guest answered"
	                                         : err,
	               ops_vmem_extra(&c, &o), true);
	if (o.state == VMEM_STOPPED) {
		op_fail(op, PROTO_E_FAILED,
		        "domain '%s' stopped while the guest was resizing virtio-mem device %s on "
		        "guest node %u: the live guest is gone%s",
		        op->domain, d->alias ? d->alias : "(no alias)", d->node,
		        (op->flags & BACKEND_CONFIG)
		                ? "; the persistent <requested> was set to the request"
		                : "");
		free(err);
		return -1;
	}
	if ((o.state == VMEM_REACHED || o.state == VMEM_PARTIAL) &&
	    op_unrecorded(op, wrc, "resize")) {
		free(err);
		if (!shrink)
			return -2; /* the caller sets this step back with the others */
		/* memory the guest gave up cannot be taken back: say so */
		free(op->message);
		if (asprintf(&op->message,
		             "virtio-mem device %s on guest node %u was set to %" PRIu64
		             " KiB, but the audit log cannot be written: the change stands "
		             "without its resize record",
		             d->alias ? d->alias : "(no alias)", d->node, d->to_kib) < 0)
			op->message = NULL;
		return -1;
	}
	if (o.state == VMEM_UNKNOWN) {
		/* no rollback of this step and an open intent: reconcile settles it */
		op_fail(op, PROTO_E_UNKNOWN,
		        "setting virtio-mem device %s on guest node %u to %" PRIu64
		        " KiB: outcome unknown: %s",
		        d->alias ? d->alias : "(no alias)", d->node, d->to_kib,
		        err ? err : "the connection to libvirt was lost");
		free(err);
		return -1;
	}
	if (o.state == VMEM_FAILED || o.state == VMEM_CONFIG_FAILED) {
		op_fail(op, PROTO_E_FAILED,
		        "setting virtio-mem device %s on guest node %u to %" PRIu64
		        " KiB failed%s: %s",
		        d->alias ? d->alias : "(no alias)", d->node, d->to_kib,
		        o.state == VMEM_CONFIG_FAILED ? " in the persistent definition" : "",
		        err ? err : "unknown error");
		free(err);
		return -1;
	}
	free(err);
	if (o.state == VMEM_PARTIAL)
		op_vmem_short(op, d, shrink, &o);
	json_object_array_add(done, ops_vmem_extra(&c, &o));
	return 0;
}

/* A grow failed after `nv` virtio-mem steps: their requests go back. */
static void op_vmem_rollback(struct op *op, const struct select_result *sel, size_t nv)
{
	for (size_t i = 0; i < sel->n_dimms && nv > 0; i++) {
		const struct select_dimm *d = &sel->dimms[i];
		struct vmem_change c;
		struct vmem_outcome o = {0};
		char *err = NULL;

		if (d->model != DEVMODEL_VIRTIO_MEM)
			continue;
		nv--;
		c = op_vmem_change(op, d, true);
		ops_vmem_apply(op->o->vmem, &c, &o, &err);
		op_audit(op, RECORD_ROLLBACK, op_vmem_result(o.state, false),
		         o.state == VMEM_REACHED ? NULL : (err ? err : "the guest did not follow"),
		         ops_vmem_extra(&c, &o), true);
		free(err);
	}
}

/* After the steps: a short step is the request's outcome unless something
 * worse happened. */
static void op_vmem_finish(struct op *op)
{
	char *both = NULL;

	if (op->vmem_short == NULL)
		return;
	if (op->code == NULL) {
		op->code = PROTO_E_PARTIAL;
		op->message = op->vmem_short;
	} else if (asprintf(&both, "%s; %s", op->message ? op->message : op->code,
	                    op->vmem_short) >= 0) {
		free(op->message);
		op->message = both;
		free(op->vmem_short);
	} else {
		free(op->vmem_short);
	}
	op->vmem_short = NULL;
}

/* OPS_ALIAS_PREFIX + request id + "-" + index. */
#define OP_ALIAS_MAX 64

/* Undoes the DIMMs this grow attached, newest first. Returns how many
 * remain attached; their aliases go into `left`. */
static size_t op_rollback(struct op *op, char (*aliases)[OP_ALIAS_MAX], size_t n, json_object *left)
{
	size_t remain = 0;

	for (size_t i = n; i-- > 0;) {
		char *err = NULL;
		int st = op_detach(op, aliases[i], &err);
		bool gone = st == ANSWER_REMOVED || st == ANSWER_STOPPED;
		json_object *x = json_object_new_object();

		json_object_object_add(x, "model", json_object_new_string("dimm"));
		json_object_object_add(x, "alias", json_object_new_string(aliases[i]));
		op_audit(op, RECORD_ROLLBACK, gone ? RECORD_OK : RECORD_FAILED,
		         gone ? NULL : (err ? err : "the guest did not release it"), x, true);
		if (!gone) {
			remain++;
			json_object_array_add(left, json_object_new_string(aliases[i]));
		}
		free(err);
	}
	return remain;
}

/* Something the operator should know although the request went through. */
static void op_note(struct op *op, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return;
	log_warn("%s: %s", op->request, msg);
	if (op->notes == NULL)
		op->notes = json_object_new_array();
	json_object_array_add(op->notes, json_object_new_string(msg));
	free(msg);
}

/* libvirt's "slot N is busy" (from QEMU's device_add): QEMU holds a DIMM in
 * a slot libvirt does not list. Returns N, or -1 for any other failure. */
static int op_busy_slot(const char *err)
{
	const char *p = err ? strstr(err, "slot ") : NULL;
	unsigned slot;
	int end = 0;

	for (; p; p = strstr(p + 1, "slot "))
		if (sscanf(p, "slot %u is busy%n", &slot, &end) == 1 && end > 0 && slot < 256)
			return (int)slot;
	return -1;
}

/* A slot free in the live XML and not in `busy`, lowest first; -1: none. */
static int op_free_slot(struct op *op, const bool busy[256])
{
	struct domain *dom = NULL;
	char *err = NULL;
	bool used[256] = {false};
	int slot = -1;

	if (op_read_dom(op, false, &dom, &err) == 0) {
		for (size_t i = 0; i < dom->n_memdevs; i++)
			if (dom->memdevs[i].has_slot && dom->memdevs[i].slot < 256)
				used[dom->memdevs[i].slot] = true;
		for (unsigned s = 0; s < dom->slots && s < 256 && slot < 0; s++)
			if (!used[s] && !busy[s])
				slot = (int)s;
	}
	domain_free(dom);
	free(err);
	return slot;
}

#define OP_EVENT_GRACE_MS 500

/* The attach call lost its connection: the DIMM may or may not be there.
 * Looks again, at the DEVICE_ADDED event and at the live XML once libvirt
 * is back. 1 attached, 0 not attached, -1 unknown (op_fail says what each
 * source showed). */
static int op_attach_recheck(struct op *op, struct waiter *w, const char *alias, const char *cause)
{
	struct domain *dom = NULL;
	char *err = NULL;
	int listed = -1, added;

	if (op_read_dom(op, false, &dom, &err) == 0)
		listed = domain_has_alias(dom, alias);
	domain_free(dom);
	/* An event sent before the loss may still be on its way to the loop. */
	added = waiter_wait(op->o, w, listed == 1 ? 0 : OP_EVENT_GRACE_MS, NULL, false) ==
	        ANSWER_ADDED;
	if (listed == 1) {
		op_note(op,
		        "the connection to libvirt was lost during the attach of %s (%s); the live "
		        "XML lists it after the reconnect: attached",
		        alias, cause);
	} else if (listed == 0 && !added) {
		op_fail(op, PROTO_E_FAILED,
		        "attaching %s: the connection to libvirt was lost (%s); after the "
		        "reconnect "
		        "the live XML does not list it and no DEVICE_ADDED came: not attached as "
		        "far as libvirt shows (had the request reached QEMU before the loss, QEMU "
		        "would hold the DIMM unlisted, and a later grow would find its slot busy "
		        "and use another)",
		        alias, cause);
	} else {
		op_fail(op, PROTO_E_UNKNOWN,
		        "attaching %s: the connection to libvirt was lost (%s); outcome unknown: "
		        "DEVICE_ADDED %s, the live XML %s; QEMU may hold the DIMM without libvirt "
		        "listing it (a later grow chooses another slot)",
		        alias, cause, added ? "came" : "did not come",
		        listed == 0 ? "does not list it"
		        : err       ? err
		                    : "cannot be read");
	}
	free(err);
	return listed == 1 ? 1 : listed == 0 && !added ? 0 : -1;
}

/* Attaches one DIMM: the call, a retry in another slot when QEMU holds the
 * one libvirt chose, a re-check when the connection went. 0 or -errno with
 * *err; *unknown when op_attach_recheck() failed the op itself. */
static int op_attach(struct op *op, const struct select_dimm *d, const char *alias,
                     json_object *extra, char **err)
{
	const struct backend *b = agent_backend(op->a);
	bool busy[256] = {false};
	json_object *busy_list = NULL;
	int rc, slot = -1, tries = 0, busy_slot;

	for (;;) {
		struct waiter *w = waiter_add(op->o, op->domain, alias, true);
		char *xml = dimm_xml_slot(d->node, d->size_kib, alias, slot);

		rc = xml ? backend_attach(b, op->domain, xml, op->flags, err) : -ENOMEM;
		free(xml);
		if (rc == -ENOTCONN && (op->flags & BACKEND_LIVE)) {
			int seen = op_attach_recheck(op, w, alias, *err ? *err : "connection lost");

			free(*err);
			*err = NULL;
			rc = seen == 1 ? 0 : -ENOTCONN;
			break;
		}
		waiter_wait(op->o, w, 0, NULL, false);
		busy_slot = rc < 0 ? op_busy_slot(*err) : -1;
		if (busy_slot < 0 || ++tries > 4)
			break;
		/* QEMU holds a DIMM in that slot that libvirt does not list
		 * (left by an attach whose outcome libvirt lost): go round it. */
		busy[busy_slot] = true;
		if (busy_list == NULL)
			busy_list = json_object_new_array();
		json_object_array_add(busy_list, json_object_new_int(busy_slot));
		if ((slot = op_free_slot(op, busy)) < 0)
			break;
		op_note(op,
		        "slot %d is held by QEMU although libvirt does not list a device there "
		        "(probably a DIMM left by an attach whose outcome libvirt lost); %s goes "
		        "to slot %d instead",
		        busy_slot, alias, slot);
		free(*err);
		*err = NULL;
	}
	if (busy_list) {
		json_object_object_add(extra, "busy_slots", busy_list);
		json_object_object_add(extra, "slot", slot >= 0 ? json_object_new_int(slot) : NULL);
	}
	return rc;
}

/* The intent with the request's scope, which reconcile needs to know which
 * halves (live, persistent) the change was meant for. */
static json_object *intent_extra(const struct op *op, const struct select_dimm *d,
                                 const char *alias)
{
	json_object *x = dimm_extra(d, alias);

	json_object_object_add(x, "live", json_object_new_boolean(op->flags & BACKEND_LIVE));
	json_object_object_add(x, "config", json_object_new_boolean(op->flags & BACKEND_CONFIG));
	return x;
}

static void op_grow(struct op *op, const struct select_result *sel)
{
	char(*aliases)[OP_ALIAS_MAX] = calloc(sel->n_dimms ? sel->n_dimms : 1, sizeof(*aliases));
	json_object *done = json_object_new_array();
	size_t n = 0, nv = 0;

	if (aliases == NULL)
		op_fail(op, PROTO_E_FAILED, "out of memory");
	for (size_t i = 0; i < sel->n_dimms && aliases; i++) {
		const struct select_dimm *d = &sel->dimms[i];
		char *alias = aliases[n], *err = NULL;
		enum record_result res;
		json_object *x;
		int rc, wrc;

		if (d->model == DEVMODEL_VIRTIO_MEM) {
			int vrc = op_vmem_step(op, d, false, done);

			if (vrc == -2)
				nv++; /* applied, unrecorded: the rollback below sets it back */
			if (vrc < 0)
				break;
			nv++;
			continue;
		}
		snprintf(alias, OP_ALIAS_MAX, OPS_ALIAS_PREFIX "%s-%zu", op->request, i);
		if (op_audit(op, RECORD_INTENT, RECORD_PENDING, NULL, intent_extra(op, d, alias),
		             true) < 0) {
			op_fail(op, PROTO_E_REFUSED, "the audit log cannot be written");
			break;
		}
		crashpoint("grow", "after-intent");
		x = dimm_extra(d, alias);
		rc = op_attach(op, d, alias, x, &err);
		crashpoint("grow", "after-attach");
		if (rc == 0)
			n++; /* attached: a failure from here on rolls it back */
		res = rc == 0                                              ? RECORD_OK
		      : op->code && strcmp(op->code, PROTO_E_UNKNOWN) == 0 ? RECORD_UNKNOWN
		                                                           : RECORD_FAILED;
		wrc = op_audit(op, RECORD_ATTACH, res,
		               rc == 0 ? NULL
		               : err   ? err
		                       : op->message,
		               x, true);
		if (rc == 0 && op_unrecorded(op, wrc, "attach"))
			break;
		crashpoint("grow", "after-attach-record");
		if (rc < 0) {
			op_fail(op, PROTO_E_FAILED, "attaching %s to guest node %u failed: %s",
			        alias, d->node, err ? err : strerror(-rc));
			free(err);
			break;
		}
		json_object_array_add(done, dimm_extra(d, alias));
	}
	if (op->code && nv > 0)
		op_vmem_rollback(op, sel, nv);
	if (op->code && n > 0) {
		json_object *left = json_object_new_array();
		size_t remain = op_rollback(op, aliases, n, left);

		if (remain) {
			/* Keep the cause: the user needs both it and what is left.
			 * An unknown step stays unknown (its intent stays open for
			 * reconcile); anything else failed. */
			if (strcmp(op->code, PROTO_E_UNKNOWN) != 0)
				op->code = PROTO_E_FAILED;
			err_replace(
			        &op->message,
			        "%s; the rollback failed and %zu of %zu DIMMs it added remain: %s",
			        op->message ? op->message : "grow failed", remain, n,
			        json_object_to_json_string(left));
		} else {
			err_replace(&op->message,
			            "%s; the %zu DIMM%s it attached %s detached again",
			            op->message ? op->message : "grow failed", n, n == 1 ? "" : "s",
			            n == 1 ? "was" : "were");
		}
		json_object_put(left);
	}
	free(aliases);
	json_object_object_add(op->data, "attached", op->code ? json_object_new_array() : done);
	if (op->code)
		json_object_put(done);
	op_vmem_finish(op);
}

/* The detach record's word for a shrink with no answer yet. */
static const char *shrink_pending_why(const struct op *op)
{
	return op->answer_lost ? "no answer yet: the libvirt connection was lost while waiting"
	                       : "no answer from the guest yet";
}

/* A shrink that stops at its k-th device cannot take back the memory the
 * guest already gave up: the reply names those devices, whatever stopped it.
 * A guest that refused after giving some back gave less: partial, not
 * refused (a refusal means nothing changed). */
static void op_shrink_stays(struct op *op, json_object *done)
{
	size_t n = json_object_array_length(done), len = 0;
	char *list = NULL;
	FILE *f;

	if (n == 0 || (f = open_memstream(&list, &len)) == NULL)
		return;
	if (strcmp(op->code, PROTO_E_REFUSED) == 0)
		op->code = PROTO_E_PARTIAL;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(done, i);
		const char *alias = json_object_get_string(json_object_object_get(e, "alias"));

		fprintf(f, "%s%s", i ? ", " : "", alias ? alias : "(no alias)");
	}
	fclose(f);
	err_replace(&op->message, "%s; what was removed before it stays removed: %s",
	            op->message ? op->message : "shrink failed", list);
	free(list);
}

static void op_shrink(struct op *op, const struct select_result *sel)
{
	json_object *done = json_object_new_array();

	for (size_t i = 0; i < sel->n_dimms; i++) {
		const struct select_dimm *d = &sel->dimms[i];
		char *err = NULL;
		int st, wrc;

		if (d->model == DEVMODEL_VIRTIO_MEM) {
			if (op_vmem_step(op, d, true, done) < 0)
				break;
			continue;
		}
		if (op_audit(op, RECORD_INTENT, RECORD_PENDING, NULL, intent_extra(op, d, d->alias),
		             true) < 0) {
			/* refused only while nothing was detached yet */
			op_fail(op,
			        json_object_array_length(done) ? PROTO_E_FAILED : PROTO_E_REFUSED,
			        "the audit log cannot be written (the intent record of %s)",
			        d->alias);
			break;
		}
		crashpoint("shrink", "after-intent");
		st = op_detach(op, d->alias, &err);
		wrc = op_audit(op, RECORD_DETACH,
		               st == 1    ? RECORD_OK
		               : st == 0  ? RECORD_PENDING
		               : st == -1 ? RECORD_REFUSED
		                          : RECORD_FAILED,
		               st == 1    ? NULL
		               : st == 0  ? shrink_pending_why(op)
		               : st == -1 ? "unplug was rejected by the guest"
		               : st == -3 ? "the domain stopped before the guest answered"
		                          : err,
		               dimm_extra(d, d->alias), true);
		if (st == 1 && op_unrecorded(op, wrc, "detach")) {
			/* A detach cannot be undone (the guest gave the memory
			 * up): say what happened instead of claiming success. */
			free(op->message);
			if (asprintf(&op->message,
			             "%s was detached, but the audit log cannot be written: the "
			             "change stands without its detach record",
			             d->alias) < 0)
				op->message = NULL;
			free(err);
			break;
		}
		if (st == 1) {
			json_object_array_add(done, dimm_extra(d, d->alias));
		} else if (st == 0 && op->answer_lost) {
			op_fail(op, PROTO_E_PENDING,
			        "%s on guest node %u: no answer within %" PRIu64
			        " ms; the connection to libvirt was lost while waiting, so the "
			        "guest's answer may be lost with it: the outcome will be audited "
			        "once libvirt shows it",
			        d->alias, d->node, op->detach_timeout_ms);
		} else if (st == 0) {
			op_fail(op, PROTO_E_PENDING,
			        "%s on guest node %u: the guest has not released it after %" PRIu64
			        " ms; the outcome will be audited when it does",
			        d->alias, d->node, op->detach_timeout_ms);
		} else if (st == ANSWER_STOPPED) {
			op_fail(op, PROTO_E_FAILED,
			        "domain '%s' stopped while the guest was releasing %s on guest "
			        "node %u: "
			        "the live guest is gone%s",
			        op->domain, d->alias, d->node,
			        (op->flags & BACKEND_CONFIG)
			                ? "; the DIMM was removed from the persistent definition"
			                : "");
		} else if (st == -1) {
			op_fail(op, PROTO_E_REFUSED,
			        "the guest refused to release %s on guest node %u (its memory "
			        "is probably not online_movable); the DIMM and the config are "
			        "unchanged",
			        d->alias, d->node);
		} else {
			op_fail(op, PROTO_E_FAILED, "detaching %s failed: %s", d->alias,
			        err ? err : "unknown error");
		}
		free(err);
		if (st != 1)
			break;
	}
	if (op->code)
		op_shrink_stays(op, done);
	json_object_object_add(op->data, "detached", done);
	op_vmem_finish(op);
}

/* Room for every record an operation of n DIMMs may still write: per
 * DIMM an intent, attach or detach, rollback and device event, then the
 * outcome. A record is well under 2 KiB; the preflight is written already. */
#define OP_RESERVE_BYTES(n) (UINT64_C(8192) + (uint64_t)(n)*4 * 2048)

/* With fail_closed, a change starts only when its records will fit: the
 * space is reserved first, so a disk that fills during the change cannot
 * leave it without a trail. */
static int op_reserve(struct op *op, size_t n_dimms)
{
	char *err = NULL;
	int rc = agent_audit_reserve(op->a, OP_RESERVE_BYTES(n_dimms), &err);

	if (rc < 0 && op->fail_closed)
		op_fail(op, PROTO_E_REFUSED, "changes are refused: %s; nothing was changed", err);
	else if (rc < 0)
		log_warn("%s: %s; changing memory anyway (fail_closed = false)", op->request, err);
	free(err);
	return op->fail_closed ? rc : 0;
}

static void op_select(struct op *op, struct host *host)
{
	struct select_result *sel = NULL;
	char *err = NULL;
	int rc;

	if (op->args.kind == OP_GROW) {
		struct select_grow_req req = {.size_kib = op->args.size_kib,
		                              .node = op->args.node,
		                              .host_reserve_kib = op->host_reserve_kib,
		                              .model = op->args.model};

		rc = select_grow(op->before, host, &req, &sel, &err);
	} else {
		struct select_shrink_req req = {.size_kib = op->args.size_kib,
		                                .node = op->args.node,
		                                .model = op->args.model};

		rc = select_shrink(op->before, &req, &sel, &err);
	}
	if (rc < 0) {
		op_fail(op, PROTO_E_FAILED, "cannot choose DIMMs: %s", err ? err : strerror(-rc));
		op_audit(op, RECORD_PREFLIGHT, RECORD_FAILED, op->message, NULL, true);
		free(err);
		return;
	}
	json_object_object_add(op->data, "selection", report_select(sel));
	op_audit(op, RECORD_PREFLIGHT, sel->code == SELECT_OK ? RECORD_OK : RECORD_REFUSED,
	         sel->message, report_select(sel), true);
	if (sel->code != SELECT_OK)
		op_fail(op, PROTO_E_REFUSED, "%s", sel->message);
	else if (agent_audit_check(op->a, &err) < 0)
		op_fail(op, PROTO_E_REFUSED, "changes are refused: %s", err);
	else if (op->args.dry_run)
		; /* the selection in the reply is the answer */
	else if (op_reserve(op, sel->n_dimms) < 0)
		; /* refused, nothing changed */
	else if (op->args.kind == OP_GROW)
		op_grow(op, sel);
	else
		op_shrink(op, sel);
	free(err);
	select_result_free(sel);
}

static int op_outcome(struct op *op)
{
	return op_audit(op, RECORD_OUTCOME, op->code == NULL ? RECORD_OK : op_result(op->code),
	                op->message, NULL, true);
}

/* Undoes one virtio-mem step of a grow whose outcome cannot be written:
 * its <requested> goes back through the virtio-mem path (never a detach:
 * the device stays). True when the guest is back where it was. */
static bool op_vmem_undo(struct op *op, json_object *e)
{
	struct vmem_change c = {
	        .domain = op->domain,
	        .uuid = op->uuid,
	        .request = op->request,
	        .node = (unsigned)json_object_get_int(json_object_object_get(e, "node")),
	        .alias = json_object_get_string(json_object_object_get(e, "alias")),
	        .from_kib = json_object_get_uint64(json_object_object_get(e, "requested_kib")),
	        .to_kib = json_object_get_uint64(json_object_object_get(e, "from_kib")),
	        .flags = op->flags,
	        .timeout_ms = op->detach_timeout_ms,
	        .reconnect_wait_ms = op->o->reconnect_wait_ms};
	struct vmem_outcome o = {0};
	char *err = NULL;

	ops_vmem_apply(op->o->vmem, &c, &o, &err);
	op_audit(op, RECORD_ROLLBACK, op_vmem_result(o.state, false),
	         o.state == VMEM_REACHED ? NULL : (err ? err : "the guest did not follow"),
	         ops_vmem_extra(&c, &o), true);
	free(err);
	return o.state == VMEM_REACHED;
}

static bool op_entry_vmem(json_object *e)
{
	const char *model = json_object_get_string(json_object_object_get(e, "model"));

	return model && strcmp(model, "virtio-mem") == 0;
}

/* A successful change whose outcome cannot be written may not report
 * success (fail_closed): a grow detaches its DIMMs again and sets its
 * virtio-mem devices back; a shrink cannot be undone (the guest gave the
 * memory up) and says so. */
static void op_outcome_unwritten(struct op *op)
{
	json_object *attached = json_object_object_get(op->data, "attached");
	size_t n = attached ? json_object_array_length(attached) : 0;
	size_t nd = 0, nv = 0, remain = 0, vremain = 0;

	for (size_t i = n; op->args.kind == OP_GROW && i-- > 0;) {
		json_object *e = json_object_array_get_idx(attached, i);
		const char *alias;
		char *err = NULL;
		int st;
		bool gone;
		json_object *x;

		if (op_entry_vmem(e)) {
			nv++;
			vremain += !op_vmem_undo(op, e);
			continue;
		}
		alias = json_object_get_string(json_object_object_get(e, "alias"));
		if (alias == NULL)
			continue; /* no DIMM to detach */
		nd++;
		st = op_detach(op, alias, &err);
		gone = st == ANSWER_REMOVED || st == ANSWER_STOPPED;
		x = json_object_new_object();
		json_object_object_add(x, "model", json_object_new_string("dimm"));
		json_object_object_add(x, "alias", json_object_new_string(alias));
		remain += !gone;
		op_audit(op, RECORD_ROLLBACK, gone ? RECORD_OK : RECORD_FAILED, err, x, true);
		free(err);
	}
	if (op->args.kind == OP_GROW)
		op_fail(op, PROTO_E_FAILED,
		        "the audit log cannot be written (the outcome of %s): %zu of the %zu DIMMs "
		        "attached %s detached again, %zu of the %zu virtio-mem devices grown %s "
		        "set back",
		        op->request, nd - remain, nd, nd - remain == 1 ? "was" : "were",
		        nv - vremain, nv, nv - vremain == 1 ? "was" : "were");
	else
		op_fail(op, PROTO_E_FAILED,
		        "the memory was removed, but the audit log cannot be written (the outcome "
		        "of %s): the change stands without its outcome record",
		        op->request);
	if (op->args.kind == OP_GROW) {
		domain_free(op->after);
		op->after = op_read(op, !(op->flags & BACKEND_LIVE));
	}
	op_outcome(op); /* the log may be back: try to record the truth */
}

/* Reads the persistent definition as text (prepare edits the document
 * itself, not the model). A define needs its secrets (e.g. a VNC password),
 * or defining it again would drop them; showing must not reveal them. */
static char *op_read_xml(struct op *op)
{
	unsigned flags = BACKEND_INACTIVE | (op->args.define ? BACKEND_SECURE : 0);
	char *xml = NULL, *err = NULL;

	if (backend_domain_xml(agent_backend(op->a), op->domain, flags, &xml, &err) < 0)
		op_fail(op, PROTO_E_FAILED, "cannot read domain '%s': %s", op->domain, err);
	free(err);
	return xml;
}

/* Defines the new definition: the request is audited already; the outcome
 * follows in op_worker(). */
static void op_prepare_define(struct op *op, struct prepare *p)
{
	char *err = NULL, *why = NULL;
	bool defined = false;

	op->before = p->dom; /* the outcome's before/after per guest node */
	p->dom = NULL;
	if (agent_audit_check(op->a, &err) < 0)
		op_fail(op, PROTO_E_REFUSED, "changes are refused: %s", err);
	else if (backend_define(agent_backend(op->a), p->xml, &err) < 0)
		op_fail(op, PROTO_E_FAILED, "cannot define '%s': %s", op->domain, err);
	else
		defined = true;
	/* The define stands even when the read-back fails: the outcome then
	 * lacks the "after" figures, but says what happened. */
	if (defined && (op->after = op_read_model(op, true, &why)) == NULL)
		log_warn("%s: defined, but %s", op->request, why);
	json_object_object_add(op->data, "defined", json_object_new_boolean(defined));
	json_object_object_add(op->data, "active", json_object_new_boolean(op->active));
	free(why);
	free(err);
}

static void op_prepare(struct op *op)
{
	struct prepare *p = NULL;
	struct host *host = NULL;
	char *xml = op_read_xml(op), *err = NULL;

	if (xml == NULL)
		return;
	if (backend_host(agent_backend(op->a), &host, &err) < 0)
		op_fail(op, PROTO_E_FAILED, "cannot read the host's topology: %s", err);
	else if (prepare_parse(xml, strlen(xml), &p, &err) < 0)
		op_fail(op, PROTO_E_FAILED, "domain '%s': %s", op->domain, err);
	else if (prepare_compute(p, host, &op->args.prepare, &err) < 0)
		op_fail(op, PROTO_E_REFUSED, "cannot prepare '%s': %s", op->domain, err);
	if (op->code == NULL) {
		json_object_put(op->data);
		op->data = prepare_report(p, host, &op->args.prepare);
		if (op->args.define) /* the XML holds secrets: not in the reply */
			op_prepare_define(op, p);
		else
			json_object_object_add(op->data, "xml", json_object_new_string(p->xml));
	}
	prepare_free(p);
	host_free(host);
	free(xml);
	free(err);
}

static void op_done(void *arg);
static void ops_cancel_queued(struct ops *o, struct domain_view *d, const char *why);

static void op_worker(void *arg)
{
	struct op *op = arg;
	struct host *host = NULL;
	char *err = NULL;

	if (op->args.kind == OP_PREPARE) {
		op_prepare(op);
		if (op->args.define) /* showing changes nothing: no record */
			op_audit(op, RECORD_OUTCOME,
			         op->code == NULL ? RECORD_OK : op_result(op->code), op->message,
			         NULL, true);
		return;
	}
	op->before = op_read(op, !(op->flags & BACKEND_LIVE));
	if (op->before && op->args.kind == OP_RESIZE && !op_resolve_resize(op)) {
		op_audit(op, RECORD_OUTCOME, RECORD_OK, NULL, NULL, true); /* already there */
		return;
	}
	/* A grow is checked against the host's free memory and hugepages; with
	 * no snapshot those checks cannot run, so the grow does not either. */
	if (op->before && op->args.kind == OP_GROW &&
	    backend_host(agent_backend(op->a), &host, &err) < 0) {
		op_fail(op, PROTO_E_FAILED, "cannot read the host's free memory and hugepages: %s",
		        err);
		op_audit(op, RECORD_PREFLIGHT, RECORD_FAILED, op->message, NULL, true);
	} else if (op->before) {
		op_select(op, host);
	}
	if (op->before)
		op->after = op_read(op, !(op->flags & BACKEND_LIVE));
	crashpoint(op_name(op), "before-outcome");
	if (op_outcome(op) < 0 && op->code == NULL && op->fail_closed && !op->args.dry_run &&
	    (op->args.kind == OP_GROW || op->args.kind == OP_SHRINK))
		op_outcome_unwritten(op);
	crashpoint(op_name(op), "after-outcome");
	free(err);
	host_free(host);
}

/* Every operation ends here once, whether it ran or was cancelled. */
static void op_count(struct op *op)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_count_op(agent_metrics(op->a), op_name(op), op->code ? op->code : "ok",
	                 (double)(now.tv_sec - op->submitted.tv_sec) +
	                         (double)(now.tv_nsec - op->submitted.tv_nsec) / 1e9);
}

static void op_reply(struct op *op)
{
	op_count(op);
	if (op->o->ended)
		op->o->ended(op->o->ended_arg, op->request, op->code, op->message);
	if (op->req == NULL)
		return;
	json_object_object_add(op->data, "request", json_object_new_string(op->request));
	if (op->notes)
		json_object_object_add(op->data, "notes", json_object_get(op->notes));
	if (op->code == NULL) {
		control_reply_ok(op->req, json_object_get(op->data));
	} else {
		/* The message names the nearest sizes and what stays. */
		control_reply_error(op->req, op->code, "%s", op->message ? op->message : op->code);
	}
	op->req = NULL;
}

static int op_start(struct op *op)
{
	int rc;

	op->running = true;
	rc = agent_run(op->a, op_worker, op_done, op);
	if (rc < 0) {
		op->running = false;
		return rc;
	}
	op->o->running++;
	return 0;
}

/* Loop thread: the worker finished; reply, refresh, start the next one. */
static void op_done(void *arg)
{
	struct op *op = arg;
	struct ops *o = op->o;
	struct domain_view *d = domains_find(agent_domains(op->a), op->domain);
	const char *size = json_object_get_string(json_object_object_get(op->data, "size"));

	log_info("%s %s%s%s on %s: %s", op->request, op_name(op), size ? " of " : "",
	         size ? size : "", op->domain, op->code ? op->message : "done");
	op_reply(op);
	o->done++;
	o->running--;
	if (d) {
		if (op->after && (op->flags & BACKEND_LIVE)) {
			domains_set_model(d, op->after);
			d->read_seq++; /* a read started before this is older */
			op->after = NULL;
		}
		d->queue = op->next;
		if (agent_stopping(op->a))
			ops_cancel_queued(o, d, "memplugd is stopping");
		while (d->queue && op_start(d->queue) < 0) {
			struct op *bad = d->queue;

			d->queue = bad->next;
			op_fail(bad, PROTO_E_FAILED, "cannot start a worker thread");
			op_reply(bad);
			op_free(bad);
		}
		if (d->gone && d->queue == NULL)
			domains_remove(agent_domains(op->a), d->name);
	}
	op_free(op);
}

static void op_scope(struct op *op, const struct domain_view *d)
{
	if (op->args.kind == OP_PREPARE) /* the persistent definition only */
		op->flags = BACKEND_CONFIG;
	else if (op->args.scope_given)
		op->flags =
		        (op->args.live ? BACKEND_LIVE : 0) | (op->args.config ? BACKEND_CONFIG : 0);
	else
		op->flags = (d->active ? BACKEND_LIVE : 0) | (d->persistent ? BACKEND_CONFIG : 0);
}

int ops_submit(struct ops *o, struct domain_view *d, const struct op_args *args,
               const struct record_actor *actor, struct control_request *req)
{
	struct op *op = calloc(1, sizeof(*op)), **tail;
	struct agent *a = o->a;
	char size[SIZE_FORMAT_MAX];
	json_object *x;

	assert_loop_thread();
	if (op == NULL)
		return -ENOMEM;
	op->o = o;
	op->a = a;
	clock_gettime(CLOCK_MONOTONIC, &op->submitted);
	op->domain = strdup(d->name);
	memcpy(op->uuid, d->uuid, sizeof(op->uuid));
	/* Start time and pid keep ids unique across restarts of the agent. */
	snprintf(op->request, sizeof(op->request), "%lx%04x-%u", (unsigned long)agent_started(a),
	         (unsigned)getpid() & 0xffff, ++o->next_request);
	op->args = *args;
	op->detach_timeout_ms = agent_config(a)->detach_timeout_ms;
	if (op->args.model == DEVMODEL_AUTO) /* the command did not force one */
		op->args.model = agent_config(a)->device_model;
	op->host_reserve_kib = agent_config(a)->host_reserve_kib;
	op->fail_closed = agent_config(a)->fail_closed;
	op->actor = actor ? *actor : (struct record_actor){.kind = RECORD_ACTOR_POLICY};
	if (actor && actor->comm) {
		snprintf(op->comm, sizeof(op->comm), "%s", actor->comm);
		op->actor.comm = op->comm;
	}
	op->req = req;
	op->data = json_object_new_object();
	op->active = d->active;
	if (args->kind != OP_PREPARE)
		json_object_object_add(
		        op->data, "size",
		        json_object_new_string(size_format(args->size_kib, size, sizeof(size))));
	op_scope(op, d);
	/* the reply says what changed: the guest, its definition, or both */
	json_object_object_add(op->data, "live", json_object_new_boolean(op->flags & BACKEND_LIVE));
	json_object_object_add(op->data, "config",
	                       json_object_new_boolean(op->flags & BACKEND_CONFIG));
	if (args->dry_run)
		json_object_object_add(op->data, "dry_run", json_object_new_boolean(true));

	if (args->kind == OP_PREPARE) {
		x = prepare_opts_json(&args->prepare);
		json_object_object_add(x, "op", json_object_new_string("prepare"));
	} else {
		x = json_object_new_object();
		json_object_object_add(x, "op", json_object_new_string(op_name(op)));
		json_object_object_add(x, "size_kib", json_object_new_uint64(args->size_kib));
		json_object_object_add(x, "node",
		                       args->node >= 0 ? json_object_new_int(args->node) : NULL);
		json_object_object_add(
		        x, "model", json_object_new_string(devmodel_choice_name(op->args.model)));
	}
	json_object_object_add(x, "live", json_object_new_boolean(op->flags & BACKEND_LIVE));
	json_object_object_add(x, "config", json_object_new_boolean(op->flags & BACKEND_CONFIG));
	if (args->dry_run)
		json_object_object_add(x, "dry_run", json_object_new_boolean(true));
	/* Showing a prepare changes nothing: only a define is a request on record. */
	if (args->kind != OP_PREPARE || args->define) {
		if (op_audit(op, RECORD_REQUEST, RECORD_OK, NULL, x, false) < 0 && op->fail_closed)
			op_fail(op, PROTO_E_REFUSED,
			        "the audit log cannot be written (the request "
			        "record); nothing was changed");
	} else {
		json_object_put(x);
	}

	if (op->code)
		; /* refused above */
	else if (agent_stopping(a))
		op_fail(op, PROTO_E_REFUSED, "memplugd is stopping");
	else if (op->flags == 0 || (args->live && !d->active))
		op_fail(op, PROTO_E_REFUSED,
		        "domain '%s' is not running: use --config to change its "
		        "persistent definition",
		        d->name);
	if (op->code) {
		op_audit(op, RECORD_OUTCOME, RECORD_REFUSED, op->message, NULL, true);
		op_reply(op);
		op_free(op);
		return 0;
	}
	for (tail = &d->queue; *tail; tail = &(*tail)->next)
		;
	*tail = op;
	if (!args->wait && req) {
		json_object *data = json_object_new_object();

		json_object_object_add(data, "request", json_object_new_string(op->request));
		json_object_object_add(data, "queued", json_object_new_boolean(true));
		control_reply_ok(req, data);
		op->req = NULL;
	}
	if (d->queue == op && op_start(op) < 0) {
		d->queue = NULL;
		op_fail(op, PROTO_E_FAILED, "cannot start a worker thread");
		op_reply(op);
		op_free(op);
	}
	return 0;
}

json_object *ops_queue_json(const struct domain_view *d)
{
	json_object *arr = json_object_new_array();

	for (const struct op *op = d->queue; op; op = op->next) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "request", json_object_new_string(op->request));
		json_object_object_add(o, "op", json_object_new_string(op_name(op)));
		json_object_object_add(o, "size_kib", json_object_new_uint64(op->args.size_kib));
		json_object_object_add(
		        o, "node", op->args.node >= 0 ? json_object_new_int(op->args.node) : NULL);
		json_object_object_add(o, "state",
		                       json_object_new_string(op->running ? "running" : "queued"));
		json_object_array_add(arr, o);
	}
	return arr;
}

static void ops_cancel_queued(struct ops *o, struct domain_view *d, const char *why)
{
	struct op **pp = &d->queue;

	while (*pp) {
		struct op *op = *pp;

		if (op->running) {
			pp = &op->next;
			continue;
		}
		*pp = op->next;
		op_fail(op, PROTO_E_FAILED, "%s", why);
		op_audit(op, RECORD_OUTCOME, RECORD_FAILED, why, NULL, true);
		op_reply(op);
		op_free(op);
	}
}

void ops_domain_gone(struct ops *o, const char *name)
{
	struct domains *ds = agent_domains(o->a);
	struct domain_view *d = domains_find(ds, name);

	ops_vmem_forget(o->vmem, name); /* even without a view */
	if (d == NULL)
		return;
	ops_cancel_queued(o, d, "the domain went away");
	/* With an operation still running, op_done() removes it. */
	domains_remove(ds, name);
}

/* ---- the guest's answers ---- */

static void ops_audit_event(struct ops *o, enum record_event ev, const struct backend_event *e,
                            enum record_result res, json_object *extra)
{
	struct record r = {
	        .event = ev,
	        .domain = e->name,
	        .uuid = e->uuid[0] ? e->uuid : NULL,
	        .actor = {.kind = RECORD_ACTOR_LIBVIRT},
	        .result = res,
	        .extra = extra,
	};

	agent_audit(o->a, &r, false, NULL);
	json_object_put(extra);
}

/* "memua-mp-x-0" (DEVICE_ADDED names the memory backend) -> "ua-mp-x-0". */
static const char *device_alias(const char *alias)
{
	if (alias && strncmp(alias, "mem", 3) == 0 &&
	    (strncmp(alias + 3, "ua-", 3) == 0 || strncmp(alias + 3, "dimm", 4) == 0))
		return alias + 3;
	return alias;
}

static void waiters_wake(struct ops *o, const char *domain, const char *alias, int state)
{
	pthread_mutex_lock(&o->wait_lock);
	for (struct waiter *w = o->waiters; w; w = w->next)
		if (w->state == 0 && w->attach == (state == ANSWER_ADDED) &&
		    strcmp(w->domain, domain) == 0 && strcmp(w->alias, alias) == 0)
			w->state = state;
	pthread_cond_broadcast(&o->wait_cond);
	pthread_mutex_unlock(&o->wait_lock);
}

/* The pending detach of this alias, unlinked; NULL when there is none. */
static struct late *late_take(struct ops *o, const char *domain, const char *alias)
{
	struct late *found = NULL;

	pthread_mutex_lock(&o->wait_lock);
	for (struct late **pp = &o->late; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->domain, domain) == 0 && strcmp((*pp)->alias, alias) == 0) {
			found = *pp;
			*pp = found->next;
			break;
		}
	}
	pthread_mutex_unlock(&o->wait_lock);
	return found;
}

/* A late answer's outcome, on a worker: a removed DIMM may still have to
 * leave the persistent definition, which is a blocking call. */
struct late_job {
	struct ops *o;
	struct late *l;
	char uuid[BACKEND_UUID_LEN + 1];
	int answer;         /* ANSWER_REMOVED, ANSWER_REFUSED or ANSWER_STOPPED */
	const char *source; /* "event", "reread" (after a reconnect), "lifecycle" */
};

static void late_job_done(void *arg)
{
	struct late_job *j = arg;

	j->o->running--;
	free(j);
}

static void late_worker(void *arg)
{
	struct late_job *j = arg;
	struct late *l = j->l;
	json_object *x = json_object_new_object();
	char *err = NULL;
	bool gone = j->answer == ANSWER_REMOVED || j->answer == ANSWER_STOPPED;
	struct record r = {.event = RECORD_OUTCOME,
	                   .domain = l->domain,
	                   .uuid = j->uuid[0] ? j->uuid : NULL,
	                   .request = l->request,
	                   .actor = {.kind = strcmp(j->source, "event") == 0 ? RECORD_ACTOR_LIBVIRT
	                                                                     : RECORD_ACTOR_AGENT},
	                   .result = j->answer == ANSWER_REMOVED ? RECORD_OK
	                             : gone                      ? RECORD_FAILED
	                                                         : RECORD_REFUSED,
	                   .extra = x};

	if (gone && l->config &&
	    backend_detach_alias(agent_backend(j->o->a), l->domain, l->alias, BACKEND_CONFIG,
	                         &err) < 0) {
		r.result = RECORD_FAILED;
		r.error = err;
	} else if (j->answer == ANSWER_STOPPED) {
		r.error = l->config ? "the domain stopped before the guest answered; the DIMM was "
		                      "removed from the persistent definition"
		                    : "the domain stopped before the guest answered";
	} else if (!gone) {
		r.error = "unplug was rejected by the guest";
	}
	json_object_object_add(x, "model", json_object_new_string("dimm"));
	json_object_object_add(x, "alias", json_object_new_string(l->alias));
	json_object_object_add(x, "late", json_object_new_boolean(true));
	json_object_object_add(x, "source", json_object_new_string(j->source));
	agent_audit(j->o->a, &r, true, NULL);
	log_info("%s: %s %s after the timeout (%s)", l->request,
	         j->answer == ANSWER_REMOVED   ? "the guest released"
	         : j->answer == ANSWER_STOPPED ? "the domain stopped with"
	                                       : "the guest refused to release",
	         l->alias, j->source);
	json_object_put(x);
	free(err);
	late_free(l);
}

static void late_outcome(struct ops *o, struct late *l, const char *uuid, int answer,
                         const char *source)
{
	struct late_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		abort();
	*j = (struct late_job){.o = o, .l = l, .answer = answer, .source = source};
	snprintf(j->uuid, sizeof(j->uuid), "%s", uuid ? uuid : "");
	if (agent_run(o->a, late_worker, late_job_done, j) < 0) {
		log_err("%s: cannot finish the late detach of %s", l->request, l->alias);
		late_free(l);
		free(j);
	} else {
		o->running++;
	}
}

void ops_device_event(struct ops *o, const struct backend_event *ev)
{
	static const enum record_event kinds[] = {
	        [BACKEND_EVENT_DEVICE_ADDED] = RECORD_DEVICE_ADDED,
	        [BACKEND_EVENT_DEVICE_REMOVED] = RECORD_DEVICE_REMOVED,
	        [BACKEND_EVENT_DEVICE_REMOVAL_FAILED] = RECORD_DEVICE_REMOVAL_FAILED,
	};
	const char *alias = device_alias(ev->alias);
	json_object *x;

	assert_loop_thread();
	if (ev->kind == BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE) {
		ops_vmem_event(o->vmem, ev);
		return;
	}
	x = json_object_new_object();
	json_object_object_add(x, "alias", alias ? json_object_new_string(alias) : NULL);
	/* Our own DIMMs carry the request id: ua-mp-REQUEST-K. */
	json_object_object_add(
	        x, "solicited",
	        json_object_new_boolean(
	                alias && strncmp(alias, OPS_ALIAS_PREFIX, strlen(OPS_ALIAS_PREFIX)) == 0));
	ops_audit_event(
	        o, kinds[ev->kind], ev,
	        ev->kind == BACKEND_EVENT_DEVICE_REMOVAL_FAILED ? RECORD_REFUSED : RECORD_OK, x);
	if (alias && ev->kind == BACKEND_EVENT_DEVICE_ADDED) {
		waiters_wake(o, ev->name, alias, ANSWER_ADDED);
	} else if (alias) {
		int answer =
		        ev->kind == BACKEND_EVENT_DEVICE_REMOVED ? ANSWER_REMOVED : ANSWER_REFUSED;
		struct late *l = late_take(o, ev->name, alias);

		waiters_wake(o, ev->name, alias, answer);
		if (l)
			late_outcome(o, l, ev->uuid, answer, "event");
	}
}

/* What the view (just re-read, or a lifecycle event) says about a pending
 * detach: ANSWER_STOPPED, ANSWER_REMOVED or ANSWER_NONE (still there). */
static int settle_answer(struct domains *ds, const char *domain, const char *alias,
                         bool stopped_only)
{
	struct domain_view *d = domains_find(ds, domain);

	if (d == NULL || !d->active)
		return ANSWER_STOPPED;
	if (!stopped_only && d->model && !domain_has_alias(d->model, alias))
		return ANSWER_REMOVED;
	return ANSWER_NONE;
}

/* Ends the waits and late entries the views answer; `stopped_only` for a
 * lifecycle event (the device lists may be older than the event). */
static void ops_settle(struct ops *o, bool stopped_only)
{
	struct domains *ds = agent_domains(o->a);
	struct late *settled = NULL, *l;
	int answers[64], n = 0;

	pthread_mutex_lock(&o->wait_lock);
	for (struct waiter *w = o->waiters; w; w = w->next)
		if (w->state == ANSWER_NONE && !w->attach)
			w->state = settle_answer(ds, w->domain, w->alias, stopped_only);
	pthread_cond_broadcast(&o->wait_cond);
	for (struct late **pp = &o->late; (l = *pp) != NULL;) {
		int a = n < 64 ? settle_answer(ds, l->domain, l->alias, stopped_only) : 0;

		if (a == ANSWER_NONE) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		l->next = settled;
		settled = l;
		answers[n++] = a;
	}
	pthread_mutex_unlock(&o->wait_lock);
	while ((l = settled) != NULL) { /* newest first: answers[] backwards */
		struct domain_view *d = domains_find(ds, l->domain);

		settled = l->next;
		late_outcome(o, l, d ? d->uuid : NULL, answers[--n],
		             stopped_only ? "lifecycle" : "reread");
	}
}

void ops_settle_pending(struct ops *o)
{
	assert_loop_thread();
	ops_settle(o, false);
}

void ops_domain_stopped(struct ops *o, const char *name)
{
	struct domain_view *d = domains_find(agent_domains(o->a), name);

	assert_loop_thread();
	if (d)
		d->active = false;
	ops_settle(o, true);
	ops_vmem_domain_stopped(o->vmem, name); /* its steps end, its watches go */
}

/* ---- crash recovery ---- */

struct reconcile_job {
	struct ops *o;
	size_t n;
	struct reconcile_item *items;
};

/* A shrink whose DIMM the guest still holds after a restart: its answer,
 * when it comes, is that request's late outcome. Any thread. */
static void reconcile_watch(void *arg, const char *domain, const char *alias, const char *request,
                            bool config)
{
	struct ops *o = arg;
	struct late *l = late_new(domain, alias, request, config);

	pthread_mutex_lock(&o->wait_lock);
	l->next = o->late;
	o->late = l;
	pthread_mutex_unlock(&o->wait_lock);
}

static void reconcile_work(void *arg)
{
	struct reconcile_job *j = arg;
	struct reconcile_ctx c = {.a = j->o->a, .watch = reconcile_watch, .arg = j->o};

	reconcile_items(&c, j->items, j->n);
}

static void reconcile_done(void *arg)
{
	struct reconcile_job *j = arg;

	j->o->running--;
	for (size_t i = 0; i < j->n; i++)
		json_object_put(j->items[i].intent);
	free(j->items);
	free(j);
}

void ops_reconcile(struct ops *o)
{
	json_object *pending = NULL;
	struct reconcile_job *j;
	char *err = NULL;
	size_t n;

	assert_loop_thread();
	if (o->reconciled)
		return;
	o->reconciled = true;
	if (audit_pending_intents(agent_audit_log(o->a), &pending, &err) < 0) {
		log_err("cannot read the audit log to reconcile: %s", err);
		free(err);
		return;
	}
	n = json_object_array_length(pending);
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->items = calloc(n ? n : 1, sizeof(*j->items))) == NULL)
		abort();
	j->o = o;
	/* DIMM intents go to the worker; a virtio-mem step is settled by its
	 * own code (ops_vmem.c, its own worker). */
	for (size_t i = 0; i < n; i++) {
		json_object *intent = json_object_array_get_idx(pending, i);
		const char *name = record_str(intent, "domain");
		struct domain_view *d = name ? domains_find(agent_domains(o->a), name) : NULL;
		struct reconcile_item *it;

		if (ops_vmem_reconcile(o->vmem, intent))
			continue;
		it = &j->items[j->n++];
		it->intent = json_object_get(intent);
		it->known = d != NULL && d->model != NULL;
		it->active = d && d->active;
		it->persistent = d && d->persistent;
	}
	json_object_put(pending);
	if (j->n == 0 || agent_run(o->a, reconcile_work, reconcile_done, j) < 0) {
		if (j->n)
			log_err("cannot start a worker to reconcile");
		o->running++;
		reconcile_done(j);
		return;
	}
	o->running++;
}

/* ---- life ---- */

struct ops *ops_new(struct agent *a)
{
	struct ops *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->a = a;
	o->reconnect_wait_ms = OPS_RECONNECT_WAIT_MS;
	if ((o->vmem = ops_vmem_new(a)) == NULL) {
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->wait_lock, NULL);
	pthread_cond_init(&o->wait_cond, NULL);
	return o;
}

void ops_free(struct ops *o)
{
	if (o == NULL)
		return;
	while (o->late) { /* detaches still pending: their answer never came */
		struct late *l = o->late;

		o->late = l->next;
		late_free(l);
	}
	ops_vmem_free(o->vmem);
	pthread_mutex_destroy(&o->wait_lock);
	pthread_cond_destroy(&o->wait_cond);
	free(o);
}

void ops_on_ended(struct ops *o,
                  void (*fn)(void *arg, const char *request, const char *code, const char *message),
                  void *arg)
{
	o->ended = fn;
	o->ended_arg = arg;
}

void ops_stop(struct ops *o)
{
	assert_loop_thread();
	agent_stop(o->a); /* first: what the cancels below start is refused */
	for (struct domain_view *d = domains_first(agent_domains(o->a)); d; d = d->next)
		ops_cancel_queued(o, d, "memplugd is stopping");
}

unsigned ops_done_count(const struct ops *o)
{
	return o->done;
}

unsigned ops_running_count(const struct ops *o)
{
	return o->running + ops_vmem_jobs(o->vmem);
}

unsigned ops_vmem_watches(struct ops *o)
{
	return ops_vmem_watching(o->vmem);
}

void ops_set_reconnect_wait(struct ops *o, uint64_t ms)
{
	o->reconnect_wait_ms = ms;
}

unsigned ops_pending_detaches(struct ops *o)
{
	unsigned n = 0;

	pthread_mutex_lock(&o->wait_lock);
	for (const struct late *l = o->late; l; l = l->next)
		n++;
	pthread_mutex_unlock(&o->wait_lock);
	return n;
}
