/*
 * Unit tests for common/record.c: the record format and canonical form,
 * time parsing, the hash chain and its verification (edited, deleted,
 * reordered lines), reading across files with torn lines, filters, the
 * pending-intent scan and the text rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "record.h"

#define T0 INT64_C(1795528985123) /* 2026-11-24T14:03:05.123Z */

static const struct record_node_mem mem_before[] = {{0, 1048576}, {1, 524288}};
static const struct record_node_mem mem_after[] = {{0, 1310720}, {1, 524288}};

/* --- helpers ------------------------------------------------------------ */

static char *tmpdir_new(void)
{
	char *dir = g_dir_make_tmp("test-record-XXXXXX", NULL);

	assert_non_null(dir);
	return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void tmpdir_free(char *dir)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	g_free(dir);
}

/* A sealed line for `r` at seq, chained to *prev (updated). Caller frees. */
static char *line_make(const struct record *r, uint64_t seq, char prev[RECORD_HASH_HEX + 1])
{
	struct json_object *obj = NULL;
	char *line = NULL, *err = NULL;

	assert_int_equal(record_to_json(r, T0 + (int64_t)seq * 1000, seq, &obj, &err), 0);
	assert_int_equal(record_seal(obj, prev[0] ? prev : NULL, &line, &err), 0);
	g_strlcpy(prev, json_object_get_string(json_object_object_get(obj, "hash")),
	          RECORD_HASH_HEX + 1);
	json_object_put(obj);
	assert_null(err);
	return line;
}

static struct record rec_simple(enum record_event ev, const char *dom, const char *req)
{
	struct record r = {.event = ev, .domain = dom, .uuid = "u-1", .request = req};

	r.actor.kind = RECORD_ACTOR_POLICY;
	r.result = RECORD_OK;
	return r;
}

/* Writes n chained records (events cycle through a few) to lines[]. */
static void chain_make(char **lines, size_t n)
{
	static const enum record_event evs[] = {RECORD_REQUEST, RECORD_INTENT, RECORD_ATTACH,
	                                        RECORD_DEVICE_ADDED, RECORD_OUTCOME};
	char prev[RECORD_HASH_HEX + 1] = "";

	for (size_t i = 0; i < n; i++) {
		struct record r = rec_simple(evs[i % G_N_ELEMENTS(evs)], "vm1", "r1");

		lines[i] = line_make(&r, i + 1, prev);
	}
}

static void file_write(const char *path, char *const *lines, size_t n, const char *tail)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	for (size_t i = 0; i < n; i++)
		fputs(lines[i], fp);
	if (tail != NULL)
		fputs(tail, fp);
	fclose(fp);
}

static void lines_free(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
}

/* --- names and time ----------------------------------------------------- */

static void test_event_names(void **state)
{
	for (unsigned i = 0; i < RECORD_EVENT_COUNT; i++) {
		enum record_event e;

		assert_non_null(record_event_name(i));
		assert_int_equal(record_event_parse(record_event_name(i), &e), 0);
		assert_int_equal(e, i);
	}
	assert_null(record_event_name(RECORD_EVENT_COUNT));
	assert_int_equal(record_event_parse("grow", &(enum record_event){0}), -EINVAL);
	assert_string_equal(record_event_name(RECORD_DEVICE_REMOVAL_FAILED),
	                    "device_removal_failed");
}

static void test_format_ts(void **state)
{
	static const struct {
		const char *what;
		int64_t ms;
		const char *expected;
	} cases[] = {
	        {"epoch", 0, "1970-01-01T00:00:00.000Z"},
	        {"example", T0, "2026-11-24T14:03:05.123Z"},
	        {"ms padding", T0 - 116, "2026-11-24T14:03:05.007Z"},
	        {"before epoch", -1, "1969-12-31T23:59:59.999Z"},
	};
	char buf[RECORD_TS_MAX];

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		print_message("%s\n", cases[i].what);
		assert_string_equal(record_format_ts(cases[i].ms, buf), cases[i].expected);
	}
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *what, *input;
		int rc;
		int64_t expected;
	} cases[] = {
	        {"rfc3339 ms", "2026-11-24T14:03:05.123Z", 0, T0},
	        {"rfc3339 offset", "2026-11-24T15:03:05.123+01:00", 0, T0},
	        {"rfc3339 no fraction", "2026-11-24T14:03:05Z", 0, T0 - 123},
	        {"date", "2026-11-24", 0, T0 - 50585123},
	        {"seconds ago", "90s", 0, T0 - 90000},
	        {"minutes ago", "15m", 0, T0 - 900000},
	        {"hours ago", "2h", 0, T0 - 7200000},
	        {"days ago", "7d", 0, T0 - 604800000},
	        {"no zone", "2026-11-24T14:03:05", -EINVAL, 0},
	        {"bad unit", "3w", -EINVAL, 0},
	        {"garbage", "yesterday", -EINVAL, 0},
	        {"empty", "", -EINVAL, 0},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		int64_t ms = 0;
		char *err = NULL;

		print_message("%s\n", cases[i].what);
		assert_int_equal(record_parse_time(cases[i].input, T0, &ms, &err), cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(ms, cases[i].expected);
		else
			assert_non_null(strstr(err, cases[i].input));
		free(err);
	}
}

