/*
 * tui.h - the interactive interface: what the program gives it and runs
 * (struct tui_settings, tui_run), and its state, struct tui, which its files
 * share.  Each file has its own header for what it promises; from the bottom:
 *   tui_notice.c        notices into the transcript, the hint line (a leaf)
 *   tui_conversation.c  settings, system prompt, history file, /load, the draft
 *   tui_answer.c        the answer's worker thread and its hand-over
 *   tui_view.c          the layout for a terminal size: heights, scrolls
 *   tui_draw.c          drawing the transcript, the status line and the editor
 *   tui_commands.c      the /commands
 *   tui_terminal.c      whether the terminal can take the interface
 *   tui.c               set-up, the event loop, keys: the top, calls them all
 * A file calls only files above it in this list; none calls tui.c.  The models (transcript.h,
 * input.h, markdown.h, text.h) and the clipboard (clipboard.h) know
 * nothing of ncurses nor of struct tui.
 */
#ifndef LLMCHAT_TUI_H
#define LLMCHAT_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "chat_session.h"
#include "history.h"
#include "model_runtime.h"
#include "presets.h"
#include "theme.h"

struct draft_model;
#include "tui_answer.h"        /* struct tui_answer */
#include "input.h"
#include "tui_notice.h"        /* struct tui_hint */
#include "transcript.h"

/* What the program gives the interface (mode_tui.c fills it from the options). */
struct tui_settings {
	const struct model_runtime_settings *runtime;  /* the model to open */
	struct sampling_overrides sampling;  /* flags and config file; NAN / -1 when not given */
	struct speculation speculation;      /* --lookup, --draft: off when propose is NULL */
	const char *draft_model;             /* --draft-model: opened after the model (with its
					      * engine settings), proposes instead */
	const char *preset;                  /* NULL: "default" */
	const char *theme;                   /* NULL: "default" */
	const char *system_prompt;           /* NULL: the preset's */
	bool no_color;
	bool resume;                         /* reopen the last conversation */
	bool mouse;                          /* take mouse reports (the wheel scrolls; selecting needs Shift) */
	const char *resume_from;             /* with resume: this one (an ID or a file), NULL: the newest */
	long stream_delay_ms;                /* a pause after each streamed piece (tests, demos) */
};

/* Runs the interface until the user quits or a signal stops it; returns the exit
 * status (standard_io.h; 128 + the signal's number after one). */
int tui_run(const struct tui_settings *settings);

struct tui {
	const struct tui_settings *setup;
	struct model_runtime runtime;
	struct draft_model *draft;           /* --draft-model's, or NULL */
	struct chat_session *session;

	/* what an answer uses: /set > flags and config > preset > the model's defaults */
	struct sampling_overrides overrides;   /* from /set; NAN / -1 when unset */
	struct generation_settings settings;
	struct preset preset;
	char *system_prompt;                 /* the conversation's, or NULL */

	struct theme theme;
	bool color;
	void *screen;                        /* ncurses' SCREEN */
	int saved_stderr;                    /* stderr while the screen is ours; -1 otherwise */
	FILE *stderr_log;                    /* what was written to stderr meanwhile */

	struct transcript transcript;
	struct input_editor input;
	struct history_record history;       /* where the conversation is kept, and how its last save went */
	bool prompts_failed;                 /* the last prompt could not be kept for the next run */

	struct tui_answer answer;            /* the answer in progress (tui_answer.h) */

	/* what the status line shows */
	struct generation_stats last_stats;
	bool have_stats;
	int context_used, context_length;

	/* the view */
	size_t scroll;                       /* rows scrolled up from the bottom; 0 follows the stream */
	size_t input_scroll;                 /* first editor row shown */
	int transcript_height;
	struct tui_hint hint;                /* tui_notice.h */
	bool mouse;                          /* mouse reports wanted (config mouse = on, /mouse) */
	bool mouse_reporting;                /* ... and asked of the terminal (tui.c) */
	bool quit_armed;                     /* Ctrl-C once on an empty editor */
	bool in_paste;
	bool quit;
};

#endif
