/*
 * l2_prefetch.h - loading device memory into the GPU's L2 cache ahead of the kernel
 * that will read it.
 *
 * A decode step streams every weight once, and between two matrix products sit
 * kernels of one token (norms, RoPE, attention, quantization) that read a few
 * kilobytes: for their microseconds the memory bus idles.  llmk_prefetch_l2 asks L2
 * to load the next product's first bytes meanwhile (launched on a side branch of the
 * decode graph), so that the product finds them there.  It changes no value any
 * kernel reads, only where it is read from; it writes nothing and has no completion
 * to wait for (the loads are hints the memory system may drop).
 */
#ifndef LLMCHAT_L2_PREFETCH_H
#define LLMCHAT_L2_PREFETCH_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How the loads are asked for: bulk (cp.async.bulk.prefetch.L2, 4 KiB a request,
 * sm_90) or lines (prefetch.global.L2, 128 bytes a request). */
enum llmk_prefetch_way { LLMK_PREFETCH_BULK, LLMK_PREFETCH_LINES };

/* Up to LLMK_PREFETCH_RANGES byte ranges, loaded in turns (a request from each range,
 * then the next from each), as the product that reads them in lockstep (gate and up)
 * does; a product that reads its matrices one after another lists only the first
 * until it is whole.  Bases 16-byte aligned; bytes rounded down to a multiple of 16. */
#define LLMK_PREFETCH_RANGES 3
struct llmk_prefetch {
	const void *base[LLMK_PREFETCH_RANGES];
	size_t bytes[LLMK_PREFETCH_RANGES];
	int count;
	enum llmk_prefetch_way way;
};

/* Enqueues the prefetch on stream; cudaErrorInvalidValue for a count outside 0 to
 * LLMK_PREFETCH_RANGES or a base not 16-byte aligned.  Nothing to load: no launch. */
cudaError_t llmk_prefetch_l2(const struct llmk_prefetch *prefetch, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
