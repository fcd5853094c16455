/*
 * llm_kernels.cu - the kernels of one Llama forward pass (see llm_kernels.h).
 *
 * This is the first, correct-before-fast version of the GPU path: every kernel
 * mirrors the CPU path's arithmetic so that the two backends agree to float32
 * rounding (summation order aside), and the speed work (16-byte weight streams,
 * cuBLASLt for prefill, graphs) replaces kernels one at a time behind the same
 * launchers, each checked against this behaviour.
 */
#include "llm_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <math.h>

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

/* ---- embedding, norm, elementwise: bound by reading their inputs once ---------- */

/* Threads of the kernels that take one block a token (embedding, norms, quantization,
 * RoPE + KV store).  With one token a step, each of them is one block on one SM, and
 * its time is the latency of each thread's chain of loads: 1024 threads make the
 * chains 4 times shorter than 256 did (an H200 profile of the decode step showed
 * these kernels at 8 to 15 us each, as much as the matrix products).  Every norm
 * kernel uses the same count, so that their sums of squares add in the same order
 * (the fused and unfused forms agree bit for bit). */
#define ROW_THREADS 1024

__global__ static void embed_kernel(const void *table, enum llmk_dtype dtype, const int32_t *tokens,
				    int hidden, float *out)
{
	int t = blockIdx.x;
	size_t row = (size_t)tokens[t] * hidden;
	for (int i = threadIdx.x; i < hidden; i += blockDim.x)
		out[(size_t)t * hidden + i] = load_as_float(table, dtype, row + i);
}

extern "C" cudaError_t llmk_embed(const void *table, enum llmk_dtype dtype, const int32_t *tokens, int count,
				  int hidden, float *out, cudaStream_t stream)
{
	embed_kernel<<<count, ROW_THREADS, 0, stream>>>(table, dtype, tokens, hidden, out);
	return cudaGetLastError();
}

__global__ static void rmsnorm_kernel(const float *x, const float *weight, float *out, int hidden, float eps)
{
	__shared__ double partial[32];
	const float *row = x + (size_t)blockIdx.x * hidden;
	double ss = 0;
	for (int i = threadIdx.x; i < hidden; i += blockDim.x)
		ss += (double)row[i] * row[i];
	ss = block_reduce(ss, [](double a, double b) { return a + b; }, partial);
	float inv = 1.0f / sqrtf((float)(ss / hidden) + eps);
	for (int i = threadIdx.x; i < hidden; i += blockDim.x)
		out[(size_t)blockIdx.x * hidden + i] = weight[i] * (row[i] * inv);
}

extern "C" cudaError_t llmk_rmsnorm(const float *x, const float *weight, float *out, int count, int hidden,
				    float eps, cudaStream_t stream)
{
	rmsnorm_kernel<<<count, ROW_THREADS, 0, stream>>>(x, weight, out, hidden, eps);
	return cudaGetLastError();
}

/* silu(g) * u, the one expression of every SwiGLU kernel (the fused ones must match it bit for bit). */
__device__ static inline float silu_times(float g, float u)
{
	return g / (1.0f + expf(-g)) * u;
}

__global__ static void swiglu_kernel(float *gate, const float *up, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		gate[i] = silu_times(gate[i], up[i]);
}

extern "C" cudaError_t llmk_swiglu(float *gate, const float *up, size_t n, cudaStream_t stream)
{
	unsigned blocks = (unsigned)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
	swiglu_kernel<<<blocks ? blocks : 1, 256, 0, stream>>>(gate, up, n);
	return cudaGetLastError();
}

__global__ static void add_kernel(float *x, const float *y, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		x[i] += y[i];
}

extern "C" cudaError_t llmk_add(float *x, const float *y, size_t n, cudaStream_t stream)
{
	unsigned blocks = (unsigned)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
	add_kernel<<<blocks ? blocks : 1, 256, 0, stream>>>(x, y, n);
	return cudaGetLastError();
}

/* ---- activation quantization: one block per token -------------------------------
 * The scale and the rounding are shared device functions, so that the fused
 * norm/SwiGLU + quantize kernels below give llmk_quantize's bits exactly. */

/* The token's scale s (written to scales) and the factor its values are multiplied by. */
__device__ static inline void quantize_scale(float max_abs, enum llmk_quant quant, float static_scale, float *s,
					     float *inv)
{
	switch (quant) {
	case LLMK_QUANT_FP8_DYNAMIC: {
		/* vLLM floors a dynamic FP8 scale at 1/(448*512); a zero row stays 0 */
		float floor_scale = 1.0f / (E4M3_MAX * 512.0f);
		*s = max_abs == 0 ? 0 : fmaxf(max_abs / E4M3_MAX, floor_scale);
		break;
	}
	case LLMK_QUANT_INT8_DYNAMIC: *s = max_abs / 127.0f; break;
	default: *s = static_scale; break;
	}
	*inv = *s == 0 ? 0 : (quant == LLMK_QUANT_INT8_DYNAMIC ? 127.0f / max_abs : 1.0f / *s);
}

/* One value times inv, rounded to e4m3 (saturating) or int8 (half to even, clamped). */
__device__ static inline uint8_t quantize_value(float x, float inv, bool fp8)
{
	float v = x * inv;
	if (fp8) {
		v = fminf(fmaxf(v, -E4M3_MAX), E4M3_MAX);
		return __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
	}
	float r = rintf(v); /* round half to even */
	r = fminf(fmaxf(r, -128.0f), 127.0f);
	return (uint8_t)(int8_t)r;
}

__device__ static inline bool quant_is_fp8(enum llmk_quant quant)
{
	return quant == LLMK_QUANT_FP8_STATIC || quant == LLMK_QUANT_FP8_DYNAMIC;
}

__global__ static void quantize_kernel(const float *x, int n, enum llmk_quant quant, float static_scale,
				       uint8_t *xq, float *scales)
{
	__shared__ float partial[32];
	const float *row = x + (size_t)blockIdx.x * n;
	uint8_t *out = xq + (size_t)blockIdx.x * n;
	float max_abs = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		max_abs = fmaxf(max_abs, fabsf(row[i]));
	max_abs = block_reduce(max_abs, [](float a, float b) { return fmaxf(a, b); }, partial);
	float s, inv;
	quantize_scale(max_abs, quant, static_scale, &s, &inv);
	if (threadIdx.x == 0)
		scales[blockIdx.x] = s;
	bool fp8 = quant_is_fp8(quant);
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		out[i] = quantize_value(row[i], inv, fp8);
}

extern "C" cudaError_t llmk_quantize(const float *x, int count, int n, enum llmk_quant quant, float static_scale,
				     void *xq, float *scales, cudaStream_t stream)
{
	quantize_kernel<<<count, ROW_THREADS, 0, stream>>>(x, n, quant, static_scale, (uint8_t *)xq, scales);
	return cudaGetLastError();
}

/* RMSNorm then quantize, one block per token: the sum of squares as rmsnorm_kernel
 * adds it, the normed values with its expression, then the scale and the codes as
 * quantize_kernel makes them, so the same bits as the two launches.  With residual,
 * x += residual first (written back: a thread rereads only what it wrote), as
 * llmk_add does it; with quant NONE, the normed rows only (out required then). */
__global__ static void rmsnorm_quantize_kernel(float *x, const float *residual, const float *weight, float *out,
					       int hidden, float eps, enum llmk_quant quant, float static_scale,
					       uint8_t *xq, float *scales)
{
	__shared__ double partial[32];
	__shared__ float fpartial[32];
	float *row = x + (size_t)blockIdx.x * hidden;
	const float *added = residual ? residual + (size_t)blockIdx.x * hidden : NULL;
	float *out_row = out ? out + (size_t)blockIdx.x * hidden : NULL;
	double ss = 0;
	for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
		float v = row[i];
		if (added) {
			v += added[i];
			row[i] = v;
		}
		ss += (double)v * v;
	}
	ss = block_reduce(ss, [](double a, double b) { return a + b; }, partial);
	float norm = 1.0f / sqrtf((float)(ss / hidden) + eps);
	float max_abs = 0;
	for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
		float v = weight[i] * (row[i] * norm);
		if (out_row)
			out_row[i] = v;
		max_abs = fmaxf(max_abs, fabsf(v));
	}
	if (quant == LLMK_QUANT_NONE)
		return;
	max_abs = block_reduce(max_abs, [](float a, float b) { return fmaxf(a, b); }, fpartial);
	float s, inv;
	quantize_scale(max_abs, quant, static_scale, &s, &inv);
	if (threadIdx.x == 0)
		scales[blockIdx.x] = s;
	bool fp8 = quant_is_fp8(quant);
	uint8_t *q_row = xq + (size_t)blockIdx.x * hidden;
	for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
		float v = out_row ? out_row[i] : weight[i] * (row[i] * norm);
		q_row[i] = quantize_value(v, inv, fp8);
	}
}

