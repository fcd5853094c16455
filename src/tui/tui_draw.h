/*
 * tui_draw.h - the screen, drawn whole from the models on every update.
 *
 * Drawing reads struct tui and writes nothing into it: what its layout decides
 * (heights, scrolls) is computed before, by tui_view.h.  Of the interface's
 * files only this one, tui.c and tui_terminal.c speak to ncurses.
 */
#ifndef LLMCHAT_TUI_DRAW_H
#define LLMCHAT_TUI_DRAW_H

struct tui;
struct tui_view;

/* Gives each element of t->theme its colour pair (nothing without colour). */
void tui_draw_init_colors(const struct tui *t);

/* Erases and draws every row of view (a blank view: none); ncurses sends the
 * terminal only what changed. */
void tui_draw(const struct tui *t, const struct tui_view *view);

#endif
