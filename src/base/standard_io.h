/*
 * standard_io.h - standard input read whole, and standard output checked to its end.
 *
 * Every mode that reads standard input reads it here, and every message (pipe mode
 * and --print-prompt, with or without --raw) passes one rule: a NUL byte is refused
 * with its offset, since a message is a C string and cutting it at the NUL would lose
 * the rest silently.  (--tokenize takes any bytes: it encodes them one for one.)
 *
 * Every write to standard output is checked.  A failure is one line, "llmchat:
 * writing standard output: REASON", and status 1; a reader that went away (EPIPE:
 * `llmchat ... | head -c1`) ends the mode quietly with status 141, the status a shell
 * shows for a program killed by SIGPIPE.  main ignores SIGPIPE so that the write
 * fails instead of killing the program mid-line, and pipe mode stops generating.
 */
#ifndef LLMCHAT_STANDARD_IO_H
#define LLMCHAT_STANDARD_IO_H

#include <signal.h>
#include <stddef.h>

/* The process exit statuses every mode returns (modes.h says when each is used). */
enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_SIGNAL_BASE = 128, EXIT_CLOSED_PIPE = 128 + SIGPIPE };

/* Reads all of standard input into *text (malloc'd, NUL-terminated; *length
 * excludes the terminator).  Returns 0, or -1 with a message in err. */
int standard_io_read_input(char **text, size_t *length, char *err, size_t err_size);

/* The rule for a message: returns 0, or -1 with "standard input: the message holds
 * a NUL byte (at offset N)" in err. */
int standard_io_check_message(const char *text, size_t length, char *err, size_t err_size);

/* Reports a failed write to standard output whose errno was error, and returns the
 * exit status: EXIT_CLOSED_PIPE without a word for EPIPE, else EXIT_ERROR after the
 * one-line message. */
int standard_io_write_failed(int error);

/* A mode's last step: flushes and closes standard output; returns EXIT_OK, or what
 * standard_io_write_failed returns when something written never arrived. */
int standard_io_finish(void);

#endif
