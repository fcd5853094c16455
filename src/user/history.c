/*
 * history.c - conversation files through jansson, and the atomic write.
 */
#include "history.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "config_file.h"
#include "file_read.h"

static const char *const role_names[] = {
	[CHAT_ROLE_SYSTEM] = "system", [CHAT_ROLE_USER] = "user", [CHAT_ROLE_ASSISTANT] = "assistant",
};

void conversation_free(struct conversation *c)
{
	for (size_t i = 0; i < c->count; i++)
		free((char *)c->messages[i].content);
	free(c->messages);
	free(c->model);
	free(c->preset);
	memset(c, 0, sizeof *c);
}

int write_file_atomic(const char *path, const char *data, size_t length, char *err, size_t err_size)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 16), *dir;
	if (!tmp) {
		snprintf(err, err_size, "%s: out of memory", path);
		return -1;
	}
	/* the temporary file lives in the target's folder: rename() is atomic only there */
	snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		/* the temporary name is ours: the user knows the file they gave */
		snprintf(err, err_size, "%s: cannot create a file in its folder: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	size_t done = 0;
	while (done < length) {
		ssize_t w = write(fd, data + done, length - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		done += (size_t)w;
	}
	if (fsync(fd) != 0 || fchmod(fd, 0600) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	/* and the folder, so that the rename itself survives a crash */
	if ((dir = strdup(path))) {
		char *slash = strrchr(dir, '/');
		if (slash)
			slash == dir ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
		int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	free(tmp);
	return 0;
fail:
	snprintf(err, err_size, "%s: %s", path, strerror(errno ? errno : EIO));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* A JSON string of text; bytes that are not UTF-8 become U+FFFD (JSON must be UTF-8). */
static json_t *json_string_utf8(const char *text)
{
	size_t n = strlen(text);
	json_t *s = json_stringn(text, n);
	if (s)
		return s;
	char *clean = malloc(3 * n + 1), *p = clean;
	if (!clean)
		return NULL;
	for (size_t i = 0; i < n;) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(n - i), &cp);
		if (k > 0) {
			memcpy(p, text + i, (size_t)k);
			p += k;
			i += (size_t)k;
		} else {
			memcpy(p, "\xEF\xBF\xBD", 3);
			p += 3;
			i++;
		}
	}
	s = json_stringn(clean, (size_t)(p - clean));
	free(clean);
	return s;
}

int history_save(const char *path, const struct chat_message *messages, size_t count, const char *model,
		 const char *preset, char *err, size_t err_size)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);

	json_t *root = json_object(), *list = json_array();
	int failed = !root || !list;
	failed |= json_object_set_new(root, "format", json_string("llmchat-conversation"));
	failed |= json_object_set_new(root, "version", json_integer(1));
	if (model)
		failed |= json_object_set_new(root, "model", json_string(model));
	if (preset)
		failed |= json_object_set_new(root, "preset", json_string(preset));
	failed |= json_object_set_new(root, "saved", json_string(stamp));
	for (size_t i = 0; i < count && !failed; i++) {
		json_t *m = json_object();
		json_t *content = json_string_utf8(messages[i].content);
		failed |= !m || !content;
		failed |= json_object_set_new(m, "role", json_string(role_names[messages[i].role]));
		failed |= json_object_set_new(m, "content", content);
		failed |= json_array_append_new(list, m);
	}
	failed |= json_object_set(root, "messages", list);
	json_decref(list);
	char *text = failed ? NULL : json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text) {
		snprintf(err, err_size, "%s: out of memory", path);
		return -1;
	}
	size_t length = strlen(text);
	text[length] = '\0';
	char *with_newline = realloc(text, length + 2);
	if (with_newline) {
		text = with_newline;
		text[length++] = '\n';
		text[length] = '\0';
	}
	int rc = write_file_atomic(path, text, length, err, err_size);
	free(text);
	return rc;
}

/* A string's text when it holds no NUL (a C string would cut it there), else NULL
 * with *nul_at set to where the first one is. */
static const char *string_whole(json_t *string, size_t *nul_at)
{
	const char *text = json_string_value(string);
	size_t length = strlen(text);
	*nul_at = length;
	return length == json_string_length(string) ? text : NULL;
}

