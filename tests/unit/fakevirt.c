/*
 * The fake libvirt of fakevirt.h. The DIMM lists are the truth; the XML is
 * regenerated from them on every read, and attached device XML is parsed
 * with libxml2, as libvirt would.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fakevirt.h"
#include "threadcheck.h"

struct fake_event {
	struct fakevirt *fv;
	enum backend_event_kind kind;
	char alias[FAKE_ALIAS_MAX];
	uint64_t kib;
};

static void fake_cells_xml(GString *s, const struct fake_spec *sp)
{
	unsigned per = sp->vcpus ? sp->vcpus / sp->n_cells : 1;

	g_string_append(s, "<cpu><numa>");
	for (unsigned i = 0; i < sp->n_cells; i++)
		g_string_append_printf(
		        s, "<cell id='%u' cpus='%u-%u' memory='%" PRIu64 "' unit='KiB'/>", i,
		        i * per, i * per + per - 1, sp->cell_mib[i] * 1024);
	g_string_append(s, "</numa></cpu>");
}

static void fake_backing_xml(GString *s, const struct fake_spec *sp)
{
	if (sp->huge_cell >= 0)
		g_string_append_printf(s,
		                       "<memoryBacking><hugepages><page size='%" PRIu64
		                       "' unit='KiB' nodeset='%d'/></hugepages></memoryBacking>",
		                       sp->huge_kib, sp->huge_cell);
	if (sp->host_node < 0)
		return;
	g_string_append_printf(s, "<numatune><memory mode='strict' nodeset='%d'/>", sp->host_node);
	for (unsigned i = 0; i < sp->n_cells; i++)
		g_string_append_printf(s, "<memnode cellid='%u' mode='strict' nodeset='%d'/>", i,
		                       sp->host_node);
	g_string_append(s, "</numatune>");
}

/* virtio-mem devices as libvirt shows them: live with alias and current. */
static void fake_vmem_xml(GString *s, const struct fakevirt *fv, bool live)
{
	const struct fake_vmem *v = live ? fv->vmem_live : fv->vmem_config;

	for (size_t i = 0; i < fv->spec.n_vmem; i++) {
		g_string_append_printf(
		        s,
		        "<memory model='virtio-mem'><target><size unit='KiB'>%" PRIu64
		        "</size><node>%u</node><block unit='KiB'>2048</block>"
		        "<requested unit='KiB'>%" PRIu64 "</requested>",
		        v[i].size_kib, v[i].node, v[i].requested_kib);
		if (live)
			g_string_append_printf(s,
			                       "<current unit='KiB'>%" PRIu64 "</current></target>"
			                       "<alias name='virtiomem%zu'/></memory>",
			                       v[i].current_kib, i);
		else
			g_string_append(s, "</target></memory>");
	}
}

static char *fake_render(const struct fakevirt *fv, const struct fake_dev *devs, size_t n,
                         bool live)
{
	const struct fake_spec *sp = &fv->spec;
	GString *s = g_string_new(NULL);
	uint64_t mem = 0;

	for (unsigned i = 0; i < sp->n_cells; i++)
		mem += sp->cell_mib[i] * 1024;
	for (size_t i = 0; i < n; i++)
		mem += devs[i].size_kib;
	for (size_t i = 0; i < sp->n_vmem; i++)
		mem += sp->vmem[i].size_kib;
	g_string_append_printf(s, "<domain type='kvm'%s><name>%s</name>", live ? " id='1'" : "",
	                       fv->name);
	if (sp->max_mib)
		g_string_append_printf(s,
		                       "<maxMemory slots='%u' unit='KiB'>%" PRIu64 "</maxMemory>",
		                       sp->slots, sp->max_mib * 1024);
	g_string_append_printf(s,
	                       "<memory unit='KiB'>%" PRIu64 "</memory>"
	                       "<currentMemory unit='KiB'>%" PRIu64 "</currentMemory>",
	                       mem, mem);
	fake_backing_xml(s, sp);
	g_string_append_printf(s, "<vcpu>%u</vcpu><os><type arch='x86_64'>hvm</type></os>",
	                       sp->vcpus ? sp->vcpus : sp->n_cells);
	fake_cells_xml(s, sp);
	g_string_append(s, "<devices>");
	for (size_t i = 0; i < n; i++)
		g_string_append_printf(s,
		                       "<memory model='dimm'><target><size unit='KiB'>%" PRIu64
		                       "</size><node>%u</node></target><alias name='%s'/>"
		                       "<address type='dimm' slot='%u'/></memory>",
		                       devs[i].size_kib, devs[i].node, devs[i].alias, devs[i].slot);
	fake_vmem_xml(s, fv, live);
	g_string_append(s, "</devices></domain>");
	return g_string_free(s, FALSE);
}

