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
#include <unistd.h>

#include "dimm.h"
#include "err.h"
#include "host.h"
#include "log.h"
#include "proto.h"
#include "ops.h"
#include "ops_backend.h"
#include "select.h"
#include "size.h"

struct op {
	struct agent *a;
	char *domain;
	char uuid[VIRT_UUID_LEN + 1];
	char request[32];
	struct op_args args;
	struct record_actor actor;
	char comm[17];
	struct control_request *req; /* NULL once replied or for the policy */
	bool running;
	unsigned flags; /* VIRT_LIVE | VIRT_CONFIG */
	/* Copied at submit: a reload may free the config under the worker. */
	uint64_t detach_timeout_ms;
	uint64_t host_reserve_kib;

	/* Filled by the worker. */
	struct domain *before;
	struct domain *after;
	json_object *data; /* the reply's data */
	const char *code;  /* NULL: ok */
	char *message;
	struct op *next;
};

static const char *op_name(const struct op *op)
{
	return op->args.kind == OP_GROW ? "grow" : "shrink";
}

static void op_free(struct op *op)
{
	if (op == NULL)
		return;
	domain_free(op->before);
	domain_free(op->after);
	json_object_put(op->data);
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

/* Half-second tries while libvirt is away: 15 s, the reconnect's budget. */
#define OP_RECONNECT_TRIES 30

static struct domain *op_read(struct op *op, bool inactive)
{
	struct domain *dom = NULL;
	char *xml = NULL, *err = NULL;

	int rc, tries = 0;

	/* While libvirtd restarts, the agent reconnects within seconds: wait
	 * for it rather than fail a request that has not changed anything. */
	while ((rc = ops_backend_domain_xml(op->a, op->domain, inactive ? VIRT_INACTIVE : 0, &xml,
	                                    &err)) == -ENOTCONN &&
	       ++tries <= OP_RECONNECT_TRIES) {
		free(err);
		err = NULL;
		usleep(500 * 1000);
	}
	if (rc < 0)
		op_fail(op, PROTO_E_FAILED, "cannot read domain '%s': %s", op->domain, err);
	else if (domain_parse(xml, strlen(xml), &dom, &err) < 0)
		op_fail(op, PROTO_E_FAILED, "domain '%s': %s", op->domain, err);
	free(xml);
	free(err);
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

/* Detaches one DIMM from the live guest and waits for the guest's answer;
 * then from the persistent definition when asked. 1 removed, -1 refused,
 * 0 still pending, -2 the detach call itself failed. */
static int op_detach(struct op *op, const char *alias, char **err)
{
	struct agent *a = op->a;
	struct agent_waiter *w;
	int state = 1;

	if (op->flags & VIRT_LIVE) {
		w = agent_waiter_add(a, op->domain, alias);
		if (ops_backend_detach_alias(a, op->domain, alias, VIRT_LIVE, err) < 0) {
			agent_waiter_wait(a, w, 0, NULL, false);
			return -2;
		}
		state = agent_waiter_wait(a, w, op->detach_timeout_ms, op->request,
		                          op->flags & VIRT_CONFIG);
	}
	if (state == 1 && (op->flags & VIRT_CONFIG) &&
	    ops_backend_detach_alias(a, op->domain, alias, VIRT_CONFIG, err) < 0)
		return -2;
	return state;
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
	size_t n = 0;

	if (aliases == NULL)
		op_fail(op, PROTO_E_FAILED, "out of memory");
	for (size_t i = 0; i < sel->n_dimms && aliases; i++) {
		const struct select_dimm *d = &sel->dimms[i];
		char *alias = aliases[n], *xml, *err = NULL;
		int rc;

		snprintf(alias, OP_ALIAS_MAX, OPS_ALIAS_PREFIX "%s-%zu", op->request, i);
		xml = dimm_xml(d->node, d->size_kib, alias);
		if (op_audit(op, RECORD_INTENT, RECORD_PENDING, NULL, dimm_extra(d, alias), true) <
		    0) {
			op_fail(op, PROTO_E_REFUSED, "the audit log cannot be written");
			free(xml);
			break;
		}
		rc = xml ? ops_backend_attach(op->a, op->domain, xml, op->flags, &err) : -ENOMEM;
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
}

static void op_shrink(struct op *op, const struct select_result *sel)
{
	json_object *done = json_object_new_array();

	for (size_t i = 0; i < sel->n_dimms; i++) {
		const struct select_dimm *d = &sel->dimms[i];
		char *err = NULL;
		int st;

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
}

static void op_select(struct op *op, struct host *host)
{
	struct select_result *sel = NULL;
	char *err = NULL;
	int rc;

	if (op->args.kind == OP_GROW) {
		struct select_grow_req req = {.size_kib = op->args.size_kib,
		                              .node = op->args.node,
		                              .host_reserve_kib = op->host_reserve_kib};

		rc = select_grow(op->before, host, &req, &sel, &err);
	} else {
		struct select_shrink_req req = {.size_kib = op->args.size_kib,
		                                .node = op->args.node};

		rc = select_shrink(op->before, &req, &sel, &err);
	}
	if (rc < 0) {
		op_fail(op, PROTO_E_FAILED, "cannot choose DIMMs: %s", err ? err : strerror(-rc));
		op_audit(op, RECORD_PREFLIGHT, RECORD_FAILED, op->message, NULL, true);
		free(err);
		return;
	}
	json_object_object_add(op->data, "selection", select_result_to_json(sel));
	op_audit(op, RECORD_PREFLIGHT, sel->code == SELECT_OK ? RECORD_OK : RECORD_REFUSED,
	         sel->message, select_result_to_json(sel), true);
	if (sel->code != SELECT_OK)
		op_fail(op, PROTO_E_REFUSED, "%s", sel->message);
	else if (agent_audit_check(op->a, &err) < 0)
		op_fail(op, PROTO_E_REFUSED, "changes are refused: %s", err);
	else if (op->args.kind == OP_GROW)
		op_grow(op, sel);
	else
		op_shrink(op, sel);
	free(err);
	select_result_free(sel);
}

static void op_done(void *arg);

static void *op_worker(void *arg)
{
	struct op *op = arg;
	struct host *host = NULL;
	char *err = NULL;

	op->before = op_read(op, !(op->flags & VIRT_LIVE));
	/* A grow is checked against the host's free memory and hugepages; with
	 * no snapshot those checks cannot run, so the grow does not either. */
	if (op->before && op->args.kind == OP_GROW && ops_backend_host(op->a, &host, &err) < 0) {
		op_fail(op, PROTO_E_FAILED, "cannot read the host's free memory and hugepages: %s",
		        err);
		op_audit(op, RECORD_PREFLIGHT, RECORD_FAILED, op->message, NULL, true);
	} else if (op->before) {
		op_select(op, host);
	}
	if (op->before)
		op->after = op_read(op, !(op->flags & VIRT_LIVE));
	op_audit(op, RECORD_OUTCOME,
	         op->code == NULL                         ? RECORD_OK
	         : strcmp(op->code, PROTO_E_REFUSED) == 0 ? RECORD_REFUSED
	         : strcmp(op->code, PROTO_E_PENDING) == 0 ? RECORD_PENDING
	                                                  : RECORD_FAILED,
	         op->message, NULL, true);
	free(err);
	host_free(host);
	agent_post(op->a, op_done, op);
	return NULL;
}

static void op_reply(struct op *op)
{
	if (op->a->op_ended)
		op->a->op_ended(op->a->op_ended_arg, op->request, op->code, op->message);
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
	pthread_t t;
	pthread_attr_t attr;
	int rc;

	op->running = true;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, op_worker, op);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_err("cannot start a worker for %s: %s", op->domain, strerror(rc));
		op->running = false;
		return -rc;
	}
	op->a->ops_running++;
	return 0;
}

/* Loop thread: the worker finished; reply, refresh, start the next one. */
static void op_done(void *arg)
{
	struct op *op = arg;
	struct agent_domain *d = agent_domain_find(op->a, op->domain);

	log_info("%s %s of %s on %s: %s", op->request, op_name(op),
	         json_object_get_string(json_object_object_get(op->data, "size")), op->domain,
	         op->code ? op->message : "done");
	op_reply(op);
	op->a->ops_done++;
	op->a->ops_running--;
	if (d) {
		if (op->after && (op->flags & VIRT_LIVE)) {
			agent_domain_set_model(d, op->after);
			op->after = NULL;
		}
		d->queue = op->next;
		if (op->a->stopping)
			ops_cancel_queued(op->a, d, "memplugd is stopping");
		while (d->queue && op_start(d->queue) < 0) {
			struct op *bad = d->queue;

			d->queue = bad->next;
			op_fail(bad, PROTO_E_FAILED, "cannot start a worker thread");
			op_reply(bad);
			op_free(bad);
		}
		if (d->gone && d->queue == NULL)
			agent_domain_remove(op->a, d->name);
	}
	if (op->a->stopping && op->a->ops_running == 0)
		evloop_stop(op->a->loop);
	op_free(op);
}

static void op_scope(struct op *op, const struct agent_domain *d, bool persistent)
{
	if (op->args.scope_given)
		op->flags = (op->args.live ? VIRT_LIVE : 0) | (op->args.config ? VIRT_CONFIG : 0);
	else
		op->flags = (d->active ? VIRT_LIVE : 0) | (persistent ? VIRT_CONFIG : 0);
}

int ops_submit(struct agent *a, struct agent_domain *d, const struct op_args *args,
               const struct record_actor *actor, struct control_request *req)
{
	struct op *op = calloc(1, sizeof(*op)), **tail;
	char size[SIZE_FORMAT_MAX];
	json_object *x;
	bool persistent = true;

	if (op == NULL)
		return -ENOMEM;
	op->a = a;
	op->domain = strdup(d->name);
	memcpy(op->uuid, d->uuid, sizeof(op->uuid));
	/* Start time and pid keep ids unique across restarts of the agent. */
	snprintf(op->request, sizeof(op->request), "%lx%04x-%u", (unsigned long)a->started,
	         (unsigned)getpid() & 0xffff, ++a->next_request);
	op->args = *args;
	op->detach_timeout_ms = a->cfg->detach_timeout_ms;
	op->host_reserve_kib = a->cfg->host_reserve_kib;
	op->actor = actor ? *actor : (struct record_actor){.kind = RECORD_ACTOR_POLICY};
	if (actor && actor->comm) {
		snprintf(op->comm, sizeof(op->comm), "%s", actor->comm);
		op->actor.comm = op->comm;
	}
	op->req = req;
	op->data = json_object_new_object();
	json_object_object_add(
	        op->data, "size",
	        json_object_new_string(size_format(args->size_kib, size, sizeof(size))));
	if (!args->scope_given) /* only the default scope depends on it */
		ops_backend_persistent(a, d->name, &persistent);
	op_scope(op, d, persistent);
	/* the reply says what changed: the guest, its definition, or both */
	json_object_object_add(op->data, "live", json_object_new_boolean(op->flags & VIRT_LIVE));
	json_object_object_add(op->data, "config",
	                       json_object_new_boolean(op->flags & VIRT_CONFIG));

	x = json_object_new_object();
	json_object_object_add(x, "op", json_object_new_string(op_name(op)));
	json_object_object_add(x, "size_kib", json_object_new_uint64(args->size_kib));
	json_object_object_add(x, "node", args->node >= 0 ? json_object_new_int(args->node) : NULL);
	json_object_object_add(x, "live", json_object_new_boolean(op->flags & VIRT_LIVE));
	json_object_object_add(x, "config", json_object_new_boolean(op->flags & VIRT_CONFIG));
	op_audit(op, RECORD_REQUEST, RECORD_OK, NULL, x, false);

	if (a->stopping)
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

json_object *ops_queue_json(const struct agent_domain *d)
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

void ops_cancel_queued(struct agent *a, struct agent_domain *d, const char *why)
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
