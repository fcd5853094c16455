/*
 * bench_engine.c - decode and prefill speed of the CPU engine on a random model
 * of Llama 3.2 1B's shape (hidden 2048, MLP 8192, 16 layers, 32/8 heads of 64,
 * vocabulary 128256, tied embeddings).
 *   bench_engine [bf16|fp8|int8] [THREADS] [LAYERS] [RANKS] [bf16|fp8|f32 KV cache]
 * Built by `make bench` (a build configured without sanitizers, for figures that mean
 * something).
 */
#include <stdio.h>

#include "clock.h"
#include "engine.h"
#include "synthetic_model.h"

int main(int argc, char **argv)
{
	const char *format = argc > 1 ? argv[1] : "bf16";
	int threads = argc > 2 ? atoi(argv[2]) : 0, layers = argc > 3 ? atoi(argv[3]) : 16;
	enum synthetic_kind kind = !strcmp(format, "fp8") ? SYNTHETIC_FP8_DYNAMIC
				 : !strcmp(format, "int8") ? SYNTHETIC_INT8_DYNAMIC : SYNTHETIC_BF16;
	struct synthetic s;
	struct model_config *c = &s.model.config;
	/* the tiny model's config (norm eps, rope, ids), then Llama 3.2 1B's shape */
	synthetic_config(&s, 1, 1, 128256, 4096);
	c->hidden_size = 2048;
	c->intermediate_size = 8192;
	c->num_hidden_layers = layers;
	c->num_attention_heads = 32;
	c->num_key_value_heads = 8;
	c->head_dim = 64;
	c->rope_original_max_position_embeddings = 8192;
	synthetic_weights(&s, kind, 1);

	int ranks = argc > 4 ? atoi(argv[4]) : 1;
	const char *kv_cache = argc > 5 ? argv[5] : "bf16";
	struct engine_options o = {.backend = ENGINE_BACKEND_CPU, .context_length = 1024, .threads = threads,
				   .ranks = ranks,
				   .kv_cache = !strcmp(kv_cache, "f32") ? ENGINE_KV_F32
					       : !strcmp(kv_cache, "fp8") ? ENGINE_KV_FP8
								    : ENGINE_KV_BF16};
	struct engine *e;
	char err[256];
	if (engine_create(&s.model, &o, &e, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	float *logits = malloc(sizeof(float) * c->vocab_size);
	int32_t tokens[128];
	for (int i = 0; i < 128; i++)
		tokens[i] = i * 1000 + 7;
	double t0 = clock_monotonic_seconds();
	int rc = engine_forward(e, tokens, 128, logits, false, err, sizeof err);
	double prefill = clock_monotonic_seconds() - t0;
	t0 = clock_monotonic_seconds();
	for (int i = 0; rc == 0 && i < 16; i++)
		rc = engine_forward(e, tokens + i, 1, logits, false, err, sizeof err);
	double decode = (clock_monotonic_seconds() - t0) / 16;
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s, %d layers, %s: prefill 128 tokens %.2f s (%.1f tokens/s), decode %.1f ms/token (%.2f tokens/s)\n",
	       format, layers, engine_describe(e), prefill, 128 / prefill, decode * 1e3, 1 / decode);
	engine_free(e);
	free(logits);
	synthetic_free(&s);
	return 0;
}
