/*
 * test_engine_ranks.c - a model split across N CPU ranks against the same model on
 * one rank (tensor_parallel.h), on the tiny test models.
 *
 *   test_engine_ranks MODEL_DIR GOLDEN_JSON TOLERANCE [MODEL_DIR GOLDEN_JSON TOLERANCE]...
 *
 * For 2 and 4 ranks (4 replicates the 2 KV heads of the tiny models):
 *   - the log-probs of the golden file's text_ids (one prefill, every logit) are
 *     within TOLERANCE nats of one rank's: only the order of the sums changes
 *     (BF16, FP8 static), or also the dynamic per-token scales of the row-parallel
 *     layers, taken over each rank's slice of the input (INT8);
 *   - greedy decoding from each golden prompt gives one rank's tokens;
 *   - a prefill gives the logits of token-by-token decoding, bit for bit.
 * A synthetic model of vocabulary 101 splits its lm_head into unequal blocks (26,
 * 26, 26, 23 at 4 ranks): every rank writes its columns of every row.
 * $LLMCHAT_TEST_BACKEND=cuda runs it all on the GPU (the prefill/decoding identity
 * aside: a GPU prefill runs other kernels), $LLMCHAT_TEST_COMM naming the split
 * runs' communicator (tests/gpu/run.sh, tests/gpu/multi_gpu.sh).
 * Then the failure paths (engine.h's test hooks): a rank that fails its
 * creation or its first forward makes the engine fail with that rank's message,
 * every later forward fails the same way, and nothing hangs (an alarm) or leaks
 * (ASan).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "model.h"
#include "synthetic_model.h"
#include "logits.h"
#include "tap.h"

#define ARGMAX_ROWS 9   /* a speculative verify pass: the step's token and 8 proposals */

struct run {
	double *logprobs;          /* text tokens - 1 */
	int32_t *greedy;           /* each prompt's continuation, concatenated */
	size_t greedy_count;
	float *last_logits;        /* vocab: after the last greedy step of the first prompt */
	int32_t row_best[ARGMAX_ROWS]; /* the argmax of each of the text's first rows */
};

/* $LLMCHAT_TEST_BACKEND=cuda runs the ranks on the GPU (tests/gpu/), with the split
 * runs' communicator from $LLMCHAT_TEST_COMM (nccl, p2p; default one-gpu). */
static bool on_gpu(void)
{
	const char *backend = getenv("LLMCHAT_TEST_BACKEND");
	return backend && strcmp(backend, "cuda") == 0;
}

static enum comm_kind test_comm(int ranks)
{
	const char *comm = getenv("LLMCHAT_TEST_COMM");
	if (ranks == 1)
		return COMM_AUTO;
	if (comm && strcmp(comm, "nccl") == 0)
		return COMM_NCCL;
	if (comm && strcmp(comm, "p2p") == 0)
		return COMM_P2P;
	if (comm && strcmp(comm, "auto") == 0)
		return COMM_AUTO;
	return COMM_ONE_GPU;
}

/* The most ranks to try: 4, or $LLMCHAT_TEST_MAX_RANKS (a machine with 2 GPUs). */
static int max_ranks(void)
{
	const char *max = getenv("LLMCHAT_TEST_MAX_RANKS");
	return max && atoi(max) > 0 ? atoi(max) : 4;
}

/* An engine of ranks ranks; hooks (NULL: none) makes a rank fail. */
static struct engine *make_engine_with_hooks(const struct model *model, int ranks, int context,
					     const struct engine_test_hooks *hooks, char *err, size_t err_size)
{
	struct engine_options options = {.backend = on_gpu() ? ENGINE_BACKEND_CUDA : ENGINE_BACKEND_CPU,
					 .context_length = context, .ranks = ranks, .comm = test_comm(ranks),
					 .kv_cache = ENGINE_KV_F32};
	if (hooks)
		options.test_hooks = *hooks;
	struct engine *engine = NULL;
	return engine_create(model, &options, &engine, err, err_size) == 0 ? engine : NULL;
}

static struct engine *make_engine(const struct model *model, int ranks, int context, char *err, size_t err_size)
{
	return make_engine_with_hooks(model, ranks, context, NULL, err, err_size);
}

