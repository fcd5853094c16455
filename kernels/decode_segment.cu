/*
 * decode_segment.cu - a decoded token's layer from o_proj on, as one persistent launch
 * (see decode_segment.h).
 *
 * The products of a segment are cut into tiles of whole rows (at most SEG_STAGE_BYTES,
 * at most SEG_MAX_ROWS accumulators).  Each block's producer claims tiles of the
 * current product from a counter until none is left, loads each into the next stage
 * of its ring and writes its number beside it; the consumer groups take the stages in
 * turn and compute the tile they find.  A product's inputs are ready in every block
 * before any of its tiles is computed (decode_segment.h).
 *
 * Measured on an H100 (BENCHMARKS.md): the segment alone is faster than the launches it
 * replaces, but the decode step with it is not yet (the next segment does not start
 * streaming while the attention between two segments runs), so the engine uses it
 * only when asked (LLMCHAT_DECODE_SEGMENTS=1).
 */
#include "decode_segment.h"

#include "kernel_common.cuh"

/* SEG_PROFILE (the profile build of tests/gpu/decode_segment_checks.cu only: nvcc
 * -DSEG_PROFILE, the kernel compiled into the program): each block's consumer thread 0
 * stamps the global timer at the segment's steps into seg_profile[block] and adds up
 * its waits; the program prints them. */
#ifdef SEG_PROFILE
#define SEG_PROFILE_SLOTS 24
__device__ unsigned long long seg_profile[1024][SEG_PROFILE_SLOTS];
__device__ static inline unsigned long long seg_now(void)
{
	unsigned long long t;
	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}
#define SEG_STAMP(slot)                                                    \
	do {                                                               \
		if (threadIdx.x == 0)                                      \
			seg_profile[blockIdx.x][slot] = seg_now();         \
	} while (0)
#else
#define SEG_STAMP(slot) ((void)0)
#endif

/* The consumers are SEG_GROUPS groups of 256 threads (llmk_gemv's GEMV_THREADS: the
 * same chunk order a row); group q takes the block's stages q, q + SEG_GROUPS, ...  One
 * group of eight warps could not hide the latency of its shared-memory loads and
 * conversions: it consumed about 17 bytes a nanosecond an SM, under an H100's share of
 * the bandwidth (23).  Three groups do not fit a block beside the producer warp with
 * the 1024-thread norm's order (1024 / 768), four exceed 1024 threads. */
#define SEG_GROUP_THREADS 256
#define SEG_GROUP_WARPS (SEG_GROUP_THREADS / WARP)
#ifndef SEG_GROUPS /* (a profile build may try others) */
#define SEG_GROUPS 2
#endif
#define SEG_CONSUMERS (SEG_GROUPS * SEG_GROUP_THREADS)
#define SEG_CONSUMER_WARPS (SEG_CONSUMERS / WARP)
#define SEG_THREADS (SEG_CONSUMERS + WARP) /* the consumers, then the producer warp */
/* 4 stages of 32 KB (128 KB a block, 17 MB over an H100's or H200's 132 SMs): with
 * the input vector, a block still leaves room on its SM for an attention block and a
 * combine block, which run while the next segment's blocks stream (with 6 stages the
 * combine did not fit, and the next segment waited for it) */
#ifndef SEG_STAGES /* (a profile build may try others) */
#define SEG_STAGES 4
#endif
/* Each stage is emptied by one group only (g = stage modulo SEG_STAGES, so the group is
 * the stage's modulo SEG_GROUPS): a group waits for a stage's uses in order, and the
 * parity it waits for is that of the use it wants.  A stage shared by two groups let
 * one wait a whole ring ahead, where the parity of the use it wanted read as complete. */
static_assert(SEG_STAGES % SEG_GROUPS == 0, "a stage belongs to one group");
#ifndef SEG_STAGE_BYTES /* (a profile build may try others) */
#define SEG_STAGE_BYTES 32768
#endif
#define SEG_MAX_ROWS 8     /* accumulators a consumer thread keeps for a tile */
#define SEG_MAX_PRODUCTS 6 /* o, gate/up, down, q, k, v */
#define SEG_DONE_COUNTERS 3 /* s.counters: blocks done with o, gate/up, down; then each product's claims */
static_assert(SEG_DONE_COUNTERS + SEG_MAX_PRODUCTS == LLMK_SEGMENT_COUNTERS, "the counters a segment takes");

/* One product as both sides walk it: one matrix, or gate and up in the same tiles
 * (their rows r.. in the stage's first and second half, up's at tile_rows rows in). */
