/*
 * Answers control requests (the loop thread's side of the socket): reads
 * from the domain views and the audit log, and hands grow and shrink to
 * ops.c. Arguments arrive already checked against proto.c's schema.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buildconf.h"
#include "host.h"
#include "log.h"
#include "proto.h"
#include "ops.h"
#include "plan.h"
#include "policy.h"
#include "report.h"
#include "tail.h"

#include <event2/event.h>

static const char *arg_str(json_object *args, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static bool arg_has(json_object *args, const char *key)
{
	return json_object_object_get_ex(args, key, NULL);
}

static json_object *status_domain(const struct agent_domain *d)
{
	json_object *o = json_object_new_object();
	json_object *nodes = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
	json_object_object_add(o, "active", json_object_new_boolean(d->active));
	if (d->model) {
		struct record_node_mem *m = NULL;
		size_t n = agent_node_mem(d->model, &m);

		json_object_object_add(o, "memory_kib",
		                       json_object_new_uint64(d->model->memory_kib));
		json_object_object_add(o, "max_memory_kib",
		                       json_object_new_uint64(d->model->max_memory_kib));
		for (size_t i = 0; i < n; i++) {
			json_object *nm = json_object_new_object();

			json_object_object_add(nm, "id", json_object_new_int((int)m[i].node));
			json_object_object_add(nm, "kib", json_object_new_uint64(m[i].kib));
			json_object_array_add(nodes, nm);
		}
		free(m);
	}
	json_object_object_add(o, "nodes", nodes);
	json_object_object_add(o, "problem",
	                       d->model_error ? json_object_new_string(d->model_error) : NULL);
	json_object_object_add(o, "queue", ops_queue_json(d));
	return o;
}

static void do_status(struct agent *a, struct control_request *req)
{
	json_object *o = json_object_new_object();
	json_object *doms = json_object_new_array();
	json_object *audit = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_string(MEMPLUG_VERSION));
	json_object_object_add(o, "uptime_s", json_object_new_int64(time(NULL) - a->started));
	json_object_object_add(o, "uri", json_object_new_string(virt_uri(a->virt)));
	json_object_object_add(o, "connected", json_object_new_boolean(virt_connected(a->virt)));
	json_object_object_add(o, "reconnects", json_object_new_int((int)virt_reconnects(a->virt)));
	json_object_object_add(o, "operations_done", json_object_new_int((int)a->ops_done));
	json_object_object_add(audit, "path", json_object_new_string(audit_path(a->audit)));
	json_object_object_add(audit, "writable",
	                       json_object_new_boolean(audit_writable(a->audit)));
	json_object_object_add(o, "audit", audit);
	for (const struct agent_domain *d = a->domains; d; d = d->next)
		json_object_array_add(doms,
		                      policy_status_add(a->policy, d->name, status_domain(d)));
	json_object_object_add(o, "domains", doms);
	control_reply_ok(req, o);
}

/* The domain named in args; replies not_found itself (which ends req). */
static struct agent_domain *request_domain(struct agent *a, struct control_request *req,
                                           json_object *args)
{
	const char *name = arg_str(args, "domain");
	struct agent_domain *d = agent_domain_find(a, name);

	if (d == NULL) {
		control_reply_error(req, PROTO_E_NOT_FOUND,
		                    "no domain '%s' is known to memplugd on %s", name,
		                    virt_uri(a->virt));
		return NULL;
	}
	return d;
}

static void do_inspect(struct agent *a, struct control_request *req, json_object *args)
{
	struct agent_domain *d = request_domain(a, req, args);
	struct host *host = NULL;
	json_object *data;
	char *err = NULL;

	if (d == NULL)
		return;
	agent_domain_refresh(a, d);
	if (d->model == NULL) {
		control_reply_error(req, PROTO_E_FAILED, "%s", d->model_error);
		return;
	}
	if (host_snapshot(&host, &err) < 0)
		log_warn("host snapshot: %s", err);
	free(err);
	err = NULL;
	data = report_inspect(d->model, host, &err);
	host_free(host);
	if (data)
		control_reply_ok(req, data);
	else
		control_reply_error(req, PROTO_E_FAILED, "%s", err);
	free(err);
}

