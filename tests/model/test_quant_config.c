/*
 * test_quant_config.c - quant_config_parse on quantization blocks as the writers emit them.
 *
 * TODAY is the block compressed-tensors 0.14-0.18 writes for an FP8-dynamic Llama
 * (llm-compressor's FP8_DYNAMIC scheme; keys sorted, as update_config's json.dump
 * sort_keys=True leaves them): empty sparsity_config and transform_config, version,
 * global_compression_ratio null, a format per group, and actorder, block_structure,
 * observer, observer_kwargs, scale_dtype, zp_dtype in each argument block.  Each refusal
 * case changes one key of it and checks that the message names that key.  Parsed as
 * json_read_file parses (integers past 64 bits as reals), and once with plain integers.
 */
#include <string.h>

#include <jansson.h>

#include "quant_config.h"
#include "tap.h"

#define QUANT_ARGS_FP8_WEIGHTS \
	"{\"actorder\": null, \"block_structure\": null, \"dynamic\": false, \"group_size\": null, " \
	"\"num_bits\": 8, \"observer\": \"minmax\", \"observer_kwargs\": {}, \"scale_dtype\": null, " \
	"\"strategy\": \"channel\", \"symmetric\": true, \"type\": \"float\", \"zp_dtype\": null}"
#define QUANT_ARGS_FP8_TOKENS \
	"{\"actorder\": null, \"block_structure\": null, \"dynamic\": true, \"group_size\": null, " \
	"\"num_bits\": 8, \"observer\": null, \"observer_kwargs\": {}, \"scale_dtype\": null, " \
	"\"strategy\": \"token\", \"symmetric\": true, \"type\": \"float\", \"zp_dtype\": null}"

static const char TODAY[] =
	"{\"architectures\": [\"LlamaForCausalLM\"], \"quantization_config\": {"
	"\"config_groups\": {\"group_0\": {\"format\": \"float-quantized\", \"input_activations\": "
	QUANT_ARGS_FP8_TOKENS ", \"output_activations\": null, \"targets\": [\"Linear\"], \"weights\": "
	QUANT_ARGS_FP8_WEIGHTS "}}, "
	"\"format\": \"float-quantized\", \"global_compression_ratio\": null, \"ignore\": [\"lm_head\"], "
	"\"kv_cache_scheme\": null, \"quant_method\": \"compressed-tensors\", \"quantization_status\": \"compressed\", "
	"\"sparsity_config\": {}, \"transform_config\": {}, \"version\": \"0.18.1\"}}";

/* Parses TEXT (json_read_file's flags unless plain_integers) after EDIT, a JSON object
 * merged into quantization_config (NULL: none; a key set to the string "-" is removed).
 * Returns quant_config_parse's status; *config is filled on success. */
static int parse_edited(const char *text, const char *edit, bool plain_integers, struct quant_config *config,
			char *err, size_t err_size)
{
	json_error_t jerr;
	size_t flags = JSON_REJECT_DUPLICATES | (plain_integers ? 0 : JSON_DECODE_INT_AS_REAL);
	json_t *root = json_loads(text, flags, &jerr);
	json_t *changes = edit ? json_loads(edit, flags, &jerr) : NULL;
	if (!root || (edit && !changes)) {
		snprintf(err, err_size, "test JSON: %s", jerr.text);
		json_decref(root);
		return -2;
	}
	json_t *block = json_object_get(root, "quantization_config");
	const char *key;
	json_t *value;
	json_object_foreach(changes, key, value) {
		if (json_is_string(value) && strcmp(json_string_value(value), "-") == 0)
			json_object_del(block, key);
		else
			json_object_set(block, key, value);
	}
	int rc = quant_config_parse(root, "config.json", config, err, err_size);
	json_decref(changes);
	json_decref(root);
	return rc;
}

static void accepted(const char *text, const char *edit, const char *name)
{
	char err[512] = "";
	struct quant_config config;
	int rc = parse_edited(text, edit, false, &config, err, sizeof err);
	if (!tap_ok(rc == 0 && config.quantized, "accepts %s", name))
		tap_diag("%s", err);
	if (rc == 0)
		quant_config_free(&config);
}

