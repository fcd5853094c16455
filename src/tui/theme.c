/*
 * theme.c - theme files: parsing, lookup, and the built-in default.
 */
#include "theme.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "file_read.h"

static const char *const element_names[THEME_ELEMENT_COUNT] = {
	[THEME_TEXT] = "text", [THEME_USER] = "user", [THEME_ASSISTANT] = "assistant",
	[THEME_INFO] = "info", [THEME_ERROR] = "error", [THEME_HEADING] = "heading",
	[THEME_STRONG] = "strong", [THEME_EMPHASIS] = "emphasis", [THEME_CODE] = "code",
	[THEME_CODE_BLOCK] = "code_block", [THEME_STRONG_EMPHASIS] = "strong_emphasis",
	[THEME_STRIKE] = "strike", [THEME_QUOTE] = "quote", [THEME_LINK] = "link", [THEME_RULE] = "rule",
	[THEME_STATUS] = "status", [THEME_INPUT] = "input",
	[THEME_BORDER] = "border", [THEME_HINT] = "hint",
};

static const char *const color_names[8] = {"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};

const char *theme_element_name(enum theme_element element)
{
	return element < THEME_ELEMENT_COUNT ? element_names[element] : "?";
}

void theme_default(struct theme *theme)
{
	static const struct theme_style defaults[THEME_ELEMENT_COUNT] = {
		[THEME_TEXT] = {-1, -1, 0},
		[THEME_USER] = {6, -1, THEME_ATTR_BOLD},
		[THEME_ASSISTANT] = {-1, -1, 0},
		[THEME_INFO] = {3, -1, 0},
		[THEME_ERROR] = {1, -1, THEME_ATTR_BOLD},
		[THEME_HEADING] = {4, -1, THEME_ATTR_BOLD | THEME_ATTR_UNDERLINE},
		[THEME_STRONG] = {-1, -1, THEME_ATTR_BOLD},
		[THEME_EMPHASIS] = {-1, -1, THEME_ATTR_ITALIC},
		[THEME_CODE] = {2, -1, 0},
		[THEME_CODE_BLOCK] = {252, 236, 0},
		[THEME_STRONG_EMPHASIS] = {-1, -1, THEME_ATTR_BOLD | THEME_ATTR_ITALIC},
		[THEME_STRIKE] = {-1, -1, THEME_ATTR_DIM},
		[THEME_QUOTE] = {245, -1, THEME_ATTR_ITALIC},
		[THEME_LINK] = {4, -1, THEME_ATTR_UNDERLINE},
		[THEME_RULE] = {8, -1, 0},
		[THEME_STATUS] = {0, 6, 0},
		[THEME_INPUT] = {-1, -1, 0},
		[THEME_BORDER] = {8, -1, 0},
		[THEME_HINT] = {0, 3, THEME_ATTR_BOLD},
	};
	memset(theme, 0, sizeof *theme);
	snprintf(theme->name, sizeof theme->name, "default");
	memcpy(theme->styles, defaults, sizeof defaults);
}

/* "red", "bright-red", "default", "0".."255". */
static int parse_color(const char *word, short *out)
{
	if (!strcmp(word, "default")) {
		*out = THEME_COLOR_DEFAULT;
		return 0;
	}
	bool bright = !strncmp(word, "bright-", 7);
	for (int i = 0; i < 8; i++)
		if (!strcmp(word + (bright ? 7 : 0), color_names[i])) {
			*out = (short)(i + (bright ? 8 : 0));
			return 0;
		}
	char *end;
	long v = strtol(word, &end, 10);
	if (end == word || *end || v < 0 || v > 255)
		return -1;
	*out = (short)v;
	return 0;
}

/* Parses SPEC (in place) into style; returns NULL or the word at fault. */
static const char *parse_spec(char *spec, struct theme_style *style)
{
	struct theme_style s = {THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, 0};
	bool have_fg = false, want_bg = false;
	static const struct { const char *name; unsigned attr; } attrs[] = {
		{"bold", THEME_ATTR_BOLD}, {"italic", THEME_ATTR_ITALIC}, {"underline", THEME_ATTR_UNDERLINE},
		{"reverse", THEME_ATTR_REVERSE}, {"dim", THEME_ATTR_DIM},
	};
	char *save = NULL;
	for (char *w = strtok_r(spec, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		bool known = false;
		if (want_bg) {
			if (parse_color(w, &s.bg) != 0)
				return w;
			want_bg = false;
			continue;
		}
		if (!strcmp(w, "on")) {
			want_bg = true;
			continue;
		}
		for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
			if (!strcmp(w, attrs[i].name)) {
				s.attrs |= attrs[i].attr;
				known = true;
			}
		if (known)
			continue;
		if (have_fg || parse_color(w, &s.fg) != 0)
			return w;
		have_fg = true;
	}
	if (want_bg)
		return "on";
	*style = s;
	return NULL;
}

int theme_parse(const char *text, const char *where, struct theme *theme, char *err, size_t err_size)
{
	char *copy = strdup(text), *line, *next;
	int line_number = 0, rc = 0;
	if (!copy) {
		snprintf(err, err_size, "%s: out of memory", where);
		return -1;
	}
	for (line = copy; line && rc == 0; line = next) {
		char *nl = strchr(line, '\n'), *key, *value;
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		line_number++;
		char *t = line + strspn(line, " \t");
		if (*t == '\0' || *t == '#' || *t == '\r' )
			continue;
		if (!config_split_line(t, &key, &value)) {
			snprintf(err, err_size, "%s:%d: expected 'element = colour [on colour] [bold]...'", where, line_number);
			rc = -1;
			break;
		}
		int element = -1;
		for (int i = 0; i < THEME_ELEMENT_COUNT; i++)
			if (!strcmp(key, element_names[i]))
				element = i;
		if (element < 0) {
			snprintf(err, err_size, "%s:%d: unknown element '%s'", where, line_number, key);
			rc = -1;
			break;
		}
		const char *bad = parse_spec(value, &theme->styles[element]);
		if (bad) {
			snprintf(err, err_size, "%s:%d: %s: bad colour or attribute '%s'", where, line_number, key, bad);
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

/* The directories searched, in order; returns how many were filled. */
static int theme_dirs(char dirs[3][4096])
{
	int n = 0;
	const char *env = getenv("LLMCHAT_DATADIR");
	if (config_dir("themes", dirs[n], sizeof dirs[n]) == 0)
		n++;
	snprintf(dirs[n++], sizeof dirs[0], "%s/themes", env && *env ? env : LLMCHAT_DATADIR);
	snprintf(dirs[n++], sizeof dirs[0], "%s/themes", LLMCHAT_SRCDIR);
	return n;
}

static bool valid_name(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

int theme_load(const char *name, struct theme *theme, char *err, size_t err_size)
{
	char dirs[3][4096], path[4200], *text;
	size_t length;
	theme_default(theme);
	if (!valid_name(name)) {
		snprintf(err, err_size, "theme '%s': not a theme name", name);
		return -1;
	}
	int n = theme_dirs(dirs);
	for (int i = 0; i < n; i++) {
		int written = snprintf(path, sizeof path, "%s/%s.theme", dirs[i], name);
		if (written < 0 || (size_t)written >= sizeof path) {
			snprintf(err, err_size, "theme name too long for a path (%zu bytes): %.64s...", strlen(name), name);
			return -1;
		}
		/* only absence moves on to the next folder; a file there that cannot be
		 * read (permission, a symlink loop, a FIFO, a directory) is an error */
		if (access(path, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR))
			continue;
		if (file_read_all(path, FILE_LIMIT_SMALL, &text, &length, NULL, err, err_size) != 0)
			return -1;
		int rc = theme_parse(text, path, theme, err, err_size);
		free(text);
		if (rc != 0) {
			theme_default(theme);
			return -1;
		}
		snprintf(theme->name, sizeof theme->name, "%s", name);
		return 0;
	}
	if (!strcmp(name, "default"))
		return 0;   /* built in, even when no file is installed */
	snprintf(err, err_size, "theme '%s' not found (see --list-themes)", name);
	return -1;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void theme_list(void (*fn)(void *user_data, const char *name), void *user_data)
{
	char dirs[3][4096];
	char *names[256];
	size_t count = 0;
	int n = theme_dirs(dirs);
	if ((names[count] = strdup("default")))
		count++;
	for (int i = 0; i < n; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;
		if (!d)
			continue;
		while ((de = readdir(d)) && count < 256) {
			size_t len = strlen(de->d_name);
			if (len <= 6 || strcmp(de->d_name + len - 6, ".theme"))
				continue;
			if ((names[count] = strndup(de->d_name, len - 6)))
				count++;
		}
		closedir(d);
	}
	qsort(names, count, sizeof names[0], compare_names);
	for (size_t i = 0; i < count; i++) {
		if (i == 0 || strcmp(names[i], names[i - 1]))
			fn(user_data, names[i]);
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
}
