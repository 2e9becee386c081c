/*
 * The control protocol between memplugd and memplugctl, without any I/O:
 * frame headers (4-byte big-endian length, hard caps), JSON payloads parsed
 * with json-c under a depth limit, the per-command argument schema, and the
 * builders and parsers for requests and replies. docs/protocol.md is the
 * specification; this file is its only implementation.
 */
#ifndef MEMPLUG_PROTO_H
#define MEMPLUG_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define PROTO_VERSION     1
#define PROTO_HEADER_LEN  4
#define PROTO_REQUEST_MAX (64u * 1024u)        /* payload bytes, agent side */
#define PROTO_REPLY_MAX   (4u * 1024u * 1024u) /* payload bytes, client side */
#define PROTO_JSON_DEPTH  16

/* Machine words for error replies (the "code" field). */
#define PROTO_E_UNAUTHORIZED "unauthorized"
#define PROTO_E_BAD_REQUEST  "bad_request"
#define PROTO_E_UNKNOWN_CMD  "unknown_command"
#define PROTO_E_BUSY         "busy"
#define PROTO_E_NOT_FOUND    "not_found"
#define PROTO_E_REFUSED      "refused"
#define PROTO_E_FAILED       "failed"
#define PROTO_E_PENDING      "pending"
#define PROTO_E_PARTIAL      "partial" /* virtio-mem: the guest moved less */
#define PROTO_E_UNKNOWN                                                                            \
	"unknown" /* the evidence disagrees; the message says what each source showed */
#define PROTO_E_UNSUPPORTED "unsupported"

enum proto_cmd {
	PROTO_CMD_STATUS,
	PROTO_CMD_INSPECT,
	PROTO_CMD_PLAN,
	PROTO_CMD_GROW,
	PROTO_CMD_SHRINK,
	PROTO_CMD_POLICY,
	PROTO_CMD_LOG,
	PROTO_CMD_PREPARE,
	PROTO_CMD_RESIZE,
	PROTO_CMD_COUNT
};

/* A checked request. args is always a JSON object whose members all passed the schema. */
struct proto_request {
	uint32_t id;
	enum proto_cmd cmd;
	struct json_object *args; /* owned */
};

/* A checked reply. data is set when ok; code and message when not. */
struct proto_reply {
	uint32_t id;
	bool ok;
	bool more;                /* more replies with this id follow (streams) */
	struct json_object *data; /* owned, an object, or NULL when !ok */
	char *code;               /* owned, NULL when ok */
	char *message;            /* owned, NULL when ok */
};

/* Static names; NULL for an unknown value / -1 for an unknown name. */
const char *proto_cmd_name(enum proto_cmd cmd);
int proto_cmd_lookup(const char *name);

/* True when the request changes state and so needs an administrator. */
bool proto_request_mutates(const struct proto_request *req);

/*
 * Reads a frame header at the start of buf (avail bytes). Returns 0 and the
 * payload length when a whole frame (header + payload) is in buf, -EAGAIN
 * when more bytes are needed (*len is set once the header is complete),
 * -EMSGSIZE when the length exceeds max, -EBADMSG when it is zero.
 */
int proto_frame_check(const void *buf, size_t avail, size_t max, size_t *len, char **err);

/*
 * Serializes msg into a new frame (header + JSON). *out is malloc'd, owned by
 * the caller. -EMSGSIZE when the payload would exceed max.
 */
int proto_frame_encode(struct json_object *msg, size_t max, char **out, size_t *out_len,
                       char **err);

/*
 * Parses a payload into a JSON object: strict json-c tokener, depth limit,
 * whole buffer consumed, no NUL bytes, top level an object, no NaN/Infinity.
 * *out is a new reference, owned by the caller.
 */
int proto_json_parse(const char *buf, size_t len, struct json_object **out, char **err);

/*
 * Checks a request payload against the version and the command's schema.
 * On success *out is a new request (proto_request_free). On failure returns
 * -EPROTO (version), -EBADMSG (malformed, unknown field, wrong type),
 * -ENOSYS (unknown command); *id holds the request id when it could be read
 * (0 otherwise) so the error reply can carry it; *err names the field.
 */
int proto_request_parse(const char *buf, size_t len, struct proto_request **out, uint32_t *id,
                        char **err);
void proto_request_free(struct proto_request *req);

/* Maps a proto_request_parse() error to a reply code (static string). */
const char *proto_error_code(int rc);

/*
 * Builders. Each returns a new object owned by the caller and takes the
 * reference to data/args (NULL means an empty object). Never NULL except on
 * allocation failure.
 */
struct json_object *proto_request_build(uint32_t id, const char *cmd, struct json_object *args);
struct json_object *proto_reply_ok(uint32_t id, struct json_object *data, bool more);
struct json_object *proto_reply_error(uint32_t id, const char *code, const char *message);

/* Checks a reply payload (client side). *out is new (proto_reply_free). */
int proto_reply_parse(const char *buf, size_t len, struct proto_reply **out, char **err);
void proto_reply_free(struct proto_reply *reply);

#endif