/* --- format -------------------------------------------------------------- */

static void keys_expect(struct json_object *obj, const char *const *keys, size_t n)
{
	size_t i = 0;

	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		assert_true(i < n);
		assert_string_equal(key, keys[i]);
		i++;
	}
	assert_int_equal(i, n);
}

static void test_format_fields(void **state)
{
	static const char *const keys[] = {
	        "ts",    "seq",    "event", "domain", "uuid",     "request", "actor", "result",
	        "error", "before", "after", "node",   "size_kib", "alias",   "prev",  "hash"};
	struct json_object *extra = json_object_new_object(), *obj = NULL, *parsed = NULL, *v;
	struct record r = rec_simple(RECORD_ATTACH, "vm1", "r7");
	char prev[RECORD_HASH_HEX + 1] = "", *line, *err = NULL;
	regex_t re;

	r.actor = (struct record_actor){RECORD_ACTOR_CLIENT, 1000, 1001, 4242, "virsh"};
	r.result = RECORD_FAILED;
	r.error = "slot exhausted";
	r.n_before = r.n_after = 2;
	r.before = mem_before;
	r.after = mem_after;
	json_object_object_add(extra, "node", json_object_new_int(0));
	json_object_object_add(extra, "size_kib", json_object_new_int64(262144));
	json_object_object_add(extra, "alias", json_object_new_string("dimm3"));
	r.extra = extra;
	line = line_make(&r, 42, prev);
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_int_equal(record_parse_line(line, strlen(line) - 1, &parsed, &err), 0);
	keys_expect(parsed, keys, G_N_ELEMENTS(keys));
	assert_int_equal(regcomp(&re,
	                         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
	                         "[0-9]{3}Z$",
	                         REG_EXTENDED),
	                 0);
	assert_int_equal(regexec(&re, record_str(parsed, "ts"), 0, NULL, 0), 0);
	regfree(&re);
	assert_int_equal(record_seq(parsed), 42);
	assert_string_equal(record_str(parsed, "prev"), RECORD_GENESIS);
	assert_string_equal(record_str(parsed, "result"), "failed");
	v = json_object_object_get(parsed, "actor");
	assert_int_equal(json_object_get_int(json_object_object_get(v, "uid")), 1000);
	assert_int_equal(json_object_get_int(json_object_object_get(v, "pid")), 4242);
	assert_string_equal(record_str(v, "comm"), "virsh");
	v = json_object_object_get(parsed, "after");
	assert_int_equal(json_object_get_int64(json_object_object_get(v, "0")), 1310720);
	json_object_put(parsed);
	json_object_put(obj);
	json_object_put(extra);
	free(line);
}

static void test_format_optional_null(void **state)
{
	static const char *const keys[] = {"ts",    "seq",    "event",  "domain", "uuid", "request",
	                                   "actor", "result", "before", "after",  "prev", "hash"};
	struct record r = {.event = RECORD_AGENT_START, .actor.kind = RECORD_ACTOR_AGENT};
	struct json_object *parsed = NULL, *v = NULL;
	char prev[RECORD_HASH_HEX + 1] = "", *line;

	line = line_make(&r, 1, prev);
	assert_int_equal(record_parse_line(line, strlen(line) - 1, &parsed, NULL), 0);
	keys_expect(parsed, keys, G_N_ELEMENTS(keys));
	assert_true(json_object_object_get_ex(parsed, "domain", &v));
	assert_null(v);
	assert_string_equal(record_str(parsed, "actor"), "agent");
	json_object_put(parsed);
	free(line);
}

