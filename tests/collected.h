/*
 * collected.h - an answer's streamed text gathered by the chat tests: the callback
 * chat_session_ask calls with each piece, and the buffer it fills (zero it first).
 */
#ifndef LLMCHAT_TESTS_COLLECTED_H
#define LLMCHAT_TESTS_COLLECTED_H

#include <stddef.h>
#include <string.h>

struct collected {
	char text[8192];    /* the pieces so far, NUL-terminated; a piece that does not fit is dropped */
	size_t length;
	int calls;          /* how many pieces came */
	int stop_after;     /* the callback returns 1 (stop) from this call on (0: never) */
};

static inline int collect(void *user_data, const char *text, size_t length)
{
	struct collected *c = user_data;
	if (c->length + length < sizeof c->text) {
		memcpy(c->text + c->length, text, length);
		c->length += length;
		c->text[c->length] = '\0';
	}
	c->calls++;
	return c->stop_after && c->calls >= c->stop_after;
}

#endif
