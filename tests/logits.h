/*
 * logits.h - what the model tests read from a row of logits: the log-probability
 * of a token (log-softmax in double) and the argmax (lowest id on ties, as the
 * sampler's greedy choice).
 */
#ifndef LLMCHAT_TESTS_LOGITS_H
#define LLMCHAT_TESTS_LOGITS_H

#include <math.h>
#include <stdint.h>

static inline double log_prob(const float *logits, int vocab, int32_t id)
{
	double max = logits[0], sum = 0;
	for (int i = 1; i < vocab; i++)
		max = fmax(max, logits[i]);
	for (int i = 0; i < vocab; i++)
		sum += exp(logits[i] - max);
	return logits[id] - max - log(sum);
}

static inline int argmax(const float *logits, int vocab)
{
	int best = 0;
	for (int i = 1; i < vocab; i++)
		if (logits[i] > logits[best])
			best = i;
	return best;
}

#endif
