/*
 * comm_kernels.h - the kernels behind the CUDA communicators (src/engine/comm/comm_cuda.c).
 *
 * Both sum the ranks' contributions in rank order (rank 0 first), so that every
 * rank ends with the same bits.
 */
#ifndef LLMCHAT_COMM_KERNELS_H
#define LLMCHAT_COMM_KERNELS_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMK_COMM_MAX_RANKS 8
#define LLMK_P2P_BLOCKS 32          /* blocks of the one-shot kernel (and flag slots per rank) */

/* One pointer per rank, passed by value to a kernel. */
struct llmk_rank_pointers {
	float *p[LLMK_COMM_MAX_RANKS];
};

/* out[i] = in.p[0][i] + in.p[1][i] + ... (ranks terms, in that order). */
cudaError_t llmk_sum_ranks(struct llmk_rank_pointers in, int ranks, float *out, size_t count, cudaStream_t stream);

/* What one rank's one-shot all-reduce kernel reads and writes.  Every rank owns, on
 * its own GPU, two staging buffers (alternate calls use alternate ones) and a flag
 * array [LLMK_P2P_BLOCKS][LLMK_COMM_MAX_RANKS] that its peers write; the pointers
 * below are valid on this rank's GPU (peer access enabled, or the same GPU). */
struct llmk_p2p_rank {
	float *staging[LLMK_COMM_MAX_RANKS][2];
	unsigned *flags[LLMK_COMM_MAX_RANKS];
	unsigned *epochs;            /* this rank's calls so far, one counter per block */
	const volatile int *abort;   /* host memory mapped for the GPUs: nonzero stops the waiting */
	int rank, ranks;
};

/* buffer[0..count) = the sum over ranks of every rank's buffer, in one launch: each
 * block copies its chunk to this rank's staging buffer, tells every peer (a flag
 * stored in the peer's memory), waits for every peer's flag, then adds the chunk of
 * every staging buffer.  The counters live on the device, so the launch can be
 * captured in a CUDA graph and replayed.  count <= capacity of the staging buffers.
 * Every rank must call it with the same count, each on its own stream, and all ranks'
 * launches must be able to run at the same time (they wait for one another).  When
 * *rank->abort turns nonzero (another rank failed) the waiting ends and the sums are
 * garbage: the engine runs no more after that. */
cudaError_t llmk_p2p_all_reduce(const struct llmk_p2p_rank *rank, float *buffer, size_t count,
				cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
