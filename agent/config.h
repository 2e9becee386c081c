/*
 * memplugd's configuration: etc/memplugd.conf read with GLib's GKeyFile into
 * a plain struct. A reload parses into a new struct and the caller swaps it
 * in only when parsing succeeded, so a bad edit never disturbs a running
 * agent. Command-line options override the file.
 */
#ifndef MEMPLUG_CONFIG_H
#define MEMPLUG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "devmodel.h"
#include "log.h"
#include "policy.h" /* struct policy_settings */

struct policy_domain {
	char *name;
	struct policy_settings settings;
};

struct config {
	char *path; /* the file read, NULL when none */
	char *connect_uri;
	char *socket_path;
	char *socket_group; /* NULL: the agent's own group */
	mode_t socket_mode;
	char *admin_group; /* NULL: root only may change things */
	char *audit_log;
	uint64_t audit_rotate_kib;
	unsigned audit_keep;
	bool fail_closed;
	enum log_level log_level;
	uint64_t detach_timeout_ms;
	uint64_t host_reserve_kib;         /* kept free on every host node */
	enum devmodel_choice device_model; /* auto, dimm or virtio-mem */
	uint64_t policy_interval_ms;
	struct policy_settings policy; /* defaults for every domain */
	size_t n_domains;
	struct policy_domain *domains; /* [policy:NAME] sections */
};

/* A config holding the built-in defaults. Never fails (aborts on OOM). */
struct config *config_new_default(void);
/*
 * Reads `path` over the defaults. A missing file is an error only when
 * `must_exist`. Unknown groups or keys and bad values are refused with a
 * message naming the group, key and value.
 */
int config_load(const char *path, bool must_exist, struct config **out, char **err);
void config_free(struct config *cfg);

/* The settings for one domain: its [policy:NAME] section or the defaults. */
const struct policy_settings *config_policy_for(const struct config *cfg, const char *domain);

#endif
