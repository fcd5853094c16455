/*
 * cpu_linear.c - the linear layers, in their stored 8- or 16-bit form.
 *
 * Bound: one decode step reads every weight once, so a layer costs its size in
 * bytes of memory traffic; the arithmetic (a few operations per weight byte) hides
 * under it when the inner loops vectorise (cpu_simd.h says how).
 *
 * Prefill: a thread decodes one weight row into its buffer, then dots it with
 * every token of the batch while it sits in L1, so the weights stream from memory
 * once per batch.
 */
#include "cpu_linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu_simd.h"
#include "numerics.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define LANES CPU_LANES
#define HOT_LOOP CPU_HOT_LOOP

struct cpu_linear_workspace {
	int64_t max_in;
	int max_tokens;
	int threads;
	float *rows;          /* threads x max_in: one decoded weight row per thread
			       * (floats, or the int16 copy of an INT8 row) */
	float *x_fp8;         /* max_tokens x max_in: e4m3 activations, as floats */
	int16_t *x_int8;      /* max_tokens x max_in: int8 activations, widened to 16 bits */
	float *token_scale;   /* max_tokens */
};

int cpu_linear_workspace_create(int64_t max_in, int max_tokens, int threads,
				struct cpu_linear_workspace **out, char *err, size_t err_size)
{
	struct cpu_linear_workspace *ws = calloc(1, sizeof *ws);
	if (threads < 1)
		threads = 1;
	if (ws) {
		ws->max_in = max_in;
		ws->max_tokens = max_tokens;
		ws->threads = threads;
		ws->rows = malloc((size_t)threads * (size_t)max_in * sizeof *ws->rows);
		ws->x_fp8 = malloc((size_t)max_tokens * (size_t)max_in * sizeof *ws->x_fp8);
		ws->x_int8 = malloc((size_t)max_tokens * (size_t)max_in * sizeof *ws->x_int8);
		ws->token_scale = malloc((size_t)max_tokens * sizeof *ws->token_scale);
	}
	if (!ws || !ws->rows || !ws->x_fp8 || !ws->x_int8 || !ws->token_scale) {
		cpu_linear_workspace_free(ws);
		snprintf(err, err_size, "out of memory for the linear layers' workspace (%lld inputs x %d tokens)",
			 (long long)max_in, max_tokens);
		return -1;
	}
	*out = ws;
	return 0;
}

void cpu_linear_workspace_free(struct cpu_linear_workspace *ws)
{
	if (!ws)
		return;
	free(ws->rows);
	free(ws->x_fp8);
	free(ws->x_int8);
	free(ws->token_scale);
	free(ws);
}

static const char *activation_name(enum activation_quant a)
{
	switch (a) {
	case ACTIVATION_NONE: return "none";
	case ACTIVATION_FP8_STATIC: return "FP8 static";
	case ACTIVATION_FP8_DYNAMIC: return "FP8 dynamic";
	case ACTIVATION_INT8_DYNAMIC: return "INT8 dynamic";
	case ACTIVATION_INT8_STATIC: return "INT8 static";
	}
	return "?";
}

/* Our own names, so that this module does not need the safetensors reader. */
static const char *dtype_name(enum tensor_dtype dt)
{
	switch (dt) {
	case DTYPE_BF16: return "BF16";
	case DTYPE_F16: return "F16";
	case DTYPE_F32: return "F32";
	case DTYPE_F8_E4M3: return "F8_E4M3";
	case DTYPE_I8: return "I8";
	case DTYPE_I32: return "I32";
	case DTYPE_U8: return "U8";
	case DTYPE_F64: return "F64";
	case DTYPE_I64: return "I64";
	}
	return "?";
}

