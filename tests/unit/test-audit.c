/*
 * Unit tests for agent/audit.c, the writer: seq and chain continuity across
 * close and reopen, rotation, torn-line recovery, fail-closed on a log that
 * really cannot be written (a path under a regular file, /dev/full: tests
 * run as root, where file modes stop nothing), and pending intents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "audit.h"

/* --- helpers ------------------------------------------------------------ */

struct fixture {
	char *dir;
	char *path;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->dir = g_dir_make_tmp("test-audit-XXXXXX", NULL);
	fx->path = g_build_filename(fx->dir, "audit.jsonl", NULL);
	*state = fx;
	return fx->dir != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	g_free(fx->dir);
	g_free(fx->path);
	free(fx);
	return 0;
}

static struct audit_options opts_make(uint64_t max_bytes, unsigned keep)
{
	struct audit_options o;

	audit_options_default(&o);
	o.max_bytes = max_bytes;
	o.keep = keep;
	return o;
}

static struct audit *open_ok(const char *path, const struct audit_options *o)
{
	struct audit *a = NULL;

	assert_int_equal(audit_open(path, o, &a), 0);
	assert_non_null(a);
	assert_true(audit_writable(a));
	assert_null(audit_error(a));
	return a;
}

static uint64_t append_ok(struct audit *a, enum record_event ev, const char *request)
{
	struct record r = {.event = ev, .domain = "vm1", .uuid = "u-1", .request = request};
	uint64_t seq = 0;
	char *err = NULL;

	r.actor.kind = RECORD_ACTOR_POLICY;
	assert_int_equal(audit_append(a, &r, ev == RECORD_INTENT, &seq, &err), 0);
	assert_null(err);
	assert_int_equal(seq, audit_last_seq(a));
	return seq;
}

/* Verifies the whole log; returns the result (caller clears it). */
static struct record_verify_result verify_all(const char *path, size_t *n_files)
{
	struct record_verify_result res;
	char **files = NULL;
	size_t n = 0;

	assert_int_equal(record_log_files(path, &files, &n, NULL), 0);
	assert_int_equal(record_verify(files, n, &res, NULL), 0);
	record_files_free(files, n);
	if (n_files != NULL)
		*n_files = n;
	return res;
}

static char *file_read(const char *path, size_t *len)
{
	char *text = NULL;
	gsize n = 0;

	assert_true(g_file_get_contents(path, &text, &n, NULL));
	if (len != NULL)
		*len = n;
	return text;
}

static void file_append_n(const char *path, const char *text, size_t len)
{
	FILE *fp = fopen(path, "a");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	fclose(fp);
}

static void file_append(const char *path, const char *text)
{
	file_append_n(path, text, strlen(text));
}

/* The last record of the log at `path`. Caller puts it. */
static struct json_object *last_record(const char *path)
{
	char *files[] = {(char *)path};
	struct record_reader *rd = record_reader_new(files, 1);
	struct json_object *rec = NULL, *last = NULL;

	while (record_reader_next(rd, &rec) == 1) {
		json_object_put(last);
		last = rec;
	}
	record_reader_free(rd);
	assert_non_null(last);
	return last;
}

/* --- tests ---------------------------------------------------------------- */

static void test_seq_across_reopen(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(0, 0);
	struct record_verify_result res;
	struct audit *a;

	for (unsigned round = 0; round < 3; round++) {
		a = open_ok(fx->path, &o);
		assert_int_equal(audit_last_seq(a), round * 4);
		for (unsigned i = 1; i <= 4; i++)
			assert_int_equal(append_ok(a, RECORD_ATTACH, "r1"), round * 4 + i);
		audit_free(a);
	}
	res = verify_all(fx->path, NULL);
	assert_int_equal(res.reason, RECORD_BREAK_NONE);
	assert_int_equal(res.records, 12);
	assert_int_equal(res.first_seq, 1);
	record_verify_result_clear(&res);
	audit_free(NULL);
}

static void test_rotation(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(1500, 2);
	struct record_verify_result res;
	struct audit *a = open_ok(fx->path, &o);
	char *name;
	size_t n_files;
	struct stat st;

	for (unsigned i = 1; i <= 40; i++)
		assert_int_equal(append_ok(a, RECORD_DETACH, "r2"), i);
	audit_free(a);
	res = verify_all(fx->path, &n_files);
	assert_int_equal(n_files, 3); /* path.2, path.1, path */
	assert_int_equal(res.reason, RECORD_BREAK_NONE);
	assert_int_equal(res.last_seq, 40);
	assert_true(res.first_seq > 1); /* older files were dropped */
	assert_int_equal(res.records, 40 - res.first_seq + 1);
	record_verify_result_clear(&res);
	for (unsigned k = 0; k <= 3; k++) {
		name = k > 0 ? g_strdup_printf("%s.%u", fx->path, k) : g_strdup(fx->path);
		if (k == 3) {
			assert_int_equal(stat(name, &st), -1);
		} else {
			assert_int_equal(stat(name, &st), 0);
			assert_true(st.st_size > 0 && st.st_size <= 1500);
		}
		g_free(name);
	}
	/* a reopen continues from the newest file */
	a = open_ok(fx->path, &o);
	assert_int_equal(append_ok(a, RECORD_DETACH, "r2"), 41);
	audit_free(a);
}