struct seg_product {
	const uint8_t *weight[2];
	const float *weight_scale[2];
	int weight_scale_count[2];
	int pair;       /* 1, or 2 for gate/up */
	int rows, cols; /* cols bytes a row (8-bit weights) */
	int tile_rows, tiles;
	float *y;
};

struct seg_plan {
	struct seg_product p[SEG_MAX_PRODUCTS];
	int count;
};

/* ---- shared-memory barriers, bulk copies and the grid's counters (PTX, sm_90) ---- */

__device__ static inline uint32_t shared_address(const void *p)
{
	return (uint32_t)__cvta_generic_to_shared(p);
}

__device__ static inline void stage_barrier_init(uint64_t *bar, unsigned count)
{
	asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count) : "memory");
}

__device__ static inline void stage_barrier_expect(uint64_t *bar, unsigned bytes)
{
	asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
		     : "memory");
}

__device__ static inline void stage_barrier_arrive(uint64_t *bar)
{
	asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(shared_address(bar)) : "memory");
}

/* Until the barrier's phase of this parity has completed. */
__device__ static inline void stage_barrier_wait(uint64_t *bar, unsigned parity)
{
	uint32_t done = 0;
	while (!done)
		asm volatile("{\n\t.reg .pred p;\n\t"
			     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
			     "selp.u32 %0, 1, 0, p;\n\t}"
			     : "=r"(done)
			     : "r"(shared_address(bar)), "r"(parity)
			     : "memory");
}

/* bytes (a multiple of 16, both addresses 16-byte aligned) from global memory into the
 * block's shared memory, counted on bar when they have arrived. */
__device__ static inline void bulk_load(void *dst, const void *src, unsigned bytes, uint64_t *bar)
{
	asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
			     shared_address(dst)),
		     "l"(src), "r"(bytes), "r"(shared_address(bar))
		     : "memory");
}

__device__ static inline unsigned load_acquire(const unsigned *p)
{
	unsigned v;
	asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
	return v;
}

/* The consumer warps only (the producer never joins): a named barrier. */
__device__ static inline void consumers_sync(void)
{
	asm volatile("bar.sync 1, %0;" ::"n"(SEG_CONSUMERS) : "memory");
}

/* One group of consumers (barriers 2, 3, ...). */
__device__ static inline void group_sync(int group)
{
	asm volatile("bar.sync %0, %1;" ::"r"(2 + group), "n"(SEG_GROUP_THREADS) : "memory");
}

/* After the block's consumers have written their part of a product: one more block done. */
__device__ static inline void signal_done(unsigned *counter)
{
	consumers_sync();
	if (threadIdx.x == 0) {
		__threadfence();
		atomicAdd(counter, 1u);
	}
}

/* Until every block has signalled counter; the consumers may then read what the other
 * blocks wrote (through L2: __ldcg, as L1 is not kept coherent). */
__device__ static inline void wait_for_all(const unsigned *counter)
{
	if (threadIdx.x == 0)
		while (load_acquire(counter) < gridDim.x)
			__nanosleep(32);
	consumers_sync();
}

/* ---- the plan: products and tiles, the same for the producer and the consumers ---- */

/* Rows of a tile: the most (a power of two, so that a tile's rows of both matrices are
 * 1, 2, 4 or 8 accumulators) that fit a stage; 0 when one row does not. */
__host__ __device__ static inline int seg_tile_rows(int cols, int pair)
{
	int rows = SEG_MAX_ROWS / pair;
	while (rows > 0 && rows * cols * pair > SEG_STAGE_BYTES)
		rows /= 2;
	return rows;
}

__device__ static void plan_add(struct seg_plan *plan, const struct llmk_segment_matrix &a,
				const struct llmk_segment_matrix *b, int cols, float *y)
{
	struct seg_product *p = &plan->p[plan->count];
	p->weight[0] = (const uint8_t *)a.weight;
	p->weight_scale[0] = a.weight_scale;
	p->weight_scale_count[0] = a.weight_scale_count;
	p->weight[1] = b ? (const uint8_t *)b->weight : NULL;
	p->weight_scale[1] = b ? b->weight_scale : NULL;
	p->weight_scale_count[1] = b ? b->weight_scale_count : 0;
	p->pair = b ? 2 : 1;
	p->rows = a.rows;
	p->cols = cols;
	p->tile_rows = seg_tile_rows(cols, p->pair);
	p->tiles = (a.rows + p->tile_rows - 1) / p->tile_rows;
	p->y = y;
	plan->count++;
}

