/*
 * kernel_checks.cu - the linear-layer kernels against a float64 reference, and the
 * decode GEMV's speed next to the copy bandwidth measured in the same run.
 *
 *   kernel_checks            (built and run by tests/gpu/run.sh on the device machine)
 *
 * Checks: for BF16, FP8 e4m3 and INT8 weights, random weights and random quantized
 * activations (never zeros), outputs poisoned with NaN first, llmk_linear for 1, 3
 * and 7 tokens (the GEMV and the general kernel) against sum(w * a) * scales in
 * float64, relative error < 1e-5 (FP8, BF16: float32 accumulation of exact
 * products; INT8: exact).  Then llmk_quantize against the CPU path's numerics
 * (numerics.h) bit for bit.  Timing: one token through each Llama-3.1-8B and
 * 70B projection shape, weights rotated over enough copies that L2 cannot hold
 * them, median of 50 launches timed with events; bytes moved = the weights.
 * Prefill attention (llmk_attention_prefill) against float64 and next to the
 * first-version kernel, then its rate next to the split-KV path's (see the comment
 * above check_attention_prefill).  `kernel_checks attention` runs only that part,
 * `kernel_checks attention-speed` only its timings.
 * Prints one "ok"/"not ok" line per check and a table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#include <algorithm>
#include <thread>

#include <cuda_runtime.h>

extern "C" {
#include "attention_prefill.h"
#include "gemm_cublaslt.h"
#include "llm_kernels.h"
#include "numerics.h"
}

static int passed, failed;
static void check(bool ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	ok ? passed++ : failed++;
}

#define CUDA(call) do { cudaError_t s_ = (call); if (s_ != cudaSuccess) { \
	printf("not ok - %s: %s\n", #call, cudaGetErrorString(s_)); failed++; return; } } while (0)

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

static void time_gemv(enum llmk_dtype dtype, int rows, int cols, const char *shape, double copy_gbs)
{
	size_t esize = dtype == LLMK_BF16 ? 2 : 1, wbytes = (size_t)rows * cols * esize;
	int copies = (int)std::max<size_t>(2, (size_t)(512u << 20) / wbytes + 1);
	std::vector<uint8_t *> w(copies);
	for (int c = 0; c < copies; c++) {
		if (cudaMalloc(&w[c], wbytes) != cudaSuccess) { printf("not ok - alloc %s\n", shape); failed++; return; }
		if (dtype == LLMK_BF16) fill(w[c], wbytes / 2, LLMK_BF16, c);
		else fill(w[c], wbytes, dtype, c);
	}
	uint8_t *xq; float *x, *y, *xs, *ws;
	cudaMalloc(&xq, cols); cudaMalloc(&x, cols * 4); cudaMalloc(&y, rows * 4); cudaMalloc(&xs, 4); cudaMalloc(&ws, rows * 4);
	fill(xq, cols, dtype == LLMK_BF16 ? LLMK_I8 : dtype, 5);
	std::vector<float> ones(std::max(rows, cols), 0.5f);
	cudaMemcpy(x, ones.data(), cols * 4, cudaMemcpyHostToDevice);
	cudaMemcpy(xs, ones.data(), 4, cudaMemcpyHostToDevice);
	cudaMemcpy(ws, ones.data(), rows * 4, cudaMemcpyHostToDevice);
	bool q = dtype != LLMK_BF16;
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms;
	for (int i = 0; i < 60; i++) {
		cudaEventRecord(e0);
		llmk_linear(w[i % copies], dtype, rows, cols, q ? ws : NULL, q ? rows : 0, x, xq, xs, 1, y, rows, 0);
		cudaEventRecord(e1); cudaEventSynchronize(e1);
		float m; cudaEventElapsedTime(&m, e0, e1); if (i >= 10) ms.push_back(m);
	}
	std::sort(ms.begin(), ms.end());
	double t = ms[ms.size() / 2] * 1e-3, gbs = wbytes / t / 1e9;
	printf("  %-6s %-14s %6dx%-6d %8.1f us %8.0f GB/s %6.1f%% of copy\n", dtype == LLMK_BF16 ? "BF16" :
	       dtype == LLMK_E4M3 ? "FP8" : "INT8", shape, rows, cols, t * 1e6, gbs, 100 * gbs / copy_gbs);
	for (auto p : w) cudaFree(p);
	cudaFree(xq); cudaFree(x); cudaFree(y); cudaFree(xs); cudaFree(ws);
	check(cudaGetLastError() == cudaSuccess, "GEMV timing run without a CUDA error");
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
	CUDA(llmk_attention(q, kc, vc, a, count, pos0, heads, kv_heads, head_dim, scale, 0));
	CUDA(llmk_attention_decode(q, kc, vc, b, count, pos0, heads, kv_heads, head_dim, scale, scratch, 64, 0));
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

static const char *dtype_name(enum llmk_dtype d)
{
	return d == LLMK_F32 ? "f32" : d == LLMK_BF16 ? "bf16" : d == LLMK_E4M3 ? "e4m3" : "?";
}

static size_t dtype_size(enum llmk_dtype d)
{
	return d == LLMK_F32 ? 4 : d == LLMK_BF16 ? 2 : 1;
}

/* Uniform in [-amplitude, amplitude) from a 64-bit xorshift. */
static float uniform(uint64_t &state, float amplitude)
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
		float x = uniform(seed, amplitude);
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
	for (auto &x : hq) x = uniform(seed, 3.0f);
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
	CUDA(llmk_attention_prefill(q, kc, vc, c.dtype, out, c.count, c.pos0, c.heads, c.kv_heads, hd, scale, 0));
	CUDA(llmk_attention(q, kf, vf, first, c.count, c.pos0, c.heads, c.kv_heads, hd, scale, 0));
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
	bool ok = llmk_attention_prefill(p, p, p, LLMK_BF16, p, 4, 0, 8, 8, 96, 0.1f, 0) == cudaErrorNotSupported &&
		  llmk_attention_prefill(p, p, p, LLMK_BF16, p, 4, 0, 9, 1, 64, 0.1f, 0) == cudaErrorNotSupported &&
		  llmk_attention_prefill(p, p, p, LLMK_BF16, p, 4, 0, 6, 4, 64, 0.1f, 0) == cudaErrorNotSupported &&
		  llmk_attention_prefill(p, p, p, LLMK_I8, p, 4, 0, 8, 2, 64, 0.1f, 0) == cudaErrorNotSupported &&
		  llmk_attention_prefill(p + 1, p, p, LLMK_BF16, p, 4, 0, 8, 2, 64, 0.1f, 0) == cudaErrorNotSupported;
	check(ok && cudaGetLastError() == cudaSuccess,
	      "prefill attention refuses head_dim 96, groups of 9, uneven groups, int8 caches, unaligned q");
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
	uint64_t seed = 977 + count;
	for (auto &x : hq) x = uniform(seed, 3.0f);
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
	double bf16_ms = median_ms([&] { keep(llmk_attention_prefill(q, kc, vc, LLMK_BF16, out, count, 0, heads, kv_heads,
									 hd, scale, 0)); }, 20);
	double e4m3_ms = median_ms([&] { keep(llmk_attention_prefill(q, ke, ve, LLMK_E4M3, out, count, 0, heads, kv_heads,
									 hd, scale, 0)); }, 20);
	double f32_ms = median_ms([&] { keep(llmk_attention_prefill(q, kf, vf, LLMK_F32, out, count, 0, heads, kv_heads,
									hd, scale, 0)); }, 20);
	double split_ms = median_ms([&] { keep(llmk_attention_decode(q, kf, vf, split_out, count, 0, heads, kv_heads, hd,
								      scale, scratch, count, 0)); }, 5);
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
	uint64_t seed = 12345;
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

