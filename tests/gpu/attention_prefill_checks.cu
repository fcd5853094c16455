/*
 * attention_prefill_checks.cu - the tensor-core prefill attention (attention_prefill.cu)
 * against a float64 reference, and its rate:
 *
 *   attention_prefill_checks [SEED]        (built and run by tests/gpu/run.sh on the
 *                                          device machine; tests/gpu/attention_prefill.sh
 *                                          runs it for each tile variant)
 *   attention_prefill_checks speed [SEED]  only the timing.
 *
 * Checks, on random inputs (the seed is printed; never zeros), outputs poisoned first:
 * llmk_attention_prefill against float64 with the error bound stated above
 * check_attention_prefill, and next to llmk_attention_general; the shapes and fields
 * it refuses (and the other kernels refuse its own); its output's static quantization,
 * llmk_quantize's bits; rotating q as it reads it, the bits of llmk_rope_store_kv then
 * the attention.  Timing: the 8B prefill attention next to the split-KV path.
 * Prints one "ok"/"not ok" line per check, the timings, then "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "attention_prefill.h"
#include "llm_kernels.h"
#include "numerics.h"
}
#include "attention_check_common.cuh"
#include "check_program.cuh"
#include "kernel_check_common.cuh"

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
	CUDA_OR_RETURN(cudaMalloc(&q, q_count * 4)); CUDA_OR_RETURN(cudaMalloc(&out, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&first, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&kc, k_bytes.size())); CUDA_OR_RETURN(cudaMalloc(&vc, v_bytes.size()));
	CUDA_OR_RETURN(cudaMalloc(&kf, kv_count * 4)); CUDA_OR_RETURN(cudaMalloc(&vf, kv_count * 4));
	CUDA_OR_RETURN(cudaMemcpy(q, hq.data(), q_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(kc, k_bytes.data(), k_bytes.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(vc, v_bytes.data(), v_bytes.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(kf, hk.data(), kv_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(vf, hv.data(), kv_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(out, 0xff, q_count * 4)); /* NaN poison */
	const float scale = 1.0f / sqrtf((float)hd);
	CUDA_OR_RETURN(attention_prefill(q, kc, vc, c.dtype, out, c.count, c.pos0, c.heads, c.kv_heads, hd, scale, 0));
	CUDA_OR_RETURN(attention_general(q, kf, vf, LLMK_F32, first, c.count, c.pos0, c.heads, c.kv_heads, hd, scale,
					 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	std::vector<float> got(q_count), hfirst(q_count);
	CUDA_OR_RETURN(cudaMemcpy(got.data(), out, q_count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(hfirst.data(), first, q_count * 4, cudaMemcpyDeviceToHost));
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
	CUDA_OR_RETURN(cudaMalloc(&p, 1 << 20));
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
	refused = refused && llmk_attention_general(&a, 0) == cudaErrorInvalidValue;
	const struct llmk_static_quant dynamic = {LLMK_QUANT_INT8_DYNAMIC, 1, p, p};
	a.outq = &dynamic;
	refused = refused && llmk_attention_prefill(&a, 0) == cudaErrorInvalidValue;
	a.scratch = p;
	a.max_tokens = 4;
	refused = refused && llmk_attention_decode(&a, 0) == cudaErrorInvalidValue;
	a.outq = NULL;
	a.rope_table = p; /* the prefill attention's alone */
	refused = refused && llmk_attention_decode(&a, 0) == cudaErrorInvalidValue &&
		  llmk_attention_general(&a, 0) == cudaErrorInvalidValue;
	check(refused && cudaGetLastError() == cudaSuccess,
	      "general attention refuses a device position, a quantized output or a RoPE table; prefill a device "
	      "position or a dynamic quantized output; decode a dynamic one or a RoPE table");
	cudaFree(p);
}

/* The prefill attention with a static quantized output (o_proj's input): its bytes and
 * scales llmk_quantize's of the float output it wrote, every row (the output and the
 * codes poisoned first). */
static void check_attention_prefill_quantized(enum llmk_quant quant, attention_case c, uint64_t seed)
{
	const int hd = c.head_dim, width = c.heads * hd, kv_dim = c.kv_heads * hd, positions = c.pos0 + c.count;
	const size_t q_count = (size_t)c.count * width, kv_count = (size_t)positions * kv_dim;
	std::vector<float> hq(q_count), hk, hv;
	std::vector<uint8_t> k_bytes, v_bytes;
	for (auto &x : hq) x = uniform_from(seed, 3.0f);
	random_cache(c.dtype, kv_count, 2.0f, seed * 3 + 1, k_bytes, hk);
	random_cache(c.dtype, kv_count, 1.0f, seed * 5 + 2, v_bytes, hv);
	float *q, *out, *scales, *ref_scales; void *kc, *vc; uint8_t *xq, *ref_xq;
	CUDA_OR_RETURN(cudaMalloc(&q, q_count * 4)); CUDA_OR_RETURN(cudaMalloc(&out, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&kc, k_bytes.size())); CUDA_OR_RETURN(cudaMalloc(&vc, v_bytes.size()));
	CUDA_OR_RETURN(cudaMalloc(&xq, q_count)); CUDA_OR_RETURN(cudaMalloc(&ref_xq, q_count));
	CUDA_OR_RETURN(cudaMalloc(&scales, c.count * 4)); CUDA_OR_RETURN(cudaMalloc(&ref_scales, c.count * 4));
	CUDA_OR_RETURN(cudaMemcpy(q, hq.data(), q_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(kc, k_bytes.data(), k_bytes.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(vc, v_bytes.data(), v_bytes.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(out, 0xff, q_count * 4));
	CUDA_OR_RETURN(cudaMemset(xq, 0x5a, q_count));
	CUDA_OR_RETURN(cudaMemset(scales, 0xff, c.count * 4));
	const float static_scale = quant == LLMK_QUANT_FP8_STATIC ? 0.9f / 448 : 0.9f / 127;
	const struct llmk_static_quant outq = {quant, static_scale, xq, scales};
	struct llmk_attention a = attention_args(q, kc, vc, c.dtype, out, c.count, c.pos0, c.heads, c.kv_heads, hd,
						 1.0f / sqrtf((float)hd));
	a.outq = &outq;
	CUDA_OR_RETURN(llmk_attention_prefill(&a, 0));
	CUDA_OR_RETURN(llmk_quantize(out, c.count, width, quant, static_scale, ref_xq, ref_scales, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	std::vector<uint8_t> got(q_count), want(q_count);
	std::vector<float> got_scales(c.count), want_scales(c.count), h_out(q_count);
	CUDA_OR_RETURN(cudaMemcpy(got.data(), xq, q_count, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(want.data(), ref_xq, q_count, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(got_scales.data(), scales, c.count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(want_scales.data(), ref_scales, c.count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(h_out.data(), out, q_count * 4, cudaMemcpyDeviceToHost));
	size_t bad = 0, bad_scales = 0, unwritten = 0;
	for (size_t i = 0; i < q_count; i++) {
		bad += got[i] != want[i];
		unwritten += !isfinite(h_out[i]);
	}
	for (int t = 0; t < c.count; t++)
		bad_scales += memcmp(&got_scales[t], &want_scales[t], 4) != 0;
	char what[200];
	snprintf(what, sizeof what,
		 "prefill attention %s %d tokens at %d, %d/%d heads, %s output: %zu of %zu codes and %zu of %d scales "
		 "differ from llmk_quantize's of its float output (%zu floats not written)",
		 dtype_name(c.dtype), c.count, c.pos0, c.heads, c.kv_heads,
		 quant == LLMK_QUANT_FP8_STATIC ? "FP8" : "INT8", bad, q_count, bad_scales, c.count, unwritten);
	check(bad == 0 && bad_scales == 0 && unwritten == 0, what);
	cudaFree(q); cudaFree(out); cudaFree(kc); cudaFree(vc); cudaFree(xq); cudaFree(ref_xq); cudaFree(scales);
	cudaFree(ref_scales);
}

/* The prefill attention rotating q as it reads it (rope_table, from llmk_rope_table): its
 * output, float and quantized, the bits of llmk_rope_store_kv's rotation (of q alone: no
 * KV heads) then the attention of the rotated q, and q itself left as it was.  Llama 3's inverse
 * frequencies (theta 500000), positions up to pos0 + count; outputs poisoned first. */
static void check_attention_prefill_rotated(attention_case c, uint64_t seed)
{
	const int hd = c.head_dim, width = c.heads * hd, kv_dim = c.kv_heads * hd, positions = c.pos0 + c.count;
	const size_t q_count = (size_t)c.count * width, kv_count = (size_t)positions * kv_dim;
	std::vector<float> hq(q_count), hk, hv, inv_freq(hd / 2);
	std::vector<uint8_t> k_bytes, v_bytes;
	for (auto &x : hq) x = uniform_from(seed, 3.0f);
	for (int i = 0; i < hd / 2; i++) inv_freq[i] = (float)(1.0 / pow(500000.0, 2.0 * i / hd));
	random_cache(c.dtype, kv_count, 2.0f, seed * 3 + 1, k_bytes, hk);
	random_cache(c.dtype, kv_count, 1.0f, seed * 5 + 2, v_bytes, hv);
	float *q, *q_rotated, *out, *ref_out, *freq, *table, *scales, *ref_scales; void *kc, *vc;
	uint8_t *xq, *ref_xq;
	CUDA_OR_RETURN(cudaMalloc(&q, q_count * 4)); CUDA_OR_RETURN(cudaMalloc(&q_rotated, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&out, q_count * 4)); CUDA_OR_RETURN(cudaMalloc(&ref_out, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&freq, hd / 2 * 4)); CUDA_OR_RETURN(cudaMalloc(&table, (size_t)c.count * hd * 4));
	CUDA_OR_RETURN(cudaMalloc(&kc, k_bytes.size())); CUDA_OR_RETURN(cudaMalloc(&vc, v_bytes.size()));
	CUDA_OR_RETURN(cudaMalloc(&xq, q_count)); CUDA_OR_RETURN(cudaMalloc(&ref_xq, q_count));
	CUDA_OR_RETURN(cudaMalloc(&scales, c.count * 4)); CUDA_OR_RETURN(cudaMalloc(&ref_scales, c.count * 4));
	CUDA_OR_RETURN(cudaMemcpy(q, hq.data(), q_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(q_rotated, hq.data(), q_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(freq, inv_freq.data(), hd / 2 * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(kc, k_bytes.data(), k_bytes.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(vc, v_bytes.data(), v_bytes.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(out, 0xff, q_count * 4)); CUDA_OR_RETURN(cudaMemset(ref_out, 0xff, q_count * 4));
	CUDA_OR_RETURN(cudaMemset(xq, 0x5a, q_count)); CUDA_OR_RETURN(cudaMemset(ref_xq, 0xa5, q_count));
	CUDA_OR_RETURN(cudaMemset(scales, 0xff, c.count * 4)); CUDA_OR_RETURN(cudaMemset(ref_scales, 0xff, c.count * 4));
	const struct llmk_static_quant outq = {LLMK_QUANT_FP8_STATIC, 0.9f / 448, xq, scales};
	const struct llmk_static_quant ref_outq = {LLMK_QUANT_FP8_STATIC, 0.9f / 448, ref_xq, ref_scales};
	CUDA_OR_RETURN(llmk_rope_store_kv(q_rotated, width, c.heads, NULL, NULL, 0, hd, c.count, c.pos0, NULL, freq,
					  NULL, NULL, LLMK_BF16, 0));
	struct llmk_attention a = attention_args(q_rotated, kc, vc, c.dtype, ref_out, c.count, c.pos0, c.heads,
						 c.kv_heads, hd, 1.0f / sqrtf((float)hd));
	a.outq = &ref_outq;
	CUDA_OR_RETURN(llmk_attention_prefill(&a, 0));
	a.q = q;
	a.out = out;
	a.outq = &outq;
	CUDA_OR_RETURN(cudaMemset(table, 0xff, (size_t)c.count * hd * 4));
	CUDA_OR_RETURN(llmk_rope_table(freq, hd, c.count, c.pos0, table, 0));
	a.rope_table = table;
	CUDA_OR_RETURN(llmk_attention_prefill(&a, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	std::vector<float> got(q_count), want(q_count), q_after(q_count), rotated(q_count);
	std::vector<float> got_scales(c.count), want_scales(c.count);
	std::vector<uint8_t> got_codes(q_count), want_codes(q_count);
	CUDA_OR_RETURN(cudaMemcpy(got.data(), out, q_count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(want.data(), ref_out, q_count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(q_after.data(), q, q_count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(rotated.data(), q_rotated, q_count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(got_codes.data(), xq, q_count, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(want_codes.data(), ref_xq, q_count, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(got_scales.data(), scales, c.count * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(want_scales.data(), ref_scales, c.count * 4, cudaMemcpyDeviceToHost));
	size_t differ = 0, unwritten = 0, codes_differ = 0, q_changed = 0, rotations = 0;
	for (size_t i = 0; i < q_count; i++) {
		differ += memcmp(&got[i], &want[i], 4) != 0;
		unwritten += !isfinite(got[i]);
		codes_differ += got_codes[i] != want_codes[i];
		q_changed += memcmp(&q_after[i], &hq[i], 4) != 0;
		rotations += rotated[i] != hq[i]; /* the reference did rotate */
	}
	const bool scales_same = memcmp(got_scales.data(), want_scales.data(), c.count * 4) == 0;
	char what[300];
	snprintf(what, sizeof what,
		 "prefill attention rotating q, %s, %d tokens at %d, %d/%d heads of %d: %zu of %zu outputs and %zu codes "
		 "differ from rotate-then-attend (%zu not written), scales %s, q changed in %zu places",
		 dtype_name(c.dtype), c.count, c.pos0, c.heads, c.kv_heads, hd, differ, q_count, codes_differ, unwritten,
		 scales_same ? "the same" : "differ", q_changed);
	check(differ == 0 && unwritten == 0 && codes_differ == 0 && scales_same && q_changed == 0 &&
		      rotations > q_count / 2,
	      what);
	cudaFree(q); cudaFree(q_rotated); cudaFree(out); cudaFree(ref_out); cudaFree(freq); cudaFree(table); cudaFree(kc);
	cudaFree(vc); cudaFree(xq); cudaFree(ref_xq); cudaFree(scales); cudaFree(ref_scales);
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
 * position pos0 (the last 512-token step of a 2048-token prefill is at 1536): llmk_attention_prefill on bf16, e4m3 and f32 caches and the split-KV
 * path (llmk_attention_decode, one split a token, f32 cache of the same values). */
static void time_attention_prefill(int count, int pos0)
{
	const int heads = 32, kv_heads = 8, hd = 128, kv_dim = kv_heads * hd;
	const size_t q_count = (size_t)count * heads * hd, kv_count = (size_t)(pos0 + count) * kv_dim;
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
	CUDA_OR_RETURN(cudaMalloc(&q, q_count * 4)); CUDA_OR_RETURN(cudaMalloc(&out, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&split_out, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&kc, kb.size())); CUDA_OR_RETURN(cudaMalloc(&vc, vb.size()));
	CUDA_OR_RETURN(cudaMalloc(&ke, k8.size())); CUDA_OR_RETURN(cudaMalloc(&ve, v8.size()));
	CUDA_OR_RETURN(cudaMalloc(&kf, kv_count * 4)); CUDA_OR_RETURN(cudaMalloc(&vf, kv_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, hd, count) * 4));
	CUDA_OR_RETURN(cudaMemcpy(q, hq.data(), q_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(kc, kb.data(), kb.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(vc, vb.data(), vb.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(ke, k8.data(), k8.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(ve, v8.data(), v8.size(), cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(kf, hk.data(), kv_count * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(vf, hv.data(), kv_count * 4, cudaMemcpyHostToDevice));
	const float scale = 1.0f / sqrtf((float)hd);
	double pairs = (double)count * pos0 + (double)count * (count + 1) / 2, flops = 4.0 * heads * hd * pairs;
	cudaError_t status = cudaSuccess;
	auto keep = [&](cudaError_t s) { if (status == cudaSuccess) status = s; };
	double bf16_ms = median_ms([&] { keep(attention_prefill(q, kc, vc, LLMK_BF16, out, count, pos0, heads, kv_heads,
									 hd, scale, 0)); }, 20);
	double e4m3_ms = median_ms([&] { keep(attention_prefill(q, ke, ve, LLMK_E4M3, out, count, pos0, heads, kv_heads,
									 hd, scale, 0)); }, 20);
	double f32_ms = median_ms([&] { keep(attention_prefill(q, kf, vf, LLMK_F32, out, count, pos0, heads, kv_heads,
									hd, scale, 0)); }, 20);
	double split_ms = median_ms([&] { keep(attention_decode(q, kf, vf, LLMK_F32, split_out, count, pos0, heads, kv_heads,
								hd, scale, scratch, count, NULL, NULL, 0)); }, 5);
	keep(cudaDeviceSynchronize());
	std::vector<float> a(q_count), b(q_count);
	keep(cudaMemcpy(a.data(), out, q_count * 4, cudaMemcpyDeviceToHost)); /* f32 run: the same values as bf16 */
	keep(cudaMemcpy(b.data(), split_out, q_count * 4, cudaMemcpyDeviceToHost));
	double diff = 0;
	for (size_t i = 0; i < q_count; i++) diff = std::max(diff, (double)fabsf(a[i] - b[i]));
	printf("  8B attention, %4d tokens at %4d: prefill bf16 %7.3f ms (%5.1f TFLOP/s), e4m3 %7.3f ms (%5.1f), "
	       "f32 %7.3f ms (%5.1f); split-KV path f32 %8.3f ms (%5.1f TFLOP/s); x32 layers bf16 %.1f ms; "
	       "max diff prefill vs split-KV %.1e\n", count, pos0, bf16_ms, flops / bf16_ms / 1e9, e4m3_ms, flops / e4m3_ms / 1e9,
	       f32_ms, flops / f32_ms / 1e9, split_ms, flops / split_ms / 1e9, 32 * bf16_ms, diff);
	char what[160];
	snprintf(what, sizeof what, "8B prefill attention timing at %d tokens at %d ran (%s)", count, pos0,
		 cudaGetErrorString(status));
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
	check_attention_prefill_quantized(LLMK_QUANT_FP8_STATIC, {300, 37, 32, 8, 128, LLMK_BF16}, seed++);
	check_attention_prefill_quantized(LLMK_QUANT_INT8_STATIC, {77, 5, 12, 4, 64, LLMK_E4M3}, seed++);
	check_attention_prefill_rotated({300, 37, 32, 8, 128, LLMK_BF16}, seed++);
	check_attention_prefill_rotated({2048, 0, 32, 8, 128, LLMK_BF16}, seed++);
	check_attention_prefill_rotated({77, 40000, 12, 4, 64, LLMK_E4M3}, seed++);
	check_attention_prefill_rotated({70, 5, 7, 1, 128, LLMK_F32}, seed++);
	printf("# prefill attention, Llama-3.1-8B shape (FLOPs = 4 heads head_dim sum_t (pos0 + t + 1)):\n");
	time_attention_prefill(512, 0);
	time_attention_prefill(2048, 0);
	time_attention_prefill(512, 1536);
}

int main(int argc, char **argv)
{
	/* argv[1] is "speed" or the seed */
	const bool speed = argc > 1 && strcmp(argv[1], "speed") == 0;
	if (!check_program_start(speed ? argc - 1 : argc, speed ? argv + 1 : argv, "attention_prefill_checks"))
		return 1;
	if (speed) {
		time_attention_prefill(512, 0);
		time_attention_prefill(2048, 0);
		time_attention_prefill(512, 1536);
	} else {
		attention_prefill_checks();
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
