/*
 * l2_prefetch.cu - llmk_prefetch_l2 (see l2_prefetch.h): a grid of threads, each
 * issuing requests for a few of the ranges' chunks and leaving; nothing waits for
 * the data.
 */
#include "l2_prefetch.h"

#include <stdint.h>

#define PREFETCH_THREADS 256
#define PREFETCH_MAX_BLOCKS 264
#define BULK_CHUNK 4096
#define LINE_CHUNK 128

/* Chunk u of the ranges taken in turns: range u % count, chunk u / count of it. */
template <enum llmk_prefetch_way WAY>
__global__ static void __launch_bounds__(PREFETCH_THREADS) prefetch_l2_kernel(struct llmk_prefetch p, size_t chunks)
{
	constexpr size_t CHUNK = WAY == LLMK_PREFETCH_BULK ? BULK_CHUNK : LINE_CHUNK;
	for (size_t u = blockIdx.x * (size_t)PREFETCH_THREADS + threadIdx.x; u < chunks;
	     u += (size_t)gridDim.x * PREFETCH_THREADS) {
		int r = (int)(u % p.count);
		size_t offset = u / p.count * CHUNK;
		/* field by field with constant indices: a run-time index would copy the
		 * parameter struct to local memory */
		const char *base = (const char *)(r == 0 ? p.base[0] : r == 1 ? p.base[1] : p.base[2]);
		size_t bytes = r == 0 ? p.bytes[0] : r == 1 ? p.bytes[1] : p.bytes[2];
		if (offset >= bytes)
			continue;
		if (WAY == LLMK_PREFETCH_BULK) {
			uint32_t size = (uint32_t)(bytes - offset < CHUNK ? bytes - offset : CHUNK);
			asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(base + offset), "r"(size)
				     : "memory");
		} else {
			asm volatile("prefetch.global.L2 [%0];" ::"l"(base + offset));
		}
	}
}

extern "C" cudaError_t llmk_prefetch_l2(const struct llmk_prefetch *prefetch, cudaStream_t stream)
{
	struct llmk_prefetch p = *prefetch;
	if (p.count < 0 || p.count > LLMK_PREFETCH_RANGES)
		return cudaErrorInvalidValue;
	size_t chunk = p.way == LLMK_PREFETCH_BULK ? BULK_CHUNK : LINE_CHUNK, longest = 0;
	for (int r = 0; r < p.count; r++) {
		if ((uintptr_t)p.base[r] % 16 != 0)
			return cudaErrorInvalidValue;
		p.bytes[r] -= p.bytes[r] % 16;
		longest = p.bytes[r] > longest ? p.bytes[r] : longest;
	}
	for (int r = p.count; r < LLMK_PREFETCH_RANGES; r++) {
		p.base[r] = NULL;
		p.bytes[r] = 0;
	}
	size_t chunks = (longest + chunk - 1) / chunk * (size_t)p.count;
	if (chunks == 0)
		return cudaSuccess;
	size_t blocks = (chunks + PREFETCH_THREADS - 1) / PREFETCH_THREADS;
	dim3 grid((unsigned)(blocks < PREFETCH_MAX_BLOCKS ? blocks : PREFETCH_MAX_BLOCKS));
	if (p.way == LLMK_PREFETCH_BULK)
		prefetch_l2_kernel<LLMK_PREFETCH_BULK><<<grid, PREFETCH_THREADS, 0, stream>>>(p, chunks);
	else
		prefetch_l2_kernel<LLMK_PREFETCH_LINES><<<grid, PREFETCH_THREADS, 0, stream>>>(p, chunks);
	return cudaGetLastError();
}
