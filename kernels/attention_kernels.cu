/*
 * attention_kernels.cu - RoPE, the KV cache and decode attention (see llm_kernels.h):
 * everything that reads or writes positions.  The tensor-core prefill attention is
 * attention_prefill.cu.
 */
#include "llm_kernels.h"

#include "kernel_common.cuh"

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