char *fakevirt_xml(struct fakevirt *fv, bool inactive)
{
	bool config = inactive || !fv->active;
	char *xml, *copy;

	pthread_mutex_lock(&fv->lock);
	xml = config ? fake_render(fv, fv->config, fv->n_config, false)
	             : fake_render(fv, fv->live, fv->n_live, true);
	pthread_mutex_unlock(&fv->lock);
	copy = strdup(xml); /* malloc'd, as virt_domain_xml() returns */
	g_free(xml);
	return copy;
}

/* Every call counts by kind; a blocking call on the loop thread is noted
 * (the thread checks abort first when they are compiled in). */
static void fake_count(struct fakevirt *fv, enum fake_call_kind kind)
{
	pthread_mutex_lock(&fv->lock);
	fv->n_kind[kind]++;
	fv->loop_calls += threadcheck_on_loop();
	pthread_mutex_unlock(&fv->lock);
}

/* libvirt is away after a lost update call: this read fails; the last
 * failing one brings it back. */
static bool fake_down(struct fakevirt *fv)
{
	bool down;

	pthread_mutex_lock(&fv->lock);
	down = fv->down_reads > 0;
	if (down && fv->down_reads != UINT_MAX)
		fv->down_reads--;
	fv->connected = fv->down_reads == 0;
	pthread_mutex_unlock(&fv->lock);
	return down;
}

static int fake_domain_xml(void *ctx, const char *name, unsigned flags, char **xml, char **err)
{
	struct fakevirt *fv = ctx;

	fake_count(fv, FAKE_XML);
	if (fake_down(fv)) {
		*err = strdup("no connection to libvirt");
		return -ENOTCONN;
	}
	if (fv->xml_fails) {
		*err = strdup("the fake's XML read failed");
		return -EIO;
	}
	if (strcmp(name, fv->name) != 0) {
		*err = strdup("no such domain");
		return -ENOENT;
	}
	*xml = fakevirt_xml(fv, flags & BACKEND_INACTIVE);
	return 0;
}

static int fake_persistent(void *ctx, const char *name, bool *persistent, char **err)
{
	struct fakevirt *fv = ctx;
	bool fails;

	pthread_mutex_lock(&fv->lock);
	fails = fv->persistent_fails > 0;
	fv->persistent_fails -= fails;
	pthread_mutex_unlock(&fv->lock);
	*persistent = false; /* as virt.c leaves it on failure */
	if (fails)
		return -EIO;
	*persistent = strcmp(name, fv->name) == 0;
	return *persistent ? 0 : -ENOENT;
}

static void fake_log(struct fakevirt *fv, enum fake_call_kind kind, unsigned flags,
                     const char *alias)
{
	struct fake_call *c;

	fv->n_kind[kind]++;
	fv->loop_calls += threadcheck_on_loop();
	if (fv->n_calls == FAKE_MAX_CALLS)
		abort();
	c = &fv->calls[fv->n_calls++];
	c->kind = kind;
	c->flags = flags;
	snprintf(c->alias, sizeof(c->alias), "%s", alias ? alias : "");
}

/* The first child element of n called name, or NULL. */
static xmlNode *fake_child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

