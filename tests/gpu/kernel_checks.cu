/*
 * kernel_checks.cu - the kernels against float64 references or their unfused
 * forms, and the decode GEMV's speed next to the copy bandwidth of the same run.
 *
 *   kernel_checks [TABLE [SEED]]   (built and run by tests/gpu/run.sh on the device machine;
 *                                   TABLE gets the GEMV timings as tab-separated lines)
 *
 * Checks, on random inputs (the seed is printed; never zeros), outputs poisoned first:
 * - llmk_linear for BF16, FP8 e4m3 and INT8 weights, 1, 3, 4 and 7 tokens, against
 *   sum(w * a) * scales in float64, relative error < 1e-5 (FP8, BF16: float32
 *   accumulation of exact products; INT8: exact); llmk_quantize bit for bit against
 *   the CPU path's numerics (numerics.h);
 * - the KV cache in f32, bf16 and e4m3: the stores bit for bit against numerics.h's
 *   rounding, and the three attention kernels against float64 attention over the
 *   cache's rounded values (read back), relative error < 1e-5, for decode (1 token,
 *   contexts to 5000, head_dim 64 and 128, GQA groups 1, 4, 8), a few tokens, prefill
 *   shapes, and head_dim 32 (the tiny models) for the first-version kernel; the split-KV
 *   decode at 4096, 32768 and 131072 positions and at 1 to 300 (mostly empty splits),
 *   groups 1 to 8, eager and device position bit for bit alike;
 * - llmk_rmsnorm_quantize and llmk_swiglu_quantize bit for bit against llmk_rmsnorm /
 *   llmk_swiglu + llmk_quantize for every scheme, 1 and 37 tokens, widths 4096, 14336;
 * - the one-token GEMV: every block layout, the fused q/k/v and the fused gate/up +
 *   SwiGLU bit for bit against llmk_gemv's automatic layout (and llmk_swiglu);
 * - the static quantization written by the kernels that make a layer's input (the
 *   fused gate/up + SwiGLU, the split-KV decode attention): llmk_quantize's bits;
 * - llmk_attention_prefill (the tensor-core prefill attention) against float64 with the
 *   error bound stated above check_attention_prefill, and next to llmk_attention.
 * Timing: the cuBLASLt prefill GEMMs; the one-token GEMV at each Llama-3.1-8B and
 * 70B projection shape, each launch inside a CUDA graph on its own copy of the
 * weights (copies rotated so that L2 holds none), per-launch time and bandwidth
 * against the device-to-device copy; the fused GEMVs against the launches they replace;
 * the 8B prefill attention next to the split-KV path.
 *   kernel_checks attention [SEED]        runs only the prefill attention's checks and timing,
 *   kernel_checks attention-speed [SEED]  only its timing.
 *   kernel_checks decode-attention [SEED] only the KV cache and split-KV decode attention's
 *                                         checks and timing (contexts 128 to 131072).
 *   kernel_checks fusions [SEED]          only the fused kernels' checks (GEMV forms, static
 *                                         quantization written by its producer, split-KV).
 * Prints one "ok"/"not ok" line per check and the tables.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vector>
#include <algorithm>
#include <thread>

#include <cuda_runtime.h>

extern "C" {
#include "attention_prefill.h"
#include "gemm_cublaslt.h"
#include "llm_kernels.h"
#include "numerics.h"
#include "sampling_kernels.h"
}
#include "device_buffers.cuh"
#include "reference_kernels.cuh"

static int passed, failed;
static char gemv_what[200];
static void check(bool ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	ok ? passed++ : failed++;
}

#define CUDA(call) do { cudaError_t s_ = (call); if (s_ != cudaSuccess) { \
	printf("not ok - %s: %s\n", #call, cudaGetErrorString(s_)); failed++; return; } } while (0)

/* struct llmk_attention for the checks: the common fields, then each kernel's call. */
static struct llmk_attention attention_args(const float *q, const void *kc, const void *vc, enum llmk_dtype d,
					    float *out, int count, int pos0, int heads, int kv_heads, int head_dim,
					    float scale)
{
	struct llmk_attention a = {};
	a.q = q; a.key_cache = kc; a.value_cache = vc; a.cache_dtype = d; a.out = out; a.count = count; a.pos0 = pos0;
	a.heads = heads; a.kv_heads = kv_heads; a.head_dim = head_dim; a.scale = scale;
	return a;
}

static cudaError_t attention_general(const float *q, const void *kc, const void *vc, enum llmk_dtype d, float *out,
				     int count, int pos0, int heads, int kv_heads, int head_dim, float scale,
				     cudaStream_t s)
{
	const struct llmk_attention a = attention_args(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale);
	return llmk_attention_general(&a, s);
}

static cudaError_t attention_prefill(const float *q, const void *kc, const void *vc, enum llmk_dtype d, float *out,
				     int count, int pos0, int heads, int kv_heads, int head_dim, float scale,
				     cudaStream_t s)
{
	const struct llmk_attention a = attention_args(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale);
	return llmk_attention_prefill(&a, s);
}

/* The split-KV decode at pos0, or at *pos_dev when it is not NULL; outq may be NULL. */
static cudaError_t attention_decode(const float *q, const void *kc, const void *vc, enum llmk_dtype d, float *out,
				    int count, int pos0, int heads, int kv_heads, int head_dim, float scale,
				    float *scratch, int max_tokens, const int *pos_dev,
				    const struct llmk_static_quant *outq, cudaStream_t s)
{
	struct llmk_attention a = attention_args(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale);
	a.scratch = scratch; a.max_tokens = max_tokens; a.pos_dev = pos_dev; a.outq = outq;
	return llmk_attention_decode(&a, s);
}

/* Random valid values of dtype (llmk_fill_random: BF16 in [-2, 2], e4m3 without NaN). */
static void fill(void *p, size_t count, enum llmk_dtype dtype, uint32_t seed)
{
	llmk_fill_random(p, count, dtype, seed, 2.0f, 0);
}

static double host_weight(const uint8_t *w, enum llmk_dtype dtype, size_t i)
{
	if (dtype == LLMK_I8) return (double)(int8_t)w[i];
	if (dtype == LLMK_E4M3) return numerics_e4m3_to_float(w[i]);
	uint16_t h; memcpy(&h, w + 2 * i, 2);
	return numerics_bf16_to_float(h);
}

