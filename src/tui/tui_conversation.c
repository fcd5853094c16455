/*
 * tui_conversation.c - the interface's conversation beyond the screen: the
 * settings an answer uses, the system prompt, the history file that keeps every
 * exchange, /load and --resume, and the draft left in the editor at the end.
 */
#include "tui_conversation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "draft_model.h"
#include "file_read.h"
#include "history.h"
#include "tui.h"
#include "tui_notice.h"

/* ---- settings ----------------------------------------------------------- */

void tui_conversation_apply_settings(struct tui *t)
{
	/* /set, then the flags and config file, then the preset */
	struct sampling_overrides s = t->overrides;
	sampling_overrides_fill(&s, &t->setup->sampling);
	sampling_overrides_fill(&s, &t->preset.sampling);
	model_runtime_generation_settings(&t->runtime, &s, &t->settings);
	t->settings.speculation = t->setup->speculation;
	if (t->draft) {
		t->settings.speculation.propose = draft_model_propose;
		t->settings.speculation.user_data = t->draft;
	}
}

int tui_conversation_set_system(struct tui *t, const char *prompt)
{
	char *copy = NULL;
	if (prompt && !(copy = strdup(prompt)))
		return -1;
	if (chat_session_set_system(t->session, prompt) != 0) {
		free(copy);
		return -1;
	}
	free(t->system_prompt);
	t->system_prompt = copy;
	if (t->history.path[0])
		tui_conversation_save(t, NULL);   /* a kept conversation keeps its new system prompt at once */
	return 0;
}

/* ---- the conversation on disk --------------------------------------------- */

/* A save that failed: the reason (which names the file) goes into the transcript,
 * where it wraps, when the save before went well; while saves keep failing, the hint
 * alone says so, not a new entry each time. */
static void report_save_failure(struct tui *t, bool failed_before)
{
	if (failed_before)
		tui_notice_hint(t, true, "history not kept (the saves keep failing)");
	else
		tui_notice_add(t, TRANSCRIPT_ERROR, "history not kept: %s", t->history.error);
}

void tui_conversation_save(struct tui *t, const char *unanswered)
{
	size_t count = chat_session_message_count(t->session);
	const struct chat_message *messages = chat_session_messages(t->session);
	struct chat_message *all = NULL;

	if (count == 0 && !unanswered && !t->history.path[0])
		return;   /* nothing said yet: no file */
	if (unanswered) {
		/* the message being answered is kept before its answer exists */
		all = malloc((count + 1) * sizeof *all);
		if (!all) {
			t->history.failed = true;
			snprintf(t->history.error, sizeof t->history.error, "out of memory");
			tui_notice_hint(t, true, "history not kept: out of memory");
			return;
		}
		if (count)
			memcpy(all, messages, count * sizeof *all);
		all[count++] = (struct chat_message){CHAT_ROLE_USER, unanswered};
		messages = all;
	}
	bool failed_before = t->history.failed;
	if (history_record_save(&t->history, messages, count, model_runtime_model_name(&t->runtime), t->preset.name,
				false) != 0)
		report_save_failure(t, failed_before);
	free(all);
}

void tui_conversation_save_answering(struct tui *t, const struct chat_message *before, size_t count,
				     const char *answer, size_t answer_length)
{
	struct chat_message *all = malloc((count + 1) * sizeof *all);
	char *text = malloc(answer_length + 1);
	if (all && text) {
		memcpy(all, before, count * sizeof *all);
		memcpy(text, answer, answer_length);
		text[answer_length] = '\0';
		all[count] = (struct chat_message){CHAT_ROLE_ASSISTANT, text};
		bool failed_before = t->history.failed;
		if (history_record_save(&t->history, all, count + 1, model_runtime_model_name(&t->runtime),
					t->preset.name, true) != 0)
			report_save_failure(t, failed_before);
	}
	free(all);
	free(text);
}

/* The transcript shows the session's messages (the system prompt aside), and Up
 * recalls the user's. */
