/*
 * prompt_lookup.c - the n-gram match of prompt_lookup.h, by a backward scan: a
 * step costs a pass over the conversation's tokens per n-gram length, well under a
 * millisecond at 128K tokens, against milliseconds for the model's step.
 */
#include "prompt_lookup.h"

#include <string.h>

/* The start of the most recent occurrence of history's last n tokens that ends
 * before them, or -1. */
static long last_occurrence(const int32_t *history, size_t count, size_t n)
{
	const int32_t *suffix = history + count - n;
	for (size_t start = count - n; start-- > 0;)
		if (history[start] == suffix[0] && memcmp(history + start, suffix, n * sizeof *suffix) == 0)
			return (long)start;
	return -1;
}

size_t prompt_lookup_propose(const int32_t *history, size_t count, int32_t *draft, size_t max)
{
	if (max == 0)
		return 0;
	for (size_t n = PROMPT_LOOKUP_MAX_NGRAM; n >= PROMPT_LOOKUP_MIN_NGRAM; n--) {
		if (count <= n)
			continue;
		long start = last_occurrence(history, count, n);
		if (start < 0)
			continue;
		size_t from = (size_t)start + n, available = count - from;
		size_t taken = available < max ? available : max;
		memcpy(draft, history + from, taken * sizeof *draft);
		return taken;
	}
	return 0;
}

int prompt_lookup_proposer(void *user_data, const int32_t *history, size_t count, int32_t *draft, size_t max,
			   size_t *proposed, char *err, size_t err_size)
{
	(void)user_data;
	(void)err;
	(void)err_size;
	*proposed = prompt_lookup_propose(history, count, draft, max);
	return 0;
}
