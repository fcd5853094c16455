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
 * A block runs PREFILL_WARPS warps; warp w owns the 16 query rows 16w..16w+15, kept as
 * mma A tiles in registers, and per tile of BLOCK_KEYS positions (K and V converted to
 * fp16 in shared memory by the whole block):
 *   S = Q K^T        mma.sync m16n8k16, fp16 inputs, float32 accumulators, in registers
 *                    (K's B tiles through ldmatrix);
 *   softmax          the four lanes of a quad share a row, float32: scale, causal mask,
 *                    running max m and sum l, P = exp2(S - m) rounded to fp16 (l sums the
 *                    rounded values, so the weights stay a convex combination), the
 *                    correction exp2(m_old - m_new) applied to O's accumulators;
 *   O += P V         P's accumulator tiles are its A tiles as they are (see below); V's
 *                    B tiles through ldmatrix.trans.  O stays in registers to the end.
 * A warp skips the key tiles (and the 16-key slices of one) past its last row's
 * causal limit; the block stops after its last token's.  Blocks with the latest (most
 * expensive) tokens are launched first.
 *
 * The WMMA kernel before it (S and P through shared memory), measured on an H200
 * (2026-11-29, tests/gpu/attention_prefill.sh): 2048 tokens of the Llama-3.1-8B shape at
 * position 0 took 0.41 ms a layer with a bf16 cache (83 TFLOP/s; e4m3 0.35 ms, f32
 * 0.50 ms); 512 tokens 0.053 ms (40 TFLOP/s: 256 blocks do not fill 132 SMs x 3).
 */
#include "attention_prefill.h"

#include <stdint.h>

#include "kernel_common.cuh"

/* Tile sizes and the prefetch; the checks build variants with -DPREFILL_WARPS=...
 * -DPREFILL_KEYS=... -DPREFILL_PREFETCH=... (tests/gpu/attention_prefill.sh).  The
 * defaults, 8 warps with the prefetch, were the fastest of five on an H200 (2026-12-07):
 * 2048 tokens of the 8B shape 0.282 ms a layer against 0.311 for 4 warps without it
 * (3 blocks an SM), 512 tokens from 1536 0.108 against 0.131.  Then on an H100
 * (2026-12-07, two calls) Q in registers with two K/V stages took 0.253 and 0.256 ms
 * against 0.266 and 0.267 without; two row tiles a warp 0.275 (keys 32). */
#ifndef PREFILL_WARPS
#define PREFILL_WARPS 8
#endif
#ifndef PREFILL_KEYS
#define PREFILL_KEYS 64
#endif
/* With PREFILL_PREFETCH a thread loads its share of the next K/V tile into registers
 * before the products of the current one, so that the loads are in flight while they
 * run (bf16 and e4m3 caches; an f32 share would not fit the registers).  The share
 * costs 64 registers (bf16), so fewer blocks fit an SM. */
#ifndef PREFILL_PREFETCH
#define PREFILL_PREFETCH 1
#endif
/* PREFILL_ROW_TILES 2: a warp owns two mma tiles of 16 query rows, and each K and V
 * fragment it reads from shared memory serves both (half the ldmatrix traffic a FLOP).
 * Not faster on an H100 (above), so one. */
#ifndef PREFILL_ROW_TILES
#define PREFILL_ROW_TILES 1
#endif
/* With PREFILL_STAGES 2 the block keeps two K/V tiles in shared memory: the share of
 * tile i + 1 (prefetched in registers while tile i - 1 was used) is stored into the
 * other buffer after tile i's products, so that one barrier a tile separates the
 * stores from the reads instead of two.  PREFILL_Q_REGISTERS keeps each warp's Q as mma
 * A tiles in registers (32 more: 207 a thread) instead of reading them from shared
 * memory each tile.  Both on by default (Q in registers with one block an SM);
 * PREFILL_STAGES=1 PREFILL_Q_REGISTERS=0 give the kernel before them. */
