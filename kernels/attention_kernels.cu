/*
 * attention_kernels.cu - RoPE, the KV cache and decode attention (see llm_kernels.h):
 * everything that reads or writes positions.  The tensor-core prefill attention is
 * attention_prefill.cu.
 */
#include "llm_kernels.h"

#include "kernel_common.cuh"

#include <type_traits>

/* RoPE on q and on the new k rows, and the conversion of k and v into the caches, in
 * one launch: one block per token (rope_pair and cache_put, kernel_common.cuh, so the
 * same bits as the separate rotations and store that tests/gpu/reference_kernels.cuh
 * keeps).  key_rows is left as it was (the rotated k goes straight into the cache). */
template <typename T>
__global__ static void rope_store_kernel(float *q, int q_stride, int q_heads, const float *key_rows,
					 const float *value_rows, int kv_heads, int head_dim, int pos0, const int *pos_dev,
					 const float *inv_freq, T *key_cache, T *value_cache)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
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

/* (cos, sin) of token t's pair i: one thread a value. */
__global__ static void rope_table_kernel(const float *inv_freq, int half, int count, int pos0, float2 *table)
{
	wait_for_previous_kernels(); /* launched with programmatic dependent launch */
	allow_next_kernel();
	const int k = blockIdx.x * blockDim.x + threadIdx.x;
	if (k >= count * half)
		return;
	float c, s;
	rope_cos_sin(pos0 + k / half, inv_freq[k % half], &c, &s);
	table[k] = make_float2(c, s);
}

extern "C" cudaError_t llmk_rope_table(const float *inv_freq, int head_dim, int count, int pos0, float *table,
				       cudaStream_t stream)
{
	if (count < 1)
		return cudaSuccess;
	if (head_dim < 2 || head_dim % 2 || (uintptr_t)table % 16)
		return cudaErrorInvalidValue;
	const int half = head_dim / 2, threads = 256;
	const unsigned blocks = (unsigned)(((size_t)count * half + threads - 1) / threads);
	return launch_maybe_pdl(rope_table_kernel, dim3(blocks), dim3(threads), true, stream, inv_freq, half, count, pos0,
				(float2 *)table);
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
		return launch_maybe_pdl(rope_store_kernel<float>, dim3(count), dim3(ROW_THREADS), true, stream, q, q_stride,
					q_heads, key_rows, value_rows, kv_heads, head_dim, pos0, pos_dev, inv_freq,
					(float *)key_cache, (float *)value_cache);
	case LLMK_BF16:
		return launch_maybe_pdl(rope_store_kernel<__nv_bfloat16>, dim3(count), dim3(ROW_THREADS), true, stream, q,
					q_stride, q_heads, key_rows, value_rows, kv_heads, head_dim, pos0, pos_dev,
					inv_freq, (__nv_bfloat16 *)key_cache, (__nv_bfloat16 *)value_cache);
	case LLMK_E4M3:
		return launch_maybe_pdl(rope_store_kernel<__nv_fp8_storage_t>, dim3(count), dim3(ROW_THREADS), true, stream,
					q, q_stride, q_heads, key_rows, value_rows, kv_heads, head_dim, pos0, pos_dev,
					inv_freq, (__nv_fp8_storage_t *)key_cache, (__nv_fp8_storage_t *)value_cache);
	default:
		return cudaErrorInvalidValue;
	}
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

/* attention_kernel over a cache of T elements. */
template <typename T>
static void launch_attention_general(const struct llmk_attention *a, cudaStream_t stream)
{
	attention_kernel<<<dim3(a->heads, a->count), ATTENTION_TILE, 0, stream>>>(
		a->q, (const T *)a->key_cache, (const T *)a->value_cache, a->out, a->pos0, a->heads, a->kv_heads,
		a->head_dim, a->scale);
}

