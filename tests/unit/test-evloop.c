/*
 * Tests the libvirt event bridge on a real libevent loop, through libvirt's
 * public virEvent* calls (what libvirt itself calls): timers, fd events,
 * removal during dispatch, free-callback ordering, calls from other threads
 * and domain lifecycle events from libvirt's test driver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <libvirt/libvirt.h>

#include "evloop.h"
#include "log.h"

/* A loop that hangs would hang the test: this bounds every run. */
#define GUARD_SECONDS 20

static struct evloop *loop;

/* What one watch saw. */
struct probe {
	int calls;
	int last_id;
	int last_fd;
	int last_events;
	int freed;          /* free callback calls */
	int freed_in_cb;    /* free callback ran while a callback was running */
	int stop_at;        /* evloop_stop() when calls reaches this */
	int remove_self_at; /* remove itself on this call */
	int disable_at;     /* update itself to -1 on this call */
	int remove_other;   /* id of a watch to remove on the first call */
	bool in_cb;
	bool is_handle;
};

static int setup(void **state)
{
	loop = evloop_new();
	assert_non_null(loop);
	assert_int_equal(evloop_register_libvirt(loop), 0);
	return 0;
}

static int teardown(void **state)
{
	evloop_free(loop);
	loop = NULL;
	return 0;
}

static void probe_free(void *opaque)
{
	struct probe *p = opaque;

	p->freed++;
	if (p->in_cb)
		p->freed_in_cb++;
}

static void probe_hit(struct probe *p, int id)
{
	p->calls++;
	p->last_id = id;
	if (p->remove_self_at && p->calls == p->remove_self_at)
		assert_int_equal(
		        p->is_handle ? virEventRemoveHandle(id) : virEventRemoveTimeout(id), 0);
	if (p->disable_at && p->calls == p->disable_at)
		virEventUpdateTimeout(id, -1);
	if (p->remove_other && p->calls == 1)
		virEventRemoveTimeout(p->remove_other);
	if (p->stop_at && p->calls == p->stop_at)
		evloop_stop(loop);
}

static void probe_timeout(int id, void *opaque)
{
	struct probe *p = opaque;

	p->in_cb = true;
	probe_hit(p, id);
	p->in_cb = false;
}

static void probe_handle(int id, int fd, int events, void *opaque)
{
	struct probe *p = opaque;
	char buf[16];

	p->in_cb = true;
	p->is_handle = true;
	p->last_fd = fd;
	p->last_events = events;
	if (events & VIR_EVENT_HANDLE_READABLE)
		(void)!read(fd, buf, sizeof(buf));
	probe_hit(p, id);
	p->in_cb = false;
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
	evloop_stop(loop);
}

/* Runs the loop until a callback stops it; fails if the guard had to. */
static void run_until_stopped(void)
{
	bool fired = false;
	struct timeval tv = {.tv_sec = GUARD_SECONDS};
	struct event *guard = evtimer_new(evloop_base(loop), guard_cb, &fired);

	evtimer_add(guard, &tv);
	assert_int_equal(evloop_run(loop), 0);
	event_free(guard);
	assert_false(fired);
}

static void run_iterations(int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(evloop_run_once(loop), 0);
}

/* ---- timers ---- */

static void test_timeout_zero_every_iteration(void **state)
{
	static const struct {
		const char *what;
		int iterations;
	} cases[] = {{"one iteration", 1}, {"five iterations", 5}, {"twenty", 20}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe p = {0};
		int id = virEventAddTimeout(0, probe_timeout, &p, probe_free);

		assert_true(id > 0);
		run_iterations(cases[i].iterations);
		if (p.calls != cases[i].iterations)
			fail_msg("%s: %d calls", cases[i].what, p.calls);
		assert_int_equal(p.last_id, id);
		assert_int_equal(virEventRemoveTimeout(id), 0);
		run_iterations(1);
		assert_int_equal(p.freed, 1);
	}
}

static void test_timeout_repeats(void **state)
{
	static const int intervals[] = {1, 10, 25};

	for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
		struct probe p = {.stop_at = 3};
		int id = virEventAddTimeout(intervals[i], probe_timeout, &p, probe_free);

		assert_true(id > 0);
		run_until_stopped();
		assert_int_equal(p.calls, 3);
		assert_int_equal(virEventRemoveTimeout(id), 0);
		run_iterations(1);
		assert_int_equal(p.freed, 1);
	}
}