#ifndef PREFILL_STAGES
#define PREFILL_STAGES (PREFILL_PREFETCH ? 2 : 1)
#endif
static_assert(PREFILL_STAGES == 1 || (PREFILL_STAGES == 2 && PREFILL_PREFETCH), "two stages store a prefetched share");
#ifndef PREFILL_MIN_BLOCKS /* blocks an SM must hold (caps registers) */
#define PREFILL_MIN_BLOCKS (PREFILL_WARPS >= 8 || PREFILL_PREFETCH ? (PREFILL_WARPS >= 8 && PREFILL_PREFETCH ? 1 : 2) : 3)
#endif
/* (Q in registers where one block an SM leaves the registers for it) */
#ifndef PREFILL_Q_REGISTERS
#define PREFILL_Q_REGISTERS (PREFILL_ROW_TILES == 1 && PREFILL_MIN_BLOCKS == 1)
#endif
static_assert(!PREFILL_Q_REGISTERS || PREFILL_ROW_TILES == 1, "Q in registers for one row tile a warp");
#define FRAG 16                           /* query rows of an mma tile */
#define ROW_TILES PREFILL_ROW_TILES       /* mma tiles of rows a warp owns */
#define WARP_ROWS (ROW_TILES * FRAG)
#define THREADS (PREFILL_WARPS * WARP)
#define BLOCK_ROWS (PREFILL_WARPS * WARP_ROWS) /* query rows: (token, head of the group) pairs */
#define BLOCK_KEYS PREFILL_KEYS           /* cached positions a K/V tile holds */
#define MAX_GROUP 8
#define HALF_PAD 8                        /* 16 bytes a shared row, against bank conflicts */

static_assert(BLOCK_KEYS % 16 == 0, "a key tile is whole 16-key slices (P's A tiles)");

template <int HD> struct prefill_shared {
	__half q[BLOCK_ROWS][HD + HALF_PAD];
	__half k[PREFILL_STAGES][BLOCK_KEYS][HD + HALF_PAD];
	__half v[PREFILL_STAGES][BLOCK_KEYS][HD + HALF_PAD];
};

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

/* One thread's share of a K/V tile as loaded (PREFILL_PREFETCH): chunks threadIdx.x +
 * u * THREADS of the tile's rows, 8 values each, as load_kv_tile takes them. */
template <int HD, enum llmk_dtype D> struct kv_share {
	static constexpr int PER_THREAD = BLOCK_KEYS * (HD / 8) / THREADS;
	raw8<D> k[PER_THREAD], v[PER_THREAD];
};

/* The share of the tile of rows start.. (rows past the cache's last not loaded). */
template <int HD, enum llmk_dtype D>
__device__ static void fetch_kv_share(kv_share<HD, D> &share, const void *key_cache, const void *value_cache,
				      int start, int positions, size_t kv_dim, int kv_offset)
{
	constexpr int CHUNKS_PER_ROW = HD / 8;
#pragma unroll
	for (int u = 0; u < kv_share<HD, D>::PER_THREAD; u++) {
		const int chunk = threadIdx.x + u * THREADS, row = chunk / CHUNKS_PER_ROW;
		const int col = chunk % CHUNKS_PER_ROW * 8;
		if (start + row < positions) {
			const size_t i = (size_t)(start + row) * kv_dim + kv_offset + col;
			share.k[u] = load8<D>(key_cache, i);
			share.v[u] = load8<D>(value_cache, i);
		}
	}
}

/* The share into the K and V tiles as fp16 (zeros past the cache's last row), as
 * load_kv_tile stores its loads. */
