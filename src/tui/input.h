/*
 * input.h - the multi-line input editor: a UTF-8 buffer, a cursor that moves
 * by grapheme cluster and by word, readline's kill keys, and the history of the
 * messages sent before.
 *
 * The cursor is a byte offset that always sits on a cluster boundary.  Nothing
 * here draws: input_layout() says which rows the text wraps into and where the
 * cursor falls, and tui_draw.c shows them.
 */
#ifndef LLMCHAT_TUI_INPUT_H
#define LLMCHAT_TUI_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "text.h"

struct input_editor {
	char *text;              /* NUL-terminated */
	size_t length, capacity;
	size_t cursor;
	char **history;          /* oldest first, each malloc'd */
	size_t history_count, history_capacity;
	size_t history_index;    /* == history_count while editing a new message */
	char *draft;             /* the new message put aside while browsing history */
};

int input_init(struct input_editor *ed);
void input_free(struct input_editor *ed);

/* Inserts text at the cursor (newlines included).  Returns 0 or -1. */
int input_insert(struct input_editor *ed, const char *text, size_t length);
/* Replaces the whole text, cursor at its end. */
int input_set(struct input_editor *ed, const char *text);

void input_backspace(struct input_editor *ed);       /* cluster before the cursor */
void input_delete(struct input_editor *ed);          /* cluster under the cursor */
void input_left(struct input_editor *ed);
void input_right(struct input_editor *ed);
void input_word_left(struct input_editor *ed);       /* Ctrl-Left, Alt-b */
void input_word_right(struct input_editor *ed);      /* Ctrl-Right, Alt-f */
void input_home(struct input_editor *ed);            /* start of the cursor's line */
void input_end(struct input_editor *ed);             /* end of the cursor's line */
void input_kill_to_start(struct input_editor *ed);   /* Ctrl-U: to the line's start */
void input_kill_to_end(struct input_editor *ed);     /* Ctrl-K: to the line's end (or the newline) */
void input_kill_word(struct input_editor *ed);       /* Ctrl-W: the word before the cursor */

/* Up/Down: move the cursor a row up (down) among the rows the text wraps into at
 * width (input_layout), keeping its column; only from the first (last) row, step
 * through the history.  Return 0, or -1 when out of memory. */
int input_up(struct input_editor *ed, int width, int prompt_width);
int input_down(struct input_editor *ed, int width, int prompt_width);

/* Adds text to the history (not empty, not a repeat of the last). */
int input_history_add(struct input_editor *ed, const char *text);

/* Hands the text over (malloc'd, caller frees), records it in the history and
 * empties the editor.  NULL when out of memory. */
char *input_take(struct input_editor *ed);

/* The rows the text wraps into at width (the first row starts after prompt_width
 * columns, the others too; one column stays free for the cursor): each line
 * wraps at word boundaries (text_wrap's by_word), a row keeping the spaces at its
 * break, so that rows cover the line without gaps.  Also the cursor's row and
 * column (at most the last column). */
int input_layout(const struct input_editor *ed, int width, int prompt_width, struct text_rows *rows,
		 size_t *cursor_row, int *cursor_col);

#endif
