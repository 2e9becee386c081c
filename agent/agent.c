/*
 * The agent's shared services (agent.h): the one struct agent, the audit
 * lock, posting to the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "domains.h"
#include "log.h"
#include "metrics.h"
#include "threadcheck.h"

struct agent {
	struct config *cfg;
	struct evloop *loop;
	struct backend backend;
	struct domains *domains;
	struct audit *audit;
	struct metrics_stats *metrics;
	pthread_mutex_t audit_lock; /* audit appends from any thread */
	time_t started;
	unsigned workers; /* agent_run() threads not yet done (loop thread) */
	bool stopping;
};

struct agent *agent_new(struct config *cfg, struct evloop *loop, struct audit *audit)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if ((a->domains = domains_new()) == NULL || (a->metrics = metrics_stats_new()) == NULL) {
		domains_free(a->domains);
		free(a);
		return NULL;
	}
	a->cfg = cfg;
	a->loop = loop;
	a->audit = audit;
	a->started = time(NULL);
	pthread_mutex_init(&a->audit_lock, NULL);
	return a;
}

void agent_free(struct agent *a)
{
	if (a == NULL)
		return;
	domains_free(a->domains);
	metrics_stats_free(a->metrics);
	audit_free(a->audit);
	config_free(a->cfg);
	pthread_mutex_destroy(&a->audit_lock);
	free(a);
}

void agent_set_backend(struct agent *a, const struct backend *b)
{
	a->backend = *b;
}

const struct config *agent_config(const struct agent *a)
{
	return a->cfg;
}

void agent_set_config(struct agent *a, struct config *cfg)
{
	assert_loop_thread();
	config_free(a->cfg);
	a->cfg = cfg;
}

struct evloop *agent_loop(const struct agent *a)
{
	return a->loop;
}

const struct backend *agent_backend(const struct agent *a)
{
	return &a->backend;
}

struct domains *agent_domains(const struct agent *a)
{
	return a->domains;
}

struct audit *agent_audit_log(const struct agent *a)
{
	return a->audit;
}

struct metrics_stats *agent_metrics(const struct agent *a)
{
	return a->metrics;
}

time_t agent_started(const struct agent *a)
{
	return a->started;
}

int agent_post(struct agent *a, void (*fn)(void *arg), void *arg)
{
	return evloop_post(a->loop, fn, arg);
}

struct agent_job {
	struct agent *a;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

static void agent_job_done(void *arg)
{
	struct agent_job *j = arg;
	struct agent *a = j->a;

	assert_loop_thread();
	j->done(j->arg);
	free(j);
	if (--a->workers == 0 && a->stopping)
		evloop_stop(a->loop);
}

static void *agent_job_thread(void *arg)
{
	struct agent_job *j = arg;

	j->work(j->arg);
	/* The loop outlives every worker (agent_stop() waits), so this only
	 * fails when out of memory: nothing sane is left to do. */
	if (agent_post(j->a, agent_job_done, j) < 0)
		abort();
	return NULL;
}

int agent_run(struct agent *a, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct agent_job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	assert_loop_thread();
	if (j == NULL)
		return -ENOMEM;
	*j = (struct agent_job){.a = a, .work = work, .done = done, .arg = arg};
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, agent_job_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_err("cannot start a worker thread: %s", strerror(rc));
		free(j);
		return -rc;
	}
	a->workers++;
	return 0;
}

unsigned agent_workers(const struct agent *a)
{
	return a->workers;
}

void agent_stop(struct agent *a)
{
	assert_loop_thread();
	a->stopping = true;
	if (a->workers == 0)
		evloop_stop(a->loop);
}

bool agent_stopping(const struct agent *a)
{
	return a->stopping;
}

int agent_audit(struct agent *a, const struct record *r, bool sync, char **err)
{
	char *why = NULL;
	int rc;

	pthread_mutex_lock(&a->audit_lock);
	rc = audit_append(a->audit, r, sync, NULL, &why);
	pthread_mutex_unlock(&a->audit_lock);
	if (rc < 0) {
		metrics_count_audit_error(a->metrics);
		log_err("audit log: cannot write a %s record: %s", record_event_name(r->event),
		        why ? why : "unknown error");
		if (err && *err == NULL)
			*err = why;
		else
			free(why);
	}
	return rc;
}

int agent_audit_reserve(struct agent *a, uint64_t bytes, char **err)
{
	int rc;

	pthread_mutex_lock(&a->audit_lock);
	rc = a->audit ? audit_reserve(a->audit, bytes, err) : 0;
	pthread_mutex_unlock(&a->audit_lock);
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
