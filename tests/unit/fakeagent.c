/*
 * The agent on the fake backend (fakeagent.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "domains.h"
#include "fakeagent.h"
#include "record.h"

#define NAME "vm"

static void on_ended(void *arg, const char *request, const char *code, const char *message)
{
	struct fakeagent *fa = arg;

	fa->ops_ended++;
	snprintf(fa->last_code, sizeof(fa->last_code), "%s", code ? code : "ok");
}

void fakeagent_init(struct fakeagent *fa)
{
	memset(fa, 0, sizeof(*fa));
	snprintf(fa->dir, sizeof(fa->dir), "/tmp/test-agent-XXXXXX");
	assert_non_null(mkdtemp(fa->dir));
	snprintf(fa->audit_path, sizeof(fa->audit_path), "%s/audit.log", fa->dir);
	snprintf(fa->sock_path, sizeof(fa->sock_path), "%s/memplugd.sock", fa->dir);
	fa->loop = evloop_new();
	assert_non_null(fa->loop);
	fa->cfg = config_new_default();
}

static void start_control(struct fakeagent *fa)
{
	char gid[16], *err = NULL;
	struct control_config cc = {.path = fa->sock_path, .admin_group = gid};

	/* The test's own group may change things, root or not. */
	snprintf(gid, sizeof(gid), "%u", (unsigned)getgid());
	assert_int_equal(control_new(evloop_base(fa->loop), &cc, dispatch_request, fa->dispatch,
	                             &fa->control),
	                 0);
	assert_int_equal(client_connect(fa->sock_path, 5000, &fa->client, &err), 0);
}

void fakeagent_start(struct fakeagent *fa, const struct fake_spec *spec,
                     const struct fake_host *host, bool policy)
{
	struct audit_options o;
	struct audit *audit = NULL;
	struct backend b;

	audit_options_default(&o);
	assert_int_equal(audit_open(fa->audit_path, &o, &audit), 0);
	fa->a = agent_new(fa->cfg, fa->loop, audit);
	assert_non_null(fa->a);
	fa->ops = ops_new(fa->a);
	fa->dispatch = dispatch_new(fa->a, fa->ops);
	assert_non_null(fa->ops);
	assert_non_null(fa->dispatch);
	ops_on_ended(fa->ops, on_ended, fa);
	fakevirt_init(&fa->fv, fa->loop, NAME, spec, host, dispatch_event, fa->dispatch);
	fakevirt_backend(&fa->fv, &b);
	agent_set_backend(fa->a, &b);
	if (policy) {
		fa->ab = autoballoon_new(fa->a, fa->ops);
		assert_non_null(fa->ab);
		dispatch_set_autoballoon(fa->dispatch, fa->ab);
	}
	start_control(fa);
	dispatch_connected(fa->dispatch, false);
	fakeagent_settle(fa);
	assert_non_null(domains_find(agent_domains(fa->a), NAME));
}

void fakeagent_destroy(struct fakeagent *fa)
{
	fakeagent_settle(fa);
	client_free(fa->client);
	control_free(fa->control);
	autoballoon_free(fa->ab);
	dispatch_free(fa->dispatch);
	ops_free(fa->ops);
	if (fa->a)
		agent_free(fa->a);
	else
		config_free(fa->cfg);
	evloop_free(fa->loop);
	if (fa->a)
		fakevirt_destroy(&fa->fv);
	unlink(fa->audit_path);
	unlink(fa->sock_path);
	rmdir(fa->dir);
}

bool fakeagent_run_until(struct fakeagent *fa, bool (*cond)(struct fakeagent *fa), unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (cond(fa))
			return true;
		evloop_run_once(fa->loop);
		usleep(1000);
	}
	return cond(fa);
}

static bool idle(struct fakeagent *fa)
{
	return agent_workers(fa->a) == 0 && fakevirt_in_flight(&fa->fv) == 0;
}

void fakeagent_settle(struct fakeagent *fa)
{
	if (fa->a)
		assert_true(fakeagent_run_until(fa, idle, 10000));
}

struct proto_reply *fakeagent_call(struct fakeagent *fa, const char *cmd, const char *args)
{
	struct proto_reply *reply = NULL;
	char *err = NULL;

	assert_int_equal(
	        client_send(fa->client, cmd, args ? json_tokener_parse(args) : NULL, NULL, &err),
	        0);
	for (int i = 0; i < 10000; i++) {
		struct pollfd pfd = {.fd = client_fd(fa->client), .events = POLLIN};

		evloop_run_once(fa->loop);
		if (poll(&pfd, 1, 1) > 0)
			break;
	}
	assert_int_equal(client_recv(fa->client, &reply, &err), 0);
	return reply;
}

static bool field_is(json_object *rec, const char *key, const char *value)
{
	json_object *extra = json_object_object_get(rec, "extra");
	const char *v = record_str(rec, key);

	if (v == NULL && extra)
		v = record_str(extra, key);
	return v && strcmp(v, value) == 0;
}

unsigned fakeagent_records(struct fakeagent *fa, const char *event, const char *key,
                           const char *value)
{
	char **files = NULL;
	size_t n = 0;
	unsigned count = 0;
	struct record_reader *rd;
	json_object *rec;

	assert_int_equal(record_log_files(fa->audit_path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		const char *ev = record_str(rec, "event");

		if (ev && strcmp(ev, event) == 0 && (key == NULL || field_is(rec, key, value)))
			count++;
		json_object_put(rec);
	}
	record_reader_free(rd);
	record_files_free(files, n);
	return count;
}
