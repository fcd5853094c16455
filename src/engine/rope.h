/*
 * rope.h - the inverse frequencies of rotary position embeddings.
 */
#ifndef LLMCHAT_ROPE_H
#define LLMCHAT_ROPE_H

#include "model.h"

/* head_dim / 2 values: transformers' defaults, then its llama3 scaling when the
 * config asks for it, in float32 as torch computes them. */
void rope_inverse_frequencies(const struct model_config *config, float *inv_freq);

#endif
