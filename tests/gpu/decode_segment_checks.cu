/*
 * decode_segment_checks.cu - llmk_decode_segment against the launches it replaces, bit
 * for bit, and its time next to theirs.
 *
 *   decode_segment_checks [SEED]   (built and run by tests/gpu/run.sh on the device machine)
 *   decode_segment_checks time     (the timings only)
 *   built with -DSEG_PROFILE: one 8B FP8 segment's steps, each block's time at each
 *   (the kernel's own stamps), and its waits
 *
 * On random weights and inputs (the seed is printed), every output poisoned first: one
 * segment (o_proj, add + post-attention RMSNorm, gate/up + SwiGLU, down_proj, and with
 * a next layer its add + input RMSNorm and q/k/v) against llmk_quantize + llmk_gemv,
 * llmk_add_rmsnorm_quantize, llmk_gemv_swiglu, llmk_quantize + llmk_gemv,
 * llmk_add_rmsnorm_quantize, llmk_gemv_multi: the residual after each add, o_proj's and
 * down_proj's outputs, the SwiGLU, q, k and v.  FP8 and INT8 weights, static and
 * dynamic input scales, the Llama-3.1-8B shape, a small one whose k and v end in a
 * partial tile, one 5120 wide (4 rows a tile), and a last layer (no next); the segment
 * launched twice in a row gives the same bits; refusals (BF16 weights, no quantization,
 * columns not a multiple of 16, q/k/v quantized differently).
 * Timing, inside CUDA graphs, the Llama-3.1-8B shape (FP8 with a static input scale,
 * INT8 with dynamic ones): the segment against the launches it replaces, and the bytes
 * of its weights over that time.
 * Prints one "ok"/"not ok" line per check, the timings, then "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "decode_segment.h"
#include "llm_kernels.h"
}
#ifdef SEG_PROFILE /* the profile build: the kernel compiled in, with its timer stamps */
#include "decode_segment.cu"
#endif
#include "check_program.cuh"
#include "device_buffers.cuh"

/* ---- one layer's worth of random products ---------------------------------------- */

struct shape {
	const char *name;
	int hidden, intermediate, q_rows, kv_rows;
};

struct product {
	struct llmk_segment_matrix m;
	int cols;
};

static struct product random_product(enum llmk_dtype wdtype, int rows, int cols, enum llmk_quant quant, bool per_row)
{
	struct product p = {};
	void *w = device_bytes((size_t)rows * cols, 0);
	/* random codes: FP8 up to 448 in magnitude (no NaN), INT8 up to 127 */
	CUDA(llmk_fill_random(w, (size_t)rows * cols, wdtype, (uint32_t)rng_state, 1.0f, 0));
	uniform_in(0, 1);
	const int scales = per_row ? rows : 1;
	const float scale_of = wdtype == LLMK_I8 ? 4e-4f : 2e-3f;
	p.m = {w, random_floats(scales, 0.5f * scale_of, 1.5f * scale_of), scales, rows, quant,
	       quant == LLMK_QUANT_FP8_STATIC ? 0.02f : quant == LLMK_QUANT_INT8_STATIC ? 0.03f : 0};
	p.cols = cols;
	return p;
}

struct layer {
	struct product o, gate, up, down, q, k, v;
	float *post_norm, *next_norm;
};

static struct layer random_layer(const struct shape &sh, enum llmk_dtype wdtype, enum llmk_quant quant)
{
	const bool per_row = wdtype == LLMK_I8;
	struct layer l;
	l.o = random_product(wdtype, sh.hidden, sh.q_rows, quant, per_row);
	l.gate = random_product(wdtype, sh.intermediate, sh.hidden, quant, per_row);
	l.up = random_product(wdtype, sh.intermediate, sh.hidden, quant, per_row);
	l.up.m.input_scale = l.gate.m.input_scale;
	l.down = random_product(wdtype, sh.hidden, sh.intermediate, quant, per_row);
	l.q = random_product(wdtype, sh.q_rows, sh.hidden, quant, per_row);
	l.k = random_product(wdtype, sh.kv_rows, sh.hidden, quant, per_row);
	l.v = random_product(wdtype, sh.kv_rows, sh.hidden, quant, per_row);
	l.post_norm = random_floats(sh.hidden, 0.5f, 1.5f);
	l.next_norm = random_floats(sh.hidden, 0.5f, 1.5f);
	return l;
}

