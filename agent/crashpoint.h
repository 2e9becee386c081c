/*
 * Crash points for the crash-consistency tests: in a test build
 * (MEMPLUG_TEST_HOOKS: the sanitizer build, or -Dtest_hooks=true), memplugd
 * kills itself with SIGKILL when it reaches the point that the environment
 * variable MEMPLUG_TEST_CRASH_AT names, exactly as `kill -9` at that moment
 * would. The value is "OP:POINT" (e.g. "shrink:after-live-detach") or a bare
 * POINT for either operation. A release build compiles the calls away.
 * docs/testing.md lists the points.
 *
 * The same points can run a command instead (MEMPLUG_TEST_EXEC_AT names the
 * point, MEMPLUG_TEST_EXEC the /bin/sh command): memplugd waits for it and
 * goes on, so a test can act at an exact moment (e.g. kill libvirtd right
 * after a detach request went to QEMU).
 */
#ifndef MEMPLUG_CRASHPOINT_H
#define MEMPLUG_CRASHPOINT_H

#include <stdbool.h>

/* Whether `op`:`point` is the one named by MEMPLUG_TEST_CRASH_AT (pure:
 * the value is passed in, for the unit tests). */
bool crashpoint_matches(const char *value, const char *op, const char *point);

#ifdef MEMPLUG_TEST_HOOKS
/* Runs MEMPLUG_TEST_EXEC to its end when MEMPLUG_TEST_EXEC_AT names
 * op:point; then SIGKILLs the process when MEMPLUG_TEST_CRASH_AT does. */
void crashpoint(const char *op, const char *point);
#define CRASHPOINTS_ENABLED 1
#else
#define crashpoint(op, point) ((void)(op), (void)(point))
#define CRASHPOINTS_ENABLED   0
#endif

#endif
