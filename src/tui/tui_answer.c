/*
 * tui_answer.c - the answer's worker thread and its hand-over to the event loop;
 * see tui_answer.h.
 */
#include "tui_answer.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array_grow.h"
#include "clock.h"
#include "tui.h"
#include "tui_conversation.h"
#include "tui_notice.h"

int tui_answer_init(struct tui_answer *answer)
{
	memset(answer, 0, sizeof *answer);
	answer->wake[0] = answer->wake[1] = -1;
	atomic_init(&answer->cancel, false);
	pthread_mutex_init(&answer->lock, NULL);
	return pipe2(answer->wake, O_NONBLOCK | O_CLOEXEC);
}

void tui_answer_free(struct tui_answer *answer)
{
	free(answer->pending);
	free(answer->question);
	conversation_free(&answer->history_before);
	if (answer->wake[0] >= 0)
		close(answer->wake[0]);
	if (answer->wake[1] >= 0)
		close(answer->wake[1]);
	pthread_mutex_destroy(&answer->lock);
}

int tui_answer_wake_fd(const struct tui_answer *answer)
{
	return answer->wake[0];
}

void tui_answer_cancel(struct tui_answer *answer)
{
	atomic_store(&answer->cancel, true);
}

/* ---- in the worker ------------------------------------------------------------ */

static void wake_event_loop(struct tui_answer *answer, char why)
{
	ssize_t ignored = write(answer->wake[1], &why, 1);   /* a full pipe already wakes the loop */
	(void)ignored;
}

int tui_answer_keep_text(void *user_data, const char *text, size_t length)
{
	struct tui_answer *answer = user_data;
	pthread_mutex_lock(&answer->lock);
	char *p = length < SIZE_MAX - answer->pending_length
			  ? array_reserve(answer->pending, &answer->pending_capacity,
					  answer->pending_length + length + 1, 1, 256)
			  : NULL;
	if (p) {
		answer->pending = p;
		memcpy(answer->pending + answer->pending_length, text, length);
		answer->pending_length += length;
	} else {
		answer->text_lost = true;
	}
	pthread_mutex_unlock(&answer->lock);
	if (!p)
		return 1;
	wake_event_loop(answer, 't');
	long delay_ms = answer->stream_delay_ms;
	if (delay_ms > 0 && !atomic_load(&answer->cancel)) {
		/* slows an answer down enough for a test (or a person) to interrupt it */
		struct timespec pause = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
		nanosleep(&pause, NULL);
	}
	return atomic_load(&answer->cancel) ? 1 : 0;
}

static void *answer_worker(void *arg)
{
	struct tui_answer *answer = arg;
	struct generation_stats stats;
	char err[512] = "";
	memset(&stats, 0, sizeof stats);
	int rc = chat_session_ask(answer->session, answer->question, &answer->settings, &answer->cancel,
				  tui_answer_keep_text, answer, &stats, err, sizeof err);
	pthread_mutex_lock(&answer->lock);
	if (rc == 0 && answer->text_lost) {
		rc = -1;
		snprintf(err, sizeof err, "%s", TUI_ANSWER_TEXT_LOST);
	}
	answer->finished = true;
	answer->status = rc;
	answer->stats = stats;
	snprintf(answer->error, sizeof answer->error, "%s", err);
	pthread_mutex_unlock(&answer->lock);
	wake_event_loop(answer, 'd');
	return NULL;
}

/* ---- in the event loop ------------------------------------------------------------ */

/* The history file is rewritten with the answer so far at most this often: what a
 * kill loses, against a write (and fsync) of the whole conversation. */
#define HISTORY_SAVE_SECONDS 1.0

/* A copy of the conversation with the question, for the saves while the answer
 * streams (the session is the worker's then).  Out of memory: none, and the
 * answer is saved when it ends alone. */
static void keep_history_before(struct tui *t)
{
	struct conversation *c = &t->answer.history_before;
	size_t count = chat_session_message_count(t->session);
	const struct chat_message *m = chat_session_messages(t->session);
	conversation_free(c);
	t->answer.history_saved_at = clock_monotonic_seconds();
	if (!(c->messages = calloc(count + 1, sizeof *c->messages)))
		return;
	for (size_t i = 0; i <= count; i++) {
		const char *text = i < count ? m[i].content : t->answer.question;
		char *copy = strdup(text);
		if (!copy) {
			conversation_free(c);
			return;
		}
		c->messages[c->count++] = (struct chat_message){i < count ? m[i].role : CHAT_ROLE_USER, copy};
	}
}

/* Rewrites the history file with the answer as far as the transcript has it,
 * when HISTORY_SAVE_SECONDS passed since the last write. */
static void save_answer_so_far(struct tui *t)
{
	struct tui_answer *answer = &t->answer;
	const struct transcript_entry *e = transcript_last(&t->transcript, TRANSCRIPT_ASSISTANT);
	double now = clock_monotonic_seconds();
	if (!answer->history_before.count || !e || e->length == 0 || now - answer->history_saved_at < HISTORY_SAVE_SECONDS)
		return;
	answer->history_saved_at = now;
	tui_conversation_save_answering(t, answer->history_before.messages, answer->history_before.count, e->text,
					e->length);
}

