/*
 * vocab_json.c - reading a Hugging Face tokenizer.json of byte-level BPE
 * (Llama 3's kind).
 *
 * What is read: model.type must be "BPE"; model.vocab maps token strings to ids,
 * and for byte-level BPE each character of a token string stands for one byte
 * through GPT-2's byte-to-unicode table (printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100..U+0143 in byte order); added_tokens
 * are the special tokens, whose content is plain text.  model.merges (strings
 * "a b" or pairs ["a", "b"]) are checked for syntax only: the tiktoken rule
 * ranks a pair by the id of its concatenation, which Llama 3's merges agree with.
 * The pre-tokenizer must be Llama 3's (a Split on its pattern, then ByteLevel)
 * because that is the one pretokenize.c implements.
 *
 * The vocabulary is read straight from the text with json_scan (see json_scan.h
 * for why not jansson); the small members are parsed with jansson.
 */
#include "bpe_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

static const char LLAMA3_PATTERN[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
	"[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Up to 60 bytes of a file's text, fit for a one-line message: control
 * characters become '?'. */
static const char *for_message(const char *text, size_t len, char *out, size_t out_size)
{
	size_t n = 0;
	for (; n < len && n < 60 && n + 1 < out_size; n++)
		out[n] = (unsigned char)text[n] < 0x20 || text[n] == 0x7F ? '?' : text[n];
	out[n] = '\0';
	return out;
}

/* GPT-2's table, inverted: the byte a code point stands for, or -1. */
static void byte_level_table(int16_t table[324])
{
	int extra = 0;
	for (int cp = 0; cp < 324; cp++)
		table[cp] = -1;
	for (int b = 0; b < 256; b++) {
		int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
		table[printable ? b : 256 + extra++] = (int16_t)b;
	}
}

/* Turns a token string (UTF-8) into its bytes in place; returns the byte count,
 * or -1 when a character is outside the byte-level alphabet. */
static long byte_level_decode(const int16_t table[324], char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		unsigned char b = (unsigned char)s[i];
		unsigned cp;
		if (b < 0x80) {
			cp = b;
			i++;
		} else if ((b & 0xE0) == 0xC0 && i + 1 < len) {
			cp = (unsigned)(b & 0x1F) << 6 | ((unsigned char)s[i + 1] & 0x3F);
			i += 2;
		} else {
			return -1;  /* every byte-level character is below U+0800 */
		}
		if (cp >= 324 || table[cp] < 0)
			return -1;
		s[n++] = (char)table[cp];
	}
	return (long)n;
}

