/*
 * The audit record format and its hash chain (see record.h and
 * docs/audit.md). The canonical form of a record is json-c's plain
 * serialization (no spaces, "/" not escaped) of the object with its keys in
 * the order record_to_json() adds them; json-c keeps key order through a
 * parse, so a reader recomputes a hash from the parsed object.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <glib.h>

#include "err.h"
#include "record.h"
#include "size.h"

#define RECORD_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define RECORD_MAX_FILES  10000

static const char *const record_event_names[RECORD_EVENT_COUNT] = {
        [RECORD_AGENT_START] = "agent_start",
        [RECORD_AGENT_STOP] = "agent_stop",
        [RECORD_CONNECT] = "connect",
        [RECORD_RECONNECT] = "reconnect",
        [RECORD_REQUEST] = "request",
        [RECORD_PREFLIGHT] = "preflight",
        [RECORD_INTENT] = "intent",
        [RECORD_ATTACH] = "attach",
        [RECORD_DETACH] = "detach",
        [RECORD_ROLLBACK] = "rollback",
        [RECORD_OUTCOME] = "outcome",
        [RECORD_DEVICE_ADDED] = "device_added",
        [RECORD_DEVICE_REMOVED] = "device_removed",
        [RECORD_DEVICE_REMOVAL_FAILED] = "device_removal_failed",
        [RECORD_BALLOON_CHANGE] = "balloon_change",
        [RECORD_POLICY_DECISION] = "policy_decision",
        [RECORD_RECONCILED] = "reconciled",
        [RECORD_LOG_REPAIRED] = "log_repaired",
        [RECORD_RESIZE] = "resize",
        [RECORD_SIZE_CHANGE] = "size_change",
};

static const char *const record_result_names[RECORD_RESULT_COUNT] = {
        [RECORD_OK] = "ok",           [RECORD_FAILED] = "failed",   [RECORD_REFUSED] = "refused",
        [RECORD_PENDING] = "pending", [RECORD_PARTIAL] = "partial", [RECORD_UNKNOWN] = "unknown",
};

static const char *const record_actor_names[] = {
        [RECORD_ACTOR_CLIENT] = "client",
        [RECORD_ACTOR_POLICY] = "policy",
        [RECORD_ACTOR_LIBVIRT] = "libvirt",
        [RECORD_ACTOR_AGENT] = "agent",
};

static const char *const record_break_names[] = {
        [RECORD_BREAK_NONE] = "none",
        [RECORD_BREAK_UNPARSABLE] = "unparsable",
        [RECORD_BREAK_NOT_CANONICAL] = "not canonical",
        [RECORD_BREAK_HASH] = "hash mismatch",
        [RECORD_BREAK_PREV] = "prev mismatch",
        [RECORD_BREAK_SEQ] = "seq gap",
};

/* Keys every record has, in canonical order; "error" only when set. */
static const char *const record_common_keys[] = {
        "ts",     "seq",   "event",  "domain", "uuid", "request", "actor",
        "result", "error", "before", "after",  "prev", "hash",
};

const char *record_event_name(enum record_event e)
{
	if ((unsigned)e >= RECORD_EVENT_COUNT)
		return NULL;
	return record_event_names[e];
}

