/*
 * mode_perplexity.c - how well the model predicts a file's text.
 *
 * Definition (what tests/perplexity_reference.py computes with transformers):
 *   ids = [bos_token_id] + tokenizer(text, add_special_tokens=False)
 *   the ids are cut into consecutive, non-overlapping windows of --ctx tokens
 *   (the context length; the last window may be shorter); each window is run
 *   from an empty cache, and every token of a window but its first is scored
 *   given the tokens before it in that window: nll += -log softmax(logits)[id].
 *   No BOS is inserted at the start of later windows (it is the Hugging Face
 *   perplexity guide with stride = max_length).  A last window of one token
 *   scores nothing.
 *   perplexity = exp(nll / tokens scored)
 * Log-softmax is computed in double from the float32 logits.  Progress goes to
 * stderr; the last line on stdout is "perplexity: X" with 4 decimals.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array_grow.h"
#include "bpe.h"
#include "engine.h"
#include "file_read.h"
#include "model.h"
#include "model_runtime.h"
#include "modes.h"
#include "standard_io.h"

#define CHUNK 32   /* tokens per engine_forward: the logits of a chunk are 32 x vocab floats */

/* Reads the text to score.  A regular file is read whole (file_read_all).  A pipe is
 * read as a stream: `--perplexity <(cmd)` and /dev/stdin name one, and so may a FIFO
 * given by name.  The open never waits for a FIFO's writer (O_NONBLOCK): a FIFO that
 * no program is writing to reads as empty, which is an error, so a FIFO nobody feeds
 * cannot hang llmchat.  Anything else (a directory, a device such as /dev/zero) is
 * refused; a stream has the same size limit as a file. */
static int read_text(const char *path, char **text, size_t *length, char *err, size_t err_size)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISFIFO(st.st_mode)) {
		close(fd);
		return file_read_all(path, FILE_LIMIT_LARGE, text, length, NULL, err, err_size);
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);   /* a writer there: wait for its text */
	size_t cap = 0, len = 0;
	char *buf = NULL;
	ssize_t n = 1;
	while (n > 0 && len <= FILE_LIMIT_LARGE) {
		/* room for a read and the closing NUL */
		char *bigger = array_reserve(buf, &cap, len + 2, 1, (size_t)1 << 16);
		if (!bigger) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			n = 1;
		else if (n > 0)
			len += (size_t)n;
	}
	int read_errno = errno;
	close(fd);
	if (buf && n >= 0 && len > 0 && len <= FILE_LIMIT_LARGE) {
		buf[len] = '\0';
		*text = buf;
		*length = len;
		return 0;
	}
	if (!buf)
		snprintf(err, err_size, "%s: out of memory reading it", path);
	else if (n < 0)
		snprintf(err, err_size, "%s: %s", path, strerror(read_errno));
	else if (len > FILE_LIMIT_LARGE)
		snprintf(err, err_size, "%s: more than the %zu bytes a text may have", path, FILE_LIMIT_LARGE);
	else
		snprintf(err, err_size, "%s: is a FIFO and nothing was written to it", path);
	free(buf);
	return -1;
}

/* -log softmax(logits)[target], in double. */
static double negative_log_prob(const float *logits, int vocab, int32_t target)
{
	double max = logits[0], sum = 0;
	for (int i = 1; i < vocab; i++)
		max = logits[i] > max ? logits[i] : max;
	for (int i = 0; i < vocab; i++)
		sum += exp(logits[i] - max);
	return max + log(sum) - logits[target];
}

/* Scores the window ids[0..n): adds to *nll and *scored. */
static int score_window(struct engine *engine, const int32_t *ids, size_t n, float *logits, int vocab,
			double *nll, size_t *scored, char *err, size_t err_size)
{
	engine_rewind(engine, 0);
	for (size_t done = 0; done < n; done += CHUNK) {
		size_t count = n - done < CHUNK ? n - done : CHUNK;
		if (engine_forward(engine, ids + done, count, logits, true, err, err_size) != 0)
			return -1;
		for (size_t j = 0; j < count; j++) {
			size_t next = done + j + 1;
			if (next >= n)
				break;
			*nll += negative_log_prob(logits + j * (size_t)vocab, vocab, ids[next]);
			(*scored)++;
		}
	}
	return 0;
}

int mode_perplexity(const struct options *opts)
{
	struct model_runtime rt;
	char err[1024], *text = NULL;
	size_t length, count = 0, capacity = 64;
	int32_t *ids = NULL;
	float *logits = NULL;
	int rc = -1, write_error = 0;

	if (read_text(opts->perplexity_file, &text, &length, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		return EXIT_ERROR;
	}
	if (options_open_runtime(opts, &rt, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		free(text);
		return EXIT_ERROR;
	}
	const int vocab = rt.model->config.vocab_size;
	const size_t window = (size_t)engine_context_length(rt.engine);
	ids = malloc(capacity * sizeof *ids);
	logits = malloc((size_t)CHUNK * vocab * sizeof *logits);
	if (!ids || !logits) {
		snprintf(err, sizeof err, "out of memory");
		goto done;
	}
	if (model_runtime_bos(&rt, &ids[count], err, sizeof err) != 0)
		goto done;
	count++;
	if (bpe_encode(rt.bpe, text, length, &ids, &count, &capacity, err, sizeof err) != 0)
		goto done;
	if (count < 2) {
		snprintf(err, sizeof err, "%s: no text to score", opts->perplexity_file);
		goto done;
	}

	double nll = 0;
	size_t scored = 0, windows = (count + window - 1) / window;
	fprintf(stderr, "llmchat: %zu tokens in %zu window%s of up to %zu\n", count, windows,
		windows == 1 ? "" : "s", window);
	for (size_t w = 0; w < windows; w++) {
		size_t start = w * window, n = count - start < window ? count - start : window;
		if (n < 2)
			break;   /* a last window of one token has nothing to score */
		if (score_window(rt.engine, ids + start, n, logits, vocab, &nll, &scored, err, sizeof err) != 0)
			goto done;
		if (scored)
			fprintf(stderr, "llmchat: window %zu/%zu: %zu tokens scored, perplexity so far %.4f\n",
				w + 1, windows, scored, exp(nll / scored));
	}
	if (printf("perplexity: %.4f\n", exp(nll / scored)) < 0 || fflush(stdout) != 0)
		write_error = errno ? errno : EIO;
	rc = 0;
done:
	if (rc)
		fprintf(stderr, "llmchat: %s\n", err);
	model_runtime_close(&rt);
	free(ids);
	free(logits);
	free(text);
	return rc ? EXIT_ERROR : write_error ? standard_io_write_failed(write_error) : EXIT_OK;
}
