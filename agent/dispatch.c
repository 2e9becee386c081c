/*
 * The agent's inputs (dispatch.h). Control requests: status and log answer
 * from the views and the audit log at once; inspect and plan read the
 * domain (and the host) on a worker and answer when that read is done;
 * grow and shrink go to ops.c, policy to autoballoon.c. Arguments arrive
 * already checked against proto.c's schema. The backend's news: views are
 * added at once and re-read on workers, device events go to ops.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "buildconf.h"
#include "dispatch.h"
#include "domains.h"
#include "drift.h"
#include "host.h"
#include "log.h"
#include "ops.h"
#include "plan.h"
#include "prepare.h"
#include "proto.h"
#include "report.h"
#include "tail.h"
#include "threadcheck.h"

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

struct dispatch {
	struct agent *a;
	struct ops *ops;
	struct autoballoon *ab;
	unsigned busy;     /* reads on workers */
	unsigned sync_gen; /* domain syncs started */
};

struct dispatch *dispatch_new(struct agent *a, struct ops *ops)
{
	struct dispatch *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->a = a;
	d->ops = ops;
	return d;
}

void dispatch_set_autoballoon(struct dispatch *d, struct autoballoon *ab)
{
	d->ab = ab;
}

void dispatch_free(struct dispatch *d)
{
	free(d);
}

unsigned dispatch_busy(const struct dispatch *d)
{
	return d->busy;
}

/* ---- reads on worker threads ---- */

/* The drift of a persistent domain whose live model is `live` (worker):
 * read from its persistent definition, or NULL when there is nothing to
 * compare (the model says it does not run) or that definition cannot be
 * read. */
static struct drift *drift_read(const struct backend *b, const char *name,
                                const struct domain *live)
{
	struct domain *config = NULL;
	struct drift *d = NULL;
	char *xml = NULL, *err = NULL;

	assert_worker_thread();
	if (live->id < 0)
		return NULL;
	if (backend_domain_xml(b, name, BACKEND_INACTIVE, &xml, &err) == 0 &&
	    domain_parse(xml, strlen(xml), &config, &err) == 0 &&
	    drift_compare(live, config, &d) < 0)
		d = NULL;
	if (err)
		log_warn("domain %s: cannot compare with its persistent definition: %s", name, err);
	domain_free(config);
	free(xml);
	free(err);
	return d;
}

/* One domain read off the loop: its XML (live or persistent), whether it
 * is persistent and, for inspect, the host. `then` runs on the loop after
 * the view took the result (with the view, NULL when it went away). */
struct read_job {
	struct dispatch *dp;
	char *name;
	bool active;
	unsigned seq;
	bool want_host;
	bool want_drift;
	struct control_request *req;
	struct op_args oa; /* the operation to submit after the read, if any */
	void (*then)(struct read_job *j, struct domain_view *d);

	/* filled on the worker */
	struct domain *model;       /* moved into the view when it is the newest read */
	const struct domain *fresh; /* this read's model, wherever it lives now */
	char *error;
	bool persistent;
	int persistent_rc; /* persistent holds only when 0 */
	struct host *host;
	char *host_error;
	struct drift *drift; /* want_drift: NULL when not compared */
};

static void read_work(void *arg)
{
	struct read_job *j = arg;
	const struct backend *b = agent_backend(j->dp->a);
	char *xml = NULL;

	if (backend_domain_xml(b, j->name, j->active ? 0 : BACKEND_INACTIVE, &xml, &j->error) == 0)
		domain_parse(xml, strlen(xml), &j->model, &j->error);
	if (j->model == NULL && j->error == NULL)
		j->error = strdup("cannot read its XML");
	j->persistent_rc = backend_persistent(b, j->name, &j->persistent, NULL);
	if (j->want_drift && j->model && j->persistent_rc == 0 && j->persistent)
		j->drift = drift_read(b, j->name, j->model);
	if (j->want_host && backend_host(b, &j->host, &j->host_error) < 0)
		j->host = NULL;
	free(xml);
}