/* The plan, and what the host's hugepage pools can back of it now. */
static json_object *plan_report_host(const struct domain *dom, const struct plan *plan)
{
	json_object *data = report_plan(dom, plan);
	struct host *host = NULL;
	char *err = NULL;

	if (host_snapshot(&host, &err) < 0)
		log_warn("host snapshot: %s", err);
	report_plan_host(data, plan, host);
	host_free(host);
	free(err);
	return data;
}

static void do_plan(struct agent *a, struct control_request *req, json_object *args)
{
	struct agent_domain *d = request_domain(a, req, args);
	struct plan_options po = {.strategy = PLAN_PROPORTIONAL};
	const char *strategy = arg_str(args, "strategy");
	unsigned *weights = NULL;
	struct plan *plan = NULL;
	char *err = NULL;

	if (d == NULL)
		return;
	agent_domain_refresh(a, d);
	if (d->model == NULL)
		control_reply_error(req, PROTO_E_FAILED, "%s", d->model_error);
	else if (strategy && (plan_strategy_parse(strategy, &po, &weights, &err) < 0 ||
	                      plan_options_check(&po, d->model->n_cells, &err) < 0))
		control_reply_error(req, PROTO_E_BAD_REQUEST, "strategy \"%s\": %s", strategy, err);
	else if (plan_layout(d->model, NULL, &po, &plan, &err) < 0)
		control_reply_error(req, PROTO_E_REFUSED, "cannot plan: %s", err);
	else
		control_reply_ok(req, plan_report_host(d->model, plan));
	plan_free(plan);
	free(weights);
	free(err);
}

static void do_resize(struct agent *a, struct control_request *req, json_object *args,
                      enum op_kind kind)
{
	/* not_found ends req: read the peer before asking for the domain */
	const struct control_peer *peer = control_request_peer(req);
	struct record_actor actor = {.kind = RECORD_ACTOR_CLIENT,
	                             .uid = peer->uid,
	                             .gid = peer->gid,
	                             .pid = peer->pid,
	                             .comm = peer->comm};
	struct agent_domain *d = request_domain(a, req, args);
	struct op_args oa = {.kind = kind, .node = -1, .wait = true};
	json_object *v;
	uint64_t bytes;

	if (d == NULL)
		return;
	json_object_object_get_ex(args, "size", &v);
	bytes = json_object_get_uint64(v);
	if (bytes == 0 || bytes % 1024 != 0) {
		control_reply_error(req, PROTO_E_BAD_REQUEST,
		                    "size must be a positive whole number of KiB");
		return;
	}
	oa.size_kib = bytes / 1024;
	if (json_object_object_get_ex(args, "node", &v))
		oa.node = json_object_get_int(v);
	oa.scope_given = arg_has(args, "live") || arg_has(args, "config");
	oa.live = json_object_get_boolean(json_object_object_get(args, "live"));
	oa.config = json_object_get_boolean(json_object_object_get(args, "config"));
	if (json_object_object_get_ex(args, "wait", &v))
		oa.wait = json_object_get_boolean(v);
	if (ops_submit(a, d, &oa, &actor, req) < 0)
		control_reply_error(req, PROTO_E_FAILED, "cannot queue the operation");
}

/* A `log --follow` stream: polls the log's tail twice a second. */
struct follower {
	struct control_request *req;
	struct record_filter filter;
	struct record_tail *tail;
	struct event *timer;
};

static void follower_end(struct control_request *req, void *arg)
{
	struct follower *fw = arg;

	event_free(fw->timer);
	record_tail_free(fw->tail);
	control_reply_error(fw->req, PROTO_E_FAILED, "the log stream ended");
	free(fw);
}

