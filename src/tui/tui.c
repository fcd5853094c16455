/*
 * tui.c - the interactive interface: set-up, the event loop and the keys.
 *
 * The loop waits in poll() on the terminal and on the answer's wake pipe
 * (tui_answer.h), takes every key ncurses has, folds in the text streamed
 * meanwhile, and draws once.
 * A signal (SIGTERM, SIGHUP, an outside SIGINT) only sets a flag; the loop then
 * stops the answer, saves the conversation and restores the terminal.  Ctrl-C
 * reaches us as a key (raw mode): it stops an answer, clears the editor, or
 * arms the quit.
 */
#include "tui.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <ncurses.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "config_file.h"
#include "draft_model.h"
#include "history.h"
#include "clock.h"
#include "prompt_history.h"
#include "standard_io.h"
#include "tui_answer.h"
#include "tui_commands.h"
#include "tui_conversation.h"
#include "tui_draw.h"
#include "tui_notice.h"
#include "tui_terminal.h"
#include "tui_view.h"

/* The one piece of global state: what a signal handler can reach. */
static volatile sig_atomic_t tui_signal_received;

static void on_signal(int sig)
{
	tui_signal_received = sig;
}

/* Keys ncurses does not know by itself, defined with define_key (above KEY_MAX). */
enum {
	KEY_PASTE_BEGIN = 0x7100, KEY_PASTE_END, KEY_CTRL_LEFT, KEY_CTRL_RIGHT, KEY_ALT_ENTER,
	KEY_ALT_B, KEY_ALT_F, KEY_ALT_BACKSPACE, KEY_CTRL_END,
};

static void define_keys(void)
{
	static const struct { const char *seq; int code; } keys[] = {
		{"\033[200~", KEY_PASTE_BEGIN}, {"\033[201~", KEY_PASTE_END},
		{"\033[1;5D", KEY_CTRL_LEFT}, {"\033[1;5C", KEY_CTRL_RIGHT},
		{"\033Od", KEY_CTRL_LEFT}, {"\033Oc", KEY_CTRL_RIGHT},
		{"\033[1;3D", KEY_CTRL_LEFT}, {"\033[1;3C", KEY_CTRL_RIGHT},
		{"\033\r", KEY_ALT_ENTER}, {"\033\n", KEY_ALT_ENTER},
		{"\033b", KEY_ALT_B}, {"\033f", KEY_ALT_F}, {"\033\177", KEY_ALT_BACKSPACE},
		{"\033[1~", KEY_HOME}, {"\033[4~", KEY_END}, {"\033[H", KEY_HOME}, {"\033[F", KEY_END},
		{"\033OH", KEY_HOME}, {"\033OF", KEY_END}, {"\033[7~", KEY_HOME}, {"\033[8~", KEY_END},
		{"\033[1;5F", KEY_CTRL_END}, {"\033[4;5~", KEY_CTRL_END}, {"\033[8^", KEY_CTRL_END},
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		define_key(keys[i].seq, keys[i].code);
}

/* ---- keys ------------------------------------------------------------------ */

static void insert_char(struct tui *t, wint_t ch)
{
	utf8proc_uint8_t buf[4];
	utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)ch, buf);
	if (n > 0)
		input_insert(&t->input, (const char *)buf, (size_t)n);
}

/* Hands the editor's text over (input_take) and keeps it in the prompts file when
 * it went into the history; NULL when out of memory. */
static char *take_input(struct tui *t)
{
	char path[4096], err[512];
	size_t before = t->input.history_count;
	char *text = input_take(&t->input);
	if (text && t->input.history_count > before && prompt_history_path(path, sizeof path) == 0) {
		bool failed_before = t->prompts_failed;
		t->prompts_failed = prompt_history_append(path, text, err, sizeof err) != 0;
		if (t->prompts_failed && !failed_before)   /* the reason once, in the transcript, where it wraps */
			tui_notice_add(t, TRANSCRIPT_ERROR, "prompt not kept for the next run: %s", err);
	}
	return text;
}

/* The prompts of the runs before, for Up; a file that cannot be read is one
 * line of warning, never a reason not to start. */
static void restore_prompts(struct tui *t)
{
	char path[4096], err[512];
	struct prompt_list prompts;
	size_t skipped;
	if (prompt_history_path(path, sizeof path) != 0)
		return;
	if (prompt_history_load(path, &prompts, &skipped, err, sizeof err) != 0) {
		tui_notice_add(t, TRANSCRIPT_ERROR, "earlier prompts not loaded: %s", err);
		return;
	}
	for (size_t i = 0; i < prompts.count; i++)
		input_history_add(&t->input, prompts.items[i]);
	if (skipped)
		tui_notice_add(t, TRANSCRIPT_ERROR, "%s: %zu line%s not a prompt (JSON string), left out", path,
			       skipped, skipped == 1 ? " is" : "s are");
	prompt_list_free(&prompts);
}

