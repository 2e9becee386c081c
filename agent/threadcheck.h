/*
 * The agent's thread rule, stated in code. The thread that creates the
 * event loop (evloop_new()) is the loop thread: it owns the domain views,
 * the queues, the control clients and the policy state, and must never
 * block. Backend calls that can wait on a guest, libvirtd or a remote host
 * run only on worker threads.
 *
 * assert_loop_thread() goes at the top of loop-only functions,
 * assert_worker_thread() at the top of blocking ones. They abort with the
 * function's name when broken. They are compiled in when MEMPLUG_THREAD_CHECKS
 * is defined (the sanitizer build, or -Dthread_checks=true) and are empty
 * otherwise; marking the loop thread is one thread-local store either way.
 */
#ifndef MEMPLUG_THREADCHECK_H
#define MEMPLUG_THREADCHECK_H

#include <stdbool.h>

/* This thread runs the event loop from now on (evloop_new() calls it). */
void threadcheck_mark_loop(void);
/* Whether the calling thread is the loop thread. */
bool threadcheck_on_loop(void);

/* Logs which rule `func` broke and aborts. */
void threadcheck_fail(const char *want, const char *func, const char *file, int line)
        __attribute__((noreturn));

#ifdef MEMPLUG_THREAD_CHECKS
#define assert_loop_thread()                                                                       \
	((void)(threadcheck_on_loop() ||                                                           \
	        (threadcheck_fail("the loop thread", __func__, __FILE__, __LINE__), 0)))
#define assert_worker_thread()                                                                     \
	((void)(!threadcheck_on_loop() ||                                                          \
	        (threadcheck_fail("a worker thread", __func__, __FILE__, __LINE__), 0)))
#define THREADCHECK_ENABLED 1
#else
#define assert_loop_thread()   ((void)0)
#define assert_worker_thread() ((void)0)
#define THREADCHECK_ENABLED    0
#endif

#endif