static int fake_parse_dimm(const char *xml, struct fake_dev *d)
{
	xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *tgt = fake_child(root, "target");
	xmlChar *size = xmlNodeGetContent(fake_child(tgt, "size"));
	xmlChar *node = xmlNodeGetContent(fake_child(tgt, "node"));
	xmlChar *alias = xmlGetProp(fake_child(root, "alias"), BAD_CAST "name");
	xmlChar *slot = xmlGetProp(fake_child(root, "address"), BAD_CAST "slot");
	int rc = size && node && alias ? 0 : -EINVAL;

	d->slot = slot ? (unsigned)strtoul((const char *)slot, NULL, 10) : UINT_MAX;
	xmlFree(slot);
	if (rc == 0) {
		d->size_kib = strtoull((const char *)size, NULL, 10);
		d->node = (unsigned)strtoul((const char *)node, NULL, 10);
		snprintf(d->alias, sizeof(d->alias), "%s", (const char *)alias);
	}
	xmlFree(size);
	xmlFree(node);
	xmlFree(alias);
	xmlFreeDoc(doc);
	return rc;
}

/* The lowest slot no DIMM of the list uses. */
static unsigned fake_free_slot(const struct fake_dev *devs, size_t n)
{
	for (unsigned s = 0;; s++) {
		bool used = false;

		for (size_t i = 0; i < n; i++)
			used = used || devs[i].slot == s;
		if (!used)
			return s;
	}
}

static void fake_add(struct fake_dev *devs, size_t *n, const struct fake_dev *d)
{
	devs[*n] = *d;
	if (d->slot == UINT_MAX) /* libvirt chooses */
		devs[*n].slot = fake_free_slot(devs, *n);
	(*n)++;
}

/* The slot libvirt would give a DIMM in the live guest. */
static unsigned fake_live_slot(const struct fakevirt *fv, const struct fake_dev *d)
{
	return d->slot == UINT_MAX ? fake_free_slot(fv->live, fv->n_live) : d->slot;
}

static bool fake_remove(struct fake_dev *devs, size_t *n, const char *alias)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(devs[i].alias, alias) != 0)
			continue;
		memmove(&devs[i], &devs[i + 1], (*n - i - 1) * sizeof(*devs));
		(*n)--;
		return true;
	}
	return false;
}

static void fake_deliver(void *arg)
{
	struct fake_event *e = arg;
	struct fakevirt *fv = e->fv;
	struct backend_event ev = {
	        .kind = e->kind, .name = fv->name, .alias = e->alias, .kib = e->kib};

	fv->on_event(fv->on_event_arg, &ev);
	pthread_mutex_lock(&fv->lock);
	fv->events_in_flight--;
	pthread_mutex_unlock(&fv->lock);
	free(e);
}

/* Libvirt delivers the guest's answer later, on the loop thread. */
static void fake_post_kib(struct fakevirt *fv, enum backend_event_kind kind, const char *alias,
                          uint64_t kib)
{
	struct fake_event *e = calloc(1, sizeof(*e));

	if (e == NULL)
		abort();
	e->fv = fv;
	e->kind = kind;
	e->kib = kib;
	snprintf(e->alias, sizeof(e->alias), "%s", alias);
	fv->events_in_flight++;
	if (evloop_post(fv->loop, fake_deliver, e) < 0)
		abort();
}

static void fake_post(struct fakevirt *fv, enum backend_event_kind kind, const char *alias)
{
	fake_post_kib(fv, kind, alias, 0);
}

