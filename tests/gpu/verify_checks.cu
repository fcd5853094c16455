/*
 * verify_checks.cu - speculative decoding's verify pass (several tokens through the
 * decode kernels at once) against the one-token step, bit for bit, and its time.
 *
 *   verify_checks [SEED]   (built and run by tests/gpu/run.sh on the device machine)
 *
 * On random inputs (the seed is printed), every output poisoned first (the one-token
 * references with another byte, so that a row no launch writes differs), for 2 to
 * LLMK_GEMV_MAX_TOKENS tokens:
 * - llmk_gemv, llmk_gemv_multi (q/k/v) and llmk_gemv_swiglu (with its static
 *   quantization) of FP8, INT8 and BF16 weights: each token's rows the bits the same
 *   launch gives for that token alone;
 * - llmk_linear (BF16: the warp-a-row kernel; 8-bit: llmk_gemv): the same;
 * - llmk_attention_decode of count tokens at positions pos0..: each token's output the
 *   bits of a one-token launch at its position (the same splits), at short and long
 *   contexts, groups 4 and 8.
 * Timing, inside CUDA graphs, at the Llama-3.1-8B FP8 and INT8 shapes: a layer's GEMVs
 * (q/k/v, o, gate/up, down) for n tokens as a multiple of one token's.
 * Prints one "ok"/"not ok" line per check, the timings, then "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "llm_kernels.h"
}
#include "check_program.cuh"
#include "device_buffers.cuh"

static const char *weight_name(enum llmk_dtype d) { return d == LLMK_BF16 ? "BF16" : d == LLMK_E4M3 ? "FP8" : "INT8"; }

/* Inputs of tokens tokens of cols features: floats (BF16 layers), bytes and scales
 * (8-bit layers). */
struct token_inputs {
	float *x, *scales;
	uint8_t *xq;
};

static struct token_inputs random_inputs(enum llmk_dtype d, int tokens, int cols)
{
	struct token_inputs in;
	in.x = random_floats((size_t)tokens * cols, -1, 1);
	in.xq = (uint8_t *)device_bytes((size_t)tokens * cols, 0);
	CUDA(llmk_fill_random(in.xq, (size_t)tokens * cols, d == LLMK_BF16 ? LLMK_I8 : d, (uint32_t)(rng_state >> 33), 2.0f,
			      0));
	in.scales = random_floats((size_t)tokens, 0.005f, 0.02f);
	return in;
}

/* Token t of in, alone. */
static struct llmk_gemv_input token_input(enum llmk_dtype d, int cols, const struct token_inputs &in, int t, int tokens)
{
	return (struct llmk_gemv_input){d, cols, in.x + (size_t)t * cols, in.xq + (size_t)t * cols, in.scales + t, tokens};
}

/* A matrix of random weights with per-row scales (one per-tensor scale with per_tensor,
 * as FP8 checkpoints with static scales have; none for BF16), its output poisoned for
 * tokens tokens. */
static struct llmk_gemv_matrix random_matrix(enum llmk_dtype d, int rows, int cols, int tokens, bool per_tensor = false)
{
	size_t es = d == LLMK_BF16 ? 2 : 1;
	void *w = device_bytes((size_t)rows * cols * es, 0);
	CUDA(llmk_fill_random(w, (size_t)rows * cols, d, (uint32_t)(rng_state >> 31), 2.0f, 0));
	const int scales = d == LLMK_BF16 ? 0 : per_tensor ? 1 : rows;
	float *s = scales ? random_floats((size_t)scales, 0.001f, 0.01f) : NULL;
	float *y = (float *)device_bytes((size_t)tokens * rows * 4, 0xff);
	uniform_in(0, 1);
	return (struct llmk_gemv_matrix){w, s, scales, rows, y};
}

/* Rows of token t in a several-token output y that differ from one (one token's). */
static size_t token_rows_differ(const float *y, int t, int rows, const float *one)
{
	return differing_bytes(y + (size_t)t * rows, one, (size_t)rows * 4);
}

