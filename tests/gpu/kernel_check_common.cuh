/*
 * kernel_check_common.cuh - what the kernel check programs (linear_checks.cu,
 * attention_checks.cu, activation_checks.cu) share beyond check_program.cuh: a draw
 * in [0, 1) from its generator, the names and sizes of the cache dtypes, and what the
 * timings are judged against: the device's L2, the copy bandwidth, and enough copies of
 * the weights (or caches) that L2 holds none of them when one is read again.
 */
#ifndef LLMCHAT_KERNEL_CHECK_COMMON_CUH
#define LLMCHAT_KERNEL_CHECK_COMMON_CUH

#include <stdint.h>
#include <stdio.h>
#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "llm_kernels.h"
}
#include "check_program.cuh"

/* Uniform in [0, 1), from check_program.cuh's seeded generator. */
static inline double uniform(void) { return uniform_in(0, 1); }

static inline const char *dtype_name(enum llmk_dtype d)
{
	return d == LLMK_F32 ? "f32" : d == LLMK_BF16 ? "bf16" : d == LLMK_E4M3 ? "e4m3" : "?";
}
static inline size_t dtype_size(enum llmk_dtype d) { return d == LLMK_F32 ? 4 : d == LLMK_BF16 ? 2 : 1; }

/* The device's SMs and L2, printed under check_program_start's name line. */
static inline void print_device_caches(void)
{
	cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
		printf("# %d SMs, L2 %d MB\n", prop.multiProcessorCount, prop.l2CacheSize >> 20);
}

static inline double copy_bandwidth(void)
{
	size_t bytes = (size_t)2 << 30;
	void *a, *b;
	if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
	cudaMemset(a, 1, bytes);
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms;
	for (int i = 0; i < 12; i++) {
		cudaEventRecord(e0); cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice); cudaEventRecord(e1);
		cudaEventSynchronize(e1); float m; cudaEventElapsedTime(&m, e0, e1); if (i >= 2) ms.push_back(m);
	}
	std::sort(ms.begin(), ms.end());
	cudaFree(a); cudaFree(b);
	return 2.0 * bytes / (ms[ms.size() / 2] * 1e-3) / 1e9; /* read + written */
}

/* The copy bandwidth the timings are judged against, measured and printed. */
static inline double measured_copy_bandwidth(void)
{
	double copy = copy_bandwidth();
	printf("# device-to-device copy: %.0f GB/s (bytes read + written, 2 GiB, median of 10)\n", copy);
	return copy;
}

/* Copies of a matrix, enough that together they are well past L2 (>= 512 MB). */
static inline int weight_copies(size_t bytes) { return (int)std::max<size_t>(2, ((size_t)512 << 20) / bytes + 1); }

#endif
