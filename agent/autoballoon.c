/*
 * The policy tick (see autoballoon.h): the timer, the worker that talks to
 * libvirt, the per-domain policy state, turning decisions into balloon
 * targets and queued DIMM operations, their audit records, and the
 * `policy` control command with its <metadata> persistence.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <glib.h>

#include "err.h"
#include "host.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "ops.h"
#include "autoballoon.h"
#include "threadcheck.h"

/* Seconds between the guest's balloon stats, set where none is. */
#define POLICY_STATS_PERIOD_S 2
/* A held-back or unmanageable verdict is audited again after this long. */
#define POLICY_REPEAT_AUDIT_MS 60000

enum job_kind { JOB_SAMPLE, JOB_BALLOON, JOB_PERIOD };

struct job {
	enum job_kind kind;
	struct autoballoon *p;
	char *name;
	uint64_t kib;
	int rc;
	char *error;
	/* JOB_SAMPLE */
	struct backend_balloon_list stats;
	size_t n_metas;
	struct autoballoon_meta *metas; /* names in, overrides out */
	struct host *host;              /* what a grow is checked against; NULL: unknown */
	char *host_error;
	struct job *next;
};

struct pdom {
	char *name;
	bool meta_loaded;
	char *meta_error;
	struct policy_overrides overrides;
	struct policy_state state;
	bool period_tried;
	/* the last sample and decision, for show */
	bool sampled;
	struct backend_balloon last;
	struct policy_decision decision;
	uint64_t decided_ms;
	/* the last audited verdict, to audit repeats sparingly */
	enum policy_action audited_action;
	const char *audited_reason;
	uint64_t audited_ms;
};

struct preq;

struct autoballoon {
	struct agent *a;
	struct ops *ops;
	struct preq *preqs; /* `policy` requests waiting for the one running */
	bool preq_running;
	struct event *timer;
	uint64_t interval_ms;
	bool sampling;
	GHashTable *doms;  /* name -> struct pdom */
	GHashTable *views; /* name -> struct domain_view, during one process */
	struct autoballoon_counters counters;

	/* Jobs run one at a time on a worker (agent_run()), in order: a
	 * balloon target never overtakes the sample that asked for it. */
	struct job *jobs;
	bool job_running;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* ---- the worker ---- */

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	backend_balloon_list_free(&j->stats);
	for (size_t i = 0; i < j->n_metas; i++) {
		free(j->metas[i].name);
		free(j->metas[i].error);
		policy_overrides_clear(&j->metas[i].overrides);
	}
	free(j->metas);
	host_free(j->host);
	free(j->host_error);
	free(j->name);
	free(j->error);
	free(j);
}

static void job_done(void *arg);

static void job_run(struct autoballoon *p, struct job *j)
{
	const struct backend *b = agent_backend(p->a);

	if (j->kind == JOB_BALLOON) {
		j->rc = backend_set_balloon(b, j->name, j->kib, &j->error);
	} else if (j->kind == JOB_PERIOD) {
		j->rc = backend_set_stats_period(b, j->name, POLICY_STATS_PERIOD_S, &j->error);
	} else {
		j->rc = backend_balloon_stats(b, &j->stats, &j->error);
		/* Read on every tick, on this thread, so a decision to grow is
		 * checked against current figures without blocking the loop. */
		if (j->rc == 0 && backend_host(b, &j->host, &j->host_error) < 0)
			j->host = NULL;
		metrics_note_host(agent_metrics(p->a), j->host); /* the scrape's host figures */
		for (size_t i = 0; i < j->n_metas; i++) {
			struct autoballoon_meta *m = &j->metas[i];
			char *xml = NULL;

			m->rc = backend_get_metadata(b, m->name, POLICY_METADATA_URI, 0, &xml,
			                             &m->error);
			if (m->rc == 0)
				m->rc = policy_metadata_parse(xml, &m->overrides, &m->error);
			free(xml);
		}
	}
}

static void job_work(void *arg)
{
	struct job *j = arg;

	job_run(j->p, j);
}

/* Starts the next queued job unless one runs or the agent stops. */
static void job_next(struct autoballoon *p)
{
	while (!p->job_running && p->jobs && !agent_stopping(p->a)) {
		struct job *j = p->jobs;

		p->jobs = j->next;
		if (agent_run(p->a, job_work, job_done, j) == 0) {
			p->job_running = true;
			return;
		}
		if (j->kind == JOB_SAMPLE)
			p->sampling = false;
		job_free(j);
	}
}

static void job_queue(struct autoballoon *p, struct job *j)
{
	struct job **tail;

	for (tail = &p->jobs; *tail; tail = &(*tail)->next)
		;
	*tail = j;
	job_next(p);
}

static struct job *job_new(struct autoballoon *p, enum job_kind kind, const char *name,
                           uint64_t kib)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->p = p;
	j->kib = kib;
	if (name && (j->name = strdup(name)) == NULL) {
		free(j);
		return NULL;
	}
	return j;
}