static void read_job_free(struct read_job *j)
{
	domain_free(j->model);
	drift_free(j->drift);
	host_free(j->host);
	free(j->host_error);
	free(j->error);
	free(j->name);
	free(j);
}

/* A failed persistence query keeps what the view knew: one transient
 * error must not turn a persistent domain into a live-only one. */
static void view_set_persistent(struct domain_view *d, int rc, bool persistent)
{
	if (rc < 0) {
		log_warn("domain %s: cannot tell whether it is persistent: %s", d->name,
		         strerror(-rc));
		return;
	}
	d->persistent = persistent;
	d->read_done = true;
}

static void read_done(void *arg)
{
	struct read_job *j = arg;
	struct domain_view *d = domains_find(agent_domains(j->dp->a), j->name);

	assert_loop_thread();
	j->dp->busy--;
	j->fresh = j->model;
	/* An older read than the view's newest, or an operation's own
	 * re-read since, must not overwrite it. */
	if (d && j->seq == d->read_seq) {
		if (j->model) {
			domains_set_model(d, j->model);
			j->model = NULL; /* j->fresh now points into the view */
		} else {
			log_warn("domain %s: %s", d->name, j->error);
			domains_set_error(d, j->error);
			j->error = NULL;
		}
		view_set_persistent(d, j->persistent_rc, j->persistent);
	} else if (d && !d->read_done) {
		/* an older answer beats none (a request may wait for it) */
		view_set_persistent(d, j->persistent_rc, j->persistent);
	}
	if (j->then)
		j->then(j, d);
	read_job_free(j);
}

/* What a read fetches beside the domain's XML. */
#define READ_HOST  0x1 /* the host's topology and free memory */
#define READ_DRIFT 0x2 /* the persistent definition, to compare */

/* Starts a read of d; NULL `then` only refreshes the view. `oa` (or NULL)
 * is kept for `then`. */
static int read_start(struct dispatch *dp, struct domain_view *d, struct control_request *req,
                      void (*then)(struct read_job *j, struct domain_view *d), unsigned want,
                      const struct op_args *oa)
{
	struct read_job *j = calloc(1, sizeof(*j));
	int rc;

	if (j == NULL || (j->name = strdup(d->name)) == NULL) {
		free(j);
		return -ENOMEM;
	}
	j->dp = dp;
	j->active = d->active;
	j->seq = ++d->read_seq;
	j->req = req;
	j->then = then;
	j->want_host = want & READ_HOST;
	j->want_drift = want & READ_DRIFT;
	if (oa)
		j->oa = *oa;
	rc = agent_run(dp->a, read_work, read_done, j);
	if (rc < 0) {
		read_job_free(j);
		return rc;
	}
	dp->busy++;
	return 0;
}

static void view_refresh(struct dispatch *dp, struct domain_view *d)
{
	if (read_start(dp, d, NULL, NULL, 0, NULL) < 0)
		log_warn("domain %s: cannot start a read of its XML", d->name);
}

/* Starts a read for a request; replies itself when that fails. */
static void read_for(struct dispatch *dp, struct domain_view *d, struct control_request *req,
                     void (*then)(struct read_job *j, struct domain_view *d), unsigned want,
                     const struct op_args *oa)
{
	if (read_start(dp, d, req, then, want, oa) < 0)
		control_reply_error(req, PROTO_E_FAILED, "cannot start a worker thread");
}

static json_object *status_domain(const struct domain_view *d)
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

/* status: the drift of every running domain, read on a worker, so that
 * the answer compares both definitions as they are now. */
struct status_job {
	struct dispatch *dp;
	struct control_request *req;
	size_t n;
	char **names;          /* the running domains, as the views said */
	struct drift **drifts; /* per name; NULL: not compared */
};

static void status_job_free(struct status_job *j)
{
	for (size_t i = 0; j && i < j->n; i++) {
		free(j->names[i]);
		drift_free(j->drifts[i]);
	}
	if (j) {
		free(j->names);
		free(j->drifts);
	}
	free(j);
}

