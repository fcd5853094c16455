/*
 * input.c - the input editor's buffer operations.
 *
 * All movement goes through text.c's clusters, so a combining mark or an
 * emoji sequence is never split by the cursor or by a deletion.
 */
#include "input.h"

#include <stdlib.h>
#include <string.h>

#include "array_grow.h"

int input_init(struct input_editor *ed)
{
	memset(ed, 0, sizeof *ed);
	ed->text = malloc(64);
	if (!ed->text)
		return -1;
	ed->capacity = 64;
	ed->text[0] = '\0';
	return 0;
}

void input_free(struct input_editor *ed)
{
	free(ed->text);
	for (size_t i = 0; i < ed->history_count; i++)
		free(ed->history[i]);
	free(ed->history);
	free(ed->draft);
	memset(ed, 0, sizeof *ed);
}

static int reserve(struct input_editor *ed, size_t extra)
{
	char *t = array_reserve(ed->text, &ed->capacity, ed->length + extra + 1, 1, 64);
	if (!t)
		return -1;
	ed->text = t;
	return 0;
}

int input_insert(struct input_editor *ed, const char *text, size_t length)
{
	if (reserve(ed, length) != 0)
		return -1;
	memmove(ed->text + ed->cursor + length, ed->text + ed->cursor, ed->length - ed->cursor + 1);
	memcpy(ed->text + ed->cursor, text, length);
	ed->length += length;
	ed->cursor += length;
	return 0;
}

int input_set(struct input_editor *ed, const char *text)
{
	ed->length = ed->cursor = 0;
	ed->text[0] = '\0';
	return input_insert(ed, text, strlen(text));
}

/* Removes bytes [from, to) and leaves the cursor at from. */
static void erase(struct input_editor *ed, size_t from, size_t to)
{
	memmove(ed->text + from, ed->text + to, ed->length - to + 1);
	ed->length -= to - from;
	ed->cursor = from;
}

static size_t next(const struct input_editor *ed, size_t pos)
{
	int w;
	return pos < ed->length ? pos + text_next_grapheme(ed->text, ed->length, pos, &w, NULL) : pos;
}

static size_t prev(const struct input_editor *ed, size_t pos)
{
	return pos > 0 ? text_prev_grapheme(ed->text, pos) : 0;
}

static size_t line_start(const struct input_editor *ed, size_t pos)
{
	while (pos > 0 && ed->text[pos - 1] != '\n')
		pos--;
	return pos;
}

static size_t line_end(const struct input_editor *ed, size_t pos)
{
	while (pos < ed->length && ed->text[pos] != '\n')
		pos++;
	return pos;
}

void input_backspace(struct input_editor *ed)
{
	if (ed->cursor > 0)
		erase(ed, prev(ed, ed->cursor), ed->cursor);
}

void input_delete(struct input_editor *ed)
{
	if (ed->cursor < ed->length)
		erase(ed, ed->cursor, next(ed, ed->cursor));
}

void input_left(struct input_editor *ed)
{
	ed->cursor = prev(ed, ed->cursor);
}

void input_right(struct input_editor *ed)
{
	ed->cursor = next(ed, ed->cursor);
}

static bool word_at(const struct input_editor *ed, size_t pos)
{
	return text_is_word_grapheme(ed->text, ed->length, pos);
}

static size_t word_start_before(const struct input_editor *ed, size_t pos)
{
	while (pos > 0 && !word_at(ed, prev(ed, pos)))
		pos = prev(ed, pos);
	while (pos > 0 && word_at(ed, prev(ed, pos)))
		pos = prev(ed, pos);
	return pos;
}

void input_word_left(struct input_editor *ed)
{
	ed->cursor = word_start_before(ed, ed->cursor);
}

void input_word_right(struct input_editor *ed)
{
	size_t pos = ed->cursor;
	while (pos < ed->length && !word_at(ed, pos))
		pos = next(ed, pos);
	while (pos < ed->length && word_at(ed, pos))
		pos = next(ed, pos);
	ed->cursor = pos;
}

void input_home(struct input_editor *ed)
{
	ed->cursor = line_start(ed, ed->cursor);
}

void input_end(struct input_editor *ed)
{
	ed->cursor = line_end(ed, ed->cursor);
}

void input_kill_to_start(struct input_editor *ed)
{
	erase(ed, line_start(ed, ed->cursor), ed->cursor);
}

void input_kill_to_end(struct input_editor *ed)
{
	size_t end = line_end(ed, ed->cursor);
	if (end == ed->cursor && end < ed->length)
		end++;   /* at a line's end, join the next line */
	erase(ed, ed->cursor, end);
}

void input_kill_word(struct input_editor *ed)
{
	/* readline's unix-word-rubout: back over spaces, then over non-spaces */
	size_t pos = ed->cursor;
	while (pos > 0 && (ed->text[pos - 1] == ' ' || ed->text[pos - 1] == '\t'))
		pos--;
	while (pos > 0 && ed->text[pos - 1] != ' ' && ed->text[pos - 1] != '\t' && ed->text[pos - 1] != '\n')
		pos = prev(ed, pos);
	erase(ed, pos, ed->cursor);
}

