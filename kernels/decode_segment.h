/*
 * decode_segment.h - the part of a decoded token's layer after its attention, as one
 * persistent launch whose weight stream does not stop between the products.
 *
 * One segment is o_proj, the residual add and post-attention RMSNorm, gate/up +
 * SwiGLU, down_proj and, unless it is the last layer's, the next layer's residual add,
 * input RMSNorm and q/k/v.  One block per SM: a producer warp streams the block's
 * weight tiles, in the segment's order, into a ring of shared-memory stages with bulk
 * copies (cp.async.bulk) and never waits for data, only for a free stage; eight
 * consumer warps compute each tile once its bytes and its input are there.  A product
 * whose input needs all of the previous product (a norm, a dynamic quantization) waits
 * for a counter in global memory that every block raises when its part is written;
 * every block then norms or quantizes the whole input itself, into shared memory.  The
 * blocks claim each product's tiles from a counter, so that faster SMs take more.  So
 * the next product's weights are already loading while a product finishes, a norm runs
 * or the attention launch before the segment runs.
 *
 * The results are the bits of the launches it replaces (llmk_add_rmsnorm_quantize,
 * llmk_quantize, llmk_gemv, llmk_gemv_multi, llmk_gemv_swiglu): each row's dot product
 * is summed in llmk_gemv's order, each norm's sum of squares in the order of its
 * 1024-thread block, and the quantizations share kernel_common.cuh's rounding.
 *
 * Needs sm_90 (bulk copies); 8-bit weights (E4M3 or INT8) with a quantized input.  The
 * CUDA engine's decode graph uses it when asked (LLMCHAT_DECODE_SEGMENTS=1): on an H100
 * it is faster than the launches it replaces, alone, but not yet inside the step.
 */
#ifndef LLMCHAT_DECODE_SEGMENT_H
#define LLMCHAT_DECODE_SEGMENT_H

#include <cuda_runtime_api.h>

#include "llm_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One product's weights: rows x cols of the segment's element type, per-row (or one)
 * weight scales, and how its input is quantized. */
struct llmk_segment_matrix {
	const void *weight;
	const float *weight_scale;
	int weight_scale_count;          /* 1 or rows */
	int rows;
	enum llmk_quant quant;           /* not LLMK_QUANT_NONE */
	float input_scale;               /* the static scale, for a static quant */
};

struct llmk_decode_segment {
	enum llmk_dtype wdtype;          /* LLMK_E4M3 or LLMK_I8, every matrix */
	int hidden, intermediate, q_dim; /* o_proj reads q_dim values */
	float eps;                       /* RMSNorm's epsilon */
	const float *att;                /* o_proj's input (the attention's output) */
	struct llmk_segment_matrix o_proj;
	float *x;                        /* the residual stream before the attention; with a next layer, */
	float *x_mid;                    /* after it in x_mid, and after the MLP back in x */
	float *tmp;                      /* o_proj's output, then down_proj's (left for the caller to add
					  * when there is no next layer) */
	const float *post_norm;          /* post_attention_layernorm */
	struct llmk_segment_matrix gate, up;
	float *gate_out;                 /* silu(gate) * up: intermediate values */
	struct llmk_segment_matrix down;
	const float *next_norm;          /* the next layer's input_layernorm; NULL: no next layer */
	struct llmk_segment_matrix q, k, v;
	float *q_out, *k_out, *v_out;
	unsigned *counters;              /* LLMK_SEGMENT_COUNTERS, zero before the launch */
};

#define LLMK_SEGMENT_COUNTERS 9

/* cudaSuccess when llmk_decode_segment can run s on this device (shapes, types, shared
 * memory), else cudaErrorNotSupported (or the error the device query gave).  Call it
 * once before the first launch, outside stream capture: it also allows the kernels the
 * shared memory they take. */
cudaError_t llmk_decode_segment_check(const struct llmk_decode_segment *s);

/* Launches the segment, one block per SM (programmatic dependent launch: its weights
 * start loading while the launch before it finishes); cudaErrorNotSupported, with
 * nothing launched, for a segment llmk_decode_segment_check refuses by its shapes. */
cudaError_t llmk_decode_segment(const struct llmk_decode_segment *s, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