/* ---- per-domain state ---- */

static struct pdom *pdom_find(struct autoballoon *p, const char *name)
{
	return g_hash_table_lookup(p->doms, name);
}

static struct pdom *pdom_get(struct autoballoon *p, const char *name)
{
	struct pdom *d = pdom_find(p, name);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->name = strdup(name)) == NULL) {
		free(d);
		return NULL;
	}
	g_hash_table_insert(p->doms, d->name, d);
	return d;
}

static void pdom_free(void *arg)
{
	struct pdom *d = arg;

	policy_overrides_clear(&d->overrides);
	free(d->meta_error);
	free(d->name);
	free(d);
}

static gboolean pdom_gone(gpointer key, gpointer value, gpointer views)
{
	return g_hash_table_lookup(views, key) == NULL;
}

/* The agent's views by name, so a tick over N domains stays O(N). */
static void views_index(struct autoballoon *p)
{
	g_hash_table_remove_all(p->views);
	for (struct domain_view *d = domains_first(agent_domains(p->a)); d; d = d->next)
		g_hash_table_insert(p->views, d->name, d);
}

/* Applies run-time overrides over *s; *s is unchanged on error. */
static int overrides_apply(const struct policy_overrides *o, struct policy_settings *s, char **err)
{
	struct policy_settings n = *s;
	char *why = NULL;

	for (size_t i = 0; i < o->n; i++) {
		if (policy_settings_apply(&n, o->v[i].key, o->v[i].value, &why) < 0) {
			err_set(err, "%s=%s: %s", o->v[i].key, o->v[i].value, why);
			free(why);
			return -EINVAL;
		}
	}
	if (policy_settings_check(&n, err) < 0)
		return -EINVAL;
	*s = n;
	return 0;
}

/* The domain's settings: config file, then its run-time overrides. */
static int pdom_settings(struct autoballoon *p, const struct pdom *d, struct policy_settings *s,
                         char **err)
{
	*s = *config_policy_for(agent_config(p->a), d->name);
	return overrides_apply(&d->overrides, s, err);
}

static void pdom_take_meta(struct pdom *d, struct autoballoon_meta *m)
{
	d->meta_loaded = true;
	free(d->meta_error);
	d->meta_error = NULL;
	policy_overrides_clear(&d->overrides);
	if (m->rc == 0) {
		d->overrides = m->overrides;
		m->overrides = (struct policy_overrides){0};
	} else if (m->rc != -ENOENT) {
		log_warn("domain %s: cannot read its policy metadata: %s", d->name,
		         m->error ? m->error : strerror(-m->rc));
		d->meta_error = m->error ? strdup(m->error) : NULL;
	}
}

/* ---- audit and execution ---- */

static bool worth_auditing(struct pdom *pd, const struct policy_decision *dec, uint64_t now)
{
	switch (dec->action) {
	case POLICY_NONE:
	case POLICY_WAIT:
		return false;
	case POLICY_HOLD:
	case POLICY_UNMANAGEABLE:
		if (pd->audited_action == dec->action && pd->audited_reason == dec->reason &&
		    now - pd->audited_ms < POLICY_REPEAT_AUDIT_MS)
			return false;
		break;
	default:
		break;
	}
	pd->audited_action = dec->action;
	pd->audited_reason = dec->reason;
	pd->audited_ms = now;
	return true;
}

static void decision_audit(struct autoballoon *p, const struct domain_view *d,
                           const struct policy_decision *dec, const struct policy_input *in,
                           const struct policy_settings *s)
{
	json_object *x = policy_decision_json(dec, in, s);
	struct record r = {
	        .event = RECORD_POLICY_DECISION,
	        .domain = d->name,
	        .uuid = d->uuid[0] ? d->uuid : NULL,
	        .actor = {.kind = RECORD_ACTOR_POLICY},
	        .result = dec->action == POLICY_FAILED ? RECORD_FAILED
	                  : dec->action == POLICY_HOLD || dec->action == POLICY_UNMANAGEABLE
	                          ? RECORD_REFUSED
	                          : RECORD_OK,
	        .error = dec->action == POLICY_FAILED || dec->action == POLICY_HOLD ||
	                                 dec->action == POLICY_UNMANAGEABLE
	                         ? dec->message
	                         : NULL,
	        .extra = x,
	};

	agent_audit(p->a, &r, false, NULL);
	json_object_put(x);
	p->counters.decisions++;
	log_info("policy: %s%s: %s", d->name, s->dry_run ? " (dry run)" : "", dec->message);
}

