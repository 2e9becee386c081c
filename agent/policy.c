/*
 * The policy tick (see policy.h): the timer, the worker that talks to
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
#include "proto.h"
#include "ops.h"
#include "policy.h" /* this directory's: the tick */

/* Seconds between the guest's balloon stats, set where none is. */
#define POLICY_STATS_PERIOD_S 2
/* A held-back or unmanageable verdict is audited again after this long. */
#define POLICY_REPEAT_AUDIT_MS 60000

enum job_kind { JOB_SAMPLE, JOB_BALLOON, JOB_PERIOD };

struct job {
	enum job_kind kind;
	struct policy *p;
	char *name;
	uint64_t kib;
	int rc;
	char *error;
	/* JOB_SAMPLE */
	struct virt_balloon_list stats;
	size_t n_metas;
	struct policy_meta *metas; /* names in, overrides out */
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
	struct virt_balloon last;
	struct policy_decision decision;
	uint64_t decided_ms;
	/* the last audited verdict, to audit repeats sparingly */
	enum policy_action audited_action;
	const char *audited_reason;
	uint64_t audited_ms;
};

struct policy {
	struct agent *a;
	struct event *timer;
	uint64_t interval_ms;
	bool sampling;
	GHashTable *doms;  /* name -> struct pdom */
	GHashTable *views; /* name -> struct agent_domain, during one process */
	struct policy_counters counters;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* guards jobs and stop */
	pthread_cond_t cond;
	struct job *jobs;
	bool stop;
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
	virt_balloon_list_free(&j->stats);
	for (size_t i = 0; i < j->n_metas; i++) {
		free(j->metas[i].name);
		free(j->metas[i].error);
		policy_overrides_clear(&j->metas[i].overrides);
	}
	free(j->metas);
	free(j->name);
	free(j->error);
	free(j);
}

static void job_done(void *arg);

static void job_run(struct policy *p, struct job *j)
{
	struct virt *v = p->a->virt;

	if (j->kind == JOB_BALLOON) {
		j->rc = virt_set_balloon(v, j->name, j->kib, &j->error);
	} else if (j->kind == JOB_PERIOD) {
		j->rc = virt_set_stats_period(v, j->name, POLICY_STATS_PERIOD_S, &j->error);
	} else {
		j->rc = virt_balloon_stats(v, &j->stats, &j->error);
		for (size_t i = 0; i < j->n_metas; i++) {
			struct policy_meta *m = &j->metas[i];
			char *xml = NULL;

			m->rc = virt_get_metadata(v, m->name, POLICY_METADATA_URI, 0, &xml,
			                          &m->error);
			if (m->rc == 0)
				m->rc = policy_metadata_parse(xml, &m->overrides, &m->error);
			free(xml);
		}
	}
}

