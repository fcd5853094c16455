/*
 * sampling_kernels.cu - the next token on the GPU (sampling_kernels.h).
 *
 * The argmax: ARGMAX_BLOCKS blocks each reduce a strided share of the row to one
 * (value, index) pair, then one block reduces those.  Ties go to the lower index;
 * a NaN wins over every number (the host then refuses the row, engine.c).
 *
 * The draw: the row's keys (penalty and temperature applied) are sorted descending
 * with their ids (CUB's radix sort: stable, so equal keys keep ascending ids, the
 * CPU sampler's order).  Every filter then keeps a prefix of that order, found by
 * searching the sorted keys and the cumulative softmax mass, so no filter depends on
 * how flat the row is.  The mass is summed in a fixed order (each tile by a block
 * scan, the tiles' totals by one warp), so one uniform gives one token.
 */
#include "sampling_kernels.h"

#include <math.h>

#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#define ARGMAX_BLOCKS 64
#define ARGMAX_THREADS 512

/* Whether (value, index) beats (best_value, best_index); index -1 is no entry. */
__device__ static bool better(float value, int32_t index, float best_value, int32_t best_index)
{
	if (index < 0)
		return false;
	if (best_index < 0)
		return true;
	bool value_nan = isnan(value), best_nan = isnan(best_value);
	if (value_nan || best_nan)
		return value_nan && (!best_nan || index < best_index);
	return value > best_value || (value == best_value && index < best_index);
}

/* Reduces the block's (value, index) pairs; thread 0 gets the result. */
__device__ static void block_best(float *value, int32_t *index)
{
	__shared__ float values[32];
	__shared__ int32_t indices[32];
	for (int offset = 16; offset > 0; offset /= 2) {
		float v = __shfl_down_sync(0xffffffffu, *value, offset);
		int32_t i = __shfl_down_sync(0xffffffffu, *index, offset);
		if (better(v, i, *value, *index)) {
			*value = v;
			*index = i;
		}
	}
	int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
	if (lane == 0) {
		values[warp] = *value;
		indices[warp] = *index;
	}
	__syncthreads();
	if (warp == 0) {
		*value = lane < warps ? values[lane] : NAN;
		*index = lane < warps ? indices[lane] : -1;
		for (int offset = 16; offset > 0; offset /= 2) {
			float v = __shfl_down_sync(0xffffffffu, *value, offset);
			int32_t i = __shfl_down_sync(0xffffffffu, *index, offset);
			if (better(v, i, *value, *index)) {
				*value = v;
				*index = i;
			}
		}
	}
}

/* Row blockIdx.y's share of blockIdx.x: its best into partial[blockIdx.y][blockIdx.x]. */
__global__ static void argmax_partial_kernel(const float *x, int n, struct llmk_best *partial)
{
	x += (size_t)blockIdx.y * n;
	partial += (size_t)blockIdx.y * ARGMAX_BLOCKS;
	float value = NAN;
	int32_t index = -1;
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		if (better(x[i], i, value, index)) {
			value = x[i];
			index = i;
		}
	block_best(&value, &index);
	if (threadIdx.x == 0)
		partial[blockIdx.x] = (struct llmk_best){value, index};
}

/* Row blockIdx.x's best of its ARGMAX_BLOCKS shares into best[blockIdx.x]. */
__global__ static void argmax_final_kernel(const struct llmk_best *partial, int32_t first_index,
					   struct llmk_best *best)
{
	partial += (size_t)blockIdx.x * ARGMAX_BLOCKS;
	best += blockIdx.x;
	float value = NAN;
	int32_t index = -1;
	if (threadIdx.x < ARGMAX_BLOCKS) {
		value = partial[threadIdx.x].value;
		index = partial[threadIdx.x].index;
	}
	block_best(&value, &index);
	if (threadIdx.x == 0)
		*best = (struct llmk_best){value, index < 0 ? -1 : first_index + index};
}

extern "C" size_t llmk_argmax_scratch(int rows)
{
	return (size_t)rows * ARGMAX_BLOCKS * sizeof(struct llmk_best);
}

extern "C" cudaError_t llmk_argmax(const float *x, int rows, int n, int32_t first_index, struct llmk_best *best,
				   void *scratch, cudaStream_t stream)
{
	if (rows <= 0)
		return cudaSuccess;
	struct llmk_best *partial = (struct llmk_best *)scratch;
	argmax_partial_kernel<<<dim3(ARGMAX_BLOCKS, (unsigned)rows), ARGMAX_THREADS, 0, stream>>>(x, n, partial);
	argmax_final_kernel<<<(unsigned)rows, ARGMAX_BLOCKS, 0, stream>>>(partial, first_index, best);
	return cudaGetLastError();
}

/* ---- the draw ------------------------------------------------------------------ */

#define SAMPLE_THREADS 256
#define SAMPLE_PER_THREAD 4
#define SAMPLE_TILE (SAMPLE_THREADS * SAMPLE_PER_THREAD)

