/*
 * markdown_inline.h - what markdown.c's block renderer takes from
 * markdown_inline.c: a styled line built piece by piece, and the inline spans
 * (code spans, emphasis, strike, links, autolinks, escapes) rendered into it.
 * Private to the two files; users include markdown.h.
 *
 * A markdown_line owns its growing line until markdown_line_finish hands it over.  Out of
 * memory is sticky: the first failed allocation sets failed, every later append is
 * a no-op, and markdown_line_finish then frees the line and returns -1, so a caller
 * checks once, at the end.
 */
#ifndef LLMCHAT_TUI_MARKDOWN_INLINE_H
#define LLMCHAT_TUI_MARKDOWN_INLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "markdown.h"

/* A growing styled_line under construction. */
struct markdown_line {
	struct styled_line line;
	size_t text_capacity, run_capacity;
	bool failed;
};

/* An empty line with the given continuation indent, code flag and row background. */
void markdown_line_init(struct markdown_line *b, int indent, bool code, enum theme_element fill);

/* Appends length bytes of text drawn in element (a run merges with the last one
 * when its element is the same); nothing when length is 0 or b has failed. */
void markdown_line_text(struct markdown_line *b, const char *text, size_t length, enum theme_element element);

/* Appends the NUL-terminated text count times (none when count <= 0). */
void markdown_line_repeat(struct markdown_line *b, const char *text, int count, enum theme_element element);

/* Moves the line into out (which then owns it), or frees it when any step failed.
 * Returns 0, or -1 when out of memory. */
int markdown_line_finish(struct markdown_line *b, struct styled_lines *out);

/* Appends s[0..n) with its inline spans rendered, plain text in outer: markers
 * dropped where a span is recognised, left literal where it is not. */
void markdown_inline(struct markdown_line *b, const char *s, size_t n, enum theme_element outer);

/* The byte helpers both renderers use. */
static inline bool is_blank_byte(char c)
{
	return c == ' ' || c == '\t';
}

static inline size_t run_length(const char *s, size_t n, size_t i)
{
	size_t k = i;
	while (k < n && s[k] == s[i])
		k++;
	return k - i;
}

#endif
