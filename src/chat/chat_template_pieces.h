/*
 * chat_template_pieces.h - a rendered prompt as special tokens and text spans
 * (internal to chat_template.c and chat_template_encode.c).
 *
 * Rendering concatenates the pieces; encoding maps each special token to its id
 * and runs the text between two specials through the BPE.  One builder for both
 * keeps the text and the ids in agreement.
 */
#ifndef LLMCHAT_CHAT_TEMPLATE_PIECES_H
#define LLMCHAT_CHAT_TEMPLATE_PIECES_H

#include <stdbool.h>
#include <stddef.h>

#include "chat_template.h"

struct chat_piece {
	const char *special;   /* a special token's text ("<|eot_id|>"), or NULL for text */
	const char *text;      /* plain text, not NUL-terminated, borrowed from the
				* messages, a string literal or chat_pieces.date */
	size_t length;
};

struct chat_pieces {
	struct chat_piece *items;
	size_t count;
	size_t capacity;
	char date[64];         /* the date line's date; pieces point into it */
};

/* Builds the prompt's pieces.  The pieces borrow the messages' contents, which
 * must outlive them.  Returns 0, or -1 with a message (nothing to free then). */
int chat_pieces_build(enum chat_template_kind kind, const struct chat_message *messages, size_t count,
		      bool add_generation_prompt, const char *today, struct chat_pieces *pieces,
		      char *err, size_t err_size);

void chat_pieces_free(struct chat_pieces *pieces);

#endif