template <int HD, enum llmk_dtype D>
__device__ static void store_kv_share(__half (*k_tile)[HD + HALF_PAD], __half (*v_tile)[HD + HALF_PAD],
				      const kv_share<HD, D> &share, int start, int positions)
{
	constexpr int CHUNKS_PER_ROW = HD / 8;
#pragma unroll
	for (int u = 0; u < kv_share<HD, D>::PER_THREAD; u++) {
		const int chunk = threadIdx.x + u * THREADS, row = chunk / CHUNKS_PER_ROW;
		const int col = chunk % CHUNKS_PER_ROW * 8;
		const bool inside = start + row < positions;
		*(uint4 *)&k_tile[row][col] = inside ? to_half8(share.k[u]) : make_uint4(0, 0, 0, 0);
		*(uint4 *)&v_tile[row][col] = inside ? to_half8(share.v[u]) : make_uint4(0, 0, 0, 0);
	}
}

/* The block's query rows as fp16: row r is token t0 + r / group, query head
 * kv_head * group + r % group; rows past the block's last valid one are zeros.  With
 * rope_table each row is rotated first (RoPE of its token, the table's cosines and sines,
 * rope_rotate on the pairs (i, i + HD / 2) as llmk_rope_store_kv rotates q in place): a
 * thread takes a quad of the first half and the quad HD / 2 further. */
template <int HD>
__device__ static void load_query_tile(__half (*tile)[HD + HALF_PAD], const float *q, int t0, int rows, int group,
				       int heads, int kv_head, const float2 *rope_table)
{
	constexpr int HALF = HD / 2, QUADS_PER_HALF = HALF / 4;
	for (int i = threadIdx.x; i < BLOCK_ROWS * QUADS_PER_HALF; i += THREADS) {
		const int r = i / QUADS_PER_HALF, col = i % QUADS_PER_HALF * 4;
		uint2 low = make_uint2(0, 0), high = make_uint2(0, 0);
		if (r < rows) {
			const int token = t0 + r / group;
			const float *row = q + ((size_t)token * heads + kv_head * group + r % group) * HD;
			float4 a = __ldg((const float4 *)(row + col)), b = __ldg((const float4 *)(row + col + HALF));
			if (rope_table) {
				const float4 *cs = (const float4 *)(rope_table + (size_t)token * HALF + col);
				const float4 cs01 = __ldg(cs), cs23 = __ldg(cs + 1); /* (cos, sin) of col .. col + 3 */
				rope_rotate(a.x, b.x, cs01.x, cs01.y, &a.x, &b.x);
				rope_rotate(a.y, b.y, cs01.z, cs01.w, &a.y, &b.y);
				rope_rotate(a.z, b.z, cs23.x, cs23.y, &a.z, &b.z);
				rope_rotate(a.w, b.w, cs23.z, cs23.w, &a.w, &b.w);
			}
			low = make_uint2(half2_bits(__floats2half2_rn(a.x, a.y)), half2_bits(__floats2half2_rn(a.z, a.w)));
			high = make_uint2(half2_bits(__floats2half2_rn(b.x, b.y)), half2_bits(__floats2half2_rn(b.z, b.w)));
		}
		*(uint2 *)&tile[r][col] = low;
		*(uint2 *)&tile[r][col + HALF] = high;
	}
}

/* ---- the per-warp steps of one key tile: mma.sync, S and P in registers ---------------
 * mma.sync m16n8k16 (fp16 in, float32 accumulators) fragments, with g = lane / 4 and
 * t = lane % 4: an accumulator tile of 16 x 8 holds (row g, columns 2t, 2t+1) in its
 * elements 0, 1 and (row g + 8, the same columns) in 2, 3; an A tile of 16 x 16 holds
 * (row g, columns 2t..) in register 0, (g + 8, 2t..) in 1, (g, 2t + 8..) in 2 and
 * (g + 8, 2t + 8..) in 3; a B tile of 16 x 8 (k x n) holds (k 2t.., n g) in register 0
 * and (k 2t + 8.., n g) in 1.  So the scores of two adjacent 8-key tiles, rounded to
 * fp16 in pairs, are the A tile of P for those 16 keys with no data movement. */

