/*
 * chat_session.c - a conversation over one engine.
 *
 * After each user turn the whole conversation is rendered again with the chat
 * template; the session remembers which tokens its engine's KV cache holds
 * (`cached`, always engine_position() long), keeps the longest common prefix,
 * rewinds the engine to it and prefills the rest.  Answers are decoded token by
 * token; their text is streamed through bpe_stream so that only whole UTF-8
 * sequences reach the caller.  An answer's tokens stay in the cache; when the
 * next turn renders that answer again the tokens usually agree and nothing is
 * recomputed.
 */
#include "chat_session.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array_grow.h"
#include "bpe.h"
#include "clock.h"
#include "engine.h"
#include "model.h"

#define DEFAULT_TEMPERATURE 0.6f
#define DEFAULT_TOP_P 0.9f
#define DEFAULT_MAX_TOKENS 4096

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

void sampling_overrides_init(struct sampling_overrides *overrides)
{
	*overrides = (struct sampling_overrides){
		.temperature = NAN, .top_p = NAN, .min_p = NAN, .repeat_penalty = NAN,
		.top_k = -1, .max_tokens = -1, .have_seed = false, .seed = 0,
	};
}

void sampling_overrides_fill(struct sampling_overrides *to, const struct sampling_overrides *from)
{
	if (isnan(to->temperature))
		to->temperature = from->temperature;
	if (isnan(to->top_p))
		to->top_p = from->top_p;
	if (isnan(to->min_p))
		to->min_p = from->min_p;
	if (isnan(to->repeat_penalty))
		to->repeat_penalty = from->repeat_penalty;
	if (to->top_k < 0)
		to->top_k = from->top_k;
	if (to->max_tokens < 0)
		to->max_tokens = from->max_tokens;
	if (!to->have_seed && from->have_seed) {
		to->have_seed = true;
		to->seed = from->seed;
	}
}

