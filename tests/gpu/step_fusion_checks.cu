/*
 * step_fusion_checks.cu - the decode step's fused launches against the launches they
 * replace, bit for bit, and their time next to those launches.
 *
 *   step_fusion_checks [SEED]   (built and run by tests/gpu/run.sh on the device machine)
 *
 * On random inputs (the seed is printed), every output poisoned first:
 * - llmk_gemv with then_norm (the residual add, RMSNorm and quantization in the GEMV's
 *   launch) against llmk_gemv then llmk_add_rmsnorm_quantize: y, the residual, the normed
 *   row and the codes and scale, FP8 and INT8 weights, CUDA and tensor cores, every
 *   quantization after it, 2052 to 8192 rows, twice on one set of words; its refusals.
 * - llmk_gemv_swiglu and the decode attention with a dynamic output quantization (their
 *   last block rounds the row) against the launch then llmk_quantize, twice; refusals.
 * - llmk_attention_decode with rope_store (RoPE and the KV store in the attention's
 *   launch) against llmk_rope_store_kv then llmk_attention_decode: the output, its static
 *   quantization, both caches whole (the new row and nothing else), for f32, bf16 and
 *   e4m3 caches, groups 1 to 8, head_dim 64 and 128, positions 0 to 40000, the position
 *   on the host and on the device; q is left unrotated; refused for more than one token
 *   and by the general kernel.
 * Timing, inside CUDA graphs, the Llama-3.1-8B shape: each fused launch against the pair.
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
#include "check_program.cuh"
#include "device_buffers.cuh"

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
	bool device_pos, quantize_out;
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
	const struct llmk_static_quant q1_out = {LLMK_QUANT_FP8_STATIC, 0.01f, xq1, s1}, q2_out = {LLMK_QUANT_FP8_STATIC, 0.01f, xq2, s2};
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
	a.q = q2; a.key_cache = k2; a.value_cache = v2; a.out = out2; a.outq = c.quantize_out ? &q2_out : NULL;
	a.rope_store = &rope;
	CUDA(llmk_attention_decode(&a, 0));
	CUDA(cudaDeviceSynchronize());
	size_t bad = differing_bytes(out1, out2, (size_t)q_dim * 4) + differing_bytes(k1, k2, cache_bytes) +
		     differing_bytes(v1, v2, cache_bytes);
	if (c.quantize_out)
		bad += differing_bytes(xq1, xq2, (size_t)q_dim) + differing_bytes(s1, s2, 4);
	size_t q_changed = differing_bytes(q2, q_before, (size_t)q_dim * 4);
	char what[300];
	snprintf(what, sizeof what,
		 "attention with rope_store, %d/%d heads of %d, %s cache, position %d (%s)%s: bit for bit rope_store_kv + "
		 "attention_decode, both caches whole (%zu bytes differ), q unrotated (%zu bytes changed)",
		 c.heads, c.kv_heads, c.head_dim, dtype_name(c.cache), c.pos, c.device_pos ? "device" : "host",
		 c.quantize_out ? ", output quantized" : "", bad, q_changed);
	check(bad == 0 && q_changed == 0, what);
	cudaFree(inv_freq); cudaFree(k1); cudaFree(v1); cudaFree(k2); cudaFree(v2); cudaFree(q1); cudaFree(q2);
	cudaFree(q_before); cudaFree(key_rows); cudaFree(value_rows); cudaFree(out1); cudaFree(out2); cudaFree(xq1);
	cudaFree(xq2); cudaFree(s1); cudaFree(s2); cudaFree(dpos); cudaFree(scratch);
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

/* ---- llmk_gemv with then_norm -------------------------------------------------------- */

static const char *quant_name(enum llmk_quant q)
{
	switch (q) {
	case LLMK_QUANT_NONE: return "none";
	case LLMK_QUANT_FP8_STATIC: return "fp8 static";
	case LLMK_QUANT_FP8_DYNAMIC: return "fp8 dynamic";
	case LLMK_QUANT_INT8_STATIC: return "int8 static";
	default: return "int8 dynamic";
	}
}

struct norm_case {
	enum llmk_dtype weights; /* LLMK_E4M3 (input FP8 static) or LLMK_I8 (input INT8 dynamic) */
	int rows, cols;
	enum llmk_quant next;    /* the norm's quantization */
	bool normed;             /* the normed row written too */
	enum llmk_gemv_products products;
};

