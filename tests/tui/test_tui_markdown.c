/*
 * test_tui_markdown.c - light Markdown: spans, headings, lists, quotes, rules,
 * tables, links and code blocks become styled lines (text and runs checked
 * exactly); unclosed markers and half-streamed constructs stay literal; plain
 * text is untouched; the raw text is never changed.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "markdown.h"

#define BAR "\xE2\x94\x82"      /* │ */
#define H "\xE2\x94\x80"        /* ─ */
#define CROSS "\xE2\x94\xBC"    /* ┼ */
#define BULLET "\xE2\x80\xA2"   /* • */

/* Describes a line as its text with "[element:text]" for each non-base run. */
static size_t describe(const struct styled_line *l, enum theme_element base, char *out, size_t size)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < l->run_count && len < size; i++) {
		const struct styled_run *r = &l->runs[i];
		if (r->element == base)
			len += (size_t)snprintf(out + len, size - len, "%.*s", (int)r->length, l->text + r->start);
		else
			len += (size_t)snprintf(out + len, size - len, "[%s:%.*s]", theme_element_name(r->element),
						(int)r->length, l->text + r->start);
	}
	return len < size ? len : size - 1;
}

/* The whole rendering at width columns, its lines described and joined by '\n'. */
static const char *render_width(const char *text, int width)
{
	static char out[4096];
	size_t len = 0;
	struct styled_lines lines = {0};
	char *copy = strdup(text);
	out[0] = '\0';
	if (markdown_render(copy, strlen(copy), THEME_ASSISTANT, width, &lines) != 0)
		snprintf(out, sizeof out, "(failed)");
	for (size_t i = 0; i < lines.count && len + 1 < sizeof out; i++) {
		if (i > 0)
			out[len++] = '\n';
		len += describe(&lines.lines[i], THEME_ASSISTANT, out + len, sizeof out - len);
	}
	if (strcmp(copy, text) != 0)
		snprintf(out, sizeof out, "(the raw text changed)");
	styled_lines_free(&lines);
	free(copy);
	return out;
}

#define tap_is_str(got, want, name) do { const char *g_ = (got), *w_ = (want); \
	if (!tap_ok(!strcmp(g_, w_), name)) tap_diag("got '%s' want '%s'", g_, w_); } while (0)

#define CHECK_W(input, width, want, name) do { const char *got_ = render_width(input, width); \
	if (!tap_ok(!strcmp(got_, want), name)) tap_diag("got\n%s\nwant\n%s", got_, want); } while (0)
#define CHECK(input, want, name) CHECK_W(input, 80, want, name)

static void inline_spans(void)
{
	CHECK("plain text", "plain text", "plain text stays as it is");
	CHECK("a **bold** word", "a [strong:bold] word", "**bold** is strong, markers hidden");
	CHECK("a __bold__ word", "a [strong:bold] word", "__bold__ is strong");
	CHECK("an *italic* word", "an [emphasis:italic] word", "*italic* is emphasis");
	CHECK("an _italic_ word", "an [emphasis:italic] word", "_italic_ is emphasis");
	CHECK("a ***loud*** word", "a [strong_emphasis:loud] word", "***x*** is strong emphasis");
	CHECK("a ___loud___ word", "a [strong_emphasis:loud] word", "___x___ is strong emphasis");
	CHECK("**bold *both* bold**", "[strong:bold ][strong_emphasis:both][strong: bold]",
	      "emphasis inside strong is both");
	CHECK("*a **b** c*", "[emphasis:a ][strong_emphasis:b][emphasis: c]", "strong inside emphasis is both");
	CHECK("**bold *it***", "[strong:bold ][strong_emphasis:it]", "a closing *** ends both spans");
	CHECK("~~gone~~ here", "[strike:gone] here", "~~strike~~ is strike, markers hidden");
	CHECK("a ~b~ c", "a ~b~ c", "a single tilde stays literal");
	CHECK("~~half", "~~half", "an unclosed ~~ stays literal");
	CHECK("call `f(x)` now", "call [code:f(x)] now", "`code` is code");
	CHECK("snake_case_name stays", "snake_case_name stays", "underscores inside words are not emphasis");
	CHECK("a_b_c and _d_", "a_b_c and [emphasis:d]", "intraword underscores, then real emphasis");
	CHECK("2 * 3 * 4", "2 * 3 * 4", "stars between spaces are not emphasis");
	CHECK("*args and **kwargs", "*args and **kwargs", "stars before words with no partner stay literal");
	CHECK("half **streamed", "half **streamed", "an unclosed marker stays literal");
	CHECK("`a*b*c`", "[code:a*b*c]", "no emphasis inside code");
	CHECK("`**x** [a](b) ~~y~~ <http://z>`", "[code:**x** [a](b) ~~y~~ <http://z>]",
	      "nothing is interpreted inside a code span");
	CHECK("``a ` b``", "[code:a ` b]", "a double-backtick span holds a single backtick");
	CHECK("*a `*` b*", "[emphasis:a ][code:*][emphasis: b]", "a star inside code does not close emphasis");
	CHECK("half `streamed", "half `streamed", "an unclosed backtick stays literal");
	CHECK("\\*not\\* emphasis", "*not* emphasis", "backslash escapes show the character");
	CHECK("\\_a\\_ C:\\dir \\\\", "_a_ C:\\dir \\", "an escaped underscore or backslash; a backslash before a letter stays");
	CHECK("see [the docs](https://x.org/a_b) now", "see [link:the docs] ([link:https://x.org/a_b]) now",
	      "a link shows its text and its url");
	CHECK("[**bold** link](u)", "[link:bold link] ([link:u])", "spans inside a link's text keep the link style");
	CHECK("[https://x.org](https://x.org)", "[link:https://x.org]", "a link whose text is its url shows it once");
	CHECK("![a cat](cat.png)", "[link:a cat] ([link:cat.png])", "an image shows as a link to it");
	CHECK("[t](u \"title\")", "[link:t] ([link:u])", "a link's title is not shown");
	CHECK("go to <https://example.com/x?a=1> now", "go to [link:https://example.com/x?a=1] now",
	      "an autolink drops its brackets");
	CHECK("a <b> tag, x < y > z", "a <b> tag, x < y > z", "angle brackets that are no autolink stay");
	CHECK("[half](https://stream", "[half](https://stream", "a link without its ')' yet stays literal");
	CHECK("[1] and [x]", "[1] and [x]", "brackets without a url stay literal");
}

