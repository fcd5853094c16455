/*
 * test_model_config.c - config.json and generation_config.json as real folders write them.
 *
 * Each case writes a config.json (and sometimes a generation_config.json) into a fresh
 * folder and checks what model_config_load makes of it, or the key its refusal names.
 * The quantization block's module matching is checked through quant_config directly.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "model.h"
#include "quant_config.h"
#include "scratch.h"
#include "tap.h"

static char dir[4096];
static int case_number;

/* The smallest valid Llama config; EXTRA is spliced in before the closing brace and may
 * override earlier keys (json_loads keeps the last; JSON_REJECT_DUPLICATES is avoided by
 * building through jansson). */
static int load(const char *extra, const char *generation, struct model_config *config, char *err, size_t err_size)
{
	char folder[4200];
	snprintf(folder, sizeof folder, "%s/case%d", dir, ++case_number);
	json_t *root = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f}", "architectures", "LlamaForCausalLM",
				 "model_type", "llama", "hidden_size", 4096, "intermediate_size", 14336,
				 "num_hidden_layers", 32, "num_attention_heads", 32, "num_key_value_heads", 8,
				 "vocab_size", 128256, "max_position_embeddings", 131072, "rms_norm_eps", 1e-5,
				 "rope_theta", 500000.0);
	json_t *patch = extra ? json_loads(extra, 0, NULL) : json_object();
	if (!patch)
		tap_diag("bad test JSON: %s", extra);
	json_object_update(root, patch);
	/* a key set to the string "DELETE" is removed */
	const char *key;
	json_t *value;
	void *tmp;
	json_object_foreach_safe(root, tmp, key, value) {
		if (json_is_string(value) && strcmp(json_string_value(value), "DELETE") == 0)
			json_object_del(root, key);
	}
	char *text = json_dumps(root, JSON_INDENT(2));
	scratch_write(folder, "config.json", text, strlen(text));
	free(text);
	json_decref(root);
	json_decref(patch);
	if (generation)
		scratch_write(folder, "generation_config.json", generation, strlen(generation));
	err[0] = '\0';
	return model_config_load(folder, config, err, err_size);
}

static void refused(const char *rule, const char *extra, const char *generation, const char *keyword)
{
	struct model_config config;
	char err[512];
	int rc = load(extra, generation, &config, err, sizeof err);
	if (!tap_ok(rc == -1 && strstr(err, keyword) && !strchr(err, '\n'), "refuses %s", rule))
		tap_diag("rc %d, message: %s (want \"%s\")", rc, err, keyword);
}

static void test_llama31_8b(void)
{
	struct model_config c;
	char err[512];
	int rc = load("{\"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
		      "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"bos_token_id\": 128000,"
		      "\"eos_token_id\": 128009, \"torch_dtype\": \"bfloat16\", \"tie_word_embeddings\": false}",
		      "{\"bos_token_id\": 128000, \"do_sample\": true, \"eos_token_id\": [128001, 128008, 128009],"
		      " \"temperature\": 0.6, \"top_p\": 0.9, \"transformers_version\": \"4.43.0.dev0\"}",
		      &c, err, sizeof err);
	if (!tap_ok(rc == 0, "loads a Llama 3.1 8B Instruct config")) {
		tap_diag("%s", err);
		return;
	}
	tap_ok(strcmp(c.architecture, "LlamaForCausalLM") == 0, "architecture");
	tap_ok(c.hidden_size == 4096 && c.intermediate_size == 14336 && c.num_hidden_layers == 32 &&
	       c.num_attention_heads == 32 && c.num_key_value_heads == 8 && c.vocab_size == 128256, "sizes");
	tap_ok(c.head_dim == 128, "head_dim defaults to hidden / heads");
	tap_ok(fabsf(c.rms_norm_eps - 1e-5f) < 1e-12f && c.rope_theta == 500000.0, "rms_norm_eps and rope_theta");
	tap_ok(c.rope_llama3 && c.rope_factor == 8.0 && c.rope_low_freq_factor == 1.0 && c.rope_high_freq_factor == 4.0 &&
	       c.rope_original_max_position_embeddings == 8192, "llama3 rope scaling");
	tap_ok(c.eos_token_count == 3 && c.eos_token_ids[0] == 128001 && c.eos_token_ids[1] == 128008 &&
	       c.eos_token_ids[2] == 128009, "eos list from generation_config.json wins over config.json");
	tap_ok(c.bos_token_id == 128000, "bos_token_id");
	tap_ok(fabsf(c.default_temperature - 0.6f) < 1e-6f && fabsf(c.default_top_p - 0.9f) < 1e-6f &&
	       c.default_top_k == -1, "sampling defaults; top_k absent is -1");
	tap_ok(c.format == WEIGHT_FORMAT_BF16 && strcmp(weight_format_name(c.format), "BF16") == 0, "format BF16");
	tap_ok(!c.tie_word_embeddings && !c.kv_cache_scheme_ignored, "not tied, no KV scheme");
}

