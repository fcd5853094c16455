/*
 * transcript.h - the conversation as the screen shows it: a list of entries
 * (the user's messages, the model's answers, notices), each keeping its raw text
 * and, for the current width, its wrapped rows.
 *
 * The model of the screen is kept apart from its drawing (tui_draw.c): here rows
 * are byte ranges of styled lines, computed again only for entries whose text or
 * width changed, so that a streamed answer re-wraps one entry per update and a
 * resize re-wraps everything once.
 */
#ifndef LLMCHAT_TUI_TRANSCRIPT_H
#define LLMCHAT_TUI_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "markdown.h"
#include "text.h"

enum transcript_kind { TRANSCRIPT_USER, TRANSCRIPT_ASSISTANT, TRANSCRIPT_INFO, TRANSCRIPT_ERROR };

/* One screen row of an entry: bytes [start, end) of styled line `line`. */
struct transcript_row {
	size_t line;
	size_t start, end;
	int indent;
};

struct transcript_entry {
	enum transcript_kind kind;
	char *text;                 /* raw, as typed or generated */
	size_t length, capacity;
	struct styled_lines lines;  /* for the width below */
	struct transcript_row *rows;
	size_t row_count;
	int width;                  /* 0: rows must be computed again */
};

struct transcript {
	struct transcript_entry *entries;
	size_t count, capacity;
};

void transcript_init(struct transcript *t);
void transcript_free(struct transcript *t);

/* Adds an entry holding a copy of text.  Returns 0 or -1 (out of memory). */
int transcript_add(struct transcript *t, enum transcript_kind kind, const char *text, size_t length);

/* Appends streamed text to the last entry of kind (an answer's text goes to the
 * answer, whatever notices came after it).  Returns 0, or -1 when there is no such
 * entry or memory ran out. */
int transcript_append(struct transcript *t, enum transcript_kind kind, const char *text, size_t length);

/* Removes the last entry (none: nothing). */
void transcript_remove_last(struct transcript *t);

/* Removes the last entry of kind, keeping those after it (none: nothing). */
void transcript_remove_last_of(struct transcript *t, enum transcript_kind kind);

/* The last entry of kind, or NULL. */
const struct transcript_entry *transcript_last(const struct transcript *t, enum transcript_kind kind);

void transcript_clear(struct transcript *t);

/* Wraps every entry not yet wrapped for width.  Returns 0 or -1. */
int transcript_layout(struct transcript *t, int width);

/* Rows of the whole transcript after transcript_layout, a blank row between entries. */
size_t transcript_row_count(const struct transcript *t);

/* Row index (0 = top) of the transcript: its entry and row, or false for a blank
 * separator row. */
bool transcript_row_at(const struct transcript *t, size_t index, const struct transcript_entry **entry,
		       const struct transcript_row **row);

#endif
