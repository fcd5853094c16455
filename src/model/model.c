/*
 * model.c - binds the tensors of a Llama 3 folder to struct model, checking each one.
 *
 * Every tensor is looked up by its Hugging Face name and checked against config.json:
 * shape, dtype (BF16/F16/F32 for 16-bit layers; F8_E4M3 or I8 where the quantization
 * block says so), and for 8-bit layers the scales: weight_scale of 1 or out_features
 * values ([], [1], [out,1] or [out]), input_scale a single value for static schemes, and
 * any zero point all zero (symmetric).  Large weights stay in the mapping; norms and
 * scales are converted to float here.  Extra tensors (rotary inv_freq, KV-cache k/v
 * scales) are left alone.
 */
#include "model.h"
#include "numerics.h"
#include "quant_config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Element I of a float tensor (BF16, F16, F32, F64) as float.  The mapping is only as
 * aligned as the file, hence memcpy. */
static float element_as_float(const struct tensor *t, int64_t i)
{
	double wide;
	switch (t->dtype) {
	case DTYPE_BF16: return numerics_bf16_to_float(numerics_load_u16(t->data, (size_t)i));
	case DTYPE_F16: return numerics_f16_to_float(numerics_load_u16(t->data, (size_t)i));
	case DTYPE_F32: return numerics_load_f32(t->data, (size_t)i);
	case DTYPE_F64:
		memcpy(&wide, (const unsigned char *)t->data + (size_t)i * sizeof wide, sizeof wide);
		return (float)wide;
	default: return NAN;
	}
}

static bool is_float16_or_32(enum tensor_dtype dtype)
{
	return dtype == DTYPE_BF16 || dtype == DTYPE_F16 || dtype == DTYPE_F32;
}