__device__ static void make_plan(const struct llmk_decode_segment &s, struct seg_plan *plan)
{
	plan->count = 0;
	plan_add(plan, s.o_proj, NULL, s.q_dim, s.tmp);
	plan_add(plan, s.gate, &s.up, s.hidden, s.gate_out);
	plan_add(plan, s.down, NULL, s.intermediate, s.tmp);
	if (s.next_norm) {
		plan_add(plan, s.q, NULL, s.hidden, s.q_out);
		plan_add(plan, s.k, NULL, s.hidden, s.k_out);
		plan_add(plan, s.v, NULL, s.hidden, s.v_out);
	}
}

__device__ static inline int tile_row_count(const struct seg_product &p, int t)
{
	return min(p.tile_rows, p.rows - t * p.tile_rows);
}

/* ---- the producer: the tiles it claims, in order, into the ring ------------------- */

/* The block's stage g: its barrier phase parity for use g / SEG_STAGES. */
__device__ static inline unsigned stage_parity(unsigned g)
{
	return (g / SEG_STAGES) & 1;
}

/* Until stage g's previous use has been given back (nothing to wait for in the first round). */
__device__ static inline void wait_stage_free(uint64_t *empty, unsigned g)
{
	if (g >= SEG_STAGES)
		stage_barrier_wait(&empty[g % SEG_STAGES], stage_parity(g) ^ 1);
}

/* Each product's tiles go to the blocks that claim them (claims[i], a counter in global
 * memory): a block whose SM streams faster takes more, so the blocks finish a product
 * together (dealt out in turn, the last block finished a gate/up product 10 us after the
 * median one on an H100).  The next claim is in flight while a tile loads.  A stage's
 * tile number goes to stage_tile; past a product's last tile, one stage a group gets the
 * number -1 and no bytes: that group's end of the product. */
__device__ static void produce(const struct seg_plan &plan, uint8_t *ring, uint64_t *full, uint64_t *empty,
			       int *stage_tile, unsigned *claims)
{
	unsigned g = 0;
	for (int i = 0; i < plan.count; i++) {
		const struct seg_product &p = plan.p[i];
		unsigned next = atomicAdd(&claims[i], 1u);
		for (;;) {
			const unsigned t = next;
			if (t >= (unsigned)p.tiles)
				break;
			next = atomicAdd(&claims[i], 1u);
#ifdef SEG_PROFILE
			const unsigned long long waited_from = seg_now();
#endif
			wait_stage_free(empty, g);
#ifdef SEG_PROFILE
			seg_profile[blockIdx.x][14] += seg_now() - waited_from;
#endif
			const unsigned stage = g % SEG_STAGES, bytes = (unsigned)(tile_row_count(p, (int)t) * p.cols);
			const size_t offset = (size_t)t * p.tile_rows * p.cols;
			uint8_t *dst = ring + (size_t)stage * SEG_STAGE_BYTES;
			stage_tile[stage] = (int)t;
			stage_barrier_expect(&full[stage], bytes * p.pair);
			bulk_load(dst, p.weight[0] + offset, bytes, &full[stage]);
			if (p.pair == 2)
				bulk_load(dst + (size_t)p.tile_rows * p.cols, p.weight[1] + offset, bytes, &full[stage]);
			g++;
		}
		for (int group = 0; group < SEG_GROUPS; group++, g++) {
			wait_stage_free(empty, g);
			stage_tile[g % SEG_STAGES] = -1;
			stage_barrier_arrive(&full[g % SEG_STAGES]);
		}
	}
#ifdef SEG_PROFILE
	seg_profile[blockIdx.x][12] = seg_now();
#endif
}

/* ---- the consumers' inputs: norm and quantization of a whole vector, per block ---- */

struct seg_shared {
	double norm_part[ROW_THREADS / WARP];
	float max_part[SEG_CONSUMER_WARPS];
	float input_scale;
	float row_part[SEG_GROUPS][2][SEG_MAX_ROWS][SEG_GROUP_WARPS];
};

__device__ static float consumers_max(float v, struct seg_shared &sh)
{
	for (int offset = WARP / 2; offset > 0; offset /= 2)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
	if (threadIdx.x % WARP == 0)
		sh.max_part[threadIdx.x / WARP] = v;
	consumers_sync();
	float r = sh.max_part[0];
	for (int w = 1; w < SEG_CONSUMER_WARPS; w++)
		r = fmaxf(r, sh.max_part[w]);
	return r;
}