/* The GEMV's inputs and the norm's, one token: weights, their scales, the input
 * quantized as the weights' layer quantizes it, the residual and the norm's weight. */
struct norm_inputs {
	void *weight;
	float *weight_scale, *residual, *norm_weight;
	uint8_t *xq;
	float *x_scale;
};

static struct norm_inputs make_norm_inputs(const struct norm_case &c)
{
	struct norm_inputs in;
	in.weight = device_bytes((size_t)c.rows * c.cols, 0);
	CUDA(llmk_fill_random(in.weight, (size_t)c.rows * c.cols, c.weights, (uint32_t)uniform_in(0, 1e6f), 1, 0));
	in.weight_scale = random_floats((size_t)c.rows, 1e-4f, 2e-3f);
	float *x = random_floats((size_t)c.cols, -4, 4);
	in.xq = (uint8_t *)device_bytes((size_t)c.cols, 0);
	in.x_scale = (float *)device_bytes(4, 0);
	CUDA(llmk_quantize(x, 1, c.cols, c.weights == LLMK_E4M3 ? LLMK_QUANT_FP8_STATIC : LLMK_QUANT_INT8_DYNAMIC,
			   0.02f, in.xq, in.x_scale, 0));
	in.residual = random_floats((size_t)c.rows, -3, 3);
	in.norm_weight = random_floats((size_t)c.rows, 0.2f, 1.8f);
	return in;
}

/* One launch of llmk_gemv (then_norm given or not) into y, from residual x; *status its
 * return. */
static cudaError_t gemv_once(const struct norm_case &c, const struct norm_inputs &in, float *y,
			     const struct llmk_gemv_norm *then_norm, unsigned *words)
{
	const struct llmk_gemv_matrix m = {in.weight, in.weight_scale, c.rows, c.rows, y};
	struct llmk_gemv_input gi = {};
	gi.wdtype = c.weights; gi.cols = c.cols; gi.xq = in.xq; gi.x_scales = in.x_scale; gi.tokens = 1;
	gi.products = c.products; gi.then_norm = then_norm; gi.last_block = words;
	return llmk_gemv(&m, &gi, -1, 0);
}

/* The fused launch against llmk_gemv then llmk_add_rmsnorm_quantize, every output
 * poisoned first; twice (the counter left at zero serves the second launch). */
static void check_gemv_norm(const struct norm_case &c)
{
	const float eps = 1e-5f, static_scale = c.next == LLMK_QUANT_INT8_STATIC ? 0.03f : 0.004f;
	const size_t floats = (size_t)c.rows * 4;
	struct norm_inputs in = make_norm_inputs(c);
	float *y1 = (float *)device_bytes(floats, 0xff), *x1 = (float *)device_copy(in.residual, floats);
	float *normed1 = c.normed ? (float *)device_bytes(floats, 0xff) : NULL;
	uint8_t *xq1 = (uint8_t *)device_bytes((size_t)c.rows, 0x7f);
	float *s1 = (float *)device_bytes(4, 0xff);
	CUDA_OR_RETURN(gemv_once(c, in, y1, NULL, NULL));
	CUDA_OR_RETURN(llmk_add_rmsnorm_quantize(x1, y1, in.norm_weight, normed1, 1, c.rows, eps, c.next, static_scale,
						  c.next == LLMK_QUANT_NONE ? NULL : xq1, s1, 0));
	CUDA_OR_RETURN(cudaDeviceSynchronize());
	unsigned *words = (unsigned *)device_bytes(LLMK_LAST_BLOCK_WORDS * 4, 0);
	size_t bad[2] = {0, 0};
	unsigned left[2] = {1, 1};
	for (int run = 0; run < 2; run++) {
		float *y2 = (float *)device_bytes(floats, 0xff), *x2 = (float *)device_copy(in.residual, floats);
		float *normed2 = c.normed ? (float *)device_bytes(floats, 0xff) : NULL;
		uint8_t *xq2 = (uint8_t *)device_bytes((size_t)c.rows, 0x7f);
		float *s2 = (float *)device_bytes(4, 0xff);
		const struct llmk_gemv_norm then_norm = {x2, in.norm_weight, eps, normed2, c.next, static_scale,
							 c.next == LLMK_QUANT_NONE ? NULL : xq2, s2};
		CUDA_OR_RETURN(gemv_once(c, in, y2, &then_norm, words));
		CUDA_OR_RETURN(cudaDeviceSynchronize());
		bad[run] = differing_bytes(y1, y2, floats) + differing_bytes(x1, x2, floats) +
			   (c.normed ? differing_bytes(normed1, normed2, floats) : 0);
		if (c.next != LLMK_QUANT_NONE)
			bad[run] += differing_bytes(xq1, xq2, (size_t)c.rows) + differing_bytes(s1, s2, 4);
		unsigned w[LLMK_LAST_BLOCK_WORDS];
		CUDA(cudaMemcpy(w, words, sizeof w, cudaMemcpyDeviceToHost));
		left[run] = w[0] | w[1];
	}
	char what[300];
	snprintf(what, sizeof what,
		 "gemv with then_norm, %s weights %dx%d (%s), next %s%s: bit for bit gemv + add_rmsnorm_quantize, "
		 "twice (%zu, %zu bytes differ; words left %#x, %#x)",
		 c.weights == LLMK_E4M3 ? "FP8" : "INT8", c.rows, c.cols,
		 c.products == LLMK_PRODUCTS_CUDA_CORES ? "CUDA cores" : "tensor cores", quant_name(c.next),
		 c.normed ? ", normed row" : "", bad[0], bad[1], left[0], left[1]);
	check(bad[0] == 0 && bad[1] == 0 && left[0] == 0 && left[1] == 0, what);
	free_all();
}

