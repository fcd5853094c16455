/*
 * numerics.c - exact conversions between float and the stored number formats.
 *
 * Encoders work on the float's bits: rounding to nearest even at bit k is
 * "add (2^(k-1) - 1) plus the kept part's lowest bit, then shift", which carries
 * into the exponent when the mantissa overflows, as it should.  Subnormal
 * results are scaled by a power of two (exact) and rounded as integers.
 */
#include "numerics.h"

#include <math.h>

float numerics_f16_to_float(uint16_t h)
{
	if ((h & 0x7c00) == 0x7c00) {
		float special = (h & 0x03ff) ? NAN : INFINITY;
		return (h & 0x8000) ? -special : special;
	}
	return numerics_f16_to_float_finite(h);
}

float numerics_e4m3_to_float(uint8_t b)
{
	if ((b & 0x7f) == 0x7f)
		return NAN;
	return numerics_e4m3_to_float_finite(b);
}

uint16_t numerics_float_to_bf16(float f)
{
	uint32_t bits = numerics_float_bits(f);
	if (isnan(f))
		return (uint16_t)((bits >> 16) | 0x0040);
	bits += 0x7fff + ((bits >> 16) & 1);
	return (uint16_t)(bits >> 16);
}

/* Rounds a non-negative value below 2^22 to the nearest integer, ties to even. */
static uint32_t round_half_even_small(float a)
{
	return (uint32_t)((a + 0x1.8p23f) - 0x1.8p23f);
}

uint16_t numerics_float_to_f16(float f)
{
	uint32_t bits = numerics_float_bits(f);
	uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
	float a = fabsf(f);
	if (isnan(f))
		return sign | 0x7e00;
	if (a < 0x1p-14f)              /* subnormal: units of 2^-24 */
		return sign | (uint16_t)round_half_even_small(a * 0x1p24f);
	uint32_t abits = numerics_float_bits(a);
	if (abits >= 0x47800000u)      /* >= 2^16: infinity (or was infinity) */
		return sign | 0x7c00;
	abits += 0xfff + ((abits >> 13) & 1);
	uint32_t code = (abits >> 13) - ((127u - 15u) << 10);
	if (code >= 0x7c00)
		code = 0x7c00;
	return sign | (uint16_t)code;
}

uint8_t numerics_float_to_e4m3(float f)
{
	uint32_t bits = numerics_float_bits(f);
	uint8_t sign = (uint8_t)((bits >> 24) & 0x80);
	float a = fabsf(f);
	if (isnan(f))
		return 0x7f;
	if (a >= E4M3_MAX)
		return sign | 0x7e;
	if (a < 0x1p-6f)               /* subnormal: units of 2^-9; 8 is the smallest normal */
		return sign | (uint8_t)round_half_even_small(a * 0x1p9f);
	uint32_t abits = numerics_float_bits(a);
	abits += 0x7ffff + ((abits >> 20) & 1);
	return sign | (uint8_t)((abits >> 20) - ((127u - 7u) << 3));
}

size_t numerics_argmax(const float *x, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}