/* The draw's scratch, carved from one allocation. */
struct sample_buffers {
	float *keys, *sorted_keys;      /* n */
	int32_t *ids, *sorted_ids;      /* n */
	double *tile_prefix;            /* n: the mass from the tile's start to each entry, inclusive */
	double *tile_offset;            /* tiles: the mass before each tile */
	void *sort_scratch;
	size_t sort_bytes;
};

static size_t round_up(size_t bytes)
{
	return (bytes + 255) & ~(size_t)255;
}

__host__ __device__ static int tiles_of(int n)
{
	return (n + SAMPLE_TILE - 1) / SAMPLE_TILE;
}

static cudaError_t sort_scratch_bytes(int n, size_t *bytes)
{
	*bytes = 0;
	return cub::DeviceRadixSort::SortPairsDescending(nullptr, *bytes, (const float *)nullptr, (float *)nullptr,
							 (const int32_t *)nullptr, (int32_t *)nullptr, n);
}

/* Lays the buffers out in scratch (NULL: only counts); returns the bytes used. */
static size_t carve(void *scratch, int n, size_t sort_bytes, struct sample_buffers *b)
{
	unsigned char *base = (unsigned char *)scratch;
	size_t used = 0;
	auto take = [&](size_t bytes) {
		void *p = base ? base + used : nullptr;
		used += round_up(bytes);
		return p;
	};
	b->keys = (float *)take((size_t)n * sizeof(float));
	b->sorted_keys = (float *)take((size_t)n * sizeof(float));
	b->ids = (int32_t *)take((size_t)n * sizeof(int32_t));
	b->sorted_ids = (int32_t *)take((size_t)n * sizeof(int32_t));
	b->tile_prefix = (double *)take((size_t)n * sizeof(double));
	b->tile_offset = (double *)take((size_t)tiles_of(n) * sizeof(double));
	b->sort_scratch = take(sort_bytes);
	b->sort_bytes = sort_bytes;
	return used;
}

extern "C" cudaError_t llmk_sample_scratch(int n, size_t *scratch_bytes)
{
	size_t sort_bytes;
	cudaError_t status = sort_scratch_bytes(n, &sort_bytes);
	if (status != cudaSuccess)
		return status;
	struct sample_buffers b;
	*scratch_bytes = carve(nullptr, n, sort_bytes, &b);
	return cudaSuccess;
}

/* Each entry's key as sampler_sample computes it: the repetition penalty on a token
 * seen (or the step's own token, which is marked seen here), then / temperature; NaN
 * becomes -inf (never drawn) and -0 becomes +0 (the CPU compares them equal). */
__global__ static void sample_keys_kernel(const float *x, int n, const struct llmk_draw *draw,
					  const int32_t *step_token, unsigned char *seen, float *keys, int32_t *ids)
{
	const int32_t token = step_token ? *step_token : -1;
	const float penalty = draw->repeat_penalty, temperature = draw->temperature;
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		float l = x[i];
		const bool repeated = seen[i] || i == token;
		if (i == token)
			seen[i] = 1;
		if (repeated && penalty != 1.0f)
			l = l > 0 ? l / penalty : l * penalty;
		if (temperature > 0)
			l = l / temperature;
		if (isnan(l))
			l = -INFINITY;
		keys[i] = l == 0 ? 0.0f : l;
		ids[i] = i;
	}
}

/* The softmax mass exp(key - top key) of each sorted entry (0 for -inf), summed
 * within its tile: tile_prefix gets the inclusive sums, tile_offset[tile] the tile's
 * total (turned into the mass before the tile by sample_choose_kernel). */
__global__ static void __launch_bounds__(SAMPLE_THREADS)
sample_mass_kernel(const float *sorted_keys, int n, double *tile_prefix, double *tile_offset)
{
	typedef cub::BlockScan<double, SAMPLE_THREADS> scan;
	__shared__ typename scan::TempStorage storage;
	const double top = sorted_keys[0];
	const int first = blockIdx.x * SAMPLE_TILE + threadIdx.x * SAMPLE_PER_THREAD;
	double mass[SAMPLE_PER_THREAD];
	for (int k = 0; k < SAMPLE_PER_THREAD; k++) {
		const int j = first + k;
		mass[k] = j < n && sorted_keys[j] != -INFINITY ? exp((double)sorted_keys[j] - top) : 0.0;
	}
	double total;
	scan(storage).InclusiveSum(mass, mass, total);
	for (int k = 0; k < SAMPLE_PER_THREAD; k++)
		if (first + k < n)
			tile_prefix[first + k] = mass[k];
	if (threadIdx.x == 0)
		tile_offset[blockIdx.x] = total;
}

/* The first index in [lo, hi) where pred is false (hi when none), pred being true
 * then false over the range; the whole warp searches, 32 probes a round. */
