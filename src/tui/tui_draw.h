/*
 * tui_draw.h - the screen, drawn whole from the models on every update.
 *
 * Only this file and tui.c speak to ncurses.
 */
#ifndef LLMCHAT_TUI_DRAW_H
#define LLMCHAT_TUI_DRAW_H

struct tui;

/* Gives each element of t->theme its colour pair (nothing without colour). */
void tui_draw_init_colors(const struct tui *t);

/* Erases and draws every row; ncurses sends the terminal only what changed. */
void tui_draw(struct tui *t);

#endif
