/*
 * quant_config.c - reads the quantization block of config.json.
 *
 * compressed-tensors (llm-compressor): quant_method "compressed-tensors", format
 * float-quantized | int-quantized | naive-quantized (the weight tensor already holds
 * its 8-bit values), config_groups.*.{targets, weights, input_activations}, ignore.
 * Keys that carry nothing are read past: version, global_compression_ratio,
 * quantization_status, an empty sparsity_config / transform_config (0.14 and later
 * write both, empty), observer, actorder, scale_dtype, zp_dtype.
 * AutoFP8: quant_method "fp8", activation_scheme static|dynamic, ignored_layers; the
 * head is never quantized under this method (see parse_autofp8).
 *
 * A name in targets/ignore is "Linear" (every linear layer), "re:PATTERN" (a Python
 * regular expression matched from the start of the module name, as re.match does) or
 * a module name.  Patterns are compiled with POSIX regcomp after translating the few
 * Python-only spellings seen in real folders ((?:...), \d, \w, \s).
 */
#include "quant_config.h"
#include "file_read.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct quant_pattern {
	char *text;
	bool is_regex;
	regex_t regex;
};

struct quant_group {
	struct quant_scheme scheme;
	struct quant_pattern *targets;
	size_t target_count;
};

static void patterns_free(struct quant_pattern *patterns, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (patterns[i].is_regex)
			regfree(&patterns[i].regex);
		free(patterns[i].text);
	}
	free(patterns);
}

void quant_config_free(struct quant_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->group_count; i++)
		patterns_free(config->groups[i].targets, config->groups[i].target_count);
	free(config->groups);
	patterns_free(config->ignore, config->ignore_count);
	memset(config, 0, sizeof *config);
}

/* Writes LEN bytes of TEXT at *o when out is not NULL; counts them either way. */
static void emit(char *out, size_t *used, const char *text, size_t len)
{
	if (out)
		memcpy(out + *used, text, len);
	*used += len;
}

/* Translates PATTERN into OUT (NULL: only count) and returns the length written, without
 * the NUL.  One function does both passes so that the size and the writing cannot differ:
 * a class expands a 2-byte escape into up to 12 bytes (\w -> [_[:alnum:]]), which no
 * fixed factor of the input length bounds safely. */
static size_t regex_translate(const char *pattern, char *out)
{
	size_t used = 0;
	emit(out, &used, "^(", 2);
	for (const char *p = pattern; *p; p++) {
		if (p[0] == '(' && p[1] == '?' && p[2] == ':') {
			emit(out, &used, "(", 1);
			p += 2;
		} else if (p[0] == '\\' && p[1] == 'd') {
			emit(out, &used, "[0-9]", 5);
			p++;
		} else if (p[0] == '\\' && p[1] == 'w') {
			emit(out, &used, "[_[:alnum:]]", 12);
			p++;
		} else if (p[0] == '\\' && p[1] == 's') {
			emit(out, &used, "[[:space:]]", 11);
			p++;
		} else if (p[0] == '\\' && p[1]) {
			emit(out, &used, p, 2);
			p++;
		} else {
			emit(out, &used, p, 1);
		}
	}
	emit(out, &used, ")", 1);
	return used;
}

/* Python's regex spelling -> POSIX extended, anchored at the start like re.match.  The
 * buffer is sized by a counting pass over the same translation. */
static char *python_regex_to_posix(const char *pattern)
{
	size_t length = regex_translate(pattern, NULL);
	char *out = malloc(length + 1);
	if (!out)
		return NULL;
	regex_translate(pattern, out);
	out[length] = '\0';
	return out;
}