extern "C" cudaError_t llmk_attention_general(const struct llmk_attention *a, cudaStream_t stream)
{
	if (a->head_dim > ATTENTION_MAX_HEAD_DIM || a->kv_heads <= 0 || a->heads % a->kv_heads || a->pos_dev || a->outq ||
	    a->rope_store || a->rope_table)
		return cudaErrorInvalidValue;
	switch (a->cache_dtype) {
	case LLMK_F32: launch_attention_general<float>(a, stream); break;
	case LLMK_BF16: launch_attention_general<__nv_bfloat16>(a, stream); break;
	case LLMK_E4M3: launch_attention_general<__nv_fp8_storage_t>(a, stream); break;
	default: return cudaErrorInvalidValue;
	}
	return cudaGetLastError();
}

/* ---- decode attention, split over the KV length ------------------------------------
 * Bound by reading the cache: 2 x positions x kv_dim elements per token, once per KV
 * head for its whole group of query heads.  The grid is (KV head, token, split) and
 * does not depend on the position (a captured graph replays it at every position):
 * decode takes as many splits as make one wave of resident blocks on the GPU (at most
 * DECODE_MAX_SPLITS over the tokens), so that the splits share the context evenly and
 * none waits for a second wave.  Each split's rows come from the position read on the
 * device, at least DECODE_MIN_CHUNK of them, so that at a short context most splits are
 * empty and return at once; the combine kernel reads only the splits that had rows.
 *
 * In a split, a cached row is read by a group of lanes (ROW_LANES), each lane loading
 * EPL consecutive elements in one 16-byte load (8 bytes for e4m3 with a group of 8
 * query heads, whose queries and accumulators, 2 x 8 x EPL floats a lane, must stay in
 * registers); a warp loads DECODE_UNROLL rows of K and V a lane before using any, and
 * keeps one online-softmax state a lane group, rescaled once per tile of rows.  Scores
 * are in base 2 (the query is scaled by scale x log2(e)), so every exponential is an
 * exp2f. */

#define DECODE_MAX_SPLITS 256
#define DECODE_MAX_GROUP 8
#define DECODE_WARPS 4
#define COMBINE_THREADS 512
/* A timing build may set these with -D (each build's bits are the same for its eager,
 * graph and several-token runs; the split count follows the kernel's occupancy). */
#ifndef DECODE_MIN_CHUNK
#define DECODE_MIN_CHUNK 64
#endif
#ifndef DECODE_UNROLL
#define DECODE_UNROLL 4
#endif
/* 1: a split block loads its first tile's cached rows (those before the pass's first new
 * token, which earlier passes wrote) before waiting for the kernel before, as the GEMVs
 * load their first weights; not measured yet, so off. */
#ifndef DECODE_KV_EARLY
#define DECODE_KV_EARLY 0
#endif

extern "C" size_t llmk_attention_decode_scratch(int heads, int head_dim, int max_tokens)
{
	/* per (token, head, split): max, sum, head_dim accumulators; each decode token takes
	 * at most DECODE_MAX_SPLITS splits (decode_splits), prefill one a token */
	const size_t decode = (size_t)LLMK_DECODE_MAX_TOKENS * DECODE_MAX_SPLITS;
	size_t slots = (size_t)heads * ((size_t)max_tokens > decode ? (size_t)max_tokens : decode);
	return slots * (head_dim + 2);
}

/* Rows of each split of a context of total rows: at least DECODE_MIN_CHUNK (one split:
 * all of them). */
__host__ __device__ static inline int split_chunk(int total, int splits)
{
	return max((total + splits - 1) / splits, splits == 1 ? total : DECODE_MIN_CHUNK);
}

/* The shape of a split block's loads for cache elements T, head_dim HD and GROUP query
 * heads a KV head. */
