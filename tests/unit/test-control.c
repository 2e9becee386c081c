/*
 * Unit tests for agent/control with the real thing: a libevent loop, a UNIX
 * socket in a temporary directory, and cli/client.c as the peer. Callers
 * that must be someone else (uid 65534, the admin group) or must block on
 * many replies run in forked children while the parent turns the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "../../cli/client.h"
#include "log.h"

#define NOBODY      65534
#define ADMIN_GID   4242
#define MAX_OUTPUT  (64 * 1024)
#define PUMP_ROUNDS 3000 /* 10 ms each: a safety net, not a timing check */

struct fixture {
	char dir[64];
	char path[128];
	struct event_base *base;
	struct control *ctl;
	struct control_request *held; /* a request the handler answers later */
	unsigned handled;
};

static void deferred_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	control_reply_ok(arg, NULL);
}

/*
 * Answers at once, except plan, answered on the next loop turn, and inspect
 * of "later", which it keeps for the test.
 */
static void test_handler(struct control_request *req, void *opaque)
{
	struct fixture *f = opaque;
	const struct proto_request *p = control_request_proto(req);
	const struct control_peer *peer = control_request_peer(req);
	struct json_object *domain, *data = json_object_new_object();

	f->handled++;
	if (p->cmd == PROTO_CMD_PLAN) {
		struct timeval now = {0, 0};

		json_object_put(data);
		event_base_once(f->base, -1, EV_TIMEOUT, deferred_reply_cb, req, &now);
		return;
	}
	if (p->cmd == PROTO_CMD_INSPECT && json_object_object_get_ex(p->args, "domain", &domain) &&
	    strcmp(json_object_get_string(domain), "later") == 0) {
		json_object_put(data);
		f->held = req;
		return;
	}
	json_object_object_add(data, "cmd", json_object_new_string(proto_cmd_name(p->cmd)));
	json_object_object_add(data, "uid", json_object_new_int64(peer->uid));
	json_object_object_add(data, "admin", json_object_new_boolean(peer->admin));
	control_reply_ok(req, data);
}

static int setup_with(void **state, struct control_config cfg)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/memplug-control-XXXXXX");
	if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0755) < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/memplugd.sock", f->dir);
	cfg.path = f->path;
	f->base = event_base_new();
	if (f->base == NULL || control_new(f->base, &cfg, test_handler, f, &f->ctl) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, (struct control_config){
	                                 .mode = 0660,
	                                 .group = "65534",
	                                 .admin_group = "4242",
	                                 .max_clients = 8,
	                                 .max_output = MAX_OUTPUT,
	                         });
}

#define SLOW_CLIENTS     64
#define SLOW_FRAME_MS    1000
#define SLOW_TRICKLE_MS  100
#define SLOW_ROUNDS      25 /* 2.5 s of trickling: well past the frame deadline */
#define SLOW_ADMIN_SLOTS 2

/* The agent's real limits (64 clients, 2 kept for administrators), a short frame deadline. */
static int setup_slow(void **state)
{
	return setup_with(state, (struct control_config){
	                                 .mode = 0666,
	                                 .admin_group = "4242",
	                                 .max_clients = SLOW_CLIENTS,
	                                 .admin_slots = SLOW_ADMIN_SLOTS,
	                                 .frame_timeout_ms = SLOW_FRAME_MS,
	                         });
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	control_free(f->ctl);
	event_base_free(f->base);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Turns the loop until fd is readable (data or EOF). */
static void pump_until_readable(struct fixture *f, int fd)
{
	for (int i = 0; i < PUMP_ROUNDS; i++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 1) > 0)
			return;
	}
	fail_msg("no reply from the control server");
}