/* llmk_gemv and llmk_linear: n tokens in one launch against each token alone.  The
 * one-token outputs are poisoned with another byte than the several-token ones, so
 * that a row neither launch writes differs. */
static void check_gemv_tokens(enum llmk_dtype d, int rows, int cols, int n, bool per_tensor = false)
{
	struct token_inputs in = random_inputs(d, n, cols);
	struct llmk_gemv_matrix m = random_matrix(d, rows, cols, n, per_tensor);
	float *one = (float *)device_bytes((size_t)rows * 4, 0xfe), *lin = (float *)device_bytes((size_t)n * rows * 4, 0xff);
	float *lin_one = (float *)device_bytes((size_t)rows * 4, 0xfe);
	const struct llmk_gemv_input all = token_input(d, cols, in, 0, n);
	CUDA(llmk_gemv(&m, &all, -1, 0));
	CUDA(llmk_linear(m.weight, d, rows, cols, m.weight_scale, m.weight_scale_count, in.x, in.xq, in.scales, n, lin,
			 rows, 0));
	size_t bad = 0, bad_linear = 0;
	for (int t = 0; t < n; t++) {
		struct llmk_gemv_matrix alone = m;
		alone.y = one;
		const struct llmk_gemv_input single = token_input(d, cols, in, t, 1);
		CUDA(llmk_gemv(&alone, &single, -1, 0));
		CUDA(llmk_linear(m.weight, d, rows, cols, m.weight_scale, m.weight_scale_count, single.x,
				 single.xq, single.x_scales, 1, lin_one, rows, 0));
		CUDA(cudaDeviceSynchronize());
		bad += token_rows_differ(m.y, t, rows, one);
		bad_linear += token_rows_differ(lin, t, rows, lin_one);
	}
	char what[240];
	snprintf(what, sizeof what, "%s GEMV %dx%d%s, %d tokens at once: each token's rows its bits alone (%zu bytes "
		 "differ); llmk_linear the same (%zu)", weight_name(d), rows, cols, per_tensor ? " (one weight scale)" : "",
		 n, bad, bad_linear);
	check(bad == 0 && bad_linear == 0, what);
	free_all();
}

/* q/k/v in one launch and gate/up + SwiGLU (quantized for down_proj's static scale
 * when 8-bit), n tokens against each token alone. */
static void check_fused_tokens(enum llmk_dtype d, int q_rows, int kv_rows, int ff_rows, int cols, int n)
{
	struct token_inputs in = random_inputs(d, n, cols);
	struct llmk_gemv_matrix qkv[3] = {random_matrix(d, q_rows, cols, n), random_matrix(d, kv_rows, cols, n),
					  random_matrix(d, kv_rows, cols, n)};
	struct llmk_gemv_matrix gate = random_matrix(d, ff_rows, cols, n), up = random_matrix(d, ff_rows, cols, n);
	float *ff = (float *)device_bytes((size_t)n * ff_rows * 4, 0xff), *ff_one = (float *)device_bytes((size_t)ff_rows * 4, 0xfe);
	uint8_t *yq = (uint8_t *)device_bytes((size_t)n * ff_rows, 0x55), *yq_one = (uint8_t *)device_bytes((size_t)ff_rows, 0x56);
	float *ys = (float *)device_bytes((size_t)n * 4, 0xff), *ys_one = (float *)device_bytes(4, 0xfe);
	const enum llmk_quant quant = d == LLMK_I8 ? LLMK_QUANT_INT8_STATIC : LLMK_QUANT_FP8_STATIC;
	const struct llmk_static_quant out_all = {quant, 0.02f, yq, ys}, out_one = {quant, 0.02f, yq_one, ys_one};
	const bool quantize = d != LLMK_BF16;
	const struct llmk_gemv_input all = token_input(d, cols, in, 0, n);
	CUDA(llmk_gemv_multi(qkv, 3, &all, 0));
	CUDA(llmk_gemv_swiglu(&gate, &up, &all, ff, quantize ? &out_all : NULL, 0));
	std::vector<float *> one(3);
	for (int i = 0; i < 3; i++) one[i] = (float *)device_bytes((size_t)qkv[i].rows * 4, 0xfe);
	size_t bad_qkv = 0, bad_ff = 0;
	for (int t = 0; t < n; t++) {
		struct llmk_gemv_matrix alone[3] = {qkv[0], qkv[1], qkv[2]};
		for (int i = 0; i < 3; i++) alone[i].y = one[i];
		const struct llmk_gemv_input single = token_input(d, cols, in, t, 1);
		CUDA(llmk_gemv_multi(alone, 3, &single, 0));
		CUDA(llmk_gemv_swiglu(&gate, &up, &single, ff_one, quantize ? &out_one : NULL, 0));
		CUDA(cudaDeviceSynchronize());
		for (int i = 0; i < 3; i++) bad_qkv += token_rows_differ(qkv[i].y, t, qkv[i].rows, one[i]);
		bad_ff += token_rows_differ(ff, t, ff_rows, ff_one);
		if (quantize)
			bad_ff += differing_bytes(yq + (size_t)t * ff_rows, yq_one, (size_t)ff_rows) +
				  differing_bytes(ys + t, ys_one, 4);
	}
	char what[300];
	snprintf(what, sizeof what, "%s fused q/k/v (%d+%d+%d rows) and gate/up + SwiGLU (2 x %d rows%s) of %d, %d tokens "
		 "at once: each token's bits alone (%zu and %zu bytes differ)", weight_name(d), q_rows, kv_rows, kv_rows,
		 ff_rows, quantize ? ", quantized" : "", cols, n, bad_qkv, bad_ff);
	check(bad_qkv == 0 && bad_ff == 0, what);
	free_all();
}

