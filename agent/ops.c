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

#include "dimm.h"
#include "err.h"
#include "host.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "report.h"
#include "ops.h"
#include "ops_vmem.h"
#include "threadcheck.h"
#include "prepare.h"
#include "select.h"
#include "size.h"

struct waiter {
	char *domain;
	char *alias;
	int state; /* 0 waiting, 1 removed, -1 the guest refused */
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
	bool active;    /* the domain ran when the operation was queued */
	unsigned flags; /* BACKEND_LIVE | BACKEND_CONFIG */
	/* Copied at submit: a reload may free the config under the worker. */
	uint64_t detach_timeout_ms;
	uint64_t host_reserve_kib;
	/* CLOCK_MONOTONIC at submission, for the latency metric. */
	struct timespec submitted;

	/* Filled by the worker. */
	char *vmem_short; /* what the virtio-mem steps that came up short show */
	struct domain *before;
	struct domain *after;
	json_object *data; /* the reply's data */
	const char *code;  /* NULL: ok */
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
	return strcmp(code, PROTO_E_PENDING) == 0 ? RECORD_PENDING : RECORD_FAILED;
}

/* Half-second tries while libvirt is away: 15 s, the reconnect's budget. */
#define OP_RECONNECT_TRIES 30

/* The domain's model, or NULL with *why saying what failed (caller frees). */
static struct domain *op_read_model(struct op *op, bool inactive, char **why)
{
	struct domain *dom = NULL;
	char *xml = NULL, *err = NULL;

	int rc, tries = 0;

