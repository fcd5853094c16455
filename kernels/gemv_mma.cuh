/*
 * gemv_mma.cuh - the 8-bit GEMV's dot products on the tensor cores (gemv_kernels.cu's
 * split GEMV with llmk_gemv_products other than the CUDA cores').
 *
 * A block of GEMV_MMA_THREADS threads takes GEMV_MMA_ROWS rows and up to 16 tokens: one
 * mma.sync's A is 16 rows of weights, its B the tokens (8 a tile, a second tile past 8).
 * Thread (g, c) of a warp (g = lane / 4, c = lane % 4) loads 16-byte chunks of rows g and
 * g + 8 and of token g's input at the same positions, and gives each mma the same bytes of
 * all three: the columns an mma adds are a permutation of the row's, the same for A and
 * B, so the dot product is unchanged.  The warps take the row's chunks in turn (8 a warp
 * step), and their partial sums add in warp order.  Each token is one column of B: its
 * sums do not depend on the other columns, so a token's rows are the bits it gets alone.
 *
 * INT8 products add in int32: exact, the bits of any other order (the dp4a GEMV's).
 * FP8 e4m3 widened to f16 is exact and its products are exact in the f32 accumulator;
 * how the tensor core adds them (alignment and rounding inside one mma) is its own, so
 * FP8 results differ in the last bits from the CUDA cores' float32 chain.
 */
#ifndef LLMCHAT_GEMV_MMA_CUH
#define LLMCHAT_GEMV_MMA_CUH

#include <type_traits>

#include "kernel_common.cuh"

#define GEMV_MMA_ROWS 16
#define GEMV_MMA_THREADS 256
#define GEMV_MMA_WARPS (GEMV_MMA_THREADS / WARP)
#define GEMV_MMA_STEP_CHUNKS 8 /* a warp step: each thread of a quad takes 2 chunks */
#ifndef GEMV_MMA_ONE_TOKEN_STEPS
#define GEMV_MMA_ONE_TOKEN_STEPS 2 /* warp steps a stage loads for one token (1 for more) */
#endif

/* The instruction a block's products go through (none: the CUDA cores' kernel). */
enum gemv_mma_kind { GEMV_MMA_NONE, GEMV_MMA_S8, GEMV_MMA_E4M3_F16, GEMV_MMA_E4M3 };

