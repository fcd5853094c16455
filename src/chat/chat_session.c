/*
 * chat_session.c - a conversation over one engine.
 *
 * After each user turn the whole conversation is rendered again with the chat
 * template; the session remembers which tokens its engine's KV cache holds
 * (`cached`, always engine_position() long), keeps the longest common prefix,
 * rewinds the engine to it and prefills the rest; chat_decode.c decodes the answer.
 * An answer's tokens stay in the cache; when the next turn renders that answer again
 * the tokens usually agree and nothing is recomputed.
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
#include "chat_decode.h"
#include "clock.h"
#include "engine.h"
#include "model.h"

#define DEFAULT_TEMPERATURE 0.6f
#define DEFAULT_TOP_P 0.9f
#define DEFAULT_MAX_TOKENS 4096


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

int chat_cache_push(struct chat_session *s, const int32_t *ids, size_t count)
{
	int32_t *cached = array_reserve(s->cached, &s->cached_capacity, s->cached_count + count, sizeof *cached, 256);
	if (!cached)
		return -1;
	s->cached = cached;
	memcpy(s->cached + s->cached_count, ids, count * sizeof *ids);
	s->cached_count += count;
	atomic_store(&s->context_used, (int)s->cached_count);
	return 0;
}

/* Drops what the cache holds past position from the session's record (the engine
 * rewinds itself). */
void chat_cache_truncate(struct chat_session *s, size_t position)
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
	chat_cache_truncate(s, prefix);
	int rc = engine_prefill(s->engine, ids + prefix, count - prefix, s->logits, cancel, err, err_size);
	if (rc != 0)
		return rc;
	stats->prefilled_tokens = (int)(count - prefix);
	if (chat_cache_push(s, ids + prefix, count - prefix) != 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
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
	rc = chat_decode_answer(s, settings, cancel, on_text, user_data, stats, &answer, start, err, err_size);
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
