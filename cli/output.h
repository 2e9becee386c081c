/*
 * memplugctl's output backends. Every command produces a json-c object (the
 * same data the agent sends); output_render() prints it either as JSON
 * (--json) or as text for people: headings plus fixed-width tables.
 */
#ifndef MEMPLUG_OUTPUT_H
#define MEMPLUG_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

/* A fixed-width text table; cells are copied. */
struct table;
struct table *table_new(size_t n_cols, const char *const *headers);
void table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/* Renders `data` for command `cmd` (the command table's name). Returns 0,
 * or -EINVAL when the data does not have the shape the command expects. */
int output_render(FILE *out, const char *cmd, json_object *data, bool json);

/* "768 MiB" for a JSON integer of KiB, "-" for null; buf >= 32 bytes. */
const char *output_kib(json_object *v, char *buf, size_t len);

#endif