/* then_norm where the terms do not hold: cudaErrorInvalidValue, nothing launched. */
static void check_gemv_norm_refusals(void)
{
	const struct norm_case c = {LLMK_E4M3, 4096, 1024, LLMK_QUANT_FP8_STATIC, false, LLMK_PRODUCTS_CUDA_CORES};
	struct norm_inputs in = make_norm_inputs(c);
	float *y = (float *)device_bytes(4096 * 4, 0xff);
	unsigned *words = (unsigned *)device_bytes(LLMK_LAST_BLOCK_WORDS * 4, 0);
	uint8_t *xq = (uint8_t *)device_bytes(4096, 0);
	float *s = (float *)device_bytes(4, 0);
	struct llmk_gemv_norm then_norm = {in.residual, in.norm_weight, 1e-5f, NULL, LLMK_QUANT_FP8_STATIC, 0.004f, xq, s};
	const struct llmk_gemv_matrix m = {in.weight, in.weight_scale, 4096, 4096, y};
	struct llmk_gemv_input gi = {};
	gi.wdtype = LLMK_E4M3; gi.cols = 1024; gi.xq = in.xq; gi.x_scales = in.x_scale; gi.tokens = 2;
	gi.then_norm = &then_norm; gi.last_block = words;
	const cudaError_t two_tokens = llmk_gemv(&m, &gi, -1, 0);
	gi.tokens = 1;
	const cudaError_t warp_kernel = llmk_gemv(&m, &gi, 0, 0);
	const cudaError_t multi = llmk_gemv_multi(&m, 1, &gi, 0);
	const cudaError_t swiglu = llmk_gemv_swiglu(&m, &m, &gi, y, NULL, 0);
	struct llmk_gemv_matrix odd = m;
	odd.rows = 4094;
	const cudaError_t odd_rows = llmk_gemv(&odd, &gi, -1, 0);
	then_norm.quant = LLMK_QUANT_NONE;
	const cudaError_t none_unnormed = llmk_gemv(&m, &gi, -1, 0);
	then_norm.quant = LLMK_QUANT_FP8_STATIC;
	gi.last_block = NULL;
	const cudaError_t no_counter = llmk_gemv(&m, &gi, -1, 0);
	cudaGetLastError();
	const bool all = two_tokens == cudaErrorInvalidValue && warp_kernel == cudaErrorInvalidValue &&
			 multi == cudaErrorInvalidValue && swiglu == cudaErrorInvalidValue && odd_rows == cudaErrorInvalidValue &&
			 none_unnormed == cudaErrorInvalidValue && no_counter == cudaErrorInvalidValue;
	check(all, "then_norm is refused with two tokens, by the warp-a-row kernel, llmk_gemv_multi and llmk_gemv_swiglu, "
		   "for rows not a multiple of 4, quant none without a normed row and without last_block");
	free_all();
}