static void shape_text(const struct tensor *t, char *out, size_t out_size)
{
	size_t used = (size_t)snprintf(out, out_size, "[");
	for (int d = 0; d < t->ndim && used < out_size; d++)
		used += (size_t)snprintf(out + used, out_size - used, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
	if (used < out_size)
		snprintf(out + used, out_size - used, "]");
}

static const struct tensor *require_tensor(const struct model *model, const char *name, char *err, size_t err_size)
{
	const struct tensor *t = safetensors_find(model->tensors, name);
	if (!t)
		snprintf(err, err_size, "%s: tensor %s is missing", model->dir, name);
	return t;
}

/* Checks a 1-D (cols < 0) or 2-D shape against what config.json implies. */
static int check_shape(const struct tensor *t, int64_t rows, int64_t cols, char *err, size_t err_size)
{
	bool ok = cols < 0 ? t->ndim == 1 && t->shape[0] == rows
			   : t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols;
	if (ok)
		return 0;
	char got[96];
	shape_text(t, got, sizeof got);
	if (cols < 0)
		snprintf(err, err_size, "%s: tensor %s has shape %s, config.json wants [%lld]", t->file, t->name, got,
			 (long long)rows);
	else
		snprintf(err, err_size, "%s: tensor %s has shape %s, config.json wants [%lld, %lld]", t->file, t->name,
			 got, (long long)rows, (long long)cols);
	return -1;
}

static int check_float_dtype(const struct tensor *t, const char *why, char *err, size_t err_size)
{
	if (is_float16_or_32(t->dtype))
		return 0;
	snprintf(err, err_size, "%s: tensor %s is %s, want BF16, F16 or F32%s", t->file, t->name,
		 tensor_dtype_name(t->dtype), why);
	return -1;
}

/* Copies a float tensor's values into a new float array. */
static float *floats_from(const struct tensor *t, char *err, size_t err_size)
{
	float *values = malloc((size_t)(t->element_count ? t->element_count : 1) * sizeof *values);
	if (!values) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	for (int64_t i = 0; i < t->element_count; i++)
		values[i] = element_as_float(t, i);
	return values;
}

static int bind_norm(struct model *model, const char *name, int64_t size, struct norm *norm, char *err, size_t err_size)
{
	const struct tensor *t = require_tensor(model, name, err, err_size);
	if (!t || check_shape(t, size, -1, err, err_size) || check_float_dtype(t, "", err, err_size))
		return -1;
	norm->weight = floats_from(t, err, err_size);
	norm->size = size;
	return norm->weight ? 0 : -1;
}

/* A zero point tensor (MODULE.SUFFIX), when present, must be all zero: symmetric only. */
static int check_zero_point(const struct model *model, const char *module, const char *suffix, char *err, size_t err_size)
{
	char name[512];
	snprintf(name, sizeof name, "%s.%s", module, suffix);
	const struct tensor *t = safetensors_find(model->tensors, name);
	if (!t)
		return 0;
	bool is_float = t->dtype == DTYPE_BF16 || t->dtype == DTYPE_F16 || t->dtype == DTYPE_F32 || t->dtype == DTYPE_F64;
	const unsigned char *bytes = t->data;
	for (int64_t i = 0; i < t->element_count; i++) {
		bool zero = is_float ? element_as_float(t, i) == 0.0f : true;
		for (size_t b = 0; !is_float && b < tensor_dtype_size(t->dtype); b++)
			zero = zero && bytes[(size_t)i * tensor_dtype_size(t->dtype) + b] == 0;
		if (!zero) {
			snprintf(err, err_size, "%s: tensor %s is not all zero: asymmetric quantization is not supported",
				 t->file, name);
			return -1;
		}
	}
	return 0;
}

/* MODULE.SUFFIX, a scale: present and of a float dtype (NULL with a message); its
 * name goes into name. */
static const struct tensor *require_scale(const struct model *model, const char *module, const char *suffix,
					  char *name, size_t name_size, char *err, size_t err_size)
{
	snprintf(name, name_size, "%s.%s", module, suffix);
	const struct tensor *t = require_tensor(model, name, err, err_size);
	if (!t || check_float_dtype(t, " for a scale", err, err_size))
		return NULL;
	return t;
}

/* MODULE.weight_scale: 1 or out_features finite, non-negative values. */
static int bind_weight_scale(const struct model *model, const char *module, struct linear *linear,
			     char *err, size_t err_size)
{
	char name[512];
	const struct tensor *t = require_scale(model, module, "weight_scale", name, sizeof name, err, err_size);
	if (!t)
		return -1;
	int64_t out = linear->out_features;
	bool scalar = t->element_count == 1 && (t->ndim == 0 || t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1));
	bool per_row = t->element_count == out &&
		       ((t->ndim == 1 && t->shape[0] == out) || (t->ndim == 2 && t->shape[0] == out && t->shape[1] == 1));
	if (!scalar && !per_row) {
		char got[96];
		shape_text(t, got, sizeof got);
		snprintf(err, err_size, "%s: tensor %s has shape %s, want [], [1], [%lld, 1] or [%lld] "
			 "(group and block scales are not supported)", t->file, name, got, (long long)out, (long long)out);
		return -1;
	}
	linear->weight_scale = floats_from(t, err, err_size);
	if (!linear->weight_scale)
		return -1;
	linear->weight_scale_count = t->element_count;
	for (int64_t i = 0; i < t->element_count; i++)
		if (!isfinite(linear->weight_scale[i]) || linear->weight_scale[i] < 0) {
			snprintf(err, err_size, "%s: tensor %s holds %g at %lld; scales are finite and non-negative",
				 t->file, name, linear->weight_scale[i], (long long)i);
			return -1;
		}
	return 0;
}

/* MODULE.input_scale for static activation schemes: one finite positive value. */
static int bind_input_scale(const struct model *model, const char *module, struct linear *linear,
			    char *err, size_t err_size)
{
	char name[512];
	const struct tensor *t = require_scale(model, module, "input_scale", name, sizeof name, err, err_size);
	if (!t)
		return -1;
	if (t->element_count != 1) {
		snprintf(err, err_size, "%s: tensor %s has %lld values: per-channel input scales are not supported",
			 t->file, name, (long long)t->element_count);
		return -1;
	}
	linear->input_scale = element_as_float(t, 0);
	if (!isfinite(linear->input_scale) || linear->input_scale <= 0) {
		snprintf(err, err_size, "%s: tensor %s is %g; an input scale is finite and positive", t->file, name,
			 linear->input_scale);
		return -1;
	}
	return 0;
}

