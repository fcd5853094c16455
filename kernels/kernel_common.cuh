/*
 * kernel_common.cuh - device helpers shared by the kernels of kernels/: element loads and
 * the BF16 chunk's dot product, warp and block reductions, the thread count of the
 * kernels that take one block a token, device attributes and programmatic dependent
 * launch.
 */
#ifndef LLMCHAT_KERNEL_COMMON_CUH
#define LLMCHAT_KERNEL_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <math.h>

#include "llm_kernels.h"

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

/* Threads of the kernels that take one block a token (embedding, norms, quantization,
 * RoPE + KV store).  With one token a step, each of them is one block on one SM, and
 * its time is the latency of each thread's chain of loads: 1024 threads make the
 * chains 4 times shorter than 256 did (an H200 profile of the decode step showed
 * these kernels at 8 to 15 us each, as much as the matrix products).  Every norm
 * kernel uses the same count, so that their sums of squares add in the same order
 * (the fused and unfused forms agree bit for bit). */
#define ROW_THREADS 1024

/* 16 bytes of packed weights or cache entries widened to float. */
__device__ static inline void bf16x8_to_float(uint4 raw, float *out)
{
	const __nv_bfloat162 *pairs = (const __nv_bfloat162 *)&raw;
	for (int k = 0; k < 4; k++) {
		float2 f = __bfloat1622float2(pairs[k]);
		out[2 * k] = f.x;
		out[2 * k + 1] = f.y;
	}
}

/* One 16-byte chunk of BF16 weights (as floats) times its 8 float inputs, added in
 * one fixed order: every kernel that must give gemv_kernel<1>'s bits adds a chunk
 * through this expression. */
