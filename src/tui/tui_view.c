/*
 * tui_view.c - the layout of the screen and its scrolls; see tui_view.h.
 */
#include "tui_view.h"

#include <string.h>

#include "tui.h"

bool tui_view_fits(int lines, int cols)
{
	return lines >= 2 && cols >= TUI_VIEW_PROMPT_WIDTH + 2;
}

/* The editor's height: its rows, but at most a third of the screen (and one row
 * at least). */
static int input_height(size_t input_rows, int lines)
{
	int max_input = (lines - 1) / 3;
	if (max_input < 1)
		max_input = 1;
	return input_rows < (size_t)max_input ? (int)input_rows : max_input;
}

/* The transcript's scroll, no further up than its first row; a transcript that
 * fits does not scroll. */
static void place_transcript(const struct tui *t, struct tui_view *v)
{
	size_t total = transcript_row_count(&t->transcript), height = (size_t)v->transcript_rows;
	v->scroll = t->scroll;
	v->transcript_first = 0;
	if (total > height) {
		if (v->scroll > total - height)
			v->scroll = total - height;
		v->transcript_first = total - height - v->scroll;
	} else {
		v->scroll = 0;
	}
}

/* The editor's scroll: the least move from the last one that shows the cursor's
 * row, and no empty rows below the text. */
static size_t input_scroll(size_t scroll, size_t cursor_row, int height, size_t row_count)
{
	if (cursor_row < scroll)
		scroll = cursor_row;
	if (cursor_row >= scroll + (size_t)height)
		scroll = cursor_row - (size_t)height + 1;
	if (scroll + (size_t)height > row_count)
		scroll = row_count > (size_t)height ? row_count - (size_t)height : 0;
	return scroll;
}

void tui_view_compute(const struct tui *t, int lines, int cols, struct tui_view *out)
{
	memset(out, 0, sizeof *out);
	out->lines = lines;
	out->cols = cols;
	if (!tui_view_fits(lines, cols)) {
		out->blank = true;
		return;
	}
	/* a failure (out of memory) leaves the rows wrapped so far */
	input_layout(&t->input, cols, TUI_VIEW_PROMPT_WIDTH, &out->input_text, &out->cursor_row, &out->cursor_col);
	out->input_rows = input_height(out->input_text.count, lines);
	out->status_row = lines - out->input_rows - 1;
	out->input_top = out->status_row + 1;
	out->transcript_rows = out->status_row;
	place_transcript(t, out);
	out->input_scroll = input_scroll(t->input_scroll, out->cursor_row, out->input_rows, out->input_text.count);
}

void tui_view_free(struct tui_view *view)
{
	text_rows_free(&view->input_text);
}
