/*
 * mode_bench.c - llmchat --bench: prefill and decode speed next to the hardware's
 * ceilings, measured in the same run.
 *
 *   llmchat --bench -m DIR | --dummy-weights CONFIG [--ctx N]
 *
 * Ceilings: decode moves every weight once per token plus the KV cache rows it
 * reads (keys and values of every layer up to the context, in the cache's element
 * type), so its floor is those bytes over the device-to-device copy bandwidth; prefill
 * (16, 64, 256, 512 and 2048 tokens) does 2 x parameters FLOPs per token (plus
 * attention) and reads every weight once, so its floor is the longer of those FLOPs
 * over the cuBLASLt GEMM rate at 8192^3 of the weights' type (FP8, INT8 or BF16; BF16
 * prefill computes two products, so at most half of it) and the weights over the copy
 * bandwidth.  All four rates are measured
 * by this run on GPU 0 (llmk_measure_ceilings); with N GPUs (--gpus) each reads its
 * share, so the ceilings are N times one GPU's.
 *
 * Decode runs as answers run, at 128, 4096, 32768 and 131000 positions of context
 * (those the context holds): greedy (engine_decode_greedy, --temp 0), and sampled
 * with Llama 3.1's generation_config defaults (temperature 0.6, top-p 0.9) and with
 * top-k 40 (drawn on the GPU where the engine can, else sampler.h over the logits,
 * as chat_session does).  Dummy weights give nearly flat logits, the worst case for
 * top-p; peaked logits, as a trained model's usually are (the head's weights 10x
 * larger), are run as temperature 0.06: logits 10x larger at temperature 0.6 are the
 * same distribution.  With several ranks a last pass decodes without the CUDA
 * graph, with events around every all-reduce, and reports their time per token.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "model.h"
#include "model_path.h"
#include "modes.h"
#include "numerics.h"
#include "chat_session.h"
#include "sampler.h"

#ifdef HAVE_CUDA
#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>

#include "cuda_devices.h"
#include "gemm_cublaslt.h"

static size_t kv_element_size(enum engine_kv_cache kv)
{
	return kv == ENGINE_KV_F32 ? 4 : kv == ENGINE_KV_FP8 ? 1 : 2;
}

/* Decode time per token and all-reduce time per token, without the graph. */
static void bench_all_reduce(const struct model *m, struct engine *engine, int32_t token)
{
	char err[512];
	const int steps = 32, calls = 2 * m->config.num_hidden_layers;
	engine_time_comm(engine, true);
	double t0 = 0;
	for (int s = -2; s < steps; s++) {
		if (s == 0) {
			t0 = clock_monotonic_seconds();
			engine_comm_seconds(engine); /* the warm-up's time is not counted */
		}
		if (engine_decode_greedy(engine, token, &token, err, sizeof err) != 0) {
			fprintf(stderr, "llmchat: decode: %s\n", err);
			engine_time_comm(engine, false);
			return;
		}
	}
	double per_token = (clock_monotonic_seconds() - t0) / steps;
	double comm = engine_comm_seconds(engine) / steps;
	engine_time_comm(engine, false);
	printf("all-reduce (no graph, events around each of %d calls): %.1f us per token = %.1f us per call, "
	       "%.1f%% of a %.2f ms decode step\n",
	       calls, comm * 1e6, comm * 1e6 / calls, 100.0 * comm / per_token, per_token * 1e3);
}

/* A way of picking the next token that --bench times. */
struct decode_way {
	const char *label;
	struct sampler_settings sampling;   /* temperature 0: greedy */
};

static const struct decode_way decode_ways[] = {
	{"greedy", {.temperature = 0, .top_p = 1, .repeat_penalty = 1}},
	{"temp 0.6 top-p 0.9", {.temperature = 0.6f, .top_p = 0.9f, .repeat_penalty = 1}},
	{"temp 0.6 top-k 40", {.temperature = 0.6f, .top_p = 1, .top_k = 40, .repeat_penalty = 1}},
	{"peaked, top-p 0.9", {.temperature = 0.06f, .top_p = 0.9f, .repeat_penalty = 1}},
	{"peaked, top-k 40", {.temperature = 0.06f, .top_p = 1, .top_k = 40, .repeat_penalty = 1}},
};