static void test_variants(void)
{
	struct model_config c;
	char err[512];
	tap_ok(load("{\"num_key_value_heads\": \"DELETE\", \"rms_norm_eps\": \"DELETE\", \"rope_theta\": \"DELETE\","
		    "\"max_position_embeddings\": \"DELETE\", \"eos_token_id\": 128001}", NULL, &c, err, sizeof err) == 0 &&
	       c.num_key_value_heads == 32 && fabsf(c.rms_norm_eps - 1e-6f) < 1e-12f && c.rope_theta == 10000.0 &&
	       c.max_position_embeddings == 2048 && !c.rope_llama3, "transformers' defaults for absent keys");
	tap_ok(c.eos_token_count == 1 && c.eos_token_ids[0] == 128001 && c.bos_token_id == -1 &&
	       isnan(c.default_temperature) && isnan(c.default_top_p),
	       "an int eos from config.json; no generation_config: NAN defaults, bos -1");
	tap_ok(load("{\"rope_scaling\": {\"type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0,"
		    "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}", NULL, &c, err, sizeof err) == 0 &&
	       c.rope_llama3 && c.rope_factor == 32.0, "older rope_scaling.type spelling");
	tap_ok(load("{\"rope_scaling\": null}", NULL, &c, err, sizeof err) == 0 && !c.rope_llama3,
	       "rope_scaling null is plain RoPE");
	tap_ok(load("{\"rope_theta\": \"DELETE\", \"torch_dtype\": \"DELETE\", \"dtype\": \"float16\","
		    "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 32.0,"
		    "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}",
		    NULL, &c, err, sizeof err) == 0 && c.rope_llama3 && c.rope_theta == 500000.0 && c.rope_factor == 32.0 &&
	       c.format == WEIGHT_FORMAT_F16, "transformers 5 rope_parameters and dtype");
	tap_ok(load("{\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 250000}}", NULL, &c, err,
		    sizeof err) == 0 && !c.rope_llama3 && c.rope_theta == 250000.0, "rope_parameters of type default");
	tap_ok(load("{\"hidden_size\": 3072, \"num_attention_heads\": 24, \"head_dim\": 128, \"tie_word_embeddings\": true}",
		    NULL, &c, err, sizeof err) == 0 && c.head_dim == 128 && c.tie_word_embeddings,
	       "Llama 3.2 3B: head_dim given, tied embeddings");
	tap_ok(load("{\"hidden_size\": 100, \"num_attention_heads\": 8, \"num_key_value_heads\": 2, \"head_dim\": 16}",
		    NULL, &c, err, sizeof err) == 0 && c.head_dim == 16, "head_dim given: heads need not divide hidden_size");
	tap_ok(load(NULL, "{\"eos_token_id\": [1,2,3,4,5,6,7,8,9,10], \"top_k\": 50}", &c, err, sizeof err) == 0 &&
	       c.eos_token_count == MODEL_MAX_EOS && c.eos_token_ids[7] == 8 && c.default_top_k == 50,
	       "keeps the first MODEL_MAX_EOS eos ids; top_k read");
	tap_ok(load("{\"quantization_config\": {\"quant_method\": \"fp8\", \"activation_scheme\": \"static\","
		    "\"ignored_layers\": [\"lm_head\"], \"kv_cache_quant_targets\": [\"k_proj\", \"v_proj\"]}}", NULL, &c,
		    err, sizeof err) == 0 && c.format == WEIGHT_FORMAT_FP8 && c.kv_cache_scheme_ignored,
	       "AutoFP8 with KV targets: FP8, KV scheme flagged as ignored");
	tap_ok(load("{\"compression_config\": {\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"],"
		    "\"weights\": {\"num_bits\": 8, \"type\": \"int\", \"strategy\": \"channel\", \"symmetric\": true,"
		    "\"dynamic\": false}, \"input_activations\": {\"num_bits\": 8, \"type\": \"int\", \"strategy\": \"token\","
		    "\"symmetric\": true, \"dynamic\": true}}}, \"format\": \"int-quantized\", \"ignore\": [\"lm_head\"]}}",
		    NULL, &c, err, sizeof err) == 0 && c.format == WEIGHT_FORMAT_INT8 &&
	       strcmp(weight_format_name(c.format), "INT8") == 0,
	       "compression_config without quant_method is compressed-tensors INT8");
	tap_ok(load("{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"mixed-precision\","
		    "\"config_groups\": {\"group_0\": {\"format\": \"float-quantized\", \"targets\": [\"Linear\"],"
		    "\"weights\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"channel\"},"
		    "\"input_activations\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"token\", \"dynamic\": true}}}}}",
		    NULL, &c, err, sizeof err) == 0 && c.format == WEIGHT_FORMAT_FP8,
	       "mixed-precision on top with a float-quantized group");
	tap_ok(strcmp(weight_format_name(WEIGHT_FORMAT_FP8), "FP8") == 0 && strcmp(weight_format_name(WEIGHT_FORMAT_F16), "F16") == 0,
	       "format names");
}

