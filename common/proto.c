/*
 * The control protocol (see proto.h and docs/protocol.md): frame headers,
 * strict JSON parsing, the command table with each command's argument
 * schema, and the request/reply builders and checkers. Pure: no I/O.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proto.h"

#define PROTO_STRING_MAX  4096 /* longest string argument, in bytes */
#define PROTO_STRINGS_MAX 64   /* most strings in an array argument */

enum proto_type { PROTO_T_STRING, PROTO_T_UINT, PROTO_T_BOOL, PROTO_T_OBJECT, PROTO_T_STRINGS };

struct proto_arg {
	const char *name;
	enum proto_type type;
	bool required;
	const char *const *choices; /* NULL-terminated allowed strings, or NULL */
};

struct proto_spec {
	const char *name;
	bool mutates;
	/* When set, the command is read-only iff args.action equals this. */
	const char *ro_action;
	const struct proto_arg *args; /* terminated by a NULL name */
};

static const char *const plan_actions[] = {"grow", "shrink", NULL};
static const char *const device_models[] = {"dimm", "virtio-mem", NULL};
static const char *const policy_actions[] = {"show", "enable", "disable", "set", "unset", NULL};
static const char *const prepare_actions[] = {"show", "define", NULL};

static const struct proto_arg args_none[] = {{NULL}};

static const struct proto_arg args_domain[] = {
        {"domain", PROTO_T_STRING, true, NULL},
        {NULL},
};

static const struct proto_arg args_plan[] = {
        {"domain", PROTO_T_STRING, true, NULL},
        {"action", PROTO_T_STRING, false, plan_actions},
        {"size", PROTO_T_UINT, false, NULL},
        {"node", PROTO_T_UINT, false, NULL},
        {"strategy", PROTO_T_STRING, false, NULL},       /* checked by the planner */
        {"model", PROTO_T_STRING, false, device_models}, /* absent: the config's */
        {NULL},
};

static const struct proto_arg args_resize[] = {
        {"domain", PROTO_T_STRING, true, NULL},
        {"size", PROTO_T_UINT, true, NULL},
        {"node", PROTO_T_UINT, false, NULL},
        {"live", PROTO_T_BOOL, false, NULL},
        {"config", PROTO_T_BOOL, false, NULL},
        {"wait", PROTO_T_BOOL, false, NULL},
        {"dry_run", PROTO_T_BOOL, false, NULL},
        {"model", PROTO_T_STRING, false, device_models}, /* absent: the config's */
        {NULL},
};

static const struct proto_arg args_policy[] = {
        {"domain", PROTO_T_STRING, true, NULL},
        {"action", PROTO_T_STRING, true, policy_actions},
        {"settings", PROTO_T_OBJECT, false, NULL},
        {"keys", PROTO_T_STRINGS, false, NULL}, /* unset: checked by the policy */
        {NULL},
};

static const struct proto_arg args_log[] = {
        {"domain", PROTO_T_STRING, false, NULL},  {"since", PROTO_T_STRING, false, NULL},
        {"until", PROTO_T_STRING, false, NULL},   {"event", PROTO_T_STRING, false, NULL},
        {"request", PROTO_T_STRING, false, NULL}, {"limit", PROTO_T_UINT, false, NULL},
        {"follow", PROTO_T_BOOL, false, NULL},    {NULL},
};

/* prepare carries the options, never XML: the agent computes the definition
 * itself (docs/prepare.md). Values are checked by prepare_opts_from_json(). */
static const struct proto_arg args_prepare[] = {
        {"domain", PROTO_T_STRING, true, NULL},
        {"action", PROTO_T_STRING, true, prepare_actions},
        {"mirror_host", PROTO_T_BOOL, false, NULL},
        {"cells", PROTO_T_UINT, false, NULL},
        {"max_kib", PROTO_T_UINT, false, NULL},
        {"slots", PROTO_T_UINT, false, NULL},
        {"cpuless_kib", PROTO_T_UINT, false, NULL},
        {"no_pin", PROTO_T_BOOL, false, NULL},
        {"model", PROTO_T_STRING, false, device_models}, /* virtio-mem: a device per cell */
        {NULL},
};