/* Mouse reports on or off, as t->mouse wants: on, the wheel scrolls the
 * transcript, and selecting text in the terminal needs Shift. */
static void apply_mouse(struct tui *t)
{
	mmask_t wheel = BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
			| BUTTON5_PRESSED
#endif
		;
	mousemask(t->mouse ? wheel : 0, NULL);
	t->mouse_reporting = t->mouse;
}

/* Runs a command; returns false when it failed: its error, which may name a long
 * path, goes into the transcript, where it wraps. */
static bool run_command(struct tui *t, const char *line)
{
	char err[4600];
	enum tui_command_status status = tui_command_run(t, line, err, sizeof err);
	if (t->mouse != t->mouse_reporting)
		apply_mouse(t);   /* /mouse */
	switch (status) {
	case TUI_COMMAND_DONE: break;
	case TUI_COMMAND_QUIT: t->quit = true; break;
	case TUI_COMMAND_ERROR: tui_notice_add(t, TRANSCRIPT_ERROR, "%s", err); return false;
	}
	return true;
}

static void submit(struct tui *t)
{
	if (strspn(t->input.text, " \t\n") == t->input.length)
		return;   /* nothing to send: the template would trim it to an empty turn */
	if (t->input.text[0] == '/' && t->input.text[1] != '/') {
		char *line = take_input(t);
		if (line && !run_command(t, line) && t->input.length == 0)
			input_set(&t->input, line);   /* a typo or a bad argument stays, to be fixed */
		free(line);
		return;
	}
	if (t->answer.running) {
		tui_notice_hint(t, false, "Still answering: Ctrl-C stops it (your text stays here).");
		return;
	}
	char *message = take_input(t);
	if (!message)
		return;
	/* "//text" sends "/text" */
	tui_answer_start(t, message[0] == '/' ? message + 1 : message, true);
	free(message);
}

static void scroll_by(struct tui *t, long rows)
{
	long total = (long)transcript_row_count(&t->transcript), max = total - t->transcript_height;
	long s = (long)t->scroll + rows;
	if (max < 0)
		max = 0;
	if (s > max)
		s = max;
	if (s < 0)
		s = 0;
	t->scroll = (size_t)s;
}

/* Ctrl-End, and End in an empty editor: back to the bottom of the transcript,
 * following the answer again. */
static void scroll_to_bottom(struct tui *t)
{
	t->scroll = 0;
}

static void on_ctrl_c(struct tui *t)
{
	if (t->answer.running) {
		tui_answer_cancel(&t->answer);
		tui_notice_hint(t, false, "Stopping the answer...");
		return;
	}
	if (t->input.length > 0) {
		/* clearing is not losing: the text goes to the history, Up brings it back */
		char *text = take_input(t);
		free(text);
		return;
	}
	if (t->quit_armed) {
		t->quit = true;
		return;
	}
	t->quit_armed = true;
	tui_notice_hint(t, false, "Press Ctrl-C again to quit (or Ctrl-D).");
}

static void on_mouse(struct tui *t)
{
	MEVENT ev;
	if (getmouse(&ev) != OK)
		return;
	if (ev.bstate & BUTTON4_PRESSED)
		scroll_by(t, 3);
#ifdef BUTTON5_PRESSED
	else if (ev.bstate & BUTTON5_PRESSED)
		scroll_by(t, -3);
#endif
}