#define GROUP(weights, inputs) \
	"{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\"," \
	"\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": " weights ", \"input_activations\": " \
	inputs "}}}}"
#define W_FP8 "{\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"tensor\", \"symmetric\": true, \"dynamic\": false}"
#define A_FP8 "{\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"tensor\", \"symmetric\": true, \"dynamic\": false}"

static void test_refusals(void)
{
	struct model_config c;
	char err[512];
	tap_ok(model_config_load("/nonexistent-folder", &c, err, sizeof err) == -1 &&
	       strstr(err, "/nonexistent-folder/config.json"), "refuses a folder without config.json, naming it");
	refused("a Mistral by its architecture", "{\"architectures\": [\"MistralForCausalLM\"]}", NULL, "MistralForCausalLM");
	refused("a control character, keeping the message one line", "{\"model_type\": \"Bad\\nType\\u001b[31m\"}",
		NULL, "model_type \"Bad?Type?[31m\"");
	refused("a mixed-precision group in a packed format", "{\"quantization_config\": {\"quant_method\": "
		"\"compressed-tensors\", \"format\": \"mixed-precision\", \"config_groups\": {\"g\": {\"format\": "
		"\"nvfp4-pack-quantized\"}}}}", NULL, "config_groups.g.format \"nvfp4-pack-quantized\"");
	refused("a model_type other than llama", "{\"model_type\": \"mistral\"}", NULL, "model_type \"mistral\"");
	refused("KV heads that do not divide heads", "{\"num_key_value_heads\": 3}", NULL,
		"num_key_value_heads (3) does not divide num_attention_heads (32)");
	refused("heads that do not divide hidden_size", "{\"num_attention_heads\": 30, \"num_key_value_heads\": 5}", NULL,
		"does not divide hidden_size");
	refused("a negative hidden_size", "{\"hidden_size\": -4096}", NULL, "hidden_size");
	refused("a string vocab_size", "{\"vocab_size\": \"128256\"}", NULL, "vocab_size");
	refused("a missing num_hidden_layers", "{\"num_hidden_layers\": \"DELETE\"}", NULL, "num_hidden_layers is missing");
	refused("an odd head_dim", "{\"head_dim\": 127}", NULL, "head_dim");
	refused("a zero rms_norm_eps", "{\"rms_norm_eps\": 0}", NULL, "rms_norm_eps");
	refused("yarn RoPE by name", "{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}", NULL, "\"yarn\"");
	refused("linear RoPE (old type key) by name", "{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}", NULL,
		"\"linear\"");
	refused("llama3 RoPE without its factors", "{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}", NULL,
		"low_freq_factor");
	refused("an unknown torch_dtype", "{\"torch_dtype\": \"int4\"}", NULL, "torch_dtype \"int4\"");
	refused("an eos id outside the vocabulary", NULL, "{\"eos_token_id\": [128001, 999999]}", "eos_token_id 999999");
	refused("a negative temperature", NULL, "{\"temperature\": -1}", "temperature");
	refused("generation_config.json that is not JSON", NULL, "{\"eos_token_id\": ", "generation_config.json");
	refused("gptq by name", "{\"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4}}", NULL, "\"gptq\"");
	refused("bitsandbytes by name", "{\"quantization_config\": {\"quant_method\": \"bitsandbytes\"}}", NULL,
		"\"bitsandbytes\"");
	refused("awq by name", "{\"quantization_config\": {\"quant_method\": \"awq\"}}", NULL, "\"awq\"");
	refused("pack-quantized by name", "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\","
		"\"format\": \"pack-quantized\", \"config_groups\": {}}}", NULL, "pack-quantized");
	refused("dense (sparse model) by name", "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\","
		"\"format\": \"dense\"}}", NULL, "\"dense\"");
	refused("a sparse-24 sparsity_config", "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\","
		"\"format\": \"float-quantized\", \"sparsity_config\": {\"format\": \"sparse-24-bitmask\"}}}", NULL,
		"sparse-24-bitmask");
	refused("4-bit weights", GROUP("{\"num_bits\": 4, \"type\": \"int\", \"strategy\": \"channel\"}", A_FP8), NULL,
		"num_bits");
	refused("a group strategy", GROUP("{\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"group\"}", A_FP8), NULL,
		"\"group\"");
	refused("a block strategy", GROUP("{\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"block\"}", A_FP8), NULL,
		"\"block\"");
	refused("asymmetric weights", GROUP("{\"num_bits\": 8, \"type\": \"int\", \"strategy\": \"channel\","
		"\"symmetric\": false}", A_FP8), NULL, "symmetric is false");
	refused("weight-only quantization", GROUP(W_FP8, "null"), NULL, "weight-only");
	refused("dynamic per-tensor activations", GROUP(W_FP8, "{\"num_bits\": 8, \"type\": \"float\","
		"\"strategy\": \"tensor\", \"dynamic\": true}"), NULL, "dynamic true and strategy \"tensor\"");
	refused("int activations with float weights", GROUP(W_FP8, "{\"num_bits\": 8, \"type\": \"int\","
		"\"strategy\": \"token\", \"dynamic\": true}"), NULL, "differs");
	refused("an unreadable re: pattern", "{\"quantization_config\": {\"quant_method\": \"fp8\","
		"\"activation_scheme\": \"dynamic\", \"ignored_layers\": [\"re:(\"]}}", NULL, "re:(");
	refused("AutoFP8 without an activation scheme", "{\"quantization_config\": {\"quant_method\": \"fp8\"}}", NULL,
		"activation_scheme");
	refused("block-wise FP8 (weight_block_size)", "{\"quantization_config\": {\"quant_method\": \"fp8\","
		"\"activation_scheme\": \"dynamic\", \"weight_block_size\": [128, 128]}}", NULL, "weight_block_size");
}

