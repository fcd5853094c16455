/*
 * bpe.c - encoding and decoding with a loaded vocabulary.
 *
 * Encoding follows tiktoken: the pre-tokenizer cuts the text into pieces; a piece
 * that is itself a regular token becomes that token; otherwise the piece starts
 * as single bytes and the adjacent pair whose concatenation has the lowest rank
 * is merged, the leftmost on a tie, until no adjacent pair is a token.  Short
 * pieces (nearly all) do this in a linked list on the stack with a linear search
 * for the lowest rank, as tiktoken does; long pieces use a heap so that a megabyte
 * without a break costs n log n rather than n squared.  Lookups go through the
 * rank table without copying, so the hot path allocates nothing but the
 * caller's growing id array.
 */
#include "bpe_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pretokenize.h"

/* Pieces up to this many bytes merge on the stack. */
#define SHORT_PIECE 128
#define NO_RANK INT32_MAX

/* ---- building ------------------------------------------------------------ */

struct bpe *bpe_create(void)
{
	struct bpe *bpe = calloc(1, sizeof *bpe);
	if (bpe)
		for (int b = 0; b < 256; b++)
			bpe->byte_rank[b] = -1;
	return bpe;
}

/* A capacity for need items, doubling from current (1024 the first time). */
static size_t doubled_capacity(size_t current, size_t need)
{
	size_t cap = current ? current : 1024;
	while (cap < need)
		cap *= 2;
	return cap;
}

static int grow_tokens(struct bpe *bpe, size_t need)
{
	if (need <= bpe->tokens_cap)
		return 0;
	size_t cap = doubled_capacity(bpe->tokens_cap, need);
	struct token_span *tokens = realloc(bpe->tokens, cap * sizeof *tokens);
	if (!tokens)
		return -1;
	bpe->tokens = tokens;
	unsigned char *special = realloc(bpe->special, cap);
	if (!special)
		return -1;
	bpe->special = special;
	memset(bpe->tokens + bpe->tokens_cap, 0, (cap - bpe->tokens_cap) * sizeof *tokens);
	memset(bpe->special + bpe->tokens_cap, 0, cap - bpe->tokens_cap);
	bpe->tokens_cap = cap;
	return 0;
}

static int grow_bytes(struct bpe *bpe, size_t need)
{
	if (need <= bpe->bytes_cap)
		return 0;
	size_t cap = bpe->bytes_cap ? bpe->bytes_cap : 1 << 16;
	while (cap < need)
		cap *= 2;
	unsigned char *bytes = realloc(bpe->bytes, cap);
	if (!bytes)
		return -1;
	bpe->bytes = bytes;
	bpe->bytes_cap = cap;
	return 0;
}

int bpe_set_token(struct bpe *bpe, int32_t id, const unsigned char *bytes, size_t len,
		  int special, const char *where, char *err, size_t err_size)
{
	if (id < 0 || id >= BPE_MAX_ID) {
		snprintf(err, err_size, "%s: token id %ld is out of range", where, (long)id);
		return -1;
	}
	if (len == 0 || len > UINT32_MAX / 2) {
		snprintf(err, err_size, "%s: token id %ld has no bytes", where, (long)id);
		return -1;
	}
	if (bpe->bytes_len + len > UINT32_MAX) {
		snprintf(err, err_size, "%s: the vocabulary is too large", where);
		return -1;
	}
	if (grow_tokens(bpe, (size_t)id + 1) < 0 || grow_bytes(bpe, bpe->bytes_len + len) < 0) {
		snprintf(err, err_size, "%s: out of memory", where);
		return -1;
	}
	if (bpe->tokens[id].len) {
		snprintf(err, err_size, "%s: token id %ld is given twice", where, (long)id);
		return -1;
	}
	memcpy(bpe->bytes + bpe->bytes_len, bytes, len);
	bpe->tokens[id].start = (uint32_t)bpe->bytes_len;
	bpe->tokens[id].len = (uint32_t)len;
	bpe->special[id] = special ? 1 : 0;
	bpe->bytes_len += len;
	if (id >= bpe->vocab_size)
		bpe->vocab_size = id + 1;
	if (len > bpe->max_token_len)
		bpe->max_token_len = len;
	return 0;
}

