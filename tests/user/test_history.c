/*
 * test_history.c - conversation files: a save/load round trip keeps every
 * message byte for byte, writes are atomic, broken files give clear errors, a
 * message holding \u0000 is refused rather than cut, and what the interface says
 * at its end about the conversation's file follows how its saves went.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"
#include "history.h"
#include "tap.h"

static int files_in(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Writes text into dir/llmchat/history/name. */
static void put(const char *dir, const char *name, const char *text)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/llmchat/history/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Sets path's modification time to seconds after the epoch. */
static void age(const char *path, long seconds)
{
	struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
	utimensat(AT_FDCWD, path, times, 0);
}

/* history_list, history_find and history_in_folder over the history folder under
 * dir, which holds a (2 messages) and b (a name only) so far. */
static void list_tests(const char *dir, const char *a, const char *b, const struct chat_message *messages)
{
	char err[512], found[4096], path[1200];
	struct history_list list;
	const char *folder_fmt = "%s/llmchat/history/%s";

	/* a: the oldest; c: the newest, its first user message long and on several lines */
	age(a, 1000);
	const struct chat_message long_first[] = {
		{CHAT_ROLE_SYSTEM, "sys"},
		{CHAT_ROLE_USER, "  Tell me\n\nabout   the sea, and the ships on it, and the fish under it please"},
		{CHAT_ROLE_ASSISTANT, "Water."},
	};
	snprintf(path, sizeof path, folder_fmt, dir, "20261205-074709-1234.json");
	history_save(path, long_first, 3, NULL, NULL, err, sizeof err);
	age(path, 3000);
	/* what is no conversation: not JSON, a folder, a JSON without messages, a stray temporary file */
	put(dir, "notes.json", "this is not JSON");
	put(dir, "other.json", "{\"hello\": 1}");
	put(dir, "x.json.tmp.abc123", "[]");
	put(dir, "readme.txt", "hi");
	snprintf(path, sizeof path, folder_fmt, dir, "folder.json");
	mkdir(path, 0700);
	/* one that ends on a user message (saved before its answer came) */
	snprintf(path, sizeof path, folder_fmt, dir, "20261205-080000-99.json");
	history_save(path, messages + 1, 1, NULL, NULL, err, sizeof err);
	age(path, 2000);

	tap_ok(history_list(&list, err, sizeof err) == 0, "the folder is listed (%s)", err);
	tap_ok(list.count == 3 && list.skipped == 3, "files that are no conversation are skipped, not fatal (%zu listed, %zu skipped)",
	       list.count, list.skipped);
	tap_ok(list.count == 3 && !strcmp(list.entries[0].id, "20261205-074709-1234") &&
	       !strcmp(list.entries[1].id, "20261205-080000-99") && !strcmp(list.entries[2].path, a),
	       "newest (last written) first");
	tap_ok(list.count == 3 && list.entries[0].messages == 2 && list.entries[1].messages == 1 && list.entries[2].messages == 1,
	       "message counts leave the system prompt out");
	tap_ok(list.count == 3 && !strcmp(list.entries[0].first_words, "Tell me about the sea, and the ships on..."),
	       "first words: blanks folded, cut at 40 characters (%s)", list.count ? list.entries[0].first_words : "");
	tap_ok(list.count == 3 && list.entries[0].saved.tv_sec == 3000, "the time of the last write comes with it");
	char latest[4096];
	snprintf(path, sizeof path, folder_fmt, dir, "notes.json");
	age(path, 9000);
	tap_ok(history_latest_path(latest, sizeof latest, err, sizeof err) == 0 && !strcmp(latest, list.entries[0].path),
	       "the latest is the newest conversation; a newer file that is none is passed over (%s)", latest);
	history_list_free(&list);

	/* IDs and files */
	snprintf(path, sizeof path, folder_fmt, dir, "20261205-074709-1234.json");
	tap_ok(history_find("20261205-074709-1234", found, sizeof found, err, sizeof err) == 0 && !strcmp(found, path),
	       "an ID names its file in the history folder (%s)", err);
	tap_ok(history_find("20261205-074709-1234.json", found, sizeof found, err, sizeof err) == 0 && !strcmp(found, path),
	       "an ID may end in .json");
	tap_ok(history_find(path, found, sizeof found, err, sizeof err) == 0 && !strcmp(found, path), "a path is a path");
	tap_ok(history_find("20990101-000000-1", found, sizeof found, err, sizeof err) != 0 &&
	       strstr(err, "no conversation '20990101-000000-1'") && !strchr(err, '\n'),
	       "an unknown ID is a one-line error naming it (%s)", err);
	tap_ok(history_find("/no/such/file.json", found, sizeof found, err, sizeof err) != 0 && strstr(err, "/no/such/file.json"),
	       "a missing file is an error naming it (%s)", err);
	tap_ok(history_find("", found, sizeof found, err, sizeof err) != 0, "an empty ID is refused");
	tap_ok(history_find("..", found, sizeof found, err, sizeof err) == 0 && !strcmp(found, ".."),
	       "'..' is no ID of the folder, only the file it names");
	tap_ok(history_in_folder(path), "a file of the folder is in it");
	snprintf(path, sizeof path, "%s/kept.json", dir);
	tap_ok(!history_in_folder(path), "a file elsewhere is not (%s)", path);
	snprintf(path, sizeof path, "%s/llmchat/history/../history/20261205-074709-1234.json", dir);
	tap_ok(history_in_folder(path), "a path through .. to the folder is in it");

	/* no folder yet: nothing listed, no error */
	char empty[1100];
	snprintf(empty, sizeof empty, "%s/empty-state", dir);
	setenv("XDG_STATE_HOME", empty, 1);
	tap_ok(history_list(&list, err, sizeof err) == 0 && list.count == 0, "no history folder yet: an empty list");
	history_list_free(&list);
	setenv("XDG_STATE_HOME", dir, 1);
}