/* Binds MODULE.weight [out, in] and, when the quantization block covers MODULE, its scales. */
static int bind_linear(struct model *model, const struct quant_config *quant, const char *module, int64_t out,
		       int64_t in, struct linear *linear, char *err, size_t err_size)
{
	char name[512];
	snprintf(name, sizeof name, "%s.weight", module);
	const struct tensor *t = require_tensor(model, name, err, err_size);
	if (!t || check_shape(t, out, in, err, err_size))
		return -1;
	linear->weight = t->data;
	linear->weight_dtype = t->dtype;
	linear->out_features = out;
	linear->in_features = in;
	const struct quant_scheme *scheme = quant_config_scheme_for(quant, module);
	if (!scheme) {
		linear->activation = ACTIVATION_NONE;
		const char *why = !quant->quantized ? ""
				  : quant->lm_head_16bit && strcmp(module, "lm_head") == 0
				  ? " (quant_method fp8 never quantizes lm_head: AutoFP8 and vLLM keep it in 16 bits)"
				  : " (config.json keeps this layer unquantized)";
		return check_float_dtype(t, why, err, err_size);
	}
	enum tensor_dtype want = scheme->format == WEIGHT_FORMAT_FP8 ? DTYPE_F8_E4M3 : DTYPE_I8;
	if (t->dtype != want) {
		snprintf(err, err_size, "%s: tensor %s is %s, want %s (config.json quantizes this layer)", t->file, name,
			 tensor_dtype_name(t->dtype), tensor_dtype_name(want));
		return -1;
	}
	linear->activation = scheme->activation;
	if (bind_weight_scale(model, module, linear, err, err_size) ||
	    check_zero_point(model, module, "weight_zero_point", err, err_size) ||
	    check_zero_point(model, module, "input_zero_point", err, err_size))
		return -1;
	if (scheme->activation == ACTIVATION_FP8_STATIC || scheme->activation == ACTIVATION_INT8_STATIC)
		return bind_input_scale(model, module, linear, err, err_size);
	return 0;
}

static int bind_layer(struct model *model, const struct quant_config *quant, int index, char *err, size_t err_size)
{
	const struct model_config *c = &model->config;
	struct layer_weights *layer = &model->layers[index];
	int64_t hidden = c->hidden_size, q_out = (int64_t)c->num_attention_heads * c->head_dim;
	int64_t kv_out = (int64_t)c->num_key_value_heads * c->head_dim, ffn = c->intermediate_size;
	char name[160];
#define LAYER_NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", index, suffix), name)
	if (bind_norm(model, LAYER_NAME("input_layernorm.weight"), hidden, &layer->input_layernorm, err, err_size) ||
	    bind_linear(model, quant, LAYER_NAME("self_attn.q_proj"), q_out, hidden, &layer->q_proj, err, err_size) ||
	    bind_linear(model, quant, LAYER_NAME("self_attn.k_proj"), kv_out, hidden, &layer->k_proj, err, err_size) ||
	    bind_linear(model, quant, LAYER_NAME("self_attn.v_proj"), kv_out, hidden, &layer->v_proj, err, err_size) ||
	    bind_linear(model, quant, LAYER_NAME("self_attn.o_proj"), hidden, q_out, &layer->o_proj, err, err_size) ||
	    bind_norm(model, LAYER_NAME("post_attention_layernorm.weight"), hidden, &layer->post_attention_layernorm,
		      err, err_size) ||
	    bind_linear(model, quant, LAYER_NAME("mlp.gate_proj"), ffn, hidden, &layer->gate_proj, err, err_size) ||
	    bind_linear(model, quant, LAYER_NAME("mlp.up_proj"), ffn, hidden, &layer->up_proj, err, err_size) ||
	    bind_linear(model, quant, LAYER_NAME("mlp.down_proj"), hidden, ffn, &layer->down_proj, err, err_size))
		return -1;
#undef LAYER_NAME
	return 0;
}

static int bind_weights(struct model *model, const struct quant_config *quant, char *err, size_t err_size)
{
	const struct model_config *c = &model->config;
	const struct tensor *embed = require_tensor(model, "model.embed_tokens.weight", err, err_size);
	if (!embed || check_shape(embed, c->vocab_size, c->hidden_size, err, err_size) ||
	    check_float_dtype(embed, "", err, err_size))
		return -1;
	model->embed_tokens = embed->data;
	model->embed_dtype = embed->dtype;
	model->layers = calloc((size_t)c->num_hidden_layers, sizeof *model->layers);
	if (!model->layers) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (int i = 0; i < c->num_hidden_layers; i++)
		if (bind_layer(model, quant, i, err, err_size) != 0)
			return -1;
	if (bind_norm(model, "model.norm.weight", c->hidden_size, &model->norm, err, err_size) != 0)
		return -1;
	if (c->tie_word_embeddings) {
		/* Llama 3.2 1B/3B: the output projection is the embedding matrix itself */
		model->lm_head = (struct linear){
			.weight = embed->data, .weight_dtype = embed->dtype, .out_features = c->vocab_size,
			.in_features = c->hidden_size, .activation = ACTIVATION_NONE,
		};
		return 0;
	}
	if (!safetensors_find(model->tensors, "lm_head.weight")) {
		snprintf(err, err_size, "%s: tensor lm_head.weight is missing and tie_word_embeddings is false", model->dir);
		return -1;
	}
	return bind_linear(model, quant, "lm_head", c->vocab_size, c->hidden_size, &model->lm_head, err, err_size);
}

