/*
 * text.h - UTF-8 text as the screen sees it: grapheme clusters, display
 * widths, and rows wrapped to a width.
 *
 * A grapheme cluster (UAX #29, through utf8proc_grapheme_break_stateful) is the
 * unit the cursor moves by and the unit a row never splits.  Its width is what
 * terminals draw: the utf8proc_charwidth of its code points added up (combining
 * marks take none, CJK two), except for emoji sequences: joined by ZWJ, the width
 * of the first code point that takes room; asking for the emoji presentation (a
 * flag: two regional indicators; VS16, U+FE0F, as in keycaps; a skin-tone
 * modifier), two.  So "\U0001F44D\U0001F3FD" and the ZWJ sequence
 * "\U0001F469\u200D\U0001F4BB" are two columns, not their code points' four.  Bytes that are not
 * valid UTF-8 and control characters are clusters of their own, one column wide
 * (drawn as U+FFFD), except the tab, which is TEXT_TAB_WIDTH spaces.  Nothing
 * here allocates except text_wrap's row array.
 */
#ifndef LLMCHAT_TUI_TEXT_H
#define LLMCHAT_TUI_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define TEXT_TAB_WIDTH 4

/* How a cluster is drawn. */
enum text_glyph {
	TEXT_GLYPH_PLAIN,       /* its own bytes */
	TEXT_GLYPH_TAB,         /* TEXT_TAB_WIDTH spaces */
	TEXT_GLYPH_REPLACEMENT, /* U+FFFD: invalid bytes, control characters */
	TEXT_GLYPH_COMBINING,   /* zero-width cluster alone: a space, then its bytes */
	TEXT_GLYPH_CLUSTER,     /* narrower than its code points' widths added up (an
				 * emoji sequence): drawn as one cell, not cell by cell */
};

/* The cluster starting at text[pos] (pos < length): returns its length in bytes
 * (at least 1); *width gets its columns and *glyph (may be NULL) how to draw it. */
size_t text_next_grapheme(const char *text, size_t length, size_t pos, int *width,
			  enum text_glyph *glyph);

/* The start of the cluster that ends at pos (pos > 0); scans back only to the
 * line's start or to two printable ASCII characters in a row. */
size_t text_prev_grapheme(const char *text, size_t pos);

/* Columns of text[0..length). */
int text_width(const char *text, size_t length);

/* Whether the cluster at pos is part of a word (letters, marks, digits, '_'). */
bool text_is_word_grapheme(const char *text, size_t length, size_t pos);

/* One wrapped row: bytes [start, end) of the text, drawn from column indent. */
struct text_row {
	size_t start, end;
	int indent;
};

struct text_rows {
	struct text_row *rows;
	size_t count, capacity;
};

/* Appends to *out the rows of text[0..length) (one line: no '\n' inside) wrapped to
 * width columns; continuation rows start at column indent.  by_word breaks after
 * spaces and around wide (CJK) characters where it can, and drops the spaces at a
 * break; otherwise rows break at any cluster.  An empty text gives one empty row.
 * A cluster wider than a row gets a row of its own.  Returns 0, or -1 when out of
 * memory. */
int text_wrap(const char *text, size_t length, int width, int indent, bool by_word,
	      struct text_rows *out);

void text_rows_free(struct text_rows *rows);

#endif
