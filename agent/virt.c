/*
 * The libvirt connection: open with keepalive, watch for its loss through
 * libvirt's close callback, reconnect on a libevent timer with exponential
 * backoff, re-subscribe to the domain events on every connection and turn
 * each event into a struct backend_event for the agent. The wrappers at the
 * end are what operation workers call; they take a reference on the
 * current connection so a reconnect never frees one under them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "err.h"
#include "host.h"
#include "log.h"
#include "virt.h"

#define VIRT_BACKOFF_FIRST_MS 500u
#define VIRT_BACKOFF_MAX_MS   30000u
/* libvirt's keepalive: a probe every 5 s, closed after 3 unanswered. */
#define VIRT_KEEPALIVE_INTERVAL 5
#define VIRT_KEEPALIVE_COUNT    3

enum { VIRT_N_SUBS = 6 };

struct virt {
	struct event_base *base;
	struct virt_callbacks cbs;
	void *opaque;
	char *uri;

	/* lock guards conn, connected, reconnects, closing, reads: workers
	 * and libvirt's close callback touch them from other threads. */
	pthread_mutex_t lock;
	virConnectPtr conn;
	bool connected;
	bool closing; /* the close callback fired for conn */
	int close_reason;
	unsigned reconnects;
	struct virt_host_reads reads; /* host calls made, for tests */
	/* The host's topology as this connection's capabilities gave it: read
	 * once per connection (libvirt rebuilds capabilities on every call),
	 * dropped with the connection. */
	struct host *topo;
	unsigned conn_gen;
	char *conn_uri;  /* the URI of conn, for workers (v->uri is the loop's) */
	bool conn_local; /* conn's host is this machine */

	/* loop thread only */
	bool ever_connected;
	unsigned attempt;
	int sub_ids[VIRT_N_SUBS];
	struct event *retry_ev;
	struct event *closed_ev;
};

unsigned virt_backoff_ms(unsigned attempt)
{
	unsigned ms = VIRT_BACKOFF_FIRST_MS;

	while (attempt-- > 0 && ms < VIRT_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < VIRT_BACKOFF_MAX_MS ? ms : VIRT_BACKOFF_MAX_MS;
}

bool virt_uri_local(const char *uri)
{
	const char *sep = strstr(uri, "://");

	return sep && sep[3] == '/' && strncmp(uri, "test", 4) != 0;
}

/* ---- events ---- */

static void virt_deliver(struct virt *v, enum backend_event_kind kind, virDomainPtr dom,
                         struct backend_event *ev)
{
	ev->kind = kind;
	ev->name = virDomainGetName(dom);
	if (virDomainGetUUIDString(dom, ev->uuid) < 0)
		ev->uuid[0] = '\0';
	log_debug("virt: event %d on %s alias %s", kind, ev->name ? ev->name : "?",
	          ev->alias ? ev->alias : "-");
	if (v->cbs.domain_event && ev->name)
		v->cbs.domain_event(v->opaque, ev);
}

static void virt_on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                              void *opaque)
{
	struct backend_event ev = {.lifecycle = event, .detail = detail};

	virt_deliver(opaque, BACKEND_EVENT_LIFECYCLE, dom, &ev);
}

static void virt_on_device_added(virConnectPtr conn, virDomainPtr dom, const char *alias,
                                 void *opaque)
{
	struct backend_event ev = {.alias = alias};

	virt_deliver(opaque, BACKEND_EVENT_DEVICE_ADDED, dom, &ev);
}

static void virt_on_device_removed(virConnectPtr conn, virDomainPtr dom, const char *alias,
                                   void *opaque)
{
	struct backend_event ev = {.alias = alias};

	virt_deliver(opaque, BACKEND_EVENT_DEVICE_REMOVED, dom, &ev);
}

static void virt_on_removal_failed(virConnectPtr conn, virDomainPtr dom, const char *alias,
                                   void *opaque)
{
	struct backend_event ev = {.alias = alias};

	virt_deliver(opaque, BACKEND_EVENT_DEVICE_REMOVAL_FAILED, dom, &ev);
}

