/*
 * attention_checks.cu - the attention kernels and the KV cache they read against
 * float64 references, and the decode attention's speed next to the copy bandwidth of
 * the same run.  The tensor-core prefill attention's own checks and rate are
 * attention_prefill_checks.cu.
 *
 *   attention_checks [TABLE [SEED]]          (built and run by tests/gpu/run.sh on the device
 *                                            machine; TABLE, by default attention_timings.tsv,
 *                                            gets the decode attention timings as tab-separated
 *                                            lines)
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
 *   bit alike, its output's static quantization (written in the same launch) llmk_quantize's.
 * Timing: the decode attention at contexts 128 to 131072, each launch inside a CUDA graph
 * on its own copy of the cache (copies rotated past L2), against the device-to-device
 * copy.
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
#include "llm_kernels.h"
#include "numerics.h"
}
#include "attention_check_common.cuh"
#include "check_program.cuh"
#include "device_buffers.cuh"
#include "kernel_check_common.cuh"
#include "reference_kernels.cuh"

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

/* The parts a first argument runs alone (see the top of this file). */
struct part {
	const char *name;
	void (*run)(void);
};

static const struct part parts[] = {
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
	time_attention_contexts(measured_copy_bandwidth(), table);
	fclose(table);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