/* The buffers one run writes: the residual (x in, x_mid, x out), tmp, the SwiGLU, q/k/v. */
struct outputs {
	float *x, *x_mid, *tmp, *gate_out, *q, *k, *v;
};

static struct outputs poisoned_outputs(const struct shape &sh, const float *x0)
{
	struct outputs o;
	o.x = (float *)device_copy(x0, (size_t)sh.hidden * 4);
	o.x_mid = (float *)device_bytes(sh.hidden * 4, 0xff);
	o.tmp = (float *)device_bytes(sh.hidden * 4, 0xff);
	o.gate_out = (float *)device_bytes(sh.intermediate * 4, 0xff);
	o.q = (float *)device_bytes(sh.q_rows * 4, 0xff);
	o.k = (float *)device_bytes(sh.kv_rows * 4, 0xff);
	o.v = (float *)device_bytes(sh.kv_rows * 4, 0xff);
	return o;
}

static struct llmk_gemv_matrix gemv_matrix(const struct product &p, float *y)
{
	return {p.m.weight, p.m.weight_scale, p.m.weight_scale_count, p.m.rows, y};
}

/* What the segment replaces, one launch after another, on stream (x_mid: the residual
 * after the first add copied aside, as the segment keeps it). */
static cudaError_t reference_launches(const struct shape &sh, enum llmk_dtype wdtype, const struct layer &l,
				      const float *att, bool next, float eps, const struct outputs &out, float *h,
				      uint8_t *xq, float *xs, cudaStream_t stream)
{
	cudaError_t status = llmk_quantize(att, 1, sh.q_rows, l.o.m.quant, l.o.m.input_scale, xq, xs, stream);
	struct llmk_gemv_input in_o = {wdtype, sh.q_rows, att, xq, xs};
	struct llmk_gemv_matrix mo = gemv_matrix(l.o, out.tmp);
	if (status == cudaSuccess) status = llmk_gemv(&mo, &in_o, -1, stream);
	if (status == cudaSuccess)
		status = llmk_add_rmsnorm_quantize(out.x, out.tmp, l.post_norm, h, 1, sh.hidden, eps, l.gate.m.quant,
						   l.gate.m.input_scale, xq, xs, stream);
	if (status == cudaSuccess)
		status = cudaMemcpyAsync(out.x_mid, out.x, sh.hidden * 4, cudaMemcpyDeviceToDevice, stream);
	struct llmk_gemv_input in_h = {wdtype, sh.hidden, h, xq, xs};
	struct llmk_gemv_matrix mg = gemv_matrix(l.gate, NULL), mu = gemv_matrix(l.up, NULL);
	if (status == cudaSuccess) status = llmk_gemv_swiglu(&mg, &mu, &in_h, out.gate_out, NULL, stream);
	if (status == cudaSuccess)
		status = llmk_quantize(out.gate_out, 1, sh.intermediate, l.down.m.quant, l.down.m.input_scale, xq, xs,
				       stream);
	struct llmk_gemv_input in_d = {wdtype, sh.intermediate, out.gate_out, xq, xs};
	struct llmk_gemv_matrix md = gemv_matrix(l.down, out.tmp);
	if (status == cudaSuccess) status = llmk_gemv(&md, &in_d, -1, stream);
	if (!next || status != cudaSuccess)
		return status;
	status = llmk_add_rmsnorm_quantize(out.x, out.tmp, l.next_norm, h, 1, sh.hidden, eps, l.q.m.quant,
					   l.q.m.input_scale, xq, xs, stream);
	struct llmk_gemv_matrix qkv[3] = {gemv_matrix(l.q, out.q), gemv_matrix(l.k, out.k), gemv_matrix(l.v, out.v)};
	if (status == cudaSuccess) status = llmk_gemv_multi(qkv, 3, &in_h, stream);
	return status;
}

