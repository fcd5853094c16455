/*
 * test_model.c - model_open on the folders tests/fixtures/make_model.py writes.
 *
 * The script writes tiny Llamas (hidden 8, 2 heads of 4, 1 KV head, intermediate 12,
 * 2 layers, vocab 32) in every shape real folders come in, and broken ones, each
 * broken in one named way.  Good folders are checked field by field (format,
 * activation scheme, scale values, shapes, eos list, RoPE); broken ones by a keyword
 * of their one-line error.  No fixture has tokenizer files: model_open must not need
 * them.
 */
#include <math.h>
#include <string.h>

#include "model.h"
#include "scratch.h"
#include "tap.h"

static char fixtures[4096];

static struct model *open_fixture(const char *name)
{
	char path[4200], err[512] = "";
	struct model *model = NULL;
	snprintf(path, sizeof path, "%s/%s", fixtures, name);
	if (!tap_ok(model_open(path, &model, err, sizeof err) == 0 && model, "opens %s", name))
		tap_diag("%s", err);
	return model;
}

static void refused(const char *name, const char *keyword)
{
	char path[4200], err[512] = "";
	struct model *model = (struct model *)1;
	snprintf(path, sizeof path, "%s/%s", fixtures, name);
	int rc = model_open(path, &model, err, sizeof err);
	if (!tap_ok(rc == -1 && model == NULL && strstr(err, keyword) && !strchr(err, '\n'), "refuses %s", name))
		tap_diag("rc %d, message: %s (want \"%s\")", rc, err, keyword);
}

static bool linear_is(const struct linear *l, enum tensor_dtype dtype, int64_t out, int64_t in, enum activation_quant act)
{
	return l->weight && l->weight_dtype == dtype && l->out_features == out && l->in_features == in && l->activation == act;
}

/* Every linear of every layer has this dtype and activation scheme. */
static bool all_linears(const struct model *m, enum tensor_dtype dtype, enum activation_quant act)
{
	for (int i = 0; i < m->config.num_hidden_layers; i++) {
		const struct layer_weights *l = &m->layers[i];
		const struct linear *all[] = {&l->q_proj, &l->k_proj, &l->v_proj, &l->o_proj, &l->gate_proj, &l->up_proj,
					      &l->down_proj};
		for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
			if (all[k]->weight_dtype != dtype || all[k]->activation != act ||
			    (act != ACTIVATION_NONE) != (all[k]->weight_scale != NULL))
				return false;
	}
	return true;
}

static void test_bf16(void)
{
	struct model *m = open_fixture("bf16");
	if (!m)
		return;
	const struct model_config *c = &m->config;
	tap_ok(c->format == WEIGHT_FORMAT_BF16 && c->hidden_size == 8 && c->num_hidden_layers == 2 && c->head_dim == 4 &&
	       c->num_key_value_heads == 1 && c->vocab_size == 32, "bf16: config sizes and format");
	tap_ok(c->rope_llama3 && c->rope_factor == 8.0 && c->rope_original_max_position_embeddings == 128 &&
	       c->rope_theta == 500000.0, "bf16: llama3 RoPE");
	tap_ok(c->eos_token_count == 3 && c->eos_token_ids[0] == 29 && c->eos_token_ids[2] == 31 && c->bos_token_id == 28,
	       "bf16: eos list from generation_config.json");
	tap_ok(fabsf(c->default_temperature - 0.6f) < 1e-6f && fabsf(c->default_top_p - 0.9f) < 1e-6f, "bf16: sampling defaults");
	tap_ok(strcmp(m->name, "bf16") == 0 && m->dir && m->tensors, "bf16: name is the folder's");
	tap_ok(m->embed_tokens && m->embed_dtype == DTYPE_BF16, "bf16: embed_tokens BF16");
	tap_ok(linear_is(&m->layers[0].q_proj, DTYPE_BF16, 8, 8, ACTIVATION_NONE) &&
	       linear_is(&m->layers[1].k_proj, DTYPE_BF16, 4, 8, ACTIVATION_NONE) &&
	       linear_is(&m->layers[1].o_proj, DTYPE_BF16, 8, 8, ACTIVATION_NONE) &&
	       linear_is(&m->layers[0].gate_proj, DTYPE_BF16, 12, 8, ACTIVATION_NONE) &&
	       linear_is(&m->layers[0].down_proj, DTYPE_BF16, 8, 12, ACTIVATION_NONE), "bf16: linear shapes");
	tap_ok(all_linears(m, DTYPE_BF16, ACTIVATION_NONE), "bf16: every linear BF16 without scales");
	tap_ok(m->layers[1].input_layernorm.size == 8 && m->layers[1].input_layernorm.weight[3] == 1.375f &&
	       m->layers[0].post_attention_layernorm.weight[4] == 1.5f && m->norm.weight[2] == 1.0f,
	       "bf16: norm weights converted to float");
	tap_ok(linear_is(&m->lm_head, DTYPE_BF16, 32, 8, ACTIVATION_NONE) && m->lm_head.weight != m->embed_tokens,
	       "bf16: untied lm_head");
	const struct tensor *q = safetensors_find(m->tensors, "model.layers.0.self_attn.q_proj.weight");
	tap_ok(q && q->data == m->layers[0].q_proj.weight, "bf16: weights point into the mapping");
	model_close(m);
}

