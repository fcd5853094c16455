/*
 * tokenizer_bench.c - how fast the tokenizer loads and encodes (not a test).
 *
 *   tokenizer_bench TOKENIZER TEXT_FILE [IDS_OUT]
 *
 * Loads TOKENIZER (bpe_load_file) three times and encodes all of TEXT_FILE three
 * times on one thread, and prints the best of each as "key value" lines:
 * load_ms, bytes, ids, mb_per_s (10^6 bytes of text a second).  With IDS_OUT it
 * also writes the ids, one line of decimal numbers, so a script can compare them
 * with another tokenizer's.  bench/tokenizer.sh and bench/tokenizer_device.sh
 * run it next to the reference tiktoken builds.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bpe.h"
#include "clock.h"

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	if (!f)
		return NULL;
	do {
		if (n == cap) {
			char *grown = realloc(buf, cap = cap ? 2 * cap : 1 << 20);
			if (!grown) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	char err[512];
	struct bpe *bpe = NULL;
	double best_load = 1e9, best_encode = 1e9;
	if (argc < 3) {
		fprintf(stderr, "usage: %s TOKENIZER TEXT_FILE [IDS_OUT]\n", argv[0]);
		return 2;
	}
	for (int run = 0; run < 3; run++) {
		bpe_free(bpe);
		double t = clock_monotonic_seconds();
		if (bpe_load_file(argv[1], &bpe, err, sizeof err) < 0) {
			fprintf(stderr, "tokenizer_bench: %s\n", err);
			return 1;
		}
		t = clock_monotonic_seconds() - t;
		if (t < best_load)
			best_load = t;
	}
	size_t len;
	char *text = read_all(argv[2], &len);
	if (!text) {
		fprintf(stderr, "tokenizer_bench: cannot read %s\n", argv[2]);
		bpe_free(bpe);
		return 1;
	}
	int32_t *ids = NULL;
	size_t count = 0, capacity = 0;
	for (int run = 0; run < 3; run++) {
		count = 0;
		double t = clock_monotonic_seconds();
		if (bpe_encode(bpe, text, len, &ids, &count, &capacity, err, sizeof err) < 0) {
			fprintf(stderr, "tokenizer_bench: %s\n", err);
			return 1;
		}
		t = clock_monotonic_seconds() - t;
		if (t < best_encode)
			best_encode = t;
	}
	printf("load_ms %.1f\nbytes %zu\nids %zu\nmb_per_s %.2f\n", best_load * 1e3, len, count,
	       (double)len / best_encode / 1e6);
	if (argc > 3) {
		FILE *out = fopen(argv[3], "w");
		if (!out) {
			fprintf(stderr, "tokenizer_bench: cannot write %s\n", argv[3]);
			return 1;
		}
		for (size_t i = 0; i < count; i++)
			fprintf(out, i ? " %ld" : "%ld", (long)ids[i]);
		fputc('\n', out);
		fclose(out);
	}
	free(ids);
	free(text);
	bpe_free(bpe);
	return 0;
}