static struct llmk_decode_segment segment_of(const struct shape &sh, enum llmk_dtype wdtype, const struct layer &l,
					     const float *att, bool next, float eps, const struct outputs &out,
					     unsigned *counters)
{
	struct llmk_decode_segment s = {};
	s.wdtype = wdtype;
	s.hidden = sh.hidden;
	s.intermediate = sh.intermediate;
	s.q_dim = sh.q_rows;
	s.eps = eps;
	s.att = att;
	s.o_proj = l.o.m;
	s.x = out.x;
	s.x_mid = out.x_mid;
	s.tmp = out.tmp;
	s.post_norm = l.post_norm;
	s.gate = l.gate.m;
	s.up = l.up.m;
	s.gate_out = out.gate_out;
	s.down = l.down.m;
	if (next) {
		s.next_norm = l.next_norm;
		s.q = l.q.m;
		s.k = l.k.m;
		s.v = l.v.m;
		s.q_out = out.q;
		s.k_out = out.k;
		s.v_out = out.v;
	}
	s.counters = counters;
	return s;
}

static const char *quant_name(enum llmk_quant q)
{
	switch (q) {
	case LLMK_QUANT_FP8_STATIC: return "static FP8 inputs";
	case LLMK_QUANT_FP8_DYNAMIC: return "dynamic FP8 inputs";
	case LLMK_QUANT_INT8_STATIC: return "static INT8 inputs";
	case LLMK_QUANT_INT8_DYNAMIC: return "dynamic INT8 inputs";
	default: return "no quantization";
	}
}

/* One case: the segment's outputs against the reference's, byte for byte. */
static void check_case(const struct shape &sh, enum llmk_dtype wdtype, enum llmk_quant quant, bool next)
{
	const float eps = 1e-5f;
	struct layer l = random_layer(sh, wdtype, quant);
	float *att = random_floats(sh.q_rows, -1, 1), *x0 = random_floats(sh.hidden, -2, 2);
	struct outputs ref = poisoned_outputs(sh, x0), seg = poisoned_outputs(sh, x0);
	float *h = (float *)device_bytes(sh.hidden * 4, 0xff), *xs = (float *)device_bytes(4, 0xff);
	uint8_t *xq = (uint8_t *)device_bytes(sh.intermediate > sh.hidden ? sh.intermediate : sh.hidden, 0xff);
	unsigned *counters = (unsigned *)device_bytes(LLMK_SEGMENT_COUNTERS * 4, 0);
	CUDA(reference_launches(sh, wdtype, l, att, next, eps, ref, h, xq, xs, 0));
	struct llmk_decode_segment s = segment_of(sh, wdtype, l, att, next, eps, seg, counters);
	CUDA(llmk_decode_segment_check(&s));
	CUDA(llmk_decode_segment(&s, 0));
	CUDA(cudaDeviceSynchronize());
	char what[256];
	const char *type = wdtype == LLMK_I8 ? "INT8" : "FP8";
	size_t bad_mid = differing_bytes(ref.x_mid, seg.x_mid, sh.hidden * 4);
	size_t bad_gate = differing_bytes(ref.gate_out, seg.gate_out, sh.intermediate * 4);
	size_t bad_tmp = differing_bytes(ref.tmp, seg.tmp, sh.hidden * 4);
	size_t bad_x = differing_bytes(next ? ref.x : x0, seg.x, sh.hidden * 4);
	size_t bad_qkv = next ? differing_bytes(ref.q, seg.q, sh.q_rows * 4) + differing_bytes(ref.k, seg.k, sh.kv_rows * 4) +
					differing_bytes(ref.v, seg.v, sh.kv_rows * 4)
			      : 0;
	snprintf(what, sizeof what,
		 "%s, %s weights, %s%s: the segment's bits equal the launches' (differing bytes: residual after "
		 "attention %zu, SwiGLU %zu, down_proj %zu, residual %zu, q/k/v %zu)",
		 sh.name, type, quant_name(quant), next ? "" : ", last layer", bad_mid, bad_gate, bad_tmp, bad_x, bad_qkv);
	check(bad_mid + bad_gate + bad_tmp + bad_x + bad_qkv == 0, what);
	if (!next)
		return;
	/* again, from the same inputs and zeroed counters: the same bits */
	struct outputs again = poisoned_outputs(sh, x0);
	CUDA(cudaMemset(counters, 0, LLMK_SEGMENT_COUNTERS * 4));
	struct llmk_decode_segment s2 = segment_of(sh, wdtype, l, att, next, eps, again, counters);
	CUDA(llmk_decode_segment(&s2, 0));
	CUDA(cudaDeviceSynchronize());
	size_t bad = differing_bytes(seg.x, again.x, sh.hidden * 4) + differing_bytes(seg.q, again.q, sh.q_rows * 4) +
		     differing_bytes(seg.v, again.v, sh.kv_rows * 4);
	snprintf(what, sizeof what, "%s, %s weights, %s: a second run gives the same bits (%zu differ)", sh.name, type,
		 quant_name(quant), bad);
	check(bad == 0, what);
}

