/*
 * attention_prefill.h - causal grouped-query attention of many query tokens at once
 * (prefill), flash-attention style on the tensor cores.
 *
 * The semantics are struct llmk_attention's (llm_kernels.h): query token t sits at position
 * pos0 + t and attends to the cached positions 0..pos0+t; query head h reads KV head
 * h / (heads / kv_heads); out[t][h] = softmax(q k^T * scale) v.  The difference is the
 * arithmetic: Q, K, V and the softmax weights P enter the tensor cores as fp16 (10-bit
 * mantissa; BF16 and e4m3 cache values convert to it exactly while |x| < 65504), the
 * products accumulate in float32, and the online softmax (running max and sum per
 * row) and the output accumulators are float32.  tests/gpu/attention_checks.cu states
 * the error this costs against a float64 reference.
 */
#ifndef LLMCHAT_ATTENTION_PREFILL_H
#define LLMCHAT_ATTENTION_PREFILL_H

#include <cuda_runtime_api.h>

#include "llm_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[t][h] for t < count (struct llmk_attention; pos_dev, scratch and rope_store not
 * used: cudaErrorInvalidValue when pos_dev or rope_store is set), and with outq (a
 * static scheme only, else cudaErrorInvalidValue) also quantized as llmk_quantize
 * quantizes out's rows, scales included; with rope_table (llmk_rope_table's for the
 * count tokens at pos0..), q is rotated as it is read (llmk_rope_store_kv's bits: the
 * caller stores the rotated keys first, and q stays unrotated); e4m3 caches decoded with
 * scale 1.  Takes head_dim 64 or 128, heads / kv_heads in 1..8 (dividing heads), a
 * cache of LLMK_F32, LLMK_BF16 or LLMK_E4M3 and 16-byte aligned pointers; returns
 * cudaErrorNotSupported for anything else.  Enqueues on stream and returns the launch
 * status. */
cudaError_t llmk_attention_prefill(const struct llmk_attention *a, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