static const struct proto_spec proto_specs[PROTO_CMD_COUNT] = {
        [PROTO_CMD_STATUS] = {"status", false, NULL, args_none},
        [PROTO_CMD_INSPECT] = {"inspect", false, NULL, args_domain},
        [PROTO_CMD_PLAN] = {"plan", false, NULL, args_plan},
        [PROTO_CMD_GROW] = {"grow", true, NULL, args_resize},
        [PROTO_CMD_SHRINK] = {"shrink", true, NULL, args_resize},
        [PROTO_CMD_POLICY] = {"policy", true, "show", args_policy},
        [PROTO_CMD_LOG] = {"log", false, NULL, args_log},
        [PROTO_CMD_PREPARE] = {"prepare", true, "show", args_prepare},
        [PROTO_CMD_RESIZE] = {"resize", true, NULL, args_resize},
};

static const char *const proto_type_names[] = {
        [PROTO_T_STRING] = "a string",
        [PROTO_T_UINT] = "a non-negative integer",
        [PROTO_T_BOOL] = "a boolean",
        [PROTO_T_OBJECT] = "an object",
        [PROTO_T_STRINGS] = "an array of strings",
};

const char *proto_cmd_name(enum proto_cmd cmd)
{
	if ((unsigned)cmd >= PROTO_CMD_COUNT)
		return NULL;
	return proto_specs[cmd].name;
}

int proto_cmd_lookup(const char *name)
{
	for (int i = 0; i < PROTO_CMD_COUNT; i++) {
		if (strcmp(proto_specs[i].name, name) == 0)
			return i;
	}
	return -1;
}

bool proto_request_mutates(const struct proto_request *req)
{
	const struct proto_spec *spec = &proto_specs[req->cmd];
	struct json_object *action;

	if (!spec->mutates)
		return false;
	if (spec->ro_action == NULL)
		return true;
	if (!json_object_object_get_ex(req->args, "action", &action))
		return true;
	return strcmp(json_object_get_string(action), spec->ro_action) != 0;
}

int proto_frame_check(const void *buf, size_t avail, size_t max, size_t *len, char **err)
{
	const unsigned char *p = buf;
	uint32_t n;

	if (avail < PROTO_HEADER_LEN)
		return -EAGAIN;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (n == 0)
		return err_ret(err, -EBADMSG, "frame length is zero");
	if (n > max)
		return err_ret(err, -EMSGSIZE, "frame of %u bytes exceeds the %zu-byte cap", n,
		               max);
	*len = n;
	if (avail - PROTO_HEADER_LEN < n)
		return -EAGAIN;
	return 0;
}

int proto_frame_encode(struct json_object *msg, size_t max, char **out, size_t *out_len, char **err)
{
	size_t n;
	const char *s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &n);
	char *frame;

	if (s == NULL)
		return err_ret(err, -ENOMEM, "cannot serialize message");
	if (n == 0 || n > max)
		return err_ret(err, -EMSGSIZE, "message of %zu bytes exceeds the %zu-byte cap", n,
		               max);
	frame = malloc(PROTO_HEADER_LEN + n);
	if (frame == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	frame[0] = (char)(n >> 24);
	frame[1] = (char)(n >> 16);
	frame[2] = (char)(n >> 8);
	frame[3] = (char)n;
	memcpy(frame + PROTO_HEADER_LEN, s, n);
	*out = frame;
	*out_len = PROTO_HEADER_LEN + n;
	return 0;
}

/* json-c accepts NaN, Infinity and overflowing exponents even in strict mode. */
static int proto_json_check_finite(struct json_object *obj, char **err)
{
	switch (json_object_get_type(obj)) {
	case json_type_double:
		if (!isfinite(json_object_get_double(obj)))
			return err_ret(err, -EBADMSG, "non-finite number in message");
		return 0;
	case json_type_object: { /* the macro declares variables: C11 needs a block */
		json_object_object_foreach(obj, key, val)
		{
			(void)key;
			if (proto_json_check_finite(val, err) < 0)
				return -EBADMSG;
		}
		return 0;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(obj); i++) {
			if (proto_json_check_finite(json_object_array_get_idx(obj, i), err) < 0)
				return -EBADMSG;
		}
		return 0;
	default:
		return 0;
	}
}

