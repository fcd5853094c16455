/*
 * quant_config.h - the quantization block of a model's config.json: which linear layers
 * hold 8-bit weights, and how their inputs are quantized.
 *
 * Understands llm-compressor's compressed-tensors (`quantization_config`, or
 * `compression_config` in mid-2024 folders) and AutoFP8 (`quant_method: fp8`).  Anything
 * else (packed 4-bit, sparse formats, transforms, group/block strategies, asymmetric
 * schemes, other quant_methods) is refused with one line naming the key and value; keys
 * that carry nothing (compressed-tensors 0.14-0.18's empty sparsity_config and
 * transform_config, version, observers, ...) are accepted.  Used by
 * model_config.c (to set the weight format) and model.c (to bind each linear).
 */
#ifndef LLMCHAT_QUANT_CONFIG_H
#define LLMCHAT_QUANT_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* How one group of linear layers is quantized. */
struct quant_scheme {
	enum weight_format format;        /* WEIGHT_FORMAT_FP8 or WEIGHT_FORMAT_INT8 */
	enum activation_quant activation;
};

struct quant_config {
	bool quantized;                   /* false: every linear is BF16/F16/F32 */
	enum weight_format format;        /* FP8 or INT8 when quantized */
	bool kv_cache_scheme;             /* FP8 KV cache scales present; llmchat ignores them */
	bool lm_head_16bit;               /* AutoFP8 (quant_method fp8): lm_head is never quantized */
	struct quant_group *groups;       /* compressed-tensors config_groups, or AutoFP8's one */
	size_t group_count;
	struct quant_pattern *ignore;     /* modules kept in 16 bits */
	size_t ignore_count;
};

/* Parses config.json's root object (PATH for messages) into *out.  On error *out holds
 * nothing to free. */
int quant_config_parse(const json_t *root, const char *path, struct quant_config *out,
		       char *err, size_t err_size);

/* The scheme for the linear module MODULE ("model.layers.0.self_attn.q_proj",
 * "lm_head"), or NULL when it stays in 16 bits (ignored, not targeted, or AutoFP8's head). */
const struct quant_scheme *quant_config_scheme_for(const struct quant_config *config, const char *module);

void quant_config_free(struct quant_config *config);

/* model_config_load (model_config.c) that also hands back the parsed quantization block,
 * for model_open; the caller frees *quant with quant_config_free. */
int model_config_load_quant(const char *dir, struct model_config *config, struct quant_config *quant,
			    char *err, size_t err_size);

#endif