void generation_settings_resolve(const struct sampling_overrides *o, const struct model_config *c,
				 struct generation_settings *out)
{
	struct sampler_settings *s = &out->sampling;
	s->temperature = !isnan(o->temperature) ? o->temperature
		       : !isnan(c->default_temperature) ? c->default_temperature : DEFAULT_TEMPERATURE;
	s->top_p = !isnan(o->top_p) ? o->top_p : !isnan(c->default_top_p) ? c->default_top_p : DEFAULT_TOP_P;
	s->top_k = o->top_k >= 0 ? o->top_k : c->default_top_k >= 0 ? c->default_top_k : 0;
	s->min_p = !isnan(o->min_p) ? o->min_p : c->default_min_p;
	s->repeat_penalty = !isnan(o->repeat_penalty) ? o->repeat_penalty
			  : c->default_repetition_penalty > 0 ? c->default_repetition_penalty : 1;
	if (o->have_seed) {
		s->seed = o->seed;
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		s->seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	/* a length given for the answer (flag, config file, preset or max_new_tokens)
	 * replaces max_length, as max_new_tokens does in transformers */
	out->max_tokens = o->max_tokens > 0 ? o->max_tokens
			: c->default_max_new_tokens > 0 ? c->default_max_new_tokens : DEFAULT_MAX_TOKENS;
	out->max_length = o->max_tokens > 0 ? 0 : c->default_max_length;
	out->speculation = (struct speculation){NULL, NULL, 0};
}

int chat_session_create(const struct model *model, struct engine *engine, const struct bpe *bpe,
			enum chat_template_kind template_kind, struct chat_session **out,
			char *err, size_t err_size)
{
	struct chat_session *s = calloc(1, sizeof *s);
	if (s)
		s->logits = malloc((size_t)model->config.vocab_size * sizeof *s->logits);
	if (!s || !s->logits) {
		free(s);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	atomic_init(&s->context_used, 0);
	s->model = model;
	s->engine = engine;
	s->bpe = bpe;
	s->template_kind = template_kind;
	/* the engine may hold tokens we do not know: start from an empty cache */
	engine_rewind(engine, 0);
	*out = s;
	return 0;
}

static void free_messages(struct chat_session *s, size_t from)
{
	for (size_t i = from; i < s->message_count; i++)
		free((char *)s->messages[i].content);
	s->message_count = from;
	s->left_out = 0;
}

void chat_session_free(struct chat_session *session)
{
	if (!session)
		return;
	free_messages(session, 0);
	free(session->messages);
	free(session->cached);
	free(session->logits);
	free(session->popped);
	free(session);
}

/* Inserts a copy of content at index (0 .. message_count). */
static int insert_message(struct chat_session *s, size_t index, enum chat_role role, const char *content,
			  size_t length)
{
	struct chat_message *messages = array_grow(s->messages, &s->message_capacity, s->message_count,
						   sizeof *messages, 8);
	if (!messages)
		return -1;
	s->messages = messages;
	char *copy = malloc(length + 1);
	if (!copy)
		return -1;
	memcpy(copy, content, length);
	copy[length] = '\0';
	memmove(s->messages + index + 1, s->messages + index, (s->message_count - index) * sizeof *s->messages);
	s->messages[index] = (struct chat_message){role, copy};
	s->message_count++;
	return 0;
}

static void remove_message(struct chat_session *s, size_t index)
{
	free((char *)s->messages[index].content);
	memmove(s->messages + index, s->messages + index + 1, (s->message_count - index - 1) * sizeof *s->messages);
	s->message_count--;
	size_t first = s->message_count > 0 && s->messages[0].role == CHAT_ROLE_SYSTEM ? 1 : 0;
	if (s->left_out > 0 && index < first + s->left_out)
		s->left_out--;
}

static bool has_system(const struct chat_session *s)
{
	return s->message_count > 0 && s->messages[0].role == CHAT_ROLE_SYSTEM;
}

int chat_session_set_system(struct chat_session *session, const char *system_prompt)
{
	if (has_system(session))
		remove_message(session, 0);
	if (!system_prompt)
		return 0;
	return insert_message(session, 0, CHAT_ROLE_SYSTEM, system_prompt, strlen(system_prompt));
}

static int cache_push(struct chat_session *s, const int32_t *ids, size_t count)
{
	if (s->cached_count + count > s->cached_capacity) {
		size_t cap = s->cached_capacity ? s->cached_capacity : 256;
		while (cap < s->cached_count + count)
			cap *= 2;
		int32_t *c = realloc(s->cached, cap * sizeof *c);
		if (!c)
			return -1;
		s->cached = c;
		s->cached_capacity = cap;
	}
	memcpy(s->cached + s->cached_count, ids, count * sizeof *ids);
	s->cached_count += count;
	atomic_store(&s->context_used, (int)s->cached_count);
	return 0;
}

/* Drops what the cache holds past position from the session's record (the engine
 * rewinds itself). */
static void cache_truncate(struct chat_session *s, size_t position)
{
	if (s->cached_count > position) {
		s->cached_count = position;
		atomic_store(&s->context_used, (int)position);
	}
}

/* Runs ids through the engine after the longest prefix it already holds; the
 * logits of the last token end in s->logits.  Returns 0, -1 with a message, or 1
 * when cancel stopped it (the cache then holds the prefix alone). */
static int prefill(struct chat_session *s, const int32_t *ids, size_t count, const atomic_bool *cancel,
		   struct generation_stats *stats, char *err, size_t err_size)
{
	size_t prefix = 0;
	while (prefix < count && prefix < s->cached_count && s->cached[prefix] == ids[prefix])
		prefix++;
	if (prefix == count)   /* everything cached: recompute the last token for its logits */
		prefix--;
	engine_rewind(s->engine, (int)prefix);
	cache_truncate(s, prefix);
	int rc = engine_prefill(s->engine, ids + prefix, count - prefix, s->logits, cancel, err, err_size);
	if (rc != 0)
		return rc;
	stats->prefilled_tokens = (int)(count - prefix);
	if (cache_push(s, ids + prefix, count - prefix) != 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

struct answer {
	char *text;
	size_t length, capacity;
};

static int answer_append(struct answer *a, const char *text, size_t length)
{
	if (a->length + length + 1 > a->capacity) {
		size_t cap = a->capacity ? a->capacity : 256;
		while (cap < a->length + length + 1)
			cap *= 2;
		char *t = realloc(a->text, cap);
		if (!t)
			return -1;
		a->text = t;
		a->capacity = cap;
	}
	memcpy(a->text + a->length, text, length);
	a->length += length;
	a->text[a->length] = '\0';
	return 0;
}

static bool is_eos(const struct model_config *c, int32_t token)
{
	for (int i = 0; i < c->eos_token_count; i++)
		if (c->eos_token_ids[i] == token)
			return true;
	return false;
}

/* Appends text to the answer and passes it on: 0, 1 when on_text asks to stop, -1
 * out of memory. */
static int show_text(struct answer *answer, const char *text, size_t length, chat_text_fn on_text,
		     void *user_data, char *err, size_t err_size)
{
	if (length == 0)
		return 0;
	if (answer_append(answer, text, length) != 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return on_text && on_text(user_data, text, length) != 0 ? 1 : 0;
}

/* Shows token's text once its bytes make whole characters (any length: a token
 * the loader accepted is never dropped): 0, 1 when on_text asks to stop, -1 with a
 * message. */
static int show_token(struct chat_session *s, struct bpe_stream *stream, int32_t token, struct answer *answer,
		      chat_text_fn on_text, void *user_data, char *err, size_t err_size)
{
	const char *text;
	size_t length;
	if (bpe_stream_push(stream, s->bpe, token, &text, &length, err, err_size) != 0)
		return -1;
	return show_text(answer, text, length, on_text, user_data, err, err_size);
}

void chat_engine_draw(const struct sampler_settings *sampling, struct sampler *sampler, struct engine_draw *draw)
{
	*draw = (struct engine_draw){
		.temperature = sampling->temperature,
		.top_p = sampling->top_p,
		.min_p = sampling->min_p,
		.repeat_penalty = sampling->repeat_penalty,
		.top_k = sampling->top_k,
		.uniform = sampler_uniform(sampler),
	};
}

/* The sampler of the session's next answer, over sampling: answer k of a session
 * draws with seed + k (sampling's seed moves), so a /retry gives another answer and
 * a session with a given --seed still repeats as a whole. */
static int answer_sampler(struct chat_session *s, struct sampler_settings *sampling, struct sampler **out, char *err,
			  size_t err_size)
{
	sampling->seed += s->answers++;
	return sampler_create(s->model->config.vocab_size, sampling, out, err, err_size);
}

/* The end of an answer, rc being how the decoding went: an incomplete character
 * left in the stream is shown as its bytes, and the decode rate after the first
 * token (at time first) is counted.  Returns rc, or -1 when showing failed. */
static int end_answer(struct bpe_stream *stream, struct answer *answer, struct generation_stats *stats, double first,
		      int rc, chat_text_fn on_text, void *user_data, char *err, size_t err_size)
{
	const char *text;
	size_t length;
	bpe_stream_flush(stream, &text, &length);
	if (rc == 0 && show_text(answer, text, length, stats->cancelled ? NULL : on_text, user_data, err,
				 err_size) < 0)
		rc = -1;
	bpe_stream_free(stream);
	double end = clock_monotonic_seconds();
	if (stats->generated_tokens > 1 && end > first)
		stats->tokens_per_second = (stats->generated_tokens - 1) / (end - first);
	return rc;
}

/* An answer's next token, before it is shown: the time of the first one (the
 * request came at start), then false for an EOS, which ends the answer unshown,
 * else the token is counted. */
static bool answer_takes(const struct chat_session *s, int32_t token, double start, double *first,
			 struct generation_stats *stats)
{
	if (stats->generated_tokens == 0) {
		*first = clock_monotonic_seconds();
		stats->time_to_first_token = *first - start;
	}
	if (is_eos(&s->model->config, token)) {
		stats->stopped_by_eos = true;
		return false;
	}
	stats->generated_tokens++;
	return true;
}

/* After a token was shown (shown: show_token's result, not -1): whether the answer
 * stops there, cancelled (by on_text or cancel) or at a limit, which stats record. */
static bool answer_stops(int shown, const atomic_bool *cancel, bool at_limit, struct generation_stats *stats)
{
	if (shown > 0 || (cancel && atomic_load(cancel))) {
		stats->cancelled = true;
		return true;
	}
	if (at_limit) {
		stats->stopped_by_limit = true;
		return true;
	}
	return false;
}

/* Whether an answer ends with its token number generated (from 1), the answer
 * having begun at position prompt: max_tokens, max_length (transformers counts the
 * prompt and the answer so far) or the context's end (the engine then holds every
 * token before this one, and no room for it). */
static bool answer_at_limit(const struct chat_session *s, const struct generation_settings *settings, int prompt,
			    int generated)
{
	const int length = prompt + generated;
	return (settings->max_tokens > 0 && generated >= settings->max_tokens) ||
	       (settings->max_length > 0 && length >= settings->max_length) ||
	       length - 1 >= engine_context_length(s->engine);
}

/* How many tokens a speculative step may propose after the answer's token number
 * generated (not at a limit): the step gives one token more than it keeps, and
 * runs them all in the engine, which holds the prompt and the tokens before this
 * one. */
static size_t proposal_room(const struct chat_session *s, const struct generation_settings *settings, int prompt,
			    int generated)
{
	long room = SPECULATION_MAX_DRAFT;
	long in_context = (long)engine_context_length(s->engine) - prompt - generated;
	room = in_context < room ? in_context : room;
	if (settings->max_tokens > 0 && settings->max_tokens - generated - 1 < room)
		room = settings->max_tokens - generated - 1;
	if (settings->max_length > 0 && settings->max_length - prompt - generated - 1 < room)
		room = settings->max_length - prompt - generated - 1;
	return room > 0 ? (size_t)room : 0;
}

/* The tokens one speculative step settles: the proposals kept, then one token of
 * the model's own. */
struct settled {
	int32_t tokens[SPECULATION_MAX_DRAFT + 1];
	size_t count;
};

/* Runs input[0] (the answer's newest token) and its proposed proposals in one pass
 * and settles them: *kept proposals accepted in turn, then *next, the token drawn
 * after the last of them.  Greedy without a penalty asks the engine for each row's
 * argmax (no logits copied back: the sampler's choice, the same ids); otherwise every
 * row's logits go through sampler_accept_proposal (rows: room for them). */
static int verify(struct chat_session *s, struct sampler *sampler, const int32_t *input, size_t proposed,
		  float *rows, size_t *kept, int32_t *next, char *err, size_t err_size)
{
	const size_t vocab = (size_t)s->model->config.vocab_size, start = s->cached_count - proposed - 1;
	if (sampler_picks_argmax(sampler)) {
		int32_t best[SPECULATION_MAX_DRAFT + 1];
		if (engine_forward_argmax(s->engine, input, proposed + 1, best, err, err_size) != 0)
			return -1;
		while (*kept < proposed && best[*kept] == input[1 + *kept])
			(*kept)++;
		*next = best[*kept];
		return 0;
	}
	if (engine_forward(s->engine, input, proposed + 1, rows, true, err, err_size) != 0)
		return -1;
	/* row i follows input[0..i]: its history is the cache up to there */
	while (*kept < proposed && sampler_accept_proposal(sampler, rows + *kept * vocab, s->cached, start + 1 + *kept,
							   input[1 + *kept], next))
		(*kept)++;
	if (*kept == proposed)
		*next = sampler_sample(sampler, rows + *kept * vocab, s->cached, start + 1 + *kept);
	return 0;
}

/* One speculative step: token (the answer's newest, not yet run) and up to room
 * proposals after it run in one forward pass (rows: a row of logits each); the
 * proposals the sampler accepts in turn, then the token it draws after the last
 * of them, go to *out, and the engine keeps token and the accepted proposals.
 * *cap is the adaptive number of proposals (struct speculation's rule). */
static int speculation_step(struct chat_session *s, const struct speculation *spec, struct sampler *sampler,
			    int32_t token, size_t room, size_t *cap, float *rows, struct settled *out,
			    struct generation_stats *stats, char *err, size_t err_size)
{
	const size_t vocab = (size_t)s->model->config.vocab_size, start = s->cached_count;
	int32_t input[SPECULATION_MAX_DRAFT + 1] = {token};
	size_t want = *cap < room ? *cap : room;
	if (cache_push(s, &token, 1) != 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	size_t proposed = 0;
	if (want > 0 && spec->propose(spec->user_data, s->cached, s->cached_count, input + 1, want, &proposed, err,
				      err_size) != 0) {
		cache_truncate(s, start);
		return -1;
	}
	if (proposed > want)
		proposed = want;
	for (size_t i = 0; i < proposed; i++)   /* a proposal outside the vocabulary ends the draft */
		if (input[1 + i] < 0 || (size_t)input[1 + i] >= vocab)
			proposed = i;
	if (cache_push(s, input + 1, proposed) != 0) {
		cache_truncate(s, start);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	size_t kept = 0;
	int32_t next = -1;
	if (verify(s, sampler, input, proposed, rows, &kept, &next, err, err_size) != 0) {
		cache_truncate(s, start);   /* the engine is where it was */
		return -1;
	}
	cache_truncate(s, start + 1 + kept);
	engine_rewind(s->engine, (int)(start + 1 + kept));
	memcpy(out->tokens, input + 1, kept * sizeof *input);
	out->tokens[kept] = next;
	out->count = kept + 1;
	if (proposed > 0) {
		stats->speculation_steps++;
		stats->proposed_tokens += (int)proposed;
		stats->accepted_tokens += (int)kept;
		if (spec->draft_tokens == 0)
			*cap = kept == proposed ? (*cap < SPECULATION_MAX_DRAFT ? *cap + 1 : *cap) : kept + 1;
	}
	return 0;
}

/* decode_answer with speculation (settings->speculation): each token settled by a
 * step is shown in turn, with the same stops; the last of them, not yet run, starts
 * the next step.  What the engine ran past the shown answer (proposals kept after
 * an EOS or a stop) is forgotten at the end. */
static int decode_speculative(struct chat_session *s, const struct generation_settings *settings,
			      const atomic_bool *cancel, chat_text_fn on_text, void *user_data,
			      struct generation_stats *stats, struct answer *answer, double start, char *err,
			      size_t err_size)
{
	const struct speculation *spec = &settings->speculation;
	const size_t vocab = (size_t)s->model->config.vocab_size;
	struct sampler_settings sampling = settings->sampling;
	struct sampler *sampler;
	struct bpe_stream stream;
	struct settled settled = {.count = 1};
	size_t cap = spec->draft_tokens > 0 ? (size_t)spec->draft_tokens : SPECULATION_FIRST_DRAFT, next = 0;
	const int prompt = engine_position(s->engine);
	double first = 0;
	int rc = 0;

	if (answer_sampler(s, &sampling, &sampler, err, err_size) != 0)
		return -1;
	float *rows = malloc((SPECULATION_MAX_DRAFT + 1) * vocab * sizeof *rows);
	if (!rows) {
		sampler_free(sampler);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	settled.tokens[0] = sampler_sample(sampler, s->logits, s->cached, s->cached_count);
	bpe_stream_init(&stream);
	for (;;) {
		int32_t token = settled.tokens[next++];
		if (!answer_takes(s, token, start, &first, stats))
			break;
		const bool at_limit = answer_at_limit(s, settings, prompt, stats->generated_tokens);
		int shown = show_token(s, &stream, token, answer, on_text, user_data, err, err_size);
		if (shown < 0) {
			rc = -1;
			break;
		}
		if (answer_stops(shown, cancel, at_limit, stats))
			break;
		if (next < settled.count)   /* a kept proposal: the engine has run it */
			continue;
		size_t room = proposal_room(s, settings, prompt, stats->generated_tokens);
		if (speculation_step(s, spec, sampler, token, room, &cap, rows, &settled, stats, err, err_size) != 0) {
			rc = -1;
			break;
		}
		next = 0;
	}
	size_t answered = (size_t)prompt + (size_t)stats->generated_tokens;
	if (s->cached_count > answered) {
		cache_truncate(s, answered);
		engine_rewind(s->engine, (int)answered);
	}
	rc = end_answer(&stream, answer, stats, first, rc, on_text, user_data, err, err_size);
	free(rows);
	sampler_free(sampler);
	return rc;
}

/* Starts the engine's step for token that picks the next token itself: greedy, or
 * drawn on the device. */
static int begin_step(struct chat_session *s, bool greedy, const struct sampler_settings *sampling,
		      struct sampler *sampler, int32_t token, char *err, size_t err_size)
{
	if (greedy)
		return engine_decode_greedy_begin(s->engine, token, err, err_size);
	struct engine_draw draw;
	chat_engine_draw(sampling, sampler, &draw);
	return engine_decode_sample_begin(s->engine, token, &draw, err, err_size);
}

/* Decodes the answer after prefill: sample, stream, feed back, until a stop. */
static int decode_answer(struct chat_session *s, const struct generation_settings *settings,
			 const atomic_bool *cancel, chat_text_fn on_text, void *user_data,
			 struct generation_stats *stats, struct answer *answer, double start,
			 char *err, size_t err_size)
{
	struct sampler *sampler;
	struct sampler_settings sampling = settings->sampling;
	struct bpe_stream stream;
	double first = 0;
	int rc = 0;

	if (answer_sampler(s, &sampling, &sampler, err, err_size) != 0)
		return -1;
	/* greedy without a repetition penalty, or a draw on the GPU: the engine picks the
	 * next token itself (no logits copied back); the first token comes from the
	 * prompt's logits, through the sampler */
	const bool greedy = sampling.temperature == 0 && sampling.repeat_penalty == 1;
	const bool drawn = !greedy && engine_draws_on_device(s->engine);
	const bool engine_picks = greedy || drawn;
	if (drawn && engine_set_draw_history(s->engine, s->cached, s->cached_count, err, err_size) != 0) {
		sampler_free(sampler);
		return -1;
	}
	const int prompt = engine_position(s->engine);
	int32_t next = -1;
	bpe_stream_init(&stream);
	for (;;) {
		int32_t token = next >= 0 ? next : sampler_sample(sampler, s->logits, s->cached, s->cached_count);
		if (!answer_takes(s, token, start, &first, stats))
			break;
		const bool at_limit = answer_at_limit(s, settings, prompt, stats->generated_tokens);
		/* the GPU computes the next token while this one's text is shown */
		bool begun = false;
		if (engine_picks && !at_limit && !(cancel && atomic_load(cancel))) {
			if (begin_step(s, greedy, &sampling, sampler, token, err, err_size) != 0)
				rc = -1;
			else
				begun = true;
		}
		int shown = rc == 0 ? show_token(s, &stream, token, answer, on_text, user_data, err, err_size) : 0;
		if (shown < 0)
			rc = -1;
		/* the step begun must end, whatever happened meanwhile */
		char step_err[256];
		const int ended = !begun ? 0
				  : greedy ? engine_decode_greedy_end(s->engine, &next, step_err, sizeof step_err)
					   : engine_decode_sample_end(s->engine, &next, step_err, sizeof step_err);
		if (ended != 0 && rc == 0) {
			snprintf(err, err_size, "%s", step_err);
			rc = -1;
		}
		if (begun && rc == 0 && cache_push(s, &token, 1) != 0) {
			snprintf(err, err_size, "out of memory");
			rc = -1;
		}
		if (rc != 0)
			break;
		if (answer_stops(shown, cancel, at_limit, stats))
			break;
		if (!begun && engine_forward(s->engine, &token, 1, s->logits, false, err, err_size) != 0) {
			rc = -1;
			break;
		}
		if (!begun && cache_push(s, &token, 1) != 0) {
			snprintf(err, err_size, "out of memory");
			rc = -1;
			break;
		}
	}
	rc = end_answer(&stream, answer, stats, first, rc, on_text, user_data, err, err_size);
	sampler_free(sampler);
	return rc;
}

/* Renders the conversation as it goes to the model: the system prompt, then the
 * messages from the first one not left out. */
static int render_conversation(struct chat_session *s, int32_t **ids, size_t *count, size_t *capacity,
			       char *err, size_t err_size)
{
	size_t first = has_system(s) ? 1 : 0;
	if (first + s->left_out > s->message_count)   /* the messages left out were taken back (/retry) */
		s->left_out = s->message_count - first;
	size_t shown = s->message_count - s->left_out;
	struct chat_message *view = malloc((shown ? shown : 1) * sizeof *view);
	if (!view) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (shown > 0) {   /* an empty conversation may have no array at all */
		memcpy(view, s->messages, first * sizeof *view);
		memcpy(view + first, s->messages + first + s->left_out, (shown - first) * sizeof *view);
	}
	*count = 0;
	int rc = chat_template_encode(s->template_kind, s->bpe, view, shown, true, NULL, ids, count, capacity,
				      err, err_size);
	free(view);
	return rc;
}

/* Leaves out the oldest turn after the system prompt: its first message and any
 * that follow up to the next user message.  Returns false when only the newest
 * user message is left. */
static bool leave_out_oldest_turn(struct chat_session *s)
{
	size_t first = has_system(s) ? 1 : 0;
	if (first + s->left_out + 1 >= s->message_count)
		return false;
	s->left_out++;
	while (first + s->left_out + 1 < s->message_count &&
	       s->messages[first + s->left_out].role != CHAT_ROLE_USER)
		s->left_out++;
	return true;
}

/* The prompt of the next answer, leaving room for the answer: when the conversation
 * and a quarter of the context (or max_tokens, if fewer) do not fit, the oldest turns
 * are left out, never the system prompt nor the newest message; stats says how many
 * messages this took. */
static int render_fitting(struct chat_session *s, const struct generation_settings *settings, int32_t **ids,
			  size_t *count, size_t *capacity, struct generation_stats *stats, char *err, size_t err_size)
{
	const size_t context = (size_t)engine_context_length(s->engine);
	size_t room = context / 4;
	if (settings->max_tokens > 0 && (size_t)settings->max_tokens < room)
		room = (size_t)settings->max_tokens;
	size_t before = s->left_out;
	for (;;) {
		if (render_conversation(s, ids, count, capacity, err, err_size) != 0)
			return -1;
		if (*count + room <= context || !leave_out_oldest_turn(s))
			break;
	}
	if (*count >= context)   /* the newest message alone does not fit: ask fails, nothing changes */
		s->left_out = before;
	stats->left_out_messages = (int)(s->left_out - before);
	return 0;
}

int chat_session_ask(struct chat_session *session, const char *user_message,
		     const struct generation_settings *settings, const atomic_bool *cancel,
		     chat_text_fn on_text, void *user_data, struct generation_stats *stats,
		     char *err, size_t err_size)
{
	struct chat_session *s = session;
	struct generation_stats local;
	struct answer answer = {0};
	int32_t *ids = NULL;
	size_t id_count = 0, id_capacity = 0;
	double start = clock_monotonic_seconds();

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof *stats);
	if (insert_message(s, s->message_count, CHAT_ROLE_USER, user_message, strlen(user_message)) != 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	int context = engine_context_length(s->engine);
	if (render_fitting(s, settings, &ids, &id_count, &id_capacity, stats, err, err_size) != 0)
		goto fail;
	stats->prompt_tokens = (int)id_count;
	if (id_count >= (size_t)context) {
		snprintf(err, err_size, "prompt is %zu tokens but the context holds %d; use --ctx", id_count, context);
		goto fail;
	}
	int rc = prefill(s, ids, id_count, cancel, stats, err, err_size);
	if (rc < 0)
		goto fail;
	free(ids);
	ids = NULL;
	if (rc > 0) {
		/* stopped before the model read the whole message: it leaves the conversation
		 * again, which stays as it was (no answer, no unanswered turn) */
		stats->cancelled = stats->cancelled_in_prefill = true;
		remove_message(s, s->message_count - 1);
		return 0;
	}
	rc = settings->speculation.propose
		     ? decode_speculative(s, settings, cancel, on_text, user_data, stats, &answer, start, err, err_size)
		     : decode_answer(s, settings, cancel, on_text, user_data, stats, &answer, start, err, err_size);
	/* the answer joins the conversation even when cut short */
	if (insert_message(s, s->message_count, CHAT_ROLE_ASSISTANT, answer.text ? answer.text : "",
			   answer.length) != 0 && rc == 0) {
		snprintf(err, err_size, "out of memory");
		rc = -1;
	}
	free(answer.text);
	return rc;
fail:
	free(ids);
	remove_message(s, s->message_count - 1);
	return -1;
}

const char *chat_session_pop_answer(struct chat_session *session)
{
	if (session->message_count == 0)
		return NULL;
	if (session->messages[session->message_count - 1].role == CHAT_ROLE_ASSISTANT)
		remove_message(session, session->message_count - 1);
	if (session->message_count == 0 || session->messages[session->message_count - 1].role != CHAT_ROLE_USER)
		return NULL;
	/* ask appends the user message again: take it out, keep its text for the caller */
	free(session->popped);
	session->popped = (char *)session->messages[--session->message_count].content;
	return session->popped;
}

void chat_session_clear(struct chat_session *session)
{
	free_messages(session, has_system(session) ? 1 : 0);
}

size_t chat_session_message_count(const struct chat_session *session)
{
	return session->message_count;
}

const struct chat_message *chat_session_messages(const struct chat_session *session)
{
	return session->messages;
}

int chat_session_load_messages(struct chat_session *session, const struct chat_message *messages,
			       size_t count, char *err, size_t err_size)
{
	free_messages(session, 0);
	for (size_t i = 0; i < count; i++) {
		if (insert_message(session, i, messages[i].role, messages[i].content, strlen(messages[i].content)) != 0) {
			free_messages(session, 0);
			snprintf(err, err_size, "out of memory");
			return -1;
		}
	}
	return 0;
}

size_t chat_session_left_out(const struct chat_session *session)
{
	return session->left_out;
}

int chat_session_count_tokens(struct chat_session *session, char *err, size_t err_size)
{
	int32_t *ids = NULL;
	size_t count = 0, capacity = 0;
	if (session->message_count == 0)
		return 0;   /* nothing said: the context holds nothing yet */
	int rc = render_conversation(session, &ids, &count, &capacity, err, err_size);
	free(ids);
	return rc != 0 ? -1 : (int)count;
}

int chat_session_context_used(const struct chat_session *session)
{
	return atomic_load(&session->context_used);
}

int chat_session_context_length(const struct chat_session *session)
{
	return engine_context_length(session->engine);
}
