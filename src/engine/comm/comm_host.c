/*
 * comm_host.c - the all-reduce of CPU ranks that are threads of one process.
 *
 * Every rank publishes a pointer to its buffer and meets the others at a barrier;
 * rank r then adds up its share of the elements, over the ranks in rank order
 * (((b0 + b1) + b2) + ...), into a shared sum; a second barrier, and every rank
 * copies the sum into its own buffer.  Each element is added once, by one rank, so
 * every rank gets the same bits.  The next call's first barrier keeps the sum from
 * being overwritten while a rank still copies it.
 *
 * The barriers are rank_barrier.h's, so that abort() wakes whoever waits: every
 * pending and later call then fails.
 */
#include "communicator.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rank_barrier.h"

struct comm_host {
	struct communicator base;
	struct rank_barrier barrier;
	float **buffers;              /* ranks: each rank's buffer of this call */
	size_t *counts;               /* ranks: the count each rank passed */
	float *sum;                   /* the summed elements, sum_capacity floats */
	size_t sum_capacity;
	bool out_of_memory;           /* the last arriver could not grow sum */
};

/* Makes room for the largest count of this call (the counts are checked after). */
static void grow_sum(void *arg)
{
	struct comm_host *c = arg;
	size_t need = 0;
	for (int r = 0; r < c->base.ranks; r++)
		need = c->counts[r] > need ? c->counts[r] : need;
	c->out_of_memory = false;
	if (need <= c->sum_capacity)
		return;
	float *grown = realloc(c->sum, need * sizeof *grown);
	if (!grown) {
		c->out_of_memory = true;
		return;
	}
	c->sum = grown;
	c->sum_capacity = need;
}

static int host_all_reduce_sum(struct communicator *comm, int rank, float *buffer, size_t count, void *stream,
			       char *err, size_t err_size)
{
	struct comm_host *c = (struct comm_host *)comm;
	const int ranks = comm->ranks;
	(void)stream;
	if (rank < 0 || rank >= ranks) {
		snprintf(err, err_size, "all-reduce: rank %d of %d", rank, ranks);
		return -1;
	}
	c->buffers[rank] = buffer;
	c->counts[rank] = count;
	if (rank_barrier_wait(&c->barrier, grow_sum, c) != 0) {
		snprintf(err, err_size, "another rank failed");
		return -1;
	}
	/* every rank sees the same counts and the same out_of_memory: all fail alike */
	for (int r = 0; r < ranks; r++) {
		if (c->counts[r] != count) {
			snprintf(err, err_size, "all-reduce: rank %d sums %zu floats, rank %d %zu", rank, count, r,
				 c->counts[r]);
			return -1;
		}
	}
	if (c->out_of_memory) {
		snprintf(err, err_size, "out of memory for an all-reduce of %zu floats", count);
		return -1;
	}
	size_t share = (count + (size_t)ranks - 1) / (size_t)ranks;
	size_t begin = share * (size_t)rank < count ? share * (size_t)rank : count;
	size_t end = begin + share < count ? begin + share : count;
	for (size_t i = begin; i < end; i++) {
		float s = c->buffers[0][i];
		for (int r = 1; r < ranks; r++)
			s += c->buffers[r][i];
		c->sum[i] = s;
	}
	if (rank_barrier_wait(&c->barrier, NULL, NULL) != 0) {
		snprintf(err, err_size, "another rank failed");
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		buffer[i] = c->sum[i];
	return 0;
}

static void host_abort(struct communicator *comm)
{
	rank_barrier_break(&((struct comm_host *)comm)->barrier);
}

static void host_free(struct communicator *comm)
{
	struct comm_host *c = (struct comm_host *)comm;
	if (!c)
		return;
	rank_barrier_destroy(&c->barrier);
	free(c->buffers);
	free(c->counts);
	free(c->sum);
	free(c);
}

static const struct communicator_ops host_ops = {
	.all_reduce_sum = host_all_reduce_sum,
	.abort = host_abort,
	.free = host_free,
};

int comm_host_create(int ranks, struct communicator **out, char *err, size_t err_size)
{
	if (ranks < 1) {
		snprintf(err, err_size, "a communicator needs at least one rank, not %d", ranks);
		return -1;
	}
	struct comm_host *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	c->buffers = calloc((size_t)ranks, sizeof *c->buffers);
	c->counts = calloc((size_t)ranks, sizeof *c->counts);
	if (!c->buffers || !c->counts) {
		free(c->buffers);
		free(c->counts);
		free(c);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	rank_barrier_init(&c->barrier, ranks);
	c->base = (struct communicator){.ops = &host_ops, .ranks = ranks, .capturable = false, .name = "host threads"};
	*out = &c->base;
	return 0;
}