/* The drift of `name` in j; NULL when not read. */
static const struct drift *status_job_drift(const struct status_job *j, const char *name)
{
	for (size_t i = 0; j && i < j->n; i++)
		if (strcmp(j->names[i], name) == 0)
			return j->drifts[i];
	return NULL;
}

static void status_reply(struct dispatch *dp, struct control_request *req,
                         const struct status_job *j)
{
	json_object *o = json_object_new_object();
	json_object *doms = json_object_new_array();
	json_object *audit = json_object_new_object();
	struct agent *a = dp->a;
	const struct backend *b = agent_backend(a);

	json_object_object_add(o, "version", json_object_new_string(MEMPLUG_VERSION));
	json_object_object_add(o, "uptime_s", json_object_new_int64(time(NULL) - agent_started(a)));
	json_object_object_add(o, "uri", json_object_new_string(backend_uri(b)));
	json_object_object_add(o, "connected", json_object_new_boolean(backend_connected(b)));
	json_object_object_add(o, "reconnects", json_object_new_int((int)backend_reconnects(b)));
	json_object_object_add(o, "operations_done",
	                       json_object_new_int((int)ops_done_count(dp->ops)));
	json_object_object_add(audit, "path",
	                       json_object_new_string(audit_path(agent_audit_log(a))));
	json_object_object_add(audit, "writable",
	                       json_object_new_boolean(audit_writable(agent_audit_log(a))));
	json_object_object_add(o, "audit", audit);
	for (const struct domain_view *d = domains_first(agent_domains(a)); d; d = d->next) {
		json_object *dom = status_domain(d);

		json_object_object_add(dom, "drift", report_drift(status_job_drift(j, d->name)));
		json_object_array_add(doms, autoballoon_status_add(dp->ab, d->name, dom));
	}
	json_object_object_add(o, "domains", doms);
	control_reply_ok(req, o);
}

static void status_work(void *arg)
{
	struct status_job *j = arg;
	const struct backend *b = agent_backend(j->dp->a);

	for (size_t i = 0; i < j->n; i++) {
		struct domain *live = NULL;
		bool persistent = false;
		char *xml = NULL;

		if (backend_persistent(b, j->names[i], &persistent, NULL) == 0 && persistent &&
		    backend_domain_xml(b, j->names[i], 0, &xml, NULL) == 0 &&
		    domain_parse(xml, strlen(xml), &live, NULL) == 0)
			j->drifts[i] = drift_read(b, j->names[i], live);
		domain_free(live);
		free(xml);
	}
}

static void status_done(void *arg)
{
	struct status_job *j = arg;

	j->dp->busy--;
	status_reply(j->dp, j->req, j);
	status_job_free(j);
}

/* A job for the running domains; NULL when out of memory. */
static struct status_job *status_job_new(struct dispatch *dp, struct control_request *req)
{
	struct status_job *j = calloc(1, sizeof(*j));
	size_t n = 0;

	for (const struct domain_view *d = domains_first(agent_domains(dp->a)); d; d = d->next)
		n++;
	if (j == NULL || (j->names = calloc(n + 1, sizeof(*j->names))) == NULL ||
	    (j->drifts = calloc(n + 1, sizeof(*j->drifts))) == NULL) {
		status_job_free(j);
		return NULL;
	}
	j->dp = dp;
	j->req = req;
	for (const struct domain_view *d = domains_first(agent_domains(dp->a)); d; d = d->next)
		if (d->active && (j->names[j->n] = strdup(d->name)) != NULL)
			j->n++;
	return j;
}

/* Answers at once, without drift, when libvirt is not there to read. */
static void do_status(struct dispatch *dp, struct control_request *req)
{
	struct status_job *j = NULL;

	if (backend_connected(agent_backend(dp->a)))
		j = status_job_new(dp, req);
	if (j && j->n > 0 && agent_run(dp->a, status_work, status_done, j) == 0) {
		dp->busy++;
		return;
	}
	status_reply(dp, req, NULL);
	status_job_free(j);
}

