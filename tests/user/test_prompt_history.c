/*
 * test_prompt_history.c - the prompts file: multi-line prompts come back whole and
 * in order, the file is 0600, broken lines are counted and left out, and the file
 * stays bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prompt_history.h"
#include "scratch.h"
#include "tap.h"

static size_t lines_in(const char *path)
{
	size_t n = 0;
	int c;
	FILE *f = fopen(path, "r");
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

int main(void)
{
	char dir[4096], path[4200], err[512];
	struct prompt_list list;
	size_t skipped;
	struct stat st;
	if (scratch_create(dir, sizeof dir) != 0)
		return tap_ok(0, "a scratch folder"), tap_done();
	snprintf(path, sizeof path, "%s/state/llmchat/prompts.jsonl", dir);

	tap_ok(prompt_history_load(path, &list, &skipped, err, sizeof err) == 0 && list.count == 0,
	       "no file: no prompts, no error");
	prompt_list_free(&list);
	umask(022);
	tap_ok(prompt_history_append(path, "first", err, sizeof err) == 0, "append creates the file and its folders");
	prompt_history_append(path, "two\nlines \"quoted\"\ttab", err, sizeof err);
	prompt_history_append(path, "", err, sizeof err);
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the file is 0600 whatever the umask");
	tap_ok(lines_in(path) == 2, "one line a prompt, none for an empty one");
	tap_ok(prompt_history_load(path, &list, &skipped, err, sizeof err) == 0 && list.count == 2 && skipped == 0 &&
	       !strcmp(list.items[0], "first") && !strcmp(list.items[1], "two\nlines \"quoted\"\ttab"),
	       "prompts come back in order, a multi-line one whole");
	prompt_list_free(&list);

	FILE *f = fopen(path, "a");
	fputs("{not json\n42\n\"\\u0000cut\"\n\"last\"\n", f);
	fclose(f);
	tap_ok(prompt_history_load(path, &list, &skipped, err, sizeof err) == 0 && skipped == 3 && list.count == 3 &&
	       !strcmp(list.items[2], "last"), "broken lines are counted and left out, the rest loads");
	prompt_list_free(&list);

	unlink(path);
	for (int i = 0; i < 2 * PROMPT_HISTORY_KEPT + 5; i++) {
		char p[32];
		snprintf(p, sizeof p, "prompt %d", i);
		prompt_history_append(path, p, err, sizeof err);
	}
	tap_ok(prompt_history_load(path, &list, &skipped, err, sizeof err) == 0 && list.count == PROMPT_HISTORY_KEPT &&
	       !strcmp(list.items[PROMPT_HISTORY_KEPT - 1], "prompt 2004") &&
	       !strcmp(list.items[0], "prompt 1005"), "loading keeps the last PROMPT_HISTORY_KEPT");
	prompt_list_free(&list);
	tap_ok(lines_in(path) == PROMPT_HISTORY_KEPT, "a file over twice the bound is cut down to it (%zu lines)", lines_in(path));
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "and stays 0600");

	char *big = malloc(PROMPT_HISTORY_MAX_BYTES + 2);
	memset(big, 'x', PROMPT_HISTORY_MAX_BYTES + 1);
	big[PROMPT_HISTORY_MAX_BYTES + 1] = '\0';
	prompt_history_append(path, big, err, sizeof err);
	free(big);
	tap_ok(lines_in(path) == PROMPT_HISTORY_KEPT, "a prompt over PROMPT_HISTORY_MAX_BYTES is not kept on disk");
	tap_ok(prompt_history_append(path, "bad \xFF utf8", err, sizeof err) == -1 && strstr(err, "not UTF-8"),
	       "text that is not UTF-8 is refused with a message");
	chmod(path, 0);
	if (geteuid() != 0)
		tap_ok(prompt_history_load(path, &list, &skipped, err, sizeof err) == -1 && strstr(err, path),
		       "an unreadable file is an error naming it: %s", err);
	scratch_remove(dir);
	return tap_done();
}
