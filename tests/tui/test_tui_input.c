/*
 * test_tui_input.c - the editor: cursor by cluster and word, readline's kill
 * keys, multi-line text, history, and where the cursor lands when text wraps.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "input.h"

static void type(struct input_editor *ed, const char *s)
{
	input_insert(ed, s, strlen(s));
}

int main(void)
{
	struct input_editor ed;
	input_init(&ed);

	type(&ed, "hello");
	input_left(&ed);
	input_left(&ed);
	type(&ed, "X");
	tap_ok(!strcmp(ed.text, "helXlo") && ed.cursor == 4, "insert in the middle");
	input_backspace(&ed);
	input_delete(&ed);
	tap_ok(!strcmp(ed.text, "helo") && ed.cursor == 3, "backspace and delete remove one cluster each");

	input_set(&ed, "cafe\xCC\x81 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD");
	input_left(&ed);
	tap_ok(ed.cursor == 7, "Left steps over an emoji with a skin tone whole");
	input_left(&ed);
	input_left(&ed);
	tap_ok(ed.cursor == 3, "Left steps over e + combining acute whole");
	input_right(&ed);
	tap_ok(ed.cursor == 6, "Right steps over e + combining acute whole");
	input_end(&ed);
	input_backspace(&ed);
	tap_ok(!strcmp(ed.text, "cafe\xCC\x81 "), "backspace removes the whole emoji cluster");
	input_backspace(&ed);
	input_backspace(&ed);
	tap_ok(!strcmp(ed.text, "caf"), "backspace removes the base and its mark together");

	input_set(&ed, "one two_three  four");
	input_word_left(&ed);
	tap_ok(ed.cursor == 15, "word left to the start of the last word");
	input_word_left(&ed);
	tap_ok(ed.cursor == 4, "word left skips spaces, and '_' joins a word");
	input_word_right(&ed);
	tap_ok(ed.cursor == 13, "word right to the end of the word");
	input_home(&ed);
	tap_ok(ed.cursor == 0, "Home");
	input_word_right(&ed);
	tap_ok(ed.cursor == 3, "word right from the start");

	input_set(&ed, "日本語 テキスト");
	input_word_left(&ed);
	tap_ok(ed.cursor == strlen("日本語 "), "word movement works on CJK words");

	input_set(&ed, "keep this; kill that");
	input_kill_word(&ed);
	tap_ok(!strcmp(ed.text, "keep this; kill "), "Ctrl-W kills the word before the cursor");
	input_kill_word(&ed);
	tap_ok(!strcmp(ed.text, "keep this; "), "Ctrl-W again kills the word and its spaces");
	input_home(&ed);
	input_word_right(&ed);
	input_kill_to_end(&ed);
	tap_ok(!strcmp(ed.text, "keep"), "Ctrl-K kills to the end of the line");
	input_kill_to_start(&ed);
	tap_ok(!strcmp(ed.text, "") && ed.cursor == 0, "Ctrl-U kills to the start of the line");

	input_set(&ed, "first line\nsecond");
	input_home(&ed);
	tap_ok(ed.cursor == 11, "Home goes to the start of the cursor's line");
	input_kill_to_start(&ed);
	tap_ok(!strcmp(ed.text, "first line\nsecond"), "Ctrl-U at a line's start leaves earlier lines alone");
	input_up(&ed, 80, 2);
	tap_ok(ed.cursor == 0, "Up moves to the line above, same column");
	input_end(&ed);
	input_kill_to_end(&ed);
	tap_ok(!strcmp(ed.text, "first linesecond"), "Ctrl-K at a line's end joins the next line");

	input_set(&ed, "abc\nabcdefgh");
	input_up(&ed, 80, 2);
	tap_ok(ed.cursor == 3, "Up to a shorter line stops at its end");
	input_down(&ed, 80, 2);
	tap_ok(ed.cursor == 7, "Down keeps the column");

	/* history */
	struct input_editor h;
	input_init(&h);
	type(&h, "first message");
	free(input_take(&h));
	type(&h, "second\nmessage");
	char *taken = input_take(&h);
	tap_ok(taken && !strcmp(taken, "second\nmessage") && h.length == 0, "take hands over the text and empties the editor");
	free(taken);
	type(&h, "draft");
	input_up(&h, 80, 2);
	tap_ok(!strcmp(h.text, "second\nmessage"), "Up on the first line recalls the last message");
	input_home(&h);
	input_up(&h, 80, 2);
	input_up(&h, 80, 2);
	tap_ok(!strcmp(h.text, "first message"), "Up again, from its first line, recalls the one before");
	input_down(&h, 80, 2);
	tap_ok(!strcmp(h.text, "second\nmessage"), "Down goes forward in the history");
	input_down(&h, 80, 2);
	tap_ok(!strcmp(h.text, "draft"), "Down past the newest gives back the draft");
	input_free(&h);

	/* layout */
	struct text_rows rows = {0};
	size_t row;
	int col;
	input_set(&ed, "0123456789abcdef\nxy");
	input_layout(&ed, 10, 2, &rows, &row, &col);
	tap_ok(rows.count == 4, "16 characters in 7 columns make 3 rows, plus the second line (%zu)", rows.count);
	tap_ok(row == 3 && col == 2, "the cursor at the end sits after the last character (%zu, %d)", row, col);
	ed.cursor = 7;
	input_layout(&ed, 10, 2, &rows, &row, &col);
	tap_ok(row == 1 && col == 0, "at a wrap point the cursor starts the next row (%zu, %d)", row, col);
	input_set(&ed, "日本語日本語");
	input_layout(&ed, 9, 2, &rows, &row, &col);
	tap_ok(rows.count == 2 && row == 1 && col == 6, "wide characters wrap whole and the cursor column counts cells");
	text_rows_free(&rows);

	/* words wrap whole, and a row keeps the spaces at its break */
	input_set(&ed, "alpha beta gamma");
	input_layout(&ed, 14, 2, &rows, &row, &col);   /* 11 columns for text */
	tap_ok(rows.count == 2 && rows.rows[0].start == 0 && rows.rows[0].end == 11 && rows.rows[1].start == 11,
	       "the editor wraps at word boundaries, the rows covering the text");
	tap_ok(row == 1 && col == 5, "the cursor at the end is on the second row (%zu, %d)", row, col);
	ed.cursor = 10;
	input_layout(&ed, 14, 2, &rows, &row, &col);
	tap_ok(row == 0 && col == 10, "a cursor on the space at the break stays on the first row (%zu, %d)", row, col);
	text_rows_free(&rows);

	/* Up and Down move by the rows on the screen, history only from the first or last */
	struct input_editor v;
	input_init(&v);
	input_history_add(&v, "an older message");
	/* 30 'a's in 12 columns (width 15, prompt 2, one free): rows of 12, 12, 6 */
	type(&v, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	input_up(&v, 15, 2);
	tap_ok(v.cursor == 18 && !strcmp(v.text, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	       "Up on the last row of a wrapped line goes a row up, same column (%zu)", v.cursor);
	input_up(&v, 15, 2);
	tap_ok(v.cursor == 6, "Up again, to the first row (%zu)", v.cursor);
	input_down(&v, 15, 2);
	input_down(&v, 15, 2);
	tap_ok(v.cursor == 30 && v.history_index == v.history_count, "Down twice comes back to the last row, no history");
	input_up(&v, 15, 2);
	input_up(&v, 15, 2);
	input_up(&v, 15, 2);
	tap_ok(!strcmp(v.text, "an older message"), "Up from the first row recalls the history");
	input_down(&v, 15, 2);
	tap_ok(!strcmp(v.text, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), "Down from its last row gives the draft back");
	input_set(&v, "0123456789 abcdefghijk");
	v.cursor = 3;
	input_down(&v, 15, 2);
	tap_ok(v.cursor == 14, "Down from the first row lands in the word wrapped below (%zu)", v.cursor);
	v.cursor = 22;
	input_up(&v, 15, 2);
	tap_ok(v.cursor == 10, "Up to a shorter row stops before the row's break, not on the next row (%zu)", v.cursor);
	input_set(&v, "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD" "ab\ncd");
	input_up(&v, 80, 2);
	tap_ok(v.cursor == 8, "Up keeps the column by width: two columns are after a skin-tone emoji (%zu)", v.cursor);
	v.cursor = 12;   /* after "c" */
	input_up(&v, 80, 2);
	tap_ok(v.cursor == 0, "... and one column is before it, never inside it (%zu)", v.cursor);
	input_free(&v);

	input_free(&ed);
	return tap_done();
}
