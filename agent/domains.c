/*
 * The per-domain views (domains.h): a list kept in the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domains.h"
#include "threadcheck.h"

struct domains {
	struct domain_view *head;
};

static void view_free(struct domain_view *d)
{
	domain_free(d->model);
	free(d->model_error);
	free(d->name);
	free(d);
}

struct domains *domains_new(void)
{
	return calloc(1, sizeof(struct domains));
}

void domains_free(struct domains *ds)
{
	if (ds == NULL)
		return;
	while (ds->head) {
		struct domain_view *d = ds->head;

		ds->head = d->next;
		view_free(d);
	}
	free(ds);
}

struct domain_view *domains_first(struct domains *ds)
{
	assert_loop_thread();
	return ds->head;
}

struct domain_view *domains_find(struct domains *ds, const char *name)
{
	assert_loop_thread();
	for (struct domain_view *d = ds->head; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

struct domain_view *domains_add(struct domains *ds, const char *name, const char *uuid)
{
	struct domain_view *d = domains_find(ds, name);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->name = strdup(name)) == NULL) {
		free(d);
		return NULL;
	}
	snprintf(d->uuid, sizeof(d->uuid), "%s", uuid ? uuid : "");
	d->next = ds->head;
	ds->head = d;
	return d;
}

void domains_remove(struct domains *ds, const char *name)
{
	assert_loop_thread();
	for (struct domain_view **pp = &ds->head; *pp; pp = &(*pp)->next) {
		struct domain_view *d = *pp;

		if (strcmp(d->name, name) != 0)
			continue;
		/* A running operation still refers to it. */
		d->gone = d->queue != NULL;
		if (d->gone)
			return;
		*pp = d->next;
		view_free(d);
		return;
	}
}

void domains_set_model(struct domain_view *d, struct domain *model)
{
	domain_free(d->model);
	d->model = model;
	free(d->model_error);
	d->model_error = NULL;
}

void domains_set_error(struct domain_view *d, char *err)
{
	free(d->model_error);
	d->model_error = err;
}

void domains_lifecycle(struct domain_view *d, int lifecycle)
{
	/* DEFINED and SHUTDOWN (the guest is going down) leave the state as
	 * it was; STOPPED ends it; everything else means it runs. */
	if (lifecycle == BACKEND_LIFECYCLE_STOPPED)
		d->active = false;
	else if (lifecycle != BACKEND_LIFECYCLE_DEFINED && lifecycle != BACKEND_LIFECYCLE_SHUTDOWN)
		d->active = true;
}
