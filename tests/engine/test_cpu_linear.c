/*
 * test_cpu_linear.c - each stored format's linear layer against a float64
 * reference of the same quantization semantics (cpu_linear.h), on random inputs;
 * a zero input row gives zero; threads and batching change nothing.
 */
#include <math.h>
#include <stdio.h>

#include "cpu_linear.h"
#include "reference_linear.h"
#include "synthetic_model.h"
#include "tap.h"

#define OUT 37
#define IN 83     /* not a multiple of the 16 lanes: the tails run */
#define TOKENS 5

/* y = layer(x) in float64, following cpu_linear.h's definition; *bound receives
 * sum |x_q w| * scales, the size float32 rounding is relative to. */
static double ref_linear(const struct linear *L, const float *x, int64_t r, double *bound)
{
	int64_t n = L->in_features;
	double amax = 0, sum = 0, abs_sum = 0;
	for (int64_t i = 0; i < n; i++)
		amax = fmax(amax, fabs(x[i]));
	double s = ref_activation_scale(L, amax);
	for (int64_t i = 0; i < n; i++) {
		double product = ref_quantize(L, x[i], s) * ref_weight(L, r * n + i);
		sum += product;
		abs_sum += fabs(product);
	}
	double scale = ref_output_scale(L, s, r);
	*bound = abs_sum * fabs(scale);
	return sum * scale;
}

struct format_case {
	const char *name;
	enum tensor_dtype dtype;
	enum activation_quant activation;
	int per_row;
	float input_scale;
};

static void check_format(const struct format_case *fc, struct cpu_linear_workspace *ws1,
			 struct cpu_linear_workspace *ws2)
{
	struct synthetic s;
	struct linear L;
	float x[TOKENS * IN], y[TOKENS * OUT], y2[TOKENS * OUT], y_single[OUT];
	char err[256];

	memset(&s, 0, sizeof s);
	s.rng = 12345;
	synthetic_linear(&s, &L, OUT, IN, fc->dtype, fc->activation, fc->per_row, fc->input_scale);
	tap_ok(cpu_linear_check(&L, fc->name, err, sizeof err) == 0, "%s: layer accepted", fc->name);
	for (int i = 0; i < TOKENS * IN; i++)  /* tokens of different magnitudes */
		x[i] = (float)(synthetic_normal(&s) * (1 + i / IN));
	cpu_linear_forward(&L, x, TOKENS, y, ws1);

	double worst = 0;
	for (int t = 0; t < TOKENS; t++)
		for (int r = 0; r < OUT; r++) {
			double bound, want = ref_linear(&L, x + t * IN, r, &bound);
			double rel = fabs(y[t * OUT + r] - want) / (bound + 1e-30);
			worst = fmax(worst, rel);
		}
	tap_ok(worst < 1e-5, "%s: %d tokens x %d rows match the float64 reference (worst error %.2g of sum|x w|)",
	       fc->name, TOKENS, OUT, worst);

	cpu_linear_forward(&L, x, TOKENS, y2, ws2);
	cpu_linear_forward(&L, x + 3 * IN, 1, y_single, ws1);
	tap_ok(memcmp(y, y2, sizeof y) == 0 && memcmp(y + 3 * OUT, y_single, sizeof y_single) == 0,
	       "%s: 2 threads and a batch of 1 give the same bits", fc->name);

	/* the same weights one byte off alignment, as a safetensors file may hold them */
	size_t bytes = (size_t)OUT * IN * (fc->dtype == DTYPE_F32 ? 4 : fc->dtype == DTYPE_BF16 || fc->dtype == DTYPE_F16 ? 2 : 1);
	unsigned char *shifted = malloc(bytes + 1);
	memcpy(shifted + 1, L.weight, bytes);
	struct linear U = L;
	U.weight = shifted + 1;
	cpu_linear_forward(&U, x, TOKENS, y2, ws1);
	tap_ok(memcmp(y, y2, sizeof y) == 0, "%s: unaligned weights give the same bits", fc->name);
	free(shifted);