static void test_format_refused(void **state)
{
	static const struct {
		const char *what;
		enum record_event event;
		enum record_result result;
		const char *extra_key;
		const char *in_err;
	} cases[] = {
	        {"event out of range", RECORD_EVENT_COUNT, RECORD_OK, NULL, "event"},
	        {"result out of range", RECORD_ATTACH, RECORD_RESULT_COUNT, NULL, "result"},
	        {"extra reuses seq", RECORD_ATTACH, RECORD_OK, "seq", "'seq'"},
	        {"extra reuses hash", RECORD_ATTACH, RECORD_OK, "hash", "'hash'"},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct record r = rec_simple(cases[i].event, "vm1", "r1");
		struct json_object *obj = NULL, *extra = json_object_new_object();
		char *err = NULL;

		print_message("%s\n", cases[i].what);
		r.result = cases[i].result;
		if (cases[i].extra_key != NULL) {
			json_object_object_add(extra, cases[i].extra_key, json_object_new_int(1));
			r.extra = extra;
		}
		assert_int_equal(record_to_json(&r, T0, 1, &obj, &err), -EINVAL);
		assert_null(obj);
		assert_non_null(strstr(err, cases[i].in_err));
		free(err);
		json_object_put(extra);
	}
}

/* Parse -> reserialize must give the written line back, byte for byte. */
static void test_canonical_stable(void **state)
{
	static const char *const domains[] = {"plain", "caf\xc3\xa9/vm\t\"q\"\\", "\x01ctl",
	                                      "a\xe2\x80\xa8"
	                                      "b"};
	char prev[RECORD_HASH_HEX + 1] = "";

	for (size_t i = 0; i < G_N_ELEMENTS(domains); i++) {
		struct json_object *extra = json_object_new_object(), *parsed = NULL;
		struct record r = rec_simple(RECORD_POLICY_DECISION, domains[i], "r1");
		char hex[RECORD_HASH_HEX + 1], *line;
		size_t len;

		json_object_object_add(extra, "threshold", json_object_new_double(0.8));
		json_object_object_add(extra, "delta_kib", json_object_new_int64(-131072));
		json_object_object_add(extra, "host_nodes", json_object_new_array());
		r.extra = extra;
		line = line_make(&r, i + 1, prev);
		len = strlen(line) - 1;
		assert_int_equal(record_parse_line(line, len, &parsed, NULL), 0);
		assert_string_equal(record_str(parsed, "domain"), domains[i]);
		assert_memory_equal(
		        json_object_to_json_string_ext(
		                parsed, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
		        line, len);
		assert_int_equal(record_hash(parsed, hex), 0);
		assert_string_equal(hex, record_str(parsed, "hash"));
		json_object_put(parsed);
		json_object_put(extra);
		free(line);
	}
}

static void test_parse_line_refused(void **state)
{
	static const struct {
		const char *what, *line;
	} cases[] = {
	        {"empty", ""},
	        {"torn", "{\"ts\":\"2026-11-24T14:03:05.123Z\",\"seq\":1,\"ev"},
	        {"array", "[1,2]"},
	        {"no hash", "{\"ts\":\"x\",\"seq\":1,\"event\":\"attach\"}"},
	        {"seq is a string", "{\"ts\":\"x\",\"seq\":\"1\",\"event\":\"a\",\"hash\":\"h\"}"},
	        {"trailing garbage", "{\"ts\":\"x\",\"seq\":1,\"event\":\"a\",\"hash\":\"h\"} x"},
	        {"two objects", "{\"ts\":\"x\",\"seq\":1,\"event\":\"a\",\"hash\":\"h\"}{}"},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct json_object *obj = NULL;
		char *err = NULL;

		print_message("%s\n", cases[i].what);
		assert_int_equal(
		        record_parse_line(cases[i].line, strlen(cases[i].line), &obj, &err),
		        -EBADMSG);
		assert_null(obj);
		assert_non_null(err);
		free(err);
	}
}

/* --- verify -------------------------------------------------------------- */

enum damage { INTACT, EDIT, EDIT_REHASH, DELETE, SWAP, SPACE, GARBAGE, TORN, WRONG_GENESIS };

/* Applies one kind of damage to lines 3 (and 4) of a 6-record chain. */
static void chain_damage(char **lines, size_t *n, enum damage d)
{
	char prev[RECORD_HASH_HEX + 1] = "", *tmp;
	struct json_object *obj = NULL;

	switch (d) {
	case EDIT:
		tmp = strstr(lines[2], "vm1");
		tmp[2] = '2';
		break;
	case EDIT_REHASH: /* edits and rehashes line 3, leaving line 4's prev behind */
		assert_int_equal(record_parse_line(lines[2], strlen(lines[2]) - 1, &obj, NULL), 0);
		json_object_object_add(obj, "domain", json_object_new_string("vm2"));
		g_strlcpy(prev, record_str(obj, "prev"), sizeof(prev));
		free(lines[2]);
		assert_int_equal(record_seal(obj, prev, &lines[2], NULL), 0);
		json_object_put(obj);
		break;
	case DELETE:
		free(lines[2]);
		memmove(&lines[2], &lines[3], (*n - 3) * sizeof(char *));
		(*n)--;
		break;
	case SWAP:
		tmp = lines[2];
		lines[2] = lines[3];
		lines[3] = tmp;
		break;
	case SPACE:
		tmp = g_strdup_printf("{ %s", lines[2] + 1);
		free(lines[2]);
		lines[2] = strdup(tmp);
		g_free(tmp);
		break;
	case GARBAGE:
		lines[2][10] = '\0';
		tmp = g_strdup_printf("%s\n", lines[2]);
		free(lines[2]);
		lines[2] = strdup(tmp);
		g_free(tmp);
		break;
	case WRONG_GENESIS: /* a first record (seq 1) that does not start at genesis */
		free(lines[0]);
		memset(prev, 'a', RECORD_HASH_HEX);
		prev[RECORD_HASH_HEX] = '\0';
		{
			struct record r = rec_simple(RECORD_REQUEST, "vm1", "r1");
			char p2[RECORD_HASH_HEX + 1];

			g_strlcpy(p2, prev, sizeof(p2));
			lines[0] = line_make(&r, 1, p2);
		}
		break;
	default:
		break;
	}
}

static void test_verify(void **state)
{
	static const struct {
		const char *what;
		enum damage damage;
		enum record_break reason;
		unsigned long line;
		uint64_t seq;
		bool torn;
	} cases[] = {
	        {"intact", INTACT, RECORD_BREAK_NONE, 0, 0, false},
	        {"edited line", EDIT, RECORD_BREAK_HASH, 3, 3, false},
	        {"edited and rehashed line", EDIT_REHASH, RECORD_BREAK_PREV, 4, 4, false},
	        {"deleted line", DELETE, RECORD_BREAK_SEQ, 3, 4, false},
	        {"reordered pair", SWAP, RECORD_BREAK_SEQ, 3, 4, false},
	        {"added whitespace", SPACE, RECORD_BREAK_NOT_CANONICAL, 3, 3, false},
	        {"garbage line", GARBAGE, RECORD_BREAK_UNPARSABLE, 3, 0, false},
	        {"torn tail", TORN, RECORD_BREAK_NONE, 0, 0, true},
	        {"first record not at genesis", WRONG_GENESIS, RECORD_BREAK_PREV, 1, 1, false},
	};
	char *dir = tmpdir_new();
	char *path = g_build_filename(dir, "audit.jsonl", NULL);

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct record_verify_result res;
		char *lines[6], *files[] = {path};
		size_t n = 6;

		print_message("%s\n", cases[i].what);
		chain_make(lines, n);
		chain_damage(lines, &n, cases[i].damage);
		file_write(path, lines, n, cases[i].damage == TORN ? "{\"ts\":\"20" : NULL);
		assert_int_equal(record_verify(files, 1, &res, NULL), 0);
		assert_int_equal(res.reason, cases[i].reason);
		assert_int_equal(res.torn_tail, cases[i].torn);
		if (cases[i].reason != RECORD_BREAK_NONE) {
			assert_string_equal(res.file, path);
			assert_int_equal(res.line, cases[i].line);
			assert_int_equal(res.seq, cases[i].seq);
			assert_non_null(res.detail);
		} else {
			assert_int_equal(res.records, 6);
			assert_int_equal(res.first_seq, 1);
			assert_int_equal(res.last_seq, 6);
		}
		record_verify_result_clear(&res);
		lines_free(lines, n);
	}
	g_free(path);
	tmpdir_free(dir);
}

