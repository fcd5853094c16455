/*
 * gemv_kernels.cu - the linear layers of llm_kernels.h for a few tokens: llmk_linear, the
 * decode GEMV (llmk_gemv) and its fused forms (llmk_gemv_multi, llmk_gemv_swiglu), on the
 * CUDA cores or the tensor cores (gemv_mma.cuh).  Prefill's products of more tokens go to
 * cuBLASLt (gemm_cublaslt.cu).
 *
 * Bound by reading the weights once: every kernel streams them 16 bytes a load
 * (tests/gpu/run.sh checks the SASS) and mirrors the CPU path's arithmetic (the 8-bit
 * input's scale times the weight scale after the sum).
 */
#include "llm_kernels.h"

#include "gemv_bf16_rows.h"
#include "gemv_mma.cuh"
#include "kernel_common.cuh"

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

/* The decode GEMV: count <= TOKENS tokens, one warp per output row, every
 * lane streaming 16 bytes of the row per load (LDG.128) with GEMV_UNROLL loads in
 * flight, each weight chunk used for every token before the next is loaded.
 * Bound by reading the weights once: rows x cols x element size bytes.  Needs
 * rows 16-byte aligned (cols x element size a multiple of 16) and cudaMalloc'd
 * (256-byte aligned) buffers; llmk_linear falls back to linear_kernel otherwise. */

#define GEMV_UNROLL 4

template <int TOKENS>
__global__ static void gemv_kernel(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
				   const float *weight_scale, int weight_scale_count, const float *x,
				   const uint8_t *xq, const float *x_scales, int count, float *y, int y_stride)
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
					if (t >= count)
						break;
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
					if (t >= count)
						break;
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
					if (t >= count)
						break;
					const float4 *a = (const float4 *)(x + (size_t)t * cols) + 2 * c;
					facc[t] += bf16_chunk_dot(wf, a[0], a[1]);
				}
			}
		}
	}
	float wscale = weight_scale ? weight_scale[weight_scale_count == 1 ? 0 : row] : 1.0f;