static void test_f16(void)
{
	struct model *m = open_fixture("f16");
	if (!m)
		return;
	tap_ok(m->config.format == WEIGHT_FORMAT_F16 && m->embed_dtype == DTYPE_F16 && all_linears(m, DTYPE_F16, ACTIVATION_NONE),
	       "f16: F16 weights and format");
	tap_ok(m->config.rope_llama3, "f16: older rope_scaling.type read");
	tap_ok(m->config.eos_token_count == 2 && m->config.eos_token_ids[1] == 31 && isnan(m->config.default_temperature),
	       "f16: eos list from config.json without generation_config.json");
	tap_ok(m->layers[1].input_layernorm.weight[7] == 1.875f && m->norm.weight[7] == 2.25f, "f16: norms converted exactly");
	model_close(m);
}

static void test_fp8(void)
{
	struct model *m = open_fixture("fp8-static");
	if (m) {
		tap_ok(m->config.format == WEIGHT_FORMAT_FP8 && all_linears(m, DTYPE_F8_E4M3, ACTIVATION_FP8_STATIC),
		       "fp8-static: every layer linear F8_E4M3, static activations");
		const struct linear *q = &m->layers[0].q_proj;
		tap_ok(q->weight_scale_count == 1 && q->weight_scale[0] == 0.5f && q->input_scale == 0.25f,
		       "fp8-static: scalar weight_scale [1] and input_scale");
		tap_ok(linear_is(&m->lm_head, DTYPE_BF16, 32, 8, ACTIVATION_NONE) && !m->lm_head.weight_scale,
		       "fp8-static: ignored lm_head stays BF16");
		tap_ok(m->config.kv_cache_scheme_ignored, "fp8-static: kv_cache_scheme flagged as ignored");
		model_close(m);
	}
	m = open_fixture("fp8-dynamic");
	if (m) {
		tap_ok(m->config.format == WEIGHT_FORMAT_FP8 && all_linears(m, DTYPE_F8_E4M3, ACTIVATION_FP8_DYNAMIC),
		       "fp8-dynamic (compression_config, naive-quantized): dynamic per token");
		const struct linear *k = &m->layers[1].k_proj, *up = &m->layers[0].up_proj;
		tap_ok(k->weight_scale_count == 4 && k->weight_scale[3] == 0.5f + 3.0f / 64 && up->weight_scale_count == 12 &&
		       up->weight_scale[11] == 0.5f + 11.0f / 64, "fp8-dynamic: BF16 [out, 1] scales, one per row");
		tap_ok(m->lm_head.activation == ACTIVATION_NONE && !m->config.kv_cache_scheme_ignored,
		       "fp8-dynamic: re:.*lm_head keeps lm_head BF16");
		model_close(m);
	}
	m = open_fixture("autofp8-static");
	if (m) {
		tap_ok(all_linears(m, DTYPE_F8_E4M3, ACTIVATION_FP8_STATIC) && m->layers[1].v_proj.input_scale == 0.25f &&
		       m->layers[1].v_proj.weight_scale_count == 1, "autofp8-static: F32 [] scales, static");
		model_close(m);
	}
	m = open_fixture("autofp8-dynamic");
	if (m) {
		tap_ok(all_linears(m, DTYPE_F8_E4M3, ACTIVATION_FP8_DYNAMIC) && m->lm_head.weight_dtype == DTYPE_BF16,
		       "autofp8-dynamic: dynamic, lm_head ignored");
		model_close(m);
	}
}

