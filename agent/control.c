/*
 * The control socket server (see control.h). Each client is a bufferevent;
 * frames are cut and checked with common/proto, the caller's identity comes
 * from SO_PEERCRED/SO_PEERGROUPS at accept time, and authorization happens
 * here so handlers never see a request the caller may not make. Memory per
 * client is bounded: one frame of input (64 KiB), a few open requests (then
 * reading pauses), and a cap on queued output (then the client is dropped).
 * Clients are reference-counted so a handler may answer after the client left.
 *
 * Nobody can hold the agent hostage: a frame must arrive whole within
 * frame_timeout (a trickle of bytes does not keep a slot), the last
 * admin_slots places are kept for root and the admin group, and when the
 * process runs out of descriptors accepting pauses with a backoff instead
 * of spinning, one spare descriptor letting us tell a waiting client "busy".
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "buildconf.h"
#include "control.h"
#include "log.h"

#define CONTROL_MAX_GROUPS 1024
/* Accept pauses after EMFILE: from the first figure, doubling up to the second. */
#define CONTROL_ACCEPT_BACKOFF_MIN_MS 50
#define CONTROL_ACCEPT_BACKOFF_MAX_MS 1000

struct control_client;

struct control_request {
	struct control_client *client;
	struct proto_request *proto;
	control_close_fn on_close;
	void *on_close_opaque;
	TAILQ_ENTRY(control_request) entry;
};

struct control_client {
	struct control *ctl; /* NULL once the connection is closed */
	struct bufferevent *bev;
	struct control_peer peer;
	unsigned refs; /* the connection + each open request + callers on the stack */
	size_t pending;
	bool closing; /* flush the last reply, then close */
	bool eof;     /* the client stopped sending: answer what it asked, then close */
	bool paused;  /* reading disabled until replies drain */
	struct event *frame_timer; /* armed while a frame is partly read */
	TAILQ_ENTRY(control_client) entry;
	TAILQ_HEAD(, control_request) requests;
};

struct control {
	struct event_base *base;
	struct evconnlistener *listener;
	char *path;
	gid_t admin_gid;
	bool has_admin_gid;
	char *admin_name;
	size_t max_clients, max_pending, max_output;
	size_t admin_slots;
	struct timeval idle_timeout, write_timeout, frame_timeout;
	int spare_fd;               /* given up to shed one client at EMFILE */
	struct event *accept_timer; /* resumes accepting after a pause */
	unsigned accept_backoff_ms; /* the next pause; reset by a good accept */
	struct log_ratelimit accept_rl, busy_rl, frame_rl;
	control_handler_fn handler;
	void *opaque;
	size_t nclients;
	TAILQ_HEAD(, control_client) clients;
	uint64_t refused_busy, refused_unauthorized; /* for the metrics */
};

static void control_client_close(struct control_client *c);
static bool control_client_close_if_done(struct control_client *c);
static void control_client_update(struct control_client *c);

static void control_client_unref(struct control_client *c)
{
	if (--c->refs == 0)
		free(c);
}

/* Queues one encoded message; drops the client when it lets replies pile up. */
static int control_client_send(struct control_client *c, struct json_object *msg)
{
	char *frame = NULL, *err = NULL;
	size_t n;
	int rc;

	if (c->ctl == NULL || msg == NULL) {
		json_object_put(msg);
		return c->ctl == NULL ? -ENOTCONN : -ENOMEM;
	}
	rc = proto_frame_encode(msg, PROTO_REPLY_MAX, &frame, &n, &err);
	json_object_put(msg);
	if (rc < 0) {
		log_err("control: cannot send reply to pid %d: %s", (int)c->peer.pid, err);
		free(err);
		return rc;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) + n > c->ctl->max_output) {
		log_warn(
		        "control: dropping client uid %u pid %d (%s): it does not read its replies",
		        (unsigned)c->peer.uid, (int)c->peer.pid, c->peer.comm);
		control_client_close(c);
		rc = -ENOBUFS;
	} else if (bufferevent_write(c->bev, frame, n) < 0) {
		rc = -ENOMEM;
	}
	free(frame);
	return rc;
}