template <typename T, int HD, int GROUP>
struct split_layout {
	static constexpr int EPL = sizeof(T) == 4 ? 4 : sizeof(T) == 2 ? 8 : GROUP <= 4 ? 16 : 8; /* elements a load */
	static constexpr int ROW_LANES = HD / EPL;                 /* lanes reading one row */
	static constexpr int ROWS = WARP / ROW_LANES;              /* rows a warp loads at once */
	static constexpr int UNROLL = DECODE_UNROLL;               /* loads of K and V a lane issues at once */
	static constexpr int TILE_ROWS = ROWS * UNROLL;            /* rows a warp takes a trip */
	static constexpr int BLOCK_ROWS = TILE_ROWS * DECODE_WARPS; /* rows a block takes a trip */
	using bits = typename std::conditional<EPL * sizeof(T) == 16, uint4, uint2>::type;
	static_assert(ROW_LANES <= WARP && WARP % ROW_LANES == 0, "head_dim does not fit a warp");
};

/* EPL cache elements (their bits, as loaded) widened to float. */
__device__ static inline void widen_part(float, uint4 raw, float *out)
{
	out[0] = __uint_as_float(raw.x); out[1] = __uint_as_float(raw.y);
	out[2] = __uint_as_float(raw.z); out[3] = __uint_as_float(raw.w);
}

__device__ static inline void widen_part(__nv_bfloat16, uint4 raw, float *out) { bf16x8_to_float(raw, out); }

__device__ static inline void widen_part(__nv_fp8_storage_t, uint4 raw, float *out) { e4m3x16_to_float(raw, out); }

__device__ static inline void widen_part(__nv_fp8_storage_t, uint2 raw, float *out)
{
	const __nv_fp8x2_storage_t *pairs = (const __nv_fp8x2_storage_t *)&raw;
#pragma unroll
	for (int k = 0; k < 4; k++) {
		__half2_raw h = __nv_cvt_fp8x2_to_halfraw2(pairs[k], __NV_E4M3);
		float2 f = __half22float2(*(const __half2 *)&h);
		out[2 * k] = f.x;
		out[2 * k + 1] = f.y;
	}
}

/* Merges a lane's softmax state (max m, sum l, EPL accumulators) with that of the lane
 * offset away (xor); an empty state (m = -inf) weighs 0. */
template <int EPL>
__device__ static inline void merge_with_lane(float &m, float &l, float *acc, int offset)
{
	float other_m = __shfl_xor_sync(0xffffffffu, m, offset), other_l = __shfl_xor_sync(0xffffffffu, l, offset);
	float new_max = fmaxf(m, other_m), base = new_max == -INFINITY ? 0 : new_max;
	float mine = exp2f(m - base), theirs = exp2f(other_m - base);
	l = l * mine + other_l * theirs;
#pragma unroll
	for (int k = 0; k < EPL; k++)
		acc[k] = acc[k] * mine + __shfl_xor_sync(0xffffffffu, acc[k], offset) * theirs;
	m = new_max;
}

/* The new token's work of a fused split block (rope.key_rows not NULL; one token):
 * its group's query heads rotated into s_q, and, in the block whose split holds the
 * token's own row (owner), that row's rotated k and its v into the caches and, rounded
 * as stored, into s_new (k, v) for the block's own reads.  Returns that row (the
 * position) in the owner, else -1.  rope_pair and cache_put as rope_store_kernel uses
 * them: the same bits. */
template <typename T, int HD, int GROUP>
__device__ static __forceinline__ int split_rope_store(const float *q, struct llmk_rope_store rope, T *key_cache,
						       T *value_cache, int position, int kvh, int kv_heads, int group,
						       bool owner, float (*s_q)[HD], T (*s_new)[HD])
{
	constexpr int HALF = HD / 2;
	for (int idx = threadIdx.x; idx < group * HALF; idx += blockDim.x) {
		const int g = idx / HALF, i = idx % HALF;
		const float *head = q + (size_t)(kvh * group + g) * HD;
		rope_pair(head[i], head[i + HALF], position, rope.inv_freq[i], &s_q[g][i], &s_q[g][i + HALF]);
	}
	if (owner) {
		const size_t kv_dim = (size_t)kv_heads * HD, row = (size_t)position * kv_dim + kvh * HD;
		const float *k = rope.key_rows + kvh * HD, *v = rope.value_rows + kvh * HD;
		for (int i = threadIdx.x; i < HALF; i += blockDim.x) {
			float ra, rb;
			rope_pair(k[i], k[i + HALF], position, rope.inv_freq[i], &ra, &rb);
			cache_put(&s_new[0][i], ra);
			cache_put(&s_new[0][i + HALF], rb);
			cache_put(key_cache + row + i, ra);
			cache_put(key_cache + row + i + HALF, rb);
		}
		for (int i = threadIdx.x; i < HD; i += blockDim.x) {
			cache_put(&s_new[1][i], v[i]);
			cache_put(value_cache + row + i, v[i]);
		}
	}
	__syncthreads();
	return owner ? position : -1;
}

