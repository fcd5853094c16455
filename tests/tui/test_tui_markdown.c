/*
 * test_tui_markdown.c - light Markdown: spans, headings, lists and code blocks
 * become styled lines; unclosed markers stay literal; plain text is untouched.
 */
#include <string.h>

#include "tap.h"
#include "tui_markdown.h"

/* Describes a line as "text" plus "[element:text]" for each non-base run. */
static const char *describe(const struct styled_line *l, enum theme_element base)
{
	static char out[512];
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < l->run_count; i++) {
		const struct styled_run *r = &l->runs[i];
		if (r->element == base)
			len += (size_t)snprintf(out + len, sizeof out - len, "%.*s", (int)r->length, l->text + r->start);
		else
			len += (size_t)snprintf(out + len, sizeof out - len, "[%s:%.*s]", theme_element_name(r->element),
						(int)r->length, l->text + r->start);
	}
	return out;
}

static const char *render1(const char *text)
{
	static char out[512];
	struct styled_lines lines = {0};
	markdown_render(text, strlen(text), THEME_ASSISTANT, &lines);
	snprintf(out, sizeof out, "%s", lines.count ? describe(&lines.lines[0], THEME_ASSISTANT) : "(none)");
	styled_lines_free(&lines);
	return out;
}

#define tap_is_str(got, want, name) do { const char *g_ = (got), *w_ = (want); \
	if (!tap_ok(!strcmp(g_, w_), name)) tap_diag("got '%s' want '%s'", g_, w_); } while (0)

#define CHECK(input, want, name) do { const char *got_ = render1(input); \
	if (!tap_ok(!strcmp(got_, want), name)) tap_diag("got '%s' want '%s'", got_, want); } while (0)

int main(void)
{
	CHECK("plain text", "plain text", "plain text stays as it is");
	CHECK("a **bold** word", "a [strong:bold] word", "**bold** is strong, markers hidden");
	CHECK("an *italic* word", "an [emphasis:italic] word", "*italic* is emphasis");
	CHECK("an _italic_ word", "an [emphasis:italic] word", "_italic_ is emphasis");
	CHECK("call `f(x)` now", "call [code:f(x)] now", "`code` is code");
	CHECK("snake_case_name stays", "snake_case_name stays", "underscores inside words are not emphasis");
	CHECK("2 * 3 * 4", "2 * 3 * 4", "stars between spaces are not emphasis");
	CHECK("half **streamed", "half **streamed", "an unclosed marker stays literal");
	CHECK("`a*b*c`", "[code:a*b*c]", "no emphasis inside code");
	CHECK("## A *title*", "[heading:A ][emphasis:title]", "a heading hides its #s");
	CHECK("#hashtag", "#hashtag", "#word is not a heading");
	CHECK("- item one", "\xE2\x80\xA2 item one", "a - list item shows a bullet");
	CHECK("* starred **item**", "\xE2\x80\xA2 starred [strong:item]", "a * list item with a span");
	CHECK("12. twelfth", "12. twelfth", "a numbered item keeps its number");

	struct styled_lines lines = {0};
	const char *doc = "Intro\n```python\nprint(\"**x**\")\n```\nafter";
	markdown_render(doc, strlen(doc), THEME_ASSISTANT, &lines);
	tap_ok(lines.count == 5, "five lines in, five lines out (%zu)", lines.count);
	tap_ok(lines.count == 5 && !lines.lines[0].code && lines.lines[1].code && lines.lines[2].code &&
	       lines.lines[3].code && !lines.lines[4].code, "the fence and its lines are code, the rest not");
	tap_ok(lines.count == 5 && strstr(lines.lines[1].text, "python") != NULL, "the opening fence names the language");
	tap_ok(lines.count == 5 && !strcmp(lines.lines[2].text, " print(\"**x**\")"),
	       "code keeps its markers, indented one column");
	tap_ok(lines.count == 5 && lines.lines[2].fill == THEME_CODE_BLOCK, "code rows are filled with the code block colour");
	styled_lines_free(&lines);

	const char *open = "```\nstill streaming";
	markdown_render(open, strlen(open), THEME_ASSISTANT, &lines);
	tap_ok(lines.count == 2 && lines.lines[1].code, "an unclosed fence makes the rest code (streaming)");
	styled_lines_free(&lines);

	const char *list = "- a long list item";
	markdown_render(list, strlen(list), THEME_ASSISTANT, &lines);
	tap_ok(lines.count == 1 && lines.lines[0].indent == 2, "a list item's wrapped rows hang under its text");
	styled_lines_free(&lines);

	styled_lines_add_plain(&lines, "a\n\nb", 4, THEME_INFO, 0);
	tap_ok(lines.count == 3 && lines.lines[1].length == 0, "plain lines keep empty lines");
	styled_lines_free(&lines);

	/* /copy code: the code blocks of an answer, without their fences */
	const char *two = "Intro\n```c\nint x;\nint y;\n```\nthen\n  ```\necho hi\n```\nend";
	size_t start = 0, length = 0, count = 0;
	char got[64];
#define BLOCK(text, n) (markdown_code_block(text, strlen(text), n, &start, &length, &count) == 0 \
	? (snprintf(got, sizeof got, "%.*s", (int)length, (text) + start), got) : "(none)")
	tap_is_str(BLOCK(two, 1), "int x;\nint y;", "code block 1: its lines, no fences, no last newline");
	tap_ok(count == 2, "two code blocks counted");
	tap_is_str(BLOCK(two, 2), "echo hi", "code block 2 (an indented fence)");
	tap_is_str(BLOCK(two, 0), "echo hi", "no number: the last block");
	tap_is_str(BLOCK(two, 3), "(none)", "a block past the last is refused");
	tap_ok(count == 2, "... and the count says how many there are");
	tap_is_str(BLOCK("no code here", 0), "(none)", "text without a fence has no block");
	tap_ok(count == 0, "... and counts none");
	tap_is_str(BLOCK("```\n```", 1), "", "an empty block is empty");
	tap_is_str(BLOCK("a\n```sh\nls -l\nwc\n", 0), "ls -l\nwc", "an unclosed block runs to the end");
	tap_is_str(BLOCK("```", 1), "", "a lone fence at the end is an empty block");
	tap_is_str(BLOCK("x ``` y\n", 0), "(none)", "``` inside a line is no fence");
#undef BLOCK
	return tap_done();
}
