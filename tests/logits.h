/*
 * logits.h - what the model tests read from a row of logits: the log-probability
 * of a token (log-softmax in double), and the token ids of a golden file's JSON
 * arrays.  The argmax is numerics_argmax (numerics.h), the sampler's greedy choice.
 */
#ifndef LLMCHAT_TESTS_LOGITS_H
#define LLMCHAT_TESTS_LOGITS_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "numerics.h"

static inline double log_prob(const float *logits, int vocab, int32_t id)
{
	double max = logits[0], sum = 0;
	for (int i = 1; i < vocab; i++)
		max = fmax(max, logits[i]);
	for (int i = 0; i < vocab; i++)
		sum += exp(logits[i] - max);
	return logits[id] - max - log(sum);
}

/* The integers of a JSON array as token ids (malloc'd; *count of them, 0 for a
 * non-array). */
static inline int32_t *json_ids(json_t *array, size_t *count)
{
	size_t n = json_is_array(array) ? json_array_size(array) : 0;
	int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = (int32_t)json_integer_value(json_array_get(array, i));
	*count = n;
	return ids;
}

#endif
