/*
 * Prometheus metrics (metrics.h): the counters, the page, the endpoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "agent.h"
#include "buildconf.h"
#include "control.h"
#include "domains.h"
#include "err.h"
#include "expo.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "policy.h"
#include "threadcheck.h"

/* Distinct operation kinds, (kind, result) pairs and policy actions kept:
 * well above what the agent has (grow, shrink; ok and a handful of error
 * codes; eight actions), so in practice none is left uncounted. */
#define METRICS_KINDS   8
#define METRICS_RESULTS 64
#define METRICS_ACTIONS 16
#define METRICS_NAME    24

struct op_kind_stats {
	char kind[METRICS_NAME];
	struct expo_hist latency;
};

struct op_result_stats {
	char kind[METRICS_NAME];
	char result[METRICS_NAME];
	uint64_t count;
};

struct metrics_stats {
	pthread_mutex_t lock;
	size_t n_kinds, n_results, n_actions;
	struct op_kind_stats kinds[METRICS_KINDS];
	struct op_result_stats results[METRICS_RESULTS];
	struct {
		const char *action; /* policy_action_name(): static */
		uint64_t count;
	} actions[METRICS_ACTIONS];
	uint64_t audit_errors;
	struct host *host;
	time_t host_at;
};

/* ---- counters ---- */

static struct op_kind_stats *stats_kind(struct metrics_stats *s, const char *kind)
{
	static const double bounds[] = METRICS_LATENCY_BOUNDS;
	struct op_kind_stats *k;

	for (size_t i = 0; i < s->n_kinds; i++)
		if (strcmp(s->kinds[i].kind, kind) == 0)
			return &s->kinds[i];
	if (s->n_kinds == METRICS_KINDS)
		return NULL;
	k = &s->kinds[s->n_kinds++];
	snprintf(k->kind, sizeof(k->kind), "%s", kind);
	expo_hist_init(&k->latency, bounds, sizeof(bounds) / sizeof(bounds[0]));
	return k;
}

static struct op_result_stats *stats_result(struct metrics_stats *s, const char *kind,
                                            const char *result)
{
	struct op_result_stats *r;

	for (size_t i = 0; i < s->n_results; i++)
		if (strcmp(s->results[i].kind, kind) == 0 &&
		    strcmp(s->results[i].result, result) == 0)
			return &s->results[i];
	if (s->n_results == METRICS_RESULTS)
		return NULL;
	r = &s->results[s->n_results++];
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	snprintf(r->result, sizeof(r->result), "%s", result);
	return r;
}

static uint64_t *stats_action(struct metrics_stats *s, const char *action)
{
	for (size_t i = 0; i < s->n_actions; i++)
		if (strcmp(s->actions[i].action, action) == 0)
			return &s->actions[i].count;
	if (s->n_actions == METRICS_ACTIONS)
		return NULL;
	s->actions[s->n_actions].action = action;
	return &s->actions[s->n_actions++].count;
}

struct metrics_stats *metrics_stats_new(void)
{
	static const char *const kinds[] = {"grow", "shrink"};
	static const char *const results[] = {"ok", "refused", "pending", "failed", "unknown"};
	struct metrics_stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	/* Every series a scrape may show exists from the start, at 0, so a
	 * rate() over the first operation is right. */
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		stats_kind(s, kinds[k]);
		for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++)
			stats_result(s, kinds[k], results[r]);
	}
	for (int a = POLICY_NONE; a <= POLICY_UNMANAGEABLE; a++)
		stats_action(s, policy_action_name((enum policy_action)a));
	return s;
}

