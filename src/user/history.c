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

#include "array_grow.h"
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

static int save_conversation(const char *path, const struct chat_message *messages, size_t count, const char *model,
			     const char *preset, bool answering, char *err, size_t err_size)
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
	if (answering)
		failed |= json_object_set_new(root, "answering", json_true());
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

int history_save(const char *path, const struct chat_message *messages, size_t count, const char *model,
		 const char *preset, char *err, size_t err_size)
{
	return save_conversation(path, messages, count, model, preset, false, err, err_size);
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
		out->answering = json_is_true(json_object_get(root, "answering"));
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

static int history_dir(char *dir, size_t size, char *err, size_t err_size)
{
	if (state_dir("history", dir, size) != 0) {
		snprintf(err, err_size, "no history folder: set XDG_STATE_HOME or HOME");
		return -1;
	}
	return 0;
}

int history_record_save(struct history_record *record, const struct chat_message *messages, size_t count,
			const char *model, const char *preset, bool answering)
{
	record->failed = true;
	if (!record->path[0] &&
	    history_new_path(record->path, sizeof record->path, record->error, sizeof record->error) != 0) {
		record->path[0] = '\0';
		return -1;
	}
	if (save_conversation(record->path, messages, count, model, preset, answering, record->error,
			      sizeof record->error) != 0)
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
	if (history_dir(dir, sizeof dir, err, err_size) != 0)
		return -1;
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

/* Whether a is written after b: by the time to the nanosecond, then by name (names
 * start with the time the conversation began). */
static bool newer(const struct timespec *a, const char *a_name, const struct timespec *b, const char *b_name)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec > b->tv_sec;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec > b->tv_nsec;
	return strcmp(a_name, b_name) > 0;
}

/* ---- the conversations of the folder -------------------------------------------- */

/* The first user message's start, its blanks (newlines too) folded into single
 * spaces, cut after max_chars characters with "...". */
static void first_words(const struct conversation *c, char *out, size_t out_size)
{
	const char *text = NULL;
	out[0] = '\0';
	for (size_t i = 0; i < c->count && !text; i++)
		if (c->messages[i].role == CHAT_ROLE_USER)
			text = c->messages[i].content;
	if (!text)
		return;
	const size_t max_chars = 40;
	size_t len = 0, chars = 0, n = strlen(text);
	bool blank = false;
	for (size_t i = 0; i < n && len + 8 < out_size;) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(n - i), &cp);
		if (k <= 0) {   /* not UTF-8: left out */
			i++;
			continue;
		}
		bool space = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r';
		bool control = utf8proc_category(cp) == UTF8PROC_CATEGORY_CC;
		if (space || control) {
			blank = len > 0;
		} else {
			if (chars + blank >= max_chars) {
				memcpy(out + len, "...", 3);
				len += 3;
				break;
			}
			if (blank) {
				out[len++] = ' ';
				chars++;
				blank = false;
			}
			memcpy(out + len, text + i, (size_t)k);
			len += (size_t)k;
			chars++;
		}
		i += (size_t)k;
	}
	out[len] = '\0';
}

static int by_newest(const void *a, const void *b)
{
	const struct history_entry *x = a, *y = b;
	return newer(&x->saved, x->id, &y->saved, y->id) ? -1 : newer(&y->saved, y->id, &x->saved, x->id) ? 1 : 0;
}

/* Reads the conversation dir/name into entry; -1 when it is none. */
static int entry_read(const char *dir, const char *name, struct history_entry *entry)
{
	struct conversation c;
	struct stat st;
	char why[512];
	memset(entry, 0, sizeof *entry);
	snprintf(entry->path, sizeof entry->path, "%s/%s", dir, name);
	if (stat(entry->path, &st) != 0 || !S_ISREG(st.st_mode) || history_load(entry->path, &c, why, sizeof why) != 0)
		return -1;
	snprintf(entry->id, sizeof entry->id, "%.*s", (int)(strlen(name) - 5), name);
	entry->saved = st.st_mtim;
	for (size_t i = 0; i < c.count; i++)
		entry->messages += c.messages[i].role != CHAT_ROLE_SYSTEM;
	first_words(&c, entry->first_words, sizeof entry->first_words);
	conversation_free(&c);
	return 0;
}