/* More tokens than the GEMV takes are refused (the caller falls back). */
static void check_gemv_refusals(void)
{
	struct token_inputs in = random_inputs(LLMK_E4M3, LLMK_GEMV_MAX_TOKENS + 1, 256);
	struct llmk_gemv_matrix m = random_matrix(LLMK_E4M3, 64, 256, LLMK_GEMV_MAX_TOKENS + 1);
	const struct llmk_gemv_input too_many = token_input(LLMK_E4M3, 256, in, 0, LLMK_GEMV_MAX_TOKENS + 1);
	check(llmk_gemv(&m, &too_many, -1, 0) == cudaErrorNotSupported &&
		      llmk_gemv_multi(&m, 1, &too_many, 0) == cudaErrorNotSupported &&
		      llmk_gemv_swiglu(&m, &m, &too_many, m.y, NULL, 0) == cudaErrorNotSupported,
	      "GEMVs of more than LLMK_GEMV_MAX_TOKENS tokens are refused (cudaErrorNotSupported)");
	cudaGetLastError();
	free_all();
}

/* llmk_attention_decode of n tokens at pos0.. against one token at a time. */
static void check_attention_tokens(enum llmk_dtype cache, int heads, int kv_heads, int head_dim, int pos0, int n)
{
	const int q_dim = heads * head_dim, kv_dim = kv_heads * head_dim, positions = pos0 + n;
	const size_t es = cache == LLMK_F32 ? 4 : cache == LLMK_BF16 ? 2 : 1;
	const size_t values = (size_t)positions * kv_dim;
	void *k, *v;
	if (cache == LLMK_F32) { /* llmk_fill_random makes BF16 and 8-bit values */
		k = random_floats(values, -2, 2);
		v = random_floats(values, -2, 2);
	} else {
		k = device_bytes(values * es, 0);
		v = device_bytes(values * es, 0);
		CUDA(llmk_fill_random(k, values, cache, (uint32_t)(rng_state >> 30), 2.0f, 0));
		CUDA(llmk_fill_random(v, values, cache, (uint32_t)(rng_state >> 29), 2.0f, 0));
		uniform_in(0, 1);
	}
	float *q = random_floats((size_t)n * q_dim, -3, 3);
	float *out = (float *)device_bytes((size_t)n * q_dim * 4, 0xff), *one = (float *)device_bytes((size_t)q_dim * 4, 0xfe);
	float *scratch = (float *)device_bytes(llmk_attention_decode_scratch(heads, head_dim, 512) * 4, 0xff);
	struct llmk_attention a = {};
	a.key_cache = k; a.value_cache = v; a.cache_dtype = cache; a.heads = heads; a.kv_heads = kv_heads;
	a.head_dim = head_dim; a.scale = (float)(1.0 / sqrt((double)head_dim)); a.scratch = scratch; a.max_tokens = 512;
	a.q = q; a.out = out; a.count = n; a.pos0 = pos0;
	CUDA(llmk_attention_decode(&a, 0));
	size_t bad = 0;
	for (int t = 0; t < n; t++) {
		a.q = q + (size_t)t * q_dim; a.out = one; a.count = 1; a.pos0 = pos0 + t;
		CUDA(llmk_attention_decode(&a, 0));
		CUDA(cudaDeviceSynchronize());
		bad += token_rows_differ(out, t, q_dim, one);
	}
	char what[240];
	snprintf(what, sizeof what, "attention of %d tokens at positions %d.. (%d/%d heads of %d, %s cache): each token's "
		 "output the one-token launch's bits (%zu bytes differ)", n, pos0, heads, kv_heads, head_dim,
		 cache == LLMK_F32 ? "f32" : cache == LLMK_BF16 ? "bf16" : "e4m3", bad);
	check(bad == 0, what);
	free_all();
}

