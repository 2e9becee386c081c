/*
 * Unit tests for agent/ops.c against the fake libvirt of fakevirt.h, on a
 * real event loop: every pre-flight refusal ends refused with nothing
 * attached, a grow whose attach k of n fails is rolled back (and says which
 * DIMMs remain when the rollback is refused), a shrink the guest refuses or
 * never answers (and its late answer), queued operations on one domain,
 * and --config on a shut-off domain. Outcomes are checked in the audit log
 * the agent wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <glib.h>

#include "agent.h"
#include "audit.h"
#include "dispatch.h"
#include "domain.h"
#include "domains.h"
#include "fakevirt.h"
#include "log.h"
#include "ops.h"
#include "record.h"

#include "opsfix.h"

/* The "before" KiB of guest node `node` in the request's `event` record. */
static uint64_t audit_before(struct fixture *fx, const char *request, const char *event,
                             const char *node)
{
	char **files = NULL;
	size_t n = 0;
	struct record_reader *rd;
	struct json_object *rec, *before;
	uint64_t kib = 0;

	assert_int_equal(record_log_files(fx->path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		const char *req = record_str(rec, "request");

		if (req && strcmp(req, request) == 0 &&
		    strcmp(record_str(rec, "event"), event) == 0 &&
		    json_object_object_get_ex(rec, "before", &before))
			kib = json_object_get_uint64(json_object_object_get(before, node));
		json_object_put(rec);
	}
	record_reader_free(rd);
	record_files_free(files, n);
	return kib;
}

/* Whether the request's `request` record carries dry_run: true. */
static bool audit_request_dry_run(struct fixture *fx, const char *request)
{
	char **files = NULL;
	size_t n = 0;
	struct record_reader *rd;
	struct json_object *rec, *v;
	bool dry = false;

	assert_int_equal(record_log_files(fx->path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		const char *req = record_str(rec, "request");

		if (req && strcmp(req, request) == 0 &&
		    strcmp(record_str(rec, "event"), "request") == 0 &&
		    json_object_object_get_ex(rec, "dry_run", &v))
			dry = json_object_get_boolean(v);
		json_object_put(rec);
	}
	record_reader_free(rd);
	record_files_free(files, n);
	return dry;
}

static void check_trace(struct fixture *fx, const char *request, const char *want)
{
	char *got = audit_trace(fx, request);

	assert_string_equal(got, want);
	free(got);
}

static void check_messages(const struct ended *e, const char *const *want)
{
	for (size_t i = 0; i < MAX_MESSAGES && want[i]; i++) {
		if (e->message == NULL || strstr(e->message, want[i]) == NULL)
			fail_msg("message \"%s\" lacks \"%s\"", e->message ? e->message : "(null)",
			         want[i]);
	}
}

static const struct fake_host roomy = {.free_mib = {8192, 8192}};

/* Two 1 GiB cells bound to host node 0, 8 GiB max, 8 slots. */
static struct fake_spec spec_two(void)
{
	return (struct fake_spec){.n_cells = 2,
	                          .cell_mib = {1024, 1024},
	                          .max_mib = 8192,
	                          .slots = 8,
	                          .huge_cell = -1,
	                          .host_node = 0};
}

static struct op_args grow(uint64_t mib, int node)
{
	return (struct op_args){.kind = OP_GROW, .size_kib = mib * MIB, .node = node, .wait = true};
}

static struct op_args shrink(uint64_t mib, int node)
{
	return (struct op_args){
	        .kind = OP_SHRINK, .size_kib = mib * MIB, .node = node, .wait = true};
}

/* ---- pre-flight refusals ---- */

enum tweak {
	TW_NONE,
	TW_FULL_SLOTS, /* 2 slots, both used */
	TW_LOW_MAX,    /* maxMemory 256 MiB above boot */
	TW_HOST_LOW,   /* host node 0 has 1 GiB free, reserve 768 MiB */
	TW_HUGE_SHORT, /* cell 1 on 2 MiB pages, 100 free */
	TW_NO_MAX,     /* no <maxMemory> */
	TW_ONE_DIMM,   /* one 256 MiB DIMM on node 0 */
	TW_SHUT_OFF,   /* the domain is not running */
};

struct refusal_case {
	const char *what;
	enum tweak tweak;
	struct op_args args;
	const char *messages[MAX_MESSAGES];
	const char *trace;
};

static void apply_tweak(enum tweak t, struct fake_spec *s, struct fake_host *h, struct config *cfg)
{
	static const struct fake_dev a256 = {.node = 0, .size_kib = 256 * MIB, .alias = "ua-a"};
	static const struct fake_dev b256 = {.node = 1, .size_kib = 256 * MIB, .alias = "ua-b"};

	switch (t) {
	case TW_FULL_SLOTS:
		s->slots = 2;
		s->n_devs = 2;
		s->devs[0] = a256;
		s->devs[1] = b256;
		break;
	case TW_LOW_MAX:
		s->max_mib = 2048 + 256;
		break;
	case TW_HOST_LOW:
		h->free_mib[0] = 1024;
		cfg->host_reserve_kib = 768 * MIB;
		break;
	case TW_HUGE_SHORT:
		s->huge_cell = 1;
		s->huge_kib = 2048;
		h->pool_kib = 2048;
		h->pool_free = 100;
		break;
	case TW_NO_MAX:
		s->max_mib = 0;
		s->slots = 0;
		break;
	case TW_ONE_DIMM:
		s->n_devs = 1;
		s->devs[0] = a256;
		break;
	case TW_SHUT_OFF:
		s->shut_off = true;
		break;
	default:
		break;
	}
}

#define SELECT_REFUSED "request:ok preflight:refused outcome:refused"

static struct op_args scoped(struct op_args args, bool live, bool config)
{
	args.scope_given = true;
	args.live = live;
	args.config = config;
	return args;
}

/* Both XML definitions of the fake, to compare before and after. */
struct snap {
	char *live;
	char *config;
};

static void snap_take(struct fixture *fx, struct snap *s)
{
	s->live = fakevirt_xml(&fx->fv, false);
	s->config = fakevirt_xml(&fx->fv, true);
}

static void snap_check_free(struct fixture *fx, struct snap *s)
{
	struct snap now;

	snap_take(fx, &now);
	assert_string_equal(now.live, s->live);
	assert_string_equal(now.config, s->config);
	free(now.live);
	free(now.config);
	free(s->live);
	free(s->config);
}

static void refusal_run(const struct refusal_case *c)
{
	struct fake_spec spec = spec_two();
	struct fake_host host = roomy;
	struct fixture *fx;
	struct domain_view *d;
	struct snap before;
	void *st;

	print_message("refusal: %s\n", c->what);
	setup(&st);
	fx = st;
	apply_tweak(c->tweak, &spec, &host, fx->cfg);
	d = fx_domain(fx, &spec, &host);
	snap_take(fx, &before);
	assert_int_equal(ops_submit(fx->ops, d, &c->args, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "refused");
	check_messages(&fx->ended[0], c->messages);
	check_trace(fx, fx->ended[0].request, c->trace);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, 0), 0);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, 0), 0);
	snap_check_free(fx, &before);
	teardown(&st);
}