int bpe_finish(struct bpe *bpe, const char *where, char *err, size_t err_size)
{
	size_t regular = 0, specials = 0;
	for (int32_t id = 0; id < bpe->vocab_size; id++) {
		if (!bpe->tokens[id].len)
			continue;
		if (bpe->special[id])
			specials++;
		else
			regular++;
	}
	if (regular == 0) {
		snprintf(err, err_size, "%s: the vocabulary has no tokens", where);
		return -1;
	}
	if (rank_table_init(&bpe->ranks, regular) < 0 ||
	    !(bpe->pair_rank = malloc(65536 * sizeof *bpe->pair_rank)) ||
	    !(bpe->special_ids = malloc((specials ? specials : 1) * sizeof *bpe->special_ids))) {
		snprintf(err, err_size, "%s: out of memory", where);
		return -1;
	}
	for (size_t i = 0; i < 65536; i++)
		bpe->pair_rank[i] = NO_RANK;
	for (int32_t id = 0; id < bpe->vocab_size; id++) {
		const struct token_span *t = &bpe->tokens[id];
		if (!t->len)
			continue;
		if (bpe->special[id]) {
			bpe->special_ids[bpe->special_count++] = id;
			continue;
		}
		if (rank_table_insert(&bpe->ranks, bpe->tokens, bpe->bytes, id) != 0) {
			int32_t other = rank_table_find(&bpe->ranks, bpe->tokens, bpe->bytes,
							bpe->bytes + t->start, t->len);
			snprintf(err, err_size, "%s: token ids %ld and %ld have the same bytes",
				 where, (long)other, (long)id);
			return -1;
		}
		if (t->len == 1)
			bpe->byte_rank[bpe->bytes[t->start]] = id;
		if (t->len == 2)
			bpe->pair_rank[bpe->bytes[t->start] << 8 | bpe->bytes[t->start + 1]] = id;
	}
	return 0;
}

void bpe_free(struct bpe *bpe)
{
	if (!bpe)
		return;
	rank_table_free(&bpe->ranks);
	free(bpe->tokens);
	free(bpe->special);
	free(bpe->bytes);
	free(bpe->special_ids);
	free(bpe->pair_rank);
	free(bpe);
}

/* ---- queries --------------------------------------------------------------- */

int32_t bpe_vocab_size(const struct bpe *bpe)
{
	return bpe->vocab_size;
}

int32_t bpe_special_id(const struct bpe *bpe, const char *text)
{
	size_t len = strlen(text);
	for (size_t i = 0; i < bpe->special_count; i++) {
		const struct token_span *t = &bpe->tokens[bpe->special_ids[i]];
		if (t->len == len && memcmp(bpe->bytes + t->start, text, len) == 0)
			return bpe->special_ids[i];
	}
	return -1;
}

const unsigned char *bpe_token_bytes(const struct bpe *bpe, int32_t id, size_t *len)
{
	if (id < 0 || id >= bpe->vocab_size || bpe->tokens[id].len == 0)
		return NULL;
	*len = bpe->tokens[id].len;
	return bpe->bytes + bpe->tokens[id].start;
}

/* ---- encoding -------------------------------------------------------------- */

/* Working memory for long pieces, grown as needed and kept for one bpe_encode call. */
struct heap_entry {
	int32_t rank;
	uint32_t start;  /* the pair's bytes are [start, end) of the piece */
	uint32_t end;
};

struct long_scratch {
	uint32_t *next;          /* next[i]: start of the part after the part at i */
	uint32_t *prev;
	int32_t *token;          /* token of the part that starts at i */
	struct heap_entry *heap;
	size_t cap;              /* pieces of up to cap bytes fit */
	size_t heap_len;
};