static int fake_attach(void *ctx, const char *name, const char *xml, unsigned flags, char **err)
{
	struct fakevirt *fv = ctx;
	struct fake_dev d = {0};
	int rc = 0;

	if (fake_parse_dimm(xml, &d) < 0)
		return -EINVAL;
	if (fv->on_attach)
		fv->on_attach(fv->on_attach_arg);
	pthread_mutex_lock(&fv->lock);
	fake_log(fv, FAKE_ATTACH, flags, d.alias);
	if (++fv->n_attach == fv->attach_fail_at) {
		*err = strdup(fv->attach_error ? fv->attach_error : "attach failed");
		rc = -EIO;
	} else if ((flags & BACKEND_LIVE) && fv->qemu_busy_slot1 &&
	           fake_live_slot(fv, &d) == fv->qemu_busy_slot1 - 1) {
		*err = g_strdup_printf(
		        "internal error: unable to execute QEMU command 'device_add': "
		        "slot %u is busy",
		        fv->qemu_busy_slot1 - 1);
		rc = -EIO;
	} else if (fv->n_attach == fv->attach_lost_at) {
		/* QEMU took it; libvirt's answer (and maybe its record) did not
		 * survive the connection. */
		if (fv->lost_listed)
			fake_add(fv->live, &fv->n_live, &d);
		if (fv->lost_listed && (flags & BACKEND_CONFIG))
			fake_add(fv->config, &fv->n_config, &d);
		if (!fv->lost_listed)
			fv->qemu_busy_slot1 = fake_live_slot(fv, &d) + 1;
		if (fv->lost_event) {
			char backend[FAKE_ALIAS_MAX + 4];

			snprintf(backend, sizeof(backend), "mem%s", d.alias);
			fake_post(fv, BACKEND_EVENT_DEVICE_ADDED, backend);
		}
		*err = strdup("End of file while reading data: Input/output error");
		rc = -ENOTCONN;
	} else if ((flags & BACKEND_LIVE) && !fv->active) {
		*err = strdup("domain is not running");
		rc = -EINVAL;
	} else {
		if (flags & BACKEND_LIVE)
			fake_add(fv->live, &fv->n_live, &d);
		if (flags & BACKEND_CONFIG)
			fake_add(fv->config, &fv->n_config, &d);
	}
	pthread_mutex_unlock(&fv->lock);
	return rc;
}

static int fake_detach_live(struct fakevirt *fv, const char *alias, char **err)
{
	size_t len = strlen(alias), n = fv->answer_suffix ? strlen(fv->answer_suffix) : 0;
	enum fake_answer ans = FAKE_REMOVE;

	if (fv->answer_suffix == NULL ||
	    (len >= n && strcmp(alias + len - n, fv->answer_suffix) == 0))
		ans = fv->answer;
	switch (ans) {
	case FAKE_REMOVE:
		fake_remove(fv->live, &fv->n_live, alias);
		fake_post(fv, BACKEND_EVENT_DEVICE_REMOVED, alias);
		return 0;
	case FAKE_REFUSE:
		fake_post(fv, BACKEND_EVENT_DEVICE_REMOVAL_FAILED, alias);
		return 0;
	case FAKE_SILENT:
		return 0;
	case FAKE_CALL_LOST:
		fake_remove(fv->live, &fv->n_live, alias);
		*err = strdup("End of file while reading data: Input/output error");
		return -ENOTCONN;
	default:
		*err = strdup("detach call failed");
		return -EIO;
	}
}

static int fake_detach_alias(void *ctx, const char *name, const char *alias, unsigned flags,
                             char **err)
{
	struct fakevirt *fv = ctx;
	int rc = 0;

	pthread_mutex_lock(&fv->lock);
	fake_log(fv, FAKE_DETACH, flags, alias);
	if (flags & BACKEND_LIVE)
		rc = fake_detach_live(fv, alias, err);
	if (rc == 0 && (flags & BACKEND_CONFIG) && !fake_remove(fv->config, &fv->n_config, alias)) {
		*err = strdup("no such device in the persistent definition");
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&fv->lock);
	return rc;
}

/* <memory model='virtio-mem'><target><node>N</node><requested>K</requested> */
static int fake_parse_vmem(const char *xml, unsigned *node, uint64_t *requested)
{
	xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNode *tgt = fake_child(root, "target");
	xmlChar *model = root ? xmlGetProp(root, BAD_CAST "model") : NULL;
	xmlChar *n = xmlNodeGetContent(fake_child(tgt, "node"));
	xmlChar *r = xmlNodeGetContent(fake_child(tgt, "requested"));
	xmlChar *unit = xmlGetProp(fake_child(tgt, "requested"), BAD_CAST "unit");
	int rc = model && strcmp((const char *)model, "virtio-mem") == 0 && n && r && unit &&
	                         strcmp((const char *)unit, "KiB") == 0
	                 ? 0
	                 : -EINVAL;

	if (rc == 0) {
		*node = (unsigned)strtoul((const char *)n, NULL, 10);
		*requested = strtoull((const char *)r, NULL, 10);
	}
	xmlFree(model);
	xmlFree(n);
	xmlFree(r);
	xmlFree(unit);
	xmlFreeDoc(doc);
	return rc;
}