static void decision_execute(struct autoballoon *p, struct domain_view *d,
                             const struct policy_decision *dec)
{
	struct op_args oa = {.size_kib = dec->size_kib,
	                     .node = dec->node,
	                     .live = true,
	                     .scope_given = true,
	                     .wait = true};
	struct job *j;

	switch (dec->action) {
	case POLICY_BALLOON:
		if ((j = job_new(p, JOB_BALLOON, d->name, dec->target_kib)) != NULL)
			job_queue(p, j);
		break;
	case POLICY_GROW:
	case POLICY_SHRINK:
		oa.kind = dec->action == POLICY_GROW ? OP_GROW : OP_SHRINK;
		if (ops_submit(p->ops, d, &oa, NULL, NULL) < 0)
			log_err("policy: %s: cannot queue the %s", d->name,
			        policy_action_name(dec->action));
		break;
	default:
		break;
	}
}

/* ---- one domain, one tick ---- */

static bool has_stats(const struct backend_balloon *b)
{
	return b->current != UINT64_MAX && b->usable != UINT64_MAX && b->available != UINT64_MAX;
}

static void input_fill(struct autoballoon *p, const struct domain_view *d,
                       const struct backend_balloon *b, uint64_t now, struct policy_input *in)
{
	const struct domain *m = d->model;

	*in = (struct policy_input){
	        .now_ms = now,
	        .interval_ms = p->interval_ms,
	        .has_stats = has_stats(b),
	        .actual_kib = b->current,
	        .usable_kib = b->usable,
	        .available_kib = b->available,
	        .plugged_kib = devmodel_plugged_kib(m), /* virtio-mem: its current */
	        .boot_kib = domain_boot_kib(m),
	        .max_memory_kib = m->max_memory_kib,
	        .free_slots = m->slots > domain_used_slots(m) ? m->slots - domain_used_slots(m) : 0,
	        .op_in_flight = d->queue != NULL,
	        .host_reserve_kib = agent_config(p->a)->host_reserve_kib,
	};
}

/* device_model = dimm in the config: the policy's grows and shrinks go
 * through DIMMs, so no cell counts as virtio-mem. */
static void cells_follow_config(struct autoballoon *p, struct policy_cell *cells, size_t n)
{
	if (agent_config(p->a)->device_model != DEVMODEL_FORCE_DIMM)
		return;
	for (size_t i = 0; i < n; i++) {
		cells[i].vmem = false;
		cells[i].vmem_room_kib = cells[i].vmem_plugged_kib = 0;
	}
}

/* Decides; a grow is decided again with the host's numbers, which are
 * read only then, so a quiet tick costs no sysfs reads. */
static void domain_decide(struct autoballoon *p, struct domain_view *d, struct pdom *pd,
                          const struct policy_settings *s, struct policy_input *in,
                          const struct host *host, struct policy_cell **cells)
{
	struct policy_state saved = pd->state;
	struct policy_dimm *dimms = NULL;

	in->n_dimms = policy_dimms(d->model, &dimms);
	in->dimms = dimms;
	in->n_cells = policy_cells(d->model, NULL, s->step_kib, in->host_reserve_kib, cells);
	in->cells = *cells;
	cells_follow_config(p, *cells, in->n_cells);
	policy_decide(s, in, &pd->state, &pd->decision);
	if (pd->decision.action == POLICY_GROW) {
		if (host == NULL)
			log_warn("policy: %s: the host's free memory is unknown, growing "
			         "without host checks",
			         d->name);
		if (host) {
			free(*cells);
			in->n_cells = policy_cells(d->model, host, s->step_kib,
			                           in->host_reserve_kib, cells);
			in->cells = *cells;
			cells_follow_config(p, *cells, in->n_cells);
			pd->state = saved;
			policy_decide(s, in, &pd->state, &pd->decision);
		}
	}
	free(dimms);
	in->dimms = NULL;
	in->n_dimms = 0;
}

static void domain_tick(struct autoballoon *p, const struct backend_balloon *b, uint64_t now,
                        const struct host *host)
{
	struct domain_view *d = g_hash_table_lookup(p->views, b->name);
	struct pdom *pd;
	struct policy_settings s;
	struct policy_input in;
	struct policy_cell *cells = NULL;
	char *err = NULL;

	if (d == NULL || d->model == NULL || (pd = pdom_get(p, b->name)) == NULL)
		return;
	pd->sampled = true;
	pd->last = *b;
	pd->last.name = NULL;
	input_fill(p, d, b, now, &in);
	if (pdom_settings(p, pd, &s, &err) < 0) {
		memset(&pd->decision, 0, sizeof(pd->decision));
		pd->decision.action = POLICY_UNMANAGEABLE;
		pd->decision.reason = "settings";
		snprintf(pd->decision.message, sizeof(pd->decision.message),
		         "its settings do not apply: %s", err);
		free(err);
		s = *config_policy_for(agent_config(p->a), d->name);
	} else if (!s.enabled) {
		pd->state = (struct policy_state){0};
		memset(&pd->decision, 0, sizeof(pd->decision));
		return;
	} else {
		if (!in.has_stats && !pd->period_tried) {
			struct job *j = job_new(p, JOB_PERIOD, d->name, 0);

			pd->period_tried = true;
			if (j)
				job_queue(p, j);
		}
		domain_decide(p, d, pd, &s, &in, host, &cells);
	}
	pd->decided_ms = now;
	metrics_count_decision(agent_metrics(p->a), policy_action_name(pd->decision.action));
	if (worth_auditing(pd, &pd->decision, now))
		decision_audit(p, d, &pd->decision, &in, &s);
	if (s.dry_run)
		policy_note_dry_run(&pd->state);
	else
		decision_execute(p, d, &pd->decision);
	free(cells);
}

