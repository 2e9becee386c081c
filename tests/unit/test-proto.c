/*
 * Unit tests for common/proto: frame headers at and around the caps, every
 * malformed request the agent must refuse (with the field it names), the
 * read-only/mutating split, and round trips through the builders.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

struct frame_case {
	const char *what;
	unsigned char hdr[4];
	size_t avail; /* bytes present, header included */
	size_t max;
	int rc;
	size_t len; /* expected payload length when set */
};

static const struct frame_case frame_cases[] = {
        {"empty buffer", {0, 0, 0, 5}, 0, 16, -EAGAIN, 0},
        {"partial header", {0, 0, 0, 5}, 3, 16, -EAGAIN, 0},
        {"header only", {0, 0, 0, 5}, 4, 16, -EAGAIN, 5},
        {"partial payload", {0, 0, 0, 5}, 8, 16, -EAGAIN, 5},
        {"whole frame", {0, 0, 0, 5}, 9, 16, 0, 5},
        {"whole frame plus next", {0, 0, 0, 5}, 12, 16, 0, 5},
        {"exact cap", {0, 0, 0, 16}, 20, 16, 0, 16},
        {"cap plus one", {0, 0, 0, 17}, 21, 16, -EMSGSIZE, 0},
        {"cap plus one, header only", {0, 0, 0, 17}, 4, 16, -EMSGSIZE, 0},
        {"zero length", {0, 0, 0, 0}, 4, 16, -EBADMSG, 0},
        {"garbage length", {0xff, 0xff, 0xff, 0xff}, 4, 16, -EMSGSIZE, 0},
        {"big-endian order", {0, 1, 0, 0}, 4, PROTO_REQUEST_MAX, -EAGAIN, 65536},
        {"real cap plus one", {0, 1, 0, 1}, 4, PROTO_REQUEST_MAX, -EMSGSIZE, 0},
        {"ASCII as length", {'{', '"', 'v', '"'}, 4, PROTO_REQUEST_MAX, -EMSGSIZE, 0},
};

static void test_frame_check(void **state)
{
	for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		const struct frame_case *fc = &frame_cases[i];
		unsigned char *buf = calloc(1, fc->avail + 4);
		size_t len = 0;
		char *err = NULL;
		int rc;

		memcpy(buf, fc->hdr, 4);
		rc = proto_frame_check(buf, fc->avail, fc->max, &len, &err);
		print_message("frame: %s -> %d (%s)\n", fc->what, rc, err ? err : "");
		assert_int_equal(rc, fc->rc);
		if (fc->len)
			assert_int_equal(len, fc->len);
		if (rc != 0 && rc != -EAGAIN)
			assert_non_null(err);
		free(err);
		free(buf);
	}
}

struct request_case {
	const char *what;
	const char *json;
	int rc;
	uint32_t id;
	const char *err; /* substring of the error message */
};

