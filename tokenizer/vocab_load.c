/*
 * vocab_load.c - reading vocabularies: the tiktoken ranks file, Llama 3's special
 * tokens that go with it, and the choice of loader by a file's content.  The
 * tokenizer.json parser is in vocab_json.c.
 *
 * A tiktoken file (Llama 3's original/tokenizer.model) holds one token a line:
 * the token's bytes in standard base64, a space, its rank in decimal.  Ranks are
 * ids.  The file has no special tokens; Meta's reference code appends 256 of them
 * right after the last rank, and so do we (bpe_load_tiktoken).
 */
#include "bpe_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LLAMA3_SPECIAL_COUNT 256

/* A tokenizer.json is ~9 MB and a tiktoken file ~2 MB: 256 MB leaves room for any
 * real one and keeps /dev/zero behind a symlink from growing memory without bound. */
#define BPE_FILE_LIMIT ((size_t)256 << 20)

/* Why O_NONBLOCK: open(2) of a FIFO for reading blocks until a writer appears, so a
 * FIFO named tokenizer.json (or given to --tokenizer) would hang before fstat could
 * look at it.  With O_NONBLOCK the open returns at once; the flag is cleared once
 * fstat has shown a regular file.  (src/base/file_read.c does the same for the program's
 * files; the tokenizer includes nothing of src/.) */
static int open_regular(const char *path, char *err, size_t err_size)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s: is %s, not a regular file", path,
			 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" :
			 S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a regular file");
		close(fd);
		return -1;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

int bpe_read_file(const char *path, char **data, size_t *len, char *err, size_t err_size)
{
	int fd = open_regular(path, err, err_size);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_size < 0 || (unsigned long long)st.st_size > BPE_FILE_LIMIT) {
		snprintf(err, err_size, "%s: %lld bytes, more than the %zu bytes a tokenizer file may have", path,
			 (long long)st.st_size, BPE_FILE_LIMIT);
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *buf = malloc(size + 1);
	if (!buf) {
		snprintf(err, err_size, "%s: out of memory reading %zu bytes", path, size);
		close(fd);
		return -1;
	}
	/* read the size fstat gave; a file that changes meanwhile is read up to it */
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_size, "%s: %s", path, n < 0 ? strerror(errno) : "shorter than its size");
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[size] = '\0';
	*data = buf;
	*len = size;
	return 0;
}

/* The name of Llama 3's k-th special token (k < 256), in the order of Meta's
 * tokenizer for Llama 3.1 and later, which tokenizer.json files of those models
 * list as added_tokens 128000..128255. */
static void llama3_special_name(int k, char *buf, size_t size)
{
	static const char *const named[] = {
		"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
		"<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
		"<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
		"<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
	};
	const int named_count = (int)(sizeof named / sizeof named[0]);
	if (k < named_count)
		snprintf(buf, size, "%s", named[k]);
	else
		snprintf(buf, size, "<|reserved_special_token_%d|>", k - named_count + 3);
}

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decodes standard padded base64; returns the byte count or -1. */
static long base64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t n = 0;
	if (len == 0 || len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = base64_value(c)) < 0) {
				return -1;
			}
		}
		unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		out[n++] = (unsigned char)(bits >> 16);
		if (pad < 2) out[n++] = (unsigned char)(bits >> 8);
		if (pad < 1) out[n++] = (unsigned char)bits;
	}
	return (long)n;
}

