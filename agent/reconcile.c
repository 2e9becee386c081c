/*
 * Reconcile after a crash (see reconcile.h). The live guest is the half a
 * request changes first and the one the guest's memory shows, so with both
 * halves in scope the persistent definition follows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dimm.h"
#include "domain.h"
#include "log.h"
#include "ops.h"
#include "reconcile.h"
#include "record.h"
#include "threadcheck.h"

/* 1 the definition lists the alias, 0 it does not, -1 it cannot be read. */
static int reconcile_has(struct agent *a, const char *name, bool inactive, const char *alias,
                         struct domain **keep)
{
	char *xml = NULL, *err = NULL;
	struct domain *dom = NULL;
	int has = -1;

	if (backend_domain_xml(agent_backend(a), name, inactive ? BACKEND_INACTIVE : 0, &xml,
	                       &err) == 0 &&
	    domain_parse(xml, strlen(xml), &dom, &err) == 0)
		has = domain_has_alias(dom, alias);
	if (has < 0)
		log_warn("reconcile: cannot read the %s definition of %s: %s",
		         inactive ? "persistent" : "live", name, err ? err : "?");
	if (keep && has >= 0)
		*keep = dom;
	else
		domain_free(dom);
	free(xml);
	free(err);
	return has;
}

static const char *found_word(int has, const char *absent_why)
{
	return has == 1 ? "attached" : has == 0 ? "not attached" : absent_why;
}

/*
 * What a crash left half done, settled within the intent's scope. The live
 * guest is the truth the request changed first, so with both halves in
 * scope the persistent definition follows it: a DIMM the guest has goes
 * into the persistent definition (a grow finished), one it no longer has
 * leaves it (a shrink finished). A shrink whose DIMM the guest still holds
 * may yet be released: a late entry finishes the config then. A live-only
 * change never touches the persistent definition; a config-only change is
 * one call, done or not. Returns the action's name; *err on failure.
 */
static const char *reconcile_act(const struct reconcile_ctx *c, const struct reconcile_item *it,
                                 bool grow, bool live, bool config, int in_live, int in_config,
                                 char **err)
{
	const struct backend *b = agent_backend(c->a);
	const char *name = record_str(it->intent, "domain");
	const char *alias = record_str(it->intent, "alias");
	const char *request = record_str(it->intent, "request");
	json_object *v;

	if (live && !grow && in_live == 1) {
		c->watch(c->arg, name, alias, request ? request : "", config);
		return "watching";
	}
	if (!live || !config || in_live < 0 || in_config < 0 || (in_live == in_config))
		return "none";
	if (in_live == 0)
		return backend_detach_alias(b, name, alias, BACKEND_CONFIG, err) < 0
		               ? NULL
		               : "config_detached";
	{
		unsigned node = json_object_object_get_ex(it->intent, "node", &v)
		                        ? (unsigned)json_object_get_int(v)
		                        : 0;
		uint64_t kib = json_object_object_get_ex(it->intent, "size_kib", &v)
		                       ? json_object_get_uint64(v)
		                       : 0;
		char *xml = dimm_xml(node, kib, alias);
		int rc = xml ? backend_attach(b, name, xml, BACKEND_CONFIG, err) : -ENOMEM;

		free(xml);
		return rc < 0 ? NULL : "config_attached";
	}
}

/* Worker: one intent compared with both definitions, acted on, recorded. */
static void reconcile_one(const struct reconcile_ctx *c, const struct reconcile_item *it)
{
	json_object *intent = it->intent;
	const char *name = record_str(intent, "domain");
	const char *alias = record_str(intent, "alias");
	const char *request = record_str(intent, "request");
	const char *model = record_str(intent, "model");
	struct record_node_mem *after = NULL;
	struct domain *live_dom = NULL;
	char grow_prefix[64], *err = NULL;
	bool grow, live = false, config = false, scoped, dimm;
	int in_live = -1, in_config = -1;
	const char *action = "none";
	json_object *x = json_object_new_object();
	struct record r = {.event = RECORD_RECONCILED,
	                   .domain = name,
	                   .uuid = record_str(intent, "uuid"),
	                   .request = request,
	                   .actor = {.kind = RECORD_ACTOR_AGENT}};

	/* A grow names its new DIMMs after its request; a shrink names old ones. */
	snprintf(grow_prefix, sizeof(grow_prefix), OPS_ALIAS_PREFIX "%s-", request ? request : "");
	grow = alias && strncmp(alias, grow_prefix, strlen(grow_prefix)) == 0;
	scoped = record_scope(intent, &live, &config);
	/* a guard: only a DIMM step may be redone or undone here (virtio-mem
	 * steps have their own reconcile, ops_vmem.c); any other model is
	 * recorded, never touched */
	dimm = model == NULL || strcmp(model, "dimm") == 0;
	if (it->known && alias && it->active)
		in_live = reconcile_has(c->a, name, false, alias, &live_dom);
	if (it->known && alias && it->persistent)
		in_config = reconcile_has(c->a, name, true, alias, NULL);
	if (dimm && it->known && alias && scoped)
		action = reconcile_act(c, it, grow, live, config, in_live, in_config, &err);
	json_object_object_add(x, "intent_seq", json_object_new_uint64(record_seq(intent)));
	json_object_object_add(x, "op", json_object_new_string(grow ? "grow" : "shrink"));
	json_object_object_add(x, "alias", alias ? json_object_new_string(alias) : NULL);
	if (model)
		json_object_object_add(x, "model", json_object_new_string(model));
	json_object_object_add(x, "live", scoped ? json_object_new_boolean(live) : NULL);
	json_object_object_add(x, "config", scoped ? json_object_new_boolean(config) : NULL);
	json_object_object_add(x, "found",
	                       json_object_new_string(!it->known ? "domain gone"
	                                              : it->active
	                                                      ? found_word(in_live, "unreadable")
	                                                      : "not running"));
	json_object_object_add(
	        x, "found_live",
	        json_object_new_string(
	                !it->known
	                        ? "domain gone"
	                        : found_word(in_live, it->active ? "unreadable" : "not running")));
	json_object_object_add(
	        x, "found_config",
	        json_object_new_string(
	                !it->known ? "domain gone"
	                           : found_word(in_config,
	                                        it->persistent ? "unreadable" : "not persistent")));
	json_object_object_add(x, "action", json_object_new_string(action ? action : "failed"));
	r.extra = x;
	r.result = it->known && action ? RECORD_OK : RECORD_FAILED;
	r.error = !it->known ? "the domain is no longer known to libvirt" : action ? NULL : err;
	if (live_dom)
		r.n_after = agent_node_mem(live_dom, &after);
	r.after = after;
	log_warn("reconciled %s %s of %s on %s: live %s, persistent %s: %s%s%s",
	         request ? request : "?", grow ? "grow" : "shrink", alias ? alias : "?",
	         name ? name : "?", found_word(in_live, "-"), found_word(in_config, "-"),
	         action ? action : "failed", err ? ": " : "", err ? err : "");
	agent_audit(c->a, &r, true, NULL);
	free(after);
	free(err);
	domain_free(live_dom);
	json_object_put(x);
}

void reconcile_items(const struct reconcile_ctx *c, const struct reconcile_item *items, size_t n)
{
	assert_worker_thread();
	for (size_t i = 0; i < n; i++)
		reconcile_one(c, &items[i]);
}