/* The domain named in args; replies not_found itself (which ends req). */
static struct domain_view *request_domain(struct dispatch *dp, struct control_request *req,
                                          json_object *args)
{
	const char *name = arg_str(args, "domain");
	struct domain_view *d = domains_find(agent_domains(dp->a), name);

	if (d == NULL) {
		control_reply_error(req, PROTO_E_NOT_FOUND,
		                    "no domain '%s' is known to memplugd on %s", name,
		                    backend_uri(agent_backend(dp->a)));
		return NULL;
	}
	return d;
}

/* The model this request's read gave, or a reply saying why there is none:
 * an answer describes the domain as just read, never an older view. */
static const struct domain *read_model(struct read_job *j, struct domain_view *d)
{
	if (d == NULL)
		control_reply_error(j->req, PROTO_E_NOT_FOUND, "domain '%s' went away", j->name);
	else if (j->fresh == NULL)
		control_reply_error(j->req, PROTO_E_FAILED, "cannot read domain '%s': %s", j->name,
		                    j->error ? j->error : d->model_error);
	return d ? j->fresh : NULL;
}

static void inspect_then(struct read_job *j, struct domain_view *d)
{
	const struct domain *model = read_model(j, d);
	json_object *data;
	char *err = NULL;

	if (model == NULL)
		return;
	if (j->host == NULL)
		log_warn("host: %s", j->host_error ? j->host_error : "unknown");
	data = report_inspect(model, j->host, &err);
	if (data) {
		json_object_object_add(data, "drift", report_drift(j->drift));
		control_reply_ok(j->req, data);
	} else {
		control_reply_error(j->req, PROTO_E_FAILED, "%s", err);
	}
	free(err);
}

static void do_inspect(struct dispatch *dp, struct control_request *req, json_object *args)
{
	struct domain_view *d = request_domain(dp, req, args);

	if (d)
		read_for(dp, d, req, inspect_then, READ_HOST | READ_DRIFT, NULL);
}

/* The plan, and what the host's hugepage pools can back of it now. */
static json_object *plan_report_host(const struct domain *model, const struct plan *plan,
                                     const struct host *host)
{
	json_object *data = report_plan(model, plan);

	report_plan_host(data, plan, host);
	return data;
}

/* The model a plan uses, as a grow would: the request's --model, else the
 * config's device_model; *by says which forced it (NULL: chosen per node). */
static enum devmodel_choice plan_model(const struct read_job *j, json_object *args, const char **by)
{
	enum devmodel_choice m = agent_config(j->dp->a)->device_model;

	*by = m == DEVMODEL_AUTO ? NULL : "device_model";
	/* the schema allows only dimm and virtio-mem */
	if (arg_str(args, "model") && devmodel_choice_parse(arg_str(args, "model"), &m) == 0)
		*by = "--model";
	return m;
}

static void plan_then(struct read_job *j, struct domain_view *d)
{
	const struct domain *model = read_model(j, d);
	json_object *args = control_request_proto(j->req)->args, *data;
	struct plan_options po = {.strategy = PLAN_PROPORTIONAL};
	const char *strategy = arg_str(args, "strategy"), *forced_by = NULL;
	unsigned *weights = NULL;
	struct plan *plan = NULL;
	char *err = NULL;

	if (model == NULL)
		return;
	if (strategy && (plan_strategy_parse(strategy, &po, &weights, &err) < 0 ||
	                 plan_options_check(&po, model->n_cells, &err) < 0)) {
		control_reply_error(j->req, PROTO_E_BAD_REQUEST, "strategy \"%s\": %s", strategy,
		                    err);
		goto out;
	}
	po.model = plan_model(j, args, &forced_by); /* after plan_strategy_parse() */
	if (plan_layout(model, NULL, &po, &plan, &err) < 0) {
		control_reply_error(j->req, PROTO_E_REFUSED, "cannot plan: %s", err);
	} else {
		data = plan_report_host(model, plan, j->host);
		json_object_object_add(data, "model_forced_by", report_string(forced_by));
		control_reply_ok(j->req, data);
	}
out:
	plan_free(plan);
	free(weights);
	free(err);
}