static struct fake_vmem *fake_vmem_find(struct fake_vmem *v, size_t n, unsigned node, size_t *i)
{
	for (*i = 0; *i < n; (*i)++)
		if (v[*i].node == node)
			return &v[*i];
	return NULL;
}

/* The guest's answer to a new live request, as scripted. */
static void fake_vmem_guest(struct fakevirt *fv, struct fake_vmem *v, size_t i)
{
	char alias[FAKE_ALIAS_MAX];
	uint64_t old = v->current_kib, want = v->requested_kib;

	snprintf(alias, sizeof(alias), "virtiomem%zu", i);
	switch (fv->vmem_answer) {
	case FAKE_VMEM_ALL:
		v->current_kib = want;
		break;
	case FAKE_VMEM_FLOOR:
		v->current_kib = want < fv->vmem_floor_kib ? fv->vmem_floor_kib : want;
		break;
	case FAKE_VMEM_OUT_OF_ORDER:
		v->current_kib = want;
		fake_post_kib(fv, BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE, alias, old);
		fake_post_kib(fv, BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE, alias, want);
		fake_post_kib(fv, BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE, alias, (old + want) / 2);
		return;
	default:
		return;
	}
	if (v->current_kib != old)
		fake_post_kib(fv, BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE, alias, v->current_kib);
}

/* Keeps what was defined for the test to read; the fake's own domain,
 * built from its spec, does not change. */
static int fake_define(void *ctx, const char *xml, char **err)
{
	struct fakevirt *fv = ctx;
	char *copy = strdup(xml);

	if (copy == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&fv->lock);
	free(fv->defined);
	fv->defined = copy;
	fv->n_define++;
	fv->xml_fails = fv->xml_fails || fv->define_breaks_xml;
	pthread_mutex_unlock(&fv->lock);
	return 0;
}

static int fake_update_device(void *ctx, const char *name, const char *xml, unsigned flags,
                              char **err)
{
	struct fakevirt *fv = ctx;
	struct fake_vmem *v;
	uint64_t requested = 0;
	unsigned node = 0, lost;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&fv->lock);
	fake_log(fv, FAKE_UPDATE, flags, NULL);
	lost = fv->vmem_lost & flags & (BACKEND_LIVE | BACKEND_CONFIG);
	if (fake_parse_vmem(xml, &node, &requested) < 0) {
		*err = strdup("the fake updates only a virtio-mem <requested> in KiB");
		rc = -EINVAL;
	} else if ((flags & BACKEND_LIVE) && fv->vmem_answer == FAKE_VMEM_CALL_FAILS) {
		*err = strdup("the fake's update call failed");
		rc = -EIO;
	} else if ((flags & BACKEND_CONFIG) && fv->vmem_config_fails) {
		*err = strdup("the fake's persistent update failed");
		rc = -EIO;
	} else if (flags & BACKEND_LIVE) {
		if ((v = fake_vmem_find(fv->vmem_live, fv->spec.n_vmem, node, &i)) == NULL ||
		    requested > v->size_kib) {
			*err = strdup("no such device, or requested above its size");
			rc = -EINVAL;
		} else if (lost == 0 || fv->vmem_lost_applied) {
			v->requested_kib = requested;
			fake_vmem_guest(fv, v, i);
		}
	}
	if (rc == 0 && (flags & BACKEND_CONFIG)) {
		if ((v = fake_vmem_find(fv->vmem_config, fv->spec.n_vmem, node, &i)) == NULL) {
			*err = strdup("no such device in the persistent definition");
			rc = -EINVAL;
		} else if (lost == 0 || fv->vmem_lost_applied) {
			v->requested_kib = requested;
		}
	}
	if (lost) {
		free(*err);
		*err = strdup("End of file while reading data: Input/output error");
		fv->vmem_lost &= ~lost;
		fv->down_reads = fv->lost_reads;
		fv->connected = fv->down_reads == 0;
		rc = -ENOTCONN;
	}
	pthread_mutex_unlock(&fv->lock);
	return rc;
}