static void on_key_code(struct tui *t, wint_t key)
{
	struct input_editor *ed = &t->input;
	switch (key) {
	case KEY_PASTE_BEGIN: t->in_paste = true; break;
	case KEY_PASTE_END: t->in_paste = false; break;
	case KEY_LEFT: input_left(ed); break;
	case KEY_RIGHT: input_right(ed); break;
	case KEY_CTRL_LEFT: case KEY_ALT_B: input_word_left(ed); break;
	case KEY_CTRL_RIGHT: case KEY_ALT_F: input_word_right(ed); break;
	case KEY_HOME: input_home(ed); break;
	case KEY_END:
		if (ed->length == 0)
			scroll_to_bottom(t);
		else
			input_end(ed);
		break;
	case KEY_CTRL_END: scroll_to_bottom(t); break;
	case KEY_UP: input_up(ed, COLS, TUI_VIEW_PROMPT_WIDTH); break;
	case KEY_DOWN: input_down(ed, COLS, TUI_VIEW_PROMPT_WIDTH); break;
	case KEY_BACKSPACE: input_backspace(ed); break;
	case KEY_ALT_BACKSPACE: input_kill_word(ed); break;
	case KEY_DC: input_delete(ed); break;
	case KEY_ENTER: submit(t); break;
	case KEY_ALT_ENTER: input_insert(ed, "\n", 1); break;
	case KEY_PPAGE: scroll_by(t, t->transcript_height > 2 ? t->transcript_height - 2 : 1); break;
	case KEY_NPAGE: scroll_by(t, -(t->transcript_height > 2 ? t->transcript_height - 2 : 1)); break;
	case KEY_MOUSE: on_mouse(t); break;
	case KEY_RESIZE: break;   /* the next draw wraps for the new size */
	default: break;
	}
}

/* Ctrl-Z: give the terminal back to the shell as it was, stop, and on `fg` take
 * it again whole (the shell may have turned bracketed paste off meanwhile). */
static void suspend(struct tui *t)
{
	fputs("\033[?2004l", stdout);
	fflush(stdout);
	endwin();
	raise(SIGSTOP);
	fputs("\033[?2004h", stdout);
	fflush(stdout);
	clearok(curscr, TRUE);
	refresh();
}

static void on_char(struct tui *t, wint_t ch)
{
	struct input_editor *ed = &t->input;
	switch (ch) {
	case 3: on_ctrl_c(t); return;
	case 4:
		if (ed->length == 0)
			t->quit = true;
		else
			input_delete(ed);
		return;
	case '\r': submit(t); return;
	case '\n': input_insert(ed, "\n", 1); return;
	case 1: input_home(ed); return;
	case 5: input_end(ed); return;
	case 2: input_left(ed); return;
	case 6: input_right(ed); return;
	case 21: input_kill_to_start(ed); return;
	case 11: input_kill_to_end(ed); return;
	case 23: input_kill_word(ed); return;
	case 8: case 127: input_backspace(ed); return;
	case 12: clearok(curscr, TRUE); return;
	case 26: suspend(t); return;
	case 27: return;                   /* a lone Escape */
	default:
		if (ch == '\t' || ch >= 32)
			insert_char(t, ch);
	}
}

static void on_input(struct tui *t, int kind, wint_t ch)
{
	bool ctrl_c = kind == OK && ch == 3;
	if (!ctrl_c)
		t->quit_armed = false;
	if (kind == KEY_CODE_YES && ch == KEY_RESIZE) {
		/* a resize is not a key press: keep the hint */
	} else {
		tui_notice_clear_hint(t);
	}
	if (t->in_paste && !(kind == KEY_CODE_YES && ch == KEY_PASTE_END)) {
		/* pasted text goes in as it is, newlines included (terminals send them as CR) */
		if (kind == KEY_CODE_YES)
			return;
		if (ch == '\r' || ch == '\n')
			input_insert(&t->input, "\n", 1);
		else if (ch == '\t' || ch >= 32)
			insert_char(t, ch);
		return;
	}
	if (kind == KEY_CODE_YES)
		on_key_code(t, ch);
	else
		on_char(t, ch);
}

/* ---- set-up and the loop ------------------------------------------------------ */

static bool locale_is_utf8(void)
{
	const char *codeset = nl_langinfo(CODESET);
	return codeset && (!strcmp(codeset, "UTF-8") || !strcmp(codeset, "utf8"));
}

static int screen_start(struct tui *t)
{
	setlocale(LC_ALL, "");
	if (!locale_is_utf8())
		setlocale(LC_CTYPE, "C.UTF-8");   /* the model speaks UTF-8, whatever LANG says */
	set_escdelay(25);
	/* newterm, unlike initscr, returns an error instead of exiting */
	SCREEN *screen = newterm(NULL, stdout, stdin);
	if (!screen)
		return -1;
	set_term(screen);
	t->screen = screen;
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	define_keys();
	t->mouse = t->setup->mouse;
	apply_mouse(t);
	mouseinterval(0);
	t->color = has_colors() && !t->setup->no_color && !(getenv("NO_COLOR") && getenv("NO_COLOR")[0]);
	if (t->color) {
		start_color();
		use_default_colors();
	}
	tui_draw_init_colors(t);
	/* bracketed paste: the terminal marks pasted text, so its newlines do not send */
	fputs("\033[?2004h", stdout);
	fflush(stdout);
	return 0;
}

