/*
 * bpe_conformance.c - compares our encoder with the references on the corpus.
 *
 *   bpe_conformance TOKENIZER CORPUS_JSON EXPECTED_JSON [HF_JSON]
 *
 * Loads TOKENIZER once (bpe_load_file: tokenizer.json or tiktoken), encodes every
 * case of the corpus (tests/tokenizer/corpus.json) and prints one result line
 * per case for tests/tokenizer/tokenizer_conformance.sh to count: "0 NAME" when the ids
 * equal tiktoken's (EXPECTED_JSON, from reference.cjs) and decode back to the
 * text, "1 NAME" and a "#" line with the first difference when not.  With
 * HF_JSON it also reports, as "#" lines only, where the Hugging Face tokenizer
 * disagrees with tiktoken, then a line "0|1 hf-reference-ran" (1 when every
 * HF result is missing: the package failed).
 *
 *   bpe_conformance --classes CLASSES_FILE
 *
 * compares the pre-tokenizer's character classes with JavaScript's Unicode tables
 * (one byte L/N/S/O per code point, from tests/tokenizer/unicode_classes.cjs):
 * they may differ only at code points that libutf8proc's older Unicode version
 * has not assigned yet.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "bpe.h"
#include "pretokenize.h"

static int same_ids(const json_t *want, const int32_t *ids, size_t count)
{
	if (!json_is_array(want) || json_array_size(want) != count)
		return 0;
	for (size_t i = 0; i < count; i++)
		if (json_integer_value(json_array_get(want, i)) != ids[i])
			return 0;
	return 1;
}

/* Prints where got and want first differ. */
static void show_difference(const char *name, const json_t *want, const int32_t *ids, size_t count)
{
	size_t want_count = json_array_size(want), i = 0;
	while (i < count && i < want_count && json_integer_value(json_array_get(want, i)) == ids[i])
		i++;
	printf("# %s: %zu ids, want %zu; first difference at %zu: got", name, count, want_count, i);
	for (size_t k = i; k < count && k < i + 8; k++)
		printf(" %ld", (long)ids[k]);
	printf(", want");
	for (size_t k = i; k < want_count && k < i + 8; k++)
		printf(" %ld", (long)json_integer_value(json_array_get(want, k)));
	printf("\n");
}

/* Why the Hugging Face tokenizer (transformers.js) may tokenize text differently
 * from tiktoken, when a known reason applies. */
static const char *hf_difference_reason(const char *text, size_t len)
{
	if (memmem(text, len, "<|", 2) && memmem(text, len, "|>", 2))
		return "it matches special-token text as added tokens; ordinary encoding must not";
	if (memmem(text, len, "\xEF\xBB\xBF", 3) || memmem(text, len, "\xC2\x85", 2))
		return "JavaScript's \\s counts U+FEFF and not U+0085, unlike Unicode White_Space";
	return "no known reason";
}

static int decodes_back(const struct bpe *bpe, const int32_t *ids, size_t count, const char *text,
			size_t len)
{
	size_t at = 0;
	for (size_t i = 0; i < count; i++) {
		size_t n;
		const unsigned char *bytes = bpe_token_bytes(bpe, ids[i], &n);
		if (!bytes || at + n > len || memcmp(text + at, bytes, n) != 0)
			return 0;
		at += n;
	}
	return at == len;
}

static int compare_classes(const char *path)
{
	FILE *f = fopen(path, "rb");
	static char js[0x110000];
	if (!f || fread(js, 1, sizeof js, f) != sizeof js) {
		printf("1 read %s\n", path);
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	size_t newer = 0, wrong = 0;
	for (int32_t cp = 0; cp < 0x110000; cp++) {
		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		char ours = pretokenize_class(cp);
		if (ours == js[cp])
			continue;
		if (utf8proc_category(cp) == UTF8PROC_CATEGORY_CN) {
			newer++;
			continue;
		}
		if (wrong++ < 20)
			printf("# U+%04lX: ours %c, JavaScript %c\n", (long)cp, ours, js[cp]);
	}
	printf("# %zu code points differ because libutf8proc (Unicode %s) has not assigned them yet\n",
	       newer, utf8proc_unicode_version());
	printf("%d every assigned code point has the class JavaScript's Unicode tables give it (%zu differ)\n",
	       wrong != 0, wrong);
	return wrong != 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--classes") == 0)
		return compare_classes(argv[2]);
	char err[512];
	json_error_t jerr;
	struct bpe *bpe;
	if (argc < 4) {
		fprintf(stderr, "usage: %s TOKENIZER CORPUS_JSON EXPECTED_JSON [HF_JSON]\n", argv[0]);
		return 2;
	}
	if (bpe_load_file(argv[1], &bpe, err, sizeof err) < 0) {
		printf("1 load %s\n# %s\n", argv[1], err);
		return 1;
	}
	/* Texts may hold U+0000, which jansson refuses unless asked. */
	json_t *corpus = json_load_file(argv[2], JSON_ALLOW_NUL, &jerr);
	json_t *expected = corpus ? json_load_file(argv[3], 0, &jerr) : NULL;
	json_t *hf = argc > 4 && expected ? json_load_file(argv[4], 0, &jerr) : NULL;
	if (!corpus || !expected || json_array_size(corpus) != json_array_size(expected) ||
	    (argc > 4 && json_array_size(hf) != json_array_size(corpus))) {
		printf("1 read corpus and expected ids\n# %s\n", jerr.text);
		json_decref(corpus);
		json_decref(expected);
		json_decref(hf);
		bpe_free(bpe);
		return 1;
	}
	int32_t *ids = NULL;
	size_t capacity = 0, hf_missing = 0, hf_differs = 0, failed = 0;
	for (size_t c = 0; c < json_array_size(corpus); c++) {
		const json_t *item = json_array_get(corpus, c);
		const char *name = json_string_value(json_object_get(item, "name"));
		const char *text = json_string_value(json_object_get(item, "text"));
		size_t len = json_string_length(json_object_get(item, "text"));
		const json_t *want = json_array_get(expected, c);
		size_t count = 0;
		if (!name || !text) {
			printf("1 corpus case %zu has a name and a text\n", c);
			failed++;
			continue;
		}
		if (bpe_encode(bpe, text, len, &ids, &count, &capacity, err, sizeof err) < 0) {
			printf("1 %s\n# %s: %s\n", name, name, err);
			failed++;
			continue;
		}
		int ok = same_ids(want, ids, count) && decodes_back(bpe, ids, count, text, len);
		printf("%d %s (%zu bytes, %zu ids)\n", !ok, name, len, count);
		if (!ok) {
			failed++;
			show_difference(name, want, ids, count);
		}
		if (hf) {
			const json_t *hf_ids = json_array_get(hf, c);
			if (json_is_null(hf_ids)) {
				hf_missing++;
			} else if (!json_equal((json_t *)hf_ids, (json_t *)want)) {
				hf_differs++;
				printf("# the Hugging Face tokenizer disagrees with tiktoken on %s (%zu vs %zu ids): %s\n",
				       name, json_array_size(hf_ids), json_array_size(want), hf_difference_reason(text, len));
			}
		}
	}
	if (hf) {
		printf("# Hugging Face tokenizer: %zu cases differ from tiktoken, %zu failed to encode\n",
		       hf_differs, hf_missing);
		printf("%d hf-reference-ran\n", hf_missing == json_array_size(corpus));
	}
	free(ids);
	json_decref(corpus);
	json_decref(expected);
	json_decref(hf);
	bpe_free(bpe);
	return failed ? 1 : 0;
}
