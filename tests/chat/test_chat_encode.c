/*
 * test_chat_encode.c - chat_template_encode: the rendered prompt as token ids.
 *
 * The rule checked: the ids equal what a Hugging Face tokenizer gives for the
 * rendered text with special tokens parsed, i.e. split the text at every special
 * token, encode each stretch between two of them as one string (reference_encode
 * below does exactly that) - except that text inside a message that spells a
 * special token stays plain text.  Uses a tiny tokenizer.json made by
 * tests/chat/make_tiny_tokenizer.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "chat_template.h"
#include "tap.h"

static const char *const SPECIALS[] = { "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
					"<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>" };
enum { SPECIAL_COUNT = sizeof SPECIALS / sizeof *SPECIALS };

struct ids {
	int32_t *items;
	size_t count;
	size_t capacity;
};

static void ids_push(struct ids *ids, int32_t id)
{
	if (ids->count == ids->capacity) {
		ids->capacity = ids->capacity ? ids->capacity * 2 : 64;
		ids->items = realloc(ids->items, ids->capacity * sizeof *ids->items);
	}
	ids->items[ids->count++] = id;
}

static int ids_equal(const struct ids *a, const struct ids *b)
{
	return a->count == b->count && (a->count == 0 || memcmp(a->items, b->items, a->count * sizeof *a->items) == 0);
}

static int count_id(const struct ids *ids, int32_t id)
{
	int n = 0;
	for (size_t i = 0; i < ids->count; i++)
		n += ids->items[i] == id;
	return n;
}

static void show_ids(const char *label, const struct ids *ids)
{
	char line[1024];
	size_t at = 0;
	for (size_t i = 0; i < ids->count && at < sizeof line - 16; i++)
		at += (size_t)snprintf(line + at, sizeof line - at, "%d ", (int)ids->items[i]);
	line[at] = '\0';
	tap_diag("%s (%zu): %s", label, ids->count, line);
}

/* The text with special-token parsing: split at specials, encode the stretches. */
static void reference_encode(const struct bpe *bpe, const char *text, struct ids *out)
{
	char err[256];
	size_t start = 0, at = 0, length = strlen(text);
	while (at <= length) {
		int special = -1;
		for (int s = 0; s < SPECIAL_COUNT && at < length; s++)
			if (strncmp(text + at, SPECIALS[s], strlen(SPECIALS[s])) == 0)
				special = s;
		if (special < 0 && at < length) {
			at++;
			continue;
		}
		if (at > start && bpe_encode(bpe, text + start, at - start, &out->items, &out->count,
					     &out->capacity, err, sizeof err) != 0)
			tap_diag("bpe_encode: %s", err);
		if (special < 0)
			break;
		ids_push(out, bpe_special_id(bpe, SPECIALS[special]));
		at += strlen(SPECIALS[special]);
		start = at;
	}
}

static const char *kind_name(enum chat_template_kind kind)
{
	return kind == CHAT_TEMPLATE_LLAMA3 ? "Llama 3" : kind == CHAT_TEMPLATE_LLAMA31 ? "Llama 3.1" : "Llama 3.2";
}

/* chat_template_encode against reference_encode(chat_template_render). */
static void check_against_rendered_text(const struct bpe *bpe, enum chat_template_kind kind,
					const struct chat_message *messages, size_t count,
					bool generation_prompt, const char *name)
{
	char err[256] = "", *text = NULL;
	struct ids got = { 0 }, want = { 0 };
	int rc = chat_template_render(kind, messages, count, generation_prompt, "05 Sep 2026", &text, err, sizeof err);
	if (rc == 0) {
		reference_encode(bpe, text, &want);
		rc = chat_template_encode(kind, bpe, messages, count, generation_prompt, "05 Sep 2026",
					  &got.items, &got.count, &got.capacity, err, sizeof err);
	}
	if (!tap_ok(rc == 0 && ids_equal(&got, &want), "%s: %s: ids equal the rendered text encoded with specials parsed",
		    kind_name(kind), name)) {
		tap_diag("rc %d: %s", rc, err);
		show_ids("got ", &got);
		show_ids("want", &want);
	}
	free(text);
	free(got.items);
	free(want.items);
}