void autoballoon_process(struct autoballoon *p, const struct backend_balloon_list *stats,
                         struct autoballoon_meta *metas, size_t n_metas, const struct host *host,
                         uint64_t now)
{
	uint64_t t0 = cpu_ns();

	assert_loop_thread();

	views_index(p);
	for (size_t i = 0; i < n_metas; i++) {
		struct pdom *pd = pdom_get(p, metas[i].name);

		if (pd)
			pdom_take_meta(pd, &metas[i]);
	}
	for (size_t i = 0; i < stats->n; i++)
		domain_tick(p, &stats->doms[i], now, host);
	g_hash_table_foreach_remove(p->doms, pdom_gone, p->views);
	g_hash_table_remove_all(p->views);
	p->counters.process_ns += cpu_ns() - t0;
}

/* ---- the timer ---- */

static void sample_done(struct autoballoon *p, struct job *j)
{
	p->sampling = false;
	if (j->rc < 0) {
		log_warn("policy: cannot read balloon stats: %s",
		         j->error ? j->error : strerror(-j->rc));
		return;
	}
	if (j->host == NULL)
		log_debug("policy: cannot read the host: %s", j->host_error);
	autoballoon_process(p, &j->stats, j->metas, j->n_metas, j->host, now_ms());
}

static void job_done(void *arg)
{
	struct job *j = arg;
	struct autoballoon *p = j->p;

	assert_loop_thread();
	if (j->kind == JOB_SAMPLE) {
		sample_done(p, j);
	} else if (j->rc < 0) {
		log_warn("policy: %s: cannot %s: %s", j->name,
		         j->kind == JOB_BALLOON ? "set the balloon" : "set the stats period",
		         j->error ? j->error : strerror(-j->rc));
		if (j->kind == JOB_BALLOON) {
			struct pdom *pd = pdom_find(p, j->name);
			struct domain_view *d = domains_find(agent_domains(p->a), j->name);
			struct record r = {.event = RECORD_POLICY_DECISION,
			                   .domain = j->name,
			                   .uuid = d && d->uuid[0] ? d->uuid : NULL,
			                   .actor = {.kind = RECORD_ACTOR_POLICY},
			                   .result = RECORD_FAILED,
			                   .error = j->error ? j->error
			                                     : "setting the balloon failed"};

			agent_audit(p->a, &r, false, NULL);
			if (pd)
				pd->state.failed_at_ms = now_ms();
		}
	}
	job_free(j);
	p->job_running = false;
	job_next(p);
}

/* Names of running domains whose metadata was never read. */
static void sample_metas(struct autoballoon *p, struct job *j)
{
	size_t n = 0;

	for (struct domain_view *d = domains_first(agent_domains(p->a)); d; d = d->next) {
		struct pdom *pd = pdom_find(p, d->name);

		if (d->active && (pd == NULL || !pd->meta_loaded))
			n++;
	}
	j->metas = calloc(n ? n : 1, sizeof(*j->metas));
	if (j->metas == NULL)
		return;
	for (struct domain_view *d = domains_first(agent_domains(p->a)); d; d = d->next) {
		struct pdom *pd = pdom_find(p, d->name);

		if (d->active && (pd == NULL || !pd->meta_loaded) &&
		    (j->metas[j->n_metas].name = strdup(d->name)) != NULL)
			j->n_metas++;
	}
}

static void policy_tick(evutil_socket_t fd, short what, void *arg)
{
	struct autoballoon *p = arg;
	struct job *j;

	assert_loop_thread();
	p->counters.ticks++;
	if (p->interval_ms != agent_config(p->a)->policy_interval_ms) {
		struct timeval tv;

		p->interval_ms = agent_config(p->a)->policy_interval_ms;
		tv = (struct timeval){.tv_sec = (time_t)(p->interval_ms / 1000),
		                      .tv_usec = (suseconds_t)(p->interval_ms % 1000) * 1000};
		evtimer_add(p->timer, &tv);
	}
	if (p->sampling || !backend_connected(agent_backend(p->a))) {
		p->counters.skipped += p->sampling;
		return;
	}
	if ((j = job_new(p, JOB_SAMPLE, NULL, 0)) == NULL)
		return;
	sample_metas(p, j);
	p->sampling = true;
	job_queue(p, j);
}

