/*
 * The whole agent behind the fake backend, for the unit tests of dispatch
 * and the policy tick: a real event loop, audit log, ops, dispatcher and
 * (optionally) the policy tick and a control socket, all on fakevirt.h.
 * Requests go through the socket with memplugctl's own client, so a test
 * sees exactly what a user would.
 */
#ifndef MEMPLUG_FAKEAGENT_H
#define MEMPLUG_FAKEAGENT_H

#include <stdbool.h>

#include "agent.h"
#include "autoballoon.h"
#include "../../cli/client.h"
#include "dispatch.h"
#include "fakevirt.h"
#include "ops.h"

struct fakeagent {
	char dir[64];
	char audit_path[96];
	char sock_path[96];
	struct evloop *loop;
	struct config *cfg; /* set keys before fakeagent_start() */
	struct agent *a;
	struct ops *ops;
	struct dispatch *dispatch;
	struct autoballoon *ab;
	struct control *control;
	struct client *client;
	struct fakevirt fv;
	unsigned ops_ended;
	char last_code[16]; /* of the last operation: "ok" or the error code */
};

/* The loop and a default config; nothing else yet. */
void fakeagent_init(struct fakeagent *fa);
/* Builds the agent on a fake with domain "vm", connects (the domain list
 * and views are read on a worker) and waits until that settled. */
void fakeagent_start(struct fakeagent *fa, const struct fake_spec *spec,
                     const struct fake_host *host, bool policy);
void fakeagent_destroy(struct fakeagent *fa);

/* Turns the loop until cond(fa) or about ms milliseconds passed; returns
 * cond's last answer. */
bool fakeagent_run_until(struct fakeagent *fa, bool (*cond)(struct fakeagent *fa), unsigned ms);
/* Until no worker, operation or fake event is under way. */
void fakeagent_settle(struct fakeagent *fa);

/* Sends cmd (args as JSON text, NULL: none) over the socket and returns
 * the final reply (proto_reply_free()). */
struct proto_reply *fakeagent_call(struct fakeagent *fa, const char *cmd, const char *args);

/* How many audit records have event `event` (and, non-NULL, a field
 * `key` equal to `value`, looked up in the record and its "extra"). */
unsigned fakeagent_records(struct fakeagent *fa, const char *event, const char *key,
                           const char *value);

#endif