/* The status line's name: NAME for a cache snapshot .../models--ORG--NAME/snapshots/REV,
 * else the folder's last component. */
static char *display_name(const char *dir)
{
	const char *repo = NULL;
	for (const char *p = strstr(dir, "models--"); p; p = strstr(p + 1, "models--"))
		if ((p == dir || p[-1] == '/') && strstr(p, "/snapshots/"))
			repo = p + strlen("models--");
	const char *separator = repo ? strstr(repo, "--") : NULL;
	if (separator && separator < strchr(repo, '/'))
		return strndup(separator + 2, (size_t)(strchr(repo, '/') - separator - 2));
	size_t end = strlen(dir);
	while (end > 1 && dir[end - 1] == '/')
		end--;
	size_t start = end;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	return end > start ? strndup(dir + start, end - start) : strdup(dir);
}

int model_open(const char *dir, struct model **out, char *err, size_t err_size)
{
	*out = NULL;
	struct model *model = calloc(1, sizeof *model);
	struct quant_config quant;
	memset(&quant, 0, sizeof quant);
	if (!model) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	model->dir = realpath(dir, NULL);
	if (!model->dir)
		model->dir = strdup(dir);
	model->name = display_name(dir);
	if (!model->dir || !model->name) {
		snprintf(err, err_size, "out of memory");
		model_close(model);
		return -1;
	}
	if (model_config_load_quant(dir, &model->config, &quant, err, err_size) ||
	    safetensors_open_dir(dir, &model->tensors, err, err_size) ||
	    bind_weights(model, &quant, err, err_size)) {
		quant_config_free(&quant);
		model_close(model);
		return -1;
	}
	bool quantized = quant.quantized;
	quant_config_free(&quant);
	/* A 16-bit folder's format is what its weights are, whatever torch_dtype says. */
	if (!quantized && model->layers[0].q_proj.weight_dtype == DTYPE_F16)
		model->config.format = WEIGHT_FORMAT_F16;
	else if (!quantized && model->layers[0].q_proj.weight_dtype == DTYPE_BF16)
		model->config.format = WEIGHT_FORMAT_BF16;
	*out = model;
	return 0;
}

static void linear_free(struct linear *linear)
{
	free(linear->weight_scale);
	linear->weight_scale = NULL;
}

void model_close(struct model *model)
{
	if (!model)
		return;
	for (int i = 0; model->layers && i < model->config.num_hidden_layers; i++) {
		struct layer_weights *layer = &model->layers[i];
		free(layer->input_layernorm.weight);
		free(layer->post_attention_layernorm.weight);
		linear_free(&layer->q_proj);
		linear_free(&layer->k_proj);
		linear_free(&layer->v_proj);
		linear_free(&layer->o_proj);
		linear_free(&layer->gate_proj);
		linear_free(&layer->up_proj);
		linear_free(&layer->down_proj);
	}
	free(model->layers);
	free(model->norm.weight);
	linear_free(&model->lm_head);
	safetensors_close(model->tensors);
	free(model->dir);
	free(model->name);
	free(model);
}

static void add_linear(const struct linear *l, double *bytes, double *params)
{
	double n = (double)l->out_features * l->in_features;
	*params += n;
	*bytes += n * tensor_dtype_size(l->weight_dtype);
}

void model_linear_weights(const struct model *m, double *bytes, double *params)
{
	*bytes = *params = 0;
	for (int i = 0; i < m->config.num_hidden_layers; i++) {
		const struct layer_weights *w = &m->layers[i];
		add_linear(&w->q_proj, bytes, params);
		add_linear(&w->k_proj, bytes, params);
		add_linear(&w->v_proj, bytes, params);
		add_linear(&w->o_proj, bytes, params);
		add_linear(&w->gate_proj, bytes, params);
		add_linear(&w->up_proj, bytes, params);
		add_linear(&w->down_proj, bytes, params);
	}
	add_linear(&m->lm_head, bytes, params);
}
