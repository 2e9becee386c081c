/*
 * The agent's figures for Prometheus: counters the other modules bump
 * (struct metrics_stats, owned by struct agent), and an HTTP endpoint on
 * the agent's loop (libevent's evhttp) that serves them with the views,
 * the last host read and the backend's state, in the text exposition
 * format 0.0.4 (common/expo.h). docs/metrics.md lists every series.
 *
 * Nothing here calls the backend: a scrape renders what the loop already
 * holds and what the workers last sampled (the policy tick's host read),
 * so a scrape never waits on libvirtd. The endpoint has no authentication:
 * bind it to loopback or a management network.
 *
 * Threads: the metrics_count_*() and metrics_note_host() calls take a
 * mutex and may run on any thread; every metrics_stats function accepts
 * NULL and then does nothing. metrics_new(), metrics_free() and
 * metrics_render() run on the loop thread.
 */
#ifndef MEMPLUG_METRICS_H
#define MEMPLUG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "host.h"

struct agent;
struct control;
struct ops;

/* The operation latency histogram's upper bounds, in seconds: a grow takes
 * tens of ms, a shrink waits for the guest up to detach_timeout (30 s). */
#define METRICS_LATENCY_BOUNDS                                                                     \
	{                                                                                          \
		0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120                      \
	}

struct metrics_stats;

/* NULL when out of memory. */
struct metrics_stats *metrics_stats_new(void);
void metrics_stats_free(struct metrics_stats *s);

/* An operation ended: kind "grow" / "shrink", result "ok" or its error
 * code ("refused", "pending", "failed", ...), seconds from its submission. */
void metrics_count_op(struct metrics_stats *s, const char *kind, const char *result,
                      double seconds);
/* The policy decided `action` (policy_action_name()) for one domain. */
void metrics_count_decision(struct metrics_stats *s, const char *action);
/* An audit record could not be written. */
void metrics_count_audit_error(struct metrics_stats *s);
/* Keeps a copy of the host a worker just read (free memory and pools);
 * NULL is ignored. */
void metrics_note_host(struct metrics_stats *s, const struct host *h);

/* Where the page's figures come from; control and ops may be NULL. */
struct metrics_sources {
	struct agent *agent;
	const struct control *control;
	struct ops *ops;
};

/* The whole exposition page; *text is malloc'd (caller frees). Loop thread. */
int metrics_render(const struct metrics_sources *src, char **text, size_t *len);

/* Room for a numeric address (INET6_ADDRSTRLEN). */
#define METRICS_ADDR_MAX 46

/*
 * Checks "ADDR:PORT": ADDR a numeric IPv4 address or an IPv6 address in
 * brackets ([::1]:9464), PORT 1-65535. Host names are refused: the agent
 * does not wait on DNS, and an operator should see which interface is
 * exposed. addr and port may be NULL (checking only).
 */
int metrics_listen_parse(const char *s, char addr[METRICS_ADDR_MAX], uint16_t *port, char **err);

struct metrics;

/* Listens on `listen` (checked by metrics_listen_parse()) on the agent's
 * loop. -errno with *err set when it cannot bind. */
int metrics_new(const struct metrics_sources *src, const char *listen, struct metrics **out,
                char **err);
/* Closes the socket. NULL is a no-op. */
void metrics_free(struct metrics *m);

#endif