/* Log-probs of the text and greedy continuations (as long as the golden ones). */
static int run_model(struct engine *engine, int vocab, const int32_t *text, size_t n, json_t *greedy, struct run *out,
		     char *err, size_t err_size)
{
	float *logits = malloc(n * (size_t)vocab * sizeof *logits);
	memset(out, 0, sizeof *out);
	out->logprobs = malloc(n * sizeof *out->logprobs);
	out->last_logits = malloc((size_t)vocab * sizeof *out->last_logits);
	int rc = engine_forward(engine, text, n, logits, true, err, err_size);
	for (size_t i = 0; rc == 0 && i + 1 < n; i++)
		out->logprobs[i] = log_prob(logits + i * (size_t)vocab, vocab, text[i + 1]);
	for (size_t i = 0; rc == 0 && i < ARGMAX_ROWS && i < n; i++)
		out->row_best[i] = (int32_t)numerics_argmax(logits + i * (size_t)vocab, (size_t)vocab);
	size_t index, total = 0;
	json_t *item;
	json_array_foreach(greedy, index, item)
		total += json_array_size(json_object_get(item, "continuation_ids"));
	out->greedy = malloc((total ? total : 1) * sizeof *out->greedy);
	json_array_foreach(greedy, index, item) {
		size_t np, nc;
		int32_t *prompt = json_ids(json_object_get(item, "prompt_ids"), &np);
		free(json_ids(json_object_get(item, "continuation_ids"), &nc));
		engine_rewind(engine, 0);
		if (rc == 0)
			rc = engine_forward(engine, prompt, np, logits, false, err, err_size);
		for (size_t step = 0; rc == 0 && step < nc; step++) {
			int32_t next = (int32_t)numerics_argmax(logits, (size_t)vocab);
			out->greedy[out->greedy_count++] = next;
			if (step + 1 < nc)
				rc = engine_forward(engine, &next, 1, logits, false, err, err_size);
		}
		if (index == 0)
			memcpy(out->last_logits, logits, (size_t)vocab * sizeof *logits);
		free(prompt);
	}
	free(logits);
	return rc;
}

static void run_free(struct run *r)
{
	free(r->logprobs);
	free(r->greedy);
	free(r->last_logits);
}

/* A prefill of 40 tokens (two batches) against decoding them one by one. */
static int prefill_equals_decoding(struct engine *engine, int vocab, const int32_t *text, size_t n)
{
	size_t count = n < 40 ? n : 40;
	float *all = malloc(count * (size_t)vocab * sizeof *all), *one = malloc((size_t)vocab * sizeof *one);
	char err[256];
	engine_rewind(engine, 0);
	int same = engine_forward(engine, text, count, all, true, err, sizeof err) == 0;
	engine_rewind(engine, 0);
	for (size_t t = 0; same && t < count; t++)
		same = engine_forward(engine, text + t, 1, one, false, err, sizeof err) == 0 &&
		       memcmp(one, all + t * (size_t)vocab, (size_t)vocab * sizeof *one) == 0;
	free(all);
	free(one);
	return same;
}