int proto_json_parse(const char *buf, size_t len, struct json_object **out, char **err)
{
	struct json_tokener *tok;
	struct json_object *obj = NULL;
	size_t skip = 0;
	int rc = -EBADMSG;

	if (len == 0 || len > INT32_MAX || memchr(buf, '\0', len) != NULL)
		return err_ret(err, -EBADMSG, "message is empty or contains a NUL byte");
	/* Saves parsing, and json-c would call a bare number "truncated". */
	while (skip < len && strchr(" \t\r\n", buf[skip]) != NULL)
		skip++;
	if (skip == len || buf[skip] != '{')
		return err_ret(err, -EBADMSG, "message is not a JSON object");
	tok = json_tokener_new_ex(PROTO_JSON_DEPTH);
	if (tok == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (obj == NULL || json_tokener_get_parse_end(tok) != len) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		err_set(err, "message is not valid JSON: %s",
		        e == json_tokener_continue ? "truncated" : json_tokener_error_desc(e));
	} else if (!json_object_is_type(obj, json_type_object)) {
		err_set(err, "message is not a JSON object");
	} else if (proto_json_check_finite(obj, err) == 0) {
		rc = 0;
	}
	json_tokener_free(tok);
	if (rc < 0)
		json_object_put(obj);
	else
		*out = obj;
	return rc;
}