static void follower_tick(evutil_socket_t fd, short what, void *arg)
{
	struct follower *fw = arg;
	json_object *recs = json_object_new_array(), *data, *match = json_object_new_array();

	record_tail_poll(fw->tail, recs);
	for (size_t i = 0; i < json_object_array_length(recs); i++) {
		json_object *rec = json_object_array_get_idx(recs, i);

		if (record_filter_match(&fw->filter, rec))
			json_object_array_add(match, json_object_get(rec));
	}
	json_object_put(recs);
	if (json_object_array_length(match) == 0) {
		json_object_put(match);
		return;
	}
	data = json_object_new_object();
	json_object_object_add(data, "records", match);
	if (control_reply_more(fw->req, data) < 0)
		follower_end(fw->req, fw);
}

/* The matching records already in the log (at most `limit`, the newest). */
static json_object *log_read(struct agent *a, const struct record_filter *f, size_t limit,
                             uint64_t *last_seq, char **err)
{
	json_object *data;
	char **files = NULL;
	size_t n = 0;

	if (audit_files(a->audit, &files, &n, err) < 0)
		return NULL;
	data = record_query(files, n, f, limit, last_seq);
	record_files_free(files, n);
	return data;
}

static void do_log(struct agent *a, struct control_request *req, json_object *args)
{
	static const struct timeval period = {0, 500000};
	bool follow = json_object_get_boolean(json_object_object_get(args, "follow"));
	struct follower *fw = NULL;
	struct record_filter f;
	struct record_tail *tail = NULL;
	uint64_t last_seq = 0;
	size_t limit = 1000;
	json_object *data, *v;
	char *err = NULL;

	if (json_object_object_get_ex(args, "limit", &v))
		limit = (size_t)json_object_get_uint64(v);
	if (record_filter_from_args(args, (int64_t)time(NULL) * 1000, &f, &err) < 0) {
		control_reply_error(req, PROTO_E_BAD_REQUEST, "%s", err);
		free(err);
		return;
	}
	/* The tail starts before the read: records in between come twice and
	 * are dropped by seq, never lost. */
	if (follow)
		tail = record_tail_new(audit_path(a->audit));
	if ((data = log_read(a, &f, limit, &last_seq, &err)) == NULL) {
		control_reply_error(req, PROTO_E_FAILED, "%s", err);
		record_tail_free(tail);
		free(err);
		return;
	}
	if (!follow) {
		control_reply_ok(req, data);
		return;
	}
	record_tail_skip_to(tail, last_seq);
	fw = calloc(1, sizeof(*fw));
	if (fw == NULL || control_reply_more(req, data) < 0) {
		record_tail_free(tail);
		free(fw);
		control_reply_error(req, PROTO_E_FAILED, "the log stream ended");
		return;
	}
	*fw = (struct follower){.req = req, .filter = f, .tail = tail};
	fw->timer = event_new(evloop_base(a->loop), -1, EV_PERSIST, follower_tick, fw);
	event_add(fw->timer, &period);
	control_request_on_close(req, follower_end, fw);
}

void agent_on_request(struct control_request *req, void *opaque)
{
	struct agent *a = opaque;
	const struct proto_request *pr = control_request_proto(req);

	switch (pr->cmd) {
	case PROTO_CMD_STATUS:
		do_status(a, req);
		break;
	case PROTO_CMD_INSPECT:
		do_inspect(a, req, pr->args);
		break;
	case PROTO_CMD_PLAN:
		do_plan(a, req, pr->args);
		break;
	case PROTO_CMD_GROW:
		do_resize(a, req, pr->args, OP_GROW);
		break;
	case PROTO_CMD_SHRINK:
		do_resize(a, req, pr->args, OP_SHRINK);
		break;
	case PROTO_CMD_LOG:
		do_log(a, req, pr->args);
		break;
	case PROTO_CMD_POLICY:
		if (a->policy)
			policy_request(a->policy, req, pr->args);
		else
			control_reply_error(req, PROTO_E_UNSUPPORTED, "the policy is not running");
		break;
	default:
		control_reply_error(req, PROTO_E_UNSUPPORTED, "unknown command");
		break;
	}
}