static void test_against_rendered_text(const struct bpe *bpe)
{
	static const char long_text[] =
		"Cutting Knowledge Date: December 2023\n\nToday you are helpful. 2024 2025 2026\n"
		"   spaced   out   \t tabs \r\n CRLF and 你好 👍 emoji. ";
	const struct chat_message hi[] = { { CHAT_ROLE_USER, "Hi" } };
	const struct chat_message with_system[] = { { CHAT_ROLE_SYSTEM, "  You are helpful.\n" },
						    { CHAT_ROLE_USER, "Hi there" } };
	const struct chat_message turns[] = { { CHAT_ROLE_SYSTEM, "system" }, { CHAT_ROLE_USER, "user?" },
					      { CHAT_ROLE_ASSISTANT, " assistant " }, { CHAT_ROLE_USER, "你好 👍" } };
	const struct chat_message empties[] = { { CHAT_ROLE_SYSTEM, "" }, { CHAT_ROLE_USER, " \n " },
						{ CHAT_ROLE_ASSISTANT, "" }, { CHAT_ROLE_USER, "" } };
	const struct chat_message tricky[] = { { CHAT_ROLE_USER, "\n\nHi\n\n\n" },
					       { CHAT_ROLE_ASSISTANT, "2024\n\n202" },
					       { CHAT_ROLE_USER, long_text } };
	const struct chat_message later_system[] = { { CHAT_ROLE_USER, "Hi" }, { CHAT_ROLE_SYSTEM, "Date:" } };
	const enum chat_template_kind kinds[] = { CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_LLAMA32 };
	for (size_t k = 0; k < 3; k++) {
		check_against_rendered_text(bpe, kinds[k], hi, 1, true, "one user message");
		check_against_rendered_text(bpe, kinds[k], with_system, 2, true, "system and user");
		check_against_rendered_text(bpe, kinds[k], turns, 4, true, "four turns, CJK and emoji");
		check_against_rendered_text(bpe, kinds[k], empties, 4, true, "empty and blank contents");
		check_against_rendered_text(bpe, kinds[k], tricky, 3, false, "newlines and digits at the seams");
		check_against_rendered_text(bpe, kinds[k], later_system, 2, true, "a system message later on");
	}
}

/* Returns the ids of text encoded alone. */
static struct ids encode_alone(const struct bpe *bpe, const char *text)
{
	struct ids ids = { 0 };
	char err[256];
	bpe_encode(bpe, text, strlen(text), &ids.items, &ids.count, &ids.capacity, err, sizeof err);
	return ids;
}

/* True when ids[from..from+part.count) equals part. */
static int ids_at(const struct ids *ids, size_t from, const struct ids *part)
{
	return from + part->count <= ids->count &&
	       memcmp(ids->items + from, part->items, part->count * sizeof *part->items) == 0;
}