__device__ static __forceinline__ float bf16_chunk_dot(const float *wf, float4 a0, float4 a1)
{
	return wf[0] * a0.x + wf[1] * a0.y + wf[2] * a0.z + wf[3] * a0.w + wf[4] * a1.x + wf[5] * a1.y +
	       wf[6] * a1.z + wf[7] * a1.w;
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

/* ---- RoPE: rotate_half pairs (i, i + head_dim/2) ---------------------------------- */

/* One RoPE rotation (rotate_half layout): the pair (a, b) of dimensions i and
 * i + head_dim/2 at position, as the CPU engine computes it; every RoPE kernel uses
 * this (or its two halves below, with the cosine and sine made once for a table:
 * llmk_rope_table), so that they agree bit for bit. */
__device__ static inline void rope_cos_sin(int position, float inv_freq, float *c, float *s)
{
	float angle = (float)position * inv_freq;
	*c = cosf(angle);
	*s = sinf(angle);
}

__device__ static inline void rope_rotate(float a, float b, float c, float s, float *ra, float *rb)
{
	*ra = a * c - b * s;
	*rb = b * c + a * s;
}

__device__ static inline void rope_pair(float a, float b, int position, float inv_freq, float *ra, float *rb)
{
	float c, s;
	rope_cos_sin(position, inv_freq, &c, &s);
	rope_rotate(a, b, c, s, ra, rb);
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

/* ---- activation quantization, shared so that every kernel that quantizes (llmk_quantize,
 * the fused norm and SwiGLU forms, the static outputs of llmk_static_quant) gives the
 * same bits. */

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

/* Whether quant's scale is static.  quantize_scale reads max_abs only for the dynamic
 * schemes (FP8: the max_abs / 448 case; INT8: max_abs / 127 and 127 / max_abs); for a
 * static one s is static_scale and inv 1 / s, whatever max_abs is.  So a kernel may
 * pass it any max_abs (0) and round each value as it makes it, in the same pass, with
 * no reduction over the row: the same s, inv and codes. */
__host__ __device__ static inline bool quant_is_static(enum llmk_quant quant)
{
	return quant == LLMK_QUANT_FP8_STATIC || quant == LLMK_QUANT_INT8_STATIC;
}

/* Value i of token t (of n a token) into a llmk_static_quant output, and the token's
 * scale with value 0: as llmk_quantize writes them for the same static scheme. */
__device__ static inline void static_quant_store(const struct llmk_static_quant &q, int n, int t, int i, float v)
{
	float s, inv;
	quantize_scale(0, q.quant, q.scale, &s, &inv);
	((uint8_t *)q.xq)[(size_t)t * n + i] = quantize_value(v, inv, quant_is_fp8(q.quant));
	if (i == 0)
		q.scales[t] = s;
}

/* The largest of max_abs and the magnitudes of v's four values (fmaxf: exact, in any order). */
__device__ static inline float max_abs4(float max_abs, float4 v)
{
	return fmaxf(fmaxf(max_abs, fabsf(v.x)), fmaxf(fmaxf(fabsf(v.y), fabsf(v.z)), fabsf(v.w)));
}

/* quantize_value of v's four values, as 4 bytes in memory order (x the lowest byte:
 * little-endian). */
__device__ static inline uint32_t quantize4(float4 v, float inv, bool fp8)
{
	return (uint32_t)quantize_value(v.x, inv, fp8) | (uint32_t)quantize_value(v.y, inv, fp8) << 8 |
	       (uint32_t)quantize_value(v.z, inv, fp8) << 16 | (uint32_t)quantize_value(v.w, inv, fp8) << 24;
}

/* silu(g) * u, the one expression of every SwiGLU kernel (the fused ones must match it
 * bit for bit). */
__device__ static inline float silu_times(float g, float u)
{
	return g / (1.0f + expf(-g)) * u;
}

/* ---- work a launch's last block does (llm_kernels.h's LLMK_LAST_BLOCK_WORDS) --------
 * words[0] counts the blocks done, words[1] holds the largest magnitude of a row the
 * blocks wrote (float bits: non-negative floats order as unsigned ints). */

/* Called by every thread of every block of a launch once the block's writes are made:
 * true in the last block to get here, to which every other block's writes are then
 * visible (each block fences them before it counts itself).  With with_max, the
 * block's largest part_max (each thread's; 0 for none, never NaN) joins words[1]
 * first. */
__device__ static bool last_block_arrives(unsigned *words, float part_max, bool with_max)
{
	__shared__ unsigned s_before;
	__shared__ float s_warp_max[32];
	const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, warps = (blockDim.x + WARP - 1) / WARP;
	if (with_max) {
		for (int offset = WARP / 2; offset > 0; offset /= 2)
			part_max = fmaxf(part_max, __shfl_xor_sync(0xffffffffu, part_max, offset));
		if (lane == 0)
			s_warp_max[warp] = part_max;
		__syncthreads();
		if (threadIdx.x == 0) {
			for (int w = 1; w < warps; w++)
				part_max = fmaxf(part_max, s_warp_max[w]);
			atomicMax(words + 1, __float_as_uint(part_max));
		}
	}
	__threadfence();
	__syncthreads();
	if (threadIdx.x == 0)
		s_before = atomicAdd(words, 1u);
	__syncthreads();
	const bool last = s_before == gridDim.x * gridDim.y * gridDim.z - 1;
	if (last)
		__threadfence();
	return last;
}

/* The row's largest magnitude as the blocks gave it (in the last block). */
__device__ static float last_block_max(const unsigned *words)
{
	return __uint_as_float(__ldcg(words + 1));
}

/* In the last block, when its work is done: the words back to zero for the next launch. */
__device__ static void last_block_reset(unsigned *words)
{
	if (threadIdx.x == 0) {
		words[0] = 0;
		words[1] = 0;
	}
}

/* x's n values (a multiple of 4; x 16-byte aligned, written by other blocks, read
 * through L2) rounded into xq (4-byte aligned) under the scale quant makes of the row's
 * max_abs, the scale into *scale_out: llmk_quantize's bits, by one block. */
__device__ static void block_quantize_row(const float *x, int n, float max_abs, enum llmk_quant quant,
					  float static_scale, uint8_t *xq, float *scale_out)
{
	constexpr int AT_ONCE = 4;
	float s, inv;
	quantize_scale(max_abs, quant, static_scale, &s, &inv);
	const bool fp8 = quant_is_fp8(quant);
	const int n4 = n / 4;
	for (int c0 = threadIdx.x; c0 < n4; c0 += AT_ONCE * blockDim.x) { /* every load of a round at once */
		float4 v[AT_ONCE];
#pragma unroll
		for (int k = 0; k < AT_ONCE; k++)
			if (c0 + k * blockDim.x < n4)
				v[k] = __ldcg((const float4 *)x + c0 + k * blockDim.x);
#pragma unroll
		for (int k = 0; k < AT_ONCE; k++)
			if (c0 + k * blockDim.x < n4)
				((uint32_t *)xq)[c0 + k * blockDim.x] = quantize4(v[k], inv, fp8);
	}
	if (threadIdx.x == 0)
		*scale_out = s;
}

/* ---- one row's add + RMSNorm + quantization by a block of any size ---------------- */

/* x += delta (written back), normed = weight * (x * rms_inverse), quantized into xq with
 * its scale in *scale_out (static or dynamic; quant NONE: normed only), by one block of
 * THREADS threads (a multiple of 32 dividing ROW_THREADS), with the bits the one-token
 * norm kernels (ROW_THREADS threads a row) give: virtual thread u of ROW_THREADS adds
 * the squares of elements u, u + ROW_THREADS, ... in double, each virtual warp is summed
 * by block_reduce's butterfly, then the warps in order; thread r plays virtual warps
 * r / 32 + j * THREADS / 32 at its own lane.  The row is staged in s_row (n floats of
 * shared memory); n a multiple of 4, x, delta, weight and normed 16-byte aligned, xq
 * 4-byte aligned.  x and delta are read through L2 (another block may have just
 * written them). */
template <int THREADS>
__device__ static void block_add_rmsnorm_quantize(float *x, const float *delta, const float *weight, int n, float eps,
						  float *normed, enum llmk_quant quant, float static_scale,
						  uint8_t *xq, float *scale_out, float *s_row)
{
	static_assert(THREADS % WARP == 0 && ROW_THREADS % THREADS == 0, "a block plays the norm's 1024 threads");
	constexpr int WARPS = THREADS / WARP, VIRTUAL = ROW_THREADS / THREADS, AT_ONCE = 4;
	__shared__ double s_part[ROW_THREADS / WARP];
	__shared__ float s_max[WARPS];
	const int n4 = n / 4, lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
	float4 *row4 = (float4 *)s_row, *x4 = (float4 *)x;
	for (int c0 = threadIdx.x; c0 < n4; c0 += AT_ONCE * THREADS) { /* every load of a round at once */
		float4 a[AT_ONCE], b[AT_ONCE];
#pragma unroll
		for (int k = 0; k < AT_ONCE; k++)
			if (c0 + k * THREADS < n4) {
				a[k] = __ldcg(x4 + c0 + k * THREADS);
				b[k] = __ldcg((const float4 *)delta + c0 + k * THREADS);
			}
#pragma unroll
		for (int k = 0; k < AT_ONCE; k++)
			if (c0 + k * THREADS < n4) {
				const float4 v = make_float4(a[k].x + b[k].x, a[k].y + b[k].y, a[k].z + b[k].z, a[k].w + b[k].w);
				row4[c0 + k * THREADS] = v;
				x4[c0 + k * THREADS] = v;
			}
	}
	__syncthreads();
#pragma unroll
	for (int j = 0; j < VIRTUAL; j++) {
		const int u = (warp + j * WARPS) * WARP + lane;
		double ss = 0;
		for (int i = u; i < n; i += ROW_THREADS)
			ss += (double)s_row[i] * s_row[i];
		for (int offset = WARP / 2; offset > 0; offset /= 2)
			ss = ss + __shfl_xor_sync(0xffffffffu, ss, offset);
		if (lane == 0)
			s_part[warp + j * WARPS] = ss;
	}
	__syncthreads();
	double total = s_part[0];
	for (int w = 1; w < ROW_THREADS / WARP; w++)
		total = total + s_part[w];
	const float rms_inverse = 1.0f / sqrtf((float)(total / n) + eps);
	const bool fp8 = quant_is_fp8(quant), at_once = quant_is_static(quant);
	float s, inv;
	quantize_scale(0, quant, static_scale, &s, &inv); /* a static scheme's, else replaced below */
	float max_abs = 0;
	for (int c = threadIdx.x; c < n4; c += THREADS) { /* a thread rereads only the chunks it writes */
		const float4 w = __ldg((const float4 *)weight + c), v = row4[c];
		const float4 o = make_float4(w.x * (v.x * rms_inverse), w.y * (v.y * rms_inverse),
					     w.z * (v.z * rms_inverse), w.w * (v.w * rms_inverse));
		row4[c] = o;
		if (normed)
			((float4 *)normed)[c] = o;
		if (at_once)
			((uint32_t *)xq)[c] = quantize4(o, inv, fp8);
		max_abs = max_abs4(max_abs, o);
	}
	if (quant == LLMK_QUANT_NONE)
		return;
	if (!at_once) {
		for (int offset = WARP / 2; offset > 0; offset /= 2)
			max_abs = fmaxf(max_abs, __shfl_xor_sync(0xffffffffu, max_abs, offset));
		if (lane == 0)
			s_max[warp] = max_abs;
		__syncthreads();
		for (int w = 0; w < WARPS; w++)
			max_abs = fmaxf(max_abs, s_max[w]);
		quantize_scale(max_abs, quant, static_scale, &s, &inv);
		for (int c = threadIdx.x; c < n4; c += THREADS) {
			const float4 o = row4[c];
			((uint32_t *)xq)[c] = quantize4(o, inv, fp8);
		}
	}
	if (threadIdx.x == 0)
		*scale_out = s;
}

/* An attribute of the current device (cudaDeviceGetAttribute after cudaGetDevice). */
static inline cudaError_t current_device_attribute(enum cudaDeviceAttr attribute, int *value)
{
	int device;
	cudaError_t status = cudaGetDevice(&device);
	return status == cudaSuccess ? cudaDeviceGetAttribute(value, attribute, device) : status;
}

/* ---- programmatic dependent launch ------------------------------------------------ */

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

/* Launches kernel with shared_bytes of dynamic shared memory, with programmatic
 * dependent launch when pdl is set (it may then start while the stream's previous
 * kernel finishes; see wait_for_previous_kernels). */
template <typename... Params, typename... Args>
static cudaError_t launch_maybe_pdl_shared(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
					   bool pdl, cudaStream_t stream, Args... args)
{
	cudaLaunchAttribute attribute = {};
	attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
	attribute.val.programmaticStreamSerializationAllowed = 1;
	cudaLaunchConfig_t config = {};
	config.gridDim = grid;
	config.blockDim = block;
	config.dynamicSmemBytes = shared_bytes;
	config.stream = stream;
	config.attrs = &attribute;
	config.numAttrs = pdl ? 1 : 0;
	return cudaLaunchKernelEx(&config, kernel, (Params)args...);
}

/* launch_maybe_pdl_shared with no dynamic shared memory. */
template <typename... Params, typename... Args>
static cudaError_t launch_maybe_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, bool pdl, cudaStream_t stream,
				    Args... args)
{
	return launch_maybe_pdl_shared(kernel, grid, block, 0, pdl, stream, args...);
}

#endif
