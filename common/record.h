/*
 * The audit record: its JSON-lines format, the SHA-256 hash chain that makes
 * tampering evident, and the read side (iterate, filter, verify, render).
 * Shared by the agent's writer (agent/audit.c) and by memplugctl, which
 * reads the files directly when the agent is down. Nothing here writes a
 * file. docs/audit.md describes every event and field and the canonical form.
 */
#ifndef MEMPLUG_RECORD_H
#define MEMPLUG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

enum record_event {
	RECORD_AGENT_START,
	RECORD_AGENT_STOP,
	RECORD_CONNECT,
	RECORD_RECONNECT,
	RECORD_REQUEST,
	RECORD_PREFLIGHT,
	RECORD_INTENT,
	RECORD_ATTACH,
	RECORD_DETACH,
	RECORD_ROLLBACK,
	RECORD_OUTCOME,
	RECORD_DEVICE_ADDED,
	RECORD_DEVICE_REMOVED,
	RECORD_DEVICE_REMOVAL_FAILED,
	RECORD_BALLOON_CHANGE,
	RECORD_POLICY_DECISION,
	RECORD_RECONCILED,
	RECORD_LOG_REPAIRED, /* the writer cut a torn tail off the log */
	RECORD_RESIZE,       /* a virtio-mem device's <requested> was set */
	RECORD_SIZE_CHANGE,  /* MEMORY_DEVICE_SIZE_CHANGE: a device's <current> */
	RECORD_EVENT_COUNT,
};

enum record_result {
	RECORD_OK,
	RECORD_FAILED,
	RECORD_REFUSED,
	RECORD_PENDING,
	RECORD_PARTIAL, /* virtio-mem: the guest moved less than requested */
	RECORD_UNKNOWN, /* the evidence disagrees: say what each source showed */
	RECORD_RESULT_COUNT
};

enum record_actor_kind {
	RECORD_ACTOR_CLIENT, /* a control-socket peer, from SO_PEERCRED */
	RECORD_ACTOR_POLICY,
	RECORD_ACTOR_LIBVIRT, /* unsolicited events */
	RECORD_ACTOR_AGENT,
};

struct record_actor {
	enum record_actor_kind kind;
	uid_t uid; /* RECORD_ACTOR_CLIENT only */
	gid_t gid;
	pid_t pid;
	const char *comm; /* NULL is written as "" */
};

struct record_node_mem {
	unsigned node; /* guest NUMA node */
	uint64_t kib;
};

/* What a caller hands over; every pointer is borrowed. */
struct record {
	enum record_event event;
	const char *domain;  /* NULL: null */
	const char *uuid;    /* NULL: null */
	const char *request; /* NULL: null */
	struct record_actor actor;
	enum record_result result;
	const char *error; /* NULL: no "error" key */
	size_t n_before;   /* before/after with n == 0 are written as null */
	const struct record_node_mem *before;
	size_t n_after;
	const struct record_node_mem *after;
	struct json_object *extra; /* NULL or an object: event-specific keys, merged in order */
};

#define RECORD_HASH_HEX 64
/* The "prev" of the very first record. */
#define RECORD_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
#define RECORD_TS_MAX  32

const char *record_event_name(enum record_event e);
int record_event_parse(const char *name, enum record_event *out);
const char *record_result_name(enum record_result r);

/* Formats milliseconds since the epoch as "2026-11-24T14:03:05.123Z". */
char *record_format_ts(int64_t ms, char buf[RECORD_TS_MAX]);

/*
 * Parses a time for --since/--until into milliseconds since the epoch:
 * RFC 3339 ("2026-11-24T14:03:05Z", fraction and offset optional), a date
 * ("2026-11-24", midnight UTC), or an age before `now_ms` ("90s", "15m",
 * "2h", "7d").
 */
int record_parse_time(const char *str, int64_t now_ms, int64_t *ms, char **err);

/*
 * Builds a record's object, without "prev" and "hash", keys in the
 * canonical order (docs/audit.md). Fails with -EINVAL when an enum is out
 * of range or `extra` is not an object or reuses a common key. Caller owns
 * *out (json_object_put()).
 */
int record_to_json(const struct record *r, int64_t ts_ms, uint64_t seq, struct json_object **out,
                   char **err);

/*
 * Adds "prev" (`prev_hash`, or RECORD_GENESIS when NULL) and "hash" to a
 * record built by record_to_json(). Returns the line to write, with its
 * newline; caller frees it.
 */
int record_seal(struct json_object *rec, const char *prev_hash, char **line, char **err);