static void check_linear(enum llmk_dtype dtype, int rows, int cols, int count, const char *name)
{
	size_t esize = dtype == LLMK_BF16 ? 2 : 1;
	size_t wbytes = (size_t)rows * cols * esize;
	uint8_t *w, *xq; float *x, *y, *xs, *ws;
	CUDA(cudaMalloc(&w, wbytes)); CUDA(cudaMalloc(&xq, (size_t)count * cols));
	CUDA(cudaMalloc(&x, (size_t)count * cols * 4)); CUDA(cudaMalloc(&y, (size_t)count * rows * 4));
	CUDA(cudaMalloc(&xs, count * 4)); CUDA(cudaMalloc(&ws, rows * 4));
	if (dtype == LLMK_BF16) fill(w, (size_t)rows * cols, LLMK_BF16, 11);
	else fill(w, wbytes, dtype, 11);
	fill(xq, (size_t)count * cols, dtype == LLMK_BF16 ? LLMK_I8 : dtype, 23);
	std::vector<float> hx((size_t)count * cols), hxs(count), hws(rows);
	for (size_t i = 0; i < hx.size(); i++) hx[i] = (float)((i * 7919 % 2001) - 1000) / 997.0f;
	for (int t = 0; t < count; t++) hxs[t] = 0.01f * (t + 1);
	for (int r = 0; r < rows; r++) hws[r] = 0.001f * (1 + r % 13);
	CUDA(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(xs, hxs.data(), count * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(ws, hws.data(), rows * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemset(y, 0xff, (size_t)count * rows * 4)); /* NaN poison */
	bool quantized = dtype != LLMK_BF16;
	CUDA(llmk_linear(w, dtype, rows, cols, quantized ? ws : NULL, quantized ? rows : 0, x, xq, xs, count, y, rows, 0));
	CUDA(cudaDeviceSynchronize());
	std::vector<uint8_t> hw(wbytes), hq((size_t)count * cols);
	std::vector<float> hy((size_t)count * rows);
	CUDA(cudaMemcpy(hw.data(), w, wbytes, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(hq.data(), xq, hq.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(hy.data(), y, hy.size() * 4, cudaMemcpyDeviceToHost));
	double num = 0, den = 0; bool written = true;
	for (int t = 0; t < count; t++)
		for (int r = 0; r < rows; r++) {
			double acc = 0;
			for (int i = 0; i < cols; i++) {
				double a = dtype == LLMK_I8 ? (double)(int8_t)hq[(size_t)t * cols + i]
					 : dtype == LLMK_E4M3 ? numerics_e4m3_to_float(hq[(size_t)t * cols + i])
					 : hx[(size_t)t * cols + i];
				acc += host_weight(hw.data(), dtype, (size_t)r * cols + i) * a;
			}
			if (quantized) acc *= (double)hxs[t] * hws[r];
			double got = hy[(size_t)t * rows + r];
			if (!isfinite(got)) written = false;
			num += (got - acc) * (got - acc); den += acc * acc;
		}
	char what[200];
	snprintf(what, sizeof what, "%s %dx%d, %d tokens: every output written, relative error %.2e < 1e-5",
		 name, rows, cols, count, sqrt(num / den));
	check(written && sqrt(num / den) < 1e-5, what);
	cudaFree(w); cudaFree(xq); cudaFree(x); cudaFree(y); cudaFree(xs); cudaFree(ws);
}

static void check_quantize(enum llmk_quant quant, const char *name)
{
	const int count = 3, n = 4096;
	std::vector<float> hx((size_t)count * n);
	for (size_t i = 0; i < hx.size(); i++) hx[i] = sinf((float)i * 0.37f) * (1 + (i % 97)) * 0.05f;
	float *x, *scales; uint8_t *xq;
	CUDA(cudaMalloc(&x, hx.size() * 4)); CUDA(cudaMalloc(&xq, hx.size())); CUDA(cudaMalloc(&scales, count * 4));
	CUDA(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
	const float static_scale = 0.0123f;
	CUDA(llmk_quantize(x, count, n, quant, static_scale, xq, scales, 0));
	std::vector<uint8_t> got(hx.size()); std::vector<float> got_scales(count);
	CUDA(cudaMemcpy(got.data(), xq, got.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(got_scales.data(), scales, count * 4, cudaMemcpyDeviceToHost));
	int mismatches = 0;
	bool fp8 = quant == LLMK_QUANT_FP8_STATIC || quant == LLMK_QUANT_FP8_DYNAMIC;
	for (int t = 0; t < count; t++) {
		const float *row = hx.data() + (size_t)t * n;
		float m = 0;
		for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(row[i]));
		float s = quant == LLMK_QUANT_INT8_DYNAMIC ? m / 127.0f
			: quant == LLMK_QUANT_FP8_DYNAMIC ? fmaxf(m / 448.0f, 1.0f / (448.0f * 512.0f)) : static_scale;
		float inv = quant == LLMK_QUANT_INT8_DYNAMIC ? 127.0f / m : 1.0f / s;
		if (got_scales[t] != s) mismatches++;
		for (int i = 0; i < n; i++) {
			float v = row[i] * inv;
			uint8_t want;
			if (fp8) {
				v = fminf(fmaxf(v, -448.0f), 448.0f);
				want = numerics_float_to_e4m3(v);
			} else {
				want = (uint8_t)numerics_float_to_int8(v);
			}
			if (got[(size_t)t * n + i] != want) mismatches++;
		}
	}
	char what[160];
	snprintf(what, sizeof what, "quantize %s: bit for bit the CPU path's (%d mismatches)", name, mismatches);
	check(mismatches == 0, what);
	cudaFree(x); cudaFree(xq); cudaFree(scales);
}

static double copy_bandwidth(void)
{
	size_t bytes = (size_t)2 << 30;
	void *a, *b;
	if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
	cudaMemset(a, 1, bytes);
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms;
	for (int i = 0; i < 12; i++) {
		cudaEventRecord(e0); cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice); cudaEventRecord(e1);
		cudaEventSynchronize(e1); float m; cudaEventElapsedTime(&m, e0, e1); if (i >= 2) ms.push_back(m);
	}
	std::sort(ms.begin(), ms.end());
	cudaFree(a); cudaFree(b);
	return 2.0 * bytes / (ms[ms.size() / 2] * 1e-3) / 1e9; /* read + written */
}

/* The copy bandwidth the timings are judged against, measured and printed. */
static double measured_copy_bandwidth(void)
{
	double copy = copy_bandwidth();
	printf("# device-to-device copy: %.0f GB/s (bytes read + written, 2 GiB, median of 10)\n", copy);
	return copy;
}

/* The prefill GEMMs (cuBLASLt) against float64, then their rate. */
static void check_gemm(struct llmk_gemm *g, enum llmk_dtype dtype, int rows, int cols, int count)
{
	uint8_t *w, *xq; float *y, *scales, *ws; int32_t *acc;
	CUDA(cudaMalloc(&w, (size_t)rows * cols)); CUDA(cudaMalloc(&xq, (size_t)count * cols));
	CUDA(cudaMalloc(&y, (size_t)count * rows * 4)); CUDA(cudaMalloc(&acc, (size_t)count * rows * 4));
	CUDA(cudaMalloc(&scales, count * 4)); CUDA(cudaMalloc(&ws, rows * 4));
	fill(w, (size_t)rows * cols, dtype, 31);
	fill(xq, (size_t)count * cols, dtype, 37);
	std::vector<float> hs(count), hws(rows);
	for (int t = 0; t < count; t++) hs[t] = dtype == LLMK_E4M3 ? 0.02f : 0.01f * (1 + t % 5);
	for (int r = 0; r < rows; r++) hws[r] = dtype == LLMK_E4M3 ? 0.003f : 0.001f * (1 + r % 7);
	CUDA(cudaMemcpy(scales, hs.data(), count * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(ws, hws.data(), rows * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemset(y, 0xff, (size_t)count * rows * 4));
	char err[256] = "";
	int rc = dtype == LLMK_E4M3 ? llmk_gemm_fp8(g, w, rows, cols, ws, xq, scales, count, y, 0, err, sizeof err)
				    : llmk_gemm_int8(g, w, rows, cols, ws, rows, xq, scales, count, acc, y, 0, err, sizeof err);
	CUDA(cudaDeviceSynchronize());
	char what[200];
	snprintf(what, sizeof what, "cuBLASLt %s GEMM %dx%d, %d tokens runs (%s)", dtype == LLMK_E4M3 ? "FP8" : "INT8",
		 rows, cols, count, rc == 0 ? "yes" : rc == 1 ? "no algorithm" : err);
	check(rc == 0, what);
	if (rc != 0) return;
	std::vector<uint8_t> hw((size_t)rows * cols), hq((size_t)count * cols);
	std::vector<float> hy((size_t)count * rows);
	CUDA(cudaMemcpy(hw.data(), w, hw.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(hq.data(), xq, hq.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(hy.data(), y, hy.size() * 4, cudaMemcpyDeviceToHost));
	double num = 0, den = 0; bool written = true;
	for (int t = 0; t < count; t++)
		for (int r = 0; r < rows; r++) {
			double a = 0;
			for (int i = 0; i < cols; i++)
				a += host_weight(hw.data(), dtype, (size_t)r * cols + i) *
				     (dtype == LLMK_I8 ? (double)(int8_t)hq[(size_t)t * cols + i]
						       : numerics_e4m3_to_float(hq[(size_t)t * cols + i]));
			a *= dtype == LLMK_E4M3 ? (double)hs[0] * hws[0] : (double)hs[t] * hws[r];
			double got = hy[(size_t)t * rows + r];
			if (!isfinite(got)) written = false;
			num += (got - a) * (got - a); den += a * a;
		}
	/* Hopper's FP8 tensor cores accumulate with fewer bits than float32 (cuBLASLt
	 * without fast accumulation promotes partial sums, but each MMA's own sum is
	 * narrower): about 2e-4 relative was measured, so FP8 prefill gets 5e-4.  INT8
	 * accumulates exactly in int32. */
	double tolerance = dtype == LLMK_E4M3 ? 5e-4 : 1e-7;
	snprintf(what, sizeof what, "cuBLASLt %s GEMM: every output written, relative error %.2e < %.0e",
		 dtype == LLMK_E4M3 ? "FP8" : "INT8", sqrt(num / den), tolerance);
	check(written && sqrt(num / den) < tolerance, what);
	cudaFree(w); cudaFree(xq); cudaFree(y); cudaFree(acc); cudaFree(scales); cudaFree(ws);
}

static void time_gemm(struct llmk_gemm *g, enum llmk_dtype dtype, int rows, int cols, int count, const char *shape)
{
	uint8_t *w, *xq; float *y, *scales, *ws; int32_t *acc;
	CUDA(cudaMalloc(&w, (size_t)rows * cols)); CUDA(cudaMalloc(&xq, (size_t)count * cols));
	CUDA(cudaMalloc(&y, (size_t)count * rows * 4)); CUDA(cudaMalloc(&acc, (size_t)count * rows * 4));
	CUDA(cudaMalloc(&scales, count * 4)); CUDA(cudaMalloc(&ws, rows * 4));
	fill(w, (size_t)rows * cols, dtype, 41);
	fill(xq, (size_t)count * cols, dtype, 43);
	std::vector<float> half(std::max(rows, count), 0.5f);
	cudaMemcpy(scales, half.data(), count * 4, cudaMemcpyHostToDevice);
	cudaMemcpy(ws, half.data(), rows * 4, cudaMemcpyHostToDevice);
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms; char err[256];
	for (int i = 0; i < 25; i++) {
		cudaEventRecord(e0);
		int rc = dtype == LLMK_E4M3 ? llmk_gemm_fp8(g, w, rows, cols, ws, xq, scales, count, y, 0, err, sizeof err)
					    : llmk_gemm_int8(g, w, rows, cols, ws, rows, xq, scales, count, acc, y, 0, err, sizeof err);
		cudaEventRecord(e1); cudaEventSynchronize(e1);
		if (rc != 0) { printf("not ok - %s GEMM %s did not run\n", shape, dtype == LLMK_E4M3 ? "FP8" : "INT8"); failed++; return; }
		float m; cudaEventElapsedTime(&m, e0, e1); if (i >= 5) ms.push_back(m);
	}
	std::sort(ms.begin(), ms.end());
	double t = ms[ms.size() / 2] * 1e-3;
	printf("  %-5s %-16s %6d tokens x %5dx%-5d %9.1f us %7.0f TFLOP/s\n", dtype == LLMK_E4M3 ? "FP8" : "INT8", shape,
	       count, rows, cols, t * 1e6, 2.0 * rows * cols * count / t / 1e12);
	cudaFree(w); cudaFree(xq); cudaFree(y); cudaFree(acc); cudaFree(scales); cudaFree(ws);
}

/* The split-KV decode attention against the first-version kernel (itself checked
 * by the transformers goldens) on random caches, at several positions and groups. */
static void check_attention_decode(int heads, int kv_heads, int head_dim, int count, int pos0)
{
	const int positions = pos0 + count, kv_dim = kv_heads * head_dim;
	float *q, *kc, *vc, *a, *b, *scratch;
	CUDA(cudaMalloc(&q, (size_t)count * heads * head_dim * 4));
	CUDA(cudaMalloc(&kc, (size_t)positions * kv_dim * 4)); CUDA(cudaMalloc(&vc, (size_t)positions * kv_dim * 4));
	CUDA(cudaMalloc(&a, (size_t)count * heads * head_dim * 4)); CUDA(cudaMalloc(&b, (size_t)count * heads * head_dim * 4));
	CUDA(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, head_dim, 64) * 4));
	std::vector<float> h((size_t)positions * kv_dim);
	for (size_t i = 0; i < h.size(); i++) h[i] = sinf(i * 0.731f) * 1.5f;
	CUDA(cudaMemcpy(kc, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
	for (size_t i = 0; i < h.size(); i++) h[i] = cosf(i * 0.377f);
	CUDA(cudaMemcpy(vc, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
	std::vector<float> hq((size_t)count * heads * head_dim);
	for (size_t i = 0; i < hq.size(); i++) hq[i] = sinf(i * 1.91f) * 2.0f;
	CUDA(cudaMemcpy(q, hq.data(), hq.size() * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemset(b, 0xff, hq.size() * 4));
	float scale = 1.0f / sqrtf((float)head_dim);
	CUDA(attention_general(q, kc, vc, LLMK_F32, a, count, pos0, heads, kv_heads, head_dim, scale, 0));
	CUDA(attention_decode(q, kc, vc, LLMK_F32, b, count, pos0, heads, kv_heads, head_dim, scale, scratch, 64, NULL, NULL,
					 0));
	CUDA(cudaDeviceSynchronize());
	std::vector<float> ha(hq.size()), hb(hq.size());
	CUDA(cudaMemcpy(ha.data(), a, ha.size() * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(hb.data(), b, hb.size() * 4, cudaMemcpyDeviceToHost));
	double num = 0, den = 0; bool written = true;
	for (size_t i = 0; i < ha.size(); i++) {
		if (!isfinite(hb[i])) written = false;
		num += (double)(hb[i] - ha[i]) * (hb[i] - ha[i]); den += (double)ha[i] * ha[i];
	}
	char what[200];
	snprintf(what, sizeof what, "split-KV attention, %d/%d heads of %d, %d tokens at %d: written, relative error %.1e < 1e-5",
		 heads, kv_heads, head_dim, count, pos0, sqrt(num / den));
	check(written && sqrt(num / den) < 1e-5, what);
	cudaFree(q); cudaFree(kc); cudaFree(vc); cudaFree(a); cudaFree(b); cudaFree(scratch);
}

/* ---- host random numbers: fresh every run (the seed is printed) ------------------- */

static uint64_t rng_state;
static double uniform(void) /* [0, 1) */
{
	rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float uniform_in(float lo, float hi) { return lo + (hi - lo) * (float)uniform(); }

/* ---- the KV cache in float32, bf16 and e4m3 ----------------------------------------- */

static const char *dtype_name(enum llmk_dtype d)
{
	return d == LLMK_F32 ? "f32" : d == LLMK_BF16 ? "bf16" : d == LLMK_E4M3 ? "e4m3" : "?";
}
static size_t dtype_size(enum llmk_dtype d) { return d == LLMK_F32 ? 4 : d == LLMK_BF16 ? 2 : 1; }

/* The host's reading of element i of a cache of dtype d. */
static double cache_value(const std::vector<uint8_t> &c, enum llmk_dtype d, size_t i)
{
	if (d == LLMK_F32) { float f; memcpy(&f, c.data() + 4 * i, 4); return f; }
	if (d == LLMK_BF16) { uint16_t h; memcpy(&h, c.data() + 2 * i, 2); return numerics_bf16_to_float(h); }
	return numerics_e4m3_to_float(c[i]);
}

/* The bytes a store of f must leave: bf16 nearest even, e4m3 nearest even saturating. */
static void expected_bytes(float f, enum llmk_dtype d, uint8_t *out)
{
	if (d == LLMK_F32) memcpy(out, &f, 4);
	else if (d == LLMK_BF16) { uint16_t h = numerics_float_to_bf16(f); memcpy(out, &h, 2); }
	else out[0] = numerics_float_to_e4m3(f);
}

/* Both stores (host and device position) of count rows at pos into a poisoned cache:
 * the rows bit for bit, nothing else touched. */
static void check_store_kv(enum llmk_dtype d, int kv_dim, int count, int pos, bool device_pos)
{
	const int positions = pos + count + 3;
	const size_t es = dtype_size(d), bytes = (size_t)positions * kv_dim * es;
	std::vector<float> hk((size_t)count * kv_dim), hv(hk.size());
	for (size_t i = 0; i < hk.size(); i++) {
		/* normal values, tiny ones (subnormal in e4m3), ties and out-of-range ones (saturation) */
		float r = (float)uniform();
		hk[i] = r < 0.8f ? uniform_in(-3, 3) : r < 0.9f ? uniform_in(-0.01f, 0.01f) : uniform_in(-900, 900);
		hv[i] = uniform_in(-2, 2) * (i % 17 == 0 ? 300.0f : 1.0f);
	}
	float *k, *v; uint8_t *kc, *vc; int *pd;
	CUDA(cudaMalloc(&k, hk.size() * 4)); CUDA(cudaMalloc(&v, hv.size() * 4));
	CUDA(cudaMalloc(&kc, bytes)); CUDA(cudaMalloc(&vc, bytes)); CUDA(cudaMalloc(&pd, 4));
	CUDA(cudaMemcpy(k, hk.data(), hk.size() * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(v, hv.data(), hv.size() * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(pd, &pos, 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemset(kc, 0x5a, bytes)); CUDA(cudaMemset(vc, 0x5a, bytes));
	if (device_pos) CUDA(ref_store_kv(k, v, kc, vc, d, kv_dim, count, 0, pd, 0));
	else CUDA(ref_store_kv(k, v, kc, vc, d, kv_dim, count, pos, NULL, 0));
	CUDA(cudaDeviceSynchronize());
	std::vector<uint8_t> gk(bytes), gv(bytes);
	CUDA(cudaMemcpy(gk.data(), kc, bytes, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(gv.data(), vc, bytes, cudaMemcpyDeviceToHost));
	size_t bad = 0, start = (size_t)pos * kv_dim * es, end = start + hk.size() * es;
	for (size_t b = 0; b < bytes; b++)
		if ((b < start || b >= end) && (gk[b] != 0x5a || gv[b] != 0x5a)) bad++;
	for (size_t i = 0; i < hk.size(); i++) {
		uint8_t ek[4], ev[4];
		expected_bytes(hk[i], d, ek); expected_bytes(hv[i], d, ev);
		if (memcmp(ek, gk.data() + start + i * es, es) || memcmp(ev, gv.data() + start + i * es, es)) bad++;
	}
	char what[200];
	snprintf(what, sizeof what, "store %d rows of %d at %d (%s position) into a %s cache: bit for bit, nothing else "
		 "touched (%zu wrong)", count, kv_dim, pos, device_pos ? "device" : "host", dtype_name(d), bad);
	check(bad == 0, what);
	cudaFree(k); cudaFree(v); cudaFree(kc); cudaFree(vc); cudaFree(pd);
}

enum attention_kernel_kind { ATT_FIRST, ATT_DECODE, ATT_DECODE_DEVICE_POS };

/* count query tokens at pos0.. over a cache of dtype d filled by ref_store_kv
 * (prefill style, every row at once), against float64 attention over the cache's
 * rounded values (read back), so that the tolerance is float32 arithmetic's. */
static void check_attention_cache(enum attention_kernel_kind kind, enum llmk_dtype d, int heads, int kv_heads,
				  int head_dim, int count, int pos0)
{
	const int positions = pos0 + count, kv_dim = kv_heads * head_dim, group = heads / kv_heads;
	const size_t qn = (size_t)count * heads * head_dim, cn = (size_t)positions * kv_dim, es = dtype_size(d);
	std::vector<float> hq(qn), hk(cn), hv(cn);
	for (auto &f : hq) f = uniform_in(-1.5f, 1.5f);
	for (auto &f : hk) f = uniform_in(-2, 2);
	for (auto &f : hv) f = uniform_in(-1, 1);
	float *q, *k, *v, *out, *scratch; uint8_t *kc, *vc; int *pd;
	const int max_tokens = 64;
	CUDA(cudaMalloc(&q, qn * 4)); CUDA(cudaMalloc(&k, cn * 4)); CUDA(cudaMalloc(&v, cn * 4));
	CUDA(cudaMalloc(&out, qn * 4)); CUDA(cudaMalloc(&kc, cn * es)); CUDA(cudaMalloc(&vc, cn * es));
	CUDA(cudaMalloc(&pd, 4)); CUDA(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, head_dim, max_tokens) * 4));
	CUDA(cudaMemcpy(q, hq.data(), qn * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(k, hk.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(v, hv.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(pd, &pos0, 4, cudaMemcpyHostToDevice));
	CUDA(ref_store_kv(k, v, kc, vc, d, kv_dim, positions, 0, NULL, 0));
	CUDA(cudaMemset(out, 0xff, qn * 4));
	const float scale = 1.0f / sqrtf((float)head_dim);
	const char *kname = "first-version attention";
	if (kind == ATT_FIRST)
		CUDA(attention_general(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale, 0));
	else if (kind == ATT_DECODE) {
		kname = "split-KV attention";
		CUDA(attention_decode(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale, scratch, max_tokens,
				      NULL, NULL, 0));
	} else {
		kname = "split-KV attention (device position)";
		CUDA(attention_decode(q, kc, vc, d, out, count, 0, heads, kv_heads, head_dim, scale, scratch, max_tokens, pd,
				      NULL, 0));
	}
	CUDA(cudaDeviceSynchronize());
	std::vector<uint8_t> gk(cn * es), gv(cn * es);
	std::vector<float> got(qn);
	CUDA(cudaMemcpy(gk.data(), kc, gk.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(gv.data(), vc, gv.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(got.data(), out, qn * 4, cudaMemcpyDeviceToHost));
	std::vector<double> kd(cn), vd(cn), score(positions), o(head_dim);
	for (size_t i = 0; i < cn; i++) { kd[i] = cache_value(gk, d, i); vd[i] = cache_value(gv, d, i); }
	double num = 0, den = 0; bool written = true;
	for (int t = 0; t < count; t++)
		for (int h = 0; h < heads; h++) {
			const float *qh = hq.data() + ((size_t)t * heads + h) * head_dim;
			const size_t off = (size_t)(h / group) * head_dim;
			double mx = -INFINITY, sum = 0;
			for (int j = 0; j <= pos0 + t; j++) {
				double s = 0;
				for (int i = 0; i < head_dim; i++) s += (double)qh[i] * kd[(size_t)j * kv_dim + off + i];
				score[j] = s * scale;
				mx = std::max(mx, score[j]);
			}
			std::fill(o.begin(), o.end(), 0.0);
			for (int j = 0; j <= pos0 + t; j++) {
				double p = exp(score[j] - mx);
				sum += p;
				for (int i = 0; i < head_dim; i++) o[i] += p * vd[(size_t)j * kv_dim + off + i];
			}
			for (int i = 0; i < head_dim; i++) {
				double want = o[i] / sum, g = got[((size_t)t * heads + h) * head_dim + i];
				if (!isfinite(g)) written = false;
				num += (g - want) * (g - want); den += want * want;
			}
		}
	char what[240];
	snprintf(what, sizeof what, "%s, %s cache, %d/%d heads of %d, %d tokens at %d: written, relative error %.1e < 1e-5",
		 kname, dtype_name(d), heads, kv_heads, head_dim, count, pos0, sqrt(num / den));
	check(written && sqrt(num / den) < 1e-5, what);
	cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(out); cudaFree(kc); cudaFree(vc); cudaFree(pd); cudaFree(scratch);
}

static void check_kv_cache(void)
{
	const enum llmk_dtype dtypes[] = {LLMK_F32, LLMK_BF16, LLMK_E4M3};
	for (enum llmk_dtype d : dtypes) {
		check_store_kv(d, 1024, 1, 777, true);
		check_store_kv(d, 1024, 37, 100, false);
		check_store_kv(d, 64, 300, 5, false);
		for (int head_dim : {64, 128})
			for (int group : {1, 4, 8})
				for (int pos : {0, 1000, 4999}) {
					int kv_heads = 8 / (group == 8 ? 2 : 1), heads = kv_heads * group;
					check_attention_cache(pos == 1000 ? ATT_DECODE_DEVICE_POS : ATT_DECODE, d, heads, kv_heads,
							      head_dim, 1, pos);
				}
		check_attention_cache(ATT_DECODE, d, 32, 8, 128, 3, 4093);   /* a few tokens, 64 splits */
		check_attention_cache(ATT_DECODE, d, 32, 8, 128, 40, 2000);  /* prefill: a split a token */
		check_attention_cache(ATT_DECODE, d, 32, 4, 64, 64, 0);
		check_attention_cache(ATT_FIRST, d, 4, 2, 32, 7, 20);        /* the tiny models' shape */
		check_attention_cache(ATT_FIRST, d, 4, 2, 32, 1, 300);
		check_attention_cache(ATT_FIRST, d, 32, 8, 128, 5, 700);
	}
}

/* One decode token at positions - 1 over a cache of dtype d (random rows stored by
 * ref_store_kv): llmk_attention_decode and its device-position form
 * bit for bit alike (they share the split layout), every head written, and the first
 * and last query head of each KV head against float64 over the cache's rounded values,
 * relative error < 1e-5.  v has a mean of 0.5 (uniform in [-0.5, 1.5]), so that over a
 * long context the outputs are not sums that cancel to almost nothing. */
static void check_attention_split_context(enum llmk_dtype d, int heads, int kv_heads, int head_dim, int positions)
{
	const int pos0 = positions - 1, kv_dim = kv_heads * head_dim, group = heads / kv_heads;
	const size_t qn = (size_t)heads * head_dim, cn = (size_t)positions * kv_dim, es = dtype_size(d);
	std::vector<float> hq(qn), hk(cn), hv(cn);
	for (auto &f : hq) f = uniform_in(-1.5f, 1.5f);
	for (auto &f : hk) f = uniform_in(-2, 2);
	for (auto &f : hv) f = uniform_in(-0.5f, 1.5f);
	float *q, *k, *v, *eager, *graph, *scratch; uint8_t *kc, *vc; int *pd;
	CUDA(cudaMalloc(&q, qn * 4)); CUDA(cudaMalloc(&k, cn * 4)); CUDA(cudaMalloc(&v, cn * 4));
	CUDA(cudaMalloc(&eager, qn * 4)); CUDA(cudaMalloc(&graph, qn * 4));
	CUDA(cudaMalloc(&kc, cn * es)); CUDA(cudaMalloc(&vc, cn * es)); CUDA(cudaMalloc(&pd, 4));
	CUDA(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, head_dim, 1) * 4));
	CUDA(cudaMemcpy(q, hq.data(), qn * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(k, hk.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(v, hv.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(pd, &pos0, 4, cudaMemcpyHostToDevice));
	CUDA(ref_store_kv(k, v, kc, vc, d, kv_dim, positions, 0, NULL, 0));
	CUDA(cudaMemset(eager, 0xff, qn * 4)); CUDA(cudaMemset(graph, 0xff, qn * 4));
	const float scale = 1.0f / sqrtf((float)head_dim);
	CUDA(attention_decode(q, kc, vc, d, eager, 1, pos0, heads, kv_heads, head_dim, scale, scratch, 1, NULL, NULL, 0));
	/* the device-position form also quantizes its output for a static input scale
	 * (o_proj's, in the decode graph): FP8 for e4m3 caches, INT8 otherwise */
	const enum llmk_quant outq_kind = d == LLMK_E4M3 ? LLMK_QUANT_FP8_STATIC : LLMK_QUANT_INT8_STATIC;
	uint8_t *xq, *xq_ref; float *xs;
	CUDA(cudaMalloc(&xq, qn)); CUDA(cudaMalloc(&xq_ref, qn)); CUDA(cudaMalloc(&xs, 4));
	CUDA(cudaMemset(xq, 0x55, qn)); CUDA(cudaMemset(xs, 0xff, 4));
	const struct llmk_static_quant outq = {outq_kind, outq_kind == LLMK_QUANT_FP8_STATIC ? 1.2f / 448 : 1.2f / 127, xq,
					       xs};
	CUDA(attention_decode(q, kc, vc, d, graph, 1, 0, heads, kv_heads, head_dim, scale, scratch, 1, pd, &outq, 0));
	CUDA(cudaDeviceSynchronize());
	float *ref_scale; CUDA(cudaMalloc(&ref_scale, 4));
	CUDA(llmk_quantize(graph, 1, (int)qn, outq.quant, outq.scale, xq_ref, ref_scale, 0));
	float got_scale = 0, want_scale = 1;
	CUDA(cudaMemcpy(&got_scale, xs, 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(&want_scale, ref_scale, 4, cudaMemcpyDeviceToHost));
	const size_t xq_bad = differing_bytes(xq, xq_ref, qn);
	cudaFree(xq); cudaFree(xq_ref); cudaFree(xs); cudaFree(ref_scale);
	std::vector<uint8_t> gk(cn * es), gv(cn * es);
	std::vector<float> got(qn), got_graph(qn);
	CUDA(cudaMemcpy(gk.data(), kc, gk.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(gv.data(), vc, gv.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(got.data(), eager, qn * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(got_graph.data(), graph, qn * 4, cudaMemcpyDeviceToHost));
	bool written = true;
	for (float g : got) written = written && isfinite(g);
	const bool same = memcmp(got.data(), got_graph.data(), qn * 4) == 0;
	std::vector<double> score(positions), o(head_dim);
	double num = 0, den = 0;
	for (int h = 0; h < heads; h++) {
		if (h % group != 0 && h % group != group - 1)
			continue;
		const float *qh = hq.data() + (size_t)h * head_dim;
		const size_t off = (size_t)(h / group) * head_dim;
		double mx = -INFINITY, sum = 0;
		for (int j = 0; j < positions; j++) {
			double s = 0;
			for (int i = 0; i < head_dim; i++) s += (double)qh[i] * cache_value(gk, d, (size_t)j * kv_dim + off + i);
			score[j] = s * scale;
			mx = std::max(mx, score[j]);
		}
		std::fill(o.begin(), o.end(), 0.0);
		for (int j = 0; j < positions; j++) {
			double p = exp(score[j] - mx);
			sum += p;
			for (int i = 0; i < head_dim; i++) o[i] += p * cache_value(gv, d, (size_t)j * kv_dim + off + i);
		}
		for (int i = 0; i < head_dim; i++) {
			double want = o[i] / sum, g = got[(size_t)h * head_dim + i];
			num += (g - want) * (g - want); den += want * want;
		}
	}
	char what[240];
	snprintf(what, sizeof what, "split-KV decode, %s cache, %d/%d heads of %d, 1 token at %d: written, eager and device "
		 "position bit for bit alike (%s), relative error %.1e < 1e-5", dtype_name(d), heads, kv_heads, head_dim,
		 pos0, same ? "yes" : "no", sqrt(num / den));
	check(written && same && sqrt(num / den) < 1e-5, what);
	snprintf(what, sizeof what, "... its output quantized in the same launch (%s static) is llmk_quantize's: %zu of "
		 "%zu bytes differ, scale %s", outq_kind == LLMK_QUANT_FP8_STATIC ? "FP8" : "INT8", xq_bad, qn,
		 got_scale == want_scale ? "equal" : "differs");
	check(xq_bad == 0 && got_scale == want_scale, what);
	cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(eager); cudaFree(graph); cudaFree(kc); cudaFree(vc); cudaFree(pd);
	cudaFree(scratch);
}

/* The decode split layout at long contexts (4096, 32768, 131072: fewer KV heads as the
 * context grows, so that the float64 reference stays quick), GQA groups 1, 2, 4, 8
 * and head_dim 64, and at short ones where most splits are empty (1, 2, 100, 129, 300). */
static void check_attention_split_contexts(void)
{
	for (enum llmk_dtype d : {LLMK_F32, LLMK_BF16, LLMK_E4M3}) {
		for (int positions : {4096, 32768, 131072}) {
			const int kv_heads = positions > 32768 ? 1 : positions > 4096 ? 2 : 8;
			for (int group : {1, 2, 4, 8})
				check_attention_split_context(d, kv_heads * group, kv_heads, 128, positions);
			check_attention_split_context(d, kv_heads * 4, kv_heads, 64, positions);
		}
		for (int positions : {1, 2, 100, 129, 300}) {
			check_attention_split_context(d, 32, 8, 128, positions);
			check_attention_split_context(d, 8, 8, 64, positions);
			check_attention_split_context(d, 24, 4, 128, positions); /* group 6: the kernel for 8 */
		}
	}
}

/* ---- fused activation quantization: bit for bit the unfused pair ------------------- */

static bool quant_fp8(enum llmk_quant q) { return q == LLMK_QUANT_FP8_STATIC || q == LLMK_QUANT_FP8_DYNAMIC; }

/* rmsnorm (swiglu false) or swiglu then quantize: fused (with and without the float
 * output) against llmk_rmsnorm / llmk_swiglu + llmk_quantize, every byte compared. */
static void check_fused_quantize(bool swiglu, enum llmk_quant quant, const char *qname, int count, int n)
{
	const size_t total = (size_t)count * n;
	std::vector<float> ha(total), hb(swiglu ? total : (size_t)n);
	for (int t = 0; t < count; t++) {
		float amp = t % 5 == 3 ? 40.0f : t % 5 == 1 ? 0.02f : 2.0f; /* rows of different size */
		for (int i = 0; i < n; i++) ha[(size_t)t * n + i] = uniform_in(-amp, amp);
	}
	for (auto &f : hb) f = swiglu ? uniform_in(-3, 3) : uniform_in(0.2f, 1.8f);
	/* static scales that saturate some values */
	const float static_scale = quant_fp8(quant) ? (swiglu ? 0.02f : 0.004f) : (swiglu ? 0.2f : 0.02f);
	float *a, *b, *ref_out, *out, *ref_scales, *scales, *scales2; uint8_t *ref_q, *xq, *xq2;
	CUDA(cudaMalloc(&a, total * 4)); CUDA(cudaMalloc(&b, hb.size() * 4)); CUDA(cudaMalloc(&ref_out, total * 4));
	CUDA(cudaMalloc(&out, total * 4)); CUDA(cudaMalloc(&ref_q, total)); CUDA(cudaMalloc(&xq, total));
	CUDA(cudaMalloc(&xq2, total)); CUDA(cudaMalloc(&ref_scales, count * 4)); CUDA(cudaMalloc(&scales, count * 4));
	CUDA(cudaMalloc(&scales2, count * 4));
	CUDA(cudaMemcpy(a, ha.data(), total * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(b, hb.data(), hb.size() * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemset(out, 0xff, total * 4)); CUDA(cudaMemset(xq, 0x7f, total)); CUDA(cudaMemset(xq2, 0x7f, total));
	CUDA(cudaMemset(scales, 0xff, count * 4)); CUDA(cudaMemset(scales2, 0xff, count * 4));
	const float eps = 1e-5f;
	if (swiglu) {
		CUDA(cudaMemcpy(ref_out, a, total * 4, cudaMemcpyDeviceToDevice));
		CUDA(llmk_swiglu(ref_out, b, total, 0));
		CUDA(llmk_swiglu_quantize(a, b, out, count, n, quant, static_scale, xq, scales, 0));
		CUDA(llmk_swiglu_quantize(a, b, NULL, count, n, quant, static_scale, xq2, scales2, 0));
	} else {
		CUDA(llmk_rmsnorm(a, b, ref_out, count, n, eps, 0));
		CUDA(llmk_rmsnorm_quantize(a, b, out, count, n, eps, quant, static_scale, xq, scales, 0));
		CUDA(llmk_rmsnorm_quantize(a, b, NULL, count, n, eps, quant, static_scale, xq2, scales2, 0));
	}
	CUDA(llmk_quantize(ref_out, count, n, quant, static_scale, ref_q, ref_scales, 0));
	CUDA(cudaDeviceSynchronize());
	std::vector<float> g_ref(total), g_out(total), s_ref(count), s1(count), s2(count);
	std::vector<uint8_t> q_ref(total), q1(total), q2(total);
	CUDA(cudaMemcpy(g_ref.data(), ref_out, total * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(g_out.data(), out, total * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(q_ref.data(), ref_q, total, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(q1.data(), xq, total, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(q2.data(), xq2, total, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(s_ref.data(), ref_scales, count * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(s1.data(), scales, count * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(s2.data(), scales2, count * 4, cudaMemcpyDeviceToHost));
	size_t bad = 0, saturated = 0;
	for (size_t i = 0; i < total; i++) {
		if (memcmp(&g_ref[i], &g_out[i], 4)) bad++;
		if (q_ref[i] != q1[i] || q_ref[i] != q2[i]) bad++;
		if (quant_fp8(quant) ? (q_ref[i] & 0x7f) == 0x7e : (q_ref[i] == 0x7f || q_ref[i] == 0x80)) saturated++;
	}
	for (int t = 0; t < count; t++)
		if (memcmp(&s_ref[t], &s1[t], 4) || memcmp(&s_ref[t], &s2[t], 4)) bad++;
	char what[240];
	snprintf(what, sizeof what, "%s_quantize %s, %d tokens of %d: bit for bit %s + llmk_quantize, with and without "
		 "the float output (%zu differ; %zu values at the range's end)", swiglu ? "swiglu" : "rmsnorm", qname,
		 count, n, swiglu ? "llmk_swiglu" : "llmk_rmsnorm", bad, saturated);
	check(bad == 0, what);
	cudaFree(a); cudaFree(b); cudaFree(ref_out); cudaFree(out); cudaFree(ref_q); cudaFree(xq); cudaFree(xq2);
	cudaFree(ref_scales); cudaFree(scales); cudaFree(scales2);
}

static void check_fused_quantizers(void)
{
	const enum llmk_quant quants[] = {LLMK_QUANT_FP8_STATIC, LLMK_QUANT_FP8_DYNAMIC, LLMK_QUANT_INT8_DYNAMIC,
					  LLMK_QUANT_INT8_STATIC};
	const char *names[] = {"FP8 static", "FP8 dynamic", "INT8 dynamic", "INT8 static"};
	for (int q = 0; q < 4; q++)
		for (int count : {1, 37})
			for (int n : {4096, 14336}) {
				check_fused_quantize(false, quants[q], names[q], count, n);
				check_fused_quantize(true, quants[q], names[q], count, n);
			}
}

/* ---- the engine's other fusions: residual add + norm (+ quantize), RoPE + KV store ---- */

/* Copies n floats (or bytes) back and counts the ones that differ in bits. */
static float *device_floats(const std::vector<float> &h)
{
	float *d = NULL;
	if (cudaMalloc(&d, h.size() * 4) != cudaSuccess ||
	    cudaMemcpy(d, h.data(), h.size() * 4, cudaMemcpyHostToDevice) != cudaSuccess)
		printf("not ok - device_floats: %s\n", cudaGetErrorString(cudaGetLastError())), failed++;
	return d;
}

static void check_add_rmsnorm_quantize(enum llmk_quant quant, const char *qname, int count, int n)
{
	const size_t total = (size_t)count * n;
	std::vector<float> hx(total), hr(total), hw(n);
	for (auto &f : hx) f = uniform_in(-3, 3);
	for (auto &f : hr) f = uniform_in(-1, 1);
	for (auto &f : hw) f = uniform_in(0.2f, 1.8f);
	float *x1 = device_floats(hx), *x2 = device_floats(hx), *r = device_floats(hr), *w = device_floats(hw);
	float *out1, *out2, *s1, *s2; uint8_t *q1, *q2;
	CUDA(cudaMalloc(&out1, total * 4)); CUDA(cudaMalloc(&out2, total * 4));
	CUDA(cudaMalloc(&q1, total)); CUDA(cudaMalloc(&q2, total));
	CUDA(cudaMalloc(&s1, count * 4)); CUDA(cudaMalloc(&s2, count * 4));
	CUDA(cudaMemset(out2, 0xff, total * 4)); CUDA(cudaMemset(q1, 0x7f, total)); CUDA(cudaMemset(q2, 0x7f, total));
	CUDA(cudaMemset(s1, 0, count * 4)); CUDA(cudaMemset(s2, 0xff, count * 4));
	const float eps = 1e-5f, static_scale = quant_fp8(quant) ? 0.004f : 0.02f;
	CUDA(ref_add(x1, r, total, 0));
	if (quant == LLMK_QUANT_NONE)
		CUDA(llmk_rmsnorm(x1, w, out1, count, n, eps, 0));
	else
		CUDA(llmk_rmsnorm_quantize(x1, w, out1, count, n, eps, quant, static_scale, q1, s1, 0));
	CUDA(llmk_add_rmsnorm_quantize(x2, r, w, out2, count, n, eps, quant, static_scale, q2, s2, 0));
	CUDA(cudaDeviceSynchronize());
	size_t bad = differing_bytes(x1, x2, total * 4) + differing_bytes(out1, out2, total * 4);
	if (quant != LLMK_QUANT_NONE)
		bad += differing_bytes(q1, q2, total) + differing_bytes(s1, s2, count * 4);
	char what[200];
	snprintf(what, sizeof what, "add_rmsnorm_quantize %s, %d tokens of %d: bit for bit ref_add + %s (%zu bytes differ)",
		 qname, count, n, quant == LLMK_QUANT_NONE ? "llmk_rmsnorm" : "llmk_rmsnorm_quantize", bad);
	check(bad == 0, what);
	cudaFree(x1); cudaFree(x2); cudaFree(r); cudaFree(w); cudaFree(out1); cudaFree(out2);
	cudaFree(q1); cudaFree(q2); cudaFree(s1); cudaFree(s2);
}

static void check_rope_store(enum llmk_dtype d, const char *dname, int count, int pos, bool device_pos)
{
	const int q_heads = 32, kv_heads = 8, hd = 128, q_dim = q_heads * hd, kv_dim = kv_heads * hd;
	const int positions = pos + count + 3;
	const size_t elem = d == LLMK_F32 ? 4 : d == LLMK_BF16 ? 2 : 1;
	std::vector<float> hq((size_t)count * q_dim), hk((size_t)count * kv_dim), hv((size_t)count * kv_dim), hf(hd / 2);
	for (auto &f : hq) f = uniform_in(-3, 3);
	for (auto &f : hk) f = uniform_in(-20, 20);
	for (auto &f : hv) f = uniform_in(-2, 2);
	for (int i = 0; i < hd / 2; i++) hf[i] = (float)pow(500000.0, -2.0 * i / hd);
	float *q1 = device_floats(hq), *q2 = device_floats(hq), *k1 = device_floats(hk), *k2 = device_floats(hk);
	float *v = device_floats(hv), *inv = device_floats(hf), *k_unrotated = device_floats(hk);
	void *kc1, *kc2, *vc1, *vc2; int *dpos;
	size_t cache = (size_t)positions * kv_dim * elem;
	CUDA(cudaMalloc(&kc1, cache)); CUDA(cudaMalloc(&kc2, cache)); CUDA(cudaMalloc(&vc1, cache)); CUDA(cudaMalloc(&vc2, cache));
	CUDA(cudaMemset(kc1, 0x5a, cache)); CUDA(cudaMemset(kc2, 0x5a, cache));
	CUDA(cudaMemset(vc1, 0x5a, cache)); CUDA(cudaMemset(vc2, 0x5a, cache));
	CUDA(cudaMalloc(&dpos, sizeof(int))); CUDA(cudaMemcpy(dpos, &pos, sizeof(int), cudaMemcpyHostToDevice));
	if (device_pos) {
		CUDA(ref_rope(q1, count, q_dim, q_heads, hd, 0, dpos, inv, 0));
		CUDA(ref_rope(k1, count, kv_dim, kv_heads, hd, 0, dpos, inv, 0));
		CUDA(ref_store_kv(k1, v, kc1, vc1, d, kv_dim, count, 0, dpos, 0));
	} else {
		CUDA(ref_rope(q1, count, q_dim, q_heads, hd, pos, NULL, inv, 0));
		CUDA(ref_rope(k1, count, kv_dim, kv_heads, hd, pos, NULL, inv, 0));
		CUDA(ref_store_kv(k1, v, kc1, vc1, d, kv_dim, count, pos, NULL, 0));
	}
	CUDA(llmk_rope_store_kv(q2, q_dim, q_heads, k2, v, kv_heads, hd, count, device_pos ? 0 : pos,
				device_pos ? dpos : NULL, inv, kc2, vc2, d, 0));
	CUDA(cudaDeviceSynchronize());
	size_t bad = differing_bytes(q1, q2, hq.size() * 4) + differing_bytes(kc1, kc2, cache) +
		     differing_bytes(vc1, vc2, cache) + differing_bytes(k2, k_unrotated, hk.size() * 4);
	char what[200];
	snprintf(what, sizeof what, "rope_store_kv %s, %d tokens at %d (%s): bit for bit ref_rope x2 + ref_store_kv, "
		 "nothing else touched (%zu bytes differ)", dname, count, pos, device_pos ? "device position" : "host position",
		 bad);
	check(bad == 0, what);
	cudaFree(q1); cudaFree(q2); cudaFree(k1); cudaFree(k2); cudaFree(v); cudaFree(inv); cudaFree(k_unrotated);
	cudaFree(kc1); cudaFree(kc2); cudaFree(vc1); cudaFree(vc2); cudaFree(dpos);
}

static void check_engine_fusions(void)
{
	const enum llmk_quant quants[] = {LLMK_QUANT_NONE, LLMK_QUANT_FP8_STATIC, LLMK_QUANT_FP8_DYNAMIC,
					  LLMK_QUANT_INT8_DYNAMIC, LLMK_QUANT_INT8_STATIC};
	const char *names[] = {"none", "FP8 static", "FP8 dynamic", "INT8 dynamic", "INT8 static"};
	for (int q = 0; q < 5; q++)
		for (int count : {1, 37})
			check_add_rmsnorm_quantize(quants[q], names[q], count, 4096);
	const enum llmk_dtype dtypes[] = {LLMK_F32, LLMK_BF16, LLMK_E4M3};
	const char *dnames[] = {"f32", "bf16", "e4m3"};
	for (int d = 0; d < 3; d++) {
		check_rope_store(dtypes[d], dnames[d], 1, 4000, true);
		check_rope_store(dtypes[d], dnames[d], 37, 300, false);
	}
}

/* ---- the one-token GEMV: layouts and fused forms give the same bits ------------------- */

struct gemv_inputs {
	float *x, *xs;
	uint8_t *xq;
};

static bool gemv_inputs_make(struct gemv_inputs *in, enum llmk_dtype dtype, int cols)
{
	std::vector<float> hx(cols);
	for (auto &f : hx) f = uniform_in(-1, 1);
	float xs = 0.0137f;
	if (cudaMalloc(&in->x, cols * 4) || cudaMalloc(&in->xq, cols) || cudaMalloc(&in->xs, 4)) return false;
	fill(in->xq, cols, dtype == LLMK_BF16 ? LLMK_I8 : dtype, (uint32_t)(uniform() * 1e9));
	return cudaMemcpy(in->x, hx.data(), cols * 4, cudaMemcpyHostToDevice) == cudaSuccess &&
	       cudaMemcpy(in->xs, &xs, 4, cudaMemcpyHostToDevice) == cudaSuccess;
}

static void gemv_inputs_free(struct gemv_inputs *in) { cudaFree(in->x); cudaFree(in->xq); cudaFree(in->xs); }

/* A matrix of random weights with per-row scales (none for BF16) and a poisoned output. */
static bool gemv_matrix_make(struct llmk_gemv_matrix *m, enum llmk_dtype dtype, int rows, int cols)
{
	size_t es = dtype == LLMK_BF16 ? 2 : 1;
	void *w; float *s, *y;
	if (cudaMalloc(&w, (size_t)rows * cols * es) || cudaMalloc(&s, rows * 4) || cudaMalloc(&y, rows * 4)) return false;
	fill(w, (size_t)rows * cols, dtype, (uint32_t)(uniform() * 1e9));
	std::vector<float> hs(rows);
	for (auto &f : hs) f = uniform_in(0.001f, 0.01f);
	cudaMemcpy(s, hs.data(), rows * 4, cudaMemcpyHostToDevice);
	cudaMemset(y, 0xff, rows * 4);
	*m = {w, dtype == LLMK_BF16 ? NULL : s, dtype == LLMK_BF16 ? 0 : rows, rows, y};
	if (dtype == LLMK_BF16) cudaFree(s);
	return true;
}

static void gemv_matrix_free(struct llmk_gemv_matrix *m)
{
	cudaFree((void *)m->weight); cudaFree((void *)m->weight_scale); cudaFree(m->y);
}

static std::vector<float> device_floats(const float *p, size_t n)
{
	std::vector<float> h(n);
	cudaMemcpy(h.data(), p, n * 4, cudaMemcpyDeviceToHost);
	return h;
}

static size_t differ(const std::vector<float> &a, const std::vector<float> &b)
{
	size_t n = 0;
	for (size_t i = 0; i < a.size(); i++) n += memcmp(&a[i], &b[i], 4) != 0 || !isfinite(a[i]);
	return n;
}

/* The fused gate/up + SwiGLU with its output also quantized for down_proj's static
 * scale (FP8 and INT8; the scale puts the largest values past the range, so that
 * saturation is checked too): the float output as without, the bytes and scale
 * llmk_quantize's; a dynamic scheme is refused. */
static void check_swiglu_static_quant(const struct llmk_gemv_matrix *gate, const struct llmk_gemv_matrix *up,
				      enum llmk_dtype dtype, const char *name, int cols, const struct gemv_inputs *in,
				      const std::vector<float> &want_ff)
{
	const int rows = gate->rows;
	const struct llmk_gemv_input input = {dtype, cols, in->x, in->xq, in->xs};
	float largest = 0;
	for (float f : want_ff) largest = std::max(largest, fabsf(f));
	float *ff, *xs, *ref_scale; uint8_t *xq, *xq_ref;
	CUDA(cudaMalloc(&ff, rows * 4)); CUDA(cudaMalloc(&xq, rows)); CUDA(cudaMalloc(&xq_ref, rows));
	CUDA(cudaMalloc(&xs, 4)); CUDA(cudaMalloc(&ref_scale, 4));
	for (enum llmk_quant quant : {LLMK_QUANT_FP8_STATIC, LLMK_QUANT_INT8_STATIC}) {
		const bool fp8 = quant == LLMK_QUANT_FP8_STATIC;
		const struct llmk_static_quant yq = {quant, 0.8f * largest / (fp8 ? 448 : 127), xq, xs};
		CUDA(cudaMemset(ff, 0xff, rows * 4)); CUDA(cudaMemset(xq, 0x55, rows)); CUDA(cudaMemset(xs, 0xff, 4));
		CUDA(llmk_gemv_swiglu(gate, up, &input, ff, &yq, 0));
		CUDA(llmk_quantize(ff, 1, rows, quant, yq.scale, xq_ref, ref_scale, 0));
		CUDA(cudaDeviceSynchronize());
		float got_scale = 0, want_scale = 1;
		CUDA(cudaMemcpy(&got_scale, xs, 4, cudaMemcpyDeviceToHost));
		CUDA(cudaMemcpy(&want_scale, ref_scale, 4, cudaMemcpyDeviceToHost));
		const size_t bad_floats = differ(device_floats(ff, rows), want_ff);
		const size_t bad_bytes = differing_bytes(xq, xq_ref, rows); /* device buffers */
		char what[240];
		snprintf(what, sizeof what, "%s fused gate/up + SwiGLU with its output quantized (%s static, %d rows): floats "
			 "as without (%zu differ), bytes and scale llmk_quantize's (%zu bytes differ, scale %s)", name,
			 fp8 ? "FP8" : "INT8", rows, bad_floats, bad_bytes, got_scale == want_scale ? "equal" : "differs");
		check(bad_floats == 0 && bad_bytes == 0 && got_scale == want_scale, what);
	}
	const struct llmk_static_quant dynamic = {LLMK_QUANT_INT8_DYNAMIC, 1, xq, xs};
	snprintf(gemv_what, sizeof gemv_what, "%s fused gate/up + SwiGLU refuses a dynamic output scheme", name);
	check(llmk_gemv_swiglu(gate, up, &input, ff, &dynamic, 0) == cudaErrorInvalidValue,
	      gemv_what);
	cudaFree(ff); cudaFree(xq); cudaFree(xq_ref); cudaFree(xs); cudaFree(ref_scale);
}

static void check_gemv_layouts_and_fusions(enum llmk_dtype dtype, const char *name, int q_rows, int kv_rows,
					   int ff_rows, int cols)
{
	struct gemv_inputs in;
	struct llmk_gemv_matrix m[3], gate, up;
	if (!gemv_inputs_make(&in, dtype, cols) || !gemv_matrix_make(&m[0], dtype, q_rows, cols) ||
	    !gemv_matrix_make(&m[1], dtype, kv_rows, cols) || !gemv_matrix_make(&m[2], dtype, kv_rows, cols) ||
	    !gemv_matrix_make(&gate, dtype, ff_rows, cols) || !gemv_matrix_make(&up, dtype, ff_rows, cols)) {
		check(false, "GEMV check buffers"); return;
	}
	char what[240];
	/* every layout of llmk_gemv against its automatic one (which llmk_linear runs for
	 * FP8 and INT8, checked against float64 by check_linear), bit for bit */
	float *y; CUDA(cudaMalloc(&y, q_rows * 4));
	const struct llmk_gemv_input input = {dtype, cols, in.x, in.xq, in.xs};
	CUDA(llmk_gemv(&m[0], &input, -1, 0));
	std::vector<float> want_q = device_floats(m[0].y, q_rows);
	size_t bad = 0;
	for (int rpb : {1, 2, 4}) {
		CUDA(cudaMemset(y, 0xff, q_rows * 4));
		struct llmk_gemv_matrix into_y = m[0];
		into_y.y = y;
		CUDA(llmk_gemv(&into_y, &input, rpb, 0));
		bad += differ(device_floats(y, q_rows), want_q);
	}
	snprintf(what, sizeof what, "%s GEMV %dx%d, 1 token: rows a block 1, 2, 4 give the same bits (%zu differ)",
		 name, q_rows, cols, bad);
	check(bad == 0, what);
	/* q/k/v in one launch against three */
	std::vector<float> want[3];
	for (int i = 0; i < 3; i++) {
		CUDA(llmk_gemv(&m[i], &input, -1, 0));
		want[i] = device_floats(m[i].y, m[i].rows);
		CUDA(cudaMemset(m[i].y, 0xff, m[i].rows * 4));
	}
	CUDA(llmk_gemv_multi(m, 3, &input, 0));
	CUDA(cudaDeviceSynchronize());
	bad = 0;
	for (int i = 0; i < 3; i++) bad += differ(device_floats(m[i].y, m[i].rows), want[i]);
	snprintf(what, sizeof what, "%s fused q/k/v GEMV (%d+%d+%d rows x %d): llmk_gemv's bits (%zu differ)", name,
		 q_rows, kv_rows, kv_rows, cols, bad);
	check(bad == 0, what);
	/* gate/up + SwiGLU in one launch against llmk_gemv x 2 + llmk_swiglu */
	CUDA(llmk_gemv(&gate, &input, -1, 0));
	CUDA(llmk_gemv(&up, &input, -1, 0));
	CUDA(llmk_swiglu(gate.y, up.y, ff_rows, 0));
	std::vector<float> want_ff = device_floats(gate.y, ff_rows);
	float *ff; CUDA(cudaMalloc(&ff, ff_rows * 4)); CUDA(cudaMemset(ff, 0xff, ff_rows * 4));
	CUDA(llmk_gemv_swiglu(&gate, &up, &input, ff, NULL, 0));
	CUDA(cudaDeviceSynchronize());
	bad = differ(device_floats(ff, ff_rows), want_ff);
	snprintf(what, sizeof what, "%s fused gate/up + SwiGLU GEMV (2 x %dx%d): llmk_gemv x 2 + llmk_swiglu's bits "
		 "(%zu differ)", name, ff_rows, cols, bad);
	check(bad == 0, what);
	check_swiglu_static_quant(&gate, &up, dtype, name, cols, &in, want_ff);
	cudaFree(y); cudaFree(ff);
	for (int i = 0; i < 3; i++) gemv_matrix_free(&m[i]);
	gemv_matrix_free(&gate); gemv_matrix_free(&up); gemv_inputs_free(&in);
}

/* ---- the decode GEMV's speed as a decode step sees it ---------------------------------
 * graph_us_per_launch (device_buffers.cuh), each launch on its own copy of the weights
 * (rotated over enough copies that L2 holds none of them when it is read again). */

/* Copies of a matrix, enough that together they are well past L2 (>= 512 MB). */
static int weight_copies(size_t bytes) { return (int)std::max<size_t>(2, ((size_t)512 << 20) / bytes + 1); }

static void time_gemv(enum llmk_dtype dtype, int rows, int cols, const char *shape, double copy_gbs, FILE *table)
{
	size_t esize = dtype == LLMK_BF16 ? 2 : 1, wbytes = (size_t)rows * cols * esize;
	int copies = weight_copies(wbytes), launches = std::max(20, copies);
	std::vector<uint8_t *> w(copies, nullptr);
	for (int c = 0; c < copies; c++) {
		if (cudaMalloc(&w[c], wbytes) != cudaSuccess) { printf("not ok - alloc %s\n", shape); failed++; return; }
		fill(w[c], wbytes / esize, dtype, c);
	}
	struct gemv_inputs in;
	float *y, *ws;
	bool q = dtype != LLMK_BF16;
	if (!gemv_inputs_make(&in, dtype, cols) || cudaMalloc(&y, rows * 4) || cudaMalloc(&ws, rows * 4)) {
		check(false, "GEMV timing buffers"); return;
	}
	std::vector<float> hw(rows, 0.01f);
	cudaMemcpy(ws, hw.data(), rows * 4, cudaMemcpyHostToDevice);
	const char *dname = dtype == LLMK_BF16 ? "BF16" : dtype == LLMK_E4M3 ? "FP8" : "INT8";
	printf("  %-4s %-13s %5dx%-5d", dname, shape, rows, cols);
	fprintf(table, "%s\t%s\t%d\t%d", dname, shape, rows, cols);
	bool ok = true;
	for (int rpb : {0, 2 | LLMK_GEMV_NO_PDL, 1, 2, 4, -1}) {
		double us = graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
			const struct llmk_gemv_matrix m = {w[i % copies], q ? ws : NULL, q ? rows : 0, rows, y};
			const struct llmk_gemv_input input = {dtype, cols, in.x, in.xq, in.xs};
			return llmk_gemv(&m, &input, rpb, s);
		});
		double gbs = wbytes / (us * 1e-6) / 1e9;
		ok = ok && us > 0;
		printf(" |%s %5.1fus %3.0f%%", rpb == 0 ? "warp" : rpb < 0 ? "auto" : rpb == 1 ? "rb1" : rpb == 2 ? "rb2" :
		       rpb == 4 ? "rb4" : "rb2-plain", us, 100 * gbs / copy_gbs);
		fprintf(table, "\t%d\t%.2f\t%.0f\t%.1f", rpb, us, gbs, 100 * gbs / copy_gbs);
	}
	printf("\n");
	fprintf(table, "\n");
	for (auto p : w) cudaFree(p);
	gemv_inputs_free(&in); cudaFree(y); cudaFree(ws);
	snprintf(gemv_what, sizeof gemv_what, "%s %s GEMV timed in a graph without a CUDA error", dname, shape);
	check(ok && cudaGetLastError() == cudaSuccess, gemv_what);
}

/* q/k/v (three launches vs llmk_gemv_multi) and gate/up + SwiGLU (three launches vs
 * llmk_gemv_swiglu) of one token, per decode layer, copies rotated as above. */
static void time_fused(enum llmk_dtype dtype, int hidden, int q_rows, int kv_rows, int ff_rows, const char *model,
		       double copy_gbs, FILE *table)
{
	const size_t qkv_bytes = (size_t)(q_rows + 2 * kv_rows) * hidden, ff_bytes = (size_t)2 * ff_rows * hidden;
	const int copies = weight_copies(std::min(qkv_bytes, ff_bytes)) / 2 + 1;
	std::vector<struct llmk_gemv_matrix> qkv(3 * copies), ff(2 * copies);
	bool ok = true;
	for (int c = 0; c < copies && ok; c++)
		ok = gemv_matrix_make(&qkv[3 * c], dtype, q_rows, hidden) && gemv_matrix_make(&qkv[3 * c + 1], dtype, kv_rows, hidden) &&
		     gemv_matrix_make(&qkv[3 * c + 2], dtype, kv_rows, hidden) && gemv_matrix_make(&ff[2 * c], dtype, ff_rows, hidden) &&
		     gemv_matrix_make(&ff[2 * c + 1], dtype, ff_rows, hidden);
	struct gemv_inputs in;
	float *y;
	if (!ok || !gemv_inputs_make(&in, dtype, hidden) || cudaMalloc(&y, ff_rows * 4)) {
		check(false, "fused GEMV timing buffers (out of memory?)"); return;
	}
	const int launches = std::max(20, copies);
	double unfused_qkv = graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
		cudaError_t e = cudaSuccess;
		for (int k = 0; k < 3 && e == cudaSuccess; k++) {
			struct llmk_gemv_matrix *m = &qkv[3 * (i % copies) + k];
			e = llmk_linear(m->weight, dtype, m->rows, hidden, m->weight_scale, m->weight_scale_count, in.x, in.xq,
					in.xs, 1, m->y, m->rows, s);
		}
		return e;
	});
	double fused_qkv = graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
		const struct llmk_gemv_input input = {dtype, hidden, in.x, in.xq, in.xs};
		return llmk_gemv_multi(&qkv[3 * (i % copies)], 3, &input, s);
	});
	double unfused_ff = graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
		struct llmk_gemv_matrix *g = &ff[2 * (i % copies)], *u = g + 1;
		cudaError_t e = llmk_linear(g->weight, dtype, ff_rows, hidden, g->weight_scale, g->weight_scale_count, in.x,
					    in.xq, in.xs, 1, g->y, ff_rows, s);
		if (e == cudaSuccess)
			e = llmk_linear(u->weight, dtype, ff_rows, hidden, u->weight_scale, u->weight_scale_count, in.x, in.xq,
					in.xs, 1, u->y, ff_rows, s);
		return e == cudaSuccess ? llmk_swiglu(g->y, u->y, ff_rows, s) : e;
	});
	double fused_ff = graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
		const struct llmk_gemv_input input = {dtype, hidden, in.x, in.xq, in.xs};
		return llmk_gemv_swiglu(&ff[2 * (i % copies)], &ff[2 * (i % copies) + 1], &input, y, NULL, s);
	});
	const char *dname = dtype == LLMK_E4M3 ? "FP8" : dtype == LLMK_I8 ? "INT8" : "BF16";
	size_t es = dtype == LLMK_BF16 ? 2 : 1;
	auto pct = [&](size_t bytes, double us) { return 100.0 * bytes * es / (us * 1e-6) / 1e9 / copy_gbs; };
	printf("  %-4s %-4s q/k/v: 3 launches %6.1f us (%3.0f%%), fused %6.1f us (%3.0f%%); gate/up+SwiGLU: 3 launches "
	       "%6.1f us (%3.0f%%), fused %6.1f us (%3.0f%%)\n", dname, model, unfused_qkv, pct(qkv_bytes, unfused_qkv),
	       fused_qkv, pct(qkv_bytes, fused_qkv), unfused_ff, pct(ff_bytes, unfused_ff), fused_ff, pct(ff_bytes, fused_ff));
	fprintf(table, "fused\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\n", dname, model, unfused_qkv, fused_qkv, unfused_ff, fused_ff);
	for (auto &m : qkv) gemv_matrix_free(&m);
	for (auto &m : ff) gemv_matrix_free(&m);
	gemv_inputs_free(&in); cudaFree(y);
	snprintf(gemv_what, sizeof gemv_what, "%s %s fused GEMVs timed in a graph without a CUDA error", dname, model);
	check(unfused_qkv > 0 && fused_qkv > 0 && unfused_ff > 0 && fused_ff > 0 && cudaGetLastError() == cudaSuccess,
	      gemv_what);
}

/* The decode attention (split kernel + combine, one token, Llama-3.1-8B's 32/8 heads of
 * 128) over a cache of each dtype at a context length, caches rotated past L2 as for
 * the GEMV; bytes = the K and V rows read. */
static void time_attention(enum llmk_dtype d, int context, double copy_gbs, FILE *table)
{
	const int heads = 32, kv_heads = 8, head_dim = 128, kv_dim = kv_heads * head_dim;
	const size_t bytes = (size_t)2 * context * kv_dim * dtype_size(d);
	const int copies = weight_copies(bytes), launches = std::max(20, copies);
	std::vector<uint8_t *> caches(copies, nullptr);
	float *q, *out, *scratch, *rows;
	bool ok = cudaMalloc(&q, heads * head_dim * 4) == cudaSuccess && cudaMalloc(&out, heads * head_dim * 4) == cudaSuccess &&
		  cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, head_dim, 1) * 4) == cudaSuccess &&
		  cudaMalloc(&rows, (size_t)context * kv_dim * 4) == cudaSuccess;
	if (ok) {
		std::vector<float> h((size_t)context * kv_dim);
		for (auto &f : h) f = uniform_in(-1, 1);
		ok = cudaMemcpy(rows, h.data(), h.size() * 4, cudaMemcpyHostToDevice) == cudaSuccess &&
		     cudaMemcpy(q, h.data(), heads * head_dim * 4, cudaMemcpyHostToDevice) == cudaSuccess;
	}
	for (int c = 0; c < copies && ok; c++)
		ok = cudaMalloc(&caches[c], bytes) == cudaSuccess &&
		     ref_store_kv(rows, rows, caches[c], caches[c] + bytes / 2, d, kv_dim, context, 0, NULL, 0) == cudaSuccess;
	double us = !ok ? -1 : graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
		uint8_t *c = caches[i % copies];
		return attention_decode(q, c, c + bytes / 2, d, out, 1, context - 1, heads, kv_heads, head_dim, 0.088f,
					scratch, 1, NULL, NULL, s);
	});
	double gbs = bytes / (us * 1e-6) / 1e9;
	printf("  %-4s cache, context %6d: %7.1f us %6.0f GB/s %4.0f%% of copy\n", dtype_name(d), context, us, gbs,
	       100 * gbs / copy_gbs);
	fprintf(table, "attention\t%s\t%d\t%.2f\t%.0f\n", dtype_name(d), context, us, gbs);
	for (auto p : caches) cudaFree(p);
	cudaFree(q); cudaFree(out); cudaFree(scratch); cudaFree(rows);
	snprintf(gemv_what, sizeof gemv_what, "decode attention over a %s cache of %d timed without a CUDA error",
		 dtype_name(d), context);
	check(us > 0 && cudaGetLastError() == cudaSuccess, gemv_what);
}

static void time_attention_contexts(double copy_gbs, FILE *table)
{
	printf("# decode attention, 1 token, 32/8 heads of 128, per launch (split + combine) inside a CUDA graph:\n");
	for (int context : {128, 4096, 32768, 131072})
		for (enum llmk_dtype d : {LLMK_F32, LLMK_BF16, LLMK_E4M3})
			time_attention(d, context, copy_gbs, table);
}

/* ---- prefill attention (attention_prefill.cu) ------------------------------------------
 * Inputs: q uniform in [-3, 3) (scores of standard deviation about 2 after the
 * 1/sqrt(head_dim) scale, so the softmax is far from flat), K in [-2, 2), V in [-1, 1),
 * stored as the cache dtype; the reference is float64 on the values as stored.
 *
 * Tolerance, per output element, first order in the unit roundoff u = 2^-11 of fp16:
 *  - a score S_j = scale * sum_i q_i k_ji moves by at most
 *      D = (u_q + u_k + head_dim * 2^-24) * scale * max_j sum_i |q_i k_ji|
 *    (q rounded to fp16: u_q = u; k: u_k = u for an f32 cache, 0 for bf16 and e4m3,
 *    which fp16 holds exactly; float32 accumulation of head_dim products);
 *  - scores moved by at most D move the normalized weights w_j by at most
 *    w_j (e^{2D} - 1), so the output by at most (e^{2D} - 1) max|v|;
 *  - P rounded to fp16 (the row sum adds the rounded values): 2u max|v|, plus 2^-25
 *    absolute per weight below fp16's normal range; V rounded to fp16 (f32 cache): u max|v|;
 *  - float32 accumulation of n = pos0 + t + 1 terms in O and in the sum: n 2^-23 max|v|.
 * max|v| is over the row's attended values.  Every element must be within its bound.
 * Second, statistically: the relative RMS error over all checked elements must stay
 * under 4e-3 = 8u (the rounding of q and k moves a score of this size by about
 * sqrt(2) u / sqrt(3) * scale * |q o k| ~ 1e-3 in RMS, which moves the output by a
 * similar relative amount; a wrong mask or a lost tile moves it by far more at the
 * short lengths checked).  Outputs are NaN-poisoned first and must all be written.
 * For counts above 256, the float64 reference is computed for every 16th token and
 * the last 8 (all are checked against llmk_attention and for being written).
 * Measured on an H200 (2026-11-29): max error 1.0e-3 at most, 5% of its bound at
 * most; relative RMS 2e-4 to 6.4e-4. */

struct attention_case { int count, pos0, heads, kv_heads, head_dim; enum llmk_dtype dtype; };

/* Uniform in [-amplitude, amplitude) from a 64-bit xorshift. */
static float uniform_from(uint64_t &state, float amplitude)
{
	state ^= state << 13; state ^= state >> 7; state ^= state << 17;
	return (float)((double)(state >> 11) / 9007199254740992.0 * 2 - 1) * amplitude;
}

/* n random values stored as dtype (bytes) and decoded again (values). */
static void random_cache(enum llmk_dtype dtype, size_t n, float amplitude, uint64_t seed,
			 std::vector<uint8_t> &bytes, std::vector<float> &values)
{
	bytes.resize(n * dtype_size(dtype));
	values.resize(n);
	for (size_t i = 0; i < n; i++) {
		float x = uniform_from(seed, amplitude);
		if (dtype == LLMK_F32) {
			memcpy(&bytes[4 * i], &x, 4);
			values[i] = x;
		} else if (dtype == LLMK_BF16) {
			uint16_t h = numerics_float_to_bf16(x);
			memcpy(&bytes[2 * i], &h, 2);
			values[i] = numerics_bf16_to_float(h);
		} else {
			bytes[i] = numerics_float_to_e4m3(x);
			values[i] = numerics_e4m3_to_float(bytes[i]);
		}
	}
}

/* float64 attention of token t, head h, and the first-order error bound of each element. */
static void attention_reference(const attention_case &c, const float *q, const float *k, const float *v, int t, int h,
				double *out, double *bound)
{
	const int hd = c.head_dim, kv_dim = c.kv_heads * hd, n = c.pos0 + t + 1;
	const int kv_offset = h / (c.heads / c.kv_heads) * hd;
	const double scale = 1.0 / sqrt((double)hd), u = ldexp(1.0, -11);
	const float *qh = q + ((size_t)t * c.heads + h) * hd;
	std::vector<double> s(n);
	double m = -INFINITY, max_abs_qk = 0, max_v = 0;
	for (int j = 0; j < n; j++) {
		const float *kj = k + (size_t)j * kv_dim + kv_offset;
		double dot = 0, abs_dot = 0;
		for (int i = 0; i < hd; i++) {
			dot += (double)qh[i] * kj[i];
			abs_dot += fabs((double)qh[i] * kj[i]);
		}
		s[j] = dot * scale;
		m = std::max(m, s[j]);
		max_abs_qk = std::max(max_abs_qk, abs_dot);
	}
	double sum = 0;
	for (int j = 0; j < n; j++) {
		s[j] = exp(s[j] - m);
		sum += s[j];
	}
	for (int d = 0; d < hd; d++)
		out[d] = 0;
	for (int j = 0; j < n; j++) {
		const float *vj = v + (size_t)j * kv_dim + kv_offset;
		for (int d = 0; d < hd; d++) {
			out[d] += s[j] / sum * vj[d];
			max_v = std::max(max_v, fabs((double)vj[d]));
		}
	}
	const double u_k = c.dtype == LLMK_F32 ? u : 0, u_v = u_k;
	const double score_error = (u + u_k + hd * ldexp(1.0, -24)) * scale * max_abs_qk;
	const double b = max_v * (expm1(2 * score_error) + 2 * u + u_v + n * (ldexp(1.0, -25) + ldexp(1.0, -23)));
	for (int d = 0; d < hd; d++)
		bound[d] = b;
}

static void check_attention_prefill(attention_case c, uint64_t seed)
{
	const int hd = c.head_dim, kv_dim = c.kv_heads * hd, positions = c.pos0 + c.count;
	const size_t q_count = (size_t)c.count * c.heads * hd, kv_count = (size_t)positions * kv_dim;
	std::vector<float> hq(q_count), hk, hv;
	std::vector<uint8_t> k_bytes, v_bytes;
	for (auto &x : hq) x = uniform_from(seed, 3.0f);
	random_cache(c.dtype, kv_count, 2.0f, seed * 3 + 1, k_bytes, hk);
	random_cache(c.dtype, kv_count, 1.0f, seed * 5 + 2, v_bytes, hv);
	float *q, *out, *first, *kf, *vf; void *kc, *vc;
	CUDA(cudaMalloc(&q, q_count * 4)); CUDA(cudaMalloc(&out, q_count * 4)); CUDA(cudaMalloc(&first, q_count * 4));
	CUDA(cudaMalloc(&kc, k_bytes.size())); CUDA(cudaMalloc(&vc, v_bytes.size()));
	CUDA(cudaMalloc(&kf, kv_count * 4)); CUDA(cudaMalloc(&vf, kv_count * 4));
	CUDA(cudaMemcpy(q, hq.data(), q_count * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(kc, k_bytes.data(), k_bytes.size(), cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(vc, v_bytes.data(), v_bytes.size(), cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(kf, hk.data(), kv_count * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(vf, hv.data(), kv_count * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemset(out, 0xff, q_count * 4)); /* NaN poison */
	const float scale = 1.0f / sqrtf((float)hd);
	CUDA(attention_prefill(q, kc, vc, c.dtype, out, c.count, c.pos0, c.heads, c.kv_heads, hd, scale, 0));
	CUDA(attention_general(q, kf, vf, LLMK_F32, first, c.count, c.pos0, c.heads, c.kv_heads, hd, scale, 0));
	CUDA(cudaDeviceSynchronize());
	std::vector<float> got(q_count), hfirst(q_count);
	CUDA(cudaMemcpy(got.data(), out, q_count * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(hfirst.data(), first, q_count * 4, cudaMemcpyDeviceToHost));
	bool written = true;
	double first_diff = 0;
	for (size_t i = 0; i < q_count; i++) {
		if (!isfinite(got[i])) written = false;
		first_diff = std::max(first_diff, fabs((double)got[i] - hfirst[i]));
	}
	std::vector<int> tokens;
	for (int t = 0; t < c.count; t++)
		if (c.count <= 256 || t % 16 == 0 || t >= c.count - 8) tokens.push_back(t);
	/* the float64 reference, rows spread over the host's threads */
	std::vector<double> ref(tokens.size() * c.heads * hd), bound(ref.size());
	int workers = (int)std::max(1u, std::min(32u, std::thread::hardware_concurrency()));
	std::vector<std::thread> pool;
	for (int w = 0; w < workers; w++)
		pool.emplace_back([&, w]() {
			for (size_t r = w; r < tokens.size() * c.heads; r += workers)
				attention_reference(c, hq.data(), hk.data(), hv.data(), tokens[r / c.heads], (int)(r % c.heads),
						    &ref[r * hd], &bound[r * hd]);
		});
	for (auto &th : pool) th.join();
	double num = 0, den = 0, max_error = 0, worst_ratio = 0, bound_at_worst = 0;
	bool within = true;
	for (size_t r = 0; r < tokens.size() * c.heads; r++)
		for (int d = 0; d < hd; d++) {
			size_t i = r * hd + d;
			double g = got[((size_t)tokens[r / c.heads] * c.heads + r % c.heads) * hd + d], e = fabs(g - ref[i]);
			if (!(e <= bound[i])) within = false; /* NaN too */
			num += e * e; den += ref[i] * ref[i];
			max_error = std::max(max_error, e);
			if (e / bound[i] > worst_ratio) { worst_ratio = e / bound[i]; bound_at_worst = bound[i]; }
		}
	double rms = sqrt(num / den);
	char what[300];
	snprintf(what, sizeof what,
		 "prefill attention %s, %d tokens at %d, %d/%d heads of %d: written, max error %.1e (worst %.2f of its "
		 "bound %.1e), relative RMS %.1e < 4e-3; vs llmk_attention max diff %.1e",
		 dtype_name(c.dtype), c.count, c.pos0, c.heads, c.kv_heads, hd, max_error, worst_ratio, bound_at_worst, rms,
		 first_diff);
	check(written && within && rms < 4e-3, what);
	cudaFree(q); cudaFree(out); cudaFree(first); cudaFree(kc); cudaFree(vc); cudaFree(kf); cudaFree(vf);
}

static void check_attention_prefill_refuses(void)
{
	float *p;
	CUDA(cudaMalloc(&p, 1 << 20));
	bool ok = attention_prefill(p, p, p, LLMK_BF16, p, 4, 0, 8, 8, 96, 0.1f, 0) == cudaErrorNotSupported &&
		  attention_prefill(p, p, p, LLMK_BF16, p, 4, 0, 9, 1, 64, 0.1f, 0) == cudaErrorNotSupported &&
		  attention_prefill(p, p, p, LLMK_BF16, p, 4, 0, 6, 4, 64, 0.1f, 0) == cudaErrorNotSupported &&
		  attention_prefill(p, p, p, LLMK_I8, p, 4, 0, 8, 2, 64, 0.1f, 0) == cudaErrorNotSupported &&
		  attention_prefill(p + 1, p, p, LLMK_BF16, p, 4, 0, 8, 2, 64, 0.1f, 0) == cudaErrorNotSupported;
	check(ok && cudaGetLastError() == cudaSuccess,
	      "prefill attention refuses head_dim 96, groups of 9, uneven groups, int8 caches, unaligned q");
	/* the decode-only fields: a position on the device, a quantized output */
	struct llmk_attention a = attention_args(p, p, p, LLMK_BF16, p, 4, 0, 8, 2, 64, 0.1f);
	a.pos_dev = (const int *)p;
	bool refused = llmk_attention_prefill(&a, 0) == cudaErrorInvalidValue &&
		       llmk_attention_general(&a, 0) == cudaErrorInvalidValue;
	const struct llmk_static_quant outq = {LLMK_QUANT_FP8_STATIC, 1, p, p};
	a.pos_dev = NULL;
	a.outq = &outq;
	refused = refused && llmk_attention_prefill(&a, 0) == cudaErrorInvalidValue &&
		  llmk_attention_general(&a, 0) == cudaErrorInvalidValue;
	const struct llmk_static_quant dynamic = {LLMK_QUANT_INT8_DYNAMIC, 1, p, p};
	a.outq = &dynamic;
	a.scratch = p;
	a.max_tokens = 4;
	refused = refused && llmk_attention_decode(&a, 0) == cudaErrorInvalidValue;
	check(refused && cudaGetLastError() == cudaSuccess,
	      "prefill and general attention refuse a device position or a quantized output; decode a dynamic one");
	cudaFree(p);
}

/* Median of runs of fn, in ms, timed with events after warm-up runs. */
template <typename F> static double median_ms(F fn, int runs)
{
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms;
	for (int i = 0; i < runs + 3; i++) {
		cudaEventRecord(e0); fn(); cudaEventRecord(e1); cudaEventSynchronize(e1);
		float m; cudaEventElapsedTime(&m, e0, e1); if (i >= 3) ms.push_back(m);
	}
	cudaEventDestroy(e0); cudaEventDestroy(e1);
	std::sort(ms.begin(), ms.end());
	return ms[ms.size() / 2];
}

/* Llama-3.1-8B attention (32 heads, 8 KV heads, head_dim 128) of count tokens at
 * position 0: llmk_attention_prefill on bf16, e4m3 and f32 caches and the split-KV
 * path (llmk_attention_decode, one split a token, f32 cache of the same values). */
static void time_attention_prefill(int count)
{
	const int heads = 32, kv_heads = 8, hd = 128, kv_dim = kv_heads * hd;
	const size_t q_count = (size_t)count * heads * hd, kv_count = (size_t)count * kv_dim;
	std::vector<float> hq(q_count), hk, hv;
	std::vector<uint8_t> kb, vb, k8, v8, kf32, vf32;
	uint64_t seed = (uint64_t)(uniform() * 9007199254740992.0) | 1;
	for (auto &x : hq) x = uniform_from(seed, 3.0f);
	random_cache(LLMK_BF16, kv_count, 2.0f, seed + 1, kb, hk);
	random_cache(LLMK_BF16, kv_count, 1.0f, seed + 2, vb, hv);
	random_cache(LLMK_E4M3, kv_count, 2.0f, seed + 3, k8, hk);
	random_cache(LLMK_E4M3, kv_count, 1.0f, seed + 4, v8, hv);
	/* hk, hv now hold the e4m3 values; the f32 cache holds the bf16 ones again */
	random_cache(LLMK_BF16, kv_count, 2.0f, seed + 1, kf32, hk);
	random_cache(LLMK_BF16, kv_count, 1.0f, seed + 2, vf32, hv);
	float *q, *out, *split_out, *kf, *vf, *scratch; void *kc, *vc, *ke, *ve;
	CUDA(cudaMalloc(&q, q_count * 4)); CUDA(cudaMalloc(&out, q_count * 4)); CUDA(cudaMalloc(&split_out, q_count * 4));
	CUDA(cudaMalloc(&kc, kb.size())); CUDA(cudaMalloc(&vc, vb.size()));
	CUDA(cudaMalloc(&ke, k8.size())); CUDA(cudaMalloc(&ve, v8.size()));
	CUDA(cudaMalloc(&kf, kv_count * 4)); CUDA(cudaMalloc(&vf, kv_count * 4));
	CUDA(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, hd, count) * 4));
	CUDA(cudaMemcpy(q, hq.data(), q_count * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(kc, kb.data(), kb.size(), cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(vc, vb.data(), vb.size(), cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(ke, k8.data(), k8.size(), cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(ve, v8.data(), v8.size(), cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(kf, hk.data(), kv_count * 4, cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(vf, hv.data(), kv_count * 4, cudaMemcpyHostToDevice));
	const float scale = 1.0f / sqrtf((float)hd);
	double pairs = (double)count * (count + 1) / 2, flops = 4.0 * heads * hd * pairs;
	cudaError_t status = cudaSuccess;
	auto keep = [&](cudaError_t s) { if (status == cudaSuccess) status = s; };
	double bf16_ms = median_ms([&] { keep(attention_prefill(q, kc, vc, LLMK_BF16, out, count, 0, heads, kv_heads,
									 hd, scale, 0)); }, 20);
	double e4m3_ms = median_ms([&] { keep(attention_prefill(q, ke, ve, LLMK_E4M3, out, count, 0, heads, kv_heads,
									 hd, scale, 0)); }, 20);
	double f32_ms = median_ms([&] { keep(attention_prefill(q, kf, vf, LLMK_F32, out, count, 0, heads, kv_heads,
									hd, scale, 0)); }, 20);
	double split_ms = median_ms([&] { keep(attention_decode(q, kf, vf, LLMK_F32, split_out, count, 0, heads, kv_heads,
								hd, scale, scratch, count, NULL, NULL, 0)); }, 5);
	keep(cudaDeviceSynchronize());
	std::vector<float> a(q_count), b(q_count);
	keep(cudaMemcpy(a.data(), out, q_count * 4, cudaMemcpyDeviceToHost)); /* f32 run: the same values as bf16 */
	keep(cudaMemcpy(b.data(), split_out, q_count * 4, cudaMemcpyDeviceToHost));
	double diff = 0;
	for (size_t i = 0; i < q_count; i++) diff = std::max(diff, (double)fabsf(a[i] - b[i]));
	printf("  8B attention, %4d tokens at 0: prefill bf16 %7.3f ms (%5.1f TFLOP/s), e4m3 %7.3f ms (%5.1f), "
	       "f32 %7.3f ms (%5.1f); split-KV path f32 %8.3f ms (%5.1f TFLOP/s); x32 layers bf16 %.1f ms; "
	       "max diff prefill vs split-KV %.1e\n", count, bf16_ms, flops / bf16_ms / 1e9, e4m3_ms, flops / e4m3_ms / 1e9,
	       f32_ms, flops / f32_ms / 1e9, split_ms, flops / split_ms / 1e9, 32 * bf16_ms, diff);
	char what[160];
	snprintf(what, sizeof what, "8B prefill attention timing at %d tokens ran (%s)", count, cudaGetErrorString(status));
	check(status == cudaSuccess, what);
	cudaFree(q); cudaFree(out); cudaFree(split_out); cudaFree(kc); cudaFree(vc); cudaFree(ke); cudaFree(ve);
	cudaFree(kf); cudaFree(vf); cudaFree(scratch);
}

static void attention_prefill_checks(void)
{
	const enum llmk_dtype dtypes[] = {LLMK_F32, LLMK_BF16, LLMK_E4M3};
	uint64_t seed = (uint64_t)(uniform() * 9007199254740992.0) | 1; /* each case seed + i: a fresh stream */
	for (enum llmk_dtype d : dtypes)
		for (int hd : {64, 128})
			for (int group : {1, 4, 8}) {
				check_attention_prefill({37, 0, 2 * group, 2, hd, d}, seed++);
				check_attention_prefill({256, 300, 2 * group, 2, hd, d}, seed++);
			}
	check_attention_prefill({1, 0, 32, 8, 128, LLMK_BF16}, seed++);
	check_attention_prefill({1, 300, 32, 8, 128, LLMK_BF16}, seed++);
	check_attention_prefill({1, 300, 8, 1, 64, LLMK_E4M3}, seed++);
	check_attention_prefill({1, 77, 2, 2, 128, LLMK_F32}, seed++);
	check_attention_prefill({3, 5, 6, 2, 128, LLMK_BF16}, seed++);   /* group 3: 21 tokens a block */
	check_attention_prefill({100, 1000, 10, 2, 64, LLMK_E4M3}, seed++); /* group 5 */
	check_attention_prefill({70, 0, 7, 1, 128, LLMK_F32}, seed++);   /* group 7 */
	check_attention_prefill({2048, 0, 32, 8, 128, LLMK_BF16}, seed++); /* Llama-3.1-8B */
	check_attention_prefill({2048, 300, 16, 2, 128, LLMK_E4M3}, seed++);
	check_attention_prefill({2048, 0, 2, 2, 64, LLMK_F32}, seed++);
	check_attention_prefill_refuses();
	printf("# prefill attention, Llama-3.1-8B shape (FLOPs = 4 heads head_dim sum_t (pos0 + t + 1)):\n");
	time_attention_prefill(512);
	time_attention_prefill(2048);
}

/* llmk_argmax: the largest value, the lowest index on ties; a NaN anywhere wins (the
 * host refuses the row: broken weights must not become a token). */
static void check_argmax(void)
{
	const int n = 128256;
	std::vector<float> h(n);
	for (int i = 0; i < n; i++)
		h[i] = (float)((i * 7919) % 1000) / 100.0f;   /* max 9.99, first at the lowest such i */
	int want = 0;
	for (int i = 1; i < n; i++)
		if (h[i] > h[want])
			want = i;
	float *x = NULL;
	struct llmk_best *best = NULL, got;
	void *scratch = NULL;
	if (cudaMalloc(&x, n * sizeof(float)) != cudaSuccess || cudaMalloc(&best, sizeof *best) != cudaSuccess ||
	    cudaMalloc(&scratch, llmk_argmax_scratch()) != cudaSuccess) {
		check(false, "argmax: memory");
		return;
	}
	struct { int nans[2]; int count; int index; bool nan; const char *what; } cases[] = {
		{{0, 0}, 0, want, false, "argmax: the largest, lowest index on ties"},
		{{77777, 0}, 1, 77777, true, "argmax: one NaN among numbers wins"},
		{{90001, 5}, 2, 5, true, "argmax: of two NaNs the lower index"},
		{{n - 1, 0}, 1, n - 1, true, "argmax: a NaN at the last index"},
	};
	for (auto &c : cases) {
		std::vector<float> row = h;
		for (int k = 0; k < c.count; k++)
			row[c.nans[k]] = NAN;
		cudaMemcpy(x, row.data(), n * sizeof(float), cudaMemcpyHostToDevice);
		bool ran = llmk_argmax(x, n, 1000, best, scratch, 0) == cudaSuccess &&
			   cudaMemcpy(&got, best, sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess;
		check(ran && got.index == 1000 + c.index && (bool)isnan(got.value) == c.nan, c.what);
	}
	cudaFree(x);
	cudaFree(best);
	cudaFree(scratch);
}

/* The parts a first argument runs alone (see the top of this file). */
struct part {
	const char *name;
	void (*run)(void);
};

static const struct part parts[] = {
	{"argmax", check_argmax},
	{"attention", attention_prefill_checks},
	{"attention-speed", [] { time_attention_prefill(512); time_attention_prefill(2048); }},
	{"decode-attention", [] {
		check_attention_decode(32, 8, 128, 1, 0);
		check_attention_decode(32, 8, 128, 3, 4093);
		check_attention_decode(64, 8, 128, 40, 2000);
		check_kv_cache();
		check_attention_split_contexts();
		time_attention_contexts(measured_copy_bandwidth(), stdout);
	}},
	{"fusions", [] {
		check_gemv_layouts_and_fusions(LLMK_E4M3, "FP8", 4096, 1024, 14336, 4096);
		check_gemv_layouts_and_fusions(LLMK_I8, "INT8", 1000, 24, 301, 512);
		check_attention_split_contexts();
		check_engine_fusions();
	}},
};

int main(int argc, char **argv)
{
	cudaDeviceProp prop; cudaGetDeviceProperties(&prop, 0);
	printf("# %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
	rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) * 2654435761u | 1;
	printf("# random seed %#llx (kernel_checks TABLE SEED repeats a run)\n", (unsigned long long)rng_state);
	for (const struct part &p : parts)
		if (argc > 1 && strcmp(argv[1], p.name) == 0) {
			p.run();
			printf("%d passed, %d failed\n", passed, failed);
			return failed ? 1 : 0;
		}
	FILE *table = fopen(argc > 1 ? argv[1] : "gemv_timings.tsv", "w");
	if (!table) { printf("not ok - open the timings table\n"); return 1; }
	const enum llmk_dtype dtypes[] = {LLMK_BF16, LLMK_E4M3, LLMK_I8};
	const char *names[] = {"BF16", "FP8", "INT8"};
	for (int d = 0; d < 3; d++)
		for (int count : {1, 3, 4, 7}) {
			check_linear(dtypes[d], 256, 4096, count, names[d]);
			check_linear(dtypes[d], 100, 200, count, names[d]); /* 200 x 2 bytes is not 16-byte rows for BF16 */
		}
	check_quantize(LLMK_QUANT_FP8_STATIC, "FP8 static");
	check_quantize(LLMK_QUANT_FP8_DYNAMIC, "FP8 dynamic");
	check_quantize(LLMK_QUANT_INT8_DYNAMIC, "INT8 dynamic");
	check_quantize(LLMK_QUANT_INT8_STATIC, "INT8 static");
	check_attention_decode(32, 8, 128, 1, 0);
	check_attention_decode(32, 8, 128, 1, 127);
	check_attention_decode(32, 8, 128, 3, 4093);
	check_attention_decode(64, 8, 128, 1, 5000);
	check_attention_decode(32, 4, 64, 8, 300);
	check_attention_decode(32, 8, 128, 64, 0);    /* prefill: one split a token */
	check_attention_decode(64, 8, 128, 40, 2000);
	check_kv_cache();
	check_attention_split_contexts();
	check_argmax();
	attention_prefill_checks();
	check_fused_quantizers();
	check_engine_fusions();
	check_gemv_layouts_and_fusions(LLMK_E4M3, "FP8", 4096, 1024, 14336, 4096);
	check_gemv_layouts_and_fusions(LLMK_I8, "INT8", 4096, 1024, 14336, 4096);
	check_gemv_layouts_and_fusions(LLMK_BF16, "BF16", 4096, 1024, 14336, 4096);
	check_gemv_layouts_and_fusions(LLMK_E4M3, "FP8", 1000, 24, 300, 14336); /* rows not a multiple of 4 */
	check_gemv_layouts_and_fusions(LLMK_I8, "INT8", 1000, 24, 301, 512);
	struct llmk_gemm *gemm = NULL;
	char gerr[256];
	check(llmk_gemm_create(&gemm, gerr, sizeof gerr) == 0, "cuBLASLt handle");
	if (gemm) {
		for (int count : {8, 64, 300}) {
			check_gemm(gemm, LLMK_E4M3, 512, 4096, count);
			check_gemm(gemm, LLMK_I8, 512, 4096, count);
		}
		printf("# prefill GEMMs (cuBLASLt), including the INT8 dequantizing epilogue:\n");
		for (int d = 1; d < 3; d++) {
			time_gemm(gemm, dtypes[d], 8192, 8192, 8192, "8192^3 (peak)");
			time_gemm(gemm, dtypes[d], 14336, 4096, 2048, "8B gate/up");
			time_gemm(gemm, dtypes[d], 4096, 14336, 2048, "8B down");
			time_gemm(gemm, dtypes[d], 4096, 4096, 2048, "8B q/o_proj");
			time_gemm(gemm, dtypes[d], 28672, 8192, 2048, "70B gate/up");
		}
	}
	double copy = measured_copy_bandwidth();
	struct { int rows, cols; const char *name; } shapes[] = {
		{4096, 4096, "8B q/o_proj"}, {1024, 4096, "8B k/v_proj"}, {14336, 4096, "8B gate/up"}, {4096, 14336, "8B down"},
		{8192, 8192, "70B q/o_proj"}, {1024, 8192, "70B k/v_proj"}, {28672, 8192, "70B gate/up"}, {8192, 28672, "70B down"},
	};
	printf("# decode GEMV, 1 token, weights only counted, per launch inside a CUDA graph (%% of the copy bandwidth);\n"
	       "# warp = the warp-a-row kernel (before), rbN = a block of 256 threads on N rows (programmatic dependent\n"
	       "# launch; rb2-plain without it), auto = llmk_gemv's choice (what llmk_linear runs for FP8 and INT8)\n");
	for (int d = 1; d < 3; d++)
		for (auto &s : shapes)
			time_gemv(dtypes[d], s.rows, s.cols, s.name, copy, table);
	time_gemv(LLMK_BF16, 128256, 4096, "8B lm_head", copy, table);
	printf("# fused one-token GEMVs against the launches they replace, per layer:\n");
	for (int d = 1; d < 3; d++) {
		time_fused(dtypes[d], 4096, 4096, 1024, 14336, "8B", copy, table);
		time_fused(dtypes[d], 8192, 8192, 1024, 28672, "70B", copy, table);
	}
	time_attention_contexts(copy, table);
	fclose(table);
	llmk_gemm_free(gemm);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
