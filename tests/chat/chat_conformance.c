/*
 * chat_conformance.c - chat_template_render against a real Jinja engine.
 *
 * Reads the JSON lines tests/chat/render_reference.mjs wrote (each: template,
 * name, messages, add_generation_prompt, today, expected) and renders every one
 * in C; one TAP check per (template, conversation), byte-exact.
 * Run by tests/chat/chat_template_conformance.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat_reference.h"
#include "chat_template.h"
#include "tap.h"

/* The corpus has 36 conversations; fewer lines means the node run lost some. */
enum { MINIMUM_CASES = 3 * 30 };

/* Shows where two renderings part, with a little context. */
static void show_difference(const char *got, const char *want)
{
	size_t at = 0;
	while (got[at] && got[at] == want[at])
		at++;
	size_t from = at > 40 ? at - 40 : 0;
	tap_diag("first difference at byte %zu (got %zu bytes, want %zu)", at, strlen(got), strlen(want));
	tap_diag("got:  ...%.80s", got + from);
	tap_diag("want: ...%.80s", want + from);
}

/* Renders one case; returns 1 when it matches. */
static int check_case(json_t *line)
{
	struct chat_reference ref;
	if (chat_reference_read(line, &ref) != 0)
		return tap_ok(0, "a well-formed reference line");
	char *got = NULL, err[256] = "";
	int rc = chat_template_render(ref.kind, ref.messages, ref.count, ref.add_generation_prompt, ref.today,
				      &got, err, sizeof err);
	int ok = tap_ok(rc == 0 && strcmp(got, ref.expected) == 0, "%s: %s", ref.template_name, ref.name);
	if (rc != 0)
		tap_diag("render failed: %s", err);
	else if (!ok)
		show_difference(got, ref.expected);
	free(got);
	chat_reference_free(&ref);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: chat_conformance EXPECTED.jsonl\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		printf("Bail out! cannot open %s\n", argv[1]);
		return 1;
	}
	int cases = 0;
	char *line = NULL;
	size_t line_cap = 0;
	while (getline(&line, &line_cap, f) > 0) {
		json_error_t error;
		json_t *test = json_loads(line, 0, &error);
		if (!test) {
			tap_ok(0, "reference line %d is JSON (%s)", cases + 1, error.text);
		} else {
			check_case(test);
			json_decref(test);
		}
		cases++;
	}
	free(line);
	fclose(f);
	tap_ok(cases >= MINIMUM_CASES, "the reference holds at least %d renderings (it holds %d)",
	       MINIMUM_CASES, cases);
	return tap_done();
}