#define RULE10 H H H H H H H H H H

static void blocks(void)
{
	CHECK("## A *title*", "[heading:A ][emphasis:title]", "a heading hides its #s");
	CHECK("## Closed ##", "[heading:Closed]", "a heading's closing #s are hidden");
	CHECK("# C#", "[heading:C#]", "a # inside a heading's last word stays");
	CHECK("#hashtag", "#hashtag", "#word is not a heading");
	CHECK("- item one", BULLET " item one", "a - list item shows a bullet");
	CHECK("* starred **item**", BULLET " starred [strong:item]", "a * list item with a span");
	CHECK("12. twelfth", "12. twelfth", "a numbered item keeps its number");

	/* setext headings and rules */
	CHECK("Title\n=====\ntext", "[heading:Title]\ntext", "a paragraph over === is a heading, the === hidden");
	CHECK("Sub *t*\n---", "[heading:Sub ][emphasis:t]", "a paragraph line over --- is a heading");
	CHECK("two\nlines\n===", "[heading:two]\n[heading:lines]", "a setext heading takes its paragraph's lines");
	CHECK_W("text\n\n---\nmore", 10, "text\n\n[rule:" RULE10 "]\nmore", "--- after a blank line is a rule across the row");
	CHECK_W("***", 10, "[rule:" RULE10 "]", "*** alone is a rule, not a list item");
	CHECK_W("_ _ _", 10, "[rule:" RULE10 "]", "_ _ _ is a rule");
	CHECK_W("- item\n---", 10, BULLET " item\n[rule:" RULE10 "]", "--- after a list item is a rule");
	CHECK("===", "===", "=== with no paragraph above stays text");
	CHECK("Title\n--", "Title\n--", "two dashes are not an underline yet (streaming)");
	CHECK("Text\n- item", "Text\n" BULLET " item", "a list right after a paragraph is no heading");

	/* block quotes */
	CHECK("> quoted *text*", "[quote:" BAR " quoted ][emphasis:text]", "a quote shows a bar, not '> '");
	CHECK(">> deeper", "[quote:" BAR " " BAR " deeper]", ">> nests the quote");
	CHECK("> > deeper", "[quote:" BAR " " BAR " deeper]", "> > nests the quote too");
	CHECK(">", "[quote:" BAR " ]", "an empty quote line is its bar");
	CHECK("> - item", "[quote:" BAR " " BULLET " item]", "a list item inside a quote");
	CHECK("> # Head", "[quote:" BAR " ][heading:Head]", "a heading inside a quote");
	CHECK_W("> ---", 10, "[quote:" BAR " ][rule:" H H H H H H H H "]", "a rule inside a quote fits beside its bar");
	CHECK("a > b", "a > b", "a > inside a line is text");
	CHECK("> quote\n---", "[quote:" BAR " quote]\n[rule:" RULE10 RULE10 RULE10 RULE10 RULE10 RULE10 RULE10 RULE10 "]",
	      "--- after a quote is a rule, not a heading");

	/* tables */
	CHECK("| a | bb |\n|---|:---:|\n| ccc | d |",
	      "[strong:a]  [rule: " BAR " ][strong:bb]\n"
	      "[rule:" H H H H CROSS H H H "]\n"
	      "ccc[rule: " BAR " ]d ",
	      "a table's columns are as wide as their widest cell, the delimiter row a rule");
	CHECK("| a | b |\n|:-:|---|\n| ccc | d |",
	      " [strong:a] [rule: " BAR " ][strong:b]\n"
	      "[rule:" H H H H CROSS H H "]\n"
	      "ccc[rule: " BAR " ]d",
	      ":-: centres a column");
	CHECK("Name | N\n:--- | --:\n`x` | 1234\n**long name** | 5",
	      "[strong:Name]     [rule: " BAR " ]   [strong:N]\n"
	      "[rule:" H H H H H H H H H H CROSS H H H H H "]\n"
	      "[code:x]        [rule: " BAR " ]1234\n"
	      "[strong:long name][rule: " BAR " ]   5",
	      "without outer pipes; widths are of the shown text; --: is right-aligned");
	CHECK("| \xE4\xB8\xAD\xE6\x96\x87 | x |\n|-|-|\n| a | b |",
	      "[strong:\xE4\xB8\xAD\xE6\x96\x87][rule: " BAR " ][strong:x]\n"
	      "[rule:" H H H H H CROSS H H "]\n"
	      "a   [rule: " BAR " ]b",
	      "a wide (CJK) cell counts its display width");
	CHECK("| a | b |\n|---|---|\n| 1 |\n| x \\| y | z |",
	      "[strong:a]    [rule: " BAR " ][strong:b]\n"
	      "[rule:" H H H H H H CROSS H H "]\n"
	      "1    [rule: " BAR " ] \n"
	      "x | y[rule: " BAR " ]z",
	      "a short row is padded; \\| is a pipe inside a cell");
	CHECK("| a | b |\n|---|---|\n| 1 | 2 | 3 |", "| a | b |\n|---|---|\n| 1 | 2 | 3 |",
	      "a row with more cells than the header shows the raw lines");
	CHECK_W("| long cell | other |\n|---|---|", 10, "| long cell | other |\n|---|---|",
	        "a table wider than the screen shows its raw lines");
	CHECK("| a | b |\n|---|---|\n| 1 | 2 |\n\nafter | x",
	      "[strong:a][rule: " BAR " ][strong:b]\n[rule:" H H CROSS H H "]\n1[rule: " BAR " ]2\n\nafter | x",
	      "a blank line ends the table");
	CHECK("intro\n| a |\n|---|\n| 1 |", "intro\n[strong:a]\n[rule:" H "]\n1", "a table right after a paragraph line");
}