extern "C" cudaError_t llmk_rmsnorm_quantize(const float *x, const float *weight, float *out, int count, int hidden,
					     float eps, enum llmk_quant quant, float static_scale, void *xq,
					     float *scales, cudaStream_t stream)
{
	if (quant == LLMK_QUANT_NONE)
		return cudaErrorInvalidValue;
	/* without a residual the kernel does not write x */
	rmsnorm_quantize_kernel<<<count, ROW_THREADS, 0, stream>>>((float *)x, NULL, weight, out, hidden, eps, quant,
								   static_scale, (uint8_t *)xq, scales);
	return cudaGetLastError();
}

extern "C" cudaError_t llmk_add_rmsnorm_quantize(float *x, const float *residual, const float *weight, float *out,
						 int count, int hidden, float eps, enum llmk_quant quant,
						 float static_scale, void *xq, float *scales, cudaStream_t stream)
{
	if (!out || out == x)
		return cudaErrorInvalidValue;
	rmsnorm_quantize_kernel<<<count, ROW_THREADS, 0, stream>>>(x, residual, weight, out, hidden, eps, quant,
								   static_scale, (uint8_t *)xq, scales);
	return cudaGetLastError();
}

/* silu(gate) * up then quantize, one block per token, as rmsnorm_quantize_kernel. */
__global__ static void swiglu_quantize_kernel(const float *gate, const float *up, float *out, int n,
					      enum llmk_quant quant, float static_scale, uint8_t *xq, float *scales)
{
	__shared__ float partial[32];
	const size_t offset = (size_t)blockIdx.x * n;
	float max_abs = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float v = silu_times(gate[offset + i], up[offset + i]);
		if (out)
			out[offset + i] = v;
		max_abs = fmaxf(max_abs, fabsf(v));
	}
	max_abs = block_reduce(max_abs, [](float a, float b) { return fmaxf(a, b); }, partial);
	float s, inv;
	quantize_scale(max_abs, quant, static_scale, &s, &inv);
	if (threadIdx.x == 0)
		scales[blockIdx.x] = s;
	bool fp8 = quant_is_fp8(quant);
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float v = out ? out[offset + i] : silu_times(gate[offset + i], up[offset + i]);
		xq[offset + i] = quantize_value(v, inv, fp8);
	}
}

extern "C" cudaError_t llmk_swiglu_quantize(const float *gate, const float *up, float *out, int count, int n,
					    enum llmk_quant quant, float static_scale, void *xq, float *scales,
					    cudaStream_t stream)
{
	if (quant == LLMK_QUANT_NONE)
		return cudaErrorInvalidValue;
	swiglu_quantize_kernel<<<count, ROW_THREADS, 0, stream>>>(gate, up, out, n, quant, static_scale, (uint8_t *)xq, scales);
	return cudaGetLastError();
}

/* ---- linear layers: one warp per output row, every token of the batch ------------
 * Bound by reading the weights; this version reads them once per token (from L2
 * after the first), which is right for decode and correct for prefill. */

#define LINEAR_WARPS 8

__global__ static void linear_kernel(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
				     const float *weight_scale, int weight_scale_count, const float *x,
				     const uint8_t *xq, const float *x_scales, int count, float *y, int y_stride)
{
	int row = blockIdx.x * LINEAR_WARPS + threadIdx.x / WARP;
	int lane = threadIdx.x % WARP;
	if (row >= rows)
		return;
	size_t base = (size_t)row * cols;
	float wscale = weight_scale ? weight_scale[weight_scale_count == 1 ? 0 : row] : 1.0f;
	for (int t = 0; t < count; t++) {
		float result;
		if (wdtype == LLMK_I8) {
			const int8_t *w = (const int8_t *)weight + base;
			const int8_t *a = (const int8_t *)xq + (size_t)t * cols;
			int acc = 0;
			for (int i = lane; i < cols; i += WARP)
				acc += (int)w[i] * (int)a[i];
			acc = warp_sum_int(acc);
			result = (float)acc * x_scales[t] * wscale;
		} else if (wdtype == LLMK_E4M3) {
			const uint8_t *a = xq + (size_t)t * cols;
			float acc = 0;
			for (int i = lane; i < cols; i += WARP) {
				__nv_fp8_e4m3 v;
				v.__x = a[i];
				acc += load_as_float(weight, LLMK_E4M3, base + i) * (float)v;
			}
			acc = warp_sum(acc);
			result = acc * x_scales[t] * wscale;
		} else {
			const float *a = x + (size_t)t * cols;
			float acc = 0;
			for (int i = lane; i < cols; i += WARP)
				acc += load_as_float(weight, wdtype, base + i) * a[i];
			acc = warp_sum(acc);
			result = weight_scale ? acc * wscale : acc;
		}
		if (lane == 0)
			y[(size_t)t * y_stride + row] = result;
	}
}

/* The decode GEMV: up to GEMV_MAX_TOKENS tokens, one warp per output row, every
 * lane streaming 16 bytes of the row per load (LDG.128) with GEMV_UNROLL loads in
 * flight, each weight chunk used for every token before the next is loaded.
 * Bound by reading the weights once: rows x cols x element size bytes.  Needs
 * rows 16-byte aligned (cols x element size a multiple of 16) and cudaMalloc'd
 * (256-byte aligned) buffers; llmk_linear falls back to linear_kernel otherwise. */

#define GEMV_MAX_TOKENS 4
#define GEMV_UNROLL 4

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

template <int TOKENS>
__global__ static void gemv_kernel(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
				   const float *weight_scale, int weight_scale_count, const float *x,
				   const uint8_t *xq, const float *x_scales, float *y, int y_stride)
{
	const int row = blockIdx.x * LINEAR_WARPS + threadIdx.x / WARP;
	const int lane = threadIdx.x % WARP;
	if (row >= rows)
		return;
	const int element_size = (wdtype == LLMK_BF16) ? 2 : 1;
	const int per_chunk = 16 / element_size;                /* elements in 16 bytes */
	const int chunks = cols / per_chunk;
	const uint4 *w = (const uint4 *)((const uint8_t *)weight + (size_t)row * cols * element_size);
	float facc[TOKENS];
	int iacc[TOKENS];
	for (int t = 0; t < TOKENS; t++) {
		facc[t] = 0;
		iacc[t] = 0;
	}
	for (int base = lane; base < chunks; base += WARP * GEMV_UNROLL) {
		uint4 raw[GEMV_UNROLL];
#pragma unroll
		for (int u = 0; u < GEMV_UNROLL; u++) {
			int c = base + u * WARP;
			raw[u] = c < chunks ? __ldg(w + c) : make_uint4(0, 0, 0, 0);
		}
#pragma unroll
		for (int u = 0; u < GEMV_UNROLL; u++) {
			int c = base + u * WARP;
			if (c >= chunks)
				break;
			if (wdtype == LLMK_I8) {
				const int *wi = (const int *)&raw[u];
#pragma unroll
				for (int t = 0; t < TOKENS; t++) {
					uint4 a = *((const uint4 *)(xq + (size_t)t * cols) + c);
					const int *ai = (const int *)&a;
					for (int k = 0; k < 4; k++)
						iacc[t] = __dp4a(wi[k], ai[k], iacc[t]);
				}
			} else if (wdtype == LLMK_E4M3) {
				float wf[16];
				e4m3x16_to_float(raw[u], wf);
#pragma unroll
				for (int t = 0; t < TOKENS; t++) {
					uint4 a = *((const uint4 *)(xq + (size_t)t * cols) + c);
					float af[16];
					e4m3x16_to_float(a, af);
					for (int k = 0; k < 16; k++)
						facc[t] += wf[k] * af[k];
				}
			} else {
				float wf[8];
				bf16x8_to_float(raw[u], wf);
#pragma unroll
				for (int t = 0; t < TOKENS; t++) {
					const float4 *a = (const float4 *)(x + (size_t)t * cols) + 2 * c;
					float4 a0 = a[0], a1 = a[1];
					facc[t] += wf[0] * a0.x + wf[1] * a0.y + wf[2] * a0.z + wf[3] * a0.w +
						   wf[4] * a1.x + wf[5] * a1.y + wf[6] * a1.z + wf[7] * a1.w;
				}
			}
		}
	}
	float wscale = weight_scale ? weight_scale[weight_scale_count == 1 ? 0 : row] : 1.0f;
#pragma unroll
	for (int t = 0; t < TOKENS; t++) {
		float result;
		if (wdtype == LLMK_I8)
			result = (float)warp_sum_int(iacc[t]) * x_scales[t] * wscale;
		else if (wdtype == LLMK_E4M3)
			result = warp_sum(facc[t]) * x_scales[t] * wscale;
		else
			result = weight_scale ? warp_sum(facc[t]) * wscale : warp_sum(facc[t]);
		if (lane == 0)
			y[(size_t)t * y_stride + row] = result;
	}
}