/* d += A (16 x 32 s8, rows g, g + 8) B (32 x 8 s8, column g), in int32. */
__device__ static __forceinline__ void mma_s8(int *d, const unsigned *a, const unsigned *b)
{
	asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
	    "{%0,%1,%2,%3};"
	    : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
	    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* d += A (16 x 32 e4m3) B (32 x 8 e4m3), in float32. */
__device__ static __forceinline__ void mma_e4m3(float *d, const unsigned *a, const unsigned *b)
{
	asm("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
	    "{%0,%1,%2,%3};"
	    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
	    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* d += A (16 x 16 f16) B (16 x 8 f16), in float32. */
__device__ static __forceinline__ void mma_f16(float *d, const unsigned *a, const unsigned *b)
{
	asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
	    "{%0,%1,%2,%3};"
	    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
	    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* Two e4m3 (the low and high byte of the low half of v >> shift) as an f16x2 register,
 * exactly: the first in the low half. */
__device__ static __forceinline__ unsigned e4m3x2_to_f16x2(unsigned v, int shift)
{
	__half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)((v >> shift) & 0xffffu), __NV_E4M3);
	return (unsigned)h.x | ((unsigned)h.y << 16);
}

/* The products of one 16-byte chunk: lo and hi are rows g and g + 8, act token g's
 * input, acc the tile's four accumulators (rows g / g + 8 x tokens 2c, 2c + 1). */
template <enum gemv_mma_kind KIND, typename Acc>
__device__ static __forceinline__ void gemv_mma_chunk(const uint4 &lo, const uint4 &hi, const uint4 &act, Acc *acc)
{
	const unsigned *l = (const unsigned *)&lo, *h = (const unsigned *)&hi, *x = (const unsigned *)&act;
	if constexpr (KIND == GEMV_MMA_E4M3_F16) {
#pragma unroll
		for (int j = 0; j < 4; j++) {
			const unsigned a[4] = {e4m3x2_to_f16x2(l[j], 0), e4m3x2_to_f16x2(h[j], 0), e4m3x2_to_f16x2(l[j], 16),
					       e4m3x2_to_f16x2(h[j], 16)};
			const unsigned b[2] = {e4m3x2_to_f16x2(x[j], 0), e4m3x2_to_f16x2(x[j], 16)};
			mma_f16((float *)acc, a, b);
		}
	} else {
#pragma unroll
		for (int j = 0; j < 2; j++) {
			const unsigned a[4] = {l[2 * j], h[2 * j], l[2 * j + 1], h[2 * j + 1]};
			const unsigned b[2] = {x[2 * j], x[2 * j + 1]};
			if constexpr (KIND == GEMV_MMA_S8)
				mma_s8((int *)acc, a, b);
			else
				mma_e4m3((float *)acc, a, b);
		}
	}
}

/* Thread k * TOK + t (k < GEMV_MMA_ROWS, t < tokens <= TOK) gets row k's dot product
 * with token t's input (xq + t * cols), unscaled: *isum (S8) or *fsum; w[k] is row k,
 * valid[k] false for rows past the end.  Launched with programmatic dependent launch:
 * the first weights load before waiting for the kernel before. */
template <enum gemv_mma_kind KIND, int TOK>
__device__ static __forceinline__ void gemv_mma_block_dots(const uint4 *const *w, const bool *valid, int chunks,
							   int cols, int tokens, const uint8_t *xq, float *fsum,
							   int *isum)
{
	using Acc = typename std::conditional<KIND == GEMV_MMA_S8, int, float>::type;
	constexpr int TILES = (TOK + 7) / 8;
	const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, g = lane / 4, c = lane % 4;
	/* rows g and g + 8, picked with constant indices (a run-time index would copy w and
	 * valid to local memory) */
	const uint4 *row_lo = w[0], *row_hi = w[8];
	bool lo_valid = valid[0], hi_valid = valid[8];
#pragma unroll
	for (int k = 1; k < 8; k++)
		if (g == k) {
			row_lo = w[k];
			row_hi = w[k + 8];
			lo_valid = valid[k];
			hi_valid = valid[k + 8];
		}
	const int steps = (chunks + GEMV_MMA_STEP_CHUNKS - 1) / GEMV_MMA_STEP_CHUNKS;
	const uint4 zero = make_uint4(0, 0, 0, 0);
	Acc acc[TILES][4];
#pragma unroll
	for (int i = 0; i < TILES; i++)
		acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0;
	/* U warp steps' weights and inputs a stage; two stages, so that one loads while the
	 * other's products run.  Past the row's end every load is zeros (no memory read). */
	constexpr int U = TOK == 1 ? GEMV_MMA_ONE_TOKEN_STEPS : 1;
	constexpr int STRIDE = U * GEMV_MMA_WARPS;
	struct stage {
		uint4 lo[U][2], hi[U][2], act[U][2][TILES];
	};
	auto chunk_of = [&](int s, int half) { return s * GEMV_MMA_STEP_CHUNKS + half * 4 + c; };
	auto load_weights = [&](stage &st, int s0) {
#pragma unroll
		for (int u = 0; u < U; u++)
#pragma unroll
			for (int half = 0; half < 2; half++) {
				const int chunk = chunk_of(s0 + u * GEMV_MMA_WARPS, half);
				st.lo[u][half] = chunk < chunks && lo_valid ? __ldg(row_lo + chunk) : zero;
				st.hi[u][half] = chunk < chunks && hi_valid ? __ldg(row_hi + chunk) : zero;
			}
	};
	auto load_inputs = [&](stage &st, int s0) {
#pragma unroll
		for (int u = 0; u < U; u++)
#pragma unroll
			for (int half = 0; half < 2; half++) {
				const int chunk = chunk_of(s0 + u * GEMV_MMA_WARPS, half);
#pragma unroll
				for (int tile = 0; tile < TILES; tile++) {
					const int token = tile * 8 + g;
					st.act[u][half][tile] = chunk < chunks && token < tokens
									? __ldcg((const uint4 *)(xq + (size_t)token * cols) + chunk)
									: zero;
				}
			}
	};
	/* the warp's steps in order, whatever U: the same sums for every TOK */
	auto products = [&](const stage &st, int s0) {
#pragma unroll
		for (int u = 0; u < U; u++) {
			if (s0 + u * GEMV_MMA_WARPS >= steps) /* the same for the whole warp */
				break;
#pragma unroll
			for (int half = 0; half < 2; half++)
#pragma unroll
				for (int tile = 0; tile < TILES; tile++)
					gemv_mma_chunk<KIND>(st.lo[u][half], st.hi[u][half], st.act[u][half][tile], acc[tile]);
		}
	};
	stage a, b;
	load_weights(a, warp);
	wait_for_previous_kernels(); /* the input may be the kernel before's output */
	load_inputs(a, warp);
	for (int s0 = warp; s0 < steps; s0 += 2 * STRIDE) {
		load_weights(b, s0 + STRIDE);
		load_inputs(b, s0 + STRIDE);
		products(a, s0);
		if (s0 + STRIDE >= steps)
			break;
		load_weights(a, s0 + 2 * STRIDE);
		load_inputs(a, s0 + 2 * STRIDE);
		products(b, s0 + STRIDE);
	}
	__shared__ Acc part[GEMV_MMA_WARPS][GEMV_MMA_ROWS][TILES * 8];
#pragma unroll
	for (int tile = 0; tile < TILES; tile++) {
		part[warp][g][tile * 8 + 2 * c] = acc[tile][0];
		part[warp][g][tile * 8 + 2 * c + 1] = acc[tile][1];
		part[warp][g + 8][tile * 8 + 2 * c] = acc[tile][2];
		part[warp][g + 8][tile * 8 + 2 * c + 1] = acc[tile][3];
	}
	__syncthreads();
	if (threadIdx.x < GEMV_MMA_ROWS * TOK) {
		const int k = threadIdx.x / TOK, t = threadIdx.x % TOK;
		Acc sum = 0;
		for (int v = 0; v < GEMV_MMA_WARPS; v++)
			sum += part[v][k][t];
		*fsum = (float)sum;
		*isum = (int)sum;
	}
}

#endif
