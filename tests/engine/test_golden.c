/*
 * test_golden.c - the engine on real model folders against golden numbers from
 * Hugging Face transformers.
 *
 *   test_golden [--kv-cache TYPE=TOLERANCE]... MODEL_DIR GOLDEN_JSON [MODEL_DIR GOLDEN_JSON]...
 *
 * runs every folder once per --kv-cache (bf16, fp8, f32), held to that
 * tolerance; without one, once with a float32 cache (the references' own).
 *
 * A golden file holds {"text_ids": [...], "logprobs": [...],
 * "greedy": [{"prompt_ids": [...], "continuation_ids": [...]}]}: logprobs[i] is
 * log p(text_ids[i+1] | text_ids[0..i]) (n-1 values; a file with n values, the
 * first for the first token, has that one ignored).  Checks:
 *   - every log-prob within TOLERANCE nats (default 1e-3; $GOLDEN_TOLERANCE):
 *     the references (tests/models/train_tiny_models.py) are float32 with the
 *     8-bit products emulated in float64, and agree with the engine to ~5e-6
 *     nats; 1e-3 leaves room for summation order (threads, SIMD) while a fault
 *     in any layer moves the log-probs of the recited text by far more (the
 *     recital is near-certain, so greedy continuations are checked too);
 *     the engine computes in float32 with the weights as stored, transformers in
 *     its dtype, so a float32 reference agrees to ~1e-4 and a bfloat16 one to a
 *     few 1e-2;
 *   - each greedy continuation token for token, except where the golden token's
 *     logit is within TOLERANCE of the engine's best (a near tie, reported).
 *
 *   test_golden --finite MODEL_DIR...
 * opens each folder and runs 5 tokens through the engine: every logit finite,
 * and a prefill equal to token-by-token decoding (for the loader's fixtures in
 * every stored format).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "model.h"
#include "logits.h"
#include "tap.h"

/* $LLMCHAT_TEST_BACKEND=cuda runs the goldens on the GPU (tests/gpu/run.sh). */
static enum engine_backend test_backend(void)
{
	const char *name = getenv("LLMCHAT_TEST_BACKEND");
	return name && strcmp(name, "cuda") == 0 ? ENGINE_BACKEND_CUDA : ENGINE_BACKEND_CPU;
}

/* A KV cache type by name (bf16, fp8, f32); -1 for another name. */
static int kv_cache_named(const char *name)
{
	if (strcmp(name, "bf16") == 0)
		return ENGINE_KV_BF16;
	if (strcmp(name, "fp8") == 0)
		return ENGINE_KV_FP8;
	return strcmp(name, "f32") == 0 ? ENGINE_KV_F32 : -1;
}

static void check_logprobs(struct engine *engine, const char *name, json_t *golden, int vocab, double tolerance)
{
	size_t n;
	int32_t *ids = json_ids(json_object_get(golden, "text_ids"), &n);
	json_t *want = json_object_get(golden, "logprobs");
	size_t offset = json_array_size(want) == n ? 1 : 0;
	char err[512];
	if (n < 2 || json_array_size(want) != n - 1 + offset) {
		tap_ok(0, "%s: text_ids (%zu) and logprobs (%zu) do not line up", name, n, json_array_size(want));
		free(ids);
		return;
	}
	float *logits = malloc(n * (size_t)vocab * sizeof *logits);
	engine_rewind(engine, 0);
	int rc = engine_forward(engine, ids, n, logits, true, err, sizeof err);
	double worst = 0, sum = 0;
	size_t worst_at = 0;
	for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
		double got = log_prob(logits + i * (size_t)vocab, vocab, ids[i + 1]);
		double d = fabs(got - json_number_value(json_array_get(want, i + offset)));
		sum += d;
		if (d > worst) {
			worst = d;
			worst_at = i + 1;
		}
	}
	if (rc != 0)
		tap_diag("%s: %s", name, err);
	tap_ok(rc == 0 && worst <= tolerance,
	       "%s: log-probs of %zu tokens within %g nats (max diff %.2e at token %zu, mean %.2e)",
	       name, n - 1, tolerance, worst, worst_at, sum / (double)(n - 1));
	free(logits);
	free(ids);
}

static void check_greedy(struct engine *engine, const char *name, size_t index, json_t *item, int vocab,
			 double tolerance)
{
	size_t np, nc;
	int32_t *prompt = json_ids(json_object_get(item, "prompt_ids"), &np);
	int32_t *want = json_ids(json_object_get(item, "continuation_ids"), &nc);
	float *logits = malloc((size_t)vocab * sizeof *logits);
	char err[512];
	int ties = 0, ok = np > 0;
	size_t step = 0;
	engine_rewind(engine, 0);
	if (ok && engine_forward(engine, prompt, np, logits, false, err, sizeof err) != 0)
		ok = 0;
	for (; ok && step < nc; step++) {
		int got = (int)numerics_argmax(logits, (size_t)vocab);
		if (got != want[step]) {
			if (want[step] >= 0 && want[step] < vocab && logits[got] - logits[want[step]] <= tolerance) {
				ties++;
				tap_diag("%s greedy %zu: near tie at step %zu (%d vs golden %d, logits %.5f / %.5f)",
					 name, index, step, got, want[step], logits[got], logits[want[step]]);
			} else {
				tap_diag("%s greedy %zu: step %zu gives %d, golden %d", name, index, step, got, want[step]);
				ok = 0;
				break;
			}
		}
		/* follow the golden path so that one near tie does not derail the rest */
		if (step + 1 < nc && engine_forward(engine, &want[step], 1, logits, false, err, sizeof err) != 0)
			ok = 0;
	}
	tap_ok(ok, "%s: greedy continuation %zu (%zu prompt tokens, %zu generated) matches%s", name, index, np, nc,
	       ties ? " (with near ties)" : "");
	free(logits);
	free(prompt);
	free(want);
}

