/*
 * sampler.h - from logits to the next token.
 *
 * Order of the filters (as transformers applies them): repetition penalty over the
 * tokens seen, temperature, top-k, top-p, min-p, then a draw with the seeded
 * generator.  Temperature 0 is greedy (argmax, lowest id on ties).
 */
#ifndef LLMCHAT_SAMPLER_H
#define LLMCHAT_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sampler_settings {
	float temperature;     /* 0 = greedy */
	float top_p;           /* 1 = off */
	float min_p;           /* 0 = off */
	float repeat_penalty;  /* 1 = off */
	int top_k;             /* 0 = off */
	uint64_t seed;
};

struct sampler;

int sampler_create(int32_t vocab_size, const struct sampler_settings *settings,
		   struct sampler **out, char *err, size_t err_size);
void sampler_free(struct sampler *sampler);

/* Picks a token from logits (modified in place); history is the tokens so far, for
 * the repetition penalty. */
int32_t sampler_sample(struct sampler *sampler, float *logits, const int32_t *history, size_t history_len);

/* Whether sampler_sample takes the argmax of the logits as they are (temperature 0,
 * no repetition penalty: the lowest id among the largest), so that an engine's
 * argmax (engine_forward_argmax) makes its choice. */
bool sampler_picks_argmax(const struct sampler *sampler);

/* The next number in [0, 1) of the sampler's seeded generator, the one sampler_sample
 * draws with: a draw made elsewhere (on the GPU) with it repeats run after run. */
double sampler_uniform(struct sampler *sampler);

/* Speculative decoding's acceptance of a token a proposer put forward for certain
 * (q(token) = 1, as prompt lookup does), over the logits that followed it (modified
 * in place, as sampler_sample does): accepted with probability p(token), p being
 * sampler_sample's distribution after every filter; else *next receives a draw
 * from p without token, renormalized, so that whatever is accepted or drawn
 * follows p exactly.  Temperature 0: accepted when token is the argmax (after the
 * penalty), else *next is the argmax; no number is drawn.  Returns true when
 * accepted (then *next is untouched). */
bool sampler_accept_proposal(struct sampler *sampler, float *logits, const int32_t *history, size_t history_len,
			     int32_t token, int32_t *next);

/* How many candidates each filter of sampler_sample keeps of logits (modified in
 * place, as sampler_sample does, and drawing nothing): the numbers that are neither
 * NaN nor -inf, then after top-k, top-p and min-p.  Every filter keeps a prefix of
 * the candidates in the order logit descending, id ascending, so the counts name the
 * sets; for checking another sampler (the GPU's) against this one. */
struct sampler_kept {
	size_t valid, after_top_k, after_top_p, after_min_p;
};
void sampler_count_kept(struct sampler *sampler, float *logits, const int32_t *history, size_t history_len,
			struct sampler_kept *kept);

#endif
