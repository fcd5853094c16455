/*
 * activation_checks.cu - the kernels between the products, bit for bit against the
 * CPU path's numerics or the unfused launches they replace, and the logits' argmax.
 *
 *   activation_checks [SEED]          (built and run by tests/gpu/run.sh on the device machine)
 *   activation_checks argmax [SEED]   only llmk_argmax's checks
 *   activation_checks fusions [SEED]  only the engine's fusions (residual add + norm, RoPE +
 *                                     KV store)
 *   activation_checks speed           only the timing of a prefill step's norms and SwiGLU
 *
 * Checks, on random inputs (the seed is printed; never zeros), outputs poisoned first:
 * - llmk_quantize for every scheme bit for bit against the CPU path's numerics
 *   (numerics.h), at widths of each of its forms (register form, any length,
 *   unaligned rows), a zero row among them, nothing past the output touched;
 * - the KV cache stores (ref_store_kv, which attention_checks.cu and the fusions below
 *   are held to) in f32, bf16 and e4m3, position on the host and on the device: bit for
 *   bit numerics.h's rounding, nothing else touched;
 * - llmk_argmax: the largest value, the lowest index on ties, a NaN wins; 9 rows in one call, each as alone;
 * - llmk_rmsnorm_quantize and llmk_swiglu_quantize bit for bit against llmk_rmsnorm /
 *   llmk_swiglu + llmk_quantize for every scheme, 1, 37 and 300 tokens (300: the norm's
 *   form for many rows, a prefill step's, MANY_ROWS in llm_kernels.cu), widths from 37 to
 *   32772 (odd ones, multiples of 4, each form of the kernels), with and without the
 *   float output, in place, SwiGLU rows not 16-byte aligned;
 * - llmk_add_rmsnorm_quantize against ref_add + llmk_rmsnorm (+ llmk_quantize), and
 *   llmk_rope_store_kv against ref_rope x 2 + ref_store_kv, bit for bit.
 * Then the timing of a prefill step's norms and SwiGLU at the 8B shape.
 * Prints one "ok"/"not ok" line per check, then "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "llm_kernels.h"
#include "numerics.h"
#include "sampling_kernels.h"
}
#include "check_program.cuh"
#include "device_buffers.cuh"
#include "kernel_check_common.cuh"
#include "reference_kernels.cuh"

/* ---- llmk_quantize: the CPU path's bits -------------------------------------------- */

/* llmk_quantize's codes and scale for one row, as the CPU path makes them (numerics.h). */
static void expected_quantize(const float *row, int n, enum llmk_quant quant, float static_scale, uint8_t *codes,
			      float *scale)
{
	float m = 0;
	for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(row[i]));
	const bool fp8 = quant == LLMK_QUANT_FP8_STATIC || quant == LLMK_QUANT_FP8_DYNAMIC;
	float s = quant == LLMK_QUANT_INT8_DYNAMIC ? m / 127.0f
		: quant == LLMK_QUANT_FP8_DYNAMIC ? (m == 0 ? 0 : fmaxf(m / 448.0f, 1.0f / (448.0f * 512.0f)))
		: static_scale;
	float inv = s == 0 ? 0 : quant == LLMK_QUANT_INT8_DYNAMIC ? 127.0f / m : 1.0f / s;
	*scale = s;
	for (int i = 0; i < n; i++) {
		float v = row[i] * inv;
		codes[i] = fp8 ? numerics_float_to_e4m3(fminf(fmaxf(v, -448.0f), 448.0f))
			       : (uint8_t)numerics_float_to_int8(v);
	}
}

/* llmk_quantize of 3 rows of n values (the second all zeros, a dynamic scale's 0),
 * shift floats into their buffer (1: rows not 16-byte aligned), against the CPU path's
 * bits; every code and scale written, nothing past them (outputs poisoned first). */