int record_event_parse(const char *name, enum record_event *out)
{
	for (unsigned i = 0; i < RECORD_EVENT_COUNT; i++) {
		if (strcmp(name, record_event_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *record_result_name(enum record_result r)
{
	if ((unsigned)r >= RECORD_RESULT_COUNT)
		return NULL;
	return record_result_names[r];
}

const char *record_break_name(enum record_break b)
{
	if ((unsigned)b > RECORD_BREAK_SEQ)
		return "unknown";
	return record_break_names[b];
}

char *record_format_ts(int64_t ms, char buf[RECORD_TS_MAX])
{
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;
	char date[24];

	if (frac < 0) {
		frac += 1000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, RECORD_TS_MAX, "%s.%03dZ", date, frac);
	return buf;
}

static int record_parse_age(const char *str, int64_t now_ms, int64_t *ms)
{
	static const struct {
		char unit;
		int64_t ms;
	} units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
	char *end;
	unsigned long long n;

	if (str[0] < '0' || str[0] > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(str, &end, 10);
	if (errno != 0 || end[0] == '\0' || end[1] != '\0' || n > INT64_MAX / 86400000)
		return -EINVAL;
	for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
		if (units[i].unit == end[0]) {
			*ms = now_ms - (int64_t)n * units[i].ms;
			return 0;
		}
	}
	return -EINVAL;
}

static bool record_is_date(const char *str)
{
	return strlen(str) == 10 && g_ascii_isdigit(str[0]) && str[4] == '-' && str[7] == '-';
}

int record_parse_time(const char *str, int64_t now_ms, int64_t *ms, char **err)
{
	GDateTime *dt;
	char *full = NULL;

	if (record_parse_age(str, now_ms, ms) == 0)
		return 0;
	if (record_is_date(str))
		full = g_strconcat(str, "T00:00:00Z", NULL);
	dt = g_date_time_new_from_iso8601(full != NULL ? full : str, NULL);
	g_free(full);
	if (dt == NULL)
		return err_ret(err, -EINVAL,
		               "time '%s': expected RFC 3339 (2026-11-24T14:03:05Z), a date "
		               "(2026-11-24) or an age (90s, 15m, 2h, 7d)",
		               str);
	*ms = g_date_time_to_unix(dt) * 1000 + g_date_time_get_microsecond(dt) / 1000;
	g_date_time_unref(dt);
	return 0;
}

static struct json_object *record_mem_json(size_t n, const struct record_node_mem *mem)
{
	struct json_object *obj;
	char key[16];

	if (n == 0 || mem == NULL)
		return NULL;
	obj = json_object_new_object();
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%u", mem[i].node);
		json_object_object_add(obj, key, json_object_new_uint64(mem[i].kib));
	}
	return obj;
}

static struct json_object *record_actor_json(const struct record_actor *a)
{
	struct json_object *obj;

	if (a->kind != RECORD_ACTOR_CLIENT)
		return json_object_new_string(record_actor_names[a->kind]);
	obj = json_object_new_object();
	json_object_object_add(obj, "uid", json_object_new_int64(a->uid));
	json_object_object_add(obj, "gid", json_object_new_int64(a->gid));
	json_object_object_add(obj, "pid", json_object_new_int64(a->pid));
	json_object_object_add(obj, "comm", json_object_new_string(a->comm ? a->comm : ""));
	return obj;
}

static struct json_object *record_string_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static bool record_is_common_key(const char *key)
{
	for (size_t i = 0; i < G_N_ELEMENTS(record_common_keys); i++) {
		if (strcmp(key, record_common_keys[i]) == 0)
			return true;
	}
	return false;
}

static int record_check(const struct record *r, char **err)
{
	if (record_event_name(r->event) == NULL)
		return err_ret(err, -EINVAL, "record: event %d out of range", (int)r->event);
	if (record_result_name(r->result) == NULL)
		return err_ret(err, -EINVAL, "record: result %d out of range", (int)r->result);
	if ((unsigned)r->actor.kind > RECORD_ACTOR_AGENT)
		return err_ret(err, -EINVAL, "record: actor kind %d out of range",
		               (int)r->actor.kind);
	if (r->extra == NULL)
		return 0;
	if (!json_object_is_type(r->extra, json_type_object))
		return err_ret(err, -EINVAL, "record: extra fields are not a JSON object");
	json_object_object_foreach(r->extra, key, val)
	{
		(void)val;
		if (record_is_common_key(key))
			return err_ret(err, -EINVAL, "record: extra field '%s' is a common field",
			               key);
	}
	return 0;
}

int record_to_json(const struct record *r, int64_t ts_ms, uint64_t seq, struct json_object **out,
                   char **err)
{
	struct json_object *obj;
	char ts[RECORD_TS_MAX];
	int rc = record_check(r, err);

	if (rc < 0)
		return rc;
	obj = json_object_new_object();
	json_object_object_add(obj, "ts", json_object_new_string(record_format_ts(ts_ms, ts)));
	json_object_object_add(obj, "seq", json_object_new_uint64(seq));
	json_object_object_add(obj, "event", json_object_new_string(record_event_name(r->event)));
	json_object_object_add(obj, "domain", record_string_or_null(r->domain));
	json_object_object_add(obj, "uuid", record_string_or_null(r->uuid));
	json_object_object_add(obj, "request", record_string_or_null(r->request));
	json_object_object_add(obj, "actor", record_actor_json(&r->actor));
	json_object_object_add(obj, "result",
	                       json_object_new_string(record_result_name(r->result)));
	if (r->error != NULL)
		json_object_object_add(obj, "error", json_object_new_string(r->error));
	json_object_object_add(obj, "before", record_mem_json(r->n_before, r->before));
	json_object_object_add(obj, "after", record_mem_json(r->n_after, r->after));
	if (r->extra != NULL) {
		json_object_object_foreach(r->extra, key, val)
		        json_object_object_add(obj, key, json_object_get(val));
	}
	*out = obj;
	return 0;
}

/* The canonical text of `rec` without "hash"; caller frees. */
static char *record_canonical(struct json_object *rec)
{
	struct json_object *copy = NULL;
	char *text;

	if (json_object_deep_copy(rec, &copy, NULL) != 0)
		return NULL;
	json_object_object_del(copy, "hash");
	text = strdup(json_object_to_json_string_ext(copy, RECORD_JSON_FLAGS));
	json_object_put(copy);
	return text;
}

int record_hash(struct json_object *rec, char hex[RECORD_HASH_HEX + 1])
{
	char *text = record_canonical(rec);
	gchar *sum;

	if (text == NULL)
		return -ENOMEM;
	sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
	g_strlcpy(hex, sum, RECORD_HASH_HEX + 1);
	g_free(sum);
	free(text);
	return 0;
}

int record_seal(struct json_object *rec, const char *prev_hash, char **line, char **err)
{
	char hex[RECORD_HASH_HEX + 1];
	int rc;

	json_object_object_del(rec, "hash");
	json_object_object_add(rec, "prev",
	                       json_object_new_string(prev_hash ? prev_hash : RECORD_GENESIS));
	rc = record_hash(rec, hex);
	if (rc < 0)
		return err_ret(err, rc, "record: cannot hash");
	json_object_object_add(rec, "hash", json_object_new_string(hex));
	if (asprintf(line, "%s\n", json_object_to_json_string_ext(rec, RECORD_JSON_FLAGS)) < 0)
		return err_ret(err, -ENOMEM, "record: out of memory");
	return 0;
}

static bool record_has(struct json_object *rec, const char *key, enum json_type type)
{
	struct json_object *val;

	return json_object_object_get_ex(rec, key, &val) && json_object_is_type(val, type);
}

int record_parse_line(const char *line, size_t len, struct json_object **out, char **err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	size_t used;

	if (tok == NULL)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, line, (int)len);
	used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (obj == NULL || used != len) {
		json_object_put(obj);
		return err_ret(err, -EBADMSG, "not one JSON value");
	}
	if (!json_object_is_type(obj, json_type_object) || !record_has(obj, "seq", json_type_int) ||
	    !record_has(obj, "ts", json_type_string) ||
	    !record_has(obj, "event", json_type_string) ||
	    !record_has(obj, "hash", json_type_string)) {
		json_object_put(obj);
		return err_ret(err, -EBADMSG, "not a record (seq, ts, event or hash missing)");
	}
	*out = obj;
	return 0;
}

uint64_t record_seq(struct json_object *rec)
{
	struct json_object *val;

	if (!json_object_object_get_ex(rec, "seq", &val))
		return 0;
	return json_object_get_uint64(val);
}

const char *record_str(struct json_object *rec, const char *key)
{
	struct json_object *val;

	if (!json_object_object_get_ex(rec, key, &val) ||
	    !json_object_is_type(val, json_type_string))
		return NULL;
	return json_object_get_string(val);
}

bool record_scope(struct json_object *rec, bool *live, bool *config)
{
	struct json_object *l, *c;

	if (!json_object_object_get_ex(rec, "live", &l) ||
	    !json_object_is_type(l, json_type_boolean) ||
	    !json_object_object_get_ex(rec, "config", &c) ||
	    !json_object_is_type(c, json_type_boolean))
		return false;
	*live = json_object_get_boolean(l);
	*config = json_object_get_boolean(c);
	return true;
}

int record_ts_ms(struct json_object *rec, int64_t *ms)
{
	const char *ts = record_str(rec, "ts");

	if (ts == NULL)
		return -ENOENT;
	return record_parse_time(ts, 0, ms, NULL);
}

static bool record_is_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* K when `name` is "<base>.K" with K a decimal number from 1, else 0. */
static unsigned record_rotation_index(const char *name, const char *base)
{
	size_t len = strlen(base);
	unsigned long k;
	char *end;

	if (strncmp(name, base, len) != 0 || name[len] != '.' || name[len + 1] < '1' ||
	    name[len + 1] > '9')
		return 0;
	k = strtoul(name + len + 1, &end, 10);
	return *end == '\0' && k <= RECORD_MAX_FILES ? (unsigned)k : 0;
}

static gint record_index_cmp_desc(gconstpointer a, gconstpointer b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Lists the directory rather than counting up path.1, path.2, ... so that
 * a gap (a crash in the middle of a rotation) hides no older file.
 */
int record_log_files(const char *path, char ***files, size_t *n, char **err)
{
	char *dir = g_path_get_dirname(path), *base = g_path_get_basename(path);
	GArray *idx = g_array_new(FALSE, FALSE, sizeof(unsigned));
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;
	char *full;

	*n = 0;
	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		unsigned k = record_rotation_index(name, base);

		full = g_strdup_printf("%s.%u", path, k);
		if (k > 0 && record_is_regular(full))
			g_array_append_val(idx, k);
		g_free(full);
	}
	g_array_sort(idx, record_index_cmp_desc);
	*files = calloc(idx->len + 2, sizeof(char *));
	for (guint i = 0; *files != NULL && i < idx->len; i++) {
		if (asprintf(&(*files)[(*n)++], "%s.%u", path, g_array_index(idx, unsigned, i)) < 0)
			(*files)[--(*n)] = NULL;
	}
	/* Only regular files: a log pointed at a device has nothing to read. */
	if (*files != NULL && record_is_regular(path))
		(*files)[(*n)++] = strdup(path);
	if (d != NULL)
		g_dir_close(d);
	g_array_free(idx, TRUE);
	g_free(dir);
	g_free(base);
	if (*files == NULL)
		return err_ret(err, -ENOMEM, "%s: out of memory", path);
	return 0;
}

void record_files_free(char **files, size_t n)
{
	if (files == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

/* Opens a file to read records from; NULL with errno set when it is not a
 * regular file, whose end (a device, a pipe) may never come. */
static FILE *record_fopen(const char *path)
{
	FILE *fp = fopen(path, "r");
	struct stat st;

	if (fp == NULL)
		return NULL;
	if (fstat(fileno(fp), &st) == 0 && !S_ISREG(st.st_mode)) {
		fclose(fp);
		errno = EINVAL;
		return NULL;
	}
	return fp;
}

struct record_reader {
	char *const *files;
	size_t n_files;
	size_t cur; /* index of the open file */
	FILE *fp;
	unsigned long line;
	size_t skipped;
	char *buf;
	size_t cap;
};

struct record_reader *record_reader_new(char *const *files, size_t n)
{
	struct record_reader *rd = calloc(1, sizeof(*rd));

	if (rd == NULL)
		return NULL;
	rd->files = files;
	rd->n_files = n;
	return rd;
}

/* Reads the next line of the current file into rd->buf; 1, 0 at the end of
 * the file, or a negative errno. A last line without newline is torn. */
static int record_reader_line_next(struct record_reader *rd, ssize_t *len, bool *torn)
{
	*len = getline(&rd->buf, &rd->cap, rd->fp);
	if (*len < 0)
		return ferror(rd->fp) ? -EIO : 0;
	rd->line++;
	*torn = rd->buf[*len - 1] != '\n';
	if (!*torn)
		rd->buf[--*len] = '\0';
	return 1;
}

static int record_reader_advance(struct record_reader *rd)
{
	if (rd->fp != NULL) {
		fclose(rd->fp);
		rd->fp = NULL;
		rd->cur++;
	}
	if (rd->cur >= rd->n_files)
		return 0;
	rd->fp = record_fopen(rd->files[rd->cur]);
	rd->line = 0;
	return rd->fp != NULL ? 1 : -errno;
}

int record_reader_next(struct record_reader *rd, struct json_object **rec)
{
	ssize_t len;
	bool torn;
	int rc;

	for (;;) {
		if (rd->fp == NULL && (rc = record_reader_advance(rd)) <= 0)
			return rc;
		rc = record_reader_line_next(rd, &len, &torn);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if ((rc = record_reader_advance(rd)) <= 0)
				return rc;
			continue;
		}
		if (!torn && record_parse_line(rd->buf, (size_t)len, rec, NULL) == 0)
			return 1;
		rd->skipped++;
	}
}

size_t record_reader_skipped(const struct record_reader *rd)
{
	return rd->skipped;
}

const char *record_reader_file(const struct record_reader *rd)
{
	return rd->cur < rd->n_files ? rd->files[rd->cur] : NULL;
}

void record_reader_free(struct record_reader *rd)
{
	if (rd == NULL)
		return;
	if (rd->fp != NULL)
		fclose(rd->fp);
	free(rd->buf);
	free(rd);
}

static bool record_str_is(struct json_object *rec, const char *key, const char *want)
{
	const char *have = record_str(rec, key);

	return have != NULL && strcmp(have, want) == 0;
}

bool record_filter_match(const struct record_filter *f, struct json_object *rec)
{
	int64_t ms;

	if (f->domain != NULL && !record_str_is(rec, "domain", f->domain) &&
	    !record_str_is(rec, "uuid", f->domain))
		return false;
	if (f->event != NULL && !record_str_is(rec, "event", f->event))
		return false;
	if (f->request != NULL && !record_str_is(rec, "request", f->request))
		return false;
	if (!f->has_since && !f->has_until)
		return true;
	if (record_ts_ms(rec, &ms) < 0)
		return false;
	if (f->has_since && ms < f->since_ms)
		return false;
	return !f->has_until || ms < f->until_ms;
}

/* "256MiB": a size in KiB as people read it, one word so lines split on spaces. */
static void record_text_size(GString *s, struct json_object *kib)
{
	char buf[SIZE_FORMAT_MAX], *sp;

	if (!json_object_is_type(kib, json_type_int)) {
		g_string_append(s, json_object_to_json_string_ext(kib, RECORD_JSON_FLAGS));
		return;
	}
	size_format(json_object_get_uint64(kib), buf, sizeof(buf));
	if ((sp = strchr(buf, ' ')) != NULL)
		memmove(sp, sp + 1, strlen(sp));
	g_string_append(s, json_object_get_uint64(kib) == 0 ? "0" : buf);
}

static void record_text_mem(GString *s, const char *label, struct json_object *mem)
{
	const char *sep = "";

	if (mem == NULL || !json_object_is_type(mem, json_type_object))
		return;
	g_string_append_printf(s, " %s=", label);
	json_object_object_foreach(mem, node, kib)
	{
		g_string_append_printf(s, "%s%s:", sep, node);
		record_text_size(s, kib);
		sep = ",";
	}
}

static bool record_text_empty(struct json_object *v)
{
	return v == NULL ||
	       (json_object_is_type(v, json_type_string) && !*json_object_get_string(v)) ||
	       (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0);
}

/* A list of devices as "node:size" pairs; other lists of objects by count. */
static void record_text_list(GString *s, struct json_object *arr)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *x = json_object_array_get_idx(arr, i), *node, *kib;

		if (!json_object_object_get_ex(x, "node", &node) ||
		    !json_object_object_get_ex(x, "size_kib", &kib)) {
			g_string_append_printf(s, "%zu items", json_object_array_length(arr));
			return;
		}
		g_string_append_printf(s, "%s%s:", i ? "," : "", json_object_get_string(node));
		record_text_size(s, kib);
	}
}

/*
 * One event-specific field: sizes (keys ending in _kib) in units without the
 * suffix, device lists as node:size, nested objects one level deep as
 * key.sub=value; nulls and empty values left out. --json has it all.
 */
static void record_text_field(GString *s, const char *prefix, const char *key,
                              struct json_object *v)
{
	size_t len = strlen(key);
	bool sized = len > 4 && strcmp(key + len - 4, "_kib") == 0;

	if (record_text_empty(v))
		return;
	if (json_object_is_type(v, json_type_object) && *prefix == '\0') {
		json_object_object_foreach(v, sub, sv) record_text_field(s, key, sub, sv);
		return;
	}
	g_string_append_printf(s, " %s%s%.*s=", prefix, *prefix ? "." : "",
	                       (int)(sized ? len - 4 : len), key);
	if (sized && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			g_string_append(s, i ? "," : "");
			record_text_size(s, json_object_array_get_idx(v, i));
		}
	} else if (sized) {
		record_text_size(s, v);
	} else if (json_object_is_type(v, json_type_array) &&
	           json_object_is_type(json_object_array_get_idx(v, 0), json_type_object)) {
		record_text_list(s, v);
	} else {
		g_string_append(s, json_object_to_json_string_ext(v, RECORD_JSON_FLAGS));
	}
}