/*
 * A crash in the middle of a rotation: path.1 already renamed to path.2,
 * path renamed to path.1 but no new path yet; here the gap is at path.1.
 */
static void test_rotation_crash(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(0, 3);
	struct audit *a = open_ok(fx->path, &o);
	char *rotated = g_strdup_printf("%s.2", fx->path);
	struct record_verify_result res;
	size_t n_files;

	append_ok(a, RECORD_REQUEST, "r1");
	append_ok(a, RECORD_INTENT, "r1");
	audit_free(a);
	assert_int_equal(rename(fx->path, rotated), 0);
	a = open_ok(fx->path, &o);
	assert_int_equal(audit_last_seq(a), 2);
	assert_int_equal(append_ok(a, RECORD_OUTCOME, "r1"), 3);
	audit_free(a);
	res = verify_all(fx->path, &n_files);
	assert_int_equal(n_files, 2);
	assert_int_equal(res.reason, RECORD_BREAK_NONE);
	assert_int_equal(res.records, 3);
	record_verify_result_clear(&res);
	g_free(rotated);
}

#define TAIL(literal) literal, sizeof(literal) - 1

static void test_torn_recovery(void **state)
{
	static const struct {
		const char *what, *tail;
		size_t len;
	} cases[] = {
	        {"partial line", TAIL("{\"ts\":\"2026-11-24T14:0")},
	        {"zeros (delayed allocation)", TAIL("\0\0\0\0")},
	        {"one unparsable whole line", TAIL("{\"ts\":\"2026\n")},
	        {"unparsable line and partial", TAIL("xx\n{\"ts")},
	};
	struct fixture *fx = *state;

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct audit_options o = opts_make(0, 0);
		struct record_verify_result res;
		struct json_object *last;
		struct audit *a;
		char *text;
		size_t len;

		print_message("%s\n", cases[i].what);
		unlink(fx->path);
		a = open_ok(fx->path, &o);
		append_ok(a, RECORD_REQUEST, "r1");
		append_ok(a, RECORD_INTENT, "r1");
		audit_free(a);
		file_append_n(fx->path, cases[i].tail, cases[i].len);
		a = open_ok(fx->path, &o);
		assert_int_equal(audit_last_seq(a), 3);
		audit_free(a);
		last = last_record(fx->path);
		assert_string_equal(record_str(last, "event"), "log_repaired");
		assert_int_equal(json_object_get_int64(json_object_object_get(last, "torn_bytes")),
		                 cases[i].len);
		json_object_put(last);
		text = file_read(fx->path, &len);
		assert_null(memmem(text, len, cases[i].tail, cases[i].len));
		g_free(text);
		res = verify_all(fx->path, NULL);
		assert_int_equal(res.reason, RECORD_BREAK_NONE);
		assert_false(res.torn_tail);
		record_verify_result_clear(&res);
	}
}

/* More than a crash can explain is left alone, and changes are refused. */
static void test_damage_not_cut(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(0, 0);
	struct audit *a = open_ok(fx->path, &o);
	char *before, *after, *err = NULL;

	append_ok(a, RECORD_REQUEST, "r1");
	audit_free(a);
	file_append(fx->path, "garbage one\ngarbage two\n");
	before = file_read(fx->path, NULL);
	assert_int_equal(audit_open(fx->path, &o, &a), -EBADMSG);
	assert_false(audit_writable(a));
	assert_non_null(strstr(audit_error(a), fx->path));
	assert_int_equal(audit_check_changes(a, &err), -EROFS);
	assert_non_null(strstr(err, "refused"));
	audit_free(a);
	after = file_read(fx->path, NULL);
	assert_string_equal(before, after);
	free(err);
	g_free(before);
	g_free(after);
}

