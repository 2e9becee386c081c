/*
 * A hostile client for memplugd's control socket, for the e2e fuzz test:
 * sends COUNT frames (random lengths up to oversized, random bytes, broken
 * JSON, wrong versions, schema violations, truncated frames and headers,
 * valid requests) over many connections, some closed without reading and
 * some opened past the agent's client limit. Every reply frame the agent
 * sends back is checked with common/proto. It fails when a reply is
 * malformed, when a connection is neither answered nor closed within a few
 * seconds, or when the whole run exceeds its time bound.
 * Usage: fuzz-frames SOCKET COUNT SEED [SECONDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "proto.h"

#define FUZZ_CONN_TIMEOUT_MS 10000
#define FUZZ_FLOOD_CONNS     80 /* more than the agent's 64 clients */

enum fuzz_code {
	FC_OK,
	FC_BAD,
	FC_UNKNOWN,
	FC_NOT_FOUND,
	FC_BUSY,
	FC_UNAUTHORIZED,
	FC_FAILED,
	FC_REFUSED,
	FC_OTHER,
	FC_COUNT
};
static const char *const fuzz_code_names[FC_COUNT] = {"ok",        "bad_request", "unknown_command",
                                                      "not_found", "busy",        "unauthorized",
                                                      "failed",    "refused",     "other"};

struct fuzz_stats {
	unsigned long frames, conns, rude, replies[FC_COUNT];
	unsigned long bad_replies, hung;
};

static uint64_t fuzz_state;
static struct fuzz_stats stats;
static const char *sock_path;

static uint64_t fuzz_rand(void)
{
	/* xorshift64*: reproducible from the seed the test prints */
	fuzz_state ^= fuzz_state >> 12;
	fuzz_state ^= fuzz_state << 25;
	fuzz_state ^= fuzz_state >> 27;
	return fuzz_state * 2685821657736338717ULL;
}

static uint32_t fuzz_below(uint32_t n)
{
	return n ? (uint32_t)(fuzz_rand() % n) : 0;
}

static uint64_t fuzz_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put_header(GString *out, uint32_t len)
{
	unsigned char h[4] = {len >> 24, len >> 16, len >> 8, len};

	g_string_append_len(out, (const char *)h, 4);
}

static void put_random(GString *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g_string_append_c(out, (char)fuzz_below(256));
}

static void put_payload(GString *out, const char *json, size_t len)
{
	put_header(out, (uint32_t)len);
	g_string_append_len(out, json, (gssize)len);
}

/* A request the agent should answer; domains never name a real guest. */
static char *fuzz_valid_json(void)
{
	static const char *const cmds[] = {"status", "inspect", "plan",   "grow",
	                                   "policy", "log",     "fuzzcmd"};
	static const char *const args[] = {
	        "{}",
	        "{\"domain\":\"fuzz-%u\"}",
	        "{\"domain\":\"fuzz-%u\"}",
	        "{\"domain\":\"fuzz-%u\",\"size\":1}",
	        "{\"domain\":\"fuzz-%u\",\"action\":\"show\"}",
	        "{\"limit\":1}",
	        "{}",
	};
	unsigned k = fuzz_below(G_N_ELEMENTS(cmds));
	char *a = g_strdup(args[k]), *at = strstr(a, "%u"), *out;

	if (at != NULL) /* a fresh name each time, without a non-literal format */
		at[0] = '0' + (char)fuzz_below(10), at[1] = '0' + (char)fuzz_below(10);
	out = g_strdup_printf("{\"v\":1,\"id\":%u,\"cmd\":\"%s\",\"args\":%s}",
	                      (unsigned)fuzz_rand(), cmds[k], a);
	g_free(a);
	return out;
}

static const char *const broken_json[] = {
        "{",
        "}",
        "[]",
        "null",
        "\"v\"",
        "{\"v\":1,\"id\":1,\"cmd\":\"status\"",
        "{\"v\":1,\"id\":1,\"cmd\":\"status\"} {}",
        "{\"v\":1,\"id\":1,\"cmd\":\"status\",}",
        "{\"v\":NaN,\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":1,\"id\":Infinity,\"cmd\":\"status\"}",
        "{\"v\":1e999,\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":2,\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":0,\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":-1,\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":\"1\",\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":1.0,\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":null,\"id\":1,\"cmd\":\"status\"}",
        "{\"id\":1,\"cmd\":\"status\"}",
        "{\"v\":1,\"id\":4294967296,\"cmd\":\"status\"}",
        "{\"v\":1,\"id\":-1,\"cmd\":\"status\"}",
        "{\"v\":1,\"id\":\"1\",\"cmd\":\"status\"}",
        "{\"v\":1,\"id\":1,\"cmd\":7}",
        "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"extra\":1}",
        "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"args\":[]}",
        "{\"v\":1,\"id\":1,\"cmd\":\"status\",\"args\":{\"x\":1}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"inspect\",\"args\":{}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"inspect\",\"args\":{\"domain\":5}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"grow\",\"args\":{\"domain\":\"fuzz\",\"size\":-1}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"grow\",\"args\":{\"domain\":\"fuzz\",\"size\":1.5}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"grow\",\"args\":{\"domain\":\"fuzz\",\"size\":"
        "99999999999999999999}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"grow\",\"args\":{\"domain\":\"fuzz\",\"size\":1,"
        "\"live\":1}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"plan\",\"args\":{\"domain\":\"fuzz\",\"action\":\"x\"}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"policy\",\"args\":{\"domain\":\"fuzz\",\"action\":"
        "\"set\",\"settings\":[]}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"log\",\"args\":{\"follow\":\"yes\"}}",
        "{\"v\":1,\"id\":1,\"cmd\":\"status\\u0000\"}",
        "{\"v\":1,\"id\":1,\"cmd\":\"\xff\xfe\"}",
        "{'v':1,'id':1,'cmd':'status'}",
};