/* The one-token GEMV with the row split across a block: GEMV_THREADS threads share
 * each row's 16-byte chunks (thread i takes chunks i, i + GEMV_THREADS, ...), and a
 * block takes NR rows at once, so that each thread has NR x GEMV_SPLIT_UNROLL
 * independent 16-byte loads in flight and even a 1024-row matrix spreads over every
 * SM.  A row's sum (thread partials in chunk order, a warp butterfly, then the
 * warps in order) does not depend on NR, so every layout, the fused q/k/v and the
 * fused gate/up + SwiGLU give the same bits for the same row. */

#define GEMV_THREADS 256
#define GEMV_SPLIT_UNROLL 2

struct gemv_matrix {
	const void *weight;
	const float *scale;   /* NULL (BF16 only), 1 or rows values */
	int scale_count;
	int rows;
	float *y;
};

/* Up to three matrices of one input: blocks [first_block[i], first_block[i + 1]) take matrix i. */
struct gemv_job {
	struct gemv_matrix m[3];
	int first_block[4];
	int count;
};

/* Programmatic dependent launch (sm_90): a kernel launched with the
 * programmatic-serialization attribute may start while the kernel before it in the
 * stream is finishing; it must wait here before it reads anything an earlier kernel
 * wrote or writes anything one reads.  Elsewhere (no such launch) both are no-ops. */
__device__ static __forceinline__ void wait_for_previous_kernels(void)
{
	asm volatile("griddepcontrol.wait;" ::: "memory");
}

/* Lets the next kernel, if launched with the attribute, start its blocks (they wait
 * in wait_for_previous_kernels for this one to finish). */
__device__ static __forceinline__ void allow_next_kernel(void)
{
	asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

/* raw[u][k] = chunk c0 + u * GEMV_THREADS of row k (zeros past the end). */
template <int NR>
__device__ static __forceinline__ void gemv_load_chunks(uint4 (*raw)[NR], const uint4 *const *w, const bool *valid,
							int c0, int chunks)
{
#pragma unroll
	for (int u = 0; u < GEMV_SPLIT_UNROLL; u++) {
		int c = c0 + u * GEMV_THREADS;
#pragma unroll
		for (int k = 0; k < NR; k++)
			raw[u][k] = c < chunks && valid[k] ? __ldg(w[k] + c) : make_uint4(0, 0, 0, 0);
	}
}

/* Thread k < NR gets row k's dot product with the input, unscaled: in *fsum (FP8,
 * BF16) or *isum (INT8, exact); w[k] is row k, valid[k] false for rows past the end. */
template <enum llmk_dtype WD, int NR>
__device__ static __forceinline__ void gemv_block_dots(const uint4 *const *w, const bool *valid, int chunks,
						       const float *x, const uint8_t *xq, float *fsum, int *isum)
{
	float facc[NR];
	int iacc[NR];
#pragma unroll
	for (int k = 0; k < NR; k++) {
		facc[k] = 0;
		iacc[k] = 0;
	}
	/* the weights do not depend on earlier kernels: the first loads go out before
	 * waiting for them (programmatic dependent launch).  The input, which the kernel before may have just
	 * written, is read after the wait and through L2 (__ldcg), never the
	 * read-only path. */
	constexpr int STEP = GEMV_THREADS * GEMV_SPLIT_UNROLL;
	uint4 raw[GEMV_SPLIT_UNROLL][NR];
	gemv_load_chunks<NR>(raw, w, valid, threadIdx.x, chunks);
	wait_for_previous_kernels();
	for (int c0 = threadIdx.x; c0 < chunks; c0 += STEP) {
		if (c0 != threadIdx.x)
			gemv_load_chunks<NR>(raw, w, valid, c0, chunks);
#pragma unroll
		for (int u = 0; u < GEMV_SPLIT_UNROLL; u++) {
			int c = c0 + u * GEMV_THREADS;
			if (c >= chunks)
				break;
			if (WD == LLMK_I8) {
				uint4 a = __ldcg((const uint4 *)xq + c);
				const int *ai = (const int *)&a;
#pragma unroll
				for (int k = 0; k < NR; k++) {
					const int *wi = (const int *)&raw[u][k];
#pragma unroll
					for (int e = 0; e < 4; e++)
						iacc[k] = __dp4a(wi[e], ai[e], iacc[k]);
				}
			} else if (WD == LLMK_E4M3) {
				float af[16];
				e4m3x16_to_float(__ldcg((const uint4 *)xq + c), af);
#pragma unroll
				for (int k = 0; k < NR; k++) {
					float wf[16];
					e4m3x16_to_float(raw[u][k], wf);
#pragma unroll
					for (int e = 0; e < 16; e++)
						facc[k] += wf[e] * af[e];
				}
			} else {
				const float4 *a = (const float4 *)x + 2 * c;
				float4 a0 = __ldcg(a), a1 = __ldcg(a + 1);
#pragma unroll
				for (int k = 0; k < NR; k++) {
					float wf[8];
					bf16x8_to_float(raw[u][k], wf);
					facc[k] += wf[0] * a0.x + wf[1] * a0.y + wf[2] * a0.z + wf[3] * a0.w +
						   wf[4] * a1.x + wf[5] * a1.y + wf[6] * a1.z + wf[7] * a1.w;
				}
			}
		}
	}
	constexpr int WARPS = GEMV_THREADS / WARP;
	__shared__ float fpart[NR][WARPS];
	__shared__ int ipart[NR][WARPS];
	const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
#pragma unroll
	for (int k = 0; k < NR; k++) {
		if (WD == LLMK_I8) {
			int v = warp_sum_int(iacc[k]);
			if (lane == 0)
				ipart[k][warp] = v;
		} else {
			float v = warp_sum(facc[k]);
			if (lane == 0)
				fpart[k][warp] = v;
		}
	}
	__syncthreads();
	if (threadIdx.x < NR) {
		float f = 0;
		int i = 0;
		for (int v = 0; v < WARPS; v++) {
			if (WD == LLMK_I8)
				i += ipart[threadIdx.x][v];
			else
				f += fpart[threadIdx.x][v];
		}
		*fsum = f;
		*isum = i;
	}
}

/* A row's output from its dot product, as gemv_kernel scales it. */
template <enum llmk_dtype WD>
__device__ static __forceinline__ float gemv_scaled(float fsum, int isum, const float *scale, int scale_count,
						    int row, const float *x_scales)
{
	float wscale = scale ? scale[scale_count == 1 ? 0 : row] : 1.0f;
	if (WD == LLMK_I8)
		return (float)isum * __ldcg(x_scales) * wscale;
	if (WD == LLMK_E4M3)
		return fsum * __ldcg(x_scales) * wscale;
	return scale ? fsum * wscale : fsum;
}

template <enum llmk_dtype WD, int RB>
__global__ static void __launch_bounds__(GEMV_THREADS)
gemv_split_kernel(struct gemv_job job, int cols, const float *x, const uint8_t *xq, const float *x_scales)
{
	allow_next_kernel();
	const int b = blockIdx.x;
	const int mi = job.count > 1 && b >= job.first_block[1] ? (job.count > 2 && b >= job.first_block[2] ? 2 : 1) : 0;
	/* field by field with constant indices: a run-time index into the parameter
	 * struct would copy it to local memory */
#define GEMV_PICK(field) (mi == 0 ? job.m[0].field : mi == 1 ? job.m[1].field : job.m[2].field)
	const struct gemv_matrix m = {GEMV_PICK(weight), GEMV_PICK(scale), GEMV_PICK(scale_count), GEMV_PICK(rows),
				      GEMV_PICK(y)};
	const int first = mi == 0 ? job.first_block[0] : mi == 1 ? job.first_block[1] : job.first_block[2];
#undef GEMV_PICK
	const int r0 = (b - first) * RB;
	const int element_size = WD == LLMK_BF16 ? 2 : 1, chunks = cols * element_size / 16;
	const uint4 *w[RB];
	bool valid[RB];
#pragma unroll
	for (int k = 0; k < RB; k++) {
		valid[k] = r0 + k < m.rows;
		size_t offset = (size_t)(valid[k] ? r0 + k : 0) * cols * element_size;
		w[k] = (const uint4 *)((const uint8_t *)m.weight + offset);
	}
	float fsum;
	int isum;
	gemv_block_dots<WD, RB>(w, valid, chunks, x, xq, &fsum, &isum);
	if (threadIdx.x < RB && r0 + threadIdx.x < m.rows)
		m.y[r0 + threadIdx.x] = gemv_scaled<WD>(fsum, isum, m.scale, m.scale_count, r0 + threadIdx.x, x_scales);
}

/* Gate and up rows r0.. together; y = silu(gate) * up of the two scaled outputs. */
template <enum llmk_dtype WD, int RB>
__global__ static void __launch_bounds__(GEMV_THREADS)
gemv_swiglu_kernel(struct gemv_matrix gate, struct gemv_matrix up, int cols, const float *x, const uint8_t *xq,
		   const float *x_scales, float *y)
{
	allow_next_kernel();
	const int r0 = blockIdx.x * RB;
	const int element_size = WD == LLMK_BF16 ? 2 : 1, chunks = cols * element_size / 16;
	const uint4 *w[2 * RB];
	bool valid[2 * RB];
#pragma unroll
	for (int k = 0; k < RB; k++) {
		valid[k] = valid[RB + k] = r0 + k < gate.rows;
		size_t offset = (size_t)(valid[k] ? r0 + k : 0) * cols * element_size;
		w[k] = (const uint4 *)((const uint8_t *)gate.weight + offset);
		w[RB + k] = (const uint4 *)((const uint8_t *)up.weight + offset);
	}
	/* gemv_block_dots leaves row k's sum in thread k: gate's in k < RB, up's in RB + k */
	float fsum;
	int isum;
	gemv_block_dots<WD, 2 * RB>(w, valid, chunks, x, xq, &fsum, &isum);
	__shared__ float up_value[RB];
	const int k = threadIdx.x;
	if (k >= RB && k < 2 * RB && r0 + k - RB < up.rows)
		up_value[k - RB] = gemv_scaled<WD>(fsum, isum, up.scale, up.scale_count, r0 + k - RB, x_scales);
	__syncthreads();
	if (k < RB && r0 + k < gate.rows)
		y[r0 + k] = silu_times(gemv_scaled<WD>(fsum, isum, gate.scale, gate.scale_count, r0 + k, x_scales),
				       up_value[k]);
}

/* Launches kernel, with programmatic dependent launch when pdl is set (it may then
 * start while the stream's previous kernel finishes; see wait_for_previous_kernels). */
template <typename... Params, typename... Args>
static cudaError_t launch_maybe_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, bool pdl, cudaStream_t stream,
				    Args... args)
{
	cudaLaunchAttribute attribute = {};
	attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
	attribute.val.programmaticStreamSerializationAllowed = 1;
	cudaLaunchConfig_t config = {};
	config.gridDim = grid;
	config.blockDim = block;
	config.stream = stream;
	config.attrs = &attribute;
	config.numAttrs = pdl ? 1 : 0;
	return cudaLaunchKernelEx(&config, kernel, (Params)args...);
}

