/*
 * bench_linear.c - memory bandwidth of cpu_linear_forward per stored format.
 *   bench_linear [OUT IN TOKENS THREADS]   (defaults 14336 4096 1 all)
 * Built by `make bench` (a build configured without sanitizers, for figures that mean
 * something).
 */
#include <stdio.h>

#include "clock.h"
#include "cpu_linear.h"
#include "synthetic_model.h"

int main(int argc, char **argv)
{
	int out = argc > 1 ? atoi(argv[1]) : 14336, in = argc > 2 ? atoi(argv[2]) : 4096;
	int tokens = argc > 3 ? atoi(argv[3]) : 1, threads = argc > 4 ? atoi(argv[4]) : 2;
	struct { const char *name; enum tensor_dtype dt; enum activation_quant a; size_t bytes; } f[] = {
		{"BF16", DTYPE_BF16, ACTIVATION_NONE, 2}, {"FP8 dynamic", DTYPE_F8_E4M3, ACTIVATION_FP8_DYNAMIC, 1},
		{"INT8 dynamic", DTYPE_I8, ACTIVATION_INT8_DYNAMIC, 1},
	};
	char err[256];
	struct cpu_linear_workspace *ws;
	cpu_linear_workspace_create(in, tokens, threads, &ws, err, sizeof err);
	float *x = malloc(sizeof(float) * in * tokens), *y = malloc(sizeof(float) * out * tokens);
	for (int i = 0; i < in * tokens; i++)
		x[i] = (float)(i % 17) - 8.5f;
	for (size_t k = 0; k < 3; k++) {
		struct synthetic s;
		struct linear L;
		memset(&s, 0, sizeof s);
		s.rng = 1;
		synthetic_linear(&s, &L, out, in, f[k].dt, f[k].a, 1, 0);
		cpu_linear_forward(&L, x, tokens, y, ws);
		int reps = 5;
		double t0 = clock_monotonic_seconds();
		for (int r = 0; r < reps; r++)
			cpu_linear_forward(&L, x, tokens, y, ws);
		double dt = (clock_monotonic_seconds() - t0) / reps;
		printf("%-13s %dx%d, %d token(s), %d threads: %.2f ms, %.2f GB/s of weights, %.2f GFLOP/s\n", f[k].name, out, in,
		       tokens, threads, dt * 1e3, (double)out * in * f[k].bytes / dt / 1e9, 2.0 * out * in * tokens / dt / 1e9);
		synthetic_free(&s);
	}
	cpu_linear_workspace_free(ws);
	free(x);
	free(y);
	return 0;
}
