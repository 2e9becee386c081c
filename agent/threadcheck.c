/*
 * Which thread is the loop thread (see threadcheck.h): one thread-local
 * flag, set by the thread that creates the event loop.
 */
#include <stdlib.h>

#include "log.h"
#include "threadcheck.h"

static __thread bool on_loop;

void threadcheck_mark_loop(void)
{
	on_loop = true;
}

bool threadcheck_on_loop(void)
{
	return on_loop;
}

void threadcheck_fail(const char *want, const char *func, const char *file, int line)
{
	log_err("thread rule broken: %s (%s:%d) must run on %s", func, file, line, want);
	abort();
}
