/*
 * tui_terminal.c - whether the terminal can take the interface, asked before a
 * model takes its time to load.  Alone in its file: term.h defines macros
 * (lines, columns, ...) that would clash with ordinary names elsewhere.
 */
#include "tui_terminal.h"

#include <ncurses.h>
#include <stdbool.h>
#include <term.h>
#include <unistd.h>

bool tui_terminal_usable(void)
{
	int status;
	if (setupterm(NULL, STDOUT_FILENO, &status) != OK)
		return false;
	/* a terminal that cannot move the cursor (TERM=dumb) would draw an unusable screen */
	const char *move = tigetstr("cup");
	bool addressable = move != NULL && move != (char *)-1;
	del_curterm(cur_term);
	return addressable;
}
