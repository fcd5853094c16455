/*
 * mode_bench.c - llmchat --bench: prefill and decode speed next to the hardware's
 * ceilings, measured in the same run.
 *
 *   llmchat --bench -m DIR | --dummy-weights CONFIG [--ctx N]
 *
 * Ceilings: decode moves every weight once per token plus the KV cache rows it
 * reads (keys and values of every layer up to the context, in the cache's element
 * type), so its floor is those bytes over the device-to-device copy bandwidth; prefill
 * does 2 x parameters FLOPs per token (plus attention), so its floor is those FLOPs
 * over the FP8 (or INT8) cuBLASLt GEMM rate at 8192^3.  All three rates are measured
 * by this run on GPU 0 (llmk_measure_ceilings); with N GPUs (--gpus) each reads its
 * share, so the ceilings are N times one GPU's.  Decode is greedy on the GPU
 * (engine_decode_greedy), as an answer at --temp 0 runs.  With several ranks a last
 * pass decodes without the CUDA graph, with events around every all-reduce, and
 * reports their time per token.
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

#ifdef HAVE_CUDA
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

static int bench_run(const struct model *m, struct engine *engine, enum engine_kv_cache kv, double copy_gbs,
		     double gemm_tflops)
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
	printf("%-28s %12s %12s %14s %10s\n", "measure", "time", "tokens/s", "ceiling tok/s", "share");
	for (int n = 512; n <= 2048; n *= 4) {
		if (n > ctx)
			break;
		double best = 1e30;
		for (int rep = 0; rep < 3; rep++) {
			engine_rewind(engine, 0);
			double t0 = clock_monotonic_seconds();
			if (engine_forward(engine, tokens, (size_t)n, logits, false, err, sizeof err) != 0) {
				fprintf(stderr, "llmchat: prefill: %s\n", err);
				free(logits);
				free(tokens);
				return EXIT_ERROR;
			}
			double t = clock_monotonic_seconds() - t0;
			best = t < best ? t : best;
		}
		double flops = 2.0 * params * n + 2.0 * c->num_hidden_layers * (double)n * n *
				       c->num_attention_heads * c->head_dim;
		double ceiling = gemm_tflops > 0 ? n / (flops / (ranks * gemm_tflops * 1e12)) : 0;
		char label[64];
		snprintf(label, sizeof label, "prefill %d tokens", n);
		printf("%-28s %9.1f ms %12.0f %14.0f %9.1f%%\n", label, best * 1e3, n / best, ceiling,
		       ceiling > 0 ? 100.0 * (n / best) / ceiling : 0);
	}
	const int contexts[] = {128, 4096, 32768};
	for (size_t k = 0; k < sizeof contexts / sizeof contexts[0]; k++) {
		int context = contexts[k];
		const int steps = 64;
		if (context + steps > ctx)
			break;
		engine_rewind(engine, 0);
		if (engine_forward(engine, tokens, 64, logits, false, err, sizeof err) != 0 ||
		    engine_set_position_for_benchmark(engine, context) != 0) {
			fprintf(stderr, "llmchat: decode setup: %s\n", err);
			break;
		}
		int32_t token = (int32_t)numerics_argmax(logits, (size_t)vocab);
		double t0 = 0;
		for (int s = -4; s < steps; s++) { /* 4 warm-up steps */
			if (s == 0)
				t0 = clock_monotonic_seconds();
			if (engine_decode_greedy(engine, token, &token, err, sizeof err) != 0) {
				fprintf(stderr, "llmchat: decode: %s\n", err);
				free(logits);
				free(tokens);
				return EXIT_ERROR;
			}
		}
		double per_token = (clock_monotonic_seconds() - t0) / steps;
		double kv_bytes = 2.0 * c->num_hidden_layers * (context + steps / 2) * c->num_key_value_heads *
				  c->head_dim * kv_element_size(kv);
		double ceiling = ranks * copy_gbs * 1e9 / (weight_bytes + kv_bytes);
		char label[64];
		snprintf(label, sizeof label, "decode at %d context", context);
		printf("%-28s %9.2f ms %12.1f %14.1f %9.1f%%\n", label, per_token * 1e3, 1 / per_token, ceiling,
		       100.0 / per_token / ceiling);
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
	double copy_gbs = 0, fp8 = 0, int8 = 0;
	if (llmk_gemm_create(&gemm, err, sizeof err) != 0 ||
	    llmk_measure_ceilings(gemm, &copy_gbs, &fp8, &int8, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: --bench: %s\n", err);
		llmk_gemm_free(gemm);
		model_close(model);
		return EXIT_ERROR;
	}
	llmk_gemm_free(gemm);
	struct engine_options eo = {
		.backend = ENGINE_BACKEND_CUDA,
		.context_length = opts->context_length ? opts->context_length : 32768 + 128,
		.ranks = opts->ranks,
		.comm = opts->comm,
		.kv_cache = opts->kv_cache,
		.test_hooks = opts->engine_test_hooks,
	};
	struct engine *engine = NULL;
	if (engine_create(model, &eo, &engine, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		model_close(model);
		return EXIT_ERROR;
	}
	double gemm_rate = model->config.format == WEIGHT_FORMAT_INT8 ? int8 : fp8;
	printf("llmchat --bench: %s, %s weights, %d layers, on %s\n", model->name,
	       weight_format_name(model->config.format), model->config.num_hidden_layers, engine_describe(engine));
	printf("ceilings measured now: copy %.0f GB/s (read + write); cuBLASLt 8192^3 FP8 %.0f TFLOP/s, INT8 %.0f TOP/s\n",
	       copy_gbs, fp8, int8);
	rc = bench_run(model, engine, opts->kv_cache, copy_gbs, gemm_rate);
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