/* Float4s a consumer thread loads at once when it quantizes a vector: enough in
 * flight that a pass over the input costs about one trip to L2, not one per load. */
#define SEG_LOADS_IN_FLIGHT 8

/* f[b] = src4[base + b * SEG_CONSUMERS] (zeros past n4), every load issued before any is used. */
__device__ static inline void load_batch(const float4 *src4, int n4, int base, float4 *f)
{
#pragma unroll
	for (int b = 0; b < SEG_LOADS_IN_FLIGHT; b++) {
		const int i = base + b * SEG_CONSUMERS;
		f[b] = i < n4 ? __ldcg(src4 + i) : make_float4(0, 0, 0, 0);
	}
}

/* The magnitude of the largest of src's n values (n a multiple of 4). */
__device__ static float largest_magnitude(const float *src, int n, struct seg_shared &sh)
{
	const float4 *src4 = (const float4 *)src;
	const int n4 = n / 4;
	float max_abs = 0;
	for (int base = threadIdx.x; base < n4; base += SEG_CONSUMERS * SEG_LOADS_IN_FLIGHT) {
		float4 f[SEG_LOADS_IN_FLIGHT];
		load_batch(src4, n4, base, f);
#pragma unroll
		for (int b = 0; b < SEG_LOADS_IN_FLIGHT; b++)
			max_abs = fmaxf(max_abs, fmaxf(fmaxf(fabsf(f[b].x), fabsf(f[b].y)), fmaxf(fabsf(f[b].z), fabsf(f[b].w))));
	}
	return consumers_max(max_abs, sh);
}

/* xs = src quantized as llmk_quantize does it (the row's largest magnitude, unless the
 * scale is static, then the codes), the scale into sh.input_scale; n a multiple of 16. */
__device__ static void quantize_input(const float *src, int n, enum llmk_quant quant, float static_scale, uint8_t *xs,
				      struct seg_shared &sh)
{
	const bool dynamic = quant == LLMK_QUANT_FP8_DYNAMIC || quant == LLMK_QUANT_INT8_DYNAMIC;
	const float max_abs = dynamic ? largest_magnitude(src, n, sh) : 0;
	float s, inv;
	quantize_scale(max_abs, quant, static_scale, &s, &inv);
	const bool fp8 = quant_is_fp8(quant);
	const float4 *src4 = (const float4 *)src;
	uchar4 *xs4 = (uchar4 *)xs;
	const int n4 = n / 4;
	for (int base = threadIdx.x; base < n4; base += SEG_CONSUMERS * SEG_LOADS_IN_FLIGHT) {
		float4 f[SEG_LOADS_IN_FLIGHT];
		load_batch(src4, n4, base, f);
#pragma unroll
		for (int b = 0; b < SEG_LOADS_IN_FLIGHT; b++) {
			const int i = base + b * SEG_CONSUMERS;
			if (i < n4)
				xs4[i] = make_uchar4(quantize_value(f[b].x, inv, fp8), quantize_value(f[b].y, inv, fp8),
						     quantize_value(f[b].z, inv, fp8), quantize_value(f[b].w, inv, fp8));
		}
	}
	if (threadIdx.x == 0)
		sh.input_scale = s;
	consumers_sync();
}

/* The widest vector a block norms (its values stay in registers: SEG_NORM_MAX / 256 a thread). */
#define SEG_NORM_MAX 8192
#define SEG_NORM_VIRTUAL_WARPS (ROW_THREADS / SEG_CONSUMERS) /* 4 */
#define SEG_NORM_TRIPS (SEG_NORM_MAX / ROW_THREADS)          /* 8 */

/* The element this thread's j-th virtual thread (virtual warp warp + 8j, or + 16j with
 * two groups, at the thread's lane) of the 1024-thread norm takes on its m-th trip. */
__device__ static inline int norm_element(int j, int m)
{
	return (threadIdx.x / WARP + SEG_CONSUMER_WARPS * j) * WARP + threadIdx.x % WARP + ROW_THREADS * m;
}

/* v = x_in + delta (written to x_out when not NULL), RMSNorm with weight, quantized
 * into xs: llmk_add_rmsnorm_quantize's bits.  Its sum of squares is the 1024-thread
 * block's: virtual thread u adds elements u, u + 1024, ... in double, each virtual
 * warp is summed by the same butterfly, then the 32 warps in order; the 256 consumers
 * play the 1024 threads, thread r taking virtual warps r / 32 + 8j (j = 0..3) at its
 * own lane.  Every value is loaded once, all at the start (n <= SEG_NORM_MAX). */