static void do_plan(struct dispatch *dp, struct control_request *req, json_object *args)
{
	struct domain_view *d = request_domain(dp, req, args);

	if (d)
		read_for(dp, d, req, plan_then, READ_HOST, NULL); /* hugepage shortfalls */
}

static void submit(struct dispatch *dp, struct domain_view *d, const struct op_args *oa,
                   struct control_request *req)
{
	struct record_actor actor = control_request_actor(req);

	if (ops_submit(dp->ops, d, oa, &actor, req) < 0)
		control_reply_error(req, PROTO_E_FAILED, "cannot queue the operation");
}

/* The view's first read is done: now its scope is known. */
static void resize_then(struct read_job *j, struct domain_view *d)
{
	if (d == NULL)
		control_reply_error(j->req, PROTO_E_NOT_FOUND, "domain '%s' went away", j->name);
	else if (!d->read_done)
		control_reply_error(j->req, PROTO_E_FAILED,
		                    "cannot tell whether domain '%s' is persistent: "
		                    "give --live or --config",
		                    d->name);
	else
		submit(j->dp, d, &j->oa, j->req);
}

static void do_resize(struct dispatch *dp, struct control_request *req, json_object *args,
                      enum op_kind kind)
{
	struct domain_view *d = request_domain(dp, req, args);
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
	oa.dry_run = json_object_get_boolean(json_object_object_get(args, "dry_run"));
	/* the schema allows only dimm and virtio-mem; absent: the config's */
	if (arg_str(args, "model"))
		devmodel_choice_parse(arg_str(args, "model"), &oa.model);
	/* With no scope the view's persistence decides it: a view an event
	 * just added was never read, and would look live-only. */
	if (!oa.scope_given && !d->read_done)
		read_for(dp, d, req, resize_then, 0, &oa);
	else
		submit(dp, d, &oa, req);
}

/* prepare: the request carries options, never XML; the worker reads the
 * definition itself (docs/prepare.md). A define is audited with its caller. */
static void do_prepare(struct dispatch *dp, struct control_request *req, json_object *args)
{
	struct op_args oa = {.kind = OP_PREPARE, .node = -1, .wait = true};
	struct domain_view *d;
	char *err = NULL;

	if (prepare_opts_from_json(args, &oa.prepare, &err) < 0) {
		control_reply_error(req, PROTO_E_BAD_REQUEST, "%s", err);
		free(err);
		return;
	}
	oa.define = strcmp(arg_str(args, "action"), "define") == 0;
	d = request_domain(dp, req, args);
	if (d != NULL)
		submit(dp, d, &oa, req);
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

	assert_loop_thread();
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

	if (audit_files(agent_audit_log(a), &files, &n, err) < 0)
		return NULL;
	data = record_query(files, n, f, limit, last_seq);
	record_files_free(files, n);
	return data;
}

static void do_log(struct dispatch *dp, struct control_request *req, json_object *args)
{
	static const struct timeval period = {0, 500000};
	bool follow = json_object_get_boolean(json_object_object_get(args, "follow"));
	struct follower *fw = NULL;
	struct record_filter f;
	struct record_tail *tail = NULL;
	uint64_t last_seq = 0;
	size_t limit = 1000;
	json_object *data, *v;
	struct agent *a = dp->a;
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
		tail = record_tail_new(audit_path(agent_audit_log(a)));
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
	fw->timer = event_new(evloop_base(agent_loop(a)), -1, EV_PERSIST, follower_tick, fw);
	event_add(fw->timer, &period);
	control_request_on_close(req, follower_end, fw);
}

void dispatch_request(struct control_request *req, void *opaque)
{
	struct dispatch *a = opaque;
	const struct proto_request *pr = control_request_proto(req);

	assert_loop_thread();
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
	case PROTO_CMD_RESIZE:
		do_resize(a, req, pr->args, OP_RESIZE);
		break;
	case PROTO_CMD_LOG:
		do_log(a, req, pr->args);
		break;
	case PROTO_CMD_PREPARE:
		do_prepare(a, req, pr->args);
		break;
	case PROTO_CMD_POLICY:
		if (a->ab)
			autoballoon_request(a->ab, req, pr->args);
		else
			control_reply_error(req, PROTO_E_UNSUPPORTED, "the policy is not running");
		break;
	default:
		control_reply_error(req, PROTO_E_UNSUPPORTED, "unknown command");
		break;
	}
}