/* The question goes back to the editor rather than being lost; an editor holding
 * new text keeps it, and the question goes to the editor's history (Up recalls it).
 * Returns whether the editor got it. */
static bool give_question_back(struct tui *t)
{
	if (t->input.length == 0 && input_set(&t->input, t->answer.question) == 0)
		return true;
	input_history_add(&t->input, t->answer.question);
	return false;
}

int tui_answer_start(struct tui *t, const char *message, bool show_message)
{
	struct tui_answer *answer = &t->answer;
	sigset_t all, old;
	if (!(answer->question = strdup(message)))
		return -1;
	if (show_message)
		transcript_add(&t->transcript, TRANSCRIPT_USER, message, strlen(message));
	transcript_add(&t->transcript, TRANSCRIPT_ASSISTANT, "", 0);
	answer->messages_before = chat_session_message_count(t->session);
	tui_conversation_save(t, answer->question);
	keep_history_before(t);
	answer->session = t->session;
	answer->settings = t->settings;
	answer->stream_delay_ms = t->setup->stream_delay_ms;
	atomic_store(&answer->cancel, false);
	answer->finished = false;
	answer->text_lost = false;
	answer->pending_length = 0;
	t->scroll = 0;
	/* signals belong to the event loop: the worker starts with all of them blocked */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&answer->worker, NULL, answer_worker, answer);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		tui_notice_hint(t, true, "cannot start the answer: %s", strerror(rc));
		transcript_remove_last(&t->transcript);
		if (show_message) {
			transcript_remove_last(&t->transcript);
			give_question_back(t);
		}
		free(answer->question);
		answer->question = NULL;
		conversation_free(&answer->history_before);
		return -1;
	}
	answer->running = true;
	return 0;
}

/* Moves the text streamed so far into the transcript. */
static void fold_pending(struct tui *t, int width)
{
	struct tui_answer *answer = &t->answer;
	char drain[256];
	while (read(answer->wake[0], drain, sizeof drain) > 0)
		;
	pthread_mutex_lock(&answer->lock);
	if (answer->pending_length) {
		size_t before = transcript_row_count(&t->transcript);
		/* into the answer's entry, whatever notices a command added meanwhile */
		transcript_append(&t->transcript, TRANSCRIPT_ASSISTANT, answer->pending, answer->pending_length);
		answer->pending_length = 0;
		if (t->scroll > 0) {
			/* the reader scrolled away: keep the rows they look at still */
			transcript_layout(&t->transcript, width);
			t->scroll += transcript_row_count(&t->transcript) - before;
		}
	}
	pthread_mutex_unlock(&answer->lock);
}

/* Joins the answer's thread (waiting for it when it still runs), keeps its
 * statistics and saves the conversation. */
static void finish_answer(struct tui *t, int width)
{
	struct tui_answer *answer = &t->answer;
	pthread_join(answer->worker, NULL);
	fold_pending(t, width);
	answer->running = false;
	answer->finished = false;
	bool in_editor = false;
	if (chat_session_message_count(t->session) < answer->messages_before + 2) {
		/* the question never reached the model, or was stopped while the model read
		 * it: it leaves the screen (notices after it stay) and goes back to the editor */
		transcript_remove_last_of(&t->transcript, TRANSCRIPT_ASSISTANT);
		transcript_remove_last_of(&t->transcript, TRANSCRIPT_USER);
		in_editor = give_question_back(t);
	}
	if (answer->status != 0) {
		tui_notice_add(t, TRANSCRIPT_ERROR, "error: %s", answer->error);
	} else {
		t->last_stats = answer->stats;
		t->have_stats = true;
		if (answer->stats.left_out_messages > 0)
			tui_notice_add(t, TRANSCRIPT_INFO, "The %d oldest messages no longer fit the context of %d tokens: "
				       "they are left out of what the model reads (the conversation keeps them).",
				       answer->stats.left_out_messages, t->context_length);
		if (answer->stats.cancelled_in_prefill)
			tui_notice_hint(t, false, in_editor ? "Stopped while the model read it: the message is back in "
				"the editor, unsent." : "Stopped while the model read it: the message is unsent (Up "
				"recalls it).");
		else if (answer->stats.cancelled)
			tui_notice_hint(t, false, "Answer stopped; what was produced is kept.");
	}
	free(answer->question);
	answer->question = NULL;
	conversation_free(&answer->history_before);
	t->context_used = chat_session_context_used(t->session);
	tui_conversation_save(t, NULL);
}

void tui_answer_collect(struct tui *t, int width)
{
	struct tui_answer *answer = &t->answer;
	fold_pending(t, width);
	if (answer->running)   /* the status line follows the prompt read, then each token */
		t->context_used = chat_session_context_used(t->session);
	pthread_mutex_lock(&answer->lock);
	bool finished = answer->finished;
	pthread_mutex_unlock(&answer->lock);
	if (finished && answer->running)
		finish_answer(t, width);
	else if (answer->running)
		save_answer_so_far(t);
}

void tui_answer_stop(struct tui *t, int width)
{
	if (!t->answer.running)
		return;
	tui_answer_cancel(&t->answer);
	finish_answer(t, width);
}