static int parse_tiktoken(struct bpe *bpe, const char *text, size_t len, const char *path,
			  char *err, size_t err_size)
{
	unsigned char token[1024];
	size_t line_no = 0;
	int32_t next_id = 0;
	for (size_t i = 0; i < len;) {
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		size_t end = eol;
		while (end > i && (text[end - 1] == '\r' || text[end - 1] == ' ' || text[end - 1] == '\t'))
			end--;
		line_no++;
		if (end > i) {
			const char *space = memchr(text + i, ' ', end - i);
			long rank = 0;
			long n = -1;
			size_t b64_len = space ? (size_t)(space - (text + i)) : 0;
			if (space && b64_len / 4 * 3 <= sizeof token)
				n = base64_decode(text + i, b64_len, token);
			const char *p = space ? space + 1 : text + end;
			if (p == text + end)
				n = -1;
			for (; n >= 0 && p < text + end; p++) {
				if (*p < '0' || *p > '9' || rank > BPE_MAX_ID) {
					n = -1;
					break;
				}
				rank = rank * 10 + (*p - '0');
			}
			if (n <= 0) {
				snprintf(err, err_size, "%s: line %zu is not \"<base64 token> <rank>\"", path, line_no);
				return -1;
			}
			if (bpe_set_token(bpe, (int32_t)rank, token, (size_t)n, 0, path, err, err_size) < 0)
				return -1;
			if (rank >= next_id)
				next_id = (int32_t)rank + 1;
		}
		i = eol + 1;
	}
	if (next_id == 0) {
		snprintf(err, err_size, "%s: no tokens in the tiktoken file", path);
		return -1;
	}
	for (int k = 0; k < LLAMA3_SPECIAL_COUNT; k++) {
		char name[64];
		llama3_special_name(k, name, sizeof name);
		if (bpe_set_token(bpe, next_id + k, (const unsigned char *)name, strlen(name), 1,
				  path, err, err_size) < 0)
			return -1;
	}
	return 0;
}

/* Runs parse over the file's text and finishes the vocabulary; *out on success. */
static int load_with(int (*parse)(struct bpe *, const char *, size_t, const char *, char *, size_t),
		     const char *path, const char *text, size_t len, struct bpe **out,
		     char *err, size_t err_size)
{
	struct bpe *bpe = bpe_create();
	if (!bpe) {
		snprintf(err, err_size, "%s: out of memory", path);
		return -1;
	}
	if (parse(bpe, text, len, path, err, err_size) < 0 || bpe_finish(bpe, path, err, err_size) < 0) {
		bpe_free(bpe);
		return -1;
	}
	*out = bpe;
	return 0;
}

int bpe_load_tiktoken(const char *path, struct bpe **out, char *err, size_t err_size)
{
	char *text;
	size_t len;
	if (bpe_read_file(path, &text, &len, err, err_size) < 0)
		return -1;
	int rc = load_with(parse_tiktoken, path, text, len, out, err, err_size);
	free(text);
	return rc;
}

int bpe_load_hf_json(const char *path, struct bpe **out, char *err, size_t err_size)
{
	char *text;
	size_t len;
	if (bpe_read_file(path, &text, &len, err, err_size) < 0)
		return -1;
	int rc = load_with(bpe_parse_hf_json, path, text, len, out, err, err_size);
	free(text);
	return rc;
}

/* Does the first line look like "<base64> <digits>"? */
static int looks_like_tiktoken(const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && base64_value((unsigned char)text[i]) >= 0)
		i++;
	while (i < len && text[i] == '=')
		i++;
	if (i == 0 || i % 4 || i >= len || text[i] != ' ')
		return 0;
	size_t digits = 0;
	for (i++; i < len && text[i] >= '0' && text[i] <= '9'; i++)
		digits++;
	return digits > 0 && (i == len || text[i] == '\n' || text[i] == '\r');
}

int bpe_load_file(const char *path, struct bpe **out, char *err, size_t err_size)
{
	char *text;
	size_t len;
	if (bpe_read_file(path, &text, &len, err, err_size) < 0)
		return -1;
	size_t i = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
		i++;
	int rc = -1;
	if (i < len && text[i] == '{')
		rc = load_with(bpe_parse_hf_json, path, text, len, out, err, err_size);
	else if (looks_like_tiktoken(text, len))
		rc = load_with(parse_tiktoken, path, text, len, out, err, err_size);
	else if (len > 0 && text[0] == 0x0A)
		snprintf(err, err_size, "%s: looks like a SentencePiece model (Llama 2 and older); "
			 "llmchat reads Llama 3's tokenizer.json or tiktoken tokenizer.model", path);
	else
		snprintf(err, err_size, "%s: neither a tokenizer.json nor a tiktoken ranks file", path);
	free(text);
	return rc;
}
