/*
 * memplugd's configuration: etc/memplugd.conf read with GLib's GKeyFile into
 * a plain struct. A reload parses into a new struct and the caller swaps it
 * in only when parsing succeeded, so a bad edit never disturbs a running
 * agent. Command-line options override the file.
 */
#ifndef MEMPLUG_CONFIG_H
#define MEMPLUG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
	uint64_t host_reserve_kib; /* kept free on every host node */
	uint64_t policy_interval_ms;
	uint64_t client_frame_timeout_ms; /* a client's frame must arrive whole within this */
	char *metrics_listen;             /* "ADDR:PORT" of the metrics endpoint; NULL: off */
	struct policy_settings policy;    /* defaults for every domain */
	size_t n_domains;
	struct policy_domain *domains; /* [policy:NAME] sections */
};

/* Bounds of the [memplugd] keys (memplugd.conf(5) lists them). */
#define CONFIG_DETACH_TIMEOUT_MAX_MS  (UINT64_C(3600) * 1000)        /* 1h */
#define CONFIG_POLICY_INTERVAL_MIN_MS UINT64_C(100)                  /* 100ms */
#define CONFIG_POLICY_INTERVAL_MAX_MS (UINT64_C(3600) * 1000)        /* 1h */
#define CONFIG_FRAME_TIMEOUT_MIN_MS   UINT64_C(100)                  /* 100ms */
#define CONFIG_FRAME_TIMEOUT_MAX_MS   (UINT64_C(600) * 1000)         /* 10m */
#define CONFIG_AUDIT_ROTATE_MAX_KIB   (UINT64_C(64) * 1024 * 1024)   /* 64G */
#define CONFIG_HOST_RESERVE_MAX_KIB   (UINT64_C(1024) * 1024 * 1024) /* 1T */

/* A config holding the built-in defaults. Never fails (aborts on OOM). */
struct config *config_new_default(void);
/*
 * Reads `path` over the defaults. A missing file is an error only when
 * `must_exist`. Unknown groups or keys and bad values are refused with a
 * message naming the group, key and value.
 */
int config_load(const char *path, bool must_exist, struct config **out, char **err);
/* As config_load(), from len bytes of text in memory (cfg->path stays NULL). */
int config_load_data(const char *data, size_t len, struct config **out, char **err);
void config_free(struct config *cfg);

/* The settings for one domain: its [policy:NAME] section or the defaults. */
const struct policy_settings *config_policy_for(const struct config *cfg, const char *domain);

#endif