/* A chain split over rotated files holds; a file left out breaks it. */
static void test_verify_files(void **state)
{
	char *dir = tmpdir_new(), *lines[9];
	char *files[3] = {g_build_filename(dir, "a.2", NULL), g_build_filename(dir, "a.1", NULL),
	                  g_build_filename(dir, "a", NULL)};
	char *listed = NULL, **found = NULL, *base = g_build_filename(dir, "a", NULL);
	struct record_verify_result res;
	size_t n = 0;

	chain_make(lines, 9);
	for (size_t f = 0; f < 3; f++)
		file_write(files[f], lines + 3 * f, 3, NULL);
	/* names that are not rotations of "a" */
	static const char *const others[] = {"a.bak", "ab.1", "a.01", "a.1x", "a."};
	for (size_t f = 0; f < G_N_ELEMENTS(others); f++) {
		listed = g_build_filename(dir, others[f], NULL);
		file_write(listed, lines, 1, NULL);
		g_free(listed);
	}
	assert_int_equal(record_log_files(base, &found, &n, NULL), 0);
	assert_int_equal(n, 3);
	for (size_t f = 0; f < 3; f++)
		assert_string_equal(found[f], files[f]);
	assert_int_equal(record_verify(found, n, &res, NULL), 0);
	assert_int_equal(res.reason, RECORD_BREAK_NONE);
	assert_int_equal(res.last_seq, 9);
	record_verify_result_clear(&res);
	/* the oldest file dropped by rotation: the chain starts later, still whole */
	assert_int_equal(record_verify(found + 1, 2, &res, NULL), 0);
	assert_int_equal(res.reason, RECORD_BREAK_NONE);
	assert_int_equal(res.first_seq, 4);
	record_verify_result_clear(&res);
	/* the middle file missing */
	listed = found[1];
	found[1] = found[0];
	assert_int_equal(record_verify(found + 1, 2, &res, NULL), 0);
	assert_int_equal(res.reason, RECORD_BREAK_SEQ);
	assert_string_equal(res.file, files[2]);
	assert_int_equal(res.line, 1);
	found[1] = listed;
	record_verify_result_clear(&res);
	record_files_free(found, n);
	lines_free(lines, 9);
	for (size_t f = 0; f < 3; f++)
		g_free(files[f]);
	g_free(base);
	tmpdir_free(dir);
}