static json_t *parse_member(const char *text, struct json_span span, const char *where,
			    const char *name, char *err, size_t err_size)
{
	json_error_t jerr;
	/* any number JSON allows: an integer past 64 bits is read as a real (ids are then
	 * checked to be integral and in range, by token) rather than refused as a whole */
	json_t *value = json_loadb(text + span.start, span.end - span.start,
				   JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
	if (!value)
		snprintf(err, err_size, "%s: %s: %s", where, name, jerr.text);
	return value;
}

/* Finds {"type": type} anywhere in value (pre_tokenizer and decoder nest them
 * in Sequence lists). */
static const json_t *find_typed(const json_t *value, const char *type)
{
	if (json_is_object(value)) {
		const char *t = json_string_value(json_object_get(value, "type"));
		if (t && strcmp(t, type) == 0)
			return value;
		const char *key;
		json_t *member;
		json_object_foreach((json_t *)value, key, member) {
			const json_t *found = find_typed(member, type);
			if (found)
				return found;
		}
	} else if (json_is_array(value)) {
		size_t i;
		json_t *item;
		json_array_foreach(value, i, item) {
			const json_t *found = find_typed(item, type);
			if (found)
				return found;
		}
	}
	return NULL;
}

/* Refuses a pre-tokenizer other than Llama 3's: pretokenize.c is that one. */
static int check_pre_tokenizer(const char *text, struct json_span pre, struct json_span decoder,
			       const char *where, char *err, size_t err_size)
{
	json_t *pre_value = NULL, *decoder_value = NULL;
	int rc = -1;
	if (pre.end && !(pre_value = parse_member(text, pre, where, "pre_tokenizer", err, err_size)))
		goto out;
	if (decoder.end && !(decoder_value = parse_member(text, decoder, where, "decoder", err, err_size)))
		goto out;
	const json_t *split = find_typed(pre_value, "Split");
	const json_t *byte_level = find_typed(pre_value, "ByteLevel");
	if (!byte_level && !find_typed(decoder_value, "ByteLevel")) {
		snprintf(err, err_size, "%s: not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer or "
			 "decoder; Llama 2 style SentencePiece BPE is not supported)", where);
		goto out;
	}
	if (split) {
		const char *pattern = json_string_value(json_object_get(json_object_get(split, "pattern"), "Regex"));
		if (!pattern || strcmp(pattern, LLAMA3_PATTERN) != 0) {
			char shown[64];
			snprintf(err, err_size, "%s: pre_tokenizer splits on %s, not on Llama 3's pattern", where,
				 pattern ? for_message(pattern, strlen(pattern), shown, sizeof shown) : "no Regex");
			goto out;
		}
	} else if (byte_level && json_is_true(json_object_get(byte_level, "use_regex"))) {
		snprintf(err, err_size, "%s: pre_tokenizer is GPT-2's ByteLevel split, not Llama 3's pattern", where);
		goto out;
	}
	rc = 0;
out:
	json_decref(pre_value);
	json_decref(decoder_value);
	return rc;
}

/* Reads "token": id pairs straight from the vocab object's text. */
static int parse_vocab(struct bpe *bpe, const char *text, struct json_span vocab, const char *where,
		       char *err, size_t err_size)
{
	int16_t table[324];
	char token[4096];
	char msg[200];
	size_t i = vocab.start;
	byte_level_table(table);
	if (text[i] != '{') {
		snprintf(err, err_size, "%s: model.vocab is not an object", where);
		return -1;
	}
	i++;
	json_scan_space(text, vocab.end, &i);
	if (text[i] == '}')
		return 0;
	for (;;) {
		size_t key_at = i;
		long len = json_scan_string(text, vocab.end, &i, token, sizeof token, msg, sizeof msg);
		if (len < 0) {
			snprintf(err, err_size, "%s: model.vocab: %s", where, msg);
			return -1;
		}
		json_scan_space(text, vocab.end, &i);
		i++;  /* ':' (the syntax was checked by json_scan_members) */
		json_scan_space(text, vocab.end, &i);
		long id = 0;
		size_t digits = 0;
		for (; text[i] >= '0' && text[i] <= '9' && id <= BPE_MAX_ID; i++, digits++)
			id = id * 10 + (text[i] - '0');
		if (!digits || text[i] == '.' || text[i] == 'e' || text[i] == 'E' || id > BPE_MAX_ID) {
			snprintf(err, err_size, "%s: model.vocab: the id of the token at byte %zu is not an id",
				 where, key_at);
			return -1;
		}
		long n = byte_level_decode(table, token, (size_t)len);
		if (n < 0) {
			char shown[64];
			snprintf(err, err_size, "%s: model.vocab: token \"%s\" (id %ld) is not byte-level BPE "
				 "(GPT-2 byte-to-unicode characters)", where,
				 for_message(token, (size_t)len, shown, sizeof shown), id);
			return -1;
		}
		if (bpe_set_token(bpe, (int32_t)id, (const unsigned char *)token, (size_t)n, 0,
				  where, err, err_size) < 0)
			return -1;
		json_scan_space(text, vocab.end, &i);
		if (text[i] == '}')
			return 0;
		i++;  /* ',' */
		json_scan_space(text, vocab.end, &i);
	}
}

/* A number as a message shows it: the shortest form that reads back the same (every
 * number is a real here, which jansson would print as "5.0"); "(none)" for no number. */
static void number_text(const json_t *value, char *out, size_t out_size)
{
	snprintf(out, out_size, "(none)");
	if (!json_is_number(value))
		return;
	double number = json_number_value(value);
	for (int digits = 1; digits <= 17; digits++) {
		snprintf(out, out_size, "%.*g", digits, number);
		if (strtod(out, NULL) == number)
			return;
	}
}

/* An added token's id: an integer in [0, BPE_MAX_ID).  With JSON_DECODE_INT_AS_REAL
 * every number is a real; an integral one is exact up to 2^53, far past the limit. */
static int added_token_id(const json_t *id, int32_t *out)
{
	double value = json_number_value(id);
	if (!json_is_number(id) || !(value >= 0 && value < BPE_MAX_ID) || value != (double)(int32_t)value)
		return -1;
	*out = (int32_t)value;
	return 0;
}

/* Special tokens: every added token that is not already the same regular token. */
static int parse_added_tokens(struct bpe *bpe, const char *text, struct json_span span,
			      const char *where, char *err, size_t err_size)
{
	json_t *added = parse_member(text, span, where, "added_tokens", err, err_size);
	size_t i;
	json_t *item;
	int rc = -1;
	if (!added)
		return -1;
	if (!json_is_array(added)) {
		snprintf(err, err_size, "%s: added_tokens is not a list", where);
		goto out;
	}
	json_array_foreach(added, i, item) {
		json_t *id = json_object_get(item, "id");
		const char *content = json_string_value(json_object_get(item, "content"));
		if (!content) {
			snprintf(err, err_size, "%s: added_tokens[%zu] has no string content", where, i);
			goto out;
		}
		size_t len = json_string_length(json_object_get(item, "content"));
		int32_t value;
		if (added_token_id(id, &value) != 0) {
			char shown[64], number[48];
			number_text(id, number, sizeof number);
			snprintf(err, err_size, "%s: added_tokens[%zu] \"%s\": id %s is not an integer in [0, %d)", where, i,
				 for_message(content, len, shown, sizeof shown), number, BPE_MAX_ID);
			goto out;
		}
		size_t have_len;
		const unsigned char *have = bpe_token_bytes(bpe, value, &have_len);
		if (have && have_len == len && memcmp(have, content, len) == 0)
			continue;
		if (bpe_set_token(bpe, value, (const unsigned char *)content, len, 1, where, err, err_size) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(added);
	return rc;
}

int bpe_parse_hf_json(struct bpe *bpe, const char *text, size_t len, const char *where,
		      char *err, size_t err_size)
{
	static const char *const keys[] = {"model", "added_tokens", "pre_tokenizer", "decoder",
					   "model/type", "model/vocab"};
	struct json_span found[6];
	const struct json_span *top = found, *model = found + 4;
	char msg[200];
	size_t start = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;

	if (json_scan_members(text, len, (struct json_span){start, len}, keys, 6, found,
			      msg, sizeof msg) < 0) {
		snprintf(err, err_size, "%s: %s", where, msg);
		return -1;
	}
	if (!top[0].end) {
		snprintf(err, err_size, "%s: no \"model\" member: not a tokenizer.json", where);
		return -1;
	}
	if (text[top[0].start] != '{') {
		snprintf(err, err_size, "%s: \"model\" is not an object", where);
		return -1;
	}
	if (model[0].end) {
		char type[32];
		size_t at = model[0].start;
		long n = text[at] == '"' ? json_scan_string(text, model[0].end, &at, type, sizeof type - 1,
							    msg, sizeof msg) : -1;
		if (n < 0 || (type[n] = '\0', strcmp(type, "BPE") != 0)) {
			char shown[64];
			snprintf(err, err_size, "%s: model type %s is not supported (llmchat reads byte-level "
				 "BPE such as Llama 3's)", where, for_message(text + model[0].start,
				 model[0].end - model[0].start, shown, sizeof shown));
			return -1;
		}
	}
	if (!model[1].end) {
		snprintf(err, err_size, "%s: model has no \"vocab\"", where);
		return -1;
	}
	if (check_pre_tokenizer(text, top[2], top[3], where, err, err_size) < 0 ||
	    parse_vocab(bpe, text, model[1], where, err, err_size) < 0)
		return -1;
	if (top[1].end && parse_added_tokens(bpe, text, top[1], where, err, err_size) < 0)
		return -1;
	return 0;
}