/* One block: the softmax state of the group's query heads over one split's rows of
 * one KV head, written to part_max (base 2), part_sum and part_acc (unnormalized); a
 * split with no rows writes nothing.  Reads each of its rows once, for all the group.
 * With rope.key_rows (one token), RoPE and the KV store of the token come first
 * (split_rope_store), and its own row is read from the block's copy. */
template <typename T, int HD, int GROUP>
__global__ static void __launch_bounds__(DECODE_WARPS * WARP)
attention_split_kernel(const float *q, const T *__restrict__ key_cache, const T *__restrict__ value_cache, int pos0,
		       const int *pos_dev, int heads, int kv_heads, float score_scale, int splits, float *part_max,
		       float *part_sum, float *part_acc, struct llmk_rope_store rope)
{
	/* launched with programmatic dependent launch; the next launch (a persistent
	 * decode segment streams weights that do not depend on this one) may start at once */
	allow_next_kernel();
	using L = split_layout<T, HD, GROUP>;
	constexpr int EPL = L::EPL, U = L::UNROLL;
	const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
	const int sub = lane / L::ROW_LANES, dim0 = (lane % L::ROW_LANES) * EPL;
	const int kvh = blockIdx.x, t = blockIdx.y, split = blockIdx.z;
	const size_t kv_dim = (size_t)kv_heads * HD;
	const T *keys = key_cache + kvh * HD + dim0, *values = value_cache + kvh * HD + dim0;
	int total, begin, end; /* the context, and this split's rows of it */
	auto find_rows = [&]() {
		if (pos_dev)
			pos0 = *pos_dev;
		total = pos0 + t + 1;
		const int chunk = split_chunk(total, splits);
		begin = split * chunk;
		end = min(total, begin + chunk);
	};
	typename L::bits kfirst[U], vfirst[U]; /* DECODE_KV_EARLY: the first tile's rows before pos0 */
	if constexpr (DECODE_KV_EARLY) {
		/* the position was copied in before the pass's first kernel, and the rows before
		 * it by earlier passes: neither depends on the kernel before */
		find_rows();
		if (begin >= end)
			return;
#pragma unroll
		for (int u = 0; u < U; u++) {
			const int j = begin + warp * L::TILE_ROWS + u * L::ROWS + sub;
			kfirst[u] = vfirst[u] = {};
			if (j < end && j < pos0) {
				kfirst[u] = *(const typename L::bits *)(keys + (size_t)j * kv_dim);
				vfirst[u] = *(const typename L::bits *)(values + (size_t)j * kv_dim);
			}
		}
	}
	wait_for_previous_kernels();
	if constexpr (!DECODE_KV_EARLY)
		find_rows();
	if (begin >= end)
		return;
	const int group = heads / kv_heads;
	const int first_tile = begin + warp * L::TILE_ROWS;
	const bool fused = rope.key_rows != NULL;
	__shared__ float s_q[GROUP][HD];
	__shared__ __align__(16) T s_new[2][HD];
	const int new_row = fused ? split_rope_store<T, HD, GROUP>(q, rope, (T *)key_cache, (T *)value_cache, pos0, kvh,
								   kv_heads, group, end == total, s_q, s_new)
				  : -1;

	float qreg[GROUP][EPL], acc[GROUP][EPL], m[GROUP], l[GROUP];
#pragma unroll
	for (int g = 0; g < GROUP; g++) {
		m[g] = -INFINITY;
		l[g] = 0;
#pragma unroll
		for (int k = 0; k < EPL; k++) {
			acc[g][k] = 0;
			if (g >= group) {
				qreg[g][k] = 0;
				continue;
			}
			qreg[g][k] = (fused ? s_q[g][dim0 + k] : q[((size_t)t * heads + kvh * group + g) * HD + dim0 + k]) *
				     score_scale;
		}
	}
	/* every lane runs the same trips (the shuffles need the whole warp); rows past the
	 * end load nothing and score -inf */
	for (int tile = begin + warp * L::TILE_ROWS; tile < end; tile += L::BLOCK_ROWS) {
		typename L::bits kbits[U], vbits[U];
#pragma unroll
		for (int u = 0; u < U; u++) {
			const int j = tile + u * L::ROWS + sub;
			kbits[u] = vbits[u] = {};
			if (j == new_row) {
				kbits[u] = *(const typename L::bits *)(&s_new[0][dim0]);
				vbits[u] = *(const typename L::bits *)(&s_new[1][dim0]);
			} else if (DECODE_KV_EARLY && tile == first_tile && j < pos0) {
				kbits[u] = kfirst[u]; /* rows past end were left 0 too */
				vbits[u] = vfirst[u];
			} else if (j < end) {
				kbits[u] = *(const typename L::bits *)(keys + (size_t)j * kv_dim);
				vbits[u] = *(const typename L::bits *)(values + (size_t)j * kv_dim);
			}
		}
		float p[U][GROUP]; /* the scores, then their exponentials */
#pragma unroll
		for (int u = 0; u < U; u++) {
			float kf[EPL];
			widen_part(T(), kbits[u], kf);
#pragma unroll
			for (int g = 0; g < GROUP; g++) {
				float dot = 0;
#pragma unroll
				for (int k = 0; k < EPL; k++)
					dot += qreg[g][k] * kf[k];
#pragma unroll
				for (int offset = L::ROW_LANES / 2; offset > 0; offset /= 2)
					dot += __shfl_xor_sync(0xffffffffu, dot, offset);
				p[u][g] = tile + u * L::ROWS + sub < end ? dot : -INFINITY;
			}
		}
#pragma unroll
		for (int g = 0; g < GROUP; g++) {
			float tile_max = p[0][g];
#pragma unroll
			for (int u = 1; u < U; u++)
				tile_max = fmaxf(tile_max, p[u][g]);
			/* a lane group with no row yet (max still -inf) keeps the empty state */
			const float new_max = fmaxf(m[g], tile_max), base = new_max == -INFINITY ? 0 : new_max;
			const float correction = exp2f(m[g] - base);
			float tile_sum = 0;
#pragma unroll
			for (int u = 0; u < U; u++) {
				p[u][g] = exp2f(p[u][g] - base);
				tile_sum += p[u][g];
			}
			l[g] = l[g] * correction + tile_sum;
			m[g] = new_max;
#pragma unroll
			for (int k = 0; k < EPL; k++)
				acc[g][k] *= correction;
		}
#pragma unroll
		for (int u = 0; u < U; u++) {
			float vf[EPL];
			widen_part(T(), vbits[u], vf);
#pragma unroll
			for (int g = 0; g < GROUP; g++)
#pragma unroll
				for (int k = 0; k < EPL; k++)
					acc[g][k] += p[u][g] * vf[k];
		}
	}
	/* the warp's lane groups into one state (lanes of sub 0), then the block's warps */
#pragma unroll
	for (int g = 0; g < GROUP; g++)
#pragma unroll
		for (int offset = L::ROW_LANES; offset < WARP; offset *= 2)
			merge_with_lane<EPL>(m[g], l[g], acc[g], offset);
	__shared__ float s_max[DECODE_WARPS][GROUP], s_sum[DECODE_WARPS][GROUP];
	__shared__ float s_acc[DECODE_WARPS][GROUP][HD];
	if (sub == 0) {
#pragma unroll
		for (int g = 0; g < GROUP; g++) {
			s_max[warp][g] = m[g];
			s_sum[warp][g] = l[g];
#pragma unroll
			for (int k = 0; k < EPL; k++)
				s_acc[warp][g][dim0 + k] = acc[g][k];
		}
	}
	__syncthreads();
	for (int idx = threadIdx.x; idx < group * HD; idx += blockDim.x) {
		const int g = idx / HD, d = idx % HD;
		float block_max = -INFINITY;
		for (int w = 0; w < DECODE_WARPS; w++)
			block_max = fmaxf(block_max, s_max[w][g]);
		float sum = 0, value = 0;
		for (int w = 0; w < DECODE_WARPS; w++) {
			float f = s_max[w][g] == -INFINITY ? 0 : exp2f(s_max[w][g] - block_max);
			sum += s_sum[w][g] * f;
			value += s_acc[w][g][d] * f;
		}
		const size_t out_slot = ((size_t)t * heads + kvh * group + g) * splits + split;
		part_acc[out_slot * HD + d] = value;
		if (d == 0) {
			part_max[out_slot] = block_max;
			part_sum[out_slot] = sum;
		}
	}
}

