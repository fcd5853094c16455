/*
 * clock.h - the monotonic clock, in seconds, for durations (rates, progress,
 * benchmarks): it never jumps when the wall clock is set.
 */
#ifndef LLMCHAT_CLOCK_H
#define LLMCHAT_CLOCK_H

/* Seconds since some fixed point in the past (CLOCK_MONOTONIC); only differences mean
 * anything. */
double clock_monotonic_seconds(void);

#endif
