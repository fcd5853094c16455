/*
 * test_tui_answer.c - what the answer's worker hands the event loop: each streamed
 * piece is kept in order and wakes the loop; a cancel stops the answer and keeps the
 * piece; a piece that finds no memory stops the answer and says so (text_lost), the
 * text kept before it untouched.
 */
#include <poll.h>
#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "tui_answer.h"

static bool wake_readable(const struct tui_answer *answer)
{
	struct pollfd p = {.fd = tui_answer_wake_fd(answer), .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static bool pending_is(const struct tui_answer *answer, const char *text)
{
	return answer->pending_length == strlen(text) && memcmp(answer->pending, text, answer->pending_length) == 0;
}

int main(void)
{
	struct tui_answer answer;
	if (!tap_ok(tui_answer_init(&answer) == 0, "init"))
		return tap_done();
	tap_ok(!wake_readable(&answer), "the loop is not woken before a piece");
	tap_ok(tui_answer_keep_text(&answer, "Hello", 5) == 0 && tui_answer_keep_text(&answer, ", world", 7) == 0,
	       "two pieces kept: the answer goes on");
	tap_ok(pending_is(&answer, "Hello, world"), "pieces kept in order");
	tap_ok(wake_readable(&answer), "a piece wakes the loop");

	/* a length no allocation can hold: array_reserve refuses it before any malloc */
	tap_ok(tui_answer_keep_text(&answer, "x", SIZE_MAX / 2) == 1, "a piece that finds no memory stops the answer");
	tap_ok(answer.text_lost, "and marks the text lost, for the answer's error");
	tap_ok(pending_is(&answer, "Hello, world"), "the text kept before it is untouched");
	tap_ok(strstr(TUI_ANSWER_TEXT_LOST, "memory") && strstr(TUI_ANSWER_TEXT_LOST, "saved conversation"),
	       "the error names the cause and where the text is: %s", TUI_ANSWER_TEXT_LOST);

	answer.text_lost = false;
	tui_answer_cancel(&answer);
	tap_ok(tui_answer_keep_text(&answer, "!", 1) == 1, "after a cancel a piece stops the answer");
	tap_ok(pending_is(&answer, "Hello, world!") && !answer.text_lost, "and is still kept, nothing lost");
	tui_answer_free(&answer);
	return tap_done();
}