static const struct request_case request_cases[] = {
        {"status", "{\"v\":1,\"id\":7,\"cmd\":\"status\"}", 0, 7, NULL},
        {"status with empty args", "{\"v\":1,\"id\":8,\"cmd\":\"status\",\"args\":{}}", 0, 8, NULL},
        {"grow full",
         "{\"v\":1,\"id\":9,\"cmd\":\"grow\",\"args\":{\"domain\":\"g\",\"size\":1024,"
         "\"node\":1,\"live\":true,\"config\":false,\"wait\":true}}",
         0, 9, NULL},
        {"resize",
         "{\"v\":1,\"id\":12,\"cmd\":\"resize\",\"args\":{\"domain\":\"g\",\"size\":1024}}", 0, 12,
         NULL},
        {"shrink dry run",
         "{\"v\":1,\"id\":10,\"cmd\":\"shrink\",\"args\":{\"domain\":\"g\",\"size\":1024,"
         "\"dry_run\":true}}",
         0, 10, NULL},
        {"dry_run not a bool",
         "{\"v\":1,\"id\":11,\"cmd\":\"grow\",\"args\":{\"domain\":\"g\",\"size\":1024,"
         "\"dry_run\":1}}",
         -EBADMSG, 11, "'dry_run' must be a boolean"},
        {"max id", "{\"v\":1,\"id\":4294967295,\"cmd\":\"status\"}", 0, 4294967295u, NULL},
        {"whitespace around", "  {\"v\":1,\"id\":1,\"cmd\":\"status\"}\n", 0, 1, NULL},
        {"not JSON", "{hello}", -EBADMSG, 0, "not valid JSON"},
        {"plain text", "hello", -EBADMSG, 0, "not a JSON object"},
        {"only spaces", "   ", -EBADMSG, 0, "not a JSON object"},
        {"truncated JSON", "{\"v\":1,\"id\":1", -EBADMSG, 0, "truncated"},
        {"trailing garbage", "{\"v\":1,\"id\":1,\"cmd\":\"status\"} x", -EBADMSG, 0, "JSON"},
        {"two objects", "{\"v\":1,\"id\":1,\"cmd\":\"status\"}{}", -EBADMSG, 0, "JSON"},
        {"array", "[1,2]", -EBADMSG, 0, "not a JSON object"},
        {"string", "\"status\"", -EBADMSG, 0, "not a JSON object"},
        {"number", "42", -EBADMSG, 0, "not a JSON object"},
        {"trailing comma", "{\"v\":1,\"id\":1,\"cmd\":\"status\",}", -EBADMSG, 0, "JSON"},
        {"bad UTF-8", "{\"v\":1,\"id\":1,\"cmd\":\"st\xff\"}", -EBADMSG, 0, "JSON"},
        {"NaN", "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"x\":NaN}", -EBADMSG, 0, "non-finite"},
        {"Infinity in args", "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"args\":{\"a\":-Infinity}}",
         -EBADMSG, 0, "non-finite"},
        {"overflowing exponent", "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"x\":[1e999]}", -EBADMSG, 0,
         "non-finite"},
        {"deep nesting",
         "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"args\":{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]"
         "]]]]"
         "]}}",
         -EBADMSG, 0, "nesting too deep"},
        {"missing id", "{\"v\":1,\"cmd\":\"status\"}", -EBADMSG, 0, "'id'"},
        {"id string", "{\"v\":1,\"id\":\"1\",\"cmd\":\"status\"}", -EBADMSG, 0, "'id'"},
        {"id negative", "{\"v\":1,\"id\":-1,\"cmd\":\"status\"}", -EBADMSG, 0, "'id'"},
        {"id too big", "{\"v\":1,\"id\":4294967296,\"cmd\":\"status\"}", -EBADMSG, 0, "'id'"},
        {"id double", "{\"v\":1,\"id\":1.5,\"cmd\":\"status\"}", -EBADMSG, 0, "'id'"},
        {"missing version", "{\"id\":3,\"cmd\":\"status\"}", -EBADMSG, 3, "'v'"},
        {"version string", "{\"v\":\"1\",\"id\":3,\"cmd\":\"status\"}", -EBADMSG, 3, "'v'"},
        {"wrong version", "{\"v\":2,\"id\":3,\"cmd\":\"status\"}", -EPROTO, 3, "version 2"},
        {"missing cmd", "{\"v\":1,\"id\":4}", -EBADMSG, 4, "'cmd'"},
        {"cmd not string", "{\"v\":1,\"id\":4,\"cmd\":5}", -EBADMSG, 4, "'cmd'"},
        {"unknown cmd", "{\"v\":1,\"id\":5,\"cmd\":\"explode\"}", -ENOSYS, 5, "'explode'"},
        {"unknown top field", "{\"v\":1,\"id\":6,\"cmd\":\"status\",\"uid\":0}", -EBADMSG, 6,
         "'uid'"},
        {"args not object", "{\"v\":1,\"id\":6,\"cmd\":\"status\",\"args\":[]}", -EBADMSG, 6,
         "'args'"},
        {"unknown arg", "{\"v\":1,\"id\":6,\"cmd\":\"status\",\"args\":{\"x\":1}}", -EBADMSG, 6,
         "'x'"},
        {"missing required arg", "{\"v\":1,\"id\":6,\"cmd\":\"inspect\",\"args\":{}}", -EBADMSG, 6,
         "'domain'"},
        {"string arg as number", "{\"v\":1,\"id\":6,\"cmd\":\"inspect\",\"args\":{\"domain\":1}}",
         -EBADMSG, 6, "'domain' must be a string"},
        {"uint arg as string",
         "{\"v\":1,\"id\":6,\"cmd\":\"grow\",\"args\":{\"domain\":\"g\",\"size\":\"1G\"}}",
         -EBADMSG, 6, "'size' must be"},
        {"uint arg negative",
         "{\"v\":1,\"id\":6,\"cmd\":\"grow\",\"args\":{\"domain\":\"g\",\"size\":-1}}", -EBADMSG, 6,
         "'size' is out of range"},
        {"uint arg double",
         "{\"v\":1,\"id\":6,\"cmd\":\"grow\",\"args\":{\"domain\":\"g\",\"size\":1.0}}", -EBADMSG,
         6, "'size' must be"},
        {"uint arg huge",
         "{\"v\":1,\"id\":6,\"cmd\":\"grow\",\"args\":{\"domain\":\"g\",\"size\":"
         "18446744073709551615}}",
         -EBADMSG, 6, "'size' is out of range"},
        {"bool arg as int",
         "{\"v\":1,\"id\":6,\"cmd\":\"grow\",\"args\":{\"domain\":\"g\",\"size\":1,\"live\":1}}",
         -EBADMSG, 6, "'live' must be a boolean"},
        {"null arg", "{\"v\":1,\"id\":6,\"cmd\":\"inspect\",\"args\":{\"domain\":null}}", -EBADMSG,
         6, "'domain'"},
        {"NUL in string arg",
         "{\"v\":1,\"id\":6,\"cmd\":\"inspect\",\"args\":{\"domain\":\"a\\u0000b\"}}", -EBADMSG, 6,
         "NUL"},
        {"bad choice",
         "{\"v\":1,\"id\":6,\"cmd\":\"policy\",\"args\":{\"domain\":\"g\",\"action\":\"x\"}}",
         -EBADMSG, 6, "'action' has an unknown value"},
        {"prepare carries options, never XML",
         "{\"v\":1,\"id\":6,\"cmd\":\"prepare\",\"args\":{\"domain\":\"g\",\"action\":"
         "\"define\",\"xml\":\"<domain/>\"}}",
         -EBADMSG, 6, "'xml'"},
        {"string array arg",
         "{\"v\":1,\"id\":6,\"cmd\":\"policy\",\"args\":{\"domain\":\"g\",\"action\":\"unset\","
         "\"keys\":[\"min\",\"max\"]}}",
         0, 6, NULL},
        {"string array with a number",
         "{\"v\":1,\"id\":6,\"cmd\":\"policy\",\"args\":{\"domain\":\"g\",\"action\":\"unset\","
         "\"keys\":[\"min\",2]}}",
         -EBADMSG, 6, "'keys' must be an array of strings"},
        {"string array as a string",
         "{\"v\":1,\"id\":6,\"cmd\":\"policy\",\"args\":{\"domain\":\"g\",\"action\":\"unset\","
         "\"keys\":\"min\"}}",
         -EBADMSG, 6, "'keys' must be an array of strings"},
        {"object arg",
         "{\"v\":1,\"id\":6,\"cmd\":\"policy\",\"args\":{\"domain\":\"g\",\"action\":\"set\","
         "\"settings\":{\"low\":1}}}",
         0, 6, NULL},
};

