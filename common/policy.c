/*
 * The auto-balloon decision (see policy.h and docs/policy.md). Pressure
 * acts at once: raise the balloon up to the plugged total, then plug a
 * DIMM. Plenty acts slowly: only after `settle` above the band, one step
 * per `cooldown`, never below the band's middle, so a shrink can never
 * push the guest under low_free (the hysteresis). A DIMM leaves only when
 * the balloon already holds it back; the balloon is first let out by the
 * DIMM's size so the guest never has less than before while it unplugs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "backing.h"
#include "domain.h"
#include "err.h"
#include "host.h"
#include "policy.h"
#include "select.h"

/* Balloon figures closer than this count as equal. */
#define POLICY_SLACK_KIB UINT64_C(1024)

const char *policy_action_name(enum policy_action a)
{
	static const char *const names[] = {
	        [POLICY_NONE] = "none",       [POLICY_WAIT] = "wait",
	        [POLICY_BALLOON] = "balloon", [POLICY_GROW] = "grow",
	        [POLICY_SHRINK] = "shrink",   [POLICY_HOLD] = "hold",
	        [POLICY_FAILED] = "failed",   [POLICY_UNMANAGEABLE] = "unmanageable",
	};

	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

/* ---- the decision ---- */

struct ctx {
	const struct policy_settings *s;
	const struct policy_input *in;
	struct policy_state *st;
	struct policy_decision *out;
	uint64_t mid_kib; /* the middle of the band: where moves aim */
};

static void say(struct policy_decision *d, enum policy_action a, const char *reason,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(struct policy_decision *d, enum policy_action a, const char *reason,
                const char *fmt, ...)
{
	va_list ap;

	d->action = a;
	d->reason = reason;
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t mib(uint64_t kib)
{
	return kib / 1024;
}

static bool since(const struct ctx *c, uint64_t then_ms, uint64_t span_ms)
{
	return then_ms != 0 && c->in->now_ms - then_ms < span_ms;
}

/* After a raise the guest's MemTotal should grow; wait for it, a while. */
static uint64_t observe_timeout_ms(const struct ctx *c)
{
	return max_u64(c->s->cooldown_ms, 3 * c->in->interval_ms);
}

static void acted(struct ctx *c, bool raised, uint64_t delta_kib)
{
	c->st->last_action_ms = c->in->now_ms;
	c->st->grew_last = raised;
	c->st->observing = raised;
	c->st->observe_from_kib = c->in->available_kib;
	c->st->observe_delta_kib = delta_kib;
}

static void set_balloon(struct ctx *c, uint64_t target, const char *reason, const char *what)
{
	const struct policy_input *in = c->in;

	c->out->target_kib = target;
	say(c->out, POLICY_BALLOON, reason,
	    "%s: balloon %" PRIu64 " -> %" PRIu64 " MiB (usable %" PRIu64 " MiB, band %" PRIu64
	    "-%" PRIu64 " MiB, plugged %" PRIu64 " MiB)",
	    what, mib(in->actual_kib), mib(target), mib(in->usable_kib), mib(c->out->low_kib),
	    mib(c->out->high_kib), mib(in->plugged_kib));
	acted(c, target > in->actual_kib, target > in->actual_kib ? target - in->actual_kib : 0);
}

/* A submitted grow or shrink ended when no operation is in flight. */
static bool resolve_pending(struct ctx *c)
{
	struct policy_state *st = c->st;
	const struct policy_input *in = c->in;
	bool grow = st->pending == POLICY_PENDING_GROW;

	if (st->pending == POLICY_PENDING_NONE)
		return false;
	if (in->op_in_flight) {
		say(c->out, POLICY_WAIT, "operation_running", "waiting for the %s to finish",
		    grow ? "grow" : "shrink");
		return true;
	}
	st->pending = POLICY_PENDING_NONE;
	if (grow && in->plugged_kib > st->pending_plugged_kib)
		return false; /* observing (set when submitted) waits for the guest */
	if (grow) {
		st->failed_at_ms = in->now_ms;
		st->observing = false;
		say(c->out, POLICY_FAILED, "grow_failed",
		    "the grow did not add memory (plugged still %" PRIu64
		    " MiB); retrying after the cooldown",
		    mib(in->plugged_kib));
		return true;
	}
	if (in->plugged_kib < st->pending_plugged_kib) {
		st->unplug_failures = 0;
		set_balloon(c, min_u64(st->restore_kib, in->plugged_kib), "restore_after_unplug",
		            "DIMM unplugged, guest memory kept where it was");
		return true;
	}
	st->unplug_failed_ms = in->now_ms;
	st->unplug_failures++;
	set_balloon(c, min_u64(st->restore_kib, in->plugged_kib), "unplug_failed",
	            "the unplug did not remove memory; balloon back");
	return true;
}

static const struct policy_cell *pick_cell(const struct ctx *c, uint64_t ceiling, uint64_t *size,
                                           const struct policy_cell **host_bad)
{
	const struct policy_input *in = c->in;
	const struct policy_cell *best = NULL;

	*host_bad = NULL;
	for (size_t i = 0; i < in->n_cells; i++) {
		const struct policy_cell *cell = &in->cells[i];
		uint64_t align = cell->align_kib ? cell->align_kib : 1;
		uint64_t sz = (c->s->step_kib + align - 1) / align * align;

		if (in->plugged_kib + sz > ceiling)
			continue;
		if (cell->host_known && cell->host_usable_kib < sz) {
			if (*host_bad == NULL || cell->kib < (*host_bad)->kib)
				*host_bad = cell;
			continue;
		}
		if (best == NULL || cell->kib < best->kib) {
			best = cell;
			*size = sz;
		}
	}
	return best;
}

static void hold_host(struct ctx *c, const struct policy_cell *cell)
{
	uint64_t align = cell->align_kib ? cell->align_kib : 1;
	uint64_t sz = (c->s->step_kib + align - 1) / align * align;

	say(c->out, POLICY_HOLD, "host_reserve",
	    "held back: a %" PRIu64 " MiB DIMM on guest node %u would take host nodes %s "
	    "below their reserve (%" PRIu64 " MiB free, %" PRIu64 " MiB above the %" PRIu64
	    " MiB reserve)",
	    mib(sz), cell->id, cell->host_nodes, mib(cell->host_free_kib),
	    mib(cell->host_usable_kib), mib(c->in->host_reserve_kib));
	c->out->node = (int)cell->id;
	c->out->size_kib = sz;
}

static void grow_dimm(struct ctx *c, uint64_t ceiling)
{
	const struct policy_input *in = c->in;
	const struct policy_cell *cell, *host_bad;
	uint64_t size = 0;

	if (in->free_slots == 0) {
		say(c->out, POLICY_HOLD, "no_slots", "held back: every memory slot is taken");
		return;
	}
	cell = pick_cell(c, ceiling, &size, &host_bad);
	if (cell == NULL && host_bad) {
		hold_host(c, host_bad);
		return;
	}
	if (cell == NULL) {
		say(c->out, POLICY_HOLD, "max",
		    "held back: the guest has %" PRIu64 " MiB plugged and may have at most %" PRIu64
		    " MiB",
		    mib(in->plugged_kib), mib(ceiling));
		return;
	}
	c->out->size_kib = size;
	c->out->node = (int)cell->id;
	say(c->out, POLICY_GROW, "below_low_free",
	    "usable %" PRIu64 " MiB below low_free %" PRIu64
	    " MiB with the balloon out: plug %" PRIu64 " MiB on guest node %u",
	    mib(in->usable_kib), mib(c->out->low_kib), mib(size), cell->id);
	acted(c, true, size);
	c->st->pending = POLICY_PENDING_GROW;
	c->st->pending_plugged_kib = in->plugged_kib;
}

static void decide_grow(struct ctx *c)
{
	const struct policy_input *in = c->in;
	uint64_t ceiling = c->out->ceiling_kib;
	uint64_t top = min_u64(in->plugged_kib, ceiling);

	c->st->above_since_ms = 0;
	c->st->unplug_kib = 0; /* pressure cancels a prepared unplug */
	if (since(c, c->st->failed_at_ms, c->s->cooldown_ms)) {
		say(c->out, POLICY_WAIT, "cooldown_after_failure",
		    "below low_free, but the last operation failed; waiting for the cooldown");
		return;
	}
	if (in->actual_kib + POLICY_SLACK_KIB < top) {
		uint64_t need = c->mid_kib > in->usable_kib ? c->mid_kib - in->usable_kib : 0;
		uint64_t up = (max_u64(need, c->s->step_kib) + 1023) / 1024 * 1024;

		set_balloon(c, min_u64(top, in->actual_kib + up), "below_low_free",
		            "below low_free: letting the balloon out");
		return;
	}
	grow_dimm(c, ceiling);
}

/* The balloon is out far enough: unplug the prepared DIMM now. */
static bool unplug_now(struct ctx *c)
{
	struct policy_state *st = c->st;
	const struct policy_input *in = c->in;
	uint64_t target = min_u64(in->plugged_kib, st->restore_kib + st->unplug_kib);

	if (in->actual_kib + POLICY_SLACK_KIB < target)
		return false;
	c->out->size_kib = st->unplug_kib;
	c->out->node = (int)st->unplug_node;
	say(c->out, POLICY_SHRINK, "balloon_holds_dimm",
	    "the balloon holds back a whole %" PRIu64 " MiB DIMM on guest node %u: unplug it, "
	    "then balloon to %" PRIu64 " MiB",
	    mib(st->unplug_kib), st->unplug_node, mib(st->restore_kib));
	st->pending = POLICY_PENDING_SHRINK;
	st->pending_plugged_kib = in->plugged_kib;
	st->unplug_kib = 0;
	st->last_action_ms = in->now_ms;
	st->grew_last = false;
	st->observing = false;
	return true;
}

static bool unplug_prepared(struct ctx *c)
{
	struct policy_state *st = c->st;
	const struct policy_input *in = c->in;
	uint64_t target = min_u64(in->plugged_kib, st->restore_kib + st->unplug_kib);

	if (st->unplug_kib == 0)
		return false;
	if (unplug_now(c))
		return true;
	if (in->now_ms - st->last_action_ms >= observe_timeout_ms(c)) {
		st->unplug_kib = 0;
		set_balloon(c, st->restore_kib, "unplug_prepare_timeout",
		            "the balloon did not let out the DIMM's size; giving up the unplug");
		return true;
	}
	say(c->out, POLICY_WAIT, "deflating_before_unplug",
	    "waiting for the balloon to reach %" PRIu64 " MiB before the unplug", mib(target));
	return true;
}

/*
 * The newest DIMM that can leave once the guest is at `keep`: the balloon
 * would then hold it back entirely, and the guest stays at the floor or
 * above.
 */
static const struct policy_dimm *held_dimm(const struct ctx *c, uint64_t keep)
{
	const struct policy_input *in = c->in;
	uint64_t held = in->plugged_kib > keep ? in->plugged_kib - keep : 0;

	for (size_t i = 0; i < in->n_dimms; i++) {
		const struct policy_dimm *d = &in->dimms[i];

		if (d->size_kib <= held && in->plugged_kib - d->size_kib >= c->out->floor_kib)
			return d;
	}
	return NULL;
}

/* Unplugs `dimm` so the guest ends at `keep`: first lets the balloon out
 * far enough that the guest keeps at least that much during the unplug. */
static void prepare_unplug(struct ctx *c, const struct policy_dimm *dimm, uint64_t keep)
{
	const struct policy_input *in = c->in;
	struct policy_state *st = c->st;

	st->unplug_kib = dimm->size_kib;
	st->unplug_node = dimm->node;
	st->restore_kib = keep;
	st->last_action_ms = in->now_ms;
	c->out->target_kib = min_u64(in->plugged_kib, keep + dimm->size_kib);
	if (unplug_now(c))
		return;
	say(c->out, POLICY_BALLOON, "deflate_before_unplug",
	    "the balloon holds back a %" PRIu64 " MiB DIMM: balloon %" PRIu64 " -> %" PRIu64
	    " MiB, then unplug it",
	    mib(dimm->size_kib), mib(in->actual_kib), mib(c->out->target_kib));
}

static void decide_shrink(struct ctx *c)
{
	const struct policy_input *in = c->in;
	struct policy_state *st = c->st;
	const struct policy_dimm *dimm;
	uint64_t floor = c->out->floor_kib, excess, target;

	if (st->above_since_ms == 0)
		st->above_since_ms = in->now_ms;
	if (unplug_prepared(c))
		return;
	if (in->now_ms - st->above_since_ms < c->s->settle_ms) {
		say(c->out, POLICY_WAIT, "settling",
		    "above high_free for %" PRIu64 " of %" PRIu64 " ms",
		    in->now_ms - st->above_since_ms, c->s->settle_ms);
		return;
	}
	if (since(c, st->last_action_ms, c->s->cooldown_ms)) {
		say(c->out, POLICY_WAIT, "cooldown", "above high_free; cooling down");
		return;
	}
	excess = in->usable_kib - c->mid_kib;
	target = in->actual_kib - min_u64(min_u64(c->s->step_kib, excess), in->actual_kib);
	target = max_u64(floor, target / 1024 * 1024);
	/* A guest that refused an unplug (memory not movable) is asked again
	 * ever more rarely: cooldown, doubled per refusal, up to 64 times. */
	if ((dimm = held_dimm(c, target)) != NULL &&
	    !since(c, st->unplug_failed_ms,
	           c->s->cooldown_ms << (st->unplug_failures < 6 ? st->unplug_failures : 6))) {
		prepare_unplug(c, dimm, target);
		return;
	}
	if (target + POLICY_SLACK_KIB > in->actual_kib) {
		say(c->out, POLICY_NONE, "at_floor",
		    "above high_free, but the balloon is at %" PRIu64
		    " MiB and may not go below %" PRIu64 " MiB",
		    mib(in->actual_kib), mib(floor));
		return;
	}
	set_balloon(c, target, "above_high_free", "above high_free for settle");
}

static bool bounds(struct ctx *c)
{
	const struct policy_input *in = c->in;
	struct policy_decision *d = c->out;
	uint64_t total = in->available_kib ? in->available_kib : in->actual_kib;

	d->low_kib = threshold_kib(&c->s->low_free, total);
	d->high_kib = threshold_kib(&c->s->high_free, total);
	d->floor_kib = max_u64(c->s->min_kib, in->boot_kib);
	d->ceiling_kib = in->max_memory_kib ? in->max_memory_kib : in->plugged_kib;
	if (c->s->max_kib)
		d->ceiling_kib = min_u64(d->ceiling_kib, c->s->max_kib);
	c->mid_kib = d->low_kib / 2 + d->high_kib / 2;
	if (d->low_kib >= d->high_kib) {
		say(d, POLICY_UNMANAGEABLE, "band",
		    "low_free (%" PRIu64 " MiB) is not below high_free (%" PRIu64
		    " MiB) for this guest's %" PRIu64 " MiB",
		    mib(d->low_kib), mib(d->high_kib), mib(total));
		return false;
	}
	return true;
}

/* Waits for the guest to report a raise before deciding anew. */
static bool observing(struct ctx *c)
{
	struct policy_state *st = c->st;

	if (!st->observing)
		return false;
	if (c->in->available_kib >= st->observe_from_kib + st->observe_delta_kib / 2 ||
	    c->in->now_ms - st->last_action_ms >= observe_timeout_ms(c)) {
		st->observing = false;
		return false;
	}
	say(c->out, POLICY_WAIT, "waiting_for_guest",
	    "waiting for the guest to report the added memory");
	return true;
}

void policy_decide(const struct policy_settings *s, const struct policy_input *in,
                   struct policy_state *st, struct policy_decision *out)
{
	struct ctx c = {.s = s, .in = in, .st = st, .out = out};

	memset(out, 0, sizeof(*out));
	out->node = -1;
	if (!in->has_stats) {
		say(out, POLICY_UNMANAGEABLE, "no_stats",
		    "the guest reports no balloon statistics (no virtio balloon, no driver or no "
		    "stats period): not managed");
		return;
	}
	if (!bounds(&c) || resolve_pending(&c))
		return;
	if (in->op_in_flight) {
		say(out, POLICY_WAIT, "operation_running", "another operation is running");
		return;
	}
	if (observing(&c))
		return;
	if (s->dry_run && since(&c, st->last_action_ms, s->cooldown_ms)) {
		say(out, POLICY_WAIT, "cooldown", "dry run: cooling down");
		return;
	}
	if (in->usable_kib < out->low_kib) {
		decide_grow(&c);
	} else if (in->usable_kib > out->high_kib) {
		decide_shrink(&c);
	} else {
		st->above_since_ms = 0;
		st->unplug_kib = 0;
		say(out, POLICY_NONE, "in_band",
		    "usable %" PRIu64 " MiB is inside %" PRIu64 "-%" PRIu64 " MiB",
		    mib(in->usable_kib), mib(out->low_kib), mib(out->high_kib));
	}
}

void policy_note_dry_run(struct policy_state *st)
{
	st->pending = POLICY_PENDING_NONE;
	st->observing = false;
	st->unplug_kib = 0;
}

json_object *policy_decision_json(const struct policy_decision *d, const struct policy_input *in,
                                  const struct policy_settings *s)
{
	json_object *o = json_object_new_object();
	json_object *x = json_object_new_object();

	json_object_object_add(o, "action", json_object_new_string(policy_action_name(d->action)));
	json_object_object_add(o, "reason", json_object_new_string(d->reason ? d->reason : ""));
	json_object_object_add(o, "message", json_object_new_string(d->message));
	json_object_object_add(o, "dry_run", json_object_new_boolean(s->dry_run));
	if (d->action == POLICY_BALLOON)
		json_object_object_add(o, "target_kib", json_object_new_uint64(d->target_kib));
	if (d->size_kib)
		json_object_object_add(o, "size_kib", json_object_new_uint64(d->size_kib));
	if (d->node >= 0)
		json_object_object_add(o, "node", json_object_new_int(d->node));
	json_object_object_add(x, "balloon_kib", json_object_new_uint64(in->actual_kib));
	json_object_object_add(x, "usable_kib", json_object_new_uint64(in->usable_kib));
	json_object_object_add(x, "available_kib", json_object_new_uint64(in->available_kib));
	json_object_object_add(x, "plugged_kib", json_object_new_uint64(in->plugged_kib));
	json_object_object_add(x, "low_free_kib", json_object_new_uint64(d->low_kib));
	json_object_object_add(x, "high_free_kib", json_object_new_uint64(d->high_kib));
	json_object_object_add(x, "floor_kib", json_object_new_uint64(d->floor_kib));
	json_object_object_add(x, "ceiling_kib", json_object_new_uint64(d->ceiling_kib));
	json_object_object_add(x, "host_reserve_kib", json_object_new_uint64(in->host_reserve_kib));
	if (d->node >= 0 && (size_t)d->node < in->n_cells && in->cells[d->node].host_known) {
		json_object_object_add(x, "host_nodes",
		                       json_object_new_string(in->cells[d->node].host_nodes));
		json_object_object_add(x, "host_free_kib",
		                       json_object_new_uint64(in->cells[d->node].host_free_kib));
	}
	json_object_object_add(o, "inputs", x);
	return o;
}

/* ---- inputs from a domain model ---- */

static void cell_supply(const struct host *h, const struct backing *b, uint64_t reserve,
                        struct policy_cell *out)
{
	struct select_supply sup;

	select_supply(h, b, reserve, &sup);
	out->host_free_kib = sup.free_kib;
	out->host_usable_kib = sup.usable_kib;
	if (sup.bound)
		nodeset_format(&sup.nodes, out->host_nodes, sizeof(out->host_nodes));
	else
		snprintf(out->host_nodes, sizeof(out->host_nodes), "any");
	/* a host read from capabilities alone has no free values to judge by */
	out->host_known = host_free_known(h, &sup.nodes, b->hugepages ? b->page_size_kib : 4);
}

size_t policy_cells(const struct domain *dom, const struct host *host, uint64_t step_kib,
                    uint64_t reserve_kib, struct policy_cell **out)
{
	struct policy_cell *cells = calloc(dom->n_cells ? dom->n_cells : 1, sizeof(*cells));

	*out = cells;
	if (cells == NULL)
		return 0;
	for (size_t i = 0; i < dom->n_cells; i++) {
		struct backing b;

		cells[i].id = (unsigned)i;
		cells[i].kib = dom->cells[i].memory_kib + domain_memdev_kib(dom, (int)i);
		if (backing_infer(dom, (unsigned)i, NULL, &b, NULL) < 0)
			continue;
		cells[i].align_kib = backing_align_kib(&b);
		if (host)
			cell_supply(host, &b, reserve_kib, &cells[i]);
	}
	return dom->n_cells;
}

/* Newest first, as select_shrink() chooses: later in the document is
 * newer (libvirt appends hot-plugged devices; slots are reused). */
size_t policy_dimms(const struct domain *dom, struct policy_dimm **out)
{
	struct policy_dimm *v = calloc(dom->n_memdevs ? dom->n_memdevs : 1, sizeof(*v));
	size_t n = 0;

	*out = v;
	if (v == NULL)
		return 0;
	for (size_t i = dom->n_memdevs; i-- > 0;) {
		const struct domain_memdev *m = &dom->memdevs[i];

		if (m->model != MEMDEV_DIMM || m->alias == NULL || m->target_node < 0)
			continue;
		v[n].node = (unsigned)m->target_node;
		v[n++].size_kib = m->size_kib;
	}
	return n;
}

/* ---- run-time overrides and <metadata> ---- */

void policy_overrides_clear(struct policy_overrides *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->v[i].key);
		free(o->v[i].value);
	}
	free(o->v);
	*o = (struct policy_overrides){0};
}

int policy_overrides_remove(struct policy_overrides *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(o->v[i].key, key) != 0)
			continue;
		free(o->v[i].key);
		free(o->v[i].value);
		memmove(&o->v[i], &o->v[i + 1], (o->n - i - 1) * sizeof(*o->v));
		o->n--;
		return 0;
	}
	return -ENOENT;
}

