/*
 * clipboard.h - putting text on the system clipboard, and saying how.
 *
 * The way is chosen from the environment: wl-copy when WAYLAND_DISPLAY is set,
 * xclip or xsel when DISPLAY is set, pbcopy (macOS), each only when it is in
 * PATH; otherwise OSC 52, an escape sequence that asks the terminal to do it
 * (many ignore it: VTE terminals such as GNOME Terminal, tmux with set-clipboard
 * off), so the caller can tell the user that it may not have worked.
 *
 * A helper program gets the text on its standard input and /dev/null for its
 * output (it never reads the terminal nor writes on the screen), in a session of
 * its own; one that has not finished within CLIPBOARD_TIMEOUT_MS is killed.
 * Nothing here knows ncurses nor struct tui.
 */
#ifndef LLMCHAT_TUI_CLIPBOARD_H
#define LLMCHAT_TUI_CLIPBOARD_H

#include <stdbool.h>
#include <stddef.h>

enum { CLIPBOARD_TIMEOUT_MS = 2000 };

/* What did (or would) the copy. */
struct clipboard_way {
	const char *name;        /* "wl-copy", "xclip", "xsel", "pbcopy", or "OSC 52" */
	const char *argv[4];     /* the helper's command line; argv[0] NULL for OSC 52 */
};

/* The way the environment (WAYLAND_DISPLAY, DISPLAY, PATH) gives. */
struct clipboard_way clipboard_choose(void);

/* Copies text[0..length) the way given: runs the helper, or writes OSC 52 to
 * /dev/tty.  Returns 0, or -1 with the cause in err ("xclip failed (exit status
 * 1)", "xclip did not finish within 2 s; killed", "cannot open /dev/tty: ..."). */
int clipboard_copy(const struct clipboard_way *way, const char *text, size_t length, char *err, size_t err_size);

#endif
