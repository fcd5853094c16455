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

#include <limits.h>

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
 * norm/SwiGLU + quantize kernels below give llmk_quantize's bits exactly.  This form
 * takes rows of any length and alignment, rereading the row for its codes;
 * quantize_rows_kernel (below) keeps a row in registers. */

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

/* ---- RMSNorm / SwiGLU then quantize, one block per token ---------------------------
 * Bound by the token's bytes: the row read (with residual, the residual read and the
 * sum written back), the float output when asked, one byte a value; weight stays in L2.
 * Each gives the bits of the unfused launches (llmk_rmsnorm / llmk_swiglu, then
 * llmk_quantize): every value by the same expression, the same sums of squares (below),
 * the scale and the codes by quantize_scale and quantize_value.
 *
 * A thread keeps the values it owns in registers from their load to their rounding, so
 * a row is read once and each thread's loads are in flight together (the loops that
 * reread a row waited out one load's latency a value).  Only a dynamic scale waits for
 * the whole row (its maximum, a block reduction); a static one does not depend on the
 * row (quant_is_static), so each value is rounded as soon as it is made.  Rows too long
 * for the registers, and SwiGLU rows that are not whole aligned float4s, take the
 * *_any_kernel forms, which reread what they wrote. */

/* The token's scale, written to scales[blockIdx.x] by thread 0, and the factor its
 * values are multiplied by, as quantize_kernel finds them: for a dynamic scheme from the
 * block's largest max_abs (a block reduction: every thread of the block calls this); for
 * a static one at once, max_abs unread (see quant_is_static). */
__device__ static float token_scale(float max_abs, enum llmk_quant quant, float static_scale, float *scales,
				    float *partial)
{
	if (!quant_is_static(quant))
		max_abs = block_reduce(max_abs, [](float a, float b) { return fmaxf(a, b); }, partial);
	float s, inv;
	quantize_scale(max_abs, quant, static_scale, &s, &inv);
	if (threadIdx.x == 0)
		scales[blockIdx.x] = s;
	return inv;
}

/* From MANY_ROWS rows on (a prefill step) a row takes MANY_ROWS_THREADS threads, so
 * that several rows share an SM and their loads overlap each other's reductions: with
 * 1024 threads a row, 2 rows an SM, the memory idles through each reduction.  An H100
 * (BENCHMARKS.md) took 61.6 us for the norm of 2048 rows of 4096 with 1024 threads a
 * row, 32.6 us with 256 (35.0 with 512); the add + norm 83.2 and 53.4 us.  Their sums of
 * squares add in another order than ROW_THREADS' (in double, of exact float products:
 * the float norm is the same but for a double rounding at a float tie).  Fewer rows (a
 * decode step, a verify pass) keep ROW_THREADS, for one row's latency.  A build may move
 * the bound (-DMANY_ROWS=N; a large N keeps ROW_THREADS everywhere, for a comparison). */
#ifndef MANY_ROWS
#define MANY_ROWS 64
#endif
#ifndef MANY_ROWS_THREADS
#define MANY_ROWS_THREADS 256
#endif
#define MANY_ROWS_MIN_BLOCKS(values) ((values) > 16 || MANY_ROWS_THREADS > 256 ? 1 : 768 / MANY_ROWS_THREADS)

/* RMSNorm then quantize for rows of at most VALUES * blockDim.x values (x += residual
 * first, written back, when residual is set; with quant NONE the normed rows only, out
 * required then).  Thread j owns values j, j + blockDim.x, j + 2 * blockDim.x, ...: the
 * values rmsnorm_kernel's thread j adds to its sum of squares, in its order, so the
 * block_reduce of the same sums gives the same norm.  That order fixes which values a
 * thread holds, so these accesses stay 4-byte ones (a warp's still cover 128
 * consecutive bytes): a float4 a thread would need four threads' values.  x and residual
 * are loaded before the first store, so out may be x. */