static void check_quantize(enum llmk_quant quant, const char *name, int n, int shift)
{
	const int count = 3;
	const size_t values = (size_t)count * n;
	std::vector<float> hx(values);
	for (size_t i = 0; i < hx.size(); i++) hx[i] = sinf((float)i * 0.37f) * (1 + (i % 97)) * 0.05f;
	for (int i = 0; i < n; i++) hx[(size_t)n + i] = 0;
	float *x, *scales; uint8_t *xq;
	CUDA_OR_RETURN(cudaMalloc(&x, (values + shift) * 4)); CUDA_OR_RETURN(cudaMalloc(&xq, values + 64));
	CUDA_OR_RETURN(cudaMalloc(&scales, (count + 1) * 4));
	CUDA_OR_RETURN(cudaMemcpy(x + shift, hx.data(), values * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(xq, 0xa5, values + 64)); CUDA_OR_RETURN(cudaMemset(scales, 0xff, (count + 1) * 4));
	const float static_scale = 0.0123f;
	CUDA_OR_RETURN(llmk_quantize(x + shift, count, n, quant, static_scale, xq, scales, 0));
	std::vector<uint8_t> got(values + 64); std::vector<float> got_scales(count + 1);
	CUDA_OR_RETURN(cudaMemcpy(got.data(), xq, got.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(got_scales.data(), scales, got_scales.size() * 4, cudaMemcpyDeviceToHost));
	size_t mismatches = 0, touched = 0;
	std::vector<uint8_t> want(n);
	for (int t = 0; t < count; t++) {
		float s;
		expected_quantize(hx.data() + (size_t)t * n, n, quant, static_scale, want.data(), &s);
		if (memcmp(&got_scales[t], &s, 4) != 0) mismatches++;
		for (int i = 0; i < n; i++)
			if (got[(size_t)t * n + i] != want[i]) mismatches++;
	}
	for (size_t b = values; b < got.size(); b++)
		if (got[b] != 0xa5) touched++;
	uint32_t past_scale;
	memcpy(&past_scale, &got_scales[count], 4);
	if (past_scale != 0xffffffffu) touched++;
	char what[200];
	snprintf(what, sizeof what, "quantize %s, 3 rows of %d%s: bit for bit the CPU path's (%zu mismatches, %zu bytes "
		 "past the output written)", name, n, shift ? ", unaligned" : "", mismatches, touched);
	check(mismatches == 0 && touched == 0, what);
	cudaFree(x); cudaFree(xq); cudaFree(scales);
}

/* check_quantize for every scheme at the widths of each of llmk_quantize's forms: the
 * register form's 1, 2, 4 and 8 chunks a thread (4096, 8192, 14336, 28672 and 4100),
 * and the any-length form (an odd width, more than 8 chunks a thread, unaligned rows). */
static void check_quantizers()
{
	const struct {
		enum llmk_quant quant;
		const char *name;
	} schemes[] = {{LLMK_QUANT_FP8_STATIC, "FP8 static"},
		       {LLMK_QUANT_FP8_DYNAMIC, "FP8 dynamic"},
		       {LLMK_QUANT_INT8_DYNAMIC, "INT8 dynamic"},
		       {LLMK_QUANT_INT8_STATIC, "INT8 static"}};
	const struct {
		int n, shift;
	} shapes[] = {{4096, 0}, {8192, 0}, {14336, 0}, {28672, 0}, {4100, 0}, {4102, 0}, {32772, 0}, {4096, 1}};
	for (const auto &scheme : schemes)
		for (const auto &shape : shapes)
			check_quantize(scheme.quant, scheme.name, shape.n, shape.shift);
}

/* ---- the KV cache stores in float32, bf16 and e4m3 ------------------------------------ */

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
	CUDA_OR_RETURN(cudaMalloc(&k, hk.size() * 4)); CUDA_OR_RETURN(cudaMalloc(&v, hv.size() * 4));
	CUDA_OR_RETURN(cudaMalloc(&kc, bytes)); CUDA_OR_RETURN(cudaMalloc(&vc, bytes));
	CUDA_OR_RETURN(cudaMalloc(&pd, 4));
	CUDA_OR_RETURN(cudaMemcpy(k, hk.data(), hk.size() * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(v, hv.data(), hv.size() * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(pd, &pos, 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(kc, 0x5a, bytes)); CUDA_OR_RETURN(cudaMemset(vc, 0x5a, bytes));
	if (device_pos) CUDA_OR_RETURN(ref_store_kv(k, v, kc, vc, d, kv_dim, count, 0, pd, 0));
	else CUDA_OR_RETURN(ref_store_kv(k, v, kc, vc, d, kv_dim, count, pos, NULL, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	std::vector<uint8_t> gk(bytes), gv(bytes);
	CUDA_OR_RETURN(cudaMemcpy(gk.data(), kc, bytes, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(gv.data(), vc, bytes, cudaMemcpyDeviceToHost));
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

static void check_kv_stores(void)
{
	for (enum llmk_dtype d : {LLMK_F32, LLMK_BF16, LLMK_E4M3}) {
		check_store_kv(d, 1024, 1, 777, true);
		check_store_kv(d, 1024, 37, 100, false);
		check_store_kv(d, 64, 300, 5, false);
	}
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
	    cudaMalloc(&scratch, llmk_argmax_scratch(1)) != cudaSuccess) {
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
		bool ran = llmk_argmax(x, 1, n, 1000, best, scratch, 0) == cudaSuccess &&
			   cudaMemcpy(&got, best, sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess;
		check(ran && got.index == 1000 + c.index && (bool)isnan(got.value) == c.nan, c.what);
	}
	cudaFree(x);
	cudaFree(best);
	cudaFree(scratch);
}

/* llmk_argmax over 9 rows in one call: each row's best as the row alone gives it (the
 * verify pass's rows), rows with ties, a NaN and an all-equal row among them, every
 * best poisoned before. */
static void check_argmax_rows(void)
{
	const int n = 128256, rows = 9;
	std::vector<float> h((size_t)rows * n);
	for (int r = 0; r < rows; r++)
		for (int i = 0; i < n; i++)
			h[(size_t)r * n + i] = r == 4 ? 1.5f : (float)(((i + 977 * r) * 7919) % 1000) / 100.0f;
	h[(size_t)2 * n + 60000] = NAN;
	h[(size_t)6 * n + n - 1] = 50.0f;
	float *x = NULL;
	struct llmk_best *best = NULL, *one = NULL;
	void *scratch = NULL;
	if (cudaMalloc(&x, h.size() * sizeof(float)) != cudaSuccess ||
	    cudaMalloc(&best, rows * sizeof *best) != cudaSuccess || cudaMalloc(&one, sizeof *one) != cudaSuccess ||
	    cudaMalloc(&scratch, llmk_argmax_scratch(rows)) != cudaSuccess) {
		check(false, "argmax rows: memory");
		return;
	}
	cudaMemcpy(x, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice);
	cudaMemset(best, 0xff, rows * sizeof *best);
	std::vector<struct llmk_best> got(rows);
	bool ran = llmk_argmax(x, rows, n, 7, best, scratch, 0) == cudaSuccess &&
		   cudaMemcpy(got.data(), best, rows * sizeof *best, cudaMemcpyDeviceToHost) == cudaSuccess;
	int same = 0;
	for (int r = 0; ran && r < rows; r++) {
		struct llmk_best alone;
		ran = llmk_argmax(x + (size_t)r * n, 1, n, 7, one, scratch, 0) == cudaSuccess &&
		      cudaMemcpy(&alone, one, sizeof alone, cudaMemcpyDeviceToHost) == cudaSuccess;
		int want = 0;  /* the host's answer: NaN first, then the largest, the lowest index */
		for (int i = 1; i < n; i++) {
			float v = h[(size_t)r * n + i], b = h[(size_t)r * n + want];
			if (!isnan(b) && (isnan(v) || v > b))
				want = i;
		}
		same += ran && got[r].index == 7 + want && alone.index == got[r].index &&
			memcmp(&alone.value, &got[r].value, sizeof alone.value) == 0;
	}
	check(ran && same == rows, "argmax: 9 rows in one call, each row's best as alone and as the host's");
	cudaFree(x);
	cudaFree(best);
	cudaFree(one);
	cudaFree(scratch);
}

static void check_argmaxes(void)
{
	check_argmax();
	check_argmax_rows();
}

/* ---- fused activation quantization: bit for bit the unfused pair ------------------- */

static bool quant_fp8(enum llmk_quant q) { return q == LLMK_QUANT_FP8_STATIC || q == LLMK_QUANT_FP8_DYNAMIC; }

/* rmsnorm (swiglu false) or swiglu then quantize: fused with the float output, without
 * it, and in place (out = x, out = gate: the engine's SwiGLU) against llmk_rmsnorm /
 * llmk_swiglu + llmk_quantize, every byte compared.  Every row starts shift floats into
 * its buffers (1: SwiGLU's rows not 16-byte aligned, the value-at-a-time form). */
static void check_fused_quantize(bool swiglu, enum llmk_quant quant, const char *qname, int count, int n, int shift)
{
	const size_t total = (size_t)count * n;
	std::vector<float> ha(shift + total), hb(shift + (swiglu ? total : (size_t)n));
	for (int t = 0; t < count; t++) {
		float amp = t % 5 == 3 ? 40.0f : t % 5 == 1 ? 0.02f : 2.0f; /* rows of different size */
		for (int i = 0; i < n; i++) ha[shift + (size_t)t * n + i] = uniform_in(-amp, amp);
	}
	for (auto &f : hb) f = swiglu ? uniform_in(-3, 3) : uniform_in(0.2f, 1.8f);
	/* static scales that saturate some values */
	const float static_scale = quant_fp8(quant) ? (swiglu ? 0.02f : 0.004f) : (swiglu ? 0.2f : 0.02f);
	float *a = (float *)device_bytes(ha.size() * 4, 0) + shift, *b = (float *)device_bytes(hb.size() * 4, 0) + shift;
	CUDA_OR_RETURN(cudaMemcpy(a - shift, ha.data(), ha.size() * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(b - shift, hb.data(), hb.size() * 4, cudaMemcpyHostToDevice));
	float *in_place = (float *)device_copy(a - shift, ha.size() * 4) + shift;
	float *ref_out = (float *)device_bytes((shift + total) * 4, 0xff) + shift;
	float *out = (float *)device_bytes((shift + total) * 4, 0xff) + shift;
	uint8_t *ref_q = (uint8_t *)device_bytes(total, 0x7f), *xq[3];
	float *ref_scales = (float *)device_bytes(count * 4, 0xff), *scales[3];
	for (int k = 0; k < 3; k++) {
		xq[k] = (uint8_t *)device_bytes(total, 0x7f);
		scales[k] = (float *)device_bytes(count * 4, 0xff);
	}
	const float eps = 1e-5f;
	if (swiglu) {
		CUDA_OR_RETURN(cudaMemcpy(ref_out, a, total * 4, cudaMemcpyDeviceToDevice));
		CUDA_OR_RETURN(llmk_swiglu(ref_out, b, total, 0));
		CUDA_OR_RETURN(llmk_swiglu_quantize(a, b, out, count, n, quant, static_scale, xq[0], scales[0], 0));
		CUDA_OR_RETURN(llmk_swiglu_quantize(a, b, NULL, count, n, quant, static_scale, xq[1], scales[1], 0));
		CUDA_OR_RETURN(llmk_swiglu_quantize(in_place, b, in_place, count, n, quant, static_scale, xq[2],
						    scales[2], 0));
	} else {
		CUDA_OR_RETURN(llmk_rmsnorm(a, b, ref_out, count, n, eps, 0));
		CUDA_OR_RETURN(llmk_rmsnorm_quantize(a, b, out, count, n, eps, quant, static_scale, xq[0], scales[0], 0));
		CUDA_OR_RETURN(llmk_rmsnorm_quantize(a, b, NULL, count, n, eps, quant, static_scale, xq[1], scales[1], 0));
		CUDA_OR_RETURN(llmk_rmsnorm_quantize(in_place, b, in_place, count, n, eps, quant, static_scale, xq[2],
						     scales[2], 0));
	}
	CUDA_OR_RETURN(llmk_quantize(ref_out, count, n, quant, static_scale, ref_q, ref_scales, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	size_t bad = differing_bytes(ref_out, out, total * 4) + differing_bytes(ref_out, in_place, total * 4);
	for (int k = 0; k < 3; k++)
		bad += differing_bytes(ref_q, xq[k], total) + differing_bytes(ref_scales, scales[k], count * 4);
	std::vector<uint8_t> q_ref(total);
	CUDA_OR_RETURN(cudaMemcpy(q_ref.data(), ref_q, total, cudaMemcpyDeviceToHost));
	size_t saturated = 0;
	for (uint8_t q : q_ref)
		if (quant_fp8(quant) ? (q & 0x7f) == 0x7e : (q == 0x7f || q == 0x80)) saturated++;
	char what[300];
	snprintf(what, sizeof what, "%s_quantize %s, %d tokens of %d%s: bit for bit %s + llmk_quantize, with and without "
		 "the float output and in place (%zu bytes differ; %zu values at the range's end)",
		 swiglu ? "swiglu" : "rmsnorm", qname, count, n, shift ? ", rows 4 bytes past 16-byte alignment" : "",
		 swiglu ? "llmk_swiglu" : "llmk_rmsnorm", bad, saturated);
	check(bad == 0, what);
	free_all();
}

/* Every scheme, 1 and 37 tokens, at widths that take each form of the kernels: RMSNorm
 * rows of at most 4096 and 8192 values in registers (37 and 4099 odd), longer ones
 * reread (14336, 28672, 32771 odd, 32772); SwiGLU rows in float4 chunks, at most 4 (4096,
 * 14336: Llama 3 8B) and 8 (28672: 70B) a thread, else a value at a time (37 and 4099
 * and 32771 odd, 32772 too long, and 4096 not 16-byte aligned). */
static void check_fused_quantizers(void)
{
	const enum llmk_quant quants[] = {LLMK_QUANT_FP8_STATIC, LLMK_QUANT_FP8_DYNAMIC, LLMK_QUANT_INT8_DYNAMIC,
					  LLMK_QUANT_INT8_STATIC};
	const char *names[] = {"FP8 static", "FP8 dynamic", "INT8 dynamic", "INT8 static"};
	for (int q = 0; q < 4; q++)
		for (int count : {1, 37, 300}) { /* 300: a prefill step's form (MANY_ROWS) */
			for (int n : {37, 4096, 4099, 8192, 14336, 28672, 32771, 32772}) {
				check_fused_quantize(false, quants[q], names[q], count, n, 0);
				check_fused_quantize(true, quants[q], names[q], count, n, 0);
			}
			check_fused_quantize(true, quants[q], names[q], count, 4096, 1);
		}
}

/* ---- the engine's other fusions: residual add + norm (+ quantize), RoPE + KV store ---- */

/* A device copy of h (a failed check printed when it cannot be made). */
static float *device_floats(const std::vector<float> &h)
{
	float *d = NULL;
	if (cudaMalloc(&d, h.size() * 4) != cudaSuccess ||
	    cudaMemcpy(d, h.data(), h.size() * 4, cudaMemcpyHostToDevice) != cudaSuccess)
		printf("not ok - device_floats: %s\n", cudaGetErrorString(cudaGetLastError())), failed++;
	return d;
}

/* x += residual, normed and quantized in one launch against the three launches, the
 * sum written back, the normed rows (with_out; else out NULL, as a prefill whose
 * products read only the codes asks) and the codes and scales compared. */
static void check_add_rmsnorm_quantize(enum llmk_quant quant, const char *qname, int count, int n, bool with_out)
{
	const size_t total = (size_t)count * n;
	std::vector<float> hx(total), hr(total), hw(n);
	for (auto &f : hx) f = uniform_in(-3, 3);
	for (auto &f : hr) f = uniform_in(-1, 1);
	for (auto &f : hw) f = uniform_in(0.2f, 1.8f);
	float *x1 = device_floats(hx), *x2 = device_floats(hx), *r = device_floats(hr), *w = device_floats(hw);
	float *out1, *out2, *s1, *s2; uint8_t *q1, *q2;
	CUDA_OR_RETURN(cudaMalloc(&out1, total * 4)); CUDA_OR_RETURN(cudaMalloc(&out2, total * 4));
	CUDA_OR_RETURN(cudaMalloc(&q1, total)); CUDA_OR_RETURN(cudaMalloc(&q2, total));
	CUDA_OR_RETURN(cudaMalloc(&s1, count * 4)); CUDA_OR_RETURN(cudaMalloc(&s2, count * 4));
	CUDA_OR_RETURN(cudaMemset(out2, 0xff, total * 4)); CUDA_OR_RETURN(cudaMemset(q1, 0x7f, total));
	CUDA_OR_RETURN(cudaMemset(q2, 0x7f, total));
	CUDA_OR_RETURN(cudaMemset(s1, 0, count * 4)); CUDA_OR_RETURN(cudaMemset(s2, 0xff, count * 4));
	const float eps = 1e-5f, static_scale = quant_fp8(quant) ? 0.004f : 0.02f;
	CUDA_OR_RETURN(ref_add(x1, r, total, 0));
	CUDA_OR_RETURN(llmk_rmsnorm(x1, w, out1, count, n, eps, 0));
	if (quant != LLMK_QUANT_NONE)
		CUDA_OR_RETURN(llmk_quantize(out1, count, n, quant, static_scale, q1, s1, 0));
	CUDA_OR_RETURN(llmk_add_rmsnorm_quantize(x2, r, w, with_out ? out2 : NULL, count, n, eps, quant, static_scale,
						 q2, s2, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	size_t bad = differing_bytes(x1, x2, total * 4) + (with_out ? differing_bytes(out1, out2, total * 4) : 0);
	if (quant != LLMK_QUANT_NONE)
		bad += differing_bytes(q1, q2, total) + differing_bytes(s1, s2, count * 4);
	char what[200];
	snprintf(what, sizeof what, "add_rmsnorm_quantize %s, %d tokens of %d%s: bit for bit ref_add + llmk_rmsnorm%s "
		 "(%zu bytes differ)", qname, count, n, with_out ? "" : ", no float rows",
		 quant == LLMK_QUANT_NONE ? "" : " + llmk_quantize", bad);
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
	CUDA_OR_RETURN(cudaMalloc(&kc1, cache)); CUDA_OR_RETURN(cudaMalloc(&kc2, cache));
	CUDA_OR_RETURN(cudaMalloc(&vc1, cache)); CUDA_OR_RETURN(cudaMalloc(&vc2, cache));
	CUDA_OR_RETURN(cudaMemset(kc1, 0x5a, cache)); CUDA_OR_RETURN(cudaMemset(kc2, 0x5a, cache));
	CUDA_OR_RETURN(cudaMemset(vc1, 0x5a, cache)); CUDA_OR_RETURN(cudaMemset(vc2, 0x5a, cache));
	CUDA_OR_RETURN(cudaMalloc(&dpos, sizeof(int)));
	CUDA_OR_RETURN(cudaMemcpy(dpos, &pos, sizeof(int), cudaMemcpyHostToDevice));
	if (device_pos) {
		CUDA_OR_RETURN(ref_rope(q1, count, q_dim, q_heads, hd, 0, dpos, inv, 0));
		CUDA_OR_RETURN(ref_rope(k1, count, kv_dim, kv_heads, hd, 0, dpos, inv, 0));
		CUDA_OR_RETURN(ref_store_kv(k1, v, kc1, vc1, d, kv_dim, count, 0, dpos, 0));
	} else {
		CUDA_OR_RETURN(ref_rope(q1, count, q_dim, q_heads, hd, pos, NULL, inv, 0));
		CUDA_OR_RETURN(ref_rope(k1, count, kv_dim, kv_heads, hd, pos, NULL, inv, 0));
		CUDA_OR_RETURN(ref_store_kv(k1, v, kc1, vc1, d, kv_dim, count, pos, NULL, 0));
	}
	CUDA_OR_RETURN(llmk_rope_store_kv(q2, q_dim, q_heads, k2, v, kv_heads, hd, count, device_pos ? 0 : pos,
					  device_pos ? dpos : NULL, inv, kc2, vc2, d, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
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
		for (int count : {1, 37, 300}) /* 300: a prefill step's form (MANY_ROWS) */
			for (int n : {37, 4096, 4099, 8192, 14337, 16384}) /* each form, odd and not */
				check_add_rmsnorm_quantize(quants[q], names[q], count, n, true);
	for (int q = 1; q < 5; q++) /* without the float rows: each form */
		for (int count : {37, 300})
			for (int n : {37, 4096, 8192, 16384})
				check_add_rmsnorm_quantize(quants[q], names[q], count, n, false);
	/* out NULL needs a quantization */
	float *p;
	CUDA_OR_RETURN(cudaMalloc(&p, 4096 * 4));
	check(llmk_add_rmsnorm_quantize(p, p, p, NULL, 1, 1024, 1e-5f, LLMK_QUANT_NONE, 0, NULL, NULL, 0) ==
		      cudaErrorInvalidValue && cudaGetLastError() == cudaSuccess,
	      "add_rmsnorm_quantize refuses no float rows without a quantization");
	cudaFree(p);
	const enum llmk_dtype dtypes[] = {LLMK_F32, LLMK_BF16, LLMK_E4M3};
	const char *dnames[] = {"f32", "bf16", "e4m3"};
	for (int d = 0; d < 3; d++) {
		check_rope_store(dtypes[d], dnames[d], 1, 4000, true);
		check_rope_store(dtypes[d], dnames[d], 37, 300, false);
	}
}

/* A prefill step's norms and SwiGLU at the 8B shape (2048 tokens, FP8 static codes, no
 * float rows), timed one launch a CUDA graph (graph_us_per_launch): microseconds and the
 * bytes they move over that time. */
static void time_prefill_activations(void)
{
	const int count = 2048, hidden = 4096, inter = 14336;
	const size_t rows = (size_t)count * hidden, wide = (size_t)count * inter;
	float *x, *r, *w, *gate, *up, *scales; uint8_t *q;
	CUDA_OR_RETURN(cudaMalloc(&x, rows * 4)); CUDA_OR_RETURN(cudaMalloc(&r, rows * 4));
	CUDA_OR_RETURN(cudaMalloc(&w, hidden * 4)); CUDA_OR_RETURN(cudaMalloc(&gate, wide * 4));
	CUDA_OR_RETURN(cudaMalloc(&up, wide * 4)); CUDA_OR_RETURN(cudaMalloc(&q, wide));
	CUDA_OR_RETURN(cudaMalloc(&scales, count * 4));
	CUDA_OR_RETURN(cudaMemset(x, 0, rows * 4)); CUDA_OR_RETURN(cudaMemset(r, 0, rows * 4));
	CUDA_OR_RETURN(cudaMemset(w, 0, hidden * 4)); CUDA_OR_RETURN(cudaMemset(gate, 0, wide * 4));
	CUDA_OR_RETURN(cudaMemset(up, 0, wide * 4));
	const enum llmk_quant fp8 = LLMK_QUANT_FP8_STATIC;
	double norm = graph_us_per_launch(1, [&](int, cudaStream_t s) {
		return llmk_rmsnorm_quantize(x, w, NULL, count, hidden, 1e-5f, fp8, 0.01f, q, scales, s);
	});
	double add = graph_us_per_launch(1, [&](int, cudaStream_t s) {
		return llmk_add_rmsnorm_quantize(x, r, w, NULL, count, hidden, 1e-5f, fp8, 0.01f, q, scales, s);
	});
	double swiglu = graph_us_per_launch(1, [&](int, cudaStream_t s) {
		return llmk_swiglu_quantize(gate, up, NULL, count, inter, fp8, 0.01f, q, scales, s);
	});
	check(norm > 0 && add > 0 && swiglu > 0, "a prefill step's norms and SwiGLU run in a CUDA graph (timed below)");
	printf("  prefill activations, 2048 tokens of 8B, FP8 codes: rmsnorm_quantize %.1f us (%.0f GB/s), "
	       "add_rmsnorm_quantize %.1f us (%.0f GB/s), swiglu_quantize %.1f us (%.0f GB/s)\n",
	       norm, rows * 5 / norm / 1e3, add, rows * 13 / add / 1e3, swiglu, wide * 9 / swiglu / 1e3);
	cudaFree(x); cudaFree(r); cudaFree(w); cudaFree(gate); cudaFree(up); cudaFree(q); cudaFree(scales);
}

/* The parts a first argument runs alone (see the top of this file). */
struct part {
	const char *name;
	void (*run)(void);
};

static const struct part parts[] = {
	{"argmax", check_argmaxes},
	{"fusions", check_engine_fusions},
	{"speed", time_prefill_activations},
};

int main(int argc, char **argv)
{
	const struct part *only = NULL;
	for (const struct part &p : parts)
		if (argc > 1 && strcmp(argv[1], p.name) == 0) only = &p;
	/* the seed is the first argument, or the one after a part */
	if (!(only ? check_program_start(argc - 1, argv + 1, "activation_checks PART")
		   : check_program_start(argc, argv, "activation_checks")))
		return 1;
	if (only) {
		only->run();
	} else {
		check_quantizers();
		check_kv_stores();
		check_argmaxes();
		check_fused_quantizers();
		check_engine_fusions();
		time_prefill_activations();
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