static void virt_on_balloon(virConnectPtr conn, virDomainPtr dom, unsigned long long actual,
                            void *opaque)
{
	struct backend_event ev = {.kib = actual};

	virt_deliver(opaque, BACKEND_EVENT_BALLOON_CHANGE, dom, &ev);
}

static void virt_on_memdev_size(virConnectPtr conn, virDomainPtr dom, const char *alias,
                                unsigned long long size, void *opaque)
{
	struct backend_event ev = {.alias = alias, .kib = size};

	virt_deliver(opaque, BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE, dom, &ev);
}

static const struct {
	int id;
	const char *name;
	virConnectDomainEventGenericCallback cb;
} virt_subs[VIRT_N_SUBS] = {
        {VIR_DOMAIN_EVENT_ID_LIFECYCLE, "lifecycle", VIR_DOMAIN_EVENT_CALLBACK(virt_on_lifecycle)},
        {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, "device-added",
         VIR_DOMAIN_EVENT_CALLBACK(virt_on_device_added)},
        {VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, "device-removed",
         VIR_DOMAIN_EVENT_CALLBACK(virt_on_device_removed)},
        {VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, "device-removal-failed",
         VIR_DOMAIN_EVENT_CALLBACK(virt_on_removal_failed)},
        {VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, "balloon-change",
         VIR_DOMAIN_EVENT_CALLBACK(virt_on_balloon)},
        {VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE, "memory-device-size-change",
         VIR_DOMAIN_EVENT_CALLBACK(virt_on_memdev_size)},
};

/* Errors are ignored: on a dead connection libvirt drops the local
 * registration and only the remote half fails. */
static void virt_unsubscribe(struct virt *v, virConnectPtr conn)
{
	for (size_t i = 0; i < VIRT_N_SUBS; i++) {
		if (v->sub_ids[i] >= 0)
			virConnectDomainEventDeregisterAny(conn, v->sub_ids[i]);
		v->sub_ids[i] = -1;
	}
}

static int virt_subscribe(struct virt *v, virConnectPtr conn)
{
	for (size_t i = 0; i < VIRT_N_SUBS; i++) {
		v->sub_ids[i] = virConnectDomainEventRegisterAny(conn, NULL, virt_subs[i].id,
		                                                 virt_subs[i].cb, v, NULL);
		if (v->sub_ids[i] < 0) {
			log_err("virt: cannot subscribe to %s events on %s: %s", virt_subs[i].name,
			        v->uri, virGetLastErrorMessage());
			virt_unsubscribe(v, conn);
			return -EIO;
		}
	}
	return 0;
}

/* ---- connection life ---- */

static const char *virt_close_reason(int reason)
{
	switch (reason) {
	case VIR_CONNECT_CLOSE_REASON_ERROR:
		return "I/O error";
	case VIR_CONNECT_CLOSE_REASON_EOF:
		return "end of file (libvirtd gone)";
	case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
		return "keepalive timeout";
	case VIR_CONNECT_CLOSE_REASON_CLIENT:
		return "closed by client";
	default:
		return "unknown reason";
	}
}

/* Any thread: libvirt calls this from whichever thread saw the loss. */
static void virt_close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct virt *v = opaque;

	pthread_mutex_lock(&v->lock);
	if (conn == v->conn) {
		v->connected = false;
		v->closing = true;
		v->close_reason = reason;
	}
	pthread_mutex_unlock(&v->lock);
	event_active(v->closed_ev, EV_TIMEOUT, 0);
}

/* Detaches the current connection and releases our reference; workers
 * still inside a call keep theirs. Says why through disconnected(). */