static void record_text_actor(GString *s, struct json_object *actor)
{
	struct json_object *uid, *comm;

	if (actor == NULL)
		return;
	if (json_object_is_type(actor, json_type_string)) {
		g_string_append_printf(s, " actor=%s", json_object_get_string(actor));
		return;
	}
	if (json_object_object_get_ex(actor, "uid", &uid) &&
	    json_object_object_get_ex(actor, "comm", &comm))
		g_string_append_printf(s, " actor=uid:%s(%s)", json_object_get_string(uid),
		                       json_object_get_string(comm));
}

static void record_text_opt(GString *s, const char *label, const char *val)
{
	if (val != NULL)
		g_string_append_printf(s, " %s=%s", label, val);
}

/* The request's scope, the `live` and `config` booleans, as one short
 * field: scope=live+config, scope=live, scope=config. */
static void record_text_scope(GString *s, struct json_object *rec)
{
	struct json_object *l = NULL, *c = NULL;
	bool live, config;

	json_object_object_get_ex(rec, "live", &l);
	json_object_object_get_ex(rec, "config", &c);
	live = l && json_object_get_boolean(l);
	config = c && json_object_get_boolean(c);
	if (l == NULL && c == NULL)
		return;
	g_string_append_printf(s, " scope=%s",
	                       live && config ? "live+config"
	                       : live         ? "live"
	                       : config       ? "config"
	                                      : "none");
}

