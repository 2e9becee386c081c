/*
 * Crash points (see crashpoint.h): only a test build stops at them.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashpoint.h"
#include "log.h"

bool crashpoint_matches(const char *value, const char *op, const char *point)
{
	size_t n = strlen(op);

	if (value == NULL || *value == '\0')
		return false;
	if (strncmp(value, op, n) == 0 && value[n] == ':')
		value += n + 1;
	return strcmp(value, point) == 0;
}

#ifdef MEMPLUG_TEST_HOOKS
void crashpoint(const char *op, const char *point)
{
	if (!crashpoint_matches(getenv("MEMPLUG_TEST_CRASH_AT"), op, point))
		return;
	log_warn("crash point %s:%s: SIGKILL (MEMPLUG_TEST_CRASH_AT)", op, point);
	raise(SIGKILL);
}
#endif