#pragma unroll
	for (int t = 0; t < TOKENS; t++) {
		if (t >= count)
			break;
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
/* Chunks of each row a thread loads at once.  1 (NR loads a thread in flight, more
 * blocks resident) beat 2 on an H100: the INT8 8B step 264.0 -> 274.1 tokens/s, FP8's
 * unchanged (283.6 / 284.2), the fused SwiGLU alone 41.1 -> 39.4 us (FP8) and 40.9 ->
 * 38.8 us (INT8); 4 was slower (BENCHMARKS.md, ninth session).  The chunks a thread adds
 * come in the same order whatever it is, so the bits do not depend on it.  -D for a
 * comparison. */
#ifndef GEMV_SPLIT_UNROLL
#define GEMV_SPLIT_UNROLL 1
#endif

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

/* The products of one chunk c of NR rows (raw[k]) with one token's input (xq or x at
 * chunk c), into that token's accumulators facc[k] / iacc[k]: for each row, the
 * chunk's elements in order, one multiply-add each.  Every GEMV of the split kind
 * adds a row's products in this order, so that a token's sum has the same bits
 * whatever else the launch computes. */
template <enum llmk_dtype WD, int NR>
__device__ static __forceinline__ void gemv_chunk_token(const uint4 *raw, int c, const float *x, const uint8_t *xq,
							 float *facc, int *iacc)
{
	if (WD == LLMK_I8) {
		uint4 a = __ldcg((const uint4 *)xq + c);
		const int *ai = (const int *)&a;
#pragma unroll
		for (int k = 0; k < NR; k++) {
			const int *wi = (const int *)&raw[k];
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
			e4m3x16_to_float(raw[k], wf);
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
			bf16x8_to_float(raw[k], wf);
			facc[k] += wf[0] * a0.x + wf[1] * a0.y + wf[2] * a0.z + wf[3] * a0.w + wf[4] * a1.x +
				   wf[5] * a1.y + wf[6] * a1.z + wf[7] * a1.w;
		}
	}
}

/* gemv_chunk_token for tokens <= TOK tokens at once (token t's input at x + t * cols or
 * xq + t * cols, its accumulators facc[t] / iacc[t]): the chunk's weights are made
 * float once for every token, and each (row, token) gets the same multiply-adds in
 * the same order as gemv_chunk_token gives it alone. */
template <enum llmk_dtype WD, int NR, int TOK>
__device__ static __forceinline__ void gemv_chunk_tokens(const uint4 *raw, int c, int cols, int tokens,
							  const float *x, const uint8_t *xq, float (*facc)[NR],
							  int (*iacc)[NR])
{
	if (WD == LLMK_I8) { /* integer sums: exact in any order, nothing to convert */
#pragma unroll
		for (int t = 0; t < TOK; t++)
			if (t < tokens)
				gemv_chunk_token<WD, NR>(raw, c, x, xq + (size_t)t * cols, facc[t], iacc[t]);
	} else if (WD == LLMK_E4M3) {
		float wf[NR][16];
#pragma unroll
		for (int k = 0; k < NR; k++)
			e4m3x16_to_float(raw[k], wf[k]);
#pragma unroll
		for (int t = 0; t < TOK; t++) {
			if (t >= tokens)
				break;
			float af[16];
			e4m3x16_to_float(__ldcg((const uint4 *)(xq + (size_t)t * cols) + c), af);
#pragma unroll
			for (int k = 0; k < NR; k++)
#pragma unroll
				for (int e = 0; e < 16; e++)
					facc[t][k] += wf[k][e] * af[e];
		}
	} else {
		float wf[NR][8];
#pragma unroll
		for (int k = 0; k < NR; k++)
			bf16x8_to_float(raw[k], wf[k]);
#pragma unroll
		for (int t = 0; t < TOK; t++) {
			if (t >= tokens)
				break;
			const float4 *a = (const float4 *)(x + (size_t)t * cols) + 2 * c;
			float4 a0 = __ldcg(a), a1 = __ldcg(a + 1);
#pragma unroll
			for (int k = 0; k < NR; k++)
				facc[t][k] += wf[k][0] * a0.x + wf[k][1] * a0.y + wf[k][2] * a0.z + wf[k][3] * a0.w +
					      wf[k][4] * a1.x + wf[k][5] * a1.y + wf[k][6] * a1.z + wf[k][7] * a1.w;
		}
	}
}

/* Thread k * TOK + t (k < NR, t < tokens <= TOK) gets row k's dot product with token
 * t's input, unscaled: in *fsum (FP8, BF16) or *isum (INT8, exact); w[k] is row k,
 * valid[k] false for rows past the end; token t's input is x + t * cols (BF16) or
 * xq + t * cols (8-bit).  Each (row, token) sum is made as the one-token kernel makes
 * it (gemv_chunk_token, then a warp butterfly, then the warps in order), so that a
 * token's row has the same bits alone or with others. */
template <enum llmk_dtype WD, int NR, int TOK>
__device__ static __forceinline__ void gemv_block_dots(const uint4 *const *w, const bool *valid, int chunks, int cols,
						       int tokens, const float *x, const uint8_t *xq, float *fsum,
						       int *isum)
{
	float facc[TOK][NR];
	int iacc[TOK][NR];
#pragma unroll
	for (int t = 0; t < TOK; t++)
#pragma unroll
		for (int k = 0; k < NR; k++) {
			facc[t][k] = 0;
			iacc[t][k] = 0;
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
			if (TOK == 1) /* the step's code */
				gemv_chunk_token<WD, NR>(raw[u], c, x, xq, facc[0], iacc[0]);
			else
				gemv_chunk_tokens<WD, NR, TOK>(raw[u], c, cols, tokens, x, xq, facc, iacc);
		}
	}
	constexpr int WARPS = GEMV_THREADS / WARP;
	__shared__ float fpart[NR * TOK][WARPS];
	__shared__ int ipart[NR * TOK][WARPS];
	const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
#pragma unroll
	for (int k = 0; k < NR; k++)
#pragma unroll
		for (int t = 0; t < TOK; t++) {
			if (WD == LLMK_I8) {
				int v = warp_sum_int(iacc[t][k]);
				if (lane == 0)
					ipart[k * TOK + t][warp] = v;
			} else {
				float v = warp_sum(facc[t][k]);
				if (lane == 0)
					fpart[k * TOK + t][warp] = v;
			}
		}
	__syncthreads();
	if (threadIdx.x < NR * TOK) {
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

/* gemv_block_dots on the CUDA cores (MMA none) or the tensor cores (gemv_mma.cuh; RB is
 * GEMV_MMA_ROWS then). */
template <enum llmk_dtype WD, int RB, int TOK, enum gemv_mma_kind MMA>
__device__ static __forceinline__ void gemv_rows_dots(const uint4 *const *w, const bool *valid, int chunks, int cols,
						      int tokens, const float *x, const uint8_t *xq, float *fsum,
						      int *isum)
{
	if constexpr (MMA == GEMV_MMA_NONE) {
		gemv_block_dots<WD, RB, TOK>(w, valid, chunks, cols, tokens, x, xq, fsum, isum);
	} else {
		static_assert(RB == GEMV_MMA_ROWS && GEMV_MMA_THREADS == GEMV_THREADS, "a tensor-core block's rows");
		gemv_mma_block_dots<MMA, TOK>(w, valid, chunks, cols, tokens, xq, fsum, isum);
	}
}

/* Blocks of RB rows of one of a job's matrices, for tokens <= TOK tokens: token t's
 * outputs go to y + t * rows. */
/* After a one-token GEMV block has written its rows: the launch's last block to do so
 * runs then_norm over y (last_block_arrives), the row staged in the launch's dynamic
 * shared memory (rows floats: gemv_norm_staging; none when there is no norm, so the
 * plain GEMV keeps its occupancy), and sets the words back to zero. */
__device__ static void gemv_last_block_norm(const struct llmk_gemv_norm &then_norm, unsigned *words, float *y,
					    int rows)
{
	extern __shared__ float4 norm_staged[];
	if (!last_block_arrives(words, 0, false))
		return;
	block_add_rmsnorm_quantize<GEMV_THREADS>(then_norm.residual, y, then_norm.weight, rows, then_norm.eps,
						 then_norm.normed, then_norm.quant, then_norm.static_scale,
						 (uint8_t *)then_norm.xq, then_norm.scales, (float *)norm_staged);
	last_block_reset(words);
}

/* The dynamic shared memory of a one-token GEMV launch: its norm's staged row, if any. */
static size_t gemv_norm_staging(const struct gemv_job &job, const unsigned *last_block)
{
	return last_block ? (size_t)job.m[0].rows * sizeof(float) : 0;
}

template <enum llmk_dtype WD, int RB, int TOK, enum gemv_mma_kind MMA>
__global__ static void __launch_bounds__(GEMV_THREADS)
gemv_split_kernel(struct gemv_job job, int cols, int tokens, const float *x, const uint8_t *xq, const float *x_scales,
		  struct llmk_gemv_norm then_norm, unsigned *last_block)
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
	gemv_rows_dots<WD, RB, TOK, MMA>(w, valid, chunks, cols, tokens, x, xq, &fsum, &isum);
	const int row = r0 + threadIdx.x / TOK, t = threadIdx.x % TOK;
	if (threadIdx.x < RB * TOK && (TOK == 1 || t < tokens) && row < m.rows)
		m.y[(size_t)t * m.rows + row] = gemv_scaled<WD>(fsum, isum, m.scale, m.scale_count, row, x_scales + t);
	if constexpr (TOK == 1) {
		if (last_block)
			gemv_last_block_norm(then_norm, last_block, m.y, m.rows);
	}
}

/* Gate and up rows r0.. together, for tokens <= TOK tokens; y = silu(gate) * up of the
 * two scaled outputs, token t's at y + t * rows (and quantized into yq's token t: as
 * each value is made for a static scheme; for a dynamic one, of one token, by the
 * launch's last block, with last_block's words). */
template <enum llmk_dtype WD, int RB, int TOK, enum gemv_mma_kind MMA>
__global__ static void __launch_bounds__(GEMV_THREADS)
gemv_swiglu_kernel(struct gemv_matrix gate, struct gemv_matrix up, int cols, int tokens, const float *x,
		   const uint8_t *xq, const float *x_scales, float *y, struct llmk_static_quant yq, unsigned *last_block)
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
	/* gemv_block_dots leaves row j's sum for token t in thread j * TOK + t: gate's rows
	 * j < RB, up's RB + j */
	float fsum;
	int isum;
	gemv_rows_dots<WD, 2 * RB, TOK, MMA>(w, valid, chunks, cols, tokens, x, xq, &fsum, &isum);
	__shared__ float up_value[RB][TOK];
	const int j = threadIdx.x / TOK, t = threadIdx.x % TOK;
	if (j >= RB && j < 2 * RB && (TOK == 1 || t < tokens) && r0 + j - RB < up.rows)
		up_value[j - RB][t] = gemv_scaled<WD>(fsum, isum, up.scale, up.scale_count, r0 + j - RB, x_scales + t);
	__syncthreads();
	float part_max = 0; /* this thread's largest |y| (NaN left out, as llmk_quantize's maximum) */
	if (j < RB && (TOK == 1 || t < tokens) && r0 + j < gate.rows) {
		const float v = silu_times(gemv_scaled<WD>(fsum, isum, gate.scale, gate.scale_count, r0 + j, x_scales + t),
					   up_value[j][t]);
		y[(size_t)t * gate.rows + r0 + j] = v;
		if (quant_is_static(yq.quant))
			static_quant_store(yq, gate.rows, t, r0 + j, v);
		part_max = fmaxf(part_max, fabsf(v));
	}
	if constexpr (TOK == 1) {
		if (last_block && last_block_arrives(last_block, part_max, true)) {
			block_quantize_row(y, gate.rows, last_block_max(last_block), yq.quant, yq.scale, (uint8_t *)yq.xq,
					   yq.scales);
			last_block_reset(last_block);
		}
	}
}

