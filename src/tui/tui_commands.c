/*
 * tui_commands.c - the /commands typed at the start of the editor; see
 * tui_commands.h.
 *
 * Each command is a function of the table below; what it shows goes into the
 * transcript as notices (shown, but neither sent to the model nor saved) or into
 * the hint, and what fails comes back as TUI_COMMAND_ERROR with its message.
 */
#include "tui_commands.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config_file.h"
#include "history.h"
#include "setting_ranges.h"
#include "tui.h"
#include "tui_answer.h"
#include "clipboard.h"
#include "tui_conversation.h"
#include "tui_draw.h"
#include "tui_notice.h"

struct command {
	const char *name;
	const char *args;
	const char *help;
	enum tui_command_status (*run)(struct tui *t, char *args, char *err, size_t err_size);
};

static const struct command *commands(size_t *count);

/* The message into err; returns TUI_COMMAND_ERROR. */
static enum tui_command_status failed(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum tui_command_status failed(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return TUI_COMMAND_ERROR;
}

static enum tui_command_status cmd_help(struct tui *t, char *args, char *err, size_t err_size)
{
	size_t n;
	const struct command *c = commands(&n);
	char buf[4096];
	size_t len = (size_t)snprintf(buf, sizeof buf, "Commands:");
	for (size_t i = 0; i < n && len < sizeof buf; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "\n  /%s%s%s  %s", c[i].name, c[i].args[0] ? " " : "",
					c[i].args, c[i].help);
	if (len < sizeof buf)
		snprintf(buf + len, sizeof buf - len,
			 "\nKeys: Enter sends, Alt-Enter or Ctrl-J adds a line, Up/Down rows, then history, PgUp/PgDn scroll "
			 "(Ctrl-End: back to the end), "
			 "Ctrl-C stops an answer (twice on an empty line quits), Ctrl-D quits. "
			 "Start a message with // to send a leading /.");
	tui_notice_add(t, TRANSCRIPT_INFO, "%s", buf);
	return TUI_COMMAND_DONE;
}

/* A command that changes the conversation waits for the answer: a hint says so. */
static bool busy(struct tui *t)
{
	if (t->answer.running)
		tui_notice_hint(t, false, "Still answering: Ctrl-C stops it first.");
	return t->answer.running;
}

static enum tui_command_status cmd_system(struct tui *t, char *args, char *err, size_t err_size)
{
	if (!*args) {
		tui_notice_add(t, TRANSCRIPT_INFO, "System prompt: %s", t->system_prompt ? t->system_prompt : "(none)");
		return TUI_COMMAND_DONE;
	}
	if (busy(t))
		return TUI_COMMAND_DONE;
	if (tui_conversation_set_system(t, strcmp(args, "-") ? args : NULL) != 0)
		return failed(err, err_size, "out of memory");
	tui_notice_add(t, TRANSCRIPT_INFO, strcmp(args, "-") ? "System prompt set." : "System prompt removed.");
	return TUI_COMMAND_DONE;
}

struct list_state {
	char buf[4096];
	size_t len;
	const char *current;
};

static void list_preset(void *user_data, const char *name, const char *description)
{
	struct list_state *s = user_data;
	if (s->len < sizeof s->buf)
		s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, "\n %s %s: %s",
					   strcmp(name, s->current) ? " " : "*", name, description);
}

