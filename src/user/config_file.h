/*
 * config_file.h - $XDG_CONFIG_HOME/llmchat/config: the user's defaults, and the
 * places llmchat keeps its files.
 *
 * The config file is lines of `key = value` ('#' starts a comment line, blank
 * lines are ignored).  Keys: model, preset, theme, mouse (on or off), temp, top_p,
 * top_k, min_p, repeat_penalty, max_tokens, ctx.  Flags override it; $LLMCHAT_MODEL overrides its model.
 * A line that cannot be used (no '=', an unknown key, a bad value) is a warning
 * naming the file and line, and the rest of the file is kept.
 */
#ifndef LLMCHAT_CONFIG_FILE_H
#define LLMCHAT_CONFIG_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "chat_session.h"   /* struct sampling_overrides */


enum { CONFIG_WARNINGS_KEPT = 8 };

struct config_file {
	char *model, *preset, *theme;  /* NULL when absent */
	struct sampling_overrides sampling; /* "not given" when absent (chat_session.h) */
	int context_length;            /* 0 when absent */
	int mouse;                     /* mouse = on: 1, off: 0; -1 when absent */
	/* the lines left out, "PATH:LINE: unknown key 'x' (...)": the first
	 * CONFIG_WARNINGS_KEPT of warning_count */
	char warnings[CONFIG_WARNINGS_KEPT][320];
	int warning_count;
};

/* $XDG_CONFIG_HOME/llmchat (default ~/.config/llmchat), with sub appended when not
 * NULL ("presets").  Returns 0, or -1 when neither variable says where home is. */
int config_dir(const char *sub, char *out, size_t out_size);

/* $XDG_STATE_HOME/llmchat (default ~/.local/state/llmchat), with sub appended. */
int state_dir(const char *sub, char *out, size_t out_size);

/* Creates path and its missing parents (mode 0700).  Returns 0 or -1 with a message. */
int make_dirs(const char *path, char *err, size_t err_size);

/* Splits "key = value" in place (spaces around both trimmed).  Returns false when
 * the line has no '=' or an empty key. */
bool config_split_line(char *line, char **key, char **value);

void config_file_init(struct config_file *cfg);
void config_file_free(struct config_file *cfg);

/* Parses config text; where names it in the warnings ("PATH:LINE: ...").  Returns
 * 0, or -1 only when out of memory. */
int config_file_parse(const char *text, const char *where, struct config_file *cfg, char *err, size_t err_size);

/* Reads the user's config file; a missing file is no error, one that cannot be read
 * is (-1 with a message). */
int config_file_load(struct config_file *cfg, char *err, size_t err_size);

#endif
