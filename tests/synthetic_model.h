/*
 * synthetic_model.h - small random Llama models built in memory, for the engine's
 * tests (no files: the loader is tested on its own).
 *
 * Weights are stored as a checkpoint would store them: BF16 codes, or FP8 e4m3 /
 * INT8 codes with per-tensor or per-row scales, so the engine reads exactly what
 * it reads from a mmapped safetensors file.  Every allocation is recorded in the
 * synthetic struct and freed by synthetic_free.
 */
#ifndef LLMCHAT_TESTS_SYNTHETIC_MODEL_H
#define LLMCHAT_TESTS_SYNTHETIC_MODEL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "numerics.h"

#define SYNTHETIC_MAX_BLOCKS 1024

struct synthetic {
	struct model model;
	void *blocks[SYNTHETIC_MAX_BLOCKS];
	int block_count;
	uint64_t rng;
};

static inline void *synthetic_alloc(struct synthetic *s, size_t bytes)
{
	void *p = calloc(1, bytes ? bytes : 1);
	if (!p || s->block_count == SYNTHETIC_MAX_BLOCKS)
		abort();
	s->blocks[s->block_count++] = p;
	return p;
}

static inline void synthetic_free(struct synthetic *s)
{
	for (int i = 0; i < s->block_count; i++)
		free(s->blocks[i]);
	s->block_count = 0;
}

/* Uniform in (-1, 1), never exactly 0. */
static inline double synthetic_uniform(struct synthetic *s)
{
	s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
	double u = (double)((s->rng >> 11) + 1) * 0x1p-53;
	return 2 * u - 1;
}

/* A normal-ish value (sum of uniforms), standard deviation about 1. */
static inline double synthetic_normal(struct synthetic *s)
{
	double sum = 0;
	for (int i = 0; i < 3; i++)
		sum += synthetic_uniform(s);
	return sum;
}

/* Fills layer with random weights of the given storage; effective weights have
 * a standard deviation of about 1/sqrt(in).  per_row: one weight scale per output
 * row; input_scale applies to the static schemes. */