/* d += a b, one m16n8k16 product */
__device__ static __forceinline__ void mma_16x8x16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
		     "{%8, %9}, {%0, %1, %2, %3};"
		     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Four 8 x 8 fp16 matrices from shared memory; lanes 8i..8i+7 give matrix i's rows.
 * Volatile: the tiles change between iterations at the same addresses. */
__device__ static __forceinline__ void load_matrices(uint32_t (&r)[4], const __half *row)
{
	const uint32_t address = (uint32_t)__cvta_generic_to_shared(row);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(address));
}

/* The same, each matrix transposed (a lane gets rows 2t and 2t + 1 of column g). */
__device__ static __forceinline__ void load_matrices_transposed(uint32_t (&r)[4], const __half *row)
{
	const uint32_t address = (uint32_t)__cvta_generic_to_shared(row);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(address));
}

/* What a warp keeps across the key tiles: O as accumulator tiles, and the running max
 * and sum of rows g and g + 8. */
template <int HD> struct warp_rows {
	float o[HD / 8][4];
	float running_max[2], running_sum[2];
	int limit[2]; /* the last position rows g and g + 8 attend to; -1 for a padding row */
};

/* The warp's Q as A tiles, one per 16 dimensions (PREFILL_Q_REGISTERS). */
template <int HD> struct query_tiles {
	uint32_t a[PREFILL_Q_REGISTERS ? HD / 16 : 1][4];
};

/* A tile kk of the warp's row tile m of Q, read from shared memory. */
template <int HD>
__device__ static __forceinline__ void load_query_fragment(uint32_t (&a)[4], const prefill_shared<HD> &s, int warp,
							   int lane, int m, int kk)
{
	load_matrices(a, &s.q[warp * WARP_ROWS + m * FRAG + lane % 16][16 * kk + (lane / 16) * 8]);
}

/* A tile kk of the warp's row tile m of Q: from the registers, or read from shared memory. */
template <int HD>
__device__ static __forceinline__ void query_tile(uint32_t (&a)[4], const prefill_shared<HD> &s,
						  const query_tiles<HD> &qt, int warp, int lane, int m, int kk)
{
	if constexpr (PREFILL_Q_REGISTERS) {
#pragma unroll
		for (int i = 0; i < 4; i++)
			a[i] = qt.a[kk][i];
	} else {
		load_query_fragment<HD>(a, s, warp, lane, m, kk);
	}
}

/* S = Q K^T of the warp's rows (ROW_TILES tiles of 16) against the K tile's keys from
 * start, each K fragment read once for every row tile; 16-key slices past last_key
 * are skipped (left 0: the softmax masks them).  Q's A tiles are read again from
 * shared memory each tile unless PREFILL_Q_REGISTERS keeps them (32 registers). */
template <int HD>
__device__ static void warp_scores(const prefill_shared<HD> &s, const query_tiles<HD> &qt,
				   const __half (*k_tile)[HD + HALF_PAD], float (&scores)[ROW_TILES][BLOCK_KEYS / 8][4],
				   int warp, int lane, int start, int last_key)
{
#pragma unroll
	for (int m = 0; m < ROW_TILES; m++)
#pragma unroll
		for (int j = 0; j < BLOCK_KEYS / 8; j++)
			scores[m][j][0] = scores[m][j][1] = scores[m][j][2] = scores[m][j][3] = 0.0f;
	const int key_in_pair = (lane / 16) * 8 + lane % 8, dim_in_step = (lane / 8) % 2 * 8;
#pragma unroll
	for (int kk = 0; kk < HD / 16; kk++) {
		uint32_t a[ROW_TILES][4];
#pragma unroll
		for (int m = 0; m < ROW_TILES; m++)
			query_tile<HD>(a[m], s, qt, warp, lane, m, kk);
#pragma unroll
		for (int pair = 0; pair < BLOCK_KEYS / 16; pair++) {
			if (start + 16 * pair > last_key)
				continue;
			uint32_t b[4];
			load_matrices(b, &k_tile[16 * pair + key_in_pair][16 * kk + dim_in_step]);
#pragma unroll
			for (int m = 0; m < ROW_TILES; m++) {
				mma_16x8x16(scores[m][2 * pair], a[m], b[0], b[1]);
				mma_16x8x16(scores[m][2 * pair + 1], a[m], b[2], b[3]);
			}
		}
	}
}