__device__ static void norm_quantize_input(const float *x_in, const float *delta, const float *weight, int n,
					   float eps, enum llmk_quant quant, float static_scale, float *x_out,
					   uint8_t *xs, struct seg_shared &sh)
{
	const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
	float v[SEG_NORM_VIRTUAL_WARPS][SEG_NORM_TRIPS], wn[SEG_NORM_VIRTUAL_WARPS][SEG_NORM_TRIPS];
#pragma unroll
	for (int j = 0; j < SEG_NORM_VIRTUAL_WARPS; j++)
#pragma unroll
		for (int m = 0; m < SEG_NORM_TRIPS; m++) {
			const int i = norm_element(j, m);
			v[j][m] = wn[j][m] = 0;
			if (i < n) {
				v[j][m] = __ldcg(x_in + i);
				v[j][m] += __ldcg(delta + i);
				wn[j][m] = __ldg(weight + i);
			}
		}
	SEG_STAMP(16);
	double ss[SEG_NORM_VIRTUAL_WARPS];
#pragma unroll
	for (int j = 0; j < SEG_NORM_VIRTUAL_WARPS; j++) {
		ss[j] = 0;
#pragma unroll
		for (int m = 0; m < SEG_NORM_TRIPS; m++)
			if (norm_element(j, m) < n)
				ss[j] += (double)v[j][m] * v[j][m];
		for (int offset = WARP / 2; offset > 0; offset /= 2)
			ss[j] = ss[j] + __shfl_xor_sync(0xffffffffu, ss[j], offset);
		if (lane == 0)
			sh.norm_part[warp + SEG_CONSUMER_WARPS * j] = ss[j];
	}
	consumers_sync();
	double total = sh.norm_part[0];
	for (int w = 1; w < ROW_THREADS / WARP; w++)
		total = total + sh.norm_part[w];
	const float norm = 1.0f / sqrtf((float)(total / n) + eps);
	SEG_STAMP(17);
	float max_abs = 0;
#pragma unroll
	for (int j = 0; j < SEG_NORM_VIRTUAL_WARPS; j++)
#pragma unroll
		for (int m = 0; m < SEG_NORM_TRIPS; m++) {
			const int i = norm_element(j, m);
			if (i < n) {
				if (x_out)
					x_out[i] = v[j][m];
				v[j][m] = wn[j][m] * (v[j][m] * norm); /* now the normed value */
				max_abs = fmaxf(max_abs, fabsf(v[j][m]));
			}
		}
	max_abs = consumers_max(max_abs, sh);
	SEG_STAMP(18);
	float s, inv;
	quantize_scale(max_abs, quant, static_scale, &s, &inv);
	const bool fp8 = quant_is_fp8(quant);
#pragma unroll
	for (int j = 0; j < SEG_NORM_VIRTUAL_WARPS; j++)
#pragma unroll
		for (int m = 0; m < SEG_NORM_TRIPS; m++) {
			const int i = norm_element(j, m);
			if (i < n)
				xs[i] = quantize_value(v[j][m], inv, fp8);
		}
	if (threadIdx.x == 0)
		sh.input_scale = s;
	consumers_sync();
}

/* ---- the consumers' products -------------------------------------------------------- */

/* Rows k < NR of a stage (a tile's rows, gate's then up's: NR = tile_rows x pair),
 * each one's dot product with xs by one group, each thread's chunks c = thread,
 * thread + 256, ... in order as llmk_gemv's block adds them, into
 * sh.row_part[group][buffer][k][warp].  Every row is computed, also those past a
 * product's last row in its last tile (the stage holds older bytes there; their sums
 * are not used): no branch keeps the NR rows' loads and sums from overlapping. */
