/*
 * bench_sampler.c - the host sampler's time per draw over Llama 3's vocabulary
 * (128256 logits), from flat logits to peaked ones.
 *   bench_sampler [DRAWS]   (default 20)
 * Logits are normal with standard deviation SD; at temperature 0.6 and top-p 0.9
 * (Llama 3.1's generation_config) a small SD is the flat case, where top-p keeps
 * most of the vocabulary and sorts it; top-k 40 and min-p 0.05 are shown beside.
 * This sampler draws every token of --cpu, of several GPUs (--gpus), of
 * LLMCHAT_GPU_SAMPLING=0 and of sampled speculation's checks.  Built by `make bench`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sampler.h"

#define VOCAB 128256

/* Normal logits of standard deviation sd, the same for a seed. */
static void normal_logits(float *logits, float sd, unsigned seed)
{
	srand(seed);
	for (int i = 0; i < VOCAB; i++) {
		double u1 = (rand() + 1.0) / ((double)RAND_MAX + 2), u2 = (rand() + 1.0) / ((double)RAND_MAX + 2);
		logits[i] = (float)(sd * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
	}
}

int main(int argc, char **argv)
{
	const int draws = argc > 1 ? atoi(argv[1]) : 20;
	const float sds[] = {0.1f, 0.5f, 1, 2, 5};
	const struct { const char *label; struct sampler_settings set; } ways[] = {
		{"temp 0.6, top-p 0.9", {0.6f, 0.9f, 0, 1, 0, 1}},
		{"temp 0.6, top-k 40", {0.6f, 1, 0, 1, 40, 1}},
		{"temp 0.6, min-p 0.05", {0.6f, 1, 0.05f, 1, 0, 1}},
	};
	float *logits = malloc(VOCAB * sizeof *logits), *work = malloc(VOCAB * sizeof *work);
	if (!logits || !work || draws < 1) {
		fprintf(stderr, "bench_sampler: %s\n", draws < 1 ? "usage: bench_sampler [DRAWS]" : "out of memory");
		return 1;
	}
	printf("ms per draw over %d logits (%d draws each)\n%-22s", VOCAB, draws, "logits' SD:");
	for (size_t k = 0; k < sizeof sds / sizeof sds[0]; k++)
		printf(" %8.1f", sds[k]);
	printf("\n");
	for (size_t w = 0; w < sizeof ways / sizeof ways[0]; w++) {
		char err[256];
		struct sampler *s;
		if (sampler_create(VOCAB, &ways[w].set, &s, err, sizeof err) != 0) {
			fprintf(stderr, "bench_sampler: %s\n", err);
			return 1;
		}
		printf("%-22s", ways[w].label);
		for (size_t k = 0; k < sizeof sds / sizeof sds[0]; k++) {
			normal_logits(logits, sds[k], 1);
			double t0 = clock_monotonic_seconds();
			for (int d = 0; d < draws; d++) {
				memcpy(work, logits, VOCAB * sizeof *work);
				sampler_sample(s, work, NULL, 0);
			}
			printf(" %8.2f", (clock_monotonic_seconds() - t0) / draws * 1e3);
		}
		printf("\n");
		sampler_free(s);
	}
	free(logits);
	free(work);
	return 0;
}