static inline void synthetic_linear(struct synthetic *s, struct linear *layer, int64_t out, int64_t in,
			     enum tensor_dtype dtype, enum activation_quant activation, int per_row,
			     float input_scale)
{
	int64_t n = out * in;
	double sd = 1.0 / sqrt((double)in);
	memset(layer, 0, sizeof *layer);
	layer->out_features = out;
	layer->in_features = in;
	layer->weight_dtype = dtype;
	layer->activation = activation;
	layer->input_scale = input_scale;
	if (dtype == DTYPE_BF16 || dtype == DTYPE_F16) {
		uint16_t *w = synthetic_alloc(s, (size_t)n * 2);
		for (int64_t i = 0; i < n; i++) {
			float v = (float)(synthetic_normal(s) * sd);
			w[i] = dtype == DTYPE_BF16 ? numerics_float_to_bf16(v) : numerics_float_to_f16(v);
		}
		layer->weight = w;
		return;
	}
	if (dtype == DTYPE_F32) {
		float *w = synthetic_alloc(s, (size_t)n * 4);
		for (int64_t i = 0; i < n; i++)
			w[i] = (float)(synthetic_normal(s) * sd);
		layer->weight = w;
		return;
	}
	int64_t scales = per_row ? out : 1;
	layer->weight_scale = synthetic_alloc(s, (size_t)scales * sizeof(float));
	layer->weight_scale_count = scales;
	for (int64_t r = 0; r < scales; r++)  /* scales vary by row, within a factor 2 */
		layer->weight_scale[r] = (float)(sd / (dtype == DTYPE_I8 ? 60 : 150) * (1.5 + 0.5 * synthetic_uniform(s)));
	if (dtype == DTYPE_F8_E4M3) {
		uint8_t *w = synthetic_alloc(s, (size_t)n);
		for (int64_t i = 0; i < n; i++)
			w[i] = numerics_float_to_e4m3((float)(synthetic_normal(s) * 100));
		layer->weight = w;
	} else {
		int8_t *w = synthetic_alloc(s, (size_t)n);
		for (int64_t i = 0; i < n; i++) {
			double v = nearbyint(synthetic_normal(s) * 40);
			w[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
		}
		layer->weight = w;
	}
}

static inline void synthetic_norm(struct synthetic *s, struct norm *norm, int64_t size)
{
	norm->size = size;
	norm->weight = synthetic_alloc(s, (size_t)size * sizeof(float));
	for (int64_t i = 0; i < size; i++)
		norm->weight[i] = (float)(1 + 0.3 * synthetic_uniform(s));
}

enum synthetic_kind { SYNTHETIC_BF16, SYNTHETIC_FP8_STATIC, SYNTHETIC_FP8_DYNAMIC, SYNTHETIC_INT8_DYNAMIC,
		      SYNTHETIC_INT8_STATIC };

/* The config of a 2-layer model: hidden 64, 4 query heads over 2 key/value heads of
 * 16, MLP 96, the vocabulary given, llama3 RoPE whose original context (16) puts the
 * frequencies in all three of its bands; no weights yet (synthetic_weights).  A
 * benchmark changes the shape in between. */
static inline void synthetic_config(struct synthetic *s, int tied, uint64_t seed, int vocab_size,
				    int max_position_embeddings)
{
	memset(s, 0, sizeof *s);
	s->rng = seed;
	struct model_config *c = &s->model.config;
	strcpy(c->architecture, "LlamaForCausalLM");
	c->hidden_size = 64;
	c->intermediate_size = 96;
	c->num_hidden_layers = 2;
	c->num_attention_heads = 4;
	c->num_key_value_heads = 2;
	c->head_dim = 16;
	c->vocab_size = vocab_size;
	c->max_position_embeddings = max_position_embeddings;
	c->rms_norm_eps = 1e-5f;
	c->rope_theta = 500000;
	c->rope_llama3 = true;
	c->rope_factor = 8;
	c->rope_low_freq_factor = 1;
	c->rope_high_freq_factor = 4;
	c->rope_original_max_position_embeddings = 16;
	c->tie_word_embeddings = tied;
	c->bos_token_id = 1;
	c->eos_token_ids[0] = 2;
	c->eos_token_count = 1;
	c->default_temperature = NAN;
	c->default_top_p = NAN;
	c->default_top_k = -1;
}

/* Random weights of the kind for the shape s's config holds; embeddings BF16, tied
 * to lm_head when tied is set. */
static inline void synthetic_weights(struct synthetic *s, enum synthetic_kind kind, int tied)
{
	struct model_config *c = &s->model.config;
	enum tensor_dtype dtype = DTYPE_BF16;
	enum activation_quant act = ACTIVATION_NONE;
	float input_scale = 0;
	switch (kind) {
	case SYNTHETIC_BF16: c->format = WEIGHT_FORMAT_BF16; break;
	case SYNTHETIC_FP8_STATIC: c->format = WEIGHT_FORMAT_FP8; dtype = DTYPE_F8_E4M3; act = ACTIVATION_FP8_STATIC; input_scale = 4.0f / 448; break;
	case SYNTHETIC_FP8_DYNAMIC: c->format = WEIGHT_FORMAT_FP8; dtype = DTYPE_F8_E4M3; act = ACTIVATION_FP8_DYNAMIC; break;
	case SYNTHETIC_INT8_DYNAMIC: c->format = WEIGHT_FORMAT_INT8; dtype = DTYPE_I8; act = ACTIVATION_INT8_DYNAMIC; break;
	case SYNTHETIC_INT8_STATIC: c->format = WEIGHT_FORMAT_INT8; dtype = DTYPE_I8; act = ACTIVATION_INT8_STATIC; input_scale = 4.0f / 127; break;
	}
	int64_t dim = c->hidden_size, q_dim = c->num_attention_heads * c->head_dim;
	int64_t kv_dim = c->num_key_value_heads * c->head_dim, inter = c->intermediate_size;

	uint16_t *embed = synthetic_alloc(s, (size_t)(c->vocab_size * dim) * 2);
	for (int64_t i = 0; i < c->vocab_size * dim; i++)
		embed[i] = numerics_float_to_bf16((float)synthetic_normal(s));
	s->model.embed_tokens = embed;
	s->model.embed_dtype = DTYPE_BF16;
	s->model.layers = synthetic_alloc(s, (size_t)c->num_hidden_layers * sizeof *s->model.layers);
	for (int l = 0; l < c->num_hidden_layers; l++) {
		struct layer_weights *w = &s->model.layers[l];
		/* per-row scales on some layers, per-tensor on others: both paths run */
		synthetic_norm(s, &w->input_layernorm, dim);
		synthetic_linear(s, &w->q_proj, q_dim, dim, dtype, act, 1, input_scale);
		synthetic_linear(s, &w->k_proj, kv_dim, dim, dtype, act, 0, input_scale);
		synthetic_linear(s, &w->v_proj, kv_dim, dim, dtype, act, 1, input_scale);
		synthetic_linear(s, &w->o_proj, dim, q_dim, dtype, act, l % 2, input_scale);
		synthetic_norm(s, &w->post_attention_layernorm, dim);
		synthetic_linear(s, &w->gate_proj, inter, dim, dtype, act, 1, input_scale);
		synthetic_linear(s, &w->up_proj, inter, dim, dtype, act, 0, input_scale);
		synthetic_linear(s, &w->down_proj, dim, inter, dtype, act, 1, input_scale);
	}
	synthetic_norm(s, &s->model.norm, dim);
	if (tied) {
		memset(&s->model.lm_head, 0, sizeof s->model.lm_head);
		s->model.lm_head.weight = embed;
		s->model.lm_head.weight_dtype = DTYPE_BF16;
		s->model.lm_head.out_features = c->vocab_size;
		s->model.lm_head.in_features = dim;
	} else {
		/* lm_head stays BF16, as quantized checkpoints keep it */
		synthetic_linear(s, &s->model.lm_head, c->vocab_size, dim, DTYPE_BF16, ACTIVATION_NONE, 0, 0);
	}
}

/* The 2-layer model of synthetic_config with its weights (vocabulary 100 in
 * synthetic_model, or as given). */
static inline void synthetic_model_sized(struct synthetic *s, enum synthetic_kind kind, int tied, uint64_t seed,
					 int vocab_size, int max_position_embeddings)
{
	synthetic_config(s, tied, seed, vocab_size, max_position_embeddings);
	synthetic_weights(s, kind, tied);
}

static inline void synthetic_model(struct synthetic *s, enum synthetic_kind kind, int tied, uint64_t seed)
{
	synthetic_model_sized(s, kind, tied, seed, 100, 64);
}

#endif