static void refused(const char *text, const char *edit, const char *keyword, const char *name)
{
	char err[512] = "";
	struct quant_config config;
	int rc = parse_edited(text, edit, false, &config, err, sizeof err);
	if (!tap_ok(rc == -1 && strstr(err, keyword) && !strchr(err, '\n'), "refuses %s, naming %s", name, keyword))
		tap_diag("rc %d, message: %s", rc, err);
	if (rc == 0)
		quant_config_free(&config);
}

/* The scheme MODULE gets: 'n' none (16 bits), 'S'/'D' FP8 static/dynamic, 's'/'d' INT8. */
static char scheme_letter(const struct quant_config *config, const char *module)
{
	const struct quant_scheme *s = quant_config_scheme_for(config, module);
	if (!s)
		return 'n';
	switch (s->activation) {
	case ACTIVATION_FP8_STATIC: return 'S';
	case ACTIVATION_FP8_DYNAMIC: return 'D';
	case ACTIVATION_INT8_STATIC: return 's';
	case ACTIVATION_INT8_DYNAMIC: return 'd';
	default: return '?';
	}
}

static void test_today(void)
{
	char err[512] = "";
	struct quant_config config;
	for (int plain = 0; plain < 2; plain++) {
		int rc = parse_edited(TODAY, NULL, plain, &config, err, sizeof err);
		if (!tap_ok(rc == 0, "compressed-tensors 0.18 FP8-dynamic block parses (%s)",
			    plain ? "integers as integers" : "integers as reals, as json_read_file reads"))
			tap_diag("%s", err);
		if (rc != 0)
			continue;
		tap_ok(config.format == WEIGHT_FORMAT_FP8 && scheme_letter(&config, "model.layers.0.self_attn.q_proj") == 'D' &&
		       scheme_letter(&config, "model.layers.31.mlp.down_proj") == 'D' &&
		       scheme_letter(&config, "lm_head") == 'n' && !config.kv_cache_scheme,
		       "every linear FP8 dynamic, lm_head ignored (%s)", plain ? "integers" : "reals");
		quant_config_free(&config);
	}
	accepted(TODAY, "{\"quantization_status\": \"frozen\", \"global_compression_ratio\": 1.4611}",
		 "quantization_status frozen and a numeric global_compression_ratio");
	accepted(TODAY, "{\"sparsity_config\": null, \"transform_config\": null}", "null sparsity/transform configs");
	accepted(TODAY, "{\"sparsity_config\": \"-\", \"transform_config\": \"-\", \"version\": \"-\"}",
		 "a block without the newer keys (compressed-tensors 0.6)");
	accepted(TODAY, "{\"sparsity_config\": {\"format\": \"dense\", \"global_sparsity\": 0.0, \"ignore\": [], "
		 "\"registry_requires_subclass\": false, \"sparsity_structure\": \"unstructured\", \"targets\": []}}",
		 "a dense sparsity_config (weights stored whole)");
	accepted(TODAY, "{\"transform_config\": {\"config_groups\": {}}}", "a transform_config without transforms");
	accepted(TODAY, "{\"format\": \"mixed-precision\"}", "mixed-precision on top with a format per group");
}

