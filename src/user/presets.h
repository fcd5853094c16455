/*
 * presets.h - named starting points for a conversation: a system prompt and,
 * optionally, sampling settings.
 *
 * Built in: default, concise, coder, translator, pirate.  A user preset is the
 * file $XDG_CONFIG_HOME/llmchat/presets/NAME.txt (default ~/.config) and wins
 * over a built-in one of the same name.  Its format:
 *
 *     temp = 0.2            optional header: `key = value` lines (temp, top_p,
 *     top_k = 40            top_k, min_p, repeat_penalty, max_tokens: what /set
 *                           takes; '#' comment lines allowed),
 *     ---                   ended by a line holding only ---
 *     You are a careful reviewer of C code.    the system prompt: the rest
 *
 * A file whose first line is neither `---` nor `key = value` is all system prompt
 * (plain text).  Errors name the file and line: "PATH:2: unknown key 'tmp'".
 */
#ifndef LLMCHAT_PRESETS_H
#define LLMCHAT_PRESETS_H

#include <stdbool.h>
#include <stddef.h>

#include "chat_session.h"   /* struct sampling_overrides */

struct preset {
	char name[64];
	char *system_prompt;      /* malloc'd; NULL: no system prompt */
	struct sampling_overrides sampling;  /* "not given" where the preset does not set them */
};

/* Finds the preset NAME (user file first, then built in) and fills *out; the
 * caller frees it with preset_free.  Returns 0, or -1 with a message: unknown
 * name (listing the known ones), or why the user's file cannot be used (it cannot
 * be read, is no regular file, or its first error by line).  Only a missing file
 * falls back to a built-in preset. */
int presets_resolve(const char *name, struct preset *out, char *err, size_t err_size);

/* Parses a preset file's text; where names it in errors. */
int preset_parse(const char *text, const char *where, struct preset *out, char *err, size_t err_size);

void preset_free(struct preset *preset);

/* Calls fn with each preset name (built-in and user), sorted, each once, and a
 * one-line description (the start of its system prompt, or the error that makes the
 * file unusable).  Both are made safe for a terminal: control bytes from a file are
 * shown as \xNN (text_escape.h). */
void presets_list(void (*fn)(void *user_data, const char *name, const char *description), void *user_data);

#endif
