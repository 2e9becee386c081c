/*
 * Where memplugctl finds the audit log when it reads it itself (`log`
 * without the agent, `log verify`): the running agent knows, else
 * memplugd.conf says (key audit_log of group [memplugd]), else the built-in
 * default. Every answer says where it came from, for the messages.
 */
#ifndef MEMPLUG_LOGPATH_H
#define MEMPLUG_LOGPATH_H

#include <stdbool.h>

struct logpath {
	char *path; /* the audit log */
	char *from; /* "memplugd at SOCKET", "audit_log in CONF", "built-in default (...)" */
};

/*
 * Fills `lp` (logpath_clear frees it). `socket` NULL: do not ask the agent.
 * `conf` is memplugd's configuration file. Fails (with *err) only when the
 * configuration exists and cannot be read or sets no audit log.
 */
int logpath_find(const char *socket, const char *conf, struct logpath *lp, char **err);
void logpath_clear(struct logpath *lp);

/* Whether the log or any rotated file of it exists: a missing log is an
 * error for every reader, never an empty log. */
bool logpath_exists(const char *path);

#endif