static void test_refusals(void)
{
	refused(TODAY, "{\"sparsity_config\": {\"format\": \"sparse-24-bitmask\", \"global_sparsity\": 0.45, "
		"\"ignore\": [\"lm_head\"], \"registry_requires_subclass\": false, \"sparsity_structure\": \"2:4\", "
		"\"targets\": [\"Linear\"]}}", "sparse-24-bitmask", "a 2:4 sparse folder");
	refused(TODAY, "{\"sparsity_config\": {\"sparsity_structure\": \"2:4\"}}", "sparsity_config",
		"a sparsity_config without a format");
	refused(TODAY, "{\"sparsity_config\": \"dense\"}", "sparsity_config", "a sparsity_config that is no object");
	refused(TODAY, "{\"transform_config\": {\"config_groups\": {\"R1\": {\"apply\": [{\"ignore\": [], "
		"\"inverse\": false, \"location\": \"weight_input\", \"targets\": [\"Linear\"]}], \"head_dim\": null, "
		"\"precision\": \"torch.float64\", \"randomize\": false, \"requires_grad\": false, \"type\": \"hadamard\"}}}}",
		"transform_config", "a Hadamard transform (SpinQuant/QuIP)");
	refused(TODAY, "{\"transform_config\": [1]}", "transform_config", "a transform_config that is no object");

	/* one argument of group_0.weights changed at a time */
	static const struct {
		const char *member, *value, *keyword, *name;
	} weights[] = {
		{"group_size", "128", "group_size 128", "group quantization"},
		{"block_structure", "[128, 128]", "block_structure [128, 128]", "block quantization"},
		{"symmetric", "false", "symmetric is false", "an asymmetric scheme"},
		{"num_bits", "4", "num_bits", "4-bit weights"},
		{"strategy", "\"tensor_group\"", "tensor_group", "NVFP4's tensor_group strategy"},
	};
	for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
		char text[sizeof TODAY + 200], key[64];
		snprintf(key, sizeof key, "\"%s\": ", weights[i].member);
		/* the weights block is the second arguments block of TODAY */
		const char *block = strstr(TODAY, "\"weights\": {");
		const char *at = strstr(block, key);
		const char *end = at + strlen(key);
		while (*end != ',' && *end != '}')
			end++;
		snprintf(text, sizeof text, "%.*s%s%s%s", (int)(at - TODAY), TODAY, key, weights[i].value, end);
		refused(text, NULL, weights[i].keyword, weights[i].name);
	}
	char text[sizeof TODAY + 200];
	const char *channel = strstr(strstr(TODAY, "\"weights\": {"), "\"group_size\": null");
	snprintf(text, sizeof text, "%.*s\"group_size\": -1%s", (int)(channel - TODAY), TODAY,
		 channel + strlen("\"group_size\": null"));
	accepted(text, NULL, "group_size -1 with strategy channel (compressed-tensors' spelling of per-channel)");
	const char *actorder = strstr(strstr(TODAY, "\"weights\": {"), "\"actorder\": null");
	snprintf(text, sizeof text, "%.*s\"actorder\": \"weight\"%s", (int)(actorder - TODAY), TODAY,
		 actorder + strlen("\"actorder\": null"));
	accepted(text, NULL, "actorder weight without groups (GPTQ's calibration order; nothing stored)");
}

#define OLD_KEYS "\"sparsity_config\": \"-\", \"transform_config\": \"-\", "

/* Python-only regex spellings expand (\w is 2 bytes in, 12 out); issue 20 found the old
 * fixed-factor buffer overflowed.  Under ASan these fail before the fix.  The block is
 * TODAY less its 2025 keys, with integers as integers: what the loader took before
 * either fix, so that this test shows the overflow alone. */
