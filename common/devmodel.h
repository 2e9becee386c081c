/*
 * Device models: "memory on a guest node" behind one interface, with two
 * implementations. A DIMM node grows by attaching a new DIMM (128 MiB
 * steps, one slot each) and shrinks by detaching whole DIMMs; a virtio-mem
 * node grows and shrinks by changing the <requested> size of the node's one
 * virtio-mem device, in its block size, without slots.
 *
 * The model of each guest node is chosen here, automatically (virtio-mem
 * where the node has a virtio-mem device, DIMM otherwise) or as forced by
 * the config or the command. select_grow.c, select_shrink.c, the agent's
 * execution (agent/ops.c, agent/ops_vmem.c), the policy and the audit log
 * read it from here. Pure: no libvirt calls; see docs/select.md.
 */
#ifndef MEMPLUG_DEVMODEL_H
#define MEMPLUG_DEVMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "backing.h"
#include "domain.h"

enum devmodel {
	DEVMODEL_DIMM,
	DEVMODEL_VIRTIO_MEM,
};

/* What the config (device_model) or a command (--model) asks for. */
enum devmodel_choice {
	DEVMODEL_AUTO, /* per node: virtio-mem where a device is, else DIMM */
	DEVMODEL_FORCE_DIMM,
	DEVMODEL_FORCE_VIRTIO_MEM,
};

/* virtio-mem's default block size (libvirt's and QEMU's for x86_64 THP). */
#define DEVMODEL_VMEM_BLOCK_KIB UINT64_C(2048)

/* One guest node as a device model sees it. */
struct devmodel_node {
	unsigned node;
	enum devmodel model;
	/* virtio-mem only: the node's device (index in dom->memdevs, its
	 * alias or NULL), its capacity and where it stands. */
	bool has_device;
	size_t memdev;
	const char *alias; /* borrowed from the domain */
	uint64_t size_kib;
	uint64_t block_kib; /* alignment: max(block, backing page size) */
	uint64_t requested_kib;
	uint64_t current_kib;
};

/* "dimm", "virtio-mem"; a static string. */
const char *devmodel_name(enum devmodel m);
/* "auto", "dimm", "virtio-mem"; a static string. */
const char *devmodel_choice_name(enum devmodel_choice c);
/* Parses "auto", "dimm" or "virtio-mem"; -EINVAL otherwise. */
int devmodel_choice_parse(const char *s, enum devmodel_choice *out);

/* The first virtio-mem device targeting guest node `node`, or NULL. */
const struct domain_memdev *devmodel_vmem_device(const struct domain *dom, unsigned node,
                                                 size_t *index);

/*
 * The model of guest node `node` under `choice`: forced, or virtio-mem when
 * the node has a virtio-mem device. Fills *out (its device and alignment
 * for virtio-mem; `b` is the node's backing, for the page size). Forcing
 * virtio-mem on a node without a device gives model virtio-mem with
 * has_device false: the caller refuses it (devmodel_refuse_no_device()).
 */
void devmodel_node(const struct domain *dom, unsigned node, enum devmodel_choice choice,
                   const struct backing *b, struct devmodel_node *out);

/* The step a node grows and shrinks by: DIMM: backing_align_kib();
 * virtio-mem: the device's block, at least the backing page size. */
uint64_t devmodel_align_kib(const struct devmodel_node *n, const struct backing *b);

/* What a virtio-mem node can still take: size - requested. */
uint64_t devmodel_vmem_room(const struct devmodel_node *n);

/* What the guest has plugged: <memory> with each virtio-mem device counted
 * at its <current> instead of its size. */
uint64_t devmodel_plugged_kib(const struct domain *dom);

/* What one virtio-mem device has plugged: its live <current> when `dom`
 * is a running domain's XML (it has an id), else its <requested>. */
uint64_t devmodel_vmem_plugged_kib(const struct domain *dom, const struct domain_memdev *m);

/* What is plugged on guest node `cell`: DIMMs and NVDIMMs at their size,
 * virtio-mem devices at devmodel_vmem_plugged_kib(), never their capacity. */
uint64_t devmodel_cell_plugged_kib(const struct domain *dom, unsigned cell);

/* Does any guest node of dom resolve to virtio-mem with a device? */
bool devmodel_has_vmem(const struct domain *dom, enum devmodel_choice choice);

/*
 * The device XML for virDomainUpdateDeviceFlags: the <memory
 * model='virtio-mem'> element of `domain_xml` that targets guest node `node`
 * (and has alias `alias` when non-NULL: the persistent definition carries
 * no libvirt-made alias), with <requested> set to `requested_kib` and
 * <current> dropped. *out is malloc'd. -ENOENT when there is no such
 * device, -EINVAL on unreadable XML.
 */
int devmodel_vmem_update_xml(const char *domain_xml, unsigned node, const char *alias,
                             uint64_t requested_kib, char **out, char **err);

#endif