/* ---- the backend's news ---- */

static void audit_agent_event(struct agent *a, enum record_event ev, const struct backend_event *e,
                              json_object *extra)
{
	struct record r = {
	        .event = ev,
	        .domain = e ? e->name : NULL,
	        .uuid = e && e->uuid[0] ? e->uuid : NULL,
	        .actor = {.kind = e ? RECORD_ACTOR_LIBVIRT : RECORD_ACTOR_AGENT},
	        .result = RECORD_OK,
	        .extra = extra,
	};

	agent_audit(a, &r, false, NULL);
	json_object_put(extra);
}

/* After a (re)connect: every defined domain and its XML, read on a
 * worker, since events were missed while disconnected. */
struct sync_job {
	struct dispatch *dp;
	unsigned gen;
	struct backend_domain_list doms;
	struct domain **models; /* per domain, NULL where the read failed */
	char **errors;
	bool *persistent;
	int *persistent_rc;
	char *error;
	int rc;
};

static void sync_work(void *arg)
{
	struct sync_job *j = arg;
	const struct backend *b = agent_backend(j->dp->a);
	struct host *topo = NULL;

	j->rc = backend_list_domains(b, &j->doms, &j->error);
	/* The host's topology is read once per connection: now, so the first
	 * grow does not pay for it. A failure shows again where it matters. */
	if (backend_host_topology(b, &topo, NULL) < 0)
		log_debug("cannot read the host's topology yet");
	host_free(topo);
	j->models = calloc(j->doms.n + 1, sizeof(*j->models));
	j->errors = calloc(j->doms.n + 1, sizeof(*j->errors));
	j->persistent = calloc(j->doms.n + 1, sizeof(*j->persistent));
	j->persistent_rc = calloc(j->doms.n + 1, sizeof(*j->persistent_rc));
	if (!j->models || !j->errors || !j->persistent || !j->persistent_rc)
		abort();
	for (size_t i = 0; i < j->doms.n; i++) {
		const struct backend_domain_info *di = &j->doms.doms[i];
		char *xml = NULL;

		if (backend_domain_xml(b, di->name, di->active ? 0 : BACKEND_INACTIVE, &xml,
		                       &j->errors[i]) == 0)
			domain_parse(xml, strlen(xml), &j->models[i], &j->errors[i]);
		j->persistent_rc[i] = backend_persistent(b, di->name, &j->persistent[i], NULL);
		free(xml);
	}
}

/* Views neither listed nor touched by an event since the sync started are
 * of domains undefined while the agent was away: they go the way an
 * UNDEFINED event would take them (one with operations queued is left to
 * fail them and to a later sync). */
static void sync_drop_stale(struct dispatch *dp, unsigned gen)
{
	struct domain_view *next;

	for (struct domain_view *d = domains_first(agent_domains(dp->a)); d; d = next) {
		next = d->next;
		if (d->sync_mark == gen || d->gone)
			continue;
		log_info("domain %s: no longer defined", d->name);
		/* as an UNDEFINED event: its waits end now (no answer will
		 * come); a view with a running operation is only marked gone
		 * and goes when the operation ends */
		ops_domain_stopped(dp->ops, d->name);
		ops_domain_gone(dp->ops, d->name);
	}
}

