/*
 * The backend wrappers (backend.h): they check the thread rule, then call
 * the installed implementation.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"
#include "threadcheck.h"

bool backend_connected(const struct backend *b)
{
	return b->ops->connected(b->ctx);
}

unsigned backend_reconnects(const struct backend *b)
{
	return b->ops->reconnects(b->ctx);
}

const char *backend_uri(const struct backend *b)
{
	return b->ops->uri(b->ctx);
}

int backend_list_domains(const struct backend *b, struct backend_domain_list *out, char **err)
{
	assert_worker_thread();
	return b->ops->list_domains(b->ctx, out, err);
}

int backend_domain_xml(const struct backend *b, const char *name, unsigned flags, char **xml,
                       char **err)
{
	assert_worker_thread();
	return b->ops->domain_xml(b->ctx, name, flags, xml, err);
}

int backend_domain_xml_wait(const struct backend *b, const char *name, unsigned flags,
                            uint64_t wait_ms, char **xml, char **err)
{
	uint64_t waited = 0, step;
	int rc;

	while ((rc = backend_domain_xml(b, name, flags, xml, err)) == -ENOTCONN &&
	       waited < wait_ms) {
		if (err) {
			free(*err);
			*err = NULL;
		}
		step = wait_ms - waited < 500 ? wait_ms - waited : 500;
		usleep((useconds_t)step * 1000);
		waited += step;
	}
	return rc;
}

int backend_persistent(const struct backend *b, const char *name, bool *persistent, char **err)
{
	assert_worker_thread();
	return b->ops->persistent(b->ctx, name, persistent, err);
}

int backend_attach(const struct backend *b, const char *name, const char *xml, unsigned flags,
                   char **err)
{
	assert_worker_thread();
	return b->ops->attach(b->ctx, name, xml, flags, err);
}

int backend_detach_alias(const struct backend *b, const char *name, const char *alias,
                         unsigned flags, char **err)
{
	assert_worker_thread();
	return b->ops->detach_alias(b->ctx, name, alias, flags, err);
}

int backend_update_device(const struct backend *b, const char *name, const char *xml,
                          unsigned flags, char **err)
{
	assert_worker_thread();
	return b->ops->update_device(b->ctx, name, xml, flags, err);
}

int backend_define(const struct backend *b, const char *xml, char **err)
{
	assert_worker_thread();
	return b->ops->define(b->ctx, xml, err);
}

int backend_set_balloon(const struct backend *b, const char *name, uint64_t kib, char **err)
{
	assert_worker_thread();
	return b->ops->set_balloon(b->ctx, name, kib, err);
}

int backend_set_stats_period(const struct backend *b, const char *name, int seconds, char **err)
{
	assert_worker_thread();
	return b->ops->set_stats_period(b->ctx, name, seconds, err);
}

int backend_balloon_stats(const struct backend *b, struct backend_balloon_list *out, char **err)
{
	assert_worker_thread();
	return b->ops->balloon_stats(b->ctx, out, err);
}

int backend_get_metadata(const struct backend *b, const char *name, const char *uri, unsigned flags,
                         char **xml, char **err)
{
	assert_worker_thread();
	return b->ops->get_metadata(b->ctx, name, uri, flags, xml, err);
}

int backend_set_metadata(const struct backend *b, const char *name, const char *xml,
                         const char *key, const char *uri, unsigned flags, char **err)
{
	assert_worker_thread();
	return b->ops->set_metadata(b->ctx, name, xml, key, uri, flags, err);
}

int backend_host_topology(const struct backend *b, struct host **out, char **err)
{
	assert_worker_thread();
	return b->ops->host_topology(b->ctx, out, err);
}

int backend_host_free(const struct backend *b, struct host *h, char **err)
{
	assert_worker_thread();
	return b->ops->host_free(b->ctx, h, err);
}

int backend_host(const struct backend *b, struct host **out, char **err)
{
	int rc;

	*out = NULL;
	rc = backend_host_topology(b, out, err);
	if (rc == 0 && (rc = backend_host_free(b, *out, err)) < 0) {
		host_free(*out);
		*out = NULL;
	}
	return rc;
}

void backend_domain_list_free(struct backend_domain_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++)
		free(list->doms[i].name);
	free(list->doms);
	*list = (struct backend_domain_list){0};
}

void backend_balloon_list_free(struct backend_balloon_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++)
		free(list->doms[i].name);
	free(list->doms);
	*list = (struct backend_balloon_list){0};
}