int history_list(struct history_list *out, char *err, size_t err_size)
{
	char dir[4000];
	size_t capacity = 0;
	memset(out, 0, sizeof *out);
	if (history_dir(dir, sizeof dir, err, err_size) != 0)
		return -1;
	DIR *d = opendir(dir);
	if (!d)
		return 0;   /* no folder yet: nothing kept yet */
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len <= 5 || len >= sizeof out->entries[0].id + 5 || strcmp(de->d_name + len - 5, ".json"))
			continue;   /* the temporary files of a write in progress too */
		struct history_entry *entries = array_grow(out->entries, &capacity, out->count, sizeof *entries, 16);
		if (!entries) {
			closedir(d);
			history_list_free(out);
			snprintf(err, err_size, "%s: out of memory", dir);
			return -1;
		}
		out->entries = entries;
		if (entry_read(dir, de->d_name, &out->entries[out->count]) == 0)
			out->count++;
		else
			out->skipped++;
	}
	closedir(d);
	if (out->count)
		qsort(out->entries, out->count, sizeof *out->entries, by_newest);
	return 0;
}

void history_list_free(struct history_list *list)
{
	free(list->entries);
	memset(list, 0, sizeof *list);
}

/* Whether path names a file (or something) that exists. */
static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int history_find(const char *which, char *out, size_t out_size, char *err, size_t err_size)
{
	char dir[4000];
	if (!which[0]) {
		snprintf(err, err_size, "an empty conversation ID: give the ID /history shows, or a file");
		return -1;
	}
	if (strchr(which, '/')) {
		if (!exists(which)) {
			snprintf(err, err_size, "%s: %s", which, strerror(errno));
			return -1;
		}
		snprintf(out, out_size, "%s", which);
		return 0;
	}
	if (history_dir(dir, sizeof dir, err, err_size) != 0)
		return -1;
	size_t len = strlen(which);
	bool has_json = len > 5 && !strcmp(which + len - 5, ".json");
	/* an ID never starts with a dot: "..", ".json" are no conversation of the folder */
	if (which[0] != '.') {
		snprintf(out, out_size, "%s/%s%s", dir, which, has_json ? "" : ".json");
		if (exists(out))
			return 0;
	}
	if (exists(which)) {   /* a file of the current folder */
		snprintf(out, out_size, "%s", which);
		return 0;
	}
	snprintf(err, err_size, "no conversation '%s': no %s/%s%s, nor a file of that name (/history lists them)", which,
		 dir, which, has_json ? "" : ".json");
	return -1;
}

bool history_in_folder(const char *path)
{
	char dir[4000], *real_dir, *real_path;
	if (state_dir("history", dir, sizeof dir) != 0)
		return false;
	real_dir = realpath(dir, NULL);
	real_path = realpath(path, NULL);
	bool inside = false;
	if (real_dir && real_path) {
		size_t n = strlen(real_dir);
		/* directly in it: a file of a sub-folder is none of its conversations */
		inside = !strncmp(real_path, real_dir, n) && real_path[n] == '/' && !strchr(real_path + n + 1, '/');
	}
	free(real_dir);
	free(real_path);
	return inside;
}

int history_latest_path(char *out, size_t out_size, char *err, size_t err_size)
{
	struct history_list list;
	char dir[4000];
	if (history_dir(dir, sizeof dir, err, err_size) != 0 || history_list(&list, err, err_size) != 0)
		return -1;
	int rc = list.count ? 0 : -1;
	if (list.count)
		snprintf(out, out_size, "%s", list.entries[0].path);
	else
		snprintf(err, err_size, "%s: no saved conversation to resume", dir);
	history_list_free(&list);
	return rc;
}