void metrics_stats_free(struct metrics_stats *s)
{
	if (s == NULL)
		return;
	host_free(s->host);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void metrics_count_op(struct metrics_stats *s, const char *kind, const char *result, double seconds)
{
	struct op_kind_stats *k;
	struct op_result_stats *r;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if ((k = stats_kind(s, kind)) != NULL)
		expo_hist_observe(&k->latency, seconds);
	if ((r = stats_result(s, kind, result)) != NULL)
		r->count++;
	pthread_mutex_unlock(&s->lock);
}

void metrics_count_decision(struct metrics_stats *s, const char *action)
{
	uint64_t *n;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if ((n = stats_action(s, action)) != NULL)
		(*n)++;
	pthread_mutex_unlock(&s->lock);
}

void metrics_count_audit_error(struct metrics_stats *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->audit_errors++;
	pthread_mutex_unlock(&s->lock);
}

void metrics_note_host(struct metrics_stats *s, const struct host *h)
{
	struct host *copy, *old;

	if (s == NULL || h == NULL || (copy = host_dup(h)) == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	old = s->host;
	s->host = copy;
	s->host_at = time(NULL);
	pthread_mutex_unlock(&s->lock);
	host_free(old);
}

/* ---- the page ---- */

#define LABELS(...)                                                                                \
	(const struct expo_label[]){__VA_ARGS__},                                                  \
	        sizeof((const struct expo_label[]){__VA_ARGS__}) / sizeof(struct expo_label)

static void render_basics(FILE *f, const struct metrics_sources *src)
{
	const struct backend *b = agent_backend(src->agent);

	expo_family(f, "memplug_build_info", "gauge", "memplugd's version; always 1.");
	expo_sample(f, "memplug_build_info", LABELS({"version", MEMPLUG_VERSION}), 1);
	expo_family(f, "memplug_start_time_seconds", "gauge",
	            "When memplugd started, in seconds since the epoch.");
	expo_sample(f, "memplug_start_time_seconds", NULL, 0, (double)agent_started(src->agent));
	expo_family(f, "memplug_libvirt_connected", "gauge",
	            "1 while the agent holds a libvirt connection, else 0.");
	expo_sample(f, "memplug_libvirt_connected", NULL, 0, backend_connected(b) ? 1 : 0);
	expo_family(f, "memplug_libvirt_reconnects_total", "counter",
	            "Successful reconnections to libvirt since the start.");
	expo_sample(f, "memplug_libvirt_reconnects_total", NULL, 0, backend_reconnects(b));
	if (src->ops) {
		expo_family(f, "memplug_operations_running", "gauge",
		            "Grow and shrink operations running now (one per domain at most).");
		expo_sample(f, "memplug_operations_running", NULL, 0, ops_running_count(src->ops));
		expo_family(f, "memplug_detaches_pending", "gauge",
		            "Detaches that timed out and whose guest answer is still due.");
		expo_sample(f, "memplug_detaches_pending", NULL, 0, ops_pending_detaches(src->ops));
	}
}

static void render_control(FILE *f, const struct control *ctl)
{
	uint64_t busy, unauthorized;

	if (ctl == NULL)
		return;
	control_refusals(ctl, &busy, &unauthorized);
	expo_family(f, "memplug_control_clients", "gauge",
	            "Clients connected to the control socket.");
	expo_sample(f, "memplug_control_clients", NULL, 0, (double)control_client_count(ctl));
	expo_family(f, "memplug_control_refused_total", "counter",
	            "Control clients refused: busy (no free place) or unauthorized (a change "
	            "asked by a non-administrator).");
	expo_sample(f, "memplug_control_refused_total", LABELS({"reason", "busy"}), (double)busy);
	expo_sample(f, "memplug_control_refused_total", LABELS({"reason", "unauthorized"}),
	            (double)unauthorized);
}

/* Under s->lock. */
static void render_stats(FILE *f, const struct metrics_stats *s)
{
	expo_family(f, "memplug_operations_total", "counter",
	            "Grow and shrink operations ended, by kind and result (ok or the error code).");
	for (size_t i = 0; i < s->n_results; i++)
		expo_sample(f, "memplug_operations_total",
		            LABELS({"kind", s->results[i].kind}, {"result", s->results[i].result}),
		            (double)s->results[i].count);
	expo_family(f, "memplug_operation_duration_seconds", "histogram",
	            "Time from an operation's submission to its end, queueing included.");
	for (size_t i = 0; i < s->n_kinds; i++)
		expo_hist_write(f, "memplug_operation_duration_seconds",
		                LABELS({"kind", s->kinds[i].kind}), &s->kinds[i].latency);
	expo_family(f, "memplug_policy_decisions_total", "counter",
	            "Auto-balloon decisions, one per enabled domain per policy tick, by action.");
	for (size_t i = 0; i < s->n_actions; i++)
		expo_sample(f, "memplug_policy_decisions_total",
		            LABELS({"action", s->actions[i].action}), (double)s->actions[i].count);
	expo_family(f, "memplug_audit_write_errors_total", "counter",
	            "Audit records that could not be written.");
	expo_sample(f, "memplug_audit_write_errors_total", NULL, 0, (double)s->audit_errors);
}

static void render_pools(FILE *f, const struct host *h, bool free_pages)
{
	const char *name =
	        free_pages ? "memplug_host_hugepages_free" : "memplug_host_hugepages_total";
	char node[16], size[32];

	for (size_t i = 0; i < h->n_nodes; i++) {
		snprintf(node, sizeof(node), "%u", h->nodes[i].id);
		for (size_t k = 0; k < h->nodes[i].n_pools; k++) {
			const struct host_pool *p = &h->nodes[i].pools[k];

			if (free_pages && !p->free_known)
				continue;
			snprintf(size, sizeof(size), "%llukB", (unsigned long long)p->page_kib);
			expo_sample(f, name, LABELS({"node", node}, {"page_size", size}),
			            (double)(free_pages ? p->free : p->total));
		}
	}
}

/* Under s->lock. Values the host did not give (free_known false) are left
 * out rather than shown as 0. */
static void render_host(FILE *f, const struct metrics_stats *s)
{
	const struct host *h = s->host;
	char node[16];

	if (h == NULL)
		return;
	expo_family(f, "memplug_host_sample_timestamp_seconds", "gauge",
	            "When the host figures below were read (the policy tick's host read).");
	expo_sample(f, "memplug_host_sample_timestamp_seconds", NULL, 0, (double)s->host_at);
	expo_family(f, "memplug_host_memory_total_bytes", "gauge", "Memory of each host node.");
	for (size_t i = 0; i < h->n_nodes; i++) {
		snprintf(node, sizeof(node), "%u", h->nodes[i].id);
		expo_sample(f, "memplug_host_memory_total_bytes", LABELS({"node", node}),
		            (double)h->nodes[i].total_kib * 1024);
	}
	expo_family(f, "memplug_host_memory_free_bytes", "gauge",
	            "Free memory of each host node, as last read.");
	for (size_t i = 0; i < h->n_nodes; i++) {
		snprintf(node, sizeof(node), "%u", h->nodes[i].id);
		if (h->nodes[i].free_known)
			expo_sample(f, "memplug_host_memory_free_bytes", LABELS({"node", node}),
			            (double)h->nodes[i].free_kib * 1024);
	}
	expo_family(f, "memplug_host_hugepages_total", "gauge",
	            "Hugepages in each host node's pool, by page size.");
	render_pools(f, h, false);
	expo_family(f, "memplug_host_hugepages_free", "gauge",
	            "Free hugepages in each host node's pool, by page size, as last read.");
	render_pools(f, h, true);
}

/* The device models a domain's series name: dimm always (so a domain
 * shrunk to nothing still shows 0), the others when the domain has them. */
static bool domain_shows_model(const struct domain *dom, enum memdev_model model)
{
	if (model == MEMDEV_DIMM)
		return true;
	for (size_t i = 0; i < dom->n_memdevs; i++)
		if (dom->memdevs[i].model == model)
			return true;
	return false;
}

/* What a device gives its guest node now: a DIMM its size, a virtio-mem
 * device what the guest has plugged (<current>), not its maximum. */
static uint64_t memdev_plugged_kib(const struct domain_memdev *m)
{
	return m->model == MEMDEV_VIRTIO_MEM ? m->current_kib : m->size_kib;
}

/* Devices with no <target><node> count under guest_node "none". */
static void render_domain_devices(FILE *f, const char *name, const struct domain *dom, bool bytes)
{
	static const enum memdev_model models[] = {MEMDEV_DIMM, MEMDEV_NVDIMM, MEMDEV_VIRTIO_MEM};
	const char *family =
	        bytes ? "memplug_domain_plugged_bytes" : "memplug_domain_memory_devices";
	char node[16];

	for (int cell = -1; cell < (int)dom->n_cells; cell++) {
		for (size_t k = 0; k < sizeof(models) / sizeof(models[0]); k++) {
			double v = 0;
			bool any = false;

			for (size_t i = 0; i < dom->n_memdevs; i++) {
				const struct domain_memdev *m = &dom->memdevs[i];

				if (m->model != models[k] || m->target_node != cell)
					continue;
				any = true;
				v += bytes ? (double)memdev_plugged_kib(m) * 1024 : 1;
			}
			/* cell -1 ("none") only when a device has no node */
			if ((cell < 0 && !any) || !domain_shows_model(dom, models[k]))
				continue;
			if (cell < 0)
				snprintf(node, sizeof(node), "none");
			else
				snprintf(node, sizeof(node), "%d", cell);
			expo_sample(f, family,
			            LABELS({"domain", name}, {"guest_node", node},
			                   {"model", memdev_model_name(models[k])}),
			            v);
		}
	}
}

static void render_domains(FILE *f, struct domains *ds)
{
	char node[16];
	size_t n = 0;

	for (struct domain_view *d = domains_first(ds); d; d = d->next)
		n++;
	expo_family(f, "memplug_domains", "gauge",
	            "Domains libvirt defines, as the agent sees them.");
	expo_sample(f, "memplug_domains", NULL, 0, (double)n);
	expo_family(f, "memplug_domain_active", "gauge", "1 while the domain runs, else 0.");
	for (struct domain_view *d = domains_first(ds); d; d = d->next)
		expo_sample(f, "memplug_domain_active", LABELS({"domain", d->name}), d->active);
	expo_family(f, "memplug_domain_boot_memory_bytes", "gauge",
	            "Memory each guest node boots with (its <cell memory>), without devices.");
	for (struct domain_view *d = domains_first(ds); d; d = d->next) {
		for (size_t c = 0; d->model && c < d->model->n_cells; c++) {
			snprintf(node, sizeof(node), "%u", d->model->cells[c].id);
			expo_sample(f, "memplug_domain_boot_memory_bytes",
			            LABELS({"domain", d->name}, {"guest_node", node}),
			            (double)d->model->cells[c].memory_kib * 1024);
		}
	}
	expo_family(f, "memplug_domain_plugged_bytes", "gauge",
	            "Memory plugged into each guest node by hotplug devices, by device model "
	            "(dimm: device sizes; virtio-mem: the plugged <current> size).");
	for (struct domain_view *d = domains_first(ds); d; d = d->next)
		if (d->model)
			render_domain_devices(f, d->name, d->model, true);
	expo_family(f, "memplug_domain_memory_devices", "gauge",
	            "Hotplug memory devices on each guest node, by device model.");
	for (struct domain_view *d = domains_first(ds); d; d = d->next)
		if (d->model)
			render_domain_devices(f, d->name, d->model, false);
}

int metrics_render(const struct metrics_sources *src, char **text, size_t *len)
{
	struct metrics_stats *s = agent_metrics(src->agent);
	FILE *f;
	int rc;

	assert_loop_thread();
	*text = NULL;
	*len = 0;
	if ((f = open_memstream(text, len)) == NULL)
		return -errno;
	render_basics(f, src);
	render_control(f, src->control);
	render_domains(f, agent_domains(src->agent));
	if (s) {
		pthread_mutex_lock(&s->lock);
		render_stats(f, s);
		render_host(f, s);
		pthread_mutex_unlock(&s->lock);
	}
	rc = ferror(f) ? -ENOMEM : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

/* ---- the address ---- */

int metrics_listen_parse(const char *s, char addr[METRICS_ADDR_MAX], uint16_t *port, char **err)
{
	const char *colon = strrchr(s, ':');
	char host[METRICS_ADDR_MAX], *end;
	unsigned char bin[sizeof(struct in6_addr)];
	size_t hlen;
	unsigned long p;
	int family = AF_INET;

	if (colon == NULL)
		return err_ret(err, -EINVAL, "'%s' is not ADDR:PORT (e.g. 127.0.0.1:9464)", s);
	if (s[0] == '[') { /* [v6]:port */
		if (colon == s || colon[-1] != ']')
			return err_ret(err, -EINVAL,
			               "'%s': an IPv6 address goes in brackets, "
			               "e.g. [::1]:9464",
			               s);
		s++;
		hlen = (size_t)(colon - 1 - s);
		family = AF_INET6;
	} else {
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return err_ret(err, -EINVAL,
			               "'%s': an IPv6 address goes in brackets, "
			               "e.g. [::1]:9464",
			               s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return err_ret(err, -EINVAL, "'%.*s' is not a numeric IP address", (int)hlen, s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, bin) != 1)
		return err_ret(err, -EINVAL,
		               "'%s' is not a numeric IP%s address (host names are not looked up: "
		               "write e.g. 127.0.0.1 or [::1])",
		               host, family == AF_INET6 ? "v6" : "v4");
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || p == 0 || p > 65535)
		return err_ret(err, -EINVAL, "'%s' is not a port from 1 to 65535", colon + 1);
	if (addr)
		memcpy(addr, host, hlen + 1);
	if (port)
		*port = (uint16_t)p;
	return 0;
}

/* ---- the endpoint ---- */

struct metrics {
	struct metrics_sources src;
	struct evhttp *http;
};

static void metrics_reply_text(struct evhttp_request *req, int code, const char *reason,
                               const char *type, const char *text, size_t len)
{
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	if (body)
		evbuffer_add(body, text, len);
	evhttp_send_reply(req, code, reason, body);
	if (body)
		evbuffer_free(body);
}

static void metrics_page_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	char *text = NULL;
	size_t len = 0;

	assert_loop_thread();
	if (metrics_render(&m->src, &text, &len) < 0) {
		static const char oom[] = "out of memory\n";

		metrics_reply_text(req, 500, "Internal Server Error", "text/plain", oom,
		                   sizeof(oom) - 1);
		return;
	}
	metrics_reply_text(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

static void metrics_other_cb(struct evhttp_request *req, void *arg)
{
	static const char hint[] = "memplugd serves Prometheus metrics at /metrics\n";

	metrics_reply_text(req, 404, "Not Found", "text/plain", hint, sizeof(hint) - 1);
}

int metrics_new(const struct metrics_sources *src, const char *listen, struct metrics **out,
                char **err)
{
	struct metrics *m = calloc(1, sizeof(*m));
	char addr[METRICS_ADDR_MAX];
	uint16_t port;
	int rc;

	assert_loop_thread();
	if (m == NULL)
		return -ENOMEM;
	m->src = *src;
	if ((rc = metrics_listen_parse(listen, addr, &port, err)) < 0)
		goto fail;
	if ((m->http = evhttp_new(evloop_base(agent_loop(src->agent)))) == NULL) {
		rc = err_ret(err, -ENOMEM, "out of memory");
		goto fail;
	}
	/* A scraper sends one small GET; anything bigger or slower is not one. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 1024);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_cb(m->http, "/metrics", metrics_page_cb, m);
	evhttp_set_gencb(m->http, metrics_other_cb, m);
	if (evhttp_bind_socket_with_handle(m->http, addr, port) == NULL) {
		rc = err_ret(err, errno ? -errno : -EADDRNOTAVAIL, "cannot listen on %s: %s",
		             listen, errno ? strerror(errno) : "bind failed");
		goto fail;
	}
	log_info("metrics: serving http://%s/metrics (no authentication: keep it on loopback or "
	         "a management network)",
	         listen);
	*out = m;
	return 0;
fail:
	metrics_free(m);
	return rc;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->http)
		evhttp_free(m->http);
	free(m);
}
