/*
 * test_numerics.c - the stored number formats convert exactly: every e4m3 and f16
 * code decodes to its value, every bf16 round-trips, encoders round to nearest
 * with ties to even, saturate where they should, and handle subnormals.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "numerics.h"
#include "tap.h"

/* e4m3fn by its definition: bias 7, no infinities, S.1111.111 is NaN. */
static double e4m3_reference(int code)
{
	int sign = code >> 7, exponent = (code >> 3) & 15, mantissa = code & 7;
	double v;
	if (exponent == 15 && mantissa == 7)
		return NAN;
	if (exponent == 0)
		v = ldexp(mantissa, -9);
	else
		v = ldexp(8 + mantissa, exponent - 7 - 3);
	return sign ? -v : v;
}

static double f16_reference(int code)
{
	int sign = code >> 15, exponent = (code >> 10) & 31, mantissa = code & 1023;
	double v;
	if (exponent == 31)
		v = mantissa ? NAN : INFINITY;
	else if (exponent == 0)
		v = ldexp(mantissa, -24);
	else
		v = ldexp(1024 + mantissa, exponent - 15 - 10);
	return sign ? -v : v;
}

static int same(double a, double b)
{
	return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

/* The nearest e4m3 code to x by brute force (ties to the even code), saturating. */
static int e4m3_nearest(float x)
{
	double best_err = INFINITY;
	int best = 0;
	double a = fabs(x);
	if (a >= 448)
		return (x < 0 ? 0x80 : 0) | 0x7e;
	for (int c = 0; c <= 0x7e; c++) {
		double err = fabs(e4m3_reference(c) - a);
		if (err < best_err || (err == best_err && (c & 1) == 0)) {
			best_err = err;
			best = c;
		}
	}
	return (signbit(x) ? 0x80 : 0) | best;
}

static void test_e4m3(void)
{
	int decode_ok = 1, finite_ok = 1, roundtrip_ok = 1;
	for (int c = 0; c < 256; c++) {
		double want = e4m3_reference(c);
		if (!same(numerics_e4m3_to_float((uint8_t)c), want)) {
			decode_ok = 0;
			tap_diag("e4m3 0x%02x decodes to %g, want %g", c, numerics_e4m3_to_float((uint8_t)c), want);
		}
		if (!isnan(want) && !same(numerics_e4m3_to_float_finite((uint8_t)c), want))
			finite_ok = 0;
		if (!isnan(want) && numerics_float_to_e4m3((float)want) != c)
			roundtrip_ok = 0;
	}
	tap_ok(decode_ok, "e4m3: all 256 codes decode to their value (NaN at 0x7f and 0xff)");
	tap_ok(finite_ok, "e4m3: the vectorisable decoder agrees on all 254 finite codes");
	tap_ok(roundtrip_ok, "e4m3: every finite value encodes back to its own code (signed zeros too)");
	tap_ok(numerics_e4m3_to_float(0x7e) == 448 && numerics_e4m3_to_float(0x01) == 0x1p-9f &&
	       numerics_e4m3_to_float(0x08) == 0x1p-6f, "e4m3: max 448, smallest subnormal 2^-9, smallest normal 2^-6");

	int ties_ok = 1;
	for (int c = 0; c < 0x7e; c++) {
		float lo = (float)e4m3_reference(c), hi = (float)e4m3_reference(c + 1);
		float mid = (lo + hi) / 2; /* exact: e4m3 has 3 mantissa bits */
		int even = (c & 1) ? c + 1 : c;
		if (numerics_float_to_e4m3(mid) != even || numerics_float_to_e4m3(-mid) != (0x80 | even) ||
		    numerics_float_to_e4m3(nextafterf(mid, 0)) != c ||
		    numerics_float_to_e4m3(nextafterf(mid, 1000)) != c + 1) {
			ties_ok = 0;
			tap_diag("e4m3 midpoint %g between 0x%02x and 0x%02x -> 0x%02x", mid, c, c + 1,
				 numerics_float_to_e4m3(mid));
		}
	}
	tap_ok(ties_ok, "e4m3: midpoints of all adjacent pairs round to the even code, neighbours to the nearest");
	tap_ok(numerics_float_to_e4m3(0x1p-10f) == 0 && numerics_float_to_e4m3(3 * 0x1p-10f) == 2 &&
	       numerics_float_to_e4m3(5 * 0x1p-10f) == 2 && numerics_float_to_e4m3(15 * 0x1p-10f) == 8 &&
	       numerics_float_to_e4m3(1e-30f) == 0 && numerics_float_to_e4m3(-1e-30f) == 0x80,
	       "e4m3: subnormals round half to even, tiny values to signed zero, the top subnormal to 2^-6");
	tap_ok(numerics_float_to_e4m3(449) == 0x7e && numerics_float_to_e4m3(464) == 0x7e &&
	       numerics_float_to_e4m3(1e30f) == 0x7e && numerics_float_to_e4m3(INFINITY) == 0x7e &&
	       numerics_float_to_e4m3(-INFINITY) == 0xfe && numerics_float_to_e4m3(NAN) == 0x7f,
	       "e4m3: saturates to +-448 (no infinity in e4m3fn), NaN encodes as 0x7f");

	srand(7);
	int random_ok = 1;
	for (int i = 0; i < 20000 && random_ok; i++) {
		float x = (float)ldexp((double)rand() / RAND_MAX - 0.5, rand() % 24 - 12);
		if (numerics_float_to_e4m3(x) != e4m3_nearest(x)) {
			random_ok = 0;
			tap_diag("e4m3(%a) = 0x%02x, nearest is 0x%02x", x, numerics_float_to_e4m3(x), e4m3_nearest(x));
		}
	}
	tap_ok(random_ok, "e4m3: 20000 random floats encode to the nearest code (brute force)");
}

static void test_bf16(void)
{
	int roundtrip_ok = 1;
	for (int c = 0; c < 65536; c++) {
		float f = numerics_bf16_to_float((uint16_t)c);
		if (!isnan(f) && numerics_float_to_bf16(f) != c)
			roundtrip_ok = 0;
		if (isnan(f) && !isnan(numerics_bf16_to_float(numerics_float_to_bf16(f))))
			roundtrip_ok = 0;
	}
	tap_ok(roundtrip_ok, "bf16: all 65536 codes round-trip (NaN stays NaN)");
	tap_ok(numerics_bf16_to_float(0x3f80) == 1.0f && numerics_bf16_to_float(0xc000) == -2.0f &&
	       numerics_bf16_to_float(0x0001) == 0x1p-133f, "bf16: decodes 1, -2 and the smallest subnormal");
	tap_ok(numerics_float_to_bf16(1 + 0x1p-8f) == 0x3f80 && numerics_float_to_bf16(1 + 3 * 0x1p-8f) == 0x3f82 &&
	       numerics_float_to_bf16(1 + 0x1p-8f + 0x1p-20f) == 0x3f81 &&
	       numerics_float_to_bf16(-(1 + 0x1p-8f)) == 0xbf80,
	       "bf16: ties go to even, above a tie rounds up, sign kept");
	tap_ok(numerics_float_to_bf16(3.4e38f) == 0x7f80 && numerics_float_to_bf16(INFINITY) == 0x7f80,
	       "bf16: overflow rounds to infinity");
}

static void test_f16(void)
{
	int decode_ok = 1, roundtrip_ok = 1, finite_ok = 1;
	for (int c = 0; c < 65536; c++) {
		double want = f16_reference(c);
		float got = numerics_f16_to_float((uint16_t)c);
		if (!same(got, want))
			decode_ok = 0;
		if (isfinite(want) && !same(numerics_f16_to_float_finite((uint16_t)c), want))
			finite_ok = 0;
		if (!isnan(want) && numerics_float_to_f16((float)want) != c)
			roundtrip_ok = 0;
	}
	tap_ok(decode_ok, "f16: all 65536 codes decode to their value (inf, NaN, subnormals)");
	tap_ok(finite_ok, "f16: the vectorisable decoder agrees on every finite code");
	tap_ok(roundtrip_ok, "f16: every non-NaN code round-trips");
	tap_ok(numerics_float_to_f16(1 + 0x1p-11f) == 0x3c00 && numerics_float_to_f16(1 + 3 * 0x1p-11f) == 0x3c02 &&
	       numerics_float_to_f16(0x1p-25f) == 0 && numerics_float_to_f16(3 * 0x1p-25f) == 2 &&
	       numerics_float_to_f16(65519) == 0x7bff && numerics_float_to_f16(65520) == 0x7c00,
	       "f16: ties to even (normal and subnormal), 65520 overflows to infinity");
}

static void test_int8(void)
{
	tap_ok(numerics_float_to_int8(0.5f) == 0 && numerics_float_to_int8(1.5f) == 2 &&
	       numerics_float_to_int8(2.5f) == 2 && numerics_float_to_int8(-0.5f) == 0 &&
	       numerics_float_to_int8(-1.5f) == -2 && numerics_float_to_int8(-2.5f) == -2 &&
	       numerics_float_to_int8(126.5f) == 126 && numerics_float_to_int8(0.49999997f) == 0,
	       "int8: rounds half to even");
	tap_ok(numerics_float_to_int8(127.4f) == 127 && numerics_float_to_int8(127.5f) == 127 &&
	       numerics_float_to_int8(1e9f) == 127 && numerics_float_to_int8(-128.5f) == -128 &&
	       numerics_float_to_int8(-1e9f) == -128 && numerics_float_to_int8(INFINITY) == 127 &&
	       numerics_float_to_int8(-INFINITY) == -128 && numerics_float_to_int8(NAN) == 0,
	       "int8: saturates to [-128, 127]; NaN gives 0");
	int all_ok = 1;
	for (int i = -1300; i <= 1300; i++) {
		float x = i / 10.0f;
		double r = nearbyint(x);
		r = r > 127 ? 127 : r < -128 ? -128 : r;
		if (numerics_float_to_int8(x) != (int)r)
			all_ok = 0;
	}
	tap_ok(all_ok, "int8: agrees with nearbyint + clamp from -130 to 130 in steps of 0.1");
}

static void test_argmax(void)
{
	const float tie[] = {1.0f, 3.0f, 2.0f, 3.0f};
	tap_ok(numerics_argmax(tie, 4) == 1, "argmax: the lowest index among equal largest values");
	tap_ok(numerics_argmax(tie, 1) == 0, "argmax: one value is its own argmax");
	const float nan_later[] = {1.0f, NAN, 2.0f}, nan_first[] = {NAN, 5.0f, 6.0f};
	tap_ok(numerics_argmax(nan_later, 3) == 2, "argmax: a NaN after index 0 is passed over");
	tap_ok(numerics_argmax(nan_first, 3) == 0, "argmax: a NaN at index 0 is kept (no comparison with it is true)");
	const float negative[] = {-INFINITY, -2.0f, -1.0f, -1.0f};
	tap_ok(numerics_argmax(negative, 4) == 2, "argmax: negative values and -infinity");
}

int main(void)
{
	test_e4m3();
	test_bf16();
	test_f16();
	test_int8();
	test_argmax();
	return tap_done();
}
