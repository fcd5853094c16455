/*
 * prompt_history.h - the prompts sent before, kept across runs, so that Up in a
 * new session recalls those of the last ones.
 *
 * The file ($XDG_STATE_HOME/llmchat/prompts.jsonl) holds one JSON string a line,
 * oldest first: a prompt's newlines stay inside its line.  It is the user's alone
 * (0600, as the conversations are).  A prompt is appended as one whole line in one
 * write with O_APPEND, so that two programs at once interleave whole lines and a
 * crash loses at most the line being written.  Loading keeps the last
 * PROMPT_HISTORY_KEPT; once the file holds more than twice that, it is rewritten
 * with those (write_file_atomic), so that it stays bounded.
 */
#ifndef LLMCHAT_PROMPT_HISTORY_H
#define LLMCHAT_PROMPT_HISTORY_H

#include <stddef.h>

#define PROMPT_HISTORY_KEPT 1000
/* A longer prompt (a big paste) is not kept on disk: the file stays small. */
#define PROMPT_HISTORY_MAX_BYTES ((size_t)64 << 10)

struct prompt_list {
	char **items;            /* oldest first, each malloc'd */
	size_t count;
};

/* The file's path: $XDG_STATE_HOME/llmchat/prompts.jsonl.  Returns 0, or -1 when
 * no folder for it is known (no HOME). */
int prompt_history_path(char *out, size_t out_size);

/* Loads the last PROMPT_HISTORY_KEPT prompts of path into *out (none when the file
 * does not exist); lines that are not a JSON string are left out and counted in
 * *skipped.  Compacts the file when it is over twice the bound.  Returns 0, or -1
 * with "PATH: REASON" in err (unreadable, out of memory). */
int prompt_history_load(const char *path, struct prompt_list *out, size_t *skipped, char *err, size_t err_size);

/* Appends prompt to path (created 0600 with its folder).  A prompt that is empty or
 * over PROMPT_HISTORY_MAX_BYTES is not written.  Returns 0, or -1 with a message. */
int prompt_history_append(const char *path, const char *prompt, char *err, size_t err_size);

void prompt_list_free(struct prompt_list *list);

#endif
