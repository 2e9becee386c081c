/*
 * The blocking control-socket client (see client.h). Every wait goes
 * through poll() with the client's timeout, and every reply frame is checked
 * against PROTO_REPLY_MAX before a byte of its payload is stored.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "buildconf.h"
#include "err.h"

struct client {
	int fd;
	int timeout_ms;
	uint32_t next_id;
	char *path;
};

int client_connect(const char *path, int timeout_ms, struct client **out, char **err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct client *c;

	if (path == NULL)
		path = MEMPLUG_SOCKET;
	if (strlen(path) >= sizeof(sun.sun_path))
		return err_ret(err, -ENAMETOOLONG, "cannot reach memplugd at %s: path too long",
		               path);
	strcpy(sun.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		free(c);
		return err_ret(err, -ENOMEM, "out of memory");
	}
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int rc = -errno;

		err_set(err, "cannot reach memplugd at %s: %s%s", path, strerror(errno),
		        rc == -ENOENT || rc == -ECONNREFUSED ? " (is memplugd running?)" : "");
		client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void client_free(struct client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
}

void client_set_timeout(struct client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int client_fd(const struct client *c)
{
	return c->fd;
}

static int client_wait(struct client *c, short events, char **err)
{
	struct pollfd pfd = {.fd = c->fd, .events = events};
	int n;

	do
		n = poll(&pfd, 1, c->timeout_ms > 0 ? c->timeout_ms : -1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_ret(err, -errno, "poll on %s: %s", c->path, strerror(errno));
	if (n == 0)
		return err_ret(err, -ETIMEDOUT, "memplugd at %s did not answer within %d ms",
		               c->path, c->timeout_ms);
	return 0;
}

static int client_write_all(struct client *c, const char *buf, size_t len, char **err)
{
	while (len > 0) {
		ssize_t n;
		int rc = client_wait(c, POLLOUT, err);

		if (rc < 0)
			return rc;
		n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return err_ret(err, -errno, "cannot send to memplugd at %s: %s", c->path,
			               strerror(errno));
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

static int client_read_all(struct client *c, char *buf, size_t len, char **err)
{
	while (len > 0) {
		ssize_t n;
		int rc = client_wait(c, POLLIN, err);

		if (rc < 0)
			return rc;
		n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n == 0)
			return err_ret(err, -ECONNRESET, "memplugd at %s closed the connection",
			               c->path);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return err_ret(err, -errno, "cannot read from memplugd at %s: %s", c->path,
			               strerror(errno));
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

int client_send(struct client *c, const char *cmd, struct json_object *args, uint32_t *id,
                char **err)
{
	uint32_t rid = c->next_id++;
	struct json_object *msg = proto_request_build(rid, cmd, args);
	char *frame = NULL;
	size_t len;
	int rc;

	if (msg == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	rc = proto_frame_encode(msg, PROTO_REQUEST_MAX, &frame, &len, err);
	json_object_put(msg);
	if (rc == 0)
		rc = client_write_all(c, frame, len, err);
	free(frame);
	if (rc == 0 && id != NULL)
		*id = rid;
	return rc;
}

int client_recv(struct client *c, struct proto_reply **out, char **err)
{
	char hdr[PROTO_HEADER_LEN], *payload;
	size_t len = 0;
	int rc;

	rc = client_read_all(c, hdr, sizeof(hdr), err);
	if (rc < 0)
		return rc;
	rc = proto_frame_check(hdr, sizeof(hdr), PROTO_REPLY_MAX, &len, err);
	if (rc != -EAGAIN) /* a header alone is never a whole frame */
		return rc < 0 ? rc : -EBADMSG;
	payload = malloc(len);
	if (payload == NULL)
		return err_ret(err, -ENOMEM, "out of memory");
	rc = client_read_all(c, payload, len, err);
	if (rc == 0)
		rc = proto_reply_parse(payload, len, out, err);
	free(payload);
	return rc;
}

int client_call(struct client *c, const char *cmd, struct json_object *args,
                struct proto_reply **out, char **err)
{
	uint32_t id;
	int rc;

	rc = client_send(c, cmd, args, &id, err);
	while (rc == 0) {
		rc = client_recv(c, out, err);
		if (rc < 0 || (*out)->id == id || (*out)->id == 0)
			break;
		proto_reply_free(*out);
	}
	return rc;
}