/* --- reading and filters ------------------------------------------------- */

static void test_reader_skips(void **state)
{
	char *dir = tmpdir_new(), *lines[4];
	char *files[2] = {g_build_filename(dir, "a.1", NULL), g_build_filename(dir, "a", NULL)};
	struct json_object *rec;
	struct record_reader *rd;
	uint64_t seqs[4], n = 0;

	chain_make(lines, 4);
	file_write(files[0], lines, 2, "garbage\n\n");
	file_write(files[1], lines + 2, 2, "{\"ts\":");
	rd = record_reader_new(files, 2);
	while (record_reader_next(rd, &rec) == 1) {
		assert_true(n < 4);
		seqs[n++] = record_seq(rec);
		json_object_put(rec);
	}
	assert_int_equal(n, 4);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], i + 1);
	assert_int_equal(record_reader_skipped(rd), 3);
	record_reader_free(rd);
	lines_free(lines, 4);
	g_free(files[0]);
	g_free(files[1]);
	tmpdir_free(dir);
}

static void test_reader_missing_file(void **state)
{
	char *files[] = {"/nonexistent/audit.jsonl"};
	struct record_reader *rd = record_reader_new(files, 1);
	struct json_object *rec = NULL;

	assert_int_equal(record_reader_next(rd, &rec), -ENOENT);
	assert_string_equal(record_reader_file(rd), files[0]);
	record_reader_free(rd);
	record_reader_free(NULL);
}

