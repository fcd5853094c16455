/*
 * tui_answer.h - the answer in progress: chat_session_ask runs in a worker
 * thread, one per answer, and the event loop folds what it streams into the
 * transcript.  The history file keeps what has come of the answer, rewritten at
 * most about once a second (HISTORY_SAVE_SECONDS in tui_answer.c): a program
 * killed meanwhile loses that much of it.
 *
 * Threads: the worker touches the session and struct tui_answer alone.  The text
 * it streams goes into `pending` under `lock`, and a byte on the `wake` pipe wakes
 * the event loop, which alone touches ncurses, the transcript, the editor and
 * (while no answer runs) the session, but for chat_session_context_used, which
 * another thread may call.  The loop asks the worker to stop through `cancel`, an
 * atomic that chat_session_ask polls between tokens and, while the prompt is read,
 * between the engine's batches.
 *
 * Above the conversation (tui_conversation.h: the history file is saved when an
 * answer starts, about once a second while it streams, and when it ends) and the notices; below the commands (/retry).
 */
#ifndef LLMCHAT_TUI_ANSWER_H
#define LLMCHAT_TUI_ANSWER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "chat_session.h"
#include "history.h"

struct tui;

struct tui_answer {
	bool running;                        /* a worker was started and is not yet joined */
	pthread_t worker;
	int wake[2];                         /* worker -> event loop */
	atomic_bool cancel;                  /* event loop -> worker */

	/* set before the worker starts; it reads them */
	struct chat_session *session;
	struct generation_settings settings;
	long stream_delay_ms;                /* a pause after each streamed piece */
	char *question;                      /* the user message being answered */
	size_t messages_before;              /* the session's message count before the ask */

	/* under lock: */
	pthread_mutex_t lock;
	char *pending;                       /* streamed, not yet in the transcript */
	size_t pending_length, pending_capacity;
	bool finished;
	bool text_lost;                      /* a piece found no memory: the answer stopped there */
	int status;                          /* chat_session_ask's, or -1 when text_lost */
	char error[512];
	struct generation_stats stats;

	/* the event loop's, to keep the answer in the history file as it grows */
	struct conversation history_before;  /* the conversation when the answer began, its question last */
	double history_saved_at;             /* when the history file was last written (monotonic seconds) */
};

/* Makes the lock and the wake pipe.  Returns 0, or -1 with errno set; either way
 * tui_answer_free releases what was made. */
int tui_answer_init(struct tui_answer *answer);
void tui_answer_free(struct tui_answer *answer);

/* The end of the wake pipe the event loop polls: readable when there is text to
 * fold in, or the worker finished. */
int tui_answer_wake_fd(const struct tui_answer *answer);

/* Starts answering message with t->settings: the transcript gets the message
 * (when show_message) and an empty answer, the history file the message.  When
 * no thread can start, an error hint says why, the transcript is as before and
 * a shown message goes back to an empty editor; returns -1. */
int tui_answer_start(struct tui *t, const char *message, bool show_message);

/* Folds the text streamed meanwhile into the answer's entry of the transcript
 * (the last assistant entry: notices added meanwhile stay after it; a reader
 * scrolled up keeps the rows they look at, wrapped at width), updates the context
 * used, and finishes an answer whose worker is done: the statistics for the status
 * line, an error as a notice, a question that never reached the model, or was
 * stopped while the model read it, back to the editor (the conversation is then as
 * before it: no unanswered turn), the history saved. */
void tui_answer_collect(struct tui *t, int width);

/* The worker's chat_text_fn (user_data: the answer): keeps a piece of the answer for
 * the event loop and wakes it.  Returns 1 to stop the answer when it is cancelled, or
 * when the piece finds no memory: then text_lost is set, and the answer ends with
 * TUI_ANSWER_TEXT_LOST as its error (the session, and so the saved conversation, has
 * every piece). */
int tui_answer_keep_text(void *answer, const char *text, size_t length);
#define TUI_ANSWER_TEXT_LOST "no memory for the answer's text on screen: it stopped there (the saved conversation has all of it)"

/* Asks the worker to stop; the next collect finishes the answer. */
void tui_answer_cancel(struct tui_answer *answer);

/* Stops the answer in progress (if any) and finishes it at once. */
void tui_answer_stop(struct tui *t, int width);

#endif
