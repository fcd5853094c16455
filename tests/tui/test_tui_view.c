/*
 * test_tui_view.c - the screen's layout for a terminal size: the editor takes at
 * most a third of the rows, the status line sits above it, the transcript takes
 * the rest; the transcript's scroll is clamped to what there is to scroll, the
 * editor's follows the cursor; a terminal too small stays blank; computing a
 * view changes nothing in the state it reads.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "tui.h"
#include "tui_view.h"

/* n one-row messages: 2n - 1 rows with the blank rows between them */
static void add_messages(struct tui *t, int n, int cols)
{
	char text[64];
	for (int i = 0; i < n; i++) {
		snprintf(text, sizeof text, "message %d", i);
		transcript_add(&t->transcript, TRANSCRIPT_USER, text, strlen(text));
	}
	transcript_layout(&t->transcript, cols);
}

static void check_sizes(struct tui *t)
{
	static const int sizes[][2] = {{24, 80}, {5, 20}, {3, 10}, {2, 4}, {50, 200}, {7, 6}};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int lines = sizes[i][0], cols = sizes[i][1], third = (lines - 1) / 3 > 1 ? (lines - 1) / 3 : 1;
		struct tui_view v;
		transcript_layout(&t->transcript, cols);
		tui_view_compute(t, lines, cols, &v);
		tap_ok(!v.blank && v.transcript_rows + 1 + v.input_rows == lines && v.status_row == v.transcript_rows &&
			       v.input_top == v.status_row + 1 && v.input_rows >= 1 && v.input_rows <= third,
		       "%dx%d: transcript %d rows, status at %d, editor %d rows from %d", cols, lines, v.transcript_rows,
		       v.status_row, v.input_rows, v.input_top);
		tui_view_free(&v);
	}
}

int main(void)
{
	struct tui t;
	struct tui_view v;
	memset(&t, 0, sizeof t);
	transcript_init(&t.transcript);
	if (input_init(&t.input) != 0)
		return tap_ok(0, "input_init"), tap_done();

	tui_view_compute(&t, 24, 80, &v);
	tap_ok(!v.blank && v.input_rows == 1 && v.status_row == 22 && v.input_top == 23 && v.transcript_rows == 22,
	       "80x24, an empty editor: transcript rows 0-21, status 22, editor 23 (%d, %d, %d)", v.transcript_rows,
	       v.status_row, v.input_top);
	tap_ok(v.cursor_row == 0 && v.cursor_col == 0, "the cursor waits after the prompt");
	tui_view_free(&v);

	add_messages(&t, 3, 80);
	t.scroll = 10;
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.scroll == 0 && v.transcript_first == 0, "a transcript that fits does not scroll (%zu)", v.scroll);
	tap_ok(t.scroll == 10, "computing the view leaves the state as it was");
	tui_view_free(&v);

	add_messages(&t, 27, 80);   /* 30 messages: 59 rows */
	t.scroll = 1000;
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.scroll == 59 - 22 && v.transcript_first == 0, "the scroll stops at the first row (%zu, first %zu)",
	       v.scroll, v.transcript_first);
	tui_view_free(&v);
	t.scroll = 5;
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.scroll == 5 && v.transcript_first == 59 - 22 - 5, "5 rows up shows from row %zu", v.transcript_first);
	tui_view_free(&v);
	t.scroll = 0;
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.scroll == 0 && v.transcript_first == 37, "unscrolled, the last 22 rows show (from %zu)", v.transcript_first);
	tui_view_free(&v);
	t.scroll = 50;
	tui_view_compute(&t, 40, 80, &v);
	tap_ok(v.transcript_rows == 38 && v.scroll == 59 - 38, "a taller terminal clamps the scroll again (%zu)", v.scroll);
	tui_view_free(&v);

	input_set(&t.input, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10");
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.input_text.count == 10 && v.input_rows == 7 && v.status_row == 16 && v.transcript_rows == 16,
	       "a ten-line editor takes a third of 24 rows: 7, status at 16 (%d, %d)", v.input_rows, v.status_row);
	tap_ok(v.cursor_row == 9 && v.input_scroll == 3, "the editor scrolls to show the cursor's row (%zu)", v.input_scroll);
	tap_ok(v.scroll == 59 - 16, "a taller editor clamps the transcript's scroll (%zu)", v.scroll);
	tui_view_free(&v);
	t.input_scroll = 8;
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.input_scroll == 3, "no empty rows under the editor's text (%zu)", v.input_scroll);
	tui_view_free(&v);
	t.input_scroll = 3;
	t.input.cursor = 0;
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.cursor_row == 0 && v.input_scroll == 0, "the cursor on the first row scrolls the editor back (%zu)",
	       v.input_scroll);
	tui_view_free(&v);
	t.input_scroll = 1;
	t.input.cursor = 4;   /* on "3" */
	tui_view_compute(&t, 24, 80, &v);
	tap_ok(v.cursor_row == 2 && v.input_scroll == 1, "a cursor in sight does not move the editor (%zu)", v.input_scroll);
	tui_view_free(&v);

	check_sizes(&t);

	tui_view_compute(&t, 1, 80, &v);
	tap_ok(v.blank, "one row is too small: the screen stays blank");
	tui_view_free(&v);
	tui_view_compute(&t, 24, 3, &v);
	tap_ok(v.blank, "three columns are too small");
	tui_view_free(&v);
	tap_ok(!tui_view_fits(1, 80) && !tui_view_fits(24, 3) && tui_view_fits(2, 4), "fits: 2 rows and 4 columns at least");

	transcript_free(&t.transcript);
	input_free(&t.input);
	return tap_done();
}