static void test_refusals(void **state)
{
	const struct refusal_case cases[] = {
	        {"not aligned",
	         TW_NONE,
	         grow(100, 0),
	         {"not a multiple", "nearest valid size", "128 MiB"},
	         SELECT_REFUSED},
	        {"no slots",
	         TW_FULL_SLOTS,
	         grow(256, 0),
	         {"all 2 memory slots are in use"},
	         SELECT_REFUSED},
	        {"no headroom",
	         TW_LOW_MAX,
	         grow(512, 0),
	         {"512 MiB does not fit", "256 MiB left"},
	         SELECT_REFUSED},
	        {"bad node",
	         TW_NONE,
	         grow(256, 5),
	         {"guest node 5 does not exist"},
	         SELECT_REFUSED},
	        {"host memory below reserve",
	         TW_HOST_LOW,
	         grow(512, 0),
	         {"host node 0", "reserve", "512 MiB needed"},
	         SELECT_REFUSED},
	        {"hugepage pool too small",
	         TW_HUGE_SHORT,
	         grow(512, 1),
	         {"host node 0", "100 free", "2 MiB hugepages", "256 needed"},
	         SELECT_REFUSED},
	        {"cannot hotplug", TW_NO_MAX, grow(256, 0), {"no <maxMemory>"}, SELECT_REFUSED},
	        {"shrink, no exact set",
	         TW_ONE_DIMM,
	         shrink(128, -1),
	         {"no set of DIMMs", "possible: 256 MiB"},
	         SELECT_REFUSED},
	        {"shrink, no DIMMs",
	         TW_NONE,
	         shrink(256, 0),
	         {"no hot-plugged DIMMs"},
	         SELECT_REFUSED},
	        {"live on a shut-off domain",
	         TW_SHUT_OFF,
	         scoped(grow(256, 0), true, false),
	         {"is not running"},
	         "request:ok outcome:refused"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refusal_run(&cases[i]);
}

/* The log cannot be written (a full disk): nothing may change. */
static void test_audit_fail_closed(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	struct domain_view *d;
	struct op_args args = grow(256, 0);

	assert_int_equal(symlink("/dev/full", fx->path), 0);
	d = fx_domain(fx, &spec, &roomy);
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "refused");
	check_messages(&fx->ended[0], (const char *const[]){"audit log cannot be written",
	                                                    "nothing was changed", NULL});
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, 0), 0);
}

/* ---- grow: attach k of n fails ---- */

/* Three 1 GiB cells: 768 MiB spread as one 256 MiB DIMM per node. */
static struct fake_spec spec_three(void)
{
	return (struct fake_spec){.n_cells = 3,
	                          .cell_mib = {1024, 1024, 1024},
	                          .max_mib = 6144,
	                          .slots = 8,
	                          .huge_cell = -1,
	                          .host_node = 0};
}

#define GROW_HEAD "request:ok preflight:ok"
#define STEP_OK   " intent:pending attach:ok"
#define STEP_FAIL " intent:pending attach:failed"

struct rollback_case {
	const char *what;
	unsigned fail_at;          /* attach call that fails */
	const char *refuse_suffix; /* the guest refuses to release this DIMM; NULL: none */
	const char *code;
	const char *trace;
	const char *remain[2]; /* alias suffixes still attached afterwards */
};

static void alias_of(char *buf, size_t len, const char *request, const char *suffix)
{
	snprintf(buf, len, "ua-mp-%s%s", request, suffix);
}

static void rollback_run(const struct rollback_case *c)
{
	struct fake_spec spec = spec_three();
	struct op_args args = grow(768, -1);
	struct fixture *fx;
	struct domain_view *d;
	struct snap before;
	char alias[FAKE_ALIAS_MAX];
	const struct ended *e;
	void *st;

	print_message("rollback: %s\n", c->what);
	setup(&st);
	fx = st;
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.attach_fail_at = c->fail_at;
	fx->fv.attach_error = "Cannot allocate memory";
	if (c->refuse_suffix) {
		fx->fv.answer = FAKE_REFUSE;
		fx->fv.answer_suffix = c->refuse_suffix;
	}
	snap_take(fx, &before);
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_run(fx, 1);
	e = &fx->ended[0];
	assert_string_equal(e->code, c->code);
	check_trace(fx, e->request, c->trace);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, 0), c->fail_at);
	/* Every DIMM this request added was asked to go, newest first. */
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, BACKEND_LIVE), c->fail_at - 1);
	if (c->remain[0] == NULL) {
		char suffix[16];

		snprintf(suffix, sizeof(suffix), "-%u", c->fail_at - 1);
		alias_of(alias, sizeof(alias), e->request, suffix);
		check_messages(e, (const char *const[]){"Cannot allocate memory", alias, NULL});
		snap_check_free(fx, &before);
	} else {
		free(before.live);
		free(before.config);
	}
	for (size_t i = 0; i < 2 && c->remain[i]; i++) {
		alias_of(alias, sizeof(alias), e->request, c->remain[i]);
		check_messages(
		        e, (const char *const[]){"Cannot allocate memory", "remain", alias, NULL});
		assert_true(fakevirt_has(&fx->fv, false, alias));
	}
	for (unsigned k = 0; k + 1 < c->fail_at; k++) {
		char suffix[16];
		bool stays = false;

		snprintf(suffix, sizeof(suffix), "-%u", k);
		for (size_t i = 0; i < 2 && c->remain[i]; i++)
			stays = stays || strcmp(c->remain[i], suffix) == 0;
		alias_of(alias, sizeof(alias), e->request, suffix);
		assert_int_equal(fakevirt_has(&fx->fv, false, alias), stays);
		assert_int_equal(e->message && strstr(e->message, alias) != NULL, stays);
	}
	teardown(&st);
}

