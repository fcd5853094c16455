/*
 * model.h - a Llama 3 model folder, opened: its config and its weights in place.
 *
 * Weights stay in their stored form inside the mmapped safetensors (BF16/F16, or
 * 8-bit FP8 e4m3 / INT8 with their scales); the CPU engine converts on the fly and
 * the CUDA engine uploads them as they are.  Small tensors (norms, scales) are
 * converted to float at load.  The structs mirror the checkpoint: each pointer is
 * named after the Hugging Face tensor it holds.
 */
#ifndef LLMCHAT_MODEL_H
#define LLMCHAT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

enum weight_format { WEIGHT_FORMAT_BF16, WEIGHT_FORMAT_F16, WEIGHT_FORMAT_FP8, WEIGHT_FORMAT_INT8 };

/* How a linear layer's input is quantized before the 8-bit product. */
enum activation_quant {
	ACTIVATION_NONE,            /* BF16/F16 weights: float product */
	ACTIVATION_FP8_STATIC,      /* e4m3(clamp(x / input_scale, +-448)), per tensor, static */
	ACTIVATION_FP8_DYNAMIC,     /* per token: scale = max|x| / 448 */
	ACTIVATION_INT8_DYNAMIC,    /* per token: scale = max|x| / 127, round half even, clamp */
	ACTIVATION_INT8_STATIC,     /* per tensor static input_scale, round half even, clamp */
};

#define MODEL_MAX_EOS 8

struct model_config {
	char architecture[64];           /* "LlamaForCausalLM" */
	int hidden_size;
	int intermediate_size;
	int num_hidden_layers;
	int num_attention_heads;
	int num_key_value_heads;
	int head_dim;                     /* hidden_size / heads unless given */
	int vocab_size;
	int max_position_embeddings;
	float rms_norm_eps;
	double rope_theta;
	bool rope_llama3;                 /* rope_scaling / rope_parameters of type llama3 */
	double rope_factor;
	double rope_low_freq_factor;
	double rope_high_freq_factor;
	int rope_original_max_position_embeddings;
	bool tie_word_embeddings;
	int bos_token_id;
	int eos_token_ids[MODEL_MAX_EOS]; /* generation_config.json, else config.json */
	int eos_token_count;
	enum weight_format format;
	/* generation_config.json's defaults (generation_config.h): NAN / -1 when absent for
	 * the first three, 0 when absent for the others (0 is no valid value of theirs).
	 * do_sample false makes default_temperature 0 (greedy). */
	float default_temperature;
	float default_top_p;
	int default_top_k;
	float default_min_p;              /* min_p */
	float default_repetition_penalty; /* repetition_penalty */
	int default_max_new_tokens;       /* max_new_tokens: tokens an answer may have */
	int default_max_length;           /* max_length: prompt + answer, in tokens */
	/* config.json asks for an FP8 KV cache (kv_cache_scheme / kv_cache_quant_targets);
	 * llmchat keeps the cache in --kv-cache's type and ignores the k/v scales: warn once. */
	bool kv_cache_scheme_ignored;
};

/* y[out] = W[out, in] x[in], W row-major as stored. */
struct linear {
	const void *weight;
	enum tensor_dtype weight_dtype;   /* BF16, F16, F32, F8_E4M3 or I8 */
	int64_t out_features;
	int64_t in_features;
	int64_t row_stride;               /* elements from one row to the next; 0: in_features
					   * (a tensor-parallel view of some columns) */
	float *weight_scale;              /* NULL for float weights; else 1 or out_features values */
	int64_t weight_scale_count;
	enum activation_quant activation;
	float input_scale;                /* static schemes only */
};

/* A small float vector converted at load (norm weights). */
struct norm {
	float *weight;
	int64_t size;
};

struct layer_weights {
	struct norm input_layernorm;
	struct linear q_proj, k_proj, v_proj, o_proj;
	struct norm post_attention_layernorm;
	struct linear gate_proj, up_proj, down_proj;
};

struct model {
	char *dir;                        /* resolved folder */
	char *name;                       /* folder or repo name, for the status line */
	struct model_config config;
	struct safetensors_set *tensors;
	const void *embed_tokens;         /* [vocab, hidden] */
	enum tensor_dtype embed_dtype;    /* BF16, F16 or F32 */
	struct layer_weights *layers;     /* num_hidden_layers */
	struct norm norm;
	struct linear lm_head;            /* embed_tokens when tied */
	bool dummy_weights;               /* model_open_dummy: weight pointers NULL */
};

/* Reads DIR/config.json (+ generation_config.json) without touching weights.
 * Accepts every variation of ../shared/MODEL_FOLDERS.md; refuses what is not ours
 * with one line naming the key and value. */
int model_config_load(const char *dir, struct model_config *config, char *err, size_t err_size);

/* Opens a model folder: config, safetensors (validated), weights bound and checked
 * against the config's shapes. */
int model_open(const char *dir, struct model **out, char *err, size_t err_size);

void model_close(struct model *model);

/* A model with CONFIG's shapes (a folder holding config.json, or the file) and no
 * weights on the host (every weight pointer NULL): the CUDA backend fills them with
 * random values on the GPU.  For --bench --dummy-weights. */
int model_open_dummy(const char *config_path, struct model **out, char *err, size_t err_size);

/* Bytes and parameters of every linear layer's weights, lm_head included (for a tied
 * model, the embedding table it reads): what one decoded token reads. */
void model_linear_weights(const struct model *model, double *bytes, double *params);

/* True for a model from model_open_dummy. */
bool model_is_dummy(const struct model *model);

/* "FP8", "INT8", "BF16", "F16". */
const char *weight_format_name(enum weight_format format);

#endif
