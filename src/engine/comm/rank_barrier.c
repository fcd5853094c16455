/*
 * rank_barrier.c - the breakable barrier of rank_barrier.h.
 */
#include "rank_barrier.h"

void rank_barrier_init(struct rank_barrier *b, int parties)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->changed, NULL);
	b->parties = parties;
	b->arrived = 0;
	b->generation = 0;
	b->broken = false;
}

void rank_barrier_destroy(struct rank_barrier *b)
{
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->changed);
}

int rank_barrier_wait(struct rank_barrier *b, void (*last_arriver)(void *arg), void *arg)
{
	pthread_mutex_lock(&b->lock);
	if (b->broken) {
		pthread_mutex_unlock(&b->lock);
		return -1;
	}
	unsigned long generation = b->generation;
	if (++b->arrived == b->parties) {
		if (last_arriver)
			last_arriver(arg);
		b->arrived = 0;
		b->generation++;
		pthread_cond_broadcast(&b->changed);
	} else {
		while (generation == b->generation && !b->broken)
			pthread_cond_wait(&b->changed, &b->lock);
	}
	int rc = b->broken ? -1 : 0;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void rank_barrier_break(struct rank_barrier *b)
{
	pthread_mutex_lock(&b->lock);
	b->broken = true;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
}