static void test_timeout_disabled(void **state)
{
	struct probe p = {0};
	int id = virEventAddTimeout(-1, probe_timeout, &p, NULL);

	assert_true(id > 0);
	run_iterations(3);
	assert_int_equal(p.calls, 0);
	virEventUpdateTimeout(id, 0);
	run_iterations(3);
	assert_int_equal(p.calls, 3);
	virEventUpdateTimeout(id, -1);
	run_iterations(3);
	assert_int_equal(p.calls, 3);
	assert_int_equal(virEventRemoveTimeout(id), 0);
}

static void test_timeout_disable_in_callback(void **state)
{
	struct probe p = {.disable_at = 2};
	int id = virEventAddTimeout(0, probe_timeout, &p, NULL);

	run_iterations(5);
	assert_int_equal(p.calls, 2);
	p.stop_at = 3;
	virEventUpdateTimeout(id, 5);
	run_until_stopped();
	assert_int_equal(p.calls, 3);
	assert_int_equal(virEventRemoveTimeout(id), 0);
}

static void test_remove_unknown(void **state)
{
	assert_int_equal(virEventRemoveTimeout(9999), -1);
	assert_int_equal(virEventRemoveHandle(9999), -1);
	virEventUpdateTimeout(9999, 0); /* must not crash */
	virEventUpdateHandle(9999, VIR_EVENT_HANDLE_READABLE);
}

/* ---- fd events ---- */

enum fd_setup { FD_WRITE_PEER, FD_NOTHING, FD_CLOSE_WRITER };

static void test_handle_events(void **state)
{
	static const struct {
		const char *what;
		bool use_pipe;
		enum fd_setup setup;
		int wanted;
		int expected; /* 0: no callback */
	} cases[] = {
	        {"readable after peer writes", false, FD_WRITE_PEER, VIR_EVENT_HANDLE_READABLE,
	         VIR_EVENT_HANDLE_READABLE},
	        {"not readable while idle", false, FD_NOTHING, VIR_EVENT_HANDLE_READABLE, 0},
	        {"writable at once", false, FD_NOTHING, VIR_EVENT_HANDLE_WRITABLE,
	         VIR_EVENT_HANDLE_WRITABLE},
	        {"no events asked, none given", false, FD_WRITE_PEER, 0, 0},
	        {"hangup when the writer closes", true, FD_CLOSE_WRITER, VIR_EVENT_HANDLE_READABLE,
	         VIR_EVENT_HANDLE_HANGUP},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe p = {0};
		int fds[2], id;

		if (cases[i].use_pipe)
			assert_int_equal(pipe(fds), 0);
		else
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
		if (cases[i].setup == FD_WRITE_PEER)
			assert_int_equal(write(fds[1], "x", 1), 1);
		if (cases[i].setup == FD_CLOSE_WRITER)
			close(fds[1]);
		id = virEventAddHandle(fds[0], cases[i].wanted, probe_handle, &p, probe_free);
		assert_true(id > 0);
		run_iterations(2);
		if (cases[i].expected == 0 && p.calls != 0)
			fail_msg("%s: %d calls, events %#x", cases[i].what, p.calls, p.last_events);
		if (cases[i].expected && (p.calls == 0 || !(p.last_events & cases[i].expected) ||
		                          p.last_fd != fds[0] || p.last_id != id))
			fail_msg("%s: calls %d events %#x", cases[i].what, p.calls, p.last_events);
		assert_int_equal(virEventRemoveHandle(id), 0);
		run_iterations(1);
		assert_int_equal(p.freed, 1);
		close(fds[0]);
		if (cases[i].setup != FD_CLOSE_WRITER)
			close(fds[1]);
	}
}

static void test_handle_update(void **state)
{
	struct probe p = {0};
	int fds[2], id;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	id = virEventAddHandle(fds[0], VIR_EVENT_HANDLE_READABLE, probe_handle, &p, NULL);
	run_iterations(2);
	assert_int_equal(p.calls, 0);
	virEventUpdateHandle(id, VIR_EVENT_HANDLE_WRITABLE);
	run_iterations(1);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.last_events, VIR_EVENT_HANDLE_WRITABLE);
	virEventUpdateHandle(id, 0);
	p.calls = 0;
	run_iterations(2);
	assert_int_equal(p.calls, 0);
	assert_int_equal(virEventRemoveHandle(id), 0);
	close(fds[0]);
	close(fds[1]);
}

/* ---- removal and free callbacks ---- */

static void test_remove_self_during_dispatch(void **state)
{
	struct probe t = {.remove_self_at = 1};
	struct probe h = {.remove_self_at = 1};
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_true(virEventAddTimeout(0, probe_timeout, &t, probe_free) > 0);
	assert_true(virEventAddHandle(fds[0], VIR_EVENT_HANDLE_WRITABLE, probe_handle, &h,
	                              probe_free) > 0);
	run_iterations(4);
	assert_int_equal(t.calls, 1);
	assert_int_equal(h.calls, 1);
	assert_int_equal(t.freed, 1);
	assert_int_equal(h.freed, 1);
	assert_int_equal(t.freed_in_cb + h.freed_in_cb, 0);
	close(fds[0]);
	close(fds[1]);
}

