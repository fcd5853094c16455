/*
 * prompt_history.c - the prompts file: JSON lines through jansson; see
 * prompt_history.h.
 */
#include "prompt_history.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array_grow.h"
#include "config_file.h"
#include "file_read.h"
#include "history.h"

int prompt_history_path(char *out, size_t out_size)
{
	return state_dir("prompts.jsonl", out, out_size);
}

void prompt_list_free(struct prompt_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/* The prompt a line holds (malloc'd), or NULL when it is not a JSON string. */
static char *parse_line(const char *line, size_t length)
{
	json_t *value = json_loadb(line, length, JSON_DECODE_ANY, NULL);
	char *text = NULL;
	/* a string holding U+0000 would be cut short as a C string: not a prompt */
	if (json_is_string(value) && strlen(json_string_value(value)) == json_string_length(value))
		text = strdup(json_string_value(value));
	json_decref(value);
	return text;
}

/* The prompt as one line, newline included (malloc'd), or NULL. */
static char *encode_line(const char *prompt)
{
	json_t *value = json_string(prompt);   /* NULL for text that is not UTF-8 */
	char *text = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	json_decref(value);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	memcpy(line + n, "\n", 2);
	return line;
}

/* Rewrites path with the prompts of list, atomically. */
static int rewrite(const char *path, const struct prompt_list *list, char *err, size_t err_size)
{
	size_t length = 0, capacity = 0;
	char *data = NULL;
	int rc = -1;
	for (size_t i = 0; i < list->count; i++) {
		char *line = encode_line(list->items[i]);
		size_t n = line ? strlen(line) : 0;
		char *grown = line ? array_reserve(data, &capacity, length + n + 1, 1, 4096) : NULL;
		if (!grown) {
			free(line);
			snprintf(err, err_size, "%s: out of memory", path);
			goto done;
		}
		data = grown;
		memcpy(data + length, line, n + 1);
		length += n;
		free(line);
	}
	rc = write_file_atomic(path, data ? data : "", length, err, err_size);
done:
	free(data);
	return rc;
}

int prompt_history_load(const char *path, struct prompt_list *out, size_t *skipped, char *err, size_t err_size)
{
	char *data;
	size_t length, lines = 0;
	bool missing;
	out->items = NULL;
	out->count = 0;
	*skipped = 0;
	if (file_read_all(path, FILE_LIMIT_LARGE, &data, &length, &missing, err, err_size) != 0)
		return missing ? 0 : -1;
	/* a ring of the last PROMPT_HISTORY_KEPT, unrolled at the end */
	char **ring = calloc(PROMPT_HISTORY_KEPT, sizeof *ring);
	if (!ring) {
		free(data);
		snprintf(err, err_size, "%s: out of memory", path);
		return -1;
	}
	size_t kept = 0;
	for (char *line = data; line < data + length;) {
		char *end = memchr(line, '\n', (size_t)(data + length - line));
		size_t n = end ? (size_t)(end - line) : (size_t)(data + length - line);
		if (n > 0) {
			char *text = parse_line(line, n);
			lines++;
			if (!text) {
				(*skipped)++;
			} else {
				free(ring[kept % PROMPT_HISTORY_KEPT]);
				ring[kept++ % PROMPT_HISTORY_KEPT] = text;
			}
		}
		line += n + 1;
	}
	free(data);
	size_t count = kept < PROMPT_HISTORY_KEPT ? kept : PROMPT_HISTORY_KEPT;
	out->items = malloc((count ? count : 1) * sizeof *out->items);
	if (!out->items) {
		for (size_t i = 0; i < PROMPT_HISTORY_KEPT; i++)
			free(ring[i]);
		free(ring);
		snprintf(err, err_size, "%s: out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		out->items[i] = ring[(kept - count + i) % PROMPT_HISTORY_KEPT];
	out->count = count;
	free(ring);
	if (lines > 2 * PROMPT_HISTORY_KEPT) {
		char problem[512];
		/* the prompts are loaded whatever comes of the compaction: the next load tries again */
		rewrite(path, out, problem, sizeof problem);
	}
	return 0;
}

int prompt_history_append(const char *path, const char *prompt, char *err, size_t err_size)
{
	size_t n = strlen(prompt);
	if (n == 0 || n > PROMPT_HISTORY_MAX_BYTES)
		return 0;
	char *line = encode_line(prompt);
	if (!line) {
		snprintf(err, err_size, "%s: cannot encode the prompt (out of memory, or not UTF-8)", path);
		return -1;
	}
	char folder[4096];
	snprintf(folder, sizeof folder, "%s", path);
	char *slash = strrchr(folder, '/');
	if (slash && slash != folder) {
		*slash = '\0';
		if (make_dirs(folder, err, err_size) != 0) {
			free(line);
			return -1;
		}
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = 0;
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		rc = -1;
	} else {
		/* one write for the whole line; a short one is finished, not retried from the start */
		size_t length = strlen(line), done = 0;
		while (done < length) {
			ssize_t w = write(fd, line + done, length - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = -1;
				break;
			}
			done += (size_t)w;
		}
	}
	if (rc != 0)
		snprintf(err, err_size, "%s: %s", path, strerror(errno ? errno : EIO));
	if (fd >= 0 && close(fd) != 0 && rc == 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	return rc;
}