static void pump_until_clients(struct fixture *f, size_t n)
{
	for (int i = 0; i < PUMP_ROUNDS && control_client_count(f->ctl) != n; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(control_client_count(f->ctl), n);
}

static struct client *connect_client(struct fixture *f)
{
	struct client *c = NULL;
	char *err = NULL;

	assert_int_equal(client_connect(f->path, 5000, &c, &err), 0);
	return c;
}

/* Sends cmd and returns its reply (cmd is small, so one read gets it whole). */
static struct proto_reply *call(struct fixture *f, struct client *c, const char *cmd,
                                const char *args)
{
	struct proto_reply *reply = NULL;
	char *err = NULL;

	assert_int_equal(client_send(c, cmd, args ? json_tokener_parse(args) : NULL, NULL, &err),
	                 0);
	pump_until_readable(f, client_fd(c));
	assert_int_equal(client_recv(c, &reply, &err), 0);
	return reply;
}

static void send_raw(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_frame(int fd, const char *json)
{
	size_t n = strlen(json);
	unsigned char hdr[4] = {n >> 24, n >> 16, n >> 8, n};

	send_raw(fd, hdr, 4);
	send_raw(fd, json, n);
}

/* Reads the error reply a broken frame earns, then expects the connection closed. */
static void expect_error_then_close(struct fixture *f, struct client *c, const char *code)
{
	struct proto_reply *reply = NULL;
	char *err = NULL;

	pump_until_readable(f, client_fd(c));
	assert_int_equal(client_recv(c, &reply, &err), 0);
	assert_false(reply->ok);
	assert_string_equal(reply->code, code);
	proto_reply_free(reply);
	pump_until_readable(f, client_fd(c));
	assert_int_equal(client_recv(c, &reply, &err), -ECONNRESET);
	free(err);
}

static const char *data_string(const struct proto_reply *reply, const char *key)
{
	return json_object_get_string(json_object_object_get(reply->data, key));
}

static void test_request_reply(void **state)
{
	struct fixture *f = *state;
	struct client *c = connect_client(f);
	struct proto_reply *reply = call(f, c, "status", NULL);

	assert_true(reply->ok);
	assert_int_equal(reply->id, 1);
	assert_string_equal(data_string(reply, "cmd"), "status");
	assert_string_equal(data_string(reply, "uid"), "0");
	proto_reply_free(reply);
	reply = call(f, c, "grow", "{\"domain\":\"g\",\"size\":1}");
	assert_true(reply->ok);
	assert_int_equal(reply->id, 2);
	assert_string_equal(data_string(reply, "admin"), "true");
	proto_reply_free(reply);
	client_free(c);
}

/* A client that shuts its sending side (a shell pipe) still gets its replies. */
static void test_half_close(void **state)
{
	struct fixture *f = *state;
	struct client *c = connect_client(f);
	struct proto_reply *reply = NULL;
	char *err = NULL;

	send_frame(client_fd(c), "{\"v\":1,\"id\":5,\"cmd\":\"plan\",\"args\":{\"domain\":\"g\"}}");
	send_frame(client_fd(c), "{\"v\":1,\"id\":6,\"cmd\":\"status\"}");
	assert_int_equal(shutdown(client_fd(c), SHUT_WR), 0);
	for (uint32_t want = 6; want >= 5; want--) { /* plan is answered a turn later */
		pump_until_readable(f, client_fd(c));
		assert_int_equal(client_recv(c, &reply, &err), 0);
		assert_int_equal(reply->id, want);
		assert_true(reply->ok);
		proto_reply_free(reply);
	}
	pump_until_readable(f, client_fd(c));
	assert_int_equal(client_recv(c, &reply, &err), -ECONNRESET);
	free(err);
	client_free(c);
	pump_until_clients(f, 0);
}

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, NOBODY);
}

struct bad_case {
	const char *what;
	const char *json; /* framed as is */
	const char *code;
	bool keeps_client;
};

static const struct bad_case bad_cases[] = {
        {"not JSON", "{nope", "bad_request", false},
        {"array", "[]", "bad_request", false},
        {"wrong version", "{\"v\":9,\"id\":1,\"cmd\":\"status\"}", "bad_request", false},
        {"unknown field", "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"x\":1}", "bad_request", false},
        {"wrong type", "{\"v\":1,\"id\":1,\"cmd\":\"inspect\",\"args\":{\"domain\":true}}",
         "bad_request", false},
        {"unknown command", "{\"v\":1,\"id\":1,\"cmd\":\"explode\"}", "unknown_command", true},
};

