/*
 * mode_tokenize.c - --tokenize and --detokenize: the tokenizer alone, no model.
 *
 * --tokenize reads all of stdin as one text (any bytes, any size) and prints its
 * ids in decimal on one line; --detokenize reads whitespace-separated ids and
 * writes their bytes exactly.  The vocabulary comes from --tokenizer FILE (the
 * loader is chosen by content), else from the -m folder: tokenizer.json, or
 * failing that original/tokenizer.model (tiktoken).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "model_path.h"
#include "modes.h"
#include "standard_io.h"

/* Loads the vocabulary the options name. */
static int load_tokenizer(const struct options *opts, struct bpe **out, char *err, size_t err_size)
{
	if (opts->tokenizer_file)
		return bpe_load_file(opts->tokenizer_file, out, err, err_size);
	char *dir;
	if (model_path_resolve(opts->model, &dir, err, err_size) < 0)
		return -1;
	size_t size = strlen(dir) + 64;
	char *path = malloc(size);
	int rc = -1;
	if (!path) {
		snprintf(err, err_size, "out of memory");
	} else {
		snprintf(path, size, "%s/tokenizer.json", dir);
		if (access(path, F_OK) == 0) {
			rc = bpe_load_hf_json(path, out, err, err_size);
		} else {
			snprintf(path, size, "%s/original/tokenizer.model", dir);
			if (access(path, F_OK) == 0)
				rc = bpe_load_tiktoken(path, out, err, err_size);
			else
				snprintf(err, err_size, "%s: no tokenizer.json or original/tokenizer.model in the model folder",
					 dir);
		}
	}
	free(path);
	free(dir);
	return rc;
}

/* Writes the ids as "1 2 3\n" through a buffer (the output can be megabytes). */
static int print_ids(const int32_t *ids, size_t count)
{
	char buf[1 << 14];
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		if (n > sizeof buf - 16) {
			if (fwrite(buf, 1, n, stdout) != n)
				return -1;
			n = 0;
		}
		n += (size_t)snprintf(buf + n, 16, i ? " %ld" : "%ld", (long)ids[i]);
	}
	buf[n++] = '\n';
	return fwrite(buf, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : -1;
}

int mode_tokenize(const struct options *opts)
{
	char err[512];
	struct bpe *bpe = NULL;
	char *text = NULL;
	size_t len = 0, count = 0, capacity = 0;
	int32_t *ids = NULL;
	int status = EXIT_ERROR;

	if (load_tokenizer(opts, &bpe, err, sizeof err) < 0 ||
	    standard_io_read_input(&text, &len, err, sizeof err) < 0 ||
	    bpe_encode(bpe, text, len, &ids, &count, &capacity, err, sizeof err) < 0)
		fprintf(stderr, "llmchat: %s\n", err);
	else
		status = print_ids(ids, count) == 0 ? EXIT_OK : standard_io_write_failed(errno);
	free(ids);
	free(text);
	bpe_free(bpe);
	return status;
}

/* Decodes the ids in text, writing each token's bytes to stdout.  Returns 0, -1
 * with a message for an invalid id, or 1 when a write failed (errno says why). */
static int write_tokens(const struct bpe *bpe, char *text, size_t len, char *err, size_t err_size)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
			i++;
		if (i == len)
			break;
		size_t start = i;
		long id = 0;
		int valid = 1;
		for (; i < len && !(text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'); i++) {
			if (text[i] < '0' || text[i] > '9' || id > (long)INT32_MAX)
				valid = 0;
			else
				id = id * 10 + (text[i] - '0');
		}
		size_t n;
		const unsigned char *bytes = valid && id <= INT32_MAX ? bpe_token_bytes(bpe, (int32_t)id, &n) : NULL;
		if (!bytes) {
			snprintf(err, err_size, "invalid token id '%.*s' (the vocabulary has ids 0 to %ld)",
				 (int)(i - start > 40 ? 40 : i - start), text + start, (long)bpe_vocab_size(bpe) - 1);
			return -1;
		}
		if (fwrite(bytes, 1, n, stdout) != n)
			return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int mode_detokenize(const struct options *opts)
{
	char err[512];
	struct bpe *bpe = NULL;
	char *text = NULL;
	size_t len = 0;
	int status = EXIT_ERROR;

	int written = -1;
	if (load_tokenizer(opts, &bpe, err, sizeof err) < 0 ||
	    standard_io_read_input(&text, &len, err, sizeof err) < 0 ||
	    (written = write_tokens(bpe, text, len, err, sizeof err)) < 0)
		fprintf(stderr, "llmchat: %s\n", err);
	else
		status = written == 0 ? EXIT_OK : standard_io_write_failed(errno);
	free(text);
	bpe_free(bpe);
	return status;
}