/* Rows a block takes when the caller leaves it to us (-1): 4 was the fastest of 1, 2
 * and 4 at every FP8 and INT8 projection shape of Llama-3.1-8B and 70B on an H200,
 * in two runs (BENCHMARKS.md). */
#define GEMV_AUTO_ROWS 4

static bool gemv_aligned(enum llmk_dtype wdtype, int cols, const void *weight, const float *x, const void *xq)
{
	size_t element_size = wdtype == LLMK_BF16 ? 2 : (wdtype == LLMK_E4M3 || wdtype == LLMK_I8) ? 1 : 0;
	return element_size && ((size_t)cols * element_size) % 16 == 0 && ((uintptr_t)weight % 16) == 0 &&
	       (wdtype == LLMK_BF16 ? x && (uintptr_t)x % 16 == 0 : xq && (uintptr_t)xq % 16 == 0);
}

template <enum llmk_dtype WD>
static cudaError_t launch_gemv_split(const struct gemv_job &job, int rows_per_block, bool pdl, int cols, const float *x,
				     const uint8_t *xq, const float *x_scales, cudaStream_t stream)
{
	dim3 grid(job.first_block[job.count]), block(GEMV_THREADS);
	switch (rows_per_block) {
	case 1: return launch_maybe_pdl(gemv_split_kernel<WD, 1>, grid, block, pdl, stream, job, cols, x, xq, x_scales);
	case 2: return launch_maybe_pdl(gemv_split_kernel<WD, 2>, grid, block, pdl, stream, job, cols, x, xq, x_scales);
	default: return launch_maybe_pdl(gemv_split_kernel<WD, 4>, grid, block, pdl, stream, job, cols, x, xq, x_scales);
	}
}

static cudaError_t launch_gemv_job(struct gemv_job *job, enum llmk_dtype wdtype, int rows_per_block, bool pdl,
				   int cols, const float *x, const void *xq, const float *x_scales, cudaStream_t stream)
{
	job->first_block[0] = 0;
	for (int i = 0; i < job->count; i++)
		job->first_block[i + 1] = job->first_block[i] + (job->m[i].rows + rows_per_block - 1) / rows_per_block;
	const uint8_t *q = (const uint8_t *)xq;
	switch (wdtype) {
	case LLMK_E4M3: return launch_gemv_split<LLMK_E4M3>(*job, rows_per_block, pdl, cols, x, q, x_scales, stream);
	case LLMK_I8: return launch_gemv_split<LLMK_I8>(*job, rows_per_block, pdl, cols, x, q, x_scales, stream);
	default: return launch_gemv_split<LLMK_BF16>(*job, rows_per_block, pdl, cols, x, q, x_scales, stream);
	}
}

static bool gemv_rows_per_block_valid(int n)
{
	return n == 1 || n == 2 || n == 4;
}

extern "C" cudaError_t llmk_gemv(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
				 const float *weight_scale, int weight_scale_count, const float *x, const void *xq,
				 const float *x_scales, float *y, int rows_per_block, cudaStream_t stream)
{
	if (!gemv_aligned(wdtype, cols, weight, x, xq) || rows <= 0)
		return cudaErrorNotSupported;
	if (rows_per_block == 0) { /* the warp-a-row kernel */
		unsigned blocks = (unsigned)((rows + LINEAR_WARPS - 1) / LINEAR_WARPS);
		gemv_kernel<1><<<blocks, LINEAR_WARPS * WARP, 0, stream>>>(weight, wdtype, rows, cols, weight_scale,
									  weight_scale_count, x, (const uint8_t *)xq,
									  x_scales, y, rows);
		return cudaGetLastError();
	}
	bool pdl = rows_per_block < 0 || !(rows_per_block & LLMK_GEMV_NO_PDL);
	rows_per_block = rows_per_block < 0 ? GEMV_AUTO_ROWS : rows_per_block & ~LLMK_GEMV_NO_PDL;
	if (!gemv_rows_per_block_valid(rows_per_block))
		return cudaErrorInvalidValue;
	struct gemv_job job = {};
	job.m[0] = {weight, weight_scale, weight_scale_count, rows, y};
	job.count = 1;
	return launch_gemv_job(&job, wdtype, rows_per_block, pdl, cols, x, xq, x_scales, stream);
}