static void test_filter(void **state)
{
	static const struct {
		const char *what;
		struct record_filter f;
		bool expected;
	} cases[] = {
	        {"empty filter", {0}, true},
	        {"domain by name", {.domain = "vm1"}, true},
	        {"domain by uuid", {.domain = "u-1"}, true},
	        {"other domain", {.domain = "vm2"}, false},
	        {"event", {.event = "attach"}, true},
	        {"other event", {.event = "detach"}, false},
	        {"request", {.request = "r9"}, true},
	        {"other request", {.request = "r1"}, false},
	        {"since equal", {.has_since = true, .since_ms = T0}, true},
	        {"since after", {.has_since = true, .since_ms = T0 + 1}, false},
	        {"until after", {.has_until = true, .until_ms = T0 + 1}, true},
	        {"until equal (exclusive)", {.has_until = true, .until_ms = T0}, false},
	        {"all match",
	         {.domain = "vm1",
	          .event = "attach",
	          .request = "r9",
	          .has_since = true,
	          .since_ms = T0 - 1000,
	          .has_until = true,
	          .until_ms = T0 + 1000},
	         true},
	};
	struct record r = rec_simple(RECORD_ATTACH, "vm1", "r9");
	struct json_object *obj = NULL;

	assert_int_equal(record_to_json(&r, T0, 1, &obj, NULL), 0);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		print_message("%s\n", cases[i].what);
		assert_int_equal(record_filter_match(&cases[i].f, obj), cases[i].expected);
	}
	json_object_put(obj);
}

/* Arguments as the protocol carries them: a bad one is refused by name. */
static void test_filter_from_args(void **state)
{
	static const struct {
		const char *what;
		const char *json;
		int rc;
		const char *err; /* substring */
	} cases[] = {
	        {"no filter", "{}", 0, NULL},
	        {"known event", "{\"event\":\"device_removal_failed\"}", 0, NULL},
	        {"unknown event", "{\"event\":\"bogus\"}", -EINVAL,
	         "event 'bogus' is not an audit event: use one of agent_start, "},
	        {"unknown event lists all", "{\"event\":\"Attach\"}", -EINVAL, "log_repaired"},
	        {"bad since", "{\"since\":\"yesterday-ish\"}", -EINVAL, "yesterday-ish"},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		json_object *args = json_tokener_parse(cases[i].json);
		struct record_filter f;
		char *err = NULL;

		print_message("%s\n", cases[i].what);
		assert_int_equal(record_filter_from_args(args, T0, &f, &err), cases[i].rc);
		if (cases[i].err) {
			assert_non_null(err);
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("%s: \"%s\"", cases[i].what, err);
		} else {
			assert_null(err);
		}
		free(err);
		json_object_put(args);
	}
}

static void test_pending_intents(void **state)
{
	static const struct {
		enum record_event event;
		const char *request;
	} log[] = {
	        {RECORD_INTENT, "r1"},  {RECORD_INTENT, "r2"},       {RECORD_ATTACH, "r1"},
	        {RECORD_OUTCOME, "r1"}, {RECORD_INTENT, "r3"},       {RECORD_RECONCILED, "r3"},
	        {RECORD_INTENT, "r4"},  {RECORD_DEVICE_ADDED, "r4"},
	};
	char *dir = tmpdir_new(), *lines[G_N_ELEMENTS(log)], prev[RECORD_HASH_HEX + 1] = "";
	char *files[] = {g_build_filename(dir, "a", NULL)};
	struct json_object *pending = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(log); i++) {
		struct record r = rec_simple(log[i].event, "vm1", log[i].request);

		lines[i] = line_make(&r, i + 1, prev);
	}
	file_write(files[0], lines, G_N_ELEMENTS(log), NULL);
	assert_int_equal(record_pending_intents(files, 1, &pending, NULL), 0);
	assert_int_equal(json_object_array_length(pending), 2);
	assert_string_equal(record_str(json_object_array_get_idx(pending, 0), "request"), "r2");
	assert_string_equal(record_str(json_object_array_get_idx(pending, 1), "request"), "r4");
	json_object_put(pending);
	lines_free(lines, G_N_ELEMENTS(log));
	g_free(files[0]);
	tmpdir_free(dir);
}

/* What settles an intent (issue 11): a pending outcome does not (the guest
 * may still answer), a reconciled record settles only its intent_seq, and a
 * reconciled "watching" settles nothing. */
