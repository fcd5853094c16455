/*
 * chat_encode_conformance.c - chat_template_encode with Llama 3's real vocabulary
 * against npm tiktoken encoding the Jinja-rendered prompt with specials parsed.
 *
 * Reads the JSON lines of `render_reference.mjs TEMPLATE_DIR TOKENIZER_JSON`
 * (each with ids) and the same tokenizer.json; one TAP check per case.  Cases
 * whose messages spell a special token are left out: there llmchat encodes the
 * spelling as text on purpose (tests/chat/test_chat_encode.c checks that).
 * Run by tests/chat/chat_encode_conformance.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bpe.h"
#include "chat_reference.h"
#include "chat_template.h"
#include "tap.h"

enum { MINIMUM_CASES = 3 * 30 };

/* Shows where two id lists part. */
static void show_difference(const int32_t *got, size_t got_count, json_t *want)
{
	size_t at = 0, want_count = json_array_size(want);
	while (at < got_count && at < want_count && got[at] == json_integer_value(json_array_get(want, at)))
		at++;
	tap_diag("first difference at id %zu (got %zu ids, want %zu)", at, got_count, want_count);
	for (size_t i = at; i < at + 8; i++)
		tap_diag("  [%zu] got %ld want %ld", i, i < got_count ? (long)got[i] : -1L,
			 i < want_count ? (long)json_integer_value(json_array_get(want, i)) : -1L);
}

/* Encodes one case and compares; returns 1 when it matches, -1 when skipped. */
static int check_case(const struct bpe *bpe, json_t *line)
{
	struct chat_reference ref;
	json_t *want = json_object_get(line, "ids");
	if (chat_reference_read(line, &ref) != 0 || !json_is_array(want))
		return tap_ok(0, "a well-formed reference line with ids");
	if (json_is_true(json_object_get(line, "spells_special"))) {
		chat_reference_free(&ref);
		return -1;
	}
	int32_t *ids = NULL;
	size_t count = 0, capacity = 0;
	char err[256] = "";
	int rc = chat_template_encode(ref.kind, bpe, ref.messages, ref.count, ref.add_generation_prompt, ref.today,
				      &ids, &count, &capacity, err, sizeof err);
	int same = rc == 0 && count == json_array_size(want);
	for (size_t i = 0; same && i < count; i++)
		same = ids[i] == json_integer_value(json_array_get(want, i));
	int ok = tap_ok(same, "%s: %s: %zu ids", ref.template_name, ref.name, count);
	if (rc != 0)
		tap_diag("encode failed: %s", err);
	else if (!ok)
		show_difference(ids, count, want);
	free(ids);
	chat_reference_free(&ref);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: chat_encode_conformance EXPECTED.jsonl TOKENIZER_JSON\n");
		return 2;
	}
	char err[512];
	struct bpe *bpe = NULL;
	if (bpe_load_hf_json(argv[2], &bpe, err, sizeof err) != 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		bpe_free(bpe);
		printf("Bail out! cannot open %s\n", argv[1]);
		return 1;
	}
	int cases = 0, skipped = 0;
	char *text = NULL;
	size_t text_cap = 0;
	while (getline(&text, &text_cap, f) > 0) {
		json_error_t error;
		json_t *line = json_loads(text, 0, &error);
		if (!line)
			tap_ok(0, "reference line %d is JSON (%s)", cases + 1, error.text);
		else if (check_case(bpe, line) < 0)
			skipped++;
		json_decref(line);
		cases++;
	}
	free(text);
	fclose(f);
	bpe_free(bpe);
	tap_diag("%d cases spell a special token and were left out", skipped);
	tap_ok(cases - skipped >= MINIMUM_CASES, "at least %d cases compared (%d)", MINIMUM_CASES, cases - skipped);
	return tap_done();
}