static void test_regex_patterns(void)
{
	char err[512] = "", text[8192];
	struct quant_config config;
	int rc = parse_edited(TODAY, "{" OLD_KEYS "\"ignore\": [\"re:\\\\w\"]}", true, &config, err, sizeof err);
	if (tap_ok(rc == 0, "ignore re:\\w parses"))
		tap_ok(scheme_letter(&config, "lm_head") == 'n' && scheme_letter(&config, "model.norm") == 'n',
		       "re:\\w matches any name starting with a word character");
	else
		tap_diag("%s", err);
	if (rc == 0)
		quant_config_free(&config);

	/* 300 classes: the old n*5+4 buffer was short by 300*2 bytes */
	size_t used = (size_t)snprintf(text, sizeof text, "{" OLD_KEYS "\"ignore\": [\"re:");
	for (int i = 0; i < 100; i++)
		used += (size_t)snprintf(text + used, sizeof text - used, "\\\\w\\\\s\\\\d");
	snprintf(text + used, sizeof text - used, "\", \"re:.*lm_head\"]}");
	rc = parse_edited(TODAY, text, true, &config, err, sizeof err);
	if (tap_ok(rc == 0, "an ignore pattern of 300 \\w, \\s, \\d classes parses"))
		tap_ok(scheme_letter(&config, "lm_head") == 'n' && scheme_letter(&config, "model.layers.0.mlp.up_proj") == 'D',
		       "and matches only what it spells");
	else
		tap_diag("%s", err);
	if (rc == 0)
		quant_config_free(&config);

	const char *targets = "{" OLD_KEYS "\"config_groups\": {\"group_0\": {\"format\": \"float-quantized\", \"input_activations\": "
		QUANT_ARGS_FP8_TOKENS ", \"output_activations\": null, \"targets\": "
		"[\"re:\\\\w+\\\\.layers\\\\.\\\\d+\\\\.(?:self_attn|mlp)\\\\.\\\\w+_proj$\"], \"weights\": "
		QUANT_ARGS_FP8_WEIGHTS "}}}";
	rc = parse_edited(TODAY, targets, true, &config, err, sizeof err);
	if (tap_ok(rc == 0, "config_groups targets with \\w, \\d and (?:...) parse")) {
		tap_ok(scheme_letter(&config, "model.layers.17.self_attn.o_proj") == 'D' &&
		       scheme_letter(&config, "model.layers.x.mlp.up_proj") == 'n' &&
		       scheme_letter(&config, "model.layers.3.mlp.gate_proj.extra") == 'n',
		       "targets match as Python's re.match would");
		quant_config_free(&config);
	} else {
		tap_diag("%s", err);
	}

	const char *autofp8 = "{\"quantization_config\": {\"activation_scheme\": \"static\", "
			      "\"ignored_layers\": [\"re:\\\\w\\\\w\\\\w\\\\w\\\\.\\\\s*norm\"], \"quant_method\": \"fp8\"}}";
	rc = parse_edited(autofp8, NULL, false, &config, err, sizeof err);
	if (tap_ok(rc == 0, "AutoFP8 ignored_layers with \\w and \\s parse"))
		quant_config_free(&config);
	else
		tap_diag("%s", err);
	refused(TODAY, "{\"ignore\": [\"re:(\"]}", "\"re:(\"", "an unbalanced pattern, by its text");
}

/* AutoFP8 (quant_method fp8) never quantizes lm_head: AutoFP8 leaves it out by default and
 * vLLM's Fp8Config quantizes linear layers only, never the vocabulary head. */
static void test_autofp8_head(void)
{
	static const char *configs[] = {
		/* neuralmagic/Meta-Llama-3-8B-Instruct-FP8, the whole block */
		"{\"quantization_config\": {\"activation_scheme\": \"static\", \"quant_method\": \"fp8\"}}",
		"{\"quantization_config\": {\"activation_scheme\": \"dynamic\", \"ignored_layers\": [], \"quant_method\": \"fp8\"}}",
		"{\"quantization_config\": {\"activation_scheme\": \"static\", "
		"\"ignored_layers\": [\"model.layers.0.mlp.down_proj\"], \"quant_method\": \"fp8\"}}",
	};
	static const char *names[] = {"no ignored_layers", "an empty ignored_layers", "ignored_layers without lm_head"};
	for (size_t i = 0; i < 3; i++) {
		char err[512] = "";
		struct quant_config config;
		int rc = parse_edited(configs[i], NULL, false, &config, err, sizeof err);
		if (!tap_ok(rc == 0, "AutoFP8 with %s parses", names[i])) {
			tap_diag("%s", err);
			continue;
		}
		char want = i == 1 ? 'D' : 'S';
		tap_ok(scheme_letter(&config, "lm_head") == 'n' && scheme_letter(&config, "model.layers.1.mlp.down_proj") == want &&
		       scheme_letter(&config, "model.layers.0.mlp.down_proj") == (i == 2 ? 'n' : want),
		       "AutoFP8 with %s: lm_head stays 16-bit, the rest as listed", names[i]);
		quant_config_free(&config);
	}
}

int main(void)
{
	test_today();
	test_refusals();
	test_regex_patterns();
	test_autofp8_head();
	return tap_done();
}
