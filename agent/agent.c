/*
 * The agent's shared services (agent.h): the one struct agent, the audit
 * lock, posting to the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "agent.h"
#include "domains.h"
#include "log.h"
#include "threadcheck.h"

struct agent {
	struct config *cfg;
	struct evloop *loop;
	struct backend backend;
	struct domains *domains;
	struct audit *audit;
	pthread_mutex_t audit_lock; /* audit appends from any thread */
	time_t started;
};

struct agent *agent_new(struct config *cfg, struct evloop *loop, struct audit *audit)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if ((a->domains = domains_new()) == NULL) {
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

time_t agent_started(const struct agent *a)
{
	return a->started;
}

int agent_post(struct agent *a, void (*fn)(void *arg), void *arg)
{
	return evloop_post(a->loop, fn, arg);
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
