/*
 * model_config.c - config.json and generation_config.json of a Llama 3 folder.
 *
 * transformers' LlamaConfig is the rule: missing optional keys take its defaults
 * (rms_norm_eps 1e-6, rope_theta 10000, max_position_embeddings 2048, no tied
 * embeddings, num_key_value_heads = num_attention_heads, head_dim = hidden / heads).
 * Both spellings of the RoPE block are read: rope_theta + rope_scaling (rope_type, or
 * `type` in older files) and transformers 5's rope_parameters dict; likewise torch_dtype
 * and dtype.  Every number is range-checked, so that later arithmetic on it (buffer
 * sizes, divisions) is safe.
 */
#include "model.h"
#include "file_read.h"
#include "generation_config.h"
#include "quant_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads DIR/NAME through json_read_file: any number JSON allows, FIFOs and devices
 * refused at once, errors naming the file, the line and the reason.  A missing
 * optional file gives *out = NULL and success; an optional file that exists but
 * cannot be read (permission, broken JSON, a directory, a FIFO) is an error all the
 * same: its EOS ids and sampling defaults must not be lost silently. */
static int read_json_file(const char *dir, const char *name, bool optional, json_t **out,
			  char *path, size_t path_size, char *err, size_t err_size)
{
	*out = NULL;
	if ((size_t)snprintf(path, path_size, "%s/%s", dir, name) >= path_size) {
		snprintf(err, err_size, "%s: path too long", dir);
		return -1;
	}
	bool missing;
	json_t *root = json_read_file(path, FILE_LIMIT_SMALL, &missing, err, err_size);
	if (!root) {
		if (missing && optional)
			return 0;
		if (missing) {
			size_t used = strlen(err);
			snprintf(err + used, err_size - used, " (is this a Hugging Face model folder?)");
		}
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_size, "%s: not a JSON object", path);
		json_decref(root);
		return -1;
	}
	*out = root;
	return 0;
}

/* An integer member in [min, max]; absent or null takes DEFAULT_VALUE, unless that is
 * below min, which makes the key required. */
static int get_int(const json_t *object, const char *path, const char *key, long long default_value,
		   long long min, long long max, int *out, char *err, size_t err_size)
{
	long long number;
	int found = json_member_integer(object, path, key, min, max, &number, err, err_size);
	if (found < 0)
		return -1;
	if (found == 0 && default_value < min) {
		snprintf(err, err_size, "%s: %s is missing", path, key);
		return -1;
	}
	*out = (int)(found ? number : default_value);
	return 0;
}

/* A number member, finite, in [min, max]; absent or null takes DEFAULT_VALUE (NAN
 * makes it required).  The bounds are chosen so that what the engine computes from
 * the value in float32 stays finite (see the callers). */
static int get_number(const json_t *object, const char *path, const char *key, double default_value,
		      double min, double max, double *out, char *err, size_t err_size)
{
	json_t *value = json_object_get(object, key);
	if (!value || json_is_null(value)) {
		if (isnan(default_value)) {
			snprintf(err, err_size, "%s: %s is missing", path, key);
			return -1;
		}
		*out = default_value;
		return 0;
	}
	double number = json_number_value(value);
	if (!json_is_number(value) || !isfinite(number) || number < min || number > max) {
		char shown[48];
		json_value_text(value, shown, sizeof shown);
		snprintf(err, err_size, "%s: %s (%s) is not a number in [%g, %g]", path, key, shown, min, max);
		return -1;
	}
	*out = number;
	return 0;
}