static void test_rollback(void **state)
{
	const struct rollback_case cases[] = {
	        {"the first attach fails",
	         1,
	         NULL,
	         "failed",
	         GROW_HEAD STEP_FAIL " outcome:failed",
	         {NULL}},
	        {"attach 2 of 3 fails",
	         2,
	         NULL,
	         "failed",
	         GROW_HEAD STEP_OK STEP_FAIL " rollback:ok outcome:failed",
	         {NULL}},
	        {"attach 3 of 3 fails",
	         3,
	         NULL,
	         "failed",
	         GROW_HEAD STEP_OK STEP_OK STEP_FAIL " rollback:ok rollback:ok outcome:failed",
	         {NULL}},
	        {"the rollback of the second DIMM is refused",
	         3,
	         "-1",
	         "failed",
	         GROW_HEAD STEP_OK STEP_OK STEP_FAIL " rollback:failed rollback:ok outcome:failed",
	         {"-1"}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		rollback_run(&cases[i]);
}

/* ---- shrink: the guest's answer ---- */

struct answer_case {
	const char *what;
	enum fake_answer answer;
	const char *code;
	const char *message;
	const char *trace;
	bool stays;             /* the DIMM is still in the live guest */
	size_t config_detaches; /* detach calls on the persistent definition */
	/* After a timeout: the guest's late answer (1 released, -1 refused,
	 * 0 none) and the request's trace once it is audited. */
	int late;
	const char *late_trace;
};

/* The guest answers after the operation reported pending. */
static void answer_late(struct fixture *fx, const struct answer_case *c)
{
	fakevirt_answer_late(&fx->fv, "ua-a", c->late > 0);
	fx_run(fx, 1);
	check_trace(fx, fx->ended[0].request, c->late_trace);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, BACKEND_CONFIG), c->late > 0);
	assert_int_equal(fakevirt_has(&fx->fv, false, "ua-a"), c->late < 0);
	assert_int_equal(fakevirt_has(&fx->fv, true, "ua-a"), c->late < 0);
	assert_int_equal(ops_pending_detaches(fx->ops), 0);
}

static void answer_run(const struct answer_case *c)
{
	struct fake_spec spec = spec_two();
	struct op_args args = shrink(256, 0);
	struct fixture *fx;
	struct domain_view *d;
	void *st;

	print_message("shrink: %s\n", c->what);
	setup(&st);
	fx = st;
	fx->cfg->detach_timeout_ms = c->answer == FAKE_SILENT ? 50 : 5000;
	apply_tweak(TW_ONE_DIMM, &spec, NULL, fx->cfg);
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.answer = c->answer;
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, c->code);
	if (c->message)
		check_messages(&fx->ended[0], (const char *const[]){c->message, "ua-a", NULL});
	check_trace(fx, fx->ended[0].request, c->trace);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, BACKEND_LIVE), 1);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, BACKEND_CONFIG), c->config_detaches);
	assert_int_equal(fakevirt_has(&fx->fv, false, "ua-a"), c->stays);
	assert_int_equal(fakevirt_has(&fx->fv, true, "ua-a"), c->config_detaches == 0);
	if (c->late)
		answer_late(fx, c);
	teardown(&st);
}

#define SHRINK_HEAD "request:ok preflight:ok intent:pending"

static void test_shrink_answers(void **state)
{
	const struct answer_case cases[] = {
	        {"removed", FAKE_REMOVE, "ok", NULL, SHRINK_HEAD " detach:ok outcome:ok", false, 1,
	         0, NULL},
	        {"refused by the guest", FAKE_REFUSE, "refused", "refused to release",
	         SHRINK_HEAD " detach:refused outcome:refused", true, 0, 0, NULL},
	        {"no answer", FAKE_SILENT, "pending", "has not released",
	         SHRINK_HEAD " detach:pending outcome:pending", true, 0, 0, NULL},
	        {"no answer, released later", FAKE_SILENT, "pending", "has not released",
	         SHRINK_HEAD " detach:pending outcome:pending", true, 0, 1,
	         SHRINK_HEAD " detach:pending outcome:pending outcome:ok"},
	        {"no answer, refused later", FAKE_SILENT, "pending", "has not released",
	         SHRINK_HEAD " detach:pending outcome:pending", true, 0, -1,
	         SHRINK_HEAD " detach:pending outcome:pending outcome:refused"},
	        {"the detach call fails", FAKE_CALL_FAILS, "failed", "detach call failed",
	         SHRINK_HEAD " detach:failed outcome:failed", true, 0, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		answer_run(&cases[i]);
}

/* The guest gives back the first DIMM of a shrink and refuses the second:
 * less came back than asked, and the reply says what stays removed. */
static void test_shrink_refused_after_one(void **state)
{
	struct fake_spec spec = spec_two();
	struct op_args args = shrink(512, -1);
	struct fixture *fx;
	struct domain_view *d;
	void *st;

	(void)state;
	setup(&st);
	fx = st;
	apply_tweak(TW_FULL_SLOTS, &spec, NULL, fx->cfg);
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.answer = FAKE_REFUSE;
	fx->fv.answer_suffix = "-a";
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "partial");
	check_messages(&fx->ended[0], (const char *const[]){"refused to release", "ua-a",
	                                                    "stays removed: ua-b", NULL});
	check_trace(fx, fx->ended[0].request,
	            SHRINK_HEAD " detach:ok intent:pending detach:refused outcome:partial");
	assert_false(fakevirt_has(&fx->fv, false, "ua-b"));
	assert_false(fakevirt_has(&fx->fv, true, "ua-b"));
	assert_true(fakevirt_has(&fx->fv, false, "ua-a"));
	assert_true(fakevirt_has(&fx->fv, true, "ua-a"));
	teardown(&st);
}

/* ---- queueing and scope ---- */

/* Two grows submitted at once run one after the other: the second reads
 * the domain with the first one's DIMM. */
static void test_queued(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	struct op_args args = grow(256, 0);
	struct domain_view *d = fx_domain(fx, &spec, &roomy);
	char alias[FAKE_ALIAS_MAX];

	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_run(fx, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(fx->ended[i].code, "ok");
		check_trace(fx, fx->ended[i].request, GROW_HEAD STEP_OK " outcome:ok");
		alias_of(alias, sizeof(alias), fx->ended[i].request, "-0");
		assert_true(fakevirt_has(&fx->fv, false, alias));
		assert_true(fakevirt_has(&fx->fv, true, alias));
	}
	assert_int_equal(audit_before(fx, fx->ended[0].request, "preflight", "0"), 1024 * MIB);
	assert_int_equal(audit_before(fx, fx->ended[1].request, "preflight", "0"),
	                 (1024 + 256) * MIB);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, BACKEND_LIVE | BACKEND_CONFIG), 2);
}

/* --config alone on a shut-off domain changes only its persistent XML. */
static void test_config_shut_off(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	struct op_args args = scoped(grow(256, 1), false, true);
	struct domain_view *d;
	char alias[FAKE_ALIAS_MAX];

	spec.shut_off = true;
	d = fx_domain(fx, &spec, &roomy);
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "ok");
	assert_int_equal(fx->fv.n_calls, 1);
	assert_int_equal(fx->fv.calls[0].kind, FAKE_ATTACH);
	assert_int_equal(fx->fv.calls[0].flags, BACKEND_CONFIG);
	alias_of(alias, sizeof(alias), fx->ended[0].request, "-0");
	assert_true(fakevirt_has(&fx->fv, true, alias));
}

