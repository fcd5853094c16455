/*
 * tui_commands.c - the /commands typed at the start of the editor.
 *
 * A command never goes to the model: an unknown one gets a one-line hint.  Their
 * output goes into the transcript as notices, which are shown but neither sent
 * to the model nor saved.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config_file.h"
#include "history.h"
#include "tui.h"
#include "tui_answer.h"
#include "tui_conversation.h"
#include "tui_notice.h"

struct command {
	const char *name;
	const char *args;
	const char *help;
	void (*run)(struct tui *t, char *args);
};

static const struct command *commands(size_t *count);

static void cmd_help(struct tui *t, char *args)
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
			 "\nKeys: Enter sends, Alt-Enter or Ctrl-J adds a line, Up/Down history, PgUp/PgDn scroll, "
			 "Ctrl-C stops an answer (twice on an empty line quits), Ctrl-D quits. "
			 "Start a message with // to send a leading /.");
	tui_notice_add(t, TRANSCRIPT_INFO, "%s", buf);
}

static bool busy(struct tui *t)
{
	if (t->answer.running)
		tui_notice_hint(t, false, "Still answering: Ctrl-C stops it first.");
	return t->answer.running;
}

static void cmd_system(struct tui *t, char *args)
{
	if (!*args) {
		tui_notice_add(t, TRANSCRIPT_INFO, "System prompt: %s", t->system_prompt ? t->system_prompt : "(none)");
		return;
	}
	if (busy(t))
		return;
	if (tui_conversation_set_system(t, strcmp(args, "-") ? args : NULL) != 0)
		tui_notice_hint(t, true, "out of memory");
	else
		tui_notice_add(t, TRANSCRIPT_INFO, strcmp(args, "-") ? "System prompt set." : "System prompt removed.");
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

static void cmd_preset(struct tui *t, char *args)
{
	char err[512];
	struct preset p;
	if (!*args) {
		struct list_state s = {.current = t->preset.name};
		s.len = (size_t)snprintf(s.buf, sizeof s.buf, "Presets (/preset NAME switches):");
		presets_list(list_preset, &s);
		tui_notice_add(t, TRANSCRIPT_INFO, "%s", s.buf);
		return;
	}
	if (busy(t))
		return;
	if (presets_resolve(args, &p, err, sizeof err) != 0) {
		tui_notice_hint(t, true, "%s", err);
		return;
	}
	preset_free(&t->preset);
	t->preset = p;
	tui_conversation_apply_settings(t);
	if (tui_conversation_set_system(t, p.system_prompt) != 0)
		tui_notice_hint(t, true, "out of memory");
	else
		tui_notice_add(t, TRANSCRIPT_INFO, "Preset %s: %s", p.name, p.system_prompt ? p.system_prompt : "(no system prompt)");
}

static void cmd_clear(struct tui *t, char *args)
{
	if (busy(t))
		return;
	chat_session_clear(t->session);
	transcript_clear(&t->transcript);
	memset(&t->history, 0, sizeof t->history);   /* a new conversation gets a new file */
	t->context_used = 0;
	tui_notice_hint(t, false, "Conversation cleared.");
}

static void cmd_retry(struct tui *t, char *args)
{
	if (busy(t))
		return;
	const char *question = chat_session_pop_answer(t->session);
	if (!question) {
		tui_notice_hint(t, false, "No answer to retry.");
		return;
	}
	char *copy = strdup(question);
	if (!copy)
		return;
	/* the screen drops the answer (and any notices after it) */
	while (t->transcript.count && t->transcript.entries[t->transcript.count - 1].kind != TRANSCRIPT_ASSISTANT)
		transcript_remove_last(&t->transcript);
	transcript_remove_last(&t->transcript);
	tui_answer_start(t, copy, false);
	free(copy);
}

static void cmd_edit(struct tui *t, char *args)
{
	if (busy(t))
		return;
	const char *question = chat_session_pop_answer(t->session);
	if (!question) {
		tui_notice_hint(t, false, "No message to edit.");
		return;
	}
	input_set(&t->input, question);
	while (t->transcript.count && t->transcript.entries[t->transcript.count - 1].kind != TRANSCRIPT_USER)
		transcript_remove_last(&t->transcript);
	transcript_remove_last(&t->transcript);
	t->context_used = chat_session_context_used(t->session);
	tui_conversation_save(t, NULL);
	tui_notice_hint(t, false, "Edit the message; Enter sends it again.");
}

