/*
 * verify_rows.c - how far speculative decoding's pass over several tokens is from the
 * one-token step on the GPU, at real shapes with dummy weights (issue 21: greedy
 * answers are the same only where the rows are the same bits).
 *
 *   verify_rows CONFIG [PRODUCTS]   (needs a GPU; tests/gpu/run.sh builds it; PRODUCTS,
 *                                    default, cuda-cores, tensor or tensor-f16, says where
 *                                    the 8-bit GEMVs add: engine_test_hooks.gemv_products)
 *
 * Prefills 16 tokens, decodes 24 with the one-token step (the CUDA graph), then for
 * n = 2 to 9 runs the same tokens n at a time through engine_forward with every
 * row's logits, as the sampled speculative step does (chat_decode.c), and prints for each n the
 * rows that are the same bits, the largest difference relative to the row's largest
 * logit, the rows whose argmax differs, and the rows where engine_forward_argmax
 * (greedy verification's pass) picks another token than the step's argmax.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "model.h"

#define PROMPT 16
#define STEPS 24

static int32_t argmax(const float *row, int vocab)
{
	int32_t best = 0;
	for (int i = 1; i < vocab; i++)
		if (row[i] > row[best])
			best = i;
	return best;
}

/* The one-token steps: tokens[0] runs at PROMPT, ...; step_rows[s] follows tokens[s]. */
static int one_token_steps(struct engine *e, int vocab, const float *prompt_row, int32_t *tokens, float *step_rows,
			   char *err, size_t err_size)
{
	tokens[0] = argmax(prompt_row, vocab);
	for (int s = 0; s < STEPS; s++) {
		float *row = step_rows + (size_t)s * vocab;
		if (engine_forward(e, &tokens[s], 1, row, false, err, err_size) != 0)
			return -1;
		if (s + 1 < STEPS)
			tokens[s + 1] = argmax(row, vocab);
	}
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];
	struct model *m;
	struct engine *e;
	struct engine_options o = {.backend = ENGINE_BACKEND_CUDA, .context_length = 4096};
	const char *products = argc == 3 ? argv[2] : "default";
	if (engine_gemv_products_from_name(products, &o.test_hooks.gemv_products) != 0)
		argc = 0;
	if (argc < 2 || argc > 3 || model_open_dummy(argv[1], &m, err, sizeof err) != 0) {
		fprintf(stderr, "verify_rows: %s\n",
			argc >= 2 && argc <= 3 ? err
					       : "usage: verify_rows CONFIG [default | cuda-cores | tensor | tensor-f16]");
		return 1;
	}
	if (engine_create(m, &o, &e, err, sizeof err) != 0) {
		fprintf(stderr, "verify_rows: %s\n", err);
		return 1;
	}
	const int vocab = m->config.vocab_size;
	int32_t prompt[PROMPT], tokens[STEPS];
	for (int i = 0; i < PROMPT; i++)
		prompt[i] = (i * 911 + 7) % vocab;
	float *prompt_row = malloc((size_t)vocab * sizeof(float));
	float *step_rows = malloc((size_t)STEPS * vocab * sizeof(float));
	float *rows = malloc((size_t)9 * vocab * sizeof(float));
	int rc = engine_forward(e, prompt, PROMPT, prompt_row, false, err, sizeof err);
	if (rc == 0)
		rc = one_token_steps(e, vocab, prompt_row, tokens, step_rows, err, sizeof err);
	for (int n = 2; rc == 0 && n <= 9; n++) {
		int same = 0, argmax_differs = 0, device_differs = 0, compared = 0;
		double worst = 0;
		for (int s = 0; rc == 0 && s + n <= STEPS; s += n) {
			engine_rewind(e, PROMPT + s);
			rc = engine_forward(e, tokens + s, (size_t)n, rows, true, err, sizeof err);
			for (int i = 0; rc == 0 && i < n; i++) {
				const float *a = rows + (size_t)i * vocab, *b = step_rows + (size_t)(s + i) * vocab;
				double scale = 0, diff = 0;
				for (int v = 0; v < vocab; v++) {
					scale = fmax(scale, fabs(b[v]));
					diff = fmax(diff, fabs((double)a[v] - b[v]));
				}
				compared++;
				same += memcmp(a, b, (size_t)vocab * sizeof *a) == 0;
				argmax_differs += argmax(a, vocab) != argmax(b, vocab);
				worst = fmax(worst, scale > 0 ? diff / scale : diff);
			}
			/* greedy verification: each row's argmax on the device */
			int32_t best[9];
			engine_rewind(e, PROMPT + s);
			if (rc == 0)
				rc = engine_forward_argmax(e, tokens + s, (size_t)n, best, err, sizeof err);
			for (int i = 0; rc == 0 && i < n; i++)
				device_differs += best[i] != argmax(step_rows + (size_t)(s + i) * vocab, vocab);
		}
		if (rc == 0)
			printf("%s: %d tokens a pass: %d of %d rows the same bits, largest difference %.2e of the row's "
			       "largest logit, argmax differs in %d; engine_forward_argmax differs in %d\n", m->name, n,
			       same, compared, worst, argmax_differs, device_differs);
	}
	if (rc != 0)
		fprintf(stderr, "verify_rows: %s\n", err);
	free(prompt_row);
	free(step_rows);
	free(rows);
	engine_free(e);
	model_close(m);
	return rc != 0;
}
