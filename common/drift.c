/*
 * The live/persistent comparison (drift.h): pairs the memory devices of
 * the two definitions in three passes, from the strongest evidence that
 * two entries are one device to the weakest, and lists what is left over.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"

enum drift_pass {
	PASS_ALIAS, /* both name the device, with the same alias */
	PASS_SLOT,  /* both place it, in the same slot */
	PASS_SHAPE, /* nothing tells them apart */
};

static bool same_shape(const struct domain_memdev *a, const struct domain_memdev *b)
{
	return a->model == b->model && a->target_node == b->target_node &&
	       a->size_kib == b->size_kib;
}

static bool aliases_differ(const struct domain_memdev *a, const struct domain_memdev *b)
{
	return a->alias && b->alias && strcmp(a->alias, b->alias) != 0;
}

static bool slots_differ(const struct domain_memdev *a, const struct domain_memdev *b)
{
	return a->has_slot && b->has_slot && a->slot != b->slot;
}

static bool pass_matches(enum drift_pass p, const struct domain_memdev *a,
                         const struct domain_memdev *b)
{
	if (!same_shape(a, b))
		return false;
	switch (p) {
	case PASS_ALIAS:
		return a->alias && b->alias && strcmp(a->alias, b->alias) == 0;
	case PASS_SLOT:
		return !aliases_differ(a, b) && a->has_slot && b->has_slot && a->slot == b->slot;
	case PASS_SHAPE:
		return !aliases_differ(a, b) && !slots_differ(a, b);
	}
	return false;
}

/* pair[i]: the persistent device matched with live device i, or -1. */
static void drift_pair(const struct domain *live, const struct domain *config, long *pair,
                       bool *taken)
{
	for (size_t i = 0; i < live->n_memdevs; i++)
		pair[i] = -1;
	for (enum drift_pass p = PASS_ALIAS; p <= PASS_SHAPE; p++) {
		for (size_t i = 0; i < live->n_memdevs; i++) {
			for (size_t j = 0; pair[i] < 0 && j < config->n_memdevs; j++) {
				if (taken[j] ||
				    !pass_matches(p, &live->memdevs[i], &config->memdevs[j]))
					continue;
				pair[i] = (long)j;
				taken[j] = true;
			}
		}
	}
}

static int device_add(struct drift_device **list, size_t *n, const struct domain_memdev *m)
{
	struct drift_device *grown = realloc(*list, (*n + 1) * sizeof(**list));
	struct drift_device *d;

	if (grown == NULL)
		return -ENOMEM;
	*list = grown;
	d = &grown[*n];
	*d = (struct drift_device){.model = m->model,
	                           .node = m->target_node,
	                           .size_kib = m->size_kib,
	                           .has_slot = m->has_slot,
	                           .slot = m->slot};
	if (m->alias && (d->alias = strdup(m->alias)) == NULL)
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int requested_add(struct drift *d, const struct domain_memdev *l,
                         const struct domain_memdev *c)
{
	struct drift_requested *grown =
	        realloc(d->requested, (d->n_requested + 1) * sizeof(*d->requested));
	struct drift_requested *r;
	const char *alias = l->alias ? l->alias : c->alias;

	if (grown == NULL)
		return -ENOMEM;
	d->requested = grown;
	r = &grown[d->n_requested];
	*r = (struct drift_requested){.node = l->target_node,
	                              .size_kib = l->size_kib,
	                              .live_kib = l->requested_kib,
	                              .config_kib = c->requested_kib};
	if (alias && (r->alias = strdup(alias)) == NULL)
		return -ENOMEM;
	d->n_requested++;
	return 0;
}

/* The lists, from the pairing. */
static int drift_fill(struct drift *d, const struct domain *live, const struct domain *config,
                      const long *pair, const bool *taken)
{
	int rc = 0;

	for (size_t i = 0; i < live->n_memdevs && rc == 0; i++) {
		const struct domain_memdev *l = &live->memdevs[i];

		if (pair[i] < 0)
			rc = device_add(&d->only_live, &d->n_only_live, l);
		else if (l->model == MEMDEV_VIRTIO_MEM &&
		         l->requested_kib != config->memdevs[pair[i]].requested_kib)
			rc = requested_add(d, l, &config->memdevs[pair[i]]);
	}
	for (size_t j = 0; j < config->n_memdevs && rc == 0; j++)
		if (!taken[j])
			rc = device_add(&d->only_config, &d->n_only_config, &config->memdevs[j]);
	return rc;
}

int drift_compare(const struct domain *live, const struct domain *config, struct drift **out)
{
	long *pair = calloc(live->n_memdevs + 1, sizeof(*pair));
	bool *taken = calloc(config->n_memdevs + 1, sizeof(*taken));
	struct drift *d = calloc(1, sizeof(*d));
	int rc = -ENOMEM;

	if (pair && taken && d) {
		drift_pair(live, config, pair, taken);
		rc = drift_fill(d, live, config, pair, taken);
	}
	free(pair);
	free(taken);
	if (rc < 0) {
		drift_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

bool drift_none(const struct drift *d)
{
	return d->n_only_live == 0 && d->n_only_config == 0 && d->n_requested == 0;
}

static void devices_free(struct drift_device *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].alias);
	free(list);
}

void drift_free(struct drift *d)
{
	if (d == NULL)
		return;
	devices_free(d->only_live, d->n_only_live);
	devices_free(d->only_config, d->n_only_config);
	for (size_t i = 0; i < d->n_requested; i++)
		free(d->requested[i].alias);
	free(d->requested);
	free(d);
}
