/*
 * tui_view.h - the layout of the screen for a terminal size, computed before each
 * draw: top to bottom, the transcript, the status line, the editor (at most a
 * third of the screen).  The view also decides the scrolls: the transcript's,
 * clamped to what there is to scroll, and the editor's, moved just enough to keep
 * the cursor in sight.
 *
 * Computing a view reads struct tui and changes nothing, neither there nor on
 * the screen, so it can be tested without a terminal; the event loop keeps the
 * scrolls it decided, and tui_draw.h draws it.
 */
#ifndef LLMCHAT_TUI_VIEW_H
#define LLMCHAT_TUI_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "text.h"

struct tui;

/* The editor's first row starts with the prompt "> ", the others under it. */
#define TUI_VIEW_PROMPT_WIDTH 2

struct tui_view {
	int lines, cols;                 /* the terminal */
	bool blank;                      /* too small to show anything: nothing below is set */

	int transcript_rows;             /* the transcript takes rows [0, transcript_rows) */
	size_t transcript_first;         /* its first row shown */
	size_t scroll;                   /* rows scrolled up from the bottom, clamped */

	int status_row;                  /* the status line (or the hint) */

	int input_top, input_rows;       /* the editor takes rows [input_top, input_top + input_rows) */
	size_t input_scroll;             /* its first row shown */
	struct text_rows input_text;     /* the editor's text wrapped for cols */
	size_t cursor_row;               /* of input_text */
	int cursor_col;                  /* columns after the prompt */
};

/* Whether a terminal of this size shows the interface (else it stays blank). */
bool tui_view_fits(int lines, int cols);

/* The view of t in a terminal of lines x cols.  The transcript must be laid out
 * for cols (transcript_layout) first.  Free it with tui_view_free. */
void tui_view_compute(const struct tui *t, int lines, int cols, struct tui_view *out);
void tui_view_free(struct tui_view *view);

#endif
