/*
 * numerics.h - the number formats of stored weights and of 8-bit activations,
 * converted exactly.
 *
 * BF16, F16 and FP8 e4m3fn decode to float without rounding (every value of
 * those formats is a float).  Encoding rounds to nearest, ties to even, as the
 * GPUs' conversion instructions (and torch's .to()) do.  e4m3fn ("fn": finite,
 * no infinities) has one NaN pattern per sign (0x7f, 0xff), largest finite value
 * 448, smallest subnormal 2^-9; out-of-range floats saturate to +-448 in
 * numerics_float_to_e4m3, which is how vLLM's quantizers use it (they clamp
 * first, so saturation and overflow-to-NaN never differ for them).  And the argmax
 * over logits that the sampler and the engine's greedy step share.
 */
#ifndef LLMCHAT_NUMERICS_H
#define LLMCHAT_NUMERICS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define E4M3_MAX 448.0f

/* Bit casts (memcpy compiles to a register move). */
static inline float numerics_float_from_bits(uint32_t bits)
{
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

static inline uint32_t numerics_float_bits(float f)
{
	uint32_t bits;
	memcpy(&bits, &f, sizeof bits);
	return bits;
}

/* Element i of a stored 16- or 32-bit array that may be unaligned: safetensors
 * aligns tensor data only as the writer padded it, and reading it through a
 * uint16_t pointer would be undefined.  memcpy compiles to one (unaligned) load. */
static inline uint16_t numerics_load_u16(const void *base, size_t i)
{
	uint16_t v;
	memcpy(&v, (const unsigned char *)base + 2 * i, sizeof v);
	return v;
}

static inline float numerics_load_f32(const void *base, size_t i)
{
	float v;
	memcpy(&v, (const unsigned char *)base + 4 * i, sizeof v);
	return v;
}

/* bf16 is the top half of a float. */
static inline float numerics_bf16_to_float(uint16_t h)
{
	return numerics_float_from_bits((uint32_t)h << 16);
}

/* f16 and e4m3 decode with one trick, exact for every finite value, normal or
 * subnormal: place exponent and mantissa bits at the float's positions (the
 * result is the value times 2^-(127-bias)), then multiply by 2^(127-bias), which
 * is exact.  Inf/NaN codes do not survive it: numerics_f16_to_float and
 * numerics_e4m3_to_float handle them; the _finite forms are for the inner loops
 * over weights, which hold no such codes. */
static inline float numerics_f16_to_float_finite(uint16_t h)
{
	float magnitude = numerics_float_from_bits((uint32_t)(h & 0x7fff) << 13) * 0x1p112f;
	return numerics_float_from_bits(numerics_float_bits(magnitude) | ((uint32_t)(h & 0x8000) << 16));
}

static inline float numerics_e4m3_to_float_finite(uint8_t b)
{
	float magnitude = numerics_float_from_bits((uint32_t)(b & 0x7f) << 20) * 0x1p120f;
	return numerics_float_from_bits(numerics_float_bits(magnitude) | ((uint32_t)(b & 0x80) << 24));
}

/* Full decoders: NaN codes give NaN, f16 infinities give infinity. */
float numerics_f16_to_float(uint16_t h);
float numerics_e4m3_to_float(uint8_t b);

/* Round to nearest even; NaN stays NaN (quiet), overflow gives infinity. */
uint16_t numerics_float_to_bf16(float f);
uint16_t numerics_float_to_f16(float f);

/* Round to nearest even, saturating to +-448; NaN gives 0x7f. */
uint8_t numerics_float_to_e4m3(float f);

/* The value numerics_float_to_e4m3 encodes, as a float (what the FP8 product
 * multiplies). */
static inline float numerics_round_e4m3(float f);

/* Round half to even to an integer, then clamp to [-128, 127] (PTX
 * cvt.rni.sat.s8.f32, as vLLM's int8 quantizers use). */
static inline int8_t numerics_float_to_int8(float f)
{
	/* Adding 1.5 * 2^23 leaves no fraction bits, so the float addition itself
	 * rounds to an integer, to nearest even (C's default rounding mode). */
	if (!(f > -128.5f))
		return f != f ? 0 : -128;
	if (f >= 127.5f)
		return 127;
	return (int8_t)(int)((f + 0x1.8p23f) - 0x1.8p23f);
}

/* The index of the largest of x[0..n) (n >= 1), the lowest one among equals: greedy
 * decoding's choice.  No comparison with a NaN is true, so a NaN at index 0 is kept
 * and one elsewhere passed over; callers that must not pick a NaN check first. */
size_t numerics_argmax(const float *x, size_t n);

static inline float numerics_round_e4m3(float f)
{
	return numerics_e4m3_to_float(numerics_float_to_e4m3(f));
}

#endif