	/* While libvirtd restarts, the agent reconnects within seconds: wait
	 * for it rather than fail a request that has not changed anything. */
	while ((rc = backend_domain_xml(agent_backend(op->a), op->domain,
	                                inactive ? BACKEND_INACTIVE : 0, &xml, &err)) ==
	               -ENOTCONN &&
	       ++tries <= OP_RECONNECT_TRIES) {
		free(err);
		err = NULL;
		usleep(500 * 1000);
	}
	if (rc < 0)
		err_set(why, "cannot read domain '%s': %s", op->domain, err);
	else if (domain_parse(xml, strlen(xml), &dom, &err) < 0)
		err_set(why, "domain '%s': %s", op->domain, err);
	free(xml);
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

static json_object *dimm_extra(const struct select_dimm *d, const char *alias)
{
	json_object *o = json_object_new_object();
	char buf[NODESET_FORMAT_MAX];

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

static struct waiter *waiter_add(struct ops *o, const char *domain, const char *alias)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (w == NULL || (w->domain = strdup(domain)) == NULL || (w->alias = strdup(alias)) == NULL)
		abort();
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
 * 0 still pending, -2 the detach call itself failed. */
static int op_detach(struct op *op, const char *alias, char **err)
{
	const struct backend *b = agent_backend(op->a);
	struct waiter *w;
	int state = 1;

	if (op->flags & BACKEND_LIVE) {
		w = waiter_add(op->o, op->domain, alias);
		if (backend_detach_alias(b, op->domain, alias, BACKEND_LIVE, err) < 0) {
			waiter_wait(op->o, w, 0, NULL, false);
			return -2;
		}
		state = waiter_wait(op->o, w, op->detach_timeout_ms, op->request,
		                    op->flags & BACKEND_CONFIG);
	}
	if (state == 1 && (op->flags & BACKEND_CONFIG) &&
	    backend_detach_alias(b, op->domain, alias, BACKEND_CONFIG, err) < 0)
		return -2;
	return state;
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
	                            .timeout_ms = op->detach_timeout_ms};
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

/* One device's change: intent, update, wait, `resize` record. Returns -1
 * when the call failed (the request stops there), 0 otherwise. */
static int op_vmem_step(struct op *op, const struct select_dimm *d, bool shrink, json_object *done)
{
	struct vmem_change c = op_vmem_change(op, d, false);
	struct vmem_outcome o = {0};
	char *err = NULL;

	if (op_audit(op, RECORD_INTENT, RECORD_PENDING, NULL, ops_vmem_extra(&c, NULL), true) < 0) {
		op_fail(op, PROTO_E_REFUSED, "the audit log cannot be written");
		return -1;
	}
	ops_vmem_apply(op->o->vmem, &c, &o, &err);
	op_audit(op, RECORD_RESIZE,
	         o.state == VMEM_REACHED   ? RECORD_OK
	         : o.state == VMEM_PARTIAL ? RECORD_PARTIAL
	                                   : RECORD_FAILED,
	         o.state == VMEM_PARTIAL ? "the guest has not reached the request" : err,
	         ops_vmem_extra(&c, &o), true);
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
		op_audit(op, RECORD_ROLLBACK, o.state == VMEM_REACHED ? RECORD_OK : RECORD_FAILED,
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
		json_object *x = json_object_new_object();

		json_object_object_add(x, "alias", json_object_new_string(aliases[i]));
		op_audit(op, RECORD_ROLLBACK, st == 1 ? RECORD_OK : RECORD_FAILED,
		         st == 1 ? NULL : (err ? err : "the guest did not release it"), x, true);
		if (st != 1) {
			remain++;
			json_object_array_add(left, json_object_new_string(aliases[i]));
		}
		free(err);
	}
	return remain;
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
		char *alias = aliases[n], *xml, *err = NULL;
		int rc;

		if (d->model == DEVMODEL_VIRTIO_MEM) {
			if (op_vmem_step(op, d, false, done) < 0)
				break;
			nv++;
			continue;
		}
		snprintf(alias, OP_ALIAS_MAX, OPS_ALIAS_PREFIX "%s-%zu", op->request, i);
		xml = dimm_xml(d->node, d->size_kib, alias);
		if (op_audit(op, RECORD_INTENT, RECORD_PENDING, NULL, dimm_extra(d, alias), true) <
		    0) {
			op_fail(op, PROTO_E_REFUSED, "the audit log cannot be written");
			free(xml);
			break;
		}
		rc = xml ? backend_attach(agent_backend(op->a), op->domain, xml, op->flags, &err)
		         : -ENOMEM;
		op_audit(op, RECORD_ATTACH, rc < 0 ? RECORD_FAILED : RECORD_OK, err,
		         dimm_extra(d, alias), true);
		free(xml);
		if (rc < 0) {
			op_fail(op, PROTO_E_FAILED, "attaching %s to guest node %u failed: %s",
			        alias, d->node, err ? err : strerror(-rc));
			free(err);
			break;
		}
		n++;
		json_object_array_add(done, dimm_extra(d, alias));
	}
	if (op->code && nv > 0)
		op_vmem_rollback(op, sel, nv);
	if (op->code && n > 0) {
		json_object *left = json_object_new_array();
		size_t remain = op_rollback(op, aliases, n, left);

		if (remain) {
			/* Keep the cause: the user needs both it and what is left. */
			char *cause = op->message;

			op->message = NULL;
			op->code = NULL;
			op_fail(op, PROTO_E_FAILED,
			        "%s; the rollback failed and %zu of %zu DIMMs it added remain: %s",
			        cause ? cause : "grow failed", remain, n,
			        json_object_to_json_string(left));
			free(cause);
		}
		json_object_put(left);
	}
	free(aliases);
	json_object_object_add(op->data, "attached", op->code ? json_object_new_array() : done);
	if (op->code)
		json_object_put(done);
	op_vmem_finish(op);
}

static void op_shrink(struct op *op, const struct select_result *sel)
{
	json_object *done = json_object_new_array();

	for (size_t i = 0; i < sel->n_dimms; i++) {
		const struct select_dimm *d = &sel->dimms[i];
		char *err = NULL;
		int st;

		if (d->model == DEVMODEL_VIRTIO_MEM) {
			if (op_vmem_step(op, d, true, done) < 0)
				break;
			continue;
		}
		if (op_audit(op, RECORD_INTENT, RECORD_PENDING, NULL, dimm_extra(d, d->alias),
		             true) < 0) {
			op_fail(op, PROTO_E_REFUSED, "the audit log cannot be written");
			break;
		}
		st = op_detach(op, d->alias, &err);
		op_audit(op, RECORD_DETACH,
		         st == 1    ? RECORD_OK
		         : st == 0  ? RECORD_PENDING
		         : st == -1 ? RECORD_REFUSED
		                    : RECORD_FAILED,
		         st == 1    ? NULL
		         : st == 0  ? "no answer from the guest yet"
		         : st == -1 ? "unplug was rejected by the guest"
		                    : err,
		         dimm_extra(d, d->alias), true);
		if (st == 1) {
			json_object_array_add(done, dimm_extra(d, d->alias));
		} else if (st == 0) {
			op_fail(op, PROTO_E_PENDING,
			        "%s on guest node %u: the guest has not released it after %" PRIu64
			        " ms; the outcome will be audited when it does",
			        d->alias, d->node, op->detach_timeout_ms);
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
	json_object_object_add(op->data, "detached", done);
	op_vmem_finish(op);
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
	else if (op->args.kind == OP_GROW)
		op_grow(op, sel);
	else
		op_shrink(op, sel);
	free(err);
	select_result_free(sel);
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
	op_audit(op, RECORD_OUTCOME, op->code == NULL ? RECORD_OK : op_result(op->code),
	         op->message, NULL, true);
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
	if (args->kind != OP_PREPARE || args->define)
		op_audit(op, RECORD_REQUEST, RECORD_OK, NULL, x, false);
	else
		json_object_put(x);

	if (agent_stopping(a))
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
		if (w->state == 0 && strcmp(w->domain, domain) == 0 && strcmp(w->alias, alias) == 0)
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
	bool removed;
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
	struct record r = {.event = RECORD_OUTCOME,
	                   .domain = l->domain,
	                   .uuid = j->uuid[0] ? j->uuid : NULL,
	                   .request = l->request,
	                   .actor = {.kind = RECORD_ACTOR_LIBVIRT},
	                   .result = j->removed ? RECORD_OK : RECORD_REFUSED,
	                   .extra = x};

	if (j->removed && l->config &&
	    backend_detach_alias(agent_backend(j->o->a), l->domain, l->alias, BACKEND_CONFIG,
	                         &err) < 0) {
		r.result = RECORD_FAILED;
		r.error = err;
	} else if (!j->removed) {
		r.error = "unplug was rejected by the guest";
	}
	json_object_object_add(x, "alias", json_object_new_string(l->alias));
	json_object_object_add(x, "late", json_object_new_boolean(true));
	agent_audit(j->o->a, &r, true, NULL);
	log_info("%s: the guest %s %s after the timeout", l->request,
	         j->removed ? "released" : "refused to release", l->alias);
	json_object_put(x);
	free(err);
	late_free(l);
}

static void late_outcome(struct ops *o, struct late *l, const char *uuid, bool removed)
{
	struct late_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		abort();
	*j = (struct late_job){.o = o, .l = l, .removed = removed};
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
	if (alias && ev->kind != BACKEND_EVENT_DEVICE_ADDED) {
		struct late *l = late_take(o, ev->name, alias);

		waiters_wake(o, ev->name, alias, ev->kind == BACKEND_EVENT_DEVICE_REMOVED ? 1 : -1);
		if (l)
			late_outcome(o, l, ev->uuid, ev->kind == BACKEND_EVENT_DEVICE_REMOVED);
	}
}

/* ---- crash recovery ---- */

static bool domain_has_alias(const struct domain *dom, const char *alias)
{
	for (size_t i = 0; dom && i < dom->n_memdevs; i++)
		if (dom->memdevs[i].alias && strcmp(dom->memdevs[i].alias, alias) == 0)
			return true;
	return false;
}

/* One intent left without an outcome by a crash: what does the guest have? */
static void reconcile_one(struct ops *o, json_object *intent)
{
	const char *name = record_str(intent, "domain");
	const char *alias = record_str(intent, "alias");
	const char *request = record_str(intent, "request");
	struct domain_view *d = name ? domains_find(agent_domains(o->a), name) : NULL;
	struct record_node_mem *after = NULL;
	char grow_prefix[64];
	bool present, grow;
	json_object *x = json_object_new_object();
	struct record r = {.event = RECORD_RECONCILED,
	                   .domain = name,
	                   .uuid = record_str(intent, "uuid"),
	                   .request = request,
	                   .actor = {.kind = RECORD_ACTOR_AGENT}};

	if (ops_vmem_reconcile(o->vmem, intent)) { /* a virtio-mem step: ops_vmem.c */
		json_object_put(x);
		return;
	}
	/* A grow names its new DIMMs after its request; a shrink names old ones. */
	snprintf(grow_prefix, sizeof(grow_prefix), OPS_ALIAS_PREFIX "%s-", request ? request : "");
	grow = alias && strncmp(alias, grow_prefix, strlen(grow_prefix)) == 0;
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
	agent_audit(o->a, &r, true, NULL);
	free(after);
	json_object_put(x);
}

void ops_reconcile(struct ops *o)
{
	json_object *pending = NULL;
	char *err = NULL;

	assert_loop_thread();
	if (o->reconciled)
		return;
	o->reconciled = true;
	if (audit_pending_intents(agent_audit_log(o->a), &pending, &err) < 0) {
		log_err("cannot read the audit log to reconcile: %s", err);
		free(err);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(pending); i++)
		reconcile_one(o, json_object_array_get_idx(pending, i));
	json_object_put(pending);
}

/* ---- life ---- */

struct ops *ops_new(struct agent *a)
{
	struct ops *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->a = a;
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

unsigned ops_pending_detaches(struct ops *o)
{
	unsigned n = 0;

	pthread_mutex_lock(&o->wait_lock);
	for (const struct late *l = o->late; l; l = l->next)
		n++;
	pthread_mutex_unlock(&o->wait_lock);
	return n;
}