/* Online softmax of one tile for rows g and g + 8 (the four lanes of a quad share a
 * row): scale, causal mask, the running max and sum, P = exp2(S - max) rounded to fp16
 * into p (as A tiles; the sum adds the rounded values, so the weights stay a convex
 * combination) and O rescaled by exp2(old max - new max). */
template <int HD>
__device__ static void warp_softmax(float (&scores)[BLOCK_KEYS / 8][4], uint32_t (&p)[BLOCK_KEYS / 16][4],
				    warp_rows<HD> &w, int lane, int start, float scale_log2)
{
	const int column = 2 * (lane % 4);
#pragma unroll
	for (int h = 0; h < 2; h++) {
		float tile_max = -INFINITY;
#pragma unroll
		for (int j = 0; j < BLOCK_KEYS / 8; j++)
#pragma unroll
			for (int e = 0; e < 2; e++) {
				const int key = start + 8 * j + column + e;
				const float v = key <= w.limit[h] ? scores[j][2 * h + e] * scale_log2 : -INFINITY;
				scores[j][2 * h + e] = v;
				tile_max = fmaxf(tile_max, v);
			}
		tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
		tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
		const float new_max = fmaxf(w.running_max[h], tile_max);
		/* a row with nothing attended yet (new_max -inf) keeps P = 0 and O as it is */
		const float base = new_max == -INFINITY ? 0.0f : new_max;
		const float correction = exp2f(w.running_max[h] - base);
		float sum = 0;
#pragma unroll
		for (int j = 0; j < BLOCK_KEYS / 8; j++) {
			const __half2 pair = __floats2half2_rn(exp2f(scores[j][2 * h] - base),
							       exp2f(scores[j][2 * h + 1] - base));
			const float2 rounded = __half22float2(pair);
			sum += rounded.x + rounded.y;
			/* keys 16k..16k+7 are registers 0 (row g) and 1 (g + 8) of P's k-th A
			 * tile, keys 16k+8.. registers 2 and 3 */
			p[j / 2][(j % 2) * 2 + h] = half2_bits(pair);
		}
		sum += __shfl_xor_sync(0xffffffffu, sum, 1);
		sum += __shfl_xor_sync(0xffffffffu, sum, 2);
		w.running_sum[h] = w.running_sum[h] * correction + sum;
		w.running_max[h] = new_max;
#pragma unroll
		for (int d = 0; d < HD / 8; d++) {
			w.o[d][2 * h] *= correction;
			w.o[d][2 * h + 1] *= correction;
		}
	}
}

/* O += P V over the 16-key slices up to last_key, each V fragment read once for every
 * row tile. */
template <int HD>
__device__ static void warp_accumulate(warp_rows<HD> (&w)[ROW_TILES], const __half (*v_tile)[HD + HALF_PAD],
				       const uint32_t (&p)[ROW_TILES][BLOCK_KEYS / 16][4], int lane, int start,
				       int last_key)
{
	const int key_in_step = (lane / 8) % 2 * 8 + lane % 8, dim_in_pair = (lane / 16) * 8;
#pragma unroll
	for (int kk = 0; kk < BLOCK_KEYS / 16; kk++) {
		if (start + 16 * kk > last_key)
			continue;
#pragma unroll
		for (int pair = 0; pair < HD / 16; pair++) {
			uint32_t b[4];
			load_matrices_transposed(b, &v_tile[16 * kk + key_in_step][16 * pair + dim_in_pair]);
#pragma unroll
			for (int m = 0; m < ROW_TILES; m++) {
				mma_16x8x16(w[m].o[2 * pair], p[m][kk], b[0], b[1]);
				mma_16x8x16(w[m].o[2 * pair + 1], p[m][kk], b[2], b[3]);
			}
		}
	}
}