static void virt_drop(struct virt *v, const char *why)
{
	virConnectPtr conn;

	pthread_mutex_lock(&v->lock);
	conn = v->conn;
	v->conn = NULL;
	v->connected = false;
	v->closing = false;
	host_free(v->topo);
	v->topo = NULL;
	v->conn_gen++;
	pthread_mutex_unlock(&v->lock);
	if (!conn)
		return;
	virt_unsubscribe(v, conn);
	virConnectUnregisterCloseCallback(conn, virt_close_cb);
	virConnectClose(conn);
	if (why) {
		log_warn("virt: disconnected from %s: %s", v->uri, why);
		if (v->cbs.disconnected)
			v->cbs.disconnected(v->opaque, why);
	}
}

/* Listing the domains is a blocking call: the agent does it on a worker. */
static void virt_announce(struct virt *v, bool reconnect)
{
	log_info("virt: %s %s", reconnect ? "reconnected to" : "connected to", v->uri);
	if (v->cbs.connected)
		v->cbs.connected(v->opaque, reconnect);
}

/* Publishes a subscribed connection, then watches for its loss. The close
 * callback only acts on the published connection, so a loss between the
 * two steps is caught by the liveness check instead. */
static int virt_publish(struct virt *v, virConnectPtr conn, bool reconnect)
{
	pthread_mutex_lock(&v->lock);
	v->conn = conn;
	v->connected = true;
	/* With connected, in one step: a worker that sees the connection back
	 * also sees that it is a new one (ops.c's answer_lost). */
	if (reconnect)
		v->reconnects++;
	v->closing = false;
	host_free(v->topo);
	v->topo = NULL;
	v->conn_gen++;
	free(v->conn_uri);
	v->conn_uri = strdup(v->uri);
	v->conn_local = virt_uri_local(v->uri);
	pthread_mutex_unlock(&v->lock);
	if (virConnectRegisterCloseCallback(conn, virt_close_cb, v, NULL) < 0) {
		log_err("virt: cannot watch %s for loss: %s", v->uri, virGetLastErrorMessage());
		virt_drop(v, NULL);
		return -EIO;
	}
	if (virConnectIsAlive(conn) == 0)
		virt_close_cb(conn, VIR_CONNECT_CLOSE_REASON_EOF, v);
	return 0;
}

static int virt_connect(struct virt *v)
{
	virConnectPtr conn = virConnectOpen(v->uri);
	bool reconnect = v->ever_connected;

	if (!conn) {
		log_warn("virt: cannot connect to %s: %s", v->uri, virGetLastErrorMessage());
		return -ENOTCONN;
	}
	/* 1 means the driver needs none (local drivers such as test:///) */
	if (virConnectSetKeepAlive(conn, VIRT_KEEPALIVE_INTERVAL, VIRT_KEEPALIVE_COUNT) < 0)
		log_warn("virt: no keepalive on %s: %s", v->uri, virGetLastErrorMessage());
	if (virt_subscribe(v, conn) < 0) {
		virConnectClose(conn);
		return -EIO;
	}
	if (virt_publish(v, conn, reconnect) < 0)
		return -EIO;
	v->ever_connected = true;
	v->attempt = 0;
	virt_announce(v, reconnect);
	return 0;
}

static void virt_schedule_retry(struct virt *v)
{
	unsigned ms = virt_backoff_ms(v->attempt++);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	log_info("virt: retrying %s in %u ms", v->uri, ms);
	evtimer_add(v->retry_ev, &tv);
}

static void virt_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct virt *v = arg;

	if (virt_connect(v) < 0)
		virt_schedule_retry(v);
}

static void virt_closed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct virt *v = arg;
	bool closing;
	int reason;

	pthread_mutex_lock(&v->lock);
	closing = v->closing;
	reason = v->close_reason;
	pthread_mutex_unlock(&v->lock);
	if (!closing)
		return;
	virt_drop(v, virt_close_reason(reason));
	v->attempt = 0;
	virt_schedule_retry(v);
}

