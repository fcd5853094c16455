/*
 * transcript.c - entries, their styled lines and their wrapped rows.
 */
#include "transcript.h"

#include <stdlib.h>
#include <string.h>

#include "array_grow.h"

#define USER_PREFIX "> "

void transcript_init(struct transcript *t)
{
	memset(t, 0, sizeof *t);
}

static void entry_free(struct transcript_entry *e)
{
	free(e->text);
	styled_lines_free(&e->lines);
	free(e->rows);
}

void transcript_free(struct transcript *t)
{
	transcript_clear(t);
	free(t->entries);
	t->entries = NULL;
	t->capacity = 0;
}

void transcript_clear(struct transcript *t)
{
	for (size_t i = 0; i < t->count; i++)
		entry_free(&t->entries[i]);
	t->count = 0;
}

static int entry_reserve(struct transcript_entry *e, size_t extra)
{
	char *text = array_reserve(e->text, &e->capacity, e->length + extra + 1, 1, 64);
	if (!text)
		return -1;
	e->text = text;
	return 0;
}

int transcript_add(struct transcript *t, enum transcript_kind kind, const char *text, size_t length)
{
	struct transcript_entry *entries = array_grow(t->entries, &t->capacity, t->count, sizeof *entries, 16);
	if (!entries)
		return -1;
	t->entries = entries;
	struct transcript_entry *e = &t->entries[t->count];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	if (entry_reserve(e, length) != 0)
		return -1;
	memcpy(e->text, text, length);
	e->length = length;
	e->text[length] = '\0';
	t->count++;
	return 0;
}

/* Index of the last entry of kind, or t->count when there is none. */
static size_t last_of(const struct transcript *t, enum transcript_kind kind)
{
	for (size_t i = t->count; i > 0; i--)
		if (t->entries[i - 1].kind == kind)
			return i - 1;
	return t->count;
}

int transcript_append(struct transcript *t, enum transcript_kind kind, const char *text, size_t length)
{
	size_t index = last_of(t, kind);
	if (index == t->count)
		return -1;
	struct transcript_entry *e = &t->entries[index];
	if (entry_reserve(e, length) != 0)
		return -1;
	memcpy(e->text + e->length, text, length);
	e->length += length;
	e->text[e->length] = '\0';
	e->width = 0;
	return 0;
}

void transcript_remove_last(struct transcript *t)
{
	if (t->count > 0)
		entry_free(&t->entries[--t->count]);
}

void transcript_remove_last_of(struct transcript *t, enum transcript_kind kind)
{
	size_t index = last_of(t, kind);
	if (index == t->count)
		return;
	entry_free(&t->entries[index]);
	memmove(t->entries + index, t->entries + index + 1, (t->count - index - 1) * sizeof *t->entries);
	t->count--;
}

const struct transcript_entry *transcript_last(const struct transcript *t, enum transcript_kind kind)
{
	size_t index = last_of(t, kind);
	return index < t->count ? &t->entries[index] : NULL;
}

/* The styled lines of an entry for rows of width columns: answers as Markdown,
 * the rest as plain text. */
static int entry_style(struct transcript_entry *e, int width)
{
	styled_lines_free(&e->lines);
	switch (e->kind) {
	case TRANSCRIPT_ASSISTANT:
		return markdown_render(e->text, e->length, THEME_ASSISTANT, width, &e->lines);
	case TRANSCRIPT_INFO:
		return styled_lines_add_plain(&e->lines, e->text, e->length, THEME_INFO, 2);
	case TRANSCRIPT_ERROR:
		return styled_lines_add_plain(&e->lines, e->text, e->length, THEME_ERROR, 0);
	case TRANSCRIPT_USER:
		break;
	}
	/* "> " before the first line, its width of indent before the others */
	size_t n = strlen(USER_PREFIX), length = e->length, lines = 1;
	for (size_t i = 0; i < length; i++)
		lines += e->text[i] == '\n';
	char *shown = malloc(length + lines * n + 1), *p = shown;
	if (!shown)
		return -1;
	memcpy(p, USER_PREFIX, n), p += n;
	for (size_t i = 0; i < length; i++) {
		*p++ = e->text[i];
		if (e->text[i] == '\n')
			memset(p, ' ', n), p += n;
	}
	int rc = styled_lines_add_plain(&e->lines, shown, (size_t)(p - shown), THEME_USER, (int)n);
	free(shown);
	return rc;
}

static int entry_layout(struct transcript_entry *e, int width)
{
	struct text_rows rows = {0};
	if (entry_style(e, width) != 0)
		return -1;
	free(e->rows);
	e->rows = NULL;
	e->row_count = 0;
	for (size_t i = 0; i < e->lines.count; i++) {
		const struct styled_line *l = &e->lines.lines[i];
		size_t first = rows.count;
		if (text_wrap(l->text, l->length, width, l->indent, !l->code, &rows) != 0) {
			text_rows_free(&rows);
			return -1;
		}
		struct transcript_row *r = realloc(e->rows, rows.count * sizeof *r);
		if (!r) {
			text_rows_free(&rows);
			return -1;
		}
		e->rows = r;
		for (size_t k = first; k < rows.count; k++)
			e->rows[k] = (struct transcript_row){i, rows.rows[k].start, rows.rows[k].end, rows.rows[k].indent};
	}
	e->row_count = rows.count;
	text_rows_free(&rows);
	e->width = width;
	return 0;
}

int transcript_layout(struct transcript *t, int width)
{
	for (size_t i = 0; i < t->count; i++)
		if (t->entries[i].width != width && entry_layout(&t->entries[i], width) != 0)
			return -1;
	return 0;
}

size_t transcript_row_count(const struct transcript *t)
{
	size_t total = 0;
	for (size_t i = 0; i < t->count; i++)
		total += t->entries[i].row_count + (i > 0);
	return total;
}

bool transcript_row_at(const struct transcript *t, size_t index, const struct transcript_entry **entry,
		       const struct transcript_row **row)
{
	for (size_t i = 0; i < t->count; i++) {
		const struct transcript_entry *e = &t->entries[i];
		if (i > 0) {
			if (index == 0)
				return false;
			index--;
		}
		if (index < e->row_count) {
			*entry = e;
			*row = &e->rows[index];
			return true;
		}
		index -= e->row_count;
	}
	return false;
}
