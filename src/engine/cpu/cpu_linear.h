/*
 * cpu_linear.h - y = W x on the CPU with W in its stored form.
 *
 * The weight matrix is never expanded in memory: each output row is decoded (or,
 * for INT8, used as it is) while it is in cache, and dotted with every token of
 * the batch, so a prefill of T tokens streams the weights once, not T times.
 * Rows are shared out among the threads.
 *
 * Semantics, per output row r and token t (x in float32):
 *   BF16/F16/F32 weights (ACTIVATION_NONE): y = sum_i W[r,i] x[i], float32 sums;
 *     times weight_scale[r] when a scale is given (weight-only FP8/INT8).
 *   FP8 (vLLM's static and dynamic per-token schemes):
 *     s = input_scale (static) or max|x| / 448 (dynamic),
 *     x_q = e4m3(clamp(x * (1/s), -448, 448)) rounded to nearest even,
 *     y = (sum_i x_q[i] W_q[r,i] in float32) * s * weight_scale[r].
 *   INT8 (vLLM's dynamic per-token and static schemes):
 *     s = max|x| / 127 (dynamic) or input_scale (static),
 *     x_q = clamp(round_half_even(x * (1/s)), -128, 127)   (dynamic: x * (127 / max|x|)),
 *     y = (sum_i x_q[i] W_q[r,i] in int32, exact) * s * weight_scale[r].
 *   A token whose input is all zeros has s = 0 and gives y = 0, not NaN.
 * weight_scale[r] is weight_scale[0] when the layer has one scale per tensor.
 */
#ifndef LLMCHAT_CPU_LINEAR_H
#define LLMCHAT_CPU_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Scratch memory for cpu_linear_forward: per-thread row buffers and the
 * quantized activations of one batch.  Owned by the caller (the engine). */
struct cpu_linear_workspace;

/* Room for layers of up to max_in inputs and batches of up to max_tokens,
 * computed by `threads` threads (1 or more). */
int cpu_linear_workspace_create(int64_t max_in, int max_tokens, int threads,
				struct cpu_linear_workspace **out, char *err, size_t err_size);
void cpu_linear_workspace_free(struct cpu_linear_workspace *ws);

/* Checks that a layer's dtype, activation scheme and scales fit together; the
 * engine calls it once per layer at creation so that forward cannot fail.
 * name is used in the message. */
int cpu_linear_check(const struct linear *layer, const char *name, char *err, size_t err_size);

/* y[t][out_features] = layer(x[t][in_features]) for t < n_tokens (weight rows
 * row_stride elements apart, 0: in_features); n_tokens and
 * in_features must fit the workspace.  x and y must not overlap. */
void cpu_linear_forward(const struct linear *layer, const float *x, int n_tokens, float *y,
			struct cpu_linear_workspace *ws);

/* The activation scale cpu_linear_forward uses for one token of n values (0 for
 * ACTIVATION_NONE); exposed for tests. */
float cpu_linear_activation_scale(const struct linear *layer, const float *x, int64_t n);

#endif
