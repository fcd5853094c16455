/*
 * clock.c - the monotonic clock (clock.h).
 */
#include "clock.h"

#include <time.h>

double clock_monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail: CLOCK_MONOTONIC always exists on Linux */
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
