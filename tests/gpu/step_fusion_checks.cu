/*
 * step_fusion_checks.cu - the decode step's fused launches against the launches they
 * replace, bit for bit, and their time next to those launches.
 *
 *   step_fusion_checks [SEED]   (built and run by tests/gpu/run.sh on the device machine)
 *
 * On random inputs (the seed is printed), every output poisoned first:
 * - llmk_gemv_add_norm (a product, then the residual add and RMSNorm + quantization in its
 *   last block) against llmk_gemv then llmk_add_rmsnorm_quantize: y, the residual stream,
 *   the normed row, the codes and the scale, for FP8 and INT8 weights, every
 *   quantization scheme and none, o_proj, down_proj and an odd shape, twice in a row
 *   (the launch counter goes back to 0);
 * - llmk_attention_decode with rope_store (RoPE and the KV store in the attention's
 *   launch) against llmk_rope_store_kv then llmk_attention_decode: the output, its static
 *   quantization, both caches whole (the new row and nothing else), for f32, bf16 and
 *   e4m3 caches, groups 1 to 8, head_dim 64 and 128, positions 0 to 40000, the position
 *   on the host and on the device; q is left unrotated; refused for more than one token;
 *   the same with the splits combined in the split launch (combine_counters), and that
 *   combination alone for 3 to 40 tokens, the counters back to 0;
 * - a dynamic scheme (FP8, INT8) for the output of the fused gate/up + SwiGLU and of the
 *   decode attention, written by the launch's last block: the launch without, then
 *   llmk_quantize, bit for bit, the counter back to 0.
 * Timing, inside CUDA graphs, Llama-3.1-8B shapes: each fused launch against its pair.
 * Prints one "ok"/"not ok" line per check, the timings, then "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "llm_kernels.h"
}

static int passed, failed;

static void check(bool ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	(ok ? passed : failed)++;
}

#define CUDA(call)                                                                                  \
	do {                                                                                        \
		cudaError_t status_ = (call);                                                       \
		if (status_ != cudaSuccess)                                                         \
			printf("not ok - %s: %s (line %d)\n", #call, cudaGetErrorString(status_), __LINE__), failed++; \
	} while (0)

static uint64_t rng_state;
static float uniform_in(float lo, float hi)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return lo + (hi - lo) * (float)((rng_state >> 40) / (double)(1ull << 24));
}

/* A device buffer of n random floats in [lo, hi). */
static float *random_floats(size_t n, float lo, float hi)
{
	std::vector<float> h(n);
	for (auto &f : h) f = uniform_in(lo, hi);
	float *d = NULL;
	CUDA(cudaMalloc(&d, n * 4));
	CUDA(cudaMemcpy(d, h.data(), n * 4, cudaMemcpyHostToDevice));
	return d;
}

static void *device_bytes(size_t n, int poison)
{
	void *d = NULL;
	CUDA(cudaMalloc(&d, n ? n : 1));
	CUDA(cudaMemset(d, poison, n ? n : 1));
	return d;
}

static void *device_copy(const void *src, size_t n)
{
	void *d = device_bytes(n, 0);
	CUDA(cudaMemcpy(d, src, n, cudaMemcpyDeviceToDevice));
	return d;
}