static void *policy_worker(void *arg)
{
	struct policy *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job *j;

		while (p->jobs == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		j = p->jobs;
		p->jobs = j->next;
		pthread_mutex_unlock(&p->lock);
		job_run(p, j);
		if (agent_post(p->a, job_done, j) < 0)
			job_free(j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void job_queue(struct policy *p, struct job *j)
{
	struct job **tail;

	pthread_mutex_lock(&p->lock);
	for (tail = &p->jobs; *tail; tail = &(*tail)->next)
		;
	*tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static struct job *job_new(struct policy *p, enum job_kind kind, const char *name, uint64_t kib)
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

static struct pdom *pdom_find(struct policy *p, const char *name)
{
	return g_hash_table_lookup(p->doms, name);
}

static struct pdom *pdom_get(struct policy *p, const char *name)
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
static void views_index(struct policy *p)
{
	g_hash_table_remove_all(p->views);
	for (struct agent_domain *d = p->a->domains; d; d = d->next)
		g_hash_table_insert(p->views, d->name, d);
}

int policy_overrides_apply(const struct policy_overrides *o, struct policy_settings *s, char **err)
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
static int pdom_settings(struct policy *p, const struct pdom *d, struct policy_settings *s,
                         char **err)
{
	*s = *config_policy_for(p->a->cfg, d->name);
	return policy_overrides_apply(&d->overrides, s, err);
}

static void pdom_take_meta(struct pdom *d, struct policy_meta *m)
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

static void decision_audit(struct policy *p, const struct agent_domain *d,
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

static void decision_execute(struct policy *p, struct agent_domain *d,
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
		if (ops_submit(p->a, d, &oa, NULL, NULL) < 0)
			log_err("policy: %s: cannot queue the %s", d->name,
			        policy_action_name(dec->action));
		break;
	default:
		break;
	}
}

/* ---- one domain, one tick ---- */

static bool has_stats(const struct virt_balloon *b)
{
	return b->current != UINT64_MAX && b->usable != UINT64_MAX && b->available != UINT64_MAX;
}

static void input_fill(struct policy *p, const struct agent_domain *d, const struct virt_balloon *b,
                       uint64_t now, struct policy_input *in)
{
	const struct domain *m = d->model;

	*in = (struct policy_input){
	        .now_ms = now,
	        .interval_ms = p->interval_ms,
	        .has_stats = has_stats(b),
	        .actual_kib = b->current,
	        .usable_kib = b->usable,
	        .available_kib = b->available,
	        .plugged_kib = m->memory_kib,
	        .boot_kib = domain_boot_kib(m),
	        .max_memory_kib = m->max_memory_kib,
	        .free_slots = m->slots > domain_used_slots(m) ? m->slots - domain_used_slots(m) : 0,
	        .op_in_flight = d->queue != NULL,
	        .host_reserve_kib = p->a->cfg->host_reserve_kib,
	};
}

/* Decides; a grow is decided again with the host's numbers, which are
 * read only then, so a quiet tick costs no sysfs reads. */
static void domain_decide(struct policy *p, struct agent_domain *d, struct pdom *pd,
                          const struct policy_settings *s, struct policy_input *in,
                          struct host **host, struct policy_cell **cells)
{
	struct policy_state saved = pd->state;
	struct policy_dimm *dimms = NULL;
	char *err = NULL;

	in->n_dimms = policy_dimms(d->model, &dimms);
	in->dimms = dimms;
	in->n_cells = policy_cells(d->model, NULL, s->step_kib, in->host_reserve_kib, cells);
	in->cells = *cells;
	policy_decide(s, in, &pd->state, &pd->decision);
	if (pd->decision.action == POLICY_GROW) {
		if (*host == NULL && host_snapshot(host, &err) < 0) {
			log_warn("policy: host snapshot failed, growing without host checks: %s",
			         err);
			*host = NULL;
		}
		free(err);
		if (*host) {
			free(*cells);
			in->n_cells = policy_cells(d->model, *host, s->step_kib,
			                           in->host_reserve_kib, cells);
			in->cells = *cells;
			pd->state = saved;
			policy_decide(s, in, &pd->state, &pd->decision);
		}
	}
	free(dimms);
	in->dimms = NULL;
	in->n_dimms = 0;
}

static void domain_tick(struct policy *p, const struct virt_balloon *b, uint64_t now,
                        struct host **host)
{
	struct agent_domain *d = g_hash_table_lookup(p->views, b->name);
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
		s = *config_policy_for(p->a->cfg, d->name);
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
	if (worth_auditing(pd, &pd->decision, now))
		decision_audit(p, d, &pd->decision, &in, &s);
	if (s.dry_run)
		policy_note_dry_run(&pd->state);
	else
		decision_execute(p, d, &pd->decision);
	free(cells);
}

void policy_process(struct policy *p, const struct virt_balloon_list *stats,
                    struct policy_meta *metas, size_t n_metas, uint64_t now)
{
	uint64_t t0 = cpu_ns();
	struct host *host = NULL;

	views_index(p);
	for (size_t i = 0; i < n_metas; i++) {
		struct pdom *pd = pdom_get(p, metas[i].name);

		if (pd)
			pdom_take_meta(pd, &metas[i]);
	}
	for (size_t i = 0; i < stats->n; i++)
		domain_tick(p, &stats->doms[i], now, &host);
	host_free(host);
	g_hash_table_foreach_remove(p->doms, pdom_gone, p->views);
	g_hash_table_remove_all(p->views);
	p->counters.process_ns += cpu_ns() - t0;
}

/* ---- the timer ---- */

static void sample_done(struct policy *p, struct job *j)
{
	p->sampling = false;
	if (j->rc < 0) {
		log_warn("policy: cannot read balloon stats: %s",
		         j->error ? j->error : strerror(-j->rc));
		return;
	}
	policy_process(p, &j->stats, j->metas, j->n_metas, now_ms());
}

static void job_done(void *arg)
{
	struct job *j = arg;
	struct policy *p = j->p;

	if (j->kind == JOB_SAMPLE) {
		sample_done(p, j);
	} else if (j->rc < 0) {
		log_warn("policy: %s: cannot %s: %s", j->name,
		         j->kind == JOB_BALLOON ? "set the balloon" : "set the stats period",
		         j->error ? j->error : strerror(-j->rc));
		if (j->kind == JOB_BALLOON) {
			struct pdom *pd = pdom_find(p, j->name);
			struct agent_domain *d = agent_domain_find(p->a, j->name);
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
}

/* Names of running domains whose metadata was never read. */
static void sample_metas(struct policy *p, struct job *j)
{
	size_t n = 0;

	for (struct agent_domain *d = p->a->domains; d; d = d->next) {
		struct pdom *pd = pdom_find(p, d->name);

		if (d->active && (pd == NULL || !pd->meta_loaded))
			n++;
	}
	j->metas = calloc(n ? n : 1, sizeof(*j->metas));
	if (j->metas == NULL)
		return;
	for (struct agent_domain *d = p->a->domains; d; d = d->next) {
		struct pdom *pd = pdom_find(p, d->name);

		if (d->active && (pd == NULL || !pd->meta_loaded) &&
		    (j->metas[j->n_metas].name = strdup(d->name)) != NULL)
			j->n_metas++;
	}
}

static void policy_tick(evutil_socket_t fd, short what, void *arg)
{
	struct policy *p = arg;
	struct job *j;

	p->counters.ticks++;
	if (p->interval_ms != p->a->cfg->policy_interval_ms) {
		struct timeval tv;

		p->interval_ms = p->a->cfg->policy_interval_ms;
		tv = (struct timeval){.tv_sec = (time_t)(p->interval_ms / 1000),
		                      .tv_usec = (suseconds_t)(p->interval_ms % 1000) * 1000};
		evtimer_add(p->timer, &tv);
	}
	if (p->sampling || !virt_connected(p->a->virt)) {
		p->counters.skipped += p->sampling;
		return;
	}
	if ((j = job_new(p, JOB_SAMPLE, NULL, 0)) == NULL)
		return;
	sample_metas(p, j);
	p->sampling = true;
	job_queue(p, j);
}

struct policy *policy_new(struct agent *a)
{
	struct policy *p = calloc(1, sizeof(*p));
	struct timeval tv;

	if (p == NULL)
		return NULL;
	p->a = a;
	p->interval_ms = a->cfg->policy_interval_ms ? a->cfg->policy_interval_ms : 2000;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* the key is the pdom's own name, freed with it */
	p->doms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, pdom_free);
	p->views = g_hash_table_new(g_str_hash, g_str_equal);
	p->timer = event_new(evloop_base(a->loop), -1, EV_PERSIST, policy_tick, p);
	if (p->timer == NULL || pthread_create(&p->thread, NULL, policy_worker, p) != 0) {
		policy_free(p);
		return NULL;
	}
	p->thread_started = true;
	tv = (struct timeval){.tv_sec = (time_t)(p->interval_ms / 1000),
	                      .tv_usec = (suseconds_t)(p->interval_ms % 1000) * 1000};
	evtimer_add(p->timer, &tv);
	return p;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	if (p->timer)
		event_free(p->timer);
	if (p->thread_started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	while (p->jobs) {
		struct job *j = p->jobs;

		p->jobs = j->next;
		job_free(j);
	}
	if (p->doms)
		g_hash_table_destroy(p->doms);
	if (p->views)
		g_hash_table_destroy(p->views);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void policy_get_counters(const struct policy *p, struct policy_counters *out)
{
	*out = p->counters;
}

/* ---- the control command ---- */

static json_object *settings_json(struct policy *p, const struct pdom *pd,
                                  const struct policy_settings *s)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < POLICY_N_KEYS; i++) {
		const char *key = policy_keys[i];
		json_object *e = json_object_new_object();
		const char *src = "default";
		char buf[32];

		for (size_t k = 0; pd && k < pd->overrides.n; k++)
			if (strcmp(pd->overrides.v[k].key, key) == 0)
				src = "runtime";
		for (size_t k = 0; strcmp(src, "default") == 0 && k < p->a->cfg->n_domains; k++)
			if (strcmp(p->a->cfg->domains[k].name, pd ? pd->name : "") == 0)
				src = "config";
		json_object_object_add(
		        e, "value",
		        json_object_new_string(policy_settings_value(s, key, buf, sizeof(buf))));
		json_object_object_add(e, "source", json_object_new_string(src));
		json_object_object_add(o, key, e);
	}
	return o;
}

json_object *policy_status_json(struct policy *p, const char *domain)
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
	json_object_object_add(o, "age_ms", /* null: no decision yet (disabled) */
	                       pd->decided_ms ? json_object_new_uint64(now_ms() - pd->decided_ms)
	                                      : NULL);
	json_object_object_add(o, "balloon_kib", json_object_new_uint64(pd->last.current));
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

json_object *policy_status_add(struct policy *p, const char *domain, json_object *o)
{
	json_object_object_add(o, "policy", policy_status_json(p, domain));
	return o;
}

/* Reads the stored overrides now (a `policy` request before any tick). */
static void pdom_load_meta(struct policy *p, struct pdom *pd)
{
	struct policy_meta m = {.name = pd->name};
	char *xml = NULL;

	if (pd->meta_loaded)
		return;
	m.rc = virt_get_metadata(p->a->virt, pd->name, POLICY_METADATA_URI, 0, &xml, &m.error);
	if (m.rc == 0)
		m.rc = policy_metadata_parse(xml, &m.overrides, &m.error);
	if (m.rc == -ENOTCONN) {
		free(m.error);
		return;
	}
	pdom_take_meta(pd, &m);
	free(xml);
	free(m.error);
	policy_overrides_clear(&m.overrides);
}

static json_object *show_json(struct policy *p, struct pdom *pd)
{
	json_object *o = json_object_new_object();
	struct policy_settings s;
	char *err = NULL;

	json_object_object_add(o, "domain", json_object_new_string(pd->name));
	if (pdom_settings(p, pd, &s, &err) < 0) {
		json_object_object_add(o, "problem", json_object_new_string(err));
		s = *config_policy_for(p->a->cfg, pd->name);
	}
	free(err);
	json_object_object_add(o, "enabled", json_object_new_boolean(s.enabled));
	json_object_object_add(o, "settings", settings_json(p, pd, &s));
	json_object_object_add(o, "metadata_error",
	                       pd->meta_error ? json_object_new_string(pd->meta_error) : NULL);
	json_object_object_add(o, "state", policy_status_json(p, pd->name));
	json_object_object_add(o, "interval_ms", json_object_new_uint64(p->interval_ms));
	json_object_object_add(o, "host_reserve_kib",
	                       json_object_new_uint64(p->a->cfg->host_reserve_kib));
	return o;
}

/* Checks every change against the current settings, then writes the new
 * overrides to the domain's <metadata>; only then are they in force. */
static int apply_changes(struct policy *p, struct agent_domain *d, struct pdom *pd,
                         json_object *changes, char **err)
{
	struct policy_overrides next = {0};
	struct policy_settings s;
	bool persistent = false;
	char *xml = NULL;
	int rc = 0;

	for (size_t i = 0; i < pd->overrides.n && rc == 0; i++)
		rc = policy_overrides_put(&next, pd->overrides.v[i].key, pd->overrides.v[i].value);
	json_object_object_foreach(changes, key, val)
	{
		if (rc == 0)
			rc = policy_overrides_put(&next, key, json_object_get_string(val));
	}
	*err = NULL;
	if (rc == 0) {
		s = *config_policy_for(p->a->cfg, d->name);
		rc = policy_overrides_apply(&next, &s, err);
	}
	if (rc == 0 && (xml = policy_metadata_format(&next)) == NULL)
		rc = -ENOMEM;
	virt_domain_persistent(p->a->virt, d->name, &persistent);
	if (rc == 0)
		rc = virt_set_metadata(
		        p->a->virt, d->name, xml, POLICY_METADATA_KEY, POLICY_METADATA_URI,
		        (d->active ? VIRT_LIVE : 0) | (persistent ? VIRT_CONFIG : 0), err);
	if (rc == 0) {
		policy_overrides_clear(&pd->overrides);
		pd->overrides = next;
		pd->meta_loaded = true;
	} else {
		policy_overrides_clear(&next);
	}
	free(xml);
	return rc;
}

/* A policy change is a request like grow and shrink: audited with its
 * caller, what it asked and how it ended. */
static void policy_audit_change(struct policy *p, struct control_request *req,
                                const struct agent_domain *d, const char *action,
                                json_object *changes, int rc, const char *err)
{
	const struct control_peer *peer = control_request_peer(req);
	json_object *x = json_object_new_object();
	struct record r = {.event = RECORD_REQUEST,
	                   .domain = d->name,
	                   .uuid = d->uuid[0] ? d->uuid : NULL,
	                   .actor = {.kind = RECORD_ACTOR_CLIENT,
	                             .uid = peer->uid,
	                             .gid = peer->gid,
	                             .pid = peer->pid,
	                             .comm = peer->comm},
	                   .result = rc == 0         ? RECORD_OK
	                             : rc == -EINVAL ? RECORD_REFUSED
	                                             : RECORD_FAILED,
	                   .error = rc == 0 ? NULL : (err ? err : strerror(-rc)),
	                   .extra = x};

	json_object_object_add(x, "op", json_object_new_string("policy"));
	json_object_object_add(x, "action", json_object_new_string(action));
	json_object_object_add(x, "settings", json_object_get(changes));
	agent_audit(p->a, &r, true, NULL);
	json_object_put(x);
}

void policy_request(struct policy *p, struct control_request *req, json_object *args)
{
	const char *name = json_object_get_string(json_object_object_get(args, "domain"));
	const char *action = json_object_get_string(json_object_object_get(args, "action"));
	struct agent_domain *d = agent_domain_find(p->a, name);
	json_object *changes = NULL, *settings;
	struct pdom *pd;
	char *err = NULL;
	int rc = 0;

	if (d == NULL) {
		control_reply_error(req, PROTO_E_NOT_FOUND, "no domain '%s' is known to memplugd",
		                    name);
		return;
	}
	if ((pd = pdom_get(p, name)) == NULL) {
		control_reply_error(req, PROTO_E_FAILED, "out of memory");
		return;
	}
	pdom_load_meta(p, pd);
	if (strcmp(action, "enable") == 0 || strcmp(action, "disable") == 0) {
		changes = json_object_new_object();
		json_object_object_add(changes, "enabled",
		                       json_object_new_string(action[0] == 'e' ? "yes" : "no"));
	} else if (strcmp(action, "set") == 0) {
		if (!json_object_object_get_ex(args, "settings", &settings) ||
		    json_object_object_length(settings) == 0) {
			control_reply_error(req, PROTO_E_BAD_REQUEST,
			                    "set needs KEY=VALUE settings");
			return;
		}
		changes = json_object_get(settings);
	}
	if (changes) {
		rc = apply_changes(p, d, pd, changes, &err);
		policy_audit_change(p, req, d, action, changes, rc, err);
	}
	json_object_put(changes);
	if (rc == -EINVAL && err)
		control_reply_error(req, PROTO_E_BAD_REQUEST, "%s", err);
	else if (rc < 0)
		control_reply_error(req, PROTO_E_FAILED, "cannot store the policy of '%s': %s",
		                    name, err ? err : strerror(-rc));
	else
		control_reply_ok(req, show_json(p, pd));
	free(err);
}