static void control_send_error(struct control_client *c, uint32_t id, const char *code,
                               const char *message)
{
	control_client_send(c, proto_reply_error(id, code, message));
}

/* Any local user can send broken frames: their warnings are rate-limited so
 * they cannot flood the log. */
#define CONTROL_DROP_LOG_BURST 20
static struct log_ratelimit control_drop_rl; /* loop thread only */

/* Answers a broken frame, then closes once the answer is flushed. */
static void control_client_fail(struct control_client *c, uint32_t id, const char *message)
{
	if (log_ratelimit(&control_drop_rl, CONTROL_DROP_LOG_BURST))
		log_warn("control: dropping client uid %u pid %d (%s): %s", (unsigned)c->peer.uid,
		         (int)c->peer.pid, c->peer.comm, message);
	control_send_error(c, id, PROTO_E_BAD_REQUEST, message);
	if (c->ctl == NULL)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	control_client_close_if_done(c);
}

static void control_request_end(struct control_request *req)
{
	struct control_client *c = req->client;

	TAILQ_REMOVE(&c->requests, req, entry);
	c->pending--;
	proto_request_free(req->proto);
	free(req);
	if (c->ctl != NULL && !control_client_close_if_done(c))
		control_client_update(c);
	control_client_unref(c);
}

static bool control_authorize(struct control_client *c, const struct proto_request *preq)
{
	char msg[256];

	if (!proto_request_mutates(preq) || c->peer.admin)
		return true;
	snprintf(msg, sizeof(msg), "'%s' changes state and needs root%s%s%s; uid %u is neither",
	         proto_cmd_name(preq->cmd), c->ctl->admin_name ? " or membership in group '" : "",
	         c->ctl->admin_name ? c->ctl->admin_name : "", c->ctl->admin_name ? "'" : "",
	         (unsigned)c->peer.uid);
	log_warn("control: refused '%s' from uid %u pid %d (%s): not an administrator",
	         proto_cmd_name(preq->cmd), (unsigned)c->peer.uid, (int)c->peer.pid, c->peer.comm);
	control_send_error(c, preq->id, PROTO_E_UNAUTHORIZED, msg);
	c->ctl->refused_unauthorized++;
	return false;
}

static void control_dispatch(struct control_client *c, struct proto_request *preq)
{
	struct control_request *req;

	if (!control_authorize(c, preq)) {
		proto_request_free(preq);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		control_send_error(c, preq->id, PROTO_E_FAILED, "agent out of memory");
		proto_request_free(preq);
		return;
	}
	req->client = c;
	req->proto = preq;
	c->refs++;
	c->pending++;
	TAILQ_INSERT_TAIL(&c->requests, req, entry);
	log_debug("control: '%s' id %u from uid %u pid %d", proto_cmd_name(preq->cmd),
	          (unsigned)preq->id, (unsigned)c->peer.uid, (int)c->peer.pid);
	c->ctl->handler(req, c->ctl->opaque);
}

/* Handles one whole payload; a malformed one costs the client its connection. */
static void control_client_handle(struct control_client *c, const char *buf, size_t len)
{
	struct proto_request *preq;
	char *err = NULL;
	uint32_t id;
	int rc;

	rc = proto_request_parse(buf, len, &preq, &id, &err);
	if (rc == -ENOSYS) {
		/* A well-formed request for a command we lack: newer client, keep it. */
		control_send_error(c, id, proto_error_code(rc), err);
	} else if (rc < 0) {
		control_client_fail(c, id, err ? err : "malformed request");
	} else {
		control_dispatch(c, preq);
	}
	free(err);
}

static bool control_client_can_read(struct control_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	return !c->closing && !c->eof && c->pending < c->ctl->max_pending &&
	       evbuffer_get_length(out) <= c->ctl->max_output / 2;
}