static int check_architecture(const json_t *root, const char *path, struct model_config *config,
			      char *err, size_t err_size)
{
	json_t *architectures = json_object_get(root, "architectures");
	size_t i;
	json_t *item;
	json_array_foreach(architectures, i, item) {
		if (json_is_string(item) && strcmp(json_string_value(item), "LlamaForCausalLM") == 0) {
			snprintf(config->architecture, sizeof config->architecture, "LlamaForCausalLM");
			break;
		}
	}
	/* A config saved on its own (LlamaConfig.save_pretrained) has no architectures
	 * list; model_type "llama" (checked below) then says enough. */
	if (!architectures)
		snprintf(config->architecture, sizeof config->architecture, "LlamaForCausalLM");
	if (!config->architecture[0]) {
		char *shown = architectures ? json_dumps(architectures, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		snprintf(err, err_size, "%s: architectures %.120s is not LlamaForCausalLM (llmchat runs Llama 3 models)",
			 path, shown ? shown : "(missing)");
		free(shown);
		return -1;
	}
	const char *model_type = json_string_value(json_object_get(root, "model_type"));
	if (!model_type || strcmp(model_type, "llama") != 0) {
		snprintf(err, err_size, "%s: model_type \"%.40s\" is not llama", path, model_type ? model_type : "(missing)");
		return -1;
	}
	return 0;
}

static int check_shapes(const json_t *root, const char *path, struct model_config *c, char *err, size_t err_size)
{
	if (get_int(root, path, "hidden_size", -1, 1, 1 << 17, &c->hidden_size, err, err_size) ||
	    get_int(root, path, "intermediate_size", -1, 1, 1 << 20, &c->intermediate_size, err, err_size) ||
	    get_int(root, path, "num_hidden_layers", -1, 1, 4096, &c->num_hidden_layers, err, err_size) ||
	    get_int(root, path, "num_attention_heads", -1, 1, 4096, &c->num_attention_heads, err, err_size) ||
	    get_int(root, path, "num_key_value_heads", c->num_attention_heads, 1, 4096, &c->num_key_value_heads,
		    err, err_size) ||
	    get_int(root, path, "vocab_size", -1, 1, 1 << 24, &c->vocab_size, err, err_size) ||
	    get_int(root, path, "max_position_embeddings", 2048, 1, 1 << 24, &c->max_position_embeddings,
		    err, err_size) ||
	    get_int(root, path, "head_dim", 0, 0, 4096, &c->head_dim, err, err_size))
		return -1;
	if (c->num_attention_heads % c->num_key_value_heads != 0) {
		snprintf(err, err_size, "%s: num_key_value_heads (%d) does not divide num_attention_heads (%d)", path,
			 c->num_key_value_heads, c->num_attention_heads);
		return -1;
	}
	if (c->head_dim == 0) {
		if (c->hidden_size % c->num_attention_heads != 0) {
			snprintf(err, err_size, "%s: num_attention_heads (%d) does not divide hidden_size (%d)", path,
				 c->num_attention_heads, c->hidden_size);
			return -1;
		}
		c->head_dim = c->hidden_size / c->num_attention_heads;
	}
	if (c->head_dim % 2 != 0) {
		snprintf(err, err_size, "%s: head_dim (%d) is odd; RoPE rotates pairs", path, c->head_dim);
		return -1;
	}
	if ((long long)c->head_dim * c->num_attention_heads > 1 << 20) {
		snprintf(err, err_size, "%s: head_dim (%d) x num_attention_heads (%d) is implausibly large", path,
			 c->head_dim, c->num_attention_heads);
		return -1;
	}
	/* 1e-12 and up: a smaller eps vanishes in float32 and an all-zero row would then
	 * divide by zero in RMSNorm */
	double eps;
	if (get_number(root, path, "rms_norm_eps", 1e-6, 1e-12, 1, &eps, err, err_size))
		return -1;
	c->rms_norm_eps = (float)eps;
	json_t *tie = json_object_get(root, "tie_word_embeddings");
	if (tie && !json_is_null(tie) && !json_is_boolean(tie)) {
		snprintf(err, err_size, "%s: tie_word_embeddings is not true or false", path);
		return -1;
	}
	c->tie_word_embeddings = json_is_true(tie);
	return 0;
}

/* RoPE: SCALING is rope_scaling or rope_parameters (KEY names it), possibly NULL. */
static int parse_rope_scaling(const json_t *scaling, const char *path, const char *key, struct model_config *c,
			      char *err, size_t err_size)
{
	if (!scaling || json_is_null(scaling))
		return 0;
	if (!json_is_object(scaling)) {
		snprintf(err, err_size, "%s: %s is not an object", path, key);
		return -1;
	}
	const char *type = json_string_value(json_object_get(scaling, "rope_type"));
	if (!type)
		type = json_string_value(json_object_get(scaling, "type"));   /* older configs */
	if (!type || strcmp(type, "default") == 0)
		return 0;
	if (strcmp(type, "llama3") != 0) {
		snprintf(err, err_size, "%s: %s type \"%.40s\" is not supported (llama3 or none)", path, key, type);
		return -1;
	}
	c->rope_llama3 = true;
	/* rope.c divides by each factor in float32 (the context by low and high, the
	 * frequencies by factor): bounds of 1e-6 and 1e6 keep every quotient finite. */
	if (get_number(scaling, path, "factor", NAN, 1e-6, 1e6, &c->rope_factor, err, err_size) ||
	    get_number(scaling, path, "low_freq_factor", NAN, 1e-6, 1e6, &c->rope_low_freq_factor, err, err_size) ||
	    get_number(scaling, path, "high_freq_factor", NAN, 1e-6, 1e6, &c->rope_high_freq_factor, err, err_size) ||
	    get_int(scaling, path, "original_max_position_embeddings", -1, 1, 1 << 24,
		    &c->rope_original_max_position_embeddings, err, err_size))
		return -1;
	/* the smoothing divides by high - low, computed in float32 */
	if ((float)c->rope_high_freq_factor <= (float)c->rope_low_freq_factor) {
		snprintf(err, err_size, "%s: %s high_freq_factor (%g) is not above low_freq_factor (%g) in float32", path,
			 key, c->rope_high_freq_factor, c->rope_low_freq_factor);
		return -1;
	}
	return 0;
}

/* RoPE's inverse frequencies are theta^(-2i/d): a base below 1 makes them grow, and
 * one near 0 (1e-300) becomes 0 in float32 and the frequencies infinite. */
#define ROPE_THETA_MIN 1.0

static int parse_rope(const json_t *root, const char *path, struct model_config *c, char *err, size_t err_size)
{
	json_t *parameters = json_object_get(root, "rope_parameters");   /* transformers 5.x */
	if (parameters && !json_is_null(parameters)) {
		if (!json_is_object(parameters)) {
			snprintf(err, err_size, "%s: rope_parameters is not an object", path);
			return -1;
		}
		/* rope_theta lives inside; a top-level one is the fallback */
		double theta_default;
		if (get_number(root, path, "rope_theta", 10000.0, ROPE_THETA_MIN, 1e12, &theta_default, err, err_size) ||
		    get_number(parameters, path, "rope_theta", theta_default, ROPE_THETA_MIN, 1e12, &c->rope_theta,
			       err, err_size))
			return -1;
		return parse_rope_scaling(parameters, path, "rope_parameters", c, err, err_size);
	}
	if (get_number(root, path, "rope_theta", 10000.0, ROPE_THETA_MIN, 1e12, &c->rope_theta, err, err_size))
		return -1;
	return parse_rope_scaling(json_object_get(root, "rope_scaling"), path, "rope_scaling", c, err, err_size);
}

static int parse_dtype(const json_t *root, const char *path, struct model_config *c, char *err, size_t err_size)
{
	const char *key = "torch_dtype";
	json_t *value = json_object_get(root, key);
	if (!value || json_is_null(value)) {
		key = "dtype";   /* transformers 5.x */
		value = json_object_get(root, key);
	}
	c->format = WEIGHT_FORMAT_BF16;
	if (!value || json_is_null(value))
		return 0;
	const char *dtype = json_string_value(value);
	if (dtype && strcmp(dtype, "float16") == 0)
		c->format = WEIGHT_FORMAT_F16;
	/* float32 checkpoints are bound as F32 linears; the format label stays BF16 */
	else if (!dtype || (strcmp(dtype, "bfloat16") != 0 && strcmp(dtype, "float32") != 0)) {
		snprintf(err, err_size, "%s: %s \"%.40s\" is not supported (bfloat16, float16 or float32)", path, key,
			 dtype ? dtype : "(not a string)");
		return -1;
	}
	return 0;
}

/* eos_token_id: an int or a list of ints.  Returns 1 when KEY was present. */
static int parse_token_ids(const json_t *object, const char *path, const char *key, int vocab_size,
			   int *ids, int max_ids, int *count, char *err, size_t err_size)
{
	json_t *value = json_object_get(object, key);
	if (!value || json_is_null(value))
		return 0;
	json_t *single = json_pack("[O]", value);
	json_t *list = json_is_array(value) ? value : single;
	size_t i;
	json_t *item;
	int rc = 1;
	*count = 0;
	json_array_foreach(list, i, item) {
		long long id;
		if (!json_get_int64(item, &id) || id < 0 || id >= vocab_size) {
			char shown[48];
			json_value_text(item, shown, sizeof shown);
			snprintf(err, err_size, "%s: %s %s is not a token id below vocab_size (%d)", path, key, shown,
				 vocab_size);
			rc = -1;
			break;
		}
		if (*count < max_ids)
			ids[(*count)++] = (int)id;
	}
	json_decref(single);
	return rc;
}

/* bos/eos from generation_config.json first, then config.json. */
static int parse_tokens(const json_t *root, const char *path, const json_t *generation, const char *gen_path,
			struct model_config *c, char *err, size_t err_size)
{
	int bos_count = 0, rc = 0;
	c->bos_token_id = -1;
	c->eos_token_count = 0;
	if (generation)
		rc = parse_token_ids(generation, gen_path, "bos_token_id", c->vocab_size, &c->bos_token_id, 1,
				     &bos_count, err, err_size);
	if (rc == 0)
		rc = parse_token_ids(root, path, "bos_token_id", c->vocab_size, &c->bos_token_id, 1, &bos_count,
				     err, err_size);
	if (rc < 0)
		return -1;
	rc = 0;
	if (generation)
		rc = parse_token_ids(generation, gen_path, "eos_token_id", c->vocab_size, c->eos_token_ids,
				     MODEL_MAX_EOS, &c->eos_token_count, err, err_size);
	if (rc == 0)
		rc = parse_token_ids(root, path, "eos_token_id", c->vocab_size, c->eos_token_ids, MODEL_MAX_EOS,
				     &c->eos_token_count, err, err_size);
	return rc < 0 ? -1 : 0;
}

/* Values quoted from config.json may hold control characters: keep the message one
 * printable line. */
static void message_one_line(char *err)
{
	for (unsigned char *p = (unsigned char *)err; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

int model_config_load_quant(const char *dir, struct model_config *config, struct quant_config *quant,
			    char *err, size_t err_size)
{
	char path[4200], gen_path[4200];
	json_t *root = NULL, *generation = NULL;
	memset(config, 0, sizeof *config);
	memset(quant, 0, sizeof *quant);
	if (read_json_file(dir, "config.json", false, &root, path, sizeof path, err, err_size) ||
	    read_json_file(dir, "generation_config.json", true, &generation, gen_path, sizeof gen_path, err, err_size) ||
	    check_architecture(root, path, config, err, err_size) ||
	    check_shapes(root, path, config, err, err_size) ||
	    parse_rope(root, path, config, err, err_size) ||
	    parse_dtype(root, path, config, err, err_size) ||
	    parse_tokens(root, path, generation, gen_path, config, err, err_size) ||
	    generation_config_parse(generation, gen_path, config, err, err_size) ||
	    quant_config_parse(root, path, quant, err, err_size)) {
		message_one_line(err);
		json_decref(root);
		json_decref(generation);
		return -1;
	}
	if (quant->quantized)
		config->format = quant->format;
	config->kv_cache_scheme_ignored = quant->kv_cache_scheme;
	json_decref(root);
	json_decref(generation);
	return 0;
}

int model_config_load(const char *dir, struct model_config *config, char *err, size_t err_size)
{
	struct quant_config quant;
	int rc = model_config_load_quant(dir, config, &quant, err, err_size);
	quant_config_free(&quant);
	return rc;
}

const char *weight_format_name(enum weight_format format)
{
	switch (format) {
	case WEIGHT_FORMAT_BF16: return "BF16";
	case WEIGHT_FORMAT_F16: return "F16";
	case WEIGHT_FORMAT_FP8: return "FP8";
	case WEIGHT_FORMAT_INT8: return "INT8";
	}
	return "?";
}
