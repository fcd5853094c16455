/*
 * bpe.h - tiktoken-style byte-level BPE for Llama 3, knowing nothing of models.
 *
 * A vocabulary maps byte strings to ranks; for Llama 3 the rank of a regular token
 * is its id (0..127999) and special tokens (<|begin_of_text|> ...) follow.
 * Encoding splits text with Llama 3's pre-tokenizer (hand-written over libutf8proc)
 * and merges each piece lowest-rank-first after a whole-piece lookup, exactly as
 * tiktoken does.  Ordinary encoding never produces a special token.
 *
 * Errors: functions that can fail return 0 on success or -1 and write a one-line
 * message into err (err_size bytes).
 */
#ifndef LLMCHAT_BPE_H
#define LLMCHAT_BPE_H

#include <stddef.h>
#include <stdint.h>

struct bpe;

/* Loads a Hugging Face tokenizer.json (byte-level BPE; specials from added_tokens). */
int bpe_load_hf_json(const char *path, struct bpe **out, char *err, size_t err_size);

/* Loads a tiktoken ranks file ("base64 rank" per line) and appends Llama 3's 256
 * special tokens from the id after the last rank. */
int bpe_load_tiktoken(const char *path, struct bpe **out, char *err, size_t err_size);

/* Picks the loader from the file's content (JSON or tiktoken); refuses others. */
int bpe_load_file(const char *path, struct bpe **out, char *err, size_t err_size);

void bpe_free(struct bpe *bpe);

/* Number of ids (regular plus special). */
int32_t bpe_vocab_size(const struct bpe *bpe);

/* Id of a special token by its text ("<|eot_id|>"), or -1. */
int32_t bpe_special_id(const struct bpe *bpe, const char *text);

/* Bytes of token id (not NUL-terminated; *len set), or NULL for an invalid id. */
const unsigned char *bpe_token_bytes(const struct bpe *bpe, int32_t id, size_t *len);

/* Encodes len bytes of text (any bytes; invalid UTF-8 is encoded byte for byte).
 * Appends to *ids (realloc'd; *count and *capacity updated). */
int bpe_encode(const struct bpe *bpe, const char *text, size_t len,
	       int32_t **ids, size_t *count, size_t *capacity, char *err, size_t err_size);

/* Streaming decoder: holds the bytes of a token that ends inside a UTF-8 sequence
 * until the sequence completes, so every chunk it returns is whole UTF-8 (bytes
 * that can never complete are passed through as they are).  A token of any length
 * streams whole: the chunk lives in a buffer the stream grows (bpe_stream_free). */
struct bpe_stream {
	unsigned char pending[4];    /* the start of a sequence (at most 3 bytes) */
	size_t pending_len;
	char *chunk;                 /* the last chunk returned */
	size_t chunk_capacity;
};

void bpe_stream_init(struct bpe_stream *stream);
void bpe_stream_free(struct bpe_stream *stream);

/* Adds token id's bytes and points *text at the bytes ready to show (*length of
 * them, maybe 0), valid until the next call on the stream.  Returns 0, or -1 with
 * a message in err for an id outside the vocabulary or out of memory. */
int bpe_stream_push(struct bpe_stream *stream, const struct bpe *bpe, int32_t id,
		    const char **text, size_t *length, char *err, size_t err_size);

/* Points *text at whatever is still held (an incomplete sequence at the end of the
 * text; *length 0 to 3) and empties the stream; valid until the next call. */
void bpe_stream_flush(struct bpe_stream *stream, const char **text, size_t *length);

#endif