/* Writes rows g and g + 8 of the warp's row tile m, each divided by its sum, to out,
 * and quantized into outq when it has a scheme (o_proj's static input scale:
 * llmk_quantize's bits). */
template <int HD>
__device__ static void warp_store_output(const warp_rows<HD> &w, int lane, int warp, int m, int rows, int t0,
					 int group, int heads, int kv_head, float *out,
					 const struct llmk_static_quant &outq)
{
#pragma unroll
	for (int h = 0; h < 2; h++) {
		const int block_row = warp * WARP_ROWS + m * FRAG + lane / 4 + 8 * h;
		if (block_row >= rows)
			continue;
		const float inverse = w.running_sum[h] > 0 ? 1.0f / w.running_sum[h] : 0.0f;
		const int token = t0 + block_row / group, head = kv_head * group + block_row % group;
		const size_t row = (size_t)token * heads + head;
		float *dst = out + row * HD + 2 * (lane % 4);
#pragma unroll
		for (int d = 0; d < HD / 8; d++) {
			const float2 v = make_float2(w.o[d][2 * h] * inverse, w.o[d][2 * h + 1] * inverse);
			*(float2 *)(dst + 8 * d) = v;
			if (outq.quant != LLMK_QUANT_NONE) {
				const int column = head * HD + 8 * d + 2 * (lane % 4);
				static_quant_store(outq, heads * HD, token, column, v.x);
				static_quant_store(outq, heads * HD, token, column + 1, v.y);
			}
		}
	}
}

/* The warp's Q A tiles into registers (PREFILL_Q_REGISTERS; nothing otherwise), once
 * Q is in shared memory. */
template <int HD>
__device__ static __forceinline__ void load_query_registers(query_tiles<HD> &qt, const prefill_shared<HD> &s, int warp,
							    int lane)
{
	if constexpr (PREFILL_Q_REGISTERS) {
#pragma unroll
		for (int kk = 0; kk < HD / 16; kk++)
			load_query_fragment<HD>(qt.a[kk], s, warp, lane, 0, kk);
	}
}

/* One key tile of the warp's rows: S = Q K^T, the online softmax of each row tile,
 * O += P V. */
template <int HD>
__device__ static __forceinline__ void tile_products(warp_rows<HD> (&w)[ROW_TILES], const prefill_shared<HD> &s,
						     const query_tiles<HD> &qt, const __half (*k_tile)[HD + HALF_PAD],
						     const __half (*v_tile)[HD + HALF_PAD], int warp, int lane,
						     int start, int last_key, float scale_log2)
{
	float scores[ROW_TILES][BLOCK_KEYS / 8][4];
	uint32_t p[ROW_TILES][BLOCK_KEYS / 16][4];
	warp_scores<HD>(s, qt, k_tile, scores, warp, lane, start, last_key);
#pragma unroll
	for (int m = 0; m < ROW_TILES; m++)
		warp_softmax<HD>(scores[m], p[m], w[m], lane, start, scale_log2);
	warp_accumulate<HD>(w, v_tile, p, lane, start, last_key);
}

/* ---- the kernel -------------------------------------------------------------------- */

