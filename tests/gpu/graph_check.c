/*
 * graph_check.c - the decode step replayed as a CUDA graph equals the same step run
 * eagerly (engine.h's eager_decode hook, LLMCHAT_CUDA_GRAPH=0), on a model of real shapes with dummy weights.
 *
 *   graph_check CONFIG [segments | last-block | cuda-cores | tensor | tensor-f16]
 *   (tests/gpu/run.sh; needs a GPU)
 *
 * With "segments" the graph runs each layer after its attention as a persistent
 * segment (engine_test_hooks.decode_segments): other launches, the same bits.  With
 * "cuda-cores", "tensor" or "tensor-f16" both runs add the 8-bit GEMVs' products there
 * (engine_test_hooks.gemv_products).  With "last-block" the graph norms o_proj's and
 * down_proj's outputs and rounds dynamic inputs in the last blocks of the launches
 * before (engine_test_hooks.last_block_work), the eager run in launches of their own:
 * other launches, the same bits.
 *
 * Prefills 16 tokens, then decodes 40 tokens greedily with the graph, and feeds the
 * same 40 tokens through the eager path (random weights make near ties, so the
 * eager path is given the graph's tokens rather than its own argmax): the same
 * launches in the same order, so the logits must be the same bits.  Prints
 * "ok"/"not ok".
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "model.h"

#define STEPS 40

/* Decodes STEPS tokens: greedily when follow is NULL (writing them to tokens_out),
 * else feeding follow's tokens; with a CUDA graph, or eagerly when eager. */
static int decode(const struct model *m, bool eager, struct engine_test_hooks hooks, const int32_t *follow,
		  int32_t *tokens_out, float *logits_all)
{
	char err[512];
	struct engine *engine;
	hooks.eager_decode = eager;
	struct engine_options o = {.backend = ENGINE_BACKEND_CUDA, .context_length = 4096, .test_hooks = hooks};
	if (engine_create(m, &o, &engine, err, sizeof err) != 0) {
		printf("not ok - engine: %s\n", err);
		return -1;
	}
	int vocab = m->config.vocab_size;
	int32_t prompt[16];
	for (int i = 0; i < 16; i++)
		prompt[i] = (i * 911 + 7) % vocab;
	float *logits = logits_all;
	int rc = engine_forward(engine, prompt, 16, logits, false, err, sizeof err);
	for (int s = 0; rc == 0 && s < STEPS; s++) {
		const float *last = logits_all + (size_t)s * vocab;
		int32_t best = 0;
		for (int i = 1; i < vocab; i++)
			if (last[i] > last[best])
				best = i;
		if (follow)
			best = follow[s];
		tokens_out[s] = best;
		rc = engine_forward(engine, &best, 1, logits_all + (size_t)(s + 1) * vocab, false, err, sizeof err);
	}
	if (rc != 0)
		printf("not ok - decode: %s\n", err);
	engine_free(engine);
	return rc;
}

int main(int argc, char **argv)
{
	char err[512];
	struct model *m;
	const char *variant = argc == 3 ? argv[2] : "";
	struct engine_test_hooks graph_hooks = {0}, eager_hooks = {0};
	bool known = true;
	if (strcmp(variant, "segments") == 0)
		graph_hooks.decode_segments = true;
	else if (strcmp(variant, "last-block") == 0)
		graph_hooks.last_block_work = true;
	else if (variant[0] && engine_gemv_products_from_name(variant, &graph_hooks.gemv_products) == 0)
		eager_hooks.gemv_products = graph_hooks.gemv_products;
	else
		known = variant[0] == '\0';
	if (argc < 2 || argc > 3 || !known || model_open_dummy(argv[1], &m, err, sizeof err) != 0) {
		printf("not ok - dummy model: %s\n",
		       known && argc >= 2 && argc <= 3 ? err
						: "usage: graph_check CONFIG [segments | last-block | cuda-cores | "
						  "tensor | tensor-f16]");
		return 1;
	}
	size_t n = (size_t)(STEPS + 1) * m->config.vocab_size;
	float *graph_logits = malloc(n * sizeof(float)), *eager_logits = malloc(n * sizeof(float));
	int32_t graph_tokens[STEPS], eager_tokens[STEPS];
	int rc = decode(m, false, graph_hooks, NULL, graph_tokens, graph_logits);
	rc |= decode(m, true, eager_hooks, graph_tokens, eager_tokens, eager_logits);
	int failed = rc != 0;
	if (rc == 0) {
		double num = 0, den = 0;
		for (size_t i = 0; i < n; i++) {
			double d = (double)graph_logits[i] - eager_logits[i];
			num += d * d;
			den += (double)eager_logits[i] * eager_logits[i];
		}
		double rel = sqrt(num / den);
		printf("%s - CUDA graph decode%s%s vs eager, %d steps of %s: logits relative difference %.2e == 0\n",
		       rel == 0 ? "ok" : "not ok", variant[0] ? " " : "", variant, STEPS, m->name, rel);
		failed = rel != 0;
	}
	free(graph_logits);
	free(eager_logits);
	model_close(m);
	return failed;
}