template <int VALUES, int THREADS = ROW_THREADS>
__global__ static void __launch_bounds__(THREADS, THREADS == ROW_THREADS ? 1 : MANY_ROWS_MIN_BLOCKS(VALUES))
	rmsnorm_quantize_kernel(float *x, const float *residual, const float *weight, float *out, int hidden,
				float eps, enum llmk_quant quant, float static_scale, uint8_t *xq, float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
	__shared__ double partial[32];
	__shared__ float fpartial[32];
	float *row = x + (size_t)blockIdx.x * hidden;
	const float *added = residual ? residual + (size_t)blockIdx.x * hidden : NULL;
	float *out_row = out ? out + (size_t)blockIdx.x * hidden : NULL;
	/* one row a block (a decode step) holds its weights from the start, for latency;
	 * many rows reread them after the sum (from L1), for registers */
	constexpr bool hold_weights = THREADS == ROW_THREADS;
	float v[VALUES] = {}, w[hold_weights ? VALUES : 1] = {};
#pragma unroll
	for (int k = 0; k < VALUES; k++) {
		int i = threadIdx.x + k * blockDim.x;
		if (i < hidden) {
			v[k] = row[i];
			if (added)
				v[k] += added[i];
			if constexpr (hold_weights)
				w[k] = weight[i];
		}
	}
	double ss = 0;
#pragma unroll
	for (int k = 0; k < VALUES; k++) {
		int i = threadIdx.x + k * blockDim.x;
		if (i < hidden) {
			if (added)
				row[i] = v[k];
			ss += (double)v[k] * v[k];
		}
	}
	ss = block_reduce(ss, [](double a, double b) { return a + b; }, partial);
	float norm = 1.0f / sqrtf((float)(ss / hidden) + eps);
	bool fp8 = quant_is_fp8(quant), at_once = quant_is_static(quant);
	uint8_t *q_row = quant == LLMK_QUANT_NONE ? NULL : xq + (size_t)blockIdx.x * hidden;
	float inv = at_once ? token_scale(0, quant, static_scale, scales, fpartial) : 0;
	float max_abs = 0;
#pragma unroll
	for (int k = 0; k < VALUES; k++) {
		int i = threadIdx.x + k * blockDim.x;
		if (i < hidden) {
			float weight_k;
			if constexpr (hold_weights)
				weight_k = w[k];
			else
				weight_k = weight[i];
			v[k] = weight_k * (v[k] * norm);
			if (out_row)
				out_row[i] = v[k];
			if (at_once)
				q_row[i] = quantize_value(v[k], inv, fp8);
			max_abs = fmaxf(max_abs, fabsf(v[k]));
		}
	}
	if (quant == LLMK_QUANT_NONE || at_once)
		return;
	inv = token_scale(max_abs, quant, static_scale, scales, fpartial);
#pragma unroll
	for (int k = 0; k < VALUES; k++) {
		int i = threadIdx.x + k * blockDim.x;
		if (i < hidden)
			q_row[i] = quantize_value(v[k], inv, fp8);
	}
}

/* rmsnorm_quantize_kernel for rows of any length: the sum of squares as rmsnorm_kernel
 * adds it, then the normed values (rounded at once for a static scale), then for a
 * dynamic scale the codes from the row's maximum, each value reread from out_row (or
 * made again: a thread rereads only what it wrote). */
__global__ static void rmsnorm_quantize_any_kernel(float *x, const float *residual, const float *weight, float *out,
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
	bool fp8 = quant_is_fp8(quant), at_once = quant_is_static(quant);
	uint8_t *q_row = quant == LLMK_QUANT_NONE ? NULL : xq + (size_t)blockIdx.x * hidden;
	float inv = at_once ? token_scale(0, quant, static_scale, scales, fpartial) : 0;
	float max_abs = 0;
	for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
		float v = weight[i] * (row[i] * norm);
		if (out_row)
			out_row[i] = v;
		if (at_once)
			q_row[i] = quantize_value(v, inv, fp8);
		max_abs = fmaxf(max_abs, fabsf(v));
	}
	if (quant == LLMK_QUANT_NONE || at_once)
		return;
	inv = token_scale(max_abs, quant, static_scale, scales, fpartial);
	for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
		float v = out_row ? out_row[i] : weight[i] * (row[i] * norm);
		q_row[i] = quantize_value(v, inv, fp8);
	}
}

/* The RMSNorm + quantize launch of both entry points: the register form whose VALUES
 * hold the row (4096 values for Llama 3 8B, 8192 for 70B), else the rereading one. */
static cudaError_t launch_rmsnorm_quantize(float *x, const float *residual, const float *weight, float *out,
					   int count, int hidden, float eps, enum llmk_quant quant, float static_scale,
					   void *xq, float *scales, cudaStream_t stream)
{
	void (*kernel)(float *, const float *, const float *, float *, int, float, enum llmk_quant, float, uint8_t *,
		       float *) = rmsnorm_quantize_any_kernel;
	int threads = ROW_THREADS;
	constexpr int many = 4096 / MANY_ROWS_THREADS; /* values a thread holds of a row of 4096 */
	if (count >= MANY_ROWS && hidden <= 2 * many * MANY_ROWS_THREADS) {
		threads = MANY_ROWS_THREADS;
		kernel = hidden <= many * MANY_ROWS_THREADS ? rmsnorm_quantize_kernel<many, MANY_ROWS_THREADS>
							    : rmsnorm_quantize_kernel<2 * many, MANY_ROWS_THREADS>;
	} else if (hidden <= 4 * ROW_THREADS) {
		kernel = rmsnorm_quantize_kernel<4>;
	} else if (hidden <= 8 * ROW_THREADS) {
		kernel = rmsnorm_quantize_kernel<8>;
	}
	return launch_maybe_pdl(kernel, dim3(count), dim3(threads), true, stream, x, residual, weight, out, hidden,
				eps, quant, static_scale, (uint8_t *)xq, scales);
}

