/*
 * `prepare` end to end, without side effects: domain XML + host model +
 * options -> the new domain XML and the account of what changed and why
 * (as JSON, the same data for memplugctl's text, --json, and the agent's
 * reply). memplugctl runs it offline; memplugd runs it for --define on the
 * XML it reads itself. Parsing and the work after it are separate steps so
 * the work can be measured alone (bench/prepare-bench.c).
 */
#ifndef MEMPLUG_PREPARE_H
#define MEMPLUG_PREPARE_H

#include <stddef.h>

#include <json-c/json.h>

#include "domain.h"
#include "domain_edit.h"
#include "host.h"
#include "partition.h"

struct prepare {
	struct domain *dom;       /* the domain as it was */
	struct domain_edit *edit; /* its tree, edited by prepare_compute() */
	struct partition_guest guest;
	struct partition *part;
	struct domain_edit_report edits;
	char *xml; /* the new definition */
};

/* Parses `xml` twice: the model (domain_parse) and the editable tree.
 * *out: prepare_free(). */
int prepare_parse(const char *xml, size_t len, struct prepare **out, char **err);
/* Partitions, edits the tree and formats the new XML into p->xml. */
int prepare_compute(struct prepare *p, const struct host *host, const struct partition_opts *o,
                    char **err);
void prepare_free(struct prepare *p);

/* The account: cells, vCPUs, pins, memnodes, distances, maxMemory and
 * slots, placement numbers, warnings. New object (caller puts it). */
json_object *prepare_report(const struct prepare *p, const struct host *host,
                            const struct partition_opts *o);

/* Threads per core from `virsh capabilities` XML (<host><cpu><topology
 * threads>); 0 when it does not say. */
unsigned prepare_caps_threads(const char *xml, size_t len);

/* The options on the wire (`prepare` request arguments) and back; the
 * reader checks every value. */
json_object *prepare_opts_json(const struct partition_opts *o);
int prepare_opts_from_json(json_object *args, struct partition_opts *o, char **err);

#endif
