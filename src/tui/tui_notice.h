/*
 * tui_notice.h - what the interface tells the user beside the conversation:
 * notices, entries of the transcript (an info line, an error) that are shown but
 * neither sent to the model nor saved; and the hint, one line shown in place of
 * the status line until the next key.
 *
 * Which one: the hint is for short, passing words ("Conversation cleared.",
 * "Still answering: ..."), as it is one row that a narrow terminal cuts (its end
 * then shows as "…").  Anything that must be read whole - an error with its
 * cause, a message that names a file - is a notice: the transcript wraps it.
 *
 * The bottom of the interface's files: a notice writes the transcript, the hint
 * and the scroll, and calls nothing else of the interface.
 */
#ifndef LLMCHAT_TUI_NOTICE_H
#define LLMCHAT_TUI_NOTICE_H

#include <stdbool.h>

#include "transcript.h"

struct tui;

/* The one-line message in place of the status line; text "" when there is none. */
struct tui_hint {
	char text[256];
	bool error;                          /* drawn as an error */
};

/* Sets the hint (cut to its 255 bytes), until the next key clears it. */
void tui_notice_hint(struct tui *t, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tui_notice_clear_hint(struct tui *t);

/* Adds a notice of kind (TRANSCRIPT_INFO, TRANSCRIPT_ERROR) to the transcript,
 * cut to 4095 bytes, and follows the transcript to its bottom; out of memory, an
 * error hint says so.  While an answer streams the notice goes below it (the
 * answer goes on in its own entry), and an error is the hint as well, to be seen
 * at once. */
void tui_notice_add(struct tui *t, enum transcript_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
