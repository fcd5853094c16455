/*
 * linear_checks.cu - the products of the linear layers against float64 or against one
 * another, and the decode GEMV's speed next to the copy bandwidth of the same run.
 *
 *   linear_checks [TABLE [SEED]]   (built and run by tests/gpu/run.sh on the device machine;
 *                                   TABLE, by default gemv_timings.tsv, gets the GEMV
 *                                   timings as tab-separated lines)
 *   linear_checks fusions [SEED]   only the fused GEMVs' checks (the forms below, and the
 *                                   static quantization written by the fused gate/up)
 *
 * Checks, on random inputs (the seed is printed; never zeros), outputs poisoned first:
 * - llmk_linear for BF16, FP8 e4m3 and INT8 weights, 1, 3, 4 and 7 tokens, against
 *   sum(w * a) * scales in float64, relative error < 1e-5 (FP8, BF16: float32
 *   accumulation of exact products; INT8: exact);
 * - the one-token GEMV: every block layout, the fused q/k/v and the fused gate/up +
 *   SwiGLU bit for bit against llmk_gemv's automatic layout (and llmk_swiglu), and the
 *   static quantization the fused gate/up + SwiGLU writes for down_proj: llmk_quantize's
 *   bits;
 * - the cuBLASLt prefill GEMMs (FP8, INT8) against float64.
 * Timing: the cuBLASLt prefill GEMMs; the one-token GEMV at each Llama-3.1-8B and
 * 70B projection shape, each launch inside a CUDA graph on its own copy of the
 * weights (copies rotated so that L2 holds none), per-launch time and bandwidth
 * against the device-to-device copy; the fused GEMVs against the launches they replace.
 * Prints one "ok"/"not ok" line per check, the tables, then "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "gemm_cublaslt.h"
#include "llm_kernels.h"
#include "numerics.h"
}
#include "check_program.cuh"
#include "device_buffers.cuh"
#include "kernel_check_common.cuh"

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
	CUDA_OR_RETURN(cudaMalloc(&w, wbytes)); CUDA_OR_RETURN(cudaMalloc(&xq, (size_t)count * cols));
	CUDA_OR_RETURN(cudaMalloc(&x, (size_t)count * cols * 4));
	CUDA_OR_RETURN(cudaMalloc(&y, (size_t)count * rows * 4));
	CUDA_OR_RETURN(cudaMalloc(&xs, count * 4)); CUDA_OR_RETURN(cudaMalloc(&ws, rows * 4));
	if (dtype == LLMK_BF16) fill(w, (size_t)rows * cols, LLMK_BF16, 11);
	else fill(w, wbytes, dtype, 11);
	fill(xq, (size_t)count * cols, dtype == LLMK_BF16 ? LLMK_I8 : dtype, 23);
	std::vector<float> hx((size_t)count * cols), hxs(count), hws(rows);
	for (size_t i = 0; i < hx.size(); i++) hx[i] = (float)((i * 7919 % 2001) - 1000) / 997.0f;
	for (int t = 0; t < count; t++) hxs[t] = 0.01f * (t + 1);
	for (int r = 0; r < rows; r++) hws[r] = 0.001f * (1 + r % 13);
	CUDA_OR_RETURN(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(xs, hxs.data(), count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(ws, hws.data(), rows * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(y, 0xff, (size_t)count * rows * 4)); /* NaN poison */
	bool quantized = dtype != LLMK_BF16;
	CUDA_OR_RETURN(llmk_linear(w, dtype, rows, cols, quantized ? ws : NULL, quantized ? rows : 0, x, xq, xs, count, y,
				   rows, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	std::vector<uint8_t> hw(wbytes), hq((size_t)count * cols);
	std::vector<float> hy((size_t)count * rows);
	CUDA_OR_RETURN(cudaMemcpy(hw.data(), w, wbytes, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(hq.data(), xq, hq.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(hy.data(), y, hy.size() * 4, cudaMemcpyDeviceToHost));
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

/* The product added to y (add_to_y: the residual stream, prefill's o_proj and
 * down_proj) against the product alone (product, from the same operands) plus y's
 * random values: INT8 the bits of a float add of the two; FP8 (cuBLASLt's beta, which
 * may round the product and the add once) within a thousandth of the product plus an
 * ulp of the sum, where a missing or doubled add is off by the product or by y. */
static void check_gemm_add(struct llmk_gemm *g, enum llmk_dtype dtype, int rows, int cols, int count, const void *w,
			   const void *xq, const float *ws, const float *scales, int32_t *acc, float *y,
			   const std::vector<float> &product)
{
	std::vector<float> residual(product.size()), got(product.size());
	for (float &v : residual) v = uniform_in(-4, 4);
	CUDA_OR_RETURN(cudaMemcpy(y, residual.data(), residual.size() * 4, cudaMemcpyHostToDevice));
	char err[256] = "";
	int rc = dtype == LLMK_E4M3 ? llmk_gemm_fp8(g, w, rows, cols, ws, xq, scales, count, y, true, 0, err, sizeof err)
				    : llmk_gemm_int8(g, w, rows, cols, ws, rows, xq, scales, count, acc, y, true, 0, err, sizeof err);
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	CUDA_OR_RETURN(cudaMemcpy(got.data(), y, got.size() * 4, cudaMemcpyDeviceToHost));
	size_t differing = 0;
	double worst = 0; /* |got - sum| over its allowance */
	for (size_t i = 0; i < got.size(); i++) {
		const float sum = residual[i] + product[i];
		if (got[i] != sum) differing++;
		const double ulp = (double)std::nextafter(std::fabs(sum), INFINITY) - std::fabs(sum);
		const double allowance = 1e-3 * std::fabs((double)product[i]) + ulp;
		worst = std::max(worst, isfinite(got[i]) ? std::fabs((double)got[i] - sum) / allowance : INFINITY);
	}
	const bool exact = dtype == LLMK_I8;
	char what[240];
	snprintf(what, sizeof what, "cuBLASLt %s GEMM added to y, %d tokens (%s): %zu of %zu differ from y + product%s, "
		 "worst %.2f of its allowance", exact ? "INT8" : "FP8", count, rc == 0 ? "ran" : err, differing, got.size(),
		 exact ? " (none may)" : "", worst);
	check(rc == 0 && (exact ? differing == 0 : worst <= 1), what);
}

/* The prefill GEMMs (cuBLASLt) against float64, then their rate. */
static void check_gemm(struct llmk_gemm *g, enum llmk_dtype dtype, int rows, int cols, int count)
{
	uint8_t *w, *xq; float *y, *scales, *ws; int32_t *acc;
	CUDA_OR_RETURN(cudaMalloc(&w, (size_t)rows * cols)); CUDA_OR_RETURN(cudaMalloc(&xq, (size_t)count * cols));
	CUDA_OR_RETURN(cudaMalloc(&y, (size_t)count * rows * 4));
	CUDA_OR_RETURN(cudaMalloc(&acc, (size_t)count * rows * 4));
	CUDA_OR_RETURN(cudaMalloc(&scales, count * 4)); CUDA_OR_RETURN(cudaMalloc(&ws, rows * 4));
	fill(w, (size_t)rows * cols, dtype, 31);
	fill(xq, (size_t)count * cols, dtype, 37);
	std::vector<float> hs(count), hws(rows);
	for (int t = 0; t < count; t++) hs[t] = dtype == LLMK_E4M3 ? 0.02f : 0.01f * (1 + t % 5);
	for (int r = 0; r < rows; r++) hws[r] = dtype == LLMK_E4M3 ? 0.003f : 0.001f * (1 + r % 7);
	CUDA_OR_RETURN(cudaMemcpy(scales, hs.data(), count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(ws, hws.data(), rows * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(y, 0xff, (size_t)count * rows * 4));
	char err[256] = "";
	int rc = dtype == LLMK_E4M3 ? llmk_gemm_fp8(g, w, rows, cols, ws, xq, scales, count, y, false, 0, err, sizeof err)
				    : llmk_gemm_int8(g, w, rows, cols, ws, rows, xq, scales, count, acc, y, false, 0, err, sizeof err);
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	char what[200];
	snprintf(what, sizeof what, "cuBLASLt %s GEMM %dx%d, %d tokens runs (%s)", dtype == LLMK_E4M3 ? "FP8" : "INT8",
		 rows, cols, count, rc == 0 ? "yes" : rc == 1 ? "no algorithm" : err);
	check(rc == 0, what);
	if (rc != 0) return;
	std::vector<uint8_t> hw((size_t)rows * cols), hq((size_t)count * cols);
	std::vector<float> hy((size_t)count * rows);
	CUDA_OR_RETURN(cudaMemcpy(hw.data(), w, hw.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(hq.data(), xq, hq.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(hy.data(), y, hy.size() * 4, cudaMemcpyDeviceToHost));
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
	check_gemm_add(g, dtype, rows, cols, count, w, xq, ws, scales, acc, y, hy);
	cudaFree(w); cudaFree(xq); cudaFree(y); cudaFree(acc); cudaFree(scales); cudaFree(ws);
}

/* llmk_gemm_bf16: BF16 weights times float inputs (split in two BF16 parts) against
 * float64, outputs poisoned first.  The split keeps about 16 bits of each input: the
 * error bound is 1e-4 relative, where one BF16 part would give about 4e-3 (also checked,
 * so that a GEMM on the high part alone fails). */
static void check_gemm_bf16(struct llmk_gemm *g, int rows, int cols, int count)
{
	void *w, *split; float *x, *y;
	CUDA_OR_RETURN(cudaMalloc(&w, (size_t)rows * cols * 2)); CUDA_OR_RETURN(cudaMalloc(&x, (size_t)count * cols * 4));
	CUDA_OR_RETURN(cudaMalloc(&split, (size_t)count * cols * 4)); CUDA_OR_RETURN(cudaMalloc(&y, (size_t)count * rows * 4));
	fill(w, (size_t)rows * cols, LLMK_BF16, 53);
	std::vector<float> hx((size_t)count * cols);
	for (float &v : hx) v = uniform_in(-3, 3);
	CUDA_OR_RETURN(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(y, 0xff, (size_t)count * rows * 4));
	char err[256] = "";
	int rc = llmk_gemm_bf16(g, w, rows, cols, x, count, split, y, 0, err, sizeof err);
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	char what[200];
	snprintf(what, sizeof what, "cuBLASLt BF16 GEMM %dx%d, %d tokens runs (%s)", rows, cols, count,
		 rc == 0 ? "yes" : rc == 1 ? "no algorithm" : err);
	check(rc == 0, what);
	if (rc == 0) {
		std::vector<uint8_t> hw((size_t)rows * cols * 2);
		std::vector<float> hy((size_t)count * rows);
		CUDA_OR_RETURN(cudaMemcpy(hw.data(), w, hw.size(), cudaMemcpyDeviceToHost));
		CUDA_OR_RETURN(cudaMemcpy(hy.data(), y, hy.size() * 4, cudaMemcpyDeviceToHost));
		double num = 0, num_hi = 0, den = 0; bool written = true;
		for (int t = 0; t < count; t++)
			for (int r = 0; r < rows; r++) {
				double a = 0, a_hi = 0;
				for (int i = 0; i < cols; i++) {
					double wv = host_weight(hw.data(), LLMK_BF16, (size_t)r * cols + i);
					float xv = hx[(size_t)t * cols + i];
					a += wv * xv;
					a_hi += wv * numerics_bf16_to_float(numerics_float_to_bf16(xv));
				}
				double got = hy[(size_t)t * rows + r];
				if (!isfinite(got)) written = false;
				num += (got - a) * (got - a); num_hi += (a_hi - a) * (a_hi - a); den += a * a;
			}
		snprintf(what, sizeof what, "cuBLASLt BF16 GEMM: every output written, relative error %.2e < 1e-4 "
			 "(one BF16 part of the inputs alone: %.2e)", sqrt(num / den), sqrt(num_hi / den));
		check(written && sqrt(num / den) < 1e-4 && sqrt(num_hi / den) > 1e-3, what);
	}
	cudaFree(w); cudaFree(x); cudaFree(split); cudaFree(y);
}

/* The BF16 product's time: the split and its two GEMMs, next to one BF16 GEMM's FLOPs. */
static void time_gemm_bf16(struct llmk_gemm *g, int rows, int cols, int count, const char *shape)
{
	void *w, *split; float *x, *y;
	CUDA_OR_RETURN(cudaMalloc(&w, (size_t)rows * cols * 2)); CUDA_OR_RETURN(cudaMalloc(&x, (size_t)count * cols * 4));
	CUDA_OR_RETURN(cudaMalloc(&split, (size_t)count * cols * 4)); CUDA_OR_RETURN(cudaMalloc(&y, (size_t)count * rows * 4));
	fill(w, (size_t)rows * cols, LLMK_BF16, 59);
	CUDA_OR_RETURN(cudaMemset(x, 0, (size_t)count * cols * 4));
	char err[256] = "";
	int rc = 0;
	cudaEvent_t a, b;
	cudaEventCreate(&a); cudaEventCreate(&b);
	for (int i = 0; i < 3; i++) rc |= llmk_gemm_bf16(g, w, rows, cols, x, count, split, y, 0, err, sizeof err);
	const int reps = 10;
	cudaEventRecord(a);
	for (int i = 0; i < reps; i++) rc |= llmk_gemm_bf16(g, w, rows, cols, x, count, split, y, 0, err, sizeof err);
	cudaEventRecord(b);
	cudaEventSynchronize(b);
	float ms = 0;
	cudaEventElapsedTime(&ms, a, b);
	ms /= reps;
	printf("# BF16 GEMM (split input, two products) %s %dx%dx%d: %.3f ms, %.0f TFLOP/s of one product%s\n", shape, rows,
	       cols, count, ms, 2.0 * rows * cols * count / (ms * 1e-3) / 1e12, rc ? " (FAILED)" : "");
	cudaEventDestroy(a); cudaEventDestroy(b);
	cudaFree(w); cudaFree(x); cudaFree(split); cudaFree(y);
}

static void time_gemm(struct llmk_gemm *g, enum llmk_dtype dtype, int rows, int cols, int count, const char *shape)
{
	uint8_t *w, *xq; float *y, *scales, *ws; int32_t *acc;
	CUDA_OR_RETURN(cudaMalloc(&w, (size_t)rows * cols)); CUDA_OR_RETURN(cudaMalloc(&xq, (size_t)count * cols));
	CUDA_OR_RETURN(cudaMalloc(&y, (size_t)count * rows * 4));
	CUDA_OR_RETURN(cudaMalloc(&acc, (size_t)count * rows * 4));
	CUDA_OR_RETURN(cudaMalloc(&scales, count * 4)); CUDA_OR_RETURN(cudaMalloc(&ws, rows * 4));
	fill(w, (size_t)rows * cols, dtype, 41);
	fill(xq, (size_t)count * cols, dtype, 43);
	std::vector<float> half(std::max(rows, count), 0.5f);
	cudaMemcpy(scales, half.data(), count * 4, cudaMemcpyHostToDevice);
	cudaMemcpy(ws, half.data(), rows * 4, cudaMemcpyHostToDevice);
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms; char err[256];
	for (int i = 0; i < 25; i++) {
		cudaEventRecord(e0);
		int rc = dtype == LLMK_E4M3 ? llmk_gemm_fp8(g, w, rows, cols, ws, xq, scales, count, y, false, 0, err, sizeof err)
					    : llmk_gemm_int8(g, w, rows, cols, ws, rows, xq, scales, count, acc, y, false, 0, err, sizeof err);
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
	CUDA_OR_RETURN(cudaMalloc(&ff, rows * 4)); CUDA_OR_RETURN(cudaMalloc(&xq, rows));
	CUDA_OR_RETURN(cudaMalloc(&xq_ref, rows));
	CUDA_OR_RETURN(cudaMalloc(&xs, 4)); CUDA_OR_RETURN(cudaMalloc(&ref_scale, 4));
	for (enum llmk_quant quant : {LLMK_QUANT_FP8_STATIC, LLMK_QUANT_INT8_STATIC}) {
		const bool fp8 = quant == LLMK_QUANT_FP8_STATIC;
		const struct llmk_static_quant yq = {quant, 0.8f * largest / (fp8 ? 448 : 127), xq, xs};
		CUDA_OR_RETURN(cudaMemset(ff, 0xff, rows * 4)); CUDA_OR_RETURN(cudaMemset(xq, 0x55, rows));
		CUDA_OR_RETURN(cudaMemset(xs, 0xff, 4));
		CUDA_OR_RETURN(llmk_gemv_swiglu(gate, up, &input, ff, &yq, 0));
		CUDA_OR_RETURN(llmk_quantize(ff, 1, rows, quant, yq.scale, xq_ref, ref_scale, 0));
		CUDA_OR_RETURN(cudaDeviceSynchronize());
		float got_scale = 0, want_scale = 1;
		CUDA_OR_RETURN(cudaMemcpy(&got_scale, xs, 4, cudaMemcpyDeviceToHost));
		CUDA_OR_RETURN(cudaMemcpy(&want_scale, ref_scale, 4, cudaMemcpyDeviceToHost));
		const size_t bad_floats = differ(device_floats(ff, rows), want_ff);
		const size_t bad_bytes = differing_bytes(xq, xq_ref, rows); /* device buffers */
		char what[240];
		snprintf(what, sizeof what, "%s fused gate/up + SwiGLU with its output quantized (%s static, %d rows): floats "
			 "as without (%zu differ), bytes and scale llmk_quantize's (%zu bytes differ, scale %s)", name,
			 fp8 ? "FP8" : "INT8", rows, bad_floats, bad_bytes, got_scale == want_scale ? "equal" : "differs");
		check(bad_floats == 0 && bad_bytes == 0 && got_scale == want_scale, what);
	}
	const struct llmk_static_quant dynamic = {LLMK_QUANT_INT8_DYNAMIC, 1, xq, xs};
	char what[200];
	snprintf(what, sizeof what, "%s fused gate/up + SwiGLU refuses a dynamic output scheme", name);
	check(llmk_gemv_swiglu(gate, up, &input, ff, &dynamic, 0) == cudaErrorInvalidValue, what);
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
	float *y; CUDA_OR_RETURN(cudaMalloc(&y, q_rows * 4));
	const struct llmk_gemv_input input = {dtype, cols, in.x, in.xq, in.xs};
	CUDA_OR_RETURN(llmk_gemv(&m[0], &input, -1, 0));
	std::vector<float> want_q = device_floats(m[0].y, q_rows);
	size_t bad = 0;
	for (int rpb : {1, 2, 4}) {
		CUDA_OR_RETURN(cudaMemset(y, 0xff, q_rows * 4));
		struct llmk_gemv_matrix into_y = m[0];
		into_y.y = y;
		CUDA_OR_RETURN(llmk_gemv(&into_y, &input, rpb, 0));
		bad += differ(device_floats(y, q_rows), want_q);
	}
	snprintf(what, sizeof what, "%s GEMV %dx%d, 1 token: rows a block 1, 2, 4 give the same bits (%zu differ)",
		 name, q_rows, cols, bad);
	check(bad == 0, what);
	/* q/k/v in one launch against three */
	std::vector<float> want[3];
	for (int i = 0; i < 3; i++) {
		CUDA_OR_RETURN(llmk_gemv(&m[i], &input, -1, 0));
		want[i] = device_floats(m[i].y, m[i].rows);
		CUDA_OR_RETURN(cudaMemset(m[i].y, 0xff, m[i].rows * 4));
	}
	CUDA_OR_RETURN(llmk_gemv_multi(m, 3, &input, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	bad = 0;
	for (int i = 0; i < 3; i++) bad += differ(device_floats(m[i].y, m[i].rows), want[i]);
	snprintf(what, sizeof what, "%s fused q/k/v GEMV (%d+%d+%d rows x %d): llmk_gemv's bits (%zu differ)", name,
		 q_rows, kv_rows, kv_rows, cols, bad);
	check(bad == 0, what);
	/* gate/up + SwiGLU in one launch against llmk_gemv x 2 + llmk_swiglu */
	CUDA_OR_RETURN(llmk_gemv(&gate, &input, -1, 0));
	CUDA_OR_RETURN(llmk_gemv(&up, &input, -1, 0));
	CUDA_OR_RETURN(llmk_swiglu(gate.y, up.y, ff_rows, 0));
	std::vector<float> want_ff = device_floats(gate.y, ff_rows);
	float *ff; CUDA_OR_RETURN(cudaMalloc(&ff, ff_rows * 4)); CUDA_OR_RETURN(cudaMemset(ff, 0xff, ff_rows * 4));
	CUDA_OR_RETURN(llmk_gemv_swiglu(&gate, &up, &input, ff, NULL, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
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
 * (rotated over enough copies that L2 holds none of them when it is read again:
 * weight_copies, kernel_check_common.cuh). */

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
	char what[200];
	snprintf(what, sizeof what, "%s %s GEMV timed in a graph without a CUDA error", dname, shape);
	check(ok && cudaGetLastError() == cudaSuccess, what);
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
	char what[200];
	snprintf(what, sizeof what, "%s %s fused GEMVs timed in a graph without a CUDA error", dname, model);
	check(unfused_qkv > 0 && fused_qkv > 0 && unfused_ff > 0 && fused_ff > 0 && cudaGetLastError() == cudaSuccess,
	      what);
}

int main(int argc, char **argv)
{
	/* argv[1] is the table or "fusions"; the seed, if any, follows it */
	if (!check_program_start(argc - 1, argv + 1, "linear_checks TABLE")) return 1;
	print_device_caches();
	if (argc > 1 && strcmp(argv[1], "fusions") == 0) {
		check_gemv_layouts_and_fusions(LLMK_E4M3, "FP8", 4096, 1024, 14336, 4096);
		check_gemv_layouts_and_fusions(LLMK_I8, "INT8", 1000, 24, 301, 512);
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
			check_gemm_bf16(gemm, 512, 4096, count);
		}
		check_gemm_bf16(gemm, 301, 200, 10); /* rows not a multiple of anything */
		time_gemm_bf16(gemm, 14336, 4096, 2048, "8B gate/up");
		time_gemm_bf16(gemm, 4096, 4096, 16, "8B q/o_proj, 16 tokens");
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
	fclose(table);
	llmk_gemm_free(gemm);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
