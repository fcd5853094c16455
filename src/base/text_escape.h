/*
 * text_escape.h - text from a file, made safe to print on a terminal.
 *
 * A preset's first line or a file name is shown by --list-presets and /preset; printed
 * raw, an ESC byte in it would drive the terminal (clear it, retitle the window, move
 * the cursor).  Every control character (Unicode category Cc: C0, DEL and C1, the last
 * as its two UTF-8 bytes) and every byte that is not UTF-8 is shown as C's \xNN, one per
 * byte: "\x1b[2J".  Backslashes themselves are left alone: this is for reading, not a
 * format to parse back.
 */
#ifndef LLMCHAT_TEXT_ESCAPE_H
#define LLMCHAT_TEXT_ESCAPE_H

#include <stddef.h>

/* Writes text[0..length) escaped into out (always NUL-terminated; out_size >= 1),
 * stopping before a character or an escape that would not fit whole.  Returns how
 * many bytes of text were written, so that the caller can mark a cut ("..."). */
size_t text_escape(const char *text, size_t length, char *out, size_t out_size);

#endif