int cpu_linear_check(const struct linear *layer, const char *name, char *err, size_t err_size)
{
	enum tensor_dtype dt = layer->weight_dtype;
	enum activation_quant a = layer->activation;
	bool fp8_act = a == ACTIVATION_FP8_STATIC || a == ACTIVATION_FP8_DYNAMIC;
	bool int8_act = a == ACTIVATION_INT8_STATIC || a == ACTIVATION_INT8_DYNAMIC;
	bool quantized = dt == DTYPE_F8_E4M3 || dt == DTYPE_I8;

	if (!layer->weight || layer->out_features < 1 || layer->in_features < 1) {
		snprintf(err, err_size, "%s: missing weight or empty shape", name);
		return -1;
	}
	if (layer->row_stride != 0 && layer->row_stride < layer->in_features) {
		snprintf(err, err_size, "%s: row stride %lld is shorter than a row of %lld", name,
			 (long long)layer->row_stride, (long long)layer->in_features);
		return -1;
	}
	if (dt != DTYPE_BF16 && dt != DTYPE_F16 && dt != DTYPE_F32 && !quantized) {
		snprintf(err, err_size, "%s: weight dtype %s is not supported by the CPU engine",
			 name, dtype_name(dt));
		return -1;
	}
	if ((fp8_act && dt != DTYPE_F8_E4M3) || (int8_act && dt != DTYPE_I8)) {
		snprintf(err, err_size, "%s: %s activations need %s weights, not %s", name,
			 activation_name(a), fp8_act ? "F8_E4M3" : "I8", dtype_name(dt));
		return -1;
	}
	if (quantized && (!layer->weight_scale || (layer->weight_scale_count != 1 &&
						     layer->weight_scale_count != layer->out_features))) {
		snprintf(err, err_size, "%s: %s weights need 1 or %lld weight scales, have %lld", name,
			 dtype_name(dt), (long long)layer->out_features,
			 (long long)(layer->weight_scale ? layer->weight_scale_count : 0));
		return -1;
	}
	if ((a == ACTIVATION_FP8_STATIC || a == ACTIVATION_INT8_STATIC) &&
	    !(layer->input_scale > 0 && isfinite(layer->input_scale))) {
		snprintf(err, err_size, "%s: static input_scale must be a positive number, is %g", name,
			 (double)layer->input_scale);
		return -1;
	}
	return 0;
}

static float max_abs(const float *x, int64_t n)
{
	float m = 0;
	for (int64_t i = 0; i < n; i++) {
		float a = fabsf(x[i]);
		m = a > m ? a : m;
	}
	return m;
}

float cpu_linear_activation_scale(const struct linear *layer, const float *x, int64_t n)
{
	switch (layer->activation) {
	case ACTIVATION_NONE:
		return 0;
	case ACTIVATION_FP8_STATIC:
	case ACTIVATION_INT8_STATIC:
		return layer->input_scale;
	case ACTIVATION_FP8_DYNAMIC: {
		/* vLLM floors a dynamic FP8 scale at 1/(448*512) so that tiny rows
		 * still use the format's range sensibly; a zero row stays scale 0. */
		float m = max_abs(x, n);
		float s = m / E4M3_MAX;
		float floor_scale = 1.0f / (E4M3_MAX * 512.0f);
		return m == 0 ? 0 : (s > floor_scale ? s : floor_scale);
	}
	case ACTIVATION_INT8_DYNAMIC:
		return max_abs(x, n) / 127.0f;
	}
	return 0;
}

/* Quantizes token x (n values) into x_fp8 or x_int8; returns its scale. */
static float quantize_token(const struct linear *layer, const float *x, int64_t n,
			    float *x_fp8, int16_t *x_int8)
{
	float s = cpu_linear_activation_scale(layer, x, n);
	if (s == 0) {
		for (int64_t i = 0; i < n; i++) {
			if (x_fp8) x_fp8[i] = 0;
			if (x_int8) x_int8[i] = 0;
		}
		return 0;
	}
	if (x_fp8) {
		float inv = 1.0f / s;
		for (int64_t i = 0; i < n; i++) {
			float v = x[i] * inv;
			v = v > E4M3_MAX ? E4M3_MAX : (v < -E4M3_MAX ? -E4M3_MAX : v);
			x_fp8[i] = numerics_round_e4m3(v);
		}
	} else {
		/* vLLM's dynamic kernel multiplies by 127 / max|x| rather than 1/s */
		float inv = layer->activation == ACTIVATION_INT8_DYNAMIC ? 127.0f / max_abs(x, n) : 1.0f / s;
		for (int64_t i = 0; i < n; i++)
			x_int8[i] = numerics_float_to_int8(x[i] * inv);
	}
	return s;
}

/* Elements from one stored row to the next: in_features, or more for a
 * tensor-parallel view of some columns. */
static int64_t row_stride(const struct linear *layer)
{
	return layer->row_stride ? layer->row_stride : layer->in_features;
}

/* Decodes one stored row into float.  Rows are addressed in bytes: the tensor
 * may be unaligned in the file (numerics_load_u16). */
