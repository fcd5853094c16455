/*
 * model_runtime.c - open model, tokenizer and engine from plain settings.
 */
#include "model_runtime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "chat_session.h"
#include "engine.h"
#include "model.h"
#include "model_path.h"

/* Whether PATH is there, readable or not: a file that cannot be read is loaded anyway so
 * that the loader names the cause (permission, a directory), never "no tokenizer.json". */
static bool file_present(const char *path)
{
	return access(path, F_OK) == 0 || errno != ENOENT;
}

static int load_tokenizer(const char *tokenizer_file, const char *dir, struct bpe **out,
			  char *err, size_t err_size)
{
	char path[4096];
	if (tokenizer_file)
		return bpe_load_file(tokenizer_file, out, err, err_size);
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	if (file_present(path))
		return bpe_load_hf_json(path, out, err, err_size);
	snprintf(path, sizeof path, "%s/original/tokenizer.model", dir);
	if (file_present(path))
		return bpe_load_tiktoken(path, out, err, err_size);
	snprintf(err, err_size, "%s: no tokenizer.json nor original/tokenizer.model (give one with --tokenizer)", dir);
	return -1;
}

/* Every token the tokenizer can produce or name needs a row of the embedding:
 * refuse, by name, a token whose id is past config.json's vocab_size. */
static int check_tokenizer_fits(const struct model_runtime *rt, char *err, size_t err_size)
{
	const int32_t vocab = rt->model->config.vocab_size, ids = bpe_vocab_size(rt->bpe);
	for (int32_t id = vocab; id < ids; id++) {
		size_t length;
		const unsigned char *bytes = bpe_token_bytes(rt->bpe, id, &length);
		if (!bytes)
			continue;
		char shown[64];
		size_t n = 0;
		for (; n < length && n + 1 < sizeof shown && n < 40; n++)
			shown[n] = bytes[n] < 0x20 || bytes[n] == 0x7f ? '?' : (char)bytes[n];
		shown[n] = '\0';
		snprintf(err, err_size, "%s: the tokenizer's token \"%s\" has id %ld, past config.json's vocab_size %d "
			 "(the embedding has no row for it)", rt->dir, shown, (long)id, (int)vocab);
		return -1;
	}
	return 0;
}

/* bos_token_id from generation_config.json or config.json; without one (both may
 * leave it out), the tokenizer's <|begin_of_text|>, as the Llama 3 templates write. */
static int32_t resolve_bos(const struct model_runtime *rt)
{
	if (rt->model->config.bos_token_id >= 0)
		return rt->model->config.bos_token_id;
	return bpe_special_id(rt->bpe, "<|begin_of_text|>");
}

int model_runtime_bos(const struct model_runtime *rt, int32_t *id, char *err, size_t err_size)
{
	if (rt->bos_token_id < 0) {
		snprintf(err, err_size, "%s: no BOS token: neither config.json nor generation_config.json has "
			 "bos_token_id, and the tokenizer has no <|begin_of_text|>", rt->dir);
		return -1;
	}
	*id = rt->bos_token_id;
	return 0;
}

int model_runtime_open(const struct model_runtime_settings *settings, struct model_runtime *rt,
		       char *err, size_t err_size)
{
	memset(rt, 0, sizeof *rt);
	if (model_path_resolve(settings->model, &rt->dir, err, err_size) != 0)
		return -1;
	if (model_open(rt->dir, &rt->model, err, err_size) != 0 ||
	    load_tokenizer(settings->tokenizer_file, rt->dir, &rt->bpe, err, err_size) != 0)
		goto fail;
	struct chat_template_detection template;
	if (check_tokenizer_fits(rt, err, err_size) != 0 ||
	    chat_template_detect(rt->dir, &template, err, err_size) != 0)
		goto fail;
	rt->template_kind = template.kind;
	if (template.notice[0])
		fprintf(stderr, "llmchat: %s\n", template.notice);
	rt->bos_token_id = resolve_bos(rt);
	/* --raw and --perplexity put the BOS first: without one, say so before the
	 * engine takes its memory */
	int32_t bos;
	if (settings->need_bos && model_runtime_bos(rt, &bos, err, err_size) != 0)
		goto fail;
	if (rt->model->config.kv_cache_scheme_ignored)
		fprintf(stderr, "llmchat: %s: kv_cache_scheme is ignored: the KV cache is --kv-cache's type (bf16 "
			"by default) with scale 1 (k_scale/v_scale unused)\n", rt->model->name);
	if (engine_create(rt->model, settings->engine, &rt->engine, err, err_size) != 0)
		goto fail;
	fprintf(stderr, "llmchat: %s (%s, %d layers) on %s, context %d tokens\n", rt->model->name,
		weight_format_name(rt->model->config.format), rt->model->config.num_hidden_layers,
		engine_describe(rt->engine), engine_context_length(rt->engine));
	return 0;
fail:
	model_runtime_close(rt);
	return -1;
}

const char *model_runtime_model_name(const struct model_runtime *rt)
{
	return rt->model->name;
}

const char *model_runtime_weight_format(const struct model_runtime *rt)
{
	return weight_format_name(rt->model->config.format);
}

const char *model_runtime_backend(const struct model_runtime *rt)
{
	return engine_describe(rt->engine);
}

void model_runtime_generation_settings(const struct model_runtime *rt, const struct sampling_overrides *overrides,
				       struct generation_settings *out)
{
	generation_settings_resolve(overrides, &rt->model->config, out);
}

void model_runtime_close(struct model_runtime *rt)
{
	if (rt->engine)
		engine_free(rt->engine);
	if (rt->bpe)
		bpe_free(rt->bpe);
	if (rt->model)
		model_close(rt->model);
	free(rt->dir);
	memset(rt, 0, sizeof *rt);
}
