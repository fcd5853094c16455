/*
 * tp_compare.c - a model split over N ranks against the same model on one rank.
 *
 *   tp_compare [-r N,N...] MODEL_DIR TOLERANCE [MODEL_DIR TOLERANCE]...
 *
 * Runs a fixed 48-token text through the engine with one rank and with each N
 * (default 2 and 4):
 * per-token log-probabilities of the text (all logits of one prefill) within
 * TOLERANCE nats of one rank's; then a 24-token greedy continuation, token for
 * token, except where one rank's top two logits are within TOLERANCE (a near tie,
 * reported); the continuation decodes through engine_decode_greedy, which must
 * pick what the argmax of the logits picks.
 * $LLMCHAT_TEST_BACKEND=cuda runs on the GPU and $LLMCHAT_TEST_COMM picks the
 * split runs' communicator (nccl, p2p, one-gpu; default one-gpu; the one-rank
 * baseline has none, so "N = 1" with nccl runs NCCL with one rank against it):
 * tests/gpu/ uses it; make check runs it on the CPU ranks.  $LLMCHAT_TEST_KV sets
 * the KV cache (f32 by default; bf16, fp8).  $LLMCHAT_TEST_BASELINE=cpu runs the
 * one-rank baseline on the CPU (GPU runs at 1, 2... ranks against the CPU).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "model.h"
#include "logits.h"
#include "tap.h"

#define TEXT 48
#define CONTINUATION 24

/* The baseline is one rank with the default communicator (none). */
static struct engine_options test_options(int ranks, bool baseline)
{
	struct engine_options o = {.backend = ENGINE_BACKEND_CPU, .context_length = TEXT + CONTINUATION + 8};
	const char *backend = getenv("LLMCHAT_TEST_BACKEND"), *comm = getenv("LLMCHAT_TEST_COMM");
	const char *baseline_backend = getenv("LLMCHAT_TEST_BASELINE");
	if (backend && strcmp(backend, "cuda") == 0)
		o.backend = ENGINE_BACKEND_CUDA;
	if (baseline && baseline_backend && strcmp(baseline_backend, "cpu") == 0)
		o.backend = ENGINE_BACKEND_CPU;
	o.ranks = ranks;
	o.comm = COMM_AUTO;
	if (!baseline)
		o.comm = comm && strcmp(comm, "nccl") == 0  ? COMM_NCCL
			 : comm && strcmp(comm, "p2p") == 0 ? COMM_P2P
							     : COMM_ONE_GPU;
	o.kv_cache = ENGINE_KV_F32;
	const char *kv = getenv("LLMCHAT_TEST_KV");
	if (kv && strcmp(kv, "bf16") == 0)
		o.kv_cache = ENGINE_KV_BF16;
	else if (kv && strcmp(kv, "fp8") == 0)
		o.kv_cache = ENGINE_KV_FP8;
	return o;
}

/* The gap between the largest and the second largest logit. */
static double top_margin(const float *logits, int vocab)
{
	int best = (int)numerics_argmax(logits, (size_t)vocab);
	double second = -INFINITY;
	for (int i = 0; i < vocab; i++)
		if (i != best && logits[i] > second)
			second = logits[i];
	return logits[best] - second;
}

/* One run: log-probs of the text (TEXT - 1 values), the greedy continuation by
 * logits, its margins, and whether engine_decode_greedy agreed at every step. */
struct run {
	double logprobs[TEXT - 1];
	int32_t greedy[CONTINUATION];
	double margin[CONTINUATION];
	bool decode_greedy_agrees;
};

static int run_model(const struct model *model, int ranks, bool baseline, const int32_t *text, struct run *out,
		     char *err, size_t err_size)
{
	const int vocab = model->config.vocab_size;
	struct engine_options options = test_options(ranks, baseline);
	struct engine *engine = NULL;
	float *logits = malloc((size_t)TEXT * vocab * sizeof *logits);
	int rc = -1;
	if (!logits) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (engine_create(model, &options, &engine, err, err_size) != 0)
		goto done;
	if (engine_forward(engine, text, TEXT, logits, true, err, err_size) != 0)
		goto done;
	for (int i = 0; i + 1 < TEXT; i++)
		out->logprobs[i] = log_prob(logits + (size_t)i * vocab, vocab, text[i + 1]);
	/* greedy by logits (the last token's logits are row TEXT - 1) */
	memmove(logits, logits + (size_t)(TEXT - 1) * vocab, (size_t)vocab * sizeof *logits);
	for (int step = 0; step < CONTINUATION; step++) {
		out->greedy[step] = (int32_t)numerics_argmax(logits, (size_t)vocab);
		out->margin[step] = top_margin(logits, vocab);
		if (step + 1 < CONTINUATION &&
		    engine_forward(engine, &out->greedy[step], 1, logits, false, err, err_size) != 0)
			goto done;
	}
	/* the same continuation through engine_decode_greedy, after a rewind */
	out->decode_greedy_agrees = true;
	engine_rewind(engine, TEXT);
	for (int step = 0; step + 1 < CONTINUATION; step++) {
		int32_t next = -1;
		if (engine_decode_greedy(engine, out->greedy[step], &next, err, err_size) != 0)
			goto done;
		if (next != out->greedy[step + 1] && out->margin[step + 1] > 1e-6)
			out->decode_greedy_agrees = false;
	}
	rc = 0;
done:
	engine_free(engine);
	free(logits);
	return rc;
}