template <int HD, enum llmk_dtype D>
__global__ static void __launch_bounds__(THREADS, PREFILL_MIN_BLOCKS)
attention_prefill_kernel(const float *q, const void *key_cache, const void *value_cache, float *out,
			 struct llmk_static_quant outq, int count, int pos0, int heads, int kv_heads, float scale_log2,
			 int tokens_per_block, const float2 *rope_table)
{
	extern __shared__ __align__(128) unsigned char shared_bytes[];
	prefill_shared<HD> &s = *reinterpret_cast<prefill_shared<HD> *>(shared_bytes);
	const int group = heads / kv_heads, kv_head = blockIdx.y;
	const int t0 = (gridDim.x - 1 - blockIdx.x) * tokens_per_block; /* latest tokens first */
	const int tokens = min(tokens_per_block, count - t0), rows = tokens * group;
	const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
	const size_t kv_dim = (size_t)kv_heads * HD;
	const int positions = pos0 + count, block_last_key = pos0 + t0 + tokens - 1;
	/* the warp's last row's last position (-1: the warp has only padding rows) */
	const int warp_last_row = min(warp * WARP_ROWS + WARP_ROWS, rows) - 1;
	const int warp_last_key = warp_last_row >= warp * WARP_ROWS ? pos0 + t0 + warp_last_row / group : -1;

	warp_rows<HD> w[ROW_TILES];
#pragma unroll
	for (int m = 0; m < ROW_TILES; m++) {
#pragma unroll
		for (int h = 0; h < 2; h++) {
			const int row = warp * WARP_ROWS + m * FRAG + lane / 4 + 8 * h;
			w[m].limit[h] = row < rows ? pos0 + t0 + row / group : -1;
			w[m].running_max[h] = -INFINITY;
			w[m].running_sum[h] = 0;
		}
#pragma unroll
		for (int d = 0; d < HD / 8; d++)
			w[m].o[d][0] = w[m].o[d][1] = w[m].o[d][2] = w[m].o[d][3] = 0.0f;
	}
	load_query_tile<HD>(s.q, q, t0, rows, group, heads, kv_head, rope_table);
	constexpr bool prefetch = PREFILL_PREFETCH && D != LLMK_F32;
	kv_share<HD, D> next; /* prefetch only: the next tile's share, in flight */
	if constexpr (prefetch)
		fetch_kv_share<HD, D>(next, key_cache, value_cache, 0, positions, kv_dim, kv_head * HD);
	query_tiles<HD> qt;
	if constexpr (PREFILL_STAGES == 2 && prefetch) {
		/* tile 0 stored, tile 1 in flight; each tile's products, then the next tile
		 * into the other buffer, then one barrier */
		store_kv_share<HD, D>(s.k[0], s.v[0], next, 0, positions);
		if (BLOCK_KEYS <= block_last_key)
			fetch_kv_share<HD, D>(next, key_cache, value_cache, BLOCK_KEYS, positions, kv_dim, kv_head * HD);
		__syncthreads(); /* Q and tile 0 are in */
		load_query_registers<HD>(qt, s, warp, lane);
		int buffer = 0;
		for (int start = 0; start <= block_last_key; start += BLOCK_KEYS, buffer ^= 1) {
			if (start <= warp_last_key)
				tile_products<HD>(w, s, qt, s.k[buffer], s.v[buffer], warp, lane, start, warp_last_key,
						  scale_log2);
			if (start + BLOCK_KEYS <= block_last_key) {
				store_kv_share<HD, D>(s.k[buffer ^ 1], s.v[buffer ^ 1], next, start + BLOCK_KEYS, positions);
				if (start + 2 * BLOCK_KEYS <= block_last_key)
					fetch_kv_share<HD, D>(next, key_cache, value_cache, start + 2 * BLOCK_KEYS, positions,
							      kv_dim, kv_head * HD);
			}
			__syncthreads(); /* the other buffer is in; this one is no longer read */
		}
	} else {
		for (int start = 0; start <= block_last_key; start += BLOCK_KEYS) {
			__syncthreads(); /* the previous tile is no longer read (and Q is in) */
			if (start == 0)
				load_query_registers<HD>(qt, s, warp, lane);
			if constexpr (prefetch) {
				store_kv_share<HD, D>(s.k[0], s.v[0], next, start, positions);
				__syncthreads();
				if (start + BLOCK_KEYS <= block_last_key)
					fetch_kv_share<HD, D>(next, key_cache, value_cache, start + BLOCK_KEYS, positions,
							      kv_dim, kv_head * HD);
			} else {
				load_kv_tile<HD, D>(s.k[0], key_cache, start, positions, kv_dim, kv_head * HD);
				load_kv_tile<HD, D>(s.v[0], value_cache, start, positions, kv_dim, kv_head * HD);
				__syncthreads();
			}
			if (start > warp_last_key)
				continue; /* every row of this warp is masked for the whole tile */
			tile_products<HD>(w, s, qt, s.k[0], s.v[0], warp, lane, start, warp_last_key, scale_log2);
		}
	}
#pragma unroll
	for (int m = 0; m < ROW_TILES; m++)
		warp_store_output<HD>(w[m], lane, warp, m, rows, t0, group, heads, kv_head, out, outq);
}

