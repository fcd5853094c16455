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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "engine.h"
#include "model.h"
#include "model_runtime.h"
#include "modes.h"
#include "standard_io.h"

#define CHUNK 32   /* tokens per engine_forward: the logits of a chunk are 32 x vocab floats */

static int read_file(const char *path, char **text, size_t *length, char *err, size_t err_size)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0, n;
	char *buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *bigger = realloc(buf, 2 * cap);
			if (!bigger) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	int failed = !buf || ferror(f);
	fclose(f);
	if (failed) {
		free(buf);
		snprintf(err, err_size, "%s: cannot read it whole", path);
		return -1;
	}
	*text = buf;
	*length = len;
	return 0;
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

	if (read_file(opts->perplexity_file, &text, &length, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		return EXIT_ERROR;
	}
	if (model_runtime_open(opts, &rt, err, sizeof err) != 0) {
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
	ids[count++] = rt.model->config.bos_token_id;
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