/* One block a (head, token): merges the splits that had rows (the same split_chunk as
 * the split kernel, from the same position) into out, and quantized into outq (a static
 * scheme as each value is made; a dynamic one, of one token, by the launch's last
 * block, with last_block's words).  Bound by reading their partial
 * states (in L2): COMBINE_THREADS / (HD / 4) stripes of splits, 16-byte loads, then
 * the stripes summed in a fixed order (the same bits at every run). */
template <int HD>
__global__ static void __launch_bounds__(COMBINE_THREADS)
attention_combine_kernel(int heads, int splits, int pos0, const int *pos_dev, const float *part_max,
			 const float *part_sum, const float *part_acc, float *out, struct llmk_static_quant outq,
			 unsigned *last_block)
{
	/* launched with programmatic dependent launch; the next launch (a persistent
	 * decode segment streams weights that do not depend on this one) may start at once */
	allow_next_kernel();
	wait_for_previous_kernels();
	constexpr int ROW_THREADS_4 = HD / 4, STRIPES = COMBINE_THREADS / ROW_THREADS_4;
	__shared__ float s_weight[DECODE_MAX_SPLITS], s_partial[WARP];
	__shared__ float4 s_stripe[STRIPES][ROW_THREADS_4];
	if (pos_dev)
		pos0 = *pos_dev;
	const int h = blockIdx.x, t = blockIdx.y, total = pos0 + t + 1;
	const int chunk = split_chunk(total, splits), used = (total + chunk - 1) / chunk;
	const size_t base = ((size_t)t * heads + h) * splits;
	float local_max = -INFINITY;
	for (int s = threadIdx.x; s < used; s += blockDim.x)
		local_max = fmaxf(local_max, part_max[base + s]);
	const float global_max = block_reduce(local_max, [](float a, float b) { return fmaxf(a, b); }, s_partial);
	float local_sum = 0;
	for (int s = threadIdx.x; s < used; s += blockDim.x) {
		float w = exp2f(part_max[base + s] - global_max);
		s_weight[s] = w;
		local_sum += part_sum[base + s] * w;
	}
	const float sum = block_reduce(local_sum, [](float a, float b) { return a + b; }, s_partial);
	const int stripe = threadIdx.x / ROW_THREADS_4, d4 = threadIdx.x % ROW_THREADS_4;
	float4 value = make_float4(0, 0, 0, 0);
#pragma unroll 4
	for (int s = stripe; s < used; s += STRIPES) {
		const float4 a = *(const float4 *)(part_acc + (base + s) * HD + 4 * d4);
		const float w = s_weight[s];
		value.x += a.x * w; value.y += a.y * w; value.z += a.z * w; value.w += a.w * w;
	}
	s_stripe[stripe][d4] = value;
	__syncthreads();
	float value_max = 0; /* this thread's |value| (NaN left out, as llmk_quantize's maximum) */
	if (threadIdx.x < HD) {
		const int d = threadIdx.x;
		float total_value = 0;
		for (int s = 0; s < STRIPES; s++)
			total_value += ((const float *)s_stripe[s])[d];
		const float value_out = total_value / sum;
		out[((size_t)t * heads + h) * HD + d] = value_out;
		if (quant_is_static(outq.quant))
			static_quant_store(outq, heads * HD, t, h * HD + d, value_out);
		value_max = fmaxf(value_max, fabsf(value_out));
	}
	if (last_block && last_block_arrives(last_block, value_max, true)) {
		block_quantize_row(out, heads * HD, last_block_max(last_block), outq.quant, outq.scale, (uint8_t *)outq.xq,
				   outq.scales);
		last_block_reset(last_block);
	}
}

