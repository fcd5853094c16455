/*
 * model_runtime.h - what every mode that runs a model opens first: the folder
 * resolved from -m, the model, its tokenizer, its chat template form and an
 * engine, from the parsed options.  Pipe mode, perplexity and the TUI share it.
 */
#ifndef LLMCHAT_MODEL_RUNTIME_H
#define LLMCHAT_MODEL_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "chat_template.h"
#include "options.h"

struct model;
struct bpe;
struct engine;

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
 * stays open. */
int model_runtime_open(const struct options *opts, struct model_runtime *rt, char *err, size_t err_size);

/* The BOS token --raw and --perplexity put first: 0 with *id, or -1 with a message
 * saying that neither the configs nor the tokenizer define one. */
int model_runtime_bos(const struct model_runtime *rt, int32_t *id, char *err, size_t err_size);

void model_runtime_close(struct model_runtime *rt);

#endif
