/*
 * The control socket server: a UNIX stream socket on the agent's libevent
 * loop. It frames and checks requests (common/proto.h), identifies each
 * caller with SO_PEERCRED, refuses state-changing commands to callers that
 * are neither root nor in the admin group, and hands the rest to one
 * handler. Handlers answer at once or later through the request handle.
 */
#ifndef MEMPLUG_CONTROL_H
#define MEMPLUG_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "proto.h"

struct control;
struct control_request;

/* Who is on the other end, from the kernel (never from the message). */
struct control_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char comm[17]; /* /proc/PID/comm at connect time, "?" when unreadable */
	bool admin;    /* root, or admin group among primary/supplementary groups */
};

struct control_config {
	const char *path;        /* NULL: MEMPLUG_SOCKET */
	mode_t mode;             /* 0: 0660 */
	const char *group;       /* socket file group, name or number; NULL: unchanged */
	const char *admin_group; /* name or number; NULL: root only */
	size_t max_clients;      /* 0: 64 */
	size_t max_pending;      /* open requests per client before reading pauses; 0: 8 */
	size_t max_output;       /* queued reply bytes per client before it is dropped; 0: 16 MiB */
	size_t admin_slots;      /* of max_clients, kept for root and the admin group; 0: 2 */
	int idle_timeout_ms;     /* drop a client idle with no open request; 0: 60 s */
	int frame_timeout_ms; /* a frame must arrive whole within this from its first byte; 0: 10 s
	                       */
};

/*
 * Called once per checked and authorized request. The handler owns req and
 * must end it, now or later, with control_reply_ok() or control_reply_error().
 */
typedef void (*control_handler_fn)(struct control_request *req, void *opaque);

/*
 * Called when the client's connection is torn down while req is open (e.g. a
 * log --follow stream); the callback may end req. A peer that vanished may
 * only be noticed at the next write to it.
 */
typedef void (*control_close_fn)(struct control_request *req, void *opaque);

/*
 * Creates the socket and starts accepting. Refuses with -EADDRINUSE when
 * another agent answers on the path; a stale socket file is replaced. Errors
 * are logged. *out is owned by the caller (control_free).
 */
int control_new(struct event_base *base, const struct control_config *cfg,
                control_handler_fn handler, void *opaque, struct control **out);
/* control_new()'s first check alone, for start-up before daemonizing:
 * -EADDRINUSE when an agent answers on `path`; a stale socket is removed. */
int control_check_path(const char *path);

/* Closes every client and the socket, and removes the socket file. Open requests stay valid. */
void control_free(struct control *ctl);

size_t control_client_count(const struct control *ctl);
/* Clients refused since the start: no free place (busy), or a change asked
 * by a non-administrator (unauthorized). For the metrics. */
void control_refusals(const struct control *ctl, uint64_t *busy, uint64_t *unauthorized);

/* Borrowed views into an open request; valid until it is ended. */
const struct proto_request *control_request_proto(const struct control_request *req);
const struct control_peer *control_request_peer(const struct control_request *req);
bool control_request_connected(const struct control_request *req);
void control_request_on_close(struct control_request *req, control_close_fn fn, void *opaque);

/*
 * Reply and end the request (req is freed). data is taken (NULL: empty
 * object). Safe after the client left: returns -ENOTCONN and frees anyway.
 */
int control_reply_ok(struct control_request *req, struct json_object *data);
int control_reply_error(struct control_request *req, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * A streamed partial reply ("more": true); req stays open. data is taken.
 * -ENOBUFS or -ENOTCONN when the client is gone (its on_close is not called
 * for this request then): end req with control_reply_*().
 */
int control_reply_more(struct control_request *req, struct json_object *data);

#endif