/* Rows a block takes when the caller leaves it to us (-1): 4 was the fastest of 1, 2
 * and 4 at every FP8 and INT8 projection shape of Llama-3.1-8B and 70B on an H200,
 * in two runs (BENCHMARKS.md). */
#ifndef GEMV_AUTO_ROWS
#define GEMV_AUTO_ROWS 4
#endif

static bool gemv_aligned(enum llmk_dtype wdtype, int cols, const void *weight, const float *x, const void *xq)
{
	size_t element_size = wdtype == LLMK_BF16 ? 2 : (wdtype == LLMK_E4M3 || wdtype == LLMK_I8) ? 1 : 0;
	return element_size && ((size_t)cols * element_size) % 16 == 0 && ((uintptr_t)weight % 16) == 0 &&
	       (wdtype == LLMK_BF16 ? x && (uintptr_t)x % 16 == 0 : xq && (uintptr_t)xq % 16 == 0);
}

/* Rows a block takes for several tokens: each thread holds TOK x rows accumulators, so
 * fewer rows than for one token (any count gives the same bits). */
#define GEMV_TOKENS_ROWS 2

/* The tokens of a GEMV's input (0 means 1); 0 when more than the kernels take. */
static int gemv_tokens(const struct llmk_gemv_input *in)
{
	int tokens = in->tokens == 0 ? 1 : in->tokens;
	return tokens >= 1 && tokens <= LLMK_GEMV_MAX_TOKENS ? tokens : 0;
}

