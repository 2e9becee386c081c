/*
 * A tiny logger shared by memplugd and memplugctl: stderr in the foreground,
 * syslog otherwise. fatal() is for start-up only.
 */
#ifndef MEMPLUG_LOG_H
#define MEMPLUG_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_init(const char *ident, bool foreground, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * For messages a peer can trigger at will (a client flooding bad frames):
 * true while at most `burst` were allowed this second. When a new second
 * starts, it logs how many were held back in the last one. One per call site.
 */
struct log_ratelimit {
	long second;
	unsigned count;
	unsigned suppressed;
};
bool log_ratelimit(struct log_ratelimit *rl, unsigned burst);
/* Logs how many were held back since the last report (e.g. at shutdown). */
void log_ratelimit_flush(struct log_ratelimit *rl);

#define log_err(...)   log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
