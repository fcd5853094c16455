/*
 * tui_markdown.h - an answer's raw text as the screen shows it: light Markdown.
 *
 * Recognised: fenced code blocks (``` lines; the block is set apart with its own
 * background and never re-flowed), ATX headings (# to ######, markers hidden),
 * list items (-, *, + shown as a bullet, "1." kept; wrapped rows hang under the
 * text), and inside other lines **strong**, *emphasis* / _emphasis_ and `code`
 * spans (markers hidden).  A marker with no closing partner stays literal, so a
 * half-streamed answer shows its text rather than losing it.  Only the display
 * changes: the raw text stays what /copy, /save and pipe mode use.
 */
#ifndef LLMCHAT_TUI_MARKDOWN_H
#define LLMCHAT_TUI_MARKDOWN_H

#include <stdbool.h>
#include <stddef.h>

#include "themes.h"

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

/* Appends the lines of an answer's raw text rendered as light Markdown, with base
 * as the element of plain text.  Returns 0, or -1 when out of memory. */
int markdown_render(const char *text, size_t length, enum theme_element base,
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