HOT_LOOP static void decode_row(const struct linear *layer, int64_t r, float *row)
{
	const size_t n = (size_t)layer->in_features, stride = (size_t)row_stride(layer);
	const unsigned char *base = layer->weight;
	switch (layer->weight_dtype) {
	case DTYPE_BF16: {
		const unsigned char *w = base + (size_t)r * stride * 2;
		for (size_t i = 0; i < n; i++)
			row[i] = numerics_bf16_to_float(numerics_load_u16(w, i));
		break;
	}
	case DTYPE_F16: {
		const unsigned char *w = base + (size_t)r * stride * 2;
		for (size_t i = 0; i < n; i++)
			row[i] = numerics_f16_to_float_finite(numerics_load_u16(w, i));
		break;
	}
	case DTYPE_F32: {
		const unsigned char *w = base + (size_t)r * stride * 4;
		for (size_t i = 0; i < n; i++)
			row[i] = numerics_load_f32(w, i);
		break;
	}
	case DTYPE_F8_E4M3: {
		const uint8_t *w = base + (size_t)r * stride;
		for (size_t i = 0; i < n; i++)
			row[i] = numerics_e4m3_to_float_finite(w[i]);
		break;
	}
	case DTYPE_I8: {
		const int8_t *w = (const int8_t *)(base + (size_t)r * stride);
		for (size_t i = 0; i < n; i++)
			row[i] = (float)w[i];
		break;
	}
	default:
		break; /* refused by cpu_linear_check */
	}
}

/* Float dot product in LANES independent partial sums (see the top comment). */
HOT_LOOP static float dot_float(const float *restrict a, const float *restrict b, int64_t n)
{
	float lane[LANES] = {0};
	int64_t i = 0;
	for (; i + LANES <= n; i += LANES)
		for (int j = 0; j < LANES; j++)
			lane[j] += a[i + j] * b[i + j];
	float sum = 0;
	for (int j = 0; j < LANES; j++)
		sum += lane[j];
	for (; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

/* INT8 values widened to 16 bits (exact), so that the products pair up in
 * one instruction (pmaddwd); |x_q W_q| <= 128*128, so int32 holds 2^17 of them. */
HOT_LOOP static void widen_int8_row(const int8_t *restrict w, int16_t *restrict row, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		row[i] = w[i];
}

HOT_LOOP static int32_t dot_int16(const int16_t *restrict a, const int16_t *restrict b, int64_t n)
{
	int32_t sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (int32_t)a[i] * (int32_t)b[i];
	return sum;
}

static float row_scale(const struct linear *layer, int64_t r)
{
	if (!layer->weight_scale)
		return 1.0f;
	return layer->weight_scale_count == 1 ? layer->weight_scale[0] : layer->weight_scale[r];
}

void cpu_linear_forward(const struct linear *layer, const float *x, int n_tokens, float *y,
			struct cpu_linear_workspace *ws)
{
	const int64_t in = layer->in_features, out = layer->out_features;
	const enum activation_quant a = layer->activation;
	const bool fp8 = a == ACTIVATION_FP8_STATIC || a == ACTIVATION_FP8_DYNAMIC;
	const bool int8 = a == ACTIVATION_INT8_STATIC || a == ACTIVATION_INT8_DYNAMIC;
	const float *xin = x;

	if (fp8 || int8) {
		for (int t = 0; t < n_tokens; t++)
			ws->token_scale[t] = quantize_token(layer, x + t * in, in,
							    fp8 ? ws->x_fp8 + t * in : NULL,
							    int8 ? ws->x_int8 + t * in : NULL);
		xin = ws->x_fp8;
	}

#pragma omp parallel for num_threads(ws->threads) schedule(static)
	for (int64_t r = 0; r < out; r++) {
		float scale = row_scale(layer, r);
#ifdef _OPENMP
		float *row = ws->rows + (int64_t)omp_get_thread_num() * ws->max_in;
#else
		float *row = ws->rows;
#endif
		if (int8) {
			int16_t *row16 = (int16_t *)row;
			widen_int8_row((const int8_t *)layer->weight + r * row_stride(layer), row16, in);
			for (int t = 0; t < n_tokens; t++)
				y[t * out + r] = (float)dot_int16(ws->x_int8 + t * in, row16, in) *
						 ws->token_scale[t] * scale;
			continue;
		}
		decode_row(layer, r, row);
		for (int t = 0; t < n_tokens; t++) {
			float sum = dot_float(xin + t * in, row, in);
			if (fp8)
				y[t * out + r] = sum * ws->token_scale[t] * scale;
			else
				y[t * out + r] = layer->weight_scale ? sum * scale : sum;
		}
	}
}
