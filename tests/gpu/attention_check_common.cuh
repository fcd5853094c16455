/*
 * attention_check_common.cuh - what the attention check programs (attention_checks.cu,
 * attention_prefill_checks.cu) share: a struct llmk_attention from the common fields,
 * and each attention kernel's call through it.
 */
#ifndef LLMCHAT_ATTENTION_CHECK_COMMON_CUH
#define LLMCHAT_ATTENTION_CHECK_COMMON_CUH

#include <cuda_runtime.h>

extern "C" {
#include "attention_prefill.h"
#include "llm_kernels.h"
}

/* struct llmk_attention for the checks: the common fields, then each kernel's call. */
static inline struct llmk_attention attention_args(const float *q, const void *kc, const void *vc,
						   enum llmk_dtype d, float *out, int count, int pos0, int heads,
						   int kv_heads, int head_dim, float scale)
{
	struct llmk_attention a = {};
	a.q = q; a.key_cache = kc; a.value_cache = vc; a.cache_dtype = d; a.out = out; a.count = count; a.pos0 = pos0;
	a.heads = heads; a.kv_heads = kv_heads; a.head_dim = head_dim; a.scale = scale;
	return a;
}

static inline cudaError_t attention_general(const float *q, const void *kc, const void *vc, enum llmk_dtype d,
					    float *out, int count, int pos0, int heads, int kv_heads, int head_dim,
					    float scale, cudaStream_t s)
{
	const struct llmk_attention a = attention_args(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale);
	return llmk_attention_general(&a, s);
}

static inline cudaError_t attention_prefill(const float *q, const void *kc, const void *vc, enum llmk_dtype d,
					    float *out, int count, int pos0, int heads, int kv_heads, int head_dim,
					    float scale, cudaStream_t s)
{
	const struct llmk_attention a = attention_args(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale);
	return llmk_attention_prefill(&a, s);
}

/* The split-KV decode at pos0, or at *pos_dev when it is not NULL; outq may be NULL. */
static inline cudaError_t attention_decode(const float *q, const void *kc, const void *vc, enum llmk_dtype d,
					   float *out, int count, int pos0, int heads, int kv_heads, int head_dim,
					   float scale, float *scratch, int max_tokens, const int *pos_dev,
					   const struct llmk_static_quant *outq, cudaStream_t s)
{
	struct llmk_attention a = attention_args(q, kc, vc, d, out, count, pos0, heads, kv_heads, head_dim, scale);
	a.scratch = scratch; a.max_tokens = max_tokens; a.pos_dev = pos_dev; a.outq = outq;
	return llmk_attention_decode(&a, s);
}

#endif