static const struct proto_arg *proto_arg_find(const struct proto_spec *spec, const char *name)
{
	for (const struct proto_arg *a = spec->args; a->name != NULL; a++) {
		if (strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

static int proto_check_string(const struct proto_arg *arg, struct json_object *val, char **err)
{
	const char *s = json_object_get_string(val);
	size_t n = (size_t)json_object_get_string_len(val);

	if (n > PROTO_STRING_MAX || strlen(s) != n)
		return err_ret(err, -EBADMSG, "argument '%s' is too long or contains a NUL byte",
		               arg->name);
	if (arg->choices == NULL)
		return 0;
	for (const char *const *c = arg->choices; *c != NULL; c++) {
		if (strcmp(*c, s) == 0)
			return 0;
	}
	return err_ret(err, -EBADMSG, "argument '%s' has an unknown value '%s'", arg->name, s);
}

static int proto_check_strings(const struct proto_arg *arg, struct json_object *val, char **err)
{
	size_t n = json_object_array_length(val);

	if (n > PROTO_STRINGS_MAX)
		return err_ret(err, -EBADMSG, "argument '%s' has more than %d strings", arg->name,
		               PROTO_STRINGS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(val, i);

		if (!json_object_is_type(v, json_type_string))
			return err_ret(err, -EBADMSG, "argument '%s' must be %s", arg->name,
			               proto_type_names[arg->type]);
		if (proto_check_string(arg, v, err) < 0)
			return -EBADMSG;
	}
	return 0;
}

static int proto_check_arg(const struct proto_arg *arg, struct json_object *val, char **err)
{
	static const enum json_type json_types[] = {
	        [PROTO_T_STRING] = json_type_string, [PROTO_T_UINT] = json_type_int,
	        [PROTO_T_BOOL] = json_type_boolean,  [PROTO_T_OBJECT] = json_type_object,
	        [PROTO_T_STRINGS] = json_type_array,
	};

	if (!json_object_is_type(val, json_types[arg->type]))
		return err_ret(err, -EBADMSG, "argument '%s' must be %s", arg->name,
		               proto_type_names[arg->type]);
	if (arg->type == PROTO_T_STRING)
		return proto_check_string(arg, val, err);
	if (arg->type == PROTO_T_STRINGS)
		return proto_check_strings(arg, val, err);
	if (arg->type == PROTO_T_UINT) {
		int64_t v = json_object_get_int64(val);

		if (v < 0 || v == INT64_MAX)
			return err_ret(err, -EBADMSG, "argument '%s' is out of range", arg->name);
	}
	return 0;
}

static int proto_check_args(const struct proto_spec *spec, struct json_object *args, char **err)
{
	if (!json_object_is_type(args, json_type_object))
		return err_ret(err, -EBADMSG, "field 'args' must be an object");
	json_object_object_foreach(args, key, val)
	{
		const struct proto_arg *arg = proto_arg_find(spec, key);

		if (arg == NULL)
			return err_ret(err, -EBADMSG, "unknown argument '%s' for command '%s'", key,
			               spec->name);
		if (proto_check_arg(arg, val, err) < 0)
			return -EBADMSG;
	}
	for (const struct proto_arg *a = spec->args; a->name != NULL; a++) {
		if (a->required && !json_object_object_get_ex(args, a->name, NULL))
			return err_ret(err, -EBADMSG, "command '%s' needs argument '%s'",
			               spec->name, a->name);
	}
	return 0;
}

/* Checks that obj has no members outside the NULL-terminated list. */
static int proto_check_keys(struct json_object *obj, const char *const *allowed, char **err)
{
	json_object_object_foreach(obj, key, val)
	{
		const char *const *a = allowed;

		(void)val;
		while (*a != NULL && strcmp(*a, key) != 0)
			a++;
		if (*a == NULL)
			return err_ret(err, -EBADMSG, "unknown field '%s'", key);
	}
	return 0;
}

/* Reads the envelope fields every message shares: "v" and "id". */
static int proto_check_envelope(struct json_object *msg, uint32_t *id, char **err)
{
	struct json_object *v, *idv;
	int64_t n;

	if (!json_object_object_get_ex(msg, "id", &idv))
		return err_ret(err, -EBADMSG, "missing field 'id'");
	n = json_object_get_int64(idv);
	if (!json_object_is_type(idv, json_type_int) || n < 0 || n > UINT32_MAX)
		return err_ret(err, -EBADMSG, "field 'id' must be an integer from 0 to %u",
		               UINT32_MAX);
	*id = (uint32_t)n;
	if (!json_object_object_get_ex(msg, "v", &v))
		return err_ret(err, -EBADMSG, "missing field 'v'");
	if (!json_object_is_type(v, json_type_int))
		return err_ret(err, -EBADMSG, "field 'v' must be an integer");
	if (json_object_get_int64(v) != PROTO_VERSION)
		return err_ret(err, -EPROTO, "protocol version %s is not supported (expected %d)",
		               json_object_get_string(v), PROTO_VERSION);
	return 0;
}

static int proto_request_check(struct json_object *msg, struct proto_request *req, char **err)
{
	static const char *const keys[] = {"v", "id", "cmd", "args", NULL};
	struct json_object *cmd, *args;
	int c, rc;

	rc = proto_check_envelope(msg, &req->id, err);
	if (rc < 0)
		return rc;
	if (proto_check_keys(msg, keys, err) < 0)
		return -EBADMSG;
	if (!json_object_object_get_ex(msg, "cmd", &cmd))
		return err_ret(err, -EBADMSG, "missing field 'cmd'");
	if (!json_object_is_type(cmd, json_type_string))
		return err_ret(err, -EBADMSG, "field 'cmd' must be a string");
	c = proto_cmd_lookup(json_object_get_string(cmd));
	if (c < 0)
		return err_ret(err, -ENOSYS, "unknown command '%.64s'",
		               json_object_get_string(cmd));
	req->cmd = (enum proto_cmd)c;
	if (json_object_object_get_ex(msg, "args", &args))
		req->args = json_object_get(args);
	else
		req->args = json_object_new_object();
	if (req->args == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	return proto_check_args(&proto_specs[c], req->args, err);
}

int proto_request_parse(const char *buf, size_t len, struct proto_request **out, uint32_t *id,
                        char **err)
{
	struct json_object *msg;
	struct proto_request *req;
	int rc;

	*id = 0;
	rc = proto_json_parse(buf, len, &msg, err);
	if (rc < 0)
		return rc;
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		json_object_put(msg);
		return err_ret(err, -ENOMEM, "out of memory");
	}
	rc = proto_request_check(msg, req, err);
	json_object_put(msg);
	*id = req->id;
	if (rc < 0) {
		proto_request_free(req);
		return rc;
	}
	*out = req;
	return 0;
}

void proto_request_free(struct proto_request *req)
{
	if (req == NULL)
		return;
	json_object_put(req->args);
	free(req);
}

const char *proto_error_code(int rc)
{
	switch (rc) {
	case -ENOSYS:
		return PROTO_E_UNKNOWN_CMD;
	case -ENOMEM:
		return PROTO_E_FAILED;
	default:
		return PROTO_E_BAD_REQUEST;
	}
}

/* Adds val to obj under key; on failure drops val and returns -ENOMEM. */
static int proto_add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (val == NULL || json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *proto_envelope_new(uint32_t id)
{
	struct json_object *msg = json_object_new_object();

	if (msg == NULL)
		return NULL;
	if (proto_add(msg, "v", json_object_new_int(PROTO_VERSION)) < 0 ||
	    proto_add(msg, "id", json_object_new_int64(id)) < 0) {
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

/* Adds the owned reference val (NULL: an empty object) and returns msg, or NULL. */
static struct json_object *proto_envelope_add(struct json_object *msg, const char *key,
                                              struct json_object *val)
{
	if (val == NULL)
		val = json_object_new_object();
	if (msg == NULL || proto_add(msg, key, val) < 0) {
		if (msg == NULL)
			json_object_put(val);
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

struct json_object *proto_request_build(uint32_t id, const char *cmd, struct json_object *args)
{
	struct json_object *msg = proto_envelope_new(id);

	if (msg != NULL && proto_add(msg, "cmd", json_object_new_string(cmd)) < 0) {
		json_object_put(msg);
		msg = NULL;
	}
	return proto_envelope_add(msg, "args", args);
}

struct json_object *proto_reply_ok(uint32_t id, struct json_object *data, bool more)
{
	struct json_object *msg = proto_envelope_new(id);

	if (msg != NULL && (proto_add(msg, "ok", json_object_new_boolean(1)) < 0 ||
	                    (more && proto_add(msg, "more", json_object_new_boolean(1)) < 0))) {
		json_object_put(msg);
		msg = NULL;
	}
	return proto_envelope_add(msg, "data", data);
}

struct json_object *proto_reply_error(uint32_t id, const char *code, const char *message)
{
	struct json_object *msg = proto_envelope_new(id);
	struct json_object *error = json_object_new_object();

	if (error == NULL || proto_add(error, "code", json_object_new_string(code)) < 0 ||
	    proto_add(error, "message", json_object_new_string(message)) < 0) {
		json_object_put(error);
		json_object_put(msg);
		return NULL;
	}
	if (msg != NULL && proto_add(msg, "ok", json_object_new_boolean(0)) < 0) {
		json_object_put(msg);
		msg = NULL;
	}
	return proto_envelope_add(msg, "error", error);
}

/* Copies the string member key of obj into *out. */
static int proto_get_string(struct json_object *obj, const char *key, char **out, char **err)
{
	struct json_object *val;

	if (!json_object_object_get_ex(obj, key, &val) ||
	    !json_object_is_type(val, json_type_string))
		return err_ret(err, -EBADMSG, "reply field 'error.%s' must be a string", key);
	*out = strdup(json_object_get_string(val));
	return *out == NULL ? err_ret(err, -ENOMEM, "out of memory") : 0;
}

static int proto_get_bool(struct json_object *msg, const char *key, bool required, bool *out,
                          char **err)
{
	struct json_object *val;

	if (!json_object_object_get_ex(msg, key, &val)) {
		*out = false;
		return required ? err_ret(err, -EBADMSG, "missing reply field '%s'", key) : 0;
	}
	if (!json_object_is_type(val, json_type_boolean))
		return err_ret(err, -EBADMSG, "reply field '%s' must be a boolean", key);
	*out = json_object_get_boolean(val);
	return 0;
}

static int proto_reply_check(struct json_object *msg, struct proto_reply *reply, char **err)
{
	static const char *const keys[] = {"v", "id", "ok", "more", "data", "error", NULL};
	struct json_object *val;
	int rc;

	rc = proto_check_envelope(msg, &reply->id, err);
	if (rc < 0 || (rc = proto_check_keys(msg, keys, err)) < 0 ||
	    (rc = proto_get_bool(msg, "ok", true, &reply->ok, err)) < 0 ||
	    (rc = proto_get_bool(msg, "more", false, &reply->more, err)) < 0)
		return rc;
	if (reply->ok) {
		if (!json_object_object_get_ex(msg, "data", &val) ||
		    !json_object_is_type(val, json_type_object))
			return err_ret(err, -EBADMSG, "reply field 'data' must be an object");
		reply->data = json_object_get(val);
		return 0;
	}
	if (!json_object_object_get_ex(msg, "error", &val) ||
	    !json_object_is_type(val, json_type_object))
		return err_ret(err, -EBADMSG, "reply field 'error' must be an object");
	rc = proto_get_string(val, "code", &reply->code, err);
	if (rc < 0)
		return rc;
	return proto_get_string(val, "message", &reply->message, err);
}

int proto_reply_parse(const char *buf, size_t len, struct proto_reply **out, char **err)
{
	struct json_object *msg;
	struct proto_reply *reply;
	int rc;

	rc = proto_json_parse(buf, len, &msg, err);
	if (rc < 0)
		return rc;
	reply = calloc(1, sizeof(*reply));
	if (reply == NULL) {
		json_object_put(msg);
		return err_ret(err, -ENOMEM, "out of memory");
	}
	rc = proto_reply_check(msg, reply, err);
	json_object_put(msg);
	if (rc < 0) {
		proto_reply_free(reply);
		return rc;
	}
	*out = reply;
	return 0;
}

void proto_reply_free(struct proto_reply *reply)
{
	if (reply == NULL)
		return;
	json_object_put(reply->data);
	free(reply->code);
	free(reply->message);
	free(reply);
}