	float zeros[IN] = {0}, yz[OUT];
	cpu_linear_forward(&L, zeros, 1, yz, ws1);
	int zero_ok = 1;
	for (int r = 0; r < OUT; r++)
		zero_ok &= yz[r] == 0;
	tap_ok(zero_ok, "%s: an all-zero input gives exactly 0 (no NaN)", fc->name);
	synthetic_free(&s);
}

static void check_refusals(void)
{
	struct synthetic s;
	struct linear L;
	char err[256];
	memset(&s, 0, sizeof s);
	s.rng = 1;
	synthetic_linear(&s, &L, 4, 8, DTYPE_I8, ACTIVATION_INT8_DYNAMIC, 1, 0);
	L.weight_scale_count = 3;
	tap_ok(cpu_linear_check(&L, "model.layers.0.mlp.up_proj", err, sizeof err) != 0 &&
	       strstr(err, "up_proj") && strstr(err, "3"), "a wrong number of weight scales is refused by name: %s", err);
	L.weight_scale_count = 4;
	L.activation = ACTIVATION_FP8_STATIC;
	L.input_scale = 0.1f;
	tap_ok(cpu_linear_check(&L, "q", err, sizeof err) != 0, "FP8 activations with I8 weights are refused: %s", err);
	L.activation = ACTIVATION_INT8_STATIC;
	L.input_scale = 0;
	tap_ok(cpu_linear_check(&L, "q", err, sizeof err) != 0, "a static scheme without input_scale is refused: %s", err);
	synthetic_free(&s);
}

int main(void)
{
	static const struct format_case cases[] = {
		{"BF16", DTYPE_BF16, ACTIVATION_NONE, 0, 0},
		{"F16", DTYPE_F16, ACTIVATION_NONE, 0, 0},
		{"F32", DTYPE_F32, ACTIVATION_NONE, 0, 0},
		{"FP8 static, per-tensor weight scale", DTYPE_F8_E4M3, ACTIVATION_FP8_STATIC, 0, 3.0f / 448},
		{"FP8 static, per-row weight scales", DTYPE_F8_E4M3, ACTIVATION_FP8_STATIC, 1, 2.5f / 448},
		{"FP8 dynamic per token", DTYPE_F8_E4M3, ACTIVATION_FP8_DYNAMIC, 1, 0},
		{"FP8 weight-only", DTYPE_F8_E4M3, ACTIVATION_NONE, 1, 0},
		{"INT8 dynamic per token, per-row weight scales", DTYPE_I8, ACTIVATION_INT8_DYNAMIC, 1, 0},
		{"INT8 dynamic per token, per-tensor weight scale", DTYPE_I8, ACTIVATION_INT8_DYNAMIC, 0, 0},
		{"INT8 static", DTYPE_I8, ACTIVATION_INT8_STATIC, 1, 3.0f / 127},
	};
	struct cpu_linear_workspace *ws1, *ws2;
	char err[256];
	if (cpu_linear_workspace_create(IN, TOKENS, 1, &ws1, err, sizeof err) ||
	    cpu_linear_workspace_create(IN, TOKENS, 2, &ws2, err, sizeof err)) {
		tap_ok(0, "workspace: %s", err);
		return tap_done();
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_format(&cases[i], ws1, ws2);
	check_refusals();

	/* the activation scale of each dynamic scheme */
	struct linear L = {0};
	float x[3] = {0.5f, -254.0f, 3.0f};
	L.activation = ACTIVATION_INT8_DYNAMIC;
	tap_ok(cpu_linear_activation_scale(&L, x, 3) == 2.0f, "INT8 dynamic scale is max|x| / 127");
	L.activation = ACTIVATION_FP8_DYNAMIC;
	tap_ok(cpu_linear_activation_scale(&L, x, 3) == 254.0f / 448, "FP8 dynamic scale is max|x| / 448");
	cpu_linear_workspace_free(ws1);
	cpu_linear_workspace_free(ws2);
	return tap_done();
}