/* ---- a dynamic quantization in the launch that makes the row ------------------------ */

/* The words after a launch: 0 when both are back to zero. */
static unsigned words_left(const unsigned *words)
{
	unsigned w[LLMK_LAST_BLOCK_WORDS] = {1, 1};
	CUDA(cudaMemcpy(w, words, sizeof w, cudaMemcpyDeviceToHost));
	return w[0] | w[1];
}

/* launch(out, q) twice, each into fresh poisoned buffers of n values (out, and q's codes
 * and scale under quant), against the reference's row, codes and scale (out1, q1, s1):
 * the bytes that differ (all n when a launch fails), and in *left the words (words) left
 * set after either run. */
template <typename Launch>
static size_t twice_against(int n, const float *out1, const uint8_t *q1, const float *s1, enum llmk_quant quant,
			    const unsigned *words, unsigned *left, Launch launch)
{
	size_t bad = 0;
	*left = 0;
	for (int run = 0; run < 2; run++) {
		float *out2 = (float *)device_bytes((size_t)n * 4, 0xff);
		uint8_t *q2 = (uint8_t *)device_bytes((size_t)n, 0x7f);
		float *s2 = (float *)device_bytes(4, 0xff);
		const struct llmk_static_quant q = {quant, 0, q2, s2};
		cudaError_t status = launch(out2, &q);
		if (status == cudaSuccess)
			status = cudaDeviceSynchronize();
		CUDA(status);
		if (status != cudaSuccess)
			return (size_t)n;
		bad += differing_bytes(out1, out2, (size_t)n * 4) + differing_bytes(q1, q2, (size_t)n) +
		       differing_bytes(s1, s2, 4);
		*left |= words_left(words);
	}
	return bad;
}

/* llmk_gemv_swiglu with a dynamic yq (its last block rounds the row) against the launch
 * without yq then llmk_quantize; twice on one set of words. */
static void check_swiglu_dynamic(enum llmk_dtype weights, int rows, int cols, enum llmk_quant quant,
				 enum llmk_gemv_products products)
{
	void *gw = device_bytes((size_t)rows * cols, 0), *uw = device_bytes((size_t)rows * cols, 0);
	CUDA(llmk_fill_random(gw, (size_t)rows * cols, weights, 11, 1, 0));
	CUDA(llmk_fill_random(uw, (size_t)rows * cols, weights, 12, 1, 0));
	float *gs = random_floats((size_t)rows, 1e-4f, 2e-3f), *us = random_floats((size_t)rows, 1e-4f, 2e-3f);
	float *x = random_floats((size_t)cols, -4, 4), *xs = (float *)device_bytes(4, 0);
	uint8_t *xq = (uint8_t *)device_bytes((size_t)cols, 0);
	CUDA(llmk_quantize(x, 1, cols, weights == LLMK_E4M3 ? LLMK_QUANT_FP8_STATIC : LLMK_QUANT_INT8_DYNAMIC, 0.02f, xq,
			   xs, 0));
	const struct llmk_gemv_matrix gate = {gw, gs, rows, rows, NULL}, up = {uw, us, rows, rows, NULL};
	struct llmk_gemv_input gi = {};
	gi.wdtype = weights; gi.cols = cols; gi.xq = xq; gi.x_scales = xs; gi.tokens = 1; gi.products = products;
	float *y1 = (float *)device_bytes((size_t)rows * 4, 0xff);
	uint8_t *q1 = (uint8_t *)device_bytes((size_t)rows, 0x7f);
	float *s1 = (float *)device_bytes(4, 0xff);
	CUDA_OR_RETURN(llmk_gemv_swiglu(&gate, &up, &gi, y1, NULL, 0));
	CUDA_OR_RETURN(llmk_quantize(y1, 1, rows, quant, 0, q1, s1, 0));
	unsigned *words = (unsigned *)device_bytes(LLMK_LAST_BLOCK_WORDS * 4, 0);
	gi.last_block = words;
	unsigned left;
	const size_t bad = twice_against(rows, y1, q1, s1, quant, words, &left, [&](float *y2, const struct llmk_static_quant *yq) {
		return llmk_gemv_swiglu(&gate, &up, &gi, y2, yq, 0);
	});
	char what[300];
	snprintf(what, sizeof what,
		 "gemv_swiglu with a %s output, %s weights %dx%d (%s): bit for bit gemv_swiglu + quantize, twice "
		 "(%zu bytes differ, words left %#x)",
		 quant_name(quant), weights == LLMK_E4M3 ? "FP8" : "INT8", rows, cols,
		 products == LLMK_PRODUCTS_CUDA_CORES ? "CUDA cores" : "tensor cores", bad, left);
	check(bad == 0 && left == 0, what);
	const struct llmk_static_quant yq = {quant, 0, q1, s1};
	gi.tokens = 2;
	const cudaError_t two = llmk_gemv_swiglu(&gate, &up, &gi, y1, &yq, 0);
	gi.tokens = 1;
	gi.last_block = NULL;
	const cudaError_t unwordy = llmk_gemv_swiglu(&gate, &up, &gi, y1, &yq, 0);
	cudaGetLastError();
	check(two == cudaErrorInvalidValue && unwordy == cudaErrorInvalidValue,
	      "gemv_swiglu refuses a dynamic output for two tokens and without last_block");
	free_all();
}