/* A path whose parent is a regular file cannot be created, even by root. */
static void test_fail_closed_open(void **state)
{
	static const struct {
		const char *what;
		bool fail_closed;
		int expected;
	} cases[] = {
	        {"fail_closed", true, -EROFS},
	        {"fail open", false, 0},
	};
	struct fixture *fx = *state;
	char *bad = g_build_filename(fx->path, "audit.jsonl", NULL);

	file_append(fx->path, "");
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct audit_options o = opts_make(0, 0);
		struct record r = {.event = RECORD_INTENT, .actor.kind = RECORD_ACTOR_AGENT};
		struct audit *a = NULL;
		char *err = NULL;

		print_message("%s\n", cases[i].what);
		o.fail_closed = cases[i].fail_closed;
		assert_int_equal(audit_open(bad, &o, &a), -ENOTDIR);
		assert_non_null(a);
		assert_false(audit_writable(a));
		assert_non_null(strstr(audit_error(a), "Not a directory"));
		assert_int_equal(audit_check_changes(a, &err), cases[i].expected);
		if (cases[i].expected < 0)
			assert_non_null(strstr(err, bad));
		free(err);
		err = NULL;
		assert_int_equal(audit_append(a, &r, true, NULL, &err), -EIO);
		assert_non_null(err);
		free(err);
		audit_free(a);
	}
	g_free(bad);
}

/* /dev/full opens fine and fails every write with ENOSPC: a full disk. */
static void test_fail_closed_full(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(0, 0);
	struct record r = {.event = RECORD_INTENT, .actor.kind = RECORD_ACTOR_AGENT};
	struct json_object *pending = NULL;
	struct audit *a;
	char *err = NULL;

	assert_int_equal(symlink("/dev/full", fx->path), 0);
	a = open_ok(fx->path, &o);
	assert_int_equal(audit_check_changes(a, NULL), 0);
	assert_int_equal(audit_append(a, &r, true, NULL, &err), -ENOSPC);
	assert_non_null(strstr(err, "No space left"));
	free(err);
	err = NULL;
	assert_false(audit_writable(a));
	assert_int_equal(audit_last_seq(a), 0);
	assert_int_equal(audit_check_changes(a, &err), -EROFS);
	assert_non_null(strstr(err, "No space left"));
	free(err);
	/* reading still works */
	assert_int_equal(audit_pending_intents(a, &pending, NULL), 0);
	assert_int_equal(json_object_array_length(pending), 0);
	json_object_put(pending);
	audit_free(a);
}

static void test_pending_intents(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(700, 4);
	struct json_object *pending = NULL;
	struct audit *a = open_ok(fx->path, &o);

	append_ok(a, RECORD_INTENT, "r1");
	append_ok(a, RECORD_INTENT, "r2");
	append_ok(a, RECORD_OUTCOME, "r1");
	append_ok(a, RECORD_INTENT, "r3");
	audit_free(a);
	a = open_ok(fx->path, &o);
	assert_int_equal(audit_pending_intents(a, &pending, NULL), 0);
	assert_int_equal(json_object_array_length(pending), 2);
	assert_string_equal(record_str(json_object_array_get_idx(pending, 0), "request"), "r2");
	assert_string_equal(record_str(json_object_array_get_idx(pending, 1), "request"), "r3");
	json_object_put(pending);
	audit_free(a);
}

/* Two writers on one file would fork the chain: the second is refused. */
static void test_second_writer(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(0, 0);
	struct audit *a = open_ok(fx->path, &o), *b = NULL;

	append_ok(a, RECORD_AGENT_START, NULL);
	assert_int_equal(audit_open(fx->path, &o, &b), -EBUSY);
	assert_false(audit_writable(b));
	assert_int_equal(audit_check_changes(b, NULL), -EROFS);
	audit_free(b);
	assert_int_equal(append_ok(a, RECORD_AGENT_STOP, NULL), 2);
	audit_free(a);
	a = open_ok(fx->path, &o);
	assert_int_equal(audit_last_seq(a), 2);
	audit_free(a);
}

static void test_bad_record_keeps_log(void **state)
{
	struct fixture *fx = *state;
	struct audit_options o = opts_make(0, 0);
	struct audit *a = open_ok(fx->path, &o);
	struct record r = {.event = RECORD_EVENT_COUNT};
	char *err = NULL;

	assert_int_equal(audit_append(a, &r, false, NULL, &err), -EINVAL);
	assert_non_null(err);
	free(err);
	assert_true(audit_writable(a));
	assert_int_equal(append_ok(a, RECORD_AGENT_START, NULL), 1);
	audit_free(a);
	assert_int_equal(audit_open("", &o, &a), -EINVAL);
	assert_null(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_seq_across_reopen, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rotation_crash, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_torn_recovery, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_damage_not_cut, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fail_closed_open, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fail_closed_full, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pending_intents, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_second_writer, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_record_keeps_log, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
