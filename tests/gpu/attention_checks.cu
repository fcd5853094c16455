/*
 * attention_checks.cu - the attention kernels and the KV cache they read against
 * float64 references, and their speed: the decode attention next to the copy bandwidth
 * of the same run, the prefill attention in FLOP/s.
 *
 *   attention_checks [TABLE [SEED]]          (built and run by tests/gpu/run.sh on the device
 *                                            machine; TABLE, by default attention_timings.tsv,
 *                                            gets the decode attention timings as tab-separated
 *                                            lines)
 *   attention_checks attention [SEED]        runs only the prefill attention's checks and timing,
 *   attention_checks attention-speed [SEED]  only its timing.
 *   attention_checks decode-attention [SEED] only the decode attention's checks over the KV
 *                                            caches and its timing (contexts 128 to 131072).
 *   attention_checks fusions [SEED]          only the split-KV decode at long and short contexts
 *                                            (with its output's static quantization).
 *
 * Checks, on random inputs (the seed is printed; never zeros), outputs poisoned first:
 * - the three attention kernels over KV caches in f32, bf16 and e4m3 (stored by
 *   ref_store_kv, whose bits activation_checks.cu checks) against float64 attention over
 *   the cache's rounded values (read back), relative error < 1e-5, for decode (1 token,
 *   contexts to 5000, head_dim 64 and 128, GQA groups 1, 4, 8), a few tokens, prefill
 *   shapes, and head_dim 32 (the tiny models) for the first-version kernel; the split-KV
 *   decode against the first-version kernel, and at 4096, 32768 and 131072 positions and
 *   at 1 to 300 (mostly empty splits), groups 1 to 8, eager and device position bit for
 *   bit alike, its output's static quantization (written in the same launch) llmk_quantize's;
 * - llmk_attention_prefill (the tensor-core prefill attention) against float64 with the
 *   error bound stated above check_attention_prefill, and next to llmk_attention; the
 *   shapes and fields it refuses; rotating q as it reads it, the bits of
 *   llmk_rope_store_kv then the attention.
 * Timing: the decode attention at contexts 128 to 131072, each launch inside a CUDA graph
 * on its own copy of the cache (copies rotated past L2), against the device-to-device
 * copy; the 8B prefill attention next to the split-KV path.
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
#include "check_program.cuh"
#include "device_buffers.cuh"
#include "kernel_check_common.cuh"
#include "reference_kernels.cuh"

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

/* The split-KV decode attention against the first-version kernel (itself checked
 * by the transformers goldens) on random caches, at several positions and groups. */