/* Reads a JSON array of strings (KEY, for messages) into patterns. */
static int parse_patterns(const json_t *array, const char *path, const char *key,
			  struct quant_pattern **out, size_t *out_count, char *err, size_t err_size)
{
	*out = NULL;
	*out_count = 0;
	if (!array || json_is_null(array))
		return 0;
	if (!json_is_array(array)) {
		snprintf(err, err_size, "%s: %s is not a list of names", path, key);
		return -1;
	}
	size_t n = json_array_size(array);
	struct quant_pattern *patterns = calloc(n ? n : 1, sizeof *patterns);
	if (!patterns) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	size_t done = 0;
	for (; done < n; done++) {
		const char *text = json_string_value(json_array_get(array, done));
		if (!text) {
			snprintf(err, err_size, "%s: %s[%zu] is not a string", path, key, done);
			goto fail;
		}
		struct quant_pattern *pattern = &patterns[done];
		pattern->text = strdup(text);
		if (!pattern->text) {
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
		if (strncmp(text, "re:", 3) == 0) {
			char *posix = python_regex_to_posix(text + 3);
			int rc = posix ? regcomp(&pattern->regex, posix, REG_EXTENDED | REG_NOSUB) : REG_ESPACE;
			free(posix);
			if (rc != 0) {
				snprintf(err, err_size, "%s: %s pattern \"%.200s\" is not a regular expression llmchat reads",
					 path, key, text);
				free(pattern->text);
				pattern->text = NULL;
				goto fail;
			}
			pattern->is_regex = true;
		}
	}
	*out = patterns;
	*out_count = n;
	return 0;
fail:
	patterns_free(patterns, done);
	return -1;
}

static bool pattern_matches(const struct quant_pattern *pattern, const char *module)
{
	if (pattern->is_regex)
		return regexec(&pattern->regex, module, 0, NULL, 0) == 0;
	return strcmp(pattern->text, "Linear") == 0 || strcmp(pattern->text, module) == 0;
}

static bool any_matches(const struct quant_pattern *patterns, size_t count, const char *module)
{
	for (size_t i = 0; i < count; i++)
		if (pattern_matches(&patterns[i], module))
			return true;
	return false;
}

const struct quant_scheme *quant_config_scheme_for(const struct quant_config *config, const char *module)
{
	if (!config->quantized || any_matches(config->ignore, config->ignore_count, module) ||
	    (config->lm_head_16bit && strcmp(module, "lm_head") == 0))
		return NULL;
	for (size_t i = 0; i < config->group_count; i++)
		if (any_matches(config->groups[i].targets, config->groups[i].target_count, module))
			return &config->groups[i].scheme;
	return NULL;
}

/* A string member, or NULL when absent or null. */
static const char *member_string(const json_t *object, const char *key)
{
	return json_string_value(json_object_get(object, key));
}

/* VALUE as a message shows it: numbers that are integers as integers, even when read as
 * reals ([128, 128], not [128.0,128.0]); anything else as compact JSON. */
static void value_text(const json_t *value, char *out, size_t out_size)
{
	long long integer;
	if (json_get_int64(value, &integer)) {
		snprintf(out, out_size, "%lld", integer);
	} else if (json_is_array(value)) {
		size_t used = (size_t)snprintf(out, out_size, "[");
		for (size_t i = 0; i < json_array_size(value) && used < out_size; i++) {
			char item[48];
			value_text(json_array_get(value, i), item, sizeof item);
			used += (size_t)snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", item);
		}
		if (used < out_size)
			snprintf(out + used, out_size - used, "]");
	} else {
		char *dumped = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
		snprintf(out, out_size, "%s", dumped ? dumped : "?");
		free(dumped);
	}
}

/* group_size: null, or -1 with strategy channel (compressed-tensors' other spelling of
 * per-channel); block_structure: null.  Anything else is group or block quantization,
 * refused by the key that carries it. */
static int check_grouping(const json_t *args, const char *path, const char *what, char *err, size_t err_size)
{
	json_t *group_size = json_object_get(args, "group_size");
	json_t *block = json_object_get(args, "block_structure");
	const char *strategy = member_string(args, "strategy");
	long long size = 0;
	bool per_channel = json_get_int64(group_size, &size) && size == -1 && strategy &&
			   strcmp(strategy, "channel") == 0;
	const char *key = NULL;
	const json_t *value = NULL;
	if (group_size && !json_is_null(group_size) && !per_channel) {
		key = "group_size";
		value = group_size;
	} else if (block && !json_is_null(block)) {
		key = "block_structure";
		value = block;
	}
	if (!key)
		return 0;
	char shown[48];
	value_text(value, shown, sizeof shown);
	snprintf(err, err_size, "%s: %s.%s %s: %s quantization is not supported (per tensor or per channel only)",
		 path, what, key, shown, strcmp(key, "group_size") == 0 ? "group" : "block");
	return -1;
}

/* Checks the fields weights and input_activations share: 8 bits, symmetric, a known type,
 * no grouping.  WHAT is the key path for messages.  The other keys of compressed-tensors'
 * QuantizationArgs carry nothing llmchat needs: observer and observer_kwargs only say how
 * the scales were calibrated; actorder only orders GPTQ's calibration, and without groups
 * nothing of it is stored (no g_idx); scale_dtype is the stored scales' dtype, which
 * model.c checks on the tensor itself; zp_dtype is written only for asymmetric schemes,
 * refused here by symmetric and in model.c by any non-zero zero point. */
static int check_quant_args(const json_t *args, const char *path, const char *what,
			    const char **type_out, char *err, size_t err_size)
{
	long long bits = 0;
	/* json_get_int64: config.json is read with integers as reals (file_read.h) */
	if (!json_get_int64(json_object_get(args, "num_bits"), &bits) || bits != 8) {
		snprintf(err, err_size, "%s: %s.num_bits is not 8 (llmchat runs 8-bit weights and activations only)",
			 path, what);
		return -1;
	}
	const char *type = member_string(args, "type");
	if (!type || (strcmp(type, "float") != 0 && strcmp(type, "int") != 0)) {
		snprintf(err, err_size, "%s: %s.type \"%.40s\" is not supported (float or int)", path, what,
			 type ? type : "(missing)");
		return -1;
	}
	json_t *symmetric = json_object_get(args, "symmetric");
	if (symmetric && !json_is_null(symmetric) && !json_is_true(symmetric)) {
		snprintf(err, err_size, "%s: %s.symmetric is false: asymmetric quantization is not supported",
			 path, what);
		return -1;
	}
	if (check_grouping(args, path, what, err, err_size) != 0)
		return -1;
	*type_out = type;
	return 0;
}

/* One compressed-tensors config group (NAME) -> scheme. */
static int parse_group_scheme(const json_t *group, const char *path, const char *name,
			      struct quant_scheme *scheme, char *err, size_t err_size)
{
	char what[200];
	json_t *weights = json_object_get(group, "weights");
	json_t *inputs = json_object_get(group, "input_activations");
	json_t *outputs = json_object_get(group, "output_activations");
	const char *weight_type, *input_type;
	snprintf(what, sizeof what, "config_groups.%.60s.weights", name);
	if (!json_is_object(weights)) {
		snprintf(err, err_size, "%s: %s is missing", path, what);
		return -1;
	}
	if (check_quant_args(weights, path, what, &weight_type, err, err_size) != 0)
		return -1;
	const char *strategy = member_string(weights, "strategy");
	if (!strategy || (strcmp(strategy, "tensor") != 0 && strcmp(strategy, "channel") != 0)) {
		snprintf(err, err_size, "%s: %s.strategy \"%.40s\" is not supported (tensor or channel)", path, what,
			 strategy ? strategy : "(missing)");
		return -1;
	}
	if (json_is_true(json_object_get(weights, "dynamic"))) {
		snprintf(err, err_size, "%s: %s.dynamic is true: weights quantized at run time are not supported", path, what);
		return -1;
	}
	scheme->format = strcmp(weight_type, "float") == 0 ? WEIGHT_FORMAT_FP8 : WEIGHT_FORMAT_INT8;

