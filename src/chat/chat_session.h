/*
 * chat_session.h - a conversation over one engine: messages in, streamed answers out.
 *
 * The session renders the whole conversation with the model's chat template after
 * each user turn, keeps the tokens already in the engine's KV cache, rewinds the
 * engine to the longest common prefix, and prefills only what is new.  Pipe mode
 * and the TUI both talk to the model through this module alone.
 */
#ifndef LLMCHAT_CHAT_SESSION_H
#define LLMCHAT_CHAT_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_template.h"
#include "sampler.h"

struct model;
struct model_config;
struct engine;
struct engine_draw;
struct bpe;

/* Sampling settings as the user gave them (flags, config file, preset, /set); a
 * negative value (or NAN for floats) means "not given": the model's
 * generation_config.json or the built-in default applies. */
struct sampling_overrides {
	float temperature;
	float top_p;
	float min_p;
	float repeat_penalty;
	int top_k;
	int max_tokens;
	bool have_seed;
	uint64_t seed;
};

/* Every setting "not given". */
void sampling_overrides_init(struct sampling_overrides *overrides);

/* Gives each setting of to that is not given from's value (itself "not given" or
 * not): how a source of lower precedence fills what the ones above left open. */
void sampling_overrides_fill(struct sampling_overrides *to, const struct sampling_overrides *from);

/* Proposes up to max tokens to follow history (every token of the conversation so
 * far, the last one not yet run by the model) into draft, *proposed of them (0 to
 * max); speculative decoding checks them all in one forward pass of the model.
 * Returns 0, or -1 with a message (the answer then fails with it). */
typedef int (*chat_propose_fn)(void *user_data, const int32_t *history, size_t count, int32_t *draft, size_t max,
			       size_t *proposed, char *err, size_t err_size);

/* The most tokens a step proposes (engine_forward runs one token more). */
#define SPECULATION_MAX_DRAFT 8
/* The adaptive number's start. */
#define SPECULATION_FIRST_DRAFT 4

struct speculation {
	chat_propose_fn propose;     /* NULL: no speculation */
	void *user_data;
	int draft_tokens;            /* tokens proposed a step, 1 to SPECULATION_MAX_DRAFT; 0:
				      * adaptive (one more after a step that kept all it
				      * proposed, what was kept plus one after a rejection) */
};

struct generation_settings {
	struct sampler_settings sampling;
	int max_tokens;              /* per answer */
	int max_length;              /* prompt + answer, in tokens; 0: no such limit */
	struct speculation speculation;   /* off unless the caller sets it */
};

/* The settings an answer uses: each value given in OVERRIDES (NAN / -1 when not
 * given; the program fills them from the flags, then the config file, then the
 * preset, in that order of precedence), else the model's
 * generation_config.json (generation_config.h: do_sample false means temperature 0),
 * else Llama 3.1's defaults (temperature 0.6, top_p 0.9); top_k 0, min_p 0 and
 * repeat_penalty 1 (off) unless given; max_tokens from the options, else
 * max_new_tokens, else 4096; max_length only when neither gives max_tokens (an
 * answer also ends at the context's end); seed from the clock unless given. */
void generation_settings_resolve(const struct sampling_overrides *overrides,
				 const struct model_config *config,
				 struct generation_settings *out);

struct generation_stats {
	int prompt_tokens;           /* tokens of the whole rendered prompt */
	int prefilled_tokens;        /* of those, the ones not already cached */
	int generated_tokens;
	double time_to_first_token;  /* seconds, from the request to the first token */
	double tokens_per_second;    /* decode rate after the first token */
	bool stopped_by_eos;
	bool stopped_by_limit;       /* max_tokens or the context's end */
	bool cancelled;
	bool cancelled_in_prefill;   /* cancel came while the prompt was read: the user
				      * message left the conversation again */
	int left_out_messages;       /* the oldest messages this ask left out of the prompt,
				      * so that the conversation fits the context */
	int speculation_steps;       /* with speculation: forward passes that checked proposals */
	int proposed_tokens;         /* tokens proposed in those */
	int accepted_tokens;         /* of those, the ones kept */
};