/* The decode attention of one token with a dynamic outq (the combine's last block rounds
 * the row) against the attention without outq then llmk_quantize; twice. */
static void check_attention_dynamic(int pos, enum llmk_quant quant)
{
	const int heads = 32, kv_heads = 8, hd = 128, q_dim = heads * hd, kv_dim = kv_heads * hd;
	std::vector<float> freq(hd / 2);
	for (int i = 0; i < hd / 2; i++) freq[i] = (float)pow(500000.0, -2.0 * i / hd);
	float *inv_freq = (float *)device_bytes(freq.size() * 4, 0);
	CUDA(cudaMemcpy(inv_freq, freq.data(), freq.size() * 4, cudaMemcpyHostToDevice));
	void *kc = random_cache(LLMK_BF16, pos + 1, kv_dim, inv_freq, hd);
	void *vc = random_cache(LLMK_BF16, pos + 1, kv_dim, inv_freq, hd);
	float *q = random_floats((size_t)q_dim, -3, 3);
	int *dpos = (int *)device_bytes(4, 0);
	CUDA(cudaMemcpy(dpos, &pos, 4, cudaMemcpyHostToDevice));
	float *scratch = (float *)device_bytes(llmk_attention_decode_scratch(heads, hd, 8) * 4, 0xff);
	struct llmk_attention a = {};
	a.q = q; a.key_cache = kc; a.value_cache = vc; a.cache_dtype = LLMK_BF16; a.count = 1; a.heads = heads;
	a.kv_heads = kv_heads; a.head_dim = hd; a.scale = (float)(1.0 / sqrt((double)hd)); a.pos_dev = dpos;
	a.scratch = scratch; a.max_tokens = 8;
	float *out1 = (float *)device_bytes((size_t)q_dim * 4, 0xff);
	uint8_t *q1 = (uint8_t *)device_bytes((size_t)q_dim, 0x7f);
	float *s1 = (float *)device_bytes(4, 0xff);
	a.out = out1;
	CUDA_OR_RETURN(llmk_attention_decode(&a, 0));
	CUDA_OR_RETURN(llmk_quantize(out1, 1, q_dim, quant, 0, q1, s1, 0));
	unsigned *words = (unsigned *)device_bytes(LLMK_LAST_BLOCK_WORDS * 4, 0);
	unsigned left;
	const size_t bad = twice_against(q_dim, out1, q1, s1, quant, words, &left, [&](float *out2, const struct llmk_static_quant *outq) {
		a.out = out2; a.outq = outq; a.last_block = words;
		return llmk_attention_decode(&a, 0);
	});
	char what[300];
	snprintf(what, sizeof what,
		 "decode attention with a %s output, position %d: bit for bit attention + quantize, twice (%zu bytes "
		 "differ, words left %#x)", quant_name(quant), pos, bad, left);
	check(bad == 0 && left == 0, what);
	a.last_block = NULL;
	const cudaError_t unwordy = llmk_attention_decode(&a, 0);
	cudaGetLastError();
	check(unwordy == cudaErrorInvalidValue, "the decode attention refuses a dynamic output without last_block");
	free_all();
}