static void test_pending_settled_by(void **state)
{
	static const struct {
		enum record_event event;
		const char *request;
		enum record_result result;
		int intent_seq; /* reconciled: 0 none */
		const char *action;
	} log[] = {
	        {RECORD_INTENT, "r1", RECORD_PENDING, 0, NULL},      /* seq 1 */
	        {RECORD_OUTCOME, "r1", RECORD_PENDING, 0, NULL},     /* r1 still open */
	        {RECORD_INTENT, "r2", RECORD_PENDING, 0, NULL},      /* seq 3 */
	        {RECORD_INTENT, "r2", RECORD_PENDING, 0, NULL},      /* seq 4 */
	        {RECORD_RECONCILED, "r2", RECORD_OK, 3, "none"},     /* only seq 3 */
	        {RECORD_INTENT, "r3", RECORD_PENDING, 0, NULL},      /* seq 6 */
	        {RECORD_RECONCILED, "r3", RECORD_OK, 6, "watching"}, /* still open */
	        {RECORD_INTENT, "r4", RECORD_PENDING, 0, NULL},      /* seq 8 */
	        {RECORD_OUTCOME, "r4", RECORD_FAILED, 0, NULL},      /* closed */
	        {RECORD_INTENT, "r5", RECORD_PENDING, 0, NULL},      /* seq 10 */
	        {RECORD_OUTCOME, "r5", RECORD_UNKNOWN, 0, NULL},     /* still open */
	};
	static const uint64_t open_seqs[] = {1, 4, 6, 10};
	char *dir = tmpdir_new(), *lines[G_N_ELEMENTS(log)], prev[RECORD_HASH_HEX + 1] = "";
	char *files[] = {g_build_filename(dir, "a", NULL)};
	struct json_object *pending = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(log); i++) {
		struct record r = rec_simple(log[i].event, "vm1", log[i].request);
		json_object *x = NULL;

		r.result = log[i].result;
		if (log[i].intent_seq) {
			x = json_object_new_object();
			json_object_object_add(x, "intent_seq",
			                       json_object_new_int(log[i].intent_seq));
			json_object_object_add(x, "action", json_object_new_string(log[i].action));
			r.extra = x;
		}
		lines[i] = line_make(&r, i + 1, prev);
		json_object_put(x);
	}
	file_write(files[0], lines, G_N_ELEMENTS(log), NULL);
	assert_int_equal(record_pending_intents(files, 1, &pending, NULL), 0);
	assert_int_equal(json_object_array_length(pending), G_N_ELEMENTS(open_seqs));
	for (size_t i = 0; i < G_N_ELEMENTS(open_seqs); i++)
		assert_int_equal(record_seq(json_object_array_get_idx(pending, i)), open_seqs[i]);
	json_object_put(pending);
	lines_free(lines, G_N_ELEMENTS(log));
	g_free(files[0]);
	tmpdir_free(dir);
}

static void test_format_text(void **state)
{
	static const char *const parts[] = {
	        "2026-11-24T14:03:05.123Z #7 detach refused",
	        " dom=vm1",
	        " req=r5",
	        " actor=uid:0(memplugctl)",
	        " alias=\"dimm2\"",
	        " before=0:1GiB,1:512MiB",
	        " after=0:1280MiB,1:512MiB",
	        " error=guest refused",
	};
	struct json_object *obj = NULL, *extra = json_object_new_object();
	struct record r = rec_simple(RECORD_DETACH, "vm1", "r5");
	char *text;

	r.actor = (struct record_actor){RECORD_ACTOR_CLIENT, 0, 0, 99, "memplugctl"};
	r.result = RECORD_REFUSED;
	r.error = "guest refused";
	r.n_before = r.n_after = 2;
	r.before = mem_before;
	r.after = mem_after;
	json_object_object_add(extra, "alias", json_object_new_string("dimm2"));
	r.extra = extra;
	assert_int_equal(record_to_json(&r, T0, 7, &obj, NULL), 0);
	text = record_format_text(obj);
	for (size_t i = 0; i < G_N_ELEMENTS(parts); i++) {
		print_message("%s\n", parts[i]);
		assert_non_null(strstr(text, parts[i]));
	}
	assert_null(strchr(text, '\n'));
	free(text);
	json_object_put(obj);
	json_object_put(extra);
}

/* Event-specific fields as people read them: sizes in units, device lists
 * as node:size, one level of nesting, nothing empty. */