/* Called with each piece of answer text as it is decoded (whole UTF-8 sequences).
 * Returns 0 to go on, non-zero to stop the answer (kept as produced so far). */
typedef int (*chat_text_fn)(void *user_data, const char *text, size_t length);

struct chat_session;

/* The session borrows model, engine and tokenizer; they must outlive it. */
int chat_session_create(const struct model *model, struct engine *engine, const struct bpe *bpe,
			enum chat_template_kind template_kind, struct chat_session **out,
			char *err, size_t err_size);
void chat_session_free(struct chat_session *session);

/* Sets (or with NULL removes) the system prompt of the conversation. */
int chat_session_set_system(struct chat_session *session, const char *system_prompt);

/* Appends a user message, generates the assistant's answer streaming through
 * on_text (with settings->speculation, proposals checked in one pass each and kept
 * by the rule of speculative sampling (sampler_accept_proposal): the answer is the
 * one decoding without them gives, greedy token for token, sampled in
 * distribution; engine_forward's rows for several tokens must be the bits of as
 * many single steps for greedy answers to agree byte for byte), and appends
 * the answer (even a cancelled or partial one) to the
 * conversation.  cancel (may be NULL; another thread or a signal handler sets
 * it) is polled between tokens, and in the prefill between the engine's batches
 * (engine_prefill): set there, ask returns 0 with stats->cancelled_in_prefill,
 * and the user message leaves the conversation again, which is as before the
 * call (the caller decides what becomes of the message).  A token
 * of any length the tokenizer holds is shown whole.  The k-th answer
 * of a session (from 0) samples with settings->sampling.seed + k, so a retried
 * answer differs while a whole session with a fixed seed repeats. */
int chat_session_ask(struct chat_session *session, const char *user_message,
		     const struct generation_settings *settings, const atomic_bool *cancel,
		     chat_text_fn on_text, void *user_data, struct generation_stats *stats,
		     char *err, size_t err_size);

/* Removes the last assistant answer so that chat_session_ask... can regenerate it
 * (/retry); returns the user message it answered, or NULL when there is none.
 * That user message leaves the conversation too (ask appends it again); the
 * returned text stays valid until the next pop or chat_session_free.  A
 * conversation that ends on a user message (one loaded from a file saved before
 * its answer came) hands that message back the same way. */
const char *chat_session_pop_answer(struct chat_session *session);

/* Forgets every message but the system prompt (/clear). */
void chat_session_clear(struct chat_session *session);

/* The conversation, for /save and the history file. */
size_t chat_session_message_count(const struct chat_session *session);
const struct chat_message *chat_session_messages(const struct chat_session *session);

/* Replaces the conversation (for /load and --resume); the next ask re-prefills. */
int chat_session_load_messages(struct chat_session *session, const struct chat_message *messages,
			       size_t count, char *err, size_t err_size);

/* How many of the oldest messages after the system prompt no longer fit the context
 * and are left out of the prompt (they stay in the conversation, for /save and the
 * history file): when the conversation and room for the answer (a quarter of the
 * context, or max_tokens if fewer) do not fit, ask leaves out the oldest turns, never
 * the system prompt nor the newest message. */
size_t chat_session_left_out(const struct chat_session *session);

/* The tokens of the conversation as the next answer's prompt renders it (the
 * messages left out aside), counted without running the model: what the context
 * holds once a loaded conversation is answered; 0 for one with no message.  -1
 * with a message when it cannot be rendered. */
int chat_session_count_tokens(struct chat_session *session, char *err, size_t err_size);

/* A draw on the engine's device (engine_decode_sample_begin) with the settings of
 * sampling and the sampler's next number: what an answer's steps after the first
 * ask for when the engine draws itself. */
void chat_engine_draw(const struct sampler_settings *sampling, struct sampler *sampler, struct engine_draw *draw);

/* Tokens the conversation fills in the context (the engine's cache), and the
 * context's length.  context_used may be called from another thread while ask
 * runs (a status line): it then grows to the prompt's length once the prompt is
 * read, and by one a token after that. */
int chat_session_context_used(const struct chat_session *session);
int chat_session_context_length(const struct chat_session *session);

#endif
