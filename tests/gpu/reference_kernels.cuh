/*
 * reference_kernels.cuh - the unfused forms the checks hold the fused kernels to
 * (activation_checks.cu; attention_checks.cu fills its caches with the store): RoPE
 * alone, the KV-cache store alone, the residual add.  The engine never runs them; they
 * use the fused kernels' own device helpers (rope_pair, cache_put, kernel_common.cuh),
 * so that "bit for bit" compares like with like.
 */
#ifndef LLMCHAT_REFERENCE_KERNELS_CUH
#define LLMCHAT_REFERENCE_KERNELS_CUH

#include "kernel_common.cuh"

__global__ static void ref_rope_kernel(float *vec, int stride, int heads, int head_dim, int pos0,
				       const int *pos_dev, const float *inv_freq)
{
	int t = blockIdx.x, half = head_dim / 2;
	if (pos_dev)
		pos0 = *pos_dev;
	float *row = vec + (size_t)t * stride;
	for (int k = threadIdx.x; k < heads * half; k += blockDim.x) {
		int h = k / half, i = k % half;
		float *v = row + h * head_dim;
		rope_pair(v[i], v[i + half], pos0 + t, inv_freq[i], &v[i], &v[i + half]);
	}
}

/* Rotates count tokens of heads x head_dim in place (row stride in floats): token t at
 * position pos0 + t, or *pos_dev + t when pos_dev is not NULL. */
static inline cudaError_t ref_rope(float *vec, int count, int stride, int heads, int head_dim, int pos0,
				   const int *pos_dev, const float *inv_freq, cudaStream_t stream)
{
	ref_rope_kernel<<<count, 128, 0, stream>>>(vec, stride, heads, head_dim, pos0, pos_dev, inv_freq);
	return cudaGetLastError();
}

template <typename T>
__global__ static void ref_store_kv_kernel(const float *key_rows, const float *value_rows, T *key_cache,
					   T *value_cache, int kv_dim, int count, int pos, const int *pos_dev)
{
	if (pos_dev)
		pos = *pos_dev;
	size_t base = (size_t)pos * kv_dim, n = (size_t)count * kv_dim;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		cache_put(key_cache + base + i, key_rows[i]);
		cache_put(value_cache + base + i, value_rows[i]);
	}
}

/* Converts count rows of kv_dim floats into the caches (elements of cache_dtype) at rows
 * pos.., or *pos_dev.. when pos_dev is not NULL. */
static inline cudaError_t ref_store_kv(const float *key_rows, const float *value_rows, void *key_cache,
				       void *value_cache, enum llmk_dtype cache_dtype, int kv_dim, int count, int pos,
				       const int *pos_dev, cudaStream_t stream)
{
	size_t n = (size_t)count * kv_dim;
	unsigned blocks = (unsigned)((n + 255) / 256 < 8192 ? (n + 255) / 256 : 8192);
	dim3 grid(blocks ? blocks : 1), block(256);
	switch (cache_dtype) {
	case LLMK_F32:
		ref_store_kv_kernel<<<grid, block, 0, stream>>>(key_rows, value_rows, (float *)key_cache,
								(float *)value_cache, kv_dim, count, pos, pos_dev);
		break;
	case LLMK_BF16:
		ref_store_kv_kernel<<<grid, block, 0, stream>>>(key_rows, value_rows, (__nv_bfloat16 *)key_cache,
								(__nv_bfloat16 *)value_cache, kv_dim, count, pos, pos_dev);
		break;
	case LLMK_E4M3:
		ref_store_kv_kernel<<<grid, block, 0, stream>>>(key_rows, value_rows, (__nv_fp8_storage_t *)key_cache,
								(__nv_fp8_storage_t *)value_cache, kv_dim, count, pos,
								pos_dev);
		break;
	default: return cudaErrorInvalidValue;
	}
	return cudaGetLastError();
}

__global__ static void ref_add_kernel(float *x, const float *y, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		x[i] += y[i];
}

/* x[i] += y[i] over n values. */
static inline cudaError_t ref_add(float *x, const float *y, size_t n, cudaStream_t stream)
{
	unsigned blocks = (unsigned)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
	ref_add_kernel<<<blocks ? blocks : 1, 256, 0, stream>>>(x, y, n);
	return cudaGetLastError();
}

#endif
