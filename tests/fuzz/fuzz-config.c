/*
 * libFuzzer target: memplugd.conf parsing (agent/config.c through GKeyFile
 * and common/policy.c's settings), from memory. A config either loads
 * within its bounds or is refused with a message.
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char *err = NULL;

	if (config_load_data((const char *)data, size, &cfg, &err) == 0) {
		if (cfg->detach_timeout_ms > CONFIG_DETACH_TIMEOUT_MAX_MS ||
		    cfg->policy_interval_ms < CONFIG_POLICY_INTERVAL_MIN_MS ||
		    cfg->policy_interval_ms > CONFIG_POLICY_INTERVAL_MAX_MS)
			abort(); /* a bound let a value through */
		for (size_t i = 0; i < cfg->n_domains; i++)
			(void)config_policy_for(cfg, cfg->domains[i].name);
	}
	config_free(cfg);
	free(err);
	return 0;
}