struct autoballoon *autoballoon_new(struct agent *a, struct ops *ops)
{
	struct autoballoon *p = calloc(1, sizeof(*p));
	struct timeval tv;

	if (p == NULL)
		return NULL;
	p->a = a;
	p->ops = ops;
	p->interval_ms =
	        agent_config(a)->policy_interval_ms ? agent_config(a)->policy_interval_ms : 2000;
	/* the key is the pdom's own name, freed with it */
	p->doms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, pdom_free);
	p->views = g_hash_table_new(g_str_hash, g_str_equal);
	p->timer = event_new(evloop_base(agent_loop(a)), -1, EV_PERSIST, policy_tick, p);
	if (p->timer == NULL) {
		autoballoon_free(p);
		return NULL;
	}
	tv = (struct timeval){.tv_sec = (time_t)(p->interval_ms / 1000),
	                      .tv_usec = (suseconds_t)(p->interval_ms % 1000) * 1000};
	evtimer_add(p->timer, &tv);
	return p;
}

static void preqs_drop(struct autoballoon *p);

void autoballoon_free(struct autoballoon *p)
{
	if (p == NULL)
		return;
	if (p->timer)
		event_free(p->timer);
	/* No job runs: the loop ended after every worker (agent_stop()). */
	preqs_drop(p);
	while (p->jobs) {
		struct job *j = p->jobs;

		p->jobs = j->next;
		job_free(j);
	}
	if (p->doms)
		g_hash_table_destroy(p->doms);
	if (p->views)
		g_hash_table_destroy(p->views);
	free(p);
}

void autoballoon_get_counters(const struct autoballoon *p, struct autoballoon_counters *out)
{
	*out = p->counters;
}

/* ---- the control command ---- */

static json_object *settings_json(struct autoballoon *p, const struct pdom *pd,
                                  const struct policy_settings *s)
{
	struct policy_settings in_force;
	/* Refused run-time values are not in force: shown apart, never as "runtime". */
	bool refused = pd && pdom_settings(p, pd, &in_force, NULL) < 0;
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < POLICY_N_KEYS; i++) {
		const char *key = policy_keys[i].name;
		json_object *e = json_object_new_object();
		const char *src = "default", *rejected = NULL;
		char buf[32];

		for (size_t k = 0; pd && k < pd->overrides.n; k++)
			if (strcmp(pd->overrides.v[k].key, key) == 0 && refused)
				rejected = pd->overrides.v[k].value;
			else if (strcmp(pd->overrides.v[k].key, key) == 0)
				src = "runtime";
		for (size_t k = 0; strcmp(src, "default") == 0 && k < agent_config(p->a)->n_domains;
		     k++)
			if (strcmp(agent_config(p->a)->domains[k].name, pd ? pd->name : "") == 0)
				src = "config";
		json_object_object_add(
		        e, "value",
		        json_object_new_string(policy_settings_value(s, key, buf, sizeof(buf))));
		json_object_object_add(e, "source", json_object_new_string(src));
		if (rejected != NULL)
			json_object_object_add(e, "rejected", json_object_new_string(rejected));
		json_object_object_add(o, key, e);
	}
	return o;
}

json_object *autoballoon_status_json(struct autoballoon *p, const char *domain)
{
	struct pdom *pd = p ? pdom_find(p, domain) : NULL;
	json_object *o;

	if (pd == NULL || !pd->sampled)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "action",
	                       json_object_new_string(policy_action_name(pd->decision.action)));
	json_object_object_add(o, "reason",
	                       pd->decision.reason ? json_object_new_string(pd->decision.reason)
	                                           : NULL);
	json_object_object_add(o, "message", json_object_new_string(pd->decision.message));
	/* A sample without a decision (no balloon stats) has no age, and a
	 * balloon the guest does not report has no size: null, not 2^64-1. */
	json_object_object_add(o, "age_ms",
	                       pd->decided_ms ? json_object_new_uint64(now_ms() - pd->decided_ms)
	                                      : NULL);
	json_object_object_add(
	        o, "balloon_kib",
	        pd->last.current == UINT64_MAX ? NULL : json_object_new_uint64(pd->last.current));
	json_object_object_add(
	        o, "usable_kib",
	        pd->last.usable == UINT64_MAX ? NULL : json_object_new_uint64(pd->last.usable));
	json_object_object_add(o, "available_kib",
	                       pd->last.available == UINT64_MAX
	                               ? NULL
	                               : json_object_new_uint64(pd->last.available));
	json_object_object_add(o, "manageable", json_object_new_boolean(has_stats(&pd->last)));
	return o;
}

json_object *autoballoon_status_add(struct autoballoon *p, const char *domain, json_object *o)
{
	json_object_object_add(o, "policy", autoballoon_status_json(p, domain));
	return o;
}

