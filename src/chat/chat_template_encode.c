/*
 * chat_template_encode.c - a chat prompt as token ids.
 *
 * Special tokens enter by id (bpe_special_id); every stretch of text between two
 * of them, header role names and the system block included, goes through
 * bpe_encode, which never produces a special token.  So text a user typed stays
 * text even when it spells "<|eot_id|>", and otherwise the ids equal what a
 * Hugging Face tokenizer gives for the rendered text with special tokens parsed.
 * Kept apart from chat_template.c so that rendering needs no tokenizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array_grow.h"
#include "bpe.h"
#include "chat_template.h"
#include "chat_template_pieces.h"

/* Appends one id to the caller's array. */
static int push_id(int32_t id, int32_t **ids, size_t *count, size_t *capacity)
{
	int32_t *bigger = array_grow(*ids, capacity, *count, sizeof *bigger, 256);
	if (!bigger)
		return -1;
	*ids = bigger;
	(*ids)[(*count)++] = id;
	return 0;
}

/* Encodes the pieces.  Hugging Face's tokenizer splits the rendered text at special
 * tokens first and pre-tokenizes each stretch between two of them as one string,
 * so adjacent text pieces ("\n\n" and the content) are joined before bpe_encode:
 * encoding them apart could split a word or a run of newlines differently. */
static int encode_pieces(const struct chat_pieces *list, const struct bpe *bpe, int32_t **ids,
			 size_t *id_count, size_t *id_capacity, char *err, size_t err_size)
{
	char *segment = NULL;
	size_t segment_len = 0, segment_cap = 0;
	int status = 0;
	for (size_t i = 0; i <= list->count && status == 0; i++) {
		const struct chat_piece *p = i < list->count ? &list->items[i] : NULL;
		if (p && !p->special) {
			char *bigger = array_reserve(segment, &segment_cap, segment_len + p->length + 1, 1, 256);
			if (!bigger) {
				snprintf(err, err_size, "chat template: out of memory");
				status = -1;
				break;
			}
			segment = bigger;
			memcpy(segment + segment_len, p->text, p->length);
			segment_len += p->length;
			continue;
		}
		if (segment_len) {
			status = bpe_encode(bpe, segment, segment_len, ids, id_count, id_capacity, err, err_size);
			segment_len = 0;
		}
		if (p && status == 0) {
			int32_t id = bpe_special_id(bpe, p->special);
			if (id < 0) {
				snprintf(err, err_size, "tokenizer has no special token %s, which the chat template needs",
					 p->special);
				status = -1;
			} else if (push_id(id, ids, id_count, id_capacity) != 0) {
				snprintf(err, err_size, "chat template: out of memory");
				status = -1;
			}
		}
	}
	free(segment);
	return status;
}

int chat_template_encode(enum chat_template_kind kind, const struct bpe *bpe,
			 const struct chat_message *messages, size_t count,
			 bool add_generation_prompt, const char *today,
			 int32_t **ids, size_t *id_count, size_t *id_capacity,
			 char *err, size_t err_size)
{
	struct chat_pieces list;
	if (chat_pieces_build(kind, messages, count, add_generation_prompt, today, &list, err, err_size) != 0)
		return -1;
	int status = encode_pieces(&list, bpe, ids, id_count, id_capacity, err, err_size);
	chat_pieces_free(&list);
	return status;
}
