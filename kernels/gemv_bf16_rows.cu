/*
 * gemv_bf16_rows.cu - llmk_gemv_bf16_rows (gemv_bf16_rows.h): a BF16 layer's products
 * for 2 to LLMK_GEMV_MAX_TOKENS tokens, each token's rows the bits of the one-token
 * GEMV (gemv_kernels.cu's gemv_kernel<1>), for speculative decoding's verify pass, whose
 * lm_head is BF16 in every format.  Bound by reading the weights once; the 8B lm_head
 * at 9 tokens is the case it is tuned for (BENCHMARKS.md).
 */
#include "gemv_bf16_rows.h"

#include "kernel_common.cuh"

/* Warps a block of gemv_bf16_rows_kernel (gemv_kernel's LINEAR_WARPS). */
#define BF16_ROWS_WARPS 8

/* gemv_kernel's BF16 sums for several tokens, a warp taking BF16_ROWS rows: each float
 * input chunk a lane loads serves the BF16_ROWS rows (gemv_kernel loads it again for
 * every row, and at 9 tokens those loads, 18 times the weights' bytes, bound the 8B
 * lm_head at a quarter of the copy rate).  A lane takes a row's chunks in gemv_kernel's
 * order (lane, lane + WARP, ...) and adds each with gemv_kernel's expression, and the
 * warp's sum is the same butterfly, so every row of every token has gemv_kernel<1>'s
 * bits (tests/gpu/verify_checks.cu). */

#ifndef BF16_ROWS
#define BF16_ROWS 4
#endif
#ifndef BF16_ROWS_UNROLL
#define BF16_ROWS_UNROLL 2
#endif
#ifndef BF16_ROWS_NO_L1
#define BF16_ROWS_NO_L1 1
#endif

/* 16 bytes of weights, read once: with BF16_ROWS_NO_L1 not kept in L1, where the
 * tokens' inputs, read again by every warp, stay. */
__device__ static __forceinline__ uint4 load_weights_once(const uint4 *p)
{
#if BF16_ROWS_NO_L1
	uint4 v;
	asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
	    : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
	    : "l"(p));
	return v;
#else
	return __ldg(p);
#endif
}

/* Where a BF16_ROWS group reads token t's inputs for chunk c: the float4s
 * in[t * token_stride + c * chunk_stride] and in[... + half_offset] (the inputs in global
 * memory as they are, or staged in shared memory by gemv_bf16_rows_staged_kernel). */
struct bf16_rows_inputs {
	const float4 *in;
	int token_stride, chunk_stride, half_offset;
};

/* One warp's BF16_ROWS rows from row0, every token: a lane takes a row's chunks in
 * gemv_kernel's order and adds each with bf16_chunk_dot, and the warp's sum is
 * gemv_kernel's butterfly. */