static json_object *show_json(struct autoballoon *p, struct pdom *pd)
{
	json_object *o = json_object_new_object();
	struct policy_settings s;
	char *err = NULL;

	json_object_object_add(o, "domain", json_object_new_string(pd->name));
	if (pdom_settings(p, pd, &s, &err) < 0) {
		json_object_object_add(o, "problem", json_object_new_string(err));
		s = *config_policy_for(agent_config(p->a), pd->name);
	}
	free(err);
	json_object_object_add(o, "enabled", json_object_new_boolean(s.enabled));
	json_object_object_add(o, "settings", settings_json(p, pd, &s));
	json_object_object_add(o, "metadata_error",
	                       pd->meta_error ? json_object_new_string(pd->meta_error) : NULL);
	json_object_object_add(o, "state", autoballoon_status_json(p, pd->name));
	json_object_object_add(o, "interval_ms", json_object_new_uint64(p->interval_ms));
	json_object_object_add(o, "host_reserve_kib",
	                       json_object_new_uint64(agent_config(p->a)->host_reserve_kib));
	return o;
}

/*
 * A `policy` request. Its metadata reads and writes are blocking, so they
 * run on a worker; requests run one at a time, so two changes never build
 * on the same stored overrides.
 */
struct preq {
	struct autoballoon *p;
	struct control_request *req;
	char *name;
	char uuid[BACKEND_UUID_LEN + 1];
	const char *action;                 /* borrowed from req's args */
	json_object *changes;               /* NULL: show; {} for unset */
	json_object *unset;                 /* unset: the keys whose run-time values go */
	bool check_domain;                  /* a change to check against the domain (min, max) */
	struct policy_domain_bounds bounds; /* filled on the worker */
	bool need_meta;                     /* the stored overrides were never read */
	unsigned flags;                     /* where to store: BACKEND_LIVE | BACKEND_CONFIG */
	bool ask_persistent;                /* the view was never read: the worker adds CONFIG */
	struct policy_overrides base;
	struct policy_settings settings; /* the config's, for checking */
	struct preq *next;

	/* filled on the worker */
	struct autoballoon_meta meta;
	struct policy_overrides next_overrides;
	int rc;
	char *err;
};

static void preq_free(struct preq *q)
{
	json_object_put(q->changes);
	json_object_put(q->unset);
	policy_overrides_clear(&q->base);
	policy_overrides_clear(&q->meta.overrides);
	policy_overrides_clear(&q->next_overrides);
	free(q->meta.error);
	free(q->err);
	free(q->name);
	free(q);
}

/* None runs: the loop ended after every worker. */
static void preqs_drop(struct autoballoon *p)
{
	while (p->preqs) {
		struct preq *q = p->preqs;

		p->preqs = q->next;
		control_reply_error(q->req, PROTO_E_FAILED, "memplugd is stopping");
		preq_free(q);
	}
}

static int overrides_copy(struct policy_overrides *to, const struct policy_overrides *from)
{
	int rc = 0;

	for (size_t i = 0; i < from->n && rc == 0; i++)
		rc = policy_overrides_put(to, from->v[i].key, from->v[i].value);
	return rc;
}

/* Takes the unset keys out of `o`; each must have a run-time value. */
static int preq_unset(struct preq *q, struct policy_overrides *o)
{
	for (size_t i = 0; q->unset && i < json_object_array_length(q->unset); i++) {
		const char *key = json_object_get_string(json_object_array_get_idx(q->unset, i));

		if (policy_overrides_remove(o, key) < 0)
			return err_ret(&q->err, -EINVAL,
			               "%s has no run-time value of %s to unset: its %s comes from "
			               "the config file or the default (memplugctl policy %s show)",
			               q->name, key, key, q->name);
	}
	return 0;
}