/* One run of every folder: a KV cache type and the tolerance it is held to. */
struct golden_run {
	enum engine_kv_cache kv_cache;
	const char *kv_name;
	double tolerance;
};

static void check_folder(const char *dir, const char *golden_path, const struct golden_run *run)
{
	const double tolerance = run->tolerance;
	char label[600];
	snprintf(label, sizeof label, "%s (KV cache %s)", dir, run->kv_name);
	char err[512];
	json_error_t jerr;
	struct model *model = NULL;
	struct engine *engine = NULL;
	json_t *golden = json_load_file(golden_path, 0, &jerr);
	if (!tap_ok(golden != NULL, "%s: golden file reads%s%s", golden_path, golden ? "" : ": ", golden ? "" : jerr.text))
		return;
	int rc = model_open(dir, &model, err, sizeof err);
	if (!tap_ok(rc == 0, "%s: model opens%s%s", dir, rc ? ": " : "", rc ? err : "")) {
		json_decref(golden);
		return;
	}
	/* a context that holds the longest sequence of the file */
	size_t longest = json_array_size(json_object_get(golden, "text_ids"));
	json_t *greedy = json_object_get(golden, "greedy"), *item;
	size_t index;
	json_array_foreach(greedy, index, item) {
		size_t len = json_array_size(json_object_get(item, "prompt_ids")) +
			     json_array_size(json_object_get(item, "continuation_ids"));
		longest = len > longest ? len : longest;
	}
	struct engine_options options = {.backend = test_backend(), .context_length = (int)longest + 1,
					 .kv_cache = run->kv_cache};
	if (model->config.max_position_embeddings > 0 && options.context_length > model->config.max_position_embeddings)
		options.context_length = model->config.max_position_embeddings;
	rc = engine_create(model, &options, &engine, err, sizeof err);
	if (tap_ok(rc == 0, "%s: engine created%s%s", dir, rc ? ": " : "", rc ? err : "")) {
		int vocab = model->config.vocab_size;
		check_logprobs(engine, label, golden, vocab, tolerance);
		json_array_foreach(greedy, index, item)
			check_greedy(engine, label, index, item, vocab, tolerance);
		engine_free(engine);
	}
	model_close(model);
	json_decref(golden);
}

static void check_finite(const char *dir)
{
	struct model *model = NULL;
	struct engine *engine = NULL;
	char err[512];
	int32_t tokens[5] = {1, 2, 3, 4, 5};
	int rc = model_open(dir, &model, err, sizeof err);
	if (!tap_ok(rc == 0, "%s: model opens%s%s", dir, rc ? ": " : "", rc ? err : ""))
		return;
	rc = engine_create(model, NULL, &engine, err, sizeof err);
	if (tap_ok(rc == 0, "%s: engine created%s%s", dir, rc ? ": " : "", rc ? err : "")) {
		size_t vocab = (size_t)model->config.vocab_size;
		float *all = malloc(5 * vocab * sizeof *all), *one = malloc(vocab * sizeof *one);
		int finite = engine_forward(engine, tokens, 5, all, true, err, sizeof err) == 0, same = 1;
		for (size_t i = 0; finite && i < 5 * vocab; i++)
			finite = isfinite(all[i]);
		engine_rewind(engine, 0);
		for (int t = 0; t < 5; t++) {
			engine_forward(engine, tokens + t, 1, one, false, err, sizeof err);
			same &= memcmp(one, all + t * vocab, vocab * sizeof *one) == 0;
		}
		tap_ok(finite && same, "%s (%s): 5 tokens give finite logits, prefill = decoding", dir,
		       weight_format_name(model->config.format));
		free(all);
		free(one);
		engine_free(engine);
	}
	model_close(model);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--finite") == 0) {
		for (int i = 2; i < argc; i++)
			check_finite(argv[i]);
		return tap_done();
	}
	const char *env = getenv("GOLDEN_TOLERANCE");
	struct golden_run runs[8] = {{ENGINE_KV_F32, "f32", env ? atof(env) : 1e-3}};
	int run_count = 0, first = 1;
	while (first + 1 < argc && strcmp(argv[first], "--kv-cache") == 0 && run_count < 8) {
		/* --kv-cache TYPE=TOLERANCE */
		char name[16];
		double tolerance;
		if (sscanf(argv[first + 1], "%15[a-z0-9]=%lf", name, &tolerance) != 2 || kv_cache_named(name) < 0) {
			fprintf(stderr, "%s: --kv-cache bf16|fp8|f32=TOLERANCE, not %s\n", argv[0], argv[first + 1]);
			return 2;
		}
		static const char *const names[] = {[ENGINE_KV_BF16] = "bf16", [ENGINE_KV_FP8] = "fp8", [ENGINE_KV_F32] = "f32"};
		int type = kv_cache_named(name);
		runs[run_count] = (struct golden_run){(enum engine_kv_cache)type, names[type], tolerance};
		run_count++;
		first += 2;
	}
	if (run_count == 0)
		run_count = 1;
	if (argc - first < 2 || (argc - first) % 2) {
		fprintf(stderr, "usage: %s [--kv-cache TYPE=TOLERANCE]... MODEL_DIR GOLDEN_JSON [MODEL_DIR GOLDEN_JSON]...\n",
			argv[0]);
		return 2;
	}
	for (int r = 0; r < run_count; r++)
		for (int i = first; i + 1 < argc; i += 2)
			check_folder(argv[i], argv[i + 1], &runs[r]);
	return tap_done();
}