int main(int argc, char **argv)
{
	cudaDeviceProp prop; cudaGetDeviceProperties(&prop, 0);
	printf("# %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
	if (argc > 1 && strcmp(argv[1], "attention-speed") == 0) {
		time_attention_prefill(512);
		time_attention_prefill(2048);
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	if (argc > 1 && strcmp(argv[1], "attention") == 0) {
		attention_prefill_checks();
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
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
	attention_prefill_checks();
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
	double copy = copy_bandwidth();
	printf("# device-to-device copy: %.0f GB/s (bytes read + written, 2 GiB, median of 10)\n", copy);
	struct { int rows, cols; const char *name; } shapes[] = {
		{4096, 4096, "8B q/o_proj"}, {1024, 4096, "8B k/v_proj"}, {14336, 4096, "8B gate/up"}, {4096, 14336, "8B down"},
		{8192, 8192, "70B q/o_proj"}, {1024, 8192, "70B k/v_proj"}, {28672, 8192, "70B gate/up"}, {8192, 28672, "70B down"},
	};
	printf("# decode GEMV, 1 token, weights only counted:\n");
	for (int d = 1; d < 3; d++)
		for (auto &s : shapes)
			time_gemv(dtypes[d], s.rows, s.cols, s.name, copy);
	time_gemv(LLMK_BF16, 128256, 4096, "8B lm_head", copy);
	llmk_gemm_free(gemm);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