/* A bad frame costs its sender the connection; another client keeps working. */
static void test_bad_frames(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct client *good = connect_client(f), *bad = connect_client(f);
		struct proto_reply *reply;
		char *err = NULL;

		print_message("bad frame: %s\n", bc->what);
		send_frame(client_fd(bad), bc->json);
		if (bc->keeps_client) {
			pump_until_readable(f, client_fd(bad));
			assert_int_equal(client_recv(bad, &reply, &err), 0);
			assert_string_equal(reply->code, bc->code);
			proto_reply_free(reply);
			reply = call(f, bad, "status", NULL);
			assert_true(reply->ok);
			proto_reply_free(reply);
		} else {
			expect_error_then_close(f, bad, bc->code);
			pump_until_clients(f, 1);
		}
		reply = call(f, good, "status", NULL);
		assert_true(reply->ok);
		proto_reply_free(reply);
		client_free(bad);
		client_free(good);
		pump_until_clients(f, 0);
	}
}

struct size_case {
	const char *what;
	uint32_t len;
	bool ok;
};

static const struct size_case size_cases[] = {
        {"exact cap", PROTO_REQUEST_MAX, true},
        {"cap plus one", PROTO_REQUEST_MAX + 1, false},
        {"zero length", 0, false},
        {"garbage length", 0xffffffffu, false},
};

/* A request padded with spaces to len bytes, or just the header when it is over the cap. */
static void test_frame_sizes(void **state)
{
	struct fixture *f = *state;
	const char *json = "{\"v\":1,\"id\":77,\"cmd\":\"status\"}";

	for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
		const struct size_case *sc = &size_cases[i];
		struct client *c = connect_client(f);
		unsigned char hdr[4] = {sc->len >> 24, sc->len >> 16, sc->len >> 8, sc->len};
		struct proto_reply *reply = NULL;
		char *err = NULL;

		print_message("frame size: %s\n", sc->what);
		send_raw(client_fd(c), hdr, 4);
		if (sc->ok) {
			char *body = malloc(sc->len);

			memset(body, ' ', sc->len);
			memcpy(body, json, strlen(json));
			send_raw(client_fd(c), body, sc->len);
			free(body);
			pump_until_readable(f, client_fd(c));
			assert_int_equal(client_recv(c, &reply, &err), 0);
			assert_true(reply->ok);
			assert_int_equal(reply->id, 77);
			proto_reply_free(reply);
		} else {
			expect_error_then_close(f, c, "bad_request");
		}
		client_free(c);
		pump_until_clients(f, 0);
	}
}

static void test_second_agent_refused(void **state)
{
	struct fixture *f = *state;
	struct control_config cfg = {.path = f->path};
	struct control *other = NULL;
	struct client *c;
	struct proto_reply *reply;

	assert_int_equal(control_new(f->base, &cfg, test_handler, f, &other), -EADDRINUSE);
	assert_null(other);
	c = connect_client(f); /* the first agent still answers on its socket */
	reply = call(f, c, "status", NULL);
	assert_true(reply->ok);
	proto_reply_free(reply);
	client_free(c);
}

static void test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct control_config cfg = {.path = sun.sun_path};
	struct control *other = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/stale.sock", f->dir);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd); /* bound, never listening: what a crashed agent leaves */
	assert_int_equal(control_new(f->base, &cfg, test_handler, f, &other), 0);
	control_free(other);
	assert_int_equal(access(sun.sun_path, F_OK), -1);

	fd = open(sun.sun_path, O_CREAT | O_WRONLY, 0600); /* not a socket: leave it alone */
	close(fd);
	assert_int_equal(control_new(f->base, &cfg, test_handler, f, &other), -EEXIST);
	assert_int_equal(access(sun.sun_path, F_OK), 0);
	unlink(sun.sun_path);
}