/* Deep nesting, a 5000-byte string, or a mutated valid request. */
static char *fuzz_broken_json(size_t *len)
{
	GString *s = g_string_new(NULL);
	char *valid;

	switch (fuzz_below(4)) {
	case 0:
		for (int i = 0; i < 40; i++)
			g_string_append(s, "{\"a\":");
		g_string_append(s, "1");
		for (int i = 0; i < 40; i++)
			g_string_append_c(s, '}');
		break;
	case 1:
		g_string_append(s, "{\"v\":1,\"id\":3,\"cmd\":\"inspect\",\"args\":{\"domain\":\"");
		for (int i = 0; i < 5000; i++)
			g_string_append_c(s, 'a');
		g_string_append(s, "\"}}");
		break;
	case 2:
		valid = fuzz_valid_json();
		g_string_append(s, valid);
		g_free(valid);
		for (unsigned i = 0, n = 1 + fuzz_below(4); i < n && s->len > 0; i++)
			s->str[fuzz_below((uint32_t)s->len)] = (char)fuzz_below(256);
		break;
	default:
		g_string_append(s, broken_json[fuzz_below(G_N_ELEMENTS(broken_json))]);
	}
	*len = s->len;
	return g_string_free(s, FALSE);
}

/* Appends one frame, well-formed or not; returns false when it ends the stream. */
static bool fuzz_frame(GString *out)
{
	static const uint32_t lens[] = {0, 1, 0xffffffffu, PROTO_REQUEST_MAX,
	                                PROTO_REQUEST_MAX + 1};
	uint32_t len;
	size_t n;
	char *p;

	switch (fuzz_below(8)) {
	case 0: /* a random or edge length, followed by some random bytes */
		len = fuzz_below(2) ? lens[fuzz_below(G_N_ELEMENTS(lens))] : (uint32_t)fuzz_rand();
		put_header(out, len);
		put_random(out, fuzz_below(2) ? fuzz_below(512) : PROTO_REQUEST_MAX + 8);
		return false;
	case 1: /* a valid length around random bytes */
		len = 1 + fuzz_below(4096);
		put_header(out, len);
		put_random(out, len);
		return true;
	case 2:
	case 3:
		p = fuzz_broken_json(&n);
		put_payload(out, p, n);
		g_free(p);
		return true;
	case 4: /* truncated: the header promises more than ever comes */
		len = 2 + fuzz_below(PROTO_REQUEST_MAX - 1);
		put_header(out, len);
		put_random(out, fuzz_below(len));
		return false;
	case 5: /* a truncated header */
		put_random(out, 1 + fuzz_below(3));
		return false;
	default:
		p = fuzz_valid_json();
		put_payload(out, p, strlen(p));
		g_free(p);
		return true;
	}
}

static int fuzz_connect(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "fuzz-frames: cannot connect to %s: %s\n", sock_path,
		        strerror(errno));
		exit(1);
	}
	/* connected blocking, so a full backlog waits instead of failing */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	stats.conns++;
	return fd;
}

static enum fuzz_code fuzz_code_of(const char *code)
{
	for (int i = FC_BAD; i < FC_OTHER; i++)
		if (strcmp(code, fuzz_code_names[i]) == 0)
			return (enum fuzz_code)i;
	return FC_OTHER;
}

/* Takes every whole reply frame out of in and checks it. */
static void fuzz_take_replies(GString *in)
{
	struct proto_reply *reply;
	char *err = NULL;
	size_t len;
	int rc;

	while ((rc = proto_frame_check(in->str, in->len, PROTO_REPLY_MAX, &len, &err)) == 0) {
		if (proto_reply_parse(in->str + PROTO_HEADER_LEN, len, &reply, &err) < 0) {
			fprintf(stderr, "fuzz-frames: malformed reply: %s\n", err);
			stats.bad_replies++;
		} else {
			enum fuzz_code fc = reply->ok ? FC_OK : fuzz_code_of(reply->code);

			if (fc == FC_OTHER && stats.replies[fc] < 3)
				fprintf(stderr, "fuzz-frames: reply code '%s': %s\n", reply->code,
				        reply->message);
			stats.replies[fc]++;
			proto_reply_free(reply);
		}
		g_clear_pointer(&err, free);
		g_string_erase(in, 0, (gssize)(PROTO_HEADER_LEN + len));
	}
	if (rc != -EAGAIN) {
		fprintf(stderr, "fuzz-frames: bad reply frame: %s\n", err);
		stats.bad_replies++;
		g_string_truncate(in, 0);
	}
	free(err);
}