static void test_request_parse(void **state)
{
	for (size_t i = 0; i < sizeof(request_cases) / sizeof(request_cases[0]); i++) {
		const struct request_case *rc = &request_cases[i];
		struct proto_request *req = NULL;
		char *err = NULL;
		uint32_t id = 12345;
		int r;

		r = proto_request_parse(rc->json, strlen(rc->json), &req, &id, &err);
		print_message("request: %s -> %d (%s)\n", rc->what, r, err ? err : "");
		assert_int_equal(r, rc->rc);
		assert_int_equal(id, rc->id);
		if (r == 0) {
			assert_non_null(req);
			assert_int_equal(req->id, rc->id);
			assert_true(json_object_is_type(req->args, json_type_object));
		} else {
			assert_null(req);
			assert_non_null(err);
			assert_non_null(strstr(err, rc->err));
		}
		proto_request_free(req);
		free(err);
	}
}

static void test_request_nul_byte(void **state)
{
	static const char json[] = "{\"v\":1,\"id\":1,\"cmd\":\"status\"}\0junk";
	struct proto_request *req = NULL;
	uint32_t id;
	char *err = NULL;

	assert_int_equal(proto_request_parse(json, sizeof(json) - 1, &req, &id, &err), -EBADMSG);
	assert_non_null(strstr(err, "NUL"));
	free(err);
}