/* ---- timing ---------------------------------------------------------------------- */

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
	double pair = graph_us_per_launch(2 * layers, [&](int i, cudaStream_t s) {
		struct llmk_attention b = a;
		b.key_cache = kc[i / 2]; b.value_cache = vc[i / 2];
		return i % 2 == 0 ? llmk_rope_store_kv(q, q_dim, heads, k, v, kv_heads, hd, 1, 0, dpos, inv_freq, kc[i / 2],
						       vc[i / 2], LLMK_BF16, s)
				  : llmk_attention_decode(&b, s);
	});
	double fused = graph_us_per_launch(layers, [&](int i, cudaStream_t s) {
		struct llmk_attention b = a;
		b.key_cache = kc[i]; b.value_cache = vc[i]; b.rope_store = &rope;
		return llmk_attention_decode(&b, s);
	});
	printf("  context %6d, bf16 cache: rope_store_kv + split + combine %6.1f us, RoPE in the split %6.1f us\n",
	       context, 2 * pair, fused);
	for (int i = 0; i < layers; i++) { cudaFree(kc[i]); cudaFree(vc[i]); }
	cudaFree(inv_freq); cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(out); cudaFree(scratch); cudaFree(dpos);
}

/* o_proj / down_proj of the 8B shape (FP8 weights, static input) then the norm, as two
 * launches and as one, over `layers` matrices (past L2) inside a CUDA graph. */
static void time_gemv_norm(int cols, int layers)
{
	const int rows = 4096;
	std::vector<void *> w(layers);
	for (int i = 0; i < layers; i++) {
		w[i] = device_bytes((size_t)rows * cols, 0);
		CUDA(llmk_fill_random(w[i], (size_t)rows * cols, LLMK_E4M3, 7 + i, 1, 0));
	}
	float *wscale = random_floats(rows, 1e-4f, 2e-3f), *x = random_floats(rows, -1, 1), *y = random_floats(rows, 0, 1);
	float *norm_weight = random_floats(rows, 0.5f, 1.5f), *s = (float *)device_bytes(4, 0);
	float *xs = (float *)device_bytes(4, 0);
	uint8_t *in = (uint8_t *)device_bytes((size_t)cols, 0x20), *xq = (uint8_t *)device_bytes(rows, 0);
	const float input_scale = 0.01f;
	CUDA(cudaMemcpy(xs, &input_scale, 4, cudaMemcpyHostToDevice));
	unsigned *words = (unsigned *)device_bytes(LLMK_LAST_BLOCK_WORDS * 4, 0);
	const struct llmk_gemv_norm then_norm = {x, norm_weight, 1e-5f, NULL, LLMK_QUANT_FP8_STATIC, 0.004f, xq, s};
	auto gemv = [&](int i, cudaStream_t st, const struct llmk_gemv_norm *after) {
		const struct llmk_gemv_matrix m = {w[i], wscale, rows, rows, y};
		struct llmk_gemv_input gi = {};
		gi.wdtype = LLMK_E4M3; gi.cols = cols; gi.xq = in; gi.x_scales = xs; gi.tokens = 1; gi.then_norm = after;
		gi.last_block = after ? words : NULL;
		return llmk_gemv(&m, &gi, -1, st);
	};
	const double pair = graph_us_per_launch(2 * layers, [&](int i, cudaStream_t st) {
		return i % 2 == 0 ? gemv(i / 2, st, NULL)
				  : llmk_add_rmsnorm_quantize(x, y, norm_weight, NULL, 1, rows, 1e-5f, LLMK_QUANT_FP8_STATIC,
							      0.004f, xq, s, st);
	});
	const double fused = graph_us_per_launch(layers, [&](int i, cudaStream_t st) { return gemv(i, st, &then_norm); });
	const double alone = graph_us_per_launch(layers, [&](int i, cudaStream_t st) { return gemv(i, st, NULL); });
	printf("  FP8 %dx%d: gemv alone %6.1f us, gemv + add_rmsnorm_quantize %6.1f us, the norm in the gemv's launch %6.1f us\n",
	       rows, cols, alone, 2 * pair, fused);
	check(pair > 0 && fused > 0 && alone > 0, "the gemv and norm timings ran without a CUDA error");
	free_all();
}

