/*
 * presets.c - built-in presets and preset files.
 */
#include "presets.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "file_read.h"
#include "setting_ranges.h"
#include "text_escape.h"

static const struct {
	const char *name;
	const char *system_prompt;
} builtin[] = {
	{"default", NULL},
	{"concise", "You are a concise assistant. Answer in as few words as the question allows, "
		    "without preamble or repetition."},
	{"coder", "You are an expert programmer. Give correct, idiomatic code in fenced code blocks "
		  "with the language named, and explain briefly what matters."},
	{"translator", "You are a translator. Translate the user's text into English, or into the "
		       "language they name; keep the meaning and the tone, and add nothing else."},
	{"pirate", "You are a friendly pirate. Answer helpfully, but always in the speech of a pirate."},
};
#define BUILTIN_COUNT (sizeof builtin / sizeof builtin[0])

static void preset_init(struct preset *p, const char *name)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	sampling_overrides_init(&p->sampling);
}

void preset_free(struct preset *preset)
{
	free(preset->system_prompt);
	preset->system_prompt = NULL;
}

/* Whether a line looks like a header line ("word = value"). */
static bool looks_like_setting(const char *line, size_t length)
{
	size_t i = 0;
	while (i < length && (line[i] == '_' || (line[i] >= 'a' && line[i] <= 'z') || (line[i] >= 'A' && line[i] <= 'Z')))
		i++;
	if (i == 0)
		return false;
	while (i < length && line[i] == ' ')
		i++;
	return i < length && line[i] == '=';
}

static bool is_separator(const char *line, size_t length)
{
	while (length > 0 && (line[length - 1] == ' ' || line[length - 1] == '\r'))
		length--;
	return length == 3 && memcmp(line, "---", 3) == 0;
}

static int parse_setting(char *line, struct preset *out, const char *where, int line_number,
			 char *err, size_t err_size)
{
	char *key, *value, why[256];
	if (!config_split_line(line, &key, &value)) {
		snprintf(err, err_size, "%s:%d: expected 'key = value' or ---", where, line_number);
		return -1;
	}
	int set = sampling_overrides_set(&out->sampling, key, value, why, sizeof why);
	if (set > 0) {
		snprintf(err, err_size, "%s:%d: unknown key '%s' (temp, top_p, top_k, min_p, repeat_penalty, max_tokens)",
			 where, line_number, key);
		return -1;
	}
	if (set < 0) {
		snprintf(err, err_size, "%s:%d: %s: %s", where, line_number, key, why);
		return -1;
	}
	return 0;
}

static int set_prompt(struct preset *out, const char *text, const char *where, char *err, size_t err_size)
{
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	free(out->system_prompt);
	out->system_prompt = NULL;
	if (n == 0)
		return 0;
	if (!(out->system_prompt = strndup(text, n))) {
		snprintf(err, err_size, "%s: out of memory", where);
		return -1;
	}
	return 0;
}

int preset_parse(const char *text, const char *where, struct preset *out, char *err, size_t err_size)
{
	const char *nl = strchr(text, '\n');
	size_t first_length = nl ? (size_t)(nl - text) : strlen(text);
	if (!is_separator(text, first_length) && !looks_like_setting(text, first_length))
		return set_prompt(out, text, where, err, err_size);   /* plain text */

	const char *line = text;
	for (int line_number = 1; *line; line_number++) {
		nl = strchr(line, '\n');
		size_t length = nl ? (size_t)(nl - line) : strlen(line);
		if (is_separator(line, length))
			return set_prompt(out, nl ? nl + 1 : "", where, err, err_size);
		char buf[1024];
		if (length >= sizeof buf) {
			snprintf(err, err_size, "%s:%d: line too long for a setting", where, line_number);
			return -1;
		}
		memcpy(buf, line, length);
		buf[length] = '\0';
		char *t = buf + strspn(buf, " \t");
		if (*t && *t != '#' && *t != '\r' && parse_setting(t, out, where, line_number, err, err_size) != 0)
			return -1;
		if (!nl)
			break;
		line = nl + 1;
	}
	snprintf(err, err_size, "%s: the settings are not followed by a line '---' and the system prompt", where);
	return -1;
}