static int fake_list_domains(void *ctx, struct backend_domain_list *out, char **err)
{
	struct fakevirt *fv = ctx;

	pthread_mutex_lock(&fv->lock);
	out->n = fv->unlisted ? 0 : 1;
	pthread_mutex_unlock(&fv->lock);
	if (out->n == 0) {
		out->doms = NULL;
		return 0;
	}
	out->doms = calloc(1, sizeof(*out->doms));
	if (out->doms == NULL || (out->doms[0].name = strdup(fv->name)) == NULL)
		abort();
	out->doms[0].active = fv->active;
	out->doms[0].id = fv->active ? 1 : -1;
	return 0;
}

static int fake_set_balloon(void *ctx, const char *name, uint64_t kib, char **err)
{
	struct fakevirt *fv = ctx;

	fake_count(fv, FAKE_BALLOON);
	pthread_mutex_lock(&fv->lock);
	fv->balloon.current = kib;
	pthread_mutex_unlock(&fv->lock);
	return 0;
}

static int fake_set_stats_period(void *ctx, const char *name, int seconds, char **err)
{
	return 0;
}

static int fake_balloon_stats(void *ctx, struct backend_balloon_list *out, char **err)
{
	struct fakevirt *fv = ctx;

	fake_count(fv, FAKE_STATS);
	*out = (struct backend_balloon_list){0};
	if (!fv->active)
		return 0;
	out->doms = calloc(1, sizeof(*out->doms));
	if (out->doms == NULL)
		abort();
	pthread_mutex_lock(&fv->lock);
	out->doms[0] = fv->balloon;
	pthread_mutex_unlock(&fv->lock);
	out->doms[0].name = strdup(fv->name);
	out->n = 1;
	return 0;
}

static int fake_get_metadata(void *ctx, const char *name, const char *uri, unsigned flags,
                             char **xml, char **err)
{
	struct fakevirt *fv = ctx;
	int rc = 0;

	fake_count(fv, FAKE_GET_META);
	pthread_mutex_lock(&fv->lock);
	*xml = fv->metadata ? strdup(fv->metadata) : NULL;
	if (*xml == NULL) {
		rc = -ENOENT;
		if (err)
			*err = strdup("no metadata");
	}
	pthread_mutex_unlock(&fv->lock);
	return rc;
}

static int fake_set_metadata(void *ctx, const char *name, const char *xml, const char *key,
                             const char *uri, unsigned flags, char **err)
{
	struct fakevirt *fv = ctx;

	fake_count(fv, FAKE_SET_META);
	pthread_mutex_lock(&fv->lock);
	free(fv->metadata);
	fv->metadata = xml ? strdup(xml) : NULL;
	fv->metadata_flags = flags;
	pthread_mutex_unlock(&fv->lock);
	return 0;
}

/* Two nodes of 16 GiB with CPUs 0 and 1, 10/20 apart; node 0 may have a pool. */
static int fake_host_topology(void *ctx, struct host **out, char **err)
{
	struct fakevirt *fv = ctx;
	struct host *h = host_new();
	struct host_node *n;

	fake_count(fv, FAKE_HOST);
	for (unsigned i = 0; h && i < 2; i++) {
		n = host_add_node(h, i, 16ULL << 20, 0);
		if (n == NULL)
			abort();
		nodeset_set(&n->cpus, i);
		if (i == 0 && fv->host.pool_kib)
			host_node_add_pool(n, fv->host.pool_kib, fv->host.pool_free + 64, 0);
	}
	h->source = HOST_SOURCE_LIBVIRT;
	h->threads_per_core = fv->host.threads_per_core;
	*out = h;
	return 0;
}

