/*
 * Parses memplugd.conf with GKeyFile (see config.h). Every key is known in
 * advance; anything else in the file is refused so a typo cannot silently
 * leave a default in force.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "buildconf.h"
#include "config.h"
#include "duration.h"
#include "err.h"
#include "metrics.h"
#include "size.h"

#define GROUP_MAIN          "memplugd"
#define GROUP_POLICY        "policy"
#define GROUP_POLICY_PREFIX "policy:"

static char *xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && d == NULL)
		abort();
	return d;
}

static void policy_defaults(struct policy_settings *s)
{
	*s = (struct policy_settings){
	        .enabled = false,
	        .low_free = {.percent = true, .value = 10},
	        .high_free = {.percent = true, .value = 30},
	        .step_kib = 256 * 1024,
	        .cooldown_ms = 10000,
	        .settle_ms = 30000,
	};
}

struct config *config_new_default(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		abort();
	cfg->connect_uri = xstrdup("qemu:///system");
	cfg->socket_path = xstrdup(MEMPLUG_SOCKET);
	cfg->socket_mode = 0660;
	cfg->audit_log = xstrdup(MEMPLUG_AUDIT_LOG);
	cfg->audit_rotate_kib = 16 * 1024;
	cfg->audit_keep = 5;
	cfg->fail_closed = true;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->detach_timeout_ms = 30000;
	cfg->host_reserve_kib = 256 * 1024;
	cfg->policy_interval_ms = 2000;
	cfg->client_frame_timeout_ms = 10000;
	policy_defaults(&cfg->policy);
	return cfg;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_domains; i++)
		free(cfg->domains[i].name);
	free(cfg->domains);
	free(cfg->path);
	free(cfg->connect_uri);
	free(cfg->socket_path);
	free(cfg->socket_group);
	free(cfg->admin_group);
	free(cfg->audit_log);
	free(cfg->metrics_listen);
	free(cfg);
}

static int set_string(char **slot, const char *value)
{
	free(*slot);
	*slot = *value ? xstrdup(value) : NULL;
	return 0;
}

static int set_mode(mode_t *slot, const char *value, char **err)
{
	char *end;
	unsigned long v = strtoul(value, &end, 8);

	if (*value == '\0' || *end != '\0' || v > 0777)
		return err_ret(err, -EINVAL, "'%s' is not an octal file mode", value);
	*slot = (mode_t)v;
	return 0;
}

static int set_unsigned(unsigned *slot, const char *value, uint64_t max, char **err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (*value < '0' || *value > '9' || *end != '\0' || errno != 0 || v > max)
		return err_ret(err, -EINVAL, "'%s' is not a number from 0 to %" PRIu64, value, max);
	*slot = (unsigned)v;
	return 0;
}

/* Sizes in KiB; the bounds keep later arithmetic (bytes, sums) from overflowing. */
static int set_size(uint64_t *slot, const char *value, uint64_t min, uint64_t max, char **err)
{
	char lo[SIZE_FORMAT_MAX], hi[SIZE_FORMAT_MAX];
	uint64_t v;
	int rc = size_parse(value, &v, err);

	if (rc < 0)
		return rc;
	if (v < min || v > max)
		return err_ret(err, -ERANGE, "'%s' is out of range: from %s to %s", value,
		               size_format(min, lo, sizeof(lo)), size_format(max, hi, sizeof(hi)));
	*slot = v;
	return 0;
}

static int set_level(enum log_level *slot, const char *value, char **err)
{
	if (log_level_parse(value, slot) < 0)
		return err_ret(err, -EINVAL, "'%s' is not error, warning, info or debug", value);
	return 0;
}

enum key_type {
	KEY_STRING,
	KEY_MODE,
	KEY_UNSIGNED,
	KEY_SIZE,
	KEY_BOOL,
	KEY_LEVEL,
	KEY_DURATION,
	KEY_LISTEN, /* ADDR:PORT, numeric (metrics_listen_parse()); empty: off */
};

static int set_listen(char **slot, const char *value, char **err)
{
	int rc = *value ? metrics_listen_parse(value, NULL, NULL, err) : 0;

	return rc < 0 ? rc : set_string(slot, value);
}

