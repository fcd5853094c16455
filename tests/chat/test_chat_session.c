/*
 * test_chat_session.c - a conversation over a synthetic model with Llama 3's real
 * tokenizer: the KV cache is reused across turns and the answers are the ones a
 * fresh session computes; stops (EOS, max_tokens, cancel, the callback, the
 * context) are reported; an over-long prompt is a one-line error that leaves the
 * conversation as it was.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "bpe.h"
#include "chat_session.h"
#include "engine.h"
#include "synthetic_model.h"
#include "references.h"
#include "collected.h"
#include "tap.h"

#define TOKENIZER REFERENCE_TOKENIZER

static struct generation_settings greedy(int max_tokens)
{
	struct generation_settings g = {{0, 1, 0, 1, 0, 1}, max_tokens, 0};
	return g;
}

static struct chat_session *new_session(struct synthetic *s, struct engine *e, struct bpe *bpe)
{
	struct chat_session *session = NULL;
	char err[256];
	if (chat_session_create(&s->model, e, bpe, CHAT_TEMPLATE_LLAMA31, &session, err, sizeof err) != 0)
		tap_diag("chat_session_create: %s", err);
	return session;
}

int main(void)
{
	struct synthetic s;
	struct bpe *bpe;
	struct engine *e1, *e2;
	char err[512];
	if (references_skip(TOKENIZER)) {
		printf("1..0 # SKIP needs Llama 3's tokenizer.json from the npm reference packages (tests/npm/node_modules; tests/run fetches them)\n");
		return 0;
	}
	if (!tap_ok(bpe_load_hf_json(TOKENIZER, &bpe, err, sizeof err) == 0, "Llama 3 tokenizer loads"))
		return tap_done();
	synthetic_model_sized(&s, SYNTHETIC_BF16, 1, 3, bpe_vocab_size(bpe), 512);
	s.model.config.eos_token_ids[0] = 128009;
	struct engine_options o = {.backend = ENGINE_BACKEND_CPU, .context_length = 512, .threads = 2};
	engine_create(&s.model, &o, &e1, err, sizeof err);
	engine_create(&s.model, &o, &e2, err, sizeof err);

	struct chat_session *a = new_session(&s, e1, bpe), *b = new_session(&s, e2, bpe);
	struct generation_settings g = greedy(6);
	struct generation_stats st;
	struct collected c1 = {0}, c2 = {0}, c3 = {0};

	chat_session_set_system(a, "Be brief.");
	int rc = chat_session_ask(a, "Hello!", &g, NULL, collect, &c1, &st, err, sizeof err);
	tap_ok(rc == 0 && st.prompt_tokens > 20 && st.prefilled_tokens == st.prompt_tokens,
	       "first turn prefills the whole prompt (%d tokens)", st.prompt_tokens);
	tap_ok(st.generated_tokens == 6 && st.stopped_by_limit && !st.stopped_by_eos,
	       "max_tokens 6 stops after 6 tokens (%d)", st.generated_tokens);
	tap_ok(chat_session_message_count(a) == 3 && chat_session_messages(a)[2].role == CHAT_ROLE_ASSISTANT &&
	       strcmp(chat_session_messages(a)[2].content, c1.text) == 0,
	       "the streamed answer joins the conversation as the assistant's message");
	tap_ok(chat_session_context_used(a) == engine_position(e1) && engine_position(e1) == st.prompt_tokens + 5,
	       "the cache holds the prompt and the answer's tokens but the last (%d)", chat_session_context_used(a));

	rc = chat_session_ask(a, "And then?", &g, NULL, collect, &c2, &st, err, sizeof err);
	int second_prompt = st.prompt_tokens;
	tap_ok(rc == 0 && st.prefilled_tokens < st.prompt_tokens / 2,
	       "second turn prefills only what is new (%d of %d tokens)", st.prefilled_tokens, st.prompt_tokens);

	/* the same conversation in a fresh session, prefilled from nothing */
	struct chat_message history[3];
	memcpy(history, chat_session_messages(a), sizeof history);
	rc = chat_session_load_messages(b, history, 3, err, sizeof err);
	rc |= chat_session_ask(b, "And then?", &g, NULL, collect, &c3, &st, err, sizeof err);
	tap_ok(rc == 0 && st.prefilled_tokens == second_prompt && strcmp(c2.text, c3.text) == 0,
	       "a reused cache gives the answer a fresh prefill gives");

	/* generation_config.json's max_length: prompt and answer together, as transformers counts */
	chat_session_pop_answer(b);
	struct generation_settings capped = greedy(100);
	capped.max_length = second_prompt + 4;
	struct collected capped_text = {0};
	rc = chat_session_ask(b, "And then?", &capped, NULL, collect, &capped_text, &st, err, sizeof err);
	tap_ok(rc == 0 && st.generated_tokens == 4 && st.stopped_by_limit &&
	       strncmp(capped_text.text, c3.text, strlen(capped_text.text)) == 0,
	       "max_length %d stops the answer when prompt and answer reach it (%d tokens)", capped.max_length,
	       st.generated_tokens);

	const char *again = chat_session_pop_answer(a);
	tap_ok(again && strcmp(again, "And then?") == 0 && chat_session_message_count(a) == 3,
	       "pop_answer removes the answer and hands back its question");
	struct collected c4 = {0};
	rc = chat_session_ask(a, again, &g, NULL, collect, &c4, &st, err, sizeof err);
	tap_ok(rc == 0 && strcmp(c4.text, c2.text) == 0 && st.prefilled_tokens <= 1,
	       "asking it again regenerates the same greedy answer from the cache (%d prefilled)", st.prefilled_tokens);

	/* EOS: make the first greedy token of the next answer an end token */
	chat_session_pop_answer(a);
	struct collected c5 = {0};
	struct generation_settings one = greedy(1);
	chat_session_ask(a, "And then?", &one, NULL, collect, &c5, &st, err, sizeof err);
	chat_session_pop_answer(a);
	/* the one token's id: encode its text */
	int32_t *ids = NULL;
	size_t n = 0, cap = 0;
	bpe_encode(bpe, c5.text, c5.length, &ids, &n, &cap, err, sizeof err);
	s.model.config.eos_token_ids[1] = n ? ids[0] : 0;
	s.model.config.eos_token_count = 2;
	free(ids);
	struct collected c6 = {0};
	rc = chat_session_ask(a, "And then?", &g, NULL, collect, &c6, &st, err, sizeof err);
	tap_ok(rc == 0 && st.stopped_by_eos && st.generated_tokens == 0 && c6.length == 0,
	       "an end token stops the answer and is not shown");
	s.model.config.eos_token_count = 1;

	/* a cancel (a signal in pipe mode) that comes during the prefill stops it there */
	atomic_bool cancel = true;
	struct collected c7 = {0};
	int used_before = chat_session_context_used(a);
	size_t messages_before = chat_session_message_count(a);
	rc = chat_session_ask(a, "Go on.", &g, &cancel, collect, &c7, &st, err, sizeof err);
	tap_ok(rc == 0 && st.cancelled && st.generated_tokens == 0 && c7.calls == 0 && st.prefilled_tokens == 0,
	       "a cancel set before the answer stops it in the prefill: no token (rc %d, %d generated, %d calls, %d prefilled, %s)",
	       rc, st.generated_tokens, c7.calls, st.prefilled_tokens, st.cancelled ? "cancelled" : "not cancelled");
	tap_ok(st.cancelled_in_prefill, "... which the statistics say (cancelled_in_prefill)");
	tap_ok(chat_session_context_used(a) == engine_position(e1) && chat_session_context_used(a) <= used_before &&
	       chat_session_message_count(a) == messages_before &&
	       chat_session_messages(a)[messages_before - 1].role == CHAT_ROLE_ASSISTANT,
	       "... the cache keeps only what it held, and the message left the conversation again (%zu messages, %zu before)",
	       chat_session_message_count(a), messages_before);
	struct collected c8 = {.stop_after = 2};
	rc = chat_session_ask(a, "Go on.", &g, NULL, collect, &c8, &st, err, sizeof err);
	tap_ok(rc == 0 && st.cancelled && c8.calls == 2, "a callback returning non-zero stops the answer (%d calls, %d tokens)", c8.calls, st.generated_tokens);

	size_t before = chat_session_message_count(a);
	char long_message[6000];
	memset(long_message, 0, sizeof long_message);
	for (int i = 0; i < 500; i++)
		strcat(long_message, "word ");
	rc = chat_session_ask(a, long_message, &g, NULL, collect, &c8, &st, err, sizeof err);
	tap_ok(rc != 0 && strstr(err, "tokens but the context holds 512; use --ctx") && chat_session_message_count(a) == before,
	       "an over-long prompt is refused in one line, conversation unchanged: %s", err);

	tap_ok(chat_session_left_out(a) == 0, "a refused prompt leaves no message out of the next one");

	/* a conversation longer than the context: the oldest turns are left out of the
	 * prompt (kept in the conversation), never the system prompt nor the new message */
	chat_session_clear(a);
	for (int turn = 0; turn < 3; turn++) {
		struct collected quiet = {0};
		chat_session_ask(a, "Tell me about lighthouses, their keepers, their lamps and the ships they guard, "
				 "and about the storms, the fog and the long nights of the northern winter coast.",
				 &g, NULL, collect, &quiet, &st, err, sizeof err);
	}
	char longer[4000] = "";
	for (int i = 0; i < 400; i++)
		strcat(longer, "word ");
	before = chat_session_message_count(a);
	struct collected c10 = {0};
	rc = chat_session_ask(a, longer, &g, NULL, collect, &c10, &st, err, sizeof err);
	tap_ok(rc == 0 && st.left_out_messages >= 2 && (size_t)st.left_out_messages <= before - 1 &&
	       chat_session_left_out(a) == (size_t)st.left_out_messages && chat_session_message_count(a) == before + 2 &&
	       chat_session_messages(a)[0].role == CHAT_ROLE_SYSTEM,
	       "a conversation past the context leaves its %d oldest messages out and keeps them (%s)",
	       st.left_out_messages, rc ? err : "answered");
	tap_ok(st.prompt_tokens + 6 <= 512 && chat_session_context_used(a) <= 512,
	       "... the prompt leaves the answer its room (%d tokens)", st.prompt_tokens);

	chat_session_clear(a);
	tap_ok(chat_session_left_out(a) == 0, "clear forgets what was left out");
	tap_ok(chat_session_message_count(a) == 1 && chat_session_messages(a)[0].role == CHAT_ROLE_SYSTEM,
	       "clear keeps the system prompt only");
	struct collected c9 = {0};
	rc = chat_session_ask(a, "Hello!", &g, NULL, collect, &c9, &st, err, sizeof err);
	tap_ok(rc == 0 && strcmp(c9.text, c1.text) == 0, "after clear the first question gets the first answer again");
	tap_ok(st.time_to_first_token > 0 && st.tokens_per_second > 0, "stats: time to first token %.4f s, %.1f tokens/s",
	       st.time_to_first_token, st.tokens_per_second);

	/* a conversation that ends on a user message (a history file saved before its answer came) */
	const struct chat_message unanswered[] = {
		{CHAT_ROLE_USER, "Hello!"}, {CHAT_ROLE_ASSISTANT, "Hi."}, {CHAT_ROLE_USER, "Still there?"},
	};
	rc = chat_session_load_messages(b, unanswered, 3, err, sizeof err);
	int counted = chat_session_count_tokens(b, err, sizeof err);
	const char *question = chat_session_pop_answer(b);
	tap_ok(rc == 0 && question && !strcmp(question, "Still there?") && chat_session_message_count(b) == 2,
	       "pop_answer hands back a last message that has no answer");
	struct collected c11 = {0};
	rc = chat_session_ask(b, question, &g, NULL, collect, &c11, &st, err, sizeof err);
	tap_ok(rc == 0 && counted > 0 && st.prompt_tokens == counted,
	       "count_tokens counts the prompt the next answer reads, without the model (%d; the prompt: %d)", counted,
	       st.prompt_tokens);

	/* a resumed conversation with no message (its only exchange taken back by /edit) */
	rc = chat_session_load_messages(b, NULL, 0, err, sizeof err);
	counted = chat_session_count_tokens(b, err, sizeof err);
	tap_ok(rc == 0 && chat_session_message_count(b) == 0 && counted == 0,
	       "an empty conversation loads, and fills no context yet (%d tokens)", counted);

	chat_session_free(a);
	chat_session_free(b);
	engine_free(e1);
	engine_free(e2);
	bpe_free(bpe);
	synthetic_free(&s);
	return tap_done();
}
