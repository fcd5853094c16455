/*
 * kernel_common.cuh - device helpers shared by the kernels of llm_kernels.cu and
 * attention_kernels.cu: element loads, warp and block reductions, and the thread
 * count of the kernels that take one block a token.
 */
#ifndef LLMCHAT_KERNEL_COMMON_CUH
#define LLMCHAT_KERNEL_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <math.h>

#include "llm_kernels.h"

#define E4M3_MAX 448.0f
#define WARP 32

__device__ static inline float load_as_float(const void *base, enum llmk_dtype dtype, size_t i)
{
	switch (dtype) {
	case LLMK_BF16: return __bfloat162float(((const __nv_bfloat16 *)base)[i]);
	case LLMK_F16: return __half2float(((const __half *)base)[i]);
	case LLMK_F32: return ((const float *)base)[i];
	case LLMK_E4M3: {
		__nv_fp8_e4m3 v;
		v.__x = ((const __nv_fp8_storage_t *)base)[i];
		return (float)v;
	}
	case LLMK_I8: return (float)((const int8_t *)base)[i];
	}
	return 0;
}

__device__ static inline float warp_sum(float v)
{
	for (int offset = WARP / 2; offset > 0; offset /= 2)
		v += __shfl_xor_sync(0xffffffffu, v, offset);
	return v;
}

__device__ static inline int warp_sum_int(int v)
{
	for (int offset = WARP / 2; offset > 0; offset /= 2)
		v += __shfl_xor_sync(0xffffffffu, v, offset);
	return v;
}

/* Block-wide reduction through shared memory; every thread gets the result. */
template <typename T, typename Op>
__device__ static T block_reduce(T v, Op op, T *shared)
{
	int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, warps = (blockDim.x + WARP - 1) / WARP;
	for (int offset = WARP / 2; offset > 0; offset /= 2)
		v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
	__syncthreads();
	if (lane == 0)
		shared[warp] = v;
	__syncthreads();
	T r = shared[0];
	for (int w = 1; w < warps; w++)
		r = op(r, shared[w]);
	return r;
}

/* Threads of the kernels that take one block a token (embedding, norms, quantization,
 * RoPE + KV store).  With one token a step, each of them is one block on one SM, and
 * its time is the latency of each thread's chain of loads: 1024 threads make the
 * chains 4 times shorter than 256 did (an H200 profile of the decode step showed
 * these kernels at 8 to 15 us each, as much as the matrix products).  Every norm
 * kernel uses the same count, so that their sums of squares add in the same order
 * (the fused and unfused forms agree bit for bit). */
#define ROW_THREADS 1024

/* 16 bytes of packed weights or cache entries widened to float. */
__device__ static inline void bf16x8_to_float(uint4 raw, float *out)
{
	const __nv_bfloat162 *pairs = (const __nv_bfloat162 *)&raw;
	for (int k = 0; k < 4; k++) {
		float2 f = __bfloat1622float2(pairs[k]);
		out[2 * k] = f.x;
		out[2 * k + 1] = f.y;
	}
}

__device__ static inline void e4m3x16_to_float(uint4 raw, float *out)
{
	const __nv_fp8x2_storage_t *pairs = (const __nv_fp8x2_storage_t *)&raw;
	for (int k = 0; k < 8; k++) {
		__half2_raw h = __nv_cvt_fp8x2_to_halfraw2(pairs[k], __NV_E4M3);
		float2 f = __half22float2(*(const __half2 *)&h);
		out[2 * k] = f.x;
		out[2 * k + 1] = f.y;
	}
}

#endif