extern "C" cudaError_t llmk_rmsnorm_quantize(const float *x, const float *weight, float *out, int count, int hidden,
					     float eps, enum llmk_quant quant, float static_scale, void *xq,
					     float *scales, cudaStream_t stream)
{
	if (quant == LLMK_QUANT_NONE)
		return cudaErrorInvalidValue;
	/* without a residual the kernel does not write x */
	return launch_rmsnorm_quantize((float *)x, NULL, weight, out, count, hidden, eps, quant, static_scale, xq,
				       scales, stream);
}

extern "C" cudaError_t llmk_add_rmsnorm_quantize(float *x, const float *residual, const float *weight, float *out,
						 int count, int hidden, float eps, enum llmk_quant quant,
						 float static_scale, void *xq, float *scales, cudaStream_t stream)
{
	if (out == x || (!out && quant == LLMK_QUANT_NONE))
		return cudaErrorInvalidValue;
	return launch_rmsnorm_quantize(x, residual, weight, out, count, hidden, eps, quant, static_scale, xq, scales,
				       stream);
}

/* silu_times of each of the four values. */
__device__ static inline float4 silu_times4(float4 g, float4 u)
{
	return make_float4(silu_times(g.x, u.x), silu_times(g.y, u.y), silu_times(g.z, u.z), silu_times(g.w, u.w));
}

/* The codes of a row's chunks that this thread holds (v[k]: chunk threadIdx.x + k *
 * blockDim.x of xq's row, none past chunks), under the scale token_scale makes of the
 * row's maximum (max_abs: this thread's part; partial: the block's shared scratch).
 * Every thread of the block calls it. */
template <int CHUNKS>
__device__ static inline void quantize_held_chunks(const float4 *v, int chunks, float max_abs, enum llmk_quant quant,
						   float static_scale, uint32_t *xq, float *scales, float *partial)
{
	const float inv = token_scale(max_abs, quant, static_scale, scales, partial);
	const bool fp8 = quant_is_fp8(quant);
#pragma unroll
	for (int k = 0; k < CHUNKS; k++) {
		const int c = threadIdx.x + k * blockDim.x;
		if (c < chunks)
			xq[c] = quantize4(v[k], inv, fp8);
	}
}

static bool aligned_to(const void *p, uintptr_t bytes)
{
	return (uintptr_t)p % bytes == 0;
}

/* llmk_quantize for rows of at most 4 * CHUNKS * blockDim.x values in float4 chunks (a
 * row's values a multiple of 4, every row 16-byte aligned): thread j owns chunks j,
 * j + blockDim.x, ..., loads them all before its first use and keeps them in registers
 * to their rounding, so that a row costs one load's latency, not one a value as
 * quantize_kernel's loops do (the decode step's o_proj and down_proj inputs under a
 * dynamic scale).  The maximum is exact in any order, and the scale and codes come from
 * token_scale and quantize4: quantize_kernel's bits. */
template <int CHUNKS>
__global__ static void __launch_bounds__(ROW_THREADS)
	quantize_rows_kernel(const float4 *x, int chunks, enum llmk_quant quant, float static_scale, uint32_t *xq,
			     float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
	__shared__ float partial[32];
	const size_t offset = (size_t)blockIdx.x * chunks;
	float4 v[CHUNKS];
#pragma unroll
	for (int k = 0; k < CHUNKS; k++) {
		const int c = threadIdx.x + k * blockDim.x;
		v[k] = c < chunks ? x[offset + c] : make_float4(0, 0, 0, 0);
	}
	float max_abs = 0;
#pragma unroll
	for (int k = 0; k < CHUNKS; k++)
		max_abs = max_abs4(max_abs, v[k]);
	quantize_held_chunks<CHUNKS>(v, chunks, max_abs, quant, static_scale, xq + offset, scales, partial);
}

/* The register form for rows of n values when they are whole aligned float4s of at most
 * 8 chunks a thread (Llama 3 70B's 28672), else the any-length form. */
