/*
 * Crash points (see crashpoint.h): only a test build stops at them.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

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
/* Blocks the calling thread (a worker at every point) until the command
 * ends: the test decides what happens before memplugd goes on. */
static void crashpoint_exec(const char *op, const char *point)
{
	const char *cmd = getenv("MEMPLUG_TEST_EXEC");
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	GError *error = NULL;
	int status = 0;

	if (!crashpoint_matches(getenv("MEMPLUG_TEST_EXEC_AT"), op, point) || cmd == NULL)
		return;
	log_warn("exec point %s:%s: running '%s' (MEMPLUG_TEST_EXEC)", op, point, cmd);
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
	                  &error)) {
		log_warn("exec point %s:%s: %s", op, point, error->message);
		g_error_free(error);
		return;
	}
	log_warn("exec point %s:%s: the command ended (wait status %d)", op, point, status);
}

void crashpoint(const char *op, const char *point)
{
	crashpoint_exec(op, point);
	if (!crashpoint_matches(getenv("MEMPLUG_TEST_CRASH_AT"), op, point))
		return;
	log_warn("crash point %s:%s: SIGKILL (MEMPLUG_TEST_CRASH_AT)", op, point);
	raise(SIGKILL);
}
#endif