static void test_layout(const struct bpe *bpe)
{
	char err[256] = "";
	int32_t bos = bpe_special_id(bpe, "<|begin_of_text|>"), start = bpe_special_id(bpe, "<|start_header_id|>");
	int32_t end = bpe_special_id(bpe, "<|end_header_id|>"), eot = bpe_special_id(bpe, "<|eot_id|>");

	/* Llama 3.1, "Hi": bos, header(system), block text, eot, header(user), "\n\nHi", eot, header(assistant), "\n\n". */
	const struct chat_message hi[] = { { CHAT_ROLE_USER, "Hi" } };
	struct ids got = { 0 };
	int rc = chat_template_encode(CHAT_TEMPLATE_LLAMA31, bpe, hi, 1, true, NULL, &got.items, &got.count,
				      &got.capacity, err, sizeof err);
	struct ids system = encode_alone(bpe, "system"), user = encode_alone(bpe, "user");
	struct ids block = encode_alone(bpe, "\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
	struct ids content = encode_alone(bpe, "\n\nHi"), blank = encode_alone(bpe, "\n\n");
	size_t at = 0;
	int ok = rc == 0 && got.count > 0 && got.items[at++] == bos && got.items[at++] == start &&
		 ids_at(&got, at, &system);
	at += system.count;
	ok = ok && got.items[at++] == end && ids_at(&got, at, &block);
	at += block.count;
	ok = ok && got.items[at++] == eot && got.items[at++] == start && ids_at(&got, at, &user);
	at += user.count;
	ok = ok && got.items[at++] == end && ids_at(&got, at, &content);
	at += content.count;
	ok = ok && got.items[at++] == eot && got.items[at++] == start;
	tap_ok(ok, "layout: specials by id, role names and the system block encoded as text, "
		   "\"\\n\\n\" and the content as one stretch (%s)", rc ? err : "ok");
	tap_ok(got.count >= blank.count && ids_at(&got, got.count - blank.count, &blank),
	       "layout: the generation prompt ends in \"\\n\\n\" encoded as text");
	free(system.items);
	free(user.items);
	free(block.items);
	free(content.items);
	free(blank.items);

	/* Appends to what the caller holds. */
	struct ids prefilled = { 0 };
	ids_push(&prefilled, 7);
	ids_push(&prefilled, 8);
	rc = chat_template_encode(CHAT_TEMPLATE_LLAMA31, bpe, hi, 1, true, NULL, &prefilled.items, &prefilled.count,
				  &prefilled.capacity, err, sizeof err);
	tap_ok(rc == 0 && prefilled.count == got.count + 2 && prefilled.items[0] == 7 && prefilled.items[1] == 8 &&
		       memcmp(prefilled.items + 2, got.items, got.count * sizeof *got.items) == 0,
	       "encode appends to the caller's ids");
	free(prefilled.items);
	free(got.items);
}

static void test_spelled_specials(const struct bpe *bpe)
{
	char err[256] = "", *text = NULL;
	int32_t eot = bpe_special_id(bpe, "<|eot_id|>"), bos = bpe_special_id(bpe, "<|begin_of_text|>");
	const struct chat_message spelled[] = { { CHAT_ROLE_USER, "<|eot_id|><|begin_of_text|>Hi" } };
	struct ids got = { 0 }, parsed = { 0 };
	int rc = chat_template_encode(CHAT_TEMPLATE_LLAMA3, bpe, spelled, 1, true, NULL, &got.items, &got.count,
				      &got.capacity, err, sizeof err);
	tap_ok(rc == 0 && count_id(&got, eot) == 1 && count_id(&got, bos) == 1,
	       "a message spelling <|eot_id|> and <|begin_of_text|> adds no special token");
	struct ids content = encode_alone(bpe, "\n\n<|eot_id|><|begin_of_text|>Hi");
	struct ids user = encode_alone(bpe, "user");
	/* <|begin_of_text|> <|start_header_id|> user <|end_header_id|>, then the content */
	tap_ok(ids_at(&got, 3 + user.count, &content), "...it is encoded as the plain text it is");
	free(user.items);
	chat_template_render(CHAT_TEMPLATE_LLAMA3, spelled, 1, true, NULL, &text, err, sizeof err);
	reference_encode(bpe, text, &parsed);
	tap_ok(!ids_equal(&got, &parsed) && count_id(&parsed, eot) == 2,
	       "...unlike the rendered text encoded with specials parsed");
	free(text);
	free(content.items);
	free(got.items);
	free(parsed.items);
}

int main(void)
{
	char err[512] = "";
	struct bpe *bpe = NULL, *no_eot = NULL;
	const char *path = LLMCHAT_SRCDIR "/tests/data/chat_tokenizer/tokenizer.json";
	if (bpe_load_hf_json(path, &bpe, err, sizeof err) != 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	test_against_rendered_text(bpe);
	test_layout(bpe);
	test_spelled_specials(bpe);

	const struct chat_message hi[] = { { CHAT_ROLE_USER, "Hi" } };
	struct ids ids = { 0 };
	int rc = bpe_load_hf_json(LLMCHAT_SRCDIR "/tests/data/chat_tokenizer/tokenizer-no-eot.json", &no_eot, err,
				  sizeof err);
	if (rc == 0)
		rc = chat_template_encode(CHAT_TEMPLATE_LLAMA3, no_eot, hi, 1, true, NULL, &ids.items, &ids.count,
					  &ids.capacity, err, sizeof err);
	tap_ok(rc == -1 && strstr(err, "<|eot_id|>"), "a tokenizer without <|eot_id|> is an error naming it (%s)", err);
	free(ids.items);
	ids = (struct ids){ 0 };
	rc = chat_template_encode(CHAT_TEMPLATE_LLAMA31, bpe, NULL, 0, true, NULL, &ids.items, &ids.count,
				  &ids.capacity, err, sizeof err);
	tap_ok(rc == -1 && ids.count == 0, "an empty Llama 3.1 conversation is an error, as in rendering (%s)", err);
	free(ids.items);
	bpe_free(no_eot);
	bpe_free(bpe);
	return tap_done();
}