template <int TOKENS>
__device__ static __forceinline__ void bf16_rows_group(const void *weight, int rows, int cols, int row0,
							const float *weight_scale, int weight_scale_count,
							struct bf16_rows_inputs x, int count, float *y, int y_stride)
{
	const int lane = threadIdx.x % WARP;
	const int chunks = cols / 8;
	const uint4 *w[BF16_ROWS];
#pragma unroll
	for (int r = 0; r < BF16_ROWS; r++) /* a row past the end reads row0 again, unused */
		w[r] = (const uint4 *)((const uint8_t *)weight + (size_t)(row0 + r < rows ? row0 + r : row0) * cols * 2);
	float facc[BF16_ROWS][TOKENS];
#pragma unroll
	for (int r = 0; r < BF16_ROWS; r++)
#pragma unroll
		for (int t = 0; t < TOKENS; t++)
			facc[r][t] = 0;
	for (int base = lane; base < chunks; base += WARP * BF16_ROWS_UNROLL) {
		uint4 raw[BF16_ROWS_UNROLL][BF16_ROWS];
#pragma unroll
		for (int u = 0; u < BF16_ROWS_UNROLL; u++) {
			const int c = base + u * WARP;
#pragma unroll
			for (int r = 0; r < BF16_ROWS; r++)
				raw[u][r] = c < chunks ? load_weights_once(w[r] + c) : make_uint4(0, 0, 0, 0);
		}
#pragma unroll
		for (int u = 0; u < BF16_ROWS_UNROLL; u++) {
			const int c = base + u * WARP;
			if (c >= chunks)
				break;
			float wf[BF16_ROWS][8];
#pragma unroll
			for (int r = 0; r < BF16_ROWS; r++)
				bf16x8_to_float(raw[u][r], wf[r]);
#pragma unroll
			for (int t = 0; t < TOKENS; t++) {
				if (t >= count)
					break;
				const float4 *a = x.in + (size_t)t * x.token_stride + (size_t)c * x.chunk_stride;
				float4 a0 = a[0], a1 = a[x.half_offset];
#pragma unroll
				for (int r = 0; r < BF16_ROWS; r++)
					facc[r][t] += bf16_chunk_dot(wf[r], a0, a1);
			}
		}
	}
#pragma unroll
	for (int r = 0; r < BF16_ROWS; r++) {
		const int row = row0 + r;
		if (row >= rows) /* the same for the whole warp */
			break;
		const float wscale = weight_scale ? weight_scale[weight_scale_count == 1 ? 0 : row] : 1.0f;
#pragma unroll
		for (int t = 0; t < TOKENS; t++) {
			if (t >= count)
				break;
			const float sum = warp_sum(facc[r][t]);
			const float result = weight_scale ? sum * wscale : sum;
			if (lane == 0)
				y[(size_t)t * y_stride + row] = result;
		}
	}
}

template <int TOKENS>
__global__ static void __launch_bounds__(BF16_ROWS_WARPS *WARP)
	gemv_bf16_rows_kernel(const void *weight, int rows, int cols, const float *weight_scale,
			      int weight_scale_count, const float *x, int count, float *y, int y_stride)
{
	const int row0 = (blockIdx.x * BF16_ROWS_WARPS + threadIdx.x / WARP) * BF16_ROWS;
	if (row0 >= rows)
		return;
	const struct bf16_rows_inputs in = {(const float4 *)x, cols / 4, 2, 1};
	bf16_rows_group<TOKENS>(weight, rows, cols, row0, weight_scale, weight_scale_count, in, count, y, y_stride);
}

/* gemv_bf16_rows_kernel with the tokens' inputs staged once in shared memory, a block
 * on every SM going over the row groups: the inputs are read from L2 once a block
 * instead of once a warp (at 9 tokens of the 8B lm_head 147 KB, 4.7 GB a pass when
 * every warp reads them again).  Each chunk's two float4s are staged apart
 * ([token][half][chunk]) so that the lanes' 16-byte reads meet no bank twice.  Used when
 * the inputs fit (bf16_rows_staged_bytes); the bits are gemv_bf16_rows_kernel's.
 * Measured on an H100 (bench/bf16_head_variants.sh, BENCHMARKS.md), the 8B lm_head at 9
 * tokens: 457 us staged, 490 us unstaged with the weights kept out of L1 (BF16_ROWS_NO_L1,
 * so the default for what does not fit, e.g. the 70B lm_head at 9 tokens: 1244 us against
 * 2406 through L1), 1106 us unstaged through L1; one token 335 us. */
#ifndef BF16_ROWS_STAGED
#define BF16_ROWS_STAGED 1
#endif
#ifndef BF16_STAGED_WARPS
#define BF16_STAGED_WARPS 16
#endif