static bool record_text_is_scope(const char *key, struct json_object *v)
{
	return (strcmp(key, "live") == 0 || strcmp(key, "config") == 0) &&
	       (v == NULL || json_object_is_type(v, json_type_boolean));
}

/* DIMM is the device model unless a record says otherwise: the text names
 * only the other one (model="virtio-mem"); --json has both. */
static bool record_text_is_default_model(const char *key, struct json_object *v)
{
	return strcmp(key, "model") == 0 && json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), "dimm") == 0;
}

char *record_format_text(struct json_object *rec)
{
	GString *s = g_string_new(NULL);
	struct json_object *val = NULL;
	char *out;

	g_string_append_printf(s, "%s #%" PRIu64 " %s %s", record_str(rec, "ts"), record_seq(rec),
	                       record_str(rec, "event"),
	                       record_str(rec, "result") ? record_str(rec, "result") : "-");
	record_text_opt(s, "dom", record_str(rec, "domain"));
	record_text_opt(s, "req", record_str(rec, "request"));
	json_object_object_get_ex(rec, "actor", &val);
	record_text_actor(s, val);
	json_object_object_foreach(rec, key, v)
	{
		/* a refusal's message is also its error: say it once, at the end */
		bool repeats = strcmp(key, "message") == 0 && record_str(rec, "error") &&
		               json_object_is_type(v, json_type_string) &&
		               strcmp(json_object_get_string(v), record_str(rec, "error")) == 0;

		if (!record_is_common_key(key) && !repeats && !record_text_is_scope(key, v) &&
		    !record_text_is_default_model(key, v))
			record_text_field(s, "", key, v);
	}
	record_text_scope(s, rec);
	json_object_object_get_ex(rec, "before", &val);
	record_text_mem(s, "before", val);
	json_object_object_get_ex(rec, "after", &val);
	record_text_mem(s, "after", val);
	record_text_opt(s, "error", record_str(rec, "error"));
	out = strdup(s->str);
	g_string_free(s, TRUE);
	return out;
}