struct virt *virt_new(struct event_base *base, const char *uri, const struct virt_callbacks *cbs,
                      void *opaque)
{
	struct virt *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	pthread_mutex_init(&v->lock, NULL);
	v->base = base;
	if (cbs)
		v->cbs = *cbs;
	v->opaque = opaque;
	for (size_t i = 0; i < VIRT_N_SUBS; i++)
		v->sub_ids[i] = -1;
	v->uri = strdup(uri ? uri : VIRT_DEFAULT_URI);
	v->retry_ev = evtimer_new(base, virt_retry_cb, v);
	v->closed_ev = event_new(base, -1, 0, virt_closed_cb, v);
	if (!v->uri || !v->retry_ev || !v->closed_ev) {
		virt_free(v);
		return NULL;
	}
	return v;
}

void virt_free(struct virt *v)
{
	if (!v)
		return;
	if (v->retry_ev)
		event_free(v->retry_ev);
	virt_drop(v, NULL);
	if (v->closed_ev)
		event_free(v->closed_ev);
	host_free(v->topo);
	free(v->conn_uri);
	pthread_mutex_destroy(&v->lock);
	free(v->uri);
	free(v);
}

int virt_start(struct virt *v)
{
	int rc = virt_connect(v);

	if (rc < 0)
		virt_schedule_retry(v);
	return rc;
}

void virt_reconnect(struct virt *v)
{
	evtimer_del(v->retry_ev);
	virt_drop(v, "reconnect requested");
	v->attempt = 0;
	if (virt_connect(v) < 0)
		virt_schedule_retry(v);
}

int virt_set_uri(struct virt *v, const char *uri)
{
	char *copy;

	if (strcmp(uri, v->uri) == 0)
		return 0;
	copy = strdup(uri);
	if (!copy)
		return -ENOMEM;
	free(v->uri);
	v->uri = copy;
	virt_reconnect(v);
	return 0;
}

bool virt_connected(struct virt *v)
{
	bool connected;

	pthread_mutex_lock(&v->lock);
	connected = v->connected;
	pthread_mutex_unlock(&v->lock);
	return connected;
}

void virt_host_reads(struct virt *v, struct virt_host_reads *out)
{
	pthread_mutex_lock(&v->lock);
	*out = v->reads;
	pthread_mutex_unlock(&v->lock);
}

/* Counts one libvirt host call in v->reads. */
static void virt_count(struct virt *v, unsigned *counter)
{
	pthread_mutex_lock(&v->lock);
	(*counter)++;
	pthread_mutex_unlock(&v->lock);
}

unsigned virt_reconnects(struct virt *v)
{
	unsigned n;

	pthread_mutex_lock(&v->lock);
	n = v->reconnects;
	pthread_mutex_unlock(&v->lock);
	return n;
}

const char *virt_uri(struct virt *v)
{
	return v->uri;
}

/* ---- synchronous wrappers ---- */

/* Maps the calling thread's last libvirt error; read before any other
 * libvirt call resets it. */
static int virt_fail(char **err)
{
	virErrorPtr e = virGetLastError();
	int rc = -EIO;

	switch (e ? e->code : VIR_ERR_INTERNAL_ERROR) {
	case VIR_ERR_NO_DOMAIN:
	case VIR_ERR_NO_DOMAIN_METADATA:
		rc = -ENOENT;
		break;
	case VIR_ERR_NO_SUPPORT:
	case VIR_ERR_OPERATION_UNSUPPORTED:
	case VIR_ERR_ARGUMENT_UNSUPPORTED:
		rc = -ENOTSUP;
		break;
	case VIR_ERR_OPERATION_INVALID:
	case VIR_ERR_INVALID_ARG:
	case VIR_ERR_XML_ERROR:
	case VIR_ERR_XML_DETAIL:
	case VIR_ERR_CONFIG_UNSUPPORTED:
		rc = -EINVAL;
		break;
	default:
		break;
	}
	/* "End of file while reading data", "Cannot write data": the
	 * connection went while the call was out; its outcome is not known. */
	if (e && (e->domain == VIR_FROM_RPC || e->code == VIR_ERR_NO_CONNECT))
		rc = -ENOTCONN;
	err_set(err, "%s", virGetLastErrorMessage());
	return rc;
}