static void check_refusals(void)
{
	const struct shape sh = {"small", 256, 688, 256, 64};
	struct layer l = random_layer(sh, LLMK_E4M3, LLMK_QUANT_FP8_STATIC);
	float *att = random_floats(sh.q_rows, -1, 1), *x0 = random_floats(sh.hidden, -2, 2);
	struct outputs out = poisoned_outputs(sh, x0);
	unsigned *counters = (unsigned *)device_bytes(LLMK_SEGMENT_COUNTERS * 4, 0);
	struct llmk_decode_segment s = segment_of(sh, LLMK_E4M3, l, att, true, 1e-5f, out, counters);
	check(llmk_decode_segment_check(&s) == cudaSuccess, "the small FP8 segment is accepted");
	struct llmk_decode_segment bf16 = s;
	bf16.wdtype = LLMK_BF16;
	check(llmk_decode_segment(&bf16, 0) == cudaErrorNotSupported, "BF16 weights are refused");
	struct llmk_decode_segment none = s;
	none.down.quant = LLMK_QUANT_NONE;
	check(llmk_decode_segment(&none, 0) == cudaErrorNotSupported, "an unquantized input is refused");
	struct llmk_decode_segment odd = s;
	odd.q_dim = 264;
	check(llmk_decode_segment(&odd, 0) == cudaErrorNotSupported, "columns not a multiple of 16 are refused");
	struct llmk_decode_segment mixed = s;
	mixed.k.quant = LLMK_QUANT_FP8_DYNAMIC;
	check(llmk_decode_segment(&mixed, 0) == cudaErrorNotSupported, "q/k/v quantized differently are refused");
	check(cudaGetLastError() == cudaSuccess, "no launch was made by a refusal");
}

/* The 8B FP8 segment against the launches it replaces, inside graphs; 8 layers' worth
 * of weights a graph so that L2 holds none of them at a launch. */