template <int TOKENS>
__global__ static void __launch_bounds__(BF16_STAGED_WARPS *WARP, 1)
	gemv_bf16_rows_staged_kernel(const void *weight, int rows, int cols, const float *weight_scale,
				     int weight_scale_count, const float *x, int count, float *y, int y_stride)
{
	extern __shared__ float4 staged[];
	const int chunks = cols / 8;
	const float4 *x4 = (const float4 *)x;
	for (int i = threadIdx.x; i < count * chunks * 2; i += blockDim.x) {
		const int t = i / (2 * chunks), c = (i / 2) % chunks, half = i % 2;
		staged[(size_t)(2 * t + half) * chunks + c] = x4[(size_t)t * (cols / 4) + 2 * c + half];
	}
	__syncthreads();
	const struct bf16_rows_inputs in = {staged, 2 * chunks, 1, chunks};
	const int stride = gridDim.x * BF16_STAGED_WARPS * BF16_ROWS;
	for (int row0 = (blockIdx.x * BF16_STAGED_WARPS + threadIdx.x / WARP) * BF16_ROWS; row0 < rows;
	     row0 += stride)
		bf16_rows_group<TOKENS>(weight, rows, cols, row0, weight_scale, weight_scale_count, in, count, y,
					y_stride);
}

static size_t bf16_rows_staged_bytes(int cols, int count)
{
	return (size_t)cols * count * sizeof(float);
}

/* The staged kernel for count tokens when its inputs fit in an SM's shared memory;
 * cudaErrorNotSupported (nothing launched) when they do not. */
template <int TOKENS>
static cudaError_t launch_gemv_bf16_staged(const void *weight, int rows, int cols, const float *weight_scale,
					   int weight_scale_count, const float *x, int count, float *y,
					   int y_stride, cudaStream_t stream)
{
	int sms, smem_max;
	cudaError_t status = current_device_attribute(cudaDevAttrMultiProcessorCount, &sms);
	if (status == cudaSuccess)
		status = current_device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, &smem_max);
	if (status != cudaSuccess)
		return status;
	const size_t bytes = bf16_rows_staged_bytes(cols, count);
	if (bytes > (size_t)smem_max)
		return cudaErrorNotSupported;
	status = cudaFuncSetAttribute(gemv_bf16_rows_staged_kernel<TOKENS>,
				      cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
	if (status != cudaSuccess)
		return status;
	const int groups = (rows + BF16_ROWS - 1) / BF16_ROWS;
	const int blocks_needed = (groups + BF16_STAGED_WARPS - 1) / BF16_STAGED_WARPS;
	const unsigned blocks = (unsigned)(blocks_needed < sms ? blocks_needed : sms);
	gemv_bf16_rows_staged_kernel<TOKENS><<<blocks, BF16_STAGED_WARPS * WARP, bytes, stream>>>(
		weight, rows, cols, weight_scale, weight_scale_count, x, count, y, y_stride);
	return cudaGetLastError();
}

extern "C" cudaError_t llmk_gemv_bf16_rows(const void *weight, int rows, int cols, const float *weight_scale,
					   int weight_scale_count, const float *x, int count, float *y, int y_stride,
					   cudaStream_t stream)
{
	if (BF16_ROWS_STAGED) {
		cudaError_t status = count <= 4 ? launch_gemv_bf16_staged<4>(weight, rows, cols, weight_scale,
									       weight_scale_count, x, count, y, y_stride,
									       stream)
						: launch_gemv_bf16_staged<LLMK_GEMV_MAX_TOKENS>(
							  weight, rows, cols, weight_scale, weight_scale_count, x, count,
							  y, y_stride, stream);
		if (status != cudaErrorNotSupported)
			return status;
	}
	const int rows_a_block = BF16_ROWS_WARPS * BF16_ROWS;
	const dim3 grid((unsigned)((rows + rows_a_block - 1) / rows_a_block)), block(BF16_ROWS_WARPS * WARP);
	if (count <= 4)
		gemv_bf16_rows_kernel<4><<<grid, block, 0, stream>>>(weight, rows, cols, weight_scale, weight_scale_count,
								     x, count, y, y_stride);
	else
		gemv_bf16_rows_kernel<LLMK_GEMV_MAX_TOKENS><<<grid, block, 0, stream>>>(
			weight, rows, cols, weight_scale, weight_scale_count, x, count, y, y_stride);
	return cudaGetLastError();
}