static void check_attention_decode(int heads, int kv_heads, int head_dim, int count, int pos0)
{
	const int positions = pos0 + count, kv_dim = kv_heads * head_dim;
	float *q, *kc, *vc, *a, *b, *scratch;
	CUDA_OR_RETURN(cudaMalloc(&q, (size_t)count * heads * head_dim * 4));
	CUDA_OR_RETURN(cudaMalloc(&kc, (size_t)positions * kv_dim * 4));
	CUDA_OR_RETURN(cudaMalloc(&vc, (size_t)positions * kv_dim * 4));
	CUDA_OR_RETURN(cudaMalloc(&a, (size_t)count * heads * head_dim * 4));
	CUDA_OR_RETURN(cudaMalloc(&b, (size_t)count * heads * head_dim * 4));
	CUDA_OR_RETURN(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, head_dim, 64) * 4));
	std::vector<float> h((size_t)positions * kv_dim);
	for (size_t i = 0; i < h.size(); i++) h[i] = sinf(i * 0.731f) * 1.5f;
	CUDA_OR_RETURN(cudaMemcpy(kc, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
	for (size_t i = 0; i < h.size(); i++) h[i] = cosf(i * 0.377f);
	CUDA_OR_RETURN(cudaMemcpy(vc, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
	std::vector<float> hq((size_t)count * heads * head_dim);
	for (size_t i = 0; i < hq.size(); i++) hq[i] = sinf(i * 1.91f) * 2.0f;
	CUDA_OR_RETURN(cudaMemcpy(q, hq.data(), hq.size() * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemset(b, 0xff, hq.size() * 4));
	float scale = 1.0f / sqrtf((float)head_dim);
	CUDA_OR_RETURN(attention_general(q, kc, vc, LLMK_F32, a, count, pos0, heads, kv_heads, head_dim, scale, 0));
	CUDA_OR_RETURN(attention_decode(q, kc, vc, LLMK_F32, b, count, pos0, heads, kv_heads, head_dim, scale, scratch,
					64, NULL, NULL, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	std::vector<float> ha(hq.size()), hb(hq.size());
	CUDA_OR_RETURN(cudaMemcpy(ha.data(), a, ha.size() * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(hb.data(), b, hb.size() * 4, cudaMemcpyDeviceToHost));
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

/* ---- attention over the KV cache in float32, bf16 and e4m3 ---------------------------- */

/* The host's reading of element i of a cache of dtype d. */
static double cache_value(const std::vector<uint8_t> &c, enum llmk_dtype d, size_t i)
{
	if (d == LLMK_F32) { float f; memcpy(&f, c.data() + 4 * i, 4); return f; }
	if (d == LLMK_BF16) { uint16_t h; memcpy(&h, c.data() + 2 * i, 2); return numerics_bf16_to_float(h); }
	return numerics_e4m3_to_float(c[i]);
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
	CUDA_OR_RETURN(cudaMalloc(&q, qn * 4)); CUDA_OR_RETURN(cudaMalloc(&k, cn * 4));
	CUDA_OR_RETURN(cudaMalloc(&v, cn * 4));
	CUDA_OR_RETURN(cudaMalloc(&out, qn * 4)); CUDA_OR_RETURN(cudaMalloc(&kc, cn * es));
	CUDA_OR_RETURN(cudaMalloc(&vc, cn * es));
	CUDA_OR_RETURN(cudaMalloc(&pd, 4));
	CUDA_OR_RETURN(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, head_dim, max_tokens) * 4));
	CUDA_OR_RETURN(cudaMemcpy(q, hq.data(), qn * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(k, hk.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(v, hv.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(pd, &pos0, 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(ref_store_kv(k, v, kc, vc, d, kv_dim, positions, 0, NULL, 0));
	CUDA_OR_RETURN(cudaMemset(out, 0xff, qn * 4));
	const float scale = 1.0f / sqrtf((float)head_dim);
	const char *kname = "first-version attention";
	if (kind == ATT_FIRST)
		CUDA_OR_RETURN(attention_general(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale, 0));
	else if (kind == ATT_DECODE) {
		kname = "split-KV attention";
		CUDA_OR_RETURN(attention_decode(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale,
						scratch, max_tokens, NULL, NULL, 0));
	} else {
		kname = "split-KV attention (device position)";
		CUDA_OR_RETURN(attention_decode(q, kc, vc, d, out, count, 0, heads, kv_heads, head_dim, scale, scratch,
						max_tokens, pd, NULL, 0));
	}
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	std::vector<uint8_t> gk(cn * es), gv(cn * es);
	std::vector<float> got(qn);
	CUDA_OR_RETURN(cudaMemcpy(gk.data(), kc, gk.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(gv.data(), vc, gv.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(got.data(), out, qn * 4, cudaMemcpyDeviceToHost));
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

static void check_attention_caches(void)
{
	const enum llmk_dtype dtypes[] = {LLMK_F32, LLMK_BF16, LLMK_E4M3};
	for (enum llmk_dtype d : dtypes) {
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
	CUDA_OR_RETURN(cudaMalloc(&q, qn * 4)); CUDA_OR_RETURN(cudaMalloc(&k, cn * 4));
	CUDA_OR_RETURN(cudaMalloc(&v, cn * 4));
	CUDA_OR_RETURN(cudaMalloc(&eager, qn * 4)); CUDA_OR_RETURN(cudaMalloc(&graph, qn * 4));
	CUDA_OR_RETURN(cudaMalloc(&kc, cn * es)); CUDA_OR_RETURN(cudaMalloc(&vc, cn * es));
	CUDA_OR_RETURN(cudaMalloc(&pd, 4));
	CUDA_OR_RETURN(cudaMalloc(&scratch, llmk_attention_decode_scratch(heads, head_dim, 1) * 4));
	CUDA_OR_RETURN(cudaMemcpy(q, hq.data(), qn * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(k, hk.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(v, hv.data(), cn * 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(cudaMemcpy(pd, &pos0, 4, cudaMemcpyHostToDevice));
	CUDA_OR_RETURN(ref_store_kv(k, v, kc, vc, d, kv_dim, positions, 0, NULL, 0));
	CUDA_OR_RETURN(cudaMemset(eager, 0xff, qn * 4)); CUDA_OR_RETURN(cudaMemset(graph, 0xff, qn * 4));
	const float scale = 1.0f / sqrtf((float)head_dim);
	CUDA_OR_RETURN(attention_decode(q, kc, vc, d, eager, 1, pos0, heads, kv_heads, head_dim, scale, scratch, 1, NULL,
					NULL, 0));
	/* the device-position form also quantizes its output for a static input scale
	 * (o_proj's, in the decode graph): FP8 for e4m3 caches, INT8 otherwise */
	const enum llmk_quant outq_kind = d == LLMK_E4M3 ? LLMK_QUANT_FP8_STATIC : LLMK_QUANT_INT8_STATIC;
	uint8_t *xq, *xq_ref; float *xs;
	CUDA_OR_RETURN(cudaMalloc(&xq, qn)); CUDA_OR_RETURN(cudaMalloc(&xq_ref, qn));
	CUDA_OR_RETURN(cudaMalloc(&xs, 4));
	CUDA_OR_RETURN(cudaMemset(xq, 0x55, qn)); CUDA_OR_RETURN(cudaMemset(xs, 0xff, 4));
	const struct llmk_static_quant outq = {outq_kind, outq_kind == LLMK_QUANT_FP8_STATIC ? 1.2f / 448 : 1.2f / 127, xq,
					       xs};
	CUDA_OR_RETURN(attention_decode(q, kc, vc, d, graph, 1, 0, heads, kv_heads, head_dim, scale, scratch, 1, pd,
					&outq, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	float *ref_scale; CUDA_OR_RETURN(cudaMalloc(&ref_scale, 4));
	CUDA_OR_RETURN(llmk_quantize(graph, 1, (int)qn, outq.quant, outq.scale, xq_ref, ref_scale, 0));
	float got_scale = 0, want_scale = 1;
	CUDA_OR_RETURN(cudaMemcpy(&got_scale, xs, 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(&want_scale, ref_scale, 4, cudaMemcpyDeviceToHost));
	const size_t xq_bad = differing_bytes(xq, xq_ref, qn);
	cudaFree(xq); cudaFree(xq_ref); cudaFree(xs); cudaFree(ref_scale);
	std::vector<uint8_t> gk(cn * es), gv(cn * es);
	std::vector<float> got(qn), got_graph(qn);
	CUDA_OR_RETURN(cudaMemcpy(gk.data(), kc, gk.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(gv.data(), vc, gv.size(), cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(got.data(), eager, qn * 4, cudaMemcpyDeviceToHost));
	CUDA_OR_RETURN(cudaMemcpy(got_graph.data(), graph, qn * 4, cudaMemcpyDeviceToHost));
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

/* ---- the decode attention's speed as a decode step sees it ------------------------------ */

/* The decode attention (split kernel + combine, one token, Llama-3.1-8B's 32/8 heads of
 * 128) over a cache of each dtype at a context length, inside a CUDA graph
 * (graph_us_per_launch, device_buffers.cuh), caches rotated past L2 as linear_checks.cu
 * rotates the GEMV's weights (weight_copies); bytes = the K and V rows read. */
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
	char what[200];
	snprintf(what, sizeof what, "decode attention over a %s cache of %d timed without a CUDA error", dtype_name(d),
		 context);
	check(us > 0 && cudaGetLastError() == cudaSuccess, what);
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
	a.rotate_q = p; /* the prefill attention's alone */
	refused = refused && llmk_attention_decode(&a, 0) == cudaErrorInvalidValue &&
		  llmk_attention_general(&a, 0) == cudaErrorInvalidValue;
	check(refused && cudaGetLastError() == cudaSuccess,
	      "general attention refuses a device position, a quantized output or rotate_q; prefill a device position "
	      "or a dynamic quantized output; decode a dynamic one or rotate_q");
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

/* The prefill attention rotating q as it reads it (rotate_q): its output, float and
 * quantized, the bits of llmk_rope_store_kv's rotation (of q alone: no KV heads) then
 * the attention of the rotated q, and q itself left as it was.  Llama 3's inverse
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
	float *q, *q_rotated, *out, *ref_out, *freq, *scales, *ref_scales; void *kc, *vc; uint8_t *xq, *ref_xq;
	CUDA_OR_RETURN(cudaMalloc(&q, q_count * 4)); CUDA_OR_RETURN(cudaMalloc(&q_rotated, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&out, q_count * 4)); CUDA_OR_RETURN(cudaMalloc(&ref_out, q_count * 4));
	CUDA_OR_RETURN(cudaMalloc(&freq, hd / 2 * 4));
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
	a.rotate_q = freq;
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
	cudaFree(q); cudaFree(q_rotated); cudaFree(out); cudaFree(ref_out); cudaFree(freq); cudaFree(kc);
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

/* The parts a first argument runs alone (see the top of this file). */
struct part {
	const char *name;
	void (*run)(void);
};

static const struct part parts[] = {
	{"attention", attention_prefill_checks},
	{"attention-speed", [] {
		time_attention_prefill(512, 0);
		time_attention_prefill(2048, 0);
		time_attention_prefill(512, 1536);
	}},
	{"decode-attention", [] {
		check_attention_decode(32, 8, 128, 1, 0);
		check_attention_decode(32, 8, 128, 3, 4093);
		check_attention_decode(64, 8, 128, 40, 2000);
		check_attention_caches();
		check_attention_split_contexts();
		time_attention_contexts(measured_copy_bandwidth(), stdout);
	}},
	{"fusions", check_attention_split_contexts},
};

int main(int argc, char **argv)
{
	/* argv[1] is the table or a part; the seed, if any, follows it */
	if (!check_program_start(argc - 1, argv + 1, "attention_checks TABLE")) return 1;
	print_device_caches();
	for (const struct part &p : parts)
		if (argc > 1 && strcmp(argv[1], p.name) == 0) {
			p.run();
			printf("%d passed, %d failed\n", passed, failed);
			return failed ? 1 : 0;
		}
	FILE *table = fopen(argc > 1 ? argv[1] : "attention_timings.tsv", "w");
	if (!table) { printf("not ok - open the timings table\n"); return 1; }
	check_attention_decode(32, 8, 128, 1, 0);
	check_attention_decode(32, 8, 128, 1, 127);
	check_attention_decode(32, 8, 128, 3, 4093);
	check_attention_decode(64, 8, 128, 1, 5000);
	check_attention_decode(32, 4, 64, 8, 300);
	check_attention_decode(32, 8, 128, 64, 0);    /* prefill: one split a token */
	check_attention_decode(64, 8, 128, 40, 2000);
	check_attention_caches();
	check_attention_split_contexts();
	attention_prefill_checks();
	time_attention_contexts(measured_copy_bandwidth(), table);
	fclose(table);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