/* A dry run reads, chooses and checks exactly as a real request does, and
 * changes nothing: no backend call, both definitions as they were; a
 * refusal is the real one. The request record says it was a dry run. */
static void test_dry_run(void **state)
{
	static const struct fake_dev a256 = {.node = 0, .size_kib = 256 * MIB, .alias = "ua-a"};
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	struct op_args args[] = {grow(256, 1), shrink(256, 0), grow(100, 1)};
	struct domain_view *d;
	struct snap before;

	spec.n_devs = 1;
	spec.devs[0] = a256;
	d = fx_domain(fx, &spec, &roomy);
	snap_take(fx, &before);
	for (size_t i = 0; i < 3; i++) {
		args[i].dry_run = true;
		assert_int_equal(ops_submit(fx->ops, d, &args[i], NULL, NULL), 0);
	}
	fx_run(fx, 3);
	assert_string_equal(fx->ended[0].code, "ok");
	assert_string_equal(fx->ended[1].code, "ok");
	assert_string_equal(fx->ended[2].code, "refused");
	check_trace(fx, fx->ended[0].request, "request:ok preflight:ok outcome:ok");
	check_trace(fx, fx->ended[1].request, "request:ok preflight:ok outcome:ok");
	check_trace(fx, fx->ended[2].request, SELECT_REFUSED);
	assert_non_null(strstr(fx->ended[2].message, "128 MiB"));
	assert_int_equal(fx->fv.n_calls, 0);
	snap_check_free(fx, &before);
	for (size_t i = 0; i < 3; i++)
		assert_true(audit_request_dry_run(fx, fx->ended[i].request));
}

/* The fake's live total, or one cell's: boot memory plus its DIMMs. */
static uint64_t live_total_mib(struct fixture *fx, int cell)
{
	char *xml = fakevirt_xml(&fx->fv, false);
	struct domain *dom = NULL;
	uint64_t kib;

	assert_int_equal(domain_parse(xml, strlen(xml), &dom, NULL), 0);
	kib = (cell < 0 ? domain_boot_kib(dom) : dom->cells[cell].memory_kib) +
	      domain_memdev_kib(dom, cell);
	domain_free(dom);
	free(xml);
	return kib / MIB;
}

/* A resize reaches a total: of the domain, or of one node with --node; it
 * grows or shrinks the difference as the domain stands when it runs. */
static void test_resize(void **state)
{
	static const struct fake_dev a256 = {.node = 0, .size_kib = 256 * MIB, .alias = "ua-a"};
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	const struct op_args args[] = {
	        {.kind = OP_RESIZE, .size_kib = 2304 * MIB, .node = -1, .wait = true},
	        {.kind = OP_RESIZE, .size_kib = 1280 * MIB, .node = 1, .wait = true},
	        {.kind = OP_RESIZE, .size_kib = 1024 * MIB, .node = 0, .wait = true},
	        {.kind = OP_RESIZE, .size_kib = 3072 * MIB, .node = -1, .wait = true},
	};
	struct domain_view *d;

	spec.n_devs = 1;
	spec.devs[0] = a256;
	d = fx_domain(fx, &spec, &roomy);
	assert_int_equal(live_total_mib(fx, -1), 2304);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(ops_submit(fx->ops, d, &args[i], NULL, NULL), 0);
	fx_run(fx, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(fx->ended[i].code, "ok");
	check_trace(fx, fx->ended[0].request, "request:ok outcome:ok"); /* already there */
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, 0), 1);
	check_trace(fx, fx->ended[1].request, GROW_HEAD STEP_OK " outcome:ok");
	check_trace(fx, fx->ended[2].request, SHRINK_HEAD " detach:ok outcome:ok");
	assert_false(fakevirt_has(&fx->fv, false, "ua-a"));
	assert_int_equal(live_total_mib(fx, 0), 1024);
	assert_int_equal(live_total_mib(fx, 1), 1280);
	assert_int_equal(ops_submit(fx->ops, d, &args[3], NULL, NULL), 0);
	fx_run(fx, 4);
	assert_string_equal(fx->ended[3].code, "ok");
	assert_int_equal(live_total_mib(fx, -1), 3072);
}

/* prepare through the agent: shown without a record, defined with a
 * request and an outcome; the XML defined is the one computed, with one
 * cell per fake host node. */
static void test_prepare(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	struct op_args show = {
	        .kind = OP_PREPARE, .node = -1, .wait = true, .prepare = {.mirror = true}};
	struct op_args define = show, bad = show;
	struct domain_view *d = fx_domain(fx, &spec, &roomy);
	char *trace;

	define.define = true;
	bad.define = true;
	bad.prepare.max_kib = MIB; /* below the guest's memory */
	assert_int_equal(ops_submit(fx->ops, d, &show, NULL, NULL), 0);
	assert_int_equal(ops_submit(fx->ops, d, &define, NULL, NULL), 0);
	assert_int_equal(ops_submit(fx->ops, d, &bad, NULL, NULL), 0);
	fx_run(fx, 3);
	assert_string_equal(fx->ended[0].code, "ok");
	assert_string_equal(fx->ended[1].code, "ok");
	assert_string_equal(fx->ended[2].code, "refused");
	check_messages(&fx->ended[2],
	               (const char *const[]){"is less than the guest's memory", NULL});
	trace = audit_trace(fx, fx->ended[0].request);
	assert_string_equal(trace, ""); /* showing changes nothing */
	free(trace);
	check_trace(fx, fx->ended[1].request, "request:ok outcome:ok");
	check_trace(fx, fx->ended[2].request, "request:ok outcome:refused");
	assert_int_equal(fx->fv.n_define, 1);
	assert_non_null(fx->fv.defined);
	assert_non_null(
	        strstr(fx->fv.defined, "<memnode cellid=\"1\" mode=\"strict\" nodeset=\"1\"/>"));
	assert_non_null(strstr(fx->fv.defined, "<vcpupin vcpu=\"1\" cpuset=\"1\"/>"));
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_ATTACH, 0), 0);
}

/* prepare through the agent takes threads per core from the backend's
 * host: 4 vCPUs on a host with 2 threads per core become 2 sockets of one
 * core with 2 threads. */