/* Whether row r is the last of its line: its end is the line's end, not the
 * next row's start. */
static bool ends_line(const struct input_editor *ed, const struct text_row *r)
{
	return r->end >= ed->length || ed->text[r->end] == '\n';
}

/* The offset in row r whose column is the last at most col (never the row's
 * end when that starts the next row). */
static size_t offset_in_row(const struct input_editor *ed, const struct text_row *r, int col)
{
	size_t pos = r->start;
	int at = 0, w;
	bool last = ends_line(ed, r);
	while (pos < r->end) {
		size_t n = text_next_grapheme(ed->text, ed->length, pos, &w, NULL);
		if (at + w > col || (pos + n == r->end && !last))
			break;
		at += w;
		pos += n;
	}
	return pos;
}

static int history_show(struct input_editor *ed, size_t index)
{
	ed->history_index = index;
	return input_set(ed, index < ed->history_count ? ed->history[index] : (ed->draft ? ed->draft : ""));
}

/* Moves the cursor by rows (-1 up, +1 down) among the rows the text wraps into;
 * returns 1 when there is no row there, -1 when out of memory, else 0. */
static int move_row(struct input_editor *ed, int width, int prompt_width, int by)
{
	struct text_rows rows = {0};
	size_t row;
	int col, rc = 1;
	if (input_layout(ed, width, prompt_width, &rows, &row, &col) != 0) {
		rc = -1;
	} else if ((by < 0 && row > 0) || (by > 0 && row + 1 < rows.count)) {
		ed->cursor = offset_in_row(ed, &rows.rows[by < 0 ? row - 1 : row + 1], col);
		rc = 0;
	}
	text_rows_free(&rows);
	return rc;
}

int input_up(struct input_editor *ed, int width, int prompt_width)
{
	int rc = move_row(ed, width, prompt_width, -1);
	if (rc <= 0)
		return rc;
	if (ed->history_index == 0)
		return 0;
	if (ed->history_index == ed->history_count) {
		free(ed->draft);
		if (!(ed->draft = strdup(ed->text)))
			return -1;
	}
	return history_show(ed, ed->history_index - 1);
}

int input_down(struct input_editor *ed, int width, int prompt_width)
{
	int rc = move_row(ed, width, prompt_width, 1);
	if (rc <= 0)
		return rc;
	if (ed->history_index >= ed->history_count)
		return 0;
	return history_show(ed, ed->history_index + 1);
}

int input_history_add(struct input_editor *ed, const char *text)
{
	if (!*text || (ed->history_count && strcmp(ed->history[ed->history_count - 1], text) == 0)) {
		ed->history_index = ed->history_count;
		return 0;
	}
	char **h = array_grow(ed->history, &ed->history_capacity, ed->history_count, sizeof *h, 16);
	if (!h)
		return -1;
	ed->history = h;
	if (!(ed->history[ed->history_count] = strdup(text)))
		return -1;
	ed->history_index = ++ed->history_count;
	return 0;
}

char *input_take(struct input_editor *ed)
{
	char *text = strdup(ed->text);
	if (!text || input_history_add(ed, text) != 0) {
		free(text);
		return NULL;
	}
	free(ed->draft);
	ed->draft = NULL;
	ed->length = ed->cursor = 0;
	ed->text[0] = '\0';
	return text;
}

int input_layout(const struct input_editor *ed, int width, int prompt_width, struct text_rows *rows,
		 size_t *cursor_row, int *cursor_col)
{
	/* one column stays free for the cursor after the last cluster of a full row */
	int avail = width - prompt_width - 1;
	size_t pos = 0;
	rows->count = 0;
	*cursor_row = 0;
	*cursor_col = 0;
	if (avail < 1)
		avail = 1;
	for (;;) {
		size_t end = line_end(ed, pos), first = rows->count;
		if (text_wrap(ed->text + pos, end - pos, avail, 0, true, rows) != 0)
			return -1;
		for (size_t i = first; i < rows->count; i++) {
			rows->rows[i].start += pos;
			rows->rows[i].end += pos;
		}
		for (size_t i = first; i + 1 < rows->count; i++)
			rows->rows[i].end = rows->rows[i + 1].start;   /* the spaces at a break too */
		for (size_t i = first; i < rows->count; i++) {
			if (ed->cursor >= rows->rows[i].start && ed->cursor <= rows->rows[i].end) {
				/* at a wrap point the cursor belongs to the next row */
				*cursor_row = i;
				*cursor_col = text_width(ed->text + rows->rows[i].start, ed->cursor - rows->rows[i].start);
			}
		}
		if (end >= ed->length)
			break;
		pos = end + 1;
	}
	if (*cursor_col > avail)
		*cursor_col = avail;   /* among the spaces at a break, past the edge */
	return 0;
}
