/*
 * The fixture the ops unit tests share (test-ops, test-ops-vmem): the agent
 * on the fake libvirt of fakevirt.h, its audit log in a temporary folder,
 * a real event loop run until the expected operations end, and the audit
 * trail of one request as "event:result ...".
 */
#ifndef MEMPLUG_TEST_OPSFIX_H
#define MEMPLUG_TEST_OPSFIX_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "dispatch.h"
#include "domains.h"
#include "fakevirt.h"
#include "ops.h"

#define MIB          UINT64_C(1024)
#define NAME         "vm"
#define TICK_MS      2
#define GUARD_TICKS  (10000 / TICK_MS)
#define MAX_ENDED    8
#define MAX_MESSAGES 4

struct ended {
	char request[32];
	char code[16]; /* "ok" for success */
	char *message;
};

struct fixture {
	char dir[64];
	char path[96];
	struct evloop *loop;
	struct config *cfg; /* the agent's once it exists */
	struct agent *a;
	struct ops *ops;
	struct dispatch *dispatch;
	struct fakevirt fv;
	size_t n_ended, want;
	struct ended ended[MAX_ENDED];
	unsigned ticks;
};

/* cmocka setup/teardown: a fresh agent, audit folder and loop per test. */
int setup(void **state);
int teardown(void **state);
/* Runs the loop until n operations have ended (and nothing is under way). */
void fx_run(struct fixture *fx, size_t n);
/* Runs the loop until no read, operation or event is under way. */
void fx_settle(struct fixture *fx);
/* Builds the agent on the fake for `spec` and `host`; the domain's view. */
struct domain_view *fx_domain(struct fixture *fx, const struct fake_spec *spec,
                              const struct fake_host *host);
/* "event:result ..." of the records of one request, in log order; NULL:
 * of the records no request owns, e.g. libvirt's device events (caller
 * frees). */
char *audit_trace(struct fixture *fx, const char *request);
/* The same with another top-level field ("event:model ..."), "-" where a
 * record has none. */
char *audit_trace_key(struct fixture *fx, const char *request, const char *key);

#endif