static virConnectPtr virt_conn_get(struct virt *v, char **err)
{
	virConnectPtr conn;

	pthread_mutex_lock(&v->lock);
	conn = v->connected ? v->conn : NULL;
	if (conn)
		virConnectRef(conn);
	pthread_mutex_unlock(&v->lock);
	if (!conn)
		err_set(err, "not connected to libvirt");
	return conn;
}

/* On success the caller owns a connection reference and a domain:
 * release both with virt_domain_put(). */
static int virt_domain_get(struct virt *v, const char *name, virConnectPtr *conn, virDomainPtr *dom,
                           char **err)
{
	int rc;

	*conn = virt_conn_get(v, err);
	if (!*conn)
		return -ENOTCONN;
	*dom = virDomainLookupByName(*conn, name);
	if (*dom)
		return 0;
	rc = virt_fail(err);
	virConnectClose(*conn);
	return rc;
}

static void virt_domain_put(virConnectPtr conn, virDomainPtr dom)
{
	virDomainFree(dom);
	virConnectClose(conn);
}

static unsigned virt_affect(unsigned flags)
{
	unsigned out = VIR_DOMAIN_AFFECT_CURRENT;

	if (flags & BACKEND_LIVE)
		out |= VIR_DOMAIN_AFFECT_LIVE;
	if (flags & BACKEND_CONFIG)
		out |= VIR_DOMAIN_AFFECT_CONFIG;
	return out;
}

static int virt_fill_info(virDomainPtr dom, struct backend_domain_info *info)
{
	const char *name = virDomainGetName(dom);

	info->name = name ? strdup(name) : NULL;
	if (!info->name)
		return -ENOMEM;
	if (virDomainGetUUIDString(dom, info->uuid) < 0)
		info->uuid[0] = '\0';
	info->active = virDomainIsActive(dom) == 1;
	info->id = info->active ? (int)virDomainGetID(dom) : -1;
	return 0;
}