static void code_blocks(void)
{
	struct styled_lines lines = {0};
	const char *doc = "Intro\n```python\nprint(\"**x**\")\n```\nafter";
	markdown_render(doc, strlen(doc), THEME_ASSISTANT, 80, &lines);
	tap_ok(lines.count == 5, "five lines in, five lines out (%zu)", lines.count);
	tap_ok(lines.count == 5 && !lines.lines[0].code && lines.lines[1].code && lines.lines[2].code &&
	       lines.lines[3].code && !lines.lines[4].code, "the fence and its lines are code, the rest not");
	tap_ok(lines.count == 5 && !strcmp(lines.lines[1].text, " python"), "the opening fence names the language");
	tap_ok(lines.count == 5 && !strcmp(lines.lines[2].text, " print(\"**x**\")"),
	       "code keeps its markers, indented one column");
	tap_ok(lines.count == 5 && lines.lines[2].fill == THEME_CODE_BLOCK, "code rows are filled with the code block colour");
	styled_lines_free(&lines);

	CHECK("```\n| a | b |\n|---|---|\n> q\n---\nx\n===\n[t](u) <http://v> ~~s~~\n```",
	      "\n[code_block: | a | b |]\n[code_block: |---|---|]\n[code_block: > q]\n[code_block: ---]\n"
	      "[code_block: x]\n[code_block: ===]\n[code_block: [t](u) <http://v> ~~s~~]\n",
	      "nothing inside a fenced block is interpreted");
	CHECK("~~~\n```\n**x**\n~~~\n*y*", "\n[code_block: ```]\n[code_block: **x**]\n\n[emphasis:y]",
	      "a ~~~ fence is closed by ~~~ only, not by ```");
	CHECK("````md\n```\n````", "[code_block: md]\n[code_block: ```]\n",
	      "a shorter fence inside a longer one is code");
	CHECK("```x = 1``` here", "[code:x = 1] here", "``` with text and a closing run on one line is a code span");

	const char *open = "```\nstill streaming";
	markdown_render(open, strlen(open), THEME_ASSISTANT, 80, &lines);
	tap_ok(lines.count == 2 && lines.lines[1].code, "an unclosed fence makes the rest code (streaming)");
	styled_lines_free(&lines);
}

