/*
 * reference_linear.h - float64 references of a linear layer's pieces, written from
 * the definitions (the number formats' bit layouts, vLLM's 8-bit semantics as
 * cpu_linear.h states them) rather than from the code under test: a stored weight's
 * value, the nearest e4m3 value, the activation scale, an input quantized with it
 * and the scale of the sum.  For test_cpu_linear.c and test_engine_cpu.c.
 */
#ifndef LLMCHAT_TESTS_REFERENCE_LINEAR_H
#define LLMCHAT_TESTS_REFERENCE_LINEAR_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "numerics.h"

/* Nearest e4m3 value of v, ties to even, saturating: by its definition (3 mantissa
 * bits above 2^-6, steps of 2^-9 below). */
static inline double ref_e4m3(double v)
{
	double a = fabs(v), step;
	if (a >= 448)
		return copysign(448, v);
	step = a < 0x1p-6 ? 0x1p-9 : ldexp(1, ilogb(a) - 3);
	return copysign(nearbyint(a / step) * step, v);
}

/* Weight k (row-major) of L as stored: bf16 the top half of a float, e4m3 by its
 * bits (exponent bias 7, subnormals below). */
static inline double ref_weight(const struct linear *L, int64_t k)
{
	switch (L->weight_dtype) {
	case DTYPE_BF16: {
		uint32_t bits = (uint32_t)((const uint16_t *)L->weight)[k] << 16;
		float f;
		memcpy(&f, &bits, sizeof f);
		return f;
	}
	case DTYPE_F16: return numerics_f16_to_float(((const uint16_t *)L->weight)[k]);
	case DTYPE_F32: return ((const float *)L->weight)[k];
	case DTYPE_F8_E4M3: {
		uint8_t c = ((const uint8_t *)L->weight)[k];
		int e = (c >> 3) & 15, m = c & 7;
		double v = e ? ldexp(8 + m, e - 10) : ldexp(m, -9);
		return c & 0x80 ? -v : v;
	}
	case DTYPE_I8: return ((const int8_t *)L->weight)[k];
	default: return NAN;
	}
}

/* The activation scale of an input whose largest magnitude is amax. */
static inline double ref_activation_scale(const struct linear *L, double amax)
{
	switch (L->activation) {
	case ACTIVATION_FP8_STATIC: case ACTIVATION_INT8_STATIC: return L->input_scale;
	case ACTIVATION_FP8_DYNAMIC: return fmax(amax / 448, 1.0 / (448 * 512));
	case ACTIVATION_INT8_DYNAMIC: return amax / 127;
	default: return 1;
	}
}

/* x quantized with scale s as L's scheme does (x itself without one). */
static inline double ref_quantize(const struct linear *L, double x, double s)
{
	switch (L->activation) {
	case ACTIVATION_NONE: return x;
	case ACTIVATION_FP8_STATIC: case ACTIVATION_FP8_DYNAMIC: return ref_e4m3(fmax(-448, fmin(448, x / s)));
	default: return fmax(-128, fmin(127, nearbyint(x / s)));
	}
}

/* What row r's sum of quantized products is multiplied by: the activation scale s
 * and the row's weight scale. */
static inline double ref_output_scale(const struct linear *L, double s, int64_t r)
{
	double scale = L->activation == ACTIVATION_NONE ? 1 : s;
	if (L->weight_scale)
		scale *= L->weight_scale[L->weight_scale_count == 1 ? 0 : r];
	return scale;
}

#endif