/* Splits of each of count tokens: for decode, what one token takes, one wave of the
 * split kernel's resident blocks on this GPU, at most DECODE_MAX_SPLITS (a function of
 * the shape alone, so that eager, graph and several-token runs add in the same order:
 * speculative decoding's verify pass gives each token the one-token step's bits);
 * prefill: one a token, the tokens themselves fill the GPU. */
template <typename T, int HD, int GROUP>
static cudaError_t decode_splits(int kv_heads, int count, int *splits)
{
	*splits = 1;
	if (count > LLMK_DECODE_MAX_TOKENS)
		return cudaSuccess;
	int sms, per_sm;
	cudaError_t status = current_device_attribute(cudaDevAttrMultiProcessorCount, &sms);
	if (status == cudaSuccess)
		status = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, attention_split_kernel<T, HD, GROUP>,
								       DECODE_WARPS * WARP, 0);
	if (status == cudaSuccess)
		*splits = max(1, min(sms * per_sm / kv_heads, DECODE_MAX_SPLITS));
	return status;
}

/* One decode attention launch's arguments, as the public functions take them. */
struct split_args {
	const float *q;
	const void *key_cache, *value_cache;
	float *out;
	int count, pos0;
	const int *pos_dev;  /* the position on the device (graph replay), or NULL: pos0 */
	int heads, kv_heads, head_dim;
	float scale;
	float *scratch;
	struct llmk_static_quant outq; /* quant LLMK_QUANT_NONE: none */
	struct llmk_rope_store rope;   /* key_rows NULL: none */
	unsigned *last_block;          /* a dynamic outq's words (one token), else NULL */
};

