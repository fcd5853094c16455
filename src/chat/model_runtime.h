/*
 * model_runtime.h - what every mode that runs a model opens first: the folder
 * resolved from -m, the model, its tokenizer, its chat template form and an
 * engine, from plain settings.  Pipe mode, perplexity and the TUI share it; the
 * TUI reads what it shows of the model through it, never from the engine.
 */
#ifndef LLMCHAT_MODEL_RUNTIME_H
#define LLMCHAT_MODEL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_template.h"

struct model;
struct bpe;
struct engine;
struct engine_options;
struct generation_settings;
struct sampling_overrides;

struct model_runtime_settings {
	const char *model;                 /* a folder or a Hugging Face repo id (model_path.h) */
	const char *tokenizer_file;        /* tokenizer.json or tiktoken file; NULL: the folder's */
	bool need_bos;                     /* the mode puts a BOS first (--raw, --perplexity) */
	const struct engine_options *engine;
};

struct model_runtime {
	char *dir;                         /* the resolved folder */
	struct model *model;
	struct bpe *bpe;
	struct engine *engine;
	enum chat_template_kind template_kind;
	int32_t bos_token_id;              /* the configs', else the tokenizer's
					    * <|begin_of_text|>; -1 when neither has one */
};

/* Opens everything, in that order; the tokenizer is --tokenizer, else
 * DIR/tokenizer.json, else DIR/original/tokenizer.model.  Every id the tokenizer
 * has must be below config.json's vocab_size (the embedding has no row for
 * another).  Says what it loaded in one line on stderr, and once what it does when
 * the folder's chat template is not one of the Llama 3 forms.  On failure nothing
 * stays open.  When settings->need_bos, a model without a BOS token is refused
 * before the engine takes its memory. */
int model_runtime_open(const struct model_runtime_settings *settings, struct model_runtime *rt,
		       char *err, size_t err_size);

/* The model's name (its folder's), its weight format ("fp8") and the backend it
 * runs on (engine_describe). */
const char *model_runtime_model_name(const struct model_runtime *rt);
const char *model_runtime_weight_format(const struct model_runtime *rt);
const char *model_runtime_backend(const struct model_runtime *rt);

/* generation_settings_resolve (chat_session.h) over this model's defaults. */
void model_runtime_generation_settings(const struct model_runtime *rt, const struct sampling_overrides *overrides,
				       struct generation_settings *out);

/* The BOS token --raw and --perplexity put first: 0 with *id, or -1 with a message
 * saying that neither the configs nor the tokenizer define one. */
int model_runtime_bos(const struct model_runtime *rt, int32_t *id, char *err, size_t err_size);

void model_runtime_close(struct model_runtime *rt);

#endif
