/*
 * sampling_kernels.h - choosing the next token on the GPU, so that greedy decoding
 * copies back one (value, index) pair instead of the whole row of logits.
 */
#ifndef LLMCHAT_SAMPLING_KERNELS_H
#define LLMCHAT_SAMPLING_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest of x[0..n) and its index (the lowest index among equal values, as
 * the CPU sampler's argmax), written to *best (device memory, e.g. mapped pinned
 * memory): best->index is first_index + the position in x.  A NaN beats every
 * number, so that a row holding one reports a NaN value (broken weights, which the
 * host refuses) rather than the largest of the rest.  scratch holds
 * llmk_argmax_scratch() bytes. */
struct llmk_best {
	float value;
	int32_t index;
};

size_t llmk_argmax_scratch(void);
cudaError_t llmk_argmax(const float *x, int n, int32_t first_index, struct llmk_best *best, void *scratch,
			cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