static void test_remove_other_during_dispatch(void **state)
{
	struct probe a = {0}, b = {0};
	int ida = virEventAddTimeout(0, probe_timeout, &a, probe_free);
	int idb = virEventAddTimeout(0, probe_timeout, &b, probe_free);

	/* both are due in the same iteration; whichever runs first removes
	 * the other, which must then not run at all */
	a.remove_other = idb;
	b.remove_other = ida;
	run_iterations(1);
	assert_int_equal(a.calls + b.calls, 1);
	run_iterations(2); /* the survivor fires on each */
	assert_int_equal(a.calls + b.calls, 3);
	assert_int_equal(a.freed + b.freed, 1);
	assert_int_equal(virEventRemoveTimeout(a.calls ? ida : idb), 0);
	run_iterations(1);
	assert_int_equal(a.freed + b.freed, 2);
}

static void test_free_runs_later_from_loop(void **state)
{
	struct probe p = {0};
	struct evloop_counts c;
	int id = virEventAddTimeout(1000, probe_timeout, &p, probe_free);

	assert_int_equal(virEventRemoveTimeout(id), 0);
	assert_int_equal(p.freed, 0); /* not inside remove */
	evloop_counts(loop, &c);
	assert_int_equal(c.timeouts, 0);
	assert_int_equal(c.pending_frees, 1);
	assert_int_equal(virEventRemoveTimeout(id), -1); /* already gone */
	run_iterations(1);
	assert_int_equal(p.freed, 1);
	evloop_counts(loop, &c);
	assert_int_equal(c.pending_frees, 0);
	assert_int_equal(p.calls, 0);
}

struct chain {
	int next_id; /* removed by this free callback */
	int *order;
	int *n;
	int tag;
};

static void chain_free(void *opaque)
{
	struct chain *c = opaque;

	c->order[(*c->n)++] = c->tag;
	if (c->next_id)
		assert_int_equal(virEventRemoveTimeout(c->next_id), 0);
}

static void noop_timeout(int id, void *opaque)
{
}

static void test_free_in_removal_order(void **state)
{
	int order[3] = {0}, n = 0;
	struct chain c1 = {.order = order, .n = &n, .tag = 1};
	struct chain c2 = {.order = order, .n = &n, .tag = 2};
	struct chain c3 = {.order = order, .n = &n, .tag = 3};
	int id1 = virEventAddTimeout(-1, noop_timeout, &c1, chain_free);
	int id2 = virEventAddTimeout(-1, noop_timeout, &c2, chain_free);
	int id3 = virEventAddTimeout(-1, noop_timeout, &c3, chain_free);

	c2.next_id = id3; /* a free callback that removes another watch */
	assert_int_equal(virEventRemoveTimeout(id1), 0);
	assert_int_equal(virEventRemoveTimeout(id2), 0);
	assert_int_equal(n, 0);
	run_iterations(2);
	assert_int_equal(n, 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 3);
}

static void test_free_on_evloop_free(void **state)
{
	struct probe p = {0};
	int id = virEventAddTimeout(-1, probe_timeout, &p, probe_free);

	assert_int_equal(virEventRemoveTimeout(id), 0);
	evloop_free(loop); /* queued free callbacks still run */
	loop = NULL;
	assert_int_equal(p.freed, 1);
	/* no loop registered: libvirt's calls fail instead of crashing */
	assert_int_equal(virEventAddTimeout(0, probe_timeout, &p, NULL), -1);
	loop = evloop_new();
	assert_int_equal(evloop_register_libvirt(loop), 0);
}

static void test_register_busy(void **state)
{
	struct evloop *other = evloop_new();

	assert_int_equal(evloop_register_libvirt(other), -EBUSY);
	assert_int_equal(evloop_register_libvirt(loop), 0);
	evloop_free(other);
	evloop_free(NULL);
	/* freeing the other loop left ours registered */
	assert_true(virEventAddTimeout(-1, noop_timeout, NULL, NULL) > 0);
}

/* ---- threads ---- */

#define N_THREADS 4
#define N_ROUNDS  200

static int thread_freed;
static int thread_failures; /* cmocka's asserts only work on the main thread */
static pthread_mutex_t thread_lock = PTHREAD_MUTEX_INITIALIZER;

static void thread_free(void *opaque)
{
	pthread_mutex_lock(&thread_lock);
	thread_freed++;
	pthread_mutex_unlock(&thread_lock);
}

static void noop_handle(int id, int fd, int events, void *opaque)
{
}