static int scratch_reserve(struct long_scratch *sc, size_t len)
{
	if (len <= sc->cap)
		return 0;
	size_t cap = doubled_capacity(sc->cap, len);
	uint32_t *next = realloc(sc->next, (cap + 1) * sizeof *next);
	if (next) sc->next = next;
	uint32_t *prev = realloc(sc->prev, (cap + 1) * sizeof *prev);
	if (prev) sc->prev = prev;
	int32_t *token = realloc(sc->token, (cap + 1) * sizeof *token);
	if (token) sc->token = token;
	struct heap_entry *heap = realloc(sc->heap, 3 * (cap + 1) * sizeof *heap);
	if (heap) sc->heap = heap;
	if (!next || !prev || !token || !heap)
		return -1;
	sc->cap = cap;
	return 0;
}

static void scratch_free(struct long_scratch *sc)
{
	free(sc->next);
	free(sc->prev);
	free(sc->token);
	free(sc->heap);
}

static inline int32_t lookup(const struct bpe *bpe, const unsigned char *p, size_t len)
{
	return rank_table_find(&bpe->ranks, bpe->tokens, bpe->bytes, p, len);
}

static inline int heap_less(const struct heap_entry *a, const struct heap_entry *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->start < b->start);
}

static void heap_push(struct long_scratch *sc, struct heap_entry e)
{
	size_t i = sc->heap_len++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!heap_less(&e, &sc->heap[parent]))
			break;
		sc->heap[i] = sc->heap[parent];
		i = parent;
	}
	sc->heap[i] = e;
}

static struct heap_entry heap_pop(struct long_scratch *sc)
{
	struct heap_entry top = sc->heap[0];
	struct heap_entry last = sc->heap[--sc->heap_len];
	size_t i = 0, n = sc->heap_len;
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && heap_less(&sc->heap[child + 1], &sc->heap[child]))
			child++;
		if (!heap_less(&sc->heap[child], &last))
			break;
		sc->heap[i] = sc->heap[child];
		i = child;
	}
	if (n)
		sc->heap[i] = last;
	return top;
}

/* Pushes the pair of parts starting at start (if it has a right neighbour and is a token). */
static void push_pair(const struct bpe *bpe, struct long_scratch *sc, const unsigned char *p,
		      uint32_t len, uint32_t start)
{
	uint32_t mid = sc->next[start];
	if (mid >= len)
		return;
	uint32_t end = sc->next[mid];
	int32_t rank = lookup(bpe, p + start, end - start);
	if (rank >= 0)
		heap_push(sc, (struct heap_entry){rank, start, end});
}

/* The merge loop for a long piece: a linked list of parts over byte offsets and a
 * heap of candidate pairs ordered by (rank, start).  An entry is stale when its
 * left part is gone or no longer ends where the entry says; the bytes of a pair
 * fix its rank, so a live entry's rank is current. */
static void merge_long(const struct bpe *bpe, struct long_scratch *sc, const unsigned char *p,
		       uint32_t len, int32_t *out, size_t *out_count)
{
	for (uint32_t i = 0; i < len; i++) {
		sc->next[i] = i + 1;
		sc->prev[i] = i ? i - 1 : UINT32_MAX;
		sc->token[i] = bpe->byte_rank[p[i]];
	}
	sc->heap_len = 0;
	for (uint32_t i = 0; i + 1 < len; i++)
		push_pair(bpe, sc, p, len, i);
	while (sc->heap_len) {
		struct heap_entry e = heap_pop(sc);
		if (sc->token[e.start] < 0)
			continue;  /* left part was merged into its left neighbour */
		uint32_t mid = sc->next[e.start];
		if (mid >= len || sc->next[mid] != e.end)
			continue;  /* the pair changed since the entry was pushed */
		sc->token[e.start] = e.rank;
		sc->token[mid] = -1;
		sc->next[e.start] = e.end;
		if (e.end < len)
			sc->prev[e.end] = e.start;
		if (sc->prev[e.start] != UINT32_MAX)
			push_pair(bpe, sc, p, len, sc->prev[e.start]);
		push_pair(bpe, sc, p, len, e.start);
	}
	for (uint32_t i = 0; i < len; i = sc->next[i])
		out[(*out_count)++] = sc->token[i];
}