/* Which linear modules a parsed quantization block covers. */
static void test_module_matching(void)
{
	json_t *root = json_loads(
		"{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\","
		"\"config_groups\": {"
		"\"attention\": {\"targets\": [\"re:.*self_attn\\\\.(?:q|k|v)_proj$\"], \"weights\": " W_FP8 ","
		"\"input_activations\": " A_FP8 "},"
		"\"mlp\": {\"targets\": [\"re:model\\\\.layers\\\\.\\\\d+\\\\.mlp\\\\..*\"], \"weights\": " W_FP8 ","
		"\"input_activations\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"token\", \"dynamic\": true}}},"
		"\"ignore\": [\"re:.*lm_head\", \"model.layers.1.mlp.down_proj\"]}}", 0, NULL);
	struct quant_config q;
	char err[512];
	int rc = quant_config_parse(root, "config.json", &q, err, sizeof err);
	if (!tap_ok(rc == 0, "parses groups with re: targets")) {
		tap_diag("%s", err);
		json_decref(root);
		return;
	}
	const struct quant_scheme *s = quant_config_scheme_for(&q, "model.layers.3.self_attn.k_proj");
	tap_ok(s && s->activation == ACTIVATION_FP8_STATIC, "re:(?:q|k|v)_proj$ matches k_proj: static group");
	tap_ok(quant_config_scheme_for(&q, "model.layers.3.self_attn.o_proj") == NULL, "o_proj is in no group: 16-bit");
	s = quant_config_scheme_for(&q, "model.layers.12.mlp.gate_proj");
	tap_ok(s && s->activation == ACTIVATION_FP8_DYNAMIC, "\\d+ matches layer 12: dynamic group");
	tap_ok(quant_config_scheme_for(&q, "lm_head") == NULL, "re:.*lm_head ignores lm_head");
	tap_ok(quant_config_scheme_for(&q, "model.layers.1.mlp.down_proj") == NULL &&
	       quant_config_scheme_for(&q, "model.layers.11.mlp.down_proj") != NULL,
	       "an exact ignore name matches only that module");
	quant_config_free(&q);
	json_decref(root);
	root = json_loads("{\"hidden_size\": 8}", 0, NULL);
	tap_ok(quant_config_parse(root, "config.json", &q, err, sizeof err) == 0 && !q.quantized &&
	       quant_config_scheme_for(&q, "lm_head") == NULL, "no quantization block: nothing quantized");
	quant_config_free(&q);
	json_decref(root);
}

int main(void)
{
	if (scratch_create(dir, sizeof dir) != 0) {
		printf("Bail out! cannot make a scratch folder\n");
		return 1;
	}
	test_llama31_8b();
	test_variants();
	test_refusals();
	test_module_matching();
	scratch_remove(dir);
	return tap_done();
}