template <enum llmk_dtype WD, int NR>
__device__ static void tile_dots(const uint8_t *stage, const uint8_t *xs, int cols, int buffer, struct seg_shared &sh)
{
	const int thread = threadIdx.x % SEG_GROUP_THREADS, group = threadIdx.x / SEG_GROUP_THREADS;
	const int chunks = cols / 16;
	const uint4 *rows = (const uint4 *)stage, *input = (const uint4 *)xs;
	float facc[NR];
	int iacc[NR];
#pragma unroll
	for (int k = 0; k < NR; k++) {
		facc[k] = 0;
		iacc[k] = 0;
	}
	for (int c = thread; c < chunks; c += SEG_GROUP_THREADS) {
		const uint4 a = input[c];
		uint4 w[NR];
#pragma unroll
		for (int k = 0; k < NR; k++)
			w[k] = rows[(size_t)k * chunks + c];
		if (WD == LLMK_I8) {
			const int *ai = (const int *)&a;
#pragma unroll
			for (int k = 0; k < NR; k++) {
				const int *wi = (const int *)&w[k];
#pragma unroll
				for (int e = 0; e < 4; e++)
					iacc[k] = __dp4a(wi[e], ai[e], iacc[k]);
			}
		} else {
			float af[16];
			e4m3x16_to_float(a, af);
#pragma unroll
			for (int k = 0; k < NR; k++) {
				float wf[16];
				e4m3x16_to_float(w[k], wf);
#pragma unroll
				for (int e = 0; e < 16; e++)
					facc[k] += wf[e] * af[e];
			}
		}
	}
	const int lane = thread % WARP, warp = thread / WARP;
#pragma unroll
	for (int k = 0; k < NR; k++) {
		/* INT8: the warp's exact integer sum, its bits carried in the float slot */
		float v = WD == LLMK_I8 ? __int_as_float(warp_sum_int(iacc[k])) : warp_sum(facc[k]);
		if (lane == 0)
			sh.row_part[group][buffer][k][warp] = v;
	}
}

/* tile_dots with NR = rows (1, 2, 4 or 8). */
template <enum llmk_dtype WD>
__device__ static void tile_dots_of(int rows, const uint8_t *stage, const uint8_t *xs, int cols, int buffer,
				    struct seg_shared &sh)
{
	switch (rows) {
	case 1: tile_dots<WD, 1>(stage, xs, cols, buffer, sh); break;
	case 2: tile_dots<WD, 2>(stage, xs, cols, buffer, sh); break;
	case 4: tile_dots<WD, 4>(stage, xs, cols, buffer, sh); break;
	default: tile_dots<WD, 8>(stage, xs, cols, buffer, sh); break;
	}
}

/* Row k's output: its warps' sums added in order, as llmk_gemv's block adds them
 * (INT8: as integers, exact), then scaled as llmk_gemv scales it. */
template <enum llmk_dtype WD>
__device__ static inline float row_scaled(const struct seg_shared &sh, int group, int buffer, int k,
					  const float *scale, int scale_count, int row)
{
	const float wscale = scale[scale_count == 1 ? 0 : row];
	if (WD == LLMK_I8) {
		int sum = 0;
		for (int w = 0; w < SEG_GROUP_WARPS; w++)
			sum += __float_as_int(sh.row_part[group][buffer][k][w]);
		return (float)sum * sh.input_scale * wscale;
	}
	float sum = 0;
	for (int w = 0; w < SEG_GROUP_WARPS; w++)
		sum += sh.row_part[group][buffer][k][w];
	return sum * sh.input_scale * wscale;
}

/* The consumers' share of product p: each group takes its stages in order (stage g
 * belongs to group g modulo SEG_GROUPS; *g is the group's next), computes the tile
 * the producer put there once it is full, gives the stage back, then writes its rows
 * scaled (and for gate/up, SwiGLU) into p.y; until a stage without a tile. */
template <enum llmk_dtype WD>
__device__ static void consume(const struct seg_product &p, const uint8_t *ring, const uint8_t *xs, uint64_t *full,
			       uint64_t *empty, const int *stage_tile, unsigned *g, struct seg_shared &sh)
{
	const int group = threadIdx.x / SEG_GROUP_THREADS, thread = threadIdx.x % SEG_GROUP_THREADS;
	for (;; *g += SEG_GROUPS) {
		const unsigned stage = *g % SEG_STAGES;
#ifdef SEG_PROFILE
		const unsigned long long waited_from = seg_now();
#endif
		stage_barrier_wait(&full[stage], stage_parity(*g));
#ifdef SEG_PROFILE
		if (threadIdx.x == 0)
			seg_profile[blockIdx.x][15] += seg_now() - waited_from;
#endif
		const int t = ((const volatile int *)stage_tile)[stage];
		if (t < 0) { /* the product's end for this group */
			group_sync(group);
			if (thread == 0)
				stage_barrier_arrive(&empty[stage]);
			*g += SEG_GROUPS;
			return;
		}
		const int buffer = (*g / SEG_GROUPS) & 1, rows = tile_row_count(p, t), r0 = t * p.tile_rows;
#ifdef SEG_PROFILE
		const unsigned long long dots_from = seg_now();
#endif
		tile_dots_of<WD>(p.tile_rows * p.pair, ring + (size_t)stage * SEG_STAGE_BYTES, xs, p.cols, buffer, sh);
#ifdef SEG_PROFILE
		const unsigned long long dots_to = seg_now();
#endif
		group_sync(group);
#ifdef SEG_PROFILE
		if (threadIdx.x == 0) {
			seg_profile[blockIdx.x][20] += dots_to - dots_from;
			seg_profile[blockIdx.x][21] += seg_now() - dots_to;
			seg_profile[blockIdx.x][22]++;
		}
#endif
		if (thread == 0)
			stage_barrier_arrive(&empty[stage]);
		if (thread < rows) {
			float y = row_scaled<WD>(sh, group, buffer, thread, p.weight_scale[0], p.weight_scale_count[0],
						 r0 + thread);
			if (p.pair == 2)
				y = silu_times(y, row_scaled<WD>(sh, group, buffer, p.tile_rows + thread, p.weight_scale[1],
								 p.weight_scale_count[1], r0 + thread));
			p.y[r0 + thread] = y;
		}
	}
}

