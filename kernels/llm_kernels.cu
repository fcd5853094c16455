/*
 * llm_kernels.cu - the kernels of one Llama forward pass that do not touch positions
 * (see llm_kernels.h): embedding, RMSNorm, SwiGLU, activation quantization, random
 * weights.  The linear layers are in gemv_kernels.cu; RoPE, the KV cache and attention
 * in attention_kernels.cu.
 *
 * Every kernel mirrors the CPU path's arithmetic so that the two backends agree to
 * float32 rounding (summation order aside); the decode step is replayed as a CUDA graph
 * (engine_cuda.c), checked against these kernels' results.
 */
#include "llm_kernels.h"

#include "kernel_common.cuh"

/* ---- embedding, norm, elementwise: bound by reading their inputs once ---------- */


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

/* ---- activation quantization: one block per token -------------------------------
 * The scale and the rounding are shared device functions, so that the fused
 * norm/SwiGLU + quantize kernels below give llmk_quantize's bits exactly. */

__global__ static void quantize_kernel(const float *x, int n, enum llmk_quant quant, float static_scale,
				       uint8_t *xq, float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
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
	return launch_maybe_pdl(quantize_kernel, dim3(count), dim3(ROW_THREADS), true, stream, x, n, quant, static_scale,
				(uint8_t *)xq, scales);
}

/* RMSNorm then quantize, one block per token: the sum of squares as rmsnorm_kernel
 * adds it, the normed values with its expression, then the scale and the codes as
 * quantize_kernel makes them, so the same bits as the two launches.  With residual,
 * x += residual first (written back: a thread rereads only what it wrote), as
 * the add everywhere else does it; with quant NONE, the normed rows only (out required then). */
__global__ static void rmsnorm_quantize_kernel(float *x, const float *residual, const float *weight, float *out,
					       int hidden, float eps, enum llmk_quant quant, float static_scale,
					       uint8_t *xq, float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
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
	return launch_maybe_pdl(rmsnorm_quantize_kernel, dim3(count), dim3(ROW_THREADS), true, stream, (float *)x,
				(const float *)NULL, weight, out, hidden, eps, quant, static_scale, (uint8_t *)xq, scales);
}

extern "C" cudaError_t llmk_add_rmsnorm_quantize(float *x, const float *residual, const float *weight, float *out,
						 int count, int hidden, float eps, enum llmk_quant quant,
						 float static_scale, void *xq, float *scales, cudaStream_t stream)
{
	if (!out || out == x)
		return cudaErrorInvalidValue;
	return launch_maybe_pdl(rmsnorm_quantize_kernel, dim3(count), dim3(ROW_THREADS), true, stream, x, residual, weight,
				out, hidden, eps, quant, static_scale, (uint8_t *)xq, scales);
}

/* silu(gate) * up then quantize, one block per token, as rmsnorm_quantize_kernel. */
__global__ static void swiglu_quantize_kernel(const float *gate, const float *up, float *out, int n,
					      enum llmk_quant quant, float static_scale, uint8_t *xq, float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
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
	return launch_maybe_pdl(swiglu_quantize_kernel, dim3(count), dim3(ROW_THREADS), true, stream, gate, up, out, n,
				quant, static_scale, (uint8_t *)xq, scales);
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