static void time_segment(enum llmk_dtype wdtype, enum llmk_quant quant)
{
	const struct shape sh = {"Llama-3.1-8B", 4096, 14336, 4096, 1024};
	const int LAYERS = 8;
	std::vector<struct layer> layers;
	for (int i = 0; i < LAYERS; i++) layers.push_back(random_layer(sh, wdtype, quant));
	float *att = random_floats(sh.q_rows, -1, 1), *x0 = random_floats(sh.hidden, -2, 2);
	struct outputs out = poisoned_outputs(sh, x0);
	float *h = (float *)device_bytes(sh.hidden * 4, 0), *xs = (float *)device_bytes(4, 0);
	uint8_t *xq = (uint8_t *)device_bytes(sh.intermediate, 0);
	unsigned *counters = (unsigned *)device_bytes((size_t)LAYERS * LLMK_SEGMENT_COUNTERS * 4, 0);
	const struct llmk_decode_segment first = segment_of(sh, wdtype, layers[0], att, true, 1e-5f, out, counters);
	CUDA(llmk_decode_segment_check(&first));
	double launches_us = graph_us_per_launch(LAYERS, [&](int i, cudaStream_t st) {
		return reference_launches(sh, wdtype, layers[i], att, true, 1e-5f, out, h, xq, xs, st);
	});
	double segment_us = graph_us_per_launch(LAYERS, [&](int i, cudaStream_t st) {
		cudaError_t status = i == 0 ? cudaMemsetAsync(counters, 0, (size_t)LAYERS * LLMK_SEGMENT_COUNTERS * 4, st)
					    : cudaSuccess;
		struct llmk_decode_segment s =
			segment_of(sh, wdtype, layers[i], att, true, 1e-5f, out, counters + i * LLMK_SEGMENT_COUNTERS);
		return status == cudaSuccess ? llmk_decode_segment(&s, st) : status;
	});
	const double bytes = (double)sh.hidden * sh.q_rows + 2.0 * sh.intermediate * sh.hidden +
			     (double)sh.hidden * sh.intermediate + (double)(sh.q_rows + 2 * sh.kv_rows) * sh.hidden;
	printf("# 8B layer, %s weights, %s, from o_proj to the next q/k/v (%.1f MB of weights), in a graph of %d:\n",
	       wdtype == LLMK_I8 ? "INT8" : "FP8", quant_name(quant), bytes / 1e6, LAYERS);
	printf("#   the launches it replaces: %.1f us (%.0f GB/s)\n", launches_us, bytes / launches_us / 1e3);
	printf("#   the segment:              %.1f us (%.0f GB/s)\n", segment_us, bytes / segment_us / 1e3);
	char what[160];
	snprintf(what, sizeof what, "the segment and the launches were timed (%s weights, %s)",
		 wdtype == LLMK_I8 ? "INT8" : "FP8", quant_name(quant));
	check(segment_us > 0 && launches_us > 0, what);
	CUDA(cudaDeviceSynchronize());
}

#ifdef SEG_PROFILE
/* One 8B FP8 segment after a warm-up: each step's time from the block's start, the
 * median block and the last; and the stage waits. */
