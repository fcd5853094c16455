/*
 * chat_decode.h - what chat_session.c and chat_decode.c share, private to src/chat:
 * the session's state, its record of the engine's cache, and the decoding of one
 * answer after the prompt's prefill.
 */
#ifndef LLMCHAT_CHAT_DECODE_H
#define LLMCHAT_CHAT_DECODE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_session.h"

struct chat_session {
	const struct model *model;
	struct engine *engine;
	const struct bpe *bpe;
	enum chat_template_kind template_kind;
	struct chat_message *messages;   /* contents owned (malloc'd); system first when set */
	size_t message_count, message_capacity;
	int32_t *cached;                 /* the tokens in the engine's KV cache */
	size_t cached_count, cached_capacity;
	atomic_int context_used;         /* cached_count, for another thread (the TUI's status line) */
	float *logits;                   /* vocab_size */
	char *popped;                    /* the user message chat_session_pop_answer handed back */
	uint64_t answers;                /* answers drawn so far: each draws from its own seed */
	size_t left_out;                 /* the oldest messages after the system prompt that no
					  * longer fit the context: kept, but not rendered */
};

/* Adds count ids to the record of what the engine's cache holds: 0, or -1 out of
 * memory. */
int chat_cache_push(struct chat_session *s, const int32_t *ids, size_t count);

/* Drops what the cache holds past position from the session's record (the engine
 * rewinds itself). */
void chat_cache_truncate(struct chat_session *s, size_t position);

/* An answer's text as it grows (malloc'd, NUL-terminated). */
struct answer {
	char *text;
	size_t length, capacity;
};

/* Decodes the answer after the prompt's prefill (s->logits holds its last token's
 * logits): samples, streams through on_text, feeds each token back, until an EOS, a
 * stop from on_text, cancel, or the token limit; with settings->speculation, a pass
 * checks each step's proposals.  The answer's text goes to answer, even when cut
 * short; 0, or -1 with a message. */
int chat_decode_answer(struct chat_session *s, const struct generation_settings *settings, const atomic_bool *cancel,
		       chat_text_fn on_text, void *user_data, struct generation_stats *stats, struct answer *answer,
		       double start, char *err, size_t err_size);

#endif