template <typename T, int HD, int GROUP>
static cudaError_t launch_split_group(const struct split_args &a, cudaStream_t stream)
{
	int splits;
	cudaError_t status = decode_splits<T, HD, GROUP>(a.kv_heads, a.count, &splits);
	if (status != cudaSuccess)
		return status;
	const size_t slots = (size_t)a.count * a.heads * splits;
	/* the accumulators first: 16-byte aligned for the combine's loads */
	float *part_acc = a.scratch, *part_max = a.scratch + slots * HD, *part_sum = part_max + slots;
	const float score_scale = a.scale * 1.44269504088896341f; /* log2(e): scores in base 2 */
	status = launch_maybe_pdl(attention_split_kernel<T, HD, GROUP>, dim3(a.kv_heads, a.count, splits),
				  dim3(DECODE_WARPS * WARP), true, stream, a.q, (const T *)a.key_cache,
				  (const T *)a.value_cache, a.pos0, a.pos_dev, a.heads, a.kv_heads, score_scale, splits,
				  part_max, part_sum, part_acc, a.rope);
	if (status != cudaSuccess)
		return status;
	return launch_maybe_pdl(attention_combine_kernel<HD>, dim3(a.heads, a.count), dim3(COMBINE_THREADS), true, stream,
				a.heads, splits, a.pos0, a.pos_dev, (const float *)part_max, (const float *)part_sum,
				(const float *)part_acc, a.out, a.outq, a.last_block);
}

