/*
 * tui_commands.h - the /commands typed at the start of the editor.
 *
 * A command never goes to the model.  Its output goes into the transcript as
 * notices, or into the hint; a failure comes back to the caller with its message,
 * and the caller decides what quitting means.  Above the answer (/retry), the
 * conversation, the notices and the colours (tui_draw.h, /theme); nothing here
 * runs the event loop.
 */
#ifndef LLMCHAT_TUI_COMMANDS_H
#define LLMCHAT_TUI_COMMANDS_H

#include <stddef.h>

struct tui;

enum tui_command_status {
	TUI_COMMAND_DONE,      /* what it had to say is in the transcript or the hint */
	TUI_COMMAND_QUIT,      /* /quit, /exit: the user wants to leave */
	TUI_COMMAND_ERROR,     /* failed (an unknown command too), for the reason in err */
};

/* Runs line, which starts with '/': "/NAME ARGS" (ARGS trimmed of blanks). */
enum tui_command_status tui_command_run(struct tui *t, const char *line, char *err, size_t err_size);

#endif
