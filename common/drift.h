/*
 * Drift: the memory devices on which a running domain's live definition
 * and its persistent (inactive) one disagree. They drift apart when a
 * change is made to one of them only: the policy's moves (live only, see
 * docs/policy.md), `virsh attach-device --live`, `virsh detach-device-alias
 * --live`, a `--config` edit while the guest runs. A pure comparison of two
 * domain models; the agent reads both definitions and memplugctl renders
 * the result.
 *
 * Matching (docs/protocol.md, "drift"): two devices are the same device
 * when they have the same model, guest node and size and, in this order of
 * preference, (1) both carry the same alias, (2) both carry the same DIMM
 * slot, (3) nothing tells them apart: not two different aliases, not two
 * different slots. Each pass pairs in document order. Aliases decide only
 * where both definitions give one, because libvirt writes its own aliases
 * ("dimm0", "virtiomem1") into the live definition only; slots decide only
 * where both give one, for the same reason. Matched virtio-mem devices are
 * then compared on their requested size.
 */
#ifndef MEMPLUG_DRIFT_H
#define MEMPLUG_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain.h"

/* A device present in one definition only. */
struct drift_device {
	enum memdev_model model;
	char *alias; /* NULL when that definition gives none */
	int node;    /* <target><node>, -1 when absent */
	uint64_t size_kib;
	bool has_slot;
	unsigned slot;
};

/* A virtio-mem device in both definitions whose requested sizes differ. */
struct drift_requested {
	char *alias; /* the live alias, else the persistent one, else NULL */
	int node;
	uint64_t size_kib;
	uint64_t live_kib;   /* <requested> in the live definition */
	uint64_t config_kib; /* <requested> in the persistent definition */
};

struct drift {
	size_t n_only_live; /* in the running guest only: gone when it stops */
	struct drift_device *only_live;
	size_t n_only_config; /* in the persistent definition only: back at the next start */
	struct drift_device *only_config;
	size_t n_requested;
	struct drift_requested *requested;
};

/*
 * Compares the live model with the persistent one. On success *out owns a
 * new struct drift (drift_free()); lists are in document order (live order
 * for only_live and requested, persistent order for only_config). Returns
 * 0, or -ENOMEM.
 */
int drift_compare(const struct domain *live, const struct domain *config, struct drift **out);
/* True when the two definitions agree on every memory device. */
bool drift_none(const struct drift *d);
void drift_free(struct drift *d);

#endif