/* The kernels for the group rounded up to 1, 2, 4 or 8 (the extra heads' queries are 0
 * and their results unwritten). */
template <typename T, int HD>
static cudaError_t launch_split_head_dim(const struct split_args &a, cudaStream_t stream)
{
	const int group = a.heads / a.kv_heads;
	if (group == 1)
		return launch_split_group<T, HD, 1>(a, stream);
	if (group == 2)
		return launch_split_group<T, HD, 2>(a, stream);
	if (group <= 4)
		return launch_split_group<T, HD, 4>(a, stream);
	return launch_split_group<T, HD, 8>(a, stream);
}

template <typename T>
static cudaError_t launch_split_typed(const struct split_args &a, cudaStream_t stream)
{
	if (a.head_dim == 128)
		return launch_split_head_dim<T, 128>(a, stream);
	return launch_split_head_dim<T, 64>(a, stream);
}

static cudaError_t launch_attention_split(const struct split_args &a, enum llmk_dtype cache_dtype, cudaStream_t stream)
{
	const bool dynamic = a.outq.quant == LLMK_QUANT_FP8_DYNAMIC || a.outq.quant == LLMK_QUANT_INT8_DYNAMIC;
	if (a.outq.quant != LLMK_QUANT_NONE && !quant_is_static(a.outq.quant) && !dynamic)
		return cudaErrorInvalidValue;
	/* a dynamic scale: one token, the last block's words, float4 rows and uchar4 codes */
	if (dynamic && (a.count != 1 || !a.last_block || (uintptr_t)a.out % 16 != 0 || (uintptr_t)a.outq.xq % 4 != 0 ||
			!a.outq.scales))
		return cudaErrorInvalidValue;
	switch (cache_dtype) {
	case LLMK_F32: return launch_split_typed<float>(a, stream);
	case LLMK_BF16: return launch_split_typed<__nv_bfloat16>(a, stream);
	case LLMK_E4M3: return launch_split_typed<__nv_fp8_storage_t>(a, stream);
	default: return cudaErrorNotSupported;
	}
}

static bool decode_shape_supported(int heads, int kv_heads, int head_dim, enum llmk_dtype cache_dtype)
{
	return kv_heads > 0 && heads % kv_heads == 0 && heads / kv_heads <= DECODE_MAX_GROUP &&
	       (head_dim == 64 || head_dim == 128) &&
	       (cache_dtype == LLMK_F32 || cache_dtype == LLMK_BF16 || cache_dtype == LLMK_E4M3);
}

extern "C" cudaError_t llmk_attention_decode(const struct llmk_attention *a, cudaStream_t stream)
{
	if (a->count > a->max_tokens || (a->pos_dev && a->count > LLMK_DECODE_MAX_TOKENS) ||
	    !decode_shape_supported(a->heads, a->kv_heads, a->head_dim, a->cache_dtype))
		return cudaErrorNotSupported;
	/* decode_splits: the same grid for the eager and the graph form (the same bits) */
	if (a->rope_table || (a->rope_store && (a->count != 1 || !a->rope_store->key_rows ||
					      !a->rope_store->value_rows || !a->rope_store->inv_freq)))
		return cudaErrorInvalidValue;
	struct split_args split = {a->q, a->key_cache, a->value_cache, a->out, a->count, a->pos_dev ? 0 : a->pos0,
				   a->pos_dev, a->heads, a->kv_heads, a->head_dim, a->scale, a->scratch,
				   {LLMK_QUANT_NONE, 0, NULL, NULL}, {NULL, NULL, NULL}, NULL};
	if (a->outq) {
		split.outq = *a->outq;
		if (!quant_is_static(a->outq->quant))
			split.last_block = a->last_block;
	}
	if (a->rope_store)
		split.rope = *a->rope_store;
	return launch_attention_split(split, a->cache_dtype, stream);
}