int policy_overrides_put(struct policy_overrides *o, const char *key, const char *value)
{
	char *v = strdup(value);
	struct policy_override *nv;

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(o->v[i].key, key) == 0) {
			free(o->v[i].value);
			o->v[i].value = v;
			return 0;
		}
	}
	nv = reallocarray(o->v, o->n + 1, sizeof(*o->v));
	if (nv == NULL || (nv[o->n].key = strdup(key)) == NULL) {
		if (nv)
			o->v = nv;
		free(v);
		return -ENOMEM;
	}
	o->v = nv;
	o->v[o->n++].value = v;
	return 0;
}

char *policy_metadata_format(const struct policy_overrides *o)
{
	xmlNodePtr node = xmlNewNode(NULL, BAD_CAST "policy");
	xmlBufferPtr buf = xmlBufferCreate();
	char *out = NULL;

	if (node == NULL || buf == NULL)
		goto done;
	for (size_t i = 0; i < o->n; i++)
		xmlSetProp(node, BAD_CAST o->v[i].key, BAD_CAST o->v[i].value);
	if (xmlNodeDump(buf, NULL, node, 0, 0) >= 0)
		out = strdup((const char *)xmlBufferContent(buf));
done:
	xmlBufferFree(buf);
	xmlFreeNode(node);
	return out;
}

int policy_metadata_parse(const char *xml, struct policy_overrides *o, char **err)
{
	xmlDocPtr doc;
	xmlNodePtr root;
	int rc = 0;

	policy_overrides_clear(o);
	doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
	                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return err_ret(err, -EINVAL, "<metadata> policy: not well-formed XML");
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "policy") != 0)
		rc = err_ret(err, -EINVAL, "<metadata>: expected a <policy> element");
	for (xmlAttrPtr a = root ? root->properties : NULL; a && rc == 0; a = a->next) {
		xmlChar *v;

		if (a->ns != NULL) /* xmlns:memplug and friends are not settings */
			continue;
		if (policy_key_find((const char *)a->name) == NULL) {
			rc = err_ret(err, -EINVAL, "<metadata> policy: unknown attribute '%s'",
			             (const char *)a->name);
			break;
		}
		v = xmlNodeGetContent((xmlNodePtr)a);
		rc = v ? policy_overrides_put(o, (const char *)a->name, (const char *)v) : -ENOMEM;
		xmlFree(v);
	}
	xmlFreeDoc(doc);
	if (rc < 0)
		policy_overrides_clear(o);
	return rc;
}