template <enum llmk_dtype WD>
static cudaError_t launch_gemv_split(const struct gemv_job &job, int rows_per_block, bool pdl, int cols, int tokens,
				     const float *x, const uint8_t *xq, const float *x_scales,
				     const struct llmk_gemv_norm &then_norm, unsigned *last_block, cudaStream_t stream)
{
	dim3 grid(job.first_block[job.count]), block(GEMV_THREADS);
	if (tokens > 4)
		return launch_maybe_pdl(gemv_split_kernel<WD, GEMV_TOKENS_ROWS, LLMK_GEMV_MAX_TOKENS, GEMV_MMA_NONE>, grid, block, pdl,
					stream, job, cols, tokens, x, xq, x_scales, then_norm, last_block);
	if (tokens > 1)
		return launch_maybe_pdl(gemv_split_kernel<WD, GEMV_TOKENS_ROWS, 4, GEMV_MMA_NONE>, grid, block, pdl, stream, job, cols,
					tokens, x, xq, x_scales, then_norm, last_block);
	const size_t staged = gemv_norm_staging(job, last_block);
	switch (rows_per_block) {
	case 1: return launch_maybe_pdl_shared(gemv_split_kernel<WD, 1, 1, GEMV_MMA_NONE>, grid, block, staged, pdl, stream, job, cols, 1, x, xq, x_scales, then_norm, last_block);
	case 2: return launch_maybe_pdl_shared(gemv_split_kernel<WD, 2, 1, GEMV_MMA_NONE>, grid, block, staged, pdl, stream, job, cols, 1, x, xq, x_scales, then_norm, last_block);
	default: return launch_maybe_pdl_shared(gemv_split_kernel<WD, 4, 1, GEMV_MMA_NONE>, grid, block, staged, pdl, stream, job, cols, 1, x, xq, x_scales, then_norm, last_block);
	}
}

/* The tensor-core kernel of a job (GEMV_MMA_ROWS rows a block): one tile of tokens for up
 * to 8, two past 8; a token's rows have the same bits in each (one column of B). */
template <enum llmk_dtype WD, enum gemv_mma_kind MMA>
static cudaError_t launch_gemv_split_mma(const struct gemv_job &job, bool pdl, int cols, int tokens,
					 const uint8_t *xq, const float *x_scales, const struct llmk_gemv_norm &then_norm,
					 unsigned *last_block, cudaStream_t stream)
{
	dim3 grid(job.first_block[job.count]), block(GEMV_MMA_THREADS);
	const float *x = NULL;
	if (tokens > 8)
		return launch_maybe_pdl(gemv_split_kernel<WD, GEMV_MMA_ROWS, LLMK_GEMV_MAX_TOKENS, MMA>, grid, block, pdl,
					stream, job, cols, tokens, x, xq, x_scales, then_norm, last_block);
	if (tokens > 1)
		return launch_maybe_pdl(gemv_split_kernel<WD, GEMV_MMA_ROWS, 8, MMA>, grid, block, pdl, stream, job, cols,
					tokens, x, xq, x_scales, then_norm, last_block);
	return launch_maybe_pdl_shared(gemv_split_kernel<WD, GEMV_MMA_ROWS, 1, MMA>, grid, block,
				       gemv_norm_staging(job, last_block), pdl, stream, job, cols, 1, x, xq, x_scales,
				       then_norm, last_block);
}

