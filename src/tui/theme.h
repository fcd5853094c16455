/*
 * theme.h - colour themes: which colours and attributes each element of the
 * screen is drawn with.
 *
 * A theme file (NAME.theme) is lines of `element = SPEC`; blank lines and lines
 * starting with '#' are ignored.  SPEC is `[FG] [on BG] [bold] [italic]
 * [underline] [reverse] [dim]`, where a colour is `default`, one of the eight
 * names black red green yellow blue magenta cyan white (bright-NAME for 8-15), or
 * a number 0-255.  Elements not named keep the built-in default theme's values.
 * Themes are looked up, first found wins, in $XDG_CONFIG_HOME/llmchat/themes/
 * (default ~/.config), then $LLMCHAT_DATADIR/themes (installed: $(pkgdatadir)),
 * then the source tree's themes/ for uninstalled runs.
 */
#ifndef LLMCHAT_TUI_THEME_H
#define LLMCHAT_TUI_THEME_H

#include <stdbool.h>
#include <stddef.h>

enum theme_element {
	THEME_TEXT,        /* the transcript's plain text, the default background */
	THEME_USER,        /* the user's messages */
	THEME_ASSISTANT,   /* the model's answers */
	THEME_INFO,        /* notices and command output */
	THEME_ERROR,       /* errors */
	THEME_HEADING,     /* markdown headings */
	THEME_STRONG,      /* **bold** */
	THEME_EMPHASIS,    /* *italic* */
	THEME_CODE,        /* `inline code` */
	THEME_CODE_BLOCK,  /* fenced code blocks, the whole row */
	THEME_STRONG_EMPHASIS, /* ***bold italic*** */
	THEME_STRIKE,      /* ~~strike~~ (no terminal attribute strikes out: dim by default) */
	THEME_QUOTE,       /* block quotes, their bars included */
	THEME_LINK,        /* a link's text and its url */
	THEME_RULE,        /* thematic breaks, a table's rules and column bars */
	THEME_STATUS,      /* the status line */
	THEME_INPUT,       /* the input editor */
	THEME_BORDER,      /* the line above the input */
	THEME_HINT,        /* transient hints in the status line */
	THEME_ELEMENT_COUNT,
};

#define THEME_COLOR_DEFAULT (-1)

enum {
	THEME_ATTR_BOLD = 1, THEME_ATTR_ITALIC = 2, THEME_ATTR_UNDERLINE = 4,
	THEME_ATTR_REVERSE = 8, THEME_ATTR_DIM = 16,
};

struct theme_style {
	short fg, bg;      /* 0-255 or THEME_COLOR_DEFAULT */
	unsigned attrs;    /* THEME_ATTR_* */
};

struct theme {
	char name[64];
	struct theme_style styles[THEME_ELEMENT_COUNT];
};

/* The element's name as theme files spell it ("code_block"). */
const char *theme_element_name(enum theme_element element);

/* The built-in default theme (what themes/default.theme also says). */
void theme_default(struct theme *theme);

/* Parses theme text over the default theme; errors name where:
 * "FILE:LINE: unknown element 'foo'".  Returns 0 or -1. */
int theme_parse(const char *text, const char *where, struct theme *theme, char *err, size_t err_size);

/* Loads the theme NAME from the directories above.  Returns 0, or -1 with a
 * message (not found, or the file's first error); *theme is the default then. */
int theme_load(const char *name, struct theme *theme, char *err, size_t err_size);

/* Calls fn with each theme name found (sorted, without duplicates). */
void theme_list(void (*fn)(void *user_data, const char *name), void *user_data);

#endif