template <typename Pred>
__device__ static int warp_first_false(int lo, int hi, Pred pred)
{
	const int lane = threadIdx.x % 32;
	while (lo < hi) {
		const int probe = lo + (int)((long long)(hi - lo) * lane / 32);
		const unsigned trues = __ballot_sync(0xffffffffu, pred(probe));
		const int count = __popc(trues);
		if (count == 0)
			return lo;
		const int last_true = __shfl_sync(0xffffffffu, probe, count - 1);
		const int first_false = count < 32 ? __shfl_sync(0xffffffffu, probe, count) : hi;
		lo = last_true + 1;
		hi = first_false;
	}
	return lo;
}

/* One warp: the tiles' totals into the mass before each tile (lane l adds its own
 * run of tiles in order, then the lanes' sums are scanned), then the filters and
 * the draw as sampler_sample applies them. */
__global__ static void sample_choose_kernel(const float *sorted_keys, const int32_t *sorted_ids,
					    const double *tile_prefix, double *tile_offset, int n,
					    const struct llmk_draw *draw, struct llmk_drawn *drawn)
{
	const int lane = threadIdx.x, tiles = tiles_of(n), per_lane = (tiles + 31) / 32;
	const int tile_begin = min(tiles, lane * per_lane), tile_end = min(tiles, tile_begin + per_lane);
	double run = 0;
	for (int t = tile_begin; t < tile_end; t++)
		run += tile_offset[t];
	double before = run;
	for (int offset = 1; offset < 32; offset *= 2) {
		const double other = __shfl_up_sync(0xffffffffu, before, offset);
		if (lane >= offset)
			before += other;
	}
	before -= run;
	for (int t = tile_begin; t < tile_end; t++) {
		const double total = tile_offset[t];
		tile_offset[t] = before;
		before += total;
	}
	__syncwarp();
	__threadfence_block();
	auto prefix = [&](int j) { return tile_offset[j / SAMPLE_TILE] + tile_prefix[j]; };

	struct llmk_drawn out;
	int kept = warp_first_false(0, n, [&](int j) { return sorted_keys[j] != -INFINITY; });
	out.valid = kept;
	if (kept > 0 && draw->top_k > 0 && draw->top_k < kept) { /* ties with the k-th stay */
		const float edge = sorted_keys[draw->top_k - 1];
		kept = warp_first_false(draw->top_k, kept, [&](int j) { return sorted_keys[j] >= edge; });
	}
	out.after_top_k = kept;
	if (kept > 1 && draw->top_p < 1) { /* a token stays while the mass before it is below top_p */
		const double total = prefix(kept - 1), top_p = draw->top_p;
		kept = warp_first_false(1, kept, [&](int j) { return prefix(j - 1) / total < top_p; });
	}
	out.after_top_p = kept;
	if (kept > 1 && draw->min_p > 0) { /* p < min_p x the top p  <=>  key < top key + log(min_p) */
		const float floor = (float)((double)sorted_keys[0] + log((double)draw->min_p));
		kept = warp_first_false(1, kept, [&](int j) { return sorted_keys[j] >= floor; });
	}
	out.after_min_p = kept;
	out.token = -1;
	if (kept > 0 && draw->temperature == 0) {
		out.token = sorted_ids[0];
	} else if (kept > 0) {
		const double r = draw->uniform * prefix(kept - 1);
		const int j = warp_first_false(0, kept, [&](int j) { return !(prefix(j) > r); });
		out.token = sorted_ids[j < kept ? j : kept - 1];
	}
	if (lane == 0)
		*drawn = out;
}

extern "C" cudaError_t llmk_sample(const float *x, int n, const struct llmk_draw *draw, const int32_t *step_token,
				   unsigned char *seen, void *scratch, struct llmk_drawn *drawn, cudaStream_t stream)
{
	if (n < 1)
		return cudaErrorInvalidValue;
	size_t sort_bytes;
	cudaError_t status = sort_scratch_bytes(n, &sort_bytes);
	if (status != cudaSuccess)
		return status;
	struct sample_buffers b;
	carve(scratch, n, sort_bytes, &b);
	const int blocks = (n + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
	sample_keys_kernel<<<blocks, SAMPLE_THREADS, 0, stream>>>(x, n, draw, step_token, seen, b.keys, b.ids);
	status = cub::DeviceRadixSort::SortPairsDescending(b.sort_scratch, b.sort_bytes, b.keys, b.sorted_keys, b.ids,
							   b.sorted_ids, n, 0, (int)(8 * sizeof(float)), stream);
	if (status != cudaSuccess)
		return status;
	sample_mass_kernel<<<tiles_of(n), SAMPLE_THREADS, 0, stream>>>(b.sorted_keys, n, b.tile_prefix, b.tile_offset);
	sample_choose_kernel<<<1, 32, 0, stream>>>(b.sorted_keys, b.sorted_ids, b.tile_prefix, b.tile_offset, n, draw,
						   drawn);
	return cudaGetLastError();
}