/* One decoded token as an answer decodes it (chat_session's choice): on the GPU
 * when greedy or when the engine draws there, else sampler.h over the logits. */
static int decode_one(struct engine *engine, const struct sampler_settings *sampling, struct sampler *sampler,
		      float *logits, int32_t *token, char *err, size_t err_size)
{
	if (sampling->temperature == 0)
		return engine_decode_greedy(engine, *token, token, err, err_size);
	if (engine_draws_on_device(engine)) {
		struct engine_draw draw;
		chat_engine_draw(sampling, sampler, &draw);
		if (engine_decode_sample_begin(engine, *token, &draw, err, err_size) != 0)
			return -1;
		return engine_decode_sample_end(engine, token, err, err_size);
	}
	if (engine_forward(engine, token, 1, logits, false, err, err_size) != 0)
		return -1;
	*token = sampler_sample(sampler, logits, NULL, 0);
	return 0;
}

/* Seconds per decoded token at context positions, the way's median of 3 runs of
 * steps tokens (after 4 warm-up steps); the first token is tokens[64 - 1]'s argmax.
 * With profiled, the first run's timed steps are the profiler's range
 * (cudaProfilerStart / Stop: bench/profile_decode.sh profiles those steps only). */
static int time_decode(struct engine *engine, int vocab, const struct decode_way *way, int context,
		       const int32_t *tokens, float *logits, bool profiled, double *seconds, char *err,
		       size_t err_size)
{
	const int steps = 64;
	struct sampler *sampler = NULL;
	if (sampler_create(vocab, &way->sampling, &sampler, err, err_size) != 0)
		return -1;
	double runs[3];
	int rc = 0;
	for (int run = 0; run < 3 && rc == 0; run++) {
		engine_rewind(engine, 0);
		if (engine_forward(engine, tokens, 64, logits, false, err, err_size) != 0 ||
		    engine_set_position_for_benchmark(engine, context) != 0) {
			rc = -1;
			break;
		}
		int32_t token = (int32_t)numerics_argmax(logits, (size_t)vocab);
		double t0 = 0;
		const bool in_range = profiled && run == 0;
		for (int s = -4; s < steps && rc == 0; s++) {
			if (s == 0) {
				if (in_range)
					cudaProfilerStart();
				t0 = clock_monotonic_seconds();
			}
			rc = decode_one(engine, &way->sampling, sampler, logits, &token, err, err_size);
		}
		runs[run] = (clock_monotonic_seconds() - t0) / steps;
		if (in_range)
			cudaProfilerStop();
	}
	sampler_free(sampler);
	if (rc != 0)
		return -1;
	double lo = runs[0] < runs[1] ? runs[0] : runs[1], hi = runs[0] < runs[1] ? runs[1] : runs[0];
	*seconds = runs[2] < lo ? lo : runs[2] > hi ? hi : runs[2];
	return 0;
}

/* Decode rows: every way at each context the engine holds, next to the roofline
 * (weights plus the KV rows read, over the copy bandwidth). */
static int bench_decode(const struct model *m, struct engine *engine, enum engine_kv_cache kv, double copy_gbs,
			double weight_bytes, const int32_t *tokens, float *logits, bool profile_greedy)
{
	const struct model_config *c = &m->config;
	const int ranks = engine_ranks(engine), ctx = engine_context_length(engine);
	const int contexts[] = {128, 4096, 32768, 131000};
	char err[512];
	for (size_t k = 0; k < sizeof contexts / sizeof contexts[0]; k++) {
		const int context = contexts[k];
		if (context + 68 > ctx)
			break;
		double kv_bytes = 2.0 * c->num_hidden_layers * (context + 32) * c->num_key_value_heads * c->head_dim *
				  kv_element_size(kv);
		double ceiling = ranks * copy_gbs * 1e9 / (weight_bytes + kv_bytes), greedy = 0;
		for (size_t w = 0; w < sizeof decode_ways / sizeof decode_ways[0]; w++) {
			double per_token;
			const bool profiled = profile_greedy && k == 0 && w == 0;
			if (time_decode(engine, c->vocab_size, &decode_ways[w], context, tokens, logits, profiled,
					&per_token, err, sizeof err) != 0) {
				fprintf(stderr, "llmchat: decode at %d context (%s): %s\n", context, decode_ways[w].label, err);
				return -1;
			}
			if (w == 0)
				greedy = per_token;
			char label[64], versus[32] = "";
			snprintf(label, sizeof label, "decode %d, %s", context, decode_ways[w].label);
			if (w > 0)
				snprintf(versus, sizeof versus, "  %+.1f%% vs greedy", 100.0 * (greedy / per_token - 1));
			printf("%-36s %9.2f ms %12.1f %14.1f %9.1f%%%s\n", label, per_token * 1e3, 1 / per_token, ceiling,
			       100.0 / per_token / ceiling, versus);
		}
	}
	return 0;
}