static void profile_segment(void)
{
	const struct shape sh = {"Llama-3.1-8B", 4096, 14336, 4096, 1024};
	struct layer l = random_layer(sh, LLMK_E4M3, LLMK_QUANT_FP8_STATIC);
	float *att = random_floats(sh.q_rows, -1, 1), *x0 = random_floats(sh.hidden, -2, 2);
	struct outputs out = poisoned_outputs(sh, x0);
	unsigned *counters = (unsigned *)device_bytes(LLMK_SEGMENT_COUNTERS * 4, 0);
	struct llmk_decode_segment s = segment_of(sh, LLMK_E4M3, l, att, true, 1e-5f, out, counters);
	CUDA(llmk_decode_segment_check(&s));
	static unsigned long long host[1024][SEG_PROFILE_SLOTS];
	for (int run = 0; run < 3; run++) {
		memset(host, 0, sizeof host);
		CUDA(cudaMemcpyToSymbol(seg_profile, host, sizeof host));
		CUDA(cudaMemset(counters, 0, LLMK_SEGMENT_COUNTERS * 4));
		CUDA(llmk_decode_segment(&s, 0));
		CUDA(cudaDeviceSynchronize());
	}
	CUDA(cudaMemcpyFromSymbol(host, seg_profile, sizeof host));
	int sms;
	cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
	unsigned long long t0 = ~0ull;
	for (int b = 0; b < sms; b++) t0 = std::min(t0, host[b][13]);
	const char *names[] = {"ready", "o input", "o tiles", "wait 0", "norm 2", "gate/up tiles", "wait 1", "down input",
			       "down tiles", "wait 2", "norm 1", "q/k/v tiles", "producer done", "start", "", "",
			       "norm 1 loaded", "norm 1 summed", "norm 1 max"};
	for (int slot = 0; slot < 19; slot++) {
		if (!names[slot][0])
			continue;
		std::vector<double> us;
		for (int b = 0; b < sms; b++) us.push_back((host[b][slot] - t0) / 1e3);
		std::sort(us.begin(), us.end());
		printf("# profile %-14s first %7.1f  median %7.1f  last %7.1f us\n", names[slot], us[0], us[us.size() / 2],
		       us.back());
	}
	double full = 0, empty = 0;
	for (int b = 0; b < sms; b++) { full += host[b][15] / 1e3; empty += host[b][14] / 1e3; }
	printf("# profile waits a block: consumers for full stages %.1f us, producer for empty stages %.1f us\n",
	       full / sms, empty / sms);
	double dots = 0, sync = 0, tiles = 0;
	for (int b = 0; b < sms; b++) { dots += host[b][20] / 1e3; sync += host[b][21] / 1e3; tiles += host[b][22]; }
	printf("# profile group 0's thread 0, a block: %.1f tiles, %.1f us in the dot products, "
	       "%.1f us waiting for its group\n",
	       tiles / sms, dots / sms, sync / sms);
}
#endif

int main(int argc, char **argv)
{
#ifdef SEG_PROFILE
	(void)argc, (void)argv;
	rng_state = 1;
	profile_segment();
	return 0;
#endif
	const bool time_only = argc > 1 && strcmp(argv[1], "time") == 0;
	unsigned seed = argc > 1 && !time_only ? (unsigned)strtoul(argv[1], NULL, 10) : (unsigned)time(NULL);
	printf("# seed %u\n", seed);
	rng_state = seed;
	if (time_only) {
		time_segment(LLMK_I8, LLMK_QUANT_INT8_DYNAMIC);
		time_segment(LLMK_E4M3, LLMK_QUANT_FP8_DYNAMIC);
		time_segment(LLMK_E4M3, LLMK_QUANT_FP8_STATIC);
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	const struct shape shapes[] = {
		{"Llama-3.1-8B", 4096, 14336, 4096, 1024},
		{"small (k and v end in a partial tile)", 272, 720, 272, 36},
		{"5120-wide (4 rows a tile)", 5120, 1024, 5120, 40},
	};
	const enum llmk_quant fp8[] = {LLMK_QUANT_FP8_STATIC, LLMK_QUANT_FP8_DYNAMIC};
	const enum llmk_quant int8[] = {LLMK_QUANT_INT8_DYNAMIC, LLMK_QUANT_INT8_STATIC};
	for (const struct shape &sh : shapes) {
		for (enum llmk_quant q : fp8) check_case(sh, LLMK_E4M3, q, true);
		for (enum llmk_quant q : int8) check_case(sh, LLMK_I8, q, true);
		check_case(sh, LLMK_E4M3, LLMK_QUANT_FP8_STATIC, false);
		check_case(sh, LLMK_I8, LLMK_QUANT_INT8_DYNAMIC, false);
		free_all();
	}
	check_refusals();
	free_all();
	time_segment(LLMK_E4M3, LLMK_QUANT_FP8_STATIC);
	free_all();
	time_segment(LLMK_I8, LLMK_QUANT_INT8_DYNAMIC);
	free_all();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