/* The state of a chain walk. */
struct record_chain {
	struct record_verify_result *res;
	char prev[RECORD_HASH_HEX + 1];
	uint64_t prev_seq;
};

static void record_chain_break(struct record_chain *ch, enum record_break why, const char *file,
                               unsigned long line, uint64_t seq, const char *detail)
{
	ch->res->reason = why;
	ch->res->file = strdup(file);
	ch->res->line = line;
	ch->res->seq = seq;
	ch->res->detail = strdup(detail);
}

/* Checks one complete line; false when it breaks the chain. */
static bool record_chain_step(struct record_chain *ch, const char *file, unsigned long lineno,
                              const char *line, size_t len)
{
	struct json_object *rec = NULL;
	char hex[RECORD_HASH_HEX + 1], *err = NULL, detail[256];
	const char *prev;
	uint64_t seq;
	bool ok = false;

	if (record_parse_line(line, len, &rec, &err) < 0) {
		record_chain_break(ch, RECORD_BREAK_UNPARSABLE, file, lineno, 0, err);
		free(err);
		return false;
	}
	seq = record_seq(rec);
	prev = record_str(rec, "prev");
	if (strcmp(json_object_to_json_string_ext(rec, RECORD_JSON_FLAGS), line) != 0) {
		record_chain_break(ch, RECORD_BREAK_NOT_CANONICAL, file, lineno, seq,
		                   "the line differs from its canonical serialization");
	} else if (record_hash(rec, hex) < 0 || strcmp(hex, record_str(rec, "hash")) != 0) {
		record_chain_break(ch, RECORD_BREAK_HASH, file, lineno, seq,
		                   "the content does not match its hash");
	} else if (ch->res->records > 0 && seq != ch->prev_seq + 1) {
		snprintf(detail, sizeof(detail), "seq %" PRIu64 " follows %" PRIu64, seq,
		         ch->prev_seq);
		record_chain_break(ch, RECORD_BREAK_SEQ, file, lineno, seq, detail);
	} else if (prev == NULL || (ch->res->records > 0 && strcmp(prev, ch->prev) != 0) ||
	           (ch->res->records == 0 && seq == 1 && strcmp(prev, RECORD_GENESIS) != 0)) {
		record_chain_break(ch, RECORD_BREAK_PREV, file, lineno, seq,
		                   "prev is not the hash of the previous record");
	} else {
		if (ch->res->records++ == 0)
			ch->res->first_seq = seq;
		ch->res->last_seq = ch->prev_seq = seq;
		g_strlcpy(ch->prev, hex, sizeof(ch->prev));
		ok = true;
	}
	json_object_put(rec);
	return ok;
}

