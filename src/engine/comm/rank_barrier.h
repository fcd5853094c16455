/*
 * rank_barrier.h - a barrier for the ranks (threads) of one process that a failing
 * rank can break.
 *
 * A mutex and a condition variable rather than pthread_barrier_t, so that
 * rank_barrier_break wakes whoever waits: every pending and later wait then
 * returns -1 ("another rank failed") instead of waiting forever.
 */
#ifndef LLMCHAT_RANK_BARRIER_H
#define LLMCHAT_RANK_BARRIER_H

#include <pthread.h>
#include <stdbool.h>

struct rank_barrier {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int parties, arrived;
	unsigned long generation;     /* barriers passed */
	bool broken;
};

void rank_barrier_init(struct rank_barrier *b, int parties);
void rank_barrier_destroy(struct rank_barrier *b);

/* Waits until all parties arrived (0) or the barrier is broken (-1).  The last to
 * arrive runs last_arriver(arg), when not NULL, under the lock before it releases
 * the others. */
int rank_barrier_wait(struct rank_barrier *b, void (*last_arriver)(void *arg), void *arg);

/* Wakes every waiter; this and every later wait returns -1.  From any thread. */
void rank_barrier_break(struct rank_barrier *b);

#endif