extern "C" cudaError_t llmk_gemv_multi(const struct llmk_gemv_matrix *matrices, int matrix_count,
				       enum llmk_dtype wdtype, int cols, const float *x, const void *xq,
				       const float *x_scales, cudaStream_t stream)
{
	if (matrix_count < 1 || matrix_count > 3)
		return cudaErrorInvalidValue;
	struct gemv_job job = {};
	for (int i = 0; i < matrix_count; i++) {
		const struct llmk_gemv_matrix *m = &matrices[i];
		if (!gemv_aligned(wdtype, cols, m->weight, x, xq) || m->rows <= 0)
			return cudaErrorNotSupported;
		job.m[i] = {m->weight, m->weight_scale, m->weight_scale_count, m->rows, m->y};
	}
	job.count = matrix_count;
	return launch_gemv_job(&job, wdtype, GEMV_AUTO_ROWS, true, cols, x, xq, x_scales, stream);
}

template <enum llmk_dtype WD>
static cudaError_t launch_gemv_swiglu(const struct gemv_matrix &gate, const struct gemv_matrix &up, int rows_per_block,
				      int cols, const float *x, const uint8_t *xq, const float *x_scales, float *y,
				      cudaStream_t stream)
{
	dim3 grid((gate.rows + rows_per_block - 1) / rows_per_block), block(GEMV_THREADS);
	if (rows_per_block == 2)
		return launch_maybe_pdl(gemv_swiglu_kernel<WD, 2>, grid, block, true, stream, gate, up, cols, x, xq,
					x_scales, y);
	return launch_maybe_pdl(gemv_swiglu_kernel<WD, 1>, grid, block, true, stream, gate, up, cols, x, xq, x_scales,
				y);
}

extern "C" cudaError_t llmk_gemv_swiglu(const struct llmk_gemv_matrix *gate, const struct llmk_gemv_matrix *up,
					enum llmk_dtype wdtype, int cols, const float *x, const void *xq,
					const float *x_scales, float *y, cudaStream_t stream)
{
	if (gate->rows != up->rows || gate->rows <= 0 || !gemv_aligned(wdtype, cols, gate->weight, x, xq) ||
	    !gemv_aligned(wdtype, cols, up->weight, x, xq))
		return cudaErrorNotSupported;
	struct gemv_matrix g = {gate->weight, gate->weight_scale, gate->weight_scale_count, gate->rows, NULL};
	struct gemv_matrix u = {up->weight, up->weight_scale, up->weight_scale_count, up->rows, NULL};
	/* a block loads rows of both matrices: half the rows of a plain GEMV's block */
	int rb = GEMV_AUTO_ROWS / 2;
	const uint8_t *q = (const uint8_t *)xq;
	switch (wdtype) {
	case LLMK_E4M3: return launch_gemv_swiglu<LLMK_E4M3>(g, u, rb, cols, x, q, x_scales, y, stream);
	case LLMK_I8: return launch_gemv_swiglu<LLMK_I8>(g, u, rb, cols, x, q, x_scales, y, stream);
	default: return launch_gemv_swiglu<LLMK_BF16>(g, u, rb, cols, x, q, x_scales, y, stream);
	}
}

extern "C" cudaError_t llmk_linear(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
				   const float *weight_scale, int weight_scale_count,
				   const float *x, const void *xq, const float *x_scales, int count,
				   float *y, int y_stride, cudaStream_t stream)
{
	unsigned blocks = (unsigned)((rows + LINEAR_WARPS - 1) / LINEAR_WARPS);
	size_t element_size = wdtype == LLMK_BF16 ? 2 : (wdtype == LLMK_E4M3 || wdtype == LLMK_I8) ? 1 : 0;
	bool aligned = element_size && ((size_t)cols * element_size) % 16 == 0 && ((uintptr_t)weight % 16) == 0 &&
		       (!xq || (uintptr_t)xq % 16 == 0) && (!x || (uintptr_t)x % 16 == 0);
	/* BF16 stays on the warp-a-row kernel: the block kernel re-reads the float input
	 * through L2 for every block, which cost the 8B lm_head 12% (BENCHMARKS.md) */
	if (count == 1 && wdtype != LLMK_BF16 && gemv_aligned(wdtype, cols, weight, x, xq))
		return llmk_gemv(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, xq, x_scales, y, -1,
				 stream);
	if (aligned && count <= GEMV_MAX_TOKENS) {
		dim3 grid(blocks), block(LINEAR_WARPS * WARP);
		switch (count) {
		case 1: gemv_kernel<1><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, (const uint8_t *)xq, x_scales, y, y_stride); break;
		case 2: gemv_kernel<2><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, (const uint8_t *)xq, x_scales, y, y_stride); break;
		case 3: gemv_kernel<3><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, (const uint8_t *)xq, x_scales, y, y_stride); break;
		default: gemv_kernel<4><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, (const uint8_t *)xq, x_scales, y, y_stride); break;
		}
		return cudaGetLastError();
	}
	linear_kernel<<<blocks, LINEAR_WARPS * WARP, 0, stream>>>(weight, wdtype, rows, cols, weight_scale,
								   weight_scale_count, x, (const uint8_t *)xq,
								   x_scales, count, y, y_stride);
	return cudaGetLastError();
}

/* ---- RoPE: rotate_half pairs (i, i + head_dim/2) ---------------------------------- */

/* One RoPE rotation (rotate_half layout): the pair (a, b) of dimensions i and
 * i + head_dim/2 at position, as the CPU engine computes it; every RoPE kernel uses
 * this, so that they agree bit for bit. */
__device__ static inline void rope_pair(float a, float b, int position, float inv_freq, float *ra, float *rb)
{
	float angle = (float)position * inv_freq;
	float c = cosf(angle), s = sinf(angle);
	*ra = a * c - b * s;
	*rb = b * c + a * s;
}