/* The changed sizes of the guest (min, max) lie within the domain. */
static int preq_check_domain(struct preq *q, const struct policy_settings *s)
{
	json_object_object_foreach(q->changes, key, val)
	{
		const struct policy_key *k = policy_key_find(key);

		(void)val;
		if (k && policy_key_check_domain(k, s, &q->bounds, &q->err) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Checks every change against the settings and the domain, then writes the
 * new overrides to the domain's <metadata>; only then are they in force. */
static int preq_store(struct preq *q, const struct policy_overrides *base)
{
	struct policy_settings s = q->settings;
	char *xml = NULL;
	int rc = overrides_copy(&q->next_overrides, base);

	if (rc == 0)
		rc = preq_unset(q, &q->next_overrides);
	json_object_object_foreach(q->changes, key, val)
	{
		if (rc == 0)
			rc = policy_overrides_put(&q->next_overrides, key,
			                          json_object_get_string(val));
	}
	if (rc == 0)
		rc = overrides_apply(&q->next_overrides, &s, &q->err);
	if (rc == 0 && q->check_domain)
		rc = preq_check_domain(q, &s);
	if (rc == 0 && (xml = policy_metadata_format(&q->next_overrides)) == NULL)
		rc = -ENOMEM;
	if (rc == 0)
		rc = backend_set_metadata(agent_backend(q->p->a), q->name, xml, POLICY_METADATA_KEY,
		                          POLICY_METADATA_URI, q->flags, &q->err);
	free(xml);
	return rc;
}

/* A view an event just added does not know yet whether the domain is
 * persistent; storing live-only would lose the change at the next boot. */
static int preq_scope(struct preq *q)
{
	bool persistent = false;
	int rc = backend_persistent(agent_backend(q->p->a), q->name, &persistent, &q->err);

	if (rc < 0 && q->err == NULL)
		q->err = strdup("cannot tell whether the domain is persistent");
	if (rc == 0 && persistent)
		q->flags |= BACKEND_CONFIG;
	return rc;
}

/* The domain's boot memory and maxMemory, as it runs (or is defined). */
static int preq_read_bounds(struct preq *q)
{
	struct domain *dom = NULL;
	char *xml = NULL, *why = NULL;
	int rc = backend_domain_xml(agent_backend(q->p->a), q->name, 0, &xml, &why);

	if (rc == 0)
		rc = domain_parse(xml, strlen(xml), &dom, &why);
	if (rc == 0)
		q->bounds = (struct policy_domain_bounds){.name = q->name,
		                                          .boot_kib = domain_boot_kib(dom),
		                                          .max_memory_kib = dom->max_memory_kib,
		                                          .memory_kib = dom->memory_kib};
	else
		err_set(&q->err, "cannot read %s to check min and max against it: %s", q->name,
		        why ? why : strerror(-rc));
	domain_free(dom);
	free(xml);
	free(why);
	return rc == -EINVAL ? -EIO : rc; /* a bad read is no bad request */
}

static void preq_work(void *arg)
{
	struct preq *q = arg;
	const struct policy_overrides *base = &q->base;

	if (q->need_meta) {
		char *xml = NULL;

		q->meta.rc = backend_get_metadata(agent_backend(q->p->a), q->name,
		                                  POLICY_METADATA_URI, 0, &xml, &q->meta.error);
		if (q->meta.rc == 0)
			q->meta.rc = policy_metadata_parse(xml, &q->meta.overrides, &q->meta.error);
		free(xml);
		base = &q->meta.overrides; /* empty unless read */
	}
	if (q->changes && q->check_domain && (q->rc = preq_read_bounds(q)) < 0)
		return;
	if (q->changes && q->ask_persistent && (q->rc = preq_scope(q)) < 0)
		return;
	if (q->changes)
		q->rc = preq_store(q, base);
}

/* A policy change is a request like grow and shrink: audited with its
 * caller, what it asked and how it ended. */
static void policy_audit_change(struct autoballoon *p, const struct preq *q)
{
	json_object *x = json_object_new_object();
	struct record r = {.event = RECORD_REQUEST,
	                   .domain = q->name,
	                   .uuid = q->uuid[0] ? q->uuid : NULL,
	                   .actor = control_request_actor(q->req),
	                   .result = q->rc == 0         ? RECORD_OK
	                             : q->rc == -EINVAL ? RECORD_REFUSED
	                                                : RECORD_FAILED,
	                   .error = q->rc == 0 ? NULL : (q->err ? q->err : strerror(-q->rc)),
	                   .extra = x};

	json_object_object_add(x, "op", json_object_new_string("policy"));
	json_object_object_add(x, "action", json_object_new_string(q->action));
	json_object_object_add(x, "settings", json_object_get(q->changes));
	if (q->unset)
		json_object_object_add(x, "unset", json_object_get(q->unset));
	agent_audit(p->a, &r, true, NULL);
	json_object_put(x);
}

static void preq_next(struct autoballoon *p);

static void preq_done(void *arg)
{
	struct preq *q = arg;
	struct autoballoon *p = q->p;
	struct pdom *pd = pdom_get(p, q->name);

	assert_loop_thread();
	/* The tick may have read the metadata meanwhile: its copy stands. An
	 * unreachable libvirt leaves it unread, to try again. */
	if (pd && q->need_meta && !pd->meta_loaded && q->meta.rc != -ENOTCONN)
		pdom_take_meta(pd, &q->meta);
	if (pd && q->changes && q->rc == 0) {
		policy_overrides_clear(&pd->overrides);
		pd->overrides = q->next_overrides;
		q->next_overrides = (struct policy_overrides){0};
		pd->meta_loaded = true;
	}
	if (q->changes)
		policy_audit_change(p, q);
	if (pd == NULL)
		control_reply_error(q->req, PROTO_E_FAILED, "out of memory");
	else if (q->rc == -EINVAL && q->err)
		control_reply_error(q->req, PROTO_E_BAD_REQUEST, "%s", q->err);
	else if (q->rc < 0)
		control_reply_error(q->req, PROTO_E_FAILED, "cannot store the policy of '%s': %s",
		                    q->name, q->err ? q->err : strerror(-q->rc));
	else
		control_reply_ok(q->req, show_json(p, pd));
	p->preq_running = false;
	preq_free(q);
	preq_next(p);
}

static void preq_next(struct autoballoon *p)
{
	struct preq *q;

	while (!p->preq_running && (q = p->preqs) != NULL) {
		p->preqs = q->next;
		if (agent_run(p->a, preq_work, preq_done, q) == 0) {
			p->preq_running = true;
			return;
		}
		control_reply_error(q->req, PROTO_E_FAILED, "cannot start a worker thread");
		preq_free(q);
	}
}

/* unset: known keys only; the changes are none, the keys go to *unset. */
static json_object *request_unset(struct control_request *req, json_object *args,
                                  json_object **unset, bool *bad)
{
	json_object *keys;

	if (!json_object_object_get_ex(args, "keys", &keys) ||
	    json_object_array_length(keys) == 0) {
		control_reply_error(req, PROTO_E_BAD_REQUEST, "unset needs KEY names, e.g. min");
		*bad = true;
		return NULL;
	}
	for (size_t i = 0; i < json_object_array_length(keys); i++) {
		const char *key = json_object_get_string(json_object_array_get_idx(keys, i));

		if (policy_key_find(key) == NULL) {
			control_reply_error(
			        req, PROTO_E_BAD_REQUEST,
			        "unknown policy key '%s': `policy DOMAIN show` lists them", key);
			*bad = true;
			return NULL;
		}
	}
	*unset = json_object_get(keys);
	return json_object_new_object();
}

/* The changes a request asks for; NULL for show (or a reply when bad). */
static json_object *request_changes(struct control_request *req, json_object *args,
                                    const char *action, json_object **unset, bool *bad)
{
	json_object *changes = NULL, *settings;

	*bad = false;
	if (strcmp(action, "unset") == 0)
		return request_unset(req, args, unset, bad);
	if (strcmp(action, "enable") == 0 || strcmp(action, "disable") == 0) {
		changes = json_object_new_object();
		json_object_object_add(changes, "enabled",
		                       json_object_new_string(action[0] == 'e' ? "yes" : "no"));
	} else if (strcmp(action, "set") == 0) {
		if (!json_object_object_get_ex(args, "settings", &settings) ||
		    json_object_object_length(settings) == 0) {
			control_reply_error(req, PROTO_E_BAD_REQUEST,
			                    "set needs KEY=VALUE settings");
			*bad = true;
			return NULL;
		}
		changes = json_object_get(settings);
	}
	return changes;
}

/* Whether a change sets a size of the guest (min, max): checked against
 * the domain, read on the worker. */
static bool changes_memory_bound(json_object *changes)
{
	if (changes == NULL) /* show */
		return false;
	json_object_object_foreach(changes, key, val)
	{
		const struct policy_key *k = policy_key_find(key);

		(void)val;
		if (k && k->memory_bound)
			return true;
	}
	return false;
}

void autoballoon_request(struct autoballoon *p, struct control_request *req, json_object *args)
{
	const char *name = json_object_get_string(json_object_object_get(args, "domain"));
	const char *action = json_object_get_string(json_object_object_get(args, "action"));
	struct domain_view *d = domains_find(agent_domains(p->a), name);
	struct pdom *pd;
	struct preq *q = NULL, **tail;
	bool bad;

	assert_loop_thread();
	if (d == NULL) {
		control_reply_error(req, PROTO_E_NOT_FOUND, "no domain '%s' is known to memplugd",
		                    name);
		return;
	}
	if ((pd = pdom_get(p, name)) == NULL || (q = calloc(1, sizeof(*q))) == NULL ||
	    (q->name = strdup(name)) == NULL) {
		free(q);
		control_reply_error(req, PROTO_E_FAILED, "out of memory");
		return;
	}
	q->changes = request_changes(req, args, action, &q->unset, &bad);
	if (bad) {
		preq_free(q);
		return;
	}
	q->p = p;
	q->req = req;
	q->action = action;
	memcpy(q->uuid, d->uuid, sizeof(q->uuid));
	q->need_meta = !pd->meta_loaded;
	q->check_domain = changes_memory_bound(q->changes);
	q->flags = (d->active ? BACKEND_LIVE : 0) | (d->persistent ? BACKEND_CONFIG : 0);
	q->ask_persistent = !d->read_done;
	q->settings = *config_policy_for(agent_config(p->a), name);
	overrides_copy(&q->base, &pd->overrides);
	for (tail = &p->preqs; *tail; tail = &(*tail)->next)
		;
	*tail = q;
	preq_next(p);
}
