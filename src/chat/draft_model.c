/*
 * draft_model.c - the draft of draft_model.h: a model_runtime of its own, the
 * tokens its cache holds, and greedy steps from the point where the conversation
 * and that cache part.
 */
#include "draft_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array_grow.h"
#include "bpe.h"
#include "engine.h"
#include "model.h"
#include "model_runtime.h"

struct draft_model {
	struct model_runtime runtime;
	int32_t *cached;             /* the tokens in the draft engine's cache */
	size_t cached_count, cached_capacity;
};

/* 0 when the two tokenizers give every id the same bytes; else -1 with a message. */
static int same_tokenizer(const struct bpe *draft, const struct bpe *target, const char *draft_name,
			  const char *target_name, char *err, size_t err_size)
{
	int32_t draft_size = bpe_vocab_size(draft), target_size = bpe_vocab_size(target);
	if (draft_size != target_size) {
		snprintf(err, err_size, "--draft-model %s: its tokenizer has %d tokens, %s's has %d; a draft must share the model's tokenizer",
			 draft_name, (int)draft_size, target_name, (int)target_size);
		return -1;
	}
	for (int32_t id = 0; id < draft_size; id++) {
		size_t a_length = 0, b_length = 0;
		const unsigned char *a = bpe_token_bytes(draft, id, &a_length), *b = bpe_token_bytes(target, id, &b_length);
		if (a_length != b_length || (a_length > 0 && (!a || !b || memcmp(a, b, a_length) != 0))) {
			snprintf(err, err_size, "--draft-model %s: token %d is not the same text as %s's; a draft must share the model's tokenizer",
				 draft_name, (int)id, target_name);
			return -1;
		}
	}
	return 0;
}

int draft_model_open(const char *name, const struct engine_options *options, const struct model_runtime *target,
		     struct draft_model **out, char *err, size_t err_size)
{
	struct draft_model *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	struct engine_options engine = *options;
	engine.ranks = 1;
	engine.context_length = engine_context_length(target->engine);
	const struct model_runtime_settings settings = {.model = name, .engine = &engine};
	char why[768];
	if (model_runtime_open(&settings, &d->runtime, why, sizeof why) != 0) {
		snprintf(err, err_size, "--draft-model %s: %s", name, why);
		free(d);
		return -1;
	}
	if (same_tokenizer(d->runtime.bpe, target->bpe, model_runtime_model_name(&d->runtime),
			   model_runtime_model_name(target), err, err_size) != 0) {
		draft_model_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void draft_model_free(struct draft_model *draft)
{
	if (!draft)
		return;
	model_runtime_close(&draft->runtime);
	free(draft->cached);
	free(draft);
}

const char *draft_model_name(const struct draft_model *draft)
{
	return model_runtime_model_name(&draft->runtime);
}

/* Records that the engine ran tokens after what it held. */
static int cache_append(struct draft_model *d, const int32_t *tokens, size_t count, char *err, size_t err_size)
{
	int32_t *cached = array_reserve(d->cached, &d->cached_capacity, d->cached_count + count, sizeof *cached, 256);
	if (!cached) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	d->cached = cached;
	memcpy(d->cached + d->cached_count, tokens, count * sizeof *tokens);
	d->cached_count += count;
	return 0;
}

/* Brings the draft's cache to history but its last token (the longest common prefix
 * kept, the rest run), so that a step on that token proposes the next. */
static int catch_up(struct draft_model *d, const int32_t *history, size_t count, char *err, size_t err_size)
{
	size_t prefix = 0;
	while (prefix + 1 < count && prefix < d->cached_count && d->cached[prefix] == history[prefix])
		prefix++;
	engine_rewind(d->runtime.engine, (int)prefix);
	d->cached_count = prefix;
	if (prefix + 1 >= count)
		return 0;
	if (engine_forward(d->runtime.engine, history + prefix, count - 1 - prefix, NULL, false, err, err_size) != 0)
		return -1;
	return cache_append(d, history + prefix, count - 1 - prefix, err, err_size);
}

int draft_model_propose(void *draft, const int32_t *history, size_t count, int32_t *out, size_t max,
			size_t *proposed, char *err, size_t err_size)
{
	struct draft_model *d = draft;
	const size_t context = (size_t)engine_context_length(d->runtime.engine);
	*proposed = 0;
	if (count == 0 || count > context)
		return 0;
	if (max > context - count + 1)   /* each proposal but the last runs in the draft */
		max = context - count + 1;
	if (catch_up(d, history, count, err, err_size) != 0)
		return -1;
	int32_t token = history[count - 1];
	for (size_t i = 0; i < max; i++) {
		if (engine_decode_greedy(d->runtime.engine, token, &out[i], err, err_size) != 0 ||
		    cache_append(d, &token, 1, err, err_size) != 0)
			return -1;
		token = out[i];
		*proposed = i + 1;
	}
	return 0;
}