/* Takes the next whole frame out of the input; 1 when one was taken. */
static int control_client_next_frame(struct control_client *c, char **payload, size_t *len)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t avail = evbuffer_get_length(in);
	unsigned char *hdr = evbuffer_pullup(in, avail < PROTO_HEADER_LEN ? -1 : PROTO_HEADER_LEN);
	char *err = NULL;
	int rc;

	rc = proto_frame_check(hdr, avail, PROTO_REQUEST_MAX, len, &err);
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0) {
		control_client_fail(c, 0, err);
		free(err);
		return -1;
	}
	*payload = malloc(*len);
	if (*payload == NULL) {
		control_client_close(c);
		return -1;
	}
	evbuffer_drain(in, PROTO_HEADER_LEN);
	evbuffer_remove(in, *payload, *len);
	return 1;
}

static void control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;
	char *payload;
	size_t len;

	c->refs++; /* a handler may close the client under us */
	while (c->ctl != NULL && control_client_can_read(c) &&
	       control_client_next_frame(c, &payload, &len) > 0) {
		control_client_handle(c, payload, len);
		free(payload);
	}
	if (c->ctl != NULL)
		control_client_update(c);
	control_client_unref(c);
}

static void control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;

	if (!control_client_close_if_done(c))
		control_client_update(c);
}

/* EOF on a UNIX socket: POLLHUP means the peer is gone, not merely done sending. */
static bool control_peer_half_closed(struct bufferevent *bev)
{
	struct pollfd pfd = {.fd = bufferevent_getfd(bev), .events = POLLOUT};

	return poll(&pfd, 1, 0) == 1 && !(pfd.revents & (POLLHUP | POLLERR));
}

static void control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_info("control: dropping idle client uid %u pid %d (%s)", (unsigned)c->peer.uid,
		         (int)c->peer.pid, c->peer.comm);
	else if (what & BEV_EVENT_ERROR)
		log_debug("control: client pid %d: %s", (int)c->peer.pid, strerror(errno));
	if (what == (BEV_EVENT_READING | BEV_EVENT_EOF) && control_peer_half_closed(bev)) {
		/* A half-close (e.g. a shell pipe) still deserves its replies. */
		c->eof = true;
		bufferevent_disable(bev, EV_READ);
		evtimer_del(c->frame_timer); /* a frame cut short by EOF will not complete */
		if (control_client_close_if_done(c))
			return;
		bufferevent_set_timeouts(bev, NULL, &c->ctl->write_timeout);
		return;
	}
	control_client_close(c);
}

/* True when the input holds the start of a frame but not all of it. */
static bool control_client_partial_frame(struct control_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t avail = evbuffer_get_length(in), len;
	unsigned char *hdr;

	if (avail == 0)
		return false;
	hdr = evbuffer_pullup(in, avail < PROTO_HEADER_LEN ? -1 : PROTO_HEADER_LEN);
	return proto_frame_check(hdr, avail, PROTO_REQUEST_MAX, &len, NULL) == -EAGAIN;
}

/*
 * The deadline runs from the first byte of a frame while we read, and is
 * not reset by further bytes: a client sending one byte now and then
 * would otherwise hold its slot forever. Paused reading stops the clock.
 */
static void control_client_watch_frame(struct control_client *c)
{
	bool partial = control_client_can_read(c) && control_client_partial_frame(c);

	if (!partial)
		evtimer_del(c->frame_timer);
	else if (!evtimer_pending(c->frame_timer, NULL))
		evtimer_add(c->frame_timer, &c->ctl->frame_timeout);
}