static void test_long_string(void **state)
{
	static char json[6000];
	const char *head = "{\"v\":1,\"id\":1,\"cmd\":\"inspect\",\"args\":{\"domain\":\"";
	size_t h = strlen(head);
	struct proto_request *req = NULL;
	char *err = NULL;
	uint32_t id;

	memcpy(json, head, h);
	memset(json + h, 'a', 5000);
	memcpy(json + h + 5000, "\"}}", 4);
	assert_int_equal(proto_request_parse(json, strlen(json), &req, &id, &err), -EBADMSG);
	assert_non_null(strstr(err, "too long"));
	free(err);
}

struct mutate_case {
	const char *cmd;
	const char *args;
	bool mutates;
};

static const struct mutate_case mutate_cases[] = {
        {"status", "{}", false},
        {"inspect", "{\"domain\":\"g\"}", false},
        {"plan", "{\"domain\":\"g\",\"action\":\"grow\",\"size\":1,\"strategy\":\"even\"}", false},
        {"log", "{\"follow\":true}", false},
        {"policy", "{\"domain\":\"g\",\"action\":\"show\"}", false},
        {"policy", "{\"domain\":\"g\",\"action\":\"enable\"}", true},
        {"policy", "{\"domain\":\"g\",\"action\":\"set\",\"settings\":{}}", true},
        {"policy", "{\"domain\":\"g\",\"action\":\"unset\",\"keys\":[\"min\"]}", true},
        {"grow", "{\"domain\":\"g\",\"size\":1}", true},
        {"shrink", "{\"domain\":\"g\",\"size\":1}", true},
        {"prepare", "{\"domain\":\"g\",\"action\":\"show\",\"mirror_host\":true}", false},
        {"prepare", "{\"domain\":\"g\",\"action\":\"define\",\"cells\":2,\"max_kib\":1}", true},
};

/* Builds, frames, unframes and checks each request: the builder and checker agree. */
static void test_request_round_trip(void **state)
{
	for (size_t i = 0; i < sizeof(mutate_cases) / sizeof(mutate_cases[0]); i++) {
		const struct mutate_case *mc = &mutate_cases[i];
		struct json_object *msg =
		        proto_request_build(100 + i, mc->cmd, json_tokener_parse(mc->args));
		struct proto_request *req = NULL;
		char *frame = NULL, *err = NULL;
		size_t n, len;
		uint32_t id;

		assert_int_equal(proto_frame_encode(msg, PROTO_REQUEST_MAX, &frame, &n, &err), 0);
		assert_int_equal(proto_frame_check(frame, n, PROTO_REQUEST_MAX, &len, &err), 0);
		assert_int_equal(len + PROTO_HEADER_LEN, n);
		assert_int_equal(proto_request_parse(frame + 4, len, &req, &id, &err), 0);
		assert_int_equal(req->id, 100 + i);
		assert_string_equal(proto_cmd_name(req->cmd), mc->cmd);
		assert_int_equal(proto_cmd_lookup(mc->cmd), req->cmd);
		assert_true(json_object_equal(req->args, json_object_object_get(msg, "args")));
		assert_int_equal(proto_request_mutates(req), mc->mutates);
		proto_request_free(req);
		json_object_put(msg);
		free(frame);
	}
}

