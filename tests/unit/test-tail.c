/*
 * Unit tests for common/tail.c: a tail started on a live audit log returns
 * exactly the records written after it, once each, in order, across
 * rotations, and only whole lines.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "record.h"
#include "tail.h"

struct fixture {
	char dir[64];
	char path[128];
	struct audit *audit;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct audit_options o;

	snprintf(f->dir, sizeof(f->dir), "/tmp/memplug-tail-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/audit.jsonl", f->dir);
	audit_options_default(&o);
	o.max_bytes = 2048; /* a few records per file: rotations happen */
	o.keep = 50;
	assert_int_equal(audit_open(f->path, &o, &f->audit), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	audit_free(f->audit);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void append(struct fixture *f, const char *domain)
{
	struct record r = {.event = RECORD_BALLOON_CHANGE,
	                   .domain = domain,
	                   .actor = {.kind = RECORD_ACTOR_LIBVIRT}};

	assert_int_equal(audit_append(f->audit, &r, false, NULL, NULL), 0);
}

static uint64_t poll_seqs(struct record_tail *t, uint64_t *seqs, size_t max)
{
	json_object *out = json_object_new_array();
	int n = record_tail_poll(t, out);

	assert_true(n >= 0 && (size_t)n <= max);
	for (int i = 0; i < n; i++)
		seqs[i] = record_seq(json_object_array_get_idx(out, (size_t)i));
	json_object_put(out);
	return (uint64_t)n;
}

static void test_only_new_records(void **state)
{
	struct fixture *f = *state;
	struct record_tail *t;
	uint64_t seqs[64];

	append(f, "before");
	append(f, "before");
	t = record_tail_new(f->path);
	assert_int_equal(poll_seqs(t, seqs, 64), 0);
	append(f, "after");
	assert_int_equal(poll_seqs(t, seqs, 64), 1);
	assert_int_equal(seqs[0], 3);
	assert_int_equal(poll_seqs(t, seqs, 64), 0);
	record_tail_free(t);
}

/* Many rotations while the tail is not looking: every record once. */
static void test_across_rotation(void **state)
{
	struct fixture *f = *state;
	struct record_tail *t = record_tail_new(f->path);
	uint64_t seqs[64], want = 1;

	for (int round = 0; round < 20; round++) {
		/* Enough records to rotate at least once between two polls. */
		for (int i = 0; i < 3; i++)
			append(f, "rotating-domain-with-a-long-name-to-fill-the-file");
		uint64_t n = poll_seqs(t, seqs, 64);
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(seqs[i], want++);
	}
	assert_int_equal(want, 61);
	assert_int_equal(access(f->path, F_OK), 0);
	record_tail_free(t);
}

static void test_partial_line_waits(void **state)
{
	struct fixture *f = *state;
	struct record_tail *t;
	uint64_t seqs[4];
	FILE *fp;

	append(f, "whole");
	t = record_tail_new(f->path);
	fp = fopen(f->path, "a");
	assert_non_null(fp);
	fputs("{\"ts\":\"2026-", fp); /* a writer mid-line */
	fclose(fp);
	assert_int_equal(poll_seqs(t, seqs, 4), 0);
	record_tail_free(t);
}

static void test_skip_to(void **state)
{
	struct fixture *f = *state;
	struct record_tail *t = record_tail_new(f->path);
	uint64_t seqs[8];

	append(f, "a");
	append(f, "b");
	record_tail_skip_to(t, 1); /* seq 1 was already shown */
	assert_int_equal(poll_seqs(t, seqs, 8), 1);
	assert_int_equal(seqs[0], 2);
	record_tail_free(t);
}

static void test_missing_file(void **state)
{
	struct record_tail *t = record_tail_new("/nonexistent/memplug/audit.jsonl");
	uint64_t seqs[1];

	assert_non_null(t);
	assert_int_equal(poll_seqs(t, seqs, 1), 0);
	record_tail_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_only_new_records, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_across_rotation, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_partial_line_waits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_skip_to, setup, teardown),
	        cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
