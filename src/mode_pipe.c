/*
 * mode_pipe.c - stdin is one user message, the answer streams to stdout.
 *
 * stdout carries the answer and nothing else (load and speed lines go to
 * stderr), flushed piece by piece so that a reader sees it as it is decoded, and
 * ends with a newline.  The message passes standard_io.h's rule (a NUL byte is
 * refused with its offset, as --print-prompt does), and so do the writes: a
 * reader that goes away ends the answer quietly with status 141, another write
 * error is one line and status 1.
 *
 * SIGINT, SIGTERM and SIGHUP end the answer where it is, in the prefill too: the
 * text so far, the final newline, and status 128 + the signal (130, 143, 129).
 * A signal the caller ignores (nohup, a background job of a script) stays
 * ignored, and a second one of a kind acts at once (the handler is reset).
 *
 * --raw skips the chat template: BOS + stdin's text, and the continuation.
 * LLMCHAT_STREAM_DELAY_MS pauses after each piece, as in the interface (tests).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array_grow.h"
#include "bpe.h"
#include "chat_session.h"
#include "draft_model.h"
#include "engine.h"
#include "model.h"
#include "model_runtime.h"
#include "modes.h"
#include "sampler.h"
#include "standard_io.h"

/* The one piece of global state, what the signal handler reaches: the signal
 * that stops the answer (0: none), and the flag the session and the engine poll.
 * A handler may touch an atomic only when it is lock-free. */
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "a signal handler sets the stop flag: atomic_bool must be lock-free");
static volatile sig_atomic_t pipe_stop_signal;
static atomic_bool pipe_stop_requested;

static void on_stop_signal(int sig)
{
	pipe_stop_signal = sig;
	atomic_store(&pipe_stop_requested, true);
}

/* Catches SIGINT, SIGTERM and SIGHUP, except those the caller ignores.  Writes
 * interrupted by the handler are restarted (SA_RESTART); a pause is not. */