/* Bytes that differ between two device buffers (all of them when one cannot be read). */
static size_t differing_bytes(const void *a, const void *b, size_t bytes)
{
	std::vector<uint8_t> ha(bytes), hb(bytes);
	if (cudaMemcpy(ha.data(), a, bytes, cudaMemcpyDeviceToHost) != cudaSuccess ||
	    cudaMemcpy(hb.data(), b, bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
		return bytes ? bytes : 1;
	size_t bad = 0;
	for (size_t i = 0; i < bytes; i++) bad += ha[i] != hb[i];
	return bad;
}

/* Random 8-bit weights: e4m3 codes without NaN, or int8. */
static void *random_weights(enum llmk_dtype dtype, size_t n)
{
	void *w = device_bytes(n, 0);
	CUDA(llmk_fill_random(w, n, dtype, (uint32_t)(uniform_in(0, 1) * 4e9f), 0, 0));
	return w;
}

static const char *quant_name(enum llmk_quant q)
{
	switch (q) {
	case LLMK_QUANT_NONE: return "no quantization";
	case LLMK_QUANT_FP8_STATIC: return "FP8 static";
	case LLMK_QUANT_FP8_DYNAMIC: return "FP8 dynamic";
	case LLMK_QUANT_INT8_DYNAMIC: return "INT8 dynamic";
	case LLMK_QUANT_INT8_STATIC: return "INT8 static";
	}
	return "?";
}

/* ---- llmk_gemv_add_norm ------------------------------------------------------------ */

/* What a product and the norm after it write: y, x (the residual stream), out, xq, scale. */
struct norm_outputs {
	float *y, *x, *out, *scale;
	uint8_t *xq;
};

static struct norm_outputs norm_outputs_make(int rows, const float *x0)
{
	struct norm_outputs o;
	o.y = (float *)device_bytes((size_t)rows * 4, 0xff);
	o.x = (float *)device_copy(x0, (size_t)rows * 4);
	o.out = (float *)device_bytes((size_t)rows * 4, 0xff);
	o.scale = (float *)device_bytes(4, 0xff);
	o.xq = (uint8_t *)device_bytes((size_t)rows, 0x7f);
	return o;
}

static void norm_outputs_free(struct norm_outputs *o)
{
	cudaFree(o->y); cudaFree(o->x); cudaFree(o->out); cudaFree(o->scale); cudaFree(o->xq);
}

static size_t norm_outputs_differ(const struct norm_outputs &a, const struct norm_outputs &b, int rows, bool quantized)
{
	size_t bad = differing_bytes(a.y, b.y, (size_t)rows * 4) + differing_bytes(a.x, b.x, (size_t)rows * 4) +
		     differing_bytes(a.out, b.out, (size_t)rows * 4);
	if (quantized)
		bad += differing_bytes(a.xq, b.xq, (size_t)rows) + differing_bytes(a.scale, b.scale, 4);
	return bad;
}

static void check_gemv_add_norm(enum llmk_dtype wdtype, int rows, int cols, enum llmk_quant quant, const char *shape)
{
	void *w = random_weights(wdtype, (size_t)rows * cols);
	float *wscale = random_floats((size_t)rows, 0.001f, 0.01f);
	float *x0 = random_floats((size_t)rows, -3, 3), *norm_weight = random_floats((size_t)rows, 0.2f, 1.8f);
	uint8_t *xq = (uint8_t *)random_weights(wdtype, (size_t)cols); /* the product's quantized input */
	float *xs = random_floats(1, 0.01f, 0.02f);
	unsigned int *counter = (unsigned int *)device_bytes(4, 0);
	const float eps = 1e-5f, static_scale = quant == LLMK_QUANT_INT8_STATIC ? 0.02f : 0.004f;
	struct norm_outputs want = norm_outputs_make(rows, x0), got = norm_outputs_make(rows, x0);
	const struct llmk_gemv_input in = {wdtype, cols, NULL, xq, xs};
	struct llmk_gemv_matrix m = {w, wscale, rows, rows, want.y};
	CUDA(llmk_gemv(&m, &in, -1, 0));
	CUDA(llmk_add_rmsnorm_quantize(want.x, want.y, norm_weight, want.out, 1, rows, eps, quant, static_scale, want.xq,
				       want.scale, 0));
	const bool quantized = quant != LLMK_QUANT_NONE;
	size_t bad[2];
	for (int round = 0; round < 2; round++) {
		if (round == 1) { /* again, from the same residual stream: the counter must be back to 0 */
			CUDA(cudaMemcpy(got.x, x0, (size_t)rows * 4, cudaMemcpyDeviceToDevice));
			CUDA(cudaMemset(got.y, 0xff, (size_t)rows * 4));
			CUDA(cudaMemset(got.out, 0xff, (size_t)rows * 4));
			CUDA(cudaMemset(got.xq, 0x7f, (size_t)rows));
		}
		m.y = got.y;
		const struct llmk_add_norm norm = {got.x, norm_weight, got.out, eps, quant, static_scale,
						   quantized ? got.xq : NULL, quantized ? got.scale : NULL, counter};
		CUDA(llmk_gemv_add_norm(&m, &in, &norm, 0));
		CUDA(cudaDeviceSynchronize());
		bad[round] = norm_outputs_differ(want, got, rows, quantized);
	}
	unsigned int left = 1;
	CUDA(cudaMemcpy(&left, counter, 4, cudaMemcpyDeviceToHost));
	char what[300];
	snprintf(what, sizeof what,
		 "gemv_add_norm %s %s (%dx%d), %s: bit for bit llmk_gemv + llmk_add_rmsnorm_quantize, twice "
		 "(%zu, %zu bytes differ), counter back to %u",
		 wdtype == LLMK_E4M3 ? "FP8" : "INT8", shape, rows, cols, quant_name(quant), bad[0], bad[1], left);
	check(bad[0] == 0 && bad[1] == 0 && left == 0, what);
	norm_outputs_free(&want); norm_outputs_free(&got);
	cudaFree(w); cudaFree(wscale); cudaFree(x0); cudaFree(norm_weight); cudaFree(xq); cudaFree(xs); cudaFree(counter);
}

static void check_gemv_add_norm_refusals(void)
{
	const struct llmk_gemv_input in = {LLMK_E4M3, 4096, NULL, (const void *)256, (const float *)256};
	const struct llmk_gemv_matrix m = {(const void *)256, (const float *)256, 1, 4096, (float *)256};
	struct llmk_add_norm norm = {(float *)256, (const float *)256, (float *)512, 1e-5f, LLMK_QUANT_FP8_STATIC, 1,
				     (void *)256, (float *)256, NULL};
	cudaError_t no_counter = llmk_gemv_add_norm(&m, &in, &norm, 0);
	norm.counter = (unsigned int *)256;
	norm.out = norm.x;
	cudaError_t out_is_x = llmk_gemv_add_norm(&m, &in, &norm, 0);
	norm.out = (float *)512;
	norm.xq = NULL;
	cudaError_t no_codes = llmk_gemv_add_norm(&m, &in, &norm, 0);
	cudaGetLastError();
	check(no_counter == cudaErrorInvalidValue && out_is_x == cudaErrorInvalidValue && no_codes == cudaErrorInvalidValue,
	      "gemv_add_norm refuses a missing counter, out == x, and a quantization with nowhere to write it");
}

/* ---- llmk_attention_decode with rope_store -------------------------------------------- */

static size_t element_size(enum llmk_dtype d) { return d == LLMK_F32 ? 4 : d == LLMK_BF16 ? 2 : 1; }

static const char *dtype_name(enum llmk_dtype d) { return d == LLMK_F32 ? "f32" : d == LLMK_BF16 ? "bf16" : "e4m3"; }

/* A cache of positions rows of random values, rounded as the cache stores them (the
 * store of llmk_rope_store_kv puts them in as values; its keys go to a scratch cache). */
static void *random_cache(enum llmk_dtype d, int positions, int kv_dim, const float *inv_freq, int head_dim)
{
	size_t n = (size_t)positions * kv_dim;
	void *c = device_bytes(n * element_size(d), 0), *keys = device_bytes(n * element_size(d), 0);
	float *rows = random_floats(n, -2, 2);
	CUDA(llmk_rope_store_kv(NULL, 0, 0, rows, rows, kv_dim / head_dim, head_dim, positions, 0, NULL, inv_freq, keys,
				c, d, 0));
	CUDA(cudaDeviceSynchronize());
	cudaFree(rows); cudaFree(keys);
	return c;
}

struct decode_case {
	int heads, kv_heads, head_dim, pos;
	enum llmk_dtype cache;
	bool device_pos, quantize_out, fused_combine;
};

static void check_fused_rope_attention(struct decode_case c)
{
	const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim, positions = c.pos + 5;
	const size_t cache_bytes = (size_t)positions * kv_dim * element_size(c.cache);
	std::vector<float> freq(c.head_dim / 2);
	for (int i = 0; i < c.head_dim / 2; i++) freq[i] = (float)pow(500000.0, -2.0 * i / c.head_dim);
	float *inv_freq = (float *)device_bytes(freq.size() * 4, 0);
	CUDA(cudaMemcpy(inv_freq, freq.data(), freq.size() * 4, cudaMemcpyHostToDevice));
	void *k1 = random_cache(c.cache, positions, kv_dim, inv_freq, c.head_dim);
	void *v1 = random_cache(c.cache, positions, kv_dim, inv_freq, c.head_dim);
	void *k2 = device_copy(k1, cache_bytes), *v2 = device_copy(v1, cache_bytes);
	float *q1 = random_floats((size_t)q_dim, -3, 3), *q2 = (float *)device_copy(q1, (size_t)q_dim * 4);
	float *q_before = (float *)device_copy(q1, (size_t)q_dim * 4);
	float *key_rows = random_floats((size_t)kv_dim, -20, 20), *value_rows = random_floats((size_t)kv_dim, -2, 2);
	float *out1 = (float *)device_bytes((size_t)q_dim * 4, 0xff), *out2 = (float *)device_bytes((size_t)q_dim * 4, 0xff);
	uint8_t *xq1 = (uint8_t *)device_bytes((size_t)q_dim, 0x7f), *xq2 = (uint8_t *)device_bytes((size_t)q_dim, 0x7f);
	float *s1 = (float *)device_bytes(4, 0xff), *s2 = (float *)device_bytes(4, 0xff);
	int *dpos = (int *)device_bytes(4, 0);
	CUDA(cudaMemcpy(dpos, &c.pos, 4, cudaMemcpyHostToDevice));
	float *scratch = (float *)device_bytes(llmk_attention_decode_scratch(c.heads, c.head_dim, 8) * 4, 0xff);
	const struct llmk_out_quant q1_out = {LLMK_QUANT_FP8_STATIC, 0.01f, xq1, s1}, q2_out = {LLMK_QUANT_FP8_STATIC, 0.01f, xq2, s2};
	struct llmk_attention a = {};
	a.cache_dtype = c.cache; a.count = 1; a.pos0 = c.device_pos ? 0 : c.pos; a.heads = c.heads;
	a.kv_heads = c.kv_heads; a.head_dim = c.head_dim; a.scale = (float)(1.0 / sqrt((double)c.head_dim));
	a.pos_dev = c.device_pos ? dpos : NULL; a.scratch = scratch; a.max_tokens = 8;
	/* the pair */
	CUDA(llmk_rope_store_kv(q1, q_dim, c.heads, key_rows, value_rows, c.kv_heads, c.head_dim, 1, a.pos0, a.pos_dev,
				inv_freq, k1, v1, c.cache, 0));
	a.q = q1; a.key_cache = k1; a.value_cache = v1; a.out = out1; a.outq = c.quantize_out ? &q1_out : NULL;
	CUDA(llmk_attention_decode(&a, 0));
	CUDA(cudaDeviceSynchronize());
	CUDA(cudaMemset(scratch, 0xff, llmk_attention_decode_scratch(c.heads, c.head_dim, 8) * 4));
	/* the fused launch: RoPE and the store, and with counters the combination too */
	const struct llmk_rope_store rope = {key_rows, value_rows, inv_freq};
	unsigned int *counters = (unsigned int *)device_bytes((size_t)c.kv_heads * 4, 0);
	a.q = q2; a.key_cache = k2; a.value_cache = v2; a.out = out2; a.outq = c.quantize_out ? &q2_out : NULL;
	a.rope_store = &rope;
	a.combine_counters = c.fused_combine ? counters : NULL;
	CUDA(llmk_attention_decode(&a, 0));
	CUDA(cudaDeviceSynchronize());
	size_t bad = differing_bytes(out1, out2, (size_t)q_dim * 4) + differing_bytes(k1, k2, cache_bytes) +
		     differing_bytes(v1, v2, cache_bytes);
	if (c.quantize_out)
		bad += differing_bytes(xq1, xq2, (size_t)q_dim) + differing_bytes(s1, s2, 4);
	size_t q_changed = differing_bytes(q2, q_before, (size_t)q_dim * 4);
	std::vector<unsigned int> left(c.kv_heads, 1);
	CUDA(cudaMemcpy(left.data(), counters, (size_t)c.kv_heads * 4, cudaMemcpyDeviceToHost));
	const bool counters_zero = std::count(left.begin(), left.end(), 0u) == c.kv_heads;
	char what[300];
	snprintf(what, sizeof what,
		 "attention with rope_store%s, %d/%d heads of %d, %s cache, position %d (%s)%s: bit for bit rope_store_kv + "
		 "attention_decode, both caches whole (%zu bytes differ), q unrotated (%zu bytes changed)%s",
		 c.fused_combine ? " and the combine" : "", c.heads, c.kv_heads, c.head_dim, dtype_name(c.cache), c.pos,
		 c.device_pos ? "device" : "host", c.quantize_out ? ", output quantized" : "", bad, q_changed,
		 counters_zero ? "" : ", counters not back to 0");
	check(bad == 0 && q_changed == 0 && counters_zero, what);
	cudaFree(counters);
	cudaFree(inv_freq); cudaFree(k1); cudaFree(v1); cudaFree(k2); cudaFree(v2); cudaFree(q1); cudaFree(q2);
	cudaFree(q_before); cudaFree(key_rows); cudaFree(value_rows); cudaFree(out1); cudaFree(out2); cudaFree(xq1);
	cudaFree(xq2); cudaFree(s1); cudaFree(s2); cudaFree(dpos); cudaFree(scratch);
}

/* A few tokens (no RoPE in the launch): the combine in the split launch against the
 * combine launch, out bit for bit, the counters back to 0. */
static void check_fused_combine_tokens(enum llmk_dtype d, int count, int pos)
{
	const int heads = 32, kv_heads = 8, hd = 128, q_dim = heads * hd, kv_dim = kv_heads * hd;
	std::vector<float> freq(hd / 2);
	for (int i = 0; i < hd / 2; i++) freq[i] = (float)pow(500000.0, -2.0 * i / hd);
	float *inv_freq = (float *)device_bytes(freq.size() * 4, 0);
	CUDA(cudaMemcpy(inv_freq, freq.data(), freq.size() * 4, cudaMemcpyHostToDevice));
	void *kc = random_cache(d, pos + count, kv_dim, inv_freq, hd), *vc = random_cache(d, pos + count, kv_dim, inv_freq, hd);
	float *q = random_floats((size_t)count * q_dim, -3, 3);
	float *out1 = (float *)device_bytes((size_t)count * q_dim * 4, 0xff);
	float *out2 = (float *)device_bytes((size_t)count * q_dim * 4, 0xff);
	float *scratch = (float *)device_bytes(llmk_attention_decode_scratch(heads, hd, 64) * 4, 0xff);
	unsigned int *counters = (unsigned int *)device_bytes((size_t)count * kv_heads * 4, 0);
	struct llmk_attention a = {};
	a.q = q; a.key_cache = kc; a.value_cache = vc; a.cache_dtype = d; a.count = count; a.pos0 = pos;
	a.heads = heads; a.kv_heads = kv_heads; a.head_dim = hd; a.scale = 0.088f; a.scratch = scratch;
	a.max_tokens = 64; a.out = out1;
	CUDA(llmk_attention_decode(&a, 0));
	a.out = out2;
	a.combine_counters = counters;
	CUDA(llmk_attention_decode(&a, 0));
	CUDA(cudaDeviceSynchronize());
	size_t bad = differing_bytes(out1, out2, (size_t)count * q_dim * 4);
	std::vector<unsigned int> left((size_t)count * kv_heads, 1);
	CUDA(cudaMemcpy(left.data(), counters, left.size() * 4, cudaMemcpyDeviceToHost));
	const bool counters_zero = std::count(left.begin(), left.end(), 0u) == (long)left.size();
	char what[300];
	snprintf(what, sizeof what, "attention of %d tokens at %d, %s cache, combined in the split launch: bit for bit "
		 "the combine launch (%zu bytes differ)%s", count, pos, dtype_name(d), bad,
		 counters_zero ? ", counters back to 0" : ", counters NOT back to 0");
	check(bad == 0 && counters_zero, what);
	cudaFree(inv_freq); cudaFree(kc); cudaFree(vc); cudaFree(q); cudaFree(out1); cudaFree(out2); cudaFree(scratch);
	cudaFree(counters);
}

static void check_fused_rope_refusals(void)
{
	const struct llmk_rope_store rope = {(const float *)256, (const float *)256, (const float *)256};
	struct llmk_attention a = {};
	a.q = (const float *)256; a.key_cache = (const void *)256; a.value_cache = (const void *)256;
	a.cache_dtype = LLMK_BF16; a.out = (float *)256; a.count = 2; a.pos0 = 10; a.heads = 32; a.kv_heads = 8;
	a.head_dim = 128; a.scale = 0.1f; a.scratch = (float *)256; a.max_tokens = 8; a.rope_store = &rope;
	cudaError_t two_tokens = llmk_attention_decode(&a, 0);
	a.count = 1;
	cudaError_t general = llmk_attention_general(&a, 0);
	cudaGetLastError();
	check(two_tokens == cudaErrorInvalidValue && general == cudaErrorInvalidValue,
	      "rope_store is refused with two tokens and by the general attention kernel");
}

/* ---- dynamic quantization by the last block ------------------------------------------ */

/* The fused gate/up + SwiGLU with a dynamic output scheme, against the same launch
 * without and llmk_quantize of its output; twice in a row. */
static void check_swiglu_dynamic(enum llmk_dtype wdtype, enum llmk_quant quant, int rows, int cols)
{
	void *gw = random_weights(wdtype, (size_t)rows * cols), *uw = random_weights(wdtype, (size_t)rows * cols);
	float *gs = random_floats((size_t)rows, 0.001f, 0.01f), *us = random_floats((size_t)rows, 0.001f, 0.01f);
	uint8_t *xq = (uint8_t *)random_weights(wdtype, (size_t)cols);
	float *xs = random_floats(1, 0.01f, 0.02f);
	float *y1 = (float *)device_bytes((size_t)rows * 4, 0xff), *y2 = (float *)device_bytes((size_t)rows * 4, 0xff);
	uint8_t *q1 = (uint8_t *)device_bytes((size_t)rows, 0x7f), *q2 = (uint8_t *)device_bytes((size_t)rows, 0x7f);
	float *s1 = (float *)device_bytes(4, 0xff), *s2 = (float *)device_bytes(4, 0xff);
	unsigned int *counter = (unsigned int *)device_bytes(4, 0);
	const struct llmk_gemv_matrix gate = {gw, gs, rows, rows, NULL}, up = {uw, us, rows, rows, NULL};
	const struct llmk_gemv_input in = {wdtype, cols, NULL, xq, xs};
	CUDA(llmk_gemv_swiglu(&gate, &up, &in, y1, NULL, 0));
	CUDA(llmk_quantize(y1, 1, rows, quant, 0, q1, s1, 0));
	const struct llmk_out_quant yq = {quant, 0, q2, s2, counter};
	size_t bad[2];
	for (int round = 0; round < 2; round++) {
		CUDA(cudaMemset(q2, 0x7f, (size_t)rows));
		CUDA(cudaMemset(s2, 0xff, 4));
		CUDA(llmk_gemv_swiglu(&gate, &up, &in, y2, &yq, 0));
		CUDA(cudaDeviceSynchronize());
		bad[round] = differing_bytes(y1, y2, (size_t)rows * 4) + differing_bytes(q1, q2, (size_t)rows) +
			     differing_bytes(s1, s2, 4);
	}
	unsigned int left = 1;
	CUDA(cudaMemcpy(&left, counter, 4, cudaMemcpyDeviceToHost));
	char what[300];
	snprintf(what, sizeof what, "%s gate/up + SwiGLU (%dx%d) with its output quantized %s in the launch: bit for "
		 "bit the launch without + llmk_quantize, twice (%zu, %zu bytes differ), counter back to %u",
		 wdtype == LLMK_E4M3 ? "FP8" : "INT8", rows, cols, quant_name(quant), bad[0], bad[1], left);
	check(bad[0] == 0 && bad[1] == 0 && left == 0, what);
	cudaFree(gw); cudaFree(uw); cudaFree(gs); cudaFree(us); cudaFree(xq); cudaFree(xs); cudaFree(y1); cudaFree(y2);
	cudaFree(q1); cudaFree(q2); cudaFree(s1); cudaFree(s2); cudaFree(counter);
}

/* The decode attention (RoPE and store fused) with a dynamic output scheme, against the
 * same launch without and llmk_quantize of its output. */
static void check_attention_dynamic(enum llmk_quant quant, int heads, int kv_heads, int pos, bool fused_combine)
{
	const int hd = 128, q_dim = heads * hd, kv_dim = kv_heads * hd, positions = pos + 2;
	std::vector<float> freq(hd / 2);
	for (int i = 0; i < hd / 2; i++) freq[i] = (float)pow(500000.0, -2.0 * i / hd);
	float *inv_freq = (float *)device_bytes(freq.size() * 4, 0);
	CUDA(cudaMemcpy(inv_freq, freq.data(), freq.size() * 4, cudaMemcpyHostToDevice));
	void *kc = random_cache(LLMK_BF16, positions, kv_dim, inv_freq, hd);
	void *vc = random_cache(LLMK_BF16, positions, kv_dim, inv_freq, hd);
	float *q = random_floats((size_t)q_dim, -3, 3), *k = random_floats((size_t)kv_dim, -3, 3);
	float *v = random_floats((size_t)kv_dim, -2, 2);
	float *out1 = (float *)device_bytes((size_t)q_dim * 4, 0xff), *out2 = (float *)device_bytes((size_t)q_dim * 4, 0xff);
	uint8_t *q1 = (uint8_t *)device_bytes((size_t)q_dim, 0x7f), *q2 = (uint8_t *)device_bytes((size_t)q_dim, 0x7f);
	float *s1 = (float *)device_bytes(4, 0xff), *s2 = (float *)device_bytes(4, 0xff);
	float *scratch = (float *)device_bytes(llmk_attention_decode_scratch(heads, hd, 8) * 4, 0xff);
	unsigned int *counter = (unsigned int *)device_bytes(4, 0);
	const struct llmk_rope_store rope = {k, v, inv_freq};
	const struct llmk_out_quant outq = {quant, 0, q2, s2, counter};
	struct llmk_attention a = {};
	a.q = q; a.key_cache = kc; a.value_cache = vc; a.cache_dtype = LLMK_BF16; a.count = 1; a.pos0 = pos;
	a.heads = heads; a.kv_heads = kv_heads; a.head_dim = hd; a.scale = 0.088f; a.scratch = scratch;
	a.max_tokens = 8; a.rope_store = &rope; a.out = out1;
	CUDA(llmk_attention_decode(&a, 0)); /* stores the same row again below: the same bits */
	CUDA(llmk_quantize(out1, 1, q_dim, quant, 0, q1, s1, 0));
	a.out = out2;
	a.outq = &outq;
	unsigned int *combine_counters = (unsigned int *)device_bytes((size_t)kv_heads * 4, 0);
	a.combine_counters = fused_combine ? combine_counters : NULL;
	CUDA(llmk_attention_decode(&a, 0));
	CUDA(cudaDeviceSynchronize());
	size_t bad = differing_bytes(out1, out2, (size_t)q_dim * 4) + differing_bytes(q1, q2, (size_t)q_dim) +
		     differing_bytes(s1, s2, 4);
	unsigned int left = 1;
	CUDA(cudaMemcpy(&left, counter, 4, cudaMemcpyDeviceToHost));
	char what[300];
	snprintf(what, sizeof what, "decode attention%s, %d/%d heads at %d, its output quantized %s in the launch: bit "
		 "for bit the launch without + llmk_quantize (%zu bytes differ), counter back to %u",
		 fused_combine ? " (combined in the split launch)" : "", heads, kv_heads, pos, quant_name(quant), bad, left);
	check(bad == 0 && left == 0, what);
	cudaFree(combine_counters);
	cudaFree(inv_freq); cudaFree(kc); cudaFree(vc); cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(out1);
	cudaFree(out2); cudaFree(q1); cudaFree(q2); cudaFree(s1); cudaFree(s2); cudaFree(scratch); cudaFree(counter);
}

/* ---- timing ---------------------------------------------------------------------- */

/* Median time of one replay of a graph of `launches` calls of launch, in microseconds a call. */
template <typename F>
static double graph_us(int launches, F launch)
{
	cudaStream_t s;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) return -1;
	cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
	bool ok = true;
	for (int i = 0; i < launches; i++) ok = ok && launch(i, s) == cudaSuccess;
	if (cudaStreamEndCapture(s, &graph) != cudaSuccess || !ok) { cudaStreamDestroy(s); return -1; }
	if (cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) { cudaGraphDestroy(graph); cudaStreamDestroy(s); return -1; }
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms;
	for (int r = 0; r < 23; r++) {
		cudaEventRecord(e0, s); cudaGraphLaunch(exec, s); cudaEventRecord(e1, s); cudaEventSynchronize(e1);
		float m; cudaEventElapsedTime(&m, e0, e1); if (r >= 3) ms.push_back(m);
	}
	std::sort(ms.begin(), ms.end());
	cudaEventDestroy(e0); cudaEventDestroy(e1);
	cudaGraphExecDestroy(exec); cudaGraphDestroy(graph); cudaStreamDestroy(s);
	return cudaGetLastError() == cudaSuccess ? ms[ms.size() / 2] * 1e3 / launches : -1;
}

/* The product and the norm after it, 8B o_proj and down_proj shapes (copies of the
 * weights rotated so that L2 holds none). */
static void time_gemv_add_norm(enum llmk_dtype wdtype, int rows, int cols, const char *shape)
{
	const int copies = std::max(2, (int)((512 << 20) / ((size_t)rows * cols)) + 1);
	std::vector<void *> w(copies);
	for (auto &p : w) p = random_weights(wdtype, (size_t)rows * cols);
	float *wscale = random_floats((size_t)rows, 0.001f, 0.01f), *xs = random_floats(1, 0.01f, 0.02f);
	float *x = random_floats((size_t)rows, -3, 3), *norm_weight = random_floats((size_t)rows, 0.2f, 1.8f);
	float *y = (float *)device_bytes((size_t)rows * 4, 0), *out = (float *)device_bytes((size_t)rows * 4, 0);
	float *scale = (float *)device_bytes(4, 0);
	uint8_t *xq = (uint8_t *)random_weights(wdtype, (size_t)cols), *codes = (uint8_t *)device_bytes((size_t)rows, 0);
	unsigned int *counter = (unsigned int *)device_bytes(4, 0);
	const enum llmk_quant quant = wdtype == LLMK_E4M3 ? LLMK_QUANT_FP8_STATIC : LLMK_QUANT_INT8_DYNAMIC;
	const struct llmk_gemv_input in = {wdtype, cols, NULL, xq, xs};
	double pair = graph_us(2 * copies, [&](int i, cudaStream_t s) {
		const struct llmk_gemv_matrix m = {w[i / 2], wscale, rows, rows, y};
		return i % 2 == 0 ? llmk_gemv(&m, &in, -1, s)
				  : llmk_add_rmsnorm_quantize(x, y, norm_weight, out, 1, rows, 1e-5f, quant, 0.004f, codes, scale, s);
	});
	double fused = graph_us(copies, [&](int i, cudaStream_t s) {
		const struct llmk_gemv_matrix m = {w[i], wscale, rows, rows, y};
		const struct llmk_add_norm norm = {x, norm_weight, out, 1e-5f, quant, 0.004f, codes, scale, counter};
		return llmk_gemv_add_norm(&m, &in, &norm, s);
	});
	printf("  %-4s %-9s %5dx%-5d: llmk_gemv + add_rmsnorm_quantize %6.1f us, llmk_gemv_add_norm %6.1f us\n",
	       wdtype == LLMK_E4M3 ? "FP8" : "INT8", shape, rows, cols, 2 * pair, fused);
	for (auto p : w) cudaFree(p);
	cudaFree(wscale); cudaFree(xs); cudaFree(x); cudaFree(norm_weight); cudaFree(y); cudaFree(out); cudaFree(scale);
	cudaFree(xq); cudaFree(codes); cudaFree(counter);
}

/* RoPE + store then attention, against the fused launch: 32/8 heads of 128, bf16 cache. */
static void time_fused_rope_attention(int context)
{
	const int heads = 32, kv_heads = 8, hd = 128, q_dim = heads * hd, kv_dim = kv_heads * hd, layers = 16;
	std::vector<float> freq(hd / 2);
	for (int i = 0; i < hd / 2; i++) freq[i] = (float)pow(500000.0, -2.0 * i / hd);
	float *inv_freq = (float *)device_bytes(freq.size() * 4, 0);
	CUDA(cudaMemcpy(inv_freq, freq.data(), freq.size() * 4, cudaMemcpyHostToDevice));
	const size_t cache_bytes = (size_t)(context + 1) * kv_dim * 2;
	std::vector<void *> kc(layers), vc(layers);
	for (int i = 0; i < layers; i++) { kc[i] = device_bytes(cache_bytes, 0x3c); vc[i] = device_bytes(cache_bytes, 0x3c); }
	float *q = random_floats((size_t)q_dim, -1, 1), *k = random_floats((size_t)kv_dim, -1, 1);
	float *v = random_floats((size_t)kv_dim, -1, 1), *out = (float *)device_bytes((size_t)q_dim * 4, 0);
	float *scratch = (float *)device_bytes(llmk_attention_decode_scratch(heads, hd, 8) * 4, 0);
	int *dpos = (int *)device_bytes(4, 0);
	CUDA(cudaMemcpy(dpos, &context, 4, cudaMemcpyHostToDevice));
	struct llmk_attention a = {};
	a.q = q; a.cache_dtype = LLMK_BF16; a.out = out; a.count = 1; a.heads = heads; a.kv_heads = kv_heads;
	a.head_dim = hd; a.scale = 0.088f; a.pos_dev = dpos; a.scratch = scratch; a.max_tokens = 8;
	const struct llmk_rope_store rope = {k, v, inv_freq};
	double pair = graph_us(2 * layers, [&](int i, cudaStream_t s) {
		struct llmk_attention b = a;
		b.key_cache = kc[i / 2]; b.value_cache = vc[i / 2];
		return i % 2 == 0 ? llmk_rope_store_kv(q, q_dim, heads, k, v, kv_heads, hd, 1, 0, dpos, inv_freq, kc[i / 2],
						       vc[i / 2], LLMK_BF16, s)
				  : llmk_attention_decode(&b, s);
	});
	double fused = graph_us(layers, [&](int i, cudaStream_t s) {
		struct llmk_attention b = a;
		b.key_cache = kc[i]; b.value_cache = vc[i]; b.rope_store = &rope;
		return llmk_attention_decode(&b, s);
	});
	unsigned int *counters = (unsigned int *)device_bytes((size_t)kv_heads * 4, 0);
	double one_launch = graph_us(layers, [&](int i, cudaStream_t s) {
		struct llmk_attention b = a;
		b.key_cache = kc[i]; b.value_cache = vc[i]; b.rope_store = &rope; b.combine_counters = counters;
		return llmk_attention_decode(&b, s);
	});
	cudaFree(counters);
	printf("  context %6d, bf16 cache: rope_store_kv + split + combine %6.1f us, RoPE in the split %6.1f us, "
	       "and the combine too (one launch) %6.1f us\n", context, 2 * pair, fused, one_launch);
	for (int i = 0; i < layers; i++) { cudaFree(kc[i]); cudaFree(vc[i]); }
	cudaFree(inv_freq); cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(out); cudaFree(scratch); cudaFree(dpos);
}

int main(int argc, char **argv)
{
	cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
		printf("not ok - a CUDA device\n0 passed, 1 failed\n");
		return 1;
	}
	printf("# %s\n", prop.name);
	rng_state = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL) * 2654435761u | 1;
	printf("# random seed %#llx (step_fusion_checks SEED repeats a run)\n", (unsigned long long)rng_state);
	const enum llmk_quant quants[] = {LLMK_QUANT_NONE, LLMK_QUANT_FP8_STATIC, LLMK_QUANT_FP8_DYNAMIC,
					  LLMK_QUANT_INT8_DYNAMIC, LLMK_QUANT_INT8_STATIC};
	for (enum llmk_dtype wd : {LLMK_E4M3, LLMK_I8})
		for (enum llmk_quant q : quants) {
			check_gemv_add_norm(wd, 4096, 4096, q, "o_proj");
			check_gemv_add_norm(wd, 4096, 14336, q, "down_proj");
		}
	check_gemv_add_norm(LLMK_E4M3, 1001, 512, LLMK_QUANT_FP8_STATIC, "odd rows");
	check_gemv_add_norm(LLMK_I8, 8192, 1024, LLMK_QUANT_INT8_DYNAMIC, "70B width");
	check_gemv_add_norm_refusals();
	const struct decode_case cases[] = {
		{32, 8, 128, 0, LLMK_BF16, true, true},     {32, 8, 128, 63, LLMK_BF16, false, true},
		{32, 8, 128, 64, LLMK_BF16, true, false},   {32, 8, 128, 4000, LLMK_BF16, true, true},
		{32, 8, 128, 40000, LLMK_BF16, true, true}, {32, 8, 128, 4000, LLMK_F32, true, false},
		{32, 8, 128, 4000, LLMK_E4M3, true, true},  {32, 8, 128, 127, LLMK_E4M3, false, false},
		{64, 8, 128, 2000, LLMK_BF16, true, true},  {32, 4, 64, 300, LLMK_F32, false, true},
		{8, 8, 64, 1000, LLMK_E4M3, true, false},   {16, 2, 128, 5000, LLMK_BF16, false, false},
		{24, 8, 128, 777, LLMK_BF16, true, true},
	};
	for (struct decode_case c : cases)
		for (bool combine : {false, true}) {
			c.fused_combine = combine;
			check_fused_rope_attention(c);
		}
	for (enum llmk_dtype d : {LLMK_BF16, LLMK_E4M3})
		for (int count : {3, 8, 40})
			check_fused_combine_tokens(d, count, count == 40 ? 2000 : 4093);
	check_fused_rope_refusals();
	for (enum llmk_quant q : {LLMK_QUANT_INT8_DYNAMIC, LLMK_QUANT_FP8_DYNAMIC}) {
		check_swiglu_dynamic(q == LLMK_QUANT_INT8_DYNAMIC ? LLMK_I8 : LLMK_E4M3, q, 14336, 4096);
		check_swiglu_dynamic(LLMK_I8, q, 301, 512);
		check_attention_dynamic(q, 32, 8, 100, false);
		check_attention_dynamic(q, 64, 8, 5000, false);
		check_attention_dynamic(q, 32, 8, 100, true);
		check_attention_dynamic(q, 32, 8, 33000, true);
	}
	printf("# the fused launches against the pairs they replace, per layer, inside a CUDA graph:\n");
	time_gemv_add_norm(LLMK_E4M3, 4096, 4096, "o_proj");
	time_gemv_add_norm(LLMK_E4M3, 4096, 14336, "down_proj");
	time_gemv_add_norm(LLMK_I8, 4096, 4096, "o_proj");
	for (int context : {128, 4096, 32768})
		time_fused_rope_attention(context);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
