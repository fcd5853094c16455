/*
 * tui_terminal.h - whether the terminal can take the interface, asked before a
 * model takes its time to load.
 */
#ifndef LLMCHAT_TUI_TERMINAL_H
#define LLMCHAT_TUI_TERMINAL_H

#include <stdbool.h>

/* TERM names a terminal ncurses knows, and standard output is one. */
bool tui_terminal_usable(void);

#endif