/* ---- launcher ---------------------------------------------------------------------- */

template <int HD, enum llmk_dtype D> static cudaError_t launch_prefill(const struct llmk_attention &a, cudaStream_t stream)
{
	const int group = a.heads / a.kv_heads, tokens_per_block = BLOCK_ROWS / group;
	const size_t shared = sizeof(prefill_shared<HD>);
	cudaError_t status = cudaFuncSetAttribute(attention_prefill_kernel<HD, D>,
						  cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared);
	if (status != cudaSuccess)
		return status;
	const dim3 grid((a.count + tokens_per_block - 1) / tokens_per_block, a.kv_heads);
	const float log2e = 1.4426950408889634f;
	const struct llmk_static_quant none = {LLMK_QUANT_NONE, 0, NULL, NULL};
	attention_prefill_kernel<HD, D><<<grid, THREADS, shared, stream>>>(
		a.q, a.key_cache, a.value_cache, a.out, a.outq ? *a.outq : none, a.count, a.pos0, a.heads, a.kv_heads,
		a.scale * log2e, tokens_per_block, (const float2 *)a.rope_table);
	return cudaGetLastError();
}

template <int HD> static cudaError_t launch_prefill_dtype(const struct llmk_attention &a, cudaStream_t stream)
{
	switch (a.cache_dtype) {
	case LLMK_F32: return launch_prefill<HD, LLMK_F32>(a, stream);
	case LLMK_BF16: return launch_prefill<HD, LLMK_BF16>(a, stream);
	case LLMK_E4M3: return launch_prefill<HD, LLMK_E4M3>(a, stream);
	default: return cudaErrorNotSupported;
	}
}

static bool aligned16(const void *p)
{
	return (uintptr_t)p % 16 == 0;
}

extern "C" cudaError_t llmk_attention_prefill(const struct llmk_attention *a, cudaStream_t stream)
{
	if (a->pos_dev || a->rope_store ||
	    (a->outq && a->outq->quant != LLMK_QUANT_FP8_STATIC && a->outq->quant != LLMK_QUANT_INT8_STATIC))
		return cudaErrorInvalidValue;
	if (a->count < 0 || a->pos0 < 0 || a->kv_heads <= 0 || a->heads <= 0 || a->heads % a->kv_heads ||
	    a->heads / a->kv_heads > MAX_GROUP || !aligned16(a->q) || !aligned16(a->key_cache) ||
	    !aligned16(a->value_cache) || !aligned16(a->out) || !aligned16(a->rope_table))
		return cudaErrorNotSupported;
	if (a->count == 0)
		return cudaSuccess;
	if (a->head_dim == 128)
		return launch_prefill_dtype<128>(*a, stream);
	if (a->head_dim == 64)
		return launch_prefill_dtype<64>(*a, stream);
	return cudaErrorNotSupported;
}