int main(void)
{
	char dir[] = "/tmp/llmchat-history-XXXXXX", path[1024], err[512], *text, cmd_buffer[2400];
	size_t length;
	struct conversation c;
	const struct chat_message messages[] = {
		{CHAT_ROLE_SYSTEM, "Be brief."},
		{CHAT_ROLE_USER, "Line one\nline \"two\"\twith a tab, \\ and 日本語 😀"},
		{CHAT_ROLE_ASSISTANT, "```c\nint main(void) { return 0; }\n```"},
		{CHAT_ROLE_USER, ""},
	};
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/conv.json", dir);

	tap_ok(history_save(path, messages, 4, "tiny-bf16", "coder", err, sizeof err) == 0, "save (%s)", err);
	tap_ok(history_load(path, &c, err, sizeof err) == 0, "load (%s)", err);
	int same = c.count == 4;
	for (size_t i = 0; same && i < 4; i++)
		same = c.messages[i].role == messages[i].role && !strcmp(c.messages[i].content, messages[i].content);
	tap_ok(same, "every role and content comes back byte for byte");
	tap_ok(c.model && !strcmp(c.model, "tiny-bf16") && c.preset && !strcmp(c.preset, "coder"), "model and preset come back");
	conversation_free(&c);
	tap_ok(files_in(dir) == 1, "no temporary file is left behind");
	struct stat st;
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the file is private (0600)");

	/* overwriting replaces the whole file */
	tap_ok(history_save(path, messages, 1, NULL, NULL, err, sizeof err) == 0 && history_load(path, &c, err, sizeof err) == 0 &&
	       c.count == 1 && !c.model, "a second save replaces the first");
	conversation_free(&c);

	const struct chat_message bad_utf8[] = {{CHAT_ROLE_USER, "ok \xFF\xFE bytes"}};
	tap_ok(history_save(path, bad_utf8, 1, NULL, NULL, err, sizeof err) == 0 && history_load(path, &c, err, sizeof err) == 0 &&
	       !strcmp(c.messages[0].content, "ok \xEF\xBF\xBD\xEF\xBF\xBD bytes"), "bytes that are not UTF-8 are saved as U+FFFD");
	conversation_free(&c);

	/* atomic write: a failure leaves the old file whole */
	tap_ok(write_file_atomic(path, "old", 3, err, sizeof err) == 0, "atomic write");
	char missing[1100];
	snprintf(missing, sizeof missing, "%s/no/such/dir/f.json", dir);
	tap_ok(write_file_atomic(missing, "x", 1, err, sizeof err) != 0 && strstr(err, "no/such"), "a write that cannot happen names the path");
	tap_ok(file_read_all(path, FILE_LIMIT_SMALL, &text, &length, NULL, err, sizeof err) == 0 && !strcmp(text, "old"),
	       "the old content is intact");
	free(text);

	/* errors */
	snprintf(path, sizeof path, "%s/broken.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"messages\": [\n  {\"role\": \"user\", \"content\": \"hi\"},\n  oops\n]}", f);
	fclose(f);
	tap_ok(history_load(path, &c, err, sizeof err) != 0 && strstr(err, "broken.json: line 3, column"),
	       "a JSON error names file, line and column (%s)", err);
	f = fopen(path, "w");
	fputs("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"robot\", \"content\": \"x\"}]}", f);
	fclose(f);
	tap_ok(history_load(path, &c, err, sizeof err) != 0 && strstr(err, "messages[1]"), "a bad role names the message (%s)", err);
	f = fopen(path, "w");
	fputs("[{\"role\": \"user\", \"content\": \"bare\"}]", f);
	fclose(f);
	tap_ok(history_load(path, &c, err, sizeof err) == 0 && c.count == 1 && !strcmp(c.messages[0].content, "bare"),
	       "a bare array of messages is read too");
	conversation_free(&c);

	/* \u0000 in a message: a C string would cut it there; refused, never truncated */
	f = fopen(path, "w");
	fputs("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"},\n"
	      " {\"role\": \"assistant\", \"content\": \"before\\u0000after\"}]}", f);
	fclose(f);
	tap_ok(history_load(path, &c, err, sizeof err) != 0 && strstr(err, "broken.json: messages[1]") &&
	       strstr(err, "\\u0000 (at character 6)") && c.count == 0 && !c.messages,
	       "a message holding \\u0000 is refused, naming the message and where (%s)", err);
	f = fopen(path, "w");
	fputs("{\"model\": \"tiny\\u0000-bf16\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", f);
	fclose(f);
	tap_ok(history_load(path, &c, err, sizeof err) == 0 && !c.model && c.count == 1,
	       "a model name holding \\u0000 is left out, not cut short (%s)", c.model ? c.model : "none");
	conversation_free(&c);

	/* what the interface says at its end */
	struct history_record record;
	char note[5000];
	memset(&record, 0, sizeof record);
	history_record_exit_note(&record, note, sizeof note);
	tap_ok(note[0] == '\0', "nothing saved, nothing tried: nothing to say");
	snprintf(record.path, sizeof record.path, "%s/kept.json", dir);
	tap_ok(history_record_save(&record, messages, 2, NULL, NULL, false) == 0 && record.saved && !record.failed,
	       "a record saves into its file (%s)", record.error);
	history_record_exit_note(&record, note, sizeof note);
	char want[5000];
	snprintf(want, sizeof want, "conversation kept in %s/kept.json", dir);
	tap_ok(!strcmp(note, want), "saved: 'conversation kept in PATH' (%s)", note);
	/* the folder gone, a file in its place: the next save cannot happen */
	char blocked[1100];
	snprintf(blocked, sizeof blocked, "%s/blocked", dir);
	mkdir(blocked, 0700);
	snprintf(record.path, sizeof record.path, "%s/blocked/kept.json", dir);
	tap_ok(history_record_save(&record, messages, 2, NULL, NULL, false) == 0, "a save into a second folder");
	snprintf(cmd_buffer, sizeof cmd_buffer, "rm -rf '%s' && touch '%s'", blocked, blocked);
	tap_ok(system(cmd_buffer) == 0 && history_record_save(&record, messages, 4, NULL, NULL, false) != 0 && record.failed &&
	       record.saved && strstr(record.error, "blocked"), "a failed save is remembered with its reason (%s)", record.error);
	history_record_exit_note(&record, note, sizeof note);
	tap_ok(strstr(note, "last save failed (") && strstr(note, record.error) && !strstr(note, "conversation kept in") &&
	       strstr(note, "holds it as of the save before"),
	       "the last save failed: says so, why, and where the last good copy is (%s)", note);
	struct history_record never;
	memset(&never, 0, sizeof never);
	snprintf(never.path, sizeof never.path, "%s/blocked/never.json", dir);
	tap_ok(history_record_save(&never, messages, 2, NULL, NULL, false) != 0 && !never.saved, "a first save that fails");
	history_record_exit_note(&never, note, sizeof note);
	tap_ok(!strncmp(note, "the conversation could not be saved (", 37) && strstr(note, never.error),
	       "never saved: says it could not be saved, and why (%s)", note);

	/* the history folder */
	setenv("XDG_STATE_HOME", dir, 1);
	char a[4096], latest[4096];
	tap_ok(history_new_path(a, sizeof a, err, sizeof err) == 0 && strstr(a, "/llmchat/history/") && strstr(a, ".json"),
	       "new history files go to $XDG_STATE_HOME/llmchat/history (%s)", a);
	tap_ok(history_latest_path(latest, sizeof latest, err, sizeof err) != 0, "no conversation yet: nothing to resume");
	history_save(a, messages, 2, NULL, NULL, err, sizeof err);
	tap_ok(history_latest_path(latest, sizeof latest, err, sizeof err) == 0 && !strcmp(latest, a), "the latest is found");
	char b[4096];
	tap_ok(history_new_path(b, sizeof b, err, sizeof err) == 0 && strcmp(a, b) != 0,
	       "a second conversation in the same second gets its own file (%s)", b);

	/* an answer saved while it was being written says so; a finished save does not */
	struct history_record partial;
	memset(&partial, 0, sizeof partial);
	snprintf(partial.path, sizeof partial.path, "%s/partial.json", dir);
	tap_ok(history_record_save(&partial, messages, 3, NULL, NULL, true) == 0 &&
	       history_load(partial.path, &c, err, sizeof err) == 0 && c.answering && c.count == 3,
	       "a save while answering is marked \"answering\" and reads back so");
	conversation_free(&c);
	tap_ok(history_record_save(&partial, messages, 3, NULL, NULL, false) == 0 &&
	       history_load(partial.path, &c, err, sizeof err) == 0 && !c.answering, "a finished save is not marked");
	conversation_free(&c);
	tap_ok(history_load(a, &c, err, sizeof err) == 0 && !c.answering, "history_save never marks it");
	conversation_free(&c);

	list_tests(dir, a, b, messages);

	char cmd[1100];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