static void check_model(const char *dir, const char *golden_path, double tolerance)
{
	char err[512];
	json_error_t jerr;
	struct model *model = NULL;
	json_t *golden = json_load_file(golden_path, 0, &jerr);
	if (!tap_ok(golden && model_open(dir, &model, err, sizeof err) == 0, "%s opens with %s", dir, golden_path))
		return;
	const char *name = model->name;
	size_t n;
	int32_t *text = json_ids(json_object_get(golden, "text_ids"), &n);
	json_t *greedy = json_object_get(golden, "greedy");
	int vocab = model->config.vocab_size;
	int context = (int)n + 64;
	struct run one, split;
	struct engine *engine = make_engine(model, 1, context, err, sizeof err);
	if (!tap_ok(engine && run_model(engine, vocab, text, n, greedy, &one, err, sizeof err) == 0,
		    "%s: one rank runs%s%s", name, engine ? "" : ": ", engine ? "" : err))
		goto done;
	engine_free(engine);

	for (int ranks = 2; ranks <= max_ranks(); ranks *= 2) {
		engine = make_engine(model, ranks, context, err, sizeof err);
		if (!tap_ok(engine != NULL, "%s: %d ranks: engine created%s%s", name, ranks, engine ? "" : ": ",
			    engine ? "" : err))
			continue;
		char want[64];
		snprintf(want, sizeof want, "x %d ranks", ranks);
		tap_ok(engine_ranks(engine) == ranks && strstr(engine_describe(engine), want) &&
		       engine_context_length(engine) == context,
		       "%s: %d ranks: engine_ranks, \"%s\", context %d", name, ranks, engine_describe(engine),
		       engine_context_length(engine));
		int rc = run_model(engine, vocab, text, n, greedy, &split, err, sizeof err);
		double worst = 0;
		size_t worst_at = 0;
		for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
			double d = fabs(split.logprobs[i] - one.logprobs[i]);
			if (d > worst) {
				worst = d;
				worst_at = i + 1;
			}
		}
		tap_ok(rc == 0 && worst <= tolerance,
		       "%s: %d ranks: log-probs of %zu tokens within %g nats of one rank's (max diff %.2e at token %zu)%s%s",
		       name, ranks, n - 1, tolerance, worst, worst_at, rc ? ": " : "", rc ? err : "");
		tap_ok(rc == 0 && split.greedy_count == one.greedy_count &&
		       memcmp(split.greedy, one.greedy, one.greedy_count * sizeof *one.greedy) == 0,
		       "%s: %d ranks: greedy continuations (%zu tokens) equal one rank's", name, ranks, one.greedy_count);
		int32_t best[ARGMAX_ROWS];
		const size_t rows = n < ARGMAX_ROWS ? n : ARGMAX_ROWS;
		engine_rewind(engine, 0);
		int rc_best = engine_forward_argmax(engine, text, rows, best, err, sizeof err);
		tap_ok(rc_best == 0 && memcmp(best, one.row_best, rows * sizeof *best) == 0,
		       "%s: %d ranks: engine_forward_argmax of %zu tokens picks one rank's argmax in each row%s%s", name,
		       ranks, rows, rc_best ? ": " : "", rc_best ? err : "");
		/* on the GPU a prefill runs other kernels (cuBLASLt, tiled attention) than decoding */
		if (!on_gpu())
			tap_ok(prefill_equals_decoding(engine, vocab, text, n),
			       "%s: %d ranks: a prefill equals decoding, bit for bit", name, ranks);
		run_free(&split);
		engine_free(engine);
	}
	run_free(&one);
done:
	free(text);
	model_close(model);
	json_decref(golden);
}

/* Every logit of 40 tokens (two batches) at 2 and 4 ranks against one rank, on a
 * vocabulary that does not divide into equal blocks. */
static void check_uneven_vocabulary(void)
{
	enum { SEQ = 40, VOCAB = 101 };
	static float want[SEQ * VOCAB], got[SEQ * VOCAB];
	struct synthetic s;
	synthetic_model_sized(&s, SYNTHETIC_FP8_STATIC, 0, 7, VOCAB, 64);
	int32_t tokens[SEQ];
	for (int i = 0; i < SEQ; i++)
		tokens[i] = (int32_t)((i * 37 + 5) % VOCAB);
	char err[256];
	struct engine *engine = make_engine(&s.model, 1, 64, err, sizeof err);
	int rc = engine ? engine_forward(engine, tokens, SEQ, want, true, err, sizeof err) : -1;
	engine_free(engine);
	for (int ranks = 2; ranks <= max_ranks(); ranks *= 2) {
		for (size_t i = 0; i < SEQ * VOCAB; i++)
			got[i] = NAN;
		engine = make_engine(&s.model, ranks, 64, err, sizeof err);
		int rc_split = engine ? engine_forward(engine, tokens, SEQ, got, true, err, sizeof err) : -1;
		double worst = 0, scale = 0;
		for (size_t i = 0; i < SEQ * VOCAB; i++) {
			worst = isnan(got[i]) ? INFINITY : fmax(worst, fabs(got[i] - want[i]));
			scale = fmax(scale, fabs(want[i]));
		}
		/* the GPU's FP8 tensor cores accumulate in fewer bits than float32, and the
		 * split changes what they add: 2.6% of the largest logit measured on an H200 */
		const double relative = on_gpu() ? 5e-2 : 1e-5;
		tap_ok(rc == 0 && rc_split == 0 && worst <= relative * scale,
		       "synthetic FP8, vocabulary %d over %d ranks: every logit of %d tokens written, within %g relative "
		       "of one rank's (max diff %.2g of %.3g)%s%s", VOCAB, ranks, SEQ, relative, worst, scale,
		       rc_split ? ": " : "", rc_split ? err : "");
		engine_free(engine);
	}
	synthetic_free(&s);
}

