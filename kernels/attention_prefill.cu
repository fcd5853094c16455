/*
 * attention_prefill.cu - prefill attention on the tensor cores (see attention_prefill.h).
 *
 * Bound by arithmetic: 4 * heads * head_dim FLOPs per (query, attended position)
 * pair, about 34 GFLOP a layer for 2048 tokens of Llama-3.1-8B, while the K/V tiles a
 * block reads come from L2 (one layer's cache is a few MB).  So each K/V tile is read
 * once per block and serves every row of the block's query tile, and the rows are
 * (token, query head) pairs of one GQA group, so that a group of G heads shares it:
 * BLOCK_ROWS / G consecutive tokens times G heads.
 *
 * A block runs PREFILL_WARPS warps; warp w owns the 16 query rows 16w..16w+15 and, per
 * tile of BLOCK_KEYS positions:
 *   S = Q K^T        WMMA m16n16k16, fp16 inputs, float32 accumulators, into shared memory;
 *   softmax          two lanes a row, float32: scale, causal mask, running max m and sum l,
 *                    P = exp2(S - m) rounded to fp16 (l sums the rounded values, so the
 *                    weights stay a convex combination), the correction exp2(m_old - m_new);
 *   O = O * corr + P V   O lives in WMMA accumulator fragments for the whole loop.
 * WMMA does not say which row a fragment element belongs to, but it is the same for
 * every fragment of one type, so per-row factors (the softmax correction, 1 / sum) are
 * written across their rows of a 16 x 16 matrix and loaded into a fragment of O's
 * type: element i of that fragment is the factor of O's element i.
 * A warp skips the key tiles (and the 16-key slices of one) past its last row's
 * causal limit; the block stops after its last token's.  Blocks with the latest (most
 * expensive) tokens are launched first.
 *
 * Measured on an H200 (2026-11-29, tests/gpu/attention_prefill.sh): 2048 tokens of the
 * Llama-3.1-8B shape at position 0 take 0.41 ms a layer with a bf16 cache (83 TFLOP/s;
 * e4m3 0.35 ms, f32 0.50 ms), against 6.26 ms for llmk_attention_decode's one split a
 * token; 512 tokens 0.053 ms (40 TFLOP/s: 256 blocks do not fill 132 SMs x 3).  8 warps
 * a block (one block an SM) and 4 warps at 2 blocks an SM were within a few percent.
 */
#include "attention_prefill.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <math.h>
#include <mma.h>
#include <stdint.h>

using namespace nvcuda;

/* Tile sizes; the checks build variants with -DPREFILL_WARPS=... -DPREFILL_KEYS=... */
#ifndef PREFILL_WARPS
#define PREFILL_WARPS 4
#endif
#ifndef PREFILL_KEYS
#define PREFILL_KEYS 64
#endif
#ifndef PREFILL_MIN_BLOCKS
#define PREFILL_MIN_BLOCKS (PREFILL_WARPS >= 8 ? 2 : 3) /* blocks an SM must hold (caps registers) */
#endif
#define WARP 32
#define FRAG 16                           /* WMMA m16n16k16 */
#define THREADS (PREFILL_WARPS * WARP)
#define BLOCK_ROWS (PREFILL_WARPS * FRAG) /* query rows: (token, head of the group) pairs */
#define BLOCK_KEYS PREFILL_KEYS           /* cached positions a K/V tile holds */
#define MAX_GROUP 8
#define HALF_PAD 8                        /* 16 bytes a shared row, against bank conflicts */
#define STAGE_LD (BLOCK_KEYS + 8)         /* floats a row of a warp's score tile */
#define STAGE_COLS 64                     /* output columns staged per pass */
#define FACTOR_LD (FRAG + 4)

static_assert(BLOCK_KEYS % FRAG == 0 && BLOCK_KEYS >= STAGE_COLS, "a score row must hold an output pass");
static_assert(BLOCK_KEYS == 64, "the softmax gives each of two lanes 32 columns of a row");