static void screen_end(struct tui *t)
{
	fputs("\033[?2004l", stdout);
	fflush(stdout);
	endwin();
	delscreen(t->screen);
	t->screen = NULL;
}

/* While the screen is ours, what anything writes to stderr would land in the
 * middle of it: keep it in $XDG_STATE_HOME/llmchat/stderr.log and show it once
 * the screen is gone. */
static void stderr_capture(struct tui *t)
{
	char path[4096], err[256];
	fflush(stderr);
	t->saved_stderr = -1;
	/* a file that outlives a crash, so that its report is not lost */
	if (state_dir(NULL, path, sizeof path - 16) == 0 && make_dirs(path, err, sizeof err) == 0) {
		strcat(path, "/stderr.log");
		/* the user's alone, as the history is: 0600 whatever the umask, also when
		 * an older llmchat left it readable */
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 && (fchmod(fd, 0600) != 0 || !(t->stderr_log = fdopen(fd, "w+"))))
			close(fd);
	}
	if (!t->stderr_log && !(t->stderr_log = tmpfile()))
		return;
	t->saved_stderr = dup(STDERR_FILENO);
	if (t->saved_stderr < 0 || dup2(fileno(t->stderr_log), STDERR_FILENO) < 0) {
		fclose(t->stderr_log);
		t->stderr_log = NULL;
	}
}

