/*
 * chat_decode.c - one answer of a chat session, token by token: sampled on the host
 * or picked by the engine (greedy, or drawn on the GPU), or settled a speculative
 * step at a time (a proposer's tokens checked in one pass); each token's text is
 * streamed through bpe_stream so that only whole UTF-8 sequences reach the caller.
 */
#include "chat_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array_grow.h"
#include "bpe.h"
#include "clock.h"
#include "engine.h"
#include "model.h"
#include "sampler.h"


static int answer_append(struct answer *a, const char *text, size_t length)
{
	char *t = array_reserve(a->text, &a->capacity, a->length + length + 1, 1, 256);
	if (!t)
		return -1;
	a->text = t;
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
	if (chat_cache_push(s, &token, 1) != 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	size_t proposed = 0;
	if (want > 0 && spec->propose(spec->user_data, s->cached, s->cached_count, input + 1, want, &proposed, err,
				      err_size) != 0) {
		chat_cache_truncate(s, start);
		return -1;
	}
	if (proposed > want)
		proposed = want;
	for (size_t i = 0; i < proposed; i++)   /* a proposal outside the vocabulary ends the draft */
		if (input[1 + i] < 0 || (size_t)input[1 + i] >= vocab)
			proposed = i;
	if (chat_cache_push(s, input + 1, proposed) != 0) {
		chat_cache_truncate(s, start);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	size_t kept = 0;
	int32_t next = -1;
	if (verify(s, sampler, input, proposed, rows, &kept, &next, err, err_size) != 0) {
		chat_cache_truncate(s, start);   /* the engine is where it was */
		return -1;
	}
	chat_cache_truncate(s, start + 1 + kept);
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
		chat_cache_truncate(s, answered);
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
	const bool greedy = sampler_picks_argmax(sampler);
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
		if (begun && rc == 0 && chat_cache_push(s, &token, 1) != 0) {
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
		if (!begun && chat_cache_push(s, &token, 1) != 0) {
			snprintf(err, err_size, "out of memory");
			rc = -1;
			break;
		}
	}
	rc = end_answer(&stream, answer, stats, first, rc, on_text, user_data, err, err_size);
	sampler_free(sampler);
	return rc;
}

int chat_decode_answer(struct chat_session *s, const struct generation_settings *settings, const atomic_bool *cancel,
		       chat_text_fn on_text, void *user_data, struct generation_stats *stats, struct answer *answer,
		       double start, char *err, size_t err_size)
{
	if (settings->speculation.propose)
		return decode_speculative(s, settings, cancel, on_text, user_data, stats, answer, start, err, err_size);
	return decode_answer(s, settings, cancel, on_text, user_data, stats, answer, start, err, err_size);
}