template <int HD> struct prefill_shared {
	__half q[BLOCK_ROWS][HD + HALF_PAD];
	__half k[BLOCK_KEYS][HD + HALF_PAD];
	__half v[BLOCK_KEYS][HD + HALF_PAD];
	/* per warp: S (float), then P (fp16, each row in the first half of its S row),
	 * then the output, STAGE_COLS columns at a time */
	float stage[PREFILL_WARPS][FRAG][STAGE_LD];
	/* per warp: a per-row factor broadcast along its row, F[r][c] = factor of row r */
	float row_factor[PREFILL_WARPS][FRAG][FACTOR_LD];
};

typedef wmma::fragment<wmma::accumulator, FRAG, FRAG, FRAG, float> accumulator;

/* ---- loading tiles into shared memory as fp16 ------------------------------------ */

/* Eight cache values, as loaded (16-byte loads for f32 and bf16, 8 for e4m3). */
template <enum llmk_dtype D> struct raw8;
template <> struct raw8<LLMK_F32> { float4 a, b; };
template <> struct raw8<LLMK_BF16> { uint4 a; };
template <> struct raw8<LLMK_E4M3> { uint2 a; };

template <enum llmk_dtype D> __device__ static inline raw8<D> load8(const void *base, size_t i);
template <> __device__ inline raw8<LLMK_F32> load8<LLMK_F32>(const void *base, size_t i)
{
	const float4 *p = (const float4 *)((const float *)base + i);
	return raw8<LLMK_F32>{__ldg(p), __ldg(p + 1)};
}
template <> __device__ inline raw8<LLMK_BF16> load8<LLMK_BF16>(const void *base, size_t i)
{
	return raw8<LLMK_BF16>{__ldg((const uint4 *)((const __nv_bfloat16 *)base + i))};
}
template <> __device__ inline raw8<LLMK_E4M3> load8<LLMK_E4M3>(const void *base, size_t i)
{
	return raw8<LLMK_E4M3>{__ldg((const uint2 *)((const uint8_t *)base + i))};
}

__device__ static inline uint32_t half2_bits(__half2 h)
{
	return *(uint32_t *)&h;
}

__device__ static inline uint4 to_half8(raw8<LLMK_F32> r)
{
	return make_uint4(half2_bits(__floats2half2_rn(r.a.x, r.a.y)), half2_bits(__floats2half2_rn(r.a.z, r.a.w)),
			  half2_bits(__floats2half2_rn(r.b.x, r.b.y)), half2_bits(__floats2half2_rn(r.b.z, r.b.w)));
}

__device__ static inline uint32_t bf16x2_to_half2(uint32_t bits)
{
	/* bf16 -> float is exact, float -> fp16 is exact for values within fp16's range */
	float lo = __uint_as_float(bits << 16), hi = __uint_as_float(bits & 0xffff0000u);
	return half2_bits(__floats2half2_rn(lo, hi));
}

__device__ static inline uint4 to_half8(raw8<LLMK_BF16> r)
{
	return make_uint4(bf16x2_to_half2(r.a.x), bf16x2_to_half2(r.a.y), bf16x2_to_half2(r.a.z),
			  bf16x2_to_half2(r.a.w));
}

__device__ static inline uint32_t e4m3x2_to_half2(uint32_t bits)
{
	/* every e4m3 value is an fp16 value */
	__half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)bits, __NV_E4M3);
	return (uint32_t)h.x | (uint32_t)h.y << 16;
}

__device__ static inline uint4 to_half8(raw8<LLMK_E4M3> r)
{
	return make_uint4(e4m3x2_to_half2(r.a.x & 0xffff), e4m3x2_to_half2(r.a.x >> 16),
			  e4m3x2_to_half2(r.a.y & 0xffff), e4m3x2_to_half2(r.a.y >> 16));
}

/* Rows start..start+BLOCK_KEYS-1 of one KV head of a cache into tile, zeros past the
 * cache's last row.  The loads go in batches of 16 registers, each batch issued
 * before its first store. */