/* Walks one file; 1 to go on, 0 after a break, or a negative errno. */
static int record_verify_file(struct record_chain *ch, const char *file, bool newest)
{
	FILE *fp = record_fopen(file);
	char *buf = NULL;
	size_t cap = 0;
	unsigned long lineno = 0;
	ssize_t len;
	int rc = 1;

	if (fp == NULL)
		return -errno;
	while (rc == 1 && (len = getline(&buf, &cap, fp)) > 0) {
		lineno++;
		if (buf[len - 1] != '\n' && newest) {
			ch->res->torn_tail = true;
			break;
		}
		if (buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (!record_chain_step(ch, file, lineno, buf, (size_t)len))
			rc = 0;
	}
	if (rc == 1 && ferror(fp))
		rc = -EIO;
	free(buf);
	fclose(fp);
	return rc;
}

int record_verify(char *const *files, size_t n, struct record_verify_result *res, char **err)
{
	struct record_chain ch = {.res = res};
	int rc = 1;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < n && rc == 1; i++) {
		rc = record_verify_file(&ch, files[i], i + 1 == n);
		if (rc < 0)
			return err_ret(err, rc, "%s: %s", files[i], strerror(-rc));
	}
	return 0;
}

void record_verify_result_clear(struct record_verify_result *res)
{
	free(res->file);
	free(res->detail);
	memset(res, 0, sizeof(*res));
}