static void test_format_text_fields(void **state)
{
	static const char *const extra_json =
	        "{\"op\":\"shrink\",\"code\":\"ok\",\"warning\":null,\"message\":\"\","
	        "\"request_kib\":262144,\"total_kib\":3145728,"
	        "\"dimms\":[{\"node\":1,\"size_kib\":131072,\"reason\":\"x\"},"
	        "{\"node\":0,\"size_kib\":131072,\"reason\":\"x\"}],"
	        "\"suggest_kib\":[131072,393216],\"hosts\":[{\"id\":0}],"
	        "\"inputs\":{\"balloon_kib\":1000,\"host_nodes\":\"0-1\"},\"dry_run\":false}";
	static const char *const want =
	        " op=\"shrink\" code=\"ok\" request=256MiB total=3GiB dimms=1:128MiB,0:128MiB"
	        " suggest=128MiB,384MiB hosts=1 items inputs.balloon=1000KiB"
	        " inputs.host_nodes=\"0-1\" dry_run=false";
	struct json_object *obj = NULL, *extra = json_tokener_parse(extra_json);
	struct record r = rec_simple(RECORD_PREFLIGHT, "vm1", "r5");
	char *text;

	assert_non_null(extra);
	r.extra = extra;
	r.result = RECORD_REFUSED;
	r.error = "no room"; /* the same sentence as message: printed once */
	json_object_object_add(extra, "message", json_object_new_string("no room"));
	assert_int_equal(record_to_json(&r, T0, 7, &obj, NULL), 0);
	text = record_format_text(obj);
	if (strstr(text, want) == NULL || strstr(text, "message=") != NULL ||
	    strstr(text, " error=no room") == NULL)
		fail_msg("got: %s", text);
	free(text);
	json_object_put(obj);
	json_object_put(extra);
}

/* An intent's scope reads as one short field, whatever the keys' order;
 * the default device model is left out. */
static void test_format_text_scope(void **state)
{
	static const struct {
		const char *extra, *want;
	} tab[] = {
	        {"{\"live\":true,\"config\":true,\"node\":1}", " node=1 scope=live+config"},
	        {"{\"config\":false,\"live\":true}", " scope=live"},
	        {"{\"live\":false,\"config\":true}", " scope=config"},
	        {"{\"node\":1}", " node=1"},
	        /* DIMM is the default model: only virtio-mem is named in text */
	        {"{\"model\":\"dimm\",\"node\":1}", " node=1"},
	        {"{\"model\":\"virtio-mem\",\"node\":1}", " model=\"virtio-mem\" node=1"},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(tab); i++) {
		struct json_object *obj = NULL, *extra = json_tokener_parse(tab[i].extra);
		struct record r = rec_simple(RECORD_INTENT, "vm1", "r5");
		char *text;

		assert_non_null(extra);
		r.extra = extra;
		assert_int_equal(record_to_json(&r, T0, 7, &obj, NULL), 0);
		text = record_format_text(obj);
		if (strstr(text, tab[i].want) == NULL || strstr(text, "live=") != NULL ||
		    strstr(text, "config=") != NULL ||
		    (strstr(tab[i].want, "scope") == NULL && strstr(text, "scope=") != NULL) ||
		    (strstr(tab[i].want, "model") == NULL && strstr(text, "model=") != NULL))
			fail_msg("%s: got %s", tab[i].extra, text);
		free(text);
		json_object_put(obj);
		json_object_put(extra);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_format_text_scope),
	        cmocka_unit_test(test_event_names),
	        cmocka_unit_test(test_format_ts),
	        cmocka_unit_test(test_parse_time),
	        cmocka_unit_test(test_format_fields),
	        cmocka_unit_test(test_format_optional_null),
	        cmocka_unit_test(test_format_refused),
	        cmocka_unit_test(test_canonical_stable),
	        cmocka_unit_test(test_parse_line_refused),
	        cmocka_unit_test(test_verify),
	        cmocka_unit_test(test_verify_files),
	        cmocka_unit_test(test_reader_skips),
	        cmocka_unit_test(test_reader_missing_file),
	        cmocka_unit_test(test_filter),
	        cmocka_unit_test(test_filter_from_args),
	        cmocka_unit_test(test_pending_intents),
	        cmocka_unit_test(test_pending_settled_by),
	        cmocka_unit_test(test_format_text),
	        cmocka_unit_test(test_format_text_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