/* Where a GEMV of in's weights on tokens tokens adds its products (llmk_gemv_products):
 * GEMV_MMA_NONE for the CUDA cores' kernels. */
static enum gemv_mma_kind gemv_mma(const struct llmk_gemv_input *in, int tokens)
{
	if (in->wdtype == LLMK_I8)
		return tokens > 1 || in->products != LLMK_PRODUCTS_CUDA_CORES ? GEMV_MMA_S8 : GEMV_MMA_NONE;
	if (in->wdtype != LLMK_E4M3)
		return GEMV_MMA_NONE;
	return in->products == LLMK_PRODUCTS_TENSOR_F16    ? GEMV_MMA_E4M3_F16
	       : in->products == LLMK_PRODUCTS_TENSOR ? GEMV_MMA_E4M3
							   : GEMV_MMA_NONE;
}

static bool gemv_products_valid(enum llmk_gemv_products p)
{
	return p == LLMK_PRODUCTS_CUDA_CORES || p == LLMK_PRODUCTS_TENSOR_F16 || p == LLMK_PRODUCTS_TENSOR;
}

/* The job's matrices in blocks of rows_per_block rows (GEMV_TOKENS_ROWS for several
 * tokens, GEMV_MMA_ROWS on the tensor cores). */
static cudaError_t launch_gemv_job(struct gemv_job *job, const struct llmk_gemv_input *in, int tokens,
				   int rows_per_block, bool pdl, cudaStream_t stream)
{
	if (!gemv_products_valid(in->products))
		return cudaErrorInvalidValue;
	const enum gemv_mma_kind mma = gemv_mma(in, tokens);
	if (mma != GEMV_MMA_NONE)
		rows_per_block = GEMV_MMA_ROWS;
	else if (tokens > 1)
		rows_per_block = GEMV_TOKENS_ROWS;
	job->first_block[0] = 0;
	for (int i = 0; i < job->count; i++)
		job->first_block[i + 1] = job->first_block[i] + (job->m[i].rows + rows_per_block - 1) / rows_per_block;
	const uint8_t *q = (const uint8_t *)in->xq;
	const int cols = in->cols;
	const float *xs = in->x_scales;
	struct llmk_gemv_norm then_norm = {};
	unsigned *last_block = NULL; /* none: no work for the last block */
	if (in->then_norm) {
		then_norm = *in->then_norm;
		last_block = in->last_block;
	}
	switch (mma) {
	case GEMV_MMA_S8:
		return launch_gemv_split_mma<LLMK_I8, GEMV_MMA_S8>(*job, pdl, cols, tokens, q, xs, then_norm, last_block, stream);
	case GEMV_MMA_E4M3_F16:
		return launch_gemv_split_mma<LLMK_E4M3, GEMV_MMA_E4M3_F16>(*job, pdl, cols, tokens, q, xs, then_norm,
									   last_block, stream);
	case GEMV_MMA_E4M3:
		return launch_gemv_split_mma<LLMK_E4M3, GEMV_MMA_E4M3>(*job, pdl, cols, tokens, q, xs, then_norm, last_block, stream);
	case GEMV_MMA_NONE: break;
	}
	switch (in->wdtype) {
	case LLMK_E4M3:
		return launch_gemv_split<LLMK_E4M3>(*job, rows_per_block, pdl, cols, tokens, in->x, q, xs, then_norm, last_block, stream);
	case LLMK_I8:
		return launch_gemv_split<LLMK_I8>(*job, rows_per_block, pdl, cols, tokens, in->x, q, xs, then_norm, last_block, stream);
	default:
		return launch_gemv_split<LLMK_BF16>(*job, rows_per_block, pdl, cols, tokens, in->x, q, xs, then_norm, last_block, stream);
	}
}

static bool aligned16(const void *p)
{
	return ((uintptr_t)p % 16) == 0;
}

/* Whether a GEMV of rows outputs into y can end with in's then_norm (llmk_gemv_norm's terms). */
static bool gemv_norm_valid(const struct llmk_gemv_input *in, int tokens, int rows, const float *y)
{
	const struct llmk_gemv_norm *a = in->then_norm;
	const bool quant_known = a->quant == LLMK_QUANT_NONE || a->quant == LLMK_QUANT_FP8_STATIC ||
				 a->quant == LLMK_QUANT_FP8_DYNAMIC || a->quant == LLMK_QUANT_INT8_STATIC ||
				 a->quant == LLMK_QUANT_INT8_DYNAMIC;
	const bool quantized = a->quant != LLMK_QUANT_NONE;
	return tokens == 1 && rows % 4 == 0 && rows <= LLMK_GEMV_NORM_MAX && in->last_block && a->residual && a->weight &&
	       aligned16(a->residual) && aligned16(y) && aligned16(a->weight) && aligned16(a->normed) && quant_known &&
	       (quantized ? a->xq && a->scales && (uintptr_t)a->xq % 4 == 0 : a->normed != NULL);
}

