/*
 * The audit log writer: the agent's only writer of common/record.h records.
 * It continues seq and the hash chain from the existing files, cuts a torn
 * tail left by a crash (and says so in a log_repaired record), fsyncs the
 * records that must be durable before a change, rotates by size, and knows
 * whether the log can be written, so the agent can refuse changes it could
 * not audit (fail_closed) while read-only commands keep working.
 * Not thread-safe: the agent serializes every call under its audit_lock
 * (agent_audit(), agent_audit_check()).
 */
#ifndef MEMPLUG_AUDIT_H
#define MEMPLUG_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

struct audit_options {
	uint64_t max_bytes; /* rotate before a record would take the file past it; 0: never */
	unsigned keep;      /* rotated files kept: path.1 (newest) .. path.keep */
	bool fail_closed;   /* refuse changes while the log cannot be written */
};

/* max_bytes 16 MiB, keep 8, fail_closed true. */
void audit_options_default(struct audit_options *opts);

struct audit;

/*
 * Opens the log at `path` (created when missing, with its directory's
 * existing permissions) and reads the end of it, or of the newest rotated
 * file, to continue seq and the chain. Returns -EINVAL or -ENOMEM with *out
 * NULL; otherwise *out is set and the return value is 0, or the negative
 * errno of the failure that left the log unwritable (audit_error() says
 * more; the next audit_append() tries again). Free with audit_free().
 */
int audit_open(const char *path, const struct audit_options *opts, struct audit **out);
/* -EBUSY when another process (another memplugd) holds the log's writer
 * lock, 0 when nobody does or the log does not exist yet. */
int audit_check_lock(const char *path);
void audit_free(struct audit *a);

/*
 * Appends one record and, when `sync` (always for intents), fsyncs it
 * before returning. On failure the log is marked unwritable and the
 * negative errno returned, with a message in *err when err is non-NULL.
 * *seq_out (may be NULL) gets the record's seq.
 */
int audit_append(struct audit *a, const struct record *r, bool sync, uint64_t *seq_out, char **err);

/*
 * Reserves `bytes` of disk past the end of the current file (rotating first
 * when they would not fit in it), so the records an operation is about to
 * write cannot meet a full disk. -ENOSPC (or another errno) with a message
 * when the space is not there; 0 on a file system without reservations.
 * The log stays writable either way.
 */
int audit_reserve(struct audit *a, uint64_t bytes, char **err);

/* Fault injection for the unit tests: after `after` more successful
 * appends, the next one fails with `err` (negative errno) as a write
 * would, leaving the log unwritable until the append after it. */
void audit_inject_failure(struct audit *a, unsigned after, int err);

bool audit_writable(const struct audit *a);
/* Why the log cannot be written; NULL while it can. Borrowed. */
const char *audit_error(const struct audit *a);
/*
 * 0 when the agent may make a change now; -EROFS (with a message naming
 * the log and the reason) when fail_closed is set and the log cannot be
 * written. It does not retry: the next audit_append() does, so a log
 * that can be written again is writable after one record (e.g. the
 * request record the agent writes first).
 */
int audit_check_changes(struct audit *a, char **err);

uint64_t audit_last_seq(const struct audit *a);
const char *audit_path(const struct audit *a);

/* The files of the log, oldest first, as record_log_files(). */
int audit_files(const struct audit *a, char ***files, size_t *n, char **err);

/* Intents without an outcome or reconciled record, as record_pending_intents(). */
int audit_pending_intents(const struct audit *a, struct json_object **out, char **err);

#endif
