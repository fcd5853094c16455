/*
 * tui_draw.c - the screen, drawn whole from the models on every update; see
 * tui_draw.h.
 *
 * Layout, top to bottom, as the view (tui_view.h) places them: the transcript,
 * the status line, the editor.  Each update erases and draws every row; ncurses
 * sends the terminal only what changed.
 * Every row is drawn cluster by cluster and clipped at the right edge, so a
 * cluster that does not fit is left out rather than wrapped onto the next row.
 */
#include "tui_draw.h"

#include <math.h>
#include <ncurses.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>
#include <wchar.h>

#include "tui.h"
#include "tui_view.h"

#define PROMPT "> "   /* TUI_VIEW_PROMPT_WIDTH columns */

/* The nearest of the eight basic colours for an xterm-256 colour (for 8-colour terminals). */
static short basic_color(short c)
{
	static const unsigned char rgb8[8][3] = {
		{0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
	};
	int r, g, b;
	if (c < 16)
		return c % 8;
	if (c >= 232) {
		r = g = b = 8 + 10 * (c - 232);
	} else {
		int i = c - 16;
		static const int level[6] = {0, 95, 135, 175, 215, 255};
		r = level[i / 36], g = level[(i / 6) % 6], b = level[i % 6];
	}
	short best = 0;
	long best_d = -1;
	for (short k = 0; k < 8; k++) {
		long d = (long)(r - rgb8[k][0]) * (r - rgb8[k][0]) + (long)(g - rgb8[k][1]) * (g - rgb8[k][1]) +
			 (long)(b - rgb8[k][2]) * (b - rgb8[k][2]);
		if (best_d < 0 || d < best_d)
			best = k, best_d = d;
	}
	return best;
}

static short terminal_color(short c)
{
	if (c < 0 || c < COLORS)
		return c;
	return basic_color(c);
}

void tui_draw_init_colors(const struct tui *t)
{
	if (!t->color)
		return;
	const struct theme_style *base = &t->theme.styles[THEME_TEXT];
	/* an element without its own colour takes the text's, so a themed background stays whole */
	for (int i = 0; i < THEME_ELEMENT_COUNT; i++) {
		const struct theme_style *s = &t->theme.styles[i];
		init_pair((short)(i + 1), terminal_color(s->fg >= 0 ? s->fg : base->fg),
			  terminal_color(s->bg >= 0 ? s->bg : base->bg));
	}
	bkgdset(COLOR_PAIR(THEME_TEXT + 1));
}

static attr_t element_attr(const struct tui *t, enum theme_element e)
{
	const struct theme_style *s = &t->theme.styles[e];
	attr_t a = 0;
	if (s->attrs & THEME_ATTR_BOLD)
		a |= A_BOLD;
	if (s->attrs & THEME_ATTR_ITALIC)
		a |= A_ITALIC;
	if (s->attrs & THEME_ATTR_UNDERLINE)
		a |= A_UNDERLINE;
	if (s->attrs & THEME_ATTR_REVERSE)
		a |= A_REVERSE;
	if (s->attrs & THEME_ATTR_DIM)
		a |= A_DIM;
	if (t->color)
		return a | COLOR_PAIR(e + 1);
	/* without colour the bars still need to stand out */
	if (e == THEME_STATUS || e == THEME_HINT)
		a |= A_REVERSE;
	if (e == THEME_USER || e == THEME_ERROR)
		a |= A_BOLD;
	return a;
}

/* Draws an emoji sequence (TEXT_GLYPH_CLUSTER) of width columns at (y, x) as one
 * cell.  Written cell by cell, as addnstr would, ncurses would give each of its
 * code points that takes room a cell of its own; here they share the first one's.
 * setcchar keeps only the zero-width code points after the first, so the others
 * go into the cell's chars by hand; a sequence longer than a cell holds is cut
 * after a whole emoji.  ncurses counts the cell as wide as its first code point
 * (wcwidth): where that is narrower than width (VS16 after a narrow character),
 * blanks fill the rest, so that ncurses and the terminal agree on where the next
 * cell starts. */
static void draw_cluster(int y, int x, int width, const char *text, size_t length, attr_t attr)
{
	wchar_t chars[CCHARW_MAX + 1] = {0};
	size_t count = 0;
	cchar_t cell;
	for (size_t pos = 0; pos < length && count < CCHARW_MAX;) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + pos,
						      (utf8proc_ssize_t)(length - pos), &cp);
		if (n <= 0)
			break;
		chars[count++] = (wchar_t)cp;
		pos += (size_t)n;
	}
	while (count > 1 && chars[count - 1] == 0x200D)
		chars[--count] = 0;   /* cut: no joiner left dangling */
	wchar_t first[2] = {chars[0], 0};
	if (setcchar(&cell, first, attr & ~A_COLOR, (short)PAIR_NUMBER(attr), NULL) != OK)
		return;
	for (size_t i = 1; i < count; i++)
		cell.chars[i] = chars[i];
	mvadd_wch(y, x, &cell);
	int cell_width = wcwidth(chars[0]);
	attrset(attr);
	for (int i = cell_width > 0 ? cell_width : 1; i < width; i++)
		mvaddch(y, x + i, ' ');
}