/* One verify pass of n tokens at context: greedy (each row's argmax on the device,
 * engine_forward_argmax) or sampled (every row's logits copied back into rows). */
static int verify_pass(struct engine *engine, int context, const int32_t *tokens, int n, bool greedy, float *rows,
		       char *err, size_t err_size)
{
	int32_t best[ENGINE_ARGMAX_MAX_ROWS];
	engine_rewind(engine, context);
	return greedy ? engine_forward_argmax(engine, tokens, (size_t)n, best, err, err_size)
		      : engine_forward(engine, tokens, (size_t)n, rows, true, err, err_size);
}

/* Seconds a verify pass takes: the median of 3 runs of steps passes (2 warm-up).
 * With profiled, the first run's timed passes are the profiler's range. */
static int time_verify(struct engine *engine, int context, const int32_t *tokens, int n, bool greedy, float *rows,
		       bool profiled, double *seconds, char *err, size_t err_size)
{
	const int steps = 32;
	double runs[3];
	for (int run = 0; run < 3; run++) {
		double t0 = 0;
		const bool in_range = profiled && run == 0;
		for (int step = -2; step < steps; step++) {
			if (step == 0) {
				if (in_range)
					cudaProfilerStart();
				t0 = clock_monotonic_seconds();
			}
			if (verify_pass(engine, context, tokens, n, greedy, rows, err, err_size) != 0) {
				if (in_range)
					cudaProfilerStop();
				return -1;
			}
		}
		runs[run] = (clock_monotonic_seconds() - t0) / steps;
		if (in_range)
			cudaProfilerStop();
	}
	double lo = runs[0] < runs[1] ? runs[0] : runs[1], hi = runs[0] < runs[1] ? runs[1] : runs[0];
	*seconds = runs[2] < lo ? lo : runs[2] > hi ? hi : runs[2];
	return 0;
}

/* Speculative decoding's step (chat_session.c): the last token and k proposals in
 * one pass, at 128 of context, next to a greedy step there: greedy verification
 * (each row's argmax, engine_forward_argmax) and sampled (every row's logits copied
 * back, engine_forward). */
