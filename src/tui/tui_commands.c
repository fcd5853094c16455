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
#include <fcntl.h>
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
		return TUI_COMMAND_DONE;
	/* the screen drops the answer (and any notices after it) */
	while (t->transcript.count && t->transcript.entries[t->transcript.count - 1].kind != TRANSCRIPT_ASSISTANT)
		transcript_remove_last(&t->transcript);
	transcript_remove_last(&t->transcript);
	tui_answer_start(t, copy, false);   /* a failure to start is its own hint */
	free(copy);
	return TUI_COMMAND_DONE;
}

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
	while (t->transcript.count && t->transcript.entries[t->transcript.count - 1].kind != TRANSCRIPT_USER)
		transcript_remove_last(&t->transcript);
	transcript_remove_last(&t->transcript);
	t->context_used = chat_session_context_used(t->session);
	tui_conversation_save(t, NULL);
	tui_notice_hint(t, false, "Edit the message; Enter sends it again.");
	return TUI_COMMAND_DONE;
}

static enum tui_command_status cmd_save(struct tui *t, char *args, char *err, size_t err_size)
{
	char path[4096];
	if (busy(t))
		return TUI_COMMAND_DONE;
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
			 model_runtime_model_name(&t->runtime), t->preset.name, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	tui_notice_hint(t, false, "Saved %zu messages to %s", chat_session_message_count(t->session), path);
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
	if (tui_conversation_load(t, args, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	t->context_used = 0;
	tui_notice_hint(t, false, "Loaded %zu messages from %s", chat_session_message_count(t->session), args);
	tui_conversation_save(t, NULL);
	return TUI_COMMAND_DONE;
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

/* OSC 52: the terminal puts the text on the clipboard (straight to the tty, not
 * through ncurses).  Returns 0, or -1 with the reason in err. */
static int copy_to_clipboard(const char *text, size_t length, char *err, size_t err_size)
{
	char *encoded = base64(text, length);
	int fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	int rc = 0;
	if (!encoded || fd < 0) {
		snprintf(err, err_size, "/copy: %s", encoded ? strerror(errno) : "out of memory");
		rc = -1;
	} else {
		size_t n = strlen(encoded);
		bool ok = write(fd, "\033]52;c;", 7) == 7 && write(fd, encoded, n) == (ssize_t)n && write(fd, "\a", 1) == 1;
		if (!ok) {
			snprintf(err, err_size, "/copy: cannot write to the terminal");
			rc = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(encoded);
	return rc;
}

static enum tui_command_status cmd_copy(struct tui *t, char *args, char *err, size_t err_size)
{
	const struct transcript_entry *e = transcript_last(&t->transcript, TRANSCRIPT_ASSISTANT);
	if (!e || e->length == 0) {
		tui_notice_hint(t, false, "No answer to copy.");
		return TUI_COMMAND_DONE;
	}
	if (copy_to_clipboard(e->text, e->length, err, err_size) != 0)
		return TUI_COMMAND_ERROR;
	tui_notice_hint(t, false, "Copied the last answer (%zu bytes) to the clipboard.", e->length);
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

static enum tui_command_status cmd_stats(struct tui *t, char *args, char *err, size_t err_size)
{
	const struct generation_stats *s = &t->last_stats;
	if (!t->have_stats) {
		tui_notice_add(t, TRANSCRIPT_INFO, "No answer yet. Context: %d of %d tokens.", t->context_used,
			       t->context_length);
		return TUI_COMMAND_DONE;
	}
	tui_notice_add(t, TRANSCRIPT_INFO,
		       "Last answer: %d tokens, %.1f tokens/s, first token after %.3f s; prompt %d tokens (%d prefilled)%s.\n"
		       "Context: %d of %d tokens.  Messages: %zu.",
		       s->generated_tokens, s->tokens_per_second, s->time_to_first_token, s->prompt_tokens,
		       s->prefilled_tokens, s->cancelled ? "; stopped" : s->stopped_by_limit ? "; cut at the limit" : "",
		       t->context_used, t->context_length, t->answer.running ? 0 : chat_session_message_count(t->session));
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
	status = failed(err, err_size, "Unknown command /%.40s: /help lists the commands.", buf);
	free(buf);
	return status;
}
