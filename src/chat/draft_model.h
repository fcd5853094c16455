/*
 * draft_model.h - a small model that proposes tokens for speculative decoding
 * (--draft-model): a Llama 3 folder sharing the target's tokenizer, with its own
 * engine and KV cache, kept in step with the conversation between proposals.
 */
#ifndef LLMCHAT_DRAFT_MODEL_H
#define LLMCHAT_DRAFT_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct engine_options;
struct model_runtime;
struct draft_model;

/* Opens the folder (or Hugging Face repo id) name as a draft for target: its model,
 * tokenizer and an engine with options (the backend, one rank, the target's context
 * or the draft's max_position_embeddings if fewer).  Refused, with a message naming
 * the first token that differs, when its tokenizer does not give every id the
 * target's text.  Says what it loaded in one line on stderr, as model_runtime_open. */
int draft_model_open(const char *name, const struct engine_options *options, const struct model_runtime *target,
		     struct draft_model **out, char *err, size_t err_size);
void draft_model_free(struct draft_model *draft);

/* chat_session.h's chat_propose_fn over a draft_model: the draft's greedy
 * continuation of history, max tokens (fewer where its context ends).  Its cache
 * keeps what the last call ran; the next call runs only what differs.  Greedy
 * proposals are one token for certain, which is what sampler_accept_proposal's rule
 * takes, so sampled answers keep their distribution too. */
int draft_model_propose(void *draft, const int32_t *history, size_t count, int32_t *out, size_t max,
			size_t *proposed, char *err, size_t err_size);

/* The draft's name (its folder's), for the status line. */
const char *draft_model_name(const struct draft_model *draft);

#endif
