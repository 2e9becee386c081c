/* Runs the bed's shell harness from C tests: every call is one
 * `bed SUBCOMMAND ...` run through GLib, with stdout captured and stderr
 * passed through, so a failing test shows the harness's own diagnostics. */
#include "bed-client.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *bed_path(void)
{
	const char *p = getenv("BED");

	return p && *p ? p : BED_PATH;
}

/* argv[0] is filled in here; *out (may be NULL) gets stdout, owned by the
 * caller (free()), with trailing newlines cut. */
static int bed_run(char **argv, char **out)
{
	g_autoptr(GError) error = NULL;
	char *stdout_buf = NULL;
	int status = 0;

	argv[0] = (char *)bed_path();
	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, &stdout_buf,
	                  NULL, &status, &error)) {
		g_printerr("bed: cannot run %s: %s\n", argv[0], error->message);
		return -ENOENT;
	}
	g_strchomp(stdout_buf);
	if (out)
		*out = strdup(stdout_buf);
	g_free(stdout_buf);
	if (out && !*out)
		return -ENOMEM;
	return g_spawn_check_wait_status(status, NULL) ? 0 : -EIO;
}

static int bed_number(char **argv, long *value)
{
	char *out = NULL, *end = NULL;
	int rc = bed_run(argv, &out);

	if (rc == 0) {
		errno = 0;
		*value = strtol(out, &end, 10);
		if (errno || end == out || *end)
			rc = -EPROTO;
	}
	free(out);
	return rc;
}

int bed_boot(const char *template_name, const char *name)
{
	char *argv[] = {NULL, "boot", (char *)template_name, (char *)name, NULL};

	return bed_run(argv, NULL);
}

int bed_memtotal(const char *name, int node, long *kb)
{
	char node_s[16];
	char *argv[] = {NULL, "memtotal", (char *)name, node_s, NULL};

	snprintf(node_s, sizeof(node_s), "%d", node);
	return bed_number(argv, kb);
}

int bed_avail(const char *name, long *kb)
{
	char *argv[] = {NULL, "avail", (char *)name, NULL};

	return bed_number(argv, kb);
}

int bed_cmd(const char *name, const char *command, char **reply)
{
	char *argv[] = {NULL, "cmd", (char *)name, (char *)command, NULL};
	char *out = NULL;
	int rc = bed_run(argv, &out);

	/* bed exits 1 both for "err ..." answers and for no answer at all. */
	if (rc == -EIO && out && strncmp(out, "err", 3) == 0)
		rc = -EPROTO;
	if (reply)
		*reply = out;
	else
		free(out);
	return rc;
}

int bed_teardown(const char *name)
{
	char *argv[] = {NULL, "teardown", (char *)name, NULL};

	return bed_run(argv, NULL);
}
