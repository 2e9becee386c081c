/*
 * Finds the audit log for memplugctl's offline readers (see logpath.h).
 * The configuration is read with GKeyFile, as memplugd reads it; only the
 * one key is looked at, memplugd itself checks the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "buildconf.h"
#include "client.h"
#include "err.h"
#include "logpath.h"
#include "record.h"

/* The agent's own answer, from `status`; NULL when it does not run. */
static char *logpath_from_agent(const char *socket)
{
	struct client *c = NULL;
	struct proto_reply *reply = NULL;
	json_object *audit, *path;
	char *out = NULL;

	if (client_connect(socket, 2000, &c, NULL) == 0 &&
	    client_call(c, "status", NULL, &reply, NULL) == 0 && reply->ok &&
	    json_object_object_get_ex(reply->data, "audit", &audit) &&
	    json_object_object_get_ex(audit, "path", &path) &&
	    json_object_is_type(path, json_type_string))
		out = strdup(json_object_get_string(path));
	proto_reply_free(reply);
	client_free(c);
	return out;
}

static int logpath_from_conf(const char *conf, struct logpath *lp, char **err)
{
	GKeyFile *kf = g_key_file_new();
	GError *gerr = NULL;
	char *value = NULL;
	int rc = 0;

	if (!g_key_file_load_from_file(kf, conf, G_KEY_FILE_NONE, &gerr)) {
		if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			lp->from = g_strdup_printf("built-in default; %s does not exist", conf);
		else
			rc = err_ret(err, -EINVAL, "%s: %s", conf, gerr->message);
	} else if ((value = g_key_file_get_string(kf, "memplugd", "audit_log", NULL)) == NULL) {
		lp->from = g_strdup_printf("built-in default; %s does not set audit_log", conf);
	} else if (*value == '\0') {
		rc = err_ret(err, -ENOENT,
		             "%s sets an empty audit_log: memplugd writes no audit log", conf);
	} else {
		lp->path = strdup(value);
		lp->from = g_strdup_printf("audit_log in %s", conf);
	}
	g_free(value);
	g_clear_error(&gerr);
	g_key_file_free(kf);
	return rc;
}

int logpath_find(const char *socket, const char *conf, struct logpath *lp, char **err)
{
	memset(lp, 0, sizeof(*lp));
	if (socket && (lp->path = logpath_from_agent(socket)) != NULL) {
		lp->from = g_strdup_printf("memplugd at %s", socket);
		return 0;
	}
	if (logpath_from_conf(conf, lp, err) < 0) {
		logpath_clear(lp);
		return -EINVAL;
	}
	if (lp->path == NULL)
		lp->path = strdup(MEMPLUG_AUDIT_LOG);
	return 0;
}

void logpath_clear(struct logpath *lp)
{
	free(lp->path);
	g_free(lp->from);
	memset(lp, 0, sizeof(*lp));
}

bool logpath_exists(const char *path)
{
	char **files = NULL;
	size_t n = 0;

	if (record_log_files(path, &files, &n, NULL) < 0)
		return false;
	record_files_free(files, n);
	return n > 0;
}
