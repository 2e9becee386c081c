/*
 * Parses memplugd.conf with GKeyFile (see config.h). Every key is known in
 * advance; anything else in the file is refused so a typo cannot silently
 * leave a default in force.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "buildconf.h"
#include "config.h"
#include "duration.h"
#include "err.h"
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

static int set_unsigned(unsigned *slot, const char *value, unsigned max, char **err)
{
	char *end;
	unsigned long v = strtoul(value, &end, 10);

	if (*value < '0' || *value > '9' || *end != '\0' || v > max)
		return err_ret(err, -EINVAL, "'%s' is not a number from 0 to %u", value, max);
	*slot = (unsigned)v;
	return 0;
}

static int main_key(struct config *cfg, const char *key, const char *value, char **err)
{
	if (strcmp(key, "connect") == 0)
		return set_string(&cfg->connect_uri, value);
	if (strcmp(key, "socket") == 0)
		return set_string(&cfg->socket_path, value);
	if (strcmp(key, "socket_group") == 0)
		return set_string(&cfg->socket_group, value);
	if (strcmp(key, "socket_mode") == 0)
		return set_mode(&cfg->socket_mode, value, err);
	if (strcmp(key, "admin_group") == 0)
		return set_string(&cfg->admin_group, value);
	if (strcmp(key, "audit_log") == 0)
		return set_string(&cfg->audit_log, value);
	if (strcmp(key, "audit_rotate_size") == 0)
		return size_parse(value, &cfg->audit_rotate_kib, err);
	if (strcmp(key, "audit_keep") == 0)
		return set_unsigned(&cfg->audit_keep, value, 1000, err);
	if (strcmp(key, "fail_closed") == 0)
		return policy_bool_parse(value, &cfg->fail_closed, err);
	if (strcmp(key, "log_level") == 0)
		return log_level_parse(value, &cfg->log_level) == 0
		               ? 0
		               : err_ret(err, -EINVAL, "'%s' is not error, warning, info or debug",
		                         value);
	if (strcmp(key, "detach_timeout") == 0)
		return duration_parse(value, &cfg->detach_timeout_ms, err);
	if (strcmp(key, "host_reserve") == 0)
		return size_parse(value, &cfg->host_reserve_kib, err);
	if (strcmp(key, "device_model") == 0)
		return devmodel_choice_parse(value, &cfg->device_model) == 0
		               ? 0
		               : err_ret(err, -EINVAL, "'%s' is not auto, dimm or virtio-mem",
		                         value);
	if (strcmp(key, "policy_interval") == 0)
		return duration_parse(value, &cfg->policy_interval_ms, err) < 0 ? -EINVAL
		       : cfg->policy_interval_ms == 0 ? err_ret(err, -EINVAL, "must be above 0")
		                                      : 0;
	return err_ret(err, -EINVAL, "unknown key");
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
	return rc;
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

int config_load(const char *path, bool must_exist, struct config **out, char **err)
{
	GKeyFile *kf = g_key_file_new();
	GError *gerr = NULL;
	struct config *cfg = config_new_default();
	int rc = 0;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
		if (!must_exist && g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			goto done;
		rc = err_ret(err, -EINVAL, "%s: %s", path, gerr->message);
		goto done;
	}
	cfg->path = xstrdup(path);
	if ((rc = config_parse(kf, cfg, err)) < 0)
		goto done;
	rc = policy_check_all(cfg, err);
done:
	if (gerr)
		g_error_free(gerr);
	g_key_file_free(kf);
	if (rc < 0) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

const struct policy_settings *config_policy_for(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->n_domains; i++)
		if (strcmp(cfg->domains[i].name, domain) == 0)
			return &cfg->domains[i].settings;
	return &cfg->policy;
}