extern "C" cudaError_t llmk_quantize(const float *x, int count, int n, enum llmk_quant quant, float static_scale,
				     void *xq, float *scales, cudaStream_t stream)
{
	const int chunks = n / 4;
	const bool whole = n > 0 && n % 4 == 0 && aligned_to(x, 16) && aligned_to(xq, 4);
	void (*kernel)(const float4 *, int, enum llmk_quant, float, uint32_t *, float *) = NULL;
	if (whole && chunks <= ROW_THREADS)
		kernel = quantize_rows_kernel<1>;
	else if (whole && chunks <= 2 * ROW_THREADS)
		kernel = quantize_rows_kernel<2>;
	else if (whole && chunks <= 4 * ROW_THREADS)
		kernel = quantize_rows_kernel<4>;
	else if (whole && chunks <= 8 * ROW_THREADS)
		kernel = quantize_rows_kernel<8>;
	if (kernel)
		return launch_maybe_pdl(kernel, dim3(count), dim3(ROW_THREADS), true, stream, (const float4 *)x, chunks,
					quant, static_scale, (uint32_t *)xq, scales);
	return launch_maybe_pdl(quantize_kernel, dim3(count), dim3(ROW_THREADS), true, stream, x, n, quant, static_scale,
				(uint8_t *)xq, scales);
}

/* silu(gate) * up of the chunks thread threadIdx.x owns, chunk threadIdx.x + k *
 * blockDim.x into v[k] (zeros past the row's chunks, never stored): GROUP chunks' loads
 * issued together before their values are made (not a load's latency a chunk).  With 8
 * chunks' values held, 2 chunks' loads at a time is what the 64 registers of a
 * 1024-thread block leave room for without spilling. */
template <int CHUNKS>
__device__ static inline void swiglu_chunks(const float4 *gate, const float4 *up, int chunks, float4 *v)
{
	constexpr int GROUP = CHUNKS <= 4 ? CHUNKS : 2;
	static_assert(CHUNKS % GROUP == 0, "chunks are loaded GROUP at a time");
#pragma unroll
	for (int k0 = 0; k0 < CHUNKS; k0 += GROUP) {
		float4 g[GROUP], u[GROUP];
#pragma unroll
		for (int k = 0; k < GROUP; k++) {
			int c = threadIdx.x + (k0 + k) * blockDim.x;
			g[k] = c < chunks ? gate[c] : make_float4(0, 0, 0, 0);
			u[k] = c < chunks ? up[c] : make_float4(0, 0, 0, 0);
		}
#pragma unroll
		for (int k = 0; k < GROUP; k++)
			v[k0 + k] = silu_times4(g[k], u[k]);
	}
}

/* silu(gate) * up then quantize for rows of at most 4 * CHUNKS * blockDim.x values in
 * float4 chunks (a row's values a multiple of 4, every row 16-byte aligned): gate and
 * up read once in 16-byte loads, out written in 16-byte stores and the codes in 4-byte
 * ones.  No sum here, so which values a thread owns changes no bit: thread j takes
 * chunks j, j + blockDim.x, ...  All loads come before the first store, so out may be
 * gate. */
template <int CHUNKS>
__global__ static void __launch_bounds__(ROW_THREADS)
	swiglu_quantize_kernel(const float4 *gate, const float4 *up, float4 *out, int chunks, enum llmk_quant quant,
			       float static_scale, uint32_t *xq, float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
	__shared__ float partial[32];
	const size_t offset = (size_t)blockIdx.x * chunks;
	float4 v[CHUNKS];
	swiglu_chunks<CHUNKS>(gate + offset, up + offset, chunks, v);
	bool fp8 = quant_is_fp8(quant), at_once = quant_is_static(quant);
	float inv = at_once ? token_scale(0, quant, static_scale, scales, partial) : 0;
	float max_abs = 0;
#pragma unroll
	for (int k = 0; k < CHUNKS; k++) {
		int c = threadIdx.x + k * blockDim.x;
		if (c < chunks) {
			if (out)
				out[offset + c] = v[k];
			if (at_once)
				xq[offset + c] = quantize4(v[k], inv, fp8);
			max_abs = max_abs4(max_abs, v[k]);
		}
	}
	if (!at_once)
		quantize_held_chunks<CHUNKS>(v, chunks, max_abs, quant, static_scale, xq + offset, scales, partial);
}

