/*
 * tui_conversation.h - the interface's conversation beyond the screen: the
 * settings an answer uses, the system prompt, the history file that keeps every
 * exchange, /load and --resume, and the draft left in the editor at the end.
 *
 * Below the answer and the commands: of the interface it calls only the notices
 * (tui_notice.h), the transcript and the editor.
 */
#ifndef LLMCHAT_TUI_CONVERSATION_H
#define LLMCHAT_TUI_CONVERSATION_H

#include <stddef.h>

struct tui;
struct chat_message;

/* Resolves the settings an answer uses into t->settings: /set > flags and config
 * file > preset > the model's defaults. */
void tui_conversation_apply_settings(struct tui *t);

/* Sets (NULL: removes) the system prompt of the session.  Returns 0, or -1 when
 * out of memory (nothing changed). */
int tui_conversation_set_system(struct tui *t, const char *prompt);

/* Saves the conversation into its history file (named at the first save), with
 * unanswered (may be NULL), the user message being answered, after the session's
 * messages.  Nothing said yet: no file; a file already named follows the
 * conversation even when it empties (a message taken back while the model read
 * it leaves the file too).  A failed save is an error hint and goes
 * into t->history for the note at exit. */
void tui_conversation_save(struct tui *t, const char *unanswered);

/* While an answer streams (the session is the worker's then): saves before, the
 * conversation as it was when the answer began with its question last, then the
 * answer as far as it has come, marked as being written (history.h), so that a
 * program killed meanwhile loses at most the text since this save. */
void tui_conversation_save_answering(struct tui *t, const struct chat_message *before, size_t count,
				     const char *answer, size_t answer_length);

/* Which file a conversation opened from a file goes on in. */
enum tui_conversation_file {
	TUI_CONVERSATION_NEW_FILE,   /* a new one of the history folder; the file read stays as it is (/load) */
	TUI_CONVERSATION_ITS_FILE,   /* the file read (--resume, /history N), when it is in the history folder;
				      * one elsewhere is the user's own: a new file, as NEW_FILE */
};

/* Replaces the session's conversation and the transcript with the one saved in
 * path; the system prompt becomes the file's, the status line's context count
 * the conversation's tokens.  A conversation that ends on a user message or on an
 * answer cut short (the program stopped while answering) says so in a notice,
 * with what /retry and /edit do.  Returns 0, or -1 with the reason in err
 * (nothing changed). */
int tui_conversation_open(struct tui *t, const char *path, enum tui_conversation_file file, char *err,
			  size_t err_size);

/* Text left in the editor when the program ends waits in
 * $XDG_STATE_HOME/llmchat/draft.txt (a failure to keep it is a line on stderr);
 * the next start puts it back in the editor, says so in a hint, and removes the
 * file. */
void tui_conversation_save_draft(const struct tui *t);
void tui_conversation_restore_draft(struct tui *t);

#endif