static void thread_fail(void)
{
	pthread_mutex_lock(&thread_lock);
	thread_failures++;
	pthread_mutex_unlock(&thread_lock);
}

static void *thread_churn(void *arg)
{
	int fd = *(int *)arg;

	for (int i = 0; i < N_ROUNDS; i++) {
		int t = virEventAddTimeout(0, noop_timeout, NULL, thread_free);
		int h = virEventAddHandle(fd, VIR_EVENT_HANDLE_WRITABLE, noop_handle, NULL,
		                          thread_free);

		if (t <= 0 || h <= 0)
			thread_fail();
		virEventUpdateTimeout(t, i % 3 == 0 ? -1 : 1);
		virEventUpdateHandle(h, i % 2 ? 0 : VIR_EVENT_HANDLE_READABLE);
		if (virEventRemoveTimeout(t) != 0 || virEventRemoveHandle(h) != 0)
			thread_fail();
	}
	return NULL;
}

struct waker {
	struct probe p;
	pthread_t thread;
};

static void *thread_wake(void *arg)
{
	struct waker *w = arg;

	usleep(50 * 1000); /* let the main thread block in the loop */
	w->p.stop_at = 1;
	if (virEventAddTimeout(0, probe_timeout, &w->p, NULL) <= 0)
		thread_fail();
	return NULL;
}

static void *thread_stopper(void *arg)
{
	pthread_t *threads = arg;

	for (int i = 0; i < N_THREADS; i++)
		pthread_join(threads[i], NULL);
	evloop_stop(loop);
	return NULL;
}

static void test_threads_churn_while_running(void **state)
{
	pthread_t threads[N_THREADS], stopper;
	struct evloop_counts c;
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	thread_freed = 0;
	thread_failures = 0;
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, thread_churn, &fds[0]), 0);
	assert_int_equal(pthread_create(&stopper, NULL, thread_stopper, threads), 0);
	run_until_stopped();
	pthread_join(stopper, NULL);
	run_iterations(2);
	evloop_counts(loop, &c);
	assert_int_equal(c.handles + c.timeouts + c.pending_frees, 0);
	assert_int_equal(thread_failures, 0);
	assert_int_equal(thread_freed, N_THREADS * N_ROUNDS * 2);
	close(fds[0]);
	close(fds[1]);
}

static void test_thread_add_wakes_loop(void **state)
{
	struct waker w = {0};

	thread_failures = 0;
	assert_int_equal(pthread_create(&w.thread, NULL, thread_wake, &w), 0);
	run_until_stopped(); /* only the guard timer is pending: must wake */
	pthread_join(w.thread, NULL);
	assert_int_equal(thread_failures, 0);
	assert_int_equal(w.p.calls, 1);
}

/* ---- libvirt's test driver ---- */

struct lifecycle {
	int n;
	int events[4];
	int want;
};

static void on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct lifecycle *l = opaque;

	if (l->n < 4)
		l->events[l->n++] = event;
	if (l->n == l->want)
		evloop_stop(loop);
}

static void test_libvirt_lifecycle_events(void **state)
{
	virConnectPtr conn = virConnectOpen("test:///default");
	struct lifecycle l = {.want = 2};
	virDomainPtr dom;
	struct evloop_counts c;
	int cb;

	assert_non_null(conn);
	cb = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	                                      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), &l, NULL);
	assert_true(cb >= 0);
	dom = virDomainLookupByName(conn, "test");
	assert_non_null(dom);
	assert_int_equal(virDomainDestroy(dom), 0);
	assert_int_equal(virDomainCreate(dom), 0);
	assert_int_equal(l.n, 0); /* delivered by the loop, not inline */
	run_until_stopped();
	assert_int_equal(l.n, 2);
	assert_int_equal(l.events[0], VIR_DOMAIN_EVENT_STOPPED);
	assert_int_equal(l.events[1], VIR_DOMAIN_EVENT_STARTED);
	virDomainFree(dom);
	assert_int_equal(virConnectDomainEventDeregisterAny(conn, cb), 0);
	assert_int_equal(virConnectClose(conn), 0);
	run_iterations(2);
	evloop_counts(loop, &c);
	assert_int_equal(c.pending_frees, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_timeout_zero_every_iteration, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout_repeats, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout_disabled, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout_disable_in_callback, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_unknown, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_handle_events, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_handle_update, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_self_during_dispatch, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_other_during_dispatch, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_runs_later_from_loop, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_in_removal_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_on_evloop_free, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_register_busy, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_threads_churn_while_running, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_thread_add_wakes_loop, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_libvirt_lifecycle_events, setup, teardown),
	};

	log_init("test-evloop", true, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
