/*
 * sampling_kernels.h - choosing the next token on the GPU, so that a decode step
 * copies back one token id (or one (value, index) pair) instead of the whole row of
 * logits: the argmax for greedy decoding, and a draw with the CPU sampler's filters
 * (src/chat/sampler.h) for sampled decoding.
 */
#ifndef LLMCHAT_SAMPLING_KERNELS_H
#define LLMCHAT_SAMPLING_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* For each of rows rows of n floats (row r at x + r * n, one launch pair for them
 * all): the row's largest value and its index (the lowest index among equal values,
 * as the CPU sampler's argmax), written to best[r] (device memory, e.g. mapped
 * pinned memory): best[r].index is first_index + the position in the row.  A NaN
 * beats every number, so that a row holding one reports a NaN value (broken weights,
 * which the host refuses) rather than the largest of the rest.  scratch holds
 * llmk_argmax_scratch(rows) bytes. */
struct llmk_best {
	float value;
	int32_t index;
};

size_t llmk_argmax_scratch(int rows);
cudaError_t llmk_argmax(const float *x, int rows, int n, int32_t first_index, struct llmk_best *best, void *scratch,
			cudaStream_t stream);

/* A draw's settings, read on the device at run time (so that a captured graph
 * serves every setting): sampler.h's filters in transformers' order, then the draw
 * with uniform, a number in [0, 1) from the host's seeded generator. */
struct llmk_draw {
	float temperature;       /* 0: the argmax after the penalty */
	float top_p;             /* 1 = off */
	float min_p;             /* 0 = off */
	float repeat_penalty;    /* 1 = off */
	int32_t top_k;           /* 0 = off */
	int32_t reserved;
	double uniform;
};

/* What a draw gives: the token, and how many candidates each filter kept (for the
 * checks against the CPU sampler; every filter keeps a prefix of the candidates in
 * the order logit descending, id ascending).  token is -1 when no logit is a number
 * above -inf (the caller then takes the argmax, as the CPU sampler does). */
struct llmk_drawn {
	int32_t token;
	int32_t valid;           /* logits that are neither NaN nor -inf */
	int32_t after_top_k, after_top_p, after_min_p;
};

/* Draws a token from x[0..n) (one rank's whole vocabulary; x is not modified) as
 * sampler_sample does: the repetition penalty over the tokens marked in seen[0..n)
 * and *step_token (which is then marked: seen accumulates the history of a sampled
 * answer; step_token may be NULL), temperature, top-k (ties with the k-th kept),
 * top-p (a token stays while the mass before it is below top_p), min-p, then the
 * token at uniform x the kept mass in the cumulative distribution.  Flat and peaked
 * rows cost the same: the whole row is sorted (CUB radix sort, stable, so ties keep
 * id order); the sums are in a fixed order, so a uniform gives the same token run
 * after run.  draw and drawn are device memory; scratch holds
 * *scratch_bytes bytes (llmk_sample_scratch). */
cudaError_t llmk_sample_scratch(int n, size_t *scratch_bytes);
cudaError_t llmk_sample(const float *x, int n, const struct llmk_draw *draw, const int32_t *step_token,
			unsigned char *seen, void *scratch, struct llmk_drawn *drawn, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