static bool valid_name(const char *name)
{
	return *name && strlen(name) < 64 && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

/* Reads the user's preset file NAME.txt into *out.  Returns 0; 1 when there is no such
 * file (a built-in preset may have the name); -1 with a message when the file is there
 * but cannot be used: unreadable, a symlink loop, a FIFO, a directory, malformed. */
static int preset_read_file(const char *name, struct preset *out, char *err, size_t err_size)
{
	char path[4096], *text;
	size_t length;
	if (config_dir("presets", path, sizeof path - 80) != 0)
		return 1;
	size_t used = strlen(path);
	snprintf(path + used, sizeof path - used, "/%s.txt", name);
	/* only absence falls back to the built-in presets; any other failure is the file's */
	if (access(path, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR))
		return 1;
	if (file_read_all(path, FILE_LIMIT_SMALL, &text, &length, NULL, err, err_size) != 0)
		return -1;
	int rc = preset_parse(text, path, out, err, err_size);
	free(text);
	if (rc != 0)
		preset_free(out);
	return rc;
}

int presets_resolve(const char *name, struct preset *out, char *err, size_t err_size)
{
	preset_init(out, name ? name : "");
	if (!name || !valid_name(name)) {
		snprintf(err, err_size, "preset '%s': not a preset name", name ? name : "");
		return -1;
	}
	int rc = preset_read_file(name, out, err, err_size);
	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < BUILTIN_COUNT; i++) {
		if (strcmp(builtin[i].name, name))
			continue;
		if (builtin[i].system_prompt && !(out->system_prompt = strdup(builtin[i].system_prompt))) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		return 0;
	}
	/* the folder as it is, not as it usually is ($XDG_CONFIG_HOME may move it) */
	char dir[4096];
	if (config_dir("presets", dir, sizeof dir) != 0)
		snprintf(dir, sizeof dir, "$XDG_CONFIG_HOME/llmchat/presets");
	snprintf(err, err_size, "unknown preset '%s' (built in: default, concise, coder, translator, pirate; "
		 "user presets in %s/NAME.txt; see --list-presets)", name, dir);
	return -1;
}

/* What --list-presets and /preset show: the name and description escaped
 * (text_escape.h), since both come from files. */
struct listed {
	char name[64 * 4];
	char description[512];
};

static int compare_listed(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->name, ((const struct listed *)b)->name);
}

/* The first line of text, escaped, cut to about 60 columns with "...". */
static void describe(const char *text, char *out, size_t out_size)
{
	char shown[64];
	size_t n = strcspn(text, "\n");
	size_t written = text_escape(text, n, shown, n > 60 ? 58 : sizeof shown);
	snprintf(out, out_size, "%s%s", shown, written < n ? "..." : "");
}

void presets_list(void (*fn)(void *user_data, const char *name, const char *description), void *user_data)
{
	enum { MOST = 256 };
	struct listed *items = calloc(MOST, sizeof *items);
	size_t count = 0;
	char dir[4096], err[400];
	if (!items)
		return;
	for (size_t i = 0; i < BUILTIN_COUNT; i++) {
		snprintf(items[count].name, sizeof items[count].name, "%s", builtin[i].name);
		describe(builtin[i].system_prompt ? builtin[i].system_prompt : "(no system prompt)",
			 items[count].description, sizeof items[count].description);
		count++;
	}
	DIR *d = config_dir("presets", dir, sizeof dir) == 0 ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d)) && count < MOST) {
		size_t len = strlen(de->d_name);
		if (len <= 4 || len - 4 >= 64 || strcmp(de->d_name + len - 4, ".txt"))
			continue;
		char name[64], shown[sizeof items[0].name];
		snprintf(name, sizeof name, "%.*s", (int)(len - 4), de->d_name);
		text_escape(name, strlen(name), shown, sizeof shown);
		struct preset p;
		size_t slot = count;
		for (size_t i = 0; i < count; i++)
			if (!strcmp(items[i].name, shown))
				slot = i;    /* the user's file replaces the built-in one */
		snprintf(items[slot].name, sizeof items[slot].name, "%s", shown);
		if (presets_resolve(name, &p, err, sizeof err) == 0) {
			describe(p.system_prompt ? p.system_prompt : "(no system prompt)", items[slot].description,
				 sizeof items[slot].description);
		} else {
			/* the whole error: it names the file and the cause */
			char escaped[sizeof items[0].description - 16];
			text_escape(err, strlen(err), escaped, sizeof escaped);
			snprintf(items[slot].description, sizeof items[slot].description, "(error: %s)", escaped);
		}
		preset_free(&p);
		if (slot == count)
			count++;
	}
	if (d)
		closedir(d);
	qsort(items, count, sizeof items[0], compare_listed);
	for (size_t i = 0; i < count; i++)
		fn(user_data, items[i].name, items[i].description);
	free(items);
}