/* Free memory and pages as the script says now. */
static int fake_host_free(void *ctx, struct host *h, char **err)
{
	struct fakevirt *fv = ctx;

	pthread_mutex_lock(&fv->lock);
	for (size_t i = 0; i < h->n_nodes && i < 2; i++) {
		struct host_node *n = &h->nodes[i];

		n->free_kib = fv->host.free_mib[i] * 1024;
		n->free_known = true;
		if (i == 0 && fv->host.pool_kib && n->n_pools) {
			n->pools[0].free = fv->host.pool_free;
			n->pools[0].free_known = true;
		}
	}
	pthread_mutex_unlock(&fv->lock);
	return 0;
}

static bool fake_connected(void *ctx)
{
	struct fakevirt *fv = ctx;
	bool c;

	pthread_mutex_lock(&fv->lock);
	c = fv->connected;
	pthread_mutex_unlock(&fv->lock);
	return c;
}

static unsigned fake_reconnects(void *ctx)
{
	return 0;
}

static const char *fake_uri(void *ctx)
{
	return "fake:///unit";
}

static const struct backend_ops fakevirt_ops = {
        .list_domains = fake_list_domains,
        .domain_xml = fake_domain_xml,
        .persistent = fake_persistent,
        .attach = fake_attach,
        .detach_alias = fake_detach_alias,
        .update_device = fake_update_device,
        .define = fake_define,
        .set_balloon = fake_set_balloon,
        .set_stats_period = fake_set_stats_period,
        .balloon_stats = fake_balloon_stats,
        .get_metadata = fake_get_metadata,
        .set_metadata = fake_set_metadata,
        .host_topology = fake_host_topology,
        .host_free = fake_host_free,
        .connected = fake_connected,
        .reconnects = fake_reconnects,
        .uri = fake_uri,
};

void fakevirt_backend(struct fakevirt *fv, struct backend *out)
{
	out->ops = &fakevirt_ops;
	out->ctx = fv;
}

void fakevirt_init(struct fakevirt *fv, struct evloop *loop, const char *name,
                   const struct fake_spec *spec, const struct fake_host *host,
                   void (*on_event)(void *arg, const struct backend_event *ev), void *arg)
{
	memset(fv, 0, sizeof(*fv));
	pthread_mutex_init(&fv->lock, NULL);
	fv->loop = loop;
	fv->on_event = on_event;
	fv->on_event_arg = arg;
	fv->name = name;
	fv->spec = *spec;
	fv->host = *host;
	fv->active = !spec->shut_off;
	fv->connected = true;
	fv->balloon = (struct backend_balloon){.current = UINT64_MAX,
	                                       .maximum = UINT64_MAX,
	                                       .usable = UINT64_MAX,
	                                       .unused = UINT64_MAX,
	                                       .available = UINT64_MAX,
	                                       .rss = UINT64_MAX};
	for (size_t i = 0; i < spec->n_devs; i++) {
		fv->live[i] = fv->config[i] = spec->devs[i];
		fv->live[i].slot = fv->config[i].slot = (unsigned)i;
	}
	fv->n_live = fv->n_config = spec->n_devs;
	for (size_t i = 0; i < spec->n_vmem; i++)
		fv->vmem_live[i] = fv->vmem_config[i] = spec->vmem[i];
	if (spec->metadata)
		fv->metadata = strdup(spec->metadata);
}

void fakevirt_destroy(struct fakevirt *fv)
{
	free(fv->metadata);
	free(fv->defined);
	pthread_mutex_destroy(&fv->lock);
}

size_t fakevirt_count(struct fakevirt *fv, enum fake_call_kind kind, unsigned flags)
{
	size_t n = 0;

	pthread_mutex_lock(&fv->lock);
	if (kind != FAKE_ATTACH && kind != FAKE_DETACH && kind != FAKE_UPDATE)
		n = fv->n_kind[kind];
	for (size_t i = 0; i < fv->n_calls; i++)
		n += fv->calls[i].kind == kind && (fv->calls[i].flags & flags) == flags;
	pthread_mutex_unlock(&fv->lock);
	return n;
}

bool fakevirt_has(struct fakevirt *fv, bool inactive, const char *alias)
{
	const struct fake_dev *devs;
	size_t n;
	bool found = false;

	pthread_mutex_lock(&fv->lock);
	devs = inactive || !fv->active ? fv->config : fv->live;
	n = inactive || !fv->active ? fv->n_config : fv->n_live;
	for (size_t i = 0; i < n; i++)
		found = found || strcmp(devs[i].alias, alias) == 0;
	pthread_mutex_unlock(&fv->lock);
	return found;
}