static bool gemv_rows_per_block_valid(int n)
{
	return n == 1 || n == 2 || n == 4;
}

extern "C" cudaError_t llmk_gemv(const struct llmk_gemv_matrix *matrix, const struct llmk_gemv_input *in,
				 int rows_per_block, cudaStream_t stream)
{
	const void *weight = matrix->weight;
	const enum llmk_dtype wdtype = in->wdtype;
	const int rows = matrix->rows, cols = in->cols, weight_scale_count = matrix->weight_scale_count;
	const float *weight_scale = matrix->weight_scale, *x = in->x, *x_scales = in->x_scales;
	const void *xq = in->xq;
	float *y = matrix->y;
	const int tokens = gemv_tokens(in);
	if (!gemv_aligned(wdtype, cols, weight, x, xq) || rows <= 0 || tokens == 0)
		return cudaErrorNotSupported;
	if (rows_per_block == 0) { /* the warp-a-row kernel */
		if (tokens != 1 || in->products != LLMK_PRODUCTS_CUDA_CORES || in->then_norm)
			return cudaErrorInvalidValue;
		unsigned blocks = (unsigned)((rows + LINEAR_WARPS - 1) / LINEAR_WARPS);
		gemv_kernel<1><<<blocks, LINEAR_WARPS * WARP, 0, stream>>>(weight, wdtype, rows, cols, weight_scale,
									  weight_scale_count, x, (const uint8_t *)xq,
									  x_scales, 1, y, rows);
		return cudaGetLastError();
	}
	if (in->then_norm && !gemv_norm_valid(in, tokens, rows, y))
		return cudaErrorInvalidValue;
	bool pdl = rows_per_block < 0 || !(rows_per_block & LLMK_GEMV_NO_PDL);
	rows_per_block = rows_per_block < 0 ? GEMV_AUTO_ROWS : rows_per_block & ~LLMK_GEMV_NO_PDL;
	if (!gemv_rows_per_block_valid(rows_per_block))
		return cudaErrorInvalidValue;
	struct gemv_job job = {};
	job.m[0] = {weight, weight_scale, weight_scale_count, rows, y};
	job.count = 1;
	return launch_gemv_job(&job, in, tokens, rows_per_block, pdl, stream);
}

extern "C" cudaError_t llmk_gemv_multi(const struct llmk_gemv_matrix *matrices, int matrix_count,
				       const struct llmk_gemv_input *in, cudaStream_t stream)
{
	const int tokens = gemv_tokens(in);
	if (matrix_count < 1 || matrix_count > 3 || in->then_norm)
		return cudaErrorInvalidValue;
	struct gemv_job job = {};
	for (int i = 0; i < matrix_count; i++) {
		const struct llmk_gemv_matrix *m = &matrices[i];
		if (!gemv_aligned(in->wdtype, in->cols, m->weight, in->x, in->xq) || m->rows <= 0 || tokens == 0)
			return cudaErrorNotSupported;
		job.m[i] = {m->weight, m->weight_scale, m->weight_scale_count, m->rows, m->y};
	}
	job.count = matrix_count;
	return launch_gemv_job(&job, in, tokens, GEMV_AUTO_ROWS, true, stream);
}

/* gemv_swiglu_kernel on the tensor cores: gate's and up's GEMV_MMA_ROWS / 2 rows a block. */
template <enum llmk_dtype WD, enum gemv_mma_kind MMA>
static cudaError_t launch_gemv_swiglu_mma(const struct gemv_matrix &gate, const struct gemv_matrix &up, int cols,
					  int tokens, const uint8_t *xq, const float *x_scales, float *y,
					  const struct llmk_static_quant &yq, unsigned *last_block, cudaStream_t stream)
{
	constexpr int RB = GEMV_MMA_ROWS / 2;
	dim3 grid((gate.rows + RB - 1) / RB), block(GEMV_MMA_THREADS);
	const float *x = NULL;
	if (tokens > 8)
		return launch_maybe_pdl(gemv_swiglu_kernel<WD, RB, LLMK_GEMV_MAX_TOKENS, MMA>, grid, block, true, stream,
					gate, up, cols, tokens, x, xq, x_scales, y, yq, last_block);
	if (tokens > 1)
		return launch_maybe_pdl(gemv_swiglu_kernel<WD, RB, 8, MMA>, grid, block, true, stream, gate, up, cols,
					tokens, x, xq, x_scales, y, yq, last_block);
	return launch_maybe_pdl(gemv_swiglu_kernel<WD, RB, 1, MMA>, grid, block, true, stream, gate, up, cols, 1, x, xq,
				x_scales, y, yq, last_block);
}