/* neuralmagic/Meta-Llama-3-8B-Instruct-FP8 as it ships: {"activation_scheme": "static",
 * "quant_method": "fp8"} and nothing else, a BF16 head, eos 128001 in config.json and
 * [128001, 128009] in generation_config.json. */
static void test_autofp8_no_ignored_layers(void)
{
	struct model *m = open_fixture("autofp8-no-ignored-layers");
	if (!m)
		return;
	const struct model_config *c = &m->config;
	tap_ok(c->format == WEIGHT_FORMAT_FP8 && all_linears(m, DTYPE_F8_E4M3, ACTIVATION_FP8_STATIC) &&
	       m->layers[0].gate_proj.input_scale == 0.25f, "autofp8-no-ignored-layers: every layer linear FP8 static");
	tap_ok(linear_is(&m->lm_head, DTYPE_BF16, 128256, 8, ACTIVATION_NONE) && !m->lm_head.weight_scale,
	       "autofp8-no-ignored-layers: the BF16 lm_head binds as a 16-bit layer");
	tap_ok(c->max_position_embeddings == 8192 && !c->rope_llama3 && c->rope_theta == 500000.0,
	       "autofp8-no-ignored-layers: 8192 positions, rope_scaling null");
	tap_ok(c->bos_token_id == 128000 && c->eos_token_count == 2 && c->eos_token_ids[0] == 128001 &&
	       c->eos_token_ids[1] == 128009, "autofp8-no-ignored-layers: eos [128001, 128009] from generation_config.json");
	model_close(m);
}

/* compressed-tensors 0.14-0.18 blocks: empty sparsity_config and transform_config, version,
 * null global_compression_ratio, a format per group, every QuantizationArgs field. */
static void test_compressed_tensors_today(void)
{
	struct model *m = open_fixture("ct-today-fp8-dynamic");
	if (m) {
		tap_ok(m->config.format == WEIGHT_FORMAT_FP8 && all_linears(m, DTYPE_F8_E4M3, ACTIVATION_FP8_DYNAMIC) &&
		       m->layers[1].up_proj.weight_scale_count == 12 && m->lm_head.weight_dtype == DTYPE_BF16,
		       "ct-today-fp8-dynamic: FP8 dynamic per token, per-channel scales, lm_head ignored");
		model_close(m);
	}
	m = open_fixture("ct-today-int8-dynamic");
	if (m) {
		tap_ok(m->config.format == WEIGHT_FORMAT_INT8 && all_linears(m, DTYPE_I8, ACTIVATION_INT8_DYNAMIC),
		       "ct-today-int8-dynamic: INT8 W8A8 dynamic per token");
		model_close(m);
	}
}

static void test_int8(void)
{
	struct model *m = open_fixture("int8-dynamic");
	if (m) {
		tap_ok(m->config.format == WEIGHT_FORMAT_INT8 && all_linears(m, DTYPE_I8, ACTIVATION_INT8_DYNAMIC),
		       "int8-dynamic: I8 weights, dynamic per token");
		const struct linear *gate = &m->layers[1].gate_proj;
		tap_ok(gate->weight_scale_count == 12 && gate->weight_scale[5] == 0.5f + 5.0f / 64,
		       "int8-dynamic: F16 [out] scales; all-zero weight_zero_point accepted");
		model_close(m);
	}
	m = open_fixture("int8-static");
	if (m) {
		tap_ok(all_linears(m, DTYPE_I8, ACTIVATION_INT8_STATIC) && m->layers[0].o_proj.input_scale == 0.25f &&
		       m->layers[0].o_proj.weight_scale[0] == 0.5f, "int8-static: static input scale");
		model_close(m);
	}
}

static void test_sharded_tied(void)
{
	struct model *m = open_fixture("sharded-tied");
	if (!m)
		return;
	tap_ok(safetensors_count(m->tensors) == 21, "sharded-tied: 21 tensors from 3 shards");
	tap_ok(m->config.tie_word_embeddings && m->lm_head.weight == m->embed_tokens &&
	       linear_is(&m->lm_head, DTYPE_BF16, 32, 8, ACTIVATION_NONE), "sharded-tied: lm_head is embed_tokens");
	tap_ok(m->config.rope_llama3 && m->config.rope_theta == 250000.0, "sharded-tied: rope_parameters read");
	const struct tensor *t = safetensors_find(m->tensors, "model.norm.weight");
	tap_ok(t && strstr(t->file, "model-00003-of-00003.safetensors"), "sharded-tied: tensors know their shard");
	model_close(m);
}

