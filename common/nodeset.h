/*
 * NUMA node sets in libvirt's syntax ("0-3,^2,8") as a fixed-size bitmap.
 * A value type: no allocation, copy with '='.
 */
#ifndef MEMPLUG_NODESET_H
#define MEMPLUG_NODESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODESET_MAX 1024

struct nodeset {
	uint64_t bits[NODESET_MAX / 64];
};

/* Parses libvirt syntax: comma-separated ids and ranges, "^N" excludes.
 * An empty result, an id >= NODESET_MAX or any stray character is refused. */
int nodeset_parse(const char *str, struct nodeset *out, char **err);

/* Formats as compact ranges ("0-3,8"); "" for an empty set. Returns buf. */
char *nodeset_format(const struct nodeset *ns, char *buf, size_t len);
#define NODESET_FORMAT_MAX 4096

void nodeset_clear_all(struct nodeset *ns);
void nodeset_set(struct nodeset *ns, unsigned id);
void nodeset_clear(struct nodeset *ns, unsigned id);
bool nodeset_test(const struct nodeset *ns, unsigned id);
unsigned nodeset_count(const struct nodeset *ns);
bool nodeset_is_empty(const struct nodeset *ns);
bool nodeset_equal(const struct nodeset *a, const struct nodeset *b);
/* The first id >= from in the set, or -1. Iterate with
 * for (int i = nodeset_next(ns, 0); i >= 0; i = nodeset_next(ns, i + 1)). */
int nodeset_next(const struct nodeset *ns, unsigned from);

#endif