template <int HD, enum llmk_dtype D>
__device__ static void load_kv_tile(__half (*tile)[HD + HALF_PAD], const void *cache, int start, int positions,
				    size_t kv_dim, int kv_offset)
{
	constexpr int CHUNKS_PER_ROW = HD / 8, PER_THREAD = BLOCK_KEYS * CHUNKS_PER_ROW / THREADS;
	constexpr int BATCH_WANTED = 64 / (int)sizeof(raw8<D>);
	constexpr int BATCH = BATCH_WANTED < PER_THREAD ? BATCH_WANTED : PER_THREAD;
	static_assert(BLOCK_KEYS * CHUNKS_PER_ROW % THREADS == 0 && PER_THREAD % BATCH == 0, "whole chunks per thread");
#pragma unroll
	for (int b = 0; b < PER_THREAD; b += BATCH) {
		raw8<D> raw[BATCH];
#pragma unroll
		for (int u = 0; u < BATCH; u++) {
			int chunk = threadIdx.x + (b + u) * THREADS, row = chunk / CHUNKS_PER_ROW;
			int col = chunk % CHUNKS_PER_ROW * 8;
			if (start + row < positions)
				raw[u] = load8<D>(cache, (size_t)(start + row) * kv_dim + kv_offset + col);
		}
#pragma unroll
		for (int u = 0; u < BATCH; u++) {
			int chunk = threadIdx.x + (b + u) * THREADS, row = chunk / CHUNKS_PER_ROW;
			int col = chunk % CHUNKS_PER_ROW * 8;
			*(uint4 *)&tile[row][col] = start + row < positions ? to_half8(raw[u]) : make_uint4(0, 0, 0, 0);
		}
	}
}

/* The block's query rows as fp16: row r is token t0 + r / group, query head
 * kv_head * group + r % group; rows past the block's last valid one are zeros. */
template <int HD>
__device__ static void load_query_tile(__half (*tile)[HD + HALF_PAD], const float *q, int t0, int rows, int group,
				       int heads, int kv_head)
{
	constexpr int QUADS_PER_ROW = HD / 4;
	for (int i = threadIdx.x; i < BLOCK_ROWS * QUADS_PER_ROW; i += THREADS) {
		int r = i / QUADS_PER_ROW, col = i % QUADS_PER_ROW * 4;
		uint2 h = make_uint2(0, 0);
		if (r < rows) {
			size_t row = (size_t)(t0 + r / group) * heads + kv_head * group + r % group;
			float4 x = __ldg((const float4 *)(q + row * HD + col));
			h = make_uint2(half2_bits(__floats2half2_rn(x.x, x.y)),
				       half2_bits(__floats2half2_rn(x.z, x.w)));
		}
		*(uint2 *)&tile[r][col] = h;
	}
}

/* ---- the per-warp steps of one key tile ------------------------------------------- */

/* S = Q K^T for the warp's 16 rows into its stage; key slices past last_key are skipped
 * (left 0: the softmax masks them). */
template <int HD>
__device__ static void warp_scores(const prefill_shared<HD> &s, float *stage, int warp, int start, int last_key)
{
	wmma::fragment<wmma::matrix_a, FRAG, FRAG, FRAG, __half, wmma::row_major> a;
	wmma::fragment<wmma::matrix_b, FRAG, FRAG, FRAG, __half, wmma::col_major> b;
	accumulator acc[BLOCK_KEYS / FRAG];
#pragma unroll
	for (int j = 0; j < BLOCK_KEYS / FRAG; j++)
		wmma::fill_fragment(acc[j], 0.0f);
#pragma unroll
	for (int kk = 0; kk < HD / FRAG; kk++) {
		wmma::load_matrix_sync(a, &s.q[warp * FRAG][kk * FRAG], HD + HALF_PAD);
#pragma unroll
		for (int j = 0; j < BLOCK_KEYS / FRAG; j++) {
			if (start + j * FRAG > last_key)
				break;
			/* K^T as a column-major B: element (d, p) is k[p][d] */
			wmma::load_matrix_sync(b, &s.k[j * FRAG][kk * FRAG], HD + HALF_PAD);
			wmma::mma_sync(acc[j], a, b, acc[j]);
		}
	}
#pragma unroll
	for (int j = 0; j < BLOCK_KEYS / FRAG; j++)
		wmma::store_matrix_sync(stage + j * FRAG, acc[j], STAGE_LD, wmma::mem_row_major);
}