int main(int argc, char **argv)
{
	if (!check_program_start(argc, argv, "step_fusion_checks"))
		return 1;
	const struct decode_case cases[] = {
		{32, 8, 128, 0, LLMK_BF16, true, true},     {32, 8, 128, 63, LLMK_BF16, false, true},
		{32, 8, 128, 64, LLMK_BF16, true, false},   {32, 8, 128, 4000, LLMK_BF16, true, true},
		{32, 8, 128, 40000, LLMK_BF16, true, true}, {32, 8, 128, 4000, LLMK_F32, true, false},
		{32, 8, 128, 4000, LLMK_E4M3, true, true},  {32, 8, 128, 127, LLMK_E4M3, false, false},
		{64, 8, 128, 2000, LLMK_BF16, true, true},  {32, 4, 64, 300, LLMK_F32, false, true},
		{8, 8, 64, 1000, LLMK_E4M3, true, false},   {16, 2, 128, 5000, LLMK_BF16, false, false},
		{24, 8, 128, 777, LLMK_BF16, true, true},
	};
	/* first: each ends with free_all, which the checks below (their own cudaFree) do not use */
	const struct norm_case norm_cases[] = {
		{LLMK_E4M3, 4096, 4096, LLMK_QUANT_FP8_STATIC, false, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_E4M3, 4096, 14336, LLMK_QUANT_FP8_STATIC, true, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_E4M3, 8192, 8192, LLMK_QUANT_FP8_STATIC, false, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_E4M3, 4096, 4096, LLMK_QUANT_FP8_DYNAMIC, true, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_E4M3, 4096, 4096, LLMK_QUANT_NONE, true, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_E4M3, 2052, 1024, LLMK_QUANT_INT8_STATIC, true, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_E4M3, 4096, 4096, LLMK_QUANT_FP8_STATIC, false, LLMK_PRODUCTS_TENSOR},
		{LLMK_I8, 4096, 4096, LLMK_QUANT_INT8_DYNAMIC, false, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_I8, 4096, 14336, LLMK_QUANT_INT8_DYNAMIC, true, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_I8, 8192, 4096, LLMK_QUANT_INT8_DYNAMIC, false, LLMK_PRODUCTS_CUDA_CORES},
		{LLMK_I8, 4096, 4096, LLMK_QUANT_INT8_STATIC, false, LLMK_PRODUCTS_TENSOR},
		{LLMK_I8, 3072, 8192, LLMK_QUANT_FP8_DYNAMIC, false, LLMK_PRODUCTS_CUDA_CORES},
	};
	for (const struct norm_case &c : norm_cases)
		check_gemv_norm(c);
	check_gemv_norm_refusals();
	check_swiglu_dynamic(LLMK_I8, 14336, 4096, LLMK_QUANT_INT8_DYNAMIC, LLMK_PRODUCTS_CUDA_CORES);
	check_swiglu_dynamic(LLMK_I8, 28672, 8192, LLMK_QUANT_INT8_DYNAMIC, LLMK_PRODUCTS_CUDA_CORES);
	check_swiglu_dynamic(LLMK_I8, 14336, 4096, LLMK_QUANT_INT8_DYNAMIC, LLMK_PRODUCTS_TENSOR);
	check_swiglu_dynamic(LLMK_E4M3, 14336, 4096, LLMK_QUANT_FP8_DYNAMIC, LLMK_PRODUCTS_CUDA_CORES);
	for (int pos : {0, 127, 4000})
		check_attention_dynamic(pos, LLMK_QUANT_INT8_DYNAMIC);
	check_attention_dynamic(300, LLMK_QUANT_FP8_DYNAMIC);
	for (const struct decode_case &c : cases)
		check_fused_rope_attention(c);
	check_fused_rope_refusals();
	printf("# the fused launches against the pairs they replace, per layer, inside a CUDA graph:\n");
	time_gemv_norm(4096, 16);
	time_gemv_norm(14336, 8);
	for (int context : {128, 4096, 32768})
		time_fused_rope_attention(context);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