__global__ static void rope_kernel(float *vec, int stride, int heads, int head_dim, int pos0,
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

extern "C" cudaError_t llmk_rope(float *vec, int count, int stride, int heads, int head_dim, int pos0,
				 const float *inv_freq, cudaStream_t stream)
{
	rope_kernel<<<count, 128, 0, stream>>>(vec, stride, heads, head_dim, pos0, NULL, inv_freq);
	return cudaGetLastError();
}

extern "C" cudaError_t llmk_rope_device_pos(float *vec, int count, int stride, int heads, int head_dim,
					    const int *pos_dev, const float *inv_freq, cudaStream_t stream)
{
	rope_kernel<<<count, 128, 0, stream>>>(vec, stride, heads, head_dim, 0, pos_dev, inv_freq);
	return cudaGetLastError();
}

/* ---- the KV cache: float32, bf16 or e4m3 elements --------------------------------
 * Stored values are rounded once, at the store: bf16 to nearest even, e4m3 to
 * nearest even with saturation to +-448 (scale 1); reading widens to float, and
 * all attention arithmetic is float32. */

__device__ static inline void cache_put(float *p, float v) { *p = v; }
__device__ static inline void cache_put(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ static inline void cache_put(__nv_fp8_storage_t *p, float v)
{
	*p = __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
}

__device__ static inline float cache_get(const float *p) { return *p; }
__device__ static inline float cache_get(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ static inline float cache_get(const __nv_fp8_storage_t *p)
{
	__half_raw h = __nv_cvt_fp8_to_halfraw(*p, __NV_E4M3);
	return __half2float(*(const __half *)&h);
}

template <typename T>
__global__ static void store_kv_kernel(const float *key_rows, const float *value_rows, T *key_cache,
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

static cudaError_t launch_store_kv(const float *key_rows, const float *value_rows, void *key_cache,
				   void *value_cache, enum llmk_dtype cache_dtype, int kv_dim, int count, int pos,
				   const int *pos_dev, cudaStream_t stream)
{
	size_t n = (size_t)count * kv_dim;
	unsigned blocks = (unsigned)((n + 255) / 256 < 8192 ? (n + 255) / 256 : 8192);
	dim3 grid(blocks ? blocks : 1), block(256);
	switch (cache_dtype) {
	case LLMK_F32:
		store_kv_kernel<<<grid, block, 0, stream>>>(key_rows, value_rows, (float *)key_cache,
							    (float *)value_cache, kv_dim, count, pos, pos_dev);
		break;
	case LLMK_BF16:
		store_kv_kernel<<<grid, block, 0, stream>>>(key_rows, value_rows, (__nv_bfloat16 *)key_cache,
							    (__nv_bfloat16 *)value_cache, kv_dim, count, pos, pos_dev);
		break;
	case LLMK_E4M3:
		store_kv_kernel<<<grid, block, 0, stream>>>(key_rows, value_rows, (__nv_fp8_storage_t *)key_cache,
							    (__nv_fp8_storage_t *)value_cache, kv_dim, count, pos,
							    pos_dev);
		break;
	default: return cudaErrorInvalidValue;
	}
	return cudaGetLastError();
}

extern "C" cudaError_t llmk_store_kv(const float *key_rows, const float *value_rows, float *key_cache,
				     float *value_cache, int kv_dim, int count, const int *pos_dev, cudaStream_t stream)
{
	return launch_store_kv(key_rows, value_rows, key_cache, value_cache, LLMK_F32, kv_dim, count, 0, pos_dev,
			       stream);
}

/* rope_kernel on q and on the new k rows, and store_kv_kernel's conversion of k and
 * v into the caches, in one launch: one block per token; the same expressions, so
 * the same bits as llmk_rope twice then llmk_store_kv_typed.  key_rows is left as it
 * was (the rotated k goes straight into the cache). */
template <typename T>
__global__ static void rope_store_kernel(float *q, int q_stride, int q_heads, const float *key_rows,
					 const float *value_rows, int kv_heads, int head_dim, int pos0, const int *pos_dev,
					 const float *inv_freq, T *key_cache, T *value_cache)
{
	const int t = blockIdx.x, half = head_dim / 2, kv_dim = kv_heads * head_dim;
	if (pos_dev)
		pos0 = *pos_dev;
	float *q_row = q + (size_t)t * q_stride;
	for (int k = threadIdx.x; k < q_heads * half; k += blockDim.x) {
		int h = k / half, i = k % half;
		float *v = q_row + h * head_dim;
		rope_pair(v[i], v[i + half], pos0 + t, inv_freq[i], &v[i], &v[i + half]);
	}
	const float *k_row = key_rows + (size_t)t * kv_dim;
	const float *v_row = value_rows + (size_t)t * kv_dim;
	T *k_out = key_cache + (size_t)(pos0 + t) * kv_dim;
	T *v_out = value_cache + (size_t)(pos0 + t) * kv_dim;
	for (int k = threadIdx.x; k < kv_heads * half; k += blockDim.x) {
		int h = k / half, i = k % half, base = h * head_dim;
		float ra, rb;
		rope_pair(k_row[base + i], k_row[base + i + half], pos0 + t, inv_freq[i], &ra, &rb);
		cache_put(k_out + base + i, ra);
		cache_put(k_out + base + i + half, rb);
	}
	for (int i = threadIdx.x; i < kv_dim; i += blockDim.x)
		cache_put(v_out + i, v_row[i]);
}

extern "C" cudaError_t llmk_rope_store_kv(float *q, int q_stride, int q_heads, const float *key_rows,
					  const float *value_rows, int kv_heads, int head_dim, int count, int pos0,
					  const int *pos_dev, const float *inv_freq, void *key_cache, void *value_cache,
					  enum llmk_dtype cache_dtype, cudaStream_t stream)
{
	if (count < 1)
		return cudaSuccess;
	switch (cache_dtype) {
	case LLMK_F32:
		rope_store_kernel<<<count, ROW_THREADS, 0, stream>>>(q, q_stride, q_heads, key_rows, value_rows, kv_heads, head_dim,
							     pos0, pos_dev, inv_freq, (float *)key_cache,
							     (float *)value_cache);
		break;
	case LLMK_BF16:
		rope_store_kernel<<<count, ROW_THREADS, 0, stream>>>(q, q_stride, q_heads, key_rows, value_rows, kv_heads, head_dim,
							     pos0, pos_dev, inv_freq, (__nv_bfloat16 *)key_cache,
							     (__nv_bfloat16 *)value_cache);
		break;
	case LLMK_E4M3:
		rope_store_kernel<<<count, ROW_THREADS, 0, stream>>>(q, q_stride, q_heads, key_rows, value_rows, kv_heads, head_dim,
							     pos0, pos_dev, inv_freq, (__nv_fp8_storage_t *)key_cache,
							     (__nv_fp8_storage_t *)value_cache);
		break;
	default:
		return cudaErrorInvalidValue;
	}
	return cudaGetLastError();
}

extern "C" cudaError_t llmk_store_kv_typed(const float *key_rows, const float *value_rows, void *key_cache,
					   void *value_cache, enum llmk_dtype cache_dtype, int kv_dim, int count,
					   const int *pos_dev, cudaStream_t stream)
{
	return launch_store_kv(key_rows, value_rows, key_cache, value_cache, cache_dtype, kv_dim, count, 0, pos_dev,
			       stream);
}

extern "C" cudaError_t llmk_store_kv_typed_at(const float *key_rows, const float *value_rows, void *key_cache,
					      void *value_cache, enum llmk_dtype cache_dtype, int kv_dim, int count,
					      int pos, cudaStream_t stream)
{
	return launch_store_kv(key_rows, value_rows, key_cache, value_cache, cache_dtype, kv_dim, count, pos, NULL,
			       stream);
}

/* ---- attention: one block per (head, query token), online softmax over tiles -----
 * Bound by reading the cache rows 0..pos (2 x pos x head_dim floats per head). */

#define ATTENTION_TILE 128
#define ATTENTION_MAX_HEAD_DIM 256

template <typename T>
__global__ static void attention_kernel(const float *q, const T *key_cache, const T *value_cache, float *out,
					int pos0, int heads, int kv_heads, int head_dim, float scale)
{
	__shared__ float q_shared[ATTENTION_MAX_HEAD_DIM];
	__shared__ float p[ATTENTION_TILE];
	__shared__ float partial[32];
	const int h = blockIdx.x, t = blockIdx.y, last = pos0 + t;
	const int kv_dim = kv_heads * head_dim, kv_offset = (h / (heads / kv_heads)) * head_dim;
	const float *qh = q + ((size_t)t * heads + h) * head_dim;
	for (int i = threadIdx.x; i < head_dim; i += blockDim.x)
		q_shared[i] = qh[i];
	__syncthreads();
	float running_max = -INFINITY, running_sum = 0;
	float acc0 = 0, acc1 = 0; /* threads own dims threadIdx.x and + blockDim.x */
	for (int start = 0; start <= last; start += ATTENTION_TILE) {
		int j = start + threadIdx.x;
		float score = -INFINITY;
		if (threadIdx.x < ATTENTION_TILE && j <= last) {
			const T *k = key_cache + (size_t)j * kv_dim + kv_offset;
			float dot = 0;
			for (int i = 0; i < head_dim; i++)
				dot += q_shared[i] * cache_get(k + i);
			score = dot * scale;
		}
		float tile_max = block_reduce(score, [](float a, float b) { return fmaxf(a, b); }, partial);
		float new_max = fmaxf(running_max, tile_max);
		float e = (threadIdx.x < ATTENTION_TILE && j <= last) ? expf(score - new_max) : 0;
		if (threadIdx.x < ATTENTION_TILE)
			p[threadIdx.x] = e;
		float tile_sum = block_reduce(e, [](float a, float b) { return a + b; }, partial);
		float correction = expf(running_max - new_max);
		running_sum = running_sum * correction + tile_sum;
		int tile_len = min(ATTENTION_TILE, last - start + 1);
		for (int half = 0; half < 2; half++) {
			int d = threadIdx.x + half * blockDim.x;
			if (d >= head_dim)
				continue;
			float sum = 0;
			for (int jj = 0; jj < tile_len; jj++)
				sum += p[jj] * cache_get(value_cache + (size_t)(start + jj) * kv_dim + kv_offset + d);
			if (half == 0)
				acc0 = acc0 * correction + sum;
			else
				acc1 = acc1 * correction + sum;
		}
		running_max = new_max;
		__syncthreads();
	}
	float *o = out + ((size_t)t * heads + h) * head_dim;
	if (threadIdx.x < head_dim)
		o[threadIdx.x] = acc0 / running_sum;
	if (threadIdx.x + blockDim.x < head_dim)
		o[threadIdx.x + blockDim.x] = acc1 / running_sum;
}

extern "C" cudaError_t llmk_attention_typed(const float *q, const void *key_cache, const void *value_cache,
					    enum llmk_dtype cache_dtype, float *out, int count, int pos0, int heads,
					    int kv_heads, int head_dim, float scale, cudaStream_t stream)
{
	if (head_dim > ATTENTION_MAX_HEAD_DIM || heads % kv_heads)
		return cudaErrorInvalidValue;
	dim3 grid(heads, count);
	switch (cache_dtype) {
	case LLMK_F32:
		attention_kernel<<<grid, ATTENTION_TILE, 0, stream>>>(q, (const float *)key_cache,
								      (const float *)value_cache, out, pos0, heads,
								      kv_heads, head_dim, scale);
		break;
	case LLMK_BF16:
		attention_kernel<<<grid, ATTENTION_TILE, 0, stream>>>(q, (const __nv_bfloat16 *)key_cache,
								      (const __nv_bfloat16 *)value_cache, out, pos0,
								      heads, kv_heads, head_dim, scale);
		break;
	case LLMK_E4M3:
		attention_kernel<<<grid, ATTENTION_TILE, 0, stream>>>(q, (const __nv_fp8_storage_t *)key_cache,
								      (const __nv_fp8_storage_t *)value_cache, out, pos0,
								      heads, kv_heads, head_dim, scale);
		break;
	default: return cudaErrorInvalidValue;
	}
	return cudaGetLastError();
}

extern "C" cudaError_t llmk_attention(const float *q, const float *key_cache, const float *value_cache, float *out,
				      int count, int pos0, int heads, int kv_heads, int head_dim, float scale,
				      cudaStream_t stream)
{
	return llmk_attention_typed(q, key_cache, value_cache, LLMK_F32, out, count, pos0, heads, kv_heads, head_dim,
				    scale, stream);
}

/* ---- random weights for benchmarks ------------------------------------------------ */

__global__ static void fill_random_kernel(void *p, size_t count, enum llmk_dtype dtype, uint32_t seed, float amplitude)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
		uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 32) * 40503u ^ seed;
		h ^= h >> 15;
		h *= 2246822519u;
		h ^= h >> 13;
		h *= 3266489917u;
		h ^= h >> 16;
		if (dtype == LLMK_BF16) {
			float v = ((float)(h & 0xffffff) / 8388608.0f - 1.0f) * amplitude;
			((__nv_bfloat16 *)p)[i] = __float2bfloat16(v);
		} else {
			uint8_t b = (uint8_t)h;
			if (dtype == LLMK_E4M3 && (b & 0x7f) == 0x7f)
				b ^= 0x01;
			((uint8_t *)p)[i] = b;
		}
	}
}

extern "C" cudaError_t llmk_fill_random(void *p, size_t count, enum llmk_dtype dtype, uint32_t seed, float amplitude,
					cudaStream_t stream)
{
	fill_random_kernel<<<1024, 256, 0, stream>>>(p, count, dtype, seed, amplitude);
	return cudaGetLastError();
}

/* ---- decode attention, split over the KV length ------------------------------------
 * Bound by reading the cache: 2 x positions x kv_dim elements per token, once per KV
 * head for its whole group of query heads.  A cached row is read by a group of
 * lanes (ROW_LANES), each lane loading EPL consecutive elements at once: 16 bytes
 * for float32 and bf16, 8 bytes for e4m3 (8 elements, so that the group's queries
 * and accumulators, 2 x 8 x EPL floats a lane, stay in registers); a warp takes
 * 32 / ROW_LANES rows at a time, every load coalesced. */

#define DECODE_SPLITS 64
#define DECODE_MAX_GROUP 8
#define DECODE_WARPS 4

extern "C" size_t llmk_attention_decode_scratch(int heads, int head_dim, int max_tokens)
{
	/* per (token, head, split): max, sum, head_dim accumulators */
	size_t slots = (size_t)LLMK_DECODE_MAX_TOKENS * heads * DECODE_SPLITS;
	if ((size_t)max_tokens * heads > slots)
		slots = (size_t)max_tokens * heads;
	return slots * (head_dim + 2);
}

/* EPL consecutive cache elements as floats, in one load. */
__device__ static inline void load_row_part(const float *p, float *out)
{
	float4 v = *(const float4 *)p;
	out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w;
}

__device__ static inline void load_row_part(const __nv_bfloat16 *p, float *out)
{
	bf16x8_to_float(*(const uint4 *)p, out);
}

__device__ static inline void load_row_part(const __nv_fp8_storage_t *p, float *out)
{
	uint2 raw = *(const uint2 *)p;
	const __nv_fp8x2_storage_t *pairs = (const __nv_fp8x2_storage_t *)&raw;
#pragma unroll
	for (int k = 0; k < 4; k++) {
		__half2_raw h = __nv_cvt_fp8x2_to_halfraw2(pairs[k], __NV_E4M3);
		float2 f = __half22float2(*(const __half2 *)&h);
		out[2 * k] = f.x;
		out[2 * k + 1] = f.y;
	}
}

template <typename T, int HD>
__global__ static void __launch_bounds__(DECODE_WARPS * WARP)
attention_split_kernel(const float *q, const T *key_cache, const T *value_cache, int pos0, const int *pos_dev,
		       int heads, int kv_heads, float scale, int splits, float *part_max, float *part_sum,
		       float *part_acc)
{
	constexpr int EPL = sizeof(T) == 4 ? 4 : 8;      /* elements a lane loads at once */
	constexpr int ROW_LANES = HD / EPL;              /* lanes reading one row */
	constexpr int ROWS = WARP / ROW_LANES;           /* rows a warp reads at once */
	constexpr int SLOTS = DECODE_WARPS * ROWS;       /* independent softmax states a block */
	static_assert(ROW_LANES <= WARP && WARP % ROW_LANES == 0, "head_dim does not fit a warp");
	if (pos_dev)
		pos0 = *pos_dev;
	const int kvh = blockIdx.x, t = blockIdx.y, split = blockIdx.z;
	const int group = heads / kv_heads, kv_dim = kv_heads * HD;
	const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
	const int sub = lane / ROW_LANES, dim0 = (lane % ROW_LANES) * EPL, slot = warp * ROWS + sub;
	const int last = pos0 + t, total = last + 1;
	const int chunk = (total + splits - 1) / splits;
	const int begin = split * chunk, end = min(total, begin + chunk);

	float qreg[DECODE_MAX_GROUP][EPL], acc[DECODE_MAX_GROUP][EPL], m[DECODE_MAX_GROUP], l[DECODE_MAX_GROUP];
#pragma unroll
	for (int g = 0; g < DECODE_MAX_GROUP; g++) {
		m[g] = -INFINITY;
		l[g] = 0;
#pragma unroll
		for (int k = 0; k < EPL; k++) {
			acc[g][k] = 0;
			qreg[g][k] = g < group ? q[((size_t)t * heads + kvh * group + g) * HD + dim0 + k] * scale : 0;
		}
	}
	/* every lane runs the same trips (the shuffles need the whole warp); a lane
	 * group past the end loads nothing and leaves its state alone */
	for (int j0 = begin + warp * ROWS; j0 < end; j0 += DECODE_WARPS * ROWS) {
		const int j = j0 + sub;
		const bool valid = j < end;
		float kreg[EPL], vreg[EPL];
		if (valid) {
			load_row_part(key_cache + (size_t)j * kv_dim + kvh * HD + dim0, kreg);
			load_row_part(value_cache + (size_t)j * kv_dim + kvh * HD + dim0, vreg);
		} else {
#pragma unroll
			for (int k = 0; k < EPL; k++)
				kreg[k] = vreg[k] = 0;
		}
#pragma unroll
		for (int g = 0; g < DECODE_MAX_GROUP; g++) {
			if (g >= group)
				break;
			float dot = 0;
#pragma unroll
			for (int k = 0; k < EPL; k++)
				dot += qreg[g][k] * kreg[k];
#pragma unroll
			for (int offset = ROW_LANES / 2; offset > 0; offset /= 2)
				dot += __shfl_xor_sync(0xffffffffu, dot, offset);
			if (!valid)
				continue;
			float new_max = fmaxf(m[g], dot);
			float correction = expf(m[g] - new_max), p = expf(dot - new_max);
			l[g] = l[g] * correction + p;
#pragma unroll
			for (int k = 0; k < EPL; k++)
				acc[g][k] = acc[g][k] * correction + p * vreg[k];
			m[g] = new_max;
		}
	}
	/* combine the block's softmax states through shared memory */
	__shared__ float s_max[SLOTS][DECODE_MAX_GROUP], s_sum[SLOTS][DECODE_MAX_GROUP];
	__shared__ float s_acc[SLOTS][DECODE_MAX_GROUP][HD];
#pragma unroll
	for (int g = 0; g < DECODE_MAX_GROUP; g++) {
		if (g >= group)
			break;
		if (dim0 == 0) {
			s_max[slot][g] = m[g];
			s_sum[slot][g] = l[g];
		}
#pragma unroll
		for (int k = 0; k < EPL; k++)
			s_acc[slot][g][dim0 + k] = acc[g][k];
	}
	__syncthreads();
	for (int idx = threadIdx.x; idx < group * HD; idx += blockDim.x) {
		int g = idx / HD, d = idx % HD;
		float block_max = -INFINITY;
		for (int w = 0; w < SLOTS; w++)
			block_max = fmaxf(block_max, s_max[w][g]);
		float sum = 0, value = 0;
		for (int w = 0; w < SLOTS; w++) {
			float f = s_max[w][g] == -INFINITY ? 0 : expf(s_max[w][g] - block_max);
			sum += s_sum[w][g] * f;
			value += s_acc[w][g][d] * f;
		}
		size_t out_slot = ((size_t)t * heads + kvh * group + g) * splits + split;
		part_acc[out_slot * HD + d] = value;
		if (d == 0) {
			part_max[out_slot] = block_max;
			part_sum[out_slot] = sum;
		}
	}
}

__global__ static void attention_combine_kernel(int heads, int head_dim, int splits, const float *part_max,
						const float *part_sum, const float *part_acc, float *out)
{
	const int h = blockIdx.x, t = blockIdx.y;
	const size_t base = ((size_t)t * heads + h) * splits;
	float global_max = -INFINITY;
	for (int s = 0; s < splits; s++)
		global_max = fmaxf(global_max, part_max[base + s]);
	for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
		float sum = 0, value = 0;
		for (int s = 0; s < splits; s++) {
			float f = part_max[base + s] == -INFINITY ? 0 : expf(part_max[base + s] - global_max);
			sum += part_sum[base + s] * f;
			value += part_acc[(base + s) * head_dim + d] * f;
		}
		out[((size_t)t * heads + h) * head_dim + d] = value / sum;
	}
}