static void cmd_save(struct tui *t, char *args)
{
	char path[4096], err[512];
	if (busy(t))
		return;
	if (*args) {
		snprintf(path, sizeof path, "%s", args);
	} else {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
		snprintf(path, sizeof path, "llmchat-%s.json", stamp);
	}
	if (history_save(path, chat_session_messages(t->session), chat_session_message_count(t->session),
			 model_runtime_model_name(&t->runtime), t->preset.name, err, sizeof err) != 0)
		tui_notice_hint(t, true, "%s", err);
	else
		tui_notice_hint(t, false, "Saved %zu messages to %s", chat_session_message_count(t->session), path);
}

static void cmd_load(struct tui *t, char *args)
{
	if (!*args) {
		tui_notice_hint(t, false, "Usage: /load FILE");
		return;
	}
	if (busy(t))
		return;
	char err[512];
	if (tui_conversation_load(t, args, err, sizeof err) != 0) {
		tui_notice_hint(t, true, "%s", err);
	} else {
		t->context_used = 0;
		tui_notice_hint(t, false, "Loaded %zu messages from %s", chat_session_message_count(t->session), args);
		tui_conversation_save(t, NULL);
	}
}

static const char base64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const char *data, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *p = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)data[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)data[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)data[i + 2];
		*p++ = base64_digits[(v >> 18) & 63];
		*p++ = base64_digits[(v >> 12) & 63];
		*p++ = i + 1 < n ? base64_digits[(v >> 6) & 63] : '=';
		*p++ = i + 2 < n ? base64_digits[v & 63] : '=';
	}
	*p = '\0';
	return out;
}

static void cmd_copy(struct tui *t, char *args)
{
	const struct transcript_entry *e = transcript_last(&t->transcript, TRANSCRIPT_ASSISTANT);
	if (!e || e->length == 0) {
		tui_notice_hint(t, false, "No answer to copy.");
		return;
	}
	char *encoded = base64(e->text, e->length);
	int fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (!encoded || fd < 0) {
		tui_notice_hint(t, true, "/copy: %s", encoded ? strerror(errno) : "out of memory");
	} else {
		/* OSC 52: the terminal puts the text on the clipboard (straight to the tty, not through ncurses) */
		size_t n = strlen(encoded);
		bool ok = write(fd, "\033]52;c;", 7) == 7 && write(fd, encoded, n) == (ssize_t)n && write(fd, "\a", 1) == 1;
		tui_notice_hint(t, !ok, ok ? "Copied the last answer (%zu bytes) to the clipboard." : "/copy: cannot write to the terminal",
			 e->length);
	}
	if (fd >= 0)
		close(fd);
	free(encoded);
}

static void show_settings(struct tui *t)
{
	const struct generation_settings *g = &t->settings;
	tui_notice_add(t, TRANSCRIPT_INFO, "temp %g  top_p %g  top_k %d  min_p %g  repeat_penalty %g  max_tokens %d",
		 g->sampling.temperature, g->sampling.top_p, g->sampling.top_k, g->sampling.min_p,
		 g->sampling.repeat_penalty, g->max_tokens);
}