/* swiglu_quantize_kernel for a static scale (nothing a row shares but its scale) over
 * all the rows as one array: each thread makes 16 consecutive values from 4 float4s of
 * gate and 4 of up, all 8 loads issued before the first is used, and writes their codes
 * in one 16-byte store (and the floats to out when set), so that many loads are in
 * flight an SM and no block waits for a row's tail (one 1024-thread block a row streamed
 * at 74% of an H100's copy bandwidth, BENCHMARKS.md).  groups: values / 16; the rows'
 * scales by the first count threads.  The same silu_times4 and quantize4, so the bits
 * of the row kernel. */
#define SWIGLU_STATIC_THREADS 256
__global__ static void __launch_bounds__(SWIGLU_STATIC_THREADS)
	swiglu_quantize_static_kernel(const float4 *gate, const float4 *up, float4 *out, size_t groups, int count,
				      enum llmk_quant quant, float static_scale, uint4 *xq, float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
	const size_t i = (size_t)blockIdx.x * SWIGLU_STATIC_THREADS + threadIdx.x;
	float s, inv;
	quantize_scale(0, quant, static_scale, &s, &inv);
	if (i < (size_t)count)
		scales[i] = s;
	if (i >= groups)
		return;
	float4 g[4], u[4];
#pragma unroll
	for (int k = 0; k < 4; k++) {
		g[k] = gate[4 * i + k];
		u[k] = up[4 * i + k];
	}
	const bool fp8 = quant_is_fp8(quant);
	uint32_t codes[4];
#pragma unroll
	for (int k = 0; k < 4; k++) {
		const float4 v = silu_times4(g[k], u[k]);
		if (out)
			out[4 * i + k] = v;
		codes[k] = quantize4(v, inv, fp8);
	}
	xq[i] = make_uint4(codes[0], codes[1], codes[2], codes[3]);
}

/* swiglu_quantize_kernel for rows of any length and alignment, a value at a time: for a
 * dynamic scale the codes in a second pass, each value reread from out (or made again:
 * a thread rereads only what it wrote). */
__global__ static void swiglu_quantize_any_kernel(const float *gate, const float *up, float *out, int n,
						  enum llmk_quant quant, float static_scale, uint8_t *xq,
						  float *scales)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
	__shared__ float partial[32];
	const size_t offset = (size_t)blockIdx.x * n;
	bool fp8 = quant_is_fp8(quant), at_once = quant_is_static(quant);
	float inv = at_once ? token_scale(0, quant, static_scale, scales, partial) : 0;
	float max_abs = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float v = silu_times(gate[offset + i], up[offset + i]);
		if (out)
			out[offset + i] = v;
		if (at_once)
			xq[offset + i] = quantize_value(v, inv, fp8);
		max_abs = fmaxf(max_abs, fabsf(v));
	}
	if (at_once)
		return;
	inv = token_scale(max_abs, quant, static_scale, scales, partial);
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
	/* float4 chunks when every row starts 16-byte aligned (its codes 4-byte aligned);
	 * 4 chunks a thread hold Llama 3 8B's 14336 values, 8 70B's 28672 */
	int chunks = n / 4;
	bool whole = n > 0 && n % 4 == 0 && aligned_to(gate, 16) && aligned_to(up, 16) && aligned_to(out, 16) &&
		     aligned_to(xq, 4);
	const size_t values = (size_t)count * n;
	if (whole && quant_is_static(quant) && values % 16 == 0 && aligned_to(xq, 16) && count > 0) {
		const size_t groups = values / 16, threads = groups > (size_t)count ? groups : (size_t)count;
		const unsigned blocks = (unsigned)((threads + SWIGLU_STATIC_THREADS - 1) / SWIGLU_STATIC_THREADS);
		return launch_maybe_pdl(swiglu_quantize_static_kernel, dim3(blocks), dim3(SWIGLU_STATIC_THREADS), true,
					stream, (const float4 *)gate, (const float4 *)up, (float4 *)out, groups, count,
					quant, static_scale, (uint4 *)xq, scales);
	}
	void (*kernel)(const float4 *, const float4 *, float4 *, int, enum llmk_quant, float, uint32_t *, float *) =
		NULL;
	if (whole && chunks <= 4 * ROW_THREADS)
		kernel = swiglu_quantize_kernel<4>;
	else if (whole && chunks <= 8 * ROW_THREADS)
		kernel = swiglu_quantize_kernel<8>;
	if (kernel)
		return launch_maybe_pdl(kernel, dim3(count), dim3(ROW_THREADS), true, stream, (const float4 *)gate,
					(const float4 *)up, (float4 *)out, chunks, quant, static_scale, (uint32_t *)xq,
					scales);
	return launch_maybe_pdl(swiglu_quantize_any_kernel, dim3(count), dim3(ROW_THREADS), true, stream, gate, up,
				out, n, quant, static_scale, (uint8_t *)xq, scales);
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