template <typename T>
static void launch_split_kernel(dim3 grid, const float *q, const void *key_cache, const void *value_cache, int pos0,
				const int *pos_dev, int heads, int kv_heads, int head_dim, float scale, int splits,
				float *part_max, float *part_sum, float *part_acc, cudaStream_t stream)
{
	if (head_dim == 128)
		attention_split_kernel<T, 128><<<grid, DECODE_WARPS * WARP, 0, stream>>>(
			q, (const T *)key_cache, (const T *)value_cache, pos0, pos_dev, heads, kv_heads, scale, splits,
			part_max, part_sum, part_acc);
	else
		attention_split_kernel<T, 64><<<grid, DECODE_WARPS * WARP, 0, stream>>>(
			q, (const T *)key_cache, (const T *)value_cache, pos0, pos_dev, heads, kv_heads, scale, splits,
			part_max, part_sum, part_acc);
}

static cudaError_t launch_attention_split(const float *q, const void *key_cache, const void *value_cache,
					  enum llmk_dtype cache_dtype, float *out, int count, int pos0,
					  const int *pos_dev, int heads, int kv_heads, int head_dim, float scale,
					  float *scratch, int splits, cudaStream_t stream)
{
	size_t slots = (size_t)count * heads * splits;
	float *part_max = scratch, *part_sum = scratch + slots, *part_acc = scratch + 2 * slots;
	dim3 grid(kv_heads, count, splits);
	switch (cache_dtype) {
	case LLMK_F32:
		launch_split_kernel<float>(grid, q, key_cache, value_cache, pos0, pos_dev, heads, kv_heads, head_dim,
					   scale, splits, part_max, part_sum, part_acc, stream);
		break;
	case LLMK_BF16:
		launch_split_kernel<__nv_bfloat16>(grid, q, key_cache, value_cache, pos0, pos_dev, heads, kv_heads,
						   head_dim, scale, splits, part_max, part_sum, part_acc, stream);
		break;
	case LLMK_E4M3:
		launch_split_kernel<__nv_fp8_storage_t>(grid, q, key_cache, value_cache, pos0, pos_dev, heads, kv_heads,
							head_dim, scale, splits, part_max, part_sum, part_acc, stream);
		break;
	default: return cudaErrorNotSupported;
	}
	cudaError_t status = cudaGetLastError();
	if (status != cudaSuccess)
		return status;
	attention_combine_kernel<<<dim3(heads, count), 128, 0, stream>>>(heads, head_dim, splits, part_max, part_sum,
									   part_acc, out);
	return cudaGetLastError();
}