static void cmd_set(struct tui *t, char *args)
{
	char name[32], *end;
	int consumed = 0;
	if (!*args) {
		show_settings(t);
		return;
	}
	if (sscanf(args, "%31s %n", name, &consumed) != 1 || !args[consumed]) {
		tui_notice_hint(t, false, "Usage: /set temp|top_p|top_k|min_p|repeat_penalty|max_tokens VALUE");
		return;
	}
	if (busy(t))
		return;
	const char *value = args + consumed;
	errno = 0;
	double v = strtod(value, &end);
	bool number = !errno && end != value && *end == '\0';
	struct sampling_overrides *o = &t->overrides;
	if (!strcmp(name, "temp") && number && v >= 0 && v <= 100)
		o->temperature = (float)v;
	else if (!strcmp(name, "top_p") && number && v >= 0 && v <= 1)
		o->top_p = (float)v;
	else if (!strcmp(name, "min_p") && number && v >= 0 && v <= 1)
		o->min_p = (float)v;
	else if (!strcmp(name, "repeat_penalty") && number && v >= 0.01 && v <= 100)
		o->repeat_penalty = (float)v;
	else if (!strcmp(name, "top_k") && number && v >= 0 && v <= (1 << 30) && v == (int)v)
		o->top_k = (int)v;
	else if (!strcmp(name, "max_tokens") && number && v >= 1 && v <= (1 << 30) && v == (int)v)
		o->max_tokens = (int)v;
	else {
		tui_notice_hint(t, true, "/set %s: bad name or value '%s'", name, value);
		return;
	}
	tui_conversation_apply_settings(t);
	show_settings(t);
}

static void cmd_stats(struct tui *t, char *args)
{
	const struct generation_stats *s = &t->last_stats;
	if (!t->have_stats) {
		tui_notice_add(t, TRANSCRIPT_INFO, "No answer yet. Context: %d of %d tokens.", t->context_used, t->context_length);
		return;
	}
	tui_notice_add(t, TRANSCRIPT_INFO,
		 "Last answer: %d tokens, %.1f tokens/s, first token after %.3f s; prompt %d tokens (%d prefilled)%s.\n"
		 "Context: %d of %d tokens.  Messages: %zu.",
		 s->generated_tokens, s->tokens_per_second, s->time_to_first_token, s->prompt_tokens,
		 s->prefilled_tokens, s->cancelled ? "; stopped" : s->stopped_by_limit ? "; cut at the limit" : "",
		 t->context_used, t->context_length, t->answer.running ? 0 : chat_session_message_count(t->session));
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

static void cmd_theme(struct tui *t, char *args)
{
	char err[512];
	struct theme theme;
	if (!*args) {
		struct theme_list_state s = {.len = 0};
		s.len = (size_t)snprintf(s.buf, sizeof s.buf, "Themes (now %s):", t->theme.name);
		theme_list(list_theme, &s);
		tui_notice_add(t, TRANSCRIPT_INFO, "%s", s.buf);
		return;
	}
	if (theme_load(args, &theme, err, sizeof err) != 0) {
		tui_notice_hint(t, true, "%s", err);
		return;
	}
	t->theme = theme;
	tui_draw_init_colors(t);
	tui_notice_hint(t, false, "Theme %s.", theme.name);
}

static void cmd_quit(struct tui *t, char *args)
{
	t->quit = true;
}

static const struct command command_table[] = {
	{"help", "", "this list", cmd_help},
	{"system", "[TEXT|-]", "show, set (or with - remove) the system prompt", cmd_system},
	{"preset", "[NAME]", "list presets, or switch to one", cmd_preset},
	{"clear", "", "start a new conversation", cmd_clear},
	{"retry", "", "answer the last message again", cmd_retry},
	{"edit", "", "take the last message back into the editor", cmd_edit},
	{"save", "[FILE]", "save the conversation as JSON", cmd_save},
	{"load", "FILE", "load a conversation saved as JSON", cmd_load},
	{"copy", "", "copy the last answer to the clipboard (OSC 52)", cmd_copy},
	{"set", "[NAME VALUE]", "temp, top_p, top_k, min_p, repeat_penalty, max_tokens", cmd_set},
	{"stats", "", "speed of the last answer, context used", cmd_stats},
	{"theme", "[NAME]", "list themes, or switch to one", cmd_theme},
	{"quit", "", "leave (also /exit)", cmd_quit},
	{"exit", "", "leave", cmd_quit},
};

static const struct command *commands(size_t *count)
{
	*count = sizeof command_table / sizeof command_table[0] - 1;   /* /exit is an alias */
	return command_table;
}

void tui_command(struct tui *t, const char *line)
{
	char *buf = strdup(line + 1);
	if (!buf)
		return;
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
			command_table[i].run(t, args);
			free(buf);
			return;
		}
	tui_notice_hint(t, true, "Unknown command /%.40s: /help lists the commands.", buf);
	free(buf);
}