template <enum llmk_dtype WD>
__device__ static void consumers(const struct llmk_decode_segment &s, const struct seg_plan &plan, const uint8_t *ring,
				 uint8_t *xs, uint64_t *full, uint64_t *empty, const int *stage_tile,
				 struct seg_shared &sh)
{
	const bool first_block = blockIdx.x == 0;
	unsigned g = threadIdx.x / SEG_GROUP_THREADS; /* the group's first stage */
	wait_for_previous_kernels(); /* the attention's output, the residual */
	SEG_STAMP(0);
	quantize_input(s.att, s.q_dim, s.o_proj.quant, s.o_proj.input_scale, xs, sh);
	SEG_STAMP(1);
	consume<WD>(plan.p[0], ring, xs, full, empty, stage_tile, &g, sh);
	SEG_STAMP(2);
	signal_done(&s.counters[0]);

	wait_for_all(&s.counters[0]);
	SEG_STAMP(3);
	norm_quantize_input(s.x, s.tmp, s.post_norm, s.hidden, s.eps, s.gate.quant, s.gate.input_scale,
			    first_block ? s.x_mid : NULL, xs, sh);
	SEG_STAMP(4);
	consume<WD>(plan.p[1], ring, xs, full, empty, stage_tile, &g, sh);
	SEG_STAMP(5);
	signal_done(&s.counters[1]);

	wait_for_all(&s.counters[1]);
	SEG_STAMP(6);
	quantize_input(s.gate_out, s.intermediate, s.down.quant, s.down.input_scale, xs, sh);
	SEG_STAMP(7);
	consume<WD>(plan.p[2], ring, xs, full, empty, stage_tile, &g, sh);
	SEG_STAMP(8);
	if (!s.next_norm)
		return;
	signal_done(&s.counters[2]);

	wait_for_all(&s.counters[2]);
	SEG_STAMP(9);
	norm_quantize_input(s.x_mid, s.tmp, s.next_norm, s.hidden, s.eps, s.q.quant, s.q.input_scale,
			    first_block ? s.x : NULL, xs, sh);
	SEG_STAMP(10);
	for (int i = 3; i < plan.count; i++)
		consume<WD>(plan.p[i], ring, xs, full, empty, stage_tile, &g, sh);
	SEG_STAMP(11);
}

template <enum llmk_dtype WD>
__global__ static void __launch_bounds__(SEG_THREADS, 1) decode_segment_kernel(struct llmk_decode_segment s)
{
	extern __shared__ __align__(128) uint8_t dynamic_shared[];
	__shared__ __align__(8) uint64_t full[SEG_STAGES], empty[SEG_STAGES];
	__shared__ int stage_tile[SEG_STAGES];
	__shared__ struct seg_plan plan;
	__shared__ struct seg_shared sh;
	uint8_t *ring = dynamic_shared, *xs = dynamic_shared + (size_t)SEG_STAGES * SEG_STAGE_BYTES;
	allow_next_kernel();
	SEG_STAMP(13);
	if (threadIdx.x == 0) {
		for (int i = 0; i < SEG_STAGES; i++) {
			stage_barrier_init(&full[i], 1);
			stage_barrier_init(&empty[i], 1);
		}
		asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
		make_plan(s, &plan);
	}
	__syncthreads();
	if (threadIdx.x >= SEG_CONSUMERS) {
		/* the weights do not depend on earlier launches: no wait */
		if (threadIdx.x == SEG_CONSUMERS)
			produce(plan, ring, full, empty, stage_tile, s.counters + SEG_DONE_COUNTERS);
		return;
	}
	consumers<WD>(s, plan, ring, xs, full, empty, stage_tile, sh);
}