static enum tui_command_status cmd_preset(struct tui *t, char *args, char *err, size_t err_size)
{
	struct preset p;
	if (!*args) {
		struct list_state s = {.current = t->preset.name};
		s.len = (size_t)snprintf(s.buf, sizeof s.buf, "Presets (/preset NAME switches):");
		presets_list(list_preset, &s);
		tui_notice_add(t, TRANSCRIPT_INFO, "%s", s.buf);
		return TUI_COMMAND_DONE;
	}
	if (busy(t))
		return TUI_COMMAND_DONE;
	if (presets_resolve(args, &p, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	preset_free(&t->preset);
	t->preset = p;
	tui_conversation_apply_settings(t);
	if (tui_conversation_set_system(t, p.system_prompt) != 0)
		return failed(err, err_size, "out of memory");
	tui_notice_add(t, TRANSCRIPT_INFO, "Preset %s: %s", p.name, p.system_prompt ? p.system_prompt : "(no system prompt)");
	return TUI_COMMAND_DONE;
}

static enum tui_command_status cmd_clear(struct tui *t, char *args, char *err, size_t err_size)
{
	if (busy(t))
		return TUI_COMMAND_DONE;
	chat_session_clear(t->session);
	transcript_clear(&t->transcript);
	memset(&t->history, 0, sizeof t->history);   /* a new conversation gets a new file */
	t->context_used = 0;
	tui_notice_hint(t, false, "Conversation cleared.");
	return TUI_COMMAND_DONE;
}

/* Takes the transcript back to before the last user message (its answer, and any
 * notices after them, go too). */
static void transcript_drop_last_exchange(struct tui *t)
{
	while (t->transcript.count && t->transcript.entries[t->transcript.count - 1].kind != TRANSCRIPT_USER)
		transcript_remove_last(&t->transcript);
	transcript_remove_last(&t->transcript);
}

/* /retry answers the last user message again; one without an answer (a
 * conversation saved before its answer came) is answered for the first time. */
static enum tui_command_status cmd_retry(struct tui *t, char *args, char *err, size_t err_size)
{
	if (busy(t))
		return TUI_COMMAND_DONE;
	const char *question = chat_session_pop_answer(t->session);
	if (!question) {
		tui_notice_hint(t, false, "No answer to retry.");
		return TUI_COMMAND_DONE;
	}
	char *copy = strdup(question);
	if (!copy)
		return failed(err, err_size, "out of memory");
	/* the screen shows the message again, under it the new answer */
	transcript_drop_last_exchange(t);
	tui_answer_start(t, copy, true);   /* a failure to start is its own hint */
	free(copy);
	return TUI_COMMAND_DONE;
}

/* /edit takes the last user message (answered or not) back into the editor. */
static enum tui_command_status cmd_edit(struct tui *t, char *args, char *err, size_t err_size)
{
	if (busy(t))
		return TUI_COMMAND_DONE;
	const char *question = chat_session_pop_answer(t->session);
	if (!question) {
		tui_notice_hint(t, false, "No message to edit.");
		return TUI_COMMAND_DONE;
	}
	input_set(&t->input, question);
	transcript_drop_last_exchange(t);
	t->context_used = chat_session_context_used(t->session);
	tui_conversation_save(t, NULL);
	tui_notice_hint(t, false, "Edit the message; Enter sends it again.");
	return TUI_COMMAND_DONE;
}

/* A file name as the user typed it, with a leading "~" or "~/" made $HOME (not
 * ~user).  Returns 0, or -1 with the reason in err. */
static int expand_home(const char *name, char *out, size_t out_size, char *err, size_t err_size)
{
	const char *home = getenv("HOME");
	int n;
	if (name[0] == '~' && (name[1] == '/' || name[1] == '\0')) {
		if (!home || !*home) {
			snprintf(err, err_size, "%s: HOME is not set, so ~ names no folder", name);
			return -1;
		}
		n = snprintf(out, out_size, "%s%s", home, name + 1);
	} else {
		n = snprintf(out, out_size, "%s", name);
	}
	if (n < 0 || (size_t)n >= out_size) {
		snprintf(err, err_size, "%.200s...: path too long", name);
		return -1;
	}
	return 0;
}

static enum tui_command_status cmd_save(struct tui *t, char *args, char *err, size_t err_size)
{
	char path[4096];
	if (busy(t))
		return TUI_COMMAND_DONE;
	if (*args) {
		if (expand_home(args, path, sizeof path, err, err_size) != 0)
			return TUI_COMMAND_ERROR;
	} else {
		/* in the current folder, named in full so that the message says where */
		char stamp[32], cwd[3072];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
		if (!getcwd(cwd, sizeof cwd))
			return failed(err, err_size, "/save: the current folder is unknown (%s); give a file name",
				      strerror(errno));
		snprintf(path, sizeof path, "%s/llmchat-%s.json", strcmp(cwd, "/") ? cwd : "", stamp);
	}
	if (history_save(path, chat_session_messages(t->session), chat_session_message_count(t->session),
			 model_runtime_model_name(&t->runtime), t->preset.name, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	tui_notice_add(t, TRANSCRIPT_INFO, "Saved %zu messages to %s", chat_session_message_count(t->session), path);
	return TUI_COMMAND_DONE;
}

static enum tui_command_status cmd_load(struct tui *t, char *args, char *err, size_t err_size)
{
	if (!*args) {
		tui_notice_hint(t, false, "Usage: /load FILE");
		return TUI_COMMAND_DONE;
	}
	if (busy(t))
		return TUI_COMMAND_DONE;
	char path[4096];
	if (expand_home(args, path, sizeof path, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	args = path;
	/* the conversation before stays in its history file; the loaded one gets its own */
	if (tui_conversation_open(t, args, TUI_CONVERSATION_NEW_FILE, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	tui_notice_add(t, TRANSCRIPT_INFO, "Loaded %zu messages from %s", chat_session_message_count(t->session), args);
	return TUI_COMMAND_DONE;
}

/* One line of /history: number, when, messages, first words; * marks the
 * conversation on the screen. */
static size_t history_line(struct tui *t, const struct history_entry *e, size_t number, char *out, size_t size)
{
	char when[32];
	struct tm tm;
	localtime_r(&e->saved.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
	bool current = t->history.path[0] && !strcmp(e->path, t->history.path);
	return (size_t)snprintf(out, size, "\n%c%3zu. %s  %3zu msg  %s", current ? '*' : ' ', number, when, e->messages,
				e->first_words[0] ? e->first_words : "(no message)");
}

/* /history lists the conversations of the history folder, newest first;
 * /history N goes on with number N, in its own file. */
static enum tui_command_status cmd_history(struct tui *t, char *args, char *err, size_t err_size)
{
	struct history_list list;
	char *end;
	long number = 0;
	if (*args) {
		errno = 0;
		number = strtol(args, &end, 10);
		if (errno || *end || end == args || number < 1)
			return failed(err, err_size, "/history %.40s: give the number /history shows (1 is the newest)", args);
		if (busy(t))
			return TUI_COMMAND_DONE;
	}
	if (history_list(&list, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	enum tui_command_status status = TUI_COMMAND_DONE;
	if (number > 0 && (size_t)number > list.count) {
		status = failed(err, err_size, "/history %ld: there are %zu conversations (/history lists them)", number,
				list.count);
	} else if (number > 0) {
		const struct history_entry *e = &list.entries[number - 1];
		if (tui_conversation_open(t, e->path, TUI_CONVERSATION_ITS_FILE, err, err_size) != 0)
			status = TUI_COMMAND_ERROR;
		else
			tui_notice_hint(t, false, "Conversation %ld (%s): %zu messages", number, e->id, e->messages);
	} else if (list.count == 0) {
		tui_notice_add(t, TRANSCRIPT_INFO, "No past conversations yet.");
	} else {
		size_t cap = 256 + list.count * 256, len;
		char *buf = malloc(cap);
		if (!buf) {
			history_list_free(&list);
			return failed(err, err_size, "out of memory");
		}
		len = (size_t)snprintf(buf, cap, "Conversations, newest first (/history N goes on with one):");
		for (size_t i = 0; i < list.count && len < cap; i++)
			len += history_line(t, &list.entries[i], i + 1, buf + len, cap - len);
		if (list.skipped && len < cap)
			snprintf(buf + len, cap - len, "\n(skipped: %zu file%s of the folder that %s no conversation)",
				 list.skipped, list.skipped == 1 ? "" : "s", list.skipped == 1 ? "is" : "are");
		tui_notice_add(t, TRANSCRIPT_INFO, "%s", buf);
		free(buf);
	}
	history_list_free(&list);
	return status;
}

/* What /copy copies: the last answer, or with "code [N]" its Nth code block
 * (default: the last).  Returns 0 with the bytes and their description in what,
 * 1 when there is nothing to copy (a hint says why), -1 for bad arguments (err). */
static int copy_source(struct tui *t, const char *args, const char **text, size_t *length, char *what,
		       size_t what_size, char *err, size_t err_size)
{
	const struct transcript_entry *e = transcript_last(&t->transcript, TRANSCRIPT_ASSISTANT);
	if (*args && strncmp(args, "code", 4) != 0) {
		failed(err, err_size, "/copy %s: expected nothing (the last answer) or code [N] (its Nth code block)", args);
		return -1;
	}
	size_t n = 0;
	if (*args) {
		const char *number = args + 4;
		char *end;
		if (*number && *number != ' ') {
			failed(err, err_size, "/copy %s: expected nothing (the last answer) or code [N] (its Nth code block)", args);
			return -1;
		}
		number += strspn(number, " ");
		if (*number) {
			errno = 0;
			unsigned long v = strtoul(number, &end, 10);
			if (*number < '1' || *number > '9' || *end || errno || v > 1000000) {
				failed(err, err_size, "/copy code %s: expected the number of a code block, counted from 1", number);
				return -1;
			}
			n = v;
		}
	}
	if (!e || e->length == 0) {
		tui_notice_hint(t, false, "No answer to copy.");
		return 1;
	}
	if (!*args) {
		*text = e->text;
		*length = e->length;
		snprintf(what, what_size, "the last answer");
		return 0;
	}
	size_t start, count;
	if (markdown_code_block(e->text, e->length, n, &start, length, &count) != 0) {
		if (count == 0)
			tui_notice_hint(t, false, "The last answer has no code block.");
		else
			failed(err, err_size, "/copy code %zu: the last answer has %zu code block%s", n, count,
			       count == 1 ? "" : "s");
		return count == 0 ? 1 : -1;
	}
	*text = e->text + start;
	snprintf(what, what_size, "code block %zu of %zu", n ? n : count, count);
	return 0;
}

static enum tui_command_status cmd_copy(struct tui *t, char *args, char *err, size_t err_size)
{
	const char *text;
	size_t length;
	char what[64], why[256];
	int source = copy_source(t, args, &text, &length, what, sizeof what, err, err_size);
	if (source != 0)
		return source < 0 ? TUI_COMMAND_ERROR : TUI_COMMAND_DONE;
	struct clipboard_way way = clipboard_choose();
	if (clipboard_copy(&way, text, length, why, sizeof why) != 0)
		return failed(err, err_size, "/copy: nothing copied: %s", why);
	if (way.argv[0])
		tui_notice_add(t, TRANSCRIPT_INFO, "Copied %s (%zu bytes) with %s.", what, length, way.name);
	else
		tui_notice_add(t, TRANSCRIPT_INFO,
			       "Copied %s (%zu bytes) through the terminal (OSC 52); not every terminal takes it "
			       "(no wl-copy, xclip, xsel or pbcopy was found for this display).", what, length);
	return TUI_COMMAND_DONE;
}

static enum tui_command_status cmd_mouse(struct tui *t, char *args, char *err, size_t err_size)
{
	if (*args && strcmp(args, "on") != 0 && strcmp(args, "off") != 0)
		return failed(err, err_size, "/mouse %s: expected on or off", args);
	if (*args)
		t->mouse = !strcmp(args, "on");
	tui_notice_hint(t, false, t->mouse ? "Mouse on: the wheel scrolls; Shift-drag selects text."
					   : "Mouse off: the terminal has it (select text as usual); PgUp/PgDn scroll.");
	return TUI_COMMAND_DONE;
}

static void show_settings(struct tui *t)
{
	const struct generation_settings *g = &t->settings;
	tui_notice_add(t, TRANSCRIPT_INFO, "temp %g  top_p %g  top_k %d  min_p %g  repeat_penalty %g  max_tokens %d",
		       g->sampling.temperature, g->sampling.top_p, g->sampling.top_k, g->sampling.min_p,
		       g->sampling.repeat_penalty, g->max_tokens);
}

static enum tui_command_status cmd_set(struct tui *t, char *args, char *err, size_t err_size)
{
	char name[32];
	int consumed = 0;
	if (!*args) {
		show_settings(t);
		return TUI_COMMAND_DONE;
	}
	if (sscanf(args, "%31s %n", name, &consumed) != 1 || !args[consumed]) {
		tui_notice_hint(t, false, "Usage: /set temp|top_p|top_k|min_p|repeat_penalty|max_tokens VALUE");
		return TUI_COMMAND_DONE;
	}
	if (busy(t))
		return TUI_COMMAND_DONE;
	const char *value = args + consumed;
	char why[160];
	int set = sampling_overrides_set(&t->overrides, name, value, why, sizeof why);
	if (set > 0)
		return failed(err, err_size, "/set %s: unknown setting (temp, top_p, top_k, min_p, repeat_penalty, max_tokens)",
			      name);
	if (set < 0)
		return failed(err, err_size, "/set %s: %s", name, why);
	tui_conversation_apply_settings(t);
	show_settings(t);
	return TUI_COMMAND_DONE;
}

/* The conversation's messages (the system prompt included); during an answer the
 * worker changes the session, so they are counted from before it: its question and
 * the answer in progress. */
static size_t message_count(const struct tui *t)
{
	return t->answer.running ? t->answer.messages_before + 2 : chat_session_message_count(t->session);
}

static enum tui_command_status cmd_stats(struct tui *t, char *args, char *err, size_t err_size)
{
	const struct generation_stats *s = &t->last_stats;
	char last[512] = "No answer yet.";
	if (t->have_stats)
		snprintf(last, sizeof last, "Last answer: %d tokens, %.1f tokens/s, first token after %.3f s; "
			 "prompt %d tokens (%d prefilled)%s.", s->generated_tokens, s->tokens_per_second,
			 s->time_to_first_token, s->prompt_tokens, s->prefilled_tokens,
			 s->cancelled ? "; stopped" : s->stopped_by_limit ? "; cut at the limit" : "");
	char speculation[256] = "";
	if (t->have_stats && t->settings.speculation.propose)
		snprintf(speculation, sizeof speculation, "\n%s: %d steps proposed %d tokens, %d kept (%.0f%%).",
			 t->draft ? "Draft model" : "Lookup", s->speculation_steps, s->proposed_tokens, s->accepted_tokens,
			 s->proposed_tokens ? 100.0 * s->accepted_tokens / s->proposed_tokens : 0.0);
	tui_notice_add(t, TRANSCRIPT_INFO, "%s%s%s\nContext: %d of %d tokens.  Messages: %zu%s.", last,
		       speculation, t->answer.running ? "  An answer is in progress." : "", t->context_used, t->context_length,
		       message_count(t), t->answer.running ? " (the answer in progress included)" : "");
	return TUI_COMMAND_DONE;
}

struct theme_list_state {
	char buf[2048];
	size_t len;
};

static void list_theme(void *user_data, const char *name)
{
	struct theme_list_state *s = user_data;
	if (s->len < sizeof s->buf)
		s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, " %s", name);
}

static enum tui_command_status cmd_theme(struct tui *t, char *args, char *err, size_t err_size)
{
	struct theme theme;
	if (!*args) {
		struct theme_list_state s = {.len = 0};
		s.len = (size_t)snprintf(s.buf, sizeof s.buf, "Themes (now %s):", t->theme.name);
		theme_list(list_theme, &s);
		tui_notice_add(t, TRANSCRIPT_INFO, "%s", s.buf);
		return TUI_COMMAND_DONE;
	}
	if (theme_load(args, &theme, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	t->theme = theme;
	tui_draw_init_colors(t);
	tui_notice_hint(t, false, "Theme %s.", theme.name);
	return TUI_COMMAND_DONE;
}

static enum tui_command_status cmd_quit(struct tui *t, char *args, char *err, size_t err_size)
{
	return TUI_COMMAND_QUIT;
}

static const struct command command_table[] = {
	{"help", "", "this list", cmd_help},
	{"system", "[TEXT|-]", "show, set (or with - remove) the system prompt", cmd_system},
	{"preset", "[NAME]", "list presets, or switch to one", cmd_preset},
	{"clear", "", "start a new conversation", cmd_clear},
	{"retry", "", "answer the last message again (or one left unanswered)", cmd_retry},
	{"edit", "", "take the last message back into the editor", cmd_edit},
	{"save", "[FILE]", "save the conversation as JSON", cmd_save},
	{"load", "FILE", "load a saved conversation (kept in a new history file)", cmd_load},
	{"history", "[N]", "list past conversations, or go on with number N", cmd_history},
	{"copy", "[code [N]]", "copy the last answer, or its Nth code block (default: last)", cmd_copy},
	{"mouse", "[on|off]", "mouse reports on (wheel scrolls) or off (terminal selects)", cmd_mouse},
	{"set", "[NAME VALUE]", "temp, top_p, top_k, min_p, repeat_penalty, max_tokens", cmd_set},
	{"stats", "", "speed of the last answer, context used, messages", cmd_stats},
	{"theme", "[NAME]", "list themes, or switch to one", cmd_theme},
	{"quit", "", "leave (also /exit)", cmd_quit},
	{"exit", "", "leave", cmd_quit},
};

static const struct command *commands(size_t *count)
{
	*count = sizeof command_table / sizeof command_table[0] - 1;   /* /exit is an alias */
	return command_table;
}

enum tui_command_status tui_command_run(struct tui *t, const char *line, char *err, size_t err_size)
{
	enum tui_command_status status;
	char *buf = strdup(line + 1);
	if (!buf)
		return TUI_COMMAND_DONE;   /* out of memory: the line is in the editor's history */
	char *args = buf + strcspn(buf, " \t\n");
	if (*args) {
		*args++ = '\0';
		args += strspn(args, " \t\n");
		size_t n = strlen(args);
		while (n > 0 && (args[n - 1] == ' ' || args[n - 1] == '\n'))
			args[--n] = '\0';
	}
	for (size_t i = 0; i < sizeof command_table / sizeof command_table[0]; i++)
		if (!strcmp(buf, command_table[i].name)) {
			status = command_table[i].run(t, args, err, err_size);
			free(buf);
			return status;
		}
	status = failed(err, err_size, "Unknown command /%.40s: it stays in the editor to be fixed; /help lists the commands "
			"(// sends a message that starts with /).", buf);
	free(buf);
	return status;
}