static void compare(const char *name, int ranks, const struct run *one, const struct run *split, double tolerance)
{
	double worst = 0;
	int worst_at = 0;
	for (int i = 0; i + 1 < TEXT; i++) {
		double d = fabs(one->logprobs[i] - split->logprobs[i]);
		if (!(d <= worst)) {
			worst = d;
			worst_at = i;
		}
	}
	tap_ok(worst <= tolerance, "%s: %d ranks: log-probs of %d tokens within %g nats of one rank's (max %.2e at %d)",
	       name, ranks, TEXT - 1, tolerance, worst, worst_at);
	int ties = 0;
	bool same = true;
	for (int step = 0; step < CONTINUATION && same; step++) {
		if (split->greedy[step] == one->greedy[step])
			continue;
		if (one->margin[step] <= tolerance) {
			ties++;
			tap_diag("%s: %d ranks: near tie at step %d (%d vs %d, margin %.2e): the rest is not compared", name,
				 ranks, step, split->greedy[step], one->greedy[step], one->margin[step]);
			break;
		}
		tap_diag("%s: %d ranks: step %d gives %d, one rank %d (margin %.3f)", name, ranks, step,
			 split->greedy[step], one->greedy[step], one->margin[step]);
		same = false;
	}
	tap_ok(same, "%s: %d ranks: greedy continuation of %d tokens equals one rank's%s", name, ranks, CONTINUATION,
	       ties ? " (up to a near tie)" : "");
	tap_ok(split->decode_greedy_agrees, "%s: %d ranks: engine_decode_greedy picks the logits' argmax", name, ranks);
}

/* One model against one rank at each count of ranks. */
static void check_model(const char *dir, double tolerance, const int *counts, int count_n)
{
	char err[512];
	struct model *model = NULL;
	if (!tap_ok(model_open(dir, &model, err, sizeof err) == 0, "%s: model opens", dir)) {
		tap_diag("%s", err);
		return;
	}
	int32_t text[TEXT];
	int vocab = model->config.vocab_size;
	for (int i = 0; i < TEXT; i++) /* a fixed text of ordinary tokens */
		text[i] = (int32_t)((i * 7919u + 101) % (unsigned)(vocab < 2048 ? vocab : 2048));
	struct run *one = calloc(1, sizeof *one), *split = calloc(1, sizeof *split);
	int rc = one && split ? run_model(model, 1, true, text, one, err, sizeof err) : -1;
	if (tap_ok(rc == 0 && one->decode_greedy_agrees, "%s: one rank runs, engine_decode_greedy picks the argmax", dir)) {
		for (int i = 0; i < count_n; i++) {
			rc = run_model(model, counts[i], false, text, split, err, sizeof err);
			if (tap_ok(rc == 0, "%s: %d ranks run%s%s", dir, counts[i], rc ? ": " : "", rc ? err : ""))
				compare(dir, counts[i], one, split, tolerance);
		}
	} else {
		tap_diag("%s", err);
	}
	free(one);
	free(split);
	model_close(model);
}

int main(int argc, char **argv)
{
	int counts[8], count_n = 0, first = 1;
	if (argc > 2 && strcmp(argv[1], "-r") == 0) {
		for (char *p = argv[2]; *p && count_n < 8; p += strcspn(p, ","), p += *p == ',')
			counts[count_n++] = atoi(p);
		first = 3;
	} else {
		counts[count_n++] = 2;
		counts[count_n++] = 4;
	}
	if (argc - first < 2 || (argc - first) % 2) {
		fprintf(stderr, "usage: tp_compare [-r N,N...] MODEL_DIR TOLERANCE [MODEL_DIR TOLERANCE]...\n");
		return 2;
	}
	for (int a = first; a + 1 < argc; a += 2)
		check_model(argv[a], atof(argv[a + 1]), counts, count_n);
	return tap_done();
}