static bool decode_shape_supported(int heads, int kv_heads, int head_dim, enum llmk_dtype cache_dtype)
{
	return kv_heads > 0 && heads % kv_heads == 0 && heads / kv_heads <= DECODE_MAX_GROUP &&
	       (head_dim == 64 || head_dim == 128) &&
	       (cache_dtype == LLMK_F32 || cache_dtype == LLMK_BF16 || cache_dtype == LLMK_E4M3);
}

extern "C" cudaError_t llmk_attention_decode_typed(const float *q, const void *key_cache, const void *value_cache,
						   enum llmk_dtype cache_dtype, float *out, int count, int pos0,
						   int heads, int kv_heads, int head_dim, float scale, float *scratch,
						   int max_tokens, cudaStream_t stream)
{
	if (count > max_tokens || !decode_shape_supported(heads, kv_heads, head_dim, cache_dtype))
		return cudaErrorNotSupported;
	/* decode: always DECODE_SPLITS parts (empty ones cost a block each), so that the
	 * eager path and the captured graph (whose grid cannot change) add in the same
	 * order; prefill: one split a token, the tokens themselves fill the GPU */
	int splits = count > LLMK_DECODE_MAX_TOKENS ? 1 : DECODE_SPLITS;
	return launch_attention_split(q, key_cache, value_cache, cache_dtype, out, count, pos0, NULL, heads, kv_heads,
				      head_dim, scale, scratch, splits, stream);
}

extern "C" cudaError_t llmk_attention_decode(const float *q, const float *key_cache, const float *value_cache,
					     float *out, int count, int pos0, int heads, int kv_heads, int head_dim,
					     float scale, float *scratch, int max_tokens, cudaStream_t stream)
{
	return llmk_attention_decode_typed(q, key_cache, value_cache, LLMK_F32, out, count, pos0, heads, kv_heads,
					   head_dim, scale, scratch, max_tokens, stream);
}

extern "C" cudaError_t llmk_attention_decode_device_pos_typed(const float *q, const void *key_cache,
							      const void *value_cache, enum llmk_dtype cache_dtype,
							      float *out, int count, const int *pos_dev, int heads,
							      int kv_heads, int head_dim, float scale, float *scratch,
							      cudaStream_t stream)
{
	if (count > LLMK_DECODE_MAX_TOKENS || !decode_shape_supported(heads, kv_heads, head_dim, cache_dtype))
		return cudaErrorNotSupported;
	return launch_attention_split(q, key_cache, value_cache, cache_dtype, out, count, 0, pos_dev, heads, kv_heads,
				      head_dim, scale, scratch, DECODE_SPLITS, stream);
}

extern "C" cudaError_t llmk_attention_decode_device_pos(const float *q, const float *key_cache,
							const float *value_cache, float *out, int count,
							const int *pos_dev, int heads, int kv_heads, int head_dim,
							float scale, float *scratch, cudaStream_t stream)
{
	return llmk_attention_decode_device_pos_typed(q, key_cache, value_cache, LLMK_F32, out, count, pos_dev, heads,
						      kv_heads, head_dim, scale, scratch, stream);
}
