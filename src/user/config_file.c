/*
 * config_file.c - the user's config file and llmchat's directories.
 */
#include "config_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"
#include "setting_ranges.h"

static int xdg_dir(const char *variable, const char *fallback, const char *sub, char *out, size_t out_size)
{
	const char *base = getenv(variable), *home = getenv("HOME");
	int n;
	if (base && base[0] == '/')
		n = snprintf(out, out_size, "%s/llmchat%s%s", base, sub ? "/" : "", sub ? sub : "");
	else if (home && *home)
		n = snprintf(out, out_size, "%s/%s/llmchat%s%s", home, fallback, sub ? "/" : "", sub ? sub : "");
	else
		return -1;
	return n > 0 && (size_t)n < out_size ? 0 : -1;
}

int config_dir(const char *sub, char *out, size_t out_size)
{
	return xdg_dir("XDG_CONFIG_HOME", ".config", sub, out, out_size);
}

int state_dir(const char *sub, char *out, size_t out_size)
{
	return xdg_dir("XDG_STATE_HOME", ".local/state", sub, out, out_size);
}

int make_dirs(const char *path, char *err, size_t err_size)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf) {
		snprintf(err, err_size, "%s: path too long", path);
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
				snprintf(err, err_size, "%s: %s", buf, strerror(errno));
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

bool config_split_line(char *line, char **key, char **value)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return false;
	*eq = '\0';
	*key = trim(line);
	*value = trim(eq + 1);
	return **key != '\0';
}

void config_file_init(struct config_file *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	sampling_overrides_init(&cfg->sampling);
	cfg->mouse = -1;
}

void config_file_free(struct config_file *cfg)
{
	free(cfg->model);
	free(cfg->preset);
	free(cfg->theme);
	config_file_init(cfg);
}

/* Sets the numeric key ("top_p", "ctx") from value, in the range its flag has.
 * Returns 0; -1 with the reason in why for a bad value; 1 when key names no number. */
static int set_number(struct config_file *cfg, const char *key, const char *value, char *why, size_t why_size)
{
	int set = sampling_overrides_set(&cfg->sampling, key, value, why, why_size);
	if (set <= 0 || strcmp(key, "ctx") != 0)
		return set;
	double v;
	if (setting_range_parse(setting_range_find(key), value, &v, why, why_size) != 0)
		return -1;
	cfg->context_length = (int)v;
	return 0;
}

static int set_string(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -1;
}

static void add_warning(struct config_file *cfg, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void add_warning(struct config_file *cfg, const char *format, ...)
{
	if (cfg->warning_count < CONFIG_WARNINGS_KEPT) {
		va_list args;
		va_start(args, format);
		vsnprintf(cfg->warnings[cfg->warning_count], sizeof cfg->warnings[0], format, args);
		va_end(args);
	}
	cfg->warning_count++;
}

/* One "key = value" line: 0 when set or left out with a warning, -1 when out of memory. */
static int parse_line(struct config_file *cfg, char *line, const char *where, int line_number)
{
	char *key, *value, why[256];
	if (!config_split_line(line, &key, &value)) {
		add_warning(cfg, "%s:%d: expected 'key = value'", where, line_number);
		return 0;
	}
	if (!strcmp(key, "model") || !strcmp(key, "preset") || !strcmp(key, "theme")) {
		char **field = key[0] == 'm' ? &cfg->model : key[0] == 'p' ? &cfg->preset : &cfg->theme;
		if (!*value) {
			add_warning(cfg, "%s:%d: %s: empty value", where, line_number, key);
			return 0;
		}
		return set_string(field, value);
	}
	if (!strcmp(key, "mouse")) {
		if (!strcmp(value, "on") || !strcmp(value, "off"))
			cfg->mouse = !strcmp(value, "on");
		else
			add_warning(cfg, "%s:%d: mouse: expected on or off, got '%s'", where, line_number, value);
		return 0;
	}
	int set = set_number(cfg, key, value, why, sizeof why);
	if (set < 0)
		add_warning(cfg, "%s:%d: %s: %s", where, line_number, key, why);
	else if (set > 0)
		add_warning(cfg, "%s:%d: unknown key '%s' (model, preset, theme, mouse, temp, top_p, top_k, min_p, repeat_penalty, max_tokens, ctx)",
			    where, line_number, key);
	return 0;
}

int config_file_parse(const char *text, const char *where, struct config_file *cfg, char *err, size_t err_size)
{
	char *copy = strdup(text), *line, *next;
	int line_number = 0;
	if (!copy) {
		snprintf(err, err_size, "%s: out of memory", where);
		return -1;
	}
	/* strtok_r would skip empty lines and lose the count: walk by hand */
	for (line = copy; line; line = next) {
		char *nl = strchr(line, '\n');
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		line_number++;
		char *t = trim(line);
		if (*t == '\0' || *t == '#')
			continue;
		if (parse_line(cfg, t, where, line_number) != 0) {
			snprintf(err, err_size, "%s: out of memory", where);
			free(copy);
			return -1;
		}
	}
	free(copy);
	return 0;
}

int config_file_load(struct config_file *cfg, char *err, size_t err_size)
{
	char path[4096], *text;
	size_t length;
	if (config_dir("config", path, sizeof path) != 0)
		return 0;
	/* absent, or below something that is no folder (HOME=/dev/null): no config file */
	if (access(path, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (file_read_all(path, FILE_LIMIT_SMALL, &text, &length, NULL, err, err_size) != 0)
		return -1;
	int rc = config_file_parse(text, path, cfg, err, err_size);
	free(text);
	return rc;
}

