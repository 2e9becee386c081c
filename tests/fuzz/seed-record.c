/*
 * Writes a valid audit chain to stdout for fuzz-record's seed corpus: every
 * event once, each result, clients and the policy as actors, before/after
 * maps, extra keys, and an intent no outcome follows (what reconcile reads).
 * Built in the fuzz build only; run by hand:
 *   build-fuzz/tests/fuzz/seed-record > tests/fuzz/corpus/record/chain.jsonl
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define T0 INT64_C(1795528985123)

static const struct record_node_mem before[] = {{0, 1048576}, {1, 524288}};
static const struct record_node_mem after[] = {{0, 1310720}, {1, 524288}};

/* Seals r at seq after prev (updated) and prints the line; 0 or -1. */
static int emit(const struct record *r, uint64_t seq, char prev[RECORD_HASH_HEX + 1])
{
	struct json_object *obj = NULL;
	char *line = NULL, *err = NULL;
	int rc = -1;

	if (record_to_json(r, T0 + (int64_t)seq * 1000, seq, &obj, &err) == 0 &&
	    record_seal(obj, prev[0] ? prev : NULL, &line, &err) == 0) {
		snprintf(prev, RECORD_HASH_HEX + 1, "%s",
		         json_object_get_string(json_object_object_get(obj, "hash")));
		fputs(line, stdout); /* sealed lines end in their newline */
		rc = 0;
	} else {
		fprintf(stderr, "seed-record: %s\n", err ? err : "failed");
	}
	json_object_put(obj);
	free(line);
	free(err);
	return rc;
}

int main(void)
{
	char prev[RECORD_HASH_HEX + 1] = "";
	uint64_t seq = 1;

	for (int ev = 0; ev < RECORD_EVENT_COUNT; ev++) {
		struct record r = {.event = ev, .domain = "g", .uuid = "u-1", .request = "r1"};
		struct json_object *extra = json_object_new_object();

		r.actor.kind = ev % 2 ? RECORD_ACTOR_POLICY : RECORD_ACTOR_CLIENT;
		r.actor.uid = 1000;
		r.actor.pid = 42;
		r.actor.comm = "memplugctl";
		r.result = (enum record_result)(ev % RECORD_RESULT_COUNT);
		r.error = r.result == RECORD_FAILED ? "End of file" : NULL;
		r.n_before = r.n_after = 2;
		r.before = before;
		r.after = after;
		json_object_object_add(extra, "node", json_object_new_int(0));
		json_object_object_add(extra, "size_kib", json_object_new_int64(262144));
		json_object_object_add(extra, "alias", json_object_new_string("dimm0"));
		r.extra = extra;
		if (ev == RECORD_INTENT)
			r.request = "r-open"; /* no outcome follows it */
		if (emit(&r, seq++, prev) < 0)
			return 1;
		json_object_put(extra);
	}
	return 0;
}
