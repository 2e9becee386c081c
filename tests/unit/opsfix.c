/*
 * The ops unit tests' shared fixture (opsfix.h).
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
#include <unistd.h>

#include <event2/event.h>

#include "audit.h"
#include "log.h"
#include "opsfix.h"
#include "record.h"

/* The hook ops.c calls as each operation ends (loop thread). */
static void on_ended(void *arg, const char *request, const char *code, const char *message)
{
	struct fixture *fx = arg;
	struct ended *e;

	assert_true(fx->n_ended < MAX_ENDED);
	e = &fx->ended[fx->n_ended++];
	snprintf(e->request, sizeof(e->request), "%s", request);
	snprintf(e->code, sizeof(e->code), "%s", code ? code : "ok");
	e->message = message ? strdup(message) : NULL;
}

int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-ops-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/audit.log", fx->dir);
	fx->loop = evloop_new();
	assert_non_null(fx->loop);
	fx->cfg = config_new_default();
	fx->cfg->detach_timeout_ms = 5000;
	*state = fx;
	return 0;
}

int teardown(void **state)
{
	struct fixture *fx = *state;

	for (struct domain_view *d = fx->a ? domains_first(agent_domains(fx->a)) : NULL; d;
	     d = d->next)
		assert_null(d->queue);
	for (size_t i = 0; i < fx->n_ended; i++)
		free(fx->ended[i].message);
	dispatch_free(fx->dispatch);
	ops_free(fx->ops); /* detaches still pending go, as memplugd frees them */
	if (fx->a)
		agent_free(fx->a);
	else
		config_free(fx->cfg);
	evloop_free(fx->loop);
	fakevirt_destroy(&fx->fv);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Runs the loop until no read, operation or event is under way. */
void fx_settle(struct fixture *fx)
{
	fx_run(fx, fx->n_ended);
}

/* Builds the agent on the fake (its audit log at fx->path) and tells it
 * about the domain, as an event would; the view is read on a worker. */
struct domain_view *fx_domain(struct fixture *fx, const struct fake_spec *spec,
                              const struct fake_host *host)
{
	struct backend_event ev = {
	        .kind = BACKEND_EVENT_LIFECYCLE,
	        .name = NAME,
	        .lifecycle = spec->shut_off ? BACKEND_LIFECYCLE_DEFINED : BACKEND_LIFECYCLE_STARTED,
	};
	struct audit_options o;
	struct audit *audit = NULL;
	struct backend b;
	struct domain_view *d;

	audit_options_default(&o);
	audit_open(fx->path, &o, &audit);
	assert_non_null(audit);
	fx->a = agent_new(fx->cfg, fx->loop, audit);
	assert_non_null(fx->a);
	fx->ops = ops_new(fx->a);
	fx->dispatch = dispatch_new(fx->a, fx->ops);
	assert_non_null(fx->ops);
	assert_non_null(fx->dispatch);
	ops_on_ended(fx->ops, on_ended, fx);
	fakevirt_init(&fx->fv, fx->loop, NAME, spec, host, dispatch_event, fx->dispatch);
	fakevirt_backend(&fx->fv, &b);
	agent_set_backend(fx->a, &b);
	dispatch_event(fx->dispatch, &ev);
	fx_settle(fx);
	d = domains_find(agent_domains(fx->a), NAME);
	assert_non_null(d);
	assert_non_null(d->model);
	assert_int_equal(d->active, !spec->shut_off);
	return d;
}

static void fx_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *fx = arg;

	if ((fx->n_ended >= fx->want && fakevirt_in_flight(&fx->fv) == 0 &&
	     ops_running_count(fx->ops) == 0 && dispatch_busy(fx->dispatch) == 0) ||
	    ++fx->ticks > GUARD_TICKS)
		evloop_stop(fx->loop);
}

/* Runs the loop until `n` operations have ended and no event is in flight. */
void fx_run(struct fixture *fx, size_t n)
{
	struct timeval tv = {0, TICK_MS * 1000};
	struct event *tick = event_new(evloop_base(fx->loop), -1, EV_PERSIST, fx_tick, fx);

	fx->want = n;
	fx->ticks = 0;
	event_add(tick, &tv);
	assert_int_equal(evloop_run(fx->loop), 0);
	event_free(tick);
	assert_int_equal(fx->n_ended, n);
	assert_int_equal(fakevirt_in_flight(&fx->fv), 0);
}

/* "event:result ..." of the records of one request (NULL: of the records
 * no request owns, e.g. libvirt's device events), in log order. */
char *audit_trace(struct fixture *fx, const char *request)
{
	return audit_trace_key(fx, request, "result");
}

char *audit_trace_key(struct fixture *fx, const char *request, const char *key)
{
	char **files = NULL, *out;
	size_t n = 0, len = 0;
	struct record_reader *rd;
	struct json_object *rec;
	FILE *f = open_memstream(&out, &len);

	assert_int_equal(record_log_files(fx->path, &files, &n, NULL), 0);
	rd = record_reader_new(files, n);
	while (record_reader_next(rd, &rec) == 1) {
		const char *req = record_str(rec, "request");

		if (request == NULL ? req == NULL : req && strcmp(req, request) == 0)
			fprintf(f, "%s%s:%s", ftell(f) ? " " : "", record_str(rec, "event"),
			        record_str(rec, key) ? record_str(rec, key) : "-");
		json_object_put(rec);
	}
	record_reader_free(rd);
	record_files_free(files, n);
	fclose(f);
	return out;
}