static void test_encode_cap(void **state)
{
	struct json_object *msg = proto_request_build(1, "status", NULL);
	size_t exact = strlen(json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
	char *frame = NULL, *err = NULL;
	size_t n;

	assert_int_equal(proto_frame_encode(msg, exact, &frame, &n, &err), 0);
	assert_int_equal(n, exact + 4);
	free(frame);
	frame = NULL;
	assert_int_equal(proto_frame_encode(msg, exact - 1, &frame, &n, &err), -EMSGSIZE);
	assert_null(frame);
	assert_non_null(strstr(err, "cap"));
	free(err);
	json_object_put(msg);
}

static void test_reply_ok_round_trip(void **state)
{
	struct json_object *data = json_tokener_parse("{\"domains\":[{\"name\":\"g\"}]}");
	struct json_object *msg = proto_reply_ok(42, json_object_get(data), true);
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
	struct proto_reply *reply = NULL;
	char *err = NULL;

	assert_int_equal(proto_reply_parse(s, strlen(s), &reply, &err), 0);
	assert_int_equal(reply->id, 42);
	assert_true(reply->ok);
	assert_true(reply->more);
	assert_true(json_object_equal(reply->data, data));
	assert_null(reply->code);
	proto_reply_free(reply);
	json_object_put(msg);
	json_object_put(data);
}

static void test_reply_error_round_trip(void **state)
{
	struct json_object *msg = proto_reply_error(9, PROTO_E_UNAUTHORIZED, "need root");
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
	struct proto_reply *reply = NULL;
	char *err = NULL;

	assert_int_equal(proto_reply_parse(s, strlen(s), &reply, &err), 0);
	assert_int_equal(reply->id, 9);
	assert_false(reply->ok);
	assert_false(reply->more);
	assert_null(reply->data);
	assert_string_equal(reply->code, "unauthorized");
	assert_string_equal(reply->message, "need root");
	proto_reply_free(reply);
	json_object_put(msg);
}

static const struct request_case reply_cases[] = {
        {"ok without data", "{\"v\":1,\"id\":1,\"ok\":true}", -EBADMSG, 0, "'data'"},
        {"ok data not object", "{\"v\":1,\"id\":1,\"ok\":true,\"data\":[]}", -EBADMSG, 0, "'data'"},
        {"ok not bool", "{\"v\":1,\"id\":1,\"ok\":1,\"data\":{}}", -EBADMSG, 0, "'ok'"},
        {"missing ok", "{\"v\":1,\"id\":1,\"data\":{}}", -EBADMSG, 0, "'ok'"},
        {"error without message", "{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"x\"}}",
         -EBADMSG, 0, "'error.message'"},
        {"error not object", "{\"v\":1,\"id\":1,\"ok\":false,\"error\":\"x\"}", -EBADMSG, 0,
         "'error'"},
        {"unknown field", "{\"v\":1,\"id\":1,\"ok\":true,\"data\":{},\"x\":1}", -EBADMSG, 0, "'x'"},
        {"wrong version", "{\"v\":3,\"id\":1,\"ok\":true,\"data\":{}}", -EPROTO, 0, "version"},
        {"more not bool", "{\"v\":1,\"id\":1,\"ok\":true,\"more\":1,\"data\":{}}", -EBADMSG, 0,
         "'more'"},
};

static void test_reply_malformed(void **state)
{
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct request_case *rc = &reply_cases[i];
		struct proto_reply *reply = NULL;
		char *err = NULL;
		int r = proto_reply_parse(rc->json, strlen(rc->json), &reply, &err);

		print_message("reply: %s -> %d (%s)\n", rc->what, r, err ? err : "");
		assert_int_equal(r, rc->rc);
		assert_null(reply);
		assert_non_null(strstr(err, rc->err));
		free(err);
	}
}

static void test_error_codes(void **state)
{
	assert_string_equal(proto_error_code(-ENOSYS), "unknown_command");
	assert_string_equal(proto_error_code(-EBADMSG), "bad_request");
	assert_string_equal(proto_error_code(-EPROTO), "bad_request");
	assert_null(proto_cmd_name(PROTO_CMD_COUNT));
	assert_int_equal(proto_cmd_lookup("nope"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frame_check),
	        cmocka_unit_test(test_request_parse),
	        cmocka_unit_test(test_request_nul_byte),
	        cmocka_unit_test(test_long_string),
	        cmocka_unit_test(test_request_round_trip),
	        cmocka_unit_test(test_encode_cap),
	        cmocka_unit_test(test_reply_ok_round_trip),
	        cmocka_unit_test(test_reply_error_round_trip),
	        cmocka_unit_test(test_reply_malformed),
	        cmocka_unit_test(test_error_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