/* Writes a row's factor across its row of the warp's factor matrix (lanes 2r and 2r+1
 * take half the columns each). */
__device__ static void put_row_factor(float *factor_matrix, int lane, float value)
{
	float4 *dst = (float4 *)&factor_matrix[lane / 2 * FACTOR_LD + lane % 2 * 8];
	dst[0] = dst[1] = make_float4(value, value, value, value);
}

/* o[*] element i is multiplied by its row's factor: loading the factor matrix into
 * a fragment of o's type puts each element's factor where the element is. */
template <int N>
__device__ static void scale_rows(accumulator (&o)[N], const float *factor_matrix)
{
	accumulator f;
	wmma::load_matrix_sync(f, factor_matrix, FACTOR_LD, wmma::mem_row_major);
#pragma unroll
	for (int d = 0; d < N; d++)
#pragma unroll
		for (int i = 0; i < accumulator::num_elements; i++)
			o[d].x[i] *= f.x[i];
}

/* Online softmax of one tile: lanes 2r and 2r+1 own row r of the warp's stage, the even
 * lane the float4 column groups 0, 2, 4, .., the odd lane 1, 3, 5, .. (conflict-free
 * with STAGE_LD = 72).  Updates the row's running max and sum, overwrites the row's
 * first half with P as fp16 and writes the factor O must be rescaled by. */