static void control_frame_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *c = arg;
	char msg[96];

	if (c->ctl == NULL || c->closing)
		return;
	snprintf(msg, sizeof(msg), "a frame did not arrive whole within %ld ms",
	         (long)c->ctl->frame_timeout.tv_sec * 1000 +
	                 (long)c->ctl->frame_timeout.tv_usec / 1000);
	if (log_ratelimit(&c->ctl->frame_rl, CONTROL_DROP_LOG_BURST))
		log_warn("control: dropping client uid %u pid %d (%s): %s", (unsigned)c->peer.uid,
		         (int)c->peer.pid, c->peer.comm, msg);
	c->refs++; /* sending may close the client */
	control_send_error(c, 0, PROTO_E_BAD_REQUEST, msg);
	if (c->ctl != NULL) {
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
		control_client_close_if_done(c);
	}
	control_client_unref(c);
}

/* Pauses reading while the client has enough in flight; resumes when it drains. */
static void control_client_update(struct control_client *c)
{
	struct control *ctl = c->ctl;

	if (c->closing) {
		evtimer_del(c->frame_timer);
		return;
	}
	bufferevent_set_timeouts(c->bev, c->pending ? NULL : &ctl->idle_timeout,
	                         &ctl->write_timeout);
	if (control_client_can_read(c)) {
		bufferevent_enable(c->bev, EV_READ);
		/* Frames may already be buffered: no new bytes will wake us for them. */
		if (c->paused && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
			bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
		c->paused = false;
	} else {
		bufferevent_disable(c->bev, EV_READ);
		c->paused = true;
	}
	control_client_watch_frame(c);
}

/* Closes a client that is leaving once nothing it is owed is left to send. */
static bool control_client_close_if_done(struct control_client *c)
{
	if (c->ctl == NULL)
		return true;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return false;
	if (!c->closing && !(c->eof && c->pending == 0))
		return false;
	control_client_close(c);
	return true;
}

static void control_client_close(struct control_client *c)
{
	struct control *ctl = c->ctl;
	struct control_request *req, *next;

	if (ctl == NULL)
		return;
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->nclients--;
	event_free(c->frame_timer);
	c->frame_timer = NULL;
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->ctl = NULL;
	c->refs++;
	for (req = TAILQ_FIRST(&c->requests); req != NULL; req = next) {
		next = TAILQ_NEXT(req, entry);
		if (req->on_close != NULL)
			req->on_close(req, req->on_close_opaque);
	}
	c->refs--;
	control_client_unref(c); /* the connection's own reference */
}

static bool control_gid_in_groups(int fd, gid_t gid)
{
	gid_t groups[CONTROL_MAX_GROUPS];
	socklen_t len = sizeof(groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++) {
		if (groups[i] == gid)
			return true;
	}
	return false;
}

static void control_read_comm(pid_t pid, char *comm, size_t size)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, size - 1);
		close(fd);
	}
	if (n <= 0)
		n = snprintf(comm, size, "?");
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

static int control_peer_read(struct control *ctl, int fd, struct control_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	peer->pid = cred.pid;
	control_read_comm(cred.pid, peer->comm, sizeof(peer->comm));
	peer->admin = cred.uid == 0 ||
	              (ctl->has_admin_gid &&
	               (cred.gid == ctl->admin_gid || control_gid_in_groups(fd, ctl->admin_gid)));
	return 0;
}

/*
 * Says "busy" without spending a bufferevent on it. The client's request is
 * read and dropped first: closing a UNIX socket with unread input resets the
 * connection, and the client would see ECONNRESET instead of our answer.
 */