static void test_prepare_host_threads(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	struct fake_host smt = roomy;
	struct op_args define = {.kind = OP_PREPARE,
	                         .node = -1,
	                         .wait = true,
	                         .define = true,
	                         .prepare = {.mirror = true}};
	struct domain_view *d;

	spec.vcpus = 4;
	smt.threads_per_core = 2;
	d = fx_domain(fx, &spec, &smt);
	assert_int_equal(ops_submit(fx->ops, d, &define, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_string_equal(fx->ended[0].code, "ok");
	assert_non_null(fx->fv.defined);
	if (strstr(fx->fv.defined, "sockets=\"2\" cores=\"1\" threads=\"2\"") == NULL)
		fail_msg("no 2x1x2 topology in %s", fx->fv.defined);
}

/* A define that succeeded is reported as done even when reading the new
 * definition back fails: the outcome may not say FAILED for a change made. */
static void test_prepare_reread_fails(void **state)
{
	struct fixture *fx = *state;
	struct fake_spec spec = spec_two();
	struct op_args define = {.kind = OP_PREPARE,
	                         .node = -1,
	                         .wait = true,
	                         .define = true,
	                         .prepare = {.mirror = true}};
	struct domain_view *d = fx_domain(fx, &spec, &roomy);

	fx->fv.define_breaks_xml = true;
	assert_int_equal(ops_submit(fx->ops, d, &define, NULL, NULL), 0);
	fx_run(fx, 1);
	assert_int_equal(fx->fv.n_define, 1);
	assert_string_equal(fx->ended[0].code, "ok");
	check_trace(fx, fx->ended[0].request, "request:ok outcome:ok");
}

/* ---- issue 11: crash consistency and honest outcomes ---- */

/* Runs the loop for about `ms` (a worker may be waiting meanwhile). */
static void fx_spin(struct fixture *fx, unsigned ms)
{
	struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};

	event_base_loopexit(evloop_base(fx->loop), &tv);
	assert_int_equal(evloop_run(fx->loop), 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The last record of `event` for `request` (or any request when NULL);
 * caller puts it. */
static json_object *audit_last(struct fixture *fx, const char *event, const char *request)
{
	char **files = NULL;
	size_t n = 0;
	struct record_reader *rd;
	struct json_object *rec, *last = NULL;

	assert_int_equal(record_log_files(fx->path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		const char *req = record_str(rec, "request");

		if (strcmp(record_str(rec, "event"), event) == 0 &&
		    (request == NULL || (req && strcmp(req, request) == 0))) {
			json_object_put(last);
			last = rec;
		} else {
			json_object_put(rec);
		}
	}
	record_reader_free(rd);
	record_files_free(files, n);
	assert_non_null(last);
	return last;
}

static const struct fake_dev dimm_a = {.node = 0, .size_kib = 256 * MIB, .alias = "ua-a"};

static void config_remove(struct fakevirt *fv, const char *alias)
{
	for (size_t i = 0; i < fv->n_config; i++) {
		if (strcmp(fv->config[i].alias, alias) != 0)
			continue;
		memmove(&fv->config[i], &fv->config[i + 1],
		        (fv->n_config - i - 1) * sizeof(fv->config[0]));
		fv->n_config--;
		return;
	}
}

/* Break 1: intents a crash left open, reconciled against both definitions. */
struct reconcile_case {
	const char *what;
	bool grow;               /* the intent's alias is named after its request */
	bool live, config;       /* the intent's scope */
	bool in_live, in_config; /* what the crash left */
	const char *action;
	bool live_after, config_after;
	const char *model; /* the intent's device model; NULL: none given (a DIMM) */
};

static void reconcile_run(const struct reconcile_case *c)
{
	struct fake_spec spec = spec_two();
	const char *alias = c->grow ? "ua-mp-r1-0" : "ua-a";
	struct audit_options ao;
	struct audit *au = NULL;
	json_object *x = json_object_new_object(), *rec;
	struct record r = {.event = RECORD_INTENT,
	                   .domain = NAME,
	                   .request = "r1",
	                   .actor = {.kind = RECORD_ACTOR_CLIENT},
	                   .result = RECORD_PENDING,
	                   .extra = x};
	struct fixture *fx;
	void *st;

	print_message("reconcile: %s\n", c->what);
	setup(&st);
	fx = st;
	json_object_object_add(x, "node", json_object_new_int(0));
	json_object_object_add(x, "size_kib", json_object_new_uint64(256 * MIB));
	json_object_object_add(x, "alias", json_object_new_string(alias));
	json_object_object_add(x, "live", json_object_new_boolean(c->live));
	json_object_object_add(x, "config", json_object_new_boolean(c->config));
	if (c->model)
		json_object_object_add(x, "model", json_object_new_string(c->model));
	audit_options_default(&ao);
	assert_int_equal(audit_open(fx->path, &ao, &au), 0);
	assert_int_equal(audit_append(au, &r, true, NULL, NULL), 0);
	audit_free(au);
	json_object_put(x);

	spec.n_devs = 1;
	spec.devs[0] = dimm_a;
	snprintf(spec.devs[0].alias, sizeof(spec.devs[0].alias), "%s", alias);
	fx_domain(fx, &spec, &roomy);
	if (!c->in_live)
		fakevirt_drop(&fx->fv, alias);
	if (!c->in_config)
		config_remove(&fx->fv, alias);
	ops_reconcile(fx->ops);
	fx_settle(fx);
	rec = audit_last(fx, "reconciled", "r1");
	assert_string_equal(record_str(rec, "action"), c->action);
	assert_string_equal(record_str(rec, "result"), "ok");
	assert_string_equal(record_str(rec, "found_live"),
	                    c->in_live ? "attached" : "not attached");
	assert_string_equal(record_str(rec, "found_config"),
	                    c->in_config ? "attached" : "not attached");
	json_object_put(rec);
	assert_int_equal(fakevirt_has(&fx->fv, false, alias), c->live_after);
	assert_int_equal(fakevirt_has(&fx->fv, true, alias), c->config_after);
	if (strcmp(c->action, "watching") == 0) {
		json_object *open = NULL;

		/* still open: a restart before the answer looks again */
		assert_int_equal(audit_pending_intents(agent_audit_log(fx->a), &open, NULL), 0);
		assert_int_equal(json_object_array_length(open), 1);
		json_object_put(open);
		/* the guest answers after the restart: the config follows */
		assert_int_equal(ops_pending_detaches(fx->ops), 1);
		fakevirt_answer_late(&fx->fv, alias, true);
		fx_settle(fx);
		assert_false(fakevirt_has(&fx->fv, false, alias));
		assert_int_equal(fakevirt_has(&fx->fv, true, alias), !c->config);
		rec = audit_last(fx, "outcome", "r1");
		assert_string_equal(record_str(rec, "result"), "ok");
		json_object_put(rec);
	}
	/* settled: a second start finds nothing open */
	{
		json_object *pending = NULL;

		assert_int_equal(audit_pending_intents(agent_audit_log(fx->a), &pending, NULL), 0);
		assert_int_equal(json_object_array_length(pending), 0);
		json_object_put(pending);
	}
	teardown(&st);
}

static void test_reconcile_scope(void **state)
{
	const struct reconcile_case cases[] = {
	        {"shrink killed after the live detach", false, true, true, false, true,
	         "config_detached", false, false, NULL},
	        {"--live shrink: the config is never touched", false, true, false, false, true,
	         "none", false, true, NULL},
	        {"shrink killed before the guest answered", false, true, true, true, true,
	         "watching", true, true, NULL},
	        {"--live shrink killed before the answer", false, true, false, true, true,
	         "watching", true, true, NULL},
	        {"grow: live attached, config not", true, true, true, true, false,
	         "config_attached", true, true, NULL},
	        {"grow: config holds what the guest lacks", true, true, true, false, true,
	         "config_detached", false, false, NULL},
	        {"--live grow: config left alone", true, true, false, true, false, "none", true,
	         false, NULL},
	        {"--config change: one call, nothing half done", false, false, true, true, true,
	         "none", true, true, NULL},
	        {"nothing half done", true, true, true, true, true, "none", true, true, NULL},
	        {"an explicit dimm model is a DIMM", false, true, true, false, true,
	         "config_detached", false, false, "dimm"},
	        /* a guard: another model's step is never redone as a DIMM's */
	        {"another model: recorded, not touched (shrink)", false, true, true, false, true,
	         "none", false, true, "nvdimm"},
	        {"another model: recorded, not touched (grow)", true, true, true, true, false,
	         "none", true, false, "nvdimm"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		reconcile_run(&cases[i]);
}

/* Breaks 2 and 7: a detach whose answer is lost (libvirtd restarted) or
 * never comes (the guest was destroyed), while waiting or after the
 * timeout (late). */
struct lost_case {
	const char *what;
	bool destroy;        /* else: removal event lost, then a reconnect */
	uint64_t timeout_ms; /* 100: the wait ends first (late) */
	const char *code;
	const char *message;
	const char *trace;
	bool call_lost; /* the detach call itself lost its connection */
	bool undefined; /* destroyed and undefined while libvirtd was away */
};

static void lost_run(const struct lost_case *c)
{
	struct fake_spec spec = spec_two();
	struct op_args args = shrink(256, 0);
	struct fixture *fx;
	struct domain_view *d;
	int64_t t0;
	void *st;

	print_message("lost answer: %s\n", c->what);
	setup(&st);
	fx = st;
	fx->cfg->detach_timeout_ms = c->timeout_ms;
	spec.n_devs = 1;
	spec.devs[0] = dimm_a;
	d = fx_domain(fx, &spec, &roomy);
	ops_reconcile(fx->ops); /* the first connection's: nothing open */
	fx->fv.answer = c->call_lost ? FAKE_CALL_LOST : FAKE_SILENT;
	t0 = now_ms();
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_spin(fx, c->timeout_ms < 1000 ? 400 : 300);
	assert_int_equal(fakevirt_count(&fx->fv, FAKE_DETACH, BACKEND_LIVE), 1);
	if (c->destroy) {
		fakevirt_destroy_guest(&fx->fv);
	} else if (c->undefined) {
		fakevirt_undefine_quietly(&fx->fv);
		dispatch_connected(fx->dispatch, true);
	} else {
		fakevirt_drop(&fx->fv, "ua-a");
		dispatch_connected(fx->dispatch, true);
	}
	fx_run(fx, 1);
	fx_settle(fx);
	/* the truth at once, not after the 30 s the guest was given */
	assert_true(now_ms() - t0 < 3000);
	assert_string_equal(fx->ended[0].code, c->code);
	if (c->message)
		check_messages(&fx->ended[0], (const char *const[]){c->message, NULL});
	check_trace(fx, fx->ended[0].request, c->trace);
	assert_false(fakevirt_has(&fx->fv, true, "ua-a"));
	assert_int_equal(ops_pending_detaches(fx->ops), 0);
	if (c->undefined) /* its view goes once the operation ended */
		assert_null(domains_find(agent_domains(fx->a), NAME));
	teardown(&st);
}

static void test_lost_answers(void **state)
{
	const struct lost_case cases[] = {
	        {"removal lost across a libvirtd restart", false, 30000, "ok", NULL,
	         SHRINK_HEAD " detach:ok outcome:ok", false, false},
	        {"removal lost after the timeout", false, 100, "pending", "has not released",
	         SHRINK_HEAD " detach:pending outcome:pending outcome:ok", false, false},
	        {"the detach call loses the connection", false, 30000, "ok", NULL,
	         SHRINK_HEAD " detach:ok outcome:ok", true, false},
	        /* no answer says nothing about the guest when the connection
	         * went: the reply must not claim the guest kept the DIMM */
	        {"the detach call loses the connection, after the timeout", false, 100, "pending",
	         "the connection to libvirt was lost while waiting",
	         SHRINK_HEAD " detach:pending outcome:pending outcome:ok", true, false},
	        {"guest destroyed mid-shrink", true, 30000, "failed", "stopped while the guest",
	         SHRINK_HEAD " detach:failed outcome:failed", false, false},
	        {"guest destroyed after the timeout", true, 100, "pending", "has not released",
	         SHRINK_HEAD " detach:pending outcome:pending outcome:failed", false, false},
	        {"undefined while libvirtd was away, mid-shrink", false, 30000, "failed",
	         "stopped while the guest", SHRINK_HEAD " detach:failed outcome:failed", false,
	         true},
	        {"undefined while libvirtd was away, after the timeout", false, 100, "pending",
	         "has not released", SHRINK_HEAD " detach:pending outcome:pending outcome:failed",
	         false, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		lost_run(&cases[i]);
}

/* Fault injection: attaches that lose their connection or meet a slot QEMU
 * holds (break 3), an attach k of n that fails, and an audit write failing
 * at each record of a grow and of a shrink (break 4). Each case: the reply
 * (code and its key words), the request's audit trail and libvirt's event
 * records (together: the record the fault hit), and the whole device set
 * afterwards, live and persistent. */
struct fault_case {
	const char *what;
	bool shrink;      /* of ua-a (256 MiB on node 0); else a grow */
	bool shrink_two;  /* of ua-a and ua-b (512 MiB on node 0) */
	uint64_t mib;     /* the grow's size: 0 is 256 MiB on node 0, else on any node */
	unsigned fail_at; /* attach call that fails; 0: none */
	unsigned lost_at; /* attach call that loses the connection */
	bool lost_listed, lost_event;
	unsigned busy_slot1;
	int audit_fail_at; /* -1: none; else the record (0: request) that fails */
	const char *code;
	const char *message[MAX_MESSAGES]; /* words the reply holds; none: no message */
	const char *trace;                 /* the request's records, exact ("": none) */
	const char *events;                /* the records no request owns (libvirt's), exact */
	/* The aliases in the live and the persistent definition afterwards,
	 * "@" standing for the request id. */
	const char *live, *config;
};

/* `want` with each "@" replaced by the request id; caller frees. */
static char *expand(const char *want, const char *request)
{
	GString *s = g_string_new(NULL);
	char *out;

	for (const char *p = want; *p; p++) {
		if (*p == '@')
			g_string_append(s, request);
		else
			g_string_append_c(s, *p);
	}
	out = strdup(s->str);
	g_string_free(s, TRUE);
	return out;
}

/* The fake's DIMMs in the live (or persistent) definition are `want`. */
static void check_devset(struct fixture *fx, bool inactive, const char *want, const char *request)
{
	char *got = fakevirt_aliases(&fx->fv, inactive), *exp = expand(want, request);

	if (strcmp(got, exp) != 0)
		fail_msg("%s DIMMs \"%s\", expected \"%s\"", inactive ? "persistent" : "live", got,
		         exp);
	free(got);
	free(exp);
}

static void fault_run(const struct fault_case *c)
{
	struct fake_spec spec = spec_two();
	struct op_args args = c->shrink_two ? shrink(512, 0)
	                      : c->shrink   ? shrink(256, 0)
	                      : c->mib      ? grow(c->mib, -1)
	                                    : grow(256, 0);
	struct fixture *fx;
	struct domain_view *d;
	const struct ended *e;
	void *st;

	print_message("fault: %s\n", c->what);
	setup(&st);
	fx = st;
	spec.n_devs = c->shrink_two ? 2 : 1;
	spec.devs[0] = dimm_a;
	spec.devs[1] = dimm_a;
	snprintf(spec.devs[1].alias, sizeof(spec.devs[1].alias), "ua-b");
	d = fx_domain(fx, &spec, &roomy);
	fx->fv.attach_fail_at = c->fail_at;
	fx->fv.attach_error = "Cannot allocate memory";
	fx->fv.attach_lost_at = c->lost_at;
	fx->fv.lost_listed = c->lost_listed;
	fx->fv.lost_event = c->lost_event;
	fx->fv.qemu_busy_slot1 = c->busy_slot1;
	if (c->audit_fail_at >= 0)
		audit_inject_failure(agent_audit_log(fx->a), (unsigned)c->audit_fail_at, -EIO);
	assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
	fx_run(fx, 1);
	fx_settle(fx);
	e = &fx->ended[0];
	assert_string_equal(e->code, c->code);
	if (c->message[0])
		check_messages(e, c->message);
	else if (e->message)
		fail_msg("an unexpected message: \"%s\"", e->message);
	assert_non_null(c->trace);
	check_trace(fx, e->request, c->trace);
	check_trace(fx, NULL, c->events);
	check_devset(fx, false, c->live, e->request);
	check_devset(fx, true, c->config, e->request);
	teardown(&st);
}

#define AHEAD "request:ok preflight:ok intent:pending"
/* Nothing changed, or a grow of ua-mp-REQUEST-0 that stands. */
#define SET_BEFORE .live = "ua-a", .config = "ua-a"
#define SET_GROWN  .live = "ua-a ua-mp-@-0", .config = "ua-a ua-mp-@-0"
#define SET_SHRUNK .live = "", .config = ""
#define NO_FAULT   .audit_fail_at = -1

static void test_faults(void **state)
{
	const struct fault_case cases[] = {
	        {.what = "connection lost, the DIMM listed",
	         .lost_at = 1,
	         .lost_listed = true,
	         .lost_event = true,
	         NO_FAULT,
	         .code = "ok",
	         .trace = AHEAD " attach:ok outcome:ok",
	         .events = "device_added:ok",
	         SET_GROWN},
	        {.what = "connection lost, event but not listed",
	         .lost_at = 1,
	         .lost_event = true,
	         NO_FAULT,
	         .code = "unknown",
	         .message = {"DEVICE_ADDED came, the live XML does not list it"},
	         .trace = AHEAD " attach:unknown outcome:unknown",
	         .events = "device_added:ok",
	         SET_BEFORE},
	        {.what = "connection lost, no event, not listed",
	         .lost_at = 1,
	         NO_FAULT,
	         .code = "failed",
	         .message = {"not attached"},
	         .trace = AHEAD " attach:failed outcome:failed",
	         .events = "",
	         SET_BEFORE},
	        {.what = "slot 1 held by QEMU, unlisted",
	         .busy_slot1 = 2,
	         NO_FAULT,
	         .code = "ok",
	         .trace = AHEAD " attach:ok outcome:ok",
	         .events = "",
	         SET_GROWN},
	        {.what = "attach 2 of 2 fails",
	         .mib = 512,
	         .fail_at = 2,
	         NO_FAULT,
	         .code = "failed",
	         .message = {"Cannot allocate memory", "ua-mp-", "was detached again"},
	         .trace =
	                 AHEAD " attach:ok intent:pending attach:failed rollback:ok outcome:failed",
	         .events = "device_removed:ok",
	         SET_BEFORE},
	        /* ---- an audit write fails: a grow's records ---- */
	        {.what = "audit: the grow's request record fails",
	         .audit_fail_at = 0,
	         .code = "refused",
	         .message = {"audit log cannot be written", "request record",
	                     "nothing was changed"},
	         .trace = "outcome:refused",
	         .events = "",
	         SET_BEFORE},
	        {.what = "audit: the grow's preflight record fails",
	         .audit_fail_at = 1,
	         .code = "refused",
	         .message = {"changes are refused", "audit log", "injected fault"},
	         .trace = "request:ok outcome:refused",
	         .events = "",
	         SET_BEFORE},
	        {.what = "audit: the grow's intent fails",
	         .audit_fail_at = 2,
	         .code = "refused",
	         .message = {"audit log cannot be written"},
	         .trace = "request:ok preflight:ok outcome:refused",
	         .events = "",
	         SET_BEFORE},
	        {.what = "audit: the attach record fails",
	         .audit_fail_at = 3,
	         .code = "failed",
	         .message = {"the attach record", "was detached again"},
	         .trace = AHEAD " rollback:ok outcome:failed",
	         .events = "device_removed:ok",
	         SET_BEFORE},
	        {.what = "audit: the grow's outcome fails",
	         .audit_fail_at = 4,
	         .code = "failed",
	         .message = {"the outcome of", "1 of the 1 DIMMs attached was detached again"},
	         .trace = AHEAD " attach:ok rollback:ok outcome:failed",
	         .events = "device_removed:ok",
	         SET_BEFORE},
	        /* attach 2 of 2 fails, then the record of the first DIMM's
	         * rollback (record 7: 6 is its DEVICE_REMOVED event's) */
	        {.what = "audit: a rollback record fails",
	         .mib = 512,
	         .fail_at = 2,
	         .audit_fail_at = 7,
	         .code = "failed",
	         .message = {"Cannot allocate memory", "was detached again"},
	         .trace = AHEAD " attach:ok intent:pending attach:failed outcome:failed",
	         .events = "device_removed:ok",
	         SET_BEFORE},
	        /* ---- an audit write fails: a shrink's records ---- */
	        {.what = "audit: the shrink's request record fails",
	         .shrink = true,
	         .audit_fail_at = 0,
	         .code = "refused",
	         .message = {"audit log cannot be written", "request record",
	                     "nothing was changed"},
	         .trace = "outcome:refused",
	         .events = "",
	         SET_BEFORE},
	        {.what = "audit: the shrink's preflight record fails",
	         .shrink = true,
	         .audit_fail_at = 1,
	         .code = "refused",
	         .message = {"changes are refused", "audit log", "injected fault"},
	         .trace = "request:ok outcome:refused",
	         .events = "",
	         SET_BEFORE},
	        {.what = "audit: the shrink's intent fails",
	         .shrink = true,
	         .audit_fail_at = 2,
	         .code = "refused",
	         .message = {"audit log cannot be written"},
	         .trace = "request:ok preflight:ok outcome:refused",
	         .events = "",
	         SET_BEFORE},
	        /* record 3 is the DEVICE_REMOVED event's: libvirt's, not the
	         * request's; the request's own records are all written */
	        {.what = "audit: the shrink's device_removed record fails",
	         .shrink = true,
	         .audit_fail_at = 3,
	         .code = "ok",
	         .trace = AHEAD " detach:ok outcome:ok",
	         .events = "",
	         SET_SHRUNK},
	        {.what = "audit: the detach record fails",
	         .shrink = true,
	         .audit_fail_at = 4,
	         .code = "failed",
	         .message = {"ua-a was detached, but the audit log cannot be written",
	                     "without its detach record"},
	         .trace = AHEAD " outcome:failed",
	         .events = "device_removed:ok",
	         SET_SHRUNK},
	        {.what = "audit: the shrink's outcome fails",
	         .shrink = true,
	         .audit_fail_at = 5,
	         .code = "failed",
	         .message = {"the memory was removed", "without its outcome record"},
	         .trace = AHEAD " detach:ok outcome:failed",
	         .events = "device_removed:ok",
	         SET_SHRUNK},
	        /* a shrink removes the newest DIMM first: ua-b is gone when
	         * ua-a's intent (record 5) fails; the reply may not say
	         * refused, as if nothing had changed */
	        {.what = "audit: the second intent of a shrink fails",
	         .shrink_two = true,
	         .audit_fail_at = 5,
	         .code = "failed",
	         .message = {"audit log cannot be written", "the intent record of ua-a",
	                     "what was removed before it stays removed: ua-b"},
	         .trace = AHEAD " detach:ok outcome:failed",
	         .events = "device_removed:ok",
	         .live = "ua-a",
	         .config = "ua-a"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fault_run(&cases[i]);
}

/* Break 4 on a real full file system: the audit log on a small tmpfs (a
 * private mount namespace; needs root, skipped otherwise). */

/* Fills the file system holding `dir` until ENOSPC. */
static void fill_disk(void *arg)
{
	const char *dir = arg;
	char path[128], buf[4096] = {0};
	FILE *f;

	snprintf(path, sizeof(path), "%s/filler", dir);
	f = fopen(path, "a");
	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	while (fwrite(buf, 1, sizeof(buf), f) == sizeof(buf))
		;
	while (fwrite(buf, 1, 1, f) == 1)
		;
	fclose(f);
}

/* Leaves `keep` bytes free: fills, then gives back that much. */
static void fill_disk_but(const char *dir, off_t keep)
{
	char path[128];
	struct stat st;

	fill_disk((void *)dir);
	snprintf(path, sizeof(path), "%s/filler", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size > keep ? st.st_size - keep : 0), 0);
}

struct disk_case {
	const char *what;
	bool fill_before; /* leave 8 KiB: less than the reservation */
	bool fill_during; /* the disk fills right after the intent */
	const char *code;
	const char *trace;
	bool attached;
	unsigned rounds;
};

static void disk_run(const struct disk_case *c)
{
	struct fake_spec spec = spec_two();
	struct op_args args = grow(256, 0);
	char opts[32], alias[FAKE_ALIAS_MAX];
	struct fixture *fx;
	struct domain_view *d;
	void *st;

	print_message("disk: %s\n", c->what);
	setup(&st);
	fx = st;
	snprintf(opts, sizeof(opts), "size=%dk", 256);
	assert_int_equal(mount("tmpfs", fx->dir, "tmpfs", 0, opts), 0);
	d = fx_domain(fx, &spec, &roomy);
	if (c->fill_before)
		fill_disk_but(fx->dir, 8192);
	if (c->fill_during) {
		fx->fv.on_attach = fill_disk;
		fx->fv.on_attach_arg = fx->dir;
	}
	/* Several grows: the records of each land at another offset in the
	 * log's last page, so one of them needs a new page after the disk
	 * filled (the page's slack would hide the full disk otherwise). */
	for (unsigned k = 0; k < c->rounds; k++) {
		char path[128];

		assert_int_equal(ops_submit(fx->ops, d, &args, NULL, NULL), 0);
		fx_run(fx, k + 1);
		assert_string_equal(fx->ended[k].code, c->code);
		alias_of(alias, sizeof(alias), fx->ended[k].request, "-0");
		assert_int_equal(fakevirt_has(&fx->fv, false, alias), c->attached);
		assert_int_equal(fakevirt_has(&fx->fv, true, alias), c->attached);
		/* the trail is on the disk, whatever happened */
		check_trace(fx, fx->ended[k].request, c->trace);
		snprintf(path, sizeof(path), "%s/filler", fx->dir);
		unlink(path);
	}
	dispatch_free(fx->dispatch);
	fx->dispatch = NULL;
	ops_free(fx->ops);
	fx->ops = NULL;
	agent_free(fx->a);
	fx->a = NULL;
	fx->cfg = config_new_default();
	unlink(fx->path);
	assert_int_equal(umount(fx->dir), 0);
	teardown(&st);
}

static void test_audit_disk_full(void **state)
{
	const struct disk_case cases[] = {
	        {"less room than the records need: refused before any change", true, false,
	         "refused", "request:ok preflight:ok outcome:refused", false, 1},
	        {"the disk fills right after the intent: the records still fit", false, true, "ok",
	         AHEAD " attach:ok outcome:ok", true, 4},
	};

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		disk_run(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_rollback),
	        cmocka_unit_test(test_shrink_answers),
	        cmocka_unit_test(test_shrink_refused_after_one),
	        cmocka_unit_test_setup_teardown(test_audit_fail_closed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_queued, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_config_shut_off, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_prepare_reread_fails, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_prepare_host_threads, setup, teardown),
	        cmocka_unit_test(test_reconcile_scope),
	        cmocka_unit_test(test_lost_answers),
	        cmocka_unit_test(test_faults),
	        cmocka_unit_test(test_audit_disk_full),
	};

	log_init("test-ops", true, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