__device__ static void warp_softmax(float *stage, float *factor_matrix, int lane, int start, int limit,
				    float scale_log2, float &running_max, float &running_sum)
{
	const int r = lane / 2, side = lane % 2;
	float *row = stage + r * STAGE_LD;
	float p[32];
	float tile_max = -INFINITY;
#pragma unroll
	for (int g = 0; g < 8; g++) {
		int col = 8 * g + 4 * side;
		float4 x = *(const float4 *)&row[col];
		float xs[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
		for (int e = 0; e < 4; e++) {
			float v = start + col + e <= limit ? xs[e] * scale_log2 : -INFINITY;
			p[4 * g + e] = v;
			tile_max = fmaxf(tile_max, v);
		}
	}
	tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
	const float new_max = fmaxf(running_max, tile_max);
	/* a row with nothing attended yet (new_max -inf) keeps P = 0 and O as it is */
	const float base = new_max == -INFINITY ? 0.0f : new_max;
	const float correction = exp2f(running_max - base);
	__syncwarp(); /* every lane has read its floats before P overwrites them */
	__half *prow = (__half *)row;
	float sum = 0;
#pragma unroll
	for (int g = 0; g < 8; g++) {
		__half2 lo = __floats2half2_rn(exp2f(p[4 * g] - base), exp2f(p[4 * g + 1] - base));
		__half2 hi = __floats2half2_rn(exp2f(p[4 * g + 2] - base), exp2f(p[4 * g + 3] - base));
		float2 lo_f = __half22float2(lo), hi_f = __half22float2(hi);
		sum += (lo_f.x + lo_f.y) + (hi_f.x + hi_f.y);
		*(uint2 *)&prow[8 * g + 4 * side] = make_uint2(half2_bits(lo), half2_bits(hi));
	}
	sum += __shfl_xor_sync(0xffffffffu, sum, 1);
	running_sum = running_sum * correction + sum;
	running_max = new_max;
	put_row_factor(factor_matrix, lane, correction);
}

/* O += P V over the key slices up to last_key. */
template <int HD>
__device__ static void warp_accumulate(accumulator (&o)[HD / FRAG], const prefill_shared<HD> &s, const float *stage,
				       int start, int last_key)
{
	wmma::fragment<wmma::matrix_a, FRAG, FRAG, FRAG, __half, wmma::row_major> pa;
	wmma::fragment<wmma::matrix_b, FRAG, FRAG, FRAG, __half, wmma::row_major> vb;
	const __half *p = (const __half *)stage;
#pragma unroll
	for (int kk = 0; kk < BLOCK_KEYS / FRAG; kk++) {
		if (start + kk * FRAG > last_key)
			break;
		wmma::load_matrix_sync(pa, p + kk * FRAG, 2 * STAGE_LD);
#pragma unroll
		for (int d = 0; d < HD / FRAG; d++) {
			wmma::load_matrix_sync(vb, &s.v[kk * FRAG][d * FRAG], HD + HALF_PAD);
			wmma::mma_sync(o[d], pa, vb, o[d]);
		}
	}
}

/* Writes the warp's normalized rows to out, STAGE_COLS columns a pass through its stage. */
template <int HD>
__device__ static void warp_store_output(accumulator (&o)[HD / FRAG], float *stage, int lane, int warp, int rows,
					 int t0, int group, int heads, int kv_head, float *out)
{
	constexpr int FRAGS_PER_PASS = STAGE_COLS / FRAG;
#pragma unroll
	for (int pass = 0; pass < HD / STAGE_COLS; pass++) {
#pragma unroll
		for (int j = 0; j < FRAGS_PER_PASS; j++)
			wmma::store_matrix_sync(stage + j * FRAG, o[pass * FRAGS_PER_PASS + j], STAGE_LD,
						wmma::mem_row_major);
		__syncwarp();
		/* 16 lanes a row, 4 floats each: two rows a step */
		for (int r = lane / 16; r < FRAG; r += 2) {
			int block_row = warp * FRAG + r, col = lane % 16 * 4;
			if (block_row >= rows)
				break;
			size_t row = (size_t)(t0 + block_row / group) * heads + kv_head * group + block_row % group;
			*(float4 *)(out + row * HD + pass * STAGE_COLS + col) =
				*(const float4 *)&stage[r * STAGE_LD + col];
		}
		__syncwarp();
	}
}

/* ---- the kernel -------------------------------------------------------------------- */

template <int HD, enum llmk_dtype D>
__global__ static void __launch_bounds__(THREADS, PREFILL_MIN_BLOCKS)
attention_prefill_kernel(const float *q, const void *key_cache, const void *value_cache, float *out, int count,
			 int pos0, int heads, int kv_heads, float scale_log2, int tokens_per_block)
{
	extern __shared__ __align__(128) unsigned char shared_bytes[];
	prefill_shared<HD> &s = *reinterpret_cast<prefill_shared<HD> *>(shared_bytes);
	const int group = heads / kv_heads, kv_head = blockIdx.y;
	const int t0 = (gridDim.x - 1 - blockIdx.x) * tokens_per_block; /* latest tokens first */
	const int tokens = min(tokens_per_block, count - t0), rows = tokens * group;
	const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
	const size_t kv_dim = (size_t)kv_heads * HD;
	const int positions = pos0 + count, block_last_key = pos0 + t0 + tokens - 1;
	/* the last position this lane's softmax row attends to (-1: a padding row), and
	 * the warp's last row's */
	const int my_row = warp * FRAG + lane / 2;
	const int limit = my_row < rows ? pos0 + t0 + my_row / group : -1;
	const int warp_last_row = min(warp * FRAG + FRAG, rows) - 1;
	const int warp_last_key = warp_last_row >= warp * FRAG ? pos0 + t0 + warp_last_row / group : -1;
	float *stage = &s.stage[warp][0][0], *factor_matrix = &s.row_factor[warp][0][0];

	load_query_tile<HD>(s.q, q, t0, rows, group, heads, kv_head);
	accumulator o[HD / FRAG];
#pragma unroll
	for (int d = 0; d < HD / FRAG; d++)
		wmma::fill_fragment(o[d], 0.0f);
	float running_max = -INFINITY, running_sum = 0;

	for (int start = 0; start <= block_last_key; start += BLOCK_KEYS) {
		__syncthreads(); /* the previous tile is no longer read (and Q and row_of are in) */
		load_kv_tile<HD, D>(s.k, key_cache, start, positions, kv_dim, kv_head * HD);
		load_kv_tile<HD, D>(s.v, value_cache, start, positions, kv_dim, kv_head * HD);
		__syncthreads();
		if (start > warp_last_key)
			continue; /* every row of this warp is masked for the whole tile */
		warp_scores<HD>(s, stage, warp, start, warp_last_key);
		__syncwarp();
		warp_softmax(stage, factor_matrix, lane, start, limit, scale_log2, running_max, running_sum);
		__syncwarp();
		scale_rows(o, factor_matrix);
		warp_accumulate<HD>(o, s, stage, start, warp_last_key);
	}
	__syncwarp();
	put_row_factor(factor_matrix, lane, running_sum > 0 ? 1.0f / running_sum : 0.0f);
	__syncwarp();
	scale_rows(o, factor_matrix);
	warp_store_output<HD>(o, stage, lane, warp, rows, t0, group, heads, kv_head, out);
}

/* ---- launcher ---------------------------------------------------------------------- */

template <int HD, enum llmk_dtype D>
static cudaError_t launch_prefill(const float *q, const void *key_cache, const void *value_cache, float *out,
				  int count, int pos0, int heads, int kv_heads, float scale, cudaStream_t stream)
{
	const int group = heads / kv_heads, tokens_per_block = BLOCK_ROWS / group;
	const size_t shared = sizeof(prefill_shared<HD>);
	cudaError_t status = cudaFuncSetAttribute(attention_prefill_kernel<HD, D>,
						  cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared);
	if (status != cudaSuccess)
		return status;
	dim3 grid((count + tokens_per_block - 1) / tokens_per_block, kv_heads);
	const float log2e = 1.4426950408889634f;
	attention_prefill_kernel<HD, D><<<grid, THREADS, shared, stream>>>(q, key_cache, value_cache, out, count,
									   pos0, heads, kv_heads, scale * log2e,
									   tokens_per_block);
	return cudaGetLastError();
}

template <int HD>
static cudaError_t launch_prefill_dtype(const float *q, const void *k, const void *v, enum llmk_dtype cache_dtype,
					float *out, int count, int pos0, int heads, int kv_heads, float scale,
					cudaStream_t stream)
{
	switch (cache_dtype) {
	case LLMK_F32: return launch_prefill<HD, LLMK_F32>(q, k, v, out, count, pos0, heads, kv_heads, scale, stream);
	case LLMK_BF16: return launch_prefill<HD, LLMK_BF16>(q, k, v, out, count, pos0, heads, kv_heads, scale, stream);
	case LLMK_E4M3: return launch_prefill<HD, LLMK_E4M3>(q, k, v, out, count, pos0, heads, kv_heads, scale, stream);
	default: return cudaErrorNotSupported;
	}
}

static bool aligned16(const void *p)
{
	return (uintptr_t)p % 16 == 0;
}

extern "C" cudaError_t llmk_attention_prefill(const struct llmk_attention *a, cudaStream_t stream)
{
	if (a->pos_dev || a->outq || a->rope_store)
		return cudaErrorInvalidValue;
	if (a->count < 0 || a->pos0 < 0 || a->kv_heads <= 0 || a->heads <= 0 || a->heads % a->kv_heads ||
	    a->heads / a->kv_heads > MAX_GROUP || !aligned16(a->q) || !aligned16(a->key_cache) ||
	    !aligned16(a->value_cache) || !aligned16(a->out))
		return cudaErrorNotSupported;
	if (a->count == 0)
		return cudaSuccess;
	if (a->head_dim == 128)
		return launch_prefill_dtype<128>(a->q, a->key_cache, a->value_cache, a->cache_dtype, a->out, a->count,
						 a->pos0, a->heads, a->kv_heads, a->scale, stream);
	if (a->head_dim == 64)
		return launch_prefill_dtype<64>(a->q, a->key_cache, a->value_cache, a->cache_dtype, a->out, a->count,
						a->pos0, a->heads, a->kv_heads, a->scale, stream);
	return cudaErrorNotSupported;
}