static void rebuild_transcript(struct tui *t)
{
	size_t count = chat_session_message_count(t->session);
	const struct chat_message *m = chat_session_messages(t->session);
	transcript_clear(&t->transcript);
	for (size_t i = 0; i < count; i++) {
		if (m[i].role == CHAT_ROLE_SYSTEM)
			continue;
		enum transcript_kind kind = m[i].role == CHAT_ROLE_USER ? TRANSCRIPT_USER : TRANSCRIPT_ASSISTANT;
		transcript_add(&t->transcript, kind, m[i].content, strlen(m[i].content));
		if (kind == TRANSCRIPT_USER)
			input_history_add(&t->input, m[i].content);   /* Up recalls them too */
	}
	t->scroll = 0;
}

/* What the status line counts for a conversation not yet answered: its tokens as
 * the next prompt renders them (0 when it cannot be rendered: the next answer says
 * why). */
static int conversation_tokens(struct tui *t)
{
	char why[256];
	int n = chat_session_count_tokens(t->session, why, sizeof why);
	return n > 0 ? n : 0;
}

/* A conversation that ends before its last answer came, or inside it: what to do. */
static void note_unfinished(struct tui *t, const struct conversation *c)
{
	enum chat_role last = c->count ? c->messages[c->count - 1].role : CHAT_ROLE_SYSTEM;
	if (last == CHAT_ROLE_USER)
		tui_notice_add(t, TRANSCRIPT_INFO, "The last message has no answer (llmchat stopped before it came): "
			       "/retry answers it, /edit takes it back into the editor.");
	else if (last == CHAT_ROLE_ASSISTANT && c->answering)
		tui_notice_add(t, TRANSCRIPT_INFO, "The last answer was cut short (llmchat stopped while writing it): "
			       "/retry answers again.");
}

int tui_conversation_open(struct tui *t, const char *path, enum tui_conversation_file file, char *err,
			  size_t err_size)
{
	struct conversation c;
	char why[512];
	if (history_load(path, &c, err, err_size) != 0)
		return -1;
	if (chat_session_load_messages(t->session, c.messages, c.count, why, sizeof why) != 0) {
		snprintf(err, err_size, "%s: %s", path, why);
		conversation_free(&c);
		return -1;
	}
	free(t->system_prompt);
	t->system_prompt = c.count && c.messages[0].role == CHAT_ROLE_SYSTEM ? strdup(c.messages[0].content) : NULL;
	rebuild_transcript(t);
	note_unfinished(t, &c);
	conversation_free(&c);
	t->context_used = conversation_tokens(t);
	memset(&t->history, 0, sizeof t->history);
	if (file == TUI_CONVERSATION_ITS_FILE && history_in_folder(path)) {
		/* it goes on in its file, which holds it so far */
		snprintf(t->history.path, sizeof t->history.path, "%s", path);
		t->history.saved = true;
	} else {
		/* a new history file; the file read stays as it is */
		tui_conversation_save(t, NULL);
	}
	return 0;
}

/* Text left in the editor when the program ends (a signal, a closed terminal)
 * waits in $XDG_STATE_HOME/llmchat/draft.txt and comes back at the next start. */
static void draft_path(char *out, size_t size)
{
	if (state_dir("draft.txt", out, size) != 0)
		out[0] = '\0';
}

void tui_conversation_save_draft(const struct tui *t)
{
	char path[4096], err[256];
	draft_path(path, sizeof path);
	if (!path[0] || t->input.length == 0)
		return;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	int rc = make_dirs(path, err, sizeof err);
	*slash = '/';
	if (rc == 0 && write_file_atomic(path, t->input.text, t->input.length, err, sizeof err) != 0)
		fprintf(stderr, "llmchat: unsent text not kept: %s\n", err);
}

void tui_conversation_restore_draft(struct tui *t)
{
	char path[4096], err[256], *text;
	size_t length;
	draft_path(path, sizeof path);
	if (!path[0] || access(path, F_OK) != 0)
		return;
	if (file_read_all(path, FILE_LIMIT_SMALL, &text, &length, NULL, err, sizeof err) == 0) {
		input_set(&t->input, text);
		free(text);
		tui_notice_hint(t, false, "Your unsent text from last time is back in the editor.");
	} else {
		tui_notice_hint(t, true, "unsent text from last time not restored: %s", err);
	}
	unlink(path);
}