static void test_snapshot_name(void)
{
	char snapshot[4300], err[512], source[4200];
	snprintf(snapshot, sizeof snapshot, "%s/hub/models--meta-llama--Llama-3.2-1B-Instruct/snapshots", fixtures);
	char hub[4200];
	snprintf(hub, sizeof hub, "%s/hub", fixtures);
	mkdir(hub, 0755);
	snprintf(source, sizeof source, "%s/hub/models--meta-llama--Llama-3.2-1B-Instruct", fixtures);
	mkdir(source, 0755);
	mkdir(snapshot, 0755);
	strcat(snapshot, "/abc123");
	snprintf(source, sizeof source, "%s/sharded-tied", fixtures);
	struct model *m = NULL;
	if (symlink(source, snapshot) == 0 && model_open(snapshot, &m, err, sizeof err) == 0) {
		tap_ok(strcmp(m->name, "Llama-3.2-1B-Instruct") == 0, "a cache snapshot is named after its repo");
		model_close(m);
	} else {
		tap_ok(0, "a cache snapshot is named after its repo");
		tap_diag("%s", err);
	}
}

static void test_refusals(void)
{
	refused("truncated-shard", "truncated");
	refused("header-past-eof", "past the end");
	refused("header-zero", "header length 0");
	refused("header-bad-json", "not valid JSON");
	refused("wrong-dtype", "model.layers.1.mlp.up_proj.weight is I8");
	refused("unknown-dtype", "F8_E5M2 is not supported");
	refused("shape-mismatch", "model.layers.0.self_attn.k_proj.weight has shape [8, 8], config.json wants [4, 8]");
	refused("overlapping-tensors", "overlap");
	refused("offsets-outside", "lm_head.weight: data ends");
	refused("shape-size-mismatch", "model.norm.weight: shape");
	refused("missing-tensor", "model.layers.1.mlp.up_proj.weight is missing");
	refused("missing-lm-head", "lm_head.weight is missing");
	refused("unknown-quant-method", "\"gptq\" is not supported");
	refused("group-strategy", "group");
	refused("asymmetric-config", "symmetric is false");
	refused("asymmetric-zero-point", "weight_zero_point is not all zero");
	refused("pack-quantized", "pack-quantized");
	refused("fp8-config-bf16-weights", "is BF16, want F8_E4M3");
	refused("autofp8-fp8-head", "lm_head.weight is F8_E4M3, want BF16, F16 or F32 (quant_method fp8 never quantizes lm_head");
	refused("ct-today-sparse-24", "sparsity_config format \"sparse-24-bitmask\"");
	refused("missing-input-scale", "input_scale is missing");
	refused("per-channel-input-scale", "per-channel input scales");
	refused("group-weight-scale", "down_proj.weight_scale has shape [8, 3]");
	refused("index-escapes", "not a file name inside the folder");
	refused("index-lies", "model.layers.9.mlp.up_proj.weight is not in shard");
	refused("duplicate-across-shards", "is in both");
	refused("no-weights", "no model.safetensors");
	refused("does-not-exist", "config.json");
}

int main(void)
{
	const char *srcdir = getenv("SRCDIR");
	char command[8400];
	if (scratch_create(fixtures, sizeof fixtures) != 0) {
		printf("Bail out! cannot make a scratch folder\n");
		return 1;
	}
	snprintf(command, sizeof command, "python3 '%s/tests/fixtures/make_model.py' '%s'",
		 srcdir && *srcdir ? srcdir : LLMCHAT_SRCDIR, fixtures);
	if (system(command) != 0) {
		printf("Bail out! %s failed\n", command);
		scratch_remove(fixtures);
		return 1;
	}
	test_bf16();
	test_f16();
	test_fp8();
	test_int8();
	test_autofp8_no_ignored_layers();
	test_compressed_tensors_today();
	test_sharded_tied();
	test_snapshot_name();
	test_refusals();
	scratch_remove(fixtures);
	return tap_done();
}