/*
 * The SHA-256 (lower-case hex) of the canonical serialization of `rec`
 * without its "hash" key. `rec` is not changed.
 */
int record_hash(struct json_object *rec, char hex[RECORD_HASH_HEX + 1]);

/*
 * Parses one line (without its newline) into a record object: a JSON object
 * with an integer "seq", string "ts", "event" and "hash" and nothing after
 * it. Caller owns *out.
 */
int record_parse_line(const char *line, size_t len, struct json_object **out, char **err);

/* Accessors for parsed records; NULL / 0 when the key is missing. */
uint64_t record_seq(struct json_object *rec);
const char *record_str(struct json_object *rec, const char *key);
int record_ts_ms(struct json_object *rec, int64_t *ms);
/* An intent's scope: its "live" and "config" booleans. false when the
 * record has none (intents written before the scope was recorded). */
bool record_scope(struct json_object *rec, bool *live, bool *config);

/*
 * The files of the log at `path`, oldest first: every rotated path.K in
 * its directory, highest K first, then path itself when it exists; regular
 * files only. Caller frees with record_files_free().
 */
int record_log_files(const char *path, char ***files, size_t *n, char **err);
void record_files_free(char **files, size_t n);

/* Iterates the records of several files in order; skips torn lines. */
struct record_reader;

/* Borrows `files`, which must outlive the reader. */
struct record_reader *record_reader_new(char *const *files, size_t n);
/*
 * Stores the next record in *rec (caller owns it) and returns 1; returns 0
 * at the end, or a negative errno when a file cannot be read or is not a
 * regular file (-EINVAL; then record_reader_file() names it). Lines that do not parse are counted
 * and skipped, never returned.
 */
int record_reader_next(struct record_reader *rd, struct json_object **rec);
size_t record_reader_skipped(const struct record_reader *rd);
const char *record_reader_file(const struct record_reader *rd);
void record_reader_free(struct record_reader *rd);

struct record_filter {
	const char *domain; /* name or uuid */
	const char *event;
	const char *request;
	bool has_since, has_until;
	int64_t since_ms; /* inclusive */
	int64_t until_ms; /* exclusive */
};

bool record_filter_match(const struct record_filter *f, struct json_object *rec);

/* Fills *f from a `log` request's args (domain, event, request, since,
 * until); the strings stay borrowed from args. */
int record_filter_from_args(struct json_object *args, int64_t now_ms, struct record_filter *f,
                            char **err);

/*
 * The records of `files` that match f, the newest `limit` of them (0: all),
 * as a new {"records": [...], "skipped": N}. *last_seq (may be NULL) gets
 * the seq of the last record read, matching or not.
 */
struct json_object *record_query(char *const *files, size_t n, const struct record_filter *f,
                                 size_t limit, uint64_t *last_seq);

/*
 * One readable line, without newline:
 * "2026-11-24T14:03:05.123Z #42 attach ok dom=vm1 req=r7 actor=uid:1000(virsh)
 *  node=0 size_kib=262144 before=0:1048576 after=0:1310720". Caller frees.
 */
char *record_format_text(struct json_object *rec);

enum record_break {
	RECORD_BREAK_NONE,
	RECORD_BREAK_UNPARSABLE,
	RECORD_BREAK_NOT_CANONICAL, /* the line is not the writer's own serialization */
	RECORD_BREAK_HASH,          /* the hash does not match the content */
	RECORD_BREAK_PREV,          /* prev is not the previous record's hash */
	RECORD_BREAK_SEQ,           /* seq does not follow the previous record's */
};

struct record_verify_result {
	size_t records;     /* records checked */
	uint64_t first_seq; /* the chain begins there (> 1 once rotation dropped files) */
	uint64_t last_seq;
	bool torn_tail;           /* the newest file ends in an unfinished line (not a break) */
	enum record_break reason; /* RECORD_BREAK_NONE when the chain holds */
	char *file;               /* where the first break is */
	unsigned long line;       /* 1-based */
	uint64_t seq;             /* its seq, 0 when unknown */
	char *detail;
};

const char *record_break_name(enum record_break b);

/*
 * Checks the chain across `files`, oldest first. Returns 0 when the files
 * could be read (then res->reason tells whether the chain holds) or a
 * negative errno. Clear res with record_verify_result_clear().
 */
int record_verify(char *const *files, size_t n, struct record_verify_result *res, char **err);
void record_verify_result_clear(struct record_verify_result *res);

/*
 * The intents that no outcome or reconciled record with the same request
 * follows, in log order: a new array of record objects; caller puts it.
 */
int record_pending_intents(char *const *files, size_t n, struct json_object **out, char **err);

#endif