static void control_refuse_busy(int fd, const char *why)
{
	struct json_object *msg = proto_reply_error(0, PROTO_E_BUSY, why);
	char *frame = NULL, sink[4096];
	size_t n;

	if (msg != NULL && proto_frame_encode(msg, PROTO_REPLY_MAX, &frame, &n, NULL) == 0 &&
	    send(fd, frame, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("control: cannot tell a client the agent is busy: %s", strerror(errno));
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	json_object_put(msg);
	free(frame);
	close(fd);
}

/* Whether the peer may take a place; the last admin_slots are for administrators. */
static const char *control_admit(const struct control *ctl, const struct control_peer *peer)
{
	if (ctl->nclients >= ctl->max_clients)
		return "too many clients, retry later";
	if (!peer->admin && ctl->nclients + ctl->admin_slots >= ctl->max_clients)
		return "too many clients, retry later (the last places are kept for "
		       "administrators)";
	return NULL;
}

static struct control_client *control_client_new(struct control *ctl, int fd,
                                                 const struct control_peer *peer)
{
	struct control_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->peer = *peer;
	c->frame_timer = evtimer_new(ctl->base, control_frame_timeout_cb, c);
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->frame_timer == NULL || c->bev == NULL) {
		if (c->frame_timer != NULL)
			event_free(c->frame_timer);
		if (c->bev != NULL)
			bufferevent_free(c->bev); /* closes fd */
		else
			close(fd);
		free(c);
		return NULL;
	}
	return c;
}

static void control_accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
                              int salen, void *arg)
{
	struct control *ctl = arg;
	struct control_client *c;
	struct control_peer peer = {0};
	const char *busy;

	ctl->accept_backoff_ms = CONTROL_ACCEPT_BACKOFF_MIN_MS;
	if (control_peer_read(ctl, fd, &peer) < 0) {
		log_warn("control: cannot identify a client: %s", strerror(errno));
		close(fd);
		return;
	}
	if ((busy = control_admit(ctl, &peer)) != NULL) {
		if (log_ratelimit(&ctl->busy_rl, CONTROL_DROP_LOG_BURST))
			log_warn("control: refusing uid %u pid %d (%s): %zu clients already",
			         (unsigned)peer.uid, (int)peer.pid, peer.comm, ctl->nclients);
		control_refuse_busy(fd, busy);
		ctl->refused_busy++;
		return;
	}
	if ((c = control_client_new(ctl, fd, &peer)) == NULL) {
		log_warn("control: cannot set up a client: out of memory");
		return;
	}
	c->ctl = ctl;
	c->refs = 1;
	TAILQ_INIT(&c->requests);
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	ctl->nclients++;
	bufferevent_setcb(c->bev, control_read_cb, control_write_cb, control_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, ctl->max_output / 4, 0);
	/* Input never holds more than one largest frame: libevent stops reading there. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, PROTO_HEADER_LEN + PROTO_REQUEST_MAX);
	control_client_update(c);
	log_debug("control: client uid %u pid %d (%s)%s", (unsigned)c->peer.uid, (int)c->peer.pid,
	          c->peer.comm, c->peer.admin ? " [admin]" : "");
}

static void control_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;

	evconnlistener_enable(ctl->listener);
}

/*
 * Out of descriptors, the listening socket stays readable and libevent
 * would call us back at once, forever. Give up the spare descriptor to
 * take one waiting client and tell it "busy", then stop accepting for a
 * while, longer each time it happens again.
 */
static void control_accept_pause(struct control *ctl, int err)
{
	struct timeval tv = {ctl->accept_backoff_ms / 1000, (ctl->accept_backoff_ms % 1000) * 1000};
	int fd;

	if (log_ratelimit(&ctl->accept_rl, 1))
		log_warn("control: accept: %s; not accepting clients for %u ms", strerror(err),
		         ctl->accept_backoff_ms);
	if (ctl->spare_fd >= 0) {
		close(ctl->spare_fd);
		fd = accept4(evconnlistener_get_fd(ctl->listener), NULL, NULL,
		             SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			control_refuse_busy(fd,
			                    "the agent is out of file descriptors, retry later");
			ctl->refused_busy++;
		}
		ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	evconnlistener_disable(ctl->listener);
	evtimer_add(ctl->accept_timer, &tv);
	if (ctl->accept_backoff_ms < CONTROL_ACCEPT_BACKOFF_MAX_MS)
		ctl->accept_backoff_ms *= 2;
}

static void control_accept_error_cb(struct evconnlistener *lst, void *arg)
{
	struct control *ctl = arg;
	int err = errno;

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		control_accept_pause(ctl, err);
		return;
	}
	if (log_ratelimit(&ctl->accept_rl, 1))
		log_warn("control: accept: %s", strerror(err));
}

static int control_group_parse(const char *name, gid_t *gid)
{
	struct group *gr;
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(name, &end, 10);
	if (*name != '\0' && *end == '\0' && errno == 0 && n < (gid_t)-1) {
		*gid = (gid_t)n;
		return 0;
	}
	gr = getgrnam(name);
	if (gr == NULL) {
		log_err("control: unknown group '%s'", name);
		return -ENOENT;
	}
	*gid = gr->gr_gid;
	return 0;
}

static int control_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		log_err("control: socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* Refuses a live agent on path; removes a socket nobody answers on. */
static int control_check_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc = 0;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("control: %s exists and is not a socket", sun->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
		log_err("control: another memplugd is running on %s", sun->sun_path);
		rc = -EADDRINUSE;
	} else if (errno == ECONNREFUSED) {
		log_info("control: removing stale socket %s", sun->sun_path);
		if (unlink(sun->sun_path) < 0 && errno != ENOENT)
			rc = -errno;
	} else {
		rc = -errno;
		log_err("control: cannot probe %s: %s", sun->sun_path, strerror(errno));
	}
	close(fd);
	return rc;
}

/* Binds with a tight umask so the socket is never reachable with looser rights. */
static int control_bind(const struct sockaddr_un *sun, mode_t mode, const char *group)
{
	gid_t gid = (gid_t)-1;
	mode_t old;
	int fd, rc = 0;

	if (group != NULL && (rc = control_group_parse(group, &gid)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0)
		rc = -errno;
	umask(old);
	if (rc == 0 && (chown(sun->sun_path, (uid_t)-1, gid) < 0 ||
	                chmod(sun->sun_path, mode) < 0 || listen(fd, 64) < 0))
		rc = -errno;
	if (rc < 0) {
		log_err("control: cannot listen on %s: %s", sun->sun_path, strerror(-rc));
		close(fd);
		return rc;
	}
	return fd;
}

int control_check_path(const char *path)
{
	struct sockaddr_un sun;
	int rc = control_addr(path, &sun);

	return rc < 0 ? rc : control_check_stale(&sun);
}

static int control_setup(struct control *ctl, const struct control_config *cfg)
{
	struct sockaddr_un sun;
	int fd, rc;

	ctl->path = strdup(cfg->path ? cfg->path : MEMPLUG_SOCKET);
	if (ctl->path == NULL)
		return -ENOMEM;
	if (cfg->admin_group != NULL) {
		rc = control_group_parse(cfg->admin_group, &ctl->admin_gid);
		if (rc < 0)
			return rc;
		ctl->has_admin_gid = true;
		ctl->admin_name = strdup(cfg->admin_group);
	}
	if ((rc = control_addr(ctl->path, &sun)) < 0 || (rc = control_check_stale(&sun)) < 0)
		return rc;
	fd = control_bind(&sun, cfg->mode ? cfg->mode : 0660, cfg->group);
	if (fd < 0)
		return fd;
	ctl->listener = evconnlistener_new(ctl->base, control_accept_cb, ctl,
	                                   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (ctl->listener == NULL) {
		close(fd);
		unlink(ctl->path);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(ctl->listener, control_accept_error_cb);
	ctl->accept_timer = evtimer_new(ctl->base, control_accept_resume_cb, ctl);
	ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ctl->accept_timer == NULL || ctl->spare_fd < 0)
		return ctl->spare_fd < 0 ? -errno : -ENOMEM;
	return 0;
}

int control_new(struct event_base *base, const struct control_config *cfg,
                control_handler_fn handler, void *opaque, struct control **out)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int idle = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 60000;
	int frame = cfg->frame_timeout_ms ? cfg->frame_timeout_ms : 10000;
	int rc;

	if (ctl == NULL)
		return -ENOMEM;
	ctl->base = base;
	ctl->handler = handler;
	ctl->opaque = opaque;
	ctl->max_clients = cfg->max_clients ? cfg->max_clients : 64;
	ctl->admin_slots = cfg->admin_slots ? cfg->admin_slots : 2;
	if (ctl->admin_slots >= ctl->max_clients)
		ctl->admin_slots = ctl->max_clients - 1;
	ctl->spare_fd = -1;
	ctl->accept_backoff_ms = CONTROL_ACCEPT_BACKOFF_MIN_MS;
	ctl->max_pending = cfg->max_pending ? cfg->max_pending : 8;
	ctl->max_output = cfg->max_output ? cfg->max_output : 16u * 1024 * 1024;
	ctl->idle_timeout = (struct timeval){idle / 1000, (idle % 1000) * 1000};
	ctl->write_timeout = (struct timeval){30, 0};
	ctl->frame_timeout = (struct timeval){frame / 1000, (frame % 1000) * 1000};
	TAILQ_INIT(&ctl->clients);
	rc = control_setup(ctl, cfg);
	if (rc < 0) {
		if (ctl->listener == NULL) {
			free(ctl->path); /* never ours to unlink */
			ctl->path = NULL;
		}
		control_free(ctl);
		return rc;
	}
	log_info("control: listening on %s", ctl->path);
	*out = ctl;
	return 0;
}

void control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	log_ratelimit_flush(&control_drop_rl);
	log_ratelimit_flush(&ctl->accept_rl);
	log_ratelimit_flush(&ctl->busy_rl);
	log_ratelimit_flush(&ctl->frame_rl);
	while (!TAILQ_EMPTY(&ctl->clients))
		control_client_close(TAILQ_FIRST(&ctl->clients));
	if (ctl->listener != NULL) {
		evconnlistener_free(ctl->listener);
		unlink(ctl->path);
	}
	if (ctl->accept_timer != NULL)
		event_free(ctl->accept_timer);
	if (ctl->spare_fd >= 0)
		close(ctl->spare_fd);
	free(ctl->path);
	free(ctl->admin_name);
	free(ctl);
}

size_t control_client_count(const struct control *ctl)
{
	return ctl->nclients;
}

void control_refusals(const struct control *ctl, uint64_t *busy, uint64_t *unauthorized)
{
	*busy = ctl->refused_busy;
	*unauthorized = ctl->refused_unauthorized;
}

const struct proto_request *control_request_proto(const struct control_request *req)
{
	return req->proto;
}

const struct control_peer *control_request_peer(const struct control_request *req)
{
	return &req->client->peer;
}

bool control_request_connected(const struct control_request *req)
{
	return req->client->ctl != NULL;
}

void control_request_on_close(struct control_request *req, control_close_fn fn, void *opaque)
{
	req->on_close = fn;
	req->on_close_opaque = opaque;
}

int control_reply_ok(struct control_request *req, struct json_object *data)
{
	int rc;

	req->on_close = NULL; /* ending it anyway: no call back into the agent */
	rc = control_client_send(req->client, proto_reply_ok(req->proto->id, data, false));

	if (rc == -EMSGSIZE)
		control_send_error(req->client, req->proto->id, PROTO_E_FAILED,
		                   "the reply exceeds the protocol's size cap; narrow the request");

	control_request_end(req);
	return rc;
}

int control_reply_more(struct control_request *req, struct json_object *data)
{
	control_close_fn on_close = req->on_close;
	int rc;

	/* If this send drops the client the caller learns it from rc, not a callback. */
	req->on_close = NULL;
	rc = control_client_send(req->client, proto_reply_ok(req->proto->id, data, true));
	req->on_close = on_close;

	if (rc == -EMSGSIZE)
		log_warn("control: skipped a streamed reply over the size cap");
	return rc;
}

int control_reply_error(struct control_request *req, const char *code, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int rc;

	req->on_close = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	rc = control_client_send(req->client,
	                         proto_reply_error(req->proto->id, code, msg ? msg : code));
	free(msg);
	control_request_end(req);
	return rc;
}
