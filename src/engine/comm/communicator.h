/*
 * communicator.h - the all-reduce between the ranks of a tensor-parallel engine.
 *
 * One interface, several implementations:
 *   comm_host.c        CPU ranks as threads of one process (shared memory, barriers);
 *   comm_cuda_*.c      one GPU holding every rank (a reduce kernel), NCCL, and a
 *                      one-shot peer-to-peer kernel for small messages (CUDA only).
 * Every rank calls all_reduce_sum with the same count in the same order; the result
 * is the same bits on every rank (ranks' contributions added in rank order, or as
 * the library does it identically everywhere).
 *
 * Failure: a rank that fails calls abort(); every rank's pending and later calls
 * then return -1 ("another rank failed") instead of waiting forever.
 */
#ifndef LLMCHAT_COMMUNICATOR_H
#define LLMCHAT_COMMUNICATOR_H

#include <stdbool.h>
#include <stddef.h>

/* How the ranks of a tensor-parallel CUDA engine sum their partial results (--comm). */
enum comm_kind {
	COMM_AUTO,       /* NCCL, or peer-to-peer where the bench found it faster */
	COMM_NCCL,
	COMM_P2P,        /* one-shot peer-to-peer kernel (cudaDeviceEnablePeerAccess) */
	COMM_ONE_GPU,    /* every rank on GPU 0, summed by a kernel: checks the split on one GPU */
};

struct communicator;

struct communicator_ops {
	/* buffer[0..count) = sum over ranks of each rank's buffer, on every rank.
	 * stream: the rank's cudaStream_t (CUDA communicators), NULL on the CPU.  A
	 * CUDA communicator enqueues the work and returns; the host communicator
	 * returns when the sum is in place. */
	int (*all_reduce_sum)(struct communicator *comm, int rank, float *buffer, size_t count, void *stream,
			      char *err, size_t err_size);
	/* Makes waiting and later calls of every rank fail. Safe from any thread. */
	void (*abort)(struct communicator *comm);
	void (*free)(struct communicator *comm);
};

struct communicator {
	const struct communicator_ops *ops;
	int ranks;
	bool capturable;     /* its calls may be captured into a CUDA graph */
	const char *name;    /* "host threads", "NCCL", "peer-to-peer", "one GPU" */
};

/* CPU ranks as threads of this process. */
int comm_host_create(int ranks, struct communicator **out, char *err, size_t err_size);

static inline int comm_all_reduce_sum(struct communicator *comm, int rank, float *buffer, size_t count,
				      void *stream, char *err, size_t err_size)
{
	if (!comm)
		return 0;
	return comm->ops->all_reduce_sum(comm, rank, buffer, count, stream, err, err_size);
}

static inline void comm_abort(struct communicator *comm)
{
	if (comm && comm->ops->abort)
		comm->ops->abort(comm);
}

static inline void comm_free(struct communicator *comm)
{
	if (comm)
		comm->ops->free(comm);
}

#endif