	snprintf(what, sizeof what, "config_groups.%.60s.input_activations", name);
	if (!json_is_object(inputs)) {
		snprintf(err, err_size, "%s: %s is null: weight-only quantization is not supported (W8A8 only)", path, what);
		return -1;
	}
	if (check_quant_args(inputs, path, what, &input_type, err, err_size) != 0)
		return -1;
	if (strcmp(input_type, weight_type) != 0) {
		snprintf(err, err_size, "%s: %s.type %s differs from the weights' type %s", path, what, input_type, weight_type);
		return -1;
	}
	json_t *dynamic = json_object_get(inputs, "dynamic");
	strategy = member_string(inputs, "strategy");
	bool is_float = scheme->format == WEIGHT_FORMAT_FP8;
	if (json_is_false(dynamic) && strategy && strcmp(strategy, "tensor") == 0) {
		scheme->activation = is_float ? ACTIVATION_FP8_STATIC : ACTIVATION_INT8_STATIC;
	} else if (json_is_true(dynamic) && strategy && strcmp(strategy, "token") == 0) {
		scheme->activation = is_float ? ACTIVATION_FP8_DYNAMIC : ACTIVATION_INT8_DYNAMIC;
	} else {
		char shown[48];
		value_text(dynamic ? dynamic : json_null(), shown, sizeof shown);
		snprintf(err, err_size, "%s: %s with dynamic %s and strategy \"%.40s\" is not supported "
			 "(static per tensor, or dynamic per token)", path, what, shown, strategy ? strategy : "(missing)");
		return -1;
	}
	if (outputs && !json_is_null(outputs)) {
		snprintf(err, err_size, "%s: config_groups.%.60s.output_activations is set: output quantization is not supported",
			 path, name);
		return -1;
	}
	return 0;
}

/* A compressed-tensors storage format (KEY names it): ours store the 8-bit values as they are. */
static int check_format(const char *format, const char *path, const char *key, char *err, size_t err_size)
{
	if (!format || strcmp(format, "float-quantized") == 0 || strcmp(format, "int-quantized") == 0 ||
	    strcmp(format, "naive-quantized") == 0)
		return 0;
	snprintf(err, err_size, "%s: quantization %s \"%.60s\" is not supported "
		 "(float-quantized, int-quantized or naive-quantized)", path, key, format);
	return -1;
}

/* sparsity_config: compressed-tensors 0.14 and later always write it, empty ({}) when the
 * weights are not sparse; older writers wrote null, or an object whose format "dense"
 * says the weights are stored whole.  Any other format (sparse-24-bitmask,
 * sparse-bitmask, ...) stores sparse weights, which llmchat does not read. */
static int check_sparsity(const json_t *sparsity, const char *path, char *err, size_t err_size)
{
	if (!sparsity || json_is_null(sparsity) || (json_is_object(sparsity) && json_object_size(sparsity) == 0))
		return 0;
	if (!json_is_object(sparsity)) {
		snprintf(err, err_size, "%s: sparsity_config is not an object", path);
		return -1;
	}
	const char *format = member_string(sparsity, "format");
	if (format && strcmp(format, "dense") == 0)
		return 0;
	snprintf(err, err_size, "%s: sparsity_config format \"%.60s\" is not supported (sparse weights)", path,
		 format ? format : "(missing)");
	return -1;
}

/* transform_config: {} when there is none (compressed-tensors' TransformConfig holds only
 * config_groups); a transform group means the weights were rotated (SpinQuant, QuIP
 * Hadamard transforms) and need the same transforms at run time. */
static int check_transforms(const json_t *transforms, const char *path, char *err, size_t err_size)
{
	if (!transforms || json_is_null(transforms))
		return 0;
	if (!json_is_object(transforms)) {
		snprintf(err, err_size, "%s: transform_config is not an object", path);
		return -1;
	}
	json_t *groups = json_object_get(transforms, "config_groups");
	if (!groups || json_is_null(groups) || (json_is_object(groups) && json_object_size(groups) == 0))
		return 0;
	const char *first = json_is_object(groups) ? json_object_iter_key(json_object_iter(groups)) : NULL;
	snprintf(err, err_size, "%s: transform_config holds transforms (config_groups%s%.60s): rotated weights "
		 "(SpinQuant, QuIP) are not supported", path, first ? "." : "", first ? first : "");
	return -1;
}

static int parse_compressed_tensors(const json_t *block, const char *path, struct quant_config *out,
				    char *err, size_t err_size)
{
	/* newer compressed-tensors writes "mixed-precision" on top and a format per group */
	const char *format = member_string(block, "format");
	bool per_group_format = format && strcmp(format, "mixed-precision") == 0;
	if (!per_group_format && check_format(format, path, "format", err, err_size) != 0)
		return -1;
	if (check_sparsity(json_object_get(block, "sparsity_config"), path, err, err_size) != 0 ||
	    check_transforms(json_object_get(block, "transform_config"), path, err, err_size) != 0)
		return -1;
	json_t *kv = json_object_get(block, "kv_cache_scheme");
	out->kv_cache_scheme = kv && !json_is_null(kv);

	json_t *groups = json_object_get(block, "config_groups");
	if (!json_is_object(groups) || json_object_size(groups) == 0) {
		snprintf(err, err_size, "%s: quantization config_groups missing or empty", path);
		return -1;
	}
	out->groups = calloc(json_object_size(groups), sizeof *out->groups);
	if (!out->groups) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	const char *name;
	json_t *group;
	json_object_foreach((json_t *)groups, name, group) {
		struct quant_group *g = &out->groups[out->group_count];
		if (!json_is_object(group)) {
			snprintf(err, err_size, "%s: config_groups.%.60s is not an object", path, name);
			return -1;
		}
		char key[100];
		snprintf(key, sizeof key, "config_groups.%.60s.format", name);
		if (check_format(member_string(group, "format"), path, key, err, err_size) != 0 ||
		    parse_group_scheme(group, path, name, &g->scheme, err, err_size) != 0)
			return -1;
		snprintf(key, sizeof key, "config_groups.%.60s.targets", name);
		if (parse_patterns(json_object_get(group, "targets"), path, key, &g->targets, &g->target_count,
				   err, err_size) != 0)
			return -1;
		out->group_count++;
		if (out->group_count > 1 && g->scheme.format != out->groups[0].scheme.format) {
			snprintf(err, err_size, "%s: config_groups mix FP8 and INT8 weights; llmchat runs one format", path);
			return -1;
		}
	}
	out->format = out->groups[0].scheme.format;
	return parse_patterns(json_object_get(block, "ignore"), path, "ignore", &out->ignore, &out->ignore_count,
			      err, err_size);
}

static int parse_autofp8(const json_t *block, const char *path, struct quant_config *out, char *err, size_t err_size)
{
	const char *scheme = member_string(block, "activation_scheme");
	enum activation_quant activation;
	if (scheme && strcmp(scheme, "static") == 0) {
		activation = ACTIVATION_FP8_STATIC;
	} else if (scheme && strcmp(scheme, "dynamic") == 0) {
		activation = ACTIVATION_FP8_DYNAMIC;
	} else {
		snprintf(err, err_size, "%s: activation_scheme \"%.40s\" is not supported (static or dynamic)", path,
			 scheme ? scheme : "(missing)");
		return -1;
	}
	json_t *block_size = json_object_get(block, "weight_block_size");
	if (block_size && !json_is_null(block_size)) {
		snprintf(err, err_size, "%s: weight_block_size is set: block-wise FP8 is not supported", path);
		return -1;
	}
	json_t *kv = json_object_get(block, "kv_cache_quant_targets");
	out->kv_cache_scheme = kv && !json_is_null(kv) && !(json_is_array(kv) && json_array_size(kv) == 0);
	out->groups = calloc(1, sizeof *out->groups);
	if (!out->groups) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	json_t *linear = json_pack("[s]", "Linear");
	int rc = linear ? parse_patterns(linear, path, "targets", &out->groups[0].targets,
					 &out->groups[0].target_count, err, err_size) : -1;
	json_decref(linear);
	if (rc != 0)
		return -1;
	out->groups[0].scheme = (struct quant_scheme){WEIGHT_FORMAT_FP8, activation};
	/* The head stays in 16 bits whatever ignored_layers says: AutoFP8 leaves lm_head out by
	 * default (neuralmagic/Meta-Llama-3-8B-Instruct-FP8 has no ignored_layers and a BF16
	 * head), and vLLM's fp8 method quantizes linear layers only, never the vocabulary
	 * head, so an FP8 lm_head.weight would not run there either. */
	out->lm_head_16bit = true;
	out->group_count = 1;
	out->format = WEIGHT_FORMAT_FP8;
	return parse_patterns(json_object_get(block, "ignored_layers"), path, "ignored_layers", &out->ignore,
			      &out->ignore_count, err, err_size);
}

int quant_config_parse(const json_t *root, const char *path, struct quant_config *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof *out);
	const char *key = "quantization_config";
	json_t *block = json_object_get(root, key);
	if (!block || json_is_null(block)) {
		/* early llm-compressor (mid-2024) named the same block compression_config */
		key = "compression_config";
		block = json_object_get(root, key);
	}
	if (!block || json_is_null(block))
		return 0;
	if (!json_is_object(block)) {
		snprintf(err, err_size, "%s: %s is not an object", path, key);
		return -1;
	}
	const char *method = member_string(block, "quant_method");
	if (!method && strcmp(key, "compression_config") == 0)
		method = "compressed-tensors";
	int rc;
	if (method && strcmp(method, "compressed-tensors") == 0) {
		rc = parse_compressed_tensors(block, path, out, err, err_size);
	} else if (method && strcmp(method, "fp8") == 0) {
		rc = parse_autofp8(block, path, out, err, err_size);
	} else {
		snprintf(err, err_size, "%s: %s.quant_method \"%.40s\" is not supported "
			 "(compressed-tensors FP8/INT8 W8A8 or AutoFP8 fp8)", path, key, method ? method : "(missing)");
		rc = -1;
	}
	if (rc != 0) {
		quant_config_free(out);
		return -1;
	}
	out->quantized = true;
	return 0;
}