/* The merge loop for a short piece, tiktoken's rule over a linked list: parts
 * are named by the offset where they start, next[] links them, and rank[i] is
 * the rank of part i joined with the part after it.  Each round scans the parts
 * for the lowest rank (the leftmost on a tie), merges, and looks up the two
 * pairs that changed; nothing is moved. */
static void merge_short(const struct bpe *bpe, const unsigned char *p, size_t len,
			int32_t *out, size_t *out_count)
{
	uint8_t next[SHORT_PIECE + 1], prev[SHORT_PIECE + 1];
	int32_t rank[SHORT_PIECE];
	int32_t token[SHORT_PIECE];
	for (size_t i = 0; i < len; i++) {
		next[i] = (uint8_t)(i + 1);
		prev[i] = (uint8_t)(i ? i - 1 : 0);  /* prev[0] is never read */
		token[i] = bpe->byte_rank[p[i]];
		rank[i] = i + 1 < len ? bpe->pair_rank[p[i] << 8 | p[i + 1]] : NO_RANK;
	}
	for (;;) {
		size_t k = 0;
		int32_t best = rank[0];
		for (size_t i = next[0]; i < len; i = next[i])
			if (rank[i] < best) {
				best = rank[i];
				k = i;
			}
		if (best == NO_RANK)
			break;
		/* Part k absorbs the part after it. */
		size_t after = next[next[k]];
		token[k] = best;
		next[k] = (uint8_t)after;
		rank[k] = NO_RANK;
		if (after < len) {
			prev[after] = (uint8_t)k;
			int32_t r = lookup(bpe, p + k, next[after] - k);
			if (r >= 0)
				rank[k] = r;
		}
		if (k > 0) {
			size_t before = prev[k];
			int32_t r = lookup(bpe, p + before, after - before);
			rank[before] = r < 0 ? NO_RANK : r;
		}
	}
	for (size_t i = 0; i < len; i = next[i])
		out[(*out_count)++] = token[i];
}

static int grow_ids(int32_t **ids, size_t *capacity, size_t need)
{
	if (need <= *capacity)
		return 0;
	size_t cap = *capacity ? *capacity : 256;
	while (cap < need)
		cap *= 2;
	int32_t *grown = realloc(*ids, cap * sizeof *grown);
	if (!grown)
		return -1;
	*ids = grown;
	*capacity = cap;
	return 0;
}

/* Fails only when a byte of the piece has no token (a truncated vocabulary). */
static int check_bytes(const struct bpe *bpe, const unsigned char *p, size_t len,
		       char *err, size_t err_size)
{
	for (size_t i = 0; i < len; i++)
		if (bpe->byte_rank[p[i]] < 0) {
			snprintf(err, err_size, "the vocabulary has no token for byte 0x%02x", p[i]);
			return -1;
		}
	return 0;
}