/* Draws text[0..length) from (y, *x), clipped at max_x; advances *x. */
static void draw_text(int y, int *x, int max_x, const char *text, size_t length, attr_t attr)
{
	size_t pos = 0;
	attrset(attr);
	while (pos < length) {
		int w;
		enum text_glyph glyph;
		size_t n = text_next_grapheme(text, length, pos, &w, &glyph);
		if (*x + w > max_x)
			break;
		move(y, *x);
		switch (glyph) {
		case TEXT_GLYPH_PLAIN: addnstr(text + pos, (int)n); break;
		case TEXT_GLYPH_TAB: for (int i = 0; i < w; i++) addch(' '); break;
		case TEXT_GLYPH_REPLACEMENT: addstr("\xEF\xBF\xBD"); break;
		case TEXT_GLYPH_COMBINING: addch(' '); addnstr(text + pos, (int)n); break;
		case TEXT_GLYPH_CLUSTER: draw_cluster(y, *x, w, text + pos, n, attr); break;
		}
		*x += w;
		pos += n;
	}
}

static void fill_to(int y, int x, int max_x, attr_t attr)
{
	attrset(attr);
	for (; x < max_x; x++)
		mvaddch(y, x, ' ');
}

static void draw_transcript_row(const struct tui *t, const struct tui_view *v, int y,
				const struct transcript_entry *e, const struct transcript_row *r)
{
	const struct styled_line *line = &e->lines.lines[r->line];
	attr_t fill = line->code ? element_attr(t, line->fill) : element_attr(t, THEME_TEXT);
	int x = 0;
	fill_to(y, 0, r->indent, fill);
	x = r->indent;
	for (size_t i = 0; i < line->run_count; i++) {
		const struct styled_run *run = &line->runs[i];
		size_t a = run->start > r->start ? run->start : r->start;
		size_t b = run->start + run->length < r->end ? run->start + run->length : r->end;
		if (a < b)
			draw_text(y, &x, v->cols, line->text + a, b - a, element_attr(t, run->element));
	}
	if (line->code)
		fill_to(y, x, v->cols, fill);
}

static void draw_transcript(const struct tui *t, const struct tui_view *v)
{
	size_t total = transcript_row_count(&t->transcript);
	for (int y = 0; y < v->transcript_rows && v->transcript_first + (size_t)y < total; y++) {
		const struct transcript_entry *e;
		const struct transcript_row *r;
		if (transcript_row_at(&t->transcript, v->transcript_first + (size_t)y, &e, &r))
			draw_transcript_row(t, v, y, e, r);
	}
}

/* The status line's text: the model, its weights' format, the backend, the
 * context used, the last answer's speed (and with speculative decoding the share of
 * proposals kept), the preset, and "more below: PgDn" while
 * scrolled back; each part that is not plain by itself is labelled.  On a narrow
 * screen the less telling parts go first. */
