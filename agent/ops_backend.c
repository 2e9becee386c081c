/*
 * Dispatches the operations' outside calls (see ops_backend.h) to the
 * installed backend, or to libvirt and the real host by default.
 */
#include "ops_backend.h"
#include "agent.h"

int ops_backend_domain_xml(struct agent *a, const char *name, unsigned flags, char **xml,
                           char **err)
{
	if (a->backend)
		return a->backend->domain_xml(a->backend_ctx, name, flags, xml, err);
	return virt_domain_xml(a->virt, name, flags, xml, err);
}

int ops_backend_persistent(struct agent *a, const char *name, bool *persistent)
{
	if (a->backend)
		return a->backend->persistent(a->backend_ctx, name, persistent);
	return virt_domain_persistent(a->virt, name, persistent);
}

int ops_backend_attach(struct agent *a, const char *name, const char *xml, unsigned flags,
                       char **err)
{
	if (a->backend)
		return a->backend->attach(a->backend_ctx, name, xml, flags, err);
	return virt_attach(a->virt, name, xml, flags, err);
}

int ops_backend_detach_alias(struct agent *a, const char *name, const char *alias, unsigned flags,
                             char **err)
{
	if (a->backend)
		return a->backend->detach_alias(a->backend_ctx, name, alias, flags, err);
	return virt_detach_alias(a->virt, name, alias, flags, err);
}

int ops_backend_host(struct agent *a, struct host **out, char **err)
{
	if (a->backend)
		return a->backend->host(a->backend_ctx, out, err);
	return host_snapshot(out, err);
}