/*
 * Every [memplugd] key: where it goes and what it may hold. Durations in
 * ms, sizes in KiB. The bounds are what a sane agent can act on: a timer
 * of 2^64-1 ms wraps libevent's clock, a size in bytes must fit 64 bits.
 * docs/memplugd.conf.5 lists the same bounds.
 */
static const struct main_key_def {
	const char *key;
	enum key_type type;
	size_t offset;
	uint64_t min, max;
} main_keys[] = {
        {"connect", KEY_STRING, offsetof(struct config, connect_uri), 0, 0},
        {"socket", KEY_STRING, offsetof(struct config, socket_path), 0, 0},
        {"socket_group", KEY_STRING, offsetof(struct config, socket_group), 0, 0},
        {"socket_mode", KEY_MODE, offsetof(struct config, socket_mode), 0, 0777},
        {"admin_group", KEY_STRING, offsetof(struct config, admin_group), 0, 0},
        {"audit_log", KEY_STRING, offsetof(struct config, audit_log), 0, 0},
        {"audit_rotate_size", KEY_SIZE, offsetof(struct config, audit_rotate_kib), 0,
         CONFIG_AUDIT_ROTATE_MAX_KIB},
        {"audit_keep", KEY_UNSIGNED, offsetof(struct config, audit_keep), 0, 1000},
        {"fail_closed", KEY_BOOL, offsetof(struct config, fail_closed), 0, 1},
        {"log_level", KEY_LEVEL, offsetof(struct config, log_level), 0, 0},
        {"detach_timeout", KEY_DURATION, offsetof(struct config, detach_timeout_ms), 0,
         CONFIG_DETACH_TIMEOUT_MAX_MS},
        {"host_reserve", KEY_SIZE, offsetof(struct config, host_reserve_kib), 0,
         CONFIG_HOST_RESERVE_MAX_KIB},
        {"policy_interval", KEY_DURATION, offsetof(struct config, policy_interval_ms),
         CONFIG_POLICY_INTERVAL_MIN_MS, CONFIG_POLICY_INTERVAL_MAX_MS},
        {"client_frame_timeout", KEY_DURATION, offsetof(struct config, client_frame_timeout_ms),
         CONFIG_FRAME_TIMEOUT_MIN_MS, CONFIG_FRAME_TIMEOUT_MAX_MS},
        {"metrics_listen", KEY_LISTEN, offsetof(struct config, metrics_listen), 0, 0},
};

static int main_key(struct config *cfg, const char *key, const char *value, char **err)
{
	const struct main_key_def *k = NULL;
	void *slot;

	for (size_t i = 0; i < sizeof(main_keys) / sizeof(main_keys[0]) && k == NULL; i++)
		if (strcmp(main_keys[i].key, key) == 0)
			k = &main_keys[i];
	if (k == NULL)
		return err_ret(err, -EINVAL, "unknown key");
	slot = (char *)cfg + k->offset;
	switch (k->type) {
	case KEY_STRING:
		return set_string(slot, value);
	case KEY_MODE:
		return set_mode(slot, value, err);
	case KEY_UNSIGNED:
		return set_unsigned(slot, value, k->max, err);
	case KEY_SIZE:
		return set_size(slot, value, k->min, k->max, err);
	case KEY_BOOL:
		return policy_bool_parse(value, slot, err);
	case KEY_LEVEL:
		return set_level(slot, value, err);
	case KEY_DURATION:
		return duration_parse_range(value, k->min, k->max, slot, err);
	case KEY_LISTEN:
		return set_listen(slot, value, err);
	}
	return -EINVAL;
}

static struct policy_settings *policy_domain_add(struct config *cfg, const char *name)
{
	struct policy_domain *d;

	cfg->domains = reallocarray(cfg->domains, cfg->n_domains + 1, sizeof(*cfg->domains));
	if (cfg->domains == NULL)
		abort();
	d = &cfg->domains[cfg->n_domains++];
	d->name = xstrdup(name);
	d->settings = cfg->policy;
	return &d->settings;
}

/* Applies every key of one group through `apply`; errors name the place. */
static int group_apply(GKeyFile *kf, const char *group, struct config *cfg,
                       struct policy_settings *ps, char **err)
{
	gchar **keys = g_key_file_get_keys(kf, group, NULL, NULL);
	int rc = 0;

