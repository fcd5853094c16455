/*
 * text.c - grapheme clusters, widths and wrapping over libutf8proc.
 *
 * Every measurement goes through text_next_grapheme, so the editor's cursor, the
 * wrapping of the transcript and the drawing agree on where each cluster starts
 * and how many columns it takes.
 */
#include "text.h"

#include <stdlib.h>
#include <utf8proc.h>

#include "array_grow.h"

/* Decodes one code point; returns its length, or 0 for an invalid sequence. */
static size_t decode(const char *text, size_t length, size_t pos, utf8proc_int32_t *cp)
{
	utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + pos,
					      (utf8proc_ssize_t)(length - pos), cp);
	return n > 0 ? (size_t)n : 0;
}

static bool is_control(utf8proc_int32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

/* Code points that ask for the emoji (wide) presentation of the cluster they
 * are in: VARIATION SELECTOR-16 and the skin-tone modifiers. */
static bool asks_emoji_presentation(utf8proc_int32_t cp)
{
	return cp == 0xFE0F || (cp >= 0x1F3FB && cp <= 0x1F3FF);
}

static bool is_regional_indicator(utf8proc_int32_t cp)
{
	return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}

size_t text_next_grapheme(const char *text, size_t length, size_t pos, int *width,
			  enum text_glyph *glyph)
{
	utf8proc_int32_t first, prev, cp, state = 0;
	size_t n = decode(text, length, pos, &first);
	int w;
	bool emoji = false, joined = false;

	if (n == 0 || is_control(first)) {
		/* invalid bytes and controls stand alone: never send them to the terminal */
		bool tab = n == 1 && first == '\t';
		*width = tab ? TEXT_TAB_WIDTH : 1;
		if (glyph)
			*glyph = tab ? TEXT_GLYPH_TAB : TEXT_GLYPH_REPLACEMENT;
		return n ? n : 1;
	}
	/* cell by cell, the cluster is as wide as its code points added up (a base
	 * and its marks, a syllable and its spacing marks); an emoji sequence is not:
	 * joined by ZWJ it is as wide as its first code point that takes room, and two
	 * when it asks for the emoji presentation (a flag, VS16, a skin tone) */
	int cell_sum = utf8proc_charwidth(first), first_room = cell_sum;
	prev = first;
	size_t end = pos + n;
	while (end < length) {
		n = decode(text, length, end, &cp);
		if (n == 0 || is_control(cp) || utf8proc_grapheme_break_stateful(prev, cp, &state))
			break;
		int cw = utf8proc_charwidth(cp);
		cell_sum += cw;
		if (first_room == 0)
			first_room = cw;
		joined = joined || cp == 0x200D;
		emoji = emoji || asks_emoji_presentation(cp) ||
			(prev == first && is_regional_indicator(first) && is_regional_indicator(cp));
		prev = cp;
		end += n;
	}
	w = emoji ? 2 : joined ? first_room : cell_sum;
	if (glyph)
		*glyph = w == 0 ? TEXT_GLYPH_COMBINING : cell_sum == w ? TEXT_GLYPH_PLAIN : TEXT_GLYPH_CLUSTER;
	/* a lone mark: give it a base so that it does not land on the cell before */
	*width = w == 0 ? 1 : w;
	return end - pos;
}

static bool ascii_printable(char c)
{
	return c >= 0x20 && c < 0x7f;
}

size_t text_prev_grapheme(const char *text, size_t pos)
{
	/* Scan forward from a point known to start a cluster: a line's start, or a
	 * printable ASCII character that follows another (UAX #29 always breaks
	 * between those), so that a long line costs only its last stretch. */
	size_t line = pos - 1;
	while (line > 0 && text[line - 1] != '\n' && !(ascii_printable(text[line - 1]) && ascii_printable(text[line])))
		line--;
	size_t at = line, last = line;
	while (at < pos) {
		int w;
		last = at;
		at += text_next_grapheme(text, pos, at, &w, NULL);
	}
	return last;
}

int text_width(const char *text, size_t length)
{
	int total = 0, w;
	for (size_t pos = 0; pos < length;) {
		pos += text_next_grapheme(text, length, pos, &w, NULL);
		total += w;
	}
	return total;
}

bool text_is_word_grapheme(const char *text, size_t length, size_t pos)
{
	utf8proc_int32_t cp;
	if (decode(text, length, pos, &cp) == 0)
		return false;
	if (cp == '_')
		return true;
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
		return true;
	default:
		return false;
	}
}

static int push_row(struct text_rows *out, size_t start, size_t end, int indent)
{
	struct text_row *rows = array_grow(out->rows, &out->capacity, out->count, sizeof *rows, 16);
	if (!rows)
		return -1;
	out->rows = rows;
	out->rows[out->count++] = (struct text_row){start, end, indent};
	return 0;
}

int text_wrap(const char *text, size_t length, int width, int indent, bool by_word,
	      struct text_rows *out)
{
	size_t start = 0, pos = 0;
	int row_indent = 0;
	if (width < 1)
		width = 1;
	if (indent >= width)
		indent = width - 1;

	while (start < length || (start == 0 && length == 0)) {
		int col = row_indent, w;
		size_t brk = 0;          /* a break opportunity inside the row, 0 = none */
		bool prev_wide = false;
		pos = start;
		while (pos < length) {
			size_t n = text_next_grapheme(text, length, pos, &w, NULL);
			bool space = n == 1 && text[pos] == ' ';
			if (by_word && pos > start && (w == 2 || prev_wide) && !space)
				brk = pos;    /* CJK text breaks between its characters */
			if (col + w > width && pos > start)
				break;
			col += w;
			pos += n;
			prev_wide = w == 2;
			if (by_word && space)
				brk = pos;
		}
		size_t end = pos;
		if (pos < length && by_word) {
			if (text[pos] == ' ') {
				end = pos;        /* the break falls on a space */
			} else if (brk > start) {
				end = brk;
			}
		}
		size_t shown = end;
		if (by_word && end < length)
			while (shown > start && text[shown - 1] == ' ')
				shown--;      /* trailing spaces at a break are not drawn */
		if (push_row(out, start, shown, row_indent) != 0)
			return -1;
		if (length == 0)
			break;
		start = end;
		if (by_word)
			while (start < length && text[start] == ' ')
				start++;
		row_indent = indent;
	}
	return 0;
}

void text_rows_free(struct text_rows *rows)
{
	free(rows->rows);
	rows->rows = NULL;
	rows->count = rows->capacity = 0;
}