/* LLMCHAT_TEST_FAIL_RANK: a failing rank stops the engine with its message. */
static void check_failures(const char *dir)
{
	char err[512] = "";
	struct model *model = NULL;
	if (!tap_ok(model_open(dir, &model, err, sizeof err) == 0, "%s opens", dir))
		return;
	int32_t tokens[3] = {1, 2, 3};
	float *logits = malloc((size_t)model->config.vocab_size * sizeof *logits);

	/* the last of max_ranks() ranks fails its creation (4 on the CPU: rank 3) */
	const int ranks = max_ranks();
	char want[96];
	snprintf(want, sizeof want, "rank %d: failed on purpose (LLMCHAT_TEST_FAIL_RANK)", ranks - 1);
	struct engine_test_hooks hooks = {.fail = ENGINE_TEST_FAIL_CREATE, .fail_rank = ranks - 1};
	struct engine *engine = make_engine_with_hooks(model, ranks, 64, &hooks, err, sizeof err);
	tap_ok(!engine && strcmp(err, want) == 0, "rank %d of %d fails its creation: engine_create fails with \"%s\"",
	       ranks - 1, ranks, err);
	engine_free(engine);

	hooks = (struct engine_test_hooks){.fail = ENGINE_TEST_FAIL_FORWARD, .fail_rank = 1};
	engine = make_engine_with_hooks(model, ranks, 64, &hooks, err, sizeof err);
	if (tap_ok(engine != NULL, "rank 1 set to fail its first forward: the engine is created")) {
		int rc = engine_forward(engine, tokens, 3, logits, false, err, sizeof err);
		tap_ok(rc == -1 && strcmp(err, "rank 1: failed on purpose (LLMCHAT_TEST_FAIL_RANK)") == 0,
		       "the forward fails with rank 1's message while the other ranks waited in an all-reduce: \"%s\"",
		       err);
		tap_ok(engine_position(engine) == 0, "the position did not move");
		rc = engine_forward(engine, tokens, 1, logits, false, err, sizeof err);
		tap_ok(rc == -1 && strstr(err, "rank 1: ") == err, "a later forward fails too: \"%s\"", err);
		engine_free(engine);
	}

	hooks = (struct engine_test_hooks){.fail = ENGINE_TEST_FAIL_CREATE, .fail_rank = 0};
	engine = make_engine_with_hooks(model, 1, 64, &hooks, err, sizeof err);
	tap_ok(!engine && strcmp(err, "failed on purpose (LLMCHAT_TEST_FAIL_RANK)") == 0,
	       "one rank failing its creation: the message has no rank prefix: \"%s\"", err);

	engine = make_engine(model, 3, 64, err, sizeof err);
	tap_ok(!engine && strcmp(err, "--gpus 3 cannot split this model (4 attention heads, 2 KV heads): use 1, 2 or 4") == 0,
	       "3 ranks are refused: \"%s\"", err);
	free(logits);
	model_close(model);
}

int main(int argc, char **argv)
{
	if (argc < 4 || (argc - 1) % 3 != 0) {
		fprintf(stderr, "usage: %s MODEL_DIR GOLDEN_JSON TOLERANCE [...]\n", argv[0]);
		return 2;
	}
	alarm(600);  /* a rank that hangs fails the test rather than the whole suite */
	for (int i = 1; i + 2 < argc; i += 3)
		check_model(argv[i], argv[i + 1], atof(argv[i + 2]));
	check_uneven_vocabulary();
	check_failures(argv[1]);
	return tap_done();
}
