/*
 * Following an audit log as it grows (`memplugctl log --follow`), across
 * rotation: a tail remembers the file's inode and offset, returns only
 * whole new lines, and when the file was rotated finishes the old file
 * (now PATH.1) before starting on the new one. Used by the agent and by
 * memplugctl when the agent is down.
 */
#ifndef MEMPLUG_TAIL_H
#define MEMPLUG_TAIL_H

#include <stdint.h>

#include <json-c/json.h>

struct record_tail;

/* Starts at the current end of `path` (which may not exist yet). */
struct record_tail *record_tail_new(const char *path);
void record_tail_free(struct record_tail *t);

/* Records with a seq above this are returned; set after an initial read. */
void record_tail_skip_to(struct record_tail *t, uint64_t seq);

/*
 * Appends to `out` (an array) every new whole record since the last call,
 * oldest first, and returns how many; unparsable lines are skipped. A
 * negative errno when the file cannot be read.
 */
int record_tail_poll(struct record_tail *t, json_object *out);

#endif