int bpe_encode(const struct bpe *bpe, const char *text, size_t len,
	       int32_t **ids, size_t *count, size_t *capacity, char *err, size_t err_size)
{
	const unsigned char *s = (const unsigned char *)text;
	struct long_scratch scratch = {0};
	size_t pos = 0;
	int rc = 0;
	while (pos < len) {
		size_t end = pretokenize_next(s, len, pos);
		const unsigned char *piece = s + pos;
		size_t piece_len = end - pos;
		pos = end;
		if (grow_ids(ids, capacity, *count + piece_len) < 0) {
			snprintf(err, err_size, "out of memory encoding %zu bytes", len);
			rc = -1;
			break;
		}
		int32_t whole = lookup(bpe, piece, piece_len);
		if (whole >= 0) {
			(*ids)[(*count)++] = whole;
			continue;
		}
		if (check_bytes(bpe, piece, piece_len, err, err_size) < 0) {
			rc = -1;
			break;
		}
		if (piece_len <= SHORT_PIECE) {
			merge_short(bpe, piece, piece_len, *ids, count);
			continue;
		}
		if (piece_len >= UINT32_MAX || scratch_reserve(&scratch, piece_len) < 0) {
			snprintf(err, err_size, "out of memory encoding a piece of %zu bytes", piece_len);
			rc = -1;
			break;
		}
		merge_long(bpe, &scratch, piece, (uint32_t)piece_len, *ids, count);
	}
	scratch_free(&scratch);
	return rc;
}

/* ---- streaming decoder ---------------------------------------------------- */

void bpe_stream_init(struct bpe_stream *stream)
{
	stream->pending_len = 0;
	stream->chunk = NULL;
	stream->chunk_capacity = 0;
}

void bpe_stream_free(struct bpe_stream *stream)
{
	free(stream->chunk);
	bpe_stream_init(stream);
}

/* How many bytes at the end of buf[0..len) are the start of a UTF-8 sequence
 * that more bytes could still complete validly (0 to 3). */
static size_t incomplete_tail(const unsigned char *buf, size_t len)
{
	for (size_t k = 1; k <= 3 && k <= len; k++) {
		unsigned lead = buf[len - k];
		if (lead >= 0x80 && lead <= 0xBF)
			continue;  /* a continuation byte: look further back */
		size_t need;
		unsigned lo = 0x80, hi = 0xBF;
		if (lead >= 0xC2 && lead <= 0xDF) need = 2;
		else if (lead >= 0xE0 && lead <= 0xEF) need = 3;
		else if (lead >= 0xF0 && lead <= 0xF4) need = 4;
		else return 0;
		if (k >= need)
			return 0;  /* complete (or too many continuations): nothing to wait for */
		if (lead == 0xE0) lo = 0xA0;
		if (lead == 0xED) hi = 0x9F;
		if (lead == 0xF0) lo = 0x90;
		if (lead == 0xF4) hi = 0x8F;
		if (k >= 2 && (buf[len - k + 1] < lo || buf[len - k + 1] > hi))
			return 0;  /* the second byte already rules the sequence out */
		return k;
	}
	return 0;
}

int bpe_stream_push(struct bpe_stream *stream, const struct bpe *bpe, int32_t id,
		    const char **text, size_t *length, char *err, size_t err_size)
{
	size_t len;
	const unsigned char *bytes = bpe_token_bytes(bpe, id, &len);
	if (!bytes) {
		snprintf(err, err_size, "token id %ld is outside the vocabulary (0..%ld)", (long)id,
			 (long)bpe_vocab_size(bpe) - 1);
		return -1;
	}
	size_t total = stream->pending_len + len;
	if (total > stream->chunk_capacity || !stream->chunk) {
		/* the longest token so far decides: grown once, rarely again */
		size_t capacity = total < 256 ? 256 : total;
		char *chunk = realloc(stream->chunk, capacity);
		if (!chunk) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		stream->chunk = chunk;
		stream->chunk_capacity = capacity;
	}
	memcpy(stream->chunk, stream->pending, stream->pending_len);
	memcpy(stream->chunk + stream->pending_len, bytes, len);
	size_t hold = incomplete_tail((const unsigned char *)stream->chunk, total);
	memcpy(stream->pending, stream->chunk + total - hold, hold);
	stream->pending_len = hold;
	*text = stream->chunk;
	*length = total - hold;
	return 0;
}

void bpe_stream_flush(struct bpe_stream *stream, const char **text, size_t *length)
{
	/* the bytes stay in pending until the next push overwrites them */
	*text = (const char *)stream->pending;
	*length = stream->pending_len;
	stream->pending_len = 0;
}
