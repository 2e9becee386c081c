/*
 * The logger behind log.h. Messages below the configured level are dropped
 * before formatting; the rest go to stderr or syslog, one line each.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "memplug";
static bool log_foreground = true;
static enum log_level log_level = LOG_LEVEL_INFO;

static const char *const log_names[] = {"error", "warning", "info", "debug"};
static const int log_priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void log_init(const char *ident, bool foreground, enum log_level level)
{
	log_ident = ident;
	log_foreground = foreground;
	log_level = level;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

__attribute__((format(printf, 2, 0))) static void log_vmsg(enum log_level level, const char *fmt,
                                                           va_list ap)
{
	if (level > log_level)
		return;
	if (log_foreground) {
		flockfile(stderr);
		fprintf(stderr, "%s: %s: ", log_ident, log_names[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	} else {
		vsyslog(log_priorities[level], fmt, ap);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_ratelimit_flush(struct log_ratelimit *rl)
{
	if (rl->suppressed)
		log_warn("%u similar messages suppressed", rl->suppressed);
	rl->suppressed = 0;
}

bool log_ratelimit(struct log_ratelimit *rl, unsigned burst)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec != rl->second) {
		log_ratelimit_flush(rl);
		rl->second = now.tv_sec;
		rl->count = 0;
	}
	if (rl->count < burst) {
		rl->count++;
		return true;
	}
	rl->suppressed++;
	return false;
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