/* ---- time: a layer's GEMVs for n tokens against one ------------------------------------- */

/* Microseconds a layer's GEMVs take for n tokens (q/k/v fused, o, gate/up + SwiGLU
 * fused, down) at hidden / kv_rows / ff_rows, over enough layers' copies that L2 holds
 * none when it is read again. */
static double layer_gemv_us(enum llmk_dtype d, int hidden, int kv_rows, int ff_rows, int layers, int n)
{
	struct layer { struct llmk_gemv_matrix q, k, v, o, gate, up, down; };
	std::vector<layer> l(layers);
	for (auto &x : l)
		x = {random_matrix(d, hidden, hidden, n), random_matrix(d, kv_rows, hidden, n),
		     random_matrix(d, kv_rows, hidden, n), random_matrix(d, hidden, hidden, n),
		     random_matrix(d, ff_rows, hidden, n), random_matrix(d, ff_rows, hidden, n),
		     random_matrix(d, hidden, ff_rows, n)};
	struct token_inputs in = random_inputs(d, n, ff_rows);
	float *ff = (float *)device_bytes((size_t)n * ff_rows * 4, 0);
	const struct llmk_gemv_input h = token_input(d, hidden, in, 0, n), f = token_input(d, ff_rows, in, 0, n);
	double us = graph_us_per_launch(layers, [&](int i, cudaStream_t s) {
		struct llmk_gemv_matrix qkv[3] = {l[i].q, l[i].k, l[i].v};
		cudaError_t st = llmk_gemv_multi(qkv, 3, &h, s);
		if (st == cudaSuccess) st = llmk_gemv(&l[i].o, &h, -1, s);
		if (st == cudaSuccess) st = llmk_gemv_swiglu(&l[i].gate, &l[i].up, &h, ff, NULL, s);
		if (st == cudaSuccess) st = llmk_gemv(&l[i].down, &f, -1, s);
		return st;
	});
	free_all();
	return us;
}

static void time_layer_gemvs(enum llmk_dtype d, const char *model, int hidden, int kv_rows, int ff_rows)
{
	size_t bytes = (size_t)hidden * (2 * hidden + 2 * kv_rows + 3 * ff_rows) * (d == LLMK_BF16 ? 2 : 1);
	int layers = (int)(((size_t)1 << 30) / bytes) + 2;
	double one = layer_gemv_us(d, hidden, kv_rows, ff_rows, layers, 1);
	printf("# %s %s layer GEMVs (%zu MB of weights): 1 token %.1f us (%.0f GB/s)", model, weight_name(d), bytes >> 20,
	       one, bytes / one / 1e3);
	for (int n : {2, 5, 9}) {
		double us = layer_gemv_us(d, hidden, kv_rows, ff_rows, layers, n);
		printf("; %d tokens %.1f us (%.2fx)", n, us, us / one);
	}
	printf("\n");
}

