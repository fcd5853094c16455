/*
 * tap.h - the smallest Test Anything Protocol emitter the C unit tests need.
 *
 * Each check prints "ok N - name" or "not ok N - name"; tap_done() prints the
 * plan and returns the exit status.  Automake's tap-driver counts every line,
 * so tests/run can report how many checks passed, not merely how many programs.
 */
#ifndef LLMCHAT_TESTS_TAP_H
#define LLMCHAT_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_count;
static int tap_failed;

/* Records one check: prints ok/not ok with a printf-style name. Returns cond. */
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

/* Records one check that did not run: "ok N # SKIP reason" (counted, never a failure). */
static inline void tap_skip(const char *fmt, ...)
{
	va_list ap;
	tap_count++;
	printf("ok %d # SKIP ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* A diagnostic line that the driver shows but does not count. */
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Prints the plan; the program's exit status is non-zero when a check failed. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
