/*
 * history.h - conversations on disk: JSON files written atomically.
 *
 * A conversation file is
 *   {"format": "llmchat-conversation", "version": 1, "model": "...", "preset": "...",
 *    "saved": "2026-11-24T20:31:07Z",
 *    "messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
 * (a bare array of messages is read too).  Every write goes to a temporary file in
 * the same folder, is fsync'd, then renamed over the target, so a crash leaves the
 * old file or the new one, never half of one.  The TUI keeps every conversation
 * in $XDG_STATE_HOME/llmchat/history/ (default ~/.local/state), rewritten after
 * each message and answer; --resume reopens the newest.  A message read back is the
 * message written: a file whose message holds \u0000 (which a C string would cut
 * short) is refused, by name.
 */
#ifndef LLMCHAT_HISTORY_H
#define LLMCHAT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "chat_template.h"

/* A conversation read from a file; it owns its strings. */
struct conversation {
	struct chat_message *messages;
	size_t count;
	char *model;    /* NULL when the file names none */
	char *preset;
};

void conversation_free(struct conversation *conversation);

/* Writes data to path atomically (temp file, fsync, rename, fsync of the folder). */
int write_file_atomic(const char *path, const char *data, size_t length, char *err, size_t err_size);

/* Saves messages (model and preset may be NULL) as a conversation file. */
int history_save(const char *path, const struct chat_message *messages, size_t count, const char *model,
		 const char *preset, char *err, size_t err_size);

/* Reads a conversation file; errors name the file and what is wrong in it. */
int history_load(const char *path, struct conversation *out, char *err, size_t err_size);

/* The file the interface keeps a conversation in, and how its saves went, so that
 * what the program says at its end is true. */
struct history_record {
	char path[4096];     /* the conversation's file; "" before one is named */
	bool saved;          /* path holds the conversation as of a save (or as resumed) */
	bool failed;         /* the last save failed, for the reason in error */
	char error[512];
};

/* Saves messages into the record's file, naming a new one in the history folder
 * the first time, and remembers the outcome.  Returns 0, or -1 with the reason in
 * record->error. */
int history_record_save(struct history_record *record, const struct chat_message *messages, size_t count,
			const char *model, const char *preset);

/* What to say about the conversation when the program ends (without "llmchat: "):
 * "conversation kept in PATH"; or that the last save failed, why, and that PATH
 * holds the conversation as of the save before; or that it could not be saved,
 * and why; "" when nothing was said to keep. */
void history_record_exit_note(const struct history_record *record, char *out, size_t out_size);

/* A new file name in the history folder (created when missing):
 * .../history/YYYYmmdd-HHMMSS-PID.json. */
int history_new_path(char *out, size_t out_size, char *err, size_t err_size);

/* The newest conversation file in the history folder. */
int history_latest_path(char *out, size_t out_size, char *err, size_t err_size);

#endif