static void stderr_release(struct tui *t)
{
	char buf[4096];
	size_t n;
	if (!t->stderr_log)
		return;
	fflush(stderr);
	dup2(t->saved_stderr, STDERR_FILENO);
	close(t->saved_stderr);
	t->saved_stderr = -1;
	rewind(t->stderr_log);
	while ((n = fread(buf, 1, sizeof buf, t->stderr_log)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(t->stderr_log);
	t->stderr_log = NULL;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: poll() returns EINTR and the loop sees the flag at once */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
}

/* Draws the screen: wraps the transcript for the width, computes the view,
 * keeps the scrolls it decided (and the transcript's height, what PgUp pages
 * by), and draws it.  A terminal too small to show anything changes nothing. */
static void redraw(struct tui *t)
{
	struct tui_view view;
	if (tui_view_fits(LINES, COLS))
		transcript_layout(&t->transcript, COLS);
	tui_view_compute(t, LINES, COLS, &view);
	if (!view.blank) {
		t->scroll = view.scroll;
		t->input_scroll = view.input_scroll;
		t->transcript_height = view.transcript_rows;
	}
	tui_draw(t, &view);
	tui_view_free(&view);
}

/* A streamed answer redraws at most this often; keys always redraw at once.  A
 * small model streams thousands of tokens a second, and drawing each would take
 * the cores the model needs. */
#define STREAM_FRAME_SECONDS (1.0 / 60)

static void event_loop(struct tui *t)
{
	bool stale = true;          /* the screen lags the models */
	double last_draw = 0;
	while (!t->quit && !tui_signal_received) {
		double now = clock_monotonic_seconds();
		int timeout = t->answer.running ? 250 : 1000;
		if (stale && (!t->answer.running || now - last_draw >= STREAM_FRAME_SECONDS)) {
			redraw(t);
			last_draw = now;
			stale = false;
		} else if (stale) {
			timeout = (int)((STREAM_FRAME_SECONDS - (now - last_draw)) * 1000) + 1;
		}
		struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {tui_answer_wake_fd(&t->answer), POLLIN, 0}};
		int n = poll(fds, 2, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (n < 0)
			stale = true;   /* a signal: perhaps a resize */
		if (fds[1].revents & POLLIN || t->answer.running) {
			tui_answer_collect(t, COLS);
			stale = true;
		}
		if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			t->quit = true;   /* the terminal went away */
			break;
		}
		wint_t ch;
		int kind;
		bool keys = false;
		/* every key ncurses has, then one draw: a paste is one update */
		while (!t->quit && (kind = wget_wch(stdscr, &ch)) != ERR) {
			on_input(t, kind, ch);
			keys = true;
		}
		if (keys) {
			redraw(t);
			last_draw = clock_monotonic_seconds();
			stale = false;
		}
	}
}

static int tui_open_model(struct tui *t, char *err, size_t err_size)
{
	if (model_runtime_open(t->setup->runtime, &t->runtime, err, err_size) != 0)
		return -1;
	if (t->setup->draft_model &&
	    draft_model_open(t->setup->draft_model, t->setup->runtime->engine, &t->runtime, &t->draft, err, err_size) != 0)
		return -1;
	if (chat_session_create(t->runtime.model, t->runtime.engine, t->runtime.bpe, t->runtime.template_kind,
				&t->session, err, err_size) != 0)
		return -1;
	t->context_length = chat_session_context_length(t->session);
	return 0;
}

static void tui_free(struct tui *t)
{
	chat_session_free(t->session);
	draft_model_free(t->draft);
	model_runtime_close(&t->runtime);
	transcript_free(&t->transcript);
	input_free(&t->input);
	preset_free(&t->preset);
	free(t->system_prompt);
	tui_answer_free(&t->answer);
}

static int tui_prepare(struct tui *t, char *err, size_t err_size)
{
	char problem[512];
	const char *preset = t->setup->preset ? t->setup->preset : "default";
	/* a bad preset or theme is reported, and the defaults are used */
	if (presets_resolve(preset, &t->preset, problem, sizeof problem) != 0) {
		fprintf(stderr, "llmchat: %s; using the default preset\n", problem);
		tui_notice_add(t, TRANSCRIPT_ERROR, "%s; using the default preset", problem);
		presets_resolve("default", &t->preset, err, err_size);
	}
	if (theme_load(t->setup->theme ? t->setup->theme : "default", &t->theme, problem, sizeof problem) != 0) {
		fprintf(stderr, "llmchat: %s; using the default theme\n", problem);
		tui_notice_add(t, TRANSCRIPT_ERROR, "%s; using the default theme", problem);
	}
	/* the conversation to resume is found before the model takes its time to load */
	char resume_path[sizeof t->history.path] = "";
	if (t->setup->resume_from &&
	    history_find(t->setup->resume_from, resume_path, sizeof resume_path, err, err_size) != 0)
		return -1;
	if (t->setup->resume && !t->setup->resume_from &&
	    history_latest_path(resume_path, sizeof resume_path, problem, sizeof problem) != 0)
		resume_path[0] = '\0';
	if (tui_open_model(t, err, err_size) != 0)
		return -1;
	tui_conversation_apply_settings(t);
	const char *system = t->setup->system_prompt ? t->setup->system_prompt : t->preset.system_prompt;
	if (system && tui_conversation_set_system(t, system) != 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (t->setup->resume) {
		if (!resume_path[0]) {
			/* nothing to resume is no failure: a new conversation starts */
			tui_notice_add(t, TRANSCRIPT_INFO, "%s; starting a new one", problem);
			return 0;
		}
		if (tui_conversation_open(t, resume_path, TUI_CONVERSATION_ITS_FILE, err, err_size) != 0)
			return -1;
		tui_notice_add(t, TRANSCRIPT_INFO, "Resumed %s", resume_path);
	}
	return 0;
}

int tui_run(const struct tui_settings *settings)
{
	struct tui t;
	char err[512];
	int status = EXIT_OK;

	memset(&t, 0, sizeof t);
	t.setup = settings;
	sampling_overrides_init(&t.overrides);
	transcript_init(&t.transcript);
	if (tui_answer_init(&t.answer) != 0 || input_init(&t.input) != 0) {
		fprintf(stderr, "llmchat: cannot start the interface: %s\n", strerror(errno));
		tui_free(&t);
		return EXIT_ERROR;
	}
	if (!tui_terminal_usable()) {
		/* say so before a model takes its time to load */
		fprintf(stderr, "llmchat: this terminal (TERM=%s) cannot show the interface (it has no terminfo "
			"entry or cannot move its cursor); use --no-tui, or pipe the message in (echo Hi | llmchat)\n",
			getenv("TERM") ? getenv("TERM") : "");
		tui_free(&t);
		return EXIT_ERROR;
	}
	if (tui_prepare(&t, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		tui_free(&t);
		return EXIT_ERROR;
	}
	restore_prompts(&t);
	install_signals();
	if (screen_start(&t) != 0) {
		fprintf(stderr, "llmchat: cannot start the terminal interface (TERM=%s); try --no-tui\n",
			getenv("TERM") ? getenv("TERM") : "");
		tui_free(&t);
		return EXIT_ERROR;
	}
	stderr_capture(&t);
	tui_conversation_restore_draft(&t);
	event_loop(&t);
	tui_answer_stop(&t, COLS);
	tui_conversation_save_draft(&t);
	screen_end(&t);
	stderr_release(&t);
	if (tui_signal_received)
		status = 128 + tui_signal_received;
	char note[sizeof t.history.path + sizeof t.history.error + 100];
	history_record_exit_note(&t.history, note, sizeof note);
	if (note[0])
		fprintf(stderr, "llmchat: %s\n", note);
	tui_free(&t);
	return status;
}
