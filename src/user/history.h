/*
 * history.h - conversations on disk: JSON files written atomically.
 *
 * A conversation file is
 *   {"format": "llmchat-conversation", "version": 1, "model": "...", "preset": "...",
 *    "saved": "2026-11-24T20:31:07Z", "answering": true,
 *    "messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
 * (a bare array of messages is read too).  "answering" is there only while an
 * answer is being written: the last message is that answer as far as it had come
 * (the TUI saves it about once a second), so a file that still says so after the
 * program ended holds an answer cut short.  A file may also end on a user message
 * (the program stopped before any of its answer was saved).  Every write goes to a temporary file in
 * the same folder, is fsync'd, then renamed over the target, so a crash leaves the
 * old file or the new one, never half of one.  The TUI keeps every conversation
 * in $XDG_STATE_HOME/llmchat/history/ (default ~/.local/state), rewritten after
 * each message, about once a second while an answer streams, and after each answer;
 * --resume reopens the newest, --resume=ID (the file's name without .json) or
 * --resume=FILE a given one, and /history lists them.  A message read back is the
 * message written: a file whose message holds \u0000 (which a C string would cut
 * short) is refused, by name.
 */
#ifndef LLMCHAT_HISTORY_H
#define LLMCHAT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "chat_template.h"

/* A conversation read from a file; it owns its strings. */
struct conversation {
	struct chat_message *messages;
	size_t count;
	char *model;    /* NULL when the file names none */
	char *preset;
	bool answering;  /* saved while its last answer was being written (see above) */
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
 * the first time, and remembers the outcome; answering marks the last message as
 * an answer still being written.  Returns 0, or -1 with the reason in
 * record->error. */
int history_record_save(struct history_record *record, const struct chat_message *messages, size_t count,
			const char *model, const char *preset, bool answering);

/* What to say about the conversation when the program ends (without "llmchat: "):
 * "conversation kept in PATH"; or that the last save failed, why, and that PATH
 * holds the conversation as of the save before; or that it could not be saved,
 * and why; "" when nothing was said to keep. */
void history_record_exit_note(const struct history_record *record, char *out, size_t out_size);

/* A new file name in the history folder (created when missing):
 * .../history/YYYYmmdd-HHMMSS-PID.json. */
int history_new_path(char *out, size_t out_size, char *err, size_t err_size);

/* The newest conversation of the history folder (number 1 of history_list: a
 * file that is no conversation is passed over). */
int history_latest_path(char *out, size_t out_size, char *err, size_t err_size);

/* One conversation of the history folder, as /history shows it. */
struct history_entry {
	char id[256];            /* the file's name without .json: what --resume=ID takes */
	char path[4352];
	struct timespec saved;   /* when the file was last written */
	size_t messages;         /* user and assistant messages (the system prompt aside) */
	char first_words[160];   /* the start of the first user message on one line ("" when none) */
};

struct history_list {
	struct history_entry *entries;   /* newest (last written) first */
	size_t count;
	size_t skipped;                  /* .json files that are not conversations */
};

/* Lists the conversations of the history folder, newest first (by when they were
 * last written, then by name, as history_latest_path picks); a file that is not a
 * conversation (not JSON, a folder, unreadable) is skipped and counted, never
 * fatal.  No folder yet is an empty list.  Returns 0, or -1 with a message (no
 * folder can be named; out of memory). */
int history_list(struct history_list *out, char *err, size_t err_size);
void history_list_free(struct history_list *list);

/* The file that --resume=WHICH names: a path when WHICH holds a '/' or names an
 * existing file outside the history folder's IDs, else the ID of a conversation
 * in the history folder (its file's name, with or without .json).  Returns 0, or
 * -1 with a one-line message naming WHICH. */
int history_find(const char *which, char *out, size_t out_size, char *err, size_t err_size);

/* Whether path is a file of the history folder (so that going on with it may
 * rewrite it); a file elsewhere is the user's own. */
bool history_in_folder(const char *path);

#endif
