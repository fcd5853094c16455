/*
 * markdown.h - an answer's raw text as the screen shows it: light Markdown.
 *
 * Blocks, one source line giving at most one displayed line:
 *  - fenced code blocks (``` or ~~~ lines; the block is set apart with its own
 *    background, never re-flowed, and nothing inside it is interpreted);
 *  - headings: ATX (# to ######, markers hidden) and setext (paragraph lines
 *    under a line of three or more = or -, which is hidden);
 *  - a thematic break (---, *** or ___ alone, after anything but a paragraph
 *    line) drawn as a rule across the row;
 *  - block quotes (> text, nested >> or > >): a bar "│ " per level in the quote
 *    element instead of the markers, so a quote never looks like the user's own
 *    "> " lines (its wrapped rows hang under its text, without bars); inside,
 *    headings, rules, list items and inline spans, but code fences and tables
 *    are shown as quoted text;
 *  - list items (-, *, + shown as a bullet, "1." kept; wrapped rows hang under
 *    the text);
 *  - tables (a row with '|' over a delimiter row such as |---|:---:|, then the rows
 *    with '|' up to a blank line): header in strong, cells padded to their
 *    column's widest (display width) and aligned as the delimiter row says,
 *    columns separated by " │ ", the delimiter row drawn as a rule.  A table wider
 *    than the screen, or with a row of more cells than its header, is shown as its
 *    raw lines (inline spans still rendered), so that nothing is cut or lost.
 * Inline, outside code spans: **strong** / __strong__, *emphasis* / _emphasis_,
 * ***both*** / ___both___ (and nested, **a *b* c**), ~~strike~~, `code` (any
 * backtick run; nothing inside is interpreted), [text](url) shown as
 * "text (url)" so the url stays visible, <scheme:...> autolinks shown without
 * the brackets, and backslash escapes (\* is a star).  Underscores inside words
 * (snake_case_name) are not emphasis.
 * A construct not finished yet (an unclosed marker, a table whose delimiter row
 * has not arrived) stays literal, so a half-streamed answer shows its text rather
 * than losing it.  Only the display changes: the raw text stays what /copy,
 * /save and pipe mode use.
 */
#ifndef LLMCHAT_TUI_MARKDOWN_H
#define LLMCHAT_TUI_MARKDOWN_H

#include <stdbool.h>
#include <stddef.h>

#include "theme.h"

/* Bytes [start, start + length) of a styled line's text drawn with element. */
struct styled_run {
	size_t start, length;
	enum theme_element element;
};

/* One logical line as displayed: text (markers removed, bullets added) in runs. */
struct styled_line {
	char *text;
	size_t length;
	struct styled_run *runs;
	size_t run_count;
	int indent;                 /* columns of wrapped continuation rows */
	bool code;                  /* code block: wrap anywhere, fill the row */
	enum theme_element fill;    /* the row's background element */
};

struct styled_lines {
	struct styled_line *lines;
	size_t count, capacity;
};

/* Appends the lines of text (split on '\n') as plain lines in element (no Markdown). */
int styled_lines_add_plain(struct styled_lines *out, const char *text, size_t length,
			   enum theme_element element, int indent);

/* Appends the lines of an answer's raw text rendered as light Markdown for rows of
 * width columns (rules span it, wider tables fall back; below 1 counts as 1), with
 * base as the element of plain text.  Returns 0, or -1 when out of memory. */
int markdown_render(const char *text, size_t length, enum theme_element base, int width,
		    struct styled_lines *out);

void styled_lines_free(struct styled_lines *lines);

/* The nth fenced code block of text (n from 1; 0: the last), as the screen shows
 * blocks: the lines between a ``` line and the next (or the end of text, an
 * unclosed block), without the fences and without the newline before the closing
 * one.  *count is how many blocks text has.  Returns 0 with the block's bytes in
 * [*start, *start + *block_length), or -1 when there is no such block. */
int markdown_code_block(const char *text, size_t length, size_t n, size_t *start, size_t *block_length,
			size_t *count);

#endif