static void sync_done(void *arg)
{
	struct sync_job *j = arg;
	struct domains *ds = agent_domains(j->dp->a);

	assert_loop_thread();
	j->dp->busy--;
	if (j->rc < 0)
		log_warn("cannot list the domains: %s", j->error ? j->error : strerror(-j->rc));
	for (size_t i = 0; i < j->doms.n; i++) {
		const struct backend_domain_info *di = &j->doms.doms[i];
		struct domain_view *d = domains_add(ds, di->name, di->uuid);

		if (d && j->models[i]) {
			d->active = di->active;
			domains_set_model(d, j->models[i]);
			j->models[i] = NULL;
		} else if (d) {
			d->active = di->active;
			log_warn("domain %s: %s", d->name, j->errors[i] ? j->errors[i] : "?");
			domains_set_error(d, j->errors[i]);
			j->errors[i] = NULL;
		}
		if (d) {
			d->sync_mark = j->gen;
			view_set_persistent(d, j->persistent_rc[i], j->persistent[i]);
			d->read_seq++; /* newer than any read started before */
		}
		domain_free(j->models[i]);
		free(j->errors[i]);
	}
	log_info("%zu domains on %s", j->doms.n, backend_uri(agent_backend(j->dp->a)));
	if (j->rc == 0) {
		/* Events may have been lost with the connection: what the
		 * views now show settles the detaches still waiting. */
		ops_settle_pending(j->dp->ops);
		sync_drop_stale(j->dp, j->gen);
		ops_reconcile(j->dp->ops);
	}
	backend_domain_list_free(&j->doms);
	free(j->models);
	free(j->errors);
	free(j->persistent);
	free(j->persistent_rc);
	free(j->error);
	free(j);
}

void dispatch_connected(void *opaque, bool reconnect)
{
	struct dispatch *dp = opaque;
	const struct backend *b = agent_backend(dp->a);
	json_object *x = json_object_new_object();
	struct sync_job *j = calloc(1, sizeof(*j));

	assert_loop_thread();
	json_object_object_add(x, "uri", json_object_new_string(backend_uri(b)));
	json_object_object_add(x, "reconnects", json_object_new_int((int)backend_reconnects(b)));
	audit_agent_event(dp->a, reconnect ? RECORD_RECONNECT : RECORD_CONNECT, NULL, x);
	if (j == NULL)
		abort();
	j->dp = dp;
	j->gen = ++dp->sync_gen;
	if (agent_run(dp->a, sync_work, sync_done, j) < 0) {
		log_err("cannot start a worker to read the domains");
		free(j);
		return;
	}
	dp->busy++;
}

void dispatch_disconnected(void *opaque, const char *why)
{
	log_warn("lost the libvirt connection: %s", why ? why : "closed");
}

void dispatch_event(void *opaque, const struct backend_event *ev)
{
	struct dispatch *dp = opaque;
	struct domain_view *d;

	assert_loop_thread();
	switch (ev->kind) {
	case BACKEND_EVENT_DEVICE_ADDED:
	case BACKEND_EVENT_DEVICE_REMOVED:
	case BACKEND_EVENT_DEVICE_REMOVAL_FAILED:
	case BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE:
		ops_device_event(dp->ops, ev);
		break;
	case BACKEND_EVENT_BALLOON_CHANGE: {
		json_object *x = json_object_new_object();

		json_object_object_add(x, "balloon_kib", json_object_new_uint64(ev->kib));
		audit_agent_event(dp->a, RECORD_BALLOON_CHANGE, ev, x);
		return;
	}
	case BACKEND_EVENT_LIFECYCLE:
		if (ev->lifecycle == BACKEND_LIFECYCLE_UNDEFINED) {
			ops_domain_stopped(dp->ops, ev->name);
			ops_domain_gone(dp->ops, ev->name);
			return;
		}
		break;
	default:
		break;
	}
	d = domains_add(agent_domains(dp->a), ev->name, ev->uuid);
	if (d == NULL)
		return;
	d->sync_mark = dp->sync_gen; /* news newer than a sync's list */
	if (ev->kind == BACKEND_EVENT_LIFECYCLE)
		domains_lifecycle(d, ev->lifecycle);
	/* A guest that is gone answers no detach: end those waits now. */
	if (ev->kind == BACKEND_EVENT_LIFECYCLE && ev->lifecycle == BACKEND_LIFECYCLE_STOPPED)
		ops_domain_stopped(dp->ops, ev->name);
	view_refresh(dp, d);
}