static void indents(void)
{
	struct styled_lines lines = {0};
	const char *doc = "- a long list item\n> quoted\n>> deeper\n> - quoted item";
	markdown_render(doc, strlen(doc), THEME_ASSISTANT, 80, &lines);
	tap_ok(lines.count == 4 && lines.lines[0].indent == 2, "a list item's wrapped rows hang under its text");
	tap_ok(lines.count == 4 && lines.lines[1].indent == 2 && lines.lines[2].indent == 4,
	       "a quote's wrapped rows hang under its text, past its bars");
	tap_ok(lines.count == 4 && lines.lines[3].indent == 4, "a list item in a quote hangs past the bar and bullet");
	styled_lines_free(&lines);

	styled_lines_add_plain(&lines, "a\n\nb", 4, THEME_INFO, 0);
	tap_ok(lines.count == 3 && lines.lines[1].length == 0, "plain lines keep empty lines");
	styled_lines_free(&lines);
}

/* Whether every line's runs cover its text, in order, with no gap. */
static bool runs_cover(const struct styled_lines *lines)
{
	for (size_t i = 0; i < lines->count; i++) {
		const struct styled_line *l = &lines->lines[i];
		size_t at = 0;
		for (size_t r = 0; r < l->run_count; r++) {
			if (l->runs[r].start != at || l->runs[r].length == 0)
				return false;
			at += l->runs[r].length;
		}
		if (at != l->length || strlen(l->text) != l->length)
			return false;
	}
	return true;
}

static void streaming(void)
{
	/* each step of a streamed answer */
	CHECK("| a | b |", "| a | b |", "a table's header alone is its raw line");
	CHECK("| a | b |\n|--", "| a | b |\n|--", "a half delimiter row is not a table yet");
	CHECK("| a | b |\n|---|-", "[strong:a][rule: " BAR " ][strong:b]\n[rule:" H H CROSS H H "]",
	      "the delimiter row complete for each column makes the table");
	CHECK("| a | b |\n|---|---|\n| 1", "[strong:a][rule: " BAR " ][strong:b]\n[rule:" H H CROSS H H "]\n1[rule: " BAR " ] ",
	      "a half row is padded");
	CHECK("a **b", "a **b", "an unclosed ** is literal while it streams");
	CHECK("a **b*", "a **b*", "half of a closing ** is literal too");
	CHECK("a **b**", "a [strong:b]", "and the span shows once it closes");
	CHECK("[text](htt", "[text](htt", "a half link is literal");
	CHECK("Heading\n-", "Heading\n-", "a lone - under a paragraph is not a heading yet");

	const char *doc = "# Title\nSome **bold**, *it*, ~~no~~, `code`, [a](http://b), <https://c>.\n\n"
			  "> quoted **x**\n>> more\n\n| h1 | h2 |\n|:---|---:|\n| `c` | **d** |\n\n"
			  "Setext\n======\n\n---\n- item\n1. one\n```c\nint x = *p;\n```\nsnake_case_name\n";
	size_t n = strlen(doc);
	bool sane = true;
	for (size_t k = 0; k <= n && sane; k++) {
		struct styled_lines lines = {0};
		sane = markdown_render(doc, k, THEME_ASSISTANT, 40, &lines) == 0 && runs_cover(&lines);
		if (!sane)
			tap_diag("the first %zu bytes render wrongly", k);
		styled_lines_free(&lines);
	}
	tap_ok(sane, "every prefix of a document renders, its runs covering its text");
}

static void copy_code_blocks(void)
{
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
}

int main(void)
{
	inline_spans();
	blocks();
	code_blocks();
	indents();
	streaming();
	copy_code_blocks();
	return tap_done();
}