/* ---- host side -------------------------------------------------------------------- */

static size_t round16(size_t n)
{
	return (n + 15) / 16 * 16;
}

static size_t segment_shared_bytes(const struct llmk_decode_segment *s)
{
	int widest = s->q_dim > s->hidden ? s->q_dim : s->hidden;
	if (s->intermediate > widest)
		widest = s->intermediate;
	return (size_t)SEG_STAGES * SEG_STAGE_BYTES + round16((size_t)widest);
}

static bool matrix_fits(const struct llmk_segment_matrix *m, int rows, int cols, int pair)
{
	return m->weight && (uintptr_t)m->weight % 16 == 0 && m->weight_scale &&
	       (m->weight_scale_count == 1 || m->weight_scale_count == rows) && m->rows == rows &&
	       m->quant != LLMK_QUANT_NONE && cols > 0 && cols % 16 == 0 && seg_tile_rows(cols, pair) >= 1;
}

static bool same_input(const struct llmk_segment_matrix *a, const struct llmk_segment_matrix *b)
{
	return a->quant == b->quant && a->input_scale == b->input_scale;
}

static bool segment_shapes_fit(const struct llmk_decode_segment *s)
{
	const int h = s->hidden, mid = s->intermediate;
	bool ok = (s->wdtype == LLMK_E4M3 || s->wdtype == LLMK_I8) && h <= SEG_NORM_MAX && s->att && s->x &&
		  s->x_mid && s->tmp && s->post_norm && s->gate_out && s->counters &&
		  matrix_fits(&s->o_proj, h, s->q_dim, 1) &&
		  matrix_fits(&s->gate, mid, h, 2) && matrix_fits(&s->up, mid, h, 2) && same_input(&s->gate, &s->up) &&
		  matrix_fits(&s->down, h, mid, 1);
	if (!ok || !s->next_norm)
		return ok;
	return s->q_out && s->k_out && s->v_out && matrix_fits(&s->q, s->q.rows, h, 1) &&
	       matrix_fits(&s->k, s->k.rows, h, 1) && matrix_fits(&s->v, s->v.rows, h, 1) && s->q.rows > 0 &&
	       s->k.rows > 0 && s->v.rows > 0 && same_input(&s->q, &s->k) && same_input(&s->q, &s->v);
}

/* The largest dynamic shared memory a segment may take on this device (every kernel
 * instantiation allowed that much; outside stream capture). */
template <enum llmk_dtype WD>
static cudaError_t allow_shared(int bytes)
{
	return cudaFuncSetAttribute(decode_segment_kernel<WD>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

extern "C" cudaError_t llmk_decode_segment_check(const struct llmk_decode_segment *s)
{
	if (!segment_shapes_fit(s))
		return cudaErrorNotSupported;
	int major, optin;
	cudaError_t status = current_device_attribute(cudaDevAttrComputeCapabilityMajor, &major);
	if (status == cudaSuccess)
		status = current_device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, &optin);
	if (status != cudaSuccess)
		return status;
	/* the static shared memory (the plan, the barriers, the reductions) comes off the top */
	const int dynamic_most = optin - (int)(sizeof(struct seg_plan) + sizeof(struct seg_shared) + 256);
	if (major < 9 || segment_shared_bytes(s) > (size_t)dynamic_most)
		return cudaErrorNotSupported;
	status = allow_shared<LLMK_I8>(dynamic_most);
	return status == cudaSuccess ? allow_shared<LLMK_E4M3>(dynamic_most) : status;
}

extern "C" cudaError_t llmk_decode_segment(const struct llmk_decode_segment *s, cudaStream_t stream)
{
	if (!segment_shapes_fit(s))
		return cudaErrorNotSupported;
	int sms;
	cudaError_t status = current_device_attribute(cudaDevAttrMultiProcessorCount, &sms);
	if (status != cudaSuccess)
		return status;
	const size_t bytes = segment_shared_bytes(s);
	if (s->wdtype == LLMK_I8)
		return launch_maybe_pdl_shared(decode_segment_kernel<LLMK_I8>, dim3(sms), dim3(SEG_THREADS), bytes, true,
					       stream, *s);
	return launch_maybe_pdl_shared(decode_segment_kernel<LLMK_E4M3>, dim3(sms), dim3(SEG_THREADS), bytes, true, stream,
				       *s);
}
