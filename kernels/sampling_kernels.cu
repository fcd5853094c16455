/*
 * sampling_kernels.cu - argmax over a row of logits (sampling_kernels.h).
 *
 * Two launches: ARGMAX_BLOCKS blocks each reduce a strided share of the row to one
 * (value, index) pair, then one block reduces those.  Ties go to the lower index;
 * a NaN wins over every number (the host then refuses the row, engine.c).
 */
#include "sampling_kernels.h"

#include <math.h>

#define ARGMAX_BLOCKS 64
#define ARGMAX_THREADS 512

/* Whether (value, index) beats (best_value, best_index); index -1 is no entry. */
__device__ static bool better(float value, int32_t index, float best_value, int32_t best_index)
{
	if (index < 0)
		return false;
	if (best_index < 0)
		return true;
	bool value_nan = isnan(value), best_nan = isnan(best_value);
	if (value_nan || best_nan)
		return value_nan && (!best_nan || index < best_index);
	return value > best_value || (value == best_value && index < best_index);
}

/* Reduces the block's (value, index) pairs; thread 0 gets the result. */
__device__ static void block_best(float *value, int32_t *index)
{
	__shared__ float values[32];
	__shared__ int32_t indices[32];
	for (int offset = 16; offset > 0; offset /= 2) {
		float v = __shfl_down_sync(0xffffffffu, *value, offset);
		int32_t i = __shfl_down_sync(0xffffffffu, *index, offset);
		if (better(v, i, *value, *index)) {
			*value = v;
			*index = i;
		}
	}
	int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
	if (lane == 0) {
		values[warp] = *value;
		indices[warp] = *index;
	}
	__syncthreads();
	if (warp == 0) {
		*value = lane < warps ? values[lane] : NAN;
		*index = lane < warps ? indices[lane] : -1;
		for (int offset = 16; offset > 0; offset /= 2) {
			float v = __shfl_down_sync(0xffffffffu, *value, offset);
			int32_t i = __shfl_down_sync(0xffffffffu, *index, offset);
			if (better(v, i, *value, *index)) {
				*value = v;
				*index = i;
			}
		}
	}
}

__global__ static void argmax_partial_kernel(const float *x, int n, struct llmk_best *partial)
{
	float value = NAN;
	int32_t index = -1;
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		if (better(x[i], i, value, index)) {
			value = x[i];
			index = i;
		}
	block_best(&value, &index);
	if (threadIdx.x == 0)
		partial[blockIdx.x] = (struct llmk_best){value, index};
}

__global__ static void argmax_final_kernel(const struct llmk_best *partial, int32_t first_index,
					   struct llmk_best *best)
{
	float value = NAN;
	int32_t index = -1;
	if (threadIdx.x < ARGMAX_BLOCKS) {
		value = partial[threadIdx.x].value;
		index = partial[threadIdx.x].index;
	}
	block_best(&value, &index);
	if (threadIdx.x == 0)
		*best = (struct llmk_best){value, index < 0 ? -1 : first_index + index};
}

extern "C" size_t llmk_argmax_scratch(void)
{
	return ARGMAX_BLOCKS * sizeof(struct llmk_best);
}

extern "C" cudaError_t llmk_argmax(const float *x, int n, int32_t first_index, struct llmk_best *best,
				   void *scratch, cudaStream_t stream)
{
	struct llmk_best *partial = (struct llmk_best *)scratch;
	argmax_partial_kernel<<<ARGMAX_BLOCKS, ARGMAX_THREADS, 0, stream>>>(x, n, partial);
	argmax_final_kernel<<<1, ARGMAX_BLOCKS, 0, stream>>>(partial, first_index, best);
	return cudaGetLastError();
}