static int bench_verify(struct engine *engine, int vocab, const int32_t *tokens, float *logits, bool profile_verify)
{
	const int context = 128;
	char err[512];
	if (context + 68 + SPECULATION_MAX_DRAFT > engine_context_length(engine))
		return 0;
	double greedy;
	if (time_decode(engine, vocab, &decode_ways[0], context, tokens, logits, false, &greedy, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: decode at %d context: %s\n", context, err);
		return -1;
	}
	float *rows = malloc((size_t)(SPECULATION_MAX_DRAFT + 1) * vocab * sizeof *rows);
	if (!rows) {
		fprintf(stderr, "llmchat: out of memory\n");
		return -1;
	}
	static const int proposals[] = {4, 8};
	for (size_t k = 0; k < sizeof proposals / sizeof proposals[0]; k++)
		for (int way = 0; way < 2; way++) {
			const bool argmax = way == 0;
			const int n = proposals[k] + 1;
			double median;
			const bool profiled = profile_verify && proposals[k] == 8 && argmax;
			if (time_verify(engine, context, tokens, n, argmax, rows, profiled, &median, err, sizeof err) != 0) {
				fprintf(stderr, "llmchat: verify %d tokens: %s\n", n, err);
				free(rows);
				return -1;
			}
			char label[64];
			snprintf(label, sizeof label, "verify 1+%d at %d, %s", proposals[k], context,
				 argmax ? "argmax" : "logits");
			printf("%-36s %9.2f ms %12s %14s %10s  %.2fx a greedy step (%.2f ms)\n", label, median * 1e3, "", "",
			       "", median / greedy, greedy * 1e3);
		}
	free(rows);
	return 0;
}

static int bench_run(const struct model *m, struct engine *engine, enum engine_kv_cache kv, double copy_gbs,
		     double gemm_tflops, enum bench_profile profile)
{
	const int ranks = engine_ranks(engine);
	const struct model_config *c = &m->config;
	const int vocab = c->vocab_size, ctx = engine_context_length(engine);
	char err[512];
	double weight_bytes, params;
	model_linear_weights(m, &weight_bytes, &params);
	float *logits = malloc((size_t)vocab * sizeof *logits);
	int32_t *tokens = malloc(2048 * sizeof *tokens);
	if (!logits || !tokens) {
		free(logits);
		free(tokens);
		fprintf(stderr, "llmchat: out of memory\n");
		return EXIT_ERROR;
	}
	for (int i = 0; i < 2048; i++)
		tokens[i] = (int32_t)((i * 7919u + 13) % (unsigned)(vocab < 128000 ? vocab : 128000));
	printf("%-36s %12s %12s %14s %10s\n", "measure", "time", "tokens/s", "ceiling tok/s", "share");
	/* a chat's next message is often 10 to 100 tokens: short prefills too, whose ceiling
	 * is reading the weights once (the longer ones are bound by the matrix units) */
	static const int prefill_tokens[] = {16, 64, 256, 512, 2048};
	for (size_t k = 0; k < sizeof prefill_tokens / sizeof prefill_tokens[0]; k++) {
		const int n = prefill_tokens[k];
		if (n > ctx)
			break;
		double best = 1e30;
		for (int rep = 0; rep < 3; rep++) {
			const bool in_range = profile == BENCH_PROFILE_PREFILL && n == 2048 && rep == 0;
			engine_rewind(engine, 0);
			if (in_range)
				cudaProfilerStart();
			double t0 = clock_monotonic_seconds();
			int forward_rc = engine_forward(engine, tokens, (size_t)n, logits, false, err, sizeof err);
			double t = clock_monotonic_seconds() - t0;
			if (in_range)
				cudaProfilerStop();
			if (forward_rc != 0) {
				fprintf(stderr, "llmchat: prefill: %s\n", err);
				free(logits);
				free(tokens);
				return EXIT_ERROR;
			}
			best = t < best ? t : best;
		}
		double flops = 2.0 * params * n + 2.0 * c->num_hidden_layers * (double)n * n *
				       c->num_attention_heads * c->head_dim;
		double compute_seconds = gemm_tflops > 0 ? flops / (ranks * gemm_tflops * 1e12) : 0;
		double read_seconds = copy_gbs > 0 ? weight_bytes / (ranks * copy_gbs * 1e9) : 0;
		double bound = compute_seconds > read_seconds ? compute_seconds : read_seconds;
		double ceiling = gemm_tflops > 0 && copy_gbs > 0 ? n / bound : 0;
		char label[64];
		snprintf(label, sizeof label, "prefill %d tokens", n);
		printf("%-36s %9.1f ms %12.0f %14.0f %9.1f%%\n", label, best * 1e3, n / best, ceiling,
		       ceiling > 0 ? 100.0 * (n / best) / ceiling : 0);
	}
	if (bench_decode(m, engine, kv, copy_gbs, weight_bytes, tokens, logits, profile == BENCH_PROFILE_DECODE) != 0 ||
	    bench_verify(engine, vocab, tokens, logits, profile == BENCH_PROFILE_VERIFY) != 0) {
		free(logits);
		free(tokens);
		return EXIT_ERROR;
	}
	if (ranks > 1) {
		engine_rewind(engine, 128);
		bench_all_reduce(m, engine, (int32_t)numerics_argmax(logits, (size_t)vocab));
	}
	size_t free_bytes = 0, total = 0;
	cudaMemGetInfo(&free_bytes, &total);
	printf("weights read per decoded token: %.2f GB%s; GPU 0 memory used: %.1f GiB of %.1f GiB (context %d)\n",
	       weight_bytes / 1e9, ranks > 1 ? " (over all GPUs)" : "", (total - free_bytes) / 1073741824.0,
	       total / 1073741824.0, ctx);
	free(logits);
	free(tokens);
	return EXIT_OK;
}

int mode_bench(const struct options *opts)
{
	char err[512];
	struct model *model = NULL;
	char *dir = NULL;
	int rc = opts->dummy_weights ? model_open_dummy(opts->dummy_weights, &model, err, sizeof err)
				     : model_path_resolve(opts->model, &dir, err, sizeof err);
	if (rc == 0 && !opts->dummy_weights)
		rc = model_open(dir, &model, err, sizeof err);
	free(dir);
	if (rc != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		return EXIT_ERROR;
	}
	int devices = 0;
	rc = cuda_device_count(&devices, err, sizeof err);
	if (rc != CUDA_DEVICES_FOUND) {
		if (rc == CUDA_NO_DEVICE)
			fprintf(stderr, "llmchat: --bench measures a GPU, and no usable CUDA device is visible\n");
		else
			fprintf(stderr, "llmchat: --bench: %s\n", err);
		model_close(model);
		return EXIT_ERROR;
	}
	struct llmk_gemm *gemm = NULL;
	double copy_gbs = 0, fp8 = 0, int8 = 0, bf16 = 0;
	if (llmk_gemm_create(&gemm, err, sizeof err) != 0 ||
	    llmk_measure_ceilings(gemm, &copy_gbs, &fp8, &int8, &bf16, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: --bench: %s\n", err);
		llmk_gemm_free(gemm);
		model_close(model);
		return EXIT_ERROR;
	}
	llmk_gemm_free(gemm);
	/* 131072 positions where the cache fits, else 32768 */
	struct engine_options eo = {
		.backend = ENGINE_BACKEND_CUDA,
		.context_length = opts->context_length ? opts->context_length : 131072,
		.ranks = opts->ranks,
		.comm = opts->comm,
		.kv_cache = opts->kv_cache,
		.test_hooks = opts->engine_test_hooks,
	};
	struct engine *engine = NULL;
	rc = engine_create(model, &eo, &engine, err, sizeof err);
	if (rc != 0 && !opts->context_length) {
		printf("a context of %d did not fit (%s): 32896 instead\n", eo.context_length, err);
		eo.context_length = 32768 + 128;
		rc = engine_create(model, &eo, &engine, err, sizeof err);
	}
	if (rc != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		model_close(model);
		return EXIT_ERROR;
	}
	/* the matrix units' rate for the weights' type (BF16 prefill computes two BF16
	 * products a layer, gemm_cublaslt.h: its share is at most 50% of this ceiling) */
	const enum weight_format format = model->config.format;
	double gemm_rate = format == WEIGHT_FORMAT_INT8 ? int8 : format == WEIGHT_FORMAT_BF16 ? bf16 : fp8;
	printf("llmchat --bench: %s, %s weights, %d layers, on %s\n", model->name,
	       weight_format_name(model->config.format), model->config.num_hidden_layers, engine_describe(engine));
	printf("ceilings measured now: copy %.0f GB/s (read + write); cuBLASLt 8192^3 FP8 %.0f TFLOP/s, INT8 %.0f TOP/s, "
	       "BF16 %.0f TFLOP/s\n", copy_gbs, fp8, int8, bf16);
	rc = bench_run(model, engine, opts->kv_cache, copy_gbs, gemm_rate, opts->bench_profile);
	engine_free(engine);
	model_close(model);
	return rc;
}

#else

int mode_bench(const struct options *opts)
{
	(void)opts;
	fprintf(stderr, "llmchat: --bench measures the GPU, and this llmchat was built without CUDA\n");
	return EXIT_ERROR;
}

#endif