/* A handler that answers later; the client may be gone by then. */
static void test_async_reply(void **state)
{
	struct fixture *f = *state;
	struct client *c = connect_client(f);
	struct proto_reply *reply = NULL;
	char *err = NULL;

	assert_int_equal(
	        client_send(c, "inspect", json_tokener_parse("{\"domain\":\"later\"}"), NULL, &err),
	        0);
	for (int i = 0; i < PUMP_ROUNDS && f->held == NULL; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_non_null(f->held);
	assert_true(control_request_connected(f->held));
	assert_int_equal(control_reply_more(f->held, json_tokener_parse("{\"part\":1}")), 0);
	assert_int_equal(control_reply_ok(f->held, NULL), 0);
	f->held = NULL;
	pump_until_readable(f, client_fd(c));
	assert_int_equal(client_recv(c, &reply, &err), 0);
	assert_true(reply->more);
	proto_reply_free(reply);
	pump_until_readable(f, client_fd(c));
	assert_int_equal(client_recv(c, &reply, &err), 0);
	assert_false(reply->more);
	assert_true(reply->ok);
	proto_reply_free(reply);

	assert_int_equal(
	        client_send(c, "inspect", json_tokener_parse("{\"domain\":\"later\"}"), NULL, &err),
	        0);
	for (int i = 0; i < PUMP_ROUNDS && f->held == NULL; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	client_free(c);
	pump_until_clients(f, 0);
	assert_false(control_request_connected(f->held));
	assert_int_equal(control_reply_error(f->held, "failed", "too late"), -ENOTCONN);
	f->held = NULL;
}

/* A stream nobody reads is cut off once its queue passes the cap. */
static void test_slow_reader_dropped(void **state)
{
	struct fixture *f = *state;
	struct client *c = connect_client(f);
	char *err = NULL, chunk[1024];
	int rc = 0, i;

	memset(chunk, 'x', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = '\0';
	assert_int_equal(
	        client_send(c, "inspect", json_tokener_parse("{\"domain\":\"later\"}"), NULL, &err),
	        0);
	for (i = 0; i < PUMP_ROUNDS && f->held == NULL; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_non_null(f->held);
	for (i = 0; i < 100000 && rc == 0; i++) {
		struct json_object *data = json_object_new_object();

		json_object_object_add(data, "line", json_object_new_string(chunk));
		rc = control_reply_more(f->held, data);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_int_equal(control_client_count(f->ctl), 0);
	assert_int_equal(control_reply_ok(f->held, NULL), -ENOTCONN);
	f->held = NULL;
	client_free(c);
}

/* Runs fn in a child while the parent turns the loop; returns the child's exit code. */
static int run_child(struct fixture *f, int (*fn)(struct fixture *, const void *), const void *arg)
{
	pid_t pid = fork();
	int status = -1;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(f, arg));
	for (int i = 0; i < PUMP_ROUNDS * 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("child did not finish");
	return -1;
}

struct auth_case {
	const char *what;
	uid_t uid;
	gid_t gid;
	gid_t groups[2];
	const char *cmd;
	const char *args;
	int expect; /* 0 accepted, 1 unauthorized */
};

static const struct auth_case auth_cases[] = {
        {"nobody status", NOBODY, NOBODY, {NOBODY}, "status", NULL, 0},
        {"nobody inspect", NOBODY, NOBODY, {NOBODY}, "inspect", "{\"domain\":\"g\"}", 0},
        {"nobody log", NOBODY, NOBODY, {NOBODY}, "log", "{\"follow\":false}", 0},
        {"nobody policy show",
         NOBODY,
         NOBODY,
         {NOBODY},
         "policy",
         "{\"domain\":\"g\",\"action\":\"show\"}",
         0},
        {"nobody policy enable",
         NOBODY,
         NOBODY,
         {NOBODY},
         "policy",
         "{\"domain\":\"g\",\"action\":\"enable\"}",
         1},
        {"nobody grow", NOBODY, NOBODY, {NOBODY}, "grow", "{\"domain\":\"g\",\"size\":1}", 1},
        {"nobody shrink", NOBODY, NOBODY, {NOBODY}, "shrink", "{\"domain\":\"g\",\"size\":1}", 1},
        {"admin group (supplementary)",
         NOBODY,
         NOBODY,
         {NOBODY, ADMIN_GID},
         "grow",
         "{\"domain\":\"g\",\"size\":1}",
         0},
        {"admin group (primary)",
         NOBODY,
         ADMIN_GID,
         {NOBODY},
         "shrink",
         "{\"domain\":\"g\",\"size\":1}",
         0},
        {"root grow", 0, 0, {0}, "grow", "{\"domain\":\"g\",\"size\":1}", 0},
};

/* In the child: become the case's caller, make one call, report by exit code. */
static int auth_child(struct fixture *f, const void *arg)
{
	const struct auth_case *ac = arg;
	size_t ngroups = ac->groups[1] ? 2 : 1;
	struct client *c = NULL;
	struct proto_reply *reply = NULL;
	char *err = NULL;
	int rc;

	if (setgroups(ngroups, ac->groups) < 0 || setgid(ac->gid) < 0 || setuid(ac->uid) < 0)
		return 10;
	if (client_connect(f->path, 5000, &c, &err) < 0)
		return 11;
	if (client_call(c, ac->cmd, ac->args ? json_tokener_parse(ac->args) : NULL, &reply, &err) <
	    0)
		return 12;
	if (reply->ok)
		rc = strtoul(data_string(reply, "uid"), NULL, 10) == ac->uid ? 0 : 13;
	else
		rc = strcmp(reply->code, "unauthorized") == 0 && strstr(reply->message, "4242")
		             ? 1
		             : 14;
	return rc;
}

static void test_authorization(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
		unsigned before = f->handled;
		int rc = run_child(f, auth_child, &auth_cases[i]);

		print_message("auth: %s -> %d\n", auth_cases[i].what, rc);
		assert_int_equal(rc, auth_cases[i].expect);
		/* A refused request never reaches the handler. */
		assert_int_equal(f->handled - before, auth_cases[i].expect ? 0 : 1);
	}
}

#define PIPELINE 1000

/* In the child: many requests written before any reply is read. */
static int pipeline_child(struct fixture *f, const void *arg)
{
	static bool seen[PIPELINE + 1];
	struct client *c = NULL;
	struct proto_reply *reply = NULL;
	char *err = NULL;

	if (client_connect(f->path, 5000, &c, &err) < 0)
		return 11;
	for (int i = 0; i < PIPELINE; i++) {
		if (client_send(c, "plan", json_tokener_parse("{\"domain\":\"g\"}"), NULL, &err) <
		    0)
			return 12;
	}
	for (int i = 1; i <= PIPELINE; i++) {
		if (client_recv(c, &reply, &err) < 0 || !reply->ok || reply->id < 1 ||
		    reply->id > PIPELINE || seen[reply->id])
			return 13;
		seen[reply->id] = true;
		proto_reply_free(reply);
	}
	client_free(c);
	return 0;
}

/*
 * Deferred replies pile up past max_pending, so reading pauses with frames
 * still buffered and must resume on its own; every request gets one reply.
 */
static void test_pipelined_requests(void **state)
{
	struct fixture *f = *state;
	int n = PIPELINE;

	assert_int_equal(run_child(f, pipeline_child, &n), 0);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Thousands of random and broken frames; the server still answers and leaks no fd. */
static void test_flood(void **state)
{
	struct fixture *f = *state;
	int fds = count_fds();
	struct client *c;
	struct proto_reply *reply;
	unsigned seed = 1;
	enum log_level level = log_get_level();

	log_set_level(LOG_LEVEL_ERR); /* one warning per dropped client is noise here */

	for (int i = 0; i < 2000; i++) {
		struct client *bad = connect_client(f);
		unsigned char buf[512];
		size_t len = 4 + rand_r(&seed) % (sizeof(buf) - 4);

		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)rand_r(&seed);
		if (i % 2) { /* a plausible length, then noise or near-JSON */
			buf[0] = buf[1] = 0;
			buf[2] = (unsigned char)((len - 4) >> 8);
			buf[3] = (unsigned char)(len - 4);
			if (i % 4 == 1)
				memcpy(buf + 4, "{\"v\":1,\"id\":", 12 < len - 4 ? 12 : len - 4);
		}
		send(client_fd(bad), buf, len, MSG_NOSIGNAL);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		client_free(bad);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	pump_until_clients(f, 0);
	log_set_level(level);
	c = connect_client(f);
	reply = call(f, c, "status", NULL);
	assert_true(reply->ok);
	proto_reply_free(reply);
	client_free(c);
	pump_until_clients(f, 0);
	assert_int_equal(count_fds(), fds);
}

/* Past max_clients a newcomer is told "busy" and closed; the others keep working. */
static void test_max_clients(void **state)
{
	struct fixture *f = *state;
	struct client *c[9];
	struct proto_reply *reply = NULL;

	for (int i = 0; i < 8; i++)
		c[i] = connect_client(f);
	pump_until_clients(f, 8);
	c[8] = connect_client(f);
	expect_error_then_close(f, c[8], "busy");
	assert_int_equal(control_client_count(f->ctl), 8);
	reply = call(f, c[0], "status", NULL);
	assert_true(reply->ok);
	proto_reply_free(reply);
	for (int i = 0; i < 9; i++)
		client_free(c[i]);
	pump_until_clients(f, 0);
}

static void test_client_errors(void **state)
{
	struct fixture *f = *state;
	struct client *c = NULL;
	char *err = NULL, path[160];

	snprintf(path, sizeof(path), "%s/absent.sock", f->dir);
	assert_int_equal(client_connect(path, 1000, &c, &err), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, "cannot reach memplugd at"));
	assert_non_null(strstr(err, path));
	free(err);
}

/* A listening socket that stays readable at EMFILE must not spin the loop. */
#define EMFILE_CLIENTS   8
#define EMFILE_WINDOW_MS 500

static int highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int max = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (atoi(e->d_name) > max)
			max = atoi(e->d_name);
	closedir(d);
	return max;
}

static long cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 + ru.ru_stime.tv_sec * 1000 +
	       ru.ru_stime.tv_usec / 1000;
}

static int count_lines(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	int n = 0;

	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, needle) != NULL;
	if (fp != NULL)
		fclose(fp);
	return n;
}

/*
 * Clients wait in the backlog while the process has no descriptor left.
 * The loop turns for half a second: accepting must pause (little CPU, a
 * line or two of log), the spare descriptor must let at least one waiting
 * client hear "busy", and once descriptors are back the rest are served.
 */
static void test_emfile_backoff(void **state)
{
	struct fixture *f = *state;
	struct client *c[EMFILE_CLIENTS];
	struct timeval window = {0, EMFILE_WINDOW_MS * 1000};
	char logpath[] = "/tmp/memplug-emfile-XXXXXX";
	int logfd = mkstemp(logpath), saved = dup(2), dummies[1024], nd = 0, shed = 0, served = 0;
	struct rlimit old, low;
	long cpu;

	assert_true(logfd >= 0 && saved >= 0);
	for (int i = 0; i < EMFILE_CLIENTS; i++)
		c[i] = connect_client(f); /* queued: the loop has not turned yet */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)highest_fd() + 4;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	dup2(logfd, 2);
	while (nd < 1024 && (dummies[nd] = open("/dev/null", O_RDONLY)) >= 0)
		nd++;
	assert_int_equal(errno, EMFILE);

	cpu = cpu_ms();
	event_base_loopexit(f->base, &window);
	event_base_dispatch(f->base);
	cpu = cpu_ms() - cpu;

	while (nd > 0)
		close(dummies[--nd]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	dup2(saved, 2);
	close(saved);
	close(logfd);
	for (int i = 0; i < EMFILE_CLIENTS; i++) {
		struct pollfd pfd = {.fd = client_fd(c[i]), .events = POLLIN};
		struct proto_reply *reply;

		if (poll(&pfd, 1, 0) == 1) { /* shed with the spare descriptor */
			expect_error_then_close(f, c[i], "busy");
			shed++;
		} else {
			reply = call(f, c[i], "status", NULL);
			served += reply->ok;
			proto_reply_free(reply);
		}
		client_free(c[i]);
	}
	print_message("EMFILE for %d ms: %ld ms CPU, %d log lines, %d shed, %d served\n",
	              EMFILE_WINDOW_MS, cpu, count_lines(logpath, "accept"), shed, served);
	assert_true(count_lines(logpath, "accept") <= 3); /* one a second, at most */
	assert_true(cpu < EMFILE_WINDOW_MS / 4);
	assert_true(shed >= 1);
	assert_int_equal(shed + served, EMFILE_CLIENTS);
	unlink(logpath);
	pump_until_clients(f, 0);
}

/*
 * In the child, as nobody: SLOW_CLIENTS connections that each send one
 * byte of a frame every SLOW_TRICKLE_MS, never completing it. Exits 0 when
 * exactly the places not kept for administrators were taken (the others
 * heard "busy") and every trickler was dropped at the frame deadline.
 */
static int trickle_child(struct fixture *f, const void *arg)
{
	static const unsigned char frame[] = {0, 0, 1, 0, '{', '"', 'v', '"'};
	int fd[SLOW_CLIENTS], busy = 0, dropped = 0, open_fds = SLOW_CLIENTS;
	gid_t g = NOBODY;

	if (setgroups(1, &g) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 10;
	for (int i = 0; i < SLOW_CLIENTS; i++) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		strcpy(sun.sun_path, f->path);
		fd[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd[i] < 0 || connect(fd[i], (struct sockaddr *)&sun, sizeof(sun)) < 0)
			return 11;
	}
	for (int r = 0; r < SLOW_ROUNDS && open_fds > 0; r++) {
		for (int i = 0; i < SLOW_CLIENTS; i++) {
			struct pollfd pfd = {.fd = fd[i], .events = POLLIN};
			char buf[4096];
			ssize_t n;

			if (fd[i] < 0)
				continue;
			if (poll(&pfd, 1, 0) == 1) {
				n = recv(fd[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
				buf[n > 0 ? n : 0] = '\0';
				busy += n > 4 && strstr(buf + 4, "\"busy\"") != NULL;
				dropped += n > 4 && strstr(buf + 4, "did not arrive whole") != NULL;
				close(fd[i]);
				fd[i] = -1;
				open_fds--;
				continue;
			}
			send(fd[i], &frame[r % sizeof(frame)], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		usleep(SLOW_TRICKLE_MS * 1000);
	}
	fprintf(stderr, "trickle: %d busy, %d dropped at the deadline, %d still open\n", busy,
	        dropped, open_fds);
	return busy == SLOW_ADMIN_SLOTS && dropped == SLOW_CLIENTS - SLOW_ADMIN_SLOTS &&
	                       open_fds == 0
	               ? 0
	               : 1;
}

/*
 * 64 clients trickle bytes and never finish a frame. Root still gets its
 * status answered at once (a place is kept for it), a trickler never gets
 * past the frame deadline, and the ones that found no place heard "busy".
 */
static void test_slow_clients(void **state)
{
	struct fixture *f = *state;
	struct proto_reply *reply;
	struct client *root;
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(trickle_child(f, NULL));
	for (int i = 0;
	     i < PUMP_ROUNDS && control_client_count(f->ctl) < SLOW_CLIENTS - SLOW_ADMIN_SLOTS;
	     i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	root = connect_client(f);
	reply = call(f, root, "status", NULL);
	if (!reply->ok)
		fail_msg("root refused with %u clients: %s: %s",
		         (unsigned)control_client_count(f->ctl), reply->code, reply->message);
	assert_string_equal(data_string(reply, "uid"), "0");
	proto_reply_free(reply);
	/* Nobody was dropped yet: root was let in by its kept place, not by a deadline. */
	assert_int_equal(control_client_count(f->ctl), SLOW_CLIENTS - SLOW_ADMIN_SLOTS + 1);
	client_free(root);
	for (int i = 0; i < PUMP_ROUNDS * 2 && waitpid(pid, &status, WNOHANG) != pid; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	if (!WIFEXITED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	pump_until_clients(f, 0);
}

/* A frame sent whole, byte by byte within the deadline, is still served. */
static void test_slow_but_in_time(void **state)
{
	struct fixture *f = *state;
	const char *json = "{\"v\":1,\"id\":7,\"cmd\":\"status\"}";
	struct client *c = connect_client(f);
	size_t n = strlen(json);
	unsigned char buf[64] = {0, 0, 0, (unsigned char)n};
	struct proto_reply *reply = NULL;
	char *err = NULL;

	memcpy(buf + 4, json, n);
	for (size_t i = 0; i < n + 4; i++) {
		send_raw(client_fd(c), buf + i, 1);
		for (int k = 0; k < 10; k++) { /* 10 ms a byte: well inside 1 s */
			event_base_loop(f->base, EVLOOP_NONBLOCK);
			usleep(1000);
		}
	}
	pump_until_readable(f, client_fd(c));
	assert_int_equal(client_recv(c, &reply, &err), 0);
	assert_true(reply->ok);
	assert_int_equal(reply->id, 7);
	proto_reply_free(reply);
	client_free(c);
	pump_until_clients(f, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_request_reply, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_frames, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_frame_sizes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_second_agent_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_async_reply, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_reader_dropped, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pipelined_requests, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_max_clients, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_emfile_backoff, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_clients, setup_slow, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_but_in_time, setup_slow, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