static void catch_stop_signals(void)
{
	static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		struct sigaction old, sa;
		if (sigaction(signals[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN)
			continue;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_stop_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART | SA_RESETHAND;
		sigaction(signals[i], &sa, NULL);
	}
}

struct output {
	FILE *stream;
	int error;          /* errno of the first failed write (EPIPE: the reader went away) */
	long delay_ms;      /* LLMCHAT_STREAM_DELAY_MS */
};

/* chat_text_fn: writes one piece; non-zero stops the answer. */
static int output_write(void *user_data, const char *text, size_t length)
{
	struct output *out = user_data;
	if (out->error)
		return 1;
	if (fwrite(text, 1, length, out->stream) != length || fflush(out->stream) != 0) {
		out->error = errno ? errno : EIO;
		return 1;
	}
	if (out->delay_ms > 0 && !atomic_load(&pipe_stop_requested)) {
		struct timespec pause = {out->delay_ms / 1000, out->delay_ms % 1000 * 1000000L};
		nanosleep(&pause, NULL);   /* a signal ends it early */
	}
	return 0;
}

static bool only_whitespace(const char *text, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (!strchr(" \t\r\n\f\v", text[i]))
			return false;
	return true;
}

static bool is_eos(const struct model_config *c, int32_t token)
{
	for (int i = 0; i < c->eos_token_count; i++)
		if (c->eos_token_ids[i] == token)
			return true;
	return false;
}

/* --raw: BOS + text, then the continuation until EOS, max_tokens, the context's
 * end, a stop signal or a failed write. */
static int continue_raw(struct model_runtime *rt, const char *text, size_t length,
			const struct generation_settings *settings, struct output *out,
			char *err, size_t err_size)
{
	const struct model_config *c = &rt->model->config;
	int32_t *ids = NULL;
	size_t count = 0, capacity = 64;
	float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
	struct sampler *sampler = NULL;
	struct bpe_stream stream;
	const char *piece;
	size_t piece_length;
	int rc = -1;

	bpe_stream_init(&stream);
	if (!logits || !(ids = malloc(capacity * sizeof *ids)))
		goto oom;
	/* the BOS first, then the text */
	if (model_runtime_bos(rt, &ids[count], err, err_size) != 0)
		goto done;
	count++;
	if (bpe_encode(rt->bpe, text, length, &ids, &count, &capacity, err, err_size) != 0)
		goto done;
	int context = engine_context_length(rt->engine);
	if (count >= (size_t)context) {
		snprintf(err, err_size, "prompt is %zu tokens but the context holds %d; use --ctx", count, context);
		goto done;
	}
	if (sampler_create(c->vocab_size, &settings->sampling, &sampler, err, err_size) != 0)
		goto done;
	int prefilled = engine_prefill(rt->engine, ids, count, logits, &pipe_stop_requested, err, err_size);
	if (prefilled != 0) {
		rc = prefilled > 0 ? 0 : -1;
		goto done;
	}
	for (int generated = 0; settings->max_tokens <= 0 || generated < settings->max_tokens; generated++) {
		int32_t token = sampler_sample(sampler, logits, ids, count);
		if (is_eos(c, token))
			break;
		if (bpe_stream_push(&stream, rt->bpe, token, &piece, &piece_length, err, err_size) != 0)
			goto done;
		if (piece_length > 0 && output_write(out, piece, piece_length) != 0)
			break;
		if (atomic_load(&pipe_stop_requested))
			break;
		int32_t *more = array_grow(ids, &capacity, count, sizeof *ids, 64);
		if (!more)
			goto oom;
		ids = more;
		ids[count++] = token;
		/* generation_config.json's max_length counts the prompt too, as in transformers */
		if (engine_position(rt->engine) >= context ||
		    (settings->max_length > 0 && count >= (size_t)settings->max_length))
			break;
		if (engine_forward(rt->engine, &token, 1, logits, false, err, err_size) != 0)
			goto done;
	}
	/* an incomplete character at the end: its bytes, as they are */
	bpe_stream_flush(&stream, &piece, &piece_length);
	if (piece_length > 0 && !atomic_load(&pipe_stop_requested))
		output_write(out, piece, piece_length);
	rc = 0;
	goto done;
oom:
	snprintf(err, err_size, "out of memory");
done:
	bpe_stream_free(&stream);
	sampler_free(sampler);
	free(ids);
	free(logits);
	return rc;
}

/* The chat: the message as the user's turn of the model's template. */
static int answer_chat(struct model_runtime *rt, const struct options *opts, const char *message,
		       const struct generation_settings *settings, struct output *out, struct generation_stats *stats,
		       char *err, size_t err_size)
{
	struct chat_session *session;
	if (chat_session_create(rt->model, rt->engine, rt->bpe, rt->template_kind, &session, err, err_size) != 0)
		return -1;
	int rc = 0;
	if (opts->system_prompt && chat_session_set_system(session, opts->system_prompt) != 0) {
		snprintf(err, err_size, "out of memory");
		rc = -1;
	}
	if (rc == 0)
		rc = chat_session_ask(session, message, settings, &pipe_stop_requested, output_write, out, stats,
				      err, err_size);
	chat_session_free(session);
	return rc;
}

int mode_pipe(const struct options *opts)
{
	struct model_runtime rt;
	struct output out = {stdout, 0, 0};
	struct generation_settings settings;
	struct generation_stats stats = {0};
	char err[1024], *message = NULL;
	size_t length = 0;

	/* pipe mode answers one message: a conversation to go on with is the interface's */
	if (opts->resume) {
		fprintf(stderr, "llmchat: --resume goes on with a conversation in the interactive interface; "
				"pipe mode (standard input or output not a terminal, or --no-tui) answers one message\n");
		return EXIT_USAGE;
	}
	/* --no-tui on a terminal: say how to send, as the terminal reads to the end */
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "llmchat: type your message, then Ctrl-D on a line of its own to send it\n");
	if (standard_io_read_input(&message, &length, err, sizeof err) != 0 ||
	    standard_io_check_message(message, length, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		free(message);
		return EXIT_ERROR;
	}
	if (only_whitespace(message, length)) {
		fprintf(stderr, "llmchat: empty message on stdin\n");
		free(message);
		return EXIT_ERROR;
	}
	if (options_open_runtime(opts, &rt, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		free(message);
		return EXIT_ERROR;
	}
	struct draft_model *draft = NULL;
	if (options_open_draft(opts, &rt, &draft, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		model_runtime_close(&rt);
		free(message);
		return EXIT_ERROR;
	}
	model_runtime_generation_settings(&rt, &opts->sampling, &settings);
	options_speculation(opts, draft, &settings.speculation);
	out.delay_ms = opts->stream_delay_ms;

	catch_stop_signals();
	int rc = opts->raw ? continue_raw(&rt, message, length, &settings, &out, err, sizeof err)
			   : answer_chat(&rt, opts, message, &settings, &out, &stats, err, sizeof err);
	if (rc == 0)
		output_write(&out, "\n", 1);
	int status = EXIT_OK;
	if (rc != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		status = EXIT_ERROR;
	} else if (out.error) {
		status = standard_io_write_failed(out.error);
	} else if (pipe_stop_signal) {
		status = EXIT_SIGNAL_BASE + pipe_stop_signal;
	} else if (!opts->raw && stats.generated_tokens > 0) {
		fprintf(stderr, "llmchat: %d prompt tokens, %d generated, first after %.2f s, %.1f tokens/s\n",
			stats.prompt_tokens, stats.generated_tokens, stats.time_to_first_token,
			stats.tokens_per_second);
		if (settings.speculation.propose)
			fprintf(stderr, "llmchat: %s%s: %d steps proposed %d tokens, %d accepted (%.0f%%), %.2f tokens a step\n",
				draft ? "draft " : "lookup", draft ? draft_model_name(draft) : "", stats.speculation_steps, stats.proposed_tokens, stats.accepted_tokens,
				stats.proposed_tokens ? 100.0 * stats.accepted_tokens / stats.proposed_tokens : 0.0,
				stats.speculation_steps ? (double)(stats.accepted_tokens + stats.speculation_steps) / stats.speculation_steps : 0.0);
	}
	draft_model_free(draft);
	model_runtime_close(&rt);
	free(message);
	return status;
}
