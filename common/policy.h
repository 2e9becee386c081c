/*
 * The auto-balloon policy's pure part: per-domain settings, the decision
 * function that keeps a guest's usable memory inside its free-memory band
 * with the balloon and DIMMs, and the settings' run-time form in a
 * domain's <metadata>. No libvirt, no clock, no I/O: the agent's tick
 * (agent/policy.c) feeds it samples and the time and executes what it
 * decides, so a test can drive it with a simulated guest and clock.
 * docs/policy.md describes the rules. The settings' table and parsers are
 * in policy_settings.c, the decision and <metadata> in policy.c.
 */
#ifndef MEMPLUG_POLICY_H
#define MEMPLUG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct domain;
struct host;

/* A free-memory threshold: a percent of the guest's memory or a size. */
struct threshold {
	bool percent;
	uint64_t value; /* percent (0..100) or KiB */
};

struct policy_settings {
	bool enabled;
	bool dry_run;
	struct threshold low_free;
	struct threshold high_free;
	uint64_t step_kib;
	uint64_t cooldown_ms;
	uint64_t settle_ms;
	uint64_t min_kib; /* 0: the domain's boot memory */
	uint64_t max_kib; /* 0: the domain's maxMemory */
};

/* The threshold in KiB for a guest of `total_kib`. */
uint64_t threshold_kib(const struct threshold *t, uint64_t total_kib);
/* "10%" or "256M"-style text; buf >= 32 bytes. */
char *threshold_format(const struct threshold *t, char *buf, size_t len);

/*
 * One row per setting (common/policy_settings.c): everything that parses,
 * checks, shows or renders a setting reads it from here. The parser checks
 * the text alone and writes the field; the printer gives the field back as
 * the parser takes it.
 */
struct policy_key {
	const char *name;
	const char *type; /* "bool", "threshold", "size" (KiB), "duration" (ms) */
	int (*parse)(const char *text, void *field, char **err);
	const char *(*print)(const void *field, char *buf, size_t len);
	size_t offset;     /* of the field in struct policy_settings */
	uint64_t min;      /* sizes and durations: the least value; 0 none */
	uint64_t max;      /* sizes and durations: the largest value; 0 none */
	const char *unset; /* shown for 0 (a size that means "the domain's own"), or NULL */
	const char *doc;   /* its meaning, as docs/policy.md's table says it */
	bool memory_bound; /* a size of the guest: within its boot memory and maxMemory */
};

/* Upper bounds: they keep the decision's arithmetic (cooldown << 6, step + need) in range. */
#define POLICY_DURATION_MAX_MS (UINT64_C(24) * 3600 * 1000)   /* cooldown, settle: 24h */
#define POLICY_STEP_MAX_KIB    (UINT64_C(1024) * 1024 * 1024) /* step: 1T */

#define POLICY_N_KEYS 9
extern const struct policy_key policy_keys[POLICY_N_KEYS];

/* The row of `name`, or NULL. */
const struct policy_key *policy_key_find(const char *name);
/* The key's value in s as text (as `set` accepts it); buf >= 32 bytes. */
const char *policy_key_format(const struct policy_key *k, const struct policy_settings *s,
                              char *buf, size_t len);
/* The same by name; NULL for an unknown key. */
const char *policy_settings_value(const struct policy_settings *s, const char *key, char *buf,
                                  size_t len);

/* What a memory_bound key is checked against: one domain's definition. */
struct policy_domain_bounds {
	const char *name;
	uint64_t boot_kib;       /* its NUMA cells: the policy's floor in any case */
	uint64_t max_memory_kib; /* <maxMemory>, 0 when absent */
	uint64_t memory_kib;     /* <memory>: the ceiling when there is no <maxMemory> */
};

/*
 * 0 when key k of s lies within the domain (a memory_bound key set to a
 * size: boot memory <= value <= maxMemory, or <memory> without one; other
 * keys and 0, "the domain's own", always do); else -EINVAL and a message
 * with the value, the domain's bound and what to do.
 */
int policy_key_check_domain(const struct policy_key *k, const struct policy_settings *s,
                            const struct policy_domain_bounds *b, char **err);

/* ---- inputs of one decision ---- */

/* One guest cell the policy could grow. */
struct policy_cell {
	unsigned id;
	uint64_t kib;             /* boot + DIMMs on this cell */
	uint64_t align_kib;       /* a DIMM here is a multiple of this */
	bool host_known;          /* host numbers below are meaningful */
	uint64_t host_free_kib;   /* free memory on its inferred host nodes */
	uint64_t host_usable_kib; /* free above the reserve on those nodes */
	char host_nodes[32];      /* "0-1", "any" */
};

/* A hot-plugged DIMM the policy may unplug (newest first). */
struct policy_dimm {
	unsigned node;
	uint64_t size_kib;
};

struct policy_input {
	uint64_t now_ms;
	uint64_t interval_ms;
	/* From the balloon stats; has_stats false when the guest reports none. */
	bool has_stats;
	uint64_t actual_kib;    /* balloon.current */
	uint64_t usable_kib;    /* balloon.usable (≈ MemAvailable) */
	uint64_t available_kib; /* balloon.available (≈ MemTotal) */
	/* From the live domain model. */
	uint64_t plugged_kib; /* boot + every memory device */
	uint64_t boot_kib;
	uint64_t max_memory_kib; /* <maxMemory>, 0 when absent */
	unsigned free_slots;
	size_t n_cells;
	const struct policy_cell *cells;
	size_t n_dimms;
	const struct policy_dimm *dimms; /* removable DIMMs, newest first */
	bool op_in_flight;               /* a grow or shrink is queued or running */
	uint64_t host_reserve_kib;
};

