/*
 * comm_cuda.h - the communicators of the CUDA backend (communicator.h).
 *
 *   NCCL          one communicator per rank (ncclCommInitRankConfig, non-blocking,
 *                 so that a failing rank can abort the others), ncclAllReduce on the
 *                 rank's stream; rank r on GPU r.  Capturable.
 *   peer-to-peer  the one-shot kernel of comm_kernels.h over memory the GPUs share
 *                 through cudaDeviceEnablePeerAccess: one launch and no library call
 *                 per all-reduce, for the small messages of decode.  Rank r on GPU
 *                 r mod the visible count (so it also runs, slowly, on one GPU).
 *                 Capturable.
 *   auto          both: the peer-to-peer kernel for messages of up to
 *                 COMM_AUTO_P2P_MAX_COUNT floats (a decode step's), NCCL for larger
 *                 ones (prefill), where the GPUs can reach each other; else NCCL.  On
 *                 two H200s (BENCHMARKS.md) the one-shot kernel took 11.2-11.8 us per
 *                 decode all-reduce against NCCL's 14.8-16.3, and NCCL was faster for
 *                 prefill's large messages.
 *   one GPU       every rank on GPU 0, each with its own stream, summed by a kernel
 *                 between host barriers: checks the split on a single GPU.  Not
 *                 capturable (decode runs without a graph).
 * NCCL_NVLS_ENABLE is set to 0 before NCCL starts (no NVLink multicast).
 */
#ifndef LLMCHAT_COMM_CUDA_H
#define LLMCHAT_COMM_CUDA_H

#include <stddef.h>

#include "communicator.h"

/* The peer-to-peer and one-GPU communicators' buffers, in floats (256 tokens of a
 * 16384-wide model); larger all-reduces go in pieces of this size. */
#define COMM_CUDA_MAX_COUNT ((size_t)256 * 16384)

/* The largest message COMM_AUTO sends through the peer-to-peer kernel: a verify pass
 * of 9 tokens (LLMK_GEMV_MAX_TOKENS) of a 16384-wide model, so that it adds the ranks'
 * parts in the one-token step's order (NCCL's order may change with the size). */
#define COMM_AUTO_P2P_MAX_COUNT ((size_t)9 * 16384)

/* A communicator of kind for ranks ranks; devices[rank] receives each rank's GPU.
 * Returns 0, -1 with a message, or CUDA_NO_DEVICE (cuda_devices.h) when no GPU is
 * visible. */
int comm_cuda_create(enum comm_kind kind, int ranks, struct communicator **out, int *devices, char *err,
		     size_t err_size);

#endif
