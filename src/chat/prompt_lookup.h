/*
 * prompt_lookup.h - proposals for speculative decoding taken from the conversation
 * itself (--lookup): where the last few tokens occurred before, what followed them
 * then is proposed now.  It costs no model, and pays off when an answer quotes the
 * prompt, edits code or repeats itself.
 */
#ifndef LLMCHAT_PROMPT_LOOKUP_H
#define LLMCHAT_PROMPT_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

/* The n-grams matched, longest first. */
#define PROMPT_LOOKUP_MAX_NGRAM 4
#define PROMPT_LOOKUP_MIN_NGRAM 2

/* Finds the most recent earlier occurrence of the longest suffix of history (from
 * PROMPT_LOOKUP_MAX_NGRAM down to PROMPT_LOOKUP_MIN_NGRAM tokens) and copies up to
 * max of the tokens that followed it into draft.  Returns how many (0: no match). */
size_t prompt_lookup_propose(const int32_t *history, size_t count, int32_t *draft, size_t max);

/* prompt_lookup_propose as chat_session.h's chat_propose_fn (user_data unused; never
 * fails). */
int prompt_lookup_proposer(void *user_data, const int32_t *history, size_t count, int32_t *draft, size_t max,
			   size_t *proposed, char *err, size_t err_size);

#endif