/* Drops from `pending` the intents with `request`; with `seq` non-zero only
 * the one with that seq (a reconciled record settles one intent). */
static void record_close_intent(struct json_object *pending, const char *request, uint64_t seq)
{
	for (size_t i = json_object_array_length(pending); i-- > 0;) {
		struct json_object *intent = json_object_array_get_idx(pending, i);

		if (record_str_is(intent, "request", request) &&
		    (seq == 0 || record_seq(intent) == seq))
			json_object_array_del_idx(pending, i, 1);
	}
}

/* Whether `rec` settles intents of its request: an outcome, except a
 * pending one (the guest has not answered: a restart must still look) or an
 * unknown one (a call lost its connection and libvirt did not come back to
 * say whether it took effect: the next reconcile looks), or a
 * reconciled record that is not still watching (*seq: the one intent it
 * settles, 0 for all). */
static bool record_closes(struct json_object *rec, const char *event, uint64_t *seq)
{
	struct json_object *v;

	*seq = 0;
	if (strcmp(event, "outcome") == 0)
		return !record_str_is(rec, "result", "pending") &&
		       !record_str_is(rec, "result", "unknown");
	if (strcmp(event, "reconciled") != 0)
		return false;
	/* Still waiting for the guest: if memplugd stops before it answers,
	 * the next start looks again. */
	if (record_str_is(rec, "action", "watching"))
		return false;
	if (json_object_object_get_ex(rec, "intent_seq", &v))
		*seq = json_object_get_uint64(v);
	return true;
}