/* Microseconds llmk_linear takes for a BF16 lm_head (vocab x hidden, float input: an
 * 8-bit checkpoint's head) at 1, 5 and 9 tokens: the verify pass's last product. */
static void time_bf16_head(const char *model, int vocab, int hidden)
{
	const int copies = 2; /* each at least 1 GB: L2 holds neither when it is read again */
	std::vector<llmk_gemv_matrix> heads(copies);
	for (auto &h : heads)
		h = random_matrix(LLMK_BF16, vocab, hidden, LLMK_GEMV_MAX_TOKENS);
	struct token_inputs in = random_inputs(LLMK_BF16, LLMK_GEMV_MAX_TOKENS, hidden);
	const double bytes = 2.0 * vocab * hidden;
	printf("# %s BF16 lm_head %dx%d through llmk_linear:", model, vocab, hidden);
	double one = 0;
	for (int n : {1, 5, LLMK_GEMV_MAX_TOKENS}) {
		double us = graph_us_per_launch(copies, [&](int i, cudaStream_t s) {
			return llmk_linear(heads[i].weight, LLMK_BF16, vocab, hidden, NULL, 0, in.x, NULL, NULL, n,
					   heads[i].y, vocab, s);
		});
		if (n == 1)
			one = us;
		printf(" %d token%s %.1f us (%.0f GB/s, %.2fx)", n, n == 1 ? "" : "s", us, bytes / us / 1e3, us / one);
	}
	printf("\n");
	free_all();
}

int main(int argc, char **argv)
{
	if (!check_program_start(argc, argv, "verify_checks"))
		return 1;
	for (enum llmk_dtype d : {LLMK_E4M3, LLMK_I8, LLMK_BF16}) {
		for (int n = 2; n <= LLMK_GEMV_MAX_TOKENS; n++)
			check_gemv_tokens(d, 1000, 4096, n);
		check_gemv_tokens(d, 4096, 14336, LLMK_GEMV_MAX_TOKENS);
		for (int n : {2, 5, LLMK_GEMV_MAX_TOKENS})
			check_fused_tokens(d, 4096, 1024, 14336, 4096, n);
		/* rows not a multiple of a block's */
		check_gemv_tokens(d, 1001, 4096, 5);
		check_gemv_tokens(d, 301, 512, LLMK_GEMV_MAX_TOKENS);
		check_fused_tokens(d, 1000, 24, 301, 512, 3);
		check_fused_tokens(d, 1000, 24, 301, 512, LLMK_GEMV_MAX_TOKENS);
		if (d != LLMK_BF16) /* FP8 checkpoints' one scale for the whole matrix */
			check_gemv_tokens(d, 1000, 4096, LLMK_GEMV_MAX_TOKENS, true);
	}
	/* the lm_head of Llama 3 (an 8-bit checkpoint's is BF16), 5 and 9 tokens */
	for (int n : {5, LLMK_GEMV_MAX_TOKENS})
		check_gemv_tokens(LLMK_BF16, 128256, 4096, n);
	check_gemv_refusals();
	for (int n : {2, 5, LLMK_GEMV_MAX_TOKENS}) {
		check_attention_tokens(LLMK_BF16, 32, 8, 128, 100, n);
		check_attention_tokens(LLMK_E4M3, 32, 8, 128, 4000, n);
		check_attention_tokens(LLMK_BF16, 64, 8, 128, 20000, n);
		check_attention_tokens(LLMK_F32, 32, 4, 64, 700, n);
	}
	printf("# a layer's GEMVs for n tokens at once (the verify pass) against one token, inside a CUDA graph:\n");
	for (enum llmk_dtype d : {LLMK_E4M3, LLMK_I8}) {
		time_layer_gemvs(d, "8B", 4096, 1024, 14336);
		time_layer_gemvs(d, "70B", 8192, 1024, 28672);
	}
	time_bf16_head("8B", 128256, 4096);
	time_bf16_head("70B", 128256, 8192);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