/* What the decision remembers between ticks; zero-initialise. */
struct policy_state {
	uint64_t last_action_ms;  /* 0: never acted */
	bool grew_last;           /* the last action raised memory */
	uint64_t above_since_ms;  /* usable above high_free since; 0: not */
	uint64_t failed_at_ms;    /* the last grow/shrink failed then; 0: not */
	unsigned unplug_failures; /* in a row; each doubles the wait before the next */
	uint64_t unplug_failed_ms;
	/* Waiting for the guest to see a raise: its MemTotal then. */
	bool observing;
	uint64_t observe_from_kib;
	uint64_t observe_delta_kib;
	/* A DIMM operation submitted; resolved once no op is in flight. */
	enum { POLICY_PENDING_NONE, POLICY_PENDING_GROW, POLICY_PENDING_SHRINK } pending;
	uint64_t pending_plugged_kib; /* plugged before the operation */
	/* Unplug preparation: balloon raised by the DIMM, then unplug. */
	uint64_t unplug_kib; /* 0: none prepared */
	unsigned unplug_node;
	uint64_t restore_kib; /* the balloon target to return to after unplug */
};

enum policy_action {
	POLICY_NONE,        /* inside the band, nothing to do */
	POLICY_WAIT,        /* settling, cooling down or waiting for an effect */
	POLICY_BALLOON,     /* set the balloon target to target_kib */
	POLICY_GROW,        /* hot-add size_kib on guest node `node` */
	POLICY_SHRINK,      /* unplug size_kib on guest node `node` */
	POLICY_HOLD,        /* a grow is needed but not allowed (reason says why) */
	POLICY_FAILED,      /* the previous operation did not take effect */
	POLICY_UNMANAGEABLE /* no guest stats or settings that cannot apply */
};

struct policy_decision {
	enum policy_action action;
	const char *reason;  /* a static token: "below_low_free", "host_reserve", ... */
	char message[256];   /* the same in words, with the numbers */
	uint64_t target_kib; /* POLICY_BALLOON */
	uint64_t size_kib;   /* POLICY_GROW / POLICY_SHRINK */
	int node;            /* POLICY_GROW / POLICY_SHRINK */
	/* The figures the decision used, for the audit record. */
	uint64_t low_kib, high_kib, floor_kib, ceiling_kib;
};

/*
 * Decides what to do for one guest now, and updates *st as if the action
 * were carried out (the caller tells policy_note_dry_run() when it was
 * not). Never fails: a decision it cannot make is POLICY_UNMANAGEABLE or
 * POLICY_HOLD with a reason.
 */
void policy_decide(const struct policy_settings *s, const struct policy_input *in,
                   struct policy_state *st, struct policy_decision *out);
/* A dry run acted on nothing: forget the pending effect but keep the
 * cooldown, so the same decision is not logged every tick. */
void policy_note_dry_run(struct policy_state *st);

const char *policy_action_name(enum policy_action a);

/* The decision and its inputs as an audit record's "extra" object. */
json_object *policy_decision_json(const struct policy_decision *d, const struct policy_input *in,
                                  const struct policy_settings *s);

/*
 * The growable cells of `dom` with their inferred host supply (host may be
 * NULL: host_known false). *out is malloc'd (caller frees); returns the
 * count. Also the removable DIMMs, newest first (same ownership).
 */
size_t policy_cells(const struct domain *dom, const struct host *host, uint64_t step_kib,
                    uint64_t reserve_kib, struct policy_cell **out);
size_t policy_dimms(const struct domain *dom, struct policy_dimm **out);

/* ---- run-time settings in the domain's <metadata> ---- */

#define POLICY_METADATA_URI "https://memplug.example/policy/1"
#define POLICY_METADATA_KEY "memplug"

/* One run-time override: key=value as `memplugctl policy set` took it. */
struct policy_override {
	char *key;
	char *value;
};

struct policy_overrides {
	size_t n;
	struct policy_override *v;
};

void policy_overrides_clear(struct policy_overrides *o);
/* Sets (or replaces) key=value; the value must already be valid. */
int policy_overrides_put(struct policy_overrides *o, const char *key, const char *value);
/* Removes key: 0, or -ENOENT when o has no value for it. */
int policy_overrides_remove(struct policy_overrides *o, const char *key);
/* <policy enabled="yes" low_free="10%" .../> (no namespace: libvirt adds
 * it). Caller frees. */
char *policy_metadata_format(const struct policy_overrides *o);
/* Parses what libvirt returns for the element; unknown attributes are
 * refused. *o is cleared first. */
int policy_metadata_parse(const char *xml, struct policy_overrides *o, char **err);

/* "yes"/"true"/"1" or "no"/"false"/"0". */
int policy_bool_parse(const char *value, bool *out, char **err);
/* Parses one policy KEY=VALUE (as in the file and `memplugctl policy set`)
 * into *s. _apply checks the value alone; _set also checks the settings as
 * a whole (low_free < high_free, min <= max). *s is unchanged on error. */
int policy_settings_apply(struct policy_settings *s, const char *key, const char *value,
                          char **err);
int policy_settings_set(struct policy_settings *s, const char *key, const char *value, char **err);
int policy_settings_check(const struct policy_settings *s, char **err);
int threshold_parse(const char *str, struct threshold *out, char **err);

#endif