static int parse_messages(json_t *list, const char *path, struct conversation *out, char *err, size_t err_size)
{
	size_t n = json_array_size(list);
	out->messages = calloc(n ? n : 1, sizeof *out->messages);
	if (!out->messages) {
		snprintf(err, err_size, "%s: out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(list, i);
		json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
		int r = -1;
		for (int k = 0; k < 3 && json_is_string(role); k++)
			if (!strcmp(json_string_value(role), role_names[k]))
				r = k;
		if (r < 0 || !json_is_string(content)) {
			snprintf(err, err_size, "%s: messages[%zu]: needs a role (system, user or assistant) and a string content",
				 path, i);
			return -1;
		}
		if (r == CHAT_ROLE_SYSTEM && i != 0) {
			snprintf(err, err_size, "%s: messages[%zu]: a system message may only come first", path, i);
			return -1;
		}
		size_t nul_at;
		const char *text = string_whole(content, &nul_at);
		if (!text) {
			snprintf(err, err_size, "%s: messages[%zu]: the content holds \\u0000 (at character %zu), "
				 "which no message can hold", path, i, nul_at);
			return -1;
		}
		char *copy = strdup(text);
		if (!copy) {
			snprintf(err, err_size, "%s: out of memory", path);
			return -1;
		}
		out->messages[i] = (struct chat_message){(enum chat_role)r, copy};
		out->count = i + 1;
	}
	return 0;
}

int history_load(const char *path, struct conversation *out, char *err, size_t err_size)
{
	json_error_t jerr;
	char *text;
	size_t length, nul_at;
	memset(out, 0, sizeof *out);
	if (file_read_all(path, FILE_LIMIT_LARGE, &text, &length, NULL, err, err_size) != 0)
		return -1;
	/* \u0000 is parsed, so that it is refused with the message it is in */
	json_t *root = json_loadb(text, length, JSON_ALLOW_NUL, &jerr), *list = root;
	free(text);
	if (!root) {
		snprintf(err, err_size, "%s: line %d, column %d: invalid JSON: %s", path, jerr.line, jerr.column,
			 jerr.text);
		return -1;
	}
	if (json_is_object(root)) {
		list = json_object_get(root, "messages");
		json_t *model = json_object_get(root, "model"), *preset = json_object_get(root, "preset");
		const char *name;
		/* names are shown, not sent: one cut at a NUL is left out */
		if (json_is_string(model) && (name = string_whole(model, &nul_at)))
			out->model = strdup(name);
		if (json_is_string(preset) && (name = string_whole(preset, &nul_at)))
			out->preset = strdup(name);
	}
	int rc = -1;
	if (!json_is_array(list))
		snprintf(err, err_size, "%s: expected a \"messages\" array of {\"role\", \"content\"}", path);
	else
		rc = parse_messages(list, path, out, err, err_size);
	json_decref(root);
	if (rc != 0)
		conversation_free(out);
	return rc;
}

int history_record_save(struct history_record *record, const struct chat_message *messages, size_t count,
			const char *model, const char *preset)
{
	record->failed = true;
	if (!record->path[0] &&
	    history_new_path(record->path, sizeof record->path, record->error, sizeof record->error) != 0) {
		record->path[0] = '\0';
		return -1;
	}
	if (history_save(record->path, messages, count, model, preset, record->error, sizeof record->error) != 0)
		return -1;
	record->failed = false;
	record->saved = true;
	return 0;
}

void history_record_exit_note(const struct history_record *record, char *out, size_t out_size)
{
	if (!record->failed && !record->saved && out_size > 0)
		out[0] = '\0';   /* nothing said yet: nothing to keep */
	else if (!record->failed)
		snprintf(out, out_size, "conversation kept in %s", record->path);
	else if (record->saved)
		snprintf(out, out_size, "the conversation's last save failed (%s); %s holds it as of the save before",
			 record->error, record->path);
	else
		snprintf(out, out_size, "the conversation could not be saved (%s)", record->error);
}

int history_new_path(char *out, size_t out_size, char *err, size_t err_size)
{
	char dir[4000], stamp[32];
	if (state_dir("history", dir, sizeof dir) != 0) {
		snprintf(err, err_size, "no history folder: set XDG_STATE_HOME or HOME");
		return -1;
	}
	if (make_dirs(dir, err, err_size) != 0)
		return -1;
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	/* two conversations begun within one second (/clear) must not share a file */
	snprintf(out, out_size, "%s/%s-%ld.json", dir, stamp, (long)getpid());
	for (int n = 2; access(out, F_OK) == 0 && n < 1000; n++)
		snprintf(out, out_size, "%s/%s-%ld-%d.json", dir, stamp, (long)getpid(), n);
	return 0;
}

int history_latest_path(char *out, size_t out_size, char *err, size_t err_size)
{
	char dir[4000], path[4400];
	struct timespec best = {0, 0};
	char best_name[256] = "";
	if (state_dir("history", dir, sizeof dir) != 0) {
		snprintf(err, err_size, "no history folder: set XDG_STATE_HOME or HOME");
		return -1;
	}
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, err_size, "%s: no saved conversation to resume", dir);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;
		if (len <= 5 || len >= sizeof best_name || strcmp(de->d_name + len - 5, ".json"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		/* the newest written (to the nanosecond), then by name (names start with the time) */
		if (!best_name[0] || st.st_mtim.tv_sec > best.tv_sec ||
		    (st.st_mtim.tv_sec == best.tv_sec && (st.st_mtim.tv_nsec > best.tv_nsec ||
		     (st.st_mtim.tv_nsec == best.tv_nsec && strcmp(de->d_name, best_name) > 0)))) {
			best = st.st_mtim;
			snprintf(best_name, sizeof best_name, "%s", de->d_name);
		}
	}
	closedir(d);
	if (!best_name[0]) {
		snprintf(err, err_size, "%s: no saved conversation to resume", dir);
		return -1;
	}
	snprintf(out, out_size, "%s/%s", dir, best_name);
	return 0;
}