template <enum llmk_dtype WD>
static cudaError_t launch_gemv_swiglu(const struct gemv_matrix &gate, const struct gemv_matrix &up, int cols,
				      int tokens, const float *x, const uint8_t *xq, const float *x_scales, float *y,
				      const struct llmk_static_quant &yq, unsigned *last_block, cudaStream_t stream)
{
	/* a block loads rows of both matrices: half the rows of a plain GEMV's block */
	if (tokens > 1) {
		dim3 grid((gate.rows + GEMV_TOKENS_ROWS / 2 - 1) / (GEMV_TOKENS_ROWS / 2)), block(GEMV_THREADS);
		if (tokens > 4)
			return launch_maybe_pdl(gemv_swiglu_kernel<WD, GEMV_TOKENS_ROWS / 2, LLMK_GEMV_MAX_TOKENS, GEMV_MMA_NONE>, grid,
						block, true, stream, gate, up, cols, tokens, x, xq, x_scales, y, yq, last_block);
		return launch_maybe_pdl(gemv_swiglu_kernel<WD, GEMV_TOKENS_ROWS / 2, 4, GEMV_MMA_NONE>, grid, block, true, stream, gate,
					up, cols, tokens, x, xq, x_scales, y, yq, last_block);
	}
	const int rows_per_block = GEMV_AUTO_ROWS / 2;
	dim3 grid((gate.rows + rows_per_block - 1) / rows_per_block), block(GEMV_THREADS);
	return launch_maybe_pdl(gemv_swiglu_kernel<WD, GEMV_AUTO_ROWS / 2, 1, GEMV_MMA_NONE>, grid, block, true, stream, gate, up, cols,
				1, x, xq, x_scales, y, yq, last_block);
}

extern "C" cudaError_t llmk_gemv_swiglu(const struct llmk_gemv_matrix *gate, const struct llmk_gemv_matrix *up,
					const struct llmk_gemv_input *in, float *y, const struct llmk_static_quant *yq,
					cudaStream_t stream)
{
	const enum llmk_dtype wdtype = in->wdtype;
	const int cols = in->cols, tokens = gemv_tokens(in);
	const float *x = in->x, *x_scales = in->x_scales;
	const void *xq = in->xq;
	if (in->then_norm)
		return cudaErrorInvalidValue;
	if (gate->rows != up->rows || gate->rows <= 0 || !gemv_aligned(wdtype, cols, gate->weight, x, xq) ||
	    !gemv_aligned(wdtype, cols, up->weight, x, xq) || tokens == 0)
		return cudaErrorNotSupported;
	const struct llmk_static_quant none = {LLMK_QUANT_NONE, 0, NULL, NULL}, out_quant = yq ? *yq : none;
	const enum llmk_quant scheme = out_quant.quant;
	const bool dynamic = scheme == LLMK_QUANT_FP8_DYNAMIC || scheme == LLMK_QUANT_INT8_DYNAMIC;
	if (scheme != LLMK_QUANT_NONE && !quant_is_static(scheme) && !dynamic)
		return cudaErrorInvalidValue;
	/* a dynamic scale: one token, the last block's words, float4 rows and uchar4 codes */
	if (dynamic && (tokens != 1 || !in->last_block || gate->rows % 4 != 0 || !aligned16(y) ||
			(uintptr_t)out_quant.xq % 4 != 0 || !out_quant.scales))
		return cudaErrorInvalidValue;
	unsigned *last_block = dynamic ? in->last_block : NULL;
	struct gemv_matrix g = {gate->weight, gate->weight_scale, gate->weight_scale_count, gate->rows, NULL};
	struct gemv_matrix u = {up->weight, up->weight_scale, up->weight_scale_count, up->rows, NULL};
	const uint8_t *q = (const uint8_t *)xq;
	if (!gemv_products_valid(in->products))
		return cudaErrorInvalidValue;
	switch (gemv_mma(in, tokens)) {
	case GEMV_MMA_S8:
		return launch_gemv_swiglu_mma<LLMK_I8, GEMV_MMA_S8>(g, u, cols, tokens, q, x_scales, y, out_quant, last_block, stream);
	case GEMV_MMA_E4M3_F16:
		return launch_gemv_swiglu_mma<LLMK_E4M3, GEMV_MMA_E4M3_F16>(g, u, cols, tokens, q, x_scales, y, out_quant,
									     last_block, stream);
	case GEMV_MMA_E4M3:
		return launch_gemv_swiglu_mma<LLMK_E4M3, GEMV_MMA_E4M3>(g, u, cols, tokens, q, x_scales, y, out_quant,
									 last_block, stream);
	case GEMV_MMA_NONE: break;
	}
	switch (wdtype) {
	case LLMK_E4M3: return launch_gemv_swiglu<LLMK_E4M3>(g, u, cols, tokens, x, q, x_scales, y, out_quant, last_block, stream);
	case LLMK_I8: return launch_gemv_swiglu<LLMK_I8>(g, u, cols, tokens, x, q, x_scales, y, out_quant, last_block, stream);
	default: return launch_gemv_swiglu<LLMK_BF16>(g, u, cols, tokens, x, q, x_scales, y, out_quant, last_block, stream);
	}
}

