/*
 * memplugctl's side of the control socket: a blocking client that connects,
 * sends one request at a time and reads the reply frames (several for a
 * streamed reply), each bounded by a size cap and a timeout.
 */
#ifndef MEMPLUG_CLIENT_H
#define MEMPLUG_CLIENT_H

#include <stdint.h>

#include <json-c/json.h>

#include "proto.h"

struct client;

/*
 * Connects to the agent at path (NULL: MEMPLUG_SOCKET). timeout_ms bounds
 * each later send and receive (<= 0: wait forever). On failure *err reads
 * "cannot reach memplugd at PATH: ..." (caller frees). *out: client_free.
 */
int client_connect(const char *path, int timeout_ms, struct client **out, char **err);
void client_free(struct client *c);

/* Changes the per-call timeout (e.g. none for log --follow). */
void client_set_timeout(struct client *c, int timeout_ms);

/* The connected socket, for tests and poll loops. */
int client_fd(const struct client *c);

/* Sends one request; args is taken (NULL: none). *id receives the request id. */
int client_send(struct client *c, const char *cmd, struct json_object *args, uint32_t *id,
                char **err);

/*
 * Reads the next reply frame. *out is new (proto_reply_free). -ECONNRESET
 * when the agent closed the connection, -ETIMEDOUT after the timeout,
 * -EMSGSIZE / -EBADMSG for a frame that breaks the protocol.
 */
int client_recv(struct client *c, struct proto_reply **out, char **err);

/*
 * Sends a request and waits for its final reply, skipping replies for other
 * ids. For streams, call client_recv() again while (*out)->more is set.
 */
int client_call(struct client *c, const char *cmd, struct json_object *args,
                struct proto_reply **out, char **err);

#endif