	for (size_t i = 0; keys && keys[i] && rc == 0; i++) {
		gchar *value = g_key_file_get_string(kf, group, keys[i], NULL);
		char *why = NULL;

		if (value == NULL)
			rc = err_ret(&why, -EINVAL, "not a valid string");
		else
			rc = ps ? policy_settings_apply(ps, keys[i], value, &why)
			        : main_key(cfg, keys[i], value, &why);
		if (rc < 0)
			err_set(err, "[%s] %s = %s: %s", group, keys[i], value ? value : "",
			        why ? why : "invalid");
		free(why);
		g_free(value);
	}
	g_strfreev(keys);
	return rc < 0 ? -EINVAL : 0;
}

static int config_parse(GKeyFile *kf, struct config *cfg, char **err)
{
	gchar **groups = g_key_file_get_groups(kf, NULL);
	int rc = 0;

	/* [policy] first: the per-domain sections start from its values. */
	if (g_key_file_has_group(kf, GROUP_POLICY))
		rc = group_apply(kf, GROUP_POLICY, cfg, &cfg->policy, err);
	for (size_t i = 0; groups[i] && rc == 0; i++) {
		const char *g = groups[i];

		if (strcmp(g, GROUP_MAIN) == 0)
			rc = group_apply(kf, g, cfg, NULL, err);
		else if (strncmp(g, GROUP_POLICY_PREFIX, strlen(GROUP_POLICY_PREFIX)) == 0 &&
		         g[strlen(GROUP_POLICY_PREFIX)] != '\0')
			rc = group_apply(kf, g, cfg,
			                 policy_domain_add(cfg, g + strlen(GROUP_POLICY_PREFIX)),
			                 err);
		else if (strcmp(g, GROUP_POLICY) != 0)
			rc = err_ret(err, -EINVAL,
			             "unknown section [%s] (memplugd, policy, policy:DOMAIN)", g);
	}
	g_strfreev(groups);
	return rc;
}

static int policy_check_all(const struct config *cfg, char **err)
{
	char *why = NULL;
	int rc = policy_settings_check(&cfg->policy, &why);

	if (rc < 0)
		err_set(err, "[%s]: %s", GROUP_POLICY, why);
	for (size_t i = 0; i < cfg->n_domains && rc == 0; i++) {
		rc = policy_settings_check(&cfg->domains[i].settings, &why);
		if (rc < 0)
			err_set(err, "[%s%s]: %s", GROUP_POLICY_PREFIX, cfg->domains[i].name, why);
	}
	free(why);
	return rc;
}

/* Applies a loaded key file over the defaults; takes cfg (freed on error). */
static int config_finish(GKeyFile *kf, struct config *cfg, struct config **out, char **err)
{
	int rc = config_parse(kf, cfg, err);

	if (rc == 0)
		rc = policy_check_all(cfg, err);
	if (rc < 0) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int config_load(const char *path, bool must_exist, struct config **out, char **err)
{
	GKeyFile *kf = g_key_file_new();
	GError *gerr = NULL;
	struct config *cfg = config_new_default();
	int rc;

	if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
		cfg->path = xstrdup(path);
		rc = config_finish(kf, cfg, out, err);
	} else if (!must_exist && g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		*out = cfg;
		rc = 0;
	} else {
		config_free(cfg);
		rc = err_ret(err, -EINVAL, "%s: %s", path, gerr->message);
	}
	if (gerr)
		g_error_free(gerr);
	g_key_file_free(kf);
	return rc;
}

int config_load_data(const char *data, size_t len, struct config **out, char **err)
{
	GKeyFile *kf = g_key_file_new();
	GError *gerr = NULL;
	int rc;

	if (g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &gerr)) {
		rc = config_finish(kf, config_new_default(), out, err);
	} else {
		rc = err_ret(err, -EINVAL, "%s", gerr->message);
		g_error_free(gerr);
	}
	g_key_file_free(kf);
	return rc;
}

const struct policy_settings *config_policy_for(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->n_domains; i++)
		if (strcmp(cfg->domains[i].name, domain) == 0)
			return &cfg->domains[i].settings;
	return &cfg->policy;
}