static void status_text(const struct tui *t, const struct tui_view *v, char *out, size_t size)
{
	enum { TTFT, BACKEND, PRESET, ACCEPTED, FORMAT, SPEED, PART_COUNT };   /* dropped in this order */
	char parts[PART_COUNT][160];
	snprintf(parts[BACKEND], sizeof parts[0], " | %s", model_runtime_backend(&t->runtime));
	snprintf(parts[FORMAT], sizeof parts[0], " | %s", model_runtime_weight_format(&t->runtime));
	snprintf(parts[PRESET], sizeof parts[0], " | preset: %s", t->preset.name);
	parts[SPEED][0] = parts[TTFT][0] = parts[ACCEPTED][0] = '\0';
	if (t->have_stats && t->last_stats.proposed_tokens > 0)
		snprintf(parts[ACCEPTED], sizeof parts[0], " | %s %.0f%% kept", t->draft ? "draft" : "lookup",
			 100.0 * t->last_stats.accepted_tokens / t->last_stats.proposed_tokens);
	if (t->have_stats) {
		snprintf(parts[SPEED], sizeof parts[0], " | %.1f tok/s", t->last_stats.tokens_per_second);
		snprintf(parts[TTFT], sizeof parts[0], " | first token %.2fs", t->last_stats.time_to_first_token);
	}
	for (int dropped = 0; dropped <= PART_COUNT; dropped++) {
		/* parts below `dropped` (in the enum's order) are left out */
#define PART(i) ((i) < dropped ? "" : parts[i])
		snprintf(out, size, " %s%s%s%s | ctx %d/%d%s%s%s%s%s", t->answer.running ? "answering... | " : "",
			 model_runtime_model_name(&t->runtime),
			 PART(FORMAT), PART(BACKEND), t->context_used, t->context_length, PART(SPEED), PART(ACCEPTED),
			 PART(TTFT), PART(PRESET), v->scroll ? " | more below: PgDn" : "");
#undef PART
		if (text_width(out, strlen(out)) <= v->cols)
			return;
	}
}

/* The status line, or the hint in its place; text wider than the screen ends
 * in "…" where it is cut, so a cut message does not pass for a whole one. */
static void draw_status(const struct tui *t, const struct tui_view *v)
{
	char text[1024];
	enum theme_element e = t->hint.text[0] ? THEME_HINT : THEME_STATUS;
	attr_t attr = element_attr(t, e);
	int x = 0;
	if (t->hint.text[0])
		snprintf(text, sizeof text, " %s", t->hint.text);
	else
		status_text(t, v, text, sizeof text);
	if (t->hint.text[0] && t->hint.error)
		attr = element_attr(t, THEME_ERROR) | A_REVERSE;
	bool cut = text_width(text, strlen(text)) > v->cols;
	draw_text(v->status_row, &x, cut ? v->cols - 1 : v->cols, text, strlen(text), attr);
	if (cut)
		draw_text(v->status_row, &x, v->cols, "\u2026", strlen("\u2026"), attr);
	fill_to(v->status_row, x, v->cols, attr);
}

/* Draws the editor's rows in view, the placeholder when it is empty, and puts
 * the cursor where it is. */
static void draw_input(const struct tui *t, const struct tui_view *v)
{
	const struct text_rows *rows = &v->input_text;
	attr_t attr = element_attr(t, THEME_INPUT);
	for (int i = 0; i < v->input_rows; i++) {
		size_t r = v->input_scroll + (size_t)i;
		int x = 0;
		if (r >= rows->count)
			break;
		draw_text(v->input_top + i, &x, v->cols, r == 0 ? PROMPT : "  ", TUI_VIEW_PROMPT_WIDTH,
			  r == 0 ? element_attr(t, THEME_USER) : attr);
		draw_text(v->input_top + i, &x, v->cols, t->input.text + rows->rows[r].start,
			  rows->rows[r].end - rows->rows[r].start, attr);
	}
	if (t->input.length == 0 && v->cols > TUI_VIEW_PROMPT_WIDTH + 10) {
		int x = TUI_VIEW_PROMPT_WIDTH;
		const char *placeholder = v->cols >= 62 ? "Type a message; Enter sends, Alt-Enter adds a line, /help"
						       : "Type a message (/help)";
		draw_text(v->input_top, &x, v->cols, placeholder, strlen(placeholder), element_attr(t, THEME_BORDER));
	}
	move(v->input_top + (int)(v->cursor_row - v->input_scroll), TUI_VIEW_PROMPT_WIDTH + v->cursor_col);
}

void tui_draw(const struct tui *t, const struct tui_view *view)
{
	erase();
	if (view->blank) {
		refresh();
		return;
	}
	draw_transcript(t, view);
	draw_status(t, view);
	draw_input(t, view);
	attrset(A_NORMAL);
	curs_set(1);
	refresh();
}