int virt_list_domains(struct virt *v, struct backend_domain_list *out, char **err)
{
	virConnectPtr conn = virt_conn_get(v, err);
	virDomainPtr *doms = NULL;
	int n, rc = 0;

	*out = (struct backend_domain_list){0};
	if (!conn)
		return -ENOTCONN;
	n = virConnectListAllDomains(conn, &doms, 0);
	if (n < 0) {
		rc = virt_fail(err);
		goto out;
	}
	out->doms = calloc(n ? (size_t)n : 1, sizeof(*out->doms));
	for (int i = 0; i < n && out->doms && rc == 0; i++, out->n++)
		rc = virt_fill_info(doms[i], &out->doms[i]);
	if (!out->doms || rc < 0) {
		rc = err_ret(err, -ENOMEM, "out of memory listing domains");
		backend_domain_list_free(out);
	}
out:
	for (int i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	virConnectClose(conn);
	return rc;
}

int virt_domain_xml(struct virt *v, const char *name, unsigned flags, char **xml, char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	*xml = NULL;
	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	*xml = virDomainGetXMLDesc(dom,
	                           ((flags & BACKEND_INACTIVE) ? VIR_DOMAIN_XML_INACTIVE : 0) |
	                                   ((flags & BACKEND_SECURE) ? VIR_DOMAIN_XML_SECURE : 0));
	if (!*xml)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

int virt_domain_persistent(struct virt *v, const char *name, bool *persistent)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc, r;

	*persistent = false;
	rc = virt_domain_get(v, name, &conn, &dom, NULL);
	if (rc < 0)
		return rc;
	r = virDomainIsPersistent(dom);
	if (r < 0)
		rc = virt_fail(NULL);
	*persistent = r == 1;
	virt_domain_put(conn, dom);
	return rc;
}

int virt_attach(struct virt *v, const char *name, const char *xml, unsigned flags, char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	if (virDomainAttachDeviceFlags(dom, xml, virt_affect(flags)) < 0)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

int virt_define(struct virt *v, const char *xml, char **err)
{
	virConnectPtr conn = virt_conn_get(v, err);
	virDomainPtr dom;
	int rc = 0;

	if (conn == NULL)
		return -ENOTCONN;
	dom = virDomainDefineXML(conn, xml);
	if (dom == NULL)
		rc = virt_fail(err);
	else
		virDomainFree(dom);
	virConnectClose(conn);
	return rc;
}

int virt_detach_alias(struct virt *v, const char *name, const char *alias, unsigned flags,
                      char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	if (virDomainDetachDeviceAlias(dom, alias, virt_affect(flags)) < 0)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

int virt_set_metadata(struct virt *v, const char *name, const char *xml, const char *key,
                      const char *uri, unsigned flags, char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, key, uri,
	                         virt_affect(flags)) < 0)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

int virt_get_metadata(struct virt *v, const char *name, const char *uri, unsigned flags, char **xml,
                      char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	*xml = NULL;
	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	*xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, uri, virt_affect(flags));
	if (!*xml)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

static uint64_t virt_stat(virDomainStatsRecordPtr rec, const char *field)
{
	unsigned long long val;

	if (virTypedParamsGetULLong(rec->params, rec->nparams, field, &val) == 1)
		return val;
	return UINT64_MAX;
}

static int virt_balloon_fill(virDomainStatsRecordPtr rec, struct backend_balloon *b)
{
	const char *name = virDomainGetName(rec->dom);

	b->name = name ? strdup(name) : NULL;
	if (!b->name)
		return -ENOMEM;
	b->current = virt_stat(rec, "balloon.current");
	b->maximum = virt_stat(rec, "balloon.maximum");
	b->usable = virt_stat(rec, "balloon.usable");
	b->unused = virt_stat(rec, "balloon.unused");
	b->available = virt_stat(rec, "balloon.available");
	b->rss = virt_stat(rec, "balloon.rss");
	return 0;
}

int virt_balloon_stats(struct virt *v, struct backend_balloon_list *out, char **err)
{
	virConnectPtr conn = virt_conn_get(v, err);
	virDomainStatsRecordPtr *recs = NULL;
	int n, rc = 0;

	*out = (struct backend_balloon_list){0};
	if (!conn)
		return -ENOTCONN;
	n = virConnectGetAllDomainStats(conn, VIR_DOMAIN_STATS_BALLOON, &recs,
	                                VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
	if (n < 0) {
		rc = virt_fail(err);
		goto out;
	}
	out->doms = calloc(n ? (size_t)n : 1, sizeof(*out->doms));
	for (int i = 0; i < n && out->doms && rc == 0; i++, out->n++)
		rc = virt_balloon_fill(recs[i], &out->doms[i]);
	if (!out->doms || rc < 0) {
		rc = err_ret(err, -ENOMEM, "out of memory reading balloon stats");
		backend_balloon_list_free(out);
	}
out:
	virDomainStatsRecordListFree(recs);
	virConnectClose(conn);
	return rc;
}

int virt_set_balloon(struct virt *v, const char *name, uint64_t kib, char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	if (virDomainSetMemoryFlags(dom, (unsigned long)kib, VIR_DOMAIN_AFFECT_LIVE) < 0)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

int virt_set_stats_period(struct virt *v, const char *name, int seconds, char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	if (virDomainSetMemoryStatsPeriod(dom, seconds, VIR_DOMAIN_AFFECT_LIVE) < 0)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

int virt_update_device(struct virt *v, const char *name, const char *xml, unsigned flags,
                       char **err)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int rc;

	rc = virt_domain_get(v, name, &conn, &dom, err);
	if (rc < 0)
		return rc;
	if (virDomainUpdateDeviceFlags(dom, xml, virt_affect(flags)) < 0)
		rc = virt_fail(err);
	virt_domain_put(conn, dom);
	return rc;
}

/* ---- the host, as libvirt sees it ---- */

/* The cached topology's copy, or NULL with the connection's generation,
 * URI (caller frees) and whether it is this machine. */
static struct host *virt_topo_cached(struct virt *v, unsigned *gen, char **uri, bool *local)
{
	struct host *h;

	pthread_mutex_lock(&v->lock);
	h = v->topo ? host_dup(v->topo) : NULL;
	*gen = v->conn_gen;
	*uri = strdup(v->conn_uri ? v->conn_uri : "?");
	*local = v->conn_local;
	pthread_mutex_unlock(&v->lock);
	return h;
}

/* Adds what only this machine's kernel knows, the memory tiers, to a local
 * connection's host; a failure is a warning of the host. */
static void virt_topo_local(struct host *h)
{
	char *err = NULL;

	if (host_read_tiers(h, NULL, &err) < 0)
		host_warn(h, "memory tiers unknown: %s", err ? err : "cannot read them");
	free(err);
}

/* Keeps a copy unless the connection changed while it was read. */
static void virt_topo_keep(struct virt *v, const struct host *h, unsigned gen)
{
	pthread_mutex_lock(&v->lock);
	if (v->conn_gen == gen && v->topo == NULL)
		v->topo = host_dup(h);
	pthread_mutex_unlock(&v->lock);
}

int virt_host_topology(struct virt *v, struct host **out, char **err)
{
	virConnectPtr conn;
	struct host *h;
	char *caps, *uri;
	unsigned gen;
	bool local;
	int rc;

	if ((*out = virt_topo_cached(v, &gen, &uri, &local)) != NULL) {
		free(uri);
		return 0;
	}
	if ((conn = virt_conn_get(v, err)) == NULL) {
		free(uri);
		return -ENOTCONN;
	}
	virt_count(v, &v->reads.caps);
	caps = virConnectGetCapabilities(conn);
	rc = caps ? host_from_caps(caps, strlen(caps), &h, err) : virt_fail(err);
	free(caps);
	virConnectClose(conn);
	if (rc == 0) {
		h->source = HOST_SOURCE_LIBVIRT;
		if (local)
			virt_topo_local(h);
		for (char **w = h->warnings; w && *w; w++)
			log_warn("virt: %s: %s", uri, *w);
		log_info("virt: %s has %zu NUMA nodes", uri, h->n_nodes);
		virt_topo_keep(v, h, gen);
		*out = h;
	}
	free(uri);
	return rc;
}

/* Free hugepages of every pool of one node; a count the pool cannot hold
 * (libvirt's test driver) is reported and left unknown. */
static void virt_node_pages(struct virt *v, virConnectPtr conn, struct host *h, struct host_node *n)
{
	unsigned pages[HOST_MAX_POOLS];
	unsigned long long counts[HOST_MAX_POOLS];

	for (size_t i = 0; i < n->n_pools; i++)
		pages[i] = (unsigned)n->pools[i].page_kib;
	if (n->n_pools == 0)
		return;
	virt_count(v, &v->reads.free_pages);
	if (virNodeGetFreePages(conn, (unsigned)n->n_pools, pages, (int)n->id, 1, counts, 0) < 0) {
		host_warn(h, "node %u: free hugepages unknown: %s", n->id,
		          virGetLastErrorMessage());
		return;
	}
	for (size_t i = 0; i < n->n_pools; i++)
		if (host_node_set_pool_free(n, pages[i], counts[i]) < 0)
			host_warn(h, "node %u: %llu free %u KiB pages of %" PRIu64 ": left unknown",
			          n->id, counts[i], pages[i], n->pools[i].total);
}

int virt_host_free(struct virt *v, struct host *h, char **err)
{
	virConnectPtr conn = virt_conn_get(v, err);
	int rc = 0;

	if (conn == NULL)
		return -ENOTCONN;
	for (size_t i = 0; i < h->n_nodes && rc == 0; i++) {
		struct host_node *n = &h->nodes[i];
		unsigned long long bytes;

		virt_count(v, &v->reads.free_memory);
		if (virNodeGetCellsFreeMemory(conn, &bytes, (int)n->id, 1) != 1) {
			rc = virt_fail(err);
			break;
		}
		if (host_node_set_free(n, bytes / 1024) < 0)
			host_warn(h, "node %u: %llu KiB free of %" PRIu64 ": left unknown", n->id,
			          bytes / 1024, n->total_kib);
		virt_node_pages(v, conn, h, n);
	}
	virConnectClose(conn);
	return rc;
}

/* ---- the backend (backend.h) ---- */

static int vb_list_domains(void *ctx, struct backend_domain_list *out, char **err)
{
	return virt_list_domains(ctx, out, err);
}

static int vb_domain_xml(void *ctx, const char *name, unsigned flags, char **xml, char **err)
{
	return virt_domain_xml(ctx, name, flags, xml, err);
}

static int vb_persistent(void *ctx, const char *name, bool *persistent, char **err)
{
	return virt_domain_persistent(ctx, name, persistent);
}

static int vb_attach(void *ctx, const char *name, const char *xml, unsigned flags, char **err)
{
	return virt_attach(ctx, name, xml, flags, err);
}

static int vb_detach_alias(void *ctx, const char *name, const char *alias, unsigned flags,
                           char **err)
{
	return virt_detach_alias(ctx, name, alias, flags, err);
}

static int vb_update_device(void *ctx, const char *name, const char *xml, unsigned flags,
                            char **err)
{
	return virt_update_device(ctx, name, xml, flags, err);
}

static int vb_define(void *ctx, const char *xml, char **err)
{
	return virt_define(ctx, xml, err);
}

static int vb_set_balloon(void *ctx, const char *name, uint64_t kib, char **err)
{
	return virt_set_balloon(ctx, name, kib, err);
}

static int vb_set_stats_period(void *ctx, const char *name, int seconds, char **err)
{
	return virt_set_stats_period(ctx, name, seconds, err);
}

static int vb_balloon_stats(void *ctx, struct backend_balloon_list *out, char **err)
{
	return virt_balloon_stats(ctx, out, err);
}

static int vb_get_metadata(void *ctx, const char *name, const char *uri, unsigned flags, char **xml,
                           char **err)
{
	return virt_get_metadata(ctx, name, uri, flags, xml, err);
}

static int vb_set_metadata(void *ctx, const char *name, const char *xml, const char *key,
                           const char *uri, unsigned flags, char **err)
{
	return virt_set_metadata(ctx, name, xml, key, uri, flags, err);
}

static int vb_host_topology(void *ctx, struct host **out, char **err)
{
	return virt_host_topology(ctx, out, err);
}

static int vb_host_free(void *ctx, struct host *h, char **err)
{
	return virt_host_free(ctx, h, err);
}

static bool vb_connected(void *ctx)
{
	return virt_connected(ctx);
}

static unsigned vb_reconnects(void *ctx)
{
	return virt_reconnects(ctx);
}

static const char *vb_uri(void *ctx)
{
	return virt_uri(ctx);
}

static const struct backend_ops virt_backend_ops = {
        .list_domains = vb_list_domains,
        .domain_xml = vb_domain_xml,
        .persistent = vb_persistent,
        .attach = vb_attach,
        .detach_alias = vb_detach_alias,
        .update_device = vb_update_device,
        .define = vb_define,
        .set_balloon = vb_set_balloon,
        .set_stats_period = vb_set_stats_period,
        .balloon_stats = vb_balloon_stats,
        .get_metadata = vb_get_metadata,
        .set_metadata = vb_set_metadata,
        .host_topology = vb_host_topology,
        .host_free = vb_host_free,
        .connected = vb_connected,
        .reconnects = vb_reconnects,
        .uri = vb_uri,
};

void virt_backend(struct virt *v, struct backend *out)
{
	out->ops = &virt_backend_ops;
	out->ctx = v;
}