char *fakevirt_aliases(struct fakevirt *fv, bool inactive)
{
	GString *s = g_string_new(NULL);
	const struct fake_dev *devs;
	char *copy;
	size_t n;

	pthread_mutex_lock(&fv->lock);
	devs = inactive || !fv->active ? fv->config : fv->live;
	n = inactive || !fv->active ? fv->n_config : fv->n_live;
	for (size_t i = 0; i < n; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "", devs[i].alias);
	pthread_mutex_unlock(&fv->lock);
	copy = strdup(s->str); /* malloc'd: the caller frees it with free() */
	g_string_free(s, TRUE);
	return copy;
}

unsigned fakevirt_in_flight(struct fakevirt *fv)
{
	unsigned n;

	pthread_mutex_lock(&fv->lock);
	n = fv->events_in_flight;
	pthread_mutex_unlock(&fv->lock);
	return n;
}

void fakevirt_answer_late(struct fakevirt *fv, const char *alias, bool removed)
{
	pthread_mutex_lock(&fv->lock);
	if (removed)
		fake_remove(fv->live, &fv->n_live, alias);
	fake_post(fv, removed ? BACKEND_EVENT_DEVICE_REMOVED : BACKEND_EVENT_DEVICE_REMOVAL_FAILED,
	          alias);
	pthread_mutex_unlock(&fv->lock);
}

void fakevirt_vmem_late(struct fakevirt *fv, size_t i, uint64_t current_kib)
{
	char alias[FAKE_ALIAS_MAX];

	snprintf(alias, sizeof(alias), "virtiomem%zu", i);
	pthread_mutex_lock(&fv->lock);
	fv->vmem_live[i].current_kib = current_kib;
	fake_post_kib(fv, BACKEND_EVENT_MEMORY_DEVICE_SIZE_CHANGE, alias, current_kib);
	pthread_mutex_unlock(&fv->lock);
}

uint64_t fakevirt_vmem_requested(struct fakevirt *fv, size_t i, bool inactive)
{
	uint64_t kib;

	pthread_mutex_lock(&fv->lock);
	kib = inactive ? fv->vmem_config[i].requested_kib : fv->vmem_live[i].requested_kib;
	pthread_mutex_unlock(&fv->lock);
	return kib;
}

uint64_t fakevirt_vmem_current(struct fakevirt *fv, size_t i)
{
	uint64_t kib;

	pthread_mutex_lock(&fv->lock);
	kib = fv->vmem_live[i].current_kib;
	pthread_mutex_unlock(&fv->lock);
	return kib;
}

void fakevirt_drop(struct fakevirt *fv, const char *alias)
{
	pthread_mutex_lock(&fv->lock);
	fake_remove(fv->live, &fv->n_live, alias);
	pthread_mutex_unlock(&fv->lock);
}

static void fake_deliver_stopped(void *arg)
{
	struct fakevirt *fv = arg;
	struct backend_event ev = {.kind = BACKEND_EVENT_LIFECYCLE,
	                           .name = fv->name,
	                           .lifecycle = BACKEND_LIFECYCLE_STOPPED};

	fv->on_event(fv->on_event_arg, &ev);
	pthread_mutex_lock(&fv->lock);
	fv->events_in_flight--;
	pthread_mutex_unlock(&fv->lock);
}

void fakevirt_undefine_quietly(struct fakevirt *fv)
{
	pthread_mutex_lock(&fv->lock);
	fv->active = false;
	fv->unlisted = true;
	fv->n_live = 0;
	pthread_mutex_unlock(&fv->lock);
}

void fakevirt_destroy_guest(struct fakevirt *fv)
{
	pthread_mutex_lock(&fv->lock);
	fv->active = false;
	fv->n_live = 0;
	fv->events_in_flight++;
	pthread_mutex_unlock(&fv->lock);
	if (evloop_post(fv->loop, fake_deliver_stopped, fv) < 0)
		abort();
}