/* One step of I/O; returns false once the agent closed the connection. */
static bool fuzz_pump(int fd, const GString *out, size_t *sent, GString *in, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN | (*sent < out->len ? POLLOUT : 0)};
	char buf[65536];
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return true;
	if ((pfd.revents & POLLOUT) && *sent < out->len) {
		n = send(fd, out->str + *sent, out->len - *sent, MSG_NOSIGNAL);
		if (n > 0)
			*sent += (size_t)n;
		else if (errno != EAGAIN)
			*sent = out->len; /* the agent hung up on us: stop sending */
		if (*sent == out->len)
			shutdown(fd, SHUT_WR);
	}
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0 && !(n < 0 && errno == EAGAIN))
			return false;
		if (n > 0)
			g_string_append_len(in, buf, n);
		fuzz_take_replies(in);
	}
	return true;
}

/* Sends out, then reads until the agent closes; rude clients just leave. */
static void fuzz_exchange(int fd, const GString *out, bool rude)
{
	uint64_t deadline = fuzz_now_ms() + FUZZ_CONN_TIMEOUT_MS;
	GString *in = g_string_new(NULL);
	size_t sent = 0;

	if (out->len == 0)
		shutdown(fd, SHUT_WR);
	while (fuzz_pump(fd, out, &sent, in, 100)) {
		if (rude && sent == out->len)
			break;
		if (fuzz_now_ms() > deadline) {
			fprintf(stderr, "fuzz-frames: connection %lu still open after %d ms\n",
			        stats.conns, FUZZ_CONN_TIMEOUT_MS);
			stats.hung++;
			break;
		}
	}
	stats.rude += rude;
	close(fd);
	g_string_free(in, TRUE);
}

static void fuzz_one_connection(void)
{
	GString *out = g_string_new(NULL);
	unsigned n = 1 + fuzz_below(8);

	for (unsigned i = 0; i < n; i++) {
		stats.frames++;
		if (!fuzz_frame(out))
			break;
	}
	fuzz_exchange(fuzz_connect(), out, fuzz_below(4) == 0);
	g_string_free(out, TRUE);
}

/* More simultaneous clients than the agent takes: the rest hear busy. */
static void fuzz_flood(void)
{
	int fds[FUZZ_FLOOD_CONNS];
	GString *out = g_string_new(NULL);
	char *p = g_strdup("{\"v\":1,\"id\":9,\"cmd\":\"status\"}");

	put_payload(out, p, strlen(p));
	for (int i = 0; i < FUZZ_FLOOD_CONNS; i++)
		fds[i] = fuzz_connect();
	for (int i = 0; i < FUZZ_FLOOD_CONNS; i++) {
		stats.frames++;
		fuzz_exchange(fds[i], out, false);
	}
	g_free(p);
	g_string_free(out, TRUE);
}

static void fuzz_report(unsigned long seed, uint64_t ms)
{
	printf("fuzz-frames: seed %lu: %lu frames over %lu connections (%lu left without "
	       "reading) in %" PRIu64 " ms; replies:",
	       seed, stats.frames, stats.conns, stats.rude, ms);
	for (int i = 0; i < FC_COUNT; i++)
		printf(" %s=%lu", fuzz_code_names[i], stats.replies[i]);
	printf("; malformed replies %lu, hung connections %lu\n", stats.bad_replies, stats.hung);
}

int main(int argc, char **argv)
{
	unsigned long count, seed, seconds;
	uint64_t start = fuzz_now_ms(), limit;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: fuzz-frames SOCKET COUNT SEED [SECONDS]\n");
		return 2;
	}
	sock_path = argv[1];
	count = strtoul(argv[2], NULL, 10);
	seed = strtoul(argv[3], NULL, 10);
	seconds = argc == 5 ? strtoul(argv[4], NULL, 10) : 300;
	fuzz_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	limit = start + seconds * 1000;
	while (stats.frames < count && fuzz_now_ms() < limit) {
		if (stats.conns % 500 == 499)
			fuzz_flood();
		else
			fuzz_one_connection();
	}
	fuzz_report(seed, fuzz_now_ms() - start);
	if (stats.frames < count) {
		fprintf(stderr, "fuzz-frames: only %lu of %lu frames in %lu s\n", stats.frames,
		        count, seconds);
		return 1;
	}
	/* Both kinds of answer must have come back, or the agent never parsed a thing. */
	if (stats.replies[FC_OK] == 0 || stats.replies[FC_BAD] == 0 || stats.replies[FC_BUSY] == 0)
		return 1;
	return stats.bad_replies || stats.hung ? 1 : 0;
}