/* gemv_kernel for count tokens (1 to LLMK_GEMV_MAX_TOKENS), BF16's several tokens
 * llmk_gemv_bf16_rows: a token's row has the same bits whatever count is. */
static cudaError_t launch_gemv_warps(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
				     const float *weight_scale, int weight_scale_count, const float *x, const void *xq,
				     const float *x_scales, int count, float *y, int y_stride, cudaStream_t stream)
{
	dim3 grid((unsigned)((rows + LINEAR_WARPS - 1) / LINEAR_WARPS)), block(LINEAR_WARPS * WARP);
	const uint8_t *q = (const uint8_t *)xq;
	if (wdtype == LLMK_BF16 && count > 1)
		return llmk_gemv_bf16_rows(weight, rows, cols, weight_scale, weight_scale_count, x, count, y, y_stride,
					   stream);
	switch (count) {
	case 1: gemv_kernel<1><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, q, x_scales, 1, y, y_stride); break;
	case 2: gemv_kernel<2><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, q, x_scales, 2, y, y_stride); break;
	case 3: gemv_kernel<3><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, q, x_scales, 3, y, y_stride); break;
	case 4: gemv_kernel<4><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, q, x_scales, 4, y, y_stride); break;
	default: gemv_kernel<LLMK_GEMV_MAX_TOKENS><<<grid, block, 0, stream>>>(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, q, x_scales, count, y, y_stride); break;
	}
	return cudaGetLastError();
}

extern "C" cudaError_t llmk_linear(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
				   const float *weight_scale, int weight_scale_count,
				   const float *x, const void *xq, const float *x_scales, int count,
				   float *y, int y_stride, cudaStream_t stream)
{
	if (count <= 0)   /* nothing to compute (a GEMV's 0 tokens would mean 1) */
		return cudaSuccess;
	size_t element_size = wdtype == LLMK_BF16 ? 2 : (wdtype == LLMK_E4M3 || wdtype == LLMK_I8) ? 1 : 0;
	bool aligned = element_size && ((size_t)cols * element_size) % 16 == 0 && ((uintptr_t)weight % 16) == 0 &&
		       (!xq || (uintptr_t)xq % 16 == 0) && (!x || (uintptr_t)x % 16 == 0);
	/* 8-bit weights: the split GEMV for up to LLMK_GEMV_MAX_TOKENS tokens (each token's
	 * rows as one token's).  BF16 stays on the warp-a-row kernel: the block kernel
	 * re-reads the float input through L2 for every block, which cost the 8B lm_head
	 * 12% (BENCHMARKS.md) */
	if (wdtype != LLMK_BF16 && count <= LLMK_GEMV_MAX_TOKENS && (count == 1 || y_stride == rows) &&
	    gemv_aligned(wdtype, cols, weight, x, xq)) {
		const struct llmk_gemv_matrix matrix = {weight, weight_scale, weight_scale_count, rows, y};
		const struct llmk_gemv_input in = {wdtype, cols, x, xq, x_scales, count};
		return llmk_gemv(&matrix, &in, -1, stream);
	}
	if (aligned && count <= LLMK_GEMV_MAX_TOKENS)
		return launch_gemv_warps(weight, wdtype, rows, cols, weight_scale, weight_scale_count, x, xq, x_scales,
					 count, y, y_stride, stream);
	unsigned blocks = (unsigned)((rows + LINEAR_WARPS - 1) / LINEAR_WARPS);
	linear_kernel<<<blocks, LINEAR_WARPS * WARP, 0, stream>>>(weight, wdtype, rows, cols, weight_scale,
								   weight_scale_count, x, (const uint8_t *)xq,
								   x_scales, count, y, y_stride);
	return cudaGetLastError();
}