int record_pending_intents(char *const *files, size_t n, struct json_object **out, char **err)
{
	struct record_reader *rd = record_reader_new(files, n);
	struct json_object *pending = json_object_new_array(), *rec;
	const char *event, *request;
	uint64_t seq;
	int rc;

	if (rd == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	while ((rc = record_reader_next(rd, &rec)) == 1) {
		event = record_str(rec, "event");
		request = record_str(rec, "request");
		if (request != NULL && strcmp(event, "intent") == 0) {
			json_object_array_add(pending, rec);
			continue;
		}
		if (request != NULL && record_closes(rec, event, &seq))
			record_close_intent(pending, request, seq);
		json_object_put(rec);
	}
	if (rc < 0) {
		err_set(err, "%s: %s", record_reader_file(rd), strerror(-rc));
		json_object_put(pending);
	} else {
		*out = pending;
	}
	record_reader_free(rd);
	return rc;
}

/* "event 'bogus' is not an audit event: use agent_start, ..., log_repaired" */
static int record_refuse_event(const char *event, char **err)
{
	GString *names = g_string_new(NULL);
	int rc;

	for (unsigned i = 0; i < RECORD_EVENT_COUNT; i++)
		g_string_append_printf(names, "%s%s", i ? ", " : "", record_event_names[i]);
	rc = err_ret(err, -EINVAL, "event '%s' is not an audit event: use one of %s", event,
	             names->str);
	g_string_free(names, TRUE);
	return rc;
}

int record_filter_from_args(json_object *args, int64_t now_ms, struct record_filter *f, char **err)
{
	const char *since = record_str(args, "since"), *until = record_str(args, "until");
	enum record_event ev;

	*f = (struct record_filter){.domain = record_str(args, "domain"),
	                            .event = record_str(args, "event"),
	                            .request = record_str(args, "request"),
	                            .has_since = since != NULL,
	                            .has_until = until != NULL};
	/* a misspelt event would match nothing and look like an empty log */
	if (f->event && record_event_parse(f->event, &ev) < 0)
		return record_refuse_event(f->event, err);
	if (since && record_parse_time(since, now_ms, &f->since_ms, err) < 0)
		return -EINVAL;
	if (until && record_parse_time(until, now_ms, &f->until_ms, err) < 0)
		return -EINVAL;
	return 0;
}

json_object *record_query(char *const *files, size_t n, const struct record_filter *f, size_t limit,
                          uint64_t *last_seq)
{
	struct record_reader *rd = record_reader_new(files, n);
	json_object *recs = json_object_new_array(), *rec, *data;

	while (rd && record_reader_next(rd, &rec) > 0) {
		if (last_seq)
			*last_seq = record_seq(rec);
		if (!record_filter_match(f, rec)) {
			json_object_put(rec);
			continue;
		}
		json_object_array_add(recs, rec);
		if (limit && json_object_array_length(recs) > limit)
			json_object_array_del_idx(recs, 0, 1);
	}
	data = json_object_new_object();
	json_object_object_add(data, "records", recs);
	json_object_object_add(data, "skipped",
	                       json_object_new_int((int)(rd ? record_reader_skipped(rd) : 0)));
	record_reader_free(rd);
	return data;
}
